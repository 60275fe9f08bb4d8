//! The canonical text of segment files, definitions and expressions: the layout a formatter
//! writes, what the REPL's `:save` writes, and how messages quote a condition.
//!
//! [`format_file`] lays out a whole file and keeps its comments; [`format_definition`] and
//! [`format_segment`] lay out one definition the same way (without comments);
//! [`format_expr`] writes an expression on one line.
//!
//! # Layout
//!
//! - Items stay in source order. Consecutive imports are on consecutive lines; any two other
//!   items (and the import block and what follows it) are separated by exactly one blank line.
//!   No line has trailing white space, and a non-empty file ends with exactly one line break
//!   (an empty file, or one of white space only, formats to the empty text).
//! - A definition is a header line, `segment NAME(PARAMS) "DESCRIPTION" =` (`campaign` for a
//!   campaign), never broken however long, then the body indented by [`INDENT`] spaces.
//! - The body, followed by the campaign clauses in the order `holdout`, `limit`, `respond`, is one
//!   line when it fits in [`LINE_WIDTH`] characters (indentation included, a comment at the end
//!   not counted) and no comment falls inside it. Otherwise the top-level `and`/`or` chain is broken one operand per line, each
//!   operand after the first starting with its operator (`and bought ...`), and every campaign
//!   clause is on a line of its own at the body's indentation.
//! - On a broken line, an operand that does not fit on its line (or holds a comment) is broken
//!   in turn: a group `( ... )` opens on the operand's line, its content is broken one operand
//!   per line indented one level deeper, and its `)` is on a line of its own; an `and` chain
//!   inside an `or` operand (or a `respond` condition) continues on lines indented one level
//!   deeper. Conditions themselves are never broken: a condition longer than the line stays
//!   whole.
//! - Tokens are written canonically: single spaces, spaces around comparison operators, `, `
//!   in lists and calls, strings re-quoted with the escapes `\"`, `\\`, `\n` and `\t`; numbers,
//!   dates and durations as written (units are not converted); `at least 1 time`,
//!   `at least 2 times`. A one-value list after `bought`, `spend on` or `at` is written without
//!   parentheses. Parentheses the author wrote are kept and none are added. `limit N by VALUE`
//!   always ends with its order, `desc` (the default) or `asc`. A list parameter after `in`
//!   is written bare (`city in cities`), unless the parameter is declared with another type.
//! - Comments are kept, each exactly once, with their text unchanged (trailing white space
//!   trimmed), in their order relative to the code around them:
//!   - a comment at the end of a code line stays at the end of the line that holds the code it
//!     followed (two spaces before `#`), when that code ends its line in the layout;
//!   - any other comment goes on a line of its own before the line holding the code that
//!     follows it, at that line's indentation (before a `)`, at the group's content
//!     indentation): a comment where the layout has no line break (inside a list, a condition
//!     or a header) so moves up to the nearest line break before it;
//!   - a comment between two operands forces the chains and groups around it to be broken, so
//!     that it has its line there;
//!   - comments before the first item, between items and after the last item stay there; blank
//!     lines between such comments, and between a comment block and the item after it, are
//!     kept (several as one), and none is added.
//!
//! Formatting is idempotent, and the formatted text parses to the same tree as its source
//! (spans aside).

use crate::ParseError;
use crate::ast::*;
use crate::lex::{self, TokenKind};

/// The width lines are kept within, in characters, indentation included. Headers and
/// conditions are never broken, so a line holding a long one can be longer.
pub const LINE_WIDTH: usize = 100;

/// The indentation of a definition's body, and of each level of nesting below it.
pub const INDENT: usize = 4;

/// An expression on one line, in canonical spacing.
///
/// Parameters standing for durations print as `$N` (their position), since an expression alone
/// does not know its definition's parameter names; [`format_definition`] prints their names.
pub fn format_expr(e: &Expr) -> String {
    Printer::new(&[], None).flat(e)
}

/// A segment definition as [`format_definition`] lays it out, with no parameters and no
/// campaign clauses. The text ends with a line break.
pub fn format_segment(name: &str, description: Option<&str>, body: &Expr) -> String {
    let def = SegmentDef {
        name: Ident {
            name: name.to_string(),
            span: Span::default(),
        },
        params: Vec::new(),
        description: description.map(str::to_string),
        body: body.clone(),
        campaign: None,
        span: Span::default(),
    };
    format_definition(&def)
}

