//! The resolved, typed intermediate representation: a segment is a predicate over customers
//! whose leaves compare per-customer values (metrics, attributes, lifecycle) with constants.
//! Segment references are inlined; windows are whole days.

use chrono::NaiveDate;
pub use segql_grammar::ast::CampaignRole;
use segql_grammar::ast::{CmpOp, Dimension};
use std::fmt;
use std::sync::Arc;

/// A per-customer aggregate of transactions.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MetricKind {
    /// Whole days from the last purchase to the as-of date.
    Recency,
    /// Number of purchases (distinct receipts when `receipt_id` is mapped, else rows).
    Frequency,
    /// Sum of `amount`.
    Monetary,
    /// monetary / frequency, rounded to the amount's scale.
    AvgCheck,
    /// Whole days from the first purchase to the as-of date.
    Tenure,
    /// Date of the first purchase.
    FirstPurchase,
    /// Date of the last purchase.
    LastPurchase,
    /// Sum of `quantity`.
    Items,
    /// Sum of `points_earned`.
    PointsEarned,
    /// Sum of `points_redeemed`.
    PointsRedeemed,
    /// points_earned - points_redeemed.
    PointsBalance,
    /// Days with a purchase / days in the window.
    Activity,
    /// Purchases with `dimension` in `values`.
    Bought {
        /// The matched column.
        dimension: Dimension,
        /// The values, as text.
        values: Vec<String>,
    },
    /// Messages sent (from the communications table), on one channel or any.
    Contacts {
        /// The channel; any when `None`.
        channel: Option<String>,
    },
    /// Sum of `amount` over transactions with `dimension` in `values`.
    Spend {
        /// The matched column.
        dimension: Dimension,
        /// The values, as text.
        values: Vec<String>,
    },
    /// The number of distinct values of a transaction column among the purchases (NULL and
    /// empty text left out): `partners`, `categories`, `products`, `stores`.
    Distinct(Dimension),
    /// Purchases (as `Frequency` counts them) with a line on a Saturday or a Sunday: an input
    /// of the customer features, not a name of the language.
    WeekendPurchases,
}

impl MetricKind {
    /// Metrics users can name directly.
    pub const NAMED: [(&'static str, MetricKind); 16] = [
        ("recency", MetricKind::Recency),
        ("frequency", MetricKind::Frequency),
        ("monetary", MetricKind::Monetary),
        ("avg_check", MetricKind::AvgCheck),
        ("tenure", MetricKind::Tenure),
        ("first_purchase", MetricKind::FirstPurchase),
        ("last_purchase", MetricKind::LastPurchase),
        ("items", MetricKind::Items),
        ("points_earned", MetricKind::PointsEarned),
        ("points_redeemed", MetricKind::PointsRedeemed),
        ("points_balance", MetricKind::PointsBalance),
        ("activity", MetricKind::Activity),
        ("partners", MetricKind::Distinct(Dimension::Partner)),
        ("categories", MetricKind::Distinct(Dimension::Category)),
        ("products", MetricKind::Distinct(Dimension::Product)),
        ("stores", MetricKind::Distinct(Dimension::Store)),
    ];

    /// Looks a metric up by name.
    pub fn by_name(name: &str) -> Option<MetricKind> {
        Self::NAMED
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, m)| m.clone())
    }

    /// The value type of the metric.
    pub fn value_type(&self) -> ValueType {
        match self {
            MetricKind::Recency | MetricKind::Tenure => ValueType::Days,
            MetricKind::Frequency
            | MetricKind::Bought { .. }
            | MetricKind::Contacts { .. }
            | MetricKind::Distinct(_)
            | MetricKind::WeekendPurchases => ValueType::Count,
            MetricKind::Monetary | MetricKind::AvgCheck | MetricKind::Spend { .. } => {
                ValueType::Money
            }
            MetricKind::Activity => ValueType::Number,
            MetricKind::Items
            | MetricKind::PointsEarned
            | MetricKind::PointsRedeemed
            | MetricKind::PointsBalance => ValueType::Quantity,
            MetricKind::FirstPurchase | MetricKind::LastPurchase => ValueType::Date,
        }
    }

    /// True when the metric is NULL for a customer without (windowed) purchases; the others
    /// are 0.
    pub fn nullable(&self) -> bool {
        matches!(
            self,
            MetricKind::Recency
                | MetricKind::Tenure
                | MetricKind::AvgCheck
                | MetricKind::FirstPurchase
                | MetricKind::LastPurchase
        )
    }

    /// True for the metrics that count or sum purchases, which a window can measure from the
    /// first purchase on (`within 30d of first_purchase`); the others are days and dates.
    pub fn from_first(&self) -> bool {
        !matches!(
            self,
            MetricKind::Recency
                | MetricKind::Tenure
                | MetricKind::FirstPurchase
                | MetricKind::LastPurchase
                | MetricKind::Contacts { .. }
        )
    }
}

