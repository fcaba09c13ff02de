//! A per-asset baseline as a criterion (`baseline.<name>`, its own domain): abstains while
//! learning, while the machine is stopped, on unusable windows and for signals out of the
//! baseline's domain (named); otherwise a departure finding when T² or Q reaches its limit,
//! citing the baseline (learned from … to …, n samples, the limits and their basis) and
//! listing the signals that contribute most, with their values against their learned ranges.
//! Hysteresis: an open departure clears only when both statistics are below
//! [`CLEAR_FRACTION`] of their limits, and the tracker's `open_after`/`clear_after` apply.

pub mod eval;
pub mod online;

use super::evidence::abstain_for_window;
use super::{AbstainReason, CriterionInfo, Evidence, EvidenceValue, FaultReport, Outcome, Severity, Text};
use crate::baseline::{FeatureKind, CLEAR_FRACTION};
use crate::knowledge::{Citation, Verification};
use crate::pipeline::AssetState;
use online::{Entry, Learned, Observation};
use std::sync::Arc;

/// Signals listed in a departure finding at most.
pub const TOP_SIGNALS: usize = 3;

pub struct BaselineCriterion {
    info: CriterionInfo,
    entry: Arc<Entry>,
}

impl BaselineCriterion {
    pub fn new(entry: Arc<Entry>) -> Self {
        let s = &entry.spec;
        BaselineCriterion {
            info: CriterionInfo {
                id: s.criterion_id(),
                version: "1".into(),
                title: Text::new(
                    format!("Departure from the learned baseline `{}`", s.name),
                    format!("偏离已学习的基线 `{}`", s.name),
                ),
                verification: Verification::Model,
            },
            entry,
        }
    }

    fn label(&self, j: usize) -> (String, FeatureKind) {
        self.entry.spec.signals[j].clone()
    }
}

/// The citation of a learned baseline: where its normal came from and how its limits were set.
pub fn citation(asset: &str, name: &str, l: &Learned) -> Citation {
    let f = &l.fitted;
    let (from, to) = (crate::time::rfc3339(l.from_ms), crate::time::rfc3339(l.to_ms));
    let signals: Vec<String> = f.signals.iter().map(|s| format!("{} ({})", s.name, s.kind.as_str())).collect();
    Citation {
        reference_id: format!("baseline:{asset}/{name}"),
        title: format!("Baseline `{name}` of {asset}, learned from {from} to {to} ({} samples)", l.samples),
        edition: to.clone(),
        clause: Text::new(
            format!("T² limit {:.3}, Q limit {:.4} at {} % confidence", f.t2_limit, f.q_limit, f.confidence * 100.0),
            format!("T² 限值 {:.3}，Q 限值 {:.4}，置信水平 {} %", f.t2_limit, f.q_limit, f.confidence * 100.0),
        ),
        passage_id: format!("baseline:{asset}/{name}@{}", l.to_ms),
        passage: Text::new(
            format!(
                "Principal component model of this asset's own normal operation, learned from {} good-quality running-state evaluations between {from} and {to}: signals {}; {} of {} components explain {:.1} % of the standardised variance. {}. A departure is a statistical finding against this machine's learned normal, not a diagnosis of a specific fault.",
                l.samples,
                signals.join(", "),
                f.components,
                f.signals.len(),
                f.explained * 100.0,
                f.basis()
            ),
            format!(
                "本设备自身正常运行的主成分模型，由 {from} 至 {to} 之间 {} 个质量良好、运行状态下的评估学习得到；信号：{}；{} 个主成分（共 {} 个）解释标准化方差的 {:.1} %。T² 限值 {:.3}，Q 限值 {:.4}。偏离是相对于本机已学习正常状态的统计发现，不是对具体故障的诊断。",
                l.samples,
                signals.join("、"),
                f.components,
                f.signals.len(),
                f.explained * 100.0,
                f.t2_limit,
                f.q_limit
            ),
        ),
        verification: Verification::Model,
        edge_convention: format!(
            "T² >= {:.3} or Q >= {:.4} is a departure; an open departure clears when both are below {} % of their limits.",
            f.t2_limit,
            f.q_limit,
            CLEAR_FRACTION * 100.0
        ),
    }
}

