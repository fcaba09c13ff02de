//! What the evaluator kinds ([`super::kinds`]) share: the applicability gate (`gate`: its
//! keys, its checks at load and its test on a sample), detection limits (values known only
//! within bounds), the outcome helpers (a finding with its severity, an abstention), the
//! evidence helpers (value lookup, numbers as shown, the earlier sample a series compares
//! with), [`Check`], what a kind's validation is given, and [`KindInput`], what its
//! evaluation is given.

use super::eval::{Compiled, EvalCtx, Params, Ranges, Snapshot};
use super::{CriterionDef, Ctx, KeySpans, Kind, PackError};
use crate::diagnose::{AbstainReason, Evidence, FaultReport, Outcome, Severity, Text};
use crate::knowledge::{Citation, Library};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;
use toml::Spanned;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gate {
    /// Applicable when at least one input is strictly above its value.
    #[serde(default)]
    pub any_above: BTreeMap<String, f64>,
    /// Applicable only when this input is at least `min`.
    pub at_least: Option<(String, f64)>,
    /// While a finding is open, the `any_above` values are multiplied by this.
    pub hold_fraction: Option<f64>,
    #[serde(default)]
    pub cite: Vec<Spanned<String>>,
    /// The asset parameter that selects `by_variant` overrides of `any_above`.
    pub variant_param: Option<String>,
    /// Per value of `variant_param`, values that replace those of `any_above`. When the
    /// parameter is not set, each overridden input takes its largest value over the variants
    /// (edgecite policy: the method then applies only where every variant would apply it).
    #[serde(default)]
    pub by_variant: BTreeMap<String, BTreeMap<String, f64>>,
}

impl Gate {
    /// The `any_above` values for an asset with these params, and the variant used (`None`:
    /// the parameter is not set, so the largest of the variants' values).
    pub fn limits(&self, params: &Params) -> (BTreeMap<String, f64>, Option<String>) {
        let mut out = self.any_above.clone();
        let Some(vp) = &self.variant_param else { return (out, None) };
        match params.get(vp).map(|p| p.as_key()) {
            Some(key) => {
                if let Some(o) = self.by_variant.get(&key) {
                    out.extend(o.iter().map(|(k, v)| (k.clone(), *v)));
                }
                (out, Some(key))
            }
            None => {
                for o in self.by_variant.values() {
                    for (k, v) in o {
                        let e = out.entry(k.clone()).or_insert(*v);
                        *e = e.max(*v);
                    }
                }
                (out, None)
            }
        }
    }
}

/// What a kind's checks at load are given: where errors point and what the criterion may name.
pub(in crate::diagnose::pack) struct Check<'a> {
    pub cx: &'a Ctx<'a>,
    /// `criterion `<id>``, the start of every error's key.
    pub key: &'a str,
    /// The criterion's roles and quantity names.
    pub names: &'a [String],
    pub lib: &'a Library,
    /// Where an error without a span of its own points (the criterion's `class`).
    pub at: Range<usize>,
}

impl Check<'_> {
    pub fn err(&self, span: Range<usize>, key: impl Into<String>, message: impl Into<String>) -> PackError {
        self.cx.err(span, key, message)
    }

    /// `s` names a role or quantity of the criterion.
    pub fn known(&self, s: &Spanned<String>, what: &str) -> Result<(), PackError> {
        if self.names.contains(s.get_ref()) {
            Ok(())
        } else {
            Err(self.err(
                s.span(),
                format!("{}.{what}", self.key),
                format!("unknown role or quantity `{}`: expected one of {}", s.get_ref(), self.names.join(", ")),
            ))
        }
    }

    /// Every passage of `list` is in the library.
    pub fn cite_ok(&self, list: &[Spanned<String>], what: &str) -> Result<(), PackError> {
        for p in list {
            if self.lib.citation(p.get_ref()).is_none() {
                return Err(self.err(
                    p.span(),
                    format!("{}.{what}", self.key),
                    format!("cites `{}`, which no reference file of the library has", p.get_ref()),
                ));
            }
        }
        Ok(())
    }
}

