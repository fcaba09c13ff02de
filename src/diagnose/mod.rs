//! Diagnostics: criteria evaluated against the pipeline's evidence. Each evaluation yields an
//! [`Outcome`]: a fault with evidence and citations, normal, or an abstention with its reason.
//! The [`tracker`] turns outcomes into finding transitions with hysteresis.

pub mod baseline;
pub mod duval;
pub mod evidence;
pub mod lab;
pub mod lab_eval;
pub mod model_score;
pub mod pack;
pub mod tracker;
pub mod verdict;
pub mod vibration;

pub use crate::knowledge::Severity;
pub use crate::text::Text;
pub use evidence::{Derived, Evidence, EvidenceValue};

use crate::config::Config;
use crate::inference::Model;
use crate::knowledge::{Citation, Verification};
use crate::pipeline::{AssetState, Pipeline};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What a criterion found: always with evidence and at least one citation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultReport {
    pub code: String,
    pub title: Text,
    pub severity: Severity,
    pub evidence: Evidence,
    pub citations: Vec<Citation>,
    pub recommended_action: Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AbstainReason {
    /// A needed role has no sample yet (or is not bound).
    NoData,
    /// The newest evidence is older than the asset's `stale_after_ms`.
    Stale,
    /// Evidence of bad quality (comm error, exception, decode error).
    BadQuality,
    /// Not enough samples yet for the window the criterion needs.
    InsufficientData,
    /// Values below the level where the criterion means anything (e.g. gases below
    /// typical values for a triangle diagnosis). Counts as "no fault" for clearing.
    BelowApplicability,
    /// Inputs outside the criterion's or model's domain of validity.
    OutOfDomain,
    /// The machine is not running; vibration zones do not apply.
    NotRunning,
    /// The model or its runtime is not available.
    ModelUnavailable,
    /// An input is only a bound (not detected, `<x`, under its quantification level) and the
    /// result depends on where in that bound it lies.
    Imprecise,
    /// The domain's methods name different fault families: no diagnosis (the verdict).
    MethodsDisagree,
}

impl AbstainReason {
    /// Every reason, for listings and tests.
    pub const ALL: [AbstainReason; 10] = [
        AbstainReason::NoData,
        AbstainReason::Stale,
        AbstainReason::BadQuality,
        AbstainReason::InsufficientData,
        AbstainReason::BelowApplicability,
        AbstainReason::OutOfDomain,
        AbstainReason::NotRunning,
        AbstainReason::ModelUnavailable,
        AbstainReason::Imprecise,
        AbstainReason::MethodsDisagree,
    ];

    /// The stable snake_case name used in the API, the log and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            AbstainReason::NoData => "no_data",
            AbstainReason::Stale => "stale",
            AbstainReason::BadQuality => "bad_quality",
            AbstainReason::InsufficientData => "insufficient_data",
            AbstainReason::BelowApplicability => "below_applicability",
            AbstainReason::OutOfDomain => "out_of_domain",
            AbstainReason::NotRunning => "not_running",
            AbstainReason::ModelUnavailable => "model_unavailable",
            AbstainReason::Imprecise => "imprecise",
            AbstainReason::MethodsDisagree => "methods_disagree",
        }
    }

    /// Whether this abstention is itself evidence that no fault is present (so an open
    /// finding may clear). All others hold the finding's state: no judgement is possible.
    pub fn counts_as_normal(self) -> bool {
        matches!(self, AbstainReason::BelowApplicability)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Fault(FaultReport),
    Normal {
        evidence: Evidence,
        note: Text,
    },
    /// `detail`: why, in both languages (the Chinese empty: not translated).
    Abstain {
        reason: AbstainReason,
        detail: Text,
        evidence: Evidence,
        citations: Vec<Citation>,
    },
}

impl Outcome {
    /// An abstention with its reason in both languages.
    pub fn abstain(reason: AbstainReason, detail: Text, evidence: Evidence, citations: Vec<Citation>) -> Outcome {
        Outcome::Abstain { reason, detail, evidence, citations }
    }

