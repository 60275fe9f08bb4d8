//! The rule `segql_collapse_runs` and its operator: a partial aggregation over runs of consecutive
//! rows with the same group key, before any hashing.
//!
//! Transaction files are often written customer by customer (a loyalty system's export, the
//! demo's files): a customer's lines follow each other, and a receipt's lines too. A partial
//! aggregation then looks each line up in its hash table although the line before had the
//! same key. [`CollapseRunsExec`] takes the partial aggregation's place: it finds the runs of
//! equal keys in each batch (Arrow's `partition` kernel, a comparison of neighbours) and
//! aggregates each run into one partial state with the aggregate functions' own
//! `GroupsAccumulator`s, a run's number as its group. The final aggregation merges states
//! by key as it merges those of partitions, so a key split over several runs (or batches)
//! is merged there: the result is the same whatever the order of the rows.
//!
//! The runs pay only when they are long enough. A partition decides once, after as many rows
//! as DataFusion samples before skipping a partial aggregation (100,000 by default): if its
//! runs kept more rows than there were distinct keys by more than [`RUNS_BEYOND_KEYS`] of
//! the rows (keys that repeat, but not next to each other), or if they kept nearly every row
//! ([`RUNS_KEEP_AT_MOST`]: keys that hardly repeat next to each other, as customers in a file
//! ordered by date), the rest of the partition goes through DataFusion's own partial
//! aggregation, as without the rule (which then skips hashing where keys hardly repeat).
//!
//! Aggregations qualify when they group by expressions (no grouping sets), their functions
//! have groups accumulators and no ordering, and they do not rely on their input's order.

use datafusion::arrow::array::AsArray;
use datafusion::arrow::array::{ArrayRef, BooleanArray, RecordBatch, UInt32Array};
use datafusion::arrow::compute::kernels::partition::partition;
use datafusion::arrow::compute::{cast, take};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::HashSet;
use datafusion::common::hash_utils::{RandomState, create_hashes};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Result, internal_err};
use datafusion::config::ConfigOptions;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::execution_plan::{CardinalityEffect, EmissionType};
use datafusion::physical_plan::execution_plan::{
    ChildrenPropertiesMode, ReplaceChildrenOptions, replace_children_if_necessary,
};
use datafusion::physical_plan::metrics::{
    BaselineMetrics, Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet, RecordOutput,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, InputOrderMode, PlanProperties, RecordBatchStream,
    SendableRecordBatchStream,
};
use futures::{Stream, StreamExt};
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// How many more rows than distinct keys (as a share of the rows sampled) the runs may keep
/// for run aggregation to go on. Past it, a hash table would keep enough fewer rows to pay for
/// its lookups: a lookup costs about 25 ns a row against 10 for finding runs, and every row
/// kept beyond the keys costs about 60 more (its states, the repartition, the final
/// aggregation), so runs break even at (25 - 10) / 60 = 0.25.
pub const RUNS_BEYOND_KEYS: f64 = 0.25;

/// The largest share of the rows sampled the runs may keep for run aggregation to go on. A
/// row the runs keep costs about 60 ns further on whoever produced it, so against
/// DataFusion's partial aggregation skipping itself (every row kept, no lookup), runs that
/// cost 10 ns a row to find pay only while they keep under (60 - 10) / 60 of the rows: keys
/// that hardly repeat next to each other (customers in a file sorted by date, or shuffled)
/// go to DataFusion's aggregation, which then stops hashing too.
pub const RUNS_KEEP_AT_MOST: f64 = 0.83;

/// Sampling stops after this many rows even if the session samples longer, so the set of key
/// hashes stays small.
const SAMPLE_AT_MOST: usize = 1 << 20;

/// Replaces every partial aggregation that qualifies with a [`CollapseRunsExec`].
#[derive(Debug, Default)]
pub struct CollapseRuns;

