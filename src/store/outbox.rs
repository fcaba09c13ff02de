//! The MQTT outbox: every message the gateway publishes is first committed here, and leaves
//! only when the broker has acknowledged it (PUBACK). It is a separate SQLite file from the
//! main store so that its insert/delete churn and its stricter durability do not slow the
//! sample store, and so that deleting either file never touches the other.
//!
//! Durability: WAL with `synchronous = FULL`. A committed message survives SIGKILL and
//! power loss (the WAL is fsynced at every commit). Commits are grouped (one per batch of
//! messages from the daemon loop, one per batch of PUBACKs), so FULL costs one fsync per
//! batch, not per message. The main store keeps NORMAL: samples are re-read from devices;
//! outbox messages exist nowhere else once accepted.
//!
//! Quota: the bytes of queued messages (topic + payload) are kept under `quota_bytes`.
//! When a new batch takes it over, the oldest telemetry rows are deleted and counted in
//! `dropped_telemetry` (persisted). Findings, state and metrics are never dropped, even if
//! they alone exceed the quota (that is logged).
//!
//! Ordering and dedup: ids come from `AUTOINCREMENT`, so they only grow, even across
//! deletes and restarts. With the outbox's `epoch` (set once when the file is created) they
//! form the dedup id `"{epoch}-{id}"` every payload carries.

use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("outbox {path}: {source}")]
    Sqlite { path: PathBuf, source: rusqlite::Error },
}

/// What a message is; decides what the quota may drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageClass {
    Telemetry = 0,
    Finding = 1,
    State = 2,
    Metrics = 3,
    /// An answer to a request (a deploy's outcome on its response topic); never dropped.
    Reply = 4,
}

