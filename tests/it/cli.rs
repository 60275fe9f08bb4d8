//! End-to-end tests of the `segql` binary: what a user types and what comes back.

use crate::common::{stderr, stdout};
use segql_runtime::datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use segql_runtime::datafusion::arrow::compute::concat;
use segql_runtime::datafusion::arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float64Type,
};
use segql_runtime::datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::path::{Path, PathBuf};
use std::process::Output;

fn segql(args: &[&str], cwd: Option<&Path>) -> Output {
    let mut c = crate::common::segql_command();
    c.args(args);
    if let Some(d) = cwd {
        c.current_dir(d);
    }
    c.output().expect("segql runs")
}

/// `segql ARGS... EXTRA...`, which must succeed: its standard output.
fn segql_ok<'a>(mut args: Vec<&'a str>, extra: &[&'a str]) -> String {
    args.extend_from_slice(extra);
    let o = segql(&args, None);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    stdout(&o)
}

/// `segql CMD --project EXAMPLE ARGS...`, from the current directory.
fn on_example(cmd: &str, args: &[&str]) -> Output {
    let example = example();
    let mut all = vec![cmd, "--project", example.as_str()];
    all.extend_from_slice(args);
    segql(&all, None)
}

fn example() -> String {
    crate::common::example_dir().display().to_string()
}

fn seg(file: &str) -> String {
    crate::common::example_dir()
        .join("segments")
        .join(file)
        .display()
        .to_string()
}

