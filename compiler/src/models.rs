//! The customer feature set and the models fitted on it that conditions name.
//!
//! A [`FeatureSet`] is the versioned list of per-customer [`Feature`]s (`docs/features.md`):
//! each a formula over per-customer values the one scan computes ([`Formula`]), and a scale
//! (logarithm for money and counts). A [`ClusterModel`] holds how the features were
//! standardised and the centroids; `cluster(NAME)` is the number of the nearest centroid,
//! computed in the plan from the customer's features as of the evaluation date.

use crate::ir::{Metric, MetricKind, PastCampaigns, Value};
use chrono::NaiveDate;
use segql_grammar::ast::Dimension;
use std::collections::BTreeSet;

/// The version of the feature set: which features there are and their formulas. Model files
/// record it; a model of another version is refused.
pub const FEATURE_SET_VERSION: u32 = 3;

/// The windows (days up to the as-of date) of the windowed recency-frequency-monetary
/// features, besides all time.
pub const WINDOWS: [u64; 3] = [30, 90, 365];

/// What a feature's formula computes from the per-customer values.
#[derive(Debug, Clone, PartialEq)]
pub enum Formula {
    /// The value itself, as a floating-point number.
    Value(Value),
    /// `part / whole`, 0 when `whole` is not positive (no spend).
    Share {
        /// The numerator (spend on a category or at a partner).
        part: Value,
        /// The denominator (all spend).
        whole: Value,
    },
    /// `part / whole`, missing when `whole` is not positive (nothing to take a rate of).
    Rate {
        /// The numerator (campaigns responded to).
        part: Value,
        /// The denominator (campaigns sent).
        whole: Value,
    },
    /// Mean days between purchases: (last purchase - first purchase) / (frequency - 1),
    /// missing with fewer than two purchases.
    MeanGap {
        /// The first purchase's date.
        first: Value,
        /// The last purchase's date.
        last: Value,
        /// The number of purchases.
        frequency: Value,
    },
}

/// How a feature is transformed before it is standardised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    /// `ln(1 + max(x, 0))`: money and counts, whose spread is multiplicative.
    Log,
    /// The value as it is: days, shares, attributes.
    Identity,
}

impl Transform {
    /// The name in model files.
    pub fn name(self) -> &'static str {
        match self {
            Transform::Log => "log1p",
            Transform::Identity => "identity",
        }
    }

    /// The transform named `name` in a model file.
    pub fn by_name(name: &str) -> Option<Transform> {
        [Transform::Log, Transform::Identity]
            .into_iter()
            .find(|t| t.name() == name)
    }

    /// [`Transform::apply`] as a function.
    pub fn function(self) -> fn(f64) -> f64 {
        match self {
            Transform::Log => |x| Transform::Log.apply(x),
            Transform::Identity => |x| Transform::Identity.apply(x),
        }
    }

    /// Applies the transform (the plan computes the same: `ln(1.0 + x)` for positive `x`).
    pub fn apply(self, x: f64) -> f64 {
        match self {
            Transform::Log if x > 0.0 => (1.0 + x).ln(),
            Transform::Log => 0.0,
            Transform::Identity => x,
        }
    }
}

impl Feature {
    /// True for the responses to past campaigns.
    pub fn reads_campaigns(&self) -> bool {
        let past = |v: &Value| matches!(v, Value::PastCampaigns(_));
        match &self.formula {
            Formula::Value(v) => past(v),
            Formula::Share { part, whole } | Formula::Rate { part, whole } => {
                past(part) || past(whole)
            }
            Formula::MeanGap { .. } => false,
        }
    }
}

/// One feature: its column name, formula and transform.
#[derive(Debug, Clone, PartialEq)]
pub struct Feature {
    /// The column name in the features file and in model files.
    pub name: String,
    /// What it computes.
    pub formula: Formula,
    /// How it is transformed before standardising.
    pub transform: Transform,
    /// What it is, in words (for profiles).
    pub label: String,
}

/// The parameters of a feature set: where purchases count, which categories and partners
/// get a share-of-spend feature, which numeric customer attributes are features.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FeatureSet {
    /// Only purchases at these partners count (all when empty).
    pub scope: Vec<String>,
    /// The categories with a share-of-spend feature (the largest by turnover).
    pub categories: Vec<String>,
    /// The partners with a share-of-spend feature (the largest by turnover; none with a
    /// scope).
    pub partners: Vec<String>,
    /// Numeric customer attributes taken as they are.
    pub attributes: Vec<String>,
    /// The campaigns whose snapshots the responses to past campaigns count (none: no such
    /// features), each with its response as the features were defined with it.
    pub campaigns: Vec<PastCampaign>,
    /// Features left out of a fitted model's set by name: responses to past campaigns in
    /// which every customer fitted on was alike (a campaign sent to everyone).
    pub omitted: Vec<String>,
}

