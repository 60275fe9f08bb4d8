//! Data sources: finding a table's files, reading them with DataFusion and normalizing their
//! columns to segql's canonical names and types.
//!
//! Canonical types: `customer_id` Int64 or text (Utf8View; text in every table when the
//! tables disagree), dates Date32, `amount` Decimal128(38, 2 or the file's larger scale), `quantity`
//! Int64 or Decimal128(38, 3), dimensions and ids Utf8.

use crate::error::RuntimeError;
use crate::project::config::{FileFormat, Project, TX_OPTIONAL, TX_REQUIRED, TableConfig};
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::common::TableReference;
use datafusion::functions::expr_fn::to_date;
use datafusion::logical_expr::TableScanBuilder;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, cast, ident, lit};
use datafusion::prelude::{CsvReadOptions, DataFrame, ParquetReadOptions, SessionContext};
use segql_compiler::{DataFacts, Wanted};
use std::path::{Path, PathBuf};

/// The normalized input tables.
#[derive(Debug, Clone)]
pub struct Tables {
    /// Transactions.
    pub transactions: LogicalPlan,
    /// Customers, if configured and read: one row per customer.
    pub customers: Option<LogicalPlan>,
    /// The customers' rows before duplicate ids are merged (rows without an id dropped).
    pub customer_rows: Option<LogicalPlan>,
    /// Communications, if configured and read.
    pub communications: Option<LogicalPlan>,
    /// The configured tables not read yet ([`read_unread`] reads them).
    pub unread: Wanted,
    /// What the transactions' Parquet statistics prove about every line.
    pub facts: DataFacts,
}

impl Tables {
    /// The tables of `wanted` not read yet.
    pub(crate) fn unread_of(&self, wanted: Wanted) -> Wanted {
        Wanted {
            customers: wanted.customers && self.unread.customers,
            communications: wanted.communications && self.unread.communications,
        }
    }

