//! `lookalike(SEGMENT, N)`: the candidates nearest to a segment's members on the customer
//! features, computed in the plan over the per-customer table (`docs/features.md`).
//!
//! Over every customer with a purchase (the population): each feature of the catalog's
//! look-alike feature set transformed (log for money and counts) and standardised by the
//! population's mean and standard deviation (a missing value: z = 0). The seeds are the
//! segment's members in the population; per feature, their mean `m` and standard deviation
//! `s` of z. A candidate (in the population, not a seed) is as far from the seeds as
//! `Σ ((z - m) / max(s, SPREAD_FLOOR))²`, the squared distance in units of the seeds' own
//! spread: features on which the seeds agree weigh more. The first N candidates by that
//! distance (ties by customer id) are in the look-alike. Window functions over the whole
//! table; literal expressions only, so the plan runs wherever DataFusion does.

use super::exprs::every_column;
use super::models::{feature_exprs, transformed};
use super::per_customer::{ColumnNames, PerCustomer};
use crate::builder::PlanBuilder;
use crate::catalog::Catalog;
use crate::ir::*;
use crate::models::{FeatureSet, Transform};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::functions::expr_fn::{abs, coalesce, greatest};
use datafusion::functions_aggregate::average::avg_udaf;
use datafusion::functions_aggregate::count::count_udaf;
use datafusion::functions_aggregate::stddev::stddev_pop_udaf;
use datafusion::functions_window::expr_fn::row_number;
use datafusion::logical_expr::expr::WindowFunction;
use datafusion::logical_expr::{
    AggregateUDF, Expr, ExprFunctionExt, LogicalPlan, WindowFunctionDefinition, cast, ident, lit,
    when,
};
use std::sync::Arc;

/// The least spread (in the population's standard deviations) a feature's distance is
/// measured in: a feature on which every seed has the same value weighs as if they spread
/// over a quarter of the population's standard deviation, not infinitely.
pub const SPREAD_FLOOR: f64 = 0.25;

/// A population's standard deviation at most this times max(|mean|, 1) is taken as none:
/// the feature has one value (sums in another order may leave a spread of rounding).
pub const CONSTANT: f64 = 1e-12;

/// True for look-alike memberships.
pub(super) fn is_lookalike(v: &Value) -> bool {
    matches!(v, Value::Lookalike(_))
}

/// The feature set of look-alikes, or an error (asking the catalog marks it wanted, so the
/// runtime computes it and compiles again).
fn feature_set(catalog: &Catalog) -> Result<&FeatureSet> {
    match catalog.lookalike_features() {
        Some(f) => Ok(f),
        None => plan_err!("the customer features of look-alikes are not computed yet"),
    }
}

/// The per-customer values look-alikes read: their features' and their seeds'.
pub(super) fn lookalike_inputs(catalog: &Catalog, lookalikes: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    let Some(set) = lookalikes
        .iter()
        .any(is_lookalike)
        .then(|| catalog.lookalike_features())
        .flatten()
    else {
        return out;
    };
    let mut push = |v: Value| {
        if !out.contains(&v) {
            out.push(v);
        }
    };
    for v in set.values() {
        push(v);
    }
    for v in lookalikes {
        if let Value::Lookalike(l) = v {
            l.seeds.values().into_iter().for_each(&mut push);
        }
    }
    out
}

fn over_all(f: Arc<AggregateUDF>, arg: Expr) -> Expr {
    Expr::from(WindowFunction::new(
        WindowFunctionDefinition::AggregateUDF(f),
        vec![arg],
    ))
}

/// `plan` with `exprs` (window functions) computed and named `names`, every other column
/// kept.
fn with_windows(plan: LogicalPlan, exprs: Vec<(String, Expr)>) -> Result<LogicalPlan> {
    let before = every_column(&plan);
    let n = exprs.len();
    let (names, exprs): (Vec<String>, Vec<Expr>) = exprs.into_iter().unzip();
    let b = PlanBuilder::from(plan).window(exprs)?;
    let fields = b.schema().fields().clone();
    let added = &fields[fields.len() - n..];
    let mut cols = before;
    for (f, name) in added.iter().zip(names) {
        cols.push(ident(f.name()).alias(name));
    }
    b.project(cols)?.build()
}

