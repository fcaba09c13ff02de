//! SQLite store: samples (bounded retention), findings, finding events, assessments.
//! One file in WAL mode; forward-only migrations keyed on `PRAGMA user_version`.
//! This file opens the database (WAL, persisted WAL files, cache size, permissions); each
//! job has its own file with an `impl Store` block: `schema.rs` (migrations), `samples.rs`,
//! `findings.rs` (findings, finding events, assessments). A feature's tables and queries
//! live in their own file under `store/`; its migration is appended to `MIGRATIONS` in
//! `schema.rs`.
//!
//! Durability: `synchronous = NORMAL` in WAL mode. A committed transaction survives a crash
//! of the daemon (SIGKILL); on power loss the last transactions before the loss may be
//! rolled back, never corrupted. Polled samples are committed every `[store]
//! commit_interval_ms` (1 s; `guard.rs`): a crash of the daemon loses at most that much of
//! them, a power cut that and the last transactions before it. Samples acknowledged to a
//! peer are committed FULL at once (`acked_ingest.rs`). Samples are kept as per-point blocks
//! (`samples.rs`, `block.rs`). Transactions that write
//! finding events (open, change, clear) commit with `synchronous = FULL`: their ids are the
//! cursor of the MQTT finding feed, kept in the FULL outbox, and must never be reused.

pub mod acked_ingest;
pub mod auth;
pub mod baseline;
mod block;
mod findings;
pub mod guard;
pub mod history;
pub mod mqtt_feed;
pub mod outbox;
pub mod owner;
pub mod retention;
pub mod samples;
mod schema;

pub use block::StoredSample;
pub use findings::{FindingEvent, FindingFilter, FindingRecord};

use rusqlite::{Connection, OpenFlags};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {message}")]
    Open { path: PathBuf, message: String },
    #[error("{path}: database schema version {found} is newer than this edgecite understands ({known}); refusing to touch it")]
    TooNew { path: PathBuf, found: i64, known: i64 },
    #[error("sqlite: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("stored samples in {table} row {id} are damaged: {message}")]
    Block { table: &'static str, id: i64, message: String },
    #[error("stored JSON in {column} is corrupt: {message}")]
    Json { column: &'static str, message: String },
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
    point_ids: HashMap<String, i64>,
    compaction: samples::Compaction,
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

pub(super) fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("our types serialise")
}

pub(super) fn from_json<T: serde::de::DeserializeOwned>(column: &'static str, s: &str) -> Result<T, StoreError> {
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
        // Deleted rows are zeroed only on pages written anyway: freeing a table's pages
        // (compaction empties `sample_recent` each minute) then writes no page of it.
        conn.pragma_update(None, "secure_delete", "FAST")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let mut store =
            Store { conn, path: path.to_path_buf(), point_ids: HashMap::new(), compaction: Default::default() };
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
        Ok(Store { conn, path: path.to_path_buf(), point_ids: HashMap::new(), compaction: Default::default() })
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::Sample;

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
}
