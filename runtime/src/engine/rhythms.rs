//! Data-driven lifecycle thresholds: a partner's own purchase rhythm, from the gaps between
//! its customers' consecutive purchase days. The engine derives partners' thresholds from
//! it as it opens; the `lifecycle-thresholds` report prints it (`cli/reports.rs`).
//!
//! For each partner, every customer's consecutive purchase days there (up to the as-of date)
//! give gaps in days. The suggested thresholds are: `at_risk_days` = the 80th percentile of
//! the gaps (most customers come back sooner), `churned_days` = the 95th percentile (the
//! "breaking point": past it, a customer is probably leaving), `lost_days` = twice that.
//! Percentiles are nearest-rank: the smallest gap with at least p% of the gaps at or below it.

use super::Engine;
use crate::error::RuntimeError;
use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::functions_aggregate::expr_fn::count;
use datafusion::logical_expr::{Expr, ExprFunctionExt, LogicalPlanBuilder, cast, ident, lit};
use segql_compiler::LifecycleThresholds;
use std::collections::BTreeMap;

/// What the gaps of one partner give.
#[derive(Debug, Clone, PartialEq)]
pub struct PartnerRhythm {
    /// The partner.
    pub partner: String,
    /// Customers with a purchase there.
    pub buyers: u64,
    /// Customers with at least two purchase days there (whose gaps are counted).
    pub repeat_customers: u64,
    /// Gaps counted.
    pub gaps: u64,
    /// Median gap in days.
    pub median: u64,
    /// 80th percentile.
    pub p80: u64,
    /// 95th percentile.
    pub p95: u64,
    /// The suggested thresholds (new_days from the project).
    pub thresholds: LifecycleThresholds,
}

/// Nearest-rank percentile of a histogram of gaps (gap -> count), sorted by gap.
fn percentile(hist: &[(u64, u64)], total: u64, p: u64) -> u64 {
    let rank = (p * total).div_ceil(100).max(1);
    let mut seen = 0;
    for (gap, n) in hist {
        seen += n;
        if seen >= rank {
            return *gap;
        }
    }
    hist.last().map_or(0, |h| h.0)
}

