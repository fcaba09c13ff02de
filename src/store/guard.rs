//! What keeps acquisition going when the store's disk is in trouble (issue 13): a free-space
//! watermark below which samples are dropped and counted before findings, acknowledgements
//! and the outbox are touched, and sample writes that fail (disk full, I/O error) counted and
//! logged instead of ending the daemon. The periodic `PRAGMA quick_check` is scheduled here.
//! Polled samples wait here for `[store] commit_interval_ms` and go to the store in one
//! transaction (one block per point: a few sequential pages, issue 21).

use super::{free_bytes, Store, StoreError};
use crate::config::store::StoreConfig;
use crate::sample::Sample;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How often free space is looked at (a `statvfs`, cheap).
const LOOK_EVERY: Duration = Duration::from_secs(1);
/// Warnings about dropped samples, at most one per this interval.
const LOG_EVERY: Duration = Duration::from_secs(60);

pub struct SampleGuard {
    path: PathBuf,
    min_free: u64,
    last_look: Option<Instant>,
    last_log: Option<Instant>,
    dropped_since_log: u64,
    pub health: StoreHealth,
    check_every: Option<Duration>,
    last_check: Option<Instant>,
    held: super::samples::Staged,
    held_since: Option<Instant>,
    commit_every: Duration,
}

/// Samples held at most before a commit, whatever the interval.
pub const MAX_HELD: usize = 50_000;

impl SampleGuard {
    pub fn new(cfg: &StoreConfig) -> SampleGuard {
        let min_free = cfg.min_free_mib * 1024 * 1024;
        SampleGuard {
            path: cfg.path.clone(),
            min_free,
            last_look: None,
            last_log: None,
            dropped_since_log: 0,
            health: StoreHealth { min_free_bytes: min_free, ..Default::default() },
            check_every: (cfg.quick_check_interval_s > 0).then(|| Duration::from_secs(cfg.quick_check_interval_s)),
            last_check: Some(Instant::now()),
            held: Default::default(),
            held_since: None,
            commit_every: Duration::from_millis(cfg.commit_interval_ms),
        }
    }

    /// Hold samples for the next commit.
    pub fn hold<'a>(&mut self, samples: impl IntoIterator<Item = &'a Sample>) {
        let before = self.held.len();
        samples.into_iter().for_each(|s| self.held.push(s));
        if before == 0 && !self.held.is_empty() {
            self.held_since = Some(Instant::now());
        }
    }

    /// Whether the held samples are due: `commit_interval_ms` since the first, or
    /// [`MAX_HELD`] of them.
    pub fn due(&self) -> bool {
        self.held.len() >= MAX_HELD || self.held_since.is_some_and(|t| t.elapsed() >= self.commit_every)
    }

    /// How long until the held samples are due (None: nothing held).
    pub fn due_in(&self) -> Option<Duration> {
        self.held_since.map(|t| self.commit_every.saturating_sub(t.elapsed()))
    }

    /// Store the held samples in one transaction, FULL-synced when `durable` (a peer is
    /// told they are stored). Below the watermark or on a failed write they are counted,
    /// not stored (a failed write is also returned, for callers that must not go on
    /// without them). Returns the samples stored.
    pub fn commit(&mut self, store: &mut Store, durable: bool) -> Result<usize, StoreError> {
        let held = std::mem::take(&mut self.held);
        self.held_since = None;
        if held.is_empty() || !self.admit(held.len()) {
            return Ok(0);
        }
        let stored = if durable { store.insert_staged_durable(&held) } else { store.insert_staged(&held) };
        stored.inspect_err(|e| self.failed(held.len(), e))
    }

    /// Whether a batch of samples may be written now. Below the watermark it is dropped
    /// and counted (the caller drops it).
    pub fn admit(&mut self, n: usize) -> bool {
        if self.min_free > 0 && self.last_look.is_none_or(|t| t.elapsed() >= LOOK_EVERY) {
            self.last_look = Some(Instant::now());
            self.health.free_bytes = free_bytes(&self.path);
            let low = self.health.free_bytes.is_some_and(|f| f < self.min_free);
            if low != self.health.disk_low {
                if low {
                    tracing::error!(free = self.health.free_bytes, watermark = self.min_free, db = %self.path.display(),
                        "free disk below store.min_free_mib: samples are dropped (counted) until there is room; findings and the outbox go on");
                } else {
                    tracing::info!(
                        free = self.health.free_bytes,
                        "free disk above the watermark again: samples are stored"
                    );
                }
                self.health.disk_low = low;
            }
        }
        if self.health.disk_low {
            self.dropped(n, None);
            return false;
        }
        true
    }

    /// A sample write failed: counted and logged (rate limited); the daemon goes on.
    pub fn failed(&mut self, n: usize, e: &StoreError) {
        self.health.last_write_error = Some(e.to_string());
        self.health.last_write_error_ms = crate::time::now_ms();
        self.dropped(n, Some(e));
    }

    fn dropped(&mut self, n: usize, e: Option<&StoreError>) {
        self.health.samples_dropped += n as u64;
        self.dropped_since_log += n as u64;
        if self.last_log.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
            let why = e.map(|e| e.to_string()).unwrap_or_else(|| "free disk below store.min_free_mib".into());
            tracing::warn!(dropped = self.dropped_since_log, total = self.health.samples_dropped, reason = %why,
                "samples not stored");
            self.last_log = Some(Instant::now());
            self.dropped_since_log = 0;
        }
    }

    /// Run `PRAGMA quick_check` when due; the result goes to `health`.
    pub fn maybe_check(&mut self, store: &Store, now_ms: i64) {
        let Some(every) = self.check_every else { return };
        if self.last_check.is_some_and(|t| t.elapsed() < every) {
            return;
        }
        self.check_now(store, now_ms);
    }

    pub fn check_now(&mut self, store: &Store, now_ms: i64) {
        self.last_check = Some(Instant::now());
        let r = store.quick_check().unwrap_or_else(|e| Some(e.to_string()));
        match (&r, &self.health.integrity_problem) {
            (Some(p), None) => tracing::error!(db = %store.path().display(), problem = %p,
                "store integrity check (PRAGMA quick_check) failed: restore from a backup or run `sqlite3 .recover`"),
            (None, Some(_)) => tracing::info!("store integrity check passes again"),
            _ => {}
        }
        self.health.integrity_problem = r;
        self.health.integrity_checked_ms = now_ms;
        self.health.integrity_checks += 1;
    }
}

