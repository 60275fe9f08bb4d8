//! Standardising a matrix of features with missing values, and means of its columns by
//! group: the loops over every customer's features between the features plan and a fit.
//!
//! A matrix is row-major, `d` values per row, `None` for a missing value. Every sum runs
//! over the rows in order, so the results do not depend on how the work is split.

/// How a column is transformed before it is standardised (`ln(1 + x)` for money and counts,
/// say); the caller's own function, so the transform has one definition.
pub type Transform = fn(f64) -> f64;

/// True when a spread is within rounding of none: a column with one value.
fn alike(mean: f64, std: f64) -> bool {
    !std.is_finite() || std <= 1e-12 * mean.abs().max(1.0)
}

/// The mean and population standard deviation of the transformed non-missing `values`;
/// `None` when there is none or they are alike (within 1e-12 × max(|mean|, 1)).
pub fn spread(
    values: impl Iterator<Item = Option<f64>> + Clone,
    t: Transform,
) -> Option<(f64, f64)> {
    let (mut sum, mut count) = (0.0, 0usize);
    for x in values.clone().flatten() {
        sum += t(x);
        count += 1;
    }
    if count == 0 {
        return None;
    }
    let mean = sum / count as f64;
    let mut ss = 0.0;
    for x in values.flatten() {
        let e = t(x) - mean;
        ss += e * e;
    }
    let std = (ss / count as f64).sqrt();
    (!alike(mean, std)).then_some((mean, std))
}

/// [`spread`] of every column of the matrix `values` (`d` columns, transformed by `t`), in
/// two passes over the rows.
pub fn spreads(values: &[Option<f64>], d: usize, t: &[Transform]) -> Vec<Option<(f64, f64)>> {
    let mut sum = vec![0.0; d];
    let mut count = vec![0usize; d];
    for row in values.chunks_exact(d.max(1)) {
        for (j, x) in row.iter().enumerate() {
            if let Some(x) = x {
                sum[j] += t[j](*x);
                count[j] += 1;
            }
        }
    }
    let mean: Vec<f64> = (0..d)
        .map(|j| {
            if count[j] > 0 {
                sum[j] / count[j] as f64
            } else {
                0.0
            }
        })
        .collect();
    let mut ss = vec![0.0; d];
    for row in values.chunks_exact(d.max(1)) {
        for (j, x) in row.iter().enumerate() {
            if let Some(x) = x {
                let e = t[j](*x) - mean[j];
                ss[j] += e * e;
            }
        }
    }
    (0..d)
        .map(|j| {
            if count[j] == 0 {
                return None;
            }
            let std = (ss[j] / count[j] as f64).sqrt();
            (!alike(mean[j], std)).then_some((mean[j], std))
        })
        .collect()
}

/// The standardised matrix: `(t(x) - mean) / std` per value with each column's `(mean,
/// std)`, a missing value 0 (the mean).
pub fn standardised(
    values: &[Option<f64>],
    d: usize,
    t: &[Transform],
    scaling: &[(f64, f64)],
) -> Vec<f64> {
    let mut z = Vec::with_capacity(values.len());
    for row in values.chunks_exact(d.max(1)) {
        for (j, x) in row.iter().enumerate() {
            let (mean, std) = scaling[j];
            z.push(match x {
                Some(x) => (t[j](*x) - mean) / std,
                None => 0.0,
            });
        }
    }
    z
}

/// The mean of each column's non-missing values over all rows, and per label (`labels[i]`
/// below `k` for row `i`); `None` where there is no value.
pub fn means_by_label(
    values: &[Option<f64>],
    d: usize,
    labels: &[usize],
    k: usize,
) -> (Vec<Option<f64>>, Vec<Vec<Option<f64>>>) {
    let mut sum = vec![vec![0.0; d]; k];
    let mut count = vec![vec![0usize; d]; k];
    let (mut all_sum, mut all_count) = (vec![0.0; d], vec![0usize; d]);
    for (row, l) in values.chunks_exact(d.max(1)).zip(labels) {
        for (j, x) in row.iter().enumerate() {
            if let Some(x) = x {
                sum[*l][j] += x;
                count[*l][j] += 1;
                all_sum[j] += x;
                all_count[j] += 1;
            }
        }
    }
    let mean = |s: f64, c: usize| (c > 0).then(|| s / c as f64);
    let all = (0..d).map(|j| mean(all_sum[j], all_count[j])).collect();
    let by = (0..k)
        .map(|l| (0..d).map(|j| mean(sum[l][j], count[l][j])).collect())
        .collect();
    (all, by)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log1p(x: f64) -> f64 {
        if x > 0.0 { (1.0 + x).ln() } else { 0.0 }
    }

    /// Two columns by hand: [1, 3, missing] as is has mean 2 and deviation 1; [e - 1, e³ - 1,
    /// 5] by ln(1 + x) is [1, 3, ln 6].
    #[test]
    fn spreads_and_z_by_hand() {
        let e = std::f64::consts::E;
        let values = [
            Some(1.0),
            Some(e - 1.0),
            Some(3.0),
            Some(e * e * e - 1.0),
            None,
            Some(5.0),
        ];
        let t: [Transform; 2] = [|x| x, log1p];
        let s = spreads(&values, 2, &t);
        assert_eq!(s[0], Some((2.0, 1.0)));
        let (m, sd) = s[1].unwrap();
        let logs = [1.0, 3.0, 6f64.ln()];
        let mean = logs.iter().sum::<f64>() / 3.0;
        let var = logs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / 3.0;
        assert!((m - mean).abs() < 1e-12 && (sd - var.sqrt()).abs() < 1e-12);
        // The same as one column at a time.
        assert_eq!(
            s[1],
            spread(values.iter().skip(1).step_by(2).copied(), log1p)
        );
        let z = standardised(&values, 2, &t, &[(2.0, 1.0), (m, sd)]);
        assert_eq!(z[0], -1.0);
        assert_eq!(z[2], 1.0);
        assert_eq!(z[4], 0.0, "a missing value is the mean");
    }

    #[test]
    fn a_column_of_one_value_or_none_has_no_spread() {
        let values = [Some(4.0), None, Some(4.0), None];
        let s = spreads(&values, 2, &[|x| x, |x| x]);
        assert_eq!(s, vec![None, None]);
    }

    #[test]
    fn means_by_label_by_hand() {
        let values = [
            Some(1.0),
            None,
            Some(3.0),
            Some(10.0),
            Some(5.0),
            Some(20.0),
        ];
        let (all, by) = means_by_label(&values, 2, &[0, 1, 1], 3);
        assert_eq!(all, vec![Some(3.0), Some(15.0)]);
        assert_eq!(by[0], vec![Some(1.0), None]);
        assert_eq!(by[1], vec![Some(4.0), Some(15.0)]);
        assert_eq!(by[2], vec![None, None], "an empty label");
    }
}
