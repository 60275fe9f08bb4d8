//! `segql test`: assertions about segments kept in `.segtest` files, with their own fixture
//! rows or over the project's data.
//!
//! A file is read line by line ([`parse`]): `use "FILE.seg"`, `as of DATE`, tables of fixture
//! rows (`transactions:`, `customers:`, `communications:`, then CSV with a header up to a blank
//! line) and `expect` lines. Every mistake is a [`TestError`] pointing into the file.
//! [`prepare`] loads the segment files and parses each assertion's segment; [`Data`] holds the
//! engines an assertion runs on (the project's data, or the fixtures written as CSV into a
//! temporary directory and a copy of the project whose tables are those files), one per as-of
//! date; [`evaluate`] decides an assertion and, when it fails, says why: the customer's value
//! of each top-level condition of the segment and the values those conditions read.

use crate::engine::{Engine, EngineOptions};
use crate::error::RuntimeError;
use crate::project::config::{COMM_COLUMNS, TX_OPTIONAL, TX_REQUIRED};
use crate::project::{Project, TableConfig};
use crate::reports::diff::{Combine, terms, terms_of};
use chrono::NaiveDate;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::logical_expr::{Expr as DfExpr, LogicalPlanBuilder, ident, lit};
use miette::{Diagnostic, NamedSource, Report, SourceSpan};
use segql_compiler::ir::{Segment, Value};
use segql_compiler::{
    CompileError, PerCustomer, Program, Wanted, lower_definition, resolve_expr, resolve_segment,
};
use segql_grammar::ast::{Expr, ExprKind};
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;

/// The file's text as diagnostics see it.
pub type Src = NamedSource<Arc<str>>;

/// The extension of test files.
pub const EXTENSION: &str = "segtest";

/// The tables a file can give rows of, with the columns each must have.
const TABLES: [(&str, &[&str]); 3] = [
    ("transactions", &TX_REQUIRED),
    ("customers", &["customer_id"]),
    ("communications", &["customer_id", "ts"]),
];

/// Columns read as numbers, and as dates.
const NUMBER_COLUMNS: [&str; 4] = ["amount", "quantity", "points_earned", "points_redeemed"];
const DATE_COLUMNS: [&str; 3] = ["ts", "signup_date", "birthday"];

/// The shapes of an assertion, for messages.
const ASSERTION_SHAPES: &str = "an assertion is `expect \"ID\" in SEGMENT`, `expect \"ID\" not in SEGMENT`, \
`expect count(SEGMENT) OP N` (OP one of = != < <= > >=) or `expect count(SEGMENT) between A and B`, \
each optionally followed by `as of DATE`";

/// A mistake in a `.segtest` file, or an assertion that failed.
#[derive(Debug, Error, Diagnostic)]
pub enum TestError {
    /// A line that is no directive, or a directive written wrong.
    #[error("{message}")]
    #[diagnostic(code(segql::test::syntax))]
    Syntax {
        /// What is wrong.
        message: String,
        /// How to fix it.
        #[help]
        help: Option<String>,
        /// The file.
        #[source_code]
        src: Src,
        /// Where.
        #[label("here")]
        span: SourceSpan,
    },

    /// A date that is not a date like 2026-10-31.
    #[error("`{text}` is not a date like 2026-10-31")]
    #[diagnostic(code(segql::test::bad_date))]
    BadDate {
        /// The text.
        text: String,
        /// What else to know.
        #[help]
        help: Option<String>,
        /// The file.
        #[source_code]
        src: Src,
        /// Where.
        #[label("not a date")]
        span: SourceSpan,
    },

    /// Fixture rows that are not valid CSV, or lack a column their table needs.
    #[error("{message}")]
    #[diagnostic(code(segql::test::bad_csv))]
    BadCsv {
        /// What is wrong.
        message: String,
        /// How to fix it.
        #[help]
        help: Option<String>,
        /// The file.
        #[source_code]
        src: Src,
        /// Where.
        #[label("here")]
        span: SourceSpan,
    },

    /// An assertion naming a segment that the files of its `use` lines do not define.
    #[error("{message}")]
    #[diagnostic(code(segql::test::unknown_segment))]
    UnknownSegment {
        /// The compiler's message.
        message: String,
        /// "did you mean" and where segments come from.
        #[help]
        help: Option<String>,
        /// The file.
        #[source_code]
        src: Src,
        /// The name.
        #[label("not defined in the files this file uses")]
        span: SourceSpan,
    },

    /// An `expect` line that is no assertion, or whose segment does not parse or resolve.
    #[error("{message}")]
    #[diagnostic(code(segql::test::assertion))]
    Assertion {
        /// What is wrong.
        message: String,
        /// How to fix it.
        #[help]
        help: Option<String>,
        /// The file.
        #[source_code]
        src: Src,
        /// Where.
        #[label("{label}")]
        span: SourceSpan,
        /// The label's text.
        label: String,
    },

    /// A `use` line naming a file that cannot be read.
    #[error("cannot read the segment file `{path}`: {reason}")]
    #[diagnostic(
        code(segql::test::use_file),
        help("`use` paths are relative to the .segtest file")
    )]
    UseFile {
        /// The path, as resolved.
        path: String,
        /// Why.
        reason: String,
        /// The file.
        #[source_code]
        src: Src,
        /// The path as written.
        #[label("used here")]
        span: SourceSpan,
    },

    /// Fixture rows that segql cannot read as data.
    #[error("the fixture rows cannot be read: {message}")]
    #[diagnostic(code(segql::test::data))]
    Data {
        /// The runtime's message.
        message: String,
        /// The runtime's help.
        #[help]
        help: Option<String>,
        /// The file.
        #[source_code]
        src: Src,
        /// The table's line.
        #[label("in these rows")]
        span: SourceSpan,
    },

    /// An assertion that does not hold.
    #[error("assertion failed: {assertion}")]
    #[diagnostic(code(segql::test::failed))]
    Failed {
        /// The assertion as written.
        assertion: String,
        /// Why: the values found.
        #[help]
        detail: String,
        /// The file.
        #[source_code]
        src: Src,
        /// The `expect` line.
        #[label("does not hold")]
        span: SourceSpan,
    },

    /// No test file to run.
    #[error("no .segtest files under `{dir}`")]
    #[diagnostic(
        code(segql::test::no_files),
        help(
            "write assertions in files like tests/segments.segtest in the project directory, or name the files to run"
        )
    )]
    NoFiles {
        /// Where they were looked for.
        dir: String,
    },
}

/// A comparison of a count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Op {
    const ALL: [(&'static str, Op); 6] = [
        ("!=", Op::Ne),
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("=", Op::Eq),
        ("<", Op::Lt),
        (">", Op::Gt),
    ];

    fn symbol(self) -> &'static str {
        Op::ALL
            .iter()
            .find(|(_, o)| *o == self)
            .map_or("=", |(s, _)| s)
    }

    fn holds(self, a: u64, b: u64) -> bool {
        match self {
            Op::Eq => a == b,
            Op::Ne => a != b,
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Gt => a > b,
            Op::Ge => a >= b,
        }
    }
}

