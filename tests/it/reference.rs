//! Property tests: random data and random segments, the compiled DataFusion plan against the
//! reference evaluator (plain Rust over in-memory rows), and the partition oracle (P and
//! `not P` split the customer base exactly).

use chrono::NaiveDate;
use proptest::prelude::*;
use segql_compiler::catalog::{Ranking, RfmBins, RfmMethod, RfmSegments};
use segql_compiler::lower_segment;
use segql_compiler::reference::{self, Attr, Data, Dec, Tx};
use segql_grammar::ast::Dimension;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;

const AS_OF: (i32, u32, u32) = (2025, 6, 30);

pub(crate) fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(AS_OF.0, AS_OF.1, AS_OF.2).unwrap()
}

#[derive(Debug, Clone)]
struct GenTx {
    customer: u8,
    days_ago: i64,
    cents: i64,
    receipt: u8,
    quantity: u8,
    category: u8,
    partner: u8,
}

#[derive(Debug, Clone)]
pub(crate) struct GenData {
    txs: Vec<GenTx>,
    pub(crate) customers: Option<Vec<(u8, u8, u8, i64)>>, // (id, city, age, signup days ago)
    receipts: bool,
    messages: Vec<(u8, i64, u8)>, // (customer, days ago, channel)
    /// Transactions as Parquet in small row groups (whose statistics prove conditions true)
    /// instead of CSV.
    pub(crate) parquet: bool,
    /// Parquet amounts as float64 (`cents / 100`) instead of decimals.
    float_amounts: bool,
    /// Snapshots of campaign `promo`: (days before the as-of date, members and whether in
    /// the test group), and its response (`respond ...`).
    snapshots: Vec<(i64, Vec<(u8, bool)>)>,
    response: &'static str,
}

/// Responses of campaign `promo` in the property tests.
const RESPONSES: [&str; 4] = [
    "respond within 7d",
    "respond bought category \"Coffee\" within 14d",
    "respond spend on partner \"OKKO\" within 30d >= 100",
    "respond frequency within 10d >= 2 or monetary within 10d > 300",
];

const CATEGORIES: [&str; 3] = ["Coffee", "Tea", "Fuel"];
/// Generated categories past the three above are missing: NULL, or empty text (NULL again
/// when written to CSV).
const NO_CATEGORY: u8 = 3;
const EMPTY_CATEGORY: u8 = 4;
const PARTNERS: [&str; 3] = ["OKKO", "Silpo", "ALLO"];
const CITIES: [&str; 3] = ["Kyiv", "Lviv", "Odesa"];
const CHANNELS: [&str; 3] = ["sms", "email", "push"];

pub(crate) fn data_strategy() -> impl Strategy<Value = GenData> {
    let tx = (
        0u8..25,
        -5i64..420,
        -3000i64..60000,
        0u8..8,
        1u8..5,
        0u8..5,
        0u8..3,
    )
        .prop_map(
            |(customer, days_ago, cents, receipt, quantity, category, partner)| GenTx {
                customer,
                days_ago,
                cents,
                receipt,
                quantity,
                category,
                partner,
            },
        );
    (
        prop::collection::vec(tx, 1..120),
        prop::option::of(prop::collection::vec(
            (0u8..30, 0u8..3, 18u8..80, -60i64..900),
            1..30,
        )),
        any::<bool>(),
        prop::collection::vec((0u8..30, -3i64..120, 0u8..3), 1..60),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(mut txs, customers, receipts, messages, parquet, grouped, float_amounts)| {
                // Files written customer by customer have runs of one customer's lines, which
                // the engine pre-aggregates (`runtime/src/physical/collapse_runs.rs`).
                if grouped {
                    txs.sort_by_key(|t| t.customer);
                }
                // Repeated ids are kept: the customers table merges them.
                let customers = customers.map(|mut c| {
                    c.sort_by_key(|x| x.0);
                    c
                });
                GenData {
                    txs,
                    customers,
                    receipts,
                    messages,
                    parquet,
                    float_amounts,
                    snapshots: vec![],
                    response: RESPONSES[0],
                }
            },
        )
}

fn window() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        (1u32..400).prop_map(|d| format!(" within {d}d")),
        (1u32..20).prop_map(|w| format!(" within {w}w")),
        (1u32..13).prop_map(|m| format!(" within {m}m")),
        Just(" within 1y".to_string()),
    ]
}

/// A window ending at the as-of date, or from the first purchase on, or none.
fn any_window() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => window(),
        1 => (1u32..400).prop_map(|d| format!(" within {d}d of first_purchase")),
        1 => (1u32..20).prop_map(|w| format!(" within {w}w of first_purchase")),
        1 => (1u32..13).prop_map(|m| format!(" within {m}m of first_purchase")),
    ]
}

fn op() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("<"),
        Just("<="),
        Just(">"),
        Just(">="),
        Just("="),
        Just("!=")
    ]
}

fn money() -> impl Strategy<Value = String> {
    prop_oneof![
        (0i64..2000).prop_map(|v| v.to_string()),
        (-100i64..200000).prop_map(|c| format!("{}.{:02}", c / 100, (c % 100).abs())),
    ]
}

