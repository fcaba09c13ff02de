//! Sources turn the outside world into [`Sample`](crate::sample::Sample)s and send them to the
//! pipeline over a channel. Sources never touch the store.

pub mod commit;
pub mod local_io;
pub mod modbus;
pub mod mqtt;

use crate::status::{ComponentRole, ComponentStatus};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (µs) of the request latency histogram buckets; the last bucket is +Inf.
pub const LATENCY_BUCKETS_US: [u64; 12] =
    [100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000];

/// Counted events of one device (Vector style), shared with the API.
#[derive(Debug, Default)]
pub struct SourceCounters {
    /// Requests sent.
    pub requests: AtomicU64,
    /// Samples produced (any quality).
    pub samples: AtomicU64,
    /// Failed requests of any kind, and by kind below.
    pub errors: AtomicU64,
    pub timeouts: AtomicU64,
    pub exceptions: AtomicU64,
    pub transport_errors: AtomicU64,
    /// Polls not sent because the device was backing off.
    pub skipped: AtomicU64,
    /// Connection (re)establishments.
    pub connects: AtomicU64,
    /// Samples that could not be handed to the pipeline (it was gone).
    pub dropped: AtomicU64,
    /// Unix ms of the last successful read, 0 if none.
    pub last_success_ms: AtomicI64,
    /// 1 while the link is up.
    pub connected: AtomicU64,
    /// Current back-off in ms, 0 when none.
    pub backoff_ms: AtomicU64,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS_US.len() + 1],
    latency_sum_us: AtomicU64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceStatus {
    pub id: String,
    pub kind: String,
    pub endpoint: String,
    pub connected: bool,
    pub requests: u64,
    pub samples: u64,
    pub errors: u64,
    pub timeouts: u64,
    pub exceptions: u64,
    pub transport_errors: u64,
    pub skipped: u64,
    pub connects: u64,
    pub dropped: u64,
    pub last_success: Option<String>,
    pub backoff_ms: u64,
    /// Successful request latencies: (upper bound in µs, or None for +Inf; count in bucket).
    pub latency_us: Vec<(Option<u64>, u64)>,
    pub latency_mean_us: Option<u64>,
}

impl SourceStatus {
    /// The source as a component: samples read, handed on and dropped; failed requests.
    pub fn component(&self) -> ComponentStatus {
        ComponentStatus {
            id: self.id.clone(),
            role: ComponentRole::Source,
            kind: self.kind.clone(),
            healthy: self.connected,
            problem: (!self.connected).then(|| format!("source {} not connected", self.id)),
            received: self.samples,
            sent: self.samples.saturating_sub(self.dropped),
            errors: self.errors,
            dropped: self.dropped,
        }
    }
}

impl SourceCounters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn record_latency(&self, d: Duration) {
        let us = d.as_micros().min(u64::MAX as u128) as u64;
        let i = LATENCY_BUCKETS_US.iter().position(|&b| us <= b).unwrap_or(LATENCY_BUCKETS_US.len());
        self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us.fetch_add(us, Ordering::Relaxed);
    }

    pub fn snapshot(&self, id: &str, kind: &'static str, endpoint: &str) -> SourceStatus {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let last = self.last_success_ms.load(Ordering::Relaxed);
        let latency_us: Vec<(Option<u64>, u64)> = self
            .latency_buckets
            .iter()
            .enumerate()
            .map(|(i, c)| (LATENCY_BUCKETS_US.get(i).copied(), get(c)))
            .collect();
        let n: u64 = latency_us.iter().map(|(_, c)| c).sum();
        SourceStatus {
            id: id.to_string(),
            kind: kind.to_string(),
            endpoint: endpoint.to_string(),
            connected: get(&self.connected) == 1,
            requests: get(&self.requests),
            samples: get(&self.samples),
            errors: get(&self.errors),
            timeouts: get(&self.timeouts),
            exceptions: get(&self.exceptions),
            transport_errors: get(&self.transport_errors),
            skipped: get(&self.skipped),
            connects: get(&self.connects),
            dropped: get(&self.dropped),
            last_success: (last > 0).then(|| crate::time::rfc3339(last)),
            backoff_ms: get(&self.backoff_ms),
            latency_mean_us: (n > 0).then(|| get(&self.latency_sum_us) / n),
            latency_us,
        }
    }
}
