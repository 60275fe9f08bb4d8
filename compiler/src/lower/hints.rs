//! What a predicate tells its scan before any data is read: [`ScanHints`] from its top-level
//! conditions (which customers can be members, how far back their values need purchases),
//! the semi joins that keep only those customers' lines, and [`needs_full_base`] (whether
//! customers without purchases can be members).

use super::exprs::{one_of, purchases_in, qcol};
use super::per_customer::PerCustomer;
use super::truth::{Tri, without_customer_row, without_purchases};
use crate::builder::PlanBuilder;
use crate::catalog::Catalog;
use crate::ir::*;
use datafusion::common::{Column, Result};
use datafusion::logical_expr::{Expr, JoinType, LogicalPlan, ident, lit};
use segql_grammar::ast::{CmpOp, Dimension};
use std::collections::{BTreeMap, HashMap};

/// What a single segment's predicate tells its scan, from its top-level conjuncts (every
/// member satisfies each of them).
#[derive(Debug, Default)]
pub struct ScanHints {
    /// Unwindowed `recency` values compared with `< d` (or `<= d - 1`): every member bought
    /// within d days, so for members the latest purchase lies in the last d days and a scan
    /// of those days computes it exactly (others read NULL, and the comparison is false
    /// either way).
    ///
    /// `lifecycle in (at_risk, churned)` (any non-empty subset of the two, when `new_days <=
    /// at_risk_days`) maps to its `lost_days`: members bought in that many days, their last
    /// purchase `at_risk_days` or more ago, so they are never `new`. A scan of those days and
    /// their last purchase alone (no first purchase) tell their stage exactly; others may
    /// read `prospect` or `new` where they were `lost` or `active`, outside the set either
    /// way.
    pub(super) local: HashMap<Value, u64>,
    /// The same lifecycle conditions, by scope, mapped to the fewest days any member's last
    /// purchase lies back (`at_risk_days`, or `churned_days` for `churned` alone): the
    /// customers whose last purchase is more recent are dropped right after the aggregation,
    /// before their stage is computed as text. Ordered, so that plans are the same every run.
    pub(super) lapsed: BTreeMap<Vec<String>, u64>,
    /// Conditions on attributes alone that are false for a customer without a customers row
    /// (`city = "Kyiv"`, `age between 25 and 40`): only customers meeting them can be members.
    attributes: Vec<Pred>,
    /// `recency [at scope] < d` as (scope, d): only customers with a purchase (at scope) in
    /// the last d days can be members.
    bought: Vec<(Vec<String>, u64)>,
}

impl ScanHints {
    /// What holds whatever the as-of date: the key sets of conditions on attributes, but for
    /// anniversaries (`birthday within 7d` counts its days from the as-of date). The other
    /// hints name buyers of the days before the as-of date, or bound its scan.
    pub(super) fn whatever_the_date(&self) -> ScanHints {
        fn upcoming(p: &Pred) -> bool {
            match p {
                Pred::Upcoming { .. } => true,
                Pred::And(ps) | Pred::Or(ps) => ps.iter().any(upcoming),
                Pred::Not(p) => upcoming(p),
                _ => false,
            }
        }
        ScanHints {
            attributes: self
                .attributes
                .iter()
                .filter(|p| !upcoming(p))
                .cloned()
                .collect(),
            ..ScanHints::default()
        }
    }

    /// True when the hints keep some customers' lines out of the scan (given a customers
    /// table to name the others).
    pub(super) fn narrows(&self, catalog: &Catalog) -> bool {
        (!self.attributes.is_empty() && catalog.customers().is_some()) || !self.bought.is_empty()
    }
}

/// True when `p` reads attributes alone: a condition the customers table decides.
fn reads_attributes_only(p: &Pred) -> bool {
    p.values().iter().all(|v| matches!(v, Value::Attribute(_)))
}

