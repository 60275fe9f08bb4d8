//! Text values that occur nowhere in the data: `city = "kyiv"` where the data holds `Kyiv`,
//! `bought partner "silpo"`. Comparisons stay exact (case matters, as in every join of the
//! data), so such a condition silently matches no one; these warnings say so, with the
//! closest values the column has.
//!
//! Each literal is looked up with a query that stops at the first matching row, so a value
//! that occurs costs about one batch; only a value that occurs nowhere reads the whole column
//! (and then its distinct values, for the suggestion).

use crate::engine::Engine;
use crate::error::RuntimeError;
use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{LogicalPlan, LogicalPlanBuilder, cast, ident, lit};
use segql_compiler::ir::{Const, MetricKind, Pred, Value, ValueType};

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

/// The (table, column, value) text literals of `preds`.
pub fn literals(preds: &[&Pred]) -> Vec<(&'static str, String, String)> {
    let mut out: Vec<(&'static str, String, String)> = Vec::new();
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
            let texts: Vec<&Const> = match leaf {
                Pred::Cmp {
                    value: Value::Attribute(_),
                    ty: ValueType::Text,
                    rhs,
                    ..
                } => vec![rhs],
                Pred::In {
                    value: Value::Attribute(_),
                    ty: ValueType::Text,
                    list,
                    ..
                } => list.iter().collect(),
                _ => Vec::new(),
            };
            if let Pred::Cmp {
                value: Value::Attribute(a),
                ..
            }
            | Pred::In {
                value: Value::Attribute(a),
                ..
            } = leaf
            {
                for t in texts {
                    if let Const::Text(v) = t {
                        push("customers", a, v);
                    }
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
                        push("transactions", &dimension.to_string(), v);
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
    unmatched_with(engine, preds, &[]).await
}

/// [`unmatched`], with the complete distinct values of some columns already known (the REPL's
/// completion values, `(column, values)`): those columns are not read again.
pub async fn unmatched_with(
    engine: &Engine,
    preds: &[&Pred],
    known: &[(String, Vec<String>)],
) -> Result<Vec<Unmatched>, RuntimeError> {
    let mut out = Vec::new();
    let values_of = |table: &str, column: &str| {
        let tx_dim = ["category", "product", "partner", "store"].contains(&column);
        if (table == "transactions") != tx_dim {
            return None;
        }
        known
            .iter()
            .find(|(c, _)| c == column)
            .map(|(_, v)| v.as_slice())
    };
    for (table, column, value) in literals(preds) {
        if let Some(values) = values_of(table, &column) {
            if values.contains(&value) {
                continue;
            }
            let elsewhere = ["category", "product", "partner", "store"]
                .into_iter()
                .filter(|o| *o != column && table == "transactions")
                .find(|o| values_of(table, o).is_some_and(|v| v.contains(&value)))
                .map(str::to_string);
            out.push(Unmatched {
                table,
                closest: closest(&value, values),
                elsewhere,
                column,
                value,
            });
            continue;
        }
        let Some(plan) = table_plan(engine, table) else {
            continue;
        };
        if plan.schema().field_with_unqualified_name(&column).is_err() {
            continue;
        }
        if occurs(engine, plan, &column, &value).await? {
            continue;
        }
        let mut elsewhere = None;
        if table == "transactions" {
            for other in ["category", "product", "partner", "store"] {
                if other != column
                    && plan.schema().field_with_unqualified_name(other).is_ok()
                    && occurs(engine, plan, other, &value).await?
                {
                    elsewhere = Some(other.to_string());
                    break;
                }
            }
        }
        let known = distinct(engine, plan, &column).await?;
        out.push(Unmatched {
            table,
            closest: closest(&value, &known),
            elsewhere,
            column,
            value,
        });
    }
    Ok(out)
}

/// True when some row of `plan` has `value` in `column` (stops at the first).
async fn occurs(
    engine: &Engine,
    plan: &LogicalPlan,
    column: &str,
    value: &str,
) -> Result<bool, RuntimeError> {
    let found = LogicalPlanBuilder::from(plan.clone())
        .filter(cast(ident(column), DataType::Utf8).eq(lit(value)))
        .and_then(|b| b.limit(0, Some(1)))
        .and_then(|b| b.project(vec![lit(1i64).alias("found")]))
        .and_then(|b| b.build())
        .map_err(|e| RuntimeError::data(format!("looking up {column} \"{value}\""), e))?;
    Ok(engine
        .collect(found)
        .await?
        .iter()
        .any(|b| b.num_rows() > 0))
}

fn table_plan<'a>(engine: &'a Engine, table: &str) -> Option<&'a LogicalPlan> {
    match table {
        "transactions" => Some(&engine.tables.transactions),
        "customers" => engine.tables.customers.as_ref(),
        "communications" => engine.tables.communications.as_ref(),
        _ => None,
    }
}

async fn distinct(
    engine: &Engine,
    plan: &LogicalPlan,
    column: &str,
) -> Result<Vec<String>, RuntimeError> {
    let q = LogicalPlanBuilder::from(plan.clone())
        .project(vec![cast(ident(column), DataType::Utf8).alias("v")])
        .and_then(|b| b.filter(ident("v").is_not_null()))
        .and_then(|b| b.distinct())
        .and_then(|b| b.build())
        .map_err(|e| RuntimeError::data(format!("listing the values of `{column}`"), e))?;
    let mut values = Vec::new();
    for b in engine.collect(q).await? {
        values.extend(
            b.column(0)
                .as_string::<i32>()
                .iter()
                .flatten()
                .map(str::to_string),
        );
    }
    values.sort();
    Ok(values)
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
