//! The MQTT publish sink with store-and-forward. The daemon loop hands it the samples as
//! they arrive (telemetry, after `telemetry_linger_ms`) and each evaluation pass (finding and
//! state messages, `payload`); it commits them to the outbox (`store::outbox`) and wakes the
//! sender (`sender`), which publishes them in order and deletes each only after its PUBACK.
//!
//! Per-stream rate limits: telemetry and state are per asset, at most one message per
//! `telemetry_interval_ms` / `state_interval_ms` (the latest values win; every sample is in
//! the store anyway); state is sent only when it changes. Findings are never rate limited.

pub mod dcmd;
pub mod info;
pub mod payload;
pub mod sender;
pub mod sparkplug;

use crate::config::Config;
use crate::diagnose::Assessment;
use crate::pipeline::Pipeline;
use crate::status::{ComponentRole, ComponentStatus};
use crate::store::outbox::{MessageClass, NewMessage, Outbox, OutboxError, OutboxStats};
use crate::store::{Store, StoreError};
use payload::Topics;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Client(#[from] crate::mqtt::client::ClientError),
}

/// Counters and fill level, shared with the API and `edgecite status`.
#[derive(Default)]
pub struct MqttStatus {
    pub broker: String,
    pub connected: AtomicBool,
    pub connects: AtomicU64,
    pub connection_errors: AtomicU64,
    pub enqueued: AtomicU64,
    pub sent: AtomicU64,
    pub acked: AtomicU64,
    pub replayed: AtomicU64,
    /// Telemetry values replaced by a newer one of the same role before a message carried
    /// them (the per-asset `telemetry_interval_ms` limit); every sample is in the store.
    pub telemetry_superseded: AtomicU64,
    pub outbox: Mutex<OutboxStats>,
    pub last_error: Mutex<Option<String>>,
    /// The Sparkplug B session's own counters and outbox, when enabled.
    pub sparkplug: Option<Arc<MqttStatus>>,
}

/// The MQTT connection and its outbox, as `GET /api/v1/outbox` and `/healthz` answer it.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct MqttStatusView {
    pub broker: String,
    pub connected: bool,
    pub connects: u64,
    pub connection_errors: u64,
    pub enqueued: u64,
    pub sent: u64,
    pub acked: u64,
    pub replayed: u64,
    /// Telemetry values superseded before they were sent (`telemetry_interval_ms`).
    pub telemetry_superseded: u64,
    pub last_error: Option<String>,
    pub outbox: OutboxStats,
    /// `bytes / quota_bytes`, 0 to 1 (above 1 only when findings alone exceed the quota).
    pub outbox_fill: f64,
    /// The Sparkplug B connection, when configured (same fields).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(no_recursion)]
    pub sparkplug: Option<Box<MqttStatusView>>,
}

impl MqttStatus {
    pub fn view(&self) -> MqttStatusView {
        let outbox = *self.outbox.lock().unwrap_or_else(|p| p.into_inner());
        MqttStatusView {
            broker: self.broker.clone(),
            connected: self.connected.load(Ordering::Relaxed),
            connects: self.connects.load(Ordering::Relaxed),
            connection_errors: self.connection_errors.load(Ordering::Relaxed),
            enqueued: self.enqueued.load(Ordering::Relaxed),
            sent: self.sent.load(Ordering::Relaxed),
            acked: self.acked.load(Ordering::Relaxed),
            replayed: self.replayed.load(Ordering::Relaxed),
            telemetry_superseded: self.telemetry_superseded.load(Ordering::Relaxed),
            last_error: self.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            outbox_fill: if outbox.quota_bytes > 0 { outbox.bytes as f64 / outbox.quota_bytes as f64 } else { 0.0 },
            outbox,
            sparkplug: self.sparkplug.as_ref().map(|s| Box::new(s.view())),
        }
    }
}

