//! The lexer: segment text as tokens with byte spans, for what needs the words and brackets
//! of a text without parsing it (the parser's nesting check, the REPL's continuation,
//! highlighting and completion). It never fails: any text is a sequence of tokens.
//!
//! Strings never span lines, as in `segql.pest`: a string ends at its closing quote, else at
//! the end of its line ([`Closing::LineEnd`], an error for the parser), else at the end of
//! the input ([`Closing::EndOfInput`], still being typed).

use crate::ast::Span;

/// The reserved words: never names (the `keyword` rule of `segql.pest`).
pub const KEYWORDS: [&str; 21] = [
    "and",
    "or",
    "not",
    "in",
    "between",
    "within",
    "bought",
    "spend",
    "on",
    "segment",
    "import",
    "true",
    "false",
    "contacted",
    "contacts",
    "redeemed",
    "campaign",
    "holdout",
    "limit",
    "top",
    "percentile",
];

/// Words with a meaning in some places that remain usable as names (the other `kw_` rules of
/// `segql.pest`).
pub const CONTEXT_WORDS: [&str; 27] = [
    "of",
    "first_purchase",
    "at",
    "by",
    "anniversary",
    "asc",
    "desc",
    "least",
    "times",
    "time",
    "category",
    "product",
    "partner",
    "store",
    "respond",
    "treated",
    "held_out",
    "responded",
    "text",
    "number",
    "duration",
    "date",
    "list",
    "cluster",
    "score",
    "uplift",
    "lookalike",
];

/// True for a reserved word.
pub fn is_keyword(word: &str) -> bool {
    KEYWORDS.contains(&word)
}

/// How a string literal ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closing {
    /// At its closing quote: a complete string.
    Quote,
    /// At the end of its line, unclosed: strings do not continue on the next line.
    LineEnd,
    /// At the end of the input, unclosed: the rest may still come.
    EndOfInput,
}

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A name or a context word: letters, digits and `_`, not starting with a digit.
    Word,
    /// A reserved word ([`KEYWORDS`]).
    Keyword,
    /// A string literal, quotes included.
    String(Closing),
    /// A number (`3`, `12.5`), or any run of letters, digits, `_`, `.` and `-` that starts with
    /// a digit and is neither a date nor a duration.
    Number,
    /// A date: `2024-06-30`.
    Date,
    /// A duration: digits and a unit, `30d`, `4w`, `6m`, `1y`.
    Duration,
    /// A comparison: `=`, `!=`, `<`, `<=`, `>`, `>=`.
    Operator,
    /// `,`.
    Comma,
    /// `(`.
    LParen,
    /// `)`.
    RParen,
    /// A comment: `#` to the end of the line (the line break not included).
    Comment,
    /// Any other character (`%`, `-`, `:`, ...).
    Other,
}

/// A token and where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// What it is.
    pub kind: TokenKind,
    /// Its bytes in the text.
    pub span: Span,
}

impl Token {
    /// The token's text in `source`, the text it was read from.
    pub fn text<'a>(&self, source: &'a str) -> &'a str {
        &source[self.span.start..self.span.end]
    }
}

/// The tokens of `text`, white space left out.
pub fn tokens(text: &str) -> Tokens<'_> {
    Tokens { text, pos: 0 }
}

/// The iterator of [`tokens`].
#[derive(Debug, Clone)]
pub struct Tokens<'a> {
    text: &'a str,
    pos: usize,
}

impl Tokens<'_> {
    /// The byte index after the characters from `from` on that satisfy `keep`.
    fn run(&self, from: usize, keep: impl Fn(char) -> bool) -> usize {
        self.text[from..]
            .char_indices()
            .find(|(_, c)| !keep(*c))
            .map_or(self.text.len(), |(i, _)| from + i)
    }

    /// The end of the string starting with the quote at `start`, and how it ends.
    fn string(&self, start: usize) -> (usize, Closing) {
        let mut escaped = false;
        for (i, c) in self.text[start + 1..].char_indices() {
            let at = start + 1 + i;
            match c {
                '\n' => return (at, Closing::LineEnd),
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => return (at + 1, Closing::Quote),
                _ => {}
            }
        }
        (self.text.len(), Closing::EndOfInput)
    }
}

impl Iterator for Tokens<'_> {
    type Item = Token;

    fn next(&mut self) -> Option<Token> {
        let start = self.run(self.pos, char::is_whitespace);
        let c = self.text[start..].chars().next()?;
        let next = start + c.len_utf8();
        let (kind, end) = match c {
            '"' => {
                let (end, closing) = self.string(start);
                (TokenKind::String(closing), end)
            }
            '#' => (TokenKind::Comment, self.run(start, |c| c != '\n')),
            '(' => (TokenKind::LParen, next),
            ')' => (TokenKind::RParen, next),
            ',' => (TokenKind::Comma, next),
            '<' | '>' | '!' | '=' => {
                let two = matches!(c, '<' | '>' | '!') && self.text[next..].starts_with('=');
                match (c, two) {
                    (_, true) => (TokenKind::Operator, next + 1),
                    ('!', false) => (TokenKind::Other, next),
                    _ => (TokenKind::Operator, next),
                }
            }
            c if c.is_ascii_digit() => {
                let end = self.run(next, |d| {
                    d.is_alphanumeric() || matches!(d, '_' | '-' | '.')
                });
                (number_kind(&self.text[start..end]), end)
            }
            c if c.is_alphanumeric() || c == '_' => {
                let end = self.run(next, |d| d.is_alphanumeric() || d == '_');
                let kind = if is_keyword(&self.text[start..end]) {
                    TokenKind::Keyword
                } else {
                    TokenKind::Word
                };
                (kind, end)
            }
            _ => (TokenKind::Other, next),
        };
        self.pos = end;
        Some(Token {
            kind,
            span: Span::new(start, end),
        })
    }
}

