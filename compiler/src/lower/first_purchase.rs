//! Windows from the first purchase (`within 30d of first_purchase`): the customer's first
//! purchase at each partner scope as a column of every scanned line, one window function
//! over the customer's lines, which the aggregates' line filters compare with.

use super::aggregates::Agg;
use super::exprs::one_of;
use crate::builder::PlanBuilder;
use datafusion::common::Result;
use datafusion::functions_aggregate::min_max::min_udaf;
use datafusion::logical_expr::expr::WindowFunction;
use datafusion::logical_expr::{Expr, ExprFunctionExt, WindowFunctionDefinition, ident, when};
use segql_grammar::ast::Dimension;

/// The partner scopes whose first purchase the aggregates need, as sets: `at ("A", "A")` and
/// `at "A"` share one window function (DataFusion simplifies both to one expression, and then
/// fails to plan the node).
pub(super) struct Anchors(Vec<Vec<String>>);

fn as_set(scope: &[String]) -> Vec<String> {
    let mut set = scope.to_vec();
    set.sort();
    set.dedup();
    set
}

impl Anchors {
    /// The scopes of the aggregates' windows from the first purchase, in order of first use.
    pub(super) fn of(aggs: &[Agg]) -> Anchors {
        let mut anchors: Vec<Vec<String>> = Vec::new();
        for a in aggs {
            if let Some(scope) = &a.from_first
                && !anchors.contains(&as_set(scope))
            {
                anchors.push(as_set(scope));
            }
        }
        Anchors(anchors)
    }

    /// The column holding the first purchase at `scope`'s partners.
    pub(super) fn column(&self, scope: &[String]) -> String {
        let set = as_set(scope);
        let i = self
            .0
            .iter()
            .position(|x| *x == set)
            .expect("anchor planned");
        format!("__first_purchase{i}")
    }

    /// The first purchase (at each scope) on every line of its customer: one window node,
    /// partitioned by customer, before any aggregation. The lines unchanged without scopes.
    pub(super) fn add_to(&self, lines: PlanBuilder) -> Result<PlanBuilder> {
        if self.0.is_empty() {
            return Ok(lines);
        }
        let ts = ident("ts");
        let firsts = self
            .0
            .iter()
            .map(|scope| {
                let at = if scope.is_empty() {
                    ts.clone()
                } else {
                    when(one_of(Dimension::Partner, scope), ts.clone()).end()?
                };
                Expr::from(WindowFunction::new(
                    WindowFunctionDefinition::AggregateUDF(min_udaf()),
                    vec![at],
                ))
                .partition_by(vec![ident("customer_id")])
                .build()
            })
            .collect::<Result<Vec<_>>>()?;
        let b = lines.window(firsts)?;
        let columns = b.schema().columns();
        let n = columns.len() - self.0.len();
        let cols = columns.into_iter().enumerate().map(|(i, c)| {
            if i < n {
                Expr::Column(c)
            } else {
                Expr::Column(c).alias(self.column(&self.0[i - n]))
            }
        });
        b.project(cols)
    }
}
