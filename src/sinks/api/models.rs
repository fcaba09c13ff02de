//! `GET /api/v1/models`: every configured model, loaded or rejected, with the execution
//! provider it runs on, the providers skipped and why, its input roles and latency stats.

use super::{ApiResult, ApiState, ErrorBody};
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(paths(models))]
pub(crate) struct Doc;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new().route("/api/v1/models", get(models))
}

/// Every configured model with its status, execution provider, skipped providers and latency.
#[utoipa::path(get, path = "/api/v1/models", tag = "models",
    responses((status = 200, description = "`generation`, `available_providers`, `runtime` (library and version, null when not loaded) and `models` (one object per model)",
        body = super::schemas::ModelsAnswer), (status = 401, body = ErrorBody)))]
async fn models(State(state): State<ApiState>) -> ApiResult<Value> {
    let registry = state.live.read().unwrap_or_else(|p| p.into_inner()).registry.clone();
    Ok(Json(json!({
        "generation": registry.generation(),
        "available_providers": available_providers(),
        "runtime": crate::inference::runtime_path().map(|p| json!({
            "library": p.display().to_string(),
            "version": crate::inference::runtime_version(),
        })),
        "models": registry.infos(),
    })))
}

/// The execution providers the loaded ONNX Runtime has (empty when it is not loaded).
fn available_providers() -> Vec<&'static str> {
    if crate::inference::runtime_path().is_none() {
        return Vec::new();
    }
    crate::inference::providers::available().iter().map(|p| p.as_str()).collect()
}
