//! Sparkplug B edge node: the gateway is the node, each asset a device.
//!
//! - Its own MQTT session (client id `{client_id}-spb`) and outbox file (`sparkplug.db`
//!   beside the JSON outbox), because the NDEATH must be that session's will.
//! - `bdSeq` (Int64) is kept in the outbox file. Every connection attempt's will carries
//!   the current value; it moves on by one (0-255, wrapping) only once a CONNECT is
//!   accepted (CONNACK), so an outage of many failed attempts costs one step, the NDEATH in
//!   the will and the NBIRTH that follows carry the same value, and a restart continues.
//! - Metric aliases come from the outbox file's `aliases` table: once given, a name keeps
//!   its alias across restarts.
//! - Device metrics: `values/{role}` (Double, properties `engUnit` and `Quality`),
//!   `criteria/{criterion}/status` and `/code` for each verdict (`verdict.<domain>`) and each
//!   of its methods (String: fault, normal or abstain, and the finding code), `criteria/{criterion}/score` (Double, the model's anomaly score when
//!   the evidence has one, else null).
//! - NBIRTH (seq 0), then DBIRTH per live device, then DDATA with the changed metrics only:
//!   aliases only, no datatype (the birth gave it), `Quality` when it changed. `seq` goes
//!   0-255 and wraps. DDATA queued during an outage is replayed after the births with
//!   `is_historical = true`.
//! - Device health: when every role of an asset reads `comm_error` (its Modbus device is
//!   gone) the device gets a DDEATH; when a value comes back, a DBIRTH.
//! - NCMD `Node Control/Rebirth` = true: NBIRTH and DBIRTHs again (same bdSeq, seq from 0).
//! - The NBIRTH carries what the gateway runs (`info::Runs`, the same as the JSON
//!   `_gateway/info`) as node metrics under `Node Info/` (`node_info`). A change of what it
//!   runs (a model reload) is a rebirth through the outbox (`rebirth`: an NBIRTH row and a
//!   DBIRTH row per live device, in order after the data queued before it), because the
//!   metric set changes and an NDATA may carry only metrics its NBIRTH named.
//! - QoS 0 for births and data and QoS 1 for the will, as the specification asks; a DDATA
//!   row leaves the outbox once written to the socket.

use super::info::Runs;
use super::sender::Protocol;
use crate::diagnose::{Assessment, Outcome};
use crate::mqtt::client::{Conn, Will};
use crate::mqtt::sparkplug::{self as spb, datatype, Metric, Payload, Value};
use crate::pipeline::AssetState;
use crate::sample::Quality;
use crate::store::outbox::{Message, MessageClass, NewMessage, Outbox};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

const BDSEQ: &str = "sparkplug_bdseq_next";
const REBIRTH: &str = "Node Control/Rebirth";
/// The folder of the node metrics that say what the gateway runs.
const INFO: &str = "Node Info";
/// Sparkplug 3.0 StringArray: UTF-8 strings, each ended by a NUL, in `bytes_value`.
const STRING_ARRAY: u32 = spb::DataType::StringArray as u32;

/// A `Node Info/` metric's value: a String, a StringArray, a DateTime (ms since the epoch,
/// UTC) or a null String.
#[derive(Debug, Clone, PartialEq)]
pub enum InfoVal {
    Text(String),
    Texts(Vec<String>),
    Time(i64),
    NullText,
}

/// A pack id or model name as one level of a metric path (`/` would open a folder).
fn level(name: &str) -> String {
    name.replace('/', "_")
}

