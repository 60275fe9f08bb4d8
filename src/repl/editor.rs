//! The line editor: rustyline's helper (completion, hints, highlighting, continuation), the
//! loop that reads inputs for a [`Session`], and the functions behind the helper, all over the
//! grammar's lexer ([`segql_grammar::lex`]).

use super::commands::COMMANDS;
use super::session::{Control, Session, Words};
use miette::Report;
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::{Hinter, HistoryHinter};
use rustyline::history::DefaultHistory;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Editor, Helper};
use segql_compiler::ir::Stage;
use segql_grammar::ast::Dimension;
use segql_grammar::lex::{self, Closing, TokenKind};
use std::borrow::Cow;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Words after which an input cannot end: connectives and words that need what follows.
const CONTINUING: [&str; 11] = [
    "and", "or", "not", "in", "between", "within", "bought", "spend", "on", "at", "least",
];

/// True while `text` cannot be a complete input: open parentheses, a string open at the very
/// end, or a trailing connective, operator or comma. A string cut by a line end is complete
/// (strings never span lines; the parser reports it), as is a `:command` without an open string.
pub fn is_incomplete(text: &str) -> bool {
    let tokens: Vec<lex::Token> = lex::tokens(text)
        .filter(|t| t.kind != TokenKind::Comment)
        .collect();
    if tokens
        .iter()
        .any(|t| t.kind == TokenKind::String(Closing::LineEnd))
    {
        return false;
    }
    let depth: i32 = tokens
        .iter()
        .map(|t| match t.kind {
            TokenKind::LParen => 1,
            TokenKind::RParen => -1,
            _ => 0,
        })
        .sum();
    let Some(last) = tokens.last() else {
        return false;
    };
    if last.kind == TokenKind::String(Closing::EndOfInput) || depth > 0 {
        return true;
    }
    if text.starts_with(':') {
        return false;
    }
    match last.kind {
        TokenKind::Operator | TokenKind::Comma => true,
        TokenKind::Word | TokenKind::Keyword => CONTINUING.contains(&last.text(text)),
        _ => false,
    }
}

/// Completion candidates for `line` with the cursor at `pos`: the start of the replaced text
/// and the replacements.
pub fn complete(line: &str, pos: usize, words: &Words) -> (usize, Vec<String>) {
    let before = &line[..pos];
    let command_char = |c: char| c.is_alphanumeric() || matches!(c, '_' | '"' | ':' | '-');
    if before.starts_with(':') && before.chars().all(command_char) {
        let c = COMMANDS
            .iter()
            .map(|(c, _)| c.split(' ').next().unwrap_or(c).to_string())
            .filter(|c| c.starts_with(before))
            .collect();
        return (0, c);
    }
    let tokens: Vec<lex::Token> = lex::tokens(before).collect();
    // What is being completed: the word, number or string the cursor ends, else nothing yet.
    let (start, context) = match tokens.split_last() {
        Some((last, _)) if last.kind == TokenKind::Comment => return (pos, Vec::new()),
        Some((last, rest)) if last.span.end == pos && is_value_or_word(last.kind) => {
            (last.span.start, rest)
        }
        _ => (pos, &tokens[..]),
    };
    let prefix = &before[start..];
    let context: Vec<&lex::Token> = context
        .iter()
        .filter(|t| !matches!(t.kind, TokenKind::Comma | TokenKind::LParen))
        .collect();
    // The column whose values fit here: `category "`, `city = "`, `city in ("a", "`.
    let mut i = context.len();
    while i > 0 && matches!(context[i - 1].kind, TokenKind::String(_)) {
        i -= 1; // skip earlier values of a list
    }
    let context: Vec<&str> = context[..i].iter().map(|t| t.text(before)).collect();
    let column = match context.as_slice() {
        [.., col, "not", "in"] => Some(*col),
        [.., col, "=" | "!=" | "in"] => Some(*col),
        [.., col] if Dimension::ALL.iter().any(|d| d.column() == *col) => Some(*col),
        _ => None,
    };
    let bare = prefix.trim_start_matches('"').to_lowercase();
    if column == Some("lifecycle") {
        let c = Stage::ALL
            .iter()
            .map(|s| s.name().to_string())
            .filter(|s| s.starts_with(&bare))
            .collect();
        return (start, c);
    }
    if let Some(col) = column
        && let Some((_, vals)) = words.values.iter().find(|(c, _)| c == col)
    {
        let c = vals
            .iter()
            .filter(|v| v.to_lowercase().starts_with(&bare))
            .map(|v| segql_grammar::ast::LiteralKind::String(v.clone()).to_string())
            .collect();
        return (start, c);
    }
    let c = words
        .names
        .iter()
        .filter(|n| n.starts_with(prefix))
        .cloned()
        .collect();
    (start, c)
}

/// True for the tokens completion extends: words, numbers and strings.
fn is_value_or_word(kind: TokenKind) -> bool {
    matches!(
        kind,
        TokenKind::Word
            | TokenKind::Keyword
            | TokenKind::String(_)
            | TokenKind::Number
            | TokenKind::Date
            | TokenKind::Duration
    )
}

