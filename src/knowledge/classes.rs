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
    /// Electric motor or generator (rotating machine) with temperature and supply points.
    Motor,
    /// Stationary battery string or cell.
    Battery,
    /// A point surveyed by infrared thermography (connector, clamp, bushing ...).
    IrPoint,
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
    role("o2", "ppm", "Oxygen O2", "氧气 O2"),
    role("n2", "ppm", "Nitrogen N2", "氮气 N2"),
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
    role("winding_temp", "°C", "Winding temperature", "绕组温度"),
    role("coolant_temp", "°C", "Coolant (ambient) temperature", "冷却介质（环境）温度"),
    role("v_ab", "V", "Line voltage A-B", "线电压 AB"),
    role("v_bc", "V", "Line voltage B-C", "线电压 BC"),
    role("v_ca", "V", "Line voltage C-A", "线电压 CA"),
];

const MOTOR: &[RoleDef] = &[
    role("vib_velocity_rms", "mm/s", "Vibration velocity RMS", "振动速度有效值"),
    role("bearing_temp", "°C", "Bearing temperature", "轴承温度"),
    role("winding_temp", "°C", "Winding temperature", "绕组温度"),
    role("coolant_temp", "°C", "Coolant (ambient) temperature", "冷却介质（环境）温度"),
    role("motor_current", "A", "Motor current", "电机电流"),
    role("v_ab", "V", "Line voltage A-B", "线电压 AB"),
    role("v_bc", "V", "Line voltage B-C", "线电压 BC"),
    role("v_ca", "V", "Line voltage C-A", "线电压 CA"),
];

const BATTERY: &[RoleDef] = &[
    role("capacity_pct", "%", "Capacity from a discharge test, % of rating", "放电试验容量（额定值的百分比）"),
    role("ohmic", "mΩ", "Internal ohmic value", "内阻"),
    role("float_voltage", "V", "Float voltage", "浮充电压"),
];

const IR_POINT: &[RoleDef] = &[
    role("hot_spot_temp", "°C", "Hot-spot temperature (T1)", "发热点温度 T1"),
    role("reference_temp", "°C", "Corresponding normal point temperature (T2)", "正常对应点温度 T2"),
    role("ambient_temp", "°C", "Ambient reference temperature (T0)", "环境参照体温度 T0"),
];

const MACHINE: &[RoleDef] = &[role("temperature", "", "Internal component temperature", "内部部件温度")];

impl AssetClass {
    pub fn as_str(self) -> &'static str {
        match self {
            AssetClass::Transformer => "transformer",
            AssetClass::PumpSkid => "pump_skid",
            AssetClass::Machine => "machine",
            AssetClass::Motor => "motor",
            AssetClass::Battery => "battery",
            AssetClass::IrPoint => "ir_point",
        }
    }

    pub fn roles(self) -> &'static [RoleDef] {
        match self {
            AssetClass::Transformer => TRANSFORMER,
            AssetClass::PumpSkid => PUMP_SKID,
            AssetClass::Machine => MACHINE,
            AssetClass::Motor => MOTOR,
            AssetClass::Battery => BATTERY,
            AssetClass::IrPoint => IR_POINT,
        }
    }

    pub fn role(self, name: &str) -> Option<&'static RoleDef> {
        self.roles().iter().find(|r| r.name == name)
    }
}
