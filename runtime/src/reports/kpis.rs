//! Program KPIs per period (and partner, store or customer attribute), as a loyalty team
//! reports them: members, new and active members, turnover of members and of every receipt,
//! card penetration, average checks, checks per active member, items per check, the
//! activity coefficient, and the inflow and churn of the flows report. Every formula is in
//! `docs/kpis.md`.
//!
//! Unlike every other report, receipts without a customer id count here: as receipts of
//! non-members (they belong to no customer everywhere else).

use super::flows::{Every, FlowsSpec, flows, periods};
use crate::engine::Engine;
use crate::error::RuntimeError;
use crate::{EngineOptions, Project};
use chrono::NaiveDate;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::error::ArrowError;
use datafusion::functions_aggregate::expr_fn::{count, count_distinct, min, sum};
use datafusion::logical_expr::{
    Expr, JoinType, LogicalPlan, LogicalPlanBuilder, cast as cast_expr, col, ident, lit, when,
};
use segql_compiler::CompileError;
use segql_compiler::lower::date_lit;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// What the rows are split by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum By {
    /// The partner of each receipt line.
    Partner,
    /// The store of each receipt line.
    Store,
    /// A customer attribute (members only: receipts without a card have no attribute).
    Attribute(String),
}

impl By {
    /// The column name in the output.
    pub fn name(&self) -> &str {
        match self {
            By::Partner => "partner",
            By::Store => "store",
            By::Attribute(a) => a,
        }
    }

    /// True for a split by a column of the transactions (every receipt has a value).
    fn of_lines(&self) -> bool {
        matches!(self, By::Partner | By::Store)
    }
}

/// What to compute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KpiSpec {
    /// The period length.
    pub every: Every,
    /// The first day covered.
    pub from: NaiveDate,
    /// The last day covered.
    pub to: NaiveDate,
    /// The split, if any.
    pub by: Option<By>,
    /// Members restricted to a segment: its members as of each period's end, one set per
    /// period of [`periods`](super::flows::periods) (not with a split).
    pub segment: Option<Vec<BTreeSet<String>>>,
}

/// An exact amount of money: a decimal's unscaled value and scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Money {
    /// The unscaled value.
    pub units: i128,
    /// Digits after the point.
    pub scale: u32,
}

impl Money {
    /// As a float, for ratios.
    pub fn as_f64(&self) -> f64 {
        self.units as f64 / 10f64.powi(self.scale as i32)
    }
}

impl std::fmt::Display for Money {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = 10i128.pow(self.scale);
        let sign = if self.units < 0 { "-" } else { "" };
        let (int, frac) = (self.units.abs() / p, self.units.abs() % p);
        if self.scale == 0 {
            write!(f, "{sign}{int}")
        } else {
            write!(f, "{sign}{int}.{frac:0w$}", w = self.scale as usize)
        }
    }
}

/// One period's (and group's) KPIs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KpiRow {
    /// `2026-03`, `2026-Q1` or `2026-W05`.
    pub period: String,
    /// Its first day (the report's first day for the first period).
    pub start: NaiveDate,
    /// Its last day (the report's last day for the last period).
    pub end: NaiveDate,
    /// The group's value (`None` without a split, or for receipts without the column).
    pub group: Option<String>,
    /// Customers known as of `end`.
    pub members: i64,
    /// Customers whose first purchase (in the group) falls in the period.
    pub new_members: i64,
    /// Customers with a purchase in the period.
    pub active_members: i64,
    /// Turnover of receipts with a customer id.
    pub turnover_members: Money,
    /// Turnover of every receipt (`None` for a split by a customer attribute).
    pub turnover_all: Option<Money>,
    /// Receipts with a customer id.
    pub receipts_members: i64,
    /// Every receipt (`None` for a split by a customer attribute).
    pub receipts_all: Option<i64>,
    /// Items (sum of `quantity`) on members' receipts, when quantity is mapped.
    pub items_members: Option<f64>,
    /// Items on every receipt, when quantity is mapped.
    pub items_all: Option<f64>,
    /// Sum over active members of their purchase days in the period.
    pub active_days: i64,
    /// The flows report's figures for the period, when computed (overall or per partner):
    /// inflow (new in + returned) and churn (left).
    pub flows: Option<(i64, i64)>,
}

