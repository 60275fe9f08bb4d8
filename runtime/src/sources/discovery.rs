//! Finding a table's files: the configured tables, paths, directories and globs expanded,
//! each file's format and CSV delimiter, and how a file is named in messages.

use crate::error::RuntimeError;
use crate::project::config::{FileFormat, Project, TableConfig};
use segql_compiler::Wanted;
use std::path::{Path, PathBuf};

/// Which table, for names and column roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Transactions,
    Customers,
    Communications,
}

impl Kind {
    /// Every table, in the order they are read.
    pub(crate) const ALL: [Kind; 3] = [Kind::Transactions, Kind::Customers, Kind::Communications];

    pub(crate) fn name(&self) -> &'static str {
        match self {
            Kind::Transactions => "transactions",
            Kind::Customers => "customers",
            Kind::Communications => "communications",
        }
    }
}

/// The tables besides transactions that `w` names.
pub(crate) fn kinds_of(w: Wanted) -> Vec<Kind> {
    [
        (Kind::Customers, w.customers),
        (Kind::Communications, w.communications),
    ]
    .into_iter()
    .filter(|k| k.1)
    .map(|k| k.0)
    .collect()
}

/// The configured tables of a project, in the order they are read.
pub(crate) fn tables(project: &Project) -> Vec<(Kind, &TableConfig)> {
    let f = &project.file;
    [
        (Kind::Transactions, &f.transactions),
        (Kind::Customers, &f.customers),
        (Kind::Communications, &f.communications),
    ]
    .into_iter()
    .filter_map(|(k, t)| t.as_ref().map(|t| (k, t.get_ref())))
    .collect()
}

/// Expands a configured path (file, directory or glob, or an object-store URL of one) into a
/// sorted list of files; a file in an object store is its URL (`s3://BUCKET/KEY`) held as a
/// path ([`url_of`]).
pub async fn expand(base: &Path, path: &str, table: &str) -> Result<Vec<PathBuf>, RuntimeError> {
    if !crate::stores::is_url(path) {
        return expand_path(base, path, table);
    }
    let objects = crate::stores::list(table, path).await?;
    if objects.is_empty() {
        return Err(RuntimeError::no_files(table, path));
    }
    if let Some(o) = objects.iter().find(|o| o.size == 0) {
        return Err(RuntimeError::EmptyFile {
            table: table.into(),
            path: o.url.clone(),
        });
    }
    let files: Vec<PathBuf> = objects.into_iter().map(|o| PathBuf::from(o.url)).collect();
    one_file_type(&files, path, table)?;
    Ok(files)
}

/// The URL of a table's file that is in an object store (see [`expand`]), `None` for a local
/// file.
pub(crate) fn url_of(file: &Path) -> Option<&str> {
    file.to_str().filter(|f| crate::stores::is_url(f))
}

/// Expands a configured local path (file, directory or glob) into a sorted list of files.
pub fn expand_path(base: &Path, path: &str, table: &str) -> Result<Vec<PathBuf>, RuntimeError> {
    let full = if Path::new(path).is_absolute() {
        PathBuf::from(path)
    } else {
        base.join(path)
    };
    let no_files = || RuntimeError::no_files(table, path);
    let mut files = Vec::new();
    if path.contains(['*', '?', '[']) {
        let pattern = full.to_string_lossy().to_string();
        let paths = glob::glob(&pattern).map_err(|e| RuntimeError::Usage {
            message: format!("invalid glob `{path}`: {e}"),
            help: None,
        })?;
        files.extend(paths.filter_map(Result::ok).filter(|p| p.is_file()));
    } else if full.is_dir() {
        let entries = std::fs::read_dir(&full).map_err(|e| RuntimeError::Io {
            path: full.display().to_string(),
            reason: e.to_string(),
        })?;
        files.extend(
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file() && format_of(p).is_some()),
        );
    } else if full.is_file() {
        files.push(full);
    }
    files.sort();
    if files.is_empty() {
        return Err(no_files());
    }
    one_file_type(&files, path, table)?;
    Ok(files)
}

/// Refuses a table's files of more than one file type.
fn one_file_type(files: &[PathBuf], path: &str, table: &str) -> Result<(), RuntimeError> {
    let ext = |p: &PathBuf| p.extension().map(|e| e.to_ascii_lowercase());
    if let Some(other) = files.iter().find(|f| ext(f) != ext(&files[0])) {
        return Err(RuntimeError::Usage {
            message: format!(
                "the {table} path `{path}` mixes file types: {} and {}",
                files[0].display(),
                other.display()
            ),
            help: Some(
                "keep one file type per table, or narrow the path with a glob like data/*.csv"
                    .into(),
            ),
        });
    }
    Ok(())
}

pub(crate) fn format_of(p: &Path) -> Option<FileFormat> {
    let name = p.file_name()?.to_string_lossy().to_lowercase();
    if name.ends_with(".csv") || name.ends_with(".tsv") || name.ends_with(".txt") {
        Some(FileFormat::Csv)
    } else if name.ends_with(".parquet") || name.ends_with(".pq") {
        Some(FileFormat::Parquet)
    } else {
        None
    }
}

/// The field delimiter of a CSV table: the configured one, else a tab for `.tsv` files and a
/// comma for others.
pub(crate) fn csv_delimiter(cfg: &TableConfig, file: &Path) -> u8 {
    let tsv = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("tsv"));
    cfg.delimiter
        .as_ref()
        .and_then(|d| d.get_ref().bytes().next())
        .unwrap_or(if tsv { b'\t' } else { b',' })
}

pub(crate) fn is_csv(cfg: &TableConfig, file: &Path) -> bool {
    match cfg.format {
        Some(f) => f == FileFormat::Csv,
        None => !file.extension().is_some_and(|e| {
            matches!(
                e.to_string_lossy().to_lowercase().as_str(),
                "parquet" | "pq"
            )
        }),
    }
}

/// How a file is named in messages: the configured path when it is one file, else the file
/// relative to the project directory.
pub(crate) fn shown_path(
    project: &Project,
    cfg: &TableConfig,
    files: &[std::path::PathBuf],
    file: &Path,
) -> String {
    if files.len() == 1 {
        return cfg.path.get_ref().clone();
    }
    file.strip_prefix(&project.dir)
        .unwrap_or(file)
        .display()
        .to_string()
}

/// A file of no bytes has not even a header line: an error naming it (a header alone is a
/// valid file with no rows).
pub(crate) fn reject_empty_files(
    project: &Project,
    cfg: &TableConfig,
    table: &str,
    files: &[std::path::PathBuf],
) -> Result<(), RuntimeError> {
    for f in files {
        if std::fs::metadata(f).is_ok_and(|m| m.len() == 0) {
            return Err(RuntimeError::EmptyFile {
                table: table.into(),
                path: shown_path(project, cfg, files, f),
            });
        }
    }
    Ok(())
}

/// A table's files (none of them empty) and their format.
pub(crate) async fn locate(
    project: &Project,
    cfg: &TableConfig,
    kind: Kind,
) -> Result<(Vec<PathBuf>, FileFormat), RuntimeError> {
    let table = kind.name();
    let files = expand(&project.dir, cfg.path.get_ref(), table).await?;
    reject_empty_files(project, cfg, table, &files)?;
    let format = match cfg.format {
        Some(f) => f,
        None => format_of(&files[0]).ok_or_else(|| RuntimeError::UnknownFormat {
            table: table.into(),
            path: files[0].display().to_string(),
        })?,
    };
    Ok((files, format))
}
