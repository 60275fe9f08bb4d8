//! Campaigns' frozen audiences. A snapshot is the audience of a campaign on the day it was
//! treated: one Parquet file `SNAPSHOTS/CAMPAIGN/AS_OF.parquet` (`[snapshots] path` in
//! `segql.toml`, `snapshots` by default) with one row per member: `customer_id`, `group`
//! (`test` or `control`), `campaign`, `as_of`, `definition_hash` (what the audience was
//! defined as), `segql_version` and `holdout` (the control share configured, in percent).
//! Snapshots are written once, never replaced (`write`); measurements and the
//! `treated`/`held_out`/`responded` conditions read them, never a segment evaluated again.

use crate::error::RuntimeError;
use crate::output::io_reason;
use crate::project::Project;
use chrono::NaiveDate;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Float64Array, RecordBatch, StringArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::logical_expr::{cast as cast_expr, ident};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use segql_compiler::catalog::SnapshotTable;
use segql_compiler::ir::Segment;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The snapshot directory when `segql.toml` names none.
pub const DEFAULT_DIR: &str = "snapshots";

/// A snapshot's file.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotFile {
    /// The campaign (the directory's name).
    pub campaign: String,
    /// The date (the file's name).
    pub as_of: NaiveDate,
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
}

/// What a snapshot holds, read from its rows.
#[derive(Debug, Clone)]
pub struct SnapshotInfo {
    /// The file.
    pub file: SnapshotFile,
    /// Members in the test group.
    pub test: u64,
    /// Members in the control group.
    pub control: u64,
    /// The definition's hash (`imported:...` for audiences sent by another system).
    pub definition_hash: String,
    /// The segql version that wrote it.
    pub segql_version: String,
    /// The control share configured, in percent, when known.
    pub holdout: Option<f64>,
    /// Each member's group.
    pub members: Vec<(String, bool)>,
}

impl SnapshotInfo {
    /// Members of both groups.
    pub fn members(&self) -> u64 {
        self.test + self.control
    }
}

/// The project's snapshot directory: `[snapshots] path`, else `snapshots` beside
/// `segql.toml`; `None` for a project made of command-line flags.
pub fn dir(project: &Project) -> Option<PathBuf> {
    let configured = project
        .file
        .snapshots
        .as_ref()
        .and_then(|s| s.get_ref().path.as_ref())
        .map(|p| p.get_ref().clone());
    match configured {
        Some(p) => Some(project.dir.join(p)),
        None if project.source.is_some() => Some(project.dir.join(DEFAULT_DIR)),
        None => None,
    }
}

/// A campaign's name as a directory: the names segment files give (letters, digits, `_`).
fn valid_campaign(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Every snapshot in the project's directory, by campaign and date. Other files (temporary
/// files of a write in progress, notes) are left alone.
pub fn list(project: &Project) -> Result<Vec<SnapshotFile>, RuntimeError> {
    let Some(root) = dir(project) else {
        return Ok(Vec::new());
    };
    let io = |p: &Path, e: std::io::Error| RuntimeError::Io {
        path: p.display().to_string(),
        reason: io_reason(&e),
    };
    let entries = match std::fs::read_dir(&root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(&root, e)),
    };
    let mut out = Vec::new();
    for campaign in entries {
        let campaign = campaign.map_err(|e| io(&root, e))?;
        let name = campaign.file_name().to_string_lossy().to_string();
        if !valid_campaign(&name) || !campaign.path().is_dir() {
            continue;
        }
        for f in std::fs::read_dir(campaign.path()).map_err(|e| io(&campaign.path(), e))? {
            let f = f.map_err(|e| io(&campaign.path(), e))?;
            let file_name = f.file_name().to_string_lossy().to_string();
            let Some(date) = file_name.strip_suffix(".parquet") else {
                continue;
            };
            let Ok(as_of) = NaiveDate::parse_from_str(date, "%Y-%m-%d") else {
                continue;
            };
            let meta = f.metadata().map_err(|e| io(&f.path(), e))?;
            out.push(SnapshotFile {
                campaign: name.clone(),
                as_of,
                path: f.path(),
                bytes: meta.len(),
            });
        }
    }
    out.sort_by(|a, b| (&a.campaign, a.as_of).cmp(&(&b.campaign, b.as_of)));
    Ok(out)
}

