//! A physical optimizer rule for segql's plans: hash joins collect their build side.
//!
//! Every join segql emits has a per-customer left side (the customers who can be members,
//! the per-customer profile, customers' attributes) and, before the aggregation, millions of
//! transaction lines on the right. DataFusion cannot size the left side of a CSV table or of
//! an aggregation, so it repartitions both sides by key; repartitioning the lines cost more
//! than the join itself (`bench/RESULTS.md`). Collected, the left side is built into one
//! hash table that every partition of the right side probes where it is.

use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::config::ConfigOptions;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::joins::{HashJoinExec, PartitionMode};
use std::sync::Arc;

/// Turns partitioned hash joins into joins that collect their left side.
#[derive(Debug, Default)]
pub struct CollectBuildSide;

impl PhysicalOptimizerRule for CollectBuildSide {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        rewrite_each(plan, |join: &HashJoinExec| {
            if *join.partition_mode() != PartitionMode::Partitioned {
                return Ok(None);
            }
            let builder = join.builder();
            Ok(Some(
                builder
                    .with_partition_mode(PartitionMode::CollectLeft)
                    .build_exec()?,
            ))
        })
    }

    fn name(&self) -> &str {
        "segql_collect_build_side"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Rewrites every node of type `T` in `plan`, bottom up (segql's physical rules): `rewrite`
/// gives the node's replacement, or `None` to keep it.
pub(crate) fn rewrite_each<T: ExecutionPlan>(
    plan: Arc<dyn ExecutionPlan>,
    mut rewrite: impl FnMut(&T) -> Result<Option<Arc<dyn ExecutionPlan>>>,
) -> Result<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| {
        let new = match node.downcast_ref::<T>() {
            Some(t) => rewrite(t)?,
            None => None,
        };
        Ok(new.map_or(Transformed::no(node), Transformed::yes))
    })
    .map(|t| t.data)
}

/// DataFusion's physical optimizer rules with [`CollectBuildSide`] right after its join
/// selection (which picks each join's mode), before distribution requirements are enforced,
/// and the roll-up rule (`rollup.rs`) and the collapsing of runs (`runs.rs`) at the end.
pub fn physical_rules() -> Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> {
    let mut rules = datafusion::physical_optimizer::optimizer::PhysicalOptimizer::new().rules;
    let at = rules
        .iter()
        .position(|r| r.name() == "join_selection")
        .map_or(0, |i| i + 1);
    rules.insert(at, Arc::new(CollectBuildSide));
    // Last, on the plan as DataFusion's rules leave it (`rollup.rs`).
    rules.push(Arc::new(crate::rollup::RollUpByCustomer));
    // After it: the roll-up's aggregations are final by then.
    rules.push(Arc::new(crate::runs::CollapseRuns));
    rules
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::common::{JoinType, NullEquality};
    use datafusion::physical_expr::expressions::col;
    use datafusion::physical_plan::empty::EmptyExec;

    fn join(mode: PartitionMode) -> Arc<dyn ExecutionPlan> {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "customer_id",
            DataType::Utf8View,
            false,
        )]));
        let side = || Arc::new(EmptyExec::new(schema.clone())) as Arc<dyn ExecutionPlan>;
        let key = col("customer_id", &schema).unwrap();
        let join = HashJoinExec::try_new(
            side(),
            side(),
            vec![(key.clone(), key)],
            None,
            &JoinType::RightSemi,
            None,
            mode,
            NullEquality::NullEqualsNothing,
            false,
        )
        .unwrap();
        Arc::new(join)
    }

    fn mode(plan: &Arc<dyn ExecutionPlan>) -> PartitionMode {
        *plan
            .downcast_ref::<HashJoinExec>()
            .expect("a hash join")
            .partition_mode()
    }

    #[test]
    fn partitioned_joins_collect_their_left_side() {
        let rule = CollectBuildSide;
        let options = ConfigOptions::default();
        let out = rule
            .optimize(join(PartitionMode::Partitioned), &options)
            .unwrap();
        assert_eq!(mode(&out), PartitionMode::CollectLeft);
        let out = rule.optimize(join(PartitionMode::Auto), &options).unwrap();
        assert_eq!(mode(&out), PartitionMode::Auto);
    }

    #[test]
    fn the_rule_follows_join_selection() {
        let names: Vec<String> = physical_rules()
            .iter()
            .map(|r| r.name().to_string())
            .collect();
        let at = names.iter().position(|n| n == "join_selection").unwrap();
        assert_eq!(names[at + 1], "segql_collect_build_side");
        let last: Vec<&str> = names[names.len() - 2..]
            .iter()
            .map(String::as_str)
            .collect();
        assert_eq!(last, ["segql_roll_up_by_customer", "segql_collapse_runs"]);
    }
}
