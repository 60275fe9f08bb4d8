//! The REPL's caches: the customer cache (this file) and the warm copy of the data
//! (`warm`, over `batches`, an in-memory table that skips batches by statistics).
//!
//! The customer cache is the per-customer table (the compiler's `PerCustomer`) of the
//! metrics most segments need, computed once per as-of date into an in-memory table, so
//! interactive queries that read only profiled values are answered from it.
//!
//! Cached: `recency`, `frequency`, `monetary`, `avg_check`, `tenure`, `first_purchase`,
//! `last_purchase`, `items` (when quantity is mapped), `lifecycle`, `recency`/`frequency`/
//! `monetary` within 30, 90, 180 and 365 days, and every customer attribute. Anything else
//! (other windows, `bought`, `spend on`, ranks, contacts) is computed for the query from the
//! warm copy when the data is held in memory, else from the files; either way the plan is the
//! one `segql run` compiles (narrowed by the predicate's scan hints), over other scans.

pub mod batches;
pub mod warm;

use crate::engine::Engine;
use crate::error::RuntimeError;
pub use batches::{BatchTable, Read};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, SchemaRef};
use datafusion::catalog::MemTable;
use datafusion::common::ScalarValue;
use datafusion::datasource::provider_as_source;
use datafusion::functions_aggregate::expr_fn::{count, sum};
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, cast, ident, lit};
use segql_compiler::catalog::AttrType;
use segql_compiler::ir::{Metric, MetricKind, Pred, Value};
use segql_compiler::{Catalog, PerCustomer};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
pub use warm::{TableRead, Warm};

/// Windows (in days) cached for recency, frequency and monetary.
pub const CACHED_WINDOWS: [u64; 4] = [30, 90, 180, 365];

/// The values the cached profile holds for a catalog.
pub fn cached_values(engine: &Engine) -> Vec<Value> {
    let c = &engine.catalog;
    let mut v: Vec<Value> = [
        MetricKind::Recency,
        MetricKind::Frequency,
        MetricKind::Monetary,
        MetricKind::AvgCheck,
        MetricKind::Tenure,
        MetricKind::FirstPurchase,
        MetricKind::LastPurchase,
    ]
    .into_iter()
    .map(|kind| {
        Value::Metric(Metric {
            kind,
            window: None,
            scope: vec![],
        })
    })
    .collect();
    if c.has_tx_column("quantity") {
        v.push(Value::Metric(Metric {
            kind: MetricKind::Items,
            window: None,
            scope: vec![],
        }));
    }
    v.push(Value::Lifecycle(vec![]));
    for w in CACHED_WINDOWS {
        for kind in [
            MetricKind::Recency,
            MetricKind::Frequency,
            MetricKind::Monetary,
        ] {
            v.push(Value::Metric(Metric {
                kind,
                window: Some(w),
                scope: vec![],
            }));
        }
    }
    v.extend(
        c.attributes()
            .into_iter()
            .filter(|(_, t)| t.is_some())
            .map(|(n, _)| Value::Attribute(n)),
    );
    v
}

/// Totals of the whole customer base.
#[derive(Debug, Clone, Copy, Default)]
pub struct Totals {
    /// Customers.
    pub customers: i64,
    /// Sum of monetary.
    pub revenue: f64,
    /// Sum of frequency.
    pub purchases: i64,
}

/// The customer cache: a profile of every customer held in memory.
pub struct CustomerCache {
    /// The per-customer table over the in-memory copy.
    pub table: PerCustomer,
    /// Totals of the base.
    pub totals: Totals,
    /// How long building it took.
    pub build_time: Duration,
    /// Distinct values for completion: (column, values).
    pub values: Vec<(String, Vec<String>)>,
    /// Monetary and frequency of every customer by id, for the totals of answers computed
    /// for a query (whose tables have only the values their condition reads).
    by_id: ById,
}

/// Monetary and frequency of every customer of the cache, by id.
#[derive(Debug, Default)]
struct ById {
    ints: HashMap<i64, usize>,
    texts: HashMap<String, usize>,
    monetary: Vec<f64>,
    frequency: Vec<i64>,
}

/// The ids of `column` as integers, or as text when they are not integers.
enum Ids {
    Ints(Vec<Option<i64>>),
    Texts(Vec<Option<String>>),
}

