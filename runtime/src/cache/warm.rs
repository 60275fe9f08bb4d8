//! The REPL's warm copy of the data: the engine's normalized tables read once into memory
//! ([`BatchTable`]s), within a memory budget, and a catalog whose input plans scan them, so
//! that any condition is answered without reading the files again.
//!
//! Transactions and communications are held sorted by date (a counting sort, stable, so rows
//! of one day keep the files' order: a customer's lines stay together in files written
//! customer by customer), so a window reads the batches of its days. Customers are held in
//! the files' order. Every row is kept, whatever the as-of date: the compiled plans filter
//! dates as they do over the files, and `:as-of` needs no new copy.
//!
//! Columns are held whole and taken into batches of [`BATCH_ROWS`] rows: text with few
//! distinct values as one dictionary per column (shared by its batches), other text with only
//! the bytes its rows use.
//!
//! The budget bounds the bytes of the Arrow arrays held ([`DEFAULT_BUDGET`] unless `[repl]
//! memory_budget` or `--memory-budget` says otherwise; a buffer shared by arrays counts once).
//! Tables are read in the order transactions, customers, communications; a table whose rows,
//! as read, pass what is left of the budget is dropped as soon as they do and stays on the
//! files. While a table is arranged, its rows as read and as held are both in memory for a
//! moment (freed column by column), so reading takes up to about twice what is held.

use super::batches::{BATCH_ROWS, BatchTable, Read, new_bytes, parallel_map};
use crate::engine::Engine;
use crate::error::RuntimeError;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, RecordBatch, UInt32Array, new_empty_array,
};
use datafusion::arrow::compute::{cast, concat, take};
use datafusion::arrow::datatypes::{DataType, Date32Type, Field, Schema, SchemaRef};
use datafusion::datasource::{TableProvider, provider_as_source};
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, col};
use futures::StreamExt;
use segql_compiler::Catalog;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The default memory budget: 4 GiB. A fixed size rather than a share of the machine, so a
/// session holds the same tables and answers at the same speed on every machine and in
/// tests; it holds the 1M-customer demo (22.5M lines, 1M customers, 18.9M messages: 2.3 GiB)
/// with room to spare. Reading takes up to about twice what is held for a moment (see the
/// module's notes), so a machine of 8 GiB or less wants a smaller one. Set `[repl]
/// memory_budget` or `--memory-budget` for more or less (`0`: read the files).
pub const DEFAULT_BUDGET: u64 = 4 << 30;

/// Parses a size: a number of bytes, or a number with a unit `KB`, `MB`, `GB`, `TB`
/// (powers of 1000) or `KiB`, `MiB`, `GiB`, `TiB` (powers of 1024); `K`, `M`, `G`, `T` are
/// the binary units. Case and a space before the unit do not matter.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = (t[..split].trim(), t[split..].trim());
    let n: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size like 4GiB, 512MB or 0"))?;
    let factor: f64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        "k" | "kib" => 1024.0,
        "m" | "mib" => 1024f64.powi(2),
        "g" | "gib" => 1024f64.powi(3),
        "t" | "tib" => 1024f64.powi(4),
        _ => {
            return Err(format!(
                "`{text}` has an unknown unit `{unit}`: use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB"
            ));
        }
    };
    let bytes = n * factor;
    if !bytes.is_finite() || bytes > u64::MAX as f64 {
        return Err(format!("`{text}` is too large"));
    }
    Ok(bytes.round() as u64)
}

/// A size for people: `812 KiB`, `1.4 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// A table left on the files, and why.
#[derive(Debug, Clone)]
pub struct Skipped {
    /// The table.
    pub table: &'static str,
    /// Why it stays on the files.
    pub why: String,
}

