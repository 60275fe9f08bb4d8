//! The project: the project file `segql.toml` ([`config`]).

pub mod config;

pub use config::{FileFormat, Project, TableConfig};
