//! SQL for other engines: the logical plan `segql run` runs, written as one query of a SQL
//! dialect by DataFusion's unparser (`datafusion::sql::unparser`), over the warehouse's tables.
//!
//! The plan reads each table's files and normalizes their columns (`sources::normalize`); in
//! SQL the scans become the warehouse's tables (`--table transactions=analytics.tx`, else the
//! table's own name), with the files' raw column names, so the normalization is part of the
//! query. Before writing, every node and expression of the plan is checked: what the dialect
//! cannot express with the same answers is refused with [`RuntimeError::SqlUnsupported`],
//! never written approximately. The holdout bucket is a function each dialect defines
//! ([`holdout::definition`]).

mod dialect;
pub mod holdout;

pub use dialect::Dialect;

use crate::error::RuntimeError;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchemaRef, TableReference};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::expr::{AggregateFunction, ScalarFunction, WindowFunction};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, ExprSchemable, LogicalPlan, Operator, ScalarFunctionArgs,
    ScalarUDF, ScalarUDFImpl, Signature, SubqueryAlias, TableScan, Volatility,
};
use datafusion::sql::unparser::Unparser;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The tables segql reads, whose scans become the warehouse's tables.
pub const TABLES: [&str; 3] = ["transactions", "customers", "communications"];

/// One query, written.
#[derive(Debug, Clone)]
pub struct Written {
    /// The query, ending with `;`.
    pub sql: String,
    /// Whether it calls `segql_holdout_bucket` ([`holdout::definition`] defines it).
    pub holdout: bool,
}

/// The warehouse's name of each table segql reads: `names` maps a table of [`TABLES`] to a
/// name, qualified or not (`analytics.tx`); a table not in it keeps its own name.
pub fn check_names(names: &BTreeMap<String, String>) -> Result<(), RuntimeError> {
    for (table, name) in names {
        if !TABLES.contains(&table.as_str()) {
            return Err(RuntimeError::Usage {
                message: format!("--table {table}={name}: segql reads no table `{table}`"),
                help: Some(format!("the tables are {}", TABLES.join(", "))),
            });
        }
        if name.trim().is_empty() {
            return Err(RuntimeError::Usage {
                message: format!("--table {table}=: the warehouse name is empty"),
                help: Some("e.g. --table transactions=analytics.tx".into()),
            });
        }
    }
    Ok(())
}

/// `plan` as one query of `dialect`, over the tables named by `names` (see [`check_names`]).
pub fn to_sql(
    plan: &LogicalPlan,
    dialect: Dialect,
    names: &BTreeMap<String, String>,
) -> Result<Written, RuntimeError> {
    check_names(names)?;
    let mut holdout = false;
    let plan = prepare(plan.clone(), dialect, names, &mut holdout)
        .and_then(|p| shape(p, dialect))
        .map_err(|e| RuntimeError::data("writing the query as SQL", e))?;
    let unparsing = dialect.unparser_dialect();
    let statement = Unparser::new(&unparsing)
        .plan_to_sql(&plan)
        .map_err(|e| RuntimeError::data("writing the query as SQL", e))?;
    Ok(Written {
        sql: format!("{statement};"),
        holdout,
    })
}

/// A construct `dialect` cannot express, as the error the rewrite carries out.
fn refuse(dialect: Dialect, what: impl Into<String>, help: Option<String>) -> DataFusionError {
    DataFusionError::External(Box::new(RuntimeError::SqlUnsupported {
        dialect: dialect.engine().into(),
        what: what.into(),
        help,
    }))
}

