//! Sparkplug B edge node against a real Mosquitto, every payload decoded by an independent
//! decoder (Python protobuf, Eclipse Tahu's proto/sparkplug_b.proto compiled by grpcio-tools):
//! births with values, units, qualities, finding states and scores; DDATA by alias without
//! datatypes; seq per session; rebirth on NCMD; NDEATH as the QoS 1 will with an Int64
//! bdSeq; bdSeq continuity (one step per accepted CONNECT, not per attempt) and stable
//! aliases across a restart and an outage; is_historical on data replayed after an outage;
//! DDEATH when a Modbus device dies and DBIRTH when it returns; what the node runs as
//! `Node Info/` metrics of the NBIRTH, and a rebirth when a reload changes it.

use crate::common::mosquitto::{
    publish_all, publish_retained, sparkplug_decode, sparkplug_encode, Broker, Received, Subscriber,
};
use crate::common::{demo_config, Daemon, Ports};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

fn config(dir: &Path, ports: &Ports, broker: u16) -> PathBuf {
    config_with(dir, ports, broker, &[], "")
}

/// The demo config with `replacements`, MQTT on `broker` and the Sparkplug node on, plus
/// `sparkplug_extra` lines in `[mqtt.sparkplug]`.
fn config_with(
    dir: &Path,
    ports: &Ports,
    broker: u16,
    replacements: &[(&str, &str)],
    sparkplug_extra: &str,
) -> PathBuf {
    let path = demo_config(dir, ports, replacements);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&format!(
        "\n[mqtt]\nenabled = true\nport = {broker}\nreconnect_min_ms = 100\nreconnect_max_ms = 500\n[mqtt.sparkplug]\nenabled = true\ngroup_id = \"Plant\"\n{sparkplug_extra}\n"
    ));
    std::fs::write(&path, text).unwrap();
    path
}

/// (topic, decoded payload) of every Sparkplug message so far, in arrival order.
fn decoded(got: &[Received]) -> Vec<(String, Value)> {
    let sp: Vec<&Received> = got.iter().filter(|r| r.topic.starts_with("spBv1.0/")).collect();
    let payloads: Vec<Vec<u8>> = sp.iter().map(|r| r.payload.clone()).collect();
    sp.iter().map(|r| r.topic.clone()).zip(sparkplug_decode(&payloads)).collect()
}

fn num(v: &Value) -> u64 {
    v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())).unwrap_or_else(|| panic!("not a number: {v}"))
}

fn count(got: &[Received], kind: &str) -> usize {
    got.iter().filter(|r| r.topic.split('/').nth(2) == Some(kind)).count()
}

fn bdseq(p: &Value) -> u64 {
    let m = p["metrics"].as_array().unwrap().iter().find(|m| m["name"] == "bdSeq").unwrap();
    assert_eq!(m["datatype"], 4, "bdSeq must be an Int64 (spec, TCK): {m}");
    num(&m["long_value"])
}

/// A property of a metric as the decoder printed it: (type, value field).
fn property<'a>(m: &'a Value, key: &str) -> Option<&'a Value> {
    let keys = m["properties"]["keys"].as_array()?;
    let i = keys.iter().position(|k| k == key)?;
    m["properties"]["values"].get(i)
}

fn metric<'a>(p: &'a Value, name: &str) -> &'a Value {
    p["metrics"].as_array().unwrap().iter().find(|m| m["name"] == name).unwrap_or_else(|| panic!("no {name} in {p}"))
}

/// name -> alias of a birth.
fn aliases(p: &Value) -> BTreeMap<String, u64> {
    p["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["name"].as_str().unwrap().to_string(), num(&m["alias"])))
        .collect()
}

fn births<'a>(d: &'a [(String, Value)], topic: &str) -> Vec<&'a Value> {
    d.iter().filter(|(t, _)| t == topic).map(|(_, p)| p).collect()
}

