//! MQTT: the shared connection (`client`), Sparkplug B payloads (`sparkplug`), and the
//! ingest source: `[[mqtt.subscriptions]]` map topic filters (`+`, `#`) to points.
//!
//! Payloads: a number as text; JSON with a dotted path to the value and optionally to a
//! timestamp; Sparkplug B NBIRTH/DBIRTH (names and aliases, values) and NDATA/DDATA.
//! A malformed payload is counted (`errors` of the `mqtt` source) and logged with its topic
//! and the reason; it never stops the source and never touches other points. In a
//! Sparkplug payload each metric stands alone: a bad metric is counted, the good ones of
//! the same payload are kept.

pub mod host;
pub mod json;

use crate::config::mqtt::{MqttConfig, PayloadFormat, SubscriptionConfig};
use crate::config::Config;
use crate::mqtt::client::{AckHandle, Backoff, Conn, Event, Session};
use crate::mqtt::{client, sparkplug};
use crate::sample::{PointId, Sample};
use crate::sources::commit::{Batch, Commit};
use crate::sources::SourceCounters;
use std::collections::HashMap;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Which topic levels a filter's wildcards matched, or None when the topic does not match.
pub fn match_filter(filter: &str, topic: &str) -> Option<Vec<String>> {
    let mut caps = Vec::new();
    let mut t = topic.split('/');
    for f in filter.split('/') {
        match f {
            "#" => {
                caps.push(t.collect::<Vec<_>>().join("/"));
                return Some(caps);
            }
            "+" => caps.push(t.next()?.to_string()),
            lit => {
                if t.next()? != lit {
                    return None;
                }
            }
        }
    }
    t.next().is_none().then_some(caps)
}

/// Why a payload (or one Sparkplug metric) was not used.
#[derive(Debug, Clone, PartialEq)]
pub struct Malformed {
    pub kind: &'static str,
    pub reason: String,
    /// Only a warning: the sample was kept (e.g. `implausible_timestamp`).
    pub warning: bool,
}

fn bad(kind: &'static str, reason: impl Into<String>) -> Malformed {
    Malformed { kind, reason: reason.into(), warning: false }
}

fn fill(template: &str, caps: &[String], metric: Option<&str>) -> String {
    let mut p = template.to_string();
    for (i, c) in caps.iter().enumerate() {
        p = p.replace(&format!("{{{}}}", i + 1), &sparkplug::sanitise(c));
    }
    if let Some(m) = metric {
        p = p.replace("{metric}", &sparkplug::sanitise(m));
    }
    p
}

