//! The rewrite `read_once`: CSV tables a plan scans more than once, parsed once (a logical
//! rewrite of the optimized plan, applied by the engine before planning).
//!
//! A segment with an attribute condition reads the customers table twice: once for the key
//! set of customers meeting the condition (before the aggregation) and once for the
//! attributes of the profile's customers (after it). DataFusion plans each scan on its own,
//! so a CSV file is parsed twice, about 200 ms of CPU per read of a 1M-row customers file.
//! Before planning, [`read_once`] reads such a table once, with the columns all of its scans
//! use, into memory, and points every scan at that copy.
//!
//! Only CSV tables (Parquet scans are cheaper to repeat, and each prunes on its own
//! filters), only scans without a row limit or exact filter, and only up to [`MAX_BYTES`] in
//! memory for all copies together (a quarter of `--memory-limit` when one is set; the copies
//! are not taken from DataFusion's memory pool): a table that grows past it is read by each
//! scan as before. `explain` reads the copies too, to show the plan that runs; `--stage
//! analyze` shows the copies' scans, not the read itself.

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::MemTable;
use datafusion::catalog::Session;
use datafusion::common::runtime::SpawnedTask;
use datafusion::common::tree_node::{Transformed, TreeNodeRecursion};
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::listing::ListingTable;
use datafusion::datasource::{TableProvider, TableType, provider_as_source, source_as_provider};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SessionState;
use datafusion::execution::memory_pool::MemoryLimit;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{
    Expr, LogicalPlan, TableProviderFilterPushDown, TableScan, TableScanBuilder,
};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, ReplaceChildrenOptions,
};
use futures::StreamExt;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The most memory a table read once may take (Arrow buffers).
pub const MAX_BYTES: usize = 256 << 20;

/// One table scanned more than once: its provider and every column its scans read.
struct Repeated {
    provider: Arc<dyn TableProvider>,
    scans: usize,
    columns: BTreeSet<usize>,
    /// Some scan has a row limit or a filter the file scan was to apply exactly (on a
    /// partition column): left to the files, as a copy would have to apply them itself.
    exact: bool,
}

/// The identity of a scan's source: the same provider object behind every scan of a table.
fn source_key(scan: &TableScan) -> usize {
    Arc::as_ptr(&scan.source) as *const () as usize
}

/// The memory a table read once may take in `state`'s session: [`MAX_BYTES`], or a quarter
/// of the memory limit when that is less.
pub fn budget(state: &SessionState) -> usize {
    match state.runtime_env().memory_pool.memory_limit() {
        MemoryLimit::Finite(limit) => MAX_BYTES.min(limit / 4),
        _ => MAX_BYTES,
    }
}

