//! `models/<name>/manifest.toml`: what a model takes, what it returns and where it came from.

pub use super::features::Statistic;
use super::InferenceError;
use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub file: String,
    pub sha256: String,
    /// The RKNN conversion of the model (rknn-toolkit2) for the `rknn` provider, in the model
    /// directory; default `model.rknn`. Used only with its sha256 pinned here.
    #[serde(default)]
    pub rknn_file: Option<String>,
    #[serde(default)]
    pub rknn_sha256: Option<String>,
    pub asset_class: crate::knowledge::classes::AssetClass,
    pub description: String,
    /// The text a finding cites for this model, in our own words.
    pub citation: String,
    pub input: InputSpec,
    pub output: OutputSpec,
    pub features: Vec<FeatureSpec>,
    pub training: Training,
    pub evaluation: toml::Table,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    pub name: String,
    pub shape: Vec<i64>,
    pub dtype: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    pub name: String,
    pub meaning: String,
    /// A score at or above this alerts.
    pub threshold: f64,
    pub threshold_rule: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSpec {
    pub role: String,
    pub statistic: Statistic,
    /// Number of most recent samples the statistic is computed over.
    pub window: usize,
    pub unit: String,
    /// The domain of validity: outside it the value is not a measurement the model can take
    /// (a sensor fault, a unit mix-up), and the model abstains.
    pub valid_min: f64,
    pub valid_max: f64,
    /// The range of this feature over the data the model was built from. Outside it the
    /// model abstains and names the feature, except on a side `extrapolate` names.
    pub trained_min: f64,
    pub trained_max: f64,
    /// Which side of the trained range the score is built to measure (a fault symptom that
    /// grows, like vibration): there a value is scored and the finding says it lies beyond
    /// training. Default `none`: abstain on both sides.
    #[serde(default)]
    pub extrapolate: Extrapolate,
    /// `band_energy` only: the band `[lo, hi)` in Hz.
    #[serde(default)]
    pub band_hz: Option<[f64; 2]>,
    /// `band_energy` only: the role's sample rate in Hz.
    #[serde(default)]
    pub sample_rate_hz: Option<f64>,
    /// `shift_z` only: how many of the window's most recent samples are compared with the
    /// ones before them.
    #[serde(default)]
    pub recent: Option<usize>,
}

/// `extrapolate` in a `[[features]]` entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Extrapolate {
    #[default]
    None,
    Above,
    Below,
    Both,
}

impl Extrapolate {
    fn allows(self, above: bool) -> bool {
        matches!((self, above), (Extrapolate::Both, _) | (Extrapolate::Above, true) | (Extrapolate::Below, false))
    }
}

/// Where a feature's value lies against its manifest ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Inside the trained range.
    Trained,
    /// Beyond the trained range on a side the model measures (`above` true: above it).
    Beyond { above: bool },
    /// Outside the valid range (or NaN).
    Invalid,
    /// Inside the valid range but beyond the trained one on a side the model does not judge.
    Untrained,
}

impl FeatureSpec {
    /// Judge `v` against the valid and the trained range.
    pub fn place(&self, v: f64) -> Placement {
        if !(v >= self.valid_min && v <= self.valid_max) {
            return Placement::Invalid;
        }
        if v >= self.trained_min && v <= self.trained_max {
            return Placement::Trained;
        }
        let above = v > self.trained_max;
        if self.extrapolate.allows(above) {
            Placement::Beyond { above }
        } else {
            Placement::Untrained
        }
    }

    /// The statistic's value over the window `xs`.
    pub fn compute(&self, xs: &[f64]) -> f64 {
        let band = match (self.band_hz, self.sample_rate_hz) {
            (Some([lo, hi]), Some(fs)) => Some((lo, hi, fs)),
            _ => None,
        };
        match (self.statistic, self.recent) {
            (Statistic::ShiftZ, Some(r)) => super::features::shift_z(xs, r),
            (s, _) => s.apply(xs, band),
        }
    }