/// A metric with its optional window in days.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Metric {
    /// What is aggregated.
    pub kind: MetricKind,
    /// `within N days`, if any.
    pub window: Option<u64>,
    /// `at "PARTNER"`: only purchases at these partners (all when empty).
    pub scope: Vec<String>,
}

/// Lifecycle stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    /// A known customer without any purchase up to the as-of date.
    Prospect,
    /// First purchase less than `new_days` ago.
    New,
    /// Last purchase less than `at_risk_days` ago.
    Active,
    /// Last purchase `at_risk_days` to `churned_days` ago.
    AtRisk,
    /// Last purchase `churned_days` to `lost_days` ago.
    Churned,
    /// Last purchase `lost_days` or more ago.
    Lost,
}

impl Stage {
    /// All stages, in order.
    pub const ALL: [Stage; 6] = [
        Stage::Prospect,
        Stage::New,
        Stage::Active,
        Stage::AtRisk,
        Stage::Churned,
        Stage::Lost,
    ];

    /// The stage's name in the language and in outputs.
    pub fn name(&self) -> &'static str {
        match self {
            Stage::Prospect => "prospect",
            Stage::New => "new",
            Stage::Active => "active",
            Stage::AtRisk => "at_risk",
            Stage::Churned => "churned",
            Stage::Lost => "lost",
        }
    }

    /// Looks a stage up by name.
    pub fn by_name(s: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|st| st.name() == s)
    }
}

/// The type of a per-customer value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// Whole days, compared with durations (`30d`).
    Days,
    /// A count, compared with numbers.
    Count,
    /// An amount of money, compared with numbers.
    Money,
    /// A quantity, compared with numbers.
    Quantity,
    /// A date, compared with dates.
    Date,
    /// A lifecycle stage.
    Stage,
    /// Text.
    Text,
    /// A number attribute.
    Number,
    /// true / false.
    Bool,
    /// One of a fixed set of words (RFM segments, ABC tiers).
    Enum(&'static str, &'static [&'static str]),
}

impl ValueType {
    /// True when `<`, `between`, ... apply.
    pub fn ordered(&self) -> bool {
        !matches!(
            self,
            ValueType::Stage | ValueType::Text | ValueType::Bool | ValueType::Enum(..)
        )
    }
}

/// A per-customer value a condition compares.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Value {
    /// An aggregate of transactions.
    Metric(Metric),
    /// `METRIC within N of first_purchase`: the metric over the N days from the customer's
    /// first purchase (at the metric's partners) on, that day included: purchases on days
    /// `first .. first + N - 1`, and up to the as-of date like every purchase. The metric's
    /// `window` holds N. A customer without purchases (at the partners) has none in it.
    SinceFirst(Metric),
    /// A column of the customers table.
    Attribute(String),
    /// The lifecycle stage (at the given partners; everywhere when empty).
    Lifecycle(Vec<String>),
    /// A part of the customer's RFM cell, ranked against every customer active in the RFM
    /// window.
    Rfm(RfmPart),
    /// The ABC (Pareto) tier by cumulative share of monetary in the ABC window (at the given
    /// partners; everywhere when empty).
    Abc(Vec<String>),
    /// `METRIC percentile`: 100 × the share of active customers with a smaller value.
    Percentile(Metric),
    /// The position (1 = largest) of the customer among active customers by the metric, ties
    /// by customer id: what `top` reads.
    TopRank(Metric),
    /// How many customers are active for the metric (hidden; with `TopRank`).
    Population(Metric),
    /// `treated(...)`, `held_out(...)`, `responded(...)`: true or false, from the campaign's
    /// snapshots.
    Campaign(CampaignRef),
    /// How many of the campaigns' snapshots, their response windows over by the as-of date,
    /// the customer was sent (in a test group), or sent and responded to: a count (a
    /// feature, not written in the language).
    PastCampaigns(PastCampaigns),
    /// `cluster(NAME)`: the number of the clusters model's nearest centroid (from 1) to the
    /// customer's features as of the as-of date (`Catalog::models`).
    Cluster(String),
    /// `score(NAME)` / `uplift(NAME)` (a probability, or a difference of two), or the rank
    /// `top ... by` it reads, from the score model's features as of the as-of date
    /// (`Catalog::scores`).
    Score(ScoreRef),
    /// `lookalike(SEGMENT, N)`: true for the customers outside the segment most like its
    /// members on the customer features as of the as-of date (`lower::lookalike`).
    Lookalike(Lookalike),
}

