//! `segql check --data`: reads all the data once and reports, with counts, what a run decides
//! quietly: rows it skips, returns, duplicates, time zones, customers on one side only.
//!
//! Runs never pay for this: they read only the columns and rows their plans need.

use crate::error::RuntimeError;
use crate::project::config::Project;
use crate::sources::Kind;
use crate::sources::discovery::{csv_delimiter, shown_path, tables};
use crate::sources::facts::{rows_of, table_layout};
use crate::sources::normalize::role;
use crate::sources::probe::{find_unreadable, projections, raw_column};
use crate::sources::read::load;
use datafusion::arrow::array::{Array, Int64Array};
use datafusion::arrow::compute::cast as cast_array;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Column;
use datafusion::functions::expr_fn::{btrim, contains, split_part};
use datafusion::functions_aggregate::expr_fn::{count, sum};
use datafusion::logical_expr::{
    Expr, ExprFunctionExt, JoinType, LogicalPlan, LogicalPlanBuilder, cast, ident, lit,
};
use datafusion::prelude::SessionContext;

/// One counted warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// A stable code, like `segql::data::returns`.
    pub code: &'static str,
    /// Which table.
    pub table: &'static str,
    /// Its configured path.
    pub path: String,
    /// The file's column, when one column is concerned.
    pub column: Option<String>,
    /// How many rows (or customers, or dates).
    pub count: u64,
    /// What it is and what segql does about it.
    pub message: String,
}

/// One table read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSummary {
    /// Which table.
    pub table: &'static str,
    /// Its configured path.
    pub path: String,
    /// Rows in its files.
    pub rows: u64,
    /// Distinct customer ids with rows.
    pub customers: u64,
}

