//! Customer features and clusters models, end to end on small projects: the features
//! against values computed by hand, planted clusters recovered (adjusted Rand index), the
//! `cluster(NAME)` condition against the fit's own assignment, the same seed giving the same
//! file bytes, and every bad input refused with nothing written.

use crate::common::{Gen, csv_rows, segql_in as segql, stderr, succeeded as ok, write};
use std::collections::BTreeMap;
use std::path::Path;

const PROJECT: &str = "[project]\nname = \"shop\"\nas_of = \"2024-06-30\"\n\n\
    [transactions]\npath = \"tx.csv\"\n\n[customers]\npath = \"customers.csv\"\n";

/// Features of two customers, every value computed by hand from the rows below (as of
/// 2024-06-30; a window of N days holds the as-of day and the N - 1 days before).
#[test]
fn features_match_values_computed_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "segql.toml", PROJECT);
    write(
        d,
        "tx.csv",
        "customer_id,ts,amount,partner,category\n\
         c1,2024-06-29,10.00,A,fuel\n\
         c1,2024-06-15,30.00,B,food\n\
         c1,2024-01-01,60.00,A,fuel\n\
         c2,2024-03-01,100.00,B,food\n",
    );
    write(
        d,
        "customers.csv",
        "customer_id,age,city\nc1,30,Kyiv\nc2,50,Lviv\n",
    );
    ok(&segql(d, &["features", "--output", "f.csv"]));
    let rows = csv_rows(&std::fs::read_to_string(d.join("f.csv")).unwrap());
    let names: Vec<&str> = rows[0].keys().map(String::as_str).collect();
    // Categories and partners by turnover: food (130) before fuel (70), B before A.
    let expected: Vec<(&str, [Option<f64>; 2])> = vec![
        // c1: last purchase 06-29; c2: 03-01, 121 days before 06-30.
        ("recency", [Some(1.0), Some(121.0)]),
        // 30 days: 06-01..06-30; 90 days: 04-02..06-30; 365 days: all of 2024 here.
        ("frequency_30d", [Some(2.0), Some(0.0)]),
        ("frequency_90d", [Some(2.0), Some(0.0)]),
        ("frequency_365d", [Some(3.0), Some(1.0)]),
        ("frequency", [Some(3.0), Some(1.0)]),
        ("monetary_30d", [Some(40.0), Some(0.0)]),
        ("monetary_90d", [Some(40.0), Some(0.0)]),
        ("monetary_365d", [Some(100.0), Some(100.0)]),
        ("monetary", [Some(100.0), Some(100.0)]),
        // 100 / 3, at the amounts' scale.
        ("avg_check", [Some(33.33), Some(100.0)]),
        // 2024-01-01 to 2024-06-30: 181 days.
        ("tenure", [Some(181.0), Some(121.0)]),
        // (06-29 - 01-01) / (3 - 1) = 180 / 2; one purchase has no gap.
        ("mean_gap_days", [Some(90.0), None]),
        // c1 bought on Saturdays 06-29 and 06-15 and Monday 01-01; c2 on Friday 03-01.
        ("weekend_share", [Some(2.0 / 3.0), Some(0.0)]),
        ("share_category_food", [Some(0.3), Some(1.0)]),
        ("share_category_fuel", [Some(0.7), Some(0.0)]),
        ("share_partner_b", [Some(0.3), Some(1.0)]),
        ("share_partner_a", [Some(0.7), Some(0.0)]),
        ("attr_age", [Some(30.0), Some(50.0)]),
    ];
    assert_eq!(rows.len(), 2);
    assert_eq!(names.len(), expected.len() + 1, "{names:?}");
    assert_features(&rows, &expected, "");
    // The text attribute is no feature; the order of columns is the feature set's.
    assert!(!names.contains(&"attr_city"));
}

