//! The MQTT publish sink against a real Mosquitto: every payload kind arrives on its
//! documented topic and validates against `schemas/mqtt/*.json` (checked by Python's
//! jsonschema), findings carry evidence and citations, state is retained, the last will
//! marks the gateway offline, and MQTT 5 works like 3.1.1.

use crate::common::mosquitto::{validate_with_jsonschema, Broker, Received, Subscriber};
use crate::common::{self, demo_config, Daemon, Ports};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub fn mqtt_config(dir: &Path, ports: &Ports, broker: u16, extra: &str) -> PathBuf {
    let path = demo_config(dir, ports, &[]);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&format!("\n[mqtt]\nenabled = true\nport = {broker}\nreconnect_max_ms = 1000\n{extra}\n"));
    std::fs::write(&path, text).unwrap();
    path
}

fn kind(topic: &str) -> String {
    topic.rsplit('/').next().unwrap().to_string()
}

fn has(got: &[Received], topic: &str) -> bool {
    got.iter().any(|r| r.topic == topic)
}

#[test]
fn every_payload_kind_round_trips_and_matches_its_schema() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path());
    let sub = Subscriber::start(broker.port, "test-roundtrip", "edgecite/v1/#");
    let ports = Ports::new();
    let config = mqtt_config(dir.path(), &ports, broker.port, "");
    let mut daemon = Daemon::start(&config, ports.api, &[]);
    let base = "edgecite/v1/demo-plant/gw1";
    let wanted = [
        format!("{base}/T1/telemetry"),
        format!("{base}/P1/telemetry"),
        format!("{base}/T1/state"),
        format!("{base}/P1/state"),
        format!("{base}/_gateway/status"),
        format!("{base}/_gateway/info"),
    ];
    sub.wait_for(
        "telemetry, state, status and an opened finding",
        Duration::from_secs(120),
        || daemon.log_text(),
        |got| {
            wanted.iter().all(|t| has(got, t))
                && got.iter().any(|r| kind(&r.topic) == "finding" && r.json()["event"] == "opened")
        },
    );
    let got = sub.snapshot();
    let items: Vec<(String, serde_json::Value)> = got.iter().map(|r| (kind(&r.topic), r.json())).collect();
    validate_with_jsonschema(&items);

    // Findings carry their evidence and at least one citation.
    for (k, v) in &items {
        if k == "finding" {
            let f = &v["finding"];
            assert!(!f["evidence"]["values"].as_array().unwrap().is_empty(), "{v}");
            assert!(!f["citations"].as_array().unwrap().is_empty(), "{v}");
            assert_eq!(v["asset"], f["asset"]);
        }
        if k == "telemetry" {
            assert!(v["values"].as_array().unwrap().iter().any(|x| x["value"].is_number()), "{v}");
        }
    }
    // Every outbox message has a unique dedup id (no outage here, so no duplicates) and
    // the seq grows in arrival order.
    let seqs: Vec<i64> = items.iter().filter_map(|(_, v)| v["seq"].as_i64()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "seq out of order: {seqs:?}");

    // The API and `edgecite status` show the outbox.
    let o = daemon.json("/api/v1/outbox");
    assert_eq!(o["connected"], true, "{o}");
    assert!(o["acked"].as_u64().unwrap() >= seqs.len() as u64, "{o}");
    assert!(daemon.json("/healthz")["mqtt"]["outbox"]["quota_bytes"].as_u64().unwrap() > 0);
    // /metrics counts the sink like a source (issue 18).
    let auth = format!("Bearer {}", daemon.token);
    let m = crate::common::http(daemon.api, "GET", "/metrics", &[("Authorization", &auth)], None).unwrap();
    let text = m.json.as_str().unwrap_or_default().to_string();
    let value = |family: &str| -> Option<u64> {
        text.lines()
            .find(|l| l.starts_with(&format!("{family}{{broker=")))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
    };
    assert_eq!(value("edgecite_mqtt_connected"), Some(1), "{text}");
    assert!(value("edgecite_mqtt_acked_total").unwrap() >= seqs.len() as u64, "{text}");
    assert!(value("edgecite_mqtt_sent_total").unwrap() >= value("edgecite_mqtt_acked_total").unwrap(), "{text}");
    assert!(value("edgecite_mqtt_enqueued_total").unwrap() >= seqs.len() as u64, "{text}");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_edgecite"))
        .args(["status", "--config"])
        .arg(&config)
        .env("EDGECITE_TOKEN", &daemon.token)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("mqtt 127.0.0.1:") && text.contains(" up: ") && text.contains("outbox"), "{text}");

    // State is retained: a subscriber that arrives later gets it at once.
    let late = Subscriber::start(broker.port, "test-late", &format!("{base}/+/state"));
    late.wait_for("retained state of T1 and P1", Duration::from_secs(30), String::new, |got| {
        ["T1", "P1"].iter().all(|a| got.iter().any(|r| r.retain && r.topic == format!("{base}/{a}/state")))
    });

    // SIGKILL: the broker publishes the last will, the retained status says offline.
    daemon.child.kill().unwrap();
    daemon.child.wait().unwrap();
    sub.wait_for(
        "the last will (online = false)",
        Duration::from_secs(60),
        || broker.log(),
        |got| got.iter().any(|r| r.topic == format!("{base}/_gateway/status") && r.json()["online"] == false),
    );
    let will: Vec<_> =
        sub.snapshot().into_iter().filter(|r| kind(&r.topic) == "status").map(|r| (kind(&r.topic), r.json())).collect();
    validate_with_jsonschema(&will);
}

