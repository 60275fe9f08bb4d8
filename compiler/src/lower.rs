//! Lowering: resolved segments to a DataFusion logical plan.
//!
//! Whatever the number of conditions, a segment becomes
//! one scan of transactions (only the needed columns, time-filtered to the widest window)
//! -> semi joins keeping only the lines of customers who can be members, when top-level
//! conditions tell (attributes, `recency < d`; see [`ScanHints`])
//! -> one aggregation by customer, each condition's measure an aggregate with its own FILTER
//! -> customers of lapsed lifecycle stages with a too recent last purchase dropped
//! -> a join with customers only where attributes or customers without purchases matter
//! -> one projection of the per-customer values -> one filter -> the requested columns.

use crate::builder::PlanBuilder;
use crate::catalog::Catalog;
use crate::ir::*;
use chrono::NaiveDate;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Column, Result, ScalarValue, TableReference};
use datafusion::functions::expr_fn::coalesce;
use datafusion::functions_aggregate::count::count_all;
use datafusion::functions_aggregate::expr_fn::{count, max, min, sum};
use datafusion::functions_aggregate::min_max::min_udaf;
use datafusion::logical_expr::expr::WindowFunction;
use datafusion::logical_expr::{
    Aggregate, Expr, ExprFunctionExt, JoinType, LogicalPlan, SortExpr, WindowFunctionDefinition,
    cast, ident, lit, when,
};
use segql_grammar::ast::{CmpOp, Dimension};
use std::collections::{BTreeMap, HashMap};

/// A lowered query: the members (unsorted) with their output columns.
#[derive(Debug, Clone)]
pub struct Query {
    /// The plan producing one row per member.
    pub plan: LogicalPlan,
}

impl Query {
    /// The members sorted by `customer_id`.
    pub fn sorted(&self) -> Result<LogicalPlan> {
        PlanBuilder::from(self.plan.clone())
            .sort(vec![SortExpr::new(ident("customer_id"), true, true)])?
            .build()
    }

    /// One row, one column `members`: how many rows the query has.
    pub fn count(&self) -> Result<LogicalPlan> {
        PlanBuilder::from(self.plan.clone())
            .aggregate(Vec::<Expr>::new(), vec![count_all().alias("members")])?
            .build()
    }
}

/// Members of one segment: `customer_id` plus every value its conditions read.
pub fn lower_segment(catalog: &Catalog, pred: &Pred) -> Result<Query> {
    let values = pred.values();
    let profile = Profile::build_with(
        catalog,
        &values,
        needs_full_base(&[pred]),
        &scan_hints(catalog, pred),
    )?;
    profile.members(pred)
}

/// The members of a resolved definition: [`lower_campaign`] for a campaign, else
/// [`lower_segment`] of its condition.
pub fn lower_definition(catalog: &Catalog, seg: &Segment) -> Result<Query> {
    match seg.campaign {
        Some(_) => lower_campaign(catalog, seg),
        None => lower_segment(catalog, &seg.pred),
    }
}

/// Members of a campaign: its segment, capped by `limit` (ranked by its value, ties by id),
/// and split into `group` = `test` or `control` by the customer's holdout bucket.
pub fn lower_campaign(catalog: &Catalog, seg: &Segment) -> Result<Query> {
    let spec = seg.campaign.clone().unwrap_or(CampaignSpec {
        holdout_bp: 0,
        limit: None,
    });
    let mut values = seg.pred.values();
    if let Some((_, Some(v), _)) = &spec.limit
        && !values.contains(v)
    {
        values.push(v.clone());
    }
    let hints = scan_hints(catalog, &seg.pred);
    let profile = Profile::build_with(catalog, &values, needs_full_base(&[&seg.pred]), &hints)?;
    let mut b = PlanBuilder::from(profile.filtered(&seg.pred)?);
    if let Some((n, by, desc)) = &spec.limit {
        let mut order = Vec::new();
        if let Some(v) = by {
            order.push(SortExpr::new(ident(&profile.names[v]), !desc, false));
        }
        order.push(SortExpr::new(ident("customer_id"), true, true));
        b = b.sort_with_limit(order, Some(*n as usize))?;
    }
    let group = when(
        crate::udf::bucket_expr(&seg.name, ident("customer_id")).lt(lit(spec.holdout_bp)),
        lit("control"),
    )
    .otherwise(lit("test"))?;
    let mut cols = vec![ident("customer_id"), group.alias("group")];
    cols.extend(values.iter().map(|v| ident(&profile.names[v])));
    Ok(Query {
        plan: b.project(cols)?.build()?,
    })
}

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
    local: HashMap<Value, u64>,
    /// The same lifecycle conditions, by scope, mapped to the fewest days any member's last
    /// purchase lies back (`at_risk_days`, or `churned_days` for `churned` alone): the
    /// customers whose last purchase is more recent are dropped right after the aggregation,
    /// before their stage is computed as text. Ordered, so that plans are the same every run.
    lapsed: BTreeMap<Vec<String>, u64>,
    /// Conditions on attributes alone that are false for a customer without a customers row
    /// (`city = "Kyiv"`, `age between 25 and 40`): only customers meeting them can be members.
    attributes: Vec<Pred>,
    /// `recency [at scope] < d` as (scope, d): only customers with a purchase (at scope) in
    /// the last d days can be members.
    bought: Vec<(Vec<String>, u64)>,
}

/// A predicate reading attributes only, for a customer without a customers row: every
/// condition on a missing attribute is false. `None` when it reads other values.
fn without_customer_row(p: &Pred) -> Option<bool> {
    match p {
        Pred::And(ps) => ps
            .iter()
            .try_fold(true, |acc, p| Some(without_customer_row(p)? && acc)),
        Pred::Or(ps) => ps
            .iter()
            .try_fold(false, |acc, p| Some(without_customer_row(p)? || acc)),
        Pred::Not(p) => without_customer_row(p).map(|b| !b),
        Pred::Upcoming { .. } => Some(false),
        Pred::Cmp { value, .. } | Pred::In { value, .. } | Pred::Between { value, .. } => {
            matches!(value, Value::Attribute(_)).then_some(false)
        }
        Pred::Top { .. } => None,
    }
}

