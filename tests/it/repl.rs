//! The REPL driven as a user would: a script on standard input, completion as the editor asks
//! for it, and the cached profile checked against fresh scans.

use segql::repl::{Session, complete, is_incomplete};
use segql_compiler::lower_segment;
use segql_runtime::{EngineOptions, Project};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

fn session() -> Session {
    crate::common::block_on(async {
        let project = Project::discover(Some(&crate::common::example_dir())).unwrap();
        Session::open(
            project,
            EngineOptions {
                as_of: None,
                target_partitions: Some(2),
                memory_limit: None,
                tables_when_needed: false,
                ..Default::default()
            },
            &[],
            None,
            &mut std::io::sink(),
        )
        .await
        .unwrap()
    })
}

/// Runs `segql repl` on the example project with `script` as standard input.
fn repl_script(script: &str, cwd: &std::path::Path) -> (String, String, bool) {
    repl_in(&crate::common::example_dir(), &[], script, cwd)
}

/// Runs `segql repl --project PROJECT ARGS...` (segment files, options) in `cwd` with
/// `script` as standard input: its standard output, standard error and success.
pub(crate) fn repl_in(
    project: &std::path::Path,
    args: &[&str],
    script: &str,
    cwd: &std::path::Path,
) -> (String, String, bool) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_segql"))
        .args(["repl", "--project", &project.display().to_string()])
        .args(args)
        .env("NO_COLOR", "1")
        .env("SEGQL_HISTORY", cwd.join("history"))
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    (
        String::from_utf8_lossy(&o.stdout).to_string(),
        String::from_utf8_lossy(&o.stderr).to_string(),
        o.status.success(),
    )
}

#[test]
fn completion_offers_values_from_the_data() {
    let s = session();
    let words = s.words().lock().unwrap().clone();
    let (start, c) = complete("bought category ", 16, &words);
    assert_eq!(start, 16);
    assert!(c.contains(&"\"Coffee\"".to_string()), "{c:?}");
    assert!(c.contains(&"\"Fuel\"".to_string()), "{c:?}");
    let line = "bought category \"Co";
    let (start, c) = complete(line, line.len(), &words);
    assert_eq!((start, c), (16, vec!["\"Coffee\"".to_string()]));
    let line = "recency < 30d and city = ";
    let (_, c) = complete(line, line.len(), &words);
    assert!(
        c.contains(&"\"Kyiv\"".to_string()) && c.contains(&"\"Lviv\"".to_string()),
        "{c:?}"
    );
    let line = "city in (\"Kyiv\", \"L";
    let (_, c) = complete(line, line.len(), &words);
    assert_eq!(c, vec!["\"Lviv\"".to_string()]);
    let line = "not bought partner ";
    let (_, c) = complete(line, line.len(), &words);
    assert!(
        c.contains(&"\"OKKO\"".to_string()) && c.contains(&"\"ALLO\"".to_string()),
        "{c:?}"
    );
    let line = "lifecycle = at";
    let (_, c) = complete(line, line.len(), &words);
    assert_eq!(c, vec!["at_risk".to_string()]);
    let (_, c) = complete("rec", 3, &words);
    assert_eq!(c, vec!["recency".to_string()]);
    let (_, c) = complete("frequency > 2 and sms", 21, &words);
    assert_eq!(c, vec!["sms_opt_in".to_string()]);
    let (_, c) = complete(":sa", 3, &words);
    assert_eq!(c, vec![":save".to_string()]);
}

#[test]
fn incomplete_input_continues() {
    assert!(is_incomplete("recency < 30d and"));
    assert!(is_incomplete("(recency < 30d or"));
    assert!(is_incomplete(
        "segment x = (frequency > 2\n or monetary > 10"
    ));
    assert!(is_incomplete("city = \"Ky"));
    assert!(!is_incomplete("recency < 30d"));
    assert!(!is_incomplete("(recency < 30d)"));
    assert!(!is_incomplete(":save x"));
    assert!(!is_incomplete("city = \"and\""));
}

/// Strings never span lines, for the REPL as for the parser (both read text with
/// `segql_grammar::lex`): Enter inside a string on the last line waits for more, but a string
/// cut by a line end is a complete input, which the parser rejects; more lines cannot mend it.
#[test]
fn a_string_ends_at_the_line_end() {
    assert!(is_incomplete("city = \"Ky"));
    assert!(is_incomplete("(city = \"Ky"));
    for text in [
        "city = \"Ky\niv\"",
        "city = \"Ky\niv",
        "(city = \"Ky\n\"and",
    ] {
        assert!(!is_incomplete(text), "{text:?}");
        assert!(
            segql_grammar::parse_expr("input", text).is_err(),
            "{text:?}"
        );
    }
    // A quote or a comment sign inside a string is text, a comment is no code.
    assert!(!is_incomplete("city = \"#1\" and frequency > 2"));
    assert!(is_incomplete("city = \"#1\" and"));
    assert!(is_incomplete("frequency > 2 and # more below"));
    assert!(!is_incomplete("frequency > 2 # and"));
}

