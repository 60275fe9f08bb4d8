//! The syntax tree of segment files and expressions. Every node carries the byte span of the
//! text it came from, so later stages can point at the exact spot of a mistake.

use std::fmt;

/// A byte range `[start, end)` in the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// A span from `start` to `end`.
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }
    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.end - self.start
    }
    /// True for a zero-length span.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

impl From<Span> for miette::SourceSpan {
    fn from(s: Span) -> Self {
        (s.start, s.len()).into()
    }
}

/// A name with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    /// The name as written.
    pub name: String,
    /// Where it was written.
    pub span: Span,
}

/// A whole `.seg` file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct File {
    /// Imports and segment definitions in source order.
    pub items: Vec<Item>,
}

/// One top-level item of a file.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // a file holds few items
pub enum Item {
    /// `import "other.seg"`
    Import(Import),
    /// `segment NAME ["description"] = EXPR`
    Segment(SegmentDef),
}

/// `import "path"`: a path relative to the importing file.
#[derive(Debug, Clone, PartialEq)]
pub struct Import {
    /// The path as written (unescaped).
    pub path: String,
    /// The span of the string literal.
    pub path_span: Span,
    /// The span of the whole import.
    pub span: Span,
}

/// `segment NAME ["description"] = EXPR`
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentDef {
    /// The segment's name.
    pub name: Ident,
    /// `(cat: text, days)`: the parameters of a segment called with arguments.
    pub params: Vec<Param>,
    /// Optional human description.
    pub description: Option<String>,
    /// The defining expression.
    pub body: Expr,
    /// For `campaign NAME = ...`: the holdout and the cap.
    pub campaign: Option<Campaign>,
    /// The span of the whole definition.
    pub span: Span,
}

/// A parameter of a segment: `cat`, `days: duration`.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// The name, used in the body where a value or a duration stands.
    pub name: Ident,
    /// The declared type, with its span; inferred from the uses when absent.
    pub ty: Option<(ParamType, Span)>,
}

/// The type of a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamType {
    /// `text`: a quoted value.
    Text,
    /// `number`.
    Number,
    /// `duration`: `30d`.
    Duration,
    /// `date`: `2026-10-31`.
    Date,
    /// `list`: values in parentheses, `("Coffee", "Tea")`.
    List,
}

impl ParamType {
    /// The word as written.
    pub fn word(&self) -> &'static str {
        match self {
            ParamType::Text => "text",
            ParamType::Number => "number",
            ParamType::Duration => "duration",
            ParamType::Date => "date",
            ParamType::List => "list",
        }
    }
}

/// An argument of a call: one value, or a list in parentheses.
#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    /// The value, or the list's values.
    pub values: Vec<Literal>,
    /// Written as a list in parentheses.
    pub list: bool,
    /// Where it was written.
    pub span: Span,
}

/// What makes a campaign more than a segment.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Campaign {
    /// `holdout 10%`: the percentage as written (without `%`) and its span.
    pub holdout: Option<(String, Span)>,
    /// `limit N [by OPERAND [asc|desc]]`.
    pub limit: Option<Limit>,
    /// `respond within W` / `respond CONDITION`: what counts as a response.
    pub respond: Option<Respond>,
}

/// `respond within W` (any purchase) or `respond CONDITION` (a purchase condition whose
/// window is the response window).
#[derive(Debug, Clone, PartialEq)]
pub struct Respond {
    /// The condition; `None` for `respond within W`.
    pub condition: Option<Expr>,
    /// The window of `respond within W`.
    pub window: Option<Window>,
    /// The clause's span.
    pub span: Span,
}

/// Which part of a campaign's frozen audience a condition asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CampaignRole {
    /// `treated(...)`: in the test group.
    Treated,
    /// `held_out(...)`: in the control group.
    HeldOut,
    /// `responded(...)`: in the audience (either group) and responded.
    Responded,
}

