//! SQLite store: samples (bounded retention), findings, finding events, assessments.
//! One file in WAL mode; forward-only migrations keyed on `PRAGMA user_version`.
//! A feature's tables and queries live in their own file under `store/` (an `impl Store`
//! block there); its migration is appended to `MIGRATIONS` here.
//!
//! Durability: `synchronous = NORMAL` in WAL mode. A committed transaction survives a crash
//! of the daemon (SIGKILL); on power loss the last transactions before the loss may be
//! rolled back, never corrupted. Samples are written once per poll batch, so this bounds
//! what a power cut can take to about one second of samples. Transactions that write
//! finding events (open, change, clear) commit with `synchronous = FULL`: their ids are the
//! cursor of the MQTT finding feed, kept in the FULL outbox, and must never be reused.

pub mod acked_ingest;
pub mod baseline;
pub mod mqtt_feed;
pub mod outbox;

use crate::diagnose::{CriterionInfo, Evidence, FaultReport, Severity, Text};
use crate::knowledge::{Citation, Verification};
use crate::sample::Sample;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub mod auth;
pub mod guard;
pub mod history;
pub mod owner;
pub mod retention;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {message}")]
    Open { path: PathBuf, message: String },
    #[error("{path}: database schema version {found} is newer than this edgecite understands ({known}); refusing to touch it")]
    TooNew { path: PathBuf, found: i64, known: i64 },
    #[error("sqlite: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("stored JSON in {column} is corrupt: {message}")]
    Json { column: &'static str, message: String },
}

/// Forward-only migrations; index + 1 is the schema version it produces.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE points (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE samples (
    id       INTEGER PRIMARY KEY,
    point_id INTEGER NOT NULL REFERENCES points(id),
    ts_ms    INTEGER NOT NULL,
    value    REAL,
    quality  TEXT NOT NULL
);
CREATE INDEX samples_point_ts ON samples(point_id, ts_ms);
CREATE INDEX samples_ts ON samples(ts_ms);
CREATE TABLE findings (
    id             INTEGER PRIMARY KEY,
    asset          TEXT NOT NULL,
    criterion_id   TEXT NOT NULL,
    criterion_json TEXT NOT NULL,
    code           TEXT NOT NULL,
    title_json     TEXT NOT NULL,
    severity       TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('open', 'cleared')),
    first_seen_ms  INTEGER NOT NULL,
    last_seen_ms   INTEGER NOT NULL,
    cleared_ms     INTEGER,
    evidence_json  TEXT NOT NULL,
    citations_json TEXT NOT NULL CHECK (citations_json <> '[]'),
    action_json    TEXT NOT NULL,
    verification   TEXT NOT NULL
);
CREATE UNIQUE INDEX findings_one_open ON findings(asset, criterion_id) WHERE state = 'open';
CREATE INDEX findings_state ON findings(state, last_seen_ms);
CREATE TABLE finding_events (
    id            INTEGER PRIMARY KEY,
    finding_id    INTEGER NOT NULL REFERENCES findings(id),
    ts_ms         INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    code          TEXT NOT NULL,
    severity      TEXT NOT NULL,
    summary       TEXT NOT NULL
);
CREATE INDEX finding_events_finding ON finding_events(finding_id, ts_ms);
CREATE TABLE assessments (
    id        INTEGER PRIMARY KEY,
    asset     TEXT NOT NULL,
    criterion TEXT NOT NULL,
    ts_ms     INTEGER NOT NULL,
    status    TEXT NOT NULL,
    code      TEXT,
    reason    TEXT,
    detail    TEXT NOT NULL
);
CREATE INDEX assessments_asset ON assessments(asset, criterion, ts_ms);
"#,
    r#"
-- v2: the raw registers (or bits) a Modbus sample was decoded from, big-endian u16s.
ALTER TABLE samples ADD COLUMN raw BLOB;
"#,
    r#"
-- v3: the value of text points (Modbus strings).
ALTER TABLE samples ADD COLUMN text TEXT;
"#,
    auth::MIGRATION,
    retention::MIGRATION,
    r#"
