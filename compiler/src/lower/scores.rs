//! `score(NAME)` and `uplift(NAME)` in the plan: per score model, the standardised features
//! (a missing value as the mean), then each logistic regression's probability
//! 1 / (1 + exp(-(β₀ + Σ β_j z_j))), the uplift the test model's minus the control model's;
//! and for `top ... by score(NAME)`, the rank among customers with a purchase (at the
//! model's partners), ties by customer id. Literal expressions and DataFusion's window
//! functions, no function of segql's own, in the order of operations of
//! [`ScoreModel::score`], which computes the same in Rust.

use super::exprs::every_column;
use super::models::standardised;
use super::per_customer::ColumnNames;
use crate::builder::PlanBuilder;
use crate::catalog::Catalog;
use crate::ir::*;
use crate::models::{Logit, ScoreModel};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::functions::expr_fn::exp;
use datafusion::functions_window::expr_fn::row_number;
use datafusion::logical_expr::expr::WindowFunction;
use datafusion::logical_expr::{
    Expr, ExprFunctionExt, LogicalPlan, WindowFunctionDefinition, ident, lit, when,
};
use std::sync::Arc;

/// The score model `name` of the catalog.
fn model<'a>(catalog: &'a Catalog, name: &str) -> Result<&'a Arc<ScoreModel>> {
    match catalog.scores.get(name) {
        Some(Ok(m)) => Ok(m),
        Some(Err(why)) => plan_err!("model `{name}` cannot be used: {why}"),
        None => plan_err!("unknown score model `{name}`"),
    }
}

/// True for a score's rank or population: ranked against every customer with a purchase, so
/// the scan may leave no customer out.
pub(super) fn ranks_a_score(v: &Value) -> bool {
    matches!(v, Value::Score(r) if r.part != ScorePart::Value)
}

/// The per-customer values the score models of `modeled` read: their features' and the
/// frequency at their partners (who is ranked).
pub(super) fn score_inputs(catalog: &Catalog, modeled: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    for v in modeled {
        if let Value::Score(r) = v
            && let Ok(m) = model(catalog, &r.model)
        {
            for x in m
                .features
                .values()
                .into_iter()
                .chain([m.features.frequency()])
            {
                if !out.contains(&x) {
                    out.push(x);
                }
            }
        }
    }
    out
}

/// β₀ + Σ β_j z_j over the columns `z`, added pairwise, as [`Logit::eta`].
fn eta(l: &Logit, z: &[String]) -> Expr {
    let mut terms = vec![lit(l.intercept)];
    terms.extend(
        l.coefficients
            .iter()
            .zip(z)
            .map(|(b, c)| lit(*b) * ident(c)),
    );
    super::exprs::balanced_sum(terms)
}

/// 1 / (1 + exp(-eta)), as [`Logit::probability`].
fn probability(l: &Logit, z: &[String]) -> Expr {
    lit(1.0f64) / (lit(1.0f64) + exp(lit(0.0f64) - eta(l, z)))
}

