//! Response scores, end to end on small projects with a campaign snapshot: a planted response
//! (customers who buy often respond more) is found on the held-out fifth (AUC, a lift table
//! that rises) and a random one is not; `score(NAME)`, `uplift(NAME)` and `top ... by
//! score(NAME)` equal the model's probability computed here from `segql features`; the same
//! data gives the same file bytes; every bad input is refused with nothing written.

use crate::common::{Gen, csv_rows, segql_in as segql, stderr, stdout, succeeded as ok, write};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

fn fails(o: &Output) -> String {
    assert!(!o.status.success(), "succeeded: {}", stdout(o));
    stderr(o)
}

/// The data ends on 2024-06-30; the campaign's snapshot is of 2024-06-01, its response any
/// purchase in the 14 days after (06-02 to 06-15).
const PROJECT: &str = "[project]\nname = \"shop\"\nas_of = \"2024-06-30\"\n\n\
    [transactions]\npath = \"tx.csv\"\n\n[customers]\npath = \"customers.csv\"\n";

const SEGMENTS: &str = "campaign promo = frequency >= 1 holdout 30% respond within 14d\n\
    campaign everyone = frequency >= 1 respond within 14d\n";

/// `n` customers with 1 to 30 purchases from January to May 2024 and a random age; a
/// purchase in the response window for those `responds(purchases, draw)` picks. Writes the
/// project and snapshots both campaigns as of 2024-06-01.
fn project(
    d: &Path,
    n: usize,
    responds: &dyn Fn(&str, usize, f64) -> bool,
) -> BTreeMap<String, bool> {
    write(d, "segql.toml", PROJECT);
    write(d, "segs.seg", SEGMENTS);
    let start = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    let mut g = Gen(0x2545_F491_4F6C_DD1D);
    let mut tx = String::from("customer_id,ts,amount,partner,category\n");
    let mut customers = String::from("customer_id,age\n");
    let mut responded = BTreeMap::new();
    for i in 0..n {
        let id = format!("c{i:04}");
        customers.push_str(&format!("{id},{}\n", 20 + (g.next() * 50.0) as u32));
        let purchases = 1 + (g.next() * 30.0) as usize;
        for _ in 0..purchases {
            let day = (g.next() * 150.0) as i64;
            let (partner, category) = if g.next() < 0.5 {
                ("A", "fuel")
            } else {
                ("B", "food")
            };
            tx.push_str(&format!(
                "{id},{},{:.2},{partner},{category}\n",
                start + chrono::Duration::days(day),
                10.0 + g.next() * 90.0
            ));
        }
        let r = responds(&id, purchases, g.next());
        if r {
            let day = chrono::NaiveDate::from_ymd_opt(2024, 6, 2).unwrap()
                + chrono::Duration::days((g.next() * 14.0) as i64);
            tx.push_str(&format!("{id},{day},25.00,A,fuel\n"));
        }
        responded.insert(id, r);
    }
    write(d, "tx.csv", tx);
    write(d, "customers.csv", customers);
    for campaign in ["promo", "everyone"] {
        snapshot(d, campaign, "2024-06-01");
    }
    responded
}

/// Snapshots `campaign` of segs.seg as of `date`.
fn snapshot(d: &Path, campaign: &str, date: &str) {
    let args = [
        "run",
        "segs.seg",
        "--segment",
        campaign,
        "--snapshot",
        "--as-of",
        date,
    ];
    ok(&segql(d, &args));
}

/// Frequent buyers respond: P = 1 / (1 + exp(4 - 0.15 × purchases)), from 2% for one
/// purchase to 62% for thirty.
fn planted(purchases: usize, draw: f64) -> bool {
    draw < 1.0 / (1.0 + (4.0 - 0.15 * purchases as f64).exp())
}