/// Each feature's value per row of a features file (`None`: missing) within 1e-9.
fn assert_features<const N: usize>(
    rows: &[BTreeMap<String, String>],
    expected: &[(&str, [Option<f64>; N])],
    when: &str,
) {
    for (name, values) in expected {
        for (row, want) in rows.iter().zip(values) {
            let cell = &row[*name];
            let at = format!("{name} of {}{when}", row["customer_id"]);
            match want {
                None => assert_eq!(cell, "", "{at}"),
                Some(w) => {
                    let got: f64 = cell.parse().unwrap_or_else(|_| panic!("{at}: {cell}"));
                    assert!((got - w).abs() < 1e-9, "{at}: {got} vs {w}");
                }
            }
        }
    }
}

/// The responses to past campaigns, computed by hand from audiences imported with known
/// groups: only test groups count, a response is the campaign's own (`respond ...`), and a
/// snapshot counts once its response window is over by the as-of date.
#[test]
fn campaign_responses_match_values_computed_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "segql.toml", PROJECT);
    write(
        d,
        "offers.seg",
        "campaign spring = frequency >= 1 respond within 14d\n\
         campaign coffee = frequency >= 1 respond bought category \"coffee\" within 7d\n\
         campaign late = frequency >= 1 respond within 30d\n",
    );
    write(
        d,
        "tx.csv",
        "customer_id,ts,amount,partner,category\n\
         c1,2024-01-10,10.00,A,fuel\n\
         c1,2024-03-05,20.00,A,fuel\n\
         c1,2024-06-03,5.00,B,coffee\n\
         c2,2024-01-10,50.00,B,food\n\
         c2,2024-05-20,30.00,B,food\n\
         c2,2024-06-05,10.00,B,food\n\
         c3,2024-02-01,40.00,A,fuel\n\
         c3,2024-03-10,3.00,B,coffee\n\
         c3,2024-05-10,15.00,A,fuel\n\
         c3,2024-06-20,4.00,B,coffee\n\
         c4,2024-01-05,10.00,A,fuel\n",
    );
    write(
        d,
        "customers.csv",
        "customer_id,age\nc1,30\nc2,40\nc3,50\nc4,60\n",
    );
    let audiences = [
        ("spring", "2024-03-01", "c1,test\nc2,test\nc3,control\n"),
        ("spring", "2024-05-01", "c1,test\nc2,test\nc3,test\n"),
        (
            "coffee",
            "2024-06-01",
            "c1,test\nc2,test\nc3,test\nc4,control\n",
        ),
        ("late", "2024-06-10", "c1,test\nc2,test\nc3,test\n"),
    ];
    for (campaign, date, rows) in audiences {
        write(d, "audience.csv", format!("customer_id,group\n{rows}"));
        let file = d.join("audience.csv");
        ok(&segql(
            d,
            &[
                "snapshots",
                "import",
                campaign,
                "--from",
                file.to_str().unwrap(),
                "--date",
                date,
            ],
        ));
    }
    let columns = |as_of: &str| {
        ok(&segql(
            d,
            &["features", "--as-of", as_of, "--output", "f.csv"],
        ));
        csv_rows(&std::fs::read_to_string(d.join("f.csv")).unwrap())
    };
    // As of 06-30: spring's two snapshots (windows over on 03-15 and 05-15) and coffee's
    // (06-08); late's window (to 07-10) is still open, so late is no feature.
    // c1: sent spring 03-01, spring 05-01, coffee; bought on 03-05 (spring 03-01's window
    //     03-02..03-15) and coffee on 06-03 (coffee's 06-02..06-08): 2 of 3.
    // c2: sent the same three; 05-20 is past spring 05-01's window, food is not coffee: 0.
    // c3: control of spring 03-01 (its coffee of 03-10 does not count); sent spring 05-01
    //     (bought 05-10) and coffee (nothing in 06-02..06-08): 1 of 2.
    // c4: only in coffee's control group: sent none, no rate.
    let june: Vec<(&str, [Option<f64>; 4])> = vec![
        (
            "campaigns_sent",
            [Some(3.0), Some(3.0), Some(2.0), Some(0.0)],
        ),
        (
            "campaigns_responded",
            [Some(2.0), Some(0.0), Some(1.0), Some(0.0)],
        ),
        (
            "response_rate",
            [Some(2.0 / 3.0), Some(0.0), Some(0.5), None],
        ),
    ];
    // As of 05-31: coffee was not sent yet; spring's two snapshots are over.
    let may: Vec<(&str, [Option<f64>; 4])> = vec![
        (
            "campaigns_sent",
            [Some(2.0), Some(2.0), Some(1.0), Some(0.0)],
        ),
        (
            "campaigns_responded",
            [Some(1.0), Some(0.0), Some(1.0), Some(0.0)],
        ),
        ("response_rate", [Some(0.5), Some(0.0), Some(1.0), None]),
    ];
    for (as_of, expected) in [("2024-06-30", june), ("2024-05-31", may)] {
        let rows = columns(as_of);
        assert_eq!(rows.len(), 4, "{as_of}");
        assert_features(&rows, &expected, &format!(" as of {as_of}"));
    }
    // Before any response window is over there is no such feature, nor when turned off.
    let rows = columns("2024-03-14");
    assert!(
        !rows[0].contains_key("campaigns_sent"),
        "{:?}",
        rows[0].keys()
    );
    write(
        d,
        "segql.toml",
        format!("{PROJECT}\n[features]\ncampaigns = false\n"),
    );
    let rows = columns("2024-06-30");
    assert!(
        !rows[0].contains_key("campaigns_sent"),
        "{:?}",
        rows[0].keys()
    );
    write(d, "segql.toml", PROJECT);
    // A clusters model records the campaigns it counts; without their `respond` it cannot
    // be used, and says why at the name.
    ok(&segql(d, &["clusters", "fit", "h", "--k", "2"]));
    let model: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("models/h.json")).unwrap()).unwrap();
    assert_eq!(
        model["feature_set"]["campaigns"],
        serde_json::json!([
            {"name": "coffee", "respond": "bought category \"coffee\" within 7d"},
            {"name": "spring", "respond": "any purchase within 14d"},
        ])
    );
    ok(&segql(d, &["run", "-e", "cluster(h) = 1", "--count"]));
    // Another response is another feature: the model says so rather than count it.
    let offers = std::fs::read_to_string(d.join("offers.seg")).unwrap();
    write(d, "offers.seg", offers.replace("within 14d", "within 30d"));
    let e = stderr(&segql(d, &["run", "-e", "cluster(h) = 1"]));
    assert!(
        e.contains("campaign `spring` as `respond any purchase within 14d`, and it is now `respond any purchase within 30d`: fit it again"),
        "{e}"
    );
    // A segment file that does not load is named where it matters.
    write(d, "offers.seg", &offers);
    write(d, "broken.seg", "segment x = (\n");
    let o = segql(d, &["features", "--output", "f.csv"]);
    assert!(
        stderr(&o).contains("warning: broken.seg does not load"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_file(d.join("broken.seg")).unwrap();
    write(
        d,
        "offers.seg",
        "campaign spring = frequency >= 1 respond within 14d\n",
    );
    let e = stderr(&segql(d, &["run", "-e", "cluster(h) = 1"]));
    assert!(
        e.contains("responses to campaign `coffee`, which no segment file of the project defines"),
        "{e}"
    );
}

/// Three planted groups of 40 customers: weekly small fuel purchases, monthly large grocery
/// baskets, two pharmacy purchases in winter. Returns each customer's group.
fn planted(d: &Path) -> BTreeMap<String, usize> {
    write(d, "segql.toml", PROJECT);
    let start = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    let mut g = Gen(0x9E37_79B9_7F4A_7C15);
    let mut tx = String::from("customer_id,ts,amount,partner,category\n");
    let mut customers = String::from("customer_id,age\n");
    let mut groups = BTreeMap::new();
    for i in 0..120 {
        let group = i % 3;
        let id = format!("c{i:03}");
        groups.insert(id.clone(), group);
        customers.push_str(&format!("{id},{}\n", g.around(45.0, 20.0).round()));
        let (gap, count, amount, partner, category, offset) = match group {
            0 => (7.0, 25, 40.0, "FuelCo", "fuel", 2.0),
            1 => (30.0, 6, 150.0, "Grocer", "food", 3.0),
            _ => (20.0, 2, 20.0, "Pharm", "health", 5.0),
        };
        let mut day = g.around(offset, offset);
        for _ in 0..count {
            let date = start + chrono::Duration::days(day.round() as i64);
            tx.push_str(&format!(
                "{id},{date},{:.2},{partner},{category}\n",
                g.around(amount, amount * 0.25)
            ));
            day += g.around(gap, gap * 0.15);
        }
    }
    write(d, "tx.csv", tx);
    write(d, "customers.csv", customers);
    groups
}

/// The adjusted Rand index of two labellings (Hubert and Arabie, 1985): pair counts of the
/// contingency table against their expectation under random labelling.
fn adjusted_rand_index(a: &[usize], b: &[usize]) -> f64 {
    let c2 = |n: f64| n * (n - 1.0) / 2.0;
    let mut table: BTreeMap<(usize, usize), f64> = BTreeMap::new();
    let mut rows: BTreeMap<usize, f64> = BTreeMap::new();
    let mut cols: BTreeMap<usize, f64> = BTreeMap::new();
    for (x, y) in a.iter().zip(b) {
        *table.entry((*x, *y)).or_default() += 1.0;
        *rows.entry(*x).or_default() += 1.0;
        *cols.entry(*y).or_default() += 1.0;
    }
    let index: f64 = table.values().map(|n| c2(*n)).sum();
    let sum_a: f64 = rows.values().map(|n| c2(*n)).sum();
    let sum_b: f64 = cols.values().map(|n| c2(*n)).sum();
    let expected = sum_a * sum_b / c2(a.len() as f64);
    let max = (sum_a + sum_b) / 2.0;
    (index - expected) / (max - expected)
}

#[test]
fn the_adjusted_rand_index_by_hand() {
    // Identical partitions (labels renamed): 1; the example of Hubert and Arabie's
    // definition as scikit-learn documents it: [0, 0, 1, 1] against [0, 0, 1, 2] is 0.571...
    assert_eq!(adjusted_rand_index(&[0, 0, 1, 1], &[1, 1, 0, 0]), 1.0);
    let ari = adjusted_rand_index(&[0, 0, 1, 1], &[0, 0, 1, 2]);
    assert!((ari - 0.571_428_571_428_571_4).abs() < 1e-12, "{ari}");
}

/// Each customer's cluster as the condition computes it in the plan.
fn clusters_by_condition(d: &Path, model: &str) -> BTreeMap<String, usize> {
    let out = ok(&segql(
        d,
        &[
            "run",
            "-e",
            &format!("cluster({model}) = 1 or cluster({model}) != 1"),
            "--format",
            "csv",
        ],
    ));
    csv_rows(&out)
        .into_iter()
        .map(|r| {
            let c = r[&format!("cluster_{model}")].parse().unwrap();
            (r["customer_id"].clone(), c)
        })
        .collect()
}

#[test]
fn planted_clusters_are_recovered_and_the_condition_replays_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let groups = planted(d);
    let fit = ok(&segql(d, &["clusters", "fit", "habits", "--k", "3"]));
    assert!(
        fit.contains("3 clusters of 120 customers as of 2024-06-30"),
        "{fit}"
    );
    assert!(fit.contains("cluster  1:"), "{fit}");
    let file = d.join("models/habits.json");
    let first = std::fs::read(&file).unwrap();
    let model: serde_json::Value = serde_json::from_slice(&first).unwrap();
    assert_eq!(
        model["feature_set"]["version"],
        segql_compiler::models::FEATURE_SET_VERSION
    );
    assert_eq!(model["project"], "shop");
    assert_eq!(model["clusters"].as_array().unwrap().len(), 3);

    // The plan's nearest centroid for every customer.
    let by_condition = clusters_by_condition(d, "habits");
    assert_eq!(by_condition.len(), 120);
    let planted: Vec<usize> = groups.values().copied().collect();
    let found: Vec<usize> = groups.keys().map(|id| by_condition[id]).collect();
    let ari = adjusted_rand_index(&planted, &found);
    assert!(ari >= 0.9, "adjusted Rand index {ari}");
    // The condition's members are the sizes the model file records.
    for (k, c) in model["clusters"].as_array().unwrap().iter().enumerate() {
        let n = found.iter().filter(|x| **x == k + 1).count();
        assert_eq!(c["size"].as_u64().unwrap() as usize, n, "cluster {}", k + 1);
    }
    let members = ok(&segql(
        d,
        &["run", "-e", "cluster(habits) in (1, 3)", "--count"],
    ));
    let n13 = found.iter().filter(|x| **x != 2).count();
    assert_eq!(members.trim(), n13.to_string());

    // The same seed gives the same bytes.
    ok(&segql(d, &["clusters", "fit", "habits", "--k", "3"]));
    assert_eq!(std::fs::read(&file).unwrap(), first);

    // explain names the model's file and date.
    let explain = ok(&segql(d, &["explain", "-e", "cluster(habits) = 2"]));
    assert!(
        explain
            .contains("cluster(habits): models/habits.json, fitted as of 2024-06-30, 3 clusters"),
        "{explain}"
    );

    // A sweep prints inertia and silhouette per k and writes nothing.
    std::fs::remove_file(&file).unwrap();
    let sweep = ok(&segql(d, &["clusters", "fit", "habits", "--k", "2..4"]));
    let lines: Vec<&str> = sweep
        .lines()
        .filter(|l| l.trim_start().starts_with(['2', '3', '4']))
        .collect();
    assert_eq!(lines.len(), 3, "{sweep}");
    assert!(!file.exists());
}

