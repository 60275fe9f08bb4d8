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
/// |x/n - p| / sqrt(p(1-p)/n) is at most z, i.e.
/// (x + z²/2 ± z·sqrt(x(n-x)/n + z²/4)) / (n + z²). Exactly 0 (or 1) at its end when x = 0 (or n).
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
    let half = z
        * (1.0 / x_t - 1.0 / n_t + 1.0 / x_c - 1.0 / n_c)
            .max(0.0)
            .sqrt();
    let log_ratio = p_t.ln() - p_c.ln();
    Some(Interval::new(
        (log_ratio - half).exp_m1(),
        (log_ratio + half).exp_m1(),
    ))
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
        (mean.is_finite() && variance.is_finite() && variance >= 0.0).then_some(Self {
            n,
            mean,
            m2,
        })
    }

    /// Adds one value: n += 1, mean += (x - mean) / n, m2 += (x - old mean)(x - new mean).
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
/// the given `power` (normal approximation): (z_{1-alpha/2} + z_power)·sqrt(p(1-p)(1/n_t + 1/n_c)),
/// with p = `p_control`, the control's (or a planned baseline) rate, taken for both groups.
/// `None` when p_control is 0 or 1 (no variance to plan with) or outside, when a group is empty,
/// and unless 0 < alpha < 1 and alpha/2 < power < 1.
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
