//! A real Mosquitto broker on a free loopback port, and a test subscriber.
//!
//! The broker persists sessions (`persistence true`) so the test subscriber's session
//! (clean session off, QoS 1) survives a broker restart: messages the gateway publishes
//! right after the broker comes back are queued for the subscriber even if it has not
//! reconnected yet. `queue_qos0_messages true` queues QoS 0 messages (Sparkplug B data,
//! which the spec sends at QoS 0) the same way, so it does not matter whether the gateway
//! or the test subscriber reconnects first. Nothing in the tests depends on timing.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Broker {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Broker {
    pub fn start(dir: &Path) -> Broker {
        Broker::start_with(dir, true, 0)
    }

    /// A broker that keeps nothing across a restart (no sessions, no retained messages).
    pub fn start_without_persistence(dir: &Path) -> Broker {
        Broker::start_with(dir, false, 0)
    }

    /// A broker that takes at most `n` unacknowledged QoS 1 messages per client (MQTT 5
    /// clients learn it as Receive Maximum in the CONNACK).
    pub fn start_with_receive_maximum(dir: &Path, n: u16) -> Broker {
        Broker::start_with(dir, true, n)
    }

    fn start_with(dir: &Path, persistence: bool, max_inflight: u16) -> Broker {
        let port = super::free_port();
        let dir = dir.join("mosquitto");
        std::fs::create_dir_all(&dir).unwrap();
        // `user`: run as whoever runs the tests (as root, mosquitto would otherwise switch
        // to the `mosquitto` user and could not write its log and persistence file here).
        let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
        let conf = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\nuser {}\npersistence {persistence}\nqueue_qos0_messages true\npersistence_location {}/\n\
             max_queued_messages 0\nmax_inflight_messages {max_inflight}\nlog_dest file {}/mosquitto.log\nlog_type error\nlog_type warning\nlog_type notice\n",
            user.trim(),
            dir.display(),
            dir.display()
        );
        std::fs::write(dir.join("mosquitto.conf"), conf).unwrap();
        let mut b = Broker { port, dir, child: None };
        b.restart();
        b
    }

    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "broker already running");
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto (apt-get install mosquitto; scripts/setup.sh --tests installs it)");
        self.child = Some(child);
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(start.elapsed() < Duration::from_secs(20), "mosquitto did not listen on {}", self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM (mosquitto saves its persistence file) and wait for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            Command::new("kill").args(["-TERM", &c.id().to_string()]).status().unwrap();
            c.wait().unwrap();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[derive(Debug, Clone)]
pub struct Received {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
    /// The QoS it was delivered with (the subscription is QoS 1, so this is the sender's).
    pub qos: u8,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload).unwrap_or_else(|e| {
            panic!("{}: payload is not JSON ({e}): {:?}", self.topic, String::from_utf8_lossy(&self.payload))
        })
    }
}