    /// A short name for evidence: `vib_accel_rms mean of 10`.
    pub fn label(&self) -> String {
        match (self.band_hz, self.recent) {
            (Some([lo, hi]), _) => format!("{} band energy {lo}-{hi} Hz of {}", self.role, self.window),
            (None, Some(r)) => {
                format!("{} shift of last {r} vs previous {} (z)", self.role, self.window.saturating_sub(r))
            }
            (None, None) => format!("{} {} of {}", self.role, self.statistic.as_str(), self.window),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Training {
    pub data: String,
    pub data_sha256: String,
    pub rows: u64,
    pub windows_train: u64,
    pub windows_held_out: u64,
    pub license: String,
    pub script: String,
    pub algorithm: String,
    pub packages: String,
}

impl Manifest {
    pub fn load(file: &Path) -> Result<Manifest, InferenceError> {
        let err = |message: String| InferenceError::Manifest { file: file.to_path_buf(), message };
        let text = std::fs::read_to_string(file).map_err(|e| err(format!("cannot read: {e}")))?;
        let m: Manifest = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
        if m.input.dtype != "f32" {
            return Err(err(format!(
                "key `input.dtype`: value \"{}\" is not supported: expected \"f32\"",
                m.input.dtype
            )));
        }
        let n = m.features.len() as i64;
        if m.input.shape.len() != 2 || m.input.shape[1] != n {
            return Err(err(format!(
                "key `input.shape`: value {:?} does not fit the {n} [[features]]: expected [-1, {n}]",
                m.input.shape
            )));
        }
        for (i, f) in m.features.iter().enumerate() {
            if f.window == 0 || f.window > crate::sample::WINDOW_CAPACITY {
                return Err(err(format!(
                    "key `features[{i}].window`: value {} is out of range: expected 1 to {}",
                    f.window,
                    crate::sample::WINDOW_CAPACITY
                )));
            }
            if !(f.valid_min < f.valid_max) {
                return Err(err(format!(
                    "key `features[{i}]`: valid_min {} must be below valid_max {}",
                    f.valid_min, f.valid_max
                )));
            }
            if !(f.trained_min <= f.trained_max && f.trained_min >= f.valid_min && f.trained_max <= f.valid_max) {
                return Err(err(format!(
                    "key `features[{i}]`: the trained range [{}, {}] must be a range inside the valid range [{}, {}]",
                    f.trained_min, f.trained_max, f.valid_min, f.valid_max
                )));
            }
            let band = f.band_hz.is_some() || f.sample_rate_hz.is_some();
            match (f.statistic, f.band_hz, f.sample_rate_hz) {
                (Statistic::BandEnergy, Some([lo, hi]), Some(fs)) => {
                    if !(fs > 0.0 && fs.is_finite()) {
                        return Err(err(format!(
                            "key `features[{i}].sample_rate_hz`: value {fs} is out of range: expected a positive number of Hz"
                        )));
                    }
                    if !(lo >= 0.0 && lo < hi) {
                        return Err(err(format!(
                            "key `features[{i}].band_hz`: value [{lo}, {hi}] is not a band: expected 0 <= lo < hi"
                        )));
                    }
                }
                (Statistic::BandEnergy, _, _) => {
                    return Err(err(format!(
                        "key `features[{i}]`: statistic \"band_energy\" needs `band_hz = [lo, hi]` and `sample_rate_hz`"
                    )));
                }
                (s, _, _) if band => {
                    return Err(err(format!(
                        "key `features[{i}]`: `band_hz`/`sample_rate_hz` apply to \"band_energy\" only, not \"{}\"",
                        s.as_str()
                    )));
                }
                _ => {}
            }
            match (f.statistic, f.recent) {
                (Statistic::ShiftZ, Some(r)) if r >= 1 && r + 2 <= f.window => {}
                (Statistic::ShiftZ, Some(r)) => {
                    return Err(err(format!(
                        "key `features[{i}].recent`: value {r} is out of range: expected 1 to {} (window {} minus 2 reference samples)",
                        f.window.saturating_sub(2),
                        f.window
                    )));
                }
                (Statistic::ShiftZ, None) => {
                    return Err(err(format!("key `features[{i}]`: statistic \"shift_z\" needs `recent = N`")));
                }
                (s, Some(_)) => {
                    return Err(err(format!(
                        "key `features[{i}]`: `recent` applies to \"shift_z\" only, not \"{}\"",
                        s.as_str()
                    )));
                }
                (_, None) => {}
            }
            if m.asset_class.role(&f.role).is_none() {
                return Err(err(format!(
                    "key `features[{i}].role`: value \"{}\" is not a role of asset class `{}`",
                    f.role,
                    m.asset_class.as_str()
                )));
            }
        }
        if !m.output.threshold.is_finite() {
            return Err(err("key `output.threshold`: expected a finite number".into()));
        }
        Ok(m)
    }
}
