//! Campaigns' snapshots and their measurement, shared by `segql run --snapshot`, `segql
//! measure` and the REPL's `:snapshot` and `:measure`: choosing what to measure, and the
//! report for people (table or Markdown) and for programs (one row per line).

use miette::{IntoDiagnostic, Result};
use segql_compiler::ir::Segment;
use segql_compiler::{Program, resolve_response, resolve_segment};
use segql_runtime::datafusion::arrow::array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray,
};
use segql_runtime::datafusion::arrow::datatypes::{DataType, Field, Schema};
use segql_runtime::measure::{self, By, Group, Line, Measurement, Request};
use segql_runtime::snapshots::{self, NewSnapshot};
use segql_runtime::{Engine, Project, RuntimeError};
use std::path::Path;
use std::sync::Arc;

/// What to measure.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ask {
    /// The campaign.
    pub(crate) campaign: String,
    /// A response instead of the campaign's.
    pub(crate) respond: Option<String>,
    /// Snapshot dates (all when empty).
    pub(crate) dates: Vec<chrono::NaiveDate>,
    /// The breakdown.
    pub(crate) by: Option<String>,
    /// Measure windows past the data.
    pub(crate) partial: bool,
    /// Measure snapshots of another definition.
    pub(crate) any_definition: bool,
}

/// Chooses the response and the snapshots (checking their definition) and measures them.
pub(crate) async fn measure_campaign(
    engine: &mut Engine,
    program: &mut Program,
    ask: &Ask,
) -> Result<Measurement> {
    let req = measure_request(engine, program, ask).await?;
    Ok(measure::measure(engine, &req).await?)
}

/// The response and the snapshots of `ask` (their definition checked), as `segql measure`
/// and `segql score fit` read them.
pub(crate) async fn measure_request(
    engine: &mut Engine,
    program: &mut Program,
    ask: &Ask,
) -> Result<Request> {
    let def = campaign_def(engine, program, &ask.campaign).await?;
    let (response, response_text) = match (&ask.respond, &def) {
        (Some(text), _) => {
            let (ast, src) = program.parse_inline("--respond", text)?;
            let program = &*program;
            let r = engine
                .compile(|c| resolve_response(program, c, &ast, src))
                .await??;
            (r, text.clone())
        }
        (None, Some(seg)) => match seg.campaign.as_ref().and_then(|c| c.response.clone()) {
            Some(r) => {
                let text = response_text(program, &ask.campaign);
                (r, text)
            }
            None => {
                return Err(RuntimeError::CannotMeasure {
                    message: format!("campaign `{}` does not say what counts as a response", ask.campaign),
                    help: format!("add one to its definition, e.g. `campaign {} = ... respond within 14d`, or pass --respond 'bought category \"Coffee\" within 14d'", ask.campaign),
                }
                .into());
            }
        },
        (None, None) => {
            let known: Vec<String> = program
                .segments
                .iter()
                .filter(|s| s.def.campaign.is_some())
                .map(|s| s.def.name.name.clone())
                .collect();
            return Err(RuntimeError::CannotMeasure {
                message: format!("no campaign named `{}` in the segment files", ask.campaign),
                help: if known.is_empty() {
                    "define it in a segment file (`campaign NAME = ... respond within 14d`), or pass --respond CONDITION to measure an imported audience".into()
                } else {
                    format!("known campaigns: {}; or pass --respond CONDITION to measure an imported audience", known.join(", "))
                },
            }
            .into());
        }
    };
    let files = snapshots::of_campaign(&engine.project, &ask.campaign)?;
    let mut chosen = Vec::new();
    for d in &ask.dates {
        match files.iter().find(|f| f.as_of == *d) {
            Some(f) => chosen.push(f.clone()),
            None => {
                return Err(no_snapshot(&ask.campaign, Some(*d), &files).into());
            }
        }
    }
    if ask.dates.is_empty() {
        chosen = files.clone();
    }
    if chosen.is_empty() {
        return Err(no_snapshot(&ask.campaign, None, &files).into());
    }
    let mut infos = Vec::new();
    for f in &chosen {
        let info = snapshots::info(f)?;
        if let Some(seg) = &def
            && !info.definition_hash.starts_with("imported:")
            && !ask.any_definition
        {
            let now = snapshots::definition_hash(seg);
            if now != info.definition_hash {
                return Err(RuntimeError::DefinitionChanged {
                    campaign: ask.campaign.clone(),
                    as_of: f.as_of.to_string(),
                    snapshot_hash: info.definition_hash.clone(),
                    current_hash: now,
                }
                .into());
            }
        }
        infos.push(info);
    }
    Ok(Request {
        campaign: ask.campaign.clone(),
        response,
        response_text,
        snapshots: infos,
        by: ask.by.as_deref().map(By::parse),
        partial: ask.partial,
    })
}

