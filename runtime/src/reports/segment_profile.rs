//! The segment profile report: the whole customer base and each segment side by side (size,
//! revenue, average check, purchases, items and recency), from one aggregation over the
//! per-customer profile.

use super::common::one_row;
use crate::{Engine, RuntimeError};
use datafusion::arrow::array::{
    Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::error::ArrowError;
use datafusion::functions_aggregate::expr_fn::{avg, count, sum};
use datafusion::logical_expr::{
    Expr, ExprFunctionExt, LogicalPlanBuilder, cast as cast_expr, ident, lit,
};
use segql_compiler::CompileError;
use segql_compiler::ir::{Const, Metric, MetricKind, Pred, Segment, Value, ValueType};
use segql_grammar::ast::CmpOp;
use std::sync::Arc;

/// The name of the report's first row, the whole base.
pub const BASE: &str = "all customers";

/// One row of the report: the base or one segment. Shares are percentages of the base;
/// figures that cannot be computed (a division by zero, no items column) are `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileRow {
    /// [`BASE`] or the segment's name.
    pub segment: String,
    /// Customers.
    pub customers: i64,
    /// Customers as a share of the base's, in percent.
    pub share_of_base_pct: Option<f64>,
    /// Revenue.
    pub revenue: Option<f64>,
    /// Revenue as a share of the base's, in percent.
    pub share_of_revenue_pct: Option<f64>,
    /// Revenue per purchase.
    pub avg_check: Option<f64>,
    /// Purchases per customer.
    pub purchases_per_customer: Option<f64>,
    /// Items per purchase (with a `quantity` column only).
    pub items_per_check: Option<f64>,
    /// Mean days since the last purchase.
    pub mean_recency_days: Option<f64>,
}

/// The profile of `segments`: one row for the whole base first, then one per segment.
pub async fn segment_profile(
    engine: &Engine,
    segments: &[Segment],
) -> Result<Vec<ProfileRow>, RuntimeError> {
    let metric = |kind| {
        Value::Metric(Metric {
            kind,
            window: None,
            scope: vec![],
        })
    };
    let has_items = engine.catalog.has_tx_column("quantity");
    let mut stats = vec![
        metric(MetricKind::Monetary),
        metric(MetricKind::Frequency),
        metric(MetricKind::Recency),
    ];
    if has_items {
        stats.push(metric(MetricKind::Items));
    }
    let mut values = stats.clone();
    for s in segments {
        for v in s.pred.values() {
            if !values.contains(&v) {
                values.push(v);
            }
        }
    }
    let per_customer = segql_compiler::PerCustomer::build(&engine.catalog, &values, true)
        .map_err(CompileError::from)?;
    let f64_of = |v: &Value| {
        cast_expr(
            ident(per_customer.column(v).unwrap_or("customer_id")),
            DataType::Float64,
        )
    };
    let mut aggs = Vec::new();
    let filters: Vec<Option<Expr>> = std::iter::once(None)
        .chain(
            segments
                .iter()
                .map(|s| Some(per_customer.condition(&s.pred))),
        )
        .collect();
    for (i, f) in filters.iter().enumerate() {
        let mut add = |e: Expr, what: &str| -> Result<(), CompileError> {
            let e = match f {
                None => e,
                Some(f) => e.filter(f.clone()).build()?,
            };
            aggs.push(cast_expr(e, DataType::Float64).alias(format!("{what}_{i}")));
            Ok(())
        };
        add(count(lit(1)), "n")?;
        add(sum(f64_of(&stats[0])), "revenue")?;
        add(sum(f64_of(&stats[1])), "purchases")?;
        add(avg(f64_of(&stats[2])), "recency")?;
        if has_items {
            add(sum(f64_of(&stats[3])), "items")?;
        }
    }
    let plan = LogicalPlanBuilder::from(per_customer.plan.clone())
        .aggregate(Vec::<Expr>::new(), aggs)
        .and_then(|b| b.build())
        .map_err(CompileError::from)?;
    let batch = one_row(engine, plan, "profile").await?;
    let get = |name: String| -> Option<f64> {
        let col = batch.column_by_name(&name)?;
        let col = cast(col, &DataType::Float64).ok()?;
        let a = col.as_any().downcast_ref::<Float64Array>()?;
        (!a.is_null(0)).then(|| a.value(0))
    };
    let per = |x: Option<f64>, y: Option<f64>| match (x, y) {
        (Some(x), Some(y)) if y != 0.0 => Some(x / y),
        _ => None,
    };
    let round = |x: Option<f64>, d: i32| x.map(|v| (v * 10f64.powi(d)).round() / 10f64.powi(d));
    let base_n = get("n_0".into());
    let base_rev = get("revenue_0".into());
    let names = std::iter::once(BASE.to_string()).chain(segments.iter().map(|s| s.name.clone()));
    Ok(names
        .enumerate()
        .map(|(i, segment)| {
            let n = get(format!("n_{i}"));
            let rev = get(format!("revenue_{i}")).or(Some(0.0));
            let purchases = get(format!("purchases_{i}"));
            ProfileRow {
                segment,
                customers: n.unwrap_or(0.0) as i64,
                share_of_base_pct: round(per(n, base_n).map(|x| x * 100.0), 1),
                revenue: round(rev, 2),
                share_of_revenue_pct: round(per(rev, base_rev).map(|x| x * 100.0), 1),
                avg_check: round(per(rev, purchases), 2),
                purchases_per_customer: round(per(purchases, n), 2),
                items_per_check: round(per(get(format!("items_{i}")), purchases), 2),
                mean_recency_days: round(get(format!("recency_{i}")), 1),
            }
        })
        .collect())
}

