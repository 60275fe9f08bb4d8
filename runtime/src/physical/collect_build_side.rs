//! The rule `segql_collect_build_side`: hash joins collect their build (left) side.
//!
//! Every join segql emits has a per-customer left side (the customers who can be members,
//! the per-customer profile, customers' attributes) and, before the aggregation, millions of
//! transaction lines on the right. DataFusion cannot size the left side of a CSV table or of
//! an aggregation, so it repartitions both sides by key; repartitioning the lines cost more
//! than the join itself (`bench/RESULTS.md`). Collected, the left side is built into one
//! hash table that every partition of the right side probes where it is.
//!
//! Guard ([`collects_correctly`]): a join that also emits build-side rows (unmatched, or
//! matched once: `Left`, `LeftAnti`, `LeftSemi`, `LeftMark`, `Full`) emits them after every
//! partition has probed, from a bitmap of visited rows that the partitions of one process
//! share. So in one process every join type is rewritten; where partitions run in several
//! processes (a distributed engine) each would have its own bitmap and emit those rows from
//! its partitions' matches alone, so there only the joins whose output is decided row by
//! row of the right side are (`Inner`, `Right`, `RightSemi`, `RightAnti`, `RightMark`).

use super::rewrite_each;
use datafusion::common::{JoinType, Result};
use datafusion::config::ConfigOptions;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::joins::{HashJoinExec, PartitionMode};
use std::sync::Arc;

/// Turns partitioned hash joins whose type allows it into joins that collect their left side.
#[derive(Debug, Default)]
pub struct CollectBuildSide {
    /// The plan's partitions may run in several processes: only join types whose output
    /// depends on each right row alone are rewritten.
    pub distributed: bool,
}

/// True when a join of type `t` gives the same rows with its left side collected: always in
/// one process; across processes only when its output depends on each right row alone
/// (DataFusion emits nothing from the build side at the end for these types:
/// `need_produce_result_in_final`).
pub fn collects_correctly(t: JoinType, distributed: bool) -> bool {
    if !distributed {
        return true;
    }
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
                || !collects_correctly(*join.join_type(), self.distributed)
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

    fn rewritten(mode_in: PartitionMode, join_type: JoinType, distributed: bool) -> PartitionMode {
        let out = CollectBuildSide { distributed }
            .optimize(join(mode_in, join_type), &ConfigOptions::default())
            .unwrap();
        mode(&out)
    }

    const EMITS_BUILD_ROWS: [JoinType; 5] = [
        JoinType::Left,
        JoinType::Full,
        JoinType::LeftSemi,
        JoinType::LeftAnti,
        JoinType::LeftMark,
    ];

    #[test]
    fn partitioned_joins_collect_their_left_side() {
        for distributed in [false, true] {
            for t in [JoinType::RightSemi, JoinType::Inner, JoinType::Right] {
                assert_eq!(
                    rewritten(PartitionMode::Partitioned, t, distributed),
                    PartitionMode::CollectLeft
                );
            }
            assert_eq!(
                rewritten(PartitionMode::Auto, JoinType::RightSemi, distributed),
                PartitionMode::Auto
            );
        }
    }

    #[test]
    fn in_one_process_joins_that_emit_build_side_rows_collect_too() {
        for t in EMITS_BUILD_ROWS {
            assert_eq!(
                rewritten(PartitionMode::Partitioned, t, false),
                PartitionMode::CollectLeft,
                "{t}"
            );
        }
    }

    #[test]
    fn across_processes_joins_that_emit_build_side_rows_stay_partitioned() {
        for t in EMITS_BUILD_ROWS {
            assert_eq!(
                rewritten(PartitionMode::Partitioned, t, true),
                PartitionMode::Partitioned,
                "{t}"
            );
        }
    }
}