/// What an assertion checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// `"ID" in SEGMENT`, or `not in` when `negated`.
    In {
        /// The customer id.
        id: String,
        /// `not in`.
        negated: bool,
    },
    /// `count(SEGMENT) OP N`.
    Count {
        /// The comparison.
        op: Op,
        /// N.
        n: u64,
    },
    /// `count(SEGMENT) between A and B`, both included.
    Between {
        /// A.
        low: u64,
        /// B.
        high: u64,
    },
}

/// One `expect` line.
#[derive(Debug, Clone)]
pub struct Assertion {
    /// Its line (from 1).
    pub line: usize,
    /// The assertion as written, after `expect`.
    pub text: String,
    /// The whole `expect` line, comment left out.
    pub span: SourceSpan,
    /// What it checks.
    pub check: Check,
    /// The segment: an expression (a name, a call, conditions).
    pub segment: String,
    /// Where the segment's text starts in the file.
    pub segment_at: usize,
    /// Its own `as of`, else the file's `as of` above it; `None`: the command's date.
    pub as_of: Option<NaiveDate>,
}

/// Rows of one table.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// `transactions`, `customers` or `communications`.
    pub table: &'static str,
    /// The table's line.
    pub span: SourceSpan,
    /// The rows as a CSV file with its header.
    pub csv: String,
}

/// A `use` line.
#[derive(Debug, Clone)]
pub struct Use {
    /// The path as written, relative to the test file.
    pub path: String,
    /// The quoted path.
    pub span: SourceSpan,
}

/// A parsed `.segtest` file.
#[derive(Debug, Clone)]
pub struct TestFile {
    /// The name shown (the path as given).
    pub name: String,
    /// The file's path, which `use` paths are relative to.
    pub path: PathBuf,
    /// The text, for diagnostics.
    pub src: Src,
    /// The segment files used.
    pub uses: Vec<Use>,
    /// Fixture rows; none: the assertions run on the project's data.
    pub fixtures: Vec<Fixture>,
    /// The assertions, in order.
    pub assertions: Vec<Assertion>,
}

/// One line of the file: its number, where it starts and its text (line end and
/// byte-order mark left out).
struct Line<'a> {
    number: usize,
    start: usize,
    raw: &'a str,
}

/// The text before a `#` that is outside double quotes; `escapes`: `\"` does not close a
/// quote (segql strings; CSV doubles its quotes instead).
fn strip_comment(s: &str, escapes: bool) -> &str {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted && escapes => escaped = true,
            '"' => quoted = !quoted,
            '#' if !quoted => return &s[..i],
            _ => {}
        }
    }
    s
}

fn lines(text: &str) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, raw) in text.split('\n').enumerate() {
        let line_start = start;
        start += raw.len() + 1;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        // A byte-order mark is no content; spans still count its bytes.
        let skip = raw.len() - raw.trim_start_matches('\u{feff}').len();
        let raw = &raw[skip..];
        out.push(Line {
            number: i + 1,
            start: line_start + skip,
            raw,
        });
    }
    out
}

fn span(start: usize, len: usize) -> SourceSpan {
    (start, len.max(1)).into()
}

/// Where `part` (a slice of `whole`) starts in `whole`.
fn offset_in(whole: &str, part: &str) -> usize {
    part.as_ptr() as usize - whole.as_ptr() as usize
}

/// Parses a `.segtest` file named `name` (as shown) at `path`. Every mistake found is
/// returned, in the order of the lines.
pub fn parse(name: &str, path: &Path, text: &str) -> Result<TestFile, Vec<TestError>> {
    let src: Src = NamedSource::new(name, Arc::<str>::from(text));
    let mut p = Parser {
        src: src.clone(),
        errors: Vec::new(),
        file: TestFile {
            name: name.to_string(),
            path: path.to_path_buf(),
            src,
            uses: Vec::new(),
            fixtures: Vec::new(),
            assertions: Vec::new(),
        },
        as_of: None,
    };
    let all = lines(text);
    let mut i = 0;
    while i < all.len() {
        let line = &all[i];
        i += 1;
        let content = strip_comment(line.raw, true).trim_end();
        let lead = content.len() - content.trim_start().len();
        let content = content.trim_start();
        if content.is_empty() {
            continue;
        }
        let at = line.start + lead;
        if let Some(table) = content.strip_suffix(':').map(str::trim_end)
            && !table.contains(char::is_whitespace)
            && !table.contains(',')
        {
            let rows = all[i..]
                .iter()
                .take_while(|l| !l.raw.trim().is_empty())
                .count();
            p.table(table, at, &all[i..i + rows]);
            i += rows;
            continue;
        }
        let word = content.split_whitespace().next().unwrap_or("");
        match word {
            "use" => p.use_line(&content[3..], at + 3),
            "as" => {
                let rest = content[2..].trim_start();
                match rest.strip_prefix("of") {
                    Some(date) if date.starts_with(char::is_whitespace) => {
                        let date = date.trim();
                        let d_at = offset_in(text, date);
                        p.as_of = p.date(date, d_at);
                    }
                    _ => p.syntax(
                        "`as of` needs a date".into(),
                        Some("write `as of 2026-10-31`".into()),
                        span(at, content.len()),
                    ),
                }
            }
            "expect" => {
                let rest = &content[6..];
                let assertion = rest.trim();
                let a_at = offset_in(text, assertion).min(at + content.len());
                p.assertion(line.number, span(at, content.len()), assertion, a_at);
            }
            _ => p.unknown(content, at),
        }
    }
    if p.errors.is_empty() {
        Ok(p.file)
    } else {
        Err(p.errors)
    }
}

struct Parser {
    src: Src,
    errors: Vec<TestError>,
    file: TestFile,
    /// The `as of` in force.
    as_of: Option<NaiveDate>,
}

impl Parser {
    fn syntax(&mut self, message: String, help: Option<String>, span: SourceSpan) {
        self.errors.push(TestError::Syntax {
            message,
            help,
            src: self.src.clone(),
            span,
        });
    }

    fn bad_csv(&mut self, message: String, help: Option<String>, span: SourceSpan) {
        self.errors.push(TestError::BadCsv {
            message,
            help,
            src: self.src.clone(),
            span,
        });
    }

    fn assertion_error(&mut self, message: String, help: Option<String>, span: SourceSpan) {
        self.errors.push(TestError::Assertion {
            message,
            help,
            src: self.src.clone(),
            span,
            label: "here".into(),
        });
    }

