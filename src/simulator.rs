//! The built-in plant simulator: a Modbus TCP server on loopback that behaves like
//! (unit 1) a transformer's online dissolved-gas monitor with a slowly developing thermal
//! fault, and (unit 2) a pump skid with a developing bearing fault.
//!
//! Values are a pure function of simulated time and the seed, so a frozen clock
//! (`time_factor = 0`) serves the same registers to every client. The pump's healthy
//! operating point and per-sample noise are the means and standard deviations of the SKAB
//! anomaly-free run (the data the pump model was trained on; no data is embedded).
//!
//! Holding register 100 of each unit switches that unit's fault on (1) or off (0); off
//! returns the equipment to its healthy baseline at once (as after a repair), on restarts
//! the fault's development from its onset. The simulated clock (whole seconds) is in input
//! registers 10-11 (u32, big word order) of both units.

use crate::config::simulator::SimulatorConfig;
use crate::config::{ByteOrder, DataType, RegisterKind};
use crate::sources::modbus::decode::encode_raw;
use serde::Serialize;
use std::future::{ready, Ready};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio_modbus::prelude::{ExceptionCode, Request, Response, SlaveRequest};
use tokio_util::sync::CancellationToken;

pub const UNIT_TRANSFORMER: u8 = 1;
pub const UNIT_PUMP: u8 = 2;
/// Holding register that switches a unit's fault on (1) or off (0).
pub const FAULT_CONTROL_REGISTER: u16 = 100;
/// Input registers 10-11: simulated seconds (u32, big word order).
pub const CLOCK_REGISTER: u16 = 10;

/// One served value: where it lives and how it is encoded.
#[derive(Debug, Clone, Copy)]
pub struct Channel {
    pub unit: u8,
    pub name: &'static str,
    pub register: RegisterKind,
    pub address: u16,
    pub data_type: DataType,
    pub order: ByteOrder,
    /// Engineering value = raw * scale.
    pub scale: f64,
    pub eng_unit: &'static str,
    /// Healthy value, change at full fault severity, per-sample noise (std dev).
    base: f64,
    fault_delta: f64,
    noise: f64,
    /// Noise is relative to the value (true) or absolute (false).
    relative_noise: bool,
}

#[allow(clippy::too_many_arguments)] // one simulated channel: a table row, read as one
const fn ch(
    unit: u8,
    name: &'static str,
    register: RegisterKind,
    address: u16,
    data_type: DataType,
    order: ByteOrder,
    scale: f64,
    eng_unit: &'static str,
    base: f64,
    fault_delta: f64,
    noise: f64,
    relative_noise: bool,
) -> Channel {
    Channel {
        unit,
        name,
        register,
        address,
        data_type,
        order,
        scale,
        eng_unit,
        base,
        fault_delta,
        noise,
        relative_noise,
    }
}

use ByteOrder::*;
use DataType::*;
use RegisterKind::*;

/// The register map. The transformer serves gases as f32 ABCD (u32, ABCD) holding
/// registers and top-oil temperature as i16 x0.1 in an input register; the pump serves
/// f32 CDAB (little word order) holding registers and temperatures as i16 x0.1 / u16 x0.01
/// input registers.
pub const CHANNELS: &[Channel] = &[
    ch(1, "h2", Holding, 0, F32, ABCD, 1.0, "ppm", 35.0, 180.0, 0.015, true),
    ch(1, "ch4", Holding, 2, F32, ABCD, 1.0, "ppm", 18.0, 420.0, 0.015, true),
    ch(1, "c2h6", Holding, 4, F32, ABCD, 1.0, "ppm", 12.0, 140.0, 0.015, true),
    ch(1, "c2h4", Holding, 6, F32, ABCD, 1.0, "ppm", 8.0, 640.0, 0.015, true),
    ch(1, "c2h2", Holding, 8, F32, ABCD, 1.0, "ppm", 0.4, 1.6, 0.02, true),
    ch(1, "co", Holding, 10, F32, ABCD, 1.0, "ppm", 260.0, 90.0, 0.01, true),
    ch(1, "co2", Holding, 12, F32, ABCD, 1.0, "ppm", 2400.0, 900.0, 0.01, true),
    ch(1, "top_oil_temp", Input, 0, I16, ABCD, 0.1, "°C", 52.0, 9.0, 0.3, false),
    ch(2, "vib_velocity_rms", Holding, 0, F32, CDAB, 1.0, "mm/s", 1.1, 5.2, 0.05, false),
    ch(2, "vib_accel_rms", Holding, 2, F32, CDAB, 1.0, "g", 0.212604, 0.30, 0.004740, false),
    ch(2, "vib_accel2_rms", Holding, 4, F32, CDAB, 1.0, "g", 0.268407, 0.18, 0.003988, false),
    ch(2, "motor_current", Holding, 6, F32, CDAB, 1.0, "A", 2.403010, 0.5, 0.486443, false),
    ch(2, "pressure", Holding, 8, F32, CDAB, 1.0, "bar", 0.111266, 0.0, 0.253319, false),
    ch(2, "flow", Holding, 10, F32, CDAB, 1.0, "l/min", 125.237471, 0.0, 1.605241, false),
    ch(2, "bearing_temp", Input, 0, I16, ABCD, 0.1, "°C", 48.0, 35.0, 0.3, false),
    ch(2, "motor_temp", Input, 1, I16, ABCD, 0.1, "°C", 89.472308, 8.0, 0.667073, false),
    ch(2, "fluid_temp", Input, 2, U16, ABCD, 0.01, "°C", 28.3, 0.0, 0.2, false),
];

