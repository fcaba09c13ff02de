//! `[simulator]`: the built-in Modbus plant simulator (listen address, seed, time factor,
//! fault onsets and ramps); its validation.

use super::{one, yes, ConfigError, Doc, KeyPath};
use serde::Deserialize;
use std::net::SocketAddr;

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

fn default_sim_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5020))
}
fn default_ramp_hours() -> f64 {
    24.0
}
fn one_u64() -> u64 {
    1
}

impl SimulatorConfig {
    pub(super) fn validate(&self, doc: &Doc, root: &KeyPath) -> Result<(), ConfigError> {
        let at = root.key("simulator");
        if !(self.time_factor >= 0.0 && self.time_factor <= 1.0e6) {
            return Err(doc.invalid(
                at.key("time_factor"),
                format!("value {} is out of range: expected 0 (frozen) to 1000000", self.time_factor),
            ));
        }
        if !(self.fault_ramp_hours > 0.0) {
            return Err(doc.invalid(
                at.key("fault_ramp_hours"),
                format!("value {} is out of range: expected a positive number of hours", self.fault_ramp_hours),
            ));
        }
        Ok(())
    }
}