#[test]
fn mqtt5_publishes_and_empties_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start_with_receive_maximum(dir.path(), 7);
    let sub = Subscriber::start(broker.port, "test-v5", "edgecite/v1/#");
    let ports = Ports::new();
    let config = mqtt_config(dir.path(), &ports, broker.port, "protocol = \"5\"\ntelemetry_expiry_s = 600");
    let props = v5_properties(broker.port);
    let mut daemon = Daemon::start(&config, ports.api, &[]);
    sub.wait_for(
        "telemetry over MQTT 5",
        Duration::from_secs(60),
        || daemon.log_text(),
        |got| got.iter().filter(|r| kind(&r.topic) == "telemetry").count() >= 4,
    );
    daemon.wait_until("acknowledged messages", Duration::from_secs(30), || {
        let o = daemon.json("/api/v1/outbox");
        (o["acked"].as_u64()? >= 4).then_some(())
    });
    // MQTT 5 properties, as an MQTT 5 subscriber sees them.
    let (tele, finding_or_state) = props.join().unwrap();
    assert_eq!(tele.content_type.as_deref(), Some("application/json"), "{tele:?}");
    assert_eq!(tele.payload_format_indicator, Some(1), "{tele:?}");
    let expiry = tele.message_expiry_interval.expect("telemetry expires");
    assert!(expiry > 0 && expiry <= 600, "{tele:?}");
    assert!(tele.user_properties.contains(&("schema".to_string(), "edgecite/v1/telemetry".to_string())), "{tele:?}");
    assert!(tele.user_properties.contains(&("gateway".to_string(), "gw1".to_string())), "{tele:?}");
    assert_eq!(finding_or_state.message_expiry_interval, None, "state never expires: {finding_or_state:?}");
    assert!(finding_or_state.user_properties.contains(&("schema".to_string(), "edgecite/v1/state".to_string())));
    // A clean stop sends no will; the sink publishes the offline status itself.
    // The broker's CONNACK carries Receive Maximum 7 (its max_inflight_messages): the
    // sender's window follows it, below `max_inflight` (500), and the outbox still empties.
    assert!(daemon.log_text().contains("the window is 7"), "{}", daemon.log_text());
    assert!(daemon.terminate());
    sub.wait_for("status online = false after SIGTERM", Duration::from_secs(30), String::new, |got| {
        got.iter().any(|r| r.topic.ends_with("/_gateway/status") && r.json()["online"] == false)
    });
}

#[test]
fn without_mqtt_the_outbox_route_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports::new();
    let config = demo_config(dir.path(), &ports, &[]);
    let daemon = Daemon::start(&config, ports.api, &[]);
    let (code, body) = daemon.get("/api/v1/outbox").unwrap();
    assert_eq!(code, 404);
    assert_eq!(body["error"]["code"], "mqtt_disabled", "{body}");
    assert!(daemon.json("/healthz")["mqtt"].is_null());
}

