//! Bad data and bad project files, end to end: each situation has a decided behaviour (see
//! docs/data.md), a diagnostic code and a message that names the file and the column.

use segql_runtime::datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, Decimal128Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use segql_runtime::datafusion::arrow::datatypes::{DataType, TimeUnit};
use segql_runtime::datafusion::parquet::arrow::ArrowWriter;
use std::path::Path;
use std::process::Output;
use std::sync::Arc;

use crate::common::{stderr, stdout, write, write_parquet};

/// Runs segql in `dir` (so messages carry the short relative paths used here).
fn segql(dir: &Path, args: &[&str]) -> Output {
    crate::common::segql_command()
        .args(args)
        .current_dir(dir)
        .output()
        .expect("segql runs")
}

/// `segql run -e "frequency >= 1" --transactions TX EXTRA...` in `dir`.
fn run_tx(dir: &Path, tx: &str, extra: &[&str]) -> Output {
    let mut args = vec!["run", "-e", "frequency >= 1", "--transactions", tx];
    args.extend_from_slice(extra);
    segql(dir, &args)
}

/// Standard error as printed, for snapshots.
fn rendered(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// Asserts a failure with exit code 1 (never a panic's 101) and `code`; returns the message.
fn fails_with(o: &Output, code: &str) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "{err}\n{}", stdout(o));
    assert!(err.contains(code), "expected {code}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// Runs `-e EXPR --format csv` over `tx.csv` (and `cust.csv` when it exists) as of a date.
fn run_csv(dir: &Path, expr: &str, as_of: &str) -> String {
    let mut args = vec![
        "run",
        "-e",
        expr,
        "--transactions",
        "tx.csv",
        "--as-of",
        as_of,
        "--format",
        "csv",
    ];
    if dir.join("cust.csv").exists() {
        args.extend(["--customers", "cust.csv"]);
    }
    let o = segql(dir, &args);
    assert!(o.status.success(), "{expr}: {}", stderr(&o));
    stdout(&o)
}

fn days(y: i32, m: u32, d: u32) -> i32 {
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    (chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap() - epoch).num_days() as i32
}

fn amounts(v: &[i128]) -> ArrayRef {
    Arc::new(
        Decimal128Array::from(v.to_vec())
            .with_precision_and_scale(12, 2)
            .unwrap(),
    )
}

// 1. Missing files.

#[test]
fn a_missing_file_or_an_empty_glob_names_the_configured_path() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let err = fails_with(&run_tx(d, "nope.csv", &[]), "segql::data::no_files");
    assert!(
        err.contains("the transactions path `nope.csv` matches no file"),
        "{err}"
    );

    write(d, "tx.csv", "customer_id,ts,amount\n1,2024-01-01,5\n");
    write(
        d,
        "segql.toml",
        "[transactions]\npath = \"tx.csv\"\n[customers]\npath = \"exports/customers-*.csv\"\n",
    );
    let o = segql(
        d,
        &["run", "--project", ".", "-e", "frequency >= 1", "--count"],
    );
    let err = fails_with(&o, "segql::data::no_files");
    assert!(
        err.contains("the customers path `exports/customers-*.csv` matches no file"),
        "{err}"
    );
    insta::assert_snapshot!(rendered(&o));
}

// 2. Empty files.

#[test]
fn an_empty_file_is_an_error_and_a_header_alone_counts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "tx.csv", "");
    let o = run_tx(d, "tx.csv", &["--count"]);
    let err = fails_with(&o, "segql::data::empty_file");
    assert!(
        err.contains("the transactions file `tx.csv` is empty: no header line"),
        "{err}"
    );
    insta::assert_snapshot!(rendered(&o));

    // In a directory, the empty file is the one named.
    std::fs::create_dir(d.join("tx")).unwrap();
    write(
        d,
        "tx/2024-01.csv",
        "customer_id,ts,amount\n1,2024-01-01,5\n",
    );
    write(d, "tx/2024-02.csv", "");
    let err = fails_with(&run_tx(d, "tx", &["--count"]), "segql::data::empty_file");
    assert!(err.contains("2024-02.csv"), "{err}");

    // A header alone: valid, no rows. Without purchases there is no latest date to default to.
    write(d, "tx.csv", "customer_id,ts,amount\n");
    let counted = segql(
        d,
        &[
            "run",
            "-e",
            "frequency >= 0",
            "--transactions",
            "tx.csv",
            "--as-of",
            "2024-06-30",
            "--count",
        ],
    );
    assert!(counted.status.success(), "{}", stderr(&counted));
    assert_eq!(stdout(&counted), "0\n");
    let o = segql(
        d,
        &[
            "run",
            "-e",
            "frequency >= 0",
            "--transactions",
            "tx.csv",
            "--count",
        ],
    );
    let err = fails_with(&o, "segql::data::empty");
    assert!(
        err.contains("the transactions `tx.csv` have no dated rows"),
        "{err}"
    );
    assert!(err.contains("--as-of"), "{err}");
    insta::assert_snapshot!("header_alone_without_as_of", rendered(&o));
}

// 3. Missing or misnamed columns.

#[test]
fn a_misnamed_column_is_named_with_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "tx.csv", "customer_id,ts,amount\n1,2024-01-01,5\n");
    write(
        d,
        "segql.toml",
        "[transactions]\npath = \"tx.csv\"\n[transactions.columns]\ncustomer_id = \"custmer_id\"\n",
    );
    let o = segql(
        d,
        &["run", "--project", ".", "-e", "frequency >= 1", "--count"],
    );
    let err = fails_with(&o, "segql::data::missing_column");
    assert!(
        err.contains(
            "the transactions data `tx.csv` has no column `custmer_id` (for `customer_id`)"
        ),
        "{err}"
    );
    assert!(err.contains("did you mean `customer_id`?"), "{err}");
    insta::assert_snapshot!(rendered(&o));

    // The file's header is misspelt instead: the canonical name is looked for.
    write(d, "tx.csv", "custmer_id,ts,amount\n1,2024-01-01,5\n");
    write(d, "segql.toml", "[transactions]\npath = \"tx.csv\"\n");
    let err = fails_with(
        &segql(d, &["run", "--project", ".", "-e", "frequency >= 1"]),
        "segql::data::missing_column",
    );
    assert!(err.contains("has no column `customer_id`"), "{err}");
    assert!(err.contains("did you mean `custmer_id`?"), "{err}");
    assert!(err.contains("customer_id = \"...\""), "{err}");
}

// 4. Wrong column types and unreadable values.