/// The NBIRTH's `Node Info/` metrics: name and value, in a stable order.
pub fn node_info(runs: &Runs) -> Vec<(String, InfoVal)> {
    let t = |s: &str| InfoVal::Text(s.to_string());
    let mut m = vec![
        (format!("{INFO}/Version"), t(&runs.version)),
        (format!("{INFO}/Target"), t(&runs.target)),
        (format!("{INFO}/Config SHA256"), t(&runs.config_sha256)),
        (format!("{INFO}/ONNX Runtime"), runs.onnxruntime.as_deref().map(t).unwrap_or(InfoVal::NullText)),
        (format!("{INFO}/Providers Available"), InfoVal::Texts(runs.providers_available.clone())),
        (format!("{INFO}/Start Time"), InfoVal::Time(runs.started_ms)),
        (format!("{INFO}/Model Errors"), InfoVal::Texts(runs.model_errors.clone())),
    ];
    for p in &runs.packs {
        let dir = format!("{INFO}/Packs/{}", level(&p.id));
        m.push((format!("{dir}/Version"), t(&p.version)));
        m.push((format!("{dir}/SHA256"), t(&p.sha256)));
    }
    for x in &runs.models {
        let dir = format!("{INFO}/Models/{}", level(&x.name));
        m.push((format!("{dir}/Version"), t(&x.version)));
        m.push((format!("{dir}/SHA256"), t(&x.sha256)));
        m.push((format!("{dir}/Provider"), t(&x.provider)));
        m.push((format!("{dir}/Placement"), t(&x.placement)));
    }
    m
}

/// The outbox rows of a rebirth: the NBIRTH (its metrics are made when it is sent) and a
/// DBIRTH with every metric of each live device now. Births are never dropped by the quota.
pub fn rebirth(group: &str, node: &str, devices: &Devices, ts: i64) -> Vec<NewMessage> {
    let row = |kind: &str, device: Option<&str>, c: &Change| NewMessage {
        class: MessageClass::State,
        topic: SparkplugProtocol::topic(group, kind, node, device),
        payload: serde_json::to_vec(c).expect("json"),
        retain: false,
        created_ms: ts,
    };
    let empty = Change { ts, metrics: BTreeMap::new(), quality: BTreeMap::new(), units: BTreeMap::new() };
    let mut msgs = vec![row("NBIRTH", None, &empty)];
    for (id, d) in devices.iter().filter(|(_, d)| !d.dead) {
        let Transition::Birth(c) = transition(Some(&Device { dead: true, ..Device::default() }), d, ts) else {
            continue;
        };
        msgs.push(row("DBIRTH", Some(id), &c));
    }
    msgs
}

/// A metric value as the producer knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Val {
    Num(f64),
    Text(String),
    Null,
}

/// One metric now: its value, and for measured values the unit and the quality code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cur {
    pub v: Val,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<i32>,
}

/// One device (asset): its metrics now, and whether its data source is gone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Device {
    pub metrics: BTreeMap<String, Cur>,
    pub dead: bool,
}

/// Current state of every device: what a DBIRTH carries.
pub type Devices = BTreeMap<String, Device>;

/// A queued DDATA: the changed metrics of one device (values, and the quality codes that
/// changed). A queued DBIRTH carries every metric; a DDEATH none.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub ts: i64,
    pub metrics: BTreeMap<String, Val>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub quality: BTreeMap<String, i32>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub units: BTreeMap<String, String>,
}

/// What an evaluation pass means for one device on the wire.
#[derive(Debug, PartialEq)]
pub enum Transition {
    /// Still alive: a DDATA with these changes (None when nothing changed).
    Data(Option<Change>),
    /// Its data source died: DDEATH.
    Death,
    /// It came back: DBIRTH with everything.
    Birth(Change),
    /// Still dead: nothing.
    Nothing,
}

