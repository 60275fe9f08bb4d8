//! A deterministic generator of coalition-loyalty data: partners with their own purchase
//! rhythms (fuel, grocery, electronics, coffee), stores in several cities, categories and
//! products, customers with city, gender, birthday and signup date, and a communications log.
//!
//! The same seed and options give the same rows on every machine: each customer draws from
//! its own ChaCha8 stream seeded by (seed, customer number).
//!
//! Besides size, seed and period, [`DemoOptions`] sets the *shape* of the data, for
//! benchmarks: how long customers' histories are (`lines_per_customer`), the order of the
//! transaction rows (`order`), the type of `amount` (`amounts`), the customers file's format
//! and whether transactions carry a `receipt_id`. The defaults give the data set the example
//! project ships, byte for byte.
//!
//! A crate of its own (`segql demo`, the benchmarks), so the runtime library does not depend
//! on `rand`; it writes files with the runtime's output writers.

// Errors are the runtime's diagnostics, large values built only on the failure path.
#![allow(clippy::result_large_err)]

use chrono::{Datelike, NaiveDate};
use datafusion::arrow::array::{
    Array, ArrayRef, BooleanBuilder, Date32Array, Date32Builder, Decimal128Builder, Float64Array,
    Int64Builder, StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub mod plant;
pub mod walk_ins;
use segql_runtime::RuntimeError;
use segql_runtime::datafusion;
use segql_runtime::output::AtomicFile;
use segql_runtime::project::FileFormat;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What to generate.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Number of customers.
    pub customers: usize,
    /// Random seed.
    pub seed: u64,
    /// Last day of data.
    pub end: NaiveDate,
    /// Days of history.
    pub days: i64,
    /// Format of the transactions file.
    pub format: FileFormat,
    /// Format of the customers file (`customers.csv` or `customers.parquet`); communications
    /// are always CSV.
    pub customers_format: FileFormat,
    /// The average number of transaction lines per customer to aim at; `None` keeps the
    /// natural rate (about 22 lines per customer over 730 days). See [`activity_scale`].
    pub lines_per_customer: Option<f64>,
    /// The order of the transaction rows.
    pub order: RowOrder,
    /// The type of the `amount` column.
    pub amounts: AmountType,
    /// Whether transactions have a `receipt_id` column.
    pub receipts: bool,
    /// Output directory.
    pub out: PathBuf,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            customers: 1000,
            seed: 42,
            end: NaiveDate::from_ymd_opt(2026, 10, 31).expect("valid date"),
            days: 730,
            format: FileFormat::Parquet,
            customers_format: FileFormat::Csv,
            lines_per_customer: None,
            order: RowOrder::Customer,
            amounts: AmountType::Decimal,
            receipts: true,
            out: PathBuf::from("demo"),
        }
    }
}

/// The order of the rows of the transactions file. The rows themselves do not depend on it:
/// every order holds the same rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RowOrder {
    /// Grouped by customer, in customer order, each customer's rows by date: the order rows
    /// are generated in, written as they come.
    #[default]
    Customer,
    /// By date; rows of one day in customer order (then each customer's own order).
    Date,
    /// A pseudo-random order fixed by the seed: each row's place comes from a hash of the
    /// seed and the row's number in customer order.
    Shuffled,
}

/// The type of the transactions' `amount` column.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AmountType {
    /// `Decimal128(12, 2)`.
    #[default]
    Decimal,
    /// `Float64`: the same cents divided by 100.
    Float64,
}

/// Average transaction lines per customer at the natural visit rate (scale 1), measured on
/// 100,000 customers of seed 42 over the default 730 days.
const NATURAL_LINES_PER_CUSTOMER: f64 = 22.4;

