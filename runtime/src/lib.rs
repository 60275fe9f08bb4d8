//! The segql runtime: the project file, data sources, execution and output.
//!
//! ```text
//! segql.toml --project--> Project --sources--> Tables (normalized LogicalPlans)
//!   --engine (+ physical rules)--> Catalog for the compiler; executes compiled plans
//!   --output--> table/CSV/JSON/Parquet/Excel
//! reports (check --data, values that occur nowhere) and the REPL's cache sit on top.
//! ```
//!
//! Dependencies point one way: `sources` reads what `project` configures; `inputs` (the files
//! a command reads, which no output may replace) expands the tables' paths with `sources`;
//! `physical` depends on neither; `engine` uses them; `reports` and `cache` use the engine
//! and `sources`; `error` and `output` serve all. `models` (the feature set, k-means fits and
//! the project's model files) uses the engine. `cluster` (Ballista: the client session the
//! engine uses with `--engine ballista://`, and the scheduler and executor processes) depends
//! on `error` alone.

// Diagnostics carry their source text and spans, so error values are large; they are
// built only on the (cold) failure path, where their size does not matter.
#![allow(clippy::result_large_err)]

pub mod cache;
pub mod cluster;
pub mod engine;
pub mod error;
pub mod inputs;
pub mod measure;
pub mod models;
pub mod output;
pub mod physical;
pub mod project;
pub mod reports;
pub mod snapshots;
pub mod sources;
pub mod sql;
pub mod stores;

pub use datafusion;
pub use engine::{Engine, EngineOptions, segql_settings};
pub use error::RuntimeError;
pub use inputs::Inputs;
pub use output::Format;
pub use project::Project;

/// Helpers for the crate's unit tests.
#[cfg(test)]
mod test_support {
    use datafusion::arrow::array::RecordBatch;
    use datafusion::arrow::util::pretty::pretty_format_batches;

    /// A result's data rows as printed (the header, naming `customer_id`, left out), sorted.
    pub fn sorted_rows(batches: &[RecordBatch]) -> Vec<String> {
        let table = pretty_format_batches(batches).unwrap().to_string();
        let mut rows: Vec<String> = table
            .lines()
            .filter(|l| l.starts_with("| ") && !l.contains("customer_id"))
            .map(str::to_string)
            .collect();
        rows.sort();
        rows
    }
}
