//! The project file `segql.toml`: where the data is and how its columns map onto segql's
//! canonical names.

use crate::error::RuntimeError;
use miette::NamedSource;
use segql_compiler::LifecycleThresholds;
use segql_compiler::catalog::{Ranking, RfmBins, RfmMethod, RfmSegments};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use toml::Spanned;

/// The project file's name.
pub const PROJECT_FILE: &str = "segql.toml";

/// Canonical transaction columns, required ones first.
pub const TX_REQUIRED: [&str; 3] = ["customer_id", "ts", "amount"];
/// Optional canonical transaction columns.
pub const TX_OPTIONAL: [&str; 8] = [
    "receipt_id",
    "quantity",
    "partner",
    "store",
    "category",
    "product",
    "points_earned",
    "points_redeemed",
];
/// Canonical communications columns.
pub const COMM_COLUMNS: [&str; 4] = ["customer_id", "ts", "channel", "campaign"];

/// The whole project file.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ProjectFile {
    /// General settings.
    #[serde(default)]
    pub project: ProjectSection,
    /// The transactions table (required).
    pub transactions: Option<Spanned<TableConfig>>,
    /// The customers table.
    pub customers: Option<Spanned<TableConfig>>,
    /// The communications log.
    pub communications: Option<Spanned<TableConfig>>,
    /// Lifecycle thresholds.
    pub lifecycle: Option<Spanned<LifecycleConfig>>,
    /// RFM settings.
    pub rfm: Option<Spanned<RfmConfig>>,
    /// ABC settings.
    pub abc: Option<Spanned<AbcConfig>>,
    /// REPL settings.
    pub repl: Option<Spanned<ReplConfig>>,
    /// Where campaigns' snapshots live.
    pub snapshots: Option<Spanned<SnapshotsConfig>>,
    /// Where queries run.
    pub engine: Option<Spanned<EngineConfig>>,
    /// The customer feature set (`segql features`, models).
    pub features: Option<Spanned<FeaturesConfig>>,
}

/// `[features]`
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FeaturesConfig {
    /// Categories with a share-of-spend feature: the largest by turnover (default
    /// `models::TOP_CATEGORIES`).
    pub top_categories: Option<usize>,
    /// Partners with a share-of-spend feature: the largest by turnover (default
    /// `models::TOP_PARTNERS`).
    pub top_partners: Option<usize>,
    /// The responses to past campaigns as features (default true).
    pub campaigns: Option<bool>,
    /// Features left out, by name (`frequency_30d`, `share_partner_okko`, ...).
    pub exclude: Option<Vec<String>>,
}

/// `[engine]`
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// `local` (this process, the default) or a Ballista scheduler, `ballista://HOST:PORT`;
    /// `--engine` overrides it.
    pub url: Option<Spanned<String>>,
}

/// `[snapshots]`
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SnapshotsConfig {
    /// The directory of snapshots, relative to the project directory (default `snapshots`):
    /// one directory per campaign, one `YYYY-MM-DD.parquet` file per snapshot.
    pub path: Option<Spanned<String>>,
}

/// `[repl]`
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ReplConfig {
    /// The most memory the REPL's copy of the data may take, e.g. `"4GiB"`, `"512MB"`; `"0"`
    /// keeps nothing in memory (default: `cache::warm::DEFAULT_BUDGET`).
    pub memory_budget: Option<Spanned<String>>,
}

/// `[rfm]`
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RfmConfig {
    /// Customers active in this many days are scored (default 365).
    pub window_days: Option<u64>,
    /// How scores are given: `quintile` (default) or `rank` (see `RfmMethod`).
    pub method: Option<Spanned<String>>,
    /// Four increasing days since the last purchase where the recency score drops.
    pub recency_bins: Option<Vec<i64>>,
    /// Four increasing purchase counts where the frequency score rises.
    pub frequency_bins: Option<Vec<i64>>,
    /// Four increasing amounts where the monetary score rises.
    pub monetary_bins: Option<Vec<f64>>,
    /// `[rfm.segments]`: segment name = list of codes, replacing the standard segments.
    pub segments: Option<Spanned<RfmSegmentsConfig>>,
}

