//! `segql measure`: a campaign's snapshots against their control groups. For each snapshot
//! (taken on day S) and its response window of N days (S + 1 to S + N), every member's
//! response, revenue and purchases in the window are computed with the language's own
//! plans (the response condition as of S + N; `monetary` and `frequency within N` as of
//! S + N), over purchases up to the data's as-of date; breakdowns by a value as of S. The
//! figures and their statistics (`stats`) are then computed per group in plain Rust.

pub mod stats;

use crate::engine::Engine;
use crate::error::RuntimeError;
use crate::snapshots::SnapshotInfo;
use chrono::{Days, NaiveDate};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::ident;
use segql_compiler::catalog::{Catalog, SnapshotTable};
use segql_compiler::ir::{Metric, MetricKind, Response, RfmPart, Value};
use segql_compiler::lower::{PerCustomer, responders, response_catalog};
use stats::{Interval, Summary};
use std::collections::{BTreeMap, HashMap, HashSet};

/// The confidence level of every interval.
pub const LEVEL: f64 = 0.95;
/// The significance level and power the minimum detectable uplift is computed for.
pub const MDE_ALPHA: f64 = 0.05;
/// See [`MDE_ALPHA`].
pub const MDE_POWER: f64 = 0.8;

/// What a measurement is broken down by: each member's value as of the snapshot date.
#[derive(Debug, Clone, PartialEq)]
pub enum By {
    /// Lifecycle stage.
    Lifecycle,
    /// Named RFM segment.
    RfmSegment,
    /// ABC tier.
    Abc,
    /// Partner: responders who bought at the partner in the window, revenue there.
    Partner,
    /// A customer attribute.
    Attribute(String),
}

impl By {
    /// Parses `lifecycle`, `rfm_segment`, `abc`, `partner` or an attribute's name.
    pub fn parse(s: &str) -> By {
        match s {
            "lifecycle" => By::Lifecycle,
            "rfm_segment" | "rfm" => By::RfmSegment,
            "abc" => By::Abc,
            "partner" => By::Partner,
            a => By::Attribute(a.to_string()),
        }
    }

    /// The name of the breakdown column.
    pub fn name(&self) -> &str {
        match self {
            By::Lifecycle => "lifecycle",
            By::RfmSegment => "rfm_segment",
            By::Abc => "abc",
            By::Partner => "partner",
            By::Attribute(a) => a,
        }
    }
}

/// One group's figures over the response window.
#[derive(Debug, Clone, Default)]
pub struct Group {
    /// Members.
    pub members: u64,
    /// Members who responded.
    pub responders: u64,
    /// Revenue of all members in the window, in the amount's smallest unit.
    pub revenue: i128,
    /// Purchases of all members in the window.
    pub purchases: u64,
    /// Revenue of the responders.
    pub responder_revenue: i128,
    /// Purchases of the responders.
    pub responder_purchases: u64,
    /// Revenue per member (every member, zero for those who bought nothing).
    pub revenue_per_member: Summary,
}

impl Group {
    /// Responders / members.
    pub fn response_rate(&self) -> Option<f64> {
        (self.members > 0).then(|| self.responders as f64 / self.members as f64)
    }
}

/// The effect of the campaign: test against control.
#[derive(Debug, Clone, Default)]
pub struct Effect {
    /// Response rate, test minus control (a share, 0.031 = 3.1 points).
    pub uplift: Option<f64>,
    /// Its interval (Newcombe's hybrid score interval).
    pub uplift_ci: Option<Interval>,
    /// Two-sided p-value of the difference (pooled two-proportion z test).
    pub p_value: Option<f64>,
    /// Relative uplift: test rate / control rate - 1.
    pub relative: Option<f64>,
    /// Its interval (Katz's log risk-ratio interval).
    pub relative_ci: Option<Interval>,
    /// Revenue per member, test minus control (in currency units).
    pub revenue_uplift: Option<f64>,
    /// Its interval (Welch's t).
    pub revenue_ci: Option<Interval>,
    /// Two-sided p-value of the revenue difference (Welch's t test).
    pub revenue_p_value: Option<f64>,
    /// Responders the campaign added: uplift x test members, with its interval.
    pub incremental_responders: Option<(f64, Option<Interval>)>,
    /// Revenue the campaign added: revenue uplift x test members, with its interval.
    pub incremental_revenue: Option<(f64, Option<Interval>)>,
    /// The group sizes against the configured control share.
    pub sample_ratio: Option<stats::SampleRatio>,
    /// The smallest uplift of the response rate the groups could detect (80% power, 5%).
    pub mde: Option<f64>,
    /// The same for revenue per member.
    pub revenue_mde: Option<f64>,
}

