//! The aggregates of the one scan: [`Agg`], what an aggregate computes over which of a
//! customer's lines, and [`needed`], the deduplicated aggregates a set of values reads.

use super::exprs::{day_number, one_of, window_start, with_filter};
use super::first_purchase::Anchors;
use super::hints::ScanHints;
use crate::ir::*;
use chrono::NaiveDate;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::functions::expr_fn::date_part;
use datafusion::functions_aggregate::count::count_all;
use datafusion::functions_aggregate::expr_fn::{count, max, min, sum};
use datafusion::logical_expr::{Expr, ExprFunctionExt, cast, ident, lit};
use segql_grammar::ast::Dimension;

/// What an aggregate computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum AggKind {
    MaxTs,
    MinTs,
    Count,
    SumAmount,
    SumQuantity,
    SumEarned,
    SumRedeemed,
    Days,
    /// Distinct non-empty values of the column.
    Distinct(Dimension),
}

/// An aggregate over one customer's transactions: in a window, over lines matching filters
/// (a partner scope, the values of `bought` or `spend on`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct Agg {
    pub(super) kind: AggKind,
    pub(super) window: Option<u64>,
    /// `Some(scope)`: the window's days start at the first purchase at the scope's partners
    /// (all of them when empty) instead of ending at the as-of date.
    pub(super) from_first: Option<Vec<String>>,
    filters: Vec<(Dimension, Vec<String>)>,
    /// Only lines on a Saturday or a Sunday.
    weekend: bool,
}

impl Agg {
    /// The aggregate `kind` over the lines value `v` (a metric, or a metric from the first
    /// purchase) looks at.
    pub(super) fn of_value(kind: AggKind, m: &Metric, from_first: bool) -> Agg {
        Agg {
            from_first: from_first.then(|| m.scope.clone()),
            ..Agg::of(kind, m)
        }
    }

    /// The aggregate `kind` over the lines metric `m` looks at.
    pub(super) fn of(kind: AggKind, m: &Metric) -> Agg {
        let mut filters = Vec::new();
        if !m.scope.is_empty() {
            filters.push((Dimension::Partner, m.scope.clone()));
        }
        if let MetricKind::Bought { dimension, values } | MetricKind::Spend { dimension, values } =
            &m.kind
        {
            filters.push((*dimension, values.clone()));
        }
        Agg {
            kind,
            window: m.window,
            from_first: None,
            filters,
            weekend: m.kind == MetricKind::WeekendPurchases,
        }
    }

    /// First and last purchase for the lifecycle (at `scope`'s partners).
    pub(super) fn lifecycle(kind: AggKind, scope: &[String]) -> Agg {
        Agg::of(
            kind,
            &Metric {
                kind: MetricKind::Recency,
                window: None,
                scope: scope.to_vec(),
            },
        )
    }

    /// The window ending at the as-of date, if any: none for a window from the first
    /// purchase, which needs every purchase up to the as-of date.
    pub(super) fn window(&self) -> Option<u64> {
        match self.from_first {
            Some(_) => None,
            None => self.window,
        }
    }

    /// The column's name, before it is made unique.
    pub(super) fn name(&self) -> String {
        let mut s = match self.kind {
            AggKind::MaxTs => "last_ts",
            AggKind::MinTs => "first_ts",
            AggKind::Count => "n_purchases",
            AggKind::SumAmount => "sum_amount",
            AggKind::SumQuantity => "sum_quantity",
            AggKind::SumEarned => "sum_points_earned",
            AggKind::SumRedeemed => "sum_points_redeemed",
            AggKind::Days => "n_days",
            AggKind::Distinct(d) => match d {
                Dimension::Partner => "n_partners",
                Dimension::Category => "n_categories",
                Dimension::Product => "n_products",
                Dimension::Store => "n_stores",
            },
        }
        .to_string();
        for (d, vals) in &self.filters {
            s.push_str(&format!("_{d}_{}", crate::ir::slug(vals)));
        }
        if self.weekend {
            s.push_str("_weekend");
        }
        if self.from_first.is_some() {
            s.push_str("_first");
        }
        if let Some(w) = self.window {
            s.push_str(&format!("_{w}d"));
        }
        format!("__{s}")
    }

