//! Golden tests of plans and result rows for every segment of the example project, and the
//! shape every plan must have, whatever the number of conditions: transactions read in full
//! once and one aggregation by customer (preceded, when purchases are counted by receipt, by
//! one roll-up of lines into receipts); other scans only of the customers table, the recent
//! buyers of `recency < d` and communications, at most five scans in all.

use segql_compiler::{
    Program, Wanted, lower_definition, lower_memberships, lower_segment, resolve_expr,
    resolve_segment,
};
use segql_runtime::datafusion::arrow::util::pretty::pretty_format_batches;
use segql_runtime::datafusion::logical_expr::LogicalPlan;
use segql_runtime::{Engine, EngineOptions, Project};

fn engine() -> Engine {
    engine_reading(false)
}

/// The example's engine, with the customers and communications tables read at once or
/// `when_needed`.
fn engine_reading(when_needed: bool) -> Engine {
    crate::common::block_on(async {
        let project = Project::discover(Some(&crate::common::example_dir())).unwrap();
        Engine::open(
            project,
            EngineOptions {
                as_of: None,
                target_partitions: Some(2),
                memory_limit: None,
                tables_when_needed: when_needed,
                ..Default::default()
            },
            true,
        )
        .await
        .unwrap()
    })
}

fn program() -> Program {
    let dir = crate::common::example_dir();
    let mut p = Program::new(Some(&dir));
    for f in ["campaigns.seg", "partners.seg", "value.seg"] {
        p.load_file(&dir.join("segments").join(f)).unwrap();
    }
    p
}

#[test]
fn partner_thresholds_decide_partner_lifecycle() {
    let engine = engine();
    let program = program();
    let t = engine.catalog.lifecycle_for(&["OKKO".to_string()]);
    assert_eq!(
        (t.new_days, t.at_risk_days, t.churned_days, t.lost_days),
        (30, 30, 90, 180)
    );
    let seg = resolve_segment(&program, &engine.catalog, "okko_at_risk").unwrap();
    let plan = lower_segment(&engine.catalog, &seg.pred)
        .unwrap()
        .sorted()
        .unwrap();
    let text = plan.display_indent().to_string();
    // OKKO's at_risk band is 30 to 90 days, not the default 60 to 180.
    assert!(text.contains("< Int64(30) THEN Utf8(\"active\")"), "{text}");
    assert!(
        text.contains("< Int64(90) THEN Utf8(\"at_risk\")"),
        "{text}"
    );
    assert!(text.contains("partner IN ([Utf8(\"OKKO\")])"), "{text}");
}

/// Aggregations by customer, and roll-ups of lines into receipts.
fn aggregates(plan: &LogicalPlan) -> (usize, usize) {
    let text = plan.display_indent().to_string();
    let by_customer = text
        .lines()
        .filter(|l| {
            l.trim_start()
                .starts_with("Aggregate: groupBy=[[customer_id]]")
                && l.contains(" AS __")
                && !l.contains(" AS __m")
        })
        .count();
    let by_receipt = text
        .lines()
        .filter(|l| {
            // The receipt key may be `CASE WHEN ts > .. THEN receipt_id END AS receipt_id`;
            // beside distinct counts, receipts are one of the roll-up's grouping sets.
            let l = l.trim_start();
            (l.starts_with("Aggregate: groupBy=[[customer_id, ")
                || l.starts_with("Aggregate: groupBy=[[GROUPING SETS ((customer_id, "))
                && l.split("]], aggr=")
                    .next()
                    .unwrap_or("")
                    .contains("receipt_id")
        })
        .count();
    (by_customer, by_receipt)
}

/// Counts plan nodes by their one-line description's first word.
fn count_nodes(plan: &LogicalPlan, kind: &str) -> usize {
    plan.display_indent()
        .to_string()
        .lines()
        .filter(|l| l.trim_start().starts_with(kind))
        .count()
}

/// Asserts that the engine's physical optimizer has the rule `name`.
fn assert_plans_with(engine: &Engine, name: &str) {
    let state = engine.context().state();
    assert!(
        state.physical_optimizers().iter().any(|r| r.name() == name),
        "the engine plans with {name}"
    );
}

fn optimized(engine: &Engine, plan: &LogicalPlan) -> String {
    engine.optimize(plan).unwrap().display_indent().to_string()
}

#[test]
fn as_of_defaults_to_the_latest_transaction_date() {
    assert_eq!(engine().catalog.as_of.to_string(), "2026-10-31");
}

