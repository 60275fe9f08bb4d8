//! Runtime errors: project file, data sources, execution and output.

use miette::{Diagnostic, NamedSource, SourceSpan};
use std::sync::Arc;
use thiserror::Error;

/// An error while loading the project or its data, running a query or writing its result.
#[derive(Debug, Error, Diagnostic)]
pub enum RuntimeError {
    /// A compile error.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Compile(#[from] segql_compiler::CompileError),

    /// No project file was found.
    #[error("no segql.toml found in {searched} or any parent directory")]
    #[diagnostic(
        code(segql::project::not_found),
        help(
            "pass --project DIR, or name the data directly with --transactions FILE [--customers FILE]"
        )
    )]
    NoProject {
        /// Where the search started.
        searched: String,
    },

    /// A file could not be read or written.
    #[error("cannot access `{path}`: {reason}")]
    #[diagnostic(code(segql::io))]
    Io {
        /// The path.
        path: String,
        /// Why.
        reason: String,
    },

    /// The project file is not valid TOML or does not match the expected shape.
    #[error("invalid project file: {message}")]
    #[diagnostic(code(segql::project::syntax))]
    ProjectSyntax {
        /// What the TOML parser said.
        message: String,
        /// The file.
        #[source_code]
        src: NamedSource<Arc<str>>,
        /// Where.
        #[label("here")]
        span: Option<SourceSpan>,
    },

    /// The project file parses but says something impossible.
    #[error("invalid project file: {message}")]
    #[diagnostic(code(segql::project::invalid))]
    ProjectInvalid {
        /// What is wrong.
        message: String,
        /// The file.
        #[source_code]
        src: Option<NamedSource<Arc<str>>>,
        /// Where.
        #[label("here")]
        span: Option<SourceSpan>,
    },

    /// A table's path matches no file.
    #[error("the {table} path `{path}` matches no file")]
    #[diagnostic(code(segql::data::no_files))]
    NoFiles {
        /// Which table.
        table: String,
        /// The configured path.
        path: String,
        /// What a path may be ([`RuntimeError::no_files`]).
        #[help]
        help: &'static str,
    },

    /// An object store (`s3://`, `gs://`) did not answer for a table's path: no such bucket,
    /// no credentials, no connection.
    #[error("cannot read the {table} path `{path}` from its object store: {reason}")]
    #[diagnostic(code(segql::data::object_store))]
    ObjectStore {
        /// Which table.
        table: String,
        /// The configured URL.
        path: String,
        /// The store's words.
        reason: String,
        /// What to check.
        #[help]
        help: String,
    },

    /// The file format cannot be told from the name.
    #[error("cannot tell the format of {table} file `{path}`")]
    #[diagnostic(
        code(segql::data::unknown_format),
        help(
            "name files *.csv or *.parquet, or set `format = \"csv\"` or `\"parquet\"` for the table in segql.toml"
        )
    )]
    UnknownFormat {
        /// Which table.
        table: String,
        /// The file.
        path: String,
    },

    /// A required column is missing.
    #[error("the {table} data `{path}` has no column `{column}` (for `{canonical}`)")]
    #[diagnostic(code(segql::data::missing_column))]
    MissingColumn {
        /// Which table.
        table: String,
        /// The configured path (or the one file of it that lacks the column).
        path: String,
        /// The column looked for.
        column: String,
        /// The canonical name it stands for.
        canonical: String,
        /// Advice, with the available columns.
        #[help]
        help: String,
    },

    /// A column has a type that cannot be used for its role.
    #[error(
        "column `{column}` of the {table} data `{path}` has type {found}, which cannot be used as `{canonical}`"
    )]
    #[diagnostic(code(segql::data::bad_column_type))]
    BadColumnType {
        /// Which table.
        table: String,
        /// The configured path (or the one file of it with that type).
        path: String,
        /// The column.
        column: String,
        /// Its canonical role.
        canonical: String,
        /// Its type.
        found: String,
        /// Advice.
        #[help]
        help: String,
    },

    /// A data file has no bytes at all.
    #[error("the {table} file `{path}` is empty: no header line")]
    #[diagnostic(
        code(segql::data::empty_file),
        help(
            "a CSV file needs at least its header line (a header alone is a valid file with no rows); export the file again or remove it"
        )
    )]
    EmptyFile {
        /// Which table.
        table: String,
        /// The file.
        path: String,
    },

    /// A CSV file is not UTF-8 text.
    #[error("the {table} file `{path}` is not UTF-8 text: line {line}, byte {byte} of the line")]
    #[diagnostic(code(segql::data::encoding))]
    Encoding {
        /// Which table.
        table: String,
        /// The file.
        path: String,
        /// The first line with a byte sequence that is not UTF-8 (from 1).
        line: u64,
        /// Where in that line (from 1).
        byte: usize,
        /// How to convert it.
        #[help]
        help: String,
    },

    /// A file cannot be read at all: a corrupt or truncated Parquet file, a broken CSV file.
    #[error("the {table} file `{path}` cannot be read: {reason}")]
    #[diagnostic(code(segql::data::corrupt))]
    Corrupt {
        /// Which table.
        table: String,
        /// The file.
        path: String,
        /// The reader's message.
        reason: String,
        /// Advice.
        #[help]
        help: String,
    },

    /// A value cannot be read as the type its column's role needs (a text amount, a date in
    /// another format).
    #[error(
        "the {table} file `{path}` has `{value}` in column `{column}` ({location}), which is not {expected}"
    )]
    #[diagnostic(code(segql::data::unreadable))]
    Unreadable {
        /// Which table.
        table: String,
        /// The file.
        path: String,
        /// The file's column.
        column: String,
        /// The canonical column it is read as.
        canonical: String,
        /// The offending value, as text.
        value: String,
        /// `line N` (CSV) or `row N` (Parquet).
        location: String,
        /// What the value should be: `a date`, `a number`, ...
        expected: String,
        /// Advice.
        #[help]
        help: String,
    },

    /// Reading or evaluating the data failed.
    #[error("{context}: {message}")]
    #[diagnostic(code(segql::data::read))]
    Data {
        /// What was being done.
        context: String,
        /// The engine's message.
        message: String,
        /// Advice.
        #[help]
        help: Option<String>,
    },

    /// There is nothing to evaluate.
    #[error("{message}")]
    #[diagnostic(code(segql::data::empty))]
    Empty {
        /// What is missing.
        message: String,
        /// Advice.
        #[help]
        help: Option<String>,
    },

    /// An output would replace a file the command reads (or two outputs name one file).
    #[error("{message}")]
    #[diagnostic(code(segql::output::is_input))]
    OutputIsInput {
        /// Which output and which input.
        message: String,
        /// What to do instead.
        #[help]
        help: String,
    },

    /// A snapshot that exists already: snapshots are never replaced.
    #[error("a snapshot of `{campaign}` as of {as_of} exists already: {path}")]
    #[diagnostic(code(segql::snapshot::exists))]
    SnapshotExists {
        /// The campaign.
        campaign: String,
        /// Its date.
        as_of: String,
        /// The existing file.
        path: String,
        /// What differs, and what to do.
        #[help]
        help: String,
    },

    /// A snapshot file that is not one segql can measure.
    #[error("{path} is not a valid snapshot: {message}")]
    #[diagnostic(
        code(segql::snapshot::invalid),
        help(
            "a snapshot has a `customer_id` and a `group` column (`test` or `control`); take it again or import it with `segql snapshots import`"
        )
    )]
    BadSnapshot {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },

    /// No snapshot to measure.
    #[error("{message}")]
    #[diagnostic(code(segql::snapshot::missing))]
    NoSnapshot {
        /// What is missing.
        message: String,
        /// How to take one.
        #[help]
        help: String,
    },

    /// A snapshot taken under another definition of the campaign.
    #[error("the snapshot of `{campaign}` as of {as_of} was taken under another definition")]
    #[diagnostic(
        code(segql::snapshot::definition_changed),
        help(
            "the campaign's definition changed after the snapshot (hash {snapshot_hash} in the snapshot, {current_hash} now); measure it under the definition it was taken with (e.g. from git history), or pass --any-definition to measure the snapshot as it is with today's response"
        )
    )]
    DefinitionChanged {
        /// The campaign.
        campaign: String,
        /// The snapshot's date.
        as_of: String,
        /// The hash in the snapshot.
        snapshot_hash: String,
        /// The hash of the definition now.
        current_hash: String,
    },

    /// A measurement that cannot be made.
    #[error("{message}")]
    #[diagnostic(code(segql::measure::cannot_measure))]
    CannotMeasure {
        /// Why.
        message: String,
        /// What to do.
        #[help]
        help: String,
    },

    /// A response window that runs past the data.
    #[error(
        "the response window of `{campaign}` as of {as_of} runs {missing} day{plural} past the data (it ends {end}, the data on {data_end})"
    )]
    #[diagnostic(
        code(segql::measure::partial_window),
        help(
            "wait until the window is over, or pass --partial to measure the days there are (responses are then undercounted in both groups alike)"
        )
    )]
    PartialWindow {
        /// The campaign.
        campaign: String,
        /// The snapshot's date.
        as_of: String,
        /// Days missing.
        missing: i64,
        /// "s" or "".
        plural: &'static str,
        /// The window's last day.
        end: String,
        /// The as-of date of the data.
        data_end: String,
    },

    /// Standard output was closed by its reader.
    #[error("the output was closed before the result was complete")]
    #[diagnostic(code(segql::io::closed))]
    OutputClosed,

    /// A construct a SQL dialect cannot express with the answers segql gives (`segql sql`).
    #[error("{dialect} SQL cannot express {what}")]
    #[diagnostic(code(segql::sql::unsupported))]
    SqlUnsupported {
        /// The engine.
        dialect: String,
        /// What it cannot express.
        what: String,
        /// What to do instead.
        #[help]
        help: Option<String>,
    },

    /// A bad command-line value.
    #[error("{message}")]
    #[diagnostic(code(segql::usage))]
    Usage {
        /// What is wrong.
        message: String,
        /// Advice.
        #[help]
        help: Option<String>,
    },

    /// A model cannot be fitted or written as asked: too few customers for k, a constant
    /// feature, no features.
    #[error("{message}")]
    #[diagnostic(code(segql::model))]
    Model {
        /// What is wrong.
        message: String,
        /// Advice.
        #[help]
        help: Option<String>,
    },

    /// A Ballista cluster cannot be reached, or lost the work it was given.
    #[error("{message}")]
    #[diagnostic(code(segql::cluster))]
    Cluster {
        /// What failed.
        message: String,
        /// Advice.
        #[help]
        help: Option<String>,
    },
}

