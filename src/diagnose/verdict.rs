//! The verdict: one diagnosis per asset and domain (a pack), reconciled from the outcomes of
//! the domain's criteria under the pack's written policy (`[pack.verdict]`, see
//! docs/verdict.md). The verdict is what becomes a finding; every criterion's own result is
//! kept in its evidence (`methods`), so a technician sees each method's view.
//!
//! Policies:
//! - `primary_confirmed` (transformer DGA): level methods say whether there is anything to
//!   diagnose; the primary method names the fault family; confirmation methods agree or
//!   disagree. Agreement (or no contradiction) gives the primary's diagnosis, "confirmed by
//!   N of M"; any contradiction in fault family gives "methods disagree", an abstention that
//!   lists each view. Supplementary methods only add remarks.
//! - `independent`: the criteria judge different quantities; the verdict lists every fault,
//!   and is normal only when every criterion judged normal.
//!
//! An abstention is never turned into "normal": a verdict is normal only on judged evidence.

use super::pack::{Policy, Role};
use super::{AbstainReason, CriterionInfo, Derived, Evidence, EvidenceValue, FaultReport, Outcome, Severity, Text};
use crate::knowledge::{Citation, Verification};
use serde::{Deserialize, Serialize};

/// A fault family, the level at which methods are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Family {
    /// Partial discharges.
    PD,
    /// Discharges (sparking, arcing: D1, D2).
    D,
    /// Thermal faults (T1, T2, T3).
    T,
    /// Thermal and electrical faults together.
    DT,
}

impl Family {
    /// Two families are compatible when equal, or when one is the mixed family DT and the
    /// other one of its parts (D or T). PD and D are different families.
    pub fn compatible(self, other: Family) -> bool {
        self == other
            || matches!((self, other), (Family::DT, Family::D | Family::T) | (Family::D | Family::T, Family::DT))
    }

    pub fn label(self) -> Text {
        match self {
            Family::PD => Text::new("partial discharges", "局部放电"),
            Family::D => Text::new("discharges (electrical)", "放电（电性故障）"),
            Family::T => Text::new("thermal fault", "过热故障"),
            Family::DT => Text::new("thermal and electrical faults", "过热兼放电故障"),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Family::PD => "PD",
            Family::D => "D",
            Family::T => "T",
            Family::DT => "DT",
        }
    }
}

/// One method's view, as the verdict shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MethodView {
    pub criterion: String,
    pub title: Text,
    pub verification: Verification,
    pub role: Role,
    /// `fault`, `normal` or `abstain`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<Family>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub severity: Option<Severity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<AbstainReason>,
    /// What the method found (its fault title, or its evidence line / abstention detail).
    pub summary: Text,
    /// Whether a confirmation method's family agrees with the diagnosis (absent: it named
    /// no family, or there is no diagnosis to agree with).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agrees: Option<bool>,
    /// A model method's anomaly score (absent for published criteria).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VerdictKind {
    /// A fault named (the agreed diagnosis, or independent criteria's faults).
    Diagnosis,
    /// Judged evidence says no fault.
    Normal,
    /// Methods name different fault families: no diagnosis.
    MethodsDisagree,
    /// Not enough judged evidence for a verdict (missing, stale, bad, imprecise data).
    Insufficient,
}

impl VerdictKind {
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictKind::Diagnosis => "diagnosis",
            VerdictKind::Normal => "normal",
            VerdictKind::MethodsDisagree => "methods_disagree",
            VerdictKind::Insufficient => "insufficient",
        }
    }
}

/// The verdict's own summary, kept in its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VerdictInfo {
    pub kind: VerdictKind,
    /// The pack whose policy decided.
    pub domain: String,
    /// `primary_confirmed` or `independent`.
    pub policy: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<Family>,
    /// Confirmation methods whose family agrees with the diagnosis.
    pub confirmed_by: usize,
    /// Confirmation methods that named a family at all.
    pub of: usize,
    /// What to do next when there is no diagnosis (the confirming test), or empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<Text>,
}

/// A domain's policy, as built from its pack.
#[derive(Debug, Clone)]
pub struct DomainPolicy {
    pub domain: String,
    pub version: String,
    pub title: Text,
    pub policy: Policy,
    pub cites: Vec<Citation>,
    pub confirm_action: Option<Text>,
}

