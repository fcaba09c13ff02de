//! A printable QR code per asset (issue 14): it opens the asset's page in the field app,
//! `<origin>/#/assets/<id>`, so a label on the machine leads a technician to its findings.

use super::{ApiError, ApiState, ErrorBody};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use utoipa::OpenApi;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new().route("/api/v1/assets/{id}/qr.svg", get(qr))
}

#[derive(OpenApi)]
#[openapi(paths(qr))]
pub(crate) struct Doc;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct QrQuery {
    /// The address to encode: `http://` or `https://`, at most 300 characters (default:
    /// `http://<Host header>/#/assets/<id>`). The field app passes its own origin, which is
    /// right behind a TLS proxy too.
    #[param(max_length = 300, pattern = "^https?://[^ \\u0000-\\u001f\\u007f-\\u009f]*$")]
    url: Option<String>,
}

/// A QR code (SVG) that opens this asset's page in the field app.
#[utoipa::path(get, path = "/api/v1/assets/{id}/qr.svg", tag = "assets", params(("id" = String, Path), QrQuery),
    responses((status = 200, content_type = "image/svg+xml", body = String), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn qr(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    super::ApiQuery(q): super::ApiQuery<QrQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let known = state.live.read().unwrap_or_else(|p| p.into_inner()).assets.iter().any(|a| a.id == id);
    if !known {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "asset_not_found", format!("no asset `{id}`")));
    }
    let url = match q.url {
        Some(u) => {
            let ok = (u.starts_with("http://") || u.starts_with("https://"))
                && u.chars().count() <= 300
                && !u.chars().any(|c| c.is_control() || c == ' ');
            if !ok {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_query",
                    format!("url=`{u}`: expected an http:// or https:// address of at most 300 characters"),
                ));
            }
            u
        }
        None => {
            let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
            format!("http://{host}/#/assets/{id}")
        }
    };
    let svg =
        svg_of(&url).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", format!("url=`{url}`: {e}")))?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "private, max-age=3600")], svg)
        .into_response())
}

/// The SVG of a QR code holding `text` (error correction M: a worn label still scans).
pub fn svg_of(text: &str) -> Result<String, qrcode::types::QrError> {
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)?;
    Ok(code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .dark_color(qrcode::render::svg::Color("#000000"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build())
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_asset_address_becomes_an_svg_qr_code() {
        let a = super::svg_of("http://gw.local:8080/#/assets/T1").unwrap();
        let b = super::svg_of("http://gw.local:8080/#/assets/P1").unwrap();
        assert!(a.starts_with("<?xml") && a.contains("<svg"), "{}", &a[..80]);
        assert_ne!(a, b, "different addresses, different codes");
    }
}
