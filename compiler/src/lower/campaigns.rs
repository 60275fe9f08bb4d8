//! `treated(...)`, `held_out(...)`, `responded(...)`: membership of a campaign's snapshots
//! (frozen audiences). The snapshots each value reads are unioned into one table of
//! (customer, which value), aggregated by customer once and joined to the per-customer table.
//! A response is the campaign's purchase condition lowered as of the snapshot date plus the
//! response window, over the purchases up to the as-of date.

use super::exprs::{date_lit, qcol, qual};
use super::lower_segment;
use super::per_customer::ColumnNames;
use super::per_customer::join_by_customer;
use crate::builder::PlanBuilder;
use crate::catalog::{Catalog, SnapshotTable};
use crate::ir::*;
use chrono::Days;
use datafusion::common::{Result, plan_err};
use datafusion::functions::expr_fn::coalesce;
use datafusion::functions_aggregate::count::count_all;
use datafusion::logical_expr::{
    Expr, ExprFunctionExt, JoinType, LogicalPlan, LogicalPlanBuilder, ident, lit,
};
use std::sync::Arc;

/// True for the values read from campaigns' snapshots.
pub(super) fn is_campaign(v: &Value) -> bool {
    matches!(v, Value::Campaign(_) | Value::PastCampaigns(_))
}

/// The snapshots `p` counts, each with its campaign's response: taken up to the as-of date,
/// their response windows over by it (a response still open is not known yet).
pub fn past_snapshots<'a>(
    catalog: &'a Catalog,
    p: &PastCampaigns,
) -> Result<Vec<(&'a SnapshotTable, &'a Arc<Response>)>> {
    let mut out = Vec::new();
    for name in &p.campaigns {
        let response = match catalog.responses.get(name) {
            Some(Ok(r)) => r,
            Some(Err(e)) => {
                return plan_err!("the response to campaign `{name}` does not resolve: {e}");
            }
            None => {
                return plan_err!(
                    "the responses to campaign `{name}` are unknown: no segment file of the project defines it with a `respond`"
                );
            }
        };
        for s in catalog.snapshots_of(name) {
            let over = s
                .as_of
                .checked_add_days(Days::new(response.days))
                .is_some_and(|end| end <= catalog.as_of);
            if over {
                out.push((s, response));
            }
        }
    }
    Ok(out)
}

/// The snapshots `r` reads: taken up to the as-of date, and on its date or in its window.
pub fn snapshots_read<'a>(catalog: &'a Catalog, r: &CampaignRef) -> Vec<&'a SnapshotTable> {
    catalog
        .snapshots_of(&r.campaign)
        .into_iter()
        .filter(|s| s.as_of <= catalog.as_of)
        .filter(|s| match r.snapshots {
            Snapshots::All => true,
            Snapshots::On(d) => s.as_of == d,
            Snapshots::Within(w) => ((catalog.as_of - s.as_of).num_days() as u64) < w,
        })
        .collect()
}

/// The catalog a response to a snapshot taken on `taken` is evaluated with: as of the last
/// day of its window, over the purchases up to `catalog`'s as-of date.
pub fn response_catalog(catalog: &Catalog, taken: chrono::NaiveDate, days: u64) -> Result<Catalog> {
    let end = taken
        .checked_add_days(Days::new(days))
        .unwrap_or(chrono::NaiveDate::MAX);
    let mut c = catalog.clone();
    c.as_of = end;
    if end > catalog.as_of {
        c.transactions = PlanBuilder::from(catalog.transactions.clone())
            .filter(ident("ts").lt_eq(date_lit(catalog.as_of)))?
            .build()?;
    }
    Ok(c)
}

