//! A segment as of several dates in one pass (`segql history`): one scan of the transactions
//! up to the last date, one aggregation by customer holding every date's aggregates (each
//! the single-date aggregate with its date's window and `ts <= date` as its FILTER), then
//! per date the values and the condition, as [`super::lower_definition`] computes them as of
//! that date.
//!
//! Only for definitions whose every value comes from the transactions' aggregates and the
//! customers' attributes ([`history_in_one_pass`]): ranks rank each date's population,
//! contacts and campaigns read other tables per date, and a `limit` ranks the members of
//! each date; those are evaluated date by date.
//!
//! Why each date's membership is the single-date plan's:
//! - every aggregate of date `d` reads the lines the single-date plan's aggregate reads as of
//!   `d` (its window's FILTER against `d`, its dimension filters, and `ts <= d`); the scan's
//!   own bounds only narrow further what the single-date plan narrows too (lines up to the
//!   last date; with no customer without purchases possible, lines after the first date's
//!   widest window);
//! - purchases counted by receipt roll the lines up once per receipt (lines without one:
//!   per customer and day), every aggregate without its window, with the receipt's first and
//!   last day; each date's window and `ts <= d` then apply to the receipt's day, which is
//!   every one of its lines' day when the first and last are equal. A receipt whose lines
//!   are of several days is counted in [`SPANNING`], and its figures hold only when there is
//!   none: else the caller plans again with the roll-up by date, the single-date plan's as
//!   of the first date (each date's aggregates per receipt, each with its own filters; lines
//!   older than every date's counted windows share their customer's group of lines without
//!   a receipt, where they match no date's count);
//! - a window from the first purchase reads the first purchase over the lines up to the last
//!   date: a line up to `d` at the scope exists exactly when that first purchase is on or
//!   before `d`, and then it is the first purchase up to `d` too;
//! - of the scan hints only the attributes' key sets are used, which name the same customers
//!   whatever the date (not anniversaries); they drop the lines of customers who are members
//!   of no date, and the others' values are computed from all their lines;
//! - a customer without a line up to `d` reads every value of `d` as a customer without
//!   purchases; when such customers can be members (the full base), they are members of `d`
//!   only when in its base: a customers row signed up by `d` (or without a sign-up date).

use super::Query;
use super::aggregates::{Agg, AggKind, needed};
use super::columns::value_column;
use super::customers::{SIGNUP, join_customers};
use super::exprs::{date_lit, purchases_in, qual, unique, window_start, with_filter};
use super::first_purchase::Anchors;
use super::hints::{ScanHints, keep_possible_members, needs_full_base, scan_hints};
use super::per_customer::PerCustomer;
use super::receipts::Rollup;
use super::scan::Aggregated;
use crate::builder::PlanBuilder;
use crate::catalog::Catalog;
use crate::ir::*;
use datafusion::common::{DataFusionError, Result};
use datafusion::functions_aggregate::count::count_all;
use datafusion::functions_aggregate::expr_fn::{count, max, min, sum};
use datafusion::logical_expr::{Expr, ExprFunctionExt, ident, lit, when};
use std::collections::{BTreeMap, HashMap};

/// True when [`lower_history`] plans `seg`: every value an aggregate of the transactions, a
/// lifecycle stage or an attribute, and no `limit`.
pub fn history_in_one_pass(seg: &Segment) -> bool {
    if seg.campaign.as_ref().is_some_and(|c| c.limit.is_some()) {
        return false;
    }
    seg.pred.values().iter().all(|v| match v {
        Value::Metric(m) | Value::SinceFirst(m) => !matches!(m.kind, MetricKind::Contacts { .. }),
        Value::Lifecycle(_) | Value::Attribute(_) => true,
        Value::Rfm(_)
        | Value::Abc(_)
        | Value::Percentile(_)
        | Value::TopRank(_)
        | Value::Population(_)
        | Value::Campaign(_)
        | Value::PastCampaigns(_)
        | Value::Cluster(_)
        | Value::Score(_)
        | Value::Lookalike(_) => false,
    })
}

/// The aggregates [`lower_history`] computes per date for `seg` (the aggregation by
/// customer holds this many columns per date; by date, so does the receipt roll-up).
pub fn history_aggregates(seg: &Segment) -> usize {
    let mut v = seg.pred.values();
    let t = turnover_value(1);
    if !v.contains(&t) {
        v.push(t);
    }
    let mut aggs = needed(&v, &ScanHints::default());
    let bought = Agg::lifecycle(AggKind::MinTs, &[]);
    if needs_full_base(&[&seg.pred]) && !aggs.contains(&bought) {
        aggs.push(bought);
    }
    aggs.len()
}