impl KpiRow {
    /// Days in the period.
    pub fn days(&self) -> i64 {
        (self.end - self.start).num_days() + 1
    }
    /// Active members / members.
    pub fn active_share(&self) -> Option<f64> {
        ratio(self.active_members as f64, self.members as f64)
    }
    /// Members' turnover / all turnover.
    pub fn member_share(&self) -> Option<f64> {
        ratio(self.turnover_members.as_f64(), self.turnover_all?.as_f64())
    }
    /// Receipts with a customer id / all receipts.
    pub fn card_penetration(&self) -> Option<f64> {
        ratio(self.receipts_members as f64, self.receipts_all? as f64)
    }
    /// Members' turnover / members' receipts.
    pub fn avg_check_members(&self) -> Option<f64> {
        ratio(self.turnover_members.as_f64(), self.receipts_members as f64)
    }
    /// Non-members' turnover / non-members' receipts.
    pub fn avg_check_non_members(&self) -> Option<f64> {
        let turnover = self.turnover_all?.as_f64() - self.turnover_members.as_f64();
        ratio(
            turnover,
            (self.receipts_all? - self.receipts_members) as f64,
        )
    }
    /// Members' receipts / active members.
    pub fn checks_per_active_member(&self) -> Option<f64> {
        ratio(self.receipts_members as f64, self.active_members as f64)
    }
    /// Items / receipts, over every receipt (members' only for a split by attribute).
    pub fn items_per_check(&self) -> Option<f64> {
        match (self.items_all, self.receipts_all) {
            (Some(i), Some(r)) => ratio(i, r as f64),
            _ => ratio(self.items_members?, self.receipts_members as f64),
        }
    }
    /// The mean over active members of (purchase days in the period / days in the period).
    pub fn activity_coefficient(&self) -> Option<f64> {
        ratio(
            self.active_days as f64,
            (self.active_members * self.days()) as f64,
        )
    }
}

fn ratio(a: f64, b: f64) -> Option<f64> {
    (b != 0.0).then(|| a / b)
}

fn plan_err(e: datafusion::error::DataFusionError) -> RuntimeError {
    CompileError::from(e).into()
}

/// The label of the period holding `ts`, over `periods`.
fn period_of(periods: &[(String, NaiveDate, NaiveDate)]) -> Expr {
    let ts = || ident("ts");
    let mut it = periods.iter();
    let (l, s, e) = it.next().expect("at least one period");
    let mut case = when(
        ts().gt_eq(date_lit(*s)).and(ts().lt_eq(date_lit(*e))),
        lit(l.as_str()),
    );
    for (l, s, e) in it {
        case = case.when(
            ts().gt_eq(date_lit(*s)).and(ts().lt_eq(date_lit(*e))),
            lit(l.as_str()),
        );
    }
    case.otherwise(lit(datafusion::scalar::ScalarValue::Utf8(None)))
        .expect("a CASE with branches")
}

