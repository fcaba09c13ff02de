//! Retention of what the API writes (issue 7): audit rows, field notes and their photos.
//!
//! Run from the daemon's prune cycle. Rules, in order:
//! - audit rows older than `audit_days` are deleted (they are evidence: the default is long);
//! - notes of findings cleared more than `note_days` ago are deleted, with their photos;
//! - while the photos stored exceed `photo_quota_bytes`, the oldest photos of CLEARED findings
//!   are removed (the note text stays; `photo_removed_ms` says when and why the photo went).
//!
//! Nothing attached to an OPEN finding is ever deleted: when open findings alone exceed the
//! photo quota, that is reported (`photo_bytes_over_quota`). A new photo first gets room the
//! same way (`make_room_for_photo`); when there is none, it is refused, never stored over the
//! quota and never stored by removing an open finding's photo.
//! Every pass that deletes something writes one `RETENTION_PRUNE` audit row with the counts.

use super::{Store, StoreError};
use rusqlite::params;

/// Adds the column that marks a photo removed by the quota (appended to `MIGRATIONS`).
pub(super) const MIGRATION: &str = r#"
-- v5 (issue 7): retention of notes and photos: when the photo quota removed a note's photo.
ALTER TABLE finding_notes ADD COLUMN photo_removed_ms INTEGER;
"#;

const DAY_MS: i64 = 86_400_000;

/// What to keep (from `[api]`: `audit_retention_days`, `note_retention_days`, `photo_quota_mib`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    pub audit_days: u32,
    pub note_days: u32,
    pub photo_quota_bytes: u64,
}

impl From<&crate::config::ApiConfig> for RetentionPolicy {
    fn from(api: &crate::config::ApiConfig) -> Self {
        RetentionPolicy {
            audit_days: api.audit_retention_days,
            note_days: api.note_retention_days,
            photo_quota_bytes: api.photo_quota_mib as u64 * 1024 * 1024,
        }
    }
}

/// What one retention pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub audit_rows: usize,
    pub notes: usize,
    pub photos: usize,
    pub photo_bytes_freed: i64,
    /// Photo bytes still above the quota after the pass (all of them on open findings).
    pub photo_bytes_over_quota: i64,
}

impl Pruned {
    pub fn deleted_anything(&self) -> bool {
        self.audit_rows + self.notes + self.photos > 0
    }
}

impl Store {
    /// Apply `policy` at `now_ms` in one transaction; see the module docs for the rules.
    pub fn prune_api_records(&mut self, now_ms: i64, policy: &RetentionPolicy) -> Result<Pruned, StoreError> {
        let mut p = Pruned::default();
        let tx = self.conn.transaction()?;
        let audit_cutoff = now_ms - policy.audit_days as i64 * DAY_MS;
        p.audit_rows = tx.execute("DELETE FROM audit WHERE ts_ms < ?1", [audit_cutoff])?;

        let note_cutoff = now_ms - policy.note_days as i64 * DAY_MS;
        p.notes = tx.execute(
            "DELETE FROM finding_notes WHERE finding_id IN
               (SELECT id FROM findings WHERE state = 'cleared' AND cleared_ms < ?1)",
            [note_cutoff],
        )?;

        let total: i64 = tx.query_row("SELECT coalesce(sum(length(photo)), 0) FROM finding_notes", [], |r| r.get(0))?;
        let quota = i64::try_from(policy.photo_quota_bytes).unwrap_or(i64::MAX);
        let mut over = total - quota;
        if over > 0 {
            let victims: Vec<(i64, i64)> = {
                let mut stmt = tx.prepare(
                    "SELECT n.id, length(n.photo) FROM finding_notes n JOIN findings f ON f.id = n.finding_id
                     WHERE n.photo IS NOT NULL AND f.state = 'cleared' ORDER BY n.ts_ms, n.id",
                )?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                let mut v = Vec::new();
                for row in rows {
                    if over <= 0 {
                        break;
                    }
                    let (id, bytes): (i64, i64) = row?;
                    over -= bytes;
                    v.push((id, bytes));
                }
                v
            };
            let mut clear = tx.prepare(
                "UPDATE finding_notes SET photo = NULL, photo_mime = NULL, photo_removed_ms = ?2 WHERE id = ?1",
            )?;
            for (id, bytes) in &victims {
                clear.execute(params![id, now_ms])?;
                p.photos += 1;
                p.photo_bytes_freed += bytes;
            }
        }
        p.photo_bytes_over_quota = over.max(0);
        if p.deleted_anything() {
            let detail = format!(
                "audit rows older than {} d: {}; notes of findings cleared more than {} d ago: {}; photos over the {} byte quota: {} ({} bytes)",
                policy.audit_days,
                p.audit_rows,
                policy.note_days,
                p.notes,
                policy.photo_quota_bytes,
                p.photos,
                p.photo_bytes_freed
            );
            tx.execute(
                "INSERT INTO audit(ts_ms, actor, role, action, target, status, remote, detail)
                 VALUES (?1, 'system', NULL, 'RETENTION_PRUNE', 'audit,finding_notes', 0, NULL, ?2)",
                params![now_ms, detail],
            )?;
        }
        tx.commit()?;
        Ok(p)
    }