/// The model's probability of each customer's features (`segql features` as of the data's
/// date), computed here from the model file: log1p or identity, (x - mean) / std, a missing
/// value 0; then 1 / (1 + exp(-(b0 + Σ b_j z_j))).
fn scores_by_hand(d: &Path, model: &serde_json::Value, logit: &str) -> BTreeMap<String, f64> {
    ok(&segql(d, &["features", "--output", "features.csv"]));
    let rows = csv_rows(&std::fs::read_to_string(d.join("features.csv")).unwrap());
    let feats = model["features"].as_array().unwrap();
    let coef: Vec<f64> = model[logit]["coefficients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    let b0 = model[logit]["intercept"].as_f64().unwrap();
    rows.iter()
        .map(|r| {
            let mut eta = b0;
            for (f, b) in feats.iter().zip(&coef) {
                let cell = &r[f["name"].as_str().unwrap()];
                let z = if cell.is_empty() {
                    0.0
                } else {
                    let x: f64 = cell.parse().unwrap();
                    let t = match f["transform"].as_str().unwrap() {
                        "log1p" if x > 0.0 => (1.0 + x).ln(),
                        "log1p" => 0.0,
                        _ => x,
                    };
                    (t - f["mean"].as_f64().unwrap()) / f["std"].as_f64().unwrap()
                };
                eta += b * z;
            }
            (r["customer_id"].clone(), 1.0 / (1.0 + (-eta).exp()))
        })
        .collect()
}

fn model_of(d: &Path, name: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(d.join(format!("models/{name}.json"))).unwrap()).unwrap()
}

