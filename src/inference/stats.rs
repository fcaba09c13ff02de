//! Per-model inference counters and latency histogram (lock-free, read by the API).

use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Upper bounds of the latency buckets in microseconds; the last bucket is open.
pub const BUCKETS_US: [u64; 14] =
    [10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 1_000_000];

#[derive(Debug, Default)]
pub struct ModelStats {
    runs: AtomicU64,
    rows: AtomicU64,
    errors: AtomicU64,
    non_finite: AtomicU64,
    sum_us: AtomicU64,
    max_us: AtomicU64,
    buckets: [AtomicU64; BUCKETS_US.len() + 1],
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StatsSnapshot {
    /// Session runs (one per batch).
    pub runs: u64,
    /// Feature vectors scored.
    pub rows: u64,
    pub errors: u64,
    /// Scores that were NaN or infinite (the criterion abstains on those).
    pub non_finite_scores: u64,
    pub mean_us: f64,
    /// Upper bound of the bucket holding the median / 99th percentile run.
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    /// `[upper bound in us (0 = open), count]` per bucket.
    pub histogram: Vec<(u64, u64)>,
}

impl ModelStats {
    pub fn record(&self, rows: usize, micros: u64) {
        self.runs.fetch_add(1, Relaxed);
        self.rows.fetch_add(rows as u64, Relaxed);
        self.sum_us.fetch_add(micros, Relaxed);
        self.max_us.fetch_max(micros, Relaxed);
        let i = BUCKETS_US.iter().position(|&b| micros <= b).unwrap_or(BUCKETS_US.len());
        self.buckets[i].fetch_add(1, Relaxed);
    }

    pub fn error(&self) {
        self.errors.fetch_add(1, Relaxed);
    }

    pub fn non_finite(&self, n: usize) {
        self.non_finite.fetch_add(n as u64, Relaxed);
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Relaxed)).collect();
        let runs = self.runs.load(Relaxed);
        let quantile = |q: f64| -> u64 {
            if runs == 0 {
                return 0;
            }
            let target = (q * runs as f64).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= target {
                    return BUCKETS_US.get(i).copied().unwrap_or_else(|| self.max_us.load(Relaxed));
                }
            }
            self.max_us.load(Relaxed)
        };
        StatsSnapshot {
            runs,
            rows: self.rows.load(Relaxed),
            errors: self.errors.load(Relaxed),
            non_finite_scores: self.non_finite.load(Relaxed),
            mean_us: if runs == 0 { 0.0 } else { self.sum_us.load(Relaxed) as f64 / runs as f64 },
            p50_us: quantile(0.5),
            p99_us: quantile(0.99),
            max_us: self.max_us.load(Relaxed),
            histogram: counts.iter().enumerate().map(|(i, c)| (BUCKETS_US.get(i).copied().unwrap_or(0), *c)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_the_buckets() {
        let s = ModelStats::default();
        for _ in 0..98 {
            s.record(1, 15);
        }
        s.record(4, 700);
        s.record(4, 3_000_000);
        let snap = s.snapshot();
        assert_eq!((snap.runs, snap.rows), (100, 106));
        assert_eq!(snap.p50_us, 20);
        assert_eq!(snap.p99_us, 1_000);
        assert_eq!(snap.max_us, 3_000_000);
        assert_eq!(snap.histogram.last().unwrap(), &(0, 1));
    }
}
