//! Diagnostic packs: declarative criteria (`configs/packs/<pack>/pack.toml` plus the
//! reference files they cite), parameterising the evaluators the product provides
//! ([`kinds`], evaluated through [`eval::Compiled`]): bands, regions (polygons such as the
//! Duval triangle, ratio tables), ratio codes, limits, IEEE C57.104 status, rate of change,
//! model score and all/any combinations. Packs are validated at load; every error names
//! file:line, the key and why. The shipped packs are embedded in the binary; plants and
//! vendors add directories.
//!
//! This file holds the format's top level (`[pack]`, `[[criterion]]` and the keys every
//! criterion has), loading, the checks every criterion gets and those across criteria
//! (`of`, `[pack.verdict]`, duplicate ids). Each kind's own keys, checks and evaluation are
//! in `kinds/<kind>.rs`; what kinds share (the `gate`, detection limits, outcome and
//! evidence helpers) in [`gate`].
//!
//! Adding an evaluator kind: one new file `kinds/<kind>.rs` (its config structs, `TRAITS`,
//! `validate` and `evaluate`) and one line in the `kinds!` list in `kinds/mod.rs`, the one
//! dispatch over kinds. Keys of its own become fields of [`CriterionDef`] (a criterion is
//! one flat table, so serde can name every allowed key in its errors).

pub mod cond;
pub mod eval;
pub mod gate;
pub mod kinds;
pub mod online;

pub use gate::Gate;
pub use kinds::bands::{Band, Edge, Variant};
pub use kinds::codes::{pattern_len, pattern_matches, CodeRule, Digit};
pub use kinds::ieee::{ByAge, GasTable, IeeeTables};
pub use kinds::limits::Limit;
pub use kinds::rate::{RateDef, RateMode};
pub use kinds::regions::Region;
pub use kinds::Kind;

use crate::diagnose::Text;
use crate::knowledge::classes::AssetClass;
use crate::knowledge::{Library, Severity, Verification};
use crate::location::Location;
use gate::Check;
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The packs shipped with edgecite: (directory name, pack.toml, references.toml).
pub const BUILTIN: &[(&str, &str, &str)] = &[
    (
        "transformer-dga",
        include_str!("../../../configs/packs/transformer-dga/pack.toml"),
        include_str!("../../../configs/packs/transformer-dga/references.toml"),
    ),
    (
        "rotating",
        include_str!("../../../configs/packs/rotating/pack.toml"),
        include_str!("../../../configs/packs/rotating/references.toml"),
    ),
    (
        "thermography",
        include_str!("../../../configs/packs/thermography/pack.toml"),
        include_str!("../../../configs/packs/thermography/references.toml"),
    ),
    (
        "motor-supply",
        include_str!("../../../configs/packs/motor-supply/pack.toml"),
        include_str!("../../../configs/packs/motor-supply/references.toml"),
    ),
    (
        "battery",
        include_str!("../../../configs/packs/battery/pack.toml"),
        include_str!("../../../configs/packs/battery/references.toml"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("{file}: cannot read pack: {source}")]
    Read { file: String, source: std::io::Error },
    #[error("{file}:{line}:{column}: {key}: {message}")]
    Invalid { file: String, line: usize, column: usize, key: String, message: String },
    #[error("{file}: {source}")]
    References { file: String, source: crate::knowledge::KnowledgeError },
    #[error("{file}: pack id `{id}` is already loaded from {other}")]
    Duplicate { file: String, id: String, other: String },
    /// A document id defined twice with different content (names both reference files).
    #[error(transparent)]
    Library(crate::knowledge::KnowledgeError),
    #[error(
        "{dir}: [packs] dirs: this directory has neither pack.toml nor */pack.toml, so it adds no pack: \
         list the pack's own directory or the directory holding pack directories"
    )]
    NoPack { dir: String },
}

/// Publication status of a criterion (criteria.md's status column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
pub enum Status {
    /// Two or more independent public sources agree: cited as verified.
    V2,
    /// One source: cited, shown as from secondary sources.
    V1,
    /// Unverified: shipped disabled with the reason.
    U,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quantity {
    /// The name conditions and bands refer to.
    pub name: String,
    #[serde(rename = "fn")]
    pub func: Spanned<String>,
    pub args: Vec<String>,
    #[serde(default)]
    pub unit: String,
    /// What a technician reads in the evidence (default: `name`), in English and Chinese
    /// (default: the English label).
    pub label: Option<String>,
    pub label_zh: Option<String>,
    /// The unit in Chinese where it has words (default: `unit`).
    pub unit_zh: Option<String>,
}

impl Quantity {
    pub fn label_text(&self) -> crate::diagnose::Text {
        let en = self.label.clone().unwrap_or_else(|| self.name.clone());
        let zh = self.label_zh.clone().unwrap_or_else(|| en.clone());
        crate::diagnose::Text::new(en, zh)
    }

