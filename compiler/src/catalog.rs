//! What the compiler knows about the data: the normalized input plans and the evaluation
//! settings. The runtime builds the plans (file scans with canonical column names and types);
//! the compiler only reads their schemas and builds on top of them.

use chrono::NaiveDate;
use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::LogicalPlan;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Day thresholds of the lifecycle stages (see `docs/language.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifecycleThresholds {
    /// `new`: first purchase less than this many days before the as-of date.
    pub new_days: u32,
    /// `at_risk` from this many days without a purchase.
    pub at_risk_days: u32,
    /// `churned` from this many days without a purchase.
    pub churned_days: u32,
    /// `lost` from this many days without a purchase.
    pub lost_days: u32,
}

impl Default for LifecycleThresholds {
    fn default() -> Self {
        LifecycleThresholds {
            new_days: 30,
            at_risk_days: 60,
            churned_days: 180,
            lost_days: 365,
        }
    }
}

impl LifecycleThresholds {
    /// Checks the thresholds are positive and increasing; returns what is wrong otherwise.
    pub fn validate(&self) -> Result<(), String> {
        if self.new_days == 0 {
            return Err("new_days must be at least 1".into());
        }
        if !(self.at_risk_days < self.churned_days && self.churned_days < self.lost_days) {
            return Err(format!(
                "thresholds must increase: at_risk_days ({}) < churned_days ({}) < lost_days ({})",
                self.at_risk_days, self.churned_days, self.lost_days
            ));
        }
        if self.at_risk_days == 0 {
            return Err("at_risk_days must be at least 1".into());
        }
        Ok(())
    }
}

/// Everything a segment is compiled against.
///
/// The customers and communications tables may be known to the project but not read yet
/// (reading a CSV file's schema infers it from its first rows, which a segment that never
/// looks at the table need not pay for). Asking the catalog for such a table answers as if it
/// were absent and records that it is wanted ([`Catalog::take_wanted`]): whoever compiles
/// then reads the wanted tables and compiles again.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// Transactions with canonical columns: `customer_id`, `ts` (Date32), `amount` (decimal),
    /// and any of `receipt_id`, `quantity`, `partner`, `store`, `category`, `product` (Utf8).
    pub transactions: LogicalPlan,
    customers: Slot<Customers>,
    communications: Slot<LogicalPlan>,
    wanted: WantedCell,
    /// The as-of date: transactions after it are ignored.
    pub as_of: NaiveDate,
    /// Lifecycle thresholds.
    pub lifecycle: LifecycleThresholds,
    /// Thresholds of single partners, for `lifecycle at "PARTNER"`.
    pub partner_lifecycle: std::collections::BTreeMap<String, LifecycleThresholds>,
    /// How RFM scores and ABC tiers are computed.
    pub ranking: Ranking,
    /// What the transactions' file statistics prove about every line.
    pub facts: DataFacts,
    /// The campaigns' snapshots (frozen audiences), whatever their date.
    pub snapshots: Vec<SnapshotTable>,
    /// How each campaign of the project's segment files with a `respond` is responded to,
    /// by name, or why its response does not resolve (what the features' responses to past
    /// campaigns count).
    pub responses: std::collections::BTreeMap<String, Result<Arc<crate::ir::Response>, String>>,
    /// The project's segment files that did not load when the responses were read, each with
    /// why (their campaigns are missing from `responses`).
    pub unloaded: Vec<String>,
    /// The project's models (`models/NAME.json`) by name, or why one cannot be used.
    pub models: std::collections::BTreeMap<String, crate::models::ModelEntry>,
    /// The project's score models (`models/NAME.json` of kind `score`) by name, or why one
    /// cannot be used in `score(NAME)` (a clusters model among them).
    pub scores: std::collections::BTreeMap<String, crate::models::ScoreEntry>,
    /// The feature set look-alikes compare customers on, once computed
    /// ([`Catalog::lookalike_features`]).
    pub features: Option<crate::models::FeatureSet>,
}

/// One campaign's audience frozen on a date: `customer_id` (the transactions' id type) and
/// `group` (`test` or `control`).
#[derive(Debug, Clone)]
pub struct SnapshotTable {
    /// The campaign's name.
    pub campaign: String,
    /// The date it was taken as of.
    pub as_of: NaiveDate,
    /// Its rows.
    pub plan: LogicalPlan,
}

/// The customers table's two plans.
#[derive(Debug, Clone)]
struct Customers {
    merged: LogicalPlan,
    rows: LogicalPlan,
}

/// A table besides transactions: not in the project, in it but not read yet, or read.
#[derive(Debug, Clone)]
enum Slot<T> {
    Absent,
    Unread,
    Read(T),
}

impl<T> Slot<T> {
    fn get(&self, wanted: &AtomicBool, cell: &WantedCell) -> Option<&T> {
        match self {
            Slot::Absent => None,
            Slot::Unread => {
                // Compiled as if the table were absent: only right when compiled again.
                debug_assert!(
                    cell.recording.load(Ordering::Relaxed),
                    "an unread table asked for outside a compilation that reads it"
                );
                wanted.store(true, Ordering::Relaxed);
                None
            }
            Slot::Read(t) => Some(t),
        }
    }
}

/// Which of the tables besides transactions: those not read yet that a compilation asked for
/// ([`Catalog::take_wanted`]), or those not read yet ([`Catalog::unread`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wanted {
    /// The customers table.
    pub customers: bool,
    /// The communications table.
    pub communications: bool,
}

impl Wanted {
    /// True when any table is named.
    pub fn any(&self) -> bool {
        self.customers || self.communications
    }
}

/// The record of wanted tables: atomic, so that a catalog can be shared between threads.
#[derive(Debug, Default)]
struct WantedCell {
    customers: AtomicBool,
    communications: AtomicBool,
    /// The look-alikes' feature set.
    features: AtomicBool,
    /// Set while a compilation that reads wanted tables and compiles again runs.
    recording: AtomicBool,
}

impl Clone for WantedCell {
    fn clone(&self) -> Self {
        let copy = |b: &AtomicBool| AtomicBool::new(b.load(Ordering::Relaxed));
        WantedCell {
            customers: copy(&self.customers),
            communications: copy(&self.communications),
            features: copy(&self.features),
            recording: copy(&self.recording),
        }
    }
}

/// What the statistics of the transactions' files (Parquet footers) prove about every line.
/// Conditions they prove true are left out of plans; the default ([`DataFacts::default`])
/// proves nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DataFacts {
    /// Every line has a customer id (not NULL, and not empty text).
    pub ids_present: bool,
    /// Every line has a date, the earliest and the latest of them these (inclusive).
    pub dates: Option<(NaiveDate, NaiveDate)>,
}

/// Settings of the population-relative measures: RFM scores and ABC tiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ranking {
    /// RFM scores rank customers active in this many days.
    pub rfm_window: u64,
    /// How RFM scores are given where a measure has no fixed bins.
    pub rfm_method: RfmMethod,
    /// Fixed bins of single measures, which then score by them instead of `rfm_method`.
    pub rfm_bins: RfmBins,
    /// The named segments of RFM codes (`rfm_segment`).
    pub rfm_segments: RfmSegments,
    /// ABC tiers rank customers active in this many days by their monetary in it.
    pub abc_window: u64,
    /// Share of monetary (percent) that tier A covers.
    pub a_share: u32,
    /// Share of monetary (percent) that tier B covers after A.
    pub b_share: u32,
}

impl Default for Ranking {
    fn default() -> Self {
        Ranking {
            rfm_window: 365,
            rfm_method: RfmMethod::default(),
            rfm_bins: RfmBins::default(),
            rfm_segments: RfmSegments::default(),
            abc_window: 365,
            a_share: 80,
            b_share: 15,
        }
    }
}

/// How RFM scores 1-5 are given from a measure's values (see `docs/language.md`, "RFM and
/// ABC").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RfmMethod {
    /// SQL `NTILE(5)` over the customers ordered by the value, then by id: five groups of
    /// customers as equal as possible; equal values may get different scores.
    #[default]
    Quintile,
    /// Equal values share a score: `1 + floor(5 * (d - 1) / n)`, with `d` the value's dense
    /// rank (1 for the lowest frequency or monetary, the longest recency) and `n` the number
    /// of distinct values.
    Rank,
}

impl RfmMethod {
    /// The methods with the names `[rfm] method` takes.
    pub const ALL: [(&'static str, RfmMethod); 2] =
        [("quintile", RfmMethod::Quintile), ("rank", RfmMethod::Rank)];

    /// The name `[rfm] method` takes.
    pub fn name(self) -> &'static str {
        match self {
            RfmMethod::Quintile => "quintile",
            RfmMethod::Rank => "rank",
        }
    }
}

/// Fixed thresholds of RFM measures: four strictly increasing values each, where scores
/// change. Frequency and monetary score `1 + #{i : value >= t[i]}`; recency (whole days)
/// scores `5 - #{i : recency >= t[i]}`, so fewer days score higher.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RfmBins {
    /// Days since the last purchase.
    pub recency: Option<[u64; 4]>,
    /// Purchases in the window.
    pub frequency: Option<[u64; 4]>,
    /// Spend in the window, exact decimal text (`"250.5"`).
    pub monetary: Option<[String; 4]>,
}

