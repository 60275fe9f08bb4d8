//! Values relative to the population: RFM scores (quintiles, ranks of distinct values or
//! fixed bins), ABC tiers, percentiles and `top` ranks.
//! Window functions over the whole per-customer table (ties broken by customer id), so every
//! customer is ranked against every other.
//!
//! Active customers (a purchase in the ranking's window) are ranked apart from inactive
//! ones. Where every row is known to have such purchases, the windows get no partition key:
//! one global order, which DataFusion sorts in parallel and merges, where a key would send
//! every row to one partition and one thread.

use super::exprs::number_scalar;
use super::per_customer::ColumnNames;
use crate::builder::PlanBuilder;
use crate::catalog::{Catalog, Ranking, RfmMethod, RfmSegments};
use crate::ir::*;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue};
use datafusion::functions::expr_fn::coalesce;
use datafusion::functions_window::expr_fn::{dense_rank, ntile, rank, row_number};
use datafusion::logical_expr::expr::WindowFunction;
use datafusion::logical_expr::{
    Expr, ExprFunctionExt, LogicalPlan, WindowFrame, WindowFrameBound, WindowFrameUnits,
    WindowFunctionDefinition, cast, ident, lit, when,
};
use std::collections::HashMap;

/// True for the values ranked against the population.
pub(super) fn is_ranked(v: &Value) -> bool {
    matches!(
        v,
        Value::Rfm(_)
            | Value::Abc(_)
            | Value::Percentile(_)
            | Value::TopRank(_)
            | Value::Population(_)
    )
}

fn windowed(kind: MetricKind, days: u64) -> Value {
    windowed_at(kind, days, &[])
}

fn windowed_at(kind: MetricKind, days: u64, scope: &[String]) -> Value {
    Value::Metric(Metric {
        kind,
        window: Some(days),
        scope: scope.to_vec(),
    })
}

/// The metrics RFM scores, ABC tiers and places are computed from.
pub(super) fn ranking_inputs(catalog: &Catalog, ranked: &[Value]) -> Vec<Value> {
    let r = &catalog.ranking;
    let mut out = Vec::new();
    if ranked.iter().any(|v| matches!(v, Value::Rfm(_))) {
        out.push(windowed(MetricKind::Recency, r.rfm_window));
        out.push(windowed(MetricKind::Frequency, r.rfm_window));
        out.push(windowed(MetricKind::Monetary, r.rfm_window));
    }
    for v in ranked {
        if let Value::Abc(scope) = v {
            out.push(windowed_at(MetricKind::Frequency, r.abc_window, scope));
            out.push(windowed_at(MetricKind::Monetary, r.abc_window, scope));
        }
    }
    for v in ranked {
        if let Value::Percentile(m) | Value::TopRank(m) | Value::Population(m) = v {
            out.push(Value::Metric(m.clone()));
            out.push(active_metric(m));
        }
    }
    out
}

/// Purchases in the metric's window at its partners: a customer is active for the metric
/// when there is at least one.
fn active_metric(m: &Metric) -> Value {
    Value::Metric(Metric {
        kind: MetricKind::Frequency,
        window: m.window,
        scope: m.scope.clone(),
    })
}

/// The window functions of the ranking, each with the column its result is renamed to, over
/// the table's value columns.
struct Windows<'a> {
    columns: HashMap<Value, String>,
    always_active: &'a dyn Fn(&Value) -> bool,
    functions: Vec<(String, Expr)>,
}

impl Windows<'_> {
    fn col(&self, v: &Value) -> Expr {
        ident(&self.columns[v])
    }

    /// `freq > 0`, the activity of a ranking by purchases `freq`.
    fn active(&self, freq: &Value) -> Expr {
        self.col(freq).gt(lit(0i64))
    }

    /// The partition key of a ranking whose activity is `freq > 0`.
    fn partition(&self, freq: &Value) -> Vec<Expr> {
        if (self.always_active)(freq) {
            vec![]
        } else {
            vec![self.active(freq)]
        }
    }

    fn push(&mut self, key: impl Into<String>, function: Expr) {
        self.functions.push((key.into(), function));
    }

    /// The table with one Window node per function (each has its own ordering), its result
    /// renamed at once.
    fn add_to(self, mut plan: LogicalPlan) -> Result<LogicalPlan> {
        for (key, window) in self.functions {
            let b = PlanBuilder::from(plan).window(vec![window])?;
            let fields = b.schema().fields().clone();
            let (last, before) = fields.split_last().expect("the window adds a column");
            let mut proj: Vec<Expr> = before.iter().map(|f| ident(f.name())).collect();
            proj.push(ident(last.name()).alias(key.as_str()));
            plan = b.project(proj)?.build()?;
        }
        Ok(plan)
    }
}

