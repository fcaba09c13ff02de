//! Lab DGA results: one sample or a CSV file diagnosed through the transformer-dga pack,
//! by the same evaluator as the online criteria ([`super::pack::eval::Compiled`]).
//!
//! CSV columns (header required, case-insensitive, any order): H2, CH4, C2H6, C2H4, C2H2,
//! CO, CO2 (all required as columns) and optionally O2, N2, age_years, id, date
//! (`YYYY-MM-DD`), voltage_class (`ge330kv` / `le220kv`). An empty cell means "not
//! reported", never zero. Rows with the same id form a series in file order: the rate and
//! IEEE delta criteria use the earlier rows.

use super::pack::eval::{Compiled, EvalCtx, Param, Params, Snapshot};
use super::pack::{Kind, PackSet, Status};
use super::{verdict, Evidence, EvidenceValue, Outcome, Severity, Text};
use crate::knowledge::{Citation, Verification};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub const PACK: &str = "transformer-dga";
pub const GASES: [&str; 7] = ["h2", "ch4", "c2h6", "c2h4", "c2h2", "co", "co2"];
pub const OPTIONAL_GASES: [&str; 2] = ["o2", "n2"];
/// Earlier samples kept per transformer (the series methods look back at most 24 months;
/// 64 samples cover monthly sampling with room). Every path keeps the same window, so a
/// report's `history` does not depend on how the rows were split.
pub const MAX_HISTORY: usize = 64;

/// Append `s` to an id's history, keeping the last [`MAX_HISTORY`].
fn remember(h: &mut Vec<LabSample>, s: &LabSample) {
    h.push(s.clone());
    if h.len() > MAX_HISTORY {
        h.drain(..h.len() - MAX_HISTORY);
    }
}

/// A gas as a laboratory reports it: a number, not detected (`ND`, `n.d.`, `未检出`), or below
/// a value (`<1`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reading {
    Value(f64),
    NotDetected,
    Below(f64),
}

impl Reading {
    /// Parse a lab cell: a number, `ND` / `N.D.` / `n.d.` / `nd` / `not detected` / `未检出`,
    /// or `<x` (`< x`, `<=x`).
    pub fn parse(s: &str) -> Result<Reading, String> {
        let t = s.trim();
        let norm: String = t.chars().filter(|c| !c.is_whitespace() && *c != '.').collect::<String>().to_lowercase();
        if matches!(norm.as_str(), "nd" | "notdetected" | "未检出" | "未检测出") {
            return Ok(Reading::NotDetected);
        }
        if let Some(rest) = t.strip_prefix("<=").or_else(|| t.strip_prefix('<')).or_else(|| t.strip_prefix('＜')) {
            let v: f64 = rest.trim().parse().map_err(|_| format!("value `{t}` is not a number, ND or <number"))?;
            return Ok(Reading::Below(v));
        }
        t.parse::<f64>().map(Reading::Value).map_err(|_| format!("value `{t}` is not a number, ND or <number"))
    }

    /// The value used in sums and percentages: a number, or 0 for not detected / below.
    pub fn nominal(self) -> f64 {
        match self {
            Reading::Value(v) => v,
            Reading::NotDetected | Reading::Below(_) => 0.0,
        }
    }

    /// For readings that are bounds: the bound (0 for `ND`: the detection limit applies).
    pub fn below(self) -> Option<f64> {
        match self {
            Reading::Value(_) => None,
            Reading::NotDetected => Some(0.0),
            Reading::Below(b) => Some(b),
        }
    }

    fn check(self) -> Option<f64> {
        match self {
            Reading::Value(v) | Reading::Below(v) if !(v.is_finite() && v >= 0.0) => Some(v),
            _ => None,
        }
    }

    /// `good`, `not_detected` or `below_limit`, as evidence quality.
    pub fn quality(self) -> &'static str {
        match self {
            Reading::Value(_) => "good",
            Reading::NotDetected => "not_detected",
            Reading::Below(_) => "below_limit",
        }
    }
}