/// A campaign whose snapshots the responses to past campaigns count.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PastCampaign {
    /// The campaign's name.
    pub name: String,
    /// Its `respond` clause in the canonical layout (`Response::written`): a model's
    /// features are those of this response; another one is another feature.
    pub respond: String,
}

impl FeatureSet {
    /// True when a feature reads the responses to past campaigns.
    pub fn reads_campaigns(&self) -> bool {
        self.features().iter().any(Feature::reads_campaigns)
    }

    fn metric(&self, kind: MetricKind, window: Option<u64>) -> Value {
        Value::Metric(Metric {
            kind,
            window,
            scope: self.scope.clone(),
        })
    }

    /// The features, in their fixed order.
    pub fn features(&self) -> Vec<Feature> {
        let mut out = Vec::new();
        let mut taken = BTreeSet::new();
        let mut push = |name: String, formula: Formula, transform: Transform, label: String| {
            let mut n = name.clone();
            let mut i = 2;
            while !taken.insert(n.clone()) {
                n = format!("{name}_{i}");
                i += 1;
            }
            out.push(Feature {
                name: n,
                formula,
                transform,
                label,
            });
        };
        push(
            "recency".into(),
            Formula::Value(self.metric(MetricKind::Recency, None)),
            Transform::Identity,
            "days since the last purchase".into(),
        );
        for (kind, word, label) in [
            (MetricKind::Frequency, "frequency", "purchases"),
            (MetricKind::Monetary, "monetary", "spend"),
        ] {
            for w in WINDOWS.iter().map(|w| Some(*w)).chain([None]) {
                let name = match w {
                    Some(d) => format!("{word}_{d}d"),
                    None => word.to_string(),
                };
                let label = match w {
                    Some(d) => format!("{label} in {d} days"),
                    None => format!("{label} of all time"),
                };
                push(
                    name,
                    Formula::Value(self.metric(kind.clone(), w)),
                    Transform::Log,
                    label,
                );
            }
        }
        push(
            "avg_check".into(),
            Formula::Value(self.metric(MetricKind::AvgCheck, None)),
            Transform::Log,
            "average check".into(),
        );
        push(
            "tenure".into(),
            Formula::Value(self.metric(MetricKind::Tenure, None)),
            Transform::Identity,
            "days since the first purchase".into(),
        );
        push(
            "mean_gap_days".into(),
            Formula::MeanGap {
                first: self.metric(MetricKind::FirstPurchase, None),
                last: self.metric(MetricKind::LastPurchase, None),
                frequency: self.metric(MetricKind::Frequency, None),
            },
            Transform::Identity,
            "mean days between purchases".into(),
        );
        push(
            "weekend_share".into(),
            Formula::Share {
                part: self.metric(MetricKind::WeekendPurchases, None),
                whole: self.frequency(),
            },
            Transform::Identity,
            "share of purchases on a weekend".into(),
        );
        let whole = self.metric(MetricKind::Monetary, None);
        for (dimension, values, word) in [
            (Dimension::Category, &self.categories, "category"),
            (Dimension::Partner, &self.partners, "partner"),
        ] {
            for v in values {
                push(
                    format!("share_{word}_{}", crate::ir::slug(std::slice::from_ref(v))),
                    Formula::Share {
                        part: self.metric(
                            MetricKind::Spend {
                                dimension,
                                values: vec![v.clone()],
                            },
                            None,
                        ),
                        whole: whole.clone(),
                    },
                    Transform::Identity,
                    format!("share of spend on {word} {v:?}"),
                );
            }
        }
        if !self.campaigns.is_empty() {
            let past = |responded| {
                Value::PastCampaigns(PastCampaigns {
                    campaigns: self.campaigns.iter().map(|c| c.name.clone()).collect(),
                    responded,
                })
            };
            push(
                "campaigns_sent".into(),
                Formula::Value(past(false)),
                Transform::Log,
                "campaigns sent".into(),
            );
            push(
                "campaigns_responded".into(),
                Formula::Value(past(true)),
                Transform::Log,
                "campaigns responded to".into(),
            );
            push(
                "response_rate".into(),
                Formula::Rate {
                    part: past(true),
                    whole: past(false),
                },
                Transform::Identity,
                "share of the campaigns sent responded to".into(),
            );
        }
        for a in &self.attributes {
            push(
                format!("attr_{}", crate::ir::slug(std::slice::from_ref(a))),
                Formula::Value(Value::Attribute(a.clone())),
                Transform::Identity,
                format!("attribute {a}"),
            );
        }
        out.retain(|f| !self.omitted.contains(&f.name));
        out
    }

    /// Every per-customer value the features read, each once, in order.
    pub fn values(&self) -> Vec<Value> {
        let mut out: Vec<Value> = Vec::new();
        for f in self.features() {
            let vs = match f.formula {
                Formula::Value(v) => vec![v],
                Formula::Share { part, whole } | Formula::Rate { part, whole } => {
                    vec![part, whole]
                }
                Formula::MeanGap {
                    first,
                    last,
                    frequency,
                } => vec![first, last, frequency],
            };
            for v in vs {
                if !out.contains(&v) {
                    out.push(v);
                }
            }
        }
        out
    }