/// Distinct counts and windows from the first purchase: also in [`leaf`], and on their own,
/// with what shares the receipt roll-up with them, in
/// `distinct_counts_and_windows_from_the_first_purchase_match_the_reference`.
fn new_leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        // Distinct values, windowed and scoped like every metric.
        (any_window(), op(), 0u32..4).prop_map(|(w, o, n)| format!("partners{w} {o} {n}")),
        (any_window(), op(), 0u32..5).prop_map(|(w, o, n)| format!("categories{w} {o} {n}")),
        (0usize..3, any_window(), op(), 0u32..4)
            .prop_map(|(a, w, o, n)| format!("categories at \"{}\"{w} {o} {n}", PARTNERS[a])),
        (0usize..3, 0usize..3, any_window(), op(), 0u32..3).prop_map(|(a, b, w, o, n)| format!(
            "partners at (\"{}\", \"{}\"){w} {o} {n}",
            PARTNERS[a], PARTNERS[b]
        )),
        (1u32..6, window()).prop_map(|(n, w)| format!("top {n} by categories{w}")),
        (op(), 0u32..101).prop_map(|(o, p)| format!("partners within 1y percentile {o} {p}")),
        // The new customer's second purchase.
        (1u32..60, 1u32..4).prop_map(|(d, n)| format!(
            "lifecycle = new and frequency within {d}d of first_purchase < {n}"
        )),
        (1u32..60, op(), 0u32..30)
            .prop_map(|(w, o, x)| format!("activity within {w}d of first_purchase {o} 0.{x:02}")),
        (any_window(), op(), 0u32..8).prop_map(|(w, o, n)| format!("frequency{w} {o} {n}")),
        (0usize..3, any_window(), op(), 0u32..5)
            .prop_map(|(a, w, o, n)| format!("frequency at \"{}\"{w} {o} {n}", PARTNERS[a])),
        (any_window(), op(), money()).prop_map(|(w, o, m)| format!("avg_check{w} {o} {m}")),
        (0usize..3, prop::option::of(1u32..4), any_window()).prop_map(|(c, n, w)| {
            let n = n
                .map(|n| format!(" at least {n} times"))
                .unwrap_or_default();
            format!("bought category \"{}\"{n}{w}", CATEGORIES[c])
        }),
    ]
}

fn leaf() -> impl Strategy<Value = String> {
    let date = (0i64..500).prop_map(|d| {
        (as_of() - chrono::Duration::days(d))
            .format("%Y-%m-%d")
            .to_string()
    });
    prop_oneof![
        (window(), op(), 0u32..400).prop_map(|(w, o, d)| format!("recency{w} {o} {d}d")),
        (any_window(), op(), 0u32..8).prop_map(|(w, o, n)| format!("frequency{w} {o} {n}")),
        (any_window(), op(), money()).prop_map(|(w, o, m)| format!("monetary{w} {o} {m}")),
        (any_window(), op(), money()).prop_map(|(w, o, m)| format!("avg_check{w} {o} {m}")),
        (window(), op(), 0u32..500).prop_map(|(w, o, d)| format!("tenure{w} {o} {d}d")),
        (window(), op(), date.clone()).prop_map(|(w, o, d)| format!("first_purchase{w} {o} {d}")),
        (window(), op(), date.clone()).prop_map(|(w, o, d)| format!("last_purchase{w} {o} {d}")),
        (any_window(), op(), 0u32..20).prop_map(|(w, o, n)| format!("items{w} {o} {n}")),
        (0usize..3, prop::option::of(1u32..4), any_window()).prop_map(|(c, n, w)| {
            let n = n
                .map(|n| format!(" at least {n} times"))
                .unwrap_or_default();
            format!("bought category \"{}\"{n}{w}", CATEGORIES[c])
        }),
        (0usize..3, 0usize..3, window()).prop_map(|(a, b, w)| format!(
            "bought partner (\"{}\", \"{}\"){w}",
            PARTNERS[a], PARTNERS[b]
        )),
        (0usize..3, any_window(), op(), money())
            .prop_map(|(c, w, o, m)| format!("spend on category \"{}\"{w} {o} {m}", CATEGORIES[c])),
        (window(), money(), money())
            .prop_map(|(w, a, b)| format!("monetary{w} between {a} and {b}")),
        (0u32..200, 0u32..400).prop_map(|(a, b)| format!("recency not between {a}d and {b}d")),
        (0usize..3, window(), op(), 0u32..200)
            .prop_map(|(a, w, o, d)| format!("recency at \"{}\"{w} {o} {d}d", PARTNERS[a])),
        (0usize..3, 0usize..3, any_window(), op(), 0u32..5).prop_map(|(a, b, w, o, n)| format!(
            "frequency at (\"{}\", \"{}\"){w} {o} {n}",
            PARTNERS[a], PARTNERS[b]
        )),
        new_leaf(),
        (0usize..3, any_window(), op(), money())
            .prop_map(|(a, w, o, m)| format!("avg_check at \"{}\"{w} {o} {m}", PARTNERS[a])),
        (0usize..3, 1u32..60).prop_map(|(c, d)| format!("contacted({}, {d}d)", CHANNELS[c])),
        (1u32..60).prop_map(|d| format!("contacted({d}d)")),
        (window(), op(), 0u32..4).prop_map(|(w, o, n)| format!("contacts{w} {o} {n}")),
        any_window().prop_map(|w| format!("redeemed{w}")),
        (1u32..60, op(), 0u32..30)
            .prop_map(|(w, o, x)| format!("activity within {w}d {o} 0.{x:02}")),
        (0usize..3, 1u32..30, op())
            .prop_map(|(a, w, o)| format!("activity at \"{}\" within {w}w {o} 0.1", PARTNERS[a])),
        (1u32..8, window()).prop_map(|(n, w)| format!("top {n} by monetary{w}")),
        (1u32..100, window()).prop_map(|(p, w)| format!("top {p}% by frequency{w}")),
        (0usize..3, 1u32..60)
            .prop_map(|(a, p)| format!("top {p}.5% by recency at \"{}\"", PARTNERS[a])),
        (window(), op(), 0u32..101).prop_map(|(w, o, p)| format!("monetary{w} percentile {o} {p}")),
        (op(), 0u32..101).prop_map(|(o, p)| format!("last_purchase percentile {o} {p}")),
        (any_window(), op(), -20i32..200)
            .prop_map(|(w, o, n)| format!("points_balance{w} {o} {n}")),
        (window(), op(), 0u32..100).prop_map(|(w, o, n)| format!("points_earned{w} {o} {n}")),
        (0usize..3, window(), op(), 0u32..3)
            .prop_map(|(c, w, o, n)| format!("contacts by {}{w} {o} {n}", CHANNELS[c])),
        (0usize..3, 0usize..6).prop_map(|(a, s)| format!(
            "lifecycle at \"{}\" = {}",
            PARTNERS[a],
            ["prospect", "new", "active", "at_risk", "churned", "lost"][s]
        )),
        (op(), 1u32..6).prop_map(|(o, n)| format!("rfm.r {o} {n}")),
        (op(), 1u32..6).prop_map(|(o, n)| format!("rfm_f {o} {n}")),
        (op(), 1u32..6).prop_map(|(o, n)| format!("rfm.m {o} {n}")),
        (1u32..6, 1u32..6, 1u32..6).prop_map(|(r, f, m)| format!("rfm = \"{r}{f}{m}\"")),
        (0usize..11)
            .prop_map(|i| format!("rfm_segment = {}", segql_compiler::ir::RFM_SEGMENTS[i].0)),
        (0usize..3).prop_map(|i| format!("abc = {}", ["A", "B", "C"][i])),
        (0usize..3).prop_map(|i| format!("abc != {}", ["A", "B", "C"][i])),
        (0usize..3, 0usize..3).prop_map(|(p, i)| format!(
            "abc at \"{}\" = {}",
            PARTNERS[p],
            ["A", "B", "C"][i]
        )),
        prop_oneof![
            Just("lifecycle = new"),
            Just("lifecycle = active"),
            Just("lifecycle = at_risk"),
            Just("lifecycle != churned"),
            Just("lifecycle in (lost, prospect)"),
            Just("lifecycle in (at_risk, churned)"),
            Just("lifecycle at \"OKKO\" in (churned, at_risk)"),
            Just("lifecycle = churned"),
            Just("lifecycle not in (new, active)"),
        ]
        .prop_map(str::to_string),
    ]
}

