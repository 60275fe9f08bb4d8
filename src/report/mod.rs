//! `segql report` and the REPL's `:report`: one self-contained HTML page (inline SVG charts,
//! inline style, no script, no request) of the figures the other commands print, or the same
//! numbers as CSV.
//!
//! [`gather`] calls the runtime's reports exactly as their commands do (`profile`, `rfm`,
//! `transitions`, `kpis --every month`, `measure`, `history --every month`); [`sections`]
//! turns them into charts, each with the table of its numbers; [`html::page`] and [`csv`]
//! write them. The charts are drawn by [`svg`].

pub(crate) mod html;
pub(crate) mod svg;

use chrono::{Days, Months, NaiveDate};
use miette::Result;
use segql_compiler::Program;
use segql_compiler::ir::{Const, Metric, MetricKind, Pred, Segment, Value, ValueType};
use segql_runtime::cache::warm::DEFAULT_BUDGET;
use segql_runtime::measure::Measurement;
use segql_runtime::reports::flows::Every;
use segql_runtime::reports::history::{self, HistoryRow, HistorySpec};
use segql_runtime::reports::kpis::{self, KpiRow, KpiSpec};
use segql_runtime::reports::rfm_grid::{self, RfmGrid};
use segql_runtime::reports::segment_profile::{self, ProfileRow};
use segql_runtime::reports::transitions::{self, TransitionBy, Transitions, TransitionsSpec};
use segql_runtime::{Engine, EngineOptions, RuntimeError};

/// Everything the page shows, as the runtime's reports computed it.
pub(crate) struct Figures {
    /// The project's name.
    pub(crate) project: String,
    /// The as-of date (the last day of the periods).
    pub(crate) as_of: NaiveDate,
    /// The first day of the periods and the earlier date of the transitions.
    pub(crate) from: NaiveDate,
    /// The partner of a per-partner report.
    pub(crate) partner: Option<String>,
    /// The segments profiled (scoped to the partner's customers in a per-partner report),
    /// with their descriptions.
    pub(crate) segments: Vec<(String, Option<String>)>,
    /// `segql profile` of the segments: the base first.
    pub(crate) profile: Vec<ProfileRow>,
    /// `segql rfm`.
    pub(crate) rfm: RfmGrid,
    /// `segql transitions --by lifecycle --from FROM --to AS_OF [--partner P]`.
    pub(crate) transitions: Transitions,
    /// `segql kpis --every month --from FROM --to AS_OF` (the partner's rows of `--by
    /// partner` in a per-partner report).
    pub(crate) kpis: Vec<KpiRow>,
    /// `segql measure CAMPAIGN` of every campaign with snapshots, or why it could not be
    /// measured.
    pub(crate) campaigns: Vec<(String, Result<Measurement, String>)>,
    /// `segql history --every month --from FROM --to AS_OF` of every segment.
    pub(crate) histories: Vec<(String, Vec<HistoryRow>)>,
}

/// What the report covers besides its segments.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scope {
    /// The first day of the periods; default: twelve months before the as-of date.
    pub(crate) from: Option<NaiveDate>,
    /// A per-partner report.
    pub(crate) partner: Option<String>,
}

/// The default first day: the day after the as-of date twelve months earlier.
pub(crate) fn default_from(as_of: NaiveDate) -> NaiveDate {
    as_of
        .checked_sub_months(Months::new(12))
        .and_then(|d| d.checked_add_days(Days::new(1)))
        .unwrap_or(as_of)
}

/// `frequency at "P" >= 1`: customers with a purchase at the partner.
fn bought_at(partner: &str) -> Pred {
    Pred::Cmp {
        value: Value::Metric(Metric {
            kind: MetricKind::Frequency,
            window: None,
            scope: vec![partner.to_string()],
        }),
        ty: ValueType::Count,
        op: segql_grammar::ast::CmpOp::Ge,
        rhs: Const::Number("1".into()),
    }
}

