//! The project: the project file `segql.toml` ([`config`]) and the files a command reads,
//! which no output may replace ([`inputs`]).

pub mod config;
pub mod inputs;

pub use config::{FileFormat, Project, TableConfig};
pub use inputs::Inputs;