impl Serialize for Reading {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Reading::Value(v) => s.serialize_f64(*v),
            Reading::NotDetected => s.serialize_str("ND"),
            Reading::Below(b) => s.serialize_str(&format!("<{b}")),
        }
    }
}

impl<'de> Deserialize<'de> for Reading {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(f64),
            S(String),
        }
        match Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom("expected a number (ppm), \"ND\" (not detected) or \"<x\" (below x)")
        })? {
            Raw::N(v) => Ok(Reading::Value(v)),
            Raw::S(t) => Reading::parse(&t).map_err(serde::de::Error::custom),
        }
    }
}

/// What an empty lab cell means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Blank {
    /// The gas was not analysed (the safe default: never read as zero).
    #[default]
    NotReported,
    /// The laboratory leaves a cell empty when it found nothing.
    NotDetected,
}

/// One lab sample. Gases not reported are `None`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabSample {
    #[serde(default)]
    pub id: Option<String>,
    /// `YYYY-MM-DD`
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub h2: Option<Reading>,
    #[serde(default)]
    pub ch4: Option<Reading>,
    #[serde(default)]
    pub c2h6: Option<Reading>,
    #[serde(default)]
    pub c2h4: Option<Reading>,
    #[serde(default)]
    pub c2h2: Option<Reading>,
    #[serde(default)]
    pub co: Option<Reading>,
    #[serde(default)]
    pub co2: Option<Reading>,
    #[serde(default)]
    pub o2: Option<Reading>,
    #[serde(default)]
    pub n2: Option<Reading>,
    #[serde(default)]
    pub age_years: Option<f64>,
    #[serde(default)]
    pub voltage_class: Option<String>,
    /// The label column of `--eval` (not sent to the methods).
    #[serde(skip)]
    pub label: Option<String>,
}

impl LabSample {
    /// The gas value used by the methods (not detected and `<x` read as 0, with the bound kept
    /// in [`Self::reading`]).
    pub fn gas(&self, role: &str) -> Option<f64> {
        self.reading(role).map(Reading::nominal)
    }

    pub fn reading(&self, role: &str) -> Option<Reading> {
        match role {
            "h2" => self.h2,
            "ch4" => self.ch4,
            "c2h6" => self.c2h6,
            "c2h4" => self.c2h4,
            "c2h2" => self.c2h2,
            "co" => self.co,
            "co2" => self.co2,
            "o2" => self.o2,
            "n2" => self.n2,
            _ => None,
        }
    }

    fn set(&mut self, col: &str, v: Reading) {
        match col {
            "h2" => self.h2 = Some(v),
            "ch4" => self.ch4 = Some(v),
            "c2h6" => self.c2h6 = Some(v),
            "c2h4" => self.c2h4 = Some(v),
            "c2h2" => self.c2h2 = Some(v),
            "co" => self.co = Some(v),
            "co2" => self.co2 = Some(v),
            "o2" => self.o2 = Some(v),
            "n2" => self.n2 = Some(v),
            "age_years" => self.age_years = Some(v.nominal()),
            _ => {}
        }
    }

    /// Check values: finite, not negative, a valid date.
    pub fn validate(&self) -> Result<(), String> {
        for g in GASES.iter().chain(&OPTIONAL_GASES) {
            if let Some(v) = self.reading(g).and_then(Reading::check) {
                {
                    return Err(format!(
                        "{}: value {v} is not a concentration (expected a number >= 0 in ppm)",
                        g.to_uppercase()
                    ));
                }
            }
        }
        if let Some(a) = self.age_years {
            if !(a.is_finite() && a >= 0.0) {
                return Err(format!("age_years: value {a} is not an age (expected a number >= 0)"));
            }
        }
        if let Some(d) = &self.date {
            parse_date(d).ok_or_else(|| format!("date: value `{d}` is not a date (expected YYYY-MM-DD)"))?;
        }
        if let Some(v) = &self.voltage_class {
            if v != "ge330kv" && v != "le220kv" {
                return Err(format!("voltage_class: value `{v}`: expected `ge330kv` or `le220kv`"));
            }
        }
        Ok(())
    }