/// The tables held in memory.
#[derive(Debug)]
pub struct Warm {
    /// Transactions, sorted by date.
    pub transactions: Option<Arc<BatchTable>>,
    /// Customers: one row per customer, and the rows before duplicate ids are merged.
    pub customers: Option<(Arc<BatchTable>, Arc<BatchTable>)>,
    /// Communications, sorted by date.
    pub communications: Option<Arc<BatchTable>>,
    /// Tables of the project left on the files.
    pub skipped: Vec<Skipped>,
    /// The budget, in bytes.
    pub budget: u64,
    /// How long reading took.
    pub load_time: Duration,
}

/// What all the scans of one table read during an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRead {
    /// The table.
    pub table: String,
    /// Scans planned.
    pub scans: usize,
    /// Batches and rows read, summed over the scans; the table's totals.
    pub read: Read,
}

/// How reading one table ended.
enum Loaded {
    Table(Arc<BatchTable>),
    Over(u64),
}

impl Warm {
    /// Reads the engine's tables (all read already: see [`Engine::read`]) into memory
    /// within `budget` bytes. A table that fails to read stays on the files, as does one
    /// past the budget; the reason is in [`Warm::skipped`].
    pub async fn load(engine: &Engine, budget: u64) -> Warm {
        Warm::load_in_batches(engine, budget, BATCH_ROWS).await
    }

    /// [`Warm::load`] with batches of `rows` rows instead of [`BATCH_ROWS`] (tests use small
    /// batches so that small data is pruned too).
    pub async fn load_in_batches(engine: &Engine, budget: u64, rows: usize) -> Warm {
        Warm::load_tables(engine, budget, rows, true).await
    }

    /// [`Warm::load`] of the customers and communications only: the transactions stay on the
    /// files, unlisted in [`Warm::skipped`] (`segql history` date by date, whose plans
    /// aggregate the transactions faster in the files' order than in the copy's).
    pub async fn load_beside_transactions(engine: &Engine, budget: u64) -> Warm {
        Warm::load_tables(engine, budget, BATCH_ROWS, false).await
    }