/// The shape of every example segment's plan (see the module's doc), and its golden plan.
#[test]
fn every_example_segment_reads_transactions_once_and_aggregates_by_customer_once() {
    let engine = engine();
    let program = program();
    for s in &program.segments {
        let name = &s.def.name.name;
        let seg = resolve_segment(&program, &engine.catalog, name).unwrap();
        let plan = lower_segment(&engine.catalog, &seg.pred)
            .unwrap()
            .sorted()
            .unwrap();
        let opt = engine.optimize(&plan).unwrap();
        let (by_customer, by_receipt) = aggregates(&plan);
        assert_eq!(
            by_customer,
            1,
            "{name}:
{}",
            opt.display_indent()
        );
        assert!(
            by_receipt <= 1,
            "{name}:
{}",
            opt.display_indent()
        );
        // Besides those, only the merge of duplicate ids in the customers table (for the join
        // and for the customers meeting attribute conditions), the count of messages per
        // customer and the distinct recent buyers of `recency < d` aggregate.
        let others = count_nodes(&opt, "Aggregate") - by_customer - by_receipt;
        assert!(others <= 4, "{name}:\n{}", opt.display_indent());
        let tx_scans = opt
            .display_indent()
            .to_string()
            .lines()
            .filter(|l| l.contains("TableScan") && l.contains("amount"))
            .count();
        // Transactions are read in full once; customers and recent buyers may be read once
        // more for the customers who can be members.
        assert!(
            tx_scans <= 1 && count_nodes(&opt, "TableScan") <= 5,
            "{name} scans tables (transactions, customers, communications) too often:\n{}",
            opt.display_indent()
        );
        // One golden plan per segment, so a change shows as the plans it changes.
        insta::assert_snapshot!(format!("example_plan_{name}"), optimized(&engine, &plan));
    }
}

/// With tables read when needed, compiling a segment reads the tables it uses and no other,
/// and gives the plan compiled with every table read.
#[test]
fn tables_read_when_needed_give_the_same_plans() {
    let eager = engine();
    let program = program();
    let mut read = String::new();
    for s in &program.segments {
        let name = &s.def.name.name;
        let compile = |c: &segql_compiler::Catalog| -> Result<LogicalPlan, String> {
            let seg = resolve_segment(&program, c, name).map_err(|e| e.to_string())?;
            let q = lower_definition(c, &seg).map_err(|e| e.to_string())?;
            q.sorted().map_err(|e| e.to_string())
        };
        let mut lazy = engine_reading(true);
        let all = Wanted {
            customers: true,
            communications: true,
        };
        assert_eq!(lazy.tables.unread, all);
        assert_eq!(lazy.catalog.unread(), all);
        let plan = crate::common::block_on(lazy.compile(compile))
            .unwrap()
            .unwrap();
        let want = compile(&eager.catalog).unwrap();
        assert_eq!(
            plan.display_indent().to_string(),
            want.display_indent().to_string(),
            "{name}"
        );
        let unread = lazy.catalog.unread();
        assert_eq!(unread, lazy.tables.unread);
        let tables: Vec<&str> = [
            ("customers", !unread.customers),
            ("communications", !unread.communications),
        ]
        .iter()
        .filter(|t| t.1)
        .map(|t| t.0)
        .collect();
        read.push_str(&format!("{name}: {}\n", tables.join(", ")));
    }
    insta::assert_snapshot!(read);
}

/// An engine over text transaction ids (Parquet) and integer customer and communication ids
/// (CSV), with the tables read at once or `when_needed`.
fn mixed_ids_engine(dir: &std::path::Path, when_needed: bool) -> Engine {
    use segql_runtime::datafusion::arrow::array::{
        ArrayRef, Date32Array, Decimal128Array, StringArray,
    };
    use std::sync::Arc;
    let tx = dir.join("tx.parquet");
    if !tx.exists() {
        crate::common::write_parquet(
            &tx,
            vec![
                (
                    "customer_id",
                    Arc::new(StringArray::from(vec!["1", "2", "3"])) as ArrayRef,
                ),
                ("ts", Arc::new(Date32Array::from(vec![20000, 20010, 20020]))),
                (
                    "amount",
                    Arc::new(
                        Decimal128Array::from(vec![1000, 2000, 500])
                            .with_precision_and_scale(12, 2)
                            .unwrap(),
                    ),
                ),
            ],
        );
        crate::common::write(dir, "cust.csv", "customer_id,city\n1,Kyiv\n4,Lviv\n");
        crate::common::write(
            dir,
            "comm.csv",
            "customer_id,ts,channel\n2,2024-10-01,sms\n",
        );
    }
    let path = |f: &str| dir.join(f).display().to_string();
    let project = Project::from_paths(
        &path("tx.parquet"),
        Some(&path("cust.csv")),
        Some(&path("comm.csv")),
        None,
    );
    crate::common::block_on(Engine::open(
        project,
        EngineOptions {
            as_of: chrono::NaiveDate::from_ymd_opt(2024, 12, 31),
            target_partitions: Some(2),
            memory_limit: None,
            tables_when_needed: when_needed,
            ..Default::default()
        },
        true,
    ))
    .unwrap()
}