#[test]
fn a_planted_response_is_scored_and_the_conditions_replay_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    project(d, 1200, &|_, p, draw| planted(p, draw));
    let report = ok(&segql(
        d,
        &["score", "fit", "response", "--campaign", "promo"],
    ));
    insta::assert_snapshot!("score_fit_planted", report);
    let file = d.join("models/response.json");
    let first = std::fs::read(&file).unwrap();
    let model = model_of(d, "response");
    assert_eq!(model["kind"], "score");
    assert_eq!(model["campaign"], "promo");
    assert_eq!(model["as_of"], "2024-06-01");
    assert_eq!(
        model["feature_set"]["version"],
        segql_compiler::models::FEATURE_SET_VERSION
    );
    let auc = model["fit"]["auc"].as_f64().unwrap();
    assert!(auc >= 0.7, "AUC {auc}");
    // The lift table rises: the top three deciles respond more than the bottom three, and
    // the first decile more than the base.
    let deciles = model["fit"]["deciles"].as_array().unwrap();
    assert_eq!(deciles.len(), 10);
    let rate = |k: usize| deciles[k]["rate"].as_f64().unwrap();
    assert!(
        rate(0) + rate(1) + rate(2) > 1.5 * (rate(7) + rate(8) + rate(9)),
        "{deciles:?}"
    );
    assert!(deciles[0]["lift"].as_f64().unwrap() > 1.2, "{deciles:?}");
    // The held-out fifth is about a fifth of the test group.
    let (train, held) = (
        model["fit"]["train"]["customers"].as_u64().unwrap() as f64,
        model["fit"]["held_out"]["customers"].as_u64().unwrap() as f64,
    );
    assert!((held / (train + held) - 0.2).abs() < 0.05, "{train} {held}");
    assert!(
        model["control"].is_object(),
        "a control model for the uplift"
    );

    // The same data gives the same bytes.
    ok(&segql(
        d,
        &["score", "fit", "response", "--campaign", "promo"],
    ));
    assert_eq!(std::fs::read(&file).unwrap(), first);

    // score(NAME) as of the data's date equals the model's probability of the features.
    let by_hand = scores_by_hand(d, &model, "response");
    let out = ok(&segql(
        d,
        &["run", "-e", "score(response) >= 0", "--format", "csv"],
    ));
    let rows = csv_rows(&out);
    assert_eq!(rows.len(), by_hand.len());
    for r in &rows {
        let got: f64 = r["score_response"].parse().unwrap();
        let want = by_hand[&r["customer_id"]];
        assert!(
            (got - want).abs() < 1e-9,
            "{}: {got} vs {want}",
            r["customer_id"]
        );
    }
    let above = by_hand.values().filter(|p| **p > 0.3).count();
    let n = ok(&segql(
        d,
        &["run", "-e", "score(response) > 0.3", "--count"],
    ));
    assert_eq!(n.trim(), above.to_string());
    // uplift(NAME): the test model's probability minus the control model's.
    let control = scores_by_hand(d, &model, "control");
    let out = ok(&segql(
        d,
        &["run", "-e", "uplift(response) > -1", "--format", "csv"],
    ));
    for r in csv_rows(&out) {
        let got: f64 = r["uplift_response"].parse().unwrap();
        let id = &r["customer_id"];
        assert!((got - (by_hand[id] - control[id])).abs() < 1e-9, "{id}");
    }
    // top N / top P% by score: the highest scores (ties by id), P% of those with a purchase.
    let mut order: Vec<(&String, &f64)> = by_hand.iter().collect();
    order.sort_by(|a, b| b.1.total_cmp(a.1).then(a.0.cmp(b.0)));
    let out = ok(&segql(
        d,
        &["run", "-e", "top 50 by score(response)", "--format", "csv"],
    ));
    let mut top: Vec<String> = csv_rows(&out)
        .into_iter()
        .map(|r| r["customer_id"].clone())
        .collect();
    top.sort();
    let mut want: Vec<String> = order.iter().take(50).map(|(id, _)| (*id).clone()).collect();
    want.sort();
    assert_eq!(top, want);
    let n = ok(&segql(
        d,
        &["run", "-e", "top 10% by score(response)", "--count"],
    ));
    assert_eq!(n.trim(), by_hand.len().div_ceil(10).to_string());
    // Ranked against every buyer, whatever the other conditions let the scan skip.
    let recent: std::collections::BTreeSet<String> =
        csv_rows(&std::fs::read_to_string(d.join("features.csv")).unwrap())
            .into_iter()
            .filter(|r| r["recency"].parse::<f64>().unwrap() < 20.0)
            .map(|r| r["customer_id"].clone())
            .collect();
    let both = want.iter().filter(|id| recent.contains(*id)).count();
    assert!(both > 0 && both < 50, "{both}");
    let n = ok(&segql(
        d,
        &[
            "run",
            "-e",
            "top 50 by score(response) and recency < 20d",
            "--count",
        ],
    ));
    assert_eq!(n.trim(), both.to_string());

    let explain = ok(&segql(d, &["explain", "-e", "score(response) > 0.5"]));
    assert!(
        explain.contains("score(response): models/response.json, fitted on campaign promo's test group as of 2024-06-01 (and its control group)"),
        "{explain}"
    );
    ok(&segql(d, &["check", "segs.seg"]));
}

