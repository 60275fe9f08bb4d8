//! Three-valued truth of a predicate for a customer the plan decides about before reading
//! any data: one without purchases (must the query see the whole customer base? see
//! [`super::needs_full_base`]) and one without a customers row (can the customers table name
//! every member? see [`super::ScanHints`]).
//!
//! One evaluator, [`eval`]: Kleene's logic over the leaves, each leaf decided by what its
//! value is for such a customer (unknown, missing, zero, a text). Production code only: the
//! oracle ([`crate::reference`]) keeps its own, independent semantics.

use super::exprs::number_scalar;
use crate::ir::*;
use datafusion::common::ScalarValue;
use segql_grammar::ast::CmpOp;
use std::cmp::Ordering;

/// Three-valued truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tri {
    True,
    False,
    Unknown,
}

impl Tri {
    fn of(b: bool) -> Tri {
        if b { Tri::True } else { Tri::False }
    }

    fn and(self, o: Tri) -> Tri {
        match (self, o) {
            (Tri::False, _) | (_, Tri::False) => Tri::False,
            (Tri::Unknown, _) | (_, Tri::Unknown) => Tri::Unknown,
            _ => Tri::True,
        }
    }

    fn or(self, o: Tri) -> Tri {
        match (self, o) {
            (Tri::True, _) | (_, Tri::True) => Tri::True,
            (Tri::Unknown, _) | (_, Tri::Unknown) => Tri::Unknown,
            _ => Tri::False,
        }
    }

    fn not(self) -> Tri {
        match self {
            Tri::True => Tri::False,
            Tri::False => Tri::True,
            Tri::Unknown => Tri::Unknown,
        }
    }
}

/// A value as known for the customer in question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    /// Anything: the customer's data decides.
    Unknown,
    /// NULL: every condition on it is false.
    Missing,
    /// A count or sum over no purchases.
    Zero,
    /// A fixed text (the lifecycle stage of a customer without purchases).
    Text(&'static str),
}

/// The truth of `p` for a customer whose values are as `value` tells.
fn eval(p: &Pred, value: &dyn Fn(&Value) -> Known) -> Tri {
    let leaf = |v: &Value, holds: &dyn Fn(Known) -> bool| match value(v) {
        Known::Unknown => Tri::Unknown,
        known => Tri::of(holds(known)),
    };
    match p {
        Pred::And(ps) => ps.iter().fold(Tri::True, |acc, p| acc.and(eval(p, value))),
        Pred::Or(ps) => ps.iter().fold(Tri::False, |acc, p| acc.or(eval(p, value))),
        Pred::Not(p) => eval(p, value).not(),
        // A missing rank or birthday is in no top and has no upcoming day; a known one
        // depends on the data.
        Pred::Top { metric, .. } => match value(&Value::TopRank(metric.clone())) {
            Known::Missing => Tri::False,
            _ => Tri::Unknown,
        },
        Pred::Upcoming { attribute, .. } => match value(&Value::Attribute(attribute.clone())) {
            Known::Missing => Tri::False,
            _ => Tri::Unknown,
        },
        Pred::Cmp {
            value: v, op, rhs, ..
        } => leaf(v, &|k| match compare(k, rhs) {
            None => false,
            Some(o) => match op {
                CmpOp::Lt => o == Ordering::Less,
                CmpOp::Le => o != Ordering::Greater,
                CmpOp::Gt => o == Ordering::Greater,
                CmpOp::Ge => o != Ordering::Less,
                CmpOp::Eq => o == Ordering::Equal,
                CmpOp::Ne => o != Ordering::Equal,
            },
        }),
        Pred::In {
            value: v,
            negated,
            list,
            ..
        } => leaf(v, &|k| {
            k != Known::Missing
                && list.iter().any(|c| compare(k, c) == Some(Ordering::Equal)) != *negated
        }),
        Pred::Between {
            value: v,
            negated,
            low,
            high,
            ..
        } => leaf(v, &|k| match (compare(k, low), compare(k, high)) {
            (Some(a), Some(b)) => (a != Ordering::Less && b != Ordering::Greater) != *negated,
            _ => false,
        }),
    }
}

/// How a known value compares with a constant; `None` when it cannot (a missing value, other
/// types, a number not held exactly).
fn compare(k: Known, c: &Const) -> Option<Ordering> {
    match (k, c) {
        (Known::Zero, Const::Days(d)) => Some(0.cmp(d)),
        (Known::Zero, Const::Number(n)) => match number_scalar(n) {
            ScalarValue::Int64(Some(i)) => Some(0.cmp(&i)),
            ScalarValue::Decimal128(Some(i), ..) => Some(0.cmp(&i)),
            _ => None,
        },
        (Known::Text(t), Const::Text(c)) => Some(t.cmp(c.as_str())),
        (Known::Text(t), Const::Stage(s)) => Some(t.cmp(s.name())),
        _ => None,
    }
}

/// Could a customer without any purchase satisfy `p`? Their attributes and messages are
/// unknown; every other value is a count or sum of nothing (zero), a missing date or rank, or
/// the `prospect` stage.
pub(crate) fn without_purchases(p: &Pred) -> Tri {
    eval(p, &|v| match v {
        Value::Attribute(_)
        | Value::Metric(Metric {
            kind: MetricKind::Contacts { .. },
            ..
        }) => Known::Unknown,
        Value::Metric(m) | Value::SinceFirst(m) => {
            if m.kind.nullable() {
                Known::Missing
            } else {
                Known::Zero
            }
        }
        Value::Lifecycle(_) => Known::Text(Stage::Prospect.name()),
        Value::Rfm(_)
        | Value::Abc(_)
        | Value::Percentile(_)
        | Value::TopRank(_)
        | Value::Population(_) => Known::Missing,
    })
}

/// Could a customer without a customers row satisfy `p`? Their attributes are missing; every
/// other value is unknown.
pub(crate) fn without_customer_row(p: &Pred) -> Tri {
    eval(p, &|v| match v {
        Value::Attribute(_) => Known::Missing,
        _ => Known::Unknown,
    })
}