impl MqttStatusView {
    /// The sink as components: `mqtt`, and `sparkplug` when configured. Not connected, it
    /// is not healthy: findings and telemetry wait in the outbox and the plant does not see
    /// them.
    pub fn components(&self) -> Vec<ComponentStatus> {
        let one = |id: &str, what: &str, v: &MqttStatusView| ComponentStatus {
            id: id.to_string(),
            role: ComponentRole::Sink,
            kind: "mqtt".into(),
            healthy: v.connected,
            problem: (!v.connected).then(|| {
                format!(
                    "{what} not connected to {} ({} message(s) waiting in the outbox{})",
                    v.broker,
                    v.outbox.messages,
                    v.last_error.as_ref().map(|e| format!("; last error: {e}")).unwrap_or_default()
                )
            }),
            received: v.enqueued,
            sent: v.acked,
            errors: v.connection_errors,
            dropped: v.outbox.dropped_telemetry,
        };
        std::iter::once(one("mqtt", "MQTT sink", self))
            .chain(self.sparkplug.as_deref().map(|s| one("sparkplug", "Sparkplug sink", s)))
            .collect()
    }

    /// `edgecite status`: the MQTT lines.
    pub fn print_status(m: Option<&MqttStatusView>) {
        let Some(m) = m else {
            println!("mqtt: off");
            return;
        };
        let o = &m.outbox;
        println!(
            "mqtt {} {}: {} connects, {} sent, {} acked, {} replayed; outbox {} messages, {} of {} bytes ({:.1} %), {} telemetry dropped",
            m.broker,
            if m.connected { "up" } else { "down" },
            m.connects,
            m.sent,
            m.acked,
            m.replayed,
            o.messages,
            o.bytes,
            o.quota_bytes,
            m.outbox_fill * 100.0,
            o.dropped_telemetry,
        );
        if let Some(e) = &m.last_error {
            println!("mqtt last error: {e}");
        }
    }
}

/// The producer side, owned by the daemon loop.
pub struct MqttSink {
    outbox: Arc<Mutex<Outbox>>,
    wake: Arc<Notify>,
    pub status: Arc<MqttStatus>,
    topics: Topics,
    site: String,
    gateway: String,
    telemetry_every_ms: i64,
    telemetry_linger_ms: i64,
    state_every_ms: i64,
    /// asset -> (time of the last message, newest sample time it carried)
    last_telemetry: HashMap<String, (i64, i64)>,
    /// Assets (pipeline index) with samples not yet in a telemetry message: since when, and
    /// which roles have an unsent value.
    pending_telemetry: std::collections::BTreeMap<usize, (i64, std::collections::BTreeSet<usize>)>,
    /// asset -> (time of the last message, content key)
    last_state: HashMap<String, (i64, String)>,
    /// Sessions seen: a new one republishes every asset's retained state, because a broker
    /// that restarted without persistence has lost it.
    seen_connects: u64,
    spb: Option<SparkplugProducer>,
    /// What the gateway runs (set by the daemon at start and on a reload), and whether
    /// `_gateway/info` is to be published with the next pass (it changed, or a new session).
    runs: Option<info::Runs>,
    info_due: bool,
    /// The newest logged error the last info carried (its time), and when that info was
    /// queued: a new error is published with the info at most once a minute.
    info_error_ms: Option<i64>,
    info_sent_ms: i64,
    /// Deploy requests from the broker (`[fleet] accept_deploys`), for the daemon loop.
    deploys: Option<tokio::sync::mpsc::Receiver<sender::DeployRequest>>,
}

/// The producer side of the Sparkplug B session.
struct SparkplugProducer {
    outbox: Arc<Mutex<Outbox>>,
    wake: Arc<Notify>,
    devices: Arc<Mutex<sparkplug::Devices>>,
    /// Lets the session start once the first evaluation has named every metric.
    ready: Arc<Notify>,
    group: String,
    node: String,
    started: bool,
    status: Arc<MqttStatus>,
    /// What the gateway runs, shared with the session for its NBIRTH.
    runs: Arc<Mutex<Option<info::Runs>>>,
}

const FINDING_CURSOR: &str = "finding_event_cursor";
/// A newly logged error is published on `_gateway/info` at most this often.
const INFO_ERROR_EVERY_MS: i64 = 60_000;

