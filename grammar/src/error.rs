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
        None
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

/// Orders rules in messages: conditions and values first, connectives last.
fn rule_rank(r: GrammarRule) -> u8 {
    match r {
        GrammarRule::EOI => 9,
        GrammarRule::kw_and | GrammarRule::kw_or => 8,
        GrammarRule::rparen | GrammarRule::comma => 7,
        GrammarRule::window | GrammarRule::kw_within => 5,
        _ => 1,
    }
}