#[test]
fn unreadable_values_name_the_file_the_column_and_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = |args: &[&str]| {
        let mut all = vec!["run", "-e", "monetary > 0", "--count"];
        all.extend_from_slice(args);
        segql(d, &all)
    };

    // A text amount.
    write(
        d,
        "tx.csv",
        "customer_id,ts,amount\n1,2024-01-01,5\n2,2024-01-02,abc\n",
    );
    let err = fails_with(
        &run(&["--transactions", "tx.csv"]),
        "segql::data::unreadable",
    );
    assert!(
        err.contains("the transactions file `tx.csv` has `abc` in column `amount` (line 3), which is not a number"),
        "{err}"
    );

    // A date in another format, without date_format.
    write(
        d,
        "tx.csv",
        "customer_id,ts,amount\n1,30/12/2024,5\n2,31/12/2024,7\n",
    );
    let o = run(&["--transactions", "tx.csv"]);
    let err = fails_with(&o, "segql::data::unreadable");
    assert!(
        err.contains("has `30/12/2024` in column `ts` (line 2), which is not a date"),
        "{err}"
    );
    assert!(err.contains("date_format = \"%d/%m/%Y\""), "{err}");
    insta::assert_snapshot!("date_without_format", rendered(&o));
    // ... which the right date_format reads, and a wrong one names.
    let o = run(&["--transactions", "tx.csv", "--date-format", "%d/%m/%Y"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "2\n");
    let err = fails_with(
        &run(&["--transactions", "tx.csv", "--date-format", "%d.%m.%Y"]),
        "segql::data::unreadable",
    );
    assert!(
        err.contains("which is not a date in the table's date_format `%d.%m.%Y`"),
        "{err}"
    );

    // Mapped columns are named as the file names them; a glob names the one file.
    std::fs::create_dir(d.join("tx")).unwrap();
    write(d, "tx/a.csv", "card;day;total\n1;2024-01-01;5.00\n");
    write(d, "tx/b.csv", "card;day;total\n2;2024-01-02;12,50\n");
    write(
        d,
        "segql.toml",
        "[transactions]\npath = \"tx/*.csv\"\ndelimiter = \";\"\n[transactions.columns]\ncustomer_id = \"card\"\nts = \"day\"\namount = \"total\"\n",
    );
    let err = fails_with(&run(&["--project", "."]), "segql::data::unreadable");
    assert!(
        err.contains("the transactions file `tx/b.csv` has `12,50` in column `total` (line 2), which is not a number"),
        "{err}"
    );

    // The first bad line, counted across the reader's batches.
    let mut text = String::from("customer_id,ts,amount\n");
    for i in 0..9_000 {
        text.push_str(&format!(
            "{i},2024-01-01,{}\n",
            if i == 8_999 { "1 000" } else { "5" }
        ));
    }
    write(d, "tx.csv", &text);
    let err = fails_with(
        &run(&["--transactions", "tx.csv"]),
        "segql::data::unreadable",
    );
    assert!(
        err.contains("has `1 000` in column `amount` (line 9001)"),
        "{err}"
    );
    // Past the rows the reader infers types from, its own parser finds the value.
    let mut text = String::from("customer_id,ts,amount\n");
    for i in 0..10_010 {
        let ts = if i == 10_005 {
            "2024-02-30"
        } else {
            "2024-01-01"
        };
        text.push_str(&format!("{i},{ts},5\n"));
    }
    write(d, "tx.csv", &text);
    let err = fails_with(
        &segql(
            d,
            &[
                "run",
                "-e",
                "frequency > 0",
                "--transactions",
                "tx.csv",
                "--count",
            ],
        ),
        "segql::data::unreadable",
    );
    assert!(
        err.contains("has `2024-02-30` in column `ts` (line 10007), which is not a date"),
        "{err}"
    );

    // Communications too.
    write(d, "tx.csv", "customer_id,ts,amount\n1,2024-01-01,5\n");
    write(
        d,
        "comm.csv",
        "customer_id,ts,channel\n1,2024-01-01,sms\n1,yesterday,sms\n",
    );
    let err = fails_with(
        &segql(
            d,
            &[
                "run",
                "-e",
                "contacts within 30d > 0",
                "--transactions",
                "tx.csv",
                "--communications",
                "comm.csv",
                "--count",
            ],
        ),
        "segql::data::unreadable",
    );
    assert!(
        err.contains("the communications file `comm.csv` has `yesterday` in column `ts` (line 3)"),
        "{err}"
    );

    // A type that can never be an amount is rejected from the schema, before any scan.
    write_parquet(
        &d.join("tx.parquet"),
        vec![
            (
                "customer_id",
                Arc::new(StringArray::from(vec!["1"])) as ArrayRef,
            ),
            ("ts", Arc::new(Date32Array::from(vec![days(2024, 1, 1)]))),
            ("amount", Arc::new(BooleanArray::from(vec![true]))),
        ],
    );
    let o = run(&["--transactions", "tx.parquet"]);
    let err = fails_with(&o, "segql::data::bad_column_type");
    assert!(
        err.contains("column `amount` of the transactions data `tx.parquet` has type Boolean, which cannot be used as `amount`"),
        "{err}"
    );
    insta::assert_snapshot!("boolean_amount", rendered(&o));
}

// 5. Rows without a customer id.

#[test]
fn rows_without_a_customer_id_are_skipped_and_counted_by_check_data() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "tx.csv",
        "customer_id,ts,amount\n1,2024-01-01,5\n,2024-01-02,7\n\"\",2024-01-03,9\n2,2024-01-04,1\n",
    );
    assert_eq!(
        run_csv(d, "frequency >= 1", "2024-01-31"),
        "customer_id,frequency\n1,1\n2,1\n"
    );
    // An empty text id in Parquet is no id either.
    write_parquet(
        &d.join("tx.parquet"),
        vec![
            (
                "customer_id",
                Arc::new(StringArray::from(vec![Some("a"), Some(""), None])) as ArrayRef,
            ),
            ("ts", Arc::new(Date32Array::from(vec![days(2024, 1, 1); 3]))),
            ("amount", amounts(&[500, 700, 900])),
        ],
    );
    let o = segql(
        d,
        &[
            "run",
            "-e",
            "monetary > 0",
            "--transactions",
            "tx.parquet",
            "--format",
            "csv",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "customer_id,monetary\na,5.00\n");

    let o = segql(d, &["check", "--data", "--transactions", "tx.parquet"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("warning[segql::data::no_customer_id]: column `customer_id`: 2 rows without a customer id: skipped"),
        "{out}"
    );
    assert!(
        out.contains("transactions `tx.parquet`: 3 rows, 1 customer"),
        "{out}"
    );
}

/// Parquet statistics leave a condition out of plans only when every row group proves it:
/// one row group with a NULL date or an empty id keeps the filter that skips such lines.
/// Where they prove the dates, the default as-of date is read from them, without a scan.
#[test]
fn parquet_statistics_prove_conditions_only_for_every_row_group() {
    use segql_runtime::datafusion::parquet::file::properties::WriterProperties;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Two lines per row group; the last group alone holds the flaw.
    let write_groups = |ids: Vec<Option<&str>>, dates: Vec<Option<i32>>| {
        let batch = RecordBatch::try_from_iter(vec![
            ("customer_id", Arc::new(StringArray::from(ids)) as ArrayRef),
            ("ts", Arc::new(Date32Array::from(dates)) as ArrayRef),
            ("amount", amounts(&[100, 200, 300, 400])),
        ])
        .unwrap();
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(2))
            .build();
        let file = std::fs::File::create(d.join("tx.parquet")).unwrap();
        let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    };
    let open = || {
        crate::common::block_on(async {
            let p = segql_runtime::Project::from_paths("tx.parquet", None, None, None);
            let p = segql_runtime::Project {
                dir: d.to_path_buf(),
                ..p
            };
            segql_runtime::Engine::open(p, Default::default(), true)
                .await
                .unwrap()
        })
    };
    let members = |expr: &str| {
        let o = segql(
            d,
            &[
                "run",
                "-e",
                expr,
                "--transactions",
                "tx.parquet",
                "--format",
                "csv",
            ],
        );
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let (jan1, jan9) = (days(2024, 1, 1), days(2024, 1, 9));

    // Clean: every id present, every date known.
    write_groups(
        vec![Some("a"), Some("a"), Some("b"), Some("c")],
        vec![Some(jan1), Some(jan1 + 1), Some(jan1 + 2), Some(jan9)],
    );
    let e = open();
    let range = chrono::NaiveDate::from_ymd_opt(2024, 1, 1)
        .zip(chrono::NaiveDate::from_ymd_opt(2024, 1, 9));
    assert_eq!(e.catalog.facts.dates, range);
    assert!(e.catalog.facts.ids_present);
    assert_eq!(e.catalog.as_of.to_string(), "2024-01-09");
    assert_eq!(
        members("frequency within 7d >= 1"),
        "customer_id,frequency_7d\nb,1\nc,1\n"
    );

    // A NULL date in the second row group: no date range, and the line is skipped.
    write_groups(
        vec![Some("a"), Some("a"), Some("b"), Some("c")],
        vec![Some(jan1), Some(jan1 + 1), Some(jan1 + 2), None],
    );
    let e = open();
    assert_eq!(e.catalog.facts.dates, None);
    assert!(e.catalog.facts.ids_present);
    assert_eq!(e.catalog.as_of.to_string(), "2024-01-03");
    assert_eq!(
        members("frequency >= 1"),
        "customer_id,frequency\na,2\nb,1\n"
    );

    // An empty id in the second row group: ids are not proven, and the line is skipped.
    write_groups(
        vec![Some("a"), Some("a"), Some("b"), Some("")],
        vec![Some(jan1), Some(jan1 + 1), Some(jan1 + 2), Some(jan9)],
    );
    let e = open();
    assert!(!e.catalog.facts.ids_present);
    assert_eq!(e.catalog.as_of.to_string(), "2024-01-03");
    assert_eq!(
        members("frequency >= 1"),
        "customer_id,frequency\na,2\nb,1\n"
    );
}

// 6. Returns.

#[test]
fn returns_subtract_from_monetary_and_count_as_purchases() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // a: a purchase, then a return on a receipt of its own ten days later.
    // b: a purchase and, on the same receipt, a returned line.
    // c: only a return, in a file without receipts it would still be a purchase.
    write(
        d,
        "tx.csv",
        "customer_id,ts,amount,receipt_id\n\
         a,2024-01-01,100.00,r1\n\
         a,2024-01-11,-30.00,r2\n\
         b,2024-01-05,50.00,r3\n\
         b,2024-01-05,-10.00,r3\n\
         c,2024-01-20,-5.00,r4\n",
    );
    assert_eq!(
        run_csv(d, "frequency >= 1 and monetary > -100", "2024-01-31"),
        "customer_id,frequency,monetary\na,2,70.00\nb,1,40.00\nc,1,-5.00\n"
    );
    // The return is the last purchase: recency counts from it.
    assert_eq!(
        run_csv(d, "recency <= 20d", "2024-01-31"),
        "customer_id,recency\na,20\nc,11\n"
    );
    assert_eq!(
        run_csv(d, "avg_check > 0", "2024-01-31"),
        "customer_id,avg_check\na,35.00\nb,40.00\n"
    );
    let o = segql(d, &["check", "--data", "--transactions", "tx.csv"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(
            "warning[segql::data::returns]: column `amount`: 3 rows with a negative amount: returns"
        ),
        "{}",
        stdout(&o)
    );
}

// 7. Duplicate rows.

#[test]
fn duplicate_rows_are_kept_and_counted_by_check_data() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "tx.csv",
        "customer_id,ts,amount,receipt_id\na,2024-01-01,10.00,r1\na,2024-01-01,10.00,r1\nb,2024-01-02,3.00,r2\n",
    );
    // Two identical lines may be two real items: monetary counts both, the receipt once.
    assert_eq!(
        run_csv(d, "frequency >= 1 and monetary > 0", "2024-01-31"),
        "customer_id,frequency,monetary\na,1,20.00\nb,1,3.00\n"
    );
    let o = segql(d, &["check", "--data", "--transactions", "tx.csv"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o)
            .contains("warning[segql::data::duplicate_rows]: 1 row repeats an earlier row exactly"),
        "{}",
        stdout(&o)
    );
    // Without receipt ids every line is a purchase, duplicates too.
    write(
        d,
        "tx.csv",
        "customer_id,ts,amount\na,2024-01-01,10.00\na,2024-01-01,10.00\n",
    );
    assert_eq!(
        run_csv(d, "frequency >= 1", "2024-01-31"),
        "customer_id,frequency\na,2\n"
    );
}