/// The factor that multiplies every customer's visit rate (divides every mean gap between
/// visits) so that customers average about `lines_per_customer` transaction lines: 1 when it
/// is `None` (today's data, bit for bit).
///
/// Calibration: visits are a Poisson-like process per partner over the customer's active
/// span, so the number of lines is close to proportional to the rate; the factor is the
/// target over the average at scale 1 ([`NATURAL_LINES_PER_CUSTOMER`], measured: 2,241,400
/// lines for 100,000 customers of seed 42). Measured on those customers with a divisor of 22,
/// a target of 3 gave 3.05 and a target of 25 gave 25.5 lines per customer, both within 2%
/// (a test checks 3 and 25 within 15% on 2,000 customers). Past a few hundred lines a
/// customer visits each partner at most once a day and the average falls short of the target;
/// a shorter `days` also lowers it.
pub fn activity_scale(lines_per_customer: Option<f64>) -> f64 {
    match lines_per_customer {
        None => 1.0,
        Some(x) => x / NATURAL_LINES_PER_CUSTOMER,
    }
}

/// Row counts of what was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DemoSummary {
    /// Customers written.
    pub customers: u64,
    /// Transaction lines written.
    pub transactions: u64,
    /// Messages written.
    pub communications: u64,
}

struct Partner {
    name: &'static str,
    /// Mean days between visits for an average customer.
    gap: f64,
    /// (category, min price, max price, weight)
    categories: &'static [(&'static str, u32, u32, u32)],
    max_lines: u32,
}

const PARTNERS: [Partner; 5] = [
    Partner {
        name: "OKKO",
        gap: 30.0,
        categories: &[
            ("Fuel", 800, 2200, 70),
            ("Car Wash", 150, 400, 8),
            ("Snacks", 30, 120, 12),
            ("Coffee", 40, 90, 10),
        ],
        max_lines: 2,
    },
    Partner {
        name: "Silpo",
        gap: 21.0,
        categories: &[
            ("Dairy", 30, 120, 18),
            ("Bakery", 20, 80, 16),
            ("Produce", 20, 150, 18),
            ("Meat", 100, 400, 12),
            ("Coffee", 150, 500, 8),
            ("Beverages", 25, 100, 12),
            ("Household", 40, 300, 8),
            ("Sweets", 30, 150, 8),
        ],
        max_lines: 3,
    },
    Partner {
        name: "Furshet",
        gap: 25.0,
        categories: &[
            ("Dairy", 30, 110, 20),
            ("Bakery", 20, 70, 18),
            ("Produce", 20, 140, 20),
            ("Meat", 100, 380, 14),
            ("Coffee", 140, 450, 6),
            ("Beverages", 25, 90, 12),
            ("Sweets", 30, 140, 10),
        ],
        max_lines: 3,
    },
    Partner {
        name: "ALLO",
        gap: 300.0,
        categories: &[
            ("Phones", 8000, 40000, 20),
            ("Laptops", 20000, 70000, 8),
            ("Accessories", 200, 2000, 60),
            ("TV & Audio", 10000, 50000, 12),
        ],
        max_lines: 2,
    },
    Partner {
        name: "Aroma Kava",
        gap: 18.0,
        categories: &[("Coffee", 45, 110, 75), ("Pastry", 40, 120, 25)],
        max_lines: 2,
    },
];

const CITIES: [(&str, u32); 7] = [
    ("Kyiv", 35),
    ("Lviv", 15),
    ("Odesa", 13),
    ("Kharkiv", 12),
    ("Dnipro", 11),
    ("Vinnytsia", 7),
    ("Zaporizhzhia", 7),
];

const CAMPAIGNS: [(&str, &str); 6] = [
    ("welcome", "email"),
    ("coffee_week", "push"),
    ("fuel_bonus", "sms"),
    ("winback", "sms"),
    ("birthday", "email"),
    ("weekend_sale", "push"),
];

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T], weight: impl Fn(&T) -> u32) -> &'a T {
    let total: u32 = items.iter().map(&weight).sum();
    let mut x = rng.random_range(0..total);
    for it in items {
        let w = weight(it);
        if x < w {
            return it;
        }
        x -= w;
    }
    &items[items.len() - 1]
}

fn exp_gap(rng: &mut ChaCha8Rng, mean: f64) -> i64 {
    let u: f64 = rng.random();
    ((-(1.0 - u).ln() * mean).round() as i64).max(1)
}

fn days(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
}

