//! `segql report`: the example project's page rendered in a real browser (headless Chromium,
//! driven over the DevTools protocol by `tests/engines/chromium_report.py`): every chart drew
//! an SVG of its size, the page made no request and logged no error, and the numbers of its
//! tables are the CSV's, which are those of `segql profile`, `rfm`, `kpis`, `history` and
//! `measure`. Also: a partner's report, text escaped, empty data as sentences, the output
//! rules, and the REPL's `:report`.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The longest a browser run may take before it is killed and the test fails.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);

fn segql(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_segql"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    let o = segql(args);
    assert!(
        o.status.success(),
        "segql {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// The target directory the test binary was built in.
fn target_dir() -> PathBuf {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_segql"));
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

/// Chromium: `$SEGQL_CHROMIUM`, else `chromium` on the path (Debian's package; `.ci/run`
/// installs it).
fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("SEGQL_CHROMIUM") {
        return PathBuf::from(p);
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .flat_map(|d| ["chromium", "chromium-browser"].map(|n| d.join(n)))
            .find(|p| p.is_file())
    });
    found.expect("the report tests need Chromium: apt-get install -y chromium (.ci/run does)")
}

/// What the browser saw of `page` (see the driver's documentation); screenshots go to
/// `shots`. The driver is killed past [`BROWSER_TIMEOUT`].
fn browse(page: &Path, shots: &Path) -> Value {
    let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/engines/chromium_report.py");
    let mut child = Command::new("python3")
        .arg(&driver)
        .arg(chromium())
        .arg(page)
        .arg(shots)
        .arg((BROWSER_TIMEOUT.as_secs() - 10).to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > BROWSER_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the browser driver did not finish within {BROWSER_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "browser driver failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

/// A CSV's records (quoted fields with doubled quotes, as segql writes them).
fn csv_records(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let (mut record, mut field, mut quoted, mut chars) =
        (Vec::new(), String::new(), false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => record.push(std::mem::take(&mut field)),
            ('\n', false) => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (c, _) => field.push(c),
        }
    }
    records
}

/// The report's CSV as (chart, row, column) -> value.
fn report_numbers(csv: &str) -> BTreeMap<(String, String, String), String> {
    let records = csv_records(csv);
    assert_eq!(records[0], ["section", "chart", "row", "column", "value"]);
    records[1..]
        .iter()
        .map(|r| ((r[1].clone(), r[2].clone(), r[3].clone()), r[4].clone()))
        .collect()
}

/// A CSV of segql's with a header: one map per row.
fn rows(csv: &str) -> Vec<BTreeMap<String, String>> {
    let records = csv_records(csv);
    records[1..]
        .iter()
        .map(|r| records[0].iter().cloned().zip(r.iter().cloned()).collect())
        .collect()
}

fn num(s: &str) -> f64 {
    s.parse()
        .unwrap_or_else(|_| panic!("`{s}` is not a number"))
}

fn example() -> String {
    crate::common::example_dir().display().to_string()
}

const SEGMENTS: [&str; 4] = ["newcomers", "at_risk", "lapsed_valuable", "champions"];

fn report_args<'a>(project: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "report",
        "--project",
        project,
        "--as-of",
        "2026-10-31",
        "--from",
        "2025-11-01",
    ];
    for s in SEGMENTS {
        args.extend(["--segment", s]);
    }
    args.extend(extra);
    args
}

#[test]
fn the_example_report_draws_every_chart_offline_with_the_numbers_segql_prints() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    let project = example();
    ok(&report_args(
        &project,
        &["--output", page.to_str().unwrap()],
    ));
    let csv = ok(&report_args(&project, &["--format", "csv"]));
    let numbers = report_numbers(&csv);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(!html.contains("<script"), "the page has a script");
    // The only URL is SVG's namespace.
    assert_eq!(
        html.matches("://").count(),
        html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count()
    );

    let shots = target_dir().join("report-artefacts");
    let seen = browse(&page, &shots);
    assert_eq!(
        seen["requests"],
        Value::Array(vec![]),
        "the page made requests"
    );
    assert_eq!(
        seen["errors"],
        Value::Array(vec![]),
        "the page logged errors"
    );
    assert_eq!(seen["scripts"], 0);

    // Every chart drew: an SVG of the size it says, with its marks.
    let charts = seen["charts"].as_array().unwrap();
    let ids: BTreeSet<&str> = charts.iter().map(|c| c["id"].as_str().unwrap()).collect();
    let expected: BTreeSet<&str> = [
        "segments-customers",
        "segments-shares",
        "segments-avg-check",
        "segments-frequency",
        "rfm-grid",
        "rfm-segments",
        "lifecycle-transitions",
        "lifecycle-flows",
        "kpis-shares",
        "kpis-avg-check",
        "kpis-checks",
        "campaign-0-rates",
        "campaign-0-uplift",
        "history-1",
    ]
    .into();
    assert_eq!(ids, expected);
    for c in charts {
        assert_eq!(c["svg"], true, "{c}");
        let (w, h) = (c["width"].as_f64().unwrap(), c["height"].as_f64().unwrap());
        assert!(w > 700.0 && h > 60.0, "{c}");
        assert!((w - c["width_attr"].as_f64().unwrap()).abs() < 1.0, "{c}");
        assert!((h - c["height_attr"].as_f64().unwrap()).abs() < 1.0, "{c}");
        assert!(c["elements"].as_u64().unwrap() > 20, "{c}");
        assert!(!c["caption"].as_str().unwrap().is_empty(), "{c}");
    }
    for section in [
        "segments",
        "rfm",
        "lifecycle",
        "kpis",
        "campaigns",
        "history",
    ] {
        let png = shots.join(format!("{section}.png"));
        let bytes = std::fs::read(&png).unwrap();
        assert!(
            bytes.starts_with(b"\x89PNG") && bytes.len() > 2000,
            "{png:?}"
        );
    }

    // The tables' numbers, as the browser reads them, are the CSV's.
    let cells: BTreeMap<(String, String, String), String> = seen["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let s = |i: usize| c[i].as_str().unwrap().to_string();
            ((s(0), s(1), s(2)), s(3))
        })
        .collect();
    assert_eq!(cells, numbers);

    // ... and those of the commands that print them.
    let get = |chart: &str, row: &str, col: &str| -> Option<f64> {
        let v = &numbers[&(chart.to_string(), row.to_string(), col.to_string())];
        (!v.is_empty()).then(|| num(v))
    };
    let mut profile = vec!["profile", "--project", &project, "--as-of", "2026-10-31"];
    for s in SEGMENTS {
        profile.extend(["--segment", s]);
    }
    profile.extend(["--format", "csv"]);
    let files = crate::common::files_matching("examples/coalition/segments/*.seg");
    let files: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let mut with_files = profile.clone();
    with_files.splice(1..1, files.iter().map(String::as_str));
    let profile_rows = rows(&ok(&with_files));
    assert_eq!(profile_rows.len(), SEGMENTS.len() + 1);
    for r in &profile_rows {
        let seg = &r["segment"];
        assert_eq!(
            get("segments-customers", seg, "customers"),
            Some(num(&r["customers"]))
        );
        for (chart, col, key) in [
            (
                "segments-shares",
                "share of customers, %",
                "share_of_base_pct",
            ),
            (
                "segments-shares",
                "share of revenue, %",
                "share_of_revenue_pct",
            ),
            ("segments-avg-check", "average check", "avg_check"),
            (
                "segments-frequency",
                "purchases per customer",
                "purchases_per_customer",
            ),
        ] {
            assert_eq!(
                get(chart, seg, col),
                (!r[key].is_empty()).then(|| num(&r[key])),
                "{seg} {col}"
            );
        }
    }
    let rfm = rows(&ok(&[
        "rfm",
        "--project",
        &project,
        "--as-of",
        "2026-10-31",
        "--format",
        "csv",
    ]));
    for r in rfm.iter().filter(|r| r["part"] == "cell") {
        let cell = format!("R{} F{}", r["r"], r["f"]);
        assert_eq!(
            get("rfm-grid", &cell, "customers"),
            Some(num(&r["customers"]))
        );
        let avg = (!r["avg_monetary"].is_empty()).then(|| num(&r["avg_monetary"]));
        assert_eq!(get("rfm-grid", &cell, "average monetary"), avg, "{cell}");
    }
    for r in rfm.iter().filter(|r| r["part"] == "segment") {
        assert_eq!(
            get("rfm-segments", &r["segment"], "customers"),
            Some(num(&r["customers"]))
        );
    }
    let kpis = rows(&ok(&[
        "kpis",
        "--project",
        &project,
        "--every",
        "month",
        "--from",
        "2025-11-01",
        "--to",
        "2026-10-31",
        "--format",
        "csv",
    ]));
    assert_eq!(kpis.len(), 12);
    for r in &kpis {
        let p = &r["period"];
        for (chart, col, key) in [
            ("kpis-shares", "active share", "active_share"),
            ("kpis-shares", "card penetration", "card_penetration"),
            (
                "kpis-shares",
                "activity coefficient",
                "activity_coefficient",
            ),
            ("kpis-avg-check", "members", "avg_check_members"),
            (
                "kpis-checks",
                "checks per active member",
                "checks_per_active_member",
            ),
            ("lifecycle-flows", "inflow", "inflow"),
            ("lifecycle-flows", "churn", "churn"),
        ] {
            assert_eq!(get(chart, p, col), Some(num(&r[key])), "{p} {col}");
        }
    }
    let lifecycle = format!("{project}/segments/lifecycle.seg");
    let history = rows(&ok(&[
        "history",
        &lifecycle,
        "--project",
        &project,
        "--segment",
        "at_risk",
        "--every",
        "month",
        "--from",
        "2025-11-01",
        "--to",
        "2026-10-31",
        "--quiet",
        "--format",
        "csv",
    ]));
    assert_eq!(history.len(), 12);
    for r in &history {
        assert_eq!(
            get("history-1", &r["period"], "at_risk"),
            Some(num(&r["members"]))
        );
    }
    let measured = rows(&ok(&[
        "measure",
        "autumn_bonus",
        "--project",
        &project,
        "--as-of",
        "2026-10-31",
        "--format",
        "csv",
    ]));
    let m = &measured[0];
    let row = format!("snapshot {}", m["snapshot"]);
    let pts = |k: &str| (num(&m[k]) * 10000.0).round() / 100.0;
    assert_eq!(
        get("campaign-0-rates", &row, "test members"),
        Some(num(&m["test_members"]))
    );
    assert_eq!(
        get("campaign-0-uplift", &row, "uplift, points"),
        Some(pts("uplift"))
    );
    assert_eq!(
        get("campaign-0-uplift", &row, "95% interval low"),
        Some(pts("uplift_low"))
    );
    assert_eq!(
        get("campaign-0-uplift", &row, "95% interval high"),
        Some(pts("uplift_high"))
    );
}

