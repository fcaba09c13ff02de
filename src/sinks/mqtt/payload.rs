//! Topic scheme and JSON payloads, version 1. Documented in `docs/mqtt.md`; every payload
//! has a JSON schema in `schemas/mqtt/`.
//!
//! ```text
//! {prefix}/{site}/{gateway}/{asset}/telemetry   latest values of the asset's roles
//! {prefix}/{site}/{gateway}/{asset}/finding     a finding opened, changed or cleared
//! {prefix}/{site}/{gateway}/{asset}/state       retained: assessments and open findings
//! {prefix}/{site}/{gateway}/_gateway/metrics    outbox fill and dropped telemetry
//! {prefix}/{site}/{gateway}/_gateway/status     retained: online true/false (last will)
//! ```
//! `prefix` is `edgecite/v1` unless configured. Payloads that pass through the outbox get
//! `dedup_id`, `seq` and `replay` prepended when sent (`envelope`).

use crate::diagnose::{Assessment, Outcome};
use crate::pipeline::AssetState;
use crate::store::mqtt_feed::FindingFeedItem;
use crate::store::outbox::OutboxStats;
use serde_json::{json, Value};

pub const SCHEMA_VERSION: &str = "edgecite/v1";

#[derive(Debug, Clone)]
pub struct Topics {
    base: String,
}

impl Topics {
    pub fn new(prefix: &str, site: &str, gateway: &str) -> Topics {
        Topics { base: format!("{prefix}/{site}/{gateway}") }
    }

    pub fn asset(&self, asset: &str, stream: &str) -> String {
        format!("{}/{asset}/{stream}", self.base)
    }

    pub fn gateway(&self, stream: &str) -> String {
        format!("{}/{}/{stream}", self.base, crate::config::RESERVED_ASSET_ID)
    }
}

fn head(kind: &str, site: &str, gateway: &str, ts_ms: i64) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("schema".into(), json!(format!("{SCHEMA_VERSION}/{kind}")));
    m.insert("site".into(), json!(site));
    m.insert("gateway".into(), json!(gateway));
    m.insert("ts".into(), json!(crate::time::rfc3339(ts_ms)));
    m.insert("ts_ms".into(), json!(ts_ms));
    m
}

/// A deploy's outcome (`_gateway/deploy` and the request's reply topic).
pub fn deploy(site: &str, gateway: &str, o: &crate::fleet::deploy::Outcome) -> Value {
    let mut m = head("deploy", site, gateway, o.ts_ms);
    if let Value::Object(fields) = serde_json::to_value(o).expect("outcome serialises") {
        m.extend(fields);
    }
    Value::Object(m)
}

/// The latest value of every role of an asset.
pub fn telemetry(site: &str, gateway: &str, asset: &AssetState, now_ms: i64) -> Value {
    let mut m = head("telemetry", site, gateway, now_ms);
    m.insert("asset".into(), json!(asset.id));
    let values: Vec<Value> = asset
        .roles
        .iter()
        .filter_map(|r| {
            let s = r.latest()?;
            Some(json!({
                "role": r.role,
                "point": r.point.to_string(),
                "value": s.value,
                "text": s.text.as_deref(),
                "unit": r.unit,
                "ts": crate::time::rfc3339(s.ts_ms),
                "ts_ms": s.ts_ms,
                "quality": s.quality.as_string(),
            }))
        })
        .collect();
    m.insert("values".into(), Value::Array(values));
    Value::Object(m)
}

/// A finding event with the finding as stored: evidence, citations, recommended action.
pub fn finding(site: &str, gateway: &str, item: &FindingFeedItem) -> Value {
    let mut m = head("finding", site, gateway, item.ts_ms);
    m.insert("asset".into(), json!(item.finding.asset));
    m.insert("event".into(), json!(item.kind));
    m.insert("event_id".into(), json!(item.event_id));
    m.insert("summary".into(), json!(item.summary));
    m.insert("finding".into(), serde_json::to_value(&item.finding).expect("finding serialises"));
    Value::Object(m)
}

/// The asset's state: the latest assessment of each criterion and the open findings.
/// Returns the payload and a key that changes only when the content does (not the time).
pub fn state(
    site: &str,
    gateway: &str,
    asset: &AssetState,
    assessments: &[&Assessment],
    now_ms: i64,
) -> (Value, String) {
    let rows: Vec<Value> = assessments
        .iter()
        .map(|a| {
            let (code, severity, reason) = match &a.outcome {
                Outcome::Fault(r) => (Some(r.code.as_str()), Some(r.severity.as_str()), None),
                Outcome::Normal { .. } => (None, None, None),
                Outcome::Abstain { reason, .. } => (None, None, Some(reason.as_str())),
            };
            json!({"criterion": a.criterion.id, "status": a.outcome.status(), "code": code, "severity": severity, "reason": reason})
        })
        .collect();
    let key = serde_json::to_string(&rows).unwrap_or_default();
    let mut m = head("state", site, gateway, now_ms);
    m.insert("asset".into(), json!(asset.id));
    m.insert("name".into(), json!(asset.name));
    m.insert("class".into(), json!(asset.class.as_str()));
    m.insert("assessments".into(), Value::Array(rows));
    (Value::Object(m), key)
}

pub fn metrics(site: &str, gateway: &str, stats: &OutboxStats, dropped_since_last: u64, now_ms: i64) -> Value {
    let mut m = head("metrics", site, gateway, now_ms);
    m.insert(
        "outbox".into(),
        json!({
            "messages": stats.messages,
            "bytes": stats.bytes,
            "quota_bytes": stats.quota_bytes,
            "dropped_telemetry_total": stats.dropped_telemetry,
            "dropped_telemetry_since_last": dropped_since_last,
        }),
    );
    Value::Object(m)
}

pub fn status(site: &str, gateway: &str, online: bool, now_ms: i64) -> Value {
    let mut m = head("status", site, gateway, now_ms);
    m.insert("online".into(), json!(online));
    Value::Object(m)
}

/// The payload as sent: `{"dedup_id": "{epoch}-{id}", "seq": id, "replay": bool, ...stored}`.
/// The stored payload is a JSON object serialised by this module, so splicing after its `{`
/// keeps it valid without parsing it again.
pub fn envelope(epoch: i64, id: i64, replay: bool, stored: &[u8]) -> Vec<u8> {
    let prefix = format!("{{\"dedup_id\":\"{epoch}-{id}\",\"seq\":{id},\"replay\":{replay}");
    let mut out = Vec::with_capacity(prefix.len() + stored.len() + 1);
    out.extend_from_slice(prefix.as_bytes());
    let rest = stored.strip_prefix(b"{").unwrap_or(b"}");
    let rest_trim = rest.iter().position(|b| !b.is_ascii_whitespace()).map(|i| &rest[i..]).unwrap_or(b"}");
    if rest_trim.first() != Some(&b'}') {
        out.push(b',');
    }
    out.extend_from_slice(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_keeps_json_valid() {
        for stored in [&b"{}"[..], b"{\"a\":1}", b"{ }"] {
            let v: Value = serde_json::from_slice(&envelope(7, 42, true, stored)).unwrap();
            assert_eq!(v["dedup_id"], "7-42");
            assert_eq!(v["seq"], 42);
            assert_eq!(v["replay"], true);
        }
        let v: Value = serde_json::from_slice(&envelope(7, 1, false, b"{\"a\":1}")).unwrap();
        assert_eq!(v["a"], 1);
    }
}