/// `plan` (optimized) with every CSV table it scans more than once read once into memory,
/// where the columns read fit in `budget` bytes. Errors are those of reading the table.
pub async fn read_once(
    state: &SessionState,
    plan: LogicalPlan,
    budget: usize,
) -> Result<LogicalPlan> {
    let mut seen: HashMap<usize, Repeated> = HashMap::new();
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && let Ok(provider) = source_as_provider(&scan.source)
            && is_csv(provider.as_ref())
        {
            let filters: Vec<&Expr> = scan.filters.iter().collect();
            let exact = scan.fetch.is_some()
                || provider
                    .supports_filters_pushdown(&filters)?
                    .contains(&TableProviderFilterPushDown::Exact);
            let r = seen.entry(source_key(scan)).or_insert_with(|| Repeated {
                provider,
                scans: 0,
                columns: BTreeSet::new(),
                exact: false,
            });
            r.scans += 1;
            r.exact |= exact;
            r.columns.extend(scanned_columns(scan));
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    // Each repeated table, in memory: (its copy, the full table's column index of each of
    // the copy's columns).
    let mut copies: HashMap<usize, (Arc<dyn TableProvider>, Vec<usize>)> = HashMap::new();
    // One budget for all the copies.
    let used = Arc::new(AtomicUsize::new(0));
    for (key, r) in seen.into_iter().filter(|(_, r)| r.scans > 1 && !r.exact) {
        let columns: Vec<usize> = r.columns.into_iter().collect();
        if let Some(copy) = read(state, &r.provider, &columns, &used, budget).await? {
            copies.insert(key, (copy, columns));
        }
    }
    if copies.is_empty() {
        return Ok(plan);
    }
    plan.transform_up_with_subqueries(|node| {
        let LogicalPlan::TableScan(scan) = &node else {
            return Ok(Transformed::no(node));
        };
        let Some((copy, columns)) = copies.get(&source_key(scan)) else {
            return Ok(Transformed::no(node));
        };
        let projection = scanned_columns(scan)
            .into_iter()
            .map(|i| {
                columns
                    .iter()
                    .position(|&c| c == i)
                    .expect("read with every column")
            })
            .collect();
        // Its filters are inexact: DataFusion kept them in a filter above the scan.
        let plan = LogicalPlan::TableScan(
            TableScanBuilder::new(
                scan.table_name.clone(),
                provider_as_source(Arc::clone(copy)),
            )
            .with_projection(Some(projection))
            .with_statistics_requests(scan.statistics_requests.clone())
            .build()?,
        );
        Ok(Transformed::yes(plan))
    })
    .map(|t| t.data)
}

/// The table's columns `scan` reads (all of them without a projection).
fn scanned_columns(scan: &TableScan) -> Vec<usize> {
    match &scan.projection {
        Some(p) => p.clone(),
        None => (0..scan.source.schema().fields().len()).collect(),
    }
}

/// Whether `provider` is a table of CSV files.
fn is_csv(provider: &dyn TableProvider) -> bool {
    provider
        .downcast_ref::<ListingTable>()
        .is_some_and(|t| t.options().format.is::<CsvFormat>())
}

/// `columns` of `provider`, read into memory with the file scan's partitions (each read on
/// a task of its own), or `None` when they take more than `budget` bytes.
async fn read(
    state: &SessionState,
    provider: &Arc<dyn TableProvider>,
    columns: &[usize],
    used: &Arc<AtomicUsize>,
    budget: usize,
) -> Result<Option<Arc<dyn TableProvider>>> {
    let scan = provider
        .scan(state, Some(&columns.to_vec()), &[], None)
        .await?;
    // Split into byte ranges as DataFusion does for the file scans it plans.
    let config = state.config_options();
    let scan = match config.optimizer.repartition_file_scans {
        true => scan
            .repartitioned(config.execution.target_partitions, config)?
            .unwrap_or(scan),
        false => scan,
    };
    let schema = scan.schema();
    let task = state.task_ctx();
    let tasks: Vec<_> = (0..scan.properties().partitioning.partition_count())
        .map(|i| {
            let stream = scan.execute(i, Arc::clone(&task));
            let used = Arc::clone(used);
            SpawnedTask::spawn(async move {
                let mut out: Vec<RecordBatch> = Vec::new();
                let mut stream = stream?;
                while let Some(batch) = stream.next().await.transpose()? {
                    let size = batch.get_array_memory_size();
                    if used.fetch_add(size, Ordering::Relaxed) + size > budget {
                        return Ok::<_, DataFusionError>(None);
                    }
                    out.push(batch);
                }
                Ok(Some(out))
            })
        })
        .collect();
    let mut partitions = Vec::with_capacity(tasks.len());
    for t in tasks {
        let read = t
            .join_unwind()
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))??;
        match read {
            Some(batches) => partitions.push(batches),
            None => return Ok(None),
        }
    }
    let rows: usize = partitions.iter().flatten().map(|b| b.num_rows()).sum();
    let paths = provider
        .downcast_ref::<ListingTable>()
        .map(|t| {
            t.table_paths()
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    Ok(Some(Arc::new(CsvCopy {
        table: MemTable::try_new(schema, partitions)?,
        what: format!("{paths}, {rows} rows"),
    })))
}

/// A table read once: its rows in memory. Its scans report no statistics, as the file scans
/// they replace did not, so that DataFusion chooses the same join sides as it would for the
/// files (with a memory table's exact row counts it would build hash tables on the larger
/// side of the customers join).
#[derive(Debug)]
struct CsvCopy {
    table: MemTable,
    /// The files and rows, for `explain`.
    what: String,
}

#[async_trait::async_trait]
impl TableProvider for CsvCopy {
    fn schema(&self) -> SchemaRef {
        self.table.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = self.table.scan(state, projection, filters, limit).await?;
        Ok(Arc::new(CsvCopyExec {
            input,
            what: self.what.clone(),
        }))
    }
}

/// The scan of a [`CsvCopy`]: the memory table's scan, as a leaf without statistics.
#[derive(Debug)]
struct CsvCopyExec {
    input: Arc<dyn ExecutionPlan>,
    what: String,
}

impl DisplayAs for CsvCopyExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "ReadOnceExec: {}, ", self.what)?;
        self.input.fmt_as(DisplayFormatType::Default, f)
    }
}