/// What the daemon loop learns about its store, for `/healthz` and `/metrics`.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct StoreHealth {
    /// The last `PRAGMA quick_check` found problems (its first lines); None: ok or not run.
    pub integrity_problem: Option<String>,
    /// When the last check ran (Unix ms, 0 if not yet) and how many ran.
    pub integrity_checked_ms: i64,
    pub integrity_checks: u64,
    /// Free bytes on the store's file system at the last look, and the watermark.
    pub free_bytes: Option<u64>,
    pub min_free_bytes: u64,
    /// Below the watermark: samples are dropped (counted), findings and the outbox go on.
    pub disk_low: bool,
    /// Samples not stored: below the watermark, or the write failed (disk full, I/O).
    pub samples_dropped: u64,
    /// The last error writing samples, if any since start, and when (Unix ms).
    pub last_write_error: Option<String>,
    pub last_write_error_ms: i64,
    /// The reference index could not be opened and was rebuilt or is off (the reason).
    pub references_degraded: Option<String>,
}

impl StoreHealth {
    /// Why the store makes the daemon degraded, if it does.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if let Some(i) = &self.integrity_problem {
            p.push(format!("store integrity check failed: {i}"));
        }
        if self.disk_low {
            p.push(format!(
                "free disk below the watermark ({} < {} bytes): samples are being dropped",
                self.free_bytes.unwrap_or(0),
                self.min_free_bytes
            ));
        }
        if let Some(e) =
            self.last_write_error.as_ref().filter(|_| crate::time::now_ms() - self.last_write_error_ms < 60_000)
        {
            p.push(format!("samples not stored in the last minute: {e}"));
        }
        if let Some(r) = &self.references_degraded {
            p.push(format!("reference index: {r}"));
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_the_watermark_samples_are_dropped_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        // A watermark no disk meets: every batch is dropped, and counted.
        let cfg =
            StoreConfig { path: dir.path().join("s.db"), min_free_mib: u64::MAX / (1 << 21), ..Default::default() };
        let mut g = SampleGuard::new(&cfg);
        assert!(!g.admit(10));
        assert!(!g.admit(5));
        assert!(g.health.disk_low);
        assert_eq!(g.health.samples_dropped, 15);
        assert!(!g.health.problems().is_empty());
        let cfg = StoreConfig { path: dir.path().join("s.db"), min_free_mib: 1, ..Default::default() };
        let mut g = SampleGuard::new(&cfg);
        assert!(g.admit(10));
        assert_eq!(g.health.samples_dropped, 0);
    }

    #[test]
    fn held_samples_wait_for_the_interval_and_go_in_one_commit_or_are_counted_below_the_watermark() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = StoreConfig {
            path: dir.path().join("s.db"),
            commit_interval_ms: 50,
            min_free_mib: 0,
            ..Default::default()
        };
        let mut store = Store::open(&cfg.path).unwrap();
        let mut g = SampleGuard::new(&cfg);
        assert!(!g.due() && g.due_in().is_none());
        let batch: Vec<Sample> = (0..3).map(|i| Sample::good("a.b".into(), i, i as f64)).collect();
        g.hold(batch.iter());
        g.hold(batch[..1].iter());
        assert!(!g.due() && g.due_in().is_some());
        assert_eq!(store.sample_count().unwrap(), 0, "nothing stored before the commit");
        std::thread::sleep(Duration::from_millis(60));
        assert!(g.due());
        assert_eq!(g.commit(&mut store, false).unwrap(), 4);
        assert_eq!(store.sample_count().unwrap(), 4);
        assert!(!g.due() && g.due_in().is_none());
        // A watermark no disk meets: the held samples are counted as dropped, not stored.
        let low = StoreConfig { min_free_mib: u64::MAX / (1 << 21), ..cfg };
        let mut g = SampleGuard::new(&low);
        g.hold(batch.iter());
        assert_eq!(g.commit(&mut store, true).unwrap(), 0);
        assert_eq!((g.health.samples_dropped, store.sample_count().unwrap()), (3, 4));
    }
}
