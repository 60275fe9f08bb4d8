//! Look-alikes outside the plan: the same ranking `lookalike(SEGMENT, N)` computes
//! (`segql_compiler::lower` module `lookalike`), from the features in memory ([`rank`]), and
//! `segql lookalike check` ([`check`]): a share of the segment's members hidden from it,
//! how many of them its look-alike finds.

use super::{Features, features, lookalike_feature_set};
use crate::engine::Engine;
use crate::error::RuntimeError;
use chrono::NaiveDate;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use segql_compiler::ir::Pred;
use segql_compiler::lower::{CONSTANT, SPREAD_FLOOR, lower_segment};
use segql_compiler::models::pairwise_sum;
use std::collections::HashSet;

/// The salt of the hash that picks the hidden members (`holdout_bucket(SALT, id)`).
pub const HIDE_SALT: &str = "lookalike check";

/// The candidates of a look-alike whose seeds are the customers `seeds` marks (rows of
/// `f`), nearest first, ties by row (the customers' order): each candidate's row and
/// distance. The plan's formulas; its averages and deviations sum in another order, so a
/// distance may differ in the last bits.
pub fn rank(f: &Features, seeds: &[bool]) -> Vec<(usize, f64)> {
    let d = f.features.len();
    let n = f.ids.len();
    let mut z = vec![0.0f64; n * d];
    for (j, feat) in f.features.iter().enumerate() {
        let t: Vec<Option<f64>> = (0..n)
            .map(|i| f.values[i * d + j].map(|x| feat.transform.apply(x)))
            .collect();
        let known: Vec<f64> = t.iter().flatten().copied().collect();
        let (m, sd) = mean_std(&known);
        for i in 0..n {
            z[i * d + j] = match (t[i], sd) {
                (Some(x), Some(sd)) if sd > CONSTANT * m.abs().max(1.0) => (x - m) / sd,
                _ => 0.0,
            };
        }
    }
    let mut centre = Vec::with_capacity(d);
    for j in 0..d {
        let of_seeds: Vec<f64> = (0..n).filter(|i| seeds[*i]).map(|i| z[i * d + j]).collect();
        let (m, sd) = mean_std(&of_seeds);
        if of_seeds.is_empty() {
            return Vec::new();
        }
        centre.push((m, sd.unwrap_or(0.0).max(SPREAD_FLOOR)));
    }
    let mut out: Vec<(usize, f64)> = (0..n)
        .filter(|i| !seeds[*i])
        .map(|i| {
            let squares: Vec<f64> = centre
                .iter()
                .enumerate()
                .map(|(j, (m, s))| {
                    let e = (z[i * d + j] - m) / s;
                    e * e
                })
                .collect();
            (i, pairwise_sum(&squares))
        })
        .collect();
    out.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    out
}

/// The mean and population standard deviation of `xs` (none for no values).
fn mean_std(xs: &[f64]) -> (f64, Option<f64>) {
    if xs.is_empty() {
        return (0.0, None);
    }
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    let v = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n;
    (m, Some(v.sqrt()))
}

/// The outcome of [`check`].
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// The segment.
    pub segment: String,
    /// The date.
    pub as_of: NaiveDate,
    /// Its members with a purchase (the others are never in a look-alike).
    pub members: usize,
    /// Members hidden from the seeds.
    pub hidden: usize,
    /// Customers with a purchase outside the seeds (the hidden ones among them).
    pub candidates: usize,
    /// One row per size of the look-alike.
    pub rows: Vec<Recall>,
}

/// How many hidden members the first `top` candidates hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Recall {
    /// The look-alike's size.
    pub top: usize,
    /// Hidden members in it.
    pub found: usize,
    /// `found / hidden`.
    pub recall: f64,
    /// The recall a random pick of `top` candidates has on average: `top / candidates`.
    pub random: f64,
}

/// Hides the members of `pred` (with a purchase) whose bucket (`holdout_bucket(HIDE_SALT,
/// id)`, 0 to 9,999) is below `hide_bp`, takes the others as seeds and reports how many
/// hidden members the look-alike's first N candidates hold, for N in `tops` (default: 1, 2,
/// 5 and 10 times the hidden members).
pub async fn check(
    engine: &mut Engine,
    segment: &str,
    pred: &Pred,
    hide_bp: u64,
    tops: &[usize],
) -> Result<Check, RuntimeError> {
    let set = match engine.catalog.features.clone() {
        Some(s) => s,
        None => {
            let s = lookalike_feature_set(engine).await?;
            engine.catalog.features = Some(s.clone());
            s
        }
    };
    let f = features(engine, &set, None).await?;
    let plan = engine
        .compile(|c| lower_segment(c, pred).and_then(|q| q.sorted()))
        .await?
        .map_err(|e| RuntimeError::data("planning the segment", e))?;
    let batches = engine.collect(plan).await?;
    let mut members = HashSet::new();
    for b in &batches {
        let id = cast(b.column(0), &DataType::Utf8)
            .map_err(|e| RuntimeError::data("reading the members", e.into()))?;
        let id = id.as_string::<i32>();
        members.extend(
            (0..id.len())
                .filter(|i| id.is_valid(*i))
                .map(|i| id.value(i).to_string()),
        );
    }
    let hidden: Vec<bool> = f
        .ids
        .iter()
        .map(|id| {
            members.contains(id) && segql_compiler::udf::holdout_bucket(HIDE_SALT, id) < hide_bp
        })
        .collect();
    let seeds: Vec<bool> = f
        .ids
        .iter()
        .zip(&hidden)
        .map(|(id, h)| members.contains(id) && !h)
        .collect();
    let in_population = f.ids.iter().filter(|id| members.contains(*id)).count();
    let n_hidden = hidden.iter().filter(|h| **h).count();
    let n_seeds = seeds.iter().filter(|s| **s).count();
    if n_hidden == 0 || n_seeds == 0 {
        return Err(RuntimeError::Model {
            message: format!(
                "`{segment}` has {in_population} members with a purchase as of {}: too few to hide {}% of them and keep the others as seeds",
                engine.catalog.as_of,
                hide_bp as f64 / 100.0
            ),
            help: Some("check a larger segment, or another --hide share".into()),
        });
    }
    let ranking = rank(&f, &seeds);
    let candidates = ranking.len();
    let tops: Vec<usize> = if tops.is_empty() {
        [1, 2, 5, 10].iter().map(|k| k * n_hidden).collect()
    } else {
        tops.to_vec()
    };
    let rows = tops
        .into_iter()
        .map(|top| {
            let top = top.min(candidates);
            let found = ranking[..top].iter().filter(|(i, _)| hidden[*i]).count();
            Recall {
                top,
                found,
                recall: found as f64 / n_hidden as f64,
                random: top as f64 / candidates as f64,
            }
        })
        .collect();
    Ok(Check {
        segment: segment.to_string(),
        as_of: engine.catalog.as_of,
        members: in_population,
        hidden: n_hidden,
        candidates,
        rows,
    })
}
