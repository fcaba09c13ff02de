//! Sparkplug B edge node: the gateway is the node, each asset a device.
//!
//! - Its own MQTT session (client id `{client_id}-spb`) and outbox file (`sparkplug.db`
//!   beside the JSON outbox), because the NDEATH must be that session's will.
//! - `bdSeq` is kept in the outbox file and moves by one (0-255, wrapping) per connection
//!   attempt: the NDEATH in the will and the NBIRTH that follows carry the same value, and a
//!   restart continues from the last one.
//! - Metric aliases come from the outbox file's `aliases` table: once given, a name keeps
//!   its alias across restarts.
//! - Device metrics: `values/{role}` (Double), `criteria/{criterion}/status` and `/code` for
//!   each verdict (`verdict.<domain>`) and each of its methods
//!   (String: fault, normal or abstain, and the finding code), `criteria/{criterion}/score`
//!   (Double, the model's anomaly score when the evidence has one, else null).
//! - NBIRTH (seq 0), then DBIRTH per device, then DDATA with the changed metrics only,
//!   aliases only. `seq` goes 0-255 and wraps. DDATA queued during an outage is replayed
//!   after the births with `is_historical = true`.
//! - NCMD `Node Control/Rebirth` = true: NBIRTH and DBIRTHs again (same bdSeq, seq from 0).
//! - QoS 0 for births and data and QoS 1 for the will, as the specification asks; a DDATA
//!   row leaves the outbox once written to the socket.

use super::sender::Protocol;
use crate::diagnose::{Assessment, Outcome};
use crate::pipeline::AssetState;
use crate::sources::mqtt::client::{Conn, Will};
use crate::sources::mqtt::sparkplug::{self as spb, datatype, Metric, Payload, Value};
use crate::store::outbox::{Message, Outbox};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

const BDSEQ: &str = "sparkplug_bdseq_next";
const REBIRTH: &str = "Node Control/Rebirth";

/// A metric value as the producer knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Val {
    Num(f64),
    Text(String),
    Null,
}

/// Current metrics of every device: what a DBIRTH carries.
pub type Devices = BTreeMap<String, BTreeMap<String, Val>>;

/// A queued DDATA: the changed metrics of one device.
#[derive(Debug, Serialize, Deserialize)]
pub struct Change {
    pub ts: i64,
    pub metrics: BTreeMap<String, Val>,
}

/// The metrics of one asset now.
pub fn device_metrics(asset: &AssetState, assessments: &[&Assessment]) -> BTreeMap<String, Val> {
    let mut m = BTreeMap::new();
    for r in &asset.roles {
        let v = r.latest().and_then(|s| s.value).map(Val::Num).unwrap_or(Val::Null);
        m.insert(format!("values/{}", r.role), v);
    }
    for a in assessments {
        let c = &a.criterion.id;
        let (code, ev) = match &a.outcome {
            Outcome::Fault(r) => (r.code.clone(), Some(&r.evidence)),
            Outcome::Normal { evidence, .. } => (String::new(), Some(evidence)),
            Outcome::Abstain { evidence, .. } => (String::new(), Some(evidence)),
        };
        let score = ev.and_then(|e| e.derived.iter().find(|d| d.name == "anomaly score")).map(|d| d.value);
        m.insert(format!("criteria/{c}/status"), Val::Text(a.outcome.status().to_string()));
        m.insert(format!("criteria/{c}/code"), Val::Text(code));
        m.insert(format!("criteria/{c}/score"), score.map(Val::Num).unwrap_or(Val::Null));
        // Each method of a verdict keeps its own metrics.
        for x in ev.map(|e| e.methods.as_slice()).unwrap_or_default() {
            let c = &x.criterion;
            m.insert(format!("criteria/{c}/status"), Val::Text(x.status.clone()));
            m.insert(format!("criteria/{c}/code"), Val::Text(x.code.clone().unwrap_or_default()));
            m.insert(format!("criteria/{c}/score"), x.score.map(Val::Num).unwrap_or(Val::Null));
        }
    }
    m
}

pub struct SparkplugProtocol {
    group: String,
    node: String,
    outbox: Arc<Mutex<Outbox>>,
    devices: Arc<Mutex<Devices>>,
    bdseq: u64,
    seq: u64,
}