impl CampaignRole {
    /// The word as written.
    pub fn word(&self) -> &'static str {
        match self {
            CampaignRole::Treated => "treated",
            CampaignRole::HeldOut => "held_out",
            CampaignRole::Responded => "responded",
        }
    }
}

/// `limit N [by OPERAND [asc|desc]]`
#[derive(Debug, Clone, PartialEq)]
pub struct Limit {
    /// How many members at most.
    pub count: u64,
    /// The value members are ranked by (customer id when absent).
    pub by: Option<Operand>,
    /// Largest first (the default with `by`).
    pub descending: bool,
    /// The clause's span.
    pub span: Span,
}

impl SegmentDef {
    /// The segment's name.
    pub fn def_name(&self) -> String {
        self.name.name.clone()
    }
}

/// A boolean expression over customers.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What kind of expression.
    pub kind: ExprKind,
    /// Where it was written.
    pub span: Span,
}

impl Expr {
    /// The names of the segments the expression refers to, in order of appearance.
    pub fn segment_refs(&self) -> Vec<&str> {
        match &self.kind {
            ExprKind::And(v) | ExprKind::Or(v) => v.iter().flat_map(Expr::segment_refs).collect(),
            ExprKind::Not(x) | ExprKind::Group(x) => x.segment_refs(),
            ExprKind::SegmentRef(id)
            | ExprKind::Call { name: id, .. }
            | ExprKind::Lookalike { segment: id, .. } => vec![id.name.as_str()],
            _ => Vec::new(),
        }
    }
}

/// The kinds of expression.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// All of the operands (two or more).
    And(Vec<Expr>),
    /// Any of the operands (two or more).
    Or(Vec<Expr>),
    /// The negation of the operand.
    Not(Box<Expr>),
    /// A parenthesised expression, kept for faithful printing.
    Group(Box<Expr>),
    /// `operand op literal`
    Compare {
        /// Left side.
        lhs: Operand,
        /// Operator.
        op: CmpOp,
        /// Right side.
        rhs: Literal,
    },
    /// `operand [not] in (a, b, ...)`
    In {
        /// Left side.
        lhs: Operand,
        /// `not in`
        negated: bool,
        /// The list.
        list: Vec<Literal>,
        /// `in NAME`: the list is one parameter of the segment standing for a whole list
        /// (`in (NAME)` is a list of one value).
        list_param: bool,
    },
    /// `operand [not] between low and high` (both bounds inclusive)
    Between {
        /// Left side.
        lhs: Operand,
        /// `not between`
        negated: bool,
        /// Lower bound.
        low: Literal,
        /// Upper bound.
        high: Literal,
    },
    /// `bought [dimension] values [at least N times] [within W]`
    Bought {
        /// Which column the values are matched against (`product` when omitted).
        dimension: Option<Dimension>,
        /// One or more values.
        values: Vec<Literal>,
        /// `at least N times`
        at_least: Option<(u64, Span)>,
        /// `within W`
        window: Option<Window>,
    },
    /// A reference to another segment by name.
    SegmentRef(Ident),
    /// `bought_lately("Coffee", 30d)`: a segment with parameters, called with arguments.
    Call {
        /// The segment.
        name: Ident,
        /// The arguments, in order.
        args: Vec<Arg>,
    },
    /// `birthday within 7d` / `ATTRIBUTE anniversary within 7d`: the month and day of a date
    /// attribute come within the window.
    Upcoming {
        /// The date attribute as written (`signup` stands for `signup_date`).
        attribute: Ident,
        /// `anniversary` was written.
        anniversary: bool,
        /// The window.
        window: Window,
    },
    /// `top 20% by VALUE` / `top 100 by VALUE`: the customers with the largest values.
    Top {
        /// How many: a count, or a percentage as written (without `%`).
        count: TopCount,
        /// The ranked value.
        by: Operand,
    },
    /// `lookalike(SEGMENT, 5000)` / `lookalike(SEGMENT, 10%)`: the customers outside the
    /// segment most like its members on the customer features.
    Lookalike {
        /// The segment whose members are the seeds.
        segment: Ident,
        /// How many: a count, or a percentage of the candidates as written (without `%`).
        count: TopCount,
    },
    /// `redeemed [within W]`: points were redeemed.
    Redeemed {
        /// `within W`
        window: Option<Window>,
    },
    /// `treated(CAMPAIGN [, DATE]) [within W]`, `held_out(...)`, `responded(...)`:
    /// membership of a campaign's snapshots.
    CampaignCond {
        /// Which part of the audience.
        role: CampaignRole,
        /// The campaign's name.
        campaign: Ident,
        /// One snapshot, by its date.
        date: Option<Literal>,
        /// Snapshots taken in the window up to the as-of date.
        window: Option<Window>,
    },
    /// `contacted([CHANNEL,] WINDOW)`: a message sent in the window.
    Contacted {
        /// The channel (any when absent).
        channel: Option<String>,
        /// The window.
        window: Duration,
    },
}

