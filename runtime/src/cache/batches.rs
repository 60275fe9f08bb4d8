//! An in-memory table that skips batches by statistics: [`BatchTable`].
//!
//! Rows are held as Arrow batches of [`BATCH_ROWS`] rows, each with the minimum, maximum and
//! null count of every column whose values order (numbers, decimals, dates). A scan turns the
//! filters DataFusion pushes into it (as `Inexact`: the filter stays above the scan) into
//! DataFusion's own [`PruningPredicate`] and reads only the batches it cannot rule out, so a
//! table sorted by date answers a window from the batches of that window. The batches read
//! are spread over the session's partitions.
//!
//! Text columns may be held dictionary-encoded (the caller decides; the REPL's warm copy
//! shares one dictionary per column between batches): a scan turns them back into the
//! table's type (string views) batch by batch as it reads them, so plans see the same schema
//! as the files' scans and compile to the same plans.
//!
//! Scans report no statistics (like the CSV scans they stand in for), so DataFusion chooses
//! join sides as it does without them. Every scan records what it read ([`BatchTable::take_reads`]).

use datafusion::arrow::array::{
    Array, ArrayData, ArrayRef, AsArray, BooleanArray, RecordBatch, UInt64Array,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::{Column, DFSchema, Result, ScalarValue};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::functions_aggregate::min_max::{MaxAccumulator, MinAccumulator};
use datafusion::logical_expr::Accumulator;
use datafusion::logical_expr::expr_rewriter::unnormalize_col;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::LexOrdering;
use datafusion::physical_optimizer::pruning::{PruningPredicateBuilder, PruningStatistics};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use futures::StreamExt;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};

/// Rows per batch: the unit a scan skips or reads.
pub const BATCH_ROWS: usize = 65_536;

/// What one scan read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Read {
    /// Batches read.
    pub batches: usize,
    /// Batches of the table.
    pub of_batches: usize,
    /// Rows read.
    pub rows: usize,
    /// Rows of the table.
    pub of_rows: usize,
}

/// Per-batch statistics of the columns whose values order.
#[derive(Debug)]
struct Statistics {
    batches: usize,
    rows: ArrayRef,
    min: HashMap<String, ArrayRef>,
    max: HashMap<String, ArrayRef>,
    nulls: HashMap<String, ArrayRef>,
}

impl PruningStatistics for Statistics {
    fn min_values(&self, column: &Column) -> Option<ArrayRef> {
        self.min.get(&column.name).cloned()
    }

    fn max_values(&self, column: &Column) -> Option<ArrayRef> {
        self.max.get(&column.name).cloned()
    }

    fn num_containers(&self) -> usize {
        self.batches
    }

    fn null_counts(&self, column: &Column) -> Option<ArrayRef> {
        self.nulls.get(&column.name).cloned()
    }

    fn row_counts(&self) -> Option<ArrayRef> {
        Some(Arc::clone(&self.rows))
    }

    fn contained(&self, _: &Column, _: &HashSet<ScalarValue>) -> Option<BooleanArray> {
        None
    }
}

/// True for types whose minimum and maximum a pruning predicate can compare with literals.
fn orders(t: &DataType) -> bool {
    t.is_integer()
        || t.is_floating()
        || matches!(
            t,
            DataType::Decimal128(_, _)
                | DataType::Decimal256(_, _)
                | DataType::Date32
                | DataType::Date64
                | DataType::Timestamp(_, _)
        )
}

/// The least (or, with `max`, the greatest) non-null value of `a`; NULL when none.
fn extreme(a: &ArrayRef, max: bool) -> Result<ScalarValue> {
    let mut acc: Box<dyn Accumulator> = if max {
        Box::new(MaxAccumulator::try_new(a.data_type())?)
    } else {
        Box::new(MinAccumulator::try_new(a.data_type())?)
    };
    acc.update_batch(std::slice::from_ref(a))?;
    acc.evaluate()
}

/// An in-memory table whose scans read only the batches their filters may match.
pub struct BatchTable {
    name: String,
    schema: SchemaRef,
    batches: Arc<[RecordBatch]>,
    statistics: Statistics,
    rows: usize,
    bytes: usize,
    partitions: usize,
    reads: Mutex<Vec<Read>>,
    /// The values of each dictionary column shared by every batch, already in the table's
    /// type, so that a scan gathers them by key ([`decoded`]).
    values: Arc<SharedValues>,
}

/// By column: the address of the dictionary values every batch shares, and those values in
/// the table's type.
type SharedValues = HashMap<usize, (usize, ArrayRef)>;

/// The address of an array's data, which tells one shared array from another.
fn address(a: &ArrayRef) -> usize {
    Arc::as_ptr(a) as *const () as usize
}

