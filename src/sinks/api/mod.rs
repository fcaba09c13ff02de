//! HTTP API (axum) under `/api/v1`, `/healthz`, and the technician page at `/`.
//! Every error is JSON: `{"error": {"code": "...", "message": "..."}}`.
//!
//! Layout: this file holds the shared pieces (state, `ApiError`, `query_store`) and the core
//! routes. A feature's routes live in their own file under `sinks/api/` as
//! `pub(crate) fn routes() -> Router<ApiState>` and are merged in `router` below.

pub mod ask;
mod baselines;
mod dga;
pub mod models;
mod outbox;

use super::live::{LiveAsset, SharedLive};
use crate::config::packs::Lang;
use crate::store::auth::Ack;
use crate::store::{FindingFilter, FindingRecord, Store};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use i18n::{FindingText, LiveAssetView};
use serde::Serialize;
use serde_json::json;
use std::sync::{Arc, Mutex};
use utoipa::{OpenApi, ToSchema};

pub mod auth;
mod field;
pub mod health;
pub mod i18n;
mod link;
pub mod metrics;
mod qr;
mod schemas;
pub mod server;
mod stream;
mod webapp;

pub use server::spawn;

#[derive(Clone)]
pub struct ApiState {
    pub live: SharedLive,
    /// A writable connection: the API writes acknowledgements, notes, sessions and audit rows.
    pub store: Arc<Mutex<Store>>,
    pub auth: Arc<auth::AuthState>,
    pub metrics: Arc<metrics::HttpMetrics>,
    /// Cancelled at shutdown: ends long-lived responses (server-sent events).
    pub shutdown: tokio_util::sync::CancellationToken,
    /// Packs, lab DGA and reference search (ask.rs, dga.rs).
    pub knowledge: ask::SharedKnowledge,
    /// Retention of notes and photos (`[api]`): a new photo must fit the photo quota.
    pub retention: crate::store::retention::RetentionPolicy,
    /// `POST /api/v1/dga` computations allowed at once (`[api] dga_concurrency`).
    pub dga_slots: Arc<tokio::sync::Semaphore>,
}

impl ApiState {
    pub fn new(
        live: SharedLive,
        store: Store,
        cfg: &crate::config::ApiConfig,
        knowledge: ask::SharedKnowledge,
    ) -> ApiState {
        ApiState {
            live,
            knowledge,
            retention: cfg.into(),
            store: Arc::new(Mutex::new(store)),
            auth: Arc::new(auth::AuthState::new(cfg)),
            metrics: Arc::new(metrics::HttpMetrics::default()),
            shutdown: Default::default(),
            dga_slots: Arc::new(tokio::sync::Semaphore::new(cfg.dga_concurrency as usize)),
        }
    }
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

/// A route's query parameters, declared once: the struct the OpenAPI document lists
/// (`IntoParams`) is the one the handler reads, with `deny_unknown_fields`. A query that
/// does not parse (an unknown parameter, a bad value) answers 400 `bad_query` naming the
/// parameter and the value.
pub(crate) struct ApiQuery<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(q)) => Ok(ApiQuery(q)),
            Err(e) => Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text())),
        }
    }
}

/// The body of every error response.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable (`unauthenticated`, `forbidden`, `finding_not_found`, ...).
    pub code: String,
    /// For people; may change between versions.
    pub message: String,
}

pub(crate) type ApiResult<T> = Result<Json<T>, ApiError>;

/// The OpenAPI document: the core routes here plus one `Doc` per feature file (add yours
/// with one `.merge(...)` line; see DEVELOPERS.md).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = CoreDoc::openapi();
    doc.merge(auth::Doc::openapi());
    doc.merge(field::Doc::openapi());
    doc.merge(stream::Doc::openapi());
    doc.merge(metrics::Doc::openapi());
    doc.merge(models::Doc::openapi());
    doc.merge(outbox::Doc::openapi());
    doc.merge(ask::Doc::openapi());
    doc.merge(dga::Doc::openapi());
    doc.merge(baselines::Doc::openapi());
    doc.merge(qr::Doc::openapi());
    doc
}

#[derive(OpenApi)]
#[openapi(
    info(title = "edgecite API", description = "Equipment data to cited inspection findings. Credentials: `Authorization: Bearer <token>` (edgecite token create) or the session cookie from POST /api/v1/auth/login. GET needs the viewer role, other methods technician, /api/v1/admin/* admin. Every error is `{\"error\": {\"code\", \"message\"}}`."),
    paths(assets, asset, findings, finding, health::healthz),
    components(schemas(ErrorBody, ErrorDetail, AssetView, FindingView, Ack, crate::text::Lang, StateParam, SeverityParam,
        health::Health, health::HealthDetail, health::Site, health::StoreView, crate::status::ComponentStatus, crate::status::ComponentRole, schemas::AskAnswer, models::ModelsAnswer, crate::sinks::mqtt::MqttStatusView, crate::store::outbox::OutboxStats)),
    modifiers(&Security),
    security(("bearer" = []), ("session" = []))
)]
struct CoreDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
        let c = doc.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        c.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(auth::SESSION_COOKIE))),
        );
    }
}