/// The program KPIs of `spec`, one row per period (and group, in the order of the group's
/// values), with the engine opened as of `spec.to` from `project` and `options`.
pub async fn kpis(
    project: &Project,
    options: &EngineOptions,
    spec: &KpiSpec,
) -> Result<Vec<KpiRow>, RuntimeError> {
    if spec.from > spec.to {
        return Err(RuntimeError::Usage {
            message: format!("--from ({}) is after --to ({})", spec.from, spec.to),
            help: None,
        });
    }
    let mut engine = super::common::open_at(project, options, spec.to).await?;
    let periods = periods(spec.every, spec.from, spec.to);
    let lines = engine.transaction_lines();
    let has = |c: &str| lines.schema().field_with_unqualified_name(c).is_ok();
    let (receipts, quantity) = (has("receipt_id"), has("quantity"));
    if let Some(by) = &spec.by
        && by.of_lines()
        && !has(by.name())
    {
        return Err(RuntimeError::Usage {
            message: format!("the transactions have no `{}` column", by.name()),
            help: Some("map it in segql.toml, or split by another column".into()),
        });
    }
    let attribute = match &spec.by {
        Some(By::Attribute(a)) => {
            engine
                .read(segql_compiler::Wanted {
                    customers: true,
                    communications: false,
                })
                .await?;
            let Some(customers) = engine.catalog.customers().cloned() else {
                return Err(RuntimeError::Usage {
                    message: format!("--by {a}: the project has no customers table"),
                    help: Some("split by partner or store, or configure [customers]".into()),
                });
            };
            if customers.schema().field_with_unqualified_name(a).is_err() {
                let names: Vec<String> = customers
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .filter(|n| n != "customer_id")
                    .collect();
                return Err(RuntimeError::Usage {
                    message: format!("the customers table has no attribute `{a}`"),
                    help: Some(format!("its attributes: {}", names.join(", "))),
                });
            }
            Some((a.clone(), customers))
        }
        _ => None,
    };
    let member = || {
        let id = ident("customer_id");
        let text = lines
            .schema()
            .field_with_unqualified_name("customer_id")
            .is_ok_and(|f| {
                matches!(
                    f.data_type(),
                    DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
                )
            });
        if text {
            id.clone().is_not_null().and(id.not_eq(lit("")))
        } else {
            id.is_not_null()
        }
    };
    let group = || match &spec.by {
        Some(by) if by.of_lines() => cast_expr(ident(by.name()), DataType::Utf8),
        _ => lit(datafusion::scalar::ScalarValue::Utf8(None)),
    };
    // The lines with their period, group and membership; a split by attribute takes the
    // member's attribute from the customers table.
    let in_range = ident("ts")
        .gt_eq(date_lit(spec.from))
        .and(ident("ts").lt_eq(date_lit(spec.to)));
    let mut cols = vec![
        period_of(&periods).alias("period"),
        group().alias("grp"),
        member().alias("member"),
        cast_expr(ident("customer_id"), DataType::Utf8).alias("customer_id"),
        if receipts {
            cast_expr(ident("receipt_id"), DataType::Utf8)
        } else {
            lit(datafusion::scalar::ScalarValue::Utf8(None))
        }
        .alias("receipt_id"),
        ident("amount"),
        ident("ts"),
    ];
    if quantity {
        cols.push(cast_expr(ident("quantity"), DataType::Float64).alias("quantity"));
    }
    let mut b = LogicalPlanBuilder::from(lines.clone())
        .filter(in_range)
        .and_then(|b| b.project(cols))
        .map_err(plan_err)?;
    if let Some((a, customers)) = &attribute {
        b = with_attribute(b, customers, a, "grp")?;
    }
    if let Some(sets) = &spec.segment {
        if spec.by.is_some() {
            return Err(RuntimeError::Usage {
                message: "a segment's KPIs are not split by partner, store or attribute".into(),
                help: Some("leave out --by, or split the whole program's KPIs".into()),
            });
        }
        b = in_segment(b, &periods, sets)?;
    }
    let lines_in = b.build().map_err(plan_err)?;

    // Receipts, turnover and items per period, group and membership: lines rolled up into
    // receipts first (a line without a receipt id is a receipt of its own).
    let mut per_receipt = vec![
        count(lit(1)).alias("lines"),
        sum(ident("amount")).alias("amount"),
    ];
    let mut per_group = vec![
        sum(when(ident("receipt_id").is_null(), ident("lines"))
            .otherwise(lit(1i64))
            .map_err(plan_err)?)
        .alias("receipts"),
        sum(ident("amount")).alias("turnover"),
    ];
    if quantity {
        per_receipt.push(sum(ident("quantity")).alias("quantity"));
        per_group.push(sum(ident("quantity")).alias("items"));
    }
    let receipts_plan = LogicalPlanBuilder::from(lines_in.clone())
        .aggregate(
            vec![
                ident("period"),
                ident("grp"),
                ident("member"),
                ident("customer_id"),
                ident("receipt_id"),
            ],
            per_receipt,
        )
        .and_then(|b| {
            b.aggregate(
                vec![ident("period"), ident("grp"), ident("member")],
                per_group,
            )
        })
        .and_then(|b| b.build())
        .map_err(plan_err)?;
    // Active members and their purchase days.
    let active_plan = LogicalPlanBuilder::from(lines_in)
        .filter(ident("member"))
        .and_then(|b| {
            b.aggregate(
                vec![ident("period"), ident("grp"), ident("customer_id")],
                vec![count_distinct(ident("ts")).alias("days")],
            )
        })
        .and_then(|b| {
            b.aggregate(
                vec![ident("period"), ident("grp")],
                vec![
                    count(lit(1)).alias("active"),
                    sum(ident("days")).alias("days"),
                ],
            )
        })
        .and_then(|b| b.build())
        .map_err(plan_err)?;
    // Each member's first purchase (in the group) up to `to`, and, without a split by line
    // column, the customers' sign-up dates: known = the earlier of the two.
    let mut first = LogicalPlanBuilder::from(lines.clone())
        .filter(ident("ts").lt_eq(date_lit(spec.to)).and(member()))
        .and_then(|b| {
            b.project(vec![
                group().alias("grp"),
                cast_expr(ident("customer_id"), DataType::Utf8).alias("customer_id"),
                ident("ts"),
            ])
        })
        .and_then(|b| {
            b.aggregate(
                vec![ident("grp"), ident("customer_id")],
                vec![min(ident("ts")).alias("first")],
            )
        })
        .map_err(plan_err)?;
    let by_lines = spec.by.as_ref().is_some_and(By::of_lines);
    let known = if by_lines {
        first
            .project(vec![
                ident("grp"),
                ident("first"),
                ident("first").alias("known"),
            ])
            .and_then(|b| b.build())
            .map_err(plan_err)?
    } else {
        first = first
            .project(vec![ident("customer_id"), ident("first")])
            .map_err(plan_err)?;
        known_members(
            &mut engine,
            first.build().map_err(plan_err)?,
            attribute.as_ref(),
        )
        .await?
    };
    let known_plan = LogicalPlanBuilder::from(known)
        .aggregate(
            vec![ident("grp"), ident("first"), ident("known")],
            vec![count(lit(1)).alias("n")],
        )
        .and_then(|b| b.build())
        .map_err(plan_err)?;

    // Collect.
    let scale = match lines
        .schema()
        .field_with_unqualified_name("amount")
        .map(|f| f.data_type().clone())
    {
        Ok(DataType::Decimal128(_, s)) => s.max(0) as u32,
        _ => 2,
    };
    let mut acc = Rows {
        periods: &periods,
        by_attribute: matches!(spec.by, Some(By::Attribute(_))),
        quantity,
        scale,
        rows: BTreeMap::new(),
    };
    let index: HashMap<&str, usize> = periods
        .iter()
        .enumerate()
        .map(|(i, (l, _, _))| (l.as_str(), i))
        .collect();
    let period_index = |p: &Option<String>| p.as_deref().and_then(|p| index.get(p)).copied();
    for b in engine.collect(receipts_plan).await? {
        let (period, grp) = (strings(&b, 0)?, strings(&b, 1)?);
        let member = b.column(2).as_boolean().clone();
        let (receipts, turnover) = (ints(&b, 3)?, money(&b, 4, scale)?);
        let items = if quantity { Some(floats(&b, 5)?) } else { None };
        for r in 0..b.num_rows() {
            let Some(i) = period_index(&period[r]) else {
                continue;
            };
            let is_member = member.is_valid(r) && member.value(r);
            if !is_member && acc.by_attribute {
                continue;
            }
            let k = acc.row(i, grp[r].clone());
            let item = items.as_ref().map(|x| x[r]);
            if is_member {
                k.receipts_members += receipts[r];
                k.turnover_members.units += turnover[r];
                if let (Some(t), Some(x)) = (k.items_members.as_mut(), item) {
                    *t += x;
                }
            }
            if let Some(a) = k.receipts_all.as_mut() {
                *a += receipts[r];
            }
            if let Some(t) = k.turnover_all.as_mut() {
                t.units += turnover[r];
            }
            if let (Some(t), Some(x)) = (k.items_all.as_mut(), item) {
                *t += x;
            }
        }
    }
    for b in engine.collect(active_plan).await? {
        let (period, grp) = (strings(&b, 0)?, strings(&b, 1)?);
        let (active, days) = (ints(&b, 2)?, ints(&b, 3)?);
        for r in 0..b.num_rows() {
            if let Some(i) = period_index(&period[r]) {
                let k = acc.row(i, grp[r].clone());
                k.active_members += active[r];
                k.active_days += days[r];
            }
        }
    }
    // Members known by each period's end, and new members in each period.
    let mut known: Vec<Known> = Vec::new();
    for b in engine.collect(known_plan).await? {
        let grp = strings(&b, 0)?;
        let (first, when_known) = (dates(&b, 1)?, dates(&b, 2)?);
        let n = ints(&b, 3)?;
        for r in 0..b.num_rows() {
            known.push((grp[r].clone(), first[r], when_known[r], n[r]));
        }
    }
    let groups: Vec<Option<String>> = {
        let mut g: Vec<Option<String>> = known.iter().map(|k| k.0.clone()).collect();
        g.extend(acc.rows.keys().map(|k| k.1.clone()));
        g.sort();
        g.dedup();
        g
    };
    if let Some(sets) = &spec.segment {
        // The segment's members as of each period's end; new: their first purchase in it.
        let first = first_purchases(&engine, &lines, spec.to, member()).await?;
        for (i, (_, start, end)) in periods.iter().enumerate() {
            let set = &sets[i];
            let k = acc.row(i, None);
            k.members = set.len() as i64;
            k.new_members = set
                .iter()
                .filter(|id| first.get(*id).is_some_and(|d| d >= start && d <= end))
                .count() as i64;
        }
        return Ok(acc.rows.into_values().collect());
    }
    for (i, (_, start, end)) in periods.iter().enumerate() {
        for g in &groups {
            let members: i64 = known
                .iter()
                .filter(|k| &k.0 == g && k.2.is_none_or(|d| d <= *end))
                .map(|k| k.3)
                .sum();
            let new: i64 = known
                .iter()
                .filter(|k| &k.0 == g && k.1.is_some_and(|d| d >= *start && d <= *end))
                .map(|k| k.3)
                .sum();
            if members == 0 && new == 0 && !acc.rows.contains_key(&(i, g.clone())) {
                continue;
            }
            let k = acc.row(i, g.clone());
            k.members = members;
            k.new_members = new;
        }
    }
    // Inflow and churn: the flows report's, overall or per partner.
    let flows_of = |partner: Option<String>| FlowsSpec {
        every: spec.every,
        from: spec.from,
        to: spec.to,
        partner,
    };
    match &spec.by {
        None => {
            for (i, f) in flows(project, options, &flows_of(None))
                .await?
                .into_iter()
                .enumerate()
            {
                acc.row(i, None).flows = Some((f.new_in + f.returned, f.left));
            }
        }
        Some(By::Partner) => {
            for g in groups.iter().flatten() {
                let rows = flows(project, options, &flows_of(Some(g.clone()))).await?;
                for (i, f) in rows.into_iter().enumerate() {
                    if let Some(k) = acc.rows.get_mut(&(i, Some(g.clone()))) {
                        k.flows = Some((f.new_in + f.returned, f.left));
                    }
                }
            }
        }
        Some(_) => {}
    }
    Ok(acc.rows.into_values().collect())
}

