//! Asset classes and the roles their criteria and models are written against.
//! The site config binds each role of an asset to a data point.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AssetClass {
    /// Oil-filled power transformer with an online dissolved-gas monitor.
    Transformer,
    /// Pump driven by an electric motor, with vibration and process instruments.
    PumpSkid,
    /// A machine watched by one temperature of an internal component (no class-specific
    /// published criteria; models only).
    Machine,
}

/// One role of an asset class.
#[derive(Debug)]
pub struct RoleDef {
    pub name: &'static str,
    pub unit: &'static str,
    pub label_en: &'static str,
    pub label_zh: &'static str,
}

const fn role(name: &'static str, unit: &'static str, label_en: &'static str, label_zh: &'static str) -> RoleDef {
    RoleDef { name, unit, label_en, label_zh }
}

const TRANSFORMER: &[RoleDef] = &[
    role("h2", "ppm", "Hydrogen H2", "氢气 H2"),
    role("ch4", "ppm", "Methane CH4", "甲烷 CH4"),
    role("c2h6", "ppm", "Ethane C2H6", "乙烷 C2H6"),
    role("c2h4", "ppm", "Ethylene C2H4", "乙烯 C2H4"),
    role("c2h2", "ppm", "Acetylene C2H2", "乙炔 C2H2"),
    role("co", "ppm", "Carbon monoxide CO", "一氧化碳 CO"),
    role("co2", "ppm", "Carbon dioxide CO2", "二氧化碳 CO2"),
    role("top_oil_temp", "°C", "Top-oil temperature", "顶层油温"),
];

const PUMP_SKID: &[RoleDef] = &[
    role("vib_velocity_rms", "mm/s", "Vibration velocity RMS", "振动速度有效值"),
    role("vib_accel_rms", "g", "Pump vibration acceleration RMS", "泵振动加速度有效值"),
    role("vib_accel2_rms", "g", "Motor vibration acceleration RMS", "电机振动加速度有效值"),
    role("bearing_temp", "°C", "Bearing temperature", "轴承温度"),
    role("motor_temp", "°C", "Motor body temperature", "电机壳体温度"),
    role("fluid_temp", "°C", "Fluid temperature", "介质温度"),
    role("motor_current", "A", "Motor current", "电机电流"),
    role("flow", "l/min", "Flow rate", "流量"),
    role("pressure", "bar", "Discharge pressure", "出口压力"),
];

const MACHINE: &[RoleDef] = &[role("temperature", "", "Internal component temperature", "内部部件温度")];

impl AssetClass {
    pub fn as_str(self) -> &'static str {
        match self {
            AssetClass::Transformer => "transformer",
            AssetClass::PumpSkid => "pump_skid",
            AssetClass::Machine => "machine",
        }
    }

    pub fn roles(self) -> &'static [RoleDef] {
        match self {
            AssetClass::Transformer => TRANSFORMER,
            AssetClass::PumpSkid => PUMP_SKID,
            AssetClass::Machine => MACHINE,
        }
    }

    pub fn role(self, name: &str) -> Option<&'static RoleDef> {
        self.roles().iter().find(|r| r.name == name)
    }
}
