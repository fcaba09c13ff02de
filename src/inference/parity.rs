//! `edgecite model parity`: score a model's `parity.csv` (feature vectors and the scores the
//! training script's ONNX Runtime computed on CPU) on the configured execution providers, and
//! compare. A vendor runs it on the gateway to see that an accelerator build (OpenVINO, an NPU
//! provider, RKNN) scores the shipped models as the reference does.

use super::eval::{find_model, EvalError};
use super::Model;
use serde::Serialize;
use std::path::Path;

/// Product policy: a score agrees with the reference when it is within this fraction of it
/// (and of 1 for scores below 1): the tolerance the shipped models' parity fixtures are held
/// to on CPU (tests/model_registry.rs). Thresholds sit far further apart than that.
pub const TOLERANCE: f64 = 1e-4;

#[derive(Debug, Clone, Serialize)]
pub struct ParityReport {
    pub model: String,
    pub version: String,
    pub provider: String,
    /// `all` or `partial` (see `Model::placement`).
    pub provider_nodes: String,
    pub runtime: Option<String>,
    pub rows: usize,
    pub max_abs_diff: f64,
    /// The largest |score - reference| / max(|reference|, 1).
    pub max_scaled_diff: f64,
    /// 1-based row of parity.csv (after the header) with the largest scaled difference.
    pub worst_row: usize,
    pub tolerance: f64,
    pub agrees: bool,
}

/// Score `dir/parity.csv` with `model`.
pub fn check(model: &Model, dir: &Path) -> Result<ParityReport, EvalError> {
    let file = dir.join("parity.csv");
    let text = std::fs::read_to_string(&file).map_err(|source| EvalError::Read { file: file.clone(), source })?;
    let n = model.manifest.features.len();
    let (mut flat, mut reference) = (Vec::new(), Vec::new());
    for (i, line) in text.lines().enumerate().skip(1).filter(|(_, l)| !l.trim().is_empty()) {
        let cols: Result<Vec<f64>, _> = line.split(',').map(|c| c.trim().parse::<f64>()).collect();
        let cols = cols.map_err(|e| EvalError::Csv { file: file.clone(), line: i + 1, message: e.to_string() })?;
        if cols.len() != n + 1 {
            let message = format!("expected {n} features and the reference score, got {} columns", cols.len());
            return Err(EvalError::Csv { file: file.clone(), line: i + 1, message });
        }
        flat.extend(cols[..n].iter().map(|v| *v as f32));
        reference.push(cols[n]);
    }
    let scores = model.score_batch(&flat, reference.len())?;
    let (mut max_abs, mut max_scaled, mut worst) = (0.0f64, 0.0f64, 0);
    for (i, (s, r)) in scores.iter().zip(&reference).enumerate() {
        let d = (*s as f64 - r).abs();
        let scaled = if d.is_nan() { f64::INFINITY } else { d / r.abs().max(1.0) };
        max_abs = max_abs.max(d);
        if scaled > max_scaled || i == 0 {
            max_scaled = scaled;
            worst = i + 1;
        }
    }
    Ok(ParityReport {
        model: model.manifest.name.clone(),
        version: model.manifest.version.clone(),
        provider: model.provider.to_string(),
        provider_nodes: model.placement.to_string(),
        runtime: super::runtime_version(),
        rows: reference.len(),
        max_abs_diff: max_abs,
        max_scaled_diff: max_scaled,
        worst_row: worst,
        tolerance: TOLERANCE,
        agrees: max_scaled <= TOLERANCE,
    })
}

/// The whole command: load the runtime and the model on the configured providers, compare.
pub fn run(name: &str, cfg: &crate::config::inference::InferenceConfig) -> Result<ParityReport, EvalError> {
    let dir = find_model(name, &cfg.models_dir)?;
    super::init_runtime(cfg.runtime_path.as_deref())?;
    super::set_rknn_runtime(cfg.rknn_runtime_path.as_deref());
    if let Some(e) = super::register_ep_libraries(&cfg.ep_libraries).into_iter().next() {
        tracing::warn!(error = %e, "plugin EP library not used");
    }
    let model = Model::load_with(&dir, &cfg.providers, &cfg.provider_options)?;
    check(&model, &dir)
}