impl SparkplugProtocol {
    pub fn new(group: &str, node: &str, outbox: Arc<Mutex<Outbox>>, devices: Arc<Mutex<Devices>>) -> Self {
        SparkplugProtocol { group: group.into(), node: node.into(), outbox, devices, bdseq: 0, seq: 0 }
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

    fn metric(&self, device: &str, name: &str, v: &Val, ts: i64, with_name: bool, historical: bool) -> Metric {
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
        Metric {
            name: with_name.then(|| name.to_string()),
            alias: self.alias(device, name),
            timestamp: Some(ts as u64),
            datatype: Some(dt),
            is_historical: historical.then_some(true),
            is_null: null,
            value,
            ..Default::default()
        }
    }

    fn death(&self, bdseq: u64) -> Payload {
        Payload {
            timestamp: Some(crate::time::now_ms() as u64),
            metrics: vec![Metric {
                name: Some("bdSeq".into()),
                datatype: Some(datatype::UINT64),
                value: Some(Value::LongValue(bdseq)),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    /// NBIRTH and one DBIRTH per device; returns how many were published.
    fn births(&mut self, conn: &Conn) -> usize {
        let now = crate::time::now_ms();
        self.seq = 0;
        let mut n = 0;
        let node_metrics = vec![
            Metric {
                name: Some("bdSeq".into()),
                alias: self.alias("", "bdSeq"),
                timestamp: Some(now as u64),
                datatype: Some(datatype::UINT64),
                value: Some(Value::LongValue(self.bdseq)),
                ..Default::default()
            },
            Metric {
                name: Some(REBIRTH.into()),
                alias: self.alias("", REBIRTH),
                timestamp: Some(now as u64),
                datatype: Some(datatype::BOOLEAN),
                value: Some(Value::BooleanValue(false)),
                ..Default::default()
            },
        ];
        let nbirth = Payload {
            timestamp: Some(now as u64),
            seq: Some(self.next_seq()),
            metrics: node_metrics,
            ..Default::default()
        };
        let topic = Self::topic(&self.group, "NBIRTH", &self.node, None);
        if conn.try_publish(&topic, 0, false, spb::encode(&nbirth)).is_ok() {
            n += 1;
        }
        let devices = self.devices.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for (device, metrics) in &devices {
            let ms = metrics.iter().map(|(name, v)| self.metric(device, name, v, now, true, false)).collect();
            let p =
                Payload { timestamp: Some(now as u64), seq: Some(self.next_seq()), metrics: ms, ..Default::default() };
            let topic = Self::topic(&self.group, "DBIRTH", &self.node, Some(device));
            if conn.try_publish(&topic, 0, false, spb::encode(&p)).is_ok() {
                n += 1;
            }
        }
        tracing::info!(bd_seq = self.bdseq, devices = devices.len(), "Sparkplug births published");
        n
    }
}

impl Protocol for SparkplugProtocol {
    fn will(&mut self) -> Will {
        // Each connection attempt takes the next bdSeq, persisted before it is used.
        let mut o = self.outbox.lock().unwrap_or_else(|p| p.into_inner());
        let next = o.meta(BDSEQ).unwrap_or(0).rem_euclid(256) as u64;
        if let Err(e) = o.enqueue(&[], &[(BDSEQ, ((next + 1) % 256) as i64)]) {
            tracing::error!(error = %e, "Sparkplug: cannot persist bdSeq");
        }
        drop(o);
        self.bdseq = next;
        let death = self.death(next);
        Will {
            topic: Self::topic(&self.group, "NDEATH", &self.node, None),
            payload: spb::encode(&death),
            retain: false,
        }
    }

    fn on_connected(&mut self, conn: &Conn) -> usize {
        if let Err(e) = conn.try_subscribe(&Self::topic(&self.group, "NCMD", &self.node, None), 1) {
            tracing::warn!(error = %e, "Sparkplug: cannot subscribe to NCMD");
        }
        self.births(conn)
    }

    fn encode(&mut self, m: &Message, replay: bool) -> Vec<u8> {
        let device = m.topic.rsplit('/').next().unwrap_or("").to_string();
        let change: Change = match serde_json::from_slice(&m.payload) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, id = m.id, "Sparkplug: unreadable queued change");
                Change { ts: m.created_ms, metrics: BTreeMap::new() }
            }
        };
        let metrics =
            change.metrics.iter().map(|(name, v)| self.metric(&device, name, v, change.ts, false, replay)).collect();
        let p = Payload {
            timestamp: Some(crate::time::now_ms() as u64),
            seq: Some(self.next_seq()),
            metrics,
            ..Default::default()
        };
        spb::encode(&p)
    }

    fn on_message(&mut self, conn: &Conn, topic: &str, payload: &[u8]) -> usize {
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

    fn on_shutdown(&mut self, conn: &Conn) {
        // A clean disconnect sends no will: publish the NDEATH of this session ourselves.
        let death = self.death(self.bdseq);
        let topic = Self::topic(&self.group, "NDEATH", &self.node, None);
        if let Err(e) = conn.try_publish(&topic, 1, false, spb::encode(&death)) {
            tracing::warn!(error = %e, "Sparkplug: cannot publish NDEATH");
        }
    }
}
