//! Authentication and authorisation for everything under `/api/v1` (and `/metrics`).
//!
//! Credentials: an API token (`Authorization: Bearer ect_<id>_<secret>`, made with
//! `edgecite token create`) or the web app's session cookie (`edgecite_session`, from
//! `POST /api/v1/auth/login`). Roles are ordered viewer < technician < admin and enforced by
//! one middleware over the whole router, so routes merged later are covered too:
//!
//! - `GET`/`HEAD` under `/api/v1`: viewer
//! - any other method under `/api/v1`: technician
//! - anything under `/api/v1/admin/`: admin
//! - public: `/api/v1/auth/login`, `/api/v1/openapi.json`, the web app, `/healthz`
//!
//! Every write (non-GET request under `/api/v1`, allowed or not) is audited in SQLite, as is
//! every login. Failed logins are rate limited per client address (so nobody can lock a
//! named user out from elsewhere). What an unauthenticated peer can make the audit store is
//! bounded: fields are truncated (`Store::audit`), and refused requests without valid
//! credentials beyond `[api] audit_refused_per_minute` are counted into one summary row per
//! minute instead of one row each.

use super::{query_store, ApiError, ApiResult, ApiState};
use crate::config::ApiConfig;
use crate::service::accounts::{hash_secret, random_secret, verify_secret, Role, TOKEN_PREFIX};
use crate::store::auth::{AuditEntry, AuditRow};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use utoipa::{OpenApi, ToSchema};

pub const SESSION_COOKIE: &str = "edgecite_session";

/// The authenticated caller, in the request's extensions for handlers
/// (`Extension<Principal>`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Principal {
    pub user: String,
    pub role: Role,
    /// `session` or `token`.
    pub via: &'static str,
}

fn sha256(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

/// Settings and in-memory state of the auth layer.
pub struct AuthState {
    secure_cookie: bool,
    session_ms: i64,
    attempts: u32,
    metrics_auth: bool,
    pub photo_max_bytes: usize,
    failures: Mutex<HashMap<String, Vec<Instant>>>,
    /// Refused unauthenticated requests audited in the current minute, and those counted
    /// without a row of their own.
    refused: Mutex<RefusedWindow>,
    refused_per_minute: u32,
    /// Refused requests not audited one row each, since start (`/metrics`).
    pub audit_suppressed: std::sync::atomic::AtomicU64,
    /// HSTS header value under TLS.
    pub hsts: bool,
    /// Token id -> SHA-256 of a secret already verified with argon2, so that a token costs
    /// one argon2 verification per process, not per request. Revocation is checked in the
    /// store on every request.
    verified: Mutex<HashMap<i64, [u8; 32]>>,
}

impl AuthState {
    pub fn new(cfg: &ApiConfig) -> AuthState {
        AuthState {
            secure_cookie: cfg.tls.is_some(),
            session_ms: (cfg.session_hours * 3_600_000.0) as i64,
            attempts: cfg.login_attempts_per_minute,
            metrics_auth: cfg.metrics_auth,
            photo_max_bytes: cfg.photo_max_kib as usize * 1024,
            failures: Mutex::new(HashMap::new()),
            refused: Mutex::new(RefusedWindow { start: Instant::now(), written: 0, suppressed: 0 }),
            refused_per_minute: cfg.audit_refused_per_minute,
            audit_suppressed: Default::default(),
            hsts: cfg.tls.is_some(),
            verified: Mutex::new(HashMap::new()),
        }
    }

    /// Seconds until `keys` may try again, if any of them is over the limit.
    fn limited(&self, keys: &[String]) -> Option<u64> {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let mut wait = None;
        for k in keys {
            if let Some(v) = f.get_mut(k) {
                v.retain(|t| now.duration_since(*t) < Duration::from_secs(60));
                if v.len() >= self.attempts as usize {
                    let s = 60 - now.duration_since(v[0]).as_secs();
                    wait = Some(wait.map_or(s, |w: u64| w.max(s)));
                }
            }
        }
        wait
    }

    fn failed(&self, keys: &[String]) {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if f.len() >= MAX_FAILURE_KEYS {
            // Bounded memory under a flood of distinct addresses: forget what expired first.
            let now = Instant::now();
            f.retain(|_, v| v.last().is_some_and(|t| now.duration_since(*t) < Duration::from_secs(60)));
            if f.len() >= MAX_FAILURE_KEYS {
                f.clear();
            }
        }
        for k in keys {
            f.entry(k.clone()).or_default().push(Instant::now());
        }
    }
}

/// Keys (client addresses) the failed-login map holds at most.
const MAX_FAILURE_KEYS: usize = 10_000;

pub(crate) struct RefusedWindow {
    start: Instant,
    written: u32,
    suppressed: u64,
}

/// Whether a refused request gets its own audit row, and the summary row of the minute
/// that just ended, if it had suppressed rows.
pub(crate) struct RefusedAdmit {
    pub own_row: bool,
    pub summary: Option<u64>,
}

impl AuthState {
    pub(crate) fn admit_refused(&self) -> RefusedAdmit {
        let mut w = self.refused.lock().unwrap_or_else(|p| p.into_inner());
        let mut summary = None;
        if w.start.elapsed() >= Duration::from_secs(60) {
            if w.suppressed > 0 {
                summary = Some(w.suppressed);
            }
            *w = RefusedWindow { start: Instant::now(), written: 0, suppressed: 0 };
        }
        let own_row = w.written < self.refused_per_minute;
        if own_row {
            w.written += 1;
        } else {
            w.suppressed += 1;
            self.audit_suppressed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        RefusedAdmit { own_row, summary }
    }
}

/// Write the summary row of refused requests that were only counted.
pub(crate) async fn audit_summary(state: &ApiState, n: u64, remote: Option<String>) {
    let detail = format!("{n} more refused requests in the minute before, counted but not audited one by one (api.audit_refused_per_minute)");
    let _ = query_store(state, move |s| {
        s.audit(
            &AuditEntry {
                actor: "-",
                role: None,
                action: "REFUSED_SUMMARY",
                target: "-",
                status: 0,
                remote: remote.as_deref(),
                detail: &detail,
            },
            crate::time::now_ms(),
        )
    })
    .await;
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(name).and_then(|r| r.strip_prefix('=')))
}

fn remote(req_ext: &axum::http::Extensions) -> Option<String> {
    req_ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string())
}

