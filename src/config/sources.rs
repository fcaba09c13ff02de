//! `[[sources.modbus]]` (transport, serial line, request limits, back-off) with its
//! `[[sources.modbus.points]]` (register, type, byte order, scaling, deadbands, writes),
//! and `[[sources.i2c]]`; their validation, which also collects the configured points.

use super::{default_interval_ms, nonempty_id, one, ConfigError, Doc, KeyPath};
use serde::Deserialize;
use std::collections::HashSet;

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
    /// First back-off after a timeout; doubles on each further timeout up to `backoff_max_ms`,
    /// each wait drawn between half the step and the step (jitter).
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

fn default_modbus_port() -> u16 {
    502
}
fn default_unit() -> u8 {
    1
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

/// The points the sources configure, `<source id>.<point id>`.
#[derive(Debug, Default)]
pub(super) struct Points {
    /// Every point (I2C sensors' included).
    pub(super) all: HashSet<String>,
    /// The points of type `string`.
    pub(super) strings: HashSet<String>,
}

impl SourcesConfig {
    /// Check the Modbus devices with their points, then the I2C sensors; source ids are
    /// unique across both.
    pub(super) fn validate(&self, doc: &Doc, root: &KeyPath) -> Result<Points, ConfigError> {
        let mut device_ids = HashSet::new();
        let mut points = Points::default();
        for (d, dev) in self.modbus.iter().enumerate() {
            let at = root.key("sources").key("modbus").index(d);
            nonempty_id(doc, &at.key("id"), &dev.id)?;
            if !device_ids.insert(dev.id.as_str()) {
                return Err(doc.invalid(at.key("id"), format!("duplicate source id `{}`", dev.id)));
            }
            dev.validate(doc, &at, &self.modbus[..d])?;
            for (p, pt) in dev.points.iter().enumerate() {
                let pat = at.key("points").index(p);
                nonempty_id(doc, &pat.key("id"), &pt.id)?;
                let full = format!("{}.{}", dev.id, pt.id);
                if pt.data_type == DataType::String {
                    points.strings.insert(full.clone());
                }
                if !points.all.insert(full.clone()) {
                    return Err(doc.invalid(pat.key("id"), format!("duplicate point `{full}`")));
                }
                pt.validate(doc, &pat)?;
            }
        }

        for (i, s) in self.i2c.iter().enumerate() {
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
            points.all.insert(format!("{}.temperature", s.id));
        }
        Ok(points)
    }
}

impl ModbusDeviceConfig {
    /// The device's own keys; `earlier` are the devices listed before it (one serial line,
    /// one set of settings).
    fn validate(&self, doc: &Doc, at: &KeyPath, earlier: &[ModbusDeviceConfig]) -> Result<(), ConfigError> {
        if self.interval_ms < 10 {
            return Err(doc.invalid(
                at.key("interval_ms"),
                format!("value {} is too small: expected at least 10 (ms)", self.interval_ms),
            ));
        }
        if self.timeout_ms == 0 || self.timeout_ms > 60_000 {
            return Err(doc.invalid(
                at.key("timeout_ms"),
                format!("value {} is out of range: expected 1 to 60000 (ms)", self.timeout_ms),
            ));
        }
        let unit_max = if self.transport == Transport::Tcp { 255 } else { 247 };
        if self.unit == 0 || self.unit > unit_max {
            return Err(doc.invalid(
                at.key("unit"),
                format!(
                    "value {} is out of range: expected a unit id from 1 to {unit_max} (0 is broadcast)",
                    self.unit
                ),
            ));
        }
        match self.transport {
            Transport::Tcp | Transport::RtuOverTcp if self.host.is_empty() => {
                return Err(doc.invalid(
                    at.clone(),
                    format!("missing key `host`: transport `{:?}` needs a host name or address", self.transport)
                        .to_lowercase(),
                ));
            }
            Transport::Rtu => {
                let Some(serial) = &self.serial else {
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
                let clash =
                    earlier.iter().find(|o| o.serial.as_ref().is_some_and(|os| os.path == serial.path && os != serial));
                if let Some(other) = clash {
                    return Err(doc.invalid(sat, format!("serial line {} is also used by source `{}` with different settings: devices on one bus must share baud, parity, data and stop bits", serial.path, other.id)));
                }
            }
            _ => {}
        }
        if self.max_registers_per_request == 0 || self.max_registers_per_request > 125 {
            return Err(doc.invalid(
                at.key("max_registers_per_request"),
                format!(
                    "value {} is out of range: expected 1 to 125 (the protocol limit)",
                    self.max_registers_per_request
                ),
            ));
        }
        if self.max_bits_per_request == 0 || self.max_bits_per_request > 2000 {
            return Err(doc.invalid(
                at.key("max_bits_per_request"),
                format!("value {} is out of range: expected 1 to 2000 (the protocol limit)", self.max_bits_per_request),
            ));
        }
        if self.backoff_initial_ms == 0 || self.backoff_max_ms < self.backoff_initial_ms {
            return Err(doc.invalid(
                at.key("backoff_max_ms"),
                format!(
                    "backoff_initial_ms {} and backoff_max_ms {}: expected 1 <= initial <= max",
                    self.backoff_initial_ms, self.backoff_max_ms
                ),
            ));
        }
        Ok(())
    }
}

impl PointConfig {
    fn validate(&self, doc: &Doc, pat: &KeyPath) -> Result<(), ConfigError> {
        match (self.data_type, self.length) {
            (DataType::String, Some(1..=125)) => {
                if !matches!(self.order, ByteOrder::ABCD | ByteOrder::BADC) || self.register.is_bits() {
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
                return Err(
                    doc.invalid(pat.key("length"), format!("value {n} is out of range: expected 1 to 125 registers"))
                );
            }
            (_, Some(_)) => {
                return Err(doc.invalid(pat.key("length"), "`length` applies only to type \"string\"".into()));
            }
            (_, None) => {}
        }
        let last = self.address as u32 + self.registers() as u32 - 1;
        if last > u16::MAX as u32 {
            return Err(doc.invalid(
                pat.key("address"),
                format!(
                    "value {} leaves no room for a {}-register value: expected at most {}",
                    self.address,
                    self.registers(),
                    u16::MAX as u32 + 1 - self.registers() as u32
                ),
            ));
        }
        if !self.scale.is_finite() || self.scale == 0.0 {
            return Err(doc.invalid(
                pat.key("scale"),
                format!("value {} is not usable: expected a finite, non-zero number", self.scale),
            ));
        }
        match (self.register.is_bits(), self.data_type, self.bit) {
            (true, DataType::Bit, None) | (false, DataType::Bit, Some(0..=15)) => {}
            (true, DataType::Bit, Some(_)) => {
                return Err(
                    doc.invalid(pat.key("bit"), format!("a {} is a single bit: remove `bit`", self.register.as_str()))
                );
            }
            (true, t, _) => {
                return Err(doc.invalid(
                    pat.key("type"),
                    format!("value {t:?} does not fit a {}: expected \"bit\"", self.register.as_str()).to_lowercase(),
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
                return Err(doc
                    .invalid(pat.key("bit"), format!("`bit` applies only to type \"bit\", not {t:?}").to_lowercase()));
            }
            (false, _, None) => {}
        }
        if self.interval_ms.is_some_and(|i| i < 10) {
            return Err(doc.invalid(
                pat.key("interval_ms"),
                format!("value {} is too small: expected at least 10 (ms)", self.interval_ms.unwrap_or(0)),
            ));
        }
        for (key, v) in [("deadband_abs", self.deadband_abs), ("deadband_pct", self.deadband_pct)] {
            if v.is_some_and(|v| !(v >= 0.0 && v.is_finite())) {
                return Err(doc.invalid(
                    pat.key(key),
                    format!("value {} is not usable: expected a number >= 0", v.unwrap_or(f64::NAN)),
                ));
            }
        }
        if self.writable && matches!(self.register, RegisterKind::Input | RegisterKind::DiscreteInput) {
            return Err(doc.invalid(
                pat.key("writable"),
                format!(
                    "a {} cannot be written (Modbus has no write function for it): expected writable = false",
                    self.register.as_str()
                ),
            ));
        }
        if self.writable && self.data_type == DataType::Bit && !self.register.is_bits() {
            return Err(doc.invalid(
                pat.key("writable"),
                "writing one bit of a register would need a read-modify-write that can race with the device: write a coil or the whole register".into(),
            ));
        }
        if let (Some(lo), Some(hi)) = (self.valid_min, self.valid_max) {
            if !(lo < hi) {
                return Err(doc.invalid(pat.key("valid_max"), format!("value {hi} must be above valid_min {lo}")));
            }
        }
        Ok(())
    }
}
