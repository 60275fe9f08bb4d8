//! `segql history`: every point against the segment evaluated on its own as of the point's
//! date (an engine opened as of that date, the definition's own plan: what `segql run --count
//! --as-of DATE` counts), entered and left against those members' sets, revenue and turnover
//! against sums of the lines; in one pass and date by date, from memory and from the files;
//! receipts of several days; the command's output, progress and interruption.

use crate::common::{block_on, fixture, segql_command, stderr, stdout};
use chrono::{Duration, NaiveDate};
use segql_compiler::ir::Segment;
use segql_compiler::{Program, resolve_segment};
use segql_runtime::datafusion::arrow::array::AsArray;
use segql_runtime::datafusion::arrow::compute::cast;
use segql_runtime::datafusion::arrow::datatypes::{DataType, Decimal128Type};
use segql_runtime::datafusion::functions_aggregate::expr_fn::sum;
use segql_runtime::datafusion::logical_expr::{LogicalPlanBuilder, cast as cast_expr, ident};
use segql_runtime::reports::diff::definition_members;
use segql_runtime::reports::flows::Every;
use segql_runtime::reports::history::{self, HistoryPath, HistoryRow, HistorySpec};
use segql_runtime::{Engine, EngineOptions, Project};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

/// Definitions of both ways: aggregates of transactions, lifecycle, attributes, the full
/// base, windows from the first purchase, distinct counts and purchase days (one pass), and
/// ranks, contacts and a capped campaign (date by date).
const SEGMENTS: &str = r#"
segment regulars = recency < 30d and frequency >= 3
segment windows = frequency within 45d >= 2 and monetary within 2w > 100
segment coffee = bought category "Coffee" at least 2 times within 30d
segment no_allo = not bought partner "ALLO" within 90d
segment okko_at_risk = lifecycle at "OKKO" = at_risk
segment lapsing_lviv = lifecycle in (at_risk, churned) and city = "Lviv"
segment prospects = lifecycle = prospect
segment silpo_once = frequency at "Silpo" within 30d of first_purchase < 2 and recency < 90d
segment partners = partners within 1y >= 2
segment habitual = activity within 90d >= 0.05
segment checks = avg_check within 1y between 100 and 5000 and gender = "f"
segment dates = first_purchase >= 2026-01-01 or last_purchase < 2026-03-01
segment birthdays = birthday within 7d and frequency within 1y >= 1
segment champions = rfm_segment = champions
segment quiet = not contacted(sms, 14d) and recency < 60d
campaign open = recency < 60d holdout 20%
campaign capped = frequency within 90d >= 2 holdout 10% limit 40 by monetary within 365d desc
"#;

/// The segments `SEGMENTS` plans in one pass.
const ONE_PASS: &[&str] = &[
    "regulars",
    "windows",
    "coffee",
    "no_allo",
    "okko_at_risk",
    "lapsing_lviv",
    "prospects",
    "silpo_once",
    "partners",
    "habitual",
    "checks",
    "dates",
    "birthdays",
    "open",
];

