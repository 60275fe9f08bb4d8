//! `segql lint`: warnings about likely mistakes in segment files that compile (the findings
//! are `segql_runtime::reports::lint`'s; this file finds the files and reports).

use super::args::DataArgs;
use super::messages::{MessageArgs, Reporter};
use clap::{Args, ValueEnum};
use miette::Result;
use segql_compiler::Program;
use std::path::PathBuf;
use std::process::ExitCode;

/// `segql lint`.
#[derive(Debug, Args)]
pub(super) struct LintArgs {
    /// Segment files to lint. Default: every `.seg` file under the project directory (hidden
    /// directories and `target` left out).
    files: Vec<PathBuf>,
    /// Exit 1 when any warning is reported.
    #[arg(long, value_enum, value_name = "WHAT")]
    deny: Option<Deny>,
    /// Leave out the warnings of this code (repeatable), e.g. `unused_segment` or
    /// `segql::lint::unused_segment`.
    #[arg(long, value_name = "CODE")]
    allow: Vec<String>,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    messages: MessageArgs,
}

/// What `--deny` makes an error.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Deny {
    /// Every warning.
    Warnings,
}

/// Loads and checks the files as `segql check` does, then reports the findings; exits 1 with
/// errors, or with warnings under `--deny warnings`.
pub(super) async fn lint(a: LintArgs) -> Result<ExitCode> {
    let mut report = Reporter::new(a.messages);
    let codes = segql_runtime::reports::lint::Code::ALL.map(|c| c.as_str());
    if let Some(bad) = a.allow.iter().find(|x| {
        !codes
            .iter()
            .any(|c| c == x || c.strip_prefix("segql::lint::") == Some(x.as_str()))
    }) {
        return Err(segql_runtime::RuntimeError::Usage {
            message: format!("--allow {bad}: no such lint"),
            help: Some(format!(
                "the lints: {}",
                codes
                    .iter()
                    .map(|c| c.trim_start_matches("segql::lint::"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
        .into());
    }
    let mut engine = a.data.engine(true, false).await?;
    let files = if a.files.is_empty() {
        super::stages::segment_files(&engine.project)
    } else {
        segql_runtime::project::imported_first(a.files.clone())
    };
    let mut program = Program::new(a.data.import_root(&engine.project).as_deref());
    for f in &files {
        if let Err(e) = program.load_file(f) {
            report.error(e);
        }
    }
    for e in segql_compiler::check_all(&program, &engine.catalog) {
        report.error(e);
    }
    if report.errors == 0 {
        let findings = segql_runtime::reports::lint::lint(&mut engine, &program).await?;
        let allowed = |code: &str| {
            a.allow
                .iter()
                .any(|x| code == x || code.strip_prefix("segql::lint::") == Some(x.as_str()))
        };
        for f in findings.iter().filter(|f| !allowed(f.code.as_str())) {
            report.warning(f.diagnostic(&program));
        }
    }
    let human = report.human();
    let (errors, warnings) = report.finish()?;
    if human {
        let files = program.sources.len();
        let files = format!("{files} file{}", if files == 1 { "" } else { "s" });
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        match (errors, warnings) {
            (0, 0) => eprintln!("no warnings"),
            (0, w) => eprintln!("{} in {files}", plural(w, "warning")),
            (e, _) => eprintln!("{} in {files}", plural(e, "error")),
        }
    }
    let denied = a.deny == Some(Deny::Warnings) && warnings > 0;
    Ok(if errors > 0 || denied {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
