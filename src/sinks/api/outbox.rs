//! `GET /api/v1/outbox`: the MQTT sink's connection and outbox fill level.

use super::{ApiError, ApiResult, ApiState, ErrorBody};
use crate::sinks::mqtt::MqttStatusView;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(paths(outbox))]
pub(crate) struct Doc;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new().route("/api/v1/outbox", get(outbox))
}

/// The MQTT connection, outbox fill level and counters; 404 `mqtt_disabled` when MQTT is off.
#[utoipa::path(get, path = "/api/v1/outbox", tag = "mqtt",
    responses((status = 200, description = "connection state, outbox rows and bytes, quota, dropped telemetry, counters",
        body = MqttStatusView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn outbox(State(state): State<ApiState>) -> ApiResult<MqttStatusView> {
    let live = state.live.read().unwrap_or_else(|p| p.into_inner());
    match &live.mqtt {
        Some(m) => Ok(Json(m.view())),
        None => Err(ApiError::new(StatusCode::NOT_FOUND, "mqtt_disabled", "MQTT is off: [mqtt] enabled = false")),
    }
}