/// What a kind's `evaluate` is given: the criterion, the evidence gathered for it, its role
/// values and quantities (`vars`; `ranges`: those known only within bounds), what else the
/// evaluation may use, and the criterion's citations (a finding adds its own to them).
pub(in crate::diagnose::pack) struct KindInput<'a> {
    pub c: &'a Compiled,
    pub ev: Evidence,
    pub vars: &'a [(String, f64)],
    pub ranges: &'a Ranges,
    pub cx: &'a EvalCtx<'a>,
    pub cites: Cow<'a, [Citation]>,
}

impl KindInput<'_> {
    /// [`Compiled::gate`] at the start of a kind's `evaluate`: this input back when the
    /// criterion applies (its evidence saying what opened the gate), else the
    /// `below_applicability` abstention that says why (citing the gate), boxed (an `Outcome`
    /// is large).
    pub fn gated(mut self) -> Result<Self, Box<Outcome>> {
        if let Err(why) = self.c.gate(&mut self.ev, self.vars, self.cx) {
            let detail = Text::new(format!("not applied: {}", why.en), format!("未应用：{}", why.zh));
            self.ev.say(why);
            return Err(Box::new(abstain(
                AbstainReason::BelowApplicability,
                detail,
                self.ev,
                self.c.gate_cites.clone(),
            )));
        }
        Ok(self)
    }
}