/// Tables read later have their integer ids made text, as when every table is read at once:
/// the same plans for single segments, campaigns and several segments together.
#[test]
fn tables_read_later_get_text_ids_as_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let eager = mixed_ids_engine(dir.path(), false);
    let texts = [
        "recency < 90d",
        "city = \"Kyiv\"",
        "not contacted(sms, 30d) and frequency >= 1",
        "city = \"Lviv\" or contacted(sms, 90d)",
    ];
    let compile = |c: &segql_compiler::Catalog| -> Result<Vec<String>, String> {
        let mut program = Program::new(None);
        let mut segments = Vec::new();
        for (i, t) in texts.iter().enumerate() {
            let (ast, src) = program.parse_inline("e", t).map_err(|e| e.to_string())?;
            let pred = resolve_expr(&program, c, &ast, src).map_err(|e| e.to_string())?;
            segments.push(segql_compiler::ir::Segment {
                name: format!("s{i}"),
                description: None,
                pred,
                campaign: None,
            });
        }
        let mut plans = Vec::new();
        for s in &segments {
            plans.push(lower_definition(c, s).map_err(|e| e.to_string())?.plan);
        }
        plans.push(
            lower_memberships(c, &segments)
                .map_err(|e| e.to_string())?
                .plan,
        );
        Ok(plans
            .iter()
            .map(|p| p.display_indent().to_string())
            .collect())
    };
    let want = compile(&eager.catalog).unwrap();
    let mut lazy = mixed_ids_engine(dir.path(), true);
    let plans = crate::common::block_on(lazy.compile(compile))
        .unwrap()
        .unwrap();
    assert_eq!(plans, want);
    assert!(!lazy.catalog.unread().any());
    // The customers' ids were made text: the memberships join them with the transactions'.
    assert!(
        want.last()
            .unwrap()
            .contains("CAST(customer_id AS Utf8View)"),
        "{}",
        want.last().unwrap()
    );
    // One segment of transactions alone reads neither table.
    let mut lazy = mixed_ids_engine(dir.path(), true);
    let c = |c: &segql_compiler::Catalog| {
        lower_segment(c, &crate::common::resolve(c, "recency < 90d")).is_ok()
    };
    assert!(crate::common::block_on(lazy.compile(c)).unwrap());
    assert_eq!(lazy.catalog.unread(), lazy.tables.unread);
    assert!(lazy.tables.unread.customers && lazy.tables.unread.communications);
}

/// Compiling straight against a catalog with unread tables would silently leave them out:
/// debug builds stop it.
#[cfg(debug_assertions)]
#[test]
#[should_panic(expected = "an unread table asked for outside a compilation that reads it")]
fn unread_tables_are_read_only_through_engine_compile() {
    let lazy = engine_reading(true);
    crate::common::resolve(&lazy.catalog, "city = \"Kyiv\"");
}

/// With integer transaction ids, whether ids stay integers depends on every table: all are
/// read when the engine opens.
#[test]
fn integer_transaction_ids_read_every_table_at_once() {
    let dir = tempfile::tempdir().unwrap();
    crate::common::write(
        dir.path(),
        "tx.csv",
        "customer_id,ts,amount\n1,2024-01-01,5\n",
    );
    crate::common::write(dir.path(), "cust.csv", "customer_id,city\nc1,Kyiv\n");
    let path = |f: &str| dir.path().join(f).display().to_string();
    let project = Project::from_paths(&path("tx.csv"), Some(&path("cust.csv")), None, None);
    let engine = crate::common::block_on(Engine::open(
        project,
        EngineOptions {
            tables_when_needed: true,
            as_of: chrono::NaiveDate::from_ymd_opt(2024, 12, 31),
            ..Default::default()
        },
        true,
    ))
    .unwrap();
    assert!(!engine.tables.unread.any());
    assert!(engine.catalog.customers().is_some());
}

