//! The one scan of transactions and its aggregation by customer: purchases up to the as-of
//! date, no earlier than the widest window needs; only the lines of customers who can be
//! members; every aggregate with its own FILTER (through the roll-up per receipt where
//! purchases are counted); customers of lapsed stages with a too recent purchase dropped.

use super::aggregates::{Agg, AggKind};
use super::exprs::{purchases_in, unique, window_start};
use super::first_purchase::Anchors;
use super::hints::{ScanHints, keep_possible_members};
use super::receipts::Rollup;
use crate::builder::PlanBuilder;
use crate::catalog::Catalog;
use crate::ir::*;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{Expr, LogicalPlan, ident};
use std::collections::BTreeMap;

/// The aggregation by customer: one row per customer, one column per aggregate.
pub(super) struct Aggregated {
    /// The plan.
    pub(super) plan: LogicalPlan,
    aggs: Vec<Agg>,
    /// The column of each aggregate, in the order of `aggs`.
    columns: Vec<String>,
    /// Counts over every scanned line: at least 1 on every row when each row has a line in
    /// the scan.
    pub(super) positive: Vec<Agg>,
}

impl Aggregated {
    /// An aggregation already planned: `plan` holds aggregate `aggs[i]` in column
    /// `columns[i]` (the history's one pass holds every date's aggregates in one plan).
    pub(super) fn new(plan: LogicalPlan, aggs: Vec<Agg>, columns: Vec<String>) -> Aggregated {
        Aggregated {
            plan,
            aggs,
            columns,
            positive: Vec::new(),
        }
    }

    /// The column of aggregate `a`.
    pub(super) fn column(&self, a: &Agg) -> &str {
        column_of(&self.aggs, &self.columns, a)
    }

    /// The type of aggregate `a`'s column.
    pub(super) fn data_type(&self, a: &Agg) -> DataType {
        self.plan
            .schema()
            .field_with_unqualified_name(self.column(a))
            .map(|f| f.data_type().clone())
            .unwrap_or(DataType::Int64)
    }
}

/// The column of aggregate `a` of `aggs`, whose columns are `columns`.
fn column_of<'a>(aggs: &[Agg], columns: &'a [String], a: &Agg) -> &'a str {
    let i = aggs.iter().position(|x| x == a).expect("aggregate planned");
    &columns[i]
}

/// The widest window the aggregates read, in days back from the as-of date; `None` when some
/// aggregate needs every purchase. An unwindowed latest purchase needs only the days its
/// `recency < d` conditions look at, when every value read from it has such a hint.
fn widest_window(values: &[Value], aggs: &[Agg], hints: &ScanHints) -> Option<u64> {
    let local_window = |a: &Agg| -> Option<u64> {
        if a.kind != AggKind::MaxTs {
            return None;
        }
        values
            .iter()
            .filter(|v| match v {
                Value::Metric(m) => {
                    matches!(m.kind, MetricKind::Recency | MetricKind::LastPurchase)
                        && Agg::of(AggKind::MaxTs, m) == *a
                }
                Value::Lifecycle(scope) => Agg::lifecycle(AggKind::MaxTs, scope) == *a,
                _ => false,
            })
            .map(|v| hints.local.get(v).copied())
            .try_fold(0u64, |acc, w| w.map(|w| acc.max(w)))
    };
    aggs.iter()
        .map(|a| a.window().or_else(|| local_window(a)))
        .try_fold(0u64, |acc, w| w.map(|w| acc.max(w)))
}

/// Scans transactions and aggregates `aggs` (read by `values`) by customer. With
/// `full_base`, every customer with a purchase up to the as-of date has a row; without it,
/// only customers with purchases in the widest window. Unless the table `has_ranks`, the hints
/// drop the lines of customers who cannot be members (ranks rank every customer).
pub(super) fn aggregate_by_customer(
    catalog: &Catalog,
    values: &[Value],
    aggs: Vec<Agg>,
    full_base: bool,
    hints: &ScanHints,
    has_ranks: bool,
) -> Result<Aggregated> {
    let as_of = catalog.as_of;
    // Customers without purchases in the widest window look, to every windowed aggregate,
    // like customers without any purchase: they may be dropped from the scan only when no
    // predicate can hold for such a customer. Otherwise (`not bought ... within 30d`) every
    // customer must be scanned to be in the base.
    let never_empty = !full_base;
    let widest = widest_window(values, &aggs, hints).filter(|_| never_empty);
    let rollup = Rollup::plan(catalog, &aggs, widest)?;
    let anchors = Anchors::of(&aggs);
    let mut per_customer = Vec::new();
    let mut per_receipt = Vec::new();
    let mut taken = BTreeMap::new();
    let mut columns = Vec::new();
    let mut positive: Vec<Agg> = Vec::new();
    for (k, a) in aggs.iter().enumerate() {
        let filters = a.line_filters(as_of, widest, &anchors);
        if never_empty && filters.is_empty() && a.kind == AggKind::Count {
            positive.push(a.clone());
        }
        let filter = filters.into_iter().reduce(Expr::and);
        let e = match &rollup {
            Some(r) => r.aggregate(k, a, filter, &mut per_receipt)?,
            None => a.over_lines(filter)?,
        };
        let name = unique(a.name(), &taken);
        taken.insert(name.clone(), ());
        per_customer.push(e.alias(&name));
        columns.push(name);
    }
    let mut lines = PlanBuilder::from(catalog.transactions.clone());
    if let Some(f) = purchases_in(catalog, widest) {
        lines = lines.filter(f)?;
    }
    if !has_ranks {
        lines = keep_possible_members(catalog, hints, widest, lines)?;
    }
    lines = anchors.add_to(lines)?;
    if let Some(r) = rollup {
        lines = r.roll_up(lines, per_receipt)?;
    }
    let mut plan = lines.aggregate(vec![ident("customer_id")], per_customer)?;
    // Members of lapsed stages bought last at least so many days ago. Not with ranks,
    // which rank every customer.
    let lapsed = hints
        .lapsed
        .iter()
        .filter(|_| !has_ranks)
        .map(|(scope, d)| {
            ident(column_of(
                &aggs,
                &columns,
                &Agg::lifecycle(AggKind::MaxTs, scope),
            ))
            .lt_eq(window_start(as_of, *d))
        });
    if let Some(f) = lapsed.reduce(Expr::and) {
        plan = plan.filter(f)?;
    }
    Ok(Aggregated {
        plan: plan.build()?,
        aggs,
        columns,
        positive,
    })
}