    pub fn unit_text(&self) -> crate::diagnose::Text {
        crate::diagnose::Text::new(self.unit.clone(), self.unit_zh.clone().unwrap_or_else(|| self.unit.clone()))
    }
}

/// Functions a quantity may use, with their argument count (None = 1 or more).
pub const FUNCTIONS: &[(&str, Option<usize>)] = &[
    ("value", Some(1)),
    ("ratio", Some(2)),
    ("sum", None),
    ("diff", Some(2)),
    ("rel_temp_diff", Some(3)),
    ("unbalance", Some(3)),
    ("pct_change", Some(2)),
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CriterionDef {
    pub id: String,
    pub class: Spanned<String>,
    pub title: Text,
    pub status: Status,
    pub disabled_reason: Option<String>,
    pub kind: Kind,
    #[serde(default = "one")]
    pub version: String,
    /// Roles that must have a current good sample.
    #[serde(default)]
    pub inputs: Vec<Spanned<String>>,
    /// Roles used when present.
    #[serde(default)]
    pub optional: Vec<Spanned<String>>,
    #[serde(default)]
    pub quantity: Vec<Quantity>,
    #[serde(default)]
    pub cite: Vec<Spanned<String>>,
    pub code_prefix: String,
    #[serde(default)]
    pub edge: Edge,
    /// Band edges are multiplied by this while a finding is open.
    pub hysteresis: Option<f64>,
    pub gate: Option<Gate>,
    /// bands: the input (a role or a quantity name).
    pub input: Option<Spanned<String>>,
    pub unit: Option<String>,
    /// An asset parameter (`params` in the asset config) selecting a variant.
    pub variant_param: Option<String>,
    #[serde(default)]
    pub band: Vec<Spanned<Band>>,
    #[serde(default)]
    pub variant: Vec<Variant>,
    /// Interpolation points `[x, factor]` giving a derived factor (e.g. NEMA MG 1 derating).
    #[serde(default)]
    pub curve: Vec<[f64; 2]>,
    pub curve_name: Option<String>,
    /// The curve's name in Chinese (default: `curve_name`).
    pub curve_name_zh: Option<String>,
    /// bands: abstain as not running when this role is below the asset's
    /// `vibration.min_running_current_a`.
    pub running_role: Option<String>,
    /// regions: inputs normalised to percentages of their sum.
    #[serde(default)]
    pub components: Vec<Spanned<String>>,
    #[serde(default)]
    pub region: Vec<Region>,
    #[serde(default)]
    pub digit: Vec<Digit>,
    #[serde(default)]
    pub code: Vec<CodeRule>,
    #[serde(default)]
    pub limit: Vec<Limit>,
    pub severity: Option<Severity>,
    pub action: Option<Text>,
    pub ieee: Option<IeeeTables>,
    pub rate: Option<RateDef>,
    pub model: Option<String>,
    #[serde(default)]
    pub of: Vec<Spanned<String>>,
    /// The code that no match gives (regions, codes): abstain with this reason.
    pub no_match: Option<String>,
    /// The same reason in Chinese (falls back to `no_match`).
    pub no_match_zh: Option<String>,
    /// The criterion's part in its pack's domain verdict (see `[pack.verdict]`).
    #[serde(default)]
    pub role: Role,
    /// Series criteria (rate, ieee_status deltas) compare with a dated sample at least this
    /// many days older; an online monitor's seconds-apart samples say nothing per month.
    #[serde(default)]
    pub series_min_days: f64,
}

fn one() -> String {
    "1".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // `references` is read by `referenced_files`
struct PackHeader {
    id: String,
    version: String,
    title: Text,
    #[serde(default)]
    references: Vec<String>,
    #[serde(default)]
    verdict: VerdictDef,
    /// Laboratory or sensor detection limit per input (same unit as the input).
    #[serde(default)]
    detection_limits: BTreeMap<String, f64>,
    /// A value under this multiple of its detection limit is not used as a number in a
    /// ratio or a percentage (it only bounds it); default 3.3 (see docs/verdict.md).
    quantification_multiple: Option<f64>,
}

/// The part a criterion plays in its domain's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = CriterionRole)]
pub enum Role {
    /// Judged on its own; the verdict lists every criterion's result (policy `independent`).
    #[default]
    Criterion,
    /// Names the fault type (policy `primary_confirmed`: exactly one per pack).
    Primary,
    /// Names a fault type that confirms or contradicts the primary's.
    Confirmation,
    /// Says whether the levels or their rise are abnormal (no fault type).
    Level,
    /// Adds a remark (e.g. paper involvement); never decides the verdict.
    Supplementary,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Criterion => "criterion",
            Role::Primary => "primary",
            Role::Confirmation => "confirmation",
            Role::Level => "level",
            Role::Supplementary => "supplementary",
        }
    }
}

/// How a pack's criteria are reconciled into one verdict per asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// Criteria judge different things: faults are listed together, the verdict is normal
    /// only when every criterion judged normal.
    #[default]
    Independent,
    /// One primary method names the fault, confirmation methods agree or disagree, level
    /// methods say whether there is anything to diagnose (the DGA policy).
    PrimaryConfirmed,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerdictDef {
    #[serde(default)]
    pub policy: Policy,
    /// Passages that state the policy (cited by every verdict of the pack).
    #[serde(default)]
    pub cite: Vec<Spanned<String>>,
    /// What to do when methods disagree or data are missing (shown with the verdict).
    pub confirm_action: Option<Text>,
}

pub use crate::diagnose::verdict::Family;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PackFile {
    pack: PackHeader,
    #[serde(default)]
    criterion: Vec<Spanned<CriterionDef>>,
}

/// Where the keys that [`CriterionDef`] keeps without a span sit in the file: a second,
/// lenient parse of the same text, used only to put the line of an error.
#[derive(Debug, Default, Deserialize)]
struct SpanFile {
    #[serde(default)]
    criterion: Vec<KeySpans>,
}

#[derive(Debug, Default, Deserialize)]
struct KeySpans {
    disabled_reason: Option<Spanned<String>>,
    hysteresis: Option<Spanned<f64>>,
    running_role: Option<Spanned<String>>,
    gate: Option<Spanned<GateSpans>>,
}

#[derive(Debug, Default, Deserialize)]
struct GateSpans {
    #[serde(default)]
    any_above: BTreeMap<Spanned<String>, f64>,
    at_least: Option<Spanned<(String, f64)>>,
}

/// A pack file to load: its name, its text and its reference files (name, text).
type Source = (String, String, Vec<(String, String)>);

/// A loaded, validated pack.
#[derive(Debug, Clone)]
pub struct Pack {
    pub id: String,
    pub version: String,
    pub title: Text,
    /// Where it came from (a path, or `(built in)`).
    pub source: String,
    /// SHA-256 of the pack file as read (hex): which pack a gateway runs.
    pub sha256: String,
    pub criteria: Vec<CriterionDef>,
    pub verdict: VerdictDef,
    pub detection_limits: BTreeMap<String, f64>,
    pub quantification_multiple: f64,
}

impl Pack {
    pub fn criterion(&self, id: &str) -> Option<&CriterionDef> {
        self.criteria.iter().find(|c| c.id == id)
    }
}

/// Every loaded pack and the library holding the built-in references plus the packs'.
#[derive(Debug, Clone)]
pub struct PackSet {
    pub packs: Vec<Pack>,
    pub library: Library,
}

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    fn err(&self, span: std::ops::Range<usize>, key: impl Into<String>, message: impl Into<String>) -> PackError {
        let loc = Location::from_span(self.text, span);
        PackError::Invalid {
            file: self.file.to_string(),
            line: loc.line,
            column: loc.column,
            key: key.into(),
            message: message.into(),
        }
    }
}

