//! `segql diff`: what a change to the segment files does to their members (the files at a
//! git revision against the working tree, on the same data as of the same date), or what two
//! dates do to the same definitions; with `--members`, who moved and why.

use super::args::{DataArgs, parse_date};
use super::measure::MeasureFormat;
use super::messages::{MessageArgs, Reporter};
use super::out::write_text;
use super::stages::write_batch;
use crate::campaign::thousands;
use crate::render::{markdown_table, text_table};
use chrono::NaiveDate;
use clap::Args;
use miette::Result;
use segql_compiler::ir::{Pred, Segment};
use segql_compiler::{Program, resolve_segment};
use segql_runtime::datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use segql_runtime::datafusion::arrow::datatypes::{DataType, Field, Schema};
use segql_runtime::reports::diff::{
    Movement, Reason, capped, definition_members, members_of, memberships, reasons, terms,
};
use segql_runtime::{Engine, EngineOptions, Format, RuntimeError};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;

/// `segql diff`.
#[derive(Debug, Args)]
pub(super) struct DiffArgs {
    /// Segment files. Default: every `.seg` file of the project.
    files: Vec<PathBuf>,
    /// The git revision to compare the working tree with.
    #[arg(
        long,
        value_name = "REV",
        default_value = "HEAD",
        conflicts_with = "from"
    )]
    base: String,
    /// Compare the same definitions on two dates: the first date.
    #[arg(long, value_name = "DATE", value_parser = parse_date, requires = "to")]
    from: Option<NaiveDate>,
    /// The second date (with --from).
    #[arg(long, value_name = "DATE", value_parser = parse_date, requires = "from")]
    to: Option<NaiveDate>,
    /// Only these segments (repeatable).
    #[arg(short, long = "segment", value_name = "NAME")]
    segment: Vec<String>,
    /// List who entered and left, each with the top-level conditions whose values changed.
    #[arg(long)]
    members: bool,
    /// Output format (Markdown is ready to post as a pull-request comment). Default: from
    /// --output's extension (.csv, .json, .md), else table.
    #[arg(long, value_enum)]
    format: Option<MeasureFormat>,
    /// Write to this file (atomically) instead of standard output.
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    messages: MessageArgs,
}

/// What happened to a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Added,
    Removed,
    Unchanged,
    /// The text differs, the meaning (the resolved definition) does not.
    Layout,
    Changed,
}

impl Change {
    fn word(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Removed => "removed",
            Change::Unchanged => "unchanged",
            Change::Layout => "layout only",
            Change::Changed => "changed",
        }
    }
}

/// One segment's line of the report.
struct Line {
    name: String,
    change: Change,
    /// Counted members, when evaluated.
    movement: Option<Movement>,
    /// With --members: why each who moved did.
    why: BTreeMap<String, Vec<Reason>>,
}

