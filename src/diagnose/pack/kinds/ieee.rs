//! `kind = "ieee_status"`: IEEE C57.104-2019 DGA status 1-3 from Tables 1-4 (levels,
//! levels at 95 %, delta since the previous sample, rate over dated samples), per O2/N2
//! split and age column.

use super::Traits;
use crate::diagnose::pack::eval::Snapshot;
use crate::diagnose::pack::gate::{abstain, fault, fmt_num, previous, Check, KindInput, MONTH_MS};
use crate::diagnose::pack::{CriterionDef, PackError};
use crate::diagnose::{AbstainReason, Outcome, Severity, Text};
use serde::Deserialize;
use std::collections::BTreeMap;

pub(in crate::diagnose::pack) const TRAITS: Traits =
    Traits { reads_gate: false, needs_citation: true, needs_history: true, names_faults: false, role_limits: None };

const YEAR_MS: f64 = 365.25 * 86_400_000.0;

/// A value that is the same for every age column or differs per column.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ByAge {
    One(f64),
    /// Age unknown, 1-9 years, 10-30 years, above 30 years.
    Four([f64; 4]),
}

impl ByAge {
    pub fn get(&self, col: usize) -> f64 {
        match self {
            ByAge::One(v) => *v,
            ByAge::Four(a) => a[col],
        }
    }
}

pub type GasTable = BTreeMap<String, ByAge>;

/// IEEE C57.104-2019 Tables 1-4, split by O2/N2 <= 0.2 (`low`) and > 0.2 (`high`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IeeeTables {
    pub o2_n2_split: f64,
    pub t1_low: GasTable,
    pub t1_high: GasTable,
    pub t2_low: GasTable,
    pub t2_high: GasTable,
    pub t3_low: GasTable,
    pub t3_high: GasTable,
    pub t4_short_low: GasTable,
    pub t4_short_high: GasTable,
    pub t4_long_low: GasTable,
    pub t4_long_high: GasTable,
}

pub(in crate::diagnose::pack) fn validate(ck: &Check, c: &mut CriterionDef) -> Result<(), PackError> {
    let key = ck.key;
    let t = c
        .ieee
        .as_ref()
        .ok_or_else(|| ck.err(ck.at.clone(), format!("{key}.ieee"), "ieee_status needs [criterion.ieee]"))?;
    for table in [
        &t.t1_low,
        &t.t1_high,
        &t.t2_low,
        &t.t2_high,
        &t.t3_low,
        &t.t3_high,
        &t.t4_short_low,
        &t.t4_short_high,
        &t.t4_long_low,
        &t.t4_long_high,
    ] {
        for g in table.keys() {
            if !ck.names.contains(g) {
                return Err(ck.err(
                    ck.at.clone(),
                    format!("{key}.ieee"),
                    format!("unknown gas `{g}`: list it under inputs or optional"),
                ));
            }
        }
    }
    if c.action.is_none() {
        return Err(ck.err(ck.at.clone(), format!("{key}.action"), "ieee_status needs `action`"));
    }
    Ok(())
}