    fn ts_ms(&self) -> Option<i64> {
        self.date.as_deref().and_then(parse_date)
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            ts_ms: self.ts_ms(),
            values: GASES
                .iter()
                .chain(&OPTIONAL_GASES)
                .filter_map(|g| self.gas(g).map(|v| (g.to_string(), v)))
                .collect(),
        }
    }
}

/// Unix ms of a `YYYY-MM-DD` date (midnight UTC).
pub fn parse_date(s: &str) -> Option<i64> {
    let mut it = s.trim().splitn(3, '-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: i64 = it.next()?.parse().ok()?;
    let d: i64 = it.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || !(1900..=2200).contains(&y) {
        return None;
    }
    // Days from civil (Howard Hinnant).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146_097 + doe - 719_468) * 86_400_000)
}

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("{file}: {message}")]
    Csv { file: String, message: String },
    #[error("pack `{PACK}` is not loaded")]
    NoPack,
    #[error(transparent)]
    Pack(#[from] super::pack::PackError),
}

/// A CSV row: the sample or the reason it cannot be read.
pub type CsvRow = Result<LabSample, String>;

/// How to read a lab CSV.
#[derive(Debug, Clone, Default)]
pub struct CsvOptions {
    /// What an empty cell means.
    pub blank: Blank,
    /// A column holding each row's known condition (for `--eval`); kept as the row's label.
    pub label: Option<String>,
    /// Columns that are neither known nor the label are skipped (listed in
    /// [`ParsedCsv::ignored`]) instead of refusing the file.
    pub ignore_unknown: bool,
}

/// Header cells a lab export may use for a gas: the formula alone (`H2`), or a name with the
/// formula in parentheses (`Hydrogen (H2)`).
fn column_key(h: &str) -> String {
    let t = h.trim().to_ascii_lowercase();
    if let (Some(a), Some(b)) = (t.rfind('('), t.rfind(')')) {
        if a < b {
            let inner = t[a + 1..b].trim();
            if GASES.contains(&inner) || OPTIONAL_GASES.contains(&inner) {
                return inner.to_string();
            }
        }
    }
    t
}

/// A parsed lab CSV: rows (the sample or the reason it cannot be read) and the columns that
/// were skipped.
pub struct ParsedCsv {
    pub rows: Vec<(usize, CsvRow)>,
    pub ignored: Vec<String>,
}

/// Parse a lab CSV with the defaults (empty cell = not reported, every column known).
pub fn parse_csv(file: &str, text: &str) -> Result<Vec<(usize, CsvRow)>, LabError> {
    parse_csv_with(file, text, &CsvOptions::default()).map(|p| p.rows)
}

/// Parse a lab CSV. Header problems are errors; a bad row is reported as that row's error.
pub fn parse_csv_with(file: &str, text: &str, o: &CsvOptions) -> Result<ParsedCsv, LabError> {
    let err = |message: String| LabError::Csv { file: file.to_string(), message };
    let mut lines = csv_records(text).into_iter();
    let (hline, header) = lines.next().ok_or_else(|| err("empty file: expected a header line".into()))?;
    let label = o.label.as_ref().map(|l| l.trim().to_ascii_lowercase());
    let mut cols: Vec<String> = header.iter().map(|h| column_key(h)).collect();
    const KNOWN: [&str; 14] = [
        "h2",
        "ch4",
        "c2h6",
        "c2h4",
        "c2h2",
        "co",
        "co2",
        "o2",
        "n2",
        "age_years",
        "id",
        "date",
        "voltage_class",
        "note",
    ];
    let mut ignored = Vec::new();
    for i in 0..cols.len() {
        let c = cols[i].clone();
        if label.as_deref() == Some(header[i].trim().to_ascii_lowercase().as_str()) {
            cols[i] = "\u{0}label".into();
            continue;
        }
        if !KNOWN.contains(&c.as_str()) {
            if o.ignore_unknown {
                ignored.push(header[i].trim().to_string());
                cols[i] = String::new();
                continue;
            }
            return Err(err(format!(
                "line {hline}: column {} `{}` is not a known column: expected {}",
                i + 1,
                header[i],
                KNOWN.join(", ")
            )));
        }
        if cols[..i].contains(&c) {
            return Err(err(format!("line {hline}: column `{c}` appears twice")));
        }
    }
    if let Some(l) = &o.label {
        if !cols.iter().any(|c| c == "\u{0}label") {
            return Err(err(format!("line {hline}: no column `{l}` (named by --eval)")));
        }
    }
    let missing: Vec<&str> = GASES.iter().copied().filter(|g| !cols.iter().any(|c| c == g)).collect();
    if !missing.is_empty() {
        return Err(err(format!(
            "line {hline}: missing column(s) {}: every gas needs a column (leave a cell empty when not reported)",
            missing.join(", ")
        )));
    }
    let mut out = Vec::new();
    for (line, rec) in lines {
        if rec.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        out.push((line, row(&cols, &rec, o.blank).map_err(|m| format!("{file}: line {line}: {m}"))));
    }
    Ok(ParsedCsv { rows: out, ignored })
}