impl RuntimeError {
    /// [`RuntimeError::NoFiles`] for `table`'s `path`, with what such a path may be.
    pub fn no_files(table: &str, path: &str) -> Self {
        let help = if crate::stores::is_url(path) {
            "a URL may name an object, the objects under a prefix (s3://bucket/exports/), or a glob over keys like s3://bucket/exports/*.parquet; check the bucket and the keys"
        } else {
            "paths are relative to the project directory; a path may be a file, a directory or a glob like data/*.parquet"
        };
        RuntimeError::NoFiles {
            table: table.into(),
            path: path.into(),
            help,
        }
    }

    /// Wraps an engine error with what was being done. A segql error the engine carried
    /// (found while explaining a failed read) comes back as it is.
    pub fn data(context: impl Into<String>, e: datafusion::error::DataFusionError) -> Self {
        let e = match e {
            datafusion::error::DataFusionError::External(inner) => {
                match inner.downcast::<RuntimeError>() {
                    Ok(found) => return *found,
                    Err(inner) => datafusion::error::DataFusionError::External(inner),
                }
            }
            e => e,
        };
        let message = clean_message(&e);
        let help = if message.starts_with("Resources exhausted") {
            Some("the query needs more memory than --memory-limit gives it: raise the limit".into())
        } else if message.contains("parse")
            || message.contains("Parser")
            || message.contains("Cast")
        {
            Some("check the column's values and the table's `date_format` in segql.toml".into())
        } else {
            None
        };
        RuntimeError::Data {
            context: context.into(),
            message,
            help,
        }
    }
}