/// One line of a measurement: a snapshot, all members or one breakdown value.
#[derive(Debug, Clone)]
pub struct Line {
    /// The snapshot's date.
    pub snapshot: NaiveDate,
    /// The breakdown value (`None`: all members).
    pub key: Option<String>,
    /// The test group.
    pub test: Group,
    /// The control group.
    pub control: Group,
    /// Test against control.
    pub effect: Effect,
}

/// A whole measurement.
#[derive(Debug, Clone)]
pub struct Measurement {
    /// The campaign.
    pub campaign: String,
    /// The response, as written.
    pub response: String,
    /// Days in the response window.
    pub days: u64,
    /// The amount's decimal places (revenue is in units of 10^-scale).
    pub scale: u32,
    /// The data's as-of date.
    pub as_of: NaiveDate,
    /// Per snapshot: the days of its window without data (measured with `--partial`).
    pub missing_days: Vec<(NaiveDate, i64)>,
    /// The configured control share of each snapshot, in percent, when known.
    pub holdouts: Vec<(NaiveDate, Option<f64>)>,
    /// What the lines are broken down by.
    pub by: Option<By>,
    /// The lines: per snapshot, all members first, then each breakdown value.
    pub lines: Vec<Line>,
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct Request {
    /// The campaign.
    pub campaign: String,
    /// Its response.
    pub response: std::sync::Arc<Response>,
    /// The response as written, for the report.
    pub response_text: String,
    /// The snapshots, oldest first.
    pub snapshots: Vec<SnapshotInfo>,
    /// The breakdown.
    pub by: Option<By>,
    /// Measure windows that run past the data.
    pub partial: bool,
}

/// One member's window: responded, revenue and purchases (per breakdown key for partners).
#[derive(Debug, Default, Clone)]
struct Outcome {
    revenue: i128,
    purchases: u64,
}

/// Measures the request's snapshots.
pub async fn measure(engine: &Engine, req: &Request) -> Result<Measurement, RuntimeError> {
    let catalog = &engine.catalog;
    let days = req.response.days;
    let mut out = Measurement {
        campaign: req.campaign.clone(),
        response: req.response_text.clone(),
        days,
        scale: 2,
        as_of: catalog.as_of,
        missing_days: Vec::new(),
        holdouts: Vec::new(),
        by: req.by.clone(),
        lines: Vec::new(),
    };
    if let Some(By::Attribute(a)) = &req.by
        && catalog.attribute(a).is_none()
    {
        let known: Vec<String> = catalog.attributes().into_iter().map(|(n, _)| n).collect();
        return Err(RuntimeError::Usage {
            message: format!("cannot break down by `{a}`: it is no attribute of the customers"),
            help: Some(format!(
                "--by takes lifecycle, rfm_segment, abc, partner or an attribute{}",
                if known.is_empty() {
                    String::new()
                } else {
                    format!(": {}", known.join(", "))
                }
            )),
        });
    }
    for snap in &req.snapshots {
        let taken = snap.file.as_of;
        let end = taken
            .checked_add_days(Days::new(days))
            .unwrap_or(NaiveDate::MAX);
        if taken >= catalog.as_of {
            return Err(RuntimeError::CannotMeasure {
                message: format!(
                    "the snapshot of `{}` as of {taken} has no day of data after it (the data ends on {})",
                    req.campaign, catalog.as_of
                ),
                help: "responses are purchases after the snapshot date: measure once the data covers the window".into(),
            });
        }
        if end > catalog.as_of {
            let missing = (end - catalog.as_of).num_days();
            if !req.partial {
                return Err(RuntimeError::PartialWindow {
                    campaign: req.campaign.clone(),
                    as_of: taken.to_string(),
                    missing,
                    plural: if missing == 1 { "" } else { "s" },
                    end: end.to_string(),
                    data_end: catalog.as_of.to_string(),
                });
            }
            out.missing_days.push((taken, missing));
        }
        if snap.test == 0 || snap.control == 0 {
            let (empty, other) = if snap.control == 0 {
                ("control", "test")
            } else {
                ("test", "control")
            };
            return Err(RuntimeError::CannotMeasure {
                message: format!(
                    "the snapshot of `{}` as of {taken} has no member in its {empty} group ({} in the {other} group)",
                    req.campaign,
                    snap.members()
                ),
                help: "an effect is a comparison of the two groups: give the campaign a holdout (e.g. `holdout 10%`) before the send, or import the audience with its control group".into(),
            });
        }
        out.holdouts.push((taken, snap.holdout));
        let lines = measure_snapshot(engine, req, snap, &mut out.scale).await?;
        out.lines.extend(lines);
    }
    Ok(out)
}

/// The plan of a snapshot's rows.
fn snapshot_table<'a>(catalog: &'a Catalog, snap: &SnapshotInfo) -> Option<&'a SnapshotTable> {
    catalog
        .snapshots
        .iter()
        .find(|t| t.campaign == snap.file.campaign && t.as_of == snap.file.as_of)
}

