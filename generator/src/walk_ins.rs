//! Receipts of customers without a loyalty card ("walk-ins"): lines without a customer id,
//! for the program KPIs that need the whole turnover (`segql kpis`: members' share, card
//! penetration). Deterministic: one ChaCha8 stream per day, seeded by (seed, day).

use chrono::{Days, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use segql_runtime::datafusion::arrow::array::{
    ArrayRef, Date32Array, Decimal128Array, Int64Array, RecordBatch, StringArray,
};
use std::sync::Arc;

/// `per_day` receipts (one line each) on every day of the `days` up to `end`, at the demo's
/// partners, stores and prices, with no customer id and no points.
pub fn walk_in_receipts(end: NaiveDate, days: i64, per_day: u32, seed: u64) -> RecordBatch {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
    let mut text: [Vec<String>; 5] = Default::default();
    let (mut ts, mut amount, mut quantity) = (vec![], vec![], vec![]);
    for back in 0..days.max(0) as u64 {
        let day = end - Days::new(back);
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x057A_1C11_u64 ^ (back << 20));
        for n in 0..per_day {
            // The everyday partners (not electronics): walk-ins buy fuel, groceries, coffee.
            let partner = &crate::PARTNERS[[0, 1, 2, 4][rng.random_range(0..4)]];
            let &(category, lo, hi, _) = crate::pick(&mut rng, partner.categories, |c| c.3);
            let (city, _) = crate::CITIES[rng.random_range(0..crate::CITIES.len())];
            let items = rng.random_range(1..=3i64);
            let cents = rng.random_range(lo as i64 * 100..=hi as i64 * 100);
            text[0].push(format!("W-{}-{n}", day.format("%Y%m%d")));
            text[1].push(partner.name.to_string());
            text[2].push(format!("{} {city} 1", partner.name));
            text[3].push(category.to_string());
            text[4].push(format!(
                "{}-{:02}",
                category
                    .split(' ')
                    .next()
                    .unwrap_or(category)
                    .to_uppercase(),
                rng.random_range(1..=12)
            ));
            ts.push((day - epoch).num_days() as i32);
            amount.push(cents as i128);
            quantity.push(items);
        }
    }
    let n = ts.len();
    // The demo's transactions' columns, the customer id nullable and empty.
    let schema = crate::transactions_schema(&crate::DemoOptions::default());
    let fields: Vec<_> = schema
        .fields()
        .iter()
        .map(|f| {
            let f = f.as_ref().clone();
            if f.name() == "customer_id" {
                f.with_nullable(true)
            } else {
                f
            }
        })
        .collect();
    let schema = Arc::new(segql_runtime::datafusion::arrow::datatypes::Schema::new(
        fields,
    ));
    let strings = |v: &Vec<String>| Arc::new(StringArray::from_iter_values(v)) as ArrayRef;
    let cols: Vec<ArrayRef> = vec![
        strings(&text[0]),
        Arc::new(StringArray::from(vec![None::<&str>; n])),
        Arc::new(Date32Array::from(ts)),
        strings(&text[1]),
        strings(&text[2]),
        strings(&text[3]),
        strings(&text[4]),
        Arc::new(Int64Array::from(quantity)),
        Arc::new(
            Decimal128Array::from(amount)
                .with_precision_and_scale(12, 2)
                .expect("a valid decimal type"),
        ),
        Arc::new(Int64Array::from(vec![0i64; n])),
        Arc::new(Int64Array::from(vec![0i64; n])),
    ];
    RecordBatch::try_new(schema, cols).expect("columns of one length and the schema's types")
}
