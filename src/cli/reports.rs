//! The report commands: `profile`, `transitions`, `flows` and `lifecycle-thresholds`. The
//! runtime computes each report; these functions load, call it and write the result.

use super::args::{DataArgs, OutFormat, OutputArgs, output_format, parse_date};
use super::stages::{load_guarded, select, write_batch};
use chrono::NaiveDate;
use clap::{Args, ValueEnum};
use miette::{IntoDiagnostic, Result};
use segql_runtime::Format;
use segql_runtime::reports::flows::{self, Every, FlowsSpec};
use segql_runtime::reports::transitions::{self, TransitionBy, TransitionsSpec};
use segql_runtime::reports::{segment_profile, thresholds};
use std::path::PathBuf;
use std::process::ExitCode;

/// `segql profile`.
#[derive(Debug, Args)]
#[command(mut_arg("format", |a| a.help("Output format")))]
pub(super) struct ProfileArgs {
    /// Segment files.
    files: Vec<PathBuf>,
    /// An expression to profile.
    #[arg(short = 'e', long = "expr", value_name = "EXPR")]
    expr: Option<String>,
    /// Segments to profile (repeatable). Default: every segment of the files.
    #[arg(short, long = "segment", value_name = "NAME", conflicts_with = "expr")]
    segment: Vec<String>,
    /// Also one row per cluster of this clusters model (`cluster(MODEL) = 1`, `= 2`, ...).
    #[arg(long, value_name = "MODEL")]
    by_cluster: Option<String>,
    #[command(flatten)]
    out: OutputArgs,
    #[command(flatten)]
    data: DataArgs,
}

/// `--by` of `transitions`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum ByArg {
    /// Lifecycle stages (at --partner, when given).
    Lifecycle,
    /// Named RFM segments.
    #[value(name = "rfm_segment", alias = "rfm-segment")]
    RfmSegment,
    /// ABC tiers.
    Abc,
}

/// `segql transitions`.
#[derive(Debug, Args)]
#[command(mut_arg("format", |a| a.help("Output format (table: a matrix; csv/json/parquet: one row per pair)")))]
pub(super) struct TransitionsArgs {
    /// What to compare.
    #[arg(long, value_enum)]
    by: ByArg,
    /// The earlier as-of date.
    #[arg(long, value_parser = parse_date)]
    from: NaiveDate,
    /// The later as-of date.
    #[arg(long, value_parser = parse_date)]
    to: NaiveDate,
    /// Lifecycle at this partner only.
    #[arg(long, value_name = "PARTNER")]
    partner: Option<String>,
    #[command(flatten)]
    out: OutputArgs,
    #[command(flatten)]
    data: DataArgs,
}

/// `--every` of `flows` and `kpis`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(super) enum EveryArg {
    /// Calendar months.
    Month,
    /// Calendar quarters.
    Quarter,
    /// ISO weeks, Monday to Sunday.
    Week,
}

impl EveryArg {
    /// The runtime's period length.
    pub(super) fn every(self) -> Every {
        match self {
            EveryArg::Month => Every::Month,
            EveryArg::Quarter => Every::Quarter,
            EveryArg::Week => Every::Week,
        }
    }
}

/// `segql flows`.
#[derive(Debug, Args)]
#[command(mut_arg("format", |a| a.help("Output format")))]
pub(super) struct FlowsArgs {
    /// Period length.
    #[arg(long, value_enum, default_value = "quarter")]
    every: EveryArg,
    /// First day covered (its period starts at the period's first day).
    #[arg(long, value_parser = parse_date)]
    from: NaiveDate,
    /// Last day covered.
    #[arg(long, value_parser = parse_date)]
    to: NaiveDate,
    /// Flows at this partner only.
    #[arg(long, value_name = "PARTNER")]
    partner: Option<String>,
    #[command(flatten)]
    out: OutputArgs,
    #[command(flatten)]
    data: DataArgs,
}