/// Decide what to publish for a device that was `prev` (None: first pass) and is `now`.
pub fn transition(prev: Option<&Device>, now: &Device, ts: i64) -> Transition {
    let full = || Change {
        ts,
        metrics: now.metrics.iter().map(|(k, c)| (k.clone(), c.v.clone())).collect(),
        quality: now.metrics.iter().filter_map(|(k, c)| Some((k.clone(), c.quality?))).collect(),
        units: now.metrics.iter().filter_map(|(k, c)| Some((k.clone(), c.unit.clone()?))).collect(),
    };
    match prev {
        None => Transition::Nothing, // the session's births carry the first state
        Some(p) if !p.dead && now.dead => Transition::Death,
        Some(p) if p.dead && !now.dead => Transition::Birth(full()),
        Some(_) if now.dead => Transition::Nothing,
        Some(p) => {
            let mut c = Change { ts, metrics: BTreeMap::new(), quality: BTreeMap::new(), units: BTreeMap::new() };
            for (k, cur) in &now.metrics {
                let before = p.metrics.get(k);
                if before.map(|b| &b.v) != Some(&cur.v) {
                    c.metrics.insert(k.clone(), cur.v.clone());
                }
                if let Some(q) = cur.quality {
                    if before.and_then(|b| b.quality) != Some(q) {
                        c.metrics.entry(k.clone()).or_insert_with(|| cur.v.clone());
                        c.quality.insert(k.clone(), q);
                    }
                }
            }
            Transition::Data((!c.metrics.is_empty()).then_some(c))
        }
    }
}

/// The metrics of one asset now, and whether its source is gone (every role's latest
/// sample a `comm_error`).
pub fn device_state(asset: &AssetState, assessments: &[&Assessment]) -> Device {
    let mut m = BTreeMap::new();
    let mut dead = !asset.roles.is_empty();
    for r in &asset.roles {
        let latest = r.latest();
        if !latest.is_some_and(|s| s.quality == Quality::CommError) {
            dead = false;
        }
        let v = latest.and_then(|s| s.value).map(Val::Num).unwrap_or(Val::Null);
        let quality = latest.map(|s| spb::quality_to_code(s.quality));
        let unit = (!r.unit.is_empty()).then(|| r.unit.clone());
        m.insert(format!("values/{}", r.role), Cur { v, unit, quality });
    }
    for a in assessments {
        let c = &a.criterion.id;
        let (code, ev) = match &a.outcome {
            Outcome::Fault(r) => (r.code.clone(), Some(&r.evidence)),
            Outcome::Normal { evidence, .. } => (String::new(), Some(evidence)),
            Outcome::Abstain { evidence, .. } => (String::new(), Some(evidence)),
        };
        let score = ev.and_then(|e| e.derived.iter().find(|d| d.name.en == "anomaly score")).map(|d| d.value);
        let cur = |v| Cur { v, unit: None, quality: None };
        m.insert(format!("criteria/{c}/status"), cur(Val::Text(a.outcome.status().to_string())));
        m.insert(format!("criteria/{c}/code"), cur(Val::Text(code)));
        m.insert(format!("criteria/{c}/score"), cur(score.map(Val::Num).unwrap_or(Val::Null)));
        // Each method of a verdict keeps its own metrics.
        for x in ev.map(|e| e.methods.as_slice()).unwrap_or_default() {
            let c = &x.criterion;
            m.insert(format!("criteria/{c}/status"), cur(Val::Text(x.status.clone())));
            m.insert(format!("criteria/{c}/code"), cur(Val::Text(x.code.clone().unwrap_or_default())));
            m.insert(format!("criteria/{c}/score"), cur(x.score.map(Val::Num).unwrap_or(Val::Null)));
        }
    }
    Device { metrics: m, dead }
}

pub struct SparkplugProtocol {
    group: String,
    node: String,
    outbox: Arc<Mutex<Outbox>>,
    devices: Arc<Mutex<Devices>>,
    bdseq: i64,
    seq: u64,
    /// `primary_host_id`: births wait for its STATE to say online.
    host: Option<String>,
    /// The births of this session are out (data may flow).
    born: bool,
    /// Newest STATE timestamp seen (older ones are stale retained copies).
    state_ts: i64,
    reconnect: bool,
    dcmd: Option<Arc<super::dcmd::Dcmd>>,
    /// What the gateway runs, for the NBIRTH's `Node Info/` metrics (set by the producer).
    runs: Arc<Mutex<Option<Runs>>>,
}

