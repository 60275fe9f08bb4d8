//! The REPL's customer cache: the per-customer table (the compiler's `PerCustomer`) of the
//! metrics most segments need, computed once per as-of date into an in-memory table, so
//! interactive queries that read only profiled values are answered without rescanning the
//! transactions.
//!
//! Cached: `recency`, `frequency`, `monetary`, `avg_check`, `tenure`, `first_purchase`,
//! `last_purchase`, `items` (when quantity is mapped), `lifecycle`, `recency`/`frequency`/
//! `monetary` within 30, 90, 180 and 365 days, and every customer attribute. Anything else
//! (other windows, `bought`, `spend on`) falls back to a scan.

use crate::engine::Engine;
use crate::error::RuntimeError;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use datafusion::catalog::MemTable;
use datafusion::datasource::provider_as_source;
use datafusion::functions_aggregate::expr_fn::{count, sum};
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, SortExpr, cast, ident, lit};
use segql_compiler::PerCustomer;
use segql_compiler::catalog::AttrType;
use segql_compiler::ir::{Metric, MetricKind, Pred, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    /// How long it took.
    pub elapsed: Duration,
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

impl CustomerCache {
    /// Computes the profile of every customer and keeps it in memory.
    pub async fn build(engine: &Engine) -> Result<CustomerCache, RuntimeError> {
        let start = Instant::now();
        let values = cached_values(engine);
        let built = PerCustomer::build(&engine.catalog, &values, true)
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
        let table = MemTable::try_new(schema, partitions)
            .map_err(|e| RuntimeError::data("caching the profile", e))?;
        let plan = LogicalPlanBuilder::scan("profile", provider_as_source(Arc::new(table)), None)
            .and_then(|b| b.build())
            .map_err(|e| RuntimeError::data("caching the profile", e))?;
        let table = PerCustomer::over(plan, built.names, engine.catalog.as_of);
        let totals = totals(engine, &table, table.plan.clone()).await?;
        let values = completion_values(engine).await?;
        Ok(CustomerCache {
            table,
            totals,
            build_time: start.elapsed(),
            values,
        })
    }

    /// Answers `pred`: from the cache when it covers every value, else by a scan.
    pub async fn answer(
        &self,
        engine: &Engine,
        pred: &Pred,
        preview_rows: usize,
    ) -> Result<Answer, RuntimeError> {
        let start = Instant::now();
        let (table, from_cache) = self.table_for(engine, pred)?;
        let filtered = table
            .filtered(pred)
            .map_err(|e| RuntimeError::data("planning the query", e))?;
        let totals = totals(engine, &table, filtered).await?;
        let members = table
            .members(pred)
            .and_then(|q| q.plan.clone().pipe_sort_limit(preview_rows))
            .map_err(|e| RuntimeError::data("planning the query", e))?;
        let preview = if preview_rows == 0 {
            vec![]
        } else {
            engine.collect(members).await?
        };
        Ok(Answer {
            totals,
            preview,
            from_cache,
            elapsed: start.elapsed(),
        })
    }

    /// The profile that answers `pred`: the cached one, or one built for it from transactions
    /// (with monetary and frequency for the summary).
    pub fn table_for(
        &self,
        engine: &Engine,
        pred: &Pred,
    ) -> Result<(PerCustomer, bool), RuntimeError> {
        if self.table.covers(pred) {
            return Ok((self.table.clone(), true));
        }
        let mut values = pred.values();
        for v in [monetary(), frequency()] {
            if !values.contains(&v) {
                values.push(v);
            }
        }
        let full = segql_compiler::needs_full_base(&[pred]);
        let p = PerCustomer::build(&engine.catalog, &values, full)
            .map_err(|e| RuntimeError::data("planning the query", e))?;
        Ok((p, false))
    }
}

/// Sort by customer id and keep the first `n` rows.
trait SortLimit {
    fn pipe_sort_limit(self, n: usize) -> datafusion::error::Result<LogicalPlan>;
}

impl SortLimit for LogicalPlan {
    fn pipe_sort_limit(self, n: usize) -> datafusion::error::Result<LogicalPlan> {
        LogicalPlanBuilder::from(self)
            .sort_with_limit(
                vec![SortExpr::new(ident("customer_id"), true, true)],
                Some(n),
            )?
            .build()
    }
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
async fn completion_values(engine: &Engine) -> Result<Vec<(String, Vec<String>)>, RuntimeError> {
    let mut out = Vec::new();
    let mut sources: Vec<(String, LogicalPlan)> = Vec::new();
    for d in ["category", "partner", "store", "product"] {
        if engine.catalog.has_tx_column(d) {
            sources.push((d.to_string(), engine.tables.transactions.clone()));
        }
    }
    if let Some(c) = &engine.tables.customers {
        for (name, t) in engine.catalog.attributes() {
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
