//! The SQL dialects segql writes, and how DataFusion's unparser writes each: DataFusion's
//! own dialect per engine, with segql's overrides for the functions whose names or
//! arguments differ.

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{Expr, cast, lit};
use datafusion::sql::sqlparser::ast;
use datafusion::sql::unparser::Unparser;
use datafusion::sql::unparser::dialect::{
    CharacterLengthStyle, DateFieldExtractStyle, DefaultDialect, Dialect as Unparse,
    DistinctFromStyle, DuckDBDialect, IntervalStyle, PostgreSqlDialect,
};
use std::sync::Arc;

/// A SQL dialect segql writes queries in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// DuckDB 1.3 or later.
    DuckDb,
    /// PostgreSQL 12 or later.
    Postgres,
    /// DataFusion's SQL, with segql's function `segql_holdout_bucket` registered
    /// (`segql_compiler::udf::all`).
    DataFusion,
}

impl Dialect {
    /// Every dialect, in the order they are listed.
    pub const ALL: [Dialect; 3] = [Dialect::DuckDb, Dialect::Postgres, Dialect::DataFusion];

    /// The name `--dialect` takes.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::DuckDb => "duckdb",
            Dialect::Postgres => "postgres",
            Dialect::DataFusion => "datafusion",
        }
    }

    /// The engine's name, for messages.
    pub fn engine(self) -> &'static str {
        match self {
            Dialect::DuckDb => "DuckDB",
            Dialect::Postgres => "PostgreSQL",
            Dialect::DataFusion => "DataFusion",
        }
    }

    /// The unparser's dialect for this one.
    pub(super) fn unparser_dialect(self) -> Unparsing {
        let inner: Box<dyn Unparse> = match self {
            Dialect::DuckDb => Box::new(DuckDBDialect::new()),
            Dialect::Postgres => Box::new(PostgreSqlDialect {}),
            Dialect::DataFusion => Box::new(DefaultDialect {}),
        };
        Unparsing {
            dialect: self,
            inner,
        }
    }
}

/// Writes the dialect's SQL: its DataFusion unparser dialect, with segql's overrides.
pub(super) struct Unparsing {
    dialect: Dialect,
    inner: Box<dyn Unparse>,
}

/// The name of the marker function the plan is rewritten with for a date's day number (days
/// since 1970-01-01, DataFusion's `CAST(date AS INT)`), written per dialect.
pub(super) const EPOCH_DAYS: &str = "segql_epoch_days";

/// The name of the marker function for text compared byte by byte, as DataFusion compares
/// it: `COLLATE "C"` in PostgreSQL, whose default collation may order otherwise.
pub(super) const BYTEWISE: &str = "segql_bytewise";

/// Marker of a quotient of integers, truncated toward zero (DataFusion's, PostgreSQL's `/`,
/// DuckDB's `//`).
pub(super) const INT_QUOTIENT: &str = "segql_int_quotient";

/// Marker of a decimal quotient before it is rounded (never written: refused when bare).
pub(super) const QUOTIENT: &str = "segql_quotient";

/// Marker of a decimal quotient rounded half away from zero to a decimal type: `(a, b,
/// scale of a, scale of b, precision, scale)`.
pub(super) const ROUNDED_QUOTIENT: &str = "segql_rounded_quotient";

/// Marker of a floating-point number cast to a decimal: `(v, precision, scale)`.
pub(super) const FLOAT_TO_DECIMAL: &str = "segql_float_to_decimal";

/// A chrono date format as the dialect's, when every part of it has an equal there: only
/// `%Y`, `%m`, `%d`, `%y` and literal `-`, `/`, `.`, ` `, digits-free separators.
pub(super) fn date_format(dialect: Dialect, chrono: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = chrono.chars();
    while let Some(c) = chars.next() {
        if c == '%' {
            let spec = chars.next()?;
            let (pg, duck) = match spec {
                'Y' => ("YYYY", "%Y"),
                'm' => ("MM", "%m"),
                'd' => ("DD", "%d"),
                _ => return None,
            };
            out.push_str(if dialect == Dialect::Postgres {
                pg
            } else {
                duck
            });
        } else if matches!(c, '-' | '/' | '.' | ' ' | '_') {
            out.push(c);
        } else {
            return None;
        }
    }
    Some(out)
}