/// A broker restarted without persistence has forgotten every retained message: the
/// gateway's next session publishes the retained state of every asset again (not only on
/// the next change), so a consumer that subscribes afterwards still gets it.
#[test]
fn retained_state_is_republished_after_a_broker_restart_without_persistence() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::start_without_persistence(dir.path());
    let ports = Ports::new();
    let cfg = mqtt_config(dir.path(), &ports, broker.port, "reconnect_min_ms = 100");
    let daemon = Daemon::start(&cfg, ports.api, &[]);
    let state = |a: &str| format!("edgecite/v1/demo-plant/gw1/{a}/state");
    {
        let first = Subscriber::start(broker.port, "test-state-1", "edgecite/v1/+/+/+/state");
        first.wait_for(
            "both states",
            Duration::from_secs(60),
            || daemon.log_text(),
            |got| has(got, &state("T1")) && has(got, &state("P1")),
        );
    }
    broker.stop();
    broker.restart();
    daemon.wait_until("the state republished in a new session", Duration::from_secs(60), || {
        let o = daemon.json("/api/v1/outbox");
        (o["connects"].as_u64()? >= 2
            && daemon.log_text().contains("retained state of every asset is published again")
            && o["outbox"]["messages"].as_u64()? == 0)
            .then_some(())
    });
    let later = Subscriber::start(broker.port, "test-state-2", "edgecite/v1/+/+/+/state");
    later.wait_for(
        "both states, retained",
        Duration::from_secs(30),
        || daemon.log_text(),
        |got| ["T1", "P1"].iter().all(|a| got.iter().any(|r| r.topic == state(a) && r.retain)),
    );
}

/// An MQTT 5 subscriber (rumqttc v5) that returns the publish properties of the first
/// telemetry and the first state message.
fn v5_properties(
    port: u16,
) -> std::thread::JoinHandle<(
    rumqttc::v5::mqttbytes::v5::PublishProperties,
    rumqttc::v5::mqttbytes::v5::PublishProperties,
)> {
    use rumqttc::v5::mqttbytes::v5::Packet;
    use rumqttc::v5::{AsyncClient, Event, MqttOptions};
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let h = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let mut o = MqttOptions::new("test-v5-props", "127.0.0.1", port);
            o.set_keep_alive(Duration::from_secs(5));
            let (client, mut el) = AsyncClient::new(o, 10);
            client.subscribe("edgecite/v1/#", rumqttc::v5::mqttbytes::QoS::AtLeastOnce).await.unwrap();
            let (mut tele, mut state) = (None, None);
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            while tele.is_none() || state.is_none() {
                let ev = tokio::time::timeout_at(deadline, el.poll()).await.expect("MQTT 5 messages within 60 s");
                match ev.expect("MQTT 5 subscriber connection") {
                    Event::Incoming(Packet::SubAck(_)) => ready_tx.send(()).unwrap(),
                    Event::Incoming(Packet::Publish(p)) => {
                        let topic = String::from_utf8_lossy(&p.topic).into_owned();
                        let slot = if topic.ends_with("/telemetry") {
                            &mut tele
                        } else if topic.ends_with("/state") {
                            &mut state
                        } else {
                            continue;
                        };
                        if slot.is_none() {
                            *slot = Some(p.properties.unwrap_or_default());
                        }
                    }
                    _ => {}
                }
            }
            (tele.unwrap(), state.unwrap())
        })
    });
    ready_rx.recv_timeout(Duration::from_secs(20)).expect("MQTT 5 subscriber SUBACK");
    h
}

#[test]
fn gateway_info_says_what_runs_and_is_published_again_when_a_reload_changes_it() {
    use sha2::Digest;
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path());
    let ports = Ports::new();
    let models = dir.path().join("models");
    common::copy_dir(&common::repo().join("models/pump_anomaly"), &models.join("pump_anomaly"));
    let config = mqtt_config(dir.path(), &ports, broker.port, "");
    let text = std::fs::read_to_string(&config).unwrap();
    let repo_models = format!("{:?}", common::repo().join("models").display().to_string());
    assert!(text.contains(&repo_models));
    std::fs::write(&config, text.replace(&repo_models, &format!("{:?}", models.display().to_string()))).unwrap();
    let mut daemon = Daemon::start(&config, ports.api, &[]);
    let topic = "edgecite/v1/demo-plant/gw1/_gateway/info";
    let info_with = |n: usize| {
        move |got: &[Received]| {
            got.iter().any(|r| r.topic == topic && r.json()["models"].as_array().map(Vec::len) == Some(n))
        }
    };
    // A fleet tool that subscribes later gets it retained.
    std::thread::sleep(Duration::from_secs(2));
    let sub = Subscriber::start(broker.port, "test-info", "edgecite/v1/+/+/_gateway/info");
    sub.wait_for("the retained gateway info", Duration::from_secs(60), || daemon.log_text(), info_with(1));
    let first = sub.snapshot().into_iter().find(|r| r.topic == topic).unwrap();
    assert!(first.retain, "info is retained");
    let v = first.json();
    let config_sha = hex::encode(sha2::Sha256::digest(std::fs::read(&config).unwrap()));
    assert_eq!(v["config_sha256"], config_sha.as_str(), "{v}");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    let manifest: toml::Value =
        toml::from_str(&std::fs::read_to_string(models.join("pump_anomaly/manifest.toml")).unwrap()).unwrap();
    let m = &v["models"][0];
    assert_eq!((m["name"].as_str(), m["sha256"].as_str()), (Some("pump_anomaly"), manifest["sha256"].as_str()), "{v}");
    assert_eq!(m["provider"], "cpu", "{v}");
    assert!(v["onnxruntime"].as_str().is_some_and(|r| r.starts_with("1.")), "{v}");
    assert!(v["providers_available"].as_array().unwrap().iter().any(|p| p == "cpu"), "{v}");
    let packs: Vec<&str> = v["packs"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert!(packs.contains(&"transformer-dga"), "{v}");
    assert!(v["packs"].as_array().unwrap().iter().all(|p| p["sha256"].as_str().unwrap().len() == 64), "{v}");
    // A second model and SIGHUP: the reload is reported without a restart.
    common::add_model_and_sighup(&models, daemon.child.id());
    sub.wait_for("gateway info naming both models", Duration::from_secs(60), || daemon.log_text(), info_with(2));
    let items: Vec<(String, serde_json::Value)> =
        sub.snapshot().iter().filter(|r| r.topic == topic).map(|r| ("info".to_string(), r.json())).collect();
    validate_with_jsonschema(&items);
    assert!(daemon.terminate(), "clean stop");
}

