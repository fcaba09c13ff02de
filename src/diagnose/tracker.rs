//! Finding life cycle with hysteresis: a finding opens after `open_after` consecutive fault
//! outcomes, changes code only after the new code was seen `open_after` times in a row,
//! clears after `clear_after` consecutive normal outcomes. Abstentions that are not
//! themselves evidence of normality hold the state: nothing opens or clears on bad data.
//! One open finding per (asset, criterion): findings are deduplicated by construction.

use super::{Evidence, FaultReport, Outcome, Severity};
use std::collections::HashMap;

/// How often the evidence of an unchanged open finding is refreshed in the store.
pub const REFRESH_MS: i64 = 10_000;

#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    Opened(FaultReport),
    /// The open finding's code or severity changed.
    Changed(FaultReport),
    /// Same code and severity; newer evidence.
    Refreshed(FaultReport),
    Cleared(Evidence),
}

#[derive(Debug, Default)]
struct Track {
    open: Option<(String, Severity)>,
    fault_streak: u32,
    normal_streak: u32,
    /// A different code seen while open, and for how many evaluations in a row.
    pending: Option<(String, u32)>,
    last_refresh_ms: i64,
}

#[derive(Debug)]
pub struct Tracker {
    open_after: u32,
    clear_after: u32,
    tracks: HashMap<(String, String), Track>,
}

impl Tracker {
    pub fn new(open_after: u32, clear_after: u32) -> Self {
        Tracker { open_after: open_after.max(1), clear_after: clear_after.max(1), tracks: HashMap::new() }
    }

    /// Resume an open finding loaded from the store at start-up.
    pub fn restore(&mut self, asset: &str, criterion: &str, code: &str, severity: Severity, now_ms: i64) {
        let t = self.tracks.entry((asset.into(), criterion.into())).or_default();
        t.open = Some((code.into(), severity));
        t.last_refresh_ms = now_ms;
    }

    /// The highest severity among open findings.
    pub fn worst_open(&self) -> Option<Severity> {
        self.tracks.values().filter_map(|t| t.open.as_ref().map(|(_, s)| *s)).max()
    }

    pub fn open_code(&self, asset: &str, criterion: &str) -> Option<String> {
        self.tracks.get(&(asset.to_string(), criterion.to_string()))?.open.as_ref().map(|(c, _)| c.clone())
    }

    pub fn observe(&mut self, asset: &str, criterion: &str, outcome: &Outcome, now_ms: i64) -> Option<Transition> {
        let (open_after, clear_after) = (self.open_after, self.clear_after);
        let t = self.tracks.entry((asset.into(), criterion.into())).or_default();
        let normal_evidence = match outcome {
            Outcome::Fault(report) => {
                t.fault_streak += 1;
                t.normal_streak = 0;
                let Some((code, severity)) = t.open.clone() else {
                    if t.fault_streak >= open_after {
                        t.open = Some((report.code.clone(), report.severity));
                        t.last_refresh_ms = now_ms;
                        t.pending = None;
                        return Some(Transition::Opened(report.clone()));
                    }
                    return None;
                };
                if report.code != code || report.severity != severity {
                    let n = match &t.pending {
                        Some((c, n)) if *c == report.code => n + 1,
                        _ => 1,
                    };
                    if n >= open_after {
                        t.open = Some((report.code.clone(), report.severity));
                        t.pending = None;
                        t.last_refresh_ms = now_ms;
                        return Some(Transition::Changed(report.clone()));
                    }
                    t.pending = Some((report.code.clone(), n));
                    return None;
                }
                t.pending = None;
                if now_ms - t.last_refresh_ms >= REFRESH_MS {
                    t.last_refresh_ms = now_ms;
                    return Some(Transition::Refreshed(report.clone()));
                }
                return None;
            }
            Outcome::Normal { evidence, .. } => evidence,
            Outcome::Abstain { reason, evidence, .. } if reason.counts_as_normal() => evidence,
            Outcome::Abstain { .. } => {
                // No judgement possible: hold the state, restart both streaks.
                t.fault_streak = 0;
                t.normal_streak = 0;
                t.pending = None;
                return None;
            }
        };
        t.fault_streak = 0;
        t.pending = None;
        t.normal_streak += 1;
        if t.open.is_some() && t.normal_streak >= clear_after {
            t.open = None;
            return Some(Transition::Cleared(normal_evidence.clone()));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::{AbstainReason, Text};

    fn fault(code: &str, sev: Severity) -> Outcome {
        Outcome::Fault(FaultReport {
            code: code.into(),
            title: Text::new("t", "t"),
            severity: sev,
            evidence: Evidence::default(),
            citations: vec![],
            recommended_action: Text::new("a", "a"),
        })
    }
    fn normal() -> Outcome {
        Outcome::Normal { evidence: Evidence::default(), note: Text::new("", "") }
    }
    fn abstain(reason: AbstainReason) -> Outcome {
        Outcome::Abstain { reason, detail: Text::new("", ""), evidence: Evidence::default(), citations: vec![] }
    }
    fn kind(t: &Option<Transition>) -> &'static str {
        match t {
            None => "-",
            Some(Transition::Opened(_)) => "open",
            Some(Transition::Changed(_)) => "change",
            Some(Transition::Refreshed(_)) => "refresh",
            Some(Transition::Cleared(_)) => "clear",
        }
    }

    fn run(tr: &mut Tracker, seq: &[Outcome]) -> Vec<&'static str> {
        seq.iter().enumerate().map(|(i, o)| kind(&tr.observe("A", "c", o, i as i64))).collect()
    }