/// Compares, prints; exits 1 when a side does not compile.
pub(super) async fn diff(a: DiffArgs) -> Result<ExitCode> {
    let mut report = Reporter::new(a.messages);
    let project = a.data.project()?;
    let root = a.data.import_root(&project);
    let files = if a.files.is_empty() {
        super::stages::segment_files(&project)
    } else {
        a.files.clone()
    };
    let mut after = Program::new(root.as_deref());
    for f in &files {
        if let Err(e) = after.load_file(f) {
            report.error(e);
        }
    }
    if report.errors > 0 {
        report.finish()?;
        return Ok(ExitCode::FAILURE);
    }
    let (title, lines) = match compare(&a, &project, &after, &files, &mut report).await {
        Ok(Some(done)) => done,
        Ok(None) => {
            report.finish()?;
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => {
            report.error(e);
            report.finish()?;
            return Ok(ExitCode::FAILURE);
        }
    };
    report.finish()?;
    let format = MeasureFormat::chosen(a.format, a.output.as_deref());
    match format {
        MeasureFormat::Table | MeasureFormat::Markdown => write_text(
            a.output.as_deref(),
            &text_report(&title, &lines, format == MeasureFormat::Markdown),
        )?,
        MeasureFormat::Csv | MeasureFormat::Json => {
            let batch = if a.members {
                members_batch(&lines)
            } else {
                summary_batch(&lines)
            }
            .map_err(crate::compile_err)?;
            let f = if format == MeasureFormat::Csv {
                Format::Csv
            } else {
                Format::Json
            };
            write_batch(batch, f, a.output.as_deref()).await?
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The report's title and lines: both revisions or both dates compared; `None` when the
/// base revision's files do not load (reported).
async fn compare(
    a: &DiffArgs,
    project: &segql_runtime::Project,
    after: &Program,
    files: &[PathBuf],
    report: &mut Reporter,
) -> Result<Option<(String, Vec<Line>)>> {
    Ok(Some(match (a.from, a.to) {
        (Some(from), Some(to)) => {
            let opts = |d| EngineOptions {
                as_of: Some(d),
                ..a.data.engine_options(true)
            };
            let mut eb = Engine::open(project.clone(), opts(from), true).await?;
            let mut ea = Engine::open(project.clone(), opts(to), true).await?;
            let names = selected(&a.segment, after, after);
            let lines = by_dates(&mut eb, &mut ea, after, &names, a.members).await?;
            (format!("Segment members on {from} and on {to}"), lines)
        }
        _ => {
            let mut engine = a.data.engine(true, true).await?;
            let asked = (!a.files.is_empty()).then_some(files);
            let old = match at_revision(&project.dir, &a.base, asked) {
                Ok(old) => old,
                Err(e) => {
                    report.error(e);
                    return Ok(None);
                }
            };
            let mut before = Program::new(Some(&old.project_dir));
            for f in &old.files {
                if let Err(e) = before.load_file(f) {
                    report.error(at_base(&a.base, e));
                }
            }
            if report.errors > 0 {
                return Ok(None);
            }
            let names = selected(&a.segment, &before, after);
            let lines =
                by_revisions(&mut engine, (&before, &a.base), after, &names, a.members).await?;
            (
                format!(
                    "Segment changes: `{}` against the working tree, as of {}",
                    a.base, engine.catalog.as_of
                ),
                lines,
            )
        }
    }))
}

/// The segments compared: those asked for, else every top-level segment without parameters
/// of either side (after's order, then those only before has).
fn selected(asked: &[String], before: &Program, after: &Program) -> Vec<String> {
    if !asked.is_empty() {
        return asked.to_vec();
    }
    let mut names: Vec<String> = Vec::new();
    for p in [after, before] {
        for s in p.segments.iter().filter(|s| s.top_level) {
            if !names.contains(&s.def.name.name) {
                names.push(s.def.name.name.clone());
            }
        }
    }
    names
}

/// The segment files as they were at a revision, written into a temporary directory.
struct OldFiles {
    _dir: tempfile::TempDir,
    /// The project directory's counterpart.
    project_dir: PathBuf,
    /// The files asked for that existed at the revision.
    files: Vec<PathBuf>,
}

fn git(dir: &Path, args: &[&str]) -> Result<Vec<u8>, RuntimeError> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| RuntimeError::Usage {
            message: format!("cannot run git: {e}"),
            help: Some("segql diff --base reads the old segment files with git".into()),
        })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(RuntimeError::Usage {
            message: format!("git {}: {err}", args.join(" ")),
            help: Some(
                "--base takes a revision of the repository the project is in, e.g. HEAD or origin/main"
                    .into(),
            ),
        });
    }
    Ok(out.stdout)
}

/// Every `.seg` file of the project at `rev`, and the given files' counterparts.
/// With `files` `None`, every one of them (the files removed since included).
fn at_revision(
    project_dir: &Path,
    rev: &str,
    files: Option<&[PathBuf]>,
) -> Result<OldFiles, RuntimeError> {
    let top = String::from_utf8_lossy(&git(project_dir, &["rev-parse", "--show-toplevel"])?)
        .trim()
        .to_string();
    let top = std::fs::canonicalize(&top).unwrap_or_else(|_| PathBuf::from(&top));
    if git(
        &top,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ],
    )
    .is_err()
    {
        return Err(RuntimeError::Usage {
            message: format!("unknown revision `{rev}` in the repository at {}", top.display()),
            help: Some(
                "--base takes a commit, branch or tag, e.g. HEAD, HEAD~1 or origin/main (fetch it first in CI)"
                    .into(),
            ),
        });
    }
    let project = std::fs::canonicalize(project_dir).unwrap_or_else(|_| project_dir.to_path_buf());
    let rel_project = project
        .strip_prefix(&top)
        .unwrap_or(Path::new(""))
        .to_path_buf();
    let dir = tempfile::tempdir().map_err(|e| RuntimeError::Usage {
        message: format!("cannot make a temporary directory: {e}"),
        help: None,
    })?;
    let pathspec = match rel_project.to_string_lossy().to_string() {
        p if p.is_empty() => ".".to_string(),
        p => p,
    };
    let listed = git(
        &top,
        &["ls-tree", "-r", "-z", "--name-only", rev, "--", &pathspec],
    )?;
    let mut all = Vec::new();
    for path in listed.split(|b| *b == 0).filter(|p| p.ends_with(b".seg")) {
        let path = String::from_utf8_lossy(path).to_string();
        if path.split('/').any(|c| c.starts_with('.')) {
            continue;
        }
        all.push(dir.path().join(&path));
        let text = git(&top, &["show", &format!("{rev}:{path}")])?;
        let target = dir.path().join(&path);
        if let Some(parent) = target.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        std::fs::write(&target, text).map_err(|e| RuntimeError::Usage {
            message: format!("cannot write {}: {e}", target.display()),
            help: None,
        })?;
    }
    let Some(files) = files else {
        return Ok(OldFiles {
            project_dir: dir.path().join(&rel_project),
            files: segql_runtime::project::imported_first(all),
            _dir: dir,
        });
    };
    let mut old = Vec::new();
    for f in files {
        let abs = std::fs::canonicalize(f).unwrap_or_else(|_| f.clone());
        if let Ok(rel) = abs.strip_prefix(&top) {
            let p = dir.path().join(rel);
            if p.exists() {
                old.push(p);
            }
        }
    }
    Ok(OldFiles {
        project_dir: dir.path().join(&rel_project),
        files: old,
        _dir: dir,
    })
}

