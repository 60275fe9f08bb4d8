//! Reports over a project's data, each computed on demand by a command.

pub mod datacheck;
pub mod literals;
