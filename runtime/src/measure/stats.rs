//! Statistics for measuring a campaign's test group (offered) against its held-out control
//! group: intervals and tests for rates and means, the sample-ratio check and minimum detectable
//! effects. Pure functions over counts and summaries; each returns `None` where its inputs leave
//! the figure undefined (no members, a count above its total, a level outside (0, 1)).
//!
//! `level` is always a two-sided confidence level such as 0.95, and `z` below stands for the
//! standard normal quantile at (1 + level) / 2. Distributions come from `statrs`.

use statrs::distribution::{ChiSquared, ContinuousCDF, Normal, StudentsT};

/// Significance level below which the group sizes are called a sample-ratio mismatch (SRM).
///
/// Strict on purpose, as is usual in experimentation platforms: the check runs on every test,
/// so a lenient level would raise false alarms routinely, while a real assignment fault (members
/// lost or duplicated on one side) gives p-values far below it.
pub const SRM_ALPHA: f64 = 0.001;

/// A confidence interval from `low` to `high`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

impl Interval {
    const fn new(low: f64, high: f64) -> Self {
        Self { low, high }
    }
}

/// Quantile (inverse CDF) of the standard normal distribution at `p`; `None` unless 0 < p < 1.
pub fn normal_quantile(p: f64) -> Option<f64> {
    (p > 0.0 && p < 1.0).then(|| Normal::standard().inverse_cdf(p))
}

/// The two-sided critical value z for `level`.
fn critical_z(level: f64) -> Option<f64> {
    if level > 0.0 && level < 1.0 {
        normal_quantile(0.5 + level / 2.0)
    } else {
        None
    }
}

/// The proportion x / n, or `None` when n = 0 or x > n.
fn proportion(x: u64, n: u64) -> Option<f64> {
    (n > 0 && x <= n).then(|| x as f64 / n as f64)
}

/// Degrees of freedom from which Student's t is computed from its Cornish–Fisher expansion
/// around the normal (Abramowitz & Stegun 26.7.5, to 1/df⁴), exact to double precision there.
/// statrs computes t through the incomplete beta function, which degrades as df grows (its
/// quantile is off by 4e-6 at 1e5 df and by 7% at 1e7, its tail by 2e-3 at 1e12) or hangs.
const LARGE_DF: f64 = 1e4;

/// The quantile of Student's t with `df` degrees of freedom at the normal quantile `z`.
fn t_from_z(z: f64, df: f64) -> f64 {
    let z2 = z * z;
    let g1 = (z2 + 1.0) * z / 4.0;
    let g2 = ((5.0 * z2 + 16.0) * z2 + 3.0) * z / 96.0;
    let g3 = (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) * z / 384.0;
    let g4 = ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) * z / 92160.0;
    z + (g1 + (g2 + (g3 + g4 / df) / df) / df) / df
}

/// Quantile of Student's t with `df` degrees of freedom at `p` in (0, 1).
fn t_quantile(p: f64, df: f64) -> Option<f64> {
    if df >= LARGE_DF {
        return Some(t_from_z(normal_quantile(p)?, df));
    }
    (p > 0.0 && p < 1.0).then_some(StudentsT::new(0.0, 1.0, df).ok()?.inverse_cdf(p))
}

/// Two-sided p-value 2·P(T > |t|) of Student's t with `df` degrees of freedom.
fn t_p_value(t: f64, df: f64) -> Option<f64> {
    if df < LARGE_DF {
        return Some((2.0 * StudentsT::new(0.0, 1.0, df).ok()?.sf(t.abs())).min(1.0));
    }
    // The normal deviate with the same tail solves t_from_z(z) = |t|; fixed-point iteration
    // contracts there (beyond |t| = 40 the p-value is below 1e-300 and taken as that of 40).
    let t = t.abs().min(40.0);
    let mut z = t;
    for _ in 0..100 {
        let next = z + (t - t_from_z(z, df));
        if next == z {
            break;
        }
        z = next;
    }
    Some((2.0 * Normal::standard().sf(z)).min(1.0))
}