/// Members of a group with the same first purchase and known date: (group, first purchase,
/// known date, how many).
type Known = (Option<String>, Option<NaiveDate>, Option<NaiveDate>, i64);

/// The rows being filled, by period and group.
struct Rows<'a> {
    periods: &'a [(String, NaiveDate, NaiveDate)],
    by_attribute: bool,
    quantity: bool,
    scale: u32,
    rows: BTreeMap<(usize, Option<String>), KpiRow>,
}

impl Rows<'_> {
    /// The row of period `i` and group `g`, made empty if new.
    fn row(&mut self, i: usize, g: Option<String>) -> &mut KpiRow {
        let (period, start, end) = self.periods[i].clone();
        let all = !self.by_attribute;
        let money = Money {
            units: 0,
            scale: self.scale,
        };
        self.rows.entry((i, g.clone())).or_insert_with(|| KpiRow {
            period,
            start,
            end,
            group: g,
            turnover_members: money,
            turnover_all: all.then_some(money),
            receipts_all: all.then_some(0),
            items_members: self.quantity.then_some(0.0),
            items_all: (self.quantity && all).then_some(0.0),
            ..Default::default()
        })
    }
}

/// `b` with `member` true only for the lines of the segment's members of their period
/// (`sets`, one per period).
fn in_segment(
    b: LogicalPlanBuilder,
    periods: &[(String, NaiveDate, NaiveDate)],
    sets: &[BTreeSet<String>],
) -> Result<LogicalPlanBuilder, RuntimeError> {
    use datafusion::datasource::{MemTable, provider_as_source};
    let (mut labels, mut ids) = (Vec::new(), Vec::new());
    for ((label, _, _), set) in periods.iter().zip(sets) {
        for id in set {
            labels.push(label.clone());
            ids.push(id.clone());
        }
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("__speriod", DataType::Utf8, false),
        Field::new("__sid", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(labels)),
            Arc::new(StringArray::from(ids)),
        ],
    )
    .map_err(|e| plan_err(e.into()))?;
    let table = MemTable::try_new(schema, vec![vec![batch]]).map_err(plan_err)?;
    let members =
        LogicalPlanBuilder::scan("segment_members", provider_as_source(Arc::new(table)), None)
            .and_then(|b| b.build())
            .map_err(plan_err)?;
    let mut out: Vec<Expr> = b
        .schema()
        .fields()
        .iter()
        .filter(|f| f.name() != "member")
        .map(|f| col(f.name().as_str()))
        .collect();
    out.push(
        ident("member")
            .and(ident("__sid").is_not_null())
            .alias("member"),
    );
    b.join(
        members,
        JoinType::Left,
        (vec!["period", "customer_id"], vec!["__speriod", "__sid"]),
        None,
    )
    .and_then(|b| b.project(out))
    .map_err(plan_err)
}

