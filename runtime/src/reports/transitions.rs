//! The transitions report: who became whom between two dates. Each customer's lifecycle
//! stage, RFM segment or ABC tier as of one date against as of a later one, counted per
//! (earlier, later) pair.

use super::common::open_at;
use crate::{EngineOptions, Project, RuntimeError};
use chrono::NaiveDate;
use datafusion::arrow::array::{
    ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema};
use datafusion::arrow::error::ArrowError;
use datafusion::common::Column;
use datafusion::functions::expr_fn::coalesce;
use datafusion::functions_aggregate::expr_fn::count;
use datafusion::logical_expr::{Expr, JoinType, LogicalPlanBuilder, ident, lit};
use segql_compiler::CompileError;
use segql_compiler::ir::{ABC_TIERS, RFM_SEGMENTS, RfmPart, Stage, Value};
use std::sync::Arc;

/// What a customer is classified by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransitionBy {
    /// Lifecycle stages (at the partner, when one is given).
    Lifecycle,
    /// Named RFM segments.
    RfmSegment,
    /// ABC tiers (at the partner, when one is given).
    Abc,
}

impl TransitionBy {
    /// Looks a classification up by the name the command line and the REPL accept
    /// (`lifecycle`, `rfm_segment` or `rfm-segment`, `abc`).
    pub fn by_name(name: &str) -> Option<TransitionBy> {
        match name {
            "lifecycle" => Some(TransitionBy::Lifecycle),
            "rfm_segment" | "rfm-segment" => Some(TransitionBy::RfmSegment),
            "abc" => Some(TransitionBy::Abc),
            _ => None,
        }
    }

    /// The classes in their natural order: stages, segments or tiers.
    fn order(self) -> Vec<&'static str> {
        match self {
            TransitionBy::Lifecycle => Stage::ALL.iter().map(Stage::name).collect(),
            TransitionBy::RfmSegment => RFM_SEGMENTS.iter().map(|s| s.0).collect(),
            TransitionBy::Abc => ABC_TIERS.to_vec(),
        }
    }
}

/// What to compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransitionsSpec {
    /// The classification.
    pub by: TransitionBy,
    /// The earlier as-of date.
    pub from: NaiveDate,
    /// The later as-of date (after `from`).
    pub to: NaiveDate,
    /// Lifecycle or ABC at this partner only.
    pub partner: Option<String>,
}

/// A customer's class on one date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Class {
    /// A lifecycle stage.
    Stage(Stage),
    /// An RFM segment or an ABC tier, by name.
    Named(String),
    /// No class: not a customer yet (or no longer in the data) on that date.
    Absent,
}

impl Class {
    /// The name shown in reports; [`Class::Absent`] is `(none)`.
    pub fn name(&self) -> &str {
        match self {
            Class::Stage(s) => s.name(),
            Class::Named(n) => n,
            Class::Absent => ABSENT,
        }
    }
}

/// How an absent class is named in the query and in reports.
const ABSENT: &str = "(none)";

/// Customers who went from one class to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The class as of the earlier date.
    pub from: Class,
    /// The class as of the later date.
    pub to: Class,
    /// How many customers.
    pub customers: i64,
}

/// The report: every (earlier, later) pair with customers, ordered by the earlier then the
/// later class, each in its natural order (stages, segments, tiers), then any other by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transitions {
    /// The earlier date.
    pub from: NaiveDate,
    /// The later date.
    pub to: NaiveDate,
    /// The pairs.
    pub pairs: Vec<Transition>,
    /// The natural order of the classes.
    order: Vec<&'static str>,
}

impl Transitions {
    /// The sort key of a class: its place in the natural order (others after), then its name.
    fn rank<'a>(&self, c: &'a Class) -> (usize, &'a str) {
        let name = c.name();
        let place = self.order.iter().position(|o| *o == name);
        (place.unwrap_or(self.order.len()), name)
    }

    /// Customers whose earlier class is `from`, whatever their later one.
    pub fn row_total(&self, from: &Class) -> i64 {
        self.pairs
            .iter()
            .filter(|p| &p.from == from)
            .map(|p| p.customers)
            .sum()
    }

    /// The earlier classes, in order.
    pub fn froms(&self) -> Vec<&Class> {
        let mut froms: Vec<&Class> = Vec::new();
        for p in &self.pairs {
            if !froms.contains(&&p.from) {
                froms.push(&p.from);
            }
        }
        froms
    }

    /// The later classes, in order.
    pub fn tos(&self) -> Vec<&Class> {
        let mut tos: Vec<&Class> = Vec::new();
        for p in &self.pairs {
            if !tos.contains(&&p.to) {
                tos.push(&p.to);
            }
        }
        tos.sort_by_key(|t| self.rank(t));
        tos
    }

    /// Customers who went from `from` to `to`.
    pub fn customers(&self, from: &Class, to: &Class) -> i64 {
        self.pairs
            .iter()
            .find(|p| &p.from == from && &p.to == to)
            .map_or(0, |p| p.customers)
    }

    /// One row per pair: `from`, `to`, `customers` and `share_of_row_pct` (of the customers
    /// with the same earlier class).
    pub fn to_batch(&self) -> Result<RecordBatch, ArrowError> {
        let fields = vec![
            Field::new("from", DataType::Utf8, false),
            Field::new("to", DataType::Utf8, false),
            Field::new("customers", DataType::Int64, false),
            Field::new("share_of_row_pct", DataType::Float64, false),
        ];
        let shares = self
            .pairs
            .iter()
            .map(|p| (1000.0 * p.customers as f64 / self.row_total(&p.from) as f64).round() / 10.0);
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                self.pairs.iter().map(|p| p.from.name()),
            )),
            Arc::new(StringArray::from_iter_values(
                self.pairs.iter().map(|p| p.to.name()),
            )),
            Arc::new(Int64Array::from_iter_values(
                self.pairs.iter().map(|p| p.customers),
            )),
            Arc::new(Float64Array::from_iter_values(shares)),
        ];
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
    }
}

