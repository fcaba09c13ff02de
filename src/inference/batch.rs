//! Batched scoring on the blocking pool. Before each evaluation pass the daemon computes the
//! features of every asset of each model's class (cheap, on the loop), then runs one session
//! call per model with all of them as one batch on tokio's blocking pool, so the async
//! runtime's workers never wait for ONNX Runtime. The scores are kept with the features they
//! belong to; the model criterion takes its asset's score from there, and scores on its own
//! only when the features differ (e.g. a model loaded between prescoring and evaluation).

use super::Model;
use crate::pipeline::Pipeline;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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

/// Run one batch per model on the blocking pool and keep the scores for the criteria.
/// Returns the number of rows scored.
pub async fn prescore(models: &[Arc<Model>], pipeline: &Pipeline, now_ms: i64) -> usize {
    let batches = collect(models, pipeline, now_ms);
    let mut handles = Vec::with_capacity(batches.len());
    for (model, ids, flat) in batches {
        handles.push(tokio::task::spawn_blocking(move || run_batch(&model, ids, flat, now_ms)));
    }
    let mut rows = 0;
    for h in handles {
        rows += h.await.unwrap_or(0);
    }
    rows
}

/// One session call for a batch; each asset's score kept with its features.
pub fn run_batch(model: &Model, ids: Vec<String>, flat: Vec<f32>, now_ms: i64) -> usize {
    let n = model.manifest.features.len();
    match model.score_batch(&flat, ids.len()) {
        Ok(scores) => {
            let rows = scores.len();
            for ((id, f), s) in ids.into_iter().zip(flat.chunks(n)).zip(scores) {
                model.prescored.put(id, now_ms, f.to_vec(), s);
            }
            rows
        }
        Err(e) => {
            // The criterion scores on its own, gets the same error, and abstains with it.
            tracing::warn!(model = %model.manifest.name, error = %e, "batched inference failed");
            0
        }
    }
}