/// Cells that mean "not analysed" whatever `Blank` says.
fn not_reported(v: &str) -> bool {
    matches!(v, "-" | "—" | "--" | "n/a" | "N/A")
}

fn row(cols: &[String], rec: &[String], blank: Blank) -> Result<LabSample, String> {
    if rec.len() != cols.len() {
        return Err(format!("{} field(s) where the header has {}", rec.len(), cols.len()));
    }
    let mut s = LabSample::default();
    for (c, v) in cols.iter().zip(rec) {
        let v = v.trim();
        let is_gas = GASES.contains(&c.as_str()) || OPTIONAL_GASES.contains(&c.as_str());
        if v.is_empty() {
            if is_gas && blank == Blank::NotDetected {
                s.set(c, Reading::NotDetected);
            }
            continue;
        }
        match c.as_str() {
            "" | "note" => {}
            "\u{0}label" => s.label = Some(v.to_string()),
            "id" => s.id = Some(v.to_string()),
            "date" => s.date = Some(v.to_string()),
            "voltage_class" => s.voltage_class = Some(v.to_ascii_lowercase()),
            _ if is_gas && not_reported(v) => {}
            "age_years" => {
                let x: f64 = v.parse().map_err(|_| format!("column {c}: value `{v}` is not a number"))?;
                s.set(c, Reading::Value(x));
            }
            _ => {
                let x = Reading::parse(v).map_err(|m| format!("column {c}: {m}"))?;
                s.set(c, x);
            }
        }
    }
    s.validate()?;
    Ok(s)
}

/// RFC 4180 records with the line each starts on (quotes, doubled quotes, CRLF).
fn csv_records(text: &str) -> Vec<(usize, Vec<String>)> {
    let mut out = Vec::new();
    let mut rec = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut line = 1;
    let mut start = 1;
    let mut chars = text.trim_start_matches('\u{feff}').chars().peekable();
    while let Some(ch) = chars.next() {
        match (ch, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', true) => quoted = false,
            ('"', false) if field.is_empty() => quoted = true,
            (',', false) => rec.push(std::mem::take(&mut field)),
            ('\r', false) => {}
            ('\n', false) => {
                rec.push(std::mem::take(&mut field));
                out.push((start, std::mem::take(&mut rec)));
                line += 1;
                start = line;
            }
            ('\n', true) => {
                line += 1;
                field.push('\n');
            }
            (c, _) => field.push(c),
        }
    }
    if !field.is_empty() || !rec.is_empty() {
        rec.push(field);
        out.push((start, rec));
    }
    out
}

