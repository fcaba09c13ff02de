//! `[[assets.baselines]]`: a per-asset baseline (issue 22): its signals (roles), window
//! features, how it learns (a sample count or a duration of good, running-state evaluations
//! after the start or a re-learn) and its limits. Checked once at load.

use super::{AssetConfig, ConfigError, Doc, KeyPath};
use crate::baseline::{
    min_learning_samples, FeatureKind, LimitBasis, DEFAULT_CONFIDENCE, DEFAULT_VARIANCE, DEFAULT_WINDOW,
};
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineConfig {
    /// Its name; the criterion id is `baseline.<name>`.
    pub name: String,
    /// The roles it learns, in this order.
    pub signals: Vec<String>,
    /// Samples per window feature.
    #[serde(default = "default_window")]
    pub window: usize,
    /// Per-role feature (`level` or `rate`); default: `rate` for temperatures, else `level`.
    #[serde(default)]
    pub features: BTreeMap<String, FeatureKind>,
    pub learn: LearnConfig,
    /// Running state: learning and scoring only while `role >= min`. Default: the asset's
    /// `vibration.min_running_current_a` on `motor_current`, when both are set.
    pub running: Option<RunningConfig>,
    #[serde(default = "default_confidence")]
    pub confidence: f64,
    #[serde(default = "default_variance")]
    pub variance: f64,
    #[serde(default)]
    pub limits: LimitBasis,
    /// A ready baseline older than this abstains as stale until it is re-learned.
    pub stale_after_days: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LearnConfig {
    /// Learn from this many evaluations (feature vectors); at least `window x max(2 (signals + 1), 10)`.
    pub samples: Option<usize>,
    /// Or: learn for this long (`"10m"`, `"2h"`), from the first usable evaluation.
    pub duration: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunningConfig {
    pub role: String,
    pub min: f64,
}

fn default_window() -> usize {
    DEFAULT_WINDOW
}
fn default_confidence() -> f64 {
    DEFAULT_CONFIDENCE
}
fn default_variance() -> f64 {
    DEFAULT_VARIANCE
}

impl BaselineConfig {
    /// The learning duration in ms, when set (validated at load).
    pub fn learn_ms(&self) -> Option<i64> {
        self.learn.duration.as_deref().and_then(|d| humantime::parse_duration(d).ok()).map(|d| d.as_millis() as i64)
    }

    /// The running rule: its own, else the asset's vibration running current.
    pub fn running_rule(&self, asset: &AssetConfig) -> Option<RunningConfig> {
        self.running.clone().or_else(|| {
            let min = asset.vibration.as_ref()?.min_running_current_a?;
            asset.roles.contains_key("motor_current").then(|| RunningConfig { role: "motor_current".into(), min })
        })
    }

    /// Each signal's feature kind.
    pub fn kinds(&self, asset: &AssetConfig) -> Vec<(String, FeatureKind)> {
        self.signals
            .iter()
            .map(|s| {
                let unit = asset.class.role(s).map(|r| r.unit).unwrap_or("");
                (s.clone(), self.features.get(s).copied().unwrap_or_else(|| FeatureKind::default_for_unit(unit)))
            })
            .collect()
    }
}

pub(super) fn validate(doc: &Doc, at: &KeyPath, asset: &AssetConfig) -> Result<(), ConfigError> {
    let mut names = HashSet::new();
    for (i, b) in asset.baselines.iter().enumerate() {
        let at = at.key("baselines").index(i);
        super::nonempty_id(doc, &at.key("name"), &b.name)?;
        if !names.insert(b.name.as_str()) {
            return Err(doc.invalid(at.key("name"), format!("duplicate baseline name `{}` on this asset", b.name)));
        }
        if b.signals.is_empty() {
            return Err(doc.invalid(at.key("signals"), "empty: expected at least one role".into()));
        }
        let mut seen = HashSet::new();
        for (j, s) in b.signals.iter().enumerate() {
            if !seen.insert(s.as_str()) {
                return Err(doc.invalid(at.key("signals").index(j), format!("role `{s}` listed twice")));
            }
            // A role of the class that is not bound disables the baseline with the reason (as
            // for every criterion); a name that is no role of the class is a config error.
            if asset.class.role(s).is_none() {
                let known: Vec<&str> = asset.class.roles().iter().map(|r| r.name).collect();
                return Err(doc.invalid(
                    at.key("signals").index(j),
                    format!(
                        "value \"{s}\" is not a role of asset class `{}`: expected one of {}",
                        asset.class.as_str(),
                        known.join(", ")
                    ),
                ));
            }
        }
        for k in b.features.keys() {
            if !b.signals.contains(k) {
                return Err(doc.invalid(at.key("features").key(k), format!("role `{k}` is not one of `signals`")));
            }
        }
        if !(1..=crate::sample::WINDOW_CAPACITY).contains(&b.window) {
            return Err(doc.invalid(
                at.key("window"),
                format!("value {} is out of range: expected 1 to {}", b.window, crate::sample::WINDOW_CAPACITY),
            ));
        }
        let need = min_learning_samples(b.signals.len(), b.window);
        match (&b.learn.samples, &b.learn.duration) {
            (Some(n), None) if *n >= need => {}
            (Some(n), None) => {
                return Err(doc.invalid(
                    at.key("learn").key("samples"),
                    format!(
                        "value {n} is too small for {} signals with {}-sample windows: expected at least {need} ({} independent windows)",
                        b.signals.len(),
                        b.window,
                        need / b.window
                    ),
                ))
            }
            (None, Some(d)) => {
                if humantime::parse_duration(d).map(|d| d.is_zero()).unwrap_or(true) {
                    return Err(doc.invalid(
                        at.key("learn").key("duration"),
                        format!("value \"{d}\" is not a duration: expected e.g. \"10m\" or \"2h\""),
                    ));
                }
            }
            _ => {
                return Err(doc
                    .invalid(at.key("learn"), "expected exactly one of `samples = N` or `duration = \"10m\"`".into()))
            }
        }
        if let Some(r) = &b.running {
            if asset.class.role(&r.role).is_none() {
                return Err(doc.invalid(
                    at.key("running").key("role"),
                    format!("value \"{}\" is not a role of asset class `{}`", r.role, asset.class.as_str()),
                ));
            }
            if !r.min.is_finite() {
                return Err(doc.invalid(at.key("running").key("min"), "expected a finite number".into()));
            }
        }
        if !(0.5..=0.99999).contains(&b.confidence) {
            return Err(doc.invalid(
                at.key("confidence"),
                format!("value {} is out of range: expected 0.5 to 0.99999", b.confidence),
            ));
        }
        if !(b.variance > 0.0 && b.variance <= 1.0) {
            return Err(doc.invalid(
                at.key("variance"),
                format!("value {} is out of range: expected above 0 and at most 1", b.variance),
            ));
        }
        if let Some(d) = b.stale_after_days {
            if !(d > 0.0 && d.is_finite()) {
                return Err(doc.invalid(
                    at.key("stale_after_days"),
                    format!("value {d} is out of range: expected a positive number of days"),
                ));
            }
        }
    }
    Ok(())
}
