//! A criterion ready to evaluate ([`Compiled`]): one code path for the online criteria
//! ([`super::online`]) and lab samples ([`crate::diagnose::lab`]): both gather an
//! [`Evidence`] and call [`Compiled::evaluate`], which computes the criterion's quantities
//! and hands them to its kind's evaluator ([`super::kinds`]).

use super::gate::{abstain, KindInput};
use super::{verification, CriterionDef, Kind, PackError};
use crate::diagnose::{AbstainReason, CriterionInfo, Evidence, Outcome, Text};
use crate::knowledge::{Citation, Library, Verification};
use std::borrow::Cow;
use std::collections::BTreeMap;

// The helpers that lived here before the kinds had files of their own.
pub use super::gate::{fmt_num, lookup};
pub use super::kinds::bands::{find_band, interpolate};
pub use super::kinds::ieee::slope;

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

/// A criterion with its citations resolved, ready to evaluate.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub def: CriterionDef,
    pub pack: String,
    pub info: CriterionInfo,
    pub cites: Vec<Citation>,
    pub(super) gate_cites: Vec<Citation>,
    pub(super) region_cites: Vec<Vec<Citation>>,
    pub(super) variant_cites: Vec<Vec<Citation>>,
    /// A band's own `cite`, per band of `def.band` and of each variant's bands.
    pub(super) band_cites: Vec<Vec<Citation>>,
    pub(super) variant_band_cites: Vec<Vec<Vec<Citation>>>,
    pub(super) children: Vec<Compiled>,
    /// The pack's detection limits and quantification multiple.
    pub(super) detection_limits: BTreeMap<String, f64>,
    pub(super) quantification_multiple: f64,
}

/// Values known only within bounds `[lo, hi]`: inputs reported as not detected or `<x`,
/// inputs under their quantification level, and the ratios, sums and percentages computed
/// from them. A value not listed is exact.
pub type Ranges = Vec<(String, (f64, f64))>;

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
                title: def.title.clone(),
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
                c.passage = Text::default();
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
        self.def.kind.traits().needs_history || self.children.iter().any(|c| c.needs_history())
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
        self.def.kind.evaluate(KindInput { c: self, ev, vars: &vars, ranges: &ranges, cx, cites })
    }
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