/// One method's result on a sample.
#[derive(Debug, Clone)]
pub struct MethodResult {
    pub criterion: String,
    pub title: String,
    pub verification: Verification,
    /// `fault`, `normal` or `abstain`.
    pub status: &'static str,
    pub code: Option<String>,
    pub severity: Option<Severity>,
    pub finding: Option<super::Text>,
    pub action: Option<super::Text>,
    /// Why the method abstains (snake_case reason).
    pub reason: Option<&'static str>,
    /// The evidence line or the abstention's reason (the Chinese empty: not translated).
    pub detail: super::Text,
    pub derived: Vec<super::Derived>,
    /// Passage ids this result cites.
    pub citations: Vec<String>,
    /// The method's part in the verdict (primary, confirmation, level, supplementary).
    pub role: super::pack::Role,
    /// The fault family of its fault, if it names one.
    pub family: Option<verdict::Family>,
}

/// [`MethodResult`] as reports write it: the detail as `detail` and `detail_zh`.
#[derive(Serialize)]
struct MethodResultWire<'a> {
    criterion: &'a str,
    title: &'a str,
    verification: Verification,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    severity: Option<Severity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    finding: Option<&'a super::Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<&'a super::Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    detail: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    detail_zh: &'a str,
    derived: &'a [super::Derived],
    citations: &'a [String],
    role: super::pack::Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    family: Option<verdict::Family>,
}

impl Serialize for MethodResult {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        MethodResultWire {
            criterion: &self.criterion,
            title: &self.title,
            verification: self.verification,
            status: self.status,
            code: self.code.as_deref(),
            severity: self.severity,
            finding: self.finding.as_ref(),
            action: self.action.as_ref(),
            reason: self.reason,
            detail: &self.detail.en,
            detail_zh: &self.detail.zh,
            derived: &self.derived,
            citations: &self.citations,
            role: self.role,
            family: self.family,
        }
        .serialize(s)
    }
}

/// The report's top line: the transformer-dga verdict (docs/verdict.md), never the most
/// severe method.
#[derive(Debug, Clone, Serialize)]
pub struct Overall {
    /// `fault` (a diagnosis), `normal` (judged evidence, no abnormal gassing), or `abstain`
    /// (methods disagree, or the evidence is not enough).
    pub status: &'static str,
    /// `diagnosis`, `normal`, `methods_disagree` or `insufficient`.
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// The diagnosis' code (one, or none).
    pub codes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<verdict::Family>,
    pub confirmed_by: usize,
    pub of: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    pub summary: super::Text,
    /// The recommended action: the diagnosis' action, or the confirming test.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<super::Text>,
}

impl Overall {
    fn of(v: &Outcome) -> Overall {
        let info = v.evidence().verdict.clone();
        let kind = info.as_ref().map(|i| i.kind.as_str()).unwrap_or("insufficient");
        let (family, confirmed_by, of) = info.as_ref().map(|i| (i.family, i.confirmed_by, i.of)).unwrap_or_default();
        let base = Overall {
            status: v.status(),
            kind,
            severity: None,
            codes: Vec::new(),
            family: None,
            confirmed_by,
            of,
            reason: None,
            summary: super::Text::same(""),
            action: None,
        };
        match v {
            Outcome::Fault(f) => Overall {
                severity: Some(f.severity),
                codes: vec![f.code.clone()],
                family,
                summary: f.evidence.summary.clone(),
                action: Some(f.recommended_action.clone()),
                ..base
            },
            Outcome::Normal { note, .. } => Overall { summary: note.clone(), ..base },
            Outcome::Abstain { reason, detail, .. } => Overall {
                reason: Some(reason.as_str()),
                summary: detail.fill(),
                action: info.and_then(|i| i.next),
                ..base
            },
        }
    }
}

#[derive(Debug, Clone)]
pub struct CitationRef {
    pub passage_id: String,
    pub reference_id: String,
    pub title: String,
    pub edition: String,
    /// The clause (the Chinese empty: the library has none).
    pub clause: super::Text,
    pub verification: Verification,
}

/// [`CitationRef`] as reports write it: the clause as `clause` and `clause_zh`.
#[derive(Serialize)]
struct CitationRefWire<'a> {
    passage_id: &'a str,
    reference_id: &'a str,
    title: &'a str,
    edition: &'a str,
    clause: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    clause_zh: &'a str,
    verification: Verification,
}

