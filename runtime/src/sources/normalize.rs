//! Column roles and casts: the projection that renames a file's columns to segql's canonical
//! names and casts them to canonical types.
//!
//! Canonical types: `customer_id` Int64 or text (Utf8View; text in every table when the
//! tables disagree), dates Date32, `amount` an exact decimal of 2 places or the file's larger
//! scale (see [`amount_type`]), `quantity` Int64 or Decimal128(38, 3), dimensions and ids
//! Utf8.

use super::discovery::Kind;
use super::facts::AmountBound;
use crate::error::RuntimeError;
use crate::project::config::{TX_OPTIONAL, TX_REQUIRED, TableConfig};
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::functions::expr_fn::to_date;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, cast, ident, lit};

/// The type of ids and text columns of transactions and communications: Arrow's string
/// view, which Parquet is read as, so that large files are never copied into another string
/// layout (CSV text becomes views of its own buffers, without copying).
pub const TEXT: DataType = DataType::Utf8View;

/// The role of a canonical column, which decides its type.
pub(crate) fn role(kind: Kind, canonical: &str) -> &'static str {
    match (kind, canonical) {
        (_, "customer_id") => "id",
        (Kind::Transactions | Kind::Communications, "ts") => "date",
        (Kind::Customers, "birthday" | "signup_date") => "date",
        (Kind::Transactions, "amount") => "amount",
        (Kind::Transactions, "quantity") => "quantity",
        (Kind::Transactions, "points_earned" | "points_redeemed") => "number",
        (Kind::Customers, _) => "attribute",
        _ => "text",
    }
}

/// The projection that renames and casts a file's columns to the canonical ones.
pub(crate) fn normalize(
    schema: &Schema,
    cfg: &TableConfig,
    kind: Kind,
    amounts: Option<AmountBound>,
) -> Result<Vec<Expr>, RuntimeError> {
    let table = kind.name();
    let mapped = |canonical: &str| cfg.mapped(canonical);
    let available: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let missing = |canonical: &str, column: &str| {
        let close = segql_compiler::error::closest(column, available.iter().copied())
            .map(|c| format!("did you mean `{c}`? "))
            .unwrap_or_default();
        RuntimeError::MissingColumn {
            table: table.into(),
            path: cfg.path.get_ref().clone(),
            column: column.into(),
            canonical: canonical.into(),
            help: format!(
                "{close}the file has: {}. Map the column in segql.toml: [{table}.columns] {canonical} = \"...\"",
                available.join(", ")
            ),
        }
    };
    // (canonical name, source column)
    let mut pairs: Vec<(String, String)> = Vec::new();
    match kind {
        Kind::Transactions | Kind::Communications => {
            let (required, optional): (&[&str], &[&str]) = if kind == Kind::Transactions {
                (&TX_REQUIRED, &TX_OPTIONAL)
            } else {
                (&["customer_id", "ts"], &["channel", "campaign"])
            };
            for c in required {
                let src = mapped(c).unwrap_or(c);
                if !available.contains(&src) {
                    return Err(missing(c, src));
                }
                pairs.push((c.to_string(), src.to_string()));
            }
            for c in optional {
                match mapped(c) {
                    Some(src) if !available.contains(&src) => return Err(missing(c, src)),
                    Some(src) => pairs.push((c.to_string(), src.to_string())),
                    None if available.contains(c) => pairs.push((c.to_string(), c.to_string())),
                    None => {}
                }
            }
        }
        Kind::Customers => {
            for (k, v) in &cfg.columns {
                if !available.contains(&v.get_ref().as_str()) {
                    return Err(missing(k.get_ref(), v.get_ref()));
                }
            }
            let id = mapped("customer_id").unwrap_or("customer_id");
            if !available.contains(&id) {
                return Err(missing("customer_id", id));
            }
            for col in &available {
                let canonical = cfg
                    .columns
                    .iter()
                    .find(|(_, v)| v.get_ref() == col)
                    .map(|(k, _)| k.get_ref().clone())
                    .unwrap_or_else(|| col.to_string());
                if canonical != "customer_id" || *col == id {
                    pairs.push((canonical, col.to_string()));
                }
            }
        }
    }
    pairs
        .into_iter()
        .map(|(canonical, src)| {
            let dt = schema
                .field_with_name(&src)
                .map(|f| f.data_type().clone())
                .unwrap_or(DataType::Utf8);
            let e = cast_for_role(
                ident(&src),
                &dt,
                role(kind, &canonical),
                cfg.date_format.as_deref(),
                cfg.amount_scale.unwrap_or(2),
                amounts,
            )
            .ok_or_else(|| RuntimeError::BadColumnType {
                table: table.into(),
                path: cfg.path.get_ref().clone(),
                column: src.clone(),
                canonical: canonical.clone(),
                found: dt.to_string(),
                help: match role(kind, &canonical) {
                    "date" => {
                        "dates may be date, timestamp, text or integer (YYYYMMDD) columns".into()
                    }
                    "amount" | "quantity" | "number" => "use a numeric column".into(),
                    _ => "use a text or integer column".into(),
                },
            })?;
            Ok(e.alias(canonical))
        })
        .collect()
}

