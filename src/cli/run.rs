//! `segql run`: who is in the segments, or how many.

use super::args::{DataArgs, OutputArgs};
use super::out::write_text;
use super::stages::{compile_err, load_guarded, lower_many, lower_one, select, write_batch};
use clap::Args;
use miette::{IntoDiagnostic, Result};
use segql_compiler::Query;
use segql_compiler::ir::Segment;
use segql_runtime::datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use segql_runtime::datafusion::arrow::datatypes::{DataType, Field, Schema};
use segql_runtime::datafusion::logical_expr::LogicalPlan;
use segql_runtime::{Engine, Format};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// `segql run`.
#[derive(Debug, Args)]
pub(super) struct RunArgs {
    /// Segment files. Their segments can be referenced by name in -e.
    files: Vec<PathBuf>,
    /// An expression to evaluate, e.g. 'recency < 30d and frequency >= 3'.
    #[arg(short = 'e', long = "expr", value_name = "EXPR")]
    expr: Option<String>,
    /// Segments to evaluate (repeatable). Default: every segment of the files.
    #[arg(short, long = "segment", value_name = "NAME", conflicts_with = "expr")]
    segment: Vec<String>,
    /// Print only the number of members.
    #[arg(long)]
    count: bool,
    /// Freeze the campaign's audience (members and groups) as a snapshot in the project's
    /// snapshot directory, as of the as-of date; an existing snapshot is never replaced.
    #[arg(long, conflicts_with_all = ["count", "expr"])]
    snapshot: bool,
    #[command(flatten)]
    out: OutputArgs,
    #[command(flatten)]
    data: DataArgs,
}

/// What `run` executes: the plans of its segments.
enum Planned {
    /// One segment or campaign.
    One(Query),
    /// Campaigns counted one by one (each is capped and split on its own).
    Each(Vec<Query>),
    /// Memberships of several segments.
    Many(Query),
}

/// Loads, selects, lowers, then runs and writes (see [`execute`]).
pub(super) async fn run(a: RunArgs) -> Result<ExitCode> {
    let (p, mut program) = load_guarded(&a.data, &a.files, a.out.path())?;
    let mut engine = a.data.engine_of(p, true, true).await?;
    let segments = select(&mut engine, &mut program, a.expr.as_deref(), &a.segment).await?;
    let format = a.out.format()?;
    if a.snapshot {
        if segments.len() != 1 {
            return Err(segql_runtime::RuntimeError::Usage {
                message: "a snapshot is of one campaign: name it with --segment".into(),
                help: None,
            }
            .into());
        }
        let q = lower_one(&mut engine, &segments[0]).await?;
        let said = crate::campaign::take_snapshot(&engine, &segments[0], &q).await?;
        outln!("{said}");
        return Ok(ExitCode::SUCCESS);
    }
    let planned = if segments.len() == 1 {
        Planned::One(lower_one(&mut engine, &segments[0]).await?)
    } else if a.count && segments.iter().any(|s| s.campaign.is_some()) {
        let mut each = Vec::new();
        for s in &segments {
            each.push(lower_one(&mut engine, s).await?);
        }
        Planned::Each(each)
    } else {
        Planned::Many(lower_many(&mut engine, &segments).await?)
    };
    // The run and the look-up of values that occur nowhere, side by side: a value that occurs
    // is found in the first rows, so the warnings cost the run almost nothing.
    let (warned, ran) = futures::join!(
        warn_unmatched(&engine, &segments),
        execute(&engine, planned, &a, &segments, format)
    );
    // The run's own result decides; a look-up that failed only costs its warnings.
    if let Err(e) = warned {
        eprintln!("warning: could not look up the segments' text values: {e}");
    }
    ran
}

/// Warns, on standard error, of text values the segments compare with that occur nowhere in
/// the data.
async fn warn_unmatched(engine: &Engine, segments: &[Segment]) -> Result<()> {
    let preds: Vec<&segql_compiler::ir::Pred> = segments.iter().map(|s| &s.pred).collect();
    let found = segql_runtime::reports::literals::unmatched_each(engine, &preds).await?;
    for (s, found) in segments.iter().zip(found) {
        for u in found {
            eprintln!("warning[segql::data::no_such_value]: {}: {u}", s.name);
        }
    }
    Ok(())
}