/// The plan with its scans named as the warehouse's tables, checked, and its expressions in
/// forms `dialect` writes with the same answers.
fn prepare(
    plan: LogicalPlan,
    dialect: Dialect,
    names: &BTreeMap<String, String>,
    holdout: &mut bool,
) -> datafusion::error::Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| {
        let node = match node {
            LogicalPlan::TableScan(scan) => return rename_scan(scan, dialect, names),
            LogicalPlan::Projection(_)
            | LogicalPlan::Filter(_)
            | LogicalPlan::Aggregate(_)
            | LogicalPlan::Join(_)
            | LogicalPlan::SubqueryAlias(_)
            | LogicalPlan::Sort(_)
            | LogicalPlan::Limit(_)
            | LogicalPlan::Window(_)
            | LogicalPlan::Union(_)
            | LogicalPlan::Distinct(_)
            | LogicalPlan::Subquery(_)
            | LogicalPlan::EmptyRelation(_) => node,
            other => {
                return Err(refuse(
                    dialect,
                    format!("the plan node {}", other.display()),
                    None,
                ));
            }
        };
        let inputs: Vec<DFSchemaRef> = node
            .inputs()
            .iter()
            .map(|p| Arc::clone(p.schema()))
            .collect();
        let is_sort = matches!(node, LogicalPlan::Sort(_));
        let preserver = NamePreserver::new(&node);
        node.map_expressions(|e| {
            let saved = preserver.save(&e);
            let mut out = e.transform_up(|e| rewrite(e, dialect, &inputs, holdout))?;
            bare_quotients(&out.data, dialect)?;
            if is_sort && dialect == Dialect::Postgres && is_text(type_of(&out.data, &inputs)) {
                out.data = bytewise(out.data);
                out.transformed = true;
            }
            Ok(if out.transformed {
                out.update_data(|e| saved.restore(e))
            } else {
                out
            })
        })
    })
    .map(|t| t.data)
}

/// The plan in the shapes DataFusion's unparser writes faithfully, those its SQL planner
/// makes: a semi join on one key becomes `key IN (SELECT ...)` (uncorrelated, so no name of
/// the outer query can be captured by the inner one), and an alias over anything but a
/// projection or a scan gets a projection of its input's columns, so the aliased input is
/// written as a derived table of its own instead of merged into the outer query.
fn shape(plan: LogicalPlan, dialect: Dialect) -> datafusion::error::Result<LogicalPlan> {
    use datafusion::common::NullEquality;
    use datafusion::common::Spans;
    use datafusion::logical_expr::expr::InSubquery;
    use datafusion::logical_expr::{Filter, JoinType, Projection, Subquery};
    let mut derived = 0;
    plan.transform_up_with_subqueries(|node| match node {
        LogicalPlan::Join(j) if matches!(j.join_type, JoinType::LeftSemi | JoinType::RightSemi) => {
            let left = j.join_type == JoinType::LeftSemi;
            let (keep, keys) = if left {
                (j.left, j.right)
            } else {
                (j.right, j.left)
            };
            let ([(l, r)], None, NullEquality::NullEqualsNothing) =
                (j.on.as_slice(), &j.filter, j.null_equality)
            else {
                return Err(refuse(
                    dialect,
                    "a semi join on several keys or a condition",
                    None,
                ));
            };
            let (kept, key) = if left { (l, r) } else { (r, l) };
            let sub = Projection::try_new(vec![key.clone()], keys)?;
            let pred = Expr::InSubquery(InSubquery::new(
                Box::new(kept.clone()),
                Subquery {
                    subquery: Arc::new(LogicalPlan::Projection(sub)),
                    outer_ref_columns: vec![],
                    spans: Spans::new(),
                },
                false,
            ));
            let keep = derive(Arc::unwrap_or_clone(keep), &mut derived)?.data;
            Ok(Transformed::yes(LogicalPlan::Filter(Filter::try_new(
                pred,
                Arc::new(keep),
            )?)))
        }
        LogicalPlan::SubqueryAlias(a)
            if !matches!(
                a.input.as_ref(),
                LogicalPlan::Projection(_) | LogicalPlan::TableScan(_)
            ) =>
        {
            let input = Arc::clone(&a.input);
            let columns = input
                .schema()
                .columns()
                .into_iter()
                .map(Expr::Column)
                .collect();
            let projection = Projection::try_new(columns, input)?;
            let aliased =
                SubqueryAlias::try_new(Arc::new(LogicalPlan::Projection(projection)), a.alias)?;
            Ok(Transformed::yes(LogicalPlan::SubqueryAlias(aliased)))
        }
        LogicalPlan::Aggregate(a) if matches!(a.group_expr.as_slice(), [Expr::GroupingSet(_)]) => {
            let union = grouping_sets_as_union(a)?;
            Ok(Transformed::yes(union))
        }
        LogicalPlan::SubqueryAlias(_) | LogicalPlan::Subquery(_) => Ok(Transformed::no(node)),
        other => other.map_children(|child| derive(child, &mut derived)),
    })
    .map(|t| t.data)
}