/// `[rfm.segments]`: each segment's name and its codes or patterns (`"555"`, `"5[45]*"`).
/// The names are in the file's order (the map's keys are sorted; their spans are not).
pub type RfmSegmentsConfig = BTreeMap<Spanned<String>, Vec<Spanned<String>>>;

/// The most a monetary threshold may be.
const MAX_MONETARY_BIN: f64 = 1e15;

/// `[abc]`
#[derive(Debug, Clone, Copy, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AbcConfig {
    /// Customers active in this many days are tiered by their monetary in it (default 365).
    pub window_days: Option<u64>,
    /// Percent of monetary tier A covers (default 80).
    pub a_share: Option<u32>,
    /// Percent of monetary tier B covers after A (default 15).
    pub b_share: Option<u32>,
}

/// `[project]`
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ProjectSection {
    /// A display name.
    pub name: Option<String>,
    /// A fixed as-of date (`YYYY-MM-DD`); default: the latest transaction date.
    pub as_of: Option<Spanned<String>>,
}

/// One data table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableConfig {
    /// A file, a directory or a glob, relative to the project directory.
    pub path: Spanned<String>,
    /// `csv` or `parquet`; by default from the file extension.
    pub format: Option<FileFormat>,
    /// CSV field delimiter (one character), default `,`.
    pub delimiter: Option<Spanned<String>>,
    /// chrono format of text or integer dates, e.g. `%Y%m%d` or `%d.%m.%Y`.
    pub date_format: Option<String>,
    /// Decimal places of amounts (default 2; 3 for currencies with thousandths).
    pub amount_scale: Option<i8>,
    /// Canonical name = the file's column name.
    #[serde(default)]
    pub columns: BTreeMap<Spanned<String>, Spanned<String>>,
}

/// File formats segql reads.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// Comma-separated values with a header row.
    Csv,
    /// Apache Parquet.
    Parquet,
}

/// `[lifecycle]`
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LifecycleConfig {
    /// Default 30.
    pub new_days: Option<u32>,
    /// Default 60.
    pub at_risk_days: Option<u32>,
    /// Default 180.
    pub churned_days: Option<u32>,
    /// Default 365.
    pub lost_days: Option<u32>,
    /// Thresholds of single partners (`[lifecycle.partners."OKKO"]`), for
    /// `lifecycle at "OKKO"`; unset values come from the project's.
    #[serde(default)]
    pub partners: BTreeMap<String, PartnerLifecycle>,
}

/// `[lifecycle.partners."NAME"]`
#[derive(Debug, Clone, Copy, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PartnerLifecycle {
    /// Derive the unset thresholds from the partner's purchase gaps (see
    /// `segql lifecycle-thresholds`) instead of taking the project's.
    pub derive: Option<bool>,
    /// Default: the project's.
    pub new_days: Option<u32>,
    /// Default: the project's.
    pub at_risk_days: Option<u32>,
    /// Default: the project's.
    pub churned_days: Option<u32>,
    /// Default: the project's.
    pub lost_days: Option<u32>,
}

/// A loaded project: the parsed file and the directory it lives in.
#[derive(Debug, Clone)]
pub struct Project {
    /// The directory relative paths start from (and imports may not leave).
    pub dir: PathBuf,
    /// The parsed settings.
    pub file: ProjectFile,
    /// The project file's text, for diagnostics (empty when built from flags).
    pub source: Option<NamedSource<Arc<str>>>,
}