/// The campaign `name` resolved, when the files define it.
async fn campaign_def(
    engine: &mut Engine,
    program: &Program,
    name: &str,
) -> Result<Option<Segment>> {
    let defined = program
        .segment(name)
        .is_some_and(|e| e.def.campaign.is_some());
    if !defined {
        return Ok(None);
    }
    let s = engine
        .compile(|c| resolve_segment(program, c, name))
        .await??;
    Ok(Some(s))
}

/// `segql run ... --segment CAMPAIGN --snapshot`: freezes the campaign's audience.
pub(crate) async fn take_snapshot(
    engine: &Engine,
    seg: &Segment,
    q: &segql_compiler::Query,
) -> Result<String> {
    let Some(spec) = &seg.campaign else {
        return Err(RuntimeError::Usage {
            message: format!(
                "`{}` is a segment, not a campaign: only a campaign's audience is frozen",
                seg.name
            ),
            help: Some(format!(
                "define it as `campaign {} = ... holdout 10%`",
                seg.name
            )),
        }
        .into());
    };
    use segql_runtime::datafusion::logical_expr::{LogicalPlanBuilder, ident};
    let plan = LogicalPlanBuilder::from(q.sorted().map_err(crate::compile_err)?)
        .project(vec![ident("customer_id"), ident("group")])
        .and_then(|b| b.build())
        .map_err(crate::compile_err)?;
    let batches = engine.collect(plan).await?;
    let new = NewSnapshot {
        campaign: seg.name.clone(),
        as_of: engine.catalog.as_of,
        definition_hash: snapshots::definition_hash(seg),
        holdout: Some(spec.holdout_bp as f64 / 100.0),
    };
    let w = snapshots::write(&engine.project, &new, &batches)?;
    Ok(format!(
        "snapshot of {} as of {}: {} members ({} test, {} control), definition {} -> {}",
        seg.name,
        new.as_of,
        thousands(w.test + w.control),
        thousands(w.test),
        thousands(w.control),
        new.definition_hash,
        shown_path(&engine.project, &w.path)
    ))
}

/// A path relative to the project directory when inside it.
pub(crate) fn shown_path(project: &Project, p: &Path) -> String {
    p.strip_prefix(&project.dir)
        .map(|r| r.display().to_string())
        .unwrap_or_else(|_| p.display().to_string())
}

pub(crate) fn thousands(n: u64) -> String {
    segql_runtime::output::thousands(&n.to_string())
}

/// The campaign's `respond ...` clause as written.
fn response_text(program: &Program, campaign: &str) -> String {
    let Some(e) = program.segment(campaign) else {
        return String::new();
    };
    let Some(r) = e.def.campaign.as_ref().and_then(|c| c.respond.as_ref()) else {
        return String::new();
    };
    segql_compiler::resolve::written_response(r)
}