/// Adds one boolean column per look-alike of `lookalikes` to `plan` (whose columns `names`
/// holds): true for the customers in it.
pub(super) fn add_lookalikes(
    catalog: &Catalog,
    plan: LogicalPlan,
    lookalikes: &[Value],
    names: &mut ColumnNames,
) -> Result<LogicalPlan> {
    let mut plan = plan;
    for v in lookalikes {
        let Value::Lookalike(l) = v else { continue };
        let set = feature_set(catalog)?;
        let keep = every_column(&plan);
        let Some(freq) = names.map().get(&set.frequency()) else {
            return plan_err!("the table lacks the purchases of look-alikes");
        };
        // The population (a purchase), the seeds in it, each transformed feature.
        let population = coalesce(vec![ident(freq).gt(lit(0i64)), lit(false)]);
        let table = PerCustomer::over(plan.clone(), names.map().clone(), catalog.as_of);
        let seed = coalesce(vec![
            population.clone().and(table.filter_condition(&l.seeds)),
            lit(false),
        ]);
        let raw = feature_exprs(set, names.map())?;
        let transforms: Vec<Transform> = set.features().iter().map(|f| f.transform).collect();
        let d = raw.len();
        let mut cols = keep.clone();
        cols.push(population.alias("__la_u"));
        cols.push(seed.alias("__la_s"));
        for (j, (_, x)) in raw.into_iter().enumerate() {
            let t = when(x.clone().is_null(), lit(ScalarValue::Float64(None)))
                .otherwise(transformed(transforms[j], x)?)?;
            cols.push(t.alias(format!("__la_t{j}")));
        }
        let step = PlanBuilder::from(plan).project(cols)?.build()?;
        // The population's mean and spread of each transformed feature.
        let mut w = Vec::new();
        for j in 0..d {
            let t = when(ident("__la_u"), ident(format!("__la_t{j}"))).end()?;
            w.push((format!("__la_m{j}"), over_all(avg_udaf(), t.clone())));
            w.push((format!("__la_sd{j}"), over_all(stddev_pop_udaf(), t)));
        }
        let step = with_windows(step, w)?;
        let mut cols = keep.clone();
        cols.push(ident("__la_u"));
        cols.push(ident("__la_s"));
        for j in 0..d {
            let (t, m, sd) = (
                ident(format!("__la_t{j}")),
                ident(format!("__la_m{j}")),
                ident(format!("__la_sd{j}")),
            );
            // A spread within rounding of none (a feature with one value) standardises to 0.
            let none = lit(CONSTANT) * greatest(vec![abs(m.clone()), lit(1.0f64)]);
            let z = when(t.clone().is_null(), lit(0.0f64))
                .when(sd.clone().is_null(), lit(0.0f64))
                .when(sd.clone().lt_eq(none), lit(0.0f64))
                .otherwise((t - m) / sd)?;
            cols.push(z.alias(format!("__la_z{j}")));
        }
        let step = PlanBuilder::from(step).project(cols)?.build()?;
        // The seeds' mean and spread of each standardised feature.
        let mut w = Vec::new();
        for j in 0..d {
            let z = when(ident("__la_s"), ident(format!("__la_z{j}"))).end()?;
            w.push((format!("__la_sm{j}"), over_all(avg_udaf(), z.clone())));
            w.push((format!("__la_ss{j}"), over_all(stddev_pop_udaf(), z)));
        }
        let step = with_windows(step, w)?;
        // The distance of each candidate; none for the others (no seeds: no distance).
        let mut squares = Vec::with_capacity(d);
        for j in 0..d {
            let spread = greatest(vec![
                coalesce(vec![ident(format!("__la_ss{j}")), lit(0.0f64)]),
                lit(SPREAD_FLOOR),
            ]);
            let e = (ident(format!("__la_z{j}")) - ident(format!("__la_sm{j}"))) / spread;
            squares.push(e.clone() * e);
        }
        let dist = super::exprs::balanced_sum(squares);
        let candidate = ident("__la_u").and(!ident("__la_s"));
        let key = when(candidate, dist).otherwise(lit(ScalarValue::Float64(None)))?;
        let mut cols = keep.clone();
        cols.push(key.alias("__la_key"));
        let step = PlanBuilder::from(step).project(cols)?.build()?;
        // Candidates first, nearest first, ties by id: their place among the candidates.
        let place = row_number()
            .order_by(vec![
                ident("__la_key").sort(true, false),
                ident("customer_id").sort(true, true),
            ])
            .build()?;
        // (One window node per ordering.)
        let step = with_windows(step, vec![("__la_place".to_string(), place)])?;
        let n = over_all(count_udaf(), ident("__la_key"));
        let step = with_windows(step, vec![("__la_n".to_string(), n)])?;
        let place = cast(ident("__la_place"), DataType::Int64);
        let within = match l.n {
            TopN::Count(c) => place.lt_eq(lit(i64::try_from(c).unwrap_or(i64::MAX))),
            // place <= ceil(bp / 10000 * candidates), in integers.
            TopN::Basis(bp) => {
                (ident("__la_n") * lit(bp as i64)).gt((place - lit(1i64)) * lit(10_000i64))
            }
        };
        let member = coalesce(vec![
            ident("__la_key").is_not_null().and(within),
            lit(false),
        ]);
        let mut cols = keep;
        cols.push(member.alias(names.add(v)));
        plan = PlanBuilder::from(step).project(cols)?.build()?;
    }
    Ok(plan)
}
