//! segql's integration tests, in one test binary (one link of DataFusion, not one per file).
//!
//! - `corpus`: the golden corpus, one file per case under `tests/cases/`.
//! - `cli`, `repl`: the command line and the REPL, end to end.
//! - `code`: segment files as code: machine diagnostics, fmt, diff, lint, tests, completions.
//! - `diagnostics`: rendered errors of the compiler, golden.
//! - `layout`: the REPL and the command line never import each other.
//! - `lint`: `segql lint`'s findings, each on a small project with its own data.
//! - `bad_data`: bad data, project files and paths get a clear error and lose nothing.
//! - `plans`: the shape of compiled plans and the example project's plans, golden.
//! - `reference`: compiled results against the reference evaluator on generated data.
//! - `mutations`: random and mutated segment text never panics parse, resolve or plan.
//! - `measure`: campaigns' snapshots and their measurement against control groups.
//! - `kpis`: the program KPIs against figures computed by hand.
//! - `history`: a segment's points against separate runs as of each date; the command.
//! - `warm`: the REPL's in-memory copy of the data answers as the files do; its budget.
//! - `rfm`: RFM settings of `segql.toml` and their errors; `segql rfm` against sums of its cells.
//! - `sql`: `segql sql`'s queries run on DuckDB, PostgreSQL and DataFusion (`engines`
//!   starts them) against `segql run`; what a dialect cannot express is refused.
//! - `models`: customer features against hand computations; clusters models: planted
//!   clusters recovered, `cluster(NAME)` replaying the fit, bad inputs refused.
//! - `cluster`: a Ballista cluster of segql's own binary (a scheduler, two executors) runs the
//!   example project byte for byte as the local engine; a killed executor's tasks run again.
//! - `segtest`: `segql test`, assertions in `.segtest` files on fixtures or the project's data.

// Diagnostics carry their source text and spans, so error values are large.
#![allow(clippy::result_large_err)]

mod common;

mod bad_data;
mod cli;
mod cluster;
mod code;
mod corpus;
mod diagnostics;
mod engines;
mod history;
mod kpis;
mod layout;
mod lint;
mod measure;
mod models;
mod mutations;
mod plans;
mod reference;
mod repl;
mod rfm;
mod segtest;
mod sql;
mod warm;
