//! `[mqtt]`: the broker connection, the publish sink and its store-and-forward outbox, and
//! `[[mqtt.subscriptions]]` (ingest). Validated at load like the rest of the config.

use super::{nonempty_id, ConfigError, Doc, KeyPath};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// MQTT's largest packet (remaining length 268,435,455 bytes). Incoming packets are taken
/// up to this size: a smaller client limit makes rumqttc drop the connection on a large
/// message, which the broker then redelivers to the persistent session on every reconnect,
/// stopping ingest for good. Payloads above `[mqtt] max_message_bytes` are dropped by the
/// ingest source, counted and acknowledged.
pub const MAX_PACKET: u32 = 268_435_455;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// Off by default: a gateway without a broker runs as before.
    #[serde(default)]
    pub enabled: bool,
    #[serde(default = "default_host")]
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    /// Default `edgecite-{site}-{gateway}`.
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub protocol: MqttProtocol,
    #[serde(default)]
    pub username: String,
    /// The password inline, or (better) `password_file`: at most one of the two.
    #[serde(default)]
    pub password: String,
    /// A file holding the password, e.g. `${CREDENTIALS_DIRECTORY}/edgecite_mqtt-password`
    /// (see [`super::secret`]); after loading, `password` holds its contents.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    pub tls: Option<MqttTlsConfig>,
    #[serde(default = "default_keepalive_s")]
    pub keepalive_s: u64,
    #[serde(default = "default_connect_timeout_s")]
    pub connect_timeout_s: u64,
    #[serde(default = "default_reconnect_min_ms")]
    pub reconnect_min_ms: u64,
    #[serde(default = "default_reconnect_max_ms")]
    pub reconnect_max_ms: u64,
    /// First topic levels of everything published: `{topic_prefix}/{site}/{gateway}/...`.
    #[serde(default = "default_topic_prefix")]
    pub topic_prefix: String,
    /// QoS of published messages: 1 (default, the outbox waits for PUBACK) or 0.
    #[serde(default = "default_qos")]
    pub qos: u8,
    /// Per-asset rate limit of the telemetry stream: at most one message per interval
    /// (latest values win; every sample is still in the store).
    #[serde(default = "default_stream_interval_ms")]
    pub telemetry_interval_ms: u64,
    /// Telemetry is queued when an asset's samples arrive (each poll), not with the
    /// evaluation pass; arrivals within this many ms go in one outbox commit (0: each
    /// batch at once).
    #[serde(default = "default_telemetry_linger_ms")]
    pub telemetry_linger_ms: u64,
    /// MQTT 5: message expiry (s) of telemetry, so a broker does not deliver old telemetry
    /// to a consumer that was away; 0 (default) = never expires. Findings and state never do.
    #[serde(default)]
    pub telemetry_expiry_s: u32,
    /// Per-asset rate limit of the retained state stream.
    #[serde(default = "default_stream_interval_ms")]
    pub state_interval_ms: u64,
    /// Messages handed to the broker and not yet acknowledged, at most.
    #[serde(default = "default_max_inflight")]
    pub max_inflight: u16,
    /// Messages per second replayed from the backlog after a reconnect; live messages are
    /// sent besides, so a long backlog does not starve them.
    #[serde(default = "default_replay_rate")]
    pub replay_per_s: u32,
    #[serde(default)]
    pub outbox: OutboxConfig,
    #[serde(default)]
    pub subscriptions: Vec<SubscriptionConfig>,
    /// QoS of the ingest subscriptions: 1 (default; a message is acknowledged only after its
    /// samples are committed) or 0.
    #[serde(default = "default_qos")]
    pub ingest_qos: u8,
    /// MQTT 5 session expiry (s) of the persistent ingest session: how long the broker keeps
    /// queueing for a gateway that is away. (MQTT 3.1.1 sessions do not expire.)
    #[serde(default = "default_ingest_session_expiry_s")]
    pub ingest_session_expiry_s: u32,
    /// Largest ingest message (payload bytes) parsed; a larger one is counted as malformed
    /// (`too_large`), logged with its topic and size, acknowledged and dropped. The client
    /// itself takes packets up to MQTT's own maximum, so no message can stop the session.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: u32,
    /// Sparkplug B edge node (its own session and outbox; off by default).
    #[serde(default)]
    pub sparkplug: SparkplugConfig,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SparkplugConfig {
    #[serde(default)]
    pub enabled: bool,
    /// Sparkplug group id (required when enabled).
    #[serde(default)]
    pub group_id: String,
    /// Edge node id; default the site's gateway id. Each asset is a device.
    #[serde(default)]
    pub edge_node_id: String,
    /// Host id of the primary host application (SCADA). When set, births (and data) are
    /// published only while its `spBv1.0/STATE/{id}` says online; when it goes offline the
    /// node sends its NDEATH and reconnects, and births again when the host returns.
    #[serde(default)]
    pub primary_host_id: String,
    /// Accept DCMD writes to `values/{role}` metrics whose Modbus point is `writable`
    /// (checked and audited like every write). Off by default.
    #[serde(default)]
    pub accept_dcmd: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum MqttProtocol {
    #[default]
    #[serde(rename = "3.1.1")]
    V311,
    #[serde(rename = "5")]
    V5,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttTlsConfig {
    /// PEM file with the CA certificate(s) the broker's certificate must chain to.
    pub ca: PathBuf,
    /// PEM client certificate chain and key, for brokers that require client certificates.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxConfig {
    /// SQLite file of the outbox; default `outbox.db` beside the store.
    pub path: Option<PathBuf>,
    /// Bytes of queued messages (topic + payload) kept at most. Beyond it the oldest
    /// telemetry is dropped (counted); findings, state and metrics are never dropped.
    #[serde(default = "default_quota_bytes")]
    pub quota_bytes: u64,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig { path: None, quota_bytes: default_quota_bytes() }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionConfig {
    /// Topic filter; `+` and `#` wildcards allowed.
    pub topic: String,
    /// The point the values are stored as: `<source>.<point>`. With wildcards, `{1}`, `{2}`...
    /// are replaced by the topic levels the wildcards matched (e.g. `"plant.{1}"`).
    /// For Sparkplug payloads, each metric becomes `<point>.<metric name>` (names sanitised).
    pub point: String,
    #[serde(default)]
    pub format: PayloadFormat,
    /// JSON: dotted path of the value (`"data.value"`, `"values.0"`).
    #[serde(default)]
    pub value: String,
    /// JSON: dotted path of an optional timestamp (a number in `timestamp_unit`, or RFC
    /// 3339 text), from the document root.
    #[serde(default)]
    pub timestamp: String,
    /// JSON: what a numeric timestamp counts: `s`, `ms` (default), `us`, `ns`; `rfc3339`
    /// accepts text only.
    #[serde(default)]
    pub timestamp_unit: TimestampUnit,
    /// JSON template: dotted path of the tags, a map (tag name -> entry) or an array of
    /// entries; each tag becomes a point (`{tag}` in `point`). `value` is then the path
    /// inside an entry ("" = the entry itself).
    #[serde(default)]
    pub tags: String,
    /// JSON template, array form: path of the tag name inside an entry (default "name").
    #[serde(default = "default_tag_name")]
    pub tag_name: String,
    /// JSON template: path of a per-tag timestamp inside an entry (else `timestamp`).
    #[serde(default)]
    pub tag_timestamp: String,
    /// JSON template: path of a per-tag quality inside an entry: good when true, "good" or
    /// "ok", or 192-255 (OPC DA); anything else stores the tag with quality `bad`.
    #[serde(default)]
    pub tag_quality: String,
    /// JSON template: path of a map tag -> error (Neuron's `errors`): each such tag is
    /// stored with quality `bad`, not counted as a malformed payload.
    #[serde(default)]
    pub errors: String,
    #[serde(default)]
    pub unit: String,
}

fn default_tag_name() -> String {
    "name".into()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimestampUnit {
    S,
    #[default]
    Ms,
    Us,
    Ns,
    Rfc3339,
}

impl TimestampUnit {
    pub fn as_str(self) -> &'static str {
        match self {
            TimestampUnit::S => "s",
            TimestampUnit::Ms => "ms",
            TimestampUnit::Us => "us",
            TimestampUnit::Ns => "ns",
            TimestampUnit::Rfc3339 => "rfc3339",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayloadFormat {
    /// The payload is a number as text (`"21.5"`).
    #[default]
    Number,
    /// A JSON document; `value` (and optionally `timestamp`) point into it.
    Json,
    /// Sparkplug B NDATA/DDATA (protobuf).
    SparkplugB,
}

impl Default for MqttConfig {
    fn default() -> Self {
        toml::from_str("").expect("all keys have defaults")
    }
}

fn default_host() -> String {
    "127.0.0.1".into()
}
fn default_port() -> u16 {
    1883
}
fn default_keepalive_s() -> u64 {
    30
}
fn default_connect_timeout_s() -> u64 {
    5
}
fn default_reconnect_min_ms() -> u64 {
    500
}
fn default_reconnect_max_ms() -> u64 {
    30_000
}
fn default_topic_prefix() -> String {
    "edgecite/v1".into()
}
fn default_qos() -> u8 {
    1
}
fn default_telemetry_linger_ms() -> u64 {
    5
}
/// Longest `telemetry_linger_ms`: it adds to every telemetry message's delay.
pub const MAX_TELEMETRY_LINGER_MS: u64 = 1000;
fn default_ingest_session_expiry_s() -> u32 {
    7 * 24 * 3600
}
fn default_max_message_bytes() -> u32 {
    1 << 20
}
fn default_stream_interval_ms() -> u64 {
    1000
}
fn default_max_inflight() -> u16 {
    500
}
fn default_replay_rate() -> u32 {
    10_000
}
fn default_quota_bytes() -> u64 {
    256 * 1024 * 1024
}

impl MqttConfig {
    pub fn client_id_for(&self, site: &str, gateway: &str) -> String {
        if self.client_id.is_empty() {
            format!("edgecite-{site}-{gateway}")
        } else {
            self.client_id.clone()
        }
    }

    /// The outbox file: the configured one, or `outbox.db` beside the store.
    pub fn outbox_path(&self, store_path: &Path) -> PathBuf {
        match &self.outbox.path {
            Some(p) => p.clone(),
            None => store_path.parent().unwrap_or(Path::new(".")).join("outbox.db"),
        }
    }

    /// Read `password_file` (before validation).
    pub(super) fn resolve_secrets(&mut self, base: &Path, doc: &Doc) -> Result<(), ConfigError> {
        let at = KeyPath::root().key("mqtt");
        if let Some(p) = super::secret::resolve(doc, &at, "password", &self.password, &mut self.password_file, base)? {
            self.password = p;
        }
        Ok(())
    }

    pub(super) fn resolve_paths(&mut self, base: &Path, doc: &Doc) -> Result<(), ConfigError> {
        if let Some(p) = &self.outbox.path {
            self.outbox.path = Some(base.join(p));
        }
        if let Some(t) = &mut self.tls {
            let at = KeyPath::root().key("mqtt").key("tls");
            let anchor = |key: &str, p: &Path| super::secret::anchor(doc, &at.key(key), base, p);
            t.ca = anchor("ca", &t.ca)?;
            t.client_cert = t.client_cert.as_deref().map(|p| anchor("client_cert", p)).transpose()?;
            t.client_key = t.client_key.as_deref().map(|p| anchor("client_key", p)).transpose()?;
        }
        Ok(())
    }

    pub(super) fn validate(&self, doc: &Doc, known_points: &dyn Fn(&str) -> bool) -> Result<(), ConfigError> {
        let at = KeyPath::root().key("mqtt");
        if self.host.is_empty() {
            return Err(
                doc.invalid(at.key("host"), "value \"\" is empty: expected a broker host name or address".into())
            );
        }
        if self.port == 0 {
            return Err(doc.invalid(at.key("port"), "value 0 is out of range: expected 1 to 65535".into()));
        }
        if self.qos > 1 {
            return Err(doc.invalid(
                at.key("qos"),
                format!(
                    "value {} is not supported: expected 0 or 1 (the outbox gives at-least-once delivery with QoS 1)",
                    self.qos
                ),
            ));
        }
        if self.ingest_qos > 1 {
            return Err(doc.invalid(
                at.key("ingest_qos"),
                format!("value {} is not supported: expected 0 or 1", self.ingest_qos),
            ));
        }
        if !(5..=65_535).contains(&self.keepalive_s) {
            return Err(doc.invalid(
                at.key("keepalive_s"),
                format!("value {} is out of range: expected 5 to 65535 (s)", self.keepalive_s),
            ));
        }
        if self.connect_timeout_s == 0 {
            return Err(
                doc.invalid(at.key("connect_timeout_s"), "value 0 is too small: expected at least 1 (s)".into())
            );
        }
        if self.reconnect_min_ms == 0 || self.reconnect_min_ms > self.reconnect_max_ms {
            return Err(doc.invalid(
                at.key("reconnect_min_ms"),
                format!(
                    "value {} is out of range: expected 1 to reconnect_max_ms ({})",
                    self.reconnect_min_ms, self.reconnect_max_ms
                ),
            ));
        }
        if self.telemetry_linger_ms > MAX_TELEMETRY_LINGER_MS {
            return Err(doc.invalid(
                at.key("telemetry_linger_ms"),
                format!(
                    "value {} is out of range: expected 0 to {MAX_TELEMETRY_LINGER_MS} ms (it delays every telemetry message)",
                    self.telemetry_linger_ms
                ),
            ));
        }
        if self.max_inflight == 0 {
            return Err(doc.invalid(at.key("max_inflight"), "value 0 is too small: expected at least 1".into()));
        }
        if !(1024..=MAX_PACKET).contains(&self.max_message_bytes) {
            return Err(doc.invalid(
                at.key("max_message_bytes"),
                format!(
                    "value {} is out of range: expected 1024 to {} (bytes, MQTT's maximum)",
                    self.max_message_bytes, MAX_PACKET
                ),
            ));
        }
        if self.replay_per_s == 0 {
            return Err(
                doc.invalid(at.key("replay_per_s"), "value 0 is too small: expected at least 1 (messages/s)".into())
            );
        }
        let prefix_ok = !self.topic_prefix.is_empty()
            && !self.topic_prefix.starts_with('/')
            && !self.topic_prefix.ends_with('/')
            && !self.topic_prefix.contains(['+', '#', '\0']);
        if !prefix_ok {
            return Err(doc.invalid(
                at.key("topic_prefix"),
                format!(
                    "value \"{}\" is not a topic prefix: expected levels like \"edgecite/v1\" without wildcards or leading/trailing `/`",
                    self.topic_prefix
                ),
            ));
        }
        if self.outbox.quota_bytes < 64 * 1024 {
            return Err(doc.invalid(
                at.key("outbox").key("quota_bytes"),
                format!("value {} is too small: expected at least 65536 (bytes)", self.outbox.quota_bytes),
            ));
        }
        if let Some(t) = &self.tls {
            if t.client_cert.is_some() != t.client_key.is_some() {
                return Err(doc
                    .invalid(at.key("tls"), "`client_cert` and `client_key` go together: set both or neither".into()));
            }
        }
        if self.sparkplug.enabled {
            let sat = at.key("sparkplug");
            for (k, v) in [
                ("group_id", &self.sparkplug.group_id),
                ("edge_node_id", &self.sparkplug.edge_node_id),
                ("primary_host_id", &self.sparkplug.primary_host_id),
            ] {
                let required = k == "group_id";
                if (required && v.is_empty()) || v.contains(['/', '+', '#']) {
                    return Err(doc.invalid(
                        sat.key(k),
                        format!(
                            "value \"{v}\" is not a Sparkplug id: expected a non-empty name without `/`, `+` or `#`"
                        ),
                    ));
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (i, s) in self.subscriptions.iter().enumerate() {
            let sat = at.key("subscriptions").index(i);
            if let Err(why) = check_filter(&s.topic) {
                return Err(
                    doc.invalid(sat.key("topic"), format!("value \"{}\" is not a topic filter: {why}", s.topic))
                );
            }
            let Some((dev, _)) = s.point.split_once('.') else {
                return Err(doc.invalid(
                    sat.key("point"),
                    format!("value \"{}\" is not a point: expected `<source>.<point>`", s.point),
                ));
            };
            nonempty_id(doc, &sat.key("point"), dev)?;
            if known_points(&s.point) {
                return Err(doc.invalid(
                    sat.key("point"),
                    format!("value \"{}\" is already a Modbus point: MQTT points need their own source id", s.point),
                ));
            }
            let wildcards = s.topic.split('/').filter(|l| *l == "+" || *l == "#").count();
            for n in 1..=9 {
                if s.point.contains(&format!("{{{n}}}")) && n > wildcards {
                    return Err(doc.invalid(
                        sat.key("point"),
                        format!("value \"{}\" uses {{{n}}} but the topic has {wildcards} wildcard(s)", s.point),
                    ));
                }
            }
            let template_keys = [
                ("tags", &s.tags),
                ("tag_timestamp", &s.tag_timestamp),
                ("tag_quality", &s.tag_quality),
                ("errors", &s.errors),
            ];
            if s.format != PayloadFormat::Json {
                if let Some((k, _)) = template_keys.iter().find(|(_, v)| !v.is_empty()) {
                    return Err(doc.invalid(sat.key(k), format!("`{k}` is for format = \"json\" only")));
                }
            }
            if s.tags.is_empty() && s.point.contains("{tag}") {
                return Err(doc.invalid(
                    sat.key("point"),
                    format!("value \"{}\" uses {{tag}} but `tags` (the path of the tags) is not set", s.point),
                ));
            }
            if !s.tags.is_empty() && !s.point.contains("{tag}") {
                return Err(doc.invalid(
                    sat.key("point"),
                    format!("value \"{}\" has no {{tag}}: with `tags` every tag needs its own point", s.point),
                ));
            }
            if s.tags.is_empty() {
                if let Some((k, _)) = template_keys[1..].iter().find(|(_, v)| !v.is_empty()) {
                    return Err(doc.invalid(sat.key(k), format!("`{k}` needs `tags` (the path of the tags)")));
                }
            }
            if s.format == PayloadFormat::Json && s.value.is_empty() && s.tags.is_empty() {
                return Err(doc.invalid(
                    sat.clone(),
                    "missing key `value`: format \"json\" needs the path of the value, e.g. value = \"data.value\""
                        .into(),
                ));
            }
            // Several subscriptions may share a topic (one payload, several templates); the
            // same topic and point twice is a copy-paste mistake.
            if !seen.insert((s.topic.as_str(), s.point.as_str())) {
                return Err(doc.invalid(
                    sat.key("point"),
                    format!(
                        "duplicate subscription: topic `{}` with point `{}` is already configured",
                        s.topic, s.point
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// An MQTT topic filter: non-empty, `#` only as the whole last level, `+` only as a whole level.
pub fn check_filter(f: &str) -> Result<(), &'static str> {
    if f.is_empty() {
        return Err("empty");
    }
    let levels: Vec<&str> = f.split('/').collect();
    for (i, l) in levels.iter().enumerate() {
        if l.contains('#') && (*l != "#" || i != levels.len() - 1) {
            return Err("`#` must be the whole last level");
        }
        if l.contains('+') && *l != "+" {
            return Err("`+` must be a whole level");
        }
    }
    Ok(())
}

/// Whether a concrete point id can come from a subscription's point template: each
/// placeholder (`{1}`..`{9}`, `{metric}`) stands for one or more characters other than `.`.
pub fn point_matches(template: &str, point: &str) -> bool {
    fn go(t: &str, p: &str) -> bool {
        match t.find('{') {
            None => t == p,
            Some(i) => {
                let Some(close) = t[i..].find('}') else { return t == p };
                if !p.starts_with(&t[..i]) {
                    return false;
                }
                let rest_t = &t[i + close + 1..];
                let rest_p = &p[i..];
                (1..=rest_p.len())
                    .take_while(|&n| !rest_p[..n].contains('.'))
                    .any(|n| rest_p.is_char_boundary(n) && go(rest_t, &rest_p[n..]))
            }
        }
    }
    go(template, point)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_one_level_per_placeholder() {
        assert!(point_matches("plant.{1}", "plant.t1"));
        assert!(!point_matches("plant.{1}", "plant.t1.x"));
        assert!(point_matches("spb.{1}_{metric}", "spb.n1_temp"));
        assert!(point_matches("ext.temp", "ext.temp"));
        assert!(!point_matches("ext.temp", "ext.temp2"));
        assert!(!point_matches("plant.{1}", "plant."));
    }

    #[test]
    fn filters_are_checked() {
        assert!(check_filter("a/+/b/#").is_ok());
        assert!(check_filter("a/b#").is_err());
        assert!(check_filter("a/#/b").is_err());
        assert!(check_filter("a/x+/b").is_err());
        assert!(check_filter("").is_err());
    }
}
