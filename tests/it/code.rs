//! Segment files as code: machine-readable diagnostics, `fmt`, `diff`, `lint`, `test`,
//! completions and the man page.

use crate::common::{example_dir, fixture, segql_command, stdout};

/// A file with one unknown category and one call with a wrong argument, in the example
/// project's terms.
const BROKEN: &str = "segment a = lifecycle = new and bought category \"Coffee\" within 30d\n\
segment b(days) = recency < days\n\
segment c = b(\"soon\") and a\n\
segment d = unknown_one\n";

#[test]
fn check_writes_json_github_and_sarif() {
    let dir = fixture(&[("segments/broken.seg", BROKEN)]);
    let run = |format: &str| {
        segql_command()
            .args(["check", "segments/broken.seg", "--project"])
            .arg(example_dir())
            .args(["--message-format", format])
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let json = run("json");
    assert_eq!(json.status.code(), Some(1));
    let lines: Vec<serde_json::Value> = stdout(&json)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary: Vec<(String, u64, u64, String)> = lines
        .iter()
        .map(|v| {
            let span = &v["spans"][0];
            (
                v["code"]["code"].as_str().unwrap().to_string(),
                span["line_start"].as_u64().unwrap(),
                span["column_start"].as_u64().unwrap(),
                span["file_name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "segql::types::argument".into(),
                3,
                15,
                "segments/broken.seg".into()
            ),
            (
                "segql::resolve::unknown_name".into(),
                4,
                13,
                "segments/broken.seg".into()
            ),
        ]
    );
    // "did you mean" becomes a suggested replacement.
    let child = &lines[1]["children"][0];
    assert_eq!(child["level"], "help");

    let github = stdout(&run("github"));
    assert_eq!(
        github.lines().next().unwrap(),
        "::error file=segments/broken.seg,line=3,endLine=3,col=15,endColumn=21,\
         title=segql%3A%3Atypes%3A%3Aargument::argument `days` of `b` must be a duration like \
         30d, found a text value%0Ahelp: `days` is used as a duration like 30d in `b`"
    );

    let sarif: serde_json::Value = serde_json::from_str(&stdout(&run("sarif"))).unwrap();
    segql::diagnostics::sarif_required_fields_present(&sarif).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(sarif["runs"][0]["results"].as_array().unwrap().len(), 2);
    assert_eq!(
        sarif["runs"][0]["results"][1]["ruleId"],
        "segql::resolve::unknown_name"
    );
}

#[test]
fn a_clean_check_writes_no_machine_output() {
    let o = segql_command()
        .args([
            "check",
            "segments/lifecycle.seg",
            "--message-format",
            "json",
        ])
        .current_dir(example_dir())
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!(stdout(&o), "");
}
