//! The binary's layout: the command line and the REPL share modules, never import each other's
//! (the command line reaches the REPL only to start it), and `explain --stage` keeps its values.

use std::path::Path;
use std::process::Command;

/// The text of every `.rs` file under `dir` (relative to the crate), with its path.
fn sources(dir: &str) -> Vec<(String, String)> {
    let out: Vec<(String, String)> = crate::common::files_matching(&format!("{dir}/**/*.rs"))
        .into_iter()
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    assert!(!out.is_empty(), "no sources in {dir}");
    out
}

#[test]
fn the_repl_and_the_command_line_do_not_import_each_other() {
    for (path, text) in sources("src/repl") {
        assert!(
            !text.contains("crate::cli") && !text.contains("segql::cli"),
            "{path} uses the command line"
        );
    }
    for (path, text) in sources("src/cli") {
        if !path.ends_with("interactive.rs") {
            assert!(!text.contains("crate::repl"), "{path} uses the REPL");
        }
    }
}

#[test]
fn explain_stages_keep_their_names() {
    let o = Command::new(env!("CARGO_BIN_EXE_segql"))
        .args(["explain", "-e", "recency < 30d", "--stage", "nope"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("[possible values: ast, expanded, ir, plans, physical, analyze]"),
        "{err}"
    );
    assert_eq!(o.status.code(), Some(2));
}

/// Inside `src/cli/` and `src/repl/`, a file uses only the sibling files listed before it, so
/// the binary's files form no circle (`mod.rs` declares and re-exports; the macro `outln!`
/// names its own file).
#[test]
fn the_binarys_files_use_each_other_one_way() {
    let orders: [(&str, &[&str]); 2] = [
        (
            "src/cli",
            &[
                "out",
                "args",
                "messages",
                "stages",
                "measure",
                "run",
                "check",
                "diff",
                "fmt",
                "lint",
                "test",
                "segtest",
                "explain",
                "sql",
                "report",
                "reports",
                "kpis",
                "history",
                "rfm",
                "models",
                "scores",
                "lookalike",
                "cluster",
                "demo",
                "interactive",
                "shell",
            ],
        ),
        (
            "src/repl",
            &["session", "save", "commands", "input", "editor"],
        ),
    ];
    for (dir, order) in orders {
        for (path, text) in sources(dir) {
            let file = Path::new(&path).file_stem().unwrap().to_string_lossy();
            if file == "mod" {
                continue;
            }
            let at = order
                .iter()
                .position(|f| *f == file)
                .unwrap_or_else(|| panic!("{path}: add it to this test's order"));
            for (i, sibling) in order.iter().enumerate() {
                let used = text.contains(&format!("super::{sibling}"))
                    || (*sibling != file && text.contains(&format!("::cli::{sibling}::")));
                assert!(
                    !used || i < at,
                    "{path} uses `{sibling}`, which comes after it"
                );
            }
        }
    }
}
