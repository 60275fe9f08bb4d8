//! The RFM grid (`segql rfm`): the customers scored in the RFM window, per R x F cell
//! (customers, share of revenue, average monetary) and per named segment (customers and
//! shares), from one aggregation of the per-customer table by R, F and segment (at most 125
//! groups), summed exactly here.

use crate::{Engine, RuntimeError};
use chrono::NaiveDate;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Field, Int64Type, Schema};
use datafusion::arrow::error::ArrowError;
use datafusion::functions_aggregate::expr_fn::{count, sum};
use datafusion::logical_expr::{LogicalPlanBuilder, cast as cast_expr, ident, lit};
use segql_compiler::CompileError;
use segql_compiler::catalog::RfmMethod;
use segql_compiler::ir::{Metric, MetricKind, RfmPart, Value};
use std::sync::Arc;

/// How the segment row of customers whose code is in no segment is named.
pub const NO_SEGMENT: &str = "(no segment)";

/// One cell of the grid: the customers scored R and F, whatever their M.
#[derive(Debug, Clone, PartialEq)]
pub struct RfmCell {
    /// Recency score, 1-5.
    pub r: u8,
    /// Frequency score, 1-5.
    pub f: u8,
    /// Customers in the cell.
    pub customers: i64,
    /// Their share of the scored customers, in percent (one decimal).
    pub share_of_customers_pct: Option<f64>,
    /// Their monetary in the RFM window, summed (two decimals).
    pub revenue: f64,
    /// Their share of the scored customers' monetary, in percent (one decimal); `None` when
    /// that total is not positive.
    pub share_of_revenue_pct: Option<f64>,
    /// Revenue per customer (two decimals); `None` for an empty cell.
    pub avg_monetary: Option<f64>,
}

/// One named segment (or [`NO_SEGMENT`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RfmSegmentRow {
    /// The segment's name.
    pub segment: String,
    /// Customers in it.
    pub customers: i64,
    /// Their share of the scored customers, in percent (one decimal).
    pub share_of_customers_pct: Option<f64>,
    /// Their monetary in the RFM window (two decimals).
    pub revenue: f64,
    /// Their share of the scored customers' monetary, in percent (one decimal).
    pub share_of_revenue_pct: Option<f64>,
    /// Revenue per customer (two decimals).
    pub avg_monetary: Option<f64>,
}

/// The report.
#[derive(Debug, Clone, PartialEq)]
pub struct RfmGrid {
    /// The as-of date.
    pub as_of: NaiveDate,
    /// The RFM window in days.
    pub window_days: u64,
    /// The scoring method of measures without bins.
    pub method: RfmMethod,
    /// The measures scored by fixed bins: any of `recency`, `frequency`, `monetary`.
    pub binned: Vec<&'static str>,
    /// Customers scored: those with a purchase in the window.
    pub customers: i64,
    /// Their monetary in the window (two decimals).
    pub revenue: f64,
    /// The 25 cells, R from 5 down to 1, and in each F from 1 to 5.
    pub cells: Vec<RfmCell>,
    /// The segments in the project's order, then [`NO_SEGMENT`] when some code has none.
    pub segments: Vec<RfmSegmentRow>,
}

/// Customers and exact monetary (units of `10^-scale`) of one group.
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    customers: i64,
    units: i128,
}

impl std::ops::AddAssign for Sums {
    fn add_assign(&mut self, o: Sums) {
        self.customers += o.customers;
        self.units += o.units;
    }
}

/// The RFM grid of `engine`'s project as of its as-of date.
pub async fn rfm_grid(engine: &Engine) -> Result<RfmGrid, RuntimeError> {
    rfm_grid_at(engine, None).await
}