    async fn load_tables(engine: &Engine, budget: u64, rows: usize, transactions: bool) -> Warm {
        let rows = rows.max(1);
        let start = Instant::now();
        let mut warm = Warm {
            transactions: None,
            customers: None,
            communications: None,
            skipped: Vec::new(),
            budget,
            load_time: Duration::ZERO,
        };
        if budget == 0 {
            return warm;
        }
        let mut left = budget;
        let tables = &engine.tables;
        let over = |table: &'static str, read: u64, left: u64| Skipped {
            table,
            why: format!(
                "its rows passed {} of the {} left of the budget",
                human_bytes(read),
                human_bytes(left)
            ),
        };
        let read = if transactions {
            Some(
                load_table(
                    engine,
                    "transactions",
                    &tables.transactions,
                    Some("ts"),
                    left,
                    rows,
                )
                .await,
            )
        } else {
            None
        };
        match read {
            None => {}
            Some(Ok(Loaded::Table(t))) => {
                left -= t.bytes() as u64;
                warm.transactions = Some(t);
            }
            Some(Ok(Loaded::Over(read))) => warm.skipped.push(over("transactions", read, left)),
            Some(Err(e)) => warm.skipped.push(Skipped {
                table: "transactions",
                why: e.to_string(),
            }),
        }
        if let (Some(merged), Some(customer_rows)) = (&tables.customers, &tables.customer_rows) {
            match load_customers(engine, merged, customer_rows, left, rows).await {
                Ok(Ok((m, r))) => {
                    left -= (m.bytes() + r.bytes()) as u64;
                    warm.customers = Some((m, r));
                }
                Ok(Err(read)) => warm.skipped.push(over("customers", read, left)),
                Err(e) => warm.skipped.push(Skipped {
                    table: "customers",
                    why: e.to_string(),
                }),
            }
        }
        if let Some(c) = &tables.communications {
            match load_table(engine, "communications", c, Some("ts"), left, rows).await {
                Ok(Loaded::Table(t)) => warm.communications = Some(t),
                Ok(Loaded::Over(read)) => warm.skipped.push(over("communications", read, left)),
                Err(e) => warm.skipped.push(Skipped {
                    table: "communications",
                    why: e.to_string(),
                }),
            }
        }
        warm.load_time = start.elapsed();
        warm
    }

    /// The tables held.
    pub fn tables(&self) -> Vec<&Arc<BatchTable>> {
        let mut t: Vec<&Arc<BatchTable>> = self.transactions.iter().collect();
        if let Some((m, r)) = &self.customers {
            t.push(m);
            t.push(r);
        }
        t.extend(self.communications.iter());
        t
    }

    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.tables().iter().map(|t| t.bytes() as u64).sum()
    }

    /// True when no table is held.
    pub fn is_empty(&self) -> bool {
        self.tables().is_empty()
    }

    /// `base` (the engine's catalog: as-of date, settings, facts) with the input plans of the
    /// tables held scanning memory instead of the files.
    pub fn catalog(&self, base: &Catalog) -> Result<Catalog, RuntimeError> {
        let mut c = base.clone();
        if let Some(t) = &self.transactions {
            c.transactions = scan(t)?;
        }
        if let Some((m, r)) = &self.customers {
            c.set_customers(scan(m)?, scan(r)?);
        }
        if let Some(t) = &self.communications {
            c.set_communications(scan(t)?);
        }
        Ok(c)
    }

    /// What the scans planned since the last call read, by table, and forgets it.
    pub fn take_reads(&self) -> Vec<TableRead> {
        self.tables()
            .into_iter()
            .filter_map(|t| {
                let reads = t.take_reads();
                let first = *reads.first()?;
                let mut read = Read {
                    batches: 0,
                    rows: 0,
                    ..first
                };
                for r in &reads {
                    read.batches += r.batches;
                    read.rows += r.rows;
                }
                Some(TableRead {
                    table: t.name().to_string(),
                    scans: reads.len(),
                    read,
                })
            })
            .collect()
    }

    /// The start-up report: what is held, its size against the budget and how long reading
    /// took, and the tables left on the files with why.
    pub fn describe(&self) -> String {
        let n = |x: usize| crate::output::thousands(&x.to_string());
        let mut s = String::new();
        if self.budget == 0 {
            return "nothing held in memory (memory budget 0): answers not in the customer cache read the files".into();
        }
        let mut held = Vec::new();
        if let Some(t) = &self.transactions {
            held.push(format!("transactions {} lines", n(t.rows())));
        }
        if let Some((m, _)) = &self.customers {
            held.push(format!("customers {} rows", n(m.rows())));
        }
        if let Some(t) = &self.communications {
            held.push(format!("communications {} rows", n(t.rows())));
        }
        if held.is_empty() {
            s.push_str("nothing held in memory");
        } else {
            let _ = write!(
                s,
                "in memory: {}: {} of a {} budget, read in {:.1} s",
                held.join(", "),
                human_bytes(self.bytes()),
                human_bytes(self.budget),
                self.load_time.as_secs_f64()
            );
        }
        for k in &self.skipped {
            let _ = write!(s, "\n{} stay on the files: {}", k.table, k.why);
        }
        if !self.skipped.is_empty() {
            s.push_str("\n(answers that need them read the files; --memory-budget or [repl] memory_budget sets the budget)");
        }
        s
    }
}

/// A scan of `table` with unqualified columns, as the engine's normalized plans have.
fn scan(table: &Arc<BatchTable>) -> Result<LogicalPlan, RuntimeError> {
    let source = provider_as_source(Arc::clone(table) as _);
    let columns: Vec<Expr> = TableProvider::schema(table.as_ref())
        .fields()
        .iter()
        .map(|f| col(format!("{}.{}", table.name(), f.name())).alias(f.name()))
        .collect();
    LogicalPlanBuilder::scan(table.name(), source, None)
        .and_then(|b| b.project(columns))
        .and_then(|b| b.build())
        .map_err(|e| RuntimeError::data("planning a scan of memory", e))
}