/// A look-alike audience: the candidates (customers with a purchase, outside the segment)
/// nearest to the segment's members, the first `n` of them.
#[derive(Debug, Clone)]
pub struct Lookalike {
    /// The segment whose members are the seeds.
    pub segment: String,
    /// Its condition (references inlined).
    pub seeds: Arc<Pred>,
    /// How many candidates: a count, or a share of the candidates.
    pub n: TopN,
}

impl PartialEq for Lookalike {
    fn eq(&self, o: &Self) -> bool {
        (&self.segment, self.n) == (&o.segment, o.n)
    }
}
impl Eq for Lookalike {}
impl std::hash::Hash for Lookalike {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        (&self.segment, self.n).hash(h)
    }
}
impl PartialOrd for Lookalike {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Lookalike {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (&self.segment, self.n).cmp(&(&o.segment, o.n))
    }
}

/// A score model's value: which model, which of its values, which part.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScoreRef {
    /// The model's name.
    pub model: String,
    /// `uplift(NAME)` rather than `score(NAME)`.
    pub uplift: bool,
    /// The value, or the rank or population `top` reads.
    pub part: ScorePart,
}

/// What of a score a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScorePart {
    /// The value.
    Value,
    /// The position (1 = largest) among customers with a purchase (at the model's
    /// partners) up to the as-of date, ties by customer id: what `top` reads.
    Rank,
    /// How many customers are ranked (hidden; with `Rank`).
    Population,
}

impl ScoreRef {
    /// The same score's `part`.
    pub fn with(&self, part: ScorePart) -> ScoreRef {
        ScoreRef {
            part,
            ..self.clone()
        }
    }

    /// `score(NAME)` or `uplift(NAME)`.
    pub fn written(&self) -> String {
        format!(
            "{}({})",
            if self.uplift { "uplift" } else { "score" },
            self.model
        )
    }
}

/// Which snapshots of a campaign a condition reads (never any taken after the as-of date).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Snapshots {
    /// Every snapshot.
    All,
    /// The snapshot of this date.
    On(NaiveDate),
    /// Snapshots taken less than this many days before the as-of date (the as-of day
    /// counts as the first).
    Within(u64),
}

/// A campaign's response: a purchase condition over `days` days, evaluated for a snapshot
/// taken on day S over the days S + 1 to S + `days` (as of S + `days`), and over the
/// purchases up to the as-of date only.
#[derive(Debug, Clone)]
pub struct Response {
    /// The condition, its windows all `days` long.
    pub pred: Pred,
    /// The response window in days.
    pub days: u64,
    /// The canonical text of the response (how it was written, references inlined), which
    /// identifies it.
    pub text: String,
    /// The `respond` clause in the canonical layout: `any purchase within 14d`, or the
    /// condition ([`crate::resolve::written_response`]).
    pub written: String,
}

impl PartialEq for Response {
    fn eq(&self, o: &Self) -> bool {
        self.text == o.text
    }
}
impl Eq for Response {}
impl std::hash::Hash for Response {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.text.hash(h)
    }
}
impl PartialOrd for Response {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Response {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.text.cmp(&o.text)
    }
}