/// Names of the segments [`ranking_strategy`] configures.
const RFM_NAMES: [&str; 3] = ["gold", "silver", "bronze"];

/// RFM settings: a method, bins of some measures (increasing thresholds, which may leave
/// scores empty), and with `custom_segments` segments of random codes (some codes in none).
fn ranking_strategy(custom_segments: bool) -> impl Strategy<Value = Ranking> {
    let increasing = |lo: u64, hi: u64| {
        prop::collection::btree_set(lo..hi, 4).prop_map(|s| {
            let v: Vec<u64> = s.into_iter().collect();
            [v[0], v[1], v[2], v[3]]
        })
    };
    (
        prop_oneof![Just(RfmMethod::Quintile), Just(RfmMethod::Rank)],
        prop::option::weighted(0.3, increasing(0, 420)),
        prop::option::weighted(0.3, increasing(0, 9)),
        prop::option::weighted(0.3, increasing(0, 120_000)),
        prop::collection::vec(0usize..RFM_NAMES.len() + 1, 125),
    )
        .prop_map(move |(method, recency, frequency, cents, owners)| {
            let mut r = Ranking {
                rfm_method: method,
                rfm_bins: RfmBins {
                    recency,
                    frequency,
                    monetary: cents.map(|t| t.map(|c| cents_text(c as i64))),
                },
                ..Ranking::default()
            };
            if custom_segments {
                let codes: Vec<u16> = (1..=5u16)
                    .flat_map(|r| {
                        (1..=5u16).flat_map(move |f| (1..=5u16).map(move |m| r * 100 + f * 10 + m))
                    })
                    .collect();
                let table = RFM_NAMES
                    .iter()
                    .enumerate()
                    .map(|(i, n)| {
                        let mine = codes
                            .iter()
                            .zip(&owners)
                            .filter(|(_, o)| **o == i)
                            .map(|(c, _)| *c)
                            .collect();
                        (n.to_string(), mine)
                    })
                    .collect();
                r.rfm_segments = RfmSegments::new(table).unwrap();
            }
            r
        })
}

/// Conditions on RFM values, the segments named from `names`.
fn rfm_expr(names: &'static [&'static str]) -> impl Strategy<Value = String> {
    let name = move || (0..names.len()).prop_map(move |i| names[i]);
    let leaf = prop_oneof![
        (op(), 1u32..6).prop_map(|(o, n)| format!("rfm.r {o} {n}")),
        (op(), 1u32..6).prop_map(|(o, n)| format!("rfm_f {o} {n}")),
        (op(), 1u32..6).prop_map(|(o, n)| format!("rfm.m {o} {n}")),
        (1u32..6, 1u32..6, 1u32..6).prop_map(|(r, f, m)| format!("rfm = \"{r}{f}{m}\"")),
        name().prop_map(|n| format!("rfm_segment = {n}")),
        name().prop_map(|n| format!("rfm_segment != {n}")),
        (name(), name()).prop_map(|(a, b)| format!("rfm_segment in ({a}, {b})")),
        (op(), money()).prop_map(|(o, m)| format!("monetary within 1y {o} {m}")),
    ];
    leaf.prop_recursive(2, 6, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} and {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} or {b})")),
            inner.prop_map(|a| format!("not ({a})")),
        ]
    })
}

fn customer_leaf() -> impl Strategy<Value = String> {
    let date = (0i64..900).prop_map(|d| {
        (as_of() - chrono::Duration::days(d))
            .format("%Y-%m-%d")
            .to_string()
    });
    prop_oneof![
        (0usize..3).prop_map(|c| format!("city = \"{}\"", CITIES[c])),
        (0usize..3, 0usize..3)
            .prop_map(|(a, b)| format!("city not in (\"{}\", \"{}\")", CITIES[a], CITIES[b])),
        (op(), 18u32..80).prop_map(|(o, a)| format!("age {o} {a}")),
        (18u32..50, 30u32..80).prop_map(|(a, b)| format!("age between {a} and {b}")),
        (op(), date).prop_map(|(o, d)| format!("signup_date {o} {d}")),
        (1u32..400).prop_map(|n| format!("birthday within {n}d")),
        (1u32..60).prop_map(|n| format!("signup anniversary within {n}d")),
    ]
}