/// Both plans of the customers table in memory, or the bytes read when they pass `budget`.
async fn load_customers(
    engine: &Engine,
    merged: &LogicalPlan,
    customer_rows: &LogicalPlan,
    budget: u64,
    rows: usize,
) -> Result<Result<(Arc<BatchTable>, Arc<BatchTable>), u64>, RuntimeError> {
    let m = match load_table(engine, "customers", merged, None, budget, rows).await? {
        Loaded::Table(m) => m,
        Loaded::Over(read) => return Ok(Err(read)),
    };
    let rest = budget - m.bytes() as u64;
    match load_table(engine, "customer_rows", customer_rows, None, rest, rows).await? {
        Loaded::Table(r) => Ok(Ok((m, r))),
        Loaded::Over(read) => Ok(Err(read + m.bytes() as u64)),
    }
}

/// Reads `plan` into a [`BatchTable`] sorted by the date column `by` (when given and a
/// date), or reports the bytes read when they pass `budget`.
async fn load_table(
    engine: &Engine,
    name: &str,
    plan: &LogicalPlan,
    by: Option<&str>,
    budget: u64,
    rows: usize,
) -> Result<Loaded, RuntimeError> {
    let mut stream = engine.stream(plan.clone()).await?;
    let schema = stream.schema();
    let mut batches = Vec::new();
    let mut bytes = 0u64;
    let mut seen = HashSet::new();
    while let Some(b) = stream.next().await {
        let b = b.map_err(|e| RuntimeError::data(format!("reading the {name} into memory"), e))?;
        bytes += b
            .columns()
            .iter()
            .map(|c| new_bytes(&c.to_data(), &mut seen))
            .sum::<u64>();
        if bytes > budget {
            return Ok(Loaded::Over(bytes));
        }
        if b.num_rows() > 0 {
            batches.push(b);
        }
    }
    drop(stream);
    let order = by
        .and_then(|c| schema.index_of(c).ok())
        .filter(|i| schema.field(*i).data_type() == &DataType::Date32)
        .map(|i| by_date(&batches, i))
        .unwrap_or_else(|| in_order(&batches));
    let partitions = engine.context().state().config().target_partitions();
    let chunks = arrange(&schema, batches, &order, rows, partitions)
        .map_err(|e| RuntimeError::data(format!("sorting the {name} in memory"), e.into()))?;
    let table = BatchTable::try_new(name, schema, chunks, partitions)
        .map_err(|e| RuntimeError::data(format!("holding the {name} in memory"), e))?;
    if table.bytes() as u64 > budget {
        return Ok(Loaded::Over(table.bytes() as u64));
    }
    Ok(Loaded::Table(Arc::new(table)))
}

/// Every row, in order.
fn in_order(batches: &[RecordBatch]) -> Vec<u32> {
    let total: usize = batches.iter().map(|b| b.num_rows()).sum();
    (0..total as u32).collect()
}

