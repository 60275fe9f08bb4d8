//! Command-line arguments and the commands behind them.

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand, ValueEnum};
use miette::{IntoDiagnostic, Report, Result};
use segql_compiler::ir::Segment;
use segql_compiler::{Program, lower_memberships, resolve_expr, resolve_segment};
use segql_runtime::config::FileFormat;
use segql_runtime::datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use segql_runtime::datafusion::arrow::datatypes::{DataType, Field, Schema};
use segql_runtime::datafusion::error::DataFusionError;
use segql_runtime::{Engine, EngineOptions, Format, Project, RuntimeError};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// `println!` through [`print_out`]: a reader that went away ends the output quietly.
macro_rules! outln {
    ($($arg:tt)*) => {
        print_out(&format!("{}\n", format_args!($($arg)*)))?
    };
}

/// segql: customer segments for loyalty and CRM marketing, written as declarative conditions.
#[derive(Debug, Parser)]
#[command(name = "segql", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Evaluate segments: who is in them (or how many).
    Run(RunArgs),
    /// Parse, resolve and type-check segment files against the data's schema, without
    /// scanning the data; with --data, read all the data and report what a run skips or
    /// decides quietly, with counts. Exits 1 when there are errors (warnings alone: 0).
    Check(CheckArgs),
    /// Print the plan of a segment at each stage.
    Explain(ExplainArgs),
    /// Generate a deterministic coalition-loyalty data set.
    Demo(DemoArgs),
    /// Explore segments interactively: members, shares and revenue at once.
    Repl(ReplArgs),
    /// Compare segments: size, revenue, average check, purchases and recency, side by side.
    Profile(ProfileArgs),
    /// Who became whom between two dates: lifecycle stages, RFM segments or ABC tiers.
    Transitions(TransitionsArgs),
    /// Per month or quarter: new customers in, customers churned out, and the balance.
    Flows(FlowsArgs),
    /// Suggest each partner's lifecycle thresholds from its customers' purchase gaps.
    LifecycleThresholds(ThresholdArgs),
}

#[derive(Debug, Args)]
struct ThresholdArgs {
    /// Only these partners (repeatable). Default: every partner.
    #[arg(long, value_name = "PARTNER")]
    partner: Vec<String>,
    /// Output format (table also prints a segql.toml snippet).
    #[arg(long, value_enum)]
    format: Option<OutFormat>,
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Every {
    /// Calendar months.
    Month,
    /// Calendar quarters.
    Quarter,
}

#[derive(Debug, Args)]
struct FlowsArgs {
    /// Period length.
    #[arg(long, value_enum, default_value = "quarter")]
    every: Every,
    /// First day covered (its period starts at the period's first day).
    #[arg(long, value_parser = parse_date)]
    from: NaiveDate,
    /// Last day covered.
    #[arg(long, value_parser = parse_date)]
    to: NaiveDate,
    /// Flows at this partner only.
    #[arg(long, value_name = "PARTNER")]
    partner: Option<String>,
    /// Output format.
    #[arg(long, value_enum)]
    format: Option<OutFormat>,
    /// Write to this file (atomically) instead of standard output.
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum TransitionBy {
    /// Lifecycle stages (at --partner, when given).
    Lifecycle,
    /// Named RFM segments.
    #[value(name = "rfm_segment", alias = "rfm-segment")]
    RfmSegment,
    /// ABC tiers.
    Abc,
}

#[derive(Debug, Args)]
struct TransitionsArgs {
    /// What to compare.
    #[arg(long, value_enum)]
    by: TransitionBy,
    /// The earlier as-of date.
    #[arg(long, value_parser = parse_date)]
    from: NaiveDate,
    /// The later as-of date.
    #[arg(long, value_parser = parse_date)]
    to: NaiveDate,
    /// Lifecycle at this partner only.
    #[arg(long, value_name = "PARTNER")]
    partner: Option<String>,
    /// Output format (table: a matrix; csv/json/parquet: one row per pair).
    #[arg(long, value_enum)]
    format: Option<OutFormat>,
    /// Write to this file (atomically) instead of standard output.
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Debug, Args)]
struct ProfileArgs {
    /// Segment files.
    files: Vec<PathBuf>,
    /// An expression to profile.
    #[arg(short = 'e', long = "expr", value_name = "EXPR")]
    expr: Option<String>,
    /// Segments to profile (repeatable). Default: every segment of the files.
    #[arg(short, long = "segment", value_name = "NAME", conflicts_with = "expr")]
    segment: Vec<String>,
    /// Output format.
    #[arg(long, value_enum)]
    format: Option<OutFormat>,
    /// Write to this file (atomically) instead of standard output.
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Debug, Args)]
struct ReplArgs {
    /// Segment files to load; their segments can be used by name.
    files: Vec<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
}

/// Where the data is and when to evaluate.
#[derive(Debug, Args, Clone)]
struct DataArgs {
    /// Project directory (or segql.toml). Default: the nearest segql.toml upwards.
    #[arg(long, value_name = "DIR")]
    project: Option<PathBuf>,
    /// Transactions file, directory or glob with canonical column names (no project file).
    #[arg(long, value_name = "PATH")]
    transactions: Option<String>,
    /// Customers file with canonical column names (with --transactions).
    #[arg(long, value_name = "PATH", requires = "transactions")]
    customers: Option<String>,
    /// Communications file with canonical column names (with --transactions).
    #[arg(long, value_name = "PATH", requires = "transactions")]
    communications: Option<String>,
    /// chrono format of text or integer dates, e.g. %Y%m%d (with --transactions).
    #[arg(long, value_name = "FORMAT", requires = "transactions")]
    date_format: Option<String>,
    /// Evaluate as of this date (YYYY-MM-DD). Default: the project's as_of, else the latest
    /// transaction date.
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    as_of: Option<NaiveDate>,
    /// Parallelism of query execution. Default: the number of cores.
    #[arg(long, value_name = "N")]
    partitions: Option<usize>,
    /// Memory for query execution, e.g. 512M or 4G; beyond it, work spills to disk or stops
    /// with an error.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    memory_limit: Option<usize>,
}

fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: usize = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                _ => return Err(format!("`{s}`: use a size like 512M or 4G")),
            };
            (&t[..i], m)
        }
        _ => (t, 1),
    };
    num.trim()
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{s}`: use a size like 512M or 4G"))
}

#[derive(Debug, Args)]
struct RunArgs {
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
    /// Output format. Default: from --output's extension, else table.
    #[arg(long, value_enum)]
    format: Option<OutFormat>,
    /// Write to this file (atomically) instead of standard output.
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// Segment files to check.
    #[arg(required_unless_present = "scan_data")]
    files: Vec<PathBuf>,
    /// Read every file and value of the data: an error for the first unreadable one, counted
    /// warnings for rows skipped (no customer id, no date), returns, duplicate rows, dates
    /// with time zones and customers on one side only (prospects, buyers missing from the
    /// customers file).
    #[arg(long = "data", id = "scan_data")]
    scan_data: bool,
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Debug, Args)]
struct ExplainArgs {
    /// Segment files.
    files: Vec<PathBuf>,
    /// An expression to explain.
    #[arg(short = 'e', long = "expr", value_name = "EXPR")]
    expr: Option<String>,
    /// The segment to explain. Default: all segments of the files, evaluated together.
    #[arg(short, long = "segment", value_name = "NAME", conflicts_with = "expr")]
    segment: Vec<String>,
    /// What to print.
    #[arg(long, value_enum, default_value = "plans")]
    stage: Stage,
    /// Explain the count query instead of the member list.
    #[arg(long)]
    count: bool,
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// Number of customers.
    #[arg(long, default_value_t = 1000)]
    customers: usize,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Output directory.
    #[arg(long, default_value = "demo")]
    out: PathBuf,
    /// Format of the transactions file.
    #[arg(long, value_enum, default_value = "parquet")]
    format: DemoFormat,
    /// Last day of the data.
    #[arg(long, value_parser = parse_date, default_value = "2026-10-31")]
    end: NaiveDate,
    /// Days of history.
    #[arg(long, default_value_t = 730)]
    days: i64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum OutFormat {
    Table,
    Csv,
    Json,
    Parquet,
    Xlsx,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DemoFormat {
    Csv,
    Parquet,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Stage {
    /// The syntax tree.
    Ast,
    /// The resolved, typed representation.
    Ir,
    /// The logical and the optimized DataFusion plan.
    Plans,
    /// The physical plan.
    Physical,
    /// Runs the query and prints the physical plan with the rows and time of each step.
    Analyze,
}

fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| format!("`{s}` is not a date like 2024-06-30"))
}

/// Runs a command; diagnostics come back as the error.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Run(a) => run_cmd(a).await,
        Command::Check(a) => check_cmd(a).await,
        Command::Explain(a) => explain_cmd(a).await,
        Command::Demo(a) => demo_cmd(a),
        Command::Repl(a) => repl_cmd(a).await,
        Command::Profile(a) => profile_cmd(a).await,
        Command::Transitions(a) => transitions_cmd(a).await,
        Command::Flows(a) => flows_cmd(a).await,
        Command::LifecycleThresholds(a) => thresholds_cmd(a).await,
    }
}

fn project(d: &DataArgs) -> Result<Project, RuntimeError> {
    match &d.transactions {
        Some(t) => Ok(Project::from_paths(
            t,
            d.customers.as_deref(),
            d.communications.as_deref(),
            d.date_format.as_deref(),
        )),
        None => Project::discover(d.project.as_deref()),
    }
}

/// The engine over the project of `d`. With `when_needed`, the customers and communications
/// tables are read when a segment compiled with [`Engine::compile`] needs them.
async fn engine(d: &DataArgs, need_as_of: bool, when_needed: bool) -> Result<Engine, RuntimeError> {
    engine_of(project(d)?, d, need_as_of, when_needed).await
}

/// The engine over `p`, with the options of `d`.
async fn engine_of(
    p: Project,
    d: &DataArgs,
    need_as_of: bool,
    when_needed: bool,
) -> Result<Engine, RuntimeError> {
    Engine::open(
        p,
        EngineOptions {
            as_of: d.as_of,
            target_partitions: d.partitions,
            memory_limit: d.memory_limit,
            tables_when_needed: when_needed,
            ..Default::default()
        },
        need_as_of,
    )
    .await
}

fn load_program(files: &[PathBuf], root: Option<&Path>) -> Result<Program> {
    let mut program = Program::new(root);
    for f in files {
        program.load_file(f)?;
    }
    Ok(program)
}

/// The directory imports may not leave: the project's (none with --transactions: then each
/// segment file's own directory).
fn import_root(project: &Project, d: &DataArgs) -> Option<PathBuf> {
    if d.transactions.is_some() {
        None
    } else {
        Some(project.dir.clone())
    }
}

/// The project of `d` and its segment files, with `output` checked against every file they
/// read before any data is read: an output never replaces an input.
fn load_guarded(
    d: &DataArgs,
    files: &[PathBuf],
    output: Option<&Path>,
) -> Result<(Project, Program)> {
    let p = project(d)?;
    let program = load_program(files, import_root(&p, d).as_deref())?;
    if let Some(out) = output {
        let mut inputs = segql_runtime::Inputs::of_project(&p);
        for s in &program.sources {
            if let Some(path) = &s.path {
                inputs.add_named(path, &s.name, "the segment file");
            }
        }
        inputs.check(&[(out, "--output")])?;
    }
    Ok((p, program))
}

/// What a run or explain evaluates: one segment (members with metrics) or several
/// (membership columns).
async fn select(
    engine: &mut Engine,
    program: &mut Program,
    expr: Option<&str>,
    names: &[String],
) -> Result<Vec<Segment>> {
    if let Some(e) = expr {
        let (ast, src) = program.parse_inline("expression", e)?;
        let program = &*program;
        let pred = engine
            .compile(|c| resolve_expr(program, c, &ast, src))
            .await??;
        return Ok(vec![Segment {
            name: "expression".into(),
            description: None,
            pred,
            campaign: None,
        }]);
    }
    let mut names: Vec<String> = if names.is_empty() {
        program
            .segments
            .iter()
            .filter(|s| s.top_level)
            .map(|s| s.def.name.name.clone())
            .collect()
    } else {
        names.to_vec()
    };
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    if names.is_empty() {
        return Err(RuntimeError::Usage {
            message: "nothing to evaluate".into(),
            help: Some("give segment files, or an expression with -e 'recency < 30d'".into()),
        }
        .into());
    }
    let program = &*program;
    let resolved = engine
        .compile(|c| {
            names
                .iter()
                .map(|n| resolve_segment(program, c, n))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    Ok(resolved?)
}

/// Warns, on standard error, of text values the segments compare with that occur nowhere in
/// the data.
async fn warn_unmatched(engine: &Engine, segments: &[Segment]) -> Result<()> {
    let preds: Vec<&segql_compiler::ir::Pred> = segments.iter().map(|s| &s.pred).collect();
    let found = segql_runtime::literals::unmatched_each(engine, &preds).await?;
    for (s, found) in segments.iter().zip(found) {
        for u in found {
            eprintln!("warning[segql::data::no_such_value]: {}: {u}", s.name);
        }
    }
    Ok(())
}

/// What `run` executes: the plans of its segments.
enum Planned {
    /// One segment or campaign.
    One(segql_compiler::Query),
    /// Campaigns counted one by one (each is capped and split on its own).
    Each(Vec<segql_compiler::Query>),
    /// Memberships of several segments.
    Many(segql_compiler::Query),
}

async fn run_cmd(a: RunArgs) -> Result<ExitCode> {
    let (p, mut program) = load_guarded(&a.data, &a.files, a.output.as_deref())?;
    let mut engine = engine_of(p, &a.data, true, true).await?;
    let segments = select(&mut engine, &mut program, a.expr.as_deref(), &a.segment).await?;
    let format = output_format(a.format, a.output.as_deref())?;
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

/// Runs what [`run_cmd`] planned and writes its result.
async fn execute(
    engine: &Engine,
    planned: Planned,
    a: &RunArgs,
    segments: &[Segment],
    format: Format,
) -> Result<ExitCode> {
    let out = a.output.as_deref();
    match planned {
        Planned::One(q) if a.count => {
            let n = count(engine, q.count().map_err(compile_err)?).await?;
            if a.format.is_none() && out.is_none() {
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
                let batch = counts_batch(segments, &[n])?;
                segql_runtime::output::write_stream(one_batch_stream(batch), format, out).await?;
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
            let batch = counts_batch(segments, &counts)?;
            segql_runtime::output::write_stream(one_batch_stream(batch), format, out).await?;
        }
        Planned::Many(q) if a.count => {
            let batch = segment_counts(engine, &q, segments).await?;
            segql_runtime::output::write_stream(one_batch_stream(batch), format, out).await?;
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

/// The plan of one segment, or of a campaign (with its cap and `group` column).
async fn lower_one(engine: &mut Engine, s: &Segment) -> Result<segql_compiler::Query> {
    let q = engine
        .compile(|c| segql_compiler::lower_definition(c, s))
        .await?;
    q.map_err(compile_err)
}

/// Membership columns of several segments; campaigns need their own run.
async fn lower_many(engine: &mut Engine, segments: &[Segment]) -> Result<segql_compiler::Query> {
    if let Some(c) = segments.iter().find(|s| s.campaign.is_some()) {
        return Err(RuntimeError::Usage {
            message: format!(
                "`{}` is a campaign: its holdout and limit apply to it alone",
                c.name
            ),
            help: Some(format!(
                "run it on its own with --segment {}, or name the segments to run together with --segment",
                c.name
            )),
        }
        .into());
    }
    let q = engine.compile(|c| lower_memberships(c, segments)).await?;
    q.map_err(compile_err)
}

fn compile_err(e: DataFusionError) -> Report {
    Report::from(segql_compiler::CompileError::from(e))
}

/// Prints to standard output; a reader that went away (`segql ... | head`) is no error.
fn print_out(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).into_diagnostic(),
        _ => Ok(()),
    }
}

fn write_text(out: Option<&Path>, text: &str) -> Result<()> {
    match out {
        None => print_out(text),
        Some(p) => Ok(segql_runtime::output::write_text(Some(p), text)?),
    }
}

async fn count(
    engine: &Engine,
    plan: segql_runtime::datafusion::logical_expr::LogicalPlan,
) -> Result<i64> {
    let batches = engine.collect(plan).await?;
    Ok(batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .and_then(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .map(|a| a.value(0))
        })
        .unwrap_or(0))
}

/// Per segment: name, description and member count, from one pass over the memberships.
async fn segment_counts(
    engine: &Engine,
    q: &segql_compiler::Query,
    segments: &[Segment],
) -> Result<RecordBatch> {
    use segql_runtime::datafusion::functions_aggregate::expr_fn::count;
    use segql_runtime::datafusion::logical_expr::{
        ExprFunctionExt, LogicalPlanBuilder, ident, lit,
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
        .aggregate(
            Vec::<segql_runtime::datafusion::logical_expr::Expr>::new(),
            aggs,
        )
        .and_then(|b| b.build())
        .map_err(compile_err)?;
    let batches = engine.collect(plan).await?;
    let counts: Vec<i64> = (0..segments.len())
        .map(|i| {
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
        })
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

fn one_batch_stream(
    batch: RecordBatch,
) -> segql_runtime::datafusion::execution::SendableRecordBatchStream {
    use segql_runtime::datafusion::physical_plan::stream::RecordBatchStreamAdapter;
    let schema = batch.schema();
    Box::pin(RecordBatchStreamAdapter::new(
        schema,
        futures_lite_once(batch),
    ))
}

fn futures_lite_once(
    batch: RecordBatch,
) -> impl futures::Stream<Item = segql_runtime::datafusion::error::Result<RecordBatch>> {
    futures::stream::once(async move { Ok(batch) })
}

async fn check_cmd(a: CheckArgs) -> Result<ExitCode> {
    let engine = engine(&a.data, false, false).await?;
    let mut program = Program::new(import_root(&engine.project, &a.data).as_deref());
    let mut errors: Vec<Report> = Vec::new();
    if a.scan_data {
        match segql_runtime::datacheck::check_data(&engine.project).await {
            Ok(report) => print_out(&data_report_text(&report))?,
            Err(e) => errors.push(e.into()),
        }
        if a.files.is_empty() {
            if errors.is_empty() {
                return Ok(ExitCode::SUCCESS);
            }
            for e in &errors {
                eprintln!("{e:?}");
            }
            return Ok(ExitCode::FAILURE);
        }
    }
    for f in &a.files {
        if let Err(e) = program.load_file(f) {
            errors.push(e.into());
        }
    }
    for e in segql_compiler::check_all(&program, &engine.catalog) {
        errors.push(e.into());
    }
    if a.scan_data && errors.is_empty() {
        // With the data read: values the segments compare with that occur nowhere.
        let resolved: Vec<Segment> = program
            .names()
            .filter_map(|n| resolve_segment(&program, &engine.catalog, n).ok())
            .collect();
        let preds: Vec<&segql_compiler::ir::Pred> = resolved.iter().map(|s| &s.pred).collect();
        let found = segql_runtime::literals::unmatched_each(&engine, &preds).await?;
        let mut n = 0;
        for (s, found) in resolved.iter().zip(found) {
            for u in found {
                outln!(
                    "  warning[segql::data::no_such_value]: segment {}: {u}",
                    s.name
                );
                n += 1;
            }
        }
        if n > 0 {
            outln!(
                "segments: {n} text value{} that occur{} nowhere in the data",
                if n == 1 { "" } else { "s" },
                if n == 1 { "s" } else { "" }
            );
        }
    }
    if errors.is_empty() {
        outln!(
            "ok: {} segment{} in {} file{}",
            program.segments.len(),
            if program.segments.len() == 1 { "" } else { "s" },
            program.sources.len(),
            if program.sources.len() == 1 { "" } else { "s" },
        );
        return Ok(ExitCode::SUCCESS);
    }
    for e in &errors {
        eprintln!("{e:?}");
    }
    eprintln!(
        "{} error{} found",
        errors.len(),
        if errors.len() == 1 { "" } else { "s" }
    );
    Ok(ExitCode::FAILURE)
}

/// The report of `check --data`: each table with its rows and customers, its warnings under it.
pub fn data_report_text(report: &segql_runtime::datacheck::DataReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    for t in &report.tables {
        let _ = writeln!(
            out,
            "{} `{}`: {}, {}",
            t.table,
            t.path,
            plural(t.rows, "row", "rows"),
            plural(t.customers, "customer", "customers")
        );
        for w in report.warnings.iter().filter(|w| w.table == t.table) {
            let column = w
                .column
                .as_ref()
                .map(|c| format!("column `{c}`: "))
                .unwrap_or_default();
            let _ = writeln!(out, "  warning[{}]: {column}{}", w.code, w.message);
        }
    }
    let n = report.warnings.len() as u64;
    let _ = writeln!(
        out,
        "data: readable, {}",
        if n == 0 {
            "no warnings".to_string()
        } else {
            plural(n, "warning", "warnings")
        }
    );
    out
}

async fn explain_cmd(a: ExplainArgs) -> Result<ExitCode> {
    let need_as_of = a.stage != Stage::Ast;
    let mut engine = engine(&a.data, need_as_of, true).await?;
    let mut program = load_program(&a.files, import_root(&engine.project, &a.data).as_deref())?;
    if a.stage == Stage::Ast {
        if let Some(e) = &a.expr {
            let (ast, _) = program.parse_inline("expression", e)?;
            outln!("{ast:#?}");
        } else {
            for s in &program.segments {
                outln!("{:#?}", s.def);
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let segments = select(&mut engine, &mut program, a.expr.as_deref(), &a.segment).await?;
    if a.stage == Stage::Ir {
        for s in &segments {
            outln!("segment {} =\n{:#?}", s.name, s.pred);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let q = if segments.len() == 1 {
        lower_one(&mut engine, &segments[0]).await?
    } else {
        lower_many(&mut engine, &segments).await?
    };
    let plan = if a.count { q.count() } else { q.sorted() }.map_err(compile_err)?;
    if a.stage == Stage::Physical {
        outln!("{}", engine.physical_plan(&plan).await?);
        return Ok(ExitCode::SUCCESS);
    }
    if a.stage == Stage::Analyze {
        use segql_runtime::datafusion::arrow::array::AsArray;
        let explain = segql_runtime::datafusion::logical_expr::LogicalPlanBuilder::from(plan)
            .explain(false, true)
            .and_then(|b| b.build())
            .map_err(compile_err)?;
        for b in engine.collect(explain).await? {
            let (kind, text) = (
                b.column(0).as_string::<i32>(),
                b.column(1).as_string::<i32>(),
            );
            for i in 0..b.num_rows() {
                if kind.value(i) == "Plan with Metrics" {
                    outln!("{}", text.value(i));
                }
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let optimized = engine.optimize(&plan)?;
    outln!("as of {}\n", engine.catalog.as_of);
    outln!("Logical plan:\n{}\n", plan.display_indent());
    outln!("Optimized plan:\n{}", optimized.display_indent());
    Ok(ExitCode::SUCCESS)
}

fn demo_cmd(a: DemoArgs) -> Result<ExitCode> {
    let opts = segql_generator::DemoOptions {
        customers: a.customers,
        seed: a.seed,
        end: a.end,
        days: a.days,
        format: match a.format {
            DemoFormat::Csv => FileFormat::Csv,
            DemoFormat::Parquet => FileFormat::Parquet,
        },
        out: a.out.clone(),
    };
    let s = segql_generator::generate(&opts)?;
    outln!(
        "wrote {} customers, {} transaction lines and {} messages to {}",
        s.customers,
        s.transactions,
        s.communications,
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

async fn repl_cmd(a: ReplArgs) -> Result<ExitCode> {
    let p = project(&a.data)?;
    let root = if a.data.transactions.is_some() {
        None
    } else {
        Some(p.dir.clone())
    };
    let options = EngineOptions {
        as_of: a.data.as_of,
        target_partitions: a.data.partitions,
        memory_limit: a.data.memory_limit,
        tables_when_needed: false,
        ..Default::default()
    };
    let session = crate::repl::Session::open(
        p,
        options,
        &a.files,
        root.as_deref(),
        &mut std::io::stderr(),
    )
    .await?;
    crate::repl::run(session).await?;
    Ok(ExitCode::SUCCESS)
}

/// The output format: `--format`, else the extension of `--output` (a file segql cannot
/// write is an error that lists the formats), else a table.
fn output_format(format: Option<OutFormat>, output: Option<&Path>) -> Result<Format, RuntimeError> {
    Ok(match (format, output) {
        (Some(f), _) => match f {
            OutFormat::Table => Format::Table,
            OutFormat::Csv => Format::Csv,
            OutFormat::Json => Format::Json,
            OutFormat::Parquet => Format::Parquet,
            OutFormat::Xlsx => Format::Xlsx,
        },
        (None, Some(p)) => match Format::from_path(p) {
            Some(f) => f,
            // Standard output, a pipe or a device: a table unless --format says otherwise (a
            // directory is refused when opened).
            None if p.as_os_str() == "-" || std::fs::metadata(p).is_ok_and(|m| !m.is_file()) => {
                Format::Table
            }
            None => {
                return Err(RuntimeError::Usage {
                    message: format!("segql cannot write `{}`: unknown file type", p.display()),
                    help: Some(format!(
                        "name the file {}, or give --format",
                        segql_runtime::output::EXTENSIONS
                    )),
                });
            }
        },
        (None, None) => Format::Table,
    })
}

/// The segment profile report: one row for the whole base, then one per segment, from one
/// aggregation over the per-customer profile.
async fn profile_cmd(a: ProfileArgs) -> Result<ExitCode> {
    let (p, mut program) = load_guarded(&a.data, &a.files, a.output.as_deref())?;
    let mut engine = engine_of(p, &a.data, true, false).await?;
    // Without segments, the base alone.
    let segments = if a.files.is_empty() && a.expr.is_none() && a.segment.is_empty() {
        Vec::new()
    } else {
        select(&mut engine, &mut program, a.expr.as_deref(), &a.segment).await?
    };
    let batch = profile_batch(&engine, &segments).await?;
    let format = output_format(a.format, a.output.as_deref())?;
    segql_runtime::output::write_stream(one_batch_stream(batch), format, a.output.as_deref())
        .await?;
    Ok(ExitCode::SUCCESS)
}

/// The profile report of `segments` (one row for the whole base first).
pub async fn profile_batch(engine: &Engine, segments: &[Segment]) -> Result<RecordBatch> {
    use segql_compiler::ir::{Metric, MetricKind, Value};
    use segql_runtime::datafusion::arrow::array::{Array, Float64Array};
    use segql_runtime::datafusion::arrow::compute::cast;
    use segql_runtime::datafusion::functions_aggregate::expr_fn::{avg, count, sum};
    use segql_runtime::datafusion::logical_expr::{
        Expr, ExprFunctionExt, LogicalPlanBuilder, cast as cast_expr, ident, lit,
    };
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
    let profile =
        segql_compiler::Profile::build(&engine.catalog, &values, true).map_err(compile_err)?;
    let f64_of = |v: &Value| {
        cast_expr(
            ident(profile.column(v).unwrap_or("customer_id")),
            DataType::Float64,
        )
    };
    let mut aggs = Vec::new();
    let filters: Vec<Option<Expr>> = std::iter::once(None)
        .chain(segments.iter().map(|s| Some(profile.condition(&s.pred))))
        .collect();
    for (i, f) in filters.iter().enumerate() {
        let mut add = |e: Expr, what: &str| -> Result<()> {
            let e = match f {
                None => e,
                Some(f) => e.filter(f.clone()).build().map_err(compile_err)?,
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
    let plan = LogicalPlanBuilder::from(profile.plan.clone())
        .aggregate(Vec::<Expr>::new(), aggs)
        .and_then(|b| b.build())
        .map_err(compile_err)?;
    let batches = engine.collect(plan).await?;
    let batch = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .ok_or_else(|| RuntimeError::Empty {
            message: "the profile query returned nothing".into(),
            help: None,
        })?;
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
    let mut names = vec!["all customers".to_string()];
    names.extend(segments.iter().map(|s| s.name.clone()));
    let mut cols: Vec<Vec<Option<f64>>> = vec![Vec::new(); 8];
    for i in 0..names.len() {
        let n = get(format!("n_{i}"));
        let rev = get(format!("revenue_{i}")).or(Some(0.0));
        let purchases = get(format!("purchases_{i}"));
        let row = [
            n,
            round(per(n, base_n).map(|x| x * 100.0), 1),
            round(rev, 2),
            round(per(rev, base_rev).map(|x| x * 100.0), 1),
            round(per(rev, purchases), 2),
            round(per(purchases, n), 2),
            round(per(get(format!("items_{i}")), purchases), 2),
            round(get(format!("recency_{i}")), 1),
        ];
        for (c, v) in cols.iter_mut().zip(row) {
            c.push(v);
        }
    }
    let headers = [
        "customers",
        "share_of_base_pct",
        "revenue",
        "share_of_revenue_pct",
        "avg_check",
        "purchases_per_customer",
        "items_per_check",
        "mean_recency_days",
    ];
    let mut fields = vec![
        Field::new("segment", DataType::Utf8, false),
        Field::new("customers", DataType::Int64, false),
    ];
    fields.extend(
        headers[1..]
            .iter()
            .map(|h| Field::new(*h, DataType::Float64, true)),
    );
    let mut cols = cols.into_iter();
    let customers: Vec<i64> = cols
        .next()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.unwrap_or(0.0) as i64)
        .collect();
    let mut arrays: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(names)),
        Arc::new(Int64Array::from(customers)),
    ];
    arrays.extend(cols.map(|c| Arc::new(Float64Array::from(c)) as ArrayRef));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).into_diagnostic()
}

/// The transition matrix: each customer's value as of `--from` against as of `--to`.
async fn transitions_cmd(a: TransitionsArgs) -> Result<ExitCode> {
    let (project, _) = load_guarded(&a.data, &[], a.output.as_deref())?;
    let options = EngineOptions {
        as_of: None,
        target_partitions: a.data.partitions,
        memory_limit: a.data.memory_limit,
        tables_when_needed: false,
        ..Default::default()
    };
    let format = output_format(a.format, a.output.as_deref())?;
    let batch = transitions_batch(
        &project,
        &options,
        a.by,
        a.from,
        a.to,
        a.partner.clone(),
        format == Format::Table,
    )
    .await?;
    segql_runtime::output::write_stream(one_batch_stream(batch), format, a.output.as_deref())
        .await?;
    Ok(ExitCode::SUCCESS)
}

/// The transition report: a matrix (`matrix`) or one row per (from, to) pair.
pub async fn transitions_batch(
    project: &Project,
    options: &EngineOptions,
    by: TransitionBy,
    from: NaiveDate,
    to: NaiveDate,
    partner: Option<String>,
    matrix: bool,
) -> Result<RecordBatch> {
    let a = TransitionsSpec {
        by,
        from,
        to,
        partner,
    };
    use segql_compiler::ir::{RfmPart, Value};
    use segql_runtime::datafusion::arrow::array::AsArray;
    use segql_runtime::datafusion::common::Column;
    use segql_runtime::datafusion::functions::expr_fn::coalesce;
    use segql_runtime::datafusion::functions_aggregate::expr_fn::count;
    use segql_runtime::datafusion::logical_expr::{Expr, JoinType, LogicalPlanBuilder, ident, lit};
    if a.from >= a.to {
        return Err(RuntimeError::Usage {
            message: format!("--from ({}) must be before --to ({})", a.from, a.to),
            help: None,
        }
        .into());
    }
    if a.partner.is_some() && a.by == TransitionBy::RfmSegment {
        return Err(RuntimeError::Usage {
            message: "--partner applies to --by lifecycle and --by abc".into(),
            help: None,
        }
        .into());
    }
    let value = match a.by {
        TransitionBy::Lifecycle => Value::Lifecycle(a.partner.iter().cloned().collect()),
        TransitionBy::RfmSegment => Value::Rfm(RfmPart::Segment),
        TransitionBy::Abc => Value::Abc(a.partner.iter().cloned().collect()),
    };
    let mut sides = Vec::new();
    for (date, alias) in [(a.from, "a"), (a.to, "b")] {
        let engine = Engine::open(
            project.clone(),
            EngineOptions {
                as_of: Some(date),
                ..options.clone()
            },
            true,
        )
        .await?;
        if alias == "b" {
            engine
                .check_partners(&a.partner.iter().cloned().collect::<Vec<_>>())
                .await?;
        }
        let profile =
            segql_compiler::Profile::build(&engine.catalog, std::slice::from_ref(&value), true)
                .map_err(compile_err)?;
        let col = profile.column(&value).unwrap_or("customer_id").to_string();
        let plan = LogicalPlanBuilder::from(profile.plan.clone())
            .project(vec![ident("customer_id"), ident(&col).alias("v")])
            .and_then(|b| b.alias(alias))
            .and_then(|b| b.build())
            .map_err(compile_err)?;
        sides.push((engine, plan));
    }
    let (engine, from_plan) = sides.remove(0);
    let (_, to_plan) = sides.remove(0);
    let none = || lit("(none)");
    let plan = LogicalPlanBuilder::from(from_plan)
        .join(
            to_plan,
            JoinType::Full,
            (
                vec![Column::new(Some("a"), "customer_id")],
                vec![Column::new(Some("b"), "customer_id")],
            ),
            None,
        )
        .and_then(|b| {
            b.project(vec![
                coalesce(vec![Expr::Column(Column::new(Some("a"), "v")), none()]).alias("from"),
                coalesce(vec![Expr::Column(Column::new(Some("b"), "v")), none()]).alias("to"),
            ])
        })
        .and_then(|b| {
            b.aggregate(
                vec![ident("from"), ident("to")],
                vec![count(lit(1)).alias("customers")],
            )
        })
        .and_then(|b| b.build())
        .map_err(compile_err)?;
    let batches = engine.collect(plan).await?;
    let mut pairs: Vec<(String, String, i64)> = Vec::new();
    for b in &batches {
        let (f, t, n) = (
            b.column(0).as_string::<i32>(),
            b.column(1).as_string::<i32>(),
            b.column(2)
                .as_primitive::<segql_runtime::datafusion::arrow::datatypes::Int64Type>(),
        );
        for i in 0..b.num_rows() {
            pairs.push((f.value(i).to_string(), t.value(i).to_string(), n.value(i)));
        }
    }
    // Values in their natural order (stages, segments, tiers), then anything else.
    let order: Vec<String> = match a.by {
        TransitionBy::Lifecycle => segql_compiler::ir::Stage::ALL
            .iter()
            .map(|s| s.name().to_string())
            .collect(),
        TransitionBy::RfmSegment => segql_compiler::ir::RFM_SEGMENTS
            .iter()
            .map(|s| s.0.to_string())
            .collect(),
        TransitionBy::Abc => segql_compiler::ir::ABC_TIERS
            .iter()
            .map(|s| s.to_string())
            .collect(),
    };
    let rank = |v: &str| order.iter().position(|o| o == v).unwrap_or(order.len());
    pairs.sort_by(|x, y| {
        (rank(&x.0), &x.0, rank(&x.1), &x.1).cmp(&(rank(&y.0), &y.0, rank(&y.1), &y.1))
    });
    let row_total = |from: &str| -> i64 { pairs.iter().filter(|p| p.0 == from).map(|p| p.2).sum() };
    let batch = if matrix {
        // A matrix: one row per earlier value, one column per later value, "count (share%)".
        let mut froms: Vec<String> = Vec::new();
        let mut tos: Vec<String> = Vec::new();
        for (f, t, _) in &pairs {
            if !froms.contains(f) {
                froms.push(f.clone());
            }
            if !tos.contains(t) {
                tos.push(t.clone());
            }
        }
        tos.sort_by_key(|t| (rank(t), t.clone()));
        let mut fields = vec![Field::new(
            format!("{} \\ {}", a.from, a.to),
            DataType::Utf8,
            false,
        )];
        fields.extend(tos.iter().map(|t| Field::new(t, DataType::Utf8, false)));
        fields.push(Field::new("total", DataType::Int64, false));
        let mut arrays: Vec<ArrayRef> = vec![Arc::new(StringArray::from(froms.clone()))];
        for t in &tos {
            let cells: Vec<String> = froms
                .iter()
                .map(|f| {
                    let n = pairs
                        .iter()
                        .find(|p| &p.0 == f && &p.1 == t)
                        .map_or(0, |p| p.2);
                    let total = row_total(f);
                    if n == 0 {
                        "-".to_string()
                    } else {
                        format!("{n} ({:.1}%)", 100.0 * n as f64 / total as f64)
                    }
                })
                .collect();
            arrays.push(Arc::new(StringArray::from(cells)));
        }
        arrays.push(Arc::new(Int64Array::from(
            froms.iter().map(|f| row_total(f)).collect::<Vec<_>>(),
        )));
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).into_diagnostic()?
    } else {
        let fields = vec![
            Field::new("from", DataType::Utf8, false),
            Field::new("to", DataType::Utf8, false),
            Field::new("customers", DataType::Int64, false),
            Field::new("share_of_row_pct", DataType::Float64, false),
        ];
        let shares: Vec<f64> = pairs
            .iter()
            .map(|p| (1000.0 * p.2 as f64 / row_total(&p.0) as f64).round() / 10.0)
            .collect();
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                pairs.iter().map(|p| p.0.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                pairs.iter().map(|p| p.1.as_str()),
            )),
            Arc::new(Int64Array::from(
                pairs.iter().map(|p| p.2).collect::<Vec<_>>(),
            )),
            Arc::new(segql_runtime::datafusion::arrow::array::Float64Array::from(
                shares,
            )),
        ];
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).into_diagnostic()?
    };
    Ok(batch)
}

struct TransitionsSpec {
    by: TransitionBy,
    from: NaiveDate,
    to: NaiveDate,
    partner: Option<String>,
}

/// Calendar periods covering `from..=to`: (label, first day, last day), the first and last
/// cut to `from` and `to`.
fn periods(every: Every, from: NaiveDate, to: NaiveDate) -> Vec<(String, NaiveDate, NaiveDate)> {
    use chrono::Datelike;
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

/// Inflow and outflow per period: active customers (new, active or at risk) at its start and
/// end, and who entered (first purchase in the period, or back from churned or lost) and left.
async fn flows_cmd(a: FlowsArgs) -> Result<ExitCode> {
    let (project, _) = load_guarded(&a.data, &[], a.output.as_deref())?;
    let options = EngineOptions {
        as_of: None,
        target_partitions: a.data.partitions,
        memory_limit: a.data.memory_limit,
        tables_when_needed: false,
        ..Default::default()
    };
    let batch = flows_batch(&project, &options, a.every, a.from, a.to, a.partner.clone()).await?;
    let format = output_format(a.format, a.output.as_deref())?;
    segql_runtime::output::write_stream(one_batch_stream(batch), format, a.output.as_deref())
        .await?;
    Ok(ExitCode::SUCCESS)
}

/// The flows report: one row per period.
pub async fn flows_batch(
    project: &Project,
    options: &EngineOptions,
    every: Every,
    from: NaiveDate,
    to: NaiveDate,
    partner: Option<String>,
) -> Result<RecordBatch> {
    struct Spec {
        every: Every,
        from: NaiveDate,
        to: NaiveDate,
        partner: Option<String>,
    }
    let a = Spec {
        every,
        from,
        to,
        partner,
    };
    use segql_compiler::ir::{Metric, MetricKind, Value};
    use segql_runtime::datafusion::arrow::array::AsArray;
    use segql_runtime::datafusion::arrow::datatypes::Int64Type;
    use segql_runtime::datafusion::common::{Column, ScalarValue};
    use segql_runtime::datafusion::functions_aggregate::expr_fn::count;
    use segql_runtime::datafusion::logical_expr::{
        Expr, ExprFunctionExt, JoinType, LogicalPlanBuilder, ident, lit,
    };
    if a.from > a.to {
        return Err(RuntimeError::Usage {
            message: format!("--from ({}) is after --to ({})", a.from, a.to),
            help: None,
        }
        .into());
    }
    let scope: Vec<String> = a.partner.iter().cloned().collect();
    let stage = Value::Lifecycle(scope.clone());
    let first = Value::Metric(Metric {
        kind: MetricKind::FirstPurchase,
        window: None,
        scope: scope.clone(),
    });
    // (period, start, end, [active_at_start, new_in, returned, left, active_at_end])
    let mut rows: Vec<(String, NaiveDate, NaiveDate, [i64; 5])> = Vec::new();
    for (label, start, end) in periods(a.every, a.from, a.to) {
        let mut plans = Vec::new();
        let mut last_engine = None;
        for (date, alias) in [(start - chrono::Duration::days(1), "a"), (end, "b")] {
            let engine = Engine::open(
                project.clone(),
                EngineOptions {
                    as_of: Some(date),
                    ..options.clone()
                },
                true,
            )
            .await?;
            if rows.is_empty() && alias == "b" {
                engine.check_partners(&scope).await?;
            }
            let values = [stage.clone(), first.clone()];
            let profile = segql_compiler::Profile::build(&engine.catalog, &values, true)
                .map_err(compile_err)?;
            let plan = LogicalPlanBuilder::from(profile.plan.clone())
                .project(vec![
                    ident("customer_id"),
                    ident(profile.column(&stage).unwrap_or("customer_id")).alias("stage"),
                    ident(profile.column(&first).unwrap_or("customer_id")).alias("first"),
                ])
                .and_then(|b| b.alias(alias))
                .and_then(|b| b.build())
                .map_err(compile_err)?;
            plans.push(plan);
            last_engine = Some(engine);
        }
        let engine = last_engine.expect("two snapshots");
        let (after, before) = (plans.pop().expect("after"), plans.pop().expect("before"));
        let col = |t: &str, c: &str| Expr::Column(Column::new(Some(t), c));
        let start_lit = lit(ScalarValue::Date32(Some(
            (start - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32,
        )));
        // Active: a stage before churn (new, active or at risk). A customer missing before
        // the period (no purchase yet, not yet signed up) was not active.
        let active = |t: &str| {
            use segql_compiler::ir::Stage as Lifecycle;
            let live = [Lifecycle::New, Lifecycle::Active, Lifecycle::AtRisk]
                .iter()
                .map(|s| lit(s.name()))
                .collect();
            segql_runtime::datafusion::functions::expr_fn::coalesce(vec![
                col(t, "stage").in_list(live, false),
                lit(false),
            ])
        };
        let (was, is) = (active("a"), active("b"));
        use std::ops::Not;
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
            .map_err(compile_err)?;
        let batches = engine.collect(plan).await?;
        let b = batches
            .iter()
            .find(|b| b.num_rows() > 0)
            .ok_or_else(|| RuntimeError::Empty {
                message: "the flows query returned nothing".into(),
                help: None,
            })?;
        let v = |i: usize| b.column(i).as_primitive::<Int64Type>().value(0);
        rows.push((label, start, end, [v(0), v(1), v(2), v(3), v(4)]));
    }
    type Row = (String, NaiveDate, NaiveDate, [i64; 5]);
    let text = |f: &dyn Fn(&Row) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
    let number = |f: &dyn Fn(&[i64; 5]) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from(
            rows.iter().map(|r| f(&r.3)).collect::<Vec<_>>(),
        ))
    };
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("period", text(&|r| r.0.clone())),
        ("start", text(&|r| r.1.to_string())),
        ("end", text(&|r| r.2.to_string())),
        ("active_at_start", number(&|v| v[0])),
        ("new_in", number(&|v| v[1])),
        ("returned", number(&|v| v[2])),
        ("left", number(&|v| v[3])),
        ("balance", number(&|v| v[1] + v[2] - v[3])),
        ("active_at_end", number(&|v| v[4])),
    ];
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), false))
        .collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .into_diagnostic()
}

async fn thresholds_cmd(a: ThresholdArgs) -> Result<ExitCode> {
    let engine = engine(&a.data, true, false).await?;
    engine.check_partners(&a.partner).await?;
    let rhythms = segql_runtime::thresholds::partner_rhythms(&engine, &a.partner).await?;
    for p in &a.partner {
        if !rhythms.iter().any(|r| &r.partner == p) {
            eprintln!(
                "{p}: no customer bought there on two days up to {}: no gaps to suggest thresholds from",
                engine.catalog.as_of
            );
        }
    }
    let col = |f: &dyn Fn(&segql_runtime::thresholds::PartnerRhythm) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from(rhythms.iter().map(f).collect::<Vec<_>>()))
    };
    let fields = [
        "buyers",
        "repeat_customers",
        "gaps",
        "median_gap",
        "p80_gap",
        "p95_gap",
        "at_risk_days",
        "churned_days",
        "lost_days",
    ];
    let mut schema = vec![Field::new("partner", DataType::Utf8, false)];
    schema.extend(
        fields
            .iter()
            .map(|f| Field::new(*f, DataType::Int64, false)),
    );
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            rhythms.iter().map(|r| r.partner.as_str()),
        )),
        col(&|r| r.buyers as i64),
        col(&|r| r.repeat_customers as i64),
        col(&|r| r.gaps as i64),
        col(&|r| r.median as i64),
        col(&|r| r.p80 as i64),
        col(&|r| r.p95 as i64),
        col(&|r| r.thresholds.at_risk_days as i64),
        col(&|r| r.thresholds.churned_days as i64),
        col(&|r| r.thresholds.lost_days as i64),
    ];
    let batch = RecordBatch::try_new(Arc::new(Schema::new(schema)), arrays).into_diagnostic()?;
    let format = output_format(a.format, None)?;
    segql_runtime::output::write_stream(one_batch_stream(batch), format, None).await?;
    if format == Format::Table && !rhythms.is_empty() {
        outln!("{}", thresholds_block(&engine, &rhythms));
    }
    Ok(ExitCode::SUCCESS)
}

/// What to put into the project file: a section for each partner that has none, the keys to
/// set in each section the file already has (TOML takes a section once).
fn thresholds_block(
    engine: &Engine,
    rhythms: &[segql_runtime::thresholds::PartnerRhythm],
) -> String {
    use std::fmt::Write;
    let configured = engine
        .project
        .file
        .lifecycle
        .as_ref()
        .map(|l| l.get_ref().partners.clone())
        .unwrap_or_default();
    let keys = |r: &segql_runtime::thresholds::PartnerRhythm| {
        format!(
            "at_risk_days = {}\nchurned_days = {}\nlost_days = {}\n",
            r.thresholds.at_risk_days, r.thresholds.churned_days, r.thresholds.lost_days
        )
    };
    let mut out = format!(
        "\n# as of {}: thresholds from each partner's purchase gaps, for segql.toml",
        engine.catalog.as_of
    );
    for r in rhythms {
        out.push('\n');
        match configured.get(&r.partner) {
            Some(c) if c.derive == Some(true) => {
                let _ = writeln!(
                    out,
                    "# [lifecycle.partners.{:?}] in segql.toml derives these at every run (derive = true)",
                    r.partner
                );
            }
            Some(_) => {
                // Commented out: pasted as a whole, bare keys would land in the section above.
                let commented: String = keys(r).lines().map(|l| format!("# {l}\n")).collect();
                let _ = write!(
                    out,
                    "# segql.toml has [lifecycle.partners.{:?}] already: set these keys in it\n{commented}",
                    r.partner,
                );
            }
            None => {
                let _ = write!(out, "[lifecycle.partners.{:?}]\n{}", r.partner, keys(r));
            }
        }
    }
    out
}