    /// The conditions a scanned line meets to be read by the aggregate (none: every line).
    /// The scan itself starts at the `widest` window.
    pub(super) fn line_filters(
        &self,
        as_of: NaiveDate,
        widest: Option<u64>,
        anchors: &Anchors,
    ) -> Vec<Expr> {
        let ts = ident("ts");
        let mut filters = Vec::new();
        if let Some(w) = self.window()
            && Some(w) != widest
        {
            filters.push(ts.clone().gt(window_start(as_of, w)));
        }
        if let (Some(scope), Some(w)) = (&self.from_first, self.window) {
            // Days first .. first + N - 1 (none before the first purchase).
            let first = day_number(ident(anchors.column(scope)));
            filters.push(day_number(ts).lt(first + lit(w.min(1_000_000_000) as i64)));
        }
        for (d, vals) in &self.filters {
            filters.push(one_of(*d, vals));
        }
        if self.weekend {
            // Day of the week, Sunday 0 to Saturday 6.
            let dow = cast(date_part(lit("dow"), ident("ts")), DataType::Int64);
            filters.push(dow.in_list(vec![lit(0i64), lit(6i64)], false));
        }
        if let AggKind::Distinct(d) = self.kind {
            // NULL and empty text are no value.
            filters.push(ident(d.column()).not_eq(lit("")));
        }
        filters
    }

    /// The aggregate over the customer's lines meeting `filter`, without a roll-up by
    /// receipt (see [`super::receipts`] for the other way).
    pub(super) fn over_lines(&self, filter: Option<Expr>) -> Result<Expr> {
        let ts = ident("ts");
        let base = match self.kind {
            AggKind::Days | AggKind::Distinct(_) => {
                let counted = match self.kind {
                    AggKind::Distinct(d) => ident(d.column()),
                    _ => ts,
                };
                let e = count(counted).distinct();
                return match filter {
                    None => e.build(),
                    Some(f) => e.filter(f).build(),
                };
            }
            AggKind::MaxTs => max(ts),
            AggKind::MinTs => min(ts),
            AggKind::Count => count_all().unalias(),
            AggKind::SumAmount => sum(ident("amount")),
            AggKind::SumQuantity => sum(ident("quantity")),
            AggKind::SumEarned => sum(ident("points_earned")),
            AggKind::SumRedeemed => sum(ident("points_redeemed")),
        };
        with_filter(base, filter)
    }
}

/// The aggregates `values` read, each once, in order of first use. Never empty: with
/// attributes alone, the latest purchase still gives the base one row per customer.
pub(super) fn needed(values: &[Value], hints: &ScanHints) -> Vec<Agg> {
    let mut aggs: Vec<Agg> = Vec::new();
    let mut need = |a: Agg| {
        if !aggs.contains(&a) {
            aggs.push(a)
        }
    };
    for v in values {
        match v {
            Value::Metric(m) | Value::SinceFirst(m) => {
                let from_first = matches!(v, Value::SinceFirst(_));
                let of = |k| Agg::of_value(k, m, from_first);
                match &m.kind {
                    MetricKind::Recency | MetricKind::LastPurchase => need(of(AggKind::MaxTs)),
                    MetricKind::Tenure | MetricKind::FirstPurchase => need(of(AggKind::MinTs)),
                    MetricKind::Frequency
                    | MetricKind::Bought { .. }
                    | MetricKind::WeekendPurchases => need(of(AggKind::Count)),
                    MetricKind::Monetary | MetricKind::Spend { .. } => need(of(AggKind::SumAmount)),
                    MetricKind::AvgCheck => {
                        need(of(AggKind::SumAmount));
                        need(of(AggKind::Count));
                    }
                    MetricKind::Items => need(of(AggKind::SumQuantity)),
                    MetricKind::PointsEarned => need(of(AggKind::SumEarned)),
                    MetricKind::PointsRedeemed => need(of(AggKind::SumRedeemed)),
                    MetricKind::Activity => need(of(AggKind::Days)),
                    MetricKind::PointsBalance => {
                        need(of(AggKind::SumEarned));
                        need(of(AggKind::SumRedeemed));
                    }
                    MetricKind::Distinct(d) => need(of(AggKind::Distinct(*d))),
                    MetricKind::Contacts { .. } => {}
                }
            }
            Value::Lifecycle(scope) => {
                // Under a lapsed-stage hint members are never `new`: no first purchase.
                if !hints.local.contains_key(v) {
                    need(Agg::lifecycle(AggKind::MinTs, scope));
                }
                need(Agg::lifecycle(AggKind::MaxTs, scope));
            }
            Value::Attribute(_)
            | Value::Rfm(_)
            | Value::Abc(_)
            | Value::Percentile(_)
            | Value::TopRank(_)
            | Value::Population(_)
            | Value::Campaign(_)
            | Value::PastCampaigns(_)
            | Value::Cluster(_)
            | Value::Score(_)
            | Value::Lookalike(_) => {}
        }
    }
    if aggs.is_empty() {
        // Only attributes: the base still comes from transactions (one row per customer).
        aggs.push(Agg {
            kind: AggKind::MaxTs,
            window: None,
            from_first: None,
            filters: vec![],
            weekend: false,
        });
    }
    aggs
}