/// The transactions schema the generator writes for `opts` (canonical names): `receipt_id`
/// first unless `opts.receipts` is false; `amount` a decimal or a float.
pub fn transactions_schema(opts: &DemoOptions) -> SchemaRef {
    let mut fields = Vec::with_capacity(11);
    if opts.receipts {
        fields.push(Field::new("receipt_id", DataType::Utf8, false));
    }
    let amount = match opts.amounts {
        AmountType::Decimal => DataType::Decimal128(12, 2),
        AmountType::Float64 => DataType::Float64,
    };
    fields.extend([
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("ts", DataType::Date32, false),
        Field::new("partner", DataType::Utf8, false),
        Field::new("store", DataType::Utf8, false),
        Field::new("category", DataType::Utf8, false),
        Field::new("product", DataType::Utf8, false),
        Field::new("quantity", DataType::Int64, false),
        Field::new("amount", amount, false),
        Field::new("points_earned", DataType::Int64, false),
        Field::new("points_redeemed", DataType::Int64, false),
    ]);
    Arc::new(Schema::new(fields))
}

fn customers_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("city", DataType::Utf8, false),
        Field::new("gender", DataType::Utf8, false),
        Field::new("dob", DataType::Date32, true),
        Field::new("registered", DataType::Date32, false),
        Field::new("sms_opt_in", DataType::Boolean, false),
        Field::new("email_opt_in", DataType::Boolean, false),
    ]))
}

fn communications_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("sent_at", DataType::Date32, false),
        Field::new("channel", DataType::Utf8, false),
        Field::new("campaign", DataType::Utf8, false),
    ]))
}

#[derive(Default)]
struct Batches {
    tx: TxCols,
    cust: CustCols,
    comm: CommCols,
}

#[derive(Default)]
struct TxCols {
    receipt: StringBuilder,
    customer: StringBuilder,
    ts: Date32Builder,
    partner: StringBuilder,
    store: StringBuilder,
    category: StringBuilder,
    product: StringBuilder,
    quantity: Int64Builder,
    amount: Vec<i128>,
    earned: Int64Builder,
    redeemed: Int64Builder,
}

#[derive(Default)]
struct CustCols {
    id: StringBuilder,
    city: StringBuilder,
    gender: StringBuilder,
    dob: Date32Builder,
    registered: Date32Builder,
    sms: BooleanBuilder,
    email: BooleanBuilder,
}

#[derive(Default)]
struct CommCols {
    customer: StringBuilder,
    sent: Date32Builder,
    channel: StringBuilder,
    campaign: StringBuilder,
}

fn finish(schema: SchemaRef, cols: Vec<ArrayRef>) -> RecordBatch {
    RecordBatch::try_new(schema, cols).expect("generator columns match their schema")
}

impl Batches {
    fn take(&mut self, opts: &DemoOptions) -> (RecordBatch, RecordBatch, RecordBatch) {
        let t = &mut self.tx;
        let amount: ArrayRef = match opts.amounts {
            AmountType::Decimal => {
                let mut b = Decimal128Builder::new()
                    .with_precision_and_scale(12, 2)
                    .expect("valid decimal");
                b.append_slice(&t.amount);
                Arc::new(b.finish())
            }
            AmountType::Float64 => Arc::new(Float64Array::from_iter_values(
                t.amount.iter().map(|&cents| cents as f64 / 100.0),
            )),
        };
        t.amount.clear();
        let mut cols: Vec<ArrayRef> = Vec::with_capacity(11);
        if opts.receipts {
            cols.push(Arc::new(t.receipt.finish()));
        }
        cols.extend([
            Arc::new(t.customer.finish()) as ArrayRef,
            Arc::new(t.ts.finish()),
            Arc::new(t.partner.finish()),
            Arc::new(t.store.finish()),
            Arc::new(t.category.finish()),
            Arc::new(t.product.finish()),
            Arc::new(t.quantity.finish()),
            amount,
            Arc::new(t.earned.finish()),
            Arc::new(t.redeemed.finish()),
        ]);
        let tx = finish(transactions_schema(opts), cols);
        let c = &mut self.cust;
        let cust = finish(
            customers_schema(),
            vec![
                Arc::new(c.id.finish()),
                Arc::new(c.city.finish()),
                Arc::new(c.gender.finish()),
                Arc::new(c.dob.finish()),
                Arc::new(c.registered.finish()),
                Arc::new(c.sms.finish()),
                Arc::new(c.email.finish()),
            ],
        );
        let m = &mut self.comm;
        let comm = finish(
            communications_schema(),
            vec![
                Arc::new(m.customer.finish()),
                Arc::new(m.sent.finish()),
                Arc::new(m.channel.finish()),
                Arc::new(m.campaign.finish()),
            ],
        );
        (tx, cust, comm)
    }
}

