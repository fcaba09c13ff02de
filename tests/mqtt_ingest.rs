//! MQTT ingest against a real Mosquitto: plain numbers, JSON with a value path and a
//! timestamp, and Sparkplug B births and data (encoded by the independent Python peer)
//! become stored samples; each kind of malformed payload is counted, logged with its topic
//! and reason, and leaves the other points and the daemon alone.

use crate::common::mosquitto::{publish_all, sparkplug_encode, Broker};
use crate::common::{demo_config, Daemon, Ports};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

fn stored(db: &Path) -> BTreeMap<String, Vec<(i64, f64)>> {
    let s = edgecite::store::Store::open_readonly(db).unwrap();
    let mut out: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    for (p, r) in s.all_samples().unwrap() {
        if let Some(v) = r.value {
            out.entry(p).or_default().push((r.ts_ms, v));
        }
    }
    out.values_mut().for_each(|v| v.sort_by_key(|r| r.0));
    out
}

fn mqtt_source(d: &Daemon) -> Option<serde_json::Value> {
    let h = d.get("/healthz").ok()?.1;
    h["sources"].as_array()?.iter().find(|s| s["kind"] == "mqtt").cloned()
}

#[test]
fn numbers_json_and_sparkplug_are_ingested_and_malformed_payloads_counted_and_isolated() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path());
    let ports = Ports::new();
    let config = demo_config(dir.path(), &ports, &[]);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        r#"
