//! The pipeline keeps, for every asset, the latest sample of each bound role and a bounded
//! window of recent samples. It is plain data: the daemon feeds it, diagnostics read it.

use crate::config::Config;
use crate::knowledge::classes::AssetClass;
use crate::sample::{PointId, Quality, Sample, WINDOW_CAPACITY};
use std::collections::{HashMap, VecDeque};

#[derive(Debug, Clone)]
pub struct RoleState {
    pub role: String,
    pub point: PointId,
    pub unit: String,
    window: VecDeque<Sample>,
}

impl RoleState {
    /// The most recent sample, of any quality.
    pub fn latest(&self) -> Option<&Sample> {
        self.window.back()
    }

    /// The last `n` samples, oldest first (fewer if fewer were received).
    pub fn last(&self, n: usize) -> impl Iterator<Item = &Sample> {
        self.window.iter().skip(self.window.len().saturating_sub(n))
    }

    pub fn len(&self) -> usize {
        self.window.len()
    }

    /// The last `n` samples if they can be used as evidence at `now_ms`: present, the newest
    /// no older than `stale_after_ms`, and all of good quality.
    pub fn good_window(&self, n: usize, now_ms: i64, stale_after_ms: u64) -> Result<Vec<&Sample>, WindowProblem> {
        let latest = self.latest().ok_or(WindowProblem::NoData)?;
        let age_ms = now_ms - latest.ts_ms;
        if age_ms > stale_after_ms as i64 {
            return Err(WindowProblem::Stale { age_ms, limit_ms: stale_after_ms });
        }
        let w: Vec<&Sample> = self.last(n).collect();
        if let Some(bad) = w.iter().rev().find(|s| !s.quality.is_good()) {
            return Err(WindowProblem::BadQuality { ts_ms: bad.ts_ms, quality: bad.quality });
        }
        if w.len() < n {
            return Err(WindowProblem::TooShort { have: w.len(), need: n });
        }
        Ok(w)
    }

    pub fn is_empty(&self) -> bool {
        self.window.is_empty()
    }
}

/// Why a role's recent samples cannot be used as evidence.
#[derive(Debug, Clone, PartialEq)]
pub enum WindowProblem {
    NoData,
    Stale { age_ms: i64, limit_ms: u64 },
    BadQuality { ts_ms: i64, quality: Quality },
    TooShort { have: usize, need: usize },
}