fn unauthenticated(msg: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", msg)
}

/// Who is calling, from a bearer token or the session cookie. `Ok(None)`: no credentials.
async fn authenticate(
    state: &ApiState,
    headers: &HeaderMap,
    remote: Option<&str>,
) -> Result<Option<Principal>, ApiError> {
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        let token = auth
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .ok_or_else(|| unauthenticated("Authorization header: expected `Bearer <token>`"))?
            .trim()
            .to_string();
        let mut parts = token.splitn(3, '_');
        let (Some(TOKEN_PREFIX), Some(id), Some(secret)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(unauthenticated("malformed API token: expected `ect_<id>_<secret>`"));
        };
        let id: i64 = id.parse().map_err(|_| unauthenticated("malformed API token: expected `ect_<id>_<secret>`"))?;
        let row = query_store(state, move |s| s.token(id)).await?;
        let Some(row) = row else { return Err(unauthenticated("unknown API token")) };
        if row.revoked {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "token_revoked",
                format!("API token {id} was revoked"),
            ));
        }
        let digest = sha256(secret);
        let cached = state.auth.verified.lock().unwrap_or_else(|p| p.into_inner()).get(&id) == Some(&digest);
        if !cached {
            // Guessing token secrets is limited like guessing passwords (and each guess
            // costs an argon2 verification).
            let keys = [format!("token-ip:{}", remote.unwrap_or("?"))];
            if let Some(wait) = state.auth.limited(&keys) {
                return Err(ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!("too many unknown API tokens from this address: try again in {wait} s"),
                ));
            }
            let (hash, secret) = (row.secret_hash.clone(), secret.to_string());
            let ok = tokio::task::spawn_blocking(move || verify_secret(&hash, &secret)).await.unwrap_or(false);
            if !ok {
                state.auth.failed(&keys);
                return Err(unauthenticated("unknown API token"));
            }
            state.auth.verified.lock().unwrap_or_else(|p| p.into_inner()).insert(id, digest);
        }
        let role = Role::parse(&row.role).ok_or_else(|| unauthenticated("the token's user has no valid role"))?;
        return Ok(Some(Principal { user: row.user, role, via: "token" }));
    }
    if let Some(sid) = cookie(headers, SESSION_COOKIE) {
        let digest = sha256(sid);
        let now = crate::time::now_ms();
        let found = query_store(state, move |s| s.session(&digest, now)).await?;
        let Some((user, role)) = found else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "session_expired",
                "session expired or ended: log in again",
            ));
        };
        let role = Role::parse(&role).ok_or_else(|| unauthenticated("the session's user has no valid role"))?;
        return Ok(Some(Principal { user, role, via: "session" }));
    }
    Ok(None)
}

