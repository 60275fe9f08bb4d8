//! The benchmark's DataFusion SQL contestant: runs one hand-written SQL query over a
//! generated data set with the same DataFusion version and session settings as segql, and
//! prints every result row, one per line (columns separated by tabs).
//!
//! ```sh
//! datafusion-sql DATA_DIR QUERY.sql
//! ```
//! `DATA_DIR` holds `transactions.parquet`, `customers.csv` or `customers.parquet`, and
//! `communications.csv` (as written by `segql demo`); they are registered as the tables
//! `transactions`, `customers` and `communications`. segql's holdout function `segql_holdout_bucket` is
//! registered too, so that campaigns can be written by hand.

use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::error::Result;
use datafusion::prelude::{CsvReadOptions, ParquetReadOptions, SessionConfig, SessionContext};
use std::io::Write;
use std::path::PathBuf;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, query] = args.as_slice() else {
        eprintln!("usage: datafusion-sql DATA_DIR QUERY.sql");
        std::process::exit(2);
    };
    if let Err(e) = run(PathBuf::from(dir), PathBuf::from(query)).await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn run(dir: PathBuf, query: PathBuf) -> Result<()> {
    let sql = std::fs::read_to_string(&query)?;
    // The settings segql uses: DataFusion's defaults (one partition per core) with segql's
    // own (partial aggregation skipped sooner).
    let mut config = SessionConfig::new();
    segql_runtime::segql_settings(&mut config);
    let ctx = SessionContext::new_with_config(config);
    for f in segql_compiler::udf::all() {
        ctx.register_udf(f);
    }
    let path = |f: &str| dir.join(f).display().to_string();
    ctx.register_parquet(
        "transactions",
        &path("transactions.parquet"),
        ParquetReadOptions::default(),
    )
    .await?;
    let csv = CsvReadOptions::new()
        .has_header(true)
        .schema_infer_max_records(10_000);
    if dir.join("customers.parquet").exists() {
        ctx.register_parquet(
            "customers",
            &path("customers.parquet"),
            ParquetReadOptions::default(),
        )
        .await?;
    } else {
        ctx.register_csv("customers", &path("customers.csv"), csv.clone())
            .await?;
    }
    ctx.register_csv("communications", &path("communications.csv"), csv)
        .await?;
    let batches = ctx.sql(&sql).await?.collect().await?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let options = FormatOptions::default();
    for b in &batches {
        let columns = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        for i in 0..b.num_rows() {
            let row: Vec<String> = columns.iter().map(|f| f.value(i).to_string()).collect();
            writeln!(out, "{}", row.join("\t"))?;
        }
    }
    out.flush()?;
    Ok(())
}