[mqtt]
enabled = true
port = {}
[[mqtt.subscriptions]]
topic = "plant/+/temp"
point = "ext.{{1}}_temp"
[[mqtt.subscriptions]]
topic = "plant/json/#"
point = "js.{{1}}"
format = "json"
value = "data.v"
timestamp = "data.ts"
[[mqtt.subscriptions]]
topic = "spBv1.0/G1/+/N1/#"
point = "spb.{{metric}}"
format = "sparkplug_b"
"#,
        broker.port
    ));
    std::fs::write(&config, text).unwrap();
    let daemon = Daemon::start(&config, ports.api, &[]);
    daemon.wait_until("the MQTT ingest subscribed", Duration::from_secs(60), || {
        (mqtt_source(&daemon)?["connected"] == true).then_some(())
    });

    let sp = sparkplug_encode(json!([
        {"file": "birth", "seq": 0, "timestamp": 1_700_000_000_000i64, "metrics": [
            {"name": "Sensors/Temp", "alias": 1, "datatype": 10, "value": 21.5},
            {"name": "Count", "alias": 2, "datatype": 3, "value": -3},
            {"name": "bdSeq", "alias": 3, "datatype": 8, "value": 0}]},
        {"file": "data", "seq": 1, "timestamp": 1_700_000_001_000i64, "metrics": [
            {"alias": 1, "datatype": 10, "value": 22.25},
            {"alias": 2, "datatype": 3, "value": -4}]},
        {"file": "data_mixed", "seq": 2, "timestamp": 1_700_000_002_000i64, "metrics": [
            {"alias": 9, "datatype": 10, "value": 1.0},
            {"alias": 1, "datatype": 12, "value": "hot"},
            {"alias": 2, "datatype": 3, "value": 7}]},
    ]));
    let t = |s: &str| s.to_string();
    let good_then_bad: Vec<(String, Vec<u8>)> = vec![
        (t("plant/boiler/temp"), b"81.5".to_vec()),
        (t("plant/boiler/temp"), b"eighty".to_vec()), // not_a_number
        (t("plant/pump/temp"), b"40.25".to_vec()),
        (t("plant/pump/temp"), vec![0xff, 0xfe]), // not_utf8
        (t("plant/json/line1"), br#"{"data":{"v":3.5,"ts":1700000000123}}"#.to_vec()),
        (t("plant/json/line1"), br#"{"data":{"v":3.5"#.to_vec()), // invalid_json
        (t("plant/json/line1"), br#"{"data":{"x":1}}"#.to_vec()), // missing_field
        (t("plant/json/line1"), br#"{"data":{"v":"high","ts":1}}"#.to_vec()), // not_a_number
        (t("plant/json/line1"), br#"{"data":{"v":4.5,"ts":"soon"}}"#.to_vec()), // bad_timestamp
        (t("plant/json/line2"), br#"{"data":{"v":9.75,"ts":"2026-03-01T12:00:00Z"}}"#.to_vec()),
        (t("spBv1.0/G1/NDATA/N1"), b"\x0a\xff\xff\xff".to_vec()), // sparkplug_decode
        (t("spBv1.0/G1/NBIRTH/N1"), sp["birth"].clone()),
        (t("spBv1.0/G1/NDATA/N1"), sp["data"].clone()),
        (t("spBv1.0/G1/NDATA/N1"), sp["data_mixed"].clone()), // unknown_alias + not_a_number, one good
        (t("plant/sentinel/temp"), b"1".to_vec()),
    ];
    let malformed = 9;
    publish_all(broker.port, "test-ingest-pub", &good_then_bad);
    let db = dir.path().join("edgecite.db");
    daemon.wait_until("the sentinel stored", Duration::from_secs(60), || {
        stored(&db).contains_key("ext.sentinel_temp").then_some(())
    });
    let s = stored(&db);
    let vals = |p: &str| s.get(p).map(|v| v.iter().map(|x| x.1).collect::<Vec<_>>()).unwrap_or_default();
    assert_eq!(vals("ext.boiler_temp"), vec![81.5]);
    assert_eq!(vals("ext.pump_temp"), vec![40.25]);
    assert_eq!(s["js.line1"], vec![(1_700_000_000_123, 3.5)]);
    assert_eq!(s["js.line2"], vec![(1_772_366_400_000, 9.75)]);
    assert_eq!(vals("spb.Sensors_Temp"), vec![21.5, 22.25]);
    assert_eq!(vals("spb.Count"), vec![-3.0, -4.0, 7.0]);
    assert_eq!(s["spb.Count"][0].0, 1_700_000_000_000);

    let src = mqtt_source(&daemon).unwrap();
    assert_eq!(src["errors"], malformed, "{src}");
    // The unknown alias made the daemon ask N1 for a rebirth (NCMD); its own subscription
    // (`spBv1.0/G1/+/N1/#`) receives that command too, as one more message with nothing to store.
    daemon.wait_until("every message and the rebirth request counted", Duration::from_secs(30), || {
        (mqtt_source(&daemon)?["requests"] == good_then_bad.len() + 1).then_some(())
    });
    let log = daemon.log_text();
    for (topic, kind) in [
        ("plant/boiler/temp", "not_a_number"),
        ("plant/pump/temp", "not_utf8"),
        ("plant/json/line1", "invalid_json"),
        ("plant/json/line1", "missing_field"),
        ("plant/json/line1", "not_a_number"),
        ("plant/json/line1", "bad_timestamp"),
        ("spBv1.0/G1/NDATA/N1", "sparkplug_decode"),
        ("spBv1.0/G1/NDATA/N1", "unknown_alias"),
    ] {
        assert!(
            log.lines().any(|l| l.contains("malformed payload")
                && l.contains(&format!("topic={topic}"))
                && l.contains(&format!("kind=\"{kind}\""))),
            "no log line for {topic} {kind}:\n{log}"
        );
    }
    // The daemon is still serving and polling Modbus.
    assert_eq!(daemon.json("/healthz")["sources"][0]["connected"], true);
}

/// Neuron's and Telegraf's JSON as the docs/mqtt.md examples configure them, against a real
/// Mosquitto: one payload expands into many points; Neuron's `errors` become a `bad`
/// quality (not a malformed payload); Telegraf's seconds are read as seconds; the same
/// payload read as ms is stored with a warning about the implausible time; two
/// subscriptions share one topic.
#[test]
fn json_templates_expand_neuron_and_telegraf_payloads() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path());
    let ports = Ports::new();
    let config = demo_config(dir.path(), &ports, &[]);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        r#"
[mqtt]
enabled = true
port = {}
# Neuron (EMQ): one message per group with every tag's value, errors per tag.
[[mqtt.subscriptions]]
topic = "neuron/+"
point = "neuron.{{$node}}_{{tag}}"
format = "json"
tags = "values"
errors = "errors"
timestamp = "timestamp"
# A second subscription on the same topic: the group's tags again, by group name.
[[mqtt.subscriptions]]
topic = "neuron/+"
point = "grp.{{$group}}_{{tag}}"
format = "json"
tags = "values"
timestamp = "timestamp"
# Telegraf's JSON serializer (json_timestamp_units = "1s", its default).
[[mqtt.subscriptions]]
topic = "telegraf/#"
point = "tg.{{$name}}_{{$tags.host}}_{{tag}}"
format = "json"
tags = "fields"
timestamp = "timestamp"
timestamp_unit = "s"
# The same Telegraf payload read with the wrong unit.
[[mqtt.subscriptions]]
topic = "telegraf/#"
point = "tgms.{{tag}}"
format = "json"
tags = "fields"
timestamp = "timestamp"
"#,
        broker.port
    ));
    std::fs::write(&config, text).unwrap();
    let daemon = Daemon::start(&config, ports.api, &[]);
    daemon.wait_until("the MQTT ingest subscribed", Duration::from_secs(60), || {
        (mqtt_source(&daemon)?["connected"] == true).then_some(())
    });
    let now_s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64 - 60;
    let neuron = json!({"node": "plc1", "group": "line1", "timestamp": now_s * 1000,
        "values": {"temp": 21.5, "speed": 1450, "running": true}, "errors": {"pressure": 2014}});
    let telegraf = json!({"fields": {"usage_idle": 92.5, "usage_user": 3.25}, "name": "cpu",
        "tags": {"host": "gw1", "cpu": "cpu-total"}, "timestamp": now_s});
    publish_all(
        broker.port,
        "test-json-pub",
        &[
            ("neuron/line1".to_string(), neuron.to_string().into_bytes()),
            ("telegraf/cpu".to_string(), telegraf.to_string().into_bytes()),
        ],
    );
    let db = dir.path().join("edgecite.db");
    // Neuron: 3 values + 1 error, and the 3 values again; Telegraf: 2 fields, twice.
    daemon.wait_until("every sample handed on", Duration::from_secs(60), || {
        (mqtt_source(&daemon)?["samples"] == 11).then_some(())
    });
    daemon.wait_until("the Telegraf points stored", Duration::from_secs(60), || {
        stored(&db).contains_key("tg.cpu_gw1_usage_user").then_some(())
    });
    let s = stored(&db);
    let ms = now_s * 1000;
    assert_eq!(s["neuron.plc1_temp"], vec![(ms, 21.5)]);
    assert_eq!(s["neuron.plc1_speed"], vec![(ms, 1450.0)]);
    assert_eq!(s["neuron.plc1_running"], vec![(ms, 1.0)]);
    assert_eq!(s["grp.line1_temp"], vec![(ms, 21.5)]);
    assert_eq!(s["tg.cpu_gw1_usage_idle"], vec![(ms, 92.5)]);
    assert_eq!(s["tg.cpu_gw1_usage_user"], vec![(ms, 3.25)]);
    // The ms reading (January 1970) was handed on as sent (counted above); the store's
    // retention may already have pruned it, so it is not looked up here.
    // The tag in `errors`: a row with quality `bad`, no value.
    let rows =
        edgecite::store::Store::open_readonly(&db).unwrap().samples("neuron.plc1_pressure", i64::MIN, 10).unwrap();
    assert_eq!(rows.first(), Some(&(ms, None, "bad".to_string())), "{rows:?}");
    let src = mqtt_source(&daemon).unwrap();
    assert_eq!(src["errors"], 0, "{src}");
    let log = daemon.log_text();
    assert!(
        log.lines().any(|l| l.contains("stored with a warning")
            && l.contains("topic=telegraf/cpu")
            && l.contains("implausible_timestamp")
            && l.contains("subscription=telegraf/#")),
        "no warning about the 1970 time:\n{log}"
    );
}
