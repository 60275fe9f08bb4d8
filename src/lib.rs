//! The `segql` command line and REPL, as a library so tests can drive them.
//!
//! ```text
//! cli  (arguments, one file per command) --+--> render (report layouts for people)
//! repl (session, :commands, editor)      --+--> campaign (snapshots, measurement, report)
//!                                           +--> report (the HTML report: figures, SVG, page)
//! ```
//! Both call the runtime for reports and the grammar's lexer for text; `cli` reaches `repl`
//! only to start it (`segql repl`).

// Diagnostics carry their source text and spans, so error values are large; they are
// built only on the (cold) failure path, where their size does not matter.
#![allow(clippy::result_large_err)]

mod campaign;
pub mod cli;
pub mod diagnostics;
mod render;
pub mod repl;
mod report;

/// A plan DataFusion refused, as the compile error it is (a bug in segql when it happens).
pub(crate) fn compile_err(e: segql_runtime::datafusion::error::DataFusionError) -> miette::Report {
    miette::Report::from(segql_compiler::CompileError::from(e))
}