/// Each customer's first purchase up to `to`.
async fn first_purchases(
    engine: &Engine,
    lines: &LogicalPlan,
    to: NaiveDate,
    member: Expr,
) -> Result<HashMap<String, NaiveDate>, RuntimeError> {
    let plan = LogicalPlanBuilder::from(lines.clone())
        .filter(ident("ts").lt_eq(date_lit(to)).and(member))
        .and_then(|b| {
            b.aggregate(
                vec![cast_expr(ident("customer_id"), DataType::Utf8).alias("customer_id")],
                vec![min(ident("ts")).alias("first")],
            )
        })
        .and_then(|b| b.build())
        .map_err(plan_err)?;
    let mut out = HashMap::new();
    for b in engine.collect(plan).await? {
        let (ids, first) = (strings(&b, 0)?, dates(&b, 1)?);
        for (id, d) in ids.into_iter().zip(first) {
            if let (Some(id), Some(d)) = (id, d) {
                out.insert(id, d);
            }
        }
    }
    Ok(out)
}

/// `b` with the members' value of attribute `a` as column `name` (NULL for lines without a
/// customer id or a customers row).
fn with_attribute(
    b: LogicalPlanBuilder,
    customers: &LogicalPlan,
    a: &str,
    name: &str,
) -> Result<LogicalPlanBuilder, RuntimeError> {
    let attrs = LogicalPlanBuilder::from(customers.clone())
        .project(vec![
            cast_expr(ident("customer_id"), DataType::Utf8).alias("__cid"),
            cast_expr(ident(a), DataType::Utf8).alias("__attr"),
        ])
        .and_then(|b| b.build())
        .map_err(plan_err)?;
    let fields: Vec<Expr> = b
        .schema()
        .fields()
        .iter()
        .filter(|f| f.name() != name)
        .map(|f| col(f.name().as_str()))
        .collect();
    let mut out = fields;
    out.push(ident("__attr").alias(name));
    b.join(
        attrs,
        JoinType::Left,
        (vec!["customer_id"], vec!["__cid"]),
        None,
    )
    .and_then(|b| b.project(out))
    .map_err(plan_err)
}