/// Customers who responded to an earlier campaign respond to the next: a trait no purchase
/// shows (everyone buys weekly; the earlier campaign's response is a coffee instead of the
/// fuel the others buy in its window, and no category is a feature). A score fitted on the
/// later campaign finds it through the responses to past campaigns, and only through them.
#[test]
fn a_score_learns_from_the_responses_to_past_campaigns() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let toml = format!("{PROJECT}\n[features]\ntop_categories = 0\n");
    write(d, "segql.toml", &toml);
    write(
        d,
        "segs.seg",
        "campaign first = frequency >= 1 respond bought category \"coffee\" within 14d\n\
         campaign second = frequency >= 1 respond within 14d\n",
    );
    let start = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    let day = |m: u32, d: u32| chrono::NaiveDate::from_ymd_opt(2024, m, d).unwrap();
    let mut g = Gen(0x9E37_79B9_7F4A_7C15);
    let mut tx = String::from("customer_id,ts,amount,partner,category\n");
    let mut customers = String::from("customer_id,age\n");
    for i in 0..1000 {
        let id = format!("c{i:04}");
        customers.push_str(&format!("{id},{}\n", 20 + (g.next() * 50.0) as u32));
        let responsive = g.next() < 0.4;
        // Weekly fuel from January to May, none in either campaign's window.
        let offset = (g.next() * 7.0) as i64;
        for w in 0..22 {
            let ts = start + chrono::Duration::days(offset + 7 * w);
            if (ts >= day(4, 2) && ts <= day(4, 15)) || ts >= day(6, 1) {
                continue;
            }
            tx.push_str(&format!("{id},{ts},{:.2},A,fuel\n", 20.0 + g.next() * 40.0));
        }
        // `first` (sent on 04-01): a coffee on 04-05 is a response, fuel is not.
        let coffee = g.next() < if responsive { 0.95 } else { 0.05 };
        let category = if coffee { "coffee" } else { "fuel" };
        tx.push_str(&format!("{id},{},30.00,A,{category}\n", day(4, 5)));
        // `second` (sent on 06-01): any purchase by 06-15.
        if g.next() < if responsive { 0.8 } else { 0.05 } {
            tx.push_str(&format!("{id},{},30.00,A,fuel\n", day(6, 5)));
        }
    }
    write(d, "tx.csv", tx);
    write(d, "customers.csv", customers);
    for (campaign, date) in [("first", "2024-04-01"), ("second", "2024-06-01")] {
        snapshot(d, campaign, date);
    }
    let report = ok(&segql(d, &["score", "fit", "past", "--campaign", "second"]));
    let model = model_of(d, "past");
    // As of 06-01 `first`'s window (to 04-15) is over, `second`'s own is not.
    assert_eq!(
        model["feature_set"]["campaigns"],
        serde_json::json!([{"name": "first", "respond": "bought category \"coffee\" within 14d"}])
    );
    // Everyone was sent `first`: the count of campaigns sent is left out, and said so.
    assert_eq!(
        model["feature_set"]["omitted"],
        serde_json::json!(["campaigns_sent"])
    );
    assert!(
        report.contains("left out: `campaigns_sent`, alike for every customer fitted on"),
        "{report}"
    );
    let auc = model["fit"]["auc"].as_f64().unwrap();
    assert!(auc >= 0.8, "AUC {auc}");
    // The largest coefficient is one of the campaign features.
    let names: Vec<&str> = model["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    let coef: Vec<f64> = model["response"]["coefficients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap().abs())
        .collect();
    let top = (0..coef.len())
        .max_by(|a, b| coef[*a].total_cmp(&coef[*b]))
        .unwrap();
    assert!(
        ["campaigns_responded", "response_rate"].contains(&names[top]),
        "{names:?} {coef:?}"
    );
    // Without them, nothing the purchases show predicts the response.
    write(d, "segql.toml", format!("{toml}campaigns = false\n"));
    ok(&segql(
        d,
        &["score", "fit", "blind", "--campaign", "second"],
    ));
    let blind = model_of(d, "blind");
    assert_eq!(blind["feature_set"]["campaigns"], serde_json::json!([]));
    let auc = blind["fit"]["auc"].as_f64().unwrap();
    assert!(auc < 0.65, "AUC without the campaigns {auc}");
}