async fn openapi_json() -> Response {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let body = DOC.get_or_init(|| openapi().to_json().expect("the OpenAPI document serialises"));
    ([(header::CONTENT_TYPE, "application/json")], body.as_str()).into_response()
}

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/healthz", get(health::healthz))
        .route("/api/v1/openapi.json", get(openapi_json))
        .route("/api/v1/assets", get(assets))
        .route("/api/v1/assets/{id}", get(asset))
        .route("/api/v1/findings", get(findings))
        .route("/api/v1/findings/{id}", get(finding))
        .merge(models::routes())
        .merge(auth::routes())
        .merge(field::routes(&state))
        .merge(stream::routes())
        .merge(metrics::routes())
        .merge(webapp::routes())
        .merge(outbox::routes())
        .merge(ask::routes())
        .merge(dga::routes())
        .merge(baselines::routes())
        .merge(qr::routes())
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        // Outermost last: metrics and error shaping see every response, auth covers every
        // route (including those merged above by other features).
        .layer(axum::middleware::from_fn(link::etag))
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::guard))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(link::compression())
        .with_state(state)
}

async fn index() -> impl IntoResponse {
    (
        [
            (header::CACHE_CONTROL, "no-cache"),
            // Scripts only from this origin (no inline script); no framing.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' blob: data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
            ),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        Html(webapp::INDEX_HTML),
    )
}

pub(crate) async fn query_store<T: Send + 'static>(
    state: &ApiState,
    f: impl FnOnce(&mut Store) -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || {
        let mut s = store.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut s)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
    .map_err(|e| {
        tracing::error!(error = %e, "store query failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "store_error", e.to_string())
    })
}

/// A finding with its acknowledgement, as the API returns it, in the request's language.
#[derive(Serialize, ToSchema)]
pub struct FindingView {
    #[serde(flatten)]
    pub finding: FindingText,
    /// Set once a technician has acknowledged the finding (its state is unchanged by that).
    pub acknowledged: Option<Ack>,
}

impl FindingView {
    pub fn new(f: FindingRecord, acknowledged: Option<Ack>, lang: Lang) -> Self {
        FindingView { finding: FindingText::new(f, lang), acknowledged }
    }
}

#[derive(Serialize, ToSchema)]
struct AssetView {
    #[serde(flatten)]
    live: LiveAssetView,
    open_findings: usize,
    /// The highest severity among open findings, if any.
    worst_severity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    findings: Option<Vec<FindingText>>,
    /// The language chosen for this response: `en` or `zh`.
    lang: String,
}

/// `lang`: `en` or `zh` (also `zh-CN`). Without it, `Accept-Language`, then `[packs] language`.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct LangQuery {
    /// Language of the texts: en or zh (default: Accept-Language, then the configured one).
    lang: Option<Lang>,
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

fn asset_view(live: LiveAsset, open: &[FindingRecord], include: bool, lang: Lang) -> AssetView {
    let mine: Vec<FindingRecord> = open.iter().filter(|f| f.asset == live.id).cloned().collect();
    AssetView {
        open_findings: mine.len(),
        worst_severity: mine.iter().map(|f| f.severity.clone()).max_by_key(|s| rank(s)),
        findings: include.then(|| mine.into_iter().map(|f| FindingText::new(f, lang)).collect()),
        live: LiveAssetView::new(live, lang),
        lang: lang.as_str().to_string(),
    }
}

async fn open_findings(state: &ApiState) -> Result<Vec<FindingRecord>, ApiError> {
    query_store(state, |s| s.findings(&FindingFilter { state: Some("open".into()), ..Default::default() })).await
}

