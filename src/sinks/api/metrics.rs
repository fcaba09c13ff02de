//! `/metrics` in the Prometheus text format (sources, store, findings, HTTP), and the
//! outermost middleware that counts HTTP requests and gives every error a JSON body.

use super::{query_store, ApiError, ApiState, ErrorBody};
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Instant;
use utoipa::OpenApi;

/// Upper bounds of the request duration histogram, seconds.
const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

#[derive(Default)]
pub struct HttpMetrics {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// (route, method, status) -> count
    requests: BTreeMap<(String, String, u16), u64>,
    buckets: [u64; BUCKETS.len() + 1],
    sum_s: f64,
    count: u64,
}

impl HttpMetrics {
    fn record(&self, route: String, method: &'static str, status: u16, secs: f64) {
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        *m.requests.entry((route, method.to_string(), status)).or_default() += 1;
        let i = BUCKETS.iter().position(|&b| secs <= b).unwrap_or(BUCKETS.len());
        m.buckets[i] += 1;
        m.sum_s += secs;
        m.count += 1;
    }
}

pub(crate) fn routes() -> Router<ApiState> {
    Router::new().route("/metrics", get(metrics))
}

#[derive(OpenApi)]
#[openapi(paths(metrics))]
pub(crate) struct Doc;

fn code_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthenticated",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "timeout",
        409 => "conflict",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        422 => "unprocessable",
        429 => "rate_limited",
        503 => "unavailable",
        s if s >= 500 => "internal",
        _ => "error",
    }
}

