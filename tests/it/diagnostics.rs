//! Golden tests of rendered diagnostics: every kind of mistake, its code, span and help.

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme};
use segql_compiler::{Catalog, Program, check_all, resolve_expr};
use std::path::Path;

fn render(d: &dyn Diagnostic) -> String {
    let mut s = String::new();
    GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
        .with_width(100)
        .render_report(&mut s, d)
        .unwrap();
    s
}

pub(crate) fn example_catalog() -> Catalog {
    crate::common::block_on(async {
        let project =
            segql_runtime::Project::discover(Some(&crate::common::example_dir())).unwrap();
        let as_of = chrono::NaiveDate::from_ymd_opt(2026, 10, 31).unwrap();
        let engine = segql_runtime::Engine::for_compiling(project, as_of).await;
        engine.unwrap().catalog
    })
}

/// Compiles an inline expression against the example project and renders its error.
fn expr_error(text: &str) -> String {
    let catalog = example_catalog();
    let mut program = Program::new(None);
    let r = program
        .parse_inline("expression", text)
        .and_then(|(ast, src)| resolve_expr(&program, &catalog, &ast, src));
    match r {
        Ok(p) => panic!("expected an error for {text}, got {p:?}"),
        Err(e) => render(&e),
    }
}

/// Loads files written into a temporary directory and renders every error.
fn files_error(files: &[(&str, &str)], root: bool) -> String {
    let catalog = example_catalog();
    let dir = crate::common::fixture(files);
    let root_dir = dir.path().join("project");
    let mut program = Program::new(if root { Some(root_dir.as_path()) } else { None });
    let first = dir.path().join(files[0].0);
    let mut out = Vec::new();
    match program.load_file(&first) {
        Err(e) => out.push(render(&e)),
        Ok(()) => out.extend(check_all(&program, &catalog).iter().map(|e| render(e))),
    }
    assert!(!out.is_empty(), "expected errors for {files:?}");
    let tmp = dir.path().display().to_string();
    let tmp = std::fs::canonicalize(dir.path())
        .map(|p| p.display().to_string())
        .unwrap_or(tmp);
    out.join("\n")
        .replace(&tmp, "[TMP]")
        .replace(&dir.path().display().to_string(), "[TMP]")
}

macro_rules! expr_cases {
    ($($name:ident: $text:expr;)*) => {$(
        #[test]
        fn $name() {
            insta::assert_snapshot!(expr_error($text));
        }
    )*};
}

expr_cases! {
    too_deep: &format!("{}recency < 30d{}", "(".repeat(100), ")".repeat(100));
}

/// Every help text that shows segql code shows code that compiles: each code fragment of
/// more than one word in backticks, in the help of every case above, parses and resolves
/// against the example project (a single word, like `and` or `at_risk`, is a part, not a
/// condition; a pattern with a placeholder such as `at "PARTNER"` is a shape).
/// Every golden rendered error, with where it is kept: the snapshots of this file,
/// `bad_data.rs` and `cli.rs`, and the `error` sections of the corpus (`tests/cases/`).
fn rendered_errors() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/snapshots");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "snap"))
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    out.extend(crate::corpus::errors());
    out
}

#[test]
fn every_help_suggestion_compiles() {
    let catalog = example_catalog();
    let mut checked = 0;
    for (name, text) in rendered_errors() {
        // Other files' snapshots hold messages about data and paths, not segql code.
        if name.ends_with(".snap") && !name.contains("it__diagnostics__") {
            continue;
        }
        // The help, with miette's line wrapping undone.
        let Some(i) = text.find("help: ") else {
            continue;
        };
        let help = text[i + 6..]
            .lines()
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" ");
        for (k, fragment) in help.split('`').enumerate() {
            // Patterns with placeholders (`at "PARTNER"`, `= "..."`) show a shape, not code.
            let placeholder = fragment
                .split(|c: char| !c.is_ascii_alphabetic())
                .any(|w| w.len() >= 3 && w.chars().all(|c| c.is_ascii_uppercase()));
            if k % 2 == 0 || !fragment.contains(' ') || fragment.contains("...") || placeholder {
                continue;
            }
            // A whole condition, or a segment definition's body.
            let condition = fragment
                .strip_prefix("segment ")
                .and_then(|d| d.split_once(" = ").map(|(_, b)| b))
                .unwrap_or(fragment);
            let mut program = Program::new(None);
            let r = program
                .parse_inline("help", condition)
                .and_then(|(ast, src)| resolve_expr(&program, &catalog, &ast, src));
            assert!(r.is_ok(), "{name}: `{fragment}` does not compile: {r:?}");
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} suggestions checked");
}