/// Assets with live values, the latest assessment of each criterion and open findings.
#[utoipa::path(get, path = "/api/v1/assets", tag = "assets", params(LangQuery),
    responses((status = 200, body = Vec<AssetView>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn assets(
    State(state): State<ApiState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<LangQuery>,
) -> ApiResult<Vec<AssetView>> {
    let lang = i18n::lang_of(&state, q.lang, &headers);
    let open = open_findings(&state).await?;
    let live = state.live.read().unwrap_or_else(|p| p.into_inner()).assets.clone();
    Ok(Json(live.into_iter().map(|a| asset_view(a, &open, false, lang)).collect()))
}

/// One asset, with its open findings.
#[utoipa::path(get, path = "/api/v1/assets/{id}", tag = "assets", params(("id" = String, Path), LangQuery),
    responses((status = 200, body = AssetView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
async fn asset(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<LangQuery>,
) -> ApiResult<AssetView> {
    let lang = i18n::lang_of(&state, q.lang, &headers);
    let live = state.live.read().unwrap_or_else(|p| p.into_inner()).assets.iter().find(|a| a.id == id).cloned();
    let live =
        live.ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "asset_not_found", format!("no asset `{id}`")))?;
    let open = open_findings(&state).await?;
    Ok(Json(asset_view(live, &open, true, lang)))
}

#[derive(serde::Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum StateParam {
    Open,
    Cleared,
}

#[derive(serde::Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum SeverityParam {
    Low,
    Medium,
    High,
    Critical,
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct FindingsQuery {
    state: Option<StateParam>,
    /// Asset id.
    asset: Option<String>,
    severity: Option<SeverityParam>,
    /// 1 to 5000 (default 500).
    #[param(minimum = 1, maximum = 5000)]
    limit: Option<u32>,
    /// Language of the texts: en or zh (default: Accept-Language, then the configured one).
    lang: Option<Lang>,
}

fn bad_query(msg: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_query", msg)
}

/// Findings, open first, then by severity and recency.
#[utoipa::path(get, path = "/api/v1/findings", tag = "findings",
    params(FindingsQuery),
    responses((status = 200, body = Vec<FindingView>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn findings(
    State(state): State<ApiState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<FindingsQuery>,
) -> ApiResult<Vec<FindingView>> {
    let lang = i18n::lang_of(&state, q.lang, &headers);
    if let Some(n) = q.limit.filter(|n| !(1..=5000).contains(n)) {
        return Err(bad_query(format!("limit=`{n}`: expected a whole number from 1 to 5000")));
    }
    let filter = FindingFilter {
        state: q.state.map(|s| match s {
            StateParam::Open => "open".to_string(),
            StateParam::Cleared => "cleared".to_string(),
        }),
        severity: q.severity.map(|s| {
            match s {
                SeverityParam::Low => "low",
                SeverityParam::Medium => "medium",
                SeverityParam::High => "high",
                SeverityParam::Critical => "critical",
            }
            .to_string()
        }),
        asset: q.asset,
        limit: q.limit,
    };
    let (list, mut acks) = query_store(&state, move |s| Ok((s.findings(&filter)?, s.acks()?))).await?;
    Ok(Json(
        list.into_iter()
            .map(|f| {
                let ack = acks.remove(&f.id);
                FindingView::new(f, ack, lang)
            })
            .collect(),
    ))
}

pub(crate) fn parse_id(id: &str, what: &str) -> Result<i64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "bad_id", format!("{what} id `{id}` is not a number")))
}

/// One finding with its evidence, citations, event history and acknowledgement.
#[utoipa::path(get, path = "/api/v1/findings/{id}", tag = "findings", params(("id" = i64, Path), LangQuery),
    responses((status = 200, body = FindingView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
async fn finding(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<LangQuery>,
) -> ApiResult<FindingView> {
    let lang = i18n::lang_of(&state, q.lang, &headers);
    let n = parse_id(&id, "finding")?;
    query_store(&state, move |s| Ok(s.finding(n)?.map(|f| (f, s.ack(n)))))
        .await?
        .map(|(f, ack)| -> Result<_, ApiError> {
            let acknowledged =
                ack.map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "store_error", e.to_string()))?;
            Ok(Json(FindingView::new(f, acknowledged, lang)))
        })
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "finding_not_found", format!("no finding {n}")))?
}

/// `healthy`, `degraded` (with the reasons, to credentials) or `down` (the store cannot be
/// read). Without credentials only `{"status"}`: the detail shows the plant's layout
/// (endpoints, broker, site, thresholds, version), so it needs a viewer's token or session.
/// The store's health gauges and counters in the Prometheus text format.
pub(crate) fn health_metrics(state: &ApiState, o: &mut String) {
    use std::fmt::Write;
    let h = state.live.read().unwrap_or_else(|p| p.into_inner()).store_health.clone();
    let _ = writeln!(
        o,
        "# HELP edgecite_store_integrity_ok 1 when the last PRAGMA quick_check found nothing (or none ran yet).\n# TYPE edgecite_store_integrity_ok gauge\nedgecite_store_integrity_ok {}",
        h.integrity_problem.is_none() as u8
    );
    let _ = writeln!(
        o,
        "# TYPE edgecite_store_integrity_checks_total counter\nedgecite_store_integrity_checks_total {}",
        h.integrity_checks
    );
    let _ = writeln!(o, "# HELP edgecite_store_free_bytes Free bytes on the store's file system.\n# TYPE edgecite_store_free_bytes gauge\nedgecite_store_free_bytes {}", h.free_bytes.unwrap_or(0));
    let _ = writeln!(o, "# TYPE edgecite_store_disk_low gauge\nedgecite_store_disk_low {}", h.disk_low as u8);
    let _ = writeln!(o, "# HELP edgecite_store_samples_dropped_total Samples not stored (disk below the watermark, or a failed write).\n# TYPE edgecite_store_samples_dropped_total counter\nedgecite_store_samples_dropped_total {}", h.samples_dropped);
    let _ = writeln!(
        o,
        "# TYPE edgecite_references_degraded gauge\nedgecite_references_degraded {}",
        h.references_degraded.is_some() as u8
    );
}