/// A definition in the canonical layout of [`format_file`] (the module documentation gives the
/// rules), without comments: the definition has none. The text ends with a line break.
pub fn format_definition(def: &SegmentDef) -> String {
    let mut p = Printer::new(&def.params, None);
    p.definition(def);
    let mut out = String::new();
    for line in p.lines.iter().filter(|l| !l.joined) {
        push_line(&mut out, line.indent, &line.text);
    }
    out
}

/// The canonical text of a whole `.seg` file, comments kept (the module documentation gives the
/// rules). `name` is used in diagnostics. Fails only when the text does not parse.
pub fn format_file(name: &str, text: &str) -> Result<String, ParseError> {
    let file = crate::parse_file(name, text)?;
    let src = Source::new(text);

    // The lines of every item, in output order, and where each item's lines begin.
    let mut lines: Vec<Line> = Vec::new();
    let mut firsts: Vec<usize> = Vec::new();
    for item in &file.items {
        firsts.push(lines.len());
        match item {
            Item::Import(imp) => lines.push(Line::new(
                0,
                format!("import {}", LiteralKind::String(imp.path.clone())),
                imp.span.start,
            )),
            Item::Segment(def) => {
                let mut p = Printer::new(&def.params, Some(&src));
                p.definition(def);
                lines.append(&mut p.lines);
            }
        }
    }

    // Every comment on a line, or after the last one.
    let map = LineMap::new(&src, &lines, 0..src.code.len());
    let mut after: Vec<Span> = Vec::new();
    for &c in &src.comments {
        let slot = match map.place(&src, c) {
            Place::Lead(l) => lines.get_mut(l).map(|line| &mut line.lead),
            Place::Trail(l) => lines.get_mut(l).map(|line| &mut line.trail),
            Place::Outside => None,
        };
        match slot {
            Some(comments) => comments.push(c),
            None => after.push(c),
        }
    }

    // The lines of each item; a joined line gives the line before it its comments (only
    // comments before the first and after the last line of a one-line body can be there).
    let mut items: Vec<Vec<Line>> = Vec::with_capacity(firsts.len());
    for (i, line) in lines.into_iter().enumerate() {
        if items.is_empty() || firsts.get(items.len()) == Some(&i) {
            items.push(Vec::new());
        }
        let Some(rows) = items.last_mut() else {
            continue;
        };
        match rows.last_mut() {
            Some(row) if line.joined => {
                row.lead.extend(line.lead);
                row.trail.extend(line.trail);
            }
            _ => rows.push(line),
        }
    }

    let mut out = String::new();
    for (k, (item, rows)) in file.items.iter().zip(&items).enumerate() {
        let imports = k > 0
            && matches!(
                (&file.items[k - 1], item),
                (Item::Import(_), Item::Import(_))
            );
        if k > 0 && !imports {
            out.push('\n');
        }
        write_item(&mut out, &src, rows);
    }
    for (j, c) in after.iter().enumerate() {
        if (j > 0 || !file.items.is_empty()) && src.blank_before(*c) {
            out.push('\n');
        }
        push_line(&mut out, 0, src.comment(*c));
    }
    Ok(out)
}

/// Writes the lines of an item with their comments.
fn write_item(out: &mut String, src: &Source, rows: &[Line]) {
    let item_start = rows.first().map_or(0, |r| r.start);
    for (l, row) in rows.iter().enumerate() {
        if l == 0 {
            // Comments before an item keep the blank lines between them and before the item;
            // the blank line between items stands for any before the first.
            for (j, c) in row.lead.iter().enumerate() {
                if j > 0 && c.start < item_start && src.blank_before(*c) {
                    out.push('\n');
                }
                push_line(out, 0, src.comment(*c));
            }
            if let Some(c) = row.lead.last()
                && c.start < item_start
                && src.blank_after(*c)
            {
                out.push('\n');
            }
        } else {
            for c in &row.lead {
                push_line(out, row.comment_indent, src.comment(*c));
            }
        }
        let mut text = row.text.clone();
        let mut trail = row.trail.iter();
        if let Some(c) = trail.next() {
            text.push_str("  ");
            text.push_str(src.comment(*c));
        }
        push_line(out, row.indent, &text);
        // One comment at most ends a line; should another come, it is kept below.
        for c in trail {
            push_line(out, row.comment_indent, src.comment(*c));
        }
    }
}

