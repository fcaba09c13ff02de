//! Sparkplug B host-side state of the ingest source: what the births said (alias -> name,
//! name -> datatype, per edge node and device), the bdSeq of each node's NBIRTH, and the
//! points each subscription stored for them, so that
//!
//! - data messages that carry only aliases (and, as the specification recommends, no
//!   datatype) are decoded with the birth's names and datatypes;
//! - an NDEATH (with the bdSeq of the current birth) or a DDEATH marks every point of that
//!   node or device `stale`;
//! - all of it survives a restart: the state is written to `sparkplug_host.json` beside the
//!   store (atomically: temporary file, fsync, rename) after each birth and death;
//! - a data message with an alias no birth explained asks the node for a rebirth
//!   (`NCMD Node Control/Rebirth`), at most once per `REBIRTH_EVERY_MS` per node.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Product policy: one rebirth request per edge node per 10 s at most, so a node that
/// keeps sending unknown aliases (or ignores NCMD) is not flooded with commands.
pub const REBIRTH_EVERY_MS: i64 = 10_000;

/// One edge node (`device` empty) or device, as its last birth described it.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Born {
    pub aliases: BTreeMap<u64, String>,
    pub datatypes: BTreeMap<String, u32>,
    /// subscription topic filter -> points stored from this node/device through it.
    pub points: BTreeMap<String, BTreeSet<String>>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Saved {
    /// `{group}/{node}/{device}` (device empty for the node itself) -> birth.
    births: BTreeMap<String, Born>,
    /// `{group}/{node}` -> bdSeq of its last NBIRTH.
    bdseq: BTreeMap<String, i64>,
}

#[derive(Debug, Default)]
pub struct HostState {
    saved: Saved,
    path: Option<PathBuf>,
    dirty: bool,
    /// `{group}/{node}` -> when a rebirth was last asked for.
    asked: BTreeMap<String, i64>,
    /// Nodes that sent an alias no birth explained, since the last `take_rebirths`.
    wanted: BTreeSet<(String, String)>,
    /// (subscription, `{group}/{node}`) -> seq of the node's last message.
    seq: BTreeMap<(String, String), u64>,
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct HostStateError {
    pub path: String,
    pub message: String,
}

pub fn key(group: &str, node: &str, device: Option<&str>) -> String {
    format!("{group}/{node}/{}", device.unwrap_or(""))
}

impl HostState {
    /// In memory only (tests).
    pub fn in_memory() -> HostState {
        HostState::default()
    }

    /// Load the state file; a missing file is an empty state. An unreadable one is an
    /// error naming the file (it is not overwritten: the daemon refuses to start).
    pub fn open(path: &Path) -> Result<HostState, HostStateError> {
        let err = |m: String| HostStateError { path: path.display().to_string(), message: m };
        let saved = match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| {
                err(format!("not a Sparkplug host state file ({e}); move it away to start with no learnt aliases"))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Saved::default(),
            Err(e) => return Err(err(e.to_string())),
        };
        Ok(HostState { saved, path: Some(path.to_path_buf()), ..Default::default() })
    }

    pub fn known_births(&self) -> usize {
        self.saved.births.len()
    }

    /// A birth: replaces what was known of this node or device.
    pub fn birth(&mut self, key: String, aliases: BTreeMap<u64, String>, datatypes: BTreeMap<String, u32>) {
        let points = self.saved.births.remove(&key).map(|b| b.points).unwrap_or_default();
        self.saved.births.insert(key, Born { aliases, datatypes, points });
        self.dirty = true;
    }

    pub fn set_bdseq(&mut self, group: &str, node: &str, bdseq: i64) {
        self.saved.bdseq.insert(format!("{group}/{node}"), bdseq);
        self.dirty = true;
    }

    pub fn bdseq(&self, group: &str, node: &str) -> Option<i64> {
        self.saved.bdseq.get(&format!("{group}/{node}")).copied()
    }

    pub fn get(&self, key: &str) -> Option<&Born> {
        self.saved.births.get(key)
    }