/// POST routes that only compute an answer (they change nothing) and so need only the
/// viewer role. Add a route here with one line; it is still audited like every POST.
pub const COMPUTE_ONLY_POSTS: &[&str] = &["/api/v1/dga"];

/// The role a request needs, or None for public paths.
pub fn required_role(method: &Method, path: &str) -> Option<Role> {
    let api = path.starts_with("/api/v1/") || path == "/api/v1";
    if !api {
        return None;
    }
    if matches!(path, "/api/v1/auth/login" | "/api/v1/openapi.json") {
        return None;
    }
    if path.starts_with("/api/v1/admin/") || path == "/api/v1/admin" {
        return Some(Role::Admin);
    }
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
        || (*method == Method::POST && (COMPUTE_ONLY_POSTS.contains(&path) || path == "/api/v1/auth/logout"))
    {
        Some(Role::Viewer)
    } else {
        Some(Role::Technician)
    }
}

fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The middleware over the whole router: authenticate, check the role, audit writes.
pub(crate) async fn guard(State(state): State<ApiState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let needed =
        if path == "/metrics" && state.auth.metrics_auth { Some(Role::Viewer) } else { required_role(&method, &path) };
    if path == "/healthz" {
        // Public, but with valid credentials the detail is shown (never an error here).
        if let Ok(Some(p)) = authenticate(&state, req.headers(), remote(req.extensions()).as_deref()).await {
            req.extensions_mut().insert(p);
        }
        return next.run(req).await;
    }
    let Some(needed) = needed else { return next.run(req).await };
    let remote = remote(req.extensions());
    let outcome = match authenticate(&state, req.headers(), remote.as_deref()).await {
        Err(e) => Err((None, e)),
        Ok(None) => Err((
            None,
            unauthenticated(
                "credentials required: `Authorization: Bearer <token>` or log in at POST /api/v1/auth/login",
            ),
        )),
        Ok(Some(p)) if p.role < needed => {
            let e = ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("{} {path} needs the {} role; `{}` is {}", method, needed.as_str(), p.user, p.role.as_str()),
            );
            Err((Some(p), e))
        }
        Ok(Some(p)) => Ok(p),
    };
    let (principal, response) = match outcome {
        Ok(p) => {
            req.extensions_mut().insert(p.clone());
            (Some(p), next.run(req).await)
        }
        Err((p, e)) => (p, e.into_response()),
    };
    if is_write(&method) && path != "/api/v1/auth/logout" {
        let status = response.status().as_u16();
        let (actor, role) = match &principal {
            Some(p) => (p.user.clone(), Some(p.role.as_str())),
            None => ("-".to_string(), None),
        };
        let action = metric_method(&method).to_string();
        if principal.is_none() && status >= 400 {
            let admit = state.auth.admit_refused();
            if let Some(n) = admit.summary {
                audit_summary(&state, n, remote.clone()).await;
            }
            if !admit.own_row {
                return response;
            }
        }
        let r = query_store(&state, move |s| {
            s.audit(
                &AuditEntry {
                    actor: &actor,
                    role,
                    action: &action,
                    target: &path,
                    status,
                    remote: remote.as_deref(),
                    detail: "",
                },
                crate::time::now_ms(),
            )
        })
        .await;
        if r.is_err() {
            // Refuse to report success for a write that could not be audited.
            return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "audit_failed", "the write could not be audited")
                .into_response();
        }
    }
    response
}

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/auth/me", get(me))
        .route("/api/v1/admin/audit", get(audit))
}

#[derive(OpenApi)]
#[openapi(paths(login, logout, me, audit), components(schemas(Login, Principal, Role, AuditRow)))]
pub(crate) struct Doc;

const MAX_USERNAME: usize = 128;
const MAX_PASSWORD: usize = 1024;

/// The method as counted and audited: one of the standard methods or `OTHER`, so invented
/// methods cannot grow the metrics map or the audit rows.
pub fn metric_method(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    #[schema(min_length = 1, max_length = 128)]
    pub username: String,
    #[schema(min_length = 1, max_length = 1024)]
    pub password: String,
}

