//! MQTT ingest acknowledges only what is stored: a publisher sends numbered JSON messages at
//! QoS 1 to a real Mosquitto while the daemon is SIGKILLed mid-stream and restarted. Every
//! message the broker PUBACKed to the publisher must end up in the SQLite store. The ingest
//! session is persistent, so the broker queues what arrives while the daemon is down, and a
//! message is PUBACKed to the broker only after its samples are committed. A message whose
//! samples were committed but whose PUBACK the kill prevented comes again: it is stored twice
//! with the same point, timestamp (from the payload) and value, which is how it is deduped.
//! A clean stop (SIGTERM) instead drains: what was committed is PUBACKed before the
//! disconnect, so after the restart every message is stored exactly once.

use crate::common::mosquitto::Broker;
use crate::common::{demo_config, Daemon, Ports};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const N: u64 = 2000;
/// Message timestamps: recent, so the store's retention keeps them.
fn base_ts() -> i64 {
    static BASE: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
        now.as_millis() as i64 - 60_000
    })
}

/// (ts_ms, value) of every stored row of point `js.crash`.
fn stored(db: &Path) -> Vec<(i64, f64)> {
    let Ok(s) = edgecite::store::Store::open_readonly(db) else {
        return vec![];
    };
    let Ok(rows) = s.point_samples("js.crash", i64::MIN, i64::MAX) else {
        return vec![];
    };
    rows.into_iter().map(|r| (r.ts_ms, r.value.expect("a value"))).collect()
}

/// Publish message 0..N at QoS 1 (about one per ms), recording which ones were PUBACKed.
fn publish_numbered(port: u16, acked: Arc<Mutex<BTreeSet<u64>>>) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut o = rumqttc::MqttOptions::new("test-crash-pub", "127.0.0.1", port);
        o.set_keep_alive(Duration::from_secs(5)).set_inflight(20);
        let (client, mut el) = rumqttc::AsyncClient::new(o, 10);
        let mut net = rumqttc::NetworkOptions::new();
        net.set_tcp_nodelay(true);
        el.set_network_options(net);
        let poller = tokio::spawn(async move {
            // Requests leave in order, so the k-th outgoing PUBLISH is message k.
            let (mut next, mut by_pkid) = (0u64, std::collections::HashMap::new());
            while (acked.lock().unwrap().len() as u64) < N {
                let ev = tokio::time::timeout(Duration::from_secs(30), el.poll()).await.expect("publisher events");
                match ev.expect("publisher connection") {
                    rumqttc::Event::Outgoing(rumqttc::Outgoing::Publish(pkid)) => {
                        by_pkid.insert(pkid, next);
                        next += 1;
                    }
                    rumqttc::Event::Incoming(rumqttc::Packet::PubAck(a)) => {
                        acked.lock().unwrap().insert(by_pkid[&a.pkid]);
                    }
                    _ => {}
                }
            }
            el
        });
        for i in 0..N {
            let payload = format!(r#"{{"v":{i},"ts":{}}}"#, base_ts() + i as i64);
            client.publish("crash/crash", rumqttc::QoS::AtLeastOnce, false, payload).await.unwrap();
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let mut el = poller.await.unwrap();
        client.disconnect().await.unwrap();
        let _ = tokio::time::timeout(Duration::from_secs(2), el.poll()).await;
    });
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Stop {
    Kill,
    Term,
}

fn stop_mid_stream_loses_no_acknowledged_message(protocol: &str, stop: Stop) {
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
protocol = "{protocol}"
reconnect_min_ms = 100
reconnect_max_ms = 500
[[mqtt.subscriptions]]
topic = "crash/+"
point = "js.{{1}}"
format = "json"
value = "v"
timestamp = "ts"
"#,
        broker.port
    ));
    std::fs::write(&config, text).unwrap();
    let db = dir.path().join("edgecite.db");
    let source_connected = |d: &Daemon| -> Option<()> {
        let h = d.get("/healthz").ok()?.1;
        let s = h["sources"].as_array()?.iter().find(|s| s["kind"] == "mqtt")?.clone();
        (s["connected"] == true).then_some(())
    };

    let mut daemon = Daemon::start(&config, ports.api, &[]);
    daemon.wait_until("the MQTT ingest subscribed", Duration::from_secs(60), || source_connected(&daemon));

    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let publisher = {
        let (port, acked) = (broker.port, acked.clone());
        std::thread::spawn(move || publish_numbered(port, acked))
    };
    daemon.wait_until("a few hundred messages stored", Duration::from_secs(60), || {
        (stored(&db).len() >= 300).then_some(())
    });
    match stop {
        Stop::Kill => {
            daemon.child.kill().unwrap(); // SIGKILL, mid-stream
            daemon.child.wait().unwrap();
        }
        Stop::Term => assert!(daemon.terminate(), "no clean stop:\n{}", daemon.log_text()),
    }
    let at_kill = stored(&db).len();
    assert!((at_kill as u64) < N, "the kill came after the stream ended ({at_kill} stored)");
    // The publisher goes on while the daemon is down; the broker queues for its session.
    std::thread::sleep(Duration::from_millis(500));

    let daemon = Daemon::start(&config, ports.api, &[]);
    publisher.join().expect("publisher: every message PUBACKed by the broker");
    let acked = acked.lock().unwrap().clone();
    assert_eq!(acked.len() as u64, N);
    daemon.wait_until("every PUBACKed message stored", Duration::from_secs(120), || {
        let ts: BTreeSet<i64> = stored(&db).iter().map(|r| r.0).collect();
        let missing: Vec<u64> = acked.iter().filter(|i| !ts.contains(&(base_ts() + **i as i64))).copied().collect();
        if !missing.is_empty() {
            eprintln!("{} stored, {} missing: {:?}", ts.len(), missing.len(), &missing[..missing.len().min(10)]);
        }
        missing.is_empty().then_some(())
    });

    // Nothing but the published messages; a duplicate row is an exact copy (same point,
    // timestamp and value), so deduping by (point, ts_ms) restores exactly one per message.
    let rows = stored(&db);
    let mut by_ts: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for (ts, v) in &rows {
        by_ts.entry(*ts).or_default().push(*v);
    }
    assert_eq!(by_ts.len() as u64, N, "distinct timestamps");
    for (ts, vals) in &by_ts {
        let i = (ts - base_ts()) as f64;
        assert!(vals.iter().all(|v| *v == i), "message at ts {ts}: values {vals:?}, expected {i}");
    }
    let duplicates = rows.len() - by_ts.len();
    eprintln!(
        "{protocol} {stop:?}: {at_kill} stored at the stop, {} rows, {duplicates} redelivered duplicates",
        rows.len()
    );
    match stop {
        // Only the messages in flight at the kill can come twice (the broker's inflight window).
        Stop::Kill => assert!(duplicates <= 100, "{duplicates} duplicates"),
        // A clean stop PUBACKs everything it committed before it disconnects.
        Stop::Term => assert_eq!(duplicates, 0, "a clean stop left committed messages unacknowledged"),
    }
}

#[test]
fn mqtt311_sigkill_mid_stream_loses_no_acknowledged_message() {
    stop_mid_stream_loses_no_acknowledged_message("3.1.1", Stop::Kill);
}

#[test]
fn mqtt311_sigterm_mid_stream_stores_every_message_once() {
    stop_mid_stream_loses_no_acknowledged_message("3.1.1", Stop::Term);
}

#[test]
fn mqtt5_sigkill_mid_stream_loses_no_acknowledged_message() {
    stop_mid_stream_loses_no_acknowledged_message("5", Stop::Kill);
}