/// The rhythm of every partner (or of `only` those), as of the engine's date.
pub async fn partner_rhythms(
    engine: &Engine,
    only: &[String],
) -> Result<Vec<PartnerRhythm>, RuntimeError> {
    if !engine.catalog.has_tx_column("partner") {
        return Err(RuntimeError::Usage {
            message: "the transactions have no `partner` column".into(),
            help: Some("map one under [transactions.columns] in segql.toml".into()),
        });
    }
    let as_of = engine.catalog.as_of;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
    let as_of_lit = lit(datafusion::common::ScalarValue::Date32(Some(
        (as_of - epoch).num_days() as i32,
    )));
    let mut filter = ident("customer_id")
        .is_not_null()
        .and(ident("partner").is_not_null())
        .and(ident("ts").lt_eq(as_of_lit));
    if !only.is_empty() {
        filter = filter
            .and(ident("partner").in_list(only.iter().map(|p| lit(p.as_str())).collect(), false));
    }
    let day = cast(cast(ident("ts"), DataType::Int32), DataType::Int64);
    let previous = datafusion::functions_window::expr_fn::lag(ident("day"), Some(1), None)
        .partition_by(vec![ident("customer_id"), ident("partner")])
        .order_by(vec![ident("day").sort(true, true)])
        .build()
        .map_err(|e| RuntimeError::data("planning the gaps", e))?;
    let days = LogicalPlanBuilder::from(engine.tables.transactions.clone())
        .filter(filter)
        .and_then(|b| {
            b.aggregate(
                vec![ident("customer_id"), ident("partner"), day.alias("day")],
                Vec::<Expr>::new(),
            )
        })
        .and_then(|b| b.build())
        .map_err(|e| RuntimeError::data("planning the gaps", e))?;
    let plan = LogicalPlanBuilder::from(days.clone())
        .window(vec![previous.clone()])
        .and_then(|b| {
            let prev_col = ident(previous.schema_name().to_string());
            b.project(vec![
                ident("customer_id"),
                ident("partner"),
                (ident("day") - prev_col).alias("gap"),
            ])
        })
        .and_then(|b| b.filter(ident("gap").is_not_null()))
        .and_then(|b| b.build())
        .map_err(|e| RuntimeError::data("planning the gaps", e))?;
    let histogram = LogicalPlanBuilder::from(plan.clone())
        .aggregate(
            vec![ident("partner"), ident("gap")],
            vec![count(lit(1)).alias("n")],
        )
        .and_then(|b| b.build())
        .map_err(|e| RuntimeError::data("planning the gaps", e))?;
    // Per partner, from the purchase days: buyers, and those with two days or more (the
    // customers whose gaps are counted).
    let customers = LogicalPlanBuilder::from(days)
        .aggregate(
            vec![ident("customer_id"), ident("partner")],
            vec![count(lit(1)).alias("days")],
        )
        .and_then(|b| {
            let repeat = count(lit(1))
                .filter(ident("days").gt(lit(1i64)))
                .build()?
                .alias("repeat");
            b.aggregate(
                vec![ident("partner")],
                vec![count(lit(1)).alias("buyers"), repeat],
            )
        })
        .and_then(|b| b.build())
        .map_err(|e| RuntimeError::data("planning the gaps", e))?;
    let batches = engine.collect(histogram).await?;
    let customers = per_partner_counts(engine, customers).await?;
    // partner -> (gap -> count)
    let mut hists: BTreeMap<String, BTreeMap<u64, u64>> = BTreeMap::new();
    for b in &batches {
        let partner = datafusion::arrow::compute::cast(b.column(0), &DataType::Utf8)
            .map_err(|e| RuntimeError::data("reading partners", e.into()))?;
        let partner = partner.as_string::<i32>();
        let gap = b.column(1).as_primitive::<Int64Type>();
        let n = b.column(2).as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            *hists
                .entry(partner.value(i).to_string())
                .or_default()
                .entry(gap.value(i).max(0) as u64)
                .or_default() += n.value(i) as u64;
        }
    }
    let base = engine.catalog.lifecycle;
    Ok(hists
        .into_iter()
        .map(|(partner, h)| {
            let hist: Vec<(u64, u64)> = h.into_iter().collect();
            let total: u64 = hist.iter().map(|x| x.1).sum();
            let p80 = percentile(&hist, total, 80).max(1);
            let p95 = percentile(&hist, total, 95).max(p80 + 1);
            PartnerRhythm {
                buyers: customers.get(&partner).map_or(0, |c| c.0),
                repeat_customers: customers.get(&partner).map_or(0, |c| c.1),
                gaps: total,
                median: percentile(&hist, total, 50),
                p80,
                p95,
                thresholds: LifecycleThresholds {
                    new_days: base.new_days,
                    at_risk_days: p80 as u32,
                    churned_days: p95 as u32,
                    lost_days: (2 * p95) as u32,
                },
                partner,
            }
        })
        .collect())
}

/// (buyers, repeat customers) per partner, from a plan of (partner, buyers, repeat) rows.
async fn per_partner_counts(
    engine: &Engine,
    plan: datafusion::logical_expr::LogicalPlan,
) -> Result<BTreeMap<String, (u64, u64)>, RuntimeError> {
    let mut out = BTreeMap::new();
    for b in engine.collect(plan).await? {
        let partner = datafusion::arrow::compute::cast(b.column(0), &DataType::Utf8)
            .map_err(|e| RuntimeError::data("reading partners", e.into()))?;
        let partner = partner.as_string::<i32>();
        let (buyers, repeat) = (
            b.column(1).as_primitive::<Int64Type>(),
            b.column(2).as_primitive::<Int64Type>(),
        );
        for i in 0..b.num_rows() {
            out.insert(
                partner.value(i).to_string(),
                (buyers.value(i) as u64, repeat.value(i) as u64),
            );
        }
    }
    Ok(out)
}
