//! JSON payloads: one value at a path, or a template that expands one payload into many
//! points (`tags`: a map of tag name -> entry, or an array of entries with a name), with
//! per-tag value, time and quality paths, a map of per-tag errors (Neuron), placeholders
//! filled from the document (`{$tags.host}`), and `timestamp_unit`.
//!
//! Times: `timestamp_unit` says what a number means (`s`, `ms` (default), `us`, `ns`);
//! `rfc3339` expects text. Text in RFC 3339 is accepted in every unit. A time before
//! 2000-01-01 or more than a day after arrival is implausible (product policy: a unit
//! mistake, like Telegraf's seconds read as ms, lands in 1970): the sample is stored as
//! sent and a warning names the topic, path, value and unit.

use super::{bad, fill, truncate, Malformed};
use crate::config::mqtt::{SubscriptionConfig, TimestampUnit};
use crate::sample::{PointId, Quality, Sample};
use serde_json::Value;

/// 2000-01-01T00:00:00Z in Unix ms.
const PLAUSIBLE_FROM_MS: i64 = 946_684_800_000;
/// At most this far after arrival.
const PLAUSIBLE_AHEAD_MS: i64 = 24 * 3600 * 1000;

pub fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    if path.is_empty() {
        return Some(v);
    }
    path.split('.').try_fold(v, |v, k| match v {
        Value::Array(a) => a.get(k.parse::<usize>().ok()?),
        _ => v.get(k),
    })
}

/// The time at `path` in Unix ms, per `unit`; the second value is a warning when the time
/// is implausible.
pub fn timestamp(
    v: &Value,
    path: &str,
    unit: TimestampUnit,
    now_ms: i64,
) -> Result<(i64, Option<Malformed>), Malformed> {
    let t = lookup(v, path).ok_or_else(|| bad("missing_field", format!("no timestamp at `{path}`")))?;
    let ms = if let Some(s) = t.as_str() {
        let parsed = humantime::parse_rfc3339(s)
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as i64);
        parsed.ok_or_else(|| {
            bad("bad_timestamp", format!("timestamp at `{path}` is {t}: expected RFC 3339 UTC text (\"...Z\")"))
        })?
    } else if let (Some(x), false) = (t.as_f64(), unit == TimestampUnit::Rfc3339) {
        let ms = match unit {
            TimestampUnit::S => x * 1e3,
            TimestampUnit::Ms => x,
            TimestampUnit::Us => x / 1e3,
            TimestampUnit::Ns => x / 1e6,
            TimestampUnit::Rfc3339 => unreachable!("text only"),
        };
        if !ms.is_finite() || ms.abs() > 1e17 {
            return Err(bad("bad_timestamp", format!("timestamp at `{path}` is {t}: out of range")));
        }
        ms.round() as i64
    } else {
        return Err(bad(
            "bad_timestamp",
            format!("timestamp at `{path}` is {t}: expected a number in {} or RFC 3339 UTC text", unit.as_str()),
        ));
    };
    // Issue 13 item 2: a time past 9999 or before 1970 is malformed, never stored.
    if !crate::time::in_range(ms) {
        return Err(bad("bad_timestamp", format!("timestamp at `{path}` is {t}: not between 1970 and 9999")));
    }
    let warn = (ms < PLAUSIBLE_FROM_MS || ms > now_ms + PLAUSIBLE_AHEAD_MS).then(|| Malformed {
        kind: "implausible_timestamp",
        reason: format!(
            "timestamp at `{path}` is {t}, read as {} with timestamp_unit = \"{}\": before 2000 or more than a day ahead; stored as sent, check timestamp_unit",
            crate::time::rfc3339(ms),
            unit.as_str()
        ),
        warning: true,
    });
    Ok((ms, warn))
}

fn number(v: &Value, path: &str) -> Result<f64, Malformed> {
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| bad("not_a_number", format!("value at `{path}` is {n}"))),
        Value::Bool(b) => Ok(f64::from(u8::from(*b))),
        _ => Err(bad("not_a_number", format!("value at `{path}` is {}, not a number", truncate(&v.to_string())))),
    }
}

/// A quality field: good when `true`, "good"/"ok" (any case), or 192-255 (OPC DA); else bad.
fn quality(v: &Value) -> Quality {
    let good = match v {
        Value::Bool(b) => *b,
        Value::String(s) => s.eq_ignore_ascii_case("good") || s.eq_ignore_ascii_case("ok"),
        Value::Number(n) => n.as_i64().is_some_and(|c| (192..=255).contains(&c)),
        _ => false,
    };
    if good {
        Quality::Good
    } else {
        Quality::Bad
    }
}

