//! One column per value, from the aggregates and the customers' attributes: days since a
//! purchase, counts and sums (zero without purchases), averages, the lifecycle stage.

use super::aggregates::{Agg, AggKind};
use super::customers::WithCustomers;
use super::exprs::{day_number, epoch_days, qual};
use super::hints::ScanHints;
use super::per_customer::ColumnNames;
use super::scan::Aggregated;
use crate::catalog::Catalog;
use crate::ir::*;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue};
use datafusion::functions::expr_fn::coalesce;
use datafusion::logical_expr::{Expr, LogicalPlan, cast, lit, when};

/// Projects `values` (read from transactions and attributes) over the aggregation joined
/// with customers, one column each, named in `names`.
pub(super) fn project_values(
    catalog: &Catalog,
    values: &[Value],
    hints: &ScanHints,
    aggregated: &Aggregated,
    joined: WithCustomers,
    names: &mut ColumnNames,
) -> Result<LogicalPlan> {
    let mut proj = vec![joined.id.clone().alias("customer_id")];
    for v in values {
        let e = value_column(catalog, v, hints, aggregated, &joined)?;
        proj.push(e.alias(names.add(v)));
    }
    joined.builder.project(proj)?.build()
}

/// The type money values have in every plan: `Decimal128(38, s)` for a sum of amounts of any
/// exact decimal type of scale `s`, `None` for other types.
fn money_type(sum_type: &DataType) -> Option<DataType> {
    match sum_type {
        DataType::Decimal32(_, s)
        | DataType::Decimal64(_, s)
        | DataType::Decimal128(_, s)
        | DataType::Decimal256(_, s) => Some(DataType::Decimal128(38, *s)),
        _ => None,
    }
}

/// A sum of amounts as money ([`money_type`]): amounts are summed in the type they were read
/// as (narrower than 38 digits where that is exact, see the runtime's `amount_type`), and
/// widened once per customer here, after the aggregation.
fn money(e: Expr, sum_type: &DataType) -> Expr {
    match money_type(sum_type) {
        Some(t) if &t != sum_type => cast(e, t),
        _ => e,
    }
}

/// The expression of value `v`.
pub(super) fn value_column(
    catalog: &Catalog,
    v: &Value,
    hints: &ScanHints,
    aggregated: &Aggregated,
    joined: &WithCustomers,
) -> Result<Expr> {
    let as_of_days = epoch_days(catalog.as_of) as i64;
    let days_since = |e: Expr| lit(as_of_days) - day_number(e);
    let agg = |a: &Agg| joined.aggregate(aggregated.column(a));
    let zero_if_null = |a: &Agg| -> Expr {
        let zero =
            ScalarValue::new_zero(&aggregated.data_type(a)).unwrap_or(ScalarValue::Int64(Some(0)));
        coalesce(vec![agg(a), lit(zero)])
    };
    Ok(match v {
        Value::Rfm(_)
        | Value::Abc(_)
        | Value::Percentile(_)
        | Value::TopRank(_)
        | Value::Population(_) => unreachable!("ranks are added after the values"),
        Value::Campaign(_) | Value::PastCampaigns(_) => {
            unreachable!("campaigns are joined after the values")
        }
        Value::Cluster(_) | Value::Score(_) => {
            unreachable!("models are applied after the values")
        }
        Value::Lookalike(_) => unreachable!("look-alikes are added after the values"),
        Value::Attribute(a) => qual(joined.attributes, a.as_str()),
        Value::Lifecycle(scope) => {
            let t = catalog.lifecycle_for(scope);
            // With a lapsed-stage hint, the last purchase stands in for the first:
            // members bought `at_risk_days` (>= `new_days`) or more ago, so neither
            // reads `new` for them.
            let first_kind = if hints.local.contains_key(v) {
                AggKind::MaxTs
            } else {
                AggKind::MinTs
            };
            let first = agg(&Agg::lifecycle(first_kind, scope));
            let recency = days_since(agg(&Agg::lifecycle(AggKind::MaxTs, scope)));
            when(first.clone().is_null(), lit("prospect"))
                .when(days_since(first).lt(lit(t.new_days as i64)), lit("new"))
                .when(
                    recency.clone().lt(lit(t.at_risk_days as i64)),
                    lit("active"),
                )
                .when(
                    recency.clone().lt(lit(t.churned_days as i64)),
                    lit("at_risk"),
                )
                .when(recency.lt(lit(t.lost_days as i64)), lit("churned"))
                .otherwise(lit("lost"))?
        }
        Value::Metric(m) | Value::SinceFirst(m) => {
            let from_first = matches!(v, Value::SinceFirst(_));
            let of = |k| Agg::of_value(k, m, from_first);
            match &m.kind {
                MetricKind::Recency => days_since(agg(&of(AggKind::MaxTs))),
                MetricKind::Tenure => days_since(agg(&of(AggKind::MinTs))),
                MetricKind::LastPurchase => agg(&of(AggKind::MaxTs)),
                MetricKind::FirstPurchase => agg(&of(AggKind::MinTs)),
                MetricKind::Frequency
                | MetricKind::Bought { .. }
                | MetricKind::WeekendPurchases => zero_if_null(&of(AggKind::Count)),
                MetricKind::Monetary | MetricKind::Spend { .. } => {
                    let a = of(AggKind::SumAmount);
                    money(zero_if_null(&a), &aggregated.data_type(&a))
                }
                MetricKind::Items => zero_if_null(&of(AggKind::SumQuantity)),
                MetricKind::PointsEarned => zero_if_null(&of(AggKind::SumEarned)),
                MetricKind::PointsRedeemed => zero_if_null(&of(AggKind::SumRedeemed)),
                MetricKind::Distinct(d) => zero_if_null(&of(AggKind::Distinct(*d))),
                MetricKind::Activity => {
                    let days = m.window.unwrap_or(1).max(1) as f64;
                    cast(zero_if_null(&of(AggKind::Days)), DataType::Float64) / lit(days)
                }
                MetricKind::PointsBalance => {
                    zero_if_null(&of(AggKind::SumEarned)) - zero_if_null(&of(AggKind::SumRedeemed))
                }
                MetricKind::Contacts { .. } => unreachable!("contacts come from messages"),
                MetricKind::AvgCheck => {
                    let sum_a = of(AggKind::SumAmount);
                    let n = zero_if_null(&of(AggKind::Count));
                    let sum_type = aggregated.data_type(&sum_a);
                    let (total, out_type, divisor) = match money_type(&sum_type) {
                        Some(t) => (
                            money(agg(&sum_a), &sum_type),
                            t,
                            cast(n.clone(), DataType::Decimal128(20, 0)),
                        ),
                        None => (
                            agg(&sum_a),
                            DataType::Float64,
                            cast(n.clone(), DataType::Float64),
                        ),
                    };
                    when(n.eq(lit(0i64)), lit(ScalarValue::try_from(&out_type)?))
                        .otherwise(cast(total / divisor, out_type))?
                }
            }
        }
    })
}