/// A money column as units of 10^-scale (the decimal's own scale).
fn money(batch: &RecordBatch, i: usize) -> Result<(Vec<i128>, u32), RuntimeError> {
    let col = batch.column(i);
    let scale = match col.data_type() {
        DataType::Decimal128(_, s) | DataType::Decimal64(_, s) | DataType::Decimal32(_, s) => {
            (*s).max(0) as u32
        }
        _ => 2,
    };
    let col = cast(col, &DataType::Decimal128(38, scale as i8))
        .map_err(|e| RuntimeError::data("reading revenue", e.into()))?;
    let d = col.as_primitive::<datafusion::arrow::datatypes::Decimal128Type>();
    Ok((
        (0..d.len())
            .map(|i| if d.is_valid(i) { d.value(i) } else { 0 })
            .collect(),
        scale,
    ))
}

fn counts(batch: &RecordBatch, i: usize) -> Result<Vec<u64>, RuntimeError> {
    let col = cast(batch.column(i), &DataType::Int64)
        .map_err(|e| RuntimeError::data("reading purchases", e.into()))?;
    let d = col.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
    Ok((0..d.len())
        .map(|i| {
            if d.is_valid(i) {
                d.value(i).max(0) as u64
            } else {
                0
            }
        })
        .collect())
}

/// Column `i` as text (ids, breakdown values, groups).
fn texts(batch: &RecordBatch, i: usize) -> Result<Vec<Option<String>>, RuntimeError> {
    let col = cast(batch.column(i), &DataType::Utf8)
        .map_err(|e| RuntimeError::data("reading the measurement", e.into()))?;
    let s = col.as_string::<i32>();
    Ok((0..s.len())
        .map(|i| s.is_valid(i).then(|| s.value(i).to_string()))
        .collect())
}

/// `customer_id` and the columns of `values`, one row per customer of a [`PerCustomer`]
/// table (every customer of the base with `full_base`).
async fn by_customer(
    engine: &Engine,
    catalog: &Catalog,
    values: &[Value],
    full_base: bool,
) -> Result<Vec<RecordBatch>, RuntimeError> {
    let plan = PerCustomer::build(catalog, values, full_base)
        .and_then(|table| {
            let mut cols = vec![ident("customer_id")];
            cols.extend(values.iter().map(|v| ident(&table.names[v])));
            datafusion::logical_expr::LogicalPlanBuilder::from(table.plan)
                .project(cols)?
                .build()
        })
        .map_err(|e| RuntimeError::data("planning the measurement", e))?;
    engine.collect(plan).await
}