pub(crate) fn expr(with_customers: bool) -> impl Strategy<Value = String> {
    let base = if with_customers {
        prop_oneof![3 => leaf(), 1 => customer_leaf()].boxed()
    } else {
        leaf().boxed()
    };
    base.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} and {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} or {b})")),
            inner.clone().prop_map(|a| format!("not ({a})")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("({a}) or not {b}")),
        ]
    })
}

fn cid(c: u8) -> String {
    format!("c{c:02}")
}

fn cents_text(c: i64) -> String {
    let sign = if c < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", c.abs() / 100, c.abs() % 100)
}

/// Writes the data as CSV files and the same rows in memory for the reference.
pub(crate) fn materialize(g: &GenData, dir: &std::path::Path) -> Data {
    let mut f = std::fs::File::create(dir.join("transactions.csv")).unwrap();
    let receipt_col = if g.receipts { ",receipt_id" } else { "" };
    writeln!(
        f,
        "customer_id,ts,amount,quantity,category,partner,points_earned,points_redeemed{receipt_col}"
    )
    .unwrap();
    let mut txs = Vec::new();
    for t in &g.txs {
        let ts = as_of() - chrono::Duration::days(t.days_ago);
        // Receipt 0 stands for a line exported without a receipt id.
        let receipt = format!("r{}{}", t.customer, t.receipt);
        let has_id = t.receipt != 0;
        let receipt_val = match (g.receipts, has_id) {
            (true, true) => format!(",{receipt}"),
            (true, false) => ",".to_string(),
            (false, _) => String::new(),
        };
        let earned = (t.cents / 1000).max(0);
        let redeemed = if t.quantity == 4 {
            7 + t.receipt as i64
        } else {
            0
        };
        let category = CATEGORIES.get(t.category as usize).copied();
        writeln!(
            f,
            "{},{},{},{},{},{},{earned},{redeemed}{receipt_val}",
            cid(t.customer),
            ts.format("%Y-%m-%d"),
            cents_text(t.cents),
            t.quantity,
            category.unwrap_or(""),
            PARTNERS[t.partner as usize]
        )
        .unwrap();
        let mut dims = BTreeMap::new();
        match (category, t.category) {
            (Some(c), _) => {
                dims.insert(Dimension::Category, c.to_string());
            }
            (None, EMPTY_CATEGORY) => {
                dims.insert(Dimension::Category, String::new());
            }
            (None, _) => debug_assert_eq!(t.category, NO_CATEGORY),
        }
        dims.insert(Dimension::Partner, PARTNERS[t.partner as usize].to_string());
        txs.push(Tx {
            customer_id: cid(t.customer),
            ts,
            amount: Dec {
                mantissa: t.cents as i128,
                scale: 2,
            },
            receipt_id: (g.receipts && has_id).then_some(receipt),
            quantity: Some(Dec::int(t.quantity as i128)),
            points_earned: Some(Dec::int(earned as i128)),
            points_redeemed: Some(Dec::int(redeemed as i128)),
            dims,
        });
    }
    if g.parquet {
        write_parquet(
            &txs,
            g.receipts,
            g.float_amounts,
            &dir.join("transactions.parquet"),
        );
    }
    let customers = g.customers.as_ref().map(|cs| {
        let mut f = std::fs::File::create(dir.join("customers.csv")).unwrap();
        writeln!(f, "customer_id,city,age,signup_date,birthday").unwrap();
        // Rows of one id merge into one customer, each attribute its largest value.
        let mut merged: BTreeMap<String, (&str, u8, NaiveDate, NaiveDate)> = BTreeMap::new();
        for (id, city, age, signup) in cs {
            let d = as_of() - chrono::Duration::days(*signup);
            // Birthdays near the as-of date, on 29 February and around the year end.
            let birthday = match age % 4 {
                0 => NaiveDate::from_ymd_opt(2000, 2, 29).unwrap(),
                1 => NaiveDate::from_ymd_opt(1990, 12, 31).unwrap(),
                _ => as_of() - chrono::Duration::days(365 * 30 + *signup / 3),
            };
            writeln!(
                f,
                "{},{},{},{},{}",
                cid(*id),
                CITIES[*city as usize],
                age,
                d.format("%Y-%m-%d"),
                birthday.format("%Y-%m-%d")
            )
            .unwrap();
            let row = (CITIES[*city as usize], *age, d, birthday);
            let m = merged.entry(cid(*id)).or_insert(row);
            *m = (
                m.0.max(row.0),
                m.1.max(row.1),
                m.2.max(row.2),
                m.3.max(row.3),
            );
        }
        merged
            .into_iter()
            .map(|(id, (city, age, d, birthday))| {
                let mut attrs = HashMap::new();
                attrs.insert("city".to_string(), Attr::Text(city.to_string()));
                attrs.insert("age".to_string(), Attr::Number(Dec::int(age as i128)));
                attrs.insert("signup_date".to_string(), Attr::Date(d));
                attrs.insert("birthday".to_string(), Attr::Date(birthday));
                (id, attrs)
            })
            .collect()
    });
    let mut f = std::fs::File::create(dir.join("communications.csv")).unwrap();
    writeln!(f, "customer_id,ts,channel").unwrap();
    let mut messages = Vec::new();
    for (c, days_ago, ch) in &g.messages {
        let ts = as_of() - chrono::Duration::days(*days_ago);
        writeln!(
            f,
            "{},{},{}",
            cid(*c),
            ts.format("%Y-%m-%d"),
            CHANNELS[*ch as usize]
        )
        .unwrap();
        messages.push(reference::Message {
            customer_id: cid(*c),
            ts,
            channel: CHANNELS[*ch as usize].to_string(),
        });
    }
    Data {
        transactions: txs,
        messages,
        customers,
        has_receipt: g.receipts,
        snapshots: g
            .snapshots
            .iter()
            .map(|(days_ago, rows)| reference::Snapshot {
                campaign: "promo".into(),
                as_of: as_of() - chrono::Duration::days(*days_ago),
                rows: snapshot_rows(rows),
            })
            .collect(),
    }
}