/// `segql lifecycle-thresholds`.
#[derive(Debug, Args)]
pub(super) struct ThresholdArgs {
    /// Only these partners (repeatable). Default: every partner.
    #[arg(long, value_name = "PARTNER")]
    partner: Vec<String>,
    /// Output format (table also prints a segql.toml snippet).
    #[arg(long, value_enum)]
    format: Option<OutFormat>,
    #[command(flatten)]
    data: DataArgs,
}

/// The segment profile report: one row for the whole base, then one per segment.
pub(super) async fn profile(a: ProfileArgs) -> Result<ExitCode> {
    let (p, mut program) = load_guarded(&a.data, &a.files, a.out.path())?;
    let mut engine = a.data.engine_of(p, true, false).await?;
    // Without segments, the base alone.
    let mut segments = if a.files.is_empty() && a.expr.is_none() && a.segment.is_empty() {
        Vec::new()
    } else {
        select(&mut engine, &mut program, a.expr.as_deref(), &a.segment).await?
    };
    if let Some(model) = &a.by_cluster {
        segments.extend(segment_profile::cluster_segments(&engine, model)?);
    }
    let rows = segment_profile::segment_profile(&engine, &segments).await?;
    let batch = segment_profile::to_batch(&rows).into_diagnostic()?;
    write_batch(batch, a.out.format()?, a.out.path()).await?;
    Ok(ExitCode::SUCCESS)
}

/// The transition matrix: each customer's value as of `--from` against as of `--to`.
pub(super) async fn transitions(a: TransitionsArgs) -> Result<ExitCode> {
    let (project, _) = load_guarded(&a.data, &[], a.out.path())?;
    let format = a.out.format()?;
    let spec = TransitionsSpec {
        by: match a.by {
            ByArg::Lifecycle => TransitionBy::Lifecycle,
            ByArg::RfmSegment => TransitionBy::RfmSegment,
            ByArg::Abc => TransitionBy::Abc,
        },
        from: a.from,
        to: a.to,
        partner: a.partner,
    };
    let report = transitions::transitions(&project, &a.data.engine_options(false), &spec).await?;
    let batch = if format == Format::Table {
        crate::render::transitions_matrix(&report)
    } else {
        report.to_batch()
    }
    .into_diagnostic()?;
    write_batch(batch, format, a.out.path()).await?;
    Ok(ExitCode::SUCCESS)
}

/// Inflow and outflow per period.
pub(super) async fn flows(a: FlowsArgs) -> Result<ExitCode> {
    let (project, _) = load_guarded(&a.data, &[], a.out.path())?;
    let spec = FlowsSpec {
        every: a.every.every(),
        from: a.from,
        to: a.to,
        partner: a.partner,
    };
    let rows = flows::flows(&project, &a.data.engine_options(false), &spec).await?;
    let batch = flows::to_batch(&rows).into_diagnostic()?;
    write_batch(batch, a.out.format()?, a.out.path()).await?;
    Ok(ExitCode::SUCCESS)
}

/// Each partner's purchase rhythm and the thresholds it suggests; as a table, followed by
/// what to put into the project file.
pub(super) async fn thresholds(a: ThresholdArgs) -> Result<ExitCode> {
    let engine = a.data.engine(true, false).await?;
    engine.check_partners(&a.partner).await?;
    let rhythms = thresholds::partner_rhythms(&engine, &a.partner).await?;
    for p in &a.partner {
        if !rhythms.iter().any(|r| &r.partner == p) {
            eprintln!(
                "{p}: no customer bought there on two days up to {}: no gaps to suggest thresholds from",
                engine.catalog.as_of
            );
        }
    }
    let batch = thresholds::to_batch(&rhythms).into_diagnostic()?;
    let format = output_format(a.format, None)?;
    write_batch(batch, format, None).await?;
    if format == Format::Table && !rhythms.is_empty() {
        outln!("{}", thresholds::project_block(&engine, &rhythms));
    }
    Ok(ExitCode::SUCCESS)
}
