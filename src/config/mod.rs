//! The site configuration: one TOML file, parsed once at start into typed structs and
//! validated, so that the rest of the daemon never sees an inconsistent config.
//!
//! Every key is documented in `configs/example.toml`. Relative paths are resolved against
//! the directory of the config file. Each section's structs and checks live in its own
//! file; `validate` here calls them in the order of the sections, and the checks across
//! sections (roles naming the sources' and subscriptions' points) pass what they need.

pub mod alarm;
mod api;
pub mod assets;
mod baseline;
pub mod diagnose;
mod error;
pub mod fleet;
pub mod inference;
pub mod mqtt;
pub mod packs;
mod params;
pub mod secret;
pub mod simulator;
pub mod sources;
pub mod store;

pub use api::{ApiConfig, DemoUser, TlsConfig};
pub use assets::{AssetConfig, RESERVED_ASSET_ID};
pub use baseline::{BaselineConfig, LearnConfig, RunningConfig};
pub use error::{ConfigError, KeyPath, Seg};
pub use sources::{
    ByteOrder, DataType, ModbusDeviceConfig, Parity, PointConfig, RegisterKind, SerialConfig, Transport,
};

use crate::location::Location;
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub site: SiteConfig,
    #[serde(default)]
    pub sources: sources::SourcesConfig,
    #[serde(default)]
    pub assets: Vec<AssetConfig>,
    #[serde(default)]
    pub store: store::StoreConfig,
    #[serde(default)]
    pub api: ApiConfig,
    pub simulator: Option<simulator::SimulatorConfig>,
    #[serde(default)]
    pub inference: inference::InferenceConfig,
    #[serde(default)]
    pub diagnose: diagnose::DiagnoseConfig,
    /// Local alarm outputs (GPIO) driven by open findings.
    #[serde(default)]
    pub alarm: alarm::AlarmConfig,
    /// MQTT broker, publish sink with outbox, and subscriptions (`config/mqtt.rs`).
    #[serde(default)]
    pub mqtt: mqtt::MqttConfig,
    /// Diagnostic packs, reference search, language.
    #[serde(default)]
    pub packs: packs::PacksConfig,
    /// Signed deploys over MQTT (`config/fleet.rs`).
    #[serde(default)]
    pub fleet: fleet::FleetConfig,
    /// The file this config was read from (not a TOML key).
    #[serde(skip)]
    pub file: PathBuf,
    /// SHA-256 of the config text as read (hex; not a TOML key): which config a gateway runs.
    #[serde(skip)]
    pub sha256: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default = "default_gateway")]
    pub gateway: String,
}

fn default_gateway() -> String {
    "gw1".into()
}
fn default_interval_ms() -> u64 {
    1000
}
fn one() -> f64 {
    1.0
}
fn yes() -> bool {
    true
}

