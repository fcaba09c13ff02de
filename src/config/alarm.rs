//! `[alarm]`: GPIO outputs driven by open findings (`[[alarm.outputs]]`) and the
//! heartbeat LED; their validation.

use super::{nonempty_id, ConfigError, Doc, KeyPath};
use serde::Deserialize;
use std::collections::HashSet;

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

impl AlarmConfig {
    pub(super) fn validate(&self, doc: &Doc, root: &KeyPath) -> Result<(), ConfigError> {
        let mut output_ids = HashSet::new();
        for (i, o) in self.outputs.iter().enumerate() {
            let at = root.key("alarm").key("outputs").index(i);
            nonempty_id(doc, &at.key("id"), &o.id)?;
            if !output_ids.insert(o.id.as_str()) {
                return Err(doc.invalid(at.key("id"), format!("duplicate alarm output id `{}`", o.id)));
            }
        }
        Ok(())
    }
}