impl DomainPolicy {
    /// A pack's policy, with its citations resolved.
    pub fn of_pack(pack: &super::pack::Pack, lib: &crate::knowledge::Library) -> DomainPolicy {
        let mut cites: Vec<Citation> = pack.verdict.cite.iter().filter_map(|c| lib.citation(c.get_ref())).collect();
        for c in &mut cites {
            c.passage = Text::default();
        }
        DomainPolicy {
            domain: pack.id.clone(),
            version: pack.version.clone(),
            title: pack.title.clone(),
            policy: pack.verdict.policy,
            cites,
            confirm_action: pack.verdict.confirm_action.clone(),
        }
    }

    /// A domain of one criterion that no pack groups (a model of its own).
    pub fn single(info: &CriterionInfo) -> DomainPolicy {
        DomainPolicy {
            domain: info.id.clone(),
            version: info.version.clone(),
            title: info.title.fill(),
            policy: Policy::Independent,
            cites: Vec::new(),
            confirm_action: None,
        }
    }

    /// The verdict's identity as findings carry it: `verdict.<domain>`.
    pub fn info(&self, verification: Verification) -> CriterionInfo {
        CriterionInfo {
            id: verdict_id(&self.domain),
            version: self.version.clone(),
            title: self.title.clone(),
            verification,
        }
    }
}

/// The criterion id of a domain's verdict.
pub fn verdict_id(domain: &str) -> String {
    format!("verdict.{domain}")
}

/// One criterion's result, as the reconciliation reads it.
pub struct Input<'a> {
    pub info: &'a CriterionInfo,
    pub role: Role,
    pub outcome: &'a Outcome,
    /// The family of the fault it found (from its region or code), if any.
    pub family: Option<Family>,
}

impl Input<'_> {
    fn fault(&self) -> Option<&FaultReport> {
        match self.outcome {
            Outcome::Fault(f) => Some(f),
            _ => None,
        }
    }

    /// A fault-type method whose applicability gate opened (a gas above its typical or
    /// attention value) even if it could not name a fault.
    fn gate_open(&self) -> bool {
        match self.outcome {
            Outcome::Fault(_) => true,
            Outcome::Abstain { reason, .. } => matches!(reason, AbstainReason::Imprecise | AbstainReason::OutOfDomain),
            Outcome::Normal { .. } => false,
        }
    }

    fn view(&self, agrees: Option<bool>) -> MethodView {
        let (code, severity, reason, summary) = match self.outcome {
            Outcome::Fault(f) => {
                let s = if f.evidence.summary.en.is_empty() { f.title.clone() } else { f.evidence.summary.clone() };
                (Some(f.code.clone()), Some(f.severity), None, s)
            }
            Outcome::Normal { evidence, note } => {
                let s = if evidence.summary.en.is_empty() { note.clone() } else { evidence.summary.clone() };
                (None, None, None, s)
            }
            Outcome::Abstain { reason, detail, .. } => (None, None, Some(*reason), detail.fill()),
        };
        MethodView {
            criterion: self.info.id.clone(),
            title: self.info.title.fill(),
            verification: self.info.verification,
            role: self.role,
            status: self.outcome.status().to_string(),
            code,
            family: self.family.filter(|_| self.fault().is_some()),
            severity,
            reason,
            summary,
            agrees,
            score: self.outcome.evidence().derived.iter().find(|d| d.name.en == "anomaly score").map(|d| d.value),
        }
    }
}

/// Reconcile a domain's criteria into its verdict: an [`Outcome`] whose evidence carries
/// every method's view (`methods`) and the verdict's summary (`verdict`).
pub fn reconcile(p: &DomainPolicy, inputs: &[Input]) -> (CriterionInfo, Outcome) {
    match p.policy {
        Policy::PrimaryConfirmed => primary_confirmed(p, inputs),
        Policy::Independent => independent(p, inputs),
    }
}