/// An MQTT 3.1.1 subscriber (rumqttc) with a persistent session, collecting everything on
/// `filter` in arrival order. It reconnects by itself while the broker is away.
pub struct Subscriber {
    pub got: Arc<Mutex<Vec<Received>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Subscriber {
    pub fn start(port: u16, client_id: &str, filter: &str) -> Subscriber {
        let got = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let subscribed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (g, s, sub, id, filter) =
            (got.clone(), stop.clone(), subscribed.clone(), client_id.to_string(), filter.to_string());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let mut o = rumqttc::MqttOptions::new(id, "127.0.0.1", port);
                o.set_clean_session(false).set_keep_alive(Duration::from_secs(5)).set_max_packet_size(1 << 22, 1 << 22);
                let (client, mut el) = rumqttc::AsyncClient::new(o, 100);
                let mut net = rumqttc::NetworkOptions::new();
                net.set_tcp_nodelay(true);
                el.set_network_options(net);
                client.subscribe(filter, rumqttc::QoS::AtLeastOnce).await.unwrap();
                while !s.load(std::sync::atomic::Ordering::Relaxed) {
                    match tokio::time::timeout(Duration::from_millis(200), el.poll()).await {
                        Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_)))) => {
                            sub.store(true, std::sync::atomic::Ordering::Relaxed)
                        }
                        Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)))) => {
                            g.lock().unwrap().push(Received {
                                qos: p.qos as u8,
                                topic: p.topic,
                                payload: p.payload.to_vec(),
                                retain: p.retain,
                            })
                        }
                        Ok(Ok(_)) | Err(_) => {}
                        Ok(Err(_)) => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                }
            });
        });
        let start = Instant::now();
        while !subscribed.load(std::sync::atomic::Ordering::Relaxed) {
            assert!(start.elapsed() < Duration::from_secs(20), "test subscriber got no SUBACK");
            std::thread::sleep(Duration::from_millis(20));
        }
        Subscriber { got, stop, thread: Some(thread) }
    }

    pub fn snapshot(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Poll until `f` is satisfied with the messages so far; panic with `context()` after
    /// a generous limit.
    pub fn wait_for(&self, what: &str, limit: Duration, context: impl Fn() -> String, f: impl Fn(&[Received]) -> bool) {
        let start = Instant::now();
        loop {
            if f(&self.got.lock().unwrap()) {
                return;
            }
            if start.elapsed() > limit {
                let got = self.snapshot();
                let topics: Vec<_> = got.iter().rev().take(5).map(|r| r.topic.clone()).collect();
                panic!(
                    "gave up waiting for {what} after {limit:?}; {} messages, last topics {topics:?}\n{}",
                    got.len(),
                    context()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Validate payloads against `schemas/mqtt/{kind}.json` with Python's `jsonschema` (the
/// independent validator, in `.venv`). `items` are (kind, payload).
pub fn validate_with_jsonschema(items: &[(String, serde_json::Value)]) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("payloads.json");
    std::fs::write(&file, serde_json::to_vec(items).unwrap()).unwrap();
    let python = super::repo().join(".venv/bin/python");
    let out = Command::new(&python)
        .arg(super::repo().join("tests/peers/mqtt_schema_check.py"))
        .arg(super::repo().join("schemas/mqtt"))
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (run `source scripts/setup.sh --tests`)", python.display()));
    assert!(
        out.status.success(),
        "schema validation failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What an outbox file holds: the highest id ever assigned, the ids still queued, the
/// dropped-telemetry count and the epoch. Read directly from the SQLite file.
pub struct OutboxFile {
    pub last_id: i64,
    pub pending: std::collections::BTreeSet<i64>,
    pub dropped: i64,
    pub epoch: i64,
}

pub fn read_outbox(path: &Path) -> OutboxFile {
    let c = rusqlite::Connection::open(path).unwrap();
    let last_id = c
        .query_row("SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'outbox'", [], |r| r.get(0))
        .unwrap();
    let mut q = c.prepare("SELECT id FROM outbox").unwrap();
    let pending = q.query_map([], |r| r.get(0)).unwrap().map(|r| r.unwrap()).collect();
    let meta = |k: &str| {
        c.query_row("SELECT COALESCE(MAX(value), 0) FROM outbox_meta WHERE key = ?1", [k], |r| r.get(0)).unwrap()
    };
    OutboxFile { last_id, pending, dropped: meta("dropped_telemetry"), epoch: meta("epoch") }
}

/// The messages with a dedup id, first occurrence of each, in arrival order. Checks that a
/// repeated dedup id repeats the same message (only `replay` may differ).
pub fn first_occurrences(got: &[Received]) -> Vec<(i64, serde_json::Value)> {
    let mut seen: std::collections::HashMap<String, serde_json::Value> = std::collections::HashMap::new();
    let mut out = Vec::new();
    for r in got {
        let mut v = r.json();
        let Some(id) = v["dedup_id"].as_str().map(String::from) else { continue };
        let seq = v["seq"].as_i64().unwrap();
        let replay = v["replay"].clone();
        v.as_object_mut().unwrap().remove("replay");
        match seen.get(&id) {
            Some(first) => assert_eq!(first, &v, "dedup id {id} reused for a different message"),
            None => {
                seen.insert(id, v.clone());
                v["replay"] = replay;
                out.push((seq, v));
            }
        }
    }
    out
}

/// Everything the outbox accepted arrived: the unique seqs received are exactly the ids
/// 1..=last_id minus those still queued, and within the live and the replayed messages
/// the order is the outbox order.
pub fn assert_complete_and_ordered(got: &[Received], outbox: &OutboxFile) {
    let firsts = first_occurrences(got);
    let received: std::collections::BTreeSet<i64> = firsts.iter().map(|(s, _)| *s).collect();
    let expected: std::collections::BTreeSet<i64> =
        (1..=outbox.last_id).filter(|i| !outbox.pending.contains(i)).collect();
    let missing: Vec<_> = expected.difference(&received).collect();
    let extra: Vec<_> = received.difference(&expected).collect();
    assert!(missing.is_empty() && extra.is_empty(), "missing {missing:?}, unexpected {extra:?}");
    for (_, v) in &firsts {
        assert!(v["dedup_id"].as_str().unwrap().starts_with(&format!("{}-", outbox.epoch)), "{v}");
    }
    for replay in [false, true] {
        let seqs: Vec<i64> = firsts.iter().filter(|(_, v)| v["replay"] == replay).map(|(s, _)| *s).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "replay={replay}: out of order: {seqs:?}");
    }
}

/// Publish each (topic, payload) at QoS 1, in order, and wait for every PUBACK.
pub fn publish_all(port: u16, client_id: &str, msgs: &[(String, Vec<u8>)]) {
    publish_with(port, client_id, msgs, false)
}

/// `publish_all` with the retain flag set on every message.
pub fn publish_retained(port: u16, client_id: &str, msgs: &[(String, Vec<u8>)]) {
    publish_with(port, client_id, msgs, true)
}

fn publish_with(port: u16, client_id: &str, msgs: &[(String, Vec<u8>)], retain: bool) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut o = rumqttc::MqttOptions::new(client_id, "127.0.0.1", port);
        // Large enough for the oversized-message test (tests/hostile_input.rs).
        o.set_keep_alive(Duration::from_secs(5)).set_inflight(1).set_max_packet_size(8 << 20, 8 << 20);
        let (client, mut el) = rumqttc::AsyncClient::new(o, msgs.len() + 10);
        for (t, p) in msgs {
            client.publish(t.clone(), rumqttc::QoS::AtLeastOnce, retain, p.clone()).await.unwrap();
        }
        let mut acked = 0;
        while acked < msgs.len() {
            let ev = tokio::time::timeout(Duration::from_secs(30), el.poll()).await.expect("PUBACKs within 30 s");
            if let rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_)) = ev.expect("publisher connection") {
                acked += 1;
            }
        }
        client.disconnect().await.unwrap();
        let _ = tokio::time::timeout(Duration::from_secs(2), el.poll()).await;
    });
}