    /// Room for a new photo of `bytes`: prune by `policy` with the quota lowered by `bytes`
    /// (removing the oldest photos of cleared findings if needed). Err(bytes of photos still
    /// stored) when the photo would take the store over the quota.
    pub fn make_room_for_photo(
        &mut self,
        bytes: u64,
        now_ms: i64,
        policy: &RetentionPolicy,
    ) -> Result<Result<(), u64>, StoreError> {
        let stored = |s: &Store| -> Result<u64, StoreError> {
            let n: i64 =
                s.conn.query_row("SELECT coalesce(sum(length(photo)), 0) FROM finding_notes", [], |r| r.get(0))?;
            Ok(n.max(0) as u64)
        };
        if bytes > policy.photo_quota_bytes {
            return Ok(Err(stored(self)?));
        }
        let lowered = RetentionPolicy { photo_quota_bytes: policy.photo_quota_bytes - bytes, ..*policy };
        let p = self.prune_api_records(now_ms, &lowered)?;
        if p.photos > 0 {
            tracing::info!(
                photos = p.photos,
                bytes = p.photo_bytes_freed,
                "retention: photos of cleared findings removed to make room for a new photo"
            );
        }
        if p.photo_bytes_over_quota > 0 {
            return Ok(Err(stored(self)?));
        }
        Ok(Ok(()))
    }

