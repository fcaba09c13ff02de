//! The sender: one task that keeps a broker session and drains the outbox.
//!
//! Per session: connect (back-off between attempts, doubling up to `reconnect_max_ms`),
//! publish the retained online status (the will says offline), queue the dropped-telemetry
//! metric if it changed, then send. Messages already in the outbox when the session
//! started are the backlog: replayed in id order at most `replay_per_s` per second, with
//! `replay: true`. Messages queued during the session are live: sent in id order at once.
//! At most `max_inflight` are unacknowledged: rows are read from the outbox in batches into
//! a read-ahead and published from it whenever the window has room (after every PUBACK, not
//! after a quarter of the window). rumqttc reports each PUBLISH it writes
//! (`Sent(pkid)`, in request order), so packet ids map back to outbox ids; a PUBACK deletes
//! the row (grouped into one transaction per batch). When the session breaks, rows not yet
//! acknowledged stay and are replayed in the next one (a consumer may see such a message
//! twice: the `dedup_id` says so).

use super::payload::{self, Topics};
use super::MqttStatus;
use crate::config::mqtt::MqttConfig;
use crate::mqtt::client::{Backoff, Conn, Event, Props, Reply, Will};
use crate::store::outbox::{Message, MessageClass, NewMessage, Outbox};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

const ACK_BATCH: usize = 1024;
const FLUSH_EVERY: Duration = Duration::from_millis(20);
/// On a clean stop, how long the session keeps polling for the PUBACKs of messages already
/// sent, so that their rows are deleted and not sent again after the restart.
pub const STOP_DRAIN: Duration = Duration::from_secs(2);
const REPORTED: &str = "dropped_telemetry_reported";

/// What differs between the JSON sink and Sparkplug B: the will, what a session starts
/// with, how a queued message is encoded, and commands from the broker.
pub trait Protocol: Send + 'static {
    /// Called before every connection attempt.
    fn will(&mut self) -> Will;
    /// Publishes at the start of a session; returns how many it made.
    fn on_connected(&mut self, conn: &Conn) -> usize;
    /// The bytes to publish for a queued message; `replay` when it is from the backlog.
    fn encode(&mut self, m: &Message, replay: bool) -> Vec<u8>;
    /// A message on a subscribed topic; returns how many publishes it made.
    fn on_message(&mut self, conn: &Conn, topic: &str, payload: &[u8]) -> usize;
    /// A message with its MQTT 5 request properties (response topic, correlation data).
    fn on_request(&mut self, conn: &Conn, topic: &str, payload: &[u8], _reply: Reply) -> usize {
        self.on_message(conn, topic, payload)
    }
    /// Whether this outbox reports its dropped telemetry as a metric message.
    fn reports_drops(&self) -> bool;
    /// Before a clean disconnect (the broker does not send the will then): say so.
    fn on_shutdown(&mut self, conn: &Conn);
    /// MQTT 5 properties of a queued message (MQTT 3.1.1 drops them).
    fn properties(&self, _m: &Message) -> Props {
        Props::default()
    }
    /// Whether queued messages may be sent now (Sparkplug: not before the births, which
    /// wait for the primary host application to be online).
    fn ready(&self) -> bool {
        true
    }
    /// After `on_message`: end this session with a clean disconnect and connect again
    /// (Sparkplug: the primary host application went offline).
    fn wants_reconnect(&mut self) -> bool {
        false
    }
}

/// The JSON sink: retained online status with an offline will, envelope with dedup id.
pub struct JsonProtocol {
    site: String,
    gateway: String,
    topics: Topics,
    epoch: i64,
    telemetry_expiry_s: u32,
    /// Deploy requests go to the daemon loop (`[fleet] accept_deploys`).
    deploys: Option<tokio::sync::mpsc::Sender<DeployRequest>>,
}

impl JsonProtocol {
    fn new(
        cfg: &MqttConfig,
        site: &str,
        gateway: &str,
        topics: &Topics,
        epoch: i64,
        deploys: Option<tokio::sync::mpsc::Sender<DeployRequest>>,
    ) -> JsonProtocol {
        JsonProtocol {
            site: site.into(),
            gateway: gateway.into(),
            topics: topics.clone(),
            epoch,
            telemetry_expiry_s: cfg.telemetry_expiry_s,
            deploys,
        }
    }
}

/// The correlation data a reply echoes (its payload's `reply.correlation`, base64).
fn reply_correlation(payload: &[u8]) -> Option<Vec<u8>> {
    let v: serde_json::Value = serde_json::from_slice(payload).ok()?;
    let c = v.get("reply")?.get("correlation")?.as_str()?;
    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, c).ok()
}