// 8. Encodings.

#[test]
fn a_csv_file_that_is_not_utf8_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // "Київ" in Windows-1251.
    let mut bytes = b"customer_id,ts,amount,city\n1,2024-01-01,5,Lviv\n2,2024-01-02,6,".to_vec();
    bytes.extend([0xca, 0xe8, 0xbf, 0xe2]);
    bytes.extend(b"\n");
    crate::common::write(d, "tx.csv", &bytes);
    let o = run_tx(d, "tx.csv", &["--count"]);
    let err = fails_with(&o, "segql::data::encoding");
    assert!(
        err.contains(
            "the transactions file `tx.csv` is not UTF-8 text: line 3, byte 16 of the line"
        ),
        "{err}"
    );
    assert!(err.contains("iconv -f cp1251 -t utf-8 tx.csv"), "{err}");
    insta::assert_snapshot!(rendered(&o));
}

#[test]
fn a_csv_line_with_a_field_too_many_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "tx.csv",
        "customer_id,ts,amount\n1,2024-01-01,5\n2,2024-01-02,7,9\n",
    );
    let err = fails_with(&run_tx(d, "tx.csv", &["--count"]), "segql::data::corrupt");
    assert!(
        err.contains("the transactions file `tx.csv` cannot be read: line 3 has 4 fields where the header has 3"),
        "{err}"
    );
    // Deep in a file, the line in the file (the reader counts from the start of a batch),
    // after a quoted value that spans two lines.
    let mut text = String::from("customer_id,ts,amount\n\"a\nb\",2024-01-01,5\n");
    for i in 0..400 {
        text.push_str(&format!("{i},2024-01-02,7\n"));
        if i == 250 {
            text.push_str("x,2024-01-02\n");
        }
    }
    write(d, "tx.csv", &text);
    let err = fails_with(&run_tx(d, "tx.csv", &["--count"]), "segql::data::corrupt");
    assert!(
        err.contains("the transactions file `tx.csv` cannot be read: line 255 has 2 fields where the header has 3"),
        "{err}"
    );
}

// 9. Broken Parquet files.

#[test]
fn a_truncated_or_corrupt_parquet_file_is_an_error_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let n = 500;
    write_parquet(
        &d.join("good.parquet"),
        vec![
            (
                "customer_id",
                Arc::new(StringArray::from_iter_values(
                    (0..n).map(|i| format!("C{:04}", i % 97)),
                )) as ArrayRef,
            ),
            (
                "ts",
                Arc::new(Date32Array::from_iter_values(
                    (0..n).map(|i| days(2024, 1, 1) + i % 300),
                )),
            ),
            (
                "amount",
                amounts(
                    &(0..n)
                        .map(|i| (i as i128 * 37) % 10_000)
                        .collect::<Vec<_>>(),
                ),
            ),
        ],
    );
    let good = std::fs::read(d.join("good.parquet")).unwrap();
    let query = |file: &str| {
        segql(
            d,
            &[
                "run",
                "-e",
                "frequency >= 1 and monetary > 10",
                "--transactions",
                file,
                "--count",
            ],
        )
    };

    crate::common::write(d, "tx.parquet", &good[..good.len() / 2]);
    let o = query("tx.parquet");
    let err = fails_with(&o, "segql::data::corrupt");
    assert!(
        err.contains("the transactions file `tx.parquet` cannot be read"),
        "{err}"
    );
    insta::assert_snapshot!(rendered(&o));

    crate::common::write(d, "tx.parquet", "customer_id,ts,amount\n");
    fails_with(&query("tx.parquet"), "segql::data::corrupt");

    // In a directory, the broken file is named.
    std::fs::create_dir(d.join("tx")).unwrap();
    crate::common::write(d, "tx/1.parquet", &good);
    crate::common::write(d, "tx/2.parquet", &good[..good.len() - 10]);
    let err = fails_with(&query("tx"), "segql::data::corrupt");
    assert!(err.contains("file `tx/2.parquet`"), "{err}");

    // Bytes changed anywhere: an answer or a diagnostic, never a crash. (A changed byte inside
    // a value, with no checksum to tell, reads as another value.)
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..40 {
        let mut bytes = good.clone();
        for _ in 0..(1 + next() % 8) {
            let i = 4 + (next() as usize) % (bytes.len() - 12);
            bytes[i] = next() as u8;
        }
        crate::common::write(d, "tx.parquet", &bytes);
        let o = query("tx.parquet");
        let err = stderr(&o);
        assert!(
            matches!(o.status.code(), Some(0) | Some(1)) && !err.contains("panicked"),
            "round {round}: {:?} {err}",
            o.status
        );
        if o.status.code() == Some(1) {
            assert!(err.contains("segql::data::"), "round {round}: {err}");
        }
    }
}

// 10. Time zones.