/// Revenue and purchases in the window of `scope` (all partners when empty), per customer.
async fn outcomes(
    engine: &Engine,
    window: &Catalog,
    days: u64,
    scopes: &[Vec<String>],
    scale: &mut u32,
) -> Result<Vec<HashMap<String, Outcome>>, RuntimeError> {
    let mut values = Vec::new();
    for scope in scopes {
        for kind in [MetricKind::Monetary, MetricKind::Frequency] {
            values.push(Value::Metric(Metric {
                kind,
                window: Some(days),
                scope: scope.clone(),
            }));
        }
    }
    let mut out = vec![HashMap::new(); scopes.len()];
    for batch in by_customer(engine, window, &values, false).await? {
        let ids = texts(&batch, 0)?;
        for (k, map) in out.iter_mut().enumerate() {
            let (revenue, s) = money(&batch, 1 + 2 * k)?;
            *scale = s;
            let purchases = counts(&batch, 2 + 2 * k)?;
            for (i, id) in ids.iter().enumerate() {
                if let Some(id) = id
                    && (revenue[i] != 0 || purchases[i] != 0)
                {
                    map.insert(
                        id.clone(),
                        Outcome {
                            revenue: revenue[i],
                            purchases: purchases[i],
                        },
                    );
                }
            }
        }
    }
    Ok(out)
}

/// Each customer's breakdown value as of `taken`.
async fn keys(
    engine: &Engine,
    by: &By,
    taken: NaiveDate,
) -> Result<HashMap<String, String>, RuntimeError> {
    let mut c = engine.catalog.clone();
    c.as_of = taken;
    let value = match by {
        By::Lifecycle => Value::Lifecycle(vec![]),
        By::RfmSegment => Value::Rfm(RfmPart::Segment),
        By::Abc => Value::Abc(vec![]),
        By::Attribute(a) => Value::Attribute(a.clone()),
        By::Partner => unreachable!("partners are scopes of the window's purchases"),
    };
    if matches!(value, Value::Attribute(_)) && c.customers().is_none() {
        return Ok(HashMap::new());
    }
    let mut out = HashMap::new();
    for batch in by_customer(engine, &c, std::slice::from_ref(&value), true).await? {
        let ids = texts(&batch, 0)?;
        let vals = texts(&batch, 1)?;
        for (id, v) in ids.into_iter().zip(vals) {
            if let (Some(id), Some(v)) = (id, v) {
                out.insert(id, v);
            }
        }
    }
    Ok(out)
}

/// The partners of the data, sorted.
async fn partners(engine: &Engine) -> Result<Vec<String>, RuntimeError> {
    if !engine.catalog.has_tx_column("partner") {
        return Err(RuntimeError::Usage {
            message: "cannot break down by partner: the transactions have no `partner` column"
                .into(),
            help: Some("map one under [transactions.columns] in segql.toml".into()),
        });
    }
    engine.tx_values("partner").await
}