/// A message on `…/_gateway/cmd/deploy`, for the daemon loop.
pub struct DeployRequest {
    pub payload: Vec<u8>,
    pub reply: Reply,
}

impl Protocol for JsonProtocol {
    fn will(&mut self) -> Will {
        Will {
            topic: self.topics.gateway("status"),
            payload: serde_json::to_vec(&payload::status(&self.site, &self.gateway, false, crate::time::now_ms()))
                .expect("json"),
            retain: true,
            qos: None,
        }
    }

    fn on_connected(&mut self, conn: &Conn) -> usize {
        if self.deploys.is_some() {
            if let Err(e) = conn.try_subscribe(&self.topics.gateway("cmd/deploy"), 1) {
                tracing::warn!(error = %e, "cannot subscribe to deploy requests");
            }
        }
        let online = payload::status(&self.site, &self.gateway, true, crate::time::now_ms());
        match conn.try_publish(&self.topics.gateway("status"), 1, true, serde_json::to_vec(&online).expect("json")) {
            Ok(()) => 1,
            Err(e) => {
                tracing::warn!(error = %e, "cannot publish the online status");
                0
            }
        }
    }

    /// MQTT 5: `content-type: application/json`, UTF-8 payload, user property `schema`
    /// (`edgecite/v1/{kind}`), and telemetry expires after `telemetry_expiry_s` when set.
    fn properties(&self, m: &Message) -> Props {
        let kind = m.topic.rsplit('/').next().unwrap_or("");
        Props {
            content_type: Some("application/json".into()),
            utf8: true,
            expiry_s: (m.class == MessageClass::Telemetry && self.telemetry_expiry_s > 0)
                .then_some(self.telemetry_expiry_s),
            user: vec![("schema".into(), format!("edgecite/v1/{kind}")), ("gateway".into(), self.gateway.clone())],
            correlation: (m.class == MessageClass::Reply).then(|| reply_correlation(&m.payload)).flatten(),
        }
    }

    fn encode(&mut self, m: &Message, replay: bool) -> Vec<u8> {
        payload::envelope(self.epoch, m.id, replay, &m.payload)
    }

    fn on_message(&mut self, conn: &Conn, topic: &str, payload: &[u8]) -> usize {
        self.on_request(conn, topic, payload, Reply::default())
    }

    fn on_request(&mut self, _: &Conn, topic: &str, payload: &[u8], reply: Reply) -> usize {
        match &self.deploys {
            Some(tx) if topic == self.topics.gateway("cmd/deploy") => {
                tracing::info!(%topic, bytes = payload.len(), "deploy request received");
                if tx.try_send(DeployRequest { payload: payload.to_vec(), reply }).is_err() {
                    tracing::warn!(%topic, "deploy request not taken: another one is being handled; send it again later");
                }
            }
            _ => tracing::warn!(%topic, "message on a topic this sink does not handle; ignored"),
        }
        0
    }

    fn reports_drops(&self) -> bool {
        true
    }

    fn on_shutdown(&mut self, conn: &Conn) {
        let w = self.will();
        if let Err(e) = conn.try_publish(&w.topic, 1, true, w.payload) {
            tracing::warn!(error = %e, "cannot publish the offline status");
        }
    }
}

pub struct Sender {
    cfg: MqttConfig,
    client_id: String,
    site: String,
    gateway: String,
    topics: Topics,
    tls: crate::mqtt::client::ClientTls,
    outbox: Arc<Mutex<Outbox>>,
    wake: Arc<Notify>,
    status: Arc<MqttStatus>,
    proto: Box<dyn Protocol>,
}

fn lock(o: &Mutex<Outbox>) -> std::sync::MutexGuard<'_, Outbox> {
    o.lock().unwrap_or_else(|p| p.into_inner())
}

enum End {
    Cancelled,
    Broken,
    /// The protocol asked for a new session (clean disconnect first).
    Reconnect,
}