/// Appends `text` as a line at `indent`, without trailing white space.
fn push_line(out: &mut String, indent: usize, text: &str) {
    let text = text.trim_end();
    if !text.is_empty() {
        out.extend(std::iter::repeat_n(' ', indent));
        out.push_str(text);
    }
    out.push('\n');
}

/// True when `text` fits on a line at `indent`.
fn fits(indent: usize, text: &str) -> bool {
    indent + text.chars().count() <= LINE_WIDTH
}

/// The tokens of the text being formatted: code and comments, each in order.
struct Source<'a> {
    text: &'a str,
    /// The code tokens (everything but comments).
    code: Vec<Span>,
    /// The comments.
    comments: Vec<Span>,
}

impl<'a> Source<'a> {
    fn new(text: &'a str) -> Self {
        let (comments, code): (Vec<_>, Vec<_>) =
            lex::tokens(text).partition(|t| t.kind == TokenKind::Comment);
        Source {
            text,
            code: code.into_iter().map(|t| t.span).collect(),
            comments: comments.into_iter().map(|t| t.span).collect(),
        }
    }

    /// A comment's text, trailing white space trimmed.
    fn comment(&self, c: Span) -> &'a str {
        self.text.get(c.start..c.end).unwrap_or("#").trim_end()
    }

    /// The end of the last code token in `span`. The spans of the parser's rules can take in the
    /// white space and comments after their last token; this leaves them out.
    fn code_end(&self, span: Span) -> usize {
        let i = self.code.partition_point(|t| t.start < span.end);
        match i.checked_sub(1).and_then(|i| self.code.get(i)) {
            Some(t) if t.start >= span.start => t.end,
            _ => span.start,
        }
    }

    /// The start of the last code token that ends by `at` (`at` when there is none).
    fn token_before(&self, at: usize) -> usize {
        let i = self.code.partition_point(|t| t.end <= at);
        i.checked_sub(1)
            .and_then(|i| self.code.get(i))
            .map_or(at, |t| t.start)
    }

    /// True when a comment starts strictly between `lo` and `hi`.
    fn comment_between(&self, lo: usize, hi: usize) -> bool {
        let i = self.comments.partition_point(|c| c.start <= lo);
        self.comments.get(i).is_some_and(|c| c.start < hi)
    }

    /// True when the text between `lo` and `hi` is white space holding a blank line.
    fn blank(&self, lo: usize, hi: usize) -> bool {
        self.text.get(lo..hi).is_some_and(|gap| {
            gap.chars().all(char::is_whitespace) && gap.matches('\n').count() >= 2
        })
    }

    /// True when a blank line separates comment `c` from the token or comment before it.
    fn blank_before(&self, c: Span) -> bool {
        let code = self.code.partition_point(|t| t.end <= c.start);
        let comment = self.comments.partition_point(|t| t.end <= c.start);
        let prev = [
            code.checked_sub(1).and_then(|i| self.code.get(i)),
            comment.checked_sub(1).and_then(|i| self.comments.get(i)),
        ]
        .into_iter()
        .flatten()
        .map(|t| t.end)
        .max();
        prev.is_some_and(|p| self.blank(p, c.start))
    }

    /// True when a blank line separates comment `c` from the token or comment after it.
    fn blank_after(&self, c: Span) -> bool {
        let code = self.code.partition_point(|t| t.start < c.end);
        let comment = self.comments.partition_point(|t| t.start < c.end);
        let next = [self.code.get(code), self.comments.get(comment)]
            .into_iter()
            .flatten()
            .map(|t| t.start)
            .min();
        next.is_some_and(|n| self.blank(c.end, n))
    }
}

/// One line of output.
#[derive(Debug)]
struct Line {
    indent: usize,
    text: String,
    /// Where the line's code begins in the source: the code tokens from here up to the next
    /// line's start are on this line.
    start: usize,
    /// The indentation of comments on lines of their own before this one.
    comment_indent: usize,
    /// Comments on lines of their own before this one.
    lead: Vec<Span>,
    /// The comment at its end.
    trail: Vec<Span>,
    /// Part of the line before it (an operand or clause of a one-line body): the lines of a body
    /// are those of its broken layout, so that comments are placed the same way in both.
    joined: bool,
}