-- v6: the event summary in Chinese; '' in rows written before it (read the English one).
ALTER TABLE finding_events ADD COLUMN summary_zh TEXT NOT NULL DEFAULT '';
"#,
    baseline::MIGRATION,
    auth::CLIENT_ID_MIGRATION,
];

pub struct Store {
    conn: Connection,
    path: PathBuf,
    point_ids: HashMap<String, i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FindingEvent {
    pub ts: String,
    pub kind: String,
    pub code: String,
    pub severity: String,
    pub summary: String,
    /// The summary in Chinese; empty in rows written before it existed.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub summary_zh: String,
}

/// A finding as the API returns it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FindingRecord {
    pub id: i64,
    pub asset: String,
    pub criterion: CriterionInfo,
    pub code: String,
    pub title: Text,
    pub severity: String,
    pub state: String,
    pub first_seen: String,
    pub last_seen: String,
    pub cleared_at: Option<String>,
    pub evidence: Evidence,
    pub citations: Vec<Citation>,
    pub recommended_action: Text,
    pub verification: Verification,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<FindingEvent>>,
}

#[derive(Debug, Clone, Default)]
pub struct FindingFilter {
    pub state: Option<String>,
    pub asset: Option<String>,
    pub limit: Option<u32>,
    pub severity: Option<String>,
}

/// Free bytes for an unprivileged writer on the file system holding `path` (its directory
/// when the file does not exist yet); None when it cannot be asked.
pub fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let dir = if path.exists() { path } else { path.parent().filter(|d| !d.as_os_str().is_empty())? };
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a writable statvfs.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some(st.f_bavail as u64 * st.f_frsize as u64)
}

/// Keep the `-wal` and `-shm` files when the last connection closes. A start then needs no
/// new file: on a full disk the daemon still opens its store (creating the shared-memory
/// file failed with "disk I/O error" and every restart ended there, issue 13 item 3).
pub fn persist_wal(conn: &Connection) {
    let mut on: std::os::raw::c_int = 1;
    // SAFETY: a valid connection handle, the main schema's name as a C string, and a
    // pointer to an int, as SQLITE_FCNTL_PERSIST_WAL expects.
    unsafe {
        rusqlite::ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            rusqlite::ffi::SQLITE_FCNTL_PERSIST_WAL,
            (&mut on as *mut std::os::raw::c_int).cast(),
        );
    }
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("our types serialise")
}

fn from_json<T: serde::de::DeserializeOwned>(column: &'static str, s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Json { column, message: e.to_string() })
}

