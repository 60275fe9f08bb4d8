//! What the compiler knows about the data: the normalized input plans and the evaluation
//! settings. The runtime builds the plans (file scans with canonical column names and types);
//! the compiler only reads their schemas and builds on top of them.

use chrono::NaiveDate;
use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::LogicalPlan;

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
#[derive(Debug, Clone)]
pub struct Catalog {
    /// Transactions with canonical columns: `customer_id`, `ts` (Date32), `amount` (decimal),
    /// and any of `receipt_id`, `quantity`, `partner`, `store`, `category`, `product` (Utf8).
    pub transactions: LogicalPlan,
    /// Customers: `customer_id` (same type as in transactions) and attributes, one row per
    /// customer (duplicate ids merged, each attribute its largest value).
    pub customers: Option<LogicalPlan>,
    /// The same columns before duplicate ids are merged.
    pub customer_rows: Option<LogicalPlan>,
    /// Communications: `customer_id`, `ts` (Date32), and `channel`, `campaign` when mapped.
    pub communications: Option<LogicalPlan>,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ranking {
    /// RFM scores rank customers active in this many days.
    pub rfm_window: u64,
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
            abc_window: 365,
            a_share: 80,
            b_share: 15,
        }
    }
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
        match &self.customers {
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