    fn date(&mut self, text: &str, at: usize) -> Option<NaiveDate> {
        match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            Ok(d) if text.len() == 10 => Some(d),
            _ => {
                self.errors.push(TestError::BadDate {
                    text: text.to_string(),
                    help: None,
                    src: self.src.clone(),
                    span: span(at, text.len()),
                });
                None
            }
        }
    }

    fn unknown(&mut self, content: &str, at: usize) {
        let word = content.split_whitespace().next().unwrap_or(content);
        let known = [
            "use",
            "as of",
            "expect",
            "transactions:",
            "customers:",
            "communications:",
        ];
        let help = if let Some(c) = segql_compiler::error::closest(word, known) {
            format!("did you mean `{c}`?")
        } else if content.contains(',') {
            "rows belong to a table: a line `transactions:` (or `customers:`, \
             `communications:`), the CSV header, then the rows with no blank line between them"
                .into()
        } else {
            format!(
                "a line is a comment (`#`), `use \"FILE.seg\"`, `as of DATE`, a table \
                 (`transactions:`, `customers:`, `communications:`) or `expect ...`; {ASSERTION_SHAPES}"
            )
        };
        self.syntax(
            format!("`{word}` is not a directive of a .segtest file"),
            Some(help),
            span(at, word.len()),
        );
    }

    fn use_line(&mut self, rest: &str, at: usize) {
        let path = rest.trim();
        let p_at = at + (rest.len() - rest.trim_start().len());
        match quoted(path) {
            Some((value, len)) if path[len..].trim().is_empty() && !value.is_empty() => {
                self.file.uses.push(Use {
                    path: value,
                    span: span(p_at, len),
                })
            }
            _ => self.syntax(
                "`use` takes one segment file in double quotes".into(),
                Some("write `use \"../segments/offers.seg\"`, relative to this file; one `use` line per file".into()),
                span(p_at.saturating_sub(4), path.len() + 4),
            ),
        }
    }

    /// A table: its header line at `at`, its rows (up to the blank line).
    fn table(&mut self, name: &str, at: usize, rows: &[Line]) {
        let header_span = span(at, name.len() + 1);
        let Some((table, required)) = TABLES.iter().find(|(t, _)| *t == name).copied() else {
            let names = TABLES.map(|(t, _)| t);
            let help = segql_compiler::error::closest(name, names)
                .map(|c| format!("did you mean `{c}`?"))
                .unwrap_or_else(|| format!("the tables are {}", names.join(", ")));
            self.syntax(
                format!("`{name}` is not a table"),
                Some(help),
                span(at, name.len()),
            );
            return;
        };
        if self.file.fixtures.iter().any(|f| f.table == table) {
            self.syntax(
                format!("`{table}` is given twice"),
                Some("give each table's rows once, in one block".into()),
                header_span,
            );
            return;
        }
        let errors = self.errors.len();
        let mut header: Option<Vec<(String, SourceSpan)>> = None;
        let mut out = csv::Writer::from_writer(Vec::new());
        for row in rows {
            let content = strip_comment(row.raw, false).trim_end();
            if content.trim().is_empty() {
                continue;
            }
            let base = row.start;
            let fields = match split_csv(content, base) {
                Ok(f) => f,
                Err((message, sp)) => {
                    self.bad_csv(message, None, sp);
                    continue;
                }
            };
            let row_span = span(
                base + content.len() - content.trim_start().len(),
                content.trim().len(),
            );
            match &header {
                None => {
                    self.check_header(table, required, &fields, row_span);
                    let _ = out.write_record(fields.iter().map(|(v, _)| v));
                    header = Some(fields);
                }
                Some(h) => {
                    if fields.len() != h.len() {
                        let help = if ["expect", "use", "as"]
                            .contains(&content.split_whitespace().next().unwrap_or(""))
                        {
                            "a table ends at a blank line: add one before this line".to_string()
                        } else {
                            format!(
                                "the header has {}: {}",
                                h.len(),
                                h.iter()
                                    .map(|(n, _)| n.as_str())
                                    .collect::<Vec<_>>()
                                    .join(",")
                            )
                        };
                        self.bad_csv(
                            format!(
                                "this row of `{table}` has {} field{}, its header {}",
                                fields.len(),
                                if fields.len() == 1 { "" } else { "s" },
                                h.len()
                            ),
                            Some(help),
                            row_span,
                        );
                        continue;
                    }
                    for ((value, sp), (column, _)) in fields.iter().zip(h.iter()) {
                        self.check_value(column, value, *sp);
                    }
                    let _ = out.write_record(fields.iter().map(|(v, _)| v));
                }
            }
        }
        if header.is_none() {
            self.bad_csv(
                format!("`{table}:` has no header line"),
                Some(format!(
                    "the line after `{table}:` names the columns, e.g. `{}`; the rows follow, up to a blank line",
                    required.join(",")
                )),
                header_span,
            );
        }
        if self.errors.len() == errors {
            let csv = out
                .into_inner()
                .map(|b| String::from_utf8_lossy(&b).to_string())
                .unwrap_or_default();
            self.file.fixtures.push(Fixture {
                table,
                span: header_span,
                csv,
            });
        }
    }

    fn check_header(
        &mut self,
        table: &str,
        required: &[&str],
        fields: &[(String, SourceSpan)],
        row_span: SourceSpan,
    ) {
        let known: Option<Vec<&str>> = match table {
            "transactions" => Some(TX_REQUIRED.iter().chain(&TX_OPTIONAL).copied().collect()),
            "communications" => Some(COMM_COLUMNS.to_vec()),
            _ => None,
        };
        for (i, (name, sp)) in fields.iter().enumerate() {
            if name.is_empty() {
                self.bad_csv(format!("a column of `{table}` has no name"), None, *sp);
            } else if fields[..i].iter().any(|(n, _)| n == name) {
                self.bad_csv(format!("column `{name}` is named twice"), None, *sp);
            } else if let Some(known) = &known
                && !known.contains(&name.as_str())
            {
                let hint = segql_compiler::error::closest(name, known.iter().copied())
                    .map(|c| format!("did you mean `{c}`? "))
                    .unwrap_or_default();
                self.bad_csv(
                    format!("`{table}` has no column `{name}`"),
                    Some(format!(
                        "{hint}fixture rows use segql's canonical column names: {}",
                        known.join(", ")
                    )),
                    *sp,
                );
            }
        }
        let missing: Vec<&str> = required
            .iter()
            .filter(|c| !fields.iter().any(|(n, _)| n == *c))
            .copied()
            .collect();
        if !missing.is_empty() {
            self.bad_csv(
                format!(
                    "the header of `{table}` lacks {}",
                    missing
                        .iter()
                        .map(|c| format!("`{c}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Some(format!(
                    "`{table}` needs the columns {} (segql's canonical names)",
                    required.join(", ")
                )),
                row_span,
            );
        }
    }

    fn check_value(&mut self, column: &str, value: &str, sp: SourceSpan) {
        if value.is_empty() {
            return;
        }
        if DATE_COLUMNS.contains(&column) {
            let (day, rest) = value.split_at(value.len().min(10));
            let ok = value.is_char_boundary(value.len().min(10))
                && NaiveDate::parse_from_str(day, "%Y-%m-%d").is_ok()
                && (rest.is_empty() || rest.starts_with(['T', ' ']));
            if !ok {
                self.errors.push(TestError::BadDate {
                    text: value.to_string(),
                    help: Some(format!(
                        "column `{column}`: fixture dates are written YYYY-MM-DD, or as timestamps like 2026-10-31T10:00:00"
                    )),
                    src: self.src.clone(),
                    span: sp,
                });
            }
        } else if NUMBER_COLUMNS.contains(&column) {
            let digits = value.strip_prefix('-').unwrap_or(value);
            let (whole, frac) = digits.split_once('.').unwrap_or((digits, "0"));
            let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            if !(all_digits(whole) && all_digits(frac)) {
                self.bad_csv(
                    format!("`{value}` in column `{column}` is not a number like 12.50"),
                    Some("write numbers with a dot and no thousands separators".into()),
                    sp,
                );
            }
        }
    }

    fn assertion(&mut self, line: usize, line_span: SourceSpan, text: &str, at: usize) {
        let shapes = Some(ASSERTION_SHAPES.to_string());
        if text.is_empty() {
            self.assertion_error("`expect` needs an assertion".into(), shapes, line_span);
            return;
        }
        // A trailing `as of DATE` outside quotes.
        let mut body = text;
        let mut as_of = self.as_of;
        let words: Vec<(usize, &str)> = word_offsets(text);
        if words.len() >= 3 {
            let n = words.len();
            let (as_at, as_word) = words[n - 3];
            if as_word == "as"
                && words[n - 2].1 == "of"
                && text[..as_at].matches('"').count().is_multiple_of(2)
            {
                let (d_at, d) = words[n - 1];
                match self.date(d, at + d_at) {
                    Some(d) => as_of = Some(d),
                    None => return,
                }
                body = text[..as_at].trim_end();
            }
        }
        let (check, segment, seg_at) = if body.starts_with('"') {
            let Some((id, len)) = quoted(body) else {
                self.assertion_error(
                    "the customer id's quote is not closed".into(),
                    shapes,
                    span(at, body.len()),
                );
                return;
            };
            let rest = &body[len..];
            let trimmed = rest.trim_start();
            let (negated, after) = if let Some(r) = keyword(trimmed, "not") {
                match keyword(r.trim_start(), "in") {
                    Some(r) => (true, r),
                    None => {
                        self.expected_in(at + offset_in(body, trimmed), trimmed);
                        return;
                    }
                }
            } else if let Some(r) = keyword(trimmed, "in") {
                (false, r)
            } else {
                self.expected_in(at + offset_in(body, trimmed).min(body.len()), trimmed);
                return;
            };
            let seg = after.trim();
            (
                Check::In { id, negated },
                seg,
                at + offset_in(body, seg).min(body.len()),
            )
        } else if let Some(r) = keyword_paren(body, "count") {
            let Some(close) = closing_paren(r) else {
                self.assertion_error(
                    "`count(` is not closed".into(),
                    Some(
                        "write `count(SEGMENT)` then a comparison, e.g. `count(champions) >= 10`"
                            .into(),
                    ),
                    span(at, body.len()),
                );
                return;
            };
            let seg = r[..close].trim();
            let tail = r[close + 1..].trim_start();
            let tail_at = at + offset_in(body, tail).min(body.len());
            let check = match self.count_check(tail, tail_at) {
                Some(c) => c,
                None => return,
            };
            (check, seg, at + offset_in(body, seg).min(body.len()))
        } else {
            let first = body.split_whitespace().next().unwrap_or(body);
            let help = if body.contains(" in ") || body.contains(" not in ") {
                format!("quote the customer id: `\"{first}\" ...`; ids are compared as text")
            } else {
                ASSERTION_SHAPES.to_string()
            };
            self.assertion_error(
                format!("`{first}` does not start an assertion"),
                Some(help),
                span(at, first.len()),
            );
            return;
        };
        if segment.is_empty() {
            self.assertion_error(
                "the assertion names no segment".into(),
                Some("name a segment of the used files, call one, or write conditions, e.g. `count(recency < 30d) >= 1`".into()),
                span(seg_at.saturating_sub(1), 1),
            );
            return;
        }
        self.file.assertions.push(Assertion {
            line,
            text: text.to_string(),
            span: line_span,
            check,
            segment: segment.to_string(),
            segment_at: seg_at,
            as_of,
        });
    }

    fn expected_in(&mut self, at: usize, found: &str) {
        let word = found.split_whitespace().next().unwrap_or("");
        self.assertion_error(
            if word.is_empty() {
                "expected `in` or `not in` after the customer id".into()
            } else {
                format!("expected `in` or `not in` after the customer id, found `{word}`")
            },
            Some("write `expect \"C1\" in SEGMENT` or `expect \"C1\" not in SEGMENT`".into()),
            span(at, word.len()),
        );
    }

    /// The comparison after `count(...)`.
    fn count_check(&mut self, tail: &str, at: usize) -> Option<Check> {
        let help = Some(
            "compare the count with a whole number: `count(S) = 3`, `count(S) >= 10` \
             (= != < <= > >=), or give a range: `count(S) between 500 and 900`"
                .to_string(),
        );
        if let Some(r) = keyword(tail, "between") {
            let words = word_offsets(r);
            let r_at = at + offset_in(tail, r);
            if let [(la, low), (_, "and"), (ha, high)] = words[..] {
                let low = self.number(low, r_at + la)?;
                let high = self.number(high, r_at + ha)?;
                if low > high {
                    self.assertion_error(
                        format!("the range {low} to {high} is empty"),
                        Some("write the smaller number first".into()),
                        span(at, tail.len()),
                    );
                    return None;
                }
                return Some(Check::Between { low, high });
            }
            self.assertion_error(
                "`between` takes two numbers: `between A and B`".into(),
                help,
                span(at, tail.len()),
            );
            return None;
        }
        let symbol_len = tail
            .find(|c: char| !"<>=!".contains(c))
            .unwrap_or(tail.len());
        let written = &tail[..symbol_len];
        let Some((symbol, op)) = Op::ALL.iter().find(|(s, _)| *s == written).copied() else {
            let word = if written.is_empty() {
                tail.split_whitespace().next().unwrap_or("")
            } else {
                written
            };
            self.assertion_error(
                if word.is_empty() {
                    "`count(...)` needs a comparison".into()
                } else {
                    format!("`{word}` is not a comparison")
                },
                help,
                span(at, word.len()),
            );
            return None;
        };
        let n = tail[symbol.len()..].trim();
        if n.is_empty() || n.contains(char::is_whitespace) {
            self.assertion_error(
                "a count compares with one whole number".into(),
                help,
                span(at, tail.len()),
            );
            return None;
        }
        let n = self.number(n, at + offset_in(tail, n))?;
        Some(Check::Count { op, n })
    }

    fn number(&mut self, text: &str, at: usize) -> Option<u64> {
        match text.parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.assertion_error(
                    format!("`{text}` is not a whole number"),
                    Some("counts are whole numbers like 500, without separators".into()),
                    span(at, text.len()),
                );
                None
            }
        }
    }
}