#[test]
fn timestamps_with_time_zones_count_by_their_local_date() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // CSV: the date written, whatever the offset (Arrow alone would take the UTC date).
    write(
        d,
        "tx.csv",
        "customer_id,ts,amount\n\
         a,2024-01-01T01:30:00+02:00,5\n\
         b,2024-01-01T23:30:00-05:00,5\n\
         c,2024-01-01 10:00:00,5\n\
         d,2024-01-01T00:15:00Z,5\n",
    );
    assert_eq!(
        run_csv(d, "last_purchase = 2024-01-01", "2024-01-31"),
        "customer_id,last_purchase\na,2024-01-01\nb,2024-01-01\nc,2024-01-01\nd,2024-01-01\n"
    );
    let o = segql(d, &["check", "--data", "--transactions", "tx.csv"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("warning[segql::data::time_zone]: column `ts`: 3 dates written with a time zone or offset: each counts by the date written"),
        "{}",
        stdout(&o)
    );

    // Parquet: a timestamp column with a zone counts by its date in that zone.
    let instant = chrono::NaiveDate::from_ymd_opt(2023, 12, 31)
        .unwrap()
        .and_hms_opt(23, 30, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis();
    for (zone, date) in [
        (Some("+02:00"), "2024-01-01"),
        (Some("-05:00"), "2023-12-31"),
        (Some("UTC"), "2023-12-31"),
        (Some("Europe/Kyiv"), "2024-01-01"),
        (None, "2023-12-31"),
    ] {
        let ts = TimestampMillisecondArray::from(vec![instant]);
        let ts = match zone {
            Some(z) => ts.with_timezone(z),
            None => ts,
        };
        assert_eq!(
            ts.data_type(),
            &DataType::Timestamp(TimeUnit::Millisecond, zone.map(Into::into))
        );
        write_parquet(
            &d.join("tx.parquet"),
            vec![
                (
                    "customer_id",
                    Arc::new(StringArray::from(vec!["a"])) as ArrayRef,
                ),
                ("ts", Arc::new(ts)),
                ("amount", amounts(&[500])),
            ],
        );
        let o = segql(
            d,
            &[
                "run",
                "-e",
                "last_purchase >= 2023-01-01",
                "--transactions",
                "tx.parquet",
                "--format",
                "csv",
            ],
        );
        assert!(o.status.success(), "{zone:?}: {}", stderr(&o));
        assert_eq!(
            stdout(&o),
            format!("customer_id,last_purchase\na,{date}\n"),
            "{zone:?}"
        );
        if let Some(z) = zone {
            let o = segql(d, &["check", "--data", "--transactions", "tx.parquet"]);
            assert!(
                stdout(&o).contains(&format!(
                    "warning[segql::data::time_zone]: column `ts`: 1 date carries the time zone `{z}`"
                )),
                "{}",
                stdout(&o)
            );
        }
    }
}

// 11. Customers files whose ids do not match the transactions.

#[test]
fn customers_on_one_side_only_are_prospects_or_buyers_without_attributes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "tx.csv",
        "customer_id,ts,amount\na,2024-01-01,5\nb,2024-01-02,6\nz,2024-01-03,7\n",
    );
    write(
        d,
        "cust.csv",
        "customer_id,city\na,Kyiv\nb,Lviv\np,Kyiv\nq,Odesa\n",
    );
    // Customers without purchases are prospects...
    assert_eq!(
        run_csv(d, "lifecycle = prospect", "2024-01-31"),
        "customer_id,lifecycle\np,prospect\nq,prospect\n"
    );
    // ... and buyers missing from the customers file still count, without attributes.
    assert_eq!(
        run_csv(d, "frequency >= 1", "2024-01-31"),
        "customer_id,frequency\na,1\nb,1\nz,1\n"
    );
    assert_eq!(
        run_csv(
            d,
            "city = \"Kyiv\" or frequency >= 1 and not city = \"Lviv\"",
            "2024-01-31"
        ),
        "customer_id,city,frequency\na,Kyiv,1\np,Kyiv,0\nz,,1\n"
    );
    let o = segql(
        d,
        &[
            "check",
            "--data",
            "--transactions",
            "tx.csv",
            "--customers",
            "cust.csv",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("warning[segql::data::unknown_customers]: 1 customer with purchases not in the customers file"),
        "{out}"
    );
    assert!(
        out.contains(
            "warning[segql::data::prospects]: 2 customers have no purchase in the transactions"
        ),
        "{out}"
    );
}

/// `check --data` over a file with a bit of everything: the whole report.
#[test]
fn check_data_reports_every_warning_with_its_count_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "tx.csv",
        "card,day,total,receipt\n\
         a,2024-01-01T10:00:00+02:00,10.00,r1\n\
         a,2024-01-01T10:00:00+02:00,10.00,r1\n\
         a,2024-01-05,-4.00,r2\n\
         ,2024-01-02,5.00,r3\n\
         b,,5.00,r4\n\
         x,2024-01-03,,r5\n",
    );
    write(d, "cust.csv", "id,city\na,Kyiv\nc,Lviv\nc,Odesa\n,Kyiv\n");
    write(
        d,
        "comm.csv",
        "customer_id,ts,channel\na,2024-01-01,sms\n,2024-01-01,sms\n",
    );
    write(
        d,
        "segql.toml",
        "[transactions]\npath = \"tx.csv\"\n[transactions.columns]\ncustomer_id = \"card\"\nts = \"day\"\namount = \"total\"\nreceipt_id = \"receipt\"\n\
         [customers]\npath = \"cust.csv\"\n[customers.columns]\ncustomer_id = \"id\"\n\
         [communications]\npath = \"comm.csv\"\n",
    );
    let o = segql(d, &["check", "--data", "--project", "."]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.ends_with("data: readable, 11 warnings\n"), "{out}");
    insta::assert_snapshot!(out);

    // With segment files, both are checked; an unreadable value is an error: exit 1.
    write(d, "s.seg", "segment big = monetary > 10\n");
    let o = segql(d, &["check", "--data", "--project", ".", "s.seg"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).ends_with("ok: 1 segment in 1 file\n"),
        "{}",
        stdout(&o)
    );
    write(d, "comm.csv", "customer_id,ts,channel\na,01.01.2024,sms\n");
    let o = segql(d, &["check", "--data", "--project", ".", "s.seg"]);
    let err = fails_with(&o, "segql::data::unreadable");
    assert!(
        err.contains("the communications file `comm.csv` has `01.01.2024`"),
        "{err}"
    );
    // Without --data, check does not scan the data: the segment file is fine.
    let o = segql(d, &["check", "--project", ".", "s.seg"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

// 12. Bad project files.

#[test]
fn bad_project_files_are_rejected_at_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "tx.csv", "customer_id,ts,amount\n1,2024-01-01,5\n");
    let tx = "[transactions]\npath = \"tx.csv\"\n";
    // (file after the [transactions] table, code, words of the message, where)
    let cases: Vec<(String, &str, &str, &str)> = vec![
        // Unknown keys, anywhere.
        (format!("{tx}colour = \"red\"\n"), "syntax", "unknown field `colour`", "3:1"),
        (format!("[project]\nnmae = \"x\"\n{tx}"), "syntax", "unknown field `nmae`", "2:1"),
        (format!("{tx}[lifecycle]\nat_risk = 30\n"), "syntax", "unknown field `at_risk`", "4:1"),
        (format!("{tx}[rfm]\nwindow = 30\n"), "syntax", "unknown field `window`", "4:1"),
        (format!("{tx}[segments]\nx = 1\n"), "syntax", "unknown field `segments`", "3:2"),
        // Wrong types.
        (format!("{tx}[lifecycle]\nat_risk_days = \"sixty\"\n"), "syntax", "invalid type: string \"sixty\", expected u32", "4:16"),
        (format!("{tx}[lifecycle]\nnew_days = -5\n"), "syntax", "invalid value: integer `-5`, expected u32", "4:12"),
        (format!("{tx}amount_scale = \"two\"\n"), "syntax", "invalid type: string \"two\"", "3:16"),
        ("[transactions]\npath = 5\n".into(), "syntax", "invalid type: integer `5`, expected a string", "2:8"),
        (format!("{tx}format = \"xlsx\"\n"), "syntax", "unknown variant `xlsx`", "3:10"),
        (format!("{tx}[lifecycle.partners.\"OKKO\"]\nderive = \"yes\"\n"), "syntax", "expected a boolean", "4:10"),
        (format!("{tx}[abc]\na_share = 0.8\n"), "syntax", "invalid type: floating point `0.8`, expected u32", "4:11"),
        ("[project]\nas_of = 2024-06-30\n[transactions]\npath = \"tx.csv\"\n".into(), "syntax", "expected a string", "2:9"),
        // Rules of [transactions].
        ("[project]\nname = \"x\"\n".into(), "invalid", "the project file has no [transactions] table", ""),
        (format!("{tx}delimiter = \";;\"\n"), "invalid", "delimiter must be exactly one ASCII character", "3:13"),
        (format!("{tx}[transactions.columns]\ncustomer = \"card\"\n"), "invalid", "no canonical column `customer` (did you mean `customer_id`?)", "4:1"),
        (format!("{tx}amount_scale = 11\n"), "invalid", "amount_scale must be between 0 and 10", "3:1"),
        ("[transactions]\npath = \"tx.csv\"\n[communications]\npath = \"tx.csv\"\n[communications.columns]\nchanel = \"c\"\n".into(), "invalid", "[communications.columns] has no canonical column `chanel` (did you mean `channel`?)", "6:1"),
        // [project]
        (format!("[project]\nas_of = \"30.06.2024\"\n{tx}"), "invalid", "as_of `30.06.2024` is not a date like 2024-06-30", "2:9"),
        // [rfm] and [abc]
        (format!("{tx}[rfm]\nwindow_days = 0\n"), "invalid", "[rfm] window_days must be between 1 and 36500", "4:1"),
        (format!("{tx}[abc]\nwindow_days = 40000\n"), "invalid", "[abc] window_days must be between 1 and 36500", "4:1"),
        (format!("{tx}[abc]\na_share = 0\n"), "invalid", "0 < a_share (0)", "4:1"),
        (format!("{tx}[abc]\na_share = 90\nb_share = 20\n"), "invalid", "a_share + b_share (110) <= 100", "5:1"),
        (format!("{tx}[abc]\na_share = 90\nb_share = 4294967295\n"), "invalid", "a_share + b_share (4294967295) <= 100", "5:1"),
        // [lifecycle], and its partners.
        (format!("{tx}[lifecycle]\nnew_days = 0\n"), "invalid", "[lifecycle] new_days must be at least 1", "4:1"),
        (format!("{tx}[lifecycle]\nat_risk_days = 0\n"), "invalid", "[lifecycle] at_risk_days must be at least 1", "4:1"),
        (format!("{tx}[lifecycle]\nat_risk_days = 200\nchurned_days = 100\n"), "invalid", "thresholds must increase: at_risk_days (200) < churned_days (100) < lost_days (365)", "5:1"),
        (format!("{tx}[lifecycle]\nlost_days = 180\n"), "invalid", "churned_days (180) < lost_days (180)", "4:1"),
        (format!("{tx}[lifecycle]\nchurned_days = 400\n"), "invalid", "churned_days (400) < lost_days (365)", "4:1"),
        (format!("{tx}[lifecycle.partners.\"OKKO\"]\nnew_days = 0\n"), "invalid", "[lifecycle.partners.\"OKKO\"] new_days must be at least 1", "4:1"),
        (format!("{tx}[lifecycle.partners.\"OKKO\"]\nat_risk_days = 500\n"), "invalid", "[lifecycle.partners.\"OKKO\"] thresholds must increase: at_risk_days (500)", "4:1"),
        (format!("{tx}[lifecycle]\nlost_days = 400\n[lifecycle.partners.\"ALLO\"]\nchurned_days = 500\n"), "invalid", "churned_days (500) < lost_days (400)", "6:1"),
    ];
    for (text, code, words, at) in &cases {
        write(d, "segql.toml", text);
        let o = segql(
            d,
            &["run", "--project", ".", "-e", "recency < 30d", "--count"],
        );
        let err = fails_with(&o, &format!("segql::project::{code}"));
        assert!(err.contains(words), "{text}\n{err}");
        if !at.is_empty() {
            assert!(
                err.contains(&format!("segql.toml:{at}]")),
                "{text}\nexpected {at}: {err}"
            );
        }
    }
    write(
        d,
        "segql.toml",
        format!("{tx}[lifecycle]\nat_risk_days = 200\nchurned_days = 100\n"),
    );
    let o = segql(
        d,
        &["run", "--project", ".", "-e", "recency < 30d", "--count"],
    );
    insta::assert_snapshot!(rendered(&o));
    write(d, "segql.toml", format!("{tx}[lifecycle]\nat_risk = 30\n"));
    let o = segql(
        d,
        &["run", "--project", ".", "-e", "recency < 30d", "--count"],
    );
    insta::assert_snapshot!("unknown_key_in_project_file", rendered(&o));
    // The same file with sane values runs.
    write(
        d,
        "segql.toml",
        format!(
            "{tx}[lifecycle]\nat_risk_days = 90\nchurned_days = 200\n[abc]\na_share = 70\nb_share = 30\n"
        ),
    );
    let o = segql(
        d,
        &["run", "--project", ".", "-e", "recency < 30d", "--count"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "1\n");
}

// 13. No project file, files and outputs that cannot be used, command lines that cannot work.

#[test]
fn without_a_project_file_or_data_paths_the_search_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // No segql.toml here or above (a temporary directory), and no --transactions.
    let o = segql(d, &["run", "-e", "frequency >= 1", "--count"]);
    let err = fails_with(&o, "segql::project::not_found");
    assert!(err.contains("--transactions FILE"), "{err}");
    let shown = rendered(&o);
    let real = std::fs::canonicalize(d).unwrap().display().to_string();
    insta::assert_snapshot!(
        shown
            .replace(&real, "[TMP]")
            .replace(&d.display().to_string(), "[TMP]")
    );

    // A --project directory without segql.toml.
    std::fs::create_dir(d.join("elsewhere")).unwrap();
    let err = fails_with(
        &segql(
            d,
            &["run", "--project", "elsewhere", "-e", "frequency >= 1"],
        ),
        "segql::project::not_found",
    );
    assert!(err.contains("no segql.toml found in elsewhere"), "{err}");
}

