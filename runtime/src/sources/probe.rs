//! The failure path of reading data: which file, column and value a failed read tripped on.
//!
//! A run reads and converts values only as its plan needs them, with no scan of its own: a
//! value that cannot be converted (a text amount, a date in another format) stops it with the
//! engine's message, which names neither the file nor the column. Only then does the probe
//! run: file by file, it reads the rows in order on one partition and evaluates each
//! normalizing expression (the projection of `read::load`) batch by batch; in the first
//! batch that fails, halving finds the first row that fails. `segql check --data` runs the
//! same probe over everything.

use super::discovery::{Kind, csv_delimiter, expand, is_csv, shown_path, tables, url_of};
use super::facts::columns_of;
use super::normalize::role;
use super::read::load;
use crate::error::RuntimeError;
use crate::project::config::{FileFormat, Project, TableConfig};
use datafusion::arrow::array::RecordBatchOptions;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{LogicalPlan, Projection};
use datafusion::physical_plan::PhysicalExpr;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::StreamExt;
use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;
use toml::Spanned;

/// Whether an engine message may come from a value or file the probe can find.
pub(crate) fn worth_probing(message: &str) -> bool {
    let m = message.to_lowercase();
    [
        "cast",
        "pars",
        "utf",
        "csv",
        "parquet",
        "decimal",
        "invalid",
        "corrupt",
        "eof",
        "date",
        "timestamp",
        "overflow",
    ]
    .iter()
    .any(|w| m.contains(w))
}

/// Replaces an engine error about the data with one that names the file, column and value,
/// when the probe finds them; otherwise returns the error as it is.
/// Only the tables of `kinds` are probed: those the failed work read.
pub(crate) async fn explain(project: &Project, e: RuntimeError, kinds: &[Kind]) -> RuntimeError {
    match &e {
        RuntimeError::Data { message, .. } if worth_probing(message) => {}
        _ => return e,
    }
    match find_unreadable(project, kinds).await {
        Err(found) => found,
        Ok(()) => e,
    }
}

/// Like `explain`, for a failure to open the tables (whatever the reader's words, it is
/// about a file).
pub(crate) async fn explain_load(
    project: &Project,
    e: RuntimeError,
    kinds: &[Kind],
) -> RuntimeError {
    if !matches!(e, RuntimeError::Data { .. }) {
        return e;
    }
    match find_unreadable(project, kinds).await {
        Err(found) => found,
        Ok(()) => e,
    }
}

/// Reads every file of the tables of `kinds` and converts every column as a run would: the
/// first file that cannot be read, or value that cannot be converted, is the error.
pub(crate) async fn find_unreadable(project: &Project, kinds: &[Kind]) -> Result<(), RuntimeError> {
    let ctx = SessionContext::new_with_config_rt(
        SessionConfig::new().with_target_partitions(1),
        crate::stores::runtime_env(),
    );
    for (kind, cfg) in tables(project).into_iter().filter(|t| kinds.contains(&t.0)) {
        let Ok(files) = expand(&project.dir, cfg.path.get_ref(), kind.name()).await else {
            continue;
        };
        for file in &files {
            let shown = shown_path(project, cfg, &files, file);
            let mut probed = probe_file(&ctx, project, cfg, kind, file, &shown).await;
            // The reader counts lines from the start of the batch it was reading: name the
            // line in the file.
            if let Err(RuntimeError::Corrupt { reason, .. }) = &mut probed
                && is_csv(cfg, file)
                && reason.contains("unequal lengths")
                && let Some(bytes) = reader_of(file).await
                && let Some((line, found, header)) = ragged_line(bytes, csv_delimiter(cfg, file))
            {
                *reason = format!("line {line} has {found} fields where the header has {header}");
            }
            probed?;
        }
    }
    Ok(())
}

/// A reader of a file's bytes: a local file, or an object read whole from its store (only
/// after a read failed); `None` when it cannot be read (reading it reports why).
async fn reader_of(file: &Path) -> Option<Box<dyn std::io::Read + Send>> {
    match url_of(file) {
        Some(url) => crate::stores::read_all(url)
            .await
            .ok()
            .map(|b| Box::new(std::io::Cursor::new(b)) as _),
        None => std::fs::File::open(file).ok().map(|f| Box::new(f) as _),
    }
}

/// The first record of a CSV file's bytes whose number of fields differs from the header's,
/// as (its line from 1, its fields, the header's fields); quoted fields may span lines.
fn ragged_line(bytes: impl std::io::Read, delimiter: u8) -> Option<(u64, usize, usize)> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(bytes);
    let mut record = csv::ByteRecord::new();
    let mut header = None;
    loop {
        let line = reader.position().line();
        if !reader.read_byte_record(&mut record).ok()? {
            return None;
        }
        match header {
            None => header = Some(record.len()),
            Some(n) if record.len() != n => return Some((line, record.len(), n)),
            Some(_) => {}
        }
    }
}