/// Named segments of RFM codes, in order: each code (R F M, each 1-5, as the number
/// `100 R + 10 F + M`) in at most one segment; a code in none has no segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RfmSegments {
    table: std::sync::Arc<[(String, Vec<u16>)]>,
    names: &'static [&'static str],
}

impl Default for RfmSegments {
    /// The standard segments, [`crate::ir::RFM_SEGMENTS`].
    fn default() -> Self {
        let table = crate::ir::RFM_SEGMENTS
            .iter()
            .map(|(name, codes)| {
                let codes = codes
                    .iter()
                    .map(|c| c.parse().expect("RFM codes are digits"))
                    .collect();
                (name.to_string(), codes)
            })
            .collect::<Vec<_>>();
        RfmSegments::new(table).expect("the standard segments are a partition")
    }
}

impl RfmSegments {
    /// Segments from (name, codes) in order. Refuses a code outside 111-555 (each digit 1-5),
    /// a code in two segments, a name given twice and an empty table.
    pub fn new(table: Vec<(String, Vec<u16>)>) -> Result<RfmSegments, String> {
        if table.is_empty() {
            return Err("no RFM segment is named".into());
        }
        let mut owner: std::collections::HashMap<u16, &str> = Default::default();
        for (i, (name, codes)) in table.iter().enumerate() {
            if table[..i].iter().any(|(n, _)| n == name) {
                return Err(format!("the RFM segment `{name}` is named twice"));
            }
            for &c in codes {
                if !is_rfm_code(c) {
                    return Err(format!("`{c}` is not an RFM code (three digits 1-5)"));
                }
                if let Some(other) = owner.insert(c, name)
                    && other != name
                {
                    return Err(format!("the code {c} is in `{other}` and in `{name}`"));
                }
            }
        }
        let names = intern(table.iter().map(|(n, _)| n.as_str()));
        Ok(RfmSegments {
            table: table.into(),
            names,
        })
    }

