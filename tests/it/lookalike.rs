//! `lookalike(SEGMENT, N)` end to end on a small project with planted groups: the plan's
//! audience against a direct computation from the features file (written here, from the
//! formulas of docs/features.md), a planted group found from a part of it, the recall
//! `segql lookalike check` reports, shares, and bad input refused.

use crate::common::{Gen, segql_in as segql, stderr, succeeded as ok, write};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const SEGMENTS: &str = "\
segment coffee_kyiv = bought category \"coffee\" at least 3 times and city = \"Kyiv\"
segment coffee_lovers = bought category \"coffee\" at least 3 times
segment tiny = city = \"Nowhere\" and bought category \"coffee\"
segment twice = lookalike(coffee_kyiv, 10)
";

/// 300 customers in three planted groups of 100 (weekly small coffee, fortnightly fuel,
/// monthly large groceries), in four cities at random, and 10 customers without purchases.
/// Returns each customer's group (coffee = 0).
fn planted(d: &Path) -> BTreeMap<String, usize> {
    write(
        d,
        "segql.toml",
        "[project]\nname = \"look\"\nas_of = \"2024-06-30\"\n\n\
         [transactions]\npath = \"tx.csv\"\n\n[customers]\npath = \"customers.csv\"\n",
    );
    write(d, "segments.seg", SEGMENTS);
    let start = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    let mut g = Gen(0x2545_F491_4F6C_DD1D);
    let mut tx = String::from("customer_id,ts,amount,partner,category\n");
    let mut customers = String::from("customer_id,age,city\n");
    let mut groups = BTreeMap::new();
    let cities = ["Kyiv", "Lviv", "Odesa", "Dnipro"];
    for i in 0..310 {
        let id = format!("c{i:03}");
        let city = cities[(g.next() * 4.0) as usize % 4];
        customers.push_str(&format!("{id},{},{city}\n", g.around(40.0, 15.0).round()));
        if i >= 300 {
            continue;
        }
        let group = i % 3;
        groups.insert(id.clone(), group);
        let (gap, count, amount, partner, category) = match group {
            0 => (7.0, 20, 5.0, "Cafe", "coffee"),
            1 => (14.0, 10, 60.0, "FuelCo", "fuel"),
            _ => (30.0, 5, 120.0, "Grocer", "food"),
        };
        let mut day = g.around(10.0, 8.0);
        for _ in 0..count {
            let date = start + chrono::Duration::days(day.round() as i64);
            tx.push_str(&format!(
                "{id},{date},{:.2},{partner},{category}\n",
                g.around(amount, amount * 0.3)
            ));
            day += g.around(gap, gap * 0.3);
        }
        // Everyone buys a coffee now and then; coffee lovers sometimes fuel.
        if group != 0 && g.next() < 0.3 {
            tx.push_str(&format!("{id},2024-02-10,4.50,Cafe,coffee\n"));
        }
        if group == 0 && g.next() < 0.3 {
            tx.push_str(&format!("{id},2024-03-10,55.00,FuelCo,fuel\n"));
        }
    }
    write(d, "tx.csv", tx);
    write(d, "customers.csv", customers);
    groups
}

/// The ids of a CSV output's `customer_id` column, in order.
fn ids(csv: &str) -> Vec<String> {
    csv.lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect()
}

fn members(d: &Path, expr: &str) -> Vec<String> {
    ids(&ok(&segql(
        d,
        &["run", "segments.seg", "-e", expr, "--format", "csv"],
    )))
}