/// Wilson score interval for one proportion x / n: the p whose score statistic
/// |x/n - p| / sqrt(p(1-p)/n) is at most z, i.e. (x + z²/2 ± z·sqrt(x(n-x)/n + z²/4)) / (n + z²).
/// Its end is exactly 0 when x = 0 and exactly 1 when x = n.
pub fn wilson(successes: u64, trials: u64, level: f64) -> Option<Interval> {
    proportion(successes, trials)?;
    let z = critical_z(level)?;
    let (x, n, z2) = (successes as f64, trials as f64, z * z);
    let center = (x + z2 / 2.0) / (n + z2);
    let half = z / (n + z2) * (x * (n - x) / n + z2 / 4.0).sqrt();
    let low = if x == 0.0 { 0.0 } else { center - half };
    Some(Interval::new(low, if x == n { 1.0 } else { center + half }))
}

/// Newcombe's hybrid score interval (Newcombe 1998, method 10) for the difference p_t - p_c.
///
/// With Wilson intervals (l_t, u_t) and (l_c, u_c) for the two rates and d = p_t - p_c, the
/// interval is d - sqrt((p_t - l_t)² + (u_c - p_c)²) to d + sqrt((u_t - p_t)² + (p_c - l_c)²).
pub fn newcombe_difference(x_t: u64, n_t: u64, x_c: u64, n_c: u64, level: f64) -> Option<Interval> {
    let (t, c) = (wilson(x_t, n_t, level)?, wilson(x_c, n_c, level)?);
    let (p_t, p_c) = (proportion(x_t, n_t)?, proportion(x_c, n_c)?);
    let d = p_t - p_c;
    let low = d - (p_t - t.low).hypot(c.high - p_c);
    Some(Interval::new(low, d + (t.high - p_t).hypot(p_c - c.low)))
}

/// Two-sided p-value of the pooled two-proportion z test (the same as Pearson's chi-square test
/// of the 2×2 table without continuity correction): z = (p_t - p_c) / sqrt(p(1-p)(1/n_t + 1/n_c))
/// with p the pooled rate, p-value 2·(1 - Φ(|z|)). When both rates are 0 or both are 1 the pooled
/// variance is 0 and there is no evidence of a difference: the p-value is 1.
pub fn two_proportion_p_value(x_t: u64, n_t: u64, x_c: u64, n_c: u64) -> Option<f64> {
    let (p_t, p_c) = (proportion(x_t, n_t)?, proportion(x_c, n_c)?);
    let (n_t, n_c) = (n_t as f64, n_c as f64);
    let pooled = (x_t as f64 + x_c as f64) / (n_t + n_c);
    let variance = pooled * (1.0 - pooled) * (1.0 / n_t + 1.0 / n_c);
    if variance <= 0.0 {
        return Some(1.0);
    }
    let z = (p_t - p_c) / variance.sqrt();
    Some((2.0 * Normal::standard().sf(z.abs())).min(1.0))
}

/// Interval for the relative uplift p_t / p_c - 1 from the Katz log risk-ratio interval:
/// exp(ln(p_t / p_c) ± z·sqrt(1/x_t - 1/n_t + 1/x_c - 1/n_c)) - 1. `None` when x_t or x_c is 0
/// (the log ratio or its variance is then undefined) or a group is empty.
pub fn relative_interval(x_t: u64, n_t: u64, x_c: u64, n_c: u64, level: f64) -> Option<Interval> {
    let (p_t, p_c) = (proportion(x_t, n_t)?, proportion(x_c, n_c)?);
    if x_t == 0 || x_c == 0 {
        return None;
    }
    let z = critical_z(level)?;
    let [x_t, n_t, x_c, n_c] = [x_t, n_t, x_c, n_c].map(|v| v as f64);
    let variance = (1.0 / x_t - 1.0 / n_t + 1.0 / x_c - 1.0 / n_c).max(0.0);
    let (log_ratio, half) = (p_t.ln() - p_c.ln(), z * variance.sqrt());
    let (low, high) = (log_ratio - half, log_ratio + half);
    Some(Interval::new(low.exp_m1(), high.exp_m1()))
}