/// Computes every section's figures with `engine` (open as of the report's date, with
/// `options`), the segments `segments` and the campaigns of `program` that have snapshots.
pub(crate) async fn gather(
    engine: &mut Engine,
    options: &EngineOptions,
    program: &mut Program,
    segments: Vec<Segment>,
    scope: &Scope,
) -> Result<Figures> {
    let as_of = engine.catalog.as_of;
    let from = scope.from.unwrap_or_else(|| default_from(as_of));
    if from >= as_of {
        return Err(RuntimeError::Usage {
            message: format!("--from ({from}) must be before the as-of date ({as_of})"),
            help: Some("the report covers the days from --from to --as-of".into()),
        }
        .into());
    }
    let partners: Vec<String> = scope.partner.iter().cloned().collect();
    engine.check_partners(&partners).await?;
    let options = EngineOptions {
        as_of: Some(as_of),
        ..options.clone()
    };
    // A per-partner report profiles the partner's customers and each segment's among them.
    let segments: Vec<Segment> = match &scope.partner {
        None => segments,
        Some(p) => std::iter::once(Segment {
            name: format!("customers of {p}"),
            description: Some(format!("customers with a purchase at {p}")),
            pred: bought_at(p),
            campaign: None,
        })
        .chain(segments.into_iter().map(|s| Segment {
            pred: Pred::And(vec![s.pred, bought_at(p)]),
            campaign: None,
            ..s
        }))
        .collect(),
    };
    let profile = segment_profile::segment_profile(engine, &segments).await?;
    let rfm = rfm_grid::rfm_grid_at(engine, scope.partner.as_deref()).await?;
    let transitions = transitions::transitions(
        &engine.project,
        &options,
        &TransitionsSpec {
            by: TransitionBy::Lifecycle,
            from,
            to: as_of,
            partner: scope.partner.clone(),
        },
    )
    .await?;
    let kpi_rows = kpis::kpis(
        &engine.project,
        &options,
        &KpiSpec {
            every: Every::Month,
            from,
            to: as_of,
            by: scope.partner.as_ref().map(|_| kpis::By::Partner),
            segment: None,
        },
    )
    .await?;
    let kpi_rows = match &scope.partner {
        None => kpi_rows,
        Some(p) => kpi_rows
            .into_iter()
            .filter(|r| r.group.as_deref() == Some(p.as_str()))
            .collect(),
    };
    let mut campaigns = Vec::new();
    let names: Vec<String> = program
        .segments
        .iter()
        .filter(|s| s.def.campaign.is_some() && s.def.params.is_empty())
        .map(|s| s.def.name.name.clone())
        .collect();
    for name in names {
        if segql_runtime::snapshots::of_campaign(&engine.project, &name)?.is_empty() {
            continue;
        }
        // A partner's report takes the partner's line of `segql measure --by partner`.
        let ask = crate::campaign::Ask {
            campaign: name.clone(),
            by: scope.partner.as_ref().map(|_| "partner".to_string()),
            ..Default::default()
        };
        let m = crate::campaign::measure_campaign(engine, program, &ask)
            .await
            .map_err(|e| e.to_string());
        campaigns.push((name, m));
    }
    let spec = HistorySpec {
        every: Every::Month,
        from,
        to: as_of,
        budget: engine.project.memory_budget().unwrap_or(DEFAULT_BUDGET),
        each_date: false,
        transactions_in_memory: false,
    };
    let mut histories = Vec::new();
    for s in &segments {
        let h = history::history(engine, &options, s, &spec, &mut |_| {}).await?;
        histories.push((s.name.clone(), h.rows));
    }
    let project = engine
        .project
        .file
        .project
        .name
        .clone()
        .unwrap_or_else(|| "segql".into());
    Ok(Figures {
        project,
        as_of,
        from,
        partner: scope.partner.clone(),
        segments: segments
            .iter()
            .map(|s| (s.name.clone(), s.description.clone()))
            .collect(),
        profile,
        rfm,
        transitions,
        kpis: kpi_rows,
        campaigns,
        histories,
    })
}

/// One column of a chart's table: a name with its unit, and a value per row.
pub(crate) struct Column {
    /// The header.
    pub(crate) name: String,
    /// Decimals every value is shown with.
    pub(crate) decimals: usize,
    /// One value per row (`None`: not defined, shown empty).
    pub(crate) values: Vec<Option<f64>>,
}

