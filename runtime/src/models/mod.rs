//! Customer features and the models fitted on them, as files of the project.
//!
//! - the feature set of a project ([`feature_set`]: the categories and partners with the
//!   largest turnover, `[features]` in `segql.toml`, the numeric customer attributes) and
//!   the features of every customer ([`features`]: one plan, `lower_features`);
//! - k-means fits ([`fit_clusters`], [`sweep`]) with `segql-learn`, their profile in words;
//! - model files, `models/NAME.json` ([`ModelFile`]: keys sorted, floats in their shortest
//!   round-trip form, so a fit with the same seed gives the same bytes), loaded into the
//!   catalog ([`load`]) with whatever makes one unusable (another feature-set version,
//!   another project, a broken file) kept as the reason;
//! - response scores ([`score`]): logistic regressions of a campaign's response, their
//!   files of kind `score` loaded apart ([`load_scores`]).

pub mod lookalike;
pub mod score;

use crate::engine::Engine;
use crate::error::RuntimeError;
use crate::project::Project;
use chrono::NaiveDate;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use segql_compiler::catalog::AttrType;
use segql_compiler::ir::Pred;
use segql_compiler::lower::{lower_features, lower_top_values};
use segql_compiler::models::{
    ClusterModel, FEATURE_SET_VERSION, Feature, FeatureSet, ModelEntry, PastCampaign, Scaling,
    Transform,
};
use segql_grammar::ast::Dimension;
use segql_learn::KMeans;
pub use segql_learn::KMeansOptions;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Categories with a share-of-spend feature unless `[features] top_categories` says.
pub const TOP_CATEGORIES: usize = 8;
/// Partners with a share-of-spend feature unless `[features] top_partners` says.
pub const TOP_PARTNERS: usize = 8;
/// Customers drawn to compute a silhouette (exact over all pairs of the sample).
pub const SILHOUETTE_SAMPLE: usize = 5000;
/// The models' directory in the project.
pub const DIR: &str = "models";

/// The project's models directory (`None` for a project made of command-line flags).
pub fn dir(project: &Project) -> Option<PathBuf> {
    project.source.is_some().then(|| project.dir.join(DIR))
}

/// The name model files record for the project: `[project] name`, else its directory's.
pub fn project_name(project: &Project) -> String {
    if let Some(n) = &project.file.project.name {
        return n.clone();
    }
    let dir = project
        .dir
        .canonicalize()
        .unwrap_or_else(|_| project.dir.clone());
    dir.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default()
}

/// A model file (every object's keys in alphabetical order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    /// The date the features were computed as of.
    pub as_of: String,
    /// The clusters, number 1 first.
    pub clusters: Vec<ClusterEntry>,
    /// The feature set's parameters and version.
    pub feature_set: FeatureSetEntry,
    /// Each feature's name and scaling, in the feature set's order.
    pub features: Vec<FeatureEntry>,
    /// How it was fitted.
    pub fit: FitEntry,
    /// `clusters`.
    pub kind: String,
    /// The project it belongs to ([`project_name`]).
    pub project: String,
}

/// One cluster of a model file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterEntry {
    /// The centroid, in standardised units, one value per feature.
    pub centroid: Vec<f64>,
    /// Its number in `cluster(NAME) = N`.
    pub number: usize,
    /// Its share of all-time spend of the customers fitted.
    pub revenue_share: f64,
    /// Customers fitted in it.
    pub size: usize,
}

/// A feature set as a model file records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSetEntry {
    /// Numeric attributes.
    pub attributes: Vec<String>,
    /// The campaigns whose snapshots the responses to past campaigns count (absent before
    /// version 3, whose files are then refused for their version).
    #[serde(default)]
    pub campaigns: Vec<CampaignEntry>,
    /// Categories with a share feature.
    pub categories: Vec<String>,
    /// Features left out: responses to past campaigns alike for every customer fitted on.
    #[serde(default)]
    pub omitted: Vec<String>,
    /// Partners with a share feature.
    pub partners: Vec<String>,
    /// Only purchases at these partners count.
    pub scope: Vec<String>,
    /// [`FEATURE_SET_VERSION`] when fitted.
    pub version: u32,
}

/// A campaign of a feature set, as a model file records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignEntry {
    /// The campaign.
    pub name: String,
    /// Its `respond` clause when fitted, in the canonical layout.
    pub respond: String,
}

/// One feature's scaling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureEntry {
    /// The mean of the transformed values.
    pub mean: f64,
    /// The feature's name.
    pub name: String,
    /// Their standard deviation.
    pub std: f64,
    /// `log1p` or `identity`.
    pub transform: String,
}

