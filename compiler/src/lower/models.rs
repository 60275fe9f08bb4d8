//! Features and models in the plan: the features of a [`FeatureSet`] as expressions over the
//! per-customer values (`lower_features`, the features file), and `cluster(NAME)` as the
//! nearest centroid computed from them (`add_models`): the standardised features, the squared
//! distance to each centroid, the number of the smallest. Literal expressions only, no
//! function of segql's own, so the plan runs wherever DataFusion does; a volatile guard keeps
//! filters from being pushed below (and so from copying the computation into them).

use super::exprs::{date_lit, day_number, every_column, one_of};
use super::per_customer::{ColumnNames, PerCustomer};
use crate::builder::PlanBuilder;
use crate::catalog::Catalog;
use crate::ir::*;
use crate::models::{ClusterModel, FeatureSet, Formula, Transform};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::functions::expr_fn::{least, ln, random};
use datafusion::functions_aggregate::expr_fn::sum;
use datafusion::logical_expr::{Expr, LogicalPlan, SortExpr, cast, ident, lit, when};
use segql_grammar::ast::Dimension;
use std::collections::HashMap;
use std::sync::Arc;

/// True for the values a model computes.
pub(super) fn is_modeled(v: &Value) -> bool {
    matches!(v, Value::Cluster(_) | Value::Score(_))
}

/// The model `name` of the catalog.
fn model<'a>(catalog: &'a Catalog, name: &str) -> Result<&'a Arc<ClusterModel>> {
    match catalog.models.get(name) {
        Some(Ok(m)) => Ok(m),
        Some(Err(why)) => plan_err!("model `{name}` cannot be used: {why}"),
        None => plan_err!("unknown model `{name}`"),
    }
}

/// The per-customer values the models of `modeled` read.
pub(super) fn model_inputs(catalog: &Catalog, modeled: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    for v in modeled {
        if let Value::Cluster(name) = v
            && let Ok(m) = model(catalog, name)
        {
            for x in m.features.values() {
                if !out.contains(&x) {
                    out.push(x);
                }
            }
        }
    }
    for x in super::scores::score_inputs(catalog, modeled) {
        if !out.contains(&x) {
            out.push(x);
        }
    }
    out
}

fn float(e: Expr) -> Expr {
    cast(e, DataType::Float64)
}

/// The raw (untransformed) value of each feature of `set`, a `Float64` expression over the
/// columns `names` holds: missing (NULL) where the formula is (no purchase, no attribute).
pub(super) fn feature_exprs(
    set: &FeatureSet,
    names: &HashMap<Value, String>,
) -> Result<Vec<(String, Expr)>> {
    let col = |v: &Value| -> Result<Expr> {
        match names.get(v) {
            Some(n) => Ok(ident(n)),
            None => plan_err!("the table lacks the feature value {v}"),
        }
    };
    let mut out = Vec::new();
    for f in set.features() {
        let e = match &f.formula {
            Formula::Value(v) => float(col(v)?),
            Formula::Share { part, whole } => {
                let whole = col(whole)?;
                when(
                    whole.clone().gt(lit(ScalarValue::Int64(Some(0)))),
                    float(col(part)?) / float(whole),
                )
                .otherwise(lit(0.0f64))?
            }
            Formula::Rate { part, whole } => {
                let whole = col(whole)?;
                when(
                    whole.clone().gt(lit(ScalarValue::Int64(Some(0)))),
                    float(col(part)?) / float(whole),
                )
                .otherwise(lit(ScalarValue::Float64(None)))?
            }
            Formula::MeanGap {
                first,
                last,
                frequency,
            } => {
                let n = col(frequency)?;
                when(
                    n.clone().gt_eq(lit(2i64)),
                    float(day_number(col(last)?) - day_number(col(first)?)) / float(n - lit(1i64)),
                )
                .otherwise(lit(ScalarValue::Float64(None)))?
            }
        };
        out.push((f.name, e));
    }
    Ok(out)
}

/// The transformed feature, as [`Transform::apply`] computes it.
pub(super) fn transformed(t: Transform, x: Expr) -> Result<Expr> {
    Ok(match t {
        Transform::Identity => x,
        Transform::Log => {
            when(x.clone().gt(lit(0.0f64)), ln(lit(1.0f64) + x)).otherwise(lit(0.0f64))?
        }
    })
}

/// The features of `set` standardised by `scaling`, one `Float64` expression each over the
/// columns `names` holds: `(t(x) - mean) / std`, a missing value 0 (the mean), as the model
/// files' scalings say.
pub(super) fn standardised(
    set: &FeatureSet,
    scaling: &[crate::models::Scaling],
    names: &HashMap<Value, String>,
) -> Result<Vec<Expr>> {
    feature_exprs(set, names)?
        .into_iter()
        .zip(scaling)
        .map(|((_, x), s)| {
            let z = (transformed(s.transform, x.clone())? - lit(s.mean)) / lit(s.std);
            when(x.is_null(), lit(0.0f64)).otherwise(z)
        })
        .collect()
}