/// Evidence values, derived numbers and citations of the given inputs, without repeats.
fn merged(inputs: &[&Input]) -> (Vec<EvidenceValue>, Vec<Derived>) {
    let mut values: Vec<EvidenceValue> = Vec::new();
    let mut derived: Vec<Derived> = Vec::new();
    for i in inputs {
        let ev = i.outcome.evidence();
        for v in &ev.values {
            if !values.iter().any(|x| x.role == v.role && x.point == v.point) {
                values.push(v.clone());
            }
        }
        for d in &ev.derived {
            if !derived.iter().any(|x| x.name == d.name) {
                derived.push(d.clone());
            }
        }
    }
    (values, derived)
}

/// The methods' citations in order, then the policy's.
fn cites_of(p: &DomainPolicy, inputs: &[&Input]) -> Vec<Citation> {
    let mut out: Vec<Citation> = Vec::new();
    for i in inputs {
        let list: &[Citation] = match i.outcome {
            Outcome::Fault(f) => &f.citations,
            Outcome::Abstain { citations, .. } => citations,
            Outcome::Normal { .. } => &[],
        };
        for c in list {
            if !out.iter().any(|x| x.passage_id == c.passage_id) {
                out.push(c.clone());
            }
        }
    }
    for c in &p.cites {
        if !out.iter().any(|x| x.passage_id == c.passage_id) {
            out.push(c.clone());
        }
    }
    out
}

fn weakest(inputs: &[&Input]) -> Verification {
    let rank = |v: Verification| match v {
        Verification::Verified => 0,
        Verification::Secondary => 1,
        Verification::Model => 2,
    };
    inputs.iter().map(|i| i.info.verification).max_by_key(|v| rank(*v)).unwrap_or(Verification::Verified)
}

fn join(items: &[Text], sep_en: &str, sep_zh: &str) -> Text {
    Text::new(
        items.iter().map(|t| t.en.as_str()).collect::<Vec<_>>().join(sep_en),
        items.iter().map(|t| t.zh.as_str()).collect::<Vec<_>>().join(sep_zh),
    )
}

/// One line per method: "Duval Triangle 1: T3 (thermal fault)".
fn method_line(i: &Input) -> Text {
    let v = i.view(None);
    let what = match (&v.code, v.family) {
        (Some(_), Some(f)) => {
            Text::new(format!("{} [{}]", v.summary.en, f.as_str()), format!("{}［{}］", v.summary.zh, f.as_str()))
        }
        _ => v.summary.clone(),
    };
    Text::new(format!("{}: {}", v.title.en, what.en), format!("{}：{}", v.title.zh, what.zh))
}

struct Built {
    kind: VerdictKind,
    family: Option<Family>,
    confirmed_by: usize,
    of: usize,
    next: Option<Text>,
}

fn finish(
    p: &DomainPolicy,
    inputs: &[Input],
    agree: &dyn Fn(&Input) -> Option<bool>,
    b: Built,
    used: &[&Input],
    result: Result<(FaultReport, Verification), (AbstainReason, Text)>,
    normal_note: Option<Text>,
) -> (CriterionInfo, Outcome) {
    let all: Vec<&Input> = inputs.iter().collect();
    let (values, derived) = merged(if used.is_empty() { &all } else { used });
    let mut ev = Evidence { values, derived, ..Default::default() };
    ev.methods = inputs.iter().map(|i| i.view(agree(i))).collect();
    ev.verdict = Some(VerdictInfo {
        kind: b.kind,
        domain: p.domain.clone(),
        policy: match p.policy {
            Policy::PrimaryConfirmed => "primary_confirmed".into(),
            Policy::Independent => "independent".into(),
        },
        family: b.family,
        confirmed_by: b.confirmed_by,
        of: b.of,
        next: b.next,
    });
    match (result, normal_note) {
        (Ok((mut f, verification)), _) => {
            ev.summary = f.evidence.summary.clone();
            f.evidence = ev;
            (p.info(verification), Outcome::Fault(f))
        }
        (Err(_), Some(note)) => {
            ev.say(note.clone());
            (p.info(weakest(used)), Outcome::Normal { evidence: ev, note })
        }
        (Err((reason, detail)), None) => {
            ev.say(detail.clone());
            let cites = cites_of(p, used);
            (p.info(weakest(used)), Outcome::abstain(reason, detail, ev, cites))
        }
    }
}

