//! The reference evaluator: the semantics of the language written as plain Rust over
//! in-memory rows, one customer at a time. It is slow and obvious on purpose; property tests
//! compare it with the compiled DataFusion plans on generated data.
//!
//! It repeats the semantics [`crate::lower`] implements (values, comparisons, three-valued
//! conditions) on purpose: an oracle is only worth its checks while it is independent, so it
//! calls no production code, and production code never calls it.

use crate::catalog::{LifecycleThresholds, Ranking, RfmMethod, RfmSegments};
use crate::ir::*;
use chrono::{Datelike, NaiveDate, Weekday};
use segql_grammar::ast::{CmpOp, Dimension};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// An exact decimal number: `mantissa * 10^-scale`.
#[derive(Debug, Clone, Copy)]
pub struct Dec {
    /// The digits.
    pub mantissa: i128,
    /// Digits after the point.
    pub scale: u32,
}

impl Dec {
    /// An integer.
    pub fn int(v: i128) -> Dec {
        Dec {
            mantissa: v,
            scale: 0,
        }
    }

    /// Parses `-12.50`.
    pub fn parse(s: &str) -> Option<Dec> {
        let (neg, digits) = match s.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, s),
        };
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let m: i128 = format!("{int}{frac}").parse().ok()?;
        Some(Dec {
            mantissa: if neg { -m } else { m },
            scale: frac.len() as u32,
        })
    }

    fn rescale(&self, scale: u32) -> i128 {
        self.mantissa * 10i128.pow(scale - self.scale)
    }
}

impl PartialEq for Dec {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Dec {}
impl PartialOrd for Dec {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Dec {
    fn cmp(&self, o: &Self) -> Ordering {
        let s = self.scale.max(o.scale);
        self.rescale(s).cmp(&o.rescale(s))
    }
}

/// One transaction row (canonical columns).
#[derive(Debug, Clone)]
pub struct Tx {
    /// Customer.
    pub customer_id: String,
    /// Day of purchase.
    pub ts: NaiveDate,
    /// Amount.
    pub amount: Dec,
    /// Receipt, if mapped.
    pub receipt_id: Option<String>,
    /// Quantity, if mapped.
    pub quantity: Option<Dec>,
    /// Points earned, if mapped.
    pub points_earned: Option<Dec>,
    /// Points redeemed, if mapped.
    pub points_redeemed: Option<Dec>,
    /// Dimension values.
    pub dims: BTreeMap<Dimension, String>,
}

/// A customer attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    /// Missing.
    Null,
    /// Text.
    Text(String),
    /// A number.
    Number(Dec),
    /// A date.
    Date(NaiveDate),
    /// true / false.
    Bool(bool),
}

/// One message of the communications log.
#[derive(Debug, Clone)]
pub struct Message {
    /// Customer.
    pub customer_id: String,
    /// Day sent.
    pub ts: NaiveDate,
    /// Channel.
    pub channel: String,
}

/// The in-memory data set.
#[derive(Debug, Clone, Default)]
pub struct Data {
    /// Transactions.
    pub transactions: Vec<Tx>,
    /// The communications log.
    pub messages: Vec<Message>,
    /// Customers and their attributes, when a customers table exists.
    pub customers: Option<BTreeMap<String, HashMap<String, Attr>>>,
    /// True when purchases are counted by distinct receipt.
    pub has_receipt: bool,
    /// Campaigns' snapshots.
    pub snapshots: Vec<Snapshot>,
}

/// One campaign's frozen audience.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The campaign.
    pub campaign: String,
    /// Taken as of.
    pub as_of: NaiveDate,
    /// Customer and group (`test` or `control`).
    pub rows: Vec<(String, String)>,
}

/// A per-customer value as the reference computes it.
#[derive(Debug, Clone, PartialEq)]
enum V {
    Null,
    Float(f64),
    Num(Dec),
    Date(NaiveDate),
    Text(String),
    Bool(bool),
}

