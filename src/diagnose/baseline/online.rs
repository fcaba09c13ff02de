//! Baselines bound to assets: learning from the pipeline's windows, the state each baseline is
//! in (learning, ready, stale) and what the store keeps of it. The registry outlives a
//! Diagnoser rebuilt on SIGHUP; the daemon persists what changed after each evaluation pass
//! and restores it at start, so a learned baseline survives a restart.

use crate::baseline::{fit, FeatureKind, FitError, FitOptions, Fitted, OutOfDomain, Score};
use crate::config::{AssetConfig, Config};
use crate::pipeline::{AssetState, WindowProblem};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};

/// How often a learning baseline's progress is written to the store.
pub const PROGRESS_EVERY_MS: i64 = 10_000;

/// A baseline as configured on one asset.
#[derive(Debug, Clone)]
pub struct Spec {
    pub asset: String,
    pub name: String,
    pub signals: Vec<(String, FeatureKind)>,
    pub window: usize,
    pub learn_samples: Option<usize>,
    pub learn_ms: Option<i64>,
    pub running: Option<(String, f64)>,
    pub fit: FitOptions,
    pub stale_after_ms: Option<i64>,
}

impl Spec {
    pub fn new(asset: &AssetConfig, b: &crate::config::BaselineConfig) -> Spec {
        Spec {
            asset: asset.id.clone(),
            name: b.name.clone(),
            signals: b.kinds(asset),
            window: b.window,
            learn_samples: b.learn.samples,
            learn_ms: b.learn_ms(),
            running: b.running_rule(asset).map(|r| (r.role, r.min)),
            fit: FitOptions { confidence: b.confidence, variance: b.variance, limits: b.limits },
            stale_after_ms: b.stale_after_days.map(|d| (d * 86_400_000.0) as i64),
        }
    }

    /// What a learned baseline depends on: a stored one with another fingerprint is re-learned.
    pub fn fingerprint(&self) -> String {
        let sig: Vec<String> = self.signals.iter().map(|(s, k)| format!("{s}:{}", k.as_str())).collect();
        format!(
            "signals={};window={};confidence={};variance={};limits={:?}",
            sig.join(","),
            self.window,
            self.fit.confidence,
            self.fit.variance,
            self.fit.limits
        )
    }

    pub fn criterion_id(&self) -> String {
        format!("baseline.{}", self.name)
    }

    /// "600 samples" or "10m" of learning.
    pub fn learn_text(&self) -> String {
        match (self.learn_samples, self.learn_ms) {
            (Some(n), _) => format!("{n} samples"),
            (None, Some(ms)) => humantime::format_duration(std::time::Duration::from_millis(ms as u64)).to_string(),
            _ => "-".into(),
        }
    }
}

/// A learned baseline: the fitted model, the time range and the sample count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Learned {
    pub fitted: Fitted,
    pub from_ms: i64,
    pub to_ms: i64,
    pub samples: usize,
}

#[derive(Debug, Clone)]
enum Phase {
    Learning { started_ms: i64, rows: Vec<Vec<f64>>, first_ms: Option<i64>, last_ms: Option<i64> },
    Ready(Arc<Learned>),
}

#[derive(Debug)]
struct State {
    phase: Phase,
    /// Newest sample time used for the last learning row (a new row needs newer samples).
    last_row_ts: i64,
    dirty: bool,
    last_saved_ms: i64,
    /// Why the last fit failed, shown while learning again.
    last_error: Option<String>,
}

/// One asset's baseline with its state.
#[derive(Debug)]
pub struct Entry {
    pub spec: Spec,
    state: Mutex<State>,
}

/// The state the store keeps and the API shows.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Snapshot {
    pub asset: String,
    pub name: String,
    pub criterion: String,
    /// `learning`, `ready` or `stale`.
    pub state: String,
    pub fingerprint: String,
    pub learn_started_ms: i64,
    /// Learning progress: rows so far and the target (`samples`) or duration in ms.
    pub progress: usize,
    pub learn: String,
    /// `stale_after_days` in ms, when set.
    pub stale_after_ms: Option<i64>,
    #[serde(skip)]
    pub learned: Option<Arc<Learned>>,
    pub last_error: Option<String>,
}