    /// The tables read so far, transactions first.
    pub(crate) fn read_kinds(&self) -> Vec<Kind> {
        let read = Wanted {
            customers: !self.unread.customers,
            communications: !self.unread.communications,
        };
        let mut kinds = vec![Kind::Transactions];
        kinds.extend(kinds_of(read));
        kinds
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

/// Reads the configured tables (lazily: only schemas are inferred, no data is scanned).
///
/// With `when_needed`, the customers and communications tables are only located (their
/// files found, none empty) and left unread ([`Tables::unread`]) for [`read_unread`], when
/// transactions identify customers by text: then every table's ids end up text whatever
/// the others hold, so reading a table later changes no other. Integer transaction ids
/// become text only if another table's are not integers, so then every table is read now.
pub async fn load_tables(
    ctx: &SessionContext,
    project: &Project,
    when_needed: bool,
) -> Result<Tables, RuntimeError> {
    let f = &project.file;
    let tx_cfg = f
        .transactions
        .as_ref()
        .expect("validated: transactions exist");
    let (transactions, facts) = load(ctx, project, tx_cfg.get_ref(), Kind::Transactions).await?;
    let mut tables = Tables {
        transactions,
        customers: None,
        customer_rows: None,
        communications: None,
        unread: Wanted {
            customers: f.customers.is_some(),
            communications: f.communications.is_some(),
        },
        facts,
    };
    if when_needed && id_type(&tables.transactions) == TEXT {
        for (kind, cfg) in [
            (Kind::Customers, &f.customers),
            (Kind::Communications, &f.communications),
        ] {
            if let Some(cfg) = cfg {
                locate(project, cfg.get_ref(), kind)?;
            }
        }
        return Ok(tables);
    }
    let all = tables.unread;
    read_unread(ctx, project, &mut tables, all).await?;
    Ok(tables)
}

/// Reads the unread tables named in `wanted`, their ids made text where they differ from the
/// transactions' (then the transactions' too: with every table read at once, as
/// [`load_tables`] does unless transactions have text ids).
pub async fn read_unread(
    ctx: &SessionContext,
    project: &Project,
    tables: &mut Tables,
    wanted: Wanted,
) -> Result<(), RuntimeError> {
    let f = &project.file;
    let reading = tables.unread_of(wanted);
    let mut customers = None;
    if let (true, Some(c)) = (reading.customers, &f.customers) {
        customers = Some(load(ctx, project, c.get_ref(), Kind::Customers).await?.0);
    }
    let mut communications = None;
    if let (true, Some(c)) = (reading.communications, &f.communications) {
        let plan = load(ctx, project, c.get_ref(), Kind::Communications)
            .await?
            .0;
        communications = Some(plan);
    }
    // One id type everywhere: text when the tables disagree.
    let t = id_type(&tables.transactions);
    let differs = customers
        .iter()
        .chain(communications.iter())
        .any(|p| id_type(p) != t);
    let mut customer_rows = customers.as_ref().map(rows_before_merge);
    if differs {
        // Every table, those read before too (unchanged when their ids are text already).
        tables.transactions = ids_as_text(tables.transactions.clone())?;
        for p in [
            &mut customers,
            &mut customer_rows,
            &mut communications,
            &mut tables.customers,
            &mut tables.customer_rows,
            &mut tables.communications,
        ] {
            *p = p.take().map(ids_as_text).transpose()?;
        }
    }
    if reading.customers {
        tables.customers = customers;
        tables.customer_rows = customer_rows;
        tables.unread.customers = false;
    }
    if reading.communications {
        tables.communications = communications;
        tables.unread.communications = false;
    }
    Ok(())
}

/// The type of a plan's `customer_id` column.
fn id_type(p: &LogicalPlan) -> DataType {
    p.schema()
        .field_with_unqualified_name("customer_id")
        .map(|f| f.data_type().clone())
        .unwrap_or(TEXT)
}

/// What the footers of Parquet transaction files prove about every line: ids present (no
/// NULL, no empty text) and the range of dates (no NULL). Only Parquet files, only statistics
/// that are exact for the normalized column (a text id, an integer id, a Date32 date); CSV
/// files and anything unknown prove nothing.
fn transaction_facts(cfg: &TableConfig, files: &[PathBuf]) -> DataFacts {
    use datafusion::parquet::file::metadata::ParquetMetaDataReader;
    use datafusion::parquet::file::statistics::Statistics;
    let mapped = |canonical| cfg.mapped(canonical).unwrap_or(canonical);
    let (id_col, ts_col) = (mapped("customer_id"), mapped("ts"));
    let mut ids_present = true;
    let mut dates: Option<(i32, i32)> = None;
    let mut dates_known = true;
    for f in files {
        // A footer that cannot be read proves nothing; reading the data reports the error.
        let Ok(file) = std::fs::File::open(f) else {
            return DataFacts::default();
        };
        let Ok(meta) = ParquetMetaDataReader::new().parse_and_finish(&file) else {
            return DataFacts::default();
        };
        let schema = meta.file_metadata().schema_descr();
        let leaf = |name: &str| {
            (0..schema.num_columns()).find(|&i| schema.column(i).path().string() == name)
        };
        let (id_i, ts_i) = (leaf(id_col), leaf(ts_col));
        let ts_is_date = ts_i.is_some_and(|i| {
            matches!(
                schema.column(i).logical_type_ref(),
                Some(datafusion::parquet::basic::LogicalType::Date)
            )
        });
        for rg in meta.row_groups() {
            let stats = |i: Option<usize>| i.and_then(|i| rg.column(i).statistics());
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
    DataFacts {
        ids_present,
        dates: dates
            .filter(|_| dates_known)
            .and_then(|(lo, hi)| Some((day(lo)?, day(hi)?))),
    }
}

/// The rows of a customers plan from [`load`] before its merge of duplicate ids (the input of
/// the aggregation it ends with).
fn rows_before_merge(customers: &LogicalPlan) -> LogicalPlan {
    match customers {
        LogicalPlan::Aggregate(a) => a.input.as_ref().clone(),
        other => other.clone(),
    }
}

/// `p` with its customer ids as text (unchanged when they are).
fn ids_as_text(p: LogicalPlan) -> Result<LogicalPlan, RuntimeError> {
    if id_type(&p) == TEXT {
        return Ok(p);
    }
    let exprs: Vec<Expr> = p
        .schema()
        .fields()
        .iter()
        .map(|f| {
            if f.name() == "customer_id" && f.data_type() != &TEXT {
                cast(ident("customer_id"), TEXT).alias("customer_id")
            } else {
                ident(f.name())
            }
        })
        .collect();
    LogicalPlanBuilder::from(p)
        .project(exprs)
        .and_then(|b| b.build())
        .map_err(|e| RuntimeError::data("normalizing customer ids", e))
}

/// Expands a configured path (file, directory or glob) into a sorted list of files.
pub fn expand_path(base: &Path, path: &str, table: &str) -> Result<Vec<PathBuf>, RuntimeError> {
    let full = if Path::new(path).is_absolute() {
        PathBuf::from(path)
    } else {
        base.join(path)
    };
    let no_files = || RuntimeError::NoFiles {
        table: table.to_string(),
        path: path.to_string(),
    };
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
    Ok(files)
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

/// `df`'s scan named `table` (DataFusion leaves a file read without a table unnamed, and
/// plans would show `?table?`).
fn named(df: DataFrame, table: &str) -> datafusion::error::Result<DataFrame> {
    let (state, plan) = df.into_parts();
    let plan = match plan {
        LogicalPlan::TableScan(scan) => LogicalPlan::TableScan(
            TableScanBuilder::new(TableReference::bare(table), scan.source)
                .with_projection(scan.projection)
                .with_filters(scan.filters)
                .with_fetch(scan.fetch)
                .with_statistics_requests(scan.statistics_requests)
                .build()?,
        ),
        other => other,
    };
    Ok(DataFrame::new(state, plan))
}

/// A table's files grouped by their columns, and their format.
pub(crate) fn table_layout(
    project: &Project,
    cfg: &TableConfig,
    kind: Kind,
) -> Result<(crate::headers::Layout, FileFormat), RuntimeError> {
    let (files, format) = locate(project, cfg, kind)?;
    Ok((
        crate::headers::layout(project, cfg, kind, &files, format)?,
        format,
    ))
}

/// A table's files (none of them empty) and their format.
fn locate(
    project: &Project,
    cfg: &TableConfig,
    kind: Kind,
) -> Result<(Vec<PathBuf>, FileFormat), RuntimeError> {
    let table = kind.name();
    let files = expand_path(&project.dir, cfg.path.get_ref(), table)?;
    crate::probe::reject_empty_files(project, cfg, table, &files)?;
    let format = match cfg.format {
        Some(f) => f,
        None => format_of(&files[0]).ok_or_else(|| RuntimeError::UnknownFormat {
            table: table.into(),
            path: files[0].display().to_string(),
        })?,
    };
    Ok((files, format))
}

/// Reads one table and normalizes its columns, with what the statistics of Parquet
/// transactions prove ([`transaction_facts`]; nothing for other tables): when every line has
/// an id, lines are not filtered for one.
pub(crate) async fn load(
    ctx: &SessionContext,
    project: &Project,
    cfg: &TableConfig,
    kind: Kind,
) -> Result<(LogicalPlan, DataFacts), RuntimeError> {
    let table = kind.name();
    let (files, format) = locate(project, cfg, kind)?;
    let ext = files[0]
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .and_then(|n| n.rfind('.').map(|i| n[i..].to_string()))
        .unwrap_or_default();
    let facts = match (kind, format) {
        (Kind::Transactions, FileFormat::Parquet) => transaction_facts(cfg, &files),
        _ => DataFacts::default(),
    };
    let what = format!("reading {table} from {}", cfg.path.get_ref());
    let layout = crate::headers::layout(project, cfg, kind, &files, format)?;
    let (schema, plan) = match format {
        _ if layout.groups.len() > 1 => {
            // Files that differ in columns: one scan per set of columns, each widened to every
            // column (missing ones as NULL) and unioned, so columns meet by name. (DataFusion
            // takes the columns of a list of files from the first file alone.)
            let mut frames = Vec::new();
            for (_, group) in &layout.groups {
                frames.push(match format {
                    FileFormat::Csv => read_csv(ctx, cfg, kind, group, &ext).await?,
                    FileFormat::Parquet => read_parquet(ctx, kind, group, &ext, &what).await?,
                });
            }
            let plan = union_by_name(frames, &layout.all_columns())
                .map_err(|e| RuntimeError::data(what.clone(), e))?;
            (plan.schema().as_arrow().clone(), plan)
        }
        FileFormat::Csv => {
            let df = read_csv(ctx, cfg, kind, &files, &ext).await?;
            (df.schema().as_arrow().clone(), df.into_unoptimized_plan())
        }
        FileFormat::Parquet => {
            let df = read_parquet(ctx, kind, &files, &ext, &what).await?;
            (df.schema().as_arrow().clone(), df.into_unoptimized_plan())
        }
    };
    let exprs = normalize(&schema, cfg, kind)?;
    let b = LogicalPlanBuilder::from(plan)
        .project(exprs)
        .map_err(|e| RuntimeError::data(what.clone(), e))?;
    if kind != Kind::Customers {
        // A row without a customer id belongs to no customer: an empty text id is no id.
        // Unless the files' statistics prove every line has an id.
        let text_ids = b
            .schema()
            .field_with_unqualified_name("customer_id")
            .is_ok_and(|f| is_text(f.data_type()))
            && !facts.ids_present;
        let b = if text_ids {
            b.filter(ident("customer_id").not_eq(lit("")))
                .map_err(|e| RuntimeError::data(what.clone(), e))?
        } else {
            b
        };
        return b
            .build()
            .map(|p| (p, facts))
            .map_err(|e| RuntimeError::data(what, e));
    }
    // One row per customer: rows without an id are dropped, and duplicate ids are merged
    // (each attribute takes its largest value among the duplicates), so a customer is never
    // counted twice.
    let cols: Vec<String> = b
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|n| n != "customer_id")
        .collect();
    let id = ident("customer_id");
    let mut keep = id.clone().is_not_null();
    if b.schema()
        .field_with_unqualified_name("customer_id")
        .is_ok_and(|f| is_text(f.data_type()))
    {
        keep = keep.and(id.clone().not_eq(lit("")));
    }
    b.filter(keep)
        .and_then(|b| {
            b.aggregate(
                vec![id],
                cols.iter()
                    .map(|c| datafusion::functions_aggregate::expr_fn::max(ident(c)).alias(c)),
            )
        })
        .and_then(|b| b.build())
        .map(|p| (p, facts))
        .map_err(|e| RuntimeError::data(what, e))
}

/// Reads CSV `files` of one table that share their columns: amounts and timestamps as text
/// (see [`load`]).
async fn read_csv(
    ctx: &SessionContext,
    cfg: &TableConfig,
    kind: Kind,
    files: &[PathBuf],
    ext: &str,
) -> Result<DataFrame, RuntimeError> {
    let table = kind.name();
    let what = format!("reading {table} from {}", cfg.path.get_ref());
    let paths: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    let delim = csv_delimiter(cfg, &files[0]);
    let opts = CsvReadOptions::new()
        .has_header(true)
        .delimiter(delim)
        .file_extension(ext)
        .schema_infer_max_records(10_000);
    let df = ctx
        .read_csv(paths.clone(), opts.clone())
        .await
        .and_then(|df| named(df, table))
        .map_err(|e| RuntimeError::data(what.clone(), e))?;
    // Amounts written as decimals would be inferred as floating point and lose their
    // exactness: read them as text and parse them as decimals instead.
    let exact: Vec<String> = ["amount", "quantity"]
        .iter()
        .filter(|_| kind == Kind::Transactions)
        .map(|c| cfg.mapped(c).unwrap_or(c).to_string())
        .collect();
    let inferred = df.schema().as_arrow().clone();
    // Timestamps are read as text too: the reader would turn one written with an
    // offset into its UTC time, and segql counts it by the date written (`local_dates`).
    let as_text = |f: &datafusion::arrow::datatypes::Field| {
        (exact.contains(f.name()) && f.data_type().is_floating())
            || matches!(f.data_type(), DataType::Timestamp(_, None))
    };
    if !inferred.fields().iter().any(|f| as_text(f)) {
        return Ok(df);
    }
    let fields: Vec<_> = inferred
        .fields()
        .iter()
        .map(|f| {
            // Columns with no values (inferred as Null) cannot be read with an
            // explicit schema: read them as text.
            if as_text(f) || f.data_type() == &DataType::Null {
                std::sync::Arc::new(f.as_ref().clone().with_data_type(DataType::Utf8))
            } else {
                f.clone()
            }
        })
        .collect();
    let schema = Schema::new(fields);
    ctx.read_csv(paths, opts.schema(&schema))
        .await
        .and_then(|df| named(df, table))
        .and_then(|df| local_dates(df, &inferred))
        .map_err(|e| RuntimeError::data(what, e))
}

/// Reads Parquet `files` of one table that share their columns.
async fn read_parquet(
    ctx: &SessionContext,
    kind: Kind,
    files: &[PathBuf],
    ext: &str,
    what: &str,
) -> Result<DataFrame, RuntimeError> {
    let paths: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    let opts = ParquetReadOptions::default().file_extension(ext);
    ctx.read_parquet(paths, opts)
        .await
        .and_then(|df| named(df, kind.name()))
        .map_err(|e| RuntimeError::data(what, e))
}

/// The frames of one table's files, each with every column of `columns` (a column a frame
/// lacks as NULL; a column whose type differs between frames cast to one type all its values
/// fit, else to text), unioned.
fn union_by_name(
    frames: Vec<DataFrame>,
    columns: &[String],
) -> datafusion::error::Result<LogicalPlan> {
    let type_in = |df: &DataFrame, c: &str| {
        df.schema()
            .as_arrow()
            .field_with_name(c)
            .ok()
            .map(|f| f.data_type().clone())
    };
    let types: Vec<DataType> = columns
        .iter()
        .map(|c| {
            // The type every file's values fit (Int64 and Float64: Float64), else text.
            let found: Vec<DataType> = frames
                .iter()
                .filter_map(|df| type_in(df, c))
                .filter(|t| *t != DataType::Null)
                .collect();
            datafusion::logical_expr::type_coercion::binary::type_union_resolution(&found)
                .unwrap_or(DataType::Utf8)
        })
        .collect();
    let mut union: Option<LogicalPlanBuilder> = None;
    for df in frames {
        let exprs: Vec<Expr> = columns
            .iter()
            .zip(&types)
            .map(|(c, t)| match type_in(&df, c) {
                Some(own) if &own == t => ident(c),
                Some(_) => cast(ident(c), t.clone()).alias(c),
                None => cast(lit(datafusion::common::ScalarValue::Null), t.clone()).alias(c),
            })
            .collect();
        let widened = LogicalPlanBuilder::from(df.into_unoptimized_plan())
            .project(exprs)?
            .build()?;
        union = Some(match union {
            None => LogicalPlanBuilder::from(widened),
            Some(u) => u.union(widened)?,
        });
    }
    union.expect("a table has at least one file").build()
}

/// The role of a canonical column, which decides its type.
pub(crate) fn role(kind: Kind, canonical: &str) -> &'static str {
    match (kind, canonical) {
        (_, "customer_id") => "id",
        (Kind::Transactions | Kind::Communications, "ts") => "date",
        (Kind::Customers, "birthday" | "signup_date") => "date",
        (Kind::Transactions, "amount") => "amount",
        (Kind::Transactions, "quantity") => "quantity",
        (Kind::Transactions, "points_earned" | "points_redeemed") => "number",
        (Kind::Customers, _) => "attribute",
        _ => "text",
    }
}

/// The projection that renames and casts a file's columns to the canonical ones.
fn normalize(schema: &Schema, cfg: &TableConfig, kind: Kind) -> Result<Vec<Expr>, RuntimeError> {
    let table = kind.name();
    let mapped = |canonical: &str| cfg.mapped(canonical);
    let available: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let missing = |canonical: &str, column: &str| {
        let close = segql_compiler::error::closest(column, available.iter().copied())
            .map(|c| format!("did you mean `{c}`? "))
            .unwrap_or_default();
        RuntimeError::MissingColumn {
            table: table.into(),
            path: cfg.path.get_ref().clone(),
            column: column.into(),
            canonical: canonical.into(),
            help: format!(
                "{close}the file has: {}. Map the column in segql.toml: [{table}.columns] {canonical} = \"...\"",
                available.join(", ")
            ),
        }
    };
    // (canonical name, source column)
    let mut pairs: Vec<(String, String)> = Vec::new();
    match kind {
        Kind::Transactions | Kind::Communications => {
            let (required, optional): (&[&str], &[&str]) = if kind == Kind::Transactions {
                (&TX_REQUIRED, &TX_OPTIONAL)
            } else {
                (&["customer_id", "ts"], &["channel", "campaign"])
            };
            for c in required {
                let src = mapped(c).unwrap_or(c);
                if !available.contains(&src) {
                    return Err(missing(c, src));
                }
                pairs.push((c.to_string(), src.to_string()));
            }
            for c in optional {
                match mapped(c) {
                    Some(src) if !available.contains(&src) => return Err(missing(c, src)),
                    Some(src) => pairs.push((c.to_string(), src.to_string())),
                    None if available.contains(c) => pairs.push((c.to_string(), c.to_string())),
                    None => {}
                }
            }
        }
        Kind::Customers => {
            for (k, v) in &cfg.columns {
                if !available.contains(&v.get_ref().as_str()) {
                    return Err(missing(k.get_ref(), v.get_ref()));
                }
            }
            let id = mapped("customer_id").unwrap_or("customer_id");
            if !available.contains(&id) {
                return Err(missing("customer_id", id));
            }
            for col in &available {
                let canonical = cfg
                    .columns
                    .iter()
                    .find(|(_, v)| v.get_ref() == col)
                    .map(|(k, _)| k.get_ref().clone())
                    .unwrap_or_else(|| col.to_string());
                if canonical != "customer_id" || *col == id {
                    pairs.push((canonical, col.to_string()));
                }
            }
        }
    }
    pairs
        .into_iter()
        .map(|(canonical, src)| {
            let dt = schema
                .field_with_name(&src)
                .map(|f| f.data_type().clone())
                .unwrap_or(DataType::Utf8);
            let e = cast_for_role(
                ident(&src),
                &dt,
                role(kind, &canonical),
                cfg.date_format.as_deref(),
                cfg.amount_scale.unwrap_or(2),
            )
            .ok_or_else(|| RuntimeError::BadColumnType {
                table: table.into(),
                path: cfg.path.get_ref().clone(),
                column: src.clone(),
                canonical: canonical.clone(),
                found: dt.to_string(),
                help: match role(kind, &canonical) {
                    "date" => {
                        "dates may be date, timestamp, text or integer (YYYYMMDD) columns".into()
                    }
                    "amount" | "quantity" | "number" => "use a numeric column".into(),
                    _ => "use a text or integer column".into(),
                },
            })?;
            Ok(e.alias(canonical))
        })
        .collect()
}

/// CSV timestamps (read as text) as the date they were written on: the part before the `T` or
/// the space, whatever offset follows, so `2024-01-01T23:30:00-05:00` is 1 January.
fn local_dates(
    df: datafusion::prelude::DataFrame,
    inferred: &Schema,
) -> datafusion::error::Result<datafusion::prelude::DataFrame> {
    use datafusion::functions::expr_fn::split_part;
    let mut df = df;
    for f in inferred.fields() {
        if matches!(f.data_type(), DataType::Timestamp(_, None)) {
            let day = split_part(
                split_part(ident(f.name()), lit("T"), lit(1i64)),
                lit(" "),
                lit(1i64),
            );
            df = df.with_column(f.name(), to_date(vec![day]))?;
        }
    }
    Ok(df)
}

/// The type of ids and text columns of transactions and communications: Arrow's string
/// view, which Parquet is read as, so that large files are never copied into another string
/// layout (CSV text becomes views of its own buffers, without copying).
pub const TEXT: DataType = DataType::Utf8View;

fn is_text(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

fn is_int(dt: &DataType) -> bool {
    dt.is_integer()
}

fn cast_for_role(
    e: Expr,
    dt: &DataType,
    role: &str,
    date_format: Option<&str>,
    amount_scale: i8,
) -> Option<Expr> {
    if dt == &DataType::Null {
        // An empty CSV file has no values to infer types from: give each role its type.
        let t = match role {
            "date" => DataType::Date32,
            "amount" => DataType::Decimal128(38, amount_scale),
            "quantity" | "number" => DataType::Int64,
            "attribute" => DataType::Utf8,
            _ => TEXT,
        };
        return Some(cast(e, t));
    }
    Some(match role {
        "id" if is_int(dt) => cast(e, DataType::Int64),
        "id" if is_text(dt) || matches!(dt, DataType::Dictionary(..)) => cast(e, TEXT),
        "id" => return None,
        "date" => match dt {
            DataType::Date32 => e,
            DataType::Date64 | DataType::Timestamp(..) => cast(e, DataType::Date32),
            d if is_text(d) => match date_format {
                Some(f) => to_date(vec![e, lit(f)]),
                None => to_date(vec![e]),
            },
            d if is_int(d) => to_date(vec![
                cast(e, DataType::Utf8),
                lit(date_format.unwrap_or("%Y%m%d")),
            ]),
            _ => return None,
        },
        "amount" => match dt {
            DataType::Decimal128(_, s) | DataType::Decimal256(_, s) => {
                cast(e, DataType::Decimal128(38, (*s).max(amount_scale)))
            }
            d if d.is_numeric() || is_text(d) => cast(e, DataType::Decimal128(38, amount_scale)),
            _ => return None,
        },
        "quantity" => match dt {
            d if is_int(d) => cast(e, DataType::Int64),
            d if d.is_numeric() || is_text(d) => cast(e, DataType::Decimal128(38, 3)),
            _ => return None,
        },
        "number" => match dt {
            d if is_int(d) => cast(e, DataType::Int64),
            d if d.is_numeric() => cast(e, DataType::Float64),
            _ => return None,
        },
        "attribute" => match dt {
            d if is_text(d) => cast(e, DataType::Utf8),
            // Timestamps compare by their date, like every date in the language.
            DataType::Date64 | DataType::Timestamp(..) => cast(e, DataType::Date32),
            _ => e,
        },
        _ => match dt {
            DataType::Utf8View => e,
            _ => cast(e, TEXT),
        },
    })
}
