//! Users, API tokens, web sessions and the audit log (issue 7), plus what technicians add to
//! findings: acknowledgements and field notes (text and photos).
//!
//! Secrets are never stored: passwords and API token secrets as argon2 PHC strings, session
//! ids as SHA-256 (a session id is 256 random bits, so a fast hash is enough there).
//! Acknowledging a finding does not touch its open/cleared state: it adds a row to
//! `finding_acks` and an `acknowledged` event.

use super::{Store, StoreError};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

/// The migration that creates these tables (appended to `MIGRATIONS`).
pub(super) const MIGRATION: &str = r#"
-- v4 (issue 7): users, API tokens, sessions, audit log, acknowledgements and field notes.
CREATE TABLE users (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL CHECK (role IN ('viewer', 'technician', 'admin')),
    pw_hash    TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    disabled   INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE api_tokens (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id),
    label       TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    revoked_ms  INTEGER
);
CREATE TABLE sessions (
    id_sha256  BLOB PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
);
CREATE TABLE audit (
    id      INTEGER PRIMARY KEY,
    ts_ms   INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    role    TEXT,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    status  INTEGER NOT NULL,
    remote  TEXT,
    detail  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_ts ON audit(ts_ms);
CREATE TABLE finding_acks (
    finding_id INTEGER PRIMARY KEY REFERENCES findings(id),
    ts_ms      INTEGER NOT NULL,
    user       TEXT NOT NULL,
    comment    TEXT NOT NULL DEFAULT ''
);
CREATE TABLE finding_notes (
    id         INTEGER PRIMARY KEY,
    finding_id INTEGER NOT NULL REFERENCES findings(id),
    ts_ms      INTEGER NOT NULL,
    user       TEXT NOT NULL,
    text       TEXT NOT NULL,
    photo      BLOB,
    photo_mime TEXT
);
CREATE INDEX finding_notes_finding ON finding_notes(finding_id, ts_ms);
"#;

/// The client id of a field app's action (issue 14), so that a queued action sent again
/// after a lost answer is applied once (appended to `MIGRATIONS`).
pub(super) const CLIENT_ID_MIGRATION: &str = r#"
-- v8 (issue 14): client ids of queued acknowledgements and notes: a retry is applied once.
ALTER TABLE finding_notes ADD COLUMN client_id TEXT;
CREATE UNIQUE INDEX finding_notes_client ON finding_notes(finding_id, user, client_id) WHERE client_id IS NOT NULL;
ALTER TABLE finding_acks ADD COLUMN client_id TEXT;
"#;

/// (id, user, label, created, revoked)
pub type TokenListing = (i64, String, String, String, Option<String>);
/// (bucket start ms, min, avg, max, samples)
pub type HistoryBucket = (i64, f64, f64, f64, i64);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub pw_hash: String,
}

#[derive(Debug, Clone)]
pub struct TokenRow {
    pub id: i64,
    pub user: String,
    pub role: String,
    pub secret_hash: String,
    pub revoked: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditRow {
    pub id: i64,
    pub ts: String,
    pub actor: String,
    pub role: Option<String>,
    pub action: String,
    pub target: String,
    pub status: i64,
    pub remote: Option<String>,
    pub detail: String,
}

/// Who acknowledged a finding, and when.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Ack {
    pub at: String,
    pub by: String,
    pub comment: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Note {
    pub id: i64,
    pub finding_id: i64,
    pub at: String,
    pub by: String,
    pub text: String,
    /// `/api/v1/notes/{id}/photo` when a photo is attached.
    pub photo_url: Option<String>,
    pub photo_bytes: Option<i64>,
    /// When the photo quota (`[api] photo_quota_mib`) removed this note's photo; the text stays.
    pub photo_removed: Option<String>,
}

/// Characters kept of an audit field from outside (actor, target); longer ones are cut and
/// say how long they were.
pub const AUDIT_FIELD_MAX: usize = 256;

fn clip(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => std::borrow::Cow::Borrowed(s),
        Some((i, _)) => std::borrow::Cow::Owned(format!("{}…({} bytes)", &s[..i], s.len())),
    }
}

