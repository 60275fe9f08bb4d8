//! The segql runtime: the project file, data sources, execution and output.
//!
//! ```text
//! segql.toml --config--> Project --sources--> Tables (normalized LogicalPlans)
//!   --engine--> Catalog for the compiler; executes compiled plans --output--> table/CSV/JSON/Parquet
//! ```

pub mod config;
pub mod demo;
pub mod engine;
pub mod error;
pub mod output;
pub mod sources;

pub use config::Project;
pub use datafusion;
pub use engine::{Engine, EngineOptions};
pub use error::RuntimeError;
pub use output::Format;