impl PhysicalOptimizerRule for CollapseRuns {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        super::rewrite_each(plan, |agg: &AggregateExec| {
            if !qualifies(agg) {
                return Ok(None);
            }
            Ok(Some(Arc::new(CollapseRunsExec::new(Arc::new(agg.clone())))))
        })
    }

    fn name(&self) -> &str {
        super::Rule::CollapseRuns.name()
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// True when `agg` is a partial aggregation whose states runs can be aggregated into.
fn qualifies(agg: &AggregateExec) -> bool {
    let groups = agg.group_expr();
    *agg.mode() == AggregateMode::Partial
        && groups.is_single()
        && !groups.expr().is_empty()
        && agg.limit_options().is_none()
        && *agg.input_order_mode() == InputOrderMode::Linear
        && agg
            .aggr_expr()
            .iter()
            .all(|f| f.order_bys().is_empty() && f.groups_accumulator_supported())
}

/// A partial aggregation over runs of equal group keys: the same output as the
/// `AggregateExec` it replaces (group values, then each function's state), with a row per
/// run instead of a row per key.
#[derive(Debug, Clone)]
pub struct CollapseRunsExec {
    /// The partial aggregation replaced: its expressions and schema, and the fallback when
    /// runs do not pay.
    agg: Arc<AggregateExec>,
    /// The aggregation's properties, emitting batch by batch.
    cache: Arc<PlanProperties>,
    /// Rows to sample; by default the session's.
    sample_rows: Option<usize>,
    metrics: ExecutionPlanMetricsSet,
}

impl CollapseRunsExec {
    /// Aggregates runs in place of `agg`, a partial aggregation, deciding whether runs pay
    /// after as many rows as the session samples before skipping a partial aggregation
    /// (`skip_partial_aggregation_probe_rows_threshold`, at most `SAMPLE_AT_MOST`).
    pub fn new(agg: Arc<AggregateExec>) -> Self {
        // The partial aggregation's partitioning and (no) ordering; it emits at the end of
        // its input, this operator batch by batch until it hands over to hashing.
        let cache = agg.properties().as_ref().clone();
        CollapseRunsExec {
            agg,
            cache: Arc::new(cache.with_emission_type(EmissionType::Both)),
            sample_rows: None,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    /// The same operator deciding after `rows` rows whether runs pay (tests use few).
    pub fn with_sample_rows(mut self, rows: usize) -> Self {
        self.sample_rows = Some(rows);
        self
    }
}

impl DisplayAs for CollapseRunsExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let groups: Vec<String> = (self.agg.group_expr().expr().iter())
            .map(|(e, name)| format!("{e} as {name}"))
            .collect();
        let functions: Vec<&str> = self.agg.aggr_expr().iter().map(|a| a.name()).collect();
        write!(
            f,
            "CollapseRunsExec: gby=[{}], aggr=[{}]",
            groups.join(", "),
            functions.join(", ")
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

    fn cardinality_effect(&self) -> CardinalityEffect {
        CardinalityEffect::LowerEqual
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![self.agg.input()]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        self.agg.apply_expressions(f)
    }

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let agg: Arc<dyn ExecutionPlan> = self.agg.clone();
        let agg = agg.replace_children(children, options)?;
        let Some(agg) = agg.downcast_ref::<AggregateExec>() else {
            return internal_err!("CollapseRunsExec lost its aggregation");
        };
        let mut runs = CollapseRunsExec::new(Arc::new(agg.clone()));
        runs.sample_rows = self.sample_rows;
        Ok(Arc::new(runs))
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
        let input = self.agg.input().execute(partition, context.clone())?;
        let sample_rows = self.sample_rows.unwrap_or_else(|| {
            let options = context.session_config().options();
            options
                .execution
                .skip_partial_aggregation_probe_rows_threshold
        });
        let accumulators = (self.agg.aggr_expr().iter())
            .map(|f| f.create_groups_accumulator())
            .collect::<Result<_>>()?;
        Ok(Box::pin(RunsStream {
            phase: Phase::Runs(input),
            agg: self.agg.clone(),
            context,
            accumulators,
            sample_rows: sample_rows.min(SAMPLE_AT_MOST),
            decided: false,
            seen: 0,
            kept: 0,
            keys_seen: HashSet::new(),
            input_rows: MetricBuilder::new(&self.metrics).counter("input_rows", partition),
            hashed_rows: MetricBuilder::new(&self.metrics).counter("hashed_rows", partition),
            baseline: BaselineMetrics::new(&self.metrics, partition),
        }))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// Where a partition's rows go.
enum Phase {
    /// Aggregated run by run.
    Runs(SendableRecordBatchStream),
    /// Through DataFusion's partial aggregation (the runs did not pay): the plan, for its
    /// metrics, and its output.
    Hashed(Arc<dyn ExecutionPlan>, SendableRecordBatchStream),
    Done,
}

/// One partition's run aggregation.
struct RunsStream {
    phase: Phase,
    agg: Arc<AggregateExec>,
    context: Arc<TaskContext>,
    accumulators: Vec<Box<dyn GroupsAccumulator>>,
    /// Rows to sample, and whether the sample has decided.
    sample_rows: usize,
    decided: bool,
    /// Rows seen, runs found and the hashes of the distinct keys met while sampling.
    seen: usize,
    kept: usize,
    keys_seen: HashSet<u64>,
    input_rows: Count,
    /// Rows handed to DataFusion's partial aggregation (the runs did not pay).
    hashed_rows: Count,
    baseline: BaselineMetrics,
}

impl RunsStream {
    /// The batch's runs, each aggregated into one row of partial states.
    fn aggregate_runs(&mut self, batch: &RecordBatch) -> Result<RecordBatch> {
        let rows = batch.num_rows();
        let keys = (self.agg.group_expr().expr().iter())
            .map(|(e, _)| e.evaluate(batch)?.into_array(rows))
            .collect::<Result<Vec<ArrayRef>>>()?;
        let ranges = if rows == 0 {
            Vec::new()
        } else {
            partition(&keys)?.ranges()
        };
        let runs = ranges.len();
        let mut group = Vec::with_capacity(rows);
        let mut starts = Vec::with_capacity(runs);
        for (i, r) in ranges.iter().enumerate() {
            starts.push(r.start as u32);
            group.extend(std::iter::repeat_n(i, r.len()));
        }
        let starts = UInt32Array::from(starts);
        let schema = self.agg.schema();
        let mut columns = Vec::with_capacity(schema.fields().len());
        for (key, field) in keys.iter().zip(schema.fields()) {
            let mut taken = take(key.as_ref(), &starts, None)?;
            if taken.data_type() != field.data_type() {
                taken = cast(&taken, field.data_type())?;
            }
            // Taken views still point into the whole batch's strings: keep only the runs'
            // (a partial aggregation's output owns its keys; memory is accounted by size).
            if let Some(views) = taken.as_string_view_opt() {
                taken = Arc::new(views.gc());
            } else if let Some(views) = taken.as_binary_view_opt() {
                taken = Arc::new(views.gc());
            }
            columns.push(taken);
        }
        if !self.decided {
            self.sample(rows, &columns)?;
        }
        let functions = self.agg.aggr_expr().iter().zip(self.agg.filter_expr());
        for ((f, filter), acc) in functions.zip(self.accumulators.iter_mut()) {
            let values = (f.expressions().iter())
                .map(|e| e.evaluate(batch)?.into_array(rows))
                .collect::<Result<Vec<ArrayRef>>>()?;
            let filter = match filter {
                Some(e) => Some(e.evaluate(batch)?.into_array(rows)?),
                None => None,
            };
            let filter = filter
                .as_ref()
                .map(|f| f.as_any().downcast_ref::<BooleanArray>());
            if let Some(None) = filter {
                return internal_err!("an aggregate filter that is not boolean");
            }
            acc.update_batch(&values, &group, filter.flatten(), runs)?;
            columns.extend(acc.state(EmitTo::All)?);
        }
        Ok(RecordBatch::try_new(schema, columns)?)
    }

    /// Counts a sampled batch's rows, runs and distinct keys (`keys`: one row per run).
    fn sample(&mut self, rows: usize, keys: &[ArrayRef]) -> Result<()> {
        let keys = &keys[..self.agg.group_expr().expr().len()];
        let runs = keys.first().map_or(0, |k| k.len());
        let mut hashes = vec![0; runs];
        create_hashes(keys, &RandomState::with_seed(0), &mut hashes)?;
        self.keys_seen.extend(hashes);
        self.seen += rows;
        self.kept += runs;
        Ok(())
    }

    /// True when sampling is over and the runs kept too many rows more than there were
    /// keys, or nearly every row; decides once.
    fn runs_do_not_pay(&mut self) -> bool {
        if self.decided || self.seen < self.sample_rows {
            return false;
        }
        self.decided = true;
        let beyond = self.kept.saturating_sub(self.keys_seen.len());
        self.keys_seen = HashSet::new();
        let seen = self.seen as f64;
        beyond as f64 > RUNS_BEYOND_KEYS * seen || self.kept as f64 > RUNS_KEEP_AT_MOST * seen
    }

    /// DataFusion's partial aggregation over the rest of `input`: the plan and its output.
    fn hashed(&self, input: SendableRecordBatchStream) -> Result<Phase> {
        let schema = input.schema();
        let (counted, hashed) = (self.input_rows.clone(), self.hashed_rows.clone());
        let input = input.inspect(move |b| {
            if let Ok(b) = b {
                counted.add(b.num_rows());
                hashed.add(b.num_rows());
            }
        });
        let rest = Arc::new(Rest {
            schema: schema.clone(),
            stream: Mutex::new(Some(Box::pin(RecordBatchStreamAdapter::new(schema, input)))),
        });
        let scan =
            StreamingTableExec::try_new(rest.schema.clone(), vec![rest], None, [], false, None)?;
        let agg: Arc<dyn ExecutionPlan> = self.agg.clone();
        let agg = replace_children_if_necessary(agg, vec![Arc::new(scan)])?;
        let output = agg.execute(0, self.context.clone())?;
        Ok(Phase::Hashed(agg, output))
    }
}

impl Stream for RunsStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match &mut self.phase {
            Phase::Runs(input) => match input.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(batch))) => {
                    self.input_rows.add(batch.num_rows());
                    let time = self.baseline.elapsed_compute().clone();
                    let timer = time.timer();
                    let out = self.aggregate_runs(&batch);
                    timer.done();
                    if out.is_err() {
                        // Accumulators may hold part of the batch: nothing more comes.
                        self.phase = Phase::Done;
                        self.baseline.done();
                    } else if self.runs_do_not_pay() {
                        let Phase::Runs(input) = std::mem::replace(&mut self.phase, Phase::Done)
                        else {
                            unreachable!("in the runs phase");
                        };
                        match self.hashed(input) {
                            Ok(hashed) => self.phase = hashed,
                            Err(e) => return Poll::Ready(Some(Err(e))),
                        }
                    }
                    Poll::Ready(Some(out.record_output(&self.baseline)))
                }
                Poll::Ready(Some(Err(e))) => {
                    self.phase = Phase::Done;
                    Poll::Ready(Some(Err(e)))
                }
                Poll::Ready(None) => {
                    self.phase = Phase::Done;
                    self.baseline.done();
                    Poll::Ready(None)
                }
                Poll::Pending => Poll::Pending,
            },
            Phase::Hashed(plan, rest) => {
                let polled = rest.poll_next_unpin(cx);
                match &polled {
                    Poll::Ready(None) => {
                        // The partial aggregation's compute time counts as this operator's.
                        let time = plan.metrics().and_then(|m| m.elapsed_compute());
                        let nanos = time.unwrap_or(0) as u64;
                        let elapsed = self.baseline.elapsed_compute();
                        elapsed.add_duration(std::time::Duration::from_nanos(nanos));
                        self.phase = Phase::Done;
                    }
                    Poll::Ready(Some(Err(_))) => self.phase = Phase::Done,
                    _ => {}
                }
                self.baseline.record_poll(polled)
            }
            Phase::Done => Poll::Ready(None),
        }
    }
}

