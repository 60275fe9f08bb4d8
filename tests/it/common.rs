//! Helpers shared by the integration tests.

use chrono::NaiveDate;
use segql_runtime::datafusion::arrow::array::{Array, ArrayRef, AsArray};
use segql_runtime::datafusion::arrow::datatypes::DataType;
use segql_runtime::datafusion::logical_expr::LogicalPlan;
use segql_runtime::{Engine, EngineOptions, Project};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The resolved predicate of the expression `text`, which must parse and resolve.
pub fn resolve(catalog: &segql_compiler::Catalog, text: &str) -> segql_compiler::ir::Pred {
    let mut program = segql_compiler::Program::new(None);
    let (ast, src) = program
        .parse_inline("expression", text)
        .unwrap_or_else(|e| panic!("{text} parses: {e:?}"));
    segql_compiler::resolve_expr(&program, catalog, &ast, src)
        .unwrap_or_else(|e| panic!("{text} resolves: {e:?}"))
}

/// [`resolve`] with the segment definitions `defs` (e.g. campaigns) in the program.
pub fn resolve_with(
    catalog: &segql_compiler::Catalog,
    defs: &str,
    text: &str,
) -> segql_compiler::ir::Pred {
    let mut program = segql_compiler::Program::new(None);
    program
        .load_text("defs.seg", defs)
        .unwrap_or_else(|e| panic!("{defs} loads: {e:?}"));
    let (ast, src) = program
        .parse_inline("expression", text)
        .unwrap_or_else(|e| panic!("{text} parses: {e:?}"));
    segql_compiler::resolve_expr(&program, catalog, &ast, src)
        .unwrap_or_else(|e| panic!("{text} resolves: {e:?}"))
}

/// Runs a future on a fresh current-thread runtime.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Opens a project evaluated as of `as_of`.
pub async fn open(project: Project, as_of: NaiveDate) -> Engine {
    open_portable(project, as_of, false).await
}

/// Opens a project evaluated as of `as_of`, with no segql physical rule when `portable`.
pub async fn open_portable(project: Project, as_of: NaiveDate, portable: bool) -> Engine {
    Engine::open(
        project,
        EngineOptions {
            as_of: Some(as_of),
            target_partitions: Some(2),
            portable,
            ..Default::default()
        },
        true,
    )
    .await
    .expect("engine opens")
}

/// The customer ids a plan returns (first column), as text.
pub async fn ids(engine: &Engine, plan: LogicalPlan) -> BTreeSet<String> {
    let batches = engine.collect(plan).await.expect("plan runs");
    let mut out = BTreeSet::new();
    for b in batches {
        let col = b.column(0);
        let col = segql_runtime::datafusion::arrow::compute::cast(col, &DataType::Utf8).unwrap();
        let s = col.as_string::<i32>();
        for i in 0..s.len() {
            out.insert(s.value(i).to_string());
        }
    }
    out
}

/// Writes a fixture file `name` (a relative path; missing directories are made) in `dir`.
pub fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
}

/// A temporary directory holding these fixture files: (relative path, contents).
pub fn fixture(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, contents) in files {
        write(dir.path(), name, contents);
    }
    dir
}

/// The files under the crate matching `pattern` (e.g. `tests/cases/**/*.case`), sorted.
pub fn files_matching(pattern: &str) -> Vec<PathBuf> {
    let pattern = format!("{}/{pattern}", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = glob::glob(&pattern).unwrap().map(|p| p.unwrap()).collect();
    files.sort();
    files
}

/// The example project's directory.
pub fn example_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/coalition")
}

/// The `segql` binary with plain output: no colours, no debug traces.
pub fn segql_command() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_segql"));
    c.env("NO_COLOR", "1")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("SEGQL_DEBUG");
    c
}

/// Standard output as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// Standard error with miette's line wrapping undone, for substring checks.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr)
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A Parquet file of one row group with these columns (every field nullable).
pub fn write_parquet(path: &std::path::Path, columns: Vec<(&str, ArrayRef)>) {
    use segql_runtime::datafusion::arrow::array::RecordBatch;
    use segql_runtime::datafusion::arrow::datatypes::{Field, Schema};
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    let batch = RecordBatch::try_new(
        std::sync::Arc::new(Schema::new(fields)),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut w =
        segql_runtime::datafusion::parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None)
            .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// A small deterministic generator for planted data (xorshift64*).
pub struct Gen(pub u64);

impl Gen {
    /// The next draw, uniform in [0, 1).
    pub fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A draw uniform within `spread` of `centre`.
    pub fn around(&mut self, centre: f64, spread: f64) -> f64 {
        centre + (self.next() - 0.5) * 2.0 * spread
    }
}

/// Runs segql with `args` in `dir`.
pub fn segql_in(dir: &Path, args: &[&str]) -> Output {
    segql_command()
        .args(args)
        .current_dir(dir)
        .output()
        .expect("segql runs")
}

/// The standard output of a run that must have succeeded.
pub fn succeeded(o: &Output) -> String {
    assert!(o.status.success(), "failed: {}", stderr(o));
    stdout(o)
}

/// A CSV text (of `--format csv`) as rows of column name -> cell.
pub fn csv_rows(text: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            header
                .iter()
                .zip(l.split(','))
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}
