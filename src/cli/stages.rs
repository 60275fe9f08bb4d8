//! The stages commands are made of: load the segment files, select and compile segments,
//! lower them to plans, and write a result.

use super::args::DataArgs;
use miette::Result;
use segql_compiler::ir::Segment;
use segql_compiler::{Program, Query, lower_memberships, resolve_expr, resolve_segment};
use segql_runtime::datafusion::arrow::array::RecordBatch;
use segql_runtime::{Engine, Format, Project, RuntimeError};
use std::path::{Path, PathBuf};

/// The segment files, with imports confined to `root`.
pub(super) fn load_program(files: &[PathBuf], root: Option<&Path>) -> Result<Program> {
    let mut program = Program::new(root);
    for f in files {
        program.load_file(f)?;
    }
    Ok(program)
}

/// The project of `d` and its segment files, with `output` checked against every file they
/// read before any data is read: an output never replaces an input.
pub(super) fn load_guarded(
    d: &DataArgs,
    files: &[PathBuf],
    output: Option<&Path>,
) -> Result<(Project, Program)> {
    let p = d.project()?;
    let program = load_program(files, d.import_root(&p).as_deref())?;
    if let Some(out) = output {
        let mut inputs = segql_runtime::Inputs::of_project(&p);
        for s in &program.sources {
            if let Some(path) = &s.path {
                inputs.add_named(path, &s.name, "the segment file");
            }
        }
        inputs.check(&[(out, "--output")])?;
    }
    Ok((p, program))
}

/// What a command evaluates: the expression `expr`, else the segments `names`, else every
/// top-level segment of the files.
pub(super) async fn select(
    engine: &mut Engine,
    program: &mut Program,
    expr: Option<&str>,
    names: &[String],
) -> Result<Vec<Segment>> {
    if let Some(e) = expr {
        let (ast, src) = program.parse_inline("expression", e)?;
        let program = &*program;
        let pred = engine
            .compile(|c| resolve_expr(program, c, &ast, src))
            .await??;
        engine.prepare(&[&pred]).await?;
        return Ok(vec![Segment {
            name: "expression".into(),
            description: None,
            pred,
            campaign: None,
        }]);
    }
    let mut names: Vec<String> = if names.is_empty() {
        program
            .segments
            .iter()
            // A segment with parameters runs only when called with arguments.
            .filter(|s| s.top_level && s.def.params.is_empty())
            .map(|s| s.def.name.name.clone())
            .collect()
    } else {
        names.to_vec()
    };
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    if names.is_empty() {
        return Err(RuntimeError::Usage {
            message: "nothing to evaluate".into(),
            help: Some("give segment files, or an expression with -e 'recency < 30d'".into()),
        }
        .into());
    }
    let program = &*program;
    let resolved = engine
        .compile(|c| {
            names
                .iter()
                .map(|n| resolve_segment(program, c, n))
                .collect::<Result<Vec<_>, _>>()
        })
        .await??;
    let preds: Vec<&segql_compiler::ir::Pred> = resolved.iter().map(|s| &s.pred).collect();
    engine.prepare(&preds).await?;
    Ok(resolved)
}

/// The plan of one segment, or of a campaign (with its cap and `group` column).
pub(super) async fn lower_one(engine: &mut Engine, s: &Segment) -> Result<Query> {
    let q = engine
        .compile(|c| segql_compiler::lower_definition(c, s))
        .await?;
    q.map_err(compile_err)
}

/// Membership columns of several segments; campaigns need their own run.
pub(super) async fn lower_many(engine: &mut Engine, segments: &[Segment]) -> Result<Query> {
    if let Some(c) = segments.iter().find(|s| s.campaign.is_some()) {
        return Err(RuntimeError::Usage {
            message: format!(
                "`{}` is a campaign: its holdout and limit apply to it alone",
                c.name
            ),
            help: Some(format!(
                "run it on its own with --segment {}, or name the segments to run together with --segment",
                c.name
            )),
        }
        .into());
    }
    let q = engine.compile(|c| lower_memberships(c, segments)).await?;
    q.map_err(compile_err)
}

pub(super) use crate::compile_err;

/// Writes one batch in `format` to `out`, else to standard output.
pub(super) async fn write_batch(
    batch: RecordBatch,
    format: Format,
    out: Option<&Path>,
) -> Result<()> {
    use segql_runtime::datafusion::physical_plan::stream::RecordBatchStreamAdapter;
    let schema = batch.schema();
    let stream = Box::pin(RecordBatchStreamAdapter::new(
        schema,
        futures::stream::once(async move { Ok(batch) }),
    ));
    segql_runtime::output::write_stream(stream, format, out).await?;
    Ok(())
}

/// Every `.seg` file of the project ([`segql_runtime::project::segment_files`]).
pub(super) fn segment_files(project: &segql_runtime::Project) -> Vec<PathBuf> {
    segql_runtime::project::segment_files(project)
}