/// An aggregation by grouping sets as the union of one aggregation per set, each with NULL
/// for the columns not in its set and its `__grouping_id` as a literal (DataFusion's: bit
/// `n - 1 - i` set when the i-th of the `n` distinct grouping expressions is not in the set,
/// a repeated set's ordinal above them). The unparser writes grouping sets in no dialect's
/// syntax; a union of plain aggregations every engine runs.
fn grouping_sets_as_union(
    a: datafusion::logical_expr::Aggregate,
) -> datafusion::error::Result<LogicalPlan> {
    use datafusion::common::ScalarValue;
    use datafusion::logical_expr::{Aggregate, GroupingSet, Projection, Union, cast, lit};
    let [Expr::GroupingSet(set)] = a.group_expr.as_slice() else {
        return datafusion::common::plan_err!("not grouping sets");
    };
    let distinct: Vec<Expr> = set.distinct_expr().into_iter().cloned().collect();
    let sets: Vec<Vec<Expr>> = match set {
        GroupingSet::GroupingSets(sets) => sets.clone(),
        GroupingSet::Rollup(_) | GroupingSet::Cube(_) => {
            return datafusion::common::plan_err!("ROLLUP and CUBE are not written as SQL");
        }
    };
    let out = Arc::clone(&a.schema);
    let n = distinct.len();
    let mut seen: Vec<u64> = Vec::new();
    let mut branches = Vec::new();
    for group in sets {
        let mask: u64 = distinct
            .iter()
            .enumerate()
            .filter(|(_, e)| !group.contains(e))
            .map(|(i, _)| 1u64 << (n - 1 - i))
            .sum();
        let ordinal = seen.iter().filter(|m| **m == mask).count() as u64;
        seen.push(mask);
        let id = mask | (ordinal << n);
        let branch = Aggregate::try_new(Arc::clone(&a.input), group.clone(), a.aggr_expr.clone())?;
        let branch_schema = Arc::clone(&branch.schema);
        let mut exprs = Vec::new();
        for (i, e) in distinct.iter().enumerate() {
            let (qualifier, field) = out.qualified_field(i);
            let value = match group.iter().position(|g| g == e) {
                Some(j) => Expr::Column(branch_schema.qualified_field(j).into()),
                None => cast(lit(ScalarValue::Null), field.data_type().clone()),
            };
            exprs.push(value.alias_qualified(qualifier.cloned(), field.name()));
        }
        // A plain integer: the unparser writes DataFusion's unsigned types in no dialect.
        exprs.push(lit(id as i64).alias(Aggregate::INTERNAL_GROUPING_ID));
        for k in 0..a.aggr_expr.len() {
            let (qualifier, field) = out.qualified_field(n + 1 + k);
            let col = Expr::Column(branch_schema.qualified_field(group.len() + k).into());
            exprs.push(col.alias_qualified(qualifier.cloned(), field.name()));
        }
        let projection = Projection::try_new(exprs, Arc::new(LogicalPlan::Aggregate(branch)))?;
        branches.push(Arc::new(LogicalPlan::Projection(projection)));
    }
    Ok(LogicalPlan::Union(Union::try_new_with_loose_types(
        branches,
    )?))
}