impl SparkplugProtocol {
    pub fn new(group: &str, node: &str, outbox: Arc<Mutex<Outbox>>, devices: Arc<Mutex<Devices>>) -> Self {
        SparkplugProtocol {
            group: group.into(),
            node: node.into(),
            outbox,
            devices,
            bdseq: 0,
            seq: 0,
            host: None,
            born: false,
            state_ts: i64::MIN,
            reconnect: false,
            dcmd: None,
            runs: Arc::new(Mutex::new(None)),
        }
    }

    /// Read what the gateway runs from here for every NBIRTH.
    pub fn with_runs(mut self, runs: Arc<Mutex<Option<Runs>>>) -> Self {
        self.runs = runs;
        self
    }

    /// Handle DCMD writes (each checked and audited).
    pub fn with_dcmd(mut self, dcmd: Arc<super::dcmd::Dcmd>) -> Self {
        self.dcmd = Some(dcmd);
        self
    }

    /// A DCMD: each metric by name or by an alias this node gave, as a write request.
    fn on_dcmd(&self, topic: &str, payload: &[u8]) {
        let Some(dcmd) = &self.dcmd else { return };
        let device = topic.rsplit('/').next().unwrap_or("");
        let p = match spb::decode(payload) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(%topic, error = %e, "Sparkplug: undecodable DCMD ignored");
                return;
            }
        };
        let mut requests = Vec::new();
        for m in &p.metrics {
            let name = match (&m.name, m.alias) {
                (Some(n), _) => n.clone(),
                (None, Some(a)) => {
                    let found = self.outbox.lock().unwrap_or_else(|p| p.into_inner()).alias_name(a).ok().flatten();
                    match found.as_deref().and_then(|k| k.split_once('|')) {
                        Some((d, n)) if d == device => n.to_string(),
                        _ => format!("alias {a} (not a metric of {device})"),
                    }
                }
                (None, None) => "(a metric with neither name nor alias)".into(),
            };
            let value = match spb::reading(m, Some(datatype::DOUBLE)) {
                Ok(spb::Reading::Number(v)) => Ok(v),
                Ok(spb::Reading::Null) => Err("no value (is_null)".to_string()),
                Ok(spb::Reading::Inexact { exact, .. }) => Err(format!("{exact} is not exact as a number")),
                Err(e) => Err(e),
            };
            requests.push(super::dcmd::Request { metric: name, value });
        }
        dcmd.handle(topic, device, requests);
    }

    /// Births only while this primary host application's STATE says online.
    pub fn with_primary_host(mut self, host_id: &str) -> Self {
        self.host = (!host_id.is_empty()).then(|| host_id.to_string());
        self
    }

    /// `spBv1.0/STATE/{host_id}` (Sparkplug 3.0).
    pub fn state_topic(host_id: &str) -> String {
        format!("spBv1.0/STATE/{host_id}")
    }

    pub fn topic(group: &str, kind: &str, node: &str, device: Option<&str>) -> String {
        match device {
            Some(d) => format!("spBv1.0/{group}/{kind}/{node}/{d}"),
            None => format!("spBv1.0/{group}/{kind}/{node}"),
        }
    }

    fn next_seq(&mut self) -> u64 {
        let s = self.seq;
        self.seq = (self.seq + 1) % 256;
        s
    }

    fn alias(&self, device: &str, name: &str) -> Option<u64> {
        let key = format!("{device}|{name}");
        match self.outbox.lock().unwrap_or_else(|p| p.into_inner()).alias(&key) {
            Ok(a) => Some(a),
            Err(e) => {
                tracing::error!(error = %e, metric = %key, "Sparkplug: cannot assign an alias");
                None
            }
        }
    }

    /// One metric of a device. In a birth: name, alias, datatype and the `engUnit` and
    /// `Quality` properties; in data: alias only, no datatype, `Quality` when it changed.
    #[allow(clippy::too_many_arguments)]
    fn metric(
        &self,
        device: &str,
        name: &str,
        v: &Val,
        ts: i64,
        birth: bool,
        historical: bool,
        quality: Option<i32>,
        unit: Option<&str>,
    ) -> Metric {
        let (dt, value, null) = match v {
            Val::Num(x) => (datatype::DOUBLE, Some(Value::DoubleValue(*x)), None),
            Val::Text(s) => (datatype::STRING, Some(Value::StringValue(s.clone())), None),
            Val::Null => {
                let dt = if name.starts_with("criteria/") && !name.ends_with("/score") {
                    datatype::STRING
                } else {
                    datatype::DOUBLE
                };
                (dt, None, Some(true))
            }
        };
        let mut props = Vec::new();
        if let (true, Some(u)) = (birth, unit) {
            props.push(("engUnit", spb::prop_string(u)));
        }
        if let Some(q) = quality {
            props.push(("Quality", spb::prop_int32(q)));
        }
        Metric {
            name: birth.then(|| name.to_string()),
            alias: self.alias(device, name),
            timestamp: Some(ts as u64),
            datatype: birth.then_some(dt),
            is_historical: historical.then_some(true),
            is_null: null,
            value,
            properties: (!props.is_empty()).then(|| spb::properties(props)),
            ..Default::default()
        }
    }

    fn bdseq_metric(&self, bdseq: i64, ts: i64, alias: bool) -> Metric {
        Metric {
            name: Some("bdSeq".into()),
            alias: if alias { self.alias("", "bdSeq") } else { None },
            timestamp: Some(ts as u64),
            datatype: Some(datatype::INT64),
            value: Some(Value::LongValue(bdseq as u64)),
            ..Default::default()
        }
    }

    /// A `Node Info/` metric of the NBIRTH.
    fn info_metric(&self, name: &str, v: &InfoVal, ts: i64) -> Metric {
        let (dt, value) = match v {
            InfoVal::Text(s) => (datatype::STRING, Some(Value::StringValue(s.clone()))),
            InfoVal::Texts(l) => {
                let bytes = l.iter().flat_map(|s| s.bytes().filter(|b| *b != 0).chain([0])).collect();
                (STRING_ARRAY, Some(Value::BytesValue(bytes)))
            }
            InfoVal::Time(ms) => (datatype::DATETIME, Some(Value::LongValue(*ms as u64))),
            InfoVal::NullText => (datatype::STRING, None),
        };
        Metric {
            name: Some(name.to_string()),
            alias: self.alias("", name),
            timestamp: Some(ts as u64),
            datatype: Some(dt),
            is_null: value.is_none().then_some(true),
            value,
            ..Default::default()
        }
    }

    /// The NBIRTH (seq 0 of the session or of a rebirth): bdSeq, `Node Control/Rebirth` and
    /// what the gateway runs.
    fn node_birth(&mut self, now: i64) -> Payload {
        self.seq = 0;
        let mut metrics = vec![
            self.bdseq_metric(self.bdseq, now, true),
            Metric {
                name: Some(REBIRTH.into()),
                alias: self.alias("", REBIRTH),
                timestamp: Some(now as u64),
                datatype: Some(datatype::BOOLEAN),
                value: Some(Value::BooleanValue(false)),
                ..Default::default()
            },
        ];
        let info = self.runs.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(node_info).unwrap_or_default();
        metrics.extend(info.iter().map(|(name, v)| self.info_metric(name, v, now)));
        Payload { timestamp: Some(now as u64), seq: Some(self.next_seq()), metrics, ..Default::default() }
    }

    fn death(&self, bdseq: i64) -> Payload {
        let now = crate::time::now_ms();
        Payload {
            timestamp: Some(now as u64),
            metrics: vec![self.bdseq_metric(bdseq, now, false)],
            ..Default::default()
        }
    }

    fn device_birth(&mut self, device: &str, d: &Device, ts: i64) -> Payload {
        let ms = d
            .metrics
            .iter()
            .map(|(name, c)| self.metric(device, name, &c.v, ts, true, false, c.quality, c.unit.as_deref()))
            .collect();
        Payload { timestamp: Some(ts as u64), seq: Some(self.next_seq()), metrics: ms, ..Default::default() }
    }

    /// NBIRTH and one DBIRTH per live device; returns how many were published.
    fn births(&mut self, conn: &Conn) -> usize {
        let now = crate::time::now_ms();
        let mut n = 0;
        let nbirth = self.node_birth(now);
        let topic = Self::topic(&self.group, "NBIRTH", &self.node, None);
        if conn.try_publish(&topic, 0, false, spb::encode(&nbirth)).is_ok() {
            n += 1;
        }
        let devices = self.devices.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut dead = 0;
        for (device, d) in &devices {
            if d.dead {
                dead += 1;
                continue;
            }
            let p = self.device_birth(device, d, now);
            let topic = Self::topic(&self.group, "DBIRTH", &self.node, Some(device));
            if conn.try_publish(&topic, 0, false, spb::encode(&p)).is_ok() {
                n += 1;
            }
        }
        tracing::info!(bd_seq = self.bdseq, devices = devices.len() - dead, dead, "Sparkplug births published");
        n
    }
}