#[test]
fn sparkplug_session_births_data_rebirth_restart_and_history() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::start(dir.path());
    let sub = Subscriber::start(broker.port, "test-spb", "spBv1.0/#");
    let ports = Ports::new();
    let cfg = config(dir.path(), &ports, broker.port);
    let mut daemon = Daemon::start(&cfg, ports.api, &[]);
    let (nbirth, t1_birth) = ("spBv1.0/Plant/NBIRTH/gw1", "spBv1.0/Plant/DBIRTH/gw1/T1");
    sub.wait_for(
        "NBIRTH, two DBIRTHs and DDATA",
        LIMIT,
        || daemon.log_text(),
        |got| count(got, "NBIRTH") == 1 && count(got, "DBIRTH") == 2 && count(got, "DDATA") >= 3,
    );

    let d = decoded(&sub.snapshot());
    let first = births(&d, nbirth)[0].clone();
    assert_eq!(num(&first["seq"]), 0, "{first}");
    let b0 = bdseq(&first);
    let t1 = births(&d, t1_birth)[0].clone();
    let t1_aliases = aliases(&t1);
    assert!(t1_aliases.contains_key("values/h2"), "{t1}");
    // Births carry datatypes and the PropertySet: engineering unit and quality.
    let h2 = metric(&t1, "values/h2");
    assert_eq!(h2["datatype"], 10, "{h2}");
    let unit = property(h2, "engUnit").unwrap_or_else(|| panic!("no engUnit: {h2}"));
    assert_eq!((&unit["type"], &unit["string_value"]), (&json!(12), &json!("ppm")), "{h2}");
    let q = property(h2, "Quality").unwrap_or_else(|| panic!("no Quality: {h2}"));
    assert_eq!((&q["type"], &q["int_value"]), (&json!(3), &json!(192)), "{h2}");
    assert!(t1_aliases.keys().any(|n| n.starts_with("criteria/") && n.ends_with("/status")), "{t1}");
    let p1 = births(&d, "spBv1.0/Plant/DBIRTH/gw1/P1")[0].clone();
    let p1_aliases = aliases(&p1);
    assert!(p1_aliases.keys().any(|n| n.starts_with("criteria/model.") && n.ends_with("/score")), "{p1}");
    // Births and data: QoS 0, not retained.
    for r in sub.snapshot() {
        assert!(r.qos == 0 && !r.retain, "{} at QoS {} retain {}", r.topic, r.qos, r.retain);
    }
    // seq counts every message of the session from the NBIRTH's 0.
    let seqs: Vec<u64> = d.iter().map(|(_, p)| num(&p["seq"])).collect();
    assert!(seqs.iter().enumerate().all(|(i, s)| *s == i as u64 % 256), "{seqs:?}");
    // DDATA carries aliases only, each born in its device's DBIRTH.
    for (t, p) in d.iter().filter(|(t, _)| t.contains("/DDATA/")) {
        let born: Vec<u64> = if t.ends_with("/T1") {
            t1_aliases.values().copied().collect()
        } else {
            p1_aliases.values().copied().collect()
        };
        for m in p["metrics"].as_array().unwrap() {
            assert!(m.get("name").is_none(), "{m}");
            assert!(m.get("datatype").is_none(), "datatypes belong in births only: {m}");
            assert!(born.contains(&num(&m["alias"])), "{t}: {m}");
        }
    }

    // Rebirth on NCMD (encoded by the Python peer).
    let cmd = sparkplug_encode(json!([{"file": "ncmd", "timestamp": 1, "metrics": [
        {"name": "Node Control/Rebirth", "datatype": 11, "value": true}]}]));
    publish_all(broker.port, "test-spb-host", &[("spBv1.0/Plant/NCMD/gw1".to_string(), cmd["ncmd"].clone())]);
    sub.wait_for(
        "a second NBIRTH",
        LIMIT,
        || daemon.log_text(),
        |got| count(got, "NBIRTH") == 2 && count(got, "DBIRTH") == 4,
    );
    let d = decoded(&sub.snapshot());
    let again = births(&d, nbirth)[1].clone();
    assert_eq!((num(&again["seq"]), bdseq(&again)), (0, b0), "{again}");
    assert_eq!(aliases(births(&d, t1_birth)[1]), t1_aliases);

    // SIGKILL: the will is the NDEATH with the session's bdSeq.
    daemon.child.kill().unwrap();
    daemon.child.wait().unwrap();
    sub.wait_for("NDEATH", LIMIT, || broker.log(), |got| count(got, "NDEATH") == 1);
    let d = decoded(&sub.snapshot());
    let death = &d.iter().find(|(t, _)| t.contains("/NDEATH/")).unwrap().1;
    assert_eq!(bdseq(death), b0, "{death}");
    let will = sub.snapshot().into_iter().find(|r| r.topic.contains("/NDEATH/")).unwrap();
    assert_eq!(will.qos, 1, "the NDEATH will must be QoS 1");

    // Restart: bdSeq moves on by one, aliases are the same.
    let mut daemon = Daemon::start(&cfg, ports.api, &[]);
    sub.wait_for(
        "NBIRTH after the restart",
        LIMIT,
        || daemon.log_text(),
        |got| count(got, "NBIRTH") == 3 && count(got, "DBIRTH") == 6,
    );
    let d = decoded(&sub.snapshot());
    let third = births(&d, nbirth)[2].clone();
    assert_eq!(bdseq(&third), (b0 + 1) % 256, "{third}");
    assert_eq!(aliases(births(&d, t1_birth)[2]), t1_aliases);

    // Outage: DDATA queued while the broker is away arrives after the births, historical.
    broker.stop();
    daemon.wait_until("Sparkplug data queued and connection attempts failing", LIMIT, || {
        let o = daemon.json("/api/v1/outbox");
        (o["sparkplug"]["connected"] == false
            && o["sparkplug"]["enqueued"].as_u64()? >= 3
            && o["sparkplug"]["connection_errors"].as_u64()? >= 3)
            .then_some(())
    });
    broker.restart();
    sub.wait_for(
        "historical DDATA",
        LIMIT,
        || daemon.log_text(),
        |got| {
            count(got, "NBIRTH") == 4
                && decoded(got).iter().any(|(t, p)| {
                    t.contains("/DDATA/") && p["metrics"].as_array().unwrap().iter().all(|m| m["is_historical"] == true)
                })
        },
    );
    // Several failed attempts during the outage, one accepted CONNECT after it: one step.
    let d = decoded(&sub.snapshot());
    let fourth = births(&d, nbirth)[3].clone();
    assert_eq!(bdseq(&fourth), (bdseq(&third) + 1) % 256, "{fourth}");
    // A clean stop publishes the NDEATH itself (no will on a clean disconnect), with the
    // bdSeq of the session it ends.
    let before = count(&sub.snapshot(), "NDEATH");
    assert!(daemon.terminate());
    sub.wait_for("NDEATH after SIGTERM", LIMIT, || broker.log(), |got| count(got, "NDEATH") > before);
    let d = decoded(&sub.snapshot());
    let last_birth = births(&d, nbirth).last().copied().unwrap().clone();
    let last_death = &d.iter().rev().find(|(t, _)| t.contains("/NDEATH/")).unwrap().1;
    assert_eq!(bdseq(last_death), bdseq(&last_birth), "{last_death} {last_birth}");
}