impl MqttSink {
    /// Open the outbox and start the sender task. `None` when `[mqtt] enabled = false`.
    pub fn start(
        config: &Config,
        tasks: &mut tokio::task::JoinSet<()>,
        cancel: CancellationToken,
    ) -> Result<Option<MqttSink>, MqttError> {
        if !config.mqtt.enabled {
            tracing::info!("MQTT off ([mqtt] enabled = false): nothing is published");
            return Ok(None);
        }
        let m = &config.mqtt;
        let path = m.outbox_path(&config.store.path);
        let outbox = Outbox::open(&path, m.outbox.quota_bytes)?;
        let stats = outbox.stats();
        tracing::info!(outbox = %path.display(), queued = stats.messages, bytes = stats.bytes, quota = stats.quota_bytes,
            "MQTT outbox open (synchronous = FULL)");
        let client_id = m.client_id_for(&config.site.id, &config.site.gateway);
        let tls = crate::mqtt::client::ClientTls::new(m.tls.as_ref())?;
        let spb = if m.sparkplug.enabled {
            let spath = path.with_file_name("sparkplug.db");
            let so = Arc::new(Mutex::new(Outbox::open(&spath, m.outbox.quota_bytes)?));
            let sstatus = Arc::new(MqttStatus {
                broker: format!("{}:{}", m.host, m.port),
                outbox: Mutex::new(so.lock().unwrap_or_else(|p| p.into_inner()).stats()),
                ..Default::default()
            });
            let node = if m.sparkplug.edge_node_id.is_empty() {
                config.site.gateway.clone()
            } else {
                m.sparkplug.edge_node_id.clone()
            };
            let devices = Arc::new(Mutex::new(sparkplug::Devices::new()));
            let runs = Arc::new(Mutex::new(None));
            let (wake, ready) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
            let proto = sparkplug::SparkplugProtocol::new(&m.sparkplug.group_id, &node, so.clone(), devices.clone())
                .with_primary_host(&m.sparkplug.primary_host_id)
                .with_dcmd(dcmd::Dcmd::from_config(config))
                .with_runs(runs.clone());
            // Births and data at QoS 0, as the specification asks.
            let mut scfg = m.clone();
            scfg.qos = 0;
            let s = sender::Sender::new(
                scfg,
                String::new(),
                config.site.id.clone(),
                config.site.gateway.clone(),
                tls.clone(),
                so.clone(),
                wake.clone(),
                sstatus.clone(),
            )
            .with_protocol(format!("{client_id}-spb"), Box::new(proto));
            let (r, c) = (ready.clone(), cancel.clone());
            tasks.spawn(async move {
                tokio::select! {
                    _ = r.notified() => s.run(c).await,
                    _ = c.cancelled() => {}
                }
            });
            tracing::info!(group = %m.sparkplug.group_id, node = %node, outbox = %spath.display(), "Sparkplug B edge node on");
            Some((
                SparkplugProducer {
                    outbox: so,
                    wake,
                    devices,
                    ready,
                    group: m.sparkplug.group_id.clone(),
                    node,
                    started: false,
                    status: sstatus.clone(),
                    runs,
                },
                sstatus,
            ))
        } else {
            None
        };
        let status = Arc::new(MqttStatus {
            broker: format!("{}:{}", m.host, m.port),
            outbox: Mutex::new(stats),
            sparkplug: spb.as_ref().map(|(_, s)| s.clone()),
            ..Default::default()
        });
        let outbox = Arc::new(Mutex::new(outbox));
        let wake = Arc::new(Notify::new());
        let topics = Topics::new(&m.topic_prefix, &config.site.id, &config.site.gateway);
        let mut s = sender::Sender::new(
            m.clone(),
            client_id,
            config.site.id.clone(),
            config.site.gateway.clone(),
            tls,
            outbox.clone(),
            wake.clone(),
            status.clone(),
        );
        let mut deploys = None;
        if config.fleet.accept_deploys {
            let (tx, rx) = tokio::sync::mpsc::channel(4);
            s = s.with_deploys(tx);
            tracing::info!(topic = %topics.gateway("cmd/deploy"), trust = %config.fleet.trust_dir.display(),
                "deploys accepted (signed bundles only)");
            deploys = Some(rx);
        }
        tasks.spawn(s.run(cancel));
        Ok(Some(MqttSink {
            outbox,
            wake,
            status,
            topics,
            site: config.site.id.clone(),
            gateway: config.site.gateway.clone(),
            telemetry_every_ms: m.telemetry_interval_ms as i64,
            telemetry_linger_ms: m.telemetry_linger_ms as i64,
            state_every_ms: m.state_interval_ms as i64,
            last_telemetry: HashMap::new(),
            pending_telemetry: Default::default(),
            last_state: HashMap::new(),
            seen_connects: 0,
            spb: spb.map(|(p, _)| p),
            runs: None,
            info_due: false,
            info_error_ms: None,
            info_sent_ms: 0,
            deploys,
        }))
    }

