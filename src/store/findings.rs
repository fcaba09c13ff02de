//! Findings (one open per asset and criterion, then updated and cleared), their events
//! (committed with `synchronous = FULL`), assessments, and the queries the API reads them with.

use super::{from_json, json, Store, StoreError};
use crate::diagnose::{CriterionInfo, Evidence, FaultReport, Severity, Text};
use crate::knowledge::{Citation, Verification};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

#[derive(Debug, Clone)]
pub struct FindingEvent {
    pub ts: String,
    pub kind: String,
    pub code: String,
    pub severity: String,
    /// The summary; its Chinese is empty in rows written before it existed.
    pub summary: Text,
}

// [`FindingEvent`] as served: the summary as `summary` and `summary_zh`. Its doc comments
// are the API document's descriptions.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = FindingEvent)]
struct FindingEventWire<'a> {
    ts: &'a str,
    kind: &'a str,
    code: &'a str,
    severity: &'a str,
    summary: &'a str,
    /// The summary in Chinese; empty in rows written before it existed.
    #[serde(skip_serializing_if = "str::is_empty")]
    summary_zh: &'a str,
}

impl Serialize for FindingEvent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        FindingEventWire {
            ts: &self.ts,
            kind: &self.kind,
            code: &self.code,
            severity: &self.severity,
            summary: &self.summary.en,
            summary_zh: &self.summary.zh,
        }
        .serialize(s)
    }
}

crate::text::schema_from_wire!(FindingEvent => FindingEventWire<'static>);

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

impl Store {
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
        self.durable(|s| {
            let tx = s.conn.transaction()?;
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
            insert_event_i18n(&tx, id, now_ms, "opened", &report.code, report.severity.as_str(), &ev.summary)?;
            tx.commit()?;
            Ok(id)
        })
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
        let update = |s: &mut Self| -> Result<(), StoreError> {
            let tx = s.conn.transaction()?;
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
                insert_event_i18n(&tx, id, now_ms, "changed", &report.code, report.severity.as_str(), &ev.summary)?;
            }
            tx.commit()?;
            Ok(())
        };
        // A refresh (no event) need not be on disk at once; a change is.
        if changed {
            self.durable(update)
        } else {
            update(self)
        }
    }

    pub fn clear_finding(
        &mut self,
        asset: &str,
        criterion: &str,
        evidence: &Evidence,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.durable(|s| {
            let tx = s.conn.transaction()?;
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
            insert_event_i18n(&tx, id, now_ms, "cleared", &code, &severity, &evidence.summary)?;
            tx.commit()?;
            Ok(())
        })
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
                summary: Text::new(r.get::<_, String>(4)?, r.get::<_, String>(5)?),
            })
        })?;
        rec.events = Some(events.collect::<Result<_, _>>()?);
        Ok(Some(rec))
    }
}

pub(super) fn insert_event(
    tx: &rusqlite::Transaction,
    id: i64,
    ts: i64,
    kind: &str,
    code: &str,
    severity: &str,
    summary: &str,
) -> Result<(), StoreError> {
    insert_event_i18n(tx, id, ts, kind, code, severity, &Text::untranslated(summary))
}

/// A finding event with its summary in both languages (the Chinese may be empty).
fn insert_event_i18n(
    tx: &rusqlite::Transaction,
    id: i64,
    ts: i64,
    kind: &str,
    code: &str,
    severity: &str,
    summary: &Text,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO finding_events(finding_id, ts_ms, kind, code, severity, summary, summary_zh)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![id, ts, kind, code, severity, summary.en, summary.zh],
    )?;
    Ok(())
}

pub(super) const FINDING_COLUMNS: &str =
    "id, asset, criterion_json, code, title_json, severity, state, first_seen_ms, last_seen_ms,
    cleared_ms, evidence_json, citations_json, action_json, verification";

pub(super) struct RawFinding {
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

pub(super) fn raw_finding(r: &rusqlite::Row) -> rusqlite::Result<RawFinding> {
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
    pub(super) fn decode(self) -> Result<FindingRecord, StoreError> {
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
    use crate::store::schema::MIGRATIONS;
    use rusqlite::Connection;

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
                summary: Text::new("s", "s-zh"),
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
            title: Text::new("C", "C-zh"),
            verification: Verification::Verified,
        }
    }

    #[test]
    fn events_serve_their_summary_as_summary_and_summary_zh() {
        let e = |zh: &str| FindingEvent {
            ts: "t".into(),
            kind: "opened".into(),
            code: "X".into(),
            severity: "high".into(),
            summary: Text::new("s", zh),
        };
        assert_eq!(
            serde_json::to_string(&e("")).unwrap(),
            r#"{"ts":"t","kind":"opened","code":"X","severity":"high","summary":"s"}"#
        );
        assert_eq!(
            serde_json::to_string(&e("中")).unwrap(),
            r#"{"ts":"t","kind":"opened","code":"X","severity":"high","summary":"s","summary_zh":"中"}"#
        );
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
        assert_eq!((f.criterion.title.zh.as_str(), f.evidence.summary.zh.as_str()), ("C-zh", "s-zh"));
        let events = f.events.unwrap();
        let kinds: Vec<_> = events.iter().map(|e| e.kind.clone()).collect();
        assert_eq!(kinds, ["opened", "changed", "cleared"]);
        let zh: Vec<_> = events.iter().map(|e| e.summary.zh.as_str()).collect();
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
        assert_eq!((f.evidence.summary.en.as_str(), f.evidence.summary.zh.as_str()), ("old line", ""));
        assert_eq!((f.criterion.title.en.as_str(), f.criterion.title.zh.as_str()), ("Old", ""));
        let e = &f.events.unwrap()[0];
        assert_eq!((e.summary.en.as_str(), e.summary.zh.as_str()), ("old line", ""));
    }

    #[test]
    fn a_finding_without_citation_cannot_be_stored() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("e.db")).unwrap();
        let mut r = report("A");
        r.citations.clear();
        assert!(s.open_finding("T1", &info(), &r, 1).is_err());
    }
}
