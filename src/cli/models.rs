//! `segql features` (one row per customer, the versioned feature set) and `segql clusters
//! fit` (k-means on the features, a model file under `models/`, its profile; a sweep of k
//! with inertia and silhouette). The runtime computes (`segql_runtime::models`); this file
//! parses, renders and writes.

use super::args::{DataArgs, OutputArgs};
use super::out::write_text;
use super::stages::{load_guarded, segment_files, select};
use clap::{Args, Subcommand};
use miette::Result;
use segql_runtime::RuntimeError;
use segql_runtime::models::{self, FitOptions, KMeansOptions};
use std::path::PathBuf;
use std::process::ExitCode;

/// `segql features`.
#[derive(Debug, Args)]
pub(super) struct FeaturesArgs {
    /// Segment files that define --segment. Default: every .seg file in the project directory.
    files: Vec<PathBuf>,
    /// Only the members of this segment (default: every customer with a purchase).
    #[arg(long, value_name = "NAME")]
    segment: Option<String>,
    /// Only purchases at this partner count (repeatable).
    #[arg(long, value_name = "PARTNER")]
    partner: Vec<String>,
    #[command(flatten)]
    out: OutputArgs,
    #[command(flatten)]
    data: DataArgs,
}

/// The population and scope a features or fit command works on.
async fn population(
    data: &DataArgs,
    files: &[PathBuf],
    segment: Option<&str>,
    output: Option<&std::path::Path>,
) -> Result<(
    segql_runtime::Engine,
    Option<(String, segql_compiler::ir::Pred)>,
)> {
    let project = data.project()?;
    let files = match (segment, files.is_empty()) {
        (Some(_), true) => segment_files(&project),
        _ => files.to_vec(),
    };
    let (project, mut program) = load_guarded(data, &files, output)?;
    let mut engine = data.engine_of(project, true, true).await?;
    warn_unloaded(&mut engine);
    let members = match segment {
        Some(name) => {
            let s = select(&mut engine, &mut program, None, &[name.to_string()]).await?;
            let s = s.into_iter().next().expect("one segment selected");
            Some((s.name, s.pred))
        }
        None => None,
    };
    Ok((engine, members))
}

/// Warns of each segment file of the project that did not load: the campaigns it defines
/// are not among the features' responses to past campaigns.
pub(super) fn warn_unloaded(engine: &mut segql_runtime::Engine) {
    if !models::campaigns_wanted(engine) {
        return;
    }
    engine.read_responses();
    for f in &engine.catalog.unloaded {
        eprintln!(
            "warning: {f}; its campaigns are not among the features' responses to past campaigns (`segql check` says more)"
        );
    }
}

