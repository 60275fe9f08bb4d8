//! `segql kpis`: the program's KPIs per period, and per partner, store or customer attribute
//! (`segql_runtime::reports::kpis`; every formula in docs/kpis.md).

use super::args::{DataArgs, OutputArgs, parse_date};
use super::reports::EveryArg;
use super::stages::{load_guarded, write_batch};
use chrono::NaiveDate;
use clap::Args;
use miette::{IntoDiagnostic, Result};
use segql_runtime::reports::kpis::{self, By, KpiSpec};
use std::process::ExitCode;

/// `segql kpis`.
#[derive(Debug, Args)]
pub(super) struct KpisArgs {
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
    #[command(flatten)]
    out: OutputArgs,
    #[command(flatten)]
    data: DataArgs,
}

/// One row per period (and group).
pub(super) async fn kpis(a: KpisArgs) -> Result<ExitCode> {
    let (project, _) = load_guarded(&a.data, &[], a.out.path())?;
    let by = a.by.as_deref().map(|b| match b {
        "partner" => By::Partner,
        "store" => By::Store,
        other => By::Attribute(other.to_string()),
    });
    let spec = KpiSpec {
        every: a.every.every(),
        from: a.from,
        to: a.to,
        by: by.clone(),
    };
    let rows = kpis::kpis(&project, &a.data.engine_options(false), &spec).await?;
    let batch = kpis::to_batch(&rows, by.as_ref()).into_diagnostic()?;
    write_batch(batch, a.out.format()?, a.out.path()).await?;
    Ok(ExitCode::SUCCESS)
}