impl Store {
    /// Open (creating if needed) and migrate the database for writing.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Self::open_with_cache(path, 512)
    }

    /// Limit this connection's page cache to `kib` KiB (SQLite's default is 2 MiB).
    pub fn set_cache_kib(&self, kib: u32) -> Result<(), StoreError> {
        self.conn.pragma_update(None, "cache_size", -(kib.max(64) as i64))?;
        Ok(())
    }

    /// [`Store::open`] with a page cache of `cache_kib` KiB.
    pub fn open_with_cache(path: &Path, cache_kib: u32) -> Result<Store, StoreError> {
        let open_err = |message: String| StoreError::Open { path: path.to_path_buf(), message };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| open_err(format!("cannot create directory {}: {e}", dir.display())))?;
        }
        let mut conn = Connection::open(path).map_err(|e| open_err(e.to_string()))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // The daemon loop and the API each have a connection. A deferred transaction that
        // reads and then writes fails at once ("database is locked", no busy wait) when the
        // other connection committed in between; IMMEDIATE takes the write lock first and
        // waits for it within the busy timeout.
        conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
        conn.pragma_update(None, "journal_mode", "WAL").map_err(|e| open_err(format!("cannot enable WAL: {e}")))?;
        persist_wal(&conn);
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let mut store = Store { conn, path: path.to_path_buf(), point_ids: HashMap::new() };
        store.set_cache_kib(cache_kib)?;
        store.migrate()?;
        crate::files::restrict_permissions(path);
        Ok(store)
    }

    /// Open an existing database read-only (for the API).
    pub fn open_readonly(path: &Path) -> Result<Store, StoreError> {
        let conn =
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
                .map_err(|e| StoreError::Open { path: path.to_path_buf(), message: e.to_string() })?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(Store { conn, path: path.to_path_buf(), point_ids: HashMap::new() })
    }

    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let current = self.schema_version()?;
        let known = MIGRATIONS.len() as i64;
        if current > known {
            return Err(StoreError::TooNew { path: self.path.clone(), found: current, known });
        }
        if current > 0 && current < known {
            // Keep a consistent copy of the old schema before changing it.
            let backup = self.path.with_extension(format!("v{current}.bak"));
            if backup.exists() {
                std::fs::remove_file(&backup).map_err(|e| StoreError::Open {
                    path: backup.clone(),
                    message: format!("cannot replace an old backup: {e}"),
                })?;
            }
            self.conn.execute("VACUUM INTO ?1", [backup.to_string_lossy()])?;
            tracing::info!(db = %self.path.display(), backup = %backup.display(), from = current, to = known,
                "database backed up before migrating");
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            let tx = self.conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", i as i64 + 1)?;
            tx.commit()?;
            tracing::info!(db = %self.path.display(), version = i + 1, "database migrated");
        }
        Ok(())
    }

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

    /// `PRAGMA quick_check`: None when it reports `ok`, else its first lines.
    pub fn quick_check(&self) -> Result<Option<String>, StoreError> {
        let mut stmt = self.conn.prepare("PRAGMA quick_check(20)")?;
        let lines: Vec<String> = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
        Ok((lines != ["ok"]).then(|| lines.join("; ")))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes SQLite holds in this process (page caches, statements), all connections.
    pub fn sqlite_memory_bytes() -> i64 {
        // SAFETY: a read of SQLite's global memory counter; no pointers involved.
        unsafe { rusqlite::ffi::sqlite3_memory_used() }
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

    /// Run `f` (one transaction writing finding events) with `synchronous = FULL`: event ids
    /// are the MQTT finding feed's cursor, kept in the FULL outbox. Were such a commit lost
    /// in a power cut (NORMAL may lose the last commits), the next events would reuse ids
    /// at or below the cursor and never be published (issue 13 item 12). Transitions are
    /// rare, so the extra fsync costs nothing that matters; samples stay NORMAL.
    fn durable<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, StoreError>) -> Result<T, StoreError> {
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        let r = f(self);
        let back = self.conn.pragma_update(None, "synchronous", "NORMAL");
        let v = r?;
        back?;
        Ok(v)
    }

    pub fn open_finding(
        &mut self,
        asset: &str,
        criterion: &CriterionInfo,
        report: &FaultReport,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        self.durable(|s| s.open_finding_tx(asset, criterion, report, now_ms))
    }

    fn open_finding_tx(
        &mut self,
        asset: &str,
        criterion: &CriterionInfo,
        report: &FaultReport,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO findings(asset, criterion_id, criterion_json, code, title_json, severity, state,
                first_seen_ms, last_seen_ms, evidence_json, citations_json, action_json, verification)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'open', ?7, ?7, ?8, ?9, ?10, ?11)",
            params![
                asset,
                criterion.id,
                json(criterion),
                report.code,
                json(&report.title),
                report.severity.as_str(),
                now_ms,
                json(&report.evidence),
                json(&report.citations),
                json(&report.recommended_action),
                json(&criterion.verification).trim_matches('"'),
            ],
        )?;
        let id = tx.last_insert_rowid();
        let ev = &report.evidence;
        insert_event_i18n(
            &tx,
            id,
            now_ms,
            "opened",
            &report.code,
            report.severity.as_str(),
            &ev.summary,
            &ev.summary_zh,
        )?;
        tx.commit()?;
        Ok(id)
    }

    /// Update the open finding of (asset, criterion): new code/severity (`changed`) or new
    /// evidence (`refreshed`).
    pub fn update_finding(
        &mut self,
        asset: &str,
        criterion: &str,
        report: &FaultReport,
        now_ms: i64,
        changed: bool,
    ) -> Result<(), StoreError> {
        if !changed {
            return self.update_finding_tx(asset, criterion, report, now_ms, false);
            // no event
        }
        self.durable(|s| s.update_finding_tx(asset, criterion, report, now_ms, true))
    }

    fn update_finding_tx(
        &mut self,
        asset: &str,
        criterion: &str,
        report: &FaultReport,
        now_ms: i64,
        changed: bool,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        let id: Option<i64> = tx
            .query_row(
                "SELECT id FROM findings WHERE asset = ?1 AND criterion_id = ?2 AND state = 'open'",
                [asset, criterion],
                |r| r.get(0),
            )
            .optional()?;
        let Some(id) = id else { return Ok(()) };
        tx.execute(
            "UPDATE findings SET code = ?2, title_json = ?3, severity = ?4, last_seen_ms = ?5, evidence_json = ?6,
                citations_json = ?7, action_json = ?8 WHERE id = ?1",
            params![
                id,
                report.code,
                json(&report.title),
                report.severity.as_str(),
                now_ms,
                json(&report.evidence),
                json(&report.citations),
                json(&report.recommended_action)
            ],
        )?;
        if changed {
            let ev = &report.evidence;
            insert_event_i18n(
                &tx,
                id,
                now_ms,
                "changed",
                &report.code,
                report.severity.as_str(),
                &ev.summary,
                &ev.summary_zh,
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn clear_finding(
        &mut self,
        asset: &str,
        criterion: &str,
        evidence: &Evidence,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.durable(|s| s.clear_finding_tx(asset, criterion, evidence, now_ms))
    }

    fn clear_finding_tx(
        &mut self,
        asset: &str,
        criterion: &str,
        evidence: &Evidence,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        let row: Option<(i64, String, String)> = tx
            .query_row(
                "SELECT id, code, severity FROM findings WHERE asset = ?1 AND criterion_id = ?2 AND state = 'open'",
                [asset, criterion],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((id, code, severity)) = row else {
            return Ok(());
        };
        tx.execute("UPDATE findings SET state = 'cleared', cleared_ms = ?2 WHERE id = ?1", params![id, now_ms])?;
        insert_event_i18n(&tx, id, now_ms, "cleared", &code, &severity, &evidence.summary, &evidence.summary_zh)?;
        tx.commit()?;
        Ok(())
    }

    /// A number that changes whenever a finding opens, changes severity, clears or is
    /// acknowledged: the newest finding event's id (0 before the first). The live stream
    /// sends it so that a client fetches the findings list only when it changed.
    pub fn findings_rev(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row("SELECT coalesce(max(id), 0) FROM finding_events", [], |r| r.get(0))?)
    }

    /// Open findings as (asset, criterion, code, severity), to resume after a restart.
    pub fn open_findings(&self) -> Result<Vec<(String, String, String, Severity)>, StoreError> {
        let mut stmt =
            self.conn.prepare("SELECT asset, criterion_id, code, severity FROM findings WHERE state = 'open'")?;
        let rows =
            stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?, r.get::<_, String>(3)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (a, c, code, sev) = row?;
            let severity = Severity::parse(&sev).ok_or(StoreError::Json {
                column: "findings.severity",
                message: format!("unknown severity `{sev}`"),
            })?;
            out.push((a, c, code, severity));
        }
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)] // the parts of one assessment, stored in one transaction
    pub fn record_assessment(
        &mut self,
        asset: &str,
        criterion: &str,
        ts_ms: i64,
        status: &str,
        code: Option<&str>,
        reason: Option<&str>,
        detail: &str,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO assessments(asset, criterion, ts_ms, status, code, reason, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![asset, criterion, ts_ms, status, code, reason, detail],
        )?;
        Ok(())
    }

    pub fn findings(&self, filter: &FindingFilter) -> Result<Vec<FindingRecord>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {FINDING_COLUMNS} FROM findings
             WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR asset = ?2) AND (?4 IS NULL OR severity = ?4)
             ORDER BY state = 'open' DESC,
                CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END,
                last_seen_ms DESC
             LIMIT ?3"
        ))?;
        let rows = stmt.query_map(
            params![filter.state, filter.asset, filter.limit.unwrap_or(500), filter.severity],
            raw_finding,
        )?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r?.decode()?);
        }
        Ok(out)
    }

    pub fn finding(&self, id: i64) -> Result<Option<FindingRecord>, StoreError> {
        let raw = self
            .conn
            .query_row(&format!("SELECT {FINDING_COLUMNS} FROM findings WHERE id = ?1"), [id], raw_finding)
            .optional()?;
        let Some(raw) = raw else { return Ok(None) };
        let mut rec = raw.decode()?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT ts_ms, kind, code, severity, summary, summary_zh FROM finding_events WHERE finding_id = ?1
             ORDER BY ts_ms, id",
        )?;
        let events = stmt.query_map([id], |r| {
            Ok(FindingEvent {
                ts: crate::time::rfc3339(r.get(0)?),
                kind: r.get(1)?,
                code: r.get(2)?,
                severity: r.get(3)?,
                summary: r.get(4)?,
                summary_zh: r.get(5)?,
            })
        })?;
        rec.events = Some(events.collect::<Result<_, _>>()?);
        Ok(Some(rec))
    }
}