/// Count, mean and sample variance of one group's values, accumulated with Welford's algorithm
/// (a running mean and sum of squared deviations, numerically stable for large offsets).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Summary {
    n: u64,
    mean: f64,
    /// Sum of squared deviations from the mean.
    m2: f64,
}

impl Summary {
    /// The summary of `values`.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Self {
        let mut summary = Self::default();
        values.into_iter().for_each(|x| summary.push(x));
        summary
    }

    /// A summary from figures computed elsewhere (e.g. SQL `COUNT`, `AVG`, `VAR_SAMP`); the
    /// variance is ignored below two values. `None` for a non-finite mean or a negative or
    /// non-finite variance.
    pub fn from_moments(n: u64, mean: f64, variance: f64) -> Option<Self> {
        let (mean, variance) = match n {
            0 => (0.0, 0.0),
            1 => (mean, 0.0),
            _ => (mean, variance),
        };
        let m2 = variance * n.saturating_sub(1) as f64;
        let valid = mean.is_finite() && variance.is_finite() && variance >= 0.0;
        valid.then_some(Self { n, mean, m2 })
    }

    /// Adds one value: n += 1, mean += (x - mean) / n, m2 += (x - old mean)(x - new mean).
    /// A NaN or infinite value makes the summary non-finite, and [`welch`] then gives `None`.
    pub fn push(&mut self, x: f64) {
        self.n += 1;
        let delta = x - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (x - self.mean);
    }

    /// Number of values.
    pub fn n(&self) -> u64 {
        self.n
    }

    /// Arithmetic mean; `None` when empty.
    pub fn mean(&self) -> Option<f64> {
        (self.n > 0).then_some(self.mean)
    }

    /// Sample variance, with divisor n - 1; `None` below two values.
    pub fn variance(&self) -> Option<f64> {
        (self.n > 1).then(|| self.m2 / (self.n - 1) as f64)
    }
}

/// Result of Welch's t test for a difference of means.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Welch {
    /// mean_t - mean_c.
    pub difference: f64,
    pub interval: Interval,
    /// Welch–Satterthwaite degrees of freedom.
    pub df: f64,
    /// Two-sided p-value.
    pub p_value: f64,
}

/// Welch's unequal-variance t interval and two-sided p-value for mean_t - mean_c.
///
/// With se² = s_t²/n_t + s_c²/n_c, the interval is d ± t_{(1+level)/2, df}·se and the p-value
/// 2·P(T_df > |d| / se), with Welch–Satterthwaite df = se⁴ / ((s_t²/n_t)²/(n_t-1) +
/// (s_c²/n_c)²/(n_c-1)). `None` when a group has fewer than two values. When both variances
/// are 0 the difference is exact: the interval is [d, d], the p-value 1 if d = 0 and 0
/// otherwise, and df is reported as n_t + n_c - 2 (the bound Welch–Satterthwaite never exceeds).
pub fn welch(test: &Summary, control: &Summary, level: f64) -> Option<Welch> {
    if !(level > 0.0 && level < 1.0) {
        return None;
    }
    let (v_t, v_c) = (test.variance()?, control.variance()?);
    let (n_t, n_c) = (test.n as f64, control.n as f64);
    let difference = test.mean - control.mean;
    let (a, b) = (v_t / n_t, v_c / n_c);
    let se2 = a + b;
    if !(difference.is_finite() && se2.is_finite()) {
        return None;
    }
    if se2 == 0.0 {
        let (interval, df) = (Interval::new(difference, difference), n_t + n_c - 2.0);
        let p_value = if difference == 0.0 { 1.0 } else { 0.0 };
        return Some(Welch {
            difference,
            interval,
            df,
            p_value,
        });
    }
    // The shares of se² keep the squares from underflowing for tiny variances.
    let (w_t, w_c) = (a / se2, b / se2);
    let df = 1.0 / (w_t * w_t / (n_t - 1.0) + w_c * w_c / (n_c - 1.0));
    let se = se2.sqrt();
    let half = t_quantile(0.5 + level / 2.0, df)? * se;
    Some(Welch {
        difference,
        interval: Interval::new(difference - half, difference + half),
        df,
        p_value: t_p_value(difference / se, df)?,
    })
}