/// The RFM grid of one partner's purchases (`segql rfm --partner P`): customers scored and
/// ranked on what they bought at the partner alone, as if the partner's transactions were
/// the whole program's; the grid of [`rfm_grid`] without one.
pub async fn rfm_grid_at(engine: &Engine, partner: Option<&str>) -> Result<RfmGrid, RuntimeError> {
    let mut catalog = engine.catalog.clone();
    if let Some(p) = partner {
        catalog.transactions = LogicalPlanBuilder::from(catalog.transactions)
            .filter(ident("partner").eq(lit(p)))
            .and_then(|b| b.build())
            .map_err(CompileError::from)?;
    }
    let catalog = &catalog;
    let ranking = &catalog.ranking;
    let monetary = Value::Metric(Metric {
        kind: MetricKind::Monetary,
        window: Some(ranking.rfm_window),
        scope: vec![],
    });
    let values = [
        Value::Rfm(RfmPart::R),
        Value::Rfm(RfmPart::F),
        Value::Rfm(RfmPart::Segment),
        monetary.clone(),
    ];
    let per_customer =
        segql_compiler::PerCustomer::build(catalog, &values, false).map_err(CompileError::from)?;
    let col = |v: &Value| ident(per_customer.column(v).expect("the value is a column"));
    let plan = LogicalPlanBuilder::from(per_customer.plan.clone())
        .filter(col(&values[0]).is_not_null())
        .and_then(|b| {
            b.aggregate(
                vec![
                    cast_expr(col(&values[0]), DataType::Int64).alias("r"),
                    cast_expr(col(&values[1]), DataType::Int64).alias("f"),
                    col(&values[2]).alias("segment"),
                ],
                vec![
                    count(lit(1)).alias("customers"),
                    sum(col(&monetary)).alias("revenue"),
                ],
            )
        })
        .and_then(|b| b.build())
        .map_err(CompileError::from)?;
    let batches = engine.collect(plan).await?;
    // (r, f, segment, sums), exact at the largest scale of the batches.
    let scale = batches
        .iter()
        .map(|b| match b.schema().field(4).data_type() {
            DataType::Decimal128(_, s) | DataType::Decimal256(_, s) => *s,
            _ => 0,
        })
        .max()
        .unwrap_or(2)
        .max(0);
    let arrow = |e: ArrowError| RuntimeError::data("the RFM grid", e.into());
    let mut groups: Vec<(u8, u8, Option<String>, Sums)> = Vec::new();
    for b in &batches {
        let r = b.column(0).as_primitive::<Int64Type>();
        let f = b.column(1).as_primitive::<Int64Type>();
        let seg = cast(b.column(2), &DataType::Utf8).map_err(arrow)?;
        let seg = seg.as_string::<i32>();
        let n = b.column(3).as_primitive::<Int64Type>();
        let rev = cast(b.column(4), &DataType::Decimal128(38, scale)).map_err(arrow)?;
        let rev = rev.as_primitive::<Decimal128Type>();
        for i in 0..b.num_rows() {
            groups.push((
                r.value(i) as u8,
                f.value(i) as u8,
                (!seg.is_null(i)).then(|| seg.value(i).to_string()),
                Sums {
                    customers: n.value(i),
                    units: if rev.is_null(i) { 0 } else { rev.value(i) },
                },
            ));
        }
    }
    let mut total = Sums::default();
    for g in &groups {
        total += g.3;
    }
    let money = |units: i128| units as f64 / 10f64.powi(scale as i32);
    let round = |x: f64, d: i32| (x * 10f64.powi(d)).round() / 10f64.powi(d);
    let pct =
        |part: i128, whole: i128| (whole > 0).then(|| round(100.0 * part as f64 / whole as f64, 1));
    let figures = |s: Sums| {
        (
            pct(s.customers.into(), total.customers.into()),
            round(money(s.units), 2),
            pct(s.units, total.units),
            (s.customers > 0).then(|| round(money(s.units) / s.customers as f64, 2)),
        )
    };
    let mut cells = Vec::with_capacity(25);
    for r in (1..=5u8).rev() {
        for f in 1..=5u8 {
            let mut s = Sums::default();
            for g in groups.iter().filter(|g| g.0 == r && g.1 == f) {
                s += g.3;
            }
            let (share_of_customers_pct, revenue, share_of_revenue_pct, avg_monetary) = figures(s);
            cells.push(RfmCell {
                r,
                f,
                customers: s.customers,
                share_of_customers_pct,
                revenue,
                share_of_revenue_pct,
                avg_monetary,
            });
        }
    }
    let names: Vec<Option<&str>> = ranking
        .rfm_segments
        .names()
        .iter()
        .map(|n| Some(*n))
        .chain((!ranking.rfm_segments.covers_every_code()).then_some(None))
        .collect();
    let segments = names
        .into_iter()
        .map(|name| {
            let mut s = Sums::default();
            for g in groups.iter().filter(|g| g.2.as_deref() == name) {
                s += g.3;
            }
            let (share_of_customers_pct, revenue, share_of_revenue_pct, avg_monetary) = figures(s);
            RfmSegmentRow {
                segment: name.unwrap_or(NO_SEGMENT).to_string(),
                customers: s.customers,
                share_of_customers_pct,
                revenue,
                share_of_revenue_pct,
                avg_monetary,
            }
        })
        .collect();
    let bins = &ranking.rfm_bins;
    let binned = [
        ("recency", bins.recency.is_some()),
        ("frequency", bins.frequency.is_some()),
        ("monetary", bins.monetary.is_some()),
    ]
    .into_iter()
    .filter_map(|(n, b)| b.then_some(n))
    .collect();
    Ok(RfmGrid {
        as_of: engine.catalog.as_of,
        window_days: ranking.rfm_window,
        method: ranking.rfm_method,
        binned,
        customers: total.customers,
        revenue: round(money(total.units), 2),
        cells,
        segments,
    })
}

/// A figure of a cell, for [`RfmGrid::matrix`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellFigure {
    /// Customers.
    Customers,
    /// Share of revenue, percent.
    ShareOfRevenue,
    /// Average monetary.
    AvgMonetary,
}

