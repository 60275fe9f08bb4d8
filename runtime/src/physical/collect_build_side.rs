//! The rule `segql_collect_build_side`: hash joins collect their build (left) side.
//!
//! Every join segql emits has a per-customer left side (the customers who can be members,
//! the per-customer profile, customers' attributes) and, before the aggregation, millions of
//! transaction lines on the right. DataFusion cannot size the left side of a CSV table or of
//! an aggregation, so it repartitions both sides by key; repartitioning the lines cost more
//! than the join itself (`bench/RESULTS.md`). Collected, the left side is built into one
//! hash table that every partition of the right side probes where it is.
//!
//! Guard: only join types whose output is decided row by row of the right side are
//! rewritten ([`collects_correctly`]). A join that also emits build-side rows (unmatched,
//! or matched once: `Left`, `LeftAnti`, `LeftSemi`, `LeftMark`, `Full`) emits them after
//! every partition has probed, from a bitmap of visited rows shared by the partitions of one
//! process; where partitions run in several processes (a distributed engine) each process
//! has its own bitmap and would emit those rows from its partitions' matches alone.

use super::rewrite_each;
use datafusion::common::{JoinType, Result};
use datafusion::config::ConfigOptions;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::joins::{HashJoinExec, PartitionMode};
use std::sync::Arc;

/// Turns partitioned hash joins whose type allows it into joins that collect their left side.
#[derive(Debug, Default)]
pub struct CollectBuildSide;

/// True when a join of type `t` gives the same rows with its left side collected, wherever
/// its partitions run: its output depends on each right row alone (DataFusion emits nothing
/// from the build side at the end for these types: `need_produce_result_in_final`).
pub fn collects_correctly(t: JoinType) -> bool {
    match t {
        JoinType::Inner
        | JoinType::Right
        | JoinType::RightSemi
        | JoinType::RightAnti
        | JoinType::RightMark => true,
        JoinType::Left
        | JoinType::LeftAnti
        | JoinType::LeftSemi
        | JoinType::LeftMark
        | JoinType::Full => false,
    }
}

impl PhysicalOptimizerRule for CollectBuildSide {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        rewrite_each(plan, |join: &HashJoinExec| {
            if *join.partition_mode() != PartitionMode::Partitioned
                || !collects_correctly(*join.join_type())
            {
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
        super::Rule::CollectBuildSide.name()
    }

    fn schema_check(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::common::NullEquality;
    use datafusion::physical_expr::expressions::col;
    use datafusion::physical_plan::empty::EmptyExec;

    fn join(mode: PartitionMode, join_type: JoinType) -> Arc<dyn ExecutionPlan> {
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
            &join_type,
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

    fn rewritten(mode_in: PartitionMode, join_type: JoinType) -> PartitionMode {
        let out = CollectBuildSide
            .optimize(join(mode_in, join_type), &ConfigOptions::default())
            .unwrap();
        mode(&out)
    }

    #[test]
    fn partitioned_joins_collect_their_left_side() {
        for t in [JoinType::RightSemi, JoinType::Inner] {
            assert_eq!(
                rewritten(PartitionMode::Partitioned, t),
                PartitionMode::CollectLeft
            );
        }
        assert_eq!(
            rewritten(PartitionMode::Auto, JoinType::RightSemi),
            PartitionMode::Auto
        );
    }

    #[test]
    fn joins_that_emit_build_side_rows_stay_partitioned() {
        for t in [
            JoinType::Left,
            JoinType::Full,
            JoinType::LeftSemi,
            JoinType::LeftAnti,
            JoinType::LeftMark,
        ] {
            assert_eq!(
                rewritten(PartitionMode::Partitioned, t),
                PartitionMode::Partitioned,
                "{t}"
            );
        }
    }
}
