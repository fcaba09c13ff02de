//! The technician web app, embedded in the binary: the page, its script and the service
//! worker that keeps the last data readable offline.

use super::ApiState;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

pub(crate) const INDEX_HTML: &str = include_str!("../../../web/index.html");
const APP_JS: &str = include_str!("../../../web/app.js");
const SW_JS: &str = include_str!("../../../web/sw.js");

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/app.js", get(|| async { js(APP_JS) }))
        // The service worker's scope is `/` (it is served from the root for that reason).
        .route("/sw.js", get(|| async { js(SW_JS) }))
}

fn js(body: &'static str) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], body)
}
