//! One MQTT connection over rumqttc, for MQTT 3.1.1 or 5, with TLS through rustls (ring),
//! TCP_NODELAY and a last will. The ingest source and the publish sink each open their own.
//! Events of both protocol versions are reduced to the few the daemon acts on.
//!
//! A `Conn` is one session attempt: on a connection error the caller drops it and builds a
//! new one after its back-off, so nothing rumqttc kept in memory is re-sent behind the
//! caller's back (the publish sink replays from its outbox instead).

use crate::config::mqtt::{MqttConfig, MqttProtocol, MAX_PACKET};
use rumqttc::v5;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("mqtt.tls: cannot read {path}: {source}")]
    ReadPem { path: String, source: std::io::Error },
    #[error("mqtt.tls: {path}: {message}")]
    Pem { path: String, message: String },
    #[error("mqtt.tls: {0}")]
    Tls(String),
}

/// What the caller learns from the connection.
// `Message` is the large variant and the common one on an ingest session: boxing it would
// add an allocation per message to save stack space in a value that is matched at once.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Event {
    Connected,
    /// A PUBLISH of ours went on the wire with this packet id (0 for QoS 0), in the order
    /// they were requested.
    Sent(u16),
    PubAck(u16),
    SubAck,
    Message {
        topic: String,
        payload: Vec<u8>,
        /// Set for QoS 1 messages on a session with manual acknowledgements: hand it to
        /// `Conn::try_ack` once the message is dealt with (stored, or counted as malformed).
        ack: Option<AckHandle>,
        /// MQTT 5 request properties: response topic and correlation data.
        reply: Reply,
    },
    Other,
}

/// Where a request wants its answer (MQTT 5 request/response; empty on 3.1.1).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reply {
    pub topic: Option<String>,
    pub correlation: Option<Vec<u8>>,
}

pub struct Will {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
    /// QoS of the will; `None`: the configured `qos`. (Sparkplug's NDEATH is always 1.)
    pub qos: Option<u8>,
}

/// MQTT 5 properties of one PUBLISH.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Props {
    pub content_type: Option<String>,
    /// Payload Format Indicator 1: the payload is UTF-8 text.
    pub utf8: bool,
    /// Message Expiry Interval (s): the broker drops the message if not delivered by then.
    pub expiry_s: Option<u32>,
    pub user: Vec<(String, String)>,
    /// Correlation data of a response (MQTT 5 request/response).
    pub correlation: Option<Vec<u8>>,
}

/// What `Conn::try_ack` needs to acknowledge one received PUBLISH (its payload removed).
#[derive(Debug)]
pub enum AckHandle {
    V4(rumqttc::Publish),
    V5(v5::mqttbytes::v5::Publish),
}

/// How a session starts: the publish sinks use clean sessions (their outbox carries unsent
/// data); the ingest source a persistent one with manual acknowledgements, so the broker
/// keeps what it has not yet seen acknowledged, also while the gateway is down.
#[derive(Debug, Clone, Copy)]
pub enum Session {
    Clean,
    /// clean_session = false (3.1.1) / clean start false with this session expiry (5), and
    /// PUBACKs only through `Conn::try_ack`.
    Persistent {
        expiry_s: u32,
    },
}

enum Client {
    V4(rumqttc::AsyncClient),
    V5(v5::AsyncClient),
}

enum Loop {
    V4(Box<rumqttc::EventLoop>),
    V5(Box<v5::EventLoop>),
}

pub struct Conn {
    client: Client,
    eventloop: Loop,
    /// MQTT 5: the broker's Receive Maximum from its CONNACK (how many QoS 1 messages it
    /// takes unacknowledged); `None` on 3.1.1 or when the broker sets none.
    pub receive_max: Option<u16>,
}

fn qos(q: u8) -> rumqttc::QoS {
    if q == 0 {
        rumqttc::QoS::AtMostOnce
    } else {
        rumqttc::QoS::AtLeastOnce
    }
}