#[derive(Deserialize)]
struct State {
    online: bool,
    #[serde(default)]
    timestamp: Option<i64>,
}

impl SparkplugProtocol {
    /// The primary host application's STATE (`{"online": bool, "timestamp": ms}`): online
    /// -> births (again); offline -> NDEATH and a new session that waits for it.
    fn on_state(&mut self, conn: &Conn, topic: &str, payload: &[u8]) -> usize {
        let st: State = match serde_json::from_slice(payload) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(%topic, error = %e, payload = %String::from_utf8_lossy(&payload[..payload.len().min(80)]),
                    "Sparkplug: STATE is not JSON with `online` (bool) and `timestamp` (ms); ignored");
                return 0;
            }
        };
        let ts = st.timestamp.unwrap_or(i64::MIN);
        if ts < self.state_ts {
            tracing::info!(%topic, timestamp = ts, newest = self.state_ts, "Sparkplug: older STATE ignored");
            return 0;
        }
        self.state_ts = ts;
        match (st.online, self.born) {
            (true, false) => {
                tracing::info!(%topic, "Sparkplug: primary host application online; births");
                self.born = true;
                self.births(conn)
            }
            (false, true) => {
                tracing::warn!(%topic, "Sparkplug: primary host application offline; NDEATH and a new session that waits for it");
                self.born = false;
                self.reconnect = true;
                let death = self.death(self.bdseq);
                let t = Self::topic(&self.group, "NDEATH", &self.node, None);
                usize::from(conn.try_publish(&t, 1, false, spb::encode(&death)).is_ok())
            }
            _ => 0,
        }
    }
}