/// A StringArray metric's strings (Sparkplug 3.0: each ended by a NUL in `bytes_value`).
fn strings(m: &Value) -> Vec<String> {
    use base64::Engine;
    assert_eq!(m["datatype"], 33, "a StringArray: {m}");
    let b = base64::engine::general_purpose::STANDARD.decode(m["bytes_value"].as_str().unwrap_or("")).unwrap();
    assert!(b.is_empty() || b.ends_with(&[0]), "every string ends with a NUL: {m}");
    b.split(|c| *c == 0).filter(|s| !s.is_empty()).map(|s| String::from_utf8(s.to_vec()).unwrap()).collect()
}

/// A String metric's value.
fn string<'a>(p: &'a Value, name: &str) -> &'a str {
    let m = metric(p, name);
    assert_eq!(m["datatype"], 12, "a String: {m}");
    m["string_value"].as_str().unwrap_or_else(|| panic!("no string value: {m}"))
}

#[test]
fn sparkplug_nbirth_says_what_the_node_runs_and_a_reload_that_adds_a_model_is_a_rebirth() {
    use sha2::Digest;
    let sha = |b: &[u8]| hex::encode(sha2::Sha256::digest(b));
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path());
    let sub = Subscriber::start(broker.port, "test-spb-info", "spBv1.0/#");
    let ports = Ports::new();
    let models = dir.path().join("models");
    crate::common::copy_dir(&crate::common::repo().join("models/pump_anomaly"), &models.join("pump_anomaly"));
    let cfg = config(dir.path(), &ports, broker.port);
    let text = std::fs::read_to_string(&cfg).unwrap();
    let repo_models = format!("{:?}", crate::common::repo().join("models").display().to_string());
    assert!(text.contains(&repo_models));
    std::fs::write(&cfg, text.replace(&repo_models, &format!("{:?}", models.display().to_string()))).unwrap();
    let before_start = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let mut daemon = Daemon::start(&cfg, ports.api, &[]);
    let nbirth = "spBv1.0/Plant/NBIRTH/gw1";
    sub.wait_for(
        "NBIRTH and two DBIRTHs",
        LIMIT,
        || daemon.log_text(),
        |got| count(got, "NBIRTH") == 1 && count(got, "DBIRTH") == 2,
    );
    let d = decoded(&sub.snapshot());
    let first = births(&d, nbirth)[0].clone();
    assert_eq!(string(&first, "Node Info/Version"), env!("CARGO_PKG_VERSION"));
    assert_eq!(string(&first, "Node Info/Config SHA256"), sha(&std::fs::read(&cfg).unwrap()), "{first}");
    assert!(string(&first, "Node Info/Target").contains(std::env::consts::ARCH), "{first}");
    assert!(string(&first, "Node Info/ONNX Runtime").starts_with("1."), "{first}");
    assert!(strings(metric(&first, "Node Info/Providers Available")).contains(&"cpu".to_string()), "{first}");
    assert_eq!(strings(metric(&first, "Node Info/Model Errors")), Vec::<String>::new(), "{first}");
    let start = metric(&first, "Node Info/Start Time");
    assert_eq!(start["datatype"], 13, "a DateTime: {start}");
    let started = num(&start["long_value"]);
    assert!(started >= before_start - 1000 && started <= num(&first["timestamp"]), "{start}");
    // Each pack as its file and manifest say.
    let pack_file = std::fs::read(crate::common::repo().join("configs/packs/transformer-dga/pack.toml")).unwrap();
    let pack: toml::Value = toml::from_str(std::str::from_utf8(&pack_file).unwrap()).unwrap();
    assert_eq!(string(&first, "Node Info/Packs/transformer-dga/SHA256"), sha(&pack_file), "{first}");
    assert_eq!(Some(string(&first, "Node Info/Packs/transformer-dga/Version")), pack["pack"]["version"].as_str());
    // The model as its manifest says, on the CPU.
    let manifest: toml::Value =
        toml::from_str(&std::fs::read_to_string(models.join("pump_anomaly/manifest.toml")).unwrap()).unwrap();
    let model = "Node Info/Models/pump_anomaly";
    assert_eq!(Some(string(&first, &format!("{model}/SHA256"))), manifest["sha256"].as_str(), "{first}");
    assert_eq!(Some(string(&first, &format!("{model}/Version"))), manifest["version"].as_str(), "{first}");
    assert_eq!(string(&first, &format!("{model}/Provider")), "cpu", "{first}");
    assert!(["all", "partial"].contains(&string(&first, &format!("{model}/Placement"))), "{first}");
    let names = aliases(&first);
    assert!(!names.keys().any(|n| n.starts_with("Node Info/Models/pump_b/")), "{first}");
    let distinct: std::collections::BTreeSet<u64> = names.values().copied().collect();
    assert_eq!(distinct.len(), names.len(), "one alias per node metric: {names:?}");

    // A second model and SIGHUP: the metric set changes, so the node is born again in the
    // same session (same bdSeq, seq from 0), its devices after it.
    crate::common::add_model_and_sighup(&models, daemon.child.id());
    sub.wait_for(
        "a second NBIRTH and the DBIRTHs after it",
        LIMIT,
        || daemon.log_text(),
        |got| count(got, "NBIRTH") == 2 && count(got, "DBIRTH") == 4,
    );
    let d = decoded(&sub.snapshot());
    let at = d.iter().rposition(|(t, _)| t == nbirth).unwrap();
    let again = &d[at].1;
    assert_eq!((num(&again["seq"]), bdseq(again)), (0, bdseq(&first)), "{again}");
    for name in ["pump_anomaly", "pump_b"] {
        let sha256 = string(again, &format!("Node Info/Models/{name}/SHA256"));
        assert_eq!(Some(sha256), manifest["sha256"].as_str(), "{again}");
    }
    assert_eq!(string(again, "Node Info/Config SHA256"), string(&first, "Node Info/Config SHA256"));
    let again_names = aliases(again);
    assert!(names.iter().all(|(n, a)| again_names.get(n) == Some(a)), "aliases kept: {names:?} {again_names:?}");
    let after: Vec<(&str, u64)> = d[at + 1..].iter().map(|(t, p)| (t.as_str(), num(&p["seq"]))).collect();
    let dbirths: Vec<&(&str, u64)> = after.iter().filter(|(t, _)| t.contains("/DBIRTH/")).collect();
    assert_eq!(dbirths.len(), 2, "every device born again after the node: {after:?}");
    let seqs: Vec<u64> = after.iter().map(|(_, s)| *s).collect();
    assert!(
        seqs.iter().enumerate().all(|(i, s)| *s == (i as u64 + 1) % 256),
        "seq goes on from the NBIRTH's 0: {after:?}"
    );
    assert!(daemon.terminate(), "clean stop");
}

