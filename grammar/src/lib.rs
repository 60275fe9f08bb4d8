//! The segql grammar: a pest parser from segment text to a syntax tree with spans.
//!
//! ```text
//! text --parse_file / parse_expr--> ast::File / ast::Expr
//! ```
//!
//! [`lex`] splits text into tokens without parsing it (for nesting checks, continuation,
//! highlighting and completion).
//!
//! This crate knows nothing about data or DataFusion; parsing never panics on any input.

// Diagnostics carry their source text and spans, so error values are large; they are
// built only on the (cold) failure path, where their size does not matter.
#![allow(clippy::result_large_err)]

pub mod ast;
mod error;
pub mod fmt;
pub mod lex;
mod parser;

pub use error::ParseError;
pub use parser::{MAX_NESTING, parse_expr, parse_file};
