//! k-means: Lloyd's iterations from greedy k-means++ seeds (Arthur and Vassilvitskii, 2007;
//! the greedy variant with 2 + ln k candidates per centre, as scikit-learn seeds), the best
//! of `n_init` runs by inertia, clusters numbered by size.

use crate::{Rng, par_chunks};

/// How to fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KMeansOptions {
    /// The number of clusters.
    pub k: usize,
    /// The seed of the random stream (seeding only).
    pub seed: u64,
    /// Independent seedings; the one with the smallest inertia is kept.
    pub n_init: usize,
    /// At most this many Lloyd iterations per run.
    pub max_iter: usize,
    /// Stop when the centroids move less than this, relative to the data's spread: the sum
    /// of their squared shifts at most `tol` times the mean variance of the columns
    /// (scikit-learn's criterion); 0 iterates until no row changes cluster.
    pub tol: f64,
}

impl Default for KMeansOptions {
    fn default() -> Self {
        KMeansOptions {
            k: 8,
            seed: 42,
            n_init: 1,
            max_iter: 300,
            tol: 1e-4,
        }
    }
}

/// A fitted k-means model.
#[derive(Debug, Clone, PartialEq)]
pub struct KMeans {
    /// The centroids, `k` rows of `d` values: cluster 0 is the largest (ties by centroid).
    pub centroids: Vec<Vec<f64>>,
    /// Each row's cluster: its nearest centroid (ties to the lower number).
    pub labels: Vec<usize>,
    /// Rows per cluster.
    pub sizes: Vec<usize>,
    /// The sum of squared distances of rows to their centroid.
    pub inertia: f64,
    /// Lloyd iterations of the kept run.
    pub iterations: usize,
}

/// Squared Euclidean distance, summed left to right.
#[inline]
fn dist2(a: &[f64], b: &[f64]) -> f64 {
    let mut s = 0.0;
    for (x, y) in a.iter().zip(b) {
        let e = x - y;
        s += e * e;
    }
    s
}

/// The nearest of `centroids` (flat, `d` per row) to `x`, ties to the lower number. Four
/// centroids at a time, each distance still summed left to right (the same bits as
/// [`dist2`]): four independent sums keep the processor busy.
#[inline]
fn nearest(x: &[f64], centroids: &[f64], d: usize) -> (usize, f64) {
    let mut best = (0, f64::INFINITY);
    let k = centroids.len() / d;
    let mut c = 0;
    while c + 4 <= k {
        let (c0, c1, c2, c3) = (
            &centroids[c * d..(c + 1) * d],
            &centroids[(c + 1) * d..(c + 2) * d],
            &centroids[(c + 2) * d..(c + 3) * d],
            &centroids[(c + 3) * d..(c + 4) * d],
        );
        let (mut s0, mut s1, mut s2, mut s3) = (0.0, 0.0, 0.0, 0.0);
        for j in 0..d {
            let v = x[j];
            let (e0, e1, e2, e3) = (v - c0[j], v - c1[j], v - c2[j], v - c3[j]);
            s0 += e0 * e0;
            s1 += e1 * e1;
            s2 += e2 * e2;
            s3 += e3 * e3;
        }
        for (i, s) in [s0, s1, s2, s3].into_iter().enumerate() {
            if s < best.1 {
                best = (c + i, s);
            }
        }
        c += 4;
    }
    while c < k {
        let e = dist2(x, &centroids[c * d..(c + 1) * d]);
        if e < best.1 {
            best = (c, e);
        }
        c += 1;
    }
    best
}

impl KMeans {
    /// Fits `opts.k` clusters to `n` rows of `d` values (`data`, row by row). Errors: no
    /// rows, `k` of 0 or more than the rows, values that are not finite.
    pub fn fit(data: &[f64], d: usize, opts: &KMeansOptions) -> Result<KMeans, String> {
        if d == 0 {
            return Err("there are no features".into());
        }
        let n = data.len() / d;
        if opts.k == 0 {
            return Err("k must be at least 1".into());
        }
        if opts.k > n {
            return Err(format!(
                "k = {} is more than the {n} customers to cluster",
                opts.k
            ));
        }
        if let Some(i) = data.iter().position(|x| !x.is_finite()) {
            return Err(format!(
                "row {} holds a value that is not a finite number",
                i / d
            ));
        }
        // The tolerance in the data's units: `tol` times the mean of the columns' variances.
        let mut var = 0.0;
        for j in 0..d {
            let mean = (0..n).map(|i| data[i * d + j]).sum::<f64>() / n as f64;
            var += (0..n)
                .map(|i| (data[i * d + j] - mean).powi(2))
                .sum::<f64>()
                / n as f64;
        }
        let tol = opts.tol * var / d as f64;
        let mut rng = Rng::new(opts.seed);
        let mut best: Option<KMeans> = None;
        for _ in 0..opts.n_init.max(1) {
            let seeds = seed_plus_plus(data, d, opts.k, &mut rng);
            let run = lloyd(data, d, seeds, opts.max_iter, tol);
            if best.as_ref().is_none_or(|b| run.inertia < b.inertia) {
                best = Some(run);
            }
        }
        Ok(best.expect("at least one run").numbered_by_size(data, d))
    }