/// A run starting with a digit: a date, a duration or (any other) a number.
fn number_kind(s: &str) -> TokenKind {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && digits(0..4)
        && digits(5..7)
        && digits(8..10)
    {
        return TokenKind::Date;
    }
    match b.split_last() {
        Some((unit, n)) if b"dwmy".contains(unit) && n.iter().all(u8::is_ascii_digit) => {
            TokenKind::Duration
        }
        _ => TokenKind::Number,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(TokenKind, &str)> {
        tokens(text).map(|t| (t.kind, t.text(text))).collect()
    }

    /// The quoted words of `block`.
    fn quoted(block: &str) -> Vec<&str> {
        block.split('"').skip(1).step_by(2).collect()
    }

    #[test]
    fn keywords_are_the_reserved_words_of_the_grammar() {
        let pest = include_str!("segql.pest");
        let block = pest
            .split("keyword = @{")
            .nth(1)
            .and_then(|rest| rest.split('}').next())
            .expect("segql.pest has a keyword rule");
        let mut reserved = quoted(block);
        reserved.sort_unstable();
        let mut ours = KEYWORDS.to_vec();
        ours.sort_unstable();
        assert_eq!(ours, reserved);
    }

    #[test]
    fn context_words_are_the_other_keyword_rules_of_the_grammar() {
        let pest = include_str!("segql.pest");
        let mut rules: Vec<&str> = pest
            .lines()
            .filter(|l| l.starts_with("kw_"))
            .flat_map(|l| quoted(l).into_iter().take(1))
            .filter(|w| !is_keyword(w))
            .collect();
        rules.sort_unstable();
        let mut ours = CONTEXT_WORDS.to_vec();
        ours.sort_unstable();
        assert_eq!(ours, rules);
    }

    #[test]
    fn tokens_with_their_kinds() {
        use TokenKind::*;
        assert_eq!(
            kinds("recency<=30d and city != \"Kyiv\" # ok\n(top 10% by x.y, 2024-06-30, -1.5)"),
            vec![
                (Word, "recency"),
                (Operator, "<="),
                (Duration, "30d"),
                (Keyword, "and"),
                (Word, "city"),
                (Operator, "!="),
                (String(Closing::Quote), "\"Kyiv\""),
                (Comment, "# ok"),
                (LParen, "("),
                (Keyword, "top"),
                (Number, "10"),
                (Other, "%"),
                (Word, "by"),
                (Word, "x"),
                (Other, "."),
                (Word, "y"),
                (Comma, ","),
                (Date, "2024-06-30"),
                (Comma, ","),
                (Other, "-"),
                (Number, "1.5"),
                (RParen, ")"),
            ]
        );
        // Keywords are whole words; escapes stay inside strings.
        assert_eq!(
            kinds(r#"android "a\"b" "#),
            vec![(Word, "android"), (String(Closing::Quote), r#""a\"b""#)]
        );
    }

    #[test]
    fn a_string_ends_at_the_line_end() {
        use TokenKind::*;
        // Cut by the line end (an escaped line end too): what follows is code again.
        assert_eq!(
            kinds("city = \"Ky\n(x)"),
            vec![
                (Word, "city"),
                (Operator, "="),
                (String(Closing::LineEnd), "\"Ky"),
                (LParen, "("),
                (Word, "x"),
                (RParen, ")"),
            ]
        );
        assert_eq!(
            kinds("\"a\\\n)"),
            vec![(String(Closing::LineEnd), "\"a\\"), (RParen, ")")]
        );
        // Open at the end of the input.
        assert_eq!(
            kinds("city = \"Ky"),
            vec![
                (Word, "city"),
                (Operator, "="),
                (String(Closing::EndOfInput), "\"Ky")
            ]
        );
        // The parser agrees: the string is unterminated, and the parentheses after it count
        // towards the nesting limit.
        assert!(crate::parse_expr("t", "city = \"Ky\niv\"").is_err());
        let deep = format!("city = \"x\n{}", "(".repeat(crate::MAX_NESTING + 1));
        let e = crate::parse_expr("t", &deep).unwrap_err();
        assert!(matches!(e, crate::ParseError::TooDeep { .. }), "{e:?}");
    }

    proptest::proptest! {
        /// Tokens come in order, never overlap, start and end at character boundaries, and
        /// leave out white space only.
        #[test]
        fn any_text_is_tokens_and_white_space(text in "\\PC{0,120}|[ \"#()<>=!,a-z0-9.\\\\\n-]{0,60}") {
            let mut at = 0;
            for t in tokens(&text) {
                proptest::prop_assert!(at <= t.span.start && t.span.start < t.span.end);
                proptest::prop_assert!(text[at..t.span.start].chars().all(char::is_whitespace));
                proptest::prop_assert!(!t.text(&text).is_empty());
                at = t.span.end;
            }
            proptest::prop_assert!(text[at..].chars().all(char::is_whitespace));
        }
    }
}
