//! MQTT publish throughput and store-and-forward costs against a local Mosquitto:
//!   1. messages/s at QoS 1 published directly with rumqttc (window of 500 unacknowledged);
//!   2. messages/s at QoS 1 through edgecite's outbox (commit, send, PUBACK, delete);
//!   3. a long outage: N messages queued with the broker down (RSS and outbox file size as
//!      the backlog grows), then the replay time once the broker is back.
//!
//! `cargo bench --bench mqtt` uses 100,000 messages per measurement and 300,000 for the
//! outage; under `cargo test` it runs a smoke of 2,000. Prints numbers; no thresholds.

use edgecite::config::Config;
use edgecite::sinks::mqtt::MqttSink;
use edgecite::store::outbox::{MessageClass, NewMessage};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const PAYLOAD: usize = 200;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()).unwrap_or(0)
}

fn mosquitto(dir: &std::path::Path, port: u16) -> Child {
    let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\nuser {}\nmax_inflight_messages 0\nmax_queued_messages 0\n", user.trim()),
    )
    .unwrap();
    let c = Command::new("mosquitto").arg("-c").arg(&conf).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(20));
    }
    c
}

fn stop(mut c: Child) {
    let _ = c.kill();
    let _ = c.wait();
}

async fn direct(port: u16, n: usize) -> f64 {
    let mut o = rumqttc::MqttOptions::new("bench-direct", "127.0.0.1", port);
    o.set_inflight(500).set_keep_alive(Duration::from_secs(30));
    let (client, mut el) = rumqttc::AsyncClient::new(o, 1000);
    let mut net = rumqttc::NetworkOptions::new();
    net.set_tcp_nodelay(true);
    el.set_network_options(net);
    let payload = vec![b'x'; PAYLOAD];
    let start = Instant::now();
    let producer = tokio::spawn(async move {
        for _ in 0..n {
            client.publish("bench/direct", rumqttc::QoS::AtLeastOnce, false, payload.clone()).await.unwrap();
        }
        client
    });
    let mut acked = 0;
    while acked < n {
        if let rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_)) = el.poll().await.unwrap() {
            acked += 1;
        }
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    let _ = producer.await;
    rate
}

fn sink(
    dir: &std::path::Path,
    port: u16,
    name: &str,
) -> (MqttSink, tokio_util::sync::CancellationToken, tokio::task::JoinSet<()>) {
    let path = dir.join(format!("{name}.toml"));
    let text = format!(
        "[site]\nid = \"bench\"\ngateway = \"{name}\"\n[store]\npath = \"{name}/edgecite.db\"\n[mqtt]\nenabled = true\nport = {port}\n\
         reconnect_min_ms = 50\nreconnect_max_ms = 200\n[mqtt.outbox]\nquota_bytes = 4294967296\n"
    );
    let config = Config::parse(&path, &text).unwrap();
    let cancel = tokio_util::sync::CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();
    let s = MqttSink::start(&config, &mut tasks, cancel.clone()).unwrap().unwrap();
    (s, cancel, tasks)
}

/// Queue `n` telemetry messages in batches of 500 (one daemon loop turn's worth).
fn fill(s: &MqttSink, n: usize) {
    let payload = format!("{{\"pad\":\"{}\"}}", "x".repeat(PAYLOAD - 10)).into_bytes();
    let topic = s.topics().asset("A1", "telemetry");
    let mut left = n;
    while left > 0 {
        let k = left.min(500);
        let batch: Vec<NewMessage> = (0..k)
            .map(|_| NewMessage {
                class: MessageClass::Telemetry,
                topic: topic.clone(),
                payload: payload.clone(),
                retain: false,
                created_ms: 0,
            })
            .collect();
        tokio::task::block_in_place(|| s.enqueue(&batch, &[])).unwrap();
        left -= k;
    }
}

async fn wait_acked(s: &MqttSink, n: u64) {
    while s.status.acked.load(Ordering::Relaxed) < n {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn dir_bytes(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p).unwrap().flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum()
}

fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    let (n, outage) = if measuring { (100_000, 300_000) } else { (2_000, 4_000) };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let broker = mosquitto(dir.path(), port);

        let rate = direct(port, n).await;
        println!("mqtt direct QoS 1: {n} messages of {PAYLOAD} B, {rate:.0} msg/s");

        let (s, cancel, mut tasks) = sink(dir.path(), port, "through");
        while !s.status.connected.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let start = Instant::now();
        let producer = {
            let s2 = &s;
            async move { fill(s2, n) }
        };
        tokio::join!(producer, wait_acked(&s, n as u64));
        let rate = n as f64 / start.elapsed().as_secs_f64();
        println!("mqtt through the outbox QoS 1: {n} messages, {rate:.0} msg/s (committed, sent, PUBACKed, deleted)");
        cancel.cancel();
        while tasks.join_next().await.is_some() {}
        stop(broker);

        // The long outage: broker down while the backlog grows.
        let (s, cancel, mut tasks) = sink(dir.path(), port, "outage");
        let rss0 = rss_kib();
        let steps = 5;
        for i in 1..=steps {
            let t = Instant::now();
            fill(&s, outage / steps);
            let rate = (outage / steps) as f64 / t.elapsed().as_secs_f64();
            println!(
                "mqtt outage: {} queued ({rate:.0} msg/s committed in batches of 500), RSS {} KiB (+{} KiB), outbox files {} KiB",
                outage / steps * i,
                rss_kib(),
                rss_kib() as i64 - rss0 as i64,
                dir_bytes(&dir.path().join("outage")) / 1024
            );
        }
        let broker = mosquitto(dir.path(), port);
        let start = Instant::now();
        wait_acked(&s, outage as u64).await;
        let secs = start.elapsed().as_secs_f64();
        println!(
            "mqtt replay: {outage} buffered messages in {secs:.1} s ({:.0} msg/s, replay_per_s = 10000 default), RSS {} KiB",
            outage as f64 / secs,
            rss_kib()
        );
        cancel.cancel();
        while tasks.join_next().await.is_some() {}
        stop(broker);
    });
}
