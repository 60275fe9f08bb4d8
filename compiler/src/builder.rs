//! A thin plan builder: DataFusion's `LogicalPlanBuilder` without its walk of the whole input
//! plan for every column reference.
//!
//! `LogicalPlanBuilder` normalises each column reference (qualifies it with its table)
//! against the input's schema and against the `USING` join columns of the whole input plan,
//! which it collects anew, expressions included, for every column. A 20-condition segment
//! has hundreds of column references over a plan of dozens of nodes: that walk was about
//! 70% of its compile time. segql never builds `USING` joins, so here columns are
//! normalised against the schemas alone, once per expression; joins, aliases and sorts are
//! `LogicalPlanBuilder`'s own.

use datafusion::common::{Column, DFSchemaRef, Result};
use datafusion::logical_expr::expr_rewriter::normalize_col_with_schemas_and_ambiguity_check;
use datafusion::logical_expr::{
    Aggregate, Expr, Filter, JoinType, LogicalPlan, LogicalPlanBuilder, Projection, SortExpr,
    Window,
};
use std::sync::Arc;

/// Builds a logical plan node by node (see the module documentation).
#[derive(Debug, Clone)]
pub struct PlanBuilder {
    plan: LogicalPlan,
}

impl From<LogicalPlan> for PlanBuilder {
    fn from(plan: LogicalPlan) -> Self {
        PlanBuilder { plan }
    }
}

impl PlanBuilder {
    /// The output schema of the plan built so far.
    pub fn schema(&self) -> &DFSchemaRef {
        self.plan.schema()
    }

    /// The plan built so far.
    pub fn build(self) -> Result<LogicalPlan> {
        Ok(self.plan)
    }

    /// Rows for which `predicate` is true.
    pub fn filter(self, predicate: Expr) -> Result<Self> {
        let predicate = self.normalize(predicate)?;
        let node = Filter::try_new(predicate, Arc::new(self.plan))?;
        Ok(LogicalPlan::Filter(node).into())
    }

    /// The given expressions, each named by its alias or its display.
    pub fn project(self, exprs: impl IntoIterator<Item = Expr>) -> Result<Self> {
        let exprs = self.normalize_all(exprs)?;
        let node = Projection::try_new(exprs, Arc::new(self.plan))?;
        Ok(LogicalPlan::Projection(node).into())
    }

    /// One row per distinct value of `group`, with the aggregates `aggs`.
    pub fn aggregate(
        self,
        group: impl IntoIterator<Item = Expr>,
        aggs: impl IntoIterator<Item = Expr>,
    ) -> Result<Self> {
        let group = self.normalize_all(group)?;
        let aggs = self.normalize_all(aggs)?;
        let node = Aggregate::try_new(Arc::new(self.plan), group, aggs)?;
        Ok(LogicalPlan::Aggregate(node).into())
    }

    /// The input with one column per window function appended.
    pub fn window(self, exprs: impl IntoIterator<Item = Expr>) -> Result<Self> {
        let exprs = self.normalize_all(exprs)?;
        let node = Window::try_new(exprs, Arc::new(self.plan))?;
        Ok(LogicalPlan::Window(node).into())
    }

    /// The plan under the table name `name` (a subquery alias).
    pub fn alias(self, name: &str) -> Result<Self> {
        self.with_builder(|b| b.alias(name))
    }

    /// An equi-join with `right` on pairs of key columns.
    pub fn join(
        self,
        right: LogicalPlan,
        join_type: JoinType,
        keys: (Vec<Column>, Vec<Column>),
    ) -> Result<Self> {
        self.with_builder(|b| b.join(right, join_type, keys, None))
    }

    /// Rows in the order of `exprs`.
    pub fn sort(self, exprs: Vec<SortExpr>) -> Result<Self> {
        self.with_builder(|b| b.sort(exprs))
    }

    /// The first `fetch` rows in the order of `exprs` (all of them with `None`).
    pub fn sort_with_limit(self, exprs: Vec<SortExpr>, fetch: Option<usize>) -> Result<Self> {
        self.with_builder(|b| b.sort_with_limit(exprs, fetch))
    }

    fn with_builder(
        self,
        f: impl FnOnce(LogicalPlanBuilder) -> Result<LogicalPlanBuilder>,
    ) -> Result<Self> {
        Ok(f(LogicalPlanBuilder::from(self.plan))?.build()?.into())
    }

    fn normalize_all(&self, exprs: impl IntoIterator<Item = Expr>) -> Result<Vec<Expr>> {
        exprs.into_iter().map(|e| self.normalize(e)).collect()
    }

    /// Qualifies the column references of `expr` as `LogicalPlanBuilder` does, against the
    /// plan's schema and then its inputs' schemas, with no `USING` columns.
    fn normalize(&self, expr: Expr) -> Result<Expr> {
        let schema = self.plan.schema();
        let fallback = self.plan.fallback_normalize_schemas();
        normalize_col_with_schemas_and_ambiguity_check(expr, &[&[schema], &fallback], &[])
    }
}