/// What `check --data` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataReport {
    /// The tables, in the order read.
    pub tables: Vec<TableSummary>,
    /// Warnings, table by table.
    pub warnings: Vec<Warning>,
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Reads every file and value (the first unreadable one is the error), then counts.
pub async fn check_data(project: &Project) -> Result<DataReport, RuntimeError> {
    find_unreadable(project, &Kind::ALL).await?;
    let ctx = SessionContext::new_with_config_rt(
        datafusion::prelude::SessionConfig::new(),
        crate::stores::runtime_env(),
    );
    let mut report = DataReport::default();
    // Valid customer ids of each table, as text, for the checks across tables.
    let mut id_sets: Vec<(Kind, LogicalPlan)> = Vec::new();
    for (kind, cfg) in tables(project) {
        let table = kind.name();
        let path = cfg.path.get_ref().clone();
        let what = |e: datafusion::error::DataFusionError| {
            RuntimeError::data(format!("checking {table} `{path}`"), e)
        };
        let (plan, _) = load(&ctx, project, cfg, kind).await?;
        let Some((levels, scan)) = projections(&plan) else {
            continue;
        };
        let top = levels[levels.len() - 1];
        let rows_plan = LogicalPlan::Projection(top.clone());
        let schema = top.schema.clone();
        let has = |c: &str| schema.field_with_unqualified_name(c).is_ok();
        let column = |c: &str| {
            schema
                .fields()
                .iter()
                .position(|f| f.name() == c)
                .and_then(|i| raw_column(&levels, levels.len() - 1, i))
        };
        let text_id = schema
            .field_with_unqualified_name("customer_id")
            .is_ok_and(|f| {
                matches!(
                    f.data_type(),
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                )
            });
        let id = ident("customer_id");
        let mut no_id = id.clone().is_null();
        if text_id {
            no_id = no_id.or(id.clone().eq(lit("")));
        }
        let counted = |e: Expr, cond: Expr| e.filter(cond).build();
        let mut aggs = vec![
            count(lit(1)).alias("rows"),
            counted(count(lit(1)), no_id.clone())
                .map_err(what)?
                .alias("no_id"),
        ];
        if has("ts") && kind != Kind::Customers {
            aggs.push(
                counted(count(lit(1)), ident("ts").is_null())
                    .map_err(what)?
                    .alias("no_date"),
            );
        }
        if kind == Kind::Transactions {
            aggs.push(
                counted(count(lit(1)), ident("amount").is_null())
                    .map_err(what)?
                    .alias("no_amount"),
            );
            aggs.push(
                counted(count(lit(1)), ident("amount").lt(lit(0i64)))
                    .map_err(what)?
                    .alias("returns"),
            );
        }
        let names: Vec<String> = aggs.iter().map(|a| a.schema_name().to_string()).collect();
        let counts_plan = LogicalPlanBuilder::from(rows_plan.clone())
            .aggregate(Vec::<Expr>::new(), aggs)
            .and_then(|b| b.build())
            .map_err(what)?;
        let counts = one_row(&ctx, counts_plan).await.map_err(what)?;
        // The customers the table speaks of: rows with an id (and, for purchases and
        // messages, a date), distinct ids as text.
        let mut counts_for = ident("id").is_not_null().and(ident("id").not_eq(lit("")));
        if kind != Kind::Customers && has("ts") {
            counts_for = counts_for.and(ident("ts").is_not_null());
        }
        let mut keep = vec![cast(ident("customer_id"), DataType::Utf8).alias("id")];
        if kind != Kind::Customers && has("ts") {
            keep.push(ident("ts"));
        }
        let ids = LogicalPlanBuilder::from(rows_plan.clone())
            .project(keep)
            .and_then(|b| b.filter(counts_for))
            .and_then(|b| b.project(vec![ident("id")]))
            .and_then(|b| b.distinct())
            .and_then(|b| b.build())
            .map_err(what)?;
        let customers = count_rows(&ctx, &ids).await.map_err(what)?;
        let get = |name: &str| {
            names
                .iter()
                .position(|n| n == name)
                .and_then(|i| counts.get(i).copied())
                .unwrap_or(0)
        };
        report.tables.push(TableSummary {
            table: kind.name(),
            path: path.clone(),
            rows: get("rows"),
            customers,
        });
        let mut warn = |code: &'static str, column: Option<String>, count: u64, message: String| {
            if count > 0 {
                report.warnings.push(Warning {
                    code,
                    table,
                    path: path.clone(),
                    column,
                    count,
                    message,
                });
            }
        };
        // Columns that some files of the table lack: missing values there.
        if let Ok((layout, format)) = table_layout(project, cfg, kind).await {
            let files: Vec<std::path::PathBuf> = layout
                .groups
                .iter()
                .flat_map(|(_, f)| f.iter().cloned())
                .collect();
            for (col, lacking) in layout.partly_missing() {
                let mut rows = 0;
                for f in &lacking {
                    rows += rows_of(f, format, csv_delimiter(cfg, f)).await;
                }
                let names: Vec<String> = lacking
                    .iter()
                    .take(3)
                    .map(|f| format!("`{}`", shown_path(project, cfg, &files, f)))
                    .collect();
                let more = if lacking.len() > 3 { ", ..." } else { "" };
                warn(
                    "segql::data::column_in_some_files",
                    Some(col),
                    rows.max(1),
                    format!(
                        "missing from {} of {} files ({}{more}; {}): read as missing values there",
                        lacking.len(),
                        files.len(),
                        names.join(", "),
                        plural(rows, "row", "rows")
                    ),
                );
            }
        }
        let n = get("no_id");
        let why = match kind {
            Kind::Customers => "",
            _ => " (they belong to no customer)",
        };
        warn(
            "segql::data::no_customer_id",
            column("customer_id"),
            n,
            format!(
                "{} without a customer id: skipped{why}",
                plural(n, "row", "rows")
            ),
        );
        let n = get("no_date");
        warn(
            "segql::data::no_date",
            column("ts"),
            n,
            format!("{} without a date: skipped", plural(n, "row", "rows")),
        );
        let n = get("no_amount");
        warn(
            "segql::data::no_amount",
            column("amount"),
            n,
            format!(
                "{} without an amount: purchases worth nothing (they count for frequency and recency, not for monetary)",
                plural(n, "row", "rows")
            ),
        );
        let n = get("returns");
        warn(
            "segql::data::returns",
            column("amount"),
            n,
            format!(
                "{} with a negative amount: returns, which subtract from monetary; like any line, a return is a purchase for frequency and recency",
                plural(n, "row", "rows")
            ),
        );
        if kind == Kind::Customers {
            let valid = get("rows").saturating_sub(get("no_id"));
            let n = valid.saturating_sub(customers);
            warn(
                "segql::data::duplicate_customers",
                column("customer_id"),
                n,
                format!(
                    "{} the customer id of an earlier row: merged into one customer, each attribute taking its largest value",
                    plural(n, "row repeats", "rows repeat")
                ),
            );
        } else {
            // Exact duplicates: rows equal in every column.
            let all: Vec<Expr> = schema.fields().iter().map(|f| ident(f.name())).collect();
            let dup_plan = LogicalPlanBuilder::from(rows_plan.clone())
                .aggregate(all, vec![count(lit(1)).alias("n")])
                .and_then(|b| {
                    b.aggregate(
                        Vec::<Expr>::new(),
                        vec![sum(ident("n") - lit(1i64)).alias("extra")],
                    )
                })
                .and_then(|b| b.build())
                .map_err(what)?;
            let n = one_row(&ctx, dup_plan)
                .await
                .map_err(what)?
                .first()
                .copied()
                .unwrap_or(0);
            let what_lines = if kind == Kind::Transactions {
                "kept: monetary counts each, and lines of one receipt are one purchase"
            } else {
                "kept: contacts count each"
            };
            warn(
                "segql::data::duplicate_rows",
                None,
                n,
                format!(
                    "{} an earlier row exactly: {what_lines}",
                    plural(n, "row repeats", "rows repeat")
                ),
            );
        }
        // Dates written with a time zone or an offset.
        for (i, f) in schema.fields().iter().enumerate() {
            if role(kind, f.name()) != "date" {
                continue;
            }
            let Some(raw) = raw_column(&levels, levels.len() - 1, i) else {
                continue;
            };
            let Ok(raw_field) = scan.schema().field_with_unqualified_name(&raw) else {
                continue;
            };
            let (cond, message): (Expr, Box<dyn Fn(u64) -> String>) = match raw_field.data_type() {
                DataType::Timestamp(_, Some(tz)) => {
                    let tz = tz.to_string();
                    (
                        ident(&raw).is_not_null(),
                        Box::new(move |n| {
                            format!(
                                "{} the time zone `{tz}`: each counts by its date in that zone",
                                plural(n, "date carries", "dates carry")
                            )
                        }),
                    )
                }
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                    // The part after the minutes: `00+02:00`, `00Z`, `00.5-05:00`.
                    let after = split_part(ident(&raw), lit(":"), lit(3i64));
                    (
                        contains(after.clone(), lit("+"))
                            .or(contains(after.clone(), lit("-")))
                            .or(contains(after, lit("Z"))),
                        Box::new(|n| {
                            format!(
                                "{} written with a time zone or offset: each counts by the date written, whatever the offset",
                                plural(n, "date", "dates")
                            )
                        }),
                    )
                }
                _ => continue,
            };
            let plan = LogicalPlanBuilder::from(scan.clone())
                .aggregate(
                    Vec::<Expr>::new(),
                    vec![counted(count(lit(1)), cond).map_err(what)?.alias("n")],
                )
                .and_then(|b| b.build())
                .map_err(what)?;
            let n = one_row(&ctx, plan)
                .await
                .map_err(what)?
                .first()
                .copied()
                .unwrap_or(0);
            warn("segql::data::time_zone", Some(raw.clone()), n, message(n));
        }
        id_sets.push((kind, ids));
    }
    // Ids that differ only by surrounding spaces: different customers, as written.
    if let Some((first, rest)) = id_sets.split_first() {
        let what =
            |e: datafusion::error::DataFusionError| RuntimeError::data("comparing customer ids", e);
        let mut all = LogicalPlanBuilder::from(first.1.clone());
        for (_, p) in rest {
            all = all.union(p.clone()).map_err(what)?;
        }
        let all = all.distinct().and_then(|b| b.build()).map_err(what)?;
        let padded = LogicalPlanBuilder::from(all.clone())
            .filter(ident("id").not_eq(btrim(vec![ident("id")])))
            .and_then(|b| {
                b.project(vec![
                    ident("id").alias("padded"),
                    btrim(vec![ident("id")]).alias("trimmed"),
                ])
            })
            .and_then(|b| {
                b.join(
                    all.clone(),
                    JoinType::LeftSemi,
                    (
                        vec![Column::from_name("trimmed")],
                        vec![Column::from_name("id")],
                    ),
                    None,
                )
            })
            .and_then(|b| b.build())
            .map_err(what)?;
        let n = count_rows(&ctx, &padded).await.map_err(what)?;
        if n > 0 {
            let (table, cfg) = tables(project)[0];
            report.warnings.push(Warning {
                code: "segql::data::padded_ids",
                table: table.name(),
                path: cfg.path.get_ref().clone(),
                column: None,
                count: n,
                message: format!(
                    "{} another only by spaces around it (like ` 1 ` and `1`): kept apart as different customers, as written; trim the ids in the export to make them one",
                    plural(n, "customer id differs from", "customer ids differ from")
                ),
            });
        }
    }
    // Customers on one side only.
    let find = |k: Kind| {
        id_sets
            .iter()
            .find(|(x, _)| *x == k)
            .map(|(_, p)| p.clone())
    };
    if let (Some(tx), Some(cu)) = (find(Kind::Transactions), find(Kind::Customers)) {
        let what = |e: datafusion::error::DataFusionError| {
            RuntimeError::data(
                "comparing the customer ids of transactions and customers",
                e,
            )
        };
        let only = |a: &LogicalPlan, b: &LogicalPlan| -> Result<LogicalPlan, RuntimeError> {
            LogicalPlanBuilder::from(a.clone())
                .alias("a")
                .and_then(|x| {
                    x.join(
                        LogicalPlanBuilder::from(b.clone()).alias("b")?.build()?,
                        JoinType::LeftAnti,
                        (
                            vec![Column::new(Some("a"), "id")],
                            vec![Column::new(Some("b"), "id")],
                        ),
                        None,
                    )
                })
                .and_then(|x| x.aggregate(Vec::<Expr>::new(), vec![count(lit(1)).alias("n")]))
                .and_then(|x| x.build())
                .map_err(what)
        };
        let unknown = one_row(&ctx, only(&tx, &cu)?).await.map_err(what)?;
        let prospects = one_row(&ctx, only(&cu, &tx)?).await.map_err(what)?;
        let path_of = |k: Kind| {
            tables(project)
                .into_iter()
                .find(|(x, _)| *x == k)
                .map(|(_, c)| c.path.get_ref().clone())
                .unwrap_or_default()
        };
        let n = unknown.first().copied().unwrap_or(0);
        if n > 0 {
            report.warnings.push(Warning {
                code: "segql::data::unknown_customers",
                table: "transactions",
                path: path_of(Kind::Transactions),
                column: None,
                count: n,
                message: format!(
                    "{} with purchases not in the customers file: they still count, with empty attributes",
                    plural(n, "customer", "customers")
                ),
            });
        }
        let n = prospects.first().copied().unwrap_or(0);
        if n > 0 {
            report.warnings.push(Warning {
                code: "segql::data::prospects",
                table: "customers",
                path: path_of(Kind::Customers),
                column: None,
                count: n,
                message: format!(
                    "{} no purchase in the transactions: prospects (lifecycle = prospect)",
                    plural(n, "customer has", "customers have")
                ),
            });
        }
    }
    Ok(report)
}

/// The number of rows of a plan.
async fn count_rows(ctx: &SessionContext, plan: &LogicalPlan) -> datafusion::error::Result<u64> {
    let plan = LogicalPlanBuilder::from(plan.clone())
        .aggregate(Vec::<Expr>::new(), vec![count(lit(1)).alias("n")])?
        .build()?;
    Ok(one_row(ctx, plan).await?.first().copied().unwrap_or(0))
}

/// The values of a one-row result, as counts.
async fn one_row(ctx: &SessionContext, plan: LogicalPlan) -> datafusion::error::Result<Vec<u64>> {
    let batches = ctx.execute_logical_plan(plan).await?.collect().await?;
    let Some(b) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Ok(vec![]);
    };
    let mut out = Vec::new();
    for c in b.columns() {
        let c = cast_array(c, &DataType::Int64)?;
        let v = c
            .as_any()
            .downcast_ref::<Int64Array>()
            .filter(|a| !a.is_empty() && a.is_valid(0))
            .map_or(0, |a| a.value(0));
        out.push(v.max(0) as u64);
    }
    Ok(out)
}
