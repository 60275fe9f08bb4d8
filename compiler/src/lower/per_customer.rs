//! [`PerCustomer`], the per-customer table a query filters: one row per customer, one column
//! per value its segments read. [`PerCustomer::build_with`] chains the steps: the values by
//! source, their aggregates, the one scan and its aggregation by customer, the customers
//! join, one column per value, then messages and ranks.

use super::Query;
use super::aggregates;
use super::aggregates::{Agg, AggKind};
use super::campaigns::{is_campaign, join_campaigns};
use super::columns::project_values;
use super::contacts::{is_contacts, join_contacts};
use super::customers::join_customers;
use super::exprs::{qcol, qual, unique};
use super::hints::ScanHints;
use super::lookalike::{add_lookalikes, is_lookalike, lookalike_inputs};
use super::models::{add_models, is_modeled, model_inputs};
use super::ranks::{add_ranks, is_ranked, ranking_inputs};
use super::scan::aggregate_by_customer;
use super::scores::ranks_a_score;
use crate::builder::PlanBuilder;
use crate::catalog::Catalog;
use crate::ir::*;
use chrono::NaiveDate;
use datafusion::common::Result;
use datafusion::logical_expr::{Expr, JoinType, LogicalPlan, ident};
use std::collections::{BTreeMap, HashMap};

/// The per-customer table a query filters: `customer_id` and one column per value. Built
/// from transactions by [`PerCustomer::build`], or over a cached table by
/// [`PerCustomer::over`].
#[derive(Debug, Clone)]
pub struct PerCustomer {
    /// The plan producing one row per customer.
    pub plan: LogicalPlan,
    /// The column of each value.
    pub names: HashMap<Value, String>,
    /// The as-of date the table was computed for.
    pub as_of: NaiveDate,
}

/// The column names of the table being built: one per value, each unique.
pub(super) struct ColumnNames {
    names: HashMap<Value, String>,
    taken: BTreeMap<String, ()>,
}

impl ColumnNames {
    fn new() -> ColumnNames {
        let mut taken = BTreeMap::new();
        taken.insert("customer_id".to_string(), ());
        ColumnNames {
            names: HashMap::new(),
            taken,
        }
    }

    /// Names the column of `v`: its column name, made unique.
    pub(super) fn add(&mut self, v: &Value) -> String {
        let name = unique(v.column_name(), &self.taken);
        self.taken.insert(name.clone(), ());
        self.names.insert(v.clone(), name.clone());
        name
    }

    /// The columns named so far.
    pub(super) fn map(&self) -> &HashMap<Value, String> {
        &self.names
    }
}

/// `table` with every column it has and one column per added value: its expression over
/// `other`'s columns (qualified by `alias`), `other` joined left by customer (a customer it
/// lacks reads NULL there). Messages and campaigns join this way.
pub(super) fn join_by_customer(
    table: LogicalPlan,
    other: LogicalPlan,
    alias: &str,
    added: Vec<(&Value, Expr)>,
    names: &mut ColumnNames,
) -> Result<LogicalPlan> {
    let mut cols: Vec<Expr> = table
        .schema()
        .fields()
        .iter()
        .map(|f| qual("q", f.name()).alias(f.name()))
        .collect();
    for (v, e) in added {
        cols.push(e.alias(names.add(v)));
    }
    let other = PlanBuilder::from(other).alias(alias)?.build()?;
    PlanBuilder::from(table)
        .alias("q")?
        .join(
            other,
            JoinType::Left,
            (
                vec![qcol("q", "customer_id")],
                vec![qcol(alias, "customer_id")],
            ),
        )?
        .project(cols)?
        .build()
}

/// The values of a table by where they come from.
struct Sources {
    /// From transactions (and attributes from customers), with the ranks' inputs.
    scanned: Vec<Value>,
    /// From the communications table.
    contacts: Vec<Value>,
    /// From campaigns' snapshots.
    campaigns: Vec<Value>,
    /// Relative to the population, with the active counts `top` compares with.
    ranked: Vec<Value>,
    /// Computed by models from other values (their inputs are scanned).
    modeled: Vec<Value>,
    /// Look-alike memberships, computed last from features and their seeds' values.
    lookalikes: Vec<Value>,
}

