//! The REPL's warm copy of the data (`segql_runtime::cache::warm`): every plan compiled
//! against the in-memory tables returns what it returns over the files, with batches
//! small enough that scans skip some; the budget's fallback; what start-up and `:timing`
//! say.

use segql::repl::Session;
use segql_compiler::ir::Segment;
use segql_compiler::{Catalog, Program, lower_campaign, lower_definition, lower_segment};
use segql_runtime::cache::Warm;
use segql_runtime::cache::warm::{DEFAULT_BUDGET, parse_bytes};
use segql_runtime::datafusion::arrow::util::pretty::pretty_format_batches;
use segql_runtime::datafusion::logical_expr::LogicalPlan;
use segql_runtime::{Engine, EngineOptions, Project};

/// Conditions of every kind: cached metrics, windows the cache does not hold, `bought`,
/// `spend on`, windows from the first purchase, distinct counts, partner scopes, lifecycle,
/// ranks, contacts and attributes, negated ones needing the full base.
const CONDITIONS: &[&str] = &[
    "recency < 30d and frequency >= 3",
    "frequency within 45d >= 2",
    "monetary within 2w > 100",
    "bought category \"Coffee\" at least 2 times within 30d",
    "bought category \"Coffee\"",
    "not bought partner \"ALLO\" within 90d",
    "spend on category \"Coffee\" within 90d > 500",
    "not spend on partner \"ALLO\" within 1y > 100",
    "spend on partner (\"Silpo\", \"Furshet\") > 2000",
    "frequency at \"OKKO\" within 90d >= 3",
    "lifecycle at \"OKKO\" = at_risk",
    "lifecycle in (at_risk, churned) and city = \"Lviv\"",
    "lifecycle = prospect",
    "frequency at \"Silpo\" within 30d of first_purchase < 2",
    "partners within 1y >= 2",
    "rfm_segment = champions",
    "abc = A and rfm.r <= 2",
    "top 20% by monetary within 1y",
    "not contacted(sms, 14d) and recency < 60d",
    "contacts within 30d < 4 and contacts by sms within 7d <= 1",
    "avg_check within 1y between 1000 and 50000 and gender = \"f\"",
    "first_purchase >= 2026-01-01 or last_purchase < 2026-03-01",
];

/// The rows of `plan` as a table, in the plan's order.
async fn table(engine: &Engine, plan: LogicalPlan) -> String {
    let batches = engine.collect(plan).await.expect("plan runs");
    pretty_format_batches(&batches).unwrap().to_string()
}

/// Every member and output column of `text` over the files and over `warm`, which must be
/// equal; returns how many rows they have.
async fn same_rows(engine: &Engine, warm: &Catalog, text: &str) -> usize {
    let pred = crate::common::resolve(&engine.catalog, text);
    let files = lower_segment(&engine.catalog, &pred)
        .unwrap()
        .sorted()
        .unwrap();
    let memory = lower_segment(warm, &pred).unwrap().sorted().unwrap();
    let (a, b) = (table(engine, files).await, table(engine, memory).await);
    assert_eq!(a, b, "{text}");
    a.lines().count().saturating_sub(4)
}

async fn open_example() -> Engine {
    let project = Project::discover(Some(&crate::common::example_dir())).unwrap();
    crate::common::open(
        project,
        chrono::NaiveDate::from_ymd_opt(2026, 10, 31).unwrap(),
    )
    .await
}

/// Every segment and campaign of the example files and every condition above, compiled
/// against the files and against the warm copy (in batches of 500 rows, so windows skip
/// batches), give the same rows; the windowed scans read fewer batches than the table has.
#[test]
fn warm_answers_equal_cold_scans_on_the_example() {
    crate::common::block_on(async {
        let mut engine = open_example().await;
        let warm = Warm::load_in_batches(&engine, DEFAULT_BUDGET, 500).await;
        assert!(warm.skipped.is_empty(), "{:?}", warm.skipped);
        let tx = warm.transactions.as_ref().unwrap();
        assert!(tx.batches() > 10, "{} batches", tx.batches());
        let mut catalog = warm.catalog(&engine.catalog).unwrap();
        let mut nonempty = 0;
        for text in CONDITIONS {
            if same_rows(&engine, &catalog, text).await > 0 {
                nonempty += 1;
            }
        }
        assert!(
            nonempty >= CONDITIONS.len() - 3,
            "{nonempty} conditions with members"
        );
        // A 30-day window reads the batches of its days only.
        warm.take_reads();
        same_rows(&engine, &catalog, "bought category \"Coffee\" within 30d").await;
        let reads = warm.take_reads();
        let t = reads.iter().find(|r| r.table == "transactions").unwrap();
        assert!(
            t.read.batches * 4 < t.read.of_batches * t.scans,
            "{reads:?}"
        );
        // Every segment and campaign of the example files.
        let mut program = Program::new(Some(&crate::common::example_dir()));
        for f in crate::common::files_matching("examples/coalition/segments/*.seg") {
            program.load_file(&f).unwrap();
        }
        let names: Vec<String> = program
            .segments
            .iter()
            .map(|s| s.def.name.name.clone())
            .collect();
        assert!(names.len() > 20, "{names:?}");
        for name in names {
            let seg: Segment =
                segql_compiler::resolve_segment(&program, &engine.catalog, &name).unwrap();
            engine.prepare(&[&seg.pred]).await.unwrap();
            catalog.features = engine.catalog.features.clone();
            let lower = |c: &Catalog| {
                if seg.campaign.is_some() {
                    lower_campaign(c, &seg)
                } else {
                    lower_definition(c, &seg)
                }
                .unwrap()
                .sorted()
                .unwrap()
            };
            let files = table(&engine, lower(&engine.catalog)).await;
            let memory = table(&engine, lower(&catalog)).await;
            assert_eq!(files, memory, "segment {name}");
        }
    })
}

