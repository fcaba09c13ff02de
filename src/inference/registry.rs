//! The models the daemon runs now and the ones it rejected, with why: what
//! `GET /api/v1/models` and `edgecite status` show. Swapped as a whole on hot reload.

use super::stats::StatsSnapshot;
use super::{Manifest, Model};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

/// A model directory that could not be loaded.
#[derive(Debug, Clone)]
pub struct Rejected {
    pub dir: PathBuf,
    pub error: String,
    /// Its manifest, read once when it was rejected, if it parses (hash or shape errors):
    /// the model is named by it.
    pub manifest: Option<Manifest>,
}

impl Rejected {
    pub fn new(dir: PathBuf, error: String) -> Rejected {
        let manifest = Manifest::load(&dir.join("manifest.toml")).ok();
        Rejected { dir, error, manifest }
    }
}

#[derive(Debug, Default)]
pub struct Registry {
    inner: RwLock<(Vec<Arc<Model>>, Vec<Rejected>, u64)>,
}

/// One model as the API shows it (and `edgecite status` reads it back: the names the
/// daemon sets are `'static`, those read back owned).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelInfo {
    pub name: String,
    pub version: Option<String>,
    pub dir: String,
    /// `loaded` or `rejected`.
    pub status: Cow<'static, str>,
    pub error: Option<String>,
    /// The execution provider the session runs on (loaded models).
    pub provider: Option<Cow<'static, str>>,
    /// Preferred providers skipped for this model, with the reason.
    pub provider_fallbacks: Vec<String>,
    /// `all`: the provider runs every node; `partial`: ONNX Runtime runs the nodes the
    /// provider does not support on CPU.
    pub provider_nodes: Option<Cow<'static, str>>,
    /// The options passed to the provider (`[inference.provider_options.<provider>]`).
    pub provider_options: std::collections::BTreeMap<String, String>,
    pub asset_class: Option<Cow<'static, str>>,
    pub input_roles: Vec<String>,
    pub threshold: Option<f64>,
    pub latency: Option<StatsSnapshot>,
}

impl ModelInfo {
    /// The model as a component: feature rows in, finite scores out, failed runs, and
    /// non-finite scores (which never give a finding). A rejected model is not healthy.
    pub fn component(&self) -> crate::status::ComponentStatus {
        let l = self.latency.clone().unwrap_or_default();
        crate::status::ComponentStatus {
            id: self.name.clone(),
            role: crate::status::ComponentRole::Model,
            kind: self.provider.as_deref().unwrap_or("none").to_string(),
            healthy: self.status == "loaded",
            problem: self.error.as_ref().map(|e| format!("model {} rejected: {e}", self.name)),
            received: l.rows,
            sent: l.rows.saturating_sub(l.non_finite_scores),
            errors: l.errors,
            dropped: l.non_finite_scores,
        }
    }
}

impl Registry {
    pub fn new(models: Vec<Arc<Model>>, rejected: Vec<Rejected>) -> Self {
        Registry { inner: RwLock::new((models, rejected, 1)) }
    }

    /// Replace the whole set (hot reload); returns the new generation.
    pub fn replace(&self, models: Vec<Arc<Model>>, rejected: Vec<Rejected>) -> u64 {
        let mut g = self.inner.write().unwrap_or_else(|p| p.into_inner());
        g.2 += 1;
        g.0 = models;
        g.1 = rejected;
        g.2
    }

    pub fn models(&self) -> Vec<Arc<Model>> {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).0.clone()
    }

    /// How many times the set was loaded.
    pub fn generation(&self) -> u64 {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).2
    }

    pub fn infos(&self) -> Vec<ModelInfo> {
        let g = self.inner.read().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<ModelInfo> =
            g.0.iter()
                .map(|m| ModelInfo {
                    name: m.manifest.name.clone(),
                    version: Some(m.manifest.version.clone()),
                    dir: m.dir.display().to_string(),
                    status: Cow::Borrowed("loaded"),
                    error: None,
                    provider: Some(Cow::Borrowed(m.provider)),
                    provider_fallbacks: m.fallbacks.clone(),
                    provider_nodes: Some(Cow::Borrowed(m.placement)),
                    provider_options: m.provider_options.iter().cloned().collect(),
                    asset_class: Some(Cow::Borrowed(m.manifest.asset_class.as_str())),
                    input_roles: m.roles(),
                    threshold: Some(m.manifest.output.threshold),
                    latency: Some(m.stats.snapshot()),
                })
                .collect();
        for r in &g.1 {
            let manifest = r.manifest.as_ref();
            let dir_name = r.dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            out.push(ModelInfo {
                name: manifest.map(|m| m.name.clone()).unwrap_or(dir_name),
                version: manifest.map(|m| m.version.clone()),
                dir: r.dir.display().to_string(),
                status: Cow::Borrowed("rejected"),
                error: Some(r.error.clone()),
                provider: None,
                provider_fallbacks: Vec::new(),
                provider_nodes: None,
                provider_options: Default::default(),
                asset_class: manifest.map(|m| Cow::Borrowed(m.asset_class.as_str())),
                input_roles: manifest
                    .map(|m| {
                        let mut v: Vec<String> = Vec::new();
                        for f in &m.features {
                            if !v.contains(&f.role) {
                                v.push(f.role.clone());
                            }
                        }
                        v
                    })
                    .unwrap_or_default(),
                threshold: manifest.map(|m| m.output.threshold),
                latency: None,
            });
        }
        out
    }
}