    /// This fit with its centroids replaced by `centroids` (e.g. rounded for a file): every
    /// row assigned again to its nearest, sizes and inertia computed again; the numbering
    /// and the iterations kept.
    pub fn with_centroids(self, data: &[f64], d: usize, centroids: Vec<Vec<f64>>) -> KMeans {
        let k = centroids.len();
        let (labels, sizes, inertia) = assign(data, d, &centroids.concat(), k);
        KMeans {
            centroids,
            labels,
            sizes,
            inertia,
            iterations: self.iterations,
        }
    }

    /// The same clustering with clusters numbered by size, largest first (ties by the
    /// centroids' values), labels recomputed as the nearest of the renumbered centroids.
    fn numbered_by_size(self, data: &[f64], d: usize) -> KMeans {
        let k = self.centroids.len();
        let mut order: Vec<usize> = (0..k).collect();
        order.sort_by(|&a, &b| {
            self.sizes[b].cmp(&self.sizes[a]).then_with(|| {
                self.centroids[a]
                    .iter()
                    .zip(&self.centroids[b])
                    .map(|(x, y)| x.total_cmp(y))
                    .find(|o| o.is_ne())
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
        });
        let centroids: Vec<Vec<f64>> = order.iter().map(|&i| self.centroids[i].clone()).collect();
        let (labels, sizes, inertia) = assign(data, d, &centroids.concat(), k);
        KMeans {
            centroids,
            labels,
            sizes,
            inertia,
            iterations: self.iterations,
        }
    }
}

/// Each row's nearest centroid, the cluster sizes and the inertia.
fn assign(data: &[f64], d: usize, centroids: &[f64], k: usize) -> (Vec<usize>, Vec<usize>, f64) {
    let n = data.len() / d;
    let parts = par_chunks(n, |a, b| {
        let mut labels = Vec::with_capacity(b - a);
        let mut inertia = 0.0;
        for i in a..b {
            let (c, e) = nearest(&data[i * d..(i + 1) * d], centroids, d);
            labels.push(c);
            inertia += e;
        }
        (labels, inertia)
    });
    let mut labels = Vec::with_capacity(n);
    let mut inertia = 0.0;
    for (l, e) in parts {
        labels.extend(l);
        inertia += e;
    }
    let mut sizes = vec![0; k];
    for &l in &labels {
        sizes[l] += 1;
    }
    (labels, sizes, inertia)
}

/// Greedy k-means++: the first centre a uniform row; each next one the best (smallest
/// potential) of 2 + ln k rows drawn with probability proportional to their squared distance
/// to the nearest centre so far.
fn seed_plus_plus(data: &[f64], d: usize, k: usize, rng: &mut Rng) -> Vec<f64> {
    let n = data.len() / d;
    let trials = 2 + (k as f64).ln() as usize;
    let first = rng.below(n);
    let mut centres: Vec<f64> = data[first * d..(first + 1) * d].to_vec();
    let row = |i: usize| &data[i * d..(i + 1) * d];
    let mut closest: Vec<f64> = par_chunks(n, |a, b| {
        (a..b)
            .map(|i| dist2(row(i), row(first)))
            .collect::<Vec<_>>()
    })
    .concat();
    for _ in 1..k {
        let total: f64 = closest.iter().sum();
        // Candidates by inverse transform sampling over the running sum.
        let mut candidates = Vec::with_capacity(trials);
        for _ in 0..trials {
            let target = rng.next_f64() * total;
            let mut acc = 0.0;
            let mut pick = n - 1;
            for (i, x) in closest.iter().enumerate() {
                acc += x;
                if acc > target {
                    pick = i;
                    break;
                }
            }
            candidates.push(pick);
        }
        let mut best: Option<(f64, usize, Vec<f64>)> = None;
        for &c in &candidates {
            let updated: Vec<f64> = par_chunks(n, |a, b| {
                (a..b)
                    .map(|i| closest[i].min(dist2(row(i), row(c))))
                    .collect::<Vec<_>>()
            })
            .concat();
            let pot: f64 = updated.iter().sum();
            if best.as_ref().is_none_or(|b| pot < b.0) {
                best = Some((pot, c, updated));
            }
        }
        let (_, c, updated) = best.expect("at least one candidate");
        centres.extend_from_slice(row(c));
        closest = updated;
    }
    centres
}

/// Lloyd's iterations from `centres` until no row changes cluster, the centroids' squared
/// shifts sum to at most `tol`, or `max_iter`; a cluster left empty takes the row farthest
/// from its centroid. The rows are then assigned to the last centroids.
fn lloyd(data: &[f64], d: usize, mut centres: Vec<f64>, max_iter: usize, tol: f64) -> KMeans {
    let n = data.len() / d;
    let k = centres.len() / d;
    let mut labels: Vec<usize> = vec![usize::MAX; n];
    let mut iterations = 0;
    loop {
        // Assignment and the per-cluster sums, chunk by chunk.
        let parts = par_chunks(n, |a, b| {
            let mut sums = vec![0.0; k * d];
            let mut counts = vec![0usize; k];
            let mut own = Vec::with_capacity(b - a);
            let mut far = (0usize, -1.0f64);
            for i in a..b {
                let x = &data[i * d..(i + 1) * d];
                let (c, e) = nearest(x, &centres, d);
                own.push(c);
                counts[c] += 1;
                for (s, v) in sums[c * d..(c + 1) * d].iter_mut().zip(x) {
                    *s += v;
                }
                if e > far.1 {
                    far = (i, e);
                }
            }
            (own, sums, counts, far)
        });
        let mut sums = vec![0.0; k * d];
        let mut counts = vec![0usize; k];
        let mut changed = false;
        let mut far = (0usize, -1.0f64);
        let mut at = 0;
        for (own, s, c, f) in parts {
            for (j, l) in own.into_iter().enumerate() {
                if labels[at + j] != l {
                    changed = true;
                    labels[at + j] = l;
                }
            }
            at += c.iter().sum::<usize>();
            for (x, y) in sums.iter_mut().zip(&s) {
                *x += y;
            }
            for (x, y) in counts.iter_mut().zip(&c) {
                *x += y;
            }
            if f.1 > far.1 {
                far = f;
            }
        }
        if !changed || iterations >= max_iter {
            break;
        }
        iterations += 1;
        let mut shift = 0.0;
        for c in 0..k {
            if counts[c] == 0 {
                // An empty cluster restarts at the row farthest from its centroid.
                centres[c * d..(c + 1) * d].copy_from_slice(&data[far.0 * d..(far.0 + 1) * d]);
                shift = f64::INFINITY;
                continue;
            }
            for j in 0..d {
                let new = sums[c * d + j] / counts[c] as f64;
                shift += (new - centres[c * d + j]).powi(2);
                centres[c * d + j] = new;
            }
        }
        if shift <= tol {
            break;
        }
    }
    let centroids: Vec<Vec<f64>> = centres.chunks_exact(d).map(<[f64]>::to_vec).collect();
    let (labels, sizes, inertia) = assign(data, d, &centres, k);
    KMeans {
        centroids,
        labels,
        sizes,
        inertia,
        iterations,
    }
}

/// The mean silhouette coefficient (Rousseeuw, 1987) of `labels` over `sample` rows drawn
/// without replacement with `seed` (all rows when there are fewer), distances Euclidean;
/// rows alone in their cluster count 0, as in scikit-learn's `silhouette_score`. `None` with
/// fewer than two clusters among the rows drawn.
pub fn silhouette(
    data: &[f64],
    d: usize,
    labels: &[usize],
    k: usize,
    sample: usize,
    seed: u64,
) -> Option<f64> {
    let n = data.len() / d;
    let mut idx: Vec<usize> = (0..n).collect();
    if sample < n {
        let mut rng = Rng::new(seed);
        for i in 0..sample {
            let j = i + rng.below(n - i);
            idx.swap(i, j);
        }
        idx.truncate(sample);
        idx.sort_unstable();
    }
    let m = idx.len();
    let mut sizes = vec![0usize; k];
    for &i in &idx {
        sizes[labels[i]] += 1;
    }
    if sizes.iter().filter(|&&s| s > 0).count() < 2 {
        return None;
    }
    let row = |i: usize| &data[i * d..(i + 1) * d];
    let scores: Vec<f64> = par_chunks(m, |a, b| {
        let mut out = 0.0;
        for &i in &idx[a..b] {
            let own = labels[i];
            if sizes[own] < 2 {
                continue;
            }
            let mut sum = vec![0.0; k];
            for &j in &idx {
                sum[labels[j]] += dist2(row(i), row(j)).sqrt();
            }
            let a_i = sum[own] / (sizes[own] - 1) as f64;
            let b_i = (0..k)
                .filter(|&c| c != own && sizes[c] > 0)
                .map(|c| sum[c] / sizes[c] as f64)
                .fold(f64::INFINITY, f64::min);
            let s = if a_i.max(b_i) > 0.0 {
                (b_i - a_i) / a_i.max(b_i)
            } else {
                0.0
            };
            out += s;
        }
        out
    });
    Some(scores.iter().sum::<f64>() / m as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two tight groups far apart on a line: the optimum is the groups' means, by hand.
    #[test]
    fn two_groups_give_their_means() {
        let data = [0.0, 1.0, 2.0, 10.0, 11.0, 12.0, 13.0];
        let m = KMeans::fit(
            &data,
            1,
            &KMeansOptions {
                k: 2,
                ..Default::default()
            },
        )
        .unwrap();
        // The larger group (10..13, mean 11.5) is cluster 0.
        assert_eq!(m.centroids, vec![vec![11.5], vec![1.0]]);
        assert_eq!(m.labels, vec![1, 1, 1, 0, 0, 0, 0]);
        assert_eq!(m.sizes, vec![4, 3]);
        // 2 x 1 (first group) + 2 x 2.25 + 2 x 0.25 (second group).
        assert_eq!(m.inertia, 7.0);
    }

    #[test]
    fn k_larger_than_the_rows_is_refused() {
        let e = KMeans::fit(
            &[1.0, 2.0],
            1,
            &KMeansOptions {
                k: 3,
                ..Default::default()
            },
        );
        assert_eq!(
            e.unwrap_err(),
            "k = 3 is more than the 2 customers to cluster"
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_bits() {
        let mut rng = Rng::new(3);
        let data: Vec<f64> = (0..3 * 20_000).map(|_| rng.next_f64()).collect();
        let opts = KMeansOptions {
            k: 5,
            n_init: 2,
            ..Default::default()
        };
        let a = KMeans::fit(&data, 3, &opts).unwrap();
        let b = KMeans::fit(&data, 3, &opts).unwrap();
        assert_eq!(a, b);
        // Every label is its row's nearest centroid.
        let flat = a.centroids.concat();
        for (i, l) in a.labels.iter().enumerate() {
            assert_eq!(nearest(&data[i * 3..i * 3 + 3], &flat, 3).0, *l);
        }
    }

    /// A small 2-D set against scikit-learn 1.9.1: `KMeans(n_clusters=3, init="k-means++",
    /// n_init=10, random_state=0).fit(X)` gives these centroids (sizes 5, 4, 3), inertia
    /// 11.170833333333333 and `silhouette_score(X, labels)` 0.7217471697965001.
    #[test]
    fn matches_scikit_learn_on_a_small_set() {
        let x = [
            [1.0, 1.0],
            [1.5, 2.0],
            [3.0, 4.0],
            [5.0, 7.0],
            [3.5, 5.0],
            [4.5, 5.0],
            [3.5, 4.5],
            [9.0, 9.5],
            [9.5, 10.0],
            [8.5, 9.0],
            [10.0, 9.0],
            [1.0, 0.5],
        ];
        let data: Vec<f64> = x.concat();
        let opts = KMeansOptions {
            k: 3,
            n_init: 10,
            ..Default::default()
        };
        let m = KMeans::fit(&data, 2, &opts).unwrap();
        let want = [[3.9, 5.1], [9.25, 9.375], [7.0 / 6.0, 7.0 / 6.0]];
        for (c, w) in m.centroids.iter().zip(want) {
            assert!(
                (c[0] - w[0]).abs() < 1e-12 && (c[1] - w[1]).abs() < 1e-12,
                "{c:?}"
            );
        }
        assert_eq!(m.sizes, vec![5, 4, 3]);
        assert_eq!(m.labels, vec![2, 2, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2]);
        assert!(
            (m.inertia - 11.170833333333333).abs() < 1e-9,
            "{}",
            m.inertia
        );
        let s = silhouette(&data, 2, &m.labels, 3, 100, 0).unwrap();
        assert!((s - 0.7217471697965001).abs() < 1e-12, "{s}");
    }

    /// Silhouette of a tiny set by hand: groups {0, 1} and {10, 11}. For 0: a = 1,
    /// b = (10 + 11) / 2 = 10.5, s = 9.5 / 10.5; by symmetry the same for all four.
    #[test]
    fn silhouette_by_hand() {
        let data = [0.0, 1.0, 10.0, 11.0];
        let s = silhouette(&data, 1, &[0, 0, 1, 1], 2, 100, 1).unwrap();
        let by_hand = (9.5 / 10.5 + 8.5 / 9.5 + 8.5 / 9.5 + 9.5 / 10.5) / 4.0;
        assert!((s - by_hand).abs() < 1e-12, "{s} vs {by_hand}");
    }
}
