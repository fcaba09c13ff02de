//! `[fleet]`: signed deploys of packs, models and config over MQTT (issue 19): whether they
//! are accepted, the trusted keys, where staged and previous versions are kept, where a
//! deployed pack goes, and the health check that decides whether a deploy is kept.

use super::{ConfigError, Doc, KeyPath};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetConfig {
    /// Accept deploy requests on `…/_gateway/cmd/deploy` (needs `[mqtt] enabled`).
    #[serde(default)]
    pub accept_deploys: bool,
    /// Directory of trusted ed25519 public keys (`*.pub`, as `edgecite bundle keygen`
    /// writes them), read at every deploy. Relative to the config file.
    #[serde(default = "default_trust_dir")]
    pub trust_dir: PathBuf,
    /// Staged bundles, the previous version of what a deploy replaced, the deploy in
    /// progress and the outcomes still to report. Default: beside the store,
    /// `<store>.fleet`. Relative to the config file.
    #[serde(default)]
    pub state_dir: PathBuf,
    /// Where a deployed pack goes (`<packs_dir>/<pack name>/`); one of `[packs] dirs`.
    /// Default: the first of `[packs] dirs`.
    #[serde(default)]
    pub packs_dir: PathBuf,
    /// Evaluations the daemon must complete with the new version before a deploy is kept
    /// (a deployed model must also have run on every one of them without an error or a
    /// non-finite score).
    #[serde(default = "default_health_evaluations")]
    pub health_evaluations: u32,
    /// Seconds the health check may take; past them the deploy is rolled back.
    #[serde(default = "default_health_timeout_s")]
    pub health_timeout_s: u64,
    /// Largest bundle archive accepted, bytes (inline in the request or at its path).
    #[serde(default = "default_max_bundle_bytes")]
    pub max_bundle_bytes: u64,
}

fn default_trust_dir() -> PathBuf {
    "/etc/edgecite/trust".into()
}
fn default_health_evaluations() -> u32 {
    5
}
fn default_health_timeout_s() -> u64 {
    120
}
fn default_max_bundle_bytes() -> u64 {
    64 << 20
}

impl Default for FleetConfig {
    fn default() -> Self {
        FleetConfig {
            accept_deploys: false,
            trust_dir: default_trust_dir(),
            state_dir: PathBuf::new(),
            packs_dir: PathBuf::new(),
            health_evaluations: default_health_evaluations(),
            health_timeout_s: default_health_timeout_s(),
            max_bundle_bytes: default_max_bundle_bytes(),
        }
    }
}

impl FleetConfig {
    /// Checks across sections: deploys come over MQTT, and a pack goes into a directory the
    /// daemon loads packs from. Run after paths are anchored.
    pub(super) fn validate(
        &self,
        doc: &Doc,
        root: &KeyPath,
        mqtt_enabled: bool,
        pack_dirs: &[PathBuf],
    ) -> Result<(), ConfigError> {
        let at = root.key("fleet");
        if !self.accept_deploys {
            return Ok(());
        }
        if !mqtt_enabled {
            return Err(doc.invalid(
                at.key("accept_deploys"),
                "value true needs MQTT: deploys arrive on `…/_gateway/cmd/deploy`; set [mqtt] enabled = true".into(),
            ));
        }
        if self.health_evaluations == 0 {
            return Err(doc.invalid(
                at.key("health_evaluations"),
                "value 0 is too small: expected at least 1 evaluation with the new version".into(),
            ));
        }
        if self.health_timeout_s == 0 {
            return Err(doc.invalid(at.key("health_timeout_s"), "value 0 is too small: expected seconds".into()));
        }
        if !self.packs_dir.as_os_str().is_empty() && !pack_dirs.contains(&self.packs_dir) {
            return Err(doc.invalid(
                at.key("packs_dir"),
                format!(
                    "value \"{}\" is not one of [packs] dirs: a pack deployed there would not be loaded",
                    self.packs_dir.display()
                ),
            ));
        }
        let keys = std::fs::read_dir(&self.trust_dir)
            .map(|d| d.flatten().filter(|e| e.path().extension().is_some_and(|x| x == "pub")).count())
            .unwrap_or(0);
        if keys == 0 {
            return Err(doc.invalid(
                at.key("trust_dir"),
                format!(
                    "value \"{}\" holds no trusted key (*.pub): every deploy would be refused; add a key from `edgecite bundle keygen`",
                    self.trust_dir.display()
                ),
            ));
        }
        Ok(())
    }

    /// Anchor the paths: relative ones against the config's directory, the state directory
    /// beside the store when unset, the packs directory at the first of `[packs] dirs`.
    pub(super) fn anchor(&mut self, base: &Path, store: &Path, pack_dirs: &[PathBuf]) {
        self.trust_dir = base.join(&self.trust_dir);
        self.state_dir = if self.state_dir.as_os_str().is_empty() {
            let mut name = store.file_name().unwrap_or_default().to_os_string();
            name.push(".fleet");
            store.with_file_name(name)
        } else {
            base.join(&self.state_dir)
        };
        self.packs_dir = if self.packs_dir.as_os_str().is_empty() {
            pack_dirs.first().cloned().unwrap_or_default()
        } else {
            base.join(&self.packs_dir)
        };
    }
}