/// Count the request; turn any error response without a JSON body (axum's own rejections:
/// bad JSON, wrong content type, body too large, wrong method) into the JSON error shape.
pub(crate) async fn track(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string());
    // A closed set: a label per invented method would grow without bound (issue 13 item 4).
    let method = super::auth::metric_method(req.method());
    let mut response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if status.as_u16() >= 400 && !is_json {
        let (parts, body) = response.into_parts();
        let text = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
        let mut message = String::from_utf8_lossy(&text).trim().to_string();
        if message.is_empty() {
            message = status.canonical_reason().unwrap_or("error").to_string();
        }
        let mut fixed = ApiError::new(status, code_for(status), message).into_response();
        for (k, v) in parts.headers.iter() {
            if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
                fixed.headers_mut().insert(k.clone(), v.clone());
            }
        }
        response = fixed;
    }
    response.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if state.auth.hsts {
        // Under TLS only: browsers then never try this host over plain HTTP.
        response.headers_mut().insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    }
    let route = route.unwrap_or_else(|| "unmatched".into());
    state.metrics.record(route, method, status.as_u16(), start.elapsed().as_secs_f64());
    response
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Prometheus text exposition: sources, store, findings and HTTP metrics. Needs the viewer
/// role unless `[api] metrics_auth = false`.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, content_type = "text/plain; version=0.0.4", body = String), (status = 401, body = ErrorBody)))]
async fn metrics(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let (samples, findings) = query_store(&state, |s| Ok((s.sample_count_estimate()?, s.finding_counts()?))).await?;
    let mut o = String::with_capacity(8192);
    let (sources, started, last_eval, open_assets, mqtt, models) = {
        let live = state.live.read().unwrap_or_else(|p| p.into_inner());
        let mqtt = live.mqtt.as_ref().map(|m| m.view());
        (
            live.source_statuses(),
            live.started_ms,
            live.last_evaluation_ms,
            live.assets.len(),
            mqtt,
            live.registry.infos(),
        )
    };
    let now = crate::time::now_ms();
    let _ = writeln!(o, "# HELP edgecite_up 1 while the daemon serves.\n# TYPE edgecite_up gauge\nedgecite_up 1");
    let _ = writeln!(o, "# TYPE edgecite_uptime_seconds gauge\nedgecite_uptime_seconds {}", (now - started) / 1000);
    let _ = writeln!(
        o,
        "# TYPE edgecite_last_evaluation_timestamp_seconds gauge\nedgecite_last_evaluation_timestamp_seconds {}",
        last_eval as f64 / 1000.0
    );
    let _ = writeln!(o, "# TYPE edgecite_assets gauge\nedgecite_assets {open_assets}");
    let _ = writeln!(
        o,
        "# HELP edgecite_audit_suppressed_total Refused requests counted in a summary audit row instead of one row each.\n# TYPE edgecite_audit_suppressed_total counter\nedgecite_audit_suppressed_total {}",
        state.auth.audit_suppressed.load(std::sync::atomic::Ordering::Relaxed)
    );
    crate::sinks::api::health_metrics(&state, &mut o);
    let components = crate::sinks::live::components(&sources, mqtt.as_ref(), &models);
    // Every source, sink and model in one set of families (Vector's component metrics); the
    // kind-specific families below add what only that kind counts.
    let label = |c: &crate::status::ComponentStatus| {
        format!(
            "component_id=\"{}\",component_role=\"{}\",component_kind=\"{}\"",
            esc(&c.id),
            c.role.as_str(),
            esc(&c.kind)
        )
    };
    type Count = fn(&crate::status::ComponentStatus) -> u64;
    let families: [(&str, &str, &str, Count); 5] = [
        ("healthy", "gauge", "1 while the component is healthy (see /healthz for why not).", |c| c.healthy as u64),
        ("received_events_total", "counter", "Events in: samples read, messages queued, feature rows.", |c| c.received),
        ("sent_events_total", "counter", "Events out: samples handed on, messages acknowledged, finite scores.", |c| {
            c.sent
        }),
        ("errors_total", "counter", "Failed requests, failed or lost connections, failed runs.", |c| c.errors),
        (
            "discarded_events_total",
            "counter",
            "Events given up: samples not taken, telemetry dropped at the quota, non-finite scores.",
            |c| c.dropped,
        ),
    ];
    for (name, kind, help, get) in families {
        family(
            &mut o,
            &format!("edgecite_component_{name}"),
            kind,
            help,
            components.iter().map(|c| (label(c), get(c))),
        );
    }
    type Get = fn(&crate::sources::SourceStatus) -> u64;
    let counters: [(&str, &str, Get); 9] = [
        ("requests", "Requests sent to the source.", |s| s.requests),
        ("samples", "Samples received.", |s| s.samples),
        ("errors", "Failed requests.", |s| s.errors),
        ("timeouts", "Requests timed out.", |s| s.timeouts),
        ("exceptions", "Modbus exception responses.", |s| s.exceptions),
        ("transport_errors", "Connection or framing errors.", |s| s.transport_errors),
        ("skipped", "Polls skipped while backing off.", |s| s.skipped),
        ("connects", "Connections made.", |s| s.connects),
        ("dropped", "Samples dropped.", |s| s.dropped),
    ];
    for (name, help, get) in counters {
        let _ = writeln!(o, "# HELP edgecite_source_{name}_total {help}\n# TYPE edgecite_source_{name}_total counter");
        for s in &sources {
            let _ =
                writeln!(o, "edgecite_source_{name}_total{{source=\"{}\",kind=\"{}\"}} {}", esc(&s.id), s.kind, get(s));
        }
    }
    let _ = writeln!(o, "# TYPE edgecite_source_connected gauge");
    for s in &sources {
        let _ = writeln!(
            o,
            "edgecite_source_connected{{source=\"{}\",kind=\"{}\"}} {}",
            esc(&s.id),
            s.kind,
            s.connected as u8
        );
    }
    // The MQTT sink, counted like a source (issue 18): events received into the outbox,
    // sent, acknowledged, replayed, and the outbox itself.
    if let Some(m) = &mqtt {
        let label = format!("broker=\"{}\"", esc(&m.broker));
        let rows: [(&str, &str, &str, u64); 10] = [
            ("enqueued_total", "counter", "Messages queued in the outbox.", m.enqueued),
            ("sent_total", "counter", "Messages written to the broker.", m.sent),
            ("acked_total", "counter", "Messages the broker acknowledged (then deleted from the outbox).", m.acked),
            ("replayed_total", "counter", "Messages sent from a backlog after a reconnect.", m.replayed),
            ("connects_total", "counter", "Broker sessions opened.", m.connects),
            ("connection_errors_total", "counter", "Failed or lost broker connections.", m.connection_errors),
            ("connected", "gauge", "1 while the sink holds a broker session.", m.connected as u64),
            ("outbox_messages", "gauge", "Messages waiting in the outbox.", m.outbox.messages),
            ("outbox_bytes", "gauge", "Bytes the outbox holds.", m.outbox.bytes),
            (
                "outbox_dropped_telemetry",
                "gauge",
                "Telemetry dropped at the outbox quota (findings never are).",
                m.outbox.dropped_telemetry,
            ),
        ];
        for (name, kind, help, v) in rows {
            family(&mut o, &format!("edgecite_mqtt_{name}"), kind, help, [(label.clone(), v)]);
        }
    }
    // The models, counted like sources (issue 18): loaded or not, runs, rows scored, errors,
    // non-finite scores and the latency's p99.
    let label = |m: &crate::inference::registry::ModelInfo| format!("model=\"{}\"", esc(&m.name));
    family(
        &mut o,
        "edgecite_model_loaded",
        "gauge",
        "1 when the model is loaded and scores.",
        models.iter().map(|m| (label(m), (m.status == "loaded") as u64)),
    );
    type Stat = fn(&crate::inference::stats::StatsSnapshot) -> u64;
    let stats: [(&str, &str, &str, Stat); 5] = [
        ("runs_total", "counter", "Inference runs (a batch is one run).", |l| l.runs),
        ("rows_total", "counter", "Feature rows scored.", |l| l.rows),
        ("errors_total", "counter", "Runs that failed.", |l| l.errors),
        ("non_finite_scores_total", "counter", "Scores that were NaN or infinite (no finding from them).", |l| {
            l.non_finite_scores
        }),
        ("latency_p99_microseconds", "gauge", "99th percentile of a run's latency.", |l| l.p99_us),
    ];
    for (name, kind, help, get) in stats {
        let rows = models.iter().filter_map(|m| m.latency.as_ref().map(|l| (label(m), get(l))));
        family(&mut o, &format!("edgecite_model_{name}"), kind, help, rows);
    }
    let _ =
        writeln!(o, "# HELP edgecite_store_samples Samples stored (estimate).\n# TYPE edgecite_store_samples gauge");
    let _ = writeln!(o, "edgecite_store_samples {samples}");
    let _ = writeln!(
        o,
        "# TYPE edgecite_sqlite_memory_bytes gauge\nedgecite_sqlite_memory_bytes {}",
        crate::store::Store::sqlite_memory_bytes()
    );
    let _ = writeln!(o, "# HELP edgecite_findings Findings by severity and state.\n# TYPE edgecite_findings gauge");
    for (sev, st, n, _) in &findings {
        let _ = writeln!(o, "edgecite_findings{{severity=\"{}\",state=\"{}\"}} {n}", esc(sev), esc(st));
    }
    let _ = writeln!(o, "# TYPE edgecite_findings_acknowledged gauge");
    for (sev, st, _, a) in &findings {
        let _ = writeln!(o, "edgecite_findings_acknowledged{{severity=\"{}\",state=\"{}\"}} {a}", esc(sev), esc(st));
    }
    {
        let m = state.metrics.inner.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(
            o,
            "# HELP edgecite_http_requests_total HTTP requests served.\n# TYPE edgecite_http_requests_total counter"
        );
        for ((route, method, status), n) in &m.requests {
            let _ = writeln!(
                o,
                "edgecite_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{status}\"}} {n}",
                esc(route),
                esc(method)
            );
        }
        let _ = writeln!(o, "# TYPE edgecite_http_request_duration_seconds histogram");
        let mut cum = 0;
        for (i, b) in BUCKETS.iter().enumerate() {
            cum += m.buckets[i];
            let _ = writeln!(o, "edgecite_http_request_duration_seconds_bucket{{le=\"{b}\"}} {cum}");
        }
        cum += m.buckets[BUCKETS.len()];
        let _ = writeln!(o, "edgecite_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {cum}");
        let _ = writeln!(o, "edgecite_http_request_duration_seconds_sum {}", m.sum_s);
        let _ = writeln!(o, "edgecite_http_request_duration_seconds_count {}", m.count);
    }
    let mut r = Response::new(Body::from(o));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    Ok(r)
}

/// One metric family: its HELP and TYPE lines, then a sample per (labels, value).
fn family(o: &mut String, name: &str, kind: &str, help: &str, rows: impl IntoIterator<Item = (String, u64)>) {
    use std::fmt::Write;
    let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, v) in rows {
        let _ = writeln!(o, "{name}{{{labels}}} {v}");
    }
}