/// A fixed limit a criterion sets on one role, for drawing on that role's trend.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct RoleLimit {
    /// The criterion that sets it.
    pub criterion: String,
    /// What crossing it means: the band it starts, or the criterion's title.
    pub label: Text,
    /// In the role's unit.
    pub value: f64,
}

impl PackSet {
    /// The fixed limits the enabled criteria of `class` set on `role` itself: the edges of
    /// `bands` criteria whose input is the role (the variant the asset's parameter selects;
    /// none when it is not set) and the `limits` entries on the role (the asset's variant;
    /// every variant's, labelled with it, when the parameter is not set). Quantities made of
    /// several roles (ratios, sums) are not a line on one role's trend and are left out.
    pub fn role_limits(&self, class: &str, role: &str, params: &BTreeMap<String, String>) -> Vec<RoleLimit> {
        let mut out = Vec::new();
        let crits = self.packs.iter().flat_map(|p| &p.criteria);
        for c in crits.filter(|c| c.class.get_ref() == class && c.status != Status::U) {
            if let Some(limits) = c.kind.traits().role_limits {
                let variant = c.variant_param.as_ref().and_then(|p| params.get(p));
                out.extend(limits(c, role, variant.map(String::as_str)));
            }
        }
        out
    }

    /// The built-in packs only.
    pub fn builtin() -> Result<PackSet, PackError> {
        Self::load(true, &[])
    }

