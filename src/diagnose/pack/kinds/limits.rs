//! `kind = "limits"`: fixed limits, one per input (optionally per variant of an asset
//! parameter); one limit exceeded is the criterion's finding.

use super::Traits;
use crate::diagnose::pack::gate::{abstain, abstain_saying, criterion_fault, fmt_num, lookup, Check, KindInput};
use crate::diagnose::pack::{CriterionDef, PackError, RoleLimit};
use crate::diagnose::{AbstainReason, Outcome, Text};
use serde::Deserialize;
use toml::Spanned;

pub(in crate::diagnose::pack) const TRAITS: Traits = Traits {
    reads_gate: false,
    needs_citation: true,
    needs_history: false,
    names_faults: false,
    role_limits: Some(role_limits),
};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    pub input: Spanned<String>,
    /// Exceeded when strictly greater.
    pub above: f64,
    /// Only for assets whose variant parameter has this value.
    pub variant: Option<String>,
}

pub(in crate::diagnose::pack) fn validate(ck: &Check, c: &mut CriterionDef) -> Result<(), PackError> {
    if c.limit.is_empty() || c.severity.is_none() || c.action.is_none() {
        return Err(ck.err(
            ck.at.clone(),
            ck.key.to_string(),
            "limits need [[criterion.limit]], `severity` and `action`",
        ));
    }
    for (i, l) in c.limit.iter().enumerate() {
        ck.known(&l.input, &format!("limit[{i}].input"))?;
    }
    Ok(())
}

/// The limits on `role` (the asset's variant; every variant's, labelled with it, when
/// `variant` is not set).
fn role_limits(c: &CriterionDef, role: &str, variant: Option<&str>) -> Vec<RoleLimit> {
    let mut out = Vec::new();
    for l in c.limit.iter().filter(|l| l.input.get_ref() == role) {
        let label = match (&l.variant, variant) {
            (Some(lv), Some(v)) if lv != v => continue,
            (Some(lv), None) => Text::new(
                format!("{} ({} = {lv})", c.title.en, c.variant_param.as_deref().unwrap_or("")),
                format!("{}（{} = {lv}）", c.title.zh, c.variant_param.as_deref().unwrap_or("")),
            ),
            _ => c.title.clone(),
        };
        out.push(RoleLimit { criterion: c.id.clone(), label, value: l.above });
    }
    out
}

pub(in crate::diagnose::pack) fn evaluate(k: KindInput) -> Outcome {
    let KindInput { c, mut ev, vars, cx, cites, .. } = k;
    let d = &c.def;
    let h = if cx.open.is_some() { d.hysteresis.unwrap_or(1.0) } else { 1.0 };
    let variant = d.variant_param.as_ref().and_then(|p| cx.params.get(p)).map(|p| p.as_key());
    let (mut over, mut ok, mut skipped, mut skipped_zh) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // Judged gas by gas: one limit exceeded is a finding whatever else is missing; "within
    // limits" needs every limit checked.
    let mut missing: Vec<String> = Vec::new();
    // Without the variant parameter, a value above every variant's limit is exceeded and
    // one within every variant's limit is within; between them it is not judged.
    let mut unset_checked: Vec<&str> = Vec::new();
    for l in &d.limit {
        let name = l.input.get_ref();
        if let Some(v) = &l.variant {
            if variant.is_none() {
                if unset_checked.contains(&name.as_str()) {
                    continue;
                }
                unset_checked.push(name);
                let lims: Vec<f64> =
                    d.limit.iter().filter(|m| m.input.get_ref() == name).map(|m| m.above * h).collect();
                let (lo, hi) = lims.iter().fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(*x), b.max(*x)));
                let Some(x) = lookup(vars, name) else {
                    if !missing.contains(&name.to_uppercase()) {
                        missing.push(name.to_uppercase());
                    }
                    continue;
                };
                let vp = d.variant_param.as_deref().unwrap_or("");
                if x > hi {
                    over.push(format!("{} {} > {} (every `{vp}`)", name.to_uppercase(), fmt_num(x), fmt_num(hi)));
                } else if x <= lo {
                    ok.push(format!("{} {} <= {} (every `{vp}`)", name.to_uppercase(), fmt_num(x), fmt_num(lo)));
                } else {
                    skipped.push(format!(
                        "{} {} (its limit depends on `{vp}`, not set: {} to {})",
                        name.to_uppercase(),
                        fmt_num(x),
                        fmt_num(lo),
                        fmt_num(hi)
                    ));
                    skipped_zh.push(format!(
                        "{} {}（其限值取决于未设置的 `{vp}`：{} 至 {}）",
                        name.to_uppercase(),
                        fmt_num(x),
                        fmt_num(lo),
                        fmt_num(hi)
                    ));
                }
                continue;
            }
            if variant.as_deref() != Some(v.as_str()) {
                continue;
            }
        }
        let Some(x) = lookup(vars, name) else {
            if !missing.contains(&name.to_uppercase()) {
                missing.push(name.to_uppercase());
            }
            continue;
        };
        let lim = l.above * h;
        if x > lim {
            over.push(format!("{} {} > {}", name.to_uppercase(), fmt_num(x), fmt_num(lim)));
        } else {
            ok.push(format!("{} {} <= {}", name.to_uppercase(), fmt_num(x), fmt_num(lim)));
        }
    }
    if !missing.is_empty() {
        skipped.push(format!("{} (not reported)", missing.join(", ")));
        skipped_zh.push(format!("{}（未报告）", missing.join("，")));
    }
    let tail = if skipped.is_empty() { String::new() } else { format!("; not judged: {}", skipped.join(", ")) };
    let tail_zh = if skipped.is_empty() { String::new() } else { format!("；未判断：{}", skipped_zh.join("，")) };
    if over.is_empty() {
        if !missing.is_empty() || !skipped.is_empty() {
            return abstain_saying(
                AbstainReason::NoData,
                Text::new(
                    format!("{}{tail}", if ok.is_empty() { "nothing judged".into() } else { ok.join(", ") }),
                    format!("{}{tail_zh}", if ok.is_empty() { "无可判断项".into() } else { ok.join(", ") }),
                ),
                ev,
                cites,
            );
        }
        if ok.is_empty() {
            return abstain(
                AbstainReason::NoData,
                Text::new(format!("no limit could be checked{tail}"), format!("没有可检查的限值{tail_zh}")),
                ev,
                cites,
            );
        }
        ev.say(Text::new(format!("{}{tail}", ok.join(", ")), format!("{}{tail_zh}", ok.join(", "))));
        return Outcome::Normal { evidence: ev, note: Text::new("within limits", "未超过限值") };
    }
    ev.say(Text::new(format!("{}{tail}", over.join(", ")), format!("{}{tail_zh}", over.join(", "))));
    criterion_fault(d, ev, cites)
}
