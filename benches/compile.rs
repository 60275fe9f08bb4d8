//! Compile time of a 20-condition segment: parse, resolve and plan (to a DataFusion logical
//! plan), and the same followed by DataFusion's optimizer. Schemas only: no data is read.
//!
//! ```sh
//! cargo bench --profile dev --bench compile
//! ```

use criterion::{Criterion, criterion_group, criterion_main};
use segql_compiler::{Program, lower_segment, resolve_expr};
use segql_runtime::{Engine, Project};
use std::hint::black_box;
use std::path::Path;

/// Twenty conditions: windows, partner scope, `bought`, attributes, lifecycle, RFM, contacts
/// (the same text as the release measurement `bench/src/compile_time.rs`).
const SEGMENT: &str = include_str!("../bench/compile-20-conditions.expr");

fn compile(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/coalition");
    let engine = rt.block_on(async {
        let project = Project::discover(Some(&dir)).unwrap();
        let as_of = chrono::NaiveDate::from_ymd_opt(2026, 10, 31).unwrap();
        Engine::for_compiling(project, as_of).await.unwrap()
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
