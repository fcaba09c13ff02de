//! A fleet of gateways against a two-node RabbitMQ cluster (issue 19): several edgecite
//! daemons, each with its own simulator, site and gateway id and store, spread over the two
//! nodes (most on node b), publishing MQTT 3.1.1 to one consumer on node a. Node b is
//! SIGKILLed while data flows, stays down while its gateways buffer in their outboxes, and
//! comes back; the gateways reconnect with jittered back-off and every message each outbox
//! accepted reaches the consumer, once after dedup by `dedup_id`, in order per gateway.
//!
//! `Fleet` is the set-up (cluster, consumer, gateways) for every test in this file.

use crate::common::mosquitto::{assert_complete_and_ordered, first_occurrences, read_outbox, Received, Subscriber};
use crate::common::rabbitmq::{Cluster, Node};
use crate::common::{demo_config, Daemon, Ports};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

const LIMIT: Duration = Duration::from_secs(90);
/// The consumer's client id (persistent session, QoS 1, on node a).
const CONSUMER: &str = "fleet-consumer";
const LOG_FILTER: &str = "info,edgecite::sinks::mqtt::sender=debug";

/// One gateway of the fleet: an edgecite daemon with its own simulator, ids and store.
pub struct Gateway {
    pub site: String,
    pub gateway: String,
    /// The cluster node its `[mqtt]` points at.
    pub node: Node,
    pub dir: PathBuf,
    /// The gateway's config file and ports, for tests that change or address it.
    #[allow(dead_code)]
    pub config: PathBuf,
    #[allow(dead_code)]
    pub ports: Ports,
    pub daemon: Daemon,
}

impl Gateway {
    /// `edgecite/v1/{site}/{gateway}`, the prefix of all its topics.
    pub fn topic_base(&self) -> String {
        format!("edgecite/v1/{}/{}", self.site, self.gateway)
    }

    pub fn outbox_path(&self) -> PathBuf {
        self.dir.join("outbox.db")
    }

    /// What the consumer received from this gateway, in arrival order.
    pub fn received(&self, got: &[Received]) -> Vec<Received> {
        let base = format!("{}/", self.topic_base());
        got.iter().filter(|r| r.topic.starts_with(&base)).cloned().collect()
    }

    /// `GET /api/v1/outbox`: (connected, connects, messages queued, replayed).
    pub fn outbox_api(&self) -> Option<(bool, u64, u64, u64)> {
        let o = self.daemon.get("/api/v1/outbox").ok()?.1;
        Some((
            o["connected"].as_bool()?,
            o["connects"].as_u64()?,
            o["outbox"]["messages"].as_u64()?,
            o["replayed"].as_u64()?,
        ))
    }
}

/// The cluster, a consumer on node a subscribed to `edgecite/v1/#` before any gateway
/// starts, and the gateways. Dropped in that field order: gateways, consumer, cluster, files.
pub struct Fleet {
    pub gateways: Vec<Gateway>,
    pub consumer: Subscriber,
    pub cluster: Cluster,
    #[allow(dead_code)]
    dir: tempfile::TempDir,
}

/// The demo config with its own site and gateway id, polled and evaluated every 500 ms (a
/// backlog builds within seconds), publishing to `mqtt_port` with a short back-off that
/// still shows its jitter.
fn gateway_config(dir: &Path, ports: &Ports, site: &str, gateway: &str, mqtt_port: u16, extra: &str) -> PathBuf {
    let (site_line, gateway_line) = (format!("id = \"{site}\""), format!("gateway = \"{gateway}\""));
    let path = demo_config(
        dir,
        ports,
        &[
            ("id = \"demo-plant\"", &site_line),
            ("gateway = \"gw1\"", &gateway_line),
            ("interval_ms = 1000", "interval_ms = 500"),
        ],
    );
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&format!(
        "\n[mqtt]\nenabled = true\nport = {mqtt_port}\nprotocol = \"3.1.1\"\nreconnect_min_ms = 200\nreconnect_max_ms = 2000\n\
         telemetry_interval_ms = 500\nstate_interval_ms = 500\n{extra}\n"
    ));
    std::fs::write(&path, text).unwrap();
    path
}

impl Fleet {
    /// `n_a` gateways on node a (`gw-a1`...), `n_b` on node b (`gw-b1`...), each of site
    /// `plant-{same suffix}`, started in parallel.
    pub fn start(n_a: usize, n_b: usize) -> Fleet {
        Fleet::start_with(n_a, n_b, tempfile::tempdir().unwrap(), &|_, _| String::new())
    }

