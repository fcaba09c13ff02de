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
const MANIFEST: &str = include_str!("../../../web/manifest.webmanifest");
const ICON_SVG: &str = include_str!("../../../web/icons/icon.svg");
const ICON_192: &[u8] = include_bytes!("../../../web/icons/icon-192.png");
const ICON_512: &[u8] = include_bytes!("../../../web/icons/icon-512.png");

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/app.js", get(|| async { js(APP_JS) }))
        // The service worker's scope is `/` (it is served from the root for that reason).
        .route("/sw.js", get(|| async { js(SW_JS) }))
        // Installable (issue 14): the manifest and its icons; the favicon is the small icon.
        .route("/manifest.webmanifest", get(|| async { asset("application/manifest+json", MANIFEST.as_bytes()) }))
        .route("/icon.svg", get(|| async { asset("image/svg+xml", ICON_SVG.as_bytes()) }))
        .route("/icon-192.png", get(|| async { asset("image/png", ICON_192) }))
        .route("/icon-512.png", get(|| async { asset("image/png", ICON_512) }))
        .route("/favicon.ico", get(|| async { asset("image/png", ICON_192) }))
}

fn asset(mime: &'static str, body: &'static [u8]) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, mime), (header::CACHE_CONTROL, "public, max-age=86400")], body)
}

fn js(body: &'static str) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], body)
}