    /// `fault`, `normal` or `abstain`.
    pub fn status(&self) -> &'static str {
        match self {
            Outcome::Fault(_) => "fault",
            Outcome::Normal { .. } => "normal",
            Outcome::Abstain { .. } => "abstain",
        }
    }

    /// The severity of a fault (panics on other outcomes; for tests).
    #[cfg(test)]
    pub fn fault_severity(&self) -> Severity {
        match self {
            Outcome::Fault(f) => f.severity,
            _ => panic!("not a fault"),
        }
    }

    pub fn evidence(&self) -> &Evidence {
        match self {
            Outcome::Fault(r) => &r.evidence,
            Outcome::Normal { evidence, .. } | Outcome::Abstain { evidence, .. } => evidence,
        }
    }
}

/// Identity of a criterion as it appears in findings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "CriterionInfoWire", into = "CriterionInfoWire")]
pub struct CriterionInfo {
    pub id: String,
    pub version: String,
    /// The title; its Chinese is empty in rows stored before it existed (`pick` falls back).
    pub title: Text,
    pub verification: Verification,
}

// [`CriterionInfo`] as stored and served: the title as `title` and `title_zh`. Its doc
// comments are the API document's descriptions.
/// Identity of a criterion as it appears in findings.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = CriterionInfo)]
struct CriterionInfoWire {
    id: String,
    version: String,
    title: String,
    /// The title in Chinese (empty in rows stored before it existed: read the English one).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    title_zh: String,
    verification: Verification,
}

impl From<CriterionInfoWire> for CriterionInfo {
    fn from(w: CriterionInfoWire) -> Self {
        CriterionInfo {
            id: w.id,
            version: w.version,
            title: Text::new(w.title, w.title_zh),
            verification: w.verification,
        }
    }
}

impl From<CriterionInfo> for CriterionInfoWire {
    fn from(c: CriterionInfo) -> Self {
        CriterionInfoWire {
            id: c.id,
            version: c.version,
            title: c.title.en,
            title_zh: c.title.zh,
            verification: c.verification,
        }
    }
}

crate::text::schema_from_wire!(CriterionInfo => CriterionInfoWire);

