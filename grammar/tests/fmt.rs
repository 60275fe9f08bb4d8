//! The canonical formatter: exact layouts, comments in every position, and, for every `.seg`
//! file of the repository and for random expressions with comments, idempotence and an
//! unchanged tree.

use proptest::prelude::*;
use segql_grammar::ast::{Item, SegmentDef};
use segql_grammar::fmt::{LINE_WIDTH, format_definition, format_expr, format_file, format_segment};
use segql_grammar::lex::{self, TokenKind};
use segql_grammar::{parse_expr, parse_file};
use std::path::{Path, PathBuf};

fn fmt(text: &str) -> String {
    format_file("t.seg", text).unwrap_or_else(|e| panic!("{e:?}\n{text}"))
}

/// `Debug` text with every `Span { start: .., end: .. }` replaced by `Span`.
fn without_spans(debug: &str) -> String {
    let mut out = String::with_capacity(debug.len());
    let mut rest = debug;
    while let Some(i) = rest.find("Span { start: ") {
        out.push_str(&rest[..i]);
        out.push_str("Span");
        let after = &rest[i..];
        let close = after.find('}').expect("a span's Debug text ends with }");
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

/// The tree of a file, spans left out.
fn tree(text: &str) -> String {
    let f = parse_file("t.seg", text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
    without_spans(&format!("{f:?}"))
}

/// The comments of a text, in order, trailing white space trimmed.
fn comments(text: &str) -> Vec<String> {
    lex::tokens(text)
        .filter(|t| t.kind == TokenKind::Comment)
        .map(|t| t.text(text).trim_end().to_string())
        .collect()
}

/// What holds for any formatted file: idempotent, the same tree, every comment kept once (in
/// order unless campaign clauses were reordered), clean lines. Returns the formatted text.
fn check(text: &str, same_comment_order: bool) -> String {
    let once = fmt(text);
    let twice = fmt(&once);
    assert_eq!(
        once, twice,
        "not idempotent\n--- input\n{text}\n--- once\n{once}\n--- twice\n{twice}"
    );
    assert_eq!(
        tree(text),
        tree(&once),
        "the tree changed\n--- input\n{text}\n--- output\n{once}"
    );
    let (mut before, mut after) = (comments(text), comments(&once));
    if !same_comment_order {
        before.sort();
        after.sort();
    }
    assert_eq!(
        before, after,
        "comments changed\n--- input\n{text}\n--- output\n{once}"
    );
    if !once.is_empty() {
        assert!(once.ends_with('\n') && !once.ends_with("\n\n"), "{once:?}");
        assert!(!once.starts_with('\n'), "{once:?}");
    }
    assert!(!once.contains("\n\n\n"), "two blank lines\n{once}");
    for line in once.lines() {
        assert_eq!(line, line.trim_end(), "trailing white space\n{once}");
    }
    once
}

/// Formats `input`, checks [`check`], and compares with `expected`.
fn golden(input: &str, expected: &str) {
    let out = check(input, true);
    assert_eq!(out, expected, "\n--- got\n{out}\n--- expected\n{expected}");
}

// ---------------------------------------------------------------- layout

#[test]
fn one_line_bodies() {
    golden(
        "segment a = recency < 30d and frequency >= 3\nsegment b \"Described\" = lifecycle = new",
        "segment a =\n    recency < 30d and frequency >= 3\n\nsegment b \"Described\" =\n    lifecycle = new\n",
    );
}

#[test]
fn canonical_tokens() {
    golden(
        r#"segment   a"say \"hi\"\ttab"=recency<30d and not(city in("Kyiv","Lviv",))and contacted( sms ,14d )
  and bought category ("Coffee") at least 1 times within 2w and bought ("A","B") at least 2 time
  and spend on partner "OKKO" within 6m of first_purchase>100 and not  not redeemed within 1y
  and contacts by "SMS Gate" within 30d<4 and lifecycle at ("A") != at_risk"#,
        r#"segment a "say \"hi\"\ttab" =
    recency < 30d
    and not (city in ("Kyiv", "Lviv"))
    and contacted(sms, 14d)
    and bought category "Coffee" at least 1 time within 2w
    and bought ("A", "B") at least 2 times
    and spend on partner "OKKO" within 6m of first_purchase > 100
    and not not redeemed within 1y
    and contacts by "SMS Gate" within 30d < 4
    and lifecycle at "A" != at_risk
"#,
    );
    golden(
        "segment b = top 20% by monetary within 1y or top 5 by frequency percentile or signup anniversary within 7d\n\
         segment c = treated(x,2026-09-15)within 90d and held_out(x) and avg between -1.5 and 2y and d not between 2024-01-01 and 2024-12-31 and e = false",
        "segment b =\n    top 20% by monetary within 1y or top 5 by frequency percentile or signup anniversary within 7d\n\n\
         segment c =\n    treated(x, 2026-09-15) within 90d\n    and held_out(x)\n    and avg between -1.5 and 2y\n    and d not between 2024-01-01 and 2024-12-31\n    and e = false\n",
    );
}

#[test]
fn a_channel_that_is_a_keyword_stays_quoted() {
    golden(
        "segment a = contacted(\"and\", 1d) and contacts by \"within\" within 2d < 1",
        "segment a =\n    contacted(\"and\", 1d) and contacts by \"within\" within 2d < 1\n",
    );
}

#[test]
fn a_long_body_is_broken_at_its_top_level_chain() {
    golden(
        "segment coffee_lovers = spend on category \"Coffee\" within 90d > 500 and bought partner (\"Aroma Kava\", \"OKKO\", \"WOG\") within 30d",
        "segment coffee_lovers =\n    spend on category \"Coffee\" within 90d > 500\n    and bought partner (\"Aroma Kava\", \"OKKO\", \"WOG\") within 30d\n",
    );
    golden(
        "segment s = lifecycle = new or bought category \"Coffee\" at least 2 times within 30d or monetary within 365d > 1000 and recency < 14d",
        "segment s =\n    lifecycle = new\n    or bought category \"Coffee\" at least 2 times within 30d\n    or monetary within 365d > 1000 and recency < 14d\n",
    );
}

#[test]
fn groups_that_do_not_fit_are_broken_with_their_content_indented() {
    golden(
        "segment s = recency < 30d and (bought category \"Coffee\" at least 2 times within 30d or spend on category \"Tea\" within 90d > 100 or (lifecycle = new and frequency within 30d of first_purchase < 2 and city in (\"Kyiv\", \"Lviv\", \"Odesa\", \"Dnipro\"))) and not (contacted(sms, 14d) or contacted(email, 7d))",
        "segment s =
    recency < 30d
    and (
        bought category \"Coffee\" at least 2 times within 30d
        or spend on category \"Tea\" within 90d > 100
        or (
            lifecycle = new
            and frequency within 30d of first_purchase < 2
            and city in (\"Kyiv\", \"Lviv\", \"Odesa\", \"Dnipro\")
        )
    )
    and not (contacted(sms, 14d) or contacted(email, 7d))
",
    );
    // A body that is one group, and a `not` of a group.
    golden(
        "segment s = not (bought category \"Coffee\" at least 2 times within 30d or spend on category \"Tea\" within 90d > 100)",
        "segment s =
    not (
        bought category \"Coffee\" at least 2 times within 30d
        or spend on category \"Tea\" within 90d > 100
    )
",
    );
}

#[test]
fn an_and_chain_inside_an_or_continues_one_level_deeper() {
    let long = "monetary within 365d > 1000 and frequency within 90d >= 3 and bought category \"Coffee\" within 30d";
    golden(
        &format!("segment s = lifecycle = new or {long}"),
        "segment s =
    lifecycle = new
    or monetary within 365d > 1000
        and frequency within 90d >= 3
        and bought category \"Coffee\" within 30d
",
    );
}

#[test]
fn a_line_of_exactly_the_width_fits() {
    // "    " + body = LINE_WIDTH characters: one line; one more character: broken.
    let pad = LINE_WIDTH - 4 - "a = 1 and b = ".len();
    let fits = format!("a = 1 and b = {}", "1".repeat(pad));
    assert_eq!(
        fmt(&format!("segment s = {fits}")),
        format!("segment s =\n    {fits}\n")
    );
    let over = format!("{fits}1");
    assert_eq!(
        fmt(&format!("segment s = {over}")),
        format!(
            "segment s =\n    a = 1\n    and {}\n",
            &over["a = 1 and ".len()..]
        )
    );
    // Characters, not bytes.
    let wide = format!("a = \"{}\"", "é".repeat(LINE_WIDTH - 4 - "a = \"\"".len()));
    assert_eq!(
        fmt(&format!("segment s = {wide}")),
        format!("segment s =\n    {wide}\n")
    );
}

#[test]
fn the_header_is_never_broken() {
    let desc = "d".repeat(150);
    golden(
        &format!("segment s \"{desc}\" = a and b"),
        &format!("segment s \"{desc}\" =\n    a and b\n"),
    );
    // A condition longer than the line stays whole.
    let long = format!("city in ({})", vec!["\"Kyiv\""; 30].join(", "));
    golden(
        &format!("segment s = {long}"),
        &format!("segment s =\n    {long}\n"),
    );
}

#[test]
fn campaigns_put_their_clauses_in_order() {
    golden(
        "campaign winback \"Lapsed\" = lapsed_valuable respond within 30d holdout 10% limit 100 by monetary within 365d",
        "campaign winback \"Lapsed\" =\n    lapsed_valuable holdout 10% limit 100 by monetary within 365d desc respond within 30d\n",
    );
    golden(
        "campaign c = lifecycle in (at_risk, churned) and monetary within 365d > 500 holdout 10% limit 5000 by monetary within 365d asc",
        "campaign c =
    lifecycle in (at_risk, churned)
    and monetary within 365d > 500
    holdout 10%
    limit 5000 by monetary within 365d asc
",
    );
    golden(
        "campaign d = x limit 5 respond bought category \"Coffee\" at least 2 times within 14d and spend on partner \"OKKO\" within 14d >= 500 and frequency within 14d >= 2 holdout 5.5%",
        "campaign d =
    x
    holdout 5.5%
    limit 5
    respond bought category \"Coffee\" at least 2 times within 14d
        and spend on partner \"OKKO\" within 14d >= 500
        and frequency within 14d >= 2
",
    );
}

#[test]
fn parameters_and_calls() {
    golden(
        "segment bought_lately(cat:text,days ,cities: list)=bought category cat within days and city in cities and contacted(sms, days)
segment typed(c: text) = city in (c)
segment coffee = bought_lately(\"Coffee\",30d,(\"Kyiv\",\"Lviv\")) and none() and typed(\"x\")",
        "segment bought_lately(cat: text, days, cities: list) =
    bought category cat within days and city in cities and contacted(sms, days)

segment typed(c: text) =
    city in (c)

segment coffee =
    bought_lately(\"Coffee\", 30d, (\"Kyiv\", \"Lviv\")) and none() and typed(\"x\")
",
    );
}

#[test]
fn imports_are_consecutive_and_other_items_one_blank_line_apart() {
    golden(
        "import \"a.seg\"\n\n\nimport \"b.seg\"\nsegment x = a\n\n\n\nsegment y = b\nimport \"c.seg\"\nimport \"d.seg\"",
        "import \"a.seg\"\nimport \"b.seg\"\n\nsegment x =\n    a\n\nsegment y =\n    b\n\nimport \"c.seg\"\nimport \"d.seg\"\n",
    );
}

#[test]
fn empty_and_comment_only_files() {
    golden("", "");
    golden("  \n\n \t\n", "");
    golden("# only a comment", "# only a comment\n");
    golden(
        "\n\n# one   \n\n\n# two\n# three\n\n",
        "# one\n\n# two\n# three\n",
    );
}

#[test]
fn deep_nesting_and_windows_line_ends() {
    // The parser's recursion needs a large stack for deep nesting in debug builds.
    let deep = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(|| {
            let deep = format!("segment s = {}x # deep\n{}", "(".repeat(60), ")".repeat(60));
            check(&deep, true)
        })
        .unwrap()
        .join()
        .unwrap();
    assert!(deep.contains("x  # deep\n"), "{deep}");
    assert!(
        deep.lines()
            .any(|l| l.len() > LINE_WIDTH && l.trim_start() == "x  # deep")
    );
    golden(
        "# a\r\nsegment s = a # b\r\n  and c\r\n\r\n# d\r\n",
        "# a\nsegment s =\n    a  # b\n    and c\n\n# d\n",
    );
}

// ---------------------------------------------------------------- comments

#[test]
fn comments_at_the_top_between_items_and_at_the_bottom() {
    golden(
        "# Header of the file.\n# Second line.\n\n\nimport \"a.seg\"   \n# why b\nimport \"b.seg\"\n# about x\nsegment x = a\n\n# A section.\n\n# About y.\nsegment y = b\n# the end\n\n# really",
        "# Header of the file.
# Second line.

import \"a.seg\"
# why b
import \"b.seg\"

# about x
segment x =
    a

# A section.

# About y.
segment y =
    b
# the end

# really
",
    );
}

#[test]
fn own_line_and_trailing_comments_in_a_body() {
    golden(
        "segment s = # about the body
    recency < 30d  # recent
    # frequent enough
    and frequency >= 3 and # after and
    city = \"Kyiv\" # last",
        "segment s =  # about the body
    recency < 30d  # recent
    # frequent enough
    and frequency >= 3
    # after and
    and city = \"Kyiv\"  # last
",
    );
    // A comment before the body: the body stays on one line.
    golden(
        "segment s =\n  # why\n  a and b # trailing",
        "segment s =\n    # why\n    a and b  # trailing\n",
    );
}

#[test]
fn a_comment_inside_a_group_breaks_it() {
    golden(
        "segment s = a and (b # why b\n or c) and d",
        "segment s =
    a
    and (
        b  # why b
        or c
    )
    and d
",
    );
    golden(
        "segment s = a and ( # open\n b or c\n # before the closing parenthesis\n ) # closed",
        "segment s =
    a
    and (  # open
        b
        or c
        # before the closing parenthesis
    )  # closed
",
    );
    // Inside a `not` and a nested chain.
    golden(
        "segment s = x or y and not (p # p\n or q)",
        "segment s =
    x
    or y
        and not (
            p  # p
            or q
        )
",
    );
}

#[test]
fn a_comment_with_no_line_of_its_own_moves_up_to_the_line_break_before_it() {
    // Inside a value list, between a metric and its window, inside a header.
    golden(
        "segment s # name\n (p # param\n ) \"d\" = a and city in (\"Kyiv\", # capital\n \"Lviv\") and frequency # metric\n within 90d >= 3",
        "# name
# param
segment s(p) \"d\" =
    a
    # capital
    and city in (\"Kyiv\", \"Lviv\")
    # metric
    and frequency within 90d >= 3
",
    );
    // In the first condition: before the body, which stays on one line.
    golden(
        "segment s = bought (\"a\", # inside\n \"b\") and c",
        "segment s =\n    # inside\n    bought (\"a\", \"b\") and c\n",
    );
    // After `and`, at the end of its line: before the operand's line.
    golden(
        "segment s = a and # c\n b",
        "segment s =\n    a\n    # c\n    and b\n",
    );
}

#[test]
fn comments_in_campaign_clauses() {
    golden(
        "campaign c = x # body\n holdout # pct\n 10% limit 100 by monetary # by\n desc # order\n respond within 14d # response",
        "campaign c =
    x  # body
    # pct
    holdout 10%
    # by
    limit 100 by monetary desc  # order
    respond within 14d  # response
",
    );
    // The comment of a clause moves with it when the clauses are put in order.
    let out = check(
        "campaign c = x\n  respond within 14d # response\n  holdout 10% # holdout\n",
        false,
    );
    assert_eq!(
        out,
        "campaign c =\n    x\n    holdout 10%  # holdout\n    respond within 14d  # response\n"
    );
    // A comment after the last clause keeps a short campaign on one line.
    golden(
        "campaign c = x holdout 10% respond within 14d # fine",
        "campaign c =\n    x holdout 10% respond within 14d  # fine\n",
    );
}

#[test]
fn comment_text_is_kept_as_written() {
    golden(
        "#no space\n#   indented   \t\nsegment s = a #\t tab\n#",
        "#no space\n#   indented\nsegment s =\n    a  #\t tab\n#\n",
    );
    // A `#` in a string is not a comment.
    golden(
        "segment s = city = \"#1\" # real",
        "segment s =\n    city = \"#1\"  # real\n",
    );
}

#[test]
fn an_already_formatted_file_is_unchanged() {
    let text = r#"# Segments of the example, formatted.
import "lifecycle.seg"
import "value.seg"

# Coffee.

segment coffee_lovers "Spend on coffee, bought at two partners" =
    spend on category "Coffee" within 90d > 500
    and bought partner ("Aroma Kava", "OKKO", "WOG") within 30d  # both

segment target =
    (lapsed_valuable or coffee_newcomers)
    # big cities only
    and city in ("Kyiv", "Lviv")
    and not (
        bought partner "ALLO" within 90d
        or contacted(sms, 14d)  # recently
        or frequency at ("Silpo", "Furshet") within 30d of first_purchase percentile >= 90
    )

segment bought_lately(cat: text, days: duration) =
    bought category cat within days

campaign winback "Lapsed valuable customers" =
    lapsed_valuable
    and bought_lately("Coffee", 30d)
    holdout 10%
    limit 100 by monetary within 365d desc
    respond bought category "Coffee" within 14d
# The end.
"#;
    assert_eq!(check(text, true), text);
}

// ---------------------------------------------------------------- definitions alone

#[test]
fn format_definition_and_format_segment_follow_the_same_layout() {
    let text = "campaign c \"d\" = a and b holdout 10% respond within 14d\nsegment p(x, n: duration) = bought x within n";
    let f = parse_file("t", text).unwrap();
    let defs: Vec<&SegmentDef> = f
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Segment(d) => Some(d),
            Item::Import(_) => None,
        })
        .collect();
    assert_eq!(
        format_definition(defs[0]),
        "campaign c \"d\" =\n    a and b holdout 10% respond within 14d\n"
    );
    assert_eq!(
        format_definition(defs[1]),
        "segment p(x, n: duration) =\n    bought x within n\n"
    );
    let long = "spend on category \"Coffee\" within 90d > 500 and bought partner (\"Aroma Kava\", \"OKKO\", \"WOG\") within 30d";
    let e = parse_expr("x", long).unwrap();
    assert_eq!(format_expr(&e), long);
    assert_eq!(
        format_segment("s", Some("say \"hi\""), &e),
        "segment s \"say \\\"hi\\\"\" =\n    spend on category \"Coffee\" within 90d > 500\n    and bought partner (\"Aroma Kava\", \"OKKO\", \"WOG\") within 30d\n"
    );
    assert_eq!(
        format_segment("s", None, &parse_expr("x", "a").unwrap()),
        "segment s =\n    a\n"
    );
}

// ---------------------------------------------------------------- the repository's files

fn seg_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            seg_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "seg") {
            out.push(path);
        }
    }
}

/// The texts of the repository's `.seg` files of definitions.
fn repository_files() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in ["examples", "bench", "fuzz/seeds"] {
        seg_files(&root.join(dir), &mut files);
    }
    files.sort();
    files
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter(|t| parse_file("t.seg", t).is_ok())
        .collect()
}

/// Every `.seg` file of the repository formats idempotently to the same tree; prints which the
/// formatter would change (`cargo test -p segql-grammar --test fmt -- --nocapture`).
#[test]
fn the_repository_seg_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in ["examples", "bench", "fuzz/seeds"] {
        seg_files(&root.join(dir), &mut files);
    }
    files.sort();
    let mut checked = 0;
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let shown = path.strip_prefix(&root).unwrap_or(path).display();
        if parse_file("t.seg", &text).is_ok() {
            let out = check(&text, true);
            if out == text {
                println!("unchanged: {shown}");
            } else {
                // The lines only one side has (enough to see what changes).
                println!("changed:   {shown}");
                for l in text.lines().filter(|l| !out.lines().any(|o| o == *l)) {
                    println!("  - {l}");
                }
                for l in out.lines().filter(|l| !text.lines().any(|o| o == *l)) {
                    println!("  + {l}");
                }
            }
            checked += 1;
        } else {
            // Not a file of definitions: an expression (the compile benchmark's input).
            let e = parse_expr("t", &text).unwrap_or_else(|e| panic!("{shown}: {e:?}"));
            let again = parse_expr("t", &format_expr(&e)).unwrap();
            assert_eq!(
                without_spans(&format!("{e:?}")),
                without_spans(&format!("{again:?}"))
            );
            println!("expression: {shown}");
        }
    }
    assert!(checked >= 10, "only {checked} .seg files found");
}

