//! `segql demo`: a deterministic coalition-loyalty data set to try segql on, in the shape a
//! benchmark asks for (history length, row order, amount type, file formats, receipts); the
//! defaults give the example project's data.

use super::args::parse_date;
use chrono::NaiveDate;
use clap::{Args, ValueEnum};
use miette::Result;
use segql_generator::{AmountType, RowOrder};
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
    /// Format of the customers file (customers.csv or customers.parquet).
    #[arg(long, value_enum, default_value = "csv")]
    customers_format: DemoFormat,
    /// Average transaction lines per customer to aim at (about 22 when not given), e.g. 3 for
    /// many customers with short histories, 25 for long ones.
    #[arg(long, value_parser = parse_lines)]
    lines_per_customer: Option<f64>,
    /// Order of the transaction rows: grouped by customer, by date, or a pseudo-random order
    /// fixed by the seed.
    #[arg(long, value_enum, default_value = "customer")]
    order: DemoOrder,
    /// Type of the amount column: Decimal128(12,2) or Float64.
    #[arg(long, value_enum, default_value = "decimal")]
    amounts: DemoAmounts,
    /// Leave the receipt_id column out of the transactions.
    #[arg(long)]
    no_receipts: bool,
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

impl DemoFormat {
    fn file_format(self) -> FileFormat {
        match self {
            DemoFormat::Csv => FileFormat::Csv,
            DemoFormat::Parquet => FileFormat::Parquet,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DemoOrder {
    Customer,
    Date,
    Shuffled,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DemoAmounts {
    Decimal,
    Float64,
}

/// A positive, finite number of lines.
fn parse_lines(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err(format!("`{s}` is not a positive number")),
    }
}

/// Writes the data set and says what it wrote.
pub(super) fn demo(a: DemoArgs) -> Result<ExitCode> {
    let opts = segql_generator::DemoOptions {
        customers: a.customers,
        seed: a.seed,
        end: a.end,
        days: a.days,
        format: a.format.file_format(),
        customers_format: a.customers_format.file_format(),
        lines_per_customer: a.lines_per_customer,
        order: match a.order {
            DemoOrder::Customer => RowOrder::Customer,
            DemoOrder::Date => RowOrder::Date,
            DemoOrder::Shuffled => RowOrder::Shuffled,
        },
        amounts: match a.amounts {
            DemoAmounts::Decimal => AmountType::Decimal,
            DemoAmounts::Float64 => AmountType::Float64,
        },
        receipts: !a.no_receipts,
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
