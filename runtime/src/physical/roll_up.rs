//! The rule `segql_roll_up_by_customer`, for segql's receipt roll-up: the lines are hashed
//! by customer once, and both aggregations run where the rows are.
//!
//! Purchases are counted by receipt in two aggregations: lines by (customer, receipt), then
//! receipts by customer. DataFusion hashes the lines by (customer, receipt) for the first and
//! the receipts by customer for the second, with a partial aggregation before each
//! repartition: at 1M customers that is 7.4M receipts aggregated twice. Rows hashed by
//! customer alone serve both: all lines of a receipt are in the partition of its customer,
//! and so are all receipts of a customer. The rule hashes the lines by customer, and the
//! aggregation by customer becomes one `SinglePartitioned` aggregation over its partition.
//!
//! DataFusion would plan this itself from 4 partitions up (`subset_repartition_threshold`)
//! if the lines came hashed by customer, but it removes repartitions a logical plan brings
//! and plans its own, so the rule runs last, on the plan as DataFusion leaves it.

use datafusion::common::Result;
use datafusion::config::ConfigOptions;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{Partitioning, PhysicalExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::execution_plan::replace_children_if_necessary;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use std::sync::Arc;

/// Hashes the roll-up's lines by customer and aggregates its receipts by customer in place.
#[derive(Debug, Default)]
pub struct RollUpByCustomer;

impl PhysicalOptimizerRule for RollUpByCustomer {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        super::rewrite_each(plan, rewrite)
    }

    fn name(&self) -> &str {
        super::Rule::RollUpByCustomer.name()
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// True when `e` is the column `customer_id`.
fn is_customer(e: &Arc<dyn PhysicalExpr>) -> bool {
    e.downcast_ref::<Column>()
        .is_some_and(|c| c.name() == "customer_id")
}

/// The input index of a column expression.
fn column_index(e: &Arc<dyn PhysicalExpr>) -> Option<usize> {
    e.downcast_ref::<Column>().map(Column::index)
}

/// True when `agg` groups by `customer_id` alone, in `mode`.
fn by_customer(agg: &AggregateExec, mode: AggregateMode) -> bool {
    let g = agg.group_expr();
    *agg.mode() == mode
        && g.is_single()
        && g.expr().len() == 1
        && is_customer(&g.expr()[0].0)
        && agg.limit_options().is_none()
}

/// The pattern, from the top:
/// `Aggregate(FinalPartitioned, [customer]) <- Repartition(Hash [customer])
///  <- Aggregate(Partial, [customer]) <- Projection* (customer passed through)
///  <- Aggregate(FinalPartitioned, [customer, receipt, ..])
///  <- Repartition(Hash [customer, receipt, ..]) <- input`.
fn rewrite(final2: &AggregateExec) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    if !by_customer(final2, AggregateMode::FinalPartitioned) {
        return Ok(None);
    }
    let Some(hash2) = final2.input().downcast_ref::<RepartitionExec>() else {
        return Ok(None);
    };
    let Some(partial2) = hash2.input().downcast_ref::<AggregateExec>() else {
        return Ok(None);
    };
    if !by_customer(partial2, AggregateMode::Partial) {
        return Ok(None);
    }
    // Projections between the two aggregations, top first, each passing on the very column
    // the second aggregation groups by (followed by index, not only by name).
    let mut projections = Vec::new();
    let mut below = partial2.input().clone();
    let mut at = column_index(&partial2.group_expr().expr()[0].0);
    while let Some(p) = below.downcast_ref::<ProjectionExec>() {
        let passed = at
            .and_then(|i| p.expr().get(i))
            .filter(|e| is_customer(&e.expr))
            .and_then(|e| column_index(&e.expr));
        if passed.is_none() {
            return Ok(None);
        }
        at = passed;
        projections.push(below.clone());
        below = p.input().clone();
    }
    let Some(final1) = below.downcast_ref::<AggregateExec>() else {
        return Ok(None);
    };
    let groups = final1.group_expr();
    // The customer the second aggregation groups by is the first's first group column
    // (group columns lead an aggregation's output).
    if *final1.mode() != AggregateMode::FinalPartitioned
        || !groups.is_single()
        || groups.expr().len() < 2
        || !is_customer(&groups.expr()[0].0)
        || at != Some(0)
    {
        return Ok(None);
    }
    let Some(hash1) = final1.input().downcast_ref::<RepartitionExec>() else {
        return Ok(None);
    };
    let Partitioning::Hash(keys, n) = hash1.partitioning() else {
        return Ok(None);
    };
    if keys.len() < 2
        || !is_customer(&keys[0])
        || column_index(&keys[0]) != column_index(&groups.expr()[0].0)
        || hash1.preserve_order()
    {
        return Ok(None);
    }
    let by_customer: Arc<dyn ExecutionPlan> = Arc::new(RepartitionExec::try_new(
        hash1.input().clone(),
        Partitioning::Hash(vec![keys[0].clone()], *n),
    )?);
    let mut rebuilt = replace_children_if_necessary(below.clone(), vec![by_customer])?;
    for p in projections.into_iter().rev() {
        rebuilt = replace_children_if_necessary(p, vec![rebuilt])?;
    }
    let single = AggregateExec::try_new(
        AggregateMode::SinglePartitioned,
        partial2.group_expr().clone(),
        partial2.aggr_expr().to_vec(),
        partial2.filter_expr().to_vec(),
        rebuilt,
        partial2.input_schema(),
    )?;
    Ok(Some(Arc::new(single)))
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
    use datafusion::datasource::MemTable;
    use datafusion::execution::SessionStateBuilder;
    use datafusion::functions_aggregate::expr_fn::{count, max, sum};
    use datafusion::physical_plan::{collect, displayable};
    use datafusion::prelude::{DataFrame, SessionConfig, SessionContext, col};
    use std::sync::Arc;

    /// Lines (customer, receipt, x) in two partitions, in a session with segql's rules.
    fn lines() -> (SessionContext, DataFrame) {
        let state = SessionStateBuilder::new()
            .with_config(SessionConfig::new().with_target_partitions(2))
            .with_default_features()
            .with_physical_optimizer_rules(crate::physical::RuleSet::all().optimizer_rules())
            .build();
        let ctx = SessionContext::new_with_state(state);
        let batch = |c: &[&str], r: &[&str], x: &[i64]| {
            RecordBatch::try_from_iter(vec![
                (
                    "customer_id",
                    Arc::new(StringArray::from(c.to_vec())) as ArrayRef,
                ),
                (
                    "receipt_id",
                    Arc::new(StringArray::from(r.to_vec())) as ArrayRef,
                ),
                ("x", Arc::new(Int64Array::from(x.to_vec())) as ArrayRef),
            ])
            .unwrap()
        };
        let one = batch(&["a", "a", "b"], &["r1", "r1", "r1"], &[1, 2, 3]);
        let two = batch(&["b", "c", "a"], &["r2", "r3", "r2"], &[4, 5, 6]);
        let table = MemTable::try_new(one.schema(), vec![vec![one], vec![two]]).unwrap();
        let df = ctx.read_table(Arc::new(table)).unwrap();
        (ctx, df)
    }

    /// The lines rolled up into receipts: (customer, receipt, m = max x).
    fn receipts(lines: DataFrame) -> DataFrame {
        lines
            .aggregate(
                vec![col("customer_id"), col("receipt_id")],
                vec![max(col("x")).alias("m")],
            )
            .unwrap()
    }

    /// The physical plan and the result rows, sorted.
    async fn run(ctx: &SessionContext, df: DataFrame) -> (String, Vec<String>) {
        let plan = df.create_physical_plan().await.unwrap();
        let text = displayable(plan.as_ref()).indent(true).to_string();
        let batches = collect(plan, ctx.task_ctx()).await.unwrap();
        let rows = crate::test_support::sorted_rows(&batches);
        (text, rows)
    }

    #[tokio::test]
    async fn receipts_are_aggregated_by_customer_where_the_lines_were_hashed() {
        let (ctx, lines) = lines();
        let df = receipts(lines)
            .aggregate(
                vec![col("customer_id")],
                vec![count(col("m")).alias("n"), sum(col("m")).alias("s")],
            )
            .unwrap();
        let (plan, rows) = run(&ctx, df).await;
        assert!(plan.contains("mode=SinglePartitioned"), "{plan}");
        assert!(
            plan.contains("RepartitionExec: partitioning=Hash([customer_id@0], 2)"),
            "{plan}"
        );
        assert_eq!(
            rows,
            [
                "| a           | 2 | 8 |",
                "| b           | 2 | 7 |",
                "| c           | 1 | 5 |"
            ],
            "{plan}"
        );
    }

    #[tokio::test]
    async fn another_column_named_customer_id_is_not_taken_for_the_customer() {
        let (ctx, lines) = lines();
        // The second aggregation groups by the receipt, renamed `customer_id`.
        let df = receipts(lines)
            .select(vec![
                col("receipt_id").alias("customer_id"),
                col("customer_id").alias("owner"),
                col("m"),
            ])
            .unwrap()
            .aggregate(
                vec![col("customer_id")],
                vec![count(col("owner")).alias("n")],
            )
            .unwrap();
        let (plan, rows) = run(&ctx, df).await;
        assert!(!plan.contains("mode=SinglePartitioned"), "{plan}");
        assert_eq!(
            rows,
            [
                "| r1          | 2 |",
                "| r2          | 2 |",
                "| r3          | 1 |"
            ],
            "{plan}"
        );
    }
}
