//! `segql rfm`: the RFM grid. The runtime computes it (`reports::rfm_grid`); as a table it is
//! three R x F matrices (customers, share of revenue, average monetary) and the segments,
//! otherwise one row per cell and per segment.

use super::args::{DataArgs, OutputArgs};
use super::out::write_text;
use super::stages::{load_guarded, write_batch};
use clap::Args;
use miette::{IntoDiagnostic, Result};
use segql_runtime::Format;
use segql_runtime::reports::rfm_grid::{self, CellFigure, RfmGrid};
use std::process::ExitCode;

/// `segql rfm`.
#[derive(Debug, Args)]
#[command(mut_arg("format", |a| a.help("Output format (table: the grids and the segments; csv/json/parquet: one row per cell, then per segment)")))]
pub(super) struct RfmArgs {
    /// One partner's grid: customers scored on their purchases at the partner alone.
    #[arg(long, value_name = "PARTNER")]
    partner: Option<String>,
    #[command(flatten)]
    out: OutputArgs,
    #[command(flatten)]
    data: DataArgs,
}

/// The RFM grid as of the as-of date.
pub(super) async fn rfm(a: RfmArgs) -> Result<ExitCode> {
    let (project, _) = load_guarded(&a.data, &[], a.out.path())?;
    let engine = a.data.engine_of(project, true, false).await?;
    if let Some(p) = &a.partner {
        engine.check_partners(std::slice::from_ref(p)).await?;
    }
    let grid = rfm_grid::rfm_grid_at(&engine, a.partner.as_deref()).await?;
    let format = a.out.format()?;
    if format == Format::Table {
        write_text(a.out.path(), &tables(&grid).into_diagnostic()?)?;
    } else {
        write_batch(grid.to_batch().into_diagnostic()?, format, a.out.path()).await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The report for people: a heading, the three matrices and the segments.
fn tables(g: &RfmGrid) -> Result<String, segql_runtime::datafusion::arrow::error::ArrowError> {
    let binned = if g.binned.is_empty() {
        String::new()
    } else {
        format!(", {} by fixed bins", g.binned.join(" and "))
    };
    let mut out = format!(
        "RFM as of {}: {} customers with a purchase in the {} days up to it, revenue {}; \
         scores by {}{binned}.\n",
        g.as_of,
        segql_runtime::output::thousands(&g.customers.to_string()),
        g.window_days,
        segql_runtime::output::thousands(&format!("{:.2}", g.revenue)),
        g.method.name(),
    );
    for (title, figure) in [
        ("Customers (R down, F across)", CellFigure::Customers),
        ("Share of revenue, %", CellFigure::ShareOfRevenue),
        ("Average monetary", CellFigure::AvgMonetary),
    ] {
        let batch = [g.matrix(figure)?];
        let t = crate::render::people_table(&batch)?;
        out.push_str(&format!("\n{title}\n{t}\n"));
    }
    let batch = [g.segments_batch()?];
    let t = crate::render::people_table(&batch)?;
    out.push_str(&format!("\nSegments\n{t}\n"));
    Ok(out)
}
