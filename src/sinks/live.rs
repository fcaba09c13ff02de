//! The live view of the plant that the API serves: latest values and the latest assessment
//! of every criterion, refreshed by the daemon after each evaluation pass.

use crate::diagnose::{AbstainReason, Assessment, CriterionInfo, Disabled, Outcome, Text};
use crate::pipeline::Pipeline;
use crate::sources::{SourceCounters, SourceStatus};
use crate::store::guard::StoreHealth;
use serde::Serialize;
use std::sync::{Arc, RwLock};

#[derive(Debug, Clone)]
pub struct LiveValue {
    pub role: String,
    /// The role's label (served as `label_en` and `label_zh`).
    pub label: Text,
    pub point: String,
    pub value: Option<f64>,
    /// The value of a text point.
    pub text: Option<String>,
    pub unit: String,
    pub ts: Option<String>,
    pub quality: Option<String>,
}

// [`LiveValue`] as served. Its doc comments are the API document's descriptions.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = LiveValue)]
struct LiveValueWire<'a> {
    role: &'a str,
    label_en: &'a str,
    label_zh: &'a str,
    point: &'a str,
    value: Option<f64>,
    /// The value of a text point.
    text: Option<&'a str>,
    unit: &'a str,
    ts: Option<&'a str>,
    quality: Option<&'a str>,
}

impl Serialize for LiveValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        LiveValueWire {
            role: &self.role,
            label_en: &self.label.en,
            label_zh: &self.label.zh,
            point: &self.point,
            value: self.value,
            text: self.text.as_deref(),
            unit: &self.unit,
            ts: self.ts.as_deref(),
            quality: self.quality.as_deref(),
        }
        .serialize(s)
    }
}

crate::text::schema_from_wire!(LiveValue => LiveValueWire<'static>);

#[derive(Debug, Clone)]
pub struct LiveAssessment {
    pub criterion: CriterionInfo,
    /// `fault`, `normal` or `abstain`.
    pub status: String,
    pub code: Option<String>,
    pub reason: Option<AbstainReason>,
    /// What the evidence shows, or why the criterion abstains (the Chinese empty: not
    /// translated).
    pub detail: Text,
    pub ts: String,
    /// A verdict's methods: each criterion of the domain with its own result.
    pub methods: Vec<crate::diagnose::verdict::MethodView>,
    pub verdict: Option<crate::diagnose::verdict::VerdictInfo>,
}

// [`LiveAssessment`] as served: the detail as `detail` and `detail_zh`. Its doc comments
// are the API document's descriptions.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = LiveAssessment)]
struct LiveAssessmentWire<'a> {
    criterion: &'a CriterionInfo,
    /// `fault`, `normal` or `abstain`.
    status: &'a str,
    code: Option<&'a str>,
    reason: Option<AbstainReason>,
    detail: &'a str,
    /// `detail` in Chinese (empty: not translated, read `detail`).
    detail_zh: &'a str,
    ts: &'a str,
    /// A verdict's methods: each criterion of the domain with its own result.
    methods: &'a [crate::diagnose::verdict::MethodView],
    verdict: Option<&'a crate::diagnose::verdict::VerdictInfo>,
}

impl Serialize for LiveAssessment {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        LiveAssessmentWire {
            criterion: &self.criterion,
            status: &self.status,
            code: self.code.as_deref(),
            reason: self.reason,
            detail: &self.detail.en,
            detail_zh: &self.detail.zh,
            ts: &self.ts,
            methods: &self.methods,
            verdict: self.verdict.as_ref(),
        }
        .serialize(s)
    }
}

