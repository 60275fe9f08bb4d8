//! `segql history`: a segment's exact size as of the end of each period, who entered and
//! left since the previous end, and the members' turnover in the period with its share of
//! every customer's.
//!
//! Every point is the segment evaluated as of its date, as `segql run --count --as-of DATE`
//! evaluates it (a campaign's audience capped by its `limit`, both groups). The dates are
//! the day before `--from` (the baseline the first period's entered and left compare with,
//! not a row) and the last day of each period ([`super::flows::periods`]: calendar months,
//! quarters or ISO weeks, the first and last cut to `--from` and `--to`).
//!
//! All dates are evaluated from one engine, in one of two ways:
//! - **one pass** ([`segql_compiler::lower::lower_history`]), when every value of the
//!   definition is an aggregate of transactions, a lifecycle stage or an attribute and there
//!   is no `limit`: one scan and one aggregation by customer for many dates (at most
//!   [`AGGREGATES_PER_PASS`] aggregates), every date's aggregates side by side, members,
//!   movements and turnover summed in the same query. It reads the files: a few scans in
//!   all, and files grouped by customer suit its roll-up by receipt better than the copy in
//!   memory, ordered by date;
//! - **date by date** otherwise (ranks, contacts, campaigns' snapshots, a `limit`), or when
//!   asked ([`HistorySpec::each_date`]): the definition's own plan per date (with the
//!   members' turnover in the period as one more value), the members joined with the
//!   previous date's. The customers and communications are held in memory when they fit the
//!   budget ([`Warm`], the REPL's copy); the transactions too when asked
//!   ([`HistorySpec::transactions_in_memory`]: sorted by date, batches skipped by their
//!   dates' statistics), else they are read from the files for each date.

use super::common::one_row;
use super::flows::{Every, periods};
use super::kpis::Money;
use crate::cache::{Warm, catalog_of};
use crate::{Engine, EngineOptions, RuntimeError};
use chrono::{Duration, NaiveDate};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::compute::{filter, is_not_null};
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Field, Int64Type, Schema};
use datafusion::arrow::error::ArrowError;
use datafusion::catalog::MemTable;
use datafusion::datasource::provider_as_source;
use datafusion::functions_aggregate::count::count_all;
use datafusion::functions_aggregate::expr_fn::sum;
use datafusion::logical_expr::{
    Expr, ExprFunctionExt, JoinType, LogicalPlan, LogicalPlanBuilder, ident,
};
use segql_compiler::ir::Segment;
use segql_compiler::lower::{
    SPANNING, date_lit, history_aggregates, history_in_one_pass, history_narrows,
    lower_definition_with, lower_history, member_column, turnover_column, turnover_value,
};
use segql_compiler::{Catalog, CompileError, lower_definition};
use std::ops::Not;
use std::sync::Arc;

/// Aggregates per customer in one pass: each date adds its own (as many as the segment's
/// values need, plus the turnover), so the state held per customer grows with the dates; past
/// this many the dates are split into passes (each pass also evaluates the previous pass's
/// last date, which its first date's movements compare with). 96 holds 32 dates of a
/// segment of three aggregates: a year of weeks in two passes, about as fast as one pass in
/// less memory, and faster than four (bench/RESULTS.md, "segql history").
pub const AGGREGATES_PER_PASS: usize = 96;

/// The same when the receipt roll-up holds every date's aggregates too (receipts whose lines
/// are of several days): its state grows with the receipts, not the customers.
pub const AGGREGATES_PER_PASS_BY_DATE: usize = 12;

/// What to compute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistorySpec {
    /// The period length.
    pub every: Every,
    /// The first day covered.
    pub from: NaiveDate,
    /// The last day covered (not before `from`).
    pub to: NaiveDate,
    /// Date by date, the most memory the copy of the customers and communications (and of
    /// the transactions, with `transactions_in_memory`) may take, in bytes (`0`: read the
    /// files for each date).
    pub budget: u64,
    /// Evaluate date by date even where one pass could.
    pub each_date: bool,
    /// Date by date, hold the transactions in memory too (else only the customers and
    /// communications are held: see [`history`]).
    pub transactions_in_memory: bool,
}

