//! The evaluators packs parameterise. One code path for the online criteria
//! ([`super::online`]) and lab samples ([`crate::diagnose::lab`]): both gather an
//! [`Evidence`] and call [`Compiled::evaluate`].

use super::{pattern_matches, verification, Band, CriterionDef, Edge, Kind, PackError, Status};
use crate::diagnose::{AbstainReason, CriterionInfo, Evidence, FaultReport, Outcome, Severity, Text};
use crate::knowledge::{Citation, Library, Verification};
use std::borrow::Cow;
use std::collections::BTreeMap;

pub use crate::config::packs::Param;

pub type Params = BTreeMap<String, Param>;

/// An earlier sample of the same asset, oldest first: its time (if known) and role values.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub ts_ms: Option<i64>,
    pub values: Vec<(String, f64)>,
}

impl Snapshot {
    pub fn get(&self, role: &str) -> Option<f64> {
        self.values.iter().find(|(r, _)| r == role).map(|(_, v)| *v)
    }
}

/// What an evaluation may use besides the current evidence.
pub struct EvalCtx<'a> {
    pub params: &'a Params,
    /// Earlier samples, oldest first, not including the current one.
    pub history: &'a [Snapshot],
    /// Time of the current sample, if known.
    pub now_ts: Option<i64>,
    /// Code of this criterion's open finding on the asset.
    pub open: Option<&'a str>,
}

/// A selected band variant: its bands, its own citations and its status.
type Variant<'a> = (&'a [toml::Spanned<Band>], &'a [Citation], Status);

/// A criterion with its citations resolved, ready to evaluate.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub def: CriterionDef,
    pub pack: String,
    pub info: CriterionInfo,
    pub cites: Vec<Citation>,
    gate_cites: Vec<Citation>,
    region_cites: Vec<Vec<Citation>>,
    variant_cites: Vec<Vec<Citation>>,
    /// A band's own `cite`, per band of `def.band` and of each variant's bands.
    band_cites: Vec<Vec<Citation>>,
    variant_band_cites: Vec<Vec<Vec<Citation>>>,
    children: Vec<Compiled>,
    /// The pack's detection limits and quantification multiple.
    detection_limits: BTreeMap<String, f64>,
    quantification_multiple: f64,
}

/// Values known only within bounds `[lo, hi]`: inputs reported as not detected or `<x`,
/// inputs under their quantification level, and the ratios, sums and percentages computed
/// from them. A value not listed is exact.
pub type Ranges = Vec<(String, (f64, f64))>;

fn range_of(vars: &[(String, f64)], ranges: &Ranges, name: &str) -> Option<(f64, f64)> {
    ranges.iter().rev().find(|(n, _)| n == name).map(|(_, r)| *r).or_else(|| lookup(vars, name).map(|v| (v, v)))
}

const MONTH_MS: f64 = 30.4375 * 86_400_000.0;
const YEAR_MS: f64 = 365.25 * 86_400_000.0;

fn resolve(lib: &Library, ids: &[toml::Spanned<String>]) -> Vec<Citation> {
    ids.iter().filter_map(|p| lib.citation(p.get_ref())).collect()
}

impl Compiled {
    /// Resolve citations (validated at load, so they exist) and the sub-criteria of a
    /// combination.
    pub fn new(pack: &super::Pack, def: &CriterionDef, lib: &Library) -> Result<Compiled, PackError> {
        let children = def
            .of
            .iter()
            .filter_map(|id| pack.criterion(id.get_ref()))
            .map(|d| Compiled::new(pack, d, lib))
            .collect::<Result<Vec<_>, _>>()?;
        let mut cites = resolve(lib, &def.cite);
        for c in &children {
            cites.extend(c.cites.iter().cloned());
        }
        Ok(Compiled {
            info: CriterionInfo {
                id: def.id.clone(),
                version: def.version.clone(),
                title: def.title.en.clone(),
                title_zh: def.title.zh.clone(),
                verification: if def.kind == Kind::ModelScore { Verification::Model } else { verification(def.status) },
            },
            pack: pack.id.clone(),
            region_cites: def.region.iter().map(|r| resolve(lib, &r.cite)).collect(),
            variant_cites: def.variant.iter().map(|v| resolve(lib, &v.cite)).collect(),
            band_cites: def.band.iter().map(|b| resolve(lib, &b.get_ref().cite)).collect(),
            variant_band_cites: def
                .variant
                .iter()
                .map(|v| v.band.iter().map(|b| resolve(lib, &b.get_ref().cite)).collect())
                .collect(),
            gate_cites: def.gate.as_ref().map(|g| resolve(lib, &g.cite)).unwrap_or_default(),
            cites,
            def: def.clone(),
            children,
            detection_limits: pack.detection_limits.clone(),
            quantification_multiple: pack.quantification_multiple,
        })
    }

