//! What the reports share: the engine as of another date, and the one row of an aggregate.

use crate::{Engine, EngineOptions, Project, RuntimeError};
use chrono::NaiveDate;
use datafusion::arrow::array::RecordBatch;
use datafusion::logical_expr::LogicalPlan;

/// Opens the engine of `project` as of `date`, with the other `options`.
pub(super) async fn open_at(
    project: &Project,
    options: &EngineOptions,
    date: NaiveDate,
) -> Result<Engine, RuntimeError> {
    let options = EngineOptions {
        as_of: Some(date),
        ..options.clone()
    };
    Engine::open(project.clone(), options, true).await
}

/// The batch holding the one row of `plan`, an aggregate without groups; `what` names the
/// report in the error when there is none.
pub(super) async fn one_row(
    engine: &Engine,
    plan: LogicalPlan,
    what: &str,
) -> Result<RecordBatch, RuntimeError> {
    engine
        .collect(plan)
        .await?
        .into_iter()
        .find(|b| b.num_rows() > 0)
        .ok_or_else(|| RuntimeError::Empty {
            message: format!("the {what} query returned nothing"),
            help: None,
        })
}