/// One point: the segment as of the end of a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    /// `2026-03`, `2026-Q1` or `2026-W05`.
    pub period: String,
    /// The period's first day (`--from` for the first period).
    pub start: NaiveDate,
    /// The point's as-of date: the period's last day (`--to` for the last period).
    pub date: NaiveDate,
    /// Members as of `date`.
    pub members: i64,
    /// Members as of `date` who were not as of the previous point's date.
    pub entered: i64,
    /// Members as of the previous point's date who are not as of `date`.
    pub left: i64,
    /// The members' turnover in the period: `amount` summed over the lines of the members
    /// as of `date` dated from `start` to `date`.
    pub revenue: Money,
    /// Every customer's turnover in the period: `amount` summed over the lines with a
    /// customer id dated from `start` to `date`.
    pub turnover: Money,
}

impl HistoryRow {
    /// `revenue / turnover`; `None` when the period has no turnover.
    pub fn revenue_share(&self) -> Option<f64> {
        let t = self.turnover.as_f64();
        (t != 0.0).then(|| self.revenue.as_f64() / t)
    }
}

/// How the points were computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryPath {
    /// Several dates per scan and aggregation, in this many passes.
    OnePass {
        /// Scans: one per [`AGGREGATES_PER_PASS`] aggregates' worth of dates, and one more
        /// for a pass run again by date (receipts of several days).
        passes: usize,
    },
    /// One plan per date.
    EachDate,
}

/// The report.
#[derive(Debug, Clone)]
pub struct History {
    /// One row per period.
    pub rows: Vec<HistoryRow>,
    /// How they were computed.
    pub path: HistoryPath,
    /// The tables read from memory (`transactions`, `customers`, `communications`); the
    /// others were read from the files.
    pub in_memory: Vec<&'static str>,
    /// Transaction lines read from memory by every scan, summed (none from the files).
    pub rows_read: Option<u64>,
}

/// What a long run has done so far, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Reading the data into memory.
    Reading,
    /// Dates evaluated (the baseline included) of `total`; transaction lines read from
    /// memory so far (none when reading the files).
    Dates {
        /// Dates done.
        done: usize,
        /// Dates in all.
        total: usize,
        /// Lines read so far.
        rows_read: Option<u64>,
    },
}

fn plan_err(e: datafusion::error::DataFusionError) -> RuntimeError {
    CompileError::from(e).into()
}

