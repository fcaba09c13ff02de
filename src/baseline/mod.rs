//! Per-asset baselines: a model of one machine's own normal, learned from the machine.
//!
//! The model is principal component analysis (PCA) on standardised window features, with
//! the two classical monitoring statistics:
//!
//! - Hotelling's T², the Mahalanobis distance inside the retained components, with the
//!   control limit for a new observation from the F distribution,
//!   `T²_lim = k (n-1)(n+1) / (n (n-k)) · F_conf(k, n-k)` (Tracy, Young & Mason 1992;
//!   Montgomery, *Introduction to Statistical Quality Control*, multivariate chapter);
//! - Q, the squared prediction error (SPE) in the residual space, with the limit of
//!   Jackson & Mudholkar (1979), or Box's (1954) `g·χ²_h` approximation when their `h0`
//!   is not positive (Nomikos & MacGregor 1995).
//!
//! Either limit can instead be the empirical `conf` quantile of the learning window's own
//! statistic ([`LimitBasis::Empirical`]). The component count is the smallest `k` whose
//! cumulative explained variance reaches [`FitOptions::variance`] (Jolliffe, *Principal
//! Component Analysis*, 2nd ed., §6.1.1), at most `m - 1` so that Q has a residual space.
//!
//! Each score is decomposed per signal: T² contributions `z_j · (P Λ⁻¹ Pᵀ z)_j` and Q
//! contributions `e_j²`, which both sum to their statistic (Westerhuis, Gurden & Smilde 2000;
//! Qin 2003). A signal whose feature lies far outside its learned range is out of the
//! baseline's domain ([`Fitted::out_of_domain`]) and is named instead of scored.
//!
//! The eigen-decomposition is nalgebra's symmetric eigensolver; the F, normal and χ² quantiles
//! are statrs'. Nothing here knows about the daemon: [`online`] binds it to assets, [`eval`]
//! runs the SKAB protocol.

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};
use statrs::distribution::{ChiSquared, ContinuousCDF, FisherSnedecor, Normal};

/// Product policy: the confidence level of both control limits when a baseline does not set
/// one. 0.999 per statistic is close to Shewhart's one-sided 3-sigma (0.99865): at one
/// evaluation a second, 0.99 would let each statistic exceed its limit about 36 times an hour
/// on a healthy machine under the model's own assumptions; 0.999 about 3.6 times, before the
/// tracker's `open_after` consecutive evaluations.
pub const DEFAULT_CONFIDENCE: f64 = 0.999;
/// Product policy: retained components explain at least 90 % of the standardised variance
/// (a usual choice in Jolliffe's cumulative-percentage rule, which suggests 70-90 %).
pub const DEFAULT_VARIANCE: f64 = 0.90;
/// Product policy: samples per window feature. Short windows follow a change within seconds
/// at 1 Hz, and a commissioning window of a few hundred samples still holds about ten
/// independent windows per signal for the covariance (400 rows / 8 signals / 5 = 10).
pub const DEFAULT_WINDOW: usize = 5;
/// Product policy: a feature is out of the baseline's domain when it lies beyond its learned
/// range by more than this factor times the larger of the learned span (max - min, at least
/// six learned standard deviations) and the learned level's magnitude: an order of magnitude
/// away from anything learned, which points to a sensor, scaling or unit fault or a machine
/// state the baseline never saw, not a departure to put a T² number on. A flow that falls to
/// zero or a vibration that triples is still scored as a departure.
pub const DOMAIN_FACTOR: f64 = 10.0;
/// An open departure clears only when both statistics are below this fraction of their
/// limits (the same rule as the model criteria).
pub const CLEAR_FRACTION: f64 = 0.9;

/// How a signal's window becomes one feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FeatureKind {
    /// The window mean.
    Level,
    /// The least-squares slope over the window, per second. Product policy for thermal
    /// signals: a commissioning window of minutes cannot span the level excursions of a
    /// temperature whose time constant is much longer (warm-up, ambient), so its level would
    /// alarm on ordinary drift; its rate of change can be learned.
    Rate,
}

impl FeatureKind {
    /// The default for a signal in `unit`: [`FeatureKind::Rate`] for temperatures.
    pub fn default_for_unit(unit: &str) -> FeatureKind {
        match unit {
            "°C" | "degC" | "K" | "°F" => FeatureKind::Rate,
            _ => FeatureKind::Level,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FeatureKind::Level => "level",
            FeatureKind::Rate => "rate",
        }
    }

