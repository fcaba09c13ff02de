//! Samples, stored as per-point blocks ([`super::block`]) in two tables:
//! - `sample_recent`: each committed batch adds one block per point, appended in commit
//!   order (no per-point index, so a commit writes a few sequential pages);
//! - `sample_blocks`: at each prune (the daemon's, every minute) and when `sample_recent`
//!   grows past [`COMPACT_ROWS`], the recent blocks are merged into one block per point here, indexed by
//!   point, and `sample_recent` is emptied whole (SQLite frees a whole table's pages without
//!   rewriting them).
//!
//! Readers see both tables; a point's samples come back in the order they were stored.
//! Retention deletes whole blocks once all their samples are older than it; a block that
//! spans more than [`TRIM_SPAN_MS`] (back-filled or long-held data) is cut at the cutoff
//! instead, so history outlives `sample_retention_hours` by at most that much. The count cap
//! is exact: the oldest samples beyond `max_samples` go, cutting one block where it falls.
//! `sample_totals` keeps the count, updated in the same transaction as every change.

use super::block::{self, Encoder, StoredSample};
use super::{Store, StoreError};
use crate::sample::{PointId, Sample};
use rusqlite::{params, OptionalExtension, Transaction};
use std::collections::HashMap;

/// Recent blocks are merged at each prune, or when this many have piled up.
pub const COMPACT_ROWS: u64 = 200_000;
/// Blocks spanning more than this are cut at the retention cutoff; shorter ones go whole.
pub const TRIM_SPAN_MS: i64 = 10 * 60_000;
/// The schema version that introduced blocks; migrating to it moves the rows of the old
/// `samples` table into blocks.
pub(super) const BLOCKS_VERSION: usize = 9;

pub(super) const MIGRATION: &str = r#"
-- v9: samples as per-point blocks (src/store/block.rs). A row per sample and its per-point
-- index wrote about 10 kB to storage per stored sample (issue 21).
CREATE TABLE sample_recent (
    id       INTEGER PRIMARY KEY,
    point_id INTEGER NOT NULL REFERENCES points(id),
    start_ms INTEGER NOT NULL,
    end_ms   INTEGER NOT NULL,
    n        INTEGER NOT NULL,
    data     BLOB NOT NULL
);
CREATE TABLE sample_blocks (
    id       INTEGER PRIMARY KEY,
    point_id INTEGER NOT NULL REFERENCES points(id),
    start_ms INTEGER NOT NULL,
    end_ms   INTEGER NOT NULL,
    n        INTEGER NOT NULL,
    data     BLOB NOT NULL
);
CREATE INDEX sample_blocks_point ON sample_blocks(point_id, end_ms);
CREATE INDEX sample_blocks_start ON sample_blocks(start_ms);
CREATE TABLE sample_totals (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
);
INSERT INTO sample_totals(id, n) VALUES (1, 0);
"#;

/// The migration's second half: the old table's rows, oldest first, become one block per
/// point; then the old table goes.
pub(super) fn move_row_samples(tx: &Transaction) -> Result<(), StoreError> {
    let mut by_point: HashMap<i64, Encoder> = HashMap::new();
    {
        let mut stmt = tx.prepare("SELECT point_id, ts_ms, value, quality, raw, text FROM samples ORDER BY id")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let raw: Option<Vec<u8>> = r.get(4)?;
            let raw: Option<Vec<u16>> =
                raw.map(|b| b.chunks(2).map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])).collect());
            let quality: String = r.get(3)?;
            let text: Option<String> = r.get(5)?;
            by_point.entry(r.get(0)?).or_default().push(
                r.get(1)?,
                r.get(2)?,
                &quality,
                raw.as_deref(),
                text.as_deref(),
            );
        }
    }
    let mut total = 0;
    for (pid, e) in &by_point {
        insert_block(tx, "sample_blocks", *pid, e)?;
        total += e.n;
    }
    tx.execute("UPDATE sample_totals SET n = ?1", [total])?;
    tx.execute_batch("DROP TABLE samples;")?;
    Ok(())
}

fn insert_block(tx: &Transaction, table: &str, point_id: i64, e: &Encoder) -> Result<(), StoreError> {
    let sql = format!("INSERT INTO {table}(point_id, start_ms, end_ms, n, data) VALUES (?1, ?2, ?3, ?4, ?5)");
    tx.prepare_cached(&sql)?.execute(params![point_id, e.start_ms, e.end_ms, e.n, e.bytes()])?;
    Ok(())
}