/// The left side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Operand {
    /// What is compared.
    pub kind: OperandKind,
    /// Where it was written.
    pub span: Span,
}

/// Kinds of operand.
#[derive(Debug, Clone, PartialEq)]
pub enum OperandKind {
    /// A metric or a customer attribute, with an optional partner scope and window.
    Name {
        /// The name.
        name: Ident,
        /// `at "PARTNER"` or `at ("A", "B")`, with the clause's span.
        scope: Option<(Vec<Literal>, Span)>,
        /// `within W`
        window: Option<Window>,
        /// `percentile`: the value's percentile among active customers instead of the value.
        percentile: bool,
    },
    /// `contacts [by CHANNEL] [within W]`: messages sent.
    Contacts {
        /// The channel (any when absent).
        channel: Option<String>,
        /// `within W`
        window: Option<Window>,
    },
    /// `spend on DIMENSION values [within W]`
    Spend {
        /// The column the values are matched against.
        dimension: Dimension,
        /// One or more values.
        values: Vec<Literal>,
        /// `within W`
        window: Option<Window>,
    },
    /// `cluster(MODEL)`: the number (from 1) of the clusters model's centroid nearest to the
    /// customer's features.
    Cluster {
        /// The model's name (its file `models/NAME.json`).
        model: Ident,
    },
    /// `score(MODEL)` (the probability of a response, 0 to 1) or `uplift(MODEL)` (its
    /// difference with the control group's), from a score model's logistic regressions.
    Score {
        /// The model's name (its file `models/NAME.json`).
        model: Ident,
        /// `uplift(MODEL)`.
        uplift: bool,
    },
}

/// How many customers `top` keeps.
#[derive(Debug, Clone, PartialEq)]
pub enum TopCount {
    /// `top 100`
    Count(u64, Span),
    /// `top 20%`, as written without `%`.
    Percent(String, Span),
}

/// A transaction column that `bought` and `spend on` can match against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dimension {
    /// `category`
    Category,
    /// `product`
    Product,
    /// `partner`
    Partner,
    /// `store`
    Store,
}

impl Dimension {
    /// Every dimension.
    pub const ALL: [Dimension; 4] = [
        Dimension::Category,
        Dimension::Product,
        Dimension::Partner,
        Dimension::Store,
    ];

    /// The canonical column name.
    pub fn column(&self) -> &'static str {
        match self {
            Dimension::Category => "category",
            Dimension::Product => "product",
            Dimension::Partner => "partner",
            Dimension::Store => "store",
        }
    }
}

impl fmt::Display for Dimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.column())
    }
}