impl Column {
    fn new(name: &str, decimals: usize, values: Vec<Option<f64>>) -> Column {
        Column {
            name: name.to_string(),
            decimals,
            values,
        }
    }

    /// The value of row `i` as shown in the table and in the CSV.
    pub(crate) fn text(&self, i: usize) -> String {
        match self.values.get(i).copied().flatten() {
            Some(v) => format!("{v:.*}", self.decimals),
            None => String::new(),
        }
    }
}

/// The numbers behind a chart.
pub(crate) struct Table {
    /// The header of the row labels.
    pub(crate) row_header: String,
    /// The row labels.
    pub(crate) rows: Vec<String>,
    /// The columns.
    pub(crate) columns: Vec<Column>,
}

/// One chart: the SVG, or a sentence when there is nothing to draw, and its numbers.
pub(crate) struct Chart {
    /// The id (unique in the page; the `chart` column of the CSV).
    pub(crate) id: String,
    /// The title.
    pub(crate) title: String,
    /// One sentence: what the chart shows.
    pub(crate) caption: String,
    /// The SVG, or `Err(sentence)` when the data is empty.
    pub(crate) svg: Result<String, String>,
    /// The numbers.
    pub(crate) table: Table,
}

/// A section of the page.
pub(crate) struct Section {
    /// The anchor.
    pub(crate) id: &'static str,
    /// The heading.
    pub(crate) title: String,
    /// Sentences before the charts (notes, empty data).
    pub(crate) notes: Vec<String>,
    /// The charts.
    pub(crate) charts: Vec<Chart>,
}

fn chart(
    id: impl Into<String>,
    title: impl Into<String>,
    caption: impl Into<String>,
    table: Table,
    draw: impl FnOnce(&str, &str, &str, &Table) -> Result<String, String>,
) -> Chart {
    let (id, title, caption) = (id.into(), title.into(), caption.into());
    let svg = draw(&id, &title, &caption, &table);
    Chart {
        id,
        title,
        caption,
        svg,
        table,
    }
}

/// Series over the table's columns `cols`, named by their headers.
fn series<'a>(t: &'a Table, cols: &[usize]) -> Vec<svg::Series<'a>> {
    cols.iter()
        .map(|&c| svg::Series {
            name: &t.columns[c].name,
            values: &t.columns[c].values,
            decimals: t.columns[c].decimals,
        })
        .collect()
}

fn count(n: i64) -> Option<f64> {
    Some(n as f64)
}

/// The sections of the page, in order.
pub(crate) fn sections(f: &Figures) -> Vec<Section> {
    vec![
        segments_section(f),
        rfm_section(f),
        lifecycle_section(f),
        kpi_section(f),
        campaign_section(f),
        history_section(f),
    ]
}