fn qos5(q: u8) -> v5::mqttbytes::QoS {
    if q == 0 {
        v5::mqttbytes::QoS::AtMostOnce
    } else {
        v5::mqttbytes::QoS::AtLeastOnce
    }
}

fn read_pem(path: &std::path::Path) -> Result<Vec<u8>, ClientError> {
    std::fs::read(path).map_err(|source| ClientError::ReadPem { path: path.display().to_string(), source })
}

/// The rustls client config from `[mqtt.tls]`: the CA file as the only trust anchors, and
/// the client certificate and key when given.
/// The TLS client config of `[mqtt] tls`, read again from its files before a connection
/// when they changed: a renewed CA or client certificate is used from the next connection
/// on, without a restart. A renewal that does not load is logged and the config in use
/// stays.
#[derive(Clone)]
pub struct ClientTls {
    files: Option<crate::config::mqtt::MqttTlsConfig>,
    stamp: Vec<crate::files::Stamp>,
    current: Option<Arc<rustls::ClientConfig>>,
}

impl ClientTls {
    /// Load the files now (their errors stop the start, as a bad config does).
    pub fn new(tls: Option<&crate::config::mqtt::MqttTlsConfig>) -> Result<ClientTls, ClientError> {
        let current = tls.map(tls_config).transpose()?;
        let files = tls.cloned();
        let stamp = files.as_ref().map(Self::stamp_of).unwrap_or_default();
        Ok(ClientTls { files, stamp, current })
    }

    fn stamp_of(t: &crate::config::mqtt::MqttTlsConfig) -> Vec<crate::files::Stamp> {
        [Some(&t.ca), t.client_cert.as_ref(), t.client_key.as_ref()]
            .into_iter()
            .flatten()
            .map(|p| crate::files::stamp(p))
            .collect()
    }

    /// The config for the next connection.
    pub fn for_connect(&mut self) -> Option<Arc<rustls::ClientConfig>> {
        if let Some(files) = &self.files {
            let now = Self::stamp_of(files);
            if now != self.stamp {
                match tls_config(files) {
                    Ok(c) => {
                        tracing::info!(ca = %files.ca.display(), "mqtt.tls: certificate files changed; the next connection uses them");
                        self.current = Some(c);
                        self.stamp = now;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "mqtt.tls: the changed certificate files do not load; the previous ones stay in use")
                    }
                }
            }
        }
        self.current.clone()
    }
}

