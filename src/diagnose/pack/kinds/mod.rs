//! The evaluator kinds a criterion's `kind` names, each in its own file holding its
//! `pack.toml` keys, its checks at load and its evaluation side by side. The list below is
//! the one dispatch over kinds: it declares [`Kind`] (the name a pack writes), what the
//! kind reads ([`Traits`]) and which file validates and evaluates it.
//!
//! To add a kind: write `kinds/<name>.rs` with `TRAITS`, `validate` and `evaluate` (given a
//! [`KindInput`]; see `limits.rs` for a small one), then add one line to the `kinds!` list
//! below. Keys of its own (like `limit` or `rate`) are fields of [`super::CriterionDef`],
//! whose keys are one flat table in `pack.toml`. The steps kinds share (the gate, the
//! abstentions, a rule's finding) are helpers in [`super::gate`].

pub mod bands;
pub mod codes;
pub mod combine;
pub mod ieee;
pub mod limits;
pub mod model;
pub mod rate;
pub mod regions;

use super::gate::{Check, KindInput};
use super::{CriterionDef, PackError, RoleLimit};
use crate::diagnose::Outcome;
use serde::Deserialize;

/// What a kind reads besides its own keys (checked at load, used when evaluating).
#[derive(Debug)]
pub(in crate::diagnose::pack) struct Traits {
    /// Reads `gate`, the applicability gate.
    pub reads_gate: bool,
    /// Needs a citation of its own (`cite`, or one on every variant).
    pub needs_citation: bool,
    /// Compares with earlier samples of the asset.
    pub needs_history: bool,
    /// Names fault types (so it may be the primary or a confirmation method of a verdict).
    pub names_faults: bool,
    /// The fixed limits it sets on one role (`criterion`, `role`, the asset's variant), for
    /// drawing on that role's trend ([`super::PackSet::role_limits`]).
    pub role_limits: Option<RoleLimits>,
}

pub(in crate::diagnose::pack) type RoleLimits = fn(&CriterionDef, &str, Option<&str>) -> Vec<RoleLimit>;

macro_rules! kinds {
    ($($(#[$doc:meta])* $variant:ident = $name:literal => $module:ident,)*) => {
        /// The evaluator a criterion uses (`kind` in pack.toml).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
        pub enum Kind {
            $($(#[$doc])* #[serde(rename = $name)] $variant,)*
        }

        impl Kind {
            /// Every kind, in the order above.
            const LIST: &'static [Kind] = &[$(Kind::$variant),*];

            /// The name a pack writes in `kind`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Kind::$variant => $name,)*
                }
            }

            pub(in crate::diagnose::pack) fn traits(self) -> &'static Traits {
                match self {
                    $(Kind::$variant => &$module::TRAITS,)*
                }
            }

            /// The checks at load of this kind's keys (after those every criterion has).
            pub(in crate::diagnose::pack) fn validate(self, ck: &Check, c: &mut CriterionDef) -> Result<(), PackError> {
                match self {
                    $(Kind::$variant => $module::validate(ck, c),)*
                }
            }

            /// Evaluate the criterion of `k` on its evidence.
            pub(in crate::diagnose::pack) fn evaluate(self, k: KindInput) -> Outcome {
                match self {
                    $(Kind::$variant => $module::evaluate(k),)*
                }
            }
        }
    };
}

kinds! {
    Bands = "bands" => bands,
    Regions = "regions" => regions,
    Codes = "codes" => codes,
    Limits = "limits" => limits,
    IeeeStatus = "ieee_status" => ieee,
    Rate = "rate" => rate,
    ModelScore = "model_score" => model,
    All = "all" => combine,
    Any = "any" => combine,
}

impl Kind {
    /// The kinds with a trait, for messages: "bands, regions and codes" (`word` = "and").
    pub(in crate::diagnose::pack) fn listed(has: impl Fn(&Traits) -> bool, word: &str) -> String {
        let names: Vec<&str> = Self::LIST.iter().filter(|k| has(k.traits())).map(|k| k.as_str()).collect();
        match names.split_last() {
            None => String::new(),
            Some((last, [])) => last.to_string(),
            Some((last, rest)) => format!("{} {word} {last}", rest.join(", ")),
        }
    }
}
