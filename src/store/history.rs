//! How long the sample history lasts with this config (issue 21, "history that lasts"):
//! `[store] sample_retention_hours` and `max_samples` both bound it, and whichever is reached
//! first decides. At the configured poll rates (every Modbus point and I2C sensor at its
//! interval, before the deadband, which only lengthens it) `max_samples` may be the shorter
//! one by far: 5,000,000 samples at 10,000 samples/s are 8 minutes. `edgecite check` and the
//! daemon's start-up say which limit applies and how long it keeps.

use crate::config::Config;

/// The configured acquisition rate and what the two limits keep at it.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEstimate {
    /// Samples per second from the polled sources (Modbus points, I2C sensors).
    pub samples_per_s: f64,
    /// Whether MQTT subscriptions add samples at a rate the config does not know.
    pub mqtt_ingest: bool,
    pub retention_hours: f64,
    pub max_samples: u64,
}

impl HistoryEstimate {
    pub fn of(config: &Config) -> HistoryEstimate {
        let modbus: f64 = config
            .sources
            .modbus
            .iter()
            .flat_map(|d| d.points.iter().map(move |p| 1000.0 / p.interval_ms(d).max(1) as f64))
            .sum();
        let i2c: f64 = config.sources.i2c.iter().map(|s| 1000.0 / s.interval_ms.max(1) as f64).sum();
        HistoryEstimate {
            samples_per_s: modbus + i2c,
            mqtt_ingest: config.mqtt.enabled && !config.mqtt.subscriptions.is_empty(),
            retention_hours: config.store.sample_retention_hours,
            max_samples: config.store.max_samples,
        }
    }

    /// Hours `max_samples` holds at the polled rate (None with no polled source).
    pub fn count_hours(&self) -> Option<f64> {
        (self.samples_per_s > 0.0).then(|| self.max_samples as f64 / self.samples_per_s / 3600.0)
    }

    /// Hours of history kept: the shorter of the two limits.
    pub fn kept_hours(&self) -> f64 {
        self.count_hours().map_or(self.retention_hours, |h| h.min(self.retention_hours))
    }

    /// One line for `check` and the start-up log.
    pub fn describe(&self) -> String {
        let extra = if self.mqtt_ingest { ", plus what MQTT peers publish" } else { "" };
        match self.count_hours() {
            None => format!(
                "history: sample_retention_hours {} h; max_samples {} (no polled source{extra})",
                self.retention_hours, self.max_samples
            ),
            Some(h) => format!(
                "history: about {} kept at the polled {:.1} samples/s{extra} (before the deadband): {} decides \
                 (sample_retention_hours {} h; max_samples {} = {})",
                span(self.kept_hours()),
                self.samples_per_s,
                if h < self.retention_hours { "max_samples" } else { "sample_retention_hours" },
                self.retention_hours,
                self.max_samples,
                span(h)
            ),
        }
    }

    /// A warning when `max_samples` cuts the history short of `sample_retention_hours`,
    /// with the count that would keep it.
    pub fn warning(&self) -> Option<String> {
        let h = self.count_hours()?;
        (h < self.retention_hours).then(|| {
            let need = (self.samples_per_s * self.retention_hours * 3600.0).ceil() as u64;
            format!(
                "[store] max_samples = {} holds only {} at the polled {:.1} samples/s, so sample_retention_hours = {} \
                 is never reached; to keep {} set max_samples to at least {need} (or lower the retention)",
                self.max_samples,
                span(h),
                self.samples_per_s,
                self.retention_hours,
                span(self.retention_hours)
            )
        })
    }
}

