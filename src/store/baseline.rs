//! Baselines in SQLite: each (asset, name) with its state, the fitted parameters, the time
//! range and sample count it was learned from, and a pending re-learn request (from the API
//! or `edgecite baseline relearn`, both audited) that the daemon picks up at its next
//! evaluation pass, also after a restart.

use super::auth::AuditEntry;
use super::{Store, StoreError};
use crate::diagnose::baseline::online::{Learned, Registry, Snapshot, Stored};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

pub(super) const MIGRATION: &str = r#"
-- v7: per-asset baselines (issue 22).
CREATE TABLE baselines (
    asset                TEXT NOT NULL,
    name                 TEXT NOT NULL,
    state                TEXT NOT NULL CHECK (state IN ('learning', 'ready', 'stale')),
    fingerprint          TEXT NOT NULL,
    learn_started_ms     INTEGER NOT NULL,
    progress             INTEGER NOT NULL DEFAULT 0,
    learn                TEXT NOT NULL DEFAULT '',
    learned_from_ms      INTEGER,
    learned_to_ms        INTEGER,
    samples              INTEGER,
    learned_json         TEXT,
    last_error           TEXT,
    updated_ms           INTEGER NOT NULL,
    relearn_requested_ms INTEGER,
    relearn_requested_by TEXT,
    stale_after_ms       INTEGER,
    PRIMARY KEY (asset, name)
);
"#;

/// A baseline row as the API and `edgecite baseline status` show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BaselineRow {
    pub asset: String,
    pub name: String,
    /// `baseline.<name>`.
    pub criterion: String,
    /// `learning`, `ready` or `stale`.
    pub state: String,
    pub learn_started: String,
    /// Learning rows so far (learning) or the rows learned from (ready).
    pub progress: i64,
    /// The learning target: `600 samples` or a duration.
    pub learn: String,
    pub learned_from: Option<String>,
    pub learned_to: Option<String>,
    pub samples: Option<i64>,
    /// Retained principal components and the limits, when learned.
    pub components: Option<usize>,
    pub t2_limit: Option<f64>,
    pub q_limit: Option<f64>,
    pub basis: Option<String>,
    pub last_error: Option<String>,
    pub updated: String,
    /// A re-learn asked for and not yet taken up by the daemon.
    pub relearn_requested: Option<String>,
    pub relearn_requested_by: Option<String>,
}

