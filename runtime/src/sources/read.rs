//! Reading one table with DataFusion: CSV and Parquet files, files that differ in columns
//! unioned by name, the columns normalized (`normalize.rs`) and customers merged by id.

use super::discovery::{Kind, csv_delimiter, locate};
use super::facts::{layout, transaction_facts};
use super::normalize::{is_text, local_dates, normalize};
use crate::error::RuntimeError;
use crate::project::config::{FileFormat, Project, TableConfig};
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::common::TableReference;
use datafusion::logical_expr::TableScanBuilder;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, cast, ident, lit};
use datafusion::prelude::{CsvReadOptions, DataFrame, ParquetReadOptions, SessionContext};
use segql_compiler::DataFacts;
use std::path::PathBuf;

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
    let (files, format) = locate(project, cfg, kind).await?;
    let ext = files[0]
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .and_then(|n| n.rfind('.').map(|i| n[i..].to_string()))
        .unwrap_or_default();
    let (facts, amounts) = match (kind, format) {
        (Kind::Transactions, FileFormat::Parquet) => transaction_facts(cfg, &files).await,
        _ => (DataFacts::default(), None),
    };
    let what = format!("reading {table} from {}", cfg.path.get_ref());
    let layout = layout(project, cfg, kind, &files, format).await?;
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
    let exprs = normalize(&schema, cfg, kind, amounts)?;
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
    let opts = || ParquetReadOptions::default().file_extension(ext);
    let df = ctx
        .read_parquet(paths.clone(), opts())
        .await
        .map_err(|e| RuntimeError::data(what, e))?;
    // The schema is the first file's: a column that file declares non-nullable would stop the
    // read at another file's nulls (a file of receipts without a customer id). Every column
    // is read as nullable; missing values are handled where they are read.
    let schema = df.schema().as_arrow().clone();
    let df = if schema.fields().iter().all(|f| f.is_nullable()) {
        df
    } else {
        let nullable = datafusion::arrow::datatypes::Schema::new(
            schema
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true))
                .collect::<Vec<_>>(),
        );
        ctx.read_parquet(paths, opts().schema(&nullable))
            .await
            .map_err(|e| RuntimeError::data(what, e))?
    };
    named(df, kind.name()).map_err(|e| RuntimeError::data(what, e))
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

/// The rows of a customers plan from [`load`] before its merge of duplicate ids (the input of
/// the aggregation it ends with).
pub(crate) fn rows_before_merge(customers: &LogicalPlan) -> LogicalPlan {
    match customers {
        LogicalPlan::Aggregate(a) => a.input.as_ref().clone(),
        other => other.clone(),
    }
}