fn ids(column: &ArrayRef) -> datafusion::arrow::error::Result<Ids> {
    Ok(match column.data_type() {
        DataType::Int64 => Ids::Ints(column.as_primitive::<Int64Type>().iter().collect()),
        _ => {
            let text = datafusion::arrow::compute::cast(column, &DataType::Utf8)?;
            Ids::Texts(
                text.as_string::<i32>()
                    .iter()
                    .map(|v| v.map(str::to_string))
                    .collect(),
            )
        }
    })
}

/// `column` as numbers (NULL as 0).
fn numbers<T: datafusion::arrow::datatypes::ArrowPrimitiveType>(
    column: &ArrayRef,
    to: &DataType,
) -> datafusion::arrow::error::Result<Vec<T::Native>> {
    let c = datafusion::arrow::compute::cast(column, to)?;
    Ok(c.as_primitive::<T>()
        .iter()
        .map(|v| v.unwrap_or_default())
        .collect())
}

impl ById {
    /// From the cache's batches: `customer_id`, and the columns `monetary` and `frequency`.
    fn of(
        batches: &[RecordBatch],
        monetary: &str,
        frequency: &str,
    ) -> datafusion::arrow::error::Result<ById> {
        let mut by = ById::default();
        for b in batches {
            let schema = b.schema();
            let m =
                numbers::<Float64Type>(b.column(schema.index_of(monetary)?), &DataType::Float64)?;
            let f = numbers::<Int64Type>(b.column(schema.index_of(frequency)?), &DataType::Int64)?;
            let start = by.monetary.len();
            match ids(b.column(schema.index_of("customer_id")?))? {
                Ids::Ints(v) => by.ints.extend(
                    v.into_iter()
                        .enumerate()
                        .filter_map(|(i, id)| Some((id?, start + i))),
                ),
                Ids::Texts(v) => by.texts.extend(
                    v.into_iter()
                        .enumerate()
                        .filter_map(|(i, id)| Some((id?, start + i))),
                ),
            }
            by.monetary.extend(m);
            by.frequency.extend(f);
        }
        Ok(by)
    }

    /// Adds the monetary and frequency of the customers of `column` (ids) to `t`.
    fn add(&self, column: &ArrayRef, t: &mut Totals) -> datafusion::arrow::error::Result<()> {
        let rows: Vec<Option<usize>> = match ids(column)? {
            Ids::Ints(v) => v
                .iter()
                .map(|id| self.ints.get(id.as_ref()?).copied())
                .collect(),
            Ids::Texts(v) => v
                .iter()
                .map(|id| self.texts.get(id.as_deref()?).copied())
                .collect(),
        };
        for r in rows.into_iter().flatten() {
            t.revenue += self.monetary[r];
            t.purchases += self.frequency[r];
        }
        Ok(())
    }
}

/// What an interactive query answers.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Members and revenue.
    pub totals: Totals,
    /// The first members (sorted by id).
    pub preview: Vec<RecordBatch>,
    /// True when answered from the cached profile.
    pub from_cache: bool,
    /// What the answer read.
    pub source: Source,
    /// How long it took.
    pub elapsed: Duration,
}

/// What an answer read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The customer cache.
    CustomerCache,
    /// The warm copy: what the scans of each table held in memory read, and the tables not
    /// held (read from their files when the query needs them).
    Memory {
        /// What each table held in memory that the query scanned read.
        reads: Vec<TableRead>,
        /// The tables of the project not held.
        files: Vec<&'static str>,
    },
    /// The files (nothing is held in memory).
    Files,
}

impl Source {
    /// In words, for `:timing`: `from the customer cache`, `from memory: transactions 12 of
    /// 344 batches (786,432 of 22,505,806 rows)`, `from the files`.
    pub fn describe(&self) -> String {
        let n = |x: usize| crate::output::thousands(&x.to_string());
        match self {
            Source::CustomerCache => "from the customer cache".into(),
            Source::Files => "from the files".into(),
            Source::Memory { reads, files } => {
                let mut parts: Vec<String> = reads
                    .iter()
                    .map(|t| {
                        let scans = if t.scans > 1 {
                            format!(" in {} scans", t.scans)
                        } else {
                            String::new()
                        };
                        format!(
                            "{} {} of {} batches ({} of {} rows){scans}",
                            t.table,
                            n(t.read.batches),
                            n(t.read.of_batches),
                            n(t.read.rows),
                            n(t.read.of_rows)
                        )
                    })
                    .collect();
                if parts.is_empty() {
                    parts.push("no table scanned".into());
                }
                let mut s = format!("from memory: {}", parts.join("; "));
                if !files.is_empty() {
                    s.push_str(&format!("; not in memory: {}", files.join(", ")));
                }
                s
            }
        }
    }
}

