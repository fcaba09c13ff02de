//! Live values as server-sent events, and a role's history downsampled to the range asked.

use super::i18n::LiveAssetView;
use super::{query_store, ApiError, ApiResult, ApiState, ErrorBody};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::convert::Infallible;
use std::time::Duration;
use utoipa::{OpenApi, ToSchema};

pub(crate) fn routes() -> Router<ApiState> {
    Router::new().route("/api/v1/live", get(live)).route("/api/v1/assets/{id}/history", get(history))
}

#[derive(OpenApi)]
#[openapi(paths(live, history), components(schemas(History, HistoryPoint, crate::diagnose::pack::RoleLimit)))]
pub(crate) struct Doc;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LiveQuery {
    /// At most one event per this many seconds (1 to 300; default 1): a phone on a weak
    /// link asks for fewer.
    #[param(minimum = 1, maximum = 300)]
    interval_s: Option<u64>,
    /// Language of the texts: en or zh (default: Accept-Language, then the configured one).
    lang: Option<crate::text::Lang>,
}

/// Server-sent events. First an `assets` event: the JSON array of `/api/v1/assets` live
/// parts (values and assessments, in the language asked). Then, after evaluation passes (at most one event per
/// `interval_s`), a `delta` event with only what changed:
/// `{"assets": [{"id", "values": [{"k": role, changed fields...}], "assessments": [{"k":
/// criterion id, changed fields...}], other changed fields...}]}`, objects and keyed lists
/// (a verdict's `methods`, keyed by `criterion`) diffed the same way down; a field that went
/// is `null`. When assets, roles or criteria come or go, a full `assets` event is sent
/// instead. A `findings` event `{"rev": n}` comes first and whenever a finding opened,
/// changed severity, cleared or was acknowledged: a client refetches `/api/v1/findings`
/// then, not on a timer. Sent gzip-compressed, flushed after every event, when the client
/// accepts gzip.
#[utoipa::path(get, path = "/api/v1/live", tag = "assets", params(LiveQuery),
    responses((status = 200, content_type = "text/event-stream", body = String,
        description = "`event: assets` with a JSON array of assets, then `event: delta` with the changes; `event: findings` with `{\"rev\": n}`"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn live(
    State(state): State<ApiState>,
    headers: axum::http::HeaderMap,
    super::ApiQuery(q): super::ApiQuery<LiveQuery>,
) -> Result<axum::response::Response, ApiError> {
    let interval = q.interval_s.unwrap_or(1);
    if !(1..=300).contains(&interval) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_query",
            format!("interval_s={interval}: expected 1 to 300"),
        ));
    }
    let lang = super::i18n::lang_of(&state, q.lang, &headers);
    let gzip = super::link::accepts_gzip(&headers);
    let first = LiveCursor { last: -1, prev: None, rev: None, first: true, queued: None };
    let stream = futures_util::stream::unfold((state, first), move |(state, mut c)| async move {
        if let Some(ev) = c.queued.take() {
            return Some((Ok::<_, Infallible>(ev), (state, c)));
        }
        if !c.first {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(interval)) => {}
                _ = state.shutdown.cancelled() => return None,
            }
        }
        c.first = false;
        loop {
            let now = {
                let live = state.live.read().unwrap_or_else(|p| p.into_inner());
                (live.last_evaluation_ms != c.last).then(|| {
                    let views: Vec<LiveAssetView> =
                        live.assets.iter().map(|a| LiveAssetView::new(a.clone(), lang)).collect();
                    (live.last_evaluation_ms, serde_json::to_value(&views).unwrap_or(Value::Array(vec![])))
                })
            };
            if let Some((stamp, cur)) = now {
                let ev = match c.prev.as_ref().and_then(|p| delta(p, &cur)) {
                    Some(d) => Event::default().event("delta").data(d.to_string()),
                    None => Event::default().event("assets").data(cur.to_string()),
                };
                (c.last, c.prev) = (stamp, Some(cur));
                // The findings' revision, when it moved: sent before the assets' change.
                match query_store(&state, |s| s.findings_rev()).await {
                    Ok(rev) if c.rev != Some(rev) => {
                        c.rev = Some(rev);
                        c.queued = Some(ev);
                        let fe = Event::default().event("findings").data(serde_json::json!({ "rev": rev }).to_string());
                        return Some((Ok(fe), (state, c)));
                    }
                    Ok(_) => {}
                    // Logged by query_store; the client's own findings poll still runs.
                    Err(_) => {}
                }
                return Some((Ok(ev), (state, c)));
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(1000)) => {}
                _ = state.shutdown.cancelled() => return None,
            }
        }
    });
    let sse =
        Sse::new(futures_util::StreamExt::fuse(stream)).keep_alive(KeepAlive::new().interval(Duration::from_secs(30)));
    let res = axum::response::IntoResponse::into_response(sse);
    Ok(if gzip { super::link::gzip_flushed(res) } else { res })
}

