//! The `segql` command line and REPL, as a library so tests can drive them.

// Diagnostics carry their source text and spans, so error values are large; they are
// built only on the (cold) failure path, where their size does not matter.
#![allow(clippy::result_large_err)]

pub mod cli;
pub mod repl;