fn monetary() -> Value {
    Value::Metric(Metric {
        kind: MetricKind::Monetary,
        window: None,
        scope: vec![],
    })
}

fn frequency() -> Value {
    Value::Metric(Metric {
        kind: MetricKind::Frequency,
        window: None,
        scope: vec![],
    })
}

/// The catalog answers are compiled against: the warm copy's when there is one.
pub fn catalog_of(engine: &Engine, warm: Option<&Warm>) -> Result<Catalog, RuntimeError> {
    match warm {
        Some(w) if !w.is_empty() => w.catalog(&engine.catalog),
        _ => Ok(engine.catalog.clone()),
    }
}

impl CustomerCache {
    /// Computes the profile of every customer and keeps it in memory, from the warm copy
    /// when there is one.
    pub async fn build(
        engine: &Engine,
        warm: Option<&Warm>,
    ) -> Result<CustomerCache, RuntimeError> {
        let start = Instant::now();
        let catalog = catalog_of(engine, warm)?;
        let values = cached_values(engine);
        let built = PerCustomer::build(&catalog, &values, true)
            .map_err(|e| RuntimeError::data("planning the profile", e))?;
        let batches = engine.collect(built.plan.clone()).await?;
        let schema = dictionary_schema(match batches.first() {
            Some(b) => b.schema(),
            None => Arc::new(built.plan.schema().as_arrow().clone()),
        });
        let batches = batches
            .iter()
            .map(|b| dictionary_encode(b, &schema))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| RuntimeError::data("caching the profile", e.into()))?;
        let partitions = split(
            batches,
            engine.context().state().config().target_partitions(),
        );
        let table = MemTable::try_new(schema, partitions.clone())
            .map_err(|e| RuntimeError::data("caching the profile", e))?;
        let plan = LogicalPlanBuilder::scan("profile", provider_as_source(Arc::new(table)), None)
            .and_then(|b| b.build())
            .map_err(|e| RuntimeError::data("caching the profile", e))?;
        let by_id = ById::of(
            &partitions.concat(),
            &built.names[&monetary()],
            &built.names[&frequency()],
        )
        .map_err(|e| RuntimeError::data("caching the profile", e.into()))?;
        let table = PerCustomer::over(plan, built.names, engine.catalog.as_of);
        let totals = totals(engine, &table, table.plan.clone()).await?;
        let values = completion_values(engine, &catalog).await?;
        if let Some(w) = warm {
            w.take_reads();
        }
        Ok(CustomerCache {
            table,
            totals,
            build_time: start.elapsed(),
            values,
            by_id,
        })
    }

    /// Answers `pred`: from the cache when it covers every value, else by a scan of the warm
    /// copy (or of the files when nothing is held). The members are computed once; their
    /// totals and the first `preview_rows` of them by id come from that one result.
    pub async fn answer(
        &self,
        engine: &Engine,
        warm: Option<&Warm>,
        pred: &Pred,
        preview_rows: usize,
    ) -> Result<Answer, RuntimeError> {
        let start = Instant::now();
        if let Some(w) = warm {
            w.take_reads();
        }
        let (table, from_cache) = self.table_for(engine, warm, pred)?;
        let shown = pred.values().len();
        let plan =
            member_rows(&table, pred).map_err(|e| RuntimeError::data("planning the query", e))?;
        let batches = engine.collect(plan).await?;
        let source = match warm {
            _ if from_cache => Source::CustomerCache,
            Some(w) if !w.is_empty() => Source::Memory {
                reads: w.take_reads(),
                files: w.skipped.iter().map(|k| k.table).collect(),
            },
            _ => Source::Files,
        };
        let by_id = (!plan_has_totals(&table)).then_some(&self.by_id);
        let (totals, preview) = summarize(&batches, shown, preview_rows, by_id)
            .map_err(|e| RuntimeError::data("summing up the members", e.into()))?;
        Ok(Answer {
            totals,
            preview,
            from_cache,
            source,
            elapsed: start.elapsed(),
        })
    }

    /// The profile that answers `pred`: the cached one, or one built for it (the scan
    /// narrowed by the predicate's hints as `segql run` narrows it) from the warm copy when
    /// there is one, else from the files.
    pub fn table_for(
        &self,
        engine: &Engine,
        warm: Option<&Warm>,
        pred: &Pred,
    ) -> Result<(PerCustomer, bool), RuntimeError> {
        if self.table.covers(pred) {
            return Ok((self.table.clone(), true));
        }
        let catalog = catalog_of(engine, warm)?;
        let full = segql_compiler::needs_full_base(&[pred]);
        let hints = segql_compiler::scan_hints(&catalog, pred);
        let p = PerCustomer::build_with(&catalog, &pred.values(), full, &hints)
            .map_err(|e| RuntimeError::data("planning the query", e))?;
        Ok((p, false))
    }
}