/// `within 30d`, or `within 30d of first_purchase`
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// The window's length.
    pub duration: Duration,
    /// `of first_purchase`, with its span: the window's days start at the customer's first
    /// purchase instead of ending at the as-of date.
    pub since_first: Option<Span>,
    /// The span of the whole `within ...` clause.
    pub span: Span,
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "within {}", self.duration)?;
        if self.since_first.is_some() {
            f.write_str(" of first_purchase")?;
        }
        Ok(())
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `=`
    Eq,
    /// `!=`
    Ne,
}

impl CmpOp {
    /// The operator as written.
    pub fn as_str(&self) -> &'static str {
        match self {
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
        }
    }
}

/// Units of a duration literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DurationUnit {
    /// `d`: one day.
    Day,
    /// `w`: 7 days.
    Week,
    /// `m`: 30 days.
    Month,
    /// `y`: 365 days.
    Year,
    /// A parameter of the enclosing segment standing for a duration (`within days`); the
    /// duration's value is the parameter's position. Replaced when the segment is called.
    Param,
}

/// A duration such as `30d`, `8w`, `6m`, `1y`. Durations are whole days: a week is 7 days, a
/// month 30 days and a year 365 days, so `6m` is exactly 180 days whatever the calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Duration {
    /// The number as written.
    pub value: u64,
    /// The unit as written.
    pub unit: DurationUnit,
}

impl Duration {
    /// The length in days (saturating).
    pub fn days(&self) -> u64 {
        let per = match self.unit {
            DurationUnit::Day => 1,
            DurationUnit::Week => 7,
            DurationUnit::Month => 30,
            DurationUnit::Year => 365,
            DurationUnit::Param => 0,
        };
        self.value.saturating_mul(per)
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let u = match self.unit {
            DurationUnit::Day => "d",
            DurationUnit::Week => "w",
            DurationUnit::Month => "m",
            DurationUnit::Year => "y",
            DurationUnit::Param => return write!(f, "${}", self.value),
        };
        write!(f, "{}{}", self.value, u)
    }
}

/// A literal value with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Literal {
    /// The value.
    pub kind: LiteralKind,
    /// Where it was written.
    pub span: Span,
}

/// Kinds of literal.
#[derive(Debug, Clone, PartialEq)]
pub enum LiteralKind {
    /// A number, kept as written (`12`, `-3.50`) so no precision is lost.
    Number(String),
    /// A quoted string, unescaped.
    String(String),
    /// A calendar date `YYYY-MM-DD` (already validated).
    Date(chrono::NaiveDate),
    /// A duration such as `30d`.
    Duration(Duration),
    /// `true` or `false`.
    Bool(bool),
    /// A bare word such as `new` or `at_risk` (a value of an enumeration).
    Word(String),
    /// A parameter of the enclosing segment standing for a value (`category cat`); replaced
    /// by the argument when the segment is called.
    Param(String),
}

impl fmt::Display for LiteralKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LiteralKind::Number(n) => f.write_str(n),
            LiteralKind::String(s) => {
                f.write_str("\"")?;
                for c in s.chars() {
                    match c {
                        '"' => f.write_str("\\\"")?,
                        '\\' => f.write_str("\\\\")?,
                        '\n' => f.write_str("\\n")?,
                        '\t' => f.write_str("\\t")?,
                        c => write!(f, "{c}")?,
                    }
                }
                f.write_str("\"")
            }
            LiteralKind::Date(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            LiteralKind::Duration(d) => write!(f, "{d}"),
            LiteralKind::Bool(b) => write!(f, "{b}"),
            LiteralKind::Word(w) | LiteralKind::Param(w) => f.write_str(w),
        }
    }
}

impl LiteralKind {
    /// A short description of the literal's kind, for messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            LiteralKind::Number(_) => "a number",
            LiteralKind::String(_) => "a text value",
            LiteralKind::Date(_) => "a date",
            LiteralKind::Duration(_) => "a duration",
            LiteralKind::Bool(_) => "true/false",
            LiteralKind::Word(_) => "a word",
            LiteralKind::Param(_) => "a parameter",
        }
    }
}