    #[test]
    fn opens_after_n_faults_and_clears_after_m_normals() {
        let mut tr = Tracker::new(3, 2);
        let f = fault("X", Severity::High);
        let seq = [f.clone(), f.clone(), f.clone(), f.clone(), normal(), normal(), normal()];
        assert_eq!(run(&mut tr, &seq), ["-", "-", "open", "-", "-", "clear", "-"]);
        assert_eq!(tr.open_code("A", "c"), None);
    }

    #[test]
    fn alternating_evidence_never_flaps() {
        let mut tr = Tracker::new(3, 3);
        let f = fault("X", Severity::High);
        let seq: Vec<Outcome> = (0..20).map(|i| if i % 2 == 0 { f.clone() } else { normal() }).collect();
        assert!(run(&mut tr, &seq).iter().all(|k| *k == "-"));
    }

    #[test]
    fn bad_data_holds_the_state_and_restarts_the_count() {
        let mut tr = Tracker::new(2, 2);
        let f = fault("X", Severity::High);
        let stale = abstain(AbstainReason::Stale);
        let seq = [
            f.clone(),
            stale.clone(),
            f.clone(),
            f.clone(),
            stale.clone(),
            stale.clone(),
            stale.clone(),
            normal(),
            stale,
            normal(),
            normal(),
        ];
        assert_eq!(run(&mut tr, &seq), ["-", "-", "-", "open", "-", "-", "-", "-", "-", "-", "clear"]);
    }

    #[test]
    fn below_applicability_counts_towards_clearing() {
        let mut tr = Tracker::new(1, 2);
        let below = abstain(AbstainReason::BelowApplicability);
        assert_eq!(run(&mut tr, &[fault("X", Severity::Low), below.clone(), below]), ["open", "-", "clear"]);
    }

    #[test]
    fn code_changes_are_debounced_and_refreshes_are_rate_limited() {
        let mut tr = Tracker::new(2, 2);
        let t2 = fault("T2", Severity::High);
        let t3 = fault("T3", Severity::High);
        assert_eq!(
            run(&mut tr, &[t2.clone(), t2.clone(), t3.clone(), t2.clone(), t3.clone(), t3.clone()]),
            ["-", "open", "-", "-", "-", "change"]
        );
        assert_eq!(tr.open_code("A", "c").as_deref(), Some("T3"));
        assert_eq!(kind(&tr.observe("A", "c", &t3, 5 + REFRESH_MS - 1)), "-");
        assert_eq!(kind(&tr.observe("A", "c", &t3, 5 + REFRESH_MS)), "refresh");
    }

    #[test]
    fn worst_open_severity_drives_the_alarms() {
        let mut tr = Tracker::new(1, 1);
        assert_eq!(tr.worst_open(), None);
        tr.observe("A", "c1", &fault("X", Severity::Medium), 0);
        tr.observe("B", "c2", &fault("Y", Severity::Critical), 0);
        assert_eq!(tr.worst_open(), Some(Severity::Critical));
        tr.observe("B", "c2", &normal(), 1);
        assert_eq!(tr.worst_open(), Some(Severity::Medium));
    }

    #[test]
    fn restored_findings_clear_without_reopening() {
        let mut tr = Tracker::new(3, 1);
        tr.restore("A", "c", "X", Severity::High, 0);
        assert_eq!(tr.open_code("A", "c").as_deref(), Some("X"));
        assert_eq!(run(&mut tr, &[normal()]), ["clear"]);
    }
}
