//! Expression helpers shared by the lowering steps: qualified columns, dates and windows,
//! the lines of a scan, constants as literals, unique column names.

use crate::catalog::Catalog;
use crate::ir::Const;
use chrono::NaiveDate;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Column, Result, ScalarValue, TableReference};
use datafusion::logical_expr::{Expr, ExprFunctionExt, LogicalPlan, cast, ident, lit};
use segql_grammar::ast::Dimension;
use std::collections::BTreeMap;

/// The column `name` of the table (subquery alias) `relation`. The relation is taken as a bare
/// name, not parsed as SQL as a `&str` table reference would be.
pub(super) fn qcol(relation: impl Into<String>, name: impl Into<String>) -> Column {
    Column::new(Some(TableReference::bare(relation.into())), name)
}

/// [`qcol`] as an expression.
pub(super) fn qual(relation: impl Into<String>, name: impl Into<String>) -> Expr {
    Expr::Column(qcol(relation, name))
}

/// Days since 1970-01-01, the representation of Arrow's Date32.
pub(super) fn epoch_days(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date")).num_days() as i32
}

/// A date as a Date32 literal.
pub fn date_lit(d: NaiveDate) -> Expr {
    lit(ScalarValue::Date32(Some(epoch_days(d))))
}

/// A date (or timestamp) as its day number since 1970-01-01, an Int64.
pub(super) fn day_number(e: Expr) -> Expr {
    cast(cast(e, DataType::Int32), DataType::Int64)
}

/// The day before a window of `days` days ending on the as-of date.
fn start_date(as_of: NaiveDate, days: u64) -> NaiveDate {
    let days = days.min(1_000_000) as i64;
    as_of
        .checked_sub_signed(chrono::Duration::days(days))
        .unwrap_or(NaiveDate::MIN)
}

/// [`start_date`] as a literal: lines of the window have a later `ts`.
pub(super) fn window_start(as_of: NaiveDate, days: u64) -> Expr {
    date_lit(start_date(as_of, days))
}

/// Lines whose `dimension` (partner, category, ...) is one of `values`.
pub(super) fn one_of(dimension: Dimension, values: &[String]) -> Expr {
    let list = values.iter().map(|v| lit(v.as_str())).collect();
    ident(dimension.column()).in_list(list, false)
}

/// Lines of known customers up to the as-of date, and within the last `days` if given.
/// Conditions the data's statistics prove true for every line are left out (none may remain).
pub(super) fn purchases_in(catalog: &Catalog, days: Option<u64>) -> Option<Expr> {
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

/// The aggregate `e` over the rows meeting `f` (all rows without one).
pub(super) fn with_filter(e: Expr, f: Option<Expr>) -> Result<Expr> {
    match f {
        None => Ok(e),
        Some(f) => e.filter(f).build(),
    }
}

/// `base`, or `base_2`, `base_3`, ...: the first name not yet taken.
pub(super) fn unique(base: String, taken: &BTreeMap<String, ()>) -> String {
    if !taken.contains_key(&base) {
        return base;
    }
    (2..)
        .map(|i| format!("{base}_{i}"))
        .find(|n| !taken.contains_key(n))
        .expect("some suffix is free")
}

/// A constant as a literal. Numbers stay exact: integers as Int64, others as decimals.
pub(super) fn const_expr(c: &Const) -> Expr {
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

/// The sum of `terms` added pairwise ([`crate::models::pairwise_sum`]'s order): adjacent
/// pairs, then pairs of those, so the expression is log2(n) deep, not n (SQL parsers limit
/// the nesting of what `segql sql` writes), 0 for none.
pub(super) fn balanced_sum(terms: Vec<Expr>) -> Expr {
    let mut level = terms;
    if level.is_empty() {
        return lit(0.0f64);
    }
    while level.len() > 1 {
        let mut next = Vec::with_capacity(level.len().div_ceil(2));
        let mut it = level.into_iter();
        while let Some(a) = it.next() {
            next.push(match it.next() {
                Some(b) => a + b,
                None => a,
            });
        }
        level = next;
    }
    level.pop().expect("one term left")
}

/// Every column of `plan`, by name: what a projection adding columns keeps.
pub(super) fn every_column(plan: &LogicalPlan) -> Vec<Expr> {
    plan.schema()
        .fields()
        .iter()
        .map(|f| ident(f.name()))
        .collect()
}
