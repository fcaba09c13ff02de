//! Store-and-forward against a real Mosquitto: the broker goes away while data flows and
//! comes back; the daemon is SIGKILLed during the outage and restarted. Every message the
//! outbox accepted arrives, in order, duplicated at most in ways the dedup id resolves.

use crate::common::mosquitto::{assert_complete_and_ordered, first_occurrences, read_outbox, Broker, Subscriber};
use crate::common::{demo_config, Daemon, Ports};
use std::path::{Path, PathBuf};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

/// The demo, polled and evaluated every 200 ms so an outage of a few seconds builds a backlog.
fn fast_config(dir: &Path, ports: &Ports, broker: u16) -> PathBuf {
    let path = demo_config(dir, ports, &[("interval_ms = 1000", "interval_ms = 200")]);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&format!(
        "\n[mqtt]\nenabled = true\nport = {broker}\nreconnect_min_ms = 100\nreconnect_max_ms = 500\ntelemetry_interval_ms = 200\nstate_interval_ms = 200\n"
    ));
    std::fs::write(&path, text).unwrap();
    path
}

fn queued(d: &Daemon) -> Option<(bool, u64, u64)> {
    let o = d.get("/api/v1/outbox").ok()?.1;
    Some((o["connected"].as_bool()?, o["outbox"]["messages"].as_u64()?, o["replayed"].as_u64()?))
}

fn wait_received(sub: &Subscriber, d: &Daemon, n: usize) {
    sub.wait_for(&format!("{n} messages"), LIMIT, || d.log_text(), |got| first_occurrences(got).len() >= n);
}

/// Broker, subscriber and daemon running; 10 messages received, then the broker stopped
/// until at least 40 messages wait in the outbox.
fn outage_with_backlog(
    dir: &std::path::Path,
    client_id: &str,
) -> (Broker, Subscriber, Ports, std::path::PathBuf, Daemon) {
    let mut broker = Broker::start(dir);
    let sub = Subscriber::start(broker.port, client_id, "edgecite/v1/#");
    let ports = Ports::new();
    let config = fast_config(dir, &ports, broker.port);
    let daemon = Daemon::start(&config, ports.api, &[]);
    wait_received(&sub, &daemon, 10);
    broker.stop();
    daemon.wait_until("a backlog of 40 messages", LIMIT, || {
        let (up, n, _) = queued(&daemon)?;
        (!up && n >= 40).then_some(())
    });
    (broker, sub, ports, config, daemon)
}

#[test]
fn broker_outage_loses_nothing_and_replays_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (mut broker, sub, _, _, mut daemon) = outage_with_backlog(dir.path(), "test-outage");
    // The broker away: /healthz is degraded and says why (issue 18: health counts every sink).
    let h = daemon.json("/healthz");
    assert_eq!(h["status"], "degraded", "{h}");
    assert!(h["reasons"].to_string().contains("MQTT sink not connected to"), "{h}");
    // The sink is a component like the sources: not healthy, with the same reason, and its
    // queued messages counted as received.
    let sink = h["components"].as_array().unwrap().iter().find(|c| c["role"] == "sink" && c["id"] == "mqtt").cloned();
    let sink = sink.unwrap_or_else(|| panic!("no MQTT sink component: {h}"));
    assert_eq!(sink["healthy"], false, "{sink}");
    assert!(sink["problem"].as_str().unwrap().starts_with("MQTT sink not connected to"), "{sink}");
    assert!(sink["received"].as_u64().unwrap() > 0, "{sink}");
    broker.restart();
    daemon.wait_until("the backlog replayed", LIMIT, || {
        let (up, _, replayed) = queued(&daemon)?;
        (up && replayed >= 40).then_some(())
    });
    let h = daemon.json("/healthz");
    assert!(!h["reasons"].to_string().contains("MQTT sink"), "connected again: {h}");
    let sink = h["components"].as_array().unwrap().iter().find(|c| c["id"] == "mqtt").cloned().unwrap();
    assert_eq!((sink["healthy"].as_bool(), sink["problem"].is_null()), (Some(true), true), "{sink}");
    let before = first_occurrences(&sub.snapshot()).len();
    wait_received(&sub, &daemon, before + 5); // live data flows again
    assert!(daemon.terminate(), "daemon did not stop cleanly:\n{}", daemon.log_text());

    let outbox = read_outbox(&dir.path().join("outbox.db"));
    assert!(outbox.last_id > 50, "too few messages for the test to mean anything: {}", outbox.last_id);
    assert_eq!(outbox.dropped, 0);
    let expected = outbox.last_id as usize - outbox.pending.len();
    wait_received(&sub, &daemon, expected);
    let got = sub.snapshot();
    assert_complete_and_ordered(&got, &outbox);
    assert!(first_occurrences(&got).iter().filter(|(_, v)| v["replay"] == true).count() >= 40);
}

#[test]
fn sigkill_during_an_outage_loses_nothing_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let (mut broker, sub, ports, config, mut daemon) = outage_with_backlog(dir.path(), "test-crash");
    daemon.child.kill().unwrap(); // SIGKILL
    daemon.child.wait().unwrap();
    let at_kill = read_outbox(&dir.path().join("outbox.db"));
    assert!(at_kill.pending.len() >= 40, "{} queued at the kill", at_kill.pending.len());

    let mut daemon = Daemon::start(&config, ports.api, &[]);
    broker.restart();
    sub.wait_for(
        "every message queued before the kill",
        LIMIT,
        || daemon.log_text(),
        |got| {
            let seqs: std::collections::HashSet<i64> = first_occurrences(got).iter().map(|(s, _)| *s).collect();
            at_kill.pending.iter().all(|id| seqs.contains(id))
        },
    );
    assert!(daemon.terminate(), "daemon did not stop cleanly:\n{}", daemon.log_text());
    let outbox = read_outbox(&dir.path().join("outbox.db"));
    assert_eq!(outbox.epoch, at_kill.epoch);
    let expected = outbox.last_id as usize - outbox.pending.len();
    wait_received(&sub, &daemon, expected);
    assert_complete_and_ordered(&sub.snapshot(), &outbox);
}