/// Result of the sample-ratio check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleRatio {
    pub expected_control_share: f64,
    pub observed_control_share: f64,
    pub chi_square: f64,
    pub p_value: f64,
}

/// Chi-square goodness-of-fit test (1 degree of freedom) of the group sizes against the
/// configured control share s: with n = n_t + n_c, the statistic is
/// (n_c - ns)²/(ns) + (n_t - n(1-s))²/(n(1-s)) and the p-value its upper chi-square tail.
/// Compare the p-value with [`SRM_ALPHA`]. `None` unless 0 < s < 1 and n > 0.
pub fn sample_ratio(n_t: u64, n_c: u64, control_share: f64) -> Option<SampleRatio> {
    let n = n_t as f64 + n_c as f64;
    if !(control_share > 0.0 && control_share < 1.0) || n == 0.0 {
        return None;
    }
    let (e_c, e_t) = (n * control_share, n * (1.0 - control_share));
    let chi_square = (n_c as f64 - e_c).powi(2) / e_c + (n_t as f64 - e_t).powi(2) / e_t;
    Some(SampleRatio {
        expected_control_share: control_share,
        observed_control_share: n_c as f64 / n,
        chi_square,
        p_value: ChiSquared::new(1.0).ok()?.sf(chi_square),
    })
}

/// Minimum detectable absolute difference in proportions for a two-sided test at `alpha` with
/// the given `power` (normal approximation):
/// (z_{1-alpha/2} + z_power)·sqrt(p(1-p)(1/n_t + 1/n_c)), with p = `p_control`, the control's
/// (or a planned baseline) rate, taken for both groups.
/// `None` unless 0 < p_control < 1 (a rate of 0 or 1 has no variance to plan with), both groups
/// have members, 0 < alpha < 1 and alpha/2 < power < 1. As usual the opposite tail is ignored (the
/// exact two-sided power at the result exceeds `power` by about 1e-6 at alpha 0.05, power 0.8).
pub fn mde_proportion(p_control: f64, n_t: u64, n_c: u64, alpha: f64, power: f64) -> Option<f64> {
    if !(p_control > 0.0 && p_control < 1.0) {
        return None;
    }
    let sd = (p_control * (1.0 - p_control)).sqrt();
    mde_mean(sd, n_t, n_c, alpha, power)
}

/// Minimum detectable difference of means with a common standard deviation `sd` (normal
/// approximation): (z_{1-alpha/2} + z_power)·sd·sqrt(1/n_t + 1/n_c). `None` unless sd is finite
/// and positive, both groups have members, 0 < alpha < 1 and alpha/2 < power < 1.
pub fn mde_mean(sd: f64, n_t: u64, n_c: u64, alpha: f64, power: f64) -> Option<f64> {
    if !(sd.is_finite() && sd > 0.0 && n_t > 0 && n_c > 0 && alpha > 0.0 && alpha < 1.0) {
        return None;
    }
    let z = normal_quantile(1.0 - alpha / 2.0)? + normal_quantile(power)?;
    (z > 0.0).then(|| z * sd * (1.0 / n_t as f64 + 1.0 / n_c as f64).sqrt())
}

#[cfg(test)]
mod tests {
    //! Reference values were computed with Python 3.11.7, scipy 1.17.1, statsmodels 0.15.0 and
    //! numpy 2.4.6 and printed with `repr`; each table names its call. Tolerances are relative;
    //! p-values get 1e-9 because statrs's normal tail (erfc) is accurate to about 1e-10.
    use super::*;

    #[track_caller]
    fn close(actual: f64, expected: f64, rel: f64) {
        let ok = (actual - expected).abs() <= rel * expected.abs().max(1e-300);
        assert!(ok, "{actual} is not within {rel} (relative) of {expected}");
    }

    #[track_caller]
    fn check(actual: Option<Interval>, low: f64, high: f64, rel: f64) {
        let actual = actual.expect("an interval");
        close(actual.low, low, rel);
        close(actual.high, high, rel);
    }