/// Adds one column per model value of `modeled` to `plan` (whose columns `names` holds):
/// the standardised features, then the squared distances to the centroids, then the number
/// of the nearest (ties to the lower number), each step a projection keeping every column.
pub(super) fn add_models(
    catalog: &Catalog,
    plan: LogicalPlan,
    modeled: &[Value],
    names: &mut ColumnNames,
) -> Result<LogicalPlan> {
    let mut plan = plan;
    for v in modeled {
        let Value::Cluster(name) = v else { continue };
        let m = model(catalog, name)?.clone();
        let keep = every_column(&plan);
        let mut zs = keep.clone();
        for (j, z) in standardised(&m.features, &m.scaling, names.map())?
            .into_iter()
            .enumerate()
        {
            zs.push(z.alias(format!("__z{j}")));
        }
        let b = PlanBuilder::from(plan).project(zs)?;
        let mut ds = keep.clone();
        for (k, c) in m.centroids.iter().enumerate() {
            let squares = c
                .iter()
                .enumerate()
                .map(|(j, cj)| {
                    let e = ident(format!("__z{j}")) - lit(*cj);
                    e.clone() * e
                })
                .collect();
            ds.push(super::exprs::balanced_sum(squares).alias(format!("__d{k}")));
        }
        let b = b.project(ds)?;
        let dists: Vec<Expr> = (0..m.centroids.len())
            .map(|k| ident(format!("__d{k}")))
            .collect();
        let mut cols = keep;
        let nearest = least(dists.clone());
        let mut case = when(dists[0].clone().eq(nearest.clone()), lit(1i64));
        for (k, d) in dists.iter().enumerate().skip(1) {
            case = case.when(d.clone().eq(nearest.clone()), lit(k as i64 + 1));
        }
        // `random() >= 0` always holds; being volatile, it keeps DataFusion from pushing a
        // filter on the cluster below these projections, which would inline the nearest
        // centroid's expression into the filter with every distance copied k + 1 times
        // (and every standardised feature k times over): minutes instead of seconds at a
        // million customers.
        let cluster = case.otherwise(lit(ScalarValue::Int64(None)))?;
        let guarded =
            when(random().gt_eq(lit(0.0f64)), cluster).otherwise(lit(ScalarValue::Int64(None)))?;
        cols.push(guarded.alias(names.add(v)));
        plan = b.project(cols)?.build()?;
    }
    // `score(NAME)` / `uplift(NAME)` and their ranks.
    super::scores::add_scores(catalog, plan, modeled, names)
}

/// The features file's plan: `customer_id` and one `Float64` column per feature of `set`,
/// raw (before transform and scaling), one row per member of `members` or, without, per
/// customer with a purchase (at the set's partners) up to the as-of date.
pub fn lower_features(
    catalog: &Catalog,
    set: &FeatureSet,
    members: Option<&Pred>,
) -> Result<LogicalPlan> {
    let mut values = set.values();
    let table = match members {
        Some(pred) => {
            for v in pred.values() {
                if !values.contains(&v) {
                    values.push(v);
                }
            }
            let hints = super::scan_hints(catalog, pred);
            let t =
                PerCustomer::build_with(catalog, &values, super::needs_full_base(&[pred]), &hints)?;
            let plan = t.filtered(pred)?;
            PerCustomer::over(plan, t.names, t.as_of)
        }
        None => {
            let t = PerCustomer::build(catalog, &values, false)?;
            let bought = ident(&t.names[&set.frequency()]).gt(lit(0i64));
            let plan = PlanBuilder::from(t.plan).filter(bought)?.build()?;
            PerCustomer::over(plan, t.names, t.as_of)
        }
    };
    let mut cols = vec![ident("customer_id")];
    for (name, e) in feature_exprs(set, &table.names)? {
        cols.push(e.alias(name));
    }
    PlanBuilder::from(table.plan)
        .project(cols)?
        .sort(vec![SortExpr::new(ident("customer_id"), true, true)])?
        .build()
}

/// The `n` values of `dimension` with the largest turnover up to the as-of date (at the
/// partners of `scope`, all when empty), largest first, ties by value: `value`, `turnover`.
pub fn lower_top_values(
    catalog: &Catalog,
    dimension: Dimension,
    scope: &[String],
    n: usize,
) -> Result<LogicalPlan> {
    let column = dimension.column();
    let mut keep = ident("ts")
        .lt_eq(date_lit(catalog.as_of))
        .and(ident(column).is_not_null())
        .and(ident(column).not_eq(lit("")));
    if !scope.is_empty() {
        keep = keep.and(one_of(Dimension::Partner, scope));
    }
    PlanBuilder::from(catalog.transactions.clone())
        .filter(keep)?
        .aggregate(
            vec![cast(ident(column), DataType::Utf8).alias("value")],
            vec![float(sum(ident("amount"))).alias("turnover")],
        )?
        .sort_with_limit(
            vec![
                SortExpr::new(ident("turnover"), false, false),
                SortExpr::new(ident("value"), true, false),
            ],
            Some(n),
        )?
        .build()
}