impl Unparsing {
    /// `expr` written by the unparser.
    fn sql(&self, unparser: &Unparser, expr: &Expr) -> Result<ast::Expr> {
        unparser.expr_to_sql(expr)
    }

    /// A call of `name` with `args` already written.
    fn call(name: &str, args: Vec<ast::Expr>) -> ast::Expr {
        ast::Expr::Function(ast::Function {
            name: ast::ObjectName::from(vec![ast::Ident::new(name)]),
            uses_odbc_syntax: false,
            parameters: ast::FunctionArguments::None,
            args: ast::FunctionArguments::List(ast::FunctionArgumentList {
                duplicate_treatment: None,
                args: args
                    .into_iter()
                    .map(|a| ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(a)))
                    .collect(),
                clauses: vec![],
            }),
            filter: None,
            null_treatment: None,
            over: None,
            within_group: vec![],
        })
    }

    /// `e` cast to text: a column the files hold as text may be a date or timestamp in the
    /// warehouse.
    fn as_text(&self, unparser: &Unparser, e: &Expr) -> Result<ast::Expr> {
        match e {
            Expr::Column(_) => self.sql(unparser, &cast(e.clone(), DataType::Utf8)),
            _ => self.sql(unparser, e),
        }
    }
}

impl Unparse for Unparsing {
    fn identifier_quote_style(&self, identifier: &str) -> Option<char> {
        self.inner.identifier_quote_style(identifier)
    }
    fn use_array_keyword_for_array_literals(&self) -> bool {
        self.inner.use_array_keyword_for_array_literals()
    }
    fn supports_nulls_first_in_sort(&self) -> bool {
        self.inner.supports_nulls_first_in_sort()
    }
    fn use_timestamp_for_date64(&self) -> bool {
        self.inner.use_timestamp_for_date64()
    }
    fn interval_style(&self) -> IntervalStyle {
        self.inner.interval_style()
    }
    fn float64_ast_dtype(&self) -> ast::DataType {
        self.inner.float64_ast_dtype()
    }
    fn utf8_cast_dtype(&self) -> ast::DataType {
        self.inner.utf8_cast_dtype()
    }
    fn large_utf8_cast_dtype(&self) -> ast::DataType {
        self.inner.large_utf8_cast_dtype()
    }
    fn date_field_extract_style(&self) -> DateFieldExtractStyle {
        self.inner.date_field_extract_style()
    }
    fn distinct_from_style(&self) -> DistinctFromStyle {
        self.inner.distinct_from_style()
    }
    fn character_length_style(&self) -> CharacterLengthStyle {
        self.inner.character_length_style()
    }
    fn int64_cast_dtype(&self) -> ast::DataType {
        self.inner.int64_cast_dtype()
    }
    fn int8_cast_dtype(&self) -> ast::DataType {
        self.inner.int8_cast_dtype()
    }
    fn int32_cast_dtype(&self) -> ast::DataType {
        self.inner.int32_cast_dtype()
    }
    fn timestamp_cast_dtype(&self, unit: &TimeUnit, tz: &Option<Arc<str>>) -> ast::DataType {
        self.inner.timestamp_cast_dtype(unit, tz)
    }
    fn date32_cast_dtype(&self) -> ast::DataType {
        self.inner.date32_cast_dtype()
    }
    fn supports_column_alias_in_table_alias(&self) -> bool {
        self.inner.supports_column_alias_in_table_alias()
    }
    fn requires_derived_table_alias(&self) -> bool {
        // Every derived table gets an alias: PostgreSQL requires one, the others accept it.
        true
    }
    fn division_operator(&self) -> ast::BinaryOperator {
        // The plan's divisions are of decimals and floats (checked before writing), which
        // `/` divides in every dialect.
        ast::BinaryOperator::Divide
    }
    fn supports_qualify(&self) -> bool {
        self.inner.supports_qualify()
    }
    fn supports_empty_select_list(&self) -> bool {
        self.inner.supports_empty_select_list()
    }
    fn col_alias_overrides(&self, alias: &str) -> Result<Option<String>> {
        self.inner.col_alias_overrides(alias)
    }

