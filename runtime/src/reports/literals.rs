//! Text values that occur nowhere in the data: `city = "kyiv"` where the data holds `Kyiv`,
//! `bought partner "silpo"`. Comparisons stay exact (case matters, as in every join of the
//! data), so such a comparison silently holds for no one; these warnings say so, with the
//! closest values the column has.
//!
//! Each literal is looked up with a query that stops at the first matching row, so a value
//! that occurs costs about one batch; only a value that occurs nowhere reads the whole column
//! (and then its distinct values, for the suggestion).

use crate::engine::Engine;
use crate::error::RuntimeError;
use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{LogicalPlan, LogicalPlanBuilder, cast, ident, lit};
use segql_compiler::Catalog;
use segql_compiler::ir::{Const, MetricKind, Pred, Value, ValueType};
use segql_grammar::ast::Dimension;

/// A text literal that matches no value of its column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmatched {
    /// The table: transactions, customers or communications.
    pub table: &'static str,
    /// The canonical column (`partner`, `city`, `channel`, ...).
    pub column: String,
    /// The literal.
    pub value: String,
    /// The closest values the column has (a different case first).
    pub closest: Vec<String>,
    /// Another transaction column that holds the value as written (`bought "Coffee"` looks
    /// at products; "Coffee" is a category).
    pub elsewhere: Option<String>,
}

impl std::fmt::Display for Unmatched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no {} \"{}\" in the {} (text compares exactly, case included)",
            self.column, self.value, self.table
        )?;
        if let Some(other) = &self.elsewhere {
            return write!(
                f,
                "; \"{}\" is a {other}: write `{other} \"{}\"` (e.g. `bought {other} \"{}\"`)",
                self.value, self.value, self.value
            );
        }
        match self.closest.as_slice() {
            [] => Ok(()),
            [one] => write!(f, "; did you mean \"{one}\"?"),
            many => write!(
                f,
                "; did you mean one of {}?",
                many.iter()
                    .map(|c| format!("\"{c}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// A text literal: (table, canonical column, value).
pub type Literal = (&'static str, String, String);

/// The transaction columns `bought` and `spend on` read.
fn dimensions() -> impl Iterator<Item = &'static str> {
    Dimension::ALL.into_iter().map(|d| d.column())
}

/// The text literals of `preds`, each once.
pub fn literals(preds: &[&Pred]) -> Vec<Literal> {
    let mut out: Vec<Literal> = Vec::new();
    let mut push = |t: &'static str, c: &str, v: &str| {
        let item = (t, c.to_string(), v.to_string());
        if !out.contains(&item) {
            out.push(item);
        }
    };
    fn walk<'a>(p: &'a Pred, leaves: &mut Vec<&'a Pred>) {
        match p {
            Pred::And(v) | Pred::Or(v) => v.iter().for_each(|x| walk(x, leaves)),
            Pred::Not(x) => walk(x, leaves),
            leaf => leaves.push(leaf),
        }
    }
    for pred in preds {
        let mut leaves = Vec::new();
        walk(pred, &mut leaves);
        for leaf in leaves {
            let (attribute, texts): (&str, Vec<&Const>) = match leaf {
                Pred::Cmp {
                    value: Value::Attribute(a),
                    ty: ValueType::Text,
                    rhs,
                    ..
                } => (a, vec![rhs]),
                Pred::In {
                    value: Value::Attribute(a),
                    ty: ValueType::Text,
                    list,
                    ..
                } => (a, list.iter().collect()),
                _ => continue,
            };
            for t in texts {
                if let Const::Text(v) = t {
                    push("customers", attribute, v);
                }
            }
        }
        for value in pred.values() {
            let (metric, scope) = match &value {
                Value::Metric(m)
                | Value::SinceFirst(m)
                | Value::Percentile(m)
                | Value::TopRank(m)
                | Value::Population(m) => (Some(m), m.scope.clone()),
                Value::Lifecycle(s) | Value::Abc(s) => (None, s.clone()),
                _ => (None, Vec::new()),
            };
            for p in &scope {
                push("transactions", "partner", p);
            }
            match metric.map(|m| &m.kind) {
                Some(MetricKind::Bought { dimension, values })
                | Some(MetricKind::Spend { dimension, values }) => {
                    for v in values {
                        push("transactions", dimension.column(), v);
                    }
                }
                Some(MetricKind::Contacts { channel: Some(c) }) => {
                    push("communications", "channel", c);
                }
                _ => {}
            }
        }
    }
    out
}

/// The literals of `preds` that match no value of their column in the data read.
pub async fn unmatched(engine: &Engine, preds: &[&Pred]) -> Result<Vec<Unmatched>, RuntimeError> {
    unmatched_with(engine, &engine.catalog, preds, &[]).await
}

/// For each of `preds`, its literals that match no value of their column. Every distinct
/// literal is looked up once, however many predicates use it.
pub async fn unmatched_each(
    engine: &Engine,
    preds: &[&Pred],
) -> Result<Vec<Vec<Unmatched>>, RuntimeError> {
    let found = unmatched(engine, preds).await?;
    Ok(preds
        .iter()
        .map(|p| {
            let own = literals(&[p]);
            found
                .iter()
                .filter(|u| own.contains(&(u.table, u.column.clone(), u.value.clone())))
                .cloned()
                .collect()
        })
        .collect())
}

/// [`unmatched`], with the complete distinct values of some columns already known (the REPL's
/// completion values, `(column, values)`): those columns are not read again; the others are
/// read through `catalog`'s input plans (the REPL's scan its copy of the data in memory).
pub async fn unmatched_with(
    engine: &Engine,
    catalog: &Catalog,
    preds: &[&Pred],
    known: &[(String, Vec<String>)],
) -> Result<Vec<Unmatched>, RuntimeError> {
    unmatched_of(engine, catalog, literals(preds), known).await
}

/// The literals given (each looked up once) that match no value of their column in the data
/// read: for callers that find literals elsewhere than in predicates (`segql lint` walks the
/// syntax tree, for the spans).
pub async fn unmatched_literals(
    engine: &Engine,
    literals: &[Literal],
) -> Result<Vec<Unmatched>, RuntimeError> {
    let mut each: Vec<Literal> = Vec::new();
    for l in literals {
        if !each.contains(l) {
            each.push(l.clone());
        }
    }
    unmatched_of(engine, &engine.catalog, each, &[]).await
}

/// [`unmatched_with`] over a list of distinct literals.
async fn unmatched_of(
    engine: &Engine,
    catalog: &Catalog,
    literals: Vec<Literal>,
    known: &[(String, Vec<String>)],
) -> Result<Vec<Unmatched>, RuntimeError> {
    let lookup = Lookup { engine, known };
    let mut out = Vec::new();
    for (table, column, value) in literals {
        let Some(plan) = table_plan(engine, catalog, table) else {
            continue;
        };
        let has = |c: &str| plan.schema().field_with_unqualified_name(c).is_ok();
        if !has(&column) || lookup.occurs(table, plan, &column, &value).await? {
            continue;
        }
        // `bought "Coffee"` looks at products: say which other column holds the value.
        let mut elsewhere = None;
        if table == "transactions" {
            for other in dimensions().filter(|o| *o != column && has(o)) {
                if lookup.occurs(table, plan, other, &value).await? {
                    elsewhere = Some(other.to_string());
                    break;
                }
            }
        }
        let values = lookup.values(table, plan, &column).await?;
        out.push(Unmatched {
            table,
            closest: closest(&value, &values),
            elsewhere,
            column,
            value,
        });
    }
    Ok(out)
}

/// Where a column's values come from: the values already known, else the data.
struct Lookup<'a> {
    engine: &'a Engine,
    known: &'a [(String, Vec<String>)],
}

impl Lookup<'_> {
    /// The known values of `column` of `table` (dimensions are transaction columns, the
    /// rest customer attributes).
    fn known(&self, table: &str, column: &str) -> Option<&[String]> {
        let tx_dim = dimensions().any(|d| d == column);
        if (table == "transactions") != tx_dim {
            return None;
        }
        self.known
            .iter()
            .find(|(c, _)| c == column)
            .map(|(_, v)| v.as_slice())
    }

    /// True when some row of `plan` has `value` in `column` (a query that stops at the first).
    async fn occurs(
        &self,
        table: &str,
        plan: &LogicalPlan,
        column: &str,
        value: &str,
    ) -> Result<bool, RuntimeError> {
        if let Some(values) = self.known(table, column) {
            return Ok(values.iter().any(|v| v == value));
        }
        let found = LogicalPlanBuilder::from(plan.clone())
            .filter(cast(ident(column), DataType::Utf8).eq(lit(value)))
            .and_then(|b| b.limit(0, Some(1)))
            .and_then(|b| b.project(vec![lit(1i64).alias("found")]))
            .and_then(|b| b.build())
            .map_err(|e| RuntimeError::data(format!("looking up {column} \"{value}\""), e))?;
        Ok(self
            .engine
            .collect(found)
            .await?
            .iter()
            .any(|b| b.num_rows() > 0))
    }

    /// Every value of `column`.
    async fn values(
        &self,
        table: &str,
        plan: &LogicalPlan,
        column: &str,
    ) -> Result<Vec<String>, RuntimeError> {
        match self.known(table, column) {
            Some(v) => Ok(v.to_vec()),
            None => self.engine.distinct_values(plan, column).await,
        }
    }
}