/// Every member with the day they became known: the earlier of their first purchase and
/// their sign-up date (a customers row without either is known from the start); columns
/// `grp` (the attribute's value, or NULL), `first` and `known`.
async fn known_members(
    engine: &mut Engine,
    buyers: LogicalPlan,
    attribute: Option<&(String, LogicalPlan)>,
) -> Result<LogicalPlan, RuntimeError> {
    engine
        .read(segql_compiler::Wanted {
            customers: true,
            communications: false,
        })
        .await?;
    let null_text = || lit(datafusion::scalar::ScalarValue::Utf8(None));
    let Some(customers) = engine.catalog.customers().cloned() else {
        return LogicalPlanBuilder::from(buyers)
            .project(vec![
                null_text().alias("grp"),
                ident("first"),
                ident("first").alias("known"),
            ])
            .and_then(|b| b.build())
            .map_err(plan_err);
    };
    let has = |c: &str| customers.schema().field_with_unqualified_name(c).is_ok();
    let signup = if has("signup_date") {
        ident("signup_date")
    } else {
        lit(datafusion::scalar::ScalarValue::Date32(None))
    };
    let attr = match attribute {
        Some((a, _)) => cast_expr(ident(a.as_str()), DataType::Utf8),
        None => null_text(),
    };
    let rows = LogicalPlanBuilder::from(customers)
        .project(vec![
            cast_expr(ident("customer_id"), DataType::Utf8).alias("__cid"),
            signup.alias("__signup"),
            attr.alias("__attr"),
            lit(true).alias("__row"),
        ])
        .and_then(|b| b.build())
        .map_err(plan_err)?;
    let first = ident("first");
    let signup = ident("__signup");
    let known = when(ident("__row").is_null(), first.clone())
        .when(first.clone().is_null(), signup.clone())
        .when(signup.clone().is_null(), first.clone())
        .when(first.clone().lt_eq(signup.clone()), first.clone())
        .otherwise(signup)
        .map_err(plan_err)?;
    LogicalPlanBuilder::from(buyers)
        .join(
            rows,
            JoinType::Full,
            (vec!["customer_id"], vec!["__cid"]),
            None,
        )
        .and_then(|b| {
            b.project(vec![
                ident("__attr").alias("grp"),
                first.alias("first"),
                known.alias("known"),
            ])
        })
        .and_then(|b| b.build())
        .map_err(plan_err)
}