/// The first line of a file's bytes that is not UTF-8, and the byte in it (both from 1).
fn first_invalid_utf8(bytes: impl std::io::Read) -> Option<(u64, usize)> {
    let mut r = std::io::BufReader::new(bytes);
    let mut line = Vec::new();
    let mut n = 0u64;
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line).ok()? == 0 {
            return None;
        }
        n += 1;
        if let Err(e) = std::str::from_utf8(&line) {
            return Some((n, e.valid_up_to() + 1));
        }
    }
}

fn corrupt(table: &str, shown: &str, csv: bool, reason: String) -> RuntimeError {
    let reason = reason
        .strip_prefix("Parquet error: ")
        .map(str::to_string)
        .unwrap_or(reason);
    RuntimeError::Corrupt {
        table: table.into(),
        path: shown.into(),
        reason,
        help: if csv {
            "check the file at the place the reader names: quotes, delimiters and the number of fields per line".into()
        } else {
            "the file is not a complete Parquet file (cut short while copying, or not Parquet at all): copy or export it again".into()
        },
    }
}

/// One file: readable bytes, then every value of every normalized column.
async fn probe_file(
    ctx: &SessionContext,
    project: &Project,
    cfg: &TableConfig,
    kind: Kind,
    file: &Path,
    shown: &str,
) -> Result<(), RuntimeError> {
    let table = kind.name();
    let csv = is_csv(cfg, file);
    if csv {
        if let Some((line, byte)) = reader_of(file).await.and_then(first_invalid_utf8) {
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_else(|| shown.to_string());
            return Err(RuntimeError::Encoding {
                table: table.into(),
                path: shown.into(),
                line,
                byte,
                help: format!(
                    "segql reads UTF-8 only: convert the file, e.g. `iconv -f cp1251 -t utf-8 {name} > utf8-{name}` (cp1251 is Windows Cyrillic: name the file's own encoding), or export it again as UTF-8"
                ),
            });
        }
    } else if let Some(url) = url_of(file) {
        match crate::stores::parquet_metadata(url).await {
            Ok(_) => {}
            Err(RuntimeError::Io { reason, .. }) => {
                return Err(corrupt(table, shown, false, reason));
            }
            Err(e) => return Err(e),
        }
    } else {
        use datafusion::parquet::file::reader::SerializedFileReader;
        match std::fs::File::open(file) {
            Ok(f) => {
                if let Err(e) = SerializedFileReader::new(f) {
                    return Err(corrupt(table, shown, false, e.to_string()));
                }
            }
            Err(e) => {
                return Err(RuntimeError::Io {
                    path: shown.into(),
                    reason: e.to_string(),
                });
            }
        }
    }
    let mut one = cfg.clone();
    // A file may lack an optional column that other files of its table have (files meet by
    // column name): probe it without that column.
    let format = if csv {
        FileFormat::Csv
    } else {
        FileFormat::Parquet
    };
    if let Some(cols) = columns_of(file, format, csv_delimiter(cfg, file)).await {
        let required = ["customer_id", "ts", "amount"];
        one.columns
            .retain(|k, v| required.contains(&k.get_ref().as_str()) || cols.contains(v.get_ref()));
    }
    // The one file, as a path that is never taken for a glob of others.
    // Absolute: the project directory may itself be relative, and `load` joins it again
    // (a URL is absolute already).
    let file = match url_of(file) {
        Some(_) => file.to_path_buf(),
        None => std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf()),
    };
    one.path = Spanned::new(0..0, glob::Pattern::escape(&file.display().to_string()));
    let plan = match load(ctx, project, &one, kind).await {
        Ok((p, _)) => p,
        Err(RuntimeError::MissingColumn {
            table,
            column,
            canonical,
            help,
            ..
        }) => {
            return Err(RuntimeError::MissingColumn {
                table,
                path: shown.into(),
                column,
                canonical,
                help,
            });
        }
        Err(RuntimeError::BadColumnType {
            table,
            column,
            canonical,
            found,
            help,
            ..
        }) => {
            return Err(RuntimeError::BadColumnType {
                table,
                path: shown.into(),
                column,
                canonical,
                found,
                help,
            });
        }
        Err(RuntimeError::Data { message, .. }) => {
            return Err(corrupt(table, shown, csv, message));
        }
        Err(e) => return Err(e),
    };
    let Some((levels, scan)) = projections(&plan) else {
        return Ok(());
    };
    let state = ctx.state();
    let mut phys: Vec<Level> = Vec::new();
    for p in &levels {
        let mut exprs = Vec::new();
        for e in &p.expr {
            match state.create_physical_expr(e.clone(), p.input.schema()) {
                Ok(x) => exprs.push(x),
                // Not something the probe can evaluate: leave the original error.
                Err(_) => return Ok(()),
            }
        }
        let schema = p.schema.as_arrow();
        let nullable: Vec<_> = schema
            .fields()
            .iter()
            .map(|f| Arc::new(f.as_ref().clone().with_nullable(true)))
            .collect();
        phys.push((exprs, Arc::new(Schema::new(nullable))));
    }
    let mut stream = match ctx.execute_logical_plan(scan.clone()).await {
        Ok(df) => match df.execute_stream().await {
            Ok(s) => s,
            Err(e) => return Err(corrupt(table, shown, csv, first_line(&e))),
        },
        Err(_) => return Ok(()),
    };
    let mut offset = 0usize;
    while let Some(batch) = stream.next().await {
        let batch = match batch {
            Ok(b) => b,
            Err(e) => return Err(read_error(&e, table, shown, csv, scan, &levels, cfg, kind)),
        };
        match eval(&phys, &batch) {
            Eval::Ok => {}
            Eval::Stuck => return Ok(()),
            Eval::Failed(..) => {
                // The first failing row: the shortest failing prefix of the batch.
                let (mut lo, mut hi) = (0usize, batch.num_rows());
                while hi - lo > 1 {
                    let mid = (lo + hi) / 2;
                    match eval(&phys, &batch.slice(0, mid)) {
                        Eval::Failed(..) => hi = mid,
                        _ => lo = mid,
                    }
                }
                let Eval::Failed(level, idx) = eval(&phys, &batch.slice(0, hi)) else {
                    return Ok(());
                };
                if hi == 0 {
                    return Ok(());
                }
                let Some(raw) = raw_column(&levels, level, idx) else {
                    return Ok(());
                };
                let row = hi - 1;
                let value = batch
                    .schema()
                    .index_of(&raw)
                    .ok()
                    .and_then(|i| {
                        datafusion::arrow::util::display::array_value_to_string(
                            batch.column(i),
                            row,
                        )
                        .ok()
                    })
                    .unwrap_or_default();
                let location = if csv {
                    format!("line {}", offset + row + 2)
                } else {
                    format!("row {}", offset + row + 1)
                };
                let canonical = canonical_of(&levels, level, idx, &raw);
                return Err(unreadable(
                    table, shown, cfg, kind, &raw, &canonical, value, location,
                ));
            }
        }
        offset += batch.num_rows();
    }
    Ok(())
}