    /// `start` in `dir`, each gateway's config text passed through `edit(gateway dir, text)`
    /// (empty: unchanged), which may also prepare files in the gateway's directory.
    pub fn start_with(
        n_a: usize,
        n_b: usize,
        dir: tempfile::TempDir,
        edit: &(dyn Fn(&Path, &str) -> String + Sync),
    ) -> Fleet {
        let cluster = Cluster::start(dir.path());
        let consumer = Subscriber::start(cluster.mqtt_port(Node::A), CONSUMER, "edgecite/v1/#");
        let plan: Vec<(Node, usize)> = (1..=n_a).map(|k| (Node::A, k)).chain((1..=n_b).map(|k| (Node::B, k))).collect();
        let t = Instant::now();
        let gateways = std::thread::scope(|s| {
            let handles: Vec<_> = plan
                .iter()
                .map(|&(node, k)| {
                    let (root, port) = (dir.path().to_path_buf(), cluster.mqtt_port(node));
                    s.spawn(move || {
                        let (site, gateway) =
                            (format!("plant-{}{k}", node.letter()), format!("gw-{}{k}", node.letter()));
                        let gdir = root.join(&gateway);
                        std::fs::create_dir_all(&gdir).unwrap();
                        let ports = Ports::new();
                        let config = gateway_config(&gdir, &ports, &site, &gateway, port, "");
                        let text = std::fs::read_to_string(&config).unwrap();
                        let more = edit(&gdir, &text);
                        if !more.is_empty() {
                            std::fs::write(&config, more).unwrap();
                        }
                        // The sender's debug lines log every failed attempt's retry delay.
                        let daemon = Daemon::start(&config, ports.api, &[("EDGECITE_LOG", Some(LOG_FILTER))]);
                        Gateway { site, gateway, node, dir: gdir, config, ports, daemon }
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect::<Vec<_>>()
        });
        let names: Vec<String> =
            gateways.iter().map(|g| format!("{} on {}", g.gateway, cluster.node_name(g.node))).collect();
        eprintln!("fleet: {} started in {} ms", names.join(", "), t.elapsed().as_millis());
        Fleet { gateways, consumer, cluster, dir }
    }

    #[allow(dead_code)]
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn on(&self, node: Node) -> impl Iterator<Item = &Gateway> {
        self.gateways.iter().filter(move |g| g.node == node)
    }

    /// What a failed wait shows: the end of every gateway's log and both nodes' logs.
    pub fn context(&self) -> String {
        let mut out = String::new();
        for g in &self.gateways {
            let log = g.daemon.log_text();
            let lines: Vec<&str> = log.lines().collect();
            out.push_str(&format!(
                "--- {} log (last lines)\n{}\n",
                g.gateway,
                lines[lines.len().saturating_sub(15)..].join("\n")
            ));
        }
        out + &self.cluster.logs()
    }

    /// Wait until `f` holds for what the consumer received from every gateway.
    pub fn wait_for_each(&self, what: &str, f: impl Fn(&[Received]) -> bool) {
        self.consumer.wait_for(what, LIMIT, || self.context(), |got| self.gateways.iter().all(|g| f(&g.received(got))));
    }
}

fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// `1433` as `1,433`.
fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// The gateway's first `online: true` status stamped after `since_ms`: its `ts_ms`, the
/// gateway's clock when the broker accepted the session (same machine as the test).
fn online_after(msgs: &[Received], status_topic: &str, since_ms: i64) -> Option<i64> {
    msgs.iter()
        .filter(|r| r.topic == status_topic)
        .map(|r| r.json())
        .filter(|v| v["online"] == true)
        .filter_map(|v| v["ts_ms"].as_i64())
        .find(|ts| *ts > since_ms)
}

/// The back-off delays of the failed connection attempts in a daemon's log (`retry_ms=`
/// of "MQTT broker unreachable" and the debug "MQTT connect failed" lines), in order.
fn retry_delays(log: &str) -> Vec<u64> {
    log.lines()
        .filter(|l| l.contains("MQTT broker unreachable") || l.contains("MQTT connect failed"))
        .filter_map(|l| l.split("retry_ms=").nth(1)?.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
        .collect()
}

fn is_finding(r: &Received) -> bool {
    r.topic.ends_with("/finding")
}

#[test]
fn several_gateways_through_a_two_node_cluster_lose_nothing_when_a_node_is_killed_and_come_back_with_jittered_reconnects(
) {
    let started = Instant::now();
    let mut fleet = Fleet::start(1, 3);

    // Data flows from every gateway, through both nodes, to the consumer on node a.
    fleet.wait_for_each("6 messages from every gateway", |got| first_occurrences(got).len() >= 6);
    let connects_before: Vec<u64> = fleet.gateways.iter().map(|g| g.outbox_api().unwrap().1).collect();

    // Node b goes away; its gateways buffer, findings included: it stays down until each
    // of its gateways has opened a finding (the demo's transformer fault), whose message
    // can then only be in the outbox.
    let open_findings = |g: &Gateway| g.daemon.json("/api/v1/findings?state=open").as_array().map_or(0, Vec::len);
    assert!(
        fleet.on(Node::B).all(|g| open_findings(g) == 0),
        "a finding opened before node b was killed; the test wants it buffered in the outage"
    );
    fleet.cluster.kill(Node::B);
    let killed = SystemTime::now();
    for g in fleet.on(Node::B) {
        g.daemon.wait_until("a backlog of 10 messages and an open finding while node b is down", LIMIT, || {
            let (up, _, queued, _) = g.outbox_api()?;
            (!up && queued >= 10 && open_findings(g) > 0).then_some(())
        });
    }
    let down_for = Duration::from_secs(3).saturating_sub(killed.elapsed().unwrap());
    std::thread::sleep(down_for);
    let backlog: Vec<(String, u64)> =
        fleet.on(Node::B).map(|g| (g.gateway.clone(), g.outbox_api().unwrap().2)).collect();
    eprintln!(
        "node b killed {} ms ago, restarting it; outbox backlogs {backlog:?}",
        killed.elapsed().unwrap().as_millis()
    );
    let up = unix_ms(fleet.cluster.restart(Node::B));

    // Every gateway of node b reconnects, each after its own jittered delay.
    let killed_ms = unix_ms(killed);
    let on_b: Vec<(String, String)> =
        fleet.on(Node::B).map(|g| (g.gateway.clone(), format!("{}/_gateway/status", g.topic_base()))).collect();
    fleet.consumer.wait_for(
        "the online status of every gateway of node b after its restart",
        LIMIT,
        || fleet.context(),
        |got| on_b.iter().all(|(_, topic)| online_after(got, topic, killed_ms).is_some()),
    );
    let got = fleet.consumer.snapshot();
    let after: Vec<(String, i64)> =
        on_b.iter().map(|(gw, topic)| (gw.clone(), online_after(&got, topic, killed_ms).unwrap() - up)).collect();
    let (min, max) = (after.iter().map(|(_, ms)| *ms).min().unwrap(), after.iter().map(|(_, ms)| *ms).max().unwrap());
    let each: Vec<String> = after.iter().map(|(gw, ms)| format!("{gw} {} ms", thousands(*ms))).collect();
    eprintln!("reconnect after node restart: {}, spread {} ms", each.join(", "), thousands(max - min));
    assert!(max - min > 5, "every gateway reconnected at the same moment (no jitter): {after:?}");
    // The spread alone is weak evidence (without jitter it is still a few ms of scheduling
    // noise): the delays each gateway drew during the outage differ between gateways,
    // where back-off without jitter gives every gateway the same sequence.
    let delays: Vec<(String, Vec<u64>)> =
        fleet.on(Node::B).map(|g| (g.gateway.clone(), retry_delays(&g.daemon.log_text()))).collect();
    eprintln!("retry delays during the outage (ms): {delays:?}");
    let common = delays.iter().map(|(_, d)| d.len()).min().unwrap();
    assert!(common >= 3, "fewer than 3 failed attempts logged by a gateway of node b: {delays:?}");
    let prefixes: Vec<&[u64]> = delays.iter().map(|(_, d)| &d[..common]).collect();
    assert!(prefixes.windows(2).any(|w| w[0] != w[1]), "every gateway drew the same back-off delays: {delays:?}");

    // Node a's gateways kept their session; node b's started a new one.
    for (g, before) in fleet.gateways.iter().zip(&connects_before) {
        let (_, connects, _, _) = g.outbox_api().unwrap();
        match g.node {
            Node::A => assert_eq!(connects, *before, "{} on node a lost its session", g.gateway),
            Node::B => assert!(connects > *before, "{}: {connects} connects, {before} before the kill", g.gateway),
        }
    }

    // Findings reach the consumer from every gateway (the demo's transformer fault).
    fleet.wait_for_each("an opened finding from every gateway", |got| {
        got.iter().any(|r| is_finding(r) && r.json()["event"] == "opened")
    });

    // Stop the fleet; what each outbox accepted, and did not keep, arrived exactly once
    // after dedup, in order.
    for g in &mut fleet.gateways {
        assert!(g.daemon.terminate(), "{} did not stop cleanly:\n{}", g.gateway, g.daemon.log_text());
    }
    let mut report = Vec::new();
    for g in &fleet.gateways {
        let outbox = read_outbox(&g.outbox_path());
        assert_eq!(outbox.dropped, 0, "{}: telemetry dropped by the quota", g.gateway);
        let expected = outbox.last_id as usize - outbox.pending.len();
        fleet.consumer.wait_for(
            &format!("the {expected} messages {} sent", g.gateway),
            LIMIT,
            || fleet.context(),
            |got| first_occurrences(&g.received(got)).len() >= expected,
        );
        let mine = g.received(&fleet.consumer.snapshot());
        eprintln!("fleet: checking the {expected} messages of {} (outbox epoch {})", g.gateway, outbox.epoch);
        assert_complete_and_ordered(&mine, &outbox);
        let firsts = first_occurrences(&mine);
        assert_eq!(firsts.len(), expected, "{}: messages after dedup by dedup_id", g.gateway);
        let with_id = mine.iter().filter(|r| r.json()["dedup_id"].is_string()).count();
        let findings = firsts.iter().filter(|(_, v)| v["schema"] == "edgecite/v1/finding").count();
        let replayed = firsts.iter().filter(|(_, v)| v["replay"] == true).count();
        assert!(findings > 0, "{}: no finding among {expected} messages", g.gateway);
        let findings_replayed =
            firsts.iter().filter(|(_, v)| v["schema"] == "edgecite/v1/finding" && v["replay"] == true).count();
        if g.node == Node::B {
            assert!(replayed >= 10, "{}: only {replayed} messages replayed after the outage", g.gateway);
            assert!(findings_replayed > 0, "{}: no finding queued in the outage was replayed", g.gateway);
        }
        report.push(format!(
            "{}: {expected} messages ({findings} findings, {findings_replayed} of them replayed; {replayed} replayed in all; {} duplicates dropped)",
            g.gateway,
            with_id - expected
        ));
    }
    eprintln!("fleet: {}; test took {} s", report.join("; "), started.elapsed().as_secs());
}

/// A pack directory copied with another version in its `pack.toml`.
fn pack_version(from: &Path, to: &Path, version: &str) {
    crate::common::copy_dir(from, to);
    let text = std::fs::read_to_string(to.join("pack.toml")).unwrap();
    let old = text.lines().find(|l| l.starts_with("version = ")).expect("pack.toml has a version").to_string();
    std::fs::write(to.join("pack.toml"), text.replacen(&old, &format!("version = \"{version}\""), 1)).unwrap();
}

fn outcome<'a>(got: &'a [Received], deploy: &str, state: &str) -> Option<&'a Received> {
    got.iter().find(|r| {
        r.topic.ends_with("/_gateway/deploy") && {
            let v = r.json();
            v["deploy_id"].as_str().is_some_and(|d| d.starts_with(deploy)) && v["state"] == state
        }
    })
}

#[test]
fn a_signed_pack_reaches_every_gateway_through_the_cluster_a_tampered_one_is_refused_by_all_and_a_failing_model_is_rolled_back_on_all(
) {
    use crate::fleet_deploy::{signed_request, trusted_key};
    let dir = tempfile::tempdir().unwrap();
    let (key, trust) = trusted_key(dir.path());
    let repo = crate::common::repo();
    // Each gateway loads its packs from its own directory (a copy of the shipped ones) and
    // its models from its own, where deploys go.
    let edit = |gdir: &Path, text: &str| {
        for p in ["transformer-dga", "rotating", "thermography", "motor-supply", "battery"] {
            crate::common::copy_dir(&repo.join("configs/packs").join(p), &gdir.join("packs").join(p));
        }
        crate::common::copy_dir(&repo.join("models/pump_anomaly"), &gdir.join("models/pump_anomaly"));
        let repo_models = format!("{:?}", repo.join("models").display().to_string());
        assert!(text.contains(&repo_models), "the demo config names the models directory");
        format!(
            "{}\n[packs]\nbuiltin = false\ndirs = [\"packs\"]\n\n[fleet]\naccept_deploys = true\ntrust_dir = {:?}\n\
             health_evaluations = 3\nhealth_timeout_s = 60\n",
            text.replace(&repo_models, &format!("{:?}", gdir.join("models").display().to_string())),
            trust.display().to_string()
        )
    };
    let fleet = Fleet::start_with(1, 2, dir, &edit);
    fleet.wait_for_each("the gateway info of every gateway", |got| {
        got.iter().any(|r| r.topic.ends_with("/_gateway/info"))
    });
    let replies = Subscriber::start(fleet.cluster.mqtt_port(Node::B), "fleet-replies", "fleet/replies/#");
    let tool = fleet.cluster.mqtt_port(Node::A);
    let to_all = |req: &serde_json::Value| -> Vec<(String, Vec<u8>)> {
        let bytes = serde_json::to_vec(req).unwrap();
        fleet.gateways.iter().map(|g| (format!("{}/_gateway/cmd/deploy", g.topic_base()), bytes.clone())).collect()
    };
    let root = fleet.dir().to_path_buf();

    // 1. A signed pack, sent once per gateway through node a: every gateway takes it into use.
    let version = "2026.12.7-fleet";
    let src = root.join("src/transformer-dga");
    pack_version(&repo.join("configs/packs/transformer-dga"), &src, version);
    let extra = ["--response-topic", "fleet/replies/dga", "--correlation", "dga-1"];
    let req = signed_request("pack", "transformer-dga", version, &src, &key, &root.join("b/dga"), &extra);
    crate::common::mosquitto::publish_all(tool, "fleet-tool-1", &to_all(&req));
    let id = format!("pack/transformer-dga@{version}/");
    fleet.wait_for_each("the pack applied on every gateway", |got| outcome(got, &id, "applied").is_some());
    fleet.wait_for_each("gateway info naming the new pack version", |got| {
        got.iter().any(|r| {
            r.topic.ends_with("/_gateway/info")
                && r.json()["packs"]
                    .as_array()
                    .is_some_and(|p| p.iter().any(|p| p["id"] == "transformer-dga" && p["version"] == version))
        })
    });
    // MQTT 3.1.1: the reply went to the request's response topic with its correlation.
    replies.wait_for("a reply from every gateway", LIMIT, || fleet.context(), |got| got.len() >= fleet.gateways.len());
    for r in replies.snapshot() {
        let v = r.json();
        assert_eq!((v["state"].as_str(), v["reply"]["correlation"].as_str()), (Some("applied"), Some("dga-1")), "{v}");
    }

    // 2. The next version with its archive changed in transit: refused by every gateway.
    let src2 = root.join("src/transformer-dga-2");
    pack_version(&repo.join("configs/packs/transformer-dga"), &src2, "2026.12.8-fleet");
    let mut tampered =
        signed_request("pack", "transformer-dga", "2026.12.8-fleet", &src2, &key, &root.join("b/dga-2"), &[]);
    let chunk = tampered["chunks"][0].as_str().unwrap().to_string();
    let mut bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &chunk).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 0x20;
    tampered["chunks"][0] = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &bytes).into();
    crate::common::mosquitto::publish_all(tool, "fleet-tool-2", &to_all(&tampered));
    fleet.wait_for_each("the tampered pack refused by every gateway", |got| {
        outcome(got, "pack/transformer-dga@2026.12.8-fleet/", "refused")
            .is_some_and(|r| r.json()["detail"].as_str().unwrap().contains("SHA-256"))
    });

    // 3. A model that fails its health check (NaN scores): rolled back on every gateway.
    let nan = repo.join("tests/fixtures/models/nan_score");
    let req = signed_request("model", "nan_score", "2.0.0", &nan, &key, &root.join("b/nan"), &[]);
    crate::common::mosquitto::publish_all(tool, "fleet-tool-3", &to_all(&req));
    fleet.wait_for_each("the failing model rolled back on every gateway", |got| {
        outcome(got, "model/nan_score@2.0.0/", "rolled_back").is_some()
    });

    for g in &fleet.gateways {
        let pack = std::fs::read_to_string(g.dir.join("packs/transformer-dga/pack.toml")).unwrap();
        assert!(pack.contains(&format!("version = \"{version}\"")), "{}: the signed pack stays installed", g.gateway);
        assert!(!g.dir.join("models/nan_score").exists(), "{}: the failed model is gone", g.gateway);
        let audit = g.daemon.json("/api/v1/admin/audit?limit=100");
        let mut statuses: Vec<i64> = audit
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["action"] == "DEPLOY")
            .map(|r| r["status"].as_i64().unwrap())
            .collect();
        statuses.sort();
        assert_eq!(statuses, vec![200, 400, 409], "{}: {audit}", g.gateway);
        eprintln!("fleet deploy: {} applied the pack, refused the tampered one, rolled the model back", g.gateway);
    }
}
