//! `segql explain`: a segment at each stage from syntax tree to physical plan.

use super::args::DataArgs;
use super::stages::{compile_err, load_program, lower_many, lower_one, select};
use clap::{Args, ValueEnum};
use miette::Result;
use std::path::PathBuf;
use std::process::ExitCode;

/// `segql explain`.
#[derive(Debug, Args)]
pub(super) struct ExplainArgs {
    /// Segment files.
    files: Vec<PathBuf>,
    /// An expression to explain.
    #[arg(short = 'e', long = "expr", value_name = "EXPR")]
    expr: Option<String>,
    /// The segment to explain. Default: all segments of the files, evaluated together.
    #[arg(short, long = "segment", value_name = "NAME", conflicts_with = "expr")]
    segment: Vec<String>,
    /// What to print.
    #[arg(long, value_enum, default_value = "plans")]
    stage: ExplainStage,
    /// Explain the count query instead of the member list.
    #[arg(long)]
    count: bool,
    #[command(flatten)]
    data: DataArgs,
}

/// What `explain --stage` prints (not a lifecycle stage: that is `ir::Stage`).
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum ExplainStage {
    /// The syntax tree.
    Ast,
    /// The text with every call of a segment with parameters replaced by its body, the
    /// arguments in place.
    Expanded,
    /// The resolved, typed representation.
    Ir,
    /// The logical and the optimized DataFusion plan.
    Plans,
    /// The physical plan.
    Physical,
    /// Runs the query and prints the physical plan with the rows and time of each step.
    Analyze,
}

/// Prints the segments at `--stage`.
pub(super) async fn explain(a: ExplainArgs) -> Result<ExitCode> {
    let need_as_of = !matches!(a.stage, ExplainStage::Ast | ExplainStage::Expanded);
    let mut engine = a.data.engine(need_as_of, true).await?;
    let mut program = load_program(&a.files, a.data.import_root(&engine.project).as_deref())?;
    if a.stage == ExplainStage::Ast {
        if let Some(e) = &a.expr {
            let (ast, _) = program.parse_inline("expression", e)?;
            outln!("{ast:#?}");
        } else {
            for s in &program.segments {
                outln!("{:#?}", s.def);
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    if a.stage == ExplainStage::Expanded {
        let names: Vec<String> = if a.segment.is_empty() {
            program.names().map(str::to_string).collect()
        } else {
            a.segment.clone()
        };
        for n in names {
            let text = segql_compiler::expanded_text(&program, &n).ok_or_else(|| {
                segql_compiler::CompileError::SegmentNotFound {
                    name: n.clone(),
                    help: format!(
                        "known segments: {}",
                        program.names().collect::<Vec<_>>().join(", ")
                    ),
                }
            })?;
            outln!("{text}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let segments = select(&mut engine, &mut program, a.expr.as_deref(), &a.segment).await?;
    let models = model_lines(&engine, &segments);
    if a.stage == ExplainStage::Ir {
        for s in &segments {
            outln!("segment {} =\n{:#?}", s.name, s.pred);
        }
        for m in &models {
            outln!("{m}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let q = if segments.len() == 1 {
        lower_one(&mut engine, &segments[0]).await?
    } else {
        lower_many(&mut engine, &segments).await?
    };
    let plan = if a.count { q.count() } else { q.sorted() }.map_err(compile_err)?;
    if a.stage == ExplainStage::Physical {
        outln!("{}", engine.physical_plan(&plan).await?);
        return Ok(ExitCode::SUCCESS);
    }
    if a.stage == ExplainStage::Analyze {
        use segql_runtime::datafusion::arrow::array::AsArray;
        let explain = segql_runtime::datafusion::logical_expr::LogicalPlanBuilder::from(plan)
            .explain(false, true)
            .and_then(|b| b.build())
            .map_err(compile_err)?;
        for b in engine.collect(explain).await? {
            let (kind, text) = (
                b.column(0).as_string::<i32>(),
                b.column(1).as_string::<i32>(),
            );
            for i in 0..b.num_rows() {
                if kind.value(i) == "Plan with Metrics" {
                    outln!("{}", text.value(i));
                }
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let optimized = engine.optimize(&plan)?;
    outln!("as of {}\n", engine.catalog.as_of);
    for m in &models {
        outln!("{m}\n");
    }
    outln!("Logical plan:\n{}\n", plan.display_indent());
    outln!("Optimized plan:\n{}", optimized.display_indent());
    Ok(ExitCode::SUCCESS)
}

/// One line per model the segments read: its file, the date it was fitted as of, its shape.
fn model_lines(
    engine: &segql_runtime::Engine,
    segments: &[segql_compiler::ir::Segment],
) -> Vec<String> {
    let mut names = std::collections::BTreeSet::new();
    let mut scores = std::collections::BTreeSet::new();
    let mut looks = std::collections::BTreeSet::new();
    for s in segments {
        for v in s.pred.values() {
            match v {
                segql_compiler::ir::Value::Cluster(n) => {
                    names.insert(n);
                }
                segql_compiler::ir::Value::Lookalike(l) => {
                    looks.insert(l);
                }
                segql_compiler::ir::Value::Score(r) => {
                    scores.insert((r.written(), r.model));
                }
                _ => {}
            }
        }
    }
    let scored = scores.into_iter().filter_map(|(written, n)| match engine.catalog.scores.get(&n) {
        Some(Ok(m)) => Some(format!(
            "{written}: {}, fitted on campaign {}'s test group as of {}{}, a logistic regression over {} features (feature set v{}); evaluated as of {}",
            m.file,
            m.campaign,
            m.as_of,
            if m.control.is_some() { " (and its control group)" } else { "" },
            m.scaling.len(),
            segql_compiler::models::FEATURE_SET_VERSION,
            engine.catalog.as_of,
        )),
        _ => None,
    });
    names
        .into_iter()
        .filter_map(|n| match engine.catalog.models.get(&n) {
            Some(Ok(m)) => Some(format!(
                "cluster({n}): {}, fitted as of {}, {} clusters over {} features (feature set v{}); evaluated as of {}",
                m.file,
                m.as_of,
                m.centroids.len(),
                m.scaling.len(),
                segql_compiler::models::FEATURE_SET_VERSION,
                engine.catalog.as_of,
            )),
            _ => None,
        })
        .chain(scored)
        .chain(looks.into_iter().map(|l| {
            let n = match l.n {
                segql_compiler::ir::TopN::Count(c) => c.to_string(),
                segql_compiler::ir::TopN::Basis(bp) => format!("{}%", bp as f64 / 100.0),
            };
            let features = engine
                .catalog
                .features
                .as_ref()
                .map_or(0, |f| f.features().len());
            format!(
                "lookalike({}, {n}): the candidates nearest to the segment's members as of {} over {features} features (feature set v{}), each in units of the members' spread (at least {} of the population's); docs/features.md",
                l.segment,
                engine.catalog.as_of,
                segql_compiler::models::FEATURE_SET_VERSION,
                segql_compiler::lower::SPREAD_FLOOR,
            )
        }))
        .collect()
}
