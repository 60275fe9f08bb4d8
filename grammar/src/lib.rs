//! The segql grammar: a pest parser from segment text to a syntax tree with spans.
//!
//! ```text
//! text --parse_file / parse_expr--> ast::File / ast::Expr
//! ```
//!
//! This crate knows nothing about data or DataFusion; parsing never panics on any input.

pub mod ast;
mod error;
mod parser;

pub use error::ParseError;
pub use parser::{MAX_NESTING, parse_expr, parse_file};
