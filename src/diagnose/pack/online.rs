//! Pack criteria on the online pipeline: gather the asset's current evidence (and, for
//! series criteria, its recent history) and call the same evaluator as the lab path.

use super::eval::{Compiled, EvalCtx, Params, Snapshot};
use super::{Kind, PackSet};
use crate::diagnose::evidence::gather;
use crate::diagnose::model_score::{ModelCriterion, Unavailable, UnavailableModel};
use crate::diagnose::{Criterion, CriterionInfo, Disabled, Outcome};
use crate::inference::Model;
use crate::pipeline::AssetState;
use std::sync::Arc;

pub struct PackCriterion {
    compiled: Compiled,
    info: CriterionInfo,
    params: Params,
}

impl PackCriterion {
    pub fn new(compiled: Compiled, params: Params) -> Self {
        let mut info = compiled.info.clone();
        info.verification = compiled.verification_for(&params);
        PackCriterion { compiled, info, params }
    }
}

/// A criterion built by a pack but evaluated by other code (a model score): it feeds the
/// pack's verdict.
struct InPack {
    inner: Box<dyn Criterion>,
    pack: String,
}

impl Criterion for InPack {
    fn info(&self) -> &CriterionInfo {
        self.inner.info()
    }
    fn evaluate(&self, asset: &AssetState, now_ms: i64, open_code: Option<&str>) -> Outcome {
        self.inner.evaluate(asset, now_ms, open_code)
    }
    fn domain(&self) -> Option<&str> {
        Some(&self.pack)
    }
}

/// Up to this many earlier samples are offered to series criteria.
const HISTORY: usize = 64;

impl Criterion for PackCriterion {
    fn info(&self) -> &CriterionInfo {
        &self.info
    }

    fn domain(&self) -> Option<&str> {
        Some(&self.compiled.pack)
    }

    fn role(&self) -> super::Role {
        self.compiled.def.role
    }

    fn family_of(&self, code: &str) -> Option<super::Family> {
        self.compiled.family_of(code)
    }

    fn evaluate(&self, asset: &AssetState, now_ms: i64, open_code: Option<&str>) -> Outcome {
        let required = self.compiled.required_roles();
        let mut ev = match gather(asset, &required, now_ms) {
            Ok(ev) => ev,
            Err(abstain) => return abstain,
        };
        for role in self.compiled.optional_roles() {
            if let Ok(mut more) = gather(asset, &[role], now_ms) {
                ev.values.append(&mut more.values);
            }
        }
        let now_ts = ev.values.iter().map(|v| v.ts_ms).max();
        let history = if self.compiled.needs_history() { history(asset, &required, now_ts) } else { Vec::new() };
        let cx = EvalCtx { params: &self.params, history: &history, now_ts, open: open_code };
        self.compiled.evaluate(ev, &cx)
    }
}

/// Earlier good samples of `roles`, joined on the first role's timestamps, oldest first,
/// excluding the current one.
fn history(asset: &AssetState, roles: &[&str], now_ts: Option<i64>) -> Vec<Snapshot> {
    let Some(first) = roles.first().and_then(|r| asset.role(r)) else { return Vec::new() };
    let mut out = Vec::new();
    for s in first.last(HISTORY) {
        if Some(s.ts_ms) >= now_ts || !s.quality.is_good() {
            continue;
        }
        let mut snap = Snapshot { ts_ms: Some(s.ts_ms), values: Vec::new() };
        for r in roles {
            if let Some(v) = asset.role(r).and_then(|st| {
                st.last(HISTORY).find(|x| x.ts_ms == s.ts_ms && x.quality.is_good()).and_then(|x| x.value)
            }) {
                snap.values.push((r.to_string(), v));
            }
        }
        out.push(snap);
    }
    out
}

/// An asset's pack criteria: built, disabled (with the reason), and the model names a pack
/// criterion took over.
pub type Built = (Vec<Box<dyn Criterion>>, Vec<Disabled>, Vec<String>);