    #[test]
    fn normal_and_t_quantiles_and_tails_match_scipy() {
        // scipy.stats.norm.ppf(p)
        close(normal_quantile(0.975).unwrap(), 1.959963984540054, 1e-14);
        close(normal_quantile(1e-10).unwrap(), -6.361340902404056, 1e-14);
        assert_eq!(normal_quantile(0.5), Some(0.0));
        assert!(normal_quantile(0.0).is_none() && normal_quantile(1.0).is_none());
        // df, scipy.stats.t.ppf(0.975, df), t.ppf(0.9995, df), 2 * t.sf(2, df), 2 * t.sf(6, df).
        // statrs's own t quantile is off by 4e-6 at 1e5 df and by 7% at 1e7.
        #[rustfmt::skip]
        let table = [
            (3.5, 2.9400886379827282, 10.20482863165621, 0.12613852257591343, 0.005888952644915644),
            (30.0, 2.0422724563012378, 3.6459586350420627, 0.054625044962983094, 1.3942768767204764e-06),
            (9999.0, 1.960201263621357, 3.291500063300963, 0.0455272633615101, 2.0416254188515925e-09),
            (1e4, 1.960201239890626, 3.2914999659416355, 0.04552726066143543, 2.0416184729226213e-09),
            (1e5, 1.9599877075346095, 3.2906240314119137, 0.04550296345750651, 1.9799294556017718e-09),
            (1e7, 1.959964221767205, 3.2905277044652532, 0.04550029089184296, 1.973242733367782e-09),
            (1e9, 1.959963986912325, 3.2905267412216563, 0.045500264166313246, 1.9731759644984813e-09),
            (1e12, 1.9599639845424262, 3.2905267315016555, 0.04550026389662835, 1.9731752907498218e-09),
        ];
        for (df, q975, q9995, p2, p6) in table {
            close(t_quantile(0.975, df).unwrap(), q975, 1e-11);
            close(t_quantile(0.9995, df).unwrap(), q9995, 1e-11);
            close(t_p_value(-2.0, df).unwrap(), p2, 1e-9);
            close(t_p_value(6.0, df).unwrap(), p6, 1e-9);
        }
        assert!(t_p_value(1e6, 1e6).unwrap() < 1e-300);
        assert_eq!(t_p_value(0.0, 1e6), Some(1.0));
    }

    #[test]
    fn wilson_matches_statsmodels() {
        // x, n, level, statsmodels proportion_confint(x, n, alpha=1 - level, method='wilson')
        #[rustfmt::skip]
        let table = [
            (7, 10, 0.95, 0.39677814746114537, 0.8922087325936989),
            (81, 263, 0.90, 0.2633136171884814, 0.35656634960848815),
            (1_234_567, 98_765_432, 0.99, 0.012471227232503428, 0.012528820041363325),
            (0, 20, 0.95, 0.0, 0.16112515805281938),
            (20, 20, 0.95, 0.8388748419471806, 1.0),
            (0, 1, 0.95, 0.0, 0.7934506856227626),
        ];
        for (x, n, level, low, high) in table {
            check(wilson(x, n, level), low, high, 1e-11);
        }
        // The ends at 0/n and n/n are exact.
        assert_eq!(wilson(0, 20, 0.95).unwrap().low, 0.0);
        assert_eq!(wilson(20, 20, 0.95).unwrap().high, 1.0);
        #[rustfmt::skip]
        let undefined = [(0, 0, 0.95), (3, 2, 0.95), (1, 2, 0.0), (1, 2, 1.0), (1, 2, f64::NAN)];
        for (x, n, level) in undefined {
            assert_eq!(wilson(x, n, level), None);
        }
    }