/// How a model was fitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FitEntry {
    /// Customers fitted on.
    pub customers: usize,
    /// The sum of squared distances to the centroids.
    pub inertia: f64,
    /// Lloyd iterations.
    pub iterations: usize,
    /// Clusters.
    pub k: usize,
    /// Seedings tried.
    pub n_init: usize,
    /// The seed.
    pub seed: u64,
    /// The segment fitted on (all customers with a purchase when none).
    pub segment: Option<String>,
    /// Mean silhouette over a sample of [`SILHOUETTE_SAMPLE`] customers (none for k = 1).
    pub silhouette: Option<f64>,
    /// The convergence tolerance.
    pub tol: f64,
}

impl FeatureSetEntry {
    fn of(set: &FeatureSet) -> FeatureSetEntry {
        FeatureSetEntry {
            attributes: set.attributes.clone(),
            campaigns: set
                .campaigns
                .iter()
                .map(|c| CampaignEntry {
                    name: c.name.clone(),
                    respond: c.respond.clone(),
                })
                .collect(),
            omitted: set.omitted.clone(),
            categories: set.categories.clone(),
            partners: set.partners.clone(),
            scope: set.scope.clone(),
            version: FEATURE_SET_VERSION,
        }
    }

    /// A line naming the features left out (`omitted`), when there are some.
    /// Those `[features] exclude` names (`excluded`) and those a fit left out for being alike
    /// for every customer, each said apart.
    pub fn omitted_line(&self, excluded: &[String]) -> String {
        let (asked, alike): (Vec<&String>, Vec<&String>) =
            self.omitted.iter().partition(|n| excluded.contains(n));
        let names = |v: &[&String]| {
            v.iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut out = String::new();
        if !asked.is_empty() {
            out.push_str(&format!(
                "left out by [features] exclude: {}\n",
                names(&asked)
            ));
        }
        if !alike.is_empty() {
            out.push_str(&format!(
                "left out: {}, alike for every customer fitted on (the responses to past campaigns they were all sent, or none of them)\n",
                names(&alike)
            ));
        }
        out
    }

    fn set(&self) -> FeatureSet {
        FeatureSet {
            scope: self.scope.clone(),
            categories: self.categories.clone(),
            partners: self.partners.clone(),
            attributes: self.attributes.clone(),
            campaigns: self
                .campaigns
                .iter()
                .map(|c| PastCampaign {
                    name: c.name.clone(),
                    respond: c.respond.clone(),
                })
                .collect(),
            omitted: self.omitted.clone(),
        }
    }
}

impl ModelFile {
    /// The file's text: pretty JSON, a final newline.
    pub fn to_text(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a model file serialises");
        s.push('\n');
        s
    }