/// A snapshot's members as (id, group), one row per customer (the first draw wins).
fn snapshot_rows(rows: &[(u8, bool)]) -> Vec<(String, String)> {
    let mut seen = BTreeSet::new();
    rows.iter()
        .filter(|(c, _)| seen.insert(*c))
        .map(|(c, test)| (cid(*c), if *test { "test" } else { "control" }.to_string()))
        .collect()
}

/// The snapshots as the engine reads them: `customer_id` as text, `group`.
fn snapshot_tables(g: &GenData) -> Vec<segql_compiler::catalog::SnapshotTable> {
    use segql_runtime::datafusion::common::ScalarValue;
    use segql_runtime::datafusion::logical_expr::{LogicalPlanBuilder, lit};
    g.snapshots
        .iter()
        .filter(|(_, rows)| !rows.is_empty())
        .map(|(days_ago, rows)| {
            let values = snapshot_rows(rows)
                .into_iter()
                .map(|(id, group)| vec![lit(ScalarValue::Utf8View(Some(id))), lit(group)])
                .collect();
            let plan = LogicalPlanBuilder::values(values)
                .unwrap()
                .project(vec![
                    segql_runtime::datafusion::logical_expr::col("column1").alias("customer_id"),
                    segql_runtime::datafusion::logical_expr::col("column2").alias("group"),
                ])
                .unwrap()
                .build()
                .unwrap();
            segql_compiler::catalog::SnapshotTable {
                campaign: "promo".into(),
                as_of: as_of() - chrono::Duration::days(*days_ago),
                plan,
            }
        })
        .collect()
}

/// The transactions as Parquet, in row groups of 16 lines; amounts as decimals, or as float64
/// (`mantissa / 10^scale`, which rounds back to the mantissa).
fn write_parquet(txs: &[Tx], receipts: bool, float_amounts: bool, path: &std::path::Path) {
    use segql_runtime::datafusion::arrow::array::{
        ArrayRef, Date32Array, Decimal128Array, Float64Array, Int64Array, StringArray,
    };
    use segql_runtime::datafusion::arrow::record_batch::RecordBatch;
    use segql_runtime::datafusion::parquet::arrow::ArrowWriter;
    use segql_runtime::datafusion::parquet::file::properties::WriterProperties;
    use std::sync::Arc;
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    let text = |f: &dyn Fn(&Tx) -> Option<String>| -> ArrayRef {
        Arc::new(StringArray::from(txs.iter().map(f).collect::<Vec<_>>()))
    };
    let int = |d: &Option<Dec>| d.as_ref().map(|d| d.mantissa as i64);
    let mut columns: Vec<(&str, ArrayRef)> = vec![
        ("customer_id", text(&|t| Some(t.customer_id.clone()))),
        (
            "ts",
            Arc::new(Date32Array::from_iter_values(
                txs.iter().map(|t| (t.ts - epoch).num_days() as i32),
            )),
        ),
        (
            "amount",
            if float_amounts {
                Arc::new(Float64Array::from_iter_values(txs.iter().map(|t| {
                    t.amount.mantissa as f64 / 10f64.powi(t.amount.scale as i32)
                })))
            } else {
                Arc::new(
                    Decimal128Array::from_iter_values(txs.iter().map(|t| t.amount.mantissa))
                        .with_precision_and_scale(12, 2)
                        .unwrap(),
                )
            },
        ),
        (
            "quantity",
            Arc::new(Int64Array::from_iter(txs.iter().map(|t| int(&t.quantity)))),
        ),
        (
            "category",
            text(&|t| t.dims.get(&Dimension::Category).cloned()),
        ),
        (
            "partner",
            text(&|t| t.dims.get(&Dimension::Partner).cloned()),
        ),
        (
            "points_earned",
            Arc::new(Int64Array::from_iter(
                txs.iter().map(|t| int(&t.points_earned)),
            )),
        ),
        (
            "points_redeemed",
            Arc::new(Int64Array::from_iter(
                txs.iter().map(|t| int(&t.points_redeemed)),
            )),
        ),
    ];
    if receipts {
        columns.push(("receipt_id", text(&|t| t.receipt_id.clone())));
    }
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(16))
        .build();
    let file = std::fs::File::create(path).unwrap();
    let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

fn check(g: &GenData, text: &str) -> Result<(), TestCaseError> {
    check_with(g, text, &Ranking::default())
}