fn cast_for_role(
    e: Expr,
    dt: &DataType,
    role: &str,
    date_format: Option<&str>,
    amount_scale: i8,
    amounts: Option<AmountBound>,
) -> Option<Expr> {
    if dt == &DataType::Null {
        // An empty CSV file has no values to infer types from: give each role its type.
        let t = match role {
            "date" => DataType::Date32,
            "amount" => DataType::Decimal128(38, amount_scale),
            "quantity" | "number" => DataType::Int64,
            "attribute" => DataType::Utf8,
            _ => TEXT,
        };
        return Some(cast(e, t));
    }
    Some(match role {
        "id" if is_int(dt) => cast(e, DataType::Int64),
        "id" if is_text(dt) || matches!(dt, DataType::Dictionary(..)) => cast(e, TEXT),
        "id" => return None,
        "date" => match dt {
            DataType::Date32 => e,
            DataType::Date64 | DataType::Timestamp(..) => cast(e, DataType::Date32),
            d if is_text(d) => match date_format {
                Some(f) => to_date(vec![e, lit(f)]),
                None => to_date(vec![e]),
            },
            d if is_int(d) => to_date(vec![
                cast(e, DataType::Utf8),
                lit(date_format.unwrap_or("%Y%m%d")),
            ]),
            _ => return None,
        },
        "amount" => match amount_type(dt, amount_scale, amounts) {
            Some(t) if &t == dt => e,
            Some(t) => cast(e, t),
            None => return None,
        },
        "quantity" => match dt {
            d if is_int(d) => cast(e, DataType::Int64),
            d if d.is_numeric() || is_text(d) => cast(e, DataType::Decimal128(38, 3)),
            _ => return None,
        },
        "number" => match dt {
            d if is_int(d) => cast(e, DataType::Int64),
            d if d.is_numeric() => cast(e, DataType::Float64),
            _ => return None,
        },
        "attribute" => match dt {
            d if is_text(d) => cast(e, DataType::Utf8),
            // Timestamps compare by their date, like every date in the language.
            DataType::Date64 | DataType::Timestamp(..) => cast(e, DataType::Date32),
            _ => e,
        },
        _ => match dt {
            DataType::Utf8View => e,
            _ => cast(e, TEXT),
        },
    })
}