impl Line {
    fn new(indent: usize, text: String, start: usize) -> Self {
        Line {
            indent,
            text,
            start,
            comment_indent: indent,
            lead: Vec::new(),
            trail: Vec::new(),
            joined: false,
        }
    }
}

/// Where a comment goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// On its own line before line N.
    Lead(usize),
    /// At the end of line N.
    Trail(usize),
    /// Not among the lines: after them (or before or after the code tokens they hold).
    Outside,
}

/// Which line holds each code token of a range.
struct LineMap {
    /// The code tokens the lines hold.
    tokens: std::ops::Range<usize>,
    /// For each of those tokens, its line.
    line_of: Vec<usize>,
    /// For each line, its last token.
    last: Vec<Option<usize>>,
}

impl LineMap {
    fn new(src: &Source, lines: &[Line], tokens: std::ops::Range<usize>) -> Self {
        // Lines in source order (campaign clauses are reordered in the output).
        let mut by_start: Vec<(usize, usize)> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| (l.start, i))
            .collect();
        by_start.sort_unstable();
        let mut last = vec![None; lines.len()];
        let mut line_of = Vec::with_capacity(tokens.len());
        for t in tokens.clone() {
            let start = src.code.get(t).map_or(0, |s| s.start);
            let k = by_start.partition_point(|(s, _)| *s <= start);
            let line = by_start.get(k.saturating_sub(1)).map_or(0, |(_, l)| *l);
            line_of.push(line);
            if let Some(slot) = last.get_mut(line) {
                *slot = Some(t);
            }
        }
        LineMap {
            tokens,
            line_of,
            last,
        }
    }

    fn line(&self, token: usize) -> Option<usize> {
        token
            .checked_sub(self.tokens.start)
            .and_then(|i| self.line_of.get(i))
            .copied()
    }

    /// Where comment `c` goes: at the end of the line of the code before it, when that code
    /// ends its line and the comment ended the code's line in the source; else on a line of its
    /// own before the line of the code after it. Comments not next to these lines' code are
    /// [`Place::Outside`].
    fn place(&self, src: &Source, c: Span) -> Place {
        let next = src.code.partition_point(|t| t.start < c.start);
        let prev = next.checked_sub(1);
        let before = prev.is_some_and(|p| self.tokens.contains(&p));
        if !before && prev.is_some() && self.tokens.start != next {
            return Place::Outside;
        }
        if let Some(p) = prev.filter(|_| before) {
            let same_line = src
                .code
                .get(p)
                .and_then(|t| src.text.get(t.end..c.start))
                .is_some_and(|gap| !gap.contains('\n'));
            if let Some(l) = self.line(p)
                && same_line
                && self.last.get(l).copied().flatten() == Some(p)
            {
                return Place::Trail(l);
            }
        }
        if self.tokens.contains(&next) {
            return self.line(next).map_or(Place::Outside, Place::Lead);
        }
        Place::Outside
    }
}

/// A campaign clause: its text on one line, or a `respond` condition laid out like an operand.
struct Clause<'e> {
    text: String,
    condition: Option<&'e Expr>,
    start: usize,
}

/// Lays out definitions as lines.
struct Printer<'a> {
    /// The parameters of the definition, for the names of parameter durations.
    params: &'a [Param],
    /// The source, when comments are kept.
    src: Option<&'a Source<'a>>,
    lines: Vec<Line>,
}

impl<'a> Printer<'a> {
    fn new(params: &'a [Param], src: Option<&'a Source<'a>>) -> Self {
        Printer {
            params,
            src,
            lines: Vec::new(),
        }
    }

    fn push(&mut self, indent: usize, text: String, start: usize) {
        self.lines.push(Line::new(indent, text, start));
    }

    // ------------------------------------------------------------ definitions

    fn definition(&mut self, def: &SegmentDef) {
        let header_line = self.lines.len();
        self.push(0, self.header(def), def.span.start);
        let clauses = self.clauses(def);
        let mut one = self.flat(&def.body);
        for c in &clauses {
            one.push(' ');
            one.push_str(&c.text);
        }
        // The broken layout first: the comments it would hold inside tell whether one line can
        // keep them where they are.
        let body_line = self.lines.len();
        self.block(INDENT, &def.body, def.body.span.start);
        for c in &clauses {
            match c.condition {
                Some(cond) => self.unit(INDENT, "respond ", cond, c.start),
                None => self.push(INDENT, c.text.clone(), c.start),
            }
        }
        if fits(INDENT, &one) && !self.comments_inside(def, header_line, body_line) {
            // Each broken line is then a top-level operand or a clause, and `one` is their text
            // joined by spaces.
            if let Some(first) = self.lines.get_mut(body_line) {
                first.text = one;
            }
            for line in self.lines.iter_mut().skip(body_line + 1) {
                line.joined = true;
                line.text.clear();
            }
        }
    }