#[test]
fn segment_cycle() {
    insta::assert_snapshot!(files_error(
        &[(
            "a.seg",
            "segment a = b and recency < 30d\nsegment b = frequency > 1 or a\n"
        )],
        false
    ));
}

#[test]
fn import_cycle() {
    insta::assert_snapshot!(files_error(
        &[
            ("a.seg", "import \"b.seg\"\nsegment a = recency < 30d\n"),
            ("b.seg", "import \"a.seg\"\nsegment b = frequency > 1\n"),
        ],
        false
    ));
}

#[test]
fn import_missing_file() {
    insta::assert_snapshot!(files_error(
        &[("a.seg", "import \"nope.seg\"\nsegment a = recency < 30d\n")],
        false
    ));
}

#[test]
fn import_outside_root() {
    insta::assert_snapshot!(files_error(
        &[(
            "project/a.seg",
            "import \"../../etc/passwd\"\nsegment a = recency < 30d\n"
        )],
        true
    ));
}

#[test]
fn duplicate_segment() {
    insta::assert_snapshot!(files_error(
        &[(
            "a.seg",
            "segment a = recency < 30d\n\nsegment a = frequency > 1\n"
        )],
        false
    ));
}

#[test]
fn campaign_mistakes() {
    insta::assert_snapshot!(files_error(
        &[(
            "a.seg",
            "segment s = recency < 30d\ncampaign c1 = s holdout 150%\ncampaign c2 = s limit 0\ncampaign c3 = s limit 10 by city\n",
        )],
        false
    ));
}

#[test]
fn keyword_as_segment_name() {
    insta::assert_snapshot!(files_error(
        &[("a.seg", "segment and = recency < 30d\n")],
        false
    ));
}

#[test]
fn unknown_segment_in_file_suggests() {
    insta::assert_snapshot!(files_error(
        &[(
            "a.seg",
            "segment lapsed = recency > 90d\nsegment b = lapsd and frequency > 1\n"
        )],
        false
    ));
}

/// A catalog of transactions with only the required columns and no other table.
fn bare_catalog() -> Catalog {
    let dir = tempfile::tempdir().unwrap();
    let tx = dir.path().join("tx.csv");
    std::fs::write(&tx, "customer_id,ts,amount\nc1,2024-01-01,10.5\n").unwrap();
    crate::common::block_on(async {
        let p = segql_runtime::Project::from_paths(tx.to_str().unwrap(), None, None, None);
        crate::common::open(p, chrono::NaiveDate::from_ymd_opt(2024, 6, 30).unwrap())
            .await
            .catalog
            .clone()
    })
}

#[test]
fn contacted_without_communications() {
    let catalog = bare_catalog();
    let mut program = Program::new(None);
    let (ast, src) = program
        .parse_inline("expression", "recency < 30d and not contacted(sms, 14d)")
        .unwrap();
    let e = resolve_expr(&program, &catalog, &ast, src).unwrap_err();
    insta::assert_snapshot!(render(&e));
}

#[test]
fn missing_column() {
    let catalog = bare_catalog();
    let mut program = Program::new(None);
    let (ast, src) = program
        .parse_inline("expression", "bought category \"Coffee\" within 30d")
        .unwrap();
    let e = resolve_expr(&program, &catalog, &ast, src).unwrap_err();
    insta::assert_snapshot!(render(&e));
}

/// A distinct count of a column the data does not have: the same diagnostic as `bought`'s.
#[test]
fn distinct_count_without_its_column() {
    let catalog = bare_catalog();
    let mut program = Program::new(None);
    let (ast, src) = program
        .parse_inline(
            "expression",
            "frequency >= 2 and categories within 90d >= 3",
        )
        .unwrap();
    let e = resolve_expr(&program, &catalog, &ast, src).unwrap_err();
    insta::assert_snapshot!(render(&e));
}

/// Runs `f` on a thread with the main thread's usual 8 MiB stack: 64 levels of references
/// take more than a test thread's 2 MiB in a debug build.
fn with_main_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

