//! `segql report`: one self-contained HTML page of the segments, the RFM grid, the lifecycle,
//! the program KPIs, the campaigns and the segments over time (`crate::report`), or the
//! numbers of every chart as CSV.

use super::args::{DataArgs, parse_date};
use super::out::write_text;
use super::stages::{load_guarded, segment_files, select};
use chrono::NaiveDate;
use clap::{Args, ValueEnum};
use miette::Result;
use segql_runtime::RuntimeError;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// What `segql report` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum ReportFormat {
    /// One HTML file: charts as inline SVG, each with its numbers in a table.
    Html,
    /// The numbers of every chart: `section,chart,row,column,value`.
    Csv,
}

/// `segql report`.
#[derive(Debug, Args)]
pub(super) struct ReportArgs {
    /// Segment files. Default: every .seg file of the project.
    files: Vec<PathBuf>,
    /// Segments to show (repeatable). Default: every segment of the files.
    #[arg(short, long = "segment", value_name = "NAME")]
    segment: Vec<String>,
    /// First day of the monthly periods and the earlier date of the lifecycle transitions.
    /// Default: twelve months before the as-of date.
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    from: Option<NaiveDate>,
    /// A report for one partner: lifecycle, flows and KPIs at the partner, segments among
    /// its customers.
    #[arg(long, value_name = "PARTNER")]
    partner: Option<String>,
    /// Output format. Default: from --output's extension (.html, .csv), else html.
    #[arg(long, value_enum)]
    format: Option<ReportFormat>,
    /// Write to this file (atomically) instead of standard output.
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
}

/// `--format`, else the extension of `--output`, else HTML.
fn format_of(format: Option<ReportFormat>, output: Option<&Path>) -> Result<ReportFormat> {
    if let Some(f) = format {
        return Ok(f);
    }
    let Some(out) = output.filter(|p| p.as_os_str() != "-") else {
        return Ok(ReportFormat::Html);
    };
    let ext = out.extension().map(|e| e.to_string_lossy().to_lowercase());
    match ext.as_deref() {
        Some("html" | "htm") => Ok(ReportFormat::Html),
        Some("csv") => Ok(ReportFormat::Csv),
        _ if std::fs::metadata(out).is_ok_and(|m| !m.is_file()) => Ok(ReportFormat::Html),
        _ => Err(RuntimeError::Usage {
            message: format!(
                "segql report cannot write `{}`: unknown file type",
                out.display()
            ),
            help: Some("name the file .html or .csv, or give --format html|csv".into()),
        }
        .into()),
    }
}

/// Gathers the figures, then writes the page or the CSV.
pub(super) async fn report(a: ReportArgs) -> Result<ExitCode> {
    let format = format_of(a.format, a.output.as_deref())?;
    let project = a.data.project()?;
    let files = if a.files.is_empty() {
        segment_files(&project)
    } else {
        a.files.clone()
    };
    let (project, mut program) = load_guarded(&a.data, &files, a.output.as_deref())?;
    let mut engine = a.data.engine_of(project, true, false).await?;
    let segments = if program.segments.is_empty() && a.segment.is_empty() {
        Vec::new()
    } else {
        select(&mut engine, &mut program, None, &a.segment).await?
    };
    let scope = crate::report::Scope {
        from: a.from,
        partner: a.partner.clone(),
    };
    let options = a.data.engine_options(false);
    let figures =
        crate::report::gather(&mut engine, &options, &mut program, segments, &scope).await?;
    let sections = crate::report::sections(&figures);
    let text = match format {
        ReportFormat::Html => crate::report::html::page(&figures, &sections),
        ReportFormat::Csv => crate::report::csv(&sections),
    };
    write_text(a.output.as_deref(), &text)?;
    Ok(ExitCode::SUCCESS)
}