fn primary_confirmed(p: &DomainPolicy, inputs: &[Input]) -> (CriterionInfo, Outcome) {
    let by = |r: Role| inputs.iter().filter(move |i| i.role == r);
    let levels: Vec<&Input> = by(Role::Level).collect();
    let primary: Option<&Input> = by(Role::Primary).next();
    let confirms: Vec<&Input> = by(Role::Confirmation).collect();
    let supplementary: Vec<&Input> = by(Role::Supplementary).collect();
    let level_faults: Vec<&Input> = levels.iter().copied().filter(|i| i.fault().is_some()).collect();
    let level_normal: Vec<&Input> =
        levels.iter().copied().filter(|i| matches!(i.outcome, Outcome::Normal { .. })).collect();
    let typed: Vec<&Input> = primary.into_iter().chain(confirms.iter().copied()).collect();
    let abnormal = !level_faults.is_empty() || typed.iter().any(|i| i.gate_open());
    let remarks: Vec<Text> = supplementary.iter().filter(|i| i.fault().is_some()).map(|i| method_line(i)).collect();
    let next = p.confirm_action.clone();
    let none = |_: &Input| None;

    if !abnormal {
        if !level_normal.is_empty() {
            let lines: Vec<Text> = level_normal.iter().map(|i| method_line(i)).collect();
            let j = join(&lines, "; ", "；");
            let note = Text::new(format!("no abnormal gassing: {}", j.en), format!("未见异常产气：{}", j.zh));
            let b = Built { kind: VerdictKind::Normal, family: None, confirmed_by: 0, of: 0, next: None };
            return finish(
                p,
                inputs,
                &none,
                b,
                &level_normal,
                Err((AbstainReason::NoData, Text::same(""))),
                Some(note),
            );
        }
        let lines: Vec<Text> = levels.iter().map(|i| method_line(i)).collect();
        let j = join(&lines, "; ", "；");
        let reason = levels
            .iter()
            .find_map(|i| match i.outcome {
                Outcome::Abstain { reason, .. } => Some(*reason),
                _ => None,
            })
            .unwrap_or(AbstainReason::NoData);
        let detail = Text::new(
            format!("not enough evidence to say whether the levels are normal: {}", j.en),
            format!("证据不足，无法判断含量是否正常：{}", j.zh),
        );
        let b = Built { kind: VerdictKind::Insufficient, family: None, confirmed_by: 0, of: 0, next: next.clone() };
        return finish(p, inputs, &none, b, &levels, Err((reason, detail)), None);
    }

    // Something is abnormal: name the fault family.
    let level_lines: Vec<Text> = level_faults.iter().map(|i| method_line(i)).collect();
    let levels_text = join(&level_lines, "; ", "；");
    let typed_faults: Vec<&Input> =
        typed.iter().copied().filter(|i| i.fault().is_some() && i.family.is_some()).collect();
    let families: Vec<Family> = typed_faults.iter().filter_map(|i| i.family).collect();
    let disagreement = |lead: Family| families.iter().any(|f| !f.compatible(lead));

    let primary_fault = primary.filter(|i| i.fault().is_some() && i.family.is_some());
    let lead: Option<(&Input, Family)> = match primary_fault {
        Some(pf) => Some((pf, pf.family.expect("filtered"))),
        // Without the primary: a diagnosis needs two confirmation methods naming the same
        // family and none naming another (edgecite policy).
        None => {
            let confirming: Vec<&Input> =
                typed_faults.iter().copied().filter(|i| i.role == Role::Confirmation).collect();
            match confirming.first() {
                Some(first) if confirming.len() >= 2 && confirming.iter().all(|i| i.family == first.family) => {
                    Some((*first, first.family.expect("filtered")))
                }
                _ => None,
            }
        }
    };

    if let Some((lead_input, fam)) = lead {
        if !disagreement(fam) {
            let agreeing: Vec<&Input> = confirms
                .iter()
                .copied()
                .filter(|i| {
                    i.fault().is_some() && i.family.is_some_and(|f| f.compatible(fam)) && !std::ptr::eq(*i, lead_input)
                })
                .collect();
            let of = confirms.iter().filter(|i| i.fault().is_some() && i.family.is_some()).count()
                - usize::from(lead_input.role == Role::Confirmation);
            let f = lead_input.fault().expect("a fault");
            let mut used: Vec<&Input> = vec![lead_input];
            used.extend(agreeing.iter().copied());
            used.extend(level_faults.iter().copied());
            let who = if lead_input.role == Role::Primary {
                Text::new(
                    format!("confirmed by {} of {} other method(s) that named a fault type", agreeing.len(), of),
                    format!("{} 种给出故障类型的其他方法中有 {} 种印证", of, agreeing.len()),
                )
            } else {
                Text::new(
                    format!("the primary method gave no diagnosis; {} confirmation methods agree", agreeing.len() + 1),
                    format!("主方法未给出诊断；{} 种辅助方法结论一致", agreeing.len() + 1),
                )
            };
            let line = f.evidence.summary.clone();
            let mut parts = vec![Text::new(
                format!("{} ({}): {}; {}", f.title.en, fam.label().en, who.en, line.en),
                format!("{}（{}）：{}；{}", f.title.zh, fam.label().zh, who.zh, line.zh),
            )];
            if !level_lines.is_empty() {
                parts.push(Text::new(format!("levels: {}", levels_text.en), format!("含量：{}", levels_text.zh)));
            }
            if !remarks.is_empty() {
                let r = join(&remarks, "; ", "；");
                parts.push(Text::new(format!("also: {}", r.en), format!("另：{}", r.zh)));
            }
            let summary = join(&parts, "; ", "；");
            let mut ev = f.evidence.clone();
            ev.say(summary);
            let report = FaultReport {
                code: f.code.clone(),
                title: f.title.clone(),
                severity: f.severity,
                evidence: ev,
                citations: cites_of(p, &used),
                recommended_action: f.recommended_action.clone(),
            };
            let agree = |i: &Input| -> Option<bool> {
                (i.role == Role::Confirmation && i.fault().is_some())
                    .then(|| i.family.map(|g| g.compatible(fam)))
                    .flatten()
            };
            let b =
                Built { kind: VerdictKind::Diagnosis, family: Some(fam), confirmed_by: agreeing.len(), of, next: None };
            let verification = weakest(&[lead_input]);
            return finish(p, inputs, &agree, b, &used, Ok((report, verification)), None);
        }
    }

    if families.iter().enumerate().any(|(i, a)| families[..i].iter().any(|b| !a.compatible(*b))) {
        let lines: Vec<Text> = typed_faults.iter().map(|i| method_line(i)).collect();
        let j = join(&lines, "; ", "；");
        let detail = Text::new(
            format!(
                "methods disagree on the fault type, so no diagnosis is given: {}{}",
                j.en,
                if level_lines.is_empty() { String::new() } else { format!("; levels: {}", levels_text.en) }
            ),
            format!(
                "各方法对故障类型的判断不一致，故不作诊断：{}{}",
                j.zh,
                if level_lines.is_empty() { String::new() } else { format!("；含量：{}", levels_text.zh) }
            ),
        );
        let lead_family = primary_fault.and_then(|i| i.family);
        let agree = |i: &Input| -> Option<bool> {
            let lf = lead_family?;
            (i.role == Role::Confirmation && i.fault().is_some()).then(|| i.family.map(|g| g.compatible(lf))).flatten()
        };
        let b = Built {
            kind: VerdictKind::MethodsDisagree,
            family: None,
            confirmed_by: 0,
            of: confirms.iter().filter(|i| i.fault().is_some() && i.family.is_some()).count(),
            next: next.clone(),
        };
        let mut used = typed_faults.clone();
        used.extend(level_faults.iter().copied());
        return finish(p, inputs, &agree, b, &used, Err((AbstainReason::MethodsDisagree, detail)), None);
    }

    // Abnormal, but no method could name a family on this evidence.
    let why: Vec<Text> = typed.iter().map(|i| method_line(i)).collect();
    let j = join(&why, "; ", "；");
    let detail = Text::new(
        format!(
            "abnormal levels{}, but the fault type cannot be determined from this evidence: {}",
            if level_lines.is_empty() { String::new() } else { format!(" ({})", levels_text.en) },
            j.en
        ),
        format!(
            "含量异常{}，但无法由现有证据判断故障类型：{}",
            if level_lines.is_empty() { String::new() } else { format!("（{}）", levels_text.zh) },
            j.zh
        ),
    );
    let b = Built { kind: VerdictKind::Insufficient, family: None, confirmed_by: 0, of: 0, next };
    let mut used = typed.clone();
    used.extend(level_faults.iter().copied());
    finish(p, inputs, &none, b, &used, Err((AbstainReason::InsufficientData, detail)), None)
}

