//! `segql kpis`: the program's KPIs per period, and per partner, store or customer attribute
//! (`segql_runtime::reports::kpis`; every formula in docs/kpis.md).

use super::args::{DataArgs, OutputArgs, parse_date};
use super::reports::EveryArg;
use super::stages::{load_guarded, select, write_batch};
use chrono::NaiveDate;
use clap::Args;
use miette::{IntoDiagnostic, Result};
use segql_runtime::reports::diff::definition_members;
use segql_runtime::reports::flows;
use segql_runtime::reports::kpis::{self, By, KpiSpec};
use segql_runtime::{Engine, EngineOptions};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

/// `segql kpis`.
#[derive(Debug, Args)]
pub(super) struct KpisArgs {
    /// Segment files (with --segment).
    files: Vec<PathBuf>,
    /// The KPIs of a segment's members: as of each period's end (not with --by).
    #[arg(short, long = "segment", value_name = "NAME", conflicts_with = "expr")]
    segment: Option<String>,
    /// The KPIs of an expression's members, as of each period's end.
    #[arg(short = 'e', long = "expr", value_name = "EXPR")]
    expr: Option<String>,
    /// Period length.
    #[arg(long, value_enum, default_value = "month")]
    every: EveryArg,
    /// First day covered (its period starts at the period's first day).
    #[arg(long, value_parser = parse_date)]
    from: NaiveDate,
    /// Last day covered.
    #[arg(long, value_parser = parse_date)]
    to: NaiveDate,
    /// One row per period and partner, store, or value of a customer attribute (e.g. city).
    #[arg(long, value_name = "partner|store|ATTRIBUTE")]
    by: Option<String>,
    /// No progress bar (one is shown on a terminal while a segment is evaluated per period).
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    out: OutputArgs,
    #[command(flatten)]
    data: DataArgs,
}

/// One row per period (and group).
pub(super) async fn kpis(a: KpisArgs) -> Result<ExitCode> {
    let (project, mut program) = load_guarded(&a.data, &a.files, a.out.path())?;
    let by = a.by.as_deref().map(|b| match b {
        "partner" => By::Partner,
        "store" => By::Store,
        other => By::Attribute(other.to_string()),
    });
    let every = a.every.every();
    // The segment's members as of each period's end.
    let segment = if a.segment.is_some() || a.expr.is_some() {
        let names: Vec<String> = a.segment.iter().cloned().collect();
        let mut sets = Vec::new();
        let periods = flows::periods(every, a.from, a.to);
        // A full evaluation per period: progress on a terminal, nothing when piped.
        let bar = (!a.quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(periods.len() as u64);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{msg} {wide_bar} {pos}/{len} periods, {eta} left",
            ) {
                bar.set_style(style);
            }
            bar.set_message("evaluating the segment");
            bar
        });
        for (_, _, end) in periods {
            let options = EngineOptions {
                as_of: Some(end),
                ..a.data.engine_options(true)
            };
            let mut engine = Engine::open(project.clone(), options, true).await?;
            let segments = select(&mut engine, &mut program, a.expr.as_deref(), &names).await?;
            sets.push(definition_members(&mut engine, &segments[0]).await?);
            if let Some(b) = &bar {
                b.inc(1);
            }
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        Some(sets)
    } else {
        None
    };
    let spec = KpiSpec {
        every,
        from: a.from,
        to: a.to,
        by: by.clone(),
        segment,
    };
    let rows = kpis::kpis(&project, &a.data.engine_options(false), &spec).await?;
    let batch = kpis::to_batch(&rows, by.as_ref()).into_diagnostic()?;
    write_batch(batch, a.out.format()?, a.out.path()).await?;
    Ok(ExitCode::SUCCESS)
}
