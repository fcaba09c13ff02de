//! Signed deploys over MQTT (issue 19) against a real Mosquitto, with MQTT 5 request and
//! response: bundles built and signed with `edgecite bundle`, a model deployed and taken
//! into use without a restart of the process, a tampered and an untrusted bundle refused
//! with nothing changed, a model that fails its health check rolled back, every deploy in
//! the audit log.

use crate::common::mosquitto::{validate_with_jsonschema, Broker, Subscriber};
use crate::common::{self, Daemon, Ports};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub fn edgecite(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_edgecite")).args(args).output().unwrap();
    assert!(out.status.success(), "edgecite {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A signing key at `dir/key`, its public key trusted in `dir/trust`.
pub fn trusted_key(dir: &Path) -> (PathBuf, PathBuf) {
    let (key, trust) = (dir.join("key"), dir.join("trust"));
    edgecite(&["bundle", "keygen", "--out", key.to_str().unwrap()]);
    std::fs::create_dir_all(&trust).unwrap();
    std::fs::copy(dir.join("key.pub"), trust.join("ops.pub")).unwrap();
    (key, trust)
}

/// Build and sign a bundle; the deploy request (JSON) for it.
pub fn signed_request(
    kind: &str,
    name: &str,
    version: &str,
    source: &Path,
    key: &Path,
    out: &Path,
    extra: &[&str],
) -> serde_json::Value {
    let prefix = out.to_str().unwrap();
    edgecite(&[
        "bundle",
        "build",
        "--kind",
        kind,
        "--name",
        name,
        "--version",
        version,
        source.to_str().unwrap(),
        "--out",
        prefix,
    ]);
    let manifest = format!("{prefix}.json");
    edgecite(&["bundle", "sign", "--key", key.to_str().unwrap(), &manifest]);
    let mut args = vec!["bundle", "request", manifest.as_str()];
    args.extend(extra);
    serde_json::from_str(&edgecite(&args)).unwrap()
}

/// A copy of a model directory with another version in its manifest.
pub fn model_version(from: &Path, to: &Path, version: &str) {
    common::copy_dir(from, to);
    let m = std::fs::read_to_string(to.join("manifest.toml")).unwrap();
    let old = m.lines().find(|l| l.starts_with("version = ")).unwrap().to_string();
    std::fs::write(to.join("manifest.toml"), m.replace(&old, &format!("version = \"{version}\""))).unwrap();
}

/// One MQTT 5 request: publish `payload` on `topic` with a response topic and correlation
/// data, wait for the reply; (reply payload, its correlation data).
fn request_v5(
    port: u16,
    topic: &str,
    payload: &serde_json::Value,
    correlation: &[u8],
    limit: Duration,
) -> (serde_json::Value, Option<Vec<u8>>) {
    use rumqttc::v5::mqttbytes::v5::{Packet, PublishProperties};
    use rumqttc::v5::{mqttbytes::QoS, AsyncClient, Event, MqttOptions};
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let reply_topic = format!("fleet-tool/replies/{}", hex::encode(correlation));
        let mut o = MqttOptions::new(format!("fleet-tool-{}", hex::encode(correlation)), "127.0.0.1", port);
        o.set_max_packet_size(Some(1 << 24));
        let (client, mut el) = AsyncClient::new(o, 10);
        client.subscribe(&reply_topic, QoS::AtLeastOnce).await.unwrap();
        let start = Instant::now();
        let mut sent = false;
        loop {
            assert!(start.elapsed() < limit, "no reply on {reply_topic} within {limit:?}");
            match tokio::time::timeout(Duration::from_millis(500), el.poll()).await {
                Ok(Ok(Event::Incoming(Packet::SubAck(_)))) if !sent => {
                    let props = PublishProperties {
                        response_topic: Some(reply_topic.clone()),
                        correlation_data: Some(correlation.to_vec().into()),
                        ..Default::default()
                    };
                    client
                        .publish_with_properties(
                            topic,
                            QoS::AtLeastOnce,
                            false,
                            serde_json::to_vec(payload).unwrap(),
                            props,
                        )
                        .await
                        .unwrap();
                    sent = true;
                }
                Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                    let c = p.properties.as_ref().and_then(|x| x.correlation_data.clone()).map(|c| c.to_vec());
                    return (serde_json::from_slice(&p.payload).unwrap(), c);
                }
                Ok(Err(e)) => panic!("fleet tool's MQTT connection: {e}"),
                _ => {}
            }
        }
    })
}