fn column_as(b: &RecordBatch, i: usize, t: &DataType) -> Result<ArrayRef, RuntimeError> {
    cast(b.column(i), t).map_err(|e| plan_err(e.into()))
}

fn strings(b: &RecordBatch, i: usize) -> Result<Vec<Option<String>>, RuntimeError> {
    let a = column_as(b, i, &DataType::Utf8)?;
    let a = a.as_string::<i32>();
    Ok((0..a.len())
        .map(|r| a.is_valid(r).then(|| a.value(r).to_string()))
        .collect())
}

fn ints(b: &RecordBatch, i: usize) -> Result<Vec<i64>, RuntimeError> {
    let a = column_as(b, i, &DataType::Int64)?;
    let a = a.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
    Ok((0..a.len())
        .map(|r| if a.is_valid(r) { a.value(r) } else { 0 })
        .collect())
}

fn floats(b: &RecordBatch, i: usize) -> Result<Vec<f64>, RuntimeError> {
    let a = column_as(b, i, &DataType::Float64)?;
    let a = a.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
    Ok((0..a.len())
        .map(|r| if a.is_valid(r) { a.value(r) } else { 0.0 })
        .collect())
}

fn dates(b: &RecordBatch, i: usize) -> Result<Vec<Option<NaiveDate>>, RuntimeError> {
    let a = column_as(b, i, &DataType::Date32)?;
    let a = a.as_primitive::<datafusion::arrow::datatypes::Date32Type>();
    Ok((0..a.len())
        .map(|r| {
            a.is_valid(r)
                .then(|| datafusion::arrow::temporal_conversions::date32_to_datetime(a.value(r)))
                .flatten()
                .map(|d| d.date())
        })
        .collect())
}

