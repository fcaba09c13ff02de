//! `kind = "all"` and `kind = "any"`: a combination of other criteria of the same pack
//! (`of`, checked across the pack by `parse_pack` in `pack/mod.rs`).

use super::{Kind, Traits};
use crate::diagnose::pack::gate::{abstain, criterion_fault, Check, KindInput};
use crate::diagnose::pack::{CriterionDef, PackError};
use crate::diagnose::{AbstainReason, Outcome, Text};

pub(in crate::diagnose::pack) const TRAITS: Traits =
    Traits { reads_gate: false, needs_citation: false, needs_history: false, names_faults: false, role_limits: None };

pub(in crate::diagnose::pack) fn validate(ck: &Check, c: &mut CriterionDef) -> Result<(), PackError> {
    if c.of.len() < 2 || c.severity.is_none() || c.action.is_none() {
        return Err(ck.err(
            ck.at.clone(),
            ck.key.to_string(),
            "all/any need `of` (two or more criteria), `severity` and `action`",
        ));
    }
    Ok(())
}

/// Three-valued: `all` is normal when one sub-criterion is normal, a fault when every
/// one is, and otherwise abstains with the first abstention; `any` is a fault when one
/// is, normal when every one is normal, and otherwise abstains (a sub-criterion that
/// cannot tell might have been the fault).
pub(in crate::diagnose::pack) fn evaluate(k: KindInput) -> Outcome {
    let KindInput { c, mut ev, cx, cites, .. } = k;
    let d = &c.def;
    let all = d.kind == Kind::All;
    let mut faults = Vec::new();
    let mut unknown: Option<(AbstainReason, Text)> = None;
    for sub in &c.children {
        let title = &sub.def.title;
        let o = sub.evaluate(ev.clone(), cx);
        match &o {
            Outcome::Fault(r) => faults.push(format!("{}: {}", sub.def.id, r.code)),
            Outcome::Abstain { reason, detail, .. } if !reason.counts_as_normal() => {
                if unknown.is_none() {
                    let d = detail.fill();
                    unknown = Some((
                        *reason,
                        Text::new(format!("{}: {}", title.en, d.en), format!("{}：{}", title.zh, d.zh)),
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
    criterion_fault(d, ev, cites)
}
