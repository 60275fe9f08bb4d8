//! Response scores: a logistic regression of a campaign's response on the customers'
//! features, fitted on the test group of one snapshot (features as of the snapshot's date,
//! the response as `segql measure` counts it), judged on a held-out fifth (AUC, the lift
//! table, calibration); with a control group, a second model fitted on it for the two-model
//! uplift. Written as `models/NAME.json` of kind `score` ([`ScoreFile`]).

use super::{
    FeatureEntry, FeatureSetEntry, Features, feature_set, features, project_name, round15,
    standardise,
};
use crate::engine::Engine;
use crate::error::RuntimeError;
use crate::snapshots::SnapshotInfo;
use chrono::{Days, NaiveDate};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use segql_compiler::ir::{
    CampaignRef, CampaignRole, Const, Pred, Response, Snapshots, Value, ValueType,
};
use segql_compiler::lower::responders;
use segql_compiler::models::{Logit, Scaling, ScoreModel};
use segql_grammar::ast::CmpOp;
use segql_learn::logistic::{Logistic, LogisticOptions, auc, held_out};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// The L2 penalty λ of the fits (scikit-learn's `C = 1 / λ`).
pub const L2: f64 = 1.0;
/// The fewest customers the held-out fifth may have (two per decile).
pub const MIN_HELD_OUT: usize = 20;
/// An uplift is flagged as too small to trust with fewer responders than this in the test or
/// the control group's fitted part ...
pub const UPLIFT_MIN_RESPONDERS: usize = 50;
/// ... or fewer than this many per feature (the rule of ten events per variable).
pub const UPLIFT_RESPONDERS_PER_FEATURE: usize = 10;
/// Score deciles in the lift table.
pub const DECILES: usize = 10;

/// A score model file (every object's keys in alphabetical order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreFile {
    /// The date the features were computed as of: the snapshot's.
    pub as_of: String,
    /// The campaign whose response is modelled.
    pub campaign: String,
    /// The control group's model (the uplift's second), when the campaign had one.
    pub control: Option<LogitEntry>,
    /// The feature set's parameters and version.
    pub feature_set: FeatureSetEntry,
    /// Each feature's name and scaling, in the feature set's order.
    pub features: Vec<FeatureEntry>,
    /// How it was fitted and how well it ranks.
    pub fit: ScoreFitEntry,
    /// `score`.
    pub kind: String,
    /// The project it belongs to.
    pub project: String,
    /// The response model, fitted on the test group.
    pub response: LogitEntry,
}

/// One logistic regression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogitEntry {
    /// One per feature, in standardised units.
    pub coefficients: Vec<f64>,
    /// The intercept.
    pub intercept: f64,
}

/// Customers and responders of a part of a group.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counts {
    /// Customers.
    pub customers: usize,
    /// Of whom responded.
    pub responders: usize,
}

/// One score decile of the held-out fifth (decile 1: the highest scores).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decile {
    /// Customers.
    pub customers: usize,
    /// Its number, 1 to 10.
    pub decile: usize,
    /// Its response rate over the held-out fifth's.
    pub lift: f64,
    /// The mean score (calibration: against `rate`).
    pub mean_predicted: f64,
    /// Responders / customers.
    pub rate: f64,
    /// Responders.
    pub responders: usize,
}

/// One fifth of the held-out customers of both groups by predicted uplift (1: the highest):
/// what the uplift model promises there, and what the groups did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpliftQuintile {
    /// Its control group's customers.
    pub control: Counts,
    /// The test rate minus the control rate (none when a group has nobody in it).
    pub observed: Option<f64>,
    /// The mean predicted uplift of its customers.
    pub predicted: f64,
    /// Its number, 1 to 5.
    pub quintile: usize,
    /// Its test group's customers.
    pub test: Counts,
}

/// How a score model was fitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreFitEntry {
    /// The area under the ROC curve on the test group's held-out fifth.
    pub auc: f64,
    /// The control group's fitted part (none without a control model).
    pub control: Option<Counts>,
    /// The lift table and calibration of the held-out fifth.
    pub deciles: Vec<Decile>,
    /// The test group's held-out fifth.
    pub held_out: Counts,
    /// Newton steps of the response model.
    pub iterations: usize,
    /// The L2 penalty λ.
    pub l2: f64,
    /// The response, as written.
    pub response: String,
    /// The test group's fitted part (four fifths).
    pub train: Counts,
    /// With a control model: the held-out fifths of both groups in fifths by predicted
    /// uplift, observed against predicted (absent in files written before them).
    #[serde(default)]
    pub uplift_quintiles: Vec<UpliftQuintile>,
    /// Why the uplift is not to be trusted, when it is not.
    pub uplift_warning: Option<String>,
}

