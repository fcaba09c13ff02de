//! Retention runs in the daemon's prune cycle (the first pass at start): on a real SQLite
//! store seeded with old audit rows and an old cleared finding's note, the daemon deletes
//! them, keeps recent rows and the open finding's note, logs the counts and audits the pass.

use crate::common::{demo_config, Daemon, Ports};
use rusqlite::{params, Connection};
use std::time::Duration;

const DAY_MS: i64 = 86_400_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

fn finding(c: &Connection, id: i64, state: &str, cleared_ms: Option<i64>) {
    c.execute(
        "INSERT INTO findings(id, asset, criterion_id, criterion_json, code, title_json, severity, state,
           first_seen_ms, last_seen_ms, cleared_ms, evidence_json, citations_json, action_json, verification)
         VALUES (?1, 'old-asset-' || ?1, 'c', '{}', 'X', '{}', 'medium', ?2, 0, 0, ?3, '{}', '[1]', '{}', 'verified')",
        params![id, state, cleared_ms],
    )
    .unwrap();
}

#[test]
fn the_daemon_prunes_old_audit_rows_and_notes_of_long_cleared_findings() {
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports::new();
    let config = demo_config(
        dir.path(),
        &ports,
        &[("[api]\n", "[api]\naudit_retention_days = 90\nnote_retention_days = 30\nphoto_quota_mib = 64\n")],
    );
    let db = dir.path().join("edgecite.db");
    // Seeded before the start, so the first prune pass (at start) has work; opening the
    // store runs the migrations.
    let now = now_ms();
    {
        let s = edgecite::store::Store::open(&db).unwrap();
        drop(s);
        let c = Connection::open(&db).unwrap();
        for (age_days, action) in [(200, "OLD_WRITE"), (100, "OLD_WRITE"), (10, "RECENT_WRITE")] {
            c.execute(
                "INSERT INTO audit(ts_ms, actor, action, target, status) VALUES (?1, 'ana', ?2, 'f', 200)",
                params![now - age_days * DAY_MS, action],
            )
            .unwrap();
        }
        finding(&c, 9001, "open", None);
        finding(&c, 9002, "cleared", Some(now - 40 * DAY_MS));
        for f in [9001, 9002] {
            c.execute(
                "INSERT INTO finding_notes(finding_id, ts_ms, user, text, photo, photo_mime) VALUES (?1, ?2, 'ana', 'seen', x'ffd8ff', 'image/jpeg')",
                params![f, now - 60 * DAY_MS],
            )
            .unwrap();
        }
    }
    let d = Daemon::start(&config, ports.api, &[]);
    d.wait_until("the retention pass is logged", Duration::from_secs(90), || {
        d.log_text()
            .lines()
            .find(|l| l.contains("retention: old audit rows, notes and photos pruned"))
            .map(String::from)
    });
    let log = d.log_text();
    let line = log.lines().find(|l| l.contains("retention: old audit rows")).unwrap();
    assert!(line.contains("audit_rows=2") && line.contains("notes=1") && line.contains("photos=0"), "{line}");

    let audit = d.json("/api/v1/admin/audit");
    assert!(audit.is_array(), "{audit}");
    let text = audit.to_string();
    assert!(!text.contains("OLD_WRITE") && text.contains("RECENT_WRITE"), "{text}");
    assert!(text.contains("RETENTION_PRUNE"), "{text}");

    let c = Connection::open(&db).unwrap();
    let notes = |f: i64| -> i64 {
        c.query_row("SELECT count(*) FROM finding_notes WHERE finding_id = ?1", [f], |r| r.get(0)).unwrap()
    };
    assert_eq!(notes(9001), 1, "the open finding keeps its 60-day-old note");
    assert_eq!(notes(9002), 0, "the note of a finding cleared 40 days ago (> 30) is gone");
}