/// The scan hints of `pred`.
pub fn scan_hints(catalog: &Catalog, pred: &Pred) -> ScanHints {
    fn conjuncts<'a>(p: &'a Pred, out: &mut Vec<&'a Pred>) {
        match p {
            Pred::And(ps) => ps.iter().for_each(|p| conjuncts(p, out)),
            p => out.push(p),
        }
    }
    let mut all = Vec::new();
    conjuncts(pred, &mut all);
    let mut hints = ScanHints::default();
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
        if without_customer_row(c) == Some(false) {
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

/// The customers who can be members by the hints' conditions, one plan (a `customer_id`
/// column) per kind of condition: attributes from the customers table, recent purchases from
/// transactions, the latter only when the scan reaches further back.
fn key_sets(catalog: &Catalog, hints: &ScanHints, widest: Option<u64>) -> Result<Vec<LogicalPlan>> {
    let mut out = Vec::new();
    if !hints.attributes.is_empty()
        && let (Some(merged), Some(unmerged)) = (catalog.customers(), catalog.customer_rows())
    {
        let mut names = HashMap::new();
        for v in hints.attributes.iter().flat_map(Pred::values) {
            if let Value::Attribute(a) = &v {
                names.insert(v.clone(), a.clone());
            }
        }
        // A customer's merged attribute is the largest of its rows' values, so conditions
        // on one attribute hold for the merged row only if they hold for one of the rows:
        // those rows, before the merge, name every member, with no aggregation of the whole
        // customers table. Conditions on several attributes need the merged rows (the merged
        // row takes each from another row).
        let rows = if names.len() == 1 {
            unmerged.clone()
        } else {
            merged.clone()
        };
        let attrs = Profile::over(rows.clone(), names, catalog.as_of);
        let cond = hints
            .attributes
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
    let mut bought: Vec<&(Vec<String>, u64)> = hints
        .bought
        .iter()
        .filter(|(_, d)| widest.is_none_or(|w| *d < w))
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

/// True when some predicate can hold for a customer without purchases, so the query must see
/// the whole customer base (every customer with a purchase, and the customers table).
pub fn needs_full_base(preds: &[&Pred]) -> bool {
    preds.iter().any(|p| empty_profile(p) != Tri::False)
}

/// Memberships of several segments at once: `customer_id` and one true/false column per
/// segment, for customers in at least one of them. One scan and one aggregation serve all.
pub fn lower_memberships(catalog: &Catalog, segments: &[Segment]) -> Result<Query> {
    let mut values = Vec::new();
    for s in segments {
        for v in s.pred.values() {
            if !values.contains(&v) {
                values.push(v);
            }
        }
    }
    let preds: Vec<&Pred> = segments.iter().map(|s| &s.pred).collect();
    let profile = Profile::build(catalog, &values, needs_full_base(&preds))?;
    let mut cols = vec![ident("customer_id")];
    let mut any = Vec::new();
    let mut taken = BTreeMap::new();
    taken.insert("customer_id".to_string(), ());
    for s in segments {
        let e = profile.condition(&s.pred);
        any.push(profile.filter_condition(&s.pred));
        let name = unique(s.name.clone(), &taken);
        taken.insert(name.clone(), ());
        cols.push(e.alias(name));
    }
    let any = any.into_iter().reduce(Expr::or).unwrap_or(lit(false));
    let plan = PlanBuilder::from(profile.plan.clone())
        .filter(any)?
        .project(cols)?
        .build()?;
    Ok(Query { plan })
}

/// What an aggregate computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum AggKind {
    MaxTs,
    MinTs,
    Count,
    SumAmount,
    SumQuantity,
    SumEarned,
    SumRedeemed,
    Days,
    /// Distinct non-empty values of the column.
    Distinct(Dimension),
}

/// An aggregate over one customer's transactions: in a window, over lines matching filters
/// (a partner scope, the values of `bought` or `spend on`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Agg {
    kind: AggKind,
    window: Option<u64>,
    /// `Some(scope)`: the window's days start at the first purchase at the scope's partners
    /// (all of them when empty) instead of ending at the as-of date.
    from_first: Option<Vec<String>>,
    filters: Vec<(Dimension, Vec<String>)>,
}

impl Agg {
    /// The aggregate `kind` over the lines value `v` (a metric, or a metric from the first
    /// purchase) looks at.
    fn of_value(kind: AggKind, m: &Metric, from_first: bool) -> Agg {
        Agg {
            from_first: from_first.then(|| m.scope.clone()),
            ..Agg::of(kind, m)
        }
    }

    /// The aggregate `kind` over the lines metric `m` looks at.
    fn of(kind: AggKind, m: &Metric) -> Agg {
        let mut filters = Vec::new();
        if !m.scope.is_empty() {
            filters.push((Dimension::Partner, m.scope.clone()));
        }
        if let MetricKind::Bought { dimension, values } | MetricKind::Spend { dimension, values } =
            &m.kind
        {
            filters.push((*dimension, values.clone()));
        }
        Agg {
            kind,
            window: m.window,
            from_first: None,
            filters,
        }
    }

    /// First and last purchase for the lifecycle (at `scope`'s partners).
    fn lifecycle(kind: AggKind, scope: &[String]) -> Agg {
        Agg::of(
            kind,
            &Metric {
                kind: MetricKind::Recency,
                window: None,
                scope: scope.to_vec(),
            },
        )
    }

    /// The window ending at the as-of date, if any: none for a window from the first
    /// purchase, which needs every purchase up to the as-of date.
    fn window(&self) -> Option<u64> {
        match self.from_first {
            Some(_) => None,
            None => self.window,
        }
    }

    fn name(&self) -> String {
        let mut s = match self.kind {
            AggKind::MaxTs => "last_ts",
            AggKind::MinTs => "first_ts",
            AggKind::Count => "n_purchases",
            AggKind::SumAmount => "sum_amount",
            AggKind::SumQuantity => "sum_quantity",
            AggKind::SumEarned => "sum_points_earned",
            AggKind::SumRedeemed => "sum_points_redeemed",
            AggKind::Days => "n_days",
            AggKind::Distinct(d) => match d {
                Dimension::Partner => "n_partners",
                Dimension::Category => "n_categories",
                Dimension::Product => "n_products",
                Dimension::Store => "n_stores",
            },
        }
        .to_string();
        for (d, vals) in &self.filters {
            s.push_str(&format!("_{d}_{}", crate::ir::slug(vals)));
        }
        if self.from_first.is_some() {
            s.push_str("_first");
        }
        if let Some(w) = self.window {
            s.push_str(&format!("_{w}d"));
        }
        format!("__{s}")
    }
}

/// The column `name` of the table (subquery alias) `relation`. The relation is taken as a bare
/// name, not parsed as SQL as a `&str` table reference would be.
fn qcol(relation: impl Into<String>, name: impl Into<String>) -> Column {
    Column::new(Some(TableReference::bare(relation.into())), name)
}

/// [`qcol`] as an expression.
fn qual(relation: impl Into<String>, name: impl Into<String>) -> Expr {
    Expr::Column(qcol(relation, name))
}

/// The column telling which grouping set a row of the receipt roll-up comes from.
const GROUPING_ID: &str = Aggregate::INTERNAL_GROUPING_ID;

/// The customers' signup date, joined to leave out customers not yet known as of the date.
const SIGNUP: &str = "__signup";

/// Days since 1970-01-01, the representation of Arrow's Date32.
fn epoch_days(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date")).num_days() as i32
}

fn date_lit(d: NaiveDate) -> Expr {
    lit(ScalarValue::Date32(Some(epoch_days(d))))
}

/// The per-customer table a query filters: `customer_id` and one column per value. Built from
/// transactions by [`Profile::build`], or over a cached table by [`Profile::over`].
#[derive(Debug, Clone)]
pub struct Profile {
    /// The plan producing one row per customer.
    pub plan: LogicalPlan,
    /// The column of each value.
    pub names: HashMap<Value, String>,
    /// The as-of date the profile was computed for.
    pub as_of: NaiveDate,
}

impl Profile {
    /// A profile over an existing per-customer table (e.g. one cached in memory) whose
    /// columns hold `names`.
    pub fn over(plan: LogicalPlan, names: HashMap<Value, String>, as_of: NaiveDate) -> Profile {
        Profile { plan, names, as_of }
    }

    /// True when every value `pred` reads is a column of the profile.
    pub fn covers(&self, pred: &Pred) -> bool {
        pred.values().iter().all(|v| self.names.contains_key(v))
    }

    /// Members of `pred`: `customer_id` and the values it reads. The profile must cover it.
    pub fn members(&self, pred: &Pred) -> Result<Query> {
        let mut cols = vec![ident("customer_id")];
        cols.extend(pred.values().iter().map(|v| ident(&self.names[v])));
        let plan = PlanBuilder::from(self.plan.clone())
            .filter(self.filter_condition(pred))?
            .project(cols)?
            .build()?;
        Ok(Query { plan })
    }

    /// Members of `pred` with every profile column.
    pub fn filtered(&self, pred: &Pred) -> Result<LogicalPlan> {
        PlanBuilder::from(self.plan.clone())
            .filter(self.filter_condition(pred))?
            .build()
    }

    /// The column holding `v`, if profiled.
    pub fn column(&self, v: &Value) -> Option<&str> {
        self.names.get(v).map(String::as_str)
    }

    /// Builds the profile of `values` from transactions. With `full_base`, every customer
    /// (with purchases up to the as-of date, or in the customers table) has a row; without
    /// it, only customers with purchases in the widest window the values need.
    pub fn build(catalog: &Catalog, values: &[Value], full_base: bool) -> Result<Profile> {
        Profile::build_with(catalog, values, full_base, &ScanHints::default())
    }

    /// [`Profile::build`] for the members of one predicate, narrowing the scan with its
    /// [`ScanHints`]: values outside the hints' reach may differ for non-members only.
    pub fn build_with(
        catalog: &Catalog,
        values: &[Value],
        full_base: bool,
        hints: &ScanHints,
    ) -> Result<Profile> {
        let is_contacts = |v: &Value| {
            matches!(
                v,
                Value::Metric(Metric {
                    kind: MetricKind::Contacts { .. },
                    ..
                })
            )
        };
        let is_ranked = |v: &Value| {
            matches!(
                v,
                Value::Rfm(_)
                    | Value::Abc(_)
                    | Value::Percentile(_)
                    | Value::TopRank(_)
                    | Value::Population(_)
            )
        };
        let contacts: Vec<Value> = values.iter().filter(|v| is_contacts(v)).cloned().collect();
        let mut ranked: Vec<Value> = values.iter().filter(|v| is_ranked(v)).cloned().collect();
        // `top` compares a rank with the number of active customers.
        for v in ranked.clone() {
            if let Value::TopRank(m) = v {
                let pop = Value::Population(m);
                if !ranked.contains(&pop) {
                    ranked.push(pop);
                }
            }
        }
        let mut values: Vec<Value> = values
            .iter()
            .filter(|v| !is_contacts(v) && !is_ranked(v))
            .cloned()
            .collect();
        // Ranks are computed from windowed metrics of every customer.
        for v in ranking_inputs(catalog, &ranked) {
            if !values.contains(&v) {
                values.push(v);
            }
        }
        let values = &values[..];
        let as_of = catalog.as_of;
        let as_of_days = epoch_days(as_of) as i64;

        // 1. The aggregates every value needs.
        let mut aggs: Vec<Agg> = Vec::new();
        let mut need = |a: Agg| {
            if !aggs.contains(&a) {
                aggs.push(a)
            }
        };
        for v in values {
            match v {
                Value::Metric(m) | Value::SinceFirst(m) => {
                    let from_first = matches!(v, Value::SinceFirst(_));
                    let of = |k| Agg::of_value(k, m, from_first);
                    match &m.kind {
                        MetricKind::Recency | MetricKind::LastPurchase => need(of(AggKind::MaxTs)),
                        MetricKind::Tenure | MetricKind::FirstPurchase => need(of(AggKind::MinTs)),
                        MetricKind::Frequency | MetricKind::Bought { .. } => {
                            need(of(AggKind::Count))
                        }
                        MetricKind::Monetary | MetricKind::Spend { .. } => {
                            need(of(AggKind::SumAmount))
                        }
                        MetricKind::AvgCheck => {
                            need(of(AggKind::SumAmount));
                            need(of(AggKind::Count));
                        }
                        MetricKind::Items => need(of(AggKind::SumQuantity)),
                        MetricKind::PointsEarned => need(of(AggKind::SumEarned)),
                        MetricKind::PointsRedeemed => need(of(AggKind::SumRedeemed)),
                        MetricKind::Activity => need(of(AggKind::Days)),
                        MetricKind::PointsBalance => {
                            need(of(AggKind::SumEarned));
                            need(of(AggKind::SumRedeemed));
                        }
                        MetricKind::Distinct(d) => need(of(AggKind::Distinct(*d))),
                        MetricKind::Contacts { .. } => {}
                    }
                }
                Value::Lifecycle(scope) => {
                    // Under a lapsed-stage hint members are never `new`: no first purchase.
                    if !hints.local.contains_key(v) {
                        need(Agg::lifecycle(AggKind::MinTs, scope));
                    }
                    need(Agg::lifecycle(AggKind::MaxTs, scope));
                }
                Value::Attribute(_)
                | Value::Rfm(_)
                | Value::Abc(_)
                | Value::Percentile(_)
                | Value::TopRank(_)
                | Value::Population(_) => {}
            }
        }
        if aggs.is_empty() {
            // Only attributes: the base still comes from transactions (one row per customer).
            aggs.push(Agg {
                kind: AggKind::MaxTs,
                window: None,
                from_first: None,
                filters: vec![],
            });
        }

        // 2. Scan: purchases up to the as-of date, no earlier than the widest window needs.
        // Customers without purchases in that window look, to every windowed aggregate, like
        // customers without any purchase: they may be dropped from the scan only when no
        // predicate can hold for such a customer. Otherwise (`not bought ... within 30d`)
        // every customer must be scanned to be in the base.
        let never_empty = !full_base;
        // An unwindowed latest purchase needs only the days its `recency < d` conditions
        // look at, when every value read from it has such a hint.
        let local_window = |a: &Agg| -> Option<u64> {
            if a.kind != AggKind::MaxTs {
                return None;
            }
            values
                .iter()
                .filter(|v| match v {
                    Value::Metric(m) => {
                        matches!(m.kind, MetricKind::Recency | MetricKind::LastPurchase)
                            && Agg::of(AggKind::MaxTs, m) == *a
                    }
                    Value::Lifecycle(scope) => Agg::lifecycle(AggKind::MaxTs, scope) == *a,
                    _ => false,
                })
                .map(|v| hints.local.get(v).copied())
                .try_fold(0u64, |acc, w| w.map(|w| acc.max(w)))
        };
        let widest = aggs
            .iter()
            .map(|a| a.window().or_else(|| local_window(a)))
            .try_fold(0u64, |acc, w| w.map(|w| acc.max(w)))
            .filter(|_| never_empty);
        let ts = ident("ts");
        let scan_filter = purchases_in(catalog, widest);
        // Purchases are counted by distinct receipt when receipts are mapped. Rather than
        // COUNT(DISTINCT receipt_id) per condition (a hash set per customer and condition),
        // aggregate twice: per (customer, receipt), then per customer, where each purchase
        // condition counts the receipts with a matching line.
        let has_receipt = catalog.has_tx_column("receipt_id")
            && aggs
                .iter()
                .any(|a| matches!(a.kind, AggKind::Count | AggKind::Days));
        // The roll-up's key: lines without a receipt id are purchases of their own, and
        // share one group per customer, where counts count lines. Only purchase days need
        // them apart by day. Lines older than the widest window that counts purchases match
        // no count: they join that group too (counting zero there), so the roll-up keeps one
        // row per receipt only where receipts are counted.
        let mut receipt_keys = Vec::new();
        if has_receipt {
            let counted = aggs
                .iter()
                .filter(|a| matches!(a.kind, AggKind::Count | AggKind::Days))
                .map(|a| a.window().filter(|w| Some(*w) != widest))
                .try_fold(0u64, |acc, w| w.map(|w| acc.max(w)));
            let receipt = match counted {
                Some(w) => when(ts.clone().gt(window_start(as_of, w)), ident("receipt_id"))
                    .end()?
                    .alias("receipt_id"),
                None => ident("receipt_id"),
            };
            receipt_keys = vec![ident("customer_id"), receipt];
            if aggs.iter().any(|a| a.kind == AggKind::Days) {
                let loose_day = when(ident("receipt_id").is_null(), ts.clone()).end()?;
                receipt_keys.push(loose_day.alias("__loose_day"));
            }
        }
        // Distinct values cannot be counted from receipts (a receipt holds several
        // categories): with the roll-up, the lines are also grouped per (customer, value) of
        // each counted column, in grouping sets of the same aggregation, and the aggregation
        // by customer reads each aggregate from the rows of its set (`__grouping_id`).
        let mut distinct_columns: Vec<Dimension> = Vec::new();
        for a in &aggs {
            if let AggKind::Distinct(d) = a.kind
                && !distinct_columns.contains(&d)
            {
                distinct_columns.push(d);
            }
        }
        let grouping_sets = if has_receipt && !distinct_columns.is_empty() {
            let mut sets = vec![receipt_keys.clone()];
            for d in &distinct_columns {
                sets.push(vec![ident("customer_id"), ident(d.column())]);
            }
            Some(sets)
        } else {
            None
        };
        // Only the rows of one grouping set: its `__grouping_id`, DataFusion's bit per
        // grouping expression (in order of first appearance, the first the highest), set
        // where the set leaves the expression out.
        let in_set = |set: usize| -> Option<Expr> {
            let sets = grouping_sets.as_ref()?;
            let mut all: Vec<&Expr> = Vec::new();
            for e in sets.iter().flatten() {
                if !all.contains(&e) {
                    all.push(e);
                }
            }
            let id = all.iter().fold(0i64, |acc, e| {
                (acc << 1) | i64::from(!sets[set].contains(e))
            });
            Some(cast(ident(GROUPING_ID), DataType::Int64).eq(lit(id)))
        };
        // Windows from the first purchase, per partner scope: the first purchase as a column
        // of every line (a window function over the customer's lines).
        // Scopes as sets: `at ("A", "A")` and `at "A"` share one window function (DataFusion
        // simplifies both to one expression, and then fails to plan the node).
        let as_set = |scope: &[String]| -> Vec<String> {
            let mut set = scope.to_vec();
            set.sort();
            set.dedup();
            set
        };
        let mut anchors: Vec<Vec<String>> = Vec::new();
        for a in &aggs {
            if let Some(scope) = &a.from_first
                && !anchors.contains(&as_set(scope))
            {
                anchors.push(as_set(scope));
            }
        }
        let anchor_column = |scope: &[String]| -> String {
            let set = as_set(scope);
            let i = anchors
                .iter()
                .position(|x| *x == set)
                .expect("anchor planned");
            format!("__first_purchase{i}")
        };
        let day_number = |e: Expr| cast(cast(e, DataType::Int32), DataType::Int64);
        let mut agg_exprs = Vec::new();
        let mut stage1 = Vec::new();
        let mut agg_names = BTreeMap::new();
        // Counts over every scanned line: at least 1 on every profile row when each row has
        // a line in the scan.
        let mut positive: Vec<Agg> = Vec::new();
        for (k, a) in aggs.iter().enumerate() {
            let mut filters = Vec::new();
            if let Some(w) = a.window()
                && Some(w) != widest
            {
                filters.push(ts.clone().gt(window_start(as_of, w)));
            }
            if let (Some(scope), Some(w)) = (&a.from_first, a.window) {
                // Days first .. first + N - 1 (none before the first purchase).
                let first = day_number(ident(anchor_column(scope)));
                filters.push(day_number(ts.clone()).lt(first + lit(w.min(1_000_000_000) as i64)));
            }
            for (d, vals) in &a.filters {
                filters.push(one_of(*d, vals));
            }
            if let AggKind::Distinct(d) = a.kind {
                // NULL and empty text are no value.
                filters.push(ident(d.column()).not_eq(lit("")));
            }
            if never_empty && filters.is_empty() && a.kind == AggKind::Count {
                positive.push(a.clone());
            }
            let filter = filters.into_iter().reduce(Expr::and);
            let with_filter = |e: Expr, f: Option<Expr>| -> Result<Expr> {
                match f {
                    None => Ok(e),
                    Some(f) => e.filter(f).build(),
                }
            };
            let e = if has_receipt {
                let s1 = format!("__r{k}");
                let in_receipts = in_set(0);
                match a.kind {
                    // Matching lines per receipt; a receipt with any counts once. Lines
                    // without a receipt id are purchases of their own.
                    // A purchase's day is its first matching line's day.
                    AggKind::Days => {
                        stage1.push(with_filter(min(ts.clone()), filter)?.alias(&s1));
                        let e = count(ident(&s1)).distinct();
                        match in_receipts {
                            None => e.build()?,
                            Some(f) => e.filter(f).build()?,
                        }
                    }
                    AggKind::Count => {
                        stage1.push(with_filter(count_all().unalias(), filter)?.alias(&s1));
                        let n = ident(&s1);
                        with_filter(
                            sum(when(ident("receipt_id").is_null(), n.clone())
                                .when(n.gt(lit(0i64)), lit(1i64))
                                .otherwise(lit(0i64))?),
                            in_receipts,
                        )?
                    }
                    // Values with a matching line, one row each in the value's set.
                    AggKind::Distinct(d) => {
                        stage1.push(with_filter(count_all().unalias(), filter)?.alias(&s1));
                        let set = 1 + distinct_columns
                            .iter()
                            .position(|x| *x == d)
                            .expect("column grouped");
                        let matched = ident(&s1).gt(lit(0i64));
                        let f = in_set(set).map_or(matched.clone(), |s| s.and(matched));
                        count_all().unalias().filter(f).build()?
                    }
                    _ => {
                        let (s1_expr, combine): (Expr, fn(Expr) -> Expr) = match a.kind {
                            AggKind::MaxTs => (max(ts.clone()), max),
                            AggKind::MinTs => (min(ts.clone()), min),
                            AggKind::SumAmount => (sum(ident("amount")), sum),
                            AggKind::SumEarned => (sum(ident("points_earned")), sum),
                            AggKind::SumRedeemed => (sum(ident("points_redeemed")), sum),
                            _ => (sum(ident("quantity")), sum),
                        };
                        stage1.push(with_filter(s1_expr, filter)?.alias(&s1));
                        with_filter(combine(ident(&s1)), in_receipts)?
                    }
                }
            } else {
                let base = match a.kind {
                    AggKind::Days | AggKind::Distinct(_) => {
                        let counted = match a.kind {
                            AggKind::Distinct(d) => ident(d.column()),
                            _ => ts.clone(),
                        };
                        let e = count(counted).distinct();
                        let e = match filter.clone() {
                            None => e.build()?,
                            Some(f) => e.filter(f).build()?,
                        };
                        let name = unique(a.name(), &agg_names);
                        agg_names.insert(name.clone(), ());
                        agg_exprs.push(e.alias(&name));
                        continue;
                    }
                    AggKind::MaxTs => max(ts.clone()),
                    AggKind::MinTs => min(ts.clone()),
                    AggKind::Count => count_all().unalias(),
                    AggKind::SumAmount => sum(ident("amount")),
                    AggKind::SumQuantity => sum(ident("quantity")),
                    AggKind::SumEarned => sum(ident("points_earned")),
                    AggKind::SumRedeemed => sum(ident("points_redeemed")),
                };
                with_filter(base, filter)?
            };
            let name = unique(a.name(), &agg_names);
            agg_names.insert(name.clone(), ());
            agg_exprs.push(e.alias(&name));
        }
        let mut input = PlanBuilder::from(catalog.transactions.clone());
        if let Some(f) = scan_filter {
            input = input.filter(f)?;
        }
        // Lines of customers who cannot be members are dropped before aggregating, by semi
        // joins with the customers meeting the hints' conditions. Not with ranks, which rank
        // every customer.
        // Several key sets are intersected first (per-customer rows), so that the lines go
        // through one semi join with the fewest keys.
        if ranked.is_empty() {
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
            if let Some(keys) = keys {
                input = keys.join(
                    input.build()?,
                    JoinType::RightSemi,
                    (
                        vec![qcol("__keys0", "customer_id")],
                        vec![Column::from_name("customer_id")],
                    ),
                )?;
            }
        }
        if !anchors.is_empty() {
            // The first purchase (at each scope) on every line of its customer: one window
            // node, partitioned by customer, before any aggregation.
            let firsts = anchors
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
            let b = input.window(firsts)?;
            let columns = b.schema().columns();
            let lines = columns.len() - anchors.len();
            let cols = columns.into_iter().enumerate().map(|(i, c)| {
                if i < lines {
                    Expr::Column(c)
                } else {
                    Expr::Column(c).alias(anchor_column(&anchors[i - lines]))
                }
            });
            input = b.project(cols)?;
        }
        if let Some(sets) = grouping_sets {
            input = input.aggregate_sets(sets, stage1)?;
        } else if has_receipt {
            input = input.aggregate(receipt_keys, stage1)?;
        }
        let agg_name = |a: &Agg| -> String {
            let i = aggs.iter().position(|x| x == a).expect("aggregate planned");
            match &agg_exprs[i] {
                Expr::Alias(al) => al.name.clone(),
                _ => unreachable!("aggregates are aliased"),
            }
        };
        let mut agg_plan = input.aggregate(vec![ident("customer_id")], agg_exprs.clone())?;
        // Members of lapsed stages bought last at least so many days ago. Not with ranks,
        // which rank every customer.
        let lapsed = hints
            .lapsed
            .iter()
            .filter(|_| ranked.is_empty())
            .map(|(scope, d)| {
                ident(agg_name(&Agg::lifecycle(AggKind::MaxTs, scope)))
                    .lt_eq(window_start(as_of, *d))
            });
        if let Some(f) = lapsed.reduce(Expr::and) {
            agg_plan = agg_plan.filter(f)?;
        }
        let agg_plan = agg_plan.build()?;
        let agg_type = |a: &Agg| -> DataType {
            agg_plan
                .schema()
                .field_with_unqualified_name(&agg_name(a))
                .map(|f| f.data_type().clone())
                .unwrap_or(DataType::Int64)
        };

        // 3. Join customers where needed.
        let attrs: Vec<&String> = values
            .iter()
            .filter_map(|v| match v {
                Value::Attribute(a) => Some(a),
                _ => None,
            })
            .collect();
        // Asked for only when needed: an unread customers table is then read.
        let join = if !never_empty {
            catalog.customers().map(|c| (c, JoinType::Full))
        } else if !attrs.is_empty() {
            catalog.customers().map(|c| (c, JoinType::Left))
        } else {
            None
        };
        let p = |name: &str| -> Expr {
            if join.is_some() {
                qual("p", name)
            } else {
                ident(name)
            }
        };
        // Where attributes are read: the customers table, or the profile itself when the
        // merge of duplicate ids follows the join.
        let mut attr_rel = "c";
        let (builder, id_expr) = match join {
            None => (PlanBuilder::from(agg_plan.clone()), ident("customer_id")),
            Some((merged_table, jt)) => {
                // With a left join, the customers' rows are joined before their duplicate ids
                // are merged, so that only the profile's customers are merged (a selective
                // segment's few thousand, not the whole table): the join, then one group per
                // profile row, each attribute its largest value among the customer's rows as
                // in the merged table.
                let rows = catalog.customer_rows().filter(|_| jt == JoinType::Left);
                let mut ccols = vec![ident("customer_id")];
                ccols.extend(attrs.iter().map(|a| ident(a.as_str())));
                // The whole base holds the customers known as of the date: a customer without
                // a purchase who signed up after it is not one yet.
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
                let mut b = PlanBuilder::from(agg_plan.clone()).alias("p")?.join(
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
                if rows.is_some() {
                    let group = agg_plan.schema().fields().iter().map(|f| p(f.name()));
                    let merged = attrs.iter().map(|a| max(c_col(a)).alias(a.as_str()));
                    b = b.aggregate(group, merged)?.alias("p")?;
                    attr_rel = "p";
                }
                let id = if jt == JoinType::Full {
                    coalesce(vec![p("customer_id"), c_col("customer_id")])
                } else {
                    p("customer_id")
                };
                (b, id)
            }
        };

        // 4. One column per value.
        let days_since =
            |e: Expr| lit(as_of_days) - cast(cast(e, DataType::Int32), DataType::Int64);
        let zero_if_null = |a: &Agg| -> Expr {
            let zero = ScalarValue::new_zero(&agg_type(a)).unwrap_or(ScalarValue::Int64(Some(0)));
            coalesce(vec![p(&agg_name(a)), lit(zero)])
        };
        let mut names = HashMap::new();
        let mut taken = BTreeMap::new();
        taken.insert("customer_id".to_string(), ());
        let mut proj = vec![id_expr.alias("customer_id")];
        for v in values {
            let e = match v {
                Value::Rfm(_)
                | Value::Abc(_)
                | Value::Percentile(_)
                | Value::TopRank(_)
                | Value::Population(_) => unreachable!("ranks are added after the profile"),
                Value::Attribute(a) => qual(attr_rel, a.as_str()),
                Value::Lifecycle(scope) => {
                    let t = catalog.lifecycle_for(scope);
                    // With a lapsed-stage hint, the last purchase stands in for the first:
                    // members bought `at_risk_days` (>= `new_days`) or more ago, so neither
                    // reads `new` for them.
                    let first_kind = if hints.local.contains_key(v) {
                        AggKind::MaxTs
                    } else {
                        AggKind::MinTs
                    };
                    let first = p(&agg_name(&Agg::lifecycle(first_kind, scope)));
                    let recency = days_since(p(&agg_name(&Agg::lifecycle(AggKind::MaxTs, scope))));
                    when(first.clone().is_null(), lit("prospect"))
                        .when(days_since(first).lt(lit(t.new_days as i64)), lit("new"))
                        .when(
                            recency.clone().lt(lit(t.at_risk_days as i64)),
                            lit("active"),
                        )
                        .when(
                            recency.clone().lt(lit(t.churned_days as i64)),
                            lit("at_risk"),
                        )
                        .when(recency.lt(lit(t.lost_days as i64)), lit("churned"))
                        .otherwise(lit("lost"))?
                }
                Value::Metric(m) | Value::SinceFirst(m) => {
                    let from_first = matches!(v, Value::SinceFirst(_));
                    let of = |k| Agg::of_value(k, m, from_first);
                    match &m.kind {
                        MetricKind::Recency => days_since(p(&agg_name(&of(AggKind::MaxTs)))),
                        MetricKind::Tenure => days_since(p(&agg_name(&of(AggKind::MinTs)))),
                        MetricKind::LastPurchase => p(&agg_name(&of(AggKind::MaxTs))),
                        MetricKind::FirstPurchase => p(&agg_name(&of(AggKind::MinTs))),
                        MetricKind::Frequency | MetricKind::Bought { .. } => {
                            zero_if_null(&of(AggKind::Count))
                        }
                        MetricKind::Monetary | MetricKind::Spend { .. } => {
                            zero_if_null(&of(AggKind::SumAmount))
                        }
                        MetricKind::Items => zero_if_null(&of(AggKind::SumQuantity)),
                        MetricKind::PointsEarned => zero_if_null(&of(AggKind::SumEarned)),
                        MetricKind::PointsRedeemed => zero_if_null(&of(AggKind::SumRedeemed)),
                        MetricKind::Distinct(d) => zero_if_null(&of(AggKind::Distinct(*d))),
                        MetricKind::Activity => {
                            let days = m.window.unwrap_or(1).max(1) as f64;
                            cast(zero_if_null(&of(AggKind::Days)), DataType::Float64) / lit(days)
                        }
                        MetricKind::PointsBalance => {
                            zero_if_null(&of(AggKind::SumEarned))
                                - zero_if_null(&of(AggKind::SumRedeemed))
                        }
                        MetricKind::Contacts { .. } => unreachable!("contacts come from messages"),
                        MetricKind::AvgCheck => {
                            let sum_a = of(AggKind::SumAmount);
                            let n = zero_if_null(&of(AggKind::Count));
                            let amount_type = agg_type(&sum_a);
                            let out_type = match amount_type {
                                DataType::Decimal128(_, s) => DataType::Decimal128(38, s),
                                _ => DataType::Float64,
                            };
                            let divisor = match &out_type {
                                DataType::Decimal128(..) => {
                                    cast(n.clone(), DataType::Decimal128(20, 0))
                                }
                                _ => cast(n.clone(), DataType::Float64),
                            };
                            when(n.eq(lit(0i64)), lit(ScalarValue::try_from(&out_type)?))
                                .otherwise(cast(p(&agg_name(&sum_a)) / divisor, out_type))?
                        }
                    }
                }
            };
            let name = unique(v.column_name(), &taken);
            taken.insert(name.clone(), ());
            proj.push(e.alias(&name));
            names.insert(v.clone(), name);
        }
        let mut plan = builder.project(proj)?.build()?;
        if !contacts.is_empty() {
            plan = join_contacts(catalog, plan, &contacts, &mut names, &mut taken)?;
        }
        if !ranked.is_empty() {
            let always_active = |v: &Value| match v {
                Value::Metric(m) => positive.contains(&Agg::of(AggKind::Count, m)),
                _ => false,
            };
            plan = rank(
                catalog,
                plan,
                &ranked,
                &always_active,
                &mut names,
                &mut taken,
            )?;
        }
        Ok(Profile { plan, names, as_of })
    }

    /// The predicate as a boolean expression over the profile's columns; never NULL.
    pub fn condition(&self, p: &Pred) -> Expr {
        self.truth(p, Truth::Definite)
    }

    /// The predicate as a filter: true for the rows kept, false or NULL for the others.
    ///
    /// A filter drops a row where its predicate is NULL as where it is false, and `and` and
    /// `or` keep that equivalence, so outside `not` a comparison on a value that can be
    /// missing needs no `coalesce(_, false)`. Without it, DataFusion no longer evaluates each
    /// such comparison twice (`e IS NOT NULL AND e`, its simplification of the coalesce).
    pub fn filter_condition(&self, p: &Pred) -> Expr {
        self.truth(p, Truth::NullIsFalse)
    }

    fn truth(&self, p: &Pred, truth: Truth) -> Expr {
        match p {
            Pred::And(ps) => ps
                .iter()
                .map(|p| self.truth(p, truth))
                .reduce(Expr::and)
                .unwrap_or(lit(true)),
            Pred::Or(ps) => ps
                .iter()
                .map(|p| self.truth(p, truth))
                .reduce(Expr::or)
                .unwrap_or(lit(false)),
            Pred::Not(p) => !self.truth(p, Truth::Definite),
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
                self.not_null(value, e, truth)
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
                self.not_null(value, e, truth)
            }
            Pred::Top { metric, n } => {
                let rank = ident(&self.names[&Value::TopRank(metric.clone())]);
                let e = match n {
                    TopN::Count(c) => rank.lt_eq(lit(*c as i64)),
                    TopN::Basis(bp) => {
                        let active = ident(&self.names[&Value::Population(metric.clone())]);
                        // rank <= ceil(bp / 10000 * active), in integers.
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
                self.not_null(value, e, truth)
            }
        }
    }

    /// Conditions on values that can be missing are false where the value is missing.
    fn not_null(&self, v: &Value, e: Expr, truth: Truth) -> Expr {
        let nullable = match v {
            Value::Rfm(_)
            | Value::Abc(_)
            | Value::Percentile(_)
            | Value::TopRank(_)
            | Value::Population(_) => true,
            Value::Metric(m) | Value::SinceFirst(m) => m.kind.nullable(),
            Value::Attribute(_) => true,
            Value::Lifecycle(_) => false,
        };
        if nullable { definite(e, truth) } else { e }
    }
}

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

fn windowed(kind: MetricKind, days: u64) -> Value {
    windowed_at(kind, days, &[])
}

fn windowed_at(kind: MetricKind, days: u64, scope: &[String]) -> Value {
    Value::Metric(Metric {
        kind,
        window: Some(days),
        scope: scope.to_vec(),
    })
}

/// The metrics RFM scores and ABC tiers are computed from.
fn ranking_inputs(catalog: &Catalog, ranked: &[Value]) -> Vec<Value> {
    let r = catalog.ranking;
    let mut out = Vec::new();
    if ranked.iter().any(|v| matches!(v, Value::Rfm(_))) {
        out.push(windowed(MetricKind::Recency, r.rfm_window));
        out.push(windowed(MetricKind::Frequency, r.rfm_window));
        out.push(windowed(MetricKind::Monetary, r.rfm_window));
    }
    for v in ranked {
        if let Value::Abc(scope) = v {
            out.push(windowed_at(MetricKind::Frequency, r.abc_window, scope));
            out.push(windowed_at(MetricKind::Monetary, r.abc_window, scope));
        }
    }
    for v in ranked {
        if let Value::Percentile(m) | Value::TopRank(m) | Value::Population(m) = v {
            out.push(Value::Metric(m.clone()));
            out.push(active_metric(m));
        }
    }
    out
}

/// Purchases in the metric's window at its partners: a customer is active for the metric
/// when there is at least one.
fn active_metric(m: &Metric) -> Value {
    Value::Metric(Metric {
        kind: MetricKind::Frequency,
        window: m.window,
        scope: m.scope.clone(),
    })
}

/// Adds RFM scores and ABC tiers: window functions over the whole per-customer table (ties
/// broken by customer id), so every customer is ranked against every other.
///
/// Active customers (a purchase in the ranking's window) are ranked apart from inactive
/// ones. Where `always_active` tells that every row has such purchases, the windows get no
/// partition key: one global order, which DataFusion sorts in parallel and merges, where a
/// key would send every row to one partition and one thread.
fn rank(
    catalog: &Catalog,
    profile: LogicalPlan,
    ranked: &[Value],
    always_active: &dyn Fn(&Value) -> bool,
    names: &mut HashMap<Value, String>,
    taken: &mut BTreeMap<String, ()>,
) -> Result<LogicalPlan> {
    use datafusion::functions_window::expr_fn::ntile;
    use datafusion::logical_expr::{
        WindowFrame, WindowFrameBound, WindowFrameUnits, WindowFunctionDefinition,
        expr::WindowFunction,
    };
    let r = catalog.ranking;
    let known = names.clone();
    let col = |v: &Value| ident(&known[v]);
    let id = ident("customer_id");
    // The partition key of a ranking whose activity is `freq > 0`.
    let partition = |freq: &Value, active: &Expr| -> Vec<Expr> {
        if always_active(freq) {
            vec![]
        } else {
            vec![active.clone()]
        }
    };
    let mut windows = Vec::new();
    let mut keys: Vec<String> = Vec::new();
    let mut active_r = None;
    if ranked.iter().any(|v| matches!(v, Value::Rfm(_))) {
        let rec = col(&windowed(MetricKind::Recency, r.rfm_window));
        let freq_value = windowed(MetricKind::Frequency, r.rfm_window);
        let freq = col(&freq_value);
        let mon = col(&windowed(MetricKind::Monetary, r.rfm_window));
        let active = freq.clone().gt(lit(0i64));
        let by_active = partition(&freq_value, &active);
        // Only the scores read: `rfm.r` alone needs one window (one sort), not three.
        let needs = |p: RfmPart| {
            ranked.iter().any(|v| {
                matches!(v, Value::Rfm(q) if *q == p || matches!(q, RfmPart::Code | RfmPart::Segment))
            })
        };
        for (name, by, asc, part) in [
            ("__rfm_r", rec, false, RfmPart::R),
            ("__rfm_f", freq, true, RfmPart::F),
            ("__rfm_m", mon, true, RfmPart::M),
        ] {
            if !needs(part) {
                continue;
            }
            windows.push(
                ntile(lit(5i64))
                    .partition_by(by_active.clone())
                    .order_by(vec![by.sort(asc, true), id.clone().sort(true, true)])
                    .build()?,
            );
            keys.push(name.to_string());
        }
        active_r = Some(active);
    }
    // ABC tiers, per partner scope.
    let mut abc: Vec<(Vec<String>, String, String, Expr)> = Vec::new();
    for v in ranked {
        let Value::Abc(scope) = v else { continue };
        if abc.iter().any(|x| &x.0 == scope) {
            continue;
        }
        let k = abc.len();
        let freq_value = windowed_at(MetricKind::Frequency, r.abc_window, scope);
        let freq = col(&freq_value);
        let mon = col(&windowed_at(MetricKind::Monetary, r.abc_window, scope));
        let active = freq.gt(lit(0i64));
        let by_active = partition(&freq_value, &active);
        let sum_of = |e: Expr| {
            Expr::from(WindowFunction::new(
                WindowFunctionDefinition::AggregateUDF(
                    datafusion::functions_aggregate::sum::sum_udaf(),
                ),
                vec![e],
            ))
        };
        windows.push(
            sum_of(mon.clone())
                .partition_by(by_active.clone())
                .order_by(vec![
                    mon.clone().sort(false, true),
                    id.clone().sort(true, true),
                ])
                .window_frame(WindowFrame::new_bounds(
                    WindowFrameUnits::Rows,
                    WindowFrameBound::Preceding(ScalarValue::UInt64(None)),
                    WindowFrameBound::Preceding(ScalarValue::UInt64(Some(1))),
                ))
                .build()?,
        );
        let (before, total) = (format!("__abc_before_{k}"), format!("__abc_total_{k}"));
        keys.push(before.clone());
        windows.push(sum_of(mon).partition_by(by_active).build()?);
        keys.push(total.clone());
        abc.push((scope.clone(), before, total, active));
    }
    // Percentiles, top ranks and active counts, per metric.
    let mut per_metric: Vec<(Metric, String, String, String)> = Vec::new();
    for v in ranked {
        if let Value::Percentile(m) | Value::TopRank(m) | Value::Population(m) = v {
            if per_metric.iter().any(|x| &x.0 == m) {
                continue;
            }
            let k = per_metric.len();
            let value = col(&Value::Metric(m.clone()));
            let active = col(&active_metric(m)).gt(lit(0i64));
            let by_active = partition(&active_metric(m), &active);
            let count_of = |e: Expr| {
                Expr::from(WindowFunction::new(
                    WindowFunctionDefinition::AggregateUDF(
                        datafusion::functions_aggregate::count::count_udaf(),
                    ),
                    vec![e],
                ))
            };
            let (rk, rn, n) = (
                format!("__rank_{k}"),
                format!("__rownum_{k}"),
                format!("__n_{k}"),
            );
            windows.push(
                datafusion::functions_window::expr_fn::rank()
                    .partition_by(by_active.clone())
                    .order_by(vec![value.clone().sort(true, true)])
                    .build()?,
            );
            keys.push(rk.clone());
            windows.push(
                datafusion::functions_window::expr_fn::row_number()
                    .partition_by(by_active.clone())
                    .order_by(vec![value.sort(false, false), id.clone().sort(true, true)])
                    .build()?,
            );
            keys.push(rn.clone());
            windows.push(count_of(lit(1i64)).partition_by(by_active).build()?);
            keys.push(n.clone());
            per_metric.push((m.clone(), rk, rn, n));
        }
    }
    let mut cols: Vec<Expr> = profile
        .schema()
        .fields()
        .iter()
        .map(|f| ident(f.name()))
        .collect();
    // One Window node per function (each has its own ordering), its result renamed at once.
    let mut plan = profile;
    for (key, window) in keys.iter().zip(windows) {
        let b = PlanBuilder::from(plan).window(vec![window])?;
        let fields = b.schema().fields().clone();
        let (last, before) = fields.split_last().expect("the window adds a column");
        let mut proj: Vec<Expr> = before.iter().map(|f| ident(f.name())).collect();
        proj.push(ident(last.name()).alias(key.as_str()));
        plan = b.project(proj)?.build()?;
    }
    let w = |k: &str| ident(k);
    let score = |n: &str| cast(w(n), DataType::Int64);
    for v in ranked {
        let e = match v {
            Value::Rfm(part) => {
                let active = active_r.clone().expect("rfm windows planned");
                let number = score("__rfm_r") * lit(100i64)
                    + score("__rfm_f") * lit(10i64)
                    + score("__rfm_m");
                let code = cast(number.clone(), DataType::Utf8);
                let value = match part {
                    RfmPart::R => score("__rfm_r"),
                    RfmPart::F => score("__rfm_f"),
                    RfmPart::M => score("__rfm_m"),
                    RfmPart::Code => code,
                    RfmPart::Segment => {
                        let mut case: Option<
                            datafusion::logical_expr::conditional_expressions::CaseBuilder,
                        > = None;
                        // The segments' codes as numbers: no text per customer and branch.
                        for (name, codes) in RFM_SEGMENTS {
                            let numbers = codes
                                .iter()
                                .map(|c| lit(c.parse::<i64>().expect("RFM codes are digits")))
                                .collect();
                            let cond = number.clone().in_list(numbers, false);
                            case = Some(match case {
                                None => when(cond, lit(name)),
                                Some(mut c) => c.when(cond, lit(name)),
                            });
                        }
                        case.expect("segments exist").end()?
                    }
                };
                when(active, value).end()?
            }
            Value::Abc(scope) => {
                let (_, before, total, active) = abc
                    .iter()
                    .find(|x| &x.0 == scope)
                    .expect("abc windows planned");
                let active = active.clone();
                let before = coalesce(vec![w(before), lit(0i64)]);
                let total = w(total);
                when(!active, lit(ScalarValue::Utf8(None)))
                    .when(total.clone().lt_eq(lit(0i64)), lit("C"))
                    .when(
                        (before.clone() * lit(100i64)).lt(total.clone() * lit(r.a_share as i64)),
                        lit("A"),
                    )
                    .when(
                        (before * lit(100i64)).lt(total * lit((r.a_share + r.b_share) as i64)),
                        lit("B"),
                    )
                    .otherwise(lit("C"))?
            }
            Value::Percentile(m) | Value::TopRank(m) | Value::Population(m) => {
                let (_, rk, rn, n) = per_metric
                    .iter()
                    .find(|x| &x.0 == m)
                    .expect("windows planned for the metric");
                let active = col(&active_metric(m)).gt(lit(0i64));
                let as_i64 = |k: &str| cast(ident(k), DataType::Int64);
                let value = match v {
                    Value::Percentile(_) => {
                        cast((as_i64(rk) - lit(1i64)) * lit(100i64), DataType::Float64)
                            / cast(as_i64(n), DataType::Float64)
                    }
                    Value::TopRank(_) => as_i64(rn),
                    _ => as_i64(n),
                };
                when(active, value).end()?
            }
            _ => continue,
        };
        let name = unique(v.column_name(), taken);
        taken.insert(name.clone(), ());
        cols.push(e.alias(&name));
        names.insert(v.clone(), name);
    }
    PlanBuilder::from(plan).project(cols)?.build()
}

/// Adds one column per `contacts` value: messages per customer from the communications
/// table, aggregated once and joined to the profile.
fn join_contacts(
    catalog: &Catalog,
    profile: LogicalPlan,
    contacts: &[Value],
    names: &mut HashMap<Value, String>,
    taken: &mut BTreeMap<String, ()>,
) -> Result<LogicalPlan> {
    let Some(comms) = catalog.communications() else {
        return datafusion::common::plan_err!("contacts need the communications table");
    };
    let as_of = catalog.as_of;
    let ts = ident("ts");
    let widest = contacts
        .iter()
        .map(|v| match v {
            Value::Metric(m) => m.window,
            _ => None,
        })
        .try_fold(0u64, |acc, w| w.map(|w| acc.max(w)));
    let mut scan_filter = ident("customer_id")
        .is_not_null()
        .and(ts.clone().lt_eq(date_lit(as_of)));
    if let Some(w) = widest {
        scan_filter = scan_filter.and(ts.clone().gt(window_start(as_of, w)));
    }
    let mut aggs = Vec::new();
    for (k, v) in contacts.iter().enumerate() {
        let Value::Metric(Metric {
            kind: MetricKind::Contacts { channel },
            window,
            ..
        }) = v
        else {
            continue;
        };
        let mut filters = Vec::new();
        if let Some(w) = window
            && Some(*w) != widest
        {
            filters.push(ts.clone().gt(window_start(as_of, *w)));
        }
        if let Some(c) = channel {
            filters.push(ident("channel").eq(lit(c.as_str())));
        }
        let e = match filters.into_iter().reduce(Expr::and) {
            None => count_all().unalias(),
            Some(f) => count_all().unalias().filter(f).build()?,
        };
        aggs.push(e.alias(format!("__m{k}")));
    }
    let messages = PlanBuilder::from(comms.clone())
        .filter(scan_filter)?
        .aggregate(vec![ident("customer_id")], aggs)?
        .alias("m")?
        .build()?;
    let mut cols: Vec<Expr> = profile
        .schema()
        .fields()
        .iter()
        .map(|f| qual("q", f.name()).alias(f.name()))
        .collect();
    for (k, v) in contacts.iter().enumerate() {
        let name = unique(v.column_name(), taken);
        taken.insert(name.clone(), ());
        let n = qual("m", format!("__m{k}"));
        cols.push(coalesce(vec![n, lit(0i64)]).alias(&name));
        names.insert(v.clone(), name);
    }
    PlanBuilder::from(profile)
        .alias("q")?
        .join(
            messages,
            JoinType::Left,
            (
                vec![qcol("q", "customer_id")],
                vec![qcol("m", "customer_id")],
            ),
        )?
        .project(cols)?
        .build()
}

/// Month-day keys (`month * 100 + day`) of the next `days` days from `as_of` (included),
/// with 229 wherever 28 February of a non-leap year is among them.
pub fn upcoming_keys(as_of: NaiveDate, days: u64) -> Vec<u32> {
    use chrono::Datelike;
    let mut keys = std::collections::BTreeSet::new();
    for i in 0..days.min(366) {
        let Some(d) = as_of.checked_add_days(chrono::Days::new(i)) else {
            break;
        };
        keys.insert(d.month() * 100 + d.day());
        if d.month() == 2 && d.day() == 28 && !d.leap_year() {
            keys.insert(229);
        }
    }
    keys.into_iter().collect()
}

/// Lines whose `dimension` (partner, category, ...) is one of `values`.
fn one_of(dimension: Dimension, values: &[String]) -> Expr {
    let list = values.iter().map(|v| lit(v.as_str())).collect();
    ident(dimension.column()).in_list(list, false)
}

/// Lines of known customers up to the as-of date, and within the last `days` if given.
/// Conditions the data's statistics prove true for every line are left out (none may remain).
fn purchases_in(catalog: &Catalog, days: Option<u64>) -> Option<Expr> {
    let (as_of, facts) = (catalog.as_of, catalog.facts);
    let ts = ident("ts");
    let mut conds = Vec::new();
    if !facts.ids_present {
        conds.push(ident("customer_id").is_not_null());
    }
    let (earliest, latest) = facts.dates.unzip();
    if latest.is_none_or(|d| d > as_of) {
        conds.push(ts.clone().lt_eq(date_lit(as_of)));
    }
    if let Some(days) = days {
        let start = start_date(as_of, days);
        if earliest.is_none_or(|d| d <= start) {
            conds.push(ts.gt(date_lit(start)));
        }
    }
    conds.into_iter().reduce(Expr::and)
}

/// The day before a window of `days` days ending on the as-of date.
fn start_date(as_of: NaiveDate, days: u64) -> NaiveDate {
    let days = days.min(1_000_000) as i64;
    as_of
        .checked_sub_signed(chrono::Duration::days(days))
        .unwrap_or(NaiveDate::MIN)
}

fn window_start(as_of: NaiveDate, days: u64) -> Expr {
    date_lit(start_date(as_of, days))
}

fn unique(base: String, taken: &BTreeMap<String, ()>) -> String {
    if !taken.contains_key(&base) {
        return base;
    }
    (2..)
        .map(|i| format!("{base}_{i}"))
        .find(|n| !taken.contains_key(n))
        .expect("some suffix is free")
}

/// A constant as a literal. Numbers stay exact: integers as Int64, others as decimals.
pub(crate) fn const_expr(c: &Const) -> Expr {
    match c {
        Const::Number(n) => lit(number_scalar(n)),
        Const::Days(d) => lit(*d as i64),
        Const::Text(t) => lit(t.as_str()),
        Const::Date(d) => date_lit(*d),
        Const::Bool(b) => lit(*b),
        Const::Stage(s) => lit(s.name()),
    }
}

/// Parses a number literal into an exact scalar.
pub fn number_scalar(n: &str) -> ScalarValue {
    if !n.contains('.')
        && let Ok(i) = n.parse::<i64>()
    {
        return ScalarValue::Int64(Some(i));
    }
    let (neg, digits) = match n.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, n),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let all = format!("{int}{frac}");
    match all.parse::<i128>() {
        Ok(v) => {
            let scale = frac.len() as i8;
            let precision =
                (all.trim_start_matches('0').len().max(scale as usize + 1)).min(38) as u8;
            ScalarValue::Decimal128(Some(if neg { -v } else { v }), precision, scale)
        }
        Err(_) => ScalarValue::Float64(n.parse().ok()),
    }
}

/// Three-valued truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tri {
    True,
    False,
    Unknown,
}

/// Could a customer without any purchase satisfy `p`? (Attributes are unknown.)
fn empty_profile(p: &Pred) -> Tri {
    match p {
        Pred::And(ps) => ps
            .iter()
            .fold(Tri::True, |acc, p| match (acc, empty_profile(p)) {
                (Tri::False, _) | (_, Tri::False) => Tri::False,
                (Tri::Unknown, _) | (_, Tri::Unknown) => Tri::Unknown,
                _ => Tri::True,
            }),
        Pred::Or(ps) => ps
            .iter()
            .fold(Tri::False, |acc, p| match (acc, empty_profile(p)) {
                (Tri::True, _) | (_, Tri::True) => Tri::True,
                (Tri::Unknown, _) | (_, Tri::Unknown) => Tri::Unknown,
                _ => Tri::False,
            }),
        Pred::Not(p) => match empty_profile(p) {
            Tri::True => Tri::False,
            Tri::False => Tri::True,
            Tri::Unknown => Tri::Unknown,
        },
        Pred::Upcoming { .. } => Tri::Unknown,
        Pred::Top { .. } => Tri::False,
        Pred::Cmp { value, .. } | Pred::In { value, .. } | Pred::Between { value, .. } => {
            match value {
                Value::Attribute(_)
                | Value::Metric(Metric {
                    kind: MetricKind::Contacts { .. },
                    ..
                }) => Tri::Unknown,
                _ => {
                    if crate::reference::eval_leaf_on_empty(p) {
                        Tri::True
                    } else {
                        Tri::False
                    }
                }
            }
        }
    }
}
