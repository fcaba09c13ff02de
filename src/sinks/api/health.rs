//! `GET /healthz`: the gateway's health as one typed document, built from the components
//! (every source, sink and model), the store and the alarm outputs. Without credentials the
//! answer is the status alone. `edgecite status` reads the same type back.

use super::auth::Principal;
use super::{query_store, ApiState};
use crate::diagnose::Disabled;
use crate::sinks::live::ModelStatus;
use crate::sinks::mqtt::MqttStatusView;
use crate::sources::SourceStatus;
use crate::status::ComponentStatus;
use crate::store::guard::StoreHealth;
use crate::store::Store;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `GET /healthz`: whether the gateway works, and what is degraded.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// The overall state: `healthy`, `degraded` (a component, the store or an alarm output
    /// has a problem: `reasons` says which) or `down` (the store does not answer). Without
    /// credentials the answer is this field alone.
    pub status: String,
    /// With credentials: the detail.
    #[serde(flatten)]
    pub detail: Option<HealthDetail>,
}

/// What an authenticated caller sees beside the status.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HealthDetail {
    /// Why the state is not `healthy`, one line each.
    pub reasons: Vec<String>,
    pub version: String,
    pub site: Site,
    pub uptime_s: i64,
    /// RFC 3339; null before the first evaluation.
    pub last_evaluation: Option<String>,
    pub store: StoreView,
    /// Every source, sink and model with its health and counted events (received, sent,
    /// errors, dropped).
    pub components: Vec<ComponentStatus>,
    /// The sources' own counters (requests, timeouts, exceptions, back-off, latency).
    #[schema(value_type = Vec<Object>)]
    pub sources: Vec<SourceStatus>,
    #[schema(value_type = Vec<Object>)]
    pub models: Vec<ModelStatus>,
    /// Models that could not be loaded, with the file and why.
    pub model_errors: Vec<String>,
    /// Alarm outputs that failed, with the device and why.
    pub alarm_errors: Vec<String>,
    /// Criteria switched off by configuration or by a failed check, with the reason.
    #[schema(value_type = Vec<Object>)]
    pub disabled_criteria: Vec<Disabled>,
    /// The MQTT sink: broker, session, counters and the outbox (null without `[mqtt]`).
    pub mqtt: Option<MqttStatusView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Site {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StoreView {
    /// False when the store does not answer (the status is then `down`).
    pub ok: bool,
    /// Samples stored (an estimate); null when the store does not answer.
    pub samples: Option<u64>,
    pub sqlite_memory_bytes: i64,
    /// Integrity check, free disk, samples dropped, reference index.
    #[schema(value_type = Object)]
    pub health: StoreHealth,
}

#[utoipa::path(get, path = "/healthz", tag = "health", security((), ("bearer" = []), ("session" = [])),
    responses((status = 200, description = "healthy or degraded; the detail with credentials", body = Health), (status = 503, body = Health)))]
pub(crate) async fn healthz(State(state): State<ApiState>, principal: Option<axum::Extension<Principal>>) -> Response {
    let samples = query_store(&state, |s| s.sample_count_estimate()).await;
    let live = state.live.read().unwrap_or_else(|p| p.into_inner());
    let components = live.components();
    let store_ok = samples.is_ok();
    // Sources first, then alarm outputs, the store, the sinks and the models.
    let problem = |c: &&ComponentStatus| c.problem.clone();
    let (sources, others): (Vec<&ComponentStatus>, Vec<&ComponentStatus>) =
        components.iter().partition(|c| c.role == crate::status::ComponentRole::Source);
    let mut reasons: Vec<String> = sources.iter().filter_map(problem).collect();
    reasons.extend(live.alarm_errors.iter().map(|e| format!("alarm output: {e}")));
    reasons.extend(live.store_health.problems());
    reasons.extend(others.iter().filter_map(problem));
    let status = match (store_ok, reasons.is_empty()) {
        (false, _) => "down",
        (true, true) => "healthy",
        (true, false) => "degraded",
    };
    let code = if store_ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let detail = principal.is_some().then(|| HealthDetail {
        reasons,
        version: env!("CARGO_PKG_VERSION").to_string(),
        site: Site { id: live.site_id.clone(), name: live.site_name.clone() },
        uptime_s: (crate::time::now_ms() - live.started_ms) / 1000,
        last_evaluation: (live.last_evaluation_ms > 0).then(|| crate::time::rfc3339(live.last_evaluation_ms)),
        store: StoreView {
            ok: store_ok,
            samples: samples.as_ref().ok().map(|n| *n as u64),
            sqlite_memory_bytes: Store::sqlite_memory_bytes(),
            health: live.store_health.clone(),
        },
        components,
        sources: live.source_statuses(),
        models: live.models.clone(),
        model_errors: live.model_errors.clone(),
        alarm_errors: live.alarm_errors.clone(),
        disabled_criteria: live.disabled.clone(),
        mqtt: live.mqtt.as_ref().map(|m| m.view()),
    });
    (code, Json(Health { status: status.to_string(), detail })).into_response()
}
