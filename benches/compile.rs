//! Compile time of a 20-condition segment: parse, resolve and plan (to a DataFusion logical
//! plan), and the same followed by DataFusion's optimizer. Schemas only: no data is read.
//!
//! ```sh
//! cargo bench --profile dev --bench compile
//! ```

use criterion::{Criterion, criterion_group, criterion_main};
use segql_compiler::{Program, lower_segment, resolve_expr};
use segql_runtime::{Engine, EngineOptions, Project};
use std::hint::black_box;
use std::path::Path;

/// Twenty conditions: windows, partner scope, `bought`, attributes, lifecycle, RFM, contacts.
const SEGMENT: &str = r#"
    recency < 90d and frequency >= 2 and frequency within 90d >= 1
    and monetary within 365d > 500 and avg_check within 1y between 50 and 5000
    and tenure >= 60d and items within 90d >= 2
    and bought category "Coffee" within 30d
    and bought partner ("OKKO", "Silpo") at least 2 times within 90d
    and not bought partner "ALLO" within 90d
    and spend on category "Dairy" within 90d > 10
    and recency at "OKKO" < 60d and frequency at "Aroma Kava" within 90d >= 1
    and lifecycle in (active, at_risk) and city in ("Kyiv", "Lviv", "Odesa")
    and gender = "f" and sms_opt_in = true
    and rfm.r >= 2 and not contacted(sms, 14d) and contacts within 30d < 4
"#;

fn compile(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/coalition");
    let engine = rt.block_on(async {
        let project = Project::discover(Some(&dir)).unwrap();
        let options = EngineOptions {
            as_of: chrono::NaiveDate::from_ymd_opt(2026, 10, 31),
            ..EngineOptions::default()
        };
        Engine::open(project, options, false).await.unwrap()
    });
    let catalog = &engine.catalog;
    let plan = || {
        let mut program = Program::new(None);
        let (ast, src) = program.parse_inline("expression", SEGMENT).unwrap();
        let pred = resolve_expr(&program, catalog, &ast, src).unwrap();
        lower_segment(catalog, &pred).unwrap().count().unwrap()
    };
    c.bench_function("compile 20 conditions (parse + resolve + plan)", |b| {
        b.iter(|| black_box(plan()))
    });
    c.bench_function("compile 20 conditions, then DataFusion's optimizer", |b| {
        b.iter(|| black_box(engine.optimize(&plan()).unwrap()))
    });
}

criterion_group!(benches, compile);
criterion_main!(benches);