/// Completion offers every reserved word of the grammar and reads the input as the parser's
/// tokens; highlighting marks whole words only.
#[test]
fn keywords_come_from_the_grammar() {
    let s = session();
    let words = s.words().lock().unwrap().clone();
    for k in segql_grammar::lex::KEYWORDS {
        let (_, c) = complete(k, k.len(), &words);
        assert!(c.contains(&k.to_string()), "{k}: {c:?}");
    }
    // Values with spaces are one token: the list goes on, the value is completed whole.
    let line = "bought partner (\"Aroma Kava\", \"O";
    let (_, c) = complete(line, line.len(), &words);
    assert_eq!(c, vec!["\"OKKO\"".to_string()]);
    let line = "bought partner \"Aroma K";
    assert_eq!(
        complete(line, line.len(), &words),
        (15, vec!["\"Aroma Kava\"".to_string()])
    );
    // Nothing to complete in a comment.
    assert_eq!(complete("recency < 30d # rec", 19, &words), (19, vec![]));
    assert_eq!(
        segql::repl::highlight("android and city = \"a # b\" # c"),
        "android \x1b[1;34mand\x1b[0m city = \x1b[32m\"a # b\"\x1b[0m \x1b[2m# c\x1b[0m"
    );
}

#[test]
fn a_scripted_session() {
    let dir = tempfile::tempdir().unwrap();
    let script = "\
recency < 30d and frequency >= 3
city = \"kyiv\"
:schema
segment loyal =
    frequency within 90d >= 5 and
    (monetary > 1000 or
     city = \"Kyiv\")
loyal and lifecycle = active
recncy < 30d
:show 2
loyal and gender = \"f\"
:save loyal_women my.seg
:export women.csv
:as-of 2026-06-30
loyal_women
:profile loyal loyal_women
:transitions lifecycle 2026-03-31 2026-06-30
:flows quarter 2026-01-01 2026-06-30 OKKO
:quit
";
    let (out, err, ok) = repl_script(script, dir.path());
    assert!(ok, "{err}");
    // The first answer: members, shares, revenue and a preview.
    assert!(
        out.contains("members (") && out.contains("% of 1,000 customers), revenue"),
        "{out}"
    );
    assert!(out.contains("defined loyal"), "{out}");
    assert!(
        out.contains("warning: no city \"kyiv\" in the customers (text compares exactly, case included); did you mean \"Kyiv\"?"),
        "{out}"
    );
    // :schema speaks of text, money and dates, not Arrow types.
    assert!(
        out.contains("amount               money")
            && out.contains("ts                   date")
            && out.contains("city                 text"),
        "{out}"
    );
    assert!(
        !out.contains("Utf8View") && !out.contains("Decimal128"),
        "{out}"
    );
    // The error is reported and the session goes on.
    assert!(
        out.contains("segql::resolve::unknown_name") && out.contains("did you mean `recency`?"),
        "{out}"
    );
    assert!(out.contains("saved segment loyal_women to my.seg"), "{out}");
    assert!(out.contains("rows to women.csv"), "{out}");
    assert!(out.contains("as of 2026-06-30"), "{out}");
    // Reports in the REPL.
    assert!(
        out.contains("| all customers ") && out.contains("| loyal_women "),
        "{out}"
    );
    assert!(out.contains("2026-03-31 \\ 2026-06-30"), "{out}");
    assert!(
        out.contains("| 2026-Q2 ") && out.contains("new_in"),
        "{out}"
    );
    assert!(err.contains("profiled 1000 customers"), "{err}");
    // What :save wrote is a valid segment file: `loyal`, defined only in the session, is
    // written before the segment that uses it.
    let saved = std::fs::read_to_string(dir.path().join("my.seg")).unwrap();
    assert_eq!(
        saved,
        "segment loyal =\n    frequency within 90d >= 5 and (monetary > 1000 or city = \"Kyiv\")\n\nsegment loyal_women =\n    loyal and gender = \"f\"\n"
    );
    let check = Command::new(env!("CARGO_BIN_EXE_segql"))
        .args([
            "check",
            "--project",
            &crate::common::example_dir().display().to_string(),
            "my.seg",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let csv = std::fs::read_to_string(dir.path().join("women.csv")).unwrap();
    assert!(csv.starts_with("customer_id,"), "{csv}");
    // History is kept for the next session.
    let history = std::fs::read_to_string(dir.path().join("history")).unwrap();
    assert!(history.contains("loyal and gender"), "{history}");
}

#[test]
fn the_cache_answers_like_a_fresh_scan() {
    let mut s = session();
    let engine_catalog = crate::common::block_on(async {
        let project = Project::discover(Some(&crate::common::example_dir())).unwrap();
        crate::common::open(
            project,
            chrono::NaiveDate::from_ymd_opt(2026, 10, 31).unwrap(),
        )
        .await
    });
    for (text, cached) in [
        ("recency < 30d and frequency >= 3", true),
        ("lifecycle in (at_risk, churned) and city = \"Lviv\"", true),
        (
            "monetary within 365d > 5000 or not (frequency within 90d > 2)",
            true,
        ),
        ("lifecycle = prospect", true),
        (
            "bought category \"Coffee\" at least 2 times within 60d",
            false,
        ),
        ("not spend on partner \"ALLO\" within 1y > 100", false),
    ] {
        let a = crate::common::block_on(s.answer(text)).unwrap();
        assert_eq!(a.from_cache, cached, "{text}");
        let pred = crate::common::resolve(&engine_catalog.catalog, text);
        let plan = lower_segment(&engine_catalog.catalog, &pred)
            .unwrap()
            .sorted()
            .unwrap();
        let fresh = crate::common::block_on(crate::common::ids(&engine_catalog, plan));
        assert_eq!(a.totals.customers as usize, fresh.len(), "{text}");
        let preview = crate::common::block_on(async {
            let mut ids = Vec::new();
            for b in &a.preview {
                let col = segql_runtime::datafusion::arrow::compute::cast(
                    b.column(0),
                    &segql_runtime::datafusion::arrow::datatypes::DataType::Utf8,
                )
                .unwrap();
                use segql_runtime::datafusion::arrow::array::{Array, AsArray};
                let s = col.as_string::<i32>();
                ids.extend((0..s.len()).map(|i| s.value(i).to_string()));
            }
            ids
        });
        let first: Vec<String> = fresh.iter().take(preview.len()).cloned().collect();
        assert_eq!(preview, first, "{text}");
    }
}

#[test]
fn save_refuses_a_name_that_exists() {
    let dir = tempfile::tempdir().unwrap();
    let (out, err, ok) = repl_script(
        "recency < 30d\n:save x\nfrequency > 2\n:save x\n:quit\n",
        dir.path(),
    );
    assert!(ok, "{err}");
    assert!(out.contains("saved segment x to saved.seg"), "{out}");
    assert!(out.contains("saved.seg already defines `x`"), "{out}");
    let saved = std::fs::read_to_string(dir.path().join("saved.seg")).unwrap();
    assert_eq!(saved.matches("segment x").count(), 1, "{saved}");
}

/// A copy of the example project's `segql.toml`, data and `extra` files in `d`, so that
/// nothing of the repository is at stake.
fn copy_example(d: &Path, extra: &[&str]) {
    std::fs::create_dir_all(d.join("data")).unwrap();
    std::fs::create_dir_all(d.join("segments")).unwrap();
    let data = [
        "segql.toml",
        "data/transactions.parquet",
        "data/customers.csv",
        "data/communications.csv",
    ];
    for f in data.iter().chain(extra) {
        std::fs::copy(crate::common::example_dir().join(f), d.join(f)).unwrap();
    }
}

#[test]
fn export_and_save_never_replace_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    copy_example(d, &[]);
    let before = std::fs::read(d.join("data/customers.csv")).unwrap();
    let (out, err, ok) = repl_in(
        Path::new("."),
        &[],
        "recency < 30d\n:export data/customers.csv\n:export data/../data/communications.csv\n:save x segql.toml\n:export ok.csv\n:quit\n",
        d,
    );
    assert!(ok, "{err}");
    // miette wraps long lines: compare words.
    let out = out
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        out.contains(":export `data/customers.csv` is the customers file `data/customers.csv`"),
        "{out}"
    );
    assert!(
        out.contains(":export `data/../data/communications.csv` is the communications file"),
        "{out}"
    );
    assert!(
        out.contains(":save `segql.toml` is the project file"),
        "{out}"
    );
    assert!(out.contains("rows to ok.csv"), "{out}");
    assert_eq!(std::fs::read(d.join("data/customers.csv")).unwrap(), before);
    assert!(
        std::fs::read_to_string(d.join("segql.toml"))
            .unwrap()
            .contains("[transactions]")
    );
}

/// `:save NAME` saves the segment NAME defined in the session, with the imports it needs, so
/// that `segql check` passes; a name taken by a file is refused and nothing is written.
#[test]
fn save_writes_the_named_segment_with_its_imports() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    copy_example(d, &["segments/lifecycle.seg"]);
    let (out, err, ok) = repl_in(
        Path::new("."),
        &["segments/lifecycle.seg"],
        "segment lapsed_kyiv = lapsed_valuable and city = \"Kyiv\"\nrecency < 7d\n:save lapsed_kyiv segments/mine.seg\n:save lapsed_valuable segments/mine.seg\n:save bad segments/other.seg\n:quit\n",
        d,
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("saved segment lapsed_kyiv to segments/mine.seg"),
        "{out}"
    );
    assert!(out.contains("`lapsed_valuable` is defined in"), "{out}");
    let saved = std::fs::read_to_string(d.join("segments/mine.seg")).unwrap();
    assert_eq!(
        saved,
        "import \"lifecycle.seg\"\n\nsegment lapsed_kyiv =\n    lapsed_valuable and city = \"Kyiv\"\n"
    );
    // `bad` is the last expression (`recency < 7d`): saved under that name.
    assert_eq!(
        std::fs::read_to_string(d.join("segments/other.seg")).unwrap(),
        "segment bad =\n    recency < 7d\n"
    );
    // A segment calling one with parameters: both saved, the parameters with it.
    let (out, err, ok) = repl_in(
        Path::new("."),
        &[],
        "segment bl(cat, days: duration) = bought category cat within days\n\
         segment coffee = bl(\"Coffee\", 30d) and recency < 10d\n\
         :save coffee segments/calls.seg\n:quit\n",
        d,
    );
    assert!(ok && out.contains("saved segment coffee"), "{out}{err}");
    assert_eq!(
        std::fs::read_to_string(d.join("segments/calls.seg")).unwrap(),
        "segment bl(cat, days: duration) =\n    bought category cat within days\n\nsegment coffee =\n    bl(\"Coffee\", 30d) and recency < 10d\n"
    );
    let check = Command::new(env!("CARGO_BIN_EXE_segql"))
        .args(["check", "--project", ".", "segments/mine.seg"])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

/// `:snapshot` freezes a campaign of the session, which `treated(...)` then reads at once;
/// `:measure` prints the report of `segql measure`.
#[test]
fn the_repl_takes_snapshots_and_measures_campaigns() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    copy_example(d, &[]);
    std::fs::write(
        d.join("segments/c.seg"),
        "campaign spring = frequency within 90d >= 1 holdout 30% respond within 7d\n",
    )
    .unwrap();
    let (out, err, ok) = repl_in(
        d,
        &[
            d.join("segments/c.seg").to_str().unwrap(),
            "--as-of",
            "2026-09-01",
        ],
        ":snapshot spring\n:snapshot spring\ntreated(spring) or held_out(spring)\n:measure spring\n:as-of 2026-10-31\n:measure spring\n:measure spring by lifecycle\n:measure nope\n:quit\n",
        d,
    );
    assert!(ok, "{err}");
    assert!(out.contains("snapshot of spring as of 2026-09-01"), "{out}");
    assert!(out.contains("segql::snapshot::exists"), "{out}");
    assert!(d.join("snapshots/spring/2026-09-01.parquet").exists());
    // As of the snapshot's own date no day of its window has data.
    assert!(out.contains("has no day of data after it"), "{out}");
    assert!(
        out.contains("Campaign spring, snapshot 2026-09-01"),
        "{out}"
    );
    assert!(out.contains("By lifecycle"), "{out}");
    assert!(out.contains("no campaign named `nope`"), "{out}");
    // Every member of the snapshot is in one of its groups.
    let members = out
        .split("snapshot of spring as of 2026-09-01: ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .unwrap()
        .to_string();
    assert!(
        out.contains(&format!("{members} customers"))
            || out.contains(&format!("{members} members")),
        "{out}"
    );
}

#[test]
fn profile_breaks_down_by_a_clusters_model() {
    let dir = tempfile::tempdir().unwrap();
    let script = "segment big = monetary > 20000\n:profile big --by-cluster habits\n:profile --by-cluster nope\n:quit\n";
    let (out, err, ok) = repl_script(script, dir.path());
    assert!(ok, "{err}");
    assert!(out.contains("| big "), "{out}");
    // The example's model has five clusters: a row each.
    for n in 1..=5 {
        assert!(out.contains(&format!("| cluster(habits) = {n} ")), "{out}");
    }
    assert!(!out.contains("cluster(habits) = 6"), "{out}");
    // An unknown model is reported and the session goes on.
    assert!(out.contains("there is no clusters model `nope`"), "{out}");
    assert!(
        out.contains("known models: ") && out.contains("habits"),
        "{out}"
    );
}