/// The keys to point at when thresholds break a rule of `LifecycleThresholds::validate`, the
/// likeliest first.
fn culprits(t: &LifecycleThresholds) -> &'static [&'static str] {
    if t.new_days == 0 {
        &["new_days"]
    } else if t.at_risk_days >= t.churned_days {
        &["churned_days", "at_risk_days"]
    } else if t.churned_days >= t.lost_days {
        &["lost_days", "churned_days"]
    } else {
        &["at_risk_days"]
    }
}

/// The method named `name` in `[rfm] method`.
fn rfm_method(name: &str) -> Option<RfmMethod> {
    RfmMethod::ALL
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, m)| *m)
}

/// Checks a measure's bins: four finite thresholds, none negative, each above the one before
/// (at most [`MAX_MONETARY_BIN`]); returns what is wrong otherwise.
fn check_bins(values: &[f64]) -> Result<(), String> {
    let shown = || {
        let v: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        format!("[{}]", v.join(", "))
    };
    if values.len() != 4 {
        return Err(format!(
            "must list 4 thresholds (where scores 2, 3, 4 and 5 start), not {}: {}",
            values.len(),
            shown()
        ));
    }
    if values
        .iter()
        .any(|v| !v.is_finite() || *v < 0.0 || *v > MAX_MONETARY_BIN)
    {
        return Err(format!(
            "must be numbers from 0 to {MAX_MONETARY_BIN}: {}",
            shown()
        ));
    }
    if values.windows(2).any(|w| w[0] >= w[1]) {
        return Err(format!(
            "must increase, each threshold above the one before: {}",
            shown()
        ));
    }
    Ok(())
}

/// What is wrong, and where in the project file when known.
type Misplaced = (String, Option<std::ops::Range<usize>>);

/// `[rfm.segments]` as (name, codes) in the file's order: every pattern expanded, each code in
/// at most one segment. What is wrong otherwise, and where.
fn rfm_segment_table(config: &RfmSegmentsConfig) -> Result<Vec<(String, Vec<u16>)>, Misplaced> {
    let mut entries: Vec<(&Spanned<String>, &Vec<Spanned<String>>)> = config.iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    if entries.is_empty() {
        return Err((
            "names no segment; name at least one, or leave the table out for the standard segments"
                .into(),
            None,
        ));
    }
    let mut owner: BTreeMap<u16, (&str, &str)> = BTreeMap::new();
    let mut table = Vec::new();
    for (name, patterns) in entries {
        let n = name.get_ref();
        let word = n.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !word {
            return Err((
                format!(
                    "`{n}` is not a segment name: letters, digits and `_`, not starting with a digit"
                ),
                Some(name.span()),
            ));
        }
        if patterns.is_empty() {
            return Err((format!("`{n}` lists no code"), Some(name.span())));
        }
        let mut codes = Vec::new();
        for p in patterns {
            let expanded = rfm_codes(p.get_ref()).map_err(|m| {
                (
                    format!(
                        "`{n}`: `{}` is not an RFM code or pattern: {m}",
                        p.get_ref()
                    ),
                    Some(p.span()),
                )
            })?;
            for c in expanded {
                match owner.get(&c) {
                    Some((other, by)) if *other != n.as_str() => {
                        return Err((
                            format!(
                                "the code {c} is in `{other}` (by \"{by}\") and in `{n}` (by \"{}\"): a code belongs to one segment at most",
                                p.get_ref()
                            ),
                            Some(p.span()),
                        ));
                    }
                    Some(_) => {}
                    None => {
                        owner.insert(c, (n.as_str(), p.get_ref().as_str()));
                        codes.push(c);
                    }
                }
            }
        }
        table.push((n.clone(), codes));
    }
    Ok(table)
}

