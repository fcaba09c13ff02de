//! A model's score as evidence: features from the pipeline windows, the score from ONNX
//! Runtime, a finding when the score reaches the manifest's threshold. Out-of-domain inputs
//! abstain with no score. Hysteresis: an open finding clears only below 90 % of the
//! threshold.

use super::evidence::{abstain_for_window, gather};
use super::{AbstainReason, CriterionInfo, Evidence, FaultReport, Outcome, Severity, Text};
use crate::inference::{FeatureProblem, Model};
use crate::knowledge::{Citation, Verification};
use crate::pipeline::{AssetState, WindowProblem};
use std::sync::Arc;

pub const CLEAR_FRACTION: f64 = 0.9;

pub fn criterion_id(model_name: &str) -> String {
    format!("model.{model_name}")
}

pub struct ModelCriterion {
    info: CriterionInfo,
    model: Arc<Model>,
    citation: Citation,
}

impl ModelCriterion {
    pub fn new(model: Arc<Model>) -> Self {
        let m = &model.manifest;
        let citation = Citation {
            reference_id: format!("model:{}@{}", m.name, m.version),
            title: format!("edgecite model {} {}: {}", m.name, m.version, m.description),
            edition: m.version.clone(),
            clause: Text::new(
                format!("manifest output `{}`, threshold {}", m.output.name, m.output.threshold),
                format!("清单输出 `{}`，阈值 {}", m.output.name, m.output.threshold),
            ),
            passage_id: format!("model:{}@{}", m.name, m.version),
            passage: Text::new(
                format!(
                    "{} Training data: {} ({} rows; {}). Threshold rule: {}",
                    m.citation, m.training.data, m.training.rows, m.training.license, m.output.threshold_rule
                ),
                format!(
                    "统计异常模型 {} {}：根据训练数据（{}）学习的正常运行状态，得分越高表示近期测量值偏离正常运行越远；它是异常指标，不是对具体故障的诊断。报警阈值 {}。",
                    m.name, m.version, m.training.data, m.output.threshold
                ),
            ),
            verification: Verification::Model,
            edge_convention: format!(
                "A score >= {} opens a finding; an open finding clears below {:.4} (90 % of the threshold).",
                m.output.threshold,
                m.output.threshold * CLEAR_FRACTION
            ),
        };
        ModelCriterion {
            info: CriterionInfo {
                id: criterion_id(&m.name),
                version: m.version.clone(),
                title: Text::new(
                    format!("Anomaly model {} {}", m.name, m.version),
                    format!("异常检测模型 {} {}", m.name, m.version),
                ),
                verification: Verification::Model,
            },
            model,
            citation,
        }
    }
}

impl super::Criterion for ModelCriterion {
    fn info(&self) -> &CriterionInfo {
        &self.info
    }

    fn evaluate(&self, asset: &AssetState, now_ms: i64, open_code: Option<&str>) -> Outcome {
        let m = &self.model.manifest;
        let roles: Vec<&str> = m.features.iter().map(|f| f.role.as_str()).collect();
        let mut ev = match gather(asset, &roles, now_ms) {
            Ok(ev) => ev,
            Err(abstain) => return abstain,
        };
        let features = match self.model.features(asset, now_ms) {
            Ok(f) => f,
            Err(FeatureProblem::Window { role, problem }) => return abstain_for_window(&role, problem, ev),
            Err(FeatureProblem::Unbound { role }) | Err(FeatureProblem::Missing { role }) => {
                return abstain_for_window(&role, WindowProblem::NoData, ev)
            }
            Err(p @ (FeatureProblem::OutOfDomain { .. } | FeatureProblem::Untrained { .. })) => {
                ev.say(Text::new(format!("no score: {p}"), format!("无得分：{p}")));
                let detail = ev.summary.clone();
                return Outcome::abstain(AbstainReason::OutOfDomain, detail, ev, vec![self.citation.clone()]);
            }
        };
        for (spec, v) in m.features.iter().zip(&features.values) {
            ev.derive(&spec.label(), *v as f64, &spec.unit);
        }
        // Features scored beyond their trained range, said after the score.
        let (mut beyond_en, mut beyond_zh) = (String::new(), String::new());
        for &(i, above) in &features.beyond {
            let (spec, v) = (&m.features[i], features.values[i]);
            let (en, zh, edge) =
                if above { ("above", "高于", spec.trained_max) } else { ("below", "低于", spec.trained_min) };
            beyond_en += &format!(
                "; {} = {v:.4} is {en} everything the model was trained on ({edge}): the score extrapolates on the side the model measures",
                spec.label()
            );
            beyond_zh +=
                &format!("；{} = {v:.4} {zh}模型训练数据的范围（{edge}）：得分在模型所测量的方向上外推", spec.label());
        }
        let score = match self.model.score_for(&asset.id, now_ms, &features.values) {
            Ok(s) if s.is_finite() => s as f64,
            Ok(s) => {
                return unavailable(
                    format!(
                        "model {} {} returned {s} for finite inputs; no score, no finding (counted in the model's non_finite_scores)",
                        m.name, m.version
                    ),
                    ev,
                )
            }
            Err(e) => return unavailable(e.to_string(), ev),
        };
        let threshold = m.output.threshold * if open_code.is_some() { CLEAR_FRACTION } else { 1.0 };
        ev.derive_text(Text::new("anomaly score", "异常分数"), score, Text::same(""));
        ev.derive_text(Text::new("threshold", "报警阈值"), m.output.threshold, Text::same(""));
        if open_code.is_some() {
            ev.derive_text(Text::new("clears below", "低于此值解除"), threshold, Text::same(""));
        }
        let window = m.features.first().map(|f| f.window).unwrap_or(0);
        ev.say(Text::new(
            format!(
                "model {} {} scored {score:.3} on the last {window} samples (threshold {}{})",
                m.name,
                m.version,
                m.output.threshold,
                if open_code.is_some() {
                    format!("; the open finding clears below {threshold:.3}")
                } else {
                    String::new()
                }
            ) + &beyond_en,
            format!(
                "模型 {} {} 对最近 {window} 个样本的得分为 {score:.3}（阈值 {}{}）",
                m.name,
                m.version,
                m.output.threshold,
                if open_code.is_some() {
                    format!("；得分低于 {threshold:.3} 时已开启的发现关闭")
                } else {
                    String::new()
                }
            ) + &beyond_zh,
        ));
        if score < threshold {
            return Outcome::Normal { evidence: ev, note: Text::new("score below threshold", "得分低于阈值") };
        }
        Outcome::Fault(FaultReport {
            code: format!("MODEL.{}.HIGH_SCORE", m.name.to_uppercase()),
            title: Text::new(
                format!("Unusual operating pattern (anomaly score {score:.2})"),
                format!("运行状态异常（异常得分 {score:.2}）"),
            ),
            severity: Severity::Medium,
            evidence: ev,
            citations: vec![self.citation.clone()],
            recommended_action: action(m.asset_class),
        })
    }
}

