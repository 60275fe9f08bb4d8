//! The segql compiler: from syntax tree to a DataFusion logical plan.
//!
//! ```text
//! Program::load_file --> resolve_segment / resolve_expr --> ir::Pred
//!    (imports, names)       (names, types, refs inlined)
//!
//! ir::Pred --> scan_hints --> PerCustomer::build_with --> members / filter --> LogicalPlan
//!              (who can be     (one scan, one aggregate by     (conditions over the
//!               a member)       customer, one row each)         per-customer columns)
//! ```
//!
//! - [`program`]: loads `.seg` files and their imports (cycles, root confinement).
//! - [`catalog`]: the tables, columns and settings (lifecycle, ranking) plans are built over.
//! - [`resolve`]: names and types against the [`catalog::Catalog`]; produces [`ir`].
//! - [`lower`]: builds the plan node by node ([`builder`]), never SQL text: the
//!   [`lower::PerCustomer`] table (one row per customer, one column per value segments read)
//!   and the segment, campaign and membership queries over it; one module per step.
//! - [`models`]: the customer feature set and the fitted models conditions name.
//! - [`udf`]: the holdout bucket function campaigns split their members by.
//! - [`error`]: compile errors as diagnostics with source spans.
//! - [`reference`]: the same semantics in plain Rust, for cross-checking; independent of
//!   the code above (neither calls the other).

// Diagnostics carry their source text and spans, so error values are large; they are
// built only on the (cold) failure path, where their size does not matter.
#![allow(clippy::result_large_err)]

pub mod builder;
pub mod catalog;
pub mod error;
pub mod ir;
pub mod lower;
pub mod models;
pub mod params;
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
pub use resolve::{
    campaign_responses, check_all, check_template, expanded_text, resolve_expr, resolve_response,
    resolve_segment,
};
