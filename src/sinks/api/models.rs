//! `GET /api/v1/models`: every configured model, loaded or rejected, with the execution
//! provider it runs on, the providers skipped and why, its input roles and latency stats.

use super::{ApiResult, ApiState, ErrorBody};
use crate::inference::registry::ModelInfo;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(paths(models))]
pub(crate) struct Doc;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new().route("/api/v1/models", get(models))
}

/// `GET /api/v1/models`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ModelsAnswer {
    /// Bumped on every reload of the models.
    pub generation: u64,
    /// Execution providers of the loaded ONNX Runtime (empty when it is not loaded).
    pub available_providers: Vec<String>,
    /// The ONNX Runtime library (`library` path and `version`); null when it is not loaded.
    #[schema(value_type = Option<Object>)]
    pub runtime: Option<Runtime>,
    /// One object per configured model: status, provider, skipped providers, latency.
    #[schema(value_type = Vec<Object>)]
    pub models: Vec<ModelInfo>,
}

/// The loaded ONNX Runtime library.
#[derive(Debug, Serialize, Deserialize)]
pub struct Runtime {
    pub library: String,
    pub version: Option<String>,
}

/// Every configured model with its status, execution provider, skipped providers and latency.
#[utoipa::path(get, path = "/api/v1/models", tag = "models",
    responses((status = 200, description = "`generation`, `available_providers`, `runtime` (library and version, null when not loaded) and `models` (one object per model)",
        body = ModelsAnswer), (status = 401, body = ErrorBody)))]
async fn models(State(state): State<ApiState>) -> ApiResult<Value> {
    let registry = state.live.read().unwrap_or_else(|p| p.into_inner()).registry.clone();
    let answer = ModelsAnswer {
        generation: registry.generation(),
        available_providers: available_providers(),
        runtime: crate::inference::runtime_path()
            .map(|p| Runtime { library: p.display().to_string(), version: crate::inference::runtime_version() }),
        models: registry.infos(),
    };
    // Through a JSON value, whose keys are sorted: the bytes served before this type existed.
    Ok(Json(serde_json::to_value(&answer).unwrap_or(Value::Null)))
}

/// The execution providers the loaded ONNX Runtime has (empty when it is not loaded).
fn available_providers() -> Vec<String> {
    if crate::inference::runtime_path().is_none() {
        return Vec::new();
    }
    crate::inference::providers::available().iter().map(|p| p.as_str().to_string()).collect()
}
