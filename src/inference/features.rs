//! Window statistics a manifest can ask for. The same definitions are in
//! `models/train/features.py` (used by the training scripts); `tests/features_parity.rs`
//! checks both give the same numbers on the same data.
//!
//! Definitions over a window `x[0..n]` (population moments, ddof 0):
//! - `mean`, `std` = sqrt(mean((x - mean)^2)), `rms` = sqrt(mean(x^2)), `peak` = max |x|;
//! - `crest_factor` = peak / rms (undefined, NaN, when rms = 0);
//! - `kurtosis` = excess (Fisher) kurtosis m4 / m2^2 - 3 (NaN when m2 = 0);
//! - `slope` = least-squares slope of x against the sample index, in units per sample;
//! - `band_energy` = one-sided power spectrum of x (no detrending, no window function)
//!   summed over `band_hz = [lo, hi)`, with `sample_rate_hz`: bin k (0 <= k <= n/2) has
//!   frequency k * fs / n and power |X_k|^2 / n^2, doubled for bins other than 0 and n/2
//!   (n even), so that the sum over all bins equals mean(x^2) (Parseval);
//! - `shift_z` (with `recent = r`, 1 <= r <= n - 2): the mean of the last r samples minus the
//!   mean of the n - r samples before them, divided by the std (ddof 0) of those n - r
//!   (NaN when that std is 0). It measures a recent shift in units of the signal's own recent
//!   variability, so it does not depend on the operating point's level or scale.
//!
//! An undefined value is NaN; the domain check then abstains with the reason.

use rustfft::num_complex::Complex;
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Statistic {
    Mean,
    Std,
    Rms,
    Peak,
    CrestFactor,
    Kurtosis,
    Slope,
    BandEnergy,
    ShiftZ,
}

impl Statistic {
    pub fn as_str(self) -> &'static str {
        match self {
            Statistic::Mean => "mean",
            Statistic::Std => "std",
            Statistic::Rms => "rms",
            Statistic::Peak => "peak",
            Statistic::CrestFactor => "crest_factor",
            Statistic::Kurtosis => "kurtosis",
            Statistic::Slope => "slope",
            Statistic::BandEnergy => "band_energy",
            Statistic::ShiftZ => "shift_z",
        }
    }

    /// The statistic over `xs`. `band` is `(lo_hz, hi_hz, sample_rate_hz)`, needed only by
    /// `band_energy` (NaN without it). `shift_z` needs its `recent` count: use [`shift_z`]
    /// (NaN here).
    pub fn apply(self, xs: &[f64], band: Option<(f64, f64, f64)>) -> f64 {
        if xs.is_empty() {
            return f64::NAN;
        }
        match self {
            Statistic::Mean => mean(xs),
            Statistic::Std => central_moment(xs, 2).sqrt(),
            Statistic::Rms => rms(xs),
            Statistic::Peak => peak(xs),
            Statistic::CrestFactor => {
                let r = rms(xs);
                if r > 0.0 {
                    peak(xs) / r
                } else {
                    f64::NAN
                }
            }
            Statistic::Kurtosis => {
                let m2 = central_moment(xs, 2);
                if m2 > 0.0 {
                    central_moment(xs, 4) / (m2 * m2) - 3.0
                } else {
                    f64::NAN
                }
            }
            Statistic::Slope => slope(xs),
            Statistic::BandEnergy => match band {
                Some((lo, hi, fs)) => band_energy(xs, lo, hi, fs),
                None => f64::NAN,
            },
            Statistic::ShiftZ => f64::NAN,
        }
    }
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

fn rms(xs: &[f64]) -> f64 {
    (xs.iter().map(|x| x * x).sum::<f64>() / xs.len() as f64).sqrt()
}

fn peak(xs: &[f64]) -> f64 {
    xs.iter().fold(0.0_f64, |m, x| m.max(x.abs()))
}

fn central_moment(xs: &[f64], k: i32) -> f64 {
    let m = mean(xs);
    xs.iter().map(|x| (x - m).powi(k)).sum::<f64>() / xs.len() as f64
}

fn slope(xs: &[f64]) -> f64 {
    let n = xs.len() as f64;
    if xs.len() < 2 {
        return f64::NAN;
    }
    let tm = (n - 1.0) / 2.0;
    let xm = mean(xs);
    let (mut num, mut den) = (0.0, 0.0);
    for (i, x) in xs.iter().enumerate() {
        let dt = i as f64 - tm;
        num += dt * (x - xm);
        den += dt * dt;
    }
    num / den
}

