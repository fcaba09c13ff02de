//! ISO 10816-3:2009 (now ISO 20816-3:2022) evaluation zones of broadband RMS vibration
//! velocity, by machine group and foundation.
//!
//! Edge convention (recorded in the cited passages): a boundary value belongs to the higher
//! zone, e.g. group 2 rigid: A < 1.4 <= B < 2.8 <= C < 4.5 <= D (mm/s).
//! Hysteresis: while a finding is open the boundaries are 5 % lower, so a value hovering
//! at a boundary does not open and clear the finding over and over.
//! Status (criteria.md A2): group 2 rigid is V2 (verified); the other three are V1 and are
//! cited as secondary.

use super::evidence::gather;
use super::{cite, AbstainReason, CriterionInfo, DiagnoseError, FaultReport, Outcome, Severity, Text};
use crate::config::{Foundation, MachineGroup, VibrationConfig};
use crate::knowledge::{Citation, Library};
use crate::pipeline::AssetState;

pub const ID: &str = "iso10816_3.zone";
pub const ROLE: &str = "vib_velocity_rms";
pub const HYSTERESIS: f64 = 0.95;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Zone {
    A,
    B,
    C,
    D,
}

/// Zone boundaries A/B, B/C, C/D in mm/s (criteria.md A2).
pub fn boundaries(group: MachineGroup, foundation: Foundation) -> [f64; 3] {
    match (group, foundation) {
        (MachineGroup::Group1, Foundation::Rigid) => [2.3, 4.5, 7.1],
        (MachineGroup::Group1, Foundation::Flexible) => [3.5, 7.1, 11.0],
        (MachineGroup::Group2, Foundation::Rigid) => [1.4, 2.8, 4.5],
        (MachineGroup::Group2, Foundation::Flexible) => [2.3, 4.5, 7.1],
    }
}

/// The zone of a velocity, boundary values belonging to the higher zone.
pub fn zone(v: f64, b: [f64; 3]) -> Zone {
    if v < b[0] {
        Zone::A
    } else if v < b[1] {
        Zone::B
    } else if v < b[2] {
        Zone::C
    } else {
        Zone::D
    }
}

fn passage_id(group: MachineGroup, foundation: Foundation) -> &'static str {
    match (group, foundation) {
        (MachineGroup::Group1, Foundation::Rigid) => "iso10816-3.group1-rigid",
        (MachineGroup::Group1, Foundation::Flexible) => "iso10816-3.group1-flexible",
        (MachineGroup::Group2, Foundation::Rigid) => "iso10816-3.group2-rigid",
        (MachineGroup::Group2, Foundation::Flexible) => "iso10816-3.group2-flexible",
    }
}

pub struct VibrationZone {
    info: CriterionInfo,
    cfg: VibrationConfig,
    bounds: [f64; 3],
    citation: Citation,
}

impl VibrationZone {
    pub fn new(lib: &Library, cfg: VibrationConfig) -> Result<Self, DiagnoseError> {
        let citation = cite(lib, ID, passage_id(cfg.group, cfg.foundation))?;
        let group = match cfg.group {
            MachineGroup::Group1 => "group 1",
            MachineGroup::Group2 => "group 2",
        };
        let foundation = match cfg.foundation {
            Foundation::Rigid => "rigid",
            Foundation::Flexible => "flexible",
        };
        Ok(VibrationZone {
            info: CriterionInfo {
                id: ID.into(),
                version: "1".into(),
                title: format!("ISO 10816-3 vibration zone ({group}, {foundation} foundation)"),
                verification: citation.verification,
            },
            bounds: boundaries(cfg.group, cfg.foundation),
            cfg,
            citation,
        })
    }
}

impl super::Criterion for VibrationZone {
    fn info(&self) -> &CriterionInfo {
        &self.info
    }

