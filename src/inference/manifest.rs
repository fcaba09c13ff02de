//! `models/<name>/manifest.toml`: what a model takes, what it returns and where it came from.

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
    pub valid_min: f64,
    pub valid_max: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Statistic {
    Mean,
}

impl Statistic {
    pub fn apply(self, xs: &[f64]) -> f64 {
        match self {
            Statistic::Mean => xs.iter().sum::<f64>() / xs.len().max(1) as f64,
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
            if f.window == 0 || f.window > crate::pipeline::WINDOW_CAPACITY {
                return Err(err(format!(
                    "key `features[{i}].window`: value {} is out of range: expected 1 to {}",
                    f.window,
                    crate::pipeline::WINDOW_CAPACITY
                )));
            }
            if !(f.valid_min < f.valid_max) {
                return Err(err(format!(
                    "key `features[{i}]`: valid_min {} must be below valid_max {}",
                    f.valid_min, f.valid_max
                )));
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
