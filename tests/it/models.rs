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
    for (name, values) in &expected {
        for (row, want) in rows.iter().zip(values) {
            let cell = &row[*name];
            match want {
                None => assert_eq!(cell, "", "{name} of {}", row["customer_id"]),
                Some(w) => {
                    let got: f64 = cell.parse().unwrap_or_else(|_| panic!("{name}: {cell}"));
                    assert!(
                        (got - w).abs() < 1e-9,
                        "{name} of {}: {got} vs {w}",
                        row["customer_id"]
                    );
                }
            }
        }
    }
    // The text attribute is no feature; the order of columns is the feature set's.
    assert!(!names.contains(&"attr_city"));
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
    assert!(!d.join("models").exists());

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