/// The RFM scores read (Int64 expressions over the table after its windows) and the
/// activity of RFM.
struct RfmScores {
    active: Expr,
    r: Option<Expr>,
    f: Option<Expr>,
    m: Option<Expr>,
}

/// RFM scores of recency, frequency and monetary in the RFM window, only those read
/// (`rfm.r` alone needs one window, one sort, not three): a measure with fixed bins from its
/// value alone, else by the method, quintiles (NTILE) or ranks of the distinct values. `None`
/// when no RFM value is read.
fn rfm_windows(r: &Ranking, ranked: &[Value], w: &mut Windows) -> Result<Option<RfmScores>> {
    if !ranked.iter().any(|v| matches!(v, Value::Rfm(_))) {
        return Ok(None);
    }
    let id = ident("customer_id");
    let freq_value = windowed(MetricKind::Frequency, r.rfm_window);
    let by_active = w.partition(&freq_value);
    let needs = |p: RfmPart| {
        ranked.iter().any(|v| {
            matches!(v, Value::Rfm(q) if *q == p || matches!(q, RfmPart::Code | RfmPart::Segment))
        })
    };
    let as_i64 = |n: &str| cast(ident(n), DataType::Int64);
    let mut scores = [None, None, None];
    let bins = &r.rfm_bins;
    let parts = [
        (
            "__rfm_r",
            windowed(MetricKind::Recency, r.rfm_window),
            false,
            RfmPart::R,
            bins.recency
                .map(|t| (t.map(|d| ScalarValue::Int64(Some(d as i64))), true)),
        ),
        (
            "__rfm_f",
            freq_value.clone(),
            true,
            RfmPart::F,
            bins.frequency
                .map(|t| (t.map(|d| ScalarValue::Int64(Some(d as i64))), false)),
        ),
        (
            "__rfm_m",
            windowed(MetricKind::Monetary, r.rfm_window),
            true,
            RfmPart::M,
            bins.monetary
                .as_ref()
                .map(|t| (t.clone().map(|d| number_scalar(&d)), false)),
        ),
    ];
    for (k, (name, by, asc, part, bins)) in parts.into_iter().enumerate() {
        if !needs(part) {
            continue;
        }
        scores[k] = Some(match (bins, r.rfm_method) {
            (Some((thresholds, fewer_is_higher)), _) => {
                binned(w.col(&by), thresholds, fewer_is_higher)?
            }
            (None, RfmMethod::Quintile) => {
                let f = ntile(lit(5i64))
                    .partition_by(by_active.clone())
                    .order_by(vec![
                        w.col(&by).sort(asc, true),
                        id.clone().sort(true, true),
                    ])
                    .build()?;
                w.push(name, f);
                as_i64(name)
            }
            (None, RfmMethod::Rank) => {
                // The value's dense rank (1 for the lowest score's end) and the number of
                // distinct values, the largest dense rank of the partition.
                let (rank_of, distinct) = (format!("{name}_rank"), format!("{name}_distinct"));
                let f = dense_rank()
                    .partition_by(by_active.clone())
                    .order_by(vec![w.col(&by).sort(asc, true)])
                    .build()?;
                w.push(rank_of.clone(), f);
                let f = Expr::from(WindowFunction::new(
                    WindowFunctionDefinition::AggregateUDF(
                        datafusion::functions_aggregate::min_max::max_udaf(),
                    ),
                    vec![ident(&rank_of)],
                ))
                .partition_by(by_active.clone())
                .build()?;
                w.push(distinct.clone(), f);
                lit(1i64) + (lit(5i64) * (as_i64(&rank_of) - lit(1i64))) / as_i64(&distinct)
            }
        });
    }
    let [r, f, m] = scores;
    Ok(Some(RfmScores {
        active: w.active(&freq_value),
        r,
        f,
        m,
    }))
}

