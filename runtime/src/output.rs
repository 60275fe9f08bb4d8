//! Writers: table, CSV, JSON and Parquet, to standard output or atomically to a file (written
//! beside the target and renamed into place only when complete).

use crate::error::RuntimeError;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;
use std::io::Write;
use std::path::Path;

/// The operating system's reason for an I/O error, without the paths some wrappers add.
pub fn io_reason(e: &std::io::Error) -> String {
    if let Some(code) = e.raw_os_error() {
        return std::io::Error::from_raw_os_error(code).to_string();
    }
    // tempfile wraps the system's error in one that names the temporary file.
    let inner = e
        .get_ref()
        .and_then(|i| i.source())
        .and_then(|s| s.downcast_ref::<std::io::Error>());
    match inner {
        Some(i) => io_reason(i),
        None if e.kind() == std::io::ErrorKind::Other => e.to_string(),
        None => e.kind().to_string(),
    }
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// An aligned text table.
    Table,
    /// CSV with a header row.
    Csv,
    /// A JSON array of objects.
    Json,
    /// Apache Parquet.
    Parquet,
    /// An Excel workbook: one sheet, a header row, typed cells (numbers, money, dates).
    Xlsx,
}

/// The file extensions segql writes, for messages.
pub const EXTENSIONS: &str = ".csv, .json, .parquet, .xlsx or .txt (a text table)";

impl Format {
    /// Guesses a format from a file name.
    pub fn from_path(p: &Path) -> Option<Format> {
        let ext = p.extension()?.to_string_lossy().to_lowercase();
        match ext.as_str() {
            "csv" => Some(Format::Csv),
            "json" => Some(Format::Json),
            "parquet" | "pq" => Some(Format::Parquet),
            "xlsx" => Some(Format::Xlsx),
            "txt" => Some(Format::Table),
            _ => None,
        }
    }
}

/// An error writing `path`, shown as the target (an I/O error of a temporary file carries its
/// name: only the operating system's reason is kept). On standard output, a reader that went
/// away (`segql run ... | head`) is not an error of ours; on a pipe named by `--output` (a
/// loader that died) it is.
fn io_err(path: &str, e: impl std::fmt::Display + 'static) -> RuntimeError {
    let any: &dyn std::any::Any = &e;
    let reason = match any.downcast_ref::<std::io::Error>() {
        Some(io) => io_reason(io),
        None => e.to_string(),
    };
    if path == STDOUT && reason.contains("Broken pipe") {
        return RuntimeError::OutputClosed;
    }
    RuntimeError::Io {
        path: path.to_string(),
        reason,
    }
}

/// How standard output is named in messages.
const STDOUT: &str = "standard output";