/// `s` after the word `word` followed by a space or the end.
fn keyword<'a>(s: &'a str, word: &str) -> Option<&'a str> {
    let rest = s.strip_prefix(word)?;
    (rest.is_empty() || rest.starts_with(char::is_whitespace)).then_some(rest)
}

/// `s` after `word` and an opening parenthesis (spaces allowed between).
fn keyword_paren<'a>(s: &'a str, word: &str) -> Option<&'a str> {
    s.strip_prefix(word)?.trim_start().strip_prefix('(')
}

/// The index of the parenthesis closing an open one before `s`, strings skipped.
fn closing_paren(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth == 0 => return Some(i),
            ')' if !quoted => depth -= 1,
            _ => {}
        }
    }
    None
}

/// The words of `s` outside quotes with their offsets (a quoted part is part of its word).
fn word_offsets(s: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => {
                quoted = !quoted;
                start.get_or_insert(i);
            }
            c if c.is_whitespace() && !quoted => {
                if let Some(st) = start.take() {
                    out.push((st, &s[st..i]));
                }
            }
            _ => {
                start.get_or_insert(i);
            }
        }
    }
    if let Some(st) = start {
        out.push((st, &s[st..]));
    }
    out
}

/// A double-quoted string at the start of `s` (`\"` and `\\` escapes): its value and length.
fn quoted(s: &str) -> Option<(String, usize)> {
    let mut chars = s.char_indices();
    if chars.next()?.1 != '"' {
        return None;
    }
    let mut value = String::new();
    let mut escaped = false;
    for (i, c) in chars {
        match c {
            _ if escaped => {
                value.push(c);
                escaped = false;
            }
            '\\' => escaped = true,
            '"' => return Some((value, i + 1)),
            _ => value.push(c),
        }
    }
    None
}