/// Generated data of `customers` customers (two years up to 2026-10-31) with the demo's
/// customers and communications, and the segments above.
fn generated(customers: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    segql_generator::generate(&segql_generator::DemoOptions {
        customers,
        seed: 11,
        out: dir.path().to_path_buf(),
        ..Default::default()
    })
    .unwrap();
    std::fs::write(
        dir.path().join("segql.toml"),
        "[transactions]\npath = \"transactions.parquet\"\n\n[customers]\npath = \"customers.csv\"\n\n[customers.columns]\ncustomer_id = \"id\"\nbirthday = \"dob\"\nsignup_date = \"registered\"\n\n[communications]\npath = \"communications.csv\"\n\n[communications.columns]\nts = \"sent_at\"\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("segments.seg"), SEGMENTS).unwrap();
    dir
}

fn options(as_of: NaiveDate) -> EngineOptions {
    EngineOptions {
        as_of: Some(as_of),
        target_partitions: Some(2),
        tables_when_needed: true,
        ..Default::default()
    }
}

fn program(dir: &Path) -> Program {
    let mut p = Program::new(Some(dir));
    p.load_file(&dir.join("segments.seg")).unwrap();
    p
}

/// `name` resolved in `engine` (reading the tables it needs).
async fn segment(engine: &mut Engine, program: &Program, name: &str) -> Segment {
    engine
        .compile(|c| resolve_segment(program, c, name))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{name}: {e:?}"))
}

/// What a separate run as of each date gives: the members (`segql run`'s, a campaign's
/// capped audience of both groups) and every customer's turnover in the days after the
/// previous date up to it (units of the amount's scale).
struct Separate {
    members: Vec<BTreeSet<String>>,
    turnover: Vec<HashMap<String, i128>>,
}

async fn separately(dir: &Path, names: &[&str], dates: &[NaiveDate]) -> HashMap<String, Separate> {
    let program = program(dir);
    let mut out: HashMap<String, Separate> = names
        .iter()
        .map(|n| {
            (
                n.to_string(),
                Separate {
                    members: Vec::new(),
                    turnover: Vec::new(),
                },
            )
        })
        .collect();
    for (i, d) in dates.iter().enumerate() {
        let project = Project::discover(Some(dir)).unwrap();
        let mut engine = Engine::open(project, options(*d), true).await.unwrap();
        let after = if i == 0 {
            *d - Duration::days(1)
        } else {
            dates[i - 1]
        };
        let turnover = turnover_between(&engine, after, *d).await;
        for n in names {
            let s = segment(&mut engine, &program, n).await;
            let members = definition_members(&mut engine, &s).await.unwrap();
            let e = out.get_mut(*n).unwrap();
            e.members.push(members);
            e.turnover.push(turnover.clone());
        }
    }
    out
}

/// Every customer's `amount` summed over their lines dated after `after` up to `upto`, in
/// cents, by a plain aggregation of the engine's transactions.
async fn turnover_between(
    engine: &Engine,
    after: NaiveDate,
    upto: NaiveDate,
) -> HashMap<String, i128> {
    let day = segql_compiler::lower::date_lit;
    let plan = LogicalPlanBuilder::from(engine.catalog.transactions.clone())
        .filter(
            ident("ts")
                .gt(day(after))
                .and(ident("ts").lt_eq(day(upto)))
                .and(ident("customer_id").is_not_null()),
        )
        .unwrap()
        .aggregate(
            vec![cast_expr(ident("customer_id"), DataType::Utf8)],
            vec![sum(cast_expr(ident("amount"), DataType::Decimal128(38, 2)))],
        )
        .unwrap()
        .build()
        .unwrap();
    let mut out = HashMap::new();
    for b in engine.collect(plan).await.unwrap() {
        let ids = b.column(0).as_string::<i32>();
        let sums = cast(b.column(1), &DataType::Decimal128(38, 2)).unwrap();
        let sums = sums.as_primitive::<Decimal128Type>();
        for r in 0..b.num_rows() {
            out.insert(ids.value(r).to_string(), sums.value(r));
        }
    }
    out
}

/// The history of `name`, as `segql history` computes it.
async fn history_of(
    dir: &Path,
    name: &str,
    spec: &HistorySpec,
) -> (Vec<HistoryRow>, HistoryPath, Vec<&'static str>) {
    let project = Project::discover(Some(dir)).unwrap();
    let opts = options(spec.to);
    let mut engine = Engine::open(project, opts.clone(), true).await.unwrap();
    let s = segment(&mut engine, &program(dir), name).await;
    let mut seen = Vec::new();
    let h = history::history(&mut engine, &opts, &s, spec, &mut |p| seen.push(p))
        .await
        .unwrap();
    assert!(!seen.is_empty(), "{name}: progress is reported");
    (h.rows, h.path, h.in_memory)
}

/// Each row of `rows` against the separate runs of the same dates (the baseline first).
fn check(name: &str, how: &str, rows: &[HistoryRow], separate: &Separate) {
    assert_eq!(rows.len() + 1, separate.members.len(), "{name} {how}");
    for (i, r) in rows.iter().enumerate() {
        let (was, is) = (&separate.members[i], &separate.members[i + 1]);
        let turnover = &separate.turnover[i + 1];
        let revenue: i128 = is.iter().filter_map(|id| turnover.get(id)).sum();
        let all: i128 = turnover.values().sum();
        let expected = (
            is.len() as i64,
            is.difference(was).count() as i64,
            was.difference(is).count() as i64,
            revenue,
            all,
        );
        assert_eq!(r.revenue.scale, 2, "{name}");
        let got = (
            r.members,
            r.entered,
            r.left,
            r.revenue.units,
            r.turnover.units,
        );
        assert_eq!(got, expected, "{name} {how} as of {}", r.date);
    }
}

/// Every point of every kind of definition equals the definition evaluated on its own as of
/// the point's date, in one pass, date by date, from memory and from the files.
#[test]
fn every_point_equals_a_separate_run_on_generated_data() {
    let dir = generated(700);
    let (from, to) = (
        NaiveDate::from_ymd_opt(2026, 8, 12).unwrap(),
        NaiveDate::from_ymd_opt(2026, 10, 31).unwrap(),
    );
    let spec = HistorySpec {
        every: Every::Week,
        from,
        to,
        budget: segql_runtime::cache::warm::DEFAULT_BUDGET,
        each_date: false,
        transactions_in_memory: false,
    };
    // The day before --from, then every ISO week's Sunday, then --to.
    let mut dates = vec![from - Duration::days(1)];
    let mut d = NaiveDate::from_ymd_opt(2026, 8, 16).unwrap();
    while d < to {
        dates.push(d);
        d += Duration::days(7);
    }
    dates.push(to);
    let names: Vec<&str> = SEGMENTS
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    block_on(async {
        let separate = separately(dir.path(), &names, &dates).await;
        let mut members = 0;
        for name in &names {
            let (rows, path, held) = history_of(dir.path(), name, &spec).await;
            let one_pass = ONE_PASS.contains(name);
            assert_eq!(
                matches!(path, HistoryPath::OnePass { .. }),
                one_pass,
                "{name}: {path:?}"
            );
            // The one pass reads the files; date by date holds the other tables it reads in
            // memory, the transactions only when asked.
            if one_pass {
                assert!(held.is_empty(), "{name}: {held:?}");
            } else {
                assert!(!held.contains(&"transactions"), "{name}: {held:?}");
            }
            if *name == "quiet" {
                assert_eq!(held, ["communications"]);
            }
            check(name, "as planned", &rows, &separate[*name]);
            let each = HistorySpec {
                each_date: true,
                budget: 0,
                ..spec.clone()
            };
            let (by_date, path, held) = history_of(dir.path(), name, &each).await;
            assert_eq!(path, HistoryPath::EachDate, "{name}");
            assert!(held.is_empty(), "{name}: {held:?}");
            assert_eq!(by_date, rows, "{name}: date by date from the files");
            members += rows.iter().map(|r| r.members).sum::<i64>();
        }
        assert!(members > 1000, "{members} members in all");
        // Date by date with every table in memory, for a definition of each way.
        for name in ["regulars", "no_allo", "lapsing_lviv", "champions", "quiet"] {
            let each = HistorySpec {
                each_date: true,
                transactions_in_memory: true,
                ..spec.clone()
            };
            let (rows, _, held) = history_of(dir.path(), name, &each).await;
            assert!(held.contains(&"transactions"), "{name}: {held:?}");
            check(name, "date by date from memory", &rows, &separate[name]);
        }
    });
}

/// Months and quarters cut to --from and --to; one day.
#[test]
fn periods_are_cut_to_the_dates_covered() {
    let dir = generated(150);
    block_on(async {
        for (every, from, to, expected) in [
            (
                Every::Month,
                "2026-07-15",
                "2026-09-10",
                vec![
                    ("2026-07", "2026-07-15", "2026-07-31"),
                    ("2026-08", "2026-08-01", "2026-08-31"),
                    ("2026-09", "2026-09-01", "2026-09-10"),
                ],
            ),
            (
                Every::Quarter,
                "2026-02-01",
                "2026-06-30",
                vec![
                    ("2026-Q1", "2026-02-01", "2026-03-31"),
                    ("2026-Q2", "2026-04-01", "2026-06-30"),
                ],
            ),
            (
                Every::Week,
                "2026-10-31",
                "2026-10-31",
                vec![("2026-W44", "2026-10-31", "2026-10-31")],
            ),
        ] {
            let spec = HistorySpec {
                every,
                from: from.parse().unwrap(),
                to: to.parse().unwrap(),
                budget: 0,
                each_date: false,
                transactions_in_memory: false,
            };
            let (rows, _, _) = history_of(dir.path(), "regulars", &spec).await;
            let got: Vec<(String, String, String)> = rows
                .iter()
                .map(|r| (r.period.clone(), r.start.to_string(), r.date.to_string()))
                .collect();
            let expected: Vec<(String, String, String)> = expected
                .into_iter()
                .map(|(a, b, c)| (a.into(), b.into(), c.into()))
                .collect();
            assert_eq!(got, expected);
        }
    });
}

/// A receipt whose lines are of two days: the one pass's roll-up by receipt and day notices
/// and evaluates that pass again by date; every point still equals a separate run.
#[test]
fn receipts_of_several_days_give_the_same_points() {
    let dir = fixture(&[
        ("segql.toml", "[transactions]\npath = \"t.csv\"\n"),
        (
            "t.csv",
            "customer_id,ts,amount,receipt_id,partner\n\
             a,2026-01-03,10.00,r1,OKKO\n\
             a,2026-01-05,5.00,r1,OKKO\n\
             a,2026-01-06,7.00,r2,Silpo\n\
             a,2026-01-13,1.00,,Silpo\n\
             a,2026-01-13,2.00,,Silpo\n\
             b,2026-01-04,20.00,r3,OKKO\n\
             b,2026-01-11,3.00,r4,OKKO\n\
             b,2026-01-12,3.00,r4,Silpo\n\
             c,2026-01-12,9.00,r5,Silpo\n\
             c,2026-01-19,4.00,r6,OKKO\n",
        ),
        (
            "segments.seg",
            "segment twice = frequency within 7d >= 2\n\
             segment days = activity within 7d >= 0.2 and monetary within 3d > 4\n\
             segment okko = bought partner \"OKKO\" within 2d\n",
        ),
    ]);
    let from = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let to = NaiveDate::from_ymd_opt(2026, 1, 20).unwrap();
    let mut dates = vec![from - Duration::days(1)];
    dates.extend((0..20).map(|i| from + Duration::days(i)));
    block_on(async {
        let names = ["twice", "days", "okko"];
        let separate = separately(dir.path(), &names, &dates).await;
        for name in names {
            // Days as periods: the weekly grid would hide a day's movement.
            let mut rows = Vec::new();
            for (i, d) in dates.iter().enumerate().skip(1) {
                let spec = HistorySpec {
                    every: Every::Week,
                    from: *d,
                    to: *d,
                    budget: 0,
                    each_date: false,
                    transactions_in_memory: false,
                };
                let (r, path, _) = history_of(dir.path(), name, &spec).await;
                assert_eq!(r.len(), 1);
                rows.push(r[0].clone());
                let _ = (i, path);
            }
            check(name, "day by day", &rows, &separate[name]);
            // The whole range in one run: the roll-up by day notices receipt r1 (and r4)
            // and runs the pass again by date.
            let spec = HistorySpec {
                every: Every::Week,
                from,
                to,
                budget: 0,
                each_date: false,
                transactions_in_memory: false,
            };
            let (weeks, path, _) = history_of(dir.path(), name, &spec).await;
            assert_eq!(path, HistoryPath::OnePass { passes: 2 }, "{name}");
            let ends: Vec<NaiveDate> = weeks.iter().map(|r| r.date).collect();
            assert_eq!(
                ends,
                ["2026-01-04", "2026-01-11", "2026-01-18", "2026-01-20"]
                    .map(|d| d.parse::<NaiveDate>().unwrap())
            );
            for w in &weeks {
                let i = dates.iter().position(|d| *d == w.date).unwrap();
                assert_eq!(
                    w.members,
                    separate[name].members[i].len() as i64,
                    "{name} as of {}",
                    w.date
                );
            }
        }
    });
}

/// The command: one row per period end, the same figures whatever the path; CSV to a file
/// written at the end (nothing on standard error when it is not a terminal); its errors.
#[test]
fn the_command_writes_one_row_per_period_end() {
    let dir = generated(200);
    let run = |extra: &[&str]| {
        segql_command()
            .args([
                "history",
                "segments.seg",
                "--segment",
                "regulars",
                "--every",
                "month",
                "--from",
                "2026-06-01",
                "--to",
                "2026-10-31",
                "--format",
                "csv",
            ])
            .args(extra)
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let o = run(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stderr(&o), "", "no progress or summary off a terminal");
    let text = stdout(&o);
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "period,start,date,members,entered,left,revenue,turnover,revenue_share"
    );
    let periods: Vec<&str> = lines.map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(
        periods,
        ["2026-06", "2026-07", "2026-08", "2026-09", "2026-10"]
    );
    // Each point is `segql run --count --as-of` of its date.
    for line in text.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        let n = segql_command()
            .args([
                "run",
                "segments.seg",
                "-s",
                "regulars",
                "--count",
                "--as-of",
                cells[2],
            ])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(stdout(&n).trim(), cells[3], "{line}");
    }
    // Date by date, from memory or not: the same output.
    assert_eq!(stdout(&run(&["--each-date"])), text);
    assert_eq!(stdout(&run(&["--each-date", "--memory-budget", "0"])), text);
    assert_eq!(
        stdout(&run(&["--each-date", "--transactions-in-memory"])),
        text
    );
    // To a file: written once, whole.
    let o = run(&["-o", "history.csv", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("history.csv")).unwrap(),
        text
    );
    // Errors: --from after --to, --as-of, more than one segment; an earlier file is kept.
    let fails = |args: &[&str], says: &str| {
        let o = segql_command()
            .args([
                "history",
                "segments.seg",
                "--to",
                "2026-10-31",
                "-o",
                "history.csv",
            ])
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(!o.status.success(), "{args:?}");
        assert!(stderr(&o).contains(says), "{}", stderr(&o));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("history.csv")).unwrap(),
            text
        );
    };
    fails(&["-s", "regulars", "--from", "2026-11-01"], "is after --to");
    fails(
        &[
            "-s",
            "regulars",
            "--from",
            "2026-06-01",
            "--as-of",
            "2026-10-01",
        ],
        "--as-of does not apply",
    );
    fails(&["--from", "2026-06-01"], "history follows one segment");
}

