//! End-to-end tests of the `segql` binary: what a user types and what comes back.

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn segql(args: &[&str], cwd: Option<&Path>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_segql"));
    c.args(args)
        .env("NO_COLOR", "1")
        .env_remove("CLICOLOR_FORCE");
    if let Some(d) = cwd {
        c.current_dir(d);
    }
    c.output().expect("segql runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// Standard error with miette's line wrapping undone, for substring checks.
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr)
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn example() -> String {
    common::example_dir().display().to_string()
}

fn seg(file: &str) -> String {
    common::example_dir()
        .join("segments")
        .join(file)
        .display()
        .to_string()
}

#[test]
fn count_of_an_inline_expression() {
    let o = segql(
        &[
            "run",
            "--project",
            &example(),
            "-e",
            "recency < 30d and frequency >= 3",
            "--count",
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let n: u64 = stdout(&o).trim().parse().expect("a number");
    assert!(n > 0 && n < 1000, "{n}");
    insta::assert_snapshot!(stdout(&o));
}

#[test]
fn counts_of_every_segment_of_a_file() {
    let o = segql(
        &[
            "run",
            "--project",
            &example(),
            &seg("campaigns.seg"),
            "--count",
            "--format",
            "csv",
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    insta::assert_snapshot!(stdout(&o));
}

#[test]
fn one_named_segment_as_csv_sorted_by_id() {
    let o = segql(
        &[
            "run",
            "--project",
            &example(),
            &seg("campaigns.seg"),
            "--segment",
            "coffee_lovers",
            "--format",
            "csv",
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let ids: Vec<&str> = out
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
    assert!(
        out.starts_with(
            "customer_id,spend_category_coffee_90d,bought_partner_aroma_kava_okko_30d\n"
        )
    );
    insta::assert_snapshot!(out);
}

#[test]
fn project_is_found_upwards_from_the_current_directory() {
    let o = segql(
        &[
            "run",
            "segments/lifecycle.seg",
            "--segment",
            "newcomers",
            "--count",
        ],
        Some(&common::example_dir().join("data")).map(|d| d.parent().unwrap()),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let from_data = segql(
        &[
            "run",
            "../segments/lifecycle.seg",
            "--segment",
            "newcomers",
            "--count",
        ],
        Some(&common::example_dir().join("data")),
    );
    assert!(from_data.status.success(), "{}", stderr(&from_data));
    assert_eq!(stdout(&o), stdout(&from_data));
}

#[test]
fn canonical_csv_without_a_project_file() {
    let dir = tempfile::tempdir().unwrap();
    let tx = dir.path().join("tx.csv");
    // CDNOW-style integer dates.
    std::fs::write(
        &tx,
        "customer_id,ts,amount\n3,19970102,20.50\n1,19970101,11.77\n1,19970215,30.00\n2,19970120,100\n2,19980401,5\n",
    )
    .unwrap();
    let o = segql(
        &[
            "run",
            "-e",
            "frequency >= 1 and monetary > 15",
            "--transactions",
            tx.to_str().unwrap(),
            "--as-of",
            "1998-03-31",
            "--format",
            "csv",
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // Customer 2's purchase after the as-of date is ignored; ids sort numerically.
    assert_eq!(
        stdout(&o),
        "customer_id,frequency,monetary\n1,2,41.77\n2,1,100.00\n3,1,20.50\n"
    );
}

#[test]
fn json_and_parquet_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let o = segql(
        &[
            "run",
            "--project",
            &example(),
            "-e",
            "lifecycle = new",
            "--format",
            "json",
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("[{\"customer_id\":\"C"), "{out}");
    let pq = dir.path().join("new.parquet");
    let o = segql(
        &[
            "run",
            "--project",
            &example(),
            "-e",
            "lifecycle = new",
            "--output",
            pq.to_str().unwrap(),
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // Read it back as transactions-shaped data is not possible; read it as a table instead.
    let back = segql(
        &[
            "run",
            "-e",
            "lifecycle = new",
            "--count",
            "--project",
            &example(),
        ],
        None,
    );
    let file = std::fs::File::open(&pq).unwrap();
    let reader = segql_runtime::datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(rows.to_string(), stdout(&back).trim());
}

#[test]
fn check_accepts_the_examples_and_rejects_mistakes() {
    let o = segql(
        &[
            "check",
            "--project",
            &example(),
            &seg("campaigns.seg"),
            &seg("lifecycle.seg"),
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("ok: "), "{}", stdout(&o));

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.seg");
    std::fs::write(
        &bad,
        "segment a = recncy < 30d\nsegment b = monetary > 30d\nsegment c = a or b\n",
    )
    .unwrap();
    let o = segql(
        &["check", "--project", &example(), bad.to_str().unwrap()],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("segql::resolve::unknown_name"), "{err}");
    assert!(err.contains("segql::types::mismatch"), "{err}");
    assert!(err.contains("2 errors found"), "{err}");
}

#[test]
fn explain_shows_logical_and_optimized_plans() {
    let o = segql(
        &[
            "explain",
            "--project",
            &example(),
            "-e",
            "bought category \"Coffee\" within 30d",
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("Logical plan:") && out.contains("Optimized plan:"),
        "{out}"
    );
    assert!(out.contains("FILTER (WHERE"), "{out}");
    let ir = segql(
        &[
            "explain",
            "--project",
            &example(),
            "-e",
            "recency < 30d",
            "--stage",
            "ir",
        ],
        None,
    );
    assert!(stdout(&ir).contains("Recency"), "{}", stdout(&ir));
}

#[test]
fn errors_exit_non_zero_with_a_diagnostic() {
    let o = segql(
        &["run", "--project", &example(), "-e", "recency < 30"],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("segql::types::mismatch"),
        "{}",
        stderr(&o)
    );

    let o = segql(
        &[
            "run",
            "--project",
            "/nonexistent/dir",
            "-e",
            "recency < 30d",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("segql::project::not_found"),
        "{}",
        stderr(&o)
    );

    let o = segql(&["run", "--project", &example(), "nope.seg"], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("segql::load::file_not_found"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn bad_project_files_point_at_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let write = |text: &str| std::fs::write(dir.path().join("segql.toml"), text).unwrap();
    let run = || segql(&["run", "-e", "recency < 30d", "--count"], Some(dir.path()));

    write("[transactions]\npath = \"tx.csv\"\ncolour = \"red\"\n");
    let o = run();
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("segql::project::syntax") && err.contains("colour"),
        "{err}"
    );
    assert!(err.contains("segql.toml:3:1"), "{err}");

    write(
        "[transactions]\npath = \"tx.csv\"\n[lifecycle]\nat_risk_days = 200\nchurned_days = 100\n",
    );
    let err = stderr(&run());
    assert!(
        err.contains("segql::project::invalid") && err.contains("must increase"),
        "{err}"
    );

    write("[transactions]\npath = \"tx.csv\"\n[transactions.columns]\ncustomer = \"card\"\n");
    let err = stderr(&run());
    assert!(
        err.contains("no canonical column `customer`") && err.contains("customer_id"),
        "{err}"
    );

    write("[transactions]\npath = \"missing/*.csv\"\n");
    let err = stderr(&run());
    assert!(err.contains("segql::data::no_files"), "{err}");

    std::fs::write(
        dir.path().join("tx.csv"),
        "card,day,total\n1,2024-01-01,5\n",
    )
    .unwrap();
    write(
        "[transactions]\npath = \"tx.csv\"\n[transactions.columns]\ncustomer_id = \"card\"\nts = \"day\"\n",
    );
    let err = stderr(&run());
    assert!(
        err.contains("segql::data::missing_column") && err.contains("total"),
        "{err}"
    );

    write(
        "[transactions]\npath = \"tx.csv\"\n[transactions.columns]\ncustomer_id = \"card\"\nts = \"day\"\namount = \"total\"\n",
    );
    let o = run();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "1");
}

#[test]
fn a_failed_run_leaves_an_earlier_output_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let tx = dir.path().join("tx.csv");
    let mut text = String::from("customer_id,ts,amount\n");
    for i in 0..50 {
        text.push_str(&format!("c{i},2024-01-{:02},{i}.5\n", i % 28 + 1));
    }
    text.push_str("c99,2024-13-45,1\n"); // not a date
    std::fs::write(&tx, text).unwrap();
    let out = dir.path().join("members.csv");
    std::fs::write(&out, "previous result\n").unwrap();
    let o = segql(
        &[
            "run",
            "-e",
            "frequency >= 1",
            "--transactions",
            tx.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stderr(&o).contains("segql::data::read"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "previous result\n");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".segql-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn demo_is_deterministic_and_matches_the_example_data() {
    let dir = tempfile::tempdir().unwrap();
    let o = segql(
        &[
            "demo",
            "--customers",
            "1000",
            "--out",
            dir.path().to_str().unwrap(),
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    for f in ["customers.csv", "communications.csv"] {
        let a = std::fs::read(dir.path().join(f)).unwrap();
        let b = std::fs::read(common::example_dir().join("data").join(f)).unwrap();
        assert!(a == b, "{f} differs from the example data");
    }
    // Same transactions: compare the counts of a few segments over both copies.
    let q = [
        "run",
        "-e",
        "frequency >= 5 and monetary within 90d > 300",
        "--count",
        "--as-of",
        "2026-10-31",
        "--transactions",
    ];
    let gen_tx = dir.path().join("transactions.parquet");
    let ex_tx = common::example_dir().join("data/transactions.parquet");
    let a = segql(&[&q[..], &[gen_tx.to_str().unwrap()]].concat(), None);
    let b = segql(&[&q[..], &[ex_tx.to_str().unwrap()]].concat(), None);
    assert!(a.status.success(), "{}", stderr(&a));
    assert_eq!(stdout(&a), stdout(&b));
}

#[test]
fn directories_globs_delimiters_and_date_formats() {
    let dir = tempfile::tempdir().unwrap();
    let tx = dir.path().join("tx");
    std::fs::create_dir_all(&tx).unwrap();
    std::fs::write(
        tx.join("2024-01.csv"),
        "card;day;total\n1;05.01.2024;10,00\n2;20.01.2024;7\n",
    )
    .unwrap();
    std::fs::write(
        tx.join("2024-02.csv"),
        "card;day;total\n1;03.02.2024;5\n3;28.02.2024;1\n",
    )
    .unwrap();
    std::fs::write(tx.join("notes.md"), "not data\n").unwrap();
    let toml = |path: &str| {
        format!(
            "[project]\nas_of = \"2024-02-29\"\n[transactions]\npath = \"{path}\"\ndelimiter = \";\"\ndate_format = \"%d.%m.%Y\"\n[transactions.columns]\ncustomer_id = \"card\"\nts = \"day\"\namount = \"total\"\n"
        )
    };
    for path in ["tx", "tx/*.csv"] {
        std::fs::write(dir.path().join("segql.toml"), toml(path)).unwrap();
        let o = segql(
            &["run", "-e", "monetary > 0", "--format", "csv"],
            Some(dir.path()),
        );
        // "10,00" is not a number in a ;-separated file with a dot decimal separator.
        assert_eq!(o.status.code(), Some(1), "{path}: {}", stdout(&o));
        assert!(stderr(&o).contains("segql::data::read"), "{}", stderr(&o));
    }
    std::fs::write(
        tx.join("2024-01.csv"),
        "card;day;total\n1;05.01.2024;10.00\n2;20.01.2024;7\n",
    )
    .unwrap();
    for path in ["tx", "tx/*.csv"] {
        std::fs::write(dir.path().join("segql.toml"), toml(path)).unwrap();
        let o = segql(
            &["run", "-e", "frequency >= 1", "--format", "csv"],
            Some(dir.path()),
        );
        assert!(o.status.success(), "{path}: {}", stderr(&o));
        assert_eq!(
            stdout(&o),
            "customer_id,frequency\n1,2\n2,1\n3,1\n",
            "{path}"
        );
        let o = segql(
            &["run", "-e", "recency <= 1d", "--format", "csv"],
            Some(dir.path()),
        );
        assert_eq!(stdout(&o), "customer_id,recency\n3,1\n", "{path}");
    }
}