    /// The value that says a customer bought (at the scope's partners): frequency.
    pub fn frequency(&self) -> Value {
        self.metric(MetricKind::Frequency, None)
    }
}

/// How one feature was standardised: z = (transform(x) - mean) / std, a missing value
/// taken as the mean (z = 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scaling {
    /// The transform applied first.
    pub transform: Transform,
    /// The mean of the transformed values of the customers fitted on.
    pub mean: f64,
    /// Their standard deviation (population, positive).
    pub std: f64,
}

/// A fitted k-means model: `cluster(NAME)` is the number (from 1) of the centroid nearest
/// (squared Euclidean distance over the standardised features, ties to the lower number).
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterModel {
    /// The model's name.
    pub name: String,
    /// The file it was read from (for `explain`).
    pub file: String,
    /// The date the features were computed as of when it was fitted.
    pub as_of: NaiveDate,
    /// The features.
    pub features: FeatureSet,
    /// One scaling per feature, in the features' order.
    pub scaling: Vec<Scaling>,
    /// The centroids, one per cluster (cluster 1 first), in standardised units.
    pub centroids: Vec<Vec<f64>>,
}

impl ClusterModel {
    /// The nearest centroid's number (from 1) for standardised features `z`: what the plan
    /// computes, in the same order of operations.
    pub fn nearest(&self, z: &[f64]) -> usize {
        let mut best = (f64::INFINITY, 0);
        for (k, c) in self.centroids.iter().enumerate() {
            let d = squared_distance(z, c);
            if d < best.0 {
                best = (d, k);
            }
        }
        best.1 + 1
    }
}

/// Σ (a_i - b_i)², summed pairwise (as the plan's expression is, [`pairwise_sum`]).
pub fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    let terms: Vec<f64> = a
        .iter()
        .zip(b)
        .map(|(x, y)| {
            let e = x - y;
            e * e
        })
        .collect();
    pairwise_sum(&terms)
}

/// The sum of `xs` in the order the plans add a model's terms: adjacent pairs, then pairs
/// of those, until one is left (0 for none).
pub fn pairwise_sum(xs: &[f64]) -> f64 {
    let mut level = xs.to_vec();
    if level.is_empty() {
        return 0.0;
    }
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|p| if p.len() == 2 { p[0] + p[1] } else { p[0] })
            .collect();
    }
    level[0]
}

/// A model a segment may name, as the runtime found it: fitted, or unusable and why (another
/// feature-set version, another project, a broken file).
pub type ModelEntry = Result<std::sync::Arc<ClusterModel>, String>;

/// One logistic regression of a score model: P = 1 / (1 + exp(-(intercept + Σ β_j z_j)))
/// over the standardised features `z`.
#[derive(Debug, Clone, PartialEq)]
pub struct Logit {
    /// β₀.
    pub intercept: f64,
    /// β, one per feature.
    pub coefficients: Vec<f64>,
}

impl Logit {
    /// The linear predictor: the intercept and each term, added pairwise as the plan adds
    /// them ([`pairwise_sum`]).
    pub fn eta(&self, z: &[f64]) -> f64 {
        let mut terms = vec![self.intercept];
        terms.extend(self.coefficients.iter().zip(z).map(|(b, x)| b * x));
        pairwise_sum(&terms)
    }

    /// The probability: 1 / (1 + exp(-eta)), as the plan computes it.
    pub fn probability(&self, z: &[f64]) -> f64 {
        1.0 / (1.0 + (-self.eta(z)).exp())
    }
}

/// A fitted score model: `score(NAME)` is the probability of a response to the campaign it
/// was fitted on, `uplift(NAME)` that probability minus the control group's model's, both
/// from the customer's standardised features as of the evaluation date.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreModel {
    /// The model's name.
    pub name: String,
    /// The file it was read from (for `explain`).
    pub file: String,
    /// The date the features were computed as of when it was fitted (the snapshot's).
    pub as_of: NaiveDate,
    /// The campaign whose response it models.
    pub campaign: String,
    /// The features.
    pub features: FeatureSet,
    /// One scaling per feature, in the features' order.
    pub scaling: Vec<Scaling>,
    /// The response model, fitted on the test group.
    pub response: Logit,
    /// The control group's response model, when the campaign had one.
    pub control: Option<Logit>,
}

impl ScoreModel {
    /// `score(NAME)` for standardised features `z`.
    pub fn score(&self, z: &[f64]) -> f64 {
        self.response.probability(z)
    }

    /// `uplift(NAME)` for standardised features `z` (`None` without a control model).
    pub fn uplift(&self, z: &[f64]) -> Option<f64> {
        self.control
            .as_ref()
            .map(|c| self.response.probability(z) - c.probability(z))
    }
}

/// A score model a segment may name, or why it is unusable (another kind, feature-set
/// version or project, a broken file).
pub type ScoreEntry = Result<std::sync::Arc<ScoreModel>, String>;