/// The engine's message without its nested "External error:" prefixes and backtraces.
fn clean_message(e: &datafusion::error::DataFusionError) -> String {
    let full = e.to_string();
    let strip = |mut s: &str| -> String {
        loop {
            let before = s;
            for prefix in [
                "External error: ",
                "Arrow error: ",
                "Execution error: ",
                "Parquet error: ",
                "Csv error: ",
            ] {
                while let Some(rest) = s.strip_prefix(prefix) {
                    s = rest;
                }
            }
            if s == before {
                return s.to_string();
            }
        }
    };
    if std::env::var_os("SEGQL_DEBUG").is_some() {
        return strip(&full);
    }
    // "Error when processing CSV file PATH / caused by / WHAT": the cause says what and where.
    let lines: Vec<&str> = full.lines().collect();
    match lines.iter().rposition(|l| l.trim() == "caused by") {
        Some(i) if i + 1 < lines.len() => strip(lines[i + 1..].join(" ").trim()),
        _ => {
            let first = strip(lines.first().copied().unwrap_or(""));
            // "Resources exhausted: ... with top memory consumers (across reservations) as:"
            // lists them on the lines left out: end the sentence before its colon.
            match first.find(" with top memory consumers") {
                Some(i) => first[..i].to_string(),
                None => first,
            }
        }
    }
}
