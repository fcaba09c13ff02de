//! The outbox quota during a long outage, against a real Mosquitto: telemetry beyond the
//! quota is dropped oldest first and counted exactly; every finding arrives; the count is
//! published as a metric once the link is back.

use crate::common::mosquitto::{first_occurrences, validate_with_jsonschema, Broker, Subscriber};
use edgecite::config::Config;
use edgecite::sinks::mqtt::MqttSink;
use edgecite::store::outbox::{MessageClass, NewMessage};
use std::time::Duration;

const TELEMETRY: usize = 3000;
const FINDINGS: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_outage_drops_oldest_telemetry_counted_and_keeps_every_finding() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::start(dir.path());
    // The subscriber's persistent session outlives the outage on the broker's disk.
    let sub = Subscriber::start(broker.port, "test-quota", "edgecite/v1/#");
    broker.stop();

    let path = dir.path().join("edgecite.toml");
    let text = format!(
        "[site]\nid = \"plant\"\ngateway = \"gw\"\n[store]\npath = \"edgecite.db\"\n\
         [mqtt]\nenabled = true\nport = {}\nreconnect_min_ms = 50\nreconnect_max_ms = 300\n[mqtt.outbox]\nquota_bytes = 65536\n",
        broker.port
    );
    let config = Config::parse(&path, &text).unwrap();
    let cancel = tokio_util::sync::CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();
    let sink = MqttSink::start(&config, &mut tasks, cancel.clone()).unwrap().unwrap();

    // ~240 bytes per telemetry message: 3000 of them are 11 times the quota.
    let pad = "x".repeat(180);
    let mut batch = Vec::new();
    for i in 0..TELEMETRY {
        batch.push(NewMessage {
            class: MessageClass::Telemetry,
            topic: sink.topics().asset("A1", "telemetry"),
            payload: format!("{{\"i\":{i},\"pad\":\"{pad}\"}}").into_bytes(),
            retain: false,
            created_ms: 0,
        });
        if i % (TELEMETRY / FINDINGS) == 0 {
            batch.push(NewMessage {
                class: MessageClass::Finding,
                topic: sink.topics().asset("A1", "finding"),
                payload: format!("{{\"n\":{},\"pad\":\"{pad}{pad}\"}}", i / (TELEMETRY / FINDINGS)).into_bytes(),
                retain: false,
                created_ms: 0,
            });
        }
        if batch.len() >= 10 {
            tokio::task::block_in_place(|| sink.enqueue(&batch, &[])).unwrap();
            batch.clear();
        }
    }
    tokio::task::block_in_place(|| sink.enqueue(&batch, &[])).unwrap();
    let view = sink.status.view();
    let dropped = view.outbox.dropped_telemetry as usize;
    assert!(dropped > TELEMETRY / 2, "quota should have dropped most telemetry: {view:?}");
    assert!(view.outbox.bytes <= 65536, "{view:?}");
    assert!(!view.connected);

    broker.restart();
    let ctx = || {
        let got = sub.snapshot();
        let firsts = first_occurrences(&got);
        let t = firsts.iter().filter(|(_, v)| v.get("i").is_some()).count();
        let f = firsts.iter().filter(|(_, v)| v.get("n").is_some()).count();
        format!("telemetry {t} of {}, findings {f}, {:?}\n{}", TELEMETRY - dropped, sink.status.view(), broker.log())
    };
    sub.wait_for("all findings, the kept telemetry and the metric", Duration::from_secs(120), ctx, |got| {
        let firsts = first_occurrences(got);
        let t = firsts.iter().filter(|(_, v)| v.get("i").is_some()).count();
        let f = firsts.iter().filter(|(_, v)| v.get("n").is_some()).count();
        let m = got.iter().any(|r| r.topic.ends_with("/_gateway/metrics"));
        t == TELEMETRY - dropped && f == FINDINGS && m
    });
    let got = sub.snapshot();
    let firsts = first_occurrences(&got);
    // The findings, all of them, in order.
    let ns: Vec<i64> = firsts.iter().filter_map(|(_, v)| v["n"].as_i64()).collect();
    assert_eq!(ns, (0..FINDINGS as i64).collect::<Vec<_>>());
    // The telemetry kept is the newest: exactly the last TELEMETRY - dropped, in order.
    let is: Vec<i64> = firsts.iter().filter_map(|(_, v)| v["i"].as_i64()).collect();
    assert_eq!(is, (dropped as i64..TELEMETRY as i64).collect::<Vec<_>>());
    // The metric counts the drop exactly, and validates against its schema.
    let metrics: Vec<_> = got.iter().filter(|r| r.topic.ends_with("/_gateway/metrics")).map(|r| r.json()).collect();
    assert_eq!(metrics.len(), 1, "{metrics:?}");
    assert_eq!(metrics[0]["outbox"]["dropped_telemetry_since_last"], dropped as u64);
    assert_eq!(metrics[0]["outbox"]["dropped_telemetry_total"], dropped as u64);
    validate_with_jsonschema(&[("metrics".to_string(), metrics[0].clone())]);

    cancel.cancel();
    while tasks.join_next().await.is_some() {}
}
