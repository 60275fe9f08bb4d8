//! A planted campaign response: extra purchases for a snapshot's test group in the days after
//! it, so that `segql measure` has a known effect to find (the example project's past
//! campaign, and tests). Each test member, with probability `uplift`, gets one more purchase
//! on a day of the window; control members get none. The draws are deterministic: a ChaCha8
//! stream seeded by (seed, customer id).

use chrono::{Days, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use segql_runtime::RuntimeError;
use segql_runtime::datafusion::arrow::array::{
    ArrayRef, Date32Array, Decimal128Array, Int64Array, RecordBatch, StringArray,
};
use segql_runtime::output::AtomicFile;
use std::path::Path;
use std::sync::Arc;

/// The partners a planted purchase is made at: the everyday ones of the demo's catalogue.
const EVERYDAY: [usize; 4] = [0, 1, 2, 4];

/// The extra purchases for `members` (id, in the test group) of a snapshot taken on `taken`:
/// each test member with probability `uplift` buys once on a day from `taken + 1` to
/// `taken + days`.
pub fn planted_purchases(
    members: &[(String, bool)],
    taken: NaiveDate,
    days: u64,
    uplift: f64,
    seed: u64,
) -> RecordBatch {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
    let mut cols: [Vec<String>; 6] = Default::default();
    let (mut ts, mut amount, mut quantity, mut points) = (vec![], vec![], vec![], vec![]);
    for (id, test) in members {
        if !test {
            continue;
        }
        let mut h = seed ^ 0x5EED_CA4B_A16E;
        for b in id.bytes() {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01B3);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(h);
        if rng.random::<f64>() >= uplift {
            continue;
        }
        let day = taken + Days::new(rng.random_range(1..=days.max(1)));
        let partner = &crate::PARTNERS[EVERYDAY[rng.random_range(0..EVERYDAY.len())]];
        let &(category, lo, hi, _) = crate::pick(&mut rng, partner.categories, |c| c.3);
        let cents = rng.random_range(lo as i64 * 100..=hi as i64 * 100);
        let store = format!("{} {} {}", partner.name, crate::CITIES[0].0, 1);
        let product = format!(
            "{}-{:02}",
            category
                .split(' ')
                .next()
                .unwrap_or(category)
                .to_uppercase(),
            rng.random_range(1..=12)
        );
        cols[0].push(format!("P-{id}-{}", day.format("%Y%m%d")));
        cols[1].push(id.clone());
        for (k, v) in [partner.name, &store, category, &product]
            .into_iter()
            .enumerate()
        {
            cols[2 + k].push(v.to_string());
        }
        ts.push((day - epoch).num_days() as i32);
        amount.push(cents as i128);
        quantity.push(1i64);
        points.push(cents / 1000);
    }
    let n = ts.len();
    // The demo's own transactions (decimal amounts, receipt ids), so the files union.
    let schema = crate::transactions_schema(&crate::DemoOptions::default());
    let text = |v: &Vec<String>| Arc::new(StringArray::from_iter_values(v)) as ArrayRef;
    let cols: Vec<ArrayRef> = vec![
        text(&cols[0]),
        text(&cols[1]),
        Arc::new(Date32Array::from(ts)),
        text(&cols[2]),
        text(&cols[3]),
        text(&cols[4]),
        text(&cols[5]),
        Arc::new(Int64Array::from(quantity)),
        Arc::new(
            Decimal128Array::from(amount)
                .with_precision_and_scale(12, 2)
                .expect("a valid decimal type"),
        ),
        Arc::new(Int64Array::from(points)),
        Arc::new(Int64Array::from(vec![0i64; n])),
    ];
    RecordBatch::try_new(schema, cols).expect("columns of one length and the schema's types")
}

/// Writes [`planted_purchases`] as a Parquet file at `path` (never over an existing file).
pub fn write_planted(path: &Path, batch: &RecordBatch) -> Result<(), RuntimeError> {
    if path.exists() {
        return Err(RuntimeError::Usage {
            message: format!(
                "{} exists; the demo never writes over a file",
                path.display()
            ),
            help: None,
        });
    }
    let io = |e: String| RuntimeError::Io {
        path: path.display().to_string(),
        reason: e,
    };
    let mut f = AtomicFile::create(path)?;
    {
        let mut w = segql_runtime::datafusion::parquet::arrow::ArrowWriter::try_new(
            &mut f,
            batch.schema(),
            None,
        )
        .map_err(|e| io(e.to_string()))?;
        w.write(batch).map_err(|e| io(e.to_string()))?;
        w.close().map_err(|e| io(e.to_string()))?;
    }
    f.commit().map_err(|e| io(e.to_string()))
}
