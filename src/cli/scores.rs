//! `segql score fit NAME --campaign CAMPAIGN`: a response score (logistic regression on the
//! campaign's test group as of its snapshot), with the two-model uplift when the campaign had
//! a control group; the report (AUC, lift table, calibration) and `models/NAME.json`. The
//! runtime fits (`segql_runtime::models::score`); this file parses, renders and writes.

use super::args::DataArgs;
use super::out::write_text;
use super::stages::load_program;
use crate::campaign::{Ask, measure_request, shown_path};
use clap::{Args, Subcommand};
use miette::Result;
use segql_runtime::RuntimeError;
use segql_runtime::models::score::{self, ScoreFit, ScoreRequest};
use segql_runtime::models::{self};
use segql_runtime::output::thousands;
use std::path::PathBuf;
use std::process::ExitCode;

/// `segql score`.
#[derive(Debug, Args)]
pub(super) struct ScoreArgs {
    #[command(subcommand)]
    command: ScoreCommand,
}

#[derive(Debug, Subcommand)]
enum ScoreCommand {
    /// Fit a response score on a campaign's test group as of its snapshot (and the uplift
    /// with its control group); print AUC, lift and calibration on a held-out fifth and
    /// write models/NAME.json.
    Fit(FitArgs),
}

/// `segql score fit`.
#[derive(Debug, Args)]
struct FitArgs {
    /// The model's name: `score(NAME)` in segments, the file models/NAME.json.
    name: String,
    /// Segment files that define the campaign. Default: every .seg file in the project
    /// directory.
    files: Vec<PathBuf>,
    /// The campaign whose response is modelled.
    #[arg(long, value_name = "CAMPAIGN")]
    campaign: String,
    /// Fit on the snapshot of this date. Default: the campaign's latest snapshot.
    #[arg(long, value_name = "DATE", value_parser = super::args::parse_date)]
    snapshot: Option<chrono::NaiveDate>,
    /// The response, instead of the campaign's `respond` (a purchase condition with one
    /// window, e.g. 'bought category "Coffee" within 14d').
    #[arg(long, value_name = "CONDITION")]
    respond: Option<String>,
    /// Only purchases at this partner count in the features (repeatable).
    #[arg(long, value_name = "PARTNER")]
    partner: Vec<String>,
    /// Fit on a snapshot taken under another definition of the campaign.
    #[arg(long)]
    any_definition: bool,
    #[command(flatten)]
    data: DataArgs,
}

/// Runs `segql score`.
pub(super) async fn score(a: ScoreArgs) -> Result<ExitCode> {
    match a.command {
        ScoreCommand::Fit(f) => fit(f).await,
    }
}