    /// The built-in packs (when `builtin`) and every `pack.toml` under each directory
    /// (`dir/pack.toml` or `dir/*/pack.toml`).
    pub fn load(builtin: bool, dirs: &[PathBuf]) -> Result<PackSet, PackError> {
        let mut library =
            Library::builtin().map_err(|source| PackError::References { file: "built-in library".into(), source })?;
        // (pack file name, its text, its reference files as (name, text))
        let mut sources: Vec<Source> = Vec::new();
        if builtin {
            for (name, pack, refs) in BUILTIN {
                sources.push((
                    format!("configs/packs/{name}/pack.toml (built in)"),
                    pack.to_string(),
                    vec![(format!("configs/packs/{name}/references.toml (built in)"), refs.to_string())],
                ));
            }
        }
        for dir in dirs {
            for file in pack_files(dir)? {
                let text = std::fs::read_to_string(&file)
                    .map_err(|source| PackError::Read { file: file.display().to_string(), source })?;
                let refs = referenced_files(&file, &text)?;
                sources.push((file.display().to_string(), text, refs));
            }
        }
        // References first: a pack may cite another pack's passages.
        for (_, _, refs) in &sources {
            for (rf, rt) in refs {
                let lib =
                    Library::parse(rf, rt).map_err(|source| PackError::References { file: rf.clone(), source })?;
                library.merge(lib).map_err(|source| match source {
                    e @ crate::knowledge::KnowledgeError::DocumentClash { .. } => PackError::Library(e),
                    source => PackError::References { file: rf.clone(), source },
                })?;
            }
        }
        let mut packs: Vec<Pack> = Vec::new();
        for (file, text, _) in &sources {
            let p = parse_pack(file, text, &library)?;
            if let Some(other) = packs.iter().find(|o| o.id == p.id) {
                return Err(PackError::Duplicate { file: file.clone(), id: p.id, other: other.source.clone() });
            }
            // Findings are tracked per (asset, criterion id): an id means one criterion.
            for c in &p.criteria {
                let earlier = packs.iter().zip(&sources).find_map(|(o, (_, otext, _))| {
                    o.criterion(&c.id).map(|oc| (o, Location::from_span(otext, oc.class.span())))
                });
                if let Some((o, at)) = earlier {
                    return Err(Ctx { file, text }.err(
                        c.class.span(),
                        format!("criterion `{}`", c.id),
                        format!(
                            "duplicate criterion id: pack `{}` already defines it ({}): findings are tracked \
                             per asset and criterion id, so ids must be unique across all loaded packs; \
                             prefix your ids (`plant.`)",
                            o.id,
                            crate::knowledge::file_line(&o.source, at.line)
                        ),
                    ));
                }
            }
            packs.push(p);
        }
        Ok(PackSet { packs, library })
    }

    pub fn criteria(&self) -> impl Iterator<Item = (&Pack, &CriterionDef)> {
        self.packs.iter().flat_map(|p| p.criteria.iter().map(move |c| (p, c)))
    }

    pub fn pack(&self, id: &str) -> Option<&Pack> {
        self.packs.iter().find(|p| p.id == id)
    }
}