/// The plan a literal of `table` is looked up in.
fn table_plan<'a>(engine: &Engine, catalog: &'a Catalog, table: &str) -> Option<&'a LogicalPlan> {
    // The catalog's slots are read when the engine's tables are.
    match table {
        "transactions" => Some(&catalog.transactions),
        // The rows as written, not merged by id: a value occurs when some row has it, and a
        // look-up stops at the first such row instead of merging the whole table first.
        "customers" if engine.tables.customers.is_some() => {
            catalog.customer_rows().or(catalog.customers())
        }
        "communications" if engine.tables.communications.is_some() => catalog.communications(),
        _ => None,
    }
}

/// The values like `value`: the same but for case first, else the closest by spelling, else
/// none.
fn closest(value: &str, known: &[String]) -> Vec<String> {
    let lower = value.to_lowercase();
    let same_case: Vec<String> = known
        .iter()
        .filter(|k| k.to_lowercase() == lower)
        .cloned()
        .collect();
    if !same_case.is_empty() {
        return same_case;
    }
    segql_compiler::error::closest(value, known.iter().map(String::as_str))
        .map(|c| vec![c.to_string()])
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_prefer_a_different_case() {
        let known: Vec<String> = ["Kyiv", "Lviv", "Odesa"].map(String::from).to_vec();
        assert_eq!(closest("kyiv", &known), vec!["Kyiv".to_string()]);
        assert_eq!(closest("Kyev", &known), vec!["Kyiv".to_string()]);
        assert!(closest("Paris", &known).is_empty());
    }
}
