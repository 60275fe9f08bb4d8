//! The `lifecycle-thresholds` report: each partner's purchase rhythm (the gaps between a
//! customer's purchase days there, `engine::rhythms`, which the engine also uses to derive
//! `derive = true` partners' thresholds as it opens), the thresholds it suggests, and the
//! block to merge into the project file.

use crate::Engine;
use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::error::ArrowError;
use std::sync::Arc;

pub use crate::engine::rhythms::{PartnerRhythm, partner_rhythms};

/// One row per partner: its rhythm and the thresholds it suggests.
pub fn to_batch(rhythms: &[PartnerRhythm]) -> Result<RecordBatch, ArrowError> {
    let col = |f: &dyn Fn(&PartnerRhythm) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from(rhythms.iter().map(f).collect::<Vec<_>>()))
    };
    let fields = [
        "buyers",
        "repeat_customers",
        "gaps",
        "median_gap",
        "p80_gap",
        "p95_gap",
        "at_risk_days",
        "churned_days",
        "lost_days",
    ];
    let mut schema = vec![Field::new("partner", DataType::Utf8, false)];
    schema.extend(
        fields
            .iter()
            .map(|f| Field::new(*f, DataType::Int64, false)),
    );
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            rhythms.iter().map(|r| r.partner.as_str()),
        )),
        col(&|r| r.buyers as i64),
        col(&|r| r.repeat_customers as i64),
        col(&|r| r.gaps as i64),
        col(&|r| r.median as i64),
        col(&|r| r.p80 as i64),
        col(&|r| r.p95 as i64),
        col(&|r| r.thresholds.at_risk_days as i64),
        col(&|r| r.thresholds.churned_days as i64),
        col(&|r| r.thresholds.lost_days as i64),
    ];
    RecordBatch::try_new(Arc::new(Schema::new(schema)), arrays)
}

/// What to put into the project file: a section for each partner that has none, the keys to
/// set in each section the file already has (TOML takes a section once).
pub fn project_block(engine: &Engine, rhythms: &[PartnerRhythm]) -> String {
    use std::fmt::Write;
    let configured = engine
        .project
        .file
        .lifecycle
        .as_ref()
        .map(|l| l.get_ref().partners.clone())
        .unwrap_or_default();
    let keys = |r: &PartnerRhythm| {
        format!(
            "at_risk_days = {}\nchurned_days = {}\nlost_days = {}\n",
            r.thresholds.at_risk_days, r.thresholds.churned_days, r.thresholds.lost_days
        )
    };
    let mut out = format!(
        "\n# as of {}: thresholds from each partner's purchase gaps, for segql.toml",
        engine.catalog.as_of
    );
    for r in rhythms {
        out.push('\n');
        match configured.get(&r.partner) {
            Some(c) if c.derive == Some(true) => {
                let _ = writeln!(
                    out,
                    "# [lifecycle.partners.{:?}] in segql.toml derives these at every run (derive = true)",
                    r.partner
                );
            }
            Some(_) => {
                // Commented out: pasted as a whole, bare keys would land in the section above.
                let commented: String = keys(r).lines().map(|l| format!("# {l}\n")).collect();
                let _ = write!(
                    out,
                    "# segql.toml has [lifecycle.partners.{:?}] already: set these keys in it\n{commented}",
                    r.partner,
                );
            }
            None => {
                let _ = write!(out, "[lifecycle.partners.{:?}]\n{}", r.partner, keys(r));
            }
        }
    }
    out
}
