//! `segql sql`: the queries it writes, run on real engines (DuckDB, PostgreSQL, DataFusion)
//! over the same data, answer as `segql run` does: the same members, groups and values.
//! What a dialect cannot express is refused, and the refusals are golden.

use crate::engines::{self, Rows, Tables};
use segql_compiler::ir::Segment;
use segql_runtime::datafusion::arrow::array::RecordBatch;
use segql_runtime::datafusion::arrow::util::display::array_value_to_string;
use segql_runtime::sql::{Dialect, to_sql};
use segql_runtime::{Engine, EngineOptions, Project, RuntimeError};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

/// A result as rows of text: header first, values as `segql run` prints them.
fn rows_of(batches: &[RecordBatch]) -> Rows {
    let mut rows = Vec::new();
    if let Some(b) = batches.first() {
        rows.push(
            b.schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect(),
        );
    }
    for b in batches {
        for i in 0..b.num_rows() {
            rows.push(
                b.columns()
                    .iter()
                    .map(|c| {
                        if c.is_null(i) {
                            String::new()
                        } else {
                            array_value_to_string(c, i).unwrap()
                        }
                    })
                    .collect(),
            );
        }
    }
    rows
}

/// A value as compared across engines: numbers without trailing zeros, booleans as
/// `true`/`false` (PostgreSQL prints `t`/`f`).
fn normal(v: &str) -> String {
    match v {
        "t" | "true" => return "true".into(),
        "f" | "false" => return "false".into(),
        _ => {}
    }
    let numeric = !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == '-')
        && v.chars().any(|c| c.is_ascii_digit());
    if numeric && v.contains('.') {
        let t = v.trim_end_matches('0').trim_end_matches('.');
        return if t == "-0" { "0".into() } else { t.into() };
    }
    v.to_string()
}

/// `got` against `want`, rows in order (both sorted by customer id; an engine may order
/// equal keys otherwise, so rows are compared as sorted lists), headers ignored (an engine
/// may spell a name otherwise; the columns are in the same order).
fn compare(what: &str, want: &Rows, got: &Rows) -> Result<(), String> {
    let norm = |rows: &Rows| -> Vec<Vec<String>> {
        let mut r: Vec<Vec<String>> = rows
            .iter()
            .skip(1)
            .map(|r| r.iter().map(|v| normal(v)).collect())
            .collect();
        r.sort();
        r
    };
    let (w, g) = (norm(want), norm(got));
    if want.first().map(Vec::len) != got.first().map(Vec::len) && !w.is_empty() {
        return Err(format!(
            "{what}: columns differ: want {:?}, got {:?}",
            want.first(),
            got.first()
        ));
    }
    if w != g {
        let missing: Vec<_> = w.iter().filter(|r| !g.contains(r)).take(5).collect();
        let extra: Vec<_> = g.iter().filter(|r| !w.contains(r)).take(5).collect();
        return Err(format!(
            "{what}: {} rows wanted, {} got; missing {missing:?}; extra {extra:?}",
            w.len(),
            g.len()
        ));
    }
    Ok(())
}

/// The example project's tables, as its `segql.toml` reads them.
fn example_tables() -> Tables {
    let data = crate::common::example_dir().join("data");
    let mut parquet: Vec<PathBuf> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    parquet.sort();
    let mut t = Tables::new();
    t.insert("transactions".into(), ("parquet", parquet));
    t.insert(
        "customers".into(),
        ("csv", vec![data.join("customers.csv")]),
    );
    t.insert(
        "communications".into(),
        ("csv", vec![data.join("communications.csv")]),
    );
    t
}