impl fmt::Debug for BatchTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "BatchTable({}: {} rows in {} batches)",
            self.name,
            self.rows,
            self.batches.len()
        )
    }
}

impl BatchTable {
    /// A table `name` of `batches`, whose scans spread the batches they read over
    /// `partitions` partitions. The batches have `schema`'s columns and types, but for text
    /// columns (string views in `schema`) that may be held dictionary-encoded (each batch
    /// its own way); scans give them `schema`'s types.
    pub fn try_new(
        name: &str,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
        partitions: usize,
    ) -> Result<BatchTable> {
        let n = batches.len();
        let rows: Vec<u64> = batches.iter().map(|b| b.num_rows() as u64).collect();
        // Each batch's extremes, on `partitions` threads.
        let per_batch = parallel_map(&batches, partitions, |b| {
            let extremes = schema
                .fields()
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    if orders(f.data_type()) {
                        Ok(Some((
                            extreme(b.column(i), false)?,
                            extreme(b.column(i), true)?,
                        )))
                    } else {
                        Ok(None)
                    }
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(extremes)
        })
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
        let mut min = HashMap::new();
        let mut max = HashMap::new();
        let mut nulls = HashMap::new();
        for (i, field) in schema.fields().iter().enumerate() {
            let counts: Vec<u64> = batches
                .iter()
                .map(|b| b.column(i).null_count() as u64)
                .collect();
            nulls.insert(
                field.name().clone(),
                Arc::new(UInt64Array::from(counts)) as ArrayRef,
            );
            if !orders(field.data_type()) || n == 0 {
                continue;
            }
            let (lows, highs): (Vec<ScalarValue>, Vec<ScalarValue>) = per_batch
                .iter()
                .map(|e| e[i].clone().expect("extremes of an ordered column"))
                .unzip();
            min.insert(field.name().clone(), ScalarValue::iter_to_array(lows)?);
            max.insert(field.name().clone(), ScalarValue::iter_to_array(highs)?);
        }
        let mut seen = std::collections::HashSet::new();
        let bytes: usize = batches
            .iter()
            .flat_map(|b| b.columns())
            .map(|c| new_bytes(&c.to_data(), &mut seen) as usize)
            .sum();
        let mut values = SharedValues::new();
        if let Some(first) = batches.first() {
            for (i, field) in schema.fields().iter().enumerate() {
                let Some(dict) = first.column(i).as_any_dictionary_opt() else {
                    continue;
                };
                let shared = address(dict.values());
                let everywhere = batches.iter().all(|b| {
                    (b.column(i).as_any_dictionary_opt())
                        .is_some_and(|d| address(d.values()) == shared)
                });
                if everywhere && dict.values().data_type() != field.data_type() {
                    values.insert(i, (shared, cast(dict.values(), field.data_type())?));
                }
            }
        }
        // The values cast for scans are held too.
        let bytes = bytes
            + values
                .values()
                .map(|(_, v)| v.get_array_memory_size())
                .sum::<usize>();
        Ok(BatchTable {
            name: name.to_string(),
            schema,
            statistics: Statistics {
                batches: n,
                rows: Arc::new(UInt64Array::from(rows.clone())),
                min,
                max,
                nulls,
            },
            rows: rows.iter().sum::<u64>() as usize,
            batches: batches.into(),
            bytes,
            partitions: partitions.max(1),
            reads: Mutex::new(Vec::new()),
            values: Arc::new(values),
        })
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Rows held.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Batches held.
    pub fn batches(&self) -> usize {
        self.batches.len()
    }

    /// Bytes of the Arrow arrays held (a buffer shared by batches, such as a dictionary,
    /// counted once).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// What the scans planned since the last call read, and forgets it.
    pub fn take_reads(&self) -> Vec<Read> {
        std::mem::take(&mut *self.reads.lock().expect("reads lock"))
    }

    /// The batches `filters` may match: those DataFusion's pruning predicate does not rule out
    /// by the batches' statistics (every batch when the filters cannot be used for pruning).
    fn select(&self, state: &dyn Session, filters: &[Expr]) -> Vec<usize> {
        let all: Vec<usize> = (0..self.batches.len()).collect();
        let Some(filter) = conjunction(filters.iter().cloned().map(unnormalize_col)) else {
            return all;
        };
        let keep = DFSchema::try_from(self.schema.as_ref().clone())
            .and_then(|schema| state.create_physical_expr(filter, &schema))
            .and_then(|expr| {
                PruningPredicateBuilder::new()
                    .with_file_schema(Arc::clone(&self.schema))
                    .try_build(expr)
            })
            .and_then(|p| p.prune(&self.statistics));
        match keep {
            Ok(keep) => all.into_iter().filter(|i| keep[*i]).collect(),
            Err(_) => all,
        }
    }
}

#[async_trait::async_trait]
impl TableProvider for BatchTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let selected = self.select(state, filters);
        self.reads.lock().expect("reads lock").push(Read {
            batches: selected.len(),
            of_batches: self.batches.len(),
            rows: selected.iter().map(|i| self.batches[*i].num_rows()).sum(),
            of_rows: self.rows,
        });
        let schema = match projection {
            Some(p) => Arc::new(self.schema.project(p)?),
            None => Arc::clone(&self.schema),
        };
        let n = self.partitions.min(selected.len()).max(1);
        let partitions: Vec<Arc<dyn PartitionStream>> = (0..n)
            .map(|k| {
                Arc::new(Part {
                    schema: Arc::clone(&schema),
                    batches: Arc::clone(&self.batches),
                    indices: selected.iter().skip(k).step_by(n).copied().collect(),
                    projection: projection.cloned(),
                    values: Arc::clone(&self.values),
                }) as Arc<dyn PartitionStream>
            })
            .collect();
        Ok(Arc::new(StreamingTableExec::try_new(
            schema,
            partitions,
            None,
            Vec::<LexOrdering>::new(),
            false,
            limit,
        )?))
    }
}