/// The look-alike computed directly from `segql features`' file, as docs/features.md
/// writes it: transform (ln(1 + x) for money and counts), standardise over every customer
/// with a purchase (missing: z = 0), the seeds' mean and spread of z per feature, the
/// distance Σ ((z - mean) / max(spread, 0.25))², candidates nearest first, ties by id.
fn direct(d: &Path, seeds: &BTreeSet<String>) -> Vec<(String, f64)> {
    ok(&segql(d, &["features", "--output", "f.csv"]));
    let text = std::fs::read_to_string(d.join("f.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let logged = |name: &str| {
        name.starts_with("frequency") || name.starts_with("monetary") || name == "avg_check"
    };
    let rows: Vec<(String, Vec<Option<f64>>)> = lines
        .map(|l| {
            let mut cells = l.split(',');
            let id = cells.next().unwrap().to_string();
            let xs = cells
                .zip(&header[1..])
                .map(|(c, name)| {
                    c.parse::<f64>().ok().map(|x| {
                        if logged(name) {
                            if x > 0.0 { (1.0 + x).ln() } else { 0.0 }
                        } else {
                            x
                        }
                    })
                })
                .collect();
            (id, xs)
        })
        .collect();
    let k = header.len() - 1;
    let mut z = vec![vec![0.0; k]; rows.len()];
    for j in 0..k {
        let xs: Vec<f64> = rows.iter().filter_map(|r| r.1[j]).collect();
        let m = xs.iter().sum::<f64>() / xs.len() as f64;
        let sd = (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / xs.len() as f64).sqrt();
        for (zi, r) in z.iter_mut().zip(&rows) {
            zi[j] = match r.1[j] {
                Some(x) if sd > 0.0 => (x - m) / sd,
                _ => 0.0,
            };
        }
    }
    let seed_rows: Vec<usize> = (0..rows.len())
        .filter(|i| seeds.contains(&rows[*i].0))
        .collect();
    let centre: Vec<(f64, f64)> = (0..k)
        .map(|j| {
            let xs: Vec<f64> = seed_rows.iter().map(|i| z[*i][j]).collect();
            let m = xs.iter().sum::<f64>() / xs.len() as f64;
            let sd = (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / xs.len() as f64).sqrt();
            (m, sd.max(0.25))
        })
        .collect();
    let mut out: Vec<(String, f64)> = (0..rows.len())
        .filter(|i| !seeds.contains(&rows[*i].0))
        .map(|i| {
            let dist = (0..k)
                .map(|j| ((z[i][j] - centre[j].0) / centre[j].1).powi(2))
                .sum();
            (rows[i].0.clone(), dist)
        })
        .collect();
    out.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    out
}

#[test]
fn the_plans_lookalike_is_the_direct_computations_and_finds_the_planted_group() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let groups = planted(d);
    let seeds: BTreeSet<String> = members(d, "coffee_kyiv").into_iter().collect();
    assert!(seeds.len() >= 15, "{} seeds", seeds.len());
    let want = direct(d, &seeds);
    for n in [10usize, 40] {
        let got = members(d, &format!("lookalike(coffee_kyiv, {n})"));
        assert_eq!(got.len(), n);
        // The same customers, but for a tie at the edge within rounding.
        let edge = want[n - 1].1;
        let expected: BTreeSet<&String> = want[..n].iter().map(|(id, _)| id).collect();
        for id in &got {
            if !expected.contains(id) {
                let dist = want.iter().find(|(w, _)| w == id).unwrap().1;
                assert!((dist - edge).abs() < 1e-9, "{id} at {dist}, edge {edge}");
            }
            assert!(!seeds.contains(id), "{id} is a seed");
        }
    }
    // Coffee lovers of other cities are the nearest: the planted group outside the seeds.
    let others = groups.values().filter(|g| **g == 0).count() - seeds.len();
    let got = members(d, &format!("lookalike(coffee_kyiv, {others})"));
    let planted = got.iter().filter(|id| groups.get(*id) == Some(&0)).count();
    assert!(
        planted as f64 >= 0.9 * others as f64,
        "{planted} of {others} planted"
    );
    // A share: ceil(10% of the candidates), the customers with a purchase outside the seeds.
    let got = members(d, "lookalike(coffee_kyiv, 10%)");
    assert_eq!(got.len(), (want.len() * 10).div_ceil(100));
    // Customers without purchases are never in one; a segment can name it.
    let all = members(d, "lookalike(coffee_kyiv, 100%)");
    assert_eq!(all.len(), want.len());
    assert!(!all.iter().any(|id| id.as_str() >= "c300"));
    assert_eq!(members(d, "twice").len(), 10);
    let none = members(d, "not lookalike(coffee_kyiv, 100%) and not coffee_kyiv");
    assert_eq!(none.len(), 10, "only the customers without purchases");
}

