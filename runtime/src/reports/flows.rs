//! The flows report: per calendar month or quarter, the active customers at its start and
//! end, who entered (a first purchase in the period, or back from churned or lost) and who
//! left.

use super::common::{one_row, open_at};
use crate::{EngineOptions, Project, RuntimeError};
use chrono::{Datelike, NaiveDate};
use datafusion::arrow::array::{ArrayRef, AsArray, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{Field, Int64Type, Schema};
use datafusion::arrow::error::ArrowError;
use datafusion::common::{Column, ScalarValue};
use datafusion::functions::expr_fn::coalesce;
use datafusion::functions_aggregate::expr_fn::count;
use datafusion::logical_expr::{Expr, ExprFunctionExt, JoinType, LogicalPlanBuilder, ident, lit};
use segql_compiler::CompileError;
use segql_compiler::ir::{Metric, MetricKind, Stage, Value};
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
}

impl Every {
    /// Looks a period length up by the name the command line and the REPL accept.
    pub fn by_name(name: &str) -> Option<Every> {
        match name {
            "month" => Some(Every::Month),
            "quarter" => Some(Every::Quarter),
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
/// cut to `from` and `to`.
fn periods(every: Every, from: NaiveDate, to: NaiveDate) -> Vec<(String, NaiveDate, NaiveDate)> {
    let months = match every {
        Every::Month => 1,
        Every::Quarter => 3,
    };
    let first_month = (from.month0() / months) * months;
    let mut start = NaiveDate::from_ymd_opt(from.year(), first_month + 1, 1).expect("valid date");
    let mut out = Vec::new();
    while start <= to {
        let next = start + chrono::Months::new(months);
        let label = match every {
            Every::Month => start.format("%Y-%m").to_string(),
            Every::Quarter => format!("{}-Q{}", start.year(), start.month0() / 3 + 1),
        };
        // Periods at the edges are cut to the requested dates.
        let end = (next - chrono::Duration::days(1)).min(to);
        out.push((label, start.max(from), end));
        start = next;
    }
    out
}

/// The flows of `spec`, one row per period: the project's engine opened as of the day before
/// each period and as of its last day (with `options`, whose own as-of date is not used).
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
    let stage = Value::Lifecycle(scope.clone());
    let first = Value::Metric(Metric {
        kind: MetricKind::FirstPurchase,
        window: None,
        scope: scope.clone(),
    });
    let mut rows: Vec<FlowRow> = Vec::new();
    for (period, start, end) in periods(spec.every, spec.from, spec.to) {
        let mut plans = Vec::new();
        let mut last_engine = None;
        for (date, alias) in [(start - chrono::Duration::days(1), "a"), (end, "b")] {
            let engine = open_at(project, options, date).await?;
            if rows.is_empty() && alias == "b" {
                engine.check_partners(&scope).await?;
            }
            let values = [stage.clone(), first.clone()];
            let per_customer = segql_compiler::PerCustomer::build(&engine.catalog, &values, true)
                .map_err(CompileError::from)?;
            let plan = LogicalPlanBuilder::from(per_customer.plan.clone())
                .project(vec![
                    ident("customer_id"),
                    ident(per_customer.column(&stage).unwrap_or("customer_id")).alias("stage"),
                    ident(per_customer.column(&first).unwrap_or("customer_id")).alias("first"),
                ])
                .and_then(|b| b.alias(alias))
                .and_then(|b| b.build())
                .map_err(CompileError::from)?;
            plans.push(plan);
            last_engine = Some(engine);
        }
        let engine = last_engine.expect("two snapshots");
        let (after, before) = (plans.pop().expect("after"), plans.pop().expect("before"));
        let col = |t: &str, c: &str| Expr::Column(Column::new(Some(t), c));
        let start_lit = lit(ScalarValue::Date32(Some(
            (start - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32,
        )));
        // A customer missing before the period (no purchase yet, not yet signed up) was not
        // active.
        let active = |t: &str| {
            let live = ACTIVE.iter().map(|s| lit(s.name())).collect();
            coalesce(vec![col(t, "stage").in_list(live, false), lit(false)])
        };
        let (was, is) = (active("a"), active("b"));
        let plan = LogicalPlanBuilder::from(after)
            .join(
                before,
                JoinType::Left,
                (
                    vec![Column::new(Some("b"), "customer_id")],
                    vec![Column::new(Some("a"), "customer_id")],
                ),
                None,
            )
            .and_then(|b| {
                let counted = |cond: Expr| count(lit(1)).filter(cond).build();
                let entered = is.clone().and(was.clone().not());
                b.aggregate(
                    Vec::<Expr>::new(),
                    vec![
                        counted(was.clone())?.alias("active_at_start"),
                        counted(
                            entered
                                .clone()
                                .and(col("b", "first").gt_eq(start_lit.clone())),
                        )?
                        .alias("new_in"),
                        counted(entered.and(col("b", "first").lt(start_lit)))?.alias("returned"),
                        counted(was.and(is.clone().not()))?.alias("left"),
                        counted(is)?.alias("active_at_end"),
                    ],
                )
            })
            .and_then(|b| b.build())
            .map_err(CompileError::from)?;
        let b = one_row(&engine, plan, "flows").await?;
        let v = |i: usize| b.column(i).as_primitive::<Int64Type>().value(0);
        rows.push(FlowRow {
            period,
            start,
            end,
            active_at_start: v(0),
            new_in: v(1),
            returned: v(2),
            left: v(3),
            active_at_end: v(4),
        });
    }
    Ok(rows)
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