    /// True when a comment would fall between the lines of a definition's broken body (not
    /// before its first line, nor at the end of its last).
    fn comments_inside(&self, def: &SegmentDef, header_line: usize, body_line: usize) -> bool {
        let Some(src) = self.src else {
            return false;
        };
        let lines = &self.lines[header_line..];
        let first = src.code.partition_point(|t| t.start < def.span.start);
        let end = src
            .code
            .partition_point(|t| t.start < src.code_end(def.span));
        let map = LineMap::new(src, lines, first..end);
        let body = body_line - header_line;
        let last = lines.len().saturating_sub(1);
        src.comments.iter().any(|&c| match map.place(src, c) {
            Place::Lead(l) => l > body,
            Place::Trail(l) => l >= body && l < last,
            Place::Outside => false,
        })
    }

    fn header(&self, def: &SegmentDef) -> String {
        let keyword = if def.campaign.is_some() {
            "campaign"
        } else {
            "segment"
        };
        let mut s = format!("{keyword} {}", def.name.name);
        if !def.params.is_empty() {
            let params: Vec<String> = def
                .params
                .iter()
                .map(|p| match &p.ty {
                    Some((t, _)) => format!("{}: {}", p.name.name, t.word()),
                    None => p.name.name.clone(),
                })
                .collect();
            s.push_str(&format!("({})", params.join(", ")));
        }
        if let Some(d) = &def.description {
            s.push_str(&format!(" {}", LiteralKind::String(d.clone())));
        }
        s.push_str(" =");
        s
    }