    fn scalar_function_to_sql_overrides(
        &self,
        unparser: &Unparser,
        name: &str,
        args: &[Expr],
    ) -> Result<Option<ast::Expr>> {
        if self.dialect == Dialect::DataFusion {
            return self
                .inner
                .scalar_function_to_sql_overrides(unparser, name, args);
        }
        match (name, args) {
            (EPOCH_DAYS, [d]) => {
                // The day number: the difference of two dates is whole days in both engines.
                let epoch = lit(ScalarValue::Date32(Some(0)));
                let e = self.sql(unparser, &(d.clone() - epoch))?;
                Ok(Some(ast::Expr::Nested(Box::new(e))))
            }
            (BYTEWISE, [e]) => Ok(Some(ast::Expr::Nested(Box::new(ast::Expr::Collate {
                expr: Box::new(self.sql(unparser, e)?),
                collation: ast::ObjectName::from(vec![ast::Ident::with_quote('"', "C")]),
            })))),
            (INT_QUOTIENT, [a, b]) => {
                let op = match self.dialect {
                    Dialect::DuckDb => ast::BinaryOperator::DuckIntegerDivide,
                    _ => ast::BinaryOperator::Divide,
                };
                Ok(Some(ast::Expr::Nested(Box::new(ast::Expr::BinaryOp {
                    left: Box::new(self.sql(unparser, a)?),
                    op,
                    right: Box::new(self.sql(unparser, b)?),
                }))))
            }
            (ROUNDED_QUOTIENT, [a, b, sa, sb, p, s]) => {
                let int = |e: &Expr| match e {
                    Expr::Literal(ScalarValue::Int64(Some(v)), _) => *v,
                    _ => 0,
                };
                let (sa, sb, p, s) = (int(sa), int(sb), int(p), int(s));
                let (a, b) = (self.sql(unparser, a)?, self.sql(unparser, b)?);
                let decimal = |p: i64, s: i64| {
                    ast::DataType::Decimal(ast::ExactNumberInfo::PrecisionAndScale(p as u64, s))
                };
                let cast_to = |e: ast::Expr, t: ast::DataType| ast::Expr::Cast {
                    kind: ast::CastKind::Cast,
                    expr: Box::new(e),
                    data_type: t,
                    array: false,
                    format: None,
                };
                Ok(Some(match self.dialect {
                    // PostgreSQL divides numerics to at least 16 significant digits, rounded:
                    // the cast then rounds as DataFusion does.
                    Dialect::Postgres => cast_to(
                        ast::Expr::Nested(Box::new(ast::Expr::BinaryOp {
                            left: Box::new(a),
                            op: ast::BinaryOperator::Divide,
                            right: Box::new(b),
                        })),
                        decimal(p, s),
                    ),
                    // DuckDB divides decimals as doubles: the quotient in integers instead.
                    _ => rounded_quotient_in_integers(a, b, sa, sb, p, s)?,
                }))
            }
            (FLOAT_TO_DECIMAL, [v, p, s]) => {
                let int = |e: &Expr| match e {
                    Expr::Literal(ScalarValue::Int64(Some(v)), _) => *v,
                    _ => 0,
                };
                let (p, s) = (int(p), int(s));
                let v = self.sql(unparser, v)?;
                let unit = if s > 0 {
                    format!("0.{}1", "0".repeat(s as usize - 1))
                } else {
                    "1".into()
                };
                // As Arrow casts: `round(v * 10^s)` half away from zero, then `10^-s` units.
                // `floor(|x| + 0.5)` is that rounding for 0.5 <= |x| < 2^52 (the sum is exact
                // or rounds within the same integer); below, the units are 0; from 2^52 on,
                // every double is a whole number already (and `+ 0.5` could round up).
                let x = format!(
                    "(CAST({} AS DOUBLE PRECISION) * CAST({v} AS DOUBLE PRECISION))",
                    ten(s)
                );
                let text = format!(
                    "CAST(CAST(CAST(CASE WHEN abs({x}) < 0.5 THEN 0 WHEN abs({x}) >= 4503599627370496 THEN {x} ELSE sign({x}) * floor(abs({x}) + 0.5) END AS BIGINT) AS DECIMAL(38, 0)) * CAST({unit} AS DECIMAL(38, {s})) AS DECIMAL({p}, {s}))"
                );
                Ok(Some(parse_expr(&text)?))
            }
            ("to_date", [text]) => {
                let t = self.as_text(unparser, text)?;
                Ok(Some(ast::Expr::Cast {
                    kind: ast::CastKind::Cast,
                    expr: Box::new(t),
                    data_type: ast::DataType::Date,
                    array: false,
                    format: None,
                }))
            }
            ("to_date", [text, Expr::Literal(ScalarValue::Utf8(Some(f)), _)]) => {
                let t = self.as_text(unparser, text)?;
                // Checked before writing: every format here has an equal.
                let format = date_format(self.dialect, f).unwrap_or_default();
                let format = ast::Expr::value(ast::Value::SingleQuotedString(format));
                Ok(Some(match self.dialect {
                    Dialect::Postgres => Self::call("to_date", vec![t, format]),
                    _ => ast::Expr::Cast {
                        kind: ast::CastKind::Cast,
                        expr: Box::new(Self::call("strptime", vec![t, format])),
                        data_type: ast::DataType::Date,
                        array: false,
                        format: None,
                    },
                }))
            }
            ("split_part", [text, rest @ ..]) => {
                let mut written = vec![self.as_text(unparser, text)?];
                for a in rest {
                    written.push(self.sql(unparser, a)?);
                }
                Ok(Some(Self::call("split_part", written)))
            }
            _ => self
                .inner
                .scalar_function_to_sql_overrides(unparser, name, args),
        }
    }
}

