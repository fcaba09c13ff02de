//! The finding events the MQTT sink publishes: every `opened`, `changed` and `cleared` event
//! after a cursor, with the finding as the API shows it (evidence and citations). The sink
//! keeps the cursor in its outbox, committed with the messages, so each event is queued
//! exactly once across restarts.

use super::findings::{raw_finding, FINDING_COLUMNS};
use super::{FindingRecord, Store, StoreError};

/// One finding event and the finding it belongs to, as of now.
#[derive(Debug, Clone)]
pub struct FindingFeedItem {
    pub event_id: i64,
    pub kind: String,
    pub ts_ms: i64,
    pub summary: String,
    pub finding: FindingRecord,
}

impl Store {
    /// Finding events with id > `after`, oldest first, at most `limit`.
    pub fn finding_events_after(&self, after: i64, limit: u32) -> Result<Vec<FindingFeedItem>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, kind, ts_ms, summary, finding_id FROM finding_events WHERE id > ?1 ORDER BY id LIMIT ?2",
        )?;
        let events = stmt
            .query_map(rusqlite::params![after, limit], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut one = self.conn.prepare_cached(&format!("SELECT {FINDING_COLUMNS} FROM findings WHERE id = ?1"))?;
        let mut out = Vec::with_capacity(events.len());
        for (event_id, kind, ts_ms, summary, finding_id) in events {
            let finding = one.query_row([finding_id], raw_finding)?.decode()?;
            out.push(FindingFeedItem { event_id, kind, ts_ms, summary, finding });
        }
        Ok(out)
    }
}
