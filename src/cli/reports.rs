//! The report commands: `profile`, `transitions`, `flows` and `lifecycle-thresholds`. The
//! runtime computes each report; these functions load, call it and write the result.

use super::args::{DataArgs, OutFormat, OutputArgs, output_format, parse_date};
use super::stages::{load_guarded, select, write_batch};
use chrono::NaiveDate;
use clap::{Args, ValueEnum};
use miette::{IntoDiagnostic, Result};
use segql_runtime::datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use segql_runtime::datafusion::arrow::datatypes::{DataType, Field, Schema};
use segql_runtime::engine::rhythms::PartnerRhythm;
use segql_runtime::reports::flows::{self, Every, FlowsSpec};
use segql_runtime::reports::segment_profile;
use segql_runtime::reports::transitions::{self, TransitionBy, TransitionsSpec};
use segql_runtime::{Engine, Format};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

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

/// `--every` of `flows`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum EveryArg {
    /// Calendar months.
    Month,
    /// Calendar quarters.
    Quarter,
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
    let segments = if a.files.is_empty() && a.expr.is_none() && a.segment.is_empty() {
        Vec::new()
    } else {
        select(&mut engine, &mut program, a.expr.as_deref(), &a.segment).await?
    };
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
        every: match a.every {
            EveryArg::Month => Every::Month,
            EveryArg::Quarter => Every::Quarter,
        },
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
    let rhythms = segql_runtime::engine::rhythms::partner_rhythms(&engine, &a.partner).await?;
    for p in &a.partner {
        if !rhythms.iter().any(|r| &r.partner == p) {
            eprintln!(
                "{p}: no customer bought there on two days up to {}: no gaps to suggest thresholds from",
                engine.catalog.as_of
            );
        }
    }
    let batch = rhythms_batch(&rhythms)?;
    let format = output_format(a.format, None)?;
    write_batch(batch, format, None).await?;
    if format == Format::Table && !rhythms.is_empty() {
        outln!("{}", thresholds_block(&engine, &rhythms));
    }
    Ok(ExitCode::SUCCESS)
}

/// One row per partner: its rhythm and the thresholds it suggests.
fn rhythms_batch(rhythms: &[PartnerRhythm]) -> Result<RecordBatch> {
    let col = |f: &dyn Fn(&PartnerRhythm) -> i64| -> ArrayRef {
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
    RecordBatch::try_new(Arc::new(Schema::new(schema)), arrays).into_diagnostic()
}

/// What to put into the project file: a section for each partner that has none, the keys to
/// set in each section the file already has (TOML takes a section once).
fn thresholds_block(engine: &Engine, rhythms: &[PartnerRhythm]) -> String {
    use std::fmt::Write;
    let configured = engine
        .project
        .file
        .lifecycle
        .as_ref()
        .map(|l| l.get_ref().partners.clone())
        .unwrap_or_default();
    let keys = |r: &PartnerRhythm| {
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