fn insert_event(
    tx: &rusqlite::Transaction,
    id: i64,
    ts: i64,
    kind: &str,
    code: &str,
    severity: &str,
    summary: &str,
) -> Result<(), StoreError> {
    insert_event_i18n(tx, id, ts, kind, code, severity, summary, "")
}

/// A finding event with its summary in both languages (`summary_zh` may be empty).
#[allow(clippy::too_many_arguments)]
fn insert_event_i18n(
    tx: &rusqlite::Transaction,
    id: i64,
    ts: i64,
    kind: &str,
    code: &str,
    severity: &str,
    summary: &str,
    summary_zh: &str,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO finding_events(finding_id, ts_ms, kind, code, severity, summary, summary_zh)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![id, ts, kind, code, severity, summary, summary_zh],
    )?;
    Ok(())
}

const FINDING_COLUMNS: &str =
    "id, asset, criterion_json, code, title_json, severity, state, first_seen_ms, last_seen_ms,
    cleared_ms, evidence_json, citations_json, action_json, verification";

struct RawFinding {
    id: i64,
    asset: String,
    criterion: String,
    code: String,
    title: String,
    severity: String,
    state: String,
    first: i64,
    last: i64,
    cleared: Option<i64>,
    evidence: String,
    citations: String,
    action: String,
    verification: String,
}