#[test]
fn sparkplug_device_death_and_rebirth_follow_the_modbus_device() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path());
    let sub = Subscriber::start(broker.port, "test-spb-dev", "spBv1.0/#");
    let ports = Ports::new();
    // The pump's Modbus device is an independent pymodbus peer on a fixed port, so it can
    // be stopped (the device dies) and started again (it returns).
    let peer_port = crate::common::free_port();
    let spec = json!({"transport": "tcp", "port": peer_port,
        "units": {"2": {"holding": vec![0u16; 12], "input": [300, 310, 2000]}}});
    let peer = crate::common::peer::Peer::start(spec.clone());
    let port = format!("port = {peer_port}\nunit = 2");
    let path = config_with(dir.path(), &ports, broker.port, &[("port = 5020\nunit = 2", &port)], "");
    let daemon = Daemon::start(&path, ports.api, &[]);
    let p1 = |kind: &str| format!("spBv1.0/Plant/{kind}/gw1/P1");
    let n = |got: &[Received], t: &str| got.iter().filter(|r| r.topic == t).count();
    sub.wait_for("births", LIMIT, || daemon.log_text(), |got| n(got, &p1("DBIRTH")) == 1);

    peer.stop();
    sub.wait_for("DDEATH of P1", LIMIT, || daemon.log_text(), |got| n(got, &p1("DDEATH")) == 1);
    let got = sub.snapshot();
    assert!(!got.iter().any(|r| r.topic == "spBv1.0/Plant/DDEATH/gw1/T1"), "T1's device is alive");
    let d = decoded(&got);
    let death = &d.iter().find(|(t, _)| *t == p1("DDEATH")).unwrap().1;
    assert!(death.get("seq").is_some(), "{death}");

    let _peer = crate::common::peer::Peer::start(spec);
    sub.wait_for("DBIRTH of P1 after its return", LIMIT, || daemon.log_text(), |got| n(got, &p1("DBIRTH")) == 2);
    let d = decoded(&sub.snapshot());
    let reborn = d.iter().filter(|(t, _)| *t == p1("DBIRTH")).nth(1).unwrap().1.clone();
    let first = d.iter().find(|(t, _)| *t == p1("DBIRTH")).unwrap().1.clone();
    assert_eq!(aliases(&reborn), aliases(&first));
    // seq keeps counting within the session across the death and the rebirth.
    let seqs: Vec<u64> = d.iter().map(|(_, p)| num(&p["seq"])).collect();
    assert!(seqs.iter().enumerate().all(|(i, s)| *s == i as u64 % 256), "{seqs:?}");
}