    /// Drop the passage texts from the resolved citations (ids, titles and clauses stay):
    /// the lab reports cite passages by id, and cloning texts per row dominated their cost.
    pub fn strip_passage_texts(&mut self) {
        let strip = |v: &mut Vec<Citation>| {
            for c in v {
                c.passage_en = String::new();
                c.passage_zh = String::new();
                c.edge_convention = String::new();
            }
        };
        strip(&mut self.cites);
        strip(&mut self.gate_cites);
        self.region_cites.iter_mut().for_each(strip);
        self.variant_cites.iter_mut().for_each(strip);
        self.children.iter_mut().for_each(|c| c.strip_passage_texts());
    }

    /// The fault family of one of this criterion's fault codes (from its region or code rule).
    pub fn family_of(&self, code: &str) -> Option<super::Family> {
        let c = code.strip_prefix(self.def.code_prefix.as_str())?;
        self.def
            .region
            .iter()
            .find(|r| r.code == c)
            .and_then(|r| r.family)
            .or_else(|| self.def.code.iter().find(|r| r.code == c).and_then(|r| r.family))
    }

    /// Roles that must be present for this criterion to run.
    pub fn required_roles(&self) -> Vec<&str> {
        let mut r: Vec<&str> = self.def.inputs.iter().map(|s| s.get_ref().as_str()).collect();
        for c in &self.children {
            for x in c.required_roles() {
                if !r.contains(&x) {
                    r.push(x);
                }
            }
        }
        r
    }

    pub fn optional_roles(&self) -> Vec<&str> {
        let mut r: Vec<&str> = self.def.optional.iter().map(|s| s.get_ref().as_str()).collect();
        for c in &self.children {
            r.extend(c.optional_roles());
        }
        r
    }

    pub fn needs_history(&self) -> bool {
        matches!(self.def.kind, Kind::IeeeStatus | Kind::Rate) || self.children.iter().any(|c| c.needs_history())
    }

