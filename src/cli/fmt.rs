//! `segql fmt`: segment files in the one canonical layout (`segql_grammar::fmt`), comments
//! kept. `--check` changes nothing: it lists the files that would change, with a diff, and
//! exits 1.

use super::messages::{MessageArgs, Reporter};
use super::out::print_out;
use clap::Args;
use miette::{LabeledSpan, MietteDiagnostic, NamedSource, Report, Result};
use std::path::PathBuf;
use std::process::ExitCode;

/// `segql fmt`.
#[derive(Debug, Args)]
pub(super) struct FmtArgs {
    /// Segment files. Default: every `.seg` file of the project.
    files: Vec<PathBuf>,
    /// Change nothing: list the files that would change, with a diff; exit 1 if any would.
    #[arg(long)]
    check: bool,
    /// Project directory (or segql.toml) whose files are formatted when none are given.
    /// Default: the nearest segql.toml upwards.
    #[arg(long, value_name = "DIR")]
    project: Option<PathBuf>,
    #[command(flatten)]
    messages: MessageArgs,
}

/// Formats (or checks) the files.
pub(super) async fn fmt(a: FmtArgs) -> Result<ExitCode> {
    let mut report = Reporter::new(a.messages);
    let files = if a.files.is_empty() {
        let project = segql_runtime::Project::discover(a.project.as_deref()).map_err(|e| {
            segql_runtime::RuntimeError::Usage {
                message: format!("no files given, and no project to find them in: {e}"),
                help: Some(
                    "name the files (`segql fmt segments/*.seg`), or run it in a project".into(),
                ),
            }
        })?;
        super::stages::segment_files(&project)
    } else {
        a.files.clone()
    };
    let mut changed = Vec::new();
    for f in &files {
        let name = f.display().to_string();
        let mut bom = false;
        let text = match std::fs::read(f)
            .map_err(|e| segql_compiler::CompileError::FileNotReadable {
                path: name.clone(),
                reason: e.to_string(),
                src: None,
                span: None,
            })
            .and_then(|bytes| {
                bom = bytes.starts_with(b"\xEF\xBB\xBF");
                segql_compiler::program::decode(&name, bytes)
            }) {
            Ok(t) => t,
            Err(e) => {
                report.error(e);
                continue;
            }
        };
        let formatted = match segql_grammar::fmt::format_file(&name, &text) {
            Ok(t) => t,
            Err(e) => {
                report.error(e);
                continue;
            }
        };
        // Line ends stay as the file has them.
        let formatted = if text.contains("\r\n") {
            formatted.replace('\n', "\r\n")
        } else {
            formatted
        };
        if formatted == text {
            continue;
        }
        changed.push(name.clone());
        if a.check {
            let diff = similar::TextDiff::from_lines(&text, &formatted)
                .unified_diff()
                .context_radius(2)
                .header(&name, &format!("{name} (formatted)"))
                .to_string();
            let diff = if report.human() {
                print_out(&diff)?;
                None
            } else {
                Some(diff)
            };
            report.error(unformatted(&name, &text, &formatted, diff));
        } else {
            // A byte-order mark the file starts with stays.
            let out = if bom {
                format!("\u{feff}{formatted}")
            } else {
                formatted
            };
            segql_runtime::output::write_text(Some(f), &out)?;
        }
    }
    let human = report.human();
    let (errors, _) = report.finish()?;
    if human {
        let n = changed.len();
        let files = |n: usize| if n == 1 { "file" } else { "files" };
        if a.check && n > 0 {
            eprintln!(
                "{n} {} would be reformatted: {}\nrun `segql fmt` to format",
                files(n),
                changed.join(", ")
            );
        } else if !a.check && n > 0 {
            eprintln!("formatted {n} {}: {}", files(n), changed.join(", "));
        }
    }
    Ok(if errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// A file that is not in the canonical layout, pointing at its first line that differs; the
/// help carries the diff for machine formats (people see it on standard output).
fn unformatted(name: &str, text: &str, formatted: &str, diff: Option<String>) -> Report {
    let start: usize = text
        .split_inclusive('\n')
        .zip(formatted.split_inclusive('\n'))
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a.len())
        .sum();
    let line = &text[start..];
    let end = start + line.find(['\r', '\n']).unwrap_or(line.len());
    let help = match diff {
        Some(d) => format!("run `segql fmt {name}`; the change:\n{d}"),
        None => format!("run `segql fmt {name}`"),
    };
    let diag = MietteDiagnostic::new(format!("`{name}` is not formatted"))
        .with_code("segql::fmt::unformatted")
        .with_label(LabeledSpan::at(start..end, "the layout differs from here"))
        .with_help(help);
    Report::new(diag).with_source_code(NamedSource::new(name, text.to_string()))
}