/// The score of `value` by four increasing upper bounds: 1 plus the bounds it exceeds, or
/// with `fewer_is_higher` (recency) 5 minus them.
fn binned(value: Expr, thresholds: [ScalarValue; 4], fewer_is_higher: bool) -> Result<Expr> {
    let mut case: Option<datafusion::logical_expr::conditional_expressions::CaseBuilder> = None;
    // From the highest bound down: the first exceeded decides.
    for (i, t) in thresholds.into_iter().enumerate().rev() {
        let reached = i as i64 + 1;
        let score = if fewer_is_higher {
            5 - reached
        } else {
            1 + reached
        };
        let cond = value.clone().gt(lit(t));
        case = Some(match case {
            None => when(cond, lit(score)),
            Some(mut c) => c.when(cond, lit(score)),
        });
    }
    let none_reached = if fewer_is_higher { 5i64 } else { 1i64 };
    case.expect("four thresholds").otherwise(lit(none_reached))
}

/// The windows of one partner scope's ABC tiers.
struct AbcTier {
    scope: Vec<String>,
    /// The spend of the customers before this one, largest spend first.
    before: String,
    /// The spend of all customers.
    total: String,
    active: Expr,
}

/// ABC tiers, per partner scope: the running sum of spend, largest first, and the total.
fn abc_windows(r: &Ranking, ranked: &[Value], w: &mut Windows) -> Result<Vec<AbcTier>> {
    let id = ident("customer_id");
    let sum_of = |e: Expr| {
        Expr::from(WindowFunction::new(
            WindowFunctionDefinition::AggregateUDF(datafusion::functions_aggregate::sum::sum_udaf()),
            vec![e],
        ))
    };
    let mut tiers: Vec<AbcTier> = Vec::new();
    for v in ranked {
        let Value::Abc(scope) = v else { continue };
        if tiers.iter().any(|x| &x.scope == scope) {
            continue;
        }
        let k = tiers.len();
        let freq_value = windowed_at(MetricKind::Frequency, r.abc_window, scope);
        let mon = w.col(&windowed_at(MetricKind::Monetary, r.abc_window, scope));
        let by_active = w.partition(&freq_value);
        let (before, total) = (format!("__abc_before_{k}"), format!("__abc_total_{k}"));
        let running = sum_of(mon.clone())
            .partition_by(by_active.clone())
            .order_by(vec![
                mon.clone().sort(false, true),
                id.clone().sort(true, true),
            ])
            .window_frame(WindowFrame::new_bounds(
                WindowFrameUnits::Rows,
                WindowFrameBound::Preceding(ScalarValue::UInt64(None)),
                WindowFrameBound::Preceding(ScalarValue::UInt64(Some(1))),
            ))
            .build()?;
        w.push(before.clone(), running);
        w.push(total.clone(), sum_of(mon).partition_by(by_active).build()?);
        tiers.push(AbcTier {
            scope: scope.clone(),
            before,
            total,
            active: w.active(&freq_value),
        });
    }
    Ok(tiers)
}

/// The windows of one metric's places: its rank (smallest first), row number (largest first,
/// ties by id) and active customers.
struct Places {
    metric: Metric,
    rank: String,
    row_number: String,
    active: String,
}

/// Percentiles, top ranks and active counts, per metric.
fn place_windows(ranked: &[Value], w: &mut Windows) -> Result<Vec<Places>> {
    let id = ident("customer_id");
    let count_of = |e: Expr| {
        Expr::from(WindowFunction::new(
            WindowFunctionDefinition::AggregateUDF(
                datafusion::functions_aggregate::count::count_udaf(),
            ),
            vec![e],
        ))
    };
    let mut places: Vec<Places> = Vec::new();
    for v in ranked {
        let (Value::Percentile(m) | Value::TopRank(m) | Value::Population(m)) = v else {
            continue;
        };
        if places.iter().any(|x| &x.metric == m) {
            continue;
        }
        let k = places.len();
        let value = w.col(&Value::Metric(m.clone()));
        let by_active = w.partition(&active_metric(m));
        let (rk, rn, n) = (
            format!("__rank_{k}"),
            format!("__rownum_{k}"),
            format!("__n_{k}"),
        );
        let f = rank()
            .partition_by(by_active.clone())
            .order_by(vec![value.clone().sort(true, true)])
            .build()?;
        w.push(rk.clone(), f);
        let f = row_number()
            .partition_by(by_active.clone())
            .order_by(vec![value.sort(false, false), id.clone().sort(true, true)])
            .build()?;
        w.push(rn.clone(), f);
        w.push(
            n.clone(),
            count_of(lit(1i64)).partition_by(by_active).build()?,
        );
        places.push(Places {
            metric: m.clone(),
            rank: rk,
            row_number: rn,
            active: n,
        });
    }
    Ok(places)
}

