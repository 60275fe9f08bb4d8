//! Reports over a project's data: each a function over the engine (or the project, for
//! reports that compare dates) returning a typed result; rendering is the caller's.

mod common;
pub mod datacheck;
pub mod diff;
pub mod flows;
pub mod history;
pub mod kpis;
pub mod lint;
pub mod literals;
pub mod rfm_grid;
pub mod segment_profile;
pub mod segtest;
pub mod thresholds;
pub mod transitions;