    /// The segments' names, in order.
    pub fn names(&self) -> &'static [&'static str] {
        self.names
    }

    /// Each segment's name and codes, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u16])> {
        self.table.iter().map(|(n, c)| (n.as_str(), c.as_slice()))
    }

    /// The segment of `code` (`100 R + 10 F + M`), if any.
    pub fn segment_of(&self, code: u16) -> Option<&str> {
        self.iter()
            .find(|(_, codes)| codes.contains(&code))
            .map(|(n, _)| n)
    }

    /// True when every one of the 125 codes has a segment.
    pub fn covers_every_code(&self) -> bool {
        self.table.iter().map(|(_, c)| c.len()).sum::<usize>() == 125
    }
}

/// True for `100 R + 10 F + M` with each digit 1-5.
pub fn is_rfm_code(c: u16) -> bool {
    let d = |x: u16| (1..=5).contains(&x);
    (111..=555).contains(&c) && d(c / 100) && d(c / 10 % 10) && d(c % 10)
}

/// The names as one `'static` list, kept once per distinct list for the process's life (the
/// type of `rfm_segment`, [`crate::ir::ValueType::Enum`], holds `'static` words; a process
/// sees a handful of project files).
fn intern<'a>(names: impl Iterator<Item = &'a str>) -> &'static [&'static str] {
    static LISTS: std::sync::Mutex<Vec<&'static [&'static str]>> =
        std::sync::Mutex::new(Vec::new());
    let names: Vec<&str> = names.collect();
    let mut lists = LISTS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(l) = lists.iter().find(|l| **l == names.as_slice()) {
        return l;
    }
    let list: Vec<&'static str> = names
        .iter()
        .map(|n| &*Box::leak(n.to_string().into_boxed_str()))
        .collect();
    let list: &'static [&'static str] = Box::leak(list.into_boxed_slice());
    lists.push(list);
    list
}

