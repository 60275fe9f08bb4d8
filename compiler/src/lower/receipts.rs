//! The roll-up per customer and receipt. Purchases are counted by distinct receipt when
//! receipts are mapped: rather than COUNT(DISTINCT receipt_id) per condition (a hash set per
//! customer and condition), the lines are aggregated twice: per (customer, receipt), then per
//! customer, where each purchase condition counts the receipts with a matching line.
//! Distinct values (`distinct categories`) cannot be counted from receipts, so they get
//! grouping sets of their own in the same aggregation.

use super::aggregates::{Agg, AggKind};
use super::exprs::{window_start, with_filter};
use crate::builder::PlanBuilder;
use crate::catalog::Catalog;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::functions_aggregate::count::count_all;
use datafusion::functions_aggregate::expr_fn::{count, max, min, sum};
use datafusion::logical_expr::{Aggregate, Expr, ExprFunctionExt, cast, ident, lit, when};
use segql_grammar::ast::Dimension;

/// The column telling which grouping set a row of the receipt roll-up comes from.
const GROUPING_ID: &str = Aggregate::INTERNAL_GROUPING_ID;

/// The roll-up's grouping: by (customer, receipt), and by (customer, value) of each column
/// whose distinct values are counted.
pub(super) struct Rollup {
    /// The key per receipt.
    keys: Vec<Expr>,
    /// The columns whose distinct values are counted, each a grouping set after the keys'.
    distinct_columns: Vec<Dimension>,
    /// The grouping sets, when there are distinct counts.
    grouping_sets: Option<Vec<Vec<Expr>>>,
}

impl Rollup {
    /// The roll-up of `aggs`, when receipts are mapped and some aggregate counts purchases.
    /// `widest` is the scan's window.
    pub(super) fn plan(
        catalog: &Catalog,
        aggs: &[Agg],
        widest: Option<u64>,
    ) -> Result<Option<Rollup>> {
        let counts = |a: &&Agg| matches!(a.kind, AggKind::Count | AggKind::Days);
        if !catalog.has_tx_column("receipt_id") || !aggs.iter().any(|a| counts(&a)) {
            return Ok(None);
        }
        let ts = ident("ts");
        // The roll-up's key: lines without a receipt id are purchases of their own, and
        // share one group per customer, where counts count lines. Only purchase days need
        // them apart by day. Lines older than the widest window that counts purchases match
        // no count: they join that group too (counting zero there), so the roll-up keeps one
        // row per receipt only where receipts are counted.
        let counted = aggs
            .iter()
            .filter(counts)
            .map(|a| a.window().filter(|w| Some(*w) != widest))
            .try_fold(0u64, |acc, w| w.map(|w| acc.max(w)));
        let receipt = match counted {
            Some(w) => when(
                ts.clone().gt(window_start(catalog.as_of, w)),
                ident("receipt_id"),
            )
            .end()?
            .alias("receipt_id"),
            None => ident("receipt_id"),
        };
        let mut keys = vec![ident("customer_id"), receipt];
        if aggs.iter().any(|a| a.kind == AggKind::Days) {
            let loose_day = when(ident("receipt_id").is_null(), ts).end()?;
            keys.push(loose_day.alias("__loose_day"));
        }
        // The lines are also grouped per (customer, value) of each counted column, in
        // grouping sets of the same aggregation, and the aggregation by customer reads each
        // aggregate from the rows of its set (`__grouping_id`).
        let mut distinct_columns: Vec<Dimension> = Vec::new();
        for a in aggs {
            if let AggKind::Distinct(d) = a.kind
                && !distinct_columns.contains(&d)
            {
                distinct_columns.push(d);
            }
        }
        let grouping_sets = (!distinct_columns.is_empty()).then(|| {
            let mut sets = vec![keys.clone()];
            for d in &distinct_columns {
                sets.push(vec![ident("customer_id"), ident(d.column())]);
            }
            sets
        });
        Ok(Some(Rollup {
            keys,
            distinct_columns,
            grouping_sets,
        }))
    }

    /// Only the rows of one grouping set: its `__grouping_id`, DataFusion's bit per grouping
    /// expression (in order of first appearance, the first the highest), set where the set
    /// leaves the expression out. `None` without grouping sets.
    fn in_set(&self, set: usize) -> Option<Expr> {
        let sets = self.grouping_sets.as_ref()?;
        let mut all: Vec<&Expr> = Vec::new();
        for e in sets.iter().flatten() {
            if !all.contains(&e) {
                all.push(e);
            }
        }
        let id = all.iter().fold(0i64, |acc, e| {
            (acc << 1) | i64::from(!sets[set].contains(e))
        });
        Some(cast(ident(GROUPING_ID), DataType::Int64).eq(lit(id)))
    }

    /// Aggregate `a` (the `k`th) over the lines meeting `filter`: its part of the roll-up,
    /// `__r{k}`, pushed to `per_receipt`, and the aggregate per customer reading it.
    pub(super) fn aggregate(
        &self,
        k: usize,
        a: &Agg,
        filter: Option<Expr>,
        per_receipt: &mut Vec<Expr>,
    ) -> Result<Expr> {
        let ts = ident("ts");
        let s1 = format!("__r{k}");
        let in_receipts = self.in_set(0);
        Ok(match a.kind {
            // Matching lines per receipt; a receipt with any counts once. Lines
            // without a receipt id are purchases of their own.
            // A purchase's day is its first matching line's day.
            AggKind::Days => {
                per_receipt.push(with_filter(min(ts), filter)?.alias(&s1));
                let e = count(ident(&s1)).distinct();
                match in_receipts {
                    None => e.build()?,
                    Some(f) => e.filter(f).build()?,
                }
            }
            AggKind::Count => {
                per_receipt.push(with_filter(count_all().unalias(), filter)?.alias(&s1));
                let n = ident(&s1);
                with_filter(
                    sum(when(ident("receipt_id").is_null(), n.clone())
                        .when(n.gt(lit(0i64)), lit(1i64))
                        .otherwise(lit(0i64))?),
                    in_receipts,
                )?
            }
            // Values with a matching line, one row each in the value's set.
            AggKind::Distinct(d) => {
                per_receipt.push(with_filter(count_all().unalias(), filter)?.alias(&s1));
                let set = 1 + self
                    .distinct_columns
                    .iter()
                    .position(|x| *x == d)
                    .expect("column grouped");
                let matched = ident(&s1).gt(lit(0i64));
                let f = self.in_set(set).map_or(matched.clone(), |s| s.and(matched));
                count_all().unalias().filter(f).build()?
            }
            _ => {
                let (s1_expr, combine): (Expr, fn(Expr) -> Expr) = match a.kind {
                    AggKind::MaxTs => (max(ts), max),
                    AggKind::MinTs => (min(ts), min),
                    AggKind::SumAmount => (sum(ident("amount")), sum),
                    AggKind::SumEarned => (sum(ident("points_earned")), sum),
                    AggKind::SumRedeemed => (sum(ident("points_redeemed")), sum),
                    _ => (sum(ident("quantity")), sum),
                };
                per_receipt.push(with_filter(s1_expr, filter)?.alias(&s1));
                with_filter(combine(ident(&s1)), in_receipts)?
            }
        })
    }

    /// The roll-up node over the scanned `lines`, computing `per_receipt`.
    pub(super) fn roll_up(self, lines: PlanBuilder, per_receipt: Vec<Expr>) -> Result<PlanBuilder> {
        match self.grouping_sets {
            Some(sets) => lines.aggregate_sets(sets, per_receipt),
            None => lines.aggregate(self.keys, per_receipt),
        }
    }
}
