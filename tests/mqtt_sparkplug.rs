//! Sparkplug B edge node against a real Mosquitto, every payload decoded by an independent
//! decoder (Python protobuf, proto/sparkplug_b.proto compiled by grpcio-tools): births with
//! values, finding states and scores; DDATA by alias; seq per session; rebirth on NCMD;
//! NDEATH as the will; bdSeq continuity and stable aliases across a restart; is_historical
//! on data replayed after an outage.

use crate::common::mosquitto::{publish_all, sparkplug_decode, sparkplug_encode, Broker, Received, Subscriber};
use crate::common::{demo_config, Daemon, Ports};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

fn config(dir: &Path, ports: &Ports, broker: u16) -> PathBuf {
    let path = demo_config(dir, ports, &[]);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&format!(
        "\n[mqtt]\nenabled = true\nport = {broker}\nreconnect_min_ms = 100\nreconnect_max_ms = 500\n[mqtt.sparkplug]\nenabled = true\ngroup_id = \"Plant\"\n"
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
    num(&p["metrics"].as_array().unwrap().iter().find(|m| m["name"] == "bdSeq").unwrap()["long_value"])
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
    assert!(t1_aliases.keys().any(|n| n.starts_with("criteria/") && n.ends_with("/status")), "{t1}");
    let p1 = births(&d, "spBv1.0/Plant/DBIRTH/gw1/P1")[0].clone();
    let p1_aliases = aliases(&p1);
    assert!(p1_aliases.keys().any(|n| n.starts_with("criteria/model.") && n.ends_with("/score")), "{p1}");
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
    daemon.wait_until("Sparkplug data queued", LIMIT, || {
        let o = daemon.json("/api/v1/outbox");
        (o["sparkplug"]["connected"] == false && o["sparkplug"]["enqueued"].as_u64()? >= 3).then_some(())
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