/// A projection under another node starts a query of its own: a derived table, when its
/// columns are unqualified (so the names above it still resolve).
fn derive(
    child: LogicalPlan,
    derived: &mut usize,
) -> datafusion::error::Result<Transformed<LogicalPlan>> {
    match &child {
        LogicalPlan::Projection(_) | LogicalPlan::Union(_)
            if child
                .schema()
                .iter()
                .all(|(qualifier, _)| qualifier.is_none()) =>
        {
            *derived += 1;
            let aliased = SubqueryAlias::try_new(Arc::new(child), format!("__q{derived}"))?;
            Ok(Transformed::yes(LogicalPlan::SubqueryAlias(aliased)))
        }
        _ => Ok(Transformed::no(child)),
    }
}

/// The scan of one of segql's tables as the warehouse's table (under the table's own name as
/// an alias, which the plan's columns are qualified with); other scans are refused.
fn rename_scan(
    scan: TableScan,
    dialect: Dialect,
    names: &BTreeMap<String, String>,
) -> datafusion::error::Result<Transformed<LogicalPlan>> {
    let table = scan.table_name.table().to_string();
    if scan.table_name.schema().is_some() || !TABLES.contains(&table.as_str()) {
        return Err(refuse(
            dialect,
            "campaign snapshots (`treated`, `held_out`, `responded`, and the responses to past campaigns among a model's or a look-alike's features)",
            Some(
                "snapshots are segql's own files; run these segments with `segql run`, or load \
                 the snapshots into the warehouse and select them there (`[features] campaigns = \
                 false` leaves the responses to past campaigns out of the features: of \
                 look-alikes at once, of a model when it is fitted again)"
                    .into(),
            ),
        ));
    }
    let Some(name) = names.get(&table) else {
        return Ok(Transformed::no(LogicalPlan::TableScan(scan)));
    };
    let renamed = TableScan {
        table_name: TableReference::parse_str(name),
        ..scan
    };
    let aliased = SubqueryAlias::try_new(Arc::new(LogicalPlan::TableScan(renamed)), table)?;
    Ok(Transformed::yes(LogicalPlan::SubqueryAlias(aliased)))
}

/// The type of `e` over the node's inputs, `None` when none of them types it.
fn type_of(e: &Expr, inputs: &[DFSchemaRef]) -> Option<DataType> {
    inputs.iter().find_map(|s| e.get_type(s.as_ref()).ok())
}

fn is_text(t: Option<DataType>) -> bool {
    matches!(
        t,
        Some(DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8)
    )
}

/// Scalar functions written the same in every SQL dialect, with the same answers.
const SAME_EVERYWHERE: [&str; 2] = ["coalesce", "nullif"];

/// `date_part` fields with the same numbering in DataFusion, DuckDB and PostgreSQL.
const DATE_PARTS: [&str; 6] = ["year", "month", "day", "doy", "dow", "quarter"];