/// One audit entry to write.
pub struct AuditEntry<'a> {
    pub actor: &'a str,
    pub role: Option<&'a str>,
    pub action: &'a str,
    pub target: &'a str,
    pub status: u16,
    pub remote: Option<&'a str>,
    pub detail: &'a str,
}

/// Outcome of acknowledging.
#[derive(Debug, PartialEq, Eq)]
pub enum AckResult {
    Done,
    NoSuchFinding,
    Already,
}

impl Store {
    pub fn user(&self, name: &str) -> Result<Option<UserRow>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT id, name, role, pw_hash FROM users WHERE name = ?1 AND disabled = 0", [name], |r| {
                Ok(UserRow { id: r.get(0)?, name: r.get(1)?, role: r.get(2)?, pw_hash: r.get(3)? })
            })
            .optional()?)
    }

    /// Whether a user of that name exists, disabled or not.
    pub fn user_exists(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self.conn.query_row("SELECT count(*) > 0 FROM users WHERE name = ?1", [name], |r| r.get(0))?)
    }

    pub fn users(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self.conn.prepare("SELECT name, role FROM users WHERE disabled = 0 ORDER BY name")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Create a user, or replace the role and password of an existing one. Returns whether
    /// the user is new.
    pub fn upsert_user(&mut self, name: &str, role: &str, pw_hash: &str, now_ms: i64) -> Result<bool, StoreError> {
        let tx = self.conn.transaction()?;
        let exists: bool = tx.query_row("SELECT count(*) FROM users WHERE name = ?1", [name], |r| r.get(0))?;
        if exists {
            tx.execute(
                "UPDATE users SET role = ?2, pw_hash = ?3, disabled = 0 WHERE name = ?1",
                params![name, role, pw_hash],
            )?;
            // A new password ends the sessions opened with the old one.
            tx.execute("DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE name = ?1)", [name])?;
        } else {
            tx.execute(
                "INSERT INTO users(name, role, pw_hash, created_ms) VALUES (?1, ?2, ?3, ?4)",
                params![name, role, pw_hash, now_ms],
            )?;
        }
        tx.commit()?;
        Ok(!exists)
    }

    /// Disable a user: their sessions end and their tokens stop working. Returns false when
    /// there is no such user.
    pub fn disable_user(&mut self, name: &str, now_ms: i64) -> Result<bool, StoreError> {
        let tx = self.conn.transaction()?;
        let n = tx.execute("UPDATE users SET disabled = 1 WHERE name = ?1 AND disabled = 0", [name])?;
        tx.execute("DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE name = ?1)", [name])?;
        tx.execute(
            "UPDATE api_tokens SET revoked_ms = ?2 WHERE revoked_ms IS NULL AND user_id = (SELECT id FROM users WHERE name = ?1)",
            params![name, now_ms],
        )?;
        tx.commit()?;
        Ok(n > 0)
    }

    /// Insert a token with a placeholder hash and return its id (the secret is hashed by the
    /// caller, who needs the id first to build the token string).
    pub fn create_token(
        &mut self,
        user: &str,
        label: &str,
        secret_hash: &str,
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let Some(u) = self.user(user)? else { return Ok(None) };
        self.conn.execute(
            "INSERT INTO api_tokens(user_id, label, secret_hash, created_ms) VALUES (?1, ?2, ?3, ?4)",
            params![u.id, label, secret_hash, now_ms],
        )?;
        Ok(Some(self.conn.last_insert_rowid()))
    }

    /// A token with its owner, if the token exists and its owner is enabled.
    pub fn token(&self, id: i64) -> Result<Option<TokenRow>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT t.id, u.name, u.role, t.secret_hash, t.revoked_ms IS NOT NULL
                 FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.id = ?1 AND u.disabled = 0",
                [id],
                |r| {
                    Ok(TokenRow {
                        id: r.get(0)?,
                        user: r.get(1)?,
                        role: r.get(2)?,
                        secret_hash: r.get(3)?,
                        revoked: r.get(4)?,
                    })
                },
            )
            .optional()?)
    }

    /// Tokens as (id, user, label, created, revoked).
    pub fn tokens(&self) -> Result<Vec<TokenListing>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT t.id, u.name, t.label, t.created_ms, t.revoked_ms FROM api_tokens t JOIN users u ON u.id = t.user_id ORDER BY t.id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                crate::time::rfc3339(r.get(3)?),
                r.get::<_, Option<i64>>(4)?.map(crate::time::rfc3339),
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Revoke a token; false if there is no such token or it was already revoked.
    pub fn revoke_token(&mut self, id: i64, now_ms: i64) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "UPDATE api_tokens SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms IS NULL",
            params![id, now_ms],
        )?;
        Ok(n > 0)
    }

    pub fn create_session(
        &mut self,
        id_sha256: &[u8],
        user_id: i64,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<(), StoreError> {
        self.conn.execute("DELETE FROM sessions WHERE expires_ms < ?1", [now_ms])?;
        self.conn.execute(
            "INSERT INTO sessions(id_sha256, user_id, created_ms, expires_ms) VALUES (?1, ?2, ?3, ?4)",
            params![id_sha256, user_id, now_ms, expires_ms],
        )?;
        Ok(())
    }

    /// The (user, role) of a live session.
    pub fn session(&self, id_sha256: &[u8], now_ms: i64) -> Result<Option<(String, String)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT u.name, u.role FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.id_sha256 = ?1 AND s.expires_ms > ?2 AND u.disabled = 0",
        )?;
        Ok(stmt.query_row(params![id_sha256, now_ms], |r| Ok((r.get(0)?, r.get(1)?))).optional()?)
    }

    pub fn end_session(&mut self, id_sha256: &[u8]) -> Result<(), StoreError> {
        self.conn.execute("DELETE FROM sessions WHERE id_sha256 = ?1", [id_sha256])?;
        Ok(())
    }

    pub fn audit(&self, e: &AuditEntry, now_ms: i64) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO audit(ts_ms, actor, role, action, target, status, remote, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        // What a peer sends is kept only in part: an audit row costs a bounded amount of disk.
        let (actor, target) = (clip(e.actor, AUDIT_FIELD_MAX), clip(e.target, AUDIT_FIELD_MAX));
        let (action, detail) = (clip(e.action, 32), clip(e.detail, 2 * AUDIT_FIELD_MAX));
        let remote = e.remote.map(|r| clip(r, 64));
        stmt.execute(params![now_ms, actor, e.role, action, target, e.status, remote, detail])?;
        Ok(())
    }

    /// The newest audit rows first.
    pub fn audit_log(&self, limit: u32) -> Result<Vec<AuditRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, ts_ms, actor, role, action, target, status, remote, detail FROM audit ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit], |r| {
            Ok(AuditRow {
                id: r.get(0)?,
                ts: crate::time::rfc3339(r.get(1)?),
                actor: r.get(2)?,
                role: r.get(3)?,
                action: r.get(4)?,
                target: r.get(5)?,
                status: r.get(6)?,
                remote: r.get(7)?,
                detail: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Acknowledge a finding (once); adds an `acknowledged` event. The finding's state is
    /// not touched. With the client id of the action: when this user's acknowledgement with
    /// the same client id is already stored, it is a retry and answers `Done` again.
    pub fn acknowledge(
        &mut self,
        finding: i64,
        user: &str,
        comment: &str,
        now_ms: i64,
        client_id: Option<&str>,
    ) -> Result<AckResult, StoreError> {
        let tx = self.conn.transaction()?;
        let row: Option<(String, String)> = tx
            .query_row("SELECT code, severity FROM findings WHERE id = ?1", [finding], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((code, severity)) = row else { return Ok(AckResult::NoSuchFinding) };
        let n = tx.execute(
            "INSERT OR IGNORE INTO finding_acks(finding_id, ts_ms, user, comment, client_id) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![finding, now_ms, user, comment, client_id],
        )?;
        if n == 0 {
            let retry = match client_id {
                Some(c) => tx
                    .query_row(
                        "SELECT count(*) FROM finding_acks WHERE finding_id = ?1 AND user = ?2 AND client_id = ?3",
                        params![finding, user, c],
                        |r| r.get::<_, i64>(0),
                    )?
                    .eq(&1),
                None => false,
            };
            return Ok(if retry { AckResult::Done } else { AckResult::Already });
        }
        let summary = if comment.is_empty() {
            format!("acknowledged by {user}")
        } else {
            format!("acknowledged by {user}: {comment}")
        };
        super::findings::insert_event(&tx, finding, now_ms, "acknowledged", &code, &severity, &summary)?;
        tx.commit()?;
        Ok(AckResult::Done)
    }

    pub fn ack(&self, finding: i64) -> Result<Option<Ack>, StoreError> {
        let mut stmt =
            self.conn.prepare_cached("SELECT ts_ms, user, comment FROM finding_acks WHERE finding_id = ?1")?;
        Ok(stmt
            .query_row([finding], |r| {
                Ok(Ack { at: crate::time::rfc3339(r.get(0)?), by: r.get(1)?, comment: r.get(2)? })
            })
            .optional()?)
    }

    /// Acknowledgements of many findings at once.
    pub fn acks(&self) -> Result<std::collections::HashMap<i64, Ack>, StoreError> {
        let mut stmt = self.conn.prepare_cached("SELECT finding_id, ts_ms, user, comment FROM finding_acks")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get(0)?, Ack { at: crate::time::rfc3339(r.get(1)?), by: r.get(2)?, comment: r.get(3)? }))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Add a note, with an optional photo (bytes, MIME type). None if there is no such
    /// finding. With the client id of the action: a note of this user with the same client
    /// id is already stored when this is a retry; that note is answered, none added.
    pub fn add_note(
        &mut self,
        finding: i64,
        user: &str,
        text: &str,
        photo: Option<(&[u8], &str)>,
        now_ms: i64,
        client_id: Option<&str>,
    ) -> Result<Option<Note>, StoreError> {
        let exists: bool =
            self.conn.query_row("SELECT count(*) FROM findings WHERE id = ?1", [finding], |r| r.get(0))?;
        if !exists {
            return Ok(None);
        }
        if let Some(c) = client_id {
            let had: Option<i64> = self
                .conn
                .query_row(
                    "SELECT id FROM finding_notes WHERE finding_id = ?1 AND user = ?2 AND client_id = ?3",
                    params![finding, user, c],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(id) = had {
                return Ok(self.notes(finding)?.into_iter().find(|n| n.id == id));
            }
        }
        self.conn.execute(
            "INSERT INTO finding_notes(finding_id, ts_ms, user, text, photo, photo_mime, client_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![finding, now_ms, user, text, photo.map(|p| p.0), photo.map(|p| p.1), client_id],
        )?;
        let id = self.conn.last_insert_rowid();
        Ok(self.notes(finding)?.into_iter().find(|n| n.id == id))
    }

    pub fn notes(&self, finding: i64) -> Result<Vec<Note>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, finding_id, ts_ms, user, text, length(photo), photo_removed_ms FROM finding_notes WHERE finding_id = ?1 ORDER BY ts_ms, id",
        )?;
        let rows = stmt.query_map([finding], |r| {
            let id: i64 = r.get(0)?;
            let bytes: Option<i64> = r.get(5)?;
            Ok(Note {
                id,
                finding_id: r.get(1)?,
                at: crate::time::rfc3339(r.get(2)?),
                by: r.get(3)?,
                text: r.get(4)?,
                photo_url: bytes.map(|_| format!("/api/v1/notes/{id}/photo")),
                photo_bytes: bytes,
                photo_removed: r.get::<_, Option<i64>>(6)?.map(crate::time::rfc3339),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A note's photo: (bytes, MIME type).
    pub fn note_photo(&self, note: i64) -> Result<Option<(Vec<u8>, String)>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT photo, photo_mime FROM finding_notes WHERE id = ?1 AND photo IS NOT NULL", [note], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?)
    }

    /// Findings by (severity, state) with how many are acknowledged, for metrics.
    pub fn finding_counts(&self) -> Result<Vec<(String, String, i64, i64)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT f.severity, f.state, count(*), count(a.finding_id) FROM findings f
             LEFT JOIN finding_acks a ON a.finding_id = f.id GROUP BY f.severity, f.state",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A point's samples from `from_ms` to `to_ms` in `buckets` equal time buckets:
    /// (bucket start, min, avg, max, count). Buckets without samples are left out.
    pub fn history(
        &self,
        point: &str,
        from_ms: i64,
        to_ms: i64,
        buckets: u32,
    ) -> Result<Vec<HistoryBucket>, StoreError> {
        let width = ((to_ms - from_ms) / buckets.max(1) as i64).max(1);
        let mut acc: std::collections::BTreeMap<i64, (f64, f64, f64, i64)> = Default::default();
        for s in self.point_samples(point, from_ms, to_ms - 1)? {
            let Some(v) = s.value else { continue };
            let b = acc.entry((s.ts_ms - from_ms) / width).or_insert((f64::INFINITY, 0.0, f64::NEG_INFINITY, 0));
            b.0 = b.0.min(v);
            b.1 += v;
            b.2 = b.2.max(v);
            b.3 += 1;
        }
        Ok(acc.into_iter().map(|(b, (lo, sum, hi, n))| (from_ms + b * width, lo, sum / n as f64, hi, n)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_rows_from_outside_are_bounded() {
        // Issue 13 item 3: a 64 KB path or a 1.9 MB user name was stored whole.
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("a.db")).unwrap();
        let long = "é".repeat(40_000);
        let e = AuditEntry {
            actor: &long,
            role: None,
            action: &long,
            target: &long,
            status: 401,
            remote: Some(&long),
            detail: &long,
        };
        s.audit(&e, 1).unwrap();
        let bytes: i64 = s
            .conn
            .query_row(
                "SELECT length(CAST(actor AS BLOB)) + length(CAST(action AS BLOB)) + length(CAST(target AS BLOB))
                   + length(CAST(remote AS BLOB)) + length(CAST(detail AS BLOB)) FROM audit",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(bytes < 4 * 1024, "{bytes} bytes stored for one audit row");
        let row = &s.audit_log(1).unwrap()[0];
        assert!(row.target.ends_with("…(80000 bytes)"), "{}", &row.target[row.target.len() - 30..]);
    }

    /// A field app's queued action sent twice (the first answer was lost) is applied once;
    /// another user's action with the same client id is its own.
    #[test]
    fn a_retried_action_with_its_client_id_is_applied_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("e.db");
        let mut s = Store::open(&db).unwrap();
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute(
                "INSERT INTO findings(id, asset, criterion_id, criterion_json, code, title_json, severity, state,
                   first_seen_ms, last_seen_ms, cleared_ms, evidence_json, citations_json, action_json, verification)
                 VALUES (1, 'T1', 'c', '{}', 'X', '{}', 'medium', 'open', 0, 0, NULL, '{}', '[1]', '{}', 'verified')",
                [],
            )
            .unwrap();
        let a = s.add_note(1, "ana", "valve 3", None, 10, Some("c-1")).unwrap().unwrap();
        let b = s.add_note(1, "ana", "valve 3", None, 20, Some("c-1")).unwrap().unwrap();
        assert_eq!(a.id, b.id);
        s.add_note(1, "bo", "valve 3", None, 30, Some("c-1")).unwrap().unwrap();
        s.add_note(1, "ana", "again, typed twice", None, 40, None).unwrap().unwrap();
        assert_eq!(s.notes(1).unwrap().len(), 3);
        assert!(matches!(s.acknowledge(1, "ana", "seen", 50, Some("k-1")).unwrap(), AckResult::Done));
        assert!(matches!(s.acknowledge(1, "ana", "seen", 60, Some("k-1")).unwrap(), AckResult::Done));
        assert!(matches!(s.acknowledge(1, "ana", "seen", 70, Some("k-2")).unwrap(), AckResult::Already));
        assert!(matches!(s.acknowledge(1, "bo", "", 80, Some("k-1")).unwrap(), AckResult::Already));
        let events: i64 = rusqlite::Connection::open(&db)
            .unwrap()
            .query_row("SELECT count(*) FROM finding_events WHERE kind = 'acknowledged'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(events, 1);
        assert_eq!(s.ack(1).unwrap().unwrap().at, crate::time::rfc3339(50));
    }

    /// The API's connection acknowledges (read, then write in one transaction) while the
    /// daemon's connection keeps committing: no "database is locked" (the read-then-write
    /// transaction must take the write lock first, or SQLite refuses the upgrade at once).
    #[test]
    fn acknowledging_while_another_connection_writes_never_fails_with_locked() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("e.db");
        let mut api = Store::open(&db).unwrap();
        let daemon = Store::open(&db).unwrap();
        const N: i64 = 400;
        {
            let c = rusqlite::Connection::open(&db).unwrap();
            for id in 1..=N {
                c.execute(
                    "INSERT INTO findings(id, asset, criterion_id, criterion_json, code, title_json, severity, state,
                       first_seen_ms, last_seen_ms, cleared_ms, evidence_json, citations_json, action_json, verification)
                     VALUES (?1, 'a' || ?1, 'c', '{}', 'X', '{}', 'medium', 'open', 0, 0, NULL, '{}', '[1]', '{}', 'verified')",
                    [id],
                )
                .unwrap();
            }
        }
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let e = AuditEntry {
                        actor: "d",
                        role: None,
                        action: "W",
                        target: "t",
                        status: 0,
                        remote: None,
                        detail: "",
                    };
                    daemon.audit(&e, n).unwrap();
                    n += 1;
                }
                n
            })
        };
        let mut failures = Vec::new();
        for id in 1..=N {
            if let Err(e) = api.acknowledge(id, "ana", "", 1, None) {
                failures.push(format!("finding {id}: {e}"));
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let writes = writer.join().unwrap();
        assert!(writes > 0);
        assert!(
            failures.is_empty(),
            "{} of {N} acknowledgements failed beside {writes} writes: {:?}",
            failures.len(),
            &failures[..failures.len().min(3)]
        );
    }

    #[test]
    fn tokens_revoke_and_disabled_users_lose_access() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("e.db")).unwrap();
        assert!(s.upsert_user("ana", "viewer", "h1", 1).unwrap());
        assert!(!s.upsert_user("ana", "technician", "h2", 2).unwrap());
        assert_eq!(s.user("ana").unwrap().unwrap().role, "technician");
        assert_eq!(s.create_token("nobody", "x", "h", 3).unwrap(), None);
        let id = s.create_token("ana", "phone", "h", 3).unwrap().unwrap();
        assert!(!s.token(id).unwrap().unwrap().revoked);
        assert!(s.revoke_token(id, 4).unwrap());
        assert!(!s.revoke_token(id, 5).unwrap(), "second revoke reports nothing done");
        assert!(s.token(id).unwrap().unwrap().revoked);
        let id2 = s.create_token("ana", "tablet", "h", 6).unwrap().unwrap();
        s.create_session(&[1; 32], s.user("ana").unwrap().unwrap().id, 6, 100).unwrap();
        assert_eq!(s.session(&[1; 32], 7).unwrap(), Some(("ana".into(), "technician".into())));
        assert_eq!(s.session(&[1; 32], 100).unwrap(), None, "expired");
        assert!(s.disable_user("ana", 8).unwrap());
        assert!(s.token(id2).unwrap().is_none());
        assert_eq!(s.session(&[1; 32], 7).unwrap(), None);
        assert!(s.user("ana").unwrap().is_none());
    }

    #[test]
    fn history_is_bucketed_by_time() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("e.db")).unwrap();
        let batch: Vec<_> = (0..100).map(|i| crate::sample::Sample::good("d.x".into(), i * 10, i as f64)).collect();
        s.insert_samples(&batch).unwrap();
        let h = s.history("d.x", 0, 1000, 4).unwrap();
        assert_eq!(h.len(), 4);
        assert_eq!(h[0], (0, 0.0, 12.0, 24.0, 25));
        assert_eq!(h[3], (750, 75.0, 87.0, 99.0, 25));
        assert!(s.history("d.nope", 0, 1000, 4).unwrap().is_empty());
    }
}