pub(in crate::diagnose::pack) fn evaluate(k: KindInput) -> Outcome {
    let KindInput { c, mut ev, cx, cites, .. } = k;
    let d = &c.def;
    let t = d.ieee.as_ref().expect("validated");
    let (Some(o2), Some(n2)) = (ev.value("o2"), ev.value("n2")) else {
        return abstain(
            AbstainReason::InsufficientData,
            Text::new(
                "O2 and N2 not reported: IEEE C57.104-2019 Tables 1-4 depend on the O2/N2 ratio",
                "未报告 O2 和 N2：IEEE C57.104-2019 表 1-4 取决于 O2/N2 比值",
            ),
            ev,
            cites,
        );
    };
    if !(n2 > 0.0) {
        return abstain(
            AbstainReason::OutOfDomain,
            Text::new(format!("N2 = {n2}: the O2/N2 ratio is undefined"), format!("N2 = {n2}：O2/N2 比值无定义")),
            ev,
            cites,
        );
    }
    let ratio = o2 / n2;
    ev.derive("O2/N2", ratio, "");
    let low = ratio <= t.o2_n2_split;
    let age = cx.params.get("age_years").and_then(|p| p.as_f64());
    let col = match age {
        None => 0,
        Some(a) if a < 10.0 => 1,
        Some(a) if a <= 30.0 => 2,
        Some(_) => 3,
    };
    let (t1, t2, t3) = if low { (&t.t1_low, &t.t2_low, &t.t3_low) } else { (&t.t1_high, &t.t2_high, &t.t3_high) };
    let (mut above90, mut above95, mut notes) = (Vec::new(), Vec::new(), Vec::<Text>::new());
    let unreported: Vec<String> = t1.keys().filter(|g| ev.value(g).is_none()).map(|g| g.to_uppercase()).collect();
    if !unreported.is_empty() {
        let u = unreported.join(", ");
        notes.push(Text::new(format!("not reported, not judged: {u}"), format!("未报告，未判断：{u}")));
    }
    for (gas, lim) in t1 {
        let Some(v) = ev.value(gas) else { continue };
        let l1 = lim.get(col);
        if let Some(l2) = t2.get(gas).map(|l| l.get(col)) {
            if v > l2 {
                above95.push(format!("{} {} > {} (Table 2)", gas.to_uppercase(), fmt_num(v), fmt_num(l2)));
                continue;
            }
        }
        if v > l1 {
            above90.push(format!("{} {} > {} (Table 1)", gas.to_uppercase(), fmt_num(v), fmt_num(l1)));
        }
    }
    // Table 3: change since the previous sample.
    // Table 3 (delta) exceedances raise the status to 2; Table 4 (rate over >= 3 samples)
    // exceedances to 3, as do Table 2 ones (per gas, the worst gas gives the status).
    let mut active = Vec::new();
    let mut rising = Vec::new();
    match previous(cx, d.series_min_days) {
        None if cx.history.is_empty() => {
            notes.push(Text::new("no earlier sample: deltas and rates not judged", "无更早样本：未判断增量和速率"))
        }
        None => {
            let days = fmt_num(d.series_min_days);
            notes.push(Text::new(
                format!("no earlier sample at least {days} days older: deltas and rates not judged"),
                format!("无至少早 {days} 天的样本：未判断增量和速率"),
            ))
        }
        Some(prev) => {
            for (gas, lim) in t3 {
                let (Some(v), Some(p)) = (ev.value(gas), prev.get(gas)) else { continue };
                let l = lim.get(col);
                if v - p > l {
                    active.push(format!("{} +{} > {} (Table 3)", gas.to_uppercase(), fmt_num(v - p), fmt_num(l)));
                }
            }
            // Table 4: linear-fit rate over >= 3 dated samples within 24 months.
            match cx.now_ts {
                None => notes.push(Text::new("undated samples: rates not judged", "样本无日期：未判断速率")),
                Some(now) => {
                    let mut pts: Vec<&Snapshot> = cx
                        .history
                        .iter()
                        .filter(|s| s.ts_ms.is_some_and(|ts| ts <= now && (now - ts) as f64 <= 24.0 * MONTH_MS + 1.0))
                        .collect();
                    let cur = Snapshot {
                        ts_ms: Some(now),
                        values: ev.values.iter().map(|v| (v.role.clone(), v.value)).collect(),
                    };
                    pts.push(&cur);
                    let span = (now - pts[0].ts_ms.unwrap_or(now)) as f64 / MONTH_MS;
                    let table = if pts.len() < 3 || span < 4.0 {
                        let n = pts.len();
                        notes.push(Text::new(
                            format!("{n} dated sample(s) over {span:.1} months: rates need 3 over at least 4 months"),
                            format!("{span:.1} 个月内有 {n} 个带日期样本：速率需要至少 4 个月内的 3 个样本"),
                        ));
                        None
                    } else if span >= 10.0 {
                        Some(if low { &t.t4_long_low } else { &t.t4_long_high })
                    } else {
                        Some(if low { &t.t4_short_low } else { &t.t4_short_high })
                    };
                    for (gas, lim) in table.into_iter().flatten() {
                        let xs: Vec<(f64, f64)> =
                            pts.iter().filter_map(|s| Some(((s.ts_ms? - now) as f64 / YEAR_MS, s.get(gas)?))).collect();
                        if let Some(slope) = slope(&xs) {
                            let l = lim.get(col);
                            ev.derive_text(
                                Text::new(format!("{gas} rate"), format!("{gas} 产气速率")),
                                slope,
                                Text::new("ppm/year", "ppm/年"),
                            );
                            if slope > l {
                                rising.push(format!(
                                    "{} {} ppm/year > {} (Table 4)",
                                    gas.to_uppercase(),
                                    fmt_num(slope),
                                    fmt_num(l)
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    let status = if !above95.is_empty() || !rising.is_empty() {
        3
    } else if !above90.is_empty() || !active.is_empty() {
        2
    } else {
        1
    };
    ev.derive_text(Text::new("DGA status", "DGA 状态等级"), status as f64, Text::same(""));
    let mut parts: Vec<Text> = above95.into_iter().chain(rising).chain(above90).chain(active).map(Text::same).collect();
    if parts.is_empty() {
        parts.push(Text::new(
            "all gases within Table 1, no delta or rate above Tables 3-4",
            "各气体均在表 1 范围内，增量和速率均未超过表 3-4",
        ));
    }
    parts.extend(notes);
    let cmp = if low { "<=" } else { ">" };
    ev.say(Text::new(
        format!(
            "O2/N2 {ratio:.2} ({cmp} 0.2), age column {}: {}",
            ["unknown", "1-9 years", "10-30 years", ">30 years"][col],
            parts.iter().map(|p| p.en.as_str()).collect::<Vec<_>>().join("; ")
        ),
        format!(
            "O2/N2 {ratio:.2}（{cmp} 0.2），运行年限列 {}：{}",
            ["未知", "1-9 年", "10-30 年", ">30 年"][col],
            parts.iter().map(|p| p.zh.as_str()).collect::<Vec<_>>().join("；")
        ),
    ));
    match status {
        1 => Outcome::Normal { evidence: ev, note: Text::new("DGA status 1", "DGA 状态 1") },
        s => fault(
            format!("{}STATUS{s}", d.code_prefix),
            Text::new(format!("IEEE C57.104-2019 DGA status {s}"), format!("IEEE C57.104-2019 DGA 状态 {s}")),
            if s == 3 { Severity::High } else { Severity::Medium },
            d.action.clone(),
            ev,
            cites,
        ),
    }
}

/// Least-squares slope of (x, y) points, or None with fewer than 2 distinct x.
pub fn slope(pts: &[(f64, f64)]) -> Option<f64> {
    let n = pts.len() as f64;
    if pts.len() < 2 {
        return None;
    }
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if !(sxx > 0.0) {
        return None;
    }
    Some(pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>() / sxx)
}
