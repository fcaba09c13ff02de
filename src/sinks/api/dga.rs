//! `POST /api/v1/dga`: lab DGA results diagnosed like the online path (the transformer-dga
//! pack's evaluators). Body: one sample object, or an array of samples (rows with the same
//! `id` form a series, in order). Gas values in ppm; a missing or null gas is not reported.

use super::{ApiError, ApiState};
use crate::config::packs::Lang;
use crate::diagnose::lab::{LabReport, LabSample};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;
use std::collections::HashMap;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new().route("/api/v1/dga", post(dga))
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(dga))]
pub(crate) struct Doc;

/// The request body's schema: one sample, or an array of 1 to 10,000 samples. A sample has
/// at least one of the seven gases; every value is a number >= 0 (ppm, years).
struct DgaBody;

impl utoipa::PartialSchema for DgaBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use crate::diagnose::lab::{GASES, OPTIONAL_GASES};
        // null, like a missing key, means "not reported".
        let num = serde_json::json!({"type": ["number", "null"], "minimum": 0});
        let mut props = serde_json::Map::new();
        props.insert("id".into(), serde_json::json!({"type": ["string", "null"]}));
        props.insert(
            "date".into(),
            serde_json::json!({"type": ["string", "null"], "pattern": "^20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])$"}),
        );
        props.insert(
            "voltage_class".into(),
            serde_json::json!({"type": ["string", "null"], "enum": ["ge330kv", "le220kv", null]}),
        );
        for k in GASES.iter().chain(&OPTIONAL_GASES).chain(&["age_years"]) {
            props.insert((*k).into(), num.clone());
        }
        // At least one of the seven gases is reported (present and a number).
        let any_gas: Vec<Value> = GASES
            .iter()
            .map(|g| serde_json::json!({"type": "object", "required": [g], "properties": {*g: {"type": "number", "minimum": 0}}}))
            .collect();
        let sample = serde_json::json!({"allOf": [
            {"type": "object", "properties": props, "additionalProperties": false},
            {"anyOf": any_gas},
        ]});
        let body = serde_json::json!({"anyOf": [
            sample.clone(),
            {"type": "array", "items": sample, "minItems": 1, "maxItems": MAX_SAMPLES},
        ]});
        serde_json::from_value(body).expect("the DGA body schema is valid OpenAPI")
    }
}

impl utoipa::ToSchema for DgaBody {}

/// The response: one report for one sample, an array of reports for an array.
struct DgaReports;

impl utoipa::PartialSchema for DgaReports {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let report = serde_json::json!({"type": "object", "required": ["methods", "overall"]});
        serde_json::from_value(serde_json::json!({"anyOf": [report.clone(), {"type": "array", "items": report}]}))
            .expect("the DGA response schema is valid OpenAPI")
    }
}

impl utoipa::ToSchema for DgaReports {}

const MAX_SAMPLES: usize = 10_000;

fn bad(message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_sample", message)
}

fn sample(i: Option<usize>, v: Value) -> Result<LabSample, ApiError> {
    let at = i.map(|i| format!("samples[{i}]: ")).unwrap_or_default();
    let s: LabSample = serde_json::from_value(v).map_err(|e| bad(format!("{at}{e}")))?;
    s.validate().map_err(|e| bad(format!("{at}{e}")))?;
    if crate::diagnose::lab::GASES.iter().all(|g| s.gas(g).is_none()) {
        return Err(bad(format!(
            "{at}no gas reported: expected at least one of h2, ch4, c2h6, c2h4, c2h2, co, co2 (ppm)"
        )));
    }
    Ok(s)
}

/// Diagnose lab DGA results through the transformer-dga pack (viewer role: computes only).
#[utoipa::path(post, path = "/api/v1/dga", tag = "dga",
    request_body(content = DgaBody, content_type = "application/json",
        description = "one sample {id?, h2, ch4, c2h6, c2h4, c2h2, co, co2 (ppm), o2?, n2?, age_years?, date?, voltage_class?} or an array of 1 to 10,000 samples"),
    responses((status = 200, description = "one report (object) or one per sample (array): each method's result or abstention, the overall diagnosis, citations", body = DgaReports),
        (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody),
        (status = 404, description = "no_dga_pack: the transformer-dga pack is not loaded", body = super::ErrorBody),
        (status = 413, body = super::ErrorBody), (status = 503, body = super::ErrorBody)))]