#[test]
fn all_segments_of_a_file_share_one_aggregate() {
    let engine = engine();
    let program = program();
    let segs: Vec<_> = program
        .segments
        .iter()
        .map(|s| resolve_segment(&program, &engine.catalog, &s.def.name.name).unwrap())
        .collect();
    let q = lower_memberships(&engine.catalog, &segs).unwrap();
    let opt = engine.optimize(&q.sorted().unwrap()).unwrap();
    assert_eq!(
        aggregates(&q.sorted().unwrap()),
        (1, 1),
        "{}",
        opt.display_indent()
    );
    // The others merge duplicate ids of the customers table and count messages.
    assert_eq!(
        count_nodes(&opt, "Aggregate"),
        4,
        "{}",
        opt.display_indent()
    );
    insta::assert_snapshot!(opt.display_indent().to_string());
}

#[test]
fn windowed_segment_scans_only_its_widest_window() {
    let engine = engine();
    let pred = crate::common::resolve(
        &engine.catalog,
        "frequency within 30d >= 2 and monetary within 90d > 500 and bought category \"Coffee\" within 2w",
    );
    let plan = lower_segment(&engine.catalog, &pred)
        .unwrap()
        .sorted()
        .unwrap();
    let text = format!(
        "Logical plan:\n{}\n\nOptimized plan:\n{}",
        plan.display_indent(),
        optimized(&engine, &plan)
    );
    // The 90-day window bounds the scan: 2026-10-31 - 90 days.
    assert!(text.contains("2026-08-02"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn example_segment_members() {
    let engine = engine();
    let program = program();
    let mut out = String::new();
    for s in &program.segments {
        let name = &s.def.name.name;
        let seg = resolve_segment(&program, &engine.catalog, name).unwrap();
        let plan = lower_segment(&engine.catalog, &seg.pred)
            .unwrap()
            .sorted()
            .unwrap();
        let batches = crate::common::block_on(engine.collect(plan)).unwrap();
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        // Keep the golden file readable: the first 15 rows and the count.
        let mut shown = Vec::new();
        let mut left = 15;
        for b in &batches {
            if left == 0 {
                break;
            }
            let n = b.num_rows().min(left);
            shown.push(b.slice(0, n));
            left -= n;
        }
        let table = if shown.is_empty() {
            "(none)".to_string()
        } else {
            pretty_format_batches(&shown).unwrap().to_string()
        };
        out.push_str(&format!("## {name}: {rows} members\n{table}\n\n"));
    }
    insta::assert_snapshot!(out);
}

/// A condition on attributes alone drops other customers' lines before the roll-up, by a
/// semi join; every hash join collects its build side (per-customer rows) instead of
/// repartitioning millions of lines by customer; the customers file is read once.
#[test]
fn attribute_conditions_filter_lines_through_a_collected_semi_join() {
    let engine = engine();
    let pred = crate::common::resolve(&engine.catalog, "city = \"Kyiv\" and frequency >= 3");
    let plan = lower_segment(&engine.catalog, &pred).unwrap().plan;
    let logical = plan.display_indent().to_string();
    assert!(
        logical.contains("RightSemi Join: __keys0.customer_id = customer_id"),
        "{logical}"
    );
    assert_plans_with(&engine, "segql_collect_build_side");
    let physical = crate::common::block_on(engine.physical_plan(&plan)).unwrap();
    let joins: Vec<&str> = physical
        .lines()
        .filter(|l| l.contains("HashJoinExec"))
        .collect();
    assert!(joins.iter().any(|l| l.contains("Semi")), "{physical}");
    assert!(
        joins.iter().all(|l| l.contains("mode=CollectLeft")),
        "{physical}"
    );
    // The customers CSV, scanned for the key set and for the attributes, is read once
    // (`runtime/src/physical/read_once.rs`).
    assert_eq!(physical.matches("ReadOnceExec").count(), 2, "{physical}");
    assert!(!physical.contains("customers.csv]]"), "{physical}");
}

/// `recency < d` narrows the scan to the last `d` days' buyers only when the window covers at
/// most a quarter of the dates the Parquet statistics span (two years in the example): a key
/// set of most customers would cost a probe of every line and keep nearly all of them.
#[test]
fn recent_buyers_narrow_the_scan_only_when_the_window_is_short() {
    let engine = engine();
    let dates = engine
        .catalog
        .facts
        .dates
        .expect("the example's Parquet statistics");
    let span = (dates.1.min(engine.catalog.as_of) - dates.0).num_days() + 1;
    let keyed = |days: i64| {
        let text = format!("recency < {days}d and monetary > 100");
        let pred = crate::common::resolve(&engine.catalog, &text);
        let plan = lower_segment(&engine.catalog, &pred).unwrap().plan;
        plan.display_indent().to_string().contains("__keys0")
    };
    assert!(keyed(30));
    assert!(keyed(span / 4));
    assert!(!keyed(span / 4 + 1));
    assert!(!keyed(540));
}

/// Ranks of customers who all bought in the ranking's window (no condition can hold without
/// purchases) take one global order, sorted in parallel and merged; where customers without
/// purchases are in the base, the active ones are ranked apart, by a partition key.
#[test]
fn ranks_partition_by_activity_only_where_inactive_customers_are_in_the_base() {
    let engine = engine();
    let physical = |text: &str| {
        let pred = crate::common::resolve(&engine.catalog, text);
        let plan = lower_segment(&engine.catalog, &pred).unwrap().plan;
        crate::common::block_on(engine.physical_plan(&plan)).unwrap()
    };
    let windows = |plan: &str| -> Vec<String> {
        plan.lines()
            .filter(|l| l.contains("WindowAggExec"))
            .map(str::to_string)
            .collect()
    };
    let global = physical("rfm_segment = at_risk");
    let w = windows(&global);
    assert_eq!(w.len(), 3, "{global}");
    assert!(w.iter().all(|l| !l.contains("PARTITION BY")), "{global}");
    assert!(
        global.contains("SortPreservingMergeExec"),
        "the global order is merged from parallel sorts: {global}"
    );
    // `not` can hold for customers without purchases: they are in the base, unranked.
    let apart = physical("not rfm_segment = at_risk");
    let w = windows(&apart);
    assert_eq!(w.len(), 3, "{apart}");
    assert!(w.iter().all(|l| l.contains("PARTITION BY")), "{apart}");
}

/// The receipt roll-up hashes the lines by customer once: the lines are rolled up into
/// receipts and the receipts into customers where they are, with no partial aggregation of
/// receipts and no second repartition (`runtime/src/physical/roll_up.rs`).
#[test]
fn the_receipt_roll_up_hashes_lines_by_customer_once() {
    let engine = engine();
    let pred = crate::common::resolve(&engine.catalog, "frequency >= 3 and monetary > 100");
    let plan = lower_segment(&engine.catalog, &pred).unwrap().plan;
    let physical = crate::common::block_on(engine.physical_plan(&plan)).unwrap();
    assert_plans_with(&engine, "segql_roll_up_by_customer");
    let lines: Vec<&str> = physical.lines().map(str::trim_start).collect();
    let at = |prefix: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix}: {physical}"))
    };
    let by_customer = at("AggregateExec: mode=SinglePartitioned, gby=[customer_id@");
    let receipts = at("AggregateExec: mode=FinalPartitioned, gby=[customer_id@");
    let hashed = at("RepartitionExec: partitioning=Hash([customer_id@0], 2)");
    assert!(by_customer < receipts && receipts < hashed, "{physical}");
    // Partial aggregations show as run aggregations (`runtime/src/physical/collapse_runs.rs`).
    assert!(
        !lines.iter().any(
            |l| (l.starts_with("AggregateExec: mode=Partial, gby=[customer_id@")
                || l.starts_with("CollapseRunsExec: gby=[customer_id@"))
                && !l.contains("receipt_id")
        ),
        "no partial aggregation of receipts: {physical}"
    );
}

/// The members of the inline expression `text` as `engine` evaluates it.
fn members_of(engine: &Engine, text: &str) -> std::collections::BTreeSet<String> {
    let pred = crate::common::resolve(&engine.catalog, text);
    let plan = lower_segment(&engine.catalog, &pred)
        .unwrap()
        .sorted()
        .unwrap();
    crate::common::block_on(crate::common::ids(engine, plan))
}

/// The example's engine as of `as_of`.
fn engine_as_of(as_of: chrono::NaiveDate) -> Engine {
    crate::common::block_on(crate::common::open(
        Project::discover(Some(&crate::common::example_dir())).unwrap(),
        as_of,
    ))
}

/// True when two of `conditions` hold: an `or` of every pair.
fn any_two(conditions: &[String]) -> String {
    let mut pairs = Vec::new();
    for (i, a) in conditions.iter().enumerate() {
        for b in &conditions[i + 1..] {
            pairs.push(format!("({a} and {b})"));
        }
    }
    pairs.join(" or ")
}

/// `bought DIMENSION "VALUE" within WINDOW` for each value.
fn bought_each(dimension: &str, values: &[String], window: &str) -> Vec<String> {
    values
        .iter()
        .map(|v| format!("bought {dimension} \"{v}\" within {window}"))
        .collect()
}

/// Distinct counts against the longer conditions that say the same with `bought`: two of
/// the partners (categories, OKKO's stores) bought from. The example maps `receipt_id`, so
/// with `frequency` beside them they go through grouping sets of the receipt roll-up.
#[test]
fn distinct_counts_agree_with_pairs_of_bought() {
    let engine = engine();
    let base = members_of(&engine, "frequency >= 0 or not frequency >= 0").len();
    let texts = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let partners = texts(&["OKKO", "Silpo", "Furshet", "ALLO", "Aroma Kava"]);
    // The demo's categories (`generator/src/lib.rs`).
    let categories = texts(&[
        "Fuel",
        "Car Wash",
        "Snacks",
        "Coffee",
        "Dairy",
        "Bakery",
        "Produce",
        "Meat",
        "Beverages",
        "Household",
        "Sweets",
        "Phones",
        "Laptops",
        "Accessories",
        "TV & Audio",
        "Pastry",
    ]);
    // A partner's stores are named by partner, city and number.
    let okko_stores: Vec<String> = [
        "Kyiv",
        "Lviv",
        "Odesa",
        "Kharkiv",
        "Dnipro",
        "Vinnytsia",
        "Zaporizhzhia",
    ]
    .iter()
    .flat_map(|c| (1..=3).map(move |n| format!("OKKO {c} {n}")))
    .collect();
    let two_partners = any_two(&bought_each("partner", &partners, "365d"));
    let cases = [
        (
            "partners within 365d >= 2".to_string(),
            two_partners.clone(),
        ),
        (
            "partners within 365d >= 2 and frequency within 90d >= 3".to_string(),
            format!("({two_partners}) and frequency within 90d >= 3"),
        ),
        (
            "partners at (\"Silpo\", \"Furshet\") within 90d = 2".to_string(),
            "bought partner \"Silpo\" within 90d and bought partner \"Furshet\" within 90d"
                .to_string(),
        ),
        (
            "categories within 90d >= 2".to_string(),
            any_two(&bought_each("category", &categories, "90d")),
        ),
        (
            "not categories within 90d >= 2 and activity within 90d >= 0.05".to_string(),
            format!(
                "not ({}) and activity within 90d >= 0.05",
                any_two(&bought_each("category", &categories, "90d"))
            ),
        ),
        (
            "stores at \"OKKO\" within 1y >= 2".to_string(),
            any_two(&bought_each("store", &okko_stores, "1y")),
        ),
    ];
    for (short, long) in &cases {
        let got = members_of(&engine, short);
        assert_eq!(got, members_of(&engine, long), "{short}");
        assert!(
            !got.is_empty() && got.len() < base,
            "{short}: {} of {base}",
            got.len()
        );
    }
}

/// `products` against SQL over the example's files, with DataFusion's own `COUNT(DISTINCT)`.
#[test]
fn products_agree_with_sql_over_the_example_data() {
    let engine = engine();
    // As of 2026-10-31: the last 30 days are after 2026-10-01.
    let cases = [
        (
            "products within 30d >= 4",
            "SELECT customer_id FROM t WHERE ts > DATE '2026-10-01' AND ts <= DATE '2026-10-31' \
             AND customer_id <> '' GROUP BY customer_id HAVING count(DISTINCT product) >= 4",
        ),
        (
            "products >= 20 and frequency >= 10",
            "SELECT customer_id FROM t WHERE ts <= DATE '2026-10-31' AND customer_id <> '' \
             GROUP BY customer_id \
             HAVING count(DISTINCT product) >= 20 AND count(DISTINCT receipt_id) >= 10",
        ),
    ];
    for (text, sql) in cases {
        let got = members_of(&engine, text);
        assert!(!got.is_empty(), "{text}");
        assert_eq!(got, sql_values(&engine, sql), "{text}");
    }
}

/// Values of the first column of `sql` over the example's transactions (table `t`), as text,
/// computed by DataFusion alone.
fn sql_values(engine: &Engine, sql: &str) -> std::collections::BTreeSet<String> {
    use segql_runtime::datafusion::prelude::{ParquetReadOptions, SessionContext};
    crate::common::block_on(async {
        let ctx = SessionContext::new();
        // Every Parquet file of the directory, as the project's `data/*.parquet`.
        let path = format!("{}/", crate::common::example_dir().join("data").display());
        ctx.register_parquet("t", &path, ParquetReadOptions::default())
            .await
            .unwrap();
        let plan = ctx.sql(sql).await.unwrap().into_optimized_plan().unwrap();
        crate::common::ids(engine, plan).await
    })
}

/// A window from the first purchase holds what the window ending on its last day holds, as
/// of that day: replayed with another as-of date for the customers whose first purchase (at
/// the scope) was on one day, for the latest such days (windows reaching past the as-of date
/// among them). For new customers the window is still open: the nudge is `frequency < 2`.
#[test]
fn windows_from_the_first_purchase_replay_as_of_their_last_day() {
    let later = engine();
    let day = |d: &str| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap();
    let first_days = |at: &str| -> Vec<String> {
        let days = sql_values(
            &later,
            &format!(
                "SELECT DISTINCT first FROM (SELECT min(ts) AS first FROM t {at} GROUP BY customer_id)"
            ),
        );
        days.into_iter().rev().take(24).collect()
    };
    let (mut customers, mut returned) = (0, 0);
    for (at, days, cases) in [
        (
            "",
            first_days(""),
            &[
                (
                    "frequency within 30d of first_purchase >= 2",
                    "frequency within 30d >= 2",
                ),
                (
                    "monetary within 30d of first_purchase > 1000",
                    "monetary within 30d > 1000",
                ),
                (
                    "partners within 30d of first_purchase >= 2",
                    "partners within 30d >= 2",
                ),
            ][..],
        ),
        // At a scope, the window starts at the first purchase there.
        (
            " at \"Silpo\"",
            first_days("WHERE partner = 'Silpo'"),
            &[(
                "frequency at \"Silpo\" within 4w of first_purchase >= 2",
                "frequency at \"Silpo\" within 4w >= 2",
            )][..],
        ),
    ] {
        assert!(days.len() > 10, "{days:?}");
        for d in &days {
            let cohort = format!("first_purchase{at} = {d}");
            let window = if at.is_empty() { 30 } else { 28 };
            let then = engine_as_of(day(d) + chrono::Duration::days(window - 1));
            for (from_first, replay) in cases {
                let got = members_of(&later, &format!("{cohort} and {from_first}"));
                let want = members_of(&then, &format!("{cohort} and {replay}"));
                assert_eq!(got, want, "{cohort} and {from_first}");
                if at.is_empty() && from_first.starts_with("frequency") {
                    customers += members_of(&later, &cohort).len();
                    returned += got.len();
                }
            }
        }
    }
    assert!(
        returned > 0 && returned < customers,
        "{returned} of {customers}"
    );
    let nudge = members_of(
        &later,
        "lifecycle = new and frequency within 30d of first_purchase < 2",
    );
    assert!(!nudge.is_empty());
    assert_eq!(
        nudge,
        members_of(&later, "lifecycle = new and frequency < 2")
    );
}

/// Distinct counts and windows from the first purchase keep the shape of every plan: one scan
/// of transactions and one aggregation by customer, after one roll-up (grouping sets when
/// distinct values are counted beside receipts) and one window function per partner scope
/// for the first purchases.
#[test]
fn new_measures_plan_to_one_scan_and_one_aggregate() {
    let engine = engine();
    let mut out = String::new();
    for (text, sets, windows) in [
        ("partners within 365d >= 2", false, 0),
        (
            "partners within 365d >= 2 and frequency within 90d >= 3",
            true,
            0,
        ),
        (
            "lifecycle = new and frequency within 30d of first_purchase < 2",
            false,
            1,
        ),
        (
            "categories at \"Silpo\" within 30d of first_purchase >= 3 \
             and activity within 30d of first_purchase > 0.1 and stores within 1y >= 2",
            true,
            1,
        ),
    ] {
        let pred = crate::common::resolve(&engine.catalog, text);
        let plan = lower_segment(&engine.catalog, &pred)
            .unwrap()
            .sorted()
            .unwrap();
        let opt = engine.optimize(&plan).unwrap();
        let shown = opt.display_indent().to_string();
        let lines = |p: &str| shown.lines().filter(|l| l.contains(p)).count();
        assert_eq!(lines("TableScan"), 1, "{text}:\n{shown}");
        assert_eq!(
            lines("Aggregate: groupBy=[[customer_id]]"),
            1,
            "{text}:\n{shown}"
        );
        assert_eq!(
            lines("GROUPING SETS"),
            usize::from(sets),
            "{text}:\n{shown}"
        );
        assert_eq!(lines("WindowAggr"), windows, "{text}:\n{shown}");
        assert!(count_nodes(&opt, "Aggregate") <= 2, "{text}:\n{shown}");
        out.push_str(&format!("## {text}\n{shown}\n\n"));
    }
    insta::assert_snapshot!(out);
}

/// The names of every node of a physical plan.
fn node_names(
    plan: &std::sync::Arc<dyn segql_runtime::datafusion::physical_plan::ExecutionPlan>,
) -> Vec<String> {
    let mut names = vec![plan.name().to_string()];
    for child in plan.children() {
        names.extend(node_names(child));
    }
    names
}

/// In portable mode the physical plans hold no node of segql's own and no segql rule is
/// configured, and the members are those of normal mode.
#[test]
fn portable_plans_have_only_datafusion_nodes_and_the_same_members() {
    use segql_runtime::physical::SEGQL_NODES;
    let open = |portable: bool| {
        crate::common::block_on(Engine::open(
            Project::discover(Some(&crate::common::example_dir())).unwrap(),
            EngineOptions {
                target_partitions: Some(2),
                portable,
                ..Default::default()
            },
            true,
        ))
        .unwrap()
    };
    let (normal, portable) = (open(false), open(true));
    let rules = |e: &Engine| -> Vec<String> {
        e.context()
            .state()
            .physical_optimizers()
            .iter()
            .map(|r| r.name().to_string())
            .filter(|n| n.starts_with("segql_"))
            .collect()
    };
    assert_eq!(rules(&normal).len(), 3);
    assert!(rules(&portable).is_empty(), "{:?}", rules(&portable));
    let mut segql_nodes_in_normal = 0;
    for text in [
        "city = \"Kyiv\" and frequency >= 3",
        "frequency >= 3 and monetary > 100",
        "rfm_segment = at_risk",
        "lifecycle = at_risk and bought partner \"OKKO\" within 90d",
        "not (recency < 60d or city = \"Lviv\")",
    ] {
        let physical = |e: &Engine| {
            let pred = crate::common::resolve(&e.catalog, text);
            let plan = lower_segment(&e.catalog, &pred).unwrap().plan;
            crate::common::block_on(e.physical(&plan)).unwrap()
        };
        let names = node_names(&physical(&portable));
        for n in SEGQL_NODES {
            assert!(!names.iter().any(|x| x == n), "{text}: {n} in {names:?}");
        }
        segql_nodes_in_normal += node_names(&physical(&normal))
            .iter()
            .filter(|n| SEGQL_NODES.contains(&n.as_str()))
            .count();
        assert_eq!(
            members_of(&portable, text),
            members_of(&normal, text),
            "{text}"
        );
    }
    assert!(
        segql_nodes_in_normal > 0,
        "normal mode plans with segql's nodes"
    );
}

/// `EngineOptions::disabled_rules` switches rules off by name; an unknown name is a usage
/// error before anything is read.
#[test]
fn rules_named_in_the_options_are_off_and_unknown_names_are_refused() {
    use segql_runtime::physical::Rule;
    let open = |disabled: &[&str]| {
        crate::common::block_on(Engine::open(
            Project::discover(Some(&crate::common::example_dir())).unwrap(),
            EngineOptions {
                target_partitions: Some(2),
                disabled_rules: disabled.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            },
            true,
        ))
        .map_err(Box::new)
    };
    let engine = open(&["collect_build_side", "segql_read_once"]).unwrap();
    assert!(!engine.rules().is_on(Rule::CollectBuildSide));
    assert!(!engine.rules().is_on(Rule::ReadOnce));
    assert!(engine.rules().is_on(Rule::CollapseRuns));
    let state = engine.context().state();
    let names: Vec<&str> = state
        .physical_optimizers()
        .iter()
        .map(|r| r.name())
        .collect();
    assert!(!names.contains(&"segql_collect_build_side"), "{names:?}");
    assert!(names.contains(&"segql_roll_up_by_customer"), "{names:?}");
    let Err(e) = open(&["no_such_rule"]) else {
        panic!("an unknown rule name opens an engine")
    };
    match *e {
        segql_runtime::RuntimeError::Usage { message, .. } => {
            assert!(message.contains("no_such_rule"), "{message}")
        }
        other => panic!("not a usage error: {other:?}"),
    }
}