#[test]
fn the_check_reports_the_recall_of_hidden_members() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    planted(d);
    let out = ok(&segql(d, &["lookalike", "check", "coffee_lovers"]));
    // The first row: the look-alike as large as the hidden members.
    let header = out.lines().next().unwrap();
    assert!(
        header.starts_with("coffee_lovers: 100 members with a purchase as of 2024-06-30"),
        "{out}"
    );
    let row: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("top"))
        .nth(1)
        .unwrap()
        .split_whitespace()
        .collect();
    let (top, found): (usize, usize) = (row[0].parse().unwrap(), row[1].parse().unwrap());
    assert!(top > 5, "{out}");
    assert!(found as f64 >= 0.8 * top as f64, "{out}");
    let recall: f64 = row[2].trim_end_matches('%').parse().unwrap();
    let random: f64 = row[3].trim_end_matches('%').parse().unwrap();
    assert!(recall > 5.0 * random, "{out}");
    // Sizes asked for, and the same answer every time.
    let again = ok(&segql(
        d,
        &[
            "lookalike",
            "check",
            "coffee_lovers",
            "--top",
            "5",
            "--top",
            "50",
        ],
    ));
    assert_eq!(
        again.lines().filter(|l| l.contains('%')).count(),
        2 + 1,
        "{again}"
    );
    assert_eq!(out, ok(&segql(d, &["lookalike", "check", "coffee_lovers"])));
}

#[test]
fn bad_lookalikes_are_refused_with_a_span() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    planted(d);
    for (expr, says) in [
        ("lookalike(coffee_kyyv, 10)", "did you mean `coffee_kyiv`?"),
        (
            "lookalike(coffee_kyiv, 0)",
            "a look-alike of 0 customers is nobody",
        ),
        ("lookalike(coffee_kyiv, 0%)", "a share is a percentage"),
        ("lookalike(twice, 10)", "`twice` uses `lookalike` itself"),
    ] {
        let o = segql(d, &["run", "segments.seg", "-e", expr]);
        assert!(!o.status.success(), "{expr}");
        let err = stderr(&o);
        assert!(err.contains(says), "{expr}: {err}");
        assert!(
            err.contains('╭') || err.contains("-->") || err.contains('│'),
            "{expr}: no span: {err}"
        );
    }
    let o = segql(d, &["lookalike", "check", "tiny"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("too few to hide"), "{}", stderr(&o));
    let o = segql(
        d,
        &["lookalike", "check", "coffee_lovers", "--hide", "100%"],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--hide 100%"), "{}", stderr(&o));
}

/// The REPL compiles outside `Engine::compile`: a look-alike there is prepared first, in a
/// typed condition, `:report`, and `:explain` and `:export` after `:as-of` (a new engine).
#[test]
fn the_repl_answers_look_alikes_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let example = crate::common::example_dir();
    let files = example.join("segments/lookalikes.seg");
    let script = "\
lookalike(lapsed_valuable, 40)
:as-of 2026-09-30
:explain
:export like.csv
:report r.csv
:quit
";
    let (out, err, success) = crate::repl::repl_in(&example, &[files.to_str().unwrap()], script, d);
    assert!(success, "{err}");
    assert!(!out.contains("not computed yet"), "{out}");
    assert!(out.contains("40 members ("), "{out}");
    assert!(out.contains("__la_key"), "{out}");
    let exported = std::fs::read_to_string(d.join("like.csv")).unwrap();
    assert_eq!(exported.lines().count(), 41, "{exported}");
    let report = std::fs::read_to_string(d.join("r.csv")).unwrap();
    assert!(report.contains("like_lapsed_valuable"), "{report}");
}

/// A count past the largest 64-bit integer is everyone, not nobody.
#[test]
fn a_huge_count_is_every_candidate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    planted(d);
    let all = members(d, "lookalike(coffee_kyiv, 100%)");
    let huge = members(d, "lookalike(coffee_kyiv, 18446744073709551615)");
    assert_eq!(huge, all);
}

/// `explain` says what a look-alike compares.
#[test]
fn explain_names_the_look_alike_and_its_features() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    planted(d);
    let out = ok(&segql(
        d,
        &[
            "explain",
            "segments.seg",
            "-e",
            "lookalike(coffee_kyiv, 12.5%)",
        ],
    ));
    let features = ok(&segql(d, &["features", "--format", "csv"]));
    let n = features.lines().next().unwrap().split(',').count() - 1;
    assert!(
        out.contains(&format!(
            "lookalike(coffee_kyiv, 12.5%): the candidates nearest to the segment's members as of 2024-06-30 over {n} features (feature set v{}",
            segql_compiler::models::FEATURE_SET_VERSION
        )),
        "{out}"
    );
}