#[test]
fn a_data_file_of_unknown_format_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "tx.dat", "customer_id,ts,amount\n1,2024-01-01,5\n");
    let o = run_tx(d, "tx.dat", &[]);
    let err = fails_with(&o, "segql::data::unknown_format");
    assert!(err.contains("tx.dat"), "{err}");
    insta::assert_snapshot!(rendered(&o));
    // The format named in the project file reads it.
    write(
        d,
        "segql.toml",
        "[transactions]\npath = \"tx.dat\"\nformat = \"csv\"\n",
    );
    let o = segql(
        d,
        &["run", "--project", ".", "-e", "frequency >= 1", "--count"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "1\n");
}

#[test]
fn a_repeated_column_in_a_csv_header_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "tx.csv",
        "customer_id,ts,amount,amount\n1,2024-01-01,5,6\n",
    );
    let o = segql(
        d,
        &[
            "run",
            "-e",
            "monetary > 0",
            "--transactions",
            "tx.csv",
            "--count",
        ],
    );
    let err = fails_with(&o, "segql::data::read");
    assert!(
        err.contains("incorrect number of fields for line 1"),
        "{err}"
    );
    insta::assert_snapshot!(rendered(&o));
}

#[test]
fn a_memory_limit_too_small_is_an_error_with_advice() {
    let o = segql(
        &crate::common::example_dir(),
        &[
            "run",
            "--project",
            ".",
            "-e",
            "recency < 30d",
            "--memory-limit",
            "1K",
            "--partitions",
            "1",
            "--count",
        ],
    );
    let err = fails_with(&o, "segql::data::read");
    assert!(err.contains("Resources exhausted"), "{err}");
    assert!(
        !err.contains("as:"),
        "a cut-off list of memory consumers: {err}"
    );
    assert!(err.contains("--memory-limit"), "{err}");
}

#[test]
fn datafusion_settings_come_from_the_environment_and_bad_ones_are_usage_errors() {
    let run = |var: &str, value: &str| {
        crate::common::segql_command()
            .args(["run", "--project", ".", "-e", "frequency >= 3", "--count"])
            .current_dir(crate::common::example_dir())
            .env(var, value)
            .output()
            .expect("segql runs")
    };
    let plain = segql(
        &crate::common::example_dir(),
        &["run", "--project", ".", "-e", "frequency >= 3", "--count"],
    );
    assert!(plain.status.success(), "{}", stderr(&plain));
    // A valid setting changes how the plan runs, not what it answers.
    let tuned = run(
        "DATAFUSION_EXECUTION_SKIP_PARTIAL_AGGREGATION_PROBE_RATIO_THRESHOLD",
        "1.0",
    );
    assert!(tuned.status.success(), "{}", stderr(&tuned));
    assert_eq!(stdout(&tuned), stdout(&plain));
    let bad = run("DATAFUSION_EXECUTION_BATCH_SIZE", "many");
    let err = fails_with(&bad, "segql::usage");
    assert!(err.contains("DATAFUSION_*"), "{err}");
}

#[test]
fn an_output_file_that_cannot_be_written_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "tx.csv", "customer_id,ts,amount\n1,2024-01-01,5\n");
    let o = run_tx(d, "tx.csv", &["--output", "no-such-dir/out.csv"]);
    let err = fails_with(&o, "segql::io");
    assert!(err.contains("cannot access `no-such-dir/out.csv`"), "{err}");
    assert!(!d.join("no-such-dir").exists());
    // The message names the target, never the temporary file beside it.
    assert!(!err.contains(".segql-"), "{err}");
    insta::assert_snapshot!(rendered(&o));
}