/// Writes a stream of batches in `format` to `dest` (standard output when `None` or `-`);
/// returns the number of rows written. See [`OutputFile`] for how a file is written.
pub async fn write_stream(
    mut stream: SendableRecordBatchStream,
    format: Format,
    dest: Option<&Path>,
) -> Result<u64, RuntimeError> {
    let schema = stream.schema();
    let mut sink = OutputFile::open(dest)?;
    let name = sink.name().to_string();
    if matches!(format, Format::Parquet | Format::Xlsx) && sink.is_terminal() {
        let (what, ext) = match format {
            Format::Xlsx => ("Excel", "xlsx"),
            _ => ("Parquet", "parquet"),
        };
        return Err(RuntimeError::Usage {
            message: format!("{what} output cannot go to a terminal"),
            help: Some(format!(
                "add --output FILE.{ext}, or pipe it to a program that reads it"
            )),
        });
    }
    let mut rows = 0u64;
    match format {
        Format::Table => {
            let mut all: Vec<RecordBatch> = Vec::new();
            while let Some(b) = stream.next().await {
                let b = b.map_err(|e| RuntimeError::data("running the query", e))?;
                rows += b.num_rows() as u64;
                all.push(b);
            }
            let shown = for_people(&schema, &all).map_err(|e| io_err(&name, e))?;
            let text = pretty_format_batches(&[shown]).map_err(|e| io_err(&name, e))?;
            writeln!(sink, "{text}").map_err(|e| io_err(&name, e))?;
        }
        Format::Csv => {
            let mut w = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .with_date_format("%Y-%m-%d".into())
                .build(&mut sink);
            let mut wrote = false;
            while let Some(b) = stream.next().await {
                let b = b.map_err(|e| RuntimeError::data("running the query", e))?;
                rows += b.num_rows() as u64;
                w.write(&b).map_err(|e| io_err(&name, e))?;
                wrote = true;
            }
            if !wrote {
                w.write(&RecordBatch::new_empty(schema.clone()))
                    .map_err(|e| io_err(&name, e))?;
            }
        }
        Format::Json => {
            let mut w = datafusion::arrow::json::ArrayWriter::new(&mut sink);
            while let Some(b) = stream.next().await {
                let b = b.map_err(|e| RuntimeError::data("running the query", e))?;
                rows += b.num_rows() as u64;
                w.write(&b).map_err(|e| io_err(&name, e))?;
            }
            w.finish().map_err(|e| io_err(&name, e))?;
            drop(w);
            writeln!(sink).map_err(|e| io_err(&name, e))?;
        }
        Format::Xlsx => {
            let mut all: Vec<RecordBatch> = Vec::new();
            while let Some(b) = stream.next().await {
                let b = b.map_err(|e| RuntimeError::data("running the query", e))?;
                rows += b.num_rows() as u64;
                if rows > XLSX_MAX_ROWS as u64 {
                    return Err(RuntimeError::Io {
                        path: name,
                        reason: format!(
                            "more than {XLSX_MAX_ROWS} rows do not fit one Excel sheet: write .csv or .parquet"
                        ),
                    });
                }
                all.push(b);
            }
            let bytes = xlsx(&schema, &all).map_err(|e| RuntimeError::Io {
                path: name.clone(),
                reason: e,
            })?;
            sink.write_all(&bytes).map_err(|e| io_err(&name, e))?;
        }
        Format::Parquet => {
            let mut w =
                datafusion::parquet::arrow::ArrowWriter::try_new(&mut sink, schema.clone(), None)
                    .map_err(|e| io_err(&name, e))?;
            while let Some(b) = stream.next().await {
                let b = b.map_err(|e| RuntimeError::data("running the query", e))?;
                rows += b.num_rows() as u64;
                w.write(&b).map_err(|e| io_err(&name, e))?;
            }
            w.close().map_err(|e| io_err(&name, e))?;
        }
    }
    sink.commit()?;
    Ok(rows)
}

/// True for a column of identifiers (`customer_id`, `receipt_id`, ...), shown as written,
/// never with thousands separators.
fn is_id_column(name: &str) -> bool {
    name == "id" || name.ends_with("_id")
}

/// The most data rows one Excel sheet holds (below its header row).
const XLSX_MAX_ROWS: usize = 1_048_575;