    /// The model the compiler uses, checked against the feature set of this version and
    /// the project; the reason otherwise.
    pub fn model(&self, name: &str, file: &str, project: &str) -> Result<ClusterModel, String> {
        if self.kind != "clusters" {
            return Err(format!("its kind is `{}`, not `clusters`", self.kind));
        }
        let (as_of, set, scaling) = checked_features(
            &self.feature_set,
            &self.features,
            &self.as_of,
            project,
            &self.project,
        )?;
        let features = set.features();
        if self.clusters.is_empty() {
            return Err("it has no clusters".into());
        }
        let mut centroids = Vec::new();
        for (i, c) in self.clusters.iter().enumerate() {
            if c.number != i + 1 {
                return Err(format!(
                    "cluster {} is listed as number {}",
                    i + 1,
                    c.number
                ));
            }
            if c.centroid.len() != features.len() || c.centroid.iter().any(|x| !x.is_finite()) {
                return Err(format!(
                    "cluster {}'s centroid must hold {} finite values",
                    c.number,
                    features.len()
                ));
            }
            centroids.push(c.centroid.clone());
        }
        Ok(ClusterModel {
            name: name.to_string(),
            file: file.to_string(),
            as_of,
            features: set,
            scaling,
            centroids,
        })
    }
}

/// The feature set, scalings and date a model file records, checked against this segql's
/// feature set version and the project `project`; the reason otherwise.
fn checked_features(
    set_entry: &FeatureSetEntry,
    entries: &[FeatureEntry],
    as_of_text: &str,
    project: &str,
    fitted_for: &str,
) -> Result<(NaiveDate, FeatureSet, Vec<Scaling>), String> {
    if set_entry.version != FEATURE_SET_VERSION {
        return Err(format!(
            "it was fitted on feature set version {}, and this segql computes version {FEATURE_SET_VERSION}",
            set_entry.version
        ));
    }
    if fitted_for != project {
        return Err(format!(
            "it was fitted for the project `{}`, not `{project}`",
            fitted_for
        ));
    }
    let as_of = NaiveDate::parse_from_str(as_of_text, "%Y-%m-%d")
        .map_err(|_| format!("`as_of` is not a date: {:?}", as_of_text))?;
    let set = set_entry.set();
    let features = set.features();
    let names: Vec<&str> = features.iter().map(|f| f.name.as_str()).collect();
    let listed: Vec<&str> = entries.iter().map(|f| f.name.as_str()).collect();
    if names != listed {
        return Err(format!(
            "its features ({}) are not those of its feature set ({})",
            listed.join(", "),
            names.join(", ")
        ));
    }
    let mut scaling = Vec::new();
    for (f, e) in features.iter().zip(entries) {
        let transform = Transform::by_name(&e.transform)
            .ok_or_else(|| format!("feature `{}`: unknown transform `{}`", e.name, e.transform))?;
        if transform != f.transform {
            return Err(format!(
                "feature `{}` is scaled by `{}`, its formula by `{}`",
                e.name,
                e.transform,
                f.transform.name()
            ));
        }
        if !(e.std.is_finite() && e.std > 0.0 && e.mean.is_finite()) {
            return Err(format!(
                "feature `{}`: its mean and std must be finite, std positive",
                e.name
            ));
        }
        scaling.push(Scaling {
            transform,
            mean: e.mean,
            std: e.std,
        });
    }
    Ok((as_of, set, scaling))
}

/// Every model file of the project (`models/*.json`) by name (the file's stem), usable or
/// with the reason it is not.
pub fn load(project: &Project) -> BTreeMap<String, ModelEntry> {
    load_kind(project, "clusters", |f: ModelFile, name, shown, me| {
        f.model(name, shown, me)
    })
}

/// Every model file of the project as [`load`] finds them, as score models: usable, or
/// with the reason it is not (a clusters model among them).
pub fn load_scores(project: &Project) -> BTreeMap<String, segql_compiler::models::ScoreEntry> {
    load_kind(project, "score", |f: score::ScoreFile, name, shown, me| {
        f.model(name, shown, me)
    })
}

/// Every model file of the project read as a file `F` of kind `kind` and made a model by
/// `model(file, name, shown path, project name)`; a file of another kind, one that does not
/// parse or whose model is refused gets the reason, its path first.
fn load_kind<F: serde::de::DeserializeOwned, M>(
    project: &Project,
    kind: &str,
    model: impl Fn(F, &str, &str, &str) -> Result<M, String>,
) -> BTreeMap<String, Result<Arc<M>, String>> {
    let me = project_name(project);
    model_files(project)
        .into_iter()
        .map(|(name, shown, text)| {
            let entry = text
                .and_then(|(found, text)| {
                    if found != kind {
                        let named = match found.as_str() {
                            "score" => format!(" (a score model is named in `score({name})`)"),
                            _ => String::new(),
                        };
                        return Err(format!(
                            "{shown}: its kind is `{found}`, not `{kind}`{named}"
                        ));
                    }
                    serde_json::from_str::<F>(&text)
                        .map_err(|e| format!("{shown} is not a model file: {e}"))
                })
                .and_then(|f| model(f, &name, &shown, &me).map_err(|why| format!("{shown}: {why}")))
                .map(Arc::new);
            (name, entry)
        })
        .collect()
}

/// The `kind` of the project's `models/NAME.json` when there is one, or why it cannot be read
/// as a model file.
pub fn existing_kind(project: &Project, name: &str) -> Option<Result<String, String>> {
    model_files(project)
        .into_iter()
        .find(|(n, _, _)| n == name)
        .map(|(_, _, read)| read.map(|(kind, _)| kind))
}

/// A model file's `kind` and text, or why it cannot be read.
type KindAndText = Result<(String, String), String>;

/// The project's `models/*.json`: name (the stem), the path shown, and the file's `kind`
/// and text, or why it cannot be read.
fn model_files(project: &Project) -> Vec<(String, String, KindAndText)> {
    let mut out = Vec::new();
    let Some(dir) = dir(project) else {
        return out;
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return out;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let Some(name) = path.file_stem().map(|s| s.to_string_lossy().to_string()) else {
            continue;
        };
        let shown = Path::new(DIR).join(e.file_name()).display().to_string();
        let read = std::fs::read_to_string(&path)
            .map_err(|e| format!("{shown} cannot be read: {}", crate::output::io_reason(&e)))
            .and_then(|text| {
                let value = serde_json::from_str::<serde_json::Value>(&text)
                    .map_err(|e| format!("{shown} is not a model file: {e}"))?;
                let kind = value
                    .get("kind")
                    .and_then(|k| k.as_str())
                    .ok_or_else(|| {
                        format!("{shown} is not a model file: it has no `kind` (clusters or score)")
                    })?
                    .to_string();
                Ok((kind, text))
            });
        out.push((name, shown, read));
    }
    out
}

/// A model's name: letters, digits and `_`, starting with a letter or `_` (a name the
/// language can write in `cluster(NAME)`).
pub fn valid_name(name: &str) -> bool {
    let mut c = name.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
        && !segql_grammar::lex::is_keyword(name)
}

/// Writes `file` as `models/NAME.json` (beside the target, then renamed); creates the
/// directory.
pub fn write(project: &Project, name: &str, file: &ModelFile) -> Result<PathBuf, RuntimeError> {
    write_text(project, name, &file.to_text())
}

/// Writes `text` as `models/NAME.json` (beside the target, then renamed); creates the
/// directory.
pub fn write_text(project: &Project, name: &str, text: &str) -> Result<PathBuf, RuntimeError> {
    let Some(dir) = dir(project) else {
        return Err(RuntimeError::Usage {
            message: "models are files of a project; this data was named by flags".into(),
            help: Some(
                "run inside a project (a directory with segql.toml) or pass --project".into(),
            ),
        });
    };
    std::fs::create_dir_all(&dir).map_err(|e| RuntimeError::Io {
        path: dir.display().to_string(),
        reason: crate::output::io_reason(&e),
    })?;
    let path = dir.join(format!("{name}.json"));
    let mut f = crate::output::AtomicFile::create(&path)?;
    let io = |e: std::io::Error| RuntimeError::Io {
        path: path.display().to_string(),
        reason: crate::output::io_reason(&e),
    };
    f.write_all(text.as_bytes()).map_err(io)?;
    f.commit().map_err(io)?;
    Ok(path)
}

/// The feature set of the engine's project: the largest categories and partners by turnover
/// up to the as-of date (at `scope`'s partners; none when there is only one), every numeric
/// customer attribute.
pub async fn feature_set(
    engine: &mut Engine,
    scope: &[String],
) -> Result<FeatureSet, RuntimeError> {
    let as_of = engine.catalog.as_of;
    feature_set_until(engine, scope, as_of).await
}

/// The feature set look-alikes compare customers on: the project's ([`feature_set`] over
/// every partner), its categories and partners those with the largest turnover in all the
/// data, so that a look-alike evaluated as of any date compares the same features.
pub async fn lookalike_feature_set(engine: &mut Engine) -> Result<FeatureSet, RuntimeError> {
    let all = NaiveDate::from_ymd_opt(9999, 12, 31).expect("a date");
    feature_set_until(engine, &[], all).await
}

/// [`feature_set`] with the largest values by turnover up to `until`.
async fn feature_set_until(
    engine: &mut Engine,
    scope: &[String],
    until: NaiveDate,
) -> Result<FeatureSet, RuntimeError> {
    let cfg = engine
        .project
        .file
        .features
        .as_ref()
        .map(|f| f.get_ref().clone())
        .unwrap_or_default();
    let mut set = FeatureSet {
        scope: scope.to_vec(),
        ..FeatureSet::default()
    };
    let tops = [
        (
            Dimension::Category,
            cfg.top_categories.unwrap_or(TOP_CATEGORIES),
        ),
        (
            Dimension::Partner,
            if scope.is_empty() {
                cfg.top_partners.unwrap_or(TOP_PARTNERS)
            } else {
                0
            },
        ),
    ];
    for (dimension, n) in tops {
        if n == 0 || !engine.catalog.has_tx_column(dimension.column()) {
            continue;
        }
        let mut catalog = engine.catalog.clone();
        catalog.as_of = until;
        let plan = lower_top_values(&catalog, dimension, scope, n)
            .map_err(|e| RuntimeError::data("planning the largest values", e))?;
        let batches = engine.collect(plan).await?;
        let mut values = Vec::new();
        for b in &batches {
            let col = cast(b.column(0), &DataType::Utf8)
                .map_err(|e| RuntimeError::data("reading the largest values", e.into()))?;
            let col = col.as_string::<i32>();
            values.extend(
                (0..col.len())
                    .filter(|i| col.is_valid(*i))
                    .map(|i| col.value(i).to_string()),
            );
        }
        // With one value, every customer's share of it is all or nothing: no feature.
        if values.len() < 2 {
            values.clear();
        }
        match dimension {
            Dimension::Category => set.categories = values,
            _ => set.partners = values,
        }
    }
    if campaigns_wanted(engine) {
        engine.read_responses();
        set.campaigns = campaigns_over(&engine.catalog, until);
    }
    let attributes = engine.compile(|c| c.attributes()).await?;
    set.attributes = attributes
        .into_iter()
        .filter(|(_, t)| *t == Some(AttrType::Number))
        .map(|(n, _)| n)
        .collect();
    // `[features] exclude`: names of this project's features (the responses to past
    // campaigns are features whenever a snapshot's window is over, so always names).
    let mut known: Vec<String> = set.features().into_iter().map(|f| f.name).collect();
    for past in ["campaigns_sent", "campaigns_responded", "response_rate"] {
        if !known.iter().any(|k| k == past) {
            known.push(past.into());
        }
    }
    for name in cfg.exclude.iter().flatten() {
        if !known.contains(name) {
            let span = engine
                .project
                .file
                .features
                .as_ref()
                .map(|f| f.span().into());
            return Err(RuntimeError::ProjectInvalid {
                message: format!(
                    "[features] exclude names `{name}`, which is not a feature of this project{}",
                    match segql_compiler::error::closest(name, known.iter().map(String::as_str)) {
                        Some(c) => format!(" (did you mean `{c}`?)"),
                        None => String::new(),
                    }
                ),
                src: engine.project.source.clone(),
                span,
            });
        }
        set.omitted.push(name.clone());
    }
    Ok(set)
}

/// The features `[features] exclude` leaves out, by name.
pub fn excluded(engine: &Engine) -> Vec<String> {
    engine
        .project
        .file
        .features
        .as_ref()
        .and_then(|f| f.get_ref().exclude.clone())
        .unwrap_or_default()
}

/// True unless `[features] campaigns = false` leaves the responses to past campaigns out.
pub fn campaigns_wanted(engine: &Engine) -> bool {
    let off = engine
        .project
        .file
        .features
        .as_ref()
        .and_then(|f| f.get_ref().campaigns);
    off != Some(false)
}

/// The campaigns with a response and a snapshot whose response window is over by `until`,
/// by name: those the responses to past campaigns count.
fn campaigns_over(catalog: &segql_compiler::Catalog, until: NaiveDate) -> Vec<PastCampaign> {
    catalog
        .responses
        .iter()
        .filter_map(|(name, response)| Some((name, response.as_ref().ok()?)))
        .filter(|(name, response)| {
            catalog.snapshots_of(name).iter().any(|s| {
                s.as_of
                    .checked_add_days(chrono::Days::new(response.days))
                    .is_some_and(|end| end <= until)
            })
        })
        .map(|(name, response)| PastCampaign {
            name: name.clone(),
            respond: response.written.clone(),
        })
        .collect()
}

/// The features of customers: ids, and per feature one value per customer (`None`: missing).
#[derive(Debug, Clone)]
pub struct Features {
    /// The feature set.
    pub set: FeatureSet,
    /// Its features.
    pub features: Vec<Feature>,
    /// The customers, sorted by id.
    pub ids: Vec<String>,
    /// The raw values, row by row (`features.len()` per customer).
    pub values: Vec<Option<f64>>,
}

impl Features {
    /// The features without the responses to past campaigns in which every customer of
    /// `rows` (all when `None`) is alike ([`segql_learn::scale::spread`]), recorded in the set's `omitted`: a
    /// campaign sent to everyone, or to none of them. segql adds those features on its own,
    /// so they are left out rather than refused; any other such feature is an error of
    /// [`standardise`].
    pub fn without_alike_campaign_features(self, rows: Option<&[usize]>) -> Features {
        let d = self.features.len();
        let all: Vec<usize>;
        let rows = match rows {
            Some(r) => r,
            None => {
                all = (0..self.ids.len()).collect();
                &all
            }
        };
        let alike: Vec<usize> = (0..d)
            .filter(|j| self.features[*j].reads_campaigns())
            .filter(|j| {
                let column = rows.iter().map(|i| self.values[i * d + j]);
                segql_learn::scale::spread(column, self.features[*j].transform.function()).is_none()
            })
            .collect();
        if alike.is_empty() {
            return self;
        }
        let mut set = self.set;
        set.omitted
            .extend(alike.iter().map(|j| self.features[*j].name.clone()));
        // None left: the set names no campaign, so no response is needed to use the model.
        if !set.reads_campaigns() {
            set.campaigns.clear();
        }
        let values = self
            .values
            .chunks(d.max(1))
            .flat_map(|row| {
                row.iter()
                    .enumerate()
                    .filter(|(j, _)| !alike.contains(j))
                    .map(|(_, x)| *x)
            })
            .collect();
        Features {
            features: set.features(),
            set,
            ids: self.ids,
            values,
        }
    }
}

/// The plan of the features of `set` as of the engine's date: of `members`' members, else
/// of every customer with a purchase (at the set's partners); sorted by customer.
pub async fn features_plan(
    engine: &mut Engine,
    set: &FeatureSet,
    members: Option<&Pred>,
) -> Result<datafusion::logical_expr::LogicalPlan, RuntimeError> {
    engine
        .compile(|c| lower_features(c, set, members))
        .await?
        .map_err(|e| RuntimeError::data("planning the features", e))
}

/// Computes the features of `set` ([`features_plan`]) into memory.
pub async fn features(
    engine: &mut Engine,
    set: &FeatureSet,
    members: Option<&Pred>,
) -> Result<Features, RuntimeError> {
    let plan = features_plan(engine, set, members).await?;
    let batches = engine.collect(plan).await?;
    let features = set.features();
    let d = features.len();
    let mut ids = Vec::new();
    let mut values = Vec::new();
    for b in &batches {
        let id = cast(b.column(0), &DataType::Utf8)
            .map_err(|e| RuntimeError::data("reading the features", e.into()))?;
        let id = id.as_string::<i32>();
        let cols: Vec<_> = (1..=d)
            .map(|j| b.column(j).as_primitive::<Float64Type>())
            .collect();
        for i in 0..b.num_rows() {
            ids.push(id.value(i).to_string());
            for c in &cols {
                values.push(c.is_valid(i).then(|| c.value(i)));
            }
        }
    }
    Ok(Features {
        set: set.clone(),
        features,
        ids,
        values,
    })
}

/// `x` rounded to 15 significant digits: a number a JSON reader parses back exactly (15
/// digits are within every reader's exact fast path), so a model file's numbers are the
/// model's.
pub fn round15(x: f64) -> f64 {
    format!("{x:.14e}").parse().unwrap_or(x)
}

/// The standardised matrix of features and each feature's scaling: transform, then
/// (x - mean) / std over the customers' non-missing values (mean and std rounded by
/// [`round15`]), a missing value 0 (the mean).
/// Error: a feature with the same value for every customer.
pub fn standardise(f: &Features) -> Result<(Vec<f64>, Vec<Scaling>), RuntimeError> {
    let d = f.features.len();
    let n = f.ids.len();
    let t: Vec<fn(f64) -> f64> = f.features.iter().map(|x| x.transform.function()).collect();
    let spreads = segql_learn::scale::spreads(&f.values, d, &t);
    let mut scaling = Vec::with_capacity(d);
    for (j, feat) in f.features.iter().enumerate() {
        let Some((mean, std)) = spreads[j] else {
            let value = f.values.iter().skip(j).step_by(d).flatten().next();
            return Err(RuntimeError::Model {
                message: match value {
                    Some(v) => format!(
                        "the feature `{}` ({}) is {v} for every one of the {n} customers: it cannot be standardised",
                        feat.name, feat.label
                    ),
                    None => format!(
                        "the feature `{}` ({}) is missing for every one of the {n} customers",
                        feat.name, feat.label
                    ),
                },
                help: Some(format!(
                    "fit on customers who differ in it (a wider segment or an earlier --as-of), or leave it out: `exclude = [\"{}\"]` under [features] in segql.toml",
                    feat.name
                )),
            });
        };
        scaling.push(Scaling {
            transform: feat.transform,
            mean: round15(mean),
            std: round15(std),
        });
    }
    Ok((scaled(&f.values, &scaling), scaling))
}

/// Rows of raw feature values (one per scaling each) standardised by `scaling`, a missing
/// value 0 ([`segql_learn::scale::standardised`]).
pub fn scaled(values: &[Option<f64>], scaling: &[Scaling]) -> Vec<f64> {
    let t: Vec<fn(f64) -> f64> = scaling.iter().map(|s| s.transform.function()).collect();
    let by: Vec<(f64, f64)> = scaling.iter().map(|s| (s.mean, s.std)).collect();
    segql_learn::scale::standardised(values, scaling.len(), &t, &by)
}

/// A k-means fit: the model file and what the profile shows.
#[derive(Debug, Clone)]
pub struct ClusterFit {
    /// The model file.
    pub file: ModelFile,
    /// The fit (labels by customer, in the features' order).
    pub kmeans: KMeans,
    /// The features fitted on.
    pub features: Features,
}

/// How `segql clusters fit` fits.
#[derive(Debug, Clone)]
pub struct FitOptions {
    /// k-means' options.
    pub kmeans: KMeansOptions,
    /// The segment fitted on, if any (its name and condition).
    pub segment: Option<(String, Pred)>,
    /// Only purchases at these partners count.
    pub scope: Vec<String>,
}

fn check_k(k: usize, n: usize) -> Result<(), RuntimeError> {
    if k == 0 || k > n {
        return Err(RuntimeError::Model {
            message: if k == 0 {
                "k must be at least 1".into()
            } else {
                format!("k = {k} is more than the {n} customers to cluster")
            },
            help: Some("choose a smaller k, or fit on more customers".into()),
        });
    }
    Ok(())
}

/// The features of the fit's population and their standardised matrix.
async fn prepared(
    engine: &mut Engine,
    opts: &FitOptions,
) -> Result<(Features, Vec<f64>, Vec<Scaling>), RuntimeError> {
    let set = feature_set(engine, &opts.scope).await?;
    let f = features(engine, &set, opts.segment.as_ref().map(|(_, p)| p)).await?;
    if f.ids.is_empty() {
        return Err(RuntimeError::Model {
            message: "there are no customers to cluster as of this date".into(),
            help: Some("check --as-of, --partner and --segment".into()),
        });
    }
    let f = f.without_alike_campaign_features(None);
    let (z, scaling) = standardise(&f)?;
    Ok((f, z, scaling))
}

/// Fits a clusters model as of the engine's date.
pub async fn fit_clusters(
    engine: &mut Engine,
    opts: &FitOptions,
) -> Result<ClusterFit, RuntimeError> {
    let (f, z, scaling) = prepared(engine, opts).await?;
    check_k(opts.kmeans.k, f.ids.len())?;
    let d = f.features.len();
    let km = KMeans::fit(&z, d, &opts.kmeans).map_err(|m| RuntimeError::Model {
        message: m,
        help: None,
    })?;
    // The centroids as the file holds them, and every customer's cluster by those: what
    // `cluster(NAME)` computes as of the fit's date.
    let rounded = km
        .centroids
        .iter()
        .map(|c| c.iter().map(|x| round15(*x)).collect())
        .collect();
    let km = km.with_centroids(&z, d, rounded);
    let silhouette = segql_learn::silhouette(
        &z,
        d,
        &km.labels,
        km.centroids.len(),
        SILHOUETTE_SAMPLE,
        opts.kmeans.seed,
    );
    let monetary = f
        .features
        .iter()
        .position(|x| x.name == "monetary")
        .expect("monetary is a feature");
    let mut revenue = vec![0.0; km.centroids.len()];
    for (i, l) in km.labels.iter().enumerate() {
        revenue[*l] += f.values[i * d + monetary].unwrap_or(0.0).max(0.0);
    }
    let total: f64 = revenue.iter().sum();
    let clusters = km
        .centroids
        .iter()
        .enumerate()
        .map(|(i, c)| ClusterEntry {
            centroid: c.clone(),
            number: i + 1,
            revenue_share: if total > 0.0 { revenue[i] / total } else { 0.0 },
            size: km.sizes[i],
        })
        .collect();
    let file = ModelFile {
        as_of: engine.catalog.as_of.format("%Y-%m-%d").to_string(),
        clusters,
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
        fit: FitEntry {
            customers: f.ids.len(),
            inertia: km.inertia,
            iterations: km.iterations,
            k: opts.kmeans.k,
            n_init: opts.kmeans.n_init,
            seed: opts.kmeans.seed,
            segment: opts.segment.as_ref().map(|(n, _)| n.clone()),
            silhouette,
            tol: opts.kmeans.tol,
        },
        kind: "clusters".into(),
        project: project_name(&engine.project),
    };
    Ok(ClusterFit {
        file,
        kmeans: km,
        features: f,
    })
}

/// One k of a sweep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SweepRow {
    /// Clusters.
    pub k: usize,
    /// The sum of squared distances to the centroids.
    pub inertia: f64,
    /// Mean silhouette over a sample.
    pub silhouette: Option<f64>,
}

