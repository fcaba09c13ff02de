//! Asset `params` the shipped packs and evaluators read, checked at load: a bad value names
//! file:line:col, the key, the value and why, instead of silently disabling the criterion it
//! selects. Keys not listed here pass to packs unchecked (a plant's own pack may read them).

use super::packs::Param;
use super::{Doc, KeyPath};
use crate::config::ConfigError;
use std::collections::BTreeMap;

/// What a known key must hold.
enum Rule {
    /// One of these values (the pack variant keys).
    OneOf(&'static [&'static str]),
    /// A number in `min..=max` (`min_open`: strictly above `min`).
    Number { min: f64, max: f64, min_open: bool, unit: &'static str },
}

/// The known keys, what they hold and who reads them.
const KNOWN: &[(&str, Rule, &str)] = &[
    (
        "voltage_class",
        Rule::OneOf(&["le220kv", "ge330kv"]),
        "selects the DL/T 722-2014 attention values (transformer-dga pack)",
    ),
    ("insulation_class", Rule::OneOf(&["B", "F", "H"]), "selects the IEC 60085 thermal class limits (rotating pack)"),
    (
        "heating",
        Rule::OneOf(&["current", "voltage"]),
        "says whether an ir_point is current-heated; the DL/T 664 relative-temperature grades apply only to \
         current-heated equipment (thermography pack)",
    ),
    (
        "age_years",
        Rule::Number { min: 0.0, max: 150.0, min_open: false, unit: "years" },
        "selects the age column of IEEE C57.104-2019 Tables 1-4",
    ),
    (
        "ohmic_baseline",
        Rule::Number { min: 0.0, max: 1e9, min_open: true, unit: "the ohmic reading's unit" },
        "is the baseline the battery pack's ohmic change is computed against",
    ),
];

/// Check the known keys of one asset's `params` table (`at` is its key path).
pub(super) fn validate(doc: &Doc, at: &KeyPath, params: &BTreeMap<String, Param>) -> Result<(), ConfigError> {
    for (key, value) in params {
        let Some((_, rule, why)) = KNOWN.iter().find(|(k, _, _)| k == key) else { continue };
        let shown = match value {
            Param::Num(n) => n.to_string(),
            Param::Str(s) => format!("\"{s}\""),
        };
        let problem = match rule {
            Rule::OneOf(allowed) => match value {
                Param::Str(s) if allowed.contains(&s.as_str()) => None,
                _ => Some(format!(
                    "expected one of {}",
                    allowed.iter().map(|a| format!("\"{a}\"")).collect::<Vec<_>>().join(", ")
                )),
            },
            Rule::Number { min, max, min_open, unit } => {
                let ok = match value {
                    Param::Num(n) => n.is_finite() && (if *min_open { *n > *min } else { *n >= *min }) && *n <= *max,
                    Param::Str(_) => false,
                };
                (!ok).then(|| {
                    format!(
                        "expected a number {}{min} and at most {max} ({unit})",
                        if *min_open { "above " } else { "from " }
                    )
                })
            }
        };
        if let Some(p) = problem {
            return Err(doc.invalid(at.key(key), format!("value {shown} is not valid: {p}; `{key}` {why}")));
        }
    }
    Ok(())
}