#[test]
fn count_of_an_inline_expression() {
    let o = on_example(
        "run",
        &["-e", "recency < 30d and frequency >= 3", "--count"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let n: u64 = stdout(&o).trim().parse().expect("a number");
    assert!(n > 0 && n < 1000, "{n}");
    insta::assert_snapshot!(stdout(&o));
}

#[test]
fn counts_of_every_segment_of_a_file() {
    let o = on_example(
        "run",
        &[&seg("campaigns.seg"), "--count", "--format", "csv"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    insta::assert_snapshot!(stdout(&o));
}

#[test]
fn one_named_segment_as_csv_sorted_by_id() {
    let o = on_example(
        "run",
        &[
            &seg("campaigns.seg"),
            "--segment",
            "coffee_lovers",
            "--format",
            "csv",
        ],
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
        Some(&crate::common::example_dir().join("data")).map(|d| d.parent().unwrap()),
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
        Some(&crate::common::example_dir().join("data")),
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
    let o = on_example("run", &["-e", "lifecycle = new", "--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("[{\"customer_id\":\"C"), "{out}");
    let pq = dir.path().join("new.parquet");
    let o = on_example(
        "run",
        &["-e", "lifecycle = new", "--output", pq.to_str().unwrap()],
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
    let o = on_example("check", &[&seg("campaigns.seg"), &seg("lifecycle.seg")]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("ok: "), "{}", stdout(&o));

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.seg");
    std::fs::write(
        &bad,
        "segment a = recncy < 30d\nsegment b = monetary > 30d\nsegment c = a or b\n",
    )
    .unwrap();
    let o = on_example("check", &[bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("segql::resolve::unknown_name"), "{err}");
    assert!(err.contains("segql::types::mismatch"), "{err}");
    assert!(err.contains("2 errors found"), "{err}");
}

#[test]
fn explain_shows_logical_and_optimized_plans() {
    let o = on_example("explain", &["-e", "bought category \"Coffee\" within 30d"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("Logical plan:") && out.contains("Optimized plan:"),
        "{out}"
    );
    assert!(out.contains("FILTER (WHERE"), "{out}");
    let ir = on_example("explain", &["-e", "recency < 30d", "--stage", "ir"]);
    assert!(stdout(&ir).contains("Recency"), "{}", stdout(&ir));
    // The plan run, with the rows of each step: the filter keeps exactly the members.
    let analyze = on_example(
        "explain",
        &[
            "--as-of",
            "2026-10-31",
            "-e",
            "recency < 30d and frequency >= 3",
            "--count",
            "--stage",
            "analyze",
        ],
    );
    assert!(analyze.status.success(), "{}", stderr(&analyze));
    let out = stdout(&analyze);
    assert!(
        out.contains("AggregateExec") && out.contains("elapsed_compute="),
        "{out}"
    );
    let count = on_example(
        "run",
        &[
            "--as-of",
            "2026-10-31",
            "-e",
            "recency < 30d and frequency >= 3",
            "--count",
            "--format",
            "csv",
        ],
    );
    let members = stdout(&count)
        .trim()
        .rsplit(',')
        .next()
        .unwrap()
        .to_string();
    let filter = out
        .lines()
        .find(|l| l.contains("FilterExec"))
        .unwrap_or_default();
    assert!(
        filter.contains(&format!("output_rows={members}")),
        "{members}: {out}"
    );
}

#[test]
fn errors_exit_non_zero_with_a_diagnostic() {
    let o = on_example("run", &["-e", "recency < 30"]);
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

    let o = on_example("run", &["nope.seg"]);
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
    let write = |text: &str| crate::common::write(dir.path(), "segql.toml", text);
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

    crate::common::write(dir.path(), "tx.csv", "card,day,total\n1,2024-01-01,5\n");
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
    let err = stderr(&o);
    assert!(
        err.contains("segql::data::unreadable")
            && err.contains("`2024-13-45` in column `ts` (line 52)"),
        "{err}"
    );
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
        let b = std::fs::read(crate::common::example_dir().join("data").join(f)).unwrap();
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
    let ex_tx = crate::common::example_dir().join("data/transactions.parquet");
    let a = segql(&[&q[..], &[gen_tx.to_str().unwrap()]].concat(), None);
    let b = segql(&[&q[..], &[ex_tx.to_str().unwrap()]].concat(), None);
    assert!(a.status.success(), "{}", stderr(&a));
    assert_eq!(stdout(&a), stdout(&b));
    // The walk-in receipts, byte for byte; never written over an existing file.
    let walk_ins = [
        "demo",
        "--walk-ins",
        "2",
        "--out",
        dir.path().to_str().unwrap(),
    ];
    assert!(segql(&walk_ins, None).status.success());
    let a = std::fs::read(dir.path().join("walk-ins.parquet")).unwrap();
    let b = std::fs::read(crate::common::example_dir().join("data/walk-ins.parquet")).unwrap();
    assert!(a == b, "walk-ins.parquet differs from the example data");
    let again = segql(&walk_ins, None);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("never writes over a file"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn directories_globs_delimiters_and_date_formats() {
    let dir = tempfile::tempdir().unwrap();
    let tx = dir.path().join("tx");
    std::fs::create_dir_all(&tx).unwrap();
    crate::common::write(
        &tx,
        "2024-01.csv",
        "card;day;total\n1;05.01.2024;10,00\n2;20.01.2024;7\n",
    );
    crate::common::write(
        &tx,
        "2024-02.csv",
        "card;day;total\n1;03.02.2024;5\n3;28.02.2024;1\n",
    );
    crate::common::write(&tx, "notes.md", "not data\n");
    let toml = |path: &str| {
        format!(
            "[project]\nas_of = \"2024-02-29\"\n[transactions]\npath = \"{path}\"\ndelimiter = \";\"\ndate_format = \"%d.%m.%Y\"\n[transactions.columns]\ncustomer_id = \"card\"\nts = \"day\"\namount = \"total\"\n"
        )
    };
    for path in ["tx", "tx/*.csv"] {
        crate::common::write(dir.path(), "segql.toml", toml(path));
        let o = segql(
            &["run", "-e", "monetary > 0", "--format", "csv"],
            Some(dir.path()),
        );
        // "10,00" is not a number in a ;-separated file with a dot decimal separator.
        assert_eq!(o.status.code(), Some(1), "{path}: {}", stdout(&o));
        let err = stderr(&o);
        assert!(
            err.contains("segql::data::unreadable")
                && err.contains("file `tx/2024-01.csv` has `10,00` in column `total` (line 2)"),
            "{err}"
        );
    }
    crate::common::write(
        &tx,
        "2024-01.csv",
        "card;day;total\n1;05.01.2024;10.00\n2;20.01.2024;7\n",
    );
    for path in ["tx", "tx/*.csv"] {
        crate::common::write(dir.path(), "segql.toml", toml(path));
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

/// Bad or awkward data found in review: each has a decided behaviour.
#[test]
fn awkward_data_gets_exact_and_unique_answers() {
    let dir = tempfile::tempdir().unwrap();
    let p = |f: &str| dir.path().join(f).display().to_string();
    crate::common::write(
        dir.path(),
        "tx.csv",
        "customer_id,ts,amount,receipt_id,category\n\
         a,2024-01-01,99999999999999999.99,r1,Coffee\n\
         a,2024-01-01,0.01,r1,Tea\n\
         b,2024-01-02,5,,Coffee\n\
         b,2024-01-03,5,,Coffee\n\
         d,2024-01-03,1,r9,Tea\n",
    );
    // Duplicate and empty ids in the customers file; a timestamp attribute.
    crate::common::write(
        dir.path(),
        "cust.csv",
        "customer_id,city,joined_at\na,Kyiv,2024-01-01T10:30:00\nd,Kyiv,2024-01-01T00:00:00\nd,Kyiv,2024-01-01T00:00:00\n,Lviv,2024-01-01T00:00:00\ne,Lviv,2023-05-05T00:00:00\n",
    );
    let run = |e: &str, extra: &[&str]| {
        let tx = p("tx.csv");
        let cust = p("cust.csv");
        let args = vec![
            "run",
            "-e",
            e,
            "--transactions",
            &tx,
            "--customers",
            &cust,
            "--as-of",
            "2024-01-31",
            "--format",
            "csv",
        ];
        segql_ok(args, extra)
    };
    // Amounts are exact decimals, not floating point.
    assert_eq!(
        run("monetary > 1000", &[]),
        "customer_id,monetary\na,100000000000000000.00\n"
    );
    // Lines without a receipt id are purchases of their own; lines of one receipt are one.
    assert_eq!(
        run("frequency >= 1", &[]),
        "customer_id,frequency\na,1\nb,2\nd,1\n"
    );
    assert_eq!(
        run("bought category \"Coffee\" at least 2 times", &[]),
        "customer_id,bought_category_coffee\nb,2\n"
    );
    // Every customer counts once; rows without an id are ignored.
    assert_eq!(
        run("city = \"Kyiv\"", &[]),
        "customer_id,city\na,Kyiv\nd,Kyiv\n"
    );
    assert_eq!(
        run("lifecycle = prospect", &[]),
        "customer_id,lifecycle\ne,prospect\n"
    );
    // Timestamps compare by their date.
    assert_eq!(
        run("joined_at = 2024-01-01", &[]),
        "customer_id,joined_at\na,2024-01-01\nd,2024-01-01\n"
    );
    // Counts in a chosen format; an empty JSON result is valid JSON.
    assert_eq!(
        run("frequency >= 1", &["--count"]),
        "segment,description,members\nexpression,,3\n"
    );
    let o = segql(
        &[
            "run",
            "-e",
            "recency < 0d",
            "--transactions",
            &p("tx.csv"),
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(stdout(&o), "[]\n");
}

#[test]
fn segment_names_never_clash_with_output_columns() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("s.seg");
    std::fs::write(
        &f,
        "segment customer_id = recency < 30d\nsegment b = frequency > 1\n",
    )
    .unwrap();
    let o = on_example("run", &[f.to_str().unwrap(), "--format", "csv"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("customer_id,customer_id_2,b\n"),
        "{}",
        stdout(&o)
    );
    let o = on_example(
        "run",
        &[f.to_str().unwrap(), "-s", "b", "-s", "b", "--count"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn runaway_segment_references_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("s.seg");
    let mut chain = String::from("segment s0 = recency < 30d\n");
    for i in 1..500 {
        chain.push_str(&format!("segment s{i} = not s{}\n", i - 1));
    }
    std::fs::write(&f, &chain).unwrap();
    let o = on_example("check", &[f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("segql::resolve::too_complex"),
        "{}",
        stderr(&o)
    );
    let mut doubling = String::from("segment s0 = recency < 30d\n");
    for i in 1..31 {
        doubling.push_str(&format!("segment s{i} = s{0} and s{0}\n", i - 1));
    }
    std::fs::write(&f, &doubling).unwrap();
    let o = on_example("run", &[f.to_str().unwrap(), "-s", "s30", "--count"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("more than 10000 conditions"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn birthdays_across_the_year_end_and_on_29_february() {
    let dir = tempfile::tempdir().unwrap();
    let tx = dir.path().join("tx.csv");
    std::fs::write(
        &tx,
        "customer_id,ts,amount\nnewyear,2020-01-01,1\nleap,2020-01-01,1\n",
    )
    .unwrap();
    let cust = dir.path().join("c.csv");
    std::fs::write(
        &cust,
        "customer_id,birthday\nnewyear,1990-01-02\nleap,2000-02-29\n",
    )
    .unwrap();
    let members = |e: &str, as_of: &str| {
        let o = segql(
            &[
                "run",
                "-e",
                e,
                "--transactions",
                tx.to_str().unwrap(),
                "--customers",
                cust.to_str().unwrap(),
                "--as-of",
                as_of,
                "--format",
                "csv",
            ],
            None,
        );
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
            .lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    // 29 December to 2 January is 5 days, the as-of day first.
    assert_eq!(members("birthday within 5d", "2026-12-29"), ["newyear"]);
    assert!(members("birthday within 4d", "2026-12-29").is_empty());
    // In a year without 29 February the birthday falls on the 28th.
    assert_eq!(members("birthday within 3d", "2027-02-26"), ["leap"]);
    assert!(members("birthday within 2d", "2027-02-26").is_empty());
    // In a leap year it is the 29th.
    assert_eq!(members("birthday within 2d", "2028-02-28"), ["leap"]);
    assert!(members("birthday within 1d", "2028-02-28").is_empty());
    assert_eq!(
        members("not birthday within 1d", "2028-02-28"),
        ["leap", "newyear"]
    );
}

#[test]
fn campaigns_cap_the_list_and_hold_out_a_stable_control_group() {
    let offers = seg("offers.seg");
    let project = example_dir_str();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            "--project",
            &project,
            &offers,
            "--segment",
            "winback",
            "--format",
            "csv",
        ];
        args.extend_from_slice(extra);
        let o = segql(&args, None);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let out = run(&[]);
    // The same on every run, whatever the parallelism.
    assert_eq!(out, run(&["--partitions", "1"]));
    assert_eq!(out, run(&["--partitions", "3"]));
    let rows: Vec<Vec<&str>> = out
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 100);
    // The group is the documented hash of campaign name and customer id.
    for r in &rows {
        let bucket = segql_compiler::udf::holdout_bucket("winback", r[0]);
        assert_eq!(
            r[1],
            if bucket < 1000 { "control" } else { "test" },
            "{r:?}"
        );
    }
    let control = rows.iter().filter(|r| r[1] == "control").count();
    assert!((3..=25).contains(&control), "{control} of 100 in control");
    insta::assert_snapshot!(out);
    // The cap keeps the 100 largest spenders of the segment.
    let o = segql(
        &[
            "run",
            "--project",
            &example_dir_str(),
            &seg("lifecycle.seg"),
            "--segment",
            "lapsed_valuable",
            "--format",
            "csv",
        ],
        None,
    );
    let mut all: Vec<(f64, String)> = stdout(&o)
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[1].parse().unwrap(), f[0].to_string())
        })
        .collect();
    all.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap().then(a.1.cmp(&b.1)));
    let mut want: Vec<String> = all.into_iter().take(100).map(|x| x.1).collect();
    want.sort();
    let got: Vec<String> = rows.iter().map(|r| r[0].to_string()).collect();
    assert_eq!(got, want);
}

fn example_dir_str() -> String {
    example()
}

#[test]
fn profile_compares_segments_with_the_base() {
    let o = on_example("profile", &[&seg("lifecycle.seg"), "--format", "csv"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with("segment,customers,share_of_base_pct,revenue,"),
        "{out}"
    );
    let base: Vec<&str> = out.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(&base[..3], ["all customers", "1000", "100.0"]);
    insta::assert_snapshot!(out);
}

#[test]
fn transitions_add_up_to_each_dates_stages() {
    let o = on_example(
        "transitions",
        &[
            "--by",
            "lifecycle",
            "--from",
            "2026-06-30",
            "--to",
            "2026-09-30",
            "--format",
            "csv",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let rows: Vec<(String, String, i64)> = out
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].to_string(), f[1].to_string(), f[2].parse().unwrap())
        })
        .collect();
    for stage in ["active", "at_risk", "churned"] {
        for (date, from_side) in [("2026-06-30", true), ("2026-09-30", false)] {
            let n: i64 = rows
                .iter()
                .filter(|r| {
                    if from_side {
                        r.0 == stage
                    } else {
                        r.1 == stage
                    }
                })
                .map(|r| r.2)
                .sum();
            let c = on_example(
                "run",
                &[
                    "-e",
                    &format!("lifecycle = {stage}"),
                    "--as-of",
                    date,
                    "--count",
                ],
            );
            assert_eq!(stdout(&c).trim(), n.to_string(), "{stage} as of {date}");
        }
    }
    // Nobody can go back from lost to new.
    assert!(!rows.iter().any(|r| r.0 == "lost" && r.1 == "new"));
    insta::assert_snapshot!(out);
}

#[test]
fn flows_count_customers_in_and_out_per_period() {
    let o = on_example(
        "flows",
        &[
            "--every",
            "quarter",
            "--from",
            "2025-11-15",
            "--to",
            "2026-10-31",
            "--format",
            "csv",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "period,start,end,active_at_start,new_in,returned,left,balance,active_at_end"
    );
    // Periods at the edges are cut to the requested dates.
    assert!(
        lines[1].starts_with("2025-Q4,2025-11-15,2025-12-31,"),
        "{out}"
    );
    assert!(
        lines
            .last()
            .unwrap()
            .starts_with("2026-Q4,2026-10-01,2026-10-31,"),
        "{out}"
    );
    assert_flows_add_up(&out);
    // Checked against segments run on their own: the active customers at the end of Q3, and
    // those of them whose first purchase falls in it.
    let q3: Vec<&str> = lines
        .iter()
        .find(|l| l.starts_with("2026-Q3"))
        .unwrap()
        .split(',')
        .collect();
    let count = |expr: &str| {
        let c = on_example("run", &["-e", expr, "--as-of", "2026-09-30", "--count"]);
        stdout(&c).trim().to_string()
    };
    let active = "(lifecycle = new or lifecycle = active or lifecycle = at_risk)";
    assert_eq!(count(active), q3[8]);
    assert_eq!(
        count(&format!(
            "{active} and first_purchase between 2026-07-01 and 2026-09-30"
        )),
        q3[4]
    );
    insta::assert_snapshot!(out);
}

/// A generated project of `customers` customers from `seed`, with the benchmark's project
/// file: the directory (removed when dropped) and its path.
fn demo_project(customers: usize, seed: u64) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let (n, seed) = (customers.to_string(), seed.to_string());
    segql_ok(
        vec!["demo", "--customers", &n, "--seed", &seed, "--out", &d],
        &[],
    );
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/segql.toml"),
        dir.path().join("segql.toml"),
    )
    .unwrap();
    (dir, d)
}

/// Every row of a flows report (CSV) adds up, and each period starts where the one before ended.
fn assert_flows_add_up(csv: &str) {
    let rows: Vec<Vec<i64>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').skip(3).map(|v| v.parse().unwrap()).collect())
        .collect();
    assert!(!rows.is_empty(), "{csv}");
    for r in &rows {
        let [start, new_in, returned, left, balance, end] = r[..] else {
            panic!("{csv}")
        };
        assert_eq!(end, start + new_in + returned - left, "{csv}");
        assert_eq!(balance, end - start, "{csv}");
    }
    for w in rows.windows(2) {
        assert_eq!(w[0][5], w[1][0], "{csv}");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4))]
    /// Flows add up on generated data, by month or quarter, over any stretch of dates, and
    /// the customers active at each period's start and end are those `run` counts as of
    /// those days (the report's one scan against the compiled lifecycle stages).
    #[test]
    fn flows_add_up_on_generated_data(
        seed in 0u64..1000,
        first_day in 0i64..400,
        length in 20i64..300,
        monthly in proptest::bool::ANY,
        partner in proptest::option::of(0usize..3),
    ) {
        let (_dir, d) = demo_project(150, seed);
        let start = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap()
            + chrono::Duration::days(first_day);
        let end = start + chrono::Duration::days(length);
        let (from, to) = (start.to_string(), end.to_string());
        let every = if monthly { "month" } else { "quarter" };
        let mut args = vec![
            "flows", "--project", &d, "--every", every, "--from", &from, "--to", &to, "--format",
            "csv",
        ];
        let partners = ["OKKO", "Silpo", "ALLO"];
        if let Some(p) = partner {
            args.extend(["--partner", partners[p]]);
        }
        let out = segql_ok(args, &[]);
        assert_flows_add_up(&out);
        let at = partner.map(|p| format!(" at \"{}\"", partners[p])).unwrap_or_default();
        let active = format!("lifecycle{at} in (new, active, at_risk)");
        for row in out.lines().skip(1) {
            let f: Vec<&str> = row.split(',').collect();
            let start = chrono::NaiveDate::parse_from_str(f[1], "%Y-%m-%d").unwrap();
            let before = (start - chrono::Duration::days(1)).to_string();
            for (day, column) in [(before.as_str(), f[3]), (f[2], f[8])] {
                let n = segql_ok(
                    vec!["run", "--project", &d, "--as-of", day, "-e", &active, "--count"],
                    &[],
                );
                proptest::prop_assert_eq!(n.trim(), column, "{} as of {}: {}", active, day, out);
            }
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3))]
    /// On generated data (customers who sign up late, any dates, any partner), every stage's
    /// customers on each side of a lifecycle transitions report are those `run` counts as of
    /// that date (the report's one scan against the compiled lifecycle stages).
    #[test]
    fn lifecycle_transitions_match_each_dates_stages(
        seed in 0u64..1000,
        first_day in 0i64..500,
        length in 1i64..300,
        partner in proptest::option::of(0usize..3),
    ) {
        let (_dir, d) = demo_project(600, seed);
        let from = chrono::NaiveDate::from_ymd_opt(2024, 11, 1).unwrap()
            + chrono::Duration::days(first_day);
        let to = (from + chrono::Duration::days(length)).to_string();
        let from = from.to_string();
        let partners = ["OKKO", "Silpo", "ALLO"];
        let mut args = vec![
            "transitions", "--project", &d, "--by", "lifecycle", "--from", &from, "--to", &to,
            "--format", "csv",
        ];
        if let Some(p) = partner {
            args.extend(["--partner", partners[p]]);
        }
        let out = segql_ok(args, &[]);
        let rows: Vec<(String, String, i64)> = out
            .lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (f[0].to_string(), f[1].to_string(), f[2].parse().unwrap())
            })
            .collect();
        let at = partner.map(|p| format!(" at \"{}\"", partners[p])).unwrap_or_default();
        for stage in ["prospect", "new", "active", "at_risk", "churned", "lost"] {
            for (date, from_side) in [(from.as_str(), true), (to.as_str(), false)] {
                let n: i64 = rows
                    .iter()
                    .filter(|r| if from_side { r.0 == stage } else { r.1 == stage })
                    .map(|r| r.2)
                    .sum();
                let expr = format!("lifecycle{at} = {stage}");
                let c = segql_ok(
                    vec!["run", "--project", &d, "--as-of", date, "-e", &expr, "--count"],
                    &[],
                );
                proptest::prop_assert_eq!(c.trim(), n.to_string(), "{} as of {}: {}", expr, date, out);
            }
        }
        // Nobody is absent on the later date.
        proptest::prop_assert!(!rows.iter().any(|r| r.1 == "(none)"), "{}", out);
    }
}

#[test]
fn lifecycle_thresholds_come_from_purchase_gaps() {
    let dir = tempfile::tempdir().unwrap();
    // One customer at X on days 1, 11 and 31: gaps of 10 and 20 days.
    crate::common::write(
        dir.path(),
        "tx.csv",
        "customer_id,ts,amount,partner\nc1,2024-01-01,1,X\nc1,2024-01-11,1,X\nc1,2024-01-31,1,X\nc1,2024-01-31,1,X\nc2,2024-01-05,1,Y\n",
    );
    let tx = dir.path().join("tx.csv");
    let o = segql(
        &[
            "lifecycle-thresholds",
            "--transactions",
            tx.to_str().unwrap(),
            "--format",
            "csv",
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "partner,buyers,repeat_customers,gaps,median_gap,p80_gap,p95_gap,at_risk_days,churned_days,lost_days\nX,1,1,2,10,20,21,20,21,42\n"
    );
    // A partner that is not in the data is an error with the partners it has.
    let o = segql(
        &[
            "lifecycle-thresholds",
            "--transactions",
            tx.to_str().unwrap(),
            "--partner",
            "x",
        ],
        None,
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("no partner \"x\" in the transactions")
            && err.contains("did you mean \"X\"? partners (case matters): \"X\", \"Y\""),
        "{err}"
    );
    // Y has a buyer but no gap: said, not silently left out.
    let o = segql(
        &[
            "lifecycle-thresholds",
            "--transactions",
            tx.to_str().unwrap(),
            "--partner",
            "Y",
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("Y: no customer bought there on two days"),
        "{}",
        stderr(&o)
    );
    // `derive = true` makes them the partner's lifecycle thresholds.
    crate::common::write(
        dir.path(),
        "segql.toml",
        "[project]\nas_of = \"2024-02-20\"\n[transactions]\npath = \"tx.csv\"\n[lifecycle.partners.\"X\"]\nderive = true\n",
    );
    // 20 days since the last purchase at X: at risk for X (from 20 days), active by default.
    let o = segql(
        &[
            "run",
            "-e",
            "lifecycle at \"X\" = at_risk and lifecycle = active",
            "--format",
            "csv",
        ],
        Some(dir.path()),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "customer_id,lifecycle_at_x,lifecycle\nc1,at_risk,active\n"
    );
}

/// The block for the project file merges into it: keys for sections it has, sections for the
/// partners it has none for.
#[test]
fn lifecycle_thresholds_print_a_block_that_merges_into_the_project_file() {
    let o = on_example("lifecycle-thresholds", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let toml = std::fs::read_to_string(crate::common::example_dir().join("segql.toml")).unwrap();
    let block = &out[out.find("# as of").expect("a block")..];
    for line in block.lines().filter(|l| l.starts_with('[')) {
        assert!(
            !toml.contains(line),
            "{line} is in segql.toml already:\n{block}"
        );
    }
    insta::assert_snapshot!(block);
}

#[test]
fn same_bytes_whatever_the_parallelism_or_memory_limit() {
    let project = example();
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "--project", &project, "--format", "csv"];
        let files = [seg("campaigns.seg"), seg("value.seg")];
        let files: Vec<&str> = files.iter().map(String::as_str).collect();
        args.extend_from_slice(&files);
        args.extend_from_slice(extra);
        let o = segql(&args, None);
        assert!(o.status.success(), "{extra:?}: {}", stderr(&o));
        o.stdout
    };
    let one = run(&["--partitions", "1"]);
    assert!(one.len() > 1000);
    assert_eq!(one, run(&["--partitions", "4"]));
    assert_eq!(one, run(&["--partitions", "3", "--memory-limit", "64M"]));
    // A limit too small to run in is a clear error, not a crash.
    let o = on_example(
        "run",
        &["-e", "rfm = \"555\"", "--memory-limit", "1K", "--count"],
    );
    assert!(
        o.status.code() == Some(1) || o.status.success(),
        "{}",
        stderr(&o)
    );
    if !o.status.success() {
        assert!(stderr(&o).contains("segql::data::read"), "{}", stderr(&o));
    }
    let o = on_example("run", &["-e", "recency < 1d", "--memory-limit", "lots"]);
    assert_eq!(o.status.code(), Some(2));
}

/// A reader that goes away (`segql explain ... | head`) ends the output quietly: exit 0, no
/// panic, for the plain-text outputs as for result rows.
#[test]
fn a_closed_standard_output_is_no_error() {
    let example = example();
    for args in [
        vec!["explain", "--project", &example, "-e", "recency < 30d"],
        vec![
            "explain",
            "--stage",
            "analyze",
            "--project",
            &example,
            "-e",
            "recency < 30d",
        ],
        vec!["run", "--project", &example, "-e", "frequency >= 1"],
    ] {
        let mut child = crate::common::segql_command()
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Close the reading end before segql writes anything.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = crate::common::stderr(&out);
        assert!(out.status.success(), "{args:?}: {:?}\n{err}", out.status);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

/// Ids of any length and alphabet, from CSV and from Parquet: the same members and values
/// in every output path.
#[test]
fn long_and_non_ascii_ids_from_csv_and_parquet() {
    use segql_runtime::datafusion::arrow::array::StringArray;
    use segql_runtime::datafusion::arrow::array::{ArrayRef, Date32Array, Decimal128Array};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let long = "ящик-0000000000002"; // 22 bytes
    let rows: [(&str, i32, i64); 5] = [
        ("C1", 20000, 1050),
        (long, 20001, 2000),
        ("C1", 20002, 700),
        ("ключ-7", 20003, 100),
        (long, 20004, 300),
    ];
    let csv = dir.path().join("tx.csv");
    let mut text = String::from("customer_id,ts,amount\n");
    for (id, day, cents) in rows {
        let date = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()
            + chrono::Duration::days(day.into());
        text.push_str(&format!("{id},{date},{}.{:02}\n", cents / 100, cents % 100));
    }
    std::fs::write(&csv, text).unwrap();
    let pq = dir.path().join("tx.parquet");
    let ids = StringArray::from_iter_values(rows.iter().map(|r| r.0));
    let dates = Date32Array::from_iter_values(rows.iter().map(|r| r.1));
    let amounts = Decimal128Array::from_iter_values(rows.iter().map(|r| r.2.into()))
        .with_precision_and_scale(12, 2)
        .unwrap();
    crate::common::write_parquet(
        &pq,
        vec![
            ("customer_id", Arc::new(ids) as ArrayRef),
            ("ts", Arc::new(dates)),
            ("amount", Arc::new(amounts)),
        ],
    );
    let want = format!("customer_id,frequency,monetary\nC1,2,17.50\n{long},2,23.00\n");
    for tx in [&csv, &pq] {
        let run = |extra: &[&str]| {
            let args = vec![
                "run",
                "-e",
                "frequency >= 2 and monetary > 1",
                "--transactions",
                tx.to_str().unwrap(),
                "--as-of",
                "2024-12-31",
            ];
            segql_ok(args, extra)
        };
        assert_eq!(run(&["--format", "csv"]), want, "{}", tx.display());
        assert_eq!(run(&["--count"]).trim(), "2", "{}", tx.display());
        let out = dir.path().join("members.csv");
        run(&["--output", out.to_str().unwrap()]);
        assert_eq!(std::fs::read_to_string(&out).unwrap(), want);
    }
}

/// Text ids in Parquet transactions, integer ids in the CSV customers and communications:
/// read only by the segments that need them, the tables still meet on the ids' text.
#[test]
fn text_transaction_ids_meet_integer_ids_of_tables_read_later() {
    use segql_runtime::datafusion::arrow::array::{
        ArrayRef, Date32Array, Decimal128Array, StringArray,
    };
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let day = |d: &str| {
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        (d.parse::<chrono::NaiveDate>().unwrap() - epoch).num_days() as i32
    };
    let rows = [
        ("1", "2024-12-01", 1000),
        ("2", "2024-12-10", 2000),
        ("3", "2024-11-01", 500),
    ];
    let tx = dir.path().join("tx.parquet");
    crate::common::write_parquet(
        &tx,
        vec![
            (
                "customer_id",
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))) as ArrayRef,
            ),
            (
                "ts",
                Arc::new(Date32Array::from_iter_values(rows.iter().map(|r| day(r.1)))),
            ),
            (
                "amount",
                Arc::new(
                    Decimal128Array::from_iter_values(rows.iter().map(|r| r.2))
                        .with_precision_and_scale(12, 2)
                        .unwrap(),
                ),
            ),
        ],
    );
    let cust = dir.path().join("cust.csv");
    std::fs::write(&cust, "customer_id,city\n1,Kyiv\n2,Lviv\n4,Kyiv\n").unwrap();
    let comm = dir.path().join("comm.csv");
    std::fs::write(&comm, "customer_id,ts,channel\n2,2024-12-20,sms\n").unwrap();
    let run = |expr: &str, extra: &[&str]| {
        let args = vec![
            "run",
            "-e",
            expr,
            "--transactions",
            tx.to_str().unwrap(),
            "--customers",
            cust.to_str().unwrap(),
            "--communications",
            comm.to_str().unwrap(),
            "--as-of",
            "2024-12-31",
        ];
        segql_ok(args, extra)
    };
    let csv = ["--format", "csv"];
    assert_eq!(
        run("city = \"Kyiv\"", &csv),
        "customer_id,city\n1,Kyiv\n4,Kyiv\n"
    );
    // 2 was messaged; 3 bought last 60 days ago.
    assert_eq!(
        run("recency < 60d and not contacted(sms, 30d)", &csv),
        "customer_id,recency,contacts_sms_30d\n1,30,0\n"
    );
    // 3 has no customers row, so no city.
    assert_eq!(
        run("frequency >= 1 and city != \"Lviv\"", &csv),
        "customer_id,frequency,city\n1,1,Kyiv\n"
    );
    assert_eq!(run("frequency >= 1", &["--count"]), "3\n");
}

/// The text of one part of an Excel workbook (a zip of XML files).
fn xlsx_part(path: &Path, part: &str) -> String {
    use std::io::Read;
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut text = String::new();
    zip.by_name(part)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    text
}

#[test]
fn excel_output_is_a_workbook_with_typed_cells() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("atrisk.xlsx");
    let o = on_example(
        "run",
        &[
            "-e",
            "monetary > 30000 and last_purchase >= 2026-10-01",
            "--output",
            out.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = stdout(&on_example(
        "run",
        &[
            "-e",
            "monetary > 30000 and last_purchase >= 2026-10-01",
            "--format",
            "csv",
        ],
    ));
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    assert!(rows.len() > 1, "{csv}");
    let strings = xlsx_part(&out, "xl/sharedStrings.xml");
    let sheet = xlsx_part(&out, "xl/worksheets/sheet1.xml");
    let styles = xlsx_part(&out, "xl/styles.xml");
    // The header row and the ids are text; money is a number with two places; dates are dates.
    for name in ["customer_id", "monetary", "last_purchase", rows[1][0]] {
        assert!(strings.contains(&format!(">{name}<")), "{name}: {strings}");
    }
    assert!(
        sheet.contains(&format!(
            "<v>{}</v>",
            rows[1][1].trim_end_matches('0').trim_end_matches('.')
        )),
        "{}: {sheet}",
        rows[1][1]
    );
    assert!(
        styles.contains("#,##0.00") && styles.contains("yyyy-mm-dd"),
        "{styles}"
    );
    assert!(
        sheet.contains("<pane ") && sheet.contains("state=\"frozen\""),
        "{sheet}"
    );
    // Data rows plus the header row.
    assert_eq!(sheet.matches("<row ").count(), rows.len(), "{sheet}");

    // An extension segql cannot write: an error listing the formats, no file.
    let bad = dir.path().join("atrisk.xls");
    let o = on_example(
        "run",
        &["-e", "recency < 30d", "--output", bad.to_str().unwrap()],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("unknown file type") && err.contains(".xlsx"),
        "{err}"
    );
    assert!(!bad.exists());
}

#[test]
fn tables_for_people_group_thousands_and_files_for_programs_do_not() {
    // `profile` without segments shows the base.
    let table = stdout(&on_example("profile", &[]));
    assert!(table.contains("| all customers | 1,000 "), "{table}");
    assert!(table.contains("17,705,629.71"), "{table}");
    let csv = stdout(&on_example("profile", &["--format", "csv"]));
    assert!(
        csv.contains("all customers,1000,") && csv.contains(",17705629.71,"),
        "{csv}"
    );
    // Piped, --count prints the bare number.
    let n = stdout(&on_example("run", &["-e", "recency < 30d", "--count"]));
    assert!(n.trim().parse::<u64>().is_ok(), "{n}");
    // One spelling across the CLI and the REPL, the other accepted.
    for by in ["rfm_segment", "rfm-segment"] {
        let o = on_example(
            "transitions",
            &[
                "--by",
                by,
                "--from",
                "2026-06-30",
                "--to",
                "2026-09-30",
                "--format",
                "csv",
            ],
        );
        assert!(o.status.success(), "{by}: {}", stderr(&o));
    }
}

/// Text values that occur nowhere are never silent: a warning names the closest values.
#[test]
fn values_that_occur_nowhere_are_warned_of_with_the_closest() {
    for (expr, warning) in [
        (
            "city = \"kyiv\"",
            "no city \"kyiv\" in the customers (text compares exactly, case included); did you mean \"Kyiv\"?",
        ),
        (
            "gender = \"F\"",
            "no gender \"F\" in the customers (text compares exactly, case included); did you mean \"f\"?",
        ),
        (
            "bought partner \"silpo\"",
            "no partner \"silpo\" in the transactions (text compares exactly, case included); did you mean \"Silpo\"?",
        ),
        (
            "bought \"Coffee\"",
            "no product \"Coffee\" in the transactions (text compares exactly, case included); \"Coffee\" is a category: write `category \"Coffee\"` (e.g. `bought category \"Coffee\"`)",
        ),
        (
            "lifecycle at \"okko\" = active",
            "no partner \"okko\" in the transactions",
        ),
    ] {
        let o = on_example("run", &["-e", expr, "--count"]);
        assert!(o.status.success(), "{expr}: {}", stderr(&o));
        assert_eq!(stdout(&o).trim(), "0", "{expr}");
        assert!(
            stderr(&o).contains(&format!(
                "warning[segql::data::no_such_value]: expression: {warning}"
            )),
            "{expr}: {}",
            stderr(&o)
        );
    }
    // A value that occurs: no warning.
    let o = on_example(
        "run",
        &[
            "-e",
            "city = \"Kyiv\" and bought category \"Coffee\"",
            "--count",
        ],
    );
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));
    // check --data with segment files says it too.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("typo.seg");
    std::fs::write(&f, "segment kyiv = city = \"kyiv\"\n").unwrap();
    let o = segql(
        &[
            "check",
            "--data",
            "--project",
            &example(),
            f.to_str().unwrap(),
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("warning[segql::data::no_such_value]: segment kyiv: no city \"kyiv\""),
        "{}",
        stdout(&o)
    );
}

/// `--portable` and `--no-physical-rule` change the plan, never the result: the example's
/// segments count the same, portable physical plans hold none of segql's own nodes, and an
/// unknown rule is a usage error that lists the known ones.
#[test]
fn physical_rules_switch_off_without_changing_results() {
    let campaigns = seg("campaigns.seg");
    let count = |extra: &[&str]| {
        let mut args = vec![campaigns.as_str(), "--count"];
        args.extend_from_slice(extra);
        let o = on_example("run", &args);
        assert!(o.status.success(), "{extra:?}: {}", stderr(&o));
        stdout(&o)
    };
    let all = count(&[]);
    assert_eq!(count(&["--portable"]), all);
    assert_eq!(
        count(&[
            "--no-physical-rule",
            "collapse_runs",
            "--no-physical-rule",
            "segql_read_once"
        ]),
        all
    );
    let physical = |extra: &[&str]| {
        let mut args = vec![
            "-e",
            "frequency >= 2 and city = \"Kyiv\"",
            "--stage",
            "physical",
        ];
        args.extend_from_slice(extra);
        let o = on_example("explain", &args);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    assert!(physical(&[]).contains("CollapseRunsExec"));
    let portable = physical(&["--portable"]);
    for node in segql_runtime::physical::SEGQL_NODES {
        assert!(
            !portable.contains(node),
            "{node} in a portable plan:\n{portable}"
        );
    }
    let o = on_example(
        "run",
        &["-e", "frequency >= 2", "--no-physical-rule", "joins"],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("no physical rule `joins`"), "{err}");
    assert!(
        err.contains("collect_build_side, roll_up_by_customer"),
        "{err}"
    );
}

/// `segql demo --customers N --seed 7 EXTRA... --out DIR/NAME`: the directory and the counts
/// the demo said it wrote.
fn demo_shape(dir: &Path, name: &str, customers: &str, extra: &[&str]) -> (PathBuf, String) {
    let out = dir.join(name);
    let o = out.display().to_string();
    let said = segql_ok(
        vec!["demo", "--customers", customers, "--seed", "7", "--out", &o],
        extra,
    );
    // Without the directory: the counts.
    let said = said.split(" to ").next().unwrap().to_string();
    (out, said)
}

/// The batches of a Parquet file, in file order.
fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let file = std::fs::File::open(path).unwrap();
    ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// A column of all the batches, as one array.
fn column(batches: &[RecordBatch], name: &str) -> ArrayRef {
    let parts: Vec<&dyn Array> = batches
        .iter()
        .map(|b| b.column_by_name(name).expect(name).as_ref())
        .collect();
    concat(&parts).unwrap()
}

/// The batches as CSV lines (no header, dates as written by the demo), sorted: their rows
/// as a multiset.
fn csv_lines(batches: &[RecordBatch], header: bool) -> Vec<String> {
    let mut buf = Vec::new();
    {
        let mut w = segql_runtime::datafusion::arrow::csv::WriterBuilder::new()
            .with_header(header)
            .with_date_format("%Y-%m-%d".into())
            .build(&mut buf);
        for b in batches {
            w.write(b).unwrap();
        }
    }
    String::from_utf8(buf)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Customer ids of the rows, in order.
fn customer_ids(batches: &[RecordBatch]) -> Vec<String> {
    let c = column(batches, "customer_id");
    c.as_string::<i32>()
        .iter()
        .map(|s| s.unwrap().to_string())
        .collect()
}

/// How many runs of equal neighbours `v` has.
fn runs<T: PartialEq>(v: &[T]) -> usize {
    v.windows(2).filter(|w| w[0] != w[1]).count() + usize::from(!v.is_empty())
}

#[test]
fn demo_orders_hold_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let read = |name: &str, order: &str| {
        let (out, said) = demo_shape(dir.path(), name, "2000", &["--order", order]);
        (read_parquet(&out.join("transactions.parquet")), said)
    };
    let (by_customer, said) = read("customer", "customer");
    let (by_date, said_date) = read("date", "date");
    let (shuffled, said_shuffled) = read("shuffled", "shuffled");
    assert_eq!(said, said_date);
    assert_eq!(said, said_shuffled);
    let n: usize = by_customer.iter().map(RecordBatch::num_rows).sum();
    assert!(said.contains(&format!(" {n} transaction lines")), "{said}");
    assert!(n > 10_000, "{n}");

    // Customer order: one run per customer, each by date.
    let ids = customer_ids(&by_customer);
    let distinct: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(runs(&ids), distinct.len());
    let ts = |b: &[RecordBatch]| -> Vec<i32> {
        column(b, "ts")
            .as_primitive::<Date32Type>()
            .values()
            .to_vec()
    };
    let ts_c = ts(&by_customer);
    assert!(
        ids.windows(2)
            .zip(ts_c.windows(2))
            .all(|(i, t)| i[0] != i[1] || t[0] <= t[1])
    );
    // Date order: non-decreasing dates; a day's rows in customer order.
    let ts_d = ts(&by_date);
    assert!(ts_d.windows(2).all(|w| w[0] <= w[1]));
    let ids_d = customer_ids(&by_date);
    assert!(
        ids_d
            .windows(2)
            .zip(ts_d.windows(2))
            .all(|(i, t)| t[0] != t[1] || i[0] <= i[1])
    );
    // Shuffled: neither by date nor grouped by customer.
    let ts_s = ts(&shuffled);
    let ids_s = customer_ids(&shuffled);
    let falls = ts_s.windows(2).filter(|w| w[0] > w[1]).count();
    assert!(falls > n / 4, "{falls} of {n}");
    assert!(runs(&ids_s) > n * 9 / 10, "{} runs of {n}", runs(&ids_s));

    // The same multiset of rows: the same lines, so the same count, sum of amounts and
    // lines per customer.
    let rows = sorted(csv_lines(&by_customer, false));
    assert_eq!(rows.len(), n);
    assert!(rows == sorted(csv_lines(&by_date, false)));
    assert!(rows == sorted(csv_lines(&shuffled, false)));
    let sum = |b: &[RecordBatch]| -> i128 {
        column(b, "amount")
            .as_primitive::<Decimal128Type>()
            .values()
            .iter()
            .sum()
    };
    assert_eq!(sum(&by_customer), sum(&shuffled));
    let per_customer = |ids: &[String]| {
        let mut m = std::collections::BTreeMap::<String, usize>::new();
        for i in ids {
            *m.entry(i.clone()).or_default() += 1;
        }
        m
    };
    assert_eq!(per_customer(&ids), per_customer(&ids_s));
    assert_eq!(per_customer(&ids), per_customer(&ids_d));
}

#[test]
fn demo_shapes_change_only_what_they_name() {
    let dir = tempfile::tempdir().unwrap();
    let (plain, _) = demo_shape(dir.path(), "plain", "500", &[]);
    let shape = [
        "--amounts",
        "float64",
        "--no-receipts",
        "--customers-format",
        "parquet",
    ];
    let (shaped, said) = demo_shape(dir.path(), "shaped", "500", &shape);
    let (again, said_again) = demo_shape(dir.path(), "again", "500", &shape);
    assert_eq!(said, said_again);

    let tx = read_parquet(&plain.join("transactions.parquet"));
    let tx_s = read_parquet(&shaped.join("transactions.parquet"));
    // No receipt_id, a Float64 amount; every other column as it was.
    let schema = tx_s[0].schema();
    assert!(
        schema.column_with_name("receipt_id").is_none(),
        "{schema:?}"
    );
    assert!(tx[0].schema().column_with_name("receipt_id").is_some());
    assert_eq!(
        schema.field_with_name("amount").unwrap().data_type(),
        &DataType::Float64
    );
    for f in tx[0].schema().fields() {
        let name = f.name();
        if name != "receipt_id" && name != "amount" {
            assert!(
                column(&tx, name).as_ref() == column(&tx_s, name).as_ref(),
                "{name}"
            );
        }
    }
    // The float amounts are the decimal amounts' cents.
    let cents = column(&tx, "amount");
    let cents = cents.as_primitive::<Decimal128Type>().values();
    let floats = column(&tx_s, "amount");
    let floats = floats.as_primitive::<Float64Type>().values();
    assert_eq!(cents.len(), floats.len());
    assert!(cents.len() > 1000);
    for (c, f) in cents.iter().zip(floats.iter()) {
        assert_eq!(*c, (f * 100.0).round() as i128);
        assert_eq!(*f, *c as f64 / 100.0);
    }
    // Parquet customers hold the CSV file's rows, in its order.
    assert!(!shaped.join("customers.csv").exists());
    let customers = read_parquet(&shaped.join("customers.parquet"));
    let as_csv = csv_lines(&customers, true).join("\n") + "\n";
    assert_eq!(
        as_csv,
        std::fs::read_to_string(plain.join("customers.csv")).unwrap()
    );
    // The same options twice: the same files.
    let mut names: Vec<_> = std::fs::read_dir(&shaped)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "communications.csv",
            "customers.parquet",
            "transactions.parquet"
        ]
    );
    for f in names {
        assert!(
            std::fs::read(shaped.join(&f)).unwrap() == std::fs::read(again.join(&f)).unwrap(),
            "{f:?} differs"
        );
    }
    // A shuffled CSV twice, too.
    let csv = ["--order", "shuffled", "--format", "csv"];
    let (a, _) = demo_shape(dir.path(), "shuffled-a", "300", &csv);
    let (b, _) = demo_shape(dir.path(), "shuffled-b", "300", &csv);
    let a = std::fs::read(a.join("transactions.csv")).unwrap();
    assert!(a == std::fs::read(b.join("transactions.csv")).unwrap());
    // A directory with the other customers format is not written to either.
    let o = segql(
        &[
            "demo",
            "--customers",
            "5",
            "--out",
            shaped.to_str().unwrap(),
        ],
        None,
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("customers.parquet"), "{}", stderr(&o));
    assert!(!shaped.join("customers.csv").exists());
}

#[test]
fn demo_lines_per_customer_sets_history_length() {
    let dir = tempfile::tempdir().unwrap();
    let lines = |target: f64| {
        let t = target.to_string();
        let (_, said) = demo_shape(
            dir.path(),
            &format!("lines-{t}"),
            "2000",
            &["--lines-per-customer", &t],
        );
        // "wrote N customers, M transaction lines and K messages to DIR"
        let words: Vec<&str> = said.split_whitespace().collect();
        let customers: f64 = words[1].parse().unwrap();
        let lines: f64 = words[3].parse().unwrap();
        lines / customers
    };
    for target in [3.0, 25.0] {
        let got = lines(target);
        assert!((got / target - 1.0).abs() < 0.15, "{got} for {target}");
    }
    let o = segql(
        &["demo", "--lines-per-customer", "0", "--out", "unused"],
        None,
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("positive"), "{}", stderr(&o));
}

#[test]
fn run_reads_a_demo_without_receipts_with_float_amounts_and_parquet_customers() {
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = demo_shape(
        dir.path(),
        "data",
        "400",
        &[
            "--no-receipts",
            "--amounts",
            "float64",
            "--customers-format",
            "parquet",
            "--order",
            "shuffled",
        ],
    );
    crate::common::write(
        &out,
        "segql.toml",
        "[transactions]\npath = \"transactions.parquet\"\n\n[customers]\npath = \"customers.parquet\"\n\n[customers.columns]\ncustomer_id = \"id\"\nbirthday = \"dob\"\nsignup_date = \"registered\"\n\n[communications]\npath = \"communications.csv\"\n\n[communications.columns]\nts = \"sent_at\"\n",
    );
    let d = out.display().to_string();
    let count = segql_ok(
        vec![
            "run",
            "--project",
            &d,
            "-e",
            "frequency >= 2",
            "--count",
            "--as-of",
            "2026-10-31",
        ],
        &[],
    );
    // Without receipt ids every line is a purchase: customers with two lines or more.
    let ids = customer_ids(&read_parquet(&out.join("transactions.parquet")));
    let mut per = std::collections::BTreeMap::<String, usize>::new();
    for i in ids {
        *per.entry(i).or_default() += 1;
    }
    let expected = per.values().filter(|&&n| n >= 2).count();
    assert!(expected > 100, "{expected}");
    assert_eq!(count.trim(), expected.to_string());
    // A customer attribute comes from the Parquet customers.
    let kyiv = segql_ok(
        vec![
            "run",
            "--project",
            &d,
            "-e",
            "city = \"Kyiv\"",
            "--count",
            "--as-of",
            "2026-10-31",
        ],
        &[],
    );
    let kyiv: usize = kyiv.trim().parse().unwrap();
    assert!(kyiv > 50 && kyiv < 300, "{kyiv}");
}