    /// Remember that `point` came from `key` through subscription `sub`.
    pub fn stored(&mut self, key: &str, sub: &str, point: &str) {
        let b = self.saved.births.entry(key.to_string()).or_default();
        let set = b.points.entry(sub.to_string()).or_default();
        if !set.contains(point) {
            set.insert(point.to_string());
            self.dirty = true;
        }
    }

    /// The points stored through `sub` from every key starting with `prefix`.
    pub fn points_under(&self, prefix: &str, sub: &str) -> Vec<String> {
        self.saved
            .births
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter_map(|(_, b)| b.points.get(sub))
            .flatten()
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    /// Check a message's seq against the node's previous one (through this subscription):
    /// an NBIRTH starts over; otherwise each message must be the previous + 1 (mod 256).
    /// Returns the expected seq when this one is not it (a message was lost or reordered).
    pub fn check_seq(&mut self, sub: &str, group: &str, node: &str, seq: u64, nbirth: bool) -> Option<u64> {
        let k = (sub.to_string(), format!("{group}/{node}"));
        let expected = self.seq.get(&k).map(|last| (last + 1) % 256);
        self.seq.insert(k, seq);
        match expected {
            Some(e) if !nbirth && e != seq => Some(e),
            _ => None,
        }
    }

    pub fn want_rebirth(&mut self, group: &str, node: &str) {
        self.wanted.insert((group.to_string(), node.to_string()));
    }

    /// The nodes to send a rebirth request to now (rate limited per node).
    pub fn take_rebirths(&mut self, now_ms: i64) -> Vec<(String, String)> {
        let wanted = std::mem::take(&mut self.wanted);
        let mut out = Vec::new();
        for (g, n) in wanted {
            let k = format!("{g}/{n}");
            if self.asked.get(&k).is_some_and(|t| now_ms - t < REBIRTH_EVERY_MS) {
                continue;
            }
            self.asked.insert(k, now_ms);
            out.push((g, n));
        }
        out
    }

    /// Write the state if it changed (temporary file, fsync, rename).
    pub fn save(&mut self) -> Result<(), HostStateError> {
        if !self.dirty {
            return Ok(());
        }
        let Some(path) = &self.path else {
            self.dirty = false;
            return Ok(());
        };
        let err = |m: String| HostStateError { path: path.display().to_string(), message: m };
        let tmp = path.with_extension("json.tmp");
        let bytes = serde_json::to_vec(&self.saved).map_err(|e| err(e.to_string()))?;
        (|| {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        })()
        .map_err(|e| err(e.to_string()))?;
        self.dirty = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_survives_a_reopen_and_rebirths_are_rate_limited() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sparkplug_host.json");
        let mut h = HostState::open(&path).unwrap();
        h.birth(key("G", "N", Some("D")), BTreeMap::from([(7, "T".to_string())]), BTreeMap::from([("T".into(), 2)]));
        h.set_bdseq("G", "N", 3);
        h.stored(&key("G", "N", Some("D")), "spBv1.0/G/#", "spb.T");
        h.save().unwrap();
        let h = HostState::open(&path).unwrap();
        let b = h.get(&key("G", "N", Some("D"))).unwrap();
        assert_eq!((b.aliases[&7].as_str(), b.datatypes["T"]), ("T", 2));
        assert_eq!(h.bdseq("G", "N"), Some(3));
        assert_eq!(h.points_under("G/N/", "spBv1.0/G/#"), vec!["spb.T".to_string()]);
        assert!(h.points_under("G/M/", "spBv1.0/G/#").is_empty());

        let mut h = h;
        h.want_rebirth("G", "N");
        assert_eq!(h.take_rebirths(1_000).len(), 1);
        h.want_rebirth("G", "N");
        assert!(h.take_rebirths(1_000 + REBIRTH_EVERY_MS - 1).is_empty());
        h.want_rebirth("G", "N");
        assert_eq!(h.take_rebirths(1_000 + REBIRTH_EVERY_MS), vec![("G".to_string(), "N".to_string())]);

        std::fs::write(&path, b"{not json").unwrap();
        let e = HostState::open(&path).unwrap_err();
        assert!(e.to_string().contains("sparkplug_host.json"), "{e}");
    }
}