/// Frequent buyers are persuadable: sent the offer, those with 15 purchases or more respond
/// at 75%; everyone else, and the whole control group (`promo` holds 30% out by the holdout
/// bucket), at 15%. The uplift model finds them: its first fifth by predicted uplift shows
/// the planted uplift, its last none, and the fifths hold the held-out customers of both
/// groups.
#[test]
fn a_planted_uplift_shows_in_the_first_fifth() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let control = |id: &str| segql_compiler::udf::holdout_bucket("promo", id) < 3000;
    project(d, 2400, &|id, purchases, draw| {
        let p = if purchases >= 15 && !control(id) {
            0.75
        } else {
            0.15
        };
        draw < p
    });
    let report = ok(&segql(d, &["score", "fit", "up", "--campaign", "promo"]));
    assert!(
        report.contains("by predicted uplift (1: the highest)"),
        "{report}"
    );
    let model = model_of(d, "up");
    let q = model["fit"]["uplift_quintiles"].as_array().unwrap();
    assert_eq!(q.len(), 5);
    let sum = |group: &str| -> u64 {
        q.iter()
            .map(|x| x[group]["customers"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(
        sum("test"),
        model["fit"]["held_out"]["customers"].as_u64().unwrap()
    );
    assert!(sum("control") > 50, "{q:?}");
    let observed = |k: usize| q[k]["observed"].as_f64().unwrap();
    let predicted = |k: usize| q[k]["predicted"].as_f64().unwrap();
    assert!(observed(0) > 0.35, "{q:?}");
    assert!(observed(0) > observed(4) + 0.3, "{q:?}");
    assert!(predicted(0) > predicted(4), "{q:?}");
}

#[test]
fn a_random_response_scores_near_chance() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    project(d, 1200, &|_, _, draw| draw < 0.3);
    ok(&segql(d, &["score", "fit", "noise", "--campaign", "promo"]));
    let auc = model_of(d, "noise")["fit"]["auc"].as_f64().unwrap();
    assert!((auc - 0.5).abs() < 0.12, "AUC {auc}");
}

#[test]
fn bad_inputs_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    project(d, 300, &|_, p, draw| planted(p, draw));
    let models = d.join("models");
    let mut errors = String::new();
    let mut refused = |args: &[&str], says: &str| {
        let e = fails(&segql(d, args));
        assert!(e.contains(says), "{args:?}: {e}");
        assert!(!models.exists(), "{args:?} wrote a model");
        errors.push_str(&format!("$ segql {}\n{e}\n", args.join(" ")));
    };
    refused(
        &["score", "fit", "r", "--campaign", "promotion"],
        "no campaign named `promotion`",
    );
    write(
        d,
        "more.seg",
        "campaign later = frequency >= 1 holdout 10% respond within 7d\n",
    );
    refused(&["score", "fit", "r", "--campaign", "later"], "no snapshot");
    refused(
        &[
            "score",
            "fit",
            "r",
            "--campaign",
            "promo",
            "--respond",
            "bought category \"toys\" within 14d",
        ],
        "none of the",
    );
    refused(
        &[
            "score",
            "fit",
            "r",
            "--campaign",
            "promo",
            "--respond",
            "frequency within 14d >= 0",
        ],
        "every one of the",
    );
    refused(
        &[
            "score",
            "fit",
            "r",
            "--campaign",
            "promo",
            "--snapshot",
            "2024-06-20",
        ],
        "no snapshot",
    );
    refused(
        &[
            "score",
            "fit",
            "r",
            "--campaign",
            "promo",
            "--respond",
            "frequency within 60d >= 1",
        ],
        "responses are not all known yet",
    );
    // A constant feature: every customer is 40.
    let customers: String = std::iter::once("customer_id,age\n".to_string())
        .chain((0..300).map(|i| format!("c{i:04},40\n")))
        .collect();
    write(d, "customers.csv", &customers);
    refused(
        &["score", "fit", "r", "--campaign", "promo"],
        "the feature `attr_age` (attribute age) is 40 for every one of the",
    );
    insta::assert_snapshot!("score_fit_refused", errors);

    // Too few customers to hold out a fifth.
    let small = tempfile::tempdir().unwrap();
    project(small.path(), 40, &|_, p, draw| planted(p, draw));
    let e = fails(&segql(
        small.path(),
        &["score", "fit", "r", "--campaign", "promo"],
    ));
    assert!(e.contains("too few customers to hold out a fifth"), "{e}");
    assert!(!small.path().join("models").exists());
    insta::assert_snapshot!("score_fit_too_few", e);
}