/// Where one client's live stream is: the evaluation last sent, the assets as sent (to diff
/// against), the findings revision sent, and an event waiting behind a `findings` event.
struct LiveCursor {
    last: i64,
    prev: Option<Value>,
    rev: Option<i64>,
    first: bool,
    queued: Option<Event>,
}

/// The key of an element of a list: its `criterion` (a verdict's methods, whose `role` is
/// shared: several are "confirmation"), `criterion.id` (assessments) or `role` (values).
fn key(v: &Value) -> Option<&str> {
    match v.get("criterion") {
        Some(c) => c.as_str().or_else(|| c.get("id").and_then(Value::as_str)),
        None => v.get("role").and_then(Value::as_str),
    }
}

/// The keys of a list whose elements all have one, each once, in order.
fn keys(l: &[Value]) -> Option<Vec<&str>> {
    let k: Vec<&str> = l.iter().map(key).collect::<Option<_>>()?;
    let mut seen = std::collections::HashSet::new();
    k.iter().all(|x| seen.insert(*x)).then_some(k)
}

/// What changed from one object to the next: the fields that differ or came, `null` for a
/// field that went, objects and keyed lists (`[{"k": key, changed fields...}]`) diffed
/// down; None when a keyed list's keys changed (then the whole array is sent).
fn diff_object(p: &Map<String, Value>, c: &Map<String, Value>) -> Option<Map<String, Value>> {
    let mut d = Map::new();
    for k in p.keys().filter(|k| !c.contains_key(*k)) {
        d.insert(k.clone(), Value::Null);
    }
    for (k, cv) in c {
        let Some(pv) = p.get(k) else {
            d.insert(k.clone(), cv.clone());
            continue;
        };
        if pv == cv {
            continue;
        }
        let v = match (pv, cv) {
            (Value::Object(po), Value::Object(co)) => Value::Object(diff_object(po, co)?),
            (Value::Array(pl), Value::Array(cl)) if !cl.is_empty() && keys(pl).is_some() && keys(pl) == keys(cl) => {
                let mut out = Vec::new();
                for (pe, ce) in pl.iter().zip(cl) {
                    if pe == ce {
                        continue;
                    }
                    let (Value::Object(po), Value::Object(co)) = (pe, ce) else { return None };
                    let mut e = diff_object(po, co)?;
                    e.insert("k".into(), Value::String(key(ce)?.to_owned()));
                    out.push(Value::Object(e));
                }
                Value::Array(out)
            }
            _ => cv.clone(),
        };
        d.insert(k.clone(), v);
    }
    Some(d)
}

