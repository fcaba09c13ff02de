//! `kind = "bands"`: one input (a role or a quantity) against consecutive bands, optionally
//! per variant of an asset parameter, with hysteresis, a derived curve factor and a
//! not-running check. [`check_bands`] and [`find_band`] also serve `codes`' digits.

use super::Traits;
use crate::diagnose::pack::eval::{Compiled, Params};
use crate::diagnose::pack::gate::{abstain, abstain_saying, fmt_num, lookup, rule_outcome, Check, KindInput};
use crate::diagnose::pack::{CriterionDef, PackError, RoleLimit, Status};
use crate::diagnose::{AbstainReason, Outcome, Severity, Text};
use crate::knowledge::Citation;
use serde::Deserialize;
use toml::Spanned;

pub(in crate::diagnose::pack) const TRAITS: Traits = Traits {
    reads_gate: true,
    needs_citation: true,
    needs_history: false,
    names_faults: false,
    role_limits: Some(role_limits),
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Edge {
    /// A value equal to an edge belongs to the band above it (`from <= x < to`).
    #[default]
    LowerInclusive,
    /// A value equal to an edge belongs to the band below it (`from < x <= to`).
    UpperInclusive,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    pub from: Option<f64>,
    pub to: Option<f64>,
    pub code: String,
    pub severity: Option<Severity>,
    pub title: Option<Text>,
    pub action: Option<Text>,
    #[serde(default)]
    pub cite: Vec<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    pub key: String,
    pub band: Vec<Spanned<Band>>,
    #[serde(default)]
    pub cite: Vec<Spanned<String>>,
    pub status: Option<Status>,
}

/// A selected band variant: its bands, its own citations and its status.
type Selected<'a> = (&'a [Spanned<Band>], &'a [Citation], Status);

/// Bands cover every value once: open below and above, no gaps, no overlaps; with
/// `finding`, every band has a title and a band with a severity an action.
pub(in crate::diagnose::pack) fn check_bands(
    ck: &Check,
    bands: &[Spanned<Band>],
    what: &str,
    finding: bool,
) -> Result<(), PackError> {
    let key = ck.key;
    if bands.is_empty() {
        return Err(ck.err(ck.at.clone(), format!("{key}.{what}"), "no bands"));
    }
    for (i, b) in bands.iter().enumerate() {
        let br = b.get_ref();
        ck.cite_ok(&br.cite, &format!("{what}[{i}].cite"))?;
        if i == 0 && br.from.is_some() {
            return Err(ck.err(
                b.span(),
                format!("{key}.{what}[0].from"),
                "the first band must be open below (no `from`): values below it would fall in a gap",
            ));
        }
        if i + 1 == bands.len() && br.to.is_some() {
            return Err(ck.err(
                b.span(),
                format!("{key}.{what}[{i}].to"),
                "the last band must be open above (no `to`): values above it would fall in a gap",
            ));
        }
        if let (Some(f), Some(t)) = (br.from, br.to) {
            if !(f < t) {
                return Err(ck.err(b.span(), format!("{key}.{what}[{i}]"), format!("from {f} is not below to {t}")));
            }
        }
        if i > 0 {
            let prev = bands[i - 1].get_ref();
            match (prev.to, br.from) {
                (Some(t), Some(f)) if f > t => {
                    return Err(ck.err(
                        b.span(),
                        format!("{key}.{what}[{i}].from"),
                        format!("gap between bands: the previous band ends at {t}, this one starts at {f}"),
                    ));
                }
                (Some(t), Some(f)) if f < t => {
                    return Err(ck.err(
                        b.span(),
                        format!("{key}.{what}[{i}].from"),
                        format!("bands overlap: the previous band ends at {t}, this one starts at {f}"),
                    ));
                }
                (Some(_), Some(_)) => {}
                _ => {
                    return Err(ck.err(
                        b.span(),
                        format!("{key}.{what}[{i}]"),
                        "inner band edges need both the previous `to` and this `from`",
                    ));
                }
            }
        }
        if finding && br.severity.is_some() && (br.title.is_none() || br.action.is_none()) {
            return Err(ck.err(
                b.span(),
                format!("{key}.{what}[{i}]"),
                "a band with a severity needs `title` and `action` (en and zh)",
            ));
        }
        if finding && br.title.is_none() {
            return Err(ck.err(b.span(), format!("{key}.{what}[{i}].title"), "every band needs a title"));
        }
    }
    Ok(())
}

pub(in crate::diagnose::pack) fn validate(ck: &Check, c: &mut CriterionDef) -> Result<(), PackError> {
    let key = ck.key;
    let input = c.input.as_ref().ok_or_else(|| ck.err(ck.at.clone(), format!("{key}.input"), "bands need `input`"))?;
    ck.known(input, "input")?;
    if c.variant.is_empty() {
        check_bands(ck, &c.band, "band", true)?;
    } else {
        if c.variant_param.is_none() {
            return Err(ck.err(ck.at.clone(), format!("{key}.variant_param"), "variants need `variant_param`"));
        }
        for (i, v) in c.variant.iter().enumerate() {
            check_bands(ck, &v.band, &format!("variant[{i}].band"), true)?;
            ck.cite_ok(&v.cite, &format!("variant[{i}].cite"))?;
        }
    }
    Ok(())
}

/// The lower edges of the bands when `role` is the input (the variant `variant` selects;
/// none when the criterion has variants and `variant` is not set).
fn role_limits(c: &CriterionDef, role: &str, variant: Option<&str>) -> Vec<RoleLimit> {
    if c.input.as_ref().is_none_or(|i| i.get_ref() != role) {
        return Vec::new();
    }
    let bands = match (&c.variant_param, variant) {
        (None, _) => &c.band,
        (Some(_), Some(v)) => match c.variant.iter().find(|x| x.key == v) {
            Some(x) if x.status != Some(Status::U) => &x.band,
            _ => return Vec::new(),
        },
        (Some(_), None) => return Vec::new(),
    };
    let mut out = Vec::new();
    for b in bands.iter().map(|b| b.get_ref()) {
        if let Some(from) = b.from {
            let label = b.title.clone().unwrap_or_else(|| Text::new(b.code.clone(), b.code.clone()));
            out.push(RoleLimit { criterion: c.id.clone(), label, value: from });
        }
    }
    out
}

impl Compiled {
    /// Select the band variant for these params and its status.
    pub(in crate::diagnose::pack) fn variant<'a>(&'a self, params: &Params) -> Result<Selected<'a>, Text> {
        let d = &self.def;
        let Some(vp) = &d.variant_param else { return Ok((&d.band, &[], d.status)) };
        let key = params
            .get(vp)
            .map(|p| p.as_key())
            .ok_or_else(|| Text::new(format!("asset parameter `{vp}` is not set"), format!("未设置设备参数 `{vp}`")))?;
        let i = d.variant.iter().position(|v| v.key == key).ok_or_else(|| {
            let keys = d.variant.iter().map(|v| v.key.as_str()).collect::<Vec<_>>().join(", ");
            Text::new(
                format!("asset parameter `{vp}` = `{key}` matches no variant ({keys})"),
                format!("设备参数 `{vp}` = `{key}` 不对应任何变体（{keys}）"),
            )
        })?;
        let v = &d.variant[i];
        Ok((&v.band, &self.variant_cites[i], v.status.unwrap_or(d.status)))
    }

    /// The citations of `band` itself (its `cite`), found in the list `bands` came from.
    fn cites_of_band(&self, bands: &[Spanned<Band>], band: &Band) -> &[Citation] {
        let Some(i) = bands.iter().position(|b| std::ptr::eq(b.get_ref(), band)) else { return &[] };
        if std::ptr::eq(bands.as_ptr(), self.def.band.as_ptr()) {
            return self.band_cites.get(i).map(Vec::as_slice).unwrap_or(&[]);
        }
        self.def
            .variant
            .iter()
            .position(|v| std::ptr::eq(v.band.as_ptr(), bands.as_ptr()))
            .and_then(|v| self.variant_band_cites.get(v)?.get(i))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

pub(in crate::diagnose::pack) fn evaluate(k: KindInput) -> Outcome {
    let KindInput { c, mut ev, vars, cx, mut cites, .. } = k;
    let d = &c.def;
    let input = d.input.as_ref().map(|s| s.get_ref().as_str()).unwrap_or("");
    if let Some(role) = &d.running_role {
        if let (Some(min), Some(cur)) =
            (cx.params.get("min_running_current_a").and_then(|p| p.as_f64()), ev.value(role))
        {
            if cur < min {
                return abstain_saying(
                    AbstainReason::NotRunning,
                    Text::new(
                        format!("{role} {cur:.2} is below {min}: machine taken as stopped"),
                        format!("{role} {cur:.2} 低于 {min}：视为设备停机"),
                    ),
                    ev,
                    Vec::new(),
                );
            }
        }
    }
    if let Err(why) = c.gate(&mut ev, vars, cx) {
        return abstain_saying(AbstainReason::BelowApplicability, why, ev, c.gate_cites.clone());
    }
    let Some(x) = lookup(vars, input) else {
        return abstain(
            AbstainReason::OutOfDomain,
            Text::new(format!("`{input}` cannot be computed from the evidence"), format!("无法由证据计算 `{input}`")),
            ev,
            cites,
        );
    };
    let bands = match c.variant(cx.params) {
        Ok((b, vc, _)) => {
            cites.to_mut().extend(vc.iter().cloned());
            b
        }
        Err(e) => return abstain(AbstainReason::OutOfDomain, e, ev, cites),
    };
    let h = if cx.open.is_some() { d.hysteresis.unwrap_or(1.0) } else { 1.0 };
    let band = find_band(bands, x, h, d.edge);
    let unit = d.unit.clone().unwrap_or_default();
    let edges: Vec<String> = bands.iter().filter_map(|b| b.get_ref().to).map(|t| fmt_num(t * h)).collect();
    for (i, b) in bands.iter().enumerate().skip(1) {
        if let Some(f) = b.get_ref().from {
            let (from, to) = (&bands[i - 1].get_ref().code, &b.get_ref().code);
            ev.derive_text(
                Text::new(format!("edge {from}/{to}"), format!("{from}/{to} 分界")),
                f * h,
                Text::same(unit.clone()),
            );
        }
    }
    if !d.curve.is_empty() {
        if let Some(f) = interpolate(&d.curve, x) {
            let en = d.curve_name.clone().unwrap_or_else(|| "factor".into());
            let zh = d.curve_name_zh.clone().unwrap_or_else(|| {
                if d.curve_name.is_some() {
                    en.clone()
                } else {
                    "系数".into()
                }
            });
            ev.derive_text(Text::new(en, zh), f, Text::same(""));
        }
    }
    let Some(band) = band else {
        return abstain(
            AbstainReason::OutOfDomain,
            Text::new(format!("{input} = {x} is in no band"), format!("{input} = {x} 不在任何区间内")),
            ev,
            cites,
        );
    };
    let u = if unit.is_empty() { String::new() } else { format!(" {unit}") };
    // Hysteresis: how much lower the edges are while the finding is open (percent).
    let lowered = (h < 1.0).then_some((1.0 - h) * 100.0);
    ev.say(Text::new(
        format!(
            "{input} {}{u} is in band {} (edges {}{u}{})",
            fmt_num(x),
            band.code,
            edges.join(" / "),
            lowered.map(|p| format!(", {p:.0} % lower while the finding is open")).unwrap_or_default()
        ),
        format!(
            "{input} {}{u} 位于区间 {}（分界 {}{u}{}）",
            fmt_num(x),
            band.code,
            edges.join(" / "),
            lowered.map(|p| format!("，发现未关闭期间下调 {p:.0} %")).unwrap_or_default()
        ),
    ));
    let title = band.title.clone().unwrap_or_else(|| Text::new(band.code.clone(), band.code.clone()));
    rule_outcome(c, &band.code, &title, band.severity, &band.action, c.cites_of_band(bands, band), ev, cites)
}

/// The band holding `x`, edges multiplied by `h`.
pub fn find_band(bands: &[Spanned<Band>], x: f64, h: f64, edge: Edge) -> Option<&Band> {
    bands.iter().map(|b| b.get_ref()).find(|b| {
        let lo = b.from.is_none_or(|f| match edge {
            Edge::LowerInclusive => x >= f * h,
            Edge::UpperInclusive => x > f * h,
        });
        let hi = b.to.is_none_or(|t| match edge {
            Edge::LowerInclusive => x < t * h,
            Edge::UpperInclusive => x <= t * h,
        });
        lo && hi
    })
}

/// Linear interpolation on sorted points, clamped to the ends.
pub fn interpolate(pts: &[[f64; 2]], x: f64) -> Option<f64> {
    let first = pts.first()?;
    if x <= first[0] {
        return Some(first[1]);
    }
    for w in pts.windows(2) {
        if x <= w[1][0] {
            let t = (x - w[0][0]) / (w[1][0] - w[0][0]);
            return Some(w[0][1] + t * (w[1][1] - w[0][1]));
        }
    }
    pts.last().map(|p| p[1])
}