    fn evaluate(&self, asset: &AssetState, now_ms: i64, open_code: Option<&str>) -> Outcome {
        let running_check = self.cfg.min_running_current_a.filter(|_| asset.role("motor_current").is_some());
        let roles: &[&str] = if running_check.is_some() { &[ROLE, "motor_current"] } else { &[ROLE] };
        let mut ev = match gather(asset, roles, now_ms) {
            Ok(ev) => ev,
            Err(abstain) => return abstain,
        };
        if let (Some(min), Some(current)) = (running_check, ev.value("motor_current")) {
            if current < min {
                ev.summary = format!("motor current {current:.2} A is below {min} A: machine taken as stopped");
                return Outcome::Abstain {
                    reason: AbstainReason::NotRunning,
                    detail: ev.summary.clone(),
                    evidence: ev,
                    citations: Vec::new(),
                };
            }
        }
        let v = ev.values[0].value;
        let bounds = if open_code.is_some() { self.bounds.map(|b| b * HYSTERESIS) } else { self.bounds };
        let z = zone(v, bounds);
        ev.derive("zone A/B boundary", bounds[0], "mm/s");
        ev.derive("zone B/C boundary", bounds[1], "mm/s");
        ev.derive("zone C/D boundary", bounds[2], "mm/s");
        let zname = format!("{z:?}");
        ev.summary = format!(
            "vibration velocity {v:.2} mm/s RMS is in zone {zname} (boundaries {:.2} / {:.2} / {:.2} mm/s{})",
            bounds[0],
            bounds[1],
            bounds[2],
            if open_code.is_some() { ", 5 % lower while the finding is open" } else { "" }
        );
        let (title, severity, action) = match z {
            Zone::A | Zone::B => {
                return Outcome::Normal {
                    evidence: ev,
                    note: Text::new(format!("zone {zname}: acceptable"), format!("{zname} 区：可接受")),
                }
            }
            Zone::C => (
                Text::new("Vibration in zone C: not acceptable for long-term operation", "振动处于 C 区：不宜长期连续运行"),
                Severity::Medium,
                Text::new(
                    "Plan corrective maintenance at the next opportunity: check bearings, alignment, balance and mounting; increase the monitoring frequency.",
                    "在最近的检修机会安排处理：检查轴承、对中、平衡及地脚紧固；提高监测频次。",
                ),
            ),
            Zone::D => (
                Text::new("Vibration in zone D: severe enough to damage the machine", "振动处于 D 区：足以损坏机器"),
                Severity::Critical,
                Text::new(
                    "Reduce load or stop the machine as soon as operations allow; inspect bearings and coupling before restarting.",
                    "在运行允许时尽快降负荷或停机；重新启动前检查轴承和联轴器。",
                ),
            ),
        };
        Outcome::Fault(FaultReport {
            code: format!("VIB.ISO10816_3.ZONE_{zname}"),
            title,
            severity,
            evidence: ev,
            citations: vec![self.citation.clone()],
            recommended_action: action,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Foundation::*;
    use MachineGroup::*;

    /// Every boundary of criteria.md A2, on both sides, for every group and foundation.
    #[test]
    fn band_edges() {
        let table = [
            (Group1, Rigid, [2.3, 4.5, 7.1]),
            (Group1, Flexible, [3.5, 7.1, 11.0]),
            (Group2, Rigid, [1.4, 2.8, 4.5]),
            (Group2, Flexible, [2.3, 4.5, 7.1]),
        ];
        for (g, f, want) in table {
            let b = boundaries(g, f);
            assert_eq!(b, want, "{g:?} {f:?}");
            let below = |x: f64| x - 1e-9;
            assert_eq!(zone(0.0, b), Zone::A);
            assert_eq!(zone(below(b[0]), b), Zone::A, "{g:?} {f:?} below A/B");
            assert_eq!(zone(b[0], b), Zone::B, "{g:?} {f:?} at A/B belongs to B");
            assert_eq!(zone(below(b[1]), b), Zone::B);
            assert_eq!(zone(b[1], b), Zone::C, "{g:?} {f:?} at B/C belongs to C");
            assert_eq!(zone(below(b[2]), b), Zone::C);
            assert_eq!(zone(b[2], b), Zone::D, "{g:?} {f:?} at C/D belongs to D");
            assert_eq!(zone(100.0, b), Zone::D);
        }
    }

    #[test]
    fn only_group2_rigid_is_verified() {
        let lib = Library::builtin().unwrap();
        for (g, f) in [(Group1, Rigid), (Group1, Flexible), (Group2, Rigid), (Group2, Flexible)] {
            let c = VibrationZone::new(&lib, VibrationConfig { group: g, foundation: f, min_running_current_a: None })
                .unwrap();
            let verified = c.citation.verification == crate::knowledge::Verification::Verified;
            assert_eq!(verified, (g, f) == (Group2, Rigid), "{g:?} {f:?}");
            assert!(c.citation.edge_convention.contains("higher zone"));
        }
    }
}