    /// The feature of samples `(t_seconds, value)`, oldest first; NaN for an empty window.
    pub fn compute(self, xs: &[(f64, f64)]) -> f64 {
        let n = xs.len() as f64;
        if xs.is_empty() {
            return f64::NAN;
        }
        let mean = xs.iter().map(|p| p.1).sum::<f64>() / n;
        match self {
            FeatureKind::Level => mean,
            FeatureKind::Rate => {
                let tm = xs.iter().map(|p| p.0).sum::<f64>() / n;
                let sxx: f64 = xs.iter().map(|p| (p.0 - tm).powi(2)).sum();
                if sxx <= 0.0 {
                    return 0.0;
                }
                xs.iter().map(|p| (p.0 - tm) * (p.1 - mean)).sum::<f64>() / sxx
            }
        }
    }
}

/// Which distribution the control limits come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LimitBasis {
    /// T² from the F distribution, Q from Jackson & Mudholkar.
    #[default]
    Distribution,
    /// The `confidence` quantile of each statistic over the learning rows.
    Empirical,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitOptions {
    pub confidence: f64,
    pub variance: f64,
    pub limits: LimitBasis,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions { confidence: DEFAULT_CONFIDENCE, variance: DEFAULT_VARIANCE, limits: LimitBasis::Distribution }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitError {
    #[error("{have} learning rows for {signals} signals: need at least {need}")]
    TooFewRows { have: usize, need: usize, signals: usize },
    #[error("learning row {row} has {have} values, expected {want}")]
    Width { row: usize, have: usize, want: usize },
    #[error("learning row {row}, signal `{signal}`: value {value} is not finite")]
    NotFinite { row: usize, signal: String, value: f64 },
    #[error("no signals")]
    NoSignals,
    #[error("confidence {0} is out of range: expected 0.5 to 0.99999")]
    Confidence(f64),
    #[error("variance {0} is out of range: expected above 0 and at most 1")]
    Variance(f64),
}

/// One signal's learned statistics (of its feature).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SignalStats {
    pub name: String,
    pub kind: FeatureKind,
    pub mean: f64,
    /// Standard deviation (n - 1), floored so a constant signal can be standardised.
    pub sd: f64,
    pub min: f64,
    pub max: f64,
}

impl SignalStats {
    /// The learned span used by the domain check: max - min, at least six standard deviations.
    pub fn span(&self) -> f64 {
        (self.max - self.min).max(6.0 * self.sd)
    }

    /// The range outside which the feature is out of the baseline's domain.
    pub fn domain(&self) -> (f64, f64) {
        let margin = DOMAIN_FACTOR * self.span().max(self.mean.abs());
        (self.min - margin, self.max + margin)
    }
}

/// A fitted baseline: everything needed to score, serialisable for the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fitted {
    pub signals: Vec<SignalStats>,
    /// Learning rows (feature vectors).
    pub n: usize,
    /// Retained components `k`.
    pub components: usize,
    /// Fraction of the standardised variance the retained components explain.
    pub explained: f64,
    /// All eigenvalues of the correlation matrix, descending.
    pub eigenvalues: Vec<f64>,
    /// Loadings, one row per signal, `components` columns.
    pub loadings: Vec<Vec<f64>>,
    pub confidence: f64,
    pub limits: LimitBasis,
    pub t2_limit: f64,
    pub q_limit: f64,
    /// The limits from the distributions (kept when the empirical ones are used).
    pub t2_limit_distribution: f64,
    pub q_limit_distribution: f64,
    /// How the Q limit was computed (`jackson_mudholkar_1979` or `box_1954`).
    pub q_method: String,
}

/// One evaluation's statistics and their per-signal decomposition.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    pub t2: f64,
    pub q: f64,
    /// Standardised features.
    pub z: Vec<f64>,
    pub t2_contrib: Vec<f64>,
    pub q_contrib: Vec<f64>,
}

impl Score {
    /// Each signal's share of the departure: its T² contribution over the T² limit plus its Q
    /// contribution over the Q limit, so each statistic weighs by how far past its own limit
    /// it is. Indices sorted by decreasing share.
    pub fn ranking(&self, f: &Fitted) -> Vec<(usize, f64)> {
        let mut r: Vec<(usize, f64)> = (0..self.z.len())
            .map(|j| {
                let q = if f.q_limit > 0.0 { self.q_contrib[j] / f.q_limit } else { 0.0 };
                (j, self.t2_contrib[j] / f.t2_limit + q)
            })
            .collect();
        r.sort_by(|a, b| b.1.total_cmp(&a.1));
        r
    }