/// The members of `pred` as of `as_of`.
pub fn evaluate(
    data: &Data,
    pred: &Pred,
    as_of: NaiveDate,
    lifecycle: &Thresholds,
    ranking: &Ranking,
) -> BTreeSet<String> {
    let mut by_customer: BTreeMap<&str, Vec<&Tx>> = BTreeMap::new();
    for t in &data.transactions {
        if t.ts <= as_of {
            by_customer.entry(&t.customer_id).or_default().push(t);
        }
    }
    let mut base: BTreeSet<&str> = by_customer.keys().copied().collect();
    if let Some(c) = &data.customers {
        // Customers without purchases are known once they signed up.
        base.extend(
            c.iter()
                .filter(|(_, attrs)| {
                    !matches!(attrs.get("signup_date"), Some(Attr::Date(d)) if *d > as_of)
                })
                .map(|(id, _)| id.as_str()),
        );
    }
    let empty = Vec::new();
    let ctx_of = |id: &'_ str| {
        let txs = by_customer.get(id).unwrap_or(&empty);
        let attrs = data.customers.as_ref().and_then(|c| c.get(id));
        Ctx {
            txs,
            messages: &data.messages,
            customer: "",
            attrs,
            as_of,
            lifecycle: lifecycle.clone(),
            has_receipt: data.has_receipt,
            ranks: None,
            pop: &EMPTY_POP,
            snapshots: &data.snapshots,
        }
    };
    let mut scopes = Vec::new();
    for v in pred.values() {
        if let Value::Abc(s) = v
            && !scopes.contains(&s)
        {
            scopes.push(s);
        }
    }
    let ranks = ranks(&base, &ctx_of, ranking, &scopes);
    let pop = populations(pred, &base, &ctx_of);
    base.into_iter()
        .filter(|id| {
            let txs = by_customer.get(id).unwrap_or(&empty);
            let attrs = data.customers.as_ref().and_then(|c| c.get(*id));
            let ctx = Ctx {
                pop: &pop,
                ranks: ranks.get(*id),
                txs,
                messages: &data.messages,
                customer: id,
                attrs,
                as_of,
                lifecycle: lifecycle.clone(),
                has_receipt: data.has_receipt,
                snapshots: &data.snapshots,
            };
            ctx.pred(pred)
        })
        .map(str::to_string)
        .collect()
}

struct Ctx<'a> {
    ranks: Option<&'a Ranks>,
    pop: &'a Populations,
    txs: &'a [&'a Tx],
    messages: &'a [Message],
    customer: &'a str,
    attrs: Option<&'a HashMap<String, Attr>>,
    as_of: NaiveDate,
    lifecycle: Thresholds,
    has_receipt: bool,
    snapshots: &'a [Snapshot],
}