#[derive(Debug, Clone, Copy)]
struct Fault {
    enabled: bool,
    /// Simulated second at which the fault starts developing.
    onset_s: f64,
}

/// The simulated plant: clock, fault states and the values they produce.
pub struct Plant {
    cfg: SimulatorConfig,
    started: Instant,
    faults: Mutex<[Fault; 2]>,
}

/// A channel's value now, as `edgecite simulate --dump` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelValue {
    pub unit: u8,
    pub name: &'static str,
    pub register: &'static str,
    pub address: u16,
    pub data_type: &'static str,
    pub order: &'static str,
    pub scale: f64,
    pub eng_unit: &'static str,
    /// The engineering value a client decodes from `registers`.
    pub value: f64,
    pub registers: Vec<u16>,
}

fn fault_index(unit: u8) -> Option<usize> {
    match unit {
        UNIT_TRANSFORMER => Some(0),
        UNIT_PUMP => Some(1),
        _ => None,
    }
}

/// Deterministic standard normal noise from (seed, channel, tick).
fn gaussian(seed: u64, channel: usize, tick: u64) -> f64 {
    fn mix(mut z: u64) -> u64 {
        // splitmix64 finaliser
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }
    let a = mix(seed ^ mix((channel as u64).wrapping_mul(0x9e3779b97f4a7c15) ^ mix(tick)));
    let b = mix(a ^ 0x5851f42d4c957f2d);
    let u1 = ((a >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    let u2 = ((b >> 11) as f64) / (1u64 << 53) as f64;
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

impl Plant {
    pub fn new(cfg: SimulatorConfig) -> Self {
        let onset_s = cfg.fault_onset_hours * 3600.0;
        let pump_onset_s = cfg.pump_fault_onset_hours.map(|h| h * 3600.0).unwrap_or(onset_s);
        let faults = [
            Fault { enabled: cfg.transformer_fault, onset_s },
            Fault { enabled: cfg.pump_fault, onset_s: pump_onset_s },
        ];
        Plant { cfg, started: Instant::now(), faults: Mutex::new(faults) }
    }

    /// Simulated seconds since the simulator's epoch.
    pub fn sim_seconds(&self) -> f64 {
        self.cfg.start_hours * 3600.0 + self.started.elapsed().as_secs_f64() * self.cfg.time_factor
    }

    /// Fault severity of a unit in [0, 1] at simulated second `t` (smooth ramp).
    pub fn severity(&self, unit: u8, t: f64) -> f64 {
        let Some(i) = fault_index(unit) else {
            return 0.0;
        };
        let f = self.faults.lock().unwrap_or_else(|p| p.into_inner())[i];
        if !f.enabled {
            return 0.0;
        }
        let x = ((t - f.onset_s) / (self.cfg.fault_ramp_hours * 3600.0)).clamp(0.0, 1.0);
        x * x * (3.0 - 2.0 * x)
    }

    pub fn fault_enabled(&self, unit: u8) -> bool {
        fault_index(unit).is_some_and(|i| self.faults.lock().unwrap_or_else(|p| p.into_inner())[i].enabled)
    }

    /// Switch a unit's fault. Switching on restarts its development now.
    pub fn set_fault(&self, unit: u8, enabled: bool) {
        let Some(i) = fault_index(unit) else { return };
        let now = self.sim_seconds();
        let mut faults = self.faults.lock().unwrap_or_else(|p| p.into_inner());
        if enabled && !faults[i].enabled {
            faults[i].onset_s = now;
        }
        faults[i].enabled = enabled;
        tracing::info!(unit, enabled, sim_hours = now / 3600.0, "simulator fault switched");
    }

    /// The engineering value of channel `idx` at simulated second `t`, quantised to what its
    /// registers can carry.
    pub fn value(&self, idx: usize, t: f64) -> f64 {
        let c = &CHANNELS[idx];
        let clean = c.base + c.fault_delta * self.severity(c.unit, t);
        let sigma = if c.relative_noise { c.noise * clean } else { c.noise };
        let mut v = clean + sigma * gaussian(self.cfg.seed, idx, t.max(0.0) as u64);
        if c.relative_noise {
            // Concentrations cannot be negative; gauge pressures and the like can.
            v = v.max(0.0);
        }
        let raw = encode_raw(v / c.scale, c.data_type, c.order);
        crate::sources::modbus::decode::decode_raw(&raw, c.data_type, c.order, None).unwrap_or(v / c.scale) * c.scale
    }

    /// All channels' values now.
    pub fn snapshot(&self) -> Vec<ChannelValue> {
        let t = self.sim_seconds();
        CHANNELS
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let value = self.value(i, t);
                ChannelValue {
                    unit: c.unit,
                    name: c.name,
                    register: c.register.as_str(),
                    address: c.address,
                    data_type: match c.data_type {
                        Bit => "bit",
                        U16 => "u16",
                        I16 => "i16",
                        U32 => "u32",
                        I32 => "i32",
                        U64 => "u64",
                        I64 => "i64",
                        F32 => "f32",
                        F64 => "f64",
                        DataType::String => "string",
                    },
                    order: match c.order {
                        ABCD => "ABCD",
                        BADC => "BADC",
                        CDAB => "CDAB",
                        DCBA => "DCBA",
                    },
                    scale: c.scale,
                    eng_unit: c.eng_unit,
                    value,
                    registers: encode_raw(value / c.scale, c.data_type, c.order),
                }
            })
            .collect()
    }

    /// Registers `start..start+count` of one unit and kind, or the exception a device
    /// would answer with.
    pub fn read(&self, unit: u8, kind: RegisterKind, start: u16, count: u16) -> Result<Vec<u16>, ExceptionCode> {
        if fault_index(unit).is_none() {
            return Err(ExceptionCode::GatewayTargetDevice);
        }
        if count == 0 || count > 125 {
            return Err(ExceptionCode::IllegalDataValue);
        }
        let t = self.sim_seconds();
        let mut image: Vec<(u16, u16)> = Vec::new();
        for (i, c) in CHANNELS.iter().enumerate().filter(|(_, c)| c.unit == unit && c.register == kind) {
            let regs = encode_raw(self.value(i, t) / c.scale, c.data_type, c.order);
            image.extend(regs.into_iter().enumerate().map(|(k, r)| (c.address + k as u16, r)));
        }
        match kind {
            Holding => image.push((FAULT_CONTROL_REGISTER, self.fault_enabled(unit) as u16)),
            Coil | DiscreteInput => return Err(ExceptionCode::IllegalFunction),
            Input => {
                let secs = t.max(0.0).min(u32::MAX as f64) as u32;
                image.push((CLOCK_REGISTER, (secs >> 16) as u16));
                image.push((CLOCK_REGISTER + 1, secs as u16));
            }
        }
        (0..count)
            .map(|k| {
                let addr = start.checked_add(k).ok_or(ExceptionCode::IllegalDataAddress)?;
                image.iter().find(|(a, _)| *a == addr).map(|(_, r)| *r).ok_or(ExceptionCode::IllegalDataAddress)
            })
            .collect()
    }

    fn write(&self, unit: u8, addr: u16, value: u16) -> Result<(), ExceptionCode> {
        if fault_index(unit).is_none() {
            return Err(ExceptionCode::GatewayTargetDevice);
        }
        if addr != FAULT_CONTROL_REGISTER {
            return Err(ExceptionCode::IllegalDataAddress);
        }
        match value {
            0 | 1 => {
                self.set_fault(unit, value == 1);
                Ok(())
            }
            _ => Err(ExceptionCode::IllegalDataValue),
        }
    }

    fn handle(&self, req: SlaveRequest<'static>) -> Result<Response, ExceptionCode> {
        let unit = req.slave;
        match req.request {
            Request::ReadHoldingRegisters(a, n) => self.read(unit, Holding, a, n).map(Response::ReadHoldingRegisters),
            Request::ReadInputRegisters(a, n) => self.read(unit, Input, a, n).map(Response::ReadInputRegisters),
            Request::WriteSingleRegister(a, v) => self.write(unit, a, v).map(|()| Response::WriteSingleRegister(a, v)),
            Request::WriteMultipleRegisters(a, vs) if vs.len() == 1 => {
                self.write(unit, a, vs[0]).map(|()| Response::WriteMultipleRegisters(a, 1))
            }
            Request::WriteMultipleRegisters(..) => Err(ExceptionCode::IllegalDataAddress),
            _ => Err(ExceptionCode::IllegalFunction),
        }
    }
}

#[derive(Clone)]
struct Service(Arc<Plant>);

impl tokio_modbus::server::Service for Service {
    type Request = SlaveRequest<'static>;
    type Response = Response;
    type Exception = ExceptionCode;
    type Future = Ready<Result<Response, ExceptionCode>>;

    fn call(&self, req: Self::Request) -> Self::Future {
        ready(self.0.handle(req))
    }
}

/// Bind the simulator's listener. Separate from [`serve`] so callers learn of a busy port
/// before anything else starts.
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

/// Serve Modbus TCP until cancelled.
pub async fn serve(
    listener: tokio::net::TcpListener,
    plant: Arc<Plant>,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    tracing::info!(listen = %local, time_factor = plant.cfg.time_factor, seed = plant.cfg.seed,
        "plant simulator serving Modbus TCP (unit 1 transformer DGA monitor, unit 2 pump skid)");
    let server = tokio_modbus::server::tcp::Server::new(listener);
    let service = Service(plant);
    let on_connected = |stream, addr| {
        let service = service.clone();
        async move { tokio_modbus::server::tcp::accept_tcp_connection(stream, addr, |_| Ok(Some(service.clone()))) }
    };
    let on_error = |e: std::io::Error| tracing::debug!(error = %e, "simulator connection ended");
    tokio::select! {
        r = server.serve(&on_connected, on_error) => r,
        _ = cancel.cancelled() => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(time_factor: f64) -> SimulatorConfig {
        SimulatorConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            seed: 7,
            time_factor,
            start_hours: 0.0,
            fault_onset_hours: 1.0,
            fault_ramp_hours: 4.0,
            transformer_fault: true,
            pump_fault: true,
            pump_fault_onset_hours: None,
        }
    }

    #[test]
    fn noise_is_deterministic_and_roughly_standard() {
        let xs: Vec<f64> = (0..20000).map(|t| gaussian(1, 3, t)).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
        assert!(mean.abs() < 0.03, "{mean}");
        assert!((var - 1.0).abs() < 0.05, "{var}");
        assert_eq!(gaussian(1, 3, 99), gaussian(1, 3, 99));
        assert_ne!(gaussian(1, 3, 99), gaussian(2, 3, 99));
    }

    #[test]
    fn faults_develop_after_onset_and_switch_off() {
        let p = Plant::new(cfg(0.0));
        assert_eq!(p.severity(UNIT_PUMP, 0.0), 0.0);
        assert_eq!(p.severity(UNIT_PUMP, 3600.0), 0.0);
        assert!((p.severity(UNIT_PUMP, 3600.0 + 2.0 * 3600.0) - 0.5).abs() < 1e-9);
        assert_eq!(p.severity(UNIT_PUMP, 10.0 * 3600.0), 1.0);
        p.set_fault(UNIT_PUMP, false);
        assert_eq!(p.severity(UNIT_PUMP, 10.0 * 3600.0), 0.0);
        assert_eq!(p.severity(UNIT_TRANSFORMER, 10.0 * 3600.0), 1.0);
    }

    #[test]
    fn registers_decode_to_the_reported_values_and_gaps_are_exceptions() {
        let p = Plant::new(SimulatorConfig { start_hours: 3.0, ..cfg(0.0) });
        for v in p.snapshot() {
            let kind = if v.register == "holding" { Holding } else { Input };
            let regs = p.read(v.unit, kind, v.address, v.registers.len() as u16).unwrap();
            assert_eq!(regs, v.registers, "{}", v.name);
        }
        assert_eq!(p.read(1, Holding, 14, 1), Err(ExceptionCode::IllegalDataAddress));
        assert_eq!(p.read(9, Holding, 0, 1), Err(ExceptionCode::GatewayTargetDevice));
        assert_eq!(p.read(1, Holding, 100, 1), Ok(vec![1]));
        assert_eq!(p.read(1, Input, CLOCK_REGISTER, 2), Ok(vec![0, 10800]));
        assert_eq!(p.write(1, 100, 7), Err(ExceptionCode::IllegalDataValue));
        assert_eq!(p.write(1, 0, 1), Err(ExceptionCode::IllegalDataAddress));
    }
}