/// Generates one customer's rows into `b`.
fn customer(opts: &DemoOptions, i: usize, b: &mut Batches) {
    let mut rng =
        ChaCha8Rng::seed_from_u64(opts.seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let id = format!("C{:07}", i + 1);
    let start = opts.end - chrono::Duration::days(opts.days);
    let city = pick(&mut rng, &CITIES, |c| c.1).0;
    let gender = if rng.random_bool(0.54) { "f" } else { "m" };
    let birth_year = rng.random_range(1950..=2007);
    let dob = NaiveDate::from_ymd_opt(
        birth_year,
        rng.random_range(1..=12),
        rng.random_range(1..=28),
    )
    .expect("valid date");
    // Signed up before the data starts (existing members) or during it.
    let signup = start - chrono::Duration::days(365)
        + chrono::Duration::days(rng.random_range(0..opts.days + 365));
    let c = &mut b.cust;
    c.id.append_value(&id);
    c.city.append_value(city);
    c.gender.append_value(gender);
    if rng.random_bool(0.93) {
        c.dob.append_value(days(dob));
    } else {
        c.dob.append_null();
    }
    c.registered.append_value(days(signup));
    let sms = rng.random_bool(0.7);
    c.sms.append_value(sms);
    c.email.append_value(rng.random_bool(0.5));

    // Persona: how active, which partners, whether and when they stop.
    let prospect = rng.random_bool(0.07);
    let activity =
        [0.1, 0.2, 0.4, 0.7, 1.2][rng.random_range(0..5)] * activity_scale(opts.lines_per_customer);
    let first = signup.max(start) + chrono::Duration::days(rng.random_range(0..20));
    let stops = rng.random_bool(0.45);
    let last = if stops {
        first + chrono::Duration::days(rng.random_range(0..=(opts.end - first).num_days().max(0)))
    } else {
        opts.end
    };
    let n_partners = rng.random_range(1..=3);
    let mut partners: Vec<usize> = Vec::new();
    while partners.len() < n_partners {
        let p = rng.random_range(0..PARTNERS.len());
        if !partners.contains(&p) {
            partners.push(p);
        }
    }
    partners.sort();
    let mut seq = 0u32;
    if !prospect && first <= opts.end {
        // Each partner has its own rhythm; visits merge into one history.
        let mut visits: Vec<(NaiveDate, usize)> = Vec::new();
        for &p in &partners {
            let mean = PARTNERS[p].gap / activity;
            let mut day = first + chrono::Duration::days(exp_gap(&mut rng, mean) - 1);
            while day <= last {
                visits.push((day, p));
                day += chrono::Duration::days(exp_gap(&mut rng, mean));
            }
        }
        visits.sort();
        for (day, p) in visits {
            seq += 1;
            let partner = &PARTNERS[p];
            let store = format!("{} {} {}", partner.name, city, rng.random_range(1..=3));
            let receipt = if opts.receipts {
                format!("{id}-{seq:05}")
            } else {
                String::new()
            };
            let lines = rng.random_range(1..=partner.max_lines);
            for line in 0..lines {
                let &(cat, lo, hi, _) = pick(&mut rng, partner.categories, |c| c.3);
                let qty: i64 = if hi > 5000 {
                    1
                } else {
                    rng.random_range(1..=3)
                };
                let cents = rng.random_range(lo as i128 * 100..=hi as i128 * 100) * qty as i128;
                let product = format!(
                    "{}-{:02}",
                    cat.split(' ').next().unwrap_or(cat).to_uppercase(),
                    rng.random_range(1..=12)
                );
                let t = &mut b.tx;
                if opts.receipts {
                    t.receipt.append_value(&receipt);
                }
                t.customer.append_value(&id);
                t.ts.append_value(days(day));
                t.partner.append_value(partner.name);
                t.store.append_value(&store);
                t.category.append_value(cat);
                t.product.append_value(&product);
                t.quantity.append_value(qty);
                t.amount.push(cents);
                t.earned.append_value((cents / 1000) as i64);
                let redeem = line == 0 && rng.random_bool(0.04);
                t.redeemed.append_value(if redeem {
                    rng.random_range(10..=200)
                } else {
                    0
                });
            }
        }
    }
    // Communications: a welcome message, then campaigns every few weeks.
    let m = &mut b.comm;
    let mut day = signup.max(start);
    let mut first_msg = true;
    while day <= opts.end {
        let (campaign, channel) = if first_msg {
            CAMPAIGNS[0]
        } else {
            CAMPAIGNS[rng.random_range(1..CAMPAIGNS.len())]
        };
        if channel != "sms" || sms {
            m.customer.append_value(&id);
            m.sent.append_value(days(day));
            m.channel.append_value(channel);
            m.campaign.append_value(campaign);
        }
        first_msg = false;
        day += chrono::Duration::days(exp_gap(&mut rng, 24.0));
        if day.year() > opts.end.year() + 1 {
            break;
        }
    }
}

enum Writer {
    Csv(datafusion::arrow::csv::Writer<AtomicFile>),
    Parquet(datafusion::parquet::arrow::ArrowWriter<AtomicFile>),
}

impl Writer {
    fn new(path: &Path, format: FileFormat, schema: SchemaRef) -> Result<Writer, RuntimeError> {
        let f = AtomicFile::create(path)?;
        Ok(match format {
            FileFormat::Csv => Writer::Csv(
                datafusion::arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .with_date_format("%Y-%m-%d".into())
                    .build(f),
            ),
            FileFormat::Parquet => {
                let props = datafusion::parquet::file::properties::WriterProperties::builder()
                    .set_compression(datafusion::parquet::basic::Compression::SNAPPY)
                    .build();
                Writer::Parquet(
                    datafusion::parquet::arrow::ArrowWriter::try_new(f, schema, Some(props))
                        .map_err(|e| io(path, e))?,
                )
            }
        })
    }

    fn write(&mut self, path: &Path, b: &RecordBatch) -> Result<(), RuntimeError> {
        match self {
            Writer::Csv(w) => w.write(b).map_err(|e| io(path, e)),
            Writer::Parquet(w) => w.write(b).map_err(|e| io(path, e)),
        }
    }

    fn close(self, path: &Path) -> Result<(), RuntimeError> {
        let f = match self {
            Writer::Csv(w) => w.into_inner(),
            Writer::Parquet(w) => w.into_inner().map_err(|e| io(path, e))?,
        };
        f.commit().map_err(|e| io(path, e))
    }
}

fn io(path: &Path, e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

fn ext(format: FileFormat) -> &'static str {
    match format {
        FileFormat::Csv => "csv",
        FileFormat::Parquet => "parquet",
    }
}

/// A 64-bit mix (SplitMix64's finaliser): the shuffled order's sort key.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Writes `batches` (the transactions in customer order) in `order`.
///
/// Only a sort key per row is built (16 bytes: the key and where the row is); the rows are
/// then gathered from `batches` a chunk at a time, so the memory needed is the transactions
/// once, as Arrow arrays, plus one output chunk. Ties of the key keep customer order, so the
/// result is the same whatever the chunking.
fn write_ordered(
    opts: &DemoOptions,
    batches: &[RecordBatch],
    w: &mut Writer,
    path: &Path,
) -> Result<(), RuntimeError> {
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let ts_col = transactions_schema(opts)
        .index_of("ts")
        .expect("transactions have a ts column");
    let mut keys: Vec<(u64, u32, u32)> = Vec::with_capacity(rows);
    let mut n = 0u64;
    for (bi, b) in batches.iter().enumerate() {
        let ts = b
            .column(ts_col)
            .as_any()
            .downcast_ref::<Date32Array>()
            .expect("ts is a Date32");
        for r in 0..b.num_rows() {
            let key = match opts.order {
                RowOrder::Date => (i64::from(ts.value(r)) - i64::from(i32::MIN)) as u64,
                RowOrder::Shuffled => mix(opts.seed ^ mix(n)),
                RowOrder::Customer => n,
            };
            keys.push((key, bi as u32, r as u32));
            n += 1;
        }
    }
    keys.sort_unstable();
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    const OUT_CHUNK: usize = 8192;
    let mut idx: Vec<(usize, usize)> = Vec::with_capacity(OUT_CHUNK);
    for chunk in keys.chunks(OUT_CHUNK) {
        idx.clear();
        idx.extend(chunk.iter().map(|&(_, b, r)| (b as usize, r as usize)));
        let out = datafusion::arrow::compute::interleave_record_batch(&refs, &idx)
            .map_err(|e| io(path, e))?;
        w.write(path, &out)?;
    }
    Ok(())
}

/// Writes `transactions.{parquet|csv}`, `customers.{csv|parquet}` and `communications.csv`
/// into `opts.out`; each file appears only once complete, and none replaces an existing file.
///
/// In customer order the transactions are written as they are generated, a few thousand
/// customers at a time; in date or shuffled order they are kept in memory (as Arrow arrays,
/// about 150 bytes a line with receipts: 1.5 GB for 10 million lines) and written sorted at
/// the end.
pub fn generate(opts: &DemoOptions) -> Result<DemoSummary, RuntimeError> {
    if let Some(x) = opts.lines_per_customer
        && !(x.is_finite() && x > 0.0)
    {
        return Err(RuntimeError::Usage {
            message: format!("lines per customer must be a positive number, not {x}"),
            help: Some("e.g. 3 for short histories, 25 for long ones".into()),
        });
    }
    std::fs::create_dir_all(&opts.out).map_err(|e| io(&opts.out, e))?;
    let tx_path = opts.out.join(format!("transactions.{}", ext(opts.format)));
    let cust_path = opts
        .out
        .join(format!("customers.{}", ext(opts.customers_format)));
    let comm_path = opts.out.join("communications.csv");
    // A directory that already holds data (a project's, an earlier demo's) is never written
    // over: the generator only creates files, and not beside a file of the other format.
    let existing: Vec<String> = [
        "transactions.parquet",
        "transactions.csv",
        "customers.csv",
        "customers.parquet",
        "communications.csv",
    ]
    .iter()
    .map(|f| opts.out.join(f))
    .filter(|p| std::fs::symlink_metadata(p).is_ok())
    .map(|p| format!("`{}`", p.display()))
    .collect();
    if !existing.is_empty() {
        return Err(RuntimeError::OutputIsInput {
            message: format!(
                "{} already exist{}: the demo does not replace files",
                existing.join(", "),
                if existing.len() == 1 { "s" } else { "" }
            ),
            help: "choose a new directory with --out, or remove those files first".into(),
        });
    }
    let mut tx_w = Writer::new(&tx_path, opts.format, transactions_schema(opts))?;
    let mut cust_w = Writer::new(&cust_path, opts.customers_format, customers_schema())?;
    let mut comm_w = Writer::new(&comm_path, FileFormat::Csv, communications_schema())?;
    let mut summary = DemoSummary::default();
    let mut b = Batches::default();
    // Transactions kept for a sorted write (not in customer order).
    let mut held: Vec<RecordBatch> = Vec::new();
    const CHUNK: usize = 2000;
    let mut i = 0;
    while i < opts.customers {
        let end = (i + CHUNK).min(opts.customers);
        for c in i..end {
            customer(opts, c, &mut b);
        }
        let (tx, cust, comm) = b.take(opts);
        summary.transactions += tx.num_rows() as u64;
        summary.customers += cust.num_rows() as u64;
        summary.communications += comm.num_rows() as u64;
        if opts.order == RowOrder::Customer {
            tx_w.write(&tx_path, &tx)?;
        } else if tx.num_rows() > 0 {
            held.push(tx);
        }
        cust_w.write(&cust_path, &cust)?;
        comm_w.write(&comm_path, &comm)?;
        i = end;
    }
    if !held.is_empty() {
        write_ordered(opts, &held, &mut tx_w, &tx_path)?;
        drop(held);
    }
    tx_w.close(&tx_path)?;
    cust_w.close(&cust_path)?;
    comm_w.close(&comm_path)?;
    Ok(summary)
}