impl std::fmt::Display for WindowProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WindowProblem::NoData => write!(f, "no sample received yet"),
            WindowProblem::Stale { age_ms, limit_ms } => {
                write!(
                    f,
                    "newest sample is {:.1} s old (limit {:.1} s)",
                    *age_ms as f64 / 1000.0,
                    *limit_ms as f64 / 1000.0
                )
            }
            WindowProblem::BadQuality { ts_ms, quality } => {
                write!(f, "sample at {} has quality {}", crate::time::rfc3339(*ts_ms), quality.as_string())
            }
            WindowProblem::TooShort { have, need } => {
                write!(f, "{have} of the {need} samples needed so far")
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct AssetState {
    pub id: String,
    pub name: String,
    pub class: AssetClass,
    pub stale_after_ms: u64,
    pub roles: Vec<RoleState>,
}

impl AssetState {
    pub fn role(&self, name: &str) -> Option<&RoleState> {
        self.roles.iter().find(|r| r.role == name)
    }
}

#[derive(Debug)]
pub struct Pipeline {
    assets: Vec<AssetState>,
    /// point -> (asset index, role index); one point may feed several assets.
    routes: HashMap<PointId, Vec<(usize, usize)>>,
    capacity: usize,
}

impl Pipeline {
    pub fn new(config: &Config) -> Self {
        Self::with_capacity(config, WINDOW_CAPACITY)
    }

    pub fn with_capacity(config: &Config, capacity: usize) -> Self {
        let mut assets = Vec::new();
        let mut routes: HashMap<PointId, Vec<(usize, usize)>> = HashMap::new();
        for (a, asset) in config.assets.iter().enumerate() {
            let mut roles = Vec::new();
            // Roles in the class's order, so the API lists them predictably.
            for def in asset.class.roles() {
                let Some(point) = asset.roles.get(def.name) else {
                    continue;
                };
                let point: PointId = PointId::from(point.as_str());
                routes.entry(point.clone()).or_default().push((a, roles.len()));
                roles.push(RoleState {
                    role: def.name.to_string(),
                    unit: config.point_unit(&point).filter(|u| !u.is_empty()).unwrap_or(def.unit).to_string(),
                    point,
                    window: VecDeque::with_capacity(capacity),
                });
            }
            assets.push(AssetState {
                id: asset.id.clone(),
                name: if asset.name.is_empty() { asset.id.clone() } else { asset.name.clone() },
                class: asset.class,
                stale_after_ms: asset.stale_after_ms,
                roles,
            });
        }
        Pipeline { assets, routes, capacity: capacity.max(1) }
    }

    /// Route samples to the roles bound to their points. Samples of unbound points are
    /// stored by the daemon but not kept here. Returns how many samples were routed.
    pub fn ingest(&mut self, samples: &[Sample]) -> usize {
        let mut routed = 0;
        for s in samples {
            let Some(targets) = self.routes.get(&s.point) else {
                continue;
            };
            for &(a, r) in targets {
                let w = &mut self.assets[a].roles[r].window;
                if w.len() == self.capacity {
                    w.pop_front();
                }
                w.push_back(s.clone());
                routed += 1;
            }
        }
        routed
    }

    pub fn assets(&self) -> &[AssetState] {
        &self.assets
    }

    /// The (asset index, role index) pairs a point feeds.
    pub fn routes_of(&self, point: &crate::sample::PointId) -> &[(usize, usize)] {
        self.routes.get(point).map_or(&[], Vec::as_slice)
    }

    pub fn asset(&self, id: &str) -> Option<&AssetState> {
        self.assets.iter().find(|a| a.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const CFG: &str = r#"
[site]
id = "t"
[[sources.modbus]]
id = "d"
host = "127.0.0.1"
points = [
  { id = "a", register = "holding", address = 0, type = "u16", unit = "mm/s" },
  { id = "b", register = "holding", address = 1, type = "u16" },
]
[[assets]]
id = "P1"
class = "pump_skid"
vibration = { group = "group2", foundation = "rigid" }
roles = { vib_velocity_rms = "d.a", motor_current = "d.b" }
[[assets]]
id = "P2"
class = "pump_skid"
vibration = { group = "group2", foundation = "rigid" }
roles = { vib_velocity_rms = "d.a" }
"#;

    #[test]
    fn samples_reach_every_bound_role_and_windows_stay_bounded() {
        let cfg = Config::parse(Path::new("t.toml"), CFG).unwrap();
        let mut p = Pipeline::with_capacity(&cfg, 5);
        let a: PointId = "d.a".into();
        let unbound: PointId = "d.zz".into();
        for i in 0..12 {
            assert_eq!(p.ingest(&[Sample::good(a.clone(), i, i as f64), Sample::good(unbound.clone(), i, 0.0)]), 2);
        }
        for id in ["P1", "P2"] {
            let r = p.asset(id).unwrap().role("vib_velocity_rms").unwrap();
            assert_eq!(r.len(), 5);
            assert_eq!(r.latest().unwrap().value, Some(11.0));
            let last3: Vec<_> = r.last(3).map(|s| s.value.unwrap()).collect();
            assert_eq!(last3, vec![9.0, 10.0, 11.0]);
            assert_eq!(r.unit, "mm/s");
        }
        let r = p.asset("P1").unwrap().role("vib_velocity_rms").unwrap();
        assert!(r.good_window(5, 11, 1000).is_ok());
        assert_eq!(r.good_window(6, 11, 1000), Err(WindowProblem::TooShort { have: 5, need: 6 }));
        assert_eq!(r.good_window(5, 2000, 1000), Err(WindowProblem::Stale { age_ms: 1989, limit_ms: 1000 }));
        p.ingest(&[Sample::bad(a.clone(), 12, Quality::CommError)]);
        let r = p.asset("P1").unwrap().role("vib_velocity_rms").unwrap();
        assert_eq!(
            r.good_window(3, 12, 1000),
            Err(WindowProblem::BadQuality { ts_ms: 12, quality: Quality::CommError })
        );
        // Unit falls back to the class's unit when the point has none.
        assert_eq!(p.asset("P1").unwrap().role("motor_current").unwrap().unit, "A");
        assert!(p.asset("P1").unwrap().role("motor_current").unwrap().is_empty());
    }
}