/// One workbook of one sheet: a bold, frozen header row, then a row per result row; text as
/// text, whole numbers with thousands separators, decimals (money) with their places, dates
/// as dates, true/false as booleans.
fn xlsx(
    schema: &datafusion::arrow::datatypes::SchemaRef,
    batches: &[RecordBatch],
) -> Result<Vec<u8>, String> {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::{DataType, Date32Type, Float64Type};
    use rust_xlsxwriter::{ExcelDateTime, Format as Cell, Workbook};
    let err = |e: rust_xlsxwriter::XlsxError| e.to_string();
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    let header = Cell::new().set_bold();
    let date = Cell::new().set_num_format("yyyy-mm-dd");
    for (c, f) in schema.fields().iter().enumerate() {
        ws.write_string_with_format(0, c as u16, f.name(), &header)
            .map_err(err)?;
    }
    ws.set_freeze_panes(1, 0).map_err(err)?;
    // How each column is written, decided once from its type: numbers (not ids) with
    // thousands separators and, for decimals (money), their places.
    let number_formats: Vec<Option<Cell>> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            _ if is_id_column(f.name()) => None,
            DataType::Decimal128(_, s) | DataType::Decimal256(_, s) if *s > 0 => {
                Some(Cell::new().set_num_format(format!("#,##0.{}", "0".repeat(*s as usize))))
            }
            t if t.is_integer() || t.is_numeric() && !t.is_floating() => {
                Some(Cell::new().set_num_format("#,##0"))
            }
            t if t.is_floating() => Some(Cell::new()),
            _ => None,
        })
        .collect();
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    let mut row = 1u32;
    for b in batches {
        for (c, col) in b.columns().iter().enumerate() {
            let c16 = c as u16;
            let rows = (0..col.len()).filter(|i| col.is_valid(*i));
            match (col.data_type(), &number_formats[c]) {
                (DataType::Boolean, _) => {
                    for i in rows {
                        ws.write_boolean(row + i as u32, c16, col.as_boolean().value(i))
                            .map_err(err)?;
                    }
                }
                (DataType::Date32, _) => {
                    for i in rows {
                        let days = col.as_primitive::<Date32Type>().value(i);
                        let d = epoch + chrono::Duration::days(days.into());
                        use chrono::Datelike;
                        let cell = u16::try_from(d.year()).ok().and_then(|y| {
                            ExcelDateTime::from_ymd(y, d.month() as u8, d.day() as u8).ok()
                        });
                        match cell {
                            Some(x) => {
                                ws.write_datetime_with_format(row + i as u32, c16, &x, &date)
                            }
                            None => ws.write_string(row + i as u32, c16, d.to_string()),
                        }
                        .map_err(err)?;
                    }
                }
                (_, Some(format)) => {
                    let floats = datafusion::arrow::compute::cast(col, &DataType::Float64)
                        .map_err(|e| e.to_string())?;
                    let floats = floats.as_primitive::<Float64Type>();
                    for i in rows {
                        ws.write_number_with_format(row + i as u32, c16, floats.value(i), format)
                            .map_err(err)?;
                    }
                }
                (_, None) => {
                    let text = datafusion::arrow::compute::cast(col, &DataType::Utf8)
                        .map_err(|e| e.to_string())?;
                    let text = text.as_string::<i32>();
                    for i in rows {
                        ws.write_string(row + i as u32, c16, text.value(i))
                            .map_err(err)?;
                    }
                }
            }
        }
        row += b.num_rows() as u32;
    }
    if row <= 10_001 {
        ws.autofit();
    }
    wb.save_to_buffer().map_err(err)
}

/// Digits grouped by thousands (`-1234567.50` -> `-1,234,567.50`), for tables people read.
pub fn thousands(digits: &str) -> String {
    let (sign, rest) = match digits.strip_prefix('-') {
        Some(r) => ("-", r),
        None => ("", digits),
    };
    let (int, frac) = match rest.find('.') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if !int.chars().all(|c| c.is_ascii_digit()) {
        return digits.to_string();
    }
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{sign}{out}{frac}")
}

/// The most decimals a floating-point column is padded to in a table for people.
pub const MAX_TABLE_DECIMALS: usize = 6;

/// Floating-point numbers of one column written with as many decimals as the longest of
/// them (at most [`MAX_TABLE_DECIMALS`]), so the column reads alike: `1,363.40` under
/// `1,336.88`, not `1,363.4`. Text that is not plain digits (`NaN`, `inf`, `1e-7`) is left
/// as it is.
fn same_decimals(values: &mut [Option<String>]) {
    let plain = |v: &str| {
        let v = v.strip_prefix('-').unwrap_or(v);
        !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.')
    };
    let decimals = |v: &str| v.find('.').map_or(0, |i| v.len() - i - 1);
    let most = values
        .iter()
        .flatten()
        .filter(|v| plain(v))
        .map(|v| decimals(v))
        .max()
        .unwrap_or(0);
    if most == 0 || most > MAX_TABLE_DECIMALS {
        return;
    }
    for v in values.iter_mut().flatten() {
        if plain(v) {
            let have = decimals(v);
            if !v.contains('.') {
                v.push('.');
            }
            v.extend(std::iter::repeat_n('0', most - have));
        }
    }
}