crate::text::schema_from_wire!(LiveAssessment => LiveAssessmentWire<'static>);

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LiveAsset {
    pub id: String,
    pub name: String,
    pub class: String,
    pub values: Vec<LiveValue>,
    pub assessments: Vec<LiveAssessment>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ModelStatus {
    pub name: String,
    pub version: String,
    pub provider: String,
    pub threshold: f64,
}

pub struct SourceHandle {
    pub id: String,
    pub kind: &'static str,
    pub endpoint: String,
    pub counters: Arc<SourceCounters>,
}

#[derive(Default)]
pub struct Live {
    pub site_id: String,
    pub site_name: String,
    pub started_ms: i64,
    pub last_evaluation_ms: i64,
    pub assets: Vec<LiveAsset>,
    pub sources: Vec<SourceHandle>,
    pub models: Vec<ModelStatus>,
    pub model_errors: Vec<String>,
    /// Alarm outputs that could not be opened.
    pub alarm_errors: Vec<String>,
    pub disabled: Vec<Disabled>,
    /// Loaded and rejected models (`GET /api/v1/models`).
    pub registry: Arc<crate::inference::registry::Registry>,
    /// The MQTT sink's counters and outbox fill, when `[mqtt]` is on.
    pub mqtt: Option<Arc<super::mqtt::MqttStatus>>,
    /// The store's own health: integrity check, free disk, samples dropped (issue 13).
    pub store_health: StoreHealth,
}

/// The components of snapshots already taken (sources, the MQTT sink, models), in that order.
pub fn components(
    sources: &[SourceStatus],
    mqtt: Option<&super::mqtt::MqttStatusView>,
    models: &[crate::inference::registry::ModelInfo],
) -> Vec<crate::status::ComponentStatus> {
    let sinks = mqtt.map(|m| m.components()).unwrap_or_default();
    sources.iter().map(|s| s.component()).chain(sinks).chain(models.iter().map(|m| m.component())).collect()
}

pub type SharedLive = Arc<RwLock<Live>>;

impl Live {
    /// Every source, sink and model as a component, in that order.
    pub fn components(&self) -> Vec<crate::status::ComponentStatus> {
        components(&self.source_statuses(), self.mqtt.as_ref().map(|m| m.view()).as_ref(), &self.registry.infos())
    }

    pub fn source_statuses(&self) -> Vec<SourceStatus> {
        self.sources.iter().map(|s| s.counters.snapshot(&s.id, s.kind, &s.endpoint)).collect()
    }

    /// Refresh values from the pipeline and, if given, assessments from an evaluation pass.
    pub fn refresh(&mut self, pipeline: &Pipeline, assessments: Option<&[Assessment]>, now_ms: i64) {
        self.assets = pipeline
            .assets()
            .iter()
            .map(|a| {
                let values = a
                    .roles
                    .iter()
                    .map(|r| {
                        let def = a.class.role(&r.role);
                        let latest = r.latest();
                        LiveValue {
                            role: r.role.clone(),
                            label: match def {
                                Some(d) => Text::new(d.label_en, d.label_zh),
                                None => Text::same(r.role.as_str()),
                            },
                            point: r.point.to_string(),
                            value: latest.and_then(|s| s.value),
                            text: latest.and_then(|s| s.text.as_deref().map(String::from)),
                            unit: r.unit.clone(),
                            ts: latest.map(|s| crate::time::rfc3339(s.ts_ms)),
                            // A value older than the asset's limit is shown as stale, whatever
                            // the quality it was read with.
                            quality: latest.map(|s| {
                                if now_ms - s.ts_ms > a.stale_after_ms as i64 {
                                    "stale".to_string()
                                } else {
                                    s.quality.as_string()
                                }
                            }),
                        }
                    })
                    .collect();
                let previous =
                    self.assets.iter().find(|p| p.id == a.id).map(|p| p.assessments.clone()).unwrap_or_default();
                let assessments = match assessments {
                    Some(all) => all.iter().filter(|x| x.asset == a.id).map(live_assessment).collect(),
                    None => previous,
                };
                LiveAsset {
                    id: a.id.clone(),
                    name: a.name.clone(),
                    class: a.class.as_str().to_string(),
                    values,
                    assessments,
                }
            })
            .collect();
        if assessments.is_some() {
            self.last_evaluation_ms = now_ms;
        }
    }
}

pub fn live_assessment(x: &Assessment) -> LiveAssessment {
    let (code, reason, detail) = match &x.outcome {
        Outcome::Fault(r) => (Some(r.code.clone()), None, r.evidence.summary.clone()),
        Outcome::Normal { evidence, .. } => (None, None, evidence.summary.clone()),
        Outcome::Abstain { reason, detail, .. } => (None, Some(*reason), detail.clone()),
    };
    LiveAssessment {
        criterion: x.criterion.clone(),
        status: x.outcome.status().to_string(),
        code,
        reason,
        detail,
        ts: crate::time::rfc3339(x.ts_ms),
        methods: x.outcome.evidence().methods.clone(),
        verdict: x.outcome.evidence().verdict.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::Quality;

    #[test]
    fn values_older_than_the_assets_limit_show_as_stale() {
        // T1's stale_after_ms is 5000 in the test config.
        let p = crate::diagnose::tests::pipeline_with(
            &[("ch4", 10.0, Quality::Good), ("c2h4", 0.0, Quality::CommError)],
            0,
        );
        let quality = |now: i64, role: &str| {
            let mut live = Live::default();
            live.refresh(&p, None, now);
            let t1 = live.assets.iter().find(|a| a.id == "T1").unwrap().clone();
            t1.values.iter().find(|v| v.role == role).unwrap().quality.clone()
        };
        assert_eq!(quality(5000, "ch4").as_deref(), Some("good"));
        assert_eq!(quality(5001, "ch4").as_deref(), Some("stale"));
        assert_eq!(quality(1000, "c2h4").as_deref(), Some("comm_error"));
        assert_eq!(quality(1000, "c2h2"), None, "no sample yet");
    }

    #[test]
    fn labels_and_details_are_served_as_their_pairs() {
        let v = LiveValue {
            role: "ch4".into(),
            label: Text::new("Methane", "甲烷"),
            point: "d.ch4".into(),
            value: Some(1.5),
            text: None,
            unit: "ppm".into(),
            ts: None,
            quality: Some("good".into()),
        };
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"role":"ch4","label_en":"Methane","label_zh":"甲烷","point":"d.ch4","value":1.5,"text":null,"unit":"ppm","ts":null,"quality":"good"}"#
        );
        let a = LiveAssessment {
            criterion: CriterionInfo {
                id: "c".into(),
                version: "1".into(),
                title: Text::new("C", ""),
                verification: crate::knowledge::Verification::Verified,
            },
            status: "abstain".into(),
            code: None,
            reason: Some(AbstainReason::NoData),
            detail: Text::new("no data", ""),
            ts: "t".into(),
            methods: vec![],
            verdict: None,
        };
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            r#"{"criterion":{"id":"c","version":"1","title":"C","verification":"verified"},"status":"abstain","code":null,"reason":"no_data","detail":"no data","detail_zh":"","ts":"t","methods":[],"verdict":null}"#
        );
    }
}