/// The codes of an RFM code or pattern: three positions R, F, M, each a digit 1-5, `*` (any)
/// or a class of digits and ranges in brackets (`[45]`, `[1-3]`, `[12-4]`).
fn rfm_codes(pattern: &str) -> Result<Vec<u16>, String> {
    let mut positions: Vec<Vec<u16>> = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        let digits: Vec<u16> = match c {
            '1'..='5' => vec![c as u16 - '0' as u16],
            '*' => (1..=5).collect(),
            '[' => {
                let mut set = std::collections::BTreeSet::new();
                let mut prev: Option<u16> = None;
                let mut closed = false;
                while let Some(c) = chars.next() {
                    match c {
                        ']' => {
                            closed = true;
                            break;
                        }
                        '1'..='5' => {
                            let d = c as u16 - '0' as u16;
                            set.insert(d);
                            prev = Some(d);
                        }
                        '-' => {
                            let (Some(lo), Some(hi @ '1'..='5')) = (prev, chars.next()) else {
                                return Err("a range is two digits 1-5, like `[2-4]`".into());
                            };
                            let hi = hi as u16 - '0' as u16;
                            if hi < lo {
                                return Err(format!("the range {lo}-{hi} is empty"));
                            }
                            set.extend(lo..=hi);
                            prev = None;
                        }
                        _ => return Err(format!("`{c}` in brackets: use digits 1-5 and ranges")),
                    }
                }
                if !closed {
                    return Err("`[` is not closed".into());
                }
                if set.is_empty() {
                    return Err("`[]` holds no digit".into());
                }
                set.into_iter().collect()
            }
            _ => {
                return Err(format!(
                    "`{c}`: each of R, F and M is a digit 1-5, `*` or a class like `[45]`"
                ));
            }
        };
        positions.push(digits);
    }
    if positions.len() != 3 {
        return Err(format!(
            "it has {} positions, not 3 (R, F and M)",
            positions.len()
        ));
    }
    let mut out = Vec::new();
    for r in &positions[0] {
        for f in &positions[1] {
            for m in &positions[2] {
                out.push(r * 100 + f * 10 + m);
            }
        }
    }
    Ok(out)
}

impl TableConfig {
    /// A table at `path` with canonical column names.
    pub fn at(path: &str) -> Self {
        TableConfig {
            path: Spanned::new(0..0, path.to_string()),
            format: None,
            delimiter: None,
            date_format: None,
            amount_scale: None,
            columns: BTreeMap::new(),
        }
    }

    /// The file's column for the canonical column `canonical`, when `[*.columns]` maps it.
    pub(crate) fn mapped(&self, canonical: &str) -> Option<&str> {
        self.columns
            .iter()
            .find(|(k, _)| k.get_ref() == canonical)
            .map(|(_, v)| v.get_ref().as_str())
    }
}

impl Project {
    /// Finds `segql.toml` in `dir` or, when `dir` is `None`, in the current directory or the
    /// nearest parent that has one.
    pub fn discover(dir: Option<&Path>) -> Result<Project, RuntimeError> {
        let path = match dir {
            Some(d) if d.is_file() => d.to_path_buf(),
            Some(d) => {
                let p = d.join(PROJECT_FILE);
                if !p.is_file() {
                    return Err(RuntimeError::NoProject {
                        searched: d.display().to_string(),
                    });
                }
                p
            }
            None => {
                let cwd = std::env::current_dir().map_err(|e| RuntimeError::Io {
                    path: ".".into(),
                    reason: e.to_string(),
                })?;
                cwd.ancestors()
                    .map(|a| a.join(PROJECT_FILE))
                    .find(|p| p.is_file())
                    .ok_or_else(|| RuntimeError::NoProject {
                        searched: cwd.display().to_string(),
                    })?
            }
        };
        Self::load(&path)
    }