#[test]
fn sparkplug_births_wait_for_the_primary_host_and_follow_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path());
    let sub = Subscriber::start(broker.port, "test-spb-state", "spBv1.0/Plant/#");
    let state = |online: bool, ts: i64| {
        ("spBv1.0/STATE/SCADA".to_string(), json!({"online": online, "timestamp": ts}).to_string().into_bytes())
    };
    // The host is offline before the node starts (its retained STATE says so).
    publish_retained(broker.port, "test-host", &[state(false, 1)]);
    let ports = Ports::new();
    let cfg = config_with(dir.path(), &ports, broker.port, &[], "primary_host_id = \"SCADA\"");
    let daemon = Daemon::start(&cfg, ports.api, &[]);
    let spb = |d: &Daemon| d.json("/api/v1/outbox")["sparkplug"].clone();
    daemon.wait_until("connected, data queued, nothing born", LIMIT, || {
        let s = spb(&daemon);
        (s["connected"] == true && s["enqueued"].as_u64()? >= 2).then_some(())
    });
    assert!(daemon.log_text().contains("waiting for the primary host application"), "{}", daemon.log_text());
    assert!(sub.snapshot().is_empty(), "nothing may be published while the host is offline");

    publish_retained(broker.port, "test-host", &[state(true, 2)]);
    sub.wait_for(
        "births and the queued data once the host is online",
        LIMIT,
        || daemon.log_text(),
        |got| count(got, "NBIRTH") == 1 && count(got, "DBIRTH") == 2 && count(got, "DDATA") >= 1,
    );
    let d = decoded(&sub.snapshot());
    assert!(d[0].0.contains("/NBIRTH/"), "NBIRTH first: {:?}", d.iter().map(|x| &x.0).collect::<Vec<_>>());
    let b1 = bdseq(births(&d, "spBv1.0/Plant/NBIRTH/gw1")[0]);

    // The host goes offline: the node sends its NDEATH (the session's bdSeq), reconnects
    // and waits. An older STATE that says online changes nothing.
    publish_retained(broker.port, "test-host", &[state(false, 3)]);
    sub.wait_for("NDEATH", LIMIT, || daemon.log_text(), |got| count(got, "NDEATH") == 1);
    let d = decoded(&sub.snapshot());
    let death = &d.iter().find(|(t, _)| t.contains("/NDEATH/")).unwrap().1;
    assert_eq!(bdseq(death), b1, "{death}");
    daemon.wait_until("a second session", LIMIT, || (spb(&daemon)["connects"].as_u64()? >= 2).then_some(()));
    publish_all(broker.port, "test-host", &[state(true, 2)]);
    let before = sub.snapshot().len();
    let queued = spb(&daemon)["enqueued"].as_u64().unwrap();
    daemon.wait_until("more data queued", LIMIT, || (spb(&daemon)["enqueued"].as_u64()? > queued).then_some(()));
    let after = sub.snapshot();
    assert_eq!(
        after.len(),
        before,
        "published while the host is offline: {:?}",
        after[before..].iter().map(|r| &r.topic).collect::<Vec<_>>()
    );

    // It returns: births again, with the next bdSeq (a new session).
    publish_retained(broker.port, "test-host", &[state(true, 4)]);
    sub.wait_for("births after the host's return", LIMIT, || daemon.log_text(), |got| count(got, "NBIRTH") == 2);
    let d = decoded(&sub.snapshot());
    let b2 = bdseq(births(&d, "spBv1.0/Plant/NBIRTH/gw1")[1]);
    assert_eq!(b2, (b1 + 1) % 256);
    // Clear the retained STATE so other tests on this broker are not affected.
    publish_retained(broker.port, "test-host", &[("spBv1.0/STATE/SCADA".to_string(), vec![])]);
}