#[test]
fn a_command_line_that_cannot_work_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "tx.csv", "customer_id,ts,amount\n1,2024-01-01,5\n");
    // Parquet streams into a pipe (a terminal gets an error instead).
    let o = run_tx(d, "tx.csv", &["--format", "parquet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        o.stdout.starts_with(b"PAR1"),
        "{:?}",
        &o.stdout[..4.min(o.stdout.len())]
    );
    let o = run_tx(d, "tx.csv", &["--format", "tsv"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));

    // A table path that mixes file types.
    std::fs::create_dir(d.join("tx")).unwrap();
    write(d, "tx/a.csv", "customer_id,ts,amount\n1,2024-01-01,5\n");
    write_parquet(
        &d.join("tx/b.parquet"),
        vec![
            (
                "customer_id",
                Arc::new(StringArray::from(vec!["2"])) as ArrayRef,
            ),
            ("ts", Arc::new(Date32Array::from(vec![days(2024, 1, 2)]))),
            ("amount", amounts(&[500])),
        ],
    );
    let o = run_tx(d, "tx", &[]);
    let err = fails_with(&o, "segql::usage");
    assert!(
        err.contains("the transactions path `tx` mixes file types"),
        "{err}"
    );
    insta::assert_snapshot!(rendered(&o).replace(&d.display().to_string(), "[TMP]"));
}

/// `segql run ... | head`: the reader going away is not an error (`segql::io::closed` is never
/// shown; its message is checked in `diagnostics.rs`).
#[test]
fn a_closed_standard_output_ends_the_run_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "tx.csv", "customer_id,ts,amount\n1,2024-01-01,5\n");
    for format in ["csv", "json", "table"] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let o = crate::common::segql_command()
            .args([
                "run",
                "-e",
                "frequency >= 1",
                "--transactions",
                "tx.csv",
                "--as-of",
                "2024-06-30",
                "--format",
                format,
            ])
            .current_dir(d)
            .stdout(writer)
            .output()
            .expect("segql runs");
        assert_eq!(o.status.code(), Some(0), "{format}: {}", stderr(&o));
        assert_eq!(stderr(&o), "", "{format}");
    }
}

#[test]
fn check_data_reads_a_project_named_by_a_relative_path() {
    // The project directory relative to the current one; its paths relative to it.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = segql(
        root,
        &["check", "--project", "examples/coalition", "--data"],
    );
    assert!(o.status.success(), "{}", rendered(&o));
    let out = stdout(&o);
    assert!(
        out.contains("transactions `data/*.parquet`: 24304 rows, 808 customers"),
        "{out}"
    );
    // The walk-in receipts (no customer id) and the prospects.
    assert!(
        out.contains("1460 rows without a customer id: skipped"),
        "{out}"
    );
    assert!(out.ends_with("data: readable, 2 warnings\n"), "{out}");
}

// What segql writes, and what it never reads (docs/data.md, "What segql writes").

/// A project in `d`: transactions in `data/tx.csv` (or the directory `data/` when `by_dir`),
/// one segment file importing another.
fn small_project(d: &Path, by_dir: bool) {
    std::fs::create_dir_all(d.join("data")).unwrap();
    std::fs::create_dir_all(d.join("segments")).unwrap();
    write(
        d,
        "data/tx.csv",
        "customer_id,ts,amount\n1,2024-01-01,5\n2,2024-01-02,7\n",
    );
    let path = if by_dir { "data" } else { "data/tx.csv" };
    write(
        d,
        "segql.toml",
        format!("[transactions]\npath = \"{path}\"\n"),
    );
    write(d, "segments/base.seg", "segment buyers = frequency >= 1\n");
    write(
        d,
        "segments/main.seg",
        "import \"base.seg\"\nsegment target = buyers and monetary > 1\n",
    );
}

