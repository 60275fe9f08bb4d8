//! The golden corpus: one file per case under `tests/cases/`, run through the `segql` binary.
//!
//! A case file is a description (every line before the first section) and sections, each
//! opened by a line `--- NAME`:
//!
//! - inputs, kept as written: `segment` (an expression, or a segment file when it starts with
//!   `segment` or `import`), data files named by their file name (`transactions.csv`,
//!   `customers.csv`, `communications.csv`, `segql.toml`; without a `segql.toml` one naming
//!   the CSV files present is made), and `args` (more command-line arguments, one line).
//!   Without data files the case runs on the example project (`examples/coalition`).
//! - results, written by the runner: `members` (`segql run --format csv`, for a case with its
//!   own data), `count` (`segql run --count`, on the example project), `plan` (the optimized
//!   plan of `segql explain`), or `error` (standard error of a command that failed).
//!
//! A new construct is a new file with its inputs; `INSTA_UPDATE=always cargo test --workspace`
//! (the command that regenerates the insta snapshots) writes its results, to be reviewed in
//! the diff. Otherwise a case whose results differ fails, and every such case is listed.

use std::path::{Path, PathBuf};
use std::process::Output;

/// Sections the runner writes; every other section is an input.
const RESULTS: [&str; 4] = ["members", "count", "plan", "error"];

/// One case file, parsed.
struct Case {
    path: PathBuf,
    description: String,
    sections: Vec<(String, String)>,
}

impl Case {
    fn parse(path: &Path) -> Case {
        let text = std::fs::read_to_string(path).unwrap();
        let mut description = String::new();
        let mut sections: Vec<(String, String)> = Vec::new();
        for line in text.lines() {
            if let Some(name) = line.strip_prefix("--- ") {
                sections.push((name.trim().to_string(), String::new()));
            } else if let Some((_, body)) = sections.last_mut() {
                body.push_str(line);
                body.push('\n');
            } else {
                description.push_str(line);
                description.push('\n');
            }
        }
        for (_, body) in &mut sections {
            *body = format!("{}\n", body.trim_end());
        }
        Case {
            path: path.to_path_buf(),
            description: format!("{}\n", description.trim_end()),
            sections,
        }
    }

    fn section(&self, name: &str) -> Option<&str> {
        self.sections
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b.as_str())
    }

    /// The case's data files: sections named like a file.
    fn files(&self) -> impl Iterator<Item = (&str, &str)> {
        self.sections
            .iter()
            .filter(|(n, _)| n.contains('.'))
            .map(|(n, b)| (n.as_str(), b.as_str()))
    }

    /// The case with its result sections computed anew.
    fn run(&self) -> String {
        let files: Vec<(&str, &str)> = self.files().collect();
        let own_data = !files.is_empty();
        let dir = crate::common::fixture(&files);
        let project = if own_data {
            if self.section("segql.toml").is_none() {
                let mut toml = String::new();
                for table in ["transactions", "customers", "communications"] {
                    if self.section(&format!("{table}.csv")).is_some() {
                        toml.push_str(&format!("[{table}]\npath = \"{table}.csv\"\n\n"));
                    }
                }
                crate::common::write(dir.path(), "segql.toml", toml);
            }
            dir.path().to_path_buf()
        } else {
            crate::common::example_dir()
        };
        let segment = self
            .section("segment")
            .unwrap_or_else(|| panic!("{}: no `--- segment` section", self.path.display()));
        let is_file = ["segment ", "import ", "#"]
            .iter()
            .any(|p| segment.trim_start().starts_with(p));
        let mut target: Vec<String> = if is_file {
            crate::common::write(dir.path(), "case.seg", segment);
            vec!["case.seg".into()]
        } else {
            vec!["-e".into(), segment.trim().to_string()]
        };
        target.extend(
            self.section("args")
                .unwrap_or("")
                .split_whitespace()
                .map(str::to_string),
        );
        let segql = |command: &str, extra: &[&str]| -> Output {
            crate::common::segql_command()
                .arg(command)
                .arg("--project")
                .arg(&project)
                .args(&target)
                .args(extra)
                .current_dir(dir.path())
                .output()
                .expect("segql runs")
        };
        let tidy = |bytes: &[u8]| {
            let text = String::from_utf8_lossy(bytes)
                .replace(&dir.path().display().to_string(), "[TMP]")
                .replace(
                    &crate::common::example_dir().display().to_string(),
                    "[EXAMPLE]",
                );
            format!("{}\n", text.trim_end())
        };
        let mut results: Vec<(&str, String)> = Vec::new();
        let run = if own_data {
            segql("run", &["--format", "csv"])
        } else {
            segql("run", &["--count"])
        };
        if !run.status.success() {
            assert_eq!(run.status.code(), Some(1), "{}", tidy(&run.stderr));
            results.push(("error", tidy(&run.stderr)));
        } else {
            results.push((
                if own_data { "members" } else { "count" },
                tidy(&run.stdout),
            ));
            let explain = segql("explain", &["--stage", "plans"]);
            assert!(explain.status.success(), "{}", tidy(&explain.stderr));
            let text = tidy(&explain.stdout);
            let optimized = text
                .split_once("Optimized plan:\n")
                .map_or(text.as_str(), |(_, p)| p);
            results.push(("plan", optimized.to_string()));
        }
        let mut out = self.description.clone();
        for (name, body) in &self.sections {
            if !RESULTS.contains(&name.as_str()) {
                out.push_str(&format!("--- {name}\n{body}"));
            }
        }
        for (name, body) in results {
            out.push_str(&format!("--- {name}\n{body}"));
        }
        out
    }
}

/// Every case file, sorted.
fn case_files() -> Vec<PathBuf> {
    crate::common::files_matching("tests/cases/**/*.case")
}

/// The rendered errors of the corpus with their case files, for the diagnostics tests that
/// read every golden error.
pub fn errors() -> Vec<(String, String)> {
    case_files()
        .iter()
        .filter_map(|p| {
            let error = Case::parse(p).section("error")?.to_string();
            Some((p.display().to_string(), error))
        })
        .collect()
}

#[test]
fn every_case_of_the_corpus_gives_its_recorded_results() {
    let files = case_files();
    assert!(!files.is_empty(), "no case files under tests/cases");
    let update = std::env::var("INSTA_UPDATE").is_ok_and(|v| v == "always");
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = files.len().div_ceil(threads);
    let failed: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    let mut failed = Vec::new();
                    for path in part {
                        let case = Case::parse(path);
                        let now = case.run();
                        let before = std::fs::read_to_string(path).unwrap();
                        if now != before {
                            if update {
                                std::fs::write(path, &now).unwrap();
                            } else {
                                failed.push(format!(
                                    "{}:\n{}",
                                    path.display(),
                                    similar::TextDiff::from_lines(&before, &now).unified_diff()
                                ));
                            }
                        }
                    }
                    failed
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert!(
        failed.is_empty(),
        "{} case(s) differ (regenerate with INSTA_UPDATE=always cargo test --workspace and \
         review the diff):\n\n{}",
        failed.len(),
        failed.join("\n")
    );
}