fn pack_files(dir: &Path) -> Result<Vec<PathBuf>, PackError> {
    let direct = dir.join("pack.toml");
    if direct.is_file() {
        return Ok(vec![direct]);
    }
    let rd = std::fs::read_dir(dir).map_err(|source| PackError::Read { file: dir.display().to_string(), source })?;
    let mut out: Vec<PathBuf> =
        rd.filter_map(|e| e.ok()).map(|e| e.path().join("pack.toml")).filter(|p| p.is_file()).collect();
    if out.is_empty() {
        return Err(PackError::NoPack { dir: dir.display().to_string() });
    }
    out.sort();
    Ok(out)
}

fn referenced_files(file: &Path, text: &str) -> Result<Vec<(String, String)>, PackError> {
    #[derive(Deserialize)]
    struct Head {
        pack: HeadInner,
    }
    #[derive(Deserialize)]
    struct HeadInner {
        #[serde(default)]
        references: Vec<String>,
    }
    let Ok(h) = toml::from_str::<Head>(text) else {
        return Ok(Vec::new()); // parse_pack reports the error with its line
    };
    let base = file.parent().unwrap_or(Path::new("."));
    h.pack
        .references
        .iter()
        .map(|r| {
            let p = base.join(r);
            std::fs::read_to_string(&p)
                .map(|t| (p.display().to_string(), t))
                .map_err(|source| PackError::Read { file: p.display().to_string(), source })
        })
        .collect()
}

/// Parse and validate one pack file against `library` (which must already hold the pack's
/// references).
pub fn parse_pack(file: &str, text: &str, library: &Library) -> Result<Pack, PackError> {
    let cx = Ctx { file, text };
    let raw: PackFile = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        cx.err(span, "(document)", e.message().trim().to_string())
    })?;
    // The types parsed, so this lenient second parse does too; without it errors point at `class`.
    let spans: SpanFile = toml::from_str(text).unwrap_or_default();
    let no_spans = KeySpans::default();
    let mut ids = HashSet::new();
    let mut criteria = Vec::new();
    for (i, sc) in raw.criterion.iter().enumerate() {
        let span = sc.span();
        let mut c = sc.get_ref().clone();
        let key = format!("criterion `{}`", c.id);
        if !ids.insert(c.id.clone()) {
            return Err(cx.err(span, key, "duplicate criterion id"));
        }
        validate(&cx, &key, &mut c, spans.criterion.get(i).unwrap_or(&no_spans), library)?;
        criteria.push(c);
    }
    // Combinations refer to criteria of the same pack.
    for c in &criteria {
        for o in &c.of {
            if !ids.contains(o.get_ref()) || o.get_ref() == &c.id {
                return Err(cx.err(
                    o.span(),
                    format!("criterion `{}`.of", c.id),
                    format!("`{}` names no other criterion of this pack", o.get_ref()),
                ));
            }
        }
    }
    validate_verdict(&cx, &raw.pack, &criteria, library)?;
    let h = raw.pack;
    Ok(Pack {
        id: h.id,
        version: h.version,
        title: h.title,
        source: file.to_string(),
        sha256: {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(text.as_bytes()))
        },
        criteria,
        verdict: h.verdict,
        detection_limits: h.detection_limits,
        quantification_multiple: h.quantification_multiple.unwrap_or(DEFAULT_QUANTIFICATION_MULTIPLE),
    })
}

/// A value below this multiple of its detection limit is a bound, not a number (edgecite
/// policy: the limit of quantification is 10 σ of the blank where the detection limit is 3 σ,
/// the usual analytical-chemistry convention, so 10/3 ≈ 3.3 detection limits).
pub const DEFAULT_QUANTIFICATION_MULTIPLE: f64 = 3.3;

