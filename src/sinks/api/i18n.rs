//! Findings and assets in the language of the request: `lang=` (en or zh), else
//! `Accept-Language`, else `[packs] language`. Each chosen text keeps both languages beside
//! it in a `*_i18n` field; Chinese falls back to English in rows stored before it existed.

use super::ask::request_lang;
use super::ApiState;
use crate::config::packs::Lang;
use crate::diagnose::{AbstainReason, CriterionInfo, Derived, EvidenceValue, Text};
use crate::knowledge::{Citation, Verification};
use crate::sinks::live::{LiveAssessment, LiveAsset, LiveValue};
use crate::store::{FindingEvent, FindingRecord};
use axum::http::HeaderMap;
use serde::Serialize;
use utoipa::ToSchema;

/// The language of a request (see the module doc).
pub(crate) fn lang_of(state: &ApiState, param: Option<Lang>, headers: &HeaderMap) -> Lang {
    request_lang(param, headers, state.knowledge.language)
}

/// A criterion's identity with its title in the request's language.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CriterionView {
    pub id: String,
    pub version: String,
    pub title: String,
    pub title_i18n: Text,
    pub verification: Verification,
}

impl CriterionView {
    pub fn new(c: &CriterionInfo, lang: Lang) -> Self {
        let t = c.title.fill();
        CriterionView {
            id: c.id.clone(),
            version: c.version.clone(),
            title: t.pick(lang).to_string(),
            title_i18n: t,
            verification: c.verification,
        }
    }
}

/// The evidence with its summary line in the request's language.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EvidenceView {
    pub values: Vec<EvidenceValue>,
    pub derived: Vec<Derived>,
    /// One line saying what the evidence shows.
    pub summary: String,
    pub summary_i18n: Text,
    /// A verdict's methods: each criterion of the domain with its own result (both
    /// languages in each `title` and `summary`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<crate::diagnose::verdict::MethodView>,
    /// The verdict's kind, fault family and agreement count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<crate::diagnose::verdict::VerdictInfo>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventView {
    pub ts: String,
    pub kind: String,
    pub code: String,
    pub severity: String,
    pub summary: String,
    pub summary_i18n: Text,
}

impl EventView {
    fn new(e: FindingEvent, lang: Lang) -> Self {
        let t = e.summary.fill();
        EventView {
            ts: e.ts,
            kind: e.kind,
            code: e.code,
            severity: e.severity,
            summary: t.pick(lang).to_string(),
            summary_i18n: t,
        }
    }
}

/// A finding in the request's language (the stored record is language-neutral).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FindingText {
    pub id: i64,
    pub asset: String,
    pub criterion: CriterionView,
    pub code: String,
    pub title: String,
    pub title_i18n: Text,
    pub severity: String,
    pub state: String,
    pub first_seen: String,
    pub last_seen: String,
    pub cleared_at: Option<String>,
    pub evidence: EvidenceView,
    /// Citations carry both languages: `clause`/`clause_zh` (zh may be empty: read `clause`)
    /// and `passage_en`/`passage_zh`.
    pub citations: Vec<Citation>,
    pub recommended_action: String,
    pub recommended_action_i18n: Text,
    pub verification: Verification,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<EventView>>,
    /// The language chosen for this response: `en` or `zh`.
    pub lang: String,
}

impl FindingText {
    pub fn new(f: FindingRecord, lang: Lang) -> Self {
        let summary = f.evidence.summary.fill();
        let title = f.title.fill();
        let action = f.recommended_action.fill();
        FindingText {
            id: f.id,
            asset: f.asset,
            criterion: CriterionView::new(&f.criterion, lang),
            code: f.code,
            title: title.pick(lang).to_string(),
            title_i18n: title,
            severity: f.severity,
            state: f.state,
            first_seen: f.first_seen,
            last_seen: f.last_seen,
            cleared_at: f.cleared_at,
            evidence: EvidenceView {
                values: f.evidence.values,
                derived: f.evidence.derived,
                summary: summary.pick(lang).to_string(),
                summary_i18n: summary,
                methods: f.evidence.methods,
                verdict: f.evidence.verdict,
            },
            citations: f.citations,
            recommended_action: action.pick(lang).to_string(),
            recommended_action_i18n: action,
            verification: f.verification,
            events: f.events.map(|v| v.into_iter().map(|e| EventView::new(e, lang)).collect()),
            lang: lang.as_str().to_string(),
        }
    }
}

/// The latest assessment of a criterion, its detail in the request's language.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AssessmentView {
    pub criterion: CriterionView,
    /// `fault`, `normal` or `abstain`.
    pub status: String,
    pub code: Option<String>,
    pub reason: Option<AbstainReason>,
    /// What the evidence shows, or why the criterion abstains.
    pub detail: String,
    pub detail_i18n: Text,
    pub ts: String,
    /// A verdict's methods (both languages in each `title` and `summary`).
    pub methods: Vec<crate::diagnose::verdict::MethodView>,
    pub verdict: Option<crate::diagnose::verdict::VerdictInfo>,
}

impl AssessmentView {
    fn new(a: LiveAssessment, lang: Lang) -> Self {
        let t = a.detail.fill();
        AssessmentView {
            criterion: CriterionView::new(&a.criterion, lang),
            status: a.status,
            code: a.code,
            reason: a.reason,
            detail: t.pick(lang).to_string(),
            detail_i18n: t,
            ts: a.ts,
            methods: a.methods,
            verdict: a.verdict,
        }
    }
}

/// The live part of an asset in the request's language.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LiveAssetView {
    pub id: String,
    pub name: String,
    pub class: String,
    pub values: Vec<LiveValue>,
    pub assessments: Vec<AssessmentView>,
}

impl LiveAssetView {
    pub fn new(a: LiveAsset, lang: Lang) -> Self {
        LiveAssetView {
            id: a.id,
            name: a.name,
            class: a.class,
            values: a.values,
            assessments: a.assessments.into_iter().map(|x| AssessmentView::new(x, lang)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_falls_back_to_english_when_missing() {
        let c = CriterionInfo {
            id: "c".into(),
            version: "1".into(),
            title: Text::new("Ratio", ""),
            verification: Verification::Verified,
        };
        assert_eq!(CriterionView::new(&c, Lang::Zh).title, "Ratio");
        let c = CriterionInfo { title: Text::new("Ratio", "比值"), ..c };
        assert_eq!(CriterionView::new(&c, Lang::Zh).title, "比值");
        assert_eq!(CriterionView::new(&c, Lang::En).title, "Ratio");
        assert_eq!(CriterionView::new(&c, Lang::En).title_i18n, Text::new("Ratio", "比值"));
    }
}