impl Config {
    /// Read, parse and validate a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        Self::parse(path, &text)
    }

    /// Parse and validate config text; `path` names the file in errors and anchors relative
    /// paths.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let doc = Doc { file: path, text };
        let de = toml::de::Deserializer::parse(text).map_err(|e| doc.toml_error(e, KeyPath::root()))?;
        let mut config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = KeyPath(
                e.path()
                    .iter()
                    .filter_map(|s| match s {
                        serde_path_to_error::Segment::Seq { index } => Some(Seg::Index(*index)),
                        serde_path_to_error::Segment::Map { key } => Some(Seg::Key(key.clone())),
                        serde_path_to_error::Segment::Enum { variant } => Some(Seg::Key(variant.clone())),
                        serde_path_to_error::Segment::Unknown => None,
                    })
                    .collect(),
            );
            doc.toml_error(e.into_inner(), key)
        })?;
        config.file = path.to_path_buf();
        config.sha256 = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(text.as_bytes()))
        };
        let base = path.parent().unwrap_or(Path::new("."));
        // Library paths relative to this file (checked by validate).
        for lib in &mut config.inference.ep_libraries {
            lib.path = base.join(&lib.path);
        }
        if let Some(p) = &config.inference.rknn_runtime_path {
            config.inference.rknn_runtime_path = Some(base.join(p));
        }
        // Secrets first: validation checks what the files hold.
        config.mqtt.resolve_secrets(base, &doc)?;
        config.api.resolve_secrets(base, &doc)?;
        config.validate(&doc)?;
        config.api.resolve(base, &doc)?;
        config.store.path = base.join(&config.store.path);
        config.inference.models_dir = base.join(&config.inference.models_dir);
        config.packs.anchor(base, &config.store.path);
        config.fleet.anchor(base, &config.store.path, &config.packs.dirs);
        config.fleet.validate(&doc, &KeyPath::root(), config.mqtt.enabled, &config.packs.dirs)?;
        if let Some(p) = &config.inference.runtime_path {
            config.inference.runtime_path = Some(base.join(p));
        }
        config.mqtt.resolve_paths(base, &doc)?;
        Ok(config)
    }

    /// Warnings for secrets written inline in a config file that every local user can read
    /// (shown by `check`, logged at start).
    pub fn exposed_secrets(&self) -> Vec<String> {
        let demo_inline = self.api.demo_user.as_ref().is_some_and(|d| d.password_file.is_none());
        let mqtt_inline = !self.mqtt.password.is_empty() && self.mqtt.password_file.is_none();
        secret::exposed(&self.file, &[("mqtt.password", mqtt_inline), ("api.demo_user.password", demo_inline)])
    }

    /// Cross-field checks that serde cannot express, section by section.
    fn validate(&self, doc: &Doc) -> Result<(), ConfigError> {
        let root = KeyPath::root();
        nonempty_id(doc, &root.key("site").key("id"), &self.site.id)?;
        self.api.validate(doc, &root)?;
        let points = self.sources.validate(doc, &root)?;
        self.mqtt.validate(doc, &|p| points.all.contains(p))?;
        let mqtt_points = |p: &str| self.mqtt.subscriptions.iter().any(|s| mqtt::point_matches(&s.point, p));
        self.alarm.validate(doc, &root)?;
        assets::validate(doc, &root, &self.assets, &points, &mqtt_points)?;
        if let Some(sim) = &self.simulator {
            sim.validate(doc, &root)?;
        }
        self.inference.validate(doc, &root)?;
        self.diagnose.validate(doc, &root)?;
        self.store.validate(doc, &root)?;
        Ok(())
    }

    /// The configured unit of a point, `<source>.<point>`.
    pub fn point_unit(&self, point: &str) -> Option<&str> {
        let (dev, pt) = point.split_once('.')?;
        self.sources.modbus.iter().find(|d| d.id == dev)?.points.iter().find(|p| p.id == pt).map(|p| p.unit.as_str())
    }
}

fn nonempty_id(doc: &Doc, key: &KeyPath, id: &str) -> Result<(), ConfigError> {
    let ok = !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(doc.invalid(
            key.clone(),
            format!("value \"{id}\" is not a valid id: expected letters, digits, `_` or `-` (no dots or spaces)"),
        ))
    }
}

/// The text being parsed, for locating keys.
struct Doc<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Doc<'_> {
    fn toml_error(&self, e: toml::de::Error, key: KeyPath) -> ConfigError {
        let location = e.span().map(|s| Location::from_span(self.text, s)).or_else(|| self.locate(&key));
        ConfigError::Invalid { file: self.file.to_path_buf(), location, key, message: e.message().trim().to_string() }
    }

    fn invalid(&self, key: KeyPath, message: String) -> ConfigError {
        ConfigError::Invalid { file: self.file.to_path_buf(), location: self.locate(&key), key, message }
    }

    /// Find the span of the deepest key of `key` that exists in the document.
    fn locate(&self, key: &KeyPath) -> Option<Location> {
        use toml::de::{DeTable, DeValue};
        let root = DeTable::parse(self.text).ok()?;
        let mut span = None;
        let mut table: Option<&DeTable> = Some(root.get_ref());
        let mut array: Option<&toml::de::DeArray> = None;
        for seg in &key.0 {
            match seg {
                Seg::Key(k) => {
                    let t = table.take()?;
                    let (kspan, v) = t.iter().find(|(name, _)| name.get_ref() == k).map(|(n, v)| (n.span(), v))?;
                    span = Some(match v.get_ref() {
                        DeValue::Table(_) | DeValue::Array(_) => kspan,
                        _ => v.span(),
                    });
                    match v.get_ref() {
                        DeValue::Table(t) => table = Some(t),
                        DeValue::Array(a) => array = Some(a),
                        _ => {}
                    }
                }
                Seg::Index(i) => {
                    let a = array.take()?;
                    let v = a.get(*i)?;
                    span = Some(v.span());
                    if let DeValue::Table(t) = v.get_ref() {
                        table = Some(t);
                    }
                }
            }
        }
        span.map(|s| Location::from_span(self.text, s))
    }
}