fn latest_value(asset: &AssetState, role: &str) -> Option<EvidenceValue> {
    let r = asset.role(role)?;
    let s = r.latest()?;
    Some(EvidenceValue {
        role: role.to_string(),
        point: s.point.to_string(),
        value: s.value?,
        unit: r.unit.clone(),
        ts: crate::time::rfc3339(s.ts_ms),
        ts_ms: s.ts_ms,
        quality: s.quality.as_string(),
        below: None,
    })
}

fn unit_of(asset: &AssetState, role: &str, kind: FeatureKind) -> String {
    let u = asset.role(role).map(|r| r.unit.clone()).unwrap_or_default();
    match kind {
        FeatureKind::Level => u,
        FeatureKind::Rate => format!("{u}/s"),
    }
}

impl super::Criterion for BaselineCriterion {
    fn info(&self) -> &CriterionInfo {
        &self.info
    }

    fn evaluate(&self, asset: &AssetState, now_ms: i64, open_code: Option<&str>) -> Outcome {
        let spec = &self.entry.spec;
        let name = &spec.name;
        match self.entry.observe(asset, now_ms) {
            Observation::Window { role, problem } => abstain_for_window(&role, problem, Evidence::default()),
            Observation::NotRunning { role, value, min } => {
                let mut ev = Evidence::default();
                ev.values.extend(latest_value(asset, &role));
                let t = Text::new(
                    format!("baseline `{name}` does not apply: {role} {value} is below the running threshold {min}"),
                    format!("基线 `{name}` 不适用：{role} {value} 低于运行判定值 {min}"),
                );
                ev.say(t.clone());
                Outcome::abstain(AbstainReason::NotRunning, t, ev, vec![])
            }
            Observation::Learning { have, started_ms, target, last_error } => {
                let since = crate::time::rfc3339(started_ms);
                let extra = last_error.map(|e| format!(" ({e})")).unwrap_or_default();
                let t = Text::new(
                    format!("baseline `{name}` is learning since {since}: {have} of {target} so far{extra}; no judgement until it is ready"),
                    format!("基线 `{name}` 自 {since} 起学习中：已有 {have} 个样本，目标 {}{extra}；学习完成前不做判断", target.replace(" samples", " 个样本")),
                );
                let mut ev = Evidence::default();
                ev.say(t.clone());
                Outcome::abstain(AbstainReason::InsufficientData, t, ev, vec![])
            }
            Observation::Stale { learned } => {
                let to = crate::time::rfc3339(learned.to_ms);
                let t = Text::new(
                    format!("baseline `{name}` was learned up to {to}, longer ago than its stale_after_days: re-learn it (`edgecite baseline relearn`) before it is used again"),
                    format!("基线 `{name}` 学习截止于 {to}，已超过 stale_after_days：请重新学习（`edgecite baseline relearn`）后再使用"),
                );
                let mut ev = Evidence::default();
                ev.say(t.clone());
                Outcome::abstain(AbstainReason::Stale, t, ev, vec![citation(&spec.asset, name, &learned)])
            }
            Observation::OutOfDomain { learned, x, signals } => {
                let mut ev = Evidence::default();
                let parts: Vec<String> = signals
                    .iter()
                    .map(|o| {
                        let (role, kind) = self.label(o.index);
                        let s = &learned.fitted.signals[o.index];
                        ev.values.extend(latest_value(asset, &role));
                        let u = unit_of(asset, &role, kind);
                        format!(
                            "{role} {} {:.4} {u} (learned {:.4} to {:.4}; the baseline's domain ends at {:.4} to {:.4})",
                            kind.as_str(),
                            x[o.index],
                            s.min,
                            s.max,
                            o.lo,
                            o.hi
                        )
                    })
                    .collect();
                let t = Text::new(
                    format!("out of baseline `{name}`'s domain, no score: {}", parts.join("; ")),
                    format!("超出基线 `{name}` 的适用范围，不计算得分：{}", parts.join("；")),
                );
                ev.say(t.clone());
                Outcome::abstain(AbstainReason::OutOfDomain, t, ev, vec![citation(&spec.asset, name, &learned)])
            }
            Observation::Scored { learned, x, score } => {
                let f = &learned.fitted;
                let open = open_code.is_some();
                let mut ev = Evidence::default();
                ev.derive("T²", score.t2, "");
                ev.derive_text(Text::new("T² limit", "T² 限值"), f.t2_limit, Text::same(""));
                ev.derive("Q", score.q, "");
                ev.derive_text(Text::new("Q limit", "Q 限值"), f.q_limit, Text::same(""));
                let total: f64 = score.ranking(f).iter().map(|(_, s)| s.max(0.0)).sum();
                let mut parts_en = Vec::new();
                let mut parts_zh = Vec::new();
                for &(j, share) in score.ranking(f).iter().take(TOP_SIGNALS) {
                    let (role, kind) = self.label(j);
                    let s = &f.signals[j];
                    let u = unit_of(asset, &role, kind);
                    let pct = if total > 0.0 { 100.0 * share.max(0.0) / total } else { 0.0 };
                    ev.values.extend(latest_value(asset, &role));
                    ev.derive_text(
                        Text::new(format!("{role} {}", kind.as_str()), format!("{role} {}", kind.as_str())),
                        x[j],
                        Text::same(u.clone()),
                    );
                    ev.derive_text(
                        Text::new(format!("{role} learned min"), format!("{role} 学习最小值")),
                        s.min,
                        Text::same(u.clone()),
                    );
                    ev.derive_text(
                        Text::new(format!("{role} learned max"), format!("{role} 学习最大值")),
                        s.max,
                        Text::same(u.clone()),
                    );
                    ev.derive_text(
                        Text::new(format!("{role} share of departure"), format!("{role} 偏离贡献")),
                        pct,
                        Text::same("%"),
                    );
                    parts_en.push(format!(
                        "{role} {} {:.4} {u} (learned {:.4} to {:.4}), {pct:.0} %",
                        kind.as_str(),
                        x[j],
                        s.min,
                        s.max
                    ));
                    parts_zh.push(format!(
                        "{role} {} {:.4} {u}（学习范围 {:.4} 至 {:.4}），占 {pct:.0} %",
                        kind.as_str(),
                        x[j],
                        s.min,
                        s.max
                    ));
                }
                let fraction = if open { CLEAR_FRACTION } else { 1.0 };
                let departed = score.exceeds(f, fraction);
                let clears = if open {
                    format!("; the open finding clears below {} % of both limits", CLEAR_FRACTION * 100.0)
                } else {
                    String::new()
                };
                ev.say(Text::new(
                    format!(
                        "baseline `{name}`: T² {:.2} (limit {:.2}), Q {:.3} (limit {:.3}){clears}; most contributing: {}",
                        score.t2,
                        f.t2_limit,
                        score.q,
                        f.q_limit,
                        parts_en.join("; ")
                    ),
                    format!(
                        "基线 `{name}`：T² {:.2}（限值 {:.2}），Q {:.3}（限值 {:.3}）；贡献最大的信号：{}",
                        score.t2,
                        f.t2_limit,
                        score.q,
                        f.q_limit,
                        parts_zh.join("；")
                    ),
                ));
                if !departed {
                    return Outcome::Normal {
                        evidence: ev,
                        note: Text::new("within the learned baseline", "处于已学习的基线范围内"),
                    };
                }
                let top = score.ranking(f).first().map(|(j, _)| self.label(*j).0).unwrap_or_default();
                Outcome::Fault(FaultReport {
                    code: format!("BASELINE.{}.DEPARTURE", name.to_uppercase()),
                    title: Text::new(
                        format!("Departure from this machine's learned normal (most: {top})"),
                        format!("偏离本机已学习的正常状态（主要：{top}）"),
                    ),
                    severity: Severity::Medium,
                    evidence: ev,
                    citations: vec![citation(&spec.asset, name, &learned)],
                    recommended_action: Text::new(
                        "Compare the named signals with their learned ranges and look for what changed on the machine or the process (valves, load, set points, maintenance). After maintenance that changes the normal, re-learn the baseline. This is a departure from the learned normal, not a diagnosis.",
                        "将所列信号与其学习范围对比，查找设备或工艺的变化（阀门、负载、设定值、维护）。若维护改变了正常状态，请重新学习基线。这是相对已学习正常状态的偏离，不是诊断结论。",
                    ),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::diagnose::baseline::online::Registry;
    use crate::diagnose::Criterion;
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
  { id = "p", register = "holding", address = 2, type = "f32", unit = "bar" },
  { id = "i", register = "holding", address = 4, type = "f32", unit = "A" },
]
[[assets]]
id = "P1"
class = "pump_skid"
vibration = { group = "group2", foundation = "rigid" }
roles = { flow = "d.q", pressure = "d.p", motor_current = "d.i" }
[[assets.baselines]]
name = "skid"
signals = ["flow", "pressure", "motor_current"]
window = 2
learn = { samples = 60 }
"#;

    fn reason(o: &Outcome) -> Option<AbstainReason> {
        match o {
            Outcome::Abstain { reason, .. } => Some(*reason),
            _ => None,
        }
    }

    #[test]
    fn abstains_while_learning_then_departures_cite_the_baseline_and_name_signals() {
        let cfg = Config::parse(Path::new("t.toml"), CFG).unwrap();
        let reg = Registry::from_config(&cfg, 0);
        let c = BaselineCriterion::new(reg.entry("P1", "skid").unwrap().clone());
        assert_eq!(c.info().id, "baseline.skid");
        let mut p = Pipeline::new(&cfg);
        let mut g = crate::baseline::tests::Gauss::new(21);
        let mut ts = 0;
        let mut step = |p: &mut Pipeline, q: f64, pr: f64, i: f64| {
            ts += 1000;
            let s = |id: &str, v: f64| Sample::good(PointId::from(id), ts, v);
            p.ingest(&[s("d.q", q), s("d.p", pr), s("d.i", i)]);
            ts
        };
        let mut healthy = |p: &mut Pipeline, g: &mut crate::baseline::tests::Gauss| {
            let f = g.next();
            step(p, 120.0 + 2.0 * f + g.next(), 2.0 + 0.05 * f + 0.02 * g.next(), 3.0 + 0.1 * g.next())
        };
        let now = healthy(&mut p, &mut g);
        // Window of 2 not yet full: the window problem, not a judgement.
        assert_eq!(reason(&c.evaluate(p.asset("P1").unwrap(), now, None)), Some(AbstainReason::InsufficientData));
        for _ in 0..60 {
            let now = healthy(&mut p, &mut g);
            let o = c.evaluate(p.asset("P1").unwrap(), now, None);
            assert_eq!(reason(&o), Some(AbstainReason::InsufficientData));
            if let Outcome::Abstain { detail: Text { en: detail, .. }, .. } = &o {
                assert!(detail.contains("learning") || detail.contains("samples needed"), "{detail}");
            }
        }
        let now = healthy(&mut p, &mut g);
        let o = c.evaluate(p.asset("P1").unwrap(), now, None);
        assert!(matches!(o, Outcome::Normal { .. }), "ready and healthy: {o:?}");
        // Pressure departs (6 sd of its window mean, against the flow correlation).
        let mut fault = None;
        for _ in 0..3 {
            let now = step(&mut p, 120.0, 2.6, 3.0);
            fault = Some(c.evaluate(p.asset("P1").unwrap(), now, None));
        }
        let Some(Outcome::Fault(r)) = fault else { panic!("departure: {fault:?}") };
        assert_eq!(r.code, "BASELINE.SKID.DEPARTURE");
        assert_eq!(r.evidence.values[0].role, "pressure", "most contributing signal first");
        assert!(
            r.evidence.summary.en.starts_with("baseline `skid`: T²")
                && r.evidence.summary.en.contains("pressure level")
        );
        let share = r.evidence.derived.iter().find(|d| d.name.en == "pressure share of departure").unwrap();
        assert!(share.value > 50.0, "{share:?}");
        assert!(r.evidence.derived.iter().any(|d| d.name.en == "pressure learned max"));
        let cit = &r.citations[0];
        assert_eq!(cit.reference_id, "baseline:P1/skid");
        assert!(cit.title.contains("60 samples") && cit.passage.en.contains("Jackson & Mudholkar"), "{cit:?}");
        // Out of domain: a reading ten times anything learned is named, with no score.
        let now = step(&mut p, 120.0, 2.0, 300.0);
        let o = c.evaluate(p.asset("P1").unwrap(), now, Some("BASELINE.SKID.DEPARTURE"));
        assert_eq!(reason(&o), Some(AbstainReason::OutOfDomain));
        let Outcome::Abstain { detail: Text { en: detail, zh: detail_zh }, .. } = &o else { unreachable!() };
        assert!(detail.contains("motor_current level") && !detail.contains("flow"), "{detail}");
        assert!(detail_zh.contains("motor_current"));
    }
}