/// Decode the block of row `id` of `table`; a damaged one is an error naming the row.
fn decode_row(table: &'static str, id: i64, data: &[u8]) -> Result<Vec<StoredSample>, StoreError> {
    block::decode(data).map_err(|message| StoreError::Block { table, id, message })
}

/// Samples waiting for their commit, already encoded: one block per point (a few bytes per
/// sample in memory, not a `Sample` each).
#[derive(Default)]
pub struct Staged {
    blocks: HashMap<PointId, Encoder>,
    n: usize,
}

impl Staged {
    pub fn push(&mut self, s: &Sample) {
        self.blocks.entry(s.point.clone()).or_default().push_sample(s);
        self.n += 1;
    }

    /// Samples staged.
    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
}

impl<'a> FromIterator<&'a Sample> for Staged {
    fn from_iter<I: IntoIterator<Item = &'a Sample>>(it: I) -> Staged {
        let mut s = Staged::default();
        it.into_iter().for_each(|x| s.push(x));
        s
    }
}

/// Where compaction stands: recent blocks added since it last ran.
#[derive(Debug, Default)]
pub(super) struct Compaction {
    recent_rows: u64,
}

impl Store {
    fn point_id(tx: &Transaction, cache: &mut HashMap<String, i64>, name: &str) -> Result<i64, StoreError> {
        if let Some(id) = cache.get(name) {
            return Ok(*id);
        }
        tx.execute("INSERT OR IGNORE INTO points(name) VALUES (?1)", [name])?;
        let id: i64 = tx.query_row("SELECT id FROM points WHERE name = ?1", [name], |r| r.get(0))?;
        cache.insert(name.to_string(), id);
        Ok(id)
    }