type Level = (Vec<Arc<dyn PhysicalExpr>>, SchemaRef);

enum Eval {
    Ok,
    /// Expression `1` of projection level `0` failed.
    Failed(usize, usize),
    /// The probe itself cannot go on (an unexpected batch shape).
    Stuck,
}

fn eval(levels: &[Level], batch: &RecordBatch) -> Eval {
    let mut b = batch.clone();
    for (l, (exprs, schema)) in levels.iter().enumerate() {
        let mut cols = Vec::with_capacity(exprs.len());
        for (i, e) in exprs.iter().enumerate() {
            match e.evaluate(&b).and_then(|v| v.into_array(b.num_rows())) {
                Ok(a) => cols.push(a),
                Err(_) => return Eval::Failed(l, i),
            }
        }
        let opts = RecordBatchOptions::new().with_row_count(Some(b.num_rows()));
        match RecordBatch::try_new_with_options(schema.clone(), cols, &opts) {
            Ok(next) => b = next,
            Err(_) => return Eval::Stuck,
        }
    }
    Eval::Ok
}

/// The normalizing projections of a loaded table (innermost first) and the scan under them.
pub(crate) fn projections(plan: &LogicalPlan) -> Option<(Vec<&Projection>, &LogicalPlan)> {
    let mut p = plan;
    while !matches!(p, LogicalPlan::Projection(_)) {
        p = *p.inputs().first()?;
    }
    let mut levels = Vec::new();
    while let LogicalPlan::Projection(pr) = p {
        levels.push(pr);
        p = pr.input.as_ref();
    }
    levels.reverse();
    Some((levels, p))
}