fn segments_section(f: &Figures) -> Section {
    let rows: Vec<String> = f.profile.iter().map(|r| r.segment.clone()).collect();
    let col = |name: &str, d: usize, pick: &dyn Fn(&ProfileRow) -> Option<f64>| {
        Column::new(name, d, f.profile.iter().map(pick).collect())
    };
    let table = |cols: Vec<Column>| Table {
        row_header: "segment".into(),
        rows: rows.clone(),
        columns: cols,
    };
    let base_empty = f.profile.first().is_none_or(|b| b.customers == 0);
    let empty = |what: &str| -> Result<String, String> {
        Err(format!(
            "No customers as of {}: no {what} to draw.",
            f.as_of
        ))
    };
    let bar_chart = |axis: &'static str| {
        move |id: &str, title: &str, caption: &str, t: &Table| {
            let cols: Vec<usize> = (0..t.columns.len()).collect();
            Ok(svg::bars(
                id,
                title,
                caption,
                &t.rows,
                &series(t, &cols),
                axis,
            ))
        }
    };
    let charts = vec![
        chart(
            "segments-customers",
            "Customers per segment",
            "The number of customers in the base and in each segment.",
            table(vec![col("customers", 0, &|r| count(r.customers))]),
            |id, title, caption, t| {
                if base_empty {
                    return empty("customers");
                }
                bar_chart("customers")(id, title, caption, t)
            },
        ),
        chart(
            "segments-shares",
            "Share of customers and share of revenue",
            "Each segment's share of the base's customers beside its share of the base's revenue, in percent.",
            table(vec![
                col("share of customers, %", 1, &|r| r.share_of_base_pct),
                col("share of revenue, %", 1, &|r| r.share_of_revenue_pct),
            ]),
            |id, title, caption, t| {
                if base_empty {
                    return empty("shares");
                }
                bar_chart("percent of the base")(id, title, caption, t)
            },
        ),
        chart(
            "segments-avg-check",
            "Average check",
            "Revenue per purchase of the base and of each segment's customers, in the amounts' currency.",
            table(vec![col("average check", 2, &|r| r.avg_check)]),
            |id, title, caption, t| {
                if base_empty {
                    return empty("checks");
                }
                bar_chart("average check (currency units)")(id, title, caption, t)
            },
        ),
        chart(
            "segments-frequency",
            "Purchases per customer",
            "Purchases per customer (frequency) of the base and of each segment.",
            table(vec![col("purchases per customer", 2, &|r| {
                r.purchases_per_customer
            })]),
            |id, title, caption, t| {
                if base_empty {
                    return empty("purchases");
                }
                bar_chart("purchases per customer")(id, title, caption, t)
            },
        ),
    ];
    let mut notes = Vec::new();
    if let Some(p) = &f.partner {
        notes.push(format!(
            "Per-partner report: the segments are their members with a purchase at {p}; the base row is every customer."
        ));
    }
    if f.segments.is_empty() {
        notes.push("No segments given: the base alone.".into());
    }
    for (name, desc) in &f.segments {
        if let Some(d) = desc {
            notes.push(format!("{name}: {d}"));
        }
    }
    let empty: Vec<&str> = f
        .profile
        .iter()
        .skip(1)
        .filter(|r| r.customers == 0)
        .map(|r| r.segment.as_str())
        .collect();
    if !empty.is_empty() {
        notes.push(format!(
            "No members as of {}: {}.",
            f.as_of,
            empty.join(", ")
        ));
    }
    Section {
        id: "segments",
        title: "Segments".into(),
        notes,
        charts,
    }
}

/// The RFM grid's and segments' columns: customers, their shares of the customers and of
/// the revenue, the average monetary, from each row's (customers, shares, average).
fn rfm_columns(
    rows: impl Iterator<Item = (i64, Option<f64>, Option<f64>, Option<f64>)>,
) -> Vec<Column> {
    let rows: Vec<_> = rows.collect();
    vec![
        Column::new("customers", 0, rows.iter().map(|r| count(r.0)).collect()),
        Column::new(
            "share of customers, %",
            1,
            rows.iter().map(|r| r.1).collect(),
        ),
        Column::new("share of revenue, %", 1, rows.iter().map(|r| r.2).collect()),
        Column::new("average monetary", 2, rows.iter().map(|r| r.3).collect()),
    ]
}

