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
        Pred::TopScore { score, .. } => match value(&Value::Score(score.with(ScorePart::Rank))) {
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
        | Value::Campaign(_)
        | Value::PastCampaigns(_)
        | Value::Cluster(_)
        | Value::Score(ScoreRef {
            part: ScorePart::Value,
            ..
        })
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
        | Value::Population(_)
        | Value::Score(_) => Known::Missing,
        // Look-alikes hold customers with purchases only.
        Value::Lookalike(_) => Known::Missing,
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

#[cfg(test)]
mod tests {
    //! The evaluator against the oracle: wherever it claims a truth, the reference evaluator
    //! finds the same for such a customer.

    use super::*;
    use crate::catalog::Ranking;
    use crate::reference::{self, Attr, Data, Dec, Tx};
    use chrono::NaiveDate;
    use segql_grammar::ast::Dimension;
    use std::collections::{BTreeMap, HashMap};

    fn as_of() -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 6, 30).expect("a date")
    }

    fn metric(kind: MetricKind, window: Option<u64>) -> Metric {
        Metric {
            kind,
            window,
            scope: vec![],
        }
    }

    /// Comparisons of `values` with assorted constants: every operator, lists, ranges.
    fn leaves(values: &[Value]) -> Vec<Pred> {
        let consts = [
            Const::Number("0".into()),
            Const::Number("0.00".into()),
            Const::Number("-1.5".into()),
            Const::Number("2".into()),
            Const::Days(0),
            Const::Days(5),
            Const::Stage(Stage::Prospect),
            Const::Stage(Stage::Active),
            Const::Text("prospect".into()),
            Const::Text("Kyiv".into()),
            Const::Date(as_of()),
            Const::Bool(true),
        ];
        let ty = ValueType::Count;
        let mut out = Vec::new();
        for value in values {
            for c in &consts {
                for op in [
                    CmpOp::Lt,
                    CmpOp::Le,
                    CmpOp::Gt,
                    CmpOp::Ge,
                    CmpOp::Eq,
                    CmpOp::Ne,
                ] {
                    out.push(Pred::Cmp {
                        value: value.clone(),
                        ty,
                        op,
                        rhs: c.clone(),
                    });
                }
                for negated in [false, true] {
                    out.push(Pred::In {
                        value: value.clone(),
                        ty,
                        negated,
                        list: vec![Const::Number("7".into()), c.clone()],
                    });
                    out.push(Pred::Between {
                        value: value.clone(),
                        ty,
                        negated,
                        low: c.clone(),
                        high: Const::Number("3".into()),
                    });
                }
            }
        }
        out
    }

    /// `ps`, with their negations and pairwise `and` and `or` of some of them.
    fn combined(ps: Vec<Pred>) -> Vec<Pred> {
        let mut out = ps.clone();
        out.extend(ps.iter().map(|p| Pred::Not(Box::new(p.clone()))));
        for (i, a) in ps.iter().enumerate().step_by(7) {
            for b in ps.iter().skip(i % 5).step_by(11) {
                out.push(Pred::And(vec![a.clone(), b.clone()]));
                out.push(Pred::Or(vec![a.clone(), b.clone()]));
                out.push(Pred::Not(Box::new(Pred::And(vec![a.clone(), b.clone()]))));
            }
        }
        out
    }

    /// Whether `id` is a member of `p` by the oracle.
    fn oracle(data: &Data, p: &Pred, id: &str) -> bool {
        reference::evaluate(
            data,
            p,
            as_of(),
            &reference::Thresholds::default(),
            &Ranking::default(),
        )
        .contains(id)
    }

    fn purchase(id: &str) -> Tx {
        Tx {
            customer_id: id.into(),
            ts: as_of(),
            amount: Dec::int(10),
            receipt_id: None,
            quantity: Some(Dec::int(1)),
            points_earned: None,
            points_redeemed: None,
            dims: BTreeMap::from([(Dimension::Category, "x".to_string())]),
        }
    }

    fn agrees(data: &Data, id: &str, p: &Pred, claim: Tri) {
        if claim != Tri::Unknown {
            assert_eq!(claim == Tri::True, oracle(data, p, id), "{p:?}");
        }
    }

    #[test]
    fn a_customer_without_purchases_reads_as_the_oracle_says() {
        // "new" has no purchase; "old" has one, so that ranks have a population.
        let data = Data {
            transactions: vec![purchase("old")],
            customers: Some(BTreeMap::from([("new".to_string(), HashMap::new())])),
            ..Data::default()
        };
        let m = metric(MetricKind::Frequency, Some(30));
        let values = [
            Value::Metric(metric(MetricKind::Frequency, None)),
            Value::Metric(m.clone()),
            Value::Metric(metric(MetricKind::Monetary, None)),
            Value::Metric(metric(MetricKind::Recency, None)),
            Value::Metric(metric(MetricKind::Tenure, None)),
            Value::Metric(metric(MetricKind::LastPurchase, None)),
            Value::Metric(metric(MetricKind::AvgCheck, None)),
            Value::Metric(metric(MetricKind::Activity, Some(30))),
            Value::Metric(metric(MetricKind::Items, None)),
            Value::Metric(metric(MetricKind::PointsBalance, None)),
            Value::Metric(metric(MetricKind::Distinct(Dimension::Category), None)),
            Value::Metric(metric(
                MetricKind::Bought {
                    dimension: Dimension::Category,
                    values: vec!["x".into()],
                },
                None,
            )),
            Value::SinceFirst(metric(MetricKind::Monetary, Some(30))),
            Value::Lifecycle(vec![]),
            Value::Rfm(RfmPart::R),
            Value::Rfm(RfmPart::Segment),
            Value::Abc(vec![]),
            Value::Percentile(m.clone()),
            Value::TopRank(m.clone()),
            Value::Population(m.clone()),
        ];
        let mut preds = leaves(&values);
        preds.push(Pred::Top {
            metric: m,
            n: TopN::Count(3),
        });
        for p in &preds {
            assert_ne!(without_purchases(p), Tri::Unknown, "{p:?}");
        }
        for p in combined(preds) {
            agrees(&data, "new", &p, without_purchases(&p));
        }
    }

    #[test]
    fn a_customer_without_a_customers_row_reads_as_the_oracle_says() {
        // "new" bought but has no customers row; "old" has one.
        let attrs = HashMap::from([
            ("city".to_string(), Attr::Text("Kyiv".into())),
            ("birthday".to_string(), Attr::Date(as_of())),
        ]);
        let data = Data {
            transactions: vec![purchase("new"), purchase("old")],
            customers: Some(BTreeMap::from([("old".to_string(), attrs)])),
            ..Data::default()
        };
        let mut preds = leaves(&[
            Value::Attribute("city".into()),
            Value::Metric(metric(MetricKind::Frequency, None)),
        ]);
        preds.push(Pred::Upcoming {
            attribute: "birthday".into(),
            days: 7,
        });
        for p in combined(preds) {
            let claim = without_customer_row(&p);
            if p.values().iter().all(|v| matches!(v, Value::Attribute(_))) {
                assert_ne!(claim, Tri::Unknown, "{p:?}");
            }
            agrees(&data, "new", &p, claim);
        }
    }
}
