//! Argument groups shared by the commands: where the data is and how to run ([`DataArgs`]),
//! and where and how to write ([`OutputArgs`]); the one place that builds [`EngineOptions`].

use chrono::NaiveDate;
use clap::{Args, ValueEnum};
use segql_runtime::cluster::EngineChoice;
use segql_runtime::{Engine, EngineOptions, Format, Project, RuntimeError};
use std::path::{Path, PathBuf};

/// Where the data is and when to evaluate.
#[derive(Debug, Args, Clone)]
pub(super) struct DataArgs {
    /// Project directory (or segql.toml). Default: the nearest segql.toml upwards.
    #[arg(long, value_name = "DIR")]
    project: Option<PathBuf>,
    /// Transactions file, directory or glob with canonical column names (no project file).
    #[arg(long, value_name = "PATH")]
    transactions: Option<String>,
    /// Customers file with canonical column names (with --transactions).
    #[arg(long, value_name = "PATH", requires = "transactions")]
    customers: Option<String>,
    /// Communications file with canonical column names (with --transactions).
    #[arg(long, value_name = "PATH", requires = "transactions")]
    communications: Option<String>,
    /// chrono format of text or integer dates, e.g. %Y%m%d (with --transactions).
    #[arg(long, value_name = "FORMAT", requires = "transactions")]
    date_format: Option<String>,
    /// Evaluate as of this date (YYYY-MM-DD). Default: the project's as_of, else the latest
    /// transaction date.
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    as_of: Option<NaiveDate>,
    /// Parallelism of query execution. Default: the number of cores.
    #[arg(long, value_name = "N")]
    partitions: Option<usize>,
    /// Memory for query execution, e.g. 512M or 4G; beyond it, work spills to disk or stops
    /// with an error.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    memory_limit: Option<usize>,
    /// Plan without one of segql's physical rules (repeatable): collect_build_side,
    /// roll_up_by_customer, collapse_runs, read_once. Results are the same; speed is not.
    #[arg(long, value_name = "RULE")]
    no_physical_rule: Vec<String>,
    /// Portable plans: no physical rule of segql's and no in-memory copies, only DataFusion's
    /// own plan nodes (and segql's functions), as other engines run them.
    #[arg(long)]
    portable: bool,
    /// Where the queries run: `local` (this process) or a Ballista cluster's scheduler,
    /// ballista://HOST:PORT (portable plans). Default: [engine] url in segql.toml, else local.
    #[arg(long, value_name = "URL", value_parser = EngineChoice::parse)]
    engine: Option<EngineChoice>,
}

impl DataArgs {
    /// The project: the data paths given, else the project file found from `--project`.
    pub(super) fn project(&self) -> Result<Project, RuntimeError> {
        match &self.transactions {
            Some(t) => Ok(Project::from_paths(
                t,
                self.customers.as_deref(),
                self.communications.as_deref(),
                self.date_format.as_deref(),
            )),
            None => Project::discover(self.project.as_deref()),
        }
    }

    /// The directory imports may not leave: the project's (none with --transactions: then
    /// each segment file's own directory).
    pub(super) fn import_root(&self, project: &Project) -> Option<PathBuf> {
        if self.transactions.is_some() {
            None
        } else {
            Some(project.dir.clone())
        }
    }

    /// The engine's options. With `tables_when_needed`, the customers and communications
    /// tables are read when a segment compiled with [`Engine::compile`] needs them.
    pub(super) fn engine_options(&self, tables_when_needed: bool) -> EngineOptions {
        EngineOptions {
            as_of: self.as_of,
            target_partitions: self.partitions,
            memory_limit: self.memory_limit,
            tables_when_needed,
            disabled_rules: self.no_physical_rule.clone(),
            portable: self.portable,
            engine: self.engine.clone(),
        }
    }

    /// The engine over the project.
    pub(super) async fn engine(
        &self,
        need_as_of: bool,
        when_needed: bool,
    ) -> Result<Engine, RuntimeError> {
        self.engine_of(self.project()?, need_as_of, when_needed)
            .await
    }

    /// The engine over `project`, with these options.
    pub(super) async fn engine_of(
        &self,
        project: Project,
        need_as_of: bool,
        when_needed: bool,
    ) -> Result<Engine, RuntimeError> {
        Engine::open(project, self.engine_options(when_needed), need_as_of).await
    }
}

/// Where and how a command writes its result.
#[derive(Debug, Args)]
pub(super) struct OutputArgs {
    /// Output format. Default: from --output's extension, else table.
    #[arg(long, value_enum)]
    pub(super) format: Option<OutFormat>,
    /// Write to this file (atomically) instead of standard output.
    #[arg(short, long, value_name = "PATH")]
    pub(super) output: Option<PathBuf>,
}

impl OutputArgs {
    /// The output file, if any.
    pub(super) fn path(&self) -> Option<&Path> {
        self.output.as_deref()
    }

    /// The format to write: see [`output_format`].
    pub(super) fn format(&self) -> Result<Format, RuntimeError> {
        output_format(self.format, self.path())
    }
}

/// The formats of `--format`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum OutFormat {
    Table,
    Csv,
    Json,
    Parquet,
    Xlsx,
}

/// The output format: `--format`, else the extension of `--output` (a file segql cannot
/// write is an error that lists the formats), else a table.
pub(super) fn output_format(
    format: Option<OutFormat>,
    output: Option<&Path>,
) -> Result<Format, RuntimeError> {
    Ok(match (format, output) {
        (Some(f), _) => match f {
            OutFormat::Table => Format::Table,
            OutFormat::Csv => Format::Csv,
            OutFormat::Json => Format::Json,
            OutFormat::Parquet => Format::Parquet,
            OutFormat::Xlsx => Format::Xlsx,
        },
        (None, Some(p)) => match Format::from_path(p) {
            Some(f) => f,
            // Standard output, a pipe or a device: a table unless --format says otherwise (a
            // directory is refused when opened).
            None if p.as_os_str() == "-" || std::fs::metadata(p).is_ok_and(|m| !m.is_file()) => {
                Format::Table
            }
            None => {
                return Err(RuntimeError::Usage {
                    message: format!("segql cannot write `{}`: unknown file type", p.display()),
                    help: Some(format!(
                        "name the file {}, or give --format",
                        segql_runtime::output::EXTENSIONS
                    )),
                });
            }
        },
        (None, None) => Format::Table,
    })
}

/// A date as YYYY-MM-DD.
pub(crate) fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| format!("`{s}` is not a date like 2024-06-30"))
}

/// A size in bytes, with an optional K, M or G.
pub(super) fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: usize = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                _ => return Err(format!("`{s}`: use a size like 512M or 4G")),
            };
            (&t[..i], m)
        }
        _ => (t, 1),
    };
    num.trim()
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{s}`: use a size like 512M or 4G"))
}