impl Serialize for CitationRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        CitationRefWire {
            passage_id: &self.passage_id,
            reference_id: &self.reference_id,
            title: &self.title,
            edition: &self.edition,
            clause: &self.clause.en,
            clause_zh: &self.clause.zh,
            verification: self.verification,
        }
        .serialize(s)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LabReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// Earlier samples of the same id used by the series methods.
    pub history: usize,
    pub methods: Vec<MethodResult>,
    pub overall: Overall,
    pub citations: Vec<CitationRef>,
    pub disabled: Vec<super::Disabled>,
}

/// The transformer-dga criteria, compiled once.
pub struct LabDiagnoser {
    criteria: Vec<Compiled>,
    disabled: Vec<super::Disabled>,
    policy: verdict::DomainPolicy,
}

impl LabDiagnoser {
    pub fn new(packs: &PackSet) -> Result<LabDiagnoser, LabError> {
        let pack = packs.pack(PACK).ok_or(LabError::NoPack)?;
        let mut criteria = Vec::new();
        let mut disabled = Vec::new();
        for def in &pack.criteria {
            if def.status == Status::U {
                disabled.push(super::Disabled {
                    asset: "lab".into(),
                    criterion: def.id.clone(),
                    reason: format!("unverified (status U): {}", def.disabled_reason.as_deref().unwrap_or("")),
                });
            } else if def.kind != Kind::ModelScore {
                let mut c = Compiled::new(pack, def, &packs.library)?;
                c.strip_passage_texts();
                criteria.push(c);
            }
        }
        let policy = verdict::DomainPolicy::of_pack(pack, &packs.library);
        Ok(LabDiagnoser { criteria, disabled, policy })
    }