/// Batches of `schema` as one table for people shows it: numbers (not ids) with thousands
/// separators, a floating-point column with the same decimals throughout.
pub fn for_people(
    schema: &datafusion::arrow::datatypes::SchemaRef,
    batches: &[RecordBatch],
) -> Result<RecordBatch, datafusion::arrow::error::ArrowError> {
    use datafusion::arrow::array::{Array, ArrayRef, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
    let batch = datafusion::arrow::compute::concat_batches(schema, batches)?;
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (f, col) in schema.fields().iter().zip(batch.columns()) {
        let is_id = is_id_column(f.name());
        let numeric = matches!(
            f.data_type(),
            DataType::Decimal128(..) | DataType::Decimal256(..)
        ) || f.data_type().is_integer()
            || f.data_type().is_floating();
        if is_id || !numeric {
            fields.push(f.as_ref().clone());
            columns.push(col.clone());
            continue;
        }
        let fmt = ArrayFormatter::try_new(col.as_ref(), &FormatOptions::default())?;
        let mut values: Vec<Option<String>> = (0..col.len())
            .map(|i| col.is_valid(i).then(|| fmt.value(i).to_string()))
            .collect();
        if f.data_type().is_floating() {
            same_decimals(&mut values);
        }
        let text: StringArray = values
            .into_iter()
            .map(|v| v.map(|v| thousands(&v)))
            .collect();
        fields.push(Field::new(f.name(), DataType::Utf8, true));
        columns.push(std::sync::Arc::new(text));
    }
    RecordBatch::try_new(std::sync::Arc::new(Schema::new(fields)), columns)
}

/// Where output goes, decided by what the destination is:
/// - nothing or `-`: standard output;
/// - a pipe, a device, a socket (or a link to one): written in place, never replaced;
/// - a regular file, or a path that does not exist yet: an [`AtomicFile`] (a link to a
///   regular file is followed, and the file it names is replaced; the link stays).
pub enum OutputFile {
    /// Standard output.
    Stdout(std::io::BufWriter<std::io::Stdout>),
    /// A file that is not a regular file, streamed into as it is.
    Special {
        /// The destination as given.
        name: String,
        /// The open file.
        file: std::io::BufWriter<std::fs::File>,
    },
    /// A regular file, written beside its target and renamed into place.
    Atomic(AtomicFile),
}

impl OutputFile {
    /// Opens the destination `dest` (standard output for `None` or `-`).
    pub fn open(dest: Option<&Path>) -> Result<OutputFile, RuntimeError> {
        let Some(p) = dest.filter(|p| p.as_os_str() != "-") else {
            return Ok(OutputFile::Stdout(std::io::BufWriter::new(
                std::io::stdout(),
            )));
        };
        let shown = p.display().to_string();
        if crate::stores::is_url(&shown) {
            return Err(RuntimeError::Usage {
                message: format!(
                    "`{shown}` is an object-store URL: segql writes its outputs to local files only"
                ),
                help: Some(
                    "write a local file, then copy it to the store (e.g. `aws s3 cp`, `gcloud storage cp`)"
                        .into(),
                ),
            });
        }
        if let Some(fd) = descriptor(p) {
            // `/dev/stdout`, `/dev/fd/N`, `/proc/self/fd/N`: the descriptor the shell opened
            // (a redirect to a file, maybe appending), never the file behind it replaced.
            if fd == 1 {
                return Ok(OutputFile::Stdout(std::io::BufWriter::new(
                    std::io::stdout(),
                )));
            }
            let file = std::fs::OpenOptions::new()
                .append(true)
                .open(p)
                .map_err(|e| io_err(&shown, e))?;
            return Ok(OutputFile::Special {
                name: shown,
                file: std::io::BufWriter::new(file),
            });
        }
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => Err(RuntimeError::Io {
                path: shown,
                reason: "is a directory; give a file name".into(),
            }),
            Ok(m) if is_block_device(&m) => Err(RuntimeError::Io {
                path: shown,
                reason: "is a block device (a disk): segql writes files, pipes and character devices only".into(),
            }),
            Ok(m) if !m.is_file() => {
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .open(p)
                    .map_err(|e| io_err(&shown, e))?;
                Ok(OutputFile::Special {
                    name: shown,
                    file: std::io::BufWriter::new(file),
                })
            }
            _ => Ok(OutputFile::Atomic(AtomicFile::create(p)?)),
        }
    }

    /// The destination as shown in messages.
    pub fn name(&self) -> &str {
        match self {
            OutputFile::Stdout(_) => STDOUT,
            OutputFile::Special { name, .. } => name,
            OutputFile::Atomic(f) => &f.shown,
        }
    }

    /// True when writing to standard output.
    pub fn is_stdout(&self) -> bool {
        matches!(self, OutputFile::Stdout(_))
    }

    /// True when the output is a terminal (no place for binary formats).
    pub fn is_terminal(&self) -> bool {
        use std::io::IsTerminal;
        match self {
            OutputFile::Stdout(s) => s.get_ref().is_terminal(),
            OutputFile::Special { file, .. } => file.get_ref().is_terminal(),
            OutputFile::Atomic(_) => false,
        }
    }

    /// Completes the output: flushes it and, for a regular file, renames it into place.
    pub fn commit(self) -> Result<(), RuntimeError> {
        let name = self.name().to_string();
        match self {
            OutputFile::Stdout(mut s) => s.flush().map_err(|e| io_err(&name, e)),
            OutputFile::Special { mut file, .. } => file.flush().map_err(|e| io_err(&name, e)),
            OutputFile::Atomic(f) => f.commit().map_err(|e| io_err(&name, e)),
        }
    }
}