/// `8.3 min`, `5.0 h`, `7.0 days`.
impl HistoryEstimate {
    /// What the store file holds now and, at its size per sample, what the kept history
    /// takes on disk (None without a store file or samples in it). The size per sample
    /// includes findings, events and indexes, so it is an upper bound for samples alone.
    pub fn on_disk(&self, store: &std::path::Path) -> Option<String> {
        if !store.exists() {
            return None;
        }
        let n = crate::store::Store::open_readonly(store).ok()?.sample_count_estimate().ok()?;
        let size = |suffix: &str| {
            let mut p = store.as_os_str().to_owned();
            p.push(suffix);
            std::fs::metadata(std::path::PathBuf::from(p)).map(|m| m.len()).unwrap_or(0)
        };
        let bytes = size("") + size("-wal");
        if n <= 0 {
            return Some(format!("on disk now: {} (no samples yet)", mib(bytes)));
        }
        let per = bytes as f64 / n as f64;
        let kept = (self.samples_per_s * self.kept_hours() * 3600.0).min(self.max_samples as f64);
        Some(format!(
            "on disk now: {} for {n} samples ({per:.0} B per sample, findings and indexes included); \
             the kept history at that size: about {}",
            mib(bytes),
            mib((per * kept) as u64)
        ))
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn span(hours: f64) -> String {
    if hours < 1.0 {
        format!("{:.1} min", hours * 60.0)
    } else if hours < 48.0 {
        format!("{hours:.1} h")
    } else {
        format!("{:.1} days", hours / 24.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(points: usize, interval_ms: u64, store: &str) -> Config {
        let pts: Vec<String> = (0..points)
            .map(|i| format!(r#"{{ id = "p{i}", register = "holding", address = {i}, type = "u16" }}"#))
            .collect();
        let text = format!(
            "[site]\nid = \"s\"\n[store]\n{store}\n[[sources.modbus]]\nid = \"d\"\nhost = \"127.0.0.1\"\nport = 502\nunit = 1\ninterval_ms = {interval_ms}\npoints = [{}]\n",
            pts.join(", ")
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, text).unwrap();
        Config::load(&file).unwrap()
    }

    #[test]
    fn the_shorter_limit_decides_and_a_short_count_is_called_out() {
        // Issue 21: 10,000 points every 100 ms would be 100,000 samples/s; 1,000 points at
        // 100 ms are 10,000/s, and the default 5,000,000 samples last 8.3 minutes.
        let e = HistoryEstimate::of(&config(1000, 100, ""));
        assert_eq!(e.samples_per_s, 10_000.0);
        assert!((e.kept_hours() * 60.0 - 8.33).abs() < 0.01, "{}", e.kept_hours());
        assert!(e.describe().contains("about 8.3 min kept at the polled 10000.0 samples/s"), "{}", e.describe());
        assert!(e.describe().contains("max_samples decides"), "{}", e.describe());
        let w = e.warning().unwrap();
        assert!(w.contains("max_samples = 5000000 holds only 8.3 min") && w.contains("at least 6048000000"), "{w}");
        // Few points: the retention decides and there is nothing to warn about.
        let e = HistoryEstimate::of(&config(10, 1000, "sample_retention_hours = 24.0"));
        assert_eq!(e.kept_hours(), 24.0);
        assert!(e.describe().contains("about 24.0 h kept") && e.describe().contains("sample_retention_hours decides"));
        assert_eq!(e.warning(), None);
    }

    #[test]
    fn the_store_file_says_what_it_holds_and_what_the_kept_history_would_take() {
        let e = HistoryEstimate::of(&config(10, 1000, "sample_retention_hours = 24.0"));
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        assert_eq!(e.on_disk(&db), None, "no store file yet");
        let mut s = crate::store::Store::open(&db).unwrap();
        assert!(e.on_disk(&db).unwrap().contains("no samples yet"));
        let p = crate::sample::PointId::from("d.p0".to_string());
        let batch: Vec<crate::sample::Sample> =
            (0..5000).map(|i| crate::sample::Sample::good(p.clone(), i * 1000, (i % 7) as f64)).collect();
        s.insert_samples(&batch).unwrap();
        let line = e.on_disk(&db).unwrap();
        // 10 points a second for 24 h: 864,000 samples at the file's bytes per sample.
        let bytes = std::fs::metadata(&db).unwrap().len()
            + std::fs::metadata(dir.path().join("s.db-wal")).map(|m| m.len()).unwrap_or(0);
        let per = bytes as f64 / 5000.0;
        let want = format!("about {:.1} MiB", per * 864_000.0 / (1024.0 * 1024.0));
        assert!(line.contains("for 5000 samples") && line.contains(&want), "{line} (want {want})");
    }
}