/// A project of a few rows: partners and a description with markup and quotes, and a
/// segment no one is in.
fn tiny_project(d: &Path) {
    std::fs::create_dir_all(d.join("segments")).unwrap();
    std::fs::write(
        d.join("tx.csv"),
        "customer_id,ts,amount,partner\n\
         c1,2026-01-05,10.00,<script>alert(1)</script>\n\
         c1,2026-01-20,12.50,\"Kava \"\"Best\"\" & Co\"\n\
         c2,2026-01-07,30.00,<script>alert(1)</script>\n\
         c3,2026-02-01,5.00,\"Kava \"\"Best\"\" & Co\"\n",
    )
    .unwrap();
    std::fs::write(
        d.join("segql.toml"),
        "[project]\nname = \"Tiny <b>shop</b>\"\n[transactions]\npath = \"tx.csv\"\n",
    )
    .unwrap();
    std::fs::write(
        d.join("segments/s.seg"),
        "segment buyers \"<script>alert('x')</script> & \\\"friends\\\"\" = frequency >= 1\n\
         segment whales = monetary > 1000000\n",
    )
    .unwrap();
}

#[test]
fn text_is_escaped_and_empty_data_gives_sentences() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    tiny_project(d);
    let project = d.display().to_string();
    let page = d.join("r.html");
    // The data ends on 2026-02-01: from 2026-03-01 to 2026-06-30 there is no transaction.
    let base = [
        "report",
        "--project",
        &project,
        "--as-of",
        "2026-06-30",
        "--partner",
        "<script>alert(1)</script>",
        "--from",
        "2026-03-01",
    ];
    let mut args = base.to_vec();
    args.extend(["--output", page.to_str().unwrap()]);
    ok(&args);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("<b>"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"),
        "{html}"
    );
    assert!(html.contains("No transactions at &lt;script&gt;alert(1)&lt;/script&gt; between 2026-03-01 and 2026-06-30."), "{html}");
    assert!(
        html.contains("No members as of 2026-06-30: whales."),
        "{html}"
    );
    assert!(html.contains("No campaign has a snapshot"), "{html}");
    let seen = browse(&page, &d.join("shots"));
    assert_eq!(seen["scripts"], 0);
    assert_eq!(seen["errors"], Value::Array(vec![]));
    assert_eq!(seen["requests"], Value::Array(vec![]));
    let text = seen["text"].as_str().unwrap();
    assert!(
        text.contains("<script>alert('x')</script> & \"friends\""),
        "{text}"
    );
    assert!(
        seen["title"]
            .as_str()
            .unwrap()
            .starts_with("Tiny <b>shop</b>")
    );
    let charts = seen["charts"].as_array().unwrap();
    let sentence = |id: &str| {
        charts
            .iter()
            .find(|c| c["id"] == id)
            .and_then(|c| c["sentence"].as_str())
            .map(str::to_string)
    };
    for id in [
        "kpis-shares",
        "kpis-avg-check",
        "kpis-checks",
        "lifecycle-flows",
    ] {
        assert!(sentence(id).is_some(), "{id} drew a chart over no data");
    }
    // The other partner's name is text too, in the CSV as in the page.
    let mut args = base.to_vec();
    args[6] = "Kava \"Best\" & Co";
    args.extend(["--format", "csv"]);
    let csv = ok(&args);
    assert!(
        csv.contains("\"customers of Kava \"\"Best\"\" & Co\""),
        "{csv}"
    );
}

