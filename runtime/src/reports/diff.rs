//! Who a change moves: a segment's members under two definitions (two revisions of the
//! segment files) or on two dates, who entered, left and stayed, and for each customer who
//! moved the top-level conditions whose values differ (`segql diff`, `segql test`).
//!
//! Everything rests on one query, [`memberships`]: for a list of conditions, each customer
//! true for at least one of them with one true/false per condition (one scan and one
//! aggregation for all; `lower_memberships`). A customer absent from it is false for all.

use crate::engine::Engine;
use crate::error::RuntimeError;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{LogicalPlanBuilder, col, lit};
use segql_compiler::ir::{Pred, Segment};
use segql_compiler::program::Program;
use segql_compiler::{CompileError, lower_memberships, resolve_expr};
use segql_grammar::ast::{Expr, ExprKind};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// How many customers' ids a query may name in a filter; past it the query reads everyone
/// and the rows are filtered afterwards.
pub const MAX_IDS_IN_FILTER: usize = 10_000;

/// For each customer true for at least one of `preds` (as of the engine's date): one
/// true/false per condition. With `only`, just those customers.
pub async fn memberships(
    engine: &mut Engine,
    preds: &[Pred],
    only: Option<&BTreeSet<String>>,
) -> Result<HashMap<String, Vec<bool>>, RuntimeError> {
    if preds.is_empty() || only.is_some_and(|o| o.is_empty()) {
        return Ok(HashMap::new());
    }
    let segments: Vec<Segment> = preds
        .iter()
        .enumerate()
        .map(|(i, p)| Segment {
            name: format!("__c{i}"),
            description: None,
            pred: p.clone(),
            campaign: None,
        })
        .collect();
    let mut plan = engine
        .compile(|c| lower_memberships(c, &segments))
        .await?
        .map_err(CompileError::from)?
        .plan;
    if let Some(ids) = only.filter(|o| o.len() <= MAX_IDS_IN_FILTER) {
        let list = ids.iter().map(|i| lit(i.as_str())).collect();
        plan = LogicalPlanBuilder::from(plan)
            .filter(cast_id(col("customer_id")).in_list(list, false))
            .and_then(|b| b.build())
            .map_err(CompileError::from)?;
    }
    let mut out = HashMap::new();
    for b in engine.collect(plan).await? {
        let ids = cast(b.column(0), &DataType::Utf8)
            .map_err(|e| CompileError::from(datafusion::error::DataFusionError::from(e)))?;
        let ids = ids.as_string::<i32>();
        let columns: Vec<_> = (1..b.num_columns())
            .map(|c| b.column(c).as_boolean().clone())
            .collect();
        for r in 0..b.num_rows() {
            if ids.is_null(r) {
                continue;
            }
            let id = ids.value(r).to_string();
            if only.is_some_and(|o| !o.contains(&id)) {
                continue;
            }
            let values = columns
                .iter()
                .map(|c| c.is_valid(r) && c.value(r))
                .collect();
            out.insert(id, values);
        }
    }
    Ok(out)
}

fn cast_id(e: datafusion::logical_expr::Expr) -> datafusion::logical_expr::Expr {
    datafusion::logical_expr::cast(e, DataType::Utf8)
}

/// The members of a definition as `segql run` lists them: a campaign's capped by its
/// `limit` (both groups).
pub async fn definition_members(
    engine: &mut Engine,
    segment: &Segment,
) -> Result<BTreeSet<String>, RuntimeError> {
    let plan = engine
        .compile(|c| segql_compiler::lower_definition(c, segment))
        .await?
        .map_err(CompileError::from)?
        .plan;
    let mut out = BTreeSet::new();
    for b in engine.collect(plan).await? {
        let ids = cast(b.column(0), &DataType::Utf8)
            .map_err(|e| CompileError::from(datafusion::error::DataFusionError::from(e)))?;
        let ids = ids.as_string::<i32>();
        out.extend(
            (0..b.num_rows())
                .filter(|r| ids.is_valid(*r))
                .map(|r| ids.value(r).to_string()),
        );
    }
    Ok(out)
}

/// True when a definition's members are not its condition's: a campaign with a `limit`.
pub fn capped(segment: &Segment) -> bool {
    segment.campaign.as_ref().is_some_and(|c| c.limit.is_some())
}

/// How a definition combines its top-level conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    /// All must hold (a single condition is an `and` of one).
    And,
    /// Any may hold.
    Or,
}

/// A definition's top-level conditions: their text and resolved form.
#[derive(Debug, Clone)]
pub struct Terms {
    /// `and` or `or`.
    pub combine: Combine,
    /// Each condition as written in canonical form.
    pub texts: Vec<String>,
    /// Each condition resolved.
    pub preds: Vec<Pred>,
}

/// The top-level conditions of segment `name` of `program`, resolved against the engine's
/// catalog.
pub async fn terms(
    engine: &mut Engine,
    program: &Program,
    name: &str,
) -> Result<Terms, RuntimeError> {
    let entry = program
        .segment(name)
        .ok_or_else(|| CompileError::SegmentNotFound {
            name: name.to_string(),
            help: String::new(),
        })?;
    terms_of(engine, program, &entry.def.body, entry.source).await
}