/// The history of `segment` (resolved against `engine`, opened as of `spec.to` with
/// `options`, whose tables are read as the segment needs them). `progress` hears of every
/// step.
pub async fn history(
    engine: &mut Engine,
    options: &EngineOptions,
    segment: &Segment,
    spec: &HistorySpec,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<History, RuntimeError> {
    if spec.from > spec.to {
        return Err(RuntimeError::Usage {
            message: format!("--from ({}) is after --to ({})", spec.from, spec.to),
            help: None,
        });
    }
    let periods = periods(spec.every, spec.from, spec.to);
    // The baseline, then every period's end.
    let mut dates = vec![spec.from - Duration::days(1)];
    dates.extend(periods.iter().map(|(_, _, end)| *end));
    let one_pass = !spec.each_date && history_in_one_pass(segment);
    // Compiled once as of the last date, so that the tables the segment needs are read.
    engine
        .compile(|c| lower_definition(c, segment))
        .await?
        .map_err(CompileError::from)?;
    if one_pass {
        engine
            .compile(|c| lower_history(std::slice::from_ref(c), segment, &[1], true))
            .await?
            .map_err(CompileError::from)?;
    }
    // The one pass reads the files: a few scans in all, and the files' order (a customer's
    // lines together, as most exports are) suits its roll-up by receipt better than the
    // copy's order by date. Date by date, every date scans every table it needs: customers
    // and communications (CSV, parsed anew by each scan) are held in memory when they fit;
    // the transactions only when asked, since in the copy's order by date a plan that
    // aggregates most lines by customer runs slower than over files grouped by customer
    // (bench/RESULTS.md), however many batches the copy skips.
    let others = engine.tables.customers.is_some() || engine.tables.communications.is_some();
    let warm = if spec.budget == 0 || engine.rules().is_portable() || one_pass {
        None
    } else if spec.transactions_in_memory {
        progress(Progress::Reading);
        Some(Warm::load(engine, spec.budget).await)
    } else if others {
        progress(Progress::Reading);
        Some(Warm::load_beside_transactions(engine, spec.budget).await)
    } else {
        None
    };
    let in_memory: Vec<&'static str> = match &warm {
        None => Vec::new(),
        Some(w) => {
            let mut held = Vec::new();
            if w.transactions.is_some() {
                held.push("transactions");
            }
            if w.customers.is_some() {
                held.push("customers");
            }
            if w.communications.is_some() {
                held.push("communications");
            }
            held
        }
    };
    let base = catalog_of(engine, warm.as_ref())?;
    let mut catalogs = Vec::with_capacity(dates.len());
    for d in &dates {
        catalogs.push(catalog_at(engine, options, &base, *d).await?);
    }
    // Days of each point's turnover: its period's (none for the baseline).
    let days: Vec<u64> = std::iter::once(1)
        .chain(dates.windows(2).map(|w| (w[1] - w[0]).num_days() as u64))
        .collect();
    let scale = money_scale(&base.transactions);
    let mut reads = Reads {
        warm: warm.as_ref(),
        total: 0,
    };
    if let Some(w) = &warm {
        w.take_reads();
    }
    let total = dates.len();
    progress(Progress::Dates {
        done: 0,
        total,
        rows_read: reads.so_far(),
    });
    let (figures, path) = if one_pass {
        // Every customer's turnover comes from the pass, unless its scan keeps some
        // customers' lines out.
        let turnovers = if history_narrows(&base, segment) {
            Some(period_turnovers(engine, &base, &dates, scale).await?)
        } else {
            None
        };
        let mut figures = Vec::new();
        let mut start = 0;
        let mut passes = 0;
        // Receipts roll up by day until a pass finds one whose lines are of several days.
        let mut by_day = true;
        let per_date = history_aggregates(segment).max(1);
        while start + 1 < dates.len() {
            let budget = if by_day {
                AGGREGATES_PER_PASS
            } else {
                AGGREGATES_PER_PASS_BY_DATE
            };
            let mut end = (start + (budget / per_date).max(1)).min(dates.len() - 1);
            loop {
                let q = lower_history(&catalogs[start..=end], segment, &days[start..=end], by_day)
                    .map_err(plan_err)?;
                let (f, spanning) = one_pass_figures(engine, q.plan, end - start, scale).await?;
                passes += 1;
                if spanning == 0 || !by_day {
                    figures.extend(f);
                    break;
                }
                // A receipt of several days: this pass again, and every later one, with the
                // receipt roll-up by date (and fewer dates per pass).
                by_day = false;
                end =
                    (start + (AGGREGATES_PER_PASS_BY_DATE / per_date).max(1)).min(dates.len() - 1);
            }
            progress(Progress::Dates {
                done: end + 1,
                total,
                rows_read: reads.so_far(),
            });
            start = end;
        }
        if let Some(t) = turnovers {
            for (f, t) in figures.iter_mut().zip(t) {
                f.turnover = t;
            }
        }
        (figures, HistoryPath::OnePass { passes })
    } else {
        let turnovers = period_turnovers(engine, &base, &dates, scale).await?;
        let mut figures = Vec::new();
        // The previous date's members' ids, as a table the next date's members are joined
        // with (in DataFusion, not compared here).
        let mut previous: Option<LogicalPlan> = None;
        for (i, catalog) in catalogs.iter().enumerate() {
            let members = lower_definition_with(catalog, segment, &[turnover_value(days[i])])
                .map_err(plan_err)?;
            let id_field = members.plan.schema().field(0).as_ref().clone();
            let plan = match previous.take() {
                None => members.plan,
                Some(before) => against(members.plan, before).map_err(plan_err)?,
            };
            let batches = engine.collect(plan).await?;
            if i > 0 {
                let mut f = movement(&batches, scale)?;
                f.turnover = turnovers[i - 1];
                figures.push(f);
            }
            previous = Some(ids_table(&batches, id_field)?);
            progress(Progress::Dates {
                done: i + 1,
                total,
                rows_read: reads.so_far(),
            });
        }
        (figures, HistoryPath::EachDate)
    };
    let rows = periods
        .into_iter()
        .zip(figures)
        .map(|((period, start, date), f)| HistoryRow {
            period,
            start,
            date,
            members: f.members,
            entered: f.entered,
            left: f.left,
            revenue: Money {
                units: f.revenue,
                scale,
            },
            turnover: Money {
                units: f.turnover,
                scale,
            },
        })
        .collect();
    Ok(History {
        rows,
        path,
        in_memory,
        rows_read: reads.so_far(),
    })
}