impl Write for OutputFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            OutputFile::Stdout(s) => s.write(buf),
            OutputFile::Special { file, .. } => file.write(buf),
            OutputFile::Atomic(f) => f.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            OutputFile::Stdout(s) => s.flush(),
            OutputFile::Special { file, .. } => file.flush(),
            OutputFile::Atomic(f) => f.flush(),
        }
    }
}

/// Writes `text` to `dest` as [`OutputFile`] does (standard output for `None` or `-`).
pub fn write_text(dest: Option<&Path>, text: &str) -> Result<(), RuntimeError> {
    let mut out = OutputFile::open(dest)?;
    let name = out.name().to_string();
    out.write_all(text.as_bytes())
        .map_err(|e| io_err(&name, e))?;
    out.commit()
}

/// A regular file written to a temporary name beside the target and renamed into place by
/// [`AtomicFile::commit`]; dropped without a commit (an error, an interruption), it is removed
/// and the target is left as it was. A link to a regular file is followed: the file it names
/// is replaced in its own directory, and the link stays. Errors name the target as given,
/// never the temporary file.
pub struct AtomicFile {
    tmp: Option<tempfile::NamedTempFile>,
    /// The file replaced: the target with its links followed.
    target: std::path::PathBuf,
    /// The target as given, for messages.
    shown: String,
}

impl AtomicFile {
    /// Starts writing `target`, which must be a regular file or not exist.
    pub fn create(target: &Path) -> Result<AtomicFile, RuntimeError> {
        let shown = target.display().to_string();
        let real = match std::fs::symlink_metadata(target) {
            Ok(m) if m.file_type().is_symlink() => match std::fs::metadata(target) {
                Ok(m) if m.is_file() => {
                    std::fs::canonicalize(target).map_err(|e| io_err(&shown, e))?
                }
                Ok(_) => {
                    return Err(RuntimeError::Io {
                        path: shown,
                        reason: "is a link to something that is not a regular file".into(),
                    });
                }
                Err(_) => {
                    return Err(RuntimeError::Io {
                        path: shown,
                        reason: "is a link to a file that does not exist; name the file itself"
                            .into(),
                    });
                }
            },
            Ok(m) if !m.is_file() => {
                return Err(RuntimeError::Io {
                    path: shown,
                    reason: "is not a regular file".into(),
                });
            }
            _ => target.to_path_buf(),
        };
        if std::fs::metadata(&real).is_ok_and(|m| m.permissions().readonly()) {
            return Err(RuntimeError::Io {
                path: shown,
                reason: "is read-only: segql does not replace it".into(),
            });
        }
        let dir = match real.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        if !dir.is_dir() {
            let given = target
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(&dir);
            return Err(RuntimeError::Io {
                path: shown,
                reason: if dir.exists() {
                    format!("`{}` is not a directory", given.display())
                } else {
                    format!("the directory `{}` does not exist", given.display())
                },
            });
        }
        let tmp = tempfile::Builder::new()
            .prefix(".segql-")
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(|e| io_err(&shown, e))?;
        Ok(AtomicFile {
            tmp: Some(tmp),
            target: real,
            shown,
        })
    }