/// `[pack.verdict]`, `detection_limits` and the criteria's `role`/`family` agree.
fn validate_verdict(cx: &Ctx, h: &PackHeader, criteria: &[CriterionDef], lib: &Library) -> Result<(), PackError> {
    let at = |c: &CriterionDef| c.class.span();
    for p in &h.verdict.cite {
        if lib.citation(p.get_ref()).is_none() {
            return Err(cx.err(
                p.span(),
                "pack.verdict.cite",
                format!("cites `{}`, which no reference file of the library has", p.get_ref()),
            ));
        }
    }
    for (gas, v) in &h.detection_limits {
        if !(v.is_finite() && *v > 0.0) {
            return Err(cx.err(0..0, format!("pack.detection_limits.{gas}"), format!("{v} is not a limit > 0")));
        }
    }
    if let Some(m) = h.quantification_multiple {
        if !(m.is_finite() && m >= 1.0) {
            return Err(cx.err(0..0, "pack.quantification_multiple", format!("{m}: expected a number >= 1")));
        }
    }
    let faults_have_families = |c: &CriterionDef| -> Result<(), PackError> {
        let missing = c
            .region
            .iter()
            .filter(|r| r.severity.is_some() && r.family.is_none())
            .map(|r| r.code.clone())
            .chain(c.code.iter().filter(|r| r.severity.is_some() && r.family.is_none()).map(|r| r.code.clone()))
            .collect::<Vec<_>>();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(cx.err(
                at(c),
                format!("criterion `{}`", c.id),
                format!(
                    "role `{}` names fault types, so each fault region or code needs a `family` (PD, D, T or DT); \
                     missing on {}",
                    c.role.as_str(),
                    missing.join(", ")
                ),
            ))
        }
    };
    let live = |c: &&CriterionDef| c.status != Status::U;
    match h.verdict.policy {
        Policy::Independent => {
            if let Some(c) = criteria.iter().find(|c| c.role != Role::Criterion) {
                return Err(cx.err(
                    at(c),
                    format!("criterion `{}`.role", c.id),
                    format!(
                        "role `{}` needs `[pack.verdict] policy = \"primary_confirmed\"`; under the default \
                         policy `independent` leave `role` out",
                        c.role.as_str()
                    ),
                ));
            }
        }
        Policy::PrimaryConfirmed => {
            let primaries: Vec<&CriterionDef> =
                criteria.iter().filter(live).filter(|c| c.role == Role::Primary).collect();
            if primaries.len() != 1 {
                return Err(cx.err(
                    0..0,
                    "pack.verdict.policy",
                    format!(
                        "policy `primary_confirmed` needs exactly one criterion with `role = \"primary\"` (found {})",
                        primaries.len()
                    ),
                ));
            }
            for c in criteria.iter().filter(live) {
                match c.role {
                    Role::Criterion => {
                        return Err(cx.err(
                            at(c),
                            format!("criterion `{}`.role", c.id),
                            "under policy `primary_confirmed` every criterion needs a role: primary, \
                             confirmation, level or supplementary",
                        ))
                    }
                    Role::Primary | Role::Confirmation => {
                        if !c.kind.traits().names_faults {
                            return Err(cx.err(
                                at(c),
                                format!("criterion `{}`.role", c.id),
                                format!(
                                    "role `{}` needs kind {} (it names fault types)",
                                    c.role.as_str(),
                                    Kind::listed(|t| t.names_faults, "or")
                                ),
                            ));
                        }
                        faults_have_families(c)?;
                    }
                    Role::Level | Role::Supplementary => {}
                }
            }
        }
    }
    Ok(())
}