    /// The daemon's call: prune and log the counts (errors are logged, not returned: the
    /// next prune cycle tries again).
    pub fn apply_api_retention(&mut self, now_ms: i64, policy: &RetentionPolicy) {
        match self.prune_api_records(now_ms, policy) {
            Ok(p) => {
                if p.deleted_anything() {
                    tracing::info!(
                        audit_rows = p.audit_rows,
                        notes = p.notes,
                        photos = p.photos,
                        photo_bytes_freed = p.photo_bytes_freed,
                        "retention: old audit rows, notes and photos pruned"
                    );
                }
                if p.photo_bytes_over_quota > 0 {
                    tracing::warn!(
                        over_bytes = p.photo_bytes_over_quota,
                        quota_bytes = policy.photo_quota_bytes,
                        "retention: photos of OPEN findings exceed [api] photo_quota_mib; they are kept"
                    );
                }
            }
            Err(e) => tracing::error!(error = %e, "retention: pruning audit rows and notes failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    const NOW: i64 = 1_000 * DAY_MS;

    fn policy() -> RetentionPolicy {
        RetentionPolicy { audit_days: 365, note_days: 730, photo_quota_bytes: 1_000 }
    }

    /// A finding row written directly (the finding path itself is tested in store::tests).
    fn finding(c: &Connection, id: i64, state: &str, cleared_ms: Option<i64>) {
        c.execute(
            "INSERT INTO findings(id, asset, criterion_id, criterion_json, code, title_json, severity, state,
               first_seen_ms, last_seen_ms, cleared_ms, evidence_json, citations_json, action_json, verification)
             VALUES (?1, 'a' || ?1, 'c', '{}', 'X', '{}', 'medium', ?2, 0, 0, ?3, '{}', '[1]', '{}', 'verified')",
            params![id, state, cleared_ms],
        )
        .unwrap();
    }

    /// A store on disk with finding 1 open and finding 2 cleared a day ago (and a second
    /// connection to read it directly).
    fn open_and_cleared() -> (tempfile::TempDir, Store, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("e.db");
        let s = Store::open(&db).unwrap();
        let c = Connection::open(&db).unwrap();
        finding(&c, 1, "open", None);
        finding(&c, 2, "cleared", Some(NOW - DAY_MS));
        (dir, s, c)
    }

    fn count(c: &Connection, sql: &str) -> i64 {
        c.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn old_audit_rows_and_old_cleared_notes_go_open_findings_keep_everything() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("e.db");
        let mut s = Store::open(&db).unwrap();
        let c = Connection::open(&db).unwrap();
        let entry = |action| crate::store::auth::AuditEntry {
            actor: "ana",
            role: Some("technician"),
            action,
            target: "t",
            status: 200,
            remote: None,
            detail: "",
        };
        s.audit(&entry("OLD"), NOW - 366 * DAY_MS).unwrap();
        s.audit(&entry("KEPT"), NOW - 364 * DAY_MS).unwrap();
        // 1: open for years; 2: cleared 800 days ago; 3: cleared 10 days ago.
        finding(&c, 1, "open", None);
        finding(&c, 2, "cleared", Some(NOW - 800 * DAY_MS));
        finding(&c, 3, "cleared", Some(NOW - 10 * DAY_MS));
        for f in 1..=3 {
            s.add_note(f, "ana", "old note", None, NOW - 900 * DAY_MS, None).unwrap().unwrap();
        }

        let p = s.prune_api_records(NOW, &policy()).unwrap();
        assert_eq!((p.audit_rows, p.notes, p.photos), (1, 1, 0));
        let actions: Vec<String> = s.audit_log(10).unwrap().into_iter().map(|r| r.action).collect();
        assert_eq!(actions, ["RETENTION_PRUNE", "KEPT"]);
        assert_eq!(s.notes(1).unwrap().len(), 1, "an open finding keeps its notes whatever their age");
        assert!(s.notes(2).unwrap().is_empty());
        assert_eq!(s.notes(3).unwrap().len(), 1);

        // A second pass finds nothing and writes no audit row.
        assert_eq!(s.prune_api_records(NOW, &policy()).unwrap(), Pruned::default());
        assert_eq!(count(&c, "SELECT count(*) FROM audit"), 2);
    }

    #[test]
    fn a_new_photo_gets_room_from_cleared_findings_or_is_refused() {
        let (_dir, mut s, _) = open_and_cleared();
        let photo = vec![7u8; 400];
        let open = s.add_note(1, "ana", "open", Some((&photo, "image/jpeg")), NOW - 50, None).unwrap().unwrap();
        let cleared = s.add_note(2, "ana", "cleared", Some((&photo, "image/jpeg")), NOW - 40, None).unwrap().unwrap();
        // 800 stored, quota 1000: 200 bytes fit as they are.
        assert_eq!(s.make_room_for_photo(200, NOW, &policy()).unwrap(), Ok(()));
        assert!(s.note_photo(cleared.id).unwrap().is_some(), "nothing removed when the photo fits");
        // 400 more would make 1200: the cleared finding's photo goes to make room.
        assert_eq!(s.make_room_for_photo(400, NOW, &policy()).unwrap(), Ok(()));
        assert!(s.note_photo(cleared.id).unwrap().is_none());
        s.add_note(1, "ana", "open 2", Some((&photo, "image/jpeg")), NOW - 30, None).unwrap().unwrap();
        // 800 bytes of open findings' photos: 400 more cannot fit and nothing may go.
        assert_eq!(s.make_room_for_photo(400, NOW, &policy()).unwrap(), Err(800));
        assert_eq!(s.make_room_for_photo(5_000, NOW, &policy()).unwrap(), Err(800), "larger than the quota itself");
        assert!(s.note_photo(open.id).unwrap().is_some(), "an open finding's photo is never removed for room");
        assert_eq!(s.make_room_for_photo(200, NOW, &policy()).unwrap(), Ok(()), "what fits still fits");
    }

    #[test]
    fn photo_quota_removes_oldest_photos_of_cleared_findings_only() {
        let (_dir, mut s, c) = open_and_cleared();
        let photo = vec![7u8; 400];
        let open_old =
            s.add_note(1, "ana", "open, oldest", Some((&photo, "image/jpeg")), NOW - 50, None).unwrap().unwrap();
        let c1 = s.add_note(2, "ana", "cleared 1", Some((&photo, "image/jpeg")), NOW - 40, None).unwrap().unwrap();
        let c2 = s.add_note(2, "ana", "cleared 2", Some((&photo, "image/jpeg")), NOW - 30, None).unwrap().unwrap();
        let c3 = s.add_note(2, "ana", "cleared 3", Some((&photo, "image/png")), NOW - 20, None).unwrap().unwrap();
        // 1600 bytes stored, quota 1000: the two oldest cleared photos go (800 bytes).
        let p = s.prune_api_records(NOW, &policy()).unwrap();
        assert_eq!((p.photos, p.photo_bytes_freed, p.photo_bytes_over_quota, p.notes), (2, 800, 0, 0));
        assert!(s.note_photo(open_old.id).unwrap().is_some(), "open finding's photo kept");
        assert!(s.note_photo(c1.id).unwrap().is_none());
        assert!(s.note_photo(c2.id).unwrap().is_none());
        assert_eq!(s.note_photo(c3.id).unwrap().unwrap().1, "image/png");
        let notes = s.notes(2).unwrap();
        assert_eq!(notes.len(), 3, "note texts stay");
        assert_eq!(notes[0].text, "cleared 1");
        assert!(notes[0].photo_url.is_none() && notes[0].photo_removed.is_some());
        assert!(notes[2].photo_url.is_some() && notes[2].photo_removed.is_none());
        let detail: String =
            c.query_row("SELECT detail FROM audit WHERE action = 'RETENTION_PRUNE'", [], |r| r.get(0)).unwrap();
        assert!(detail.contains("photos over the 1000 byte quota: 2 (800 bytes)"), "{detail}");

        // Open findings alone over the quota: reported, nothing of theirs removed.
        for i in 0..3 {
            s.add_note(1, "ana", &format!("open {i}"), Some((&photo, "image/jpeg")), NOW - 10, None).unwrap();
        }
        let p = s.prune_api_records(NOW, &policy()).unwrap();
        assert_eq!(p.photos, 1, "the last cleared photo goes first");
        assert_eq!(p.photo_bytes_over_quota, 600);
        assert_eq!(count(&c, "SELECT count(*) FROM finding_notes WHERE finding_id = 1 AND photo IS NOT NULL"), 4);
    }
}
