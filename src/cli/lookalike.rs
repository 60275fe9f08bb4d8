//! `segql lookalike check SEGMENT`: how well `lookalike(SEGMENT, N)` finds members hidden
//! from it. The runtime computes (`segql_runtime::models::lookalike`); this file parses and
//! renders.

use super::args::DataArgs;
use super::out::write_text;
use super::stages::{load_guarded, segment_files, select};
use clap::{Args, Subcommand};
use miette::Result;
use segql_runtime::RuntimeError;
use segql_runtime::models::lookalike;
use segql_runtime::output::thousands;
use std::path::PathBuf;
use std::process::ExitCode;

/// `segql lookalike`.
#[derive(Debug, Args)]
pub(super) struct LookalikeArgs {
    #[command(subcommand)]
    command: LookalikeCommand,
}

#[derive(Debug, Subcommand)]
enum LookalikeCommand {
    /// Hide a share of the segment's members, take the others as seeds and print how many
    /// hidden members the look-alike's first N candidates hold (its recall), against a
    /// random pick of N.
    Check(CheckArgs),
}

/// `segql lookalike check`.
#[derive(Debug, Args)]
struct CheckArgs {
    /// The segment whose look-alike is checked.
    segment: String,
    /// Segment files that define it. Default: every .seg file in the project directory.
    files: Vec<PathBuf>,
    /// The share of the members hidden from the seeds, like 20%.
    #[arg(long, default_value = "20%", value_name = "PERCENT")]
    hide: String,
    /// A look-alike size to report (repeatable). Default: 1, 2, 5 and 10 times the hidden
    /// members.
    #[arg(long, value_name = "N")]
    top: Vec<usize>,
    #[command(flatten)]
    data: DataArgs,
}

/// `--hide`: a percentage above 0 and below 100, in basis points.
fn parse_hide(s: &str) -> Result<u64, RuntimeError> {
    let bad = || RuntimeError::Usage {
        message: format!("--hide {s}: give a share above 0% and below 100%, like 20%"),
        help: None,
    };
    let p: f64 = s.trim().trim_end_matches('%').parse().map_err(|_| bad())?;
    let bp = (p * 100.0).round();
    if !(1.0..10_000.0).contains(&bp) {
        return Err(bad());
    }
    Ok(bp as u64)
}

/// Runs `segql lookalike`.
pub(super) async fn lookalike(a: LookalikeArgs) -> Result<ExitCode> {
    match a.command {
        LookalikeCommand::Check(c) => check(c).await,
    }
}

async fn check(a: CheckArgs) -> Result<ExitCode> {
    let hide = parse_hide(&a.hide)?;
    let project = a.data.project()?;
    let files = if a.files.is_empty() {
        segment_files(&project)
    } else {
        a.files.clone()
    };
    let (project, mut program) = load_guarded(&a.data, &files, None)?;
    let mut engine = a.data.engine_of(project, true, true).await?;
    let s = select(
        &mut engine,
        &mut program,
        None,
        std::slice::from_ref(&a.segment),
    )
    .await?;
    let s = s.into_iter().next().expect("one segment selected");
    let c = lookalike::check(&mut engine, &s.name, &s.pred, hide, &a.top).await?;
    let mut out = format!(
        "{}: {} members with a purchase as of {}; {} hidden ({}%), the other {} are the seeds; {} candidates\n\n",
        c.segment,
        thousands(&c.members.to_string()),
        c.as_of,
        thousands(&c.hidden.to_string()),
        hide as f64 / 100.0,
        thousands(&(c.members - c.hidden).to_string()),
        thousands(&c.candidates.to_string()),
    );
    out.push_str("        top    found   recall   random pick     lift\n");
    for r in &c.rows {
        let lift = if r.random > 0.0 {
            format!("{:.1}x", r.recall / r.random)
        } else {
            "-".into()
        };
        out.push_str(&format!(
            "{:>11} {:>8} {:>7.1}% {:>12.1}% {:>8}\n",
            thousands(&r.top.to_string()),
            thousands(&r.found.to_string()),
            r.recall * 100.0,
            r.random * 100.0,
            lift
        ));
    }
    out.push_str(
        "\nrecall: the hidden members among the look-alike's first N candidates; random pick: the recall N candidates drawn at random have on average\n",
    );
    write_text(None, &out)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::parse_hide;

    #[test]
    fn hide_is_a_share_below_all() {
        assert_eq!(parse_hide("20%").unwrap(), 2000);
        assert_eq!(parse_hide("12.5").unwrap(), 1250);
        assert!(parse_hide("0%").is_err());
        assert!(parse_hide("100%").is_err());
        assert!(parse_hide("x").is_err());
    }
}
