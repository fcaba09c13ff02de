//! `kind = "rate"`: rate of change of one input between the current sample and an earlier
//! one of the same asset (`series_min_days` older), against a limit.

use super::Traits;
use crate::diagnose::pack::eval::quantities;
use crate::diagnose::pack::gate::{
    abstain, abstain_saying, criterion_fault, fmt_num, lookup, previous, Check, KindInput, MONTH_MS,
};
use crate::diagnose::pack::{CriterionDef, PackError};
use crate::diagnose::{AbstainReason, Outcome, Text};
use serde::Deserialize;
use toml::Spanned;

pub(in crate::diagnose::pack) const TRAITS: Traits =
    Traits { reads_gate: false, needs_citation: true, needs_history: true, names_faults: false, role_limits: None };

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateMode {
    /// (C2 - C1) / C1 / months x 100, between the last two samples.
    RelativePerMonth,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateDef {
    pub input: Spanned<String>,
    pub mode: RateMode,
    /// A rate at or above this is a finding.
    pub limit: f64,
    /// Not applied when the current value is below this.
    #[serde(default)]
    pub min_value: f64,
}

pub(in crate::diagnose::pack) fn validate(ck: &Check, c: &mut CriterionDef) -> Result<(), PackError> {
    let key = ck.key;
    let r =
        c.rate.as_ref().ok_or_else(|| ck.err(ck.at.clone(), format!("{key}.rate"), "rate needs [criterion.rate]"))?;
    ck.known(&r.input, "rate.input")?;
    if c.severity.is_none() || c.action.is_none() {
        return Err(ck.err(ck.at.clone(), key.to_string(), "rate needs `severity` and `action`"));
    }
    Ok(())
}

pub(in crate::diagnose::pack) fn evaluate(k: KindInput) -> Outcome {
    let KindInput { c, mut ev, vars, cx, cites, .. } = k;
    let d = &c.def;
    let r = d.rate.as_ref().expect("validated");
    let name = r.input.get_ref();
    let Some(cur) = lookup(vars, name) else {
        return abstain(
            AbstainReason::NoData,
            Text::new(format!("{name} not available"), format!("{name} 无数据")),
            ev,
            cites,
        );
    };
    if cur < r.min_value {
        let (c, m) = (fmt_num(cur), fmt_num(r.min_value));
        return abstain_saying(
            AbstainReason::BelowApplicability,
            Text::new(
                format!("{name} {c} is below {m}: the gassing rate is not applied"),
                format!("{name} {c} 低于 {m}：不应用产气速率"),
            ),
            ev,
            cites,
        );
    }
    let Some(prev) = previous(cx, d.series_min_days) else {
        let why = if cx.history.is_empty() {
            Text::new("needs an earlier sample of the same asset", "需要同一设备更早的样本")
        } else {
            let days = fmt_num(d.series_min_days);
            Text::new(
                format!("needs an earlier sample at least {days} days older"),
                format!("需要至少早 {days} 天的样本"),
            )
        };
        return abstain(AbstainReason::InsufficientData, why, ev, cites);
    };
    let (Some(t1), Some(t2)) = (prev.ts_ms, cx.now_ts) else {
        return abstain(
            AbstainReason::InsufficientData,
            Text::new("needs the dates of this and the earlier sample", "需要本样本和更早样本的日期"),
            ev,
            cites,
        );
    };
    let months = (t2 - t1) as f64 / MONTH_MS;
    if !(months > 0.0) {
        return abstain(
            AbstainReason::OutOfDomain,
            Text::new("samples are not in time order", "样本未按时间排序"),
            ev,
            cites,
        );
    }
    let prev_vars = match quantities(d, &|role| prev.get(role), cx.params) {
        Ok(v) => v,
        Err(e) => {
            let why = Text::new(format!("earlier sample: {}", e.en), format!("更早样本：{}", e.zh));
            return abstain(AbstainReason::InsufficientData, why, ev, cites);
        }
    };
    let Some(before) = lookup(&prev_vars, name).filter(|v| *v > 0.0) else {
        return abstain(
            AbstainReason::InsufficientData,
            Text::new(format!("earlier sample has no positive {name}"), format!("更早样本的 {name} 不为正值")),
            ev,
            cites,
        );
    };
    let rate = (cur - before) / before / months * 100.0;
    ev.derive_text(
        Text::new(format!("{name} relative rate"), format!("{name} 相对产气速率")),
        rate,
        Text::new("%/month", "%/月"),
    );
    ev.derive_text(Text::new("months between samples", "两次取样间隔"), months, Text::new("month", "月"));
    let h = if cx.open.is_some() { d.hysteresis.unwrap_or(1.0) } else { 1.0 };
    let (b, c, l) = (fmt_num(before), fmt_num(cur), fmt_num(r.limit * h));
    ev.say(Text::new(
        format!("{name} {b} -> {c} over {months:.1} months: {rate:.1} %/month (limit {l} %/month)"),
        format!("{name} 在 {months:.1} 个月内 {b} -> {c}：{rate:.1} %/月（注意值 {l} %/月）"),
    ));
    if rate < r.limit * h {
        return Outcome::Normal {
            evidence: ev, note: Text::new("gassing rate below the limit", "产气速率低于注意值")
        };
    }
    criterion_fault(d, ev, cites)
}
