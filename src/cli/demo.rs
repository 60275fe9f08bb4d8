//! `segql demo`: a deterministic coalition-loyalty data set to try segql on.

use super::args::parse_date;
use chrono::NaiveDate;
use clap::{Args, ValueEnum};
use miette::Result;
use segql_runtime::project::config::FileFormat;
use std::path::PathBuf;
use std::process::ExitCode;

/// `segql demo`.
#[derive(Debug, Args)]
pub(super) struct DemoArgs {
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
enum DemoFormat {
    Csv,
    Parquet,
}

/// Writes the data set and says what it wrote.
pub(super) fn demo(a: DemoArgs) -> Result<ExitCode> {
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