/// The snapshots as the compiler reads them: `customer_id` in the transactions' id type and
/// `group`. Their columns are given, not read from the files, so opening a project reads no
/// snapshot: a scan reads only the snapshots a condition or a measurement asks for.
pub async fn tables(
    ctx: &SessionContext,
    files: &[SnapshotFile],
    id_type: &DataType,
) -> Result<Vec<SnapshotTable>, RuntimeError> {
    let columns = Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, true),
        Field::new("group", DataType::Utf8, true),
    ]);
    let mut out = Vec::new();
    for f in files {
        let path = f.path.display().to_string();
        let plan = ctx
            .read_parquet(&path, ParquetReadOptions::default().schema(&columns))
            .await
            .and_then(|df| {
                df.select(vec![
                    cast_expr(ident("customer_id"), id_type.clone()).alias("customer_id"),
                    ident("group"),
                ])
            })
            .map_err(|e| RuntimeError::BadSnapshot {
                path: path.clone(),
                message: e.to_string(),
            })?
            .into_unoptimized_plan();
        out.push(SnapshotTable {
            campaign: f.campaign.clone(),
            as_of: f.as_of,
            plan,
        });
    }
    Ok(out)
}

/// A string column of `batch` as text, whatever its string type.
fn text_column(batch: &RecordBatch, name: &str) -> Option<StringArray> {
    let col = batch.column_by_name(name)?;
    let col = cast(col, &DataType::Utf8).ok()?;
    col.as_any().downcast_ref::<StringArray>().cloned()
}

/// Reads a snapshot's rows and what they say about it.
pub fn info(file: &SnapshotFile) -> Result<SnapshotInfo, RuntimeError> {
    let path = file.path.display().to_string();
    let bad = |message: String| RuntimeError::BadSnapshot {
        path: path.clone(),
        message,
    };
    let f = std::fs::File::open(&file.path).map_err(|e| RuntimeError::Io {
        path: path.clone(),
        reason: io_reason(&e),
    })?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(f)
        .and_then(|b| b.build())
        .map_err(|e| bad(e.to_string()))?;
    let mut info = SnapshotInfo {
        file: file.clone(),
        test: 0,
        control: 0,
        definition_hash: String::new(),
        segql_version: String::new(),
        holdout: None,
        members: Vec::new(),
    };
    let mut seen = std::collections::HashSet::new();
    for batch in reader {
        let batch = batch.map_err(|e| bad(e.to_string()))?;
        let ids = text_column(&batch, "customer_id")
            .ok_or_else(|| bad("it has no `customer_id` column".into()))?;
        let groups =
            text_column(&batch, "group").ok_or_else(|| bad("it has no `group` column".into()))?;
        if let Some(h) = text_column(&batch, "definition_hash")
            && !h.is_empty()
            && h.is_valid(0)
        {
            info.definition_hash = h.value(0).to_string();
        }
        if let Some(v) = text_column(&batch, "segql_version")
            && !v.is_empty()
            && v.is_valid(0)
        {
            info.segql_version = v.value(0).to_string();
        }
        if let Some(h) = batch.column_by_name("holdout")
            && let Some(h) = h.as_any().downcast_ref::<Float64Array>()
            && !h.is_empty()
            && h.is_valid(0)
        {
            info.holdout = Some(h.value(0));
        }
        for i in 0..batch.num_rows() {
            if !ids.is_valid(i) || ids.value(i).is_empty() {
                return Err(bad(format!(
                    "row {} has no customer id",
                    info.members.len() + 1
                )));
            }
            let id = ids.value(i);
            let test = match groups.is_valid(i).then(|| groups.value(i)) {
                Some("test") => true,
                Some("control") => false,
                other => {
                    return Err(bad(format!(
                        "customer {id} is in group {:?}; a group is `test` or `control`",
                        other.unwrap_or("")
                    )));
                }
            };
            if !seen.insert(id.to_string()) {
                return Err(bad(format!("customer {id} appears twice")));
            }
            if test {
                info.test += 1;
            } else {
                info.control += 1;
            }
            info.members.push((id.to_string(), test));
        }
    }
    Ok(info)
}

