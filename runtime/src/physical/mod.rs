//! segql's physical rules: the list an engine is configured with ([`RuleSet`], from
//! [`crate::EngineOptions`]), each rule with a name, a switch and a guard of its own, and the
//! plan walk they share (`rewrite_each`).
//!
//! Three are DataFusion physical optimizer rules ([`collect_build_side`], [`roll_up`],
//! [`collapse_runs`]); [`read_once`] rewrites the optimized logical plan before planning. A
//! [`RuleSet::portable`] set has none of them: its plans hold DataFusion's own nodes and
//! segql's UDFs only, for engines that run DataFusion plans elsewhere.

pub mod collapse_runs;
pub mod collect_build_side;
pub mod read_once;
pub mod roll_up;

use crate::error::RuntimeError;
use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use std::sync::Arc;

/// The names of the plan nodes of segql's own, which its rules put in physical plans
/// ([`collapse_runs::CollapseRunsExec`], the read-once copy of [`read_once`]); the other
/// rules rearrange DataFusion's nodes.
pub const SEGQL_NODES: [&str; 2] = ["CollapseRunsExec", "ReadOnceExec"];

/// One of segql's physical rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// Partitioned hash joins collect their left side ([`collect_build_side`]).
    CollectBuildSide,
    /// The receipt roll-up hashes lines by customer once ([`roll_up`]).
    RollUpByCustomer,
    /// Partial aggregations over runs of equal keys ([`collapse_runs`]).
    CollapseRuns,
    /// CSV tables scanned more than once are read once into memory ([`read_once`]).
    ReadOnce,
}

impl Rule {
    /// Every rule, in the order they apply.
    pub const ALL: [Rule; 4] = [
        Rule::CollectBuildSide,
        Rule::RollUpByCustomer,
        Rule::CollapseRuns,
        Rule::ReadOnce,
    ];

    /// The rule's name, as DataFusion's optimizer and its plans show it.
    pub fn name(self) -> &'static str {
        match self {
            Rule::CollectBuildSide => "segql_collect_build_side",
            Rule::RollUpByCustomer => "segql_roll_up_by_customer",
            Rule::CollapseRuns => "segql_collapse_runs",
            Rule::ReadOnce => "segql_read_once",
        }
    }

    /// The rule named `name`, with or without the `segql_` prefix; an unknown name is a
    /// usage error that lists the known ones.
    pub fn named(name: &str) -> Result<Rule, RuntimeError> {
        let wanted = name.trim();
        let short = |r: Rule| &r.name()["segql_".len()..];
        Rule::ALL
            .into_iter()
            .find(|r| r.name() == wanted || short(*r) == wanted)
            .ok_or_else(|| RuntimeError::Usage {
                message: format!("no physical rule `{name}`"),
                help: Some(format!(
                    "segql's physical rules: {}",
                    Rule::ALL.map(short).join(", ")
                )),
            })
    }
}

/// Which of segql's rules an engine applies, and whether its plans may run in several
/// processes (each rule's guard then keeps it to what is correct there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSet {
    on: Vec<Rule>,
    distributed: bool,
}

impl Default for RuleSet {
    fn default() -> Self {
        RuleSet::all()
    }
}

impl RuleSet {
    /// Every rule on.
    pub fn all() -> RuleSet {
        RuleSet {
            on: Rule::ALL.to_vec(),
            distributed: false,
        }
    }

    /// No rule on: plans of DataFusion's own nodes (and segql's UDFs) only.
    pub fn portable() -> RuleSet {
        RuleSet {
            on: Vec::new(),
            distributed: false,
        }
    }

    /// The set an engine's options ask for: none when `portable`, else all but those named
    /// in `disabled` (see [`Rule::named`]).
    pub fn from_options(disabled: &[String], portable: bool) -> Result<RuleSet, RuntimeError> {
        let mut set = if portable {
            RuleSet::portable()
        } else {
            RuleSet::all()
        };
        for name in disabled {
            set = set.without(Rule::named(name)?);
        }
        Ok(set)
    }

    /// This set for plans whose partitions may run in several processes: each rule applies
    /// only where it is correct there (see [`collect_build_side::collects_correctly`]).
    pub fn distributed(mut self) -> RuleSet {
        self.distributed = true;
        self
    }