    /// Whether the statistics reach their limits (scaled by `fraction`).
    pub fn exceeds(&self, f: &Fitted, fraction: f64) -> bool {
        self.t2 >= f.t2_limit * fraction || (f.q_limit > 0.0 && self.q >= f.q_limit * fraction)
    }
}

/// A signal outside the baseline's domain.
#[derive(Debug, Clone, PartialEq)]
pub struct OutOfDomain {
    pub index: usize,
    pub value: f64,
    pub lo: f64,
    pub hi: f64,
}

/// The `p` quantile of `xs` (linear interpolation between order statistics).
pub fn quantile(xs: &[f64], p: f64) -> f64 {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let h = p.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    v[lo] + (h - lo as f64) * (v[hi] - v[lo])
}

/// The T² limit for a new observation: `k (n-1)(n+1) / (n (n-k)) · F_conf(k, n-k)`.
pub fn t2_limit(k: usize, n: usize, confidence: f64) -> f64 {
    let (k, n) = (k as f64, n as f64);
    let f = FisherSnedecor::new(k, n - k).expect("k >= 1 and n > k").inverse_cdf(confidence);
    k * (n - 1.0) * (n + 1.0) / (n * (n - k)) * f
}

/// The Q limit from the residual eigenvalues: Jackson & Mudholkar (1979), or Box's (1954)
/// `g·χ²_h` with `g = θ2/θ1`, `h = θ1²/θ2` when `h0 <= 0`. Returns the limit and the method.
pub fn q_limit(residual: &[f64], confidence: f64) -> (f64, &'static str) {
    let theta = |i: i32| residual.iter().map(|l| l.max(0.0).powi(i)).sum::<f64>();
    let (t1, t2, t3) = (theta(1), theta(2), theta(3));
    if t1 <= 0.0 || t2 <= 0.0 {
        return (0.0, "no_residual");
    }
    let h0 = 1.0 - 2.0 * t1 * t3 / (3.0 * t2 * t2);
    if h0 > 0.0 {
        let c = Normal::new(0.0, 1.0).expect("standard normal").inverse_cdf(confidence);
        let inner = c * (2.0 * t2 * h0 * h0).sqrt() / t1 + 1.0 + t2 * h0 * (h0 - 1.0) / (t1 * t1);
        if inner > 0.0 {
            return (t1 * inner.powf(1.0 / h0), "jackson_mudholkar_1979");
        }
    }
    let (g, h) = (t2 / t1, t1 * t1 / t2);
    (g * ChiSquared::new(h).expect("h > 0").inverse_cdf(confidence), "box_1954")
}

/// Rows needed to learn `m` signals: enough for the F limit and a covariance, at least
/// `2 (m + 1)` and 10.
pub fn min_rows(m: usize) -> usize {
    (2 * (m + 1)).max(10)
}

/// Product policy: evaluations needed to learn `m` signals with `window`-sample features.
/// Consecutive evaluations share all but one sample of their windows, so only every
/// `window`-th is independent; the learning window must hold [`min_rows`] independent ones.
pub fn min_learning_samples(m: usize, window: usize) -> usize {
    min_rows(m) * window.max(1)
}

