//! `segql test`: the assertions of `.segtest` files, on their own fixture rows or on the
//! project's data, reported like `cargo test` (and, for machines, as diagnostics).

use super::args::DataArgs;
use super::messages::{MessageArgs, Reporter};
use clap::Args;
use miette::Result;
use segql_runtime::reports::segtest::{self, Data, Outcome, TestError, evaluate, prepare, summary};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `segql test`.
#[derive(Debug, Args)]
pub(super) struct TestArgs {
    /// `.segtest` files. Default: every `*.segtest` file under the project's `tests/`
    /// directory.
    files: Vec<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    messages: MessageArgs,
}

/// The path shown for `p`: relative to the current directory when under it.
fn shown(p: &Path) -> String {
    let relative = std::env::current_dir()
        .ok()
        .and_then(|cwd| p.strip_prefix(&cwd).ok().map(Path::to_path_buf));
    relative
        .unwrap_or_else(|| p.to_path_buf())
        .display()
        .to_string()
}

/// Runs every assertion; exits 1 when one fails or a file is broken.
pub(super) async fn test(a: TestArgs) -> Result<ExitCode> {
    let mut report = Reporter::new(a.messages);
    let human = report.human();
    // The run's lines: standard output for people, standard error beside machine output.
    let say = |text: &str| -> Result<()> {
        if human {
            super::out::print_out(text)
        } else {
            eprint!("{text}");
            Ok(())
        }
    };
    let project = a.data.project()?;
    let root = a.data.import_root(&project);
    let files = if a.files.is_empty() {
        let dir = project.dir.join("tests");
        let found = segtest::files_under(&dir);
        if found.is_empty() {
            report.error(TestError::NoFiles { dir: shown(&dir) });
            report.finish()?;
            return Ok(ExitCode::FAILURE);
        }
        found
    } else {
        a.files.clone()
    };
    let options = a.data.engine_options(true);
    let mut shared = Data::of_project(project.clone(), options.clone());
    let (mut passed, mut errors) = (0, 0);
    let mut failures = Vec::new();
    for path in &files {
        let name = shown(path);
        let text = match std::fs::read(path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).to_string(),
            Err(e) => {
                report.error(segql_runtime::RuntimeError::Io {
                    path: name,
                    reason: e.to_string(),
                });
                errors += 1;
                continue;
            }
        };
        // `use` paths start from the name shown, so diagnostics name the segment files alike.
        let file = match segtest::parse(&name, Path::new(&name), &text) {
            Ok(f) => f,
            Err(es) => {
                errors += es.len();
                es.into_iter().for_each(|e| report.error(e));
                continue;
            }
        };
        let prepared = match prepare(&file, root.as_deref()) {
            Ok(p) => p,
            Err(es) => {
                errors += es.len();
                es.into_iter().for_each(|e| report.error(e));
                continue;
            }
        };
        let mut own = if file.fixtures.is_empty() {
            None
        } else {
            match Data::of_fixtures(&file, &project, options.clone()) {
                Ok(d) => Some(d),
                Err(e) => {
                    report.error(e);
                    errors += 1;
                    continue;
                }
            }
        };
        let data = own.as_mut().unwrap_or(&mut shared);
        for (i, assertion) in file.assertions.iter().enumerate() {
            let line = format!("{}:{} {}", file.name, assertion.line, assertion.text);
            match evaluate(&file, &prepared, data, i).await {
                Ok(Outcome::Passed) => {
                    passed += 1;
                    say(&format!("ok    {line}\n"))?;
                }
                Ok(Outcome::Failed(f)) => {
                    say(&format!("FAIL  {line}\n"))?;
                    failures.push((line, f.to_string(), segtest::failed(&file, assertion, &f)));
                }
                Err(e) => {
                    say(&format!("ERROR {line}\n"))?;
                    report.error(e);
                    errors += 1;
                }
            }
        }
    }
    if !failures.is_empty() {
        let mut text = String::from("\nfailures:\n");
        for (line, detail, _) in &failures {
            text.push_str(&format!("\n---- {line} ----\n{detail}\n"));
        }
        say(&text)?;
    }
    let failed = failures.len();
    for (_, _, diagnostic) in failures {
        // People read the failures above; machines get each as an error at its line.
        if !human {
            report.error(diagnostic);
        }
    }
    say(&format!("\n{}\n", summary(passed, failed, errors)))?;
    report.finish()?;
    Ok(if failed == 0 && errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