/// A condition on a campaign's frozen audiences: `treated(NAME)` (in the test group of one
/// of the snapshots read), `held_out(NAME)` (in the control group), `responded(NAME)` (in
/// either group of a snapshot and responding in the days after it).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CampaignRef {
    /// Which part of the audience.
    pub role: CampaignRole,
    /// The campaign.
    pub campaign: String,
    /// Which snapshots.
    pub snapshots: Snapshots,
    /// For `responded`: the campaign's response.
    pub response: Option<Arc<Response>>,
}

/// The campaigns a [`Value::PastCampaigns`] counts, and what it counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PastCampaigns {
    /// The campaigns (the catalog's `responses` hold how each is responded to).
    pub campaigns: Vec<String>,
    /// Counts the snapshots responded to; else the snapshots sent.
    pub responded: bool,
}

/// How many customers `top` keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TopN {
    /// The first N.
    Count(u64),
    /// The first ceil(basis points / 10,000 × active customers).
    Basis(u64),
}

/// The parts of an RFM cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RfmPart {
    /// Recency score 1-5 (5 = most recent).
    R,
    /// Frequency score 1-5.
    F,
    /// Monetary score 1-5.
    M,
    /// The three-digit code, e.g. "555".
    Code,
    /// The named segment of the code (champions, loyal, ...).
    Segment,
}

/// The standard named RFM segments and their codes (a partition of all 125 codes): the
/// segments of a project without `[rfm.segments]` (`catalog::RfmSegments::default`).
pub const RFM_SEGMENTS: [(&str, &[&str]); 11] = [
    (
        "champions",
        &["555", "554", "544", "545", "454", "455", "445"],
    ),
    (
        "loyal",
        &["543", "444", "435", "355", "354", "345", "344", "335"],
    ),
    (
        "potential_loyalists",
        &[
            "553", "551", "552", "541", "542", "533", "532", "531", "452", "451", "442", "441",
            "431", "453", "433", "432", "423", "353", "352", "351", "342", "341", "333", "323",
        ],
    ),
    ("new", &["512", "511", "422", "421", "412", "411", "311"]),
    (
        "promising",
        &[
            "525", "524", "523", "522", "521", "515", "514", "513", "425", "424", "413", "414",
            "415", "315", "314", "313",
        ],
    ),
    (
        "need_attention",
        &["535", "534", "443", "434", "343", "334", "325", "324"],
    ),
    (
        "about_to_sleep",
        &["331", "321", "312", "221", "213", "231", "241", "251"],
    ),
    (
        "at_risk",
        &[
            "255", "254", "245", "244", "253", "252", "243", "242", "235", "234", "225", "224",
            "153", "152", "145", "143", "142", "135", "134", "133", "125", "124",
        ],
    ),
    (
        "cannot_lose_them",
        &["155", "154", "144", "214", "215", "115", "114", "113"],
    ),
    (
        "hibernating",
        &[
            "332", "322", "233", "232", "223", "222", "132", "123", "122", "212", "211",
        ],
    ),
    ("lost", &["111", "112", "121", "131", "141", "151"]),
];

/// ABC tiers.
pub const ABC_TIERS: [&str; 3] = ["A", "B", "C"];

/// A constant of a condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Const {
    /// A number, kept as written.
    Number(String),
    /// Whole days.
    Days(u64),
    /// Text.
    Text(String),
    /// A date.
    Date(NaiveDate),
    /// true / false.
    Bool(bool),
    /// A lifecycle stage.
    Stage(Stage),
}