/// The fields of one CSV line starting at byte `base` of the file: each value with its span.
/// Spaces around unquoted values are dropped; quoted values double their quotes.
fn split_csv(line: &str, base: usize) -> Result<Vec<(String, SourceSpan)>, (String, SourceSpan)> {
    let bytes = line.as_bytes();
    let mut fields = Vec::new();
    let mut i = 0;
    loop {
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        if i < bytes.len() && bytes[i] == b'"' {
            let start = i;
            let mut value = String::new();
            let mut j = i + 1;
            let mut closed = false;
            while j < line.len() {
                let c = line[j..].chars().next().unwrap_or('"');
                if c == '"' {
                    if line[j + 1..].starts_with('"') {
                        value.push('"');
                        j += 2;
                        continue;
                    }
                    closed = true;
                    j += 1;
                    break;
                }
                value.push(c);
                j += c.len_utf8();
            }
            if !closed {
                return Err((
                    "this quote is not closed".into(),
                    span(base + start, line.len() - start),
                ));
            }
            fields.push((value, span(base + start, j - start)));
            let after = line[j..].trim_start_matches(' ');
            i = line.len() - after.len();
            if after.is_empty() {
                return Ok(fields);
            }
            if !after.starts_with(',') {
                return Err((
                    "text after a closing quote: a quoted value ends its field".into(),
                    span(base + i, 1),
                ));
            }
            i += 1;
        } else {
            let end = line[i..].find(',').map_or(line.len(), |e| i + e);
            let raw = &line[i..end];
            let value = raw.trim();
            let v_at = i + (raw.len() - raw.trim_start().len());
            fields.push((value.to_string(), span(base + v_at, value.len())));
            if end == line.len() {
                return Ok(fields);
            }
            i = end + 1;
        }
    }
}

/// A loaded test file: the program of its `use` lines and each assertion's segment parsed.
pub struct Prepared {
    program: Program,
    /// Per assertion: its segment and the program's source index of its text.
    segments: Vec<(Expr, usize)>,
}

/// The name of the inline sources of assertions, to tell their errors from the files'.
const INLINE: &str = "\u{0}segtest";