    /// Store a batch of samples in one transaction: one block per point.
    pub fn insert_samples<'a>(&mut self, samples: impl IntoIterator<Item = &'a Sample>) -> Result<usize, StoreError> {
        self.insert_staged(&samples.into_iter().collect())
    }

    /// Store staged samples in one transaction: one block per point.
    pub fn insert_staged(&mut self, staged: &Staged) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        for (point, e) in &staged.blocks {
            let pid = Self::point_id(&tx, &mut self.point_ids, point)?;
            insert_block(&tx, "sample_recent", pid, e)?;
        }
        let n = staged.n;
        tx.prepare_cached("UPDATE sample_totals SET n = n + ?1")?.execute([n as i64])?;
        tx.commit()?;
        self.compaction.recent_rows += staged.blocks.len() as u64;
        if self.compaction.recent_rows >= COMPACT_ROWS {
            self.compact()?;
        }
        Ok(n)
    }

    /// Merge the recent blocks into one block per point; returns the blocks merged.
    pub fn compact(&mut self) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        // The row ids per point first (a few bytes each), then one point at a time: memory
        // holds one point's merged block, not the whole minute's.
        let mut order: Vec<i64> = Vec::new();
        let mut ids: HashMap<i64, Vec<i64>> = HashMap::new();
        {
            let mut stmt = tx.prepare_cached("SELECT id, point_id FROM sample_recent ORDER BY id")?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let (id, pid): (i64, i64) = (r.get(0)?, r.get(1)?);
                ids.entry(pid)
                    .or_insert_with(|| {
                        order.push(pid);
                        Vec::new()
                    })
                    .push(id);
            }
        }
        let mut merged = 0;
        for pid in &order {
            let mut e = Encoder::default();
            {
                let mut stmt = tx.prepare_cached("SELECT data FROM sample_recent WHERE id = ?1")?;
                for id in &ids[pid] {
                    let mut rows = stmt.query([id])?;
                    let r = rows.next()?.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
                    let data = r.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?;
                    let samples = decode_row("sample_recent", *id, data)?;
                    samples.iter().for_each(|s| e.push_stored(s));
                    merged += 1;
                }
            }
            insert_block(&tx, "sample_blocks", *pid, &e)?;
        }
        tx.execute("DELETE FROM sample_recent", [])?;
        tx.commit()?;
        self.compaction = Compaction::default();
        Ok(merged)
    }

    fn lookup_point(&self, name: &str) -> Result<Option<i64>, StoreError> {
        if let Some(id) = self.point_ids.get(name) {
            return Ok(Some(*id));
        }
        Ok(self.conn.query_row("SELECT id FROM points WHERE name = ?1", [name], |r| r.get(0)).optional()?)
    }

    /// A point's samples with times in `from_ms..=to_ms`, in the order they were stored.
    pub fn point_samples(&self, point: &str, from_ms: i64, to_ms: i64) -> Result<Vec<StoredSample>, StoreError> {
        let Some(pid) = self.lookup_point(point)? else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for table in ["sample_blocks", "sample_recent"] {
            let sql = format!(
                "SELECT id, data FROM {table} WHERE point_id = ?1 AND end_ms >= ?2 AND start_ms <= ?3 ORDER BY id"
            );
            let mut stmt = self.conn.prepare_cached(&sql)?;
            let mut rows = stmt.query(params![pid, from_ms, to_ms])?;
            while let Some(r) = rows.next()? {
                let id: i64 = r.get(0)?;
                let samples = decode_row(table, id, r.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?)?;
                out.extend(samples.into_iter().filter(|s| s.ts_ms >= from_ms && s.ts_ms <= to_ms));
            }
        }
        Ok(out)
    }

    /// Every stored sample of every point, by point name, each in the order stored (tools
    /// and tests; reads the whole history).
    pub fn all_samples(&self) -> Result<Vec<(String, StoredSample)>, StoreError> {
        let names: Vec<String> = {
            let mut stmt = self.conn.prepare("SELECT name FROM points ORDER BY id")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        let mut out = Vec::new();
        for name in names {
            for s in self.point_samples(&name, i64::MIN, i64::MAX)? {
                out.push((name.clone(), s));
            }
        }
        Ok(out)
    }

    /// The raw registers stored with the newest sample of a point.
    pub fn latest_raw(&self, point: &str) -> Result<Option<Vec<u16>>, StoreError> {
        let Some(pid) = self.lookup_point(point)? else { return Ok(None) };
        for table in ["sample_recent", "sample_blocks"] {
            let sql = format!("SELECT id, data FROM {table} WHERE point_id = ?1 ORDER BY id DESC LIMIT 1");
            let row: Option<(i64, Vec<u8>)> =
                self.conn.query_row(&sql, [pid], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
            if let Some((id, data)) = row {
                let samples = decode_row(table, id, &data)?;
                return Ok(samples.last().and_then(|s| s.raw.clone()));
            }
        }
        Ok(None)
    }

    /// Delete samples older than the retention, and the oldest beyond `max_samples`
    /// (compacting first); returns the samples deleted.
    pub fn prune(&mut self, now_ms: i64, retention_hours: f64, max_samples: u64) -> Result<usize, StoreError> {
        self.compact()?;
        let cutoff = now_ms - (retention_hours * 3_600_000.0) as i64;
        let tx = self.conn.transaction()?;
        let mut deleted: i64 = 0;
        {
            let old: Vec<(i64, i64, i64, i64)> = {
                let mut stmt =
                    tx.prepare_cached("SELECT id, start_ms, end_ms, n FROM sample_blocks WHERE start_ms < ?1")?;
                let rows = stmt.query_map([cutoff], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
                rows.collect::<Result<_, _>>()?
            };
            for (id, start, end, n) in old {
                if end < cutoff {
                    tx.prepare_cached("DELETE FROM sample_blocks WHERE id = ?1")?.execute([id])?;
                    deleted += n;
                } else if end - start > TRIM_SPAN_MS {
                    deleted += rewrite(&tx, id, |s| s.iter().filter(|s| s.ts_ms >= cutoff).cloned().collect())?;
                }
            }
            let total: i64 = tx.query_row("SELECT n FROM sample_totals", [], |r| r.get(0))?;
            let mut excess = total - deleted - max_samples as i64;
            if excess > 0 {
                let oldest: Vec<(i64, i64)> = {
                    let mut stmt = tx.prepare_cached("SELECT id, n FROM sample_blocks ORDER BY id")?;
                    let mut rows = stmt.query([])?;
                    let mut v = Vec::new();
                    let mut covered = 0;
                    while covered < excess {
                        let Some(r) = rows.next()? else { break };
                        let (id, n): (i64, i64) = (r.get(0)?, r.get(1)?);
                        covered += n;
                        v.push((id, n));
                    }
                    v
                };
                for (id, n) in oldest {
                    if n <= excess {
                        tx.prepare_cached("DELETE FROM sample_blocks WHERE id = ?1")?.execute([id])?;
                        deleted += n;
                        excess -= n;
                    } else {
                        let cut = excess as usize;
                        deleted += rewrite(&tx, id, |s| s[cut..].to_vec())?;
                        excess = 0;
                    }
                }
            }
            tx.prepare_cached("UPDATE sample_totals SET n = n - ?1")?.execute([deleted])?;
        }
        tx.commit()?;
        Ok(deleted as usize)
    }

    /// Samples stored, from the running count (one row read: cheap for health checks).
    pub fn sample_count_estimate(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row("SELECT n FROM sample_totals", [], |r| r.get(0))?)
    }

    /// Samples stored, counted from the blocks themselves.
    pub fn sample_count(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row(
            "SELECT (SELECT coalesce(sum(n), 0) FROM sample_blocks) + (SELECT coalesce(sum(n), 0) FROM sample_recent)",
            [],
            |r| r.get(0),
        )?)
    }

    /// Samples of one point from `since_ms` on, oldest first, at most `limit`: (time,
    /// value, quality).
    pub fn samples(
        &self,
        point: &str,
        since_ms: i64,
        limit: u32,
    ) -> Result<Vec<(i64, Option<f64>, String)>, StoreError> {
        let mut s = self.point_samples(point, since_ms, i64::MAX)?;
        s.sort_by_key(|s| s.ts_ms);
        Ok(s.into_iter().take(limit as usize).map(|s| (s.ts_ms, s.value, s.quality)).collect())
    }
}

