//! Live values as server-sent events, and a role's history downsampled to the range asked.

use super::{query_store, ApiError, ApiResult, ApiState, ErrorBody};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::time::Duration;
use utoipa::{OpenApi, ToSchema};

pub(crate) fn routes() -> Router<ApiState> {
    Router::new().route("/api/v1/live", get(live)).route("/api/v1/assets/{id}/history", get(history))
}

#[derive(OpenApi)]
#[openapi(paths(live, history), components(schemas(History, HistoryPoint)))]
pub(crate) struct Doc;

/// Server-sent events: an `assets` event (the JSON array of `/api/v1/assets` live parts:
/// values and assessments) at once and after every evaluation pass, at most once a second.
#[utoipa::path(get, path = "/api/v1/live", tag = "assets",
    responses((status = 200, content_type = "text/event-stream", description = "`event: assets` with a JSON array of assets"),
        (status = 401, body = ErrorBody)))]
async fn live(State(state): State<ApiState>) -> Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>> {
    let stream = futures_util::stream::unfold((state, -1i64), |(state, last)| async move {
        loop {
            let (stamp, data) = {
                let live = state.live.read().unwrap_or_else(|p| p.into_inner());
                if live.last_evaluation_ms == last {
                    (last, None)
                } else {
                    (live.last_evaluation_ms, Some(serde_json::to_string(&live.assets).unwrap_or_else(|_| "[]".into())))
                }
            };
            if let Some(data) = data {
                return Some((Ok(Event::default().event("assets").data(data)), (state, stamp)));
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(1000)) => {}
                _ = state.shutdown.cancelled() => return None,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// The asset's role, e.g. `h2` or `vib_velocity`.
    role: String,
    /// Start, ms since the Unix epoch (default: `to` minus one hour, not before 0).
    #[param(minimum = 0, maximum = 253_402_300_799_999_i64)]
    from_ms: Option<i64>,
    /// End, ms since the Unix epoch (default: now). A range that ends before it starts
    /// holds no points.
    #[param(minimum = 0, maximum = 253_402_300_799_999_i64)]
    to_ms: Option<i64>,
    /// Buckets to downsample into (1 to 1000; default 120).
    #[param(minimum = 1, maximum = 1000)]
    points: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct HistoryPoint {
    /// Bucket start (RFC 3339).
    pub t: String,
    pub t_ms: i64,
    pub min: f64,
    pub avg: f64,
    pub max: f64,
    /// Samples in the bucket.
    pub n: i64,
}

#[derive(Serialize, ToSchema)]
pub struct History {
    pub asset: String,
    pub role: String,
    pub point: String,
    pub unit: String,
    pub from_ms: i64,
    pub to_ms: i64,
    pub bucket_ms: i64,
    pub points: Vec<HistoryPoint>,
}

/// A role's values over a time range, downsampled to at most `points` buckets (min, avg,
/// max of each). Empty buckets are left out.
#[utoipa::path(get, path = "/api/v1/assets/{id}/history", tag = "assets", params(("id" = String, Path), HistoryQuery),
    responses((status = 200, body = History), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn history(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> ApiResult<History> {
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", m);
    let (point, unit) = {
        let live = state.live.read().unwrap_or_else(|p| p.into_inner());
        let asset = live
            .assets
            .iter()
            .find(|a| a.id == id)
            .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "asset_not_found", format!("no asset `{id}`")))?;
        let v = asset.values.iter().find(|v| v.role == q.role).ok_or_else(|| {
            let roles: Vec<&str> = asset.values.iter().map(|v| v.role.as_str()).collect();
            ApiError::new(
                StatusCode::NOT_FOUND,
                "role_not_found",
                format!("asset `{id}` has no role `{}`: it has {}", q.role, roles.join(", ")),
            )
        })?;
        (v.point.clone(), v.unit.clone())
    };
    let to = q.to_ms.unwrap_or_else(crate::time::now_ms);
    let from = q.from_ms.unwrap_or(to.saturating_sub(3_600_000).max(0));
    let points = q.points.unwrap_or(120);
    if !(1..=1000).contains(&points) {
        return Err(bad(format!("points={points}: expected 1 to 1000")));
    }
    // Up to the year 9999: beyond, times cannot be written as RFC 3339.
    const MAX: i64 = 253_402_300_799_999;
    if !(0..=MAX).contains(&from) || !(0..=MAX).contains(&to) {
        return Err(bad(format!("from_ms={from}, to_ms={to}: expected times from 0 to {MAX} (ms since 1970)")));
    }
    let p = point.clone();
    let rows = if from < to { query_store(&state, move |s| s.history(&p, from, to, points)).await? } else { vec![] };
    let bucket_ms = ((to - from) / points as i64).max(1);
    let _ = bad;
    Ok(Json(History {
        asset: id,
        role: q.role,
        point,
        unit,
        from_ms: from,
        to_ms: to,
        bucket_ms,
        points: rows
            .into_iter()
            .map(|(t, min, avg, max, n)| HistoryPoint { t: crate::time::rfc3339(t), t_ms: t, min, avg, max, n })
            .collect(),
    }))
}
