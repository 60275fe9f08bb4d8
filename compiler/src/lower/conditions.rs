//! A predicate as a boolean expression over the per-customer table's columns: a column
//! (never NULL) or a filter (NULL as false).

use super::exprs::{const_expr, upcoming_keys};
use super::per_customer::PerCustomer;
use crate::ir::*;
use datafusion::arrow::datatypes::DataType;
use datafusion::functions::expr_fn::coalesce;
use datafusion::logical_expr::{Expr, cast, ident, lit};
use segql_grammar::ast::CmpOp;

/// Whether a condition's expression must be true or false, or may also be NULL for false.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Truth {
    /// Never NULL: the condition is a column, or sits under `not`.
    Definite,
    /// NULL counts as false: the condition is (part of) a filter, outside `not`.
    NullIsFalse,
}

/// `e`, made false where it is NULL when the truth must be definite.
fn definite(e: Expr, truth: Truth) -> Expr {
    match truth {
        // `coalesce(e, false)` rather than `e IS TRUE`: the same truth, and DataFusion agrees
        // on its nullability between logical and physical plans.
        Truth::Definite => coalesce(vec![e, lit(false)]),
        Truth::NullIsFalse => e,
    }
}

impl PerCustomer {
    /// The predicate as a boolean expression over the table's columns; never NULL.
    pub fn condition(&self, p: &Pred) -> Expr {
        self.expr(p, Truth::Definite)
    }

    /// The predicate as a filter: true for the rows kept, false or NULL for the others.
    ///
    /// A filter drops a row where its predicate is NULL as where it is false, and `and` and
    /// `or` keep that equivalence, so outside `not` a comparison on a value that can be
    /// missing needs no `coalesce(_, false)`. Without it, DataFusion no longer evaluates each
    /// such comparison twice (`e IS NOT NULL AND e`, its simplification of the coalesce).
    pub fn filter_condition(&self, p: &Pred) -> Expr {
        self.expr(p, Truth::NullIsFalse)
    }

    fn expr(&self, p: &Pred, truth: Truth) -> Expr {
        match p {
            Pred::And(ps) => ps
                .iter()
                .map(|p| self.expr(p, truth))
                .reduce(Expr::and)
                .unwrap_or(lit(true)),
            Pred::Or(ps) => ps
                .iter()
                .map(|p| self.expr(p, truth))
                .reduce(Expr::or)
                .unwrap_or(lit(false)),
            Pred::Not(p) => !self.expr(p, Truth::Definite),
            Pred::Cmp { value, op, rhs, .. } => {
                let l = ident(&self.names[value]);
                let r = const_expr(rhs);
                let e = match op {
                    CmpOp::Lt => l.lt(r),
                    CmpOp::Le => l.lt_eq(r),
                    CmpOp::Gt => l.gt(r),
                    CmpOp::Ge => l.gt_eq(r),
                    CmpOp::Eq => l.eq(r),
                    CmpOp::Ne => l.not_eq(r),
                };
                not_null(value, e, truth)
            }
            Pred::In {
                value,
                negated,
                list,
                ..
            } => {
                let l = ident(&self.names[value]);
                let e = l.in_list(list.iter().map(const_expr).collect(), *negated);
                // DataFusion 55 merges `x NOT IN (a) OR x NOT IN (b)` into `x NOT IN ()`, true
                // even where x is NULL: a negated list keeps its guard against NULL.
                let truth = if *negated { Truth::Definite } else { truth };
                not_null(value, e, truth)
            }
            Pred::Top { metric, n } => {
                let rank = ident(&self.names[&Value::TopRank(metric.clone())]);
                let e = match n {
                    TopN::Count(c) => rank.lt_eq(lit(i64::try_from(*c).unwrap_or(i64::MAX))),
                    TopN::Basis(bp) => {
                        let active = ident(&self.names[&Value::Population(metric.clone())]);
                        // rank <= ceil(bp / 10000 * active), in integers.
                        (active * lit(*bp as i64)).gt((rank - lit(1i64)) * lit(10_000i64))
                    }
                };
                definite(e, truth)
            }
            Pred::TopScore { score, n } => {
                let rank = ident(&self.names[&Value::Score(score.with(ScorePart::Rank))]);
                let e = match n {
                    TopN::Count(c) => rank.lt_eq(lit(i64::try_from(*c).unwrap_or(i64::MAX))),
                    TopN::Basis(bp) => {
                        let active =
                            ident(&self.names[&Value::Score(score.with(ScorePart::Population))]);
                        (active * lit(*bp as i64)).gt((rank - lit(1i64)) * lit(10_000i64))
                    }
                };
                definite(e, truth)
            }
            Pred::Upcoming { attribute, days } => {
                let col = ident(&self.names[&Value::Attribute(attribute.clone())]);
                let part = |p: &str| {
                    cast(
                        datafusion::functions::expr_fn::date_part(lit(p), col.clone()),
                        DataType::Int64,
                    )
                };
                let key = part("month") * lit(100i64) + part("day");
                let keys = upcoming_keys(self.as_of, *days)
                    .into_iter()
                    .map(|k| lit(k as i64))
                    .collect();
                definite(key.in_list(keys, false), truth)
            }
            Pred::Between {
                value,
                negated,
                low,
                high,
                ..
            } => {
                let l = ident(&self.names[value]);
                let e = if *negated {
                    l.not_between(const_expr(low), const_expr(high))
                } else {
                    l.between(const_expr(low), const_expr(high))
                };
                not_null(value, e, truth)
            }
        }
    }
}

/// Conditions on values that can be missing are false where the value is missing.
fn not_null(v: &Value, e: Expr, truth: Truth) -> Expr {
    let nullable = match v {
        Value::Rfm(_)
        | Value::Abc(_)
        | Value::Percentile(_)
        | Value::TopRank(_)
        | Value::Population(_) => true,
        Value::Metric(m) | Value::SinceFirst(m) => m.kind.nullable(),
        Value::Attribute(_) => true,
        // A score's rank is missing without a purchase; its value never is.
        Value::Score(s) => s.part != ScorePart::Value,
        Value::Lifecycle(_)
        | Value::Campaign(_)
        | Value::PastCampaigns(_)
        | Value::Cluster(_)
        | Value::Lookalike(_) => false,
    };
    if nullable { definite(e, truth) } else { e }
}