pub trait Criterion: Send + Sync {
    fn info(&self) -> &CriterionInfo;
    /// Evaluate at `now_ms`. `open_code` is the code this criterion last found while its
    /// domain's verdict is open, if any, so that thresholds can apply hysteresis.
    fn evaluate(&self, asset: &AssetState, now_ms: i64, open_code: Option<&str>) -> Outcome;
    /// The pack (domain) whose verdict this criterion feeds; `None`: a domain of its own.
    fn domain(&self) -> Option<&str> {
        None
    }
    /// Its part in the domain's verdict.
    fn role(&self) -> pack::Role {
        pack::Role::Criterion
    }
    /// The fault family one of its codes names.
    fn family_of(&self, _code: &str) -> Option<verdict::Family> {
        None
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DiagnoseError {
    #[error("criterion `{criterion}` cites passage `{passage}`, which the reference library does not have")]
    MissingPassage { criterion: String, passage: String },
    #[error(transparent)]
    Pack(#[from] pack::PackError),
}

/// A criterion that is configured but cannot run, and why.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Disabled {
    pub asset: String,
    pub criterion: String,
    pub reason: String,
}

/// One criterion's evaluation for one asset.
#[derive(Debug, Clone)]
pub struct Assessment {
    pub asset: String,
    pub criterion: CriterionInfo,
    pub outcome: Outcome,
    pub ts_ms: i64,
}

/// The criteria of every asset, and the verdict policy of each domain.
pub struct Diagnoser {
    assets: Vec<(String, Vec<Box<dyn Criterion>>)>,
    pub disabled: Vec<Disabled>,
    policies: std::collections::HashMap<String, verdict::DomainPolicy>,
    /// The code each criterion last found, per (asset, criterion): its `open_code` while its
    /// domain's verdict is open.
    last_fault: std::sync::Mutex<std::collections::HashMap<(String, String), String>>,
}

impl Diagnoser {
    /// Build the criteria for every configured asset. `models` are the loaded models;
    /// `unavailable` those configured but unable to run, whose criteria abstain with the
    /// reason instead of silently disappearing.
    pub fn new(
        config: &Config,
        packs: &pack::PackSet,
        models: &[Arc<Model>],
        unavailable: &[model_score::UnavailableModel],
    ) -> Result<Self, DiagnoseError> {
        let mut assets = Vec::new();
        let mut disabled = Vec::new();
        for a in &config.assets {
            let (mut criteria, off, models_used) = pack::online::build(packs, a, models, unavailable)?;
            disabled.extend(off);
            // Models no pack criterion names run as before: one criterion per model of the class.
            for m in
                models.iter().filter(|m| m.manifest.asset_class == a.class && !models_used.contains(&m.manifest.name))
            {
                let roles: Vec<&str> = m.manifest.features.iter().map(|f| f.role.as_str()).collect();
                let absent: Vec<&str> = roles.iter().copied().filter(|r| !a.roles.contains_key(*r)).collect();
                if absent.is_empty() {
                    criteria.push(Box::new(model_score::ModelCriterion::new(m.clone())));
                } else {
                    disabled.push(Disabled {
                        asset: a.id.clone(),
                        criterion: model_score::criterion_id(&m.manifest.name),
                        reason: format!("roles not bound: {}", absent.join(", ")),
                    });
                }
            }
            for u in unavailable.iter().filter(|u| u.asset_class == a.class) {
                if !criteria.iter().any(|c| c.info().id == u.criterion_id) {
                    criteria.push(Box::new(model_score::Unavailable::new(&u.criterion_id, &u.reason)));
                }
            }
            assets.push((a.id.clone(), criteria));
        }
        let mut policies: std::collections::HashMap<String, verdict::DomainPolicy> =
            packs.packs.iter().map(|p| (p.id.clone(), verdict::DomainPolicy::of_pack(p, &packs.library))).collect();
        for (_, cs) in &assets {
            for c in cs.iter().filter(|c| c.domain().is_none()) {
                policies.entry(c.info().id.clone()).or_insert_with(|| verdict::DomainPolicy::single(c.info()));
            }
        }
        Ok(Diagnoser { assets, disabled, policies, last_fault: Default::default() })
    }

    /// The domain a criterion's verdict is kept under.
    fn domain_of(c: &dyn Criterion) -> &str {
        c.domain().unwrap_or(c.info().id.as_str())
    }

    /// The verdicts of every asset: (asset, verdict criterion id) in evaluation order.
    pub fn verdicts(&self) -> Vec<(&str, String)> {
        let mut out: Vec<(&str, String)> = Vec::new();
        for (a, cs) in &self.assets {
            for c in cs {
                let id = verdict::verdict_id(Self::domain_of(c.as_ref()));
                if !out.iter().any(|(x, v)| x == a && *v == id) {
                    out.push((a.as_str(), id));
                }
            }
        }
        out
    }

    /// Add each asset's baseline criteria (`baseline.<name>`); their learned state lives in
    /// `registry`, which outlives a Diagnoser rebuilt on reload.
    pub fn with_baselines(mut self, registry: &crate::diagnose::baseline::online::Registry) -> Self {
        for (asset, criterion, reason) in &registry.disabled {
            self.disabled.push(Disabled { asset: asset.clone(), criterion: criterion.clone(), reason: reason.clone() });
        }
        for e in registry.entries() {
            if let Some((_, criteria)) = self.assets.iter_mut().find(|(a, _)| *a == e.spec.asset) {
                criteria.push(Box::new(baseline::BaselineCriterion::new(e.clone())));
            }
        }
        self
    }

    /// Criteria per asset, for summaries.
    pub fn criteria(&self) -> impl Iterator<Item = (&str, &CriterionInfo)> {
        self.assets.iter().flat_map(|(a, cs)| cs.iter().map(move |c| (a.as_str(), c.info())))
    }

    /// Evaluate every criterion of every asset and reconcile them into one verdict per
    /// (asset, domain): the assessments returned are the verdicts (criterion id
    /// `verdict.<domain>`), each with its criteria's results in `evidence.methods`.
    /// `open_code(asset, verdict id)` is the code of the verdict's open finding.
    pub fn evaluate(
        &self,
        pipeline: &Pipeline,
        now_ms: i64,
        open_code: &dyn Fn(&str, &str) -> Option<String>,
    ) -> Vec<Assessment> {
        let mut out = Vec::new();
        let mut last = self.last_fault.lock().unwrap_or_else(|p| p.into_inner());
        for (asset_id, criteria) in &self.assets {
            let Some(asset) = pipeline.asset(asset_id) else {
                continue;
            };
            let mut results: Vec<(&dyn Criterion, Outcome)> = Vec::new();
            for c in criteria {
                let domain = Self::domain_of(c.as_ref());
                let key = (asset_id.clone(), c.info().id.clone());
                let open = open_code(asset_id, &verdict::verdict_id(domain)).and_then(|_| last.get(&key).cloned());
                let outcome = c.evaluate(asset, now_ms, open.as_deref());
                debug_assert!(
                    !matches!(&outcome, Outcome::Fault(r) if r.citations.is_empty() || r.evidence.values.is_empty()),
                    "every fault has evidence and a citation"
                );
                match &outcome {
                    Outcome::Fault(f) => {
                        last.insert(key, f.code.clone());
                    }
                    Outcome::Normal { .. } => {
                        last.remove(&key);
                    }
                    Outcome::Abstain { .. } => {}
                }
                results.push((c.as_ref(), outcome));
            }
            let mut domains: Vec<&str> = Vec::new();
            for (c, _) in &results {
                let d = Self::domain_of(*c);
                if !domains.contains(&d) {
                    domains.push(d);
                }
            }
            for d in domains {
                let inputs: Vec<verdict::Input> = results
                    .iter()
                    .filter(|(c, _)| Self::domain_of(*c) == d)
                    .map(|(c, o)| verdict::Input {
                        info: c.info(),
                        role: c.role(),
                        outcome: o,
                        family: match o {
                            Outcome::Fault(f) => c.family_of(&f.code),
                            _ => None,
                        },
                    })
                    .collect();
                // A criterion added after construction (a baseline) is a domain of its own.
                let single;
                let policy = match self.policies.get(d) {
                    Some(p) => p,
                    None => {
                        single = verdict::DomainPolicy::single(inputs[0].info);
                        &single
                    }
                };
                let (info, outcome) = verdict::reconcile(policy, &inputs);
                out.push(Assessment { asset: asset_id.clone(), criterion: info, outcome, ts_ms: now_ms });
            }
        }
        out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::sample::{Quality, Sample};
    use std::path::Path;

    const CFG: &str = r#"
[site]
id = "t"
[[sources.modbus]]
id = "d"
host = "127.0.0.1"
points = [
  { id = "ch4", register = "holding", address = 0, type = "f32", unit = "ppm" },
  { id = "c2h4", register = "holding", address = 2, type = "f32", unit = "ppm" },
  { id = "c2h2", register = "holding", address = 4, type = "f32", unit = "ppm" },
  { id = "v", register = "holding", address = 6, type = "f32", unit = "mm/s" },
  { id = "i", register = "holding", address = 8, type = "f32", unit = "A" },
]
[[assets]]
id = "T1"
class = "transformer"
stale_after_ms = 5000
roles = { ch4 = "d.ch4", c2h4 = "d.c2h4", c2h2 = "d.c2h2" }
[[assets]]
id = "P1"
class = "pump_skid"
vibration = { group = "group2", foundation = "rigid", min_running_current_a = 0.5 }
roles = { vib_velocity_rms = "d.v", motor_current = "d.i" }
"#;

    /// A pipeline holding one sample per (point, value, quality) at `ts`.
    pub(crate) fn pipeline_with(samples: &[(&str, f64, Quality)], ts: i64) -> Pipeline {
        let cfg = Config::parse(Path::new("t.toml"), CFG).unwrap();
        let mut p = Pipeline::new(&cfg);
        let batch: Vec<Sample> = samples
            .iter()
            .map(|(pt, v, q)| {
                let id: crate::sample::PointId = format!("d.{pt}").into();
                if q.is_good() {
                    Sample::good(id, ts, *v)
                } else {
                    Sample::bad(id, ts, *q)
                }
            })
            .collect();
        p.ingest(&batch);
        p
    }

    fn eval(c: &dyn Criterion, p: &Pipeline, asset: &str, now: i64, open: Option<&str>) -> Outcome {
        c.evaluate(p.asset(asset).unwrap(), now, open)
    }

    fn reason(o: &Outcome) -> Option<AbstainReason> {
        match o {
            Outcome::Abstain { reason, .. } => Some(*reason),
            _ => None,
        }
    }

    #[test]
    fn names_in_store_and_log_match_the_api() {
        for r in AbstainReason::ALL {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
        for s in [Severity::Low, Severity::Medium, Severity::High, Severity::Critical] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            assert_eq!(Severity::parse(s.as_str()), Some(s));
        }
        assert_eq!(Severity::parse("urgent"), None);
    }

    /// The pack criterion `id` as the Diagnoser builds it for asset `asset` of the test config.
    pub(crate) fn pack_criterion(asset: &str, id: &str) -> Box<dyn Criterion> {
        let cfg = Config::parse(Path::new("t.toml"), CFG).unwrap();
        let packs = pack::PackSet::builtin().unwrap();
        let a = cfg.assets.iter().find(|a| a.id == asset).unwrap();
        let (criteria, _, _) = pack::online::build(&packs, a, &[], &[]).unwrap();
        criteria.into_iter().find(|c| c.info().id == id).unwrap()
    }

    #[test]
    fn duval_applies_only_above_typical_values_with_hysteresis() {
        let c = pack_criterion("T1", "iec60599.duval_triangle_1");
        let c = c.as_ref();
        let g = Quality::Good;
        // All at or below typical (CH4 130 is not above 130): abstain, citing the typical values.
        let p = pipeline_with(&[("ch4", 130.0, g), ("c2h4", 100.0, g), ("c2h2", 1.0, g)], 0);
        let o = eval(c, &p, "T1", 0, None);
        assert_eq!(reason(&o), Some(AbstainReason::BelowApplicability));
        let Outcome::Abstain { citations, .. } = &o else { unreachable!() };
        assert_eq!(citations[0].passage_id, "iec60599.typical-values");
        // While open, 90 % of typical is the limit: CH4 120 > 117 keeps it applicable.
        let p = pipeline_with(&[("ch4", 120.0, g), ("c2h4", 100.0, g), ("c2h2", 1.0, g)], 0);
        assert_eq!(reason(&eval(c, &p, "T1", 0, None)), Some(AbstainReason::BelowApplicability));
        let Outcome::Fault(r) = eval(c, &p, "T1", 0, Some("DGA.DUVAL1.T2")) else { panic!("applicable while open") };
        // 120 / 221 = 54 % CH4, 45 % C2H4, 0.5 % C2H2: T2.
        assert_eq!(r.code, "DGA.DUVAL1.T2");
        assert_eq!(r.citations.len(), 2, "the triangle and the typical values");
        assert_eq!(r.evidence.values.len(), 3);
        // Above typical: a diagnosis with the percentages as derived evidence.
        let p = pipeline_with(&[("ch4", 400.0, g), ("c2h4", 600.0, g), ("c2h2", 2.0, g)], 0);
        let Outcome::Fault(r) = eval(c, &p, "T1", 0, None) else { panic!() };
        assert_eq!(r.code, "DGA.DUVAL1.T3");
        assert!((r.evidence.derived[1].value - 59.88).abs() < 0.01);
        assert_eq!(r.severity, Severity::High);
    }

    #[test]
    fn stale_or_bad_evidence_abstains() {
        let c = pack_criterion("T1", "iec60599.duval_triangle_1");
        let c = c.as_ref();
        let g = Quality::Good;
        let p = pipeline_with(&[("ch4", 400.0, g), ("c2h4", 600.0, g), ("c2h2", 2.0, g)], 0);
        assert_eq!(reason(&eval(c, &p, "T1", 5001, None)), Some(AbstainReason::Stale));
        let p = pipeline_with(&[("ch4", 400.0, g), ("c2h4", 600.0, Quality::Exception(2)), ("c2h2", 2.0, g)], 0);
        let o = eval(c, &p, "T1", 0, None);
        assert_eq!(reason(&o), Some(AbstainReason::BadQuality));
        let Outcome::Abstain { detail: Text { en: detail, .. }, .. } = o else { unreachable!() };
        assert!(detail.contains("c2h4") && detail.contains("exception:02"), "{detail}");
        let p = pipeline_with(&[("ch4", 400.0, g)], 0);
        assert_eq!(reason(&eval(c, &p, "T1", 0, None)), Some(AbstainReason::NoData));
    }

    #[test]
    fn vibration_zones_running_check_and_hysteresis() {
        let c = pack_criterion("P1", "iso10816_3.zone");
        let c = c.as_ref();
        assert_eq!(c.info().verification, Verification::Verified, "group 2 rigid is V2");
        let g = Quality::Good;
        let at = |v: f64, i: f64| pipeline_with(&[("v", v, g), ("i", i, g)], 0);
        assert_eq!(eval(c, &at(2.79, 2.0), "P1", 0, None).status(), "normal");
        let Outcome::Fault(r) = eval(c, &at(2.8, 2.0), "P1", 0, None) else { panic!() };
        assert_eq!((r.code.as_str(), r.severity), ("VIB.ISO10816_3.ZONE_C", Severity::Medium));
        assert_eq!(r.citations[0].passage_id, "iso10816-3.group2-rigid");
        let Outcome::Fault(r) = eval(c, &at(4.5, 2.0), "P1", 0, None) else { panic!() };
        assert_eq!((r.code.as_str(), r.severity), ("VIB.ISO10816_3.ZONE_D", Severity::Critical));
        // Open: boundaries 5 % lower, so 2.7 (>= 2.66) stays in C.
        assert_eq!(eval(c, &at(2.7, 2.0), "P1", 0, Some("VIB.ISO10816_3.ZONE_C")).status(), "fault");
        assert_eq!(eval(c, &at(2.65, 2.0), "P1", 0, Some("VIB.ISO10816_3.ZONE_C")).status(), "normal");
        // Stopped machine: abstain, whatever the vibration.
        assert_eq!(reason(&eval(c, &at(9.0, 0.2), "P1", 0, None)), Some(AbstainReason::NotRunning));
    }

    /// criteria.md's status column: V2 verified, V1 shown as secondary, U disabled with the
    /// reason; a variant parameter that is not set disables with the reason (a known one set to
    /// a value no variant has is a config error).
    #[test]
    fn status_column_is_honoured() {
        let text = CFG.replace(
            "vibration = { group = \"group2\", foundation = \"rigid\", min_running_current_a = 0.5 }",
            "vibration = { group = \"group1\", foundation = \"rigid\" }",
        ) + "[[assets]]\nid = \"M1\"\nclass = \"motor\"\nparams = { insulation_class = \"C\" }\nroles = { winding_temp = \"d.v\" }\n";
        let e = Config::parse(Path::new("t.toml"), &text).unwrap_err().to_string();
        assert!(e.contains("assets[2].params.insulation_class") && e.contains("\"C\"") && e.contains("\"F\""), "{e}");
        let text = text.replace("params = { insulation_class = \"C\" }\n", "");
        let cfg = Config::parse(Path::new("t.toml"), &text).unwrap();
        let packs = pack::PackSet::builtin().unwrap();
        let d = Diagnoser::new(&cfg, &packs, &[], &[]).unwrap();
        let v =
            |asset: &str, id: &str| d.criteria().find(|(a, c)| *a == asset && c.id == id).map(|(_, c)| c.verification);
        assert_eq!(v("T1", "iec60599.duval_triangle_1"), Some(Verification::Verified));
        assert_eq!(v("P1", "iso10816_3.zone"), Some(Verification::Secondary), "group 1 rigid is V1");
        let off = |asset: &str, id: &str| {
            d.disabled.iter().find(|x| x.asset == asset && x.criterion == id).map(|x| x.reason.clone())
        };
        assert!(off("T1", "dlt722.absolute_rate").unwrap().starts_with("unverified (status U): "));
        assert!(off("M1", "bearing.temperature").unwrap().contains("unverified"));
        let why = off("M1", "iec60085.winding_class").unwrap();
        assert!(why.contains("`insulation_class` not set") && why.contains("B, F, H"), "{why}");
        assert!(off("T1", "dlt722.three_ratio").unwrap().contains("roles not bound: h2, c2h6"));
    }
}
