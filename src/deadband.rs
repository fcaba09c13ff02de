//! Deadband: which samples are worth storing. The pipeline sees every sample; the store
//! gets a point's sample only when its quality changed, its value moved by more than the
//! point's absolute or percentage deadband since the last stored one, or 60 s passed.
//! Points without a deadband are always stored.
//!
//! A finding may cite a sample the deadband held back (the pipeline's newest): the daemon
//! then stores it with the finding ([`Deadband::release`]), so every value a stored
//! finding cites is in the sample history.

use crate::config::Config;
use crate::sample::{PointId, Quality, Sample};
use std::collections::HashMap;

/// An unchanged value is still stored this often, so history and retention stay sound.
pub const MAX_SILENCE_MS: i64 = 60_000;

#[derive(Debug, Clone, Copy)]
struct Rule {
    abs: Option<f64>,
    pct: Option<f64>,
}

/// The last sample kept of a point: value, quality, time and text.
type LastKept = (Option<f64>, Quality, i64, Option<std::sync::Arc<str>>);

#[derive(Debug, Default)]
pub struct Deadband {
    rules: HashMap<PointId, Rule>,
    last: HashMap<PointId, LastKept>,
    /// Each point's newest sample held back, until a later one is stored or it is released.
    held: HashMap<PointId, Sample>,
    /// Samples not stored because they fell inside their deadband.
    pub suppressed: u64,
}

impl Deadband {
    pub fn new(config: &Config) -> Self {
        let mut rules = HashMap::new();
        for d in &config.sources.modbus {
            for p in d.points.iter().filter(|p| p.deadband_abs.is_some() || p.deadband_pct.is_some()) {
                rules.insert(
                    PointId::from(format!("{}.{}", d.id, p.id)),
                    Rule { abs: p.deadband_abs, pct: p.deadband_pct },
                );
            }
        }
        Deadband { rules, ..Default::default() }
    }

    fn keep(&mut self, s: &Sample) -> bool {
        let Some(rule) = self.rules.get(&s.point) else { return true };
        let keep = match self.last.get(&s.point) {
            None => true,
            Some((last_value, last_quality, last_ts, last_text)) => {
                s.quality != *last_quality
                    || s.text != *last_text
                    || s.ts_ms - last_ts >= MAX_SILENCE_MS
                    || match (s.value, last_value) {
                        (Some(v), Some(l)) => {
                            let d = (v - l).abs();
                            rule.abs.is_some_and(|a| d > a) || rule.pct.is_some_and(|p| d > l.abs() * p / 100.0)
                        }
                        (a, b) => a.is_some() != b.is_some(),
                    }
            }
        };
        if keep {
            self.last.insert(s.point.clone(), (s.value, s.quality, s.ts_ms, s.text.clone()));
            self.held.remove(&s.point);
        } else {
            self.suppressed += 1;
            self.held.insert(s.point.clone(), s.clone());
        }
        keep
    }

    /// The newest sample of `point` held back (the one the pipeline and so a finding sees),
    /// now to be stored: it becomes the point's last stored sample. None when the newest
    /// was stored.
    pub fn release(&mut self, point: &str) -> Option<Sample> {
        let s = self.held.remove(point)?;
        self.last.insert(s.point.clone(), (s.value, s.quality, s.ts_ms, s.text.clone()));
        Some(s)
    }

    /// The samples of `batch` to store.
    pub fn filter<'a>(&mut self, batch: &'a [Sample]) -> Vec<&'a Sample> {
        batch.iter().filter(|s| self.keep(s)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn only_changes_beyond_the_deadband_quality_changes_and_heartbeats_are_stored() {
        let cfg = Config::parse(
            Path::new("t.toml"),
            r#"
[site]
id = "t"
[[sources.modbus]]
id = "d"
host = "h"
points = [
  { id = "abs", register = "holding", address = 0, type = "u16", deadband_abs = 0.5 },
  { id = "pct", register = "holding", address = 1, type = "u16", deadband_pct = 10.0 },
  { id = "all", register = "holding", address = 2, type = "u16" },
]
"#,
        )
        .unwrap();
        let mut db = Deadband::new(&cfg);
        let s = |p: &str, ts: i64, v: f64| Sample::good(format!("d.{p}").into(), ts, v);
        let stored =
            |db: &mut Deadband, batch: Vec<Sample>| db.filter(&batch).iter().map(|s| s.ts_ms).collect::<Vec<_>>();
        // abs 0.5: 10.0 stored; 10.4 and 10.5 not (not more than 0.5); 10.6 stored; then relative to 10.6.
        let seq = vec![s("abs", 0, 10.0), s("abs", 1, 10.4), s("abs", 2, 10.5), s("abs", 3, 10.6), s("abs", 4, 10.2)];
        assert_eq!(stored(&mut db, seq), [0, 3]);
        // pct 10 %: 100 stored; 109 not; 111 stored.
        assert_eq!(stored(&mut db, vec![s("pct", 0, 100.0), s("pct", 1, 109.0), s("pct", 2, 111.0)]), [0, 2]);
        // A quality change is always stored, and so is the recovery.
        let bad = Sample::bad("d.abs".into(), 5, Quality::CommError);
        assert_eq!(stored(&mut db, vec![bad, s("abs", 6, 10.6)]), [5, 6]);
        // An unchanged value is stored again after MAX_SILENCE_MS.
        assert_eq!(
            stored(&mut db, vec![s("abs", 6 + MAX_SILENCE_MS - 1, 10.6), s("abs", 6 + MAX_SILENCE_MS, 10.6)]),
            [6 + MAX_SILENCE_MS]
        );
        // Points without a deadband: everything.
        assert_eq!(stored(&mut db, vec![s("all", 0, 1.0), s("all", 1, 1.0)]), [0, 1]);
        assert_eq!(db.suppressed, 5);

        // Issue 18: a finding citing a held-back sample gets it released for the store; it
        // is then the last stored one, so the deadband measures from it.
        assert_eq!(stored(&mut db, vec![s("abs", 100_000, 20.0), s("abs", 100_001, 20.4)]), [100_000]);
        let r = db.release("d.abs").expect("held back");
        assert_eq!((r.ts_ms, r.value), (100_001, Some(20.4)));
        assert!(db.release("d.abs").is_none(), "released once");
        // 20.8 is within 0.5 of the released 20.4 (not of the stored 20.0): held back.
        assert_eq!(stored(&mut db, vec![s("abs", 100_002, 20.8), s("abs", 100_003, 21.0)]), [100_003]);
        // A sample stored after a held one: nothing is held for the point any more.
        assert!(db.release("d.abs").is_none());
        assert!(db.release("d.all").is_none(), "points without a deadband hold nothing");
    }
}