fn logit(e: &LogitEntry) -> Logit {
    Logit {
        intercept: e.intercept,
        coefficients: e.coefficients.clone(),
    }
}

impl ScoreFile {
    /// The file's text: pretty JSON, a final newline.
    pub fn to_text(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a model file serialises");
        s.push('\n');
        s
    }

    /// The model the compiler uses, checked against the feature set of this version and
    /// the project; the reason otherwise.
    pub fn model(&self, name: &str, file: &str, project: &str) -> Result<ScoreModel, String> {
        if self.kind != "score" {
            return Err(format!("its kind is `{}`, not `score`", self.kind));
        }
        let (as_of, set, scaling) = super::checked_features(
            &self.feature_set,
            &self.features,
            &self.as_of,
            project,
            &self.project,
        )?;
        let d = scaling.len();
        let good = |e: &LogitEntry| {
            e.coefficients.len() == d
                && e.intercept.is_finite()
                && e.coefficients.iter().all(|x| x.is_finite())
        };
        if !good(&self.response) {
            return Err(format!(
                "its response model must hold {d} finite coefficients and a finite intercept"
            ));
        }
        if let Some(c) = &self.control
            && !good(c)
        {
            return Err(format!(
                "its control model must hold {d} finite coefficients and a finite intercept"
            ));
        }
        Ok(ScoreModel {
            name: name.to_string(),
            file: file.to_string(),
            as_of,
            campaign: self.campaign.clone(),
            features: set,
            scaling,
            response: logit(&self.response),
            control: self.control.as_ref().map(logit),
        })
    }
}

/// What to fit.
#[derive(Debug, Clone)]
pub struct ScoreRequest {
    /// The campaign.
    pub campaign: String,
    /// Its response.
    pub response: Arc<Response>,
    /// The response as written.
    pub response_text: String,
    /// The snapshot fitted on.
    pub snapshot: SnapshotInfo,
    /// Only purchases at these partners count in the features.
    pub scope: Vec<String>,
}

/// A fitted score model and what its report shows.
#[derive(Debug, Clone)]
pub struct ScoreFit {
    /// The model file.
    pub file: ScoreFile,
    /// The held-out fifth of the control group (with a control model).
    pub control_held_out: Option<Counts>,
    /// On the held-out fifths (with a control model): the mean predicted uplift and the
    /// observed one (test rate minus control rate).
    pub held_out_uplift: Option<(f64, f64)>,
}

/// Column `i` of a batch as text.
fn texts(
    batch: &datafusion::arrow::array::RecordBatch,
    i: usize,
) -> Result<Vec<Option<String>>, RuntimeError> {
    let col = cast(batch.column(i), &DataType::Utf8)
        .map_err(|e| RuntimeError::data("reading the snapshot", e.into()))?;
    let s = col.as_string::<i32>();
    Ok((0..s.len())
        .map(|i| s.is_valid(i).then(|| s.value(i).to_string()))
        .collect())
}

fn model_error(message: String, help: &str) -> RuntimeError {
    RuntimeError::Model {
        message,
        help: Some(help.into()),
    }
}

/// One membership of a snapshot as a condition: `treated(CAMPAIGN, DATE)` or `held_out(...)`.
fn member_of(campaign: &str, taken: NaiveDate, role: CampaignRole) -> Pred {
    Pred::Cmp {
        value: Value::Campaign(CampaignRef {
            role,
            campaign: campaign.to_string(),
            snapshots: Snapshots::On(taken),
            response: None,
        }),
        ty: ValueType::Bool,
        op: CmpOp::Eq,
        rhs: Const::Bool(true),
    }
}