/// One expression in the form `dialect` writes, or refused.
fn rewrite(
    e: Expr,
    dialect: Dialect,
    inputs: &[DFSchemaRef],
    holdout: &mut bool,
) -> datafusion::error::Result<Transformed<Expr>> {
    if let Expr::ScalarFunction(f) = &e
        && f.func.name() == holdout::FUNCTION
    {
        *holdout = true;
    }
    if dialect == Dialect::DataFusion {
        return Ok(Transformed::no(e));
    }
    match &e {
        Expr::Cast(c) => {
            let from = type_of(&c.expr, inputs);
            let to = c.field.data_type();
            if let (Expr::ScalarFunction(f), DataType::Decimal128(p, sc)) = (c.expr.as_ref(), to)
                && f.func.name() == dialect::QUOTIENT
                && let [a, b] = f.args.as_slice()
            {
                // A decimal quotient rounded to a decimal: exact in every dialect.
                let scale = |t: Option<DataType>| match t {
                    Some(DataType::Decimal128(_, s) | DataType::Decimal256(_, s)) => s as i64,
                    _ => 0,
                };
                let (sa, sb) = (scale(type_of(a, inputs)), scale(type_of(b, inputs)));
                let args = vec![
                    a.clone(),
                    b.clone(),
                    datafusion::logical_expr::lit(sa),
                    datafusion::logical_expr::lit(sb),
                    datafusion::logical_expr::lit(*p as i64),
                    datafusion::logical_expr::lit(*sc as i64),
                ];
                return Ok(Transformed::yes(marker(
                    dialect::ROUNDED_QUOTIENT,
                    to.clone(),
                    args,
                )));
            }
            if let (
                Some(DataType::Float16 | DataType::Float32 | DataType::Float64),
                DataType::Decimal32(p, sc)
                | DataType::Decimal64(p, sc)
                | DataType::Decimal128(p, sc)
                | DataType::Decimal256(p, sc),
            ) = (&from, to)
            {
                // Arrow's rounding of `v * 10^scale`, half away from zero, written exactly.
                let args = vec![
                    *c.expr.clone(),
                    datafusion::logical_expr::lit(*p as i64),
                    datafusion::logical_expr::lit(*sc as i64),
                ];
                return Ok(Transformed::yes(marker(
                    dialect::FLOAT_TO_DECIMAL,
                    to.clone(),
                    args,
                )));
            }
            match (&from, to) {
                (Some(DataType::Date32), DataType::Int32 | DataType::Int64) => {
                    let days = marker(dialect::EPOCH_DAYS, DataType::Int64, vec![*c.expr.clone()]);
                    return Ok(Transformed::yes(days));
                }
                (_, t) if castable(from.as_ref(), t) => {}
                _ => {
                    return Err(refuse(
                        dialect,
                        format!(
                            "a cast from {} to {to}",
                            from.map_or("an unknown type".into(), |t| t.to_string())
                        ),
                        None,
                    ));
                }
            }
        }
        Expr::TryCast(c) => {
            return Err(refuse(
                dialect,
                format!("TRY_CAST to {}", c.field.data_type()),
                None,
            ));
        }
        Expr::ScalarFunction(ScalarFunction { func, args }) => {
            let name = func.name();
            let ok = match (name, args.as_slice()) {
                (n, _) if SAME_EVERYWHERE.contains(&n) => true,
                (holdout::FUNCTION, _) => true,
                // A model's nearest centroid: `least` of distances that are never NULL, `ln`
                // of values of 1 and more, and `random() >= 0` (true everywhere) that keeps
                // DataFusion's filters above the distances (`lower/models.rs`).
                ("least", _) | ("ln", [_]) | ("random", []) => true,
                ("split_part", _) => true,
                ("to_date", [_]) => true,
                (
                    "to_date",
                    [
                        _,
                        Expr::Literal(datafusion::common::ScalarValue::Utf8(Some(f)), _),
                    ],
                ) => dialect::date_format(dialect, f).is_some(),
                ("date_part", [Expr::Literal(part, _), _]) => {
                    DATE_PARTS.contains(&part.to_string().to_lowercase().as_str())
                }
                _ => false,
            };
            if !ok {
                return Err(refuse(dialect, format!("the function call {e}"), None));
            }
        }
        Expr::AggregateFunction(AggregateFunction { func, params }) => {
            let name = func.name();
            if !["sum", "count", "min", "max"].contains(&name) || !params.order_by.is_empty() {
                return Err(refuse(dialect, format!("the aggregate {e}"), None));
            }
            if matches!(name, "min" | "max")
                && let [arg] = params.args.as_slice()
                && type_of(arg, inputs) == Some(DataType::Boolean)
            {
                // PostgreSQL has no max of booleans: any true (bool_or), all true (bool_and).
                use datafusion::functions_aggregate::bool_and_or::{bool_and_udaf, bool_or_udaf};
                let f = AggregateFunction::new_udf(
                    if name == "max" {
                        bool_or_udaf()
                    } else {
                        bool_and_udaf()
                    },
                    params.args.clone(),
                    params.distinct,
                    params.filter.clone(),
                    params.order_by.clone(),
                    params.null_treatment,
                );
                return Ok(Transformed::yes(Expr::AggregateFunction(f)));
            }
            if dialect == Dialect::Postgres
                && matches!(name, "min" | "max")
                && let [arg] = params.args.as_slice()
                && is_text(type_of(arg, inputs))
            {
                // Text compares byte by byte, as in DataFusion, whatever the collation.
                let f = AggregateFunction::new_udf(
                    Arc::clone(func),
                    vec![bytewise(arg.clone())],
                    params.distinct,
                    params.filter.clone(),
                    params.order_by.clone(),
                    params.null_treatment,
                );
                return Ok(Transformed::yes(Expr::AggregateFunction(f)));
            }
        }
        Expr::WindowFunction(w) => {
            let WindowFunction { fun, .. } = w.as_ref();
            let name = fun.name();
            if ![
                "row_number",
                "rank",
                "dense_rank",
                "ntile",
                "count",
                "min",
                "max",
                "sum",
            ]
            .contains(&name)
            {
                return Err(refuse(dialect, format!("the window function {e}"), None));
            }
            if dialect == Dialect::Postgres {
                let mut w = w.as_ref().clone();
                let types: Vec<bool> = w
                    .params
                    .order_by
                    .iter()
                    .map(|s| is_text(type_of(&s.expr, inputs)))
                    .collect();
                if types.iter().any(|t| *t) {
                    for (s, text) in w.params.order_by.iter_mut().zip(types) {
                        if text {
                            s.expr = bytewise(s.expr.clone());
                        }
                    }
                    return Ok(Transformed::yes(Expr::WindowFunction(Box::new(w))));
                }
            }
        }
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let (l, r) = (type_of(left, inputs), type_of(right, inputs));
            match op {
                Operator::Divide => {
                    let float = |t: &Option<DataType>| {
                        matches!(t, Some(DataType::Float32 | DataType::Float64))
                    };
                    let int = |t: &Option<DataType>| t.as_ref().is_some_and(DataType::is_integer);
                    let decimal = |t: &Option<DataType>| {
                        matches!(t, Some(DataType::Decimal128(..) | DataType::Decimal256(..)))
                    };
                    if float(&l) || float(&r) {
                        // IEEE quotients, the same everywhere.
                    } else if int(&l) && int(&r) {
                        // Truncated toward zero in every dialect (DuckDB: `//`).
                        let q = marker(
                            dialect::INT_QUOTIENT,
                            DataType::Int64,
                            vec![*left.clone(), *right.clone()],
                        );
                        return Ok(Transformed::yes(q));
                    } else if decimal(&l) && (decimal(&r) || int(&r)) {
                        // Exact only once rounded by a cast (see the cast arm); a quotient
                        // left bare is refused after the rewrite.
                        let t = e.get_type(inputs[0].as_ref()).ok();
                        let q = marker(
                            dialect::QUOTIENT,
                            t.unwrap_or(DataType::Float64),
                            vec![*left.clone(), *right.clone()],
                        );
                        return Ok(Transformed::yes(q));
                    } else {
                        return Err(refuse(dialect, format!("the division {e}"), None));
                    }
                }
                Operator::Modulo => {
                    return Err(refuse(dialect, format!("the remainder {e}"), None));
                }
                Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq
                    if dialect == Dialect::Postgres && is_text(l.clone()) =>
                {
                    let e = Expr::BinaryExpr(BinaryExpr::new(
                        Box::new(bytewise(*left.clone())),
                        *op,
                        Box::new(bytewise(*right.clone())),
                    ));
                    return Ok(Transformed::yes(e));
                }
                Operator::RegexMatch
                | Operator::RegexIMatch
                | Operator::RegexNotMatch
                | Operator::RegexNotIMatch
                | Operator::StringConcat
                | Operator::BitwiseAnd
                | Operator::BitwiseOr
                | Operator::BitwiseXor
                | Operator::BitwiseShiftLeft
                | Operator::BitwiseShiftRight => {
                    return Err(refuse(dialect, format!("the operator {op}"), None));
                }
                _ => {}
            }
        }
        Expr::Like(_) | Expr::SimilarTo(_) => {
            return Err(refuse(dialect, format!("the pattern match {e}"), None));
        }
        _ => {}
    }
    Ok(Transformed::no(e))
}

