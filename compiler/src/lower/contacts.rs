//! `contacted(...)`: messages per customer from the communications table, aggregated once and
//! joined to the per-customer table.

use super::exprs::{date_lit, qual, window_start};
use super::per_customer::{ColumnNames, join_by_customer};
use crate::builder::PlanBuilder;
use crate::catalog::Catalog;
use crate::ir::*;
use datafusion::common::Result;
use datafusion::functions::expr_fn::coalesce;
use datafusion::functions_aggregate::count::count_all;
use datafusion::logical_expr::{Expr, ExprFunctionExt, LogicalPlan, ident, lit};

/// True for the values read from the communications table.
pub(super) fn is_contacts(v: &Value) -> bool {
    matches!(
        v,
        Value::Metric(Metric {
            kind: MetricKind::Contacts { .. },
            ..
        })
    )
}

/// Adds one column per `contacts` value to `table`, named in `names`.
pub(super) fn join_contacts(
    catalog: &Catalog,
    table: LogicalPlan,
    contacts: &[Value],
    names: &mut ColumnNames,
) -> Result<LogicalPlan> {
    let Some(comms) = catalog.communications() else {
        return datafusion::common::plan_err!("contacts need the communications table");
    };
    let as_of = catalog.as_of;
    let ts = ident("ts");
    let widest = contacts
        .iter()
        .map(|v| match v {
            Value::Metric(m) => m.window,
            _ => None,
        })
        .try_fold(0u64, |acc, w| w.map(|w| acc.max(w)));
    let mut scan_filter = ident("customer_id")
        .is_not_null()
        .and(ts.clone().lt_eq(date_lit(as_of)));
    if let Some(w) = widest {
        scan_filter = scan_filter.and(ts.clone().gt(window_start(as_of, w)));
    }
    let mut aggs = Vec::new();
    for (k, v) in contacts.iter().enumerate() {
        let Value::Metric(Metric {
            kind: MetricKind::Contacts { channel },
            window,
            ..
        }) = v
        else {
            continue;
        };
        let mut filters = Vec::new();
        if let Some(w) = window
            && Some(*w) != widest
        {
            filters.push(ts.clone().gt(window_start(as_of, *w)));
        }
        if let Some(c) = channel {
            filters.push(ident("channel").eq(lit(c.as_str())));
        }
        let e = match filters.into_iter().reduce(Expr::and) {
            None => count_all().unalias(),
            Some(f) => count_all().unalias().filter(f).build()?,
        };
        aggs.push(e.alias(format!("__m{k}")));
    }
    let messages = PlanBuilder::from(comms.clone())
        .filter(scan_filter)?
        .aggregate(vec![ident("customer_id")], aggs)?
        .build()?;
    let added = contacts
        .iter()
        .enumerate()
        .map(|(k, v)| (v, coalesce(vec![qual("m", format!("__m{k}")), lit(0i64)])))
        .collect();
    join_by_customer(table, messages, "m", added, names)
}