/// [`check`] with these RFM and ABC settings.
fn check_with(g: &GenData, text: &str, ranking: &Ranking) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let data = materialize(g, dir.path());
    if std::env::var_os("SEGQL_DUMP").is_some() {
        eprintln!(
            "{}",
            std::fs::read_to_string(dir.path().join("transactions.csv")).unwrap()
        );
    }
    let tx = dir.path().join(if g.parquet {
        "transactions.parquet"
    } else {
        "transactions.csv"
    });
    let cust = dir.path().join("customers.csv");
    let comms = dir.path().join("communications.csv");
    // Each case in three modes: with segql's physical rules, portable (none), and over the
    // REPL's warm copy of the data (in batches of 8 rows, so windows skip batches).
    for mode in ["normal", "portable", "warm"] {
        let portable = mode == "portable";
        crate::common::block_on(async {
            let project = segql_runtime::Project::from_paths(
                tx.to_str().unwrap(),
                g.customers.as_ref().map(|_| cust.to_str().unwrap()),
                Some(comms.to_str().unwrap()),
                None,
            );
            let mut engine = crate::common::open_portable(project, as_of(), portable).await;
            engine.catalog.snapshots = snapshot_tables(g);
            engine.catalog.ranking = ranking.clone();
            let warm_catalog = if mode == "warm" {
                let warm = segql_runtime::cache::Warm::load_in_batches(&engine, 1 << 30, 8).await;
                prop_assert!(warm.skipped.is_empty(), "{:?}", warm.skipped);
                Some(warm.catalog(&engine.catalog).unwrap())
            } else {
                None
            };
            let catalog = warm_catalog.as_ref().unwrap_or(&engine.catalog);
            let base: BTreeSet<String> = {
                let mut b: BTreeSet<String> = data
                    .transactions
                    .iter()
                    .filter(|t| t.ts <= as_of())
                    .map(|t| t.customer_id.clone())
                    .collect();
                // Customers without purchases, once they signed up.
                if let Some(c) = &data.customers {
                    b.extend(
                        c.iter()
                            .filter(|(_, a)| {
                                !matches!(a.get("signup_date"), Some(Attr::Date(d)) if *d > as_of())
                            })
                            .map(|(id, _)| id.clone()),
                    );
                }
                b
            };
            let thresholds = reference::Thresholds {
                default: catalog.lifecycle,
                partners: catalog.partner_lifecycle.clone(),
            };
            // P and not P, each compiled and checked against the reference.
            let mut members = Vec::new();
            for (label, t) in [("P", text.to_string()), ("not P", format!("not ({text})"))] {
                let defs = format!(
                    "campaign promo = frequency >= 1 holdout 20% {}\n",
                    g.response
                );
                let pred = crate::common::resolve_with(catalog, &defs, &t);
                let q = lower_segment(catalog, &pred).expect("lowers");
                let got = crate::common::ids(&engine, q.sorted().unwrap()).await;
                let want =
                    reference::evaluate(&data, &pred, as_of(), &thresholds, &catalog.ranking);
                prop_assert_eq!(
                    &got,
                    &want,
                    "{} = {} ({} mode, {:?})",
                    label,
                    t,
                    mode,
                    ranking
                );
                members.push(got);
            }
            let (p, not_p) = (&members[0], &members[1]);
            prop_assert!(
                p.is_disjoint(not_p),
                "P and not P overlap for {} ({} mode)",
                text,
                mode
            );
            let union: BTreeSet<String> = p.union(not_p).cloned().collect();
            prop_assert_eq!(
                union,
                base,
                "P and not P do not cover the base for {}",
                text
            );
            Ok(())
        })?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, max_shrink_iters: 200, .. ProptestConfig::default() })]

    /// Also with every RFM method and fixed bins (the standard segments, which `leaf` names).
    #[test]
    fn compiled_plans_match_the_reference(
        g in data_strategy(),
        e in expr(false),
        ranking in ranking_strategy(false),
    ) {
        check_with(&g, &e, &ranking)?;
    }

    /// RFM conditions under every method, bins of any measure and segments of the
    /// configuration (codes in no segment too), on data with many equal values or few.
    #[test]
    fn rfm_scores_match_the_reference_with_every_method(
        g in data_strategy(),
        (ranking, e) in ranking_strategy(true)
            .prop_flat_map(|r| { let e = rfm_expr(r.rfm_segments.names()); (Just(r), e) }),
        coarse in any::<bool>(),
    ) {
        let mut g = g;
        if coarse {
            // Amounts in steps of 100.00: customers with equal monetary.
            for t in &mut g.txs {
                t.cents = t.cents / 10_000 * 10_000;
            }
        }
        check_with(&g, &e, &ranking)?;
    }

    /// Top-level conditions that narrow the scan (`recency < d`, lapsed lifecycle stages).
    #[test]
    fn narrowed_scans_match_the_reference(
        g in data_strategy(),
        hint in prop_oneof![
            Just("lifecycle in (at_risk, churned)".to_string()),
            Just("lifecycle at \"OKKO\" = churned".to_string()),
            Just("lifecycle = at_risk".to_string()),
            (0u32..400).prop_map(|d| format!("recency < {d}d")),
        ],
        e in expr(false),
    ) {
        check(&g, &format!("{hint} and {e}"))?;
    }

    /// Top-level conditions on attributes, which drop other customers' lines before the
    /// aggregation.
    #[test]
    fn attribute_conditions_narrowing_the_scan_match_the_reference(
        g in data_strategy().prop_filter("needs customers", |g| g.customers.is_some()),
        a in customer_leaf(),
        b in customer_leaf(),
        shape in 0usize..4,
        recent in prop::option::of((0u32..3, 0u32..200)),
        e in expr(true),
    ) {
        let hint = match shape {
            0 => a,
            1 => format!("({a} or {b})"),
            2 => format!("{a} and {b}"),
            _ => format!("not ({a})"),
        };
        // With recent buyers too, the key sets are intersected before the semi join.
        let hint = match recent {
            None => hint,
            Some((0, d)) => format!("recency < {d}d and {hint}"),
            Some((p, d)) => format!("{hint} and recency at \"{}\" < {d}d", PARTNERS[p as usize]),
        };
        check(&g, &format!("{hint} and {e}"))?;
    }

    /// Distinct counts (through grouping sets of the receipt roll-up when purchases are
    /// counted too) and windows from the first purchase (a window function before it).
    #[test]
    fn distinct_counts_and_windows_from_the_first_purchase_match_the_reference(
        g in data_strategy(),
        a in new_leaf(),
        b in new_leaf(),
        c in leaf(),
        shape in 0usize..3,
    ) {
        let e = match shape {
            0 => format!("{a} and ({b} or {c})"),
            1 => format!("{a} or not ({b} and {c})"),
            _ => format!("({a}) or {b}"),
        };
        check(&g, &e)?;
    }

    /// `treated`, `held_out` and `responded` over generated snapshots (taken before, on and
    /// after days with purchases, some after the as-of date), with every kind of response.
    #[test]
    fn campaign_conditions_match_the_reference(
        g in data_strategy(),
        snaps in prop::collection::vec(
            (-10i64..90, prop::collection::vec((0u8..30, any::<bool>()), 0..20)),
            0..3,
        ),
        response in 0usize..RESPONSES.len(),
        role in 0usize..3,
        which in 0usize..3,
        days in 1u64..60,
        e in leaf(),
        shape in 0usize..3,
    ) {
        let mut g = g;
        // One snapshot per date.
        let mut dates = BTreeSet::new();
        g.snapshots = snaps
            .into_iter()
            .filter(|(d, rows)| !rows.is_empty() && dates.insert(*d))
            .collect();
        g.response = RESPONSES[response];
        let role = ["treated", "held_out", "responded"][role];
        let cond = match (which, g.snapshots.first()) {
            (1, Some((d, _))) if *d >= 0 => {
                format!("{role}(promo, {})", as_of() - chrono::Duration::days(*d))
            }
            (2, _) => format!("{role}(promo) within {days}d"),
            _ => format!("{role}(promo)"),
        };
        let text = match shape {
            0 => cond,
            1 => format!("{cond} and {e}"),
            _ => format!("{e} or not {cond}"),
        };
        check(&g, &text)?;
    }

    #[test]
    fn compiled_plans_match_the_reference_with_customers(
        g in data_strategy().prop_filter("needs customers", |g| g.customers.is_some()),
        e in expr(true),
    ) {
        check(&g, &e)?;
    }
}