    #[test]
    fn newcombe_reproduces_the_paper_and_statsmodels() {
        // Newcombe (1998), Stat. Med. 17:873-890, Table II, method 10, published to 4 decimals:
        // 56/70 - 48/80 (difference 0.2000): 0.0524 to 0.3339; 9/10 - 3/10: 0.1705 to 0.8090;
        // 10/10 - 0/20: 0.6791 to 1.0000. statsmodels agrees with all three to those decimals.
        #[rustfmt::skip]
        let paper = [
            (56, 70, 48, 80, 0.0524, 0.3339), (9, 10, 3, 10, 0.1705, 0.8090), (10, 10, 0, 20, 0.6791, 1.0),
        ];
        for (x_t, n_t, x_c, n_c, low, high) in paper {
            let ci = newcombe_difference(x_t, n_t, x_c, n_c, 0.95).unwrap();
            assert!((ci.low - low).abs() < 5e-5 && (ci.high - high).abs() < 5e-5);
        }
        // statsmodels confint_proportions_2indep(x_t, n_t, x_c, n_c, method='newcomb',
        // compare='diff', alpha=1 - level)
        #[rustfmt::skip]
        let table = [
            (56, 70, 48, 80, 0.95, 0.05243147240236498, 0.333872654036906),
            (9, 10, 3, 10, 0.95, 0.17052272393450302, 0.8090179735354881),
            (10, 10, 0, 20, 0.95, 0.6790860371419147, 1.0),
            (0, 10, 0, 20, 0.95, -0.16112515805281938, 0.2775327998628892),
            (1234, 50_000, 1100, 50_000, 0.90, 0.0011095270563931546, 0.00425231122020143),
            (5_000_000, 100_000_000, 4_990_000, 100_000_000, 0.95,
             3.96184782733184e-05, 0.000160381539481368),
        ];
        for (x_t, n_t, x_c, n_c, level, low, high) in table {
            let ci = newcombe_difference(x_t, n_t, x_c, n_c, level);
            check(ci, low, high, 1e-9);
        }
        assert_eq!(newcombe_difference(1, 2, 0, 0, 0.95), None);
    }

    #[test]
    fn two_proportion_p_value_matches_statsmodels() {
        // statsmodels proportions_ztest([x_t, x_c], [n_t, n_c]) p-value; scipy
        // chi2_contingency([[x_t, n_t - x_t], [x_c, n_c - x_c]], correction=False) agrees to 1e-12.
        #[rustfmt::skip]
        let table = [
            (56, 70, 48, 80, 0.00804508136819656),
            (1234, 50_000, 1100, 50_000, 0.005006520931545192),
            (5_000_000, 100_000_000, 4_990_000, 100_000_000, 0.0011705263915521692),
            (3, 1000, 0, 1000, 0.08303324629912977),
        ];
        for (x_t, n_t, x_c, n_c, p) in table {
            close(two_proportion_p_value(x_t, n_t, x_c, n_c).unwrap(), p, 1e-9);
        }
        // Identical groups, and both rates 0 or both 1 (no variance): no evidence, p = 1.
        for (x_t, n_t, x_c, n_c) in [(30, 100, 30, 100), (0, 10, 0, 20), (10, 10, 20, 20)] {
            assert_eq!(two_proportion_p_value(x_t, n_t, x_c, n_c), Some(1.0));
        }
        assert_eq!(two_proportion_p_value(0, 0, 1, 2), None);
    }

    #[test]
    fn relative_interval_matches_statsmodels_katz() {
        // statsmodels confint_proportions_2indep(x_t, n_t, x_c, n_c, compare='ratio',
        // method='log', alpha=1 - level), minus 1.
        #[rustfmt::skip]
        let table = [
            (56, 70, 48, 80, 0.95, 0.07662642276319276, 0.651248511266387),
            (1234, 50_000, 1100, 50_000, 0.95, 0.03523551526637503, 0.21564225193146958),
            (10, 10, 3, 20, 0.90, 1.7775792719510908, 15.001143475276859),
            (1, 1000, 5, 2000, 0.99, -0.9761556087811651, 5.710173412756894),
        ];
        for (x_t, n_t, x_c, n_c, level, low, high) in table {
            let ci = relative_interval(x_t, n_t, x_c, n_c, level);
            check(ci, low, high, 1e-11);
        }
        // Both rates 1: the ratio is exactly 1.
        let ci = relative_interval(5, 5, 9, 9, 0.95);
        assert_eq!(ci, Some(Interval::new(0.0, 0.0)));
        for (x_t, n_t, x_c, n_c) in [(0, 10, 3, 10), (3, 10, 0, 10), (0, 0, 3, 10), (3, 10, 0, 0)] {
            assert_eq!(relative_interval(x_t, n_t, x_c, n_c, 0.95), None);
        }
    }

