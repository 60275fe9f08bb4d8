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
//! - `lookalike`: `lookalike(SEGMENT, N)` against a direct computation from the features
//!   file; a planted group found from part of it; `segql lookalike check`'s recall.
//! - `scores`: response scores fitted on a campaign's snapshot: a planted response found
//!   (AUC, a rising lift table), a random one not, `score(NAME)` and `top ... by score(NAME)`
//!   against a direct computation, the same bytes again, bad inputs refused.
//! - `cluster`: a Ballista cluster of segql's own binary (a scheduler, two executors) runs the
//!   example project byte for byte as the local engine; a killed executor's tasks run again.
//! - `segtest`: `segql test`, assertions in `.segtest` files on fixtures or the project's data.
//! - `report`: `segql report`'s page in headless Chromium (every chart drawn, no request, no
//!   error, its tables' numbers the CSV's and the other commands'); escaping; empty data.
//! - `stores`: tables at `s3://` URLs on a real S3-compatible server (moto) answer as the local
//!   files, here and on a cluster; missing buckets, objects, servers and credentials.

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
mod lookalike;
mod measure;
mod models;
mod mutations;
mod plans;
mod reference;
mod repl;
mod report;
mod rfm;
mod scores;
mod segtest;
mod sql;
mod stores;
mod warm;