/// The scan hints of `pred`.
pub fn scan_hints(catalog: &Catalog, pred: &Pred) -> ScanHints {
    fn conjuncts<'a>(p: &'a Pred, out: &mut Vec<&'a Pred>) {
        match p {
            Pred::And(ps) => ps.iter().for_each(|p| conjuncts(p, out)),
            p => out.push(p),
        }
    }
    let mut hints = ScanHints::default();
    // A look-alike compares every customer with its seeds: nobody may be left out.
    if pred
        .values()
        .iter()
        .any(|v| matches!(v, Value::Lookalike(_)))
    {
        return hints;
    }
    let mut all = Vec::new();
    conjuncts(pred, &mut all);
    let lapsed = |s: &Const| matches!(s, Const::Stage(Stage::AtRisk | Stage::Churned));
    for c in all {
        let stages = match c {
            Pred::Cmp {
                value: value @ Value::Lifecycle(_),
                op: CmpOp::Eq,
                rhs,
                ..
            } => Some((value, std::slice::from_ref(rhs))),
            Pred::In {
                value: value @ Value::Lifecycle(_),
                negated: false,
                list,
                ..
            } => Some((value, &list[..])),
            _ => None,
        };
        if let Some((value @ Value::Lifecycle(scope), list)) = stages {
            let t = catalog.lifecycle_for(scope);
            if !list.is_empty() && list.iter().all(lapsed) && t.new_days <= t.at_risk_days {
                let lost = u64::from(t.lost_days);
                let d = hints.local.entry(value.clone()).or_insert(lost);
                *d = (*d).min(lost);
                let since = |s: &Const| match s {
                    Const::Stage(Stage::Churned) => t.churned_days,
                    _ => t.at_risk_days,
                };
                let fewest = u64::from(list.iter().map(since).min().unwrap_or(t.at_risk_days));
                let d = hints.lapsed.entry(scope.clone()).or_insert(fewest);
                *d = (*d).max(fewest);
            }
            continue;
        }
        if reads_attributes_only(c) && without_customer_row(c) == Tri::False {
            hints.attributes.push(c.clone());
            continue;
        }
        if let Pred::Cmp {
            value: value @ Value::Metric(m),
            op,
            rhs: Const::Days(n),
            ..
        } = c
            && m.kind == MetricKind::Recency
            && m.window.is_none()
        {
            let days = match op {
                CmpOp::Lt => *n,
                CmpOp::Le => n.saturating_add(1),
                _ => continue,
            };
            let d = hints.local.entry(value.clone()).or_insert(days);
            *d = (*d).min(days);
            hints.bought.push((m.scope.clone(), days));
        }
    }
    hints
}

/// True when some predicate can hold for a customer without purchases, so the query must see
/// the whole customer base (every customer with a purchase, and the customers table).
pub fn needs_full_base(preds: &[&Pred]) -> bool {
    preds.iter().any(|p| without_purchases(p) != Tri::False)
}