impl Sender {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cfg: MqttConfig,
        client_id: String,
        site: String,
        gateway: String,
        tls: crate::mqtt::client::ClientTls,
        outbox: Arc<Mutex<Outbox>>,
        wake: Arc<Notify>,
        status: Arc<MqttStatus>,
    ) -> Sender {
        let topics = Topics::new(&cfg.topic_prefix, &site, &gateway);
        let epoch = lock(&outbox).epoch();
        let proto = Box::new(JsonProtocol::new(&cfg, &site, &gateway, &topics, epoch, None));
        Sender { cfg, client_id, site, gateway, topics, tls, outbox, wake, status, proto }
    }

    /// The JSON sender, also taking deploy requests (`[fleet] accept_deploys`).
    pub fn with_deploys(mut self, tx: tokio::sync::mpsc::Sender<DeployRequest>) -> Sender {
        let epoch = self.outbox().epoch();
        self.proto = Box::new(JsonProtocol::new(&self.cfg, &self.site, &self.gateway, &self.topics, epoch, Some(tx)));
        self
    }

    /// The same sender with another protocol (Sparkplug B) and its own client id.
    pub fn with_protocol(mut self, client_id: String, proto: Box<dyn Protocol>) -> Sender {
        self.client_id = client_id;
        self.proto = proto;
        self
    }

    fn outbox(&self) -> std::sync::MutexGuard<'_, Outbox> {
        self.outbox.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn note_error(&self, e: String) {
        *self.status.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
    }

    pub async fn run(mut self, cancel: CancellationToken) {
        let mut backoff = Backoff::new(&self.cfg);
        let mut announced_down = false;
        loop {
            if cancel.is_cancelled() {
                return;
            }
            let will = self.proto.will();
            let capacity = self.cfg.max_inflight as usize + 16;
            let mut conn = Conn::new(&self.cfg, &self.client_id, Some(will), capacity, self.tls.for_connect());
            let connected = tokio::select! {
                r = wait_connack(&mut conn) => r,
                _ = cancel.cancelled() => return,
            };
            match connected {
                Ok(()) => {
                    backoff.reset();
                    announced_down = false;
                    self.status.connected.store(true, Ordering::Relaxed);
                    self.status.connects.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(broker = %self.status.broker, client_id = %self.client_id, "MQTT connected");
                    match self.session(&mut conn, &cancel).await {
                        End::Cancelled => {
                            self.proto.on_shutdown(&conn);
                            self.status.connected.store(false, Ordering::Relaxed);
                            conn.disconnect().await;
                            tracing::info!("MQTT disconnected");
                            return;
                        }
                        End::Broken => self.status.connected.store(false, Ordering::Relaxed),
                        End::Reconnect => {
                            self.status.connected.store(false, Ordering::Relaxed);
                            conn.disconnect().await;
                            tracing::info!("MQTT disconnected on the protocol's request; connecting again");
                            tokio::select! {
                                _ = tokio::time::sleep(backoff.next_delay()) => {}
                                _ = cancel.cancelled() => return,
                            }
                        }
                    }
                }
                Err(e) => {
                    self.status.connection_errors.fetch_add(1, Ordering::Relaxed);
                    let delay = backoff.next_delay();
                    let refused = crate::mqtt::client::refusal(&e);
                    if !announced_down {
                        match refused {
                            Some(why) => {
                                tracing::warn!(broker = %self.status.broker, error = %e, retry_ms = delay.as_millis() as u64,
                                "MQTT broker refused the connection: {why}; messages stay in the outbox")
                            }
                            None => {
                                tracing::warn!(broker = %self.status.broker, error = %e, retry_ms = delay.as_millis() as u64,
                                "MQTT broker unreachable; messages stay in the outbox")
                            }
                        }
                        announced_down = true;
                    } else {
                        tracing::debug!(error = %e, retry_ms = delay.as_millis() as u64, "MQTT connect failed");
                    }
                    self.note_error(match refused {
                        Some(why) => format!("{why} ({e})"),
                        None => e,
                    });
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = cancel.cancelled() => return,
                    }
                }
            }
        }
    }

    /// Queue the dropped-telemetry metric when the count changed since it was last queued.
    fn queue_dropped_metric(&self) {
        let mut o = self.outbox();
        let total = o.dropped_telemetry();
        let reported = match o.meta(REPORTED) {
            Ok(v) => v as u64,
            Err(e) => {
                tracing::error!(error = %e, "outbox: cannot read the dropped-telemetry report mark");
                return;
            }
        };
        if total == reported {
            return;
        }
        let now = crate::time::now_ms();
        let p = payload::metrics(&self.site, &self.gateway, &o.stats(), total - reported, now);
        let msg = NewMessage {
            class: MessageClass::Metrics,
            topic: self.topics.gateway("metrics"),
            payload: serde_json::to_vec(&p).expect("json"),
            retain: false,
            created_ms: now,
        };
        match o.enqueue_exempt(&[msg], &[(REPORTED, total as i64)]) {
            Ok(()) => tracing::warn!(
                dropped = total - reported,
                total,
                "outbox dropped telemetry during the outage; metric queued"
            ),
            Err(e) => tracing::error!(error = %e, "outbox: cannot queue the dropped-telemetry metric"),
        }
    }

    async fn session(&mut self, conn: &mut Conn, cancel: &CancellationToken) -> End {
        // The protocol's own publishes are reported as Sent like the others; they map to
        // no outbox row.
        let mut waiting: VecDeque<Option<i64>> = VecDeque::new();
        for _ in 0..self.proto.on_connected(conn) {
            waiting.push_back(None);
        }
        let boundary = match tokio::task::block_in_place(|| self.outbox().last_id()) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "outbox unreadable");
                return End::Broken;
            }
        };
        if self.proto.reports_drops() {
            tokio::task::block_in_place(|| self.queue_dropped_metric());
        }
        // Reads go through their own connection, so they never wait for a commit's fsync.
        let reader = match lock(&self.outbox).reader() {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "outbox unreadable");
                return End::Broken;
            }
        };
        let mut backlog_cursor = 0i64;
        let mut backlog_done = false;
        let mut live_cursor = boundary;
        let mut live_more = true;
        let mut inflight: HashMap<u16, i64> = HashMap::new();
        let mut acked: Vec<i64> = Vec::new();
        // Rows read from the outbox, not yet published (dropped with the session: the rows
        // stay in the outbox and the next session reads them again).
        let mut ahead: VecDeque<(Message, bool)> = VecDeque::new();
        let rate = self.cfg.replay_per_s as f64;
        let mut tokens = rate / 10.0;
        let mut last_refill = tokio::time::Instant::now();
        let mut flush = tokio::time::interval(FLUSH_EVERY);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The window: `max_inflight`, or less when the broker says it takes less (MQTT 5
        // Receive Maximum): more would wait in the client, not at the broker.
        let max = match conn.receive_max {
            Some(r) if r < self.cfg.max_inflight => {
                tracing::info!(
                    receive_max = r,
                    max_inflight = self.cfg.max_inflight,
                    "MQTT: the broker takes at most {r} unacknowledged messages; the window is {r}"
                );
                r as usize
            }
            _ => self.cfg.max_inflight as usize,
        };
        let qos = self.cfg.qos;
        let mut replayed = 0u64;
        let started = std::time::Instant::now();
        // Set on cancel: nothing new is sent; the session ends when every message sent has
        // its PUBACK, or at this deadline.
        let mut drain_until: Option<tokio::time::Instant> = None;
        let end = loop {
            if drain_until.is_some() && waiting.len() + inflight.len() == 0 {
                tracing::info!("MQTT: every message sent was acknowledged before the stop");
                break End::Cancelled;
            }
            // Read the outbox in batches into a read-ahead (when it is below a quarter of
            // the window, up to a window; live first, then the backlog within its rate);
            // publish from it whenever the window has room, so every PUBACK is followed by
            // the next PUBLISH at once.
            if drain_until.is_none() && self.proto.ready() {
                if ahead.len() < max.div_ceil(4) && (live_more || !backlog_done) {
                    let mut room = max - ahead.len();
                    let now = tokio::time::Instant::now();
                    tokens = (tokens + rate * (now - last_refill).as_secs_f64()).min(rate.max(1.0));
                    last_refill = now;
                    let read =
                        |after: i64, until: i64, n: usize| tokio::task::block_in_place(|| reader.read(after, until, n));
                    if live_more {
                        match read(live_cursor, i64::MAX, room) {
                            Ok(rows) => {
                                live_more = rows.len() == room;
                                if let Some(last) = rows.last() {
                                    live_cursor = last.id;
                                }
                                room -= rows.len();
                                ahead.extend(rows.into_iter().map(|m| (m, false)));
                            }
                            Err(e) => tracing::error!(error = %e, "outbox read failed"),
                        }
                    }
                    let allowed = (tokens.floor() as usize).min(room);
                    if !backlog_done && allowed > 0 {
                        match read(backlog_cursor, boundary, allowed) {
                            Ok(rows) => {
                                if rows.len() < allowed {
                                    backlog_done = true;
                                    if boundary > 0 {
                                        tracing::info!(
                                            replayed = replayed + rows.len() as u64,
                                            seconds = started.elapsed().as_secs_f64(),
                                            "MQTT backlog replayed"
                                        );
                                    }
                                }
                                if let Some(last) = rows.last() {
                                    backlog_cursor = last.id;
                                }
                                tokens -= rows.len() as f64;
                                replayed += rows.len() as u64;
                                ahead.extend(rows.into_iter().map(|m| (m, true)));
                            }
                            Err(e) => tracing::error!(error = %e, "outbox read failed"),
                        }
                    }
                }
                while waiting.len() + inflight.len() < max {
                    let Some((m, replay)) = ahead.pop_front() else { break };
                    let body = self.proto.encode(&m, replay);
                    let props = self.proto.properties(&m);
                    if let Err(e) = conn.try_publish_props(&m.topic, qos, m.retain, body, props) {
                        // The request queue is sized above the window; this means the
                        // session is going away. The row stays for the next session.
                        tracing::warn!(error = %e, "publish request refused");
                        break;
                    }
                    waiting.push_back(Some(m.id));
                    if replay {
                        self.status.replayed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            tokio::select! {
                ev = conn.poll() => match ev {
                    Ok(Event::Sent(pkid)) => {
                        self.status.sent.fetch_add(1, Ordering::Relaxed);
                        match waiting.pop_front() {
                            Some(Some(id)) if qos == 0 => acked.push(id),
                            Some(Some(id)) => { inflight.insert(pkid, id); }
                            _ => {}
                        }
                    }
                    Ok(Event::PubAck(pkid)) => {
                        if let Some(id) = inflight.remove(&pkid) {
                            acked.push(id);
                        }
                    }
                    Ok(Event::Message { topic, payload, reply, .. }) => {
                        for _ in 0..self.proto.on_request(conn, &topic, &payload, reply) {
                            waiting.push_back(None);
                        }
                        if self.proto.wants_reconnect() {
                            break End::Reconnect;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, unacked = inflight.len() + waiting.len(),
                            "MQTT connection lost; unacknowledged messages stay in the outbox");
                        self.note_error(e);
                        break End::Broken;
                    }
                },
                _ = self.wake.notified() => { live_more = true; }
                _ = flush.tick() => {
                    // Wakes a paced backlog, and picks up rows queued by other writers.
                    live_more = true;
                    self.flush_acks_background(&mut acked);
                }
                _ = cancel.cancelled(), if drain_until.is_none() => {
                    tracing::info!(unacked = inflight.len() + waiting.len(), wait_ms = STOP_DRAIN.as_millis() as u64,
                        "MQTT: stopping; waiting for the broker to acknowledge the messages in flight");
                    drain_until = Some(tokio::time::Instant::now() + STOP_DRAIN);
                }
                _ = tokio::time::sleep_until(drain_until.unwrap_or_else(tokio::time::Instant::now)), if drain_until.is_some() => {
                    tracing::warn!(unacked = inflight.len() + waiting.len(),
                        "MQTT: stopped before the broker acknowledged every message; those stay in the outbox and are sent again after the restart");
                    break End::Cancelled;
                }
            }
            if acked.len() >= ACK_BATCH {
                self.flush_acks_background(&mut acked);
            }
        };
        self.flush_acks(&mut acked);
        end
    }

    /// Delete acknowledged rows on a blocking thread, so the session keeps polling while
    /// the commit is fsynced. A delete that comes late only risks a duplicate, never a loss.
    fn flush_acks_background(&self, acked: &mut Vec<i64>) {
        if acked.is_empty() {
            return;
        }
        let ids = std::mem::take(acked);
        let (outbox, status) = (self.outbox.clone(), self.status.clone());
        tokio::task::spawn_blocking(move || {
            let mut o = lock(&outbox);
            match o.ack(&ids) {
                Ok(()) => {
                    *status.outbox.lock().unwrap_or_else(|p| p.into_inner()) = o.stats();
                    status.acked.fetch_add(ids.len() as u64, Ordering::Relaxed);
                }
                Err(e) => tracing::error!(error = %e, "outbox: cannot delete acknowledged messages"),
            }
        });
    }

    fn flush_acks(&self, acked: &mut Vec<i64>) {
        if acked.is_empty() {
            return;
        }
        let n = acked.len() as u64;
        tokio::task::block_in_place(|| {
            let mut o = self.outbox();
            match o.ack(acked) {
                Ok(()) => {
                    *self.status.outbox.lock().unwrap_or_else(|p| p.into_inner()) = o.stats();
                    self.status.acked.fetch_add(n, Ordering::Relaxed);
                }
                // The rows stay and are sent again next session: a duplicate, not a loss.
                Err(e) => tracing::error!(error = %e, "outbox: cannot delete acknowledged messages"),
            }
        });
        acked.clear();
    }
}

async fn wait_connack(conn: &mut Conn) -> Result<(), String> {
    loop {
        match conn.poll().await? {
            Event::Connected => return Ok(()),
            _ => continue,
        }
    }
}