/// The hash of what a campaign's audience is: its condition with references inlined, its
/// holdout and its cap (not its response, which may be settled after the send). The first
/// 16 hex digits of a SHA-256.
pub fn definition_hash(seg: &Segment) -> String {
    use sha2::{Digest, Sha256};
    let (holdout, limit) = match &seg.campaign {
        Some(c) => (c.holdout_bp, format!("{:?}", c.limit)),
        None => (0, "None".into()),
    };
    let text = format!("{}\n{:?}\n{holdout}\n{limit}", seg.name, seg.pred);
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// What a new snapshot records besides its members.
#[derive(Debug, Clone)]
pub struct NewSnapshot {
    /// The campaign.
    pub campaign: String,
    /// The date of the audience.
    pub as_of: NaiveDate,
    /// [`definition_hash`], or `imported:...`.
    pub definition_hash: String,
    /// The control share configured, in percent (`None` when unknown).
    pub holdout: Option<f64>,
}

/// A snapshot just written.
#[derive(Debug, Clone)]
pub struct Written {
    /// Its file.
    pub path: PathBuf,
    /// Members in the test group.
    pub test: u64,
    /// Members in the control group.
    pub control: u64,
}

/// Writes a snapshot of `members` (`customer_id` of any type, `group`), never over an
/// existing one: the file is written beside its place and linked there only if nothing is
/// there.
pub fn write(
    project: &Project,
    new: &NewSnapshot,
    members: &[RecordBatch],
) -> Result<Written, RuntimeError> {
    let Some(root) = dir(project) else {
        return Err(RuntimeError::Usage {
            message: "snapshots need a project directory".into(),
            help: Some("run with --project DIR (a directory with segql.toml)".into()),
        });
    };
    if !valid_campaign(&new.campaign) {
        return Err(RuntimeError::Usage {
            message: format!(
                "`{}` cannot name a snapshot directory: use letters, digits and `_`",
                new.campaign
            ),
            help: None,
        });
    }
    let folder = root.join(&new.campaign);
    let target = folder.join(format!("{}.parquet", new.as_of));
    let io = |p: &Path, e: std::io::Error| RuntimeError::Io {
        path: p.display().to_string(),
        reason: io_reason(&e),
    };
    if target.exists() {
        return Err(exists(new, &target));
    }
    std::fs::create_dir_all(&folder).map_err(|e| io(&folder, e))?;
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("group", DataType::Utf8, false),
        Field::new("campaign", DataType::Utf8, false),
        Field::new("as_of", DataType::Date32, false),
        Field::new("definition_hash", DataType::Utf8, false),
        Field::new("segql_version", DataType::Utf8, false),
        Field::new("holdout", DataType::Float64, true),
    ]));
    let mut tmp = tempfile::Builder::new()
        .prefix(".snapshot-")
        .suffix(".tmp")
        .tempfile_in(&folder)
        .map_err(|e| io(&folder, e))?;
    let as_of_days = (new.as_of - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days();
    let (mut test, mut control) = (0, 0);
    {
        let mut writer =
            ArrowWriter::try_new(tmp.as_file_mut(), schema.clone(), None).map_err(|e| {
                RuntimeError::Io {
                    path: target.display().to_string(),
                    reason: e.to_string(),
                }
            })?;
        for b in members {
            let n = b.num_rows();
            if n == 0 {
                continue;
            }
            let id = cast(b.column(0), &DataType::Utf8).map_err(|e| RuntimeError::Io {
                path: target.display().to_string(),
                reason: e.to_string(),
            })?;
            let group = cast(b.column(1), &DataType::Utf8).map_err(|e| RuntimeError::Io {
                path: target.display().to_string(),
                reason: e.to_string(),
            })?;
            for g in group.as_string::<i32>().iter() {
                match g {
                    Some("test") => test += 1,
                    _ => control += 1,
                }
            }
            let cols: Vec<ArrayRef> = vec![
                id,
                group,
                Arc::new(StringArray::from(vec![new.campaign.as_str(); n])),
                Arc::new(Date32Array::from(vec![as_of_days as i32; n])),
                Arc::new(StringArray::from(vec![new.definition_hash.as_str(); n])),
                Arc::new(StringArray::from(vec![env!("CARGO_PKG_VERSION"); n])),
                Arc::new(Float64Array::from(vec![new.holdout; n])),
            ];
            let batch =
                RecordBatch::try_new(schema.clone(), cols).map_err(|e| RuntimeError::Io {
                    path: target.display().to_string(),
                    reason: e.to_string(),
                })?;
            writer.write(&batch).map_err(|e| RuntimeError::Io {
                path: target.display().to_string(),
                reason: e.to_string(),
            })?;
        }
        writer.close().map_err(|e| RuntimeError::Io {
            path: target.display().to_string(),
            reason: e.to_string(),
        })?;
    }
    tmp.as_file().sync_all().map_err(|e| io(&target, e))?;
    match tmp.persist_noclobber(&target) {
        Ok(_) => Ok(Written {
            path: target,
            test,
            control,
        }),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Err(exists(new, &target)),
        Err(e) => Err(io(&target, e.error)),
    }
}