async fn dga(State(state): State<ApiState>, headers: HeaderMap, body: axum::body::Bytes) -> Result<Response, ApiError> {
    let lang = super::ask::request_lang(None, &headers, state.knowledge.language);
    // Each request may hold 10,000 samples and their reports: a bounded number at once
    // (issue 13 item 4), the others are told to come back.
    let Ok(_slot) = state.dga_slots.clone().try_acquire_owned() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "as many DGA computations as [api] dga_concurrency allows are running: retry in a few seconds",
        ));
    };
    let v: Value = serde_json::from_slice(&body).map_err(|e| bad(format!("body is not JSON: {e}")))?;
    drop(body);
    let (samples, single) = match v {
        Value::Array(items) => {
            if items.is_empty() || items.len() > MAX_SAMPLES {
                return Err(bad(format!("{} samples: expected 1 to {MAX_SAMPLES}", items.len())));
            }
            let s = items.into_iter().enumerate().map(|(i, x)| sample(Some(i), x)).collect::<Result<Vec<_>, _>>()?;
            (s, false)
        }
        Value::Object(_) => (vec![sample(None, v)?], true),
        _ => return Err(bad("expected a sample object or an array of samples".into())),
    };
    let know = state.knowledge.clone();
    if know.lab.is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_dga_pack",
            "lab DGA needs the transformer-dga pack, which this gateway does not load ([packs] builtin = false and no [packs] dirs entry holds it)",
        ));
    }
    if single {
        let reports: Vec<LabReport> = tokio::task::spawn_blocking(move || {
            know.lab.as_ref().expect("checked above").diagnose_series(samples.iter().map(|s| (None, s)))
        })
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
        return Ok(Json(reports.first().map(|r| localise(r, lang)).unwrap_or(Value::Null)).into_response());
    }
    // An array is diagnosed and sent a window of rows at a time, as the client reads it:
    // a request holds its samples, each id's recent history and one window's reports, never
    // all its reports (issue 13 item 4: four 10,000-sample requests took a 2 GiB peak). The
    // slot is held until the last byte is sent.
    let state = Window { rows: samples.into_iter(), histories: HashMap::new(), opened: false, _slot };
    let chunks = futures_util::stream::unfold((state, know), move |(mut w, know)| async move {
        if w.opened && w.rows.len() == 0 {
            return None;
        }
        let rows: Vec<(Option<usize>, LabSample)> = w.rows.by_ref().take(STREAM_CHUNK).map(|s| (None, s)).collect();
        let mut buf = vec![if w.opened { b',' } else { b'[' }];
        w.opened = true;
        let k = know.clone();
        let mut histories = std::mem::take(&mut w.histories);
        let done = tokio::task::spawn_blocking(move || {
            let render = |r: &LabReport| serde_json::to_vec(&localise(r, lang)).unwrap_or_default();
            let out =
                k.lab.as_ref().expect("checked before streaming").diagnose_parallel(&rows, 1, &render, &mut histories);
            (out, histories)
        })
        .await;
        let (reports, histories) = match done {
            Ok(d) => d,
            Err(e) => {
                // The status is sent: the body ends short, and the log says why.
                tracing::error!(error = %e, "POST /api/v1/dga: a window of reports failed; response cut short");
                w.rows = Vec::new().into_iter();
                return Some((Err(std::io::Error::other(e.to_string())), (w, know)));
            }
        };
        w.histories = histories;
        for (i, r) in reports.into_iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            buf.extend_from_slice(&r);
        }
        if w.rows.len() == 0 {
            buf.push(b']');
        }
        Some((Ok(axum::body::Bytes::from(buf)), (w, know)))
    });
    // Fused: a layer (compression) may poll the body once more after its end.
    let body = axum::body::Body::from_stream(futures_util::StreamExt::fuse(chunks));
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// What a streamed array response still has to send.
struct Window {
    rows: std::vec::IntoIter<LabSample>,
    histories: HashMap<String, Vec<LabSample>>,
    /// The opening `[` is sent; with no rows left, so is the closing `]`.
    opened: bool,
    _slot: tokio::sync::OwnedSemaphorePermit,
}

