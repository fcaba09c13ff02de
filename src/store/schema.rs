//! The schema: forward-only migrations keyed on `PRAGMA user_version`, run when the store
//! opens for writing (a copy of the old file is kept first).

use super::{auth, baseline, retention, samples, Store, StoreError};

/// Forward-only migrations; index + 1 is the schema version it produces.
pub(super) const MIGRATIONS: &[&str] = &[
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
    samples::MIGRATION,
];

impl Store {
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    pub(super) fn migrate(&mut self) -> Result<(), StoreError> {
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
            if i + 1 == samples::BLOCKS_VERSION {
                samples::move_row_samples(&tx)?;
            }
            tx.pragma_update(None, "user_version", i as i64 + 1)?;
            tx.commit()?;
            tracing::info!(db = %self.path.display(), version = i + 1, "database migrated");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::Sample;
    use rusqlite::Connection;

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
    fn rows_of_the_old_sample_table_become_blocks_with_their_registers_text_and_quality() {
        // A database at the last row-per-sample version (8), as a gateway has it before
        // blocks: every column of every row must come back after the migration.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v8.db");
        {
            let conn = Connection::open(&path).unwrap();
            for sql in &MIGRATIONS[..samples::BLOCKS_VERSION - 1] {
                conn.execute_batch(sql).unwrap();
            }
            conn.pragma_update(None, "user_version", (samples::BLOCKS_VERSION - 1) as i64).unwrap();
            conn.execute_batch(
                "INSERT INTO points(name) VALUES ('d.f'), ('d.s');
                 INSERT INTO samples(point_id, ts_ms, value, quality, raw, text) VALUES
                   (1, 1000, 21.5, 'good', x'41ac0000', NULL),
                   (2, 1000, NULL, 'good', x'48490000', 'HI'),
                   (1, 1100, NULL, 'exception_2', NULL, NULL),
                   (1, 1200, 21.75, 'good', x'41ae0000', NULL);",
            )
            .unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as i64);
        let back = s.all_samples().unwrap();
        let f: Vec<_> = back.iter().filter(|(p, _)| p == "d.f").map(|(_, x)| x.clone()).collect();
        assert_eq!(f.len(), 3);
        assert_eq!((f[0].ts_ms, f[0].value, f[0].raw.clone()), (1000, Some(21.5), Some(vec![0x41ac, 0])));
        assert_eq!((f[1].value, f[1].quality.as_str(), f[1].raw.clone()), (None, "exception_2", None));
        assert_eq!((f[2].value, f[2].raw.clone()), (Some(21.75), Some(vec![0x41ae, 0])));
        let t: Vec<_> = back.iter().filter(|(p, _)| p == "d.s").map(|(_, x)| x.clone()).collect();
        assert_eq!((t[0].text.as_deref(), t[0].raw.clone()), (Some("HI"), Some(vec![0x4849, 0])));
        assert_eq!((s.sample_count().unwrap(), s.sample_count_estimate().unwrap()), (4, 4));
        assert_eq!(s.latest_raw("d.f").unwrap(), Some(vec![0x41ae, 0]));
        // The old table is gone; its copy is kept beside the file.
        let gone: i64 =
            s.conn.query_row("SELECT count(*) FROM sqlite_master WHERE name = 'samples'", [], |r| r.get(0)).unwrap();
        assert_eq!(gone, 0);
        assert!(dir.path().join("v8.v8.bak").exists());
    }
}