    /// The deploy requests' receiver, for the daemon loop (once).
    pub fn take_deploys(&mut self) -> Option<tokio::sync::mpsc::Receiver<sender::DeployRequest>> {
        self.deploys.take()
    }

    /// Queue a deploy's outcome: on `…/_gateway/deploy`, and as a reply on the request's
    /// response topic (MQTT 5 correlation data, or the 3.1.1 request's `correlation`).
    pub fn queue_outcome(&self, o: &crate::fleet::deploy::Outcome) -> Result<(), MqttError> {
        let bytes = serde_json::to_vec(&payload::deploy(&self.site, &self.gateway, o)).expect("json");
        let mut msgs = vec![NewMessage {
            class: MessageClass::State,
            topic: self.topics.gateway("deploy"),
            payload: bytes.clone(),
            retain: false,
            created_ms: o.ts_ms,
        }];
        if let Some(t) = &o.reply.topic {
            msgs.push(NewMessage {
                class: MessageClass::Reply,
                topic: t.clone(),
                payload: bytes,
                retain: false,
                created_ms: o.ts_ms,
            });
        }
        self.enqueue(&msgs, &[])
    }

    /// Commit messages to the outbox (one transaction) and wake the sender. This is the
    /// point where a message is accepted: once it returns Ok the message survives a crash.
    pub fn enqueue(&self, msgs: &[NewMessage], meta: &[(&str, i64)]) -> Result<(), MqttError> {
        let mut o = self.outbox.lock().unwrap_or_else(|p| p.into_inner());
        let dropped = o.enqueue(msgs, meta)?;
        if dropped > 0 && o.quota_log_due() {
            tracing::warn!(
                dropped,
                total = o.dropped_telemetry(),
                "outbox quota reached: oldest telemetry dropped (logged once a minute at most)"
            );
        }
        *self.status.outbox.lock().unwrap_or_else(|p| p.into_inner()) = o.stats();
        drop(o);
        self.status.enqueued.fetch_add(msgs.len() as u64, Ordering::Relaxed);
        self.wake.notify_one();
        Ok(())
    }

    pub fn topics(&self) -> &Topics {
        &self.topics
    }

    /// What the gateway runs now: a change is published on `_gateway/info` with the next
    /// evaluation pass.
    pub fn set_runs(&mut self, runs: info::Runs) {
        if self.runs.as_ref() != Some(&runs) {
            if let Some(sp) = &mut self.spb {
                sp.set_runs(&runs);
            }
            self.runs = Some(runs);
            self.info_due = true;
        }
    }

    /// Samples arrived (one poll, one MQTT message): their assets' telemetry is due once
    /// the linger has passed and the asset's `telemetry_interval_ms` allows. A value that a
    /// newer one of the same role replaces before it was sent is counted as superseded.
    pub fn on_ingest(&mut self, pipeline: &Pipeline, samples: &[crate::sample::Sample], now_ms: i64) {
        let mut superseded = 0;
        for s in samples {
            for &(a, r) in pipeline.routes_of(&s.point) {
                let (_, roles) = self.pending_telemetry.entry(a).or_insert_with(|| (now_ms, Default::default()));
                if !roles.insert(r) {
                    superseded += 1;
                }
            }
        }
        if superseded > 0 {
            self.status.telemetry_superseded.fetch_add(superseded, Ordering::Relaxed);
        }
    }

    /// When the earliest pending telemetry message is due (Unix ms).
    pub fn telemetry_due_ms(&self, pipeline: &Pipeline) -> Option<i64> {
        self.pending_telemetry.iter().map(|(&a, &(since, _))| self.telemetry_due_at(pipeline, a, since)).min()
    }

    fn telemetry_due_at(&self, pipeline: &Pipeline, asset: usize, since: i64) -> i64 {
        let allowed = pipeline
            .assets()
            .get(asset)
            .and_then(|a| self.last_telemetry.get(&a.id))
            .map_or(i64::MIN, |(sent, _)| sent + self.telemetry_every_ms);
        (since + self.telemetry_linger_ms).max(allowed)
    }