/// Reports serialised per chunk of a streamed array response.
const STREAM_CHUNK: usize = 100;

/// The report with `lang` chosen for finding titles, actions and the overall summary
/// and method details (both languages stay available under `*_i18n`).
fn localise(r: &LabReport, lang: Lang) -> Value {
    let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
    // A serialized `Text`, picked with the English fallback like every other answer.
    let pick = |t: &Value| {
        let part = |l: &str| t.get(l).and_then(Value::as_str);
        part("en").map_or(Value::Null, |en| Value::String(lang.pick(en, part("zh").unwrap_or("")).to_string()))
    };
    if let Some(ms) = v.get_mut("methods").and_then(|m| m.as_array_mut()) {
        for m in ms {
            for key in ["finding", "action"] {
                if let Some(t) = m.get(key).cloned() {
                    m[format!("{key}_i18n")] = t.clone();
                    m[key] = pick(&t);
                }
            }
            // The evidence line or abstention reason: zh falls back to en where not translated.
            if let Some(Value::String(en)) = m.get("detail").cloned() {
                let zh = match m.as_object_mut().and_then(|o| o.remove("detail_zh")) {
                    Some(Value::String(z)) if !z.is_empty() => z,
                    _ => en.clone(),
                };
                m["detail"] = Value::String(lang.pick(&en, &zh).to_string());
                m["detail_i18n"] = serde_json::json!({ "en": en, "zh": zh });
            }
        }
    }
    if let Some(t) = v.pointer("/overall/summary").cloned() {
        v["overall"]["summary_i18n"] = t.clone();
        v["overall"]["summary"] = pick(&t);
    }
    v["lang"] = Value::String(lang.as_str().into());
    v
}

#[cfg(test)]
mod tests {
    use super::super::{router, ApiState};
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    /// An API with one DGA slot and a viewer's token (the store lives in the returned dir).
    fn viewer_api() -> (tempfile::TempDir, ApiState, String, std::sync::Arc<crate::service::knowledge::Knowledge>) {
        viewer_api_with(&Default::default())
    }