/// The features of the snapshot's members as of its date (the engine's date is restored).
async fn member_features(
    engine: &mut Engine,
    req: &ScoreRequest,
    taken: NaiveDate,
) -> Result<Features, RuntimeError> {
    let saved = engine.catalog.as_of;
    engine.catalog.as_of = taken;
    let members = Pred::Or(vec![
        member_of(&req.campaign, taken, CampaignRole::Treated),
        member_of(&req.campaign, taken, CampaignRole::HeldOut),
    ]);
    let result = async {
        let set = feature_set(engine, &req.scope).await?;
        features(engine, &set, Some(&members)).await
    }
    .await;
    engine.catalog.as_of = saved;
    result
}

/// The rows `rows` of `f`.
fn subset(f: &Features, rows: &[usize]) -> Features {
    let d = f.features.len();
    Features {
        set: f.set.clone(),
        features: f.features.clone(),
        ids: rows.iter().map(|i| f.ids[*i].clone()).collect(),
        values: rows
            .iter()
            .flat_map(|i| f.values[i * d..(i + 1) * d].iter().copied())
            .collect(),
    }
}

/// Rows `rows` of the features standardised by `scaling` (a missing value 0, the mean).
fn standardised(f: &Features, rows: &[usize], scaling: &[Scaling]) -> Vec<f64> {
    super::scaled(&subset(f, rows).values, scaling)
}

fn counts(rows: &[usize], y: &[bool]) -> Counts {
    Counts {
        customers: rows.len(),
        responders: rows.iter().filter(|i| y[**i]).count(),
    }
}

/// Fits a logistic regression and rounds it as the file holds it.
fn fit_logit(z: &[f64], d: usize, y: &[bool]) -> Result<(Logit, usize), RuntimeError> {
    let opts = LogisticOptions {
        l2: L2,
        ..LogisticOptions::default()
    };
    let m = Logistic::fit(z, d, y, &opts).map_err(|m| RuntimeError::Model {
        message: format!("the logistic regression cannot be fitted: {m}"),
        help: None,
    })?;
    Ok((
        Logit {
            intercept: round15(m.intercept),
            coefficients: m.coefficients.iter().map(|x| round15(*x)).collect(),
        },
        m.iterations,
    ))
}

/// The lift table of scores `p` and responses `y` (decile 1: the highest scores, ties by
/// customer id `ids`): customers split into ten parts as equal as can be.
pub fn deciles(p: &[f64], y: &[bool], ids: &[&str]) -> Vec<Decile> {
    let n = p.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|a, b| p[*b].total_cmp(&p[*a]).then(ids[*a].cmp(ids[*b])));
    let base = y.iter().filter(|v| **v).count() as f64 / n.max(1) as f64;
    (0..DECILES)
        .map(|k| {
            let part = &order[k * n / DECILES..(k + 1) * n / DECILES];
            let customers = part.len();
            let responders = part.iter().filter(|i| y[**i]).count();
            let rate = if customers > 0 {
                responders as f64 / customers as f64
            } else {
                0.0
            };
            let mean_predicted = if customers > 0 {
                part.iter().map(|i| p[*i]).sum::<f64>() / customers as f64
            } else {
                0.0
            };
            Decile {
                customers,
                decile: k + 1,
                lift: if base > 0.0 { rate / base } else { 0.0 },
                mean_predicted,
                rate,
                responders,
            }
        })
        .collect()
}

/// The number of uplift groups (`UpliftQuintile`).
pub const UPLIFT_GROUPS: usize = 5;

/// The customers `u` (predicted uplifts) of both groups (`test[i]`, responses `y`) in
/// [`UPLIFT_GROUPS`] parts by predicted uplift (highest first, ties by id), each with its
/// groups' counts, its observed uplift and its mean predicted one.
pub fn uplift_quintiles(u: &[f64], test: &[bool], y: &[bool], ids: &[&str]) -> Vec<UpliftQuintile> {
    let n = u.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|a, b| u[*b].total_cmp(&u[*a]).then(ids[*a].cmp(ids[*b])));
    (0..UPLIFT_GROUPS)
        .map(|k| {
            let part = &order[k * n / UPLIFT_GROUPS..(k + 1) * n / UPLIFT_GROUPS];
            let count = |in_test: bool| Counts {
                customers: part.iter().filter(|i| test[**i] == in_test).count(),
                responders: part
                    .iter()
                    .filter(|i| test[**i] == in_test && y[**i])
                    .count(),
            };
            let (t, c) = (count(true), count(false));
            let rate = |c: Counts| c.responders as f64 / c.customers as f64;
            UpliftQuintile {
                control: c,
                observed: (t.customers > 0 && c.customers > 0).then(|| rate(t) - rate(c)),
                predicted: if part.is_empty() {
                    0.0
                } else {
                    part.iter().map(|i| u[*i]).sum::<f64>() / part.len() as f64
                },
                quintile: k + 1,
                test: t,
            }
        })
        .collect()
}

