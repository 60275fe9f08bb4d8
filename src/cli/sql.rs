//! `segql sql`: each segment's and campaign's query in a warehouse's SQL dialect.

use super::args::DataArgs;
use super::out::write_text;
use super::stages::{compile_err, load_guarded, lower_one, select};
use clap::{Args, ValueEnum};
use miette::Result;
use segql_runtime::RuntimeError;
use segql_runtime::sql::{Dialect, holdout};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// `segql sql`.
#[derive(Debug, Args)]
pub(super) struct SqlArgs {
    /// Segment files. Their segments can be referenced by name in -e.
    files: Vec<PathBuf>,
    /// An expression to write, e.g. 'recency < 30d and frequency >= 3'.
    #[arg(short = 'e', long = "expr", value_name = "EXPR")]
    expr: Option<String>,
    /// Segments and campaigns to write (repeatable). Default: every one of the files.
    #[arg(short, long = "segment", value_name = "NAME", conflicts_with = "expr")]
    segment: Vec<String>,
    /// The SQL dialect.
    #[arg(long, value_enum)]
    dialect: SqlDialect,
    /// The warehouse's name of a table (repeatable), e.g. transactions=analytics.tx.
    /// Default: transactions, customers and communications.
    #[arg(long = "table", value_name = "TABLE=NAME", value_parser = parse_table)]
    tables: Vec<(String, String)>,
    /// Write to this file (atomically) instead of standard output.
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
}

/// The dialects of `--dialect`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum SqlDialect {
    /// DuckDB 1.3 or later.
    Duckdb,
    /// PostgreSQL 12 or later.
    Postgres,
    /// DataFusion, with segql's function registered.
    Datafusion,
}

impl From<SqlDialect> for Dialect {
    fn from(d: SqlDialect) -> Dialect {
        match d {
            SqlDialect::Duckdb => Dialect::DuckDb,
            SqlDialect::Postgres => Dialect::Postgres,
            SqlDialect::Datafusion => Dialect::DataFusion,
        }
    }
}

/// `TABLE=NAME`.
fn parse_table(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((t, n)) => Ok((t.trim().to_string(), n.trim().to_string())),
        None => Err("expected TABLE=NAME, e.g. transactions=analytics.tx".into()),
    }
}

/// Writes every selected segment's query, the holdout function's definition first when a
/// campaign needs it. Nothing is written unless every query can be.
pub(super) async fn sql(a: SqlArgs) -> Result<ExitCode> {
    let dialect = Dialect::from(a.dialect);
    let names: BTreeMap<String, String> = a.tables.iter().cloned().collect();
    segql_runtime::sql::check_names(&names)?;
    let (p, mut program) = load_guarded(&a.data, &a.files, a.output.as_deref())?;
    let mut engine = a.data.engine_of(p, true, true).await?;
    let segments = select(&mut engine, &mut program, a.expr.as_deref(), &a.segment).await?;
    let mut queries = String::new();
    let mut needs_holdout = false;
    for s in &segments {
        let q = lower_one(&mut engine, s).await?;
        let plan = q.sorted().map_err(compile_err)?;
        let written = segql_runtime::sql::to_sql(&plan, dialect, &names).map_err(|e| match e {
            RuntimeError::SqlUnsupported {
                dialect,
                what,
                help,
            } => RuntimeError::SqlUnsupported {
                dialect,
                what: format!("{what}, in `{}`", s.name),
                help,
            },
            e => e,
        })?;
        needs_holdout |= written.holdout;
        let kind = if s.campaign.is_some() {
            "campaign"
        } else {
            "segment"
        };
        let _ = write!(queries, "\n-- {kind} {}", s.name);
        if let Some(d) = &s.description {
            let _ = write!(queries, ": {}", d.replace('\n', " "));
        }
        let _ = writeln!(queries, "\n{}", written.sql);
    }
    let mut text = format!(
        "-- segql sql --dialect {}, as of {}\n",
        dialect.name(),
        engine.catalog.as_of
    );
    if needs_holdout && let Some(def) = holdout::definition(dialect) {
        let _ = writeln!(
            text,
            "\n-- The holdout bucket of a campaign's member (docs/sql.md).\n{def}"
        );
    }
    text.push_str(&queries);
    write_text(a.output.as_deref(), &text)?;
    Ok(ExitCode::SUCCESS)
}
