//! `segql measure`, `segql snapshots` and `segql run --snapshot`: campaigns' frozen audiences
//! and their effect against the control group.

use super::args::DataArgs;
use super::out::write_text;
use super::stages::{load_program, write_batch};
use crate::campaign::{shown_path, thousands};
use clap::{Args, Subcommand, ValueEnum};
use miette::{IntoDiagnostic, Result};
use segql_compiler::Program;
use segql_runtime::datafusion::arrow::array::StringArray;
use segql_runtime::datafusion::arrow::datatypes::DataType;
use segql_runtime::snapshots::{self, NewSnapshot, SnapshotInfo};
use segql_runtime::{Format, Project, RuntimeError};
use std::path::PathBuf;
use std::process::ExitCode;

/// How `measure` and `diff` print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum MeasureFormat {
    /// A report for people.
    Table,
    /// The same report as Markdown.
    Markdown,
    /// One row per line of the report (a snapshot and breakdown value; a segment, or a
    /// customer who moved), every figure a column.
    Csv,
    /// The rows of `csv` as a JSON array.
    Json,
}

impl MeasureFormat {
    /// `--format`, else the one `--output`'s extension names (.csv, .json, .md), else a table.
    pub(super) fn chosen(format: Option<Self>, output: Option<&std::path::Path>) -> Self {
        let ext = output
            .and_then(|p| p.extension())
            .map(|e| e.to_string_lossy().to_lowercase());
        format.unwrap_or(match ext.as_deref() {
            Some("csv") => MeasureFormat::Csv,
            Some("json") => MeasureFormat::Json,
            Some("md") => MeasureFormat::Markdown,
            _ => MeasureFormat::Table,
        })
    }
}

/// `segql measure`.
#[derive(Debug, Args)]
pub(super) struct MeasureArgs {
    /// The campaign.
    campaign: String,
    /// Segment files that define it. Default: every .seg file in the project directory.
    files: Vec<PathBuf>,
    /// Measure the snapshot of this date (repeatable). Default: every snapshot, side by side.
    #[arg(long = "snapshot", value_name = "DATE", value_parser = super::args::parse_date)]
    snapshot: Vec<chrono::NaiveDate>,
    /// Break down by lifecycle, rfm_segment, abc, partner or a customer attribute (as of the
    /// snapshot date).
    #[arg(long, value_name = "BY")]
    by: Option<String>,
    /// The response, instead of the campaign's `respond` (a purchase condition with one
    /// window, e.g. 'bought category "Coffee" within 14d').
    #[arg(long, value_name = "CONDITION")]
    respond: Option<String>,
    /// Measure a response window that runs past the data, over the days there are.
    #[arg(long)]
    partial: bool,
    /// Measure a snapshot taken under another definition of the campaign.
    #[arg(long)]
    any_definition: bool,
    /// Output format. Default: from --output's extension (.csv, .json, .md), else table.
    #[arg(long, value_enum)]
    format: Option<MeasureFormat>,
    /// Write to this file (atomically) instead of standard output.
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
}

