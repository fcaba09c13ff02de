//! The site configuration: one TOML file, parsed once at start into typed structs and
//! validated, so that the rest of the daemon never sees an inconsistent config.
//!
//! Every key is documented in `configs/example.toml`. Relative paths are resolved against
//! the directory of the config file.

mod api;
mod baseline;
pub use baseline::{BaselineConfig, LearnConfig, RunningConfig};
mod error;
pub mod inference;

pub use api::{ApiConfig, DemoUser, TlsConfig};
pub mod mqtt;
pub mod packs;
mod params;
pub mod secret;

use crate::location::Location;
pub use error::{ConfigError, KeyPath, Seg};

use crate::knowledge::classes::AssetClass;
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub site: SiteConfig,
    #[serde(default)]
    pub sources: SourcesConfig,
    #[serde(default)]
    pub assets: Vec<AssetConfig>,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub api: ApiConfig,
    pub simulator: Option<SimulatorConfig>,
    #[serde(default)]
    pub inference: InferenceConfig,
    #[serde(default)]
    pub diagnose: DiagnoseConfig,
    /// Local alarm outputs (GPIO) driven by open findings.
    #[serde(default)]
    pub alarm: AlarmConfig,
    /// MQTT broker, publish sink with outbox, and subscriptions (`config/mqtt.rs`).
    #[serde(default)]
    pub mqtt: mqtt::MqttConfig,
    /// Diagnostic packs, reference search, language.
    #[serde(default)]
    pub packs: packs::PacksConfig,
    /// The file this config was read from (not a TOML key).
    #[serde(skip)]
    pub file: PathBuf,
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

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourcesConfig {
    #[serde(default)]
    pub modbus: Vec<ModbusDeviceConfig>,
    /// Sensors on the gateway's own I2C bus.
    #[serde(default)]
    pub i2c: Vec<I2cSensorConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct I2cSensorConfig {
    pub id: String,
    /// The bus device, e.g. `/dev/i2c-1`.
    pub bus: String,
    /// 7-bit address (TOML takes `0x48`).
    pub address: u8,
    pub sensor: I2cSensor,
    #[serde(default = "default_i2c_interval_ms")]
    pub interval_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum I2cSensor {
    /// TI TMP102 temperature sensor; its point is `<id>.temperature` in °C.
    Tmp102,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmConfig {
    #[serde(default)]
    pub outputs: Vec<AlarmOutputConfig>,
    /// An LED toggled on every evaluation: it stops blinking when the pipeline stalls.
    pub heartbeat: Option<GpioLine>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmOutputConfig {
    pub id: String,
    pub chip: String,
    pub line: u32,
    #[serde(default)]
    pub active_low: bool,
    /// The lowest severity of an open finding that switches the output on.
    pub min_severity: crate::knowledge::Severity,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpioLine {
    pub chip: String,
    pub line: u32,
    #[serde(default)]
    pub active_low: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModbusDeviceConfig {
    pub id: String,
    #[serde(default)]
    pub transport: Transport,
    /// Host of a Modbus TCP device or of a serial device server (`rtu_over_tcp`).
    #[serde(default)]
    pub host: String,
    #[serde(default = "default_modbus_port")]
    pub port: u16,
    /// Serial line of an RTU device. Devices naming the same path share one bus.
    pub serial: Option<SerialConfig>,
    #[serde(default = "default_unit")]
    pub unit: u8,
    #[serde(default = "default_interval_ms")]
    pub interval_ms: u64,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Most registers one request may read (protocol limit 125; some devices accept fewer).
    #[serde(default = "default_max_registers")]
    pub max_registers_per_request: u16,
    /// Most coils or discrete inputs one request may read (protocol limit 2000).
    #[serde(default = "default_max_bits")]
    pub max_bits_per_request: u16,
    /// Unused registers (or bits) a request may read to join two groups of points.
    #[serde(default)]
    pub max_gap: u16,
    /// First back-off after a timeout; doubles on each further timeout up to `backoff_max_ms`.
    #[serde(default = "default_backoff_initial_ms")]
    pub backoff_initial_ms: u64,
    #[serde(default = "default_backoff_max_ms")]
    pub backoff_max_ms: u64,
    #[serde(default)]
    pub points: Vec<PointConfig>,
}

impl ModbusDeviceConfig {
    /// A Modbus TCP device with defaults for everything but where it is.
    pub fn tcp(id: &str, host: &str, port: u16, unit: u8) -> Self {
        ModbusDeviceConfig {
            id: id.into(),
            transport: Transport::Tcp,
            host: host.into(),
            port,
            serial: None,
            unit,
            interval_ms: default_interval_ms(),
            timeout_ms: default_timeout_ms(),
            max_registers_per_request: default_max_registers(),
            max_bits_per_request: default_max_bits(),
            max_gap: 0,
            backoff_initial_ms: default_backoff_initial_ms(),
            backoff_max_ms: default_backoff_max_ms(),
            points: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// Modbus TCP (MBAP framing).
    #[default]
    Tcp,
    /// Modbus RTU on a local serial port.
    Rtu,
    /// Modbus RTU frames carried over a TCP connection (serial device servers, 4G DTUs).
    RtuOverTcp,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SerialConfig {
    pub path: String,
    #[serde(default = "default_baud")]
    pub baud: u32,
    #[serde(default)]
    pub parity: Parity,
    #[serde(default = "default_data_bits")]
    pub data_bits: u8,
    #[serde(default = "default_stop_bits")]
    pub stop_bits: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Parity {
    #[default]
    None,
    Even,
    Odd,
}

impl SerialConfig {
    /// Bits on the wire per character: start + data + parity + stop.
    pub fn bits_per_char(&self) -> u32 {
        1 + self.data_bits as u32 + (self.parity != Parity::None) as u32 + self.stop_bits as u32
    }

    /// The silent interval that separates RTU frames: 3.5 character times, and a fixed
    /// 1750 µs above 19200 baud (Modbus over serial line, 2.5.1.1).
    pub fn inter_frame_delay(&self) -> std::time::Duration {
        if self.baud > 19_200 {
            std::time::Duration::from_micros(1750)
        } else {
            std::time::Duration::from_micros((3.5 * self.bits_per_char() as f64 * 1e6 / self.baud as f64).ceil() as u64)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegisterKind {
    /// Function 01.
    Coil,
    /// Function 02.
    DiscreteInput,
    /// Function 03.
    Holding,
    /// Function 04.
    Input,
}

impl RegisterKind {
    pub fn is_bits(self) -> bool {
        matches!(self, RegisterKind::Coil | RegisterKind::DiscreteInput)
    }

    /// The Modbus function code that reads this kind.
    pub fn function_code(self) -> u8 {
        match self {
            RegisterKind::Coil => 1,
            RegisterKind::DiscreteInput => 2,
            RegisterKind::Holding => 3,
            RegisterKind::Input => 4,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RegisterKind::Coil => "coil",
            RegisterKind::DiscreteInput => "discrete_input",
            RegisterKind::Holding => "holding",
            RegisterKind::Input => "input",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataType {
    /// A coil or discrete input, or bit `bit` of a register.
    Bit,
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
    F32,
    F64,
    /// ASCII text, two characters per register, `length` registers (trailing NULs and
    /// spaces trimmed).
    String,
}

impl DataType {
    /// Registers (or bits, for coils and discrete inputs) the type occupies; for strings
    /// see [`PointConfig::registers`].
    pub fn registers(self) -> u16 {
        match self {
            DataType::Bit | DataType::U16 | DataType::I16 | DataType::String => 1,
            DataType::U32 | DataType::I32 | DataType::F32 => 2,
            DataType::U64 | DataType::I64 | DataType::F64 => 4,
        }
    }
}

/// Order of a value's bytes as they arrive, A most significant. See `sources::modbus::decode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum ByteOrder {
    /// Big-endian: the Modbus default.
    #[default]
    ABCD,
    /// Bytes swapped within each word.
    BADC,
    /// Words swapped (low word first).
    CDAB,
    /// Little-endian.
    DCBA,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointConfig {
    pub id: String,
    pub register: RegisterKind,
    pub address: u16,
    #[serde(rename = "type")]
    pub data_type: DataType,
    /// With `type = "bit"` on a holding or input register: which bit (0 = least significant).
    pub bit: Option<u8>,
    /// With `type = "string"`: how many registers (two characters each), 1 to 125.
    pub length: Option<u16>,
    #[serde(default)]
    pub order: ByteOrder,
    #[serde(default = "one")]
    pub scale: f64,
    #[serde(default)]
    pub offset: f64,
    #[serde(default)]
    pub unit: String,
    /// Poll interval of this point; default: the device's.
    pub interval_ms: Option<u64>,
    /// Store a new sample only when it differs from the last stored one by more than this...
    pub deadband_abs: Option<f64>,
    /// ...or by more than this percentage of it (unchanged values are re-stored every 60 s).
    pub deadband_pct: Option<f64>,
    /// Values outside [valid_min, valid_max] get quality `out_of_range`.
    pub valid_min: Option<f64>,
    pub valid_max: Option<f64>,
    /// Writes (functions 05/06/15/16) are refused unless this is true. Default false.
    #[serde(default)]
    pub writable: bool,
}

impl PointConfig {
    /// A point with defaults for everything but its identity and place.
    pub fn new(id: &str, register: RegisterKind, address: u16, data_type: DataType) -> Self {
        PointConfig {
            id: id.into(),
            register,
            address,
            data_type,
            bit: None,
            length: None,
            order: ByteOrder::ABCD,
            scale: 1.0,
            offset: 0.0,
            unit: String::new(),
            interval_ms: None,
            deadband_abs: None,
            deadband_pct: None,
            valid_min: None,
            valid_max: None,
            writable: false,
        }
    }

    /// Registers (or bits) the point occupies.
    pub fn registers(&self) -> u16 {
        match self.data_type {
            DataType::String => self.length.unwrap_or(1),
            t => t.registers(),
        }
    }

    pub fn interval_ms(&self, device: &ModbusDeviceConfig) -> u64 {
        self.interval_ms.unwrap_or(device.interval_ms)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetConfig {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub class: AssetClass,
    /// role name -> `<source id>.<point id>`
    #[serde(default)]
    pub roles: BTreeMap<String, String>,
    /// Evidence older than this is stale and the diagnosis abstains.
    #[serde(default = "default_stale_after_ms")]
    pub stale_after_ms: u64,
    pub vibration: Option<VibrationConfig>,
    /// Parameters pack criteria read (age_years, insulation_class, voltage_class, ...).
    #[serde(default)]
    pub params: BTreeMap<String, packs::Param>,
    /// Baselines learned from this asset's own normal (`config/baseline.rs`).
    #[serde(default)]
    pub baselines: Vec<BaselineConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VibrationConfig {
    pub group: MachineGroup,
    pub foundation: Foundation,
    /// Below this motor current (A) the machine is taken as stopped and the vibration
    /// criterion abstains. Needs the `motor_current` role; unset = no running check.
    pub min_running_current_a: Option<f64>,
}

/// ISO 10816-3 machine groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MachineGroup {
    /// Large machines, rated power above 300 kW.
    Group1,
    /// Medium machines, 15 kW to 300 kW.
    Group2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Foundation {
    Rigid,
    Flexible,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    #[serde(default = "default_store_path")]
    pub path: PathBuf,
    #[serde(default = "default_retention_hours")]
    pub sample_retention_hours: f64,
    #[serde(default = "default_max_samples")]
    pub max_samples: u64,
    /// SQLite page cache per connection, KiB: bounds the store's memory.
    #[serde(default = "default_cache_kib")]
    pub cache_kib: u32,
    /// Disk watermark: with less free space than this on the store's file system, samples
    /// are dropped (counted, `/healthz` degraded) so findings, acknowledgements and the
    /// outbox keep the room that is left.
    #[serde(default = "default_min_free_mib")]
    pub min_free_mib: u64,
    /// Seconds between `PRAGMA quick_check` runs (0: off); a problem makes `/healthz`
    /// degraded and sets `edgecite_store_integrity_ok` to 0.
    #[serde(default = "default_quick_check_interval_s")]
    pub quick_check_interval_s: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: default_store_path(),
            sample_retention_hours: default_retention_hours(),
            max_samples: default_max_samples(),
            cache_kib: default_cache_kib(),
            min_free_mib: default_min_free_mib(),
            quick_check_interval_s: default_quick_check_interval_s(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatorConfig {
    #[serde(default = "default_sim_listen")]
    pub listen: SocketAddr,
    #[serde(default = "one_u64")]
    pub seed: u64,
    #[serde(default = "one")]
    pub time_factor: f64,
    #[serde(default)]
    pub start_hours: f64,
    #[serde(default = "one")]
    pub fault_onset_hours: f64,
    #[serde(default = "default_ramp_hours")]
    pub fault_ramp_hours: f64,
    #[serde(default = "yes")]
    pub transformer_fault: bool,
    #[serde(default = "yes")]
    pub pump_fault: bool,
    /// When the pump's fault starts, if not at `fault_onset_hours` (e.g. after a baseline
    /// has learned the healthy pump).
    #[serde(default)]
    pub pump_fault_onset_hours: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InferenceConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Path of libonnxruntime.so; if absent, `ORT_DYLIB_PATH`, then standard locations.
    pub runtime_path: Option<PathBuf>,
    #[serde(default = "default_models_dir")]
    pub models_dir: PathBuf,
    /// Execution providers in order of preference; CPU is always the last resort.
    #[serde(default)]
    pub providers: Vec<inference::Provider>,
    /// Poll the models directory every this many ms and reload on a change (0 = off).
    #[serde(default)]
    pub watch_ms: u64,
    /// Options per execution provider (`[inference.provider_options.openvino] device_type = "NPU"`).
    #[serde(default)]
    pub provider_options: inference::ProviderOptions,
    /// Path of librknnrt.so for the `rknn` provider; if absent, `RKNN_RUNTIME_PATH`, then
    /// /usr/lib and the other standard places.
    #[serde(default)]
    pub rknn_runtime_path: Option<PathBuf>,
    /// Plugin execution-provider libraries to register (`[[inference.ep_libraries]]`).
    #[serde(default)]
    pub ep_libraries: Vec<inference::EpLibrary>,
}

impl Default for InferenceConfig {
    fn default() -> Self {
        InferenceConfig {
            enabled: true,
            runtime_path: None,
            models_dir: default_models_dir(),
            providers: Vec::new(),
            watch_ms: 0,
            provider_options: Default::default(),
            rknn_runtime_path: None,
            ep_libraries: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiagnoseConfig {
    #[serde(default = "default_interval_ms")]
    pub interval_ms: u64,
    #[serde(default = "three")]
    pub open_after: u32,
    #[serde(default = "three")]
    pub clear_after: u32,
}

impl Default for DiagnoseConfig {
    fn default() -> Self {
        DiagnoseConfig { interval_ms: default_interval_ms(), open_after: 3, clear_after: 3 }
    }
}

fn default_gateway() -> String {
    "gw1".into()
}
fn default_modbus_port() -> u16 {
    502
}
fn default_unit() -> u8 {
    1
}
fn default_interval_ms() -> u64 {
    1000
}
fn default_timeout_ms() -> u64 {
    1000
}
fn default_i2c_interval_ms() -> u64 {
    5000
}
fn default_max_registers() -> u16 {
    125
}
fn default_max_bits() -> u16 {
    2000
}
fn default_backoff_initial_ms() -> u64 {
    1000
}
fn default_backoff_max_ms() -> u64 {
    60_000
}
fn default_baud() -> u32 {
    9600
}
fn default_data_bits() -> u8 {
    8
}
fn default_stop_bits() -> u8 {
    1
}
fn default_stale_after_ms() -> u64 {
    10_000
}
fn default_store_path() -> PathBuf {
    "edgecite.db".into()
}
fn default_retention_hours() -> f64 {
    168.0
}
fn default_max_samples() -> u64 {
    5_000_000
}
fn default_min_free_mib() -> u64 {
    64
}
fn default_quick_check_interval_s() -> u64 {
    3600
}
fn default_cache_kib() -> u32 {
    512
}
fn default_sim_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5020))
}
fn default_ramp_hours() -> f64 {
    24.0
}
fn default_models_dir() -> PathBuf {
    "models".into()
}
fn one() -> f64 {
    1.0
}
fn one_u64() -> u64 {
    1
}
fn three() -> u32 {
    3
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

    /// Cross-field checks that serde cannot express.
    fn validate(&self, doc: &Doc) -> Result<(), ConfigError> {
        let root = KeyPath::root();
        nonempty_id(doc, &root.key("site").key("id"), &self.site.id)?;
        self.api.validate(doc, &root)?;

        let mut device_ids = HashSet::new();
        let mut points = HashSet::new();
        let mut string_points = HashSet::new();
        for (d, dev) in self.sources.modbus.iter().enumerate() {
            let at = root.key("sources").key("modbus").index(d);
            nonempty_id(doc, &at.key("id"), &dev.id)?;
            if !device_ids.insert(dev.id.as_str()) {
                return Err(doc.invalid(at.key("id"), format!("duplicate source id `{}`", dev.id)));
            }
            if dev.interval_ms < 10 {
                return Err(doc.invalid(
                    at.key("interval_ms"),
                    format!("value {} is too small: expected at least 10 (ms)", dev.interval_ms),
                ));
            }
            if dev.timeout_ms == 0 || dev.timeout_ms > 60_000 {
                return Err(doc.invalid(
                    at.key("timeout_ms"),
                    format!("value {} is out of range: expected 1 to 60000 (ms)", dev.timeout_ms),
                ));
            }
            let unit_max = if dev.transport == Transport::Tcp { 255 } else { 247 };
            if dev.unit == 0 || dev.unit > unit_max {
                return Err(doc.invalid(
                    at.key("unit"),
                    format!(
                        "value {} is out of range: expected a unit id from 1 to {unit_max} (0 is broadcast)",
                        dev.unit
                    ),
                ));
            }
            match dev.transport {
                Transport::Tcp | Transport::RtuOverTcp if dev.host.is_empty() => {
                    return Err(doc.invalid(
                        at.clone(),
                        format!("missing key `host`: transport `{:?}` needs a host name or address", dev.transport)
                            .to_lowercase(),
                    ));
                }
                Transport::Rtu => {
                    let Some(serial) = &dev.serial else {
                        return Err(doc.invalid(at.clone(), "missing key `serial`: transport \"rtu\" needs `serial = { path = \"/dev/ttyUSB0\", baud = 9600 }`".into()));
                    };
                    let sat = at.key("serial");
                    if serial.baud < 300 || serial.baud > 4_000_000 {
                        return Err(doc.invalid(
                            sat.key("baud"),
                            format!("value {} is out of range: expected 300 to 4000000", serial.baud),
                        ));
                    }
                    if !(7..=8).contains(&serial.data_bits) {
                        return Err(doc.invalid(
                            sat.key("data_bits"),
                            format!("value {} is not supported: expected 7 or 8", serial.data_bits),
                        ));
                    }
                    if !(1..=2).contains(&serial.stop_bits) {
                        return Err(doc.invalid(
                            sat.key("stop_bits"),
                            format!("value {} is not supported: expected 1 or 2", serial.stop_bits),
                        ));
                    }
                    // Devices on one serial line must agree on its settings.
                    let clash = self.sources.modbus[..d]
                        .iter()
                        .find(|o| o.serial.as_ref().is_some_and(|os| os.path == serial.path && os != serial));
                    if let Some(other) = clash {
                        return Err(doc.invalid(sat, format!("serial line {} is also used by source `{}` with different settings: devices on one bus must share baud, parity, data and stop bits", serial.path, other.id)));
                    }
                }
                _ => {}
            }
            if dev.max_registers_per_request == 0 || dev.max_registers_per_request > 125 {
                return Err(doc.invalid(
                    at.key("max_registers_per_request"),
                    format!(
                        "value {} is out of range: expected 1 to 125 (the protocol limit)",
                        dev.max_registers_per_request
                    ),
                ));
            }
            if dev.max_bits_per_request == 0 || dev.max_bits_per_request > 2000 {
                return Err(doc.invalid(
                    at.key("max_bits_per_request"),
                    format!(
                        "value {} is out of range: expected 1 to 2000 (the protocol limit)",
                        dev.max_bits_per_request
                    ),
                ));
            }
            if dev.backoff_initial_ms == 0 || dev.backoff_max_ms < dev.backoff_initial_ms {
                return Err(doc.invalid(
                    at.key("backoff_max_ms"),
                    format!(
                        "backoff_initial_ms {} and backoff_max_ms {}: expected 1 <= initial <= max",
                        dev.backoff_initial_ms, dev.backoff_max_ms
                    ),
                ));
            }
            for (p, pt) in dev.points.iter().enumerate() {
                let pat = at.key("points").index(p);
                nonempty_id(doc, &pat.key("id"), &pt.id)?;
                let full = format!("{}.{}", dev.id, pt.id);
                if pt.data_type == DataType::String {
                    string_points.insert(full.clone());
                }
                if !points.insert(full.clone()) {
                    return Err(doc.invalid(pat.key("id"), format!("duplicate point `{full}`")));
                }
                match (pt.data_type, pt.length) {
                    (DataType::String, Some(1..=125)) => {
                        if !matches!(pt.order, ByteOrder::ABCD | ByteOrder::BADC) || pt.register.is_bits() {
                            return Err(doc.invalid(pat.key("order"), "a string lives in holding or input registers with order \"ABCD\" (high byte first) or \"BADC\" (low byte first)".into()));
                        }
                    }
                    (DataType::String, None) => {
                        return Err(doc.invalid(
                            pat.clone(),
                            "missing key `length`: type \"string\" needs its length in registers, 1 to 125".into(),
                        ));
                    }
                    (DataType::String, Some(n)) => {
                        return Err(doc.invalid(
                            pat.key("length"),
                            format!("value {n} is out of range: expected 1 to 125 registers"),
                        ));
                    }
                    (_, Some(_)) => {
                        return Err(doc.invalid(pat.key("length"), "`length` applies only to type \"string\"".into()));
                    }
                    (_, None) => {}
                }
                let last = pt.address as u32 + pt.registers() as u32 - 1;
                if last > u16::MAX as u32 {
                    return Err(doc.invalid(
                        pat.key("address"),
                        format!(
                            "value {} leaves no room for a {}-register value: expected at most {}",
                            pt.address,
                            pt.registers(),
                            u16::MAX as u32 + 1 - pt.registers() as u32
                        ),
                    ));
                }
                if !pt.scale.is_finite() || pt.scale == 0.0 {
                    return Err(doc.invalid(
                        pat.key("scale"),
                        format!("value {} is not usable: expected a finite, non-zero number", pt.scale),
                    ));
                }
                match (pt.register.is_bits(), pt.data_type, pt.bit) {
                    (true, DataType::Bit, None) | (false, DataType::Bit, Some(0..=15)) => {}
                    (true, DataType::Bit, Some(_)) => {
                        return Err(doc.invalid(
                            pat.key("bit"),
                            format!("a {} is a single bit: remove `bit`", pt.register.as_str()),
                        ));
                    }
                    (true, t, _) => {
                        return Err(doc.invalid(
                            pat.key("type"),
                            format!("value {t:?} does not fit a {}: expected \"bit\"", pt.register.as_str())
                                .to_lowercase(),
                        ));
                    }
                    (false, DataType::Bit, None) => {
                        return Err(doc.invalid(
                            pat.clone(),
                            "missing key `bit`: type \"bit\" on a register needs the bit number, 0 to 15".into(),
                        ));
                    }
                    (false, DataType::Bit, Some(b)) => {
                        return Err(doc.invalid(pat.key("bit"), format!("value {b} is out of range: expected 0 to 15")));
                    }
                    (false, t, Some(_)) => {
                        return Err(doc.invalid(
                            pat.key("bit"),
                            format!("`bit` applies only to type \"bit\", not {t:?}").to_lowercase(),
                        ));
                    }
                    (false, _, None) => {}
                }
                if pt.interval_ms.is_some_and(|i| i < 10) {
                    return Err(doc.invalid(
                        pat.key("interval_ms"),
                        format!("value {} is too small: expected at least 10 (ms)", pt.interval_ms.unwrap_or(0)),
                    ));
                }
                for (key, v) in [("deadband_abs", pt.deadband_abs), ("deadband_pct", pt.deadband_pct)] {
                    if v.is_some_and(|v| !(v >= 0.0 && v.is_finite())) {
                        return Err(doc.invalid(
                            pat.key(key),
                            format!("value {} is not usable: expected a number >= 0", v.unwrap_or(f64::NAN)),
                        ));
                    }
                }
                if pt.writable && matches!(pt.register, RegisterKind::Input | RegisterKind::DiscreteInput) {
                    return Err(doc.invalid(
                        pat.key("writable"),
                        format!(
                            "a {} cannot be written (Modbus has no write function for it): expected writable = false",
                            pt.register.as_str()
                        ),
                    ));
                }
                if pt.writable && pt.data_type == DataType::Bit && !pt.register.is_bits() {
                    return Err(doc.invalid(
                        pat.key("writable"),
                        "writing one bit of a register would need a read-modify-write that can race with the device: write a coil or the whole register".into(),
                    ));
                }
                if let (Some(lo), Some(hi)) = (pt.valid_min, pt.valid_max) {
                    if !(lo < hi) {
                        return Err(
                            doc.invalid(pat.key("valid_max"), format!("value {hi} must be above valid_min {lo}"))
                        );
                    }
                }
            }
        }

        for (i, s) in self.sources.i2c.iter().enumerate() {
            let at = root.key("sources").key("i2c").index(i);
            nonempty_id(doc, &at.key("id"), &s.id)?;
            if !device_ids.insert(s.id.as_str()) {
                return Err(doc.invalid(at.key("id"), format!("duplicate source id `{}`", s.id)));
            }
            if !(0x03..=0x77).contains(&s.address) {
                return Err(doc.invalid(
                    at.key("address"),
                    format!("value 0x{:02x} is not a usable 7-bit I2C address: expected 0x03 to 0x77", s.address),
                ));
            }
            if s.interval_ms < 10 {
                return Err(doc.invalid(
                    at.key("interval_ms"),
                    format!("value {} is too small: expected at least 10 (ms)", s.interval_ms),
                ));
            }
            points.insert(format!("{}.temperature", s.id));
        }
        self.mqtt.validate(doc, &|p| points.contains(p))?;
        let mqtt_points = |p: &str| self.mqtt.subscriptions.iter().any(|s| mqtt::point_matches(&s.point, p));
        let mut output_ids = HashSet::new();
        for (i, o) in self.alarm.outputs.iter().enumerate() {
            let at = root.key("alarm").key("outputs").index(i);
            nonempty_id(doc, &at.key("id"), &o.id)?;
            if !output_ids.insert(o.id.as_str()) {
                return Err(doc.invalid(at.key("id"), format!("duplicate alarm output id `{}`", o.id)));
            }
        }

        let mut asset_ids = HashSet::new();
        for (a, asset) in self.assets.iter().enumerate() {
            let at = root.key("assets").index(a);
            nonempty_id(doc, &at.key("id"), &asset.id)?;
            if asset.id == RESERVED_ASSET_ID {
                return Err(doc.invalid(
                    at.key("id"),
                    format!("value \"{}\" is reserved: the gateway's own MQTT topics (metrics, status) use it as their asset level", asset.id),
                ));
            }
            params::validate(doc, &at.key("params"), &asset.params)?;
            baseline::validate(doc, &at, asset)?;
            if !asset_ids.insert(asset.id.as_str()) {
                return Err(doc.invalid(at.key("id"), format!("duplicate asset id `{}`", asset.id)));
            }
            for (role, point) in &asset.roles {
                let rat = at.key("roles").key(role);
                if asset.class.role(role).is_none() {
                    let known: Vec<_> = asset.class.roles().iter().map(|r| r.name).collect();
                    return Err(doc.invalid(
                        rat,
                        format!(
                            "unknown role `{role}` for asset class `{}`: expected one of {}",
                            asset.class.as_str(),
                            known.join(", ")
                        ),
                    ));
                }
                if string_points.contains(point) {
                    return Err(doc.invalid(rat, format!("value \"{point}\" is a string point: criteria need numbers")));
                }
                if !points.contains(point) && !mqtt_points(point) {
                    return Err(doc.invalid(
                        rat,
                        format!(
                            "value \"{point}\" names no configured point: expected `<source id>.<point id>` of a point under [[sources.modbus]]"
                        ),
                    ));
                }
            }
            if asset.class == AssetClass::PumpSkid && asset.vibration.is_none() {
                return Err(doc.invalid(
                    at.clone(),
                    "missing key `vibration` for a pump_skid asset: expected `vibration = { group = \"group1\"|\"group2\", foundation = \"rigid\"|\"flexible\" }` (ISO 10816-3 needs both)".into(),
                ));
            }
        }

        if let Some(sim) = &self.simulator {
            let at = root.key("simulator");
            if !(sim.time_factor >= 0.0 && sim.time_factor <= 1.0e6) {
                return Err(doc.invalid(
                    at.key("time_factor"),
                    format!("value {} is out of range: expected 0 (frozen) to 1000000", sim.time_factor),
                ));
            }
            if !(sim.fault_ramp_hours > 0.0) {
                return Err(doc.invalid(
                    at.key("fault_ramp_hours"),
                    format!("value {} is out of range: expected a positive number of hours", sim.fault_ramp_hours),
                ));
            }
        }
        if let Err((i, why)) = inference::check_providers(&self.inference.providers) {
            return Err(doc.invalid(root.key("inference").key("providers").index(i), why));
        }
        for (i, lib) in self.inference.ep_libraries.iter().enumerate() {
            let at = root.key("inference").key("ep_libraries").index(i);
            if lib.name.trim().is_empty() {
                return Err(doc.invalid(
                    at.key("name"),
                    "value \"\" is empty: expected a name to register the library under".into(),
                ));
            }
            if self.inference.ep_libraries[..i].iter().any(|l| l.name == lib.name) {
                return Err(doc.invalid(at.key("name"), format!("value \"{}\" is listed twice", lib.name)));
            }
            if !lib.path.is_file() {
                return Err(doc.invalid(at.key("path"), format!("{}: no such file", lib.path.display())));
            }
        }
        for (p, options) in &self.inference.provider_options {
            for (k, v) in options {
                if let Err(why) = inference::check_provider_option(*p, k, v) {
                    return Err(doc.invalid(root.key("inference").key("provider_options").key(p.as_str()).key(k), why));
                }
            }
        }
        if self.inference.watch_ms != 0 && self.inference.watch_ms < 100 {
            return Err(doc.invalid(
                root.key("inference").key("watch_ms"),
                format!("value {} is too small: expected 0 (off) or at least 100 (ms)", self.inference.watch_ms),
            ));
        }
        let d = &self.diagnose;
        if d.open_after == 0 || d.clear_after == 0 {
            let key = if d.open_after == 0 { "open_after" } else { "clear_after" };
            return Err(doc.invalid(
                root.key("diagnose").key(key),
                "value 0 is out of range: expected at least 1 consecutive evaluation".into(),
            ));
        }
        if d.interval_ms < 10 {
            return Err(doc.invalid(
                root.key("diagnose").key("interval_ms"),
                format!("value {} is too small: expected at least 10 (ms)", d.interval_ms),
            ));
        }
        if !(self.store.sample_retention_hours > 0.0) {
            return Err(doc.invalid(
                root.key("store").key("sample_retention_hours"),
                format!(
                    "value {} is out of range: expected a positive number of hours",
                    self.store.sample_retention_hours
                ),
            ));
        }
        Ok(())
    }

    /// The configured unit of a point, `<source>.<point>`.
    pub fn point_unit(&self, point: &str) -> Option<&str> {
        let (dev, pt) = point.split_once('.')?;
        self.sources.modbus.iter().find(|d| d.id == dev)?.points.iter().find(|p| p.id == pt).map(|p| p.unit.as_str())
    }
}

/// The asset level of the gateway's own MQTT topics (`.../_gateway/metrics`, `.../_gateway/status`).
pub const RESERVED_ASSET_ID: &str = "_gateway";

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