/// Runs what [`run`] planned and writes its result.
async fn execute(
    engine: &Engine,
    planned: Planned,
    a: &RunArgs,
    segments: &[Segment],
    format: Format,
) -> Result<ExitCode> {
    let out = a.out.path();
    match planned {
        Planned::One(q) if a.count => {
            let n = count(engine, q.count().map_err(compile_err)?).await?;
            if a.out.format.is_none() && out.is_none() {
                // On a terminal, what is counted; the plain number for scripts
                // (`n=$(segql run ... --count)`).
                use std::io::IsTerminal;
                let text = if std::io::stdout().is_terminal() {
                    format!(
                        "{} member{} of {} as of {}\n",
                        segql_runtime::output::thousands(&n.to_string()),
                        if n == 1 { "" } else { "s" },
                        segments[0].name,
                        engine.catalog.as_of
                    )
                } else {
                    format!("{n}\n")
                };
                write_text(None, &text)?;
            } else {
                write_batch(counts_batch(segments, &[n])?, format, out).await?;
            }
        }
        Planned::One(q) => {
            let stream = engine.stream(q.sorted().map_err(compile_err)?).await?;
            let rows = segql_runtime::output::write_stream(stream, format, out).await?;
            if format == Format::Table || out.is_some() {
                eprintln!(
                    "{}: {rows} member{} as of {}",
                    segments[0].name,
                    if rows == 1 { "" } else { "s" },
                    engine.catalog.as_of
                );
            }
        }
        Planned::Each(qs) => {
            let mut counts = Vec::new();
            for q in qs {
                counts.push(count(engine, q.count().map_err(compile_err)?).await?);
            }
            write_batch(counts_batch(segments, &counts)?, format, out).await?;
        }
        Planned::Many(q) if a.count => {
            write_batch(segment_counts(engine, &q, segments).await?, format, out).await?;
        }
        Planned::Many(q) => {
            let stream = engine.stream(q.sorted().map_err(compile_err)?).await?;
            let rows = segql_runtime::output::write_stream(stream, format, out).await?;
            if format == Format::Table || out.is_some() {
                eprintln!(
                    "{rows} customers in at least one of {} segments as of {}",
                    segments.len(),
                    engine.catalog.as_of
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The single number a count plan returns.
async fn count(engine: &Engine, plan: LogicalPlan) -> Result<i64> {
    let batches = engine.collect(plan).await?;
    Ok(first_count(&batches, 0))
}

/// Column `i` of the first row of `batches`, a count (0 without rows).
fn first_count(batches: &[RecordBatch], i: usize) -> i64 {
    batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .and_then(|b| {
            b.column(i)
                .as_any()
                .downcast_ref::<Int64Array>()
                .map(|a| a.value(0))
        })
        .unwrap_or(0)
}

/// Per segment: name, description and member count, from one pass over the memberships.
async fn segment_counts(engine: &Engine, q: &Query, segments: &[Segment]) -> Result<RecordBatch> {
    use segql_runtime::datafusion::functions_aggregate::expr_fn::count;
    use segql_runtime::datafusion::logical_expr::{
        Expr, ExprFunctionExt, LogicalPlanBuilder, ident, lit,
    };
    // The membership columns, as the plan named them (names are made unique there).
    let columns: Vec<String> = q
        .plan
        .schema()
        .fields()
        .iter()
        .skip(1)
        .map(|f| f.name().clone())
        .collect();
    let aggs = columns
        .iter()
        .map(|c| count(lit(1)).filter(ident(c)).build().map(|e| e.alias(c)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(compile_err)?;
    let plan = LogicalPlanBuilder::from(q.plan.clone())
        .aggregate(Vec::<Expr>::new(), aggs)
        .and_then(|b| b.build())
        .map_err(compile_err)?;
    let batches = engine.collect(plan).await?;
    let counts: Vec<i64> = (0..segments.len())
        .map(|i| first_count(&batches, i))
        .collect();
    counts_batch(segments, &counts)
}

/// One row per segment: name, description and member count.
fn counts_batch(segments: &[Segment], counts: &[i64]) -> Result<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("segment", DataType::Utf8, false),
        Field::new("description", DataType::Utf8, true),
        Field::new("members", DataType::Int64, false),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            segments.iter().map(|s| s.name.as_str()),
        )),
        Arc::new(StringArray::from_iter(
            segments.iter().map(|s| s.description.as_deref()),
        )),
        Arc::new(Int64Array::from(counts.to_vec())),
    ];
    RecordBatch::try_new(schema, cols).into_diagnostic()
}