fn independent(p: &DomainPolicy, inputs: &[Input]) -> (CriterionInfo, Outcome) {
    let none = |_: &Input| None;
    let faults: Vec<&Input> = inputs.iter().filter(|i| i.fault().is_some()).collect();
    if let Some(worst) = faults.iter().copied().max_by_key(|i| i.fault().map(|f| f.severity)) {
        let f = worst.fault().expect("a fault");
        let lines: Vec<Text> = faults.iter().map(|i| method_line(i)).collect();
        let mut ev = f.evidence.clone();
        ev.say(join(&lines, "; ", "；"));
        let report = FaultReport {
            code: f.code.clone(),
            title: if faults.len() > 1 {
                Text::new(
                    format!("{} (and {} more)", f.title.en, faults.len() - 1),
                    format!("{}（另有 {} 项）", f.title.zh, faults.len() - 1),
                )
            } else {
                f.title.clone()
            },
            severity: f.severity,
            evidence: ev,
            citations: cites_of(p, &faults),
            recommended_action: f.recommended_action.clone(),
        };
        let b = Built { kind: VerdictKind::Diagnosis, family: worst.family, confirmed_by: 0, of: 0, next: None };
        return finish(p, inputs, &none, b, &faults, Ok((report, weakest(&[worst]))), None);
    }
    let judged_normal = |i: &&Input| match i.outcome {
        Outcome::Normal { .. } => true,
        Outcome::Abstain { reason, .. } => reason.counts_as_normal(),
        Outcome::Fault(_) => false,
    };
    let all: Vec<&Input> = inputs.iter().collect();
    let lines: Vec<Text> = inputs.iter().map(method_line).collect();
    let j = join(&lines, "; ", "；");
    if !inputs.is_empty() && all.iter().all(judged_normal) {
        let b = Built { kind: VerdictKind::Normal, family: None, confirmed_by: 0, of: 0, next: None };
        // A single criterion keeps its own note (e.g. "zone A").
        let note = if inputs.len() == 1 {
            match inputs[0].outcome {
                Outcome::Normal { note, evidence } => {
                    if evidence.summary.en.is_empty() {
                        note.clone()
                    } else {
                        evidence.summary.clone()
                    }
                }
                o => o.evidence().summary.clone(),
            }
        } else {
            j
        };
        // An applicability abstention ("levels below where the criterion applies") is normal
        // evidence, kept as such for the tracker.
        if let [only] = inputs {
            if let Outcome::Abstain { reason, detail, .. } = only.outcome {
                let b2 = Built { kind: VerdictKind::Normal, family: None, confirmed_by: 0, of: 0, next: None };
                return finish(p, inputs, &none, b2, &all, Err((*reason, detail.fill())), None);
            }
        }
        return finish(p, inputs, &none, b, &all, Err((AbstainReason::NoData, Text::same(""))), Some(note));
    }
    let reason = inputs
        .iter()
        .find_map(|i| match i.outcome {
            Outcome::Abstain { reason, .. } if !reason.counts_as_normal() => Some(*reason),
            _ => None,
        })
        .unwrap_or(AbstainReason::NoData);
    let detail = if inputs.len() == 1 {
        match inputs[0].outcome {
            Outcome::Abstain { detail, .. } => detail.fill(),
            _ => j,
        }
    } else {
        Text::new(format!("not every criterion could judge: {}", j.en), format!("并非所有判据都能作出判断：{}", j.zh))
    };
    let b = Built { kind: VerdictKind::Insufficient, family: None, confirmed_by: 0, of: 0, next: None };
    finish(p, inputs, &none, b, &all, Err((reason, detail)), None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::Severity;

    fn info(id: &str) -> CriterionInfo {
        CriterionInfo {
            id: id.into(),
            version: "1".into(),
            title: Text::new(id, ""),
            verification: Verification::Verified,
        }
    }

    /// A method's outcome in the table: `F:T:high` (fault of family T), `N` (normal),
    /// `A:no_data` (abstain with a reason), `-` (absent).
    fn outcome(spec: &str) -> Option<(Outcome, Option<Family>)> {
        let parts: Vec<&str> = spec.split(':').collect();
        let ev = Evidence { summary: Text::untranslated(format!("evidence of {spec}")), ..Default::default() };
        match parts[0] {
            "-" => None,
            "N" => Some((Outcome::Normal { evidence: ev, note: Text::same("normal") }, None)),
            "A" => {
                let reason: AbstainReason = serde_json::from_value(serde_json::json!(parts[1])).unwrap();
                Some((Outcome::abstain(reason, Text::same(spec), ev, Vec::new()), None))
            }
            "F" => {
                let fam = match parts[1] {
                    "PD" => Some(Family::PD),
                    "D" => Some(Family::D),
                    "T" => Some(Family::T),
                    "DT" => Some(Family::DT),
                    _ => None,
                };
                let sev = parts.get(2).and_then(|s| Severity::parse(s)).unwrap_or(Severity::Medium);
                Some((
                    Outcome::Fault(FaultReport {
                        code: format!("X.{spec}"),
                        title: Text::same(spec),
                        severity: sev,
                        evidence: ev,
                        citations: Vec::new(),
                        recommended_action: Text::same("act"),
                    }),
                    fam,
                ))
            }
            s => panic!("spec {s}"),
        }
    }

    fn policy(p: Policy) -> DomainPolicy {
        DomainPolicy {
            domain: "d".into(),
            version: "1".into(),
            title: Text::same("D"),
            policy: p,
            cites: Vec::new(),
            confirm_action: Some(Text::same("repeat the sample")),
        }
    }

    /// The DGA policy, table-driven: levels, primary, confirmations, supplementary ->
    /// verdict kind, family, confirmed_by / of, status.
    #[test]
    fn primary_confirmed_policy_table() {
        type Row<'a> = (&'a str, &'a str, &'a [&'a str], &'a str, &'a str, Option<Family>, (usize, usize), &'a str);
        #[rustfmt::skip]
        let table: &[Row] = &[
            // level        primary                confirmations                     supplementary  kind               family            agree   status
            ("N",           "A:below_applicability", &["A:below_applicability"],      "-",           "normal",          None,             (0, 0), "normal"),
            ("A:no_data",   "A:below_applicability", &["A:below_applicability"],      "-",           "insufficient",    None,             (0, 0), "abstain"),
            ("F:-:medium",  "F:T:high",              &["F:T", "A:out_of_domain"],      "-",           "diagnosis",       Some(Family::T),  (1, 1), "fault"),
            ("F:-:medium",  "F:T:high",              &["F:D:critical"],               "-",           "methods_disagree", None,            (0, 1), "abstain"),
            ("F:-:medium",  "F:DT",                  &["F:D", "F:T"],                 "-",           "diagnosis",       Some(Family::DT), (2, 2), "fault"),
            ("F:-:medium",  "F:PD",                  &["F:D:critical"],               "-",           "methods_disagree", None,            (0, 1), "abstain"),
            ("F:-:medium",  "A:no_data",             &["F:T", "F:T"],                 "-",           "diagnosis",       Some(Family::T),  (1, 1), "fault"),
            ("F:-:medium",  "A:no_data",             &["F:T"],                        "-",           "insufficient",    None,             (0, 0), "abstain"),
            ("F:-:medium",  "A:no_data",             &["F:T", "F:D"],                 "-",           "methods_disagree", None,            (0, 2), "abstain"),
            ("N",           "A:below_applicability", &["A:below_applicability"],      "F:-:medium",  "normal",          None,             (0, 0), "normal"),
            ("N",           "F:T",                   &["A:imprecise"],                "-",           "diagnosis",       Some(Family::T),  (0, 0), "fault"),
            ("N",           "A:imprecise",           &["A:below_applicability"],      "-",           "insufficient",    None,             (0, 0), "abstain"),
        ];
        for (i, (level, primary, confirms, supp, kind, family, (by, of), status)) in table.iter().enumerate() {
            let mut rows: Vec<(CriterionInfo, Role, Outcome, Option<Family>)> = Vec::new();
            let mut add = |id: String, role: Role, spec: &str| {
                if let Some((o, f)) = outcome(spec) {
                    rows.push((info(&id), role, o, f));
                }
            };
            add("level".into(), Role::Level, level);
            add("primary".into(), Role::Primary, primary);
            for (j, c) in confirms.iter().enumerate() {
                add(format!("confirm{j}"), Role::Confirmation, c);
            }
            add("supp".into(), Role::Supplementary, supp);
            let inputs: Vec<Input> =
                rows.iter().map(|(i, r, o, f)| Input { info: i, role: *r, outcome: o, family: *f }).collect();
            let (vinfo, v) = reconcile(&policy(Policy::PrimaryConfirmed), &inputs);
            let vi = v.evidence().verdict.clone().unwrap();
            let row = format!("row {i}: {level} | {primary} | {confirms:?} | {supp}");
            assert_eq!(vinfo.id, "verdict.d");
            assert_eq!(vi.kind.as_str(), *kind, "{row}");
            assert_eq!(vi.family, *family, "{row}");
            assert_eq!((vi.confirmed_by, vi.of), (*by, *of), "{row}");
            assert_eq!(v.status(), *status, "{row}");
            assert_eq!(v.evidence().methods.len(), inputs.len(), "every method is listed: {row}");
            match (&v, *kind) {
                // Severity from the agreed diagnosis (the primary's, or the confirmations'),
                // never the most severe method.
                (Outcome::Fault(f), _) if primary.starts_with("F:") => {
                    assert_eq!(f.severity, outcome(primary).unwrap().0.fault_severity(), "{row}")
                }
                (Outcome::Abstain { reason, .. }, "methods_disagree") => {
                    assert_eq!(*reason, AbstainReason::MethodsDisagree, "{row}");
                    assert!(vi.next.is_some(), "the confirming test is recommended: {row}");
                }
                (Outcome::Abstain { reason, .. }, _) => {
                    assert!(!reason.counts_as_normal(), "an abstention is never turned into normal: {row}")
                }
                _ => {}
            }
        }
    }

    #[test]
    fn independent_policy_is_normal_only_when_every_criterion_judged_normal() {
        let cases: &[(&[&str], &str, &str)] = &[
            (&["F:-:high", "N"], "diagnosis", "fault"),
            (&["N", "A:no_data"], "insufficient", "abstain"),
            (&["N", "A:below_applicability"], "normal", "normal"),
            (&["A:not_running"], "insufficient", "abstain"),
            (&["F:-:low", "F:-:critical"], "diagnosis", "fault"),
        ];
        for (specs, kind, status) in cases {
            let rows: Vec<(CriterionInfo, Outcome)> =
                specs.iter().enumerate().map(|(i, s)| (info(&format!("c{i}")), outcome(s).unwrap().0)).collect();
            let inputs: Vec<Input> =
                rows.iter().map(|(i, o)| Input { info: i, role: Role::Criterion, outcome: o, family: None }).collect();
            let (_, v) = reconcile(&policy(Policy::Independent), &inputs);
            assert_eq!(v.evidence().verdict.as_ref().unwrap().kind.as_str(), *kind, "{specs:?}");
            assert_eq!(v.status(), *status, "{specs:?}");
            if let Outcome::Fault(f) = &v {
                let worst = inputs.iter().filter_map(|i| i.fault().map(|f| f.severity)).max().unwrap();
                assert_eq!(f.severity, worst, "independent faults: the verdict shows the most severe of them");
            }
        }
    }

    #[test]
    fn families_are_compatible_only_with_themselves_and_through_dt() {
        use Family::*;
        assert!(DT.compatible(D) && DT.compatible(T) && T.compatible(DT));
        assert!(!PD.compatible(D) && !T.compatible(D) && !PD.compatible(DT));
    }
}