// ---------------------------------------------------------------- random expressions

const CONDITIONS: [&str; 12] = [
    "recency < 30d",
    "frequency within 90d >= 3",
    "bought category \"Coffee\" at least 2 times within 30d",
    "city in (\"Kyiv\", \"Lviv\")",
    "lifecycle = at_risk",
    "contacted(sms, 14d)",
    "monetary within 365d > 1000",
    "top 20% by monetary within 1y",
    "x",
    "spend on partner (\"OKKO\", \"WOG\") within 6m > 100",
    // Comments inside conditions: no line of their own.
    "bought partner (\"A\", #in-a-list\n \"B\") within 30d",
    "frequency #before-the-window\n within 90d >= 1",
];

#[derive(Debug, Clone)]
enum Shape {
    Condition(usize),
    Not(Box<Shape>),
    Group(Box<Shape>),
    Chain(bool, Vec<Shape>),
}

fn shape() -> impl Strategy<Value = Shape> {
    let leaf = (0..CONDITIONS.len()).prop_map(Shape::Condition);
    leaf.prop_recursive(5, 40, 5, |inner| {
        prop_oneof![
            inner.clone().prop_map(|s| Shape::Not(Box::new(s))),
            inner.clone().prop_map(|s| Shape::Group(Box::new(s))),
            (any::<bool>(), prop::collection::vec(inner, 2..6))
                .prop_map(|(or, v)| Shape::Chain(or, v)),
        ]
    })
}

