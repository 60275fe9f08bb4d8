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

/// A project of four customers in a fresh git repository, its segment file committed.
fn repo_project() -> tempfile::TempDir {
    let dir = fixture(&[
        (
            "segql.toml",
            "[transactions]\npath = \"transactions.csv\"\n",
        ),
        (
            "transactions.csv",
            "customer_id,ts,amount,receipt_id,partner,category\n\
             a,2026-10-20,1500.00,r1,OKKO,Fuel\n\
             b,2026-10-21,120.00,r2,Silpo,Coffee\n\
             c,2026-06-01,2500.00,r3,Silpo,Grocery\n\
             d,2026-10-25,1200.00,r4,OKKO,Coffee\n",
        ),
        (
            "segments/main.seg",
            "# Valuable and recent.\nsegment valuable = monetary within 365d > 1000 and recency < 30d\n\n\
             segment coffee = bought category \"Coffee\" within 30d\n",
        ),
    ]);
    let git = |args: &[&str]| {
        let o = std::process::Command::new("git")
            .args(["-c", "user.email=t@example.com", "-c", "user.name=t"])
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "segments"]);
    dir
}

fn diff(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    segql_command()
        .arg("diff")
        .args(["--as-of", "2026-10-31"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn diff_of_revisions_counts_who_moved_and_why() {
    let dir = repo_project();
    // A real change to one segment, layout and comments only in the other.
    crate::common::write(
        dir.path(),
        "segments/main.seg",
        "segment valuable = monetary within 365d > 1000 and recency < 30d and bought category \"Coffee\"\n\
         segment coffee =\n    # any coffee\n    bought category \"Coffee\"   within 30d\n",
    );
    let o = diff(dir.path(), &["--format", "csv"]);
    assert!(o.status.success(), "{}", crate::common::stderr(&o));
    assert_eq!(
        stdout(&o),
        "segment,change,before,after,entered,left,stayed\n\
         valuable,changed,2,1,0,1,1\n\
         coffee,layout only,,,,,\n"
    );
    let o = diff(dir.path(), &["--members", "--format", "csv"]);
    assert_eq!(
        stdout(&o),
        "segment,customer_id,moved,why\n\
         valuable,a,left,\"bought category \"\"Coffee\"\": absent -> false\"\n"
    );
    // Markdown for a pull-request comment.
    let o = diff(dir.path(), &["--format", "markdown"]);
    assert!(stdout(&o).starts_with(
        "### Segment changes: `HEAD` against the working tree, as of 2026-10-31\n\n| segment |"
    ));
}

#[test]
fn diff_of_dates_names_the_condition_that_changed() {
    let dir = repo_project();
    let o = diff(
        dir.path(),
        &[
            "--from",
            "2026-10-22",
            "--to",
            "2026-10-31",
            "--members",
            "--format",
            "csv",
            "-s",
            "coffee",
        ],
    );
    assert!(o.status.success(), "{}", crate::common::stderr(&o));
    // d bought coffee on 10-25: not yet on the 22nd.
    assert_eq!(
        stdout(&o),
        "segment,customer_id,moved,why\n\
         coffee,d,entered,\"bought category \"\"Coffee\"\" within 30d: false -> true\"\n"
    );
}

#[test]
fn diff_with_an_unknown_revision_is_an_error() {
    let dir = repo_project();
    let o = diff(dir.path(), &["--base", "no-such-branch"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        crate::common::stderr(&o).contains("no-such-branch"),
        "{}",
        crate::common::stderr(&o)
    );
}

/// The subcommands users see (not the hidden completion helper).
fn subcommands() -> Vec<String> {
    use clap::CommandFactory;
    segql::cli::Cli::command()
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| c.get_name().to_string())
        .collect()
}

#[test]
fn completions_and_the_man_page_list_every_subcommand() {
    let names = subcommands();
    assert!(
        names.contains(&"diff".to_string()) && names.len() >= 14,
        "{names:?}"
    );
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let o = segql_command()
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(o.status.success());
        let script = stdout(&o);
        for n in &names {
            assert!(
                script.contains(n.as_str()),
                "{shell} completion lacks `{n}`"
            );
        }
        if shell != "powershell" {
            assert!(
                script.contains("segql __segments"),
                "{shell}: no segment names"
            );
        }
    }
    let man = stdout(&segql_command().arg("man").output().unwrap()).replace("\\-", "-");
    assert!(man.starts_with(".ie"), "{man}");
    for n in &names {
        assert!(man.contains(&format!("segql-{n}")), "man lacks `{n}`");
    }
}

#[test]
fn segment_names_complete_from_the_project() {
    let o = segql_command()
        .arg("__segments")
        .current_dir(example_dir())
        .output()
        .unwrap();
    let names = stdout(&o);
    for n in ["at_risk", "autumn_bonus", "lapsed_valuable", "newcomers"] {
        assert!(names.lines().any(|l| l == n), "{names}");
    }
}
