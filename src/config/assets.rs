//! `[[assets]]`: class, roles (which configured point plays each role of the class),
//! staleness, vibration group and foundation, `params`, `baselines`; their validation.

use super::sources::Points;
use super::{baseline, nonempty_id, packs, params, BaselineConfig, ConfigError, Doc, KeyPath};
use crate::knowledge::classes::AssetClass;
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};

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

fn default_stale_after_ms() -> u64 {
    10_000
}

/// The asset level of the gateway's own MQTT topics (`.../_gateway/metrics`, `.../_gateway/status`).
pub const RESERVED_ASSET_ID: &str = "_gateway";

/// Check the assets: ids, params and baselines, roles naming configured numeric points
/// (`points`, or a point an MQTT subscription brings: `mqtt_points`), vibration of pumps.
pub(super) fn validate(
    doc: &Doc,
    root: &KeyPath,
    assets: &[AssetConfig],
    points: &Points,
    mqtt_points: &dyn Fn(&str) -> bool,
) -> Result<(), ConfigError> {
    let mut asset_ids = HashSet::new();
    for (a, asset) in assets.iter().enumerate() {
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
            if points.strings.contains(point) {
                return Err(doc.invalid(rat, format!("value \"{point}\" is a string point: criteria need numbers")));
            }
            if !points.all.contains(point) && !mqtt_points(point) {
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
    Ok(())
}
