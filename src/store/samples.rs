//! Samples: batched inserts (one transaction per poll batch), the raw registers of the
//! newest sample, retention by age and count, counts, and a point's samples.

use super::{Store, StoreError};
use crate::sample::Sample;
use rusqlite::{params, OptionalExtension};
use std::collections::HashMap;

impl Store {
    fn point_id(tx: &rusqlite::Transaction, cache: &mut HashMap<String, i64>, name: &str) -> Result<i64, StoreError> {
        if let Some(id) = cache.get(name) {
            return Ok(*id);
        }
        tx.execute("INSERT OR IGNORE INTO points(name) VALUES (?1)", [name])?;
        let id: i64 = tx.query_row("SELECT id FROM points WHERE name = ?1", [name], |r| r.get(0))?;
        cache.insert(name.to_string(), id);
        Ok(id)
    }

    /// Store a batch of samples in one transaction.
    pub fn insert_samples<'a>(&mut self, samples: impl IntoIterator<Item = &'a Sample>) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        let mut n = 0;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO samples(point_id, ts_ms, value, quality, raw, text) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for s in samples {
                let pid = Self::point_id(&tx, &mut self.point_ids, &s.point)?;
                let raw: Option<Vec<u8>> = s.raw.as_ref().map(|r| r.iter().flat_map(|w| w.to_be_bytes()).collect());
                stmt.execute(params![pid, s.ts_ms, s.value, s.quality.as_string(), raw, s.text.as_deref()])?;
                n += 1;
            }
        }
        tx.commit()?;
        Ok(n)
    }

    /// The raw registers stored with the newest sample of a point.
    pub fn latest_raw(&self, point: &str) -> Result<Option<Vec<u16>>, StoreError> {
        let raw: Option<Option<Vec<u8>>> = self
            .conn
            .query_row(
                "SELECT s.raw FROM samples s JOIN points p ON p.id = s.point_id WHERE p.name = ?1 ORDER BY s.id DESC LIMIT 1",
                [point],
                |r| r.get(0),
            )
            .optional()?;
        Ok(raw.flatten().map(|b| b.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect()))
    }

    /// Delete samples older than the retention, and the oldest beyond `max_samples`.
    pub fn prune(&mut self, now_ms: i64, retention_hours: f64, max_samples: u64) -> Result<usize, StoreError> {
        let cutoff = now_ms - (retention_hours * 3_600_000.0) as i64;
        let mut n = self.conn.execute("DELETE FROM samples WHERE ts_ms < ?1", [cutoff])?;
        let count: i64 = self.conn.query_row("SELECT count(*) FROM samples", [], |r| r.get(0))?;
        let excess = count - max_samples as i64;
        if excess > 0 {
            n += self
                .conn
                .execute("DELETE FROM samples WHERE id IN (SELECT id FROM samples ORDER BY id LIMIT ?1)", [excess])?;
        }
        Ok(n)
    }

    /// Samples stored, from the span of row ids: two index look-ups instead of a scan, so
    /// health checks stay cheap on a large store. Exact while rows are deleted oldest
    /// first (retention does that); an upper bound otherwise.
    pub fn sample_count_estimate(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row("SELECT coalesce(max(id) - min(id) + 1, 0) FROM samples", [], |r| r.get(0))?)
    }

    /// Samples stored, counted exactly (scans the table).
    pub fn sample_count(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row("SELECT count(*) FROM samples", [], |r| r.get(0))?)
    }

    /// Samples of one point, oldest first, for history and tests.
    pub fn samples(
        &self,
        point: &str,
        since_ms: i64,
        limit: u32,
    ) -> Result<Vec<(i64, Option<f64>, String)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT s.ts_ms, s.value, s.quality FROM samples s JOIN points p ON p.id = s.point_id
             WHERE p.name = ?1 AND s.ts_ms >= ?2 ORDER BY s.ts_ms LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![point, since_ms, limit], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::Quality;

    #[test]
    fn samples_are_stored_and_pruned_by_age_and_count() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("e.db")).unwrap();
        let p: crate::sample::PointId = "d.x".into();
        let hour = 3_600_000;
        let batch: Vec<Sample> = (0..10)
            .map(|i| {
                if i == 3 {
                    Sample::bad(p.clone(), i * hour, Quality::CommError)
                } else {
                    Sample::good(p.clone(), i * hour, i as f64)
                }
            })
            .collect();
        s.insert_samples(&batch).unwrap();
        assert_eq!(s.samples("d.x", 0, 100).unwrap()[3], (3 * hour, None, "comm_error".to_string()));
        // Retention of 5.5 h at t = 9 h keeps samples from 3.5 h on: 4..9.
        assert_eq!(s.prune(9 * hour, 5.5, 1000).unwrap(), 4);
        assert_eq!(s.sample_count().unwrap(), 6);
        assert_eq!(s.sample_count_estimate().unwrap(), 6);
        // A count cap of 2 keeps the newest two.
        assert_eq!(s.prune(9 * hour, 100.0, 2).unwrap(), 4);
        let left: Vec<i64> = s.samples("d.x", 0, 100).unwrap().iter().map(|r| r.0).collect();
        assert_eq!(left, [8 * hour, 9 * hour]);
    }
}