/// The error for a snapshot that exists: the same definition, or another (both hashes).
fn exists(new: &NewSnapshot, target: &Path) -> RuntimeError {
    let theirs = SnapshotFile {
        campaign: new.campaign.clone(),
        as_of: new.as_of,
        path: target.to_path_buf(),
        bytes: 0,
    };
    let help = match info(&theirs) {
        Ok(i) if i.definition_hash == new.definition_hash => format!(
            "it was taken with the same definition (hash {}); nothing was written. A snapshot is never replaced: the audience that got the offer is the one to measure",
            i.definition_hash
        ),
        Ok(i) => format!(
            "it was taken with another definition: hash {} in the file, {} now. A snapshot is never replaced; take the new audience under another campaign name or date",
            i.definition_hash, new.definition_hash
        ),
        Err(_) => {
            "its file cannot be read; nothing was written. Move it away to take the snapshot again"
                .into()
        }
    };
    RuntimeError::SnapshotExists {
        campaign: new.campaign.clone(),
        as_of: new.as_of.to_string(),
        path: target.display().to_string(),
        help,
    }
}

/// The snapshots of `campaign`, by date.
pub fn of_campaign(project: &Project, campaign: &str) -> Result<Vec<SnapshotFile>, RuntimeError> {
    Ok(list(project)?
        .into_iter()
        .filter(|f| f.campaign == campaign)
        .collect())
}

/// Customers and groups from a CSV file with a header: `customer_id` (or `id`) and `group`
/// (`test`/`control`; `treatment` and `holdout` are read as the same). Without a `group`
/// column every row is `default_group`.
pub fn read_audience_csv(
    path: &Path,
    default_group: Option<&str>,
) -> Result<BTreeMap<String, String>, RuntimeError> {
    let shown = path.display().to_string();
    let bad = |message: String| RuntimeError::BadSnapshot {
        path: shown.clone(),
        message,
    };
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_path(path)
        .map_err(|e| RuntimeError::Io {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
    let headers = reader.headers().map_err(|e| bad(e.to_string()))?.clone();
    let find = |names: &[&str]| {
        headers
            .iter()
            .position(|h| names.contains(&h.trim().to_lowercase().as_str()))
    };
    let id_col = find(&["customer_id", "id", "customer"])
        .ok_or_else(|| bad("it has no `customer_id` column".into()))?;
    let group_col = find(&["group"]);
    if group_col.is_none() && default_group.is_none() {
        return Err(bad("it has no `group` column (test or control)".into()));
    }
    let mut out = BTreeMap::new();
    for (i, row) in reader.records().enumerate() {
        let row = row.map_err(|e| bad(e.to_string()))?;
        let line = i + 2;
        let id = row.get(id_col).unwrap_or("").trim();
        if id.is_empty() {
            return Err(bad(format!("line {line} has no customer id")));
        }
        let group = match group_col {
            Some(g) => match row.get(g).unwrap_or("").trim().to_lowercase().as_str() {
                "test" | "treatment" => "test",
                "control" | "holdout" => "control",
                other => {
                    return Err(bad(format!(
                        "line {line}: group {other:?} is neither `test` nor `control`"
                    )));
                }
            },
            None => default_group.unwrap_or("test"),
        };
        if let Some(before) = out.insert(id.to_string(), group.to_string())
            && before != group
        {
            return Err(bad(format!(
                "customer {id} is in both groups (line {line})"
            )));
        }
    }
    Ok(out)
}

/// Members as a batch of `customer_id`, `group`.
pub fn members_batch(members: &BTreeMap<String, String>) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("group", DataType::Utf8, false),
    ]));
    let ids = StringArray::from_iter_values(members.keys());
    let groups = StringArray::from_iter_values(members.values());
    RecordBatch::try_new(schema, vec![Arc::new(ids), Arc::new(groups)])
        .expect("two text columns of one length")
}