/// True when `table` has monetary and frequency (the cache does; a table built for a query
/// only when its condition reads them).
fn plan_has_totals(table: &PerCustomer) -> bool {
    table.column(&monetary()).is_some() && table.column(&frequency()).is_some()
}

/// The members of `pred` in `table`: `customer_id`, the values `pred` reads, then monetary
/// and frequency for the totals when the table has them ([`plan_has_totals`]). A table built
/// for a query has only the values `pred` reads, so that its scan covers only the windows they
/// need; the totals then come from the customer cache's monetary and frequency by id.
fn member_rows(table: &PerCustomer, pred: &Pred) -> datafusion::error::Result<LogicalPlan> {
    let mut columns = vec![ident("customer_id")];
    columns.extend(pred.values().iter().map(|v| match table.column(v) {
        Some(c) => ident(c),
        None => lit(ScalarValue::Null),
    }));
    if plan_has_totals(table) {
        for (v, name) in [(monetary(), "__monetary"), (frequency(), "__frequency")] {
            columns.push(ident(table.column(&v).expect("has totals")).alias(name));
        }
    }
    LogicalPlanBuilder::from(table.filtered(pred)?)
        .project(columns)?
        .build()
}

/// The totals of the member rows of [`member_rows`] (their monetary and frequency from
/// `by_id` when given, else from their last two columns) and their first `rows` by id, with
/// `customer_id` and the `shown` columns after it.
fn summarize(
    batches: &[RecordBatch],
    shown: usize,
    rows: usize,
    by_id: Option<&ById>,
) -> datafusion::arrow::error::Result<(Totals, Vec<RecordBatch>)> {
    use datafusion::arrow::compute::{SortOptions, concat_batches, sort_to_indices, take};
    let mut t = Totals::default();
    let Some(first) = batches.first() else {
        return Ok((t, vec![]));
    };
    let (m, f) = (shown + 1, shown + 2);
    for b in batches {
        t.customers += b.num_rows() as i64;
        if let Some(by_id) = by_id {
            by_id.add(b.column(0), &mut t)?;
            continue;
        }
        let revenue = datafusion::arrow::compute::cast(b.column(m), &DataType::Float64)?;
        t.revenue += revenue
            .as_primitive::<datafusion::arrow::datatypes::Float64Type>()
            .iter()
            .flatten()
            .sum::<f64>();
        let purchases = datafusion::arrow::compute::cast(b.column(f), &DataType::Int64)?;
        t.purchases += purchases
            .as_primitive::<Int64Type>()
            .iter()
            .flatten()
            .sum::<i64>();
    }
    if rows == 0 || t.customers == 0 {
        return Ok((t, vec![]));
    }
    let schema = first.schema();
    let all = concat_batches(&schema, batches)?;
    let order = sort_to_indices(
        all.column(0),
        Some(SortOptions {
            descending: false,
            nulls_first: true,
        }),
        Some(rows),
    )?;
    let columns = all.columns()[..=shown]
        .iter()
        .map(|c| take(c.as_ref(), &order, None))
        .collect::<Result<Vec<_>, _>>()?;
    let preview = RecordBatch::try_new(
        Arc::new(schema.project(&(0..=shown).collect::<Vec<_>>())?),
        columns,
    )?;
    Ok((t, vec![preview]))
}