/// `a / b` rounded half away from zero to `DECIMAL(p, s)`, in DuckDB's 128-bit integers:
/// with `A`, `B` the operands in units of their scales, the quotient in units of `10^-s` is
/// `sign(A) * sign(B) * ((2 * |A| * 10^k + |B|) // (2 * |B|))` for `k = s + sb - sa` (the
/// powers moved to `B` when `k` is negative).
fn rounded_quotient_in_integers(
    a: ast::Expr,
    b: ast::Expr,
    sa: i64,
    sb: i64,
    p: i64,
    s: i64,
) -> Result<ast::Expr> {
    let parse = |text: String| {
        datafusion::sql::sqlparser::parser::Parser::new(
            &datafusion::sql::sqlparser::dialect::DuckDbDialect {},
        )
        .try_with_sql(&text)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| datafusion::error::DataFusionError::Plan(format!("writing a quotient: {e}")))
    };
    // Powers of ten as integer literals: a decimal times an integer stays an exact decimal.
    let ten_to = |k: i64| format!("1{}", "0".repeat(k.max(0) as usize));
    let units = |e: &ast::Expr, scale: i64| format!("CAST(({e}) * {} AS HUGEINT)", ten_to(scale));
    let pow = |k: i64| format!("CAST({} AS HUGEINT)", ten_to(k));
    let unit = if s > 0 {
        format!("0.{}1", "0".repeat(s as usize - 1))
    } else {
        "1".into()
    };
    let (ua, ub) = (units(&a, sa), units(&b, sb));
    let k = s + sb - sa;
    let (num, den) = if k >= 0 {
        (format!("abs({ua}) * {}", pow(k)), format!("abs({ub})"))
    } else {
        (format!("abs({ua})"), format!("abs({ub}) * {}", pow(-k)))
    };
    parse(format!(
        "CAST(CAST(sign({ua}) * sign({ub}) * ((2 * {num} + {den}) // (2 * {den})) AS DECIMAL(38, 0)) * CAST({unit} AS DECIMAL(38, {s})) AS DECIMAL({p}, {s}))"
    ))
}

/// `10^k` as an integer literal.
fn ten(k: i64) -> String {
    format!("1{}", "0".repeat(k.max(0) as usize))
}

/// An expression segql writes as text, parsed (in the syntax every dialect here shares).
fn parse_expr(text: &str) -> Result<ast::Expr> {
    datafusion::sql::sqlparser::parser::Parser::new(
        &datafusion::sql::sqlparser::dialect::PostgreSqlDialect {},
    )
    .try_with_sql(text)
    .and_then(|mut p| p.parse_expr())
    .map_err(|e| datafusion::error::DataFusionError::Plan(format!("writing {text}: {e}")))
}