/// Fits every k of `ks` on the same features (nothing written), for choosing k.
pub async fn sweep(
    engine: &mut Engine,
    ks: std::ops::RangeInclusive<usize>,
    opts: &FitOptions,
) -> Result<Vec<SweepRow>, RuntimeError> {
    let (f, z, _) = prepared(engine, opts).await?;
    check_k(*ks.end(), f.ids.len())?;
    let d = f.features.len();
    let mut out = Vec::new();
    for k in ks {
        let o = KMeansOptions { k, ..opts.kmeans };
        let km = KMeans::fit(&z, d, &o).map_err(|m| RuntimeError::Model {
            message: m,
            help: None,
        })?;
        out.push(SweepRow {
            k,
            inertia: km.inertia,
            silhouette: segql_learn::silhouette(&z, d, &km.labels, k, SILHOUETTE_SAMPLE, o.seed),
        });
    }
    Ok(out)
}

/// One cluster in words.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterProfile {
    /// Its number.
    pub number: usize,
    /// Customers.
    pub size: usize,
    /// Share of the customers.
    pub share: f64,
    /// Share of the spend.
    pub revenue_share: f64,
    /// The three features that set it most apart (largest mean |z|), in words.
    pub traits: Vec<String>,
}

/// The clusters of a fit in words: for each, the features whose standardised mean is
/// furthest from 0, each as its mean against the base's ("share of spend on category
/// \"Fuel\" 70% (base 21%)", "purchases in 90 days 6.2 (2.3x the base)").
pub fn profile(fit: &ClusterFit) -> Vec<ClusterProfile> {
    let f = &fit.features;
    let d = f.features.len();
    let n = f.ids.len();
    let k = fit.kmeans.centroids.len();
    let (base, means) = segql_learn::scale::means_by_label(&f.values, d, &fit.kmeans.labels, k);
    (0..k)
        .map(|c| {
            let centroid = &fit.kmeans.centroids[c];
            let mut order: Vec<usize> = (0..d).collect();
            order.sort_by(|a, b| {
                centroid[*b]
                    .abs()
                    .total_cmp(&centroid[*a].abs())
                    .then(a.cmp(b))
            });
            let traits = order
                .iter()
                .take(3)
                .map(|&j| describe(&f.features[j], means[c][j], base[j]))
                .collect();
            ClusterProfile {
                number: c + 1,
                size: fit.kmeans.sizes[c],
                share: fit.kmeans.sizes[c] as f64 / n as f64,
                revenue_share: fit.file.clusters[c].revenue_share,
                traits,
            }
        })
        .collect()
}

