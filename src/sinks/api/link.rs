//! Light on the link (issue 14): responses compressed (gzip or brotli, as the client
//! accepts), and JSON answers of GET requests carry an `ETag`, so that a client polling a
//! list that has not changed gets `304 Not Modified` and no body.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use tower_http::compression::CompressionLayer;

/// gzip and brotli; the default predicate leaves out small bodies, images and event streams.
pub(crate) fn compression() -> CompressionLayer {
    CompressionLayer::new().gzip(true).br(true)
}

/// Whether a request's `Accept-Encoding` takes gzip (a `q=0` refuses it).
pub(crate) fn accepts_gzip(headers: &axum::http::HeaderMap) -> bool {
    headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
        |e| {
            let mut p = e.split(';').map(str::trim);
            let name = p.next().unwrap_or("");
            let q0 = p.any(|x| x.strip_prefix("q=").and_then(|q| q.parse::<f32>().ok()) == Some(0.0));
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !q0
        },
    )
}

/// A streamed answer (server-sent events) gzip-compressed and flushed after every chunk, so
/// that each event reaches the client at once while the compressor keeps its window across
/// events (an event repeats most of the one before). The compression layer leaves event
/// streams alone, since it would hold events back until its buffer fills.
pub(crate) fn gzip_flushed(res: Response) -> Response {
    use flate2::{write::GzEncoder, Compression};
    use futures_util::StreamExt;
    use std::io::Write;
    let (mut parts, body) = res.into_parts();
    parts.headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    parts.headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
    parts.headers.remove(header::CONTENT_LENGTH);
    let enc = Some(GzEncoder::new(Vec::new(), Compression::default()));
    let out = futures_util::stream::unfold((body.into_data_stream(), enc), |(mut inner, enc)| async move {
        let mut enc = enc?;
        let chunk = match inner.next().await {
            Some(Ok(b)) => enc.write_all(&b).and_then(|()| enc.flush()).map(|()| std::mem::take(enc.get_mut())),
            Some(Err(e)) => return Some((Err(std::io::Error::other(e)), (inner, None))),
            None => return Some((enc.finish(), (inner, None))),
        };
        Some((chunk, (inner, Some(enc))))
    });
    Response::from_parts(parts, Body::from_stream(out.map(|r| r.map(axum::body::Bytes::from))))
}

/// A weak `ETag` on every successful JSON answer of a GET under `/api/` or `/healthz`, and
/// `304 Not Modified` when the request's `If-None-Match` names it. Weak: the validator is of
/// the JSON, whichever encoding the compression layer then picks.
pub(crate) async fn etag(req: Request, next: Next) -> Response {
    let get = req.method() == Method::GET;
    let inm = req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let res = next.run(req).await;
    let json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    if !get || res.status() != StatusCode::OK || !json {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "could not read a JSON answer to tag it");
            return (StatusCode::INTERNAL_SERVER_ERROR, "response body failed").into_response();
        }
    };
    let digest = Sha256::digest(&bytes);
    let tag = format!("W/\"{}\"", digest[..12].iter().map(|b| format!("{b:02x}")).collect::<String>());
    let value = HeaderValue::from_str(&tag).expect("hex is a valid header value");
    parts.headers.insert(header::ETAG, value.clone());
    if !parts.headers.contains_key(header::CACHE_CONTROL) {
        // Private data: a shared cache keeps nothing; the browser revalidates every time.
        parts.headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    }
    if inm.is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*")) {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        for h in [header::ETAG, header::CACHE_CONTROL, header::VARY] {
            if let Some(v) = parts.headers.get(&h) {
                r.headers_mut().insert(h, v.clone());
            }
        }
        return r;
    }
    Response::from_parts(parts, Body::from(bytes))
}
