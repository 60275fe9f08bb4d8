//! A physical optimizer rule and operator: runs of consecutive rows with the same group key
//! are pre-aggregated before the hash aggregation.
//!
//! Transaction files are often written customer by customer (a loyalty system's export, the
//! demo's files): a customer's lines follow each other. A partial aggregation by customer
//! then looks each line up in its hash table, although the line before had the same key.
//! [`CollapseRunsExec`] finds the runs of equal keys in each batch (Arrow's `partition`
//! kernel, a comparison of neighbours) and reduces each run to one row with the aggregate
//! functions themselves (their `GroupsAccumulator`s, with a run's number as its group), so
//! the hash table sees one row per run.
//!
//! Only aggregations where that changes nothing qualify: `sum`, `min` and `max` of plain
//! columns, each column reduced by one function whose result has the column's type, no
//! `DISTINCT`, `FILTER` or ordering, in an aggregation that does not rely on its input's order.
//! A sum of sums is the sum (also for wrapped integer or decimal sums; floating-point sums
//! add in another order, as they already do across partitions). Rows that are neither key
//! nor reduced keep the run's first value; the aggregation above does not read them.
//!
//! On files without runs (ordered by date, say) the operator would only cost time: after
//! [`PROBE_ROWS`] rows of a partition, if the runs kept more than [`KEEP_AT_MOST`] of the
//! rows, it passes the rest of that partition's batches through untouched.