/// Amounts as units of `scale` (a decimal's unscaled values, rescaled if needed).
fn money(b: &RecordBatch, i: usize, scale: u32) -> Result<Vec<i128>, RuntimeError> {
    let a = column_as(b, i, &DataType::Decimal128(38, scale as i8))?;
    let a = a.as_primitive::<datafusion::arrow::datatypes::Decimal128Type>();
    Ok((0..a.len())
        .map(|r| if a.is_valid(r) { a.value(r) } else { 0 })
        .collect())
}

/// The report as one record batch, every figure a column: counts, amounts as exact
/// decimals (text), shares as fractions rounded to 4 decimals, averages rounded to 2.
pub fn to_batch(rows: &[KpiRow], by: Option<&By>) -> Result<RecordBatch, ArrowError> {
    let text = |v: Vec<Option<String>>| -> (DataType, ArrayRef) {
        (DataType::Utf8, Arc::new(StringArray::from(v)))
    };
    let int = |f: &dyn Fn(&KpiRow) -> Option<i64>| -> (DataType, ArrayRef) {
        (
            DataType::Int64,
            Arc::new(Int64Array::from(rows.iter().map(f).collect::<Vec<_>>())),
        )
    };
    let round = |digits: i32, f: &dyn Fn(&KpiRow) -> Option<f64>| -> (DataType, ArrayRef) {
        let p = 10f64.powi(digits);
        (
            DataType::Float64,
            Arc::new(Float64Array::from(
                rows.iter()
                    .map(|r| f(r).map(|x| (x * p).round() / p))
                    .collect::<Vec<_>>(),
            )),
        )
    };
    let mut columns: Vec<(&str, (DataType, ArrayRef))> = vec![
        (
            "period",
            text(rows.iter().map(|r| Some(r.period.clone())).collect()),
        ),
        (
            "start",
            text(rows.iter().map(|r| Some(r.start.to_string())).collect()),
        ),
        (
            "end",
            text(rows.iter().map(|r| Some(r.end.to_string())).collect()),
        ),
    ];
    if let Some(by) = by {
        columns.push((
            by.name(),
            text(rows.iter().map(|r| r.group.clone()).collect()),
        ));
    }
    columns.extend([
        ("members", int(&|r| Some(r.members))),
        ("new_members", int(&|r| Some(r.new_members))),
        ("active_members", int(&|r| Some(r.active_members))),
        ("active_share", round(4, &KpiRow::active_share)),
        (
            "turnover_members",
            text(
                rows.iter()
                    .map(|r| Some(r.turnover_members.to_string()))
                    .collect(),
            ),
        ),
        (
            "turnover_all",
            text(
                rows.iter()
                    .map(|r| r.turnover_all.map(|m| m.to_string()))
                    .collect(),
            ),
        ),
        ("member_share", round(4, &KpiRow::member_share)),
        ("receipts_members", int(&|r| Some(r.receipts_members))),
        ("receipts_all", int(&|r| r.receipts_all)),
        ("card_penetration", round(4, &KpiRow::card_penetration)),
        ("avg_check_members", round(2, &KpiRow::avg_check_members)),
        (
            "avg_check_non_members",
            round(2, &KpiRow::avg_check_non_members),
        ),
        (
            "checks_per_active_member",
            round(2, &KpiRow::checks_per_active_member),
        ),
        ("items_per_check", round(2, &KpiRow::items_per_check)),
        (
            "activity_coefficient",
            round(4, &KpiRow::activity_coefficient),
        ),
        ("inflow", int(&|r| r.flows.map(|f| f.0))),
        ("churn", int(&|r| r.flows.map(|f| f.1))),
        ("balance", int(&|r| r.flows.map(|f| f.0 - f.1))),
    ]);
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = columns
        .into_iter()
        .map(|(name, (t, a))| (Field::new(name, t, true), a))
        .unzip();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
}
