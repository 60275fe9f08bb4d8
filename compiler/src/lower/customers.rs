//! Customers joined to the aggregation by customer, only where needed: for attributes, and
//! for customers without purchases when they can be members (a full join, leaving out
//! customers not yet signed up). Duplicate customer ids are merged, each attribute its
//! largest value among the customer's rows.

use super::exprs::{date_lit, qcol, qual};
use crate::builder::PlanBuilder;
use crate::catalog::Catalog;
use crate::ir::*;
use datafusion::common::Result;
use datafusion::functions::expr_fn::coalesce;
use datafusion::functions_aggregate::expr_fn::max;
use datafusion::logical_expr::{Expr, JoinType, LogicalPlan, ident};

/// The customers' signup date, joined to leave out customers not yet known as of the date.
pub(super) const SIGNUP: &str = "__signup";

/// The aggregation by customer, joined with customers where needed.
pub(super) struct WithCustomers {
    /// The plan so far.
    pub(super) builder: PlanBuilder,
    /// The customer's id.
    pub(super) id: Expr,
    /// The relation attributes are read from: the customers table, or the joined rows
    /// themselves when the merge of duplicate ids follows the join.
    pub(super) attributes: &'static str,
    /// True when the aggregation's columns are qualified (after a join).
    joined: bool,
}

impl WithCustomers {
    /// The aggregation's column `name`.
    pub(super) fn aggregate(&self, name: &str) -> Expr {
        if self.joined {
            qual("p", name)
        } else {
            ident(name)
        }
    }
}

/// Joins customers to `aggregated` where `values` read attributes (a left join), or where
/// customers without purchases can be members (`full_base`: a full join).
pub(super) fn join_customers(
    catalog: &Catalog,
    aggregated: &LogicalPlan,
    values: &[Value],
    full_base: bool,
) -> Result<WithCustomers> {
    let attrs: Vec<&String> = values
        .iter()
        .filter_map(|v| match v {
            Value::Attribute(a) => Some(a),
            _ => None,
        })
        .collect();
    // Asked for only when needed: an unread customers table is then read.
    let join = if full_base {
        catalog.customers().map(|c| (c, JoinType::Full))
    } else if !attrs.is_empty() {
        catalog.customers().map(|c| (c, JoinType::Left))
    } else {
        None
    };
    let Some((merged_table, jt)) = join else {
        return Ok(WithCustomers {
            builder: PlanBuilder::from(aggregated.clone()),
            id: ident("customer_id"),
            attributes: "c",
            joined: false,
        });
    };
    let p = |name: &str| qual("p", name);
    // With a left join, the customers' rows are joined before their duplicate ids are merged,
    // so that only the aggregation's customers are merged (a selective segment's few
    // thousand, not the whole table): the join, then one group per customer, each attribute
    // its largest value among the customer's rows as in the merged table.
    let rows = catalog.customer_rows().filter(|_| jt == JoinType::Left);
    let mut ccols = vec![ident("customer_id")];
    ccols.extend(attrs.iter().map(|a| ident(a.as_str())));
    // The whole base holds the customers known as of the date: a customer without a purchase
    // who signed up after it is not one yet.
    let signup = jt == JoinType::Full
        && merged_table
            .schema()
            .field_with_unqualified_name("signup_date")
            .is_ok();
    if signup {
        ccols.push(ident("signup_date").alias(SIGNUP));
    }
    let cust = PlanBuilder::from(rows.unwrap_or(merged_table).clone())
        .project(ccols)?
        .alias("c")?
        .build()?;
    let c_col = |name: &str| qual("c", name);
    let mut b = PlanBuilder::from(aggregated.clone()).alias("p")?.join(
        cust,
        jt,
        (
            vec![qcol("p", "customer_id")],
            vec![qcol("c", "customer_id")],
        ),
    )?;
    if signup {
        let known = qual("c", SIGNUP);
        b = b.filter(
            qual("p", "customer_id")
                .is_not_null()
                .or(known.clone().is_null())
                .or(known.lt_eq(date_lit(catalog.as_of))),
        )?;
    }
    let mut attributes = "c";
    if rows.is_some() {
        let group = aggregated.schema().fields().iter().map(|f| p(f.name()));
        let merged = attrs.iter().map(|a| max(c_col(a)).alias(a.as_str()));
        b = b.aggregate(group, merged)?.alias("p")?;
        attributes = "p";
    }
    let id = if jt == JoinType::Full {
        coalesce(vec![p("customer_id"), c_col("customer_id")])
    } else {
        p("customer_id")
    };
    Ok(WithCustomers {
        builder: b,
        id,
        attributes,
        joined: true,
    })
}