/// The example project (portable plans) and every segment and campaign of its files.
async fn example() -> (Engine, Vec<Segment>) {
    let dir = crate::common::example_dir();
    let project = Project::discover(Some(&dir)).unwrap();
    let options = EngineOptions {
        portable: true,
        target_partitions: Some(2),
        ..EngineOptions::default()
    };
    let mut engine = Engine::open(project, options, true).await.unwrap();
    let mut program = segql_compiler::Program::new(Some(&dir));
    // Every segment file of the example, those imported by others first.
    let files = [
        "lifecycle",
        "campaigns",
        "value",
        "partners",
        "offers",
        "clusters",
        "scores",
        "lookalikes",
    ];
    for f in files {
        program
            .load_file(&dir.join(format!("segments/{f}.seg")))
            .unwrap();
    }
    let names: Vec<String> = program
        .segments
        .iter()
        .filter(|s| s.def.params.is_empty())
        .map(|s| s.def.name.name.clone())
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    let program = &program;
    let segments = engine
        .compile(|c| {
            names
                .iter()
                .filter(|n| seen.insert(n.to_string()))
                .map(|n| segql_compiler::resolve_segment(program, c, n).unwrap())
                .collect::<Vec<_>>()
        })
        .await
        .unwrap();
    (engine, segments)
}

/// A query with the holdout function's definition first when it needs it.
fn with_preamble(dialect: Dialect, written: &segql_runtime::sql::Written) -> String {
    match segql_runtime::sql::holdout::definition(dialect) {
        Some(def) if written.holdout => format!("{def}\n{}", written.sql),
        _ => written.sql.clone(),
    }
}

/// Runs `sql` in DataFusion over `tables` registered from their files, with segql's function.
async fn datafusion(tables: &Tables, sql: &str) -> Result<Rows, String> {
    use segql_runtime::datafusion::prelude::{CsvReadOptions, ParquetReadOptions, SessionContext};
    let ctx = SessionContext::new();
    for f in segql_compiler::udf::all() {
        ctx.register_udf(f);
    }
    for (name, (format, paths)) in tables {
        let paths: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        let df = match *format {
            "parquet" => {
                // Every column nullable, as a warehouse's: the first file's schema may
                // declare ids non-nullable where another file has none.
                let first = ctx
                    .read_parquet(paths.clone(), ParquetReadOptions::default())
                    .await
                    .map_err(|e| e.to_string())?;
                let nullable = segql_runtime::datafusion::arrow::datatypes::Schema::new(
                    first
                        .schema()
                        .fields()
                        .iter()
                        .map(|f| f.as_ref().clone().with_nullable(true))
                        .collect::<Vec<_>>(),
                );
                ctx.read_parquet(paths, ParquetReadOptions::default().schema(&nullable))
                    .await
            }
            _ => ctx.read_csv(paths, CsvReadOptions::new()).await,
        }
        .map_err(|e| e.to_string())?;
        ctx.register_table(name.as_str(), df.into_view())
            .map_err(|e| e.to_string())?;
    }
    let batches = ctx
        .sql(sql)
        .await
        .map_err(|e| e.to_string())?
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    Ok(rows_of(&batches))
}

