//! Report results laid out for people, shared by the command line and the REPL.

use segql_runtime::datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use segql_runtime::datafusion::arrow::datatypes::{DataType, Field, Schema};
use segql_runtime::datafusion::arrow::error::ArrowError;
use segql_runtime::datafusion::arrow::util::pretty::pretty_format_batches;
use segql_runtime::reports::transitions::Transitions;
use std::sync::Arc;

/// The transitions as a matrix: one row per earlier class, one column per later class with
/// "count (share of the row%)" ("-" for none), and the row's total.
pub(crate) fn transitions_matrix(t: &Transitions) -> Result<RecordBatch, ArrowError> {
    let (froms, tos) = (t.froms(), t.tos());
    let mut fields = vec![Field::new(
        format!("{} \\ {}", t.from, t.to),
        DataType::Utf8,
        false,
    )];
    fields.extend(
        tos.iter()
            .map(|c| Field::new(c.name(), DataType::Utf8, false)),
    );
    fields.push(Field::new("total", DataType::Int64, false));
    let mut arrays: Vec<ArrayRef> = vec![Arc::new(StringArray::from_iter_values(
        froms.iter().map(|c| c.name()),
    ))];
    for to in &tos {
        let cells = froms.iter().map(|from| {
            let n = t.customers(from, to);
            if n == 0 {
                "-".to_string()
            } else {
                let total = t.row_total(from);
                format!("{n} ({:.1}%)", 100.0 * n as f64 / total as f64)
            }
        });
        arrays.push(Arc::new(StringArray::from_iter_values(cells)));
    }
    arrays.push(Arc::new(Int64Array::from_iter_values(
        froms.iter().map(|c| t.row_total(c)),
    )));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
}

/// Batches as a table for people: numbers with thousands separators.
pub(crate) fn people_table(batches: &[RecordBatch]) -> Result<impl std::fmt::Display, ArrowError> {
    let shown = batches
        .iter()
        .map(segql_runtime::output::for_people)
        .collect::<Result<Vec<_>, _>>()?;
    pretty_format_batches(&shown)
}
