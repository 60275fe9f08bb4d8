//! `segql kpis`: every figure against values computed by hand from a small data set with
//! receipts without a card; inflow and churn against the flows report.

use crate::common::{fixture, segql_command, stdout};
use std::collections::HashMap;

const TRANSACTIONS: &str = "customer_id,ts,amount,receipt_id,partner,quantity\n\
a,2026-09-03,10.00,r1,OKKO,1\n\
a,2026-09-03,5.00,r1,OKKO,2\n\
a,2026-10-05,20.00,r2,Silpo,1\n\
b,2026-06-01,7.00,r3,Silpo,1\n\
b,2026-10-07,30.00,r4,Silpo,3\n\
,2026-09-10,4.00,w1,OKKO,1\n\
,2026-09-10,6.00,w1,OKKO,1\n\
,2026-10-11,12.00,w2,Silpo,2\n\
,2026-10-12,8.00,,Silpo,1\n\
c,2026-10-20,50.00,r5,OKKO,5\n";

const CUSTOMERS: &str = "customer_id,signup_date,city\n\
a,2026-08-01,Kyiv\n\
b,2026-01-01,Lviv\n\
c,2026-10-15,Kyiv\n\
d,2026-09-20,Lviv\n";

fn project() -> tempfile::TempDir {
    fixture(&[
        (
            "segql.toml",
            "[transactions]\npath = \"t.csv\"\n[customers]\npath = \"c.csv\"\n",
        ),
        ("t.csv", TRANSACTIONS),
        ("c.csv", CUSTOMERS),
    ])
}

/// The report's CSV rows as maps of column to value.
fn rows(dir: &std::path::Path, args: &[&str]) -> Vec<HashMap<String, String>> {
    let o = segql_command()
        .args([
            "kpis",
            "--from",
            "2026-09-01",
            "--to",
            "2026-10-31",
            "--format",
            "csv",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", crate::common::stderr(&o));
    let text = stdout(&o);
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    lines
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split(',').map(String::from))
                .collect()
        })
        .collect()
}

fn pick(row: &HashMap<String, String>, cols: &[&str]) -> Vec<String> {
    cols.iter().map(|c| row[*c].clone()).collect()
}