impl Ctx<'_> {
    /// `treated`, `held_out`, `responded`: in a snapshot read (taken by the as-of date, on
    /// its date or in its window), in the role's group, and for `responded` meeting the
    /// response as of the snapshot date plus its window over purchases up to the as-of date.
    fn campaign(&self, r: &CampaignRef) -> bool {
        self.snapshots
            .iter()
            .filter(|s| s.campaign == r.campaign && s.as_of <= self.as_of)
            .filter(|s| match r.snapshots {
                Snapshots::All => true,
                Snapshots::On(d) => s.as_of == d,
                Snapshots::Within(w) => (self.as_of - s.as_of).num_days() < w as i64,
            })
            .any(|s| {
                let Some((_, group)) = s.rows.iter().find(|(id, _)| id == self.customer) else {
                    return false;
                };
                match (r.role, &r.response) {
                    (CampaignRole::Treated, _) => group == "test",
                    (CampaignRole::HeldOut, _) => group == "control",
                    (CampaignRole::Responded, None) => false,
                    (CampaignRole::Responded, Some(resp)) => {
                        let end = s.as_of + chrono::Days::new(resp.days);
                        let txs: Vec<&Tx> =
                            self.txs.iter().copied().filter(|t| t.ts <= end).collect();
                        Ctx {
                            txs: &txs,
                            as_of: end,
                            lifecycle: self.lifecycle.clone(),
                            ranks: None,
                            pop: &EMPTY_POP,
                            ..*self
                        }
                        .pred(&resp.pred)
                    }
                }
            })
    }

    fn pred(&self, p: &Pred) -> bool {
        match p {
            Pred::And(ps) => ps.iter().all(|p| self.pred(p)),
            Pred::Or(ps) => ps.iter().any(|p| self.pred(p)),
            Pred::Not(p) => !self.pred(p),
            // Comparisons as `lower::truth` and `lower::conditions` also spell them: repeated
            // on purpose, the oracle's own copy (see the module documentation).
            Pred::Cmp { value, op, rhs, .. } => {
                let v = self.value(value);
                match compare(&v, &konst(rhs)) {
                    None => false,
                    Some(o) => match op {
                        CmpOp::Lt => o == Ordering::Less,
                        CmpOp::Le => o != Ordering::Greater,
                        CmpOp::Gt => o == Ordering::Greater,
                        CmpOp::Ge => o != Ordering::Less,
                        CmpOp::Eq => o == Ordering::Equal,
                        CmpOp::Ne => o != Ordering::Equal,
                    },
                }
            }
            Pred::In {
                value,
                negated,
                list,
                ..
            } => {
                let v = self.value(value);
                if v == V::Null {
                    return false;
                }
                let found = list
                    .iter()
                    .any(|c| compare(&v, &konst(c)) == Some(Ordering::Equal));
                found != *negated
            }
            Pred::Top { metric, n } => {
                match self.pop.get(metric).and_then(|m| m.get(self.customer)) {
                    None => false,
                    Some(p) => match n {
                        TopN::Count(c) => p.row_number <= *c,
                        TopN::Basis(bp) => p.active * bp > (p.row_number - 1) * 10_000,
                    },
                }
            }
            Pred::TopScore { .. } => false,
            Pred::Upcoming { attribute, days } => {
                let Some(Attr::Date(d)) = self.attrs.and_then(|m| m.get(attribute)) else {
                    return false;
                };
                next_occurrence(*d, self.as_of)
                    .is_some_and(|next| ((next - self.as_of).num_days() as u64) < *days)
            }
            Pred::Between {
                value,
                negated,
                low,
                high,
                ..
            } => {
                let v = self.value(value);
                match (compare(&v, &konst(low)), compare(&v, &konst(high))) {
                    (Some(a), Some(b)) => {
                        let inside = a != Ordering::Less && b != Ordering::Greater;
                        inside != *negated
                    }
                    _ => false,
                }
            }
        }
    }

    fn in_window(&self, t: &Tx, w: Option<u64>) -> bool {
        match w {
            None => true,
            Some(w) => (self.as_of - t.ts).num_days() < w as i64,
        }
    }

    /// The customer's first purchase at `scope`'s partners (anywhere when empty).
    fn first_purchase(&self, scope: &[String]) -> Option<NaiveDate> {
        self.txs
            .iter()
            .filter(|t| in_scope(t, scope))
            .map(|t| t.ts)
            .min()
    }

    fn purchases<'b>(&self, txs: impl Iterator<Item = &'b Tx>) -> i128 {
        if self.has_receipt {
            // Distinct receipts; a line without a receipt id is a purchase of its own.
            let mut receipts = BTreeSet::new();
            let mut loose = 0;
            for t in txs {
                match t.receipt_id.as_deref() {
                    Some(r) => {
                        receipts.insert(r);
                    }
                    None => loose += 1,
                }
            }
            receipts.len() as i128 + loose
        } else {
            txs.count() as i128
        }
    }

    fn value(&self, v: &Value) -> V {
        match v {
            Value::Attribute(a) => match self.attrs.and_then(|m| m.get(a)) {
                None | Some(Attr::Null) => V::Null,
                Some(Attr::Text(t)) => V::Text(t.clone()),
                Some(Attr::Number(n)) => V::Num(*n),
                Some(Attr::Date(d)) => V::Date(*d),
                Some(Attr::Bool(b)) => V::Bool(*b),
            },
            Value::Lifecycle(scope) => V::Text(self.stage(scope).name().to_string()),
            Value::Campaign(r) => V::Bool(self.campaign(r)),
            // A feature, not a value of the language: checked against a computation of the
            // snapshots apart (tests/it/features.rs).
            Value::PastCampaigns(_) => V::Null,
            // Fitted models are data the generated cases do not hold; `cluster(NAME)` is
            // checked against the model's own assignment of the customers it was fitted on
            // (tests/it/models.rs).
            Value::Cluster(_) => V::Null,
            // Score models likewise: `score(NAME)` is checked against the model's own
            // probability of features computed apart (tests/it/scores.rs).
            Value::Score(_) => V::Null,
            // Look-alikes compare features the generated cases do not compute; checked
            // against a direct computation in tests/it/lookalike.rs.
            Value::Lookalike(_) => V::Null,
            Value::Rfm(part) => match self.ranks.and_then(|r| r.rfm) {
                None => V::Null,
                Some((r, f, m)) => {
                    let code = format!("{r}{f}{m}");
                    match part {
                        RfmPart::R => V::Num(Dec::int(r as i128)),
                        RfmPart::F => V::Num(Dec::int(f as i128)),
                        RfmPart::M => V::Num(Dec::int(m as i128)),
                        RfmPart::Segment => self
                            .ranks
                            .and_then(|x| x.rfm_segment.clone())
                            .map_or(V::Null, V::Text),
                        RfmPart::Code => V::Text(code),
                    }
                }
            },
            Value::Percentile(m) => match self.pop.get(m).and_then(|x| x.get(self.customer)) {
                None => V::Null,
                Some(p) => V::Float(100.0 * p.smaller as f64 / p.active as f64),
            },
            Value::TopRank(m) => match self.pop.get(m).and_then(|x| x.get(self.customer)) {
                None => V::Null,
                Some(p) => V::Num(Dec::int(p.row_number as i128)),
            },
            Value::Population(m) => match self.pop.get(m).and_then(|x| x.get(self.customer)) {
                None => V::Null,
                Some(p) => V::Num(Dec::int(p.active as i128)),
            },
            Value::Abc(scope) => self
                .ranks
                .and_then(|r| r.abc.get(scope))
                .map_or(V::Null, |t| V::Text(t.to_string())),
            Value::Metric(m) => self.metric(m),
            Value::SinceFirst(m) => self.metric_over(m, Window::FromFirst),
        }
    }

    fn stage(&self, scope: &[String]) -> Stage {
        let t = self.lifecycle.get(scope);
        let at = |t: &&&Tx| in_scope(t, scope);
        let (Some(first), Some(last)) = (
            self.txs.iter().filter(at).map(|t| t.ts).min(),
            self.txs.iter().filter(at).map(|t| t.ts).max(),
        ) else {
            return Stage::Prospect;
        };
        let tenure = (self.as_of - first).num_days();
        let recency = (self.as_of - last).num_days();
        if tenure < t.new_days as i64 {
            Stage::New
        } else if recency < t.at_risk_days as i64 {
            Stage::Active
        } else if recency < t.churned_days as i64 {
            Stage::AtRisk
        } else if recency < t.lost_days as i64 {
            Stage::Churned
        } else {
            Stage::Lost
        }
    }

    fn metric(&self, m: &Metric) -> V {
        self.metric_over(m, Window::EndingAsOf)
    }

    fn metric_over(&self, m: &Metric, window: Window) -> V {
        let w = m.window;
        let scope = &m.scope;
        // With a window from the first purchase: its days first .. first + N - 1.
        let first = match window {
            Window::EndingAsOf => None,
            Window::FromFirst => Some(self.first_purchase(scope)),
        };
        let in_window = move |t: &Tx| match first {
            None => self.in_window(t, w),
            Some(None) => false,
            Some(Some(first)) => w.is_none_or(|w| (t.ts - first).num_days() < w as i64),
        };
        let txs = move || {
            self.txs
                .iter()
                .copied()
                .filter(move |t| in_window(t) && in_scope(t, scope))
        };
        let matching = |d: &Dimension, vals: &[String]| {
            let vals: Vec<String> = vals.to_vec();
            let d = *d;
            txs().filter(move |t| t.dims.get(&d).is_some_and(|x| vals.contains(x)))
        };
        let sum = |it: &mut dyn Iterator<Item = Dec>| -> Dec {
            let items: Vec<Dec> = it.collect();
            let scale = items.iter().map(|d| d.scale).max().unwrap_or(0);
            Dec {
                mantissa: items.iter().map(|d| d.rescale(scale)).sum(),
                scale,
            }
        };
        match &m.kind {
            MetricKind::Contacts { channel } => V::Num(Dec::int(
                self.messages
                    .iter()
                    .filter(|x| x.customer_id == self.customer && x.ts <= self.as_of)
                    .filter(|x| w.is_none_or(|w| (self.as_of - x.ts).num_days() < w as i64))
                    .filter(|x| channel.as_ref().is_none_or(|c| &x.channel == c))
                    .count() as i128,
            )),
            MetricKind::Recency => txs().map(|t| t.ts).max().map_or(V::Null, |d| {
                V::Num(Dec::int((self.as_of - d).num_days() as i128))
            }),
            MetricKind::Tenure => txs().map(|t| t.ts).min().map_or(V::Null, |d| {
                V::Num(Dec::int((self.as_of - d).num_days() as i128))
            }),
            MetricKind::FirstPurchase => txs().map(|t| t.ts).min().map_or(V::Null, V::Date),
            MetricKind::LastPurchase => txs().map(|t| t.ts).max().map_or(V::Null, V::Date),
            MetricKind::Frequency => V::Num(Dec::int(self.purchases(txs()))),
            MetricKind::WeekendPurchases => {
                let weekend = |t: &&Tx| matches!(t.ts.weekday(), Weekday::Sat | Weekday::Sun);
                V::Num(Dec::int(self.purchases(txs().filter(weekend))))
            }
            MetricKind::Monetary => V::Num(sum(&mut txs().map(|t| t.amount))),
            MetricKind::Items => V::Num(sum(&mut txs().filter_map(|t| t.quantity))),
            MetricKind::PointsEarned => V::Num(sum(&mut txs().filter_map(|t| t.points_earned))),
            MetricKind::Activity => {
                // Purchase days: a receipt counts on its first line's day; lines without a
                // receipt id on their own day.
                let mut first: BTreeMap<&str, NaiveDate> = BTreeMap::new();
                let mut days = BTreeSet::new();
                for t in txs() {
                    match t.receipt_id.as_deref().filter(|_| self.has_receipt) {
                        Some(r) => {
                            let e = first.entry(r).or_insert(t.ts);
                            *e = (*e).min(t.ts);
                        }
                        None => {
                            days.insert(t.ts);
                        }
                    }
                }
                days.extend(first.values().copied());
                V::Float(days.len() as f64 / w.unwrap_or(1).max(1) as f64)
            }
            MetricKind::PointsRedeemed => V::Num(sum(&mut txs().filter_map(|t| t.points_redeemed))),
            MetricKind::PointsBalance => {
                let e = sum(&mut txs().filter_map(|t| t.points_earned));
                let r = sum(&mut txs().filter_map(|t| t.points_redeemed));
                let s = e.scale.max(r.scale);
                V::Num(Dec {
                    mantissa: e.rescale(s) - r.rescale(s),
                    scale: s,
                })
            }
            MetricKind::Bought { dimension, values } => {
                V::Num(Dec::int(self.purchases(matching(dimension, values))))
            }
            MetricKind::Distinct(d) => {
                let values: BTreeSet<&str> = txs()
                    .filter_map(|t| t.dims.get(d))
                    .map(String::as_str)
                    .filter(|v| !v.is_empty())
                    .collect();
                V::Num(Dec::int(values.len() as i128))
            }
            MetricKind::Spend { dimension, values } => {
                V::Num(sum(&mut matching(dimension, values).map(|t| t.amount)))
            }
            MetricKind::AvgCheck => {
                let n = self.purchases(txs());
                if n == 0 {
                    return V::Null;
                }
                let total = sum(&mut txs().map(|t| t.amount));
                // Rounded half away from zero to the amount's scale.
                let q = total.mantissa * 10 / n;
                let rounded = if q >= 0 { (q + 5) / 10 } else { (q - 5) / 10 };
                V::Num(Dec {
                    mantissa: rounded,
                    scale: total.scale,
                })
            }
        }
    }
}

