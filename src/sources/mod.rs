//! Sources turn the outside world into [`Sample`](crate::sample::Sample)s and send them to the
//! pipeline over a channel. Sources never touch the store.

pub mod modbus;

use serde::Serialize;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Counted events of one source component (Vector style), shared with the API.
#[derive(Debug, Default)]
pub struct SourceCounters {
    /// Read requests sent.
    pub requests: AtomicU64,
    /// Samples produced (any quality).
    pub samples: AtomicU64,
    /// Failed requests (timeouts, transport errors, exceptions).
    pub errors: AtomicU64,
    /// Connection (re)establishments.
    pub connects: AtomicU64,
    /// Samples that could not be handed to the pipeline (it was gone).
    pub dropped: AtomicU64,
    /// Unix ms of the last successful read, 0 if none.
    pub last_success_ms: AtomicI64,
    /// 1 while the link is up.
    pub connected: AtomicU64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceStatus {
    pub id: String,
    pub kind: &'static str,
    pub endpoint: String,
    pub connected: bool,
    pub requests: u64,
    pub samples: u64,
    pub errors: u64,
    pub connects: u64,
    pub dropped: u64,
    pub last_success: Option<String>,
}

impl SourceCounters {
    pub fn snapshot(&self, id: &str, kind: &'static str, endpoint: &str) -> SourceStatus {
        let last = self.last_success_ms.load(Ordering::Relaxed);
        SourceStatus {
            id: id.to_string(),
            kind,
            endpoint: endpoint.to_string(),
            connected: self.connected.load(Ordering::Relaxed) == 1,
            requests: self.requests.load(Ordering::Relaxed),
            samples: self.samples.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            connects: self.connects.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            last_success: (last > 0).then(|| crate::time::rfc3339(last)),
        }
    }
}
