//! Golden tests of rendered diagnostics: every kind of mistake, its code, span and help.

#![allow(clippy::result_large_err)]

mod common;

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

fn example_catalog() -> Catalog {
    common::block_on(async {
        let project = segql_runtime::Project::discover(Some(&common::example_dir())).unwrap();
        let engine = segql_runtime::Engine::open(
            project,
            segql_runtime::EngineOptions {
                as_of: chrono::NaiveDate::from_ymd_opt(2026, 10, 31),
                target_partitions: Some(1),
                memory_limit: None,
            },
            false,
        )
        .await
        .unwrap();
        engine.catalog.clone()
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
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
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
    syntax_missing_value: "recency <";
    syntax_single_quotes: "city = 'Kyiv'";
    syntax_double_equals: "city == \"Kyiv\"";
    syntax_unclosed_paren: "(recency < 30d and frequency > 2";
    syntax_missing_duration: "bought category \"Coffee\" within";
    syntax_dangling_and: "recency < 30d and";
    syntax_bought_without_value: "bought category";
    too_deep: &format!("{}recency < 30d{}", "(".repeat(100), ")".repeat(100));
    invalid_calendar_date: "first_purchase > 2024-02-30";
    unknown_metric: "recncy < 30d";
    unknown_attribute: "cty = \"Kyiv\"";
    unknown_segment: "lapsed_valuabel and frequency > 1";
    metric_without_comparison: "recency and frequency > 1";
    text_for_days: "recency > \"x\"";
    duration_for_money: "monetary > 30d";
    number_for_days: "recency < 30";
    ordering_on_text: "city > \"Kyiv\"";
    unknown_stage: "lifecycle = nwe";
    unquoted_text: "city = Kyiv";
    window_on_attribute: "city within 30d = \"Kyiv\"";
    at_least_zero: "bought category \"Coffee\" at least 0 times";
    date_for_number: "frequency >= 2024-01-01";
    scope_on_attribute: "city at \"OKKO\" = \"Kyiv\"";
    scope_without_value: "recency at < 14d";
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
    common::block_on(async {
        let p = segql_runtime::Project::from_paths(tx.to_str().unwrap(), None, None, None);
        common::open(p, chrono::NaiveDate::from_ymd_opt(2024, 6, 30).unwrap())
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

/// Every diagnostic kind has its own stable code.
#[test]
fn diagnostic_codes_are_unique() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut codes = Vec::new();
    for f in [
        "grammar/src/error.rs",
        "compiler/src/error.rs",
        "runtime/src/error.rs",
    ] {
        let text = std::fs::read_to_string(root.join(f)).unwrap();
        for (i, _) in text.match_indices("code(segql::") {
            let rest = &text[i + 5..];
            let end = rest.find([')', ',']).unwrap();
            codes.push(rest[..end].to_string());
        }
    }
    assert!(codes.len() > 20, "found {} codes", codes.len());
    let mut sorted = codes.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), codes.len(), "duplicate codes in {codes:?}");
}