#[test]
fn signed_bundles_are_deployed_tampered_ones_refused_and_a_failing_model_rolled_back_all_audited() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path());
    let ports = Ports::new();
    let (key, trust) = trusted_key(dir.path());
    let models = dir.path().join("models");
    common::copy_dir(&common::repo().join("models/pump_anomaly"), &models.join("pump_anomaly"));
    let extra = format!(
        "protocol = \"5\"\n\n[fleet]\naccept_deploys = true\ntrust_dir = {:?}\nhealth_evaluations = 3\nhealth_timeout_s = 60\n",
        trust.display().to_string()
    );
    let config = crate::mqtt_publish::mqtt_config(dir.path(), &ports, broker.port, &extra);
    let text = std::fs::read_to_string(&config).unwrap();
    let repo_models = format!("{:?}", common::repo().join("models").display().to_string());
    std::fs::write(&config, text.replace(&repo_models, &format!("{:?}", models.display().to_string()))).unwrap();
    let out =
        Command::new(env!("CARGO_BIN_EXE_edgecite")).args(["check", "-c", config.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // systemd's notify socket: a deploy is a reload to systemd, not a stop.
    let sock_path = dir.path().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let notes = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let (n, done) = (notes.clone(), std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)));
    let d2 = done.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 1024];
        while !d2.load(std::sync::atomic::Ordering::Relaxed) {
            if let Ok(k) = sock.recv(&mut buf) {
                n.lock().unwrap().push(String::from_utf8_lossy(&buf[..k]).into_owned());
            }
        }
    });
    let daemon = Daemon::start(&config, ports.api, &[("NOTIFY_SOCKET", Some(sock_path.to_str().unwrap()))]);
    let pid = daemon.child.id();
    let topic = "edgecite/v1/demo-plant/gw1/_gateway/cmd/deploy";
    let installed = || {
        let m: toml::Value =
            toml::from_str(&std::fs::read_to_string(models.join("pump_anomaly/manifest.toml")).unwrap()).unwrap();
        m["version"].as_str().unwrap().to_string()
    };
    let before = installed();
    daemon.wait_until("the daemon running with MQTT", Duration::from_secs(60), || {
        daemon.log_text().contains("MQTT connected").then_some(())
    });

    // 1. A signed model bundle, a new version: in use without a new process, reply correlated.
    let v2 = dir.path().join("src/pump_anomaly");
    model_version(&models.join("pump_anomaly"), &v2, "9.1.0");
    let req = signed_request("model", "pump_anomaly", "9.1.0", &v2, &key, &dir.path().join("b/pump-9.1.0"), &[]);
    let mut replies = Vec::new();
    let (reply, correlation) = request_v5(broker.port, topic, &req, b"deploy-1", Duration::from_secs(120));
    replies.push(("deploy".to_string(), reply.clone()));
    assert_eq!(reply["state"], "applied", "{reply}\n{}", daemon.log_text());
    assert_eq!(correlation.as_deref(), Some(&b"deploy-1"[..]), "MQTT 5 correlation data echoed");
    assert_eq!(reply["previous_version"], before.as_str(), "{reply}");
    assert_eq!(reply["schema"], "edgecite/v1/deploy", "{reply}");
    assert!(reply["detail"].as_str().unwrap().contains("health check passed"), "{reply}");
    assert_eq!(installed(), "9.1.0");
    let status = daemon.json("/api/v1/models");
    assert!(status.to_string().contains("9.1.0"), "the running daemon uses the deployed model: {status}");
    assert_eq!(daemon.child.id(), pid);
    assert!(daemon.log_text().contains("edgecite stopped for a new assembly"), "{}", daemon.log_text());
    let seen = notes.lock().unwrap().clone();
    let reload = seen.iter().position(|m| m.contains("RELOADING=1") && m.contains("MONOTONIC_USEC="));
    assert!(
        reload.is_some_and(|i| seen[i..].iter().any(|m| m.contains("READY=1"))),
        "RELOADING=1 then READY=1: {seen:?}"
    );
    assert!(!seen.iter().any(|m| m.contains("STOPPING=1")), "a deploy is not a stop to systemd: {seen:?}");

    // 2. The same bundle with one byte of the archive changed: refused, nothing touched.
    let v3 = dir.path().join("src/pump_anomaly_v3");
    model_version(&models.join("pump_anomaly"), &v3, "9.2.0");
    let mut tampered =
        signed_request("model", "pump_anomaly", "9.2.0", &v3, &key, &dir.path().join("b/pump-9.2.0"), &[]);
    let chunk = tampered["chunks"][0].as_str().unwrap().to_string();
    let mut bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &chunk).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x55;
    tampered["chunks"][0] = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &bytes).into();
    let (reply, _) = request_v5(broker.port, topic, &tampered, b"deploy-2", Duration::from_secs(60));
    replies.push(("deploy".to_string(), reply.clone()));
    assert_eq!(reply["state"], "refused", "{reply}");
    assert!(reply["detail"].as_str().unwrap().contains("SHA-256"), "{reply}");
    assert_eq!(installed(), "9.1.0", "a refused bundle changes nothing");

    // 3. Signed by a key the gateway does not trust: refused.
    let stranger = dir.path().join("stranger");
    std::fs::create_dir_all(&stranger).unwrap();
    let other_key = stranger.join("key");
    edgecite(&["bundle", "keygen", "--out", other_key.to_str().unwrap()]);
    let untrusted =
        signed_request("model", "pump_anomaly", "9.2.0", &v3, &other_key, &dir.path().join("b/pump-9.2.0-x"), &[]);
    let (reply, _) = request_v5(broker.port, topic, &untrusted, b"deploy-3", Duration::from_secs(60));
    replies.push(("deploy".to_string(), reply.clone()));
    assert_eq!(reply["state"], "refused", "{reply}");
    assert!(reply["detail"].as_str().unwrap().contains("no signature verifies"), "{reply}");
    assert_eq!(installed(), "9.1.0");

    // 4. A model that loads and passes `edgecite check` but scores NaN: rolled back by the
    //    health check (nothing was there, so it is removed again).
    let nan = common::repo().join("tests/fixtures/models/nan_score");
    let req = signed_request("model", "nan_score", "2.0.0", &nan, &key, &dir.path().join("b/nan"), &[]);
    let (reply, _) = request_v5(broker.port, topic, &req, b"deploy-4", Duration::from_secs(120));
    replies.push(("deploy".to_string(), reply.clone()));
    assert_eq!(reply["state"], "rolled_back", "{reply}\n{}", daemon.log_text());
    assert!(reply["detail"].as_str().unwrap().contains("non-finite"), "{reply}");
    assert!(!models.join("nan_score").exists(), "the failed model is gone");
    daemon.wait_until("the daemon back without the failed model", Duration::from_secs(60), || {
        let m = daemon.json("/api/v1/models").to_string();
        (!m.contains("nan_score") && m.contains("9.1.0")).then_some(())
    });
    assert_eq!(daemon.child.id(), pid);
    // The retained gateway info says what went wrong last, and since when the process runs.
    let info = Subscriber::start(broker.port, "fleet-info", "edgecite/v1/demo-plant/gw1/_gateway/info");
    info.wait_for(
        "gateway info naming the rollback as the last error",
        Duration::from_secs(60),
        || daemon.log_text(),
        |got| {
            got.iter()
                .any(|r| r.json()["last_error"]["message"].as_str().is_some_and(|m| m.contains("deploy rolled back")))
        },
    );
    let last = info.snapshot().last().unwrap().json();
    assert_eq!(last["last_error"]["target"], "edgecite::fleet::deploy", "{last}");
    assert!(last["uptime_s"].as_i64().unwrap() >= 5, "uptime counts from the process's start: {last}");
    replies.push(("info".to_string(), last.clone()));

    // 5. A config: a new site name, in use after the new assembly; one that would shut the
    //    fleet out is refused.
    let text = std::fs::read_to_string(&config).unwrap();
    let renamed = dir.path().join("src/renamed.toml");
    let demo_name = "name = \"Demo plant (simulated)\"";
    assert!(text.contains(demo_name), "the demo config names its site");
    std::fs::write(&renamed, text.replace(demo_name, "name = \"Renamed by the fleet\"")).unwrap();
    let req = signed_request("config", "site-config", "2", &renamed, &key, &dir.path().join("b/config-2"), &[]);
    let (reply, _) = request_v5(broker.port, topic, &req, b"deploy-5", Duration::from_secs(120));
    replies.push(("deploy".to_string(), reply.clone()));
    assert_eq!(reply["state"], "applied", "{reply}\n{}", daemon.log_text());
    assert_eq!(daemon.json("/healthz")["site"]["name"], "Renamed by the fleet");
    assert_eq!(std::fs::read(&config).unwrap(), std::fs::read(&renamed).unwrap());
    let locked_out = dir.path().join("src/locked.toml");
    std::fs::write(
        &locked_out,
        std::fs::read_to_string(&renamed).unwrap().replace("accept_deploys = true", "accept_deploys = false"),
    )
    .unwrap();
    let req = signed_request("config", "site-config", "3", &locked_out, &key, &dir.path().join("b/config-3"), &[]);
    let (reply, _) = request_v5(broker.port, topic, &req, b"deploy-6", Duration::from_secs(60));
    replies.push(("deploy".to_string(), reply.clone()));
    assert_eq!(reply["state"], "refused", "{reply}");
    assert!(reply["detail"].as_str().unwrap().contains("accept_deploys"), "{reply}");
    assert_eq!(std::fs::read(&config).unwrap(), std::fs::read(&renamed).unwrap(), "a refused config changes nothing");
    assert_eq!(daemon.child.id(), pid);

    validate_with_jsonschema(&replies);

    // Every deploy is in the audit log.
    let audit = daemon.json("/api/v1/admin/audit?limit=100");
    let rows: Vec<(i64, String)> = audit
        .as_array()
        .or_else(|| audit["entries"].as_array())
        .unwrap_or_else(|| panic!("audit: {audit}"))
        .iter()
        .filter(|r| r["action"] == "DEPLOY")
        .map(|r| (r["status"].as_i64().unwrap(), r["target"].as_str().unwrap().to_string()))
        .collect();
    let mut statuses: Vec<i64> = rows.iter().map(|r| r.0).collect();
    statuses.sort();
    assert_eq!(statuses, vec![200, 200, 400, 400, 400, 409], "{rows:?}");
    assert!(rows.iter().any(|r| r.1 == "model pump_anomaly@9.1.0"), "{rows:?}");
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    reader.join().unwrap();
}