/// The resolved meaning of a definition, to compare: its condition with references inlined,
/// its campaign, or for a segment with parameters its canonical text.
fn meaning(program: &Program, engine: &Engine, name: &str) -> Option<String> {
    let entry = program.segment(name)?;
    if !entry.def.params.is_empty() {
        // Its canonical text, without the description (which changes no one's membership).
        let mut def = entry.def.clone();
        def.description = None;
        return Some(segql_grammar::fmt::format_definition(&def));
    }
    resolve_segment(program, &engine.catalog, name)
        .ok()
        .map(|s| format!("{:?} {:?}", s.pred, s.campaign))
}

fn text_of(program: &Program, name: &str) -> Option<String> {
    let entry = program.segment(name)?;
    let src = &program.sources[entry.source].text;
    src.get(entry.def.span.start..entry.def.span.end)
        .map(str::to_string)
}

/// A definition's condition, resolved (reading the tables it wants); a base revision's
/// error said of the revision.
async fn resolved(
    engine: &mut Engine,
    program: &Program,
    name: &str,
    base: Option<&str>,
) -> Result<Segment> {
    let r = engine
        .compile(|c| resolve_segment(program, c, name))
        .await?;
    Ok(match base {
        Some(b) => r.map_err(|e| at_base(b, e))?,
        None => r?,
    })
}

/// Where a definition's members come from: the shared query of conditions (their position
/// in it), or their own query (a campaign capped by its `limit`).
enum Members {
    Shared(usize),
    Own(BTreeSet<String>),
}

impl Members {
    /// Adds `segment` to `preds` (the shared query's conditions), or counts it on its own.
    async fn of(engine: &mut Engine, segment: Segment, preds: &mut Vec<Pred>) -> Result<Members> {
        if capped(&segment) {
            return Ok(Members::Own(definition_members(engine, &segment).await?));
        }
        preds.push(segment.pred);
        Ok(Members::Shared(preds.len() - 1))
    }

    /// The members, given the shared query's result.
    fn get(&self, shared: &std::collections::HashMap<String, Vec<bool>>) -> BTreeSet<String> {
        match self {
            Members::Shared(i) => members_of(shared, *i),
            Members::Own(m) => m.clone(),
        }
    }
}