fn describe(feat: &Feature, mine: Option<f64>, base: Option<f64>) -> String {
    let share = feat.name.starts_with("share_");
    match (mine, base) {
        (None, _) => format!("{}: missing", feat.label),
        (Some(m), Some(b)) if share => {
            format!("{} {:.0}% (base {:.0}%)", feat.label, m * 100.0, b * 100.0)
        }
        (Some(m), Some(b)) if b.abs() > 1e-12 => {
            format!("{} {} ({:.1}x the base)", feat.label, number(m), m / b)
        }
        (Some(m), _) => format!("{} {}", feat.label, number(m)),
    }
}

fn number(x: f64) -> String {
    if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three customers; the campaign features' columns as given, every other feature varying.
    fn features(sent: [f64; 3], responded: [f64; 3]) -> Features {
        let set = FeatureSet {
            campaigns: vec![PastCampaign {
                name: "spring".into(),
                respond: "any purchase within 14d".into(),
            }],
            ..FeatureSet::default()
        };
        let features = set.features();
        let mut values = Vec::new();
        for i in 0..3 {
            for f in &features {
                values.push(Some(match f.name.as_str() {
                    "campaigns_sent" => sent[i],
                    "campaigns_responded" => responded[i],
                    "response_rate" if sent[i] > 0.0 => responded[i] / sent[i],
                    "response_rate" => 0.0,
                    _ => i as f64,
                }));
            }
        }
        Features {
            set,
            features,
            ids: vec!["a".into(), "b".into(), "c".into()],
            values,
        }
    }

    #[test]
    fn a_campaign_sent_to_everyone_leaves_out_its_count_alone() {
        let f = features([1.0; 3], [0.0, 1.0, 1.0]).without_alike_campaign_features(None);
        assert_eq!(f.set.omitted, ["campaigns_sent"]);
        assert_eq!(f.set.campaigns.len(), 1);
        let d = f.features.len();
        assert!(f.features.iter().all(|x| x.name != "campaigns_sent"));
        assert_eq!(f.values.len(), 3 * d);
        // The columns kept are the same values, in order.
        let j = f
            .features
            .iter()
            .position(|x| x.name == "campaigns_responded")
            .unwrap();
        let column: Vec<_> = f.values.iter().skip(j).step_by(d).copied().collect();
        assert_eq!(column, [Some(0.0), Some(1.0), Some(1.0)]);
        assert_eq!(f.values[0], Some(0.0), "recency of the first customer");
    }

    #[test]
    fn customers_alike_in_every_campaign_feature_need_no_campaign() {
        let f = features([0.0; 3], [0.0; 3]).without_alike_campaign_features(Some(&[0, 2]));
        assert_eq!(
            f.set.omitted,
            ["campaigns_sent", "campaigns_responded", "response_rate"]
        );
        assert!(f.set.campaigns.is_empty());
        assert!(!f.set.reads_campaigns());
        // Varying columns stay, whatever the rows.
        let f = features([0.0, 1.0, 0.0], [0.0; 3]).without_alike_campaign_features(Some(&[0, 1]));
        assert_eq!(f.set.omitted, ["campaigns_responded", "response_rate"]);
        assert_eq!(f.set.campaigns.len(), 1, "campaigns_sent still reads it");
    }
}