/// A predicate over customers.
#[derive(Debug, Clone, PartialEq)]
pub enum Pred {
    /// All hold.
    And(Vec<Pred>),
    /// Any holds.
    Or(Vec<Pred>),
    /// Does not hold.
    Not(Box<Pred>),
    /// `value op constant`
    Cmp {
        /// The compared value.
        value: Value,
        /// Its type.
        ty: ValueType,
        /// The operator.
        op: CmpOp,
        /// The constant.
        rhs: Const,
    },
    /// `value [not] in (...)`
    In {
        /// The compared value.
        value: Value,
        /// Its type.
        ty: ValueType,
        /// `not in`
        negated: bool,
        /// The constants.
        list: Vec<Const>,
    },
    /// The month and day of a date attribute come within the next `days` days (the as-of day
    /// counts as the first): `birthday within 7d`, `signup anniversary within 7d`. A 29
    /// February date falls on 28 February in other years.
    Upcoming {
        /// The date attribute.
        attribute: String,
        /// The window in days.
        days: u64,
    },
    /// `top N by METRIC` / `top P% by METRIC`: the largest values among customers active for
    /// the metric (a purchase in its window at its partners), ties by customer id.
    Top {
        /// The ranked metric.
        metric: Metric,
        /// How many.
        n: TopN,
    },
    /// `top N by score(NAME)` / `top P% by uplift(NAME)`: the largest scores among customers
    /// with a purchase (at the model's partners) up to the as-of date, ties by customer id.
    TopScore {
        /// The ranked score (its `ScorePart::Value`).
        score: ScoreRef,
        /// How many.
        n: TopN,
    },
    /// `value [not] between low and high`, inclusive.
    Between {
        /// The compared value.
        value: Value,
        /// Its type.
        ty: ValueType,
        /// `not between`
        negated: bool,
        /// Lower bound.
        low: Const,
        /// Upper bound.
        high: Const,
    },
}

impl Pred {
    /// Every value the predicate reads, in order of first appearance.
    pub fn values(&self) -> Vec<Value> {
        let mut out = Vec::new();
        self.collect_values(&mut out);
        out
    }

    fn collect_values(&self, out: &mut Vec<Value>) {
        match self {
            Pred::And(ps) | Pred::Or(ps) => ps.iter().for_each(|p| p.collect_values(out)),
            Pred::Not(p) => p.collect_values(out),
            Pred::Cmp { value, .. } | Pred::In { value, .. } | Pred::Between { value, .. } => {
                if !out.contains(value) {
                    out.push(value.clone());
                }
            }
            Pred::Top { metric, .. } => {
                for v in [
                    Value::Metric(metric.clone()),
                    Value::TopRank(metric.clone()),
                ] {
                    if !out.contains(&v) {
                        out.push(v);
                    }
                }
            }
            Pred::TopScore { score, .. } => {
                for v in [
                    Value::Score(score.clone()),
                    Value::Score(score.with(ScorePart::Rank)),
                ] {
                    if !out.contains(&v) {
                        out.push(v);
                    }
                }
            }
            Pred::Upcoming { attribute, .. } => {
                let v = Value::Attribute(attribute.clone());
                if !out.contains(&v) {
                    out.push(v);
                }
            }
        }
    }
}

/// A resolved segment, ready to lower.
// (Pred::Upcoming is documented on the variant.)
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Its name (`expr` for an inline expression).
    pub name: String,
    /// Its description, if any.
    pub description: Option<String>,
    /// Who is in it.
    pub pred: Pred,
    /// For a campaign: the holdout and the cap.
    pub campaign: Option<CampaignSpec>,
}

/// A campaign's holdout, cap and response.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignSpec {
    /// Control group share in basis points (10% = 1000) of [`crate::udf::BUCKETS`].
    pub holdout_bp: u64,
    /// At most this many members, ranked by a value (descending when true), ties by id.
    pub limit: Option<(u64, Option<Value>, bool)>,
    /// `respond ...`: what counts as a response.
    pub response: Option<Arc<Response>>,
}

impl fmt::Display for Const {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Const::Number(n) => f.write_str(n),
            Const::Days(d) => write!(f, "{d}d"),
            Const::Text(t) => write!(f, "{t:?}"),
            Const::Date(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            Const::Bool(b) => write!(f, "{b}"),
            Const::Stage(s) => f.write_str(s.name()),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.column_name())
    }
}