/// Replace a block of `sample_blocks` by the samples `keep` returns (deleting it when none
/// are left); returns how many samples went.
fn rewrite(
    tx: &Transaction,
    id: i64,
    keep: impl FnOnce(&[StoredSample]) -> Vec<StoredSample>,
) -> Result<i64, StoreError> {
    let data: Vec<u8> = tx.query_row("SELECT data FROM sample_blocks WHERE id = ?1", [id], |r| r.get(0))?;
    let samples = decode_row("sample_blocks", id, &data)?;
    let kept = keep(&samples);
    let gone = (samples.len() - kept.len()) as i64;
    if kept.is_empty() {
        tx.execute("DELETE FROM sample_blocks WHERE id = ?1", [id])?;
    } else if gone > 0 {
        let mut e = Encoder::default();
        kept.iter().for_each(|s| e.push_stored(s));
        tx.execute(
            "UPDATE sample_blocks SET start_ms = ?2, end_ms = ?3, n = ?4, data = ?5 WHERE id = ?1",
            params![id, e.start_ms, e.end_ms, e.n, e.bytes()],
        )?;
    }
    Ok(gone)
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

    #[test]
    fn recent_and_compacted_blocks_read_alike_and_short_blocks_expire_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("e.db")).unwrap();
        let t0 = 1_700_000_000_000;
        // Two points, 30 commits of one sample each, 100 ms apart; text and registers kept.
        for i in 0..30 {
            let a = Sample::good("a.v".into(), t0 + i * 100, i as f64).with_raw(&[i as u16, 7]);
            let b = Sample::good("b.v".into(), t0 + i * 100, 1.0);
            s.insert_samples([&a, &b]).unwrap();
        }
        let before = s.all_samples().unwrap();
        assert_eq!(s.compact().unwrap(), 60);
        assert_eq!(s.all_samples().unwrap(), before, "compaction changed what is stored");
        assert_eq!(s.compact().unwrap(), 0);
        assert_eq!(s.latest_raw("a.v").unwrap(), Some(vec![29, 7]));
        assert_eq!(s.point_samples("a.v", t0 + 1000, t0 + 1500).unwrap().len(), 6);
        // A cutoff inside a 3 s block deletes nothing: it goes whole once all of it is old.
        assert_eq!(s.prune(t0 + 1_500 + 3_600_000, 1.0, 1000).unwrap(), 0);
        assert_eq!(s.prune(t0 + 3_000 + 3_600_000, 1.0, 1000).unwrap(), 60);
        assert_eq!((s.sample_count().unwrap(), s.sample_count_estimate().unwrap()), (0, 0));
        assert_eq!(s.latest_raw("a.v").unwrap(), None);
    }

    #[test]
    fn a_damaged_block_is_an_error_naming_its_row() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("e.db")).unwrap();
        s.insert_samples([&Sample::good("a.v".into(), 5, 1.0)]).unwrap();
        s.conn.execute("UPDATE sample_recent SET data = x'0907'", []).unwrap();
        let e = s.point_samples("a.v", 0, 10).unwrap_err().to_string();
        assert!(e.contains("sample_recent") && e.contains("row 1") && e.contains("version 9"), "{e}");
        // Compaction refuses too, and what was stored stays where it is.
        assert!(s.compact().is_err());
        assert_eq!(s.sample_count().unwrap(), 1);
    }
}