impl Protocol for SparkplugProtocol {
    fn will(&mut self) -> Will {
        // The will of every attempt carries the current bdSeq; it moves on only once a
        // CONNECT is accepted (`on_connected`), so failed attempts do not use up values.
        let cur = self.outbox.lock().unwrap_or_else(|p| p.into_inner()).meta(BDSEQ).unwrap_or(0).rem_euclid(256);
        self.bdseq = cur;
        let death = self.death(cur);
        Will {
            topic: Self::topic(&self.group, "NDEATH", &self.node, None),
            payload: spb::encode(&death),
            retain: false,
            qos: Some(1),
        }
    }

    fn on_connected(&mut self, conn: &Conn) -> usize {
        // This CONNECT (with this bdSeq in its will) was accepted: the next one takes the
        // next value, persisted before anything is published.
        let mut o = self.outbox.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = o.enqueue(&[], &[(BDSEQ, (self.bdseq + 1) % 256)]) {
            tracing::error!(error = %e, "Sparkplug: cannot persist bdSeq");
        }
        drop(o);
        if let Err(e) = conn.try_subscribe(&Self::topic(&self.group, "NCMD", &self.node, None), 1) {
            tracing::warn!(error = %e, "Sparkplug: cannot subscribe to NCMD");
        }
        if let Err(e) = conn.try_subscribe(&Self::topic(&self.group, "DCMD", &self.node, Some("+")), 1) {
            tracing::warn!(error = %e, "Sparkplug: cannot subscribe to DCMD");
        }
        self.born = false;
        if let Some(h) = &self.host {
            // The host's retained STATE arrives right after this subscription.
            if let Err(e) = conn.try_subscribe(&Self::state_topic(h), 1) {
                tracing::warn!(error = %e, "Sparkplug: cannot subscribe to STATE");
            }
            tracing::info!(primary_host = %h, "Sparkplug: waiting for the primary host application to be online");
            return 0;
        }
        self.born = true;
        self.births(conn)
    }