/// The demo polled every 200 ms and evaluated every 5 s, with `extra` in `[mqtt]`.
fn fast_polls(dir: &Path, ports: &Ports, broker: u16, extra: &str) -> PathBuf {
    let config = mqtt_config(dir, ports, broker, "");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("[diagnose]\ninterval_ms = 1000"), "the demo evaluates every second");
    let text = text.replace("[diagnose]\ninterval_ms = 1000", "[diagnose]\ninterval_ms = 5000");
    assert_eq!(text.matches("interval_ms = 1000").count(), 2, "the demo's two sources poll every second");
    // `[mqtt]` is the last section: `extra` goes into it.
    std::fs::write(&config, text.replace("interval_ms = 1000", "interval_ms = 200") + extra + "\n").unwrap();
    config
}

/// A daemon of `fast_polls` with `extra` in its own directory under `dir`: the T1 telemetry
/// it sends in 4 s after its first one, and the daemon (still running).
fn telemetry_in_4_s(dir: &Path, name: &str, broker: u16, extra: &str) -> (Daemon, Vec<Received>) {
    let ports = Ports::new();
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    let config = fast_polls(&d, &ports, broker, extra);
    let sub = Subscriber::start(broker, &format!("test-{name}"), "edgecite/v1/demo-plant/gw1/T1/telemetry");
    let daemon = Daemon::start(&config, ports.api, &[]);
    sub.wait_for("first telemetry", Duration::from_secs(60), || daemon.log_text(), |got| !got.is_empty());
    let first = sub.snapshot().len();
    std::thread::sleep(Duration::from_secs(4));
    (daemon, sub.snapshot()[first..].to_vec())
}

#[test]
fn telemetry_goes_out_with_each_poll_not_with_the_evaluation_pass_and_rate_limited_values_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path());
    // No rate limit: one message per poll (5 a second), while the evaluation runs every 5 s.
    let (mut daemon, got) = telemetry_in_4_s(dir.path(), "arrival", broker.port, "telemetry_interval_ms = 0");
    let (n, polls) = (got.len(), 4 * 5);
    assert!(n >= polls / 2, "{n} telemetry messages in 4 s at 5 polls a second (evaluated every 5 s)");
    // Each message carries the newest poll: its sample times advance message by message.
    let times: Vec<i64> = got
        .iter()
        .map(|r| r.json()["values"].as_array().unwrap().iter().filter_map(|v| v["ts_ms"].as_i64()).max().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[1] > w[0]), "{times:?}");
    assert!(daemon.terminate());

    // One message a second per asset: the values polled in between are counted, not lost
    // silently (they are in the store).
    let (mut daemon, got) = telemetry_in_4_s(dir.path(), "limited", broker.port, "telemetry_interval_ms = 1000");
    let n = got.len();
    assert!((2..=6).contains(&n), "{n} telemetry messages in 4 s with one a second allowed");
    let superseded = daemon.json("/api/v1/outbox")["telemetry_superseded"].as_u64().unwrap();
    assert!(superseded > 0, "values replaced before they were sent are counted");
    assert!(daemon.terminate());
}
