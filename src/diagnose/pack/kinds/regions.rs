//! `kind = "regions"`: regions of the inputs' space (polygons such as the Duval triangle
//! over `components` as percentages of their sum, or ratio tables over quantities), each a
//! list of [`Cond`] alternatives; the first region that holds names the finding, judged
//! three-valued when an input is known only within bounds.

use super::Traits;
use crate::diagnose::pack::cond::Cond;
use crate::diagnose::pack::gate::{abstain, abstain_saying, fmt_num, lookup, range_of, rule_outcome, Check, KindInput};
use crate::diagnose::pack::{CriterionDef, Family, PackError};
use crate::diagnose::{AbstainReason, Outcome, Severity, Text};
use serde::Deserialize;
use toml::Spanned;

pub(in crate::diagnose::pack) const TRAITS: Traits =
    Traits { reads_gate: true, needs_citation: true, needs_history: false, names_faults: true, role_limits: None };

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Region {
    pub code: String,
    pub when: Vec<Spanned<String>>,
    #[serde(skip)]
    pub conds: Vec<Cond>,
    pub severity: Option<Severity>,
    pub title: Text,
    pub action: Option<Text>,
    #[serde(default)]
    pub cite: Vec<Spanned<String>>,
    /// The fault family this region names (for the domain verdict's reconciliation).
    pub family: Option<Family>,
}

