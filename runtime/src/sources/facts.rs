//! What a table's files are before any row is read: the columns of each file (files of one
//! table are matched by column name, never by position: a file may lack a column that others
//! have (a later monthly export that added one), and reads as missing values there, but every
//! file must have the table's required columns), their row counts, and what the statistics of
//! Parquet transaction files prove about every line.

use super::discovery::{Kind, csv_delimiter, locate, shown_path, url_of};
use crate::error::RuntimeError;
use crate::project::config::{FileFormat, Project, TX_REQUIRED, TableConfig};
use segql_compiler::DataFacts;
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
pub(crate) async fn columns_of(
    file: &Path,
    format: FileFormat,
    delimiter: u8,
) -> Option<Vec<String>> {
    match format {
        FileFormat::Csv => {
            let builder = || {
                let mut b = csv::ReaderBuilder::new();
                b.has_headers(true).delimiter(delimiter);
                b
            };
            let header = match url_of(file) {
                Some(url) => {
                    let head = crate::stores::read_first_line(url).await.ok()?;
                    builder()
                        .from_reader(head.as_slice())
                        .headers()
                        .ok()?
                        .clone()
                }
                None => builder().from_path(file).ok()?.headers().ok()?.clone(),
            };
            Some(header.iter().map(str::to_string).collect())
        }
        FileFormat::Parquet => {
            let meta = parquet_metadata(file).await?;
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

/// The footer metadata of a Parquet file, local or in an object store; `None` when it cannot
/// be read.
async fn parquet_metadata(
    file: &Path,
) -> Option<datafusion::parquet::file::metadata::ParquetMetaData> {
    use datafusion::parquet::file::metadata::ParquetMetaDataReader;
    match url_of(file) {
        Some(url) => crate::stores::parquet_metadata(url).await.ok(),
        None => {
            let f = std::fs::File::open(file).ok()?;
            ParquetMetaDataReader::new().parse_and_finish(&f).ok()
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
pub(crate) async fn layout(
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
        let delimiter = csv_delimiter(cfg, f);
        // A file whose columns cannot be read joins the first group: reading it reports why.
        let cols = match columns_of(f, format, delimiter).await {
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
    let shown = |f: &Path| shown_path(project, cfg, files, f);
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
pub(crate) async fn rows_of(file: &Path, format: FileFormat, delimiter: u8) -> u64 {
    match format {
        FileFormat::Csv => {
            let mut b = csv::ReaderBuilder::new();
            b.has_headers(true).delimiter(delimiter);
            fn count<R: std::io::Read>(mut r: csv::Reader<R>) -> usize {
                r.byte_records().filter(Result::is_ok).count()
            }
            let n = match url_of(file) {
                Some(url) => match crate::stores::read_all(url).await {
                    Ok(bytes) => count(b.from_reader(bytes.as_slice())),
                    Err(_) => 0,
                },
                None => b.from_path(file).map(count).unwrap_or(0),
            };
            n as u64
        }
        FileFormat::Parquet => parquet_metadata(file)
            .await
            .map_or(0, |m| m.file_metadata().num_rows().max(0) as u64),
    }
}

/// A table's files grouped by their columns, and their format.
pub(crate) async fn table_layout(
    project: &Project,
    cfg: &TableConfig,
    kind: Kind,
) -> Result<(Layout, FileFormat), RuntimeError> {
    let (files, format) = locate(project, cfg, kind).await?;
    Ok((layout(project, cfg, kind, &files, format).await?, format))
}

/// What the footers of Parquet files bound about a floating-point `amount` column: the largest
/// absolute amount of any line and the number of lines. Only when every row group of every
/// file has exact, finite statistics of a `DOUBLE` or `FLOAT` column.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct AmountBound {
    /// The largest |amount| of any line.
    pub max_abs: f64,
    /// Lines in all files.
    pub rows: u64,
}

/// What the footers of Parquet transaction files prove about every line: ids present (no
/// NULL, no empty text) and the range of dates (no NULL), and the bound of float amounts
/// ([`AmountBound`]). Only Parquet files, only statistics that are exact for the normalized
/// column (a text id, an integer id, a Date32 date); CSV files and anything unknown prove
/// nothing.
pub(crate) async fn transaction_facts(
    cfg: &TableConfig,
    files: &[PathBuf],
) -> (DataFacts, Option<AmountBound>) {
    use datafusion::parquet::file::statistics::Statistics;
    let mapped = |canonical| cfg.mapped(canonical).unwrap_or(canonical);
    let (id_col, ts_col, amount_col) = (mapped("customer_id"), mapped("ts"), mapped("amount"));
    let mut ids_present = true;
    let mut amounts = Some(AmountBound {
        max_abs: 0.0,
        rows: 0,
    });
    let mut dates: Option<(i32, i32)> = None;
    let mut dates_known = true;
    for f in files {
        // A footer that cannot be read proves nothing; reading the data reports the error.
        let Some(meta) = parquet_metadata(f).await else {
            return (DataFacts::default(), None);
        };
        let schema = meta.file_metadata().schema_descr();
        let leaf = |name: &str| {
            (0..schema.num_columns()).find(|&i| schema.column(i).path().string() == name)
        };
        let (id_i, ts_i, amount_i) = (leaf(id_col), leaf(ts_col), leaf(amount_col));
        let ts_is_date = ts_i.is_some_and(|i| {
            matches!(
                schema.column(i).logical_type_ref(),
                Some(datafusion::parquet::basic::LogicalType::Date)
            )
        });
        for rg in meta.row_groups() {
            let stats = |i: Option<usize>| i.and_then(|i| rg.column(i).statistics());
            amounts = amounts.and_then(|b| {
                let (lo, hi) = match stats(amount_i)? {
                    Statistics::Double(d) if d.min_is_exact() && d.max_is_exact() => {
                        (*d.min_opt()?, *d.max_opt()?)
                    }
                    Statistics::Float(d) if d.min_is_exact() && d.max_is_exact() => {
                        (f64::from(*d.min_opt()?), f64::from(*d.max_opt()?))
                    }
                    // A row group of NULL amounts only has no bounds and needs none.
                    s if s.null_count_opt() == Some(rg.num_rows() as u64) => (0.0, 0.0),
                    _ => return None,
                };
                let max_abs = lo.abs().max(hi.abs());
                max_abs.is_finite().then_some(AmountBound {
                    max_abs: b.max_abs.max(max_abs),
                    rows: b.rows + rg.num_rows() as u64,
                })
            });
            ids_present &= match stats(id_i) {
                Some(s) if s.null_count_opt() == Some(0) => match s {
                    Statistics::ByteArray(b) => b.min_opt().is_some_and(|m| !m.data().is_empty()),
                    Statistics::Int32(_) | Statistics::Int64(_) => true,
                    _ => false,
                },
                _ => false,
            };
            match stats(ts_i) {
                Some(Statistics::Int32(d)) if ts_is_date && d.null_count_opt() == Some(0) => {
                    if rg.num_rows() == 0 {
                        continue;
                    }
                    match (d.min_opt(), d.max_opt()) {
                        (Some(&lo), Some(&hi)) if d.min_is_exact() && d.max_is_exact() => {
                            dates = Some(dates.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
                        }
                        _ => dates_known = false,
                    }
                }
                _ => dates_known = false,
            }
        }
    }
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    let day = |d: i32| epoch.checked_add_signed(chrono::Duration::days(d.into()));
    let facts = DataFacts {
        ids_present,
        dates: dates
            .filter(|_| dates_known)
            .and_then(|(lo, hi)| Some((day(lo)?, day(hi)?))),
    };
    (facts, amounts)
}