#[test]
fn bad_inputs_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    planted(d);
    // k larger than the customers.
    let o = segql(d, &["clusters", "fit", "habits", "--k", "500"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("k = 500 is more than the 120 customers to cluster"),
        "{}",
        stderr(&o)
    );
    insta::assert_snapshot!("model_k_too_large", String::from_utf8_lossy(&o.stderr));
    assert!(!d.join("models").exists());

    // A feature with one value for everyone: every customer 40 years old.
    let customers: String = std::iter::once("customer_id,age\n".to_string())
        .chain((0..120).map(|i| format!("c{i:03},40\n")))
        .collect();
    write(d, "customers.csv", &customers);
    let o = segql(d, &["clusters", "fit", "habits", "--k", "3"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(
            "the feature `attr_age` (attribute age) is 40 for every one of the 120 customers"
        ),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("`exclude = [\"attr_age\"]` under [features]"),
        "{}",
        stderr(&o)
    );
    assert!(!d.join("models").exists());
    // Left out as the help says, it is fitted without it and says so; a name that is no
    // feature is refused at [features], with the closest one.
    let toml = std::fs::read_to_string(d.join("segql.toml")).unwrap();
    write(
        d,
        "segql.toml",
        format!("{toml}\n[features]\nexclude = [\"attr_age\"]\n"),
    );
    let fit = ok(&segql(d, &["clusters", "fit", "habits", "--k", "3"]));
    assert!(
        fit.contains("left out by [features] exclude: `attr_age`"),
        "{fit}"
    );
    let model: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("models/habits.json")).unwrap()).unwrap();
    assert_eq!(
        model["feature_set"]["omitted"],
        serde_json::json!(["attr_age"])
    );
    ok(&segql(d, &["features", "--output", "f.csv"]));
    let rows = csv_rows(&std::fs::read_to_string(d.join("f.csv")).unwrap());
    assert!(!rows[0].contains_key("attr_age"), "{:?}", rows[0].keys());
    write(
        d,
        "segql.toml",
        format!("{toml}\n[features]\nexclude = [\"atr_age\"]\n"),
    );
    let e = stderr(&segql(d, &["features", "--output", "f.csv"]));
    assert!(
        e.contains("exclude names `atr_age`, which is not a feature of this project (did you mean `attr_age`?)"),
        "{e}"
    );
    write(d, "segql.toml", toml);
    std::fs::remove_dir_all(d.join("models")).unwrap();

    // A model of another feature-set version, of another project; an unknown model.
    planted(d);
    ok(&segql(d, &["clusters", "fit", "habits", "--k", "3"]));
    let file = d.join("models/habits.json");
    let text = std::fs::read_to_string(&file).unwrap();
    write(
        d,
        "models/old.json",
        text.replace(
            &format!(
                "\"version\": {}",
                segql_compiler::models::FEATURE_SET_VERSION
            ),
            "\"version\": 0",
        ),
    );
    write(
        d,
        "models/theirs.json",
        text.replace("\"project\": \"shop\"", "\"project\": \"other\""),
    );
    write(d, "segs.seg", "segment fuel = cluster(old) = 1\n");
    let o = segql(d, &["check", "segs.seg"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(&format!("model `old` cannot be used: models/old.json: it was fitted on feature set version 0, and this segql computes version {}", segql_compiler::models::FEATURE_SET_VERSION)),
        "{}",
        stderr(&o)
    );
    insta::assert_snapshot!(
        "model_of_another_version",
        String::from_utf8_lossy(&o.stderr)
    );
    // A file of version 2, before the responses to past campaigns, is refused for its version.
    let v2 = text
        .replace("    \"campaigns\": [],\n", "")
        .replace("    \"omitted\": [],\n", "")
        .replace(
            &format!(
                "\"version\": {}",
                segql_compiler::models::FEATURE_SET_VERSION
            ),
            "\"version\": 2",
        );
    assert!(!v2.contains("omitted"), "{v2}");
    write(d, "models/v2.json", v2);
    let o = segql(d, &["run", "-e", "cluster(v2) = 1", "--count"]);
    assert!(
        stderr(&o).contains("models/v2.json: it was fitted on feature set version 2"),
        "{}",
        stderr(&o)
    );
    let o = segql(d, &["run", "-e", "cluster(theirs) = 1", "--count"]);
    assert!(
        stderr(&o).contains("it was fitted for the project `other`, not `shop`"),
        "{}",
        stderr(&o)
    );
    let o = segql(d, &["run", "-e", "cluster(habit) = 1", "--count"]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("unknown model `habit`") && e.contains("did you mean `habits`?"),
        "{e}"
    );
    insta::assert_snapshot!("model_unknown", String::from_utf8_lossy(&o.stderr));
    // The usable model still runs beside the unusable ones.
    ok(&segql(d, &["run", "-e", "cluster(habits) = 1", "--count"]));
}

