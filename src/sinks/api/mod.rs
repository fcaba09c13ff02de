//! HTTP API (axum) under `/api/v1`, `/healthz`, and the technician page at `/`.
//! Every error is JSON: `{"error": {"code": "...", "message": "..."}}`.
//!
//! Layout: this file holds the shared pieces (state, `ApiError`, `query_store`) and the core
//! routes. A feature's routes live in their own file under `sinks/api/` as
//! `pub(crate) fn routes() -> Router<ApiState>` and are merged in `router` below.

pub mod ask;
mod dga;

use super::live::{LiveAsset, SharedLive};
use crate::store::{FindingFilter, FindingRecord, Store};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

const INDEX_HTML: &str = include_str!("../../../web/index.html");

#[derive(Clone)]
pub struct ApiState {
    pub live: SharedLive,
    pub store: Arc<Mutex<Store>>,
    /// Packs, lab DGA and reference search (ask.rs, dga.rs).
    pub knowledge: ask::SharedKnowledge,
}

pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"error": {"code": self.code, "message": self.message}}))).into_response()
    }
}

pub(crate) type ApiResult<T> = Result<Json<T>, ApiError>;

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/healthz", get(healthz))
        .route("/api/v1/assets", get(assets))
        .route("/api/v1/assets/{id}", get(asset))
        .route("/api/v1/findings", get(findings))
        .route("/api/v1/findings/{id}", get(finding))
        .merge(ask::routes())
        .merge(dga::routes())
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .with_state(state)
}

pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    tracing::info!(listen = %listener.local_addr()?, "HTTP API and technician page serving");
    axum::serve(listener, router(state)).with_graceful_shutdown(async move { cancel.cancelled().await }).await
}

async fn index() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-cache")], Html(INDEX_HTML))
}

pub(crate) async fn query_store<T: Send + 'static>(
    state: &ApiState,
    f: impl FnOnce(&Store) -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || {
        let s = store.lock().unwrap_or_else(|p| p.into_inner());
        f(&s)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
    .map_err(|e| {
        tracing::error!(error = %e, "store query failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "store_error", e.to_string())
    })
}

#[derive(Serialize)]
struct AssetView {
    #[serde(flatten)]
    live: LiveAsset,
    open_findings: usize,
    /// The highest severity among open findings, if any.
    worst_severity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    findings: Option<Vec<FindingRecord>>,
}

fn rank(sev: &str) -> u8 {
    match sev {
        "critical" => 4,
        "high" => 3,
        "medium" => 2,
        "low" => 1,
        _ => 0,
    }
}

fn asset_view(live: LiveAsset, open: &[FindingRecord], include: bool) -> AssetView {
    let mine: Vec<FindingRecord> = open.iter().filter(|f| f.asset == live.id).cloned().collect();
    AssetView {
        open_findings: mine.len(),
        worst_severity: mine.iter().map(|f| f.severity.clone()).max_by_key(|s| rank(s)),
        findings: include.then_some(mine),
        live,
    }
}

async fn open_findings(state: &ApiState) -> Result<Vec<FindingRecord>, ApiError> {
    query_store(state, |s| s.findings(&FindingFilter { state: Some("open".into()), ..Default::default() })).await
}

async fn assets(State(state): State<ApiState>) -> ApiResult<Vec<AssetView>> {
    let open = open_findings(&state).await?;
    let live = state.live.read().unwrap_or_else(|p| p.into_inner()).assets.clone();
    Ok(Json(live.into_iter().map(|a| asset_view(a, &open, false)).collect()))
}

async fn asset(State(state): State<ApiState>, Path(id): Path<String>) -> ApiResult<AssetView> {
    let live = state.live.read().unwrap_or_else(|p| p.into_inner()).assets.iter().find(|a| a.id == id).cloned();
    let live =
        live.ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "asset_not_found", format!("no asset `{id}`")))?;
    let open = open_findings(&state).await?;
    Ok(Json(asset_view(live, &open, true)))
}

async fn findings(
    State(state): State<ApiState>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Vec<FindingRecord>> {
    let mut filter = FindingFilter::default();
    for (k, v) in q {
        match k.as_str() {
            "state" if v == "open" || v == "cleared" => filter.state = Some(v),
            "state" => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_query",
                    format!("state=`{v}`: expected `open` or `cleared`"),
                ))
            }
            "asset" => filter.asset = Some(v),
            "limit" => {
                let n: u32 = v.parse().ok().filter(|n| (1..=5000).contains(n)).ok_or_else(|| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "bad_query",
                        format!("limit=`{v}`: expected a whole number from 1 to 5000"),
                    )
                })?;
                filter.limit = Some(n);
            }
            other => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_query",
                    format!("unknown query parameter `{other}`: expected state, asset or limit"),
                ))
            }
        }
    }
    Ok(Json(query_store(&state, move |s| s.findings(&filter)).await?))
}

async fn finding(State(state): State<ApiState>, Path(id): Path<String>) -> ApiResult<FindingRecord> {
    let n: i64 = id
        .parse()
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "bad_id", format!("finding id `{id}` is not a number")))?;
    query_store(&state, move |s| s.finding(n))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "finding_not_found", format!("no finding {n}")))
}

async fn healthz(State(state): State<ApiState>) -> Response {
    let samples = query_store(&state, |s| s.sample_count_estimate()).await;
    let live = state.live.read().unwrap_or_else(|p| p.into_inner());
    let sources = live.source_statuses();
    let now = crate::time::now_ms();
    let store_ok = samples.is_ok();
    let healthy = store_ok && live.alarm_errors.is_empty() && sources.iter().all(|s| s.connected);
    let status = if healthy { "ok" } else { "degraded" };
    let body = json!({
        "status": status,
        "version": env!("CARGO_PKG_VERSION"),
        "site": {"id": live.site_id, "name": live.site_name},
        "uptime_s": (now - live.started_ms) / 1000,
        "last_evaluation": (live.last_evaluation_ms > 0).then(|| crate::time::rfc3339(live.last_evaluation_ms)),
        "store": {"ok": store_ok, "samples": samples.ok(), "sqlite_memory_bytes": Store::sqlite_memory_bytes()},
        "sources": sources,
        "models": live.models,
        "model_errors": live.model_errors,
        "alarm_errors": live.alarm_errors,
        "disabled_criteria": live.disabled,
    });
    let code = if store_ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(body)).into_response()
}