#[test]
fn score_and_cluster_name_models_of_their_own_kind() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    project(d, 600, &|_, p, draw| planted(p, draw));
    ok(&segql(
        d,
        &["score", "fit", "response", "--campaign", "promo"],
    ));
    // A campaign without a control group: a score, no uplift.
    let fit = ok(&segql(
        d,
        &["score", "fit", "all_of_them", "--campaign", "everyone"],
    ));
    assert!(!fit.contains("uplift"), "{fit}");
    assert!(model_of(d, "all_of_them")["control"].is_null());
    ok(&segql(d, &["clusters", "fit", "habits", "--k", "3"]));
    let habits = std::fs::read(d.join("models/habits.json")).unwrap();
    // A score model is not written over a clusters model.
    let e = fails(&segql(
        d,
        &["score", "fit", "habits", "--campaign", "promo"],
    ));
    assert!(e.contains("is a clusters model"), "{e}");
    assert_eq!(std::fs::read(d.join("models/habits.json")).unwrap(), habits);
    // Nor over a file of the user's that is no model.
    write(d, "models/notes.json", "[\"not a model\"]\n");
    let e = fails(&segql(d, &["score", "fit", "notes", "--campaign", "promo"]));
    assert!(e.contains("models/notes.json is not a score model"), "{e}");
    assert_eq!(
        std::fs::read_to_string(d.join("models/notes.json")).unwrap(),
        "[\"not a model\"]\n"
    );
    // Nor a clusters model over a score model or a file of the user's.
    let response = std::fs::read(d.join("models/response.json")).unwrap();
    let e = fails(&segql(d, &["clusters", "fit", "response", "--k", "3"]));
    assert!(e.contains("models/response.json is a score model"), "{e}");
    assert_eq!(
        std::fs::read(d.join("models/response.json")).unwrap(),
        response
    );
    let e = fails(&segql(d, &["cluster", "fit", "notes", "--k", "3"]));
    assert!(
        e.contains("models/notes.json is not a clusters model"),
        "{e}"
    );
    std::fs::remove_file(d.join("models/notes.json")).unwrap();
    let mut errors = String::new();
    for (segment, says) in [
        ("score(habits) > 0.5", "its kind is `clusters`, not `score`"),
        (
            "cluster(response) = 1",
            "its kind is `score`, not `clusters`",
        ),
        ("uplift(all_of_them) > 0", "has no uplift"),
        ("score(respons) > 0.5", "did you mean `response`?"),
    ] {
        write(d, "bad.seg", format!("segment s = {segment}\n"));
        let e = fails(&segql(d, &["check", "bad.seg"]));
        assert!(e.contains(says), "{segment}: {e}");
        errors.push_str(&format!("$ segql check bad.seg  # {segment}\n{e}\n"));
    }
    // A model of another feature-set version.
    let text = std::fs::read_to_string(d.join("models/response.json")).unwrap();
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
    write(d, "bad.seg", "segment s = top 10% by score(old)\n");
    let e = fails(&segql(d, &["check", "bad.seg"]));
    assert!(e.contains("fitted on feature set version 0"), "{e}");
    errors.push_str(&format!(
        "$ segql check bad.seg  # top 10% by score(old)\n{e}\n"
    ));
    insta::assert_snapshot!("score_model_kinds", errors);
    // A file of version 2, before the keys version 3 added, is refused for its version.
    let mut v2: serde_json::Value = serde_json::from_str(&text).unwrap();
    v2["fit"]
        .as_object_mut()
        .unwrap()
        .remove("uplift_quintiles");
    let set = v2["feature_set"].as_object_mut().unwrap();
    set.remove("campaigns");
    set.remove("omitted");
    set.insert("version".into(), 2.into());
    write(
        d,
        "models/v2.json",
        serde_json::to_string_pretty(&v2).unwrap(),
    );
    write(d, "bad.seg", "segment s = score(v2) > 0.5\n");
    let e = fails(&segql(d, &["check", "bad.seg"]));
    assert!(e.contains("fitted on feature set version 2"), "{e}");
    std::fs::remove_file(d.join("models/v2.json")).unwrap();
    std::fs::remove_file(d.join("bad.seg")).unwrap();
    ok(&segql(
        d,
        &[
            "run",
            "-e",
            "score(all_of_them) > 0.2 and cluster(habits) = 1",
            "--count",
        ],
    ));
}
