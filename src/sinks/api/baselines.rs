//! Per-asset baselines: their state (`GET /api/v1/baselines`) and the re-learn action after
//! maintenance (`POST .../relearn`, technician or admin; the auth layer audits it). The
//! request is stored; the daemon takes it up at its next evaluation pass (and audits that).

use super::auth::Principal;
use super::{query_store, ApiError, ApiResult, ApiState, ErrorBody};
use crate::store::baseline::BaselineRow;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

pub(crate) fn routes() -> Router<ApiState> {
    Router::new().route("/api/v1/baselines", get(list)).route("/api/v1/baselines/{asset}/{name}/relearn", post(relearn))
}

#[derive(OpenApi)]
#[openapi(paths(list, relearn), components(schemas(BaselineRow, RelearnAccepted)))]
pub(crate) struct Doc;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this asset's baselines.
    pub asset: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RelearnAccepted {
    pub asset: String,
    pub name: String,
    pub requested_by: String,
    pub requested: String,
    /// What happens next.
    pub message: String,
}

/// Baselines with their state (learning, ready, stale), time range, sample count and limits.
#[utoipa::path(get, path = "/api/v1/baselines", tag = "baselines", params(ListQuery),
    responses((status = 200, body = Vec<BaselineRow>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn list(
    State(state): State<ApiState>,
    super::ApiQuery(q): super::ApiQuery<ListQuery>,
) -> ApiResult<Vec<BaselineRow>> {
    Ok(Json(query_store(&state, move |s| s.baselines(q.asset.as_deref(), crate::time::now_ms())).await?))
}

/// Re-learn a baseline (technician): its learned normal is dropped and it learns again from
/// the daemon's next evaluation; until it is ready again its criterion abstains.
#[utoipa::path(post, path = "/api/v1/baselines/{asset}/{name}/relearn", tag = "baselines",
    params(("asset" = String, Path), ("name" = String, Path)),
    responses((status = 202, body = RelearnAccepted), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn relearn(
    State(state): State<ApiState>,
    Extension(p): Extension<Principal>,
    Path((asset, name)): Path<(String, String)>,
) -> Result<(StatusCode, Json<RelearnAccepted>), ApiError> {
    let now = crate::time::now_ms();
    let (a, n, by) = (asset.clone(), name.clone(), p.user.clone());
    if !query_store(&state, move |s| s.request_relearn(&a, &n, &by, now)).await? {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "baseline_not_found",
            format!("asset `{asset}` has no baseline `{name}` (GET /api/v1/baselines lists them)"),
        ));
    }
    tracing::warn!(%asset, baseline = %name, user = %p.user, "baseline re-learn requested");
    Ok((
        StatusCode::ACCEPTED,
        Json(RelearnAccepted {
            message: format!("baseline `{name}` of {asset} learns again from the daemon's next evaluation"),
            asset,
            name,
            requested_by: p.user,
            requested: crate::time::rfc3339(now),
        }),
    ))
}