fn no_snapshot(
    campaign: &str,
    date: Option<chrono::NaiveDate>,
    files: &[snapshots::SnapshotFile],
) -> RuntimeError {
    let message = match date {
        Some(d) => format!("campaign `{campaign}` has no snapshot as of {d}"),
        None => format!("campaign `{campaign}` has no snapshot"),
    };
    let help = if files.is_empty() {
        format!(
            "a campaign is measured on the audience frozen when it was sent: take it with `segql run FILE --segment {campaign} --snapshot` (on the send date, with --as-of), or import it with `segql snapshots import {campaign} --from FILE.csv --date DATE`"
        )
    } else {
        format!(
            "its snapshots: {}",
            files
                .iter()
                .map(|f| f.as_of.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    RuntimeError::NoSnapshot { message, help }
}

/// Money in the amount's units with thousands separators and two decimals.
fn money(x: f64) -> String {
    segql_runtime::output::thousands(&format!("{x:.2}"))
}

fn money_units(units: i128, scale: u32) -> String {
    money(units as f64 / 10f64.powi(scale as i32))
}

fn pct(x: Option<f64>) -> String {
    x.map(|x| format!("{:.1}%", x * 100.0))
        .unwrap_or_else(|| "-".into())
}

fn signed_points(x: f64) -> String {
    format!("{}{:.1}", if x >= 0.0 { "+" } else { "" }, x * 100.0)
}

fn ratio(a: i128, b: u64, scale: u32) -> String {
    if b == 0 {
        "-".into()
    } else {
        money(a as f64 / 10f64.powi(scale as i32) / b as f64)
    }
}

fn per(a: u64, b: u64) -> String {
    if b == 0 {
        "-".into()
    } else {
        format!("{:.2}", a as f64 / b as f64)
    }
}

fn interval(i: Option<measure::stats::Interval>, f: &dyn Fn(f64) -> String) -> String {
    i.map(|i| format!("95% CI {} to {}", f(i.low), f(i.high)))
        .unwrap_or_else(|| "no interval".into())
}

fn signed_money(x: f64) -> String {
    if x < 0.0 {
        format!("-{}", money(-x))
    } else {
        format!("+{}", money(x))
    }
}

fn signed_count(x: f64) -> String {
    format!("{}{:.0}", if x >= 0.0 { "+" } else { "" }, x)
}

/// The report for people: per snapshot the groups, the effect and the verdict; the
/// breakdown; several snapshots side by side.
pub(crate) fn report(m: &Measurement, markdown: bool) -> String {
    let mut s = String::new();
    let table = |header: &[&str], rows: &[Vec<String>]| -> String {
        if markdown {
            crate::render::markdown_table(header, rows)
        } else {
            crate::render::text_table(header, rows)
        }
    };
    let heading = |text: &str| -> String {
        if markdown {
            format!("## {text}\n\n")
        } else {
            format!("{text}\n\n")
        }
    };
    let mut snapshots: Vec<chrono::NaiveDate> = m.lines.iter().map(|l| l.snapshot).collect();
    snapshots.dedup();
    for d in &snapshots {
        let all = m
            .lines
            .iter()
            .find(|l| l.snapshot == *d && l.key.is_none())
            .expect("every snapshot has its line");
        let end = *d + chrono::Days::new(m.days);
        s.push_str(&heading(&format!(
            "Campaign {}, snapshot {d}: response {} ({} to {})",
            m.campaign,
            m.response,
            *d + chrono::Days::new(1),
            end
        )));
        if let Some((_, missing)) = m.missing_days.iter().find(|(x, _)| x == d) {
            s.push_str(&format!(
                "PARTIAL: the last {missing} day{} of the window are after the data ({}); both groups are undercounted alike.\n\n",
                if *missing == 1 { "" } else { "s" },
                m.as_of
            ));
        }
        let g = |f: &dyn Fn(&Group) -> String| vec![f(&all.test), f(&all.control)];
        let rows: Vec<Vec<String>> = [
            ("members", g(&|g| thousands(g.members))),
            ("responders", g(&|g| thousands(g.responders))),
            ("response rate", g(&|g| pct(g.response_rate()))),
            ("revenue", g(&|g| money_units(g.revenue, m.scale))),
            (
                "revenue per member",
                g(&|g| ratio(g.revenue, g.members, m.scale)),
            ),
            (
                "average check of responders",
                g(&|g| ratio(g.responder_revenue, g.responder_purchases, m.scale)),
            ),
            ("purchases per member", g(&|g| per(g.purchases, g.members))),
        ]
        .into_iter()
        .map(|(k, v)| {
            let mut r = vec![k.to_string()];
            r.extend(v);
            r
        })
        .collect();
        s.push_str(&table(&["", "test", "control"], &rows));
        s.push('\n');
        s.push_str(&effect_text(all, m, markdown));
        s.push('\n');
    }
    if let Some(by) = &m.by {
        let meaning = match by {
            By::Partner => "responders who bought there in the window, revenue there",
            _ => "each member's value as of the snapshot date",
        };
        s.push_str(&heading(&format!("By {} ({meaning})", by.name())));
        let rows: Vec<Vec<String>> = m
            .lines
            .iter()
            .filter(|l| l.key.is_some())
            .map(|l| {
                let mut r = Vec::new();
                if snapshots.len() > 1 {
                    r.push(l.snapshot.to_string());
                }
                r.extend([
                    l.key.clone().unwrap_or_default(),
                    thousands(l.test.members),
                    thousands(l.control.members),
                    pct(l.test.response_rate()),
                    pct(l.control.response_rate()),
                    l.effect
                        .uplift
                        .map(signed_points)
                        .unwrap_or_else(|| "-".into()),
                    interval(l.effect.uplift_ci, &|x| format!("{:.1}", x * 100.0))
                        .replace("95% CI ", ""),
                    l.effect
                        .p_value
                        .map(measure::format_p_value)
                        .unwrap_or_else(|| "-".into()),
                    l.effect
                        .revenue_uplift
                        .map(signed_money)
                        .unwrap_or_else(|| "-".into()),
                    l.effect
                        .incremental_revenue
                        .map(|(x, _)| signed_money(x))
                        .unwrap_or_else(|| "-".into()),
                ]);
                r
            })
            .collect();
        let mut header = Vec::new();
        if snapshots.len() > 1 {
            header.push("snapshot");
        }
        header.extend([
            by.name(),
            "test",
            "control",
            "test rate",
            "control rate",
            "uplift (points)",
            "95% CI",
            "p",
            "revenue/member uplift",
            "incremental revenue",
        ]);
        s.push_str(&table(&header, &rows));
        s.push_str("\nSmall groups give wide intervals: a breakdown's p-values are not corrected for the number of rows compared.\n\n");
    }
    if snapshots.len() > 1 {
        s.push_str(&heading("Snapshots side by side"));
        let rows: Vec<Vec<String>> = m
            .lines
            .iter()
            .filter(|l| l.key.is_none())
            .map(|l| {
                vec![
                    l.snapshot.to_string(),
                    thousands(l.test.members),
                    thousands(l.control.members),
                    pct(l.test.response_rate()),
                    pct(l.control.response_rate()),
                    l.effect
                        .uplift
                        .map(signed_points)
                        .unwrap_or_else(|| "-".into()),
                    interval(l.effect.uplift_ci, &|x| format!("{:.1}", x * 100.0))
                        .replace("95% CI ", ""),
                    l.effect
                        .p_value
                        .map(measure::format_p_value)
                        .unwrap_or_else(|| "-".into()),
                    l.effect
                        .incremental_revenue
                        .map(|(x, _)| signed_money(x))
                        .unwrap_or_else(|| "-".into()),
                ]
            })
            .collect();
        s.push_str(&table(
            &[
                "snapshot",
                "test",
                "control",
                "test rate",
                "control rate",
                "uplift (points)",
                "95% CI",
                "p",
                "incremental revenue",
            ],
            &rows,
        ));
    }
    s
}

/// The effect of one line in words and figures.
fn effect_text(l: &Line, m: &Measurement, markdown: bool) -> String {
    let e = &l.effect;
    let pts = |x: f64| format!("{:.1}", x * 100.0);
    let mut rows: Vec<Vec<String>> = Vec::new();
    if let Some(d) = e.uplift {
        rows.push(vec![
            "response rate uplift".into(),
            format!(
                "{} points ({}, Newcombe hybrid score); {}",
                signed_points(d),
                interval(e.uplift_ci, &pts),
                e.p_value.map(measure::format_p).unwrap_or_default()
            ),
        ]);
    }
    rows.push(vec![
        "relative uplift".into(),
        match e.relative {
            Some(r) => format!(
                "{}{:.1}% ({}, log risk ratio)",
                if r >= 0.0 { "+" } else { "" },
                r * 100.0,
                interval(e.relative_ci, &|x| format!("{:.1}%", x * 100.0))
            ),
            None => "- (the control group has no responder)".into(),
        },
    ]);
    if let Some(r) = e.revenue_uplift {
        rows.push(vec![
            "revenue per member uplift".into(),
            format!(
                "{} ({}, Welch t); {}",
                signed_money(r),
                interval(e.revenue_ci, &|x| if x < 0.0 {
                    format!("-{}", money(-x))
                } else {
                    money(x)
                }),
                e.revenue_p_value.map(measure::format_p).unwrap_or_default()
            ),
        ]);
    }
    if let Some((x, ci)) = e.incremental_responders {
        rows.push(vec![
            "incremental responders".into(),
            format!(
                "{} ({})",
                signed_count(x),
                interval(ci, &|v| format!("{v:.0}"))
            ),
        ]);
    }
    if let Some((x, ci)) = e.incremental_revenue {
        rows.push(vec![
            "incremental revenue".into(),
            format!(
                "{} ({})",
                signed_money(x),
                interval(ci, &|v| if v < 0.0 {
                    format!("-{}", money(-v))
                } else {
                    money(v)
                })
            ),
        ]);
    }
    let holdout = m
        .holdouts
        .iter()
        .find(|(d, _)| *d == l.snapshot)
        .and_then(|(_, h)| *h);
    rows.push(vec![
        "sample ratio".into(),
        match (&e.sample_ratio, holdout) {
            (Some(sr), _) => format!(
                "{:.1}% control against {:.1}% configured: {} ({})",
                sr.observed_control_share * 100.0,
                sr.expected_control_share * 100.0,
                measure::format_p(sr.p_value),
                if sr.p_value < measure::stats::SRM_ALPHA {
                    "MISMATCH: the split is broken"
                } else {
                    "ok"
                }
            ),
            (None, Some(0.0)) => "not checked: no holdout configured".into(),
            (None, _) => "not checked: the configured holdout is unknown".into(),
        },
    ]);
    rows.push(vec![
        "detectable uplift".into(),
        format!(
            "{} points of response rate{} (80% power, 5% level)",
            e.mde.map(pts).unwrap_or_else(|| "-".into()),
            e.revenue_mde
                .map(|r| format!(", {} of revenue per member", money(r)))
                .unwrap_or_default()
        ),
    ]);
    let mut s = if markdown {
        crate::render::markdown_table(&["effect (test - control)", ""], &rows)
    } else {
        crate::render::text_table(&["effect (test - control)", ""], &rows)
    };
    s.push('\n');
    s.push_str(&format!("Verdict: {}.\n", measure::verdict(l, &money)));
    s
}

/// One row per snapshot and breakdown value, every figure a column.
pub(crate) fn rows_batch(m: &Measurement) -> Result<RecordBatch> {
    let lines = &m.lines;
    let scale = 10f64.powi(m.scale as i32);
    let text = |f: &dyn Fn(&Line) -> Option<String>| -> ArrayRef {
        Arc::new(StringArray::from(lines.iter().map(f).collect::<Vec<_>>()))
    };
    let int = |f: &dyn Fn(&Line) -> u64| -> ArrayRef {
        Arc::new(Int64Array::from(
            lines.iter().map(|l| f(l) as i64).collect::<Vec<_>>(),
        ))
    };
    let num = |f: &dyn Fn(&Line) -> Option<f64>| -> ArrayRef {
        Arc::new(Float64Array::from(lines.iter().map(f).collect::<Vec<_>>()))
    };
    let mut fields = Vec::new();
    let mut cols: Vec<ArrayRef> = Vec::new();
    let mut push = |name: &str, dt: DataType, c: ArrayRef| {
        fields.push(Field::new(name, dt, true));
        cols.push(c);
    };
    push(
        "campaign",
        DataType::Utf8,
        text(&|_| Some(m.campaign.clone())),
    );
    push(
        "snapshot",
        DataType::Utf8,
        text(&|l| Some(l.snapshot.to_string())),
    );
    push(
        m.by.as_ref().map(|b| b.name()).unwrap_or("breakdown"),
        DataType::Utf8,
        text(&|l| l.key.clone()),
    );
    for (prefix, pick) in [
        ("test", (|l: &Line| l.test.clone()) as fn(&Line) -> Group),
        ("control", |l: &Line| l.control.clone()),
    ] {
        push(
            &format!("{prefix}_members"),
            DataType::Int64,
            int(&|l| pick(l).members),
        );
        push(
            &format!("{prefix}_responders"),
            DataType::Int64,
            int(&|l| pick(l).responders),
        );
        push(
            &format!("{prefix}_response_rate"),
            DataType::Float64,
            num(&|l| pick(l).response_rate()),
        );
        push(
            &format!("{prefix}_revenue"),
            DataType::Float64,
            num(&|l| Some(pick(l).revenue as f64 / scale)),
        );
        push(
            &format!("{prefix}_revenue_per_member"),
            DataType::Float64,
            num(&|l| pick(l).revenue_per_member.mean()),
        );
        push(
            &format!("{prefix}_avg_check_of_responders"),
            DataType::Float64,
            num(&|l| {
                let g = pick(l);
                (g.responder_purchases > 0)
                    .then(|| g.responder_revenue as f64 / scale / g.responder_purchases as f64)
            }),
        );
        push(
            &format!("{prefix}_purchases_per_member"),
            DataType::Float64,
            num(&|l| {
                let g = pick(l);
                (g.members > 0).then(|| g.purchases as f64 / g.members as f64)
            }),
        );
    }
    // An estimate and its interval: three columns, `NAME`, `NAME_low`, `NAME_high`.
    type Estimate = Option<(f64, Option<measure::stats::Interval>)>;
    let mut estimate = |name: &str, f: &dyn Fn(&Line) -> Estimate| {
        push(name, DataType::Float64, num(&|l| f(l).map(|e| e.0)));
        let low = num(&|l| f(l).and_then(|e| e.1).map(|i| i.low));
        push(&format!("{name}_low"), DataType::Float64, low);
        let high = num(&|l| f(l).and_then(|e| e.1).map(|i| i.high));
        push(&format!("{name}_high"), DataType::Float64, high);
    };
    estimate("uplift", &|l| {
        l.effect.uplift.map(|d| (d, l.effect.uplift_ci))
    });
    estimate("relative_uplift", &|l| {
        l.effect.relative.map(|d| (d, l.effect.relative_ci))
    });
    estimate("revenue_uplift", &|l| {
        l.effect.revenue_uplift.map(|d| (d, l.effect.revenue_ci))
    });
    estimate("incremental_responders", &|l| {
        l.effect.incremental_responders
    });
    estimate("incremental_revenue", &|l| l.effect.incremental_revenue);
    push("p_value", DataType::Float64, num(&|l| l.effect.p_value));
    push(
        "revenue_p_value",
        DataType::Float64,
        num(&|l| l.effect.revenue_p_value),
    );
    push(
        "sample_ratio_p_value",
        DataType::Float64,
        num(&|l| l.effect.sample_ratio.as_ref().map(|s| s.p_value)),
    );
    push(
        "detectable_uplift",
        DataType::Float64,
        num(&|l| l.effect.mde),
    );
    push(
        "detectable_revenue_uplift",
        DataType::Float64,
        num(&|l| l.effect.revenue_mde),
    );
    push(
        "missing_days",
        DataType::Int64,
        int(&|l| {
            m.missing_days
                .iter()
                .find(|(d, _)| *d == l.snapshot)
                .map(|(_, n)| *n as u64)
                .unwrap_or(0)
        }),
    );
    push(
        "verdict",
        DataType::Utf8,
        text(&|l| Some(measure::verdict(l, &money))),
    );
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).into_diagnostic()
}