/// Parses each region's conditions (`else`: always holds) into `conds`.
pub(in crate::diagnose::pack) fn validate(ck: &Check, c: &mut CriterionDef) -> Result<(), PackError> {
    let key = ck.key;
    if c.region.is_empty() {
        return Err(ck.err(ck.at.clone(), format!("{key}.region"), "regions need at least one [[criterion.region]]"));
    }
    let vars = ck.names;
    for (i, r) in c.region.iter_mut().enumerate() {
        for w in &r.when {
            let cond = if w.get_ref().trim() == "else" {
                Cond::default()
            } else {
                Cond::parse(w.get_ref()).map_err(|m| ck.err(w.span(), format!("{key}.region[{i}].when"), m))?
            };
            if let Some(v) = cond.vars().find(|v| !vars.iter().any(|n| n == v)) {
                return Err(ck.err(
                    w.span(),
                    format!("{key}.region[{i}].when"),
                    format!("unknown variable `{v}`: expected one of {}", vars.join(", ")),
                ));
            }
            r.conds.push(cond);
        }
        ck.cite_ok(&r.cite, &format!("region[{i}].cite"))?;
        if r.severity.is_some() && r.action.is_none() {
            return Err(ck.err(
                r.when[0].span(),
                format!("{key}.region[{i}].action"),
                "a region with a severity needs `action` (en and zh)",
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
    let gate_summary = std::mem::take(&mut ev.summary).en;
    let mut vars = vars.to_vec();
    let mut ranges = ranges.clone();
    if !d.components.is_empty() {
        let vals: Vec<f64> = d.components.iter().filter_map(|c| lookup(&vars, c.get_ref())).collect();
        // Percentages of components known only as bounds are bounds too.
        let rs: Vec<(f64, f64)> = d.components.iter().filter_map(|c| range_of(&vars, &ranges, c.get_ref())).collect();
        let imprecise = d.components.iter().any(|c| ranges.iter().any(|(n, _)| n == c.get_ref()));
        if imprecise && rs.len() == d.components.len() {
            for (i, c) in d.components.iter().enumerate() {
                let others_lo: f64 = rs.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, r)| r.0).sum();
                let others_hi: f64 = rs.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, r)| r.1).sum();
                let (lo, hi) = rs[i];
                let pl = if lo + others_hi > 0.0 { 100.0 * lo / (lo + others_hi) } else { 0.0 };
                let ph = if hi + others_lo > 0.0 { 100.0 * hi / (hi + others_lo) } else { 100.0 };
                ranges.retain(|(n, _)| n != c.get_ref());
                ranges.push((c.get_ref().clone(), (pl, ph)));
            }
        }
        let sum: f64 = vals.iter().sum();
        if vals.len() != d.components.len() || !(sum > 0.0) || vals.iter().any(|v| *v < 0.0) {
            return abstain(
                AbstainReason::OutOfDomain,
                Text::new("component values are negative or sum to zero", "组分值为负或总和为零"),
                ev,
                cites,
            );
        }
        for (c, v) in d.components.iter().zip(&vals) {
            let pct = 100.0 * v / sum;
            if !imprecise {
                ranges.retain(|(n, _)| n != c.get_ref());
            }
            // Conditions on a component name read its percentage.
            vars.retain(|(n, _)| n != c.get_ref());
            vars.push((c.get_ref().clone(), pct));
            let gas = c.get_ref().to_uppercase();
            ev.derive_text(Text::new(format!("{gas} %"), format!("{gas} 占比")), pct, Text::same("%"));
        }
    }
    let shown: Vec<String> = if d.components.is_empty() {
        d.quantity.iter().filter_map(|q| lookup(&vars, &q.name).map(|v| format!("{} {}", q.name, fmt_num(v)))).collect()
    } else {
        d.components
            .iter()
            .filter_map(|c| lookup(&vars, c.get_ref()).map(|v| format!("{} {v:.1} %", c.get_ref().to_uppercase())))
            .collect()
    };
    // Three-valued: a region holds, does not, or cannot be told apart because an input is
    // only a bound. The first region that holds wins only if no earlier one might.
    let get = |n: &str| range_of(&vars, &ranges, n);
    let mut maybe: Vec<&str> = Vec::new();
    let mut found = None;
    for (i, r) in d.region.iter().enumerate() {
        // Any alternative that holds makes the region hold; all failing, fail; else unknown.
        let each: Vec<Option<bool>> = r.conds.iter().map(|c| c.holds3(&get)).collect();
        let v = if each.contains(&Some(true)) {
            Some(true)
        } else if each.iter().all(|x| *x == Some(false)) {
            Some(false)
        } else {
            None
        };
        match v {
            Some(true) => {
                found = Some(i);
                break;
            }
            None => maybe.push(&r.code),
            Some(false) => {}
        }
    }
    if !maybe.is_empty() {
        let names: Vec<&str> = d
            .components
            .iter()
            .map(|c| c.get_ref().as_str())
            .chain(d.quantity.iter().flat_map(|q| q.args.iter().map(|a| a.as_str())))
            .collect();
        let note = c.imprecise_note(&ranges, &names);
        let cands =
            maybe.iter().copied().chain(found.map(|i| d.region[i].code.as_str())).collect::<Vec<_>>().join(", ");
        return abstain_saying(
            AbstainReason::Imprecise,
            Text::new(
                format!("{}: could be {cands}; {}", shown.join(", "), note.en),
                format!("{}：可能为 {cands}；{}", shown.join(", "), note.zh),
            ),
            ev,
            cites,
        );
    }
    let Some(ri) = found else {
        let why = d.no_match.clone().unwrap_or_else(|| "the values match no region".into());
        let why_zh = d.no_match_zh.clone().unwrap_or_else(|| "数值不落入任何区域".into());
        return abstain_saying(
            AbstainReason::OutOfDomain,
            Text::new(format!("{}: {why}", shown.join(", ")), format!("{}：{why_zh}", shown.join(", "))),
            ev,
            cites,
        );
    };
    let r = &d.region[ri];
    let head = if gate_summary.is_empty() { String::new() } else { format!("{gate_summary}; ") };
    let (code, shown) = (&r.code, shown.join(", "));
    ev.say(Text::new(
        format!("{head}{shown} lies in {code} ({})", r.title.en),
        format!("{head}{shown} 位于 {code}（{}）", r.title.zh),
    ));
    rule_outcome(c, &r.code, &r.title, r.severity, &r.action, &c.region_cites[ri], ev, cites)
}