fn rfm_section(f: &Figures) -> Section {
    let g = &f.rfm;
    let empty = g.customers == 0;
    let no_data = || -> Result<String, String> {
        Err(format!(
            "No customer bought in the {} days up to {}: no RFM scores.",
            g.window_days, g.as_of
        ))
    };
    let cells = Table {
        row_header: "cell".into(),
        rows: g
            .cells
            .iter()
            .map(|c| format!("R{} F{}", c.r, c.f))
            .collect(),
        columns: rfm_columns(g.cells.iter().map(|c| {
            (
                c.customers,
                c.share_of_customers_pct,
                c.share_of_revenue_pct,
                c.avg_monetary,
            )
        })),
    };
    let grid = chart(
        "rfm-grid",
        "RFM grid: recency by frequency",
        format!(
            "Customers with a purchase in the {} days up to {} per recency score (rows, 5 = most recent) and frequency score (columns, 5 = most frequent), with each cell's share of their revenue; darker cells hold more customers.",
            g.window_days, g.as_of
        ),
        cells,
        |id, title, caption, _| {
            if empty {
                return no_data();
            }
            let max = g
                .cells
                .iter()
                .map(|c| c.customers)
                .max()
                .unwrap_or(0)
                .max(1) as f64;
            let rows: Vec<String> = (1..=5).rev().map(|r| format!("R = {r}")).collect();
            let cols: Vec<String> = (1..=5).map(|c| format!("F = {c}")).collect();
            let cell = |r: u8, fq: u8| {
                g.cells
                    .iter()
                    .find(|c| c.r == r && c.f == fq)
                    .expect("every cell is listed")
            };
            let text = (1..=5u8)
                .rev()
                .map(|r| {
                    (1..=5u8)
                        .map(|fq| {
                            let c = cell(r, fq);
                            match c.share_of_revenue_pct {
                                Some(s) => format!("{} ({s:.1}%)", c.customers),
                                None => c.customers.to_string(),
                            }
                        })
                        .collect()
                })
                .collect::<Vec<Vec<String>>>();
            let shade = (1..=5u8)
                .rev()
                .map(|r| {
                    (1..=5u8)
                        .map(|fq| cell(r, fq).customers as f64 / max)
                        .collect()
                })
                .collect::<Vec<Vec<f64>>>();
            Ok(svg::heat(
                id,
                title,
                caption,
                &rows,
                &cols,
                &text,
                &shade,
                "recency score (5 = most recent)",
                "frequency score (5 = most frequent); cells: customers (share of revenue)",
            ))
        },
    );
    let segs = Table {
        row_header: "RFM segment".into(),
        rows: g.segments.iter().map(|s| s.segment.clone()).collect(),
        columns: rfm_columns(g.segments.iter().map(|s| {
            (
                s.customers,
                s.share_of_customers_pct,
                s.share_of_revenue_pct,
                s.avg_monetary,
            )
        })),
    };
    let named = chart(
        "rfm-segments",
        "Named RFM segments",
        "Customers in each named RFM segment of the project.",
        segs,
        |id, title, caption, t| {
            if empty {
                return no_data();
            }
            Ok(svg::bars(
                id,
                title,
                caption,
                &t.rows,
                &series(t, &[0]),
                "customers",
            ))
        },
    );
    let mut notes = vec![format!(
        "{} customers scored, revenue {} in the {} days up to {}; scores by {}.",
        g.customers,
        svg::label(g.revenue, 2),
        g.window_days,
        g.as_of,
        g.method.name()
    )];
    if let Some(p) = &f.partner {
        notes.push(format!(
            "Per-partner grid: customers scored and ranked on their purchases at {p} alone (as `segql rfm --partner`)."
        ));
    }
    Section {
        id: "rfm",
        title: "RFM".into(),
        notes,
        charts: vec![grid, named],
    }
}