#[test]
fn a_report_never_replaces_an_input_and_refuses_unknown_types() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    tiny_project(d);
    let project = d.display().to_string();
    let tx = d.join("tx.csv");
    let before = std::fs::read(&tx).unwrap();
    let o = segql(&[
        "report",
        "--project",
        &project,
        "--format",
        "html",
        "--output",
        tx.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert_eq!(std::fs::read(&tx).unwrap(), before);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--output"), "{err}");
    let o = segql(&[
        "report",
        "--project",
        &project,
        "--output",
        d.join("r.pdf").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("name the file .html or .csv"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!d.join("r.pdf").exists());
    // An unknown segment or partner is an error; nothing is written.
    let o = segql(&[
        "report",
        "--project",
        &project,
        "--segment",
        "nope",
        "--output",
        d.join("r.html").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("nope"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!d.join("r.html").exists());
    let o = segql(&[
        "report",
        "--project",
        &project,
        "--partner",
        "Nope",
        "--output",
        d.join("r.html").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(!d.join("r.html").exists());
}

#[test]
fn the_repl_writes_the_report_of_its_segments() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let lifecycle = crate::common::example_dir().join("segments/lifecycle.seg");
    let lifecycle = lifecycle.to_str().unwrap();
    let (out, err, success) = crate::repl::repl_in(
        &crate::common::example_dir(),
        &[lifecycle],
        ":report r.csv 2026-05-01\n:report r.pdf\n:quit\n",
        d,
    );
    assert!(success, "{err}");
    assert!(out.contains("wrote r.csv"), "{out}");
    assert!(out.contains("usage: :report"), "{out}");
    let project = example();
    let cli = ok(&[
        "report",
        lifecycle,
        "--project",
        &project,
        "--from",
        "2026-05-01",
        "--format",
        "csv",
    ]);
    assert_eq!(std::fs::read_to_string(d.join("r.csv")).unwrap(), cli);
}

#[test]
fn a_partner_report_shows_the_partners_figures() {
    let project = example();
    let csv = ok(&report_args(
        &project,
        &["--partner", "OKKO", "--format", "csv"],
    ));
    let numbers = report_numbers(&csv);
    let get = |chart: &str, row: &str, col: &str| {
        numbers
            .get(&(chart.to_string(), row.to_string(), col.to_string()))
            .cloned()
            .unwrap_or_else(|| panic!("no {chart} / {row} / {col}"))
    };
    // The partner's customers, and each segment's among them, as `segql run --count` says.
    for (row, expr) in [
        (
            "customers of OKKO",
            "frequency at \"OKKO\" >= 1".to_string(),
        ),
        (
            "at_risk",
            "at_risk and frequency at \"OKKO\" >= 1".to_string(),
        ),
    ] {
        let lifecycle = format!("{project}/segments/lifecycle.seg");
        let count = ok(&[
            "run",
            &lifecycle,
            "--project",
            &project,
            "--as-of",
            "2026-10-31",
            "-e",
            &expr,
            "--count",
        ]);
        assert_eq!(
            get("segments-customers", row, "customers"),
            count.trim(),
            "{row}"
        );
    }
    // Lifecycle at the partner: `segql transitions --partner`.
    let pairs = rows(&ok(&[
        "transitions",
        "--project",
        &project,
        "--by",
        "lifecycle",
        "--from",
        "2025-11-01",
        "--to",
        "2026-10-31",
        "--partner",
        "OKKO",
        "--format",
        "csv",
    ]));
    assert!(!pairs.is_empty());
    for p in &pairs {
        let row = format!("{} \u{2192} {}", p["from"], p["to"]);
        assert_eq!(
            get("lifecycle-transitions", &row, "customers"),
            p["customers"]
        );
    }
    // The RFM grid of the partner's purchases: `segql rfm --partner`, whose customers are
    // those with a purchase at the partner in the RFM window (`segql run --count`).
    let rfm = rows(&ok(&[
        "rfm",
        "--project",
        &project,
        "--as-of",
        "2026-10-31",
        "--partner",
        "OKKO",
        "--format",
        "csv",
    ]));
    let mut scored = 0;
    for r in rfm.iter().filter(|r| r["part"] == "cell") {
        let cell = format!("R{} F{}", r["r"], r["f"]);
        assert_eq!(
            get("rfm-grid", &cell, "customers"),
            r["customers"],
            "{cell}"
        );
        scored += num(&r["customers"]) as i64;
    }
    let active = ok(&[
        "run",
        "--project",
        &project,
        "--as-of",
        "2026-10-31",
        "-e",
        "frequency at \"OKKO\" within 365d >= 1",
        "--count",
    ]);
    assert_eq!(scored.to_string(), active.trim());
    // The campaign at the partner: OKKO's line of `segql measure --by partner`.
    let measured = rows(&ok(&[
        "measure",
        "autumn_bonus",
        "--project",
        &project,
        "--as-of",
        "2026-10-31",
        "--by",
        "partner",
        "--format",
        "csv",
    ]));
    let m = measured.iter().find(|r| r["partner"] == "OKKO").unwrap();
    let row = format!("snapshot {}", m["snapshot"]);
    let pts = |k: &str| (num(&m[k]) * 10000.0).round() / 100.0;
    assert_eq!(
        num(&get("campaign-0-rates", &row, "test response rate, %")),
        pts("test_response_rate")
    );
    assert_eq!(
        num(&get("campaign-0-uplift", &row, "uplift, points")),
        pts("uplift")
    );
    // KPIs, inflow and churn: the partner's rows of `segql kpis --by partner`.
    let kpis = rows(&ok(&[
        "kpis",
        "--project",
        &project,
        "--every",
        "month",
        "--from",
        "2025-11-01",
        "--to",
        "2026-10-31",
        "--by",
        "partner",
        "--format",
        "csv",
    ]));
    let okko: Vec<_> = kpis.iter().filter(|r| r["partner"] == "OKKO").collect();
    assert_eq!(okko.len(), 12);
    for r in okko {
        let p = &r["period"];
        assert_eq!(
            num(&get("kpis-shares", p, "active share")),
            num(&r["active_share"])
        );
        assert_eq!(num(&get("lifecycle-flows", p, "inflow")), num(&r["inflow"]));
        assert_eq!(num(&get("lifecycle-flows", p, "churn")), num(&r["churn"]));
    }
}
