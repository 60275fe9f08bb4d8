//! `segql history`: a segment's exact size as of the end of each period, who entered and left,
//! and its members' share of turnover (`segql_runtime::reports::history`; the definitions in
//! docs/kpis.md). A progress bar on standard error when it is a terminal; the output is
//! written once, at the end (a file atomically), so a run stopped with Ctrl-C leaves none.

use super::args::{DataArgs, OutputArgs, parse_date};
use super::reports::EveryArg;
use super::stages::{load_guarded, select, write_batch};
use chrono::NaiveDate;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressFinish, ProgressStyle};
use miette::{IntoDiagnostic, Result};
use segql_runtime::cache::warm::{DEFAULT_BUDGET, parse_bytes};
use segql_runtime::reports::history::{self, HistoryPath, HistorySpec, Progress};
use segql_runtime::{Engine, EngineOptions, RuntimeError};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// `segql history`.
#[derive(Debug, Args)]
pub(super) struct HistoryArgs {
    /// Segment files. Their segments can be referenced by name in -e.
    files: Vec<PathBuf>,
    /// An expression to follow, e.g. 'recency < 30d and frequency >= 3'.
    #[arg(short = 'e', long = "expr", value_name = "EXPR")]
    expr: Option<String>,
    /// The segment (or campaign) to follow. Default: the files' only segment.
    #[arg(short, long = "segment", value_name = "NAME", conflicts_with = "expr")]
    segment: Option<String>,
    /// Period length: one point at the end of each.
    #[arg(long, value_enum, default_value = "month")]
    every: EveryArg,
    /// First day covered (the first point compares with the day before it).
    #[arg(long, value_parser = parse_date)]
    from: NaiveDate,
    /// Last day covered: the last point.
    #[arg(long, value_parser = parse_date)]
    to: NaiveDate,
    /// Date by date, the most memory the copy of the customers and communications (read once
    /// for every date) may take, e.g. 4GiB or 512MB; 0 reads the files for each date.
    /// Default: `[repl] memory_budget` of segql.toml, else 4GiB.
    #[arg(long, value_name = "SIZE", value_parser = parse_bytes)]
    memory_budget: Option<u64>,
    /// Date by date, hold the transactions in memory too, sorted by date (each date reads only
    /// the batches its windows reach: faster when the files are not grouped by customer).
    #[arg(long)]
    transactions_in_memory: bool,
    /// Evaluate the segment's own plan date by date, even where one pass over the
    /// transactions could serve several dates (the same figures; for checking and timing).
    #[arg(long)]
    each_date: bool,
    /// No progress bar and no summary on standard error.
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    out: OutputArgs,
    #[command(flatten)]
    data: DataArgs,
}

/// One row per period end.
pub(super) async fn history(a: HistoryArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let format = a.out.format()?;
    let options = a.data.engine_options(true);
    if options.as_of.is_some() {
        return Err(RuntimeError::Usage {
            message: "history evaluates as of every period's end: --as-of does not apply".into(),
            help: Some("give the dates covered with --from and --to".into()),
        }
        .into());
    }
    let (project, mut program) = load_guarded(&a.data, &a.files, a.out.path())?;
    let budget = a
        .memory_budget
        .or_else(|| project.memory_budget())
        .unwrap_or(DEFAULT_BUDGET);
    let options = EngineOptions {
        as_of: Some(a.to),
        ..options
    };
    let mut engine = Engine::open(project, options.clone(), true).await?;
    let names: Vec<String> = a.segment.iter().cloned().collect();
    let segments = select(&mut engine, &mut program, a.expr.as_deref(), &names).await?;
    let [segment] = &segments[..] else {
        return Err(RuntimeError::Usage {
            message: format!(
                "history follows one segment; the files have {}",
                segments.len()
            ),
            help: Some("name it with --segment NAME, or give an expression with -e".into()),
        }
        .into());
    };
    let spec = HistorySpec {
        every: a.every.every(),
        from: a.from,
        to: a.to,
        budget,
        each_date: a.each_date,
        transactions_in_memory: a.transactions_in_memory,
    };
    let shown = !a.quiet && std::io::stderr().is_terminal();
    let bar = shown.then(progress_bar);
    let mut on_progress = |p: Progress| {
        if let Some(bar) = &bar {
            show(bar, p);
        }
    };
    let report = history::history(&mut engine, &options, segment, &spec, &mut on_progress).await?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let batch = history::to_batch(&report.rows).into_diagnostic()?;
    write_batch(batch, format, a.out.path()).await?;
    if shown {
        let how = match report.path {
            HistoryPath::OnePass { passes: 1 } => "in one pass".to_string(),
            HistoryPath::OnePass { passes } => format!("in {passes} passes"),
            HistoryPath::EachDate => "date by date".to_string(),
        };
        let from = match (&report.in_memory[..], report.rows_read) {
            ([], _) => "from the files".to_string(),
            (held, Some(n)) if held.contains(&"transactions") => format!(
                "from memory ({}), {} lines read",
                held.join(", "),
                segql_runtime::output::thousands(&n.to_string())
            ),
            (held, _) => format!(
                "{} from memory, transactions from the files",
                held.join(", ")
            ),
        };
        eprintln!(
            "{}: {} points {how}, {from}, in {:.1} s",
            segment.name,
            report.rows.len(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The bar on standard error: a spinner while the data is read, then dates done of all,
/// lines read and the time left. Cleared when dropped (Ctrl-C) as when finished.
fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
        .with_finish(ProgressFinish::AndClear);
    bar.set_style(ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("template"));
    bar.set_message("planning");
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn show(bar: &ProgressBar, p: Progress) {
    match p {
        Progress::Reading => bar.set_message("reading the data into memory"),
        Progress::Dates {
            done,
            total,
            rows_read,
        } => {
            if bar.length() != Some(total as u64) {
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner} [{bar:30}] {pos}/{len} dates{msg}, {elapsed} elapsed, about {eta} left",
                    )
                    .expect("template")
                    .progress_chars("=> "),
                );
                bar.set_length(total as u64);
                bar.set_message("");
                bar.reset_eta();
            }
            bar.set_position(done as u64);
            if let Some(n) = rows_read {
                bar.set_message(format!(
                    ", {} lines read",
                    segql_runtime::output::thousands(&n.to_string())
                ));
            }
        }
    }
}