fn validate(cx: &Ctx, key: &str, c: &mut CriterionDef, at: &KeySpans, lib: &Library) -> Result<(), PackError> {
    let class: AssetClass =
        serde_json::from_value(serde_json::Value::String(c.class.get_ref().clone())).map_err(|_| {
            cx.err(c.class.span(), format!("{key}.class"), format!("unknown asset class `{}`", c.class.get_ref()))
        })?;
    // Roles.
    let mut names: Vec<String> = Vec::new();
    for r in c.inputs.iter().chain(&c.optional).chain(&c.components) {
        if class.role(r.get_ref()).is_none() {
            let known: Vec<&str> = class.roles().iter().map(|r| r.name).collect();
            return Err(cx.err(
                r.span(),
                format!("{key}.inputs"),
                format!(
                    "unknown role `{}` for class {}: expected one of {}",
                    r.get_ref(),
                    class.as_str(),
                    known.join(", ")
                ),
            ));
        }
        names.push(r.get_ref().clone());
    }
    // The not-running check reads this role's value, which is gathered only when listed.
    if let Some(role) = &c.running_role {
        let span = at.running_role.as_ref().map_or_else(|| c.class.span(), |s| s.span());
        if class.role(role).is_none() {
            let known: Vec<&str> = class.roles().iter().map(|r| r.name).collect();
            return Err(cx.err(
                span,
                format!("{key}.running_role"),
                format!("unknown role `{role}` for class {}: expected one of {}", class.as_str(), known.join(", ")),
            ));
        }
        if !c.inputs.iter().chain(&c.optional).any(|r| r.get_ref() == role) {
            return Err(cx.err(
                span,
                format!("{key}.running_role"),
                format!(
                    "`{role}` is not listed in `inputs` or `optional`: its value is never gathered, so the \
                     not-running check would never trigger; list it under `optional`"
                ),
            ));
        }
    }
    // Conditions read each component as a share of their sum: all of them must have a value.
    for comp in &c.components {
        if !c.inputs.iter().any(|r| r.get_ref() == comp.get_ref()) {
            return Err(cx.err(
                comp.span(),
                format!("{key}.components"),
                format!(
                    "`{}` is not listed in `inputs`: only `inputs` are required to have a sample, and the \
                     components are percentages of their sum; list it under `inputs`",
                    comp.get_ref()
                ),
            ));
        }
    }
    for q in &c.quantity {
        let Some((_, n)) = FUNCTIONS.iter().find(|(f, _)| f == q.func.get_ref()) else {
            let fs: Vec<&str> = FUNCTIONS.iter().map(|(f, _)| *f).collect();
            return Err(cx.err(
                q.func.span(),
                format!("{key}.quantity `{}`.fn", q.name),
                format!("unknown function `{}`: expected one of {}", q.func.get_ref(), fs.join(", ")),
            ));
        };
        if n.map_or(q.args.is_empty(), |n| n != q.args.len()) {
            return Err(cx.err(
                q.func.span(),
                format!("{key}.quantity `{}`.args", q.name),
                format!(
                    "`{}` takes {} argument(s), got {}",
                    q.func.get_ref(),
                    n.map_or("1 or more".into(), |n| n.to_string()),
                    q.args.len()
                ),
            ));
        }
        for a in &q.args {
            if !a.starts_with('@') && !names.contains(a) {
                return Err(cx.err(
                    q.func.span(),
                    format!("{key}.quantity `{}`.args", q.name),
                    format!("unknown role `{a}`: list it under inputs or optional first (or `@param` for an asset parameter)"),
                ));
            }
        }
        names.push(q.name.clone());
    }
    // Status.
    if c.status == Status::U {
        if c.disabled_reason.as_deref().is_none_or(|s| s.trim().is_empty()) {
            return Err(cx.err(
                c.class.span(),
                format!("{key}.disabled_reason"),
                "status U (unverified) criteria ship disabled and must say why in `disabled_reason`",
            ));
        }
        return Ok(());
    }
    if let Some(reason) = &c.disabled_reason {
        let span = at.disabled_reason.as_ref().map_or_else(|| c.class.span(), |s| s.span());
        return Err(cx.err(
            span,
            format!("{key}.disabled_reason"),
            format!(
                "`disabled_reason` = {reason:?} on a status {:?} criterion: only status U criteria ship disabled, \
                 and this one runs, so the reason would be shown nowhere; remove it, or set status = \"U\"",
                c.status
            ),
        ));
    }
    if let Some(h) = c.hysteresis {
        if !(h > 0.0 && h <= 1.0) {
            let span = at.hysteresis.as_ref().map_or_else(|| c.class.span(), |s| s.span());
            return Err(cx.err(
                span,
                format!("{key}.hysteresis"),
                format!(
                    "hysteresis = {h} is out of range: it multiplies every band edge (limit, rate limit) while \
                     a finding is open, and must be above 0 and at most 1 (0.95 = edges 5 % lower; 1 = none)"
                ),
            ));
        }
    }
    gate::validate(cx, key, c, at, &names)?;
    // Citations.
    let ck = Check { cx, key, names: &names, lib, at: c.class.span() };
    ck.cite_ok(&c.cite, "cite")?;
    let variants_cited = !c.variant.is_empty() && c.variant.iter().all(|v| !v.cite.is_empty());
    if c.kind.traits().needs_citation && c.cite.is_empty() && !variants_cited {
        return Err(cx.err(c.class.span(), format!("{key}.cite"), "a criterion needs at least one citation"));
    }
    if let Some(g) = &c.gate {
        ck.cite_ok(&g.cite, "gate.cite")?;
    }
    // What this kind reads.
    c.kind.validate(&ck, c)?;
    Ok(())
}

/// The criterion's verification as findings show it.
pub fn verification(status: Status) -> Verification {
    match status {
        Status::V2 => Verification::Verified,
        _ => Verification::Secondary,
    }
}

#[cfg(test)]
mod tests;