use datafusion::arrow::array::{ArrayRef, RecordBatch, UInt32Array};
use datafusion::arrow::compute::kernels::partition::partition;
use datafusion::arrow::compute::take;
use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::config::ConfigOptions;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{EquivalenceProperties, Partitioning, PhysicalExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::execution_plan::{
    ChildrenPropertiesMode, ReplaceChildrenOptions, replace_children_if_necessary,
};
use datafusion::physical_plan::metrics::{
    BaselineMetrics, Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet, RecordOutput,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, InputOrderMode,
    PlanProperties, SendableRecordBatchStream,
};
use futures::StreamExt;
use std::fmt;
use std::sync::Arc;

/// Rows of a partition seen before deciding whether its runs pay.
pub const PROBE_ROWS: usize = 100_000;

/// The share of rows the runs may keep for collapsing to go on (one row in two: runs of two
/// lines on average). Above it, the comparisons cost more than the lookups they save.
pub const KEEP_AT_MOST: f64 = 0.5;

/// Puts a [`CollapseRunsExec`] under every aggregation of input rows that qualifies.
#[derive(Debug, Default)]
pub struct CollapseRuns;

impl PhysicalOptimizerRule for CollapseRuns {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(agg) = node.downcast_ref::<AggregateExec>() else {
                return Ok(Transformed::no(node));
            };
            let Some((keys, reducers)) = qualifies(agg) else {
                return Ok(Transformed::no(node));
            };
            let collapse = CollapseRunsExec::new(agg.input().clone(), keys, reducers);
            let rebuilt = replace_children_if_necessary(node.clone(), vec![Arc::new(collapse)])?;
            Ok(Transformed::yes(rebuilt))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "segql_collapse_runs"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The input index of a column expression.
fn column_index(e: &Arc<dyn PhysicalExpr>) -> Option<usize> {
    e.downcast_ref::<Column>().map(Column::index)
}

/// The key columns and each reduced column's aggregate function, when `agg` aggregates input
/// rows (not partial states) and runs can be collapsed for it.
fn qualifies(agg: &AggregateExec) -> Option<(Vec<usize>, Vec<Reducer>)> {
    let groups = agg.group_expr();
    // The modes that aggregate input rows (not partial states).
    if !matches!(
        agg.mode(),
        AggregateMode::Partial | AggregateMode::Single | AggregateMode::SinglePartitioned
    ) || !groups.is_single()
        || groups.expr().is_empty()
        || agg.limit_options().is_some()
        || *agg.input_order_mode() != InputOrderMode::Linear
        || agg.filter_expr().iter().any(Option::is_some)
        || agg.input().downcast_ref::<CollapseRunsExec>().is_some()
    {
        return None;
    }
    let keys = groups
        .expr()
        .iter()
        .map(|(e, _)| column_index(e))
        .collect::<Option<Vec<_>>>()?;
    let schema = agg.input().schema();
    let mut reducers: Vec<Reducer> = Vec::new();
    for f in agg.aggr_expr() {
        let name = f.fun().name();
        let args = f.expressions();
        if !matches!(name, "sum" | "min" | "max")
            || f.is_distinct()
            || !f.order_bys().is_empty()
            || args.len() != 1
            || !f.groups_accumulator_supported()
        {
            return None;
        }
        let column = column_index(&args[0])?;
        if keys.contains(&column) || f.field().data_type() != schema.field(column).data_type() {
            return None;
        }
        match reducers.iter().find(|r| r.column == column) {
            // The same function twice on a column is one reduction; two are none.
            Some(r) if r.function.fun().name() == name => {}
            Some(_) => return None,
            None => reducers.push(Reducer {
                column,
                function: f.clone(),
            }),
        }
    }
    Some((keys, reducers))
}

/// A column reduced run by run with an aggregate function.
#[derive(Debug, Clone)]
pub struct Reducer {
    /// The column's index in the input (and output) schema.
    pub column: usize,
    /// The aggregate function whose groups accumulator reduces it.
    pub function: Arc<AggregateFunctionExpr>,
}

/// Reduces each run of consecutive rows with equal keys to one row; same schema as its input.
#[derive(Debug, Clone)]
pub struct CollapseRunsExec {
    input: Arc<dyn ExecutionPlan>,
    keys: Vec<usize>,
    reducers: Vec<Reducer>,
    probe_rows: usize,
    cache: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl CollapseRunsExec {
    /// Collapses `input`'s runs of equal `keys` (column indices), reducing the `reducers`'
    /// columns and keeping the first value of the others.
    pub fn new(input: Arc<dyn ExecutionPlan>, keys: Vec<usize>, reducers: Vec<Reducer>) -> Self {
        let cache = Arc::new(Self::properties_of(&input, &keys));
        CollapseRunsExec {
            input,
            keys,
            reducers,
            probe_rows: PROBE_ROWS,
            cache,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    /// The same operator deciding after `rows` rows whether to go on (tests use few).
    pub fn with_probe_rows(mut self, rows: usize) -> Self {
        self.probe_rows = rows;
        self
    }

    /// The input's partitioning when it hashes keys alone (collapsing keeps every key
    /// value), no ordering: reduced columns are not in their input's order.
    fn properties_of(input: &Arc<dyn ExecutionPlan>, keys: &[usize]) -> PlanProperties {
        let partitioning = match input.output_partitioning() {
            Partitioning::Hash(exprs, n)
                if exprs
                    .iter()
                    .all(|e| column_index(e).is_some_and(|i| keys.contains(&i))) =>
            {
                Partitioning::Hash(exprs.clone(), *n)
            }
            p => Partitioning::UnknownPartitioning(p.partition_count()),
        };
        PlanProperties::new(
            EquivalenceProperties::new(input.schema()),
            partitioning,
            input.pipeline_behavior(),
            input.boundedness(),
        )
    }
}

impl DisplayAs for CollapseRunsExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let schema = self.input.schema();
        let name = |i: usize| format!("{}@{i}", schema.field(i).name());
        let keys: Vec<String> = self.keys.iter().map(|&k| name(k)).collect();
        let reduced: Vec<String> = self
            .reducers
            .iter()
            .map(|r| format!("{}({})", r.function.fun().name(), name(r.column)))
            .collect();
        write!(
            f,
            "CollapseRunsExec: keys=[{}], reduce=[{}]",
            keys.join(", "),
            reduced.join(", ")
        )
    }
}

impl ExecutionPlan for CollapseRunsExec {
    fn name(&self) -> &str {
        "CollapseRunsExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.cache
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![false]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        // Keys and reduced columns are column indices, not expressions it evaluates.
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return datafusion::common::internal_err!("CollapseRunsExec has one input");
        }
        let input = children.swap_remove(0);
        let cache = match options.children_properties {
            ChildrenPropertiesMode::Keep => self.cache.clone(),
            ChildrenPropertiesMode::Recompute => Arc::new(Self::properties_of(&input, &self.keys)),
        };
        Ok(Arc::new(CollapseRunsExec {
            input,
            cache,
            metrics: ExecutionPlanMetricsSet::new(),
            ..(*self).clone()
        }))
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let mut runs = Runs {
            keys: self.keys.clone(),
            reducers: self.reducers.clone(),
            accumulators: self
                .reducers
                .iter()
                .map(|r| r.function.create_groups_accumulator())
                .collect::<Result<_>>()?,
            probe_rows: self.probe_rows,
            seen: 0,
            kept: 0,
            passing: false,
            input_rows: MetricBuilder::new(&self.metrics).counter("input_rows", partition),
            baseline: BaselineMetrics::new(&self.metrics, partition),
        };
        let schema = self.schema();
        let stream = input.map(move |batch| {
            let batch = batch?;
            let time = runs.baseline.elapsed_compute().clone();
            let timer = time.timer();
            let out = runs.collapse(batch);
            timer.done();
            out.record_output(&runs.baseline)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// One partition's collapsing state.
struct Runs {
    keys: Vec<usize>,
    reducers: Vec<Reducer>,
    accumulators: Vec<Box<dyn GroupsAccumulator>>,
    probe_rows: usize,
    /// Rows seen and rows kept while probing.
    seen: usize,
    kept: usize,
    /// True once the runs did not pay: batches pass through.
    passing: bool,
    input_rows: Count,
    baseline: BaselineMetrics,
}

impl Runs {
    /// The batch with each run of equal keys reduced to one row.
    fn collapse(&mut self, batch: RecordBatch) -> Result<RecordBatch> {
        let rows = batch.num_rows();
        self.input_rows.add(rows);
        if self.passing || rows < 2 {
            return Ok(batch);
        }
        let keys: Vec<ArrayRef> = self.keys.iter().map(|&k| batch.column(k).clone()).collect();
        let ranges = partition(&keys)?.ranges();
        let runs = ranges.len();
        self.seen += rows;
        self.kept += runs;
        if self.seen >= self.probe_rows {
            self.passing = self.kept as f64 > KEEP_AT_MOST * self.seen as f64;
            // Decided: later batches are not counted.
            self.seen = usize::MAX / 2;
        }
        if runs == rows {
            return Ok(batch);
        }
        let mut group = Vec::with_capacity(rows);
        let mut starts = Vec::with_capacity(runs);
        for (i, r) in ranges.iter().enumerate() {
            starts.push(r.start as u32);
            group.extend(std::iter::repeat_n(i, r.len()));
        }
        let starts = UInt32Array::from(starts);
        let mut columns = Vec::with_capacity(batch.num_columns());
        for (i, column) in batch.columns().iter().enumerate() {
            let reduced = match self.reducers.iter().position(|r| r.column == i) {
                Some(at) => {
                    let acc = &mut self.accumulators[at];
                    acc.update_batch(std::slice::from_ref(column), &group, None, runs)?;
                    acc.evaluate(EmitTo::All)?
                }
                None => take(column.as_ref(), &starts, None)?,
            };
            columns.push(reduced);
        }
        Ok(RecordBatch::try_new(batch.schema(), columns)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::datasource::MemTable;
    use datafusion::execution::SessionStateBuilder;
    use datafusion::functions_aggregate::expr_fn::{count, max, min, sum};
    use datafusion::physical_plan::{collect, displayable};
    use datafusion::prelude::{DataFrame, SessionConfig, SessionContext, col};

    /// A batch of lines (customer, x, d).
    type Lines = (Vec<Option<String>>, Vec<Option<i64>>, Vec<Option<String>>);

    /// Lines in partitions of batches, in a session with or without segql's rules.
    fn lines(parts: Vec<Vec<Lines>>, rules: bool) -> DataFrame {
        let mut state = SessionStateBuilder::new()
            .with_config(SessionConfig::new().with_target_partitions(parts.len()))
            .with_default_features();
        if rules {
            state = state.with_physical_optimizer_rules(crate::joins::physical_rules());
        }
        let ctx = SessionContext::new_with_state(state.build());
        let batches: Vec<Vec<RecordBatch>> = parts
            .into_iter()
            .map(|part| {
                part.into_iter()
                    .map(|(c, x, d)| {
                        RecordBatch::try_from_iter_with_nullable(vec![
                            (
                                "customer_id",
                                Arc::new(StringArray::from(c)) as ArrayRef,
                                true,
                            ),
                            ("x", Arc::new(Int64Array::from(x)) as ArrayRef, true),
                            ("d", Arc::new(StringArray::from(d)) as ArrayRef, true),
                        ])
                        .unwrap()
                    })
                    .collect()
            })
            .collect();
        let schema = batches[0][0].schema();
        let table = MemTable::try_new(schema, batches).unwrap();
        ctx.read_table(Arc::new(table)).unwrap()
    }

    /// The physical plan, the result rows sorted, and the rows into and out of the
    /// collapsing operator (if any).
    async fn run(df: DataFrame) -> (String, Vec<String>, Option<(usize, usize)>) {
        let ctx = Arc::new(df.task_ctx());
        let plan = df.create_physical_plan().await.unwrap();
        let text = displayable(plan.as_ref()).indent(true).to_string();
        let batches = collect(plan.clone(), ctx).await.unwrap();
        let table = pretty_format_batches(&batches).unwrap().to_string();
        let mut rows: Vec<String> = table
            .lines()
            .filter(|l| l.starts_with("| ") && !l.contains("customer_id"))
            .map(str::to_string)
            .collect();
        rows.sort();
        let mut counts = None;
        plan.apply(|node| {
            if node.downcast_ref::<CollapseRunsExec>().is_some() {
                let m = node.metrics().unwrap();
                let input = m.sum_by_name("input_rows").unwrap().as_usize();
                counts = Some((input, m.output_rows().unwrap()));
                return Ok(TreeNodeRecursion::Stop);
            }
            Ok(TreeNodeRecursion::Continue)
        })
        .unwrap();
        (text, rows, counts)
    }

    fn batch(c: &[Option<&str>], x: &[Option<i64>]) -> Lines {
        let text = |v: &[Option<&str>]| v.iter().map(|s| s.map(str::to_string)).collect();
        // `d` is the customer's value again, as text: its maximum is the key.
        (text(c), x.to_vec(), text(c))
    }

    fn data() -> Vec<Vec<Lines>> {
        let (a, b, c) = (Some("a"), Some("b"), Some("c"));
        vec![
            vec![
                batch(
                    &[a, a, a, b, b],
                    &[Some(1), Some(2), None, Some(4), Some(5)],
                ),
                // A run across two batches, and keys without a value.
                batch(&[b, None, None, a], &[Some(6), Some(7), Some(8), Some(9)]),
            ],
            vec![batch(
                &[c, c, a, a, None],
                &[None, None, Some(10), Some(11), Some(12)],
            )],
        ]
    }

    fn aggregated(df: DataFrame) -> DataFrame {
        df.aggregate(
            vec![col("customer_id")],
            vec![
                sum(col("x")).alias("s"),
                max(col("d")).alias("hi"),
                sum(col("x")).alias("s2"),
            ],
        )
        .unwrap()
    }

    #[tokio::test]
    async fn runs_collapse_to_the_same_sums_and_maxima() {
        let (plan, rows, counts) = run(aggregated(lines(data(), true))).await;
        assert!(
            plan.contains("CollapseRunsExec: keys=[customer_id@0], reduce=[sum(x@1), max(d@2)]"),
            "{plan}"
        );
        // 14 lines in 8 runs: (a a a)(b b) (b)(- -)(a) (c c)(a a)(-).
        assert_eq!(counts, Some((14, 8)), "{plan}");
        let (plain, expected, _) = run(aggregated(lines(data(), false))).await;
        assert!(!plain.contains("CollapseRunsExec"), "{plain}");
        assert_eq!(rows, expected, "{plan}");
        assert_eq!(
            rows,
            [
                "|             | 27 |    | 27 |",
                "| a           | 33 | a  | 33 |",
                "| b           | 15 | b  | 15 |",
                "| c           |    | c  |    |",
            ]
        );
    }

    #[tokio::test]
    async fn aggregations_that_runs_would_change_are_left_alone() {
        // A count counts lines; a column both summed and taken the minimum of.
        for aggs in [
            vec![count(col("x")).alias("n")],
            vec![sum(col("x")).alias("s"), min(col("x")).alias("lo")],
        ] {
            let df = lines(data(), true)
                .aggregate(vec![col("customer_id")], aggs)
                .unwrap();
            let (plan, _, counts) = run(df).await;
            assert!(!plan.contains("CollapseRunsExec"), "{plan}");
            assert_eq!(counts, None);
        }
    }

    #[tokio::test]
    async fn partitions_without_runs_pass_their_batches_through_after_the_probe() {
        // One partition: PROBE_ROWS lines of alternating customers, then runs of ten.
        let mut part = Vec::new();
        let mut rows = 0;
        let names = |n: usize| -> Vec<String> { (0..n).map(|i| format!("c{i}")).collect() };
        let keys = names(1000);
        while rows < PROBE_ROWS {
            let c: Vec<Option<&str>> = (0..1000).map(|i| Some(keys[i % 2].as_str())).collect();
            part.push(batch(&c, &[Some(1); 1000]));
            rows += 1000;
        }
        let c: Vec<Option<&str>> = (0..1000).map(|i| Some(keys[i / 10].as_str())).collect();
        part.push(batch(&c, &[Some(1); 1000]));
        let (plan, result, counts) = run(aggregated(lines(vec![part], true))).await;
        assert!(plan.contains("CollapseRunsExec"), "{plan}");
        // Nothing collapsed: the last batch's runs passed through, their 1,000 lines kept.
        assert_eq!(counts, Some((PROBE_ROWS + 1000, PROBE_ROWS + 1000)));
        assert_eq!(result.len(), 100);

        // Runs of ten from the start: the probe keeps collapsing.
        let part = vec![batch(&c, &[Some(1); 1000]); PROBE_ROWS / 1000 + 1];
        let (_, again, counts) = run(aggregated(lines(vec![part], true))).await;
        assert_eq!(counts, Some((PROBE_ROWS + 1000, (PROBE_ROWS + 1000) / 10)));
        assert_eq!(again.len(), 100);
    }
}