    fn encode(&mut self, m: &Message, replay: bool) -> Vec<u8> {
        let mut parts = m.topic.rsplit('/');
        let device = parts.next().unwrap_or("").to_string();
        let kind = m.topic.split('/').nth(2).unwrap_or("DDATA");
        let change: Change = match serde_json::from_slice(&m.payload) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, id = m.id, "Sparkplug: unreadable queued change");
                Change { ts: m.created_ms, metrics: BTreeMap::new(), quality: BTreeMap::new(), units: BTreeMap::new() }
            }
        };
        let p = match kind {
            "NBIRTH" => {
                tracing::info!(bd_seq = self.bdseq, "Sparkplug: what the node runs changed; rebirth");
                self.node_birth(crate::time::now_ms())
            }
            "DDEATH" => Payload { timestamp: Some(change.ts as u64), seq: Some(self.next_seq()), ..Default::default() },
            "DBIRTH" => {
                let d = Device {
                    metrics: change
                        .metrics
                        .iter()
                        .map(|(k, v)| {
                            let cur = Cur {
                                v: v.clone(),
                                unit: change.units.get(k).cloned(),
                                quality: change.quality.get(k).copied(),
                            };
                            (k.clone(), cur)
                        })
                        .collect(),
                    dead: false,
                };
                self.device_birth(&device, &d, change.ts)
            }
            _ => {
                let metrics = change
                    .metrics
                    .iter()
                    .map(|(name, v)| {
                        let q = change.quality.get(name).copied();
                        self.metric(&device, name, v, change.ts, false, replay, q, None)
                    })
                    .collect();
                Payload {
                    timestamp: Some(crate::time::now_ms() as u64),
                    seq: Some(self.next_seq()),
                    metrics,
                    ..Default::default()
                }
            }
        };
        spb::encode(&p)
    }

    fn on_message(&mut self, conn: &Conn, topic: &str, payload: &[u8]) -> usize {
        if let Some(h) = &self.host {
            if topic == Self::state_topic(h) {
                return self.on_state(conn, topic, payload);
            }
        }
        if !self.born {
            tracing::info!(%topic, "Sparkplug: command ignored while the primary host application is offline");
            return 0;
        }
        if topic.split('/').nth(2) == Some("DCMD") {
            self.on_dcmd(topic, payload);
            return 0;
        }
        let Ok(p) = spb::decode(payload) else {
            tracing::warn!(%topic, "Sparkplug: undecodable NCMD ignored");
            return 0;
        };
        let rebirth_alias = self.alias("", REBIRTH);
        let rebirth = p.metrics.iter().any(|m| {
            (m.name.as_deref() == Some(REBIRTH) || (m.name.is_none() && m.alias == rebirth_alias))
                && m.value == Some(Value::BooleanValue(true))
        });
        if rebirth {
            tracing::info!(%topic, "Sparkplug: rebirth requested");
            self.births(conn)
        } else {
            0
        }
    }

    fn reports_drops(&self) -> bool {
        false
    }

    fn ready(&self) -> bool {
        self.born
    }

    fn wants_reconnect(&mut self) -> bool {
        std::mem::take(&mut self.reconnect)
    }

    fn on_shutdown(&mut self, conn: &Conn) {
        // A clean disconnect sends no will: publish the NDEATH of this session ourselves.
        let death = self.death(self.bdseq);
        let topic = Self::topic(&self.group, "NDEATH", &self.node, None);
        if let Err(e) = conn.try_publish(&topic, 1, false, spb::encode(&death)) {
            tracing::warn!(error = %e, "Sparkplug: cannot publish NDEATH");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(v: f64, q: i32, dead: bool) -> Device {
        let cur = Cur { v: if dead { Val::Null } else { Val::Num(v) }, unit: Some("bar".into()), quality: Some(q) };
        Device { metrics: BTreeMap::from([("values/p".to_string(), cur)]), dead }
    }

    #[test]
    fn device_health_drives_births_and_deaths() {
        let alive = dev(1.0, 192, false);
        assert_eq!(transition(None, &alive, 1), Transition::Nothing);
        assert_eq!(transition(Some(&alive), &alive, 1), Transition::Data(None));
        let Transition::Data(Some(c)) = transition(Some(&alive), &dev(2.0, 192, false), 2) else { panic!() };
        assert_eq!(c.metrics["values/p"], Val::Num(2.0));
        assert!(c.quality.is_empty(), "quality unchanged: not repeated");
        let Transition::Data(Some(c)) = transition(Some(&alive), &dev(1.0, 500, false), 2) else { panic!() };
        assert_eq!(c.quality["values/p"], 500, "a quality change is data");
        let dead = dev(0.0, 0, true);
        assert_eq!(transition(Some(&alive), &dead, 3), Transition::Death);
        assert_eq!(transition(Some(&dead), &dead, 4), Transition::Nothing);
        let Transition::Birth(c) = transition(Some(&dead), &alive, 5) else { panic!() };
        assert_eq!((c.metrics.len(), c.units["values/p"].as_str(), c.quality["values/p"]), (1, "bar", 192));
    }

    #[test]
    fn a_rebirth_is_an_nbirth_then_a_dbirth_per_live_device() {
        let devices = Devices::from([("A".to_string(), dev(1.0, 192, false)), ("B".to_string(), dev(0.0, 0, true))]);
        let rows = rebirth("G", "n", &devices, 7);
        let topics: Vec<&str> = rows.iter().map(|r| r.topic.as_str()).collect();
        assert_eq!(topics, ["spBv1.0/G/NBIRTH/n", "spBv1.0/G/DBIRTH/n/A"], "a dead device is not born");
        assert!(rows.iter().all(|r| r.class == MessageClass::State), "births are never dropped by the quota");
        let c: Change = serde_json::from_slice(&rows[1].payload).unwrap();
        assert_eq!((c.ts, c.metrics["values/p"].clone(), c.units["values/p"].as_str()), (7, Val::Num(1.0), "bar"));
    }

    #[test]
    fn node_info_names_every_pack_and_model_in_its_folder() {
        let runs = Runs {
            version: "1".into(),
            target: "x".into(),
            config_sha256: "c".into(),
            packs: vec![super::super::info::PackRun { id: "p/1".into(), version: "2".into(), sha256: "s".into() }],
            models: vec![super::super::info::ModelRun {
                name: "m".into(),
                version: "3".into(),
                sha256: "t".into(),
                provider: "cpu".into(),
                placement: "all".into(),
            }],
            model_errors: vec![],
            onnxruntime: None,
            providers_available: vec!["cpu".into(), "xnnpack".into()],
            started_ms: 5,
        };
        let info: BTreeMap<String, InfoVal> = node_info(&runs).into_iter().collect();
        assert_eq!(info["Node Info/ONNX Runtime"], InfoVal::NullText);
        assert_eq!(info["Node Info/Start Time"], InfoVal::Time(5));
        assert_eq!(info["Node Info/Packs/p_1/SHA256"], InfoVal::Text("s".into()), "a `/` opens no folder");
        assert_eq!(info["Node Info/Models/m/Placement"], InfoVal::Text("all".into()));
        assert_eq!(info.len(), 7 + 2 + 4);
    }
}