fn action(class: crate::knowledge::classes::AssetClass) -> Text {
    use crate::knowledge::classes::AssetClass;
    match class {
        AssetClass::Machine => Text::new(
            "Check the machine: compare the component temperature with its usual level and trend, look for a shutdown, a cooling or load change, or a developing failure. The score is an anomaly indicator, not a diagnosis.",
            "检查设备：对比部件温度与其常见水平和趋势，排查停机、冷却或负载变化以及正在发展的故障。该得分是异常指标，不是诊断结论。",
        ),
        _ => Text::new(
            "Inspect the pump skid: compare vibration, motor current and temperatures with their usual values; check bearings, lubrication and the suction side. The score is an anomaly indicator, not a diagnosis.",
            "检查泵组：对比振动、电机电流和温度的常见数值；检查轴承、润滑及进口侧。该得分是异常指标，不是诊断结论。",
        ),
    }
}

fn unavailable(detail: String, evidence: Evidence) -> Outcome {
    // The reason names a file or runtime error, which stays as written.
    Outcome::abstain(AbstainReason::ModelUnavailable, Text::same(detail), evidence, Vec::new())
}

/// A model that is configured but cannot run, and why: its criterion abstains on the
/// assets of its class.
#[derive(Debug, Clone)]
pub struct UnavailableModel {
    pub criterion_id: String,
    pub asset_class: crate::knowledge::classes::AssetClass,
    pub reason: String,
}

/// A load of the configured models as the diagnoser takes it: the models that run, the
/// errors to report, the rejected ones (for the registry), and the models that cannot run,
/// whose criteria abstain with the reason. The one way `run`, `check` and a SIGHUP reload
/// turn a load into criteria.
#[derive(Default)]
pub struct ModelSet {
    pub models: Vec<Arc<Model>>,
    pub errors: Vec<String>,
    pub rejected: Vec<crate::inference::registry::Rejected>,
    pub unavailable: Vec<UnavailableModel>,
}

impl ModelSet {
    /// Load the models of `[inference]` (never fails as a whole: see `load_configured`).
    pub fn load(cfg: &crate::config::inference::InferenceConfig) -> ModelSet {
        crate::inference::load_configured(cfg).into()
    }
}

/// Models named by their manifests (which parse without ONNX Runtime), each with the reason
/// it cannot run. A directory whose manifest does not parse is reported as an error only.
impl From<crate::inference::Loaded> for ModelSet {
    fn from(l: crate::inference::Loaded) -> ModelSet {
        let unavailable = l
            .unavailable
            .iter()
            .filter_map(|(dir, reason)| {
                let m = crate::inference::Manifest::load(&dir.join("manifest.toml")).ok()?;
                Some(UnavailableModel {
                    criterion_id: criterion_id(&m.name),
                    asset_class: m.asset_class,
                    reason: reason.clone(),
                })
            })
            .collect();
        ModelSet { models: l.models, errors: l.errors, rejected: l.rejected, unavailable }
    }
}

/// Stands in for a model that could not be loaded: always abstains with the reason.
pub struct Unavailable {
    info: CriterionInfo,
    reason: String,
}

impl Unavailable {
    pub fn new(id: &str, reason: &str) -> Self {
        Unavailable {
            info: CriterionInfo {
                id: id.into(),
                version: "-".into(),
                title: Text::new(format!("Anomaly model ({id}): unavailable"), format!("异常检测模型（{id}）：不可用")),
                verification: Verification::Model,
            },
            reason: reason.into(),
        }
    }
}

impl super::Criterion for Unavailable {
    fn info(&self) -> &CriterionInfo {
        &self.info
    }

    fn evaluate(&self, asset: &AssetState, now_ms: i64, _open: Option<&str>) -> Outcome {
        let ev = gather(asset, &[], now_ms).unwrap_or_default();
        unavailable(self.reason.clone(), ev)
    }
}
