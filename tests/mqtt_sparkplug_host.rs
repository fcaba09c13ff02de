//! Sparkplug B host-side ingest against a real Mosquitto, every payload encoded by the
//! independent Python peer (Eclipse Tahu's proto compiled by grpcio-tools), the peer acting
//! as an edge node: births give names, aliases and datatypes; data messages carry aliases
//! only and, as the specification recommends, no datatype (signed integers must still come
//! out right); the alias map survives a daemon restart; an unknown alias makes the daemon
//! ask for a rebirth (NCMD, rate limited); the `Quality` property, DDEATH and NDEATH become
//! sample qualities; 64-bit integers are exact where an f64 holds them and flagged
//! (`inexact`, exact digits in `text`) where it does not.

use crate::common::mosquitto::{publish_all, sparkplug_decode, sparkplug_encode, Broker, Subscriber};
use crate::common::{demo_config, Daemon, Ports};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

/// point -> [(ts, value, quality, text)] in time order.
type Rows = BTreeMap<String, Vec<(i64, Option<f64>, String, Option<String>)>>;

fn stored(db: &Path) -> Rows {
    let s = edgecite::store::Store::open_readonly(db).unwrap();
    let mut out = Rows::new();
    for (p, r) in s.all_samples().unwrap().into_iter().filter(|(p, _)| p.starts_with("spb.")) {
        out.entry(p).or_default().push((r.ts_ms, r.value, r.quality, r.text));
    }
    // Time order; samples with the same time in the order stored (a stable sort).
    out.values_mut().for_each(|v| v.sort_by_key(|r| r.0));
    out
}

fn mqtt_errors(d: &Daemon) -> u64 {
    let h = d.json("/healthz");
    h["sources"].as_array().unwrap().iter().find(|s| s["kind"] == "mqtt").unwrap()["errors"].as_u64().unwrap()
}