/// The kind of value a customer attribute holds, as far as the language cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    /// Text.
    Text,
    /// Any number.
    Number,
    /// A date (or timestamp, compared by date).
    Date,
    /// true / false.
    Bool,
}

impl AttrType {
    /// Classifies an Arrow type, `None` when the language cannot compare it.
    pub fn of(dt: &DataType) -> Option<AttrType> {
        use DataType::*;
        Some(match dt {
            Utf8 | LargeUtf8 | Utf8View => AttrType::Text,
            Dictionary(_, v) => return AttrType::of(v),
            Int8
            | Int16
            | Int32
            | Int64
            | UInt8
            | UInt16
            | UInt32
            | UInt64
            | Float16
            | Float32
            | Float64
            | Decimal128(_, _)
            | Decimal256(_, _) => AttrType::Number,
            Date32 | Date64 | Timestamp(_, _) => AttrType::Date,
            Boolean => AttrType::Bool,
            _ => return None,
        })
    }
}

impl Catalog {
    /// A catalog of `transactions` alone, as of `as_of`, with the default settings.
    pub fn new(transactions: LogicalPlan, as_of: NaiveDate) -> Catalog {
        Catalog {
            transactions,
            customers: Slot::Absent,
            communications: Slot::Absent,
            wanted: WantedCell::default(),
            as_of,
            lifecycle: LifecycleThresholds::default(),
            partner_lifecycle: Default::default(),
            ranking: Ranking::default(),
            facts: DataFacts::default(),
            snapshots: Vec::new(),
            responses: Default::default(),
            unloaded: Vec::new(),
            models: Default::default(),
            scores: Default::default(),
            features: None,
        }
    }

    /// The feature set look-alikes compare customers on, when computed; otherwise records
    /// that it is wanted ([`Catalog::take_features_wanted`]): whoever compiles computes it
    /// (the project's feature set, its categories and partners those with the largest
    /// turnover in all the data) and compiles again.
    pub fn lookalike_features(&self) -> Option<&crate::models::FeatureSet> {
        if self.features.is_none() {
            self.wanted.features.store(true, Ordering::Relaxed);
        }
        self.features.as_ref()
    }

    /// True when a compilation since the last call asked for the look-alikes' feature set
    /// before it was computed; forgets it.
    pub fn take_features_wanted(&self) -> bool {
        self.wanted.features.swap(false, Ordering::Relaxed)
    }

    /// Why the features of `set` cannot be computed here: they count the responses to a
    /// campaign the project's segment files no longer define with a `respond`, whose response
    /// does not resolve, or whose response has changed since they were defined.
    pub fn unknown_responses(&self, set: &crate::models::FeatureSet) -> Option<String> {
        if !set.reads_campaigns() {
            return None;
        }
        let why: Vec<String> = set
            .campaigns
            .iter()
            .filter_map(|c| match self.responses.get(&c.name) {
                None => {
                    let unloaded = match self.unloaded.first() {
                        Some(f) => format!(" ({f}; `segql check` says more)"),
                        None => String::new(),
                    };
                    Some(format!(
                        "campaign `{}`, which no segment file of the project defines with a `respond`{unloaded}",
                        c.name
                    ))
                }
                Some(Err(e)) => Some(format!(
                    "campaign `{}`, whose response does not resolve: {e}",
                    c.name
                )),
                Some(Ok(r)) if r.written != c.respond => Some(format!(
                    "campaign `{}` as `respond {}`, and it is now `respond {}`",
                    c.name, c.respond, r.written
                )),
                Some(Ok(_)) => None,
            })
            .collect();
        (!why.is_empty()).then(|| {
            format!(
                "its features count the responses to {}: fit it again",
                why.join("; ")
            )
        })
    }