/// The customers who can be members by the hints' conditions, one plan (a `customer_id`
/// column) per kind of condition: attributes from the customers table, recent purchases from
/// transactions, the latter only when the scan reaches further back.
fn key_sets(catalog: &Catalog, hints: &ScanHints, widest: Option<u64>) -> Result<Vec<LogicalPlan>> {
    let mut out = Vec::new();
    // Asking for the customers table reads it: only when conditions need it.
    if !hints.attributes.is_empty()
        && let (Some(merged), Some(unmerged)) = (catalog.customers(), catalog.customer_rows())
    {
        // A customer's merged attribute is the largest of its rows' values, so conditions
        // on one attribute hold for the merged row only if they hold for one of the rows:
        // those rows, before the merge, name every member, with no aggregation of the whole
        // customers table. Conditions on different attributes each name a superset of the
        // members from the rows (a customer's merged row may take its city from one row and
        // its gender from another), intersected with the other key sets. Only a condition
        // that reads several attributes at once needs the merged rows.
        let mut by_attributes: BTreeMap<Vec<String>, Vec<&Pred>> = BTreeMap::new();
        for p in &hints.attributes {
            let mut read: Vec<String> = p
                .values()
                .into_iter()
                .filter_map(|v| match v {
                    Value::Attribute(a) => Some(a),
                    _ => None,
                })
                .collect();
            read.sort();
            read.dedup();
            by_attributes.entry(read).or_default().push(p);
        }
        for (read, preds) in by_attributes {
            let rows = if read.len() == 1 {
                unmerged.clone()
            } else {
                merged.clone()
            };
            let names = read
                .iter()
                .map(|a| (Value::Attribute(a.clone()), a.clone()))
                .collect();
            let attrs = PerCustomer::over(rows.clone(), names, catalog.as_of);
            let cond = preds
                .iter()
                .map(|p| attrs.filter_condition(p))
                .reduce(Expr::and)
                .unwrap_or(lit(true));
            out.push(
                PlanBuilder::from(rows)
                    .filter(cond)?
                    .project(vec![ident("customer_id")])?
                    .build()?,
            );
        }
    }
    let mut bought: Vec<&(Vec<String>, u64)> = hints
        .bought
        .iter()
        .filter(|(_, d)| widest.is_none_or(|w| *d < w) && names_few(catalog, *d))
        .collect();
    bought.sort_by_key(|(_, d)| *d);
    if let Some((scope, d)) = bought.first() {
        let mut set = PlanBuilder::from(catalog.transactions.clone());
        if let Some(f) = purchases_in(catalog, Some(*d))
            .into_iter()
            .chain((!scope.is_empty()).then(|| one_of(Dimension::Partner, scope)))
            .reduce(Expr::and)
        {
            set = set.filter(f)?;
        }
        out.push(
            set.aggregate(vec![ident("customer_id")], Vec::<Expr>::new())?
                .build()?,
        );
    }
    Ok(out)
}

/// True when the buyers of the last `days` days can be few enough for their key set to pay
/// for itself: the window covers at most a quarter of the days the transactions' file
/// statistics span (up to the as-of date). A key set costs a scan of the window and a probe
/// of every line; it pays back only by keeping most lines out of the aggregation, which a
/// window over most of the data cannot. Without statistics (CSV), the key set is used.
fn names_few(catalog: &Catalog, days: u64) -> bool {
    match catalog.facts.dates {
        Some((earliest, latest)) => {
            let span = (latest.min(catalog.as_of) - earliest).num_days() + 1;
            i64::try_from(days).is_ok_and(|d| d.saturating_mul(4) <= span)
        }
        None => true,
    }
}

/// The scanned lines of the customers who can be members by the hints: semi joins with the
/// [`key_sets`] of the hints' conditions. Several key sets are intersected first (per-customer
/// rows), so that the lines go through one semi join with the fewest keys.
pub(super) fn keep_possible_members(
    catalog: &Catalog,
    hints: &ScanHints,
    widest: Option<u64>,
    lines: PlanBuilder,
) -> Result<PlanBuilder> {
    let mut keys: Option<PlanBuilder> = None;
    for (i, set) in key_sets(catalog, hints, widest)?.into_iter().enumerate() {
        let set = PlanBuilder::from(set).alias(&format!("__keys{i}"))?;
        keys = Some(match keys {
            None => set,
            Some(k) => k.join(
                set.build()?,
                JoinType::LeftSemi,
                (
                    vec![qcol("__keys0", "customer_id")],
                    vec![qcol(format!("__keys{i}"), "customer_id")],
                ),
            )?,
        });
    }
    match keys {
        None => Ok(lines),
        Some(keys) => keys.join(
            lines.build()?,
            JoinType::RightSemi,
            (
                vec![qcol("__keys0", "customer_id")],
                vec![Column::from_name("customer_id")],
            ),
        ),
    }
}