/// Each segment between two revisions, on the same data: what changed, then the members of
/// every definition that did from one query.
async fn by_revisions(
    engine: &mut Engine,
    (before, base): (&Program, &str),
    after: &Program,
    names: &[String],
    members: bool,
) -> Result<Vec<Line>> {
    let parameterized =
        |p: &Program, name: &str| p.segment(name).is_some_and(|e| !e.def.params.is_empty());
    let mut lines = Vec::new();
    // Per line to count: where its members before and after come from.
    let mut counted: Vec<(usize, Option<Members>, Option<Members>)> = Vec::new();
    let mut preds: Vec<Pred> = Vec::new();
    for name in names {
        let (b, a) = (
            before.segment(name).is_some(),
            after.segment(name).is_some(),
        );
        let change = match (b, a) {
            (false, false) => {
                return Err(segql_compiler::CompileError::SegmentNotFound {
                    name: name.to_string(),
                    help: "it is in neither revision".into(),
                }
                .into());
            }
            (false, true) => Change::Added,
            (true, false) => Change::Removed,
            (true, true) => {
                // Compile both (reading the tables they want), then compare their meaning.
                if !parameterized(before, name) {
                    resolved(engine, before, name, Some(base)).await?;
                }
                if !parameterized(after, name) {
                    resolved(engine, after, name, None).await?;
                }
                if meaning(before, engine, name) != meaning(after, engine, name) {
                    Change::Changed
                } else if text_of(before, name) == text_of(after, name) {
                    Change::Unchanged
                } else {
                    Change::Layout
                }
            }
        };
        let evaluated = !matches!(change, Change::Unchanged | Change::Layout)
            && !parameterized(before, name)
            && !parameterized(after, name);
        if evaluated {
            let ib = match b {
                true => {
                    let seg = resolved(engine, before, name, Some(base)).await?;
                    Some(Members::of(engine, seg, &mut preds).await?)
                }
                false => None,
            };
            let ia = match a {
                true => {
                    let seg = resolved(engine, after, name, None).await?;
                    Some(Members::of(engine, seg, &mut preds).await?)
                }
                false => None,
            };
            counted.push((lines.len(), ib, ia));
        }
        lines.push(Line {
            name: name.to_string(),
            change,
            movement: None,
            why: BTreeMap::new(),
        });
    }
    let m = memberships(engine, &preds, None).await?;
    let of = |i: &Option<Members>| i.as_ref().map(|i| i.get(&m)).unwrap_or_default();
    for (l, ib, ia) in counted {
        let mv = Movement::of(&of(&ib), &of(&ia));
        let moved: BTreeSet<String> = mv.entered.union(&mv.left).cloned().collect();
        let line = &mut lines[l];
        if members && line.change == Change::Changed {
            let tb = terms(engine, before, &line.name)
                .await
                .map_err(|e| at_base(base, e))?;
            let ta = terms(engine, after, &line.name).await?;
            let vb = memberships(engine, &tb.preds, Some(&moved)).await?;
            let va = memberships(engine, &ta.preds, Some(&moved)).await?;
            line.why = reasons((&vb, &tb), (&va, &ta), &moved);
        } else if members {
            line.why = moved.into_iter().map(|id| (id, Vec::new())).collect();
        }
        line.movement = Some(mv);
    }
    Ok(lines)
}

/// Each segment on two dates: the members on each from one query per date.
async fn by_dates(
    eb: &mut Engine,
    ea: &mut Engine,
    program: &Program,
    names: &[String],
    members: bool,
) -> Result<Vec<Line>> {
    let mut lines = Vec::new();
    let (mut pb, mut pa, mut counted) = (Vec::new(), Vec::new(), Vec::new());
    for name in names {
        if program
            .segment(name)
            .is_none_or(|e| e.def.params.is_empty())
        {
            let sb = resolved(eb, program, name, None).await?;
            let sa = resolved(ea, program, name, None).await?;
            let from = Members::of(eb, sb, &mut pb).await?;
            let to = Members::of(ea, sa, &mut pa).await?;
            counted.push((lines.len(), from, to));
        }
        lines.push(Line {
            name: name.to_string(),
            change: Change::Unchanged,
            movement: None,
            why: BTreeMap::new(),
        });
    }
    let mb = memberships(eb, &pb, None).await?;
    let ma = memberships(ea, &pa, None).await?;
    for (l, from, to) in counted {
        let mv = Movement::of(&from.get(&mb), &to.get(&ma));
        let line = &mut lines[l];
        if !mv.entered.is_empty() || !mv.left.is_empty() {
            line.change = Change::Changed;
        }
        if members {
            let tb = terms(eb, program, &line.name).await?;
            let ta = terms(ea, program, &line.name).await?;
            let moved: BTreeSet<String> = mv.entered.union(&mv.left).cloned().collect();
            let vb = memberships(eb, &tb.preds, Some(&moved)).await?;
            let va = memberships(ea, &ta.preds, Some(&moved)).await?;
            line.why = reasons((&vb, &tb), (&va, &ta), &moved);
        }
        line.movement = Some(mv);
    }
    Ok(lines)
}