/// Log in with a user name and password; sets the session cookie (HttpOnly,
/// SameSite=Strict, Secure under TLS). Failed attempts are limited per address and user.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = Login, security(()),
    responses((status = 200, body = Principal), (status = 401, body = super::ErrorBody),
        (status = 429, body = super::ErrorBody), (status = 400, body = super::ErrorBody),
        (status = 415, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
async fn login(
    State(state): State<ApiState>,
    conn: Option<Extension<ConnectInfo<SocketAddr>>>,
    Json(body): Json<Login>,
) -> Response {
    let ip = conn.map(|c| c.0 .0.ip().to_string());
    if body.username.chars().count() > MAX_USERNAME || body.password.chars().count() > MAX_PASSWORD {
        // The schema's limits, enforced before anything is kept or audited.
        return ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_long",
            format!("username at most {MAX_USERNAME} characters, password at most {MAX_PASSWORD}"),
        )
        .into_response();
    }
    // Per client address only: failures from one address never lock the user out elsewhere.
    let keys = vec![format!("ip:{}", ip.as_deref().unwrap_or("?"))];
    let audit = |status: u16, detail: &'static str, role: Option<&'static str>| {
        let (user, ip) = (body.username.clone(), ip.clone());
        let st = state.clone();
        async move {
            let _ = query_store(&st, move |s| {
                s.audit(
                    &AuditEntry {
                        actor: &user,
                        role,
                        action: "LOGIN",
                        target: "/api/v1/auth/login",
                        status,
                        remote: ip.as_deref(),
                        detail,
                    },
                    crate::time::now_ms(),
                )
            })
            .await;
        }
    };
    if let Some(wait) = state.auth.limited(&keys) {
        let admit = state.auth.admit_refused();
        if let Some(n) = admit.summary {
            audit_summary(&state, n, ip.clone()).await;
        }
        if admit.own_row {
            audit(429, "rate limited", None).await;
        }
        let mut r = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many failed logins: try again in {wait} s"),
        )
        .into_response();
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait.max(1)));
        return r;
    }
    let name = body.username.clone();
    let user = match query_store(&state, move |s| s.user(&name)).await {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    let pw = body.password.clone();
    // Verify against a dummy hash when the user is unknown, so timing does not tell.
    let hash = user.as_ref().map(|u| u.pw_hash.clone()).unwrap_or_else(dummy_hash);
    let ok = tokio::task::spawn_blocking(move || verify_secret(&hash, &pw)).await.unwrap_or(false);
    let (Some(user), true) = (user, ok) else {
        state.auth.failed(&keys);
        audit(401, "bad credentials", None).await;
        return ApiError::new(StatusCode::UNAUTHORIZED, "bad_credentials", "wrong user name or password")
            .into_response();
    };
    let Some(role) = Role::parse(&user.role) else {
        return ApiError::new(StatusCode::FORBIDDEN, "forbidden", "user has no valid role").into_response();
    };
    let sid = random_secret();
    let digest = sha256(&sid);
    let now = crate::time::now_ms();
    let expires = now + state.auth.session_ms;
    let uid = user.id;
    if let Err(e) = query_store(&state, move |s| s.create_session(&digest, uid, now, expires)).await {
        return e.into_response();
    }
    audit(200, "session opened", Some(role.as_str())).await;
    let cookie = format!(
        "{SESSION_COOKIE}={sid}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        state.auth.session_ms / 1000,
        if state.auth.secure_cookie { "; Secure" } else { "" }
    );
    let mut r = Json(Principal { user: user.name, role, via: "session" }).into_response();
    r.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("cookie is ASCII"));
    r
}

fn dummy_hash() -> String {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| hash_secret("not a password").unwrap_or_default()).clone()
}

