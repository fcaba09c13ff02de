//! Diagnostic packs: declarative criteria (`configs/packs/<pack>/pack.toml` plus the
//! reference files they cite), parameterising the evaluators the product provides
//! ([`eval`]): bands, regions (polygons such as the Duval triangle, ratio tables), ratio
//! codes, limits, IEEE C57.104 status, rate of change, model score and all/any
//! combinations. Packs are validated at load; every error names file:line, the key and why.
//! The shipped packs are embedded in the binary; plants and vendors add directories.

pub mod cond;
pub mod eval;
pub mod online;

use crate::diagnose::Text;
use crate::knowledge::classes::AssetClass;
use crate::knowledge::{Library, Severity, Verification};
use crate::location::Location;
use cond::Cond;
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Edge {
    /// A value equal to an edge belongs to the band above it (`from <= x < to`).
    #[default]
    LowerInclusive,
    /// A value equal to an edge belongs to the band below it (`from < x <= to`).
    UpperInclusive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Bands,
    Regions,
    Codes,
    Limits,
    IeeeStatus,
    Rate,
    ModelScore,
    All,
    Any,
}

impl Kind {
    /// The name a pack writes in `kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Bands => "bands",
            Kind::Regions => "regions",
            Kind::Codes => "codes",
            Kind::Limits => "limits",
            Kind::IeeeStatus => "ieee_status",
            Kind::Rate => "rate",
            Kind::ModelScore => "model_score",
            Kind::All => "all",
            Kind::Any => "any",
        }
    }
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Region {
    pub code: String,
    pub when: Vec<Spanned<String>>,
    #[serde(skip)]
    pub conds: Vec<Cond>,
    pub severity: Option<Severity>,
    pub title: Text,
    pub action: Option<Text>,
    #[serde(default)]
    pub cite: Vec<Spanned<String>>,
    /// The fault family this region names (for the domain verdict's reconciliation).
    pub family: Option<Family>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Digit {
    pub input: Spanned<String>,
    pub band: Vec<Spanned<Band>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeRule {
    /// Digits, `x` for any digit, `[01]` for a set.
    pub pattern: Spanned<String>,
    pub code: String,
    pub severity: Option<Severity>,
    pub title: Text,
    pub action: Option<Text>,
    /// The fault family this code names (for the domain verdict's reconciliation).
    pub family: Option<Family>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    pub input: Spanned<String>,
    /// Exceeded when strictly greater.
    pub above: f64,
    /// Only for assets whose variant parameter has this value.
    pub variant: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gate {
    /// Applicable when at least one input is strictly above its value.
    #[serde(default)]
    pub any_above: BTreeMap<String, f64>,
    /// Applicable only when this input is at least `min`.
    pub at_least: Option<(String, f64)>,
    /// While a finding is open, the `any_above` values are multiplied by this.
    pub hold_fraction: Option<f64>,
    #[serde(default)]
    pub cite: Vec<Spanned<String>>,
    /// The asset parameter that selects `by_variant` overrides of `any_above`.
    pub variant_param: Option<String>,
    /// Per value of `variant_param`, values that replace those of `any_above`. When the
    /// parameter is not set, each overridden input takes its largest value over the variants
    /// (edgecite policy: the method then applies only where every variant would apply it).
    #[serde(default)]
    pub by_variant: BTreeMap<String, BTreeMap<String, f64>>,
}

impl Gate {
    /// The `any_above` values for an asset with these params, and the variant used (`None`:
    /// the parameter is not set, so the largest of the variants' values).
    pub fn limits(&self, params: &eval::Params) -> (BTreeMap<String, f64>, Option<String>) {
        let mut out = self.any_above.clone();
        let Some(vp) = &self.variant_param else { return (out, None) };
        match params.get(vp).map(|p| p.as_key()) {
            Some(key) => {
                if let Some(o) = self.by_variant.get(&key) {
                    out.extend(o.iter().map(|(k, v)| (k.clone(), *v)));
                }
                (out, Some(key))
            }
            None => {
                for o in self.by_variant.values() {
                    for (k, v) in o {
                        let e = out.entry(k.clone()).or_insert(*v);
                        *e = e.max(*v);
                    }
                }
                (out, None)
            }
        }
    }
}

/// A value that is the same for every age column or differs per column.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ByAge {
    One(f64),
    /// Age unknown, 1-9 years, 10-30 years, above 30 years.
    Four([f64; 4]),
}

impl ByAge {
    pub fn get(&self, col: usize) -> f64 {
        match self {
            ByAge::One(v) => *v,
            ByAge::Four(a) => a[col],
        }
    }
}

pub type GasTable = BTreeMap<String, ByAge>;

/// IEEE C57.104-2019 Tables 1-4, split by O2/N2 <= 0.2 (`low`) and > 0.2 (`high`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IeeeTables {
    pub o2_n2_split: f64,
    pub t1_low: GasTable,
    pub t1_high: GasTable,
    pub t2_low: GasTable,
    pub t2_high: GasTable,
    pub t3_low: GasTable,
    pub t3_high: GasTable,
    pub t4_short_low: GasTable,
    pub t4_short_high: GasTable,
    pub t4_long_low: GasTable,
    pub t4_long_high: GasTable,
}

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
            let variant = c.variant_param.as_ref().and_then(|p| params.get(p));
            match c.kind {
                Kind::Bands if c.input.as_ref().is_some_and(|i| i.get_ref() == role) => {
                    let bands = match (&c.variant_param, variant) {
                        (None, _) => &c.band,
                        (Some(_), Some(v)) => match c.variant.iter().find(|x| &x.key == v) {
                            Some(x) if x.status != Some(Status::U) => &x.band,
                            _ => continue,
                        },
                        (Some(_), None) => continue,
                    };
                    for b in bands.iter().map(|b| b.get_ref()) {
                        if let Some(from) = b.from {
                            let label = b.title.clone().unwrap_or_else(|| Text::new(b.code.clone(), b.code.clone()));
                            out.push(RoleLimit { criterion: c.id.clone(), label, value: from });
                        }
                    }
                }
                Kind::Limits => {
                    for l in c.limit.iter().filter(|l| l.input.get_ref() == role) {
                        let label = match (&l.variant, variant) {
                            (Some(lv), Some(v)) if lv != v => continue,
                            (Some(lv), None) => Text::new(
                                format!("{} ({} = {lv})", c.title.en, c.variant_param.as_deref().unwrap_or("")),
                                format!("{}（{} = {lv}）", c.title.zh, c.variant_param.as_deref().unwrap_or("")),
                            ),
                            _ => c.title.clone(),
                        };
                        out.push(RoleLimit { criterion: c.id.clone(), label, value: l.above });
                    }
                }
                _ => {}
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
                        if !matches!(c.kind, Kind::Regions | Kind::Codes) {
                            return Err(cx.err(
                                at(c),
                                format!("criterion `{}`.role", c.id),
                                format!(
                                    "role `{}` needs kind regions or codes (it names fault types)",
                                    c.role.as_str()
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
    let known = |s: &Spanned<String>, what: &str| -> Result<(), PackError> {
        if names.contains(s.get_ref()) {
            Ok(())
        } else {
            Err(cx.err(
                s.span(),
                format!("{key}.{what}"),
                format!("unknown role or quantity `{}`: expected one of {}", s.get_ref(), names.join(", ")),
            ))
        }
    };
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
    if let Some(g) = &c.gate {
        let gspan = at.gate.as_ref().map_or_else(|| c.class.span(), |s| s.span());
        if !matches!(c.kind, Kind::Bands | Kind::Regions | Kind::Codes) {
            return Err(cx.err(
                gspan,
                format!("{key}.gate"),
                format!(
                    "kind `{}` does not read `gate` (only bands, regions and codes do): the gate would be \
                     ignored; remove it",
                    c.kind.as_str()
                ),
            ));
        }
        for (name, v) in &g.any_above {
            if !names.contains(name) {
                let span = at
                    .gate
                    .as_ref()
                    .and_then(|s| s.get_ref().any_above.keys().find(|k| k.get_ref() == name))
                    .map_or(gspan.clone(), |k| k.span());
                return Err(cx.err(
                    span,
                    format!("{key}.gate.any_above"),
                    format!(
                        "`{name}` = {v} names no input role or quantity of this criterion (expected one of {}): \
                         it never has a value, so it never opens the gate",
                        names.join(", ")
                    ),
                ));
            }
        }
        if let Some((name, v)) = &g.at_least {
            if !names.contains(name) {
                let span =
                    at.gate.as_ref().and_then(|s| s.get_ref().at_least.as_ref()).map_or(gspan.clone(), |s| s.span());
                return Err(cx.err(
                    span,
                    format!("{key}.gate.at_least"),
                    format!(
                        "`{name}` (at least {v}) names no input role or quantity of this criterion (expected one \
                         of {}): it never has a value, so the gate would stay closed for ever",
                        names.join(", ")
                    ),
                ));
            }
        }
    }
    // Citations.
    let cite_ok = |list: &[Spanned<String>], what: &str| -> Result<(), PackError> {
        for p in list {
            if lib.citation(p.get_ref()).is_none() {
                return Err(cx.err(
                    p.span(),
                    format!("{key}.{what}"),
                    format!("cites `{}`, which no reference file of the library has", p.get_ref()),
                ));
            }
        }
        Ok(())
    };
    cite_ok(&c.cite, "cite")?;
    let variants_cited = !c.variant.is_empty() && c.variant.iter().all(|v| !v.cite.is_empty());
    if c.kind != Kind::ModelScore && c.cite.is_empty() && !variants_cited && !matches!(c.kind, Kind::All | Kind::Any) {
        return Err(cx.err(c.class.span(), format!("{key}.cite"), "a criterion needs at least one citation"));
    }
    if let Some(g) = &c.gate {
        cite_ok(&g.cite, "gate.cite")?;
    }
    let bands_ok = |bands: &[Spanned<Band>], what: &str, finding: bool| -> Result<(), PackError> {
        if bands.is_empty() {
            return Err(cx.err(c.class.span(), format!("{key}.{what}"), "no bands"));
        }
        for (i, b) in bands.iter().enumerate() {
            let br = b.get_ref();
            cite_ok(&br.cite, &format!("{what}[{i}].cite"))?;
            if i == 0 && br.from.is_some() {
                return Err(cx.err(
                    b.span(),
                    format!("{key}.{what}[0].from"),
                    "the first band must be open below (no `from`): values below it would fall in a gap",
                ));
            }
            if i + 1 == bands.len() && br.to.is_some() {
                return Err(cx.err(
                    b.span(),
                    format!("{key}.{what}[{i}].to"),
                    "the last band must be open above (no `to`): values above it would fall in a gap",
                ));
            }
            if let (Some(f), Some(t)) = (br.from, br.to) {
                if !(f < t) {
                    return Err(cx.err(
                        b.span(),
                        format!("{key}.{what}[{i}]"),
                        format!("from {f} is not below to {t}"),
                    ));
                }
            }
            if i > 0 {
                let prev = bands[i - 1].get_ref();
                match (prev.to, br.from) {
                    (Some(t), Some(f)) if f > t => {
                        return Err(cx.err(
                            b.span(),
                            format!("{key}.{what}[{i}].from"),
                            format!("gap between bands: the previous band ends at {t}, this one starts at {f}"),
                        ));
                    }
                    (Some(t), Some(f)) if f < t => {
                        return Err(cx.err(
                            b.span(),
                            format!("{key}.{what}[{i}].from"),
                            format!("bands overlap: the previous band ends at {t}, this one starts at {f}"),
                        ));
                    }
                    (Some(_), Some(_)) => {}
                    _ => {
                        return Err(cx.err(
                            b.span(),
                            format!("{key}.{what}[{i}]"),
                            "inner band edges need both the previous `to` and this `from`",
                        ));
                    }
                }
            }
            if finding && br.severity.is_some() && (br.title.is_none() || br.action.is_none()) {
                return Err(cx.err(
                    b.span(),
                    format!("{key}.{what}[{i}]"),
                    "a band with a severity needs `title` and `action` (en and zh)",
                ));
            }
            if finding && br.title.is_none() {
                return Err(cx.err(b.span(), format!("{key}.{what}[{i}].title"), "every band needs a title"));
            }
        }
        Ok(())
    };
    match c.kind {
        Kind::Bands => {
            let input =
                c.input.as_ref().ok_or_else(|| cx.err(c.class.span(), format!("{key}.input"), "bands need `input`"))?;
            known(input, "input")?;
            if c.variant.is_empty() {
                bands_ok(&c.band, "band", true)?;
            } else {
                if c.variant_param.is_none() {
                    return Err(cx.err(
                        c.class.span(),
                        format!("{key}.variant_param"),
                        "variants need `variant_param`",
                    ));
                }
                for (i, v) in c.variant.iter().enumerate() {
                    bands_ok(&v.band, &format!("variant[{i}].band"), true)?;
                    cite_ok(&v.cite, &format!("variant[{i}].cite"))?;
                }
            }
        }
        Kind::Regions => {
            if c.region.is_empty() {
                return Err(cx.err(
                    c.class.span(),
                    format!("{key}.region"),
                    "regions need at least one [[criterion.region]]",
                ));
            }
            let vars = names.clone();
            for (i, r) in c.region.iter_mut().enumerate() {
                for w in &r.when {
                    let cond = if w.get_ref().trim() == "else" {
                        Cond::default()
                    } else {
                        Cond::parse(w.get_ref()).map_err(|m| cx.err(w.span(), format!("{key}.region[{i}].when"), m))?
                    };
                    if let Some(v) = cond.vars().find(|v| !vars.iter().any(|n| n == v)) {
                        return Err(cx.err(
                            w.span(),
                            format!("{key}.region[{i}].when"),
                            format!("unknown variable `{v}`: expected one of {}", vars.join(", ")),
                        ));
                    }
                    r.conds.push(cond);
                }
                cite_ok(&r.cite, &format!("region[{i}].cite"))?;
                if r.severity.is_some() && r.action.is_none() {
                    return Err(cx.err(
                        r.when[0].span(),
                        format!("{key}.region[{i}].action"),
                        "a region with a severity needs `action` (en and zh)",
                    ));
                }
            }
        }
        Kind::Codes => {
            if c.digit.is_empty() || c.code.is_empty() {
                return Err(cx.err(
                    c.class.span(),
                    key.to_string(),
                    "codes need [[criterion.digit]] and [[criterion.code]]",
                ));
            }
            for (i, d) in c.digit.iter().enumerate() {
                known(&d.input, &format!("digit[{i}].input"))?;
                bands_ok(&d.band, &format!("digit[{i}].band"), false)?;
                for b in &d.band {
                    if b.get_ref().code.chars().count() != 1 {
                        return Err(cx.err(
                            b.span(),
                            format!("{key}.digit[{i}].band.code"),
                            "a digit band's code is one character",
                        ));
                    }
                }
            }
            for (i, r) in c.code.iter().enumerate() {
                let n = pattern_len(r.pattern.get_ref()).ok_or_else(|| {
                    cx.err(
                        r.pattern.span(),
                        format!("{key}.code[{i}].pattern"),
                        "bad pattern: expected digits, `x` or `[..]` sets",
                    )
                })?;
                if n != c.digit.len() {
                    return Err(cx.err(
                        r.pattern.span(),
                        format!("{key}.code[{i}].pattern"),
                        format!("pattern has {n} positions for {} digits", c.digit.len()),
                    ));
                }
                if r.severity.is_some() && r.action.is_none() {
                    return Err(cx.err(
                        r.pattern.span(),
                        format!("{key}.code[{i}].action"),
                        "a code with a severity needs `action`",
                    ));
                }
            }
        }
        Kind::Limits => {
            if c.limit.is_empty() || c.severity.is_none() || c.action.is_none() {
                return Err(cx.err(
                    c.class.span(),
                    key.to_string(),
                    "limits need [[criterion.limit]], `severity` and `action`",
                ));
            }
            for (i, l) in c.limit.iter().enumerate() {
                known(&l.input, &format!("limit[{i}].input"))?;
            }
        }
        Kind::IeeeStatus => {
            let t = c
                .ieee
                .as_ref()
                .ok_or_else(|| cx.err(c.class.span(), format!("{key}.ieee"), "ieee_status needs [criterion.ieee]"))?;
            for table in [
                &t.t1_low,
                &t.t1_high,
                &t.t2_low,
                &t.t2_high,
                &t.t3_low,
                &t.t3_high,
                &t.t4_short_low,
                &t.t4_short_high,
                &t.t4_long_low,
                &t.t4_long_high,
            ] {
                for g in table.keys() {
                    if !names.contains(g) {
                        return Err(cx.err(
                            c.class.span(),
                            format!("{key}.ieee"),
                            format!("unknown gas `{g}`: list it under inputs or optional"),
                        ));
                    }
                }
            }
            if c.action.is_none() {
                return Err(cx.err(c.class.span(), format!("{key}.action"), "ieee_status needs `action`"));
            }
        }
        Kind::Rate => {
            let r = c
                .rate
                .as_ref()
                .ok_or_else(|| cx.err(c.class.span(), format!("{key}.rate"), "rate needs [criterion.rate]"))?;
            known(&r.input, "rate.input")?;
            if c.severity.is_none() || c.action.is_none() {
                return Err(cx.err(c.class.span(), key.to_string(), "rate needs `severity` and `action`"));
            }
        }
        Kind::ModelScore => {
            if c.model.is_none() {
                return Err(cx.err(
                    c.class.span(),
                    format!("{key}.model"),
                    "model_score needs `model` (the manifest name)",
                ));
            }
        }
        Kind::All | Kind::Any => {
            if c.of.len() < 2 || c.severity.is_none() || c.action.is_none() {
                return Err(cx.err(
                    c.class.span(),
                    key.to_string(),
                    "all/any need `of` (two or more criteria), `severity` and `action`",
                ));
            }
        }
    }
    Ok(())
}

/// The number of positions of a code pattern, or None if malformed.
pub fn pattern_len(p: &str) -> Option<usize> {
    let mut n = 0;
    let mut in_set = false;
    for ch in p.chars() {
        match ch {
            '[' if !in_set => in_set = true,
            ']' if in_set => {
                in_set = false;
                n += 1
            }
            c if in_set && c.is_ascii_digit() => {}
            c if !in_set && (c.is_ascii_digit() || c == 'x') => n += 1,
            _ => return None,
        }
    }
    (!in_set).then_some(n)
}

/// Whether `code` (one char per digit) matches `pattern`.
pub fn pattern_matches(pattern: &str, code: &str) -> bool {
    let mut chars = code.chars();
    let mut it = pattern.chars();
    while let Some(p) = it.next() {
        let Some(c) = chars.next() else { return false };
        match p {
            'x' => {}
            '[' => {
                let set: String = it.by_ref().take_while(|&ch| ch != ']').collect();
                if !set.contains(c) {
                    return false;
                }
            }
            d if d == c => {}
            _ => return false,
        }
    }
    chars.next().is_none()
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