fn lifecycle_section(f: &Figures) -> Section {
    let t = &f.transitions;
    let (froms, tos) = (t.froms(), t.tos());
    let table = Table {
        row_header: format!("{} \u{2192} {}", t.from, t.to),
        rows: t
            .pairs
            .iter()
            .map(|p| format!("{} \u{2192} {}", p.from.name(), p.to.name()))
            .collect(),
        columns: vec![
            Column::new(
                "customers",
                0,
                t.pairs.iter().map(|p| count(p.customers)).collect(),
            ),
            Column::new(
                "share of the row, %",
                1,
                t.pairs
                    .iter()
                    .map(|p| {
                        let total = t.row_total(&p.from);
                        (total > 0)
                            .then(|| (1000.0 * p.customers as f64 / total as f64).round() / 10.0)
                    })
                    .collect(),
            ),
        ],
    };
    let at = f
        .partner
        .as_ref()
        .map(|p| format!(" at {p}"))
        .unwrap_or_default();
    let matrix = chart(
        "lifecycle-transitions",
        format!("Lifecycle transitions{at}, {} to {}", t.from, t.to),
        format!(
            "Customers by their lifecycle stage{at} as of {} (rows) and as of {} (columns); each cell's shade is its share of the row.",
            t.from, t.to
        ),
        table,
        |id, title, caption, _| {
            if t.pairs.is_empty() {
                return Err(format!(
                    "No customers as of {} or {}: no transitions.",
                    t.from, t.to
                ));
            }
            let rows: Vec<String> = froms.iter().map(|c| c.name().to_string()).collect();
            let cols: Vec<String> = tos.iter().map(|c| c.name().to_string()).collect();
            let text = froms
                .iter()
                .map(|a| {
                    tos.iter()
                        .map(|b| match t.customers(a, b) {
                            0 => "-".to_string(),
                            n => n.to_string(),
                        })
                        .collect()
                })
                .collect::<Vec<Vec<String>>>();
            let shade = froms
                .iter()
                .map(|a| {
                    let total = t.row_total(a).max(1) as f64;
                    tos.iter()
                        .map(|b| t.customers(a, b) as f64 / total)
                        .collect()
                })
                .collect::<Vec<Vec<f64>>>();
            Ok(svg::heat(
                id,
                title,
                caption,
                &rows,
                &cols,
                &text,
                &shade,
                &format!("stage as of {}", t.from),
                &format!("stage as of {}; cells: customers", t.to),
            ))
        },
    );
    let k = &f.kpis;
    let flows = Table {
        row_header: "month".into(),
        rows: k.iter().map(|r| r.period.clone()).collect(),
        columns: vec![
            Column::new(
                "inflow",
                0,
                k.iter().map(|r| r.flows.map(|x| x.0 as f64)).collect(),
            ),
            Column::new(
                "churn",
                0,
                k.iter().map(|r| r.flows.map(|x| x.1 as f64)).collect(),
            ),
            Column::new(
                "balance",
                0,
                k.iter()
                    .map(|r| r.flows.map(|x| (x.0 - x.1) as f64))
                    .collect(),
            ),
        ],
    };
    let no_flows = k.iter().all(|r| r.flows.is_none_or(|x| x == (0, 0)));
    let inflow = chart(
        "lifecycle-flows",
        format!("Inflow against churn per month{at}"),
        "Customers who became active each month (a first purchase or back from churned or lost) against those who stopped being active.",
        flows,
        |id, title, caption, t| {
            if no_flows {
                return Err(format!(
                    "No customer came in or left{at} between {} and {}.",
                    f.from, f.as_of
                ));
            }
            Ok(svg::lines(
                id,
                title,
                caption,
                &t.rows,
                &series(t, &[0, 1]),
                "month",
                "customers",
            ))
        },
    );
    Section {
        id: "lifecycle",
        title: "Lifecycle".into(),
        notes: Vec::new(),
        charts: vec![matrix, inflow],
    }
}

/// No transactions in the periods (in the partner's, for a per-partner report).
fn no_transactions(f: &Figures) -> bool {
    f.kpis.iter().all(|r| r.receipts_members == 0)
}

fn kpi_section(f: &Figures) -> Section {
    let k = &f.kpis;
    let rows: Vec<String> = k.iter().map(|r| r.period.clone()).collect();
    let round = |x: Option<f64>, d: i32| x.map(|v| (v * 10f64.powi(d)).round() / 10f64.powi(d));
    let col = |name: &str, d: usize, pick: &dyn Fn(&KpiRow) -> Option<f64>| {
        Column::new(
            name,
            d,
            k.iter().map(|r| round(pick(r), d as i32)).collect(),
        )
    };
    let empty = no_transactions(f);
    let sentence = || -> Result<String, String> {
        Err(format!(
            "No transactions{} between {} and {}.",
            f.partner
                .as_ref()
                .map(|p| format!(" at {p}"))
                .unwrap_or_default(),
            f.from,
            f.as_of
        ))
    };
    let line = |y: &'static str| {
        move |id: &str, title: &str, caption: &str, t: &Table| {
            if empty {
                return sentence();
            }
            let cols: Vec<usize> = (0..t.columns.len())
                .filter(|c| t.columns[*c].values.iter().any(Option::is_some))
                .collect();
            Ok(svg::lines(
                id,
                title,
                caption,
                &t.rows,
                &series(t, &cols),
                "month",
                y,
            ))
        }
    };
    let table = |cols: Vec<Column>| Table {
        row_header: "month".into(),
        rows: rows.clone(),
        columns: cols,
    };
    let charts = vec![
        chart(
            "kpis-shares",
            "Active share, card penetration and activity",
            "Per month: active members over members, receipts with a card over all receipts, and the activity coefficient (purchase days over days, averaged over active members), as shares of 1.",
            table(vec![
                col("active share", 4, &KpiRow::active_share),
                col("card penetration", 4, &KpiRow::card_penetration),
                col("activity coefficient", 4, &KpiRow::activity_coefficient),
            ]),
            line("share (1 = 100%)"),
        ),
        chart(
            "kpis-avg-check",
            "Average check",
            "Per month: turnover per receipt of members and of receipts without a card, in the amounts' currency.",
            table(vec![
                col("members", 2, &KpiRow::avg_check_members),
                col("non-members", 2, &KpiRow::avg_check_non_members),
            ]),
            line("average check (currency units)"),
        ),
        chart(
            "kpis-checks",
            "Checks per active member",
            "Per month: members' receipts per active member.",
            table(vec![col(
                "checks per active member",
                2,
                &KpiRow::checks_per_active_member,
            )]),
            line("receipts per active member"),
        ),
    ];
    Section {
        id: "kpis",
        title: "Program KPIs".into(),
        notes: Vec::new(),
        charts,
    }
}