/// Where a metric's window lies.
#[derive(Debug, Clone, Copy)]
enum Window {
    /// The days ending at the as-of date.
    EndingAsOf,
    /// The days from the customer's first purchase (at the metric's partners) on.
    FromFirst,
}

/// The first day on or after `from` with the month and day of `date` (29 February falls on
/// 28 February in other years).
fn next_occurrence(date: NaiveDate, from: NaiveDate) -> Option<NaiveDate> {
    use chrono::Datelike;
    (from.year()..=from.year() + 1).find_map(|y| {
        let d = NaiveDate::from_ymd_opt(y, date.month(), date.day())
            .or_else(|| NaiveDate::from_ymd_opt(y, 2, 28))?;
        (d >= from).then_some(d)
    })
}

/// A customer's place among the customers active for a metric.
#[derive(Debug, Clone, Copy)]
struct Place {
    /// Active customers with a smaller value.
    smaller: u64,
    /// Position by value, largest first, ties by id (1-based).
    row_number: u64,
    /// Active customers.
    active: u64,
}

type Populations = HashMap<Metric, HashMap<String, Place>>;

static EMPTY_POP: std::sync::LazyLock<Populations> = std::sync::LazyLock::new(HashMap::new);

/// Places of every active customer for every metric `pred` ranks (`percentile`, `top`).
fn populations<'a>(
    pred: &Pred,
    base: &BTreeSet<&'a str>,
    ctx_of: &dyn Fn(&'a str) -> Ctx<'a>,
) -> Populations {
    let mut metrics = Vec::new();
    fn collect(p: &Pred, out: &mut Vec<Metric>) {
        match p {
            Pred::And(ps) | Pred::Or(ps) => ps.iter().for_each(|p| collect(p, out)),
            Pred::Not(p) => collect(p, out),
            Pred::Top { metric, .. } => out.push(metric.clone()),
            Pred::Cmp {
                value: Value::Percentile(m),
                ..
            }
            | Pred::In {
                value: Value::Percentile(m),
                ..
            }
            | Pred::Between {
                value: Value::Percentile(m),
                ..
            } => out.push(m.clone()),
            _ => {}
        }
    }
    collect(pred, &mut metrics);
    let mut out = HashMap::new();
    for m in metrics {
        let active_metric = Metric {
            kind: MetricKind::Frequency,
            window: m.window,
            scope: m.scope.clone(),
        };
        let mut rows: Vec<(&str, V)> = base
            .iter()
            .filter(|id| matches!(ctx_of(id).metric(&active_metric), V::Num(n) if n > Dec::int(0)))
            .map(|id| (*id, ctx_of(id).metric(&m)))
            .collect();
        let n = rows.len() as u64;
        let key = |v: &V| match v {
            V::Num(d) => Some(*d),
            _ => None,
        };
        let dates = |v: &V| match v {
            V::Date(d) => Some(*d),
            _ => None,
        };
        let order = |a: &V, b: &V| match (key(a), key(b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => dates(a).cmp(&dates(b)),
        };
        let mut places = HashMap::new();
        for (id, v) in &rows {
            let smaller = rows
                .iter()
                .filter(|(_, w)| order(w, v) == Ordering::Less)
                .count() as u64;
            places.insert(
                id.to_string(),
                Place {
                    smaller,
                    row_number: 0,
                    active: n,
                },
            );
        }
        rows.sort_by(|a, b| order(&b.1, &a.1).then(a.0.cmp(b.0)));
        for (i, (id, _)) in rows.iter().enumerate() {
            if let Some(p) = places.get_mut(*id) {
                p.row_number = i as u64 + 1;
            }
        }
        out.insert(m, places);
    }
    out
}

/// A customer's place in the population.
#[derive(Debug, Clone, Default)]
struct Ranks {
    rfm: Option<(u64, u64, u64)>,
    /// The segment whose codes list the RFM code, if any.
    rfm_segment: Option<String>,
    /// Tier per partner scope.
    abc: BTreeMap<Vec<String>, &'static str>,
}

/// SQL NTILE: rows in order into `n` groups as equal as possible, the first `rows % n`
/// groups one row larger.
fn ntile(rows: usize, n: usize) -> Vec<u64> {
    let base = rows / n;
    let rem = rows % n;
    let mut out = Vec::with_capacity(rows);
    for g in 0..n {
        let size = base + usize::from(g < rem);
        out.extend(std::iter::repeat_n(g as u64 + 1, size));
    }
    out
}

/// The named segment listing `code` ("RFM" digits) among its codes.
fn segment_of(segments: &RfmSegments, code: &str) -> Option<String> {
    segments
        .iter()
        .find(|(_, codes)| codes.iter().any(|c| c.to_string() == code))
        .map(|(name, _)| name.to_string())
}

/// A customer active in the RFM window: id, recency, frequency, monetary.
type Active<'a> = (&'a str, Dec, Dec, Dec);

