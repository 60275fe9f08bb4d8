//! The columns of each file of a table. Files of one table (a directory or a glob) are matched
//! by column name, never by position: a file may lack a column that others have (a later
//! monthly export that added one), and reads as missing values there, but every file must
//! have the table's required columns.

use crate::error::RuntimeError;
use crate::project::config::{FileFormat, Project, TX_REQUIRED, TableConfig};
use crate::sources::Kind;
use std::path::{Path, PathBuf};

/// A table's files grouped by their columns (the same names in the same order), each group in
/// the order of its first file.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// (the columns, the files that have exactly them).
    pub groups: Vec<(Vec<String>, Vec<PathBuf>)>,
}

impl Layout {
    /// Every column of any file, in the order of first appearance.
    pub fn all_columns(&self) -> Vec<String> {
        let mut all: Vec<String> = Vec::new();
        for (cols, _) in &self.groups {
            for c in cols {
                if !all.contains(c) {
                    all.push(c.clone());
                }
            }
        }
        all
    }

    /// Columns that some files lack, each with those files.
    pub fn partly_missing(&self) -> Vec<(String, Vec<PathBuf>)> {
        self.all_columns()
            .into_iter()
            .filter_map(|c| {
                let lacking: Vec<PathBuf> = self
                    .groups
                    .iter()
                    .filter(|(cols, _)| !cols.contains(&c))
                    .flat_map(|(_, files)| files.iter().cloned())
                    .collect();
                (!lacking.is_empty()).then_some((c, lacking))
            })
            .collect()
    }
}

/// The column names of one file: a CSV file's header, a Parquet file's schema. `None` when the
/// file cannot be read that far (reading it reports why).
pub(crate) fn columns_of(file: &Path, format: FileFormat, delimiter: u8) -> Option<Vec<String>> {
    match format {
        FileFormat::Csv => {
            let mut r = csv::ReaderBuilder::new()
                .has_headers(true)
                .delimiter(delimiter)
                .from_path(file)
                .ok()?;
            Some(r.headers().ok()?.iter().map(str::to_string).collect())
        }
        FileFormat::Parquet => {
            use datafusion::parquet::file::metadata::ParquetMetaDataReader;
            let f = std::fs::File::open(file).ok()?;
            let meta = ParquetMetaDataReader::new().parse_and_finish(&f).ok()?;
            let schema = meta.file_metadata().schema_descr();
            Some(
                schema
                    .root_schema()
                    .get_fields()
                    .iter()
                    .map(|f| f.name().to_string())
                    .collect(),
            )
        }
    }
}

/// The columns every file of a table needs, as the files name them.
fn required(cfg: &TableConfig, kind: Kind) -> Vec<(String, &'static str)> {
    let canonical: &[&'static str] = match kind {
        Kind::Transactions => &TX_REQUIRED,
        Kind::Communications => &["customer_id", "ts"],
        Kind::Customers => &["customer_id"],
    };
    canonical
        .iter()
        .map(|c| (cfg.mapped(c).unwrap_or(c).to_string(), *c))
        .collect()
}

/// Groups `files` by their columns (one file is one group, its columns not read), and checks that a required column present in some file
/// is present in all (a column missing everywhere is reported by the read, with "did you
/// mean").
pub(crate) fn layout(
    project: &Project,
    cfg: &TableConfig,
    kind: Kind,
    files: &[PathBuf],
    format: FileFormat,
) -> Result<Layout, RuntimeError> {
    if files.len() == 1 {
        return Ok(Layout {
            groups: vec![(Vec::new(), files.to_vec())],
        });
    }
    let mut groups: Vec<(Vec<String>, Vec<PathBuf>)> = Vec::new();
    for f in files {
        let delimiter = crate::sources::csv_delimiter(cfg, f);
        // A file whose columns cannot be read joins the first group: reading it reports why.
        let cols = match columns_of(f, format, delimiter) {
            Some(c) => c,
            None => match groups.first() {
                Some((c, _)) => c.clone(),
                None => Vec::new(),
            },
        };
        match groups.iter_mut().find(|(c, _)| *c == cols) {
            Some((_, fs)) => fs.push(f.clone()),
            None => groups.push((cols, vec![f.clone()])),
        }
    }
    let shown = |f: &Path| crate::probe::shown_path(project, cfg, files, f);
    for (column, canonical) in required(cfg, kind) {
        let Some((with, with_files)) = groups.iter().find(|(c, _)| c.contains(&column)) else {
            continue;
        };
        if let Some((without, without_files)) = groups.iter().find(|(c, _)| !c.contains(&column)) {
            let (bad, good) = (&without_files[0], &with_files[0]);
            return Err(RuntimeError::MissingColumn {
                table: kind.name().into(),
                path: shown(bad),
                column,
                canonical: canonical.into(),
                help: format!(
                    "`{}` has it. Files of one table are matched by column name: a file may lack an optional column (missing values there), not a required one. Its columns: {}; those of `{}`: {}",
                    shown(good),
                    without.join(", "),
                    shown(good),
                    with.join(", ")
                ),
            });
        }
    }
    Ok(Layout { groups })
}

/// The number of records of one file (a CSV file's lines after the header, a Parquet file's
/// rows), 0 when it cannot be read.
pub(crate) fn rows_of(file: &Path, format: FileFormat, delimiter: u8) -> u64 {
    match format {
        FileFormat::Csv => csv::ReaderBuilder::new()
            .has_headers(true)
            .delimiter(delimiter)
            .from_path(file)
            .map(|mut r| r.byte_records().filter(Result::is_ok).count() as u64)
            .unwrap_or(0),
        FileFormat::Parquet => {
            use datafusion::parquet::file::metadata::ParquetMetaDataReader;
            std::fs::File::open(file)
                .ok()
                .and_then(|f| ParquetMetaDataReader::new().parse_and_finish(&f).ok())
                .map_or(0, |m| m.file_metadata().num_rows().max(0) as u64)
        }
    }
}