/// The cached profile's schema: text columns other than `customer_id` (lifecycle, RFM
/// segment, city, gender, ...) dictionary-encoded. They hold few distinct values, so a
/// comparison reads each distinct value once and then only integer keys, and the cache is
/// smaller.
fn dictionary_schema(schema: SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
                if f.name() != "customer_id" =>
            {
                f.as_ref().clone().with_data_type(DataType::Dictionary(
                    Box::new(DataType::Int32),
                    Box::new(DataType::Utf8),
                ))
            }
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// `batch` with its columns cast to the types of `schema` (see [`dictionary_schema`]).
fn dictionary_encode(
    batch: &RecordBatch,
    schema: &SchemaRef,
) -> datafusion::arrow::error::Result<RecordBatch> {
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| match c.data_type() {
            t if t == f.data_type() => Ok(Arc::clone(c)),
            // Views are cast to plain strings first: the dictionary holds `Utf8` values.
            DataType::Utf8View => {
                let plain = datafusion::arrow::compute::cast(c, &DataType::Utf8)?;
                datafusion::arrow::compute::cast(&plain, f.data_type())
            }
            _ => datafusion::arrow::compute::cast(c, f.data_type()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(Arc::clone(schema), columns)
}

/// Spreads batches over `n` partitions so scans of the cache run in parallel.
fn split(batches: Vec<RecordBatch>, n: usize) -> Vec<Vec<RecordBatch>> {
    let n = n.max(1);
    let mut parts = vec![Vec::new(); n];
    for (i, b) in batches.into_iter().enumerate() {
        parts[i % n].push(b);
    }
    parts
}

/// Customers, revenue and purchases of the rows of `plan` (a filtered profile).
async fn totals(
    engine: &Engine,
    table: &PerCustomer,
    plan: LogicalPlan,
) -> Result<Totals, RuntimeError> {
    let col = |v: Value| -> Expr { table.column(&v).map(ident).unwrap_or_else(|| lit(0i64)) };
    let agg = LogicalPlanBuilder::from(plan)
        .aggregate(
            Vec::<Expr>::new(),
            vec![
                count(lit(1)).alias("customers"),
                cast(
                    sum(cast(col(monetary()), DataType::Float64)),
                    DataType::Float64,
                )
                .alias("revenue"),
                cast(sum(col(frequency())), DataType::Int64).alias("purchases"),
            ],
        )
        .and_then(|b| b.build())
        .map_err(|e| RuntimeError::data("planning the summary", e))?;
    let batches = engine.collect(agg).await?;
    let Some(b) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Ok(Totals::default());
    };
    let int = |i: usize| {
        let a = b.column(i).as_primitive::<Int64Type>();
        if a.is_null(0) { 0 } else { a.value(0) }
    };
    let rev = b
        .column(1)
        .as_primitive::<datafusion::arrow::datatypes::Float64Type>();
    Ok(Totals {
        customers: int(0),
        revenue: if rev.is_null(0) { 0.0 } else { rev.value(0) },
        purchases: int(2),
    })
}

/// Distinct values of the columns users complete on: transaction dimensions and the text
/// attributes of customers (columns with at most 2000 values).
async fn completion_values(
    engine: &Engine,
    catalog: &Catalog,
) -> Result<Vec<(String, Vec<String>)>, RuntimeError> {
    let mut out = Vec::new();
    let mut sources: Vec<(String, LogicalPlan)> = Vec::new();
    for d in ["category", "partner", "store", "product"] {
        if catalog.has_tx_column(d) {
            sources.push((d.to_string(), catalog.transactions.clone()));
        }
    }
    // The customers slot is read when the engine's table is.
    if engine.tables.customers.is_some()
        && let Some(c) = catalog.customers()
    {
        for (name, t) in catalog.attributes() {
            if t == Some(AttrType::Text) {
                sources.push((name, c.clone()));
            }
        }
    }
    for (col, plan) in sources {
        let q = LogicalPlanBuilder::from(plan)
            .aggregate(
                vec![cast(ident(&col), DataType::Utf8).alias("v")],
                Vec::<Expr>::new(),
            )
            .and_then(|b| b.limit(0, Some(2001)))
            .and_then(|b| b.build())
            .map_err(|e| RuntimeError::data("listing values", e))?;
        let batches = engine.collect(q).await?;
        let mut vals: Vec<String> = Vec::new();
        for b in &batches {
            let a = b.column(0).as_string::<i32>();
            vals.extend(
                (0..a.len())
                    .filter(|i| !a.is_null(*i))
                    .map(|i| a.value(i).to_string()),
            );
        }
        if vals.len() <= 2000 {
            vals.sort();
            out.push((col, vals));
        }
    }
    Ok(out)
}