/// Transaction lines read from memory since the start.
struct Reads<'a> {
    warm: Option<&'a Warm>,
    total: u64,
}

impl Reads<'_> {
    fn so_far(&mut self) -> Option<u64> {
        let w = self.warm.filter(|w| w.transactions.is_some())?;
        for r in w.take_reads() {
            if r.table == "transactions" {
                self.total += r.read.rows as u64;
            }
        }
        Some(self.total)
    }
}

/// `base` as of `date`: its date, and the lifecycle thresholds of partners derived from
/// their purchase gaps as of that date (the engine derives them as it opens).
async fn catalog_at(
    engine: &Engine,
    options: &EngineOptions,
    base: &Catalog,
    date: NaiveDate,
) -> Result<Catalog, RuntimeError> {
    let mut c = base.clone();
    c.as_of = date;
    if !engine.project.derived_partners().is_empty() && date != engine.catalog.as_of {
        let at = EngineOptions {
            as_of: Some(date),
            tables_when_needed: true,
            ..options.clone()
        };
        let other = Engine::open(engine.project.clone(), at, true).await?;
        c.partner_lifecycle = other.catalog.partner_lifecycle;
    }
    Ok(c)
}

/// The digits after the point of amounts (2 when they are not decimals).
fn money_scale(transactions: &LogicalPlan) -> u32 {
    match transactions
        .schema()
        .field_with_unqualified_name("amount")
        .map(|f| f.data_type().clone())
    {
        Ok(
            DataType::Decimal32(_, s)
            | DataType::Decimal64(_, s)
            | DataType::Decimal128(_, s)
            | DataType::Decimal256(_, s),
        ) => s.max(0) as u32,
        _ => 2,
    }
}

/// One point's figures, before its period's labels.
#[derive(Debug, Clone, Copy, Default)]
struct Figures {
    members: i64,
    entered: i64,
    left: i64,
    revenue: i128,
    turnover: i128,
}