/// The same on generated data of 3,000 customers, as Parquet and as CSV.
#[test]
fn warm_answers_equal_cold_scans_on_generated_data() {
    for format in [
        segql_runtime::project::FileFormat::Parquet,
        segql_runtime::project::FileFormat::Csv,
    ] {
        let dir = tempfile::tempdir().unwrap();
        segql_generator::generate(&segql_generator::DemoOptions {
            customers: 3000,
            seed: 7,
            format,
            out: dir.path().to_path_buf(),
            ..Default::default()
        })
        .unwrap();
        let ext = match format {
            segql_runtime::project::FileFormat::Parquet => "parquet",
            segql_runtime::project::FileFormat::Csv => "csv",
        };
        std::fs::write(
            dir.path().join("segql.toml"),
            format!(
                "[transactions]\npath = \"transactions.{ext}\"\n\n[customers]\npath = \"customers.csv\"\n\n[customers.columns]\ncustomer_id = \"id\"\nbirthday = \"dob\"\nsignup_date = \"registered\"\n\n[communications]\npath = \"communications.csv\"\n\n[communications.columns]\nts = \"sent_at\"\n"
            ),
        )
        .unwrap();
        crate::common::block_on(async {
            let project = Project::discover(Some(dir.path())).unwrap();
            let engine = crate::common::open(
                project,
                chrono::NaiveDate::from_ymd_opt(2026, 10, 31).unwrap(),
            )
            .await;
            let warm = Warm::load_in_batches(&engine, DEFAULT_BUDGET, 4096).await;
            assert!(warm.skipped.is_empty(), "{:?}", warm.skipped);
            let catalog = warm.catalog(&engine.catalog).unwrap();
            let mut rows = 0;
            for text in CONDITIONS {
                rows += same_rows(&engine, &catalog, text).await;
            }
            assert!(rows > 3000, "{rows} rows in all ({ext})");
        });
    }
}

fn open_session(budget: Option<u64>) -> (Session, String) {
    let mut log = Vec::new();
    let s = crate::common::block_on(async {
        let project = Project::discover(Some(&crate::common::example_dir())).unwrap();
        Session::open_with_budget(
            project,
            EngineOptions {
                target_partitions: Some(2),
                ..Default::default()
            },
            budget,
            &[],
            None,
            &mut log,
        )
        .await
        .unwrap()
    });
    (s, String::from_utf8(log).unwrap())
}

/// Digits and sizes masked: `#` for every run of digits.
fn masked(text: &str) -> String {
    let mut out = String::new();
    let mut digits = false;
    for c in text.chars() {
        if c.is_ascii_digit() || (digits && (c == '.' || c == ',')) {
            if !digits {
                out.push('#');
            }
            digits = true;
        } else {
            digits = false;
            out.push(c);
        }
    }
    out
}

/// What start-up and `:timing` say, digits masked: what is held, its size against the
/// budget and how long reading took; what each answer read.
#[test]
fn start_up_and_timing_say_what_is_held_and_read() {
    let (mut s, log) = open_session(None);
    assert_eq!(
        masked(&log),
        "reading the data into memory ...\n\
         in memory: transactions # lines, customers # rows, communications # rows: # MiB of a # GiB budget, read in # s\n\
         building the customer profile as of #-#-# ...\n\
         profiled # customers in # ms\n"
    );
    assert!(log.contains("of a 4.0 GiB budget"), "{log}");
    let mut out = Vec::new();
    crate::common::block_on(async {
        for input in [
            ":timing",
            "recency < 30d",
            "bought category \"Coffee\" within 30d",
            "not contacted(sms, 14d)",
        ] {
            s.handle(input, &mut out).await.unwrap();
        }
    });
    let out = String::from_utf8(out).unwrap();
    let times: Vec<String> = out
        .lines()
        .filter(|l| l.starts_with("time: "))
        .map(masked)
        .collect();
    assert_eq!(
        times,
        [
            "time: # ms (from the customer cache)",
            "time: # ms (from memory: transactions # of # batches (# of # rows))",
            "time: # ms (from memory: transactions # of # batches (# of # rows); customers # of # batches (# of # rows); communications # of # batches (# of # rows))",
        ],
        "{out}"
    );
}

