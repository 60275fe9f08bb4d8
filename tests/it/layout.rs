//! The binary's layout: the command line and the REPL share modules, never import each other's
//! (the command line reaches the REPL only to start it), and `explain --stage` keeps its values.

use std::path::Path;
use std::process::Command;

/// The text of every `.rs` file under `dir` (relative to the crate), with its path.
fn sources(dir: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut todo = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join(dir)];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push((
                    p.display().to_string(),
                    std::fs::read_to_string(&p).unwrap(),
                ));
            }
        }
    }
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
        err.contains("[possible values: ast, ir, plans, physical, analyze]"),
        "{err}"
    );
    assert_eq!(o.status.code(), Some(2));
}