/// Every example segment and campaign, in each dialect, on its engine: the same rows as
/// `segql run`'s plan, or a refusal (golden, with its reason).
#[test]
fn example_segments_answer_the_same_on_duckdb_postgres_and_datafusion() {
    crate::common::block_on(async {
        let (mut engine, segments) = example().await;
        let tables = example_tables();
        let pg = engines::postgres();
        pg.database("example", &tables);
        let mut refused = String::new();
        let mut golden: BTreeMap<&str, String> = BTreeMap::new();
        let mut failures = Vec::new();
        let mut checked = 0;
        for s in &segments {
            let q = engine
                .compile(|c| segql_compiler::lower_definition(c, s))
                .await
                .unwrap()
                .unwrap();
            let plan = q.sorted().unwrap();
            let want = rows_of(&engine.collect(plan.clone()).await.unwrap());
            for dialect in Dialect::ALL {
                let written = match to_sql(&plan, dialect, &BTreeMap::new()) {
                    Ok(w) => w,
                    Err(e @ RuntimeError::SqlUnsupported { .. }) => {
                        let _ = writeln!(refused, "{} ({}): {e}", s.name, dialect.name());
                        continue;
                    }
                    Err(e) => panic!("{}: {e:?}", s.name),
                };
                let sql = with_preamble(dialect, &written);
                let _ = writeln!(
                    golden.entry(dialect.name()).or_default(),
                    "-- {}\n{}\n",
                    s.name,
                    written.sql
                );
                let got = match dialect {
                    Dialect::DuckDb => engines::duckdb(&tables, &sql),
                    Dialect::Postgres => pg.query("example", &sql),
                    Dialect::DataFusion => datafusion(&tables, &sql).await,
                };
                let what = format!("{} ({})", s.name, dialect.name());
                match got {
                    Ok(got) => {
                        checked += 1;
                        if let Err(e) = compare(&what, &want, &got) {
                            failures.push(format!("{e}\n{sql}"));
                        }
                    }
                    Err(e) => failures.push(format!("{what} fails: {e}\n{sql}")),
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n\n"));
        assert!(checked > 0);
        insta::assert_snapshot!("example_refusals", refused);
        // The queries themselves, golden: a change of the plan or the unparser shows here.
        for (dialect, text) in golden {
            insta::assert_snapshot!(format!("example_sql_{dialect}"), text);
        }
    });
}

/// The example's clusters model and look-alike segments, whose features count the responses
/// to past campaigns, are refused while a snapshot is read (`example_refusals`); without the
/// snapshots (a warehouse holding none) DataFusion's SQL of them gives `segql run`'s rows.
#[test]
fn model_segments_without_snapshots_answer_the_same_in_datafusion_sql() {
    crate::common::block_on(async {
        let (mut engine, segments) = example().await;
        engine.catalog.snapshots.clear();
        let tables = example_tables();
        let mut checked = Vec::new();
        for s in &segments {
            let models = s.pred.values().iter().any(|v| {
                matches!(
                    v,
                    segql_compiler::ir::Value::Cluster(_) | segql_compiler::ir::Value::Lookalike(_)
                )
            });
            if !models {
                continue;
            }
            engine.prepare(&[&s.pred]).await.unwrap();
            let q = engine
                .compile(|c| segql_compiler::lower_definition(c, s))
                .await
                .unwrap()
                .unwrap();
            let plan = q.sorted().unwrap();
            let want = rows_of(&engine.collect(plan.clone()).await.unwrap());
            let written = to_sql(&plan, Dialect::DataFusion, &BTreeMap::new())
                .unwrap_or_else(|e| panic!("{}: {e}", s.name));
            let got = datafusion(&tables, &written.sql).await.unwrap();
            compare(&s.name, &want, &got).unwrap();
            checked.push(s.name.as_str());
        }
        assert_eq!(
            checked,
            [
                "habits_top_cooling",
                "habits_coffee_or_grocery",
                "like_lapsed_valuable"
            ]
        );
    });
}

/// The holdout function of each dialect gives segql's bucket for thousands of ids, text and
/// numbers, non-ASCII and empty ones included, and NULL for a NULL argument.
#[test]
fn the_holdout_function_gives_segqls_buckets_on_duckdb_and_postgres() {
    let campaigns = ["winback", "Осінь -20%", ""];
    let mut ids: Vec<String> = (0..1500).map(|i| i.to_string()).collect();
    ids.extend((0..500).map(|i| format!("C{i:07}")));
    ids.extend(
        [
            "",
            "ñandú",
            "Київ-7",
            "🦀",
            "a'b",
            "x\u{1f}y",
            "日本語テキスト",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let mut values = Vec::new();
    let mut want: Rows = vec![vec!["campaign".into(), "id".into(), "bucket".into()]];
    for c in campaigns {
        for id in &ids {
            values.push(format!("({}, {})", quote(c), quote(id)));
            let b = segql_compiler::udf::holdout_bucket(c, id);
            want.push(vec![c.to_string(), id.clone(), b.to_string()]);
        }
    }
    want.push(vec!["winback".into(), String::new(), String::new()]);
    let query = format!(
        "SELECT c, id, segql_holdout_bucket(c, id) AS bucket FROM (VALUES {}, ('winback', NULL)) AS t(c, id);",
        values.join(", ")
    );
    let pg = engines::postgres();
    pg.database("holdout", &Tables::new());
    for dialect in [Dialect::DuckDb, Dialect::Postgres] {
        let def = segql_runtime::sql::holdout::definition(dialect).unwrap();
        let sql = format!("{def}\n{query}");
        let got = match dialect {
            Dialect::DuckDb => engines::duckdb(&Tables::new(), &sql),
            _ => pg.query("holdout", &sql),
        }
        .unwrap_or_else(|e| panic!("{}: {e}", dialect.name()));
        assert_eq!(got.len(), want.len(), "{}", dialect.name());
        compare(dialect.name(), &want, &got).unwrap();
    }
}

/// Data sets and expressions per data set of [`random_segments_answer_the_same_everywhere`].
const RANDOM_DATA_SETS: usize = 10;
const RANDOM_EXPRESSIONS: usize = 8;

/// The property tests' random segments (and a capped campaign with a holdout) over their
/// random data, drawn with a fixed seed: each one written in every dialect answers on its
/// engine as `segql run` does, or is refused; most are written.
#[test]
fn random_segments_answer_the_same_everywhere() {
    use crate::reference;
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let pg = engines::postgres();
    let mut failures = Vec::new();
    let mut refused: BTreeMap<String, usize> = BTreeMap::new();
    let (mut written, mut total) = (0, 0);
    for case in 0..RANDOM_DATA_SETS {
        let g = reference::data_strategy()
            .new_tree(&mut runner)
            .unwrap()
            .current();
        let exprs: Vec<String> = (0..RANDOM_EXPRESSIONS)
            .map(|_| {
                reference::expr(g.customers.is_some())
                    .new_tree(&mut runner)
                    .unwrap()
                    .current()
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        reference::materialize(&g, dir.path());
        let path = |f: &str| dir.path().join(f);
        let mut tables = Tables::new();
        let tx = if g.parquet {
            ("parquet", path("transactions.parquet"))
        } else {
            ("csv", path("transactions.csv"))
        };
        tables.insert("transactions".into(), (tx.0, vec![tx.1.clone()]));
        if g.customers.is_some() {
            tables.insert("customers".into(), ("csv", vec![path("customers.csv")]));
        }
        tables.insert(
            "communications".into(),
            ("csv", vec![path("communications.csv")]),
        );
        let database = format!("random{case}");
        pg.database(&database, &tables);
        crate::common::block_on(async {
            let project = Project::from_paths(
                tx.1.to_str().unwrap(),
                g.customers
                    .as_ref()
                    .map(|_| path("customers.csv").to_str().unwrap().to_string())
                    .as_deref(),
                Some(path("communications.csv").to_str().unwrap()),
                None,
            );
            let engine = crate::common::open_portable(project, reference::as_of(), true).await;
            // Each expression as a segment, and one campaign over the first.
            let mut plans = Vec::new();
            for e in &exprs {
                let pred = crate::common::resolve(&engine.catalog, e);
                let q = segql_compiler::lower_segment(&engine.catalog, &pred).unwrap();
                plans.push((e.clone(), q.sorted().unwrap()));
            }
            let mut program = segql_compiler::Program::new(None);
            let campaign = format!(
                "campaign promo = ({}) or frequency >= 1 holdout 30% limit 12 by monetary desc",
                exprs[0]
            );
            program.load_text("promo.seg", &campaign).unwrap();
            let seg = segql_compiler::resolve_segment(&program, &engine.catalog, "promo").unwrap();
            let q = segql_compiler::lower_definition(&engine.catalog, &seg).unwrap();
            plans.push((campaign, q.sorted().unwrap()));
            let mut duck = Vec::new();
            for (text, plan) in &plans {
                let want = rows_of(&engine.collect(plan.clone()).await.unwrap());
                for dialect in Dialect::ALL {
                    total += 1;
                    let w = match to_sql(plan, dialect, &BTreeMap::new()) {
                        Ok(w) => w,
                        Err(RuntimeError::SqlUnsupported { what, .. }) => {
                            let kind = what.split(['(', '`']).next().unwrap_or("").trim();
                            *refused
                                .entry(format!("{}: {kind}", dialect.name()))
                                .or_default() += 1;
                            continue;
                        }
                        Err(e) => panic!("{text}: {e:?}"),
                    };
                    written += 1;
                    let sql = with_preamble(dialect, &w);
                    let what = format!("{text} ({}, data set {case})", dialect.name());
                    let got = match dialect {
                        Dialect::DuckDb => {
                            duck.push((what, want.clone(), sql));
                            continue;
                        }
                        Dialect::Postgres => pg.query(&database, &sql),
                        Dialect::DataFusion => datafusion(&tables, &sql).await,
                    };
                    match got {
                        Ok(got) => {
                            if let Err(e) = compare(&what, &want, &got) {
                                failures.push(format!("{e}\n{sql}"));
                            }
                        }
                        Err(e) => failures.push(format!("{what} fails: {e}\n{sql}")),
                    }
                }
            }
            let scripts: Vec<String> = duck.iter().map(|d| d.2.clone()).collect();
            for ((what, want, sql), got) in
                duck.iter()
                    .zip(engines::duckdb_many(&tables, &[], &scripts))
            {
                match got {
                    Ok(got) => {
                        if let Err(e) = compare(what, want, &got) {
                            failures.push(format!("{e}\n{sql}"));
                        }
                    }
                    Err(e) => failures.push(format!("{what} fails: {e}\n{sql}")),
                }
            }
        });
    }
    assert!(
        failures.is_empty(),
        "{} of {written} queries differ:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    eprintln!("{written} of {total} random queries written and checked; refused: {refused:?}");
    assert!(
        written * 2 > total,
        "only {written} of {total} queries written; refused: {refused:?}"
    );
}

/// `segql sql` on the example project.
fn segql_sql(args: &[&str]) -> std::process::Output {
    let dir = crate::common::example_dir();
    crate::common::segql_command()
        .current_dir(&dir)
        .arg("sql")
        .args(["--project", "."])
        .args(args)
        .output()
        .unwrap()
}

/// A campaign in each dialect, golden: the holdout function first, then the query over the
/// warehouse's tables named with `--table`.
#[test]
fn a_campaign_is_written_with_its_holdout_function_and_the_warehouses_tables() {
    for dialect in ["duckdb", "postgres", "datafusion"] {
        let o = segql_sql(&[
            "segments/offers.seg",
            "--segment",
            "winback",
            "--dialect",
            dialect,
            "--table",
            "transactions=analytics.tx",
        ]);
        assert!(o.status.success(), "{}", crate::common::stderr(&o));
        let out = crate::common::stdout(&o);
        assert!(out.contains("-- campaign winback"), "{out}");
        assert_eq!(
            out.contains("CREATE OR REPLACE"),
            dialect != "datafusion",
            "{out}"
        );
        insta::assert_snapshot!(format!("winback_{dialect}"), out);
    }
}

/// What cannot be written is an error naming it and the segment, and nothing is written;
/// `--table` of a table segql does not read lists the tables.
#[test]
fn what_cannot_be_written_is_refused_with_nothing_written() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("q.sql");
    let o = segql_sql(&[
        "segments/offers.seg",
        "--segment",
        "winback",
        "--segment",
        "autumn_no_show",
        "--dialect",
        "postgres",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!out.exists(), "nothing is written");
    let err = crate::common::stderr(&o);
    assert!(err.contains("segql::sql::unsupported"), "{err}");
    insta::assert_snapshot!("refused_snapshots", err);
    let o = segql_sql(&[
        "-e",
        "recency < 30d",
        "--dialect",
        "duckdb",
        "--table",
        "orders=analytics.orders",
    ]);
    assert!(!o.status.success());
    let err = crate::common::stderr(&o);
    assert!(
        err.contains("transactions, customers, communications"),
        "{err}"
    );
    insta::assert_snapshot!("unknown_table", err);
}
