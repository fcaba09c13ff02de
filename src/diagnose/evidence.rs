//! Evidence: the measured values (with time and quality) and derived numbers behind an
//! outcome, and the gathering of it from the pipeline with staleness and quality checks.

use super::{AbstainReason, Outcome};
use crate::pipeline::{AssetState, WindowProblem};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EvidenceValue {
    pub role: String,
    pub point: String,
    pub value: f64,
    pub unit: String,
    pub ts: String,
    pub ts_ms: i64,
    pub quality: String,
    /// Reported below this value (a laboratory's `ND` or `<x`): `value` is then 0 and the
    /// true value lies in `[0, below]`; `quality` says `not_detected` or `below_limit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub below: Option<f64>,
}

/// A number computed from the evidence (a ratio, a percentage, a model score).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Derived {
    /// Its name in English (stable: read by Sparkplug and by consumers).
    pub name: String,
    /// The name in Chinese; absent when it is the same or was never given (read `name`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name_zh: String,
    pub value: f64,
    pub unit: String,
    /// The unit in Chinese where it has words (`%/月`); absent otherwise (read `unit`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub unit_zh: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Evidence {
    pub values: Vec<EvidenceValue>,
    pub derived: Vec<Derived>,
    /// One line saying what the evidence shows (English).
    pub summary: String,
    /// The same line in Chinese; empty in rows stored before it existed (read `summary`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub summary_zh: String,
    /// A verdict's methods: each criterion of the domain with its own result.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<super::verdict::MethodView>,
    /// A verdict's kind, fault family and agreement count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<super::verdict::VerdictInfo>,
}

impl Evidence {
    /// Set the summary line in both languages.
    pub fn say(&mut self, t: super::Text) {
        self.summary = t.en;
        self.summary_zh = t.zh;
    }

    /// The summary line in both languages.
    pub fn summary_text(&self) -> super::Text {
        super::Text::new(self.summary.clone(), self.summary_zh.clone())
    }

    /// A derived number whose name and unit are the same in both languages.
    pub fn derive(&mut self, name: &str, value: f64, unit: &str) {
        self.derive_text(super::Text::same(name), value, super::Text::same(unit));
    }

    /// A derived number with its name and unit in English and Chinese.
    pub fn derive_text(&mut self, name: super::Text, value: f64, unit: super::Text) {
        // Four decimals: enough for every criterion here, and no float noise in the API.
        let value = (value * 1e4).round() / 1e4;
        let zh = |t: super::Text| if t.zh == t.en { String::new() } else { t.zh };
        self.derived.push(Derived {
            name_zh: zh(name.clone()),
            name: name.en,
            value,
            unit_zh: zh(unit.clone()),
            unit: unit.en,
        });
    }

    pub fn value(&self, role: &str) -> Option<f64> {
        self.values.iter().find(|v| v.role == role).map(|v| v.value)
    }
}

/// The latest good value of each role, or the abstention that explains why not.
// The abstention is the normal result of a criterion, returned as is; boxing it would only
// move the allocation.
#[allow(clippy::result_large_err)]
pub fn gather(asset: &AssetState, roles: &[&str], now_ms: i64) -> Result<Evidence, Outcome> {
    let mut ev = Evidence::default();
    for &role in roles {
        let problem = match asset.role(role) {
            None => WindowProblem::NoData,
            Some(r) => match r.good_window(1, now_ms, asset.stale_after_ms) {
                Ok(w) => {
                    let s = w[0];
                    ev.values.push(EvidenceValue {
                        role: role.to_string(),
                        point: s.point.to_string(),
                        value: s.value.unwrap_or(f64::NAN),
                        unit: r.unit.clone(),
                        ts: crate::time::rfc3339(s.ts_ms),
                        ts_ms: s.ts_ms,
                        quality: s.quality.as_string(),
                        below: None,
                    });
                    continue;
                }
                Err(p) => p,
            },
        };
        return Err(abstain_for_window(role, problem, ev));
    }
    Ok(ev)
}

/// The abstention for a role whose window cannot be used.
pub fn abstain_for_window(role: &str, problem: WindowProblem, evidence: Evidence) -> Outcome {
    let reason = match problem {
        WindowProblem::NoData => AbstainReason::NoData,
        WindowProblem::Stale { .. } => AbstainReason::Stale,
        WindowProblem::BadQuality { .. } => AbstainReason::BadQuality,
        WindowProblem::TooShort { .. } => AbstainReason::InsufficientData,
    };
    let zh = match &problem {
        WindowProblem::NoData => "尚未收到样本".to_string(),
        WindowProblem::Stale { age_ms, limit_ms } => {
            format!("最新样本已过去 {:.1} 秒（上限 {:.1} 秒）", *age_ms as f64 / 1000.0, *limit_ms as f64 / 1000.0)
        }
        WindowProblem::BadQuality { ts_ms, quality } => {
            format!("{} 的样本质量为 {}", crate::time::rfc3339(*ts_ms), quality.as_string())
        }
        WindowProblem::TooShort { have, need } => format!("目前只有 {have} 个样本，需要 {need} 个"),
    };
    Outcome::abstain(
        reason,
        super::Text::new(format!("{role}: {problem}"), format!("{role}：{zh}")),
        evidence,
        Vec::new(),
    )
}