    const TEST: [f64; 10] = [12.5, 0.0, 33.1, 7.25, 19.9, 0.0, 44.0, 3.5, 15.0, 28.75];
    const CONTROL: [f64; 7] = [10.0, 0.0, 21.5, 5.0, 0.0, 17.25, 9.5];

    #[test]
    fn summary_matches_numpy_and_is_stable() {
        // numpy mean(v) and var(v, ddof=1)
        let (t, c) = (Summary::of(TEST), Summary::of(CONTROL));
        assert_eq!(t.n(), 10);
        close(t.mean().unwrap(), 16.4, 1e-15);
        close(t.variance().unwrap(), 223.40500000000003, 1e-14);
        close(c.variance().unwrap(), 67.25892857142857, 1e-14);
        // Welford keeps the variance of values offset by 1e9 (a naive sum of squares does not).
        let offset = Summary::of([4.0, 7.0, 13.0, 16.0].map(|v| 1e9 + v));
        assert_eq!(offset.mean(), Some(1e9 + 10.0));
        assert_eq!(offset.variance(), Some(30.0));
        assert!(Summary::default().mean().is_none() && Summary::of([1.0]).variance().is_none());
        let moments = Summary::from_moments(10, 16.4, 223.405);
        assert_eq!(moments.and_then(|s| s.variance()), Some(223.405));
        assert_eq!(Summary::from_moments(5, 1.0, -1.0), None);
        assert_eq!(Summary::from_moments(1, f64::NAN, 0.0), None);
    }

    #[test]
    fn welch_matches_scipy() {
        // r = scipy.stats.ttest_ind(TEST, CONTROL, equal_var=False); r.df, r.pvalue and
        // r.confidence_interval(level).
        let (t, c) = (Summary::of(TEST), Summary::of(CONTROL));
        #[rustfmt::skip]
        let raw = [
            (0.95, -4.726603781651743, 19.455175210223167), (0.90, -2.5713259687772982, 17.29989739734872),
        ];
        for (level, low, high) in raw {
            let w = welch(&t, &c, level).unwrap();
            close(w.difference, 7.364285714285712, 1e-14);
            check(Some(w.interval), low, high, 1e-11);
            close(w.df, 14.40853433872924, 1e-13);
            close(w.p_value, 0.21305615921968868, 1e-11);
        }
        // From summaries (m_t, v_t, n_t, m_c, v_c, n_c, level) -> (low, high, df, p): p from
        // scipy.stats.ttest_ind_from_stats(m_t, sqrt(v_t), n_t, m_c, sqrt(v_c), n_c,
        // equal_var=False).pvalue; interval d -/+ scipy.stats.t.ppf((1 + level) / 2, df) * se,
        // with df (Welch–Satterthwaite) and se computed in numpy.
        #[rustfmt::skip]
        let table = [
            ((25.3, 1600.0, 1_000_000, 25.1, 1444.0, 2_000_000, 0.95),
             (0.10555489066254276, 0.2944451093374558, 1911507.6842171813, 3.317853092329486e-05)),
            ((5.0, 4.0, 30, 4.0, 0.0, 20, 0.95),
             (0.2531877264838003, 1.7468122735161997, 29.0, 0.010437389498867359)),
            ((101.5, 900.0, 40, 98.0, 2500.0, 12, 0.99),
             (-42.00715479813143, 49.00715479813143, 13.46002259643045, 0.8212715452490329)),
        ];
        for ((m_t, v_t, n_t, m_c, v_c, n_c, level), (low, high, df, p)) in table {
            let t = Summary::from_moments(n_t, m_t, v_t).unwrap();
            let w = welch(&t, &Summary::from_moments(n_c, m_c, v_c).unwrap(), level).unwrap();
            check(Some(w.interval), low, high, 1e-11);
            close(w.df, df, 1e-12);
            close(w.p_value, p, 1e-9);
        }
    }