#[test]
fn an_output_never_replaces_an_input() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    small_project(d, false);
    let before = std::fs::read(d.join("data/tx.csv")).unwrap();
    let refuse = |d: &Path, args: &[&str], input: &str| {
        let o = segql(d, args);
        let err = fails_with(&o, "segql::output::is_input");
        assert!(err.contains(input), "{args:?}: {err}");
        assert_eq!(stdout(&o), "", "{args:?}");
        err
    };
    std::os::unix::fs::symlink(d.join("data/tx.csv"), d.join("link.csv")).unwrap();
    std::fs::hard_link(d.join("data/tx.csv"), d.join("hard.csv")).unwrap();
    // (command line, what the refusal names): the transactions file named as written, through
    // `..` and through links; the project file, a segment file and the file it imports; every
    // command that writes a file.
    let cases = [
        (
            "run -e frequency>=1 --output data/tx.csv",
            "is the transactions file `data/tx.csv`",
        ),
        (
            "run -e frequency>=1 --output segments/../data/tx.csv",
            "the transactions file",
        ),
        (
            "run -e frequency>=1 --output link.csv",
            "the transactions file",
        ),
        (
            "run -e frequency>=1 --output hard.csv",
            "the transactions file",
        ),
        (
            "run segments/main.seg --output segql.toml",
            "the project file",
        ),
        (
            "run segments/main.seg --output segments/main.seg",
            "the segment file",
        ),
        (
            "run segments/main.seg --output segments/base.seg",
            "the segment file `",
        ),
        (
            "profile segments/main.seg --output data/tx.csv",
            "transactions",
        ),
        (
            "transitions --by lifecycle --from 2024-01-01 --to 2024-01-02 --output link.csv",
            "transactions",
        ),
        (
            "flows --from 2024-01-01 --to 2024-01-02 --output hard.csv",
            "transactions",
        ),
    ];
    for (line, input) in cases {
        let args: Vec<&str> = line.split(' ').collect();
        refuse(d, &args, input);
    }
    // With --transactions, as a user typed it.
    let o = segql(
        d,
        &[
            "run",
            "-e",
            "recency < 30d",
            "--transactions",
            "data/tx.csv",
            "--output",
            "data/tx.csv",
        ],
    );
    let err = fails_with(&o, "segql::output::is_input");
    assert!(
        err.contains("it would replace a file this command reads"),
        "{err}"
    );
    insta::assert_snapshot!("output_is_input", rendered(&o));
    assert_eq!(std::fs::read(d.join("data/tx.csv")).unwrap(), before);
    assert!(
        std::fs::symlink_metadata(d.join("link.csv"))
            .unwrap()
            .file_type()
            .is_symlink()
    );

    // A table read from a directory: its files, and a new file it would read next time.
    let dir2 = tempfile::tempdir().unwrap();
    let d2 = dir2.path();
    small_project(d2, true);
    refuse(
        d2,
        &["run", "-e", "frequency >= 1", "--output", "data/tx.csv"],
        "the transactions file `data/tx.csv`",
    );
    refuse(
        d2,
        &[
            "run",
            "-e",
            "frequency >= 1",
            "--output",
            "data/members.csv",
        ],
        "the transactions directory",
    );
    assert!(!d2.join("data/members.csv").exists());
    // Elsewhere, the same run writes.
    let o = segql(
        d2,
        &["run", "-e", "frequency >= 1", "--output", "members.csv"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        std::fs::read_to_string(d2.join("members.csv"))
            .unwrap()
            .starts_with("customer_id")
    );

    // demo only creates files.
    let o = segql(d, &["demo", "--customers", "5", "--out", "data"]);
    let o2 = segql(d, &["demo", "--customers", "5", "--out", "gen"]);
    assert!(o2.status.success(), "{}", stderr(&o2));
    let o3 = segql(d, &["demo", "--customers", "5", "--out", "gen"]);
    let err = fails_with(&o3, "segql::output::is_input");
    assert!(err.contains("already exist"), "{err}");
    assert!(
        o.status.success(),
        "a directory without the demo's files: {}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(d.join("data/tx.csv")).unwrap(), before);
}

#[test]
fn special_files_are_written_in_place_and_links_followed() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "tx.csv",
        "customer_id,ts,amount\n1,2024-01-01,5\n2,2024-01-02,7\n",
    );
    // A named pipe that a loader reads.
    let made = std::process::Command::new("mkfifo")
        .arg(d.join("loader.fifo"))
        .status()
        .unwrap();
    assert!(made.success());
    std::os::unix::fs::symlink(d.join("loader.fifo"), d.join("fifo-link")).unwrap();
    for target in ["loader.fifo", "fifo-link"] {
        let fifo = d.join("loader.fifo");
        let reader = std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap());
        let o = run_tx(d, "tx.csv", &["--format", "csv", "--output", target]);
        assert!(o.status.success(), "{target}: {}", stderr(&o));
        let got = reader.join().unwrap();
        assert_eq!(got, "customer_id,frequency\n1,1\n2,1\n", "{target}");
        let ft = std::fs::metadata(d.join("loader.fifo"))
            .unwrap()
            .file_type();
        assert!(ft.is_fifo(), "{target}: the pipe is still a pipe");
        // Nothing was left beside it.
        let leftovers: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(".segql-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
    assert!(
        std::fs::symlink_metadata(d.join("fifo-link"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    // `-` is standard output.
    let o = run_tx(d, "tx.csv", &["--format", "csv", "--output", "-"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "customer_id,frequency\n1,1\n2,1\n");
    assert!(!d.join("-").exists());

    // A link to a regular file: the file it names is replaced, the link stays.
    std::fs::create_dir(d.join("real")).unwrap();
    write(d, "real/out.csv", "old\n");
    std::os::unix::fs::symlink("real/out.csv", d.join("out.csv")).unwrap();
    let o = run_tx(d, "tx.csv", &["--output", "out.csv"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(d.join("real/out.csv")).unwrap(),
        "customer_id,frequency\n1,1\n2,1\n"
    );
    assert!(
        std::fs::symlink_metadata(d.join("out.csv"))
            .unwrap()
            .file_type()
            .is_symlink()
    );

    // A dangling link, a directory and a missing directory: errors naming the target.
    std::os::unix::fs::symlink("nowhere/x.csv", d.join("dangling.csv")).unwrap();
    let err = fails_with(
        &run_tx(d, "tx.csv", &["--output", "dangling.csv"]),
        "segql::io",
    );
    assert!(
        err.contains("`dangling.csv`") && err.contains("does not exist"),
        "{err}"
    );
    let err = fails_with(&run_tx(d, "tx.csv", &["--output", "real"]), "segql::io");
    assert!(err.contains("`real`: is a directory"), "{err}");
    let err = fails_with(
        &run_tx(d, "tx.csv", &["--output", "no/dir/out.csv"]),
        "segql::io",
    );
    assert!(
        err.contains("`no/dir/out.csv`") && !err.contains(".segql-"),
        "{err}"
    );
    assert!(!d.join("no").exists());

    // A descriptor path (`/proc/self/fd/1`, like `/dev/stdout`) is the descriptor the shell
    // opened: an appending redirect keeps what the file held.
    write(d, "log.txt", "earlier\n");
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} run -e 'frequency >= 1' --transactions tx.csv --format csv --output /proc/self/fd/1 >> log.txt",
            env!("CARGO_BIN_EXE_segql")
        ))
        .current_dir(d)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(d.join("log.txt")).unwrap(),
        "earlier\ncustomer_id,frequency\n1,1\n2,1\n"
    );
    // A read-only file is not replaced.
    write(d, "kept.csv", "keep me\n");
    let mut perms = std::fs::metadata(d.join("kept.csv")).unwrap().permissions();
    perms.set_readonly(true);
    std::fs::set_permissions(d.join("kept.csv"), perms).unwrap();
    let err = fails_with(&run_tx(d, "tx.csv", &["--output", "kept.csv"]), "segql::io");
    assert!(err.contains("`kept.csv`: is read-only"), "{err}");
    assert_eq!(
        std::fs::read_to_string(d.join("kept.csv")).unwrap(),
        "keep me\n"
    );
}

/// A write that fails half-way (the file size limit stands in for a full disk): the error names
/// the target, never the temporary file, which is gone, and an earlier file is untouched.
#[test]
fn a_write_that_fails_half_way_leaves_the_earlier_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut tx = String::from("customer_id,ts,amount\n");
    for i in 0..400 {
        tx.push_str(&format!("customer-{i:05},2024-01-01,5\n"));
    }
    write(d, "tx.csv", &tx);
    for format in ["csv", "json", "parquet", "table"] {
        write(d, "out.dat", "earlier\n");
        let o = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "trap '' XFSZ; ulimit -f 4; exec {} run -e 'frequency >= 1' --transactions tx.csv --format {format} --output out.dat",
                env!("CARGO_BIN_EXE_segql")
            ))
            .env("NO_COLOR", "1")
            .current_dir(d)
            .output()
            .unwrap();
        let err = fails_with(&o, "segql::io");
        assert!(err.contains("cannot access `out.dat`"), "{format}: {err}");
        assert!(
            !err.contains(".segql-") && !err.contains(".tmp"),
            "{format}: {err}"
        );
        assert_eq!(
            std::fs::read_to_string(d.join("out.dat")).unwrap(),
            "earlier\n"
        );
        let leftovers: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(".segql-"))
            .collect();
        assert!(leftovers.is_empty(), "{format}: {leftovers:?}");
    }
}

/// A project whose segments link to a directory outside it, which holds a secret.
fn project_with_escape(d: &Path, outside: &Path) {
    small_project(d, false);
    write(
        outside,
        "secret.seg",
        "TOPSECRET line one\nTOPSECRET line two\n",
    );
    std::fs::create_dir_all(d.join("segments/deep/er")).unwrap();
    std::os::unix::fs::symlink(outside, d.join("segments/etc")).unwrap();
    std::os::unix::fs::symlink(outside, d.join("segments/deep/er/link")).unwrap();
}