/// Ctrl-C during a run over many dates: the process ends with 130 and leaves no output file
/// (nor a temporary one beside it). A run the signal reaches before it listens dies of it and
/// leaves none either; one that finishes first (a slow machine) leaves its whole file.
#[test]
fn an_interrupted_run_leaves_no_output_file() {
    let dir = generated(1500);
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let mut child = segql_command()
        .args([
            "history",
            "segments.seg",
            "--segment",
            "champions",
            "--every",
            "week",
            "--from",
            "2024-11-04",
            "--to",
            "2026-10-31",
            "--memory-budget",
            "0",
            "-o",
            "out/history.csv",
        ])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    let _ = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    let left: Vec<_> = std::fs::read_dir(&out).unwrap().flatten().collect();
    if status.success() {
        let text = std::fs::read_to_string(out.join("history.csv")).unwrap();
        assert_eq!(text.lines().count(), 1 + 104, "a whole file");
        assert_eq!(left.len(), 1);
    } else {
        assert!(matches!(status.code(), Some(130) | None), "{status:?}");
        assert!(left.is_empty(), "{left:?}");
    }
}

/// A partner whose lifecycle thresholds are derived from its customers' purchase gaps gets
/// them derived as of each date, as `segql run --as-of` derives them.
#[test]
fn derived_thresholds_are_derived_as_of_each_date() {
    let dir = generated(400);
    let toml = dir.path().join("segql.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(
        &toml,
        format!("{text}\n[lifecycle.partners.\"OKKO\"]\nderive = true\n"),
    )
    .unwrap();
    let (from, to) = (
        NaiveDate::from_ymd_opt(2025, 3, 1).unwrap(),
        NaiveDate::from_ymd_opt(2026, 10, 31).unwrap(),
    );
    let mut dates = vec![from - Duration::days(1)];
    let mut d = from;
    while d <= to {
        let next = d.checked_add_months(chrono::Months::new(1)).unwrap();
        dates.push(next - Duration::days(1));
        d = next;
    }
    block_on(async {
        // The thresholds differ between dates, so that the test tells.
        let mut seen = BTreeSet::new();
        for d in &dates {
            let project = Project::discover(Some(dir.path())).unwrap();
            let e = Engine::open(project, options(*d), true).await.unwrap();
            seen.insert(format!("{:?}", e.catalog.partner_lifecycle["OKKO"]));
        }
        assert!(seen.len() > 1, "{seen:?}");
        let names = ["okko_at_risk"];
        let separate = separately(dir.path(), &names, &dates).await;
        for each_date in [false, true] {
            let spec = HistorySpec {
                every: Every::Month,
                from,
                to,
                budget: 0,
                each_date,
                transactions_in_memory: false,
            };
            let (rows, _, _) = history_of(dir.path(), "okko_at_risk", &spec).await;
            check("okko_at_risk", "derived", &rows, &separate["okko_at_risk"]);
        }
    });
}