    /// Diagnose `sample`; `history` are earlier samples of the same transformer, oldest first.
    pub fn diagnose(&self, sample: &LabSample, history: &[LabSample], line: Option<usize>) -> LabReport {
        let ts_ms = sample.ts_ms();
        let point = format!("lab:{}", sample.id.as_deref().unwrap_or("sample"));
        let values: Vec<EvidenceValue> = GASES
            .iter()
            .chain(&OPTIONAL_GASES)
            .filter_map(|g| {
                sample.reading(g).map(|r| EvidenceValue {
                    role: g.to_string(),
                    point: point.clone(),
                    value: r.nominal(),
                    unit: "ppm".into(),
                    ts: sample.date.clone().unwrap_or_default(),
                    ts_ms: ts_ms.unwrap_or(0),
                    quality: r.quality().into(),
                    below: r.below(),
                })
            })
            .collect();
        let mut params = Params::new();
        if let Some(a) = sample.age_years {
            params.insert("age_years".into(), Param::Num(a));
        }
        if let Some(v) = &sample.voltage_class {
            params.insert("voltage_class".into(), Param::Str(v.clone()));
        }
        let snaps: Vec<Snapshot> = history.iter().map(|h| h.snapshot()).collect();
        let cx = EvalCtx { params: &params, history: &snaps, now_ts: ts_ms, open: None };
        let mut methods = Vec::new();
        let mut outcomes: Vec<Outcome> = Vec::new();
        let mut cites: Vec<Citation> = Vec::new();
        for c in &self.criteria {
            let required = c.required_roles();
            let missing: Vec<&str> = required.iter().copied().filter(|r| sample.gas(r).is_none()).collect();
            // The evidence of a method is what it reads: its required and optional roles.
            let optional = c.optional_roles();
            let used =
                values.iter().filter(|v| required.contains(&v.role.as_str()) || optional.contains(&v.role.as_str()));
            let ev = Evidence { values: used.cloned().collect(), ..Default::default() };
            // Limits are judged gas by gas (one exceeded is enough); others need every input.
            let outcome = if missing.is_empty() || c.def.kind == Kind::Limits {
                c.evaluate(ev, &cx)
            } else {
                let gases = missing.iter().map(|m| m.to_uppercase()).collect::<Vec<_>>().join(", ");
                Outcome::abstain(
                    super::AbstainReason::NoData,
                    Text::new(format!("not reported: {gases}"), format!("未报告：{gases}")),
                    ev,
                    Vec::new(),
                )
            };
            let mut r = MethodResult {
                criterion: c.info.id.clone(),
                title: c.info.title.en.clone(),
                verification: c.info.verification,
                status: outcome.status(),
                code: None,
                severity: None,
                finding: None,
                action: None,
                reason: None,
                detail: super::Text::default(),
                derived: outcome.evidence().derived.clone(),
                citations: Vec::new(),
                role: c.def.role,
                family: match &outcome {
                    Outcome::Fault(f) => c.family_of(&f.code),
                    _ => None,
                },
            };
            let used: &[Citation] = match &outcome {
                Outcome::Fault(f) => {
                    r.code = Some(f.code.clone());
                    r.severity = Some(f.severity);
                    r.finding = Some(f.title.clone());
                    r.action = Some(f.recommended_action.clone());
                    r.detail = f.evidence.summary.clone();
                    &f.citations
                }
                Outcome::Normal { evidence, note } => {
                    r.detail = if evidence.summary.en.is_empty() { note.clone() } else { evidence.summary.clone() };
                    &c.cites
                }
                Outcome::Abstain { reason, detail, citations, .. } => {
                    r.reason = Some(reason.as_str());
                    r.detail = detail.clone();
                    citations
                }
            };
            r.citations = used.iter().map(|c| c.passage_id.clone()).collect();
            for u in used {
                if !cites.iter().any(|c| c.passage_id == u.passage_id) {
                    cites.push(u.clone());
                }
            }
            methods.push(r);
            outcomes.push(outcome);
        }
        let inputs: Vec<verdict::Input> = self
            .criteria
            .iter()
            .zip(&outcomes)
            .map(|(c, o)| verdict::Input {
                info: &c.info,
                role: c.def.role,
                outcome: o,
                family: match o {
                    Outcome::Fault(f) => c.family_of(&f.code),
                    _ => None,
                },
            })
            .collect();
        let (_, v) = verdict::reconcile(&self.policy, &inputs);
        for c in match &v {
            Outcome::Fault(f) => f.citations.as_slice(),
            Outcome::Abstain { citations, .. } => citations.as_slice(),
            Outcome::Normal { .. } => &[],
        } {
            if !cites.iter().any(|x| x.passage_id == c.passage_id) {
                cites.push(c.clone());
            }
        }
        let overall = Overall::of(&v);
        LabReport {
            line,
            id: sample.id.clone(),
            date: sample.date.clone(),
            history: history.len(),
            methods,
            overall,
            citations: cites
                .into_iter()
                .map(|c| CitationRef {
                    passage_id: c.passage_id,
                    reference_id: c.reference_id,
                    title: c.title,
                    edition: c.edition,
                    clause: c.clause,
                    verification: c.verification,
                })
                .collect(),
            disabled: self.disabled.clone(),
        }
    }