/// The customers of snapshot `s` who responded: its rows whose customers meet the response.
pub fn responders(
    catalog: &Catalog,
    s: &SnapshotTable,
    response: &Response,
) -> Result<LogicalPlan> {
    let c = response_catalog(catalog, s.as_of, response.days)?;
    let members = PlanBuilder::from(lower_segment(&c, &response.pred)?.plan)
        .project(vec![ident("customer_id")])?
        .alias("r")?
        .build()?;
    PlanBuilder::from(s.plan.clone())
        .alias("s")?
        .join(
            members,
            JoinType::LeftSemi,
            (
                vec![qcol("s", "customer_id")],
                vec![qcol("r", "customer_id")],
            ),
        )?
        .project(vec![
            qual("s", "customer_id").alias("customer_id"),
            qual("s", "group").alias("group"),
        ])?
        .build()
}

/// A campaign value for a customer in no snapshot: false, or a count of 0.
fn none(v: &Value) -> Expr {
    match v {
        Value::PastCampaigns(_) => lit(0i64),
        _ => lit(false),
    }
}

/// Adds one column per campaign value to `table`, named in `names`: true or false for
/// `treated`/`held_out`/`responded`, a count for [`Value::PastCampaigns`].
pub(super) fn join_campaigns(
    catalog: &Catalog,
    table: LogicalPlan,
    values: &[Value],
    names: &mut ColumnNames,
) -> Result<LogicalPlan> {
    let mut branches = Vec::new();
    for (k, v) in values.iter().enumerate() {
        let tagged = |rows: LogicalPlan| -> Result<LogicalPlan> {
            PlanBuilder::from(rows)
                .project(vec![ident("customer_id"), lit(k as i32).alias("__which")])?
                .build()
        };
        if let Value::PastCampaigns(p) = v {
            for (s, response) in past_snapshots(catalog, p)? {
                let rows = if p.responded {
                    responders(catalog, s, response)?
                } else {
                    s.plan.clone()
                };
                let sent = PlanBuilder::from(rows)
                    .filter(ident("group").eq(lit("test")))?
                    .build()?;
                branches.push(tagged(sent)?);
            }
            continue;
        }
        let Value::Campaign(r) = v else { continue };
        for s in snapshots_read(catalog, r) {
            let rows = match (r.role, &r.response) {
                (CampaignRole::Treated, _) => PlanBuilder::from(s.plan.clone())
                    .filter(ident("group").eq(lit("test")))?
                    .build()?,
                (CampaignRole::HeldOut, _) => PlanBuilder::from(s.plan.clone())
                    .filter(ident("group").eq(lit("control")))?
                    .build()?,
                (CampaignRole::Responded, Some(resp)) => responders(catalog, s, resp)?,
                (CampaignRole::Responded, None) => {
                    return datafusion::common::plan_err!("`responded` without a response");
                }
            };
            branches.push(tagged(rows)?);
        }
    }
    let mut branches = branches.into_iter();
    let Some(first) = branches.next() else {
        // No snapshot is read: nobody is in any of them.
        let mut cols: Vec<Expr> = table
            .schema()
            .columns()
            .into_iter()
            .map(Expr::Column)
            .collect();
        cols.extend(values.iter().map(|v| none(v).alias(names.add(v))));
        return PlanBuilder::from(table).project(cols)?.build();
    };
    let mut union = LogicalPlanBuilder::from(first);
    for b in branches {
        union = union.union(b)?;
    }
    let aggs = (0..values.len())
        .map(|k| {
            Ok(count_all()
                .unalias()
                .filter(ident("__which").eq(lit(k as i32)))
                .build()?
                .alias(format!("__c{k}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let flags = PlanBuilder::from(union.build()?)
        .aggregate(vec![ident("customer_id")], aggs)?
        .build()?;
    let added = values
        .iter()
        .enumerate()
        .map(|(k, v)| {
            let n = qual("c", format!("__c{k}"));
            let e = match v {
                Value::PastCampaigns(_) => n,
                _ => n.gt(lit(0i64)),
            };
            (v, coalesce(vec![e, none(v)]))
        })
        .collect();
    join_by_customer(table, flags, "c", added, names)
}
