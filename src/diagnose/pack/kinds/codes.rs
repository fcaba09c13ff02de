//! `kind = "codes"`: ratio codes (IEC 60599 style): each `digit` bands one input into one
//! character, and the first `code` rule whose pattern matches the code names the finding.

use super::bands::{check_bands, find_band, Band};
use super::Traits;
use crate::diagnose::pack::gate::{abstain, abstain_saying, fmt_num, lookup, rule_outcome, Check, KindInput};
use crate::diagnose::pack::{CriterionDef, Family, PackError};
use crate::diagnose::{AbstainReason, Outcome, Severity, Text};
use serde::Deserialize;
use toml::Spanned;

pub(in crate::diagnose::pack) const TRAITS: Traits =
    Traits { reads_gate: true, needs_citation: true, needs_history: false, names_faults: true, role_limits: None };

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Digit {
    pub input: Spanned<String>,
    pub band: Vec<Spanned<Band>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeRule {
    /// Digits, `x` for any digit, `[01]` for a set.
    pub pattern: Spanned<String>,
    pub code: String,
    pub severity: Option<Severity>,
    pub title: Text,
    pub action: Option<Text>,
    /// The fault family this code names (for the domain verdict's reconciliation).
    pub family: Option<Family>,
}

pub(in crate::diagnose::pack) fn validate(ck: &Check, c: &mut CriterionDef) -> Result<(), PackError> {
    let key = ck.key;
    if c.digit.is_empty() || c.code.is_empty() {
        return Err(ck.err(ck.at.clone(), key.to_string(), "codes need [[criterion.digit]] and [[criterion.code]]"));
    }
    for (i, d) in c.digit.iter().enumerate() {
        ck.known(&d.input, &format!("digit[{i}].input"))?;
        check_bands(ck, &d.band, &format!("digit[{i}].band"), false)?;
        for b in &d.band {
            if b.get_ref().code.chars().count() != 1 {
                return Err(ck.err(
                    b.span(),
                    format!("{key}.digit[{i}].band.code"),
                    "a digit band's code is one character",
                ));
            }
        }
    }
    for (i, r) in c.code.iter().enumerate() {
        let n = pattern_len(r.pattern.get_ref()).ok_or_else(|| {
            ck.err(
                r.pattern.span(),
                format!("{key}.code[{i}].pattern"),
                "bad pattern: expected digits, `x` or `[..]` sets",
            )
        })?;
        if n != c.digit.len() {
            return Err(ck.err(
                r.pattern.span(),
                format!("{key}.code[{i}].pattern"),
                format!("pattern has {n} positions for {} digits", c.digit.len()),
            ));
        }
        if r.severity.is_some() && r.action.is_none() {
            return Err(ck.err(
                r.pattern.span(),
                format!("{key}.code[{i}].action"),
                "a code with a severity needs `action`",
            ));
        }
    }
    Ok(())
}

pub(in crate::diagnose::pack) fn evaluate(k: KindInput) -> Outcome {
    let KindInput { c, mut ev, vars, ranges, cites, .. } = match k.gated() {
        Ok(k) => k,
        Err(not_applied) => return *not_applied,
    };
    let d = &c.def;
    let mut code = String::new();
    let mut parts = Vec::new();
    for dg in &d.digit {
        let name = dg.input.get_ref();
        // A ratio over a gas reported as not detected has no value but may have a range
        // wholly inside one band (CH4 44 over H2 < 5 is above 8.8 whatever H2 is).
        let x = lookup(vars, name).or_else(|| {
            let (lo, hi) = ranges.iter().rev().find(|(n, _)| n == name).map(|(_, r)| *r)?;
            let b = find_band(&dg.band, lo, 1.0, d.edge)?;
            (find_band(&dg.band, hi.min(f64::MAX), 1.0, d.edge).map(|h| &h.code) == Some(&b.code)).then_some(lo)
        });
        let Some(x) = x else {
            if ranges.iter().any(|(n, _)| n == name) {
                let q = d.quantity.iter().find(|q| &q.name == name);
                let args: Vec<&str> = q.map(|q| q.args.iter().map(|a| a.as_str()).collect()).unwrap_or_default();
                let note = c.imprecise_note(ranges, &args);
                return abstain_saying(
                    AbstainReason::Imprecise,
                    Text::new(
                        format!("{name} cannot be computed; {}", note.en),
                        format!("无法计算 {name}；{}", note.zh),
                    ),
                    ev,
                    cites,
                );
            }
            return abstain(
                AbstainReason::OutOfDomain,
                Text::new(format!("{name} is undefined (zero denominator)"), format!("{name} 无定义（分母为零）")),
                ev,
                cites,
            );
        };
        let Some(b) = find_band(&dg.band, x, 1.0, d.edge) else {
            return abstain(
                AbstainReason::OutOfDomain,
                Text::new(format!("{name} = {x} is in no band"), format!("{name} = {x} 不在任何区间内")),
                ev,
                cites,
            );
        };
        if let Some((lo, hi)) = ranges.iter().rev().find(|(n, _)| n == name).map(|(_, r)| *r) {
            let (bl, bh) = (find_band(&dg.band, lo, 1.0, d.edge), find_band(&dg.band, hi.min(f64::MAX), 1.0, d.edge));
            if bl.map(|b| &b.code) != bh.map(|b| &b.code) {
                let q = d.quantity.iter().find(|q| &q.name == name);
                let args: Vec<&str> = q.map(|q| q.args.iter().map(|a| a.as_str()).collect()).unwrap_or_default();
                let note = c.imprecise_note(ranges, &args);
                let hi_s = if hi.is_finite() { fmt_num(hi) } else { "∞".into() };
                return abstain_saying(
                    AbstainReason::Imprecise,
                    Text::new(
                        format!("{name} lies between {} and {hi_s}, across a code boundary; {}", fmt_num(lo), note.en),
                        format!("{name} 介于 {} 与 {hi_s} 之间，跨越编码分界；{}", fmt_num(lo), note.zh),
                    ),
                    ev,
                    cites,
                );
            }
        }
        code.push_str(&b.code);
        parts.push(format!("{name} {} -> {}", fmt_num(x), b.code));
    }
    let Some(r) = d.code.iter().find(|r| pattern_matches(r.pattern.get_ref(), &code)) else {
        let parts = parts.join(", ");
        return abstain_saying(
            AbstainReason::OutOfDomain,
            Text::new(
                format!("{parts}: code {code} {}", d.no_match.as_deref().unwrap_or("matches no fault type")),
                format!(
                    "{parts}：编码 {code} {}",
                    d.no_match_zh.as_deref().or(d.no_match.as_deref()).unwrap_or("不对应任何故障类型")
                ),
            ),
            ev,
            cites,
        );
    };
    let parts = parts.join(", ");
    ev.say(Text::new(
        format!("{parts}: code {code} = {}", r.title.en),
        format!("{parts}：编码 {code} = {}", r.title.zh),
    ));
    rule_outcome(c, &r.code, &r.title, r.severity, &r.action, &[], ev, cites)
}

/// The number of positions of a code pattern, or None if malformed.
pub fn pattern_len(p: &str) -> Option<usize> {
    let mut n = 0;
    let mut in_set = false;
    for ch in p.chars() {
        match ch {
            '[' if !in_set => in_set = true,
            ']' if in_set => {
                in_set = false;
                n += 1
            }
            c if in_set && c.is_ascii_digit() => {}
            c if !in_set && (c.is_ascii_digit() || c == 'x') => n += 1,
            _ => return None,
        }
    }
    (!in_set).then_some(n)
}

/// Whether `code` (one char per digit) matches `pattern`.
pub fn pattern_matches(pattern: &str, code: &str) -> bool {
    let mut chars = code.chars();
    let mut it = pattern.chars();
    while let Some(p) = it.next() {
        let Some(c) = chars.next() else { return false };
        match p {
            'x' => {}
            '[' => {
                let set: String = it.by_ref().take_while(|&ch| ch != ']').collect();
                if !set.contains(c) {
                    return false;
                }
            }
            d if d == c => {}
            _ => return false,
        }
    }
    chars.next().is_none()
}
