//! RFM settings of `segql.toml` (methods, bins, segments) and their errors, and `segql rfm`,
//! the grid report, against an independent sum of generated data.

use crate::common::{csv_rows, segql_in as segql, stderr, stdout, write};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const TX: &str = "[transactions]\npath = \"tx.csv\"\n";

/// Every broken RFM setting is refused with its code, at its place in the project file.
#[test]
fn bad_rfm_settings_are_rejected_at_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "tx.csv", "customer_id,ts,amount\n1,2024-01-01,5\n");
    // (the [rfm] part, code, words of the message, line:column)
    let cases: Vec<(&str, &str, &str, &str)> = vec![
        (
            "method = \"rnak\"\n",
            "invalid",
            "[rfm] method `rnak` is unknown (did you mean `rank`?); methods: quintile, rank",
            "4:10",
        ),
        (
            "method = 5\n",
            "syntax",
            "invalid type: integer `5`, expected a string",
            "4:10",
        ),
        (
            "frequency_bins = [1, 2, 3]\n",
            "invalid",
            "[rfm] frequency_bins must list 4 thresholds (where scores 2, 3, 4 and 5 start), not 3: [1, 2, 3]",
            "4:1",
        ),
        (
            "frequency_bins = [3, 2, 5, 8]\n",
            "invalid",
            "[rfm] frequency_bins must increase, each threshold above the one before: [3, 2, 5, 8]",
            "4:1",
        ),
        (
            "window_days = 30\nrecency_bins = [-1, 30, 90, 180]\n",
            "invalid",
            "[rfm] recency_bins must be numbers from 0 to",
            "5:1",
        ),
        (
            "monetary_bins = [10, 10, 20.5, 30]\n",
            "invalid",
            "[rfm] monetary_bins must increase",
            "4:1",
        ),
        (
            "monetary_bins = [10, 20, 30, nan]\n",
            "invalid",
            "[rfm] monetary_bins must be numbers from 0 to",
            "4:1",
        ),
        (
            "frequency_bins = [1, 2, 3, 4.5]\n",
            "syntax",
            "invalid type: floating point `4.5`, expected i64",
            "4:28",
        ),
        (
            "[rfm.segments]\nbest = [\"555\"]\ngood = [\"5*5\"]\n",
            "invalid",
            "[rfm.segments] the code 555 is in `best` (by \"555\") and in `good` (by \"5*5\"): a code belongs to one segment at most",
            "6:9",
        ),
        (
            "[rfm.segments]\nbest = [\"55\"]\n",
            "invalid",
            "[rfm.segments] `best`: `55` is not an RFM code or pattern: it has 2 positions, not 3 (R, F and M)",
            "5:9",
        ),
        (
            "[rfm.segments]\nbest = [\"6[45]1\"]\n",
            "invalid",
            "`6`: each of R, F and M is a digit 1-5, `*` or a class like `[45]`",
            "5:9",
        ),
        (
            "[rfm.segments]\nbest = [\"5[4-2]1\"]\n",
            "invalid",
            "the range 4-2 is empty",
            "5:9",
        ),
        (
            "[rfm.segments]\nbest = [\"5[45\"]\n",
            "invalid",
            "`[` is not closed",
            "5:9",
        ),
        (
            "[rfm.segments]\n\"9lives\" = [\"555\"]\n",
            "invalid",
            "`9lives` is not a segment name",
            "5:1",
        ),
        (
            "[rfm.segments]\nbest = []\n",
            "invalid",
            "[rfm.segments] `best` lists no code",
            "5:1",
        ),
        (
            "[rfm.segments]\nbest = [555]\n",
            "syntax",
            "invalid type: integer `555`, expected a string",
            "5:9",
        ),
        (
            "segments = {}\n",
            "invalid",
            "[rfm.segments] names no segment",
            "4:12",
        ),
    ];
    for (rfm, code, words, at) in &cases {
        let text = format!("{TX}[rfm]\n{rfm}");
        write(d, "segql.toml", &text);
        let o = segql(
            d,
            &["run", "--project", ".", "-e", "recency < 30d", "--count"],
        );
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{text}\n{err}");
        assert!(
            err.contains(&format!("segql::project::{code}")),
            "{text}\n{err}"
        );
        assert!(err.contains(words), "{text}\n{err}");
        assert!(
            err.contains(&format!("segql.toml:{at}]")),
            "{text}\nexpected {at}: {err}"
        );
    }
    // Two renderings in full: a bins rule and a code in two segments.
    write(
        d,
        "segql.toml",
        format!("{TX}[rfm]\nfrequency_bins = [1, 3, 2, 5]\n"),
    );
    let o = segql(
        d,
        &["run", "--project", ".", "-e", "recency < 30d", "--count"],
    );
    insta::assert_snapshot!(
        "rfm_bins_not_increasing",
        String::from_utf8_lossy(&o.stderr)
    );
    write(
        d,
        "segql.toml",
        format!("{TX}[rfm.segments]\nbest = [\"5[45]*\"]\nloyal = [\"4*5\", \"55[1-3]\"]\n"),
    );
    let o = segql(
        d,
        &["run", "--project", ".", "-e", "recency < 30d", "--count"],
    );
    insta::assert_snapshot!(
        "rfm_code_in_two_segments",
        String::from_utf8_lossy(&o.stderr)
    );
    // Good settings run.
    write(
        d,
        "segql.toml",
        format!(
            "{TX}[rfm]\nmethod = \"rank\"\nrecency_bins = [0, 30, 90, 180]\nmonetary_bins = [0.5, 1, 2.25, 1e6]\n\
             [rfm.segments]\nbest = [\"5[45]*\"]\nloyal = [\"4*5\", \"3[1-3]5\"]\n"
        ),
    );
    let o = segql(
        d,
        &[
            "run",
            "--project",
            ".",
            "-e",
            "rfm_segment != loyal",
            "--count",
            "--as-of",
            "2024-01-01",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

/// Customers of a generated program: mostly one purchase, some returns, dates over 500 days.
/// (customer, days before the as-of date, cents)
fn generated() -> Vec<(String, i64, i64)> {
    let mut state: u64 = 0x5eed;
    let mut next = |n: u64| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % n
    };
    let mut rows = Vec::new();
    for c in 0..90 {
        let purchases = match next(10) {
            0..=5 => 1,
            6 | 7 => 2,
            8 => 3 + next(3),
            _ => 6 + next(4),
        };
        for _ in 0..purchases {
            let days = next(500) as i64;
            // Amounts in a few steps (equal monetary values), a return now and then.
            let cents = if next(15) == 0 {
                -(next(50) as i64) * 100
            } else {
                (1 + next(12) as i64) * 2_500 + next(3) as i64
            };
            rows.push((format!("c{c:03}"), days, cents));
        }
    }
    rows
}

/// Runs `segql ARGS --project . --as-of AS_OF --format csv` and returns its rows.
fn run_csv(dir: &Path, args: &[&str]) -> Vec<BTreeMap<String, String>> {
    let mut all = args.to_vec();
    all.extend(["--project", ".", "--as-of", "2026-06-30", "--format", "csv"]);
    let o = segql(dir, &all);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    csv_rows(&stdout(&o))
}

fn round(x: f64, d: i32) -> f64 {
    (x * 10f64.powi(d)).round() / 10f64.powi(d)
}

/// An optional figure of a CSV row: empty is none.
fn figure(row: &BTreeMap<String, String>, name: &str) -> Option<f64> {
    let v = &row[name];
    (!v.is_empty()).then(|| v.parse().unwrap_or_else(|_| panic!("{name} = {v}")))
}

/// The grid's figures equal sums over the customers of each cell and segment: who is in a
/// cell and segment from `segql run` (`rfm.r`, `rfm.f`, `rfm_segment = NAME`, checked against
/// the oracle by the property tests), their monetary summed here from the generated rows.
#[test]
fn the_rfm_grid_sums_each_cells_and_segments_customers() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let as_of = chrono::NaiveDate::from_ymd_opt(2026, 6, 30).unwrap();
    let rows = generated();
    let mut csv = String::from("customer_id,ts,amount\n");
    for (c, days, cents) in &rows {
        let sign = if *cents < 0 { "-" } else { "" };
        csv.push_str(&format!(
            "{c},{},{sign}{}.{:02}\n",
            as_of - chrono::Duration::days(*days),
            cents.abs() / 100,
            cents.abs() % 100
        ));
    }
    write(d, "tx.csv", &csv);
    // Monetary in the 365-day window, in cents, of every customer with a purchase in it.
    let mut monetary: BTreeMap<&str, i64> = BTreeMap::new();
    for (c, days, cents) in &rows {
        if *days < 365 {
            *monetary.entry(c.as_str()).or_default() += cents;
        }
    }
    let segments = "[rfm.segments]\nbest = [\"5[45]*\", \"45[45]\"]\nfaithful = [\"[1-3][45]*\"]\n\
                    one_timers = [\"[1-3]1*\"]\n";
    let settings = [
        String::new(),
        format!("[rfm]\nmethod = \"rank\"\n{segments}"),
        format!(
            "[rfm]\nfrequency_bins = [2, 3, 4, 6]\nmonetary_bins = [50, 100, 200.5, 400]\n{segments}"
        ),
    ];
    for rfm in &settings {
        write(d, "segql.toml", format!("{TX}{rfm}"));
        let scored = run_csv(d, &["run", "-e", "rfm.r >= 1 and rfm.f >= 1"]);
        assert_eq!(scored.len(), monetary.len(), "{rfm}");
        let grid = run_csv(d, &["rfm"]);
        let total_cents: i64 = monetary.values().sum();
        let total = scored.len();
        let check = |row: &BTreeMap<String, String>, ids: &BTreeSet<String>, what: &str| {
            let cents: i64 = ids.iter().map(|id| monetary[id.as_str()]).sum();
            assert_eq!(row["customers"], ids.len().to_string(), "{what} {rfm}");
            assert_eq!(
                figure(row, "revenue"),
                Some(round(cents as f64 / 100.0, 2)),
                "{what}"
            );
            assert_eq!(
                figure(row, "share_of_customers_pct"),
                Some(round(100.0 * ids.len() as f64 / total as f64, 1)),
                "{what}"
            );
            assert_eq!(
                figure(row, "share_of_revenue_pct"),
                Some(round(100.0 * cents as f64 / total_cents as f64, 1)),
                "{what}"
            );
            let avg = (!ids.is_empty()).then(|| round(cents as f64 / 100.0 / ids.len() as f64, 2));
            assert_eq!(figure(row, "avg_monetary"), avg, "{what}");
        };
        let cells: Vec<_> = grid.iter().filter(|r| r["part"] == "cell").collect();
        assert_eq!(cells.len(), 25);
        let mut place = 0;
        for r in (1..=5).rev() {
            for f in 1..=5 {
                let row = cells[place];
                place += 1;
                assert_eq!(
                    (row["r"].as_str(), row["f"].as_str()),
                    (&*r.to_string(), &*f.to_string())
                );
                let ids: BTreeSet<String> = scored
                    .iter()
                    .filter(|s| s["rfm_r"] == r.to_string() && s["rfm_f"] == f.to_string())
                    .map(|s| s["customer_id"].clone())
                    .collect();
                check(row, &ids, &format!("cell R{r} F{f}"));
            }
        }
        let segs: Vec<_> = grid.iter().filter(|r| r["part"] == "segment").collect();
        if rfm.is_empty() {
            // The standard segments cover every code.
            assert_eq!(segs.len(), 11);
            let n: usize = segs
                .iter()
                .map(|s| s["customers"].parse::<usize>().unwrap())
                .sum();
            assert_eq!(n, total);
            continue;
        }
        let names = ["best", "faithful", "one_timers", "(no segment)"];
        assert_eq!(
            segs.iter()
                .map(|s| s["segment"].as_str())
                .collect::<Vec<_>>(),
            names
        );
        let mut listed = BTreeSet::new();
        for (row, name) in segs.iter().zip(names) {
            let ids: BTreeSet<String> = if name == "(no segment)" {
                monetary
                    .keys()
                    .map(|k| k.to_string())
                    .filter(|k| !listed.contains(k))
                    .collect()
            } else {
                run_csv(d, &["run", "-e", &format!("rfm_segment = {name}")])
                    .iter()
                    .map(|s| s["customer_id"].clone())
                    .collect()
            };
            listed.extend(ids.iter().cloned());
            check(row, &ids, name);
        }
    }
}