    /// Completes the file: flushes and renames it into place.
    pub fn commit(mut self) -> std::io::Result<()> {
        if let Some(mut t) = self.tmp.take() {
            t.as_file_mut().flush()?;
            // Temporary files are private; the result gets the permissions of the file it
            // replaces, or ordinary ones.
            let perms = match std::fs::metadata(&self.target) {
                Ok(m) => m.permissions(),
                Err(_) => default_permissions(),
            };
            t.as_file().set_permissions(perms)?;
            t.as_file().sync_all()?;
            t.persist(&self.target).map_err(|e| e.error)?;
        }
        Ok(())
    }
}

// Through the raw file: the temporary file's own writer names its path in every error.
impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.tmp {
            Some(t) => t.as_file_mut().write(buf),
            None => Err(std::io::Error::other("file already committed")),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.tmp {
            Some(t) => t.as_file_mut().flush(),
            None => Ok(()),
        }
    }
}

/// The descriptor a path names when it is (or links through) `/dev/stdout`, `/dev/stderr`,
/// `/dev/fd/N` or `/proc/PID/fd/N`.
fn descriptor(p: &Path) -> Option<u32> {
    let mut cur = std::path::absolute(p).ok()?;
    for _ in 0..40 {
        let text = cur.to_string_lossy().to_string();
        match text.as_str() {
            "/dev/stdin" => return Some(0),
            "/dev/stdout" => return Some(1),
            "/dev/stderr" => return Some(2),
            _ => {}
        }
        let parts: Vec<&str> = text.trim_start_matches('/').split('/').collect();
        let fd = match parts.as_slice() {
            ["dev", "fd", n] => n.parse().ok(),
            ["proc", _, "fd", n] => n.parse().ok(),
            _ => None,
        };
        if fd.is_some() {
            return fd;
        }
        let target = std::fs::read_link(&cur).ok()?;
        cur = match cur.parent() {
            Some(dir) => dir.join(target),
            None => target,
        };
    }
    None
}

#[cfg(unix)]
fn is_block_device(m: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt;
    m.file_type().is_block_device()
}

#[cfg(not(unix))]
fn is_block_device(_: &std::fs::Metadata) -> bool {
    false
}

#[cfg(unix)]
fn default_permissions() -> std::fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    std::fs::Permissions::from_mode(0o644)
}

#[cfg(not(unix))]
fn default_permissions() -> std::fs::Permissions {
    tempfile::tempfile()
        .and_then(|f| f.metadata())
        .map(|m| m.permissions())
        .expect("a temporary file has permissions")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_column_of_floats_reads_alike() {
        let mut v: Vec<Option<String>> = ["1336.88", "1363.4", "7", "-0.5", "NaN"]
            .iter()
            .map(|s| Some(s.to_string()))
            .chain([None])
            .collect();
        same_decimals(&mut v);
        let got: Vec<Option<&str>> = v.iter().map(|s| s.as_deref()).collect();
        assert_eq!(
            got,
            [
                Some("1336.88"),
                Some("1363.40"),
                Some("7.00"),
                Some("-0.50"),
                Some("NaN"),
                None
            ]
        );
        // Past the most decimals a table pads to, the column is left as it is.
        let mut v = vec![Some("47.93333333333333".to_string()), Some("2.5".into())];
        same_decimals(&mut v);
        assert_eq!(v[1].as_deref(), Some("2.5"));
        assert_eq!(thousands("1363.40"), "1,363.40");
    }

    /// The decimals are the column's, whatever batch a value came in.
    #[test]
    fn the_decimals_are_the_whole_columns() {
        use datafusion::arrow::array::{AsArray, Float64Array};
        use datafusion::arrow::datatypes::{DataType, Field, Schema};
        let schema = std::sync::Arc::new(Schema::new(vec![Field::new(
            "avg_check",
            DataType::Float64,
            true,
        )]));
        let batch = |x: f64| {
            RecordBatch::try_new(
                schema.clone(),
                vec![std::sync::Arc::new(Float64Array::from(vec![x]))],
            )
            .unwrap()
        };
        let shown = for_people(&schema, &[batch(1336.88), batch(1363.4)]).unwrap();
        let col = shown.column(0).as_string::<i32>();
        assert_eq!((col.value(0), col.value(1)), ("1,336.88", "1,363.40"));
        assert_eq!(for_people(&schema, &[]).unwrap().num_rows(), 0);
    }
}
