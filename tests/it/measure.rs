//! Campaigns' snapshots and `segql measure`, end to end: figures against an independent
//! count of generated data with a planted effect, the intervals' coverage of that effect,
//! the `treated`/`held_out`/`responded` conditions, and every error a user can meet.

use crate::common::{fixture, segql_command, stderr, stdout, write};
use std::path::Path;
use std::process::Output;

fn segql(dir: &Path, args: &[&str]) -> Output {
    segql_command()
        .args(args)
        .args(["--project", dir.to_str().unwrap()])
        .output()
        .expect("segql runs")
}

/// SplitMix64: the test's own deterministic random numbers.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform draw in [0, 1) from (seed, customer, what).
fn unit(seed: u64, i: u64, what: u64) -> f64 {
    (mix(seed ^ mix(i.wrapping_mul(31).wrapping_add(what))) >> 11) as f64 / (1u64 << 53) as f64
}

/// What the generator knows about one member.
#[derive(Debug, Clone, Default)]
struct Truth {
    test: bool,
    responded: bool,
    revenue_cents: i64,
    purchases: u64,
}

/// A project of `n` customers, all bought on 2026-01-15; the audience of campaign `promo`
/// frozen on 2026-03-01 (20% control), imported from a CSV. In the 14 days after it, a
/// control member buys with probability `p_control`, a test member with `p_test` (one to
/// three purchases of 10.00 to 200.00); purchases on the snapshot day and after the window
/// are noise that must not count. The data end on 2026-04-30.
fn campaign_project(
    n: u64,
    seed: u64,
    p_control: f64,
    p_test: f64,
) -> (tempfile::TempDir, Vec<Truth>) {
    let dir = fixture(&[
        ("segql.toml", "[transactions]\npath = \"tx.csv\"\n"),
        (
            "campaigns.seg",
            "campaign promo = frequency >= 1 holdout 20% respond within 14d\n",
        ),
    ]);
    let mut tx = String::from("customer_id,ts,amount,receipt_id\n");
    let mut audience = String::from("customer_id,group\n");
    let mut truth = Vec::new();
    let mut receipt = 0u64;
    let mut line = |tx: &mut String, id: &str, day: &str, cents: i64| {
        receipt += 1;
        tx.push_str(&format!(
            "{id},{day},{}.{:02},R{receipt}\n",
            cents / 100,
            cents % 100
        ));
    };
    for i in 0..n {
        let id = format!("C{i:05}");
        let test = unit(seed, i, 1) >= 0.2;
        line(&mut tx, &id, "2026-01-15", 1500);
        audience.push_str(&format!("{id},{}\n", if test { "test" } else { "control" }));
        let mut t = Truth {
            test,
            ..Truth::default()
        };
        if unit(seed, i, 2) < if test { p_test } else { p_control } {
            t.responded = true;
            let k = 1 + (mix(seed ^ i ^ 3) % 3);
            for j in 0..k {
                let day = 2 + mix(seed ^ i ^ (10 + j)) % 14; // 2026-03-02 .. 2026-03-15
                let cents = 1000 + (mix(seed ^ i ^ (20 + j)) % 19_001) as i64;
                line(&mut tx, &id, &format!("2026-03-{day:02}"), cents);
                t.revenue_cents += cents;
                t.purchases += 1;
            }
        }
        // Outside the window: the snapshot day itself and the day after the window.
        if unit(seed, i, 4) < 0.1 {
            line(&mut tx, &id, "2026-03-01", 5000);
        }
        if unit(seed, i, 5) < 0.1 {
            line(&mut tx, &id, "2026-03-16", 7000);
        }
        truth.push(t);
    }
    line(&mut tx, "C99999", "2026-04-30", 100);
    write(dir.path(), "tx.csv", tx);
    write(dir.path(), "audience.csv", audience);
    let o = segql(
        dir.path(),
        &[
            "snapshots",
            "import",
            "promo",
            "--from",
            dir.path().join("audience.csv").to_str().unwrap(),
            "--date",
            "2026-03-01",
            "--holdout",
            "20",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    (dir, truth)
}

/// The JSON rows of `segql measure promo`.
fn measured(dir: &Path, extra: &[&str]) -> Vec<serde_json_lite::Row> {
    let mut args = vec!["measure", "promo", "--format", "json"];
    args.extend_from_slice(extra);
    let o = segql(dir, &args);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json_lite::rows(&stdout(&o))
}

/// The few JSON reads these tests need, without a JSON dependency: the writer prints one
/// object per row with plain keys and numbers or strings.
mod serde_json_lite {
    /// One row: key to raw value text.
    pub type Row = std::collections::BTreeMap<String, String>;

    /// Splits a JSON array of flat objects into rows (strings unquoted).
    pub fn rows(text: &str) -> Vec<Row> {
        let mut out = Vec::new();
        for obj in text.split('{').skip(1) {
            let body = obj.split('}').next().unwrap_or("");
            let mut row = Row::new();
            let mut rest = body;
            while let Some(k0) = rest.find('"') {
                let after = &rest[k0 + 1..];
                let k1 = after.find('"').unwrap();
                let key = after[..k1].to_string();
                let after = after[k1 + 1..].trim_start_matches(':');
                let (value, next) = if let Some(s) = after.strip_prefix('"') {
                    let mut end = 0;
                    let b = s.as_bytes();
                    while end < b.len() && !(b[end] == b'"' && (end == 0 || b[end - 1] != b'\\')) {
                        end += 1;
                    }
                    (s[..end].to_string(), &s[(end + 1).min(s.len())..])
                } else {
                    let end = after.find(',').unwrap_or(after.len());
                    (after[..end].trim().to_string(), &after[end..])
                };
                row.insert(key, value);
                rest = next.trim_start_matches(',');
            }
            out.push(row);
        }
        out
    }

    /// A number of the row.
    pub fn num(row: &Row, key: &str) -> f64 {
        row.get(key)
            .unwrap_or_else(|| panic!("no {key} in {row:?}"))
            .parse()
            .unwrap_or_else(|_| panic!("{key} is not a number in {row:?}"))
    }
}

use serde_json_lite::num;

#[test]
fn measured_figures_match_an_independent_count_and_cover_the_planted_effect() {
    let (dir, truth) = campaign_project(6000, 7, 0.20, 0.30);
    let rows = measured(dir.path(), &[]);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = &rows[0];
    // Figures per group, counted from what the generator wrote.
    let group = |test: bool| truth.iter().filter(move |t| t.test == test);
    for (prefix, test) in [("test", true), ("control", false)] {
        let members = group(test).count() as f64;
        let responders = group(test).filter(|t| t.responded).count() as f64;
        let revenue: i64 = group(test).map(|t| t.revenue_cents).sum();
        let purchases: u64 = group(test).map(|t| t.purchases).sum();
        assert_eq!(num(r, &format!("{prefix}_members")), members);
        assert_eq!(num(r, &format!("{prefix}_responders")), responders);
        assert!((num(r, &format!("{prefix}_revenue")) - revenue as f64 / 100.0).abs() < 1e-6);
        let per_member = revenue as f64 / 100.0 / members;
        assert!((num(r, &format!("{prefix}_revenue_per_member")) - per_member).abs() < 1e-9);
        let check = revenue as f64 / 100.0 / purchases as f64;
        assert!((num(r, &format!("{prefix}_avg_check_of_responders")) - check).abs() < 1e-9);
        assert!(
            (num(r, &format!("{prefix}_purchases_per_member")) - purchases as f64 / members).abs()
                < 1e-12
        );
    }
    let rate = |test: bool| {
        group(test).filter(|t| t.responded).count() as f64 / group(test).count() as f64
    };
    let uplift = rate(true) - rate(false);
    assert!((num(r, "uplift") - uplift).abs() < 1e-12);
    // The planted effect is 10 points; its interval covers it and excludes no effect.
    assert!(
        num(r, "uplift_low") < 0.10 && 0.10 < num(r, "uplift_high"),
        "{r:?}"
    );
    assert!(
        num(r, "uplift_low") > 0.0 && num(r, "p_value") < 0.001,
        "{r:?}"
    );
    assert!((num(r, "relative_uplift") - (rate(true) / rate(false) - 1.0)).abs() < 1e-12);
    let n_test = group(true).count() as f64;
    assert!((num(r, "incremental_responders") - uplift * n_test).abs() < 1e-6);
    // Revenue per member: the difference of the means, its interval around it.
    let mean = |test: bool| {
        group(test)
            .map(|t| t.revenue_cents as f64 / 100.0)
            .sum::<f64>()
            / group(test).count() as f64
    };
    let d = mean(true) - mean(false);
    assert!((num(r, "revenue_uplift") - d).abs() < 1e-9);
    assert!(num(r, "revenue_uplift_low") < d && d < num(r, "revenue_uplift_high"));
    assert!((num(r, "incremental_revenue") - d * n_test).abs() < 1e-6);
    // The groups were drawn at 20%: no sample-ratio mismatch.
    assert!(num(r, "sample_ratio_p_value") > 0.001, "{r:?}");
    assert!(num(r, "detectable_uplift") > 0.0 && num(r, "detectable_uplift") < 0.10);
    assert_eq!(num(r, "missing_days"), 0.0);
    assert!(r["verdict"].starts_with("test responded"), "{r:?}");
}

/// Over 40 data sets with the same planted effect, the 95% interval of the uplift covers it
/// in at least 34 (the chance of fewer with a true 95% coverage is under 1%).
#[test]
fn the_uplift_interval_covers_the_planted_effect_across_data_sets() {
    let mut covered = 0;
    for seed in 0..40 {
        let (dir, _) = campaign_project(400, 1000 + seed, 0.25, 0.40);
        let r = &measured(dir.path(), &[])[0];
        if num(r, "uplift_low") <= 0.15 && 0.15 <= num(r, "uplift_high") {
            covered += 1;
        }
    }
    assert!(covered >= 34, "covered {covered} of 40");
}

#[test]
fn campaign_conditions_read_the_snapshot() {
    let (dir, truth) = campaign_project(500, 3, 0.2, 0.3);
    let count = |e: &str| -> usize {
        let o = segql(
            dir.path(),
            &[
                "run",
                dir.path().join("campaigns.seg").to_str().unwrap(),
                "-e",
                e,
                "--count",
            ],
        );
        assert!(o.status.success(), "{e}: {}", stderr(&o));
        stdout(&o).trim().parse().unwrap()
    };
    let test = truth.iter().filter(|t| t.test).count();
    let responded = truth.iter().filter(|t| t.responded).count();
    let test_responded = truth.iter().filter(|t| t.test && t.responded).count();
    assert_eq!(count("treated(promo)"), test);
    assert_eq!(count("held_out(promo)"), truth.len() - test);
    assert_eq!(count("treated(promo, 2026-03-01)"), test);
    assert_eq!(count("responded(promo)"), responded);
    assert_eq!(
        count("treated(promo) and not responded(promo)"),
        test - test_responded
    );
    // Within a window of snapshots: as of 2026-04-30, 2026-03-01 is 60 days back.
    assert_eq!(count("treated(promo) within 61d"), test);
    assert_eq!(count("treated(promo) within 60d"), 0);
    // Snapshots after the as-of date are not read.
    let early = segql(
        dir.path(),
        &[
            "run",
            dir.path().join("campaigns.seg").to_str().unwrap(),
            "-e",
            "treated(promo)",
            "--count",
            "--as-of",
            "2026-02-01",
        ],
    );
    assert_eq!(stdout(&early).trim(), "0", "{}", stderr(&early));
}

#[test]
fn a_breakdown_adds_up_to_all_members() {
    let (dir, _) = campaign_project(800, 5, 0.2, 0.3);
    // With `--by partner` a project without partners is an error; lifecycle works anywhere.
    let rows = measured(dir.path(), &["--by", "lifecycle"]);
    let all = &rows[0];
    // All members first: no breakdown value (JSON leaves a missing value out).
    assert!(all.get("lifecycle").is_none_or(|v| v == "null"), "{all:?}");
    let parts = &rows[1..];
    assert!(!parts.is_empty());
    for col in [
        "test_members",
        "control_members",
        "test_responders",
        "control_responders",
    ] {
        let sum: f64 = parts.iter().map(|r| num(r, col)).sum();
        assert_eq!(sum, num(all, col), "{col}");
    }
    let o = segql(dir.path(), &["measure", "promo", "--by", "partner"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no `partner` column"), "{}", stderr(&o));
}

#[test]
fn the_example_campaign_prints_its_report() {
    let dir = crate::common::example_dir();
    let o = segql(&dir, &["measure", "autumn_bonus"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("the campaign raised the response"), "{out}");
    insta::assert_snapshot!("example_measure", out);
    let md = stdout(&segql(
        &dir,
        &[
            "measure",
            "autumn_bonus",
            "--format",
            "markdown",
            "--by",
            "partner",
        ],
    ));
    assert!(md.contains("| members |"), "{md}");
    assert!(md.contains("| OKKO |"), "{md}");
    let list = stdout(&segql(&dir, &["snapshots"]));
    assert!(
        list.contains("autumn_bonus") && list.contains("2026-09-15") && list.contains("673"),
        "{list}"
    );
}

/// Errors as the user sees them, each with its diagnostic code.
fn rendered(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stderr).to_string()
}

#[test]
fn snapshots_are_never_replaced() {
    let dir = fixture(&[
        ("segql.toml", "[transactions]\npath = \"tx.csv\"\n"),
        (
            "c.seg",
            "campaign promo = frequency >= 1 holdout 50% respond within 7d\n",
        ),
        (
            "tx.csv",
            "customer_id,ts,amount\nA,2026-01-01,10.00\nB,2026-01-02,10.00\nC,2026-01-03,10.00\nD,2026-01-20,10.00\n",
        ),
    ]);
    let seg = dir.path().join("c.seg");
    let take = |d: &Path| {
        segql(
            d,
            &[
                "run",
                seg.to_str().unwrap(),
                "--segment",
                "promo",
                "--snapshot",
                "--as-of",
                "2026-01-05",
            ],
        )
    };
    let o = take(dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("3 members"), "{}", stdout(&o));
    let file = dir.path().join("snapshots/promo/2026-01-05.parquet");
    let before = std::fs::read(&file).unwrap();
    insta::assert_snapshot!(
        "snapshot_exists_same",
        rendered(&take(dir.path())).replace(dir.path().to_str().unwrap(), "DIR")
    );
    write(
        dir.path(),
        "c.seg",
        "campaign promo = frequency >= 1 holdout 20% respond within 7d\n",
    );
    let changed = rendered(&take(dir.path()));
    assert!(changed.contains("another definition"), "{changed}");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        before,
        "the snapshot was replaced"
    );
    // Measuring it under the changed definition is refused, and allowed when asked.
    insta::assert_snapshot!(
        "definition_changed",
        rendered(&segql(dir.path(), &["measure", "promo"]))
    );
    let o = segql(dir.path(), &["measure", "promo", "--any-definition"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The window (2026-01-06 to 2026-01-12) is covered by data ending 2026-01-20.
    assert!(
        stdout(&o).contains("2026-01-06 to 2026-01-12"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn measuring_what_cannot_be_measured_says_why() {
    let (dir, _) = campaign_project(50, 1, 0.2, 0.3);
    let d = dir.path();
    insta::assert_snapshot!(
        "no_snapshot",
        rendered(&segql(d, &["measure", "promo", "--snapshot", "2026-02-01"]))
    );
    // A window past the data: 2026-04-20 + 14 days ends 4 days after 2026-04-30.
    let audience = d.join("audience.csv");
    let o = segql(
        d,
        &[
            "snapshots",
            "import",
            "promo",
            "--from",
            audience.to_str().unwrap(),
            "--date",
            "2026-04-20",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    insta::assert_snapshot!(
        "partial_window",
        rendered(&segql(d, &["measure", "promo", "--snapshot", "2026-04-20"]))
    );
    let o = segql(
        d,
        &[
            "measure",
            "promo",
            "--snapshot",
            "2026-04-20",
            "--partial",
            "--format",
            "json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        num(&serde_json_lite::rows(&stdout(&o))[0], "missing_days"),
        4.0
    );
    // A control group of nobody.
    write(
        d,
        "all-test.csv",
        "customer_id,group\nC00001,test\nC00002,test\n",
    );
    let all_test = d.join("all-test.csv");
    segql(
        d,
        &[
            "snapshots",
            "import",
            "promo",
            "--from",
            all_test.to_str().unwrap(),
            "--date",
            "2026-03-05",
        ],
    );
    insta::assert_snapshot!(
        "empty_control",
        rendered(&segql(d, &["measure", "promo", "--snapshot", "2026-03-05"]))
    );
    // A file that is not an audience.
    write(d, "bad.csv", "customer_id,group\nC00001,treated_maybe\n");
    let bad = d.join("bad.csv");
    insta::assert_snapshot!(
        "bad_audience",
        rendered(&segql(
            d,
            &[
                "snapshots",
                "import",
                "promo",
                "--from",
                bad.to_str().unwrap(),
                "--date",
                "2026-03-06"
            ]
        ))
        .replace(d.to_str().unwrap(), "DIR")
    );
    // Conditions on campaigns.
    let seg = d.join("campaigns.seg");
    write(
        d,
        "more.seg",
        "import \"campaigns.seg\"\ncampaign quiet = frequency >= 1 holdout 10%\n",
    );
    let more = d.join("more.seg");
    for (name, file, e) in [
        ("no_response", &more, "responded(quiet)"),
        ("no_snapshot_of_date", &seg, "treated(promo, 2026-02-02)"),
        ("unknown_campaign", &seg, "treated(prom)"),
    ] {
        let o = segql(d, &["run", file.to_str().unwrap(), "-e", e, "--count"]);
        insta::assert_snapshot!(name, rendered(&o));
    }
    write(
        d,
        "resp.seg",
        "campaign r = frequency >= 1 holdout 10% respond frequency within 7d >= 1 and monetary within 14d > 10\n",
    );
    let resp = d.join("resp.seg");
    let o = segql(d, &["check", resp.to_str().unwrap()]);
    assert!(
        stderr(&o).contains("segql::types::invalid_response"),
        "{}",
        stderr(&o)
    );
    let o = segql(d, &["measure", "promo", "--respond", "lifecycle = new"]);
    insta::assert_snapshot!("invalid_response", rendered(&o));
}

/// Opening a project reads no snapshot: a damaged one stops only what reads it.
#[test]
fn a_damaged_snapshot_stops_only_what_reads_it() {
    let (dir, _) = campaign_project(30, 2, 0.2, 0.3);
    let d = dir.path();
    write(d, "snapshots/promo/2026-03-07.parquet", "not parquet");
    let o = segql(d, &["run", "-e", "frequency >= 1", "--count"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = segql(d, &["measure", "promo", "--snapshot", "2026-03-07"]);
    assert!(rendered(&o).contains("segql::snapshot::invalid"));
    // The other snapshot is still measured.
    let o = segql(d, &["measure", "promo", "--snapshot", "2026-03-01"]);
    assert!(o.status.success(), "{}", stderr(&o));
}