fn raw_finding(r: &rusqlite::Row) -> rusqlite::Result<RawFinding> {
    Ok(RawFinding {
        id: r.get(0)?,
        asset: r.get(1)?,
        criterion: r.get(2)?,
        code: r.get(3)?,
        title: r.get(4)?,
        severity: r.get(5)?,
        state: r.get(6)?,
        first: r.get(7)?,
        last: r.get(8)?,
        cleared: r.get(9)?,
        evidence: r.get(10)?,
        citations: r.get(11)?,
        action: r.get(12)?,
        verification: r.get(13)?,
    })
}

impl RawFinding {
    fn decode(self) -> Result<FindingRecord, StoreError> {
        Ok(FindingRecord {
            id: self.id,
            asset: self.asset,
            criterion: from_json("findings.criterion_json", &self.criterion)?,
            code: self.code,
            title: from_json("findings.title_json", &self.title)?,
            severity: self.severity,
            state: self.state,
            first_seen: crate::time::rfc3339(self.first),
            last_seen: crate::time::rfc3339(self.last),
            cleared_at: self.cleared.map(crate::time::rfc3339),
            evidence: from_json("findings.evidence_json", &self.evidence)?,
            citations: from_json("findings.citations_json", &self.citations)?,
            recommended_action: from_json("findings.action_json", &self.action)?,
            verification: from_json("findings.verification", &format!("\"{}\"", self.verification))?,
            events: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::{Evidence, EvidenceValue};
    use crate::knowledge::Library;
    use crate::sample::Quality;

    fn report(code: &str) -> FaultReport {
        let lib = Library::builtin().unwrap();
        FaultReport {
            code: code.into(),
            title: Text::new("t", "t"),
            severity: Severity::High,
            evidence: Evidence {
                values: vec![EvidenceValue {
                    role: "ch4".into(),
                    point: "d.ch4".into(),
                    value: 1.0,
                    unit: "ppm".into(),
                    ts: "x".into(),
                    ts_ms: 1,
                    quality: "good".into(),
                    below: None,
                }],
                derived: vec![],
                summary: "s".into(),
                summary_zh: "s-zh".into(),
                ..Default::default()
            },
            citations: vec![lib.citation("iec60599.duval-triangle-1").unwrap()],
            recommended_action: Text::new("a", "a"),
        }
    }

    fn info() -> CriterionInfo {
        CriterionInfo {
            id: "c".into(),
            version: "1".into(),
            title: "C".into(),
            title_zh: "C-zh".into(),
            verification: Verification::Verified,
        }
    }

    #[test]
    fn quick_check_finds_a_broken_page_and_files_are_not_world_readable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("q.db");
        {
            let mut s = Store::open(&db).unwrap();
            assert_eq!(s.quick_check().unwrap(), None);
            let mode = std::fs::metadata(&db).unwrap().permissions().mode();
            assert_eq!(mode & 0o007, 0, "database file mode {mode:o}");
            let many: Vec<Sample> = (0..20_000).map(|i| Sample::good("a.b".into(), i, i as f64)).collect();
            s.insert_samples(&many).unwrap();
            s.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
        }
        // Overwrite a page in the middle of the file (issue 13 item 9: nothing noticed it).
        let mut bytes = std::fs::read(&db).unwrap();
        let page = 4096;
        let mid = (bytes.len() / page / 2) * page;
        bytes[mid..mid + page].iter_mut().for_each(|b| *b = 0x5a);
        std::fs::write(&db, bytes).unwrap();
        let s = Store::open_readonly(&db).unwrap();
        let problem = s.quick_check().map(|p| p.unwrap_or_default()).unwrap_or_else(|e| e.to_string());
        assert!(!problem.is_empty(), "quick_check did not see the broken page");
        assert!(free_bytes(&db).unwrap() > 0);
    }

    #[test]
    fn finding_transitions_commit_with_synchronous_full_then_return_to_normal() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("f.db")).unwrap();
        let level = |s: &Store| s.conn.query_row("PRAGMA synchronous", [], |r| r.get::<_, i64>(0)).unwrap();
        assert_eq!(level(&s), 1, "NORMAL for samples");
        let r = s.durable(|st| Ok(st.conn.query_row("PRAGMA synchronous", [], |r| r.get::<_, i64>(0))?));
        assert_eq!(r.unwrap(), 2, "FULL while finding events are written");
        assert_eq!(level(&s), 1, "back to NORMAL");
    }