/// What one evaluation of a baseline saw.
#[derive(Debug)]
pub enum Observation {
    /// A role's window cannot be used (no data, stale, bad quality, too short).
    Window {
        role: String,
        problem: WindowProblem,
    },
    /// The running rule says the machine is stopped.
    NotRunning {
        role: String,
        value: f64,
        min: f64,
    },
    Learning {
        have: usize,
        started_ms: i64,
        target: String,
        last_error: Option<String>,
    },
    /// Ready but older than `stale_after_days`.
    Stale {
        learned: Arc<Learned>,
    },
    OutOfDomain {
        learned: Arc<Learned>,
        x: Vec<f64>,
        signals: Vec<OutOfDomain>,
    },
    Scored {
        learned: Arc<Learned>,
        x: Vec<f64>,
        score: Score,
    },
}

impl Entry {
    fn new(spec: Spec, now_ms: i64) -> Entry {
        Entry {
            spec,
            state: Mutex::new(State {
                phase: Phase::Learning { started_ms: now_ms, rows: Vec::new(), first_ms: None, last_ms: None },
                last_row_ts: i64::MIN,
                dirty: true,
                last_saved_ms: i64::MIN,
                last_error: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The feature vector at `now_ms` and the newest sample time, or why not.
    fn features(&self, asset: &AssetState, now_ms: i64) -> Result<(Vec<f64>, i64), Observation> {
        let mut x = Vec::with_capacity(self.spec.signals.len());
        let mut newest = i64::MIN;
        for (role, kind) in &self.spec.signals {
            let w = asset
                .role(role)
                .ok_or(WindowProblem::NoData)
                .and_then(|r| r.good_window(self.spec.window, now_ms, asset.stale_after_ms))
                .map_err(|problem| Observation::Window { role: role.clone(), problem })?;
            let pts: Vec<(f64, f64)> =
                w.iter().map(|s| (s.ts_ms as f64 / 1000.0, s.value.unwrap_or(f64::NAN))).collect();
            newest = newest.max(w.last().map(|s| s.ts_ms).unwrap_or(i64::MIN));
            x.push(kind.compute(&pts));
        }
        Ok((x, newest))
    }

    /// Evaluate at `now_ms`: learn from the window while learning, score it when ready.
    pub fn observe(&self, asset: &AssetState, now_ms: i64) -> Observation {
        if let Some((role, min)) = &self.spec.running {
            let latest = asset
                .role(role)
                .ok_or(WindowProblem::NoData)
                .and_then(|r| r.good_window(1, now_ms, asset.stale_after_ms))
                .map_err(|problem| Observation::Window { role: role.clone(), problem });
            match latest {
                Err(o) => return o,
                Ok(w) => match w[0].value {
                    Some(v) if v >= *min => {}
                    v => {
                        return Observation::NotRunning { role: role.clone(), value: v.unwrap_or(f64::NAN), min: *min }
                    }
                },
            }
        }
        let (x, newest) = match self.features(asset, now_ms) {
            Ok(v) => v,
            Err(o) => return o,
        };
        let mut st = self.lock();
        let st = &mut *st;
        match &mut st.phase {
            Phase::Ready(l) => {
                let l = l.clone();
                if self.spec.stale_after_ms.is_some_and(|max| now_ms - l.to_ms > max) {
                    return Observation::Stale { learned: l };
                }
                let ood = l.fitted.out_of_domain(&x);
                if !ood.is_empty() {
                    return Observation::OutOfDomain { learned: l, x, signals: ood };
                }
                let score = l.fitted.score(&x);
                Observation::Scored { learned: l, x, score }
            }
            Phase::Learning { started_ms, rows, first_ms, last_ms } => {
                if newest > st.last_row_ts && x.iter().all(|v| v.is_finite()) {
                    st.last_row_ts = newest;
                    rows.push(x);
                    first_ms.get_or_insert(now_ms);
                    *last_ms = Some(now_ms);
                }
                let done = match (self.spec.learn_samples, self.spec.learn_ms, *first_ms, *last_ms) {
                    (Some(n), _, _, _) => rows.len() >= n,
                    (None, Some(ms), Some(a), Some(b)) => {
                        b - a >= ms
                            && rows.len()
                                >= crate::baseline::min_learning_samples(self.spec.signals.len(), self.spec.window)
                    }
                    _ => false,
                };
                let started = *started_ms;
                if done {
                    let (from, to) = (first_ms.unwrap_or(now_ms), last_ms.unwrap_or(now_ms));
                    match fit(&self.spec.signals, rows, self.spec.fit) {
                        Ok(fitted) => {
                            let learned = Arc::new(Learned { fitted, from_ms: from, to_ms: to, samples: rows.len() });
                            tracing::info!(asset = %self.spec.asset, baseline = %self.spec.name, samples = learned.samples,
                                components = learned.fitted.components, t2_limit = learned.fitted.t2_limit,
                                q_limit = learned.fitted.q_limit, "baseline learned");
                            st.phase = Phase::Ready(learned.clone());
                            st.dirty = true;
                            st.last_error = None;
                            return Observation::Learning {
                                have: learned.samples,
                                started_ms: started,
                                target: self.spec.learn_text(),
                                last_error: None,
                            };
                        }
                        Err(e) => {
                            tracing::warn!(asset = %self.spec.asset, baseline = %self.spec.name, error = %e,
                                "baseline fit failed; learning again");
                            st.last_error = Some(fit_error_text(&e));
                            st.phase =
                                Phase::Learning { started_ms: now_ms, rows: Vec::new(), first_ms: None, last_ms: None };
                            st.dirty = true;
                            return Observation::Learning {
                                have: 0,
                                started_ms: now_ms,
                                target: self.spec.learn_text(),
                                last_error: st.last_error.clone(),
                            };
                        }
                    }
                }
                let have = rows.len();
                if now_ms.saturating_sub(st.last_saved_ms) >= PROGRESS_EVERY_MS {
                    st.dirty = true;
                }
                Observation::Learning {
                    have,
                    started_ms: started,
                    target: self.spec.learn_text(),
                    last_error: st.last_error.clone(),
                }
            }
        }
    }

    /// Forget what was learned and learn again from `now_ms`.
    pub fn relearn(&self, now_ms: i64) {
        let mut st = self.lock();
        st.phase = Phase::Learning { started_ms: now_ms, rows: Vec::new(), first_ms: None, last_ms: None };
        st.last_row_ts = i64::MIN;
        st.dirty = true;
        st.last_error = None;
    }

    pub fn snapshot(&self, now_ms: i64) -> Snapshot {
        let st = self.lock();
        let (state, started, progress, learned) = match &st.phase {
            Phase::Learning { started_ms, rows, .. } => ("learning", *started_ms, rows.len(), None),
            Phase::Ready(l) => {
                let stale = self.spec.stale_after_ms.is_some_and(|max| now_ms - l.to_ms > max);
                (if stale { "stale" } else { "ready" }, l.from_ms, l.samples, Some(l.clone()))
            }
        };
        Snapshot {
            asset: self.spec.asset.clone(),
            name: self.spec.name.clone(),
            criterion: self.spec.criterion_id(),
            state: state.into(),
            fingerprint: self.spec.fingerprint(),
            learn_started_ms: started,
            progress,
            learn: self.spec.learn_text(),
            stale_after_ms: self.spec.stale_after_ms,
            learned,
            last_error: st.last_error.clone(),
        }
    }
}

fn fit_error_text(e: &FitError) -> String {
    format!("the last learning window could not be fitted: {e}")
}

/// Every configured baseline of every asset.
#[derive(Debug, Default)]
pub struct Registry {
    entries: Vec<Arc<Entry>>,
    /// (asset, criterion id, reason) of baselines that cannot run: roles not bound.
    pub disabled: Vec<(String, String, String)>,
}

/// A baseline as the store holds it.
#[derive(Debug, Clone)]
pub struct Stored {
    pub asset: String,
    pub name: String,
    pub fingerprint: String,
    pub learn_started_ms: i64,
    pub learned: Option<Learned>,
}

impl Registry {
    pub fn from_config(config: &Config, now_ms: i64) -> Registry {
        let mut reg = Registry::default();
        for a in &config.assets {
            for b in &a.baselines {
                let spec = Spec::new(a, b);
                let mut roles: Vec<&str> = spec.signals.iter().map(|(r, _)| r.as_str()).collect();
                roles.extend(spec.running.iter().map(|(r, _)| r.as_str()));
                let unbound: Vec<&str> = roles.into_iter().filter(|r| !a.roles.contains_key(*r)).collect();
                if unbound.is_empty() {
                    reg.entries.push(Arc::new(Entry::new(spec, now_ms)));
                } else {
                    reg.disabled.push((
                        a.id.clone(),
                        spec.criterion_id(),
                        format!("roles not bound: {}", unbound.join(", ")),
                    ));
                }
            }
        }
        reg
    }

    pub fn entries(&self) -> &[Arc<Entry>] {
        &self.entries
    }

    pub fn entry(&self, asset: &str, name: &str) -> Option<&Arc<Entry>> {
        self.entries.iter().find(|e| e.spec.asset == asset && e.spec.name == name)
    }

    /// Take over what the store kept. A learned baseline whose fingerprint no longer matches
    /// the config (other signals, window, features or limits) is learned again, with a log
    /// line saying so; a baseline that was learning starts its learning again.
    pub fn restore(&self, stored: Vec<Stored>, now_ms: i64) {
        for s in stored {
            let Some(e) = self.entry(&s.asset, &s.name) else { continue };
            let mut st = e.lock();
            match s.learned {
                Some(l) if s.fingerprint == e.spec.fingerprint() && l.fitted.signals.len() == e.spec.signals.len() => {
                    tracing::info!(asset = %s.asset, baseline = %s.name, samples = l.samples,
                        from = %crate::time::rfc3339(l.from_ms), to = %crate::time::rfc3339(l.to_ms), "baseline restored");
                    st.phase = Phase::Ready(Arc::new(l));
                    st.dirty = false;
                    st.last_saved_ms = now_ms;
                }
                Some(_) => {
                    tracing::warn!(asset = %s.asset, baseline = %s.name, stored = %s.fingerprint, config = %e.spec.fingerprint(),
                        "baseline config changed since it was learned; learning again");
                }
                None => {
                    tracing::info!(asset = %s.asset, baseline = %s.name, "baseline was learning at shutdown; learning again");
                }
            }
        }
    }

    /// Snapshots of the baselines whose state changed (or whose learning progress is due),
    /// marking them saved.
    pub fn take_dirty(&self, now_ms: i64) -> Vec<Snapshot> {
        let mut out = Vec::new();
        for e in &self.entries {
            let due = {
                let mut st = e.lock();
                let d = st.dirty;
                if d {
                    st.dirty = false;
                    st.last_saved_ms = now_ms;
                }
                d
            };
            if due {
                out.push(e.snapshot(now_ms));
            }
        }
        out
    }

    /// Re-learn `asset`'s baseline `name`; false when there is none.
    pub fn relearn(&self, asset: &str, name: &str, now_ms: i64) -> bool {
        match self.entry(asset, name) {
            Some(e) => {
                e.relearn(now_ms);
                tracing::warn!(asset, baseline = name, "baseline re-learn: learning again from now");
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Pipeline;
    use crate::sample::{PointId, Sample};
    use std::path::Path;

    const CFG: &str = r#"
[site]
id = "t"
[[sources.modbus]]
id = "d"
host = "127.0.0.1"
points = [
  { id = "q", register = "holding", address = 0, type = "f32", unit = "l/min" },
  { id = "i", register = "holding", address = 2, type = "f32", unit = "A" },
  { id = "t", register = "holding", address = 4, type = "f32", unit = "°C" },
]
[[assets]]
id = "P1"
class = "pump_skid"
vibration = { group = "group2", foundation = "rigid", min_running_current_a = 0.5 }
roles = { flow = "d.q", motor_current = "d.i", motor_temp = "d.t" }
[[assets.baselines]]
name = "skid"
signals = ["flow", "motor_current", "motor_temp"]
window = 3
learn = { samples = 40 }
"#;

    fn feed(p: &mut Pipeline, ts: i64, q: f64, i: f64, t: f64) {
        let s = |id: &str, v: f64| Sample::good(PointId::from(id), ts, v);
        p.ingest(&[s("d.q", q), s("d.i", i), s("d.t", t)]);
    }

    #[test]
    fn learns_from_running_good_windows_then_scores() {
        let cfg = Config::parse(Path::new("t.toml"), CFG).unwrap();
        let reg = Registry::from_config(&cfg, 0);
        let e = reg.entry("P1", "skid").unwrap().clone();
        assert_eq!(e.spec.signals[2].1, FeatureKind::Rate, "°C role learns its rate");
        assert_eq!(e.spec.running, Some(("motor_current".into(), 0.5)), "running rule from vibration");
        let mut p = Pipeline::new(&cfg);
        let mut g = crate::baseline::tests::Gauss::new(9);
        let mut ts = 0;
        // Stopped: not running, nothing learned.
        for _ in 0..5 {
            ts += 1000;
            feed(&mut p, ts, 0.0, 0.1, 20.0);
            assert!(matches!(e.observe(p.asset("P1").unwrap(), ts), Observation::NotRunning { .. }));
        }
        for k in 0..60 {
            ts += 1000;
            let f = g.next();
            feed(&mut p, ts, 120.0 + 2.0 * f + g.next(), 3.0 + 0.05 * f + 0.02 * g.next(), 60.0 + 0.01 * k as f64);
            let o = e.observe(p.asset("P1").unwrap(), ts);
            if k < 39 {
                assert!(matches!(o, Observation::Learning { have, .. } if have == k + 1), "{k}: {o:?}");
            }
        }
        let snap = e.snapshot(ts);
        assert_eq!((snap.state.as_str(), snap.progress), ("ready", 40));
        let l = snap.learned.unwrap();
        assert_eq!(l.samples, 40);
        assert!(l.from_ms < l.to_ms && l.to_ms <= ts);
        // The learned state is saved once.
        assert_eq!(reg.take_dirty(ts).len(), 1);
        assert!(reg.take_dirty(ts).is_empty());
        // Scored; a flow drop is a departure.
        ts += 1000;
        feed(&mut p, ts, 100.0, 3.0, 60.5);
        ts += 1000;
        feed(&mut p, ts, 100.0, 3.0, 60.5);
        ts += 1000;
        feed(&mut p, ts, 100.0, 3.0, 60.5);
        let Observation::Scored { score, learned, .. } = e.observe(p.asset("P1").unwrap(), ts) else { panic!() };
        assert!(score.exceeds(&learned.fitted, 1.0));
        assert_eq!(score.ranking(&learned.fitted)[0].0, 0, "flow named first");
        // Re-learn: learning again, dirty.
        assert!(reg.relearn("P1", "skid", ts) && !reg.relearn("P1", "nope", ts));
        assert_eq!(reg.take_dirty(ts)[0].state, "learning");
        // Restore from the store: ready again without learning; a changed config re-learns.
        let stored = Stored {
            asset: "P1".into(),
            name: "skid".into(),
            fingerprint: e.spec.fingerprint(),
            learn_started_ms: 0,
            learned: Some((*l).clone()),
        };
        reg.restore(vec![stored.clone()], ts);
        assert_eq!(e.snapshot(ts).state, "ready");
        reg.relearn("P1", "skid", ts);
        reg.restore(vec![Stored { fingerprint: "other".into(), ..stored }], ts);
        assert_eq!(e.snapshot(ts).state, "learning");
    }

    #[test]
    fn a_baseline_with_an_unbound_role_is_disabled_with_the_reason() {
        let text =
            CFG.replace(r#"signals = ["flow", "motor_current", "motor_temp"]"#, r#"signals = ["flow", "pressure"]"#);
        let cfg = Config::parse(Path::new("t.toml"), &text).unwrap();
        let reg = Registry::from_config(&cfg, 0);
        assert!(reg.entries().is_empty());
        assert_eq!(reg.disabled, vec![("P1".into(), "baseline.skid".into(), "roles not bound: pressure".into())]);
    }
}