/// Writes shapes as text, with white space, line breaks and comments at random between the
/// tokens.
struct Writer {
    out: String,
    gaps: Vec<u8>,
    next: usize,
    comments: usize,
}

impl Writer {
    fn gap(&mut self) {
        let g = self.gaps.get(self.next % self.gaps.len().max(1)).copied();
        self.next += 1;
        match g.unwrap_or(0) {
            0..=6 => self.out.push(' '),
            7 => self.out.push_str("\n  "),
            8 => {
                self.comments += 1;
                self.out.push_str(&format!("  # t{}\n", self.comments));
            }
            9 | 10 => {
                self.comments += 1;
                self.out.push_str(&format!("\n  # o{}\n  ", self.comments));
            }
            _ => {
                self.comments += 1;
                self.out.push_str(&format!("\n\n# b{}\n\n", self.comments));
            }
        }
    }

    /// `text` with a gap at each of its spaces (which all fall between tokens).
    fn words(&mut self, text: &str) {
        for (i, w) in text.split(' ').enumerate() {
            if i > 0 {
                self.gap();
            }
            self.out.push_str(w);
        }
    }

    fn shape(&mut self, s: &Shape) {
        match s {
            Shape::Condition(i) => self.words(CONDITIONS[*i]),
            Shape::Not(x) => {
                self.out.push_str("not");
                self.gap();
                self.shape(x);
            }
            Shape::Group(x) => {
                self.out.push('(');
                self.gap();
                self.shape(x);
                self.gap();
                self.out.push(')');
            }
            Shape::Chain(or, parts) => {
                for (i, p) in parts.iter().enumerate() {
                    if i > 0 {
                        self.gap();
                        self.out.push_str(if *or { "or" } else { "and" });
                        self.gap();
                    }
                    self.shape(p);
                }
            }
        }
    }
}