impl ExecutionPlan for CsvCopyExec {
    fn name(&self) -> &'static str {
        "ReadOnceExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        _: Vec<Arc<dyn ExecutionPlan>>,
        _: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn with_new_children(
        self: Arc<Self>,
        _: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        self.input.execute(partition, context)
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::logical_expr::JoinType;
    use datafusion::physical_plan::{collect, displayable};
    use datafusion::prelude::{CsvReadOptions, SessionConfig, SessionContext, col, lit};

    /// A session over a CSV file of 1,000 customers and the plan of a self-join that scans
    /// it twice: the customers of Kyiv, joined to every customer's row for its age.
    async fn self_join() -> (
        tempfile::TempDir,
        SessionContext,
        datafusion::logical_expr::LogicalPlan,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("customers.csv");
        let mut text = String::from("id,city,age\n");
        for i in 0..1000 {
            let city = ["Kyiv", "Lviv", "Odesa"][i % 3];
            text.push_str(&format!("C{i:04},{city},{}\n", 20 + i % 50));
        }
        std::fs::write(&path, text).unwrap();
        let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2));
        let path = path.display().to_string();
        let table = ctx
            .read_csv(path.as_str(), CsvReadOptions::new())
            .await
            .unwrap()
            .into_unoptimized_plan();
        let kyiv = datafusion::logical_expr::LogicalPlanBuilder::from(table.clone())
            .filter(col("city").eq(lit("Kyiv")))
            .unwrap()
            .project(vec![col("id").alias("k")])
            .unwrap()
            .build()
            .unwrap();
        let plan = datafusion::logical_expr::LogicalPlanBuilder::from(kyiv)
            .join(table, JoinType::Inner, (vec!["k"], vec!["id"]), None)
            .unwrap()
            .project(vec![col("k"), col("age")])
            .unwrap()
            .sort(vec![col("k").sort(true, false)])
            .unwrap()
            .build()
            .unwrap();
        (dir, ctx, plan)
    }

    /// The physical plan and the result rows.
    async fn run(
        ctx: &SessionContext,
        plan: &datafusion::logical_expr::LogicalPlan,
    ) -> (String, String) {
        let state = ctx.state();
        let physical = state
            .query_planner()
            .create_physical_plan(plan, &state)
            .await
            .unwrap();
        let text = displayable(physical.as_ref()).indent(true).to_string();
        let batches = collect(physical, ctx.task_ctx()).await.unwrap();
        (text, pretty_format_batches(&batches).unwrap().to_string())
    }

    #[tokio::test]
    async fn a_csv_table_scanned_twice_is_read_once_with_the_same_rows() {
        let (_dir, ctx, plan) = self_join().await;
        let plan = ctx.state().optimize(&plan).unwrap();
        let (files, expected) = run(&ctx, &plan).await;
        assert_eq!(files.matches("file_type=csv").count(), 2, "{files}");
        let once = super::read_once(&ctx.state(), plan.clone(), super::MAX_BYTES)
            .await
            .unwrap();
        let (copies, rows) = run(&ctx, &once).await;
        assert_eq!(rows, expected);
        assert_eq!(rows.lines().count(), 334 + 4, "{rows}");
        assert!(!copies.contains("file_type=csv"), "{copies}");
        let scans: Vec<&str> = copies
            .lines()
            .filter(|l| l.contains("ReadOnceExec"))
            .collect();
        assert_eq!(scans.len(), 2, "{copies}");
        // Both read the one copy: 1,000 rows of the columns either scan uses, in as many
        // partitions as DataFusion splits the file into (one, for a file this small).
        assert!(
            scans
                .iter()
                .all(|l| l.contains("1000 rows") && l.contains("partitions=1,")),
            "{copies}"
        );
        assert!(files.contains("file_groups={1 group:"), "{files}");
        // The copy reports no statistics, as the files did not: the join keeps its sides.
        let join = |p: &str| {
            p.lines()
                .find(|l| l.contains("HashJoinExec"))
                .map(str::trim)
                .map(String::from)
        };
        assert_eq!(join(&copies), join(&files));
    }

    #[tokio::test]
    async fn a_table_past_the_budget_is_read_by_each_scan() {
        let (_dir, ctx, plan) = self_join().await;
        let plan = ctx.state().optimize(&plan).unwrap();
        let same = super::read_once(&ctx.state(), plan.clone(), 1000)
            .await
            .unwrap();
        assert_eq!(same, plan);
    }
}