/// One segment per cluster of the clusters model `model`, `cluster(MODEL) = 1`, `= 2`, ...,
/// named so (`profile --by-cluster`, the REPL's `:profile --by-cluster`).
pub fn cluster_segments(engine: &Engine, model: &str) -> Result<Vec<Segment>, RuntimeError> {
    let m = match engine.catalog.models.get(model) {
        Some(Ok(m)) => m,
        Some(Err(why)) => {
            return Err(RuntimeError::Model {
                message: format!("model `{model}` cannot be used: {why}"),
                help: Some(if why.contains("kind") {
                    "--by-cluster names a clusters model: fit one under its own name with `segql clusters fit NAME --k K`".into()
                } else {
                    format!("fit it again: segql clusters fit {model} --k K")
                }),
            });
        }
        None => {
            let known: Vec<&str> = engine.catalog.models.keys().map(String::as_str).collect();
            return Err(RuntimeError::Model {
                message: format!("there is no clusters model `{model}`"),
                help: Some(if known.is_empty() {
                    "the project has no models; fit one with `segql clusters fit NAME --k 8`".into()
                } else {
                    format!("known models: {}", known.join(", "))
                }),
            });
        }
    };
    Ok((1..=m.centroids.len())
        .map(|n| Segment {
            name: format!("cluster({model}) = {n}"),
            description: None,
            pred: Pred::Cmp {
                value: Value::Cluster(model.to_string()),
                ty: ValueType::Count,
                op: CmpOp::Eq,
                rhs: Const::Number(n.to_string()),
            },
            campaign: None,
        })
        .collect())
}

/// The report as one record batch: `segment`, `customers`, then the figures in the order of
/// [`ProfileRow`]'s fields.
pub fn to_batch(rows: &[ProfileRow]) -> Result<RecordBatch, ArrowError> {
    type Figure = fn(&ProfileRow) -> Option<f64>;
    let figures: [(&str, Figure); 7] = [
        ("share_of_base_pct", |r| r.share_of_base_pct),
        ("revenue", |r| r.revenue),
        ("share_of_revenue_pct", |r| r.share_of_revenue_pct),
        ("avg_check", |r| r.avg_check),
        ("purchases_per_customer", |r| r.purchases_per_customer),
        ("items_per_check", |r| r.items_per_check),
        ("mean_recency_days", |r| r.mean_recency_days),
    ];
    let mut fields = vec![
        Field::new("segment", DataType::Utf8, false),
        Field::new("customers", DataType::Int64, false),
    ];
    let mut arrays: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.segment.as_str()),
        )),
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.customers),
        )),
    ];
    for (name, figure) in figures {
        fields.push(Field::new(name, DataType::Float64, true));
        arrays.push(Arc::new(Float64Array::from_iter(rows.iter().map(figure))));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
}
