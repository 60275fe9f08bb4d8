//! Random and mutated segment text through the whole compiler (parse, resolve, plan) on the
//! stable toolchain, in the ordinary test suite: whatever the text, an error or a plan, never
//! a panic. The `cargo fuzz` targets in `fuzz/` explore further.

use proptest::prelude::*;
use segql_compiler::{Catalog, Program, lower_definition, resolve_segment};
use std::sync::OnceLock;

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        crate::common::block_on(async {
            let project =
                segql_runtime::Project::discover(Some(&crate::common::example_dir())).unwrap();
            let as_of = chrono::NaiveDate::from_ymd_opt(2026, 10, 31).unwrap();
            let engine = segql_runtime::Engine::for_compiling(project, as_of).await;
            engine.unwrap().catalog
        })
    })
}

/// The example segment files, concatenated without their imports (which the test cannot
/// follow): the seed every mutation starts from.
fn seed() -> &'static str {
    static SEED: OnceLock<String> = OnceLock::new();
    SEED.get_or_init(|| {
        let dir = crate::common::example_dir().join("segments");
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        files
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap())
            .flat_map(|t| {
                t.lines()
                    .filter(|l| !l.starts_with("import"))
                    .map(|l| format!("{l}\n"))
                    .collect::<Vec<_>>()
            })
            .collect()
    })
}

/// Compiles every segment of `text` as a run would, without running anything.
fn compile(text: &str) -> usize {
    let catalog = catalog();
    let mut program = Program::new(Some("/nonexistent-root".as_ref()));
    if program.load_text("mutated.seg", text).is_err() {
        return 0;
    }
    let names: Vec<String> = program.names().map(str::to_string).collect();
    let mut planned = 0;
    for name in names {
        if let Ok(seg) = resolve_segment(&program, catalog, &name)
            && lower_definition(catalog, &seg)
                .and_then(|q| q.count())
                .is_ok()
        {
            planned += 1;
        }
    }
    planned
}

/// Pieces of the language, spliced into the seed.
const PIECES: &[&str] = &[
    " and ",
    " or ",
    " not ",
    "(",
    ")",
    "\"",
    " = ",
    " < ",
    " >= ",
    " in ",
    " between ",
    " within ",
    "30d",
    "0d",
    "99999999999999999999d",
    " bought ",
    " category ",
    " partner ",
    "\"Coffee\"",
    "2024-02-30",
    "-1",
    "1e400",
    "12.5",
    "recency",
    "rfm_segment",
    "lifecycle",
    "segment x = ",
    "campaign c = ",
    " holdout 150% ",
    " limit 0 by ",
    " top 0% by ",
    " at ",
    " percentile ",
    "contacted(sms, 14d)",
    " of first_purchase ",
    " of ",
    "partners",
    " stores at ",
    "\n",
    "#",
    "s0",
    "coffee_newcomers",
    "\u{0}",
    "é",
];

#[test]
fn the_unmutated_examples_all_compile() {
    // Guards the test itself: the seed must be valid, or every mutation is trivially an error.
    assert!(compile(seed()) >= 20, "{}", compile(seed()));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn mutated_example_segments_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0usize..12, 0usize..PIECES.len()), 1..6)
    ) {
        let mut text = seed().to_string();
        for (at, cut, piece) in edits {
            let mut i = at.index(text.len() + 1);
            while !text.is_char_boundary(i) {
                i -= 1;
            }
            let mut j = (i + cut).min(text.len());
            while !text.is_char_boundary(j) {
                j -= 1;
            }
            text.replace_range(i..j, PIECES[piece]);
        }
        compile(&text);
    }

    #[test]
    fn random_text_never_panics(s in "\\PC{0,300}") {
        compile(&s);
    }
}