/// Loads the segment files `file` uses (imports confined to `root`) and parses each
/// assertion's segment. Errors of a used file are its own diagnostics.
pub fn prepare(file: &TestFile, root: Option<&Path>) -> Result<Prepared, Vec<Report>> {
    let mut program = Program::new(root);
    let mut errors: Vec<Report> = Vec::new();
    let dir = file.path.parent().unwrap_or(Path::new(""));
    let root_real = root.and_then(|r| std::fs::canonicalize(r).ok());
    for u in &file.uses {
        let path = normalize(&dir.join(&u.path));
        // Like an import: a used file stays inside the project, links followed, and nothing
        // outside it is read.
        if let (Some(r), Ok(real)) = (&root_real, std::fs::canonicalize(&path))
            && !real.starts_with(r)
        {
            errors.push(Report::new(TestError::UseFile {
                path: u.path.clone(),
                reason:
                    "it lies outside the project directory; a test uses the project's segment files"
                        .into(),
                src: file.src.clone(),
                span: u.span,
            }));
            continue;
        }
        match program.load_file(&path) {
            Err(CompileError::FileNotReadable {
                reason, src: None, ..
            }) => errors.push(Report::new(TestError::UseFile {
                path: path.display().to_string(),
                reason,
                src: file.src.clone(),
                span: u.span,
            })),
            Err(e) => errors.push(Report::new(e)),
            Ok(()) => {}
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut segments = Vec::new();
    for a in &file.assertions {
        match program.parse_inline(INLINE, &a.segment) {
            Ok(parsed) => segments.push(parsed),
            Err(e) => errors.push(in_file(file, a, e)),
        }
    }
    if errors.is_empty() {
        Ok(Prepared { program, segments })
    } else {
        Err(errors)
    }
}

/// `p` with `.` and `..` taken out lexically (for the names diagnostics show).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// An error about an assertion's segment text pointed into the test file; errors about the
/// used files stay as they are.
fn in_file(file: &TestFile, a: &Assertion, e: CompileError) -> Report {
    let label = e.labels().and_then(|mut l| l.next());
    let inline = match (&label, e.source_code()) {
        (Some(l), Some(src)) => src
            .read_span(l.inner(), 0, 0)
            .ok()
            .and_then(|c| c.name().map(|n| n == INLINE))
            .unwrap_or(false),
        _ => false,
    };
    if !inline {
        return Report::new(e);
    }
    let (at, len, text) = match &label {
        Some(l) => (
            a.segment_at + l.offset(),
            l.len(),
            l.label().unwrap_or("here").to_string(),
        ),
        None => (a.segment_at, a.segment.len(), "here".to_string()),
    };
    let message = e.to_string();
    let help = e.help().map(|h| h.to_string());
    let code = e.code().map(|c| c.to_string()).unwrap_or_default();
    if code == "segql::resolve::unknown_name"
        && (message.starts_with("unknown segment") || message.starts_with("unknown campaign"))
    {
        let from = if file.uses.is_empty() {
            "this file has no `use` line: name the segment files with `use \"../segments/FILE.seg\"`"
        } else {
            "segments come from the files of the `use` lines"
        }
        .to_string();
        let help = match help {
            Some(h) if !h.is_empty() && !file.uses.is_empty() => h,
            Some(h) if !h.is_empty() => format!("{h}\n{from}"),
            _ => from,
        };
        return Report::new(TestError::UnknownSegment {
            message,
            help: Some(help),
            src: file.src.clone(),
            span: span(at, len),
        });
    }
    Report::new(TestError::Assertion {
        message,
        help,
        src: file.src.clone(),
        span: span(at, len),
        label: text,
    })
}

/// The data assertions run on: the project's, or a file's fixtures; an engine per date.
pub struct Data {
    project: Project,
    options: EngineOptions,
    engines: Vec<(Option<NaiveDate>, Engine)>,
    /// Where the fixtures are written, kept while they are read.
    _dir: Option<tempfile::TempDir>,
    /// The file whose fixtures these are, to point at when they cannot be read.
    fixtures: Option<(Src, SourceSpan)>,
}

impl Data {
    /// The project's own data.
    pub fn of_project(project: Project, options: EngineOptions) -> Data {
        Data {
            project,
            options,
            engines: Vec::new(),
            _dir: None,
            fixtures: None,
        }
    }

    /// The fixtures of `file` written as CSV into a temporary directory, and a copy of
    /// `project` whose tables are those files (tables the file does not give are absent; a
    /// file without transactions has none): every other setting is the project's.
    pub fn of_fixtures(
        file: &TestFile,
        project: &Project,
        options: EngineOptions,
    ) -> Result<Data, RuntimeError> {
        let dir = tempfile::tempdir().map_err(|e| RuntimeError::Io {
            path: std::env::temp_dir().display().to_string(),
            reason: e.to_string(),
        })?;
        let mut p = project.clone();
        let scale = p
            .file
            .transactions
            .as_ref()
            .and_then(|t| t.get_ref().amount_scale);
        let table = |name: &str| -> Result<Option<toml::Spanned<TableConfig>>, RuntimeError> {
            let given = file.fixtures.iter().find(|f| f.table == name);
            let csv = match (given, name) {
                (Some(f), _) => f.csv.clone(),
                (None, "transactions") => format!("{}\n", TX_REQUIRED.join(",")),
                (None, _) => return Ok(None),
            };
            let path = dir.path().join(format!("{name}.csv"));
            std::fs::write(&path, csv).map_err(|e| RuntimeError::Io {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            let mut t = TableConfig::at(&path.display().to_string());
            if name == "transactions" {
                t.amount_scale = scale;
            }
            Ok(Some(toml::Spanned::new(0..0, t)))
        };
        let (tx, cust, comm) = (
            table("transactions")?,
            table("customers")?,
            table("communications")?,
        );
        p.file.transactions = tx;
        p.file.customers = cust;
        p.file.communications = comm;
        let first = file
            .fixtures
            .iter()
            .find(|f| f.table == "transactions")
            .or(file.fixtures.first())
            .map_or_else(|| span(0, 0), |f| f.span);
        Ok(Data {
            project: p,
            options,
            engines: Vec::new(),
            fixtures: Some((file.src.clone(), first)),
            _dir: Some(dir),
        })
    }

    /// The engine as of `as_of` (`None`: the options' date, else the project's or the data's).
    async fn engine(&mut self, as_of: Option<NaiveDate>) -> Result<&mut Engine, Report> {
        let i = match self.engines.iter().position(|(d, _)| *d == as_of) {
            Some(i) => i,
            None => {
                let options = EngineOptions {
                    as_of: as_of.or(self.options.as_of),
                    ..self.options.clone()
                };
                let engine = match Engine::open(self.project.clone(), options, true).await {
                    Ok(e) => e,
                    Err(e) => return Err(self.data_error(e)),
                };
                self.engines.push((as_of, engine));
                self.engines.len() - 1
            }
        };
        Ok(&mut self.engines[i].1)
    }

    /// A runtime error, pointed at the fixtures when there are.
    fn data_error(&self, e: RuntimeError) -> Report {
        let Some((src, span)) = &self.fixtures else {
            return Report::new(e);
        };
        let dir = self
            ._dir
            .as_ref()
            .map(|d| format!("{}/", d.path().display()))
            .unwrap_or_default();
        let help = e.help().map(|h| h.to_string().replace(&dir, ""));
        let help = match (&e, help) {
            (RuntimeError::Compile(_), h) => h,
            (_, Some(h)) if h.contains("--as-of") => Some(
                "without purchases to take the date from, give the file a line `as of 2026-10-31`"
                    .into(),
            ),
            (_, h) => h,
        };
        Report::new(TestError::Data {
            message: e.to_string().replace(&dir, ""),
            help,
            src: src.clone(),
            span: *span,
        })
    }
}

/// What an assertion found.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// It holds.
    Passed,
    /// It does not.
    Failed(Failure),
}

/// Why an assertion failed.
#[derive(Debug, Clone)]
pub enum Failure {
    /// `"ID" in S` or `not in` with the customer on the wrong side.
    Membership {
        /// The customer.
        id: String,
        /// The segment, as written.
        segment: String,
        /// Whether the customer is a member.
        member: bool,
        /// The date.
        as_of: NaiveDate,
        /// The customer's values, or why there are none.
        why: Why,
    },
    /// A count out of its bounds.
    Count {
        /// The segment, as written.
        segment: String,
        /// The count found.
        count: u64,
        /// What was expected, e.g. `= 1` or `between 0 and 3`.
        expected: String,
        /// The date.
        as_of: NaiveDate,
    },
}

/// A customer's side of a failed membership.
#[derive(Debug, Clone)]
pub enum Why {
    /// The customer is in the base: each top-level condition with its value and the values
    /// it reads.
    Conditions {
        /// `and` or `or`.
        combine: Combine,
        /// Each condition.
        conditions: Vec<ConditionValue>,
        /// The whole condition's value (differs from membership only for a campaign's cap).
        whole: bool,
    },
    /// Not in the customer base as of the date; `anywhere`: the id occurs in the data at all
    /// (a purchase after the date, or a customers row signed up after it).
    NotInBase {
        /// The id occurs in some table.
        anywhere: bool,
    },
}

/// One top-level condition for one customer.
#[derive(Debug, Clone)]
pub struct ConditionValue {
    /// The condition, in canonical form.
    pub text: String,
    /// Its value.
    pub value: bool,
    /// The values it reads: column name and value (`missing` for none).
    pub values: Vec<(String, String)>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Count {
                segment,
                count,
                expected,
                as_of,
            } => write!(
                f,
                "count({segment}) is {count} as of {as_of}, expected {expected}"
            ),
            Failure::Membership {
                id,
                segment,
                member,
                as_of,
                why,
            } => {
                let is = if *member { "is" } else { "is not" };
                match why {
                    Why::NotInBase { anywhere } => {
                        write!(f, "{id:?} is not in the customer base as of {as_of}: ")?;
                        if *anywhere {
                            write!(
                                f,
                                "no purchase up to that date and no customers row signed up by then"
                            )
                        } else {
                            write!(f, "the id appears nowhere in the data")
                        }
                    }
                    Why::Conditions {
                        combine,
                        conditions,
                        whole,
                    } => {
                        write!(f, "{id:?} {is} in {segment} as of {as_of}")?;
                        if *whole && !*member {
                            write!(
                                f,
                                " (its condition holds: the campaign's limit leaves it out)"
                            )?;
                        }
                        let n = conditions.len();
                        let head = match (n, combine) {
                            (1, _) => "its condition:",
                            (_, Combine::And) => "its conditions (all must hold):",
                            (_, Combine::Or) => "its conditions (one must hold):",
                        };
                        write!(f, "; {head}")?;
                        for c in conditions {
                            write!(f, "\n  {}: {}", c.text, c.value)?;
                            if !c.values.is_empty() {
                                let vs: Vec<String> =
                                    c.values.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                                write!(f, " ({})", vs.join(", "))?;
                            }
                        }
                        Ok(())
                    }
                }
            }
        }
    }
}

/// The diagnostic of a failed assertion: the `expect` line, the detail as its help.
pub fn failed(file: &TestFile, a: &Assertion, failure: &Failure) -> TestError {
    TestError::Failed {
        assertion: a.text.clone(),
        detail: failure.to_string(),
        src: file.src.clone(),
        span: a.span,
    }
}

fn plan_err(e: datafusion::error::DataFusionError) -> Report {
    Report::new(CompileError::from(e))
}

/// The ids of a plan's first column as text, compared with `id`.
fn id_is(id: &str) -> DfExpr {
    datafusion::logical_expr::cast(ident("customer_id"), DataType::Utf8).eq(lit(id.to_string()))
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

/// Decides assertion `i` of `file` on `data`.
pub async fn evaluate(
    file: &TestFile,
    prepared: &Prepared,
    data: &mut Data,
    i: usize,
) -> Result<Outcome, Report> {
    let a = &file.assertions[i];
    let (expr, src) = &prepared.segments[i];
    let program = &prepared.program;
    let engine = data.engine(a.as_of).await?;
    let as_of = engine.catalog.as_of;
    let segment = resolve(engine, program, expr, *src)
        .await
        .map_err(|e| match e {
            Resolved::Compile(e) => in_file(file, a, e),
            Resolved::Other(r) => r,
        })?;
    let query = engine
        .compile(|c| lower_definition(c, &segment))
        .await?
        .map_err(plan_err)?;
    match &a.check {
        Check::Count { .. } | Check::Between { .. } => {
            let plan = query.count().map_err(plan_err)?;
            let batches = engine.collect(plan).await?;
            let count = batches
                .iter()
                .find(|b| b.num_rows() > 0)
                .and_then(|b| {
                    b.column(0)
                        .as_primitive_opt::<datafusion::arrow::datatypes::Int64Type>()
                        .map(|c| c.value(0))
                })
                .unwrap_or(0)
                .max(0) as u64;
            let (holds, expected) = match a.check {
                Check::Count { op, n } => (op.holds(count, n), format!("{} {n}", op.symbol())),
                Check::Between { low, high } => (
                    (low..=high).contains(&count),
                    format!("between {low} and {high}"),
                ),
                Check::In { .. } => unreachable!(),
            };
            Ok(if holds {
                Outcome::Passed
            } else {
                Outcome::Failed(Failure::Count {
                    segment: a.segment.clone(),
                    count,
                    expected,
                    as_of,
                })
            })
        }
        Check::In { id, negated } => {
            let plan = LogicalPlanBuilder::from(query.plan)
                .filter(id_is(id))
                .and_then(|b| b.build())
                .map_err(plan_err)?;
            let member = rows(&engine.collect(plan).await?) > 0;
            if member != *negated {
                return Ok(Outcome::Passed);
            }
            let why = why(engine, program, expr, *src, &segment, id).await?;
            Ok(Outcome::Failed(Failure::Membership {
                id: id.clone(),
                segment: a.segment.clone(),
                member,
                as_of,
                why,
            }))
        }
    }
}

enum Resolved {
    /// The assertion's text does not resolve (or a used file's segment does not).
    Compile(CompileError),
    Other(Report),
}

/// The name of a segment `expr` refers to, when it is a bare name of a defined segment.
fn named<'a>(program: &Program, expr: &'a Expr) -> Option<&'a str> {
    let mut e = expr;
    while let ExprKind::Group(inner) = &e.kind {
        e = inner;
    }
    match &e.kind {
        ExprKind::SegmentRef(id)
            if program
                .segment(&id.name)
                .is_some_and(|s| s.def.params.is_empty()) =>
        {
            Some(&id.name)
        }
        _ => None,
    }
}

