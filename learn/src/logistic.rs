//! L2-regularised logistic regression fitted by Newton's method (iteratively reweighted least
//! squares), and what judges a score: the area under the ROC curve ([`auc`]), a customer's
//! held-out fifth ([`held_out`]).
//!
//! The fit minimises
//!
//! ```text
//! -Σ_i [y_i ln p_i + (1 - y_i) ln(1 - p_i)] + λ/2 Σ_j β_j²,   p_i = 1 / (1 + exp(-(β₀ + x_i·β)))
//! ```
//!
//! the intercept β₀ unpenalised: scikit-learn's `LogisticRegression(C = 1/λ)` and R's
//! `glmnet(alpha = 0, lambda = λ/n, standardize = FALSE)`. The objective is strictly convex,
//! so Newton's steps (halved while the objective does not fall) reach its one minimum to
//! machine precision in a few iterations, from zero, with no random draw.

use crate::par_chunks;

/// How to fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogisticOptions {
    /// The L2 penalty λ on the coefficients (not the intercept); positive.
    pub l2: f64,
    /// At most this many Newton steps.
    pub max_iter: usize,
    /// Stop when no parameter moves more than this in a step.
    pub tol: f64,
}

impl Default for LogisticOptions {
    fn default() -> Self {
        LogisticOptions {
            l2: 1.0,
            max_iter: 100,
            tol: 1e-10,
        }
    }
}

/// A fitted model: P(y = 1 | x) = 1 / (1 + exp(-(intercept + x·coefficients))).
#[derive(Debug, Clone, PartialEq)]
pub struct Logistic {
    /// β₀.
    pub intercept: f64,
    /// β, one per column.
    pub coefficients: Vec<f64>,
    /// Newton steps taken.
    pub iterations: usize,
}

/// The logistic function, computed without overflow.
pub fn sigmoid(eta: f64) -> f64 {
    if eta >= 0.0 {
        1.0 / (1.0 + (-eta).exp())
    } else {
        let e = eta.exp();
        e / (1.0 + e)
    }
}

impl Logistic {
    /// The linear predictor of row `x`: intercept, then each term added left to right.
    pub fn eta(&self, x: &[f64]) -> f64 {
        let mut s = self.intercept;
        for (b, v) in self.coefficients.iter().zip(x) {
            s += b * v;
        }
        s
    }

    /// The probability of row `x`.
    pub fn probability(&self, x: &[f64]) -> f64 {
        sigmoid(self.eta(x))
    }

    /// Fits rows `x` (`d` values each, row after row) to labels `y`.
    /// Errors: no rows, labels all equal, λ not positive, a non-finite value.
    pub fn fit(
        x: &[f64],
        d: usize,
        y: &[bool],
        opts: &LogisticOptions,
    ) -> Result<Logistic, String> {
        let n = y.len();
        if n == 0 || x.len() != n * d {
            return Err("no rows to fit".into());
        }
        let positives = y.iter().filter(|v| **v).count();
        if positives == 0 || positives == n {
            return Err(format!(
                "every one of the {n} rows has the same label: there is nothing to tell apart"
            ));
        }
        if !(opts.l2 > 0.0 && opts.l2.is_finite()) {
            return Err("the L2 penalty must be positive".into());
        }
        if x.iter().any(|v| !v.is_finite()) {
            return Err("a value to fit is not a finite number".into());
        }
        let p = d + 1;
        let mut theta = vec![0.0; p];
        let mut obj = objective(x, d, y, &theta, opts.l2);
        let mut iterations = 0;
        for _ in 0..opts.max_iter {
            iterations += 1;
            let (g, h) = gradient_hessian(x, d, y, &theta, opts.l2);
            let step = solve(h, g, p).ok_or("the Newton system is singular")?;
            // Halve the step until the objective falls (Newton's full step almost always does).
            let mut t = 1.0;
            let mut next = theta.clone();
            let mut next_obj = f64::INFINITY;
            for _ in 0..60 {
                for j in 0..p {
                    next[j] = theta[j] - t * step[j];
                }
                next_obj = objective(x, d, y, &next, opts.l2);
                if next_obj <= obj {
                    break;
                }
                t *= 0.5;
            }
            let moved = (0..p)
                .map(|j| (next[j] - theta[j]).abs())
                .fold(0.0, f64::max);
            // No halving lowered the objective (or it is NaN): at the minimum to precision.
            if next_obj.partial_cmp(&obj) == Some(std::cmp::Ordering::Greater) || next_obj.is_nan()
            {
                break;
            }
            theta = next;
            obj = next_obj;
            if moved <= opts.tol {
                break;
            }
        }
        if theta.iter().any(|v| !v.is_finite()) {
            return Err("the fit did not converge to finite coefficients".into());
        }
        Ok(Logistic {
            intercept: theta[0],
            coefficients: theta[1..].to_vec(),
            iterations,
        })
    }
}