/// The lines of one snapshot.
async fn measure_snapshot(
    engine: &Engine,
    req: &Request,
    snap: &SnapshotInfo,
    scale: &mut u32,
) -> Result<Vec<Line>, RuntimeError> {
    let catalog = &engine.catalog;
    let taken = snap.file.as_of;
    let table = snapshot_table(catalog, snap).ok_or_else(|| RuntimeError::NoSnapshot {
        message: format!("the snapshot {} was not read", snap.file.path.display()),
        help: "check the snapshot directory".into(),
    })?;
    // The members as the engine reads them (ids in the transactions' type), so that they
    // meet their responses and purchases by the same id.
    let mut members = Vec::new();
    for batch in engine.collect(table.plan.clone()).await? {
        let groups = texts(&batch, 1)?;
        for (id, group) in texts(&batch, 0)?.into_iter().zip(groups) {
            if let Some(id) = id {
                members.push((id, group.as_deref() == Some("test")));
            }
        }
    }
    // Who responded.
    let plan = responders(catalog, table, &req.response)
        .map_err(|e| RuntimeError::data("planning the responses", e))?;
    let mut responded = HashSet::new();
    for batch in engine.collect(plan).await? {
        responded.extend(texts(&batch, 0)?.into_iter().flatten());
    }
    // Revenue and purchases in the window, everywhere and (for `--by partner`) per partner.
    let window = response_catalog(catalog, taken, req.response.days)
        .map_err(|e| RuntimeError::data("planning the window", e))?;
    let partner_names = match req.by {
        Some(By::Partner) => partners(engine).await?,
        _ => Vec::new(),
    };
    let mut scopes = vec![Vec::new()];
    scopes.extend(partner_names.iter().map(|p| vec![p.clone()]));
    let outcomes = outcomes(engine, &window, req.response.days, &scopes, scale).await?;
    let keyed = match &req.by {
        Some(by) if *by != By::Partner => Some(keys(engine, by, taken).await?),
        _ => None,
    };
    // Accumulate: line 0 all members; then one line per breakdown value.
    let mut lines: BTreeMap<Option<String>, (Group, Group)> = BTreeMap::new();
    let mut add = |key: Option<String>, test: bool, responded: bool, o: &Outcome, scale: u32| {
        let (t, c) = lines.entry(key).or_default();
        let g = if test { t } else { c };
        g.members += 1;
        g.revenue += o.revenue;
        g.purchases += o.purchases;
        if responded {
            g.responders += 1;
            g.responder_revenue += o.revenue;
            g.responder_purchases += o.purchases;
        }
        g.revenue_per_member
            .push(o.revenue as f64 / 10f64.powi(scale as i32));
    };
    let none = Outcome::default();
    for (id, test) in &members {
        let r = responded.contains(id);
        let o = outcomes[0].get(id).unwrap_or(&none);
        add(None, *test, r, o, *scale);
        if let Some(k) = &keyed {
            let key = k.get(id).cloned().unwrap_or_else(|| "(none)".to_string());
            add(Some(key), *test, r, o, *scale);
        }
        for (p, name) in partner_names.iter().enumerate() {
            let o = outcomes[p + 1].get(id).unwrap_or(&none);
            // A responder at a partner responded and bought there in the window.
            add(Some(name.clone()), *test, r && o.purchases > 0, o, *scale);
        }
    }
    Ok(lines
        .into_iter()
        .map(|(key, (test, control))| {
            let effect = effect(&test, &control, snap.holdout, key.is_none());
            Line {
                snapshot: taken,
                key,
                test,
                control,
                effect,
            }
        })
        .collect())
}

/// The statistics of test against control. The sample-ratio check applies to all members
/// only (a breakdown's groups are not drawn to the configured share).
fn effect(t: &Group, c: &Group, holdout: Option<f64>, whole: bool) -> Effect {
    let (xt, nt, xc, nc) = (t.responders, t.members, c.responders, c.members);
    let uplift = match (t.response_rate(), c.response_rate()) {
        (Some(a), Some(b)) => Some(a - b),
        _ => None,
    };
    let uplift_ci = stats::newcombe_difference(xt, nt, xc, nc, LEVEL);
    let welch = stats::welch(&t.revenue_per_member, &c.revenue_per_member, LEVEL);
    let n_test = nt as f64;
    let scaled = |d: Option<f64>, ci: Option<Interval>| {
        d.map(|d| {
            (
                d * n_test,
                ci.map(|i| Interval {
                    low: i.low * n_test,
                    high: i.high * n_test,
                }),
            )
        })
    };
    let revenue_uplift = welch.as_ref().map(|w| w.difference).or_else(|| {
        match (t.revenue_per_member.mean(), c.revenue_per_member.mean()) {
            (Some(a), Some(b)) => Some(a - b),
            _ => None,
        }
    });
    let revenue_ci = welch.as_ref().map(|w| w.interval);
    // A common standard deviation for the revenue MDE: the pooled one.
    let pooled_sd = match (
        t.revenue_per_member.variance(),
        c.revenue_per_member.variance(),
    ) {
        (Some(vt), Some(vc)) if nt + nc > 2 => {
            Some((((nt - 1) as f64 * vt + (nc - 1) as f64 * vc) / (nt + nc - 2) as f64).sqrt())
        }
        _ => None,
    };
    Effect {
        uplift,
        uplift_ci,
        p_value: stats::two_proportion_p_value(xt, nt, xc, nc),
        relative: match (t.response_rate(), c.response_rate()) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b - 1.0),
            _ => None,
        },
        relative_ci: stats::relative_interval(xt, nt, xc, nc, LEVEL),
        revenue_uplift,
        revenue_ci,
        revenue_p_value: welch.as_ref().map(|w| w.p_value),
        incremental_responders: scaled(uplift, uplift_ci),
        incremental_revenue: scaled(revenue_uplift, revenue_ci),
        sample_ratio: match holdout {
            Some(h) if whole => stats::sample_ratio(nt, nc, h / 100.0),
            _ => None,
        },
        mde: c
            .response_rate()
            .and_then(|p| stats::mde_proportion(p, nt, nc, MDE_ALPHA, MDE_POWER)),
        revenue_mde: pooled_sd.and_then(|sd| stats::mde_mean(sd, nt, nc, MDE_ALPHA, MDE_POWER)),
    }
}