#[test]
fn imports_cannot_escape_the_root_through_links_dots_or_absolute_paths() {
    let dir = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let d = dir.path();
    project_with_escape(d, out.path());
    let secret = out.path().join("secret.seg").display().to_string();
    let imports = [
        "etc/secret.seg".to_string(),
        // A missing file behind the link is refused the same way: nothing is told about it.
        "etc/nothere.seg".to_string(),
        "etc/../../secret.seg".to_string(),
        "deep/er/link/secret.seg".to_string(),
        "deep/../etc/secret.seg".to_string(),
        secret.clone(),
        format!("../../../../../../../../..{secret}"),
    ];
    for import in &imports {
        write(
            d,
            "segments/evil.seg",
            format!("import \"{import}\"\nsegment x = frequency >= 1\n"),
        );
        for args in [
            vec!["check", "segments/evil.seg"],
            vec!["run", "segments/evil.seg", "--count"],
            // Without a project file, the root is the segment file's own directory.
            vec![
                "check",
                "segments/evil.seg",
                "--transactions",
                "data/tx.csv",
            ],
        ] {
            let o = segql(d, &args);
            let err = fails_with(&o, "segql::load::import_outside_root");
            assert!(!err.contains("TOPSECRET"), "{import} {args:?}: {err}");
            assert!(!stdout(&o).contains("TOPSECRET"), "{import}");
        }
    }
    // Without a project file, a plain `..` leaves the segment file's directory.
    write(
        d,
        "segments/up.seg",
        "import \"../data/x.seg\"\nsegment y = frequency >= 1\n",
    );
    write(d, "data/x.seg", "segment z = frequency >= 1\n");
    let o = segql(
        d,
        &["check", "segments/up.seg", "--transactions", "data/tx.csv"],
    );
    fails_with(&o, "segql::load::import_outside_root");
    // With the project, the same import stays inside the project directory.
    let o = segql(d, &["check", "segments/up.seg"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // A link that stays inside the root is followed.
    std::os::unix::fs::symlink(d.join("segments"), d.join("segments/deep/same")).unwrap();
    write(
        d,
        "segments/ok.seg",
        "import \"deep/same/base.seg\"\nsegment w = buyers\n",
    );
    let o = segql(d, &["check", "segments/ok.seg"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("ok: 2 segments in 2 files"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn segment_files_with_a_byte_order_mark_or_crlf_read_as_plain_utf8() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    small_project(d, false);
    let plain = "# campaign\nsegment a = frequency >= 1\nsegment b = monetary > 6\n";
    let windows = format!("\u{feff}{}", plain.replace('\n', "\r\n"));
    write(d, "plain.seg", plain);
    write(d, "windows.seg", &windows);
    let counts = |f: &str| {
        let o = segql(d, &["run", f, "--count", "--format", "csv"]);
        assert!(o.status.success(), "{f}: {}", stderr(&o));
        stdout(&o)
    };
    assert_eq!(counts("windows.seg"), counts("plain.seg"));
    assert!(
        counts("plain.seg").contains("b,,1"),
        "{}",
        counts("plain.seg")
    );
    // A mistake in such a file is pointed at its own column.
    write(
        d,
        "bad.seg",
        "\u{feff}segment a =\r\n    frequency >= 1 and\r\n",
    );
    let o = segql(d, &["check", "bad.seg"]);
    fails_with(&o, "segql::parse");
    insta::assert_snapshot!("bom_crlf_syntax_error", rendered(&o));
    // Not UTF-8: the line and byte, and how to convert it.
    crate::common::write(
        d,
        "cp1251.seg",
        b"segment a = frequency >= 1\nsegment b = city = \"\xca\xe8\xe5\xe2\"\n",
    );
    let o = segql(d, &["check", "cp1251.seg"]);
    let err = fails_with(&o, "segql::load::encoding");
    assert!(err.contains("line 2, byte 21"), "{err}");
    assert!(err.contains("iconv -f cp1251 -t utf-8 cp1251.seg"), "{err}");
    insta::assert_snapshot!("segment_file_not_utf8", rendered(&o));
}

#[test]
fn files_of_one_table_are_matched_by_column_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("tx")).unwrap();
    write(
        d,
        "tx/2024-01.csv",
        "customer_id,ts,amount\n1,2024-01-05,10\n2,2024-01-06,20\n",
    );
    // A later month added a column, and wrote the columns in another order.
    write(
        d,
        "tx/2024-02.csv",
        "amount,category,ts,customer_id\n30,Coffee,2024-02-01,1\n40,Fuel,2024-02-02,3\n",
    );
    let members = |expr: &str| {
        let o = segql(
            d,
            &[
                "run",
                "-e",
                expr,
                "--transactions",
                "tx",
                "--as-of",
                "2024-02-29",
                "--format",
                "csv",
            ],
        );
        assert!(o.status.success(), "{expr}: {}", stderr(&o));
        stdout(&o)
    };
    assert_eq!(
        members("monetary >= 0"),
        "customer_id,monetary\n1,40.00\n2,20.00\n3,40.00\n"
    );
    assert_eq!(
        members("bought category \"Coffee\""),
        "customer_id,bought_category_coffee\n1,1\n"
    );
    assert_eq!(members("frequency >= 2"), "customer_id,frequency\n1,2\n");
    // check --data counts the rows that lack the column.
    let o = segql(d, &["check", "--data", "--transactions", "tx"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(
            "warning[segql::data::column_in_some_files]: column `category`: missing from 1 of 2 files (`tx/2024-01.csv`; 2 rows): read as missing values there"
        ),
        "{}",
        stdout(&o)
    );
    // A file without a required column that the others have names both headers.
    write(d, "tx/2024-03.csv", "customer_id,ts\n1,2024-03-01\n");
    let o = segql(
        d,
        &[
            "run",
            "-e",
            "frequency >= 1",
            "--transactions",
            "tx",
            "--count",
        ],
    );
    let err = fails_with(&o, "segql::data::missing_column");
    assert!(
        err.contains("the transactions data `tx/2024-03.csv` has no column `amount`"),
        "{err}"
    );
    assert!(
        err.contains(
            "Its columns: customer_id, ts; those of `tx/2024-01.csv`: customer_id, ts, amount"
        ),
        "{err}"
    );
    std::fs::remove_file(d.join("tx/2024-03.csv")).unwrap();

    // Parquet files of one table follow the same rule.
    std::fs::create_dir(d.join("pq")).unwrap();
    write_parquet(
        &d.join("pq/a.parquet"),
        vec![
            (
                "customer_id",
                Arc::new(StringArray::from(vec!["1", "2"])) as ArrayRef,
            ),
            (
                "ts",
                Arc::new(Date32Array::from(vec![days(2024, 1, 5), days(2024, 1, 6)])),
            ),
            ("amount", amounts(&[1000, 2000])),
        ],
    );
    write_parquet(
        &d.join("pq/b.parquet"),
        vec![
            ("amount", amounts(&[3000])),
            (
                "category",
                Arc::new(StringArray::from(vec!["Coffee"])) as ArrayRef,
            ),
            (
                "customer_id",
                Arc::new(StringArray::from(vec!["1"])) as ArrayRef,
            ),
            ("ts", Arc::new(Date32Array::from(vec![days(2024, 2, 1)]))),
        ],
    );
    let o = segql(
        d,
        &[
            "run",
            "-e",
            "bought category \"Coffee\" and monetary > 35",
            "--transactions",
            "pq",
            "--as-of",
            "2024-02-29",
            "--format",
            "csv",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "customer_id,bought_category_coffee,monetary\n1,1,40.00\n"
    );
    let o = segql(d, &["check", "--data", "--transactions", "pq"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o)
            .contains("column `category`: missing from 1 of 2 files (`pq/a.parquet`; 2 rows)"),
        "{}",
        stdout(&o)
    );
    write_parquet(
        &d.join("pq/c.parquet"),
        vec![
            (
                "customer_id",
                Arc::new(StringArray::from(vec!["1"])) as ArrayRef,
            ),
            ("amount", amounts(&[3000])),
        ],
    );
    let err = fails_with(
        &segql(
            d,
            &[
                "run",
                "-e",
                "frequency >= 1",
                "--transactions",
                "pq",
                "--count",
            ],
        ),
        "segql::data::missing_column",
    );
    assert!(err.contains("`pq/c.parquet` has no column `ts`"), "{err}");
}

#[test]
fn a_new_file_a_glob_would_read_is_refused_however_the_glob_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("proj/tx")).unwrap();
    std::fs::create_dir_all(d.join("other")).unwrap();
    write(
        d,
        "proj/tx/a.csv",
        "customer_id,ts,amount\n1,2024-01-01,5\n",
    );
    std::os::unix::fs::symlink(d.join("proj"), d.join("via-link")).unwrap();
    for (glob, out) in [
        ("../proj/tx/*.csv", "../proj/tx/new.csv"),
        ("../via-link/tx/*.csv", "../proj/tx/new.csv"),
        ("../proj/tx/*.csv", "../via-link/tx/new.csv"),
    ] {
        let o = segql(
            &d.join("other"),
            &[
                "run",
                "-e",
                "frequency >= 1",
                "--transactions",
                glob,
                "--output",
                out,
            ],
        );
        let err = fails_with(&o, "segql::output::is_input");
        assert!(
            err.contains("would be read as part of the transactions files"),
            "{glob} {out}: {err}"
        );
        assert!(!d.join("proj/tx/new.csv").exists());
    }
    // A file the glob does not reach (a subdirectory) is fine.
    std::fs::create_dir(d.join("proj/tx/sub")).unwrap();
    let o = segql(
        &d.join("other"),
        &[
            "run",
            "-e",
            "frequency >= 1",
            "--transactions",
            "../proj/tx/*.csv",
            "--output",
            "../proj/tx/sub/x.csv",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn a_column_typed_differently_across_files_takes_a_type_all_values_fit() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("cust")).unwrap();
    write(d, "tx.csv", "customer_id,ts,amount\n1,2024-01-01,5\n");
    write(d, "cust/a.csv", "customer_id,age\n1,30\n2,20\n");
    write(d, "cust/b.csv", "age,customer_id\n40.5,3\n");
    let o = segql(
        d,
        &[
            "run",
            "-e",
            "age > 25",
            "--transactions",
            "tx.csv",
            "--customers",
            "cust",
            "--as-of",
            "2024-01-31",
            "--format",
            "csv",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "customer_id,age\n1,30.0\n3,40.5\n");
}

#[test]
fn ids_that_differ_only_by_spaces_stay_apart_and_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "tx.csv",
        "customer_id,ts,amount\n\" 1 \",2024-01-01,5\n2,2024-01-02,7\n",
    );
    write(d, "cust.csv", "customer_id,city\n1,Kyiv\n2,Lviv\n");
    // Two customers: ` 1 ` (a buyer without attributes) and `1` (a prospect).
    assert_eq!(
        run_csv(d, "frequency >= 1", "2024-01-31"),
        "customer_id,frequency\n 1 ,1\n2,1\n"
    );
    assert_eq!(
        run_csv(d, "city = \"Kyiv\"", "2024-01-31"),
        "customer_id,city\n1,Kyiv\n"
    );
    let o = segql(
        d,
        &[
            "check",
            "--data",
            "--transactions",
            "tx.csv",
            "--customers",
            "cust.csv",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(
            "warning[segql::data::padded_ids]: 1 customer id differs from another only by spaces around it"
        ),
        "{}",
        stdout(&o)
    );
}