/// RFM scores and ABC tiers of every customer active in the respective window.
fn ranks<'a>(
    base: &BTreeSet<&'a str>,
    ctx_of: &dyn Fn(&'a str) -> Ctx<'a>,
    ranking: &Ranking,
    abc_scopes: &[Vec<String>],
) -> HashMap<String, Ranks> {
    let metric_at = |id: &'a str, kind: MetricKind, w: u64, scope: &[String]| -> V {
        ctx_of(id).metric(&Metric {
            kind,
            window: Some(w),
            scope: scope.to_vec(),
        })
    };
    let metric = |id: &'a str, kind: MetricKind, w: u64| metric_at(id, kind, w, &[]);
    let num = |v: V| match v {
        V::Num(d) => Some(d),
        _ => None,
    };
    let mut out: HashMap<String, Ranks> = HashMap::new();
    // RFM: recency reversed (most recent scores 5); ties by customer id.
    let w = ranking.rfm_window;
    let active: Vec<Active> = base
        .iter()
        .filter_map(|id| {
            let f = num(metric(id, MetricKind::Frequency, w))?;
            if f <= Dec::int(0) {
                return None;
            }
            Some((
                *id,
                num(metric(id, MetricKind::Recency, w))?,
                f,
                num(metric(id, MetricKind::Monetary, w))?,
            ))
        })
        .collect();
    // Each measure by its bins, else by the method.
    let score = |key: &dyn Fn(&Active) -> (Dec, bool), bins: Option<[Dec; 4]>| {
        let mut rows: Vec<&Active> = active.iter().collect();
        rows.sort_by(|a, b| {
            let (ka, desc) = key(a);
            let (kb, _) = key(b);
            let o = if desc { kb.cmp(&ka) } else { ka.cmp(&kb) };
            o.then(a.0.cmp(b.0))
        });
        let scores: Vec<u64> = match (bins, ranking.rfm_method) {
            (Some(t), _) => rows
                .iter()
                .map(|r| {
                    let (v, fewer_is_higher) = key(r);
                    let reached = t.iter().filter(|t| v > **t).count() as u64;
                    if fewer_is_higher {
                        5 - reached
                    } else {
                        1 + reached
                    }
                })
                .collect(),
            (None, RfmMethod::Quintile) => ntile(rows.len(), 5),
            (None, RfmMethod::Rank) => {
                // Rows are in order: a new distinct value starts where the key changes.
                let mut dense = Vec::with_capacity(rows.len());
                let mut d = 0u64;
                for (i, r) in rows.iter().enumerate() {
                    if i == 0 || key(r).0 != key(rows[i - 1]).0 {
                        d += 1;
                    }
                    dense.push(d);
                }
                dense.iter().map(|x| 1 + 5 * (x - 1) / d).collect()
            }
        };
        rows.iter()
            .zip(scores)
            .map(|(r, t)| (r.0, t))
            .collect::<HashMap<&str, u64>>()
    };
    let days = |b: Option<[u64; 4]>| b.map(|t| t.map(|d| Dec::int(d as i128)));
    let bins = &ranking.rfm_bins;
    let r = score(&|x| (x.1, true), days(bins.recency));
    let f = score(&|x| (x.2, false), days(bins.frequency));
    let m = score(
        &|x| (x.3, false),
        bins.monetary.as_ref().map(|t| {
            t.clone()
                .map(|d| Dec::parse(&d).expect("bins are decimals"))
        }),
    );
    for (id, ..) in &active {
        let e = out.entry(id.to_string()).or_default();
        e.rfm = Some((r[id], f[id], m[id]));
        e.rfm_segment = segment_of(
            &ranking.rfm_segments,
            &format!("{}{}{}", r[id], f[id], m[id]),
        );
    }
    // ABC: by monetary, largest first; A while the share before the customer is under A's.
    let w = ranking.abc_window;
    for scope in abc_scopes {
        let mut rows: Vec<(&str, Dec)> = base
            .iter()
            .filter_map(|id| {
                let f = num(metric_at(id, MetricKind::Frequency, w, scope))?;
                (f > Dec::int(0))
                    .then(|| num(metric_at(id, MetricKind::Monetary, w, scope)).map(|m| (*id, m)))?
            })
            .collect();
        rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let scale = rows.iter().map(|r| r.1.scale).max().unwrap_or(0);
        let total: i128 = rows.iter().map(|r| r.1.rescale(scale)).sum();
        let mut before: i128 = 0;
        for (id, m) in rows {
            let tier = if total <= 0 {
                "C"
            } else if before * 100 < total * ranking.a_share as i128 {
                "A"
            } else if before * 100 < total * (ranking.a_share + ranking.b_share) as i128 {
                "B"
            } else {
                "C"
            };
            out.entry(id.to_string())
                .or_default()
                .abc
                .insert(scope.clone(), tier);
            before += m.rescale(scale);
        }
    }
    out
}