/// Turn one message into samples, and the reasons for whatever could not be used.
pub fn parse(
    sub: &SubscriptionConfig,
    caps: &[String],
    topic: &str,
    payload: &[u8],
    now_ms: i64,
    host: &mut host::HostState,
) -> (Vec<Sample>, Vec<Malformed>) {
    let one = |r: Result<Sample, Malformed>| match r {
        Ok(s) => (vec![s], vec![]),
        Err(m) => (vec![], vec![m]),
    };
    match sub.format {
        PayloadFormat::Number => one((|| {
            let text = std::str::from_utf8(payload).map_err(|_| bad("not_utf8", "payload is not UTF-8 text"))?;
            let v: f64 = text
                .trim()
                .parse()
                .map_err(|_| bad("not_a_number", format!("payload {:?} is not a number", truncate(text))))?;
            if !v.is_finite() {
                return Err(bad("not_a_number", format!("payload {v} is not finite")));
            }
            Ok(Sample::good(PointId::from(fill(&sub.point, caps, None).as_str()), now_ms, v))
        })()),
        PayloadFormat::Json => json::parse(sub, caps, payload, now_ms),
        PayloadFormat::SparkplugB => parse_sparkplug(sub, caps, topic, payload, now_ms, host),
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

fn parse_sparkplug(
    sub: &SubscriptionConfig,
    caps: &[String],
    topic: &str,
    payload: &[u8],
    now_ms: i64,
    host: &mut host::HostState,
) -> (Vec<Sample>, Vec<Malformed>) {
    use sparkplug::Reading;
    let Some(t) = sparkplug::parse_topic(topic) else {
        return (vec![], vec![bad("not_sparkplug_topic", "expected spBv1.0/{group}/{type}/{node}[/{device}]")]);
    };
    if !matches!(t.kind, "NBIRTH" | "DBIRTH" | "NDATA" | "DDATA" | "NDEATH" | "DDEATH") {
        return (vec![], vec![]); // commands and states: nothing to ingest
    }
    let p = match sparkplug::decode(payload) {
        Ok(p) => p,
        Err(e) => return (vec![], vec![bad("sparkplug_decode", e)]),
    };
    let key = host::key(t.group, t.node, t.device);
    if let Some(seq) = p.seq {
        if let Some(expected) = host.check_seq(&sub.topic, t.group, t.node, seq, t.kind == "NBIRTH") {
            tracing::warn!(%topic, seq, expected, "Sparkplug: seq out of order (a message was lost); rebirth requested");
            host.want_rebirth(t.group, t.node);
        }
    }
    let ts_of = |m: Option<&sparkplug::Metric>| {
        m.and_then(|m| m.timestamp).or(p.timestamp).map(|t| t.min(i64::MAX as u64) as i64).unwrap_or(now_ms)
    };
    if t.kind == "NDEATH" || t.kind == "DDEATH" {
        if t.kind == "NDEATH" {
            // The will of an older session (its bdSeq is not the current birth's) says
            // nothing about the session that is alive now.
            let bd = p.metrics.iter().find(|m| m.name.as_deref() == Some("bdSeq")).and_then(|m| match m.value {
                Some(sparkplug::Value::LongValue(v)) => Some(v as i64),
                Some(sparkplug::Value::IntValue(v)) => Some(v as i64),
                _ => None,
            });
            if let (Some(bd), Some(born)) = (bd, host.bdseq(t.group, t.node)) {
                if bd != born {
                    tracing::info!(%topic, bd_seq = bd, birth_bd_seq = born, "Sparkplug: NDEATH of an earlier session ignored");
                    return (vec![], vec![]);
                }
            }
        }
        let prefix = if t.kind == "NDEATH" { host::key(t.group, t.node, None) } else { key.clone() };
        let ts = ts_of(None);
        let stale: Vec<Sample> = host
            .points_under(&prefix, &sub.topic)
            .into_iter()
            .map(|pt| Sample::bad(PointId::from(pt.as_str()), ts, crate::sample::Quality::Stale))
            .collect();
        tracing::info!(%topic, points = stale.len(), "Sparkplug: {} marks the points stale", t.kind);
        return (stale, vec![]);
    }
    let birth = matches!(t.kind, "NBIRTH" | "DBIRTH");
    if birth {
        let mut aliases = std::collections::BTreeMap::new();
        let mut datatypes = std::collections::BTreeMap::new();
        for m in &p.metrics {
            if let Some(name) = &m.name {
                if let Some(a) = m.alias {
                    aliases.insert(a, name.clone());
                }
                if let Some(dt) = m.datatype {
                    datatypes.insert(name.clone(), dt);
                }
                if t.kind == "NBIRTH" && name == "bdSeq" {
                    if let Some(sparkplug::Value::LongValue(v)) = m.value {
                        host.set_bdseq(t.group, t.node, v as i64);
                    }
                }
            }
        }
        host.birth(key.clone(), aliases, datatypes);
    }
    let (mut samples, mut errors) = (Vec::new(), Vec::new());
    let mut unknown = false;
    for m in &p.metrics {
        let born = host.get(&key);
        let name = match (&m.name, m.alias) {
            (Some(n), _) => n.clone(),
            (None, Some(a)) => match born.and_then(|b| b.aliases.get(&a)) {
                Some(n) => n.clone(),
                None => {
                    unknown = true;
                    errors.push(bad(
                        "unknown_alias",
                        format!("metric alias {a} was not in a birth certificate seen; a rebirth is requested"),
                    ));
                    continue;
                }
            },
            (None, None) => {
                errors.push(bad("unnamed_metric", "metric has neither name nor alias"));
                continue;
            }
        };
        if birth
            && t.kind == "NBIRTH"
            && (name == "bdSeq" || name.starts_with("Node Control/") || name.starts_with("Node Info/"))
        {
            // Session bookkeeping and what the node runs (edgecite's own NBIRTH), not a
            // measurement.
            continue;
        }
        let dt = born.and_then(|b| b.datatypes.get(&name)).copied();
        let ts = ts_of(Some(m));
        if !crate::time::in_range(ts) {
            errors.push(bad("bad_timestamp", format!("metric `{name}`: timestamp {ts} is not between 1970 and 9999")));
            continue;
        }
        let point = fill(&sub.point, caps, Some(&name));
        let id = PointId::from(point.as_str());
        let q = sparkplug::quality(m).unwrap_or(crate::sample::Quality::Good);
        let sample = match sparkplug::reading(m, dt) {
            Ok(_) if !q.is_good() => Sample::bad(id, ts, q),
            Ok(Reading::Number(v)) => Sample::good(id, ts, v),
            Ok(Reading::Inexact { approx, exact }) => Sample {
                value: Some(approx),
                text: Some(exact.as_str().into()),
                quality: crate::sample::Quality::Inexact,
                ..Sample::bad(id, ts, crate::sample::Quality::Inexact)
            },
            Ok(Reading::Null) => continue,
            Err(e) => {
                errors.push(bad("not_a_number", format!("metric `{name}`: {e}")));
                continue;
            }
        };
        host.stored(&key, &sub.topic, &point);
        samples.push(sample);
    }
    if unknown {
        host.want_rebirth(t.group, t.node);
    }
    (samples, errors)
}

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error(transparent)]
    Client(#[from] client::ClientError),
    #[error("Sparkplug host state {0}")]
    HostState(#[from] host::HostStateError),
}

/// Start the ingest source when `[mqtt]` is on and has subscriptions. Returns its counters.
/// Samples go to the daemon loop as [`Batch`]es with a commit; a QoS 1 message is acknowledged to
/// the broker only after the loop reports its samples committed.
pub fn spawn(
    config: &Config,
    tasks: &mut tokio::task::JoinSet<()>,
    tx: mpsc::Sender<Batch>,
    cancel: CancellationToken,
) -> Result<Option<Arc<SourceCounters>>, SpawnError> {
    let m = &config.mqtt;
    if !m.enabled || m.subscriptions.is_empty() {
        return Ok(None);
    }
    let tls = client::ClientTls::new(m.tls.as_ref())?;
    let counters = Arc::new(SourceCounters::default());
    let client_id = format!("{}-in", m.client_id_for(&config.site.id, &config.site.gateway));
    let host = if m.subscriptions.iter().any(|s| s.format == PayloadFormat::SparkplugB) {
        let path = host_state_path(&config.store.path);
        let h = host::HostState::open(&path)?;
        tracing::info!(path = %path.display(), births = h.known_births(), "Sparkplug host state loaded");
        h
    } else {
        host::HostState::in_memory()
    };
    tasks.spawn(run(m.clone(), client_id, tls, tx, counters.clone(), host, cancel));
    Ok(Some(counters))
}

/// `sparkplug_host.json` beside the store: the aliases, datatypes and points learnt from births.
pub fn host_state_path(store_path: &std::path::Path) -> std::path::PathBuf {
    store_path.parent().unwrap_or(std::path::Path::new(".")).join("sparkplug_host.json")
}

/// The NCMD payload that asks an edge node for a rebirth.
pub fn rebirth_request(now_ms: i64) -> Vec<u8> {
    use sparkplug::{datatype, Metric, Payload, Value};
    sparkplug::encode(&Payload {
        timestamp: Some(now_ms as u64),
        metrics: vec![Metric {
            name: Some("Node Control/Rebirth".into()),
            timestamp: Some(now_ms as u64),
            datatype: Some(datatype::BOOLEAN),
            value: Some(Value::BooleanValue(true)),
            ..Default::default()
        }],
        ..Default::default()
    })
}

/// Received QoS 1 messages of the current session, in arrival order, each waiting for its
/// samples to be committed (or ready at once: nothing to store, or malformed). PUBACKs go
/// out in arrival order, as MQTT asks.
#[derive(Default)]
struct Acks {
    /// Token of the first entry.
    first: u64,
    queue: VecDeque<(Option<AckHandle>, bool)>,
}

impl Acks {
    /// Register a message; returns its token.
    fn push(&mut self, ack: Option<AckHandle>, ready: bool) -> u64 {
        self.queue.push_back((ack, ready));
        self.first + self.queue.len() as u64 - 1
    }

    fn ready(&mut self, token: u64) {
        // A token below `first` or beyond the queue belongs to an earlier session: ignored.
        if let Some(i) = token.checked_sub(self.first) {
            if let Some(e) = self.queue.get_mut(i as usize) {
                e.1 = true;
            }
        }
    }

    /// Send the PUBACKs of the ready prefix; stops at the first one the client cannot take.
    fn flush(&mut self, conn: &Conn) {
        while let Some((ack, true)) = self.queue.front() {
            if let Some(a) = ack {
                if conn.try_ack(a).is_err() {
                    return; // request queue full: retried after the next poll
                }
            }
            self.queue.pop_front();
            self.first += 1;
        }
    }

    /// A new session: what was not acknowledged is re-sent by the broker. Tokens keep
    /// growing so late commits of the old session match nothing.
    fn reset(&mut self) {
        self.first += self.queue.len() as u64;
        self.queue.clear();
    }
}

async fn run(
    cfg: MqttConfig,
    client_id: String,
    mut tls: client::ClientTls,
    tx: mpsc::Sender<Batch>,
    counters: Arc<SourceCounters>,
    mut host: host::HostState,
    cancel: CancellationToken,
) {
    let mut backoff = Backoff::new(&cfg);
    let mut malformed_by_topic: HashMap<String, u64> = HashMap::new();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<u64>();
    let mut acks = Acks::default();
    let session = Session::Persistent { expiry_s: cfg.ingest_session_expiry_s };
    loop {
        let mut conn = Conn::with_session(&cfg, &client_id, None, 4096, tls.for_connect(), session);
        acks.reset();
        let err = loop {
            acks.flush(&conn);
            let ev = tokio::select! {
                ev = conn.poll() => ev,
                Some(token) = done_rx.recv() => {
                    acks.ready(token);
                    while let Ok(t) = done_rx.try_recv() {
                        acks.ready(t);
                    }
                    continue;
                }
                _ = cancel.cancelled() => {
                    drain_and_disconnect(conn, &mut acks, &mut done_rx).await;
                    return;
                }
            };
            match ev {
                Ok(Event::Connected) => {
                    backoff.reset();
                    SourceCounters::add(&counters.connects, 1);
                    // Several subscriptions may share a topic filter: one MQTT subscription each.
                    let filters: std::collections::BTreeSet<&str> =
                        cfg.subscriptions.iter().map(|s| s.topic.as_str()).collect();
                    for f in filters {
                        if let Err(e) = conn.try_subscribe(f, cfg.ingest_qos) {
                            tracing::error!(topic = %f, error = %e, "MQTT ingest: cannot subscribe");
                        }
                    }
                }
                Ok(Event::SubAck) => {
                    counters.connected.store(1, Ordering::Relaxed);
                    tracing::info!(subscriptions = cfg.subscriptions.len(), "MQTT ingest subscribed");
                }
                Ok(Event::Message { topic, payload, ack, .. }) => {
                    SourceCounters::add(&counters.requests, 1);
                    if malformed_by_topic.len() > 10_000 {
                        malformed_by_topic.clear(); // bounded under a flood of distinct topics
                    }
                    if payload.len() > cfg.max_message_bytes as usize {
                        // Taken, counted, logged and acknowledged: it never comes back.
                        SourceCounters::add(&counters.errors, 1);
                        let n = malformed_by_topic.entry(topic.clone()).or_default();
                        *n += 1;
                        if *n <= 20 || *n % 1000 == 0 {
                            tracing::warn!(topic = %topic, kind = "too_large", bytes = payload.len(),
                                limit = cfg.max_message_bytes, count = *n,
                                "MQTT ingest: message larger than mqtt.max_message_bytes dropped");
                        }
                        acks.push(ack, true);
                        continue;
                    }
                    let now = crate::time::now_ms();
                    let mut samples = Vec::new();
                    for s in &cfg.subscriptions {
                        let Some(caps) = match_filter(&s.topic, &topic) else { continue };
                        let (mut got, errors) = parse(s, &caps, &topic, &payload, now, &mut host);
                        for e in errors {
                            let n = malformed_by_topic.entry(topic.clone()).or_default();
                            *n += 1;
                            if e.warning {
                                if *n <= 20 || *n % 1000 == 0 {
                                    tracing::warn!(topic = %topic, subscription = %s.topic, kind = e.kind, reason = %e.reason,
                                        count = *n, "MQTT ingest: payload stored with a warning");
                                }
                                continue;
                            }
                            SourceCounters::add(&counters.errors, 1);
                            // Every malformed payload is counted; the log keeps the first 20
                            // per topic and then every 1000th, so a flood cannot fill the disk.
                            if *n <= 20 || *n % 1000 == 0 {
                                tracing::warn!(topic = %topic, subscription = %s.topic, kind = e.kind, reason = %e.reason,
                                    count = *n, "MQTT ingest: malformed payload ignored");
                            }
                        }
                        samples.append(&mut got);
                    }
                    if let Err(e) = host.save() {
                        tracing::error!(error = %e, "Sparkplug: cannot save the host state (learnt aliases)");
                    }
                    for (group, node) in host.take_rebirths(now) {
                        let t = format!("spBv1.0/{group}/NCMD/{node}");
                        match conn.try_publish(&t, 0, false, rebirth_request(now)) {
                            Ok(()) => tracing::warn!(topic = %t, "Sparkplug: unknown alias; rebirth requested"),
                            Err(e) => tracing::warn!(topic = %t, error = %e, "Sparkplug: cannot request a rebirth"),
                        }
                    }
                    if samples.is_empty() {
                        // Nothing to store (malformed, counted and logged above, or nothing
                        // to ingest): acknowledged so it does not come back.
                        acks.push(ack, true);
                        continue;
                    }
                    SourceCounters::add(&counters.samples, samples.len() as u64);
                    counters.last_success_ms.store(now, Ordering::Relaxed);
                    let token = acks.push(ack, false);
                    let commit = Commit::new(done_tx.clone(), token);
                    // While the loop is busy the broker's session holds the backlog; this
                    // send only waits for room in the channel.
                    if tx.send(Batch { samples, commit: Some(commit) }).await.is_err() {
                        SourceCounters::add(&counters.dropped, 1);
                    }
                }
                Ok(_) => {}
                Err(e) => break e,
            }
        };
        counters.connected.store(0, Ordering::Relaxed);
        SourceCounters::add(&counters.transport_errors, 1);
        let delay = backoff.next_delay();
        counters.backoff_ms.store(delay.as_millis() as u64, Ordering::Relaxed);
        match client::refusal(&err) {
            Some(why) => tracing::warn!(error = %err, retry_ms = delay.as_millis() as u64,
                "MQTT ingest: the broker refused the connection: {why}"),
            None => tracing::warn!(error = %err, retry_ms = delay.as_millis() as u64, "MQTT ingest: connection lost"),
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = cancel.cancelled() => return,
        }
        counters.backoff_ms.store(0, Ordering::Relaxed);
    }
}

/// Shutdown: stop taking messages, wait (up to 5 s) for the loop to commit what was handed
/// to it, send those PUBACKs, then disconnect. Anything still unacknowledged stays in the
/// broker's session and comes again at the next start.
async fn drain_and_disconnect(mut conn: Conn, acks: &mut Acks, done_rx: &mut mpsc::UnboundedReceiver<u64>) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    // Messages arriving now are not handed on and not acknowledged (the broker re-sends
    // them next session); the queue holds only messages handed on before, which all become
    // ready once the loop commits them.
    loop {
        acks.flush(&conn);
        if acks.queue.is_empty() {
            break;
        }
        tokio::select! {
            Some(t) = done_rx.recv() => acks.ready(t),
            r = conn.poll() => if r.is_err() { return },
            _ = tokio::time::sleep_until(deadline) => break,
        }
    }
    // DISCONNECT goes through the same request queue, after the PUBACKs.
    conn.disconnect().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(topic: &str, point: &str, format: PayloadFormat, value: &str, ts: &str) -> SubscriptionConfig {
        SubscriptionConfig {
            topic: topic.into(),
            point: point.into(),
            format,
            value: value.into(),
            timestamp: ts.into(),
            ..toml::from_str("topic = \"x\"\npoint = \"x.y\"").unwrap()
        }
    }

    #[test]
    fn a_seq_gap_asks_the_node_for_a_rebirth() {
        use sparkplug::{datatype, Metric, Payload, Value};
        let s = sub("spBv1.0/G/#", "spb.{metric}", PayloadFormat::SparkplugB, "", "");
        let msg = |seq: u64| {
            let m = Metric {
                name: Some("T".into()),
                datatype: Some(datatype::DOUBLE),
                value: Some(Value::DoubleValue(1.0)),
                ..Default::default()
            };
            sparkplug::encode(&Payload { seq: Some(seq), metrics: vec![m], ..Default::default() })
        };
        let mut h = host::HostState::in_memory();
        for (kind, seq) in [("NBIRTH", 0), ("NDATA", 1), ("NDATA", 2), ("NBIRTH", 0), ("NDATA", 1)] {
            parse(&s, &[], &format!("spBv1.0/G/{kind}/N"), &msg(seq), NOW, &mut h);
        }
        assert!(h.take_rebirths(NOW).is_empty(), "in order, and an NBIRTH starts over");
        parse(&s, &[], "spBv1.0/G/NDATA/N", &msg(5), NOW, &mut h);
        assert_eq!(h.take_rebirths(NOW), vec![("G".to_string(), "N".to_string())]);
        // 255 -> 0 is in order.
        parse(&s, &[], "spBv1.0/G/NDATA/N", &msg(255), NOW + 60_000, &mut h);
        h.take_rebirths(NOW + 60_000);
        parse(&s, &[], "spBv1.0/G/NDATA/N", &msg(0), NOW + 120_000, &mut h);
        assert!(h.take_rebirths(NOW + 120_000).is_empty());
    }

    #[test]
    fn filters_match_and_capture() {
        assert_eq!(match_filter("a/+/c", "a/b/c"), Some(vec!["b".to_string()]));
        assert_eq!(match_filter("a/#", "a/b/c"), Some(vec!["b/c".to_string()]));
        assert_eq!(match_filter("a/+/c", "a/b/d"), None);
        assert_eq!(match_filter("a/+", "a/b/c"), None);
        assert_eq!(match_filter("a/b", "a/b"), Some(vec![]));
    }

    const NOW: i64 = 1_780_000_000_000;

    #[test]
    fn json_paths_and_timestamps() {
        let s = sub("x", "j.v", PayloadFormat::Json, "data.0.v", "data.0.ts");
        let (ok, errs) = parse(
            &s,
            &[],
            "x",
            br#"{"data":[{"v":2.5,"ts":"2026-01-01T00:00:00Z"}]}"#,
            NOW,
            &mut host::HostState::in_memory(),
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!((ok[0].value, ok[0].ts_ms), (Some(2.5), 1_767_225_600_000));
        let (_, errs) = parse(
            &s,
            &[],
            "x",
            br#"{"data":[{"v":"hot","ts":1767225600000}]}"#,
            NOW,
            &mut host::HostState::in_memory(),
        );
        assert_eq!(errs[0].kind, "not_a_number");
        let (_, errs) =
            parse(&s, &[], "x", br#"{"data":[{"v":1,"ts":"yesterday"}]}"#, NOW, &mut host::HostState::in_memory());
        assert_eq!(errs[0].kind, "bad_timestamp");
    }

    #[test]
    fn timestamps_past_year_9999_or_before_1970_are_malformed() {
        // Issue 13 item 2: year 10000 reached the renderer and panicked the daemon.
        let s = sub("x", "j.v", PayloadFormat::Json, "v", "ts");
        for ts in ["253402300800000", "-1", "9223372036854775807"] {
            let body = format!(r#"{{"v":61,"ts":{ts}}}"#);
            let (ok, errs) = parse(&s, &[], "x", body.as_bytes(), 5, &mut host::HostState::in_memory());
            assert!(ok.is_empty(), "{ts}: {ok:?}");
            assert_eq!(errs[0].kind, "bad_timestamp", "{ts}");
            assert!(errs[0].reason.contains(ts), "{}", errs[0].reason);
        }
    }
}
