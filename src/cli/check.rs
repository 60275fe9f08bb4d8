//! `segql check`: segment files checked against the data's schema, and with `--data` the
//! data itself read through.

use super::args::DataArgs;
use super::messages::{MessageArgs, Reporter, data_warning};
use super::out::print_out;
use clap::Args;
use miette::Result;
use segql_compiler::ir::Segment;
use segql_compiler::{Program, resolve_segment};
use std::path::PathBuf;
use std::process::ExitCode;

/// `segql check`.
#[derive(Debug, Args)]
pub(super) struct CheckArgs {
    /// Segment files to check. Default: every `.seg` file of the project (without --data).
    files: Vec<PathBuf>,
    /// Read every file and value of the data: an error for the first unreadable one, counted
    /// warnings for rows skipped (no customer id, no date), returns, duplicate rows, dates
    /// with time zones and customers on one side only (prospects, buyers missing from the
    /// customers file).
    #[arg(long = "data", id = "scan_data")]
    scan_data: bool,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    messages: MessageArgs,
}

/// Checks the data (with `--data`), then the segment files; exits 1 with errors.
pub(super) async fn check(a: CheckArgs) -> Result<ExitCode> {
    let mut report = Reporter::new(a.messages);
    let engine = a.data.engine(false, false).await?;
    let mut program = Program::new(a.data.import_root(&engine.project).as_deref());
    if a.scan_data {
        match segql_runtime::reports::datacheck::check_data(&engine.project).await {
            Ok(data) if report.human() => print_out(&data_report_text(&data))?,
            Ok(data) => {
                for w in &data.warnings {
                    let column = w
                        .column
                        .as_ref()
                        .map(|c| format!(", column `{c}`"))
                        .unwrap_or_default();
                    report.warning(data_warning(
                        w.code,
                        format!("{}{column}: {}", w.table, w.message),
                    ));
                }
            }
            Err(e) => report.error(e),
        }
        if a.files.is_empty() {
            return finish(report, None);
        }
    }
    let files = if a.files.is_empty() {
        super::stages::segment_files(&engine.project)
    } else {
        a.files.clone()
    };
    for f in &files {
        if let Err(e) = program.load_file(f) {
            report.error(e);
        }
    }
    for e in segql_compiler::check_all(&program, &engine.catalog) {
        report.error(e);
    }
    if a.scan_data && report.errors == 0 {
        // With the data read: values the segments compare with that occur nowhere.
        let resolved: Vec<Segment> = program
            .names()
            .filter_map(|n| resolve_segment(&program, &engine.catalog, n).ok())
            .collect();
        let preds: Vec<&segql_compiler::ir::Pred> = resolved.iter().map(|s| &s.pred).collect();
        let found = segql_runtime::reports::literals::unmatched_each(&engine, &preds).await?;
        let mut n = 0;
        for (s, found) in resolved.iter().zip(found) {
            for u in found {
                if report.human() {
                    outln!(
                        "  warning[segql::data::no_such_value]: segment {}: {u}",
                        s.name
                    );
                } else {
                    report.warning(data_warning(
                        "segql::data::no_such_value",
                        format!("segment {}: {u}", s.name),
                    ));
                }
                n += 1;
            }
        }
        if n > 0 && report.human() {
            outln!(
                "segments: {n} text value{} that occur{} nowhere in the data",
                if n == 1 { "" } else { "s" },
                if n == 1 { "s" } else { "" }
            );
        }
    }
    finish(report, Some(&program))
}

/// Writes the diagnostics and the summary; 1 with errors.
fn finish(report: Reporter, program: Option<&Program>) -> Result<ExitCode> {
    let human = report.human();
    let (errors, _) = report.finish()?;
    if errors == 0 {
        if let (true, Some(program)) = (human, program) {
            outln!(
                "ok: {} segment{} in {} file{}",
                program.segments.len(),
                if program.segments.len() == 1 { "" } else { "s" },
                program.sources.len(),
                if program.sources.len() == 1 { "" } else { "s" },
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    if human {
        eprintln!("{errors} error{} found", if errors == 1 { "" } else { "s" });
    }
    Ok(ExitCode::FAILURE)
}

/// The report of `check --data`: each table with its rows and customers, its warnings under it.
fn data_report_text(report: &segql_runtime::reports::datacheck::DataReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    for t in &report.tables {
        let _ = writeln!(
            out,
            "{} `{}`: {}, {}",
            t.table,
            t.path,
            plural(t.rows, "row", "rows"),
            plural(t.customers, "customer", "customers")
        );
        for w in report.warnings.iter().filter(|w| w.table == t.table) {
            let column = w
                .column
                .as_ref()
                .map(|c| format!("column `{c}`: "))
                .unwrap_or_default();
            let _ = writeln!(out, "  warning[{}]: {column}{}", w.code, w.message);
        }
    }
    let n = report.warnings.len() as u64;
    let _ = writeln!(
        out,
        "data: readable, {}",
        if n == 0 {
            "no warnings".to_string()
        } else {
            plural(n, "warning", "warnings")
        }
    );
    out
}