    /// The snapshots of `campaign`, oldest first.
    pub fn snapshots_of(&self, campaign: &str) -> Vec<&SnapshotTable> {
        let mut v: Vec<&SnapshotTable> = self
            .snapshots
            .iter()
            .filter(|s| s.campaign == campaign)
            .collect();
        v.sort_by_key(|s| s.as_of);
        v
    }

    /// Sets the customers table: one row per customer (duplicate ids merged, each attribute
    /// its largest value), and the same columns before the merge. `customer_id` has the
    /// transactions' type; the other columns are attributes.
    pub fn set_customers(&mut self, merged: LogicalPlan, rows: LogicalPlan) {
        self.customers = Slot::Read(Customers { merged, rows });
    }

    /// Sets the communications table: `customer_id`, `ts` (Date32), and `channel`,
    /// `campaign` when mapped.
    pub fn set_communications(&mut self, plan: LogicalPlan) {
        self.communications = Slot::Read(plan);
    }

    /// Marks the tables named as in the project but not read yet.
    pub fn set_unread(&mut self, tables: Wanted) {
        if tables.customers {
            self.customers = Slot::Unread;
        }
        if tables.communications {
            self.communications = Slot::Unread;
        }
    }

    /// The tables in the project not read yet.
    pub fn unread(&self) -> Wanted {
        Wanted {
            customers: matches!(self.customers, Slot::Unread),
            communications: matches!(self.communications, Slot::Unread),
        }
    }

    /// Marks the start (`true`) or the end of a compilation whose caller reads the tables it
    /// wants and then compiles again. Debug builds stop a compilation that asks for an
    /// unread table outside one: its plan would silently lack the table.
    pub fn record_wanted(&self, on: bool) {
        self.wanted.recording.store(on, Ordering::Relaxed);
    }

    /// The unread tables asked for since the last call, and forgets them. A compilation
    /// that asked for one was made as if the table were absent: read it and compile again.
    pub fn take_wanted(&self) -> Wanted {
        Wanted {
            customers: self.wanted.customers.swap(false, Ordering::Relaxed),
            communications: self.wanted.communications.swap(false, Ordering::Relaxed),
        }
    }

    /// Customers, one row per customer, when the project has them and they are read.
    pub fn customers(&self) -> Option<&LogicalPlan> {
        self.customers
            .get(&self.wanted.customers, &self.wanted)
            .map(|c| &c.merged)
    }

    /// The customers' rows before duplicate ids are merged (rows without an id dropped).
    pub fn customer_rows(&self) -> Option<&LogicalPlan> {
        self.customers
            .get(&self.wanted.customers, &self.wanted)
            .map(|c| &c.rows)
    }

    /// Communications, when the project has them and they are read.
    pub fn communications(&self) -> Option<&LogicalPlan> {
        self.communications
            .get(&self.wanted.communications, &self.wanted)
    }

    /// The thresholds of `lifecycle at scope`: a single partner's own when configured, else
    /// the project's.
    pub fn lifecycle_for(&self, scope: &[String]) -> LifecycleThresholds {
        match scope {
            [one] => self
                .partner_lifecycle
                .get(one)
                .copied()
                .unwrap_or(self.lifecycle),
            _ => self.lifecycle,
        }
    }

    /// True when transactions have the canonical column `name`.
    pub fn has_tx_column(&self, name: &str) -> bool {
        self.transactions
            .schema()
            .fields()
            .iter()
            .any(|f| f.name() == name)
    }

    /// Customer attributes (every customers column but `customer_id`) and their types.
    pub fn attributes(&self) -> Vec<(String, Option<AttrType>)> {
        match self.customers() {
            None => vec![],
            Some(c) => c
                .schema()
                .fields()
                .iter()
                .filter(|f| f.name() != "customer_id")
                .map(|f| (f.name().clone(), AttrType::of(f.data_type())))
                .collect(),
        }
    }

    /// The type of attribute `name`: `None` when unknown, `Some(None)` when not comparable.
    pub fn attribute(&self, name: &str) -> Option<Option<AttrType>> {
        self.attributes()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t)
    }
}