/// The transitions of `spec`: the project's engine opened as of each date (with `options`,
/// whose own as-of date is not used), each customer's class on both, joined.
pub async fn transitions(
    project: &Project,
    options: &EngineOptions,
    spec: &TransitionsSpec,
) -> Result<Transitions, RuntimeError> {
    if spec.from >= spec.to {
        return Err(RuntimeError::Usage {
            message: format!("--from ({}) must be before --to ({})", spec.from, spec.to),
            help: None,
        });
    }
    if spec.partner.is_some() && spec.by == TransitionBy::RfmSegment {
        return Err(RuntimeError::Usage {
            message: "--partner applies to --by lifecycle and --by abc".into(),
            help: None,
        });
    }
    let scope: Vec<String> = spec.partner.iter().cloned().collect();
    let value = match spec.by {
        TransitionBy::Lifecycle => Value::Lifecycle(scope.clone()),
        TransitionBy::RfmSegment => Value::Rfm(RfmPart::Segment),
        TransitionBy::Abc => Value::Abc(scope.clone()),
    };
    let mut sides = Vec::new();
    for (date, alias) in [(spec.from, "a"), (spec.to, "b")] {
        let engine = open_at(project, options, date).await?;
        if alias == "b" {
            engine.check_partners(&scope).await?;
        }
        let per_customer =
            segql_compiler::PerCustomer::build(&engine.catalog, std::slice::from_ref(&value), true)
                .map_err(CompileError::from)?;
        let col = per_customer
            .column(&value)
            .unwrap_or("customer_id")
            .to_string();
        let plan = LogicalPlanBuilder::from(per_customer.plan.clone())
            .project(vec![ident("customer_id"), ident(&col).alias("v")])
            .and_then(|b| b.alias(alias))
            .and_then(|b| b.build())
            .map_err(CompileError::from)?;
        sides.push((engine, plan));
    }
    let (engine, from_plan) = sides.remove(0);
    let (_, to_plan) = sides.remove(0);
    let side = |t: &str| coalesce(vec![Expr::Column(Column::new(Some(t), "v")), lit(ABSENT)]);
    let plan = LogicalPlanBuilder::from(from_plan)
        .join(
            to_plan,
            JoinType::Full,
            (
                vec![Column::new(Some("a"), "customer_id")],
                vec![Column::new(Some("b"), "customer_id")],
            ),
            None,
        )
        .and_then(|b| b.project(vec![side("a").alias("from"), side("b").alias("to")]))
        .and_then(|b| {
            b.aggregate(
                vec![ident("from"), ident("to")],
                vec![count(lit(1)).alias("customers")],
            )
        })
        .and_then(|b| b.build())
        .map_err(CompileError::from)?;
    let batches = engine.collect(plan).await?;
    let class = |name: &str| match (spec.by, Stage::by_name(name)) {
        _ if name == ABSENT => Class::Absent,
        (TransitionBy::Lifecycle, Some(s)) => Class::Stage(s),
        _ => Class::Named(name.to_string()),
    };
    let mut pairs = Vec::new();
    for b in &batches {
        let (f, t, n) = (
            b.column(0).as_string::<i32>(),
            b.column(1).as_string::<i32>(),
            b.column(2).as_primitive::<Int64Type>(),
        );
        for i in 0..b.num_rows() {
            pairs.push(Transition {
                from: class(f.value(i)),
                to: class(t.value(i)),
                customers: n.value(i),
            });
        }
    }
    let mut report = Transitions {
        from: spec.from,
        to: spec.to,
        pairs: Vec::new(),
        order: spec.by.order(),
    };
    pairs.sort_by(|x, y| {
        (report.rank(&x.from), report.rank(&x.to)).cmp(&(report.rank(&y.from), report.rank(&y.to)))
    });
    report.pairs = pairs;
    Ok(report)
}