async fn fit(a: FitArgs) -> Result<ExitCode> {
    if !models::valid_name(&a.name) {
        return Err(RuntimeError::Usage {
            message: format!("`{}` cannot name a model", a.name),
            help: Some("use letters, digits and _, starting with a letter: it is written `score(NAME)` in segments".into()),
        }
        .into());
    }
    let project = a.data.project()?;
    let files = if a.files.is_empty() {
        super::stages::segment_files(&project)
    } else {
        a.files.clone()
    };
    let mut program = load_program(&files, a.data.import_root(&project).as_deref())?;
    let mut engine = a.data.engine_of(project.clone(), true, true).await?;
    super::models::warn_unloaded(&mut engine);
    // Only a score model is fitted again under its name: never a file of another kind.
    let refused = match models::existing_kind(&engine.project, &a.name) {
        Some(Ok(kind)) if kind == "clusters" => Some("is a clusters model".to_string()),
        Some(Ok(kind)) if kind != "score" => {
            Some(format!("is not a score model (its kind is `{kind}`)"))
        }
        Some(Err(why)) => Some(format!("is not a score model ({why})")),
        _ => None,
    };
    if let Some(what) = refused {
        return Err(RuntimeError::Model {
            message: format!("models/{}.json {what}; it is not replaced", a.name),
            help: Some("choose another name for the score model".into()),
        }
        .into());
    }
    engine.check_partners(&a.partner).await?;
    let req = measure_request(
        &mut engine,
        &mut program,
        &Ask {
            campaign: a.campaign.clone(),
            respond: a.respond.clone(),
            dates: a.snapshot.into_iter().collect(),
            by: None,
            partial: false,
            any_definition: a.any_definition,
        },
    )
    .await?;
    let snapshot = req
        .snapshots
        .last()
        .cloned()
        .expect("a measurement has a snapshot");
    let fit = score::fit_score(
        &mut engine,
        &ScoreRequest {
            campaign: req.campaign.clone(),
            response: req.response.clone(),
            response_text: req.response_text.clone(),
            snapshot,
            scope: a.partner.clone(),
        },
    )
    .await?;
    let path = models::write_text(&engine.project, &a.name, &fit.file.to_text())?;
    let excluded = segql_runtime::models::excluded(&engine);
    let out = report(
        &a.name,
        &shown_path(&engine.project, &path),
        &fit,
        &excluded,
    );
    write_text(None, &out)?;
    Ok(ExitCode::SUCCESS)
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// The report of a fit: what it was fitted on, AUC, the lift table with calibration, the
/// uplift and its warning.
pub(crate) fn report(name: &str, path: &str, fit: &ScoreFit, excluded: &[String]) -> String {
    let f = &fit.file;
    let t = &f.fit;
    let n = |x: usize| thousands(&x.to_string());
    let mut out = format!(
        "score `{name}`: response to `{}` ({}) of its test group as of {}, {} features (feature set v{}), L2 {}; wrote {path}\n",
        f.campaign,
        t.response,
        f.as_of,
        f.features.len(),
        f.feature_set.version,
        t.l2,
    );
    out.push_str(&f.feature_set.omitted_line(excluded));
    out.push_str(&format!(
        "fitted on {} customers ({} responders); judged on a held-out fifth of {} customers ({} responders)\n\n",
        n(t.train.customers),
        n(t.train.responders),
        n(t.held_out.customers),
        n(t.held_out.responders),
    ));
    out.push_str(&format!("AUC on the held-out fifth: {:.3}\n\n", t.auc));
    out.push_str("decile  customers  responders    rate    lift  mean score\n");
    for d in &t.deciles {
        out.push_str(&format!(
            "{:>6} {:>10} {:>11} {:>7} {:>7.2} {:>11}\n",
            d.decile,
            n(d.customers),
            n(d.responders),
            pct(d.rate),
            d.lift,
            pct(d.mean_predicted),
        ));
    }
    let base = t.held_out.responders as f64 / t.held_out.customers.max(1) as f64;
    let mean = t
        .deciles
        .iter()
        .map(|d| d.mean_predicted * d.customers as f64)
        .sum::<f64>()
        / t.held_out.customers.max(1) as f64;
    out.push_str(&format!(
        "{:>6} {:>10} {:>11} {:>7} {:>7.2} {:>11}\n",
        "all",
        n(t.held_out.customers),
        n(t.held_out.responders),
        pct(base),
        1.0,
        pct(mean),
    ));
    out.push_str("\ndecile 1 holds the highest scores; lift is the decile's rate over the held-out fifth's; mean score against rate is the calibration\n");
    if let (Some(_), Some(c)) = (&f.control, &t.control) {
        out.push_str(&format!(
            "\nuplift(`{name}`): the control group's model fitted on {} customers ({} responders)",
            n(c.customers),
            n(c.responders)
        ));
        if let (Some((predicted, observed)), Some(ch)) = (fit.held_out_uplift, fit.control_held_out)
        {
            out.push_str(&format!(
                    "; on the held-out fifths ({} test, {} control customers) the mean predicted uplift is {} points, the observed {} points",
                    n(t.held_out.customers),
                    n(ch.customers),
                    signed(predicted),
                    signed(observed)
                ));
        }
        out.push('\n');
        if !t.uplift_quintiles.is_empty() {
            out.push_str(&format!(
                "\n{:>5} {:>10} {:>11} {:>7} {:>10} {:>11} {:>7} {:>9} {:>10}\n",
                "fifth",
                "test",
                "responders",
                "rate",
                "control",
                "responders",
                "rate",
                "observed",
                "predicted"
            ));
            let rate = |c: &segql_runtime::models::score::Counts| {
                if c.customers > 0 {
                    pct(c.responders as f64 / c.customers as f64)
                } else {
                    "-".into()
                }
            };
            for q in &t.uplift_quintiles {
                out.push_str(&format!(
                    "{:>5} {:>10} {:>11} {:>7} {:>10} {:>11} {:>7} {:>9} {:>10}\n",
                    q.quintile,
                    n(q.test.customers),
                    n(q.test.responders),
                    rate(&q.test),
                    n(q.control.customers),
                    n(q.control.responders),
                    rate(&q.control),
                    q.observed.map_or("-".into(), signed),
                    signed(q.predicted),
                ));
            }
            out.push_str("\nthe held-out fifths of both groups in fifths by predicted uplift (1: the highest); observed is the test rate minus the control rate, in points, against the mean predicted\n");
        }
    }
    if let Some(w) = &t.uplift_warning {
        out.push_str(&format!("warning: {w}\n"));
    }
    out
}

fn signed(x: f64) -> String {
    format!("{:+.1}", x * 100.0)
}