/// The segment a definition that is only a reference to another one stands for (a campaign
/// of a segment: the segment), followed to a definition of its own conditions.
fn through_references<'a>(program: &'a Program, mut name: &'a str) -> &'a str {
    for _ in 0..segql_compiler::resolve::MAX_REFERENCE_DEPTH {
        let Some(entry) = program.segment(name) else {
            break;
        };
        let mut body = &entry.def.body;
        while let ExprKind::Group(inner) = &body.kind {
            body = inner;
        }
        match &body.kind {
            ExprKind::SegmentRef(id)
                if program
                    .segment(&id.name)
                    .is_some_and(|s| s.def.params.is_empty()) =>
            {
                name = &id.name
            }
            _ => break,
        }
    }
    name
}

/// The assertion's segment resolved: a named segment or campaign as defined (a campaign with
/// its cap), else the expression as an unnamed segment.
async fn resolve(
    engine: &mut Engine,
    program: &Program,
    expr: &Expr,
    src: usize,
) -> Result<Segment, Resolved> {
    let out = match named(program, expr) {
        Some(name) => engine
            .compile(|c| resolve_segment(program, c, name))
            .await
            .map_err(|e| Resolved::Other(Report::new(e)))?,
        None => engine
            .compile(|c| resolve_expr(program, c, expr, src))
            .await
            .map_err(|e| Resolved::Other(Report::new(e)))?
            .map(|pred| Segment {
                name: "expression".into(),
                description: None,
                pred,
                campaign: None,
            }),
    };
    out.map_err(Resolved::Compile)
}