impl Value {
    /// The output column name of the value: `recency`, `monetary_365d`,
    /// `bought_category_coffee_30d`, an attribute's own name, `lifecycle`.
    pub fn column_name(&self) -> String {
        match self {
            Value::Attribute(a) => a.clone(),
            Value::Rfm(RfmPart::R) => "rfm_r".into(),
            Value::Rfm(RfmPart::F) => "rfm_f".into(),
            Value::Rfm(RfmPart::M) => "rfm_m".into(),
            Value::Rfm(RfmPart::Code) => "rfm".into(),
            Value::Rfm(RfmPart::Segment) => "rfm_segment".into(),
            Value::Abc(scope) if scope.is_empty() => "abc".into(),
            Value::Abc(scope) => format!("abc_at_{}", slug(scope)),
            Value::Percentile(m) => {
                format!("{}_percentile", Value::Metric(m.clone()).column_name())
            }
            Value::TopRank(m) => format!("top_rank_{}", Value::Metric(m.clone()).column_name()),
            Value::Population(m) => format!("__active_{}", Value::Metric(m.clone()).column_name()),
            Value::Campaign(c) => {
                let base = format!(
                    "{}_{}",
                    c.role.word(),
                    slug(std::slice::from_ref(&c.campaign))
                );
                match c.snapshots {
                    Snapshots::All => base,
                    Snapshots::On(d) => format!("{base}_{}", d.format("%Y%m%d")),
                    Snapshots::Within(w) => format!("{base}_{w}d"),
                }
            }
            Value::PastCampaigns(p) => {
                let what = if p.responded { "responded" } else { "sent" };
                format!("campaigns_{what}_{}", slug(&p.campaigns))
            }
            Value::Cluster(m) => format!("cluster_{}", slug(std::slice::from_ref(m))),
            Value::Score(s) => {
                let base = format!(
                    "{}_{}",
                    if s.uplift { "uplift" } else { "score" },
                    slug(std::slice::from_ref(&s.model))
                );
                match s.part {
                    ScorePart::Value => base,
                    ScorePart::Rank => format!("top_rank_{base}"),
                    ScorePart::Population => format!("__active_{base}"),
                }
            }
            Value::Lookalike(l) => {
                let n = match l.n {
                    TopN::Count(n) => n.to_string(),
                    TopN::Basis(bp) => format!("{bp}bp"),
                };
                format!("lookalike_{}_{n}", slug(std::slice::from_ref(&l.segment)))
            }
            Value::Lifecycle(scope) if scope.is_empty() => "lifecycle".into(),
            Value::Lifecycle(scope) => format!("lifecycle_at_{}", slug(scope)),
            Value::SinceFirst(m) => {
                let base = Value::Metric(Metric {
                    window: None,
                    ..m.clone()
                })
                .column_name();
                match m.window {
                    Some(w) => format!("{base}_first_{w}d"),
                    None => base,
                }
            }
            Value::Metric(m) => {
                let base = match &m.kind {
                    MetricKind::Bought { dimension, values } => {
                        format!("bought_{}_{}", dimension, slug(values))
                    }
                    MetricKind::Spend { dimension, values } => {
                        format!("spend_{}_{}", dimension, slug(values))
                    }
                    MetricKind::Contacts { channel: None } => "contacts".to_string(),
                    MetricKind::Contacts { channel: Some(c) } => {
                        format!("contacts_{}", slug(std::slice::from_ref(c)))
                    }
                    MetricKind::WeekendPurchases => "weekend_purchases".to_string(),
                    k => MetricKind::NAMED
                        .iter()
                        .find(|(_, m)| m == k)
                        .map(|(n, _)| n.to_string())
                        .unwrap_or_default(),
                };
                let base = if m.scope.is_empty() {
                    base
                } else {
                    format!("{base}_at_{}", slug(&m.scope))
                };
                match m.window {
                    Some(w) => format!("{base}_{w}d"),
                    None => base,
                }
            }
        }
    }
}

/// Lower-case ASCII letters, digits and `_` from a list of values, at most 40 characters.
pub(crate) fn slug(values: &[String]) -> String {
    let joined = values.join("_").to_lowercase();
    let mut s = String::new();
    for c in joined.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c);
        } else if !s.ends_with('_') {
            s.push('_');
        }
    }
    let s = s.trim_matches('_');
    let s: String = s.chars().take(40).collect();
    if s.is_empty() { "value".into() } else { s }
}