/// A cluster's number is a label of its model: a number that is not one of its clusters, or
/// an operator of quantities, is an error at the spot, not a segment of nobody.
#[test]
fn a_cluster_is_one_of_the_models_numbers_compared_as_a_label() {
    let project = crate::common::example_dir();
    let run = |expr: &str| {
        crate::common::segql_command()
            .args([
                "run",
                "--project",
                project.to_str().unwrap(),
                "-e",
                expr,
                "--count",
            ])
            .output()
            .unwrap()
    };
    let k = 5;
    for (expr, says) in [
        (
            "cluster(habits) = 9",
            format!("model `habits` has clusters 1 to {k}"),
        ),
        (
            "cluster(habits) in (1, 0)",
            format!("model `habits` has clusters 1 to {k}"),
        ),
        (
            "cluster(habits) = 1.5",
            format!("model `habits` has clusters 1 to {k}"),
        ),
        ("cluster(habits) < 3", "`<` does not apply".to_string()),
        (
            "cluster(habits) between 1 and 2",
            "`between` does not apply".to_string(),
        ),
    ] {
        let o = run(expr);
        let err = crate::common::stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{expr}: {err}");
        assert!(err.contains(&says), "{expr}: {err}");
        assert!(err.contains("segql::types::invalid_value"), "{expr}: {err}");
    }
    let o = run(&format!("cluster(habits) = {k}"));
    assert!(o.status.success(), "{}", crate::common::stderr(&o));
}