    fn viewer_api_with(
        packs: &crate::config::packs::PacksConfig,
    ) -> (tempfile::TempDir, ApiState, String, std::sync::Arc<crate::service::knowledge::Knowledge>) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = crate::store::Store::open(&dir.path().join("d.db")).unwrap();
        store.upsert_user("v", "viewer", "-", 0).unwrap();
        let (_, token) = crate::service::accounts::create_token(&mut store, "v", "t").unwrap();
        let knowledge = std::sync::Arc::new(crate::service::knowledge::Knowledge::open(packs, true).unwrap());
        let cfg = crate::config::ApiConfig { dga_concurrency: 1, ..Default::default() };
        let state = ApiState::new(Default::default(), store, &cfg, knowledge.clone());
        (dir, state, token, knowledge)
    }

    /// Issue 13 item 4: four concurrent 10,000-sample requests took 2.2 GiB. With every slot
    /// taken a request is answered 503 `busy` at once, before its body is parsed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dga_requests_beyond_the_concurrency_limit_are_refused_busy() {
        let (_dir, state, token, _) = viewer_api();
        let app = router(state.clone());
        let req = || {
            Request::post("/api/v1/dga")
                .header("Authorization", format!("Bearer {token}"))
                .header("Content-Type", "application/json")
                .body(Body::from(r#"{"h2": 10, "ch4": 5, "c2h6": 3, "c2h4": 2, "c2h2": 0, "co": 200, "co2": 2000}"#))
                .unwrap()
        };
        let ok = app.clone().oneshot(req()).await.unwrap();
        assert_eq!(ok.status(), 200);
        let held = state.dga_slots.clone().try_acquire_owned().unwrap(); // a request in progress
        let busy = app.clone().oneshot(req()).await.unwrap();
        assert_eq!(busy.status(), 503);
        let body = axum::body::to_bytes(busy.into_body(), 1 << 16).await.unwrap();
        assert!(String::from_utf8_lossy(&body).contains("\"busy\""));
        drop(held);
        assert_eq!(app.oneshot(req()).await.unwrap().status(), 200);
    }

    /// A gateway without the transformer-dga pack (built-in packs off, none in its dirs)
    /// starts, and the lab DGA route says why it cannot answer.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_the_dga_pack_the_gateway_runs_and_lab_dga_says_why_not() {
        let packs = crate::config::packs::PacksConfig { builtin: false, ..Default::default() };
        let (_dir, state, token, knowledge) = viewer_api_with(&packs);
        assert!(knowledge.lab.is_none());
        let res = router(state)
            .oneshot(
                Request::post("/api/v1/dga")
                    .header("Authorization", format!("Bearer {token}"))
                    .header("Content-Type", "application/json")
                    .body(Body::from(
                        r#"{"h2": 10, "ch4": 5, "c2h6": 3, "c2h4": 2, "c2h2": 0, "co": 200, "co2": 2000}"#,
                    ))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), 404);
        let body = axum::body::to_bytes(res.into_body(), 1 << 16).await.unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("no_dga_pack") && text.contains("builtin = false"), "{text}");
    }

    /// The streamed array answer is the whole series' answer: windows of STREAM_CHUNK rows
    /// keep each id's history across window boundaries, the JSON is one array in input
    /// order, and the request's slot is held until its last byte is read.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_streamed_array_equals_the_series_diagnosed_at_once() {
        use crate::diagnose::lab::LabSample;
        let (_dir, state, token, knowledge) = viewer_api();
        // 2.5 windows; three transformers sampled monthly with rising gases (series methods).
        let n = super::STREAM_CHUNK * 5 / 2;
        let samples: Vec<serde_json::Value> = (0..n)
            .map(|i| {
                let f = (i / 3 + 1) as f64;
                serde_json::json!({"id": format!("T{}", i % 3), "date": format!("20{:02}-{:02}-01", 10 + i / 36, (i / 3) % 12 + 1),
                    "h2": 20.0 * f, "ch4": 9.0 * f, "c2h6": 4.0 * f, "c2h4": 6.0 * f, "c2h2": 0.2 * f,
                    "co": 300.0, "co2": 2500.0, "o2": 2000.0, "n2": 50000.0})
            })
            .collect();
        let parsed: Vec<LabSample> = samples.iter().map(|v| serde_json::from_value(v.clone()).unwrap()).collect();
        let want: Vec<serde_json::Value> = knowledge
            .lab
            .as_ref()
            .unwrap()
            .diagnose_series(parsed.iter().map(|s| (None, s)))
            .iter()
            .map(|r| super::localise(r, crate::config::packs::Lang::En))
            .collect();
        let app = router(state.clone());
        let res = app
            .oneshot(
                Request::post("/api/v1/dga")
                    .header("Authorization", format!("Bearer {token}"))
                    .header("Content-Type", "application/json")
                    .header("Accept-Language", "en")
                    .body(Body::from(serde_json::to_vec(&samples).unwrap()))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert!(state.dga_slots.clone().try_acquire_owned().is_err(), "the slot is held while the body is unread");
        let body = axum::body::to_bytes(res.into_body(), 1 << 30).await.unwrap();
        let got: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap();
        assert_eq!(got.len(), n);
        let longest = got.iter().filter_map(|r| r["history"].as_u64()).max();
        assert_eq!(longest, Some(crate::diagnose::lab::MAX_HISTORY as u64), "history crosses windows, up to its cap");
        if let Some(i) = (0..n).find(|&i| got[i] != want[i]) {
            panic!("report {i} differs:\n got {}\nwant {}", got[i], want[i]);
        }
        assert!(state.dga_slots.clone().try_acquire_owned().is_ok(), "the slot is free once the body is sent");
    }
}