impl Store {
    /// Write the snapshots of baselines that changed. A re-learn request is cleared only by
    /// a snapshot taken after it (`relearn_seen_ms`): one made in between stays pending.
    pub fn save_baselines(&mut self, snaps: &[Snapshot], relearn_seen_ms: i64, now_ms: i64) -> Result<(), StoreError> {
        if snaps.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        for s in snaps {
            let l = s.learned.as_deref();
            let json = l.map(super::json);
            tx.execute(
                "INSERT INTO baselines(asset, name, state, fingerprint, learn_started_ms, progress, learn, learned_from_ms,
                   learned_to_ms, samples, learned_json, last_error, updated_ms, stale_after_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?15)
                 ON CONFLICT(asset, name) DO UPDATE SET state = excluded.state, fingerprint = excluded.fingerprint,
                   learn_started_ms = excluded.learn_started_ms, progress = excluded.progress, learn = excluded.learn,
                   learned_from_ms = excluded.learned_from_ms, learned_to_ms = excluded.learned_to_ms,
                   samples = excluded.samples, learned_json = excluded.learned_json, last_error = excluded.last_error,
                   updated_ms = excluded.updated_ms, stale_after_ms = excluded.stale_after_ms,
                   relearn_requested_ms = CASE WHEN relearn_requested_ms <= ?14 THEN NULL ELSE relearn_requested_ms END,
                   relearn_requested_by = CASE WHEN relearn_requested_ms <= ?14 THEN NULL ELSE relearn_requested_by END",
                params![
                    s.asset,
                    s.name,
                    s.state,
                    s.fingerprint,
                    s.learn_started_ms,
                    s.progress as i64,
                    s.learn,
                    l.map(|l| l.from_ms),
                    l.map(|l| l.to_ms),
                    l.map(|l| l.samples as i64),
                    json,
                    s.last_error,
                    now_ms,
                    relearn_seen_ms,
                    s.stale_after_ms,
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// After an evaluation pass: take up pending re-learn requests (each audited as the
    /// daemon's `BASELINE_RELEARN` with who asked), then write what changed.
    pub fn sync_baselines(&mut self, reg: &Registry, now_ms: i64) -> Result<(), StoreError> {
        let mut seen = i64::MIN;
        for (asset, name, at, by) in self.pending_relearns()? {
            seen = seen.max(at);
            let known = reg.relearn(&asset, &name, now_ms);
            let detail = format!(
                "requested by {by} at {}{}",
                crate::time::rfc3339(at),
                if known { "" } else { "; no such baseline in the config, ignored" }
            );
            self.audit(
                &AuditEntry {
                    actor: "daemon",
                    role: None,
                    action: "BASELINE_RELEARN",
                    target: &format!("{asset}/{name}"),
                    status: if known { 200 } else { 404 },
                    remote: None,
                    detail: &detail,
                },
                now_ms,
            )?;
            if !known {
                self.conn.execute(
                    "UPDATE baselines SET relearn_requested_ms = NULL, relearn_requested_by = NULL
                     WHERE asset = ?1 AND name = ?2 AND relearn_requested_ms <= ?3",
                    params![asset, name, at],
                )?;
            }
        }
        self.save_baselines(&reg.take_dirty(now_ms), seen, now_ms)
    }

    /// What the store kept of every baseline, for the registry at start.
    pub fn load_baselines(&self) -> Result<Vec<Stored>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT asset, name, fingerprint, learn_started_ms, learned_json FROM baselines WHERE state IN ('ready', 'stale')
             UNION ALL SELECT asset, name, fingerprint, learn_started_ms, NULL FROM baselines WHERE state = 'learning'",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?, r.get(3)?, r.get::<_, Option<String>>(4)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (asset, name, fingerprint, learn_started_ms, json) = row?;
            let learned: Option<Learned> = json.map(|j| super::from_json("baselines.learned_json", &j)).transpose()?;
            out.push(Stored { asset, name, fingerprint, learn_started_ms, learned });
        }
        Ok(out)
    }

    /// Ask for a re-learn of `asset`'s baseline `name`; false when the store has no such
    /// baseline (the daemon writes every configured one at its first evaluation pass).
    pub fn request_relearn(&self, asset: &str, name: &str, by: &str, now_ms: i64) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "UPDATE baselines SET relearn_requested_ms = ?3, relearn_requested_by = ?4 WHERE asset = ?1 AND name = ?2",
            params![asset, name, now_ms, by],
        )?;
        Ok(n > 0)
    }

    /// Pending re-learn requests: (asset, name, requested at, by).
    pub fn pending_relearns(&self) -> Result<Vec<(String, String, i64, String)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT asset, name, relearn_requested_ms, COALESCE(relearn_requested_by, '') FROM baselines
             WHERE relearn_requested_ms IS NOT NULL ORDER BY relearn_requested_ms",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every baseline, or one asset's, for the API and the CLI. A ready baseline older than
    /// its `stale_after_days` at `now_ms` reads as `stale`.
    pub fn baselines(&self, asset: Option<&str>, now_ms: i64) -> Result<Vec<BaselineRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT asset, name, state, learn_started_ms, progress, learn, learned_from_ms, learned_to_ms, samples,
                    learned_json, last_error, updated_ms, relearn_requested_ms, relearn_requested_by, stale_after_ms
             FROM baselines WHERE (?1 IS NULL OR asset = ?1) ORDER BY asset, name",
        )?;
        let rows = stmt.query_map(params![asset], |r| {
            Ok((
                (r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)?),
                (r.get::<_, i64>(4)?, r.get::<_, String>(5)?, r.get::<_, Option<i64>>(6)?, r.get::<_, Option<i64>>(7)?),
                (r.get::<_, Option<i64>>(8)?, r.get::<_, Option<String>>(9)?, r.get::<_, Option<String>>(10)?),
                (r.get::<_, i64>(11)?, r.get::<_, Option<i64>>(12)?, r.get::<_, Option<String>>(13)?),
                r.get::<_, Option<i64>>(14)?,
            ))
        })?;
        let ts = crate::time::rfc3339;
        let mut out = Vec::new();
        for row in rows {
            let (
                (asset, name, mut state, started),
                (progress, learn, from, to),
                (samples, json, last_error),
                (upd, rq, rqb),
                stale_after,
            ) = row?;
            if state == "ready" && stale_after.zip(to).is_some_and(|(max, to)| now_ms - to > max) {
                state = "stale".into();
            }
            let learned: Option<Learned> =
                json.as_deref().map(|j| super::from_json("baselines.learned_json", j)).transpose()?;
            let f = learned.as_ref().map(|l| &l.fitted);
            out.push(BaselineRow {
                criterion: format!("baseline.{name}"),
                asset,
                name,
                state,
                learn_started: ts(started),
                progress,
                learn,
                learned_from: from.map(ts),
                learned_to: to.map(ts),
                samples,
                components: f.map(|f| f.components),
                t2_limit: f.map(|f| f.t2_limit),
                q_limit: f.map(|f| f.q_limit),
                basis: f.map(|f| f.basis()),
                last_error,
                updated: ts(upd),
                relearn_requested: rq.map(ts),
                relearn_requested_by: rqb,
            });
        }
        Ok(out)
    }

    /// Whether `asset` has a baseline `name` in the store.
    pub fn has_baseline(&self, asset: &str, name: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT 1 FROM baselines WHERE asset = ?1 AND name = ?2", params![asset, name], |_| Ok(()))
            .optional()?
            .is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::{fit, FeatureKind, FitOptions};

    fn snap(state: &str, learned: Option<Learned>) -> Snapshot {
        Snapshot {
            asset: "P1".into(),
            name: "skid".into(),
            criterion: "baseline.skid".into(),
            state: state.into(),
            fingerprint: "fp".into(),
            learn_started_ms: 1000,
            progress: learned.as_ref().map(|l| l.samples).unwrap_or(3),
            learn: "20 samples".into(),
            stale_after_ms: Some(1_000_000),
            learned: learned.map(std::sync::Arc::new),
            last_error: None,
        }
    }

    #[test]
    fn learned_baselines_and_relearn_requests_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let rows: Vec<Vec<f64>> = (0..20).map(|i| vec![i as f64, (i * i % 7) as f64]).collect();
        let sig = vec![("a".to_string(), FeatureKind::Level), ("b".to_string(), FeatureKind::Rate)];
        let learned = Learned {
            fitted: fit(&sig, &rows, FitOptions::default()).unwrap(),
            from_ms: 1000,
            to_ms: 20_000,
            samples: 20,
        };
        {
            let mut s = Store::open(&path).unwrap();
            assert!(!s.request_relearn("P1", "skid", "u", 5).unwrap(), "no such baseline yet");
            s.save_baselines(&[snap("learning", None)], 0, 10).unwrap();
            s.save_baselines(&[snap("ready", Some(learned.clone()))], 0, 20).unwrap();
            assert!(s.request_relearn("P1", "skid", "alice", 30).unwrap());
        }
        let mut s = Store::open(&path).unwrap();
        let st = s.load_baselines().unwrap();
        assert_eq!(st.len(), 1);
        assert_eq!(st[0].learned.as_ref(), Some(&learned), "fitted parameters round-trip");
        assert_eq!(s.pending_relearns().unwrap(), vec![("P1".into(), "skid".into(), 30, "alice".into())]);
        let row = &s.baselines(Some("P1"), 30).unwrap()[0];
        assert_eq!(
            (row.state.as_str(), row.samples, row.relearn_requested_by.as_deref()),
            ("ready", Some(20), Some("alice"))
        );
        assert!(row.basis.as_deref().unwrap().contains("Jackson & Mudholkar"));
        // Past stale_after (learned to 20 000 ms, 1 000 000 ms allowed), it reads as stale.
        assert_eq!(s.baselines(None, 1_020_001).unwrap()[0].state, "stale");
        // A snapshot taken before the request leaves it pending; one after clears it.
        s.save_baselines(&[snap("ready", Some(learned.clone()))], 29, 31).unwrap();
        assert_eq!(s.pending_relearns().unwrap().len(), 1);
        s.save_baselines(&[snap("learning", None)], 30, 32).unwrap();
        assert!(s.pending_relearns().unwrap().is_empty());
        assert!(s.load_baselines().unwrap()[0].learned.is_none());
        assert!(s.has_baseline("P1", "skid").unwrap() && !s.has_baseline("P1", "x").unwrap());
    }
}