/// The file's column an expression of a projection level reads.
pub(crate) fn raw_column(levels: &[&Projection], level: usize, idx: usize) -> Option<String> {
    let e = levels.get(level)?.expr.get(idx)?;
    let mut refs: Vec<_> = e
        .column_refs()
        .into_iter()
        .map(|c| c.name.clone())
        .collect();
    refs.sort();
    let name = refs.into_iter().next()?;
    if level == 0 {
        return Some(name);
    }
    let below = levels[level - 1];
    let j = below
        .schema
        .fields()
        .iter()
        .position(|f| f.name() == &name)?;
    raw_column(levels, level - 1, j)
}

/// The canonical name a file's column is read as (the outermost projection's output).
fn canonical_of(levels: &[&Projection], level: usize, idx: usize, raw: &str) -> String {
    let top = levels.len() - 1;
    if level == top {
        return levels[top].schema.field(idx).name().clone();
    }
    (0..levels[top].expr.len())
        .find(|&i| raw_column(levels, top, i).as_deref() == Some(raw))
        .map(|i| levels[top].schema.field(i).name().clone())
        .unwrap_or_else(|| raw.to_string())
}

#[allow(clippy::too_many_arguments)]
fn unreadable(
    table: &str,
    shown: &str,
    cfg: &TableConfig,
    kind: Kind,
    raw: &str,
    canonical: &str,
    value: String,
    location: String,
) -> RuntimeError {
    let (expected, help) = match role(kind, canonical) {
        "date" => match &cfg.date_format {
            Some(f) => (
                format!("a date in the table's date_format `{f}`"),
                "fix the value, or the table's date_format in segql.toml (chrono syntax: %Y-%m-%d, %d.%m.%Y, %Y%m%d, ...)".to_string(),
            ),
            None => (
                "a date".to_string(),
                format!(
                    "dates are read as YYYY-MM-DD, YYYYMMDD or timestamps like 2024-12-31T10:00:00; for another format set it under [{table}] in segql.toml, e.g. date_format = \"%d/%m/%Y\" (with --transactions: --date-format)"
                ),
            ),
        },
        "amount" | "quantity" | "number" => (
            "a number".to_string(),
            "numbers are written with a dot before the decimals and no thousands separators, e.g. 1234.50; fix the value or remove the row".to_string(),
        ),
        "id" => (
            "a customer id".to_string(),
            "customer ids are text or whole numbers; fix the value or remove the row".to_string(),
        ),
        _ => (
            format!("a value `{canonical}` can hold"),
            "fix the value or remove the row".to_string(),
        ),
    };
    RuntimeError::Unreadable {
        table: table.into(),
        path: shown.into(),
        column: raw.into(),
        canonical: canonical.into(),
        value,
        location,
        expected,
        help,
    }
}

fn first_line(e: &DataFusionError) -> String {
    let s = e.to_string();
    s.lines().next().unwrap_or("").to_string()
}

/// An error of the reader itself (before any conversion of ours): values it could not parse
/// as the type it inferred from the first rows, or a broken file.
#[allow(clippy::too_many_arguments)]
fn read_error(
    e: &DataFusionError,
    table: &str,
    shown: &str,
    csv: bool,
    scan: &LogicalPlan,
    levels: &[&Projection],
    cfg: &TableConfig,
    kind: Kind,
) -> RuntimeError {
    let text = e.to_string();
    // arrow-csv: "Error while parsing value 'X' as type 'T' for column N at line L".
    if csv && let Some(found) = parse_csv_value_error(&text) {
        let (value, column, line) = found;
        if let Some(raw) = scan.schema().fields().get(column).map(|f| f.name().clone()) {
            let top = levels.len().saturating_sub(1);
            let canonical = if levels.is_empty() {
                raw.clone()
            } else {
                (0..levels[top].expr.len())
                    .find(|&i| raw_column(levels, top, i).as_deref() == Some(raw.as_str()))
                    .map(|i| levels[top].schema.field(i).name().clone())
                    .unwrap_or_else(|| raw.clone())
            };
            return unreadable(
                table,
                shown,
                cfg,
                kind,
                &raw,
                &canonical,
                value,
                // The reader counts rows from 1 after the header line.
                format!("line {}", line + 1),
            );
        }
    }
    corrupt(table, shown, csv, first_line(e))
}

fn parse_csv_value_error(text: &str) -> Option<(String, usize, u64)> {
    let rest = &text[text.find("Error while parsing value '")? + 27..];
    let end = rest.find("' as type '")?;
    let value = rest[..end].to_string();
    let rest = &rest[end..];
    let rest = &rest[rest.find("for column ")? + 11..];
    let (col, rest) = rest.split_once(" at line ")?;
    let line: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    Some((value, col.trim().parse().ok()?, line.parse().ok()?))
}