/// Every row (numbered across `batches`) ordered by the date column `column`, NULL first;
/// rows of one date keep their order (a counting sort over the days between the earliest
/// and the latest date).
fn by_date(batches: &[RecordBatch], column: usize) -> Vec<u32> {
    let dates: Vec<_> = batches
        .iter()
        .map(|b| b.column(column).as_primitive::<Date32Type>())
        .collect();
    let (mut lo, mut hi) = (i32::MAX, i32::MIN);
    for d in &dates {
        for v in d.iter().flatten() {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    let days = if lo > hi {
        0
    } else {
        (hi as i64 - lo as i64 + 1) as usize
    };
    // Slot 0 holds NULL; day `v` is slot `v - lo + 1`.
    let slot = |d: Option<i32>| d.map_or(0, |v| (v as i64 - lo as i64 + 1) as usize);
    if days > 100_000_000 {
        // Dates too far apart for a counting sort: a stable comparison sort.
        let all: Vec<Option<i32>> = dates.iter().flat_map(|d| d.iter()).collect();
        let mut rows = in_order(batches);
        rows.sort_by_key(|r| all[*r as usize]);
        return rows;
    }
    let mut starts = vec![0usize; days + 2];
    for d in &dates {
        for v in d.iter() {
            starts[slot(v) + 1] += 1;
        }
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    let total = starts[days + 1];
    let mut out = vec![0u32; total];
    let mut row = 0u32;
    for d in &dates {
        for v in d.iter() {
            let s = &mut starts[slot(v)];
            out[*s] = row;
            *s += 1;
            row += 1;
        }
    }
    out
}

/// A text column (string views) is held dictionary-encoded when it has at most one distinct
/// value per this many rows (judged on its first [`BATCH_ROWS`] rows, then on all).
const ROWS_PER_DISTINCT: usize = 4;

/// A whole column as held: text with few distinct values as one dictionary (its values
/// shared by every batch), anything else as it is.
fn held(column: ArrayRef) -> datafusion::arrow::error::Result<ArrayRef> {
    if column.data_type() != &DataType::Utf8View {
        return Ok(column);
    }
    let dictionary = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    let few = |a: &ArrayRef, d: &ArrayRef| {
        d.as_any_dictionary().values().len() * ROWS_PER_DISTINCT <= a.len()
    };
    let sample = column.slice(0, column.len().min(BATCH_ROWS));
    if !few(&sample, &cast(&sample, &dictionary)?) {
        return Ok(column);
    }
    let d = cast(&column, &dictionary)?;
    Ok(if few(&column, &d) { d } else { column })
}

/// The rows of `batches` in `order` (row numbers across them) as batches of `rows` rows
/// in the types they are held in ([`held`]; other text keeps only the bytes its rows use),
/// taken on `threads` threads. Column by column, so that the rows as read of a column are
/// freed once it is arranged.
fn arrange(
    schema: &SchemaRef,
    batches: Vec<RecordBatch>,
    order: &[u32],
    rows: usize,
    threads: usize,
) -> datafusion::arrow::error::Result<Vec<RecordBatch>> {
    let width = schema.fields().len();
    let mut parts: Vec<Vec<ArrayRef>> = (0..width)
        .map(|c| batches.iter().map(|b| Arc::clone(b.column(c))).collect())
        .collect();
    drop(batches);
    let chunks: Vec<UInt32Array> = order
        .chunks(rows)
        .map(|c| UInt32Array::from(c.to_vec()))
        .collect();
    let mut columns: Vec<Vec<ArrayRef>> = vec![Vec::with_capacity(width); chunks.len()];
    let mut fields = Vec::with_capacity(width);
    for (c, field) in schema.fields().iter().enumerate() {
        let read = std::mem::take(&mut parts[c]);
        let all = if read.is_empty() {
            new_empty_array(field.data_type())
        } else {
            concat(&read.iter().map(|a| a.as_ref()).collect::<Vec<&dyn Array>>())?
        };
        drop(read);
        let all = held(all)?;
        fields.push(Field::new(
            field.name(),
            all.data_type().clone(),
            field.is_nullable(),
        ));
        let taken = parallel_map(
            &chunks,
            threads,
            |indices| -> datafusion::arrow::error::Result<ArrayRef> {
                let t: ArrayRef = take(all.as_ref(), indices, None)?;
                Ok(match t.data_type() {
                    DataType::Utf8View => Arc::new(t.as_string_view().gc()) as ArrayRef,
                    _ => t,
                })
            },
        );
        for (chunk, a) in columns.iter_mut().zip(taken) {
            chunk.push(a?);
        }
    }
    let held_schema = Arc::new(Schema::new(fields));
    columns
        .into_iter()
        .zip(&chunks)
        .map(|(columns, indices)| {
            RecordBatch::try_new_with_options(
                Arc::clone(&held_schema),
                columns,
                &datafusion::arrow::array::RecordBatchOptions::new()
                    .with_row_count(Some(indices.len())),
            )
        })
        .collect()
}