const ITEMS: [&str; 6] = [
    "import \"a.seg\"",
    "segment p(cat: text, days, cities: list) \"Parameters\" = bought category cat within days and city in cities or contacted(sms, days)",
    "segment q \"Calls\" = p(\"Coffee\", 30d, (\"Kyiv\", \"Lviv\")) or none() and",
    "campaign c \"Campaign\" = x holdout 10% limit 5 by monetary within 1y asc respond within 14d",
    "segment s =",
    "segment t(a) =",
];

const CLAUSES: [&str; 4] = [
    "holdout 10%",
    "limit 5000 by monetary within 365d",
    "respond within 14d",
    "respond bought category \"Coffee\" within 14d and frequency within 14d >= 2",
];

proptest! {
    // Failures print their shrunk case; none is saved into the source tree.
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Random bodies with comments between their tokens: idempotent, the same tree, every
    /// comment kept in order.
    #[test]
    fn random_bodies_with_comments(
        a in shape(),
        b in shape(),
        gaps in prop::collection::vec(0u8..12, 1..40),
        head in any::<bool>(),
    ) {
        let mut w = Writer { out: String::new(), gaps, next: 0, comments: 0 };
        if head {
            w.out.push_str("# head\n");
        }
        w.out.push_str("segment a =");
        w.gap();
        w.shape(&a);
        w.gap();
        w.out.push_str("segment b \"described\" =");
        w.gap();
        w.shape(&b);
        w.gap();
        let text = w.out;
        prop_assume!(parse_file("t.seg", &text).is_ok());
        check(&text, true);
    }

    /// Campaigns with their clauses in any order and comments between them.
    #[test]
    fn random_campaigns_with_comments(
        body in shape(),
        clauses in prop::sample::subsequence(vec![0usize, 1, 2], 0..=3).prop_shuffle(),
        conditioned in any::<bool>(),
        gaps in prop::collection::vec(0u8..12, 1..40),
    ) {
        let mut w = Writer { out: String::new(), gaps, next: 0, comments: 0 };
        w.out.push_str("campaign c =");
        w.gap();
        w.shape(&body);
        for c in clauses {
            w.gap();
            let c = if c == 2 && conditioned { 3 } else { c };
            w.words(CLAUSES[c]);
        }
        w.gap();
        let text = w.out;
        prop_assume!(parse_file("t.seg", &text).is_ok());
        check(&text, false);
    }

    /// Whole files: imports, definitions with parameters, calls and campaigns, with comments
    /// between any two tokens and between the items.
    #[test]
    fn random_files_with_comments(
        items in prop::collection::vec((0..ITEMS.len(), shape()), 0..6),
        gaps in prop::collection::vec(0u8..12, 1..60),
    ) {
        let mut w = Writer { out: String::new(), gaps, next: 0, comments: 0 };
        w.gap();
        for (i, body) in &items {
            w.words(ITEMS[*i]);
            if ITEMS[*i].ends_with('=') || ITEMS[*i].ends_with("and") {
                w.gap();
                w.shape(body);
            }
            w.gap();
        }
        let text = w.out;
        prop_assume!(parse_file("t.seg", &text).is_ok());
        check(&text, true);
    }
    /// The repository's files with the white space between their tokens replaced at random:
    /// by other white space, or by comments at the end of a line, on lines of their own, or
    /// between blank lines.
    #[test]
    fn repository_files_with_comments_anywhere(
        file in any::<prop::sample::Index>(),
        gaps in prop::collection::vec(0u8..12, 1..80),
    ) {
        let files = repository_files();
        prop_assume!(!files.is_empty());
        let text = file.get(&files);
        let tokens: Vec<_> = lex::tokens(text).collect();
        let mut w = Writer { out: String::new(), gaps, next: 0, comments: 0 };
        let mut at = 0;
        for (i, t) in tokens.iter().enumerate() {
            let gap = &text[at..t.span.start];
            // Tokens written together (`10%`, `rfm.r`) stay together.
            if i > 0 && !gap.is_empty() {
                let after_comment = tokens[i - 1].kind == TokenKind::Comment;
                let before = w.out.len();
                w.gap();
                if after_comment && !w.out[before..].contains('\n') {
                    w.out.push('\n');
                }
            }
            w.out.push_str(t.text(text));
            at = t.span.end;
        }
        w.out.push('\n');
        let mutated = w.out;
        prop_assume!(parse_file("t.seg", &mutated).is_ok());
        check(&mutated, true);
    }
}