/// Sums one pass's per-customer table (`dates` points after its first date) into one row:
/// per point its members, who entered and left since the date before, the members' turnover
/// and everyone's.
async fn one_pass_figures(
    engine: &Engine,
    plan: LogicalPlan,
    points: usize,
    scale: u32,
) -> Result<(Vec<Figures>, i64), RuntimeError> {
    let member = |i: usize| ident(member_column(i));
    let turnover = |i: usize| ident(turnover_column(i));
    let counted = |e: Expr| count_all().unalias().filter(e).build();
    let money = DataType::Decimal128(38, scale as i8);
    let summed = |e: Expr| datafusion::logical_expr::cast(e, money.clone());
    let mut totals = Vec::new();
    for i in 1..=points {
        let (was, is) = (member(i - 1), member(i));
        totals.extend([
            counted(is.clone()),
            counted(is.clone().and(was.clone().not())),
            counted(was.and(is.clone().not())),
            sum(summed(turnover(i))).filter(is).build(),
            Ok(sum(summed(turnover(i)))),
        ]);
    }
    totals.push(Ok(sum(ident(SPANNING))));
    let totals: Vec<Expr> = totals
        .into_iter()
        .enumerate()
        .map(|(k, e)| e.map(|e| e.alias(format!("__h{k}"))))
        .collect::<Result<_, _>>()
        .map_err(plan_err)?;
    let plan = LogicalPlanBuilder::from(plan)
        .aggregate(Vec::<Expr>::new(), totals)
        .and_then(|b| b.build())
        .map_err(plan_err)?;
    let b = one_row(engine, plan, "history").await?;
    let int = |k: usize| b.column(k).as_primitive::<Int64Type>().value(0);
    let units = |k: usize| -> Result<i128, RuntimeError> {
        Ok(money_units(b.column(k), scale)?
            .first()
            .copied()
            .unwrap_or(0))
    };
    let figures = (0..points)
        .map(|i| {
            let k = 5 * i;
            Ok(Figures {
                members: int(k),
                entered: int(k + 1),
                left: int(k + 2),
                revenue: units(k + 3)?,
                turnover: units(k + 4)?,
            })
        })
        .collect::<Result<_, RuntimeError>>()?;
    let spanning = cast(b.column(5 * points), &DataType::Int64)
        .map_err(|e| RuntimeError::data("reading the history", e.into()))?;
    let spanning = spanning.as_primitive::<Int64Type>();
    Ok((
        figures,
        if spanning.is_valid(0) {
            spanning.value(0)
        } else {
            0
        },
    ))
}

/// Amounts as units of `scale` (NULL as 0).
fn money_units(a: &ArrayRef, scale: u32) -> Result<Vec<i128>, RuntimeError> {
    let a = cast(a, &DataType::Decimal128(38, scale as i8))
        .map_err(|e| RuntimeError::data("reading amounts", e.into()))?;
    let a = a.as_primitive::<Decimal128Type>();
    Ok((0..a.len())
        .map(|r| if a.is_valid(r) { a.value(r) } else { 0 })
        .collect())
}

/// The lines with a customer id of `catalog` dated after `after` and up to `upto`.
fn lines_between(
    catalog: &Catalog,
    after: NaiveDate,
    upto: NaiveDate,
) -> datafusion::error::Result<LogicalPlanBuilder> {
    let ts = || ident("ts");
    LogicalPlanBuilder::from(catalog.transactions.clone()).filter(
        ident("customer_id")
            .is_not_null()
            .and(ts().gt(date_lit(after)))
            .and(ts().lt_eq(date_lit(upto))),
    )
}

