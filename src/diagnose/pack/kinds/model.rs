//! `kind = "model_score"`: a model's score as a criterion. The online pipeline runs it
//! ([`crate::diagnose::model_score`]); through
//! [`crate::diagnose::pack::eval::Compiled::evaluate`] (lab samples) it abstains.

use super::Traits;
use crate::diagnose::pack::gate::{abstain, Check, KindInput};
use crate::diagnose::pack::{CriterionDef, PackError};
use crate::diagnose::{AbstainReason, Outcome, Text};

pub(in crate::diagnose::pack) const TRAITS: Traits =
    Traits { reads_gate: false, needs_citation: false, needs_history: false, names_faults: false, role_limits: None };

pub(in crate::diagnose::pack) fn validate(ck: &Check, c: &mut CriterionDef) -> Result<(), PackError> {
    if c.model.is_none() {
        return Err(ck.err(
            ck.at.clone(),
            format!("{}.model", ck.key),
            "model_score needs `model` (the manifest name)",
        ));
    }
    Ok(())
}

pub(in crate::diagnose::pack) fn evaluate(k: KindInput) -> Outcome {
    abstain(
        AbstainReason::ModelUnavailable,
        Text::new("a model score needs the online pipeline and its model", "模型得分需要在线数据管道及其模型"),
        k.ev,
        Vec::new(),
    )
}