/// Why a customer is (not) a member: the top-level conditions' values and what they read,
/// from the per-customer table of every customer in the base.
async fn why(
    engine: &mut Engine,
    program: &Program,
    expr: &Expr,
    src: usize,
    segment: &Segment,
    id: &str,
) -> Result<Why, Report> {
    let (combine, texts, preds) = match named(program, expr) {
        Some(name) => {
            let t = terms(engine, program, through_references(program, name)).await?;
            (t.combine, t.texts, t.preds)
        }
        None => {
            let t = terms_of(engine, program, expr, src).await?;
            (t.combine, t.texts, t.preds)
        }
    };
    let mut values: Vec<Value> = segment.pred.values();
    for p in &preds {
        for v in p.values() {
            if !values.contains(&v) {
                values.push(v);
            }
        }
    }
    let table = engine
        .compile(|c| PerCustomer::build(c, &values, true))
        .await?
        .map_err(plan_err)?;
    let mut cols = vec![
        ident("customer_id"),
        table.condition(&segment.pred).alias("__whole"),
    ];
    for (i, p) in preds.iter().enumerate() {
        cols.push(table.condition(p).alias(format!("__term{i}")));
    }
    let names: Vec<String> = values
        .iter()
        .filter_map(|v| table.column(v).map(str::to_string))
        .collect();
    cols.extend(names.iter().map(ident));
    let plan = LogicalPlanBuilder::from(table.plan.clone())
        .filter(id_is(id))
        .and_then(|b| b.project(cols))
        .and_then(|b| b.build())
        .map_err(plan_err)?;
    let batches = engine.collect(plan).await?;
    let Some(b) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Ok(Why::NotInBase {
            anywhere: appears(engine, id).await?,
        });
    };
    let truth = |c: usize| {
        let a = b.column(c).as_boolean();
        a.is_valid(0) && a.value(0)
    };
    let value_of = |name: &str| -> String {
        let Some(c) = b.column_by_name(name) else {
            return "missing".into();
        };
        if c.is_null(0) {
            return "missing".into();
        }
        let text = array_value_to_string(c, 0).unwrap_or_else(|_| "?".into());
        match c.data_type() {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => format!("{text:?}"),
            DataType::Dictionary(_, v) if v.is_string() => format!("{text:?}"),
            _ => text,
        }
    };
    let conditions = preds
        .iter()
        .zip(texts)
        .enumerate()
        .map(|(i, (p, text))| ConditionValue {
            text,
            value: truth(2 + i),
            values: p
                .values()
                .iter()
                .filter_map(|v| table.column(v))
                .map(|n| (n.to_string(), value_of(n)))
                .collect(),
        })
        .collect();
    Ok(Why::Conditions {
        combine,
        conditions,
        whole: truth(1),
    })
}

/// Whether `id` occurs in the transactions (any date) or the customers' rows.
async fn appears(engine: &mut Engine, id: &str) -> Result<bool, Report> {
    if engine.tables.unread.customers {
        engine
            .read(Wanted {
                customers: true,
                communications: false,
            })
            .await?;
    }
    let mut plans = vec![engine.tables.transactions.clone()];
    plans.extend(engine.tables.customer_rows.clone());
    for plan in plans {
        let plan = LogicalPlanBuilder::from(plan)
            .filter(id_is(id))
            .and_then(|b| b.limit(0, Some(1)))
            .and_then(|b| b.build())
            .map_err(plan_err)?;
        if rows(&engine.collect(plan).await?) > 0 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Every `.segtest` file under `dir` (hidden directories skipped), sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if e.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(p),
                Ok(t) if t.is_file() && p.extension().is_some_and(|x| x == EXTENSION) => {
                    out.push(p)
                }
                _ => {}
            }
        }
    }
    out.sort();
    out
}

/// A one-line summary of a run, like cargo's.
pub fn summary(passed: usize, failed: usize, errors: usize) -> String {
    let mut s = String::new();
    let ok = failed == 0 && errors == 0;
    let _ = write!(
        s,
        "test result: {}. {passed} passed; {failed} failed",
        if ok { "ok" } else { "FAILED" }
    );
    if errors > 0 {
        let _ = write!(s, "; {errors} error{}", if errors == 1 { "" } else { "s" });
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> TestFile {
        parse("t.segtest", Path::new("t.segtest"), text).unwrap_or_else(|e| {
            panic!(
                "{text}: {:?}",
                e.iter().map(|e| e.to_string()).collect::<Vec<_>>()
            )
        })
    }

    fn errors(text: &str) -> Vec<(String, String, usize, usize)> {
        parse("t.segtest", Path::new("t.segtest"), text)
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| {
                let label = e.labels().and_then(|mut l| l.next()).unwrap();
                (
                    e.code().unwrap().to_string(),
                    e.to_string(),
                    label.offset(),
                    label.len(),
                )
            })
            .collect()
    }

    #[test]
    fn a_file_parses_into_uses_fixtures_and_assertions() {
        let f = parsed(
            "# tests\nuse \"../segments/offers.seg\"   # the segments\nas of 2026-10-31\n\n\
             transactions:\ncustomer_id,ts,amount,category\nC1, 2026-10-20 ,12.50,\"Coffee, hot\" # a coffee\n\n\
             expect \"C1\" in coffee_newcomers\n\
             expect \"C2\" not in coffee_newcomers as of 2026-11-15\n\
             expect count(bought_lately(\"Coffee\", 30d)) >= 1\n\
             expect count(winback) between 0 and 3   # capped\n",
        );
        assert_eq!(f.uses[0].path, "../segments/offers.seg");
        assert_eq!(
            f.fixtures[0].csv,
            "customer_id,ts,amount,category\nC1,2026-10-20,12.50,\"Coffee, hot\"\n"
        );
        let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
        let got: Vec<_> = f
            .assertions
            .iter()
            .map(|a| (a.line, a.check.clone(), a.segment.as_str(), a.as_of))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    9,
                    Check::In {
                        id: "C1".into(),
                        negated: false
                    },
                    "coffee_newcomers",
                    d("2026-10-31")
                ),
                (
                    10,
                    Check::In {
                        id: "C2".into(),
                        negated: true
                    },
                    "coffee_newcomers",
                    d("2026-11-15")
                ),
                (
                    11,
                    Check::Count { op: Op::Ge, n: 1 },
                    "bought_lately(\"Coffee\", 30d)",
                    d("2026-10-31")
                ),
                (
                    12,
                    Check::Between { low: 0, high: 3 },
                    "winback",
                    d("2026-10-31")
                ),
            ]
        );
        let text = f.src.inner();
        let a = &f.assertions[2];
        assert_eq!(
            &text[a.segment_at..a.segment_at + a.segment.len()],
            a.segment
        );
        assert_eq!(a.text, "count(bought_lately(\"Coffee\", 30d)) >= 1");
    }

    #[test]
    fn mistakes_point_at_their_text() {
        let e = errors("expects \"C1\" in x\n");
        assert_eq!(e[0].0, "segql::test::syntax");
        assert_eq!((e[0].2, e[0].3), (0, 7));
        let e = errors("as of 2026-02-30\n");
        assert_eq!(e[0].0, "segql::test::bad_date");
        assert_eq!((e[0].2, e[0].3), (6, 10));
        let e = errors("transactions:\ncustomer_id,ts,amount\nC1,2026-10-01\n");
        assert_eq!(e[0].0, "segql::test::bad_csv");
        assert_eq!((e[0].2, e[0].3), (36, 13));
        let e = errors("expect count(x) => 3\n");
        assert_eq!(e[0].0, "segql::test::assertion");
        let e = errors("expect C1 in x\n");
        assert!(e[0].1.contains("`C1`"), "{e:?}");
        let e =
            errors("transactions:\ncustomer_id,ts,amount\nC1,2026-10-01,12\nexpect count(x) = 1\n");
        assert_eq!(e[0].0, "segql::test::bad_csv");
    }
}