/// Lines without receipt ids are purchases of their own, also next to receipts.
#[test]
fn regression_loose_lines_next_to_receipts() {
    let g = GenData {
        txs: vec![
            GenTx {
                customer: 11,
                days_ago: 0,
                cents: 0,
                receipt: 0,
                quantity: 1,
                category: 2,
                partner: 0,
            },
            GenTx {
                customer: 11,
                days_ago: 0,
                cents: 0,
                receipt: 0,
                quantity: 1,
                category: 2,
                partner: 0,
            },
            GenTx {
                customer: 11,
                days_ago: 0,
                cents: 2,
                receipt: 6,
                quantity: 4,
                category: 2,
                partner: 1,
            },
        ],
        customers: None,
        receipts: true,
        messages: vec![(14, 43, 2)],
        parquet: false,
        float_amounts: false,
        snapshots: vec![],
        response: RESPONSES[0],
    };
    check(&g, "bought category \"Fuel\" at least 3 times within 8m").unwrap();
    check(&g, "((points_earned within 10m = 47 or bought category \"Fuel\" at least 3 times within 8m)) or not tenure within 8m != 312d and recency at \"Silpo\" within 1y <= 42d").unwrap();
}

/// One line of 10.00 in category Coffee at OKKO, receipt 1, `days_ago` days before the as-of date.
fn one_line(customer: u8, days_ago: i64) -> GenTx {
    GenTx {
        customer,
        days_ago,
        cents: 1000,
        receipt: 1,
        quantity: 1,
        category: 0,
        partner: 0,
    }
}

/// Repeated customer ids merge attribute by attribute: the merged row can meet conditions on
/// two attributes that no single row meets.
#[test]
fn regression_conditions_on_attributes_of_merged_rows() {
    let g = GenData {
        txs: vec![one_line(1, 3), one_line(2, 3)],
        // Customer 1: (Lviv, 20) and (Kyiv, 40) merge into (Lviv, 40).
        customers: Some(vec![(1, 1, 20, 100), (1, 0, 40, 100), (2, 1, 50, 100)]),
        receipts: true,
        messages: vec![(1, 50, 0)],
        parquet: true,
        float_amounts: false,
        snapshots: vec![],
        response: RESPONSES[0],
    };
    check(&g, "city = \"Lviv\" and age > 30 and frequency >= 1").unwrap();
    check(&g, "city = \"Lviv\" and age > 30").unwrap();
}

/// Two `not in` lists with nothing in common, or-ed, on a missing attribute: false, not true
/// (DataFusion merges the lists into an empty one, which is true even for NULL).
#[test]
fn regression_disjoint_not_in_lists_on_a_missing_attribute() {
    let g = GenData {
        txs: vec![one_line(12, 0)],
        customers: Some(vec![(0, 0, 18, 0)]),
        receipts: false,
        messages: vec![(0, 0, 0)],
        parquet: false,
        float_amounts: false,
        snapshots: vec![],
        response: RESPONSES[0],
    };
    check(
        &g,
        "(city not in (\"Lviv\") or city not in (\"Odesa\", \"Kyiv\")) and (top 3% by frequency or contacted(30d))",
    )
    .unwrap();
}

/// Windows from the first purchase at `("ALLO", "ALLO")` and at `"ALLO"` share one window
/// function: DataFusion simplifies both to one expression and cannot plan two of them.
#[test]
fn regression_first_purchases_at_one_partner_written_twice() {
    let g = GenData {
        txs: vec![one_line(0, 0)],
        customers: None,
        receipts: false,
        messages: vec![(0, 0, 0)],
        parquet: false,
        float_amounts: false,
        snapshots: vec![],
        response: RESPONSES[0],
    };
    check(
        &g,
        "partners at (\"ALLO\", \"ALLO\") within 1d of first_purchase < 1 \
         or not frequency at \"ALLO\" within 1d of first_purchase < 1",
    )
    .unwrap();
}