/// rustyline's view of the session: completion, hints, highlighting, multi-line input.
pub struct ReplHelper {
    words: Arc<Mutex<Words>>,
    hinter: HistoryHinter,
    color: bool,
}

impl Completer for ReplHelper {
    type Candidate = Pair;
    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let words = self.words.lock().expect("words lock").clone();
        let (start, c) = complete(line, pos, &words);
        Ok((
            start,
            c.into_iter()
                .map(|s| Pair {
                    display: s.clone(),
                    replacement: s,
                })
                .collect(),
        ))
    }
}

impl Hinter for ReplHelper {
    type Hint = String;
    fn hint(&self, line: &str, pos: usize, ctx: &Context<'_>) -> Option<String> {
        self.hinter.hint(line, pos, ctx)
    }
}

impl Highlighter for ReplHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        if !self.color {
            return Cow::Borrowed(line);
        }
        Cow::Owned(highlight(line))
    }
    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        if self.color {
            Cow::Owned(format!("\x1b[2m{hint}\x1b[0m"))
        } else {
            Cow::Borrowed(hint)
        }
    }
    fn highlight_char(&self, _line: &str, _pos: usize, _kind: CmdKind) -> bool {
        self.color
    }
}

impl Validator for ReplHelper {
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        Ok(if is_incomplete(ctx.input()) {
            ValidationResult::Incomplete
        } else {
            ValidationResult::Valid(None)
        })
    }
}

impl Helper for ReplHelper {}

/// ANSI colors: keywords (reserved and context words) bold, strings green, numbers, dates
/// and durations cyan, comments dim; the rest as typed.
pub fn highlight(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + 16);
    let mut at = 0;
    for t in lex::tokens(line) {
        out.push_str(&line[at..t.span.start]);
        let text = t.text(line);
        let color = match t.kind {
            TokenKind::String(_) => Some("32"),
            TokenKind::Comment => Some("2"),
            TokenKind::Number | TokenKind::Date | TokenKind::Duration => Some("36"),
            TokenKind::Keyword => Some("1;34"),
            TokenKind::Word if lex::CONTEXT_WORDS.contains(&text) => Some("1;34"),
            _ => None,
        };
        match color {
            Some(c) => out.push_str(&format!("\x1b[{c}m{text}\x1b[0m")),
            None => out.push_str(text),
        }
        at = t.span.end;
    }
    out.push_str(&line[at..]);
    out
}

/// Where history is kept: `$SEGQL_HISTORY`, else `~/.segql_history`.
pub fn history_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SEGQL_HISTORY") {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".segql_history"))
}

/// Runs the interactive loop until `:quit` or Ctrl-D.
pub async fn run(mut session: Session) -> Result<(), Report> {
    let interactive = std::io::stdin().is_terminal();
    let helper = ReplHelper {
        words: session.words(),
        hinter: HistoryHinter::new(),
        color: interactive && std::env::var_os("NO_COLOR").is_none(),
    };
    let config = rustyline::Config::builder()
        .completion_type(rustyline::CompletionType::List)
        .build();
    let mut rl: Editor<ReplHelper, DefaultHistory> = Editor::with_config(config)
        .map_err(|e| miette::miette!("cannot start the line editor: {e}"))?;
    rl.set_helper(Some(helper));
    let history = history_path();
    if let Some(h) = &history {
        let _ = rl.load_history(h);
    }
    if interactive {
        println!(
            "segql {} — :help for commands, Ctrl-D to leave",
            env!("CARGO_PKG_VERSION")
        );
    }
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() {
            "segql> "
        } else {
            "   ... "
        };
        match rl.readline(prompt) {
            Ok(line) => {
                if !buffer.is_empty() && line.trim_start().starts_with(':') {
                    println!("(dropped the unfinished input)");
                    buffer.clear();
                }
                if !buffer.is_empty() {
                    buffer.push('\n');
                }
                buffer.push_str(&line);
                // Without a terminal rustyline does not validate: continue lines here.
                if is_incomplete(&buffer) {
                    continue;
                }
                let input = std::mem::take(&mut buffer);
                if !input.trim().is_empty() {
                    let _ = rl.add_history_entry(input.as_str());
                }
                let mut out = std::io::stdout();
                let control = tokio::select! {
                    r = session.handle(&input, &mut out) => r.unwrap_or(Control::Continue),
                    _ = tokio::signal::ctrl_c() => {
                        println!("cancelled");
                        Control::Continue
                    }
                };
                let _ = out.flush();
                if control == Control::Quit {
                    break;
                }
            }
            Err(ReadlineError::Interrupted) => {
                buffer.clear();
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(miette::miette!("cannot read input: {e}")),
        }
    }
    if let Some(h) = &history {
        if let Some(dir) = h.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = rl.save_history(h);
    }
    Ok(())
}
