//! The segql compiler: from syntax tree to a DataFusion logical plan.
//!
//! ```text
//! Program::load_file --> resolve_segment / resolve_expr --> ir::Pred --> lower_segment --> LogicalPlan
//!    (imports, names)       (names, types, refs inlined)                  (one scan, one aggregate)
//! ```
//!
//! - [`program`]: loads `.seg` files and their imports (cycles, root confinement).
//! - [`resolve`]: names and types against the [`catalog::Catalog`]; produces [`ir`].
//! - [`lower`]: builds the plan node by node ([`builder`]), never SQL text.
//! - [`reference`]: the same semantics in plain Rust, for cross-checking.

// Diagnostics carry their source text and spans, so error values are large; they are
// built only on the (cold) failure path, where their size does not matter.
#![allow(clippy::result_large_err)]

pub mod builder;
pub mod catalog;
pub mod error;
pub mod ir;
pub mod lower;
pub mod program;
pub mod reference;
pub mod resolve;
pub mod udf;

pub use catalog::{Catalog, DataFacts, LifecycleThresholds, Wanted};
pub use error::CompileError;
pub use lower::{
    PerCustomer, Query, ScanHints, lower_campaign, lower_definition, lower_memberships,
    lower_segment, needs_full_base, scan_hints,
};
pub use program::Program;
pub use resolve::{check_all, resolve_expr, resolve_segment};