impl RecordBatchStream for RunsStream {
    fn schema(&self) -> SchemaRef {
        self.agg.schema()
    }
}

/// The rest of a partition's input, as the one partition of a scan (read once).
struct Rest {
    schema: SchemaRef,
    stream: Mutex<Option<SendableRecordBatchStream>>,
}

impl fmt::Debug for Rest {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the rest of a partition")
    }
}

impl PartitionStream for Rest {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let taken = self.stream.lock().ok().and_then(|mut s| s.take());
        taken.unwrap_or_else(|| {
            let error = futures::stream::once(async {
                internal_err!("the rest of a partition is read once")
            });
            Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), error))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::common::tree_node::{Transformed, TreeNode};
    use datafusion::datasource::MemTable;
    use datafusion::execution::SessionStateBuilder;
    use datafusion::functions_aggregate::expr_fn::{
        avg, count, count_distinct, first_value, max, sum,
    };
    use datafusion::logical_expr::ExprFunctionExt;
    use datafusion::physical_plan::{collect, displayable};
    use datafusion::prelude::{DataFrame, SessionConfig, SessionContext, col, lit};

    /// A batch of lines (customer, x, d).
    type Lines = (Vec<Option<String>>, Vec<Option<i64>>, Vec<Option<String>>);

    /// Lines in partitions of batches, in a session with or without segql's rules.
    fn lines(parts: Vec<Vec<Lines>>, rules: bool) -> DataFrame {
        let mut state = SessionStateBuilder::new()
            .with_config(SessionConfig::new().with_target_partitions(2))
            .with_default_features();
        if rules {
            state = state
                .with_physical_optimizer_rules(crate::physical::RuleSet::all().optimizer_rules());
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

    /// The physical plan, the result rows sorted, and the rows into, out of and hashed by the
    /// run aggregation (if any), sampling `sample` rows.
    async fn run(
        df: DataFrame,
        sample: usize,
    ) -> (String, Vec<String>, Option<(usize, usize, usize)>) {
        let ctx = Arc::new(df.task_ctx());
        let plan = df.create_physical_plan().await.unwrap();
        let plan = plan
            .transform_up(|node| {
                Ok(match node.downcast_ref::<CollapseRunsExec>() {
                    Some(runs) => {
                        let runs = runs.clone().with_sample_rows(sample);
                        Transformed::yes(Arc::new(runs) as Arc<dyn ExecutionPlan>)
                    }
                    None => Transformed::no(node),
                })
            })
            .unwrap()
            .data;
        let text = displayable(plan.as_ref()).indent(true).to_string();
        let batches = collect(plan.clone(), ctx).await.unwrap();
        let rows = crate::test_support::sorted_rows(&batches);
        let mut counts = None;
        plan.apply(|node| {
            if node.downcast_ref::<CollapseRunsExec>().is_some() {
                let m = node.metrics().unwrap();
                let input = m.sum_by_name("input_rows").unwrap().as_usize();
                let hashed = m.sum_by_name("hashed_rows").unwrap().as_usize();
                counts = Some((input, m.output_rows().unwrap(), hashed));
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

    /// Sums, a maximum, a count (whose state is not its input's type) and a filtered sum.
    fn aggregated(df: DataFrame) -> DataFrame {
        let filtered = sum(col("x")).filter(col("x").gt(lit(1))).build().unwrap();
        df.aggregate(
            vec![col("customer_id")],
            vec![
                sum(col("x")).alias("s"),
                max(col("d")).alias("hi"),
                count(col("x")).alias("n"),
                filtered.alias("above_one"),
            ],
        )
        .unwrap()
    }

    #[tokio::test]
    async fn runs_aggregate_to_the_same_results() {
        let (plan, rows, counts) = run(aggregated(lines(data(), true)), 100_000).await;
        assert!(
            plan.contains(
                "CollapseRunsExec: gby=[customer_id@0 as customer_id], aggr=[s, hi, n, above_one]"
            ),
            "{plan}"
        );
        assert!(!plan.contains("mode=Partial"), "{plan}");
        // 14 lines in 8 runs: (a a a)(b b) (b)(- -)(a) (c c)(a a)(-).
        assert_eq!(counts, Some((14, 8, 0)), "{plan}");
        let (plain, expected, _) = run(aggregated(lines(data(), false)), 100_000).await;
        assert!(!plain.contains("CollapseRunsExec"), "{plain}");
        assert_eq!(rows, expected, "{plan}");
        assert_eq!(
            rows,
            [
                "|             | 27 |    | 3 | 27        |",
                "| a           | 33 | a  | 5 | 32        |",
                "| b           | 15 | b  | 3 | 15        |",
                "| c           |    | c  | 0 |           |",
            ]
        );
    }

    #[tokio::test]
    async fn aggregations_that_need_their_order_or_have_no_keys_are_left_alone() {
        for df in [
            lines(data(), true)
                .aggregate(
                    vec![col("customer_id")],
                    vec![first_value(col("x"), vec![col("d").sort(true, false)]).alias("f")],
                )
                .unwrap(),
            lines(data(), true)
                .aggregate(vec![], vec![sum(col("x")).alias("s")])
                .unwrap(),
        ] {
            let (plan, _, counts) = run(df, 100_000).await;
            assert!(!plan.contains("CollapseRunsExec"), "{plan}");
            assert_eq!(counts, None);
        }
    }

    #[tokio::test]
    async fn two_keys_computed_keys_and_multi_column_states_aggregate_to_the_same_results() {
        // Runs where only the second key changes; a computed key; `avg` (count and sum) and a
        // distinct count (a list of values) as states; an empty batch.
        let (a, b) = (Some("a"), Some("b"));
        let mut parts = data();
        parts[0].insert(1, batch(&[], &[]));
        parts[1].push(batch(&[a, a, a, b], &[Some(1), Some(1), Some(2), Some(2)]));
        let agg = |df: DataFrame| {
            df.aggregate(
                vec![col("customer_id"), col("x").gt(lit(5)).alias("big")],
                vec![
                    avg(col("x")).alias("mean"),
                    count_distinct(col("x")).alias("distinct"),
                ],
            )
            .unwrap()
        };
        let (plan, rows, counts) = run(agg(lines(parts.clone(), true)), 100_000).await;
        assert!(
            plan.contains("CollapseRunsExec: gby=[customer_id@0 as customer_id, x@1 > 5 as big]"),
            "{plan}"
        );
        // Runs of (customer, x > 5), where a missing x makes a key of its own:
        // (aF aF)(a-)(bF bF) | | (bT)(-T -T)(aT) | (c- c-)(aT aT)(-T) (aF aF aF)(bF).
        assert_eq!(counts, Some((18, 11, 0)), "{plan}");
        let (_, expected, _) = run(agg(lines(parts, false)), 100_000).await;
        assert_eq!(rows, expected, "{plan}");
        assert_eq!(rows.len(), 7, "{rows:?}");
    }

    #[tokio::test]
    async fn partitions_whose_keys_repeat_beyond_their_runs_are_hashed_after_the_sample() {
        // Two partitions, each 1,000 lines of alternating customers (2 keys, 1,000 runs),
        // then runs of ten.
        let keys: Vec<String> = (0..1000).map(|i| format!("c{i}")).collect();
        let alternating: Vec<Option<&str>> = (0..100).map(|i| Some(keys[i % 2].as_str())).collect();
        let runs: Vec<Option<&str>> = (0..100).map(|i| Some(keys[i / 10].as_str())).collect();
        let mut part = vec![batch(&alternating, &[Some(1); 100]); 10];
        part.push(batch(&runs, &[Some(1); 100]));
        let two = vec![part.clone(), part];
        let (_, result, counts) = run(aggregated(lines(two.clone(), true)), 1000).await;
        // The first 1,000 lines of each stay one row each; the rest is hashed into 10 keys.
        assert_eq!(counts, Some((2200, 2 * (1000 + 10), 200)));
        let (_, expected, _) = run(aggregated(lines(two.clone(), false)), 1000).await;
        assert_eq!(result, expected);
        assert_eq!(result.len(), 10);
        // No sample (as DataFusion reads a threshold of 0): decided after the first batch.
        let (_, result, counts) = run(aggregated(lines(two, true)), 0).await;
        assert_eq!(counts, Some((2200, 2 * (100 + 10), 2000)));
        assert_eq!(result, expected);

        // Runs of ten from the start: the sample keeps aggregating runs.
        let part = vec![batch(&runs, &[Some(1); 100]); 11];
        let two = vec![part.clone(), part];
        let (_, again, counts) = run(aggregated(lines(two.clone(), true)), 1000).await;
        assert_eq!(counts, Some((2200, 220, 0)));
        let (_, expected, _) = run(aggregated(lines(two, false)), 1000).await;
        assert_eq!(again, expected);
        assert!(again[0].starts_with("| c0          | 220 |"), "{again:?}");

        // Keys that never repeat: the runs keep every row, so after the sample the rest goes
        // to DataFusion's partial aggregation (which keeps every row too, without hashing
        // once it has sampled).
        let unique: Vec<Vec<Lines>> = (0..2)
            .map(|p| {
                (0..11)
                    .map(|b| {
                        let c: Vec<Option<&str>> = (0..100)
                            .map(|i| Some(keys[(p * 11 + b) * 100 % 1000 + i].as_str()))
                            .collect();
                        batch(&c, &[Some(1); 100])
                    })
                    .collect()
            })
            .collect();
        let (_, _, counts) = run(aggregated(lines(unique, true)), 1000).await;
        assert_eq!(counts, Some((2200, 2200, 200)));
        // Runs of two of keys that do not come back: the runs keep half the rows, and go on.
        let part: Vec<Lines> = (0..11)
            .map(|b| {
                let c: Vec<Option<&str>> = (0..100)
                    .map(|i| Some(keys[b * 50 + i / 2].as_str()))
                    .collect();
                batch(&c, &[Some(1); 100])
            })
            .collect();
        let (_, _, counts) = run(aggregated(lines(vec![part.clone(), part], true)), 1000).await;
        assert_eq!(counts, Some((2200, 1100, 0)));
    }
}