pub fn tls_config(cfg: &crate::config::mqtt::MqttTlsConfig) -> Result<Arc<rustls::ClientConfig>, ClientError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let pem_err = |p: &std::path::Path, m: String| ClientError::Pem { path: p.display().to_string(), message: m };
    let mut roots = rustls::RootCertStore::empty();
    let ca = read_pem(&cfg.ca)?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&ca)
        .collect::<Result<_, _>>()
        .map_err(|e| pem_err(&cfg.ca, format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(pem_err(&cfg.ca, "no certificate in the file".into()));
    }
    for c in certs {
        roots.add(c).map_err(|e| pem_err(&cfg.ca, format!("unusable CA certificate: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Tls(e.to_string()))?
        .with_root_certificates(roots);
    let config = match (&cfg.client_cert, &cfg.client_key) {
        (Some(cert), Some(key)) => {
            let pem = read_pem(cert)?;
            let chain: Vec<_> = CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<_, _>>()
                .map_err(|e| pem_err(cert, format!("not a PEM certificate file: {e}")))?;
            let key_pem = read_pem(key)?;
            let key_der = PrivateKeyDer::from_pem_slice(&key_pem)
                .map_err(|e| pem_err(key, format!("no usable private key: {e}")))?;
            builder.with_client_auth_cert(chain, key_der).map_err(|e| pem_err(key, e.to_string()))?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

impl Conn {
    /// Prepare a session (no I/O happens until `poll`). `capacity` bounds the requests
    /// queued towards rumqttc; callers use `try_publish` and keep below it.
    pub fn new(
        cfg: &MqttConfig,
        client_id: &str,
        will: Option<Will>,
        capacity: usize,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Conn {
        Conn::with_session(cfg, client_id, will, capacity, tls, Session::Clean)
    }

    /// `new` with the session kind chosen.
    pub fn with_session(
        cfg: &MqttConfig,
        client_id: &str,
        will: Option<Will>,
        capacity: usize,
        tls: Option<Arc<rustls::ClientConfig>>,
        session: Session,
    ) -> Conn {
        let persistent = matches!(session, Session::Persistent { .. });
        let keepalive = Duration::from_secs(cfg.keepalive_s);
        let mut net = rumqttc::NetworkOptions::new();
        net.set_tcp_nodelay(true);
        net.set_connection_timeout(cfg.connect_timeout_s);
        let transport = match tls {
            Some(t) => rumqttc::Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(t)),
            None => rumqttc::Transport::tcp(),
        };
        match cfg.protocol {
            MqttProtocol::V311 => {
                let mut o = rumqttc::MqttOptions::new(client_id, &cfg.host, cfg.port);
                o.set_keep_alive(keepalive)
                    .set_clean_session(!persistent)
                    .set_manual_acks(persistent)
                    .set_inflight(cfg.max_inflight)
                    .set_max_packet_size(MAX_PACKET as usize, 1 << 20)
                    .set_transport(transport);
                if !cfg.username.is_empty() {
                    o.set_credentials(&cfg.username, &cfg.password);
                }
                if let Some(w) = will {
                    o.set_last_will(rumqttc::LastWill::new(
                        w.topic,
                        w.payload,
                        qos(w.qos.unwrap_or(cfg.qos)),
                        w.retain,
                    ));
                }
                let (client, mut el) = rumqttc::AsyncClient::new(o, capacity);
                el.set_network_options(net);
                Conn { client: Client::V4(client), eventloop: Loop::V4(Box::new(el)), receive_max: None }
            }
            MqttProtocol::V5 => {
                let mut o = v5::MqttOptions::new(client_id, &cfg.host, cfg.port);
                o.set_keep_alive(keepalive)
                    .set_clean_start(!persistent)
                    .set_manual_acks(persistent)
                    .set_outgoing_inflight_upper_limit(cfg.max_inflight)
                    .set_max_packet_size(Some(MAX_PACKET))
                    .set_transport(transport)
                    .set_network_options(net);
                if let Session::Persistent { expiry_s } = session {
                    o.set_session_expiry_interval(Some(expiry_s));
                }
                if !cfg.username.is_empty() {
                    o.set_credentials(&cfg.username, &cfg.password);
                }
                if let Some(w) = will {
                    o.set_last_will(v5::mqttbytes::v5::LastWill::new(
                        w.topic,
                        w.payload,
                        qos5(w.qos.unwrap_or(cfg.qos)),
                        w.retain,
                        None,
                    ));
                }
                let (client, el) = v5::AsyncClient::new(o, capacity);
                Conn { client: Client::V5(client), eventloop: Loop::V5(Box::new(el)), receive_max: None }
            }
        }
    }

    /// The next event; an error ends the session.
    pub async fn poll(&mut self) -> Result<Event, String> {
        match &mut self.eventloop {
            Loop::V4(el) => {
                use rumqttc::{Event as E, Outgoing, Packet};
                match el.poll().await.map_err(|e| e.to_string())? {
                    E::Incoming(Packet::ConnAck(_)) => Ok(Event::Connected),
                    E::Incoming(Packet::PubAck(a)) => Ok(Event::PubAck(a.pkid)),
                    E::Incoming(Packet::SubAck(_)) => Ok(Event::SubAck),
                    E::Incoming(Packet::Publish(mut p)) => {
                        let payload = std::mem::take(&mut p.payload).to_vec();
                        let topic = std::mem::take(&mut p.topic);
                        let ack = (p.qos != rumqttc::QoS::AtMostOnce).then_some(AckHandle::V4(p));
                        Ok(Event::Message { topic, payload, ack, reply: Reply::default() })
                    }
                    E::Outgoing(Outgoing::Publish(pkid)) => Ok(Event::Sent(pkid)),
                    _ => Ok(Event::Other),
                }
            }
            Loop::V5(el) => {
                use rumqttc::Outgoing;
                use v5::mqttbytes::v5::Packet;
                use v5::Event as E;
                match el.poll().await.map_err(|e| e.to_string())? {
                    E::Incoming(Packet::ConnAck(c)) => {
                        self.receive_max = c.properties.and_then(|p| p.receive_max);
                        Ok(Event::Connected)
                    }
                    E::Incoming(Packet::PubAck(a)) => Ok(Event::PubAck(a.pkid)),
                    E::Incoming(Packet::SubAck(_)) => Ok(Event::SubAck),
                    E::Incoming(Packet::Publish(mut p)) => {
                        let payload = std::mem::take(&mut p.payload).to_vec();
                        let topic = String::from_utf8_lossy(&std::mem::take(&mut p.topic)).into_owned();
                        let reply = p
                            .properties
                            .as_mut()
                            .map(|props| Reply {
                                topic: props.response_topic.take(),
                                correlation: props.correlation_data.take().map(|c| c.to_vec()),
                            })
                            .unwrap_or_default();
                        let ack = (p.qos != v5::mqttbytes::QoS::AtMostOnce).then_some(AckHandle::V5(p));
                        Ok(Event::Message { topic, payload, ack, reply })
                    }
                    E::Outgoing(Outgoing::Publish(pkid)) => Ok(Event::Sent(pkid)),
                    _ => Ok(Event::Other),
                }
            }
        }
    }

    pub fn try_publish(&self, topic: &str, q: u8, retain: bool, payload: Vec<u8>) -> Result<(), String> {
        match &self.client {
            Client::V4(c) => c.try_publish(topic, qos(q), retain, payload).map_err(|e| e.to_string()),
            Client::V5(c) => c.try_publish(topic, qos5(q), retain, payload).map_err(|e| e.to_string()),
        }
    }

    /// `try_publish` with MQTT 5 publish properties (ignored on MQTT 3.1.1, which has none).
    pub fn try_publish_props(
        &self,
        topic: &str,
        q: u8,
        retain: bool,
        payload: Vec<u8>,
        props: Props,
    ) -> Result<(), String> {
        match &self.client {
            Client::V4(c) => c.try_publish(topic, qos(q), retain, payload).map_err(|e| e.to_string()),
            Client::V5(c) => {
                let p = v5::mqttbytes::v5::PublishProperties {
                    payload_format_indicator: props.utf8.then_some(1),
                    message_expiry_interval: props.expiry_s,
                    user_properties: props.user,
                    content_type: props.content_type,
                    correlation_data: props.correlation.map(Into::into),
                    ..Default::default()
                };
                c.try_publish_with_properties(topic, qos5(q), retain, payload, p).map_err(|e| e.to_string())
            }
        }
    }

    /// Queue the PUBACK of a received message. Fails (and can be retried after the next
    /// `poll`) when the request queue is full.
    pub fn try_ack(&self, ack: &AckHandle) -> Result<(), String> {
        match (&self.client, ack) {
            (Client::V4(c), AckHandle::V4(p)) => c.try_ack(p).map_err(|e| e.to_string()),
            (Client::V5(c), AckHandle::V5(p)) => c.try_ack(p).map_err(|e| e.to_string()),
            _ => Err("acknowledgement of the other MQTT protocol version".into()),
        }
    }

    pub fn try_subscribe(&self, filter: &str, q: u8) -> Result<(), String> {
        match &self.client {
            Client::V4(c) => c.try_subscribe(filter, qos(q)).map_err(|e| e.to_string()),
            Client::V5(c) => c.try_subscribe(filter, qos5(q)).map_err(|e| e.to_string()),
        }
    }

    /// Send DISCONNECT (a clean disconnect: the broker does not publish the will) and let
    /// the event loop flush it.
    pub async fn disconnect(mut self) {
        let r = match &self.client {
            Client::V4(c) => c.try_disconnect().map_err(|e| e.to_string()),
            Client::V5(c) => c.try_disconnect().map_err(|e| e.to_string()),
        };
        if r.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(2), async { while self.poll().await.is_ok() {} }).await;
        }
    }
}

/// Exponential back-off between connection attempts, from `min` doubling up to `max`.
pub struct Backoff {
    builder: backon::ExponentialBuilder,
    steps: backon::ExponentialBackoff,
    max: Duration,
}

impl Backoff {
    /// Exponential from `[mqtt] reconnect_min_ms` to `reconnect_max_ms`, with "equal
    /// jitter": each delay is drawn at random between half the exponential step and the
    /// step, so a fleet that lost its broker at the same moment does not come back in
    /// lockstep, and no delay exceeds `reconnect_max_ms`.
    pub fn new(cfg: &MqttConfig) -> Backoff {
        Backoff::between(Duration::from_millis(cfg.reconnect_min_ms), Duration::from_millis(cfg.reconnect_max_ms))
    }

    pub fn between(min: Duration, max: Duration) -> Backoff {
        // backon adds a random part in [0, step) to each step: half steps give [step/2, step).
        let builder = backon::ExponentialBuilder::default()
            .with_min_delay(min / 2)
            .with_max_delay(max / 2)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times();
        Backoff { steps: backon::BackoffBuilder::build(builder), builder, max }
    }

    pub fn reset(&mut self) {
        self.steps = backon::BackoffBuilder::build(self.builder);
    }

    pub fn next_delay(&mut self) -> Duration {
        // The steps never end (without_max_times); the cap, should they.
        self.steps.next().unwrap_or(self.max)
    }
}

/// When a connection error is the broker (or its TLS layer) refusing us rather than the
/// broker being unreachable: what to tell the operator, naming the config to fix.
pub fn refusal(err: &str) -> Option<&'static str> {
    let has = |s: &str| err.contains(s);
    if has("CertificateRequired") {
        Some("the broker requires a client certificate: set [mqtt.tls] client_cert and client_key")
    } else if has("BadCertificate") || has("UnknownCA") || has("CertificateUnknown") || has("CertificateRevoked") {
        Some("the broker rejected the client certificate ([mqtt.tls] client_cert): not signed by a CA it trusts, or revoked")
    } else if has("CertificateExpired") {
        Some("a certificate has expired (the broker's, or [mqtt.tls] client_cert)")
    } else if has("invalid peer certificate") {
        Some("the broker's certificate is not trusted: it must chain to [mqtt.tls] ca and name [mqtt] host")
    } else if has("BadUserNamePassword") || has("NotAuthorized") {
        Some("the broker refused the credentials ([mqtt] username/password)")
    } else {
        None
    }
}

#[cfg(test)]
mod backoff_tests {
    use super::Backoff;
    use std::time::Duration;

    #[test]
    fn reconnect_delays_grow_stay_within_the_bounds_and_are_spread_by_jitter() {
        let (min, max) = (Duration::from_millis(500), Duration::from_millis(30_000));
        let mut b = Backoff::between(min, max);
        let mut step = min;
        for _ in 0..12 {
            let d = b.next_delay();
            assert!(d >= step / 2 && d <= step, "{d:?} not in [{:?}, {step:?}]", step / 2);
            step = (step * 2).min(max);
        }
        b.reset();
        assert!(b.next_delay() <= min, "reset starts again from the first step");
        // A fleet of 200 gateways that lost the broker together: their first reconnects.
        let firsts: Vec<Duration> = (0..200).map(|_| Backoff::between(min, max).next_delay()).collect();
        let (lo, hi) = (firsts.iter().min().unwrap(), firsts.iter().max().unwrap());
        println!("first reconnect of 200 gateways: {lo:?} to {hi:?}");
        assert!(*hi - *lo > Duration::from_millis(100), "not spread: {lo:?} to {hi:?}");
    }
}
