//! Compile time of the 20-condition segment `bench/compile-20-conditions.expr` in the release
//! profile: parse, resolve and plan to a DataFusion logical plan, then the same followed by
//! DataFusion's optimizer. Schemas only: no data is read.
//!
//! ```sh
//! compile-time [PROJECT_DIR] [ITERATIONS]
//! ```
//! Prints the median and the 10th/90th percentiles of `ITERATIONS` (default 2000) timed runs
//! after as many warm-up runs. The criterion bench `benches/compile.rs` measures the same in
//! the dev profile; this binary exists because `cargo bench --release` would rebuild DataFusion
//! with the dev-dependencies' features.

use segql_compiler::{Program, lower_segment, resolve_expr};
use segql_runtime::{Engine, Project};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const SEGMENT: &str = include_str!("../compile-20-conditions.expr");

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "examples/coalition".into()));
    let iterations: usize = match args.next().map(|n| n.parse()) {
        None => 2000,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("usage: compile-time [PROJECT_DIR] [ITERATIONS]");
            std::process::exit(2);
        }
    };
    let engine = match open(dir).await {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let catalog = &engine.catalog;
    let plan = || {
        let mut program = Program::new(None);
        let (ast, src) = program
            .parse_inline("expression", SEGMENT)
            .expect("the segment parses");
        let pred = resolve_expr(&program, catalog, &ast, src).expect("the segment resolves");
        lower_segment(catalog, &pred)
            .and_then(|s| s.count())
            .expect("the segment plans")
    };
    let mut program = Program::new(None);
    let (ast, src) = program.parse_inline("expression", SEGMENT).unwrap();
    let pred = resolve_expr(&program, catalog, &ast, src).unwrap();
    let parse = measure(iterations, || {
        black_box(
            Program::new(None)
                .parse_inline("expression", SEGMENT)
                .unwrap(),
        );
    });
    let resolve = measure(iterations, || {
        black_box(resolve_expr(&program, catalog, &ast, src).unwrap());
    });
    let lower = measure(iterations, || {
        black_box(
            lower_segment(catalog, &pred)
                .and_then(|s| s.count())
                .unwrap(),
        );
    });
    println!("parse\t{parse}\nresolve\t{resolve}\nlower\t{lower}");
    let plan_only = measure(iterations, || {
        black_box(plan());
    });
    let optimized = measure(iterations, || {
        black_box(engine.optimize(&plan()).expect("the plan optimizes"));
    });
    println!("compile 20 conditions (parse + resolve + plan)\t{plan_only}");
    println!("compile 20 conditions, then DataFusion's optimizer\t{optimized}");
}

async fn open(dir: PathBuf) -> Result<Engine, String> {
    let project = Project::discover(Some(&dir)).map_err(|e| e.to_string())?;
    let as_of = chrono::NaiveDate::from_ymd_opt(2026, 10, 31).expect("a date");
    Engine::for_compiling(project, as_of)
        .await
        .map_err(|e| e.to_string())
}

/// Median and 10th/90th percentiles of `n` timed calls after `n` warm-up calls.
struct Figures {
    p10: Duration,
    median: Duration,
    p90: Duration,
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        write!(
            f,
            "median {:.3} ms (p10 {:.3}, p90 {:.3})",
            ms(self.median),
            ms(self.p10),
            ms(self.p90)
        )
    }
}

fn measure(n: usize, mut f: impl FnMut()) -> Figures {
    for _ in 0..n {
        f();
    }
    let mut times: Vec<Duration> = (0..n)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    let at = |q: f64| times[((n - 1) as f64 * q).round() as usize];
    Figures {
        p10: at(0.1),
        median: at(0.5),
        p90: at(0.9),
    }
}