/// True when [`lower_history`]'s scan keeps out the lines of customers who cannot be members
/// (by their attributes): its turnover columns then sum the possible members' turnover, not
/// every customer's.
pub fn history_narrows(catalog: &Catalog, seg: &Segment) -> bool {
    scan_hints(catalog, &seg.pred)
        .whatever_the_date()
        .narrows(catalog)
}

/// The turnover of a customer in the `days` days up to a date: `monetary within {days}d`.
pub fn turnover_value(days: u64) -> Value {
    Value::Metric(Metric {
        kind: MetricKind::Monetary,
        window: Some(days.max(1)),
        scope: vec![],
    })
}

/// The members of `seg` as [`super::lower_definition`] plans them (a campaign's capped
/// audience, both groups), `customer_id` and each of `extra`'s values as `__extra_0`,
/// `__extra_1`, ...: the one plan `segql history` runs per date when it goes date by date.
pub fn lower_definition_with(catalog: &Catalog, seg: &Segment, extra: &[Value]) -> Result<Query> {
    if seg.campaign.is_some() {
        let q = super::lower_campaign_with(catalog, seg, extra)?;
        let mut cols = vec![ident("customer_id")];
        cols.extend((0..extra.len()).map(|k| ident(format!("__extra_{k}"))));
        return Ok(Query {
            plan: PlanBuilder::from(q.plan).project(cols)?.build()?,
        });
    }
    let mut values = seg.pred.values();
    for v in extra {
        if !values.contains(v) {
            values.push(v.clone());
        }
    }
    let table = super::per_customer_of(catalog, &seg.pred, &values)?;
    let mut cols = vec![ident("customer_id")];
    for (k, v) in extra.iter().enumerate() {
        cols.push(ident(&table.names[v]).alias(format!("__extra_{k}")));
    }
    Ok(Query {
        plan: PlanBuilder::from(table.filtered(&seg.pred)?)
            .project(cols)?
            .build()?,
    })
}

/// The column of membership as of the `i`th date.
pub fn member_column(i: usize) -> String {
    format!("__member_{i}")
}

/// The column of turnover in the days up to the `i`th date.
pub fn turnover_column(i: usize) -> String {
    format!("__turnover_{i}")
}

/// The column counting, per customer, the receipts whose lines are not all of one day
/// ([`lower_history`] with `by_receipt_day`: its figures hold only when it is zero
/// everywhere; always zero otherwise).
pub const SPANNING: &str = "__spanning";

/// A receipt's first and last day in the roll-up by receipt and day.
const DAY: &str = "__day";
const LAST_DAY: &str = "__last_day";

/// How the lines reach the aggregation by customer.
enum RollUp {
    /// Directly: purchases are lines (no receipt ids, or nothing counts purchases).
    Lines,
    /// Through the single-date roll-up, every date's aggregates per receipt.
    ByDate(Rollup),
    /// Through a roll-up per receipt (lines without one: per day) of every aggregate without
    /// its window; each date's window then applies to the receipt's day.
    ByDay,
}

impl RollUp {
    fn of(first: &Catalog, all: &[Agg], by_receipt_day: bool) -> Result<RollUp> {
        Ok(match Rollup::plan(first, all, None)? {
            None => RollUp::Lines,
            Some(_)
                if by_receipt_day
                    && !all.iter().any(|a| matches!(a.kind, AggKind::Distinct(_))) =>
            {
                RollUp::ByDay
            }
            Some(r) => RollUp::ByDate(r),
        })
    }
}

/// `a` without its window ending at the as-of date (a window from the first purchase is
/// kept: it does not depend on the date).
fn unwindowed(a: &Agg) -> Agg {
    let mut b = a.clone();
    if b.from_first.is_none() {
        b.window = None;
    }
    b
}