/// Encode Sparkplug B payloads with the independent Python peer (tests/peers/sparkplug_peer.py).
pub fn sparkplug_encode(spec: serde_json::Value) -> std::collections::HashMap<String, Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let spec_file = dir.path().join("spec.json");
    std::fs::write(&spec_file, spec.to_string()).unwrap();
    let out = Command::new(super::repo().join(".venv/bin/python"))
        .arg(super::repo().join("tests/peers/sparkplug_peer.py"))
        .arg("encode")
        .arg(&spec_file)
        .arg(dir.path())
        .output()
        .expect("python in .venv (source scripts/setup.sh --tests)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    spec.as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let f = i["file"].as_str().unwrap().to_string();
            let bytes = std::fs::read(dir.path().join(&f)).unwrap();
            (f, bytes)
        })
        .collect()
}

/// Decode Sparkplug B payloads with the independent Python peer.
pub fn sparkplug_decode(payloads: &[Vec<u8>]) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(super::repo().join(".venv/bin/python"));
    cmd.arg(super::repo().join("tests/peers/sparkplug_peer.py")).arg("decode");
    for (i, p) in payloads.iter().enumerate() {
        let f = dir.path().join(format!("{i}.bin"));
        std::fs::write(&f, p).unwrap();
        cmd.arg(f);
    }
    let out = cmd.output().expect("python in .venv (source scripts/setup.sh --tests)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}