impl RfmGrid {
    /// One row per part, cells first (R 5..1, F 1..5), then segments: `part` (`cell` or
    /// `segment`), `r`, `f` (cells), `segment` (segments), `customers`,
    /// `share_of_customers_pct`, `revenue`, `share_of_revenue_pct`, `avg_monetary`.
    pub fn to_batch(&self) -> Result<RecordBatch, ArrowError> {
        let n = self.cells.len() + self.segments.len();
        let cell = |i: usize| self.cells.get(i);
        let seg = |i: usize| {
            i.checked_sub(self.cells.len())
                .and_then(|j| self.segments.get(j))
        };
        let fields = vec![
            Field::new("part", DataType::Utf8, false),
            Field::new("r", DataType::Int64, true),
            Field::new("f", DataType::Int64, true),
            Field::new("segment", DataType::Utf8, true),
            Field::new("customers", DataType::Int64, false),
            Field::new("share_of_customers_pct", DataType::Float64, true),
            Field::new("revenue", DataType::Float64, false),
            Field::new("share_of_revenue_pct", DataType::Float64, true),
            Field::new("avg_monetary", DataType::Float64, true),
        ];
        let either =
            |i: usize, c: fn(&RfmCell) -> Option<f64>, s: fn(&RfmSegmentRow) -> Option<f64>| {
                cell(i).map_or_else(|| seg(i).and_then(s), c)
            };
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                (0..n).map(|i| if cell(i).is_some() { "cell" } else { "segment" }),
            )),
            Arc::new(Int64Array::from_iter(
                (0..n).map(|i| cell(i).map(|c| c.r as i64)),
            )),
            Arc::new(Int64Array::from_iter(
                (0..n).map(|i| cell(i).map(|c| c.f as i64)),
            )),
            Arc::new(StringArray::from_iter(
                (0..n).map(|i| seg(i).map(|s| s.segment.as_str())),
            )),
            Arc::new(Int64Array::from_iter_values((0..n).map(|i| {
                cell(i).map_or_else(|| seg(i).map_or(0, |s| s.customers), |c| c.customers)
            }))),
            Arc::new(Float64Array::from_iter((0..n).map(|i| {
                either(
                    i,
                    |c| c.share_of_customers_pct,
                    |s| s.share_of_customers_pct,
                )
            }))),
            Arc::new(Float64Array::from_iter_values((0..n).map(|i| {
                either(i, |c| Some(c.revenue), |s| Some(s.revenue)).unwrap_or(0.0)
            }))),
            Arc::new(Float64Array::from_iter((0..n).map(|i| {
                either(i, |c| c.share_of_revenue_pct, |s| s.share_of_revenue_pct)
            }))),
            Arc::new(Float64Array::from_iter(
                (0..n).map(|i| either(i, |c| c.avg_monetary, |s| s.avg_monetary)),
            )),
        ];
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
    }

    /// One figure of the cells as a 5 x 5 matrix: a column `R` (5 down to 1), then `F=1` to
    /// `F=5`; empty cells' averages and undefined shares are NULL.
    pub fn matrix(&self, figure: CellFigure) -> Result<RecordBatch, ArrowError> {
        let mut fields = vec![Field::new("R", DataType::Int64, false)];
        let rows: Vec<u8> = (1..=5u8).rev().collect();
        let mut arrays: Vec<ArrayRef> = vec![Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| *r as i64),
        ))];
        for f in 1..=5u8 {
            let name = format!("F={f}");
            let cells = rows.iter().map(|r| {
                self.cells
                    .iter()
                    .find(|c| c.r == *r && c.f == f)
                    .expect("every cell is listed")
            });
            match figure {
                CellFigure::Customers => {
                    fields.push(Field::new(name, DataType::Int64, false));
                    arrays.push(Arc::new(Int64Array::from_iter_values(
                        cells.map(|c| c.customers),
                    )));
                }
                CellFigure::ShareOfRevenue | CellFigure::AvgMonetary => {
                    fields.push(Field::new(name, DataType::Float64, true));
                    arrays.push(Arc::new(Float64Array::from_iter(cells.map(|c| {
                        if figure == CellFigure::AvgMonetary {
                            c.avg_monetary
                        } else {
                            c.share_of_revenue_pct
                        }
                    }))));
                }
            }
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
    }

    /// The segments alone: `segment`, `customers`, `share_of_customers_pct`, `revenue`,
    /// `share_of_revenue_pct`, `avg_monetary`.
    pub fn segments_batch(&self) -> Result<RecordBatch, ArrowError> {
        let s = &self.segments;
        let fields = vec![
            Field::new("segment", DataType::Utf8, false),
            Field::new("customers", DataType::Int64, false),
            Field::new("share_of_customers_pct", DataType::Float64, true),
            Field::new("revenue", DataType::Float64, false),
            Field::new("share_of_revenue_pct", DataType::Float64, true),
            Field::new("avg_monetary", DataType::Float64, true),
        ];
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                s.iter().map(|r| r.segment.as_str()),
            )),
            Arc::new(Int64Array::from_iter_values(s.iter().map(|r| r.customers))),
            Arc::new(Float64Array::from_iter(
                s.iter().map(|r| r.share_of_customers_pct),
            )),
            Arc::new(Float64Array::from_iter_values(s.iter().map(|r| r.revenue))),
            Arc::new(Float64Array::from_iter(
                s.iter().map(|r| r.share_of_revenue_pct),
            )),
            Arc::new(Float64Array::from_iter(s.iter().map(|r| r.avg_monetary))),
        ];
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
    }
}