/// `segql snapshots`.
#[derive(Debug, Args)]
pub(super) struct SnapshotsArgs {
    #[command(subcommand)]
    action: Option<SnapshotAction>,
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Debug, Subcommand)]
enum SnapshotAction {
    /// List the snapshots with their sizes (the default).
    List {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Freeze an audience another system sent: from a CSV of customer id and group, or
    /// from the communications table's `campaign` column (contacted = test) with a control
    /// group from a file or a condition.
    Import(ImportArgs),
}

#[derive(Debug, Args)]
struct ImportArgs {
    /// The campaign's name (a directory under the snapshot directory).
    campaign: String,
    /// The date the audience was treated. Default with --from-communications: the day of
    /// the campaign's last message.
    #[arg(long, value_name = "DATE", value_parser = super::args::parse_date)]
    date: Option<chrono::NaiveDate>,
    /// A CSV with `customer_id` and `group` (test/control).
    #[arg(long, value_name = "FILE", conflicts_with = "from_communications")]
    from: Option<PathBuf>,
    /// Test group: customers the communications table shows a message of this campaign to
    /// (its `campaign` column), on the date.
    #[arg(long)]
    from_communications: bool,
    /// Control group: a CSV of customer ids (with --from-communications).
    #[arg(long, value_name = "FILE", requires = "from_communications")]
    control: Option<PathBuf>,
    /// Control group: members of this condition on the date who got no message of the
    /// campaign (with --from-communications), e.g. 'birthday within 7d'.
    #[arg(long, value_name = "CONDITION", requires = "from_communications")]
    control_rule: Option<String>,
    /// The control share the audience was split with, in percent (for the sample-ratio
    /// check).
    #[arg(long, value_name = "PERCENT")]
    holdout: Option<f64>,
    /// Segment files --control-rule refers to.
    #[arg(long = "segments", value_name = "FILE")]
    segment_files: Vec<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
}

/// The program of `files`, else of every segment file of the project.
fn program_of(data: &DataArgs, project: &Project, files: &[PathBuf]) -> Result<Program> {
    let files = if files.is_empty() {
        super::stages::segment_files(project)
    } else {
        files.to_vec()
    };
    load_program(&files, data.import_root(project).as_deref())
}

/// `segql snapshots`.
pub(super) async fn snapshots_cmd(a: SnapshotsArgs) -> Result<ExitCode> {
    match a.action {
        None => list(&a.data),
        Some(SnapshotAction::List { data }) => list(&data),
        Some(SnapshotAction::Import(i)) => {
            let data = i.data.clone();
            import(&data, i).await
        }
    }
}

fn list(data: &DataArgs) -> Result<ExitCode> {
    let project = data.project()?;
    let files = snapshots::list(&project)?;
    if files.is_empty() {
        let dir = snapshots::dir(&project)
            .map(|d| shown_path(&project, &d))
            .unwrap_or_else(|| snapshots::DEFAULT_DIR.into());
        outln!(
            "no snapshots in {dir}/ (take one with `segql run FILE --segment CAMPAIGN --snapshot`)"
        );
        return Ok(ExitCode::SUCCESS);
    }
    let infos: Vec<SnapshotInfo> = files
        .iter()
        .map(snapshots::info)
        .collect::<Result<_, _>>()?;
    let rows: Vec<[String; 9]> = infos
        .iter()
        .map(|i| {
            [
                i.file.campaign.clone(),
                i.file.as_of.to_string(),
                thousands(i.members()),
                thousands(i.test),
                thousands(i.control),
                i.holdout
                    .map(|h| format!("{h}%"))
                    .unwrap_or_else(|| "-".into()),
                human_bytes(i.file.bytes),
                i.definition_hash.clone(),
                shown_path(&project, &i.file.path),
            ]
        })
        .collect();
    let header = [
        "campaign",
        "as_of",
        "members",
        "test",
        "control",
        "holdout",
        "size",
        "definition",
        "file",
    ];
    let text = crate::render::text_table(
        &header,
        &rows.iter().map(|r| r.to_vec()).collect::<Vec<_>>(),
    );
    write_text(None, &text)?;
    Ok(ExitCode::SUCCESS)
}

fn human_bytes(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

async fn import(data: &DataArgs, a: ImportArgs) -> Result<ExitCode> {
    let project = data.project()?;
    let members = if let Some(file) = &a.from {
        let date = a.date.ok_or_else(|| RuntimeError::Usage {
            message: "--date is required with --from: the day the audience was treated".into(),
            help: None,
        })?;
        (date, snapshots::read_audience_csv(file, None)?)
    } else if a.from_communications {
        from_communications(data, project.clone(), &a).await?
    } else {
        return Err(RuntimeError::Usage {
            message: "say where the audience comes from: --from FILE.csv or --from-communications"
                .into(),
            help: None,
        }
        .into());
    };
    let (date, members) = members;
    let source = match &a.from {
        Some(f) => format!(
            "imported:{}",
            f.file_name().unwrap_or_default().to_string_lossy()
        ),
        None => format!("imported:communications:{}", a.campaign),
    };
    let new = NewSnapshot {
        campaign: a.campaign.clone(),
        as_of: date,
        definition_hash: source,
        holdout: a.holdout,
    };
    let batch = snapshots::members_batch(&members);
    let w = snapshots::write(&project, &new, &[batch])?;
    outln!(
        "snapshot of {} as of {}: {} members ({} test, {} control) -> {}",
        a.campaign,
        date,
        thousands(w.test + w.control),
        thousands(w.test),
        thousands(w.control),
        shown_path(&project, &w.path)
    );
    Ok(ExitCode::SUCCESS)
}

/// Test: customers with a message of the campaign on the date; control: a file, or a
/// condition's members on the date without such a message.
async fn from_communications(
    data: &DataArgs,
    project: Project,
    a: &ImportArgs,
) -> Result<(
    chrono::NaiveDate,
    std::collections::BTreeMap<String, String>,
)> {
    use segql_runtime::datafusion::logical_expr::{LogicalPlanBuilder, col, ident, lit};
    let mut engine = data.engine_of(project.clone(), true, false).await?;
    let Some(comms) = engine.catalog.communications().cloned() else {
        return Err(RuntimeError::Usage {
            message: "the project has no communications table".into(),
            help: Some("configure [communications] in segql.toml".into()),
        }
        .into());
    };
    if comms
        .schema()
        .field_with_unqualified_name("campaign")
        .is_err()
    {
        return Err(RuntimeError::Usage {
            message: "the communications table has no `campaign` column".into(),
            help: Some("map one under [communications.columns] in segql.toml".into()),
        }
        .into());
    }
    let of_campaign = LogicalPlanBuilder::from(comms)
        .filter(col("campaign").eq(lit(a.campaign.as_str())))
        .and_then(|b| b.build())
        .map_err(super::stages::compile_err)?;
    let days = engine.distinct_values(&of_campaign, "ts").await?;
    let Some(last) = days
        .iter()
        .filter_map(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .max()
    else {
        return Err(RuntimeError::Usage {
            message: format!(
                "no message of campaign `{}` in the communications table",
                a.campaign
            ),
            help: None,
        }
        .into());
    };
    let date = a.date.unwrap_or(last);
    let sent = LogicalPlanBuilder::from(of_campaign)
        .filter(ident("ts").eq(segql_compiler::lower::date_lit(date)))
        .and_then(|b| b.build())
        .map_err(super::stages::compile_err)?;
    let mut members = std::collections::BTreeMap::new();
    for id in engine.distinct_values(&sent, "customer_id").await? {
        members.insert(id, "test".to_string());
    }
    if members.is_empty() {
        return Err(RuntimeError::Usage {
            message: format!("no message of campaign `{}` on {date}", a.campaign),
            help: Some(format!("its last message was sent on {last}; pass --date")),
        }
        .into());
    }
    let control: Vec<String> = if let Some(f) = &a.control {
        // Every row, or the rows its `group` column marks as control.
        snapshots::read_audience_csv(f, Some("control"))?
            .into_iter()
            .filter(|(_, g)| g == "control")
            .map(|(id, _)| id)
            .collect()
    } else if let Some(rule) = &a.control_rule {
        let mut program = load_program(&a.segment_files, data.import_root(&project).as_deref())?;
        let (ast, src) = program.parse_inline("--control-rule", rule)?;
        engine.catalog.as_of = date;
        let program = &program;
        let pred = engine
            .compile(|c| segql_compiler::resolve_expr(program, c, &ast, src))
            .await??;
        let q = engine
            .compile(|c| segql_compiler::lower_segment(c, &pred))
            .await?
            .map_err(super::stages::compile_err)?;
        let mut ids = Vec::new();
        for batch in engine.collect(q.plan).await? {
            let c =
                segql_runtime::datafusion::arrow::compute::cast(batch.column(0), &DataType::Utf8)
                    .into_diagnostic()?;
            let s = c
                .as_any()
                .downcast_ref::<StringArray>()
                .expect("cast to text");
            ids.extend(s.iter().flatten().map(str::to_string));
        }
        ids
    } else {
        return Err(RuntimeError::Usage {
            message: "say who the control group is: --control FILE.csv or --control-rule CONDITION"
                .into(),
            help: Some(
                "the communications table lists only the customers who got the message".into(),
            ),
        }
        .into());
    };
    for id in control {
        members.entry(id).or_insert_with(|| "control".to_string());
    }
    Ok((date, members))
}

/// `segql measure`.
pub(super) async fn measure_cmd(a: MeasureArgs) -> Result<ExitCode> {
    let project = a.data.project()?;
    let mut program = program_of(&a.data, &project, &a.files)?;
    if let Some(out) = &a.output {
        let mut inputs = segql_runtime::Inputs::of_project(&project);
        for s in &program.sources {
            if let Some(path) = &s.path {
                inputs.add_named(path, &s.name, "the segment file");
            }
        }
        inputs.check(&[(out.as_path(), "--output")])?;
    }
    let mut engine = a.data.engine_of(project.clone(), true, false).await?;
    let m = crate::campaign::measure_campaign(
        &mut engine,
        &mut program,
        &crate::campaign::Ask {
            campaign: a.campaign.clone(),
            respond: a.respond.clone(),
            dates: a.snapshot.clone(),
            by: a.by.clone(),
            partial: a.partial,
            any_definition: a.any_definition,
        },
    )
    .await?;
    let format = MeasureFormat::chosen(a.format, a.output.as_deref());
    match format {
        MeasureFormat::Table => {
            write_text(a.output.as_deref(), &crate::campaign::report(&m, false))?
        }
        MeasureFormat::Markdown => {
            write_text(a.output.as_deref(), &crate::campaign::report(&m, true))?
        }
        MeasureFormat::Csv => {
            write_batch(
                crate::campaign::rows_batch(&m)?,
                Format::Csv,
                a.output.as_deref(),
            )
            .await?
        }
        MeasureFormat::Json => {
            write_batch(
                crate::campaign::rows_batch(&m)?,
                Format::Json,
                a.output.as_deref(),
            )
            .await?
        }
    }
    Ok(ExitCode::SUCCESS)
}
