//! Writers: table, CSV, JSON and Parquet, to standard output or atomically to a file (written
//! beside the target and renamed into place only when complete).

use crate::error::RuntimeError;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;
use std::io::Write;
use std::path::Path;

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
}

impl Format {
    /// Guesses a format from a file name.
    pub fn from_path(p: &Path) -> Option<Format> {
        let ext = p.extension()?.to_string_lossy().to_lowercase();
        match ext.as_str() {
            "csv" => Some(Format::Csv),
            "json" => Some(Format::Json),
            "parquet" | "pq" => Some(Format::Parquet),
            "txt" => Some(Format::Table),
            _ => None,
        }
    }
}

fn io_err(path: &str, e: impl std::fmt::Display) -> RuntimeError {
    let reason = e.to_string();
    if reason.contains("Broken pipe") {
        // The reader went away (`segql run ... | head`): not an error of ours.
        return RuntimeError::OutputClosed;
    }
    RuntimeError::Io {
        path: path.to_string(),
        reason,
    }
}

/// Writes a stream of batches in `format` to `dest` (standard output when `None`); returns the
/// number of rows written.
pub async fn write_stream(
    mut stream: SendableRecordBatchStream,
    format: Format,
    dest: Option<&Path>,
) -> Result<u64, RuntimeError> {
    let schema = stream.schema();
    let name = dest.map_or("standard output".to_string(), |p| p.display().to_string());
    if format == Format::Parquet && dest.is_none() {
        return Err(RuntimeError::Usage {
            message: "Parquet output needs a file".into(),
            help: Some("add --output FILE.parquet".into()),
        });
    }
    let mut sink = match dest {
        Some(p) => Sink::File(AtomicFile::create(p)?),
        None => Sink::Stdout(std::io::BufWriter::new(std::io::stdout())),
    };
    let mut rows = 0u64;
    match format {
        Format::Table => {
            let mut all: Vec<RecordBatch> = Vec::new();
            while let Some(b) = stream.next().await {
                let b = b.map_err(|e| RuntimeError::data("running the query", e))?;
                rows += b.num_rows() as u64;
                all.push(b);
            }
            if all.is_empty() {
                all.push(RecordBatch::new_empty(schema.clone()));
            }
            let text = pretty_format_batches(&all).map_err(|e| io_err(&name, e))?;
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
    match sink {
        Sink::File(f) => f.commit().map_err(|e| io_err(&name, e))?,
        Sink::Stdout(mut s) => s.flush().map_err(|e| io_err(&name, e))?,
    }
    Ok(rows)
}

/// Where output goes.
enum Sink {
    Stdout(std::io::BufWriter<std::io::Stdout>),
    File(AtomicFile),
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::Stdout(s) => s.write(buf),
            Sink::File(f) => f.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Stdout(s) => s.flush(),
            Sink::File(f) => f.flush(),
        }
    }
}

/// A file written to a temporary name beside the target and renamed into place by
/// [`AtomicFile::commit`]; dropped without a commit (an error, an interruption), it is removed
/// and the target is left as it was.
pub struct AtomicFile {
    tmp: Option<tempfile::NamedTempFile>,
    target: std::path::PathBuf,
}

impl AtomicFile {
    /// Starts writing `target`.
    pub fn create(target: &Path) -> Result<AtomicFile, RuntimeError> {
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        let tmp = tempfile::Builder::new()
            .prefix(".segql-")
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(|e| io_err(&target.display().to_string(), e))?;
        Ok(AtomicFile {
            tmp: Some(tmp),
            target: target.to_path_buf(),
        })
    }

    /// Completes the file: flushes and renames it into place.
    pub fn commit(mut self) -> std::io::Result<()> {
        if let Some(mut t) = self.tmp.take() {
            t.flush()?;
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

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.tmp {
            Some(t) => t.write(buf),
            None => Err(std::io::Error::other("file already committed")),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.tmp {
            Some(t) => t.flush(),
            None => Ok(()),
        }
    }
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