/// Percentage points with one decimal: 0.031 -> "3.1".
fn points(x: f64) -> String {
    format!("{:.1}", x * 100.0)
}

/// The plain-words verdict of a line.
pub fn verdict(line: &Line, currency: &dyn Fn(f64) -> String) -> String {
    let e = &line.effect;
    let Some(d) = e.uplift else {
        return "no comparison: a group has no members".into();
    };
    let ci = e
        .uplift_ci
        .map(|i| format!("95% CI {} to {}", points(i.low), points(i.high)))
        .unwrap_or_else(|| "no interval".into());
    let p = e.p_value.map(format_p).unwrap_or_default();
    let direction = if d >= 0.0 { "more" } else { "less" };
    let mut s = format!(
        "test responded {} points {direction} than control ({ci}; {p})",
        points(d.abs())
    );
    let significant = e.uplift_ci.is_some_and(|i| i.low > 0.0 || i.high < 0.0);
    if significant {
        if d > 0.0 {
            s.push_str(": the campaign raised the response");
        } else {
            s.push_str(": the campaign lowered the response");
        }
    } else {
        s.push_str(": no difference the groups can tell apart");
        if let Some(m) = e.mde {
            s.push_str(&format!("; they could detect {} points or more", points(m)));
        }
    }
    if let (Some(r), Some(ci)) = (e.revenue_uplift, e.revenue_ci) {
        s.push_str(&format!(
            ". Revenue per member: {}{} (95% CI {} to {})",
            if r >= 0.0 { "+" } else { "-" },
            currency(r.abs()),
            currency_signed(ci.low, currency),
            currency_signed(ci.high, currency)
        ));
    }
    if let Some(sr) = &e.sample_ratio
        && sr.p_value < stats::SRM_ALPHA
    {
        s.push_str(&format!(
            ". WARNING: the groups' sizes do not match the holdout ({:.1}% control against {:.1}% configured, p = {}): the split is broken and the comparison cannot be trusted",
            sr.observed_control_share * 100.0,
            sr.expected_control_share * 100.0,
            format_p_value(sr.p_value)
        ));
    }
    s
}

fn currency_signed(x: f64, currency: &dyn Fn(f64) -> String) -> String {
    if x < 0.0 {
        format!("-{}", currency(-x))
    } else {
        currency(x)
    }
}

/// `p = 0.012`, `p < 0.001`.
pub fn format_p(p: f64) -> String {
    format!("p = {}", format_p_value(p)).replace("p = <", "p < ")
}

/// A p-value in three significant decimals, `<0.001` below.
pub fn format_p_value(p: f64) -> String {
    if p < 0.001 {
        "<0.001".into()
    } else {
        format!("{p:.3}")
    }
}
