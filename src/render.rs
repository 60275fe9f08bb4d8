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
    let Some(first) = batches.first() else {
        return pretty_format_batches(&[]);
    };
    let shown = segql_runtime::output::for_people(&first.schema(), batches)?;
    pretty_format_batches(&[shown])
}

/// An aligned text table: a header, a rule, the rows; numbers right-aligned.
pub(crate) fn text_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let cols = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(cols) {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let numeric = |s: &str| {
        s.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+')
            && s.chars().any(|c| c.is_ascii_digit())
            && !s.contains(' ')
    };
    let line = |cells: Vec<&str>| -> String {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let pad = widths[i] - c.chars().count();
                if i > 0 && numeric(c) {
                    format!("{}{c}", " ".repeat(pad))
                } else {
                    format!("{c}{}", " ".repeat(pad))
                }
            })
            .collect();
        format!("{}\n", parts.join("  ").trim_end())
    };
    let mut s = line(header.to_vec());
    s.push_str(&format!(
        "{}\n",
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("  ")
    ));
    for r in rows {
        s.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    s
}

/// A Markdown (GitHub) table.
pub(crate) fn markdown_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let esc = |c: &str| c.replace('|', "\\|");
    let mut s = format!(
        "| {} |\n|{}|\n",
        header
            .iter()
            .map(|h| esc(h))
            .collect::<Vec<_>>()
            .join(" | "),
        header.iter().map(|_| "---").collect::<Vec<_>>().join("|")
    );
    for r in rows {
        s.push_str(&format!(
            "| {} |\n",
            r.iter().map(|c| esc(c)).collect::<Vec<_>>().join(" | ")
        ));
    }
    s
}
