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
    /// Instead of a data set: plant a response to the campaign snapshot SNAPSHOT (a
    /// `segql run --snapshot` file): each test member buys once more, with probability
    /// --uplift, on a day of the --window days after it. Writes
    /// OUT/responses-CAMPAIGN-DATE.parquet, extra transactions for the project to read.
    #[arg(long, value_name = "SNAPSHOT")]
    plant_response: Option<PathBuf>,
    /// With --plant-response: the probability of the extra purchase.
    #[arg(long, default_value_t = 0.2, requires = "plant_response")]
    uplift: f64,
    /// With --plant-response: the response window in days.
    #[arg(long, default_value_t = 14, requires = "plant_response")]
    window: u64,
    /// Instead of a data set: N receipts a day without a loyalty card (no customer id) over
    /// the --days up to --end, written to OUT/walk-ins.parquet, for `segql kpis`' card
    /// penetration and members' share of turnover.
    #[arg(long, value_name = "N", conflicts_with = "plant_response")]
    walk_ins: Option<u32>,
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

/// Writes the planted response to a snapshot and says what it wrote.
fn plant(a: &DemoArgs, snapshot: &std::path::Path) -> Result<ExitCode> {
    use segql_runtime::RuntimeError;
    if !(0.0..=1.0).contains(&a.uplift) {
        return Err(RuntimeError::Usage {
            message: format!("--uplift {} is not a probability from 0 to 1", a.uplift),
            help: None,
        }
        .into());
    }
    let bad = || RuntimeError::Usage {
        message: format!(
            "{} is not named as a snapshot is (SNAPSHOTS/CAMPAIGN/YYYY-MM-DD.parquet)",
            snapshot.display()
        ),
        help: None,
    };
    let as_of = snapshot
        .file_stem()
        .and_then(|s| NaiveDate::parse_from_str(&s.to_string_lossy(), "%Y-%m-%d").ok())
        .ok_or_else(bad)?;
    let campaign = snapshot
        .parent()
        .and_then(|p| p.file_name())
        .map(|c| c.to_string_lossy().to_string())
        .ok_or_else(bad)?;
    let file = segql_runtime::snapshots::SnapshotFile {
        campaign: campaign.clone(),
        as_of,
        path: snapshot.to_path_buf(),
        bytes: 0,
    };
    let info = segql_runtime::snapshots::info(&file)?;
    let batch =
        segql_generator::plant::planted_purchases(&info.members, as_of, a.window, a.uplift, a.seed);
    let out = a.out.join(format!("responses-{campaign}-{as_of}.parquet"));
    segql_generator::plant::write_planted(&out, &batch)?;
    outln!(
        "wrote {} planted purchases of {} test members to {}",
        batch.num_rows(),
        info.test,
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes the data set and says what it wrote.
pub(super) fn demo(a: DemoArgs) -> Result<ExitCode> {
    if let Some(per_day) = a.walk_ins {
        let batch = segql_generator::walk_ins::walk_in_receipts(a.end, a.days, per_day, a.seed);
        let out = a.out.join("walk-ins.parquet");
        segql_generator::plant::write_planted(&out, &batch)?;
        outln!(
            "wrote {} receipts without a customer id to {}",
            batch.num_rows(),
            out.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(s) = a.plant_response.clone() {
        return plant(&a, &s);
    }
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