fn campaign_section(f: &Figures) -> Section {
    let mut notes = Vec::new();
    let mut charts = Vec::new();
    if f.campaigns.is_empty() {
        notes.push(
            "No campaign has a snapshot: nothing to measure (freeze an audience with `segql run FILE --segment CAMPAIGN --snapshot`)."
                .into(),
        );
    }
    if let Some(p) = f.partner.as_ref().filter(|_| !f.campaigns.is_empty()) {
        notes.push(format!(
            "At {p}, as `segql measure --by partner` measures it: a responder is a member who responded and bought at {p} in the window, and revenue is revenue at {p}."
        ));
    }
    let pct = |x: Option<f64>| x.map(|v| (v * 10000.0).round() / 100.0);
    for (i, (name, m)) in f.campaigns.iter().enumerate() {
        let m = match m {
            Ok(m) => m,
            Err(e) => {
                notes.push(format!("{name} could not be measured: {e}"));
                continue;
            }
        };
        let lines: Vec<&segql_runtime::measure::Line> =
            m.lines.iter().filter(|l| l.key == f.partner).collect();
        let rows: Vec<String> = lines
            .iter()
            .map(|l| format!("snapshot {}", l.snapshot))
            .collect();
        let rates = Table {
            row_header: "snapshot".into(),
            rows: rows.clone(),
            columns: vec![
                Column::new(
                    "test members",
                    0,
                    lines.iter().map(|l| Some(l.test.members as f64)).collect(),
                ),
                Column::new(
                    "control members",
                    0,
                    lines
                        .iter()
                        .map(|l| Some(l.control.members as f64))
                        .collect(),
                ),
                Column::new(
                    "test response rate, %",
                    2,
                    lines.iter().map(|l| pct(l.test.response_rate())).collect(),
                ),
                Column::new(
                    "control response rate, %",
                    2,
                    lines
                        .iter()
                        .map(|l| pct(l.control.response_rate()))
                        .collect(),
                ),
            ],
        };
        charts.push(chart(
            format!("campaign-{i}-rates"),
            format!("{name}: response rates"),
            format!(
                "The share of the test and of the control group of each snapshot of {name} who responded ({}) in the {} days after it.",
                m.response, m.days
            ),
            rates,
            |id, title, caption, t| {
                if t.rows.is_empty() {
                    return Err(format!("{name} has no snapshot to measure."));
                }
                Ok(svg::bars(
                    id,
                    title,
                    caption,
                    &t.rows,
                    &series(t, &[2, 3]),
                    "response rate, %",
                ))
            },
        ));
        let uplift = Table {
            row_header: "snapshot".into(),
            rows,
            columns: vec![
                Column::new(
                    "uplift, points",
                    2,
                    lines.iter().map(|l| pct(l.effect.uplift)).collect(),
                ),
                Column::new(
                    "95% interval low",
                    2,
                    lines
                        .iter()
                        .map(|l| pct(l.effect.uplift_ci.map(|c| c.low)))
                        .collect(),
                ),
                Column::new(
                    "95% interval high",
                    2,
                    lines
                        .iter()
                        .map(|l| pct(l.effect.uplift_ci.map(|c| c.high)))
                        .collect(),
                ),
                Column::new(
                    "p-value",
                    4,
                    lines
                        .iter()
                        .map(|l| l.effect.p_value.map(|p| (p * 1e4).round() / 1e4))
                        .collect(),
                ),
            ],
        };
        charts.push(chart(
            format!("campaign-{i}-uplift"),
            format!("{name}: uplift with its 95% interval"),
            format!(
                "The test group's response rate minus the control group's, in percentage points, with its 95% confidence interval (Newcombe), per snapshot of {name}; an interval across zero is no proof of an effect."
            ),
            uplift,
            |id, title, caption, t| {
                if t.columns[0].values.iter().all(Option::is_none) {
                    return Err(format!(
                        "{name}: a group is empty, so there is no uplift to draw."
                    ));
                }
                Ok(svg::intervals(
                    id,
                    title,
                    caption,
                    &t.rows,
                    &t.columns[0].values,
                    &t.columns[1].values,
                    &t.columns[2].values,
                    2,
                    "uplift of the response rate, percentage points",
                ))
            },
        ));
        for l in &lines {
            notes.push(format!(
                "{name}, snapshot {}: {}",
                l.snapshot,
                segql_runtime::measure::verdict(l, &|x| svg::label(x, 2))
            ));
        }
    }
    Section {
        id: "campaigns",
        title: "Campaigns".into(),
        notes,
        charts,
    }
}