/// `gate` is read by the criterion's kind and names only its roles and quantities.
pub(in crate::diagnose::pack) fn validate(
    cx: &Ctx,
    key: &str,
    c: &CriterionDef,
    at: &KeySpans,
    names: &[String],
) -> Result<(), PackError> {
    let Some(g) = &c.gate else { return Ok(()) };
    let gspan = at.gate.as_ref().map_or_else(|| c.class.span(), |s| s.span());
    if !c.kind.traits().reads_gate {
        return Err(cx.err(
            gspan,
            format!("{key}.gate"),
            format!(
                "kind `{}` does not read `gate` (only {} do): the gate would be ignored; remove it",
                c.kind.as_str(),
                Kind::listed(|t| t.reads_gate, "and")
            ),
        ));
    }
    for (name, v) in &g.any_above {
        if !names.contains(name) {
            let span = at
                .gate
                .as_ref()
                .and_then(|s| s.get_ref().any_above.keys().find(|k| k.get_ref() == name))
                .map_or(gspan.clone(), |k| k.span());
            return Err(cx.err(
                span,
                format!("{key}.gate.any_above"),
                format!(
                    "`{name}` = {v} names no input role or quantity of this criterion (expected one of {}): \
                     it never has a value, so it never opens the gate",
                    names.join(", ")
                ),
            ));
        }
    }
    if let Some((name, v)) = &g.at_least {
        if !names.contains(name) {
            let span = at.gate.as_ref().and_then(|s| s.get_ref().at_least.as_ref()).map_or(gspan.clone(), |s| s.span());
            return Err(cx.err(
                span,
                format!("{key}.gate.at_least"),
                format!(
                    "`{name}` (at least {v}) names no input role or quantity of this criterion (expected one \
                     of {}): it never has a value, so the gate would stay closed for ever",
                    names.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

impl Compiled {
    /// The applicability gate: `Err(why)` when not applicable.
    pub(in crate::diagnose::pack) fn gate(
        &self,
        ev: &mut Evidence,
        vars: &[(String, f64)],
        cx: &EvalCtx,
    ) -> Result<(), Text> {
        let Some(g) = &self.def.gate else { return Ok(()) };
        if let Some((name, min)) = &g.at_least {
            let v = lookup(vars, name)
                .ok_or_else(|| Text::new(format!("`{name}` is not available"), format!("`{name}` 无数据")))?;
            if v < *min {
                return Err(Text::new(
                    format!("{name} = {v:.1} is below {min}: the criterion is not applied"),
                    format!("{name} = {v:.1} 低于 {min}：不应用该判据"),
                ));
            }
        }
        let (any_above, _) = g.limits(cx.params);
        if !any_above.is_empty() {
            let f = if cx.open.is_some() { g.hold_fraction.unwrap_or(1.0) } else { 1.0 };
            let mut above = Vec::new();
            let mut all = Vec::new();
            for (name, lim) in &any_above {
                let Some(v) = lookup(vars, name) else { continue };
                all.push(format!("{} {v:.1}", name.to_uppercase()));
                if v > lim * f {
                    above.push(format!("{} {v:.1} > {}", name.to_uppercase(), fmt_num(lim * f)));
                }
            }
            if above.is_empty() {
                let lims: Vec<String> =
                    any_above.iter().map(|(k, v)| format!("{} {}", k.to_uppercase(), fmt_num(*v))).collect();
                return Err(Text::new(
                    format!(
                        "{}: all at or below {}the applicability values ({})",
                        all.join(", "),
                        if f < 1.0 { format!("{:.0} % of ", f * 100.0) } else { String::new() },
                        lims.join(", ")
                    ),
                    format!(
                        "{}：均不高于适用值{}（{}）",
                        all.join("，"),
                        if f < 1.0 { format!("的 {:.0} %", f * 100.0) } else { String::new() },
                        lims.join("，")
                    ),
                ));
            }
            ev.say(Text::same(above.join(", ")));
        }
        Ok(())
    }

    /// The inputs known only within bounds, and the ratios and sums computed from them.
    /// An input reported below a value (`ND`, `<x`) lies in `[0, that value]` (`ND` without a
    /// value: `[0, detection limit]`); a measured value under `quantification_multiple`
    /// detection limits lies in `[0, that many detection limits]`; a measured 0 is taken as
    /// not detected.
    pub(in crate::diagnose::pack) fn ranges(&self, ev: &Evidence, vars: &[(String, f64)]) -> Ranges {
        let d = &self.def;
        let mut out: Ranges = Vec::new();
        for r in d.inputs.iter().chain(&d.optional).chain(&d.components) {
            let role = r.get_ref();
            if out.iter().any(|(n, _)| n == role) {
                continue;
            }
            let Some(v) = ev.values.iter().find(|v| &v.role == role) else { continue };
            let dl = self.detection_limits.get(role).copied();
            let hi = match (v.below, dl) {
                (Some(b), _) if b > 0.0 => Some(b),
                (Some(_), dl) => Some(dl.unwrap_or(0.0)),
                (None, Some(dl)) if v.value <= 0.0 => Some(dl),
                (None, Some(dl)) if v.value < self.quantification_multiple * dl => {
                    Some(self.quantification_multiple * dl)
                }
                _ => None,
            };
            if let Some(hi) = hi {
                out.push((role.clone(), (0.0, hi)));
            }
        }
        if out.is_empty() {
            return out;
        }
        for q in &d.quantity {
            if !q.args.iter().any(|a| out.iter().any(|(n, _)| n == a)) {
                continue;
            }
            let args: Option<Vec<(f64, f64)>> = q.args.iter().map(|a| range_of(vars, &out, a)).collect();
            let Some(a) = args else { continue };
            let r = match q.func.get_ref().as_str() {
                "ratio" if a[1].1 > 0.0 => {
                    let hi = if a[1].0 > 0.0 { a[0].1 / a[1].0 } else { f64::INFINITY };
                    Some((a[0].0 / a[1].1, hi))
                }
                "sum" => Some(a.iter().fold((0.0, 0.0), |acc, r| (acc.0 + r.0, acc.1 + r.1))),
                _ => None,
            };
            if let Some(r) = r {
                out.push((q.name.clone(), r));
            }
        }
        out
    }

    /// The inputs that are only bounds, for an evidence line ("C2H2 not quantified (< 3.3)").
    pub(in crate::diagnose::pack) fn imprecise_note(&self, ranges: &Ranges, names: &[&str]) -> Text {
        let parts: Vec<String> = ranges
            .iter()
            .filter(|(n, _)| names.contains(&n.as_str()))
            .map(|(n, (_, hi))| format!("{} < {}", n.to_uppercase(), fmt_num(*hi)))
            .collect();
        Text::new(
            format!(
                "below the quantification level ({} × the detection limit) or not detected, so known only as bounds: {}",
                fmt_num(self.quantification_multiple),
                parts.join(", ")
            ),
            format!("低于定量水平（检测限的 {} 倍）或未检出，仅知其上限：{}", fmt_num(self.quantification_multiple), parts.join("，")),
        )
    }
}

/// The bounds of `name`: its range if it has one, else its exact value.
pub(in crate::diagnose::pack) fn range_of(vars: &[(String, f64)], ranges: &Ranges, name: &str) -> Option<(f64, f64)> {
    ranges.iter().rev().find(|(n, _)| n == name).map(|(_, r)| *r).or_else(|| lookup(vars, name).map(|v| (v, v)))
}

pub(in crate::diagnose::pack) const MONTH_MS: f64 = 30.4375 * 86_400_000.0;

/// The sample a series criterion compares with: the latest earlier one at least
/// `min_days` older (dated samples), or simply the latest one (undated lab rows).
pub(in crate::diagnose::pack) fn previous<'a>(cx: &EvalCtx<'a>, min_days: f64) -> Option<&'a Snapshot> {
    let last = cx.history.last()?;
    match (cx.now_ts, last.ts_ms) {
        (Some(now), Some(_)) => {
            let min_ms = (min_days * 86_400_000.0) as i64;
            cx.history.iter().rev().find(|s| s.ts_ms.is_some_and(|t| now - t >= min_ms))
        }
        _ => Some(last),
    }
}

/// The title of a criterion-wide finding (limits, rate, all/any).
pub(in crate::diagnose::pack) fn finding_title(d: &CriterionDef) -> Text {
    d.title.clone()
}

/// The criterion-wide finding of `d` (its code prefix, title, severity or medium, action).
pub(in crate::diagnose::pack) fn criterion_fault(
    d: &CriterionDef,
    ev: Evidence,
    cites: impl Into<Vec<Citation>>,
) -> Outcome {
    fault(d.code_prefix.clone(), finding_title(d), d.severity.unwrap_or(Severity::Medium), d.action.clone(), ev, cites)
}

pub(in crate::diagnose::pack) fn fault(
    code: String,
    title: Text,
    severity: Severity,
    action: Option<Text>,
    ev: Evidence,
    cites: impl Into<Vec<Citation>>,
) -> Outcome {
    let mut cites: Vec<Citation> = cites.into();
    // Drop repeated passages (a gate may cite what the criterion cites); few, so quadratic.
    let mut i = 0;
    while i < cites.len() {
        if cites[..i].iter().any(|c| c.passage_id == cites[i].passage_id) {
            cites.remove(i);
        } else {
            i += 1;
        }
    }
    Outcome::Fault(FaultReport {
        code,
        title,
        severity,
        evidence: ev,
        citations: cites,
        recommended_action: action.unwrap_or_else(|| Text::new("", "")),
    })
}

pub(in crate::diagnose::pack) fn abstain(
    reason: AbstainReason,
    detail: Text,
    evidence: Evidence,
    citations: impl Into<Vec<Citation>>,
) -> Outcome {
    Outcome::abstain(reason, detail, evidence, citations.into())
}

/// An abstention whose detail is also what the evidence says (`why`).
pub(in crate::diagnose::pack) fn abstain_saying(
    reason: AbstainReason,
    why: Text,
    mut ev: Evidence,
    citations: impl Into<Vec<Citation>>,
) -> Outcome {
    ev.say(why.clone());
    abstain(reason, why, ev, citations)
}

/// The outcome of the rule a value fell in (a band, a region, a code): normal (`title` as the
/// note) when it has no severity, else its finding `<code prefix><code>`, citing the
/// criterion, then the rule's own passages (`own`), then the gate.
#[allow(clippy::too_many_arguments)]
pub(in crate::diagnose::pack) fn rule_outcome(
    c: &Compiled,
    code: &str,
    title: &Text,
    severity: Option<Severity>,
    action: &Option<Text>,
    own: &[Citation],
    ev: Evidence,
    mut cites: Cow<'_, [Citation]>,
) -> Outcome {
    match severity {
        None => Outcome::Normal { evidence: ev, note: title.clone() },
        Some(sev) => {
            cites.to_mut().extend(own.iter().cloned());
            cites.to_mut().extend(c.gate_cites.iter().cloned());
            fault(format!("{}{code}", c.def.code_prefix), title.clone(), sev, action.clone(), ev, cites)
        }
    }
}

pub fn lookup(vars: &[(String, f64)], name: &str) -> Option<f64> {
    vars.iter().rev().find(|(n, _)| n == name).map(|(_, v)| *v)
}

pub fn fmt_num(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e12 {
        format!("{}", v as i64)
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}