#[test]
fn sparkplug_host_ingest_datatypes_aliases_restart_rebirth_qualities_and_deaths() {
    // Times of the last minutes: older samples would fall to the store's retention at restart.
    let t0 = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64 - 60_000;
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path());
    let ncmd = Subscriber::start(broker.port, "test-ncmd", "spBv1.0/G1/NCMD/#");
    let ports = Ports::new();
    let config = demo_config(dir.path(), &ports, &[]);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[mqtt]\nenabled = true\nport = {}\n[[mqtt.subscriptions]]\ntopic = \"spBv1.0/G1/#\"\npoint = \"spb.{{metric}}\"\nformat = \"sparkplug_b\"\n",
        broker.port
    ));
    std::fs::write(&config, text).unwrap();
    let db = dir.path().join("edgecite.db");
    let mut daemon = Daemon::start(&config, ports.api, &[]);
    let wait_subscribed = |d: &Daemon| {
        d.wait_until("the MQTT ingest subscribed", LIMIT, || {
            let h = d.json("/healthz");
            (h["sources"].as_array()?.iter().find(|s| s["kind"] == "mqtt")?["connected"] == true).then_some(())
        })
    };
    wait_subscribed(&daemon);

    let big = (1u64 << 53) + 1;
    let sp = sparkplug_encode(json!([
        {"file": "nbirth", "seq": 0, "timestamp": t0, "metrics": [
            {"name": "bdSeq", "datatype": 4, "value": 5},
            {"name": "Node Control/Rebirth", "datatype": 11, "value": false},
            {"name": "Uptime", "alias": 100, "datatype": 8, "value": 7}]},
        {"file": "dbirth", "seq": 1, "timestamp": t0, "metrics": [
            {"name": "Temp", "alias": 1, "datatype": 2, "value": 20, "timestamp": t0},
            {"name": "Big", "alias": 2, "datatype": 8, "value": 1, "timestamp": t0},
            {"name": "Count", "alias": 3, "datatype": 4, "value": 42, "timestamp": t0},
            {"name": "Press", "alias": 4, "datatype": 10, "value": 1.5, "timestamp": t0,
             "properties": {"Quality": [3, 192], "engUnit": [12, "bar"]}}]},
        // Data: aliases only, no datatype on the wire.
        {"file": "ddata1", "seq": 2, "timestamp": t0 + 1000, "metrics": [
            {"alias": 1, "datatype": 2, "value": -13, "send_datatype": false, "timestamp": t0 + 1000},
            {"alias": 2, "datatype": 8, "value": big, "send_datatype": false, "timestamp": t0 + 1000},
            {"alias": 3, "datatype": 4, "value": -7, "send_datatype": false, "timestamp": t0 + 1000},
            {"alias": 4, "datatype": 10, "value": 1.6, "send_datatype": false, "timestamp": t0 + 1000,
             "properties": {"Quality": [3, 500]}}]},
        {"file": "ddata2", "seq": 3, "timestamp": t0 + 2000, "metrics": [
            {"alias": 1, "datatype": 2, "value": -300, "send_datatype": false, "timestamp": t0 + 2000},
            {"alias": 3, "datatype": 4, "value": 9007199254740992i64, "send_datatype": false, "timestamp": t0 + 2000}]},
        {"file": "unknown", "seq": 4, "timestamp": t0 + 3000, "metrics": [
            {"alias": 77, "datatype": 10, "value": 1.0, "send_datatype": false}]},
        {"file": "ddeath", "seq": 5, "timestamp": t0 + 4000, "metrics": []},
        {"file": "ndeath_old", "timestamp": t0 + 5000, "metrics": [{"name": "bdSeq", "datatype": 4, "value": 4}]},
        {"file": "ndeath", "timestamp": t0 + 6000, "metrics": [{"name": "bdSeq", "datatype": 4, "value": 5}]},
    ]));
    // A marker after each batch: an NBIRTH of another node with one metric, a new time each.
    let marks = sparkplug_encode(json!((1..=6)
        .map(|n| json!({"file": format!("s{n}"), "seq": 0,
        "timestamp": t0 + n, "metrics": [
            {"name": "bdSeq", "datatype": 4, "value": 0},
            {"name": "Sentinel", "alias": 1, "datatype": 10, "value": n}]}))
        .collect::<Vec<_>>()));
    let node = "spBv1.0/G1/NBIRTH/N1".to_string();
    let dev = |k: &str| format!("spBv1.0/G1/{k}/N1/D1");
    let sentinel = |n: u32| (format!("spBv1.0/G1/NBIRTH/S{n}"), marks[&format!("s{n}")].clone());
    publish_all(
        broker.port,
        "test-edge",
        &[
            (node.clone(), sp["nbirth"].clone()),
            (dev("DBIRTH"), sp["dbirth"].clone()),
            (dev("DDATA"), sp["ddata1"].clone()),
            sentinel(1),
        ],
    );
    daemon.wait_until("the first sentinel", LIMIT, || stored(&db).contains_key("spb.Sentinel").then_some(()));
    let s = stored(&db);
    let vals = |s: &Rows, p: &str| s.get(p).map(|v| v.iter().map(|x| x.1).collect::<Vec<_>>()).unwrap_or_default();
    // Int16 -13 without a datatype in the DDATA: read with the birth's datatype.
    assert_eq!(vals(&s, "spb.Temp"), vec![Some(20.0), Some(-13.0)], "{s:?}");
    assert_eq!(vals(&s, "spb.Count"), vec![Some(42.0), Some(-7.0)], "{s:?}");
    // UInt64 2^53 + 1: flagged, exact digits kept.
    let b = &s["spb.Big"];
    assert_eq!((b[0].1, b[0].2.as_str()), (Some(1.0), "good"), "{b:?}");
    assert_eq!((b[1].2.as_str(), b[1].3.as_deref()), ("inexact", Some("9007199254740993")), "{b:?}");
    // Quality property: 192 good, 500 stale (no value).
    let p = &s["spb.Press"];
    assert_eq!((p[0].1, p[0].2.as_str()), (Some(1.5), "good"), "{p:?}");
    assert_eq!((p[1].1, p[1].2.as_str()), (None, "stale"), "{p:?}");
    // The node's own birth metrics are stored; bdSeq and Node Control are not.
    assert_eq!(vals(&s, "spb.Uptime"), vec![Some(7.0)]);
    assert!(!s.contains_key("spb.bdSeq"), "{s:?}");
    assert_eq!(mqtt_errors(&daemon), 0, "{}", daemon.log_text());

    // Restart: the alias map and datatypes learnt from the birth are persisted.
    assert!(daemon.terminate());
    assert!(dir.path().join("sparkplug_host.json").exists());
    daemon = Daemon::start(&config, ports.api, &[]);
    wait_subscribed(&daemon);
    publish_all(broker.port, "test-edge", &[(dev("DDATA"), sp["ddata2"].clone()), sentinel(2)]);
    daemon.wait_until("the second sentinel", LIMIT, || (stored(&db)["spb.Sentinel"].len() == 2).then_some(()));
    let s = stored(&db);
    assert_eq!(vals(&s, "spb.Temp"), vec![Some(20.0), Some(-13.0), Some(-300.0)], "{s:?}");
    assert_eq!(s["spb.Count"][2].1, Some(9007199254740992.0), "2^53 is exact: {s:?}");
    assert_eq!(s["spb.Count"][2].2, "good");
    assert_eq!(mqtt_errors(&daemon), 0, "no unknown_alias after the restart: {}", daemon.log_text());

    // An alias no birth gave: counted, and one rebirth request (NCMD) per 10 s at most.
    publish_all(
        broker.port,
        "test-edge",
        &[(dev("DDATA"), sp["unknown"].clone()), (dev("DDATA"), sp["unknown"].clone()), sentinel(3)],
    );
    ncmd.wait_for("a rebirth request", LIMIT, || daemon.log_text(), |got| !got.is_empty());
    daemon.wait_until("the third sentinel", LIMIT, || (stored(&db)["spb.Sentinel"].len() == 3).then_some(()));
    assert_eq!(mqtt_errors(&daemon), 2);
    let got = ncmd.snapshot();
    assert_eq!(got.len(), 1, "rate limited: {:?}", got.iter().map(|r| &r.topic).collect::<Vec<_>>());
    assert_eq!(got[0].topic, "spBv1.0/G1/NCMD/N1");
    let cmd = &sparkplug_decode(&[got[0].payload.clone()])[0];
    let m = &cmd["metrics"][0];
    assert_eq!(
        (&m["name"], &m["datatype"], &m["boolean_value"]),
        (&json!("Node Control/Rebirth"), &json!(11), &json!(true)),
        "{cmd}"
    );

    // DDEATH: the device's points go stale. An NDEATH with an older bdSeq is ignored;
    // the current one marks the node's points (its own and its devices') stale.
    publish_all(broker.port, "test-edge", &[(dev("DDEATH"), sp["ddeath"].clone()), sentinel(4)]);
    daemon.wait_until("the fourth sentinel", LIMIT, || (stored(&db)["spb.Sentinel"].len() == 4).then_some(()));
    let s = stored(&db);
    for p in ["spb.Temp", "spb.Big", "spb.Count", "spb.Press"] {
        let last = s[p].last().unwrap();
        assert_eq!((last.0, last.1, last.2.as_str()), (t0 + 4000, None, "stale"), "{p}: {:?}", s[p]);
    }
    assert_eq!(s["spb.Uptime"].last().unwrap().2, "good", "the node itself is alive");
    publish_all(broker.port, "test-edge", &[(node.replace("NBIRTH", "NDEATH"), sp["ndeath_old"].clone()), sentinel(5)]);
    daemon.wait_until("the fifth sentinel", LIMIT, || (stored(&db)["spb.Sentinel"].len() == 5).then_some(()));
    assert_eq!(stored(&db)["spb.Uptime"].len(), 1, "an NDEATH of an earlier session changes nothing");
    publish_all(broker.port, "test-edge", &[(node.replace("NBIRTH", "NDEATH"), sp["ndeath"].clone()), sentinel(6)]);
    daemon.wait_until("the sixth sentinel", LIMIT, || (stored(&db)["spb.Sentinel"].len() == 6).then_some(()));
    let s = stored(&db);
    let up = s["spb.Uptime"].last().unwrap();
    assert_eq!((up.0, up.1, up.2.as_str()), (t0 + 6000, None, "stale"), "{:?}", s["spb.Uptime"]);
    assert_eq!(s["spb.Temp"].last().unwrap().0, t0 + 6000, "{:?}", s["spb.Temp"]);
}