/// `{$path}` placeholders filled from the document (sanitised like topic levels).
fn fill_doc(template: &str, doc: &Value) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(i) = rest.find("{$") {
        out.push_str(&rest[..i]);
        let Some(end) = rest[i..].find('}') else { break };
        let path = &rest[i + 2..i + end];
        let v = match lookup(doc, path) {
            Some(Value::String(s)) => s.clone(),
            Some(v) if !v.is_null() => v.to_string(),
            _ => String::new(),
        };
        out.push_str(&crate::mqtt::sparkplug::sanitise(&v));
        rest = &rest[i + end + 1..];
    }
    out.push_str(rest);
    out
}

/// Turn one JSON payload into samples; errors, and warnings (`warning: true`, sample kept).
pub fn parse(sub: &SubscriptionConfig, caps: &[String], payload: &[u8], now_ms: i64) -> (Vec<Sample>, Vec<Malformed>) {
    let doc: Value = match serde_json::from_slice(payload) {
        Ok(d) => d,
        Err(e) => return (vec![], vec![bad("invalid_json", format!("payload is not JSON: {e}"))]),
    };
    let mut notes = Vec::new();
    let root_ts = if sub.timestamp.is_empty() {
        now_ms
    } else {
        match timestamp(&doc, &sub.timestamp, sub.timestamp_unit, now_ms) {
            Ok((t, w)) => {
                notes.extend(w);
                t
            }
            Err(e) => return (vec![], vec![e]),
        }
    };
    let template = fill_doc(&sub.point, &doc);
    if sub.tags.is_empty() {
        let point = PointId::from(fill(&template, caps, None).as_str());
        let r = lookup(&doc, &sub.value)
            .ok_or_else(|| bad("missing_field", format!("no value at `{}`", sub.value)))
            .and_then(|v| number(v, &sub.value));
        return match r {
            Ok(v) => (vec![Sample::good(point, root_ts, v)], notes),
            Err(e) => {
                notes.push(e);
                (vec![], notes)
            }
        };
    }
    // Template: (tag name, entry) pairs.
    let entries: Vec<(String, &Value)> = match lookup(&doc, &sub.tags) {
        Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), v)).collect(),
        Some(Value::Array(a)) => {
            let mut out = Vec::new();
            for (i, e) in a.iter().enumerate() {
                match lookup(e, &sub.tag_name) {
                    Some(Value::String(n)) => out.push((n.clone(), e)),
                    Some(n) if n.is_number() => out.push((n.to_string(), e)),
                    _ => notes.push(bad(
                        "missing_field",
                        format!("entry {i} of `{}` has no tag name at `{}`", sub.tags, sub.tag_name),
                    )),
                }
            }
            out
        }
        Some(v) if !sub.errors.is_empty() && v.is_null() => Vec::new(),
        Some(v) => {
            return (
                vec![],
                vec![bad(
                    "missing_field",
                    format!("`{}` is {}: expected a map or an array of tags", sub.tags, truncate(&v.to_string())),
                )],
            )
        }
        None if !sub.errors.is_empty() => Vec::new(),
        None => return (vec![], vec![bad("missing_field", format!("no tags at `{}`", sub.tags))]),
    };
    let point_of = |tag: &str| {
        let t = template.replace("{tag}", &crate::mqtt::sparkplug::sanitise(tag));
        PointId::from(fill(&t, caps, None).as_str())
    };
    let mut samples = Vec::new();
    for (tag, e) in entries {
        let ts = if sub.tag_timestamp.is_empty() {
            root_ts
        } else {
            match timestamp(e, &sub.tag_timestamp, sub.timestamp_unit, now_ms) {
                Ok((t, w)) => {
                    notes.extend(w);
                    t
                }
                Err(mut m) => {
                    m.reason = format!("tag `{tag}`: {}", m.reason);
                    notes.push(m);
                    continue;
                }
            }
        };
        let q = if sub.tag_quality.is_empty() {
            Quality::Good
        } else {
            lookup(e, &sub.tag_quality).map(quality).unwrap_or(Quality::Good)
        };
        let v = match lookup(e, &sub.value) {
            Some(v) => number(v, &sub.value),
            None => Err(bad("missing_field", format!("no value at `{}`", sub.value))),
        };
        match v {
            Ok(_) if !q.is_good() => samples.push(Sample::bad(point_of(&tag), ts, q)),
            Ok(v) => samples.push(Sample::good(point_of(&tag), ts, v)),
            Err(mut m) => {
                m.reason = format!("tag `{tag}`: {}", m.reason);
                notes.push(m);
            }
        }
    }
    // Per-tag errors (Neuron's `errors`: tag -> error code): the tag's point gets a bad
    // sample, the code is in the log. Not a malformed payload.
    if !sub.errors.is_empty() {
        if let Some(Value::Object(errs)) = lookup(&doc, &sub.errors) {
            for (tag, code) in errs {
                tracing::debug!(tag = %tag, code = %code, "MQTT ingest: the publisher reports an error for the tag");
                samples.push(Sample::bad(point_of(tag), root_ts, Quality::Bad));
            }
        }
    }
    (samples, notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::mqtt::PayloadFormat;

    fn sub(toml_text: &str) -> SubscriptionConfig {
        let s: SubscriptionConfig = toml::from_str(toml_text).unwrap();
        assert_eq!(s.format, PayloadFormat::Json);
        s
    }

    const NOW: i64 = 1_780_000_000_000;

    #[test]
    fn neuron_payload_expands_into_points_and_errors_are_a_quality() {
        let s = sub(r#"
            topic = "neuron/+"
            point = "neuron.{$node}_{tag}"
            format = "json"
            tags = "values"
            errors = "errors"
            timestamp = "timestamp"
        "#);
        let p = br#"{"node":"plc 1","group":"g","timestamp":1780000000123,"values":{"t1":21.5,"t2":-3},"errors":{"t3":2014}}"#;
        let (ok, notes) = parse(&s, &["x".into()], p, NOW);
        assert!(notes.is_empty(), "{notes:?}");
        let got: Vec<_> = ok.iter().map(|s| (s.point.to_string(), s.value, s.quality, s.ts_ms)).collect();
        assert_eq!(
            got,
            vec![
                ("neuron.plc_1_t1".into(), Some(21.5), Quality::Good, 1_780_000_000_123),
                ("neuron.plc_1_t2".into(), Some(-3.0), Quality::Good, 1_780_000_000_123),
                ("neuron.plc_1_t3".into(), None, Quality::Bad, 1_780_000_000_123),
            ]
        );
    }

    #[test]
    fn telegraf_seconds_and_array_tags_with_per_tag_paths() {
        let s = sub(r#"
            topic = "telegraf/#"
            point = "tg.{$name}_{$tags.host}_{tag}"
            format = "json"
            tags = "fields"
            timestamp = "timestamp"
            timestamp_unit = "s"
        "#);
        let p = br#"{"fields":{"usage_idle":92.5},"name":"cpu","tags":{"host":"gw1"},"timestamp":1780000000}"#;
        let (ok, notes) = parse(&s, &[], p, NOW);
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!((ok[0].point.as_ref(), ok[0].ts_ms), ("tg.cpu_gw1_usage_idle", 1_780_000_000_000));
        // The same payload read as ms is 1970: stored, with a warning.
        let ms = SubscriptionConfig { timestamp_unit: TimestampUnit::Ms, ..s };
        let (ok, notes) = parse(&ms, &[], p, NOW);
        assert_eq!((ok.len(), notes.len(), notes[0].kind, notes[0].warning), (1, 1, "implausible_timestamp", true));

        let s = sub(r#"
            topic = "x"
            point = "arr.{tag}"
            format = "json"
            tags = "d"
            tag_name = "id"
            value = "v"
            tag_timestamp = "t"
            tag_quality = "q"
            timestamp_unit = "us"
        "#);
        let p = br#"{"d":[{"id":"a","v":1,"t":1780000000000000,"q":"good"},{"id":"b","v":2,"t":1780000000001000,"q":"bad"},{"v":3}]}"#;
        let (ok, notes) = parse(&s, &[], p, NOW);
        let got: Vec<_> = ok.iter().map(|s| (s.point.to_string(), s.value, s.quality, s.ts_ms)).collect();
        assert_eq!(
            got,
            vec![
                ("arr.a".into(), Some(1.0), Quality::Good, 1_780_000_000_000),
                ("arr.b".into(), None, Quality::Bad, 1_780_000_000_001),
            ]
        );
        assert_eq!((notes.len(), notes[0].kind), (1, "missing_field"), "{notes:?}");
    }

    #[test]
    fn units_and_rfc3339() {
        let doc: Value = serde_json::json!({"ns": 1780000000000000000i64, "txt": "2026-01-01T00:00:00Z", "n": 5});
        assert_eq!(timestamp(&doc, "ns", TimestampUnit::Ns, NOW).unwrap().0, 1_780_000_000_000);
        assert_eq!(timestamp(&doc, "txt", TimestampUnit::Rfc3339, NOW).unwrap().0, 1_767_225_600_000);
        assert_eq!(timestamp(&doc, "txt", TimestampUnit::Ms, NOW).unwrap().0, 1_767_225_600_000);
        assert_eq!(timestamp(&doc, "n", TimestampUnit::Rfc3339, NOW).unwrap_err().kind, "bad_timestamp");
        let (_, w) = timestamp(&doc, "n", TimestampUnit::S, NOW).unwrap();
        assert_eq!(w.unwrap().kind, "implausible_timestamp");
    }
}
