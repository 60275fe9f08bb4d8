//! REPL speed: opens a session over a generated data set (the data read into memory and the
//! customer cache built) and times repeated interactive queries of each kind on it: answered
//! by the customer cache (profile-only), and computed from the warm copy (`bought`, `spend
//! on`, windows the cache does not hold, ranks, contacts). Prints figures; asserts nothing.
//!
//! ```sh
//! cargo bench --profile dev --bench repl -- 1000000             # customers (default 1,000,000)
//! cargo bench --profile dev --bench repl -- 3500000 --days 120  # a short history
//! cargo bench --profile dev --bench repl -- 1000000 --budget 0  # nothing in memory: scans
//! cargo bench --profile dev --bench repl -- --dir DIR            # a project generated elsewhere
//! cargo bench --profile dev --bench repl -- 100000 --only OKKO --runs 3 --no-physical-rule collapse_runs
//! ```
//! The data set is generated once into `target/bench-data/` and reused.

use segql::repl::Session;
use segql_generator::{DemoOptions, generate};
use segql_runtime::cache::warm::parse_bytes;
use segql_runtime::{EngineOptions, Project};
use std::path::PathBuf;
use std::time::Instant;

/// (kind, condition).
const QUERIES: &[(&str, &str)] = &[
    ("profile", "recency < 30d and frequency >= 3"),
    (
        "profile",
        "lifecycle in (at_risk, churned) and city = \"Kyiv\" and monetary within 365d > 1000",
    ),
    (
        "profile",
        "frequency within 90d >= 5 and not (gender = \"m\") and avg_check between 100 and 2000",
    ),
    (
        "bought",
        "bought category \"Coffee\" at least 2 times within 30d",
    ),
    ("bought", "bought partner \"OKKO\" within 7d"),
    (
        "bought",
        "bought category (\"Phones\", \"Laptops\") within 1y",
    ),
    ("bought", "bought category \"Coffee\""),
    ("bought", "not bought partner \"ALLO\" within 90d"),
    ("spend on", "spend on category \"Coffee\" within 90d > 500"),
    ("spend on", "spend on partner \"ALLO\" within 1y > 20000"),
    ("spend on", "not spend on partner \"ALLO\" within 1y > 100"),
    ("window", "frequency within 14d >= 2"),
    ("window", "monetary within 60d > 3000"),
    ("window", "frequency at \"OKKO\" within 90d >= 3"),
    ("window", "lifecycle at \"OKKO\" = at_risk"),
    ("other", "rfm_segment = champions"),
    ("other", "not contacted(sms, 14d) and recency < 30d"),
];

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Peak resident memory of this process (Linux), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let customers: usize = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let days: i64 = flag("--days").and_then(|d| d.parse().ok()).unwrap_or(730);
    let budget = flag("--budget").map(|b| parse_bytes(&b).expect("a size"));
    let runs: usize = flag("--runs").and_then(|d| d.parse().ok()).unwrap_or(9);
    let only: Option<String> = flag("--only");
    let disabled_rules: Vec<String> = flag("--no-physical-rule")
        .map(|r| r.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    let name = if days == 730 {
        format!("demo-{customers}")
    } else {
        format!("demo-{customers}-{days}d")
    };
    // `--dir PATH`: a project directory of data generated elsewhere (e.g. `segql demo
    // --customers 3500000 --lines-per-customer 3` for many customers with short histories).
    let dir = flag("--dir")
        .map(PathBuf::from)
        .unwrap_or_else(|| target.join("bench-data").join(name));
    if !dir.join("segql.toml").exists() {
        let t = Instant::now();
        let s = generate(&DemoOptions {
            customers,
            days,
            out: dir.clone(),
            ..DemoOptions::default()
        })
        .expect("demo data");
        println!(
            "generated {} customers, {} transaction lines in {:.1} s",
            s.customers,
            s.transactions,
            t.elapsed().as_secs_f64()
        );
        std::fs::write(dir.join("segql.toml"), include_str!("../bench/segql.toml")).unwrap();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let project = Project::discover(Some(&dir)).unwrap();
        let t = Instant::now();
        let mut log = Vec::new();
        let mut session = Session::open_with_budget(
            project,
            EngineOptions {
                disabled_rules,
                ..EngineOptions::default()
            },
            budget,
            &[],
            None,
            &mut log,
        )
        .await
        .unwrap();
        let startup = t.elapsed().as_secs_f64();
        print!("{}", String::from_utf8_lossy(&log));
        println!(
            "start-up over {}: {startup:.1} s (opening the data, reading it into memory, the customer cache); peak RSS {:.0} MiB",
            dir.display(),
            peak_rss_mib().unwrap_or(f64::NAN)
        );
        println!(
            "{:<9} {:<86} {:>9} {:>9}  read",
            "kind", "query", "median ms", "min ms"
        );
        let mut by_kind: Vec<(&str, Vec<f64>)> = Vec::new();
        for (kind, q) in QUERIES {
            if only.as_ref().is_some_and(|o| !q.contains(o.as_str())) {
                continue;
            }
            let mut times = Vec::new();
            let mut read = String::new();
            for _ in 0..runs {
                let a = session.answer(q).await.unwrap();
                read = a.source.describe();
                times.push(a.elapsed.as_secs_f64() * 1000.0);
            }
            let m = median(&mut times);
            println!(
                "{kind:<9} {:<86} {m:>9.1} {:>9.1}  {read}",
                &q[..q.len().min(86)],
                times[0],
            );
            match by_kind.iter_mut().find(|(k, _)| k == kind) {
                Some((_, v)) => v.push(m),
                None => by_kind.push((kind, vec![m])),
            }
        }
        println!("median of the medians by kind:");
        for (kind, mut v) in by_kind {
            println!("  {kind:<9} {:>9.1} ms ({} queries)", median(&mut v), v.len());
        }
        println!(
            "peak RSS after the queries {:.0} MiB",
            peak_rss_mib().unwrap_or(f64::NAN)
        );
    });
}