/// The pack criteria for one asset: built, disabled (with the reason), and the names of the
/// models a pack criterion took over.
pub fn build(
    packs: &PackSet,
    asset: &crate::config::AssetConfig,
    models: &[Arc<Model>],
    unavailable: &[UnavailableModel],
) -> Result<Built, super::PackError> {
    let params = asset_params(asset);
    let mut criteria: Vec<Box<dyn Criterion>> = Vec::new();
    let mut disabled = Vec::new();
    let mut models_used = Vec::new();
    for (pack, def) in packs.criteria() {
        if def.class.get_ref() != asset.class.as_str() {
            continue;
        }
        let disable = |reason: String| Disabled { asset: asset.id.clone(), criterion: def.id.clone(), reason };
        if def.status == super::Status::U {
            disabled.push(disable(format!(
                "unverified (status U): {}",
                def.disabled_reason.as_deref().unwrap_or("no reason given")
            )));
            continue;
        }
        if let (Some(vp), false) = (&def.variant_param, def.variant.is_empty()) {
            let keys: Vec<&str> = def.variant.iter().map(|v| v.key.as_str()).collect();
            match params.get(vp).map(|p| p.as_key()) {
                None => {
                    disabled.push(disable(format!(
                        "asset parameter `{vp}` not set: it selects the criterion's variant ({})",
                        keys.join(", ")
                    )));
                    continue;
                }
                Some(k) if !keys.contains(&k.as_str()) => {
                    disabled.push(disable(format!(
                        "asset parameter `{vp}` = `{k}` matches no variant: expected one of {}",
                        keys.join(", ")
                    )));
                    continue;
                }
                Some(_) => {}
            }
        }
        let compiled = Compiled::new(pack, def, &packs.library)?;
        let absent: Vec<&str> =
            compiled.required_roles().into_iter().filter(|r| !asset.roles.contains_key(*r)).collect();
        if !absent.is_empty() {
            disabled.push(disable(format!("roles not bound: {}", absent.join(", "))));
            continue;
        }
        if def.kind == Kind::ModelScore {
            let name = def.model.as_deref().unwrap_or("");
            models_used.push(name.to_string());
            if let Some(m) = models.iter().find(|m| m.manifest.name == name && m.manifest.asset_class == asset.class) {
                let roles: Vec<&str> = m.manifest.features.iter().map(|f| f.role.as_str()).collect();
                let absent: Vec<&str> = roles.into_iter().filter(|r| !asset.roles.contains_key(*r)).collect();
                if absent.is_empty() {
                    criteria.push(Box::new(InPack {
                        inner: Box::new(ModelCriterion::new(m.clone())),
                        pack: pack.id.clone(),
                    }));
                } else {
                    disabled.push(disable(format!("roles not bound: {}", absent.join(", "))));
                }
            } else if let Some(u) = unavailable.iter().find(|u| u.criterion_id == def.id) {
                criteria.push(Box::new(InPack {
                    inner: Box::new(Unavailable::new(&u.criterion_id, &u.reason)),
                    pack: pack.id.clone(),
                }));
            } else {
                disabled.push(disable(format!("model `{name}` is not installed in the models directory")));
            }
            continue;
        }
        criteria.push(Box::new(PackCriterion::new(compiled, params.clone())));
    }
    Ok((criteria, disabled, models_used))
}

/// An asset's parameters: its config `params`, plus `vibration` (`group2.rigid`) and
/// `min_running_current_a` from its vibration settings.
pub fn asset_params(asset: &crate::config::AssetConfig) -> Params {
    let mut p = asset.params.clone();
    if let Some(v) = asset.vibration {
        let g = match v.group {
            crate::config::assets::MachineGroup::Group1 => "group1",
            crate::config::assets::MachineGroup::Group2 => "group2",
        };
        let f = match v.foundation {
            crate::config::assets::Foundation::Rigid => "rigid",
            crate::config::assets::Foundation::Flexible => "flexible",
        };
        p.insert("vibration".into(), super::eval::Param::Str(format!("{g}.{f}")));
        if let Some(m) = v.min_running_current_a {
            p.insert("min_running_current_a".into(), super::eval::Param::Num(m));
        }
    }
    p
}