fn counts(m: &Option<Movement>) -> [String; 5] {
    match m {
        None => Default::default(),
        Some(m) => [
            thousands(m.before),
            thousands(m.after),
            thousands(m.entered.len() as u64),
            thousands(m.left.len() as u64),
            thousands(m.stayed),
        ],
    }
}

const SUMMARY: [&str; 7] = [
    "segment", "change", "before", "after", "entered", "left", "stayed",
];

fn moved_rows(lines: &[Line]) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for l in lines {
        let Some(m) = &l.movement else { continue };
        for (id, why) in &l.why {
            let how = if m.entered.contains(id) {
                "entered"
            } else {
                "left"
            };
            let why = why
                .iter()
                .map(Reason::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            rows.push(vec![l.name.clone(), id.clone(), how.to_string(), why]);
        }
    }
    rows
}

fn text_report(title: &str, lines: &[Line], markdown: bool) -> String {
    let rows: Vec<Vec<String>> = lines
        .iter()
        .map(|l| {
            let mut r = vec![l.name.clone(), l.change.word().to_string()];
            r.extend(counts(&l.movement));
            r
        })
        .collect();
    let table = |h: &[&str], r: &[Vec<String>]| {
        if markdown {
            markdown_table(h, r)
        } else {
            text_table(h, r)
        }
    };
    let mut s = if markdown {
        format!("### {title}\n\n")
    } else {
        format!("{title}\n\n")
    };
    s.push_str(&table(&SUMMARY, &rows));
    let moved = moved_rows(lines);
    if !moved.is_empty() {
        s.push_str(if markdown {
            "\n<details><summary>Who moved, and the conditions whose values changed</summary>\n\n"
        } else {
            "\nWho moved, and the conditions whose values changed:\n\n"
        });
        s.push_str(&table(&["segment", "customer_id", "moved", "why"], &moved));
        if markdown {
            s.push_str("\n</details>\n");
        }
    }
    s
}

fn strings(name: &str, values: Vec<Option<String>>) -> (Field, ArrayRef) {
    (
        Field::new(name, DataType::Utf8, true),
        Arc::new(StringArray::from(values)),
    )
}

fn batch(
    columns: Vec<(Field, ArrayRef)>,
) -> Result<RecordBatch, segql_runtime::datafusion::error::DataFusionError> {
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = columns.into_iter().unzip();
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

fn summary_batch(
    lines: &[Line],
) -> Result<RecordBatch, segql_runtime::datafusion::error::DataFusionError> {
    use segql_runtime::datafusion::arrow::array::Int64Array;
    let int = |name: &str, f: &dyn Fn(&Movement) -> u64| -> (Field, ArrayRef) {
        (
            Field::new(name, DataType::Int64, true),
            Arc::new(Int64Array::from(
                lines
                    .iter()
                    .map(|l| l.movement.as_ref().map(|m| f(m) as i64))
                    .collect::<Vec<_>>(),
            )),
        )
    };
    batch(vec![
        strings(
            "segment",
            lines.iter().map(|l| Some(l.name.clone())).collect(),
        ),
        strings(
            "change",
            lines
                .iter()
                .map(|l| Some(l.change.word().to_string()))
                .collect(),
        ),
        int("before", &|m| m.before),
        int("after", &|m| m.after),
        int("entered", &|m| m.entered.len() as u64),
        int("left", &|m| m.left.len() as u64),
        int("stayed", &|m| m.stayed),
    ])
}

fn members_batch(
    lines: &[Line],
) -> Result<RecordBatch, segql_runtime::datafusion::error::DataFusionError> {
    let rows = moved_rows(lines);
    let col = |i: usize| rows.iter().map(|r| Some(r[i].clone())).collect();
    batch(vec![
        strings("segment", col(0)),
        strings("customer_id", col(1)),
        strings("moved", col(2)),
        strings("why", col(3)),
    ])
}

/// An error of the segment files at the base revision: its message, said to be of that
/// revision (its place would name the temporary copy the old files are read from).
fn at_base(base: &str, e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Usage {
        message: format!("the segment files at `{base}`: {e}"),
        help: Some(format!(
            "see them with `git show {base}:PATH`; the comparison needs both revisions to compile against today's data"
        )),
    }
}