fn in_scope(t: &Tx, scope: &[String]) -> bool {
    scope.is_empty()
        || t.dims
            .get(&Dimension::Partner)
            .is_some_and(|p| scope.contains(p))
}

/// Lifecycle thresholds: the default and those of single partners.
#[derive(Debug, Clone, Default)]
pub struct Thresholds {
    /// For all partners together and unconfigured partners.
    pub default: LifecycleThresholds,
    /// Per partner.
    pub partners: BTreeMap<String, LifecycleThresholds>,
}

impl Thresholds {
    fn get(&self, scope: &[String]) -> LifecycleThresholds {
        match scope {
            [one] => self.partners.get(one).copied().unwrap_or(self.default),
            _ => self.default,
        }
    }
}

fn konst(c: &Const) -> V {
    match c {
        Const::Number(n) => Dec::parse(n).map_or(V::Null, V::Num),
        Const::Days(d) => V::Num(Dec::int(*d as i128)),
        Const::Text(t) => V::Text(t.clone()),
        Const::Date(d) => V::Date(*d),
        Const::Bool(b) => V::Bool(*b),
        Const::Stage(s) => V::Text(s.name().to_string()),
    }
}

fn compare(a: &V, b: &V) -> Option<Ordering> {
    match (a, b) {
        (V::Num(x), V::Num(y)) => Some(x.cmp(y)),
        (V::Float(x), V::Num(y)) => {
            x.partial_cmp(&(y.mantissa as f64 / 10f64.powi(y.scale as i32)))
        }
        (V::Date(x), V::Date(y)) => Some(x.cmp(y)),
        (V::Text(x), V::Text(y)) => Some(x.cmp(y)),
        (V::Bool(x), V::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    /// The code of the crate's modules, but this one: (file, its non-comment lines).
    fn sources() -> Vec<(String, Vec<String>)> {
        fn walk(dir: &std::path::Path, out: &mut Vec<(String, Vec<String>)>) {
            for e in std::fs::read_dir(dir).expect("the crate's sources") {
                let path = e.expect("a directory entry").path();
                if path.is_dir() {
                    walk(&path, out);
                } else if path.extension().is_some_and(|x| x == "rs") {
                    let text = std::fs::read_to_string(&path).expect("a source file");
                    let code = text
                        .lines()
                        .map(str::trim)
                        .filter(|l| !l.starts_with("//"))
                        .map(String::from)
                        .collect();
                    out.push((path.display().to_string(), code));
                }
            }
        }
        let mut out = Vec::new();
        walk(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut out,
        );
        out
    }

    /// The oracle is independent: production code never calls it, and it calls no
    /// production code (it reads only the IR's and the catalog's types).
    #[test]
    fn the_oracle_and_production_code_do_not_call_each_other() {
        let all = sources();
        assert!(all.iter().any(|(f, _)| f.ends_with("reference.rs")));
        for (file, code) in &all {
            // What follows `#[cfg(test)]` is tests, which may compare the two.
            let end = code.iter().position(|l| l == "#[cfg(test)]");
            let lines = &code[..end.unwrap_or(code.len())];
            if file.ends_with("reference.rs") {
                for l in lines.iter().filter(|l| l.contains("crate::")) {
                    assert!(
                        l.starts_with("use crate::catalog::") || l.starts_with("use crate::ir::"),
                        "the oracle uses production code: {l}"
                    );
                }
            } else {
                for l in lines {
                    assert!(!l.contains("reference::"), "{file} calls the oracle: {l}");
                }
            }
        }
    }
}
