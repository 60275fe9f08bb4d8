//! Model fitting for segql, in plain Rust with no dependencies: k-means with greedy
//! k-means++ seeding ([`kmeans`]), the silhouette coefficient, L2-regularised logistic
//! regression by Newton's method with the AUC ([`logistic`]), standardising a matrix of
//! features with missing values ([`scale`]), and a seeded generator ([`Rng`]).
//!
//! Every result is a function of the data and the seed alone: work is split into fixed
//! chunks of rows whose partial sums are added in chunk order, whatever the number of
//! threads, so the same input gives the same bits.

pub mod kmeans;
pub mod logistic;
pub mod scale;

pub use kmeans::{KMeans, KMeansOptions, silhouette};
pub use logistic::{Logistic, LogisticOptions};

/// SplitMix64 (Steele, Lea and Flood, 2014): a small, fast, well-mixed 64-bit generator; the
/// stream is fixed by the seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform number in [0, 1) with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform index below `n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }
}

/// Rows per chunk of parallel work; fixed, so results do not depend on the thread count.
pub const CHUNK_ROWS: usize = 8192;

/// `f` over the chunks of `n` rows (`f(start, end)`), on the machine's threads; the results
/// in chunk order.
pub(crate) fn par_chunks<R: Send>(n: usize, f: impl Fn(usize, usize) -> R + Sync) -> Vec<R> {
    let chunks = n.div_ceil(CHUNK_ROWS);
    let threads = std::thread::available_parallelism()
        .map(|t| t.get())
        .unwrap_or(1)
        .min(chunks.max(1));
    if threads <= 1 {
        return (0..chunks)
            .map(|c| f(c * CHUNK_ROWS, ((c + 1) * CHUNK_ROWS).min(n)))
            .collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut parts: Vec<(usize, R)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let c = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if c >= chunks {
                            break;
                        }
                        mine.push((c, f(c * CHUNK_ROWS, ((c + 1) * CHUNK_ROWS).min(n))));
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a worker thread panicked"))
            .collect()
    });
    parts.sort_by_key(|(c, _)| *c);
    parts.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_is_splitmix64() {
        // The first outputs of SplitMix64 seeded with 0 (the reference C implementation,
        // https://prng.di.unimi.it/splitmix64.c).
        let mut r = Rng::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        let mut r = Rng::new(7);
        for _ in 0..1000 {
            let x = r.next_f64();
            assert!((0.0..1.0).contains(&x));
            assert!(r.below(5) < 5);
        }
    }

    #[test]
    fn chunks_come_back_in_order() {
        let n = CHUNK_ROWS * 3 + 5;
        let parts = par_chunks(n, |a, b| (a, b));
        assert_eq!(parts.len(), 4);
        assert_eq!(parts[0], (0, CHUNK_ROWS));
        assert_eq!(parts[3], (CHUNK_ROWS * 3, n));
    }
}
