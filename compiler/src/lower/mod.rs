//! Lowering: resolved segments to a DataFusion logical plan.
//!
//! Whatever the number of conditions, a segment becomes
//! one scan of transactions (only the needed columns, time-filtered to the widest window)
//! -> semi joins keeping only the lines of customers who can be members, when top-level
//! conditions tell (attributes, `recency < d`; see [`ScanHints`])
//! -> one aggregation by customer, each condition's measure an aggregate with its own FILTER
//! -> customers of lapsed lifecycle stages with a too recent last purchase dropped
//! -> a join with customers only where attributes or customers without purchases matter
//! -> one projection of the per-customer values ([`PerCustomer`]) -> one filter -> the
//! requested columns.
//!
//! The steps, one module each, in order: `hints` (what the predicate tells the scan),
//! `aggregates` (the aggregates the values read), `scan` (the scan and its aggregation by
//! customer, through `first_purchase` windows and the `receipts` roll-up), `customers` (the
//! customers join), `columns` (one column per value), `contacts` (messages), `ranks`
//! (population-relative values), `models` (features and the values models compute; with
//! `scores`, response scores and their ranks), `lookalike` (look-alike audiences). `per_customer` chains them into a [`PerCustomer`] table;
//! `conditions` turns predicates into expressions over its columns; `truth` decides
//! predicates for customers without purchases or without a customers row before any data is
//! read; `exprs` holds the expression helpers they share.

mod aggregates;
mod campaigns;
mod columns;
mod conditions;
mod contacts;
mod customers;
mod exprs;
mod first_purchase;
mod hints;
mod history;
mod lookalike;
mod models;
mod per_customer;
mod ranks;
mod receipts;
mod scan;
mod scores;
mod truth;

pub use campaigns::{responders, response_catalog, snapshots_read};
pub use exprs::{date_lit, number_scalar, upcoming_keys};
pub use hints::{ScanHints, needs_full_base, scan_hints};
pub use history::{
    SPANNING, history_aggregates, history_in_one_pass, history_narrows, lower_definition_with,
    lower_history, member_column, turnover_column, turnover_value,
};
pub use lookalike::{CONSTANT, SPREAD_FLOOR};
pub use models::{lower_features, lower_top_values};
pub use per_customer::PerCustomer;

use crate::builder::PlanBuilder;
use crate::catalog::Catalog;
use crate::ir::*;
use datafusion::common::Result;
use datafusion::functions_aggregate::count::count_all;
use datafusion::logical_expr::{Expr, LogicalPlan, SortExpr, ident, lit, when};
use exprs::unique;
use std::collections::BTreeMap;

/// A lowered query: the members (unsorted) with their output columns.
#[derive(Debug, Clone)]
pub struct Query {
    /// The plan producing one row per member.
    pub plan: LogicalPlan,
}

impl Query {
    /// The members sorted by `customer_id`.
    pub fn sorted(&self) -> Result<LogicalPlan> {
        PlanBuilder::from(self.plan.clone())
            .sort(vec![SortExpr::new(ident("customer_id"), true, true)])?
            .build()
    }

    /// One row, one column `members`: how many rows the query has.
    pub fn count(&self) -> Result<LogicalPlan> {
        PlanBuilder::from(self.plan.clone())
            .aggregate(Vec::<Expr>::new(), vec![count_all().alias("members")])?
            .build()
    }
}

/// The per-customer table of one predicate's members: `values` (at least those `pred`
/// reads), the scan narrowed by the predicate's hints.
fn per_customer_of(catalog: &Catalog, pred: &Pred, values: &[Value]) -> Result<PerCustomer> {
    let hints = scan_hints(catalog, pred);
    PerCustomer::build_with(catalog, values, needs_full_base(&[pred]), &hints)
}

/// Members of one segment: `customer_id` plus every value its conditions read.
pub fn lower_segment(catalog: &Catalog, pred: &Pred) -> Result<Query> {
    per_customer_of(catalog, pred, &pred.values())?.members(pred)
}

/// The members of a resolved definition: [`lower_campaign`] for a campaign, else
/// [`lower_segment`] of its condition.
pub fn lower_definition(catalog: &Catalog, seg: &Segment) -> Result<Query> {
    match seg.campaign {
        Some(_) => lower_campaign(catalog, seg),
        None => lower_segment(catalog, &seg.pred),
    }
}

/// Members of a campaign: its segment, capped by `limit` (ranked by its value, ties by id),
/// and split into `group` = `test` or `control` by the customer's holdout bucket.
pub fn lower_campaign(catalog: &Catalog, seg: &Segment) -> Result<Query> {
    lower_campaign_with(catalog, seg, &[])
}

/// [`lower_campaign`] with the members' `extra` values after its columns, as `__extra_0`,
/// `__extra_1`, ... (the same members).
fn lower_campaign_with(catalog: &Catalog, seg: &Segment, extra: &[Value]) -> Result<Query> {
    let spec = seg.campaign.clone().unwrap_or(CampaignSpec {
        holdout_bp: 0,
        limit: None,
        response: None,
    });
    let mut values = seg.pred.values();
    if let Some((_, Some(v), _)) = &spec.limit
        && !values.contains(v)
    {
        values.push(v.clone());
    }
    let mut read = values.clone();
    for v in extra {
        if !read.contains(v) {
            read.push(v.clone());
        }
    }
    let table = per_customer_of(catalog, &seg.pred, &read)?;
    let mut b = PlanBuilder::from(table.filtered(&seg.pred)?);
    if let Some((n, by, desc)) = &spec.limit {
        let mut order = Vec::new();
        if let Some(v) = by {
            order.push(SortExpr::new(ident(&table.names[v]), !desc, false));
        }
        order.push(SortExpr::new(ident("customer_id"), true, true));
        b = b.sort_with_limit(order, Some(*n as usize))?;
    }
    let group = when(
        crate::udf::bucket_expr(&seg.name, ident("customer_id")).lt(lit(spec.holdout_bp)),
        lit("control"),
    )
    .otherwise(lit("test"))?;
    let mut cols = vec![ident("customer_id"), group.alias("group")];
    cols.extend(values.iter().map(|v| ident(&table.names[v])));
    for (k, v) in extra.iter().enumerate() {
        cols.push(ident(&table.names[v]).alias(format!("__extra_{k}")));
    }
    Ok(Query {
        plan: b.project(cols)?.build()?,
    })
}

/// Memberships of several segments at once: `customer_id` and one true/false column per
/// segment, for customers in at least one of them. One scan and one aggregation serve all.
pub fn lower_memberships(catalog: &Catalog, segments: &[Segment]) -> Result<Query> {
    let mut values = Vec::new();
    for s in segments {
        for v in s.pred.values() {
            if !values.contains(&v) {
                values.push(v);
            }
        }
    }
    let preds: Vec<&Pred> = segments.iter().map(|s| &s.pred).collect();
    let table = PerCustomer::build(catalog, &values, needs_full_base(&preds))?;
    let mut cols = vec![ident("customer_id")];
    let mut any = Vec::new();
    let mut taken = BTreeMap::new();
    taken.insert("customer_id".to_string(), ());
    for s in segments {
        let e = table.condition(&s.pred);
        any.push(table.filter_condition(&s.pred));
        let name = unique(s.name.clone(), &taken);
        taken.insert(name.clone(), ());
        cols.push(e.alias(name));
    }
    let any = any.into_iter().reduce(Expr::or).unwrap_or(lit(false));
    let plan = PlanBuilder::from(table.plan.clone())
        .filter(any)?
        .project(cols)?
        .build()?;
    Ok(Query { plan })
}
