//! Parse errors as miette diagnostics.

use crate::ast::Span;
use crate::parser::{GrammarRule, describe_rule};
use miette::{Diagnostic, NamedSource};
use std::sync::Arc;
use thiserror::Error;

/// An error found while parsing segment text.
#[derive(Debug, Error, Diagnostic)]
pub enum ParseError {
    /// The text does not follow the grammar.
    #[error("syntax error: expected {expected}, found {found}")]
    #[diagnostic(code(segql::parse::syntax))]
    Syntax {
        /// Plain-words list of what could come here.
        expected: String,
        /// What was found instead.
        found: String,
        /// The source text.
        #[source_code]
        src: NamedSource<Arc<str>>,
        /// Where.
        #[label("{label}")]
        span: Span,
        /// The label's text.
        label: String,
        /// Extra advice.
        #[help]
        help: Option<String>,
    },
    /// Parentheses or `not`s nest too deeply.
    #[error("the expression nests too deeply")]
    #[diagnostic(
        code(segql::parse::too_deep),
        help("at most {max} levels of parentheses or `not` are allowed; split the condition into named segments", max = crate::MAX_NESTING)
    )]
    TooDeep {
        /// The source text.
        #[source_code]
        src: NamedSource<Arc<str>>,
        /// Where the limit was passed.
        #[label("too deep here")]
        span: Span,
    },
    /// A literal that matches the grammar but has no valid value.
    #[error("invalid value: {reason}")]
    #[diagnostic(code(segql::parse::bad_literal))]
    BadLiteral {
        /// What is wrong.
        reason: String,
        /// The source text.
        #[source_code]
        src: NamedSource<Arc<str>>,
        /// Where.
        #[label("{reason}")]
        span: Span,
    },
}

fn source(name: &str, text: &str) -> NamedSource<Arc<str>> {
    NamedSource::new(name, Arc::from(text))
}

impl ParseError {
    pub(crate) fn too_deep(name: &str, text: &str, span: Span) -> Self {
        ParseError::TooDeep {
            src: source(name, text),
            span,
        }
    }

    pub(crate) fn bad_literal(name: &str, text: &str, span: Span, reason: &str) -> Self {
        ParseError::BadLiteral {
            reason: reason.to_string(),
            src: source(name, text),
            span,
        }
    }

    /// A syntax error at `span`: something other than `expected` stands there (a word the
    /// grammar takes only as a parameter of the segment).
    pub(crate) fn expected_at(name: &str, text: &str, span: Span, expected: &str) -> Self {
        let (found, _) = found_at(text, span.start);
        ParseError::Syntax {
            expected: expected.to_string(),
            found,
            src: source(name, text),
            span,
            label: "unexpected here".to_string(),
            help: mistake_help(text, span.start),
        }
    }

    /// The span the error points at.
    pub fn span(&self) -> Span {
        match self {
            ParseError::Syntax { span, .. }
            | ParseError::TooDeep { span, .. }
            | ParseError::BadLiteral { span, .. } => *span,
        }
    }
}

/// Describes the token at `pos` for "found ..." messages.
fn found_at(text: &str, pos: usize) -> (String, Span) {
    let rest = &text[pos..];
    let Some(first) = rest.chars().next() else {
        return ("the end of the input".to_string(), Span::new(pos, pos));
    };
    let len = if first.is_alphanumeric() || first == '_' {
        rest.find(|c: char| {
            !(c.is_alphanumeric() || c == '_' || c == '-' && first.is_ascii_digit())
        })
        .unwrap_or(rest.len())
    } else if first == '"' {
        rest[1..]
            .find(['"', '\n'])
            .map(|i| i + 2)
            .unwrap_or(rest.len())
    } else {
        first.len_utf8()
    };
    let tok = &rest[..len];
    let shown: String = tok.chars().take(40).collect();
    (format!("`{shown}`"), Span::new(pos, pos + len))
}