    #[test]
    fn migrations_run_once_and_a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dir/e.db");
        let s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as i64);
        drop(s);
        let s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as i64);
        s.conn.pragma_update(None, "user_version", 99).unwrap();
        drop(s);
        let e = Store::open(&path).err().unwrap().to_string();
        assert!(e.contains("e.db") && e.contains("99"), "{e}");
    }

    #[test]
    fn findings_open_update_clear_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.db");
        let mut s = Store::open(&path).unwrap();
        let id = s.open_finding("T1", &info(), &report("A"), 1000).unwrap();
        // One open finding per (asset, criterion): a second open is refused by the schema.
        assert!(s.open_finding("T1", &info(), &report("B"), 1001).is_err());
        s.update_finding("T1", "c", &report("B"), 2000, true).unwrap();
        drop(s);

        let mut s = Store::open(&path).unwrap();
        assert_eq!(s.open_findings().unwrap(), vec![("T1".into(), "c".into(), "B".into(), Severity::High)]);
        s.clear_finding("T1", "c", &Evidence::default(), 3000).unwrap();
        let f = s.finding(id).unwrap().unwrap();
        assert_eq!(f.state, "cleared");
        assert_eq!(f.code, "B");
        assert_eq!((f.criterion.title_zh.as_str(), f.evidence.summary_zh.as_str()), ("C-zh", "s-zh"));
        let events = f.events.unwrap();
        let kinds: Vec<_> = events.iter().map(|e| e.kind.clone()).collect();
        assert_eq!(kinds, ["opened", "changed", "cleared"]);
        let zh: Vec<_> = events.iter().map(|e| e.summary_zh.as_str()).collect();
        assert_eq!(zh, ["s-zh", "s-zh", ""]);
        assert!(s.open_findings().unwrap().is_empty());
        // After clearing, a new episode may open.
        assert!(s.open_finding("T1", &info(), &report("A"), 4000).is_ok());
    }

    /// A finding stored before the Chinese texts existed (schema and JSON of v5) still reads,
    /// with empty Chinese fields (the API falls back to English).
    #[test]
    fn a_finding_stored_before_chinese_evidence_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v5.db");
        let n = MIGRATIONS.iter().position(|m| m.contains("summary_zh")).unwrap();
        {
            let conn = Connection::open(&path).unwrap();
            for m in &MIGRATIONS[..n] {
                conn.execute_batch(m).unwrap();
            }
            conn.pragma_update(None, "user_version", n as i64).unwrap();
            let cite =
                serde_json::to_string(&[Library::builtin().unwrap().citation("iec60599.duval-triangle-1")]).unwrap();
            conn.execute(
                "INSERT INTO findings(asset, criterion_id, criterion_json, code, title_json, severity, state,
                 first_seen_ms, last_seen_ms, evidence_json, citations_json, action_json, verification)
                 VALUES ('T1', 'c', '{\"id\":\"c\",\"version\":\"1\",\"title\":\"Old\",\"verification\":\"verified\"}',
                 'X', '{\"en\":\"t\",\"zh\":\"t\"}', 'high', 'open', 1, 2,
                 '{\"values\":[],\"derived\":[],\"summary\":\"old line\"}', ?1, '{\"en\":\"a\",\"zh\":\"a\"}', 'verified')",
                [cite],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO finding_events(finding_id, ts_ms, kind, code, severity, summary)
                 VALUES (1, 1, 'opened', 'X', 'high', 'old line')",
                [],
            )
            .unwrap();
        }
        let s = Store::open(&path).unwrap();
        let f = s.finding(1).unwrap().unwrap();
        assert_eq!((f.evidence.summary.as_str(), f.evidence.summary_zh.as_str()), ("old line", ""));
        assert_eq!((f.criterion.title.as_str(), f.criterion.title_zh.as_str()), ("Old", ""));
        let e = &f.events.unwrap()[0];
        assert_eq!((e.summary.as_str(), e.summary_zh.as_str()), ("old line", ""));
    }

    #[test]
    fn a_version_1_database_migrates_forward_keeping_its_samples() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute("INSERT INTO points(name) VALUES ('d.x')", []).unwrap();
            conn.execute("INSERT INTO samples(point_id, ts_ms, value, quality) VALUES (1, 5, 2.5, 'good')", [])
                .unwrap();
        }
        let mut s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as i64);
        // The old file was copied first, as it was.
        let backup = Connection::open(dir.path().join("v1.v1.bak")).unwrap();
        assert_eq!(backup.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0)).unwrap(), 1);
        assert_eq!(backup.query_row("SELECT value FROM samples", [], |r| r.get::<_, f64>(0)).unwrap(), 2.5);
        // A fresh database has nothing to back up.
        Store::open(&dir.path().join("fresh.db")).unwrap();
        assert!(!dir.path().join("fresh.v0.bak").exists());
        assert_eq!(s.samples("d.x", 0, 10).unwrap(), vec![(5, Some(2.5), "good".to_string())]);
        assert_eq!(s.latest_raw("d.x").unwrap(), None);
        let with_raw = Sample::good("d.x".into(), 6, 3.0).with_raw(&[0x1234, 0xABCD]);
        s.insert_samples([&with_raw]).unwrap();
        assert_eq!(s.latest_raw("d.x").unwrap(), Some(vec![0x1234, 0xABCD]));
    }

    #[test]
    fn a_finding_without_citation_cannot_be_stored() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("e.db")).unwrap();
        let mut r = report("A");
        r.citations.clear();
        assert!(s.open_finding("T1", &info(), &r, 1).is_err());
    }

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
