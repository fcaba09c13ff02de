//! Evidence: the measured values (with time and quality) and derived numbers behind an
//! outcome, and the gathering of it from the pipeline with staleness and quality checks.

use super::{AbstainReason, Outcome, Text};
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "DerivedWire", into = "DerivedWire")]
pub struct Derived {
    /// Its name; the English is stable (read by Sparkplug and by consumers), the Chinese empty
    /// when it is the same or was never given.
    pub name: Text,
    pub value: f64,
    /// Its unit; the Chinese only where it has words (`%/月`), empty otherwise.
    pub unit: Text,
}

// [`Derived`] as stored and served: `name`/`name_zh`, `unit`/`unit_zh`. Its doc comments
// are the API document's descriptions.
/// A number computed from the evidence (a ratio, a percentage, a model score).
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = Derived)]
struct DerivedWire {
    /// Its name in English (stable: read by Sparkplug and by consumers).
    name: String,
    /// The name in Chinese; absent when it is the same or was never given (read `name`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    name_zh: String,
    value: f64,
    unit: String,
    /// The unit in Chinese where it has words (`%/月`); absent otherwise (read `unit`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    unit_zh: String,
}

impl From<DerivedWire> for Derived {
    fn from(w: DerivedWire) -> Self {
        Derived { name: Text::new(w.name, w.name_zh), value: w.value, unit: Text::new(w.unit, w.unit_zh) }
    }
}

impl From<Derived> for DerivedWire {
    fn from(d: Derived) -> Self {
        DerivedWire { name: d.name.en, name_zh: d.name.zh, value: d.value, unit: d.unit.en, unit_zh: d.unit.zh }
    }
}

crate::text::schema_from_wire!(Derived => DerivedWire);

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(from = "EvidenceWire", into = "EvidenceWire")]
pub struct Evidence {
    pub values: Vec<EvidenceValue>,
    pub derived: Vec<Derived>,
    /// One line saying what the evidence shows; the Chinese is empty in rows stored before
    /// it existed.
    pub summary: Text,
    /// A verdict's methods: each criterion of the domain with its own result.
    pub methods: Vec<super::verdict::MethodView>,
    /// A verdict's kind, fault family and agreement count.
    pub verdict: Option<super::verdict::VerdictInfo>,
}

// [`Evidence`] as stored (`evidence_json`) and served: the summary as `summary` and
// `summary_zh`. Its doc comments are the API document's descriptions.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = Evidence)]
struct EvidenceWire {
    values: Vec<EvidenceValue>,
    derived: Vec<Derived>,
    /// One line saying what the evidence shows (English).
    summary: String,
    /// The same line in Chinese; empty in rows stored before it existed (read `summary`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    summary_zh: String,
    /// A verdict's methods: each criterion of the domain with its own result.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    methods: Vec<super::verdict::MethodView>,
    /// A verdict's kind, fault family and agreement count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    verdict: Option<super::verdict::VerdictInfo>,
}

impl From<EvidenceWire> for Evidence {
    fn from(w: EvidenceWire) -> Self {
        Evidence {
            values: w.values,
            derived: w.derived,
            summary: Text::new(w.summary, w.summary_zh),
            methods: w.methods,
            verdict: w.verdict,
        }
    }
}

impl From<Evidence> for EvidenceWire {
    fn from(e: Evidence) -> Self {
        EvidenceWire {
            values: e.values,
            derived: e.derived,
            summary: e.summary.en,
            summary_zh: e.summary.zh,
            methods: e.methods,
            verdict: e.verdict,
        }
    }
}

crate::text::schema_from_wire!(Evidence => EvidenceWire);

impl Evidence {
    /// Set the summary line in both languages.
    pub fn say(&mut self, t: Text) {
        self.summary = t;
    }

    /// A derived number whose name and unit are the same in both languages.
    pub fn derive(&mut self, name: &str, value: f64, unit: &str) {
        self.derive_text(Text::same(name), value, Text::same(unit));
    }

    /// A derived number with its name and unit in English and Chinese.
    pub fn derive_text(&mut self, name: Text, value: f64, unit: Text) {
        // Four decimals: enough for every criterion here, and no float noise in the API.
        let value = (value * 1e4).round() / 1e4;
        // The Chinese is left empty where it is the same (the wire then omits it).
        let one = |t: Text| if t.zh == t.en { Text::untranslated(t.en) } else { t };
        self.derived.push(Derived { name: one(name), value, unit: one(unit) });
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
    Outcome::abstain(reason, Text::new(format!("{role}: {problem}"), format!("{role}：{zh}")), evidence, Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::CriterionInfo;

    /// Stored rows (`evidence_json`, `criterion_json`) and API answers keep their shape
    /// byte for byte: `x` and `x_zh` on the wire, one [`Text`] in memory.
    #[test]
    fn text_pairs_keep_their_wire_shape() {
        fn same<T: serde::de::DeserializeOwned + Serialize>(json: &str) -> T {
            let v: T = serde_json::from_str(json).unwrap();
            assert_eq!(serde_json::to_string(&v).unwrap(), json);
            v
        }
        let old: Evidence =
            same(r#"{"values":[],"derived":[{"name":"Ratio","value":0.5,"unit":""}],"summary":"old line"}"#);
        assert_eq!(old.summary, Text::new("old line", ""));
        assert_eq!((old.derived[0].name.pick(crate::text::Lang::Zh), old.derived[0].unit.zh.as_str()), ("Ratio", ""));
        let new: Evidence = same(
            r#"{"values":[],"derived":[{"name":"Rate","name_zh":"速率","value":1.25,"unit":"%/month","unit_zh":"%/月"}],"summary":"line","summary_zh":"行"}"#,
        );
        assert_eq!((new.summary.zh.as_str(), new.derived[0].name.zh.as_str()), ("行", "速率"));
        let c: CriterionInfo = same(r#"{"id":"c","version":"1","title":"Old","verification":"verified"}"#);
        assert_eq!(c.title, Text::new("Old", ""));
        same::<CriterionInfo>(r#"{"id":"c","version":"1","title":"T","title_zh":"标题","verification":"secondary"}"#);
        let cites: Vec<crate::knowledge::Citation> = same(concat!(
            r#"[{"reference_id":"r","title":"T","edition":"2019","clause":"6.1","passage_id":"p","passage_en":"en","#,
            r#""passage_zh":"中","verification":"verified","edge_convention":"<"},{"reference_id":"r","title":"T","#,
            r#""edition":"","clause":"6.1","clause_zh":"第6.1条","passage_id":"p","passage_en":"","passage_zh":"","#,
            r#""verification":"secondary","edge_convention":"<="}]"#
        ));
        assert_eq!((cites[0].clause.pick(crate::text::Lang::Zh), cites[0].passage.zh.as_str()), ("6.1", "中"));
        assert_eq!(cites[1].clause.zh, "第6.1条");
        // Derived numbers leave the Chinese out where it is the same.
        let mut ev = Evidence::default();
        ev.derive_text(Text::new("score", "score"), 1.0, Text::new("%/month", "%/月"));
        assert_eq!(
            serde_json::to_string(&ev.derived[0]).unwrap(),
            r#"{"name":"score","value":1.0,"unit":"%/month","unit_zh":"%/月"}"#
        );
    }
}