/// What changed from `prev` to `cur` (both arrays of assets), or None when the shape
/// changed (an asset, role, criterion or field came or went): then the whole array is sent.
fn delta(prev: &Value, cur: &Value) -> Option<Value> {
    let (p, c) = (prev.as_array()?, cur.as_array()?);
    if p.len() != c.len() {
        return None;
    }
    let mut out = Vec::new();
    for (pa, ca) in p.iter().zip(c) {
        let (pa, ca) = (pa.as_object()?, ca.as_object()?);
        if pa.get("id") != ca.get("id") {
            return None;
        }
        for list in ["values", "assessments"] {
            let (pl, cl) = (pa.get(list)?.as_array()?, ca.get(list)?.as_array()?);
            if keys(pl)? != keys(cl)? {
                return None;
            }
        }
        let mut d = diff_object(pa, ca)?;
        if !d.is_empty() {
            d.insert("id".into(), ca["id"].clone());
            out.push(Value::Object(d));
        }
    }
    Some(serde_json::json!({ "assets": out }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// The asset's role, e.g. `h2` or `vib_velocity`.
    role: String,
    /// Start, ms since the Unix epoch (default: `to` minus one hour, not before 0).
    #[param(minimum = 0, maximum = 253_402_300_799_999_i64)]
    from_ms: Option<i64>,
    /// End, ms since the Unix epoch (default: now). A range that ends before it starts
    /// holds no points.
    #[param(minimum = 0, maximum = 253_402_300_799_999_i64)]
    to_ms: Option<i64>,
    /// Buckets to downsample into (1 to 1000; default 120).
    #[param(minimum = 1, maximum = 1000)]
    points: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct HistoryPoint {
    /// Bucket start (RFC 3339).
    pub t: String,
    pub t_ms: i64,
    pub min: f64,
    pub avg: f64,
    pub max: f64,
    /// Samples in the bucket.
    pub n: i64,
}

#[derive(Serialize, ToSchema)]
pub struct History {
    pub asset: String,
    pub role: String,
    pub point: String,
    pub unit: String,
    pub from_ms: i64,
    pub to_ms: i64,
    pub bucket_ms: i64,
    pub points: Vec<HistoryPoint>,
    /// The fixed limits the asset's criteria set on this role (band edges, limit values),
    /// each with its criterion, to draw on the trend.
    pub limits: Vec<crate::diagnose::pack::RoleLimit>,
}

/// A role's values over a time range, downsampled to at most `points` buckets (min, avg,
/// max of each). Empty buckets are left out.
#[utoipa::path(get, path = "/api/v1/assets/{id}/history", tag = "assets", params(("id" = String, Path), HistoryQuery),
    responses((status = 200, body = History), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn history(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    super::ApiQuery(q): super::ApiQuery<HistoryQuery>,
) -> ApiResult<History> {
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", m);
    let (point, unit, class) = {
        let live = state.live.read().unwrap_or_else(|p| p.into_inner());
        let asset = live
            .assets
            .iter()
            .find(|a| a.id == id)
            .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "asset_not_found", format!("no asset `{id}`")))?;
        let v = asset.values.iter().find(|v| v.role == q.role).ok_or_else(|| {
            let roles: Vec<&str> = asset.values.iter().map(|v| v.role.as_str()).collect();
            ApiError::new(
                StatusCode::NOT_FOUND,
                "role_not_found",
                format!("asset `{id}` has no role `{}`: it has {}", q.role, roles.join(", ")),
            )
        })?;
        (v.point.clone(), v.unit.clone(), asset.class.clone())
    };
    let params = state.knowledge.assets.get(&id).map(|a| a.params.clone()).unwrap_or_default();
    let limits = state.knowledge.packs.role_limits(&class, &q.role, &params);
    let to = q.to_ms.unwrap_or_else(crate::time::now_ms);
    let from = q.from_ms.unwrap_or(to.saturating_sub(3_600_000).max(0));
    let points = q.points.unwrap_or(120);
    if !(1..=1000).contains(&points) {
        return Err(bad(format!("points={points}: expected 1 to 1000")));
    }
    // Up to the year 9999: beyond, times cannot be written as RFC 3339.
    const MAX: i64 = 253_402_300_799_999;
    if !(0..=MAX).contains(&from) || !(0..=MAX).contains(&to) {
        return Err(bad(format!("from_ms={from}, to_ms={to}: expected times from 0 to {MAX} (ms since 1970)")));
    }
    let p = point.clone();
    let rows = if from < to { query_store(&state, move |s| s.history(&p, from, to, points)).await? } else { vec![] };
    let bucket_ms = ((to - from) / points as i64).max(1);
    let _ = bad;
    Ok(Json(History {
        asset: id,
        role: q.role,
        point,
        unit,
        from_ms: from,
        to_ms: to,
        bucket_ms,
        points: rows
            .into_iter()
            .map(|(t, min, avg, max, n)| HistoryPoint { t: crate::time::rfc3339(t), t_ms: t, min, avg, max, n })
            .collect(),
        limits,
    }))
}

#[cfg(test)]
mod tests {
    use super::delta;
    use serde_json::json;

    #[test]
    fn a_delta_holds_only_what_changed_and_a_new_shape_is_sent_whole() {
        let a = json!([{"id": "T1", "name": "T", "values": [{"role": "h2", "value": 1.0, "ts": "a", "quality": "good"},
            {"role": "ch4", "value": 2.0, "ts": "a", "quality": "good"}],
            "assessments": [{"criterion": {"id": "c1"}, "status": "normal", "ts": "a"}]}]);
        let b = json!([{"id": "T1", "name": "T", "values": [{"role": "h2", "value": 1.0, "ts": "a", "quality": "good"},
            {"role": "ch4", "value": null, "ts": "b", "quality": "comm_error"}],
            "assessments": [{"criterion": {"id": "c1"}, "status": "abstain", "ts": "b"}]}]);
        assert_eq!(
            delta(&a, &b).unwrap(),
            json!({"assets": [{"id": "T1", "values": [{"k": "ch4", "value": null, "ts": "b", "quality": "comm_error"}],
                "assessments": [{"k": "c1", "status": "abstain", "ts": "b"}]}]})
        );
        assert_eq!(delta(&a, &a).unwrap(), json!({"assets": []}));
        let c = json!([{"id": "T1", "name": "T", "values": [{"role": "h2", "value": 1.0, "ts": "a", "quality": "good"}],
            "assessments": [{"criterion": {"id": "c1"}, "status": "normal", "ts": "a"}]}]);
        assert!(delta(&a, &c).is_none(), "a role went: the whole array is sent");
        // A field that went is sent as null, one that came as itself.
        let d = json!([{"id": "T1", "name": "T", "values": [{"role": "h2", "value": 1.0, "ts": "a", "quality": "good"},
            {"role": "ch4", "value": 2.0, "ts": "a", "quality": "good"}],
            "assessments": [{"criterion": {"id": "c1"}, "status": "fault", "code": "X", "ts": "a"}]}]);
        assert_eq!(
            delta(&a, &d).unwrap(),
            json!({"assets": [{"id": "T1", "assessments": [{"k": "c1", "status": "fault", "code": "X"}]}]})
        );
        assert_eq!(
            delta(&d, &a).unwrap(),
            json!({"assets": [{"id": "T1", "assessments": [{"k": "c1", "status": "normal", "code": null}]}]})
        );
        // Nested: one method's summary changed; only it is sent, keyed by its criterion.
        // Methods share a role ("confirmation"): the criterion is the key, never the role.
        let m = |s: &str| {
            json!([{"id": "T1", "values": [], "assessments": [{"criterion": {"id": "v"}, "ts": "a",
            "methods": [{"criterion": "m0", "role": "primary", "summary": {"en": "p", "zh": "z"}},
                {"criterion": "m1", "role": "confirmation", "summary": {"en": "x", "zh": "z"}},
                {"criterion": "m2", "role": "confirmation", "summary": {"en": s, "zh": "z"}}]}]}])
        };
        assert_eq!(
            delta(&m("1 ppm"), &m("2 ppm")).unwrap(),
            json!({"assets": [{"id": "T1", "assessments": [{"k": "v", "methods": [{"k": "m2", "summary": {"en": "2 ppm"}}]}]}]})
        );
        // A list whose keys repeat is sent whole, never merged into the wrong element.
        let r = |s: &str| {
            json!([{"id": "T1", "values": [], "assessments": [{"criterion": {"id": "v"}, "ts": "a",
            "methods": [{"role": "confirmation", "summary": "x"}, {"role": "confirmation", "summary": s}]}]}])
        };
        let dr = delta(&r("1"), &r("2")).unwrap();
        assert_eq!(dr["assets"][0]["assessments"][0]["methods"], r("2")[0]["assessments"][0]["methods"]);
    }
}