/// Mean of the last `recent` samples minus the mean of the samples before them, in units of
/// the std (ddof 0) of the samples before them. NaN when fewer than 2 reference samples
/// remain, `recent` is 0, or the reference std is 0.
pub fn shift_z(xs: &[f64], recent: usize) -> f64 {
    if recent == 0 || xs.len() < recent + 2 {
        return f64::NAN;
    }
    let (reference, last) = xs.split_at(xs.len() - recent);
    let sd = central_moment(reference, 2).sqrt();
    if sd > 0.0 {
        (mean(last) - mean(reference)) / sd
    } else {
        f64::NAN
    }
}

/// Sum of the one-sided power spectrum over `[lo, hi)` Hz.
pub fn band_energy(xs: &[f64], lo: f64, hi: f64, fs: f64) -> f64 {
    let n = xs.len();
    let mut buf: Vec<Complex<f64>> = xs.iter().map(|&x| Complex::new(x, 0.0)).collect();
    rustfft::FftPlanner::new().plan_fft_forward(n).process(&mut buf);
    let n2 = (n * n) as f64;
    let mut e = 0.0;
    for (k, c) in buf.iter().enumerate().take(n / 2 + 1) {
        let f = k as f64 * fs / n as f64;
        if f < lo || f >= hi {
            continue;
        }
        let double = k != 0 && !(n % 2 == 0 && k == n / 2);
        e += c.norm_sqr() / n2 * if double { 2.0 } else { 1.0 };
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn textbook_values() {
        let xs = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(Statistic::Mean.apply(&xs, None), 2.5);
        assert!((Statistic::Std.apply(&xs, None) - 1.25_f64.sqrt()).abs() < 1e-12);
        assert!((Statistic::Rms.apply(&xs, None) - 7.5_f64.sqrt()).abs() < 1e-12);
        assert_eq!(Statistic::Peak.apply(&[-5.0, 1.0], None), 5.0);
        assert!((Statistic::Slope.apply(&xs, None) - 1.0).abs() < 1e-12);
        // Excess kurtosis of a two-point symmetric distribution is -2.
        assert!((Statistic::Kurtosis.apply(&[-1.0, 1.0, -1.0, 1.0], None) + 2.0).abs() < 1e-12);
        assert!(Statistic::Kurtosis.apply(&[3.0; 5], None).is_nan());
        assert!(Statistic::CrestFactor.apply(&[0.0; 5], None).is_nan());
        // Reference [1, 3] (mean 2, std 1), recent [5, 5]: shift of 3 std.
        assert!((shift_z(&[1.0, 3.0, 5.0, 5.0], 2) - 3.0).abs() < 1e-12);
        assert!((shift_z(&[1.0, 3.0, 0.0], 1) + 2.0).abs() < 1e-12);
        // Level and scale of the signal do not change it.
        assert!((shift_z(&[130.0, 150.0, 170.0, 170.0], 2) - 3.0).abs() < 1e-12);
        assert!(shift_z(&[2.0, 2.0, 2.0, 9.0], 1).is_nan());
        assert!(shift_z(&[1.0, 3.0, 5.0], 2).is_nan());
        assert!(shift_z(&[1.0, 3.0, 5.0], 0).is_nan());
        assert!(Statistic::ShiftZ.apply(&[1.0, 3.0, 5.0], None).is_nan());
        // A sine has crest factor sqrt(2).
        let sine: Vec<f64> = (0..64).map(|i| (i as f64 * std::f64::consts::TAU / 16.0).sin()).collect();
        assert!((Statistic::CrestFactor.apply(&sine, None) - 2f64.sqrt()).abs() < 1e-9);
    }

    #[test]
    fn band_energy_finds_the_tone_and_keeps_parseval() {
        // 10 Hz tone of amplitude 2 sampled at 64 Hz, plus DC 1: mean square = 1 + 2.
        let fs = 64.0;
        let xs: Vec<f64> = (0..64).map(|i| 1.0 + 2.0 * (std::f64::consts::TAU * 10.0 * i as f64 / fs).sin()).collect();
        let all = band_energy(&xs, 0.0, 1e9, fs);
        let ms = xs.iter().map(|x| x * x).sum::<f64>() / xs.len() as f64;
        assert!((all - ms).abs() < 1e-9, "{all} vs {ms}");
        assert!((band_energy(&xs, 9.0, 11.0, fs) - 2.0).abs() < 1e-9);
        assert!((band_energy(&xs, 0.0, 1.0, fs) - 1.0).abs() < 1e-9);
        assert!(band_energy(&xs, 20.0, 30.0, fs).abs() < 1e-9);
        assert!(Statistic::BandEnergy.apply(&xs, None).is_nan());
    }
}