/// A budget too small for any table: each stays on the files and start-up says so; the
/// answers are the same as from memory and say they read the files. Budget 0 holds nothing.
#[test]
fn a_budget_too_small_falls_back_to_the_files() {
    let (mut warm, _) = open_session(None);
    let (mut cold, log) = open_session(Some(parse_bytes("1KiB").unwrap()));
    assert!(
        log.contains("transactions stay on the files: its rows passed")
            && log.contains("customers stay on the files")
            && log.contains("communications stay on the files")
            && log.contains("--memory-budget"),
        "{log}"
    );
    let (mut none, log) = open_session(Some(0));
    assert!(
        log.contains("nothing held in memory (memory budget 0)"),
        "{log}"
    );
    for text in [
        "bought category \"Coffee\" at least 2 times within 60d",
        "not spend on partner \"ALLO\" within 1y > 100",
        "rfm_segment = champions and not contacted(sms, 14d)",
        "recency < 30d and frequency >= 3",
    ] {
        let answers = [&mut warm, &mut cold, &mut none]
            .map(|s| crate::common::block_on(s.answer(text)).unwrap());
        let [w, c, n] = &answers;
        for a in [c, n] {
            assert_eq!(a.totals.customers, w.totals.customers, "{text}");
            assert_eq!(a.totals.purchases, w.totals.purchases, "{text}");
            assert!((a.totals.revenue - w.totals.revenue).abs() < 1e-6, "{text}");
            assert_eq!(
                pretty_format_batches(&a.preview).unwrap().to_string(),
                pretty_format_batches(&w.preview).unwrap().to_string(),
                "{text}"
            );
        }
        if !w.from_cache {
            // Totals from the customer cache by id equal totals from the query's own monetary
            // and frequency (read when the condition reads them).
            let own = format!("({text}) and (monetary >= 0 or monetary < 0) and frequency >= 0");
            let o = crate::common::block_on(warm.answer(&own)).unwrap();
            assert!(!o.from_cache, "{own}");
            assert_eq!(o.totals.customers, w.totals.customers, "{own}");
            assert_eq!(o.totals.purchases, w.totals.purchases, "{own}");
            assert!(
                (o.totals.revenue - w.totals.revenue).abs()
                    < 1e-6 * w.totals.revenue.abs().max(1.0),
                "{own}"
            );
            assert!(w.totals.purchases > 0, "{text}");
            assert!(
                matches!(w.source, segql_runtime::cache::Source::Memory { .. }),
                "{text}"
            );
            assert_eq!(c.source, segql_runtime::cache::Source::Files, "{text}");
            assert_eq!(n.source, segql_runtime::cache::Source::Files, "{text}");
        }
    }
}

/// Sizes read as people write them; a broken `[repl] memory_budget` points at its value.
#[test]
fn memory_budgets_parse_and_a_bad_one_is_refused() {
    assert_eq!(parse_bytes("4GiB"), Ok(4 << 30));
    assert_eq!(parse_bytes("4G"), Ok(4 << 30));
    assert_eq!(parse_bytes("512 MB"), Ok(512_000_000));
    assert_eq!(parse_bytes("1.5kib"), Ok(1536));
    assert_eq!(parse_bytes("0"), Ok(0));
    assert!(parse_bytes("lots").is_err());
    assert!(parse_bytes("4 parsecs").is_err());
    let dir = tempfile::tempdir().unwrap();
    let toml = "[transactions]\npath = \"t.csv\"\n\n[repl]\nmemory_budget = \"4 parsecs\"\n";
    crate::common::write(dir.path(), "segql.toml", toml);
    let e = Project::discover(Some(dir.path())).unwrap_err();
    let text = format!("{:?}", miette::Report::from(e))
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        text.contains("[repl] memory_budget: `4 parsecs` has an unknown unit `parsecs`")
            && text.contains("segql.toml:5:17"),
        "{text}"
    );
    crate::common::write(
        dir.path(),
        "segql.toml",
        "[transactions]\npath = \"t.csv\"\n\n[repl]\nmemory_budget = \"2GB\"\n",
    );
    let p = Project::discover(Some(dir.path())).unwrap();
    assert_eq!(p.memory_budget(), Some(2_000_000_000));
}

/// `segql repl --memory-budget`: 0 holds nothing and answers say they read the files; a size
/// that is not one is a usage error.
#[test]
fn the_memory_budget_flag_sets_the_budget() {
    let run = |budget: &str| {
        let dir = tempfile::tempdir().unwrap();
        crate::repl::repl_in(
            &crate::common::example_dir(),
            &["--memory-budget", budget],
            ":timing\nbought category \"Coffee\" within 30d\n:quit\n",
            dir.path(),
        )
    };
    let (out, err, ok) = run("0");
    assert!(ok, "{err}");
    assert!(
        err.contains("nothing held in memory (memory budget 0)"),
        "{err}"
    );
    assert!(out.contains("ms (from the files)"), "{out}");
    let (out, err, _) = run("64MiB");
    assert!(err.contains("of a 64.0 MiB budget"), "{err}");
    assert!(out.contains("ms (from memory: transactions "), "{out}");
    let (_, err, ok) = run("lots");
    assert!(!ok);
    assert!(
        err.contains("`lots` is not a size like 4GiB, 512MB or 0"),
        "{err}"
    );
}