/// One partition of a scan: some batches, projected and in the table's types.
struct Part {
    schema: SchemaRef,
    batches: Arc<[RecordBatch]>,
    indices: Vec<usize>,
    projection: Option<Vec<usize>>,
    values: Arc<SharedValues>,
}

impl fmt::Debug for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} batches", self.indices.len())
    }
}

/// `a` as `to`. A dictionary's values in `to` (`shared`: cast once for the whole table, or
/// here for a batch's own small dictionary) are gathered by key: for string views that copies
/// 16-byte views that share the values' buffers, instead of building a view for every row
/// from its text. Anything else is cast.
fn decoded(
    a: &ArrayRef,
    to: &DataType,
    shared: Option<&(usize, ArrayRef)>,
) -> std::result::Result<ArrayRef, datafusion::arrow::error::ArrowError> {
    let take = datafusion::arrow::compute::take;
    match a.as_any_dictionary_opt() {
        Some(dict) => match shared {
            Some((at, values)) if *at == address(dict.values()) => {
                take(values.as_ref(), dict.keys(), None)
            }
            _ if dict.values().len().saturating_mul(4) <= a.len() => {
                take(cast(dict.values(), to)?.as_ref(), dict.keys(), None)
            }
            _ => cast(a, to),
        },
        None => cast(a, to),
    }
}

impl PartitionStream for Part {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _: Arc<TaskContext>) -> SendableRecordBatchStream {
        let schema = Arc::clone(&self.schema);
        let batches = Arc::clone(&self.batches);
        let projection = self.projection.clone();
        let shared = Arc::clone(&self.values);
        let out = Arc::clone(&schema);
        let stream =
            futures::stream::iter(self.indices.clone()).map(move |i| -> Result<RecordBatch> {
                let b = &batches[i];
                let columns: Vec<usize> = match &projection {
                    Some(p) => p.clone(),
                    None => (0..b.num_columns()).collect(),
                };
                let arrays = columns
                    .iter()
                    .zip(out.fields())
                    .map(|(c, f)| {
                        let a = b.column(*c);
                        if a.data_type() == f.data_type() {
                            Ok(Arc::clone(a))
                        } else {
                            decoded(a, f.data_type(), shared.get(c))
                        }
                    })
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                Ok(RecordBatch::try_new_with_options(
                    Arc::clone(&out),
                    arrays,
                    &datafusion::arrow::array::RecordBatchOptions::new()
                        .with_row_count(Some(b.num_rows())),
                )?)
            });
        Box::pin(RecordBatchStreamAdapter::new(schema, stream))
    }
}

/// `f` of every item, in order, computed on up to `threads` threads (contiguous shares).
pub(crate) fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let share = items.len().div_ceil(threads.max(1)).max(1);
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(share)
            .map(|part| scope.spawn(move || part.iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a worker thread panicked"))
            .collect()
    })
}

/// The bytes of the buffers of `data` (and its children) not in `seen`, which it adds them
/// to, so that a buffer shared by several arrays (string views pointing into one decoded
/// page, one dictionary's values) is counted once.
pub(crate) fn new_bytes(data: &ArrayData, seen: &mut HashSet<usize>) -> u64 {
    let mut n = 0;
    let buffers = data
        .buffers()
        .iter()
        .chain(data.nulls().map(|b| b.buffer()));
    for b in buffers {
        if seen.insert(b.data_ptr().as_ptr() as usize) {
            n += b.capacity() as u64;
        }
    }
    for child in data.child_data() {
        n += new_bytes(child, seen);
    }
    n
}