/// Every customer's turnover in each period between consecutive `dates`, from one scan.
async fn period_turnovers(
    engine: &Engine,
    catalog: &Catalog,
    dates: &[NaiveDate],
    scale: u32,
) -> Result<Vec<i128>, RuntimeError> {
    let (Some(first), Some(last)) = (dates.first(), dates.last()) else {
        return Ok(Vec::new());
    };
    let ts = || ident("ts");
    let money = DataType::Decimal128(38, scale as i8);
    let sums = dates
        .windows(2)
        .enumerate()
        .map(|(i, w)| {
            sum(datafusion::logical_expr::cast(
                ident("amount"),
                money.clone(),
            ))
            .filter(ts().gt(date_lit(w[0])).and(ts().lt_eq(date_lit(w[1]))))
            .build()
            .map(|e| e.alias(format!("__t{i}")))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(plan_err)?;
    let plan = lines_between(catalog, *first, *last)
        .and_then(|b| b.aggregate(Vec::<Expr>::new(), sums))
        .and_then(|b| b.build())
        .map_err(plan_err)?;
    let b = one_row(engine, plan, "history's turnover").await?;
    (0..b.num_columns())
        .map(|i| Ok(money_units(b.column(i), scale)?[0]))
        .collect()
}

/// Today's members (`customer_id`, turnover) joined in full with the previous date's ids:
/// `customer_id` (today's, NULL for those who left), the previous id (NULL for those who
/// entered) and the turnover.
fn against(members: LogicalPlan, before: LogicalPlan) -> datafusion::error::Result<LogicalPlan> {
    let at = |relation: &str, name: &str| {
        Expr::Column(datafusion::common::Column::new(Some(relation), name))
    };
    LogicalPlanBuilder::from(members)
        .alias("c")?
        .join(
            LogicalPlanBuilder::from(before).alias("p")?.build()?,
            JoinType::Full,
            (
                vec![datafusion::common::Column::new(Some("c"), "customer_id")],
                vec![datafusion::common::Column::new(Some("p"), "customer_id")],
            ),
            None,
        )?
        .project(vec![
            at("c", "customer_id").alias("customer_id"),
            at("p", "customer_id").alias("previous"),
            at("c", "__extra_0").alias("turnover"),
        ])?
        .build()
}

/// The members' ids of a date's result (its first column, where not NULL) as a table.
fn ids_table(batches: &[RecordBatch], field: Field) -> Result<LogicalPlan, RuntimeError> {
    let arrow = |e: ArrowError| RuntimeError::data("holding the members", e.into());
    let schema = Arc::new(Schema::new(vec![field.with_nullable(true)]));
    let ids = batches
        .iter()
        .map(|b| {
            let id = b.column(0);
            let kept = filter(id, &is_not_null(id).map_err(arrow)?).map_err(arrow)?;
            RecordBatch::try_new(Arc::clone(&schema), vec![kept]).map_err(arrow)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let table = MemTable::try_new(schema, vec![ids])
        .map_err(|e| RuntimeError::data("holding the members", e))?;
    LogicalPlanBuilder::scan("previous", provider_as_source(Arc::new(table)), None)
        .and_then(|b| b.build())
        .map_err(plan_err)
}

/// A point's figures from [`against`]'s rows.
fn movement(batches: &[RecordBatch], scale: u32) -> Result<Figures, RuntimeError> {
    let mut f = Figures::default();
    for b in batches {
        let (is, was) = (b.column(0), b.column(1));
        let turnover = money_units(b.column(2), scale)?;
        for (r, t) in turnover.iter().enumerate() {
            match (is.is_valid(r), was.is_valid(r)) {
                (true, was) => {
                    f.members += 1;
                    f.entered += i64::from(!was);
                    f.revenue += t;
                }
                (false, true) => f.left += 1,
                (false, false) => {}
            }
        }
    }
    Ok(f)
}

/// The report as one record batch: `period`, `start`, `date`, `members`, `entered`, `left`,
/// `revenue` and `turnover` (exact decimals, as text), `revenue_share` (a fraction rounded
/// to 4 decimals, empty without turnover).
pub fn to_batch(rows: &[HistoryRow]) -> Result<RecordBatch, ArrowError> {
    let text = |f: &dyn Fn(&HistoryRow) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
    let int = |f: fn(&HistoryRow) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(rows.iter().map(f)))
    };
    let share: ArrayRef = Arc::new(Float64Array::from(
        rows.iter()
            .map(|r| r.revenue_share().map(|x| (x * 1e4).round() / 1e4))
            .collect::<Vec<_>>(),
    ));
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("period", text(&|r| r.period.clone())),
        ("start", text(&|r| r.start.to_string())),
        ("date", text(&|r| r.date.to_string())),
        ("members", int(|r| r.members)),
        ("entered", int(|r| r.entered)),
        ("left", int(|r| r.left)),
        ("revenue", text(&|r| r.revenue.to_string())),
        ("turnover", text(&|r| r.turnover.to_string())),
        ("revenue_share", share),
    ];
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), n == &"revenue_share"))
        .collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
}