/// The top-level conditions of `expr`, text of `program`'s source `source`. Looked through:
/// parentheses around the whole, an expression that is only a reference to a segment, or
/// only a call (its expansion, resolved in the called segment's file).
pub async fn terms_of(
    engine: &mut Engine,
    program: &Program,
    expr: &Expr,
    source: usize,
) -> Result<Terms, RuntimeError> {
    let mut source = source;
    let mut body: Expr = expr.clone();
    for _ in 0..segql_compiler::resolve::MAX_REFERENCE_DEPTH {
        body = match &body.kind {
            ExprKind::Group(inner) => (**inner).clone(),
            ExprKind::SegmentRef(id) => match program.segment(&id.name) {
                Some(e) if e.def.params.is_empty() => {
                    source = e.source;
                    e.def.body.clone()
                }
                _ => break,
            },
            ExprKind::Call { name, args } => match program.segment(&name.name) {
                Some(e) if e.def.params.len() == args.len() => {
                    source = e.source;
                    segql_compiler::params::expand(&e.def, args)
                }
                _ => break,
            },
            _ => break,
        };
    }
    let body = &body;
    let (combine, parts): (Combine, Vec<&Expr>) = match &body.kind {
        ExprKind::And(v) => (Combine::And, v.iter().collect()),
        ExprKind::Or(v) => (Combine::Or, v.iter().collect()),
        _ => (Combine::And, vec![body]),
    };
    let mut texts = Vec::new();
    let mut preds = Vec::new();
    for p in parts {
        texts.push(segql_grammar::fmt::format_expr(p));
        let pred = engine
            .compile(|c| resolve_expr(program, c, p, source))
            .await??;
        preds.push(pred);
    }
    Ok(Terms {
        combine,
        texts,
        preds,
    })
}

/// Who a change moves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Movement {
    /// Members before.
    pub before: u64,
    /// Members after.
    pub after: u64,
    /// In after, not before.
    pub entered: BTreeSet<String>,
    /// In before, not after.
    pub left: BTreeSet<String>,
    /// In both.
    pub stayed: u64,
}

impl Movement {
    /// From the members before and after.
    pub fn of(before: &BTreeSet<String>, after: &BTreeSet<String>) -> Movement {
        Movement {
            before: before.len() as u64,
            after: after.len() as u64,
            entered: after.difference(before).cloned().collect(),
            left: before.difference(after).cloned().collect(),
            stayed: before.intersection(after).count() as u64,
        }
    }
}

/// The members of each condition in a [`memberships`] result.
pub fn members_of(m: &HashMap<String, Vec<bool>>, i: usize) -> BTreeSet<String> {
    m.iter()
        .filter(|(_, v)| v.get(i).copied().unwrap_or(false))
        .map(|(id, _)| id.clone())
        .collect()
}

/// A top-level condition whose value differs for a customer: its text and its value before
/// and after (`None`: the definition on that side has no such condition).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// The condition, as written in canonical form.
    pub condition: String,
    /// Its value before.
    pub before: Option<bool>,
    /// Its value after.
    pub after: Option<bool>,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = |b: Option<bool>| match b {
            None => "absent",
            Some(true) => "true",
            Some(false) => "false",
        };
        write!(
            f,
            "{}: {} -> {}",
            self.condition,
            v(self.before),
            v(self.after)
        )
    }
}

/// Why each customer in `ids` moved: the conditions of `before` and `after` (matched by their
/// text) whose values differ, a condition one side lacks counting as the value that changes
/// nothing there (true in an `and`, false in an `or`). Each side's values are its terms'
/// [`memberships`] for `ids`.
pub fn reasons(
    before: (&HashMap<String, Vec<bool>>, &Terms),
    after: (&HashMap<String, Vec<bool>>, &Terms),
    ids: &BTreeSet<String>,
) -> BTreeMap<String, Vec<Reason>> {
    let (vb, va) = (before.0, after.0);
    let mut texts: Vec<&String> = after.1.texts.iter().collect();
    for t in &before.1.texts {
        if !texts.contains(&t) {
            texts.push(t);
        }
    }
    let value = |terms: &Terms, values: Option<&Vec<bool>>, text: &str| -> Option<bool> {
        let i = terms.texts.iter().position(|t| t == text)?;
        Some(values.and_then(|v| v.get(i).copied()).unwrap_or(false))
    };
    let neutral = |terms: &Terms| terms.combine == Combine::And;
    let mut out = BTreeMap::new();
    for id in ids {
        let mut rs = Vec::new();
        for t in &texts {
            let b = value(before.1, vb.get(id), t);
            let a = value(after.1, va.get(id), t);
            let eb = b.unwrap_or(neutral(before.1));
            let ea = a.unwrap_or(neutral(after.1));
            if eb != ea {
                rs.push(Reason {
                    condition: (*t).clone(),
                    before: b,
                    after: a,
                });
            }
        }
        out.insert(id.clone(), rs);
    }
    out
}