#[test]
fn sparkplug_dcmd_writes_only_writable_points_checked_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path());
    let sub = Subscriber::start(broker.port, "test-spb-dcmd", "spBv1.0/Plant/#");
    let ports = Ports::new();
    // The pump on an independent pymodbus peer, its pressure set point writable.
    let spec = json!({"transport": "tcp", "port": 0,
        "units": {"2": {"holding": vec![0u16; 12], "input": [300, 310, 2000]}}});
    let peer = crate::common::peer::Peer::start(spec);
    let pressure =
        r#"{ id = "pressure",     register = "holding", address = 8,  type = "f32", order = "CDAB", unit = "bar" }"#;
    let writable = r#"{ id = "pressure",     register = "holding", address = 8,  type = "f32", order = "CDAB", unit = "bar", writable = true, valid_min = 0, valid_max = 10 }"#;
    let port = format!("port = {}\nunit = 2", peer.port());
    let replace = [("port = 5020\nunit = 2", port.as_str()), (pressure, writable)];
    let path = config_with(dir.path(), &ports, broker.port, &replace, "accept_dcmd = true");
    let daemon = Daemon::start(&path, ports.api, &[]);
    let p1 = "spBv1.0/Plant/DBIRTH/gw1/P1";
    sub.wait_for("P1's birth", LIMIT, || daemon.log_text(), |got| got.iter().any(|r| r.topic == p1));
    let d = decoded(&sub.snapshot());
    let born = aliases(births(&d, p1)[0]);
    let alias = born["values/pressure"];

    // By name; by alias; a read-only point; out of the valid range; a finding status.
    let cmds = sparkplug_encode(json!([
        {"file": "by_name", "timestamp": 1, "metrics": [{"name": "values/pressure", "datatype": 10, "value": 4.5}]},
        {"file": "by_alias", "timestamp": 2, "metrics": [{"alias": alias, "datatype": 10, "value": 6.25}]},
        {"file": "read_only", "timestamp": 3, "metrics": [{"name": "values/flow", "datatype": 10, "value": 1.0}]},
        {"file": "out_of_range", "timestamp": 4, "metrics": [{"name": "values/pressure", "datatype": 10, "value": 99.0}]},
        {"file": "status", "timestamp": 5, "metrics": [{"name": "criteria/x/status", "datatype": 12, "value": "normal"}]},
    ]));
    let topic = "spBv1.0/Plant/DCMD/gw1/P1".to_string();
    publish_all(broker.port, "test-spb-host", &[(topic.clone(), cmds["by_name"].clone())]);
    let audit = |d: &Daemon| -> Vec<Value> {
        d.json("/api/v1/admin/audit?limit=1000")
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["actor"] == "sparkplug")
            .cloned()
            .collect()
    };
    daemon.wait_until("the first DCMD audited", LIMIT, || (audit(&daemon).len() == 1).then_some(()));
    // The new value comes back in DDATA (read from the device at the next poll).
    let wrote = |v: f64| {
        move |got: &[Received]| {
            decoded(got).iter().any(|(t, p)| {
                t.ends_with("/DDATA/gw1/P1")
                    && p["metrics"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|m| num(&m["alias"]) == alias && m["double_value"] == v)
            })
        }
    };
    sub.wait_for("DDATA with pressure 4.5", LIMIT, || daemon.log_text(), wrote(4.5));
    let rest: Vec<_> =
        ["by_alias", "read_only", "out_of_range", "status"].iter().map(|f| (topic.clone(), cmds[*f].clone())).collect();
    publish_all(broker.port, "test-spb-host", &rest);
    daemon.wait_until("every DCMD audited", LIMIT, || (audit(&daemon).len() == 5).then_some(()));
    sub.wait_for("DDATA with pressure 6.25", LIMIT, || daemon.log_text(), wrote(6.25));
    let rows = audit(&daemon);
    let has = |part: &str, status: i64, detail: &str| {
        rows.iter().any(|r| {
            r["target"].as_str().unwrap().contains(part)
                && r["status"] == status
                && r["detail"].as_str().unwrap().contains(detail)
                && r["action"] == "DCMD"
                && r["remote"] == topic.as_str()
        })
    };
    assert!(has("P1/values/pressure -> pump1.pressure", 200, "wrote 4.5"), "{rows:?}");
    assert!(has("P1/values/pressure -> pump1.pressure", 200, "wrote 6.25"), "by alias: {rows:?}");
    assert!(has("P1/values/flow", 403, "read-only"), "{rows:?}");
    assert!(has("P1/values/pressure", 400, "valid range"), "{rows:?}");
    assert!(has("P1/criteria/x/status", 403, "only values/{role}"), "{rows:?}");
    // Only the two accepted writes reached the device (function 16, two registers each).
    let stats = peer.stop();
    assert_eq!(stats["2"]["16"], 2, "{stats}");
}