/// Fits a score model on the request's snapshot.
/// Errors: a response window past the data, no responder or only responders in the test
/// group, a held-out fifth too small to judge the model, a constant feature.
pub async fn fit_score(engine: &mut Engine, req: &ScoreRequest) -> Result<ScoreFit, RuntimeError> {
    let snap = &req.snapshot;
    let taken = snap.file.as_of;
    let days = req.response.days;
    let end = taken
        .checked_add_days(Days::new(days))
        .unwrap_or(NaiveDate::MAX);
    let data_end = engine.catalog.as_of;
    if end > data_end {
        return Err(model_error(
            format!(
                "the response window of `{}`'s snapshot of {taken} ends on {end}, after the data ({data_end}): responses are not all known yet",
                req.campaign
            ),
            "fit once the data covers the window, or choose an older snapshot with --snapshot DATE",
        ));
    }
    let table = engine
        .catalog
        .snapshots
        .iter()
        .find(|t| t.campaign == snap.file.campaign && t.as_of == taken)
        .cloned()
        .ok_or_else(|| RuntimeError::NoSnapshot {
            message: format!("the snapshot {} was not read", snap.file.path.display()),
            help: "check the snapshot directory".into(),
        })?;
    // The members as the engine reads them, and who responded.
    let mut group: HashMap<String, bool> = HashMap::new();
    for batch in engine.collect(table.plan.clone()).await? {
        let groups = texts(&batch, 1)?;
        for (id, g) in texts(&batch, 0)?.into_iter().zip(groups) {
            if let Some(id) = id {
                group.insert(id, g.as_deref() == Some("test"));
            }
        }
    }
    let response = req.response.clone();
    let plan = engine
        .compile(|c| responders(c, &table, &response))
        .await?
        .map_err(|e| RuntimeError::data("planning the responses", e))?;
    let mut responded = HashSet::new();
    for batch in engine.collect(plan).await? {
        responded.extend(texts(&batch, 0)?.into_iter().flatten());
    }
    let f = member_features(engine, req, taken).await?;
    let y: Vec<bool> = f.ids.iter().map(|id| responded.contains(id)).collect();
    let (mut train, mut hold, mut ctrain, mut chold) = (vec![], vec![], vec![], vec![]);
    for (i, id) in f.ids.iter().enumerate() {
        let part = match (group.get(id), held_out(id)) {
            (Some(true), false) => &mut train,
            (Some(true), true) => &mut hold,
            (Some(false), false) => &mut ctrain,
            (Some(false), true) => &mut chold,
            (None, _) => continue,
        };
        part.push(i);
    }
    let test = train.len() + hold.len();
    let test_responders = train.iter().chain(&hold).filter(|i| y[**i]).count();
    if test == 0 {
        return Err(model_error(
            format!(
                "the snapshot of `{}` as of {taken} has no member in its test group",
                req.campaign
            ),
            "a score is fitted on the customers who got the offer: choose a snapshot with a test group",
        ));
    }
    if test_responders == 0 || test_responders == test {
        return Err(model_error(
            format!(
                "{} of the {test} customers of `{}`'s test group as of {taken} responded ({}): a score needs responders and customers who did not respond",
                if test_responders == 0 {
                    "none".to_string()
                } else {
                    "every one".to_string()
                },
                req.campaign,
                req.response_text
            ),
            "check the campaign's response (`respond ...`), or fit on another snapshot",
        ));
    }
    let (tc, hc) = (counts(&train, &y), counts(&hold, &y));
    if hc.customers < MIN_HELD_OUT
        || hc.responders == 0
        || hc.responders == hc.customers
        || tc.responders == 0
        || tc.responders == tc.customers
    {
        return Err(model_error(
            format!(
                "too few customers to hold out a fifth: the test group's {test} customers ({test_responders} responders) leave {} customers and {} responders to judge the score on, {} customers and {} responders to fit it on",
                hc.customers, hc.responders, tc.customers, tc.responders
            ),
            &format!(
                "the held-out fifth needs at least {MIN_HELD_OUT} customers, responders and non-responders, and so does the rest: fit on a larger campaign"
            ),
        ));
    }
    // Standardised on the fitted part of the test group, without the responses to past
    // campaigns in which all of it is alike.
    let f = f.without_alike_campaign_features(Some(&train));
    let d = f.features.len();
    let (z_train, scaling) = standardise(&subset(&f, &train)).map_err(|e| match e {
        RuntimeError::Model { message, help } => RuntimeError::Model {
            message: message.replacen(
                " customers",
                " customers of the test group's fitted part",
                1,
            ),
            help: help.map(|h| {
                h.replacen(
                    "customers who differ in it (a wider segment or an earlier --as-of)",
                    "a campaign whose customers differ in it",
                    1,
                )
            }),
        },
        e => e,
    })?;
    let y_train: Vec<bool> = train.iter().map(|i| y[*i]).collect();
    let (response, iterations) = fit_logit(&z_train, d, &y_train)?;
    let z_hold = standardised(&f, &hold, &scaling);
    let p_hold: Vec<f64> = z_hold
        .chunks(d.max(1))
        .map(|z| response.probability(z))
        .collect();
    let y_hold: Vec<bool> = hold.iter().map(|i| y[*i]).collect();
    let ids_hold: Vec<&str> = hold.iter().map(|i| f.ids[*i].as_str()).collect();
    let auc = auc(&p_hold, &y_hold).expect("the held-out fifth has both classes");
    let table = deciles(&p_hold, &y_hold, &ids_hold);
    // The control group's model, for the two-model uplift.
    let control_size = ctrain.len() + chold.len();
    let cc = counts(&ctrain, &y);
    let (mut control, mut warning, mut held_out_uplift, mut control_held_out) =
        (None, None, None, None);
    let mut quintiles = Vec::new();
    if control_size > 0 {
        if cc.responders == 0 || cc.responders == cc.customers {
            warning = Some(format!(
                "no uplift: {} of the control group's {} fitted customers responded, so no model of the control group's response can be fitted",
                if cc.responders == 0 {
                    "none"
                } else {
                    "every one"
                },
                cc.customers
            ));
        } else {
            let z = standardised(&f, &ctrain, &scaling);
            let yc: Vec<bool> = ctrain.iter().map(|i| y[*i]).collect();
            let (c, _) = fit_logit(&z, d, &yc)?;
            let least = UPLIFT_MIN_RESPONDERS.max(UPLIFT_RESPONDERS_PER_FEATURE * d);
            if tc.responders < least || cc.responders < least {
                warning = Some(format!(
                    "the uplift is too small to trust: {} responders in the test group's fitted part and {} in the control group's, fewer than {least} (at least {UPLIFT_MIN_RESPONDERS}, and {UPLIFT_RESPONDERS_PER_FEATURE} per feature for the {d} features) in {}",
                    tc.responders,
                    cc.responders,
                    if tc.responders < least && cc.responders < least {
                        "both"
                    } else if cc.responders < least {
                        "the control group"
                    } else {
                        "the test group"
                    }
                ));
            }
            // On the held-out fifths: the mean predicted uplift against the observed one.
            let ch = counts(&chold, &y);
            control_held_out = Some(ch);
            if ch.customers > 0 {
                let zc = standardised(&f, &chold, &scaling);
                let both: Vec<f64> = z_hold.iter().chain(&zc).copied().collect();
                let u: Vec<f64> = both
                    .chunks(d.max(1))
                    .map(|z| response.probability(z) - c.probability(z))
                    .collect();
                let predicted = u.iter().sum::<f64>() / (hold.len() + chold.len()) as f64;
                let rows: Vec<usize> = hold.iter().chain(&chold).copied().collect();
                let in_test: Vec<bool> = (0..rows.len()).map(|r| r < hold.len()).collect();
                let yb: Vec<bool> = rows.iter().map(|i| y[*i]).collect();
                let ids: Vec<&str> = rows.iter().map(|i| f.ids[*i].as_str()).collect();
                quintiles = uplift_quintiles(&u, &in_test, &yb, &ids);
                let observed = hc.responders as f64 / hc.customers as f64
                    - ch.responders as f64 / ch.customers as f64;
                held_out_uplift = Some((predicted, observed));
            }
            control = Some(c);
        }
    }
    let entry = |l: &Logit| LogitEntry {
        coefficients: l.coefficients.clone(),
        intercept: l.intercept,
    };
    let file = ScoreFile {
        as_of: taken.format("%Y-%m-%d").to_string(),
        campaign: req.campaign.clone(),
        control: control.as_ref().map(entry),
        feature_set: FeatureSetEntry::of(&f.set),
        features: f
            .features
            .iter()
            .zip(&scaling)
            .map(|(x, s)| FeatureEntry {
                mean: s.mean,
                name: x.name.clone(),
                std: s.std,
                transform: s.transform.name().into(),
            })
            .collect(),
        fit: ScoreFitEntry {
            auc,
            control: control.as_ref().map(|_| cc),
            deciles: table,
            held_out: hc,
            iterations,
            l2: L2,
            response: req.response_text.clone(),
            train: tc,
            uplift_quintiles: quintiles,
            uplift_warning: warning,
        },
        kind: "score".into(),
        project: project_name(&engine.project),
        response: entry(&response),
    };
    Ok(ScoreFit {
        file,
        control_held_out,
        held_out_uplift,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ten customers, predicted uplifts 0.9 down to 0.0: two per fifth. Fifth 1 (c0, c1): c0
    /// in the test group responded, c1 in the control group did not: +100 points observed.
    #[test]
    fn uplift_quintiles_by_hand() {
        let u: Vec<f64> = (0..10).map(|i| 0.9 - 0.1 * i as f64).collect();
        let ids: Vec<String> = (0..10).map(|i| format!("c{i}")).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let test = [
            true, false, true, true, false, false, true, false, true, false,
        ];
        let y = [
            true, false, false, true, true, false, false, false, true, true,
        ];
        let q = uplift_quintiles(&u, &test, &y, &ids);
        assert_eq!(q.len(), 5);
        assert_eq!(q[0].observed, Some(1.0));
        assert!((q[0].predicted - 0.85).abs() < 1e-12);
        // Fifth 2 (c2, c3): both test, no control: nothing observed.
        assert_eq!(
            q[1].test,
            Counts {
                customers: 2,
                responders: 1
            }
        );
        assert_eq!(q[1].observed, None);
        // Fifth 3 (c4 control responded, c5 control not): no test.
        assert_eq!(
            q[2].control,
            Counts {
                customers: 2,
                responders: 1
            }
        );
        // Fifth 5 (c8 test responded, c9 control responded): 0.
        assert_eq!(q[4].observed, Some(0.0));
    }

    #[test]
    fn deciles_by_hand() {
        // 20 customers, scores 0.00, 0.00, 0.05, ..., 0.90 (c19 highest): two per decile; the
        // responders are c19, c18, c17 and c10. c00 and c01 tie at 0.0: by id, c00 first.
        let p: Vec<f64> = (0..20)
            .map(|i| (i as f64 * 0.05).max(0.05) - 0.05)
            .collect();
        let ids: Vec<String> = (0..20).map(|i| format!("c{i:02}")).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let y: Vec<bool> = (0..20).map(|i| [19, 18, 17, 10].contains(&i)).collect();
        let d = deciles(&p, &y, &ids);
        assert_eq!(d.len(), 10);
        assert!(d.iter().all(|x| x.customers == 2));
        let responders: Vec<usize> = d.iter().map(|x| x.responders).collect();
        assert_eq!(responders, [2, 1, 0, 0, 1, 0, 0, 0, 0, 0]);
        // Base rate 4 / 20 = 0.2: decile 1's rate 1.0, lift 5.
        assert!((d[0].rate - 1.0).abs() < 1e-15 && (d[0].lift - 5.0).abs() < 1e-12);
        // Decile 1 holds 0.90 and 0.85: mean 0.875.
        assert!((d[0].mean_predicted - 0.875).abs() < 1e-12, "{:?}", d[0]);
        // Fewer customers than deciles: empty deciles, no division by zero.
        let d = deciles(&[0.5, 0.4], &[true, false], &["a", "b"]);
        assert_eq!(d.iter().map(|x| x.customers).sum::<usize>(), 2);
        assert_eq!(d[9].customers, 1);
    }
}