/// Refuses a decimal quotient that no cast rounds: its digits past the scale differ between
/// engines.
fn bare_quotients(e: &Expr, dialect: Dialect) -> datafusion::error::Result<()> {
    use datafusion::common::tree_node::TreeNodeRecursion;
    let mut bare = None;
    e.apply(|e| {
        if let Expr::ScalarFunction(f) = e
            && f.func.name() == dialect::QUOTIENT
        {
            bare = Some(e.clone());
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    match bare {
        Some(Expr::ScalarFunction(f)) => Err(refuse(
            dialect,
            format!(
                "the unrounded decimal division {} / {}",
                f.args[0], f.args[1]
            ),
            Some("each engine carries a decimal quotient to its own number of places".into()),
        )),
        _ => Ok(()),
    }
}

/// Whether a cast from `from` to `to` means the same in DuckDB and PostgreSQL as in
/// DataFusion.
fn castable(from: Option<&DataType>, to: &DataType) -> bool {
    use DataType::*;
    match to {
        Utf8 | Utf8View | LargeUtf8 => !matches!(from, Some(Float16 | Float32 | Float64)),
        Int64 | Int32 | Int16 => matches!(
            from,
            Some(Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 | Null)
        ),
        Decimal32(..) | Decimal64(..) | Decimal128(..) | Decimal256(..) => matches!(
            from,
            Some(
                Int8 | Int16
                    | Int32
                    | Int64
                    | UInt8
                    | UInt16
                    | UInt32
                    | Decimal32(..)
                    | Decimal64(..)
                    | Decimal128(..)
                    | Decimal256(..)
                    | Utf8
                    | Utf8View
                    | LargeUtf8
                    | Null
            )
        ),
        Float64 => matches!(
            from,
            Some(Int8 | Int16 | Int32 | Int64 | Float32 | Float64 | Null)
        ),
        Date32 => matches!(from, Some(Date32 | Date64 | Timestamp(_, None) | Null)),
        Boolean => matches!(from, Some(Boolean | Null)),
        _ => false,
    }
}

/// `e` compared byte by byte (PostgreSQL's `COLLATE "C"`).
fn bytewise(e: Expr) -> Expr {
    marker(dialect::BYTEWISE, DataType::Utf8, vec![e])
}

/// A call of a function that exists only to be written by the dialect (`dialect.rs`); it is
/// never run.
fn marker(name: &'static str, returns: DataType, args: Vec<Expr>) -> Expr {
    Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::new(ScalarUDF::new_from_impl(Marker {
            name,
            returns,
            signature: Signature::variadic_any(Volatility::Immutable),
        })),
        args,
    ))
}

/// See [`marker`].
#[derive(Debug, PartialEq, Eq, Hash)]
struct Marker {
    name: &'static str,
    returns: DataType,
    signature: Signature,
}

impl ScalarUDFImpl for Marker {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(self.returns.clone())
    }
    fn invoke_with_args(&self, _: ScalarFunctionArgs) -> datafusion::error::Result<ColumnarValue> {
        datafusion::common::exec_err!("{} is written as SQL, never run", self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_segqls_tables_can_be_renamed() {
        let mut names = BTreeMap::new();
        names.insert("transactions".to_string(), "analytics.tx".to_string());
        assert!(check_names(&names).is_ok());
        names.insert("orders".to_string(), "x".to_string());
        let e = check_names(&names).unwrap_err().to_string();
        assert!(e.contains("`orders`"), "{e}");
        let mut empty = BTreeMap::new();
        empty.insert("customers".to_string(), " ".to_string());
        assert!(check_names(&empty).is_err());
    }

    #[test]
    fn date_formats_translate_only_what_has_an_equal() {
        assert_eq!(
            dialect::date_format(Dialect::Postgres, "%Y%m%d").as_deref(),
            Some("YYYYMMDD")
        );
        assert_eq!(
            dialect::date_format(Dialect::DuckDb, "%d.%m.%Y").as_deref(),
            Some("%d.%m.%Y")
        );
        assert_eq!(dialect::date_format(Dialect::Postgres, "%d %b %Y"), None);
        assert_eq!(dialect::date_format(Dialect::DuckDb, "%Y-%m-%dT"), None);
    }
}
