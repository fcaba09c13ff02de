//! `[store]`: the SQLite file, sample retention and count, page cache, disk watermark,
//! `quick_check` interval; their validation.

use super::{ConfigError, Doc, KeyPath};
use serde::Deserialize;
use std::path::PathBuf;

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
    /// Polled samples are held this long and stored in one transaction (0: each poll batch
    /// at once). Samples a peer is told are stored (MQTT ingest) and the samples a finding
    /// cites are committed at once whatever this is.
    #[serde(default = "default_commit_interval_ms")]
    pub commit_interval_ms: u64,
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
            commit_interval_ms: default_commit_interval_ms(),
        }
    }
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
fn default_commit_interval_ms() -> u64 {
    1000
}
/// Longest `commit_interval_ms`: what a crash of the daemon may take of polled samples.
pub const MAX_COMMIT_INTERVAL_MS: u64 = 10_000;
fn default_cache_kib() -> u32 {
    512
}

impl StoreConfig {
    pub(super) fn validate(&self, doc: &Doc, root: &KeyPath) -> Result<(), ConfigError> {
        if !(self.sample_retention_hours > 0.0) {
            return Err(doc.invalid(
                root.key("store").key("sample_retention_hours"),
                format!("value {} is out of range: expected a positive number of hours", self.sample_retention_hours),
            ));
        }
        if self.commit_interval_ms > MAX_COMMIT_INTERVAL_MS {
            return Err(doc.invalid(
                root.key("store").key("commit_interval_ms"),
                format!(
                    "value {} is out of range: expected 0 to {MAX_COMMIT_INTERVAL_MS} ms (a crash loses up to this much of polled samples)",
                    self.commit_interval_ms
                ),
            ));
        }
        Ok(())
    }
}