/// ln(1 + exp(v)) without overflow.
fn softplus(v: f64) -> f64 {
    if v > 0.0 {
        v + (-v).exp().ln_1p()
    } else {
        v.exp().ln_1p()
    }
}

fn eta_of(row: &[f64], theta: &[f64]) -> f64 {
    let mut s = theta[0];
    for (b, v) in theta[1..].iter().zip(row) {
        s += b * v;
    }
    s
}

/// The penalised negative log-likelihood.
fn objective(x: &[f64], d: usize, y: &[bool], theta: &[f64], l2: f64) -> f64 {
    let parts = par_chunks(y.len(), |a, b| {
        let mut s = 0.0;
        for i in a..b {
            let eta = eta_of(&x[i * d..(i + 1) * d], theta);
            // -ln p = softplus(-eta); -ln(1 - p) = softplus(eta).
            s += if y[i] { softplus(-eta) } else { softplus(eta) };
        }
        s
    });
    let penalty: f64 = theta[1..].iter().map(|b| b * b).sum::<f64>() * l2 / 2.0;
    parts.into_iter().sum::<f64>() + penalty
}

/// The objective's gradient and Hessian (row-major, (d+1)², intercept first).
fn gradient_hessian(
    x: &[f64],
    d: usize,
    y: &[bool],
    theta: &[f64],
    l2: f64,
) -> (Vec<f64>, Vec<f64>) {
    let p = d + 1;
    let parts = par_chunks(y.len(), |a, b| {
        let mut g = vec![0.0; p];
        let mut h = vec![0.0; p * p];
        let mut row = vec![1.0; p];
        for i in a..b {
            row[1..].copy_from_slice(&x[i * d..(i + 1) * d]);
            let pr = sigmoid(eta_of(&row[1..], theta));
            let r = pr - if y[i] { 1.0 } else { 0.0 };
            let w = pr * (1.0 - pr);
            for j in 0..p {
                g[j] += r * row[j];
                let wj = w * row[j];
                for k in j..p {
                    h[j * p + k] += wj * row[k];
                }
            }
        }
        (g, h)
    });
    let mut g = vec![0.0; p];
    let mut h = vec![0.0; p * p];
    for (pg, ph) in parts {
        for j in 0..p {
            g[j] += pg[j];
        }
        for j in 0..p * p {
            h[j] += ph[j];
        }
    }
    for j in 0..p {
        for k in 0..j {
            h[j * p + k] = h[k * p + j];
        }
    }
    for j in 1..p {
        g[j] += l2 * theta[j];
        h[j * p + j] += l2;
    }
    (g, h)
}

/// Solves `a x = b` for a symmetric positive definite `a` (Cholesky); `None` when it is not.
fn solve(mut a: Vec<f64>, mut b: Vec<f64>, n: usize) -> Option<Vec<f64>> {
    for j in 0..n {
        let mut s = a[j * n + j];
        for k in 0..j {
            s -= a[j * n + k] * a[j * n + k];
        }
        if s.is_nan() || s <= 0.0 {
            return None;
        }
        let l = s.sqrt();
        a[j * n + j] = l;
        for i in j + 1..n {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= a[i * n + k] * a[j * n + k];
            }
            a[i * n + j] = s / l;
        }
    }
    for i in 0..n {
        let mut s = b[i];
        for k in 0..i {
            s -= a[i * n + k] * b[k];
        }
        b[i] = s / a[i * n + i];
    }
    for i in (0..n).rev() {
        let mut s = b[i];
        for k in i + 1..n {
            s -= a[k * n + i] * b[k];
        }
        b[i] = s / a[i * n + i];
    }
    Some(b)
}

/// The area under the ROC curve of `scores` for `labels`: the probability that a random
/// positive scores above a random negative, ties counted half (the Mann-Whitney U over the
/// product of the class sizes, from average ranks). `None` without both classes.
pub fn auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let pos = labels.iter().filter(|l| **l).count();
    let neg = labels.len() - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| scores[*a].total_cmp(&scores[*b]));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        // Ranks i+1 ..= j+1 share their average.
        let avg = (i + j + 2) as f64 / 2.0;
        for k in &order[i..=j] {
            if labels[*k] {
                rank_sum += avg;
            }
        }
        i = j + 1;
    }
    let u = rank_sum - (pos * (pos + 1)) as f64 / 2.0;
    Some(u / (pos as f64 * neg as f64))
}