/// Float amounts are exact cents whatever type they are read as: each line rounds half away
/// from zero to 2 places (`round(v * 100)`, as Arrow casts), then sums are exact. Parquet
/// files whose statistics bound every sum read them as `Decimal64(18, 2)`; a file with a huge
/// amount, or without statistics, as `Decimal128(38, 2)`. Every customer's monetary, average
/// check and spend are checked at their exact boundary against the reference. (CSV amounts
/// are decimal text, never floats: `1.005` there is 1.01.)
#[test]
fn float_amounts_are_exact_cents_on_every_path() {
    use segql_runtime::datafusion::arrow::datatypes::DataType;
    // (customer, amount): cents that do not round-trip, ties, returns, large totals.
    let mut lines: Vec<(u8, f64)> = vec![
        (1, 0.1),
        (1, 0.2),
        (2, 1.005),
        (2, 2.675),
        (2, 1.115),
        (3, 0.125),
        (3, -0.125),
        (3, 0.135),
        (4, 59.99),
        (4, -19.99),
        (4, 0.015),
    ];
    lines.extend((0..7).map(|_| (5, 9_999_999_999.99)));
    lines.extend((0..30).map(|i| (6, 0.01 * f64::from(i) + 0.005)));
    // The documented rounding, pinned: 1.005 lies below the tie in binary and its product
    // too; 2.675 lies below it, but its product with 100 rounds up to the tie.
    let cents = |v: f64| (v * 100.0).round() as i128;
    assert_eq!(
        (cents(1.005), cents(2.675), cents(0.125), cents(-0.125)),
        (100, 268, 13, -13)
    );
    for huge in [false, true] {
        let mut lines = lines.clone();
        if huge {
            // One amount past what Decimal64 sums can hold: the file reads as Decimal128.
            lines.push((7, 1e17));
        }
        let dir = tempfile::tempdir().unwrap();
        let txs: Vec<Tx> = lines
            .iter()
            .enumerate()
            .map(|(i, &(c, v))| Tx {
                customer_id: cid(c),
                ts: as_of() - chrono::Duration::days(i as i64 % 40),
                amount: Dec {
                    mantissa: cents(v),
                    scale: 2,
                },
                receipt_id: None,
                quantity: None,
                points_earned: None,
                points_redeemed: None,
                dims: BTreeMap::from([(Dimension::Category, "Coffee".to_string())]),
            })
            .collect();
        let parquet = dir.path().join("transactions.parquet");
        write_float_parquet(&lines, &txs, true, &parquet);
        let bare = dir.path().join("no-statistics.parquet");
        write_float_parquet(&lines, &txs, false, &bare);
        let data = Data {
            transactions: txs.clone(),
            messages: vec![],
            customers: None,
            has_receipt: false,
            snapshots: vec![],
        };
        let narrow = DataType::Decimal64(18, 2);
        let wide = DataType::Decimal128(38, 2);
        for (path, read_as) in [
            (&parquet, if huge { &wide } else { &narrow }),
            (&bare, &wide),
        ] {
            crate::common::block_on(async {
                let project =
                    segql_runtime::Project::from_paths(path.to_str().unwrap(), None, None, None);
                let engine = crate::common::open_portable(project, as_of(), false).await;
                let catalog = &engine.catalog;
                let amount = catalog
                    .transactions
                    .schema()
                    .field_with_unqualified_name("amount")
                    .unwrap()
                    .data_type()
                    .clone();
                assert_eq!(&amount, read_as, "{}", path.display());
                let thresholds = reference::Thresholds {
                    default: catalog.lifecycle,
                    partners: catalog.partner_lifecycle.clone(),
                };
                let mut totals: BTreeMap<String, (i128, i128)> = BTreeMap::new();
                for t in &txs {
                    let e = totals.entry(t.customer_id.clone()).or_default();
                    *e = (e.0 + t.amount.mantissa, e.1 + 1);
                }
                for (id, (sum, n)) in &totals {
                    let avg = Dec {
                        mantissa: sum / n,
                        scale: 2,
                    };
                    let text = |c: i128| cents_text(c as i64);
                    for value in ["monetary", "spend on category \"Coffee\""] {
                        for op in [">=", ">"] {
                            check_against_reference(
                                &engine,
                                &data,
                                &thresholds,
                                &format!("{value} {op} {}", text(*sum)),
                                id,
                            )
                            .await;
                        }
                    }
                    check_against_reference(
                        &engine,
                        &data,
                        &thresholds,
                        &format!("avg_check >= {}", text(avg.mantissa)),
                        id,
                    )
                    .await;
                }
            });
        }
    }
}

/// `text` compiled and run equals the reference, and is not empty for `witness`.
async fn check_against_reference(
    engine: &segql_runtime::Engine,
    data: &Data,
    thresholds: &reference::Thresholds,
    text: &str,
    witness: &str,
) {
    let catalog = &engine.catalog;
    let pred = crate::common::resolve(catalog, text);
    let q = lower_segment(catalog, &pred).expect("lowers");
    let got = crate::common::ids(engine, q.sorted().unwrap()).await;
    let want = reference::evaluate(data, &pred, as_of(), thresholds, &catalog.ranking);
    let amount = catalog
        .transactions
        .schema()
        .field_with_unqualified_name("amount")
        .map(|f| f.data_type().clone());
    assert_eq!(got, want, "{text} ({amount:?})");
    if text.contains(">=") {
        assert!(got.contains(witness), "{witness} meets {text}");
    }
}

/// `lines`' amounts as a float64 Parquet column beside the other columns of `txs`, with or
/// without column statistics.
fn write_float_parquet(lines: &[(u8, f64)], txs: &[Tx], statistics: bool, path: &std::path::Path) {
    use segql_runtime::datafusion::arrow::array::{
        ArrayRef, Date32Array, Float64Array, StringArray,
    };
    use segql_runtime::datafusion::arrow::record_batch::RecordBatch;
    use segql_runtime::datafusion::parquet::arrow::ArrowWriter;
    use segql_runtime::datafusion::parquet::file::properties::{
        EnabledStatistics, WriterProperties,
    };
    use std::sync::Arc;
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    let columns: Vec<(&str, ArrayRef)> = vec![
        (
            "customer_id",
            Arc::new(StringArray::from_iter_values(
                txs.iter().map(|t| t.customer_id.clone()),
            )),
        ),
        (
            "ts",
            Arc::new(Date32Array::from_iter_values(
                txs.iter().map(|t| (t.ts - epoch).num_days() as i32),
            )),
        ),
        (
            "amount",
            Arc::new(Float64Array::from_iter_values(lines.iter().map(|l| l.1))),
        ),
        (
            "category",
            Arc::new(StringArray::from_iter_values(txs.iter().map(|_| "Coffee"))),
        ),
    ];
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let props = WriterProperties::builder()
        .set_statistics_enabled(if statistics {
            EnabledStatistics::Page
        } else {
            EnabledStatistics::None
        })
        .build();
    let file = std::fs::File::create(path).unwrap();
    let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}