fn join_words(mut items: Vec<&'static str>) -> String {
    let mut seen = std::collections::HashSet::new();
    items.retain(|i| seen.insert(*i));
    match items.len() {
        0 => "something else".to_string(),
        1 => items[0].to_string(),
        n => format!("{} or {}", items[..n - 1].join(", "), items[n - 1]),
    }
}

pub(crate) fn syntax_error(
    name: &str,
    text: &str,
    e: pest::error::Error<GrammarRule>,
) -> ParseError {
    let pos = match e.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    };
    let (positives, negatives) = match &e.variant {
        pest::error::ErrorVariant::ParsingError {
            positives,
            negatives,
        } => (positives.clone(), negatives.clone()),
        pest::error::ErrorVariant::CustomError { .. } => (vec![], vec![]),
    };
    let mut rules: Vec<GrammarRule> = positives;
    // A keyword where a name was expected shows up as a negative `keyword`.
    let keyword_clash = negatives.contains(&GrammarRule::keyword);
    rules.sort_by_key(|r| rule_rank(*r));
    let literals = [
        GrammarRule::date,
        GrammarRule::duration,
        GrammarRule::number,
        GrammarRule::string,
        GrammarRule::boolean,
        GrammarRule::word,
    ];
    // A word after `within` is a segment's parameter; a user is told of the duration.
    if rules.contains(&GrammarRule::duration) {
        rules.retain(|r| *r != GrammarRule::word);
    }
    let mut words: Vec<&'static str> = Vec::new();
    if rules.iter().filter(|r| literals.contains(r)).count() >= 3 {
        words.push("a value such as 30d, 1000, \"Kyiv\" or 2024-06-30");
        rules.retain(|r| !literals.contains(r));
    }
    words.extend(rules.iter().map(|r| describe_rule(*r)));
    let expected = join_words(words);
    let (found, tok_span) = found_at(text, pos);
    let help = if keyword_clash {
        Some(format!(
            "{found} is a reserved word of the language and cannot be used as a name"
        ))
    } else if text[pos..].starts_with('"') && !text[pos + 1..].contains('"') {
        Some("this text has no closing double quote".to_string())
    } else if text[pos..].starts_with('\'') {
        Some("text values are written in double quotes, like \"Coffee\"".to_string())
    } else if text[pos..].starts_with('=') && text[..pos].ends_with('=') {
        Some("equality is written with a single `=`".to_string())
    } else {
        mistake_help(text, pos)
    };
    // At the end of the input there is nothing to underline: point at what came last.
    let (span, label) = if tok_span.is_empty() {
        let trimmed = text.trim_end();
        let last = trimmed.char_indices().last().map_or(0, |(i, _)| i);
        (
            Span::new(last, trimmed.len()),
            format!("expected {expected} after this"),
        )
    } else {
        (tok_span, "unexpected here".to_string())
    };
    ParseError::Syntax {
        expected,
        found,
        src: source(name, text),
        span,
        label,
        help,
    }
}

