//! The flows report: per calendar month or quarter, the active customers at its start and
//! end, who entered (a first purchase in the period, or back from churned or lost) and who
//! left.

use super::common::{one_row, open_at};
use crate::{EngineOptions, Project, RuntimeError};
use chrono::{Datelike, Duration, NaiveDate};
use datafusion::arrow::array::{ArrayRef, AsArray, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{Field, Int64Type, Schema};
use datafusion::arrow::error::ArrowError;
use datafusion::functions_aggregate::expr_fn::{count, min};
use datafusion::logical_expr::{Expr, ExprFunctionExt, LogicalPlanBuilder, ident, lit};
use segql_compiler::CompileError;
use segql_compiler::ir::Stage;
use segql_compiler::lower::date_lit;
use std::ops::Not;
use std::sync::Arc;

/// The stages of an active customer: before churn.
pub const ACTIVE: [Stage; 3] = [Stage::New, Stage::Active, Stage::AtRisk];

/// The length of a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Every {
    /// Calendar months.
    Month,
    /// Calendar quarters.
    Quarter,
    /// ISO weeks, Monday to Sunday.
    Week,
}

impl Every {
    /// Looks a period length up by the name the command line and the REPL accept.
    pub fn by_name(name: &str) -> Option<Every> {
        match name {
            "month" => Some(Every::Month),
            "quarter" => Some(Every::Quarter),
            "week" => Some(Every::Week),
            _ => None,
        }
    }
}

/// What to count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowsSpec {
    /// The period length.
    pub every: Every,
    /// The first day covered.
    pub from: NaiveDate,
    /// The last day covered (not before `from`).
    pub to: NaiveDate,
    /// Flows at this partner only.
    pub partner: Option<String>,
}

/// The flows of one period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRow {
    /// `2026-03` or `2026-Q1`.
    pub period: String,
    /// Its first day (the report's first day for the first period).
    pub start: NaiveDate,
    /// Its last day (the report's last day for the last period).
    pub end: NaiveDate,
    /// Customers active the day before `start`.
    pub active_at_start: i64,
    /// Customers who became active with their first purchase in the period.
    pub new_in: i64,
    /// Customers who became active again (bought before the period).
    pub returned: i64,
    /// Customers active before the period and not at its end.
    pub left: i64,
    /// Customers active on `end`.
    pub active_at_end: i64,
}

impl FlowRow {
    /// Customers in minus customers out.
    pub fn balance(&self) -> i64 {
        self.new_in + self.returned - self.left
    }
}

/// Calendar periods covering `from..=to`: (label, first day, last day), the first and last
/// cut to `from` and `to`. Weeks are ISO weeks (Monday to Sunday, labelled `2026-W05` by
/// their ISO year).
pub fn periods(
    every: Every,
    from: NaiveDate,
    to: NaiveDate,
) -> Vec<(String, NaiveDate, NaiveDate)> {
    let months = match every {
        Every::Month => 1,
        Every::Quarter => 3,
        Every::Week => {
            let mut start = from - Duration::days(from.weekday().num_days_from_monday().into());
            let mut out = Vec::new();
            while start <= to {
                let end = (start + Duration::days(6)).min(to);
                out.push((start.format("%G-W%V").to_string(), start.max(from), end));
                start += Duration::days(7);
            }
            return out;
        }
    };
    let first_month = (from.month0() / months) * months;
    let mut start = NaiveDate::from_ymd_opt(from.year(), first_month + 1, 1).expect("valid date");
    let mut out = Vec::new();
    while start <= to {
        let next = start + chrono::Months::new(months);
        let label = match every {
            Every::Month => start.format("%Y-%m").to_string(),
            Every::Quarter => format!("{}-Q{}", start.year(), start.month0() / 3 + 1),
            Every::Week => unreachable!("weeks are made above"),
        };
        // Periods at the edges are cut to the requested dates.
        let end = (next - chrono::Duration::days(1)).min(to);
        out.push((label, start.max(from), end));
        start = next;
    }
    out
}

