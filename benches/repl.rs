//! REPL speed: builds the cached profile over a generated data set and times repeated
//! interactive queries on it. Prints figures; asserts nothing.
//!
//! ```sh
//! cargo bench --profile dev --bench repl -- 1000000   # customers (default 1,000,000)
//! ```
//! The data set is generated once into `target/bench-data/` and reused.

use segql::repl::Session;
use segql_generator::{DemoOptions, generate};
use segql_runtime::{EngineOptions, Project};
use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let customers: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    let dir = target.join("bench-data").join(format!("demo-{customers}"));
    if !dir.join("segql.toml").exists() {
        let t = Instant::now();
        let s = generate(&DemoOptions {
            customers,
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
        let mut session = Session::open(
            project,
            EngineOptions::default(),
            &[],
            None,
            &mut std::io::sink(),
        )
        .await
        .unwrap();
        println!(
            "profile of {customers} customers built in {:.0} ms (includes opening the data)",
            t.elapsed().as_secs_f64() * 1000.0
        );
        println!(
            "{:<70} {:>10} {:>10} {:>8}",
            "query", "median ms", "min ms", "cached"
        );
        for q in [
            "recency < 30d and frequency >= 3",
            "lifecycle in (at_risk, churned) and city = \"Kyiv\" and monetary within 365d > 1000",
            "frequency within 90d >= 5 and not (gender = \"m\") and avg_check between 100 and 2000",
            "bought category \"Coffee\" at least 2 times within 30d",
        ] {
            let mut times = Vec::new();
            let mut cached = false;
            for _ in 0..9 {
                let a = session.answer(q).await.unwrap();
                cached = a.from_cache;
                times.push(a.elapsed.as_secs_f64() * 1000.0);
            }
            times.sort_by(|a, b| a.partial_cmp(b).unwrap());
            println!(
                "{:<70} {:>10.1} {:>10.1} {:>8}",
                &q[..q.len().min(70)],
                times[times.len() / 2],
                times[0],
                cached
            );
        }
    });
}