/// The exact type amounts are read as, `None` for a column that holds no numbers. The value
/// of every line is the same whichever type is chosen: the file's decimal, or a number rounded
/// half away from zero to `scale` places (`round(v * 10^scale)`, as Arrow casts). The choice
/// only decides what each line costs:
///
/// - A `Decimal128` of at least `scale` places is read as it is, without a per-line cast. Its
///   sums are `Decimal128` too and accumulate in 128 bits like those of `Decimal128(38, _)`;
///   the values a plan shows (monetary, spend, average check) are cast to `Decimal128(38, _)`
///   after the aggregation.
/// - A floating-point column whose Parquet statistics bound every sum
///   (`lines * (max |amount| * 10^scale + 1) < 10^18`, [`AmountBound`]) becomes
///   `Decimal64(18, scale)`: half the width of `Decimal128`, and no sum of any set of its lines
///   (all of them included) can leave 18 digits, so its 64-bit sums are exact.
/// - Anything else (text, integers, other decimals, floats without such statistics, as in CSV
///   files) becomes `Decimal128(38, scale)` (or the file's larger scale).
pub(crate) fn amount_type(
    dt: &DataType,
    scale: i8,
    amounts: Option<AmountBound>,
) -> Option<DataType> {
    Some(match dt {
        DataType::Decimal128(_, s) if *s >= scale => dt.clone(),
        DataType::Decimal32(_, s)
        | DataType::Decimal64(_, s)
        | DataType::Decimal128(_, s)
        | DataType::Decimal256(_, s) => DataType::Decimal128(38, (*s).max(scale)),
        DataType::Float16 | DataType::Float32 | DataType::Float64
            if amounts.is_some_and(|b| sums_fit_decimal64(b, scale)) =>
        {
            DataType::Decimal64(18, scale)
        }
        d if d.is_numeric() || is_text(d) => DataType::Decimal128(38, scale),
        _ => return None,
    })
}

/// True when no sum of lines bounded by `b` leaves `Decimal64(18, scale)`: every line rounds
/// to at most `max_abs * 10^scale + 1` units, and all `rows` of them together stay under 10^18.
fn sums_fit_decimal64(b: AmountBound, scale: i8) -> bool {
    let units = b.max_abs * 10f64.powi(scale.into()) + 1.0;
    (b.rows.max(1) as f64) * units < 1e18
}

/// CSV timestamps (read as text) as the date they were written on: the part before the `T` or
/// the space, whatever offset follows, so `2024-01-01T23:30:00-05:00` is 1 January.
pub(crate) fn local_dates(
    df: datafusion::prelude::DataFrame,
    inferred: &Schema,
) -> datafusion::error::Result<datafusion::prelude::DataFrame> {
    use datafusion::functions::expr_fn::split_part;
    let mut df = df;
    for f in inferred.fields() {
        if matches!(f.data_type(), DataType::Timestamp(_, None)) {
            let day = split_part(
                split_part(ident(f.name()), lit("T"), lit(1i64)),
                lit(" "),
                lit(1i64),
            );
            df = df.with_column(f.name(), to_date(vec![day]))?;
        }
    }
    Ok(df)
}

pub(crate) fn is_text(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

fn is_int(dt: &DataType) -> bool {
    dt.is_integer()
}

/// The type of a plan's `customer_id` column.
pub(crate) fn id_type(p: &LogicalPlan) -> DataType {
    p.schema()
        .field_with_unqualified_name("customer_id")
        .map(|f| f.data_type().clone())
        .unwrap_or(TEXT)
}

/// `p` with its customer ids as text (unchanged when they are).
pub(crate) fn ids_as_text(p: LogicalPlan) -> Result<LogicalPlan, RuntimeError> {
    if id_type(&p) == TEXT {
        return Ok(p);
    }
    let exprs: Vec<Expr> = p
        .schema()
        .fields()
        .iter()
        .map(|f| {
            if f.name() == "customer_id" && f.data_type() != &TEXT {
                cast(ident("customer_id"), TEXT).alias("customer_id")
            } else {
                ident(f.name())
            }
        })
        .collect();
    LogicalPlanBuilder::from(p)
        .project(exprs)
        .and_then(|b| b.build())
        .map_err(|e| RuntimeError::data("normalizing customer ids", e))
}