/// FNV-1a, 64 bits.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// True when the customer `id` is in the held-out fifth: FNV-1a (64 bits) of
/// `"segql-score:" + id`, modulo 5, is 0. A function of the id alone, so the split does not
/// depend on the rows' order or on which other customers there are.
pub fn held_out(id: &str) -> bool {
    let mut key = b"segql-score:".to_vec();
    key.extend_from_slice(id.as_bytes());
    fnv1a(&key).is_multiple_of(5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_counts_pairs_and_ties_half() {
        assert_eq!(
            auc(&[0.1, 0.2, 0.3, 0.4], &[false, false, true, true]),
            Some(1.0)
        );
        assert_eq!(
            auc(&[0.4, 0.3, 0.2, 0.1], &[false, false, true, true]),
            Some(0.0)
        );
        // One tie between a positive and a negative: 3 of 4 pairs won, one half.
        let a = auc(&[0.1, 0.5, 0.5, 0.9], &[false, false, true, true]).unwrap();
        assert!((a - 0.875).abs() < 1e-15, "{a}");
        assert_eq!(auc(&[0.1, 0.2], &[true, true]), None);
    }

    #[test]
    fn the_optimum_has_a_zero_gradient_and_halves_are_stable() {
        // Rows with some overlap between the classes.
        let x: Vec<f64> = (0..40)
            .map(|i| ((i * 37) % 17) as f64 / 4.0 - 2.0)
            .collect();
        let y: Vec<bool> = (0..20).map(|i| (i * 7) % 5 < 2 || x[2 * i] > 1.0).collect();
        let m = Logistic::fit(&x, 2, &y, &LogisticOptions::default()).unwrap();
        let theta: Vec<f64> = std::iter::once(m.intercept)
            .chain(m.coefficients.iter().copied())
            .collect();
        let (g, _) = gradient_hessian(&x, 2, &y, &theta, 1.0);
        assert!(g.iter().all(|v| v.abs() < 1e-9), "{g:?}");
        assert!(m.iterations < 20);
        // The same input gives the same bits.
        assert_eq!(
            m,
            Logistic::fit(&x, 2, &y, &LogisticOptions::default()).unwrap()
        );
    }

    #[test]
    fn matches_scikit_learn_with_the_same_penalty() {
        // scikit-learn 1.9.1:
        //   X = [[((i*7)%11-5)/2, ((i*5)%9-4)/3, ((i*3)%7-3)/1.5] for i in range(24)]
        //   y = [1 if (i*13)%10 < 4 or X[i][0] > 1.5 else 0 for i in range(24)]
        //   LogisticRegression(C=1.0, solver='newton-cholesky', tol=1e-14).fit(X, y)
        // (C = 1/λ; the intercept is not penalised), intercept_ and coef_:
        let sklearn = [
            -0.010165915505618111,
            0.5495176438151672,
            -0.4420136319776191,
            -0.7160884870850648,
        ];
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..24i64 {
            let row = [
                ((i * 7) % 11 - 5) as f64 / 2.0,
                ((i * 5) % 9 - 4) as f64 / 3.0,
                ((i * 3) % 7 - 3) as f64 / 1.5,
            ];
            y.push((i * 13) % 10 < 4 || row[0] > 1.5);
            x.extend(row);
        }
        assert_eq!(y.iter().filter(|v| **v).count(), 12);
        let m = Logistic::fit(&x, 3, &y, &LogisticOptions::default()).unwrap();
        let ours = [
            m.intercept,
            m.coefficients[0],
            m.coefficients[1],
            m.coefficients[2],
        ];
        for (a, b) in ours.iter().zip(sklearn) {
            assert!((a - b).abs() < 1e-9, "{ours:?} against {sklearn:?}");
        }
    }

    #[test]
    fn one_class_is_refused() {
        assert!(Logistic::fit(&[1.0, 2.0], 1, &[true, true], &LogisticOptions::default()).is_err());
    }

    #[test]
    fn the_split_holds_out_about_a_fifth() {
        let n = 100_000;
        let k = (0..n).filter(|i| held_out(&i.to_string())).count();
        assert!((k as f64 / n as f64 - 0.2).abs() < 0.005, "{k}");
        assert_eq!(held_out("C000123"), held_out("C000123"));
    }
}