/// Most lines drawn in one chart of the segments' history.
const LINES_PER_CHART: usize = 6;

fn history_section(f: &Figures) -> Section {
    let mut notes = Vec::new();
    let drawn: Vec<&(String, Vec<HistoryRow>)> = f
        .histories
        .iter()
        .filter(|(_, rows)| rows.iter().any(|r| r.members > 0))
        .collect();
    let never: Vec<&str> = f
        .histories
        .iter()
        .filter(|(_, rows)| rows.iter().all(|r| r.members == 0))
        .map(|(n, _)| n.as_str())
        .collect();
    if f.histories.is_empty() {
        notes.push("No segments given: no history to draw.".into());
    }
    if !never.is_empty() {
        notes.push(format!(
            "No members at any month's end from {} to {}: {}.",
            f.from,
            f.as_of,
            never.join(", ")
        ));
    }
    let periods: Vec<String> = drawn
        .first()
        .map(|(_, rows)| rows.iter().map(|r| r.period.clone()).collect())
        .unwrap_or_default();
    let groups = drawn.chunks(LINES_PER_CHART).count();
    let charts = drawn
        .chunks(LINES_PER_CHART)
        .enumerate()
        .map(|(i, group)| {
            let table = Table {
                row_header: "month".into(),
                rows: periods.clone(),
                columns: group
                    .iter()
                    .map(|(name, rows)| {
                        Column::new(name, 0, rows.iter().map(|r| count(r.members)).collect())
                    })
                    .collect(),
            };
            let part = if groups > 1 {
                format!(" ({} of {groups})", i + 1)
            } else {
                String::new()
            };
            chart(
                format!("history-{}", i + 1),
                format!("Segment sizes over time{part}"),
                "Each segment's members as of the last day of each month.",
                table,
                |id, title, caption, t| {
                    let cols: Vec<usize> = (0..t.columns.len()).collect();
                    Ok(svg::lines(
                        id,
                        title,
                        caption,
                        &t.rows,
                        &series(t, &cols),
                        "month (members as of its last day)",
                        "members",
                    ))
                },
            )
        })
        .collect();
    Section {
        id: "history",
        title: "Segments over time".into(),
        notes,
        charts,
    }
}

/// Every chart's numbers as CSV: `chart,row,column,value`, one line per table cell, in the
/// page's order, values as the tables show them.
pub(crate) fn csv(sections: &[Section]) -> String {
    let mut out = String::from("section,chart,row,column,value\n");
    let field = |s: &str| {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    for s in sections {
        for c in &s.charts {
            for (i, row) in c.table.rows.iter().enumerate() {
                for col in &c.table.columns {
                    out.push_str(&format!(
                        "{},{},{},{},{}\n",
                        s.id,
                        field(&c.id),
                        field(row),
                        field(&col.name),
                        col.text(i)
                    ));
                }
            }
        }
    }
    out
}