/// The members of `seg` as of each catalog's date (ascending; the catalogs differ only in
/// their date and lifecycle thresholds), in one plan: one row per customer who can be a
/// member of one of them, `customer_id`, [`SPANNING`], then per date `i` its membership
/// ([`member_column`], never NULL; a campaign's audience, both groups) and the customer's
/// turnover in the `turnover_days[i]` days up to it ([`turnover_column`], zero without
/// purchases). Refused when [`history_in_one_pass`] is false.
///
/// With `by_receipt_day`, purchases counted by receipt roll up once per receipt and day
/// (see the module's notes): the figures hold only when [`SPANNING`] sums to zero; plan
/// again without it otherwise.
pub fn lower_history(
    catalogs: &[Catalog],
    seg: &Segment,
    turnover_days: &[u64],
    by_receipt_day: bool,
) -> Result<Query> {
    if !history_in_one_pass(seg) {
        return Err(DataFusionError::Plan(format!(
            "`{}` is evaluated date by date: its values are not all aggregates of transactions",
            seg.name
        )));
    }
    let (Some(first), Some(last)) = (catalogs.first(), catalogs.last()) else {
        return Err(DataFusionError::Plan("no date to evaluate".into()));
    };
    if turnover_days.len() != catalogs.len() || catalogs.windows(2).any(|w| w[0].as_of > w[1].as_of)
    {
        return Err(DataFusionError::Plan(
            "one turnover window per date, dates ascending".into(),
        ));
    }
    let pred = &seg.pred;
    let full_base = needs_full_base(&[pred]);
    let hints = ScanHints::default();
    let values = pred.values();
    // Each date's values: the segment's and the turnover; with the full base, the first
    // purchase up to the date too, which tells whether the customer has bought by then.
    let bought = Agg::lifecycle(AggKind::MinTs, &[]);
    let per_date: Vec<(Vec<Value>, Vec<Agg>)> = turnover_days
        .iter()
        .map(|days| {
            let mut v = values.clone();
            let t = turnover_value(*days);
            if !v.contains(&t) {
                v.push(t);
            }
            let mut aggs = needed(&v, &hints);
            if full_base && !aggs.contains(&bought) {
                aggs.push(bought.clone());
            }
            (v, aggs)
        })
        .collect();
    let mut all: Vec<Agg> = Vec::new();
    for (_, aggs) in &per_date {
        for a in aggs {
            if !all.contains(a) {
                all.push(a.clone());
            }
        }
    }
    // The widest window back from the first date, when every aggregate has one and no
    // customer without purchases can be a member.
    let widest = all
        .iter()
        .map(Agg::window)
        .try_fold(0u64, |acc, w| w.map(|w| acc.max(w)))
        .filter(|_| !full_base);
    let anchors = Anchors::of(&all);
    let ts = || ident("ts");
    let mut per_customer = Vec::new();
    let mut taken = BTreeMap::new();
    let mut columns: Vec<Vec<String>> = Vec::new();
    let name_of = |a: &Agg, i: usize, taken: &mut BTreeMap<String, ()>| {
        let name = unique(format!("{}_at{i}", a.name()), taken);
        taken.insert(name.clone(), ());
        name
    };
    let mut lines = PlanBuilder::from(last.transactions.clone());
    if let Some(f) = purchases_in(last, None) {
        lines = lines.filter(f)?;
    }
    if let Some(w) = widest {
        lines = lines.filter(ts().gt(window_start(first.as_of, w)))?;
    }
    // Only the lines of customers whose attributes let them be members on some date.
    let keys = scan_hints(last, pred).whatever_the_date();
    lines = keep_possible_members(last, &keys, widest, lines)?;
    lines = anchors.add_to(lines)?;
    let how = RollUp::of(first, &all, by_receipt_day)?;
    let by_day = matches!(how, RollUp::ByDay);
    match how {
        RollUp::ByDay => {
            // Per receipt (lines without one: per day), every aggregate without its window,
            // and the receipt's first and last day; each date's window then applies to the
            // receipt's day.
            let mut bases: Vec<Agg> = Vec::new();
            for a in &all {
                let b = unwindowed(a);
                if !bases.contains(&b) {
                    bases.push(b);
                }
            }
            let partial = |k: usize| format!("__p{k}");
            let mut per_receipt = vec![min(ts()).alias(DAY), max(ts()).alias(LAST_DAY)];
            for (k, b) in bases.iter().enumerate() {
                let filter = b
                    .line_filters(first.as_of, None, &anchors)
                    .into_iter()
                    .reduce(Expr::and);
                let e = match b.kind {
                    AggKind::Count | AggKind::Days => count_all().unalias(),
                    AggKind::MaxTs => max(ts()),
                    AggKind::MinTs => min(ts()),
                    AggKind::SumAmount => sum(ident("amount")),
                    AggKind::SumQuantity => sum(ident("quantity")),
                    AggKind::SumEarned => sum(ident("points_earned")),
                    AggKind::SumRedeemed => sum(ident("points_redeemed")),
                    AggKind::Distinct(_) => unreachable!("distinct counts roll up by date"),
                };
                per_receipt.push(with_filter(e, filter)?.alias(partial(k)));
            }
            let day = || ident(DAY);
            for (i, (catalog, (_, aggs))) in catalogs.iter().zip(&per_date).enumerate() {
                let mut cols = Vec::new();
                for a in aggs {
                    let k = bases
                        .iter()
                        .position(|b| *b == unwindowed(a))
                        .expect("base");
                    let p = ident(partial(k));
                    let mut within = day().lt_eq(date_lit(catalog.as_of));
                    if let Some(w) = a.window() {
                        within = within.and(day().gt(window_start(catalog.as_of, w)));
                    }
                    let e = match a.kind {
                        AggKind::Count => with_filter(
                            sum(when(ident("receipt_id").is_null(), p.clone())
                                .when(p.gt(lit(0i64)), lit(1i64))
                                .otherwise(lit(0i64))?),
                            Some(within),
                        )?,
                        AggKind::Days => count(day())
                            .distinct()
                            .filter(p.gt(lit(0i64)).and(within))
                            .build()?,
                        AggKind::MaxTs => with_filter(max(p), Some(within))?,
                        AggKind::MinTs => with_filter(min(p), Some(within))?,
                        _ => with_filter(sum(p), Some(within))?,
                    };
                    let name = name_of(a, i, &mut taken);
                    per_customer.push(e.alias(&name));
                    cols.push(name);
                }
                columns.push(cols);
            }
            per_customer.push(
                count_all()
                    .unalias()
                    .filter(day().not_eq(ident(LAST_DAY)))
                    .build()?
                    .alias(SPANNING),
            );
            let loose_day = when(ident("receipt_id").is_null(), ts()).end()?;
            let keys = vec![
                ident("customer_id"),
                ident("receipt_id"),
                loose_day.alias("__loose_day"),
            ];
            lines = lines.aggregate(keys, per_receipt)?;
        }
        how => {
            // Each date's aggregates over the lines, through the single-date roll-up (as
            // of the first date) when purchases are counted by receipt.
            let rollup = match how {
                RollUp::ByDate(r) => Some(r),
                _ => None,
            };
            let mut per_receipt = Vec::new();
            let mut k = 0;
            for (i, (catalog, (_, aggs))) in catalogs.iter().zip(&per_date).enumerate() {
                let mut cols = Vec::new();
                for a in aggs {
                    let mut filters = a.line_filters(catalog.as_of, None, &anchors);
                    filters.push(ts().lt_eq(date_lit(catalog.as_of)));
                    let filter = filters.into_iter().reduce(Expr::and);
                    let e = match &rollup {
                        Some(r) => r.aggregate(k, a, filter, &mut per_receipt)?,
                        None => a.over_lines(filter)?,
                    };
                    k += 1;
                    let name = name_of(a, i, &mut taken);
                    per_customer.push(e.alias(&name));
                    cols.push(name);
                }
                columns.push(cols);
            }
            if let Some(r) = rollup {
                lines = r.roll_up(lines, per_receipt)?;
            }
        }
    }
    let aggregated = lines
        .aggregate(vec![ident("customer_id")], per_customer)?
        .build()?;
    let joined = join_customers(last, &aggregated, &values, full_base)?;
    let signup = joined
        .builder
        .schema()
        .has_column(&super::exprs::qcol("c", SIGNUP));
    let known = joined
        .builder
        .schema()
        .has_column(&super::exprs::qcol("c", "customer_id"));
    // One column per date and value, and per date whether the customer is in its base.
    let mut proj = vec![joined.id.clone().alias("customer_id")];
    proj.push(if by_day {
        joined.aggregate(SPANNING).alias(SPANNING)
    } else {
        lit(0i64).alias(SPANNING)
    });
    let mut taken = BTreeMap::new();
    taken.insert("customer_id".to_string(), ());
    taken.insert(SPANNING.to_string(), ());
    let mut names: Vec<HashMap<Value, String>> = Vec::new();
    for (i, (catalog, (vals, aggs))) in catalogs.iter().zip(&per_date).enumerate() {
        let agg = Aggregated::new(aggregated.clone(), aggs.clone(), columns[i].clone());
        let mut n = HashMap::new();
        for v in vals {
            let e = value_column(catalog, v, &hints, &agg, &joined)?;
            let name = unique(format!("{}_at{i}", v.column_name()), &taken);
            taken.insert(name.clone(), ());
            proj.push(e.alias(&name));
            n.insert(v.clone(), name);
        }
        if full_base {
            let mut in_base = joined.aggregate(agg.column(&bought)).is_not_null();
            if known {
                let mut row = qual("c", "customer_id").is_not_null();
                if signup {
                    let s = qual("c", SIGNUP);
                    row = row.and(s.clone().is_null().or(s.lt_eq(date_lit(catalog.as_of))));
                }
                in_base = in_base.or(row);
            }
            let name = format!("__in_base_{i}");
            proj.push(in_base.alias(&name));
            taken.insert(name, ());
        }
        names.push(n);
    }
    let table = joined.builder.project(proj)?.build()?;
    let mut out = vec![ident("customer_id"), ident(SPANNING)];
    for (i, catalog) in catalogs.iter().enumerate() {
        let at = PerCustomer::over(table.clone(), names[i].clone(), catalog.as_of);
        let mut member = at.condition(pred);
        if full_base {
            member = ident(format!("__in_base_{i}")).and(member);
        }
        out.push(member.alias(member_column(i)));
        out.push(ident(&names[i][&turnover_value(turnover_days[i])]).alias(turnover_column(i)));
    }
    let plan = PlanBuilder::from(table).project(out)?.build()?;
    Ok(Query { plan })
}