/// An RFM score, code or segment of the active customers.
fn rfm_column(part: &RfmPart, scores: &RfmScores, segments: &RfmSegments) -> Result<Expr> {
    let score = |s: &Option<Expr>| s.clone().expect("the scores read are planned");
    let number =
        || score(&scores.r) * lit(100i64) + score(&scores.f) * lit(10i64) + score(&scores.m);
    let value = match part {
        RfmPart::R => score(&scores.r),
        RfmPart::F => score(&scores.f),
        RfmPart::M => score(&scores.m),
        RfmPart::Code => cast(number(), DataType::Utf8),
        RfmPart::Segment => {
            let number = number();
            let mut case: Option<datafusion::logical_expr::conditional_expressions::CaseBuilder> =
                None;
            // The segments' codes as numbers: no text per customer and branch. A code in no
            // segment falls through to NULL.
            for (name, codes) in segments.iter() {
                if codes.is_empty() {
                    continue;
                }
                let numbers = codes.iter().map(|c| lit(*c as i64)).collect();
                let cond = number.clone().in_list(numbers, false);
                case = Some(match case {
                    None => when(cond, lit(name)),
                    Some(mut c) => c.when(cond, lit(name)),
                });
            }
            match case {
                Some(c) => c.end()?,
                None => lit(ScalarValue::Utf8(None)),
            }
        }
    };
    when(scores.active.clone(), value).end()
}

/// An ABC tier: A while the spend before the customer is under the A share of the total, B
/// under the A and B shares, else C.
fn abc_column(r: &Ranking, tier: &AbcTier) -> Result<Expr> {
    let before = coalesce(vec![ident(&tier.before), lit(0i64)]);
    let total = ident(&tier.total);
    when(!tier.active.clone(), lit(ScalarValue::Utf8(None)))
        .when(total.clone().lt_eq(lit(0i64)), lit("C"))
        .when(
            (before.clone() * lit(100i64)).lt(total.clone() * lit(r.a_share as i64)),
            lit("A"),
        )
        .when(
            (before * lit(100i64)).lt(total * lit((r.a_share + r.b_share) as i64)),
            lit("B"),
        )
        .otherwise(lit("C"))
}

/// A percentile (smaller active customers per 100), top rank or active count.
fn place_column(v: &Value, places: &Places, active: Expr) -> Result<Expr> {
    let as_i64 = |k: &str| cast(ident(k), DataType::Int64);
    let value = match v {
        Value::Percentile(_) => {
            cast(
                (as_i64(&places.rank) - lit(1i64)) * lit(100i64),
                DataType::Float64,
            ) / cast(as_i64(&places.active), DataType::Float64)
        }
        Value::TopRank(_) => as_i64(&places.row_number),
        _ => as_i64(&places.active),
    };
    when(active, value).end()
}

/// Adds the `ranked` values to `table`, one column each, named in `names`.
/// `always_active` tells the metrics every row has purchases for.
pub(super) fn add_ranks(
    catalog: &Catalog,
    table: LogicalPlan,
    ranked: &[Value],
    always_active: &dyn Fn(&Value) -> bool,
    names: &mut ColumnNames,
) -> Result<LogicalPlan> {
    let r = &catalog.ranking;
    let mut w = Windows {
        columns: names.map().clone(),
        always_active,
        functions: Vec::new(),
    };
    let rfm = rfm_windows(r, ranked, &mut w)?;
    let tiers = abc_windows(r, ranked, &mut w)?;
    let places = place_windows(ranked, &mut w)?;
    let mut cols = super::exprs::every_column(&table);
    let columns = w.columns.clone();
    let plan = w.add_to(table)?;
    for v in ranked {
        let e = match v {
            Value::Rfm(part) => rfm_column(
                part,
                rfm.as_ref().expect("rfm windows planned"),
                &r.rfm_segments,
            )?,
            Value::Abc(scope) => abc_column(
                r,
                tiers
                    .iter()
                    .find(|x| &x.scope == scope)
                    .expect("abc windows planned"),
            )?,
            Value::Percentile(m) | Value::TopRank(m) | Value::Population(m) => {
                let p = places
                    .iter()
                    .find(|x| &x.metric == m)
                    .expect("windows planned for the metric");
                let active = ident(&columns[&active_metric(m)]).gt(lit(0i64));
                place_column(v, p, active)?
            }
            _ => continue,
        };
        cols.push(e.alias(names.add(v)));
    }
    PlanBuilder::from(plan).project(cols)?.build()
}