    #[test]
    fn welch_with_zero_variances_is_exact() {
        let same = Summary::of([3.0, 3.0, 3.0]);
        let w = welch(&same, &same, 0.95).unwrap();
        assert_eq!(
            (w.interval, w.df, w.p_value),
            (Interval::new(0.0, 0.0), 4.0, 1.0)
        );
        let w = welch(&Summary::of([5.0, 5.0]), &same, 0.95).unwrap();
        assert_eq!((w.interval, w.p_value), (Interval::new(2.0, 2.0), 0.0));
        assert_eq!(welch(&Summary::of([1.0]), &same, 0.95), None);
        assert_eq!(welch(&same, &same, 1.5), None);
    }

    #[test]
    fn sample_ratio_matches_scipy() {
        // scipy.stats.chisquare([n_t, n_c], f_exp=[n * (1 - s), n * s]): statistic, pvalue
        #[rustfmt::skip]
        let table = [
            (50_100, 49_900, 0.5, 0.4, 0.5270892568655381),
            (90_500, 9_500, 0.1, 27.77777777777778, 1.3608022911357298e-07),
            (5_000, 5_500, 0.5, 23.80952380952381, 1.0635492679527356e-06),
            (1_000_000, 1_010_000, 0.5, 49.75124378109453, 1.745275146853843e-12),
        ];
        for (n_t, n_c, share, chi, p) in table {
            let srm = sample_ratio(n_t, n_c, share).unwrap();
            close(srm.chi_square, chi, 1e-13);
            close(srm.p_value, p, 1e-9);
            let observed = n_c as f64 / (n_t + n_c) as f64;
            assert_eq!(
                (srm.observed_control_share, srm.expected_control_share),
                (observed, share)
            );
        }
        assert!(sample_ratio(5_000, 5_500, 0.5).unwrap().p_value < SRM_ALPHA);
        assert!(sample_ratio(50_100, 49_900, 0.5).unwrap().p_value > SRM_ALPHA);
        // A grossly wrong ratio (scipy's p underflows to 0.0) and an exact one.
        assert!(sample_ratio(70_000, 30_000, 0.5).unwrap().p_value < 1e-300);
        let exact = sample_ratio(9_000, 1_000, 0.1).unwrap();
        assert_eq!((exact.chi_square, exact.p_value), (0.0, 1.0));
        for (n_t, n_c, share) in [(0, 0, 0.5), (5, 5, 0.0), (5, 5, 1.0), (5, 5, f64::NAN)] {
            assert_eq!(sample_ratio(n_t, n_c, share), None);
        }
    }

    #[test]
    fn mde_matches_the_closed_form() {
        // (scipy.stats.norm.ppf(1 - alpha/2) + norm.ppf(power)) * sd * sqrt(1/n_t + 1/n_c), with
        // sd = sqrt(p(1 - p)) for proportions; statsmodels NormalIndPower().power(effect_size=
        // mde/sd, nobs1=n_t, ratio=n_c/n_t, alpha=alpha/2, alternative='larger') gives back
        // `power` at these values to 2e-16.
        let mde = mde_proportion(0.05, 10_000, 10_000, 0.05, 0.8);
        close(mde.unwrap(), 0.008635065574523239, 1e-13);
        let mde = mde_proportion(0.2, 90_000, 10_000, 0.01, 0.9);
        close(mde.unwrap(), 0.016264145798793688, 1e-13);
        let mde = mde_mean(40.0, 50_000, 5_000, 0.05, 0.8);
        close(mde.unwrap(), 1.6621689644831175, 1e-13);
        for p in [0.0, 1.0, f64::NAN] {
            assert_eq!(mde_proportion(p, 100, 100, 0.05, 0.8), None);
        }
        #[rustfmt::skip]
        let undefined = [
            (1.0, 0, 5, 0.05, 0.8), (0.0, 5, 5, 0.05, 0.8), (1.0, 5, 5, 0.0, 0.8), (1.0, 5, 5, 0.05, 0.01),
        ];
        for (sd, n_t, n_c, alpha, power) in undefined {
            assert_eq!(mde_mean(sd, n_t, n_c, alpha, power), None);
        }
    }
}