    /// Queue the telemetry that is due, in one outbox commit: the latest value of each role
    /// of the asset.
    pub fn flush_telemetry(&mut self, pipeline: &Pipeline, now_ms: i64) -> Result<(), MqttError> {
        let due: Vec<usize> = self
            .pending_telemetry
            .iter()
            .filter(|(&a, &(since, _))| self.telemetry_due_at(pipeline, a, since) <= now_ms)
            .map(|(&a, _)| a)
            .collect();
        let mut msgs = Vec::new();
        for a in due {
            self.pending_telemetry.remove(&a);
            let Some(asset) = pipeline.assets().get(a) else { continue };
            let Some(newest) = asset.roles.iter().filter_map(|r| r.latest().map(|s| s.ts_ms)).max() else { continue };
            if self.last_telemetry.get(&asset.id).is_some_and(|(_, carried)| newest <= *carried) {
                continue;
            }
            let p = payload::telemetry(&self.site, &self.gateway, asset, now_ms);
            msgs.push(NewMessage {
                class: MessageClass::Telemetry,
                topic: self.topics.asset(&asset.id, "telemetry"),
                payload: serde_json::to_vec(&p).expect("json values serialise"),
                retain: false,
                created_ms: now_ms,
            });
            self.last_telemetry.insert(asset.id.clone(), (now_ms, newest));
        }
        if msgs.is_empty() {
            return Ok(());
        }
        self.enqueue(&msgs, &[])
    }

    /// After an evaluation pass (and after `record` stored the finding transitions): queue the
    /// retained state within its rate limit, and every new finding event.
    pub fn after_evaluation(
        &mut self,
        store: &Store,
        pipeline: &Pipeline,
        assessments: &[Assessment],
        now_ms: i64,
    ) -> Result<(), MqttError> {
        let mut msgs = Vec::new();
        let json = |v: &serde_json::Value| serde_json::to_vec(v).expect("json values serialise");
        let connects = self.status.connects.load(Ordering::Relaxed);
        if connects != self.seen_connects {
            if self.seen_connects > 0 {
                tracing::info!("MQTT: new session; the retained state of every asset is published again");
            }
            self.seen_connects = connects;
            self.last_state.clear();
            self.info_due = true;
        }
        let error_ms = crate::status::last_error().map(|e| e.ts_ms);
        if error_ms != self.info_error_ms && now_ms - self.info_sent_ms >= INFO_ERROR_EVERY_MS {
            self.info_due = true;
        }
        if let Some(runs) = self.runs.as_ref().filter(|_| self.info_due) {
            let p = info::Info::new(&self.site, &self.gateway, runs, now_ms);
            self.info_error_ms = p.last_error.as_ref().map(|e| e.ts_ms);
            self.info_sent_ms = now_ms;
            msgs.push(NewMessage {
                class: MessageClass::State,
                topic: self.topics.gateway("info"),
                payload: serde_json::to_vec(&p).expect("info serialises"),
                retain: true,
                created_ms: now_ms,
            });
            self.info_due = false;
        }
        for asset in pipeline.assets() {
            let mine: Vec<&Assessment> = assessments.iter().filter(|a| a.asset == asset.id).collect();
            if !mine.is_empty() {
                let (p, key) = payload::state(&self.site, &self.gateway, asset, &mine, now_ms);
                let due = match self.last_state.get(&asset.id) {
                    Some((sent, k)) => *k != key && now_ms - sent >= self.state_every_ms,
                    None => true,
                };
                if due {
                    msgs.push(NewMessage {
                        class: MessageClass::State,
                        topic: self.topics.asset(&asset.id, "state"),
                        payload: json(&p),
                        retain: true,
                        created_ms: now_ms,
                    });
                    self.last_state.insert(asset.id.clone(), (now_ms, key));
                }
            }
        }
        if let Some(sp) = &mut self.spb {
            sp.after_evaluation(pipeline, assessments, now_ms)?;
        }
        let cursor = self.outbox.lock().unwrap_or_else(|p| p.into_inner()).meta(FINDING_CURSOR)?;
        let events = store.finding_events_after(cursor, 500)?;
        let new_cursor = events.last().map(|e| e.event_id);
        for e in &events {
            msgs.push(NewMessage {
                class: MessageClass::Finding,
                topic: self.topics.asset(&e.finding.asset, "finding"),
                payload: json(&payload::finding(&self.site, &self.gateway, e)),
                retain: false,
                created_ms: now_ms,
            });
        }
        if msgs.is_empty() {
            return Ok(());
        }
        match new_cursor {
            Some(c) => self.enqueue(&msgs, &[(FINDING_CURSOR, c)]),
            None => self.enqueue(&msgs, &[]),
        }
    }
}