    /// Loads and validates a project file.
    pub fn load(path: &Path) -> Result<Project, RuntimeError> {
        let text = std::fs::read_to_string(path).map_err(|e| RuntimeError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let src = NamedSource::new(path.display().to_string(), Arc::<str>::from(text.as_str()));
        let file: ProjectFile = toml::from_str(&text).map_err(|e| RuntimeError::ProjectSyntax {
            message: e.message().to_string(),
            src: src.clone(),
            span: e.span().map(|s| (s.start, s.len().max(1)).into()),
        })?;
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let p = Project {
            dir,
            file,
            source: Some(src),
        };
        p.validate()?;
        Ok(p)
    }

    /// A project from command-line flags: canonical column names, no project file.
    pub fn from_paths(
        transactions: &str,
        customers: Option<&str>,
        communications: Option<&str>,
        date_format: Option<&str>,
    ) -> Project {
        let mk = |p: &str| {
            let mut t = TableConfig::at(p);
            t.date_format = date_format.map(str::to_string);
            Spanned::new(0..0, t)
        };
        Project {
            dir: PathBuf::from("."),
            file: ProjectFile {
                transactions: Some(mk(transactions)),
                customers: customers.map(mk),
                communications: communications.map(mk),
                ..Default::default()
            },
            source: None,
        }
    }

    fn invalid(&self, message: String, span: Option<std::ops::Range<usize>>) -> RuntimeError {
        RuntimeError::ProjectInvalid {
            message,
            src: self.source.clone(),
            span: span.map(|s| (s.start, s.len().max(1)).into()),
        }
    }

    fn validate(&self) -> Result<(), RuntimeError> {
        let f = &self.file;
        if f.transactions.is_none() {
            return Err(self.invalid(
                "the project file has no [transactions] table; add one with at least `path`".into(),
                None,
            ));
        }
        let tables = [
            (
                "transactions",
                &f.transactions,
                Some(&TX_REQUIRED[..]),
                Some(&TX_OPTIONAL[..]),
            ),
            ("customers", &f.customers, None, None),
            (
                "communications",
                &f.communications,
                Some(&COMM_COLUMNS[..]),
                None,
            ),
        ];
        for (name, table, req, opt) in tables {
            let Some(t) = table else { continue };
            if let Some(d) = &t.get_ref().delimiter
                && !(d.get_ref().len() == 1 && d.get_ref().is_ascii())
            {
                return Err(self.invalid(
                    format!("[{name}] delimiter must be exactly one ASCII character"),
                    Some(d.span()),
                ));
            }
            if let Some(req) = req {
                let known: Vec<&str> = req.iter().chain(opt.unwrap_or(&[])).copied().collect();
                for key in t.get_ref().columns.keys() {
                    if !known.contains(&key.get_ref().as_str()) {
                        let hint =
                            segql_compiler::error::closest(key.get_ref(), known.iter().copied())
                                .map(|c| format!(" (did you mean `{c}`?)"))
                                .unwrap_or_default();
                        return Err(self.invalid(
                            format!(
                                "[{name}.columns] has no canonical column `{}`{hint}; known: {}",
                                key.get_ref(),
                                known.join(", ")
                            ),
                            Some(key.span()),
                        ));
                    }
                }
            }
        }
        if let Some(t) = &f.transactions
            && let Some(s) = t.get_ref().amount_scale
            && !(0..=10).contains(&s)
        {
            return Err(self.invalid(
                "[transactions] amount_scale must be between 0 and 10".into(),
                self.key_span(&["transactions", "amount_scale"])
                    .or(Some(t.span())),
            ));
        }
        if let Some(t) = &f.rfm {
            self.validate_rfm(t)?;
        }
        let r = self.ranking();
        if let Some(t) = &f.abc {
            if !(1..=36_500).contains(&r.abc_window) {
                return Err(self.invalid(
                    "[abc] window_days must be between 1 and 36500".into(),
                    self.key_span(&["abc", "window_days"]).or(Some(t.span())),
                ));
            }
            let total = r.a_share.saturating_add(r.b_share);
            if r.a_share == 0 || total > 100 {
                let key = if r.a_share == 0 { "a_share" } else { "b_share" };
                return Err(self.invalid(
                    format!(
                        "[abc] shares must satisfy 0 < a_share ({}) and a_share + b_share ({total}) <= 100",
                        r.a_share,
                    ),
                    self.key_span(&["abc", key])
                        .or_else(|| self.key_span(&["abc", "a_share"]))
                        .or(Some(t.span())),
                ));
            }
        }
        if let Some(b) = f
            .repl
            .as_ref()
            .and_then(|r| r.get_ref().memory_budget.as_ref())
            && let Err(m) = crate::cache::warm::parse_bytes(b.get_ref())
        {
            return Err(self.invalid(format!("[repl] memory_budget: {m}"), Some(b.span())));
        }
        if let Some(u) = f.engine.as_ref().and_then(|e| e.get_ref().url.as_ref())
            && let Err(m) = crate::cluster::EngineChoice::parse(u.get_ref())
        {
            return Err(self.invalid(format!("[engine] url: {m}"), Some(u.span())));
        }
        if let Some(a) = &f.project.as_of
            && chrono::NaiveDate::parse_from_str(a.get_ref(), "%Y-%m-%d").is_err()
        {
            return Err(self.invalid(
                format!("as_of `{}` is not a date like 2024-06-30", a.get_ref()),
                Some(a.span()),
            ));
        }
        if let Some(l) = &f.lifecycle {
            let t = self.lifecycle();
            if let Err(m) = t.validate() {
                let span = culprits(&t)
                    .iter()
                    .find_map(|k| self.key_span(&["lifecycle", k]))
                    .or(Some(l.span()));
                return Err(self.invalid(format!("[lifecycle] {m}"), span));
            }
            for (name, t) in self.partner_lifecycle() {
                if let Err(m) = t.validate() {
                    // The partner's own key, else its table (the value came from [lifecycle]).
                    let span = culprits(&t)
                        .iter()
                        .find_map(|k| self.key_span(&["lifecycle", "partners", &name, k]))
                        .or_else(|| self.key_span(&["lifecycle", "partners", &name]))
                        .or(Some(l.span()));
                    return Err(self.invalid(format!("[lifecycle.partners.\"{name}\"] {m}"), span));
                }
            }
        }
        Ok(())
    }

    /// The rules of `[rfm]`: the window, the method, the bins and the segments' codes.
    fn validate_rfm(&self, t: &Spanned<RfmConfig>) -> Result<(), RuntimeError> {
        let rfm = t.get_ref();
        let at = |key: &str| self.key_span(&["rfm", key]).or(Some(t.span()));
        if let Some(w) = rfm.window_days
            && !(1..=36_500).contains(&w)
        {
            return Err(self.invalid(
                "[rfm] window_days must be between 1 and 36500".into(),
                at("window_days"),
            ));
        }
        if let Some(m) = &rfm.method
            && rfm_method(m.get_ref()).is_none()
        {
            let names = RfmMethod::ALL.map(|(n, _)| n);
            let hint = segql_compiler::error::closest(m.get_ref(), names.iter().copied())
                .map(|c| format!(" (did you mean `{c}`?)"))
                .unwrap_or_default();
            return Err(self.invalid(
                format!(
                    "[rfm] method `{}` is unknown{hint}; methods: {}",
                    m.get_ref(),
                    names.join(", ")
                ),
                Some(m.span()),
            ));
        }
        let bins: [(&str, Option<Vec<f64>>); 3] = [
            (
                "recency_bins",
                rfm.recency_bins
                    .as_ref()
                    .map(|b| b.iter().map(|x| *x as f64).collect()),
            ),
            (
                "frequency_bins",
                rfm.frequency_bins
                    .as_ref()
                    .map(|b| b.iter().map(|x| *x as f64).collect()),
            ),
            ("monetary_bins", rfm.monetary_bins.clone()),
        ];
        for (key, values) in bins {
            let Some(values) = values else { continue };
            if let Err(m) = check_bins(&values) {
                return Err(self.invalid(format!("[rfm] {key} {m}"), at(key)));
            }
        }
        if let Some(segments) = &rfm.segments {
            rfm_segment_table(segments.get_ref()).map_err(|(m, span)| {
                self.invalid(
                    format!("[rfm.segments] {m}"),
                    span.or(Some(segments.span())),
                )
            })?;
        }
        Ok(())
    }

    /// Where a key (a path of table names and the key) is written in the project file.
    fn key_span(&self, path: &[&str]) -> Option<std::ops::Range<usize>> {
        let text = self.source.as_ref()?.inner().clone();
        let doc = toml::de::DeTable::parse(&text).ok()?;
        let mut table = doc.get_ref();
        for (i, name) in path.iter().enumerate() {
            let (key, value) = table.iter().find(|(k, _)| k.get_ref().as_ref() == *name)?;
            if i + 1 == path.len() {
                return Some(key.span());
            }
            match value.get_ref() {
                toml::de::DeValue::Table(t) => table = t,
                _ => return None,
            }
        }
        None
    }

    /// Lifecycle thresholds: the project's, else the defaults.
    pub fn lifecycle(&self) -> LifecycleThresholds {
        let d = LifecycleThresholds::default();
        match &self.file.lifecycle {
            None => d,
            Some(l) => {
                let l = l.get_ref();
                LifecycleThresholds {
                    new_days: l.new_days.unwrap_or(d.new_days),
                    at_risk_days: l.at_risk_days.unwrap_or(d.at_risk_days),
                    churned_days: l.churned_days.unwrap_or(d.churned_days),
                    lost_days: l.lost_days.unwrap_or(d.lost_days),
                }
            }
        }
    }

    /// RFM and ABC settings: the project's, else the defaults (settings that break a rule,
    /// which a loaded project has not, are left at their defaults).
    pub fn ranking(&self) -> Ranking {
        let d = Ranking::default();
        let rfm = self
            .file
            .rfm
            .as_ref()
            .map(|r| r.get_ref().clone())
            .unwrap_or_default();
        let abc = self
            .file
            .abc
            .as_ref()
            .map(|a| *a.get_ref())
            .unwrap_or_default();
        let four = |b: &Option<Vec<i64>>| -> Option<[u64; 4]> {
            let b = b.as_ref()?;
            check_bins(&b.iter().map(|x| *x as f64).collect::<Vec<_>>()).ok()?;
            Some([b[0], b[1], b[2], b[3]].map(|x| x as u64))
        };
        let monetary = rfm.monetary_bins.as_ref().and_then(|b| {
            check_bins(b).ok()?;
            Some([b[0], b[1], b[2], b[3]].map(|x| x.to_string()))
        });
        let segments = rfm
            .segments
            .as_ref()
            .and_then(|s| rfm_segment_table(s.get_ref()).ok())
            .and_then(|t| RfmSegments::new(t).ok())
            .unwrap_or(d.rfm_segments);
        Ranking {
            rfm_window: rfm.window_days.unwrap_or(d.rfm_window),
            rfm_method: rfm
                .method
                .as_ref()
                .and_then(|m| rfm_method(m.get_ref()))
                .unwrap_or(d.rfm_method),
            rfm_bins: RfmBins {
                recency: four(&rfm.recency_bins),
                frequency: four(&rfm.frequency_bins),
                monetary,
            },
            rfm_segments: segments,
            abc_window: abc.window_days.unwrap_or(d.abc_window),
            a_share: abc.a_share.unwrap_or(d.a_share),
            b_share: abc.b_share.unwrap_or(d.b_share),
        }
    }

    /// Partners whose thresholds are derived from the data.
    pub fn derived_partners(&self) -> Vec<String> {
        match &self.file.lifecycle {
            None => vec![],
            Some(l) => l
                .get_ref()
                .partners
                .iter()
                .filter(|(_, p)| p.derive == Some(true))
                .map(|(n, _)| n.clone())
                .collect(),
        }
    }

    /// Thresholds of single partners, completed with the project's.
    pub fn partner_lifecycle(&self) -> BTreeMap<String, LifecycleThresholds> {
        let d = self.lifecycle();
        match &self.file.lifecycle {
            None => BTreeMap::new(),
            Some(l) => l
                .get_ref()
                .partners
                .iter()
                .map(|(name, p)| {
                    (
                        name.clone(),
                        LifecycleThresholds {
                            new_days: p.new_days.unwrap_or(d.new_days),
                            at_risk_days: p.at_risk_days.unwrap_or(d.at_risk_days),
                            churned_days: p.churned_days.unwrap_or(d.churned_days),
                            lost_days: p.lost_days.unwrap_or(d.lost_days),
                        },
                    )
                })
                .collect(),
        }
    }

    /// The REPL's memory budget of `[repl] memory_budget`, in bytes, if set.
    pub fn memory_budget(&self) -> Option<u64> {
        self.file
            .repl
            .as_ref()
            .and_then(|r| r.get_ref().memory_budget.as_ref())
            .and_then(|b| crate::cache::warm::parse_bytes(b.get_ref()).ok())
    }

    /// The Ballista cluster of `[engine] url`, if it names one (validated when loaded).
    pub fn cluster(&self) -> Option<crate::cluster::ClusterUrl> {
        let url = self.file.engine.as_ref()?.get_ref().url.as_ref()?;
        match crate::cluster::EngineChoice::parse(url.get_ref()) {
            Ok(crate::cluster::EngineChoice::Cluster(u)) => Some(u),
            _ => None,
        }
    }

    /// The as-of date of `[project] as_of`, if set.
    pub fn as_of(&self) -> Option<chrono::NaiveDate> {
        self.file
            .project
            .as_of
            .as_ref()
            .and_then(|a| chrono::NaiveDate::parse_from_str(a.get_ref(), "%Y-%m-%d").ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfm_patterns_expand_to_their_codes() {
        assert_eq!(rfm_codes("555").unwrap(), vec![555]);
        assert_eq!(rfm_codes("5[45]1").unwrap(), vec![541, 551]);
        assert_eq!(
            rfm_codes("[1-2]1[24-5]").unwrap(),
            vec![112, 114, 115, 212, 214, 215]
        );
        assert_eq!(rfm_codes("**1").unwrap().len(), 25);
        assert_eq!(rfm_codes("***").unwrap().len(), 125);
        for bad in [
            "", "55", "5555", "605", "5[46]5", "5[45", "5[]5", "5[4-2]5", "5[-4]5", "a55",
        ] {
            assert!(rfm_codes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rfm_segments_keep_the_files_order_and_refuse_a_code_twice() {
        let parse = |text: &str| -> RfmSegmentsConfig { toml::from_str(text).unwrap() };
        let table = rfm_segment_table(&parse("zeta = [\"555\"]\nalpha = [\"5*4\"]\n")).unwrap();
        let names: Vec<&str> = table.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["zeta", "alpha"]);
        assert_eq!(table[1].1, vec![514, 524, 534, 544, 554]);
        // The same code twice in one segment is one code.
        let table = rfm_segment_table(&parse("a = [\"555\", \"55*\"]\n")).unwrap();
        assert_eq!(table[0].1.len(), 5);
        let (m, _) = rfm_segment_table(&parse("a = [\"55*\"]\nb = [\"*55\"]\n")).unwrap_err();
        assert!(m.contains("the code 555 is in `a`"), "{m}");
    }

    #[test]
    fn bins_are_four_increasing_thresholds_from_zero() {
        assert!(check_bins(&[0.0, 1.0, 2.5, 1e6]).is_ok());
        assert!(check_bins(&[1.0, 2.0, 3.0]).is_err());
        assert!(check_bins(&[1.0, 2.0, 2.0, 3.0]).is_err());
        assert!(check_bins(&[-1.0, 2.0, 3.0, 4.0]).is_err());
        assert!(check_bins(&[1.0, 2.0, 3.0, f64::INFINITY]).is_err());
    }
}
