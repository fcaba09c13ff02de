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
use super::{Evidence, EvidenceValue, Outcome, Severity, Text};
use crate::knowledge::{Citation, Verification};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub const PACK: &str = "transformer-dga";
pub const GASES: [&str; 7] = ["h2", "ch4", "c2h6", "c2h4", "c2h2", "co", "co2"];
pub const OPTIONAL_GASES: [&str; 2] = ["o2", "n2"];
/// Earlier samples kept per transformer in a CSV run (the series methods look back at most
/// 24 months; 64 samples cover monthly sampling with room).
const MAX_HISTORY: usize = 64;

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
    pub h2: Option<f64>,
    #[serde(default)]
    pub ch4: Option<f64>,
    #[serde(default)]
    pub c2h6: Option<f64>,
    #[serde(default)]
    pub c2h4: Option<f64>,
    #[serde(default)]
    pub c2h2: Option<f64>,
    #[serde(default)]
    pub co: Option<f64>,
    #[serde(default)]
    pub co2: Option<f64>,
    #[serde(default)]
    pub o2: Option<f64>,
    #[serde(default)]
    pub n2: Option<f64>,
    #[serde(default)]
    pub age_years: Option<f64>,
    #[serde(default)]
    pub voltage_class: Option<String>,
}

impl LabSample {
    pub fn gas(&self, role: &str) -> Option<f64> {
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

    fn set(&mut self, col: &str, v: f64) {
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
            "age_years" => self.age_years = Some(v),
            _ => {}
        }
    }