impl SparkplugProducer {
    /// What the gateway runs now, for the NBIRTH. A change once the session may have been
    /// born is a rebirth (queued after the data before it).
    fn set_runs(&mut self, runs: &info::Runs) {
        let before = self.runs.lock().unwrap_or_else(|p| p.into_inner()).replace(runs.clone());
        if before.is_none() || !self.started {
            return;
        }
        let devices = self.devices.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let msgs = sparkplug::rebirth(&self.group, &self.node, &devices, crate::time::now_ms());
        let mut o = self.outbox.lock().unwrap_or_else(|p| p.into_inner());
        match o.enqueue(&msgs, &[]) {
            Ok(_) => {
                *self.status.outbox.lock().unwrap_or_else(|p| p.into_inner()) = o.stats();
                drop(o);
                self.status.enqueued.fetch_add(msgs.len() as u64, Ordering::Relaxed);
                self.wake.notify_one();
            }
            Err(e) => tracing::error!(error = %e, "Sparkplug: cannot queue the rebirth for a change in what runs"),
        }
    }

    /// Update the devices' current metrics and queue a DDATA per device with what changed.
    fn after_evaluation(
        &mut self,
        pipeline: &Pipeline,
        assessments: &[Assessment],
        now_ms: i64,
    ) -> Result<(), MqttError> {
        let mut msgs = Vec::new();
        {
            let mut devices = self.devices.lock().unwrap_or_else(|p| p.into_inner());
            for asset in pipeline.assets() {
                let mine: Vec<&Assessment> = assessments.iter().filter(|a| a.asset == asset.id).collect();
                let now = sparkplug::device_state(asset, &mine);
                let (kind, change) = match sparkplug::transition(devices.get(&asset.id), &now, now_ms) {
                    sparkplug::Transition::Data(Some(c)) => ("DDATA", Some(c)),
                    sparkplug::Transition::Birth(c) => {
                        tracing::info!(device = %asset.id, "Sparkplug: device data is back; DBIRTH");
                        ("DBIRTH", Some(c))
                    }
                    sparkplug::Transition::Death => {
                        tracing::warn!(device = %asset.id, "Sparkplug: every value of the device is a comm_error; DDEATH");
                        let c = sparkplug::Change {
                            ts: now_ms,
                            metrics: Default::default(),
                            quality: Default::default(),
                            units: Default::default(),
                        };
                        ("DDEATH", Some(c))
                    }
                    sparkplug::Transition::Data(None) | sparkplug::Transition::Nothing => ("", None),
                };
                if let Some(change) = change {
                    msgs.push(NewMessage {
                        // Births and deaths are never dropped by the quota; data may be.
                        class: if kind == "DDATA" { MessageClass::Telemetry } else { MessageClass::State },
                        topic: sparkplug::SparkplugProtocol::topic(&self.group, kind, &self.node, Some(&asset.id)),
                        payload: serde_json::to_vec(&change).expect("json"),
                        retain: false,
                        created_ms: now_ms,
                    });
                }
                devices.insert(asset.id.clone(), now);
            }
        }
        if !self.started {
            self.started = true;
            self.ready.notify_one();
        }
        if !msgs.is_empty() {
            let mut o = self.outbox.lock().unwrap_or_else(|p| p.into_inner());
            o.enqueue(&msgs, &[])?;
            *self.status.outbox.lock().unwrap_or_else(|p| p.into_inner()) = o.stats();
            drop(o);
            self.status.enqueued.fetch_add(msgs.len() as u64, Ordering::Relaxed);
            self.wake.notify_one();
        }
        Ok(())
    }
}