/// Fit a baseline to learning rows (one feature vector per row, in `signals` order).
pub fn fit(signals: &[(String, FeatureKind)], rows: &[Vec<f64>], opts: FitOptions) -> Result<Fitted, FitError> {
    let m = signals.len();
    if m == 0 {
        return Err(FitError::NoSignals);
    }
    if !(0.5..=0.99999).contains(&opts.confidence) {
        return Err(FitError::Confidence(opts.confidence));
    }
    if !(opts.variance > 0.0 && opts.variance <= 1.0) {
        return Err(FitError::Variance(opts.variance));
    }
    let n = rows.len();
    if n < min_rows(m) {
        return Err(FitError::TooFewRows { have: n, need: min_rows(m), signals: m });
    }
    for (i, r) in rows.iter().enumerate() {
        if r.len() != m {
            return Err(FitError::Width { row: i, have: r.len(), want: m });
        }
        if let Some(j) = r.iter().position(|v| !v.is_finite()) {
            return Err(FitError::NotFinite { row: i, signal: signals[j].0.clone(), value: r[j] });
        }
    }
    let x = DMatrix::from_fn(n, m, |i, j| rows[i][j]);
    let mut stats = Vec::with_capacity(m);
    for (j, (name, kind)) in signals.iter().enumerate() {
        let col = x.column(j);
        let mean = col.mean();
        let sd = (col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
        // A constant learning signal keeps a tiny scale: any change of it is then a departure
        // that names it.
        let floor = 1e-9 * mean.abs().max(1.0);
        stats.push(SignalStats {
            name: name.clone(),
            kind: *kind,
            mean,
            sd: sd.max(floor),
            min: col.min(),
            max: col.max(),
        });
    }
    let z = DMatrix::from_fn(n, m, |i, j| (x[(i, j)] - stats[j].mean) / stats[j].sd);
    let corr = (z.transpose() * &z) / (n - 1) as f64;
    let eig = corr.symmetric_eigen();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    let eigenvalues: Vec<f64> = order.iter().map(|&i| eig.eigenvalues[i].max(0.0)).collect();
    let total: f64 = eigenvalues.iter().sum();
    let mut k = 0;
    let mut cum = 0.0;
    while k < m {
        cum += eigenvalues[k];
        k += 1;
        if total <= 0.0 || cum / total >= opts.variance - 1e-12 {
            break;
        }
    }
    // Keep a residual space for Q, and only components with a usable variance.
    let k = k.min(m.saturating_sub(1)).max(1);
    let k = (1..=k).rev().find(|&c| eigenvalues[c - 1] > 1e-12 * total.max(1e-300)).unwrap_or(1);
    let explained = if total > 0.0 { eigenvalues[..k].iter().sum::<f64>() / total } else { 0.0 };
    let loadings: Vec<Vec<f64>> =
        (0..m).map(|j| order[..k].iter().map(|&c| eig.eigenvectors[(j, c)]).collect()).collect();
    let t2_dist = t2_limit(k, n, opts.confidence);
    let (q_dist, q_method) = q_limit(&eigenvalues[k..], opts.confidence);
    let mut fitted = Fitted {
        signals: stats,
        n,
        components: k,
        explained,
        eigenvalues,
        loadings,
        confidence: opts.confidence,
        limits: opts.limits,
        t2_limit: t2_dist,
        q_limit: q_dist,
        t2_limit_distribution: t2_dist,
        q_limit_distribution: q_dist,
        q_method: q_method.to_string(),
    };
    if opts.limits == LimitBasis::Empirical {
        let scores: Vec<Score> = rows.iter().map(|r| fitted.score(r)).collect();
        fitted.t2_limit = quantile(&scores.iter().map(|s| s.t2).collect::<Vec<_>>(), opts.confidence);
        fitted.q_limit = quantile(&scores.iter().map(|s| s.q).collect::<Vec<_>>(), opts.confidence);
        fitted.q_method = "empirical".into();
    }
    Ok(fitted)
}

impl Fitted {
    /// Score one feature vector (in the signals' order).
    pub fn score(&self, x: &[f64]) -> Score {
        let m = self.signals.len();
        let k = self.components;
        let z = DVector::from_fn(m, |j, _| (x[j] - self.signals[j].mean) / self.signals[j].sd);
        let p = DMatrix::from_fn(m, k, |j, c| self.loadings[j][c]);
        let t = p.transpose() * &z;
        let scaled = DVector::from_fn(k, |c, _| t[c] / self.eigenvalues[c]);
        let t2 = t.dot(&scaled);
        let d = &p * scaled;
        let resid = &z - &p * &t;
        let q = resid.norm_squared();
        Score {
            t2,
            q,
            t2_contrib: (0..m).map(|j| z[j] * d[j]).collect(),
            q_contrib: resid.iter().map(|e| e * e).collect(),
            z: z.iter().copied().collect(),
        }
    }

    /// The signals whose feature lies outside the baseline's domain (or is not finite).
    pub fn out_of_domain(&self, x: &[f64]) -> Vec<OutOfDomain> {
        self.signals
            .iter()
            .zip(x)
            .enumerate()
            .filter_map(|(index, (s, &value))| {
                let (lo, hi) = s.domain();
                (!(value >= lo && value <= hi)).then_some(OutOfDomain { index, value, lo, hi })
            })
            .collect()
    }

    /// One line on how the limits were set, for citations.
    pub fn basis(&self) -> String {
        let pct = self.confidence * 100.0;
        match self.limits {
            LimitBasis::Distribution => format!(
                "T² limit {:.3}: k(n-1)(n+1)/(n(n-k))·F({pct}%; k={}, n-k={}) (Hotelling; Tracy, Young & Mason 1992; Montgomery); Q limit {:.4}: {} at {pct}%",
                self.t2_limit,
                self.components,
                self.n - self.components,
                self.q_limit,
                match self.q_method.as_str() {
                    "box_1954" => "Box (1954) g·χ²_h approximation",
                    "no_residual" => "no residual variance",
                    _ => "Jackson & Mudholkar (1979)",
                }
            ),
            LimitBasis::Empirical => format!(
                "T² limit {:.3} and Q limit {:.4}: the {pct}% quantiles of the {} learning rows' own statistics (the distributions would give {:.3} and {:.4})",
                self.t2_limit, self.q_limit, self.n, self.t2_limit_distribution, self.q_limit_distribution
            ),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A deterministic normal generator (Box-Muller on a xorshift), so the tests need no crate.
    pub(crate) struct Gauss(u64);
    impl Gauss {
        pub(crate) fn new(seed: u64) -> Self {
            Gauss(seed.max(1))
        }
        fn uniform(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }
        pub(crate) fn next(&mut self) -> f64 {
            let (u, v) = (self.uniform(), self.uniform());
            (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
        }
    }

    /// Four signals: a and b share a latent factor, c is independent, d = a + b + noise.
    pub(crate) fn rows(n: usize, seed: u64) -> Vec<Vec<f64>> {
        let mut g = Gauss::new(seed);
        (0..n)
            .map(|_| {
                let f = g.next();
                let a = 10.0 + 2.0 * (f + 0.3 * g.next());
                let b = -5.0 + 0.5 * (f + 0.3 * g.next());
                let c = 100.0 + 3.0 * g.next();
                let d = a + 4.0 * b + 0.2 * g.next();
                vec![a, b, c, d]
            })
            .collect()
    }

    pub(crate) fn names() -> Vec<(String, FeatureKind)> {
        ["a", "b", "c", "d"].iter().map(|s| (s.to_string(), FeatureKind::Level)).collect()
    }

    #[test]
    fn published_limits_match_their_formulas() {
        // F(0.99; 2, 18) = 6.013 (tables); T² limit = 2·19·21/(20·18)·6.013 = 13.33.
        assert!((t2_limit(2, 20, 0.99) - 2.0 * 19.0 * 21.0 / (20.0 * 18.0) * 6.013).abs() < 0.01);
        // One residual eigenvalue λ: Q/λ is χ²(1), and J&M's approximation is close to
        // its 99 % point 6.635.
        let (q, how) = q_limit(&[1.0, 1e-9], 0.99);
        assert_eq!(how, "jackson_mudholkar_1979");
        assert!((q - 6.635).abs() / 6.635 < 0.05, "{q}");
        // Equal residual eigenvalues λ (r of them): Q/λ ~ χ²(r); J&M within 2 % for r = 5.
        let (q, _) = q_limit(&[2.0; 5], 0.99);
        assert!((q / 2.0 - 15.086).abs() / 15.086 < 0.02, "{q}");
        assert_eq!(q_limit(&[0.0, 0.0], 0.99).1, "no_residual");
        assert!((quantile(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.5) - 3.0).abs() < 1e-12);
    }

    #[test]
    fn components_follow_the_variance_rule_and_contributions_sum() {
        let f = fit(&names(), &rows(2000, 7), FitOptions::default()).unwrap();
        // a, b, d carry one factor, c another: two components explain > 90 %.
        assert_eq!(f.components, 2, "{:?}", f.eigenvalues);
        assert!(f.explained >= 0.9 && f.explained <= 1.0);
        let s = f.score(&rows(1, 99)[0]);
        assert!((s.t2_contrib.iter().sum::<f64>() - s.t2).abs() < 1e-9 * s.t2.max(1.0));
        assert!((s.q_contrib.iter().sum::<f64>() - s.q).abs() < 1e-9 * s.q.max(1.0));
        assert_eq!(f.q_method, "jackson_mudholkar_1979");
    }

    /// On fresh healthy data of the same process, the share above the limits is near
    /// 1 - confidence for both statistics.
    #[test]
    fn false_alarm_rate_matches_the_confidence() {
        let opts = FitOptions { confidence: 0.99, ..Default::default() };
        let f = fit(&names(), &rows(3000, 3), opts).unwrap();
        let test = rows(20_000, 11);
        let t2 = test.iter().filter(|r| f.score(r).t2 > f.t2_limit).count() as f64 / 20_000.0;
        let q = test.iter().filter(|r| f.score(r).q > f.q_limit).count() as f64 / 20_000.0;
        assert!((0.005..0.02).contains(&t2), "T² exceedances {t2}");
        assert!((0.003..0.03).contains(&q), "Q exceedances {q}");
        let e = fit(&names(), &rows(3000, 3), FitOptions { limits: LimitBasis::Empirical, ..opts }).unwrap();
        assert!((e.t2_limit / f.t2_limit - 1.0).abs() < 0.2, "{} vs {}", e.t2_limit, f.t2_limit);
        assert!(e.basis().contains("quantiles") && f.basis().contains("Jackson & Mudholkar"));
    }

    /// A signal shifted by k sigma is found and named first, whether the shift breaks the
    /// correlation (Q) or moves along it (T²).
    #[test]
    fn a_shifted_signal_is_named_first() {
        let f = fit(&names(), &rows(2000, 5), FitOptions::default()).unwrap();
        for (j, k) in [(2usize, 6.0), (1, 6.0), (3, 8.0), (0, 6.0)] {
            let mut hits = 0;
            for (i, mut r) in rows(200, 40 + j as u64).into_iter().enumerate() {
                r[j] += k * f.signals[j].sd;
                let s = f.score(&r);
                if s.exceeds(&f, 1.0) {
                    hits += 1;
                    assert_eq!(s.ranking(&f)[0].0, j, "row {i}: shift of signal {j} named first");
                }
            }
            assert!(hits >= 150, "signal {j} shifted {k} sd found in {hits} of 200");
        }
        // Unshifted rows mostly pass.
        let pass = rows(1000, 77).iter().filter(|r| !f.score(r).exceeds(&f, 1.0)).count();
        assert!(pass >= 990, "{pass}");
    }

    #[test]
    fn far_outside_the_learned_range_is_out_of_domain_and_named() {
        let f = fit(&names(), &rows(500, 1), FitOptions::default()).unwrap();
        let mut r = rows(1, 2).remove(0);
        assert!(f.out_of_domain(&r).is_empty());
        let (lo, hi) = f.signals[2].domain();
        r[2] = hi + 1.0;
        let o = f.out_of_domain(&r);
        assert_eq!(o.len(), 1);
        assert_eq!((o[0].index, o[0].lo, o[0].hi), (2, lo, hi));
        r[2] = f64::NAN;
        assert_eq!(f.out_of_domain(&r)[0].index, 2);
    }

    #[test]
    fn bad_learning_data_is_refused_with_the_reason() {
        let e = fit(&names(), &rows(5, 1), FitOptions::default()).unwrap_err();
        assert_eq!(e, FitError::TooFewRows { have: 5, need: 10, signals: 4 });
        let mut r = rows(50, 1);
        r[3][1] = f64::INFINITY;
        assert!(fit(&names(), &r, FitOptions::default()).unwrap_err().to_string().contains("signal `b`"));
        let o = FitOptions { confidence: 1.0, ..Default::default() };
        assert_eq!(fit(&names(), &rows(50, 1), o).unwrap_err(), FitError::Confidence(1.0));
        // A constant signal fits; a change of it is a departure named first, and ten times
        // its level is out of domain.
        let mut r = rows(50, 1);
        r.iter_mut().for_each(|x| x[2] = 230.0);
        let f = fit(&names(), &r, FitOptions::default()).unwrap();
        let mut x: Vec<f64> = f.signals.iter().map(|s| s.mean).collect();
        assert!(f.out_of_domain(&x).is_empty() && !f.score(&x).exceeds(&f, 1.0));
        x[2] = 230.1;
        assert!(f.out_of_domain(&x).is_empty());
        assert!(f.score(&x).exceeds(&f, 1.0) && f.score(&x).ranking(&f)[0].0 == 2);
        x[2] = 230.0 * 12.0;
        assert_eq!(f.out_of_domain(&x)[0].index, 2);
    }

    #[test]
    fn rate_is_the_least_squares_slope_per_second() {
        let xs: Vec<(f64, f64)> = (0..5).map(|i| (i as f64 * 2.0, 3.0 + 0.5 * i as f64)).collect();
        assert!((FeatureKind::Rate.compute(&xs) - 0.25).abs() < 1e-12);
        assert!((FeatureKind::Level.compute(&xs) - 4.0).abs() < 1e-12);
        assert_eq!(FeatureKind::default_for_unit("°C"), FeatureKind::Rate);
        assert_eq!(FeatureKind::default_for_unit("l/min"), FeatureKind::Level);
        assert!(FeatureKind::Level.compute(&[]).is_nan());
    }
}