impl Sources {
    fn of(catalog: &Catalog, values: &[Value]) -> Sources {
        let lookalikes: Vec<Value> = values.iter().filter(|v| is_lookalike(v)).cloned().collect();
        // Look-alikes read features and their seeds' values, of every kind.
        let mut values: Vec<Value> = values
            .iter()
            .filter(|v| !is_lookalike(v))
            .cloned()
            .collect();
        for v in lookalike_inputs(catalog, &lookalikes) {
            if !values.contains(&v) {
                values.push(v);
            }
        }
        let values = &values[..];
        let contacts: Vec<Value> = values.iter().filter(|v| is_contacts(v)).cloned().collect();
        let mut campaigns: Vec<Value> = values.iter().filter(|v| is_campaign(v)).cloned().collect();
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
        let modeled: Vec<Value> = values.iter().filter(|v| is_modeled(v)).cloned().collect();
        let mut scanned: Vec<Value> = values
            .iter()
            .filter(|v| !is_contacts(v) && !is_campaign(v) && !is_ranked(v) && !is_modeled(v))
            .cloned()
            .collect();
        // Models compute their features from values of the scan and of the snapshots.
        for v in model_inputs(catalog, &modeled) {
            let to = if is_campaign(&v) {
                &mut campaigns
            } else {
                &mut scanned
            };
            if !to.contains(&v) {
                to.push(v);
            }
        }
        // Ranks are computed from windowed metrics of every customer.
        for v in ranking_inputs(catalog, &ranked) {
            if !scanned.contains(&v) {
                scanned.push(v);
            }
        }
        Sources {
            scanned,
            contacts,
            campaigns,
            ranked,
            modeled,
            lookalikes,
        }
    }
}

impl PerCustomer {
    /// A table over an existing per-customer table (e.g. one cached in memory) whose columns
    /// hold `names`.
    pub fn over(plan: LogicalPlan, names: HashMap<Value, String>, as_of: NaiveDate) -> PerCustomer {
        PerCustomer { plan, names, as_of }
    }

    /// True when every value `pred` reads is a column of the table.
    pub fn covers(&self, pred: &Pred) -> bool {
        pred.values().iter().all(|v| self.names.contains_key(v))
    }

    /// Members of `pred`: `customer_id` and the values it reads. The table must cover it.
    pub fn members(&self, pred: &Pred) -> Result<Query> {
        let mut cols = vec![ident("customer_id")];
        cols.extend(pred.values().iter().map(|v| ident(&self.names[v])));
        let plan = PlanBuilder::from(self.plan.clone())
            .filter(self.filter_condition(pred))?
            .project(cols)?
            .build()?;
        Ok(Query { plan })
    }

    /// Members of `pred` with every column of the table.
    pub fn filtered(&self, pred: &Pred) -> Result<LogicalPlan> {
        PlanBuilder::from(self.plan.clone())
            .filter(self.filter_condition(pred))?
            .build()
    }

    /// The column holding `v`, if the table has one.
    pub fn column(&self, v: &Value) -> Option<&str> {
        self.names.get(v).map(String::as_str)
    }

    /// Builds the table of `values` from transactions. With `full_base`, every customer
    /// (with purchases up to the as-of date, or in the customers table) has a row; without
    /// it, only customers with purchases in the widest window the values need.
    pub fn build(catalog: &Catalog, values: &[Value], full_base: bool) -> Result<PerCustomer> {
        PerCustomer::build_with(catalog, values, full_base, &ScanHints::default())
    }

    /// [`PerCustomer::build`] for the members of one predicate, narrowing the scan with its
    /// [`ScanHints`]: values outside the hints' reach may differ for non-members only.
    pub fn build_with(
        catalog: &Catalog,
        values: &[Value],
        full_base: bool,
        hints: &ScanHints,
    ) -> Result<PerCustomer> {
        let Sources {
            scanned,
            contacts,
            campaigns,
            ranked,
            modeled,
            lookalikes,
        } = Sources::of(catalog, values);
        let aggs = aggregates::needed(&scanned, hints);
        let aggregated = aggregate_by_customer(
            catalog,
            &scanned,
            aggs,
            full_base,
            hints,
            !ranked.is_empty() || !lookalikes.is_empty() || modeled.iter().any(ranks_a_score),
        )?;
        let joined = join_customers(catalog, &aggregated.plan, &scanned, full_base)?;
        let mut names = ColumnNames::new();
        let mut plan = project_values(catalog, &scanned, hints, &aggregated, joined, &mut names)?;
        if !contacts.is_empty() {
            plan = join_contacts(catalog, plan, &contacts, &mut names)?;
        }
        if !campaigns.is_empty() {
            plan = join_campaigns(catalog, plan, &campaigns, &mut names)?;
        }
        if !ranked.is_empty() {
            let always_active = |v: &Value| match v {
                Value::Metric(m) => aggregated.positive.contains(&Agg::of(AggKind::Count, m)),
                _ => false,
            };
            plan = add_ranks(catalog, plan, &ranked, &always_active, &mut names)?;
        }
        if !modeled.is_empty() {
            plan = add_models(catalog, plan, &modeled, &mut names)?;
        }
        if !lookalikes.is_empty() {
            plan = add_lookalikes(catalog, plan, &lookalikes, &mut names)?;
        }
        Ok(PerCustomer {
            plan,
            names: names.names,
            as_of: catalog.as_of,
        })
    }
}
