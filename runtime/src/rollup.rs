//! A physical optimizer rule for segql's receipt roll-up: the lines are hashed by customer
//! once, and both aggregations run where the rows are.
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
use datafusion::common::tree_node::{Transformed, TreeNode};
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
        plan.transform_up(|node| {
            Ok(match rewrite(&node)? {
                Some(new) => Transformed::yes(new),
                None => Transformed::no(node),
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "segql_roll_up_by_customer"
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
fn rewrite(node: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(final2) = node.downcast_ref::<AggregateExec>() else {
        return Ok(None);
    };
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