/// End the session of the cookie sent (and clear the cookie).
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "session ended"), (status = 401, body = super::ErrorBody)))]
async fn logout(State(state): State<ApiState>, headers: HeaderMap, p: Extension<Principal>) -> Response {
    if let Some(sid) = cookie(&headers, SESSION_COOKIE) {
        let digest = sha256(sid);
        if let Err(e) = query_store(&state, move |s| s.end_session(&digest)).await {
            return e.into_response();
        }
    }
    let user = p.user.clone();
    let _ = query_store(&state, move |s| {
        s.audit(
            &AuditEntry {
                actor: &user,
                role: None,
                action: "LOGOUT",
                target: "/api/v1/auth/logout",
                status: 204,
                remote: None,
                detail: "",
            },
            crate::time::now_ms(),
        )
    })
    .await;
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("edgecite_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    r
}

/// Who the credentials sent belong to.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    responses((status = 200, body = Principal), (status = 401, body = super::ErrorBody)))]
async fn me(Extension(p): Extension<Principal>) -> ApiResult<Principal> {
    Ok(Json(p))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Rows to return, newest first (1 to 1000; default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// The audit log, newest first (admin).
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin", params(AuditQuery),
    responses((status = 200, body = Vec<AuditRow>), (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
async fn audit(
    State(state): State<ApiState>,
    super::ApiQuery(q): super::ApiQuery<AuditQuery>,
) -> ApiResult<Vec<AuditRow>> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_query", format!("limit={limit}: expected 1 to 1000")));
    }
    Ok(Json(query_store(&state, move |s| s.audit_log(limit)).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_follow_method_and_path() {
        assert_eq!(required_role(&Method::GET, "/api/v1/findings"), Some(Role::Viewer));
        assert_eq!(required_role(&Method::POST, "/api/v1/findings/1/ack"), Some(Role::Technician));
        assert_eq!(required_role(&Method::DELETE, "/api/v1/anything/new"), Some(Role::Technician));
        assert_eq!(required_role(&Method::GET, "/api/v1/admin/audit"), Some(Role::Admin));
        assert_eq!(required_role(&Method::POST, "/api/v1/auth/login"), None);
        assert_eq!(required_role(&Method::POST, "/api/v1/auth/logout"), Some(Role::Viewer), "viewers can log out");
        assert_eq!(required_role(&Method::GET, "/api/v1/openapi.json"), None);
        assert_eq!(required_role(&Method::GET, "/healthz"), None);
        assert_eq!(required_role(&Method::GET, "/"), None);
        assert!(Role::Viewer < Role::Technician && Role::Technician < Role::Admin);
    }

    #[test]
    fn invented_methods_are_one_label() {
        assert_eq!(metric_method(&Method::GET), "GET");
        assert_eq!(metric_method(&Method::from_bytes(b"XYZZY1").unwrap()), "OTHER");
        assert_eq!(metric_method(&Method::from_bytes(b"XYZZY2").unwrap()), "OTHER");
    }

    #[test]
    fn refused_rows_beyond_the_minute_limit_are_counted_not_written() {
        let cfg = ApiConfig { audit_refused_per_minute: 3, ..Default::default() };
        let a = AuthState::new(&cfg);
        let own: Vec<bool> = (0..10).map(|_| a.admit_refused().own_row).collect();
        assert_eq!(own.iter().filter(|o| **o).count(), 3);
        assert_eq!(a.audit_suppressed.load(std::sync::atomic::Ordering::Relaxed), 7);
        // The next minute starts with a summary of the suppressed ones.
        a.refused.lock().unwrap().start -= Duration::from_secs(61);
        let next = a.admit_refused();
        assert_eq!((next.own_row, next.summary), (true, Some(7)));
    }

    #[test]
    fn a_disabled_demo_user_stays_disabled_across_restarts() {
        // Issue 13 item 7: ensure_demo_user looked the user up with `disabled = 0` and
        // re-created (re-enabled) it at every start.
        let dir = tempfile::tempdir().unwrap();
        let mut store = crate::store::Store::open(&dir.path().join("s.db")).unwrap();
        let cfg = ApiConfig {
            demo_user: Some(crate::config::DemoUser {
                name: "demo".into(),
                password: "edgecite-demo".into(),
                password_file: None,
                role: "technician".into(),
            }),
            ..Default::default()
        };
        crate::service::accounts::ensure_demo_user(&mut store, &cfg).unwrap();
        assert!(store.user("demo").unwrap().is_some());
        assert!(store.disable_user("demo", 1).unwrap());
        crate::service::accounts::ensure_demo_user(&mut store, &cfg).unwrap();
        assert!(store.user("demo").unwrap().is_none(), "the disabled demo user came back");
    }

    #[test]
    fn failures_map_stays_bounded() {
        let a = AuthState::new(&ApiConfig::default());
        for i in 0..(MAX_FAILURE_KEYS * 2 + 5) {
            a.failed(&[format!("ip:{i}")]);
        }
        assert!(a.failures.lock().unwrap().len() <= MAX_FAILURE_KEYS);
    }

    #[test]
    fn secrets_hash_and_verify() {
        let h = hash_secret("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_secret(&h, "correct horse"));
        assert!(!verify_secret(&h, "wrong"));
        assert!(!verify_secret("garbage", "x"));
        assert_ne!(random_secret(), random_secret());
    }
}
