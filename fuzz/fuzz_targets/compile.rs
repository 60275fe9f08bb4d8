//! Arbitrary text through parse, resolve and plan, against the example project's schema
//! (no data is read). Errors are fine; panics, hangs and stack overflows are not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use segql_compiler::{Catalog, Program, lower_definition, resolve_segment};
use std::sync::OnceLock;

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/coalition");
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let project = segql_runtime::Project::discover(Some(dir.as_ref())).unwrap();
            let as_of = chrono::NaiveDate::from_ymd_opt(2026, 10, 31).unwrap();
            let engine = segql_runtime::Engine::for_compiling(project, as_of).await;
            engine.unwrap().catalog
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let catalog = catalog();
    // No imports can be followed from here: the program is confined to an empty root.
    let mut program = Program::new(Some("/nonexistent-fuzz-root".as_ref()));
    if program.load_text("fuzz.seg", text).is_err() {
        return;
    }
    let names: Vec<String> = program.names().map(str::to_string).collect();
    for name in names {
        if let Ok(seg) = resolve_segment(&program, catalog, &name) {
            let _ = lower_definition(catalog, &seg).and_then(|q| q.count());
        }
    }
});
