//! The transitions report: who became whom between two dates. Each customer's lifecycle
//! stage, RFM segment or ABC tier as of one date against as of a later one, counted per
//! (earlier, later) pair.

use super::common::open_at;
use crate::{Engine, EngineOptions, Project, RuntimeError};
use chrono::NaiveDate;
use datafusion::arrow::array::{
    ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema};
use datafusion::arrow::error::ArrowError;
use datafusion::common::{Column, ScalarValue};
use datafusion::functions::expr_fn::coalesce;
use datafusion::functions_aggregate::expr_fn::{count, max, min};
use datafusion::logical_expr::{
    Expr, ExprFunctionExt, JoinType, LogicalPlan, LogicalPlanBuilder, ident, lit, when,
};
use segql_compiler::CompileError;
use segql_compiler::catalog::Ranking;
use segql_compiler::ir::{ABC_TIERS, RfmPart, Stage, Value};
use segql_compiler::lower::date_lit;
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

    /// The classes in their natural order: stages, segments (the project's) or tiers.
    fn order(self, ranking: &Ranking) -> Vec<&'static str> {
        match self {
            TransitionBy::Lifecycle => Stage::ALL.iter().map(Stage::name).collect(),
            TransitionBy::RfmSegment => ranking.rfm_segments.names().to_vec(),
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

/// The transitions of `spec` (the project opened with `options`, whose own as-of date is not
/// used): each customer's class on both dates, counted per pair.
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
    let (engine, plan) = match spec.by {
        TransitionBy::Lifecycle => {
            let engine = open_at(project, options, spec.to).await?;
            engine.check_partners(&scope).await?;
            let plan = lifecycle_pairs(&engine, spec, &scope).map_err(CompileError::from)?;
            (engine, plan)
        }
        _ => ranked_pairs(project, options, spec, &scope).await?,
    };
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
        order: spec.by.order(&engine.catalog.ranking),
    };
    pairs.sort_by(|x, y| {
        (report.rank(&x.from), report.rank(&x.to)).cmp(&(report.rank(&y.from), report.rank(&y.to)))
    });
    report.pairs = pairs;
    Ok(report)
}

/// The (earlier, later, customers) pairs of lifecycle stages, from one scan of the
/// transactions up to the later date (`engine` is opened as of it).
///
/// Per customer: the first purchase at any partner (which decides the base: a buyer by a
/// date is a customer on it) and, at the scope's partners, the first purchase and the last
/// one by each date. The stage on a date follows from those as in
/// `compiler/src/lower/columns.rs`; a customer with a customers row is in the base from their
/// signup date (always, without one), as in `compiler/src/lower/customers.rs`.
fn lifecycle_pairs(
    engine: &Engine,
    spec: &TransitionsSpec,
    scope: &[String],
) -> datafusion::error::Result<LogicalPlan> {
    let t = engine.catalog.lifecycle_for(scope);
    let day = date_lit;
    let back = |d: NaiveDate, n: u32| day(d - chrono::Duration::days(n.into()));
    let ts = || ident("ts");
    let at_scope = if scope.is_empty() {
        lit(true)
    } else {
        ident("partner").in_list(scope.iter().map(|p| lit(p.as_str())).collect(), false)
    };
    let scoped = |e: Expr| -> datafusion::error::Result<Expr> {
        max(ts()).filter(at_scope.clone().and(e)).build()
    };
    let aggregated = LogicalPlanBuilder::from(engine.catalog.transactions.clone())
        .filter(ts().lt_eq(day(spec.to)))?
        .aggregate(
            vec![ident("customer_id")],
            vec![
                min(ts()).alias("__bought_from"),
                min(ts()).filter(at_scope.clone()).build()?.alias("__first"),
                scoped(ts().lt_eq(day(spec.from)))?.alias("__last_a"),
                scoped(lit(true))?.alias("__last_b"),
            ],
        )?
        .alias("p")?;
    let p = |c: &str| Expr::Column(Column::new(Some("p"), c));
    // Customers rows, when there are any: the base's customers without purchases.
    let customers = engine.catalog.customers().map(|c| {
        let has_signup = c
            .schema()
            .field_with_unqualified_name("signup_date")
            .is_ok();
        let signup = if has_signup {
            ident("signup_date")
        } else {
            lit(ScalarValue::Date32(None))
        };
        LogicalPlanBuilder::from(c.clone())
            .project(vec![ident("customer_id"), signup.alias("__signup")])
            .and_then(|b| b.alias("c"))
            .and_then(|b| b.build())
    });
    let (b, known_by) = match customers {
        Some(c) => {
            let c = c?;
            let cc = |n: &str| Expr::Column(Column::new(Some("c"), n));
            let b = aggregated.join(
                c,
                JoinType::Full,
                (
                    vec![Column::new(Some("p"), "customer_id")],
                    vec![Column::new(Some("c"), "customer_id")],
                ),
                None,
            )?;
            let known = move |d: NaiveDate| {
                cc("customer_id")
                    .is_not_null()
                    .and(cc("__signup").is_null().or(cc("__signup").lt_eq(day(d))))
            };
            (b, Some(known))
        }
        None => (aggregated, None),
    };
    let in_base = |d: NaiveDate| {
        let bought = p("__bought_from").lt_eq(day(d));
        match &known_by {
            Some(known) => coalesce(vec![bought, lit(false)]).or(known(d)),
            None => coalesce(vec![bought, lit(false)]),
        }
    };
    let stage = |d: NaiveDate, first: Expr, last: Expr| -> datafusion::error::Result<Expr> {
        when(first.clone().is_null(), lit(Stage::Prospect.name()))
            .when(first.gt(back(d, t.new_days)), lit(Stage::New.name()))
            .when(
                last.clone().gt(back(d, t.at_risk_days)),
                lit(Stage::Active.name()),
            )
            .when(
                last.clone().gt(back(d, t.churned_days)),
                lit(Stage::AtRisk.name()),
            )
            .when(last.gt(back(d, t.lost_days)), lit(Stage::Churned.name()))
            .otherwise(lit(Stage::Lost.name()))
    };
    let first_a = when(p("__first").lt_eq(day(spec.from)), p("__first"))
        .otherwise(lit(ScalarValue::Date32(None)))?;
    let class = |d: NaiveDate, stage: Expr| -> datafusion::error::Result<Expr> {
        when(in_base(d), stage).otherwise(lit(ABSENT))
    };
    b.filter(in_base(spec.to))?
        .project(vec![
            class(spec.from, stage(spec.from, first_a, p("__last_a"))?)?.alias("from"),
            class(spec.to, stage(spec.to, p("__first"), p("__last_b"))?)?.alias("to"),
        ])?
        .aggregate(
            vec![ident("from"), ident("to")],
            vec![count(lit(1)).alias("customers")],
        )?
        .build()
}

/// The (earlier, later, customers) pairs of RFM segments or ABC tiers: the project's engine
/// opened as of each date (rankings are of each date's population), each customer's class on
/// both, joined.
async fn ranked_pairs(
    project: &Project,
    options: &EngineOptions,
    spec: &TransitionsSpec,
    scope: &[String],
) -> Result<(Engine, LogicalPlan), RuntimeError> {
    let value = match spec.by {
        TransitionBy::Abc => Value::Abc(scope.to_vec()),
        _ => Value::Rfm(RfmPart::Segment),
    };
    let mut sides = Vec::new();
    for (date, alias) in [(spec.from, "a"), (spec.to, "b")] {
        let engine = open_at(project, options, date).await?;
        if alias == "b" {
            engine.check_partners(scope).await?;
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
    Ok((engine, plan))
}