#[test]
fn too_complex_references_nest_too_deeply() {
    let mut chain = String::from("segment s0 = recency < 30d\n");
    for i in 1..=64 {
        chain.push_str(&format!("segment s{i} = not s{}\n", i - 1));
    }
    let out = with_main_stack(move || files_error(&[("a.seg", &chain)], false));
    insta::assert_snapshot!(out);
}

#[test]
fn too_complex_expands_to_too_many_conditions() {
    let mut doubling = String::from("segment s0 = recency < 30d\n");
    for i in 1..=14 {
        doubling.push_str(&format!("segment s{i} = s{0} and s{0}\n", i - 1));
    }
    insta::assert_snapshot!(files_error(&[("a.seg", &doubling)], false));
}

/// A segment asked for by name (`run --segment NAME`) that no file defines.
#[test]
fn segment_not_found() {
    let catalog = example_catalog();
    let mut program = Program::new(None);
    program
        .load_text(
            "a.seg",
            "segment lapsed = recency > 90d\nsegment loyal = frequency > 5\n",
        )
        .unwrap();
    let e = segql_compiler::resolve_segment(&program, &catalog, "lapsd").unwrap_err();
    let mut out = render(&e);
    let e = segql_compiler::resolve_segment(&program, &catalog, "vip").unwrap_err();
    out.push('\n');
    out.push_str(&render(&e));
    insta::assert_snapshot!(out);
}

/// DataFusion refusing a plan is a bug of segql, never a mistake in the segment text, so no
/// input produces it: the message itself is what is checked here.
#[test]
fn plan_refused_by_datafusion() {
    let e = segql_compiler::CompileError::from(
        segql_runtime::datafusion::error::DataFusionError::Plan(
            "Projections require unique expression names".into(),
        ),
    );
    insta::assert_snapshot!(render(&e));
}

/// A closed standard output (`segql run ... | head`) ends the command quietly (see
/// `bad_data::a_closed_standard_output_ends_the_run_quietly`); the message is never shown, but
/// is checked here like every other.
#[test]
fn output_closed() {
    insta::assert_snapshot!(render(&segql_runtime::RuntimeError::OutputClosed));
}

/// Every `code(segql::...)` of the source files, with the file it is in.
fn diagnostic_codes() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["grammar/src", "compiler/src", "runtime/src", "src"] {
        walk(&root.join(dir), &mut files);
    }
    files.sort();
    let mut codes = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, _) in text.match_indices("code(segql::") {
            let rest = &text[i + 5..];
            let end = rest.find([')', ',']).unwrap();
            let shown = f.strip_prefix(root).unwrap_or(&f).display().to_string();
            codes.push((rest[..end].trim().to_string(), shown));
        }
    }
    codes
}

/// Every diagnostic kind has its own stable code.
#[test]
fn diagnostic_codes_are_unique() {
    let codes: Vec<String> = diagnostic_codes().into_iter().map(|(c, _)| c).collect();
    assert!(codes.len() > 20, "found {} codes", codes.len());
    let mut sorted = codes.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), codes.len(), "duplicate codes in {codes:?}");
}

/// Every diagnostic code has a golden test of its rendered message: it appears in at least one
/// snapshot (of this file, `bad_data.rs` or `cli.rs`). A new diagnostic kind needs a test that
/// produces it and snapshots what the user sees.
#[test]
fn every_diagnostic_code_has_a_rendered_snapshot() {
    let snapshots: Vec<String> = rendered_errors().into_iter().map(|(_, t)| t).collect();
    // The whole code: `segql::io` is not found in `segql::io::closed`.
    let rendered = |code: &str| {
        snapshots.iter().any(|s| {
            s.match_indices(code).any(|(i, _)| {
                !s[i + code.len()..]
                    .starts_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':')
            })
        })
    };
    let codes = diagnostic_codes();
    assert!(codes.len() > 20, "found {} codes", codes.len());
    let missing: Vec<String> = codes
        .iter()
        .filter(|(code, _)| !rendered(code))
        .map(|(code, file)| format!("{code} ({file})"))
        .collect();
    assert!(
        missing.is_empty(),
        "diagnostic codes without a snapshot of their rendered message in tests/it/snapshots or tests/cases: {missing:#?}"
    );
}