/// Writes the features of every customer (or a segment's members) as of the as-of date.
pub(super) async fn features(a: FeaturesArgs) -> Result<ExitCode> {
    let (mut engine, members) =
        population(&a.data, &a.files, a.segment.as_deref(), a.out.path()).await?;
    engine.check_partners(&a.partner).await?;
    let set = models::feature_set(&mut engine, &a.partner).await?;
    let plan = models::features_plan(&mut engine, &set, members.as_ref().map(|(_, p)| p)).await?;
    let format = a.out.format()?;
    let stream = engine.stream(plan).await?;
    let rows = segql_runtime::output::write_stream(stream, format, a.out.path()).await?;
    if format == segql_runtime::Format::Table || a.out.path().is_some() {
        eprintln!(
            "{rows} customer{} by {} features (feature set v{}) as of {}",
            if rows == 1 { "" } else { "s" },
            set.features().len(),
            segql_compiler::models::FEATURE_SET_VERSION,
            engine.catalog.as_of
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `segql clusters`.
#[derive(Debug, Args)]
pub(super) struct ClustersArgs {
    #[command(subcommand)]
    command: ClustersCommand,
}

#[derive(Debug, Subcommand)]
enum ClustersCommand {
    /// Fit k-means on the customers' features and write models/NAME.json (with --k A..B:
    /// print inertia and silhouette per k, write nothing).
    Fit(FitArgs),
}

/// `segql clusters fit`.
#[derive(Debug, Args)]
pub(super) struct FitArgs {
    /// The model's name: `cluster(NAME)` in segments, the file models/NAME.json.
    name: String,
    /// Segment files that define --segment. Default: every .seg file in the project directory.
    files: Vec<PathBuf>,
    /// The number of clusters, or a range like 4..20 to compare (nothing written).
    #[arg(long, value_name = "K|A..B")]
    k: String,
    /// Fit on the members of this segment (default: every customer with a purchase).
    #[arg(long, value_name = "NAME")]
    segment: Option<String>,
    /// Only purchases at this partner count (repeatable).
    #[arg(long, value_name = "PARTNER")]
    partner: Vec<String>,
    /// The seed of k-means++'s random draws.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Seedings to try; the fit with the smallest inertia is kept.
    #[arg(long, default_value_t = 1)]
    n_init: usize,
    /// At most this many Lloyd iterations.
    #[arg(long, default_value_t = 300)]
    max_iter: usize,
    /// Stop when the centroids' squared shifts sum to at most this times the features' mean
    /// variance (0: until no customer changes cluster).
    #[arg(long, default_value_t = 1e-4)]
    tol: f64,
    #[command(flatten)]
    data: DataArgs,
}

/// `--k`: one number or `A..B`.
fn parse_k(s: &str) -> Result<std::ops::RangeInclusive<usize>, RuntimeError> {
    let bad = || RuntimeError::Usage {
        message: format!("--k {s}: give a number of clusters like 16, or a range like 4..20"),
        help: None,
    };
    let (a, b) = match s.split_once("..") {
        Some((a, b)) => (a, b.trim_start_matches('=')),
        None => (s, s),
    };
    let a: usize = a.trim().parse().map_err(|_| bad())?;
    let b: usize = b.trim().parse().map_err(|_| bad())?;
    if a == 0 || b < a {
        return Err(bad());
    }
    Ok(a..=b)
}

/// Runs `segql clusters`.
pub(super) async fn clusters(a: ClustersArgs) -> Result<ExitCode> {
    match a.command {
        ClustersCommand::Fit(f) => fit(f).await,
    }
}

pub(super) async fn fit(a: FitArgs) -> Result<ExitCode> {
    let ks = parse_k(&a.k)?;
    if !models::valid_name(&a.name) {
        return Err(RuntimeError::Usage {
            message: format!("`{}` cannot name a model", a.name),
            help: Some("use letters, digits and _, starting with a letter: it is written `cluster(NAME)` in segments".into()),
        }
        .into());
    }
    let (mut engine, segment) = population(&a.data, &a.files, a.segment.as_deref(), None).await?;
    engine.check_partners(&a.partner).await?;
    let opts = FitOptions {
        kmeans: KMeansOptions {
            k: *ks.start(),
            seed: a.seed,
            n_init: a.n_init.max(1),
            max_iter: a.max_iter,
            tol: a.tol.max(0.0),
        },
        segment,
        scope: a.partner.clone(),
    };
    if ks.start() != ks.end() {
        let rows = models::sweep(&mut engine, ks, &opts).await?;
        let mut out = String::from("    k         inertia  silhouette\n");
        for r in rows {
            let s = r.silhouette.map_or("-".to_string(), |s| format!("{s:.4}"));
            out.push_str(&format!("{:>5} {:>15.2} {:>11}\n", r.k, r.inertia, s));
        }
        out.push_str(&format!(
            "\nsilhouette over a sample of {} customers; nothing written: fit one k with --k N\n",
            models::SILHOUETTE_SAMPLE
        ));
        write_text(None, &out)?;
        return Ok(ExitCode::SUCCESS);
    }
    // Only a clusters model is fitted again under its name: never a file of another kind.
    let refused = match models::existing_kind(&engine.project, &a.name) {
        Some(Ok(kind)) if kind == "score" => Some("is a score model".to_string()),
        Some(Ok(kind)) if kind != "clusters" => {
            Some(format!("is not a clusters model (its kind is `{kind}`)"))
        }
        Some(Err(why)) => Some(format!("is not a clusters model ({why})")),
        _ => None,
    };
    if let Some(what) = refused {
        return Err(RuntimeError::Model {
            message: format!("models/{}.json {what}; it is not replaced", a.name),
            help: Some("choose another name for the clusters model".into()),
        }
        .into());
    }
    let fit = models::fit_clusters(&mut engine, &opts).await?;
    let path = models::write(&engine.project, &a.name, &fit.file)?;
    let mut out = format!(
        "{} clusters of {} customers as of {} ({} features, feature set v{}), inertia {:.2}{}; wrote {}\n{}\n",
        fit.file.fit.k,
        segql_runtime::output::thousands(&fit.file.fit.customers.to_string()),
        fit.file.as_of,
        fit.file.features.len(),
        fit.file.feature_set.version,
        fit.file.fit.inertia,
        fit.file
            .fit
            .silhouette
            .map_or(String::new(), |s| format!(", silhouette {s:.3}")),
        path.display(),
        fit.file
            .feature_set
            .omitted_line(&models::excluded(&engine)),
    );
    for p in models::profile(&fit) {
        out.push_str(&format!(
            "cluster {:>2}: {:>9} customers ({:.1}%), {:.1}% of spend: {}\n",
            p.number,
            segql_runtime::output::thousands(&p.size.to_string()),
            p.share * 100.0,
            p.revenue_share * 100.0,
            p.traits.join("; "),
        ));
    }
    write_text(None, &out)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::parse_k;

    #[test]
    fn k_is_a_number_or_a_range() {
        assert_eq!(parse_k("16").unwrap(), 16..=16);
        assert_eq!(parse_k("4..20").unwrap(), 4..=20);
        assert_eq!(parse_k("4..=6").unwrap(), 4..=6);
        assert!(parse_k("0").is_err());
        assert!(parse_k("9..3").is_err());
        assert!(parse_k("x").is_err());
    }
}