impl MessageClass {
    fn from_i64(v: i64) -> MessageClass {
        match v {
            0 => MessageClass::Telemetry,
            1 => MessageClass::Finding,
            2 => MessageClass::State,
            4 => MessageClass::Reply,
            _ => MessageClass::Metrics,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewMessage {
    pub class: MessageClass,
    pub topic: String,
    /// A JSON object; the sender adds the dedup fields at the front when publishing.
    pub payload: Vec<u8>,
    pub retain: bool,
    pub created_ms: i64,
}

#[derive(Debug, Clone)]
pub struct Message {
    pub id: i64,
    pub class: MessageClass,
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
    pub created_ms: i64,
}

/// Rows and bytes waiting in the outbox, and its quota.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct OutboxStats {
    pub messages: u64,
    pub bytes: u64,
    pub quota_bytes: u64,
    pub dropped_telemetry: u64,
    pub oldest_ms: Option<i64>,
}

pub struct Outbox {
    conn: Connection,
    path: PathBuf,
    quota_bytes: u64,
    bytes: u64,
    messages: u64,
    dropped: u64,
    epoch: i64,
    /// Quota warnings are logged once a minute at most (they came at every evaluation).
    last_quota_log: Option<std::time::Instant>,
}

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    class INTEGER NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    retain INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    bytes INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_class ON outbox(class, id);
CREATE TABLE IF NOT EXISTS outbox_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS aliases (name TEXT PRIMARY KEY, alias INTEGER NOT NULL UNIQUE);
"#;

impl Outbox {
    pub fn open(path: &Path, quota_bytes: u64) -> Result<Outbox, OutboxError> {
        let err = |source| OutboxError::Sqlite { path: path.to_path_buf(), source };
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let mut conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(err)?;
        // Write transactions take the write lock first (see Store::open_with_cache).
        conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
        conn.pragma_update(None, "journal_mode", "WAL").map_err(err)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(err)?;
        super::persist_wal(&conn);
        conn.execute_batch(SCHEMA).map_err(err)?;
        crate::files::restrict_permissions(path);
        let now = crate::time::now_ms();
        conn.execute("INSERT OR IGNORE INTO outbox_meta(key, value) VALUES ('epoch', ?1)", [now]).map_err(err)?;
        let mut o = Outbox {
            conn,
            path: path.to_path_buf(),
            quota_bytes,
            bytes: 0,
            messages: 0,
            dropped: 0,
            epoch: 0,
            last_quota_log: None,
        };
        o.epoch = o.meta("epoch")?;
        o.dropped = o.meta("dropped_telemetry")? as u64;
        let (n, b): (i64, i64) = o
            .conn
            .query_row("SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM outbox", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(err)?;
        o.messages = n as u64;
        o.bytes = b as u64;
        Ok(o)
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> OutboxError + '_ {
        move |source| OutboxError::Sqlite { path: self.path.clone(), source }
    }

    /// A value stored with `enqueue` (0 if never set).
    pub fn meta(&self, key: &str) -> Result<i64, OutboxError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM outbox_meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(self.err())?
            .unwrap_or(0))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Set once when the file was created; with the id it makes the dedup id.
    pub fn epoch(&self) -> i64 {
        self.epoch
    }

    /// Commit a batch of messages (one transaction), then enforce the quota. Returns the
    /// number of telemetry messages dropped to make room. `meta` values (a producer's
    /// cursor) are set in the same transaction, so they move exactly with the messages.
    pub fn enqueue(&mut self, msgs: &[NewMessage], meta: &[(&str, i64)]) -> Result<u64, OutboxError> {
        self.enqueue_inner(msgs, meta, true)
    }

    /// Commit without enforcing the quota: for the dropped-telemetry metric, which must not
    /// itself drop telemetry it does not count. The next `enqueue` enforces the quota again.
    pub fn enqueue_exempt(&mut self, msgs: &[NewMessage], meta: &[(&str, i64)]) -> Result<(), OutboxError> {
        self.enqueue_inner(msgs, meta, false).map(|_| ())
    }

    fn enqueue_inner(&mut self, msgs: &[NewMessage], meta: &[(&str, i64)], enforce: bool) -> Result<u64, OutboxError> {
        if msgs.is_empty() && meta.is_empty() {
            return Ok(0);
        }
        let path = self.path.clone();
        let err = |source| OutboxError::Sqlite { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(err)?;
        let mut added = 0u64;
        {
            let mut ins = tx
                .prepare_cached(
                    "INSERT INTO outbox(class, topic, payload, retain, created_ms, bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(err)?;
            // Only the newest retained message of a topic keeps its retain flag: a backlog
            // replayed after an outage must not leave an older state retained on the broker
            // than the live one (issue 13 item 6). Older ones are still delivered, in order.
            let mut demote =
                tx.prepare_cached("UPDATE outbox SET retain = 0 WHERE topic = ?1 AND retain = 1").map_err(err)?;
            for m in msgs {
                if m.retain {
                    demote.execute([&m.topic]).map_err(err)?;
                }
                let bytes = (m.topic.len() + m.payload.len()) as i64;
                ins.execute(params![m.class as i64, m.topic, m.payload, m.retain, m.created_ms, bytes]).map_err(err)?;
                added += bytes as u64;
            }
        }
        let mut total = self.bytes + added;
        let mut dropped = 0u64;
        let mut freed_rows = 0u64;
        while enforce && total > self.quota_bytes {
            // Oldest telemetry first, a chunk at a time.
            let victims: Vec<(i64, i64)> = {
                let mut q = tx
                    .prepare_cached("SELECT id, bytes FROM outbox WHERE class = 0 ORDER BY id LIMIT 256")
                    .map_err(err)?;
                let rows = q.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(err)?;
                rows.collect::<Result<_, _>>().map_err(err)?
            };
            if victims.is_empty() {
                break;
            }
            let mut del = tx.prepare_cached("DELETE FROM outbox WHERE id = ?1").map_err(err)?;
            for (id, b) in victims {
                if total <= self.quota_bytes {
                    break;
                }
                del.execute([id]).map_err(err)?;
                total -= b as u64;
                dropped += 1;
                freed_rows += 1;
            }
        }
        for (k, v) in meta {
            tx.execute(
                "INSERT INTO outbox_meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2",
                params![k, v],
            )
            .map_err(err)?;
        }
        if dropped > 0 {
            tx.execute(
                "INSERT INTO outbox_meta(key, value) VALUES ('dropped_telemetry', ?1)
                 ON CONFLICT(key) DO UPDATE SET value = value + ?1",
                [dropped as i64],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        self.bytes = total;
        self.messages = self.messages + msgs.len() as u64 - freed_rows;
        self.dropped += dropped;
        if enforce && total > self.quota_bytes && self.quota_log_due() {
            tracing::error!(bytes = total, quota = self.quota_bytes, outbox = %self.path.display(),
                "outbox over its quota with no telemetry left to drop: findings, state and metrics are kept");
        }
        Ok(dropped)
    }

    /// Whether a quota warning may be logged now (once a minute at most); the counts are
    /// always in the stats and on `_gateway/metrics`.
    pub fn quota_log_due(&mut self) -> bool {
        let due = self.last_quota_log.is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(60));
        if due {
            self.last_quota_log = Some(std::time::Instant::now());
        }
        due
    }

    /// Up to `limit` messages with `after < id <= until`, in id order.
    pub fn read(&self, after: i64, until: i64, limit: usize) -> Result<Vec<Message>, OutboxError> {
        read_rows(&self.conn, &self.path, after, until, limit)
    }

    /// A second, read-only connection to the same file, for the sender: in WAL mode its
    /// reads do not wait for the writer's fsyncs.
    pub fn reader(&self) -> Result<OutboxReader, OutboxError> {
        let err = |source| OutboxError::Sqlite { path: self.path.clone(), source };
        let conn = Connection::open_with_flags(&self.path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(err)?;
        Ok(OutboxReader { conn, path: self.path.clone() })
    }

    /// The highest id ever assigned (0 for a new outbox).
    pub fn last_id(&self) -> Result<i64, OutboxError> {
        Ok(self
            .conn
            .query_row("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'", [], |r| r.get(0))
            .optional()
            .map_err(self.err())?
            .unwrap_or(0))
    }

    /// Remove acknowledged messages (one transaction). Ids no longer present (dropped by
    /// the quota while in flight) are ignored.
    pub fn ack(&mut self, ids: &[i64]) -> Result<(), OutboxError> {
        if ids.is_empty() {
            return Ok(());
        }
        let path = self.path.clone();
        let err = |source| OutboxError::Sqlite { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(err)?;
        let mut freed = 0u64;
        let mut rows = 0u64;
        {
            // Acknowledgements come mostly in id order: delete contiguous runs as ranges.
            let mut sorted = ids.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            let mut sum = tx
                .prepare_cached("SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM outbox WHERE id BETWEEN ?1 AND ?2")
                .map_err(err)?;
            let mut del = tx.prepare_cached("DELETE FROM outbox WHERE id BETWEEN ?1 AND ?2").map_err(err)?;
            let mut i = 0;
            while i < sorted.len() {
                let mut j = i;
                while j + 1 < sorted.len() && sorted[j + 1] == sorted[j] + 1 {
                    j += 1;
                }
                let (a, b) = (sorted[i], sorted[j]);
                let (n, bytes): (i64, i64) = sum.query_row([a, b], |r| Ok((r.get(0)?, r.get(1)?))).map_err(err)?;
                del.execute([a, b]).map_err(err)?;
                rows += n as u64;
                freed += bytes as u64;
                i = j + 1;
            }
        }
        tx.commit().map_err(err)?;
        self.bytes -= freed.min(self.bytes);
        self.messages -= rows.min(self.messages);
        Ok(())
    }

    /// A stable number for a name (Sparkplug metric aliases): assigned once, kept in the
    /// file, so it survives restarts.
    pub fn alias(&mut self, name: &str) -> Result<u64, OutboxError> {
        let found: Option<i64> = self
            .conn
            .query_row("SELECT alias FROM aliases WHERE name = ?1", [name], |r| r.get(0))
            .optional()
            .map_err(self.err())?;
        if let Some(a) = found {
            return Ok(a as u64);
        }
        self.conn
            .execute("INSERT INTO aliases(name, alias) SELECT ?1, COALESCE(MAX(alias), 0) + 1 FROM aliases", [name])
            .map_err(self.err())?;
        self.alias(name)
    }

    /// The name an alias was given to, if any.
    pub fn alias_name(&self, alias: u64) -> Result<Option<String>, OutboxError> {
        self.conn
            .query_row("SELECT name FROM aliases WHERE alias = ?1", [alias as i64], |r| r.get(0))
            .optional()
            .map_err(self.err())
    }

    /// Telemetry dropped by the quota since the outbox was created.
    pub fn dropped_telemetry(&self) -> u64 {
        self.dropped
    }

    pub fn stats(&self) -> OutboxStats {
        let oldest_ms = self
            .conn
            .query_row("SELECT created_ms FROM outbox ORDER BY id LIMIT 1", [], |r| r.get(0))
            .optional()
            .ok()
            .flatten();
        OutboxStats {
            messages: self.messages,
            bytes: self.bytes,
            quota_bytes: self.quota_bytes,
            dropped_telemetry: self.dropped,
            oldest_ms,
        }
    }
}

fn read_rows(
    conn: &Connection,
    path: &Path,
    after: i64,
    until: i64,
    limit: usize,
) -> Result<Vec<Message>, OutboxError> {
    let mut q = conn
        .prepare_cached("SELECT id, class, topic, payload, retain, created_ms FROM outbox WHERE id > ?1 AND id <= ?2 ORDER BY id LIMIT ?3",
            )
            .map_err(|source| OutboxError::Sqlite { path: path.to_path_buf(), source })?;
    let rows = q
        .query_map(params![after, until, limit as i64], |r| {
            Ok(Message {
                id: r.get(0)?,
                class: MessageClass::from_i64(r.get(1)?),
                topic: r.get(2)?,
                payload: r.get(3)?,
                retain: r.get(4)?,
                created_ms: r.get(5)?,
            })
        })
        .map_err(|source| OutboxError::Sqlite { path: path.to_path_buf(), source })?;
    rows.collect::<Result<_, _>>().map_err(|source| OutboxError::Sqlite { path: path.to_path_buf(), source })
}

/// Read-only access to an outbox file (see `Outbox::reader`).
pub struct OutboxReader {
    conn: Connection,
    path: PathBuf,
}

impl OutboxReader {
    pub fn read(&self, after: i64, until: i64, limit: usize) -> Result<Vec<Message>, OutboxError> {
        read_rows(&self.conn, &self.path, after, until, limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(class: MessageClass, n: usize) -> NewMessage {
        NewMessage { class, topic: "t".into(), payload: vec![b'x'; n - 1], retain: false, created_ms: 1 }
    }

    #[test]
    fn only_the_newest_retained_message_of_a_topic_stays_retained() {
        // Issue 13 item 6: backlog state seq 790 was retained after live seq 852.
        let dir = tempfile::tempdir().unwrap();
        let mut o = Outbox::open(&dir.path().join("o.db"), 1 << 20).unwrap();
        let state = |n: u8| NewMessage {
            class: MessageClass::State,
            topic: "a/state".into(),
            payload: vec![n],
            retain: true,
            created_ms: 1,
        };
        o.enqueue(&[state(1)], &[]).unwrap();
        o.enqueue(&[msg(MessageClass::Telemetry, 10)], &[]).unwrap();
        o.enqueue(&[state(2), state(3)], &[]).unwrap();
        let rows = o.read(0, i64::MAX, 10).unwrap();
        let retained: Vec<(u8, bool)> =
            rows.iter().filter(|m| m.topic == "a/state").map(|m| (m.payload[0], m.retain)).collect();
        assert_eq!(retained, [(1, false), (2, false), (3, true)]);
    }

    #[test]
    fn quota_warnings_are_rate_limited() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = Outbox::open(&dir.path().join("o.db"), 1 << 20).unwrap();
        assert!(o.quota_log_due());
        assert!(!o.quota_log_due());
        o.last_quota_log = Some(std::time::Instant::now() - std::time::Duration::from_secs(61));
        assert!(o.quota_log_due());
    }

    #[test]
    fn quota_drops_oldest_telemetry_only_and_counts_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.db");
        let mut o = Outbox::open(&path, 1000).unwrap();
        o.enqueue(&[msg(MessageClass::Finding, 400)], &[]).unwrap();
        for _ in 0..10 {
            o.enqueue(&[msg(MessageClass::Telemetry, 100)], &[]).unwrap();
        }
        // 400 + 1000 > 1000: four telemetry messages went, the oldest ones.
        assert_eq!(o.dropped_telemetry(), 4);
        let left = o.read(0, i64::MAX, 100).unwrap();
        assert_eq!(left.iter().map(|m| m.id).collect::<Vec<_>>(), vec![1, 6, 7, 8, 9, 10, 11]);
        o.enqueue(&[msg(MessageClass::Finding, 900)], &[("cursor", 5)]).unwrap();
        // Every telemetry message goes; the findings stay although they exceed the quota.
        assert_eq!(o.dropped_telemetry(), 10);
        assert_eq!(o.stats().messages, 2);
        assert_eq!(o.stats().bytes, 1300);
        o.ack(&[1]).unwrap();
        drop(o);
        let o = Outbox::open(&path, 1000).unwrap();
        assert_eq!((o.dropped_telemetry(), o.stats().bytes, o.stats().messages), (10, 900, 1));
        // Ids keep growing after deletes and reopening.
        assert_eq!(o.last_id().unwrap(), 12);
        assert_eq!(o.meta("cursor").unwrap(), 5);
    }

    #[test]
    fn acks_delete_exactly_the_acknowledged_rows() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = Outbox::open(&dir.path().join("o.db"), 1 << 20).unwrap();
        let batch: Vec<_> = (0..6).map(|_| msg(MessageClass::Telemetry, 10)).collect();
        o.enqueue(&batch, &[]).unwrap();
        o.ack(&[5, 3, 4, 1, 1, 42]).unwrap();
        let left: Vec<i64> = o.read(0, i64::MAX, 10).unwrap().iter().map(|m| m.id).collect();
        assert_eq!(left, vec![2, 6]);
        assert_eq!((o.stats().messages, o.stats().bytes), (2, 20));
    }
}