#[test]
fn every_figure_equals_the_hand_computed_one() {
    let dir = project();
    let r = rows(dir.path(), &[]);
    assert_eq!(r.len(), 2);
    let cols = [
        "period",
        "members",
        "new_members",
        "active_members",
        "turnover_members",
        "turnover_all",
        "receipts_members",
        "receipts_all",
        "member_share",
        "card_penetration",
        "avg_check_members",
        "avg_check_non_members",
        "checks_per_active_member",
        "items_per_check",
        "activity_coefficient",
    ];
    // September: a bought (one receipt of two lines); one walk-in receipt of two lines; d
    // signed up on the 20th; b is known since January; c only from October 15.
    assert_eq!(
        pick(&r[0], &cols),
        [
            "2026-09", "3", "1", "1", "15.00", "25.00", "1", "2", "0.6", "0.5", "15.0", "10.0",
            "1.0", "2.5", "0.0333"
        ]
    );
    // October: a, b and c bought one receipt each; two walk-ins, one without a receipt id.
    assert_eq!(
        pick(&r[1], &cols),
        [
            "2026-10", "4", "1", "3", "100.00", "120.00", "3", "5", "0.8333", "0.6", "33.33",
            "10.0", "1.0", "2.4", "0.0323"
        ]
    );
    // Inflow and churn are the flows report's.
    let o = segql_command()
        .args([
            "flows",
            "--every",
            "month",
            "--from",
            "2026-09-01",
            "--to",
            "2026-10-31",
            "--format",
            "csv",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let flows = stdout(&o);
    for (i, line) in flows.lines().skip(1).enumerate() {
        let f: Vec<i64> = line
            .split(',')
            .skip(3)
            .map(|x| x.parse().unwrap())
            .collect();
        // active_at_start, new_in, returned, left, active_at_end, balance
        assert_eq!(r[i]["inflow"], (f[1] + f[2]).to_string(), "{flows}");
        assert_eq!(r[i]["churn"], f[3].to_string(), "{flows}");
    }
}

#[test]
fn by_partner_each_line_counts_where_it_was_bought() {
    let dir = project();
    let r = rows(dir.path(), &["--by", "partner"]);
    let cols = [
        "period",
        "partner",
        "members",
        "new_members",
        "active_members",
        "turnover_members",
        "turnover_all",
        "receipts_members",
        "receipts_all",
    ];
    let got: Vec<Vec<String>> = r.iter().map(|x| pick(x, &cols)).collect();
    assert_eq!(
        got,
        [
            ["2026-09", "OKKO", "1", "1", "1", "15.00", "25.00", "1", "2"],
            ["2026-09", "Silpo", "1", "0", "0", "0.00", "0.00", "0", "0"],
            ["2026-10", "OKKO", "2", "1", "1", "50.00", "50.00", "1", "1"],
            [
                "2026-10", "Silpo", "2", "1", "2", "50.00", "70.00", "2", "4"
            ],
        ]
    );
}

#[test]
fn by_attribute_counts_members_only() {
    let dir = project();
    let r = rows(dir.path(), &["--by", "city"]);
    let cols = [
        "period",
        "city",
        "members",
        "active_members",
        "turnover_members",
        "turnover_all",
        "card_penetration",
    ];
    let got: Vec<Vec<String>> = r.iter().map(|x| pick(x, &cols)).collect();
    assert_eq!(
        got,
        [
            ["2026-09", "Kyiv", "1", "1", "15.00", "", ""],
            ["2026-09", "Lviv", "2", "0", "0.00", "", ""],
            ["2026-10", "Kyiv", "2", "2", "70.00", "", ""],
            ["2026-10", "Lviv", "2", "1", "30.00", "", ""],
        ]
    );
}

#[test]
fn a_split_the_data_cannot_make_is_an_error() {
    let dir = project();
    for (by, says) in [
        ("store", "no `store` column"),
        ("age", "no attribute `age`"),
    ] {
        let o = segql_command()
            .args([
                "kpis",
                "--from",
                "2026-09-01",
                "--to",
                "2026-10-31",
                "--by",
                by,
            ])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1));
        assert!(
            crate::common::stderr(&o).contains(says),
            "{}",
            crate::common::stderr(&o)
        );
    }
}

#[test]
fn the_example_project_has_a_real_card_penetration() {
    let r = rows(&crate::common::example_dir(), &["--every", "quarter"]);
    assert_eq!(r.len(), 2);
    for row in &r {
        let p: f64 = row["card_penetration"].parse().unwrap();
        let share: f64 = row["member_share"].parse().unwrap();
        assert!(p > 0.8 && p < 0.99, "{row:?}");
        assert!(share > 0.9 && share < 1.0, "{row:?}");
        assert!(!row["avg_check_non_members"].is_empty(), "{row:?}");
    }
}

#[test]
fn a_segments_kpis_count_its_members_as_of_each_period_end() {
    let dir = project();
    let r = rows(dir.path(), &["-e", "city = \"Kyiv\""]);
    let cols = [
        "period",
        "members",
        "new_members",
        "active_members",
        "turnover_members",
        "turnover_all",
        "receipts_members",
        "receipts_all",
        "avg_check_non_members",
        "inflow",
    ];
    let got: Vec<Vec<String>> = r.iter().map(|x| pick(x, &cols)).collect();
    // September: a only (c signs up on October 15); October: a and c, who both bought.
    assert_eq!(
        got,
        [
            [
                "2026-09", "1", "1", "1", "15.00", "25.00", "1", "2", "10.0", ""
            ],
            [
                "2026-10", "2", "1", "2", "70.00", "120.00", "2", "5", "16.67", ""
            ],
        ]
    );
    // Each period's members are `segql run`'s as of its end.
    for (end, n) in [("2026-09-30", "1"), ("2026-10-31", "2")] {
        let o = segql_command()
            .args(["run", "-e", "city = \"Kyiv\"", "--count", "--as-of", end])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(stdout(&o).trim(), n);
    }
}