/// The grid for people: three matrices and the segments, on the corpus's small data.
#[test]
fn the_rfm_grid_as_tables() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "tx.csv",
        "customer_id,ts,amount\n\
         a,2026-10-30,20.00\nb,2026-09-01,20.00\nc,2026-05-01,300.00\nd,2026-01-10,5.00\n\
         e,2026-10-25,40.00\ne,2026-08-01,60.00\nf,2026-07-01,100.00\nf,2026-03-01,150.50\n\
         g,2026-10-31,500.00\ng,2026-10-01,300.00\ng,2026-06-01,400.00\n\
         h,2026-10-20,10.00\nh,2026-10-10,10.00\nh,2026-09-20,10.00\nh,2026-08-20,10.00\n\
         h,2026-07-20,10.00\ni,2025-06-01,80.00\n",
    );
    write(
        d,
        "segql.toml",
        format!(
            "{TX}[rfm]\nmethod = \"rank\"\nfrequency_bins = [2, 3, 4, 6]\n\n[rfm.segments]\nbest = [\"5[45]*\", \"45*\"]\none_timers = [\"*1*\"]\n"
        ),
    );
    let o = segql(d, &["rfm", "--project", ".", "--as-of", "2026-10-31"]);
    assert!(o.status.success(), "{}", stderr(&o));
    insta::assert_snapshot!(stdout(&o));
    let o = segql(
        d,
        &[
            "rfm",
            "--project",
            ".",
            "--as-of",
            "2026-10-31",
            "--format",
            "json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_str(&stdout(&o))
        .or_else(|_| {
            // One object per line.
            let lines: Vec<serde_json::Value> = stdout(&o)
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            Ok::<_, serde_json::Error>(serde_json::Value::Array(lines))
        })
        .unwrap();
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), 25 + 3, "{json}");
    assert_eq!(rows[0]["part"], "cell");
    assert_eq!(rows[25]["segment"], "best");
}
