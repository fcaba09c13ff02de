//! `GET /api/v1/outbox`: the MQTT sink's connection and outbox fill level.

use super::{ApiError, ApiResult, ApiState};
use crate::sinks::mqtt::MqttStatusView;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};

pub(crate) fn routes() -> Router<ApiState> {
    Router::new().route("/api/v1/outbox", get(outbox))
}

async fn outbox(State(state): State<ApiState>) -> ApiResult<MqttStatusView> {
    let live = state.live.read().unwrap_or_else(|p| p.into_inner());
    match &live.mqtt {
        Some(m) => Ok(Json(m.view())),
        None => Err(ApiError::new(StatusCode::NOT_FOUND, "mqtt_disabled", "MQTT is off: [mqtt] enabled = false")),
    }
}