    /// Check values: finite, not negative, a valid date.
    pub fn validate(&self) -> Result<(), String> {
        for g in GASES.iter().chain(&OPTIONAL_GASES) {
            if let Some(v) = self.gas(g) {
                if !(v.is_finite() && v >= 0.0) {
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

/// Parse a lab CSV. Header problems are errors; a bad row is reported as that row's error.
pub fn parse_csv(file: &str, text: &str) -> Result<Vec<(usize, CsvRow)>, LabError> {
    let err = |message: String| LabError::Csv { file: file.to_string(), message };
    let mut lines = csv_records(text).into_iter();
    let (hline, header) = lines.next().ok_or_else(|| err("empty file: expected a header line".into()))?;
    let cols: Vec<String> = header.iter().map(|h| h.trim().to_ascii_lowercase()).collect();
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
    for (i, c) in cols.iter().enumerate() {
        if !KNOWN.contains(&c.as_str()) {
            return Err(err(format!(
                "line {hline}: column {} `{}` is not a known column: expected {}",
                i + 1,
                header[i],
                KNOWN.join(", ")
            )));
        }
        if cols[..i].contains(c) {
            return Err(err(format!("line {hline}: column `{c}` appears twice")));
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
        out.push((line, row(&cols, &rec).map_err(|m| format!("{file}: line {line}: {m}"))));
    }
    Ok(out)
}

fn row(cols: &[String], rec: &[String]) -> Result<LabSample, String> {
    if rec.len() != cols.len() {
        return Err(format!("{} field(s) where the header has {}", rec.len(), cols.len()));
    }
    let mut s = LabSample::default();
    for (c, v) in cols.iter().zip(rec) {
        let v = v.trim();
        if v.is_empty() {
            continue;
        }
        match c.as_str() {
            "id" => s.id = Some(v.to_string()),
            "date" => s.date = Some(v.to_string()),
            "voltage_class" => s.voltage_class = Some(v.to_ascii_lowercase()),
            "note" => {}
            _ => {
                let x: f64 = v.parse().map_err(|_| format!("column {c}: value `{v}` is not a number"))?;
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
#[derive(Debug, Clone, Serialize)]
pub struct MethodResult {
    pub criterion: String,
    pub title: String,
    pub verification: Verification,
    /// `fault`, `normal` or `abstain`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finding: Option<super::Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<super::Text>,
    /// Why the method abstains (snake_case reason).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    pub detail: String,
    /// `detail` in Chinese (empty: not translated).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail_zh: String,
    pub derived: Vec<super::Derived>,
    /// Passage ids this result cites.
    pub citations: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Overall {
    /// `fault` (some method found one), `normal` (none did and at least one judged), or
    /// `abstain` (no method could judge).
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    pub codes: Vec<String>,
    pub summary: super::Text,
}

#[derive(Debug, Clone, Serialize)]
pub struct CitationRef {
    pub passage_id: String,
    pub reference_id: String,
    pub title: String,
    pub edition: String,
    pub clause: String,
    /// `clause` in Chinese (absent: read `clause`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub clause_zh: String,
    pub verification: Verification,
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
        Ok(LabDiagnoser { criteria, disabled })
    }

    /// Diagnose `sample`; `history` are earlier samples of the same transformer, oldest first.
    pub fn diagnose(&self, sample: &LabSample, history: &[LabSample], line: Option<usize>) -> LabReport {
        let ts_ms = sample.ts_ms();
        let point = format!("lab:{}", sample.id.as_deref().unwrap_or("sample"));
        let values: Vec<EvidenceValue> = GASES
            .iter()
            .chain(&OPTIONAL_GASES)
            .filter_map(|g| {
                sample.gas(g).map(|v| EvidenceValue {
                    role: g.to_string(),
                    point: point.clone(),
                    value: v,
                    unit: "ppm".into(),
                    ts: sample.date.clone().unwrap_or_default(),
                    ts_ms: ts_ms.unwrap_or(0),
                    quality: "good".into(),
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
        let mut cites: Vec<Citation> = Vec::new();
        for c in &self.criteria {
            let required = c.required_roles();
            let missing: Vec<&str> = required.iter().copied().filter(|r| sample.gas(r).is_none()).collect();
            // The evidence of a method is what it reads: its required and optional roles.
            let optional = c.optional_roles();
            let used =
                values.iter().filter(|v| required.contains(&v.role.as_str()) || optional.contains(&v.role.as_str()));
            let ev = Evidence { values: used.cloned().collect(), ..Default::default() };
            let outcome = if missing.is_empty() {
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
                title: c.info.title.clone(),
                verification: c.info.verification,
                status: outcome.status(),
                code: None,
                severity: None,
                finding: None,
                action: None,
                reason: None,
                detail: String::new(),
                detail_zh: String::new(),
                derived: outcome.evidence().derived.clone(),
                citations: Vec::new(),
            };
            let used: &[Citation] = match &outcome {
                Outcome::Fault(f) => {
                    r.code = Some(f.code.clone());
                    r.severity = Some(f.severity);
                    r.finding = Some(f.title.clone());
                    r.action = Some(f.recommended_action.clone());
                    r.detail = f.evidence.summary.clone();
                    r.detail_zh = f.evidence.summary_zh.clone();
                    &f.citations
                }
                Outcome::Normal { evidence, note } => {
                    (r.detail, r.detail_zh) = if evidence.summary.is_empty() {
                        (note.en.clone(), note.zh.clone())
                    } else {
                        (evidence.summary.clone(), evidence.summary_zh.clone())
                    };
                    &c.cites
                }
                Outcome::Abstain { reason, detail, detail_zh, citations, .. } => {
                    r.reason = Some(reason.as_str());
                    r.detail = detail.clone();
                    r.detail_zh = detail_zh.clone();
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
        }
        let overall = overall(&methods);
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
                    clause_zh: c.clause_zh,
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
                                hist.push(s.clone());
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
                let h = histories.entry(id.clone()).or_default();
                h.push(s.clone());
                if h.len() > MAX_HISTORY {
                    h.drain(..h.len() - MAX_HISTORY);
                }
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
                    h.push(s.clone());
                }
                None => out.push(self.diagnose(s, &[], line)),
            }
        }
        out
    }
}

fn overall(methods: &[MethodResult]) -> Overall {
    let faults: Vec<&MethodResult> = methods.iter().filter(|m| m.status == "fault").collect();
    if let Some(worst) = faults.iter().filter_map(|m| m.severity).max() {
        let codes: Vec<String> = faults.iter().filter_map(|m| m.code.clone()).collect();
        let top: Vec<&MethodResult> = faults.iter().copied().filter(|m| m.severity == Some(worst)).collect();
        let en: Vec<String> = top.iter().filter_map(|m| m.finding.as_ref().map(|t| t.en.clone())).collect();
        let zh: Vec<String> = top.iter().filter_map(|m| m.finding.as_ref().map(|t| t.zh.clone())).collect();
        return Overall {
            status: "fault",
            severity: Some(worst),
            summary: super::Text::new(
                format!(
                    "{} of {} methods find a fault; most severe ({}): {}",
                    faults.len(),
                    methods.len(),
                    worst.as_str(),
                    en.join("; ")
                ),
                format!(
                    "{} 种方法中有 {} 种判断存在故障；最严重（{}）：{}",
                    methods.len(),
                    faults.len(),
                    worst.as_str(),
                    zh.join("；")
                ),
            ),
            codes,
        };
    }
    let judged = methods.iter().filter(|m| m.status == "normal" || m.reason == Some("below_applicability")).count();
    if judged > 0 {
        Overall {
            status: "normal",
            severity: None,
            codes: Vec::new(),
            summary: super::Text::new(
                format!(
                    "no method finds a fault ({judged} of {} judged the sample; the others abstain)",
                    methods.len()
                ),
                format!("各方法均未判断出故障（{} 种方法中 {judged} 种作出判断，其余不作判断）", methods.len()),
            ),
        }
    } else {
        let reasons: Vec<String> = methods.iter().map(|m| format!("{}: {}", m.criterion, m.detail)).collect();
        Overall {
            status: "abstain",
            severity: None,
            codes: Vec::new(),
            summary: super::Text::new(
                format!("no method can judge this sample: {}", reasons.join("; ")),
                format!("没有方法能判断该样品：{}", reasons.join("；")),
            ),
        }
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
        assert_eq!((s.h2, s.ch4, s.c2h2, s.co, s.o2), (Some(10.0), None, Some(0.0), None, Some(1000.0)));
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