    /// This set with `rule` off.
    pub fn without(mut self, rule: Rule) -> RuleSet {
        self.on.retain(|r| *r != rule);
        self
    }

    /// True when no rule is on: plans of DataFusion's own nodes and segql's UDFs only.
    pub fn is_portable(&self) -> bool {
        self.on.is_empty()
    }

    /// True when `rule` is on.
    pub fn is_on(&self, rule: Rule) -> bool {
        self.on.contains(&rule)
    }

    /// DataFusion's physical optimizer rules with the set's own:
    /// [`collect_build_side::CollectBuildSide`] right after DataFusion's join selection
    /// (which picks each join's mode), before distribution requirements are enforced; the
    /// roll-up, then the collapsing of runs, at the end, on the plan as DataFusion's rules
    /// leave it (the roll-up's aggregations are final by then).
    pub fn optimizer_rules(&self) -> Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> {
        let mut rules = datafusion::physical_optimizer::optimizer::PhysicalOptimizer::new().rules;
        if self.is_on(Rule::CollectBuildSide) {
            let at = rules
                .iter()
                .position(|r| r.name() == "join_selection")
                .map_or(0, |i| i + 1);
            let rule = collect_build_side::CollectBuildSide {
                distributed: self.distributed,
            };
            rules.insert(at, Arc::new(rule));
        }
        if self.is_on(Rule::RollUpByCustomer) {
            rules.push(Arc::new(roll_up::RollUpByCustomer));
        }
        if self.is_on(Rule::CollapseRuns) {
            rules.push(Arc::new(collapse_runs::CollapseRuns));
        }
        rules
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

#[cfg(test)]
mod tests {
    use super::*;

    fn names(set: &RuleSet) -> Vec<String> {
        set.optimizer_rules()
            .iter()
            .map(|r| r.name().to_string())
            .collect()
    }

    fn segql_names(set: &RuleSet) -> Vec<String> {
        names(set)
            .into_iter()
            .filter(|n| n.starts_with("segql_"))
            .collect()
    }

    #[test]
    fn the_join_rule_follows_join_selection_and_the_others_come_last() {
        let names = names(&RuleSet::all());
        let at = names.iter().position(|n| n == "join_selection").unwrap();
        assert_eq!(names[at + 1], "segql_collect_build_side");
        let last: Vec<&str> = names[names.len() - 2..]
            .iter()
            .map(String::as_str)
            .collect();
        assert_eq!(last, ["segql_roll_up_by_customer", "segql_collapse_runs"]);
    }

    #[test]
    fn rules_are_disabled_by_name_with_or_without_the_prefix() {
        let disabled = [
            "collect_build_side".to_string(),
            "segql_collapse_runs".into(),
        ];
        let set = RuleSet::from_options(&disabled, false).unwrap();
        assert_eq!(segql_names(&set), ["segql_roll_up_by_customer"]);
        assert!(set.is_on(Rule::ReadOnce));
        assert!(!set.is_on(Rule::CollectBuildSide));
        let set = RuleSet::from_options(&["read_once".into()], false).unwrap();
        assert!(!set.is_on(Rule::ReadOnce));
        assert_eq!(segql_names(&set).len(), 3);
    }

    #[test]
    fn an_unknown_rule_name_is_a_usage_error_naming_the_known_ones() {
        let err = RuleSet::from_options(&["collect_build".into()], false).unwrap_err();
        let RuntimeError::Usage { message, help } = err else {
            panic!("not a usage error: {err:?}")
        };
        assert!(message.contains("collect_build"), "{message}");
        let help = help.unwrap();
        for r in Rule::ALL {
            assert!(help.contains(&r.name()["segql_".len()..]), "{help}");
        }
    }

    #[test]
    fn a_portable_set_has_no_segql_rule() {
        let set = RuleSet::from_options(&[], true).unwrap();
        assert!(segql_names(&set).is_empty());
        assert!(set.is_portable() && Rule::ALL.iter().all(|r| !set.is_on(*r)));
        assert!(!RuleSet::all().is_portable());
        let datafusion: Vec<String> =
            datafusion::physical_optimizer::optimizer::PhysicalOptimizer::new()
                .rules
                .iter()
                .map(|r| r.name().to_string())
                .collect();
        assert_eq!(names(&set), datafusion);
    }
}
