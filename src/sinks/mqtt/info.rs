//! The gateway's identity and reported state on `{prefix}/{site}/{gateway}/_gateway/info`
//! (retained, QoS 1, through the outbox; schema `schemas/mqtt/info.json`): what it runs
//! (edgecite version and target, the config's SHA-256, each pack and model with its version
//! and SHA-256, the execution provider each model runs on, ONNX Runtime and the providers it
//! offers) and since when. Published at the first evaluation, on every new broker session
//! and whenever what it runs changes (a model reload), so a fleet tool reads one retained
//! message per gateway.

use crate::config::Config;
use crate::diagnose::model_score::ModelSet;
use crate::diagnose::pack::PackSet;
use serde::Serialize;

/// What a gateway runs; equal values mean nothing changed (no new message).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Runs {
    pub version: String,
    /// `{arch}-{os}` of the build, e.g. `aarch64-linux`.
    pub target: String,
    pub config_sha256: String,
    pub packs: Vec<PackRun>,
    pub models: Vec<ModelRun>,
    /// Models that could not be loaded, with the file and why.
    pub model_errors: Vec<String>,
    /// The loaded ONNX Runtime's release; null when none is loaded (inference off, no
    /// models, or the library missing).
    pub onnxruntime: Option<String>,
    pub providers_available: Vec<String>,
    /// When the daemon started (the message says it as `started`, `started_ms`).
    #[serde(skip)]
    pub started_ms: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PackRun {
    pub id: String,
    pub version: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ModelRun {
    pub name: String,
    pub version: String,
    /// The model file's SHA-256 as pinned in its manifest (checked at load).
    pub sha256: String,
    pub provider: String,
    /// `all`: the provider runs every node; `partial`: ONNX Runtime gave some to the CPU.
    pub placement: String,
}

impl Runs {
    pub fn new(config: &Config, packs: &PackSet, models: &ModelSet, started_ms: i64) -> Runs {
        // Only a runtime that loaded is asked (ort panics on a call without its library);
        // none is loaded with inference off or without models.
        let runtime = config.inference.enabled && crate::inference::runtime_path().is_some();
        Runs {
            version: env!("CARGO_PKG_VERSION").to_string(),
            target: format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS),
            config_sha256: config.sha256.clone(),
            packs: packs
                .packs
                .iter()
                .map(|p| PackRun { id: p.id.clone(), version: p.version.clone(), sha256: p.sha256.clone() })
                .collect(),
            models: models
                .models
                .iter()
                .map(|m| ModelRun {
                    name: m.manifest.name.clone(),
                    version: m.manifest.version.clone(),
                    sha256: m.manifest.sha256.clone(),
                    provider: m.provider.to_string(),
                    placement: m.placement.to_string(),
                })
                .collect(),
            model_errors: models.errors.clone(),
            onnxruntime: runtime.then(crate::inference::runtime_version).flatten(),
            providers_available: if runtime {
                crate::inference::providers::available().iter().map(|p| p.as_str().to_string()).collect()
            } else {
                Vec::new()
            },
            started_ms,
        }
    }
}

/// The message: the envelope fields, what it runs and since when.
#[derive(Debug, Clone, Serialize)]
pub struct Info<'a> {
    pub schema: &'static str,
    pub site: &'a str,
    pub gateway: &'a str,
    pub ts: String,
    pub ts_ms: i64,
    #[serde(flatten)]
    pub runs: &'a Runs,
    pub started: String,
    pub started_ms: i64,
    /// Seconds since the start, when this message was made.
    pub uptime_s: i64,
    /// The newest error the daemon logged (null: none since the start).
    pub last_error: Option<crate::status::LastError>,
}

impl<'a> Info<'a> {
    pub fn new(site: &'a str, gateway: &'a str, runs: &'a Runs, now_ms: i64) -> Info<'a> {
        let started_ms = runs.started_ms;
        Info {
            schema: "edgecite/v1/info",
            site,
            gateway,
            ts: crate::time::rfc3339(now_ms),
            ts_ms: now_ms,
            runs,
            started: crate::time::rfc3339(started_ms),
            started_ms,
            uptime_s: (now_ms - started_ms).max(0) / 1000,
            last_error: crate::status::last_error(),
        }
    }
}
