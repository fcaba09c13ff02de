//! Batched scoring on the blocking pool. Before each evaluation pass the daemon computes the
//! features of every asset of each model's class (cheap, on the loop), then runs one session
//! call per model with all of them as one batch on tokio's blocking pool, so the async
//! runtime's workers never wait for ONNX Runtime. The scores are kept with the features they
//! belong to; the model criterion takes its asset's score from there, and scores on its own
//! only when the features differ (e.g. a model loaded between prescoring and evaluation).

use super::{InferenceError, Model};
use crate::pipeline::Pipeline;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Session runs allowed at once: one core fewer than the machine has (at least one), so
/// inference can never take every core from the async runtime.
pub fn permits() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).saturating_sub(1).max(1)
}

fn gate() -> &'static tokio::sync::Semaphore {
    static GATE: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    GATE.get_or_init(|| tokio::sync::Semaphore::new(permits()))
}

/// Score `rows` feature vectors on the blocking pool, at most `permits()` runs at a time.
pub async fn score_blocking(model: Arc<Model>, features: Vec<f32>, rows: usize) -> Result<Vec<f32>, InferenceError> {
    let _permit = gate().acquire().await.expect("the gate is never closed");
    let name = model.manifest.name.clone();
    tokio::task::spawn_blocking(move || model.score_batch(&features, rows))
        .await
        .unwrap_or_else(|e| Err(InferenceError::Run { model: name, message: format!("inference task failed: {e}") }))
}

/// Scores computed ahead of an evaluation pass, per asset.
#[derive(Debug, Default)]
pub struct Prescored {
    by_asset: Mutex<HashMap<String, (i64, Vec<f32>, f32)>>,
}

impl Prescored {
    fn put(&self, asset: String, now_ms: i64, features: Vec<f32>, score: f32) {
        self.by_asset.lock().unwrap_or_else(|p| p.into_inner()).insert(asset, (now_ms, features, score));
    }

    /// The prescored value for exactly these features at this time, taken out.
    pub fn take(&self, asset: &str, now_ms: i64, features: &[f32]) -> Option<f32> {
        let mut m = self.by_asset.lock().unwrap_or_else(|p| p.into_inner());
        match m.get(asset) {
            Some((t, f, _)) if *t == now_ms && f == features => m.remove(asset).map(|(_, _, s)| s),
            _ => None,
        }
    }
}

/// Feature batches for each model: `(model, asset ids, features row after row)`.
pub fn collect(models: &[Arc<Model>], pipeline: &Pipeline, now_ms: i64) -> Vec<(Arc<Model>, Vec<String>, Vec<f32>)> {
    let mut out = Vec::new();
    for m in models {
        let (mut ids, mut flat) = (Vec::new(), Vec::new());
        for a in pipeline.assets().iter().filter(|a| a.class == m.manifest.asset_class) {
            if let Ok(f) = m.features(a, now_ms) {
                ids.push(a.id.clone());
                flat.extend(f.values);
            }
        }
        if !ids.is_empty() {
            out.push((m.clone(), ids, flat));
        }
    }
    out
}

/// Run one batch per model on the blocking pool (gated, see `permits`) and keep the scores
/// for the criteria. Returns the number of rows scored.
pub async fn prescore(models: &[Arc<Model>], pipeline: &Pipeline, now_ms: i64) -> usize {
    let batches = collect(models, pipeline, now_ms);
    let mut rows = 0;
    for (model, ids, flat) in batches {
        let n = model.manifest.features.len();
        match score_blocking(model.clone(), flat.clone(), ids.len()).await {
            Ok(scores) => {
                rows += scores.len();
                for ((id, f), s) in ids.into_iter().zip(flat.chunks(n)).zip(scores) {
                    model.prescored.put(id, now_ms, f.to_vec(), s);
                }
            }
            // The criterion scores on its own, gets the same error, and abstains with it.
            Err(e) => tracing::warn!(model = %model.manifest.name, error = %e, "batched inference failed"),
        }
    }
    rows
}