/// Help for mistakes people who write spreadsheets and SQL make, recognised from the text
/// around the error; every suggestion is code that compiles.
fn mistake_help(text: &str, pos: usize) -> Option<String> {
    let rest = &text[pos..];
    let before = text[..pos].trim_end();
    let word: String = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    // The number or date written just before the error (ASCII only, so slicing is safe).
    let prev: &str = {
        let tail = before
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == '-')
            .count();
        &before[before.len() - tail..]
    };
    // The last whole word before the error.
    let last_word = before
        .rsplit(|c: char| !(c.is_alphanumeric() || c == '_'))
        .next()
        .unwrap_or("");
    let words_before: Vec<&str> = before
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    // `1,000` or `1,000.50`: thousands separators; `1,5`: a decimal comma.
    if rest.starts_with(',')
        && !prev.is_empty()
        && prev.chars().all(|c| c.is_ascii_digit())
        && rest[1..].starts_with(|c: char| c.is_ascii_digit())
    {
        let number: String = rest[1..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == ',' || *c == '.')
            .collect();
        let (groups, decimals) = match number.split_once('.') {
            Some((g, d)) => (g.to_string(), Some(d.to_string())),
            None => (number.clone(), None),
        };
        let thousands = groups.split(',').all(|g| g.len() == 3);
        return Some(if thousands {
            let whole = format!("{prev}{}", groups.replace(',', ""));
            match decimals.filter(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit())) {
                Some(d) => format!("write numbers without thousands separators: `{whole}.{d}`"),
                None => format!("write numbers without thousands separators: `{whole}`"),
            }
        } else {
            format!(
                "write decimals with a point: `{prev}.{}`",
                groups.replace(',', "")
            )
        });
    }
    // `01/06/2026`: dates are written year first.
    if rest.starts_with('/') && !prev.is_empty() && prev.len() <= 2 {
        let start = before.len() - prev.len();
        let written: String = text[start..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '/')
            .collect();
        let parts: Vec<&str> = written.split('/').collect();
        if let [a, b, y] = parts[..]
            && y.len() == 4
            && let (Ok(a), Ok(b), Ok(y)) = (a.parse::<u32>(), b.parse::<u32>(), y.parse::<i32>())
        {
            let date = |m: u32, d: u32| {
                chrono::NaiveDate::from_ymd_opt(y, m, d).map(|x| x.format("%Y-%m-%d").to_string())
            };
            return Some(match (date(b, a), date(a, b)) {
                (Some(d), Some(m)) if d != m => {
                    format!("write dates year first: `{d}` (day first) or `{m}` (month first)")
                }
                (Some(d), _) | (None, Some(d)) => format!("write dates year first: `{d}`"),
                (None, None) => "write dates year first, like `2026-06-01`".into(),
            });
        }
        return Some("write dates year first, like `2026-06-01`".into());
    }
    // `AND`, `Or`: keywords are lowercase.
    let lower = word.to_lowercase();
    if !word.is_empty()
        && word != lower
        && [
            "and", "or", "not", "within", "bought", "spend", "on", "in", "between", "at",
        ]
        .contains(&lower.as_str())
    {
        return Some(format!("keywords are written in lowercase: `{lower}`"));
    }
    // `lifecycle = at risk`: stages are one word.
    if last_word == "at" && word == "risk" {
        return Some("the stage is written with an underscore: `lifecycle = at_risk`".into());
    }
    // `bought category Coffee`, `spend on Coffee`: text values are quoted.
    let dimensions = ["category", "product", "partner", "store"];
    if !word.is_empty() && word.chars().next().is_some_and(char::is_alphabetic) {
        let n = words_before.len();
        let spent =
            |i: usize| i >= 2 && words_before[i - 2] == "spend" && words_before[i - 1] == "on";
        let lead = if dimensions.contains(&last_word) && n >= 2 && spent(n - 1) {
            Some(format!("spend on {last_word}"))
        } else if dimensions.contains(&last_word) && n >= 2 && words_before[n - 2] == "bought" {
            Some(format!("bought {last_word}"))
        } else if last_word == "bought" {
            Some("bought category".to_string())
        } else if last_word == "on" && spent(n) {
            Some("spend on category".to_string())
        } else {
            None
        };
        if let Some(lead) = lead {
            let tail = if lead.starts_with("spend") {
                " > 100"
            } else {
                ""
            };
            return Some(format!(
                "put text values in double quotes: `{lead} \"{word}\"{tail}`"
            ));
        }
    }
    // `spend > 1000`: spend needs what it was spent on.
    if last_word == "spend" {
        return Some(
            "`spend` needs what was bought: `spend on category \"Coffee\" > 1000`; all spending is `monetary > 1000`"
                .into(),
        );
    }
    None
}

/// Orders rules in messages: conditions and values first, connectives last.
fn rule_rank(r: GrammarRule) -> u8 {
    match r {
        GrammarRule::EOI => 9,
        GrammarRule::kw_and | GrammarRule::kw_or => 8,
        GrammarRule::rparen | GrammarRule::comma => 7,
        GrammarRule::window
        | GrammarRule::kw_within
        | GrammarRule::since_first
        | GrammarRule::kw_of => 5,
        _ => 1,
    }
}
