//! `[diagnose]`: the evaluation interval and the consecutive evaluations that open and
//! clear a finding; their validation.

use super::{default_interval_ms, ConfigError, Doc, KeyPath};
use serde::Deserialize;

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

fn three() -> u32 {
    3
}

impl DiagnoseConfig {
    pub(super) fn validate(&self, doc: &Doc, root: &KeyPath) -> Result<(), ConfigError> {
        if self.open_after == 0 || self.clear_after == 0 {
            let key = if self.open_after == 0 { "open_after" } else { "clear_after" };
            return Err(doc.invalid(
                root.key("diagnose").key(key),
                "value 0 is out of range: expected at least 1 consecutive evaluation".into(),
            ));
        }
        if self.interval_ms < 10 {
            return Err(doc.invalid(
                root.key("diagnose").key("interval_ms"),
                format!("value {} is too small: expected at least 10 (ms)", self.interval_ms),
            ));
        }
        Ok(())
    }
}