    /// The campaign clauses in canonical order: holdout, limit, respond.
    fn clauses<'e>(&self, def: &'e SegmentDef) -> Vec<Clause<'e>> {
        let Some(c) = &def.campaign else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if let Some((pct, span)) = &c.holdout {
            let start = self.src.map_or(span.start, |s| s.token_before(span.start));
            out.push(Clause {
                text: format!("holdout {pct}%"),
                condition: None,
                start,
            });
        }
        if let Some(l) = &c.limit {
            let mut text = format!("limit {}", l.count);
            if let Some(by) = &l.by {
                text.push_str(&format!(
                    " by {} {}",
                    self.operand(by),
                    if l.descending { "desc" } else { "asc" }
                ));
            }
            out.push(Clause {
                text,
                condition: None,
                start: l.span.start,
            });
        }
        if let Some(r) = &c.respond {
            let mut text = String::from("respond");
            if let Some(cond) = &r.condition {
                text.push(' ');
                text.push_str(&self.flat(cond));
            }
            if let Some(w) = &r.window {
                text.push(' ');
                text.push_str(&self.window(w));
            }
            out.push(Clause {
                text,
                condition: r.condition.as_ref().filter(|_| r.window.is_none()),
                start: r.span.start,
            });
        }
        out
    }

    // ------------------------------------------------------------ broken layout

    /// The content of a broken container (a body, a group) at `indent`: a chain is broken one
    /// operand per line, anything else laid out as one operand.
    fn block(&mut self, indent: usize, e: &Expr, start: usize) {
        match &e.kind {
            ExprKind::And(ps) | ExprKind::Or(ps) => self.chain(indent, "", e, ps, start),
            _ => self.unit(indent, "", e, start),
        }
    }

    /// `e` after `prefix` on a line at `indent` whose code starts at `start`: one line when it
    /// fits and holds no comment, else broken.
    fn unit(&mut self, indent: usize, prefix: &str, e: &Expr, start: usize) {
        let flat = format!("{prefix}{}", self.flat(e));
        if !self.breakable(e) || (fits(indent, &flat) && !self.holds_comment(e)) {
            self.push(indent, flat, start);
            return;
        }
        match &e.kind {
            ExprKind::And(ps) | ExprKind::Or(ps) => self.chain(indent, prefix, e, ps, start),
            ExprKind::Not(x) => self.unit(indent, &format!("{prefix}not "), x, start),
            ExprKind::Group(x) => {
                self.push(indent, format!("{prefix}("), start);
                self.block(indent + INDENT, x, x.span.start);
                let close = self.code_end(x.span);
                let mut line = Line::new(indent, ")".to_string(), close);
                line.comment_indent = indent + INDENT;
                self.lines.push(line);
            }
            _ => self.push(indent, flat, start),
        }
    }

    /// A chain broken one operand per line: the first after `prefix`, the others after their
    /// operator, one level deeper when `prefix` is not empty.
    fn chain(&mut self, indent: usize, prefix: &str, e: &Expr, ps: &[Expr], start: usize) {
        let op = if matches!(e.kind, ExprKind::Or(_)) {
            "or "
        } else {
            "and "
        };
        let rest = if prefix.is_empty() {
            indent
        } else {
            indent + INDENT
        };
        let mut prev_end = start;
        for (i, p) in ps.iter().enumerate() {
            if i == 0 {
                self.unit(indent, prefix, p, start);
            } else {
                self.unit(rest, op, p, prev_end);
            }
            prev_end = self.code_end(p.span);
        }
    }

    /// True for what can be broken over lines: chains and groups, and `not`s of groups.
    fn breakable(&self, e: &Expr) -> bool {
        match &e.kind {
            ExprKind::And(_) | ExprKind::Or(_) | ExprKind::Group(_) => true,
            ExprKind::Not(x) => self.breakable(x),
            _ => false,
        }
    }

    /// True when a comment falls inside `e` after its first line's code (a comment within its
    /// first condition can go before that line instead).
    fn holds_comment(&self, e: &Expr) -> bool {
        let Some(src) = self.src else {
            return false;
        };
        src.comment_between(self.head_end(e), self.code_end(e.span))
    }

    /// Where the code of the first line of `e`, broken, ends: its first condition, or a `(`.
    fn head_end(&self, e: &Expr) -> usize {
        match &e.kind {
            ExprKind::And(ps) | ExprKind::Or(ps) => match ps.first() {
                Some(p) => self.head_end(p),
                None => e.span.start,
            },
            ExprKind::Not(x) => self.head_end(x),
            ExprKind::Group(_) => e.span.start + 1,
            _ => self.code_end(e.span),
        }
    }

    fn code_end(&self, span: Span) -> usize {
        self.src.map_or(span.end, |s| s.code_end(span))
    }

    // ------------------------------------------------------------ one line

    /// An expression on one line.
    fn flat(&self, e: &Expr) -> String {
        match &e.kind {
            ExprKind::And(ps) => self.join(ps, " and "),
            ExprKind::Or(ps) => self.join(ps, " or "),
            ExprKind::Not(x) => format!("not {}", self.flat(x)),
            ExprKind::Group(x) => format!("({})", self.flat(x)),
            ExprKind::SegmentRef(id) => id.name.clone(),
            ExprKind::Call { name, args } => {
                let args: Vec<String> = args
                    .iter()
                    .map(|a| self.values(&a.values, a.list))
                    .collect();
                format!("{}({})", name.name, args.join(", "))
            }
            ExprKind::Upcoming {
                attribute,
                anniversary,
                window,
            } => format!(
                "{}{} {}",
                attribute.name,
                if *anniversary { " anniversary" } else { "" },
                self.window(window)
            ),
            ExprKind::Top { count, by } => match count {
                TopCount::Count(n, _) => format!("top {n} by {}", self.operand(by)),
                TopCount::Percent(p, _) => format!("top {p}% by {}", self.operand(by)),
            },
            ExprKind::Lookalike { segment, count } => match count {
                TopCount::Count(n, _) => format!("lookalike({}, {n})", segment.name),
                TopCount::Percent(p, _) => format!("lookalike({}, {p}%)", segment.name),
            },
            ExprKind::Redeemed { window } => match window {
                Some(w) => format!("redeemed {}", self.window(w)),
                None => "redeemed".to_string(),
            },
            ExprKind::CampaignCond {
                role,
                campaign,
                date,
                window,
            } => {
                let mut s = format!("{}({}", role.word(), campaign.name);
                if let Some(d) = date {
                    s.push_str(&format!(", {}", self.literal(d)));
                }
                s.push(')');
                if let Some(w) = window {
                    s.push_str(&format!(" {}", self.window(w)));
                }
                s
            }
            ExprKind::Contacted { channel, window } => match channel {
                Some(c) => format!("contacted({}, {})", channel_text(c), self.duration(window)),
                None => format!("contacted({})", self.duration(window)),
            },
            ExprKind::Compare { lhs, op, rhs } => {
                format!(
                    "{} {} {}",
                    self.operand(lhs),
                    op.as_str(),
                    self.literal(rhs)
                )
            }
            ExprKind::In {
                lhs,
                negated,
                list,
                list_param,
            } => format!(
                "{}{} in {}",
                self.operand(lhs),
                if *negated { " not" } else { "" },
                match (list_param, list.as_slice()) {
                    (true, [one]) => self.literal(one),
                    _ => self.values(list, true),
                }
            ),
            ExprKind::Between {
                lhs,
                negated,
                low,
                high,
            } => format!(
                "{}{} between {} and {}",
                self.operand(lhs),
                if *negated { " not" } else { "" },
                self.literal(low),
                self.literal(high)
            ),
            ExprKind::Bought {
                dimension,
                values,
                at_least,
                window,
            } => {
                let mut s = String::from("bought ");
                if let Some(d) = dimension {
                    s.push_str(&format!("{d} "));
                }
                s.push_str(&self.values(values, false));
                if let Some((n, _)) = at_least {
                    s.push_str(&format!(
                        " at least {n} time{}",
                        if *n == 1 { "" } else { "s" }
                    ));
                }
                if let Some(w) = window {
                    s.push_str(&format!(" {}", self.window(w)));
                }
                s
            }
        }
    }

    fn join(&self, ps: &[Expr], op: &str) -> String {
        ps.iter().map(|p| self.flat(p)).collect::<Vec<_>>().join(op)
    }

    fn operand(&self, o: &Operand) -> String {
        match &o.kind {
            OperandKind::Name {
                name,
                scope,
                window,
                percentile,
            } => {
                let mut s = name.name.clone();
                if let Some((values, _)) = scope {
                    s.push_str(&format!(" at {}", self.values(values, false)));
                }
                if let Some(w) = window {
                    s.push_str(&format!(" {}", self.window(w)));
                }
                if *percentile {
                    s.push_str(" percentile");
                }
                s
            }
            OperandKind::Contacts { channel, window } => {
                let mut s = String::from("contacts");
                if let Some(c) = channel {
                    s.push_str(&format!(" by {}", channel_text(c)));
                }
                if let Some(w) = window {
                    s.push_str(&format!(" {}", self.window(w)));
                }
                s
            }
            OperandKind::Spend {
                dimension,
                values,
                window,
            } => {
                let mut s = format!("spend on {dimension} {}", self.values(values, false));
                if let Some(w) = window {
                    s.push_str(&format!(" {}", self.window(w)));
                }
                s
            }
            OperandKind::Cluster { model } => format!("cluster({})", model.name),
            OperandKind::Score { model, uplift } => format!(
                "{}({})",
                if *uplift { "uplift" } else { "score" },
                model.name
            ),
        }
    }

    /// Values: one without parentheses unless `parens`, else a list.
    fn values(&self, values: &[Literal], parens: bool) -> String {
        match values {
            [one] if !parens => self.literal(one),
            _ => {
                let items: Vec<String> = values.iter().map(|v| self.literal(v)).collect();
                format!("({})", items.join(", "))
            }
        }
    }

    fn literal(&self, l: &Literal) -> String {
        match &l.kind {
            LiteralKind::Duration(d) => self.duration(d),
            k => k.to_string(),
        }
    }

    fn window(&self, w: &Window) -> String {
        let mut s = format!("within {}", self.duration(&w.duration));
        if w.since_first.is_some() {
            s.push_str(" of first_purchase");
        }
        s
    }

    /// A duration as written, or the name of the parameter it stands for.
    fn duration(&self, d: &Duration) -> String {
        if d.unit == DurationUnit::Param
            && let Some(p) = usize::try_from(d.value)
                .ok()
                .and_then(|i| self.params.get(i))
        {
            return p.name.name.clone();
        }
        d.to_string()
    }
}

/// A channel as written: a bare word when it is one, else quoted.
fn channel_text(c: &str) -> String {
    let word = c
        .chars()
        .next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.chars().all(|x| x.is_ascii_alphanumeric() || x == '_')
        && !lex::is_keyword(c);
    if word {
        c.to_string()
    } else {
        LiteralKind::String(c.to_string()).to_string()
    }
}