/// Adds one column per score value of `modeled` to `plan` (whose columns `names` holds):
/// per model, a projection of the standardised features, one of the scores read, then the
/// ranks `top` reads (one window each).
pub(super) fn add_scores(
    catalog: &Catalog,
    plan: LogicalPlan,
    modeled: &[Value],
    names: &mut ColumnNames,
) -> Result<LogicalPlan> {
    let mut plan = plan;
    let mut models: Vec<&str> = Vec::new();
    for v in modeled {
        if let Value::Score(r) = v
            && !models.contains(&r.model.as_str())
        {
            models.push(&r.model);
        }
    }
    for (k, name) in models.into_iter().enumerate() {
        let m = model(catalog, name)?.clone();
        let read: Vec<&ScoreRef> = modeled
            .iter()
            .filter_map(|v| match v {
                Value::Score(r) if r.model == name => Some(r),
                _ => None,
            })
            .collect();
        // The standardised features.
        let mut cols = every_column(&plan);
        let mut z = Vec::new();
        for (j, e) in standardised(&m.features, &m.scaling, names.map())?
            .into_iter()
            .enumerate()
        {
            let c = format!("__s{k}_z{j}");
            cols.push(e.alias(&c));
            z.push(c);
        }
        let zplan = PlanBuilder::from(plan).project(cols)?.build()?;
        // The values: the score, the uplift (test minus control).
        let mut cols: Vec<Expr> = every_column(&zplan)
            .into_iter()
            .filter(|e| !matches!(e, Expr::Column(c) if z.contains(&c.name)))
            .collect();
        let mut values: Vec<(bool, String)> = Vec::new();
        for uplift in [false, true] {
            if !read.iter().any(|r| r.uplift == uplift) {
                continue;
            }
            let e = match (uplift, &m.control) {
                (false, _) => probability(&m.response, &z),
                (true, Some(c)) => probability(&m.response, &z) - probability(c, &z),
                (true, None) => return plan_err!("score model `{name}` has no uplift"),
            };
            let v = Value::Score(ScoreRef {
                model: name.to_string(),
                uplift,
                part: ScorePart::Value,
            });
            let c = names.add(&v);
            cols.push(e.alias(&c));
            values.push((uplift, c));
        }
        plan = PlanBuilder::from(zplan).project(cols)?.build()?;
        // The ranks among customers with a purchase (at the model's partners).
        let frequency = m.features.frequency();
        let Some(freq) = names.map().get(&frequency).cloned() else {
            return plan_err!("the table lacks the frequency score model `{name}` ranks by");
        };
        let active = ident(&freq).gt(lit(0i64));
        for (uplift, value) in values {
            let r = ScoreRef {
                model: name.to_string(),
                uplift,
                part: ScorePart::Rank,
            };
            if !read.contains(&&r) {
                continue;
            }
            let rn = row_number()
                .partition_by(vec![active.clone()])
                .order_by(vec![
                    ident(&value).sort(false, false),
                    ident("customer_id").sort(true, true),
                ])
                .build()?;
            let n = Expr::from(WindowFunction::new(
                WindowFunctionDefinition::AggregateUDF(
                    datafusion::functions_aggregate::count::count_udaf(),
                ),
                vec![lit(1i64)],
            ))
            .partition_by(vec![active.clone()])
            .build()?;
            let (rk, pop) = (format!("__s{k}_rank"), format!("__s{k}_n"));
            for (key, w) in [(rk.clone(), rn), (pop.clone(), n)] {
                let b = PlanBuilder::from(plan).window(vec![w])?;
                let fields = b.schema().fields().clone();
                let (last, before) = fields.split_last().expect("the window adds a column");
                let mut proj: Vec<Expr> = before.iter().map(|f| ident(f.name())).collect();
                proj.push(ident(last.name()).alias(key.as_str()));
                plan = b.project(proj)?.build()?;
            }
            let mut cols: Vec<Expr> = every_column(&plan)
                .into_iter()
                .filter(|e| !matches!(e, Expr::Column(c) if c.name == rk || c.name == pop))
                .collect();
            let as_i64 = |c: &str| datafusion::logical_expr::cast(ident(c), arrow_i64());
            let null = lit(ScalarValue::Int64(None));
            cols.push(
                when(active.clone(), as_i64(&rk))
                    .otherwise(null.clone())?
                    .alias(names.add(&Value::Score(r.clone()))),
            );
            cols.push(
                when(active.clone(), as_i64(&pop))
                    .otherwise(null)?
                    .alias(names.add(&Value::Score(r.with(ScorePart::Population)))),
            );
            plan = PlanBuilder::from(plan).project(cols)?.build()?;
        }
    }
    Ok(plan)
}

fn arrow_i64() -> datafusion::arrow::datatypes::DataType {
    datafusion::arrow::datatypes::DataType::Int64
}