/// The flows of `spec`, one row per period, from one scan of the transactions up to `to`
/// (the project's engine opened as of `to`, with `options`, whose own as-of date is not used).
///
/// A customer is active on a day `d` (stage `new`, `active` or `at_risk` as of `d`) exactly
/// when they bought in the `churned_days` up to `d`, or their first purchase lies less than
/// `new_days` before `d` (the stages' definitions in `compiler/src/lower/columns.rs`, at the
/// partner's thresholds). So one aggregation by customer gives, for every period boundary,
/// whether each customer was active then, and one aggregation over those gives every row.
pub async fn flows(
    project: &Project,
    options: &EngineOptions,
    spec: &FlowsSpec,
) -> Result<Vec<FlowRow>, RuntimeError> {
    if spec.from > spec.to {
        return Err(RuntimeError::Usage {
            message: format!("--from ({}) is after --to ({})", spec.from, spec.to),
            help: None,
        });
    }
    let scope: Vec<String> = spec.partner.iter().cloned().collect();
    let engine = open_at(project, options, spec.to).await?;
    engine.check_partners(&scope).await?;
    let t = engine.catalog.lifecycle_for(&scope);
    let periods = periods(spec.every, spec.from, spec.to);
    // Every day a period starts after or ends on, once.
    let mut days: Vec<NaiveDate> = periods
        .iter()
        .flat_map(|(_, start, end)| [*start - Duration::days(1), *end])
        .collect();
    days.sort();
    days.dedup();
    let day = date_lit;
    let back = |d: NaiveDate, n: u32| day(d - Duration::days(n.into()));
    let ts = || ident("ts");
    let mut lines = LogicalPlanBuilder::from(engine.catalog.transactions.clone())
        .filter(ts().lt_eq(day(spec.to)))
        .map_err(CompileError::from)?;
    if !scope.is_empty() {
        let partners = scope.iter().map(|p| lit(p.as_str())).collect();
        lines = lines
            .filter(ident("partner").in_list(partners, false))
            .map_err(CompileError::from)?;
    }
    let recent = |i: usize| format!("__bought_by_{i}");
    let mut per_customer = vec![min(ts()).alias("first")];
    for (i, d) in days.iter().enumerate() {
        let within = ts().gt(back(*d, t.churned_days)).and(ts().lt_eq(day(*d)));
        per_customer.push(
            count(lit(1))
                .filter(within)
                .build()
                .map_err(CompileError::from)?
                .alias(recent(i)),
        );
    }
    // Active on `days[i]`: a purchase in the churned_days up to it, or newly arrived.
    let active = |d: NaiveDate| {
        let i = days.binary_search(&d).expect("a boundary day");
        let first = ident("first");
        ident(recent(i)).gt(lit(0i64)).or(first
            .clone()
            .lt_eq(day(d))
            .and(first.gt(back(d, t.new_days))))
    };
    let counted = |cond: Expr, name: String| -> Result<Expr, RuntimeError> {
        Ok(count(lit(1))
            .filter(cond)
            .build()
            .map_err(CompileError::from)?
            .alias(name))
    };
    let mut totals = Vec::new();
    for (i, (_, start, end)) in periods.iter().enumerate() {
        let (was, is) = (active(*start - Duration::days(1)), active(*end));
        let entered = is.clone().and(was.clone().not());
        let first = ident("first");
        totals.push(counted(was.clone(), format!("active_at_start_{i}"))?);
        totals.push(counted(
            entered.clone().and(first.clone().gt_eq(day(*start))),
            format!("new_in_{i}"),
        )?);
        totals.push(counted(
            entered.and(first.lt(day(*start))),
            format!("returned_{i}"),
        )?);
        totals.push(counted(was.and(is.clone().not()), format!("left_{i}"))?);
        totals.push(counted(is, format!("active_at_end_{i}"))?);
    }
    let plan = lines
        .aggregate(vec![ident("customer_id")], per_customer)
        .and_then(|b| b.aggregate(Vec::<Expr>::new(), totals))
        .and_then(|b| b.build())
        .map_err(CompileError::from)?;
    let b = one_row(&engine, plan, "flows").await?;
    let v = |i: usize| b.column(i).as_primitive::<Int64Type>().value(0);
    Ok(periods
        .into_iter()
        .enumerate()
        .map(|(i, (period, start, end))| FlowRow {
            period,
            start,
            end,
            active_at_start: v(5 * i),
            new_in: v(5 * i + 1),
            returned: v(5 * i + 2),
            left: v(5 * i + 3),
            active_at_end: v(5 * i + 4),
        })
        .collect())
}

/// The report as one record batch: `period`, `start`, `end`, the counts and the `balance`.
pub fn to_batch(rows: &[FlowRow]) -> Result<RecordBatch, ArrowError> {
    let text = |f: fn(&FlowRow) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
    let number = |f: fn(&FlowRow) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(rows.iter().map(f)))
    };
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("period", text(|r| r.period.clone())),
        ("start", text(|r| r.start.to_string())),
        ("end", text(|r| r.end.to_string())),
        ("active_at_start", number(|r| r.active_at_start)),
        ("new_in", number(|r| r.new_in)),
        ("returned", number(|r| r.returned)),
        ("left", number(|r| r.left)),
        ("balance", number(FlowRow::balance)),
        ("active_at_end", number(|r| r.active_at_end)),
    ];
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), false))
        .collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
}
