//! `GET /api/v1/ask?q=&asset=&lang=&limit=`: ranked reference passages with citations and
//! highlights, tied to the asset's open findings when `asset` is given. Below the
//! relevance floor: `supported = false`, the reason, and the nearest references marked
//! `nearest = true`. No generated text. The same [`answer`] serves `edgecite ask`.

use super::{query_store, ApiError, ApiState};
use crate::config::packs::Lang;
use crate::store::FindingFilter;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;

use crate::service::ask::{answer, AskResponse};
use crate::service::knowledge::Knowledge;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new().route("/api/v1/ask", get(ask))
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(ask))]
pub(crate) struct Doc;

/// The query parameters of `/api/v1/ask`: the OpenAPI document's and the handler's (an
/// unknown parameter is refused, naming it).
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct AskParams {
    /// The question: 1 to 500 characters, not only spaces.
    #[param(required = true, min_length = 1, max_length = 500, pattern = r"\S")]
    q: Option<String>,
    /// An asset id: its open findings' cited passages rank first, then passages of its class
    /// and naming its parameter values (machine group, foundation, voltage and insulation
    /// class); 404 if unknown.
    asset: Option<String>,
    /// `en` or `zh` (else `Accept-Language`, else `[packs] language`).
    lang: Option<Lang>,
    /// How many passages, 1 to 50 (default 5).
    #[param(minimum = 1, maximum = 50)]
    limit: Option<u32>,
}

fn bad(message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_query", message)
}

/// The language of a request: `lang=`, else `Accept-Language`, else the configured default.
pub(crate) fn request_lang(param: Option<Lang>, headers: &HeaderMap, default: Lang) -> Lang {
    param.unwrap_or_else(|| {
        headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(Lang::from_accept_language)
            .unwrap_or(default)
    })
}

/// Ranked reference passages with citations and highlights, or "no supported answer" with
/// the nearest references; tied to the asset's open findings when `asset` is given.
#[utoipa::path(get, path = "/api/v1/ask", tag = "references",
    params(AskParams),
    responses((status = 200, description = "query, lang, supported, reason, results (with matched terms and sentences), depends_on, context_note, asset_context, asset_evidence", body = super::schemas::AskAnswer),
        (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)))]
async fn ask(
    State(state): State<ApiState>,
    headers: HeaderMap,
    super::ApiQuery(q): super::ApiQuery<AskParams>,
) -> Result<Json<AskResponse>, ApiError> {
    let know = state.knowledge.clone();
    let limit = match q.limit {
        None => 5,
        Some(n) if (1..=50).contains(&n) => n as usize,
        Some(n) => return Err(bad(format!("limit=`{n}`: expected a whole number from 1 to 50"))),
    };
    let query =
        q.q.filter(|s| !s.trim().is_empty()).ok_or_else(|| bad("missing q: the question to search for".into()))?;
    if query.chars().count() > 500 {
        return Err(bad(format!("q is {} characters long: at most 500", query.chars().count())));
    }
    let lang = request_lang(q.lang, &headers, know.language);
    let asset = q.asset;
    let context = asset.as_ref().and_then(|a| know.assets.get(a).cloned());
    let findings = match asset {
        None => None,
        Some(a) => {
            let known = state.live.read().unwrap_or_else(|p| p.into_inner()).assets.iter().any(|x| x.id == a);
            if !known {
                return Err(ApiError::new(StatusCode::NOT_FOUND, "asset_not_found", format!("no asset `{a}`")));
            }
            let filter = FindingFilter { state: Some("open".into()), asset: Some(a), limit: None, severity: None };
            Some(query_store(&state, move |s| s.findings(&filter)).await?)
        }
    };
    tokio::task::spawn_blocking(move || {
        let refs = know.refs.lock().unwrap_or_else(|p| p.into_inner());
        answer(&refs, &query, lang, limit, context.as_ref(), findings.as_deref())
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
    .map(Json)
    .map_err(|e| {
        tracing::error!(error = %e, "reference search failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "search_error", e.to_string())
    })
}

/// Shared handle type for the state.
pub type SharedKnowledge = Arc<Knowledge>;