    /// Like [`Self::diagnose_series`], on `threads` threads: series (rows of one id) are
    /// independent, so they are spread over the threads; the outputs of `render` come back
    /// in input order. `histories` holds the earlier samples of each id (from earlier
    /// calls, so a file can be processed in windows) and is extended with `rows`.
    pub fn diagnose_parallel<T: Send>(
        &self,
        rows: &[(Option<usize>, LabSample)],
        threads: usize,
        render: &(dyn Fn(&LabReport) -> T + Sync),
        histories: &mut HashMap<String, Vec<LabSample>>,
    ) -> Vec<T> {
        // Series per row: rows without an id are their own series.
        let mut series: HashMap<&str, usize> = HashMap::new();
        let mut groups: Vec<(Option<&str>, Vec<usize>)> = Vec::new();
        for (i, (_, s)) in rows.iter().enumerate() {
            match s.id.as_deref() {
                Some(id) => {
                    let g = *series.entry(id).or_insert_with(|| {
                        groups.push((Some(id), Vec::new()));
                        groups.len() - 1
                    });
                    groups[g].1.push(i);
                }
                None => groups.push((None, vec![i])),
            }
        }
        let threads = threads.clamp(1, 64).min(groups.len().max(1));
        let earlier: &HashMap<String, Vec<LabSample>> = histories;
        let chunks: Vec<Vec<(usize, T)>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let groups = &groups;
                    scope.spawn(move || {
                        let mut done = Vec::new();
                        for (id, g) in groups.iter().skip(t).step_by(threads) {
                            let mut hist: Vec<LabSample> =
                                id.and_then(|id| earlier.get(id)).cloned().unwrap_or_default();
                            for &i in g {
                                let (line, s) = &rows[i];
                                done.push((i, render(&self.diagnose(s, &hist, *line))));
                                remember(&mut hist, s);
                            }
                        }
                        done
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("lab worker panicked")).collect()
        });
        for (_, s) in rows {
            if let Some(id) = &s.id {
                remember(histories.entry(id.clone()).or_default(), s);
            }
        }
        let mut out: Vec<Option<T>> = (0..rows.len()).map(|_| None).collect();
        for (i, r) in chunks.into_iter().flatten() {
            out[i] = Some(r);
        }
        out.into_iter().map(|r| r.expect("every row diagnosed")).collect()
    }

    /// Diagnose samples in order; rows with the same id form a series.
    pub fn diagnose_series<'a>(
        &self,
        rows: impl IntoIterator<Item = (Option<usize>, &'a LabSample)>,
    ) -> Vec<LabReport> {
        let mut seen: HashMap<String, Vec<LabSample>> = HashMap::new();
        let mut out = Vec::new();
        for (line, s) in rows {
            let hist = s.id.as_ref().map(|id| seen.entry(id.clone()).or_default());
            match hist {
                Some(h) => {
                    out.push(self.diagnose(s, h, line));
                    remember(h, s);
                }
                None => out.push(self.diagnose(s, &[], line)),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_reading_keeps_empty_cells_unreported() {
        // A quoted field may hold a comma; "1,000" is then not a number, and says so.
        let text = "id,date,H2,CH4,C2H6,C2H4,C2H2,CO,CO2,O2,N2\nT1,2020-01-01,10,,3,4,0,,,\"1,000\",50000\n";
        let rows = parse_csv("x.csv", text).unwrap();
        let e = rows[0].1.as_ref().unwrap_err();
        assert!(e.contains("o2") && e.contains("`1,000`"), "{e}");
        let text = "id,date,H2,CH4,C2H6,C2H4,C2H2,CO,CO2,O2,N2\nT1,2020-01-01,10,,3,4,0,,,1000,50000\nT1,2020-13-01,1,1,1,1,1,1,1,,\nT2,,x,1,1,1,1,1,1,,\n";
        let rows = parse_csv("x.csv", text).unwrap();
        let s = rows[0].1.as_ref().unwrap();
        assert_eq!(
            (s.gas("h2"), s.gas("ch4"), s.gas("c2h2"), s.gas("co"), s.gas("o2")),
            (Some(10.0), None, Some(0.0), None, Some(1000.0))
        );
        let e = rows[1].1.as_ref().unwrap_err();
        assert!(e.contains("x.csv") && e.contains("line 3") && e.contains("2020-13-01"), "{e}");
        let e = rows[2].1.as_ref().unwrap_err();
        assert!(e.contains("line 4") && e.contains("h2") && e.contains("`x`"), "{e}");
    }

    #[test]
    fn header_errors_name_the_column() {
        let e = parse_csv("lab.csv", "H2,CH4,C2H6,C2H4,C2H2,CO\n1,2,3,4,5,6\n").unwrap_err().to_string();
        assert!(e.contains("lab.csv") && e.contains("co2") && e.contains("missing"), "{e}");
        let e = parse_csv("lab.csv", "H2,CH4,C2H6,C2H4,C2H2,CO,CO2,FOO\n").unwrap_err().to_string();
        assert!(e.contains("`FOO`") && e.contains("column 8"), "{e}");
        assert!(parse_csv("lab.csv", "").is_err());
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2000-03-01"), Some(951_868_800_000));
        assert_eq!(parse_date("01/02/2000"), None);
    }
}