    /// Select the band variant for these params and its status.
    fn variant<'a>(&'a self, params: &Params) -> Result<Variant<'a>, Text> {
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

    /// The verification for an asset with these params (a variant may be V1 while others
    /// are V2).
    pub fn verification_for(&self, params: &Params) -> Verification {
        match self.variant(params) {
            Ok((_, _, s)) if self.def.kind != Kind::ModelScore => verification(s),
            _ => self.info.verification,
        }
    }

    /// Evaluate on `ev` (the current values of the required and optional roles).
    pub fn evaluate(&self, mut ev: Evidence, cx: &EvalCtx) -> Outcome {
        let vars = match quantities(&self.def, &|r| ev.value(r), cx.params) {
            Ok(v) => v,
            Err(e) => return abstain(AbstainReason::OutOfDomain, e, ev, self.cites.clone()),
        };
        for q in &self.def.quantity {
            if let Some(v) = lookup(&vars, &q.name) {
                ev.derive_text(q.label_text(), v, q.unit_text());
            }
        }
        let cites = Cow::Borrowed(self.cites.as_slice());
        let ranges = self.ranges(&ev, &vars);
        match self.def.kind {
            Kind::Bands => self.bands(ev, &vars, cx, cites),
            Kind::Regions => self.regions(ev, &vars, &ranges, cx, cites),
            Kind::Codes => self.codes(ev, &vars, &ranges, cx, cites),
            Kind::Limits => self.limits(ev, &vars, cx, cites),
            Kind::IeeeStatus => self.ieee(ev, cx, cites),
            Kind::Rate => self.rate(ev, &vars, cx, cites),
            Kind::All | Kind::Any => self.combine(ev, cx, cites),
            Kind::ModelScore => abstain(
                AbstainReason::ModelUnavailable,
                Text::new("a model score needs the online pipeline and its model", "模型得分需要在线数据管道及其模型"),
                ev,
                Vec::new(),
            ),
        }
    }

    /// The inputs known only within bounds, and the ratios and sums computed from them.
    /// An input reported below a value (`ND`, `<x`) lies in `[0, that value]` (`ND` without a
    /// value: `[0, detection limit]`); a measured value under `quantification_multiple`
    /// detection limits lies in `[0, that many detection limits]`; a measured 0 is taken as
    /// not detected.
    fn ranges(&self, ev: &Evidence, vars: &[(String, f64)]) -> Ranges {
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
    fn imprecise_note(&self, ranges: &Ranges, names: &[&str]) -> Text {
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

    /// The applicability gate: `Some(abstention)` when not applicable.
    fn gate(&self, ev: &mut Evidence, vars: &[(String, f64)], cx: &EvalCtx) -> Result<(), Text> {
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

    fn bands(&self, mut ev: Evidence, vars: &[(String, f64)], cx: &EvalCtx, mut cites: Cow<'_, [Citation]>) -> Outcome {
        let d = &self.def;
        let input = d.input.as_ref().map(|s| s.get_ref().as_str()).unwrap_or("");
        if let Some(role) = &d.running_role {
            if let (Some(min), Some(cur)) =
                (cx.params.get("min_running_current_a").and_then(|p| p.as_f64()), ev.value(role))
            {
                if cur < min {
                    ev.say(Text::new(
                        format!("{role} {cur:.2} is below {min}: machine taken as stopped"),
                        format!("{role} {cur:.2} 低于 {min}：视为设备停机"),
                    ));
                    return abstain(AbstainReason::NotRunning, ev.summary_text(), ev, Vec::new());
                }
            }
        }
        if let Err(why) = self.gate(&mut ev, vars, cx) {
            ev.say(why.clone());
            return abstain(AbstainReason::BelowApplicability, why, ev, self.gate_cites.clone());
        }
        let Some(x) = lookup(vars, input) else {
            return abstain(
                AbstainReason::OutOfDomain,
                Text::new(
                    format!("`{input}` cannot be computed from the evidence"),
                    format!("无法由证据计算 `{input}`"),
                ),
                ev,
                cites,
            );
        };
        let bands = match self.variant(cx.params) {
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
        match band.severity {
            None => Outcome::Normal { evidence: ev, note: title },
            Some(sev) => {
                cites.to_mut().extend(self.cites_of_band(bands, band).iter().cloned());
                cites.to_mut().extend(self.gate_cites.iter().cloned());
                fault(format!("{}{}", d.code_prefix, band.code), title, sev, band.action.clone(), ev, cites)
            }
        }
    }

    fn regions(
        &self,
        mut ev: Evidence,
        vars: &[(String, f64)],
        ranges: &Ranges,
        cx: &EvalCtx,
        mut cites: Cow<'_, [Citation]>,
    ) -> Outcome {
        let d = &self.def;
        if let Err(why) = self.gate(&mut ev, vars, cx) {
            let detail = Text::new(format!("not applied: {}", why.en), format!("未应用：{}", why.zh));
            ev.say(why);
            return abstain(AbstainReason::BelowApplicability, detail, ev, self.gate_cites.clone());
        }
        let gate_summary = std::mem::take(&mut ev.summary);
        ev.summary_zh.clear();
        let mut vars = vars.to_vec();
        let mut ranges = ranges.clone();
        if !d.components.is_empty() {
            let vals: Vec<f64> = d.components.iter().filter_map(|c| lookup(&vars, c.get_ref())).collect();
            // Percentages of components known only as bounds are bounds too.
            let rs: Vec<(f64, f64)> =
                d.components.iter().filter_map(|c| range_of(&vars, &ranges, c.get_ref())).collect();
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
            d.quantity
                .iter()
                .filter_map(|q| lookup(&vars, &q.name).map(|v| format!("{} {}", q.name, fmt_num(v))))
                .collect()
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
            let note = self.imprecise_note(&ranges, &names);
            let cands =
                maybe.iter().copied().chain(found.map(|i| d.region[i].code.as_str())).collect::<Vec<_>>().join(", ");
            ev.say(Text::new(
                format!("{}: could be {cands}; {}", shown.join(", "), note.en),
                format!("{}：可能为 {cands}；{}", shown.join(", "), note.zh),
            ));
            return abstain(AbstainReason::Imprecise, ev.summary_text(), ev, cites);
        }
        let Some(ri) = found else {
            let why = d.no_match.clone().unwrap_or_else(|| "the values match no region".into());
            let why_zh = d.no_match_zh.clone().unwrap_or_else(|| "数值不落入任何区域".into());
            ev.say(Text::new(format!("{}: {why}", shown.join(", ")), format!("{}：{why_zh}", shown.join(", "))));
            return abstain(AbstainReason::OutOfDomain, ev.summary_text(), ev, cites);
        };
        let r = &d.region[ri];
        let head = if gate_summary.is_empty() { String::new() } else { format!("{gate_summary}; ") };
        let (code, shown) = (&r.code, shown.join(", "));
        ev.say(Text::new(
            format!("{head}{shown} lies in {code} ({})", r.title.en),
            format!("{head}{shown} 位于 {code}（{}）", r.title.zh),
        ));
        match r.severity {
            None => Outcome::Normal { evidence: ev, note: r.title.clone() },
            Some(sev) => {
                cites.to_mut().extend(self.region_cites[ri].iter().cloned());
                cites.to_mut().extend(self.gate_cites.iter().cloned());
                fault(format!("{}{}", d.code_prefix, r.code), r.title.clone(), sev, r.action.clone(), ev, cites)
            }
        }
    }

    fn codes(
        &self,
        mut ev: Evidence,
        vars: &[(String, f64)],
        ranges: &Ranges,
        cx: &EvalCtx,
        mut cites: Cow<'_, [Citation]>,
    ) -> Outcome {
        let d = &self.def;
        if let Err(why) = self.gate(&mut ev, vars, cx) {
            let detail = Text::new(format!("not applied: {}", why.en), format!("未应用：{}", why.zh));
            ev.say(why);
            return abstain(AbstainReason::BelowApplicability, detail, ev, self.gate_cites.clone());
        }
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
                    let note = self.imprecise_note(ranges, &args);
                    ev.say(Text::new(
                        format!("{name} cannot be computed; {}", note.en),
                        format!("无法计算 {name}；{}", note.zh),
                    ));
                    return abstain(AbstainReason::Imprecise, ev.summary_text(), ev, cites);
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
                let (bl, bh) =
                    (find_band(&dg.band, lo, 1.0, d.edge), find_band(&dg.band, hi.min(f64::MAX), 1.0, d.edge));
                if bl.map(|b| &b.code) != bh.map(|b| &b.code) {
                    let q = d.quantity.iter().find(|q| &q.name == name);
                    let args: Vec<&str> = q.map(|q| q.args.iter().map(|a| a.as_str()).collect()).unwrap_or_default();
                    let note = self.imprecise_note(ranges, &args);
                    let hi_s = if hi.is_finite() { fmt_num(hi) } else { "∞".into() };
                    ev.say(Text::new(
                        format!("{name} lies between {} and {hi_s}, across a code boundary; {}", fmt_num(lo), note.en),
                        format!("{name} 介于 {} 与 {hi_s} 之间，跨越编码分界；{}", fmt_num(lo), note.zh),
                    ));
                    return abstain(AbstainReason::Imprecise, ev.summary_text(), ev, cites);
                }
            }
            code.push_str(&b.code);
            parts.push(format!("{name} {} -> {}", fmt_num(x), b.code));
        }
        let Some(r) = d.code.iter().find(|r| pattern_matches(r.pattern.get_ref(), &code)) else {
            let parts = parts.join(", ");
            ev.say(Text::new(
                format!("{parts}: code {code} {}", d.no_match.as_deref().unwrap_or("matches no fault type")),
                format!(
                    "{parts}：编码 {code} {}",
                    d.no_match_zh.as_deref().or(d.no_match.as_deref()).unwrap_or("不对应任何故障类型")
                ),
            ));
            return abstain(AbstainReason::OutOfDomain, ev.summary_text(), ev, cites);
        };
        let parts = parts.join(", ");
        ev.say(Text::new(
            format!("{parts}: code {code} = {}", r.title.en),
            format!("{parts}：编码 {code} = {}", r.title.zh),
        ));
        match r.severity {
            None => Outcome::Normal { evidence: ev, note: r.title.clone() },
            Some(sev) => {
                cites.to_mut().extend(self.gate_cites.iter().cloned());
                fault(format!("{}{}", d.code_prefix, r.code), r.title.clone(), sev, r.action.clone(), ev, cites)
            }
        }
    }

    fn limits(&self, mut ev: Evidence, vars: &[(String, f64)], cx: &EvalCtx, cites: Cow<'_, [Citation]>) -> Outcome {
        let d = &self.def;
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
        let tail_zh =
            if skipped.is_empty() { String::new() } else { format!("；未判断：{}", skipped_zh.join("，")) };
        if over.is_empty() {
            if !missing.is_empty() || !skipped.is_empty() {
                ev.say(Text::new(
                    format!("{}{tail}", if ok.is_empty() { "nothing judged".into() } else { ok.join(", ") }),
                    format!("{}{tail_zh}", if ok.is_empty() { "无可判断项".into() } else { ok.join(", ") }),
                ));
                return abstain(AbstainReason::NoData, ev.summary_text(), ev, cites);
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
        fault(
            d.code_prefix.clone(),
            finding_title(d),
            d.severity.unwrap_or(Severity::Medium),
            d.action.clone(),
            ev,
            cites,
        )
    }

    fn rate(&self, mut ev: Evidence, vars: &[(String, f64)], cx: &EvalCtx, cites: Cow<'_, [Citation]>) -> Outcome {
        let d = &self.def;
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
            ev.say(Text::new(
                format!("{name} {c} is below {m}: the gassing rate is not applied"),
                format!("{name} {c} 低于 {m}：不应用产气速率"),
            ));
            return abstain(AbstainReason::BelowApplicability, ev.summary_text(), ev, cites);
        }
        let Some(prev) = previous(cx, self.def.series_min_days) else {
            let why = if cx.history.is_empty() {
                Text::new("needs an earlier sample of the same asset", "需要同一设备更早的样本")
            } else {
                let days = fmt_num(self.def.series_min_days);
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
                evidence: ev,
                note: Text::new("gassing rate below the limit", "产气速率低于注意值"),
            };
        }
        fault(
            d.code_prefix.clone(),
            finding_title(d),
            d.severity.unwrap_or(Severity::Medium),
            d.action.clone(),
            ev,
            cites,
        )
    }

    fn ieee(&self, mut ev: Evidence, cx: &EvalCtx, cites: Cow<'_, [Citation]>) -> Outcome {
        let d = &self.def;
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
                            .filter(|s| {
                                s.ts_ms.is_some_and(|ts| ts <= now && (now - ts) as f64 <= 24.0 * MONTH_MS + 1.0)
                            })
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
                                format!(
                                    "{n} dated sample(s) over {span:.1} months: rates need 3 over at least 4 months"
                                ),
                                format!("{span:.1} 个月内有 {n} 个带日期样本：速率需要至少 4 个月内的 3 个样本"),
                            ));
                            None
                        } else if span >= 10.0 {
                            Some(if low { &t.t4_long_low } else { &t.t4_long_high })
                        } else {
                            Some(if low { &t.t4_short_low } else { &t.t4_short_high })
                        };
                        for (gas, lim) in table.into_iter().flatten() {
                            let xs: Vec<(f64, f64)> = pts
                                .iter()
                                .filter_map(|s| Some(((s.ts_ms? - now) as f64 / YEAR_MS, s.get(gas)?)))
                                .collect();
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
        let mut parts: Vec<Text> =
            above95.into_iter().chain(rising).chain(above90).chain(active).map(Text::same).collect();
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

    /// Three-valued: `all` is normal when one sub-criterion is normal, a fault when every
    /// one is, and otherwise abstains with the first abstention; `any` is a fault when one
    /// is, normal when every one is normal, and otherwise abstains (a sub-criterion that
    /// cannot tell might have been the fault).
    fn combine(&self, mut ev: Evidence, cx: &EvalCtx, cites: Cow<'_, [Citation]>) -> Outcome {
        let d = &self.def;
        let all = d.kind == Kind::All;
        let mut faults = Vec::new();
        let mut unknown: Option<(AbstainReason, Text)> = None;
        for c in &self.children {
            let title = &c.def.title;
            let o = c.evaluate(ev.clone(), cx);
            match &o {
                Outcome::Fault(r) => faults.push(format!("{}: {}", c.def.id, r.code)),
                Outcome::Abstain { reason, detail, detail_zh, .. } if !reason.counts_as_normal() => {
                    if unknown.is_none() {
                        let zh = if detail_zh.is_empty() { detail } else { detail_zh };
                        unknown = Some((
                            *reason,
                            Text::new(format!("{}: {detail}", title.en), format!("{}：{zh}", title.zh)),
                        ));
                    }
                }
                _ => {
                    if all {
                        ev.say(Text::new(format!("{} shows no fault", title.en), format!("{}：无故障", title.zh)));
                        return Outcome::Normal {
                            evidence: ev,
                            note: Text::new("not all conditions hold", "条件未全部满足"),
                        };
                    }
                }
            }
        }
        if let Some((reason, why)) = unknown {
            if all || faults.is_empty() {
                return abstain(reason, why, ev, cites);
            }
        }
        if faults.is_empty() {
            ev.say(Text::new("no sub-criterion shows a fault", "各子判据均无故障"));
            return Outcome::Normal { evidence: ev, note: Text::new("no condition holds", "无条件满足") };
        }
        ev.say(Text::new(faults.join(" and "), faults.join(" 且 ")));
        fault(
            d.code_prefix.clone(),
            finding_title(d),
            d.severity.unwrap_or(Severity::Medium),
            d.action.clone(),
            ev,
            cites,
        )
    }
}

impl Compiled {
    /// The citations of `band` itself (its `cite`), found in the list `bands` came from.
    fn cites_of_band(&self, bands: &[toml::Spanned<Band>], band: &Band) -> &[Citation] {
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

/// The sample a series criterion compares with: the latest earlier one at least
/// `min_days` older (dated samples), or simply the latest one (undated lab rows).
fn previous<'a>(cx: &EvalCtx<'a>, min_days: f64) -> Option<&'a Snapshot> {
    let last = cx.history.last()?;
    match (cx.now_ts, last.ts_ms) {
        (Some(now), Some(_)) => {
            let min_ms = (min_days * 86_400_000.0) as i64;
            cx.history.iter().rev().find(|s| s.ts_ms.is_some_and(|t| now - t >= min_ms))
        }
        _ => Some(last),
    }
}

fn finding_title(d: &CriterionDef) -> Text {
    d.title.clone()
}

fn fault(
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

fn abstain(reason: AbstainReason, detail: Text, evidence: Evidence, citations: impl Into<Vec<Citation>>) -> Outcome {
    Outcome::abstain(reason, detail, evidence, citations.into())
}

pub fn lookup(vars: &[(String, f64)], name: &str) -> Option<f64> {
    vars.iter().rev().find(|(n, _)| n == name).map(|(_, v)| *v)
}

/// Role values plus the criterion's quantities (a quantity that is undefined, such as a
/// ratio over zero, is left out).
pub fn quantities(
    d: &CriterionDef,
    get: &dyn Fn(&str) -> Option<f64>,
    params: &Params,
) -> Result<Vec<(String, f64)>, Text> {
    let mut vars: Vec<(String, f64)> = Vec::new();
    for r in d.inputs.iter().chain(&d.optional).chain(&d.components) {
        if let Some(v) = get(r.get_ref()) {
            vars.push((r.get_ref().clone(), v));
        }
    }
    for q in &d.quantity {
        let mut args = Vec::with_capacity(q.args.len());
        for a in &q.args {
            let v = if let Some(p) = a.strip_prefix('@') {
                Some(params.get(p).and_then(|x| x.as_f64()).ok_or_else(|| {
                    Text::new(
                        format!("asset parameter `{p}` is not set (needed for {})", q.name),
                        format!("未设置设备参数 `{p}`（{} 需要）", q.name),
                    )
                })?)
            } else {
                lookup(&vars, a)
            };
            args.push(v);
        }
        if args.iter().any(|a| a.is_none()) {
            continue;
        }
        let a: Vec<f64> = args.into_iter().flatten().collect();
        let v = match q.func.get_ref().as_str() {
            "value" => Some(a[0]),
            "ratio" => (a[1] > 0.0).then(|| a[0] / a[1]),
            "sum" => Some(a.iter().sum()),
            "diff" => Some(a[0] - a[1]),
            "rel_temp_diff" => (a[0] - a[2] > 0.0).then(|| (a[0] - a[1]) / (a[0] - a[2]) * 100.0),
            "unbalance" => {
                let avg = (a[0] + a[1] + a[2]) / 3.0;
                (avg > 0.0).then(|| 100.0 * a.iter().map(|x| (x - avg).abs()).fold(0.0, f64::max) / avg)
            }
            "pct_change" => (a[1] > 0.0).then(|| (a[0] - a[1]) / a[1] * 100.0),
            _ => None,
        };
        if let Some(v) = v.filter(|v| v.is_finite()) {
            // Ten decimals: (1.2 - 1.0) / 1.0 is 20 %, not 19.999999999999996 %, at a band edge.
            vars.push((q.name.clone(), (v * 1e10).round() / 1e10));
        }
    }
    Ok(vars)
}

/// The band holding `x`, edges multiplied by `h`.
pub fn find_band(bands: &[toml::Spanned<Band>], x: f64, h: f64, edge: Edge) -> Option<&Band> {
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

pub fn fmt_num(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e12 {
        format!("{}", v as i64)
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}
