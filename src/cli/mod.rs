//! The command line: the [`Cli`] arguments and [`run`], which hands each command to its file.
//!
//! Each command is a short sequence of stages (load, compile, run, render or write) from
//! [`stages`], over the engine that [`args::DataArgs`] opens.

use clap::{Parser, Subcommand};
use miette::Result;
use std::process::ExitCode;

#[macro_use]
mod out;

mod args;
mod check;
mod cluster;
mod demo;
mod diff;
mod explain;
mod fmt;
mod history;
mod interactive;
mod kpis;
mod lint;
mod lookalike;
mod measure;
mod messages;
mod models;
mod report;
mod reports;
mod rfm;
mod run;
mod scores;
mod shell;
mod sql;
mod stages;
mod test;

/// segql: customer segments for loyalty and CRM marketing, written as declarative conditions.
#[derive(Debug, Parser)]
#[command(name = "segql", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Evaluate segments: who is in them (or how many).
    Run(run::RunArgs),
    /// Parse, resolve and type-check segment files against the data's schema, without
    /// scanning the data; with --data, read all the data and report what a run skips or
    /// decides quietly, with counts. Exits 1 when there are errors (warnings alone: 0).
    Check(check::CheckArgs),
    /// Warn of likely mistakes in segment files: values the data lacks, conditions that never
    /// hold, windows past the data, holdouts too small to measure, unused segments. Exits 1
    /// on errors, or on warnings with --deny warnings.
    Lint(lint::LintArgs),
    /// What a change to the segment files does to their members (a git revision against the
    /// working tree), or what two dates do (--from/--to): entered, left, stayed, and why.
    Diff(diff::DiffArgs),
    /// Run the assertions of `.segtest` files (by default every one under the project's
    /// `tests/`) on their own fixture rows or the project's data. Exits 1 when one fails.
    Test(test::TestArgs),
    /// Lay segment files out in the one canonical layout, comments kept; with --check,
    /// change nothing and exit 1 listing the files that would change.
    Fmt(fmt::FmtArgs),
    /// Print the plan of a segment at each stage.
    Explain(explain::ExplainArgs),
    /// Write each segment's and campaign's query in a warehouse's SQL dialect (DuckDB,
    /// PostgreSQL, DataFusion), over the warehouse's tables.
    Sql(sql::SqlArgs),
    /// Generate a deterministic coalition-loyalty data set.
    Demo(demo::DemoArgs),
    /// Explore segments interactively: members, shares and revenue at once.
    Repl(interactive::ReplArgs),
    /// Compare segments: size, revenue, average check, purchases and recency, side by side.
    Profile(reports::ProfileArgs),
    /// Who became whom between two dates: lifecycle stages, RFM segments or ABC tiers.
    Transitions(reports::TransitionsArgs),
    /// Program KPIs per period (and partner, store or attribute): members, active share,
    /// members' share of turnover, card penetration, average checks, activity, inflow/churn.
    Kpis(kpis::KpisArgs),
    /// A segment's exact size as of each week's, month's or quarter's end, who entered and
    /// left since the previous one, and its members' share of turnover in the period.
    History(history::HistoryArgs),
    /// Per month or quarter: new customers in, customers churned out, and the balance.
    Flows(reports::FlowsArgs),
    /// Suggest each partner's lifecycle thresholds from its customers' purchase gaps.
    LifecycleThresholds(reports::ThresholdArgs),
    /// The RFM grid: customers, share of revenue and average monetary per R x F cell, and
    /// the named segments' sizes and shares.
    Rfm(rfm::RfmArgs),
    /// Write the customers' features (the versioned feature set of docs/features.md), one
    /// row per customer with a purchase, or per member of --segment.
    Features(models::FeaturesArgs),
    /// Customer clusters: `segql clusters fit NAME --k 16` writes models/NAME.json for
    /// `cluster(NAME) = 3` in segments and prints each cluster's profile.
    Clusters(models::ClustersArgs),
    /// Response scores: `segql score fit NAME --campaign CAMPAIGN` fits the campaign's
    /// response on its test group (and the uplift with its control group), writes
    /// models/NAME.json for `score(NAME)` and `uplift(NAME)` in segments.
    Score(scores::ScoreArgs),
    /// Look-alikes: `segql lookalike check SEGMENT` hides a share of the segment's members
    /// and prints how many of them `lookalike(SEGMENT, N)` finds.
    Lookalike(lookalike::LookalikeArgs),
    /// One self-contained HTML page (charts as inline SVG, each with its numbers) of the
    /// segments, the RFM grid, lifecycle, program KPIs, campaigns and segments over time.
    Report(report::ReportArgs),
    /// Did a campaign work? Its snapshots' test groups against their control groups.
    Measure(measure::MeasureArgs),
    /// List campaigns' snapshots (frozen audiences), or import one sent by another system.
    Snapshots(Box<measure::SnapshotsArgs>),
    /// Run a Ballista scheduler with segql's functions, for `--engine ballista://HOST:PORT`;
    /// it prints when it listens and when executors register or are lost.
    Scheduler(cluster::SchedulerArgs),
    /// Run a Ballista executor with segql's functions, registered with a scheduler.
    Executor(cluster::ExecutorArgs),
    /// A Ballista cluster on this machine: `segql cluster start --executors N`.
    Cluster(cluster::ClusterArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell); in bash, zsh and fish,
    /// segment names complete after --segment.
    Completions(shell::CompletionsArgs),
    /// Print a man page (roff): `segql man > segql.1`, `segql man run > segql-run.1`.
    Man(shell::ManArgs),
    /// The project's segment names, one per line (for shell completion).
    #[command(name = "__segments", hide = true)]
    Segments,
}

/// Runs a command; diagnostics come back as the error.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Run(a) => run::run(a).await,
        Command::Check(a) => check::check(a).await,
        Command::Lint(a) => lint::lint(a).await,
        Command::Explain(a) => explain::explain(a).await,
        Command::Diff(a) => diff::diff(a).await,
        Command::Test(a) => test::test(a).await,
        Command::Fmt(a) => fmt::fmt(a).await,
        Command::Sql(a) => sql::sql(a).await,
        Command::Demo(a) => demo::demo(a),
        Command::Repl(a) => interactive::repl(a).await,
        Command::Profile(a) => reports::profile(a).await,
        Command::Transitions(a) => reports::transitions(a).await,
        Command::Flows(a) => reports::flows(a).await,
        Command::Kpis(a) => kpis::kpis(a).await,
        Command::History(a) => history::history(a).await,
        Command::LifecycleThresholds(a) => reports::thresholds(a).await,
        Command::Rfm(a) => rfm::rfm(a).await,
        Command::Features(a) => models::features(a).await,
        Command::Clusters(a) => models::clusters(a).await,
        Command::Score(a) => scores::score(a).await,
        Command::Lookalike(a) => lookalike::lookalike(a).await,
        Command::Report(a) => report::report(a).await,
        Command::Measure(a) => measure::measure_cmd(a).await,
        Command::Snapshots(a) => measure::snapshots_cmd(*a).await,
        Command::Scheduler(a) => cluster::scheduler(a).await,
        Command::Executor(a) => cluster::executor(a).await,
        Command::Cluster(a) => cluster::cluster(a).await,
        Command::Completions(a) => shell::completions(a),
        Command::Man(a) => shell::man(a),
        Command::Segments => shell::segment_names(),
    }
}
