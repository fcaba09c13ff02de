//! The knowledge service behind `GET /api/v1/ask` and `edgecite ask`: a question, the
//! language, and optionally an asset (its open findings, its class, its parameters) in;
//! ranked passages with citations, the terms that matched, the matching sentences, and
//! what the answer depends on out. No generated text. Also the question-set evaluation
//! (`edgecite ask --eval FILE`).

use crate::config::packs::Lang;
use crate::config::AssetConfig;
use crate::knowledge::search::{Context, Depends, Hit, RefIndex, SearchError};
use crate::store::FindingRecord;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What search knows of an asset: its class and parameter values, as the config gives them
/// (`vibration.group` = `group2`, `vibration.foundation` = `rigid`, `voltage_class`,
/// `insulation_class`, ...), and the passages its class's criteria cite.
#[derive(Debug, Clone, Serialize)]
pub struct AssetContext {
    pub id: String,
    pub class: String,
    pub params: BTreeMap<String, String>,
    #[serde(skip)]
    pub class_passages: Vec<String>,
}

impl AssetContext {
    pub fn new(a: &AssetConfig, packs: &crate::diagnose::pack::PackSet) -> AssetContext {
        let mut params: BTreeMap<String, String> = a.params.iter().map(|(k, v)| (k.clone(), v.as_key())).collect();
        if let Some(v) = &a.vibration {
            let s = |x: serde_json::Result<serde_json::Value>| {
                x.ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
            };
            params.insert("vibration.group".into(), s(serde_json::to_value(v.group)));
            params.insert("vibration.foundation".into(), s(serde_json::to_value(v.foundation)));
        }
        let class = a.class.as_str().to_string();
        let mut class_passages: Vec<String> = packs
            .criteria()
            .filter(|(_, c)| c.class.get_ref() == &class)
            .flat_map(|(_, c)| c.cite.iter().map(|p| p.get_ref().clone()))
            .collect();
        class_passages.sort();
        class_passages.dedup();
        AssetContext { id: a.id.clone(), class, params, class_passages }
    }
}

#[derive(Debug, Serialize)]
pub struct AssetEvidence {
    pub finding_id: i64,
    pub criterion: String,
    pub code: String,
    pub severity: String,
    pub title: String,
    pub summary: String,
    /// Passage ids the finding cites; those passages rank higher.
    pub citations: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct AskResponse {
    pub query: String,
    pub lang: Lang,
    pub supported: bool,
    pub reason: Option<String>,
    pub results: Vec<Hit>,
    /// Parameters the answer depends on that neither the question nor the asset fixes,
    /// each variant with its passages ("depends on the machine group").
    pub depends_on: Vec<Depends>,
    /// How the asset's parameters ranked the answer.
    pub context_note: Option<String>,
    pub asset_context: Option<AssetContext>,
    pub asset_evidence: Option<Vec<AssetEvidence>>,
}

/// Answer a question from the reference index; `asset` with its open `findings` when the
/// question is asked from an asset.
pub fn answer(
    refs: &RefIndex,
    query: &str,
    lang: Lang,
    limit: usize,
    asset: Option<&AssetContext>,
    findings: Option<&[FindingRecord]>,
) -> Result<AskResponse, SearchError> {
    let evidence: Option<Vec<AssetEvidence>> = findings.map(|fs| {
        fs.iter()
            .map(|f| AssetEvidence {
                finding_id: f.id,
                criterion: f.criterion.id.clone(),
                code: f.code.clone(),
                severity: f.severity.clone(),
                title: f.title.pick(lang).to_string(),
                summary: f.evidence.summary.pick(lang).to_string(),
                citations: f.citations.iter().map(|c| c.passage_id.clone()).collect(),
            })
            .collect()
    });
    let ctx = Context {
        boost: evidence.iter().flatten().flat_map(|e| e.citations.iter().cloned()).collect(),
        class_passages: asset.map(|a| a.class_passages.clone()).unwrap_or_default(),
        params: asset.map(|a| a.params.clone()).unwrap_or_default(),
    };
    let r = refs.search_in(query, lang.as_str(), limit, &ctx)?;
    Ok(AskResponse {
        query: query.to_string(),
        lang,
        supported: r.supported,
        reason: r.reason,
        results: r.results,
        depends_on: r.depends_on,
        context_note: r.context_note,
        asset_context: asset.cloned(),
        asset_evidence: evidence,
    })
}

/// A question set: each question with the passage ids that answer it, or `abstain`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuestionSet {
    pub question: Vec<Question>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    pub q: String,
    /// Passage ids any of which is a right first citation.
    #[serde(default)]
    pub answers: Vec<String>,
    /// The library holds no passage that answers it: the right outcome is no supported answer.
    #[serde(default)]
    pub abstain: bool,
    /// Asset parameter values the question is asked with (`"vibration.group" = "group2"`).
    #[serde(default)]
    pub asset: BTreeMap<String, String>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize)]
pub struct EvalCounts {
    pub questions: usize,
    pub answerable: usize,
    pub unanswerable: usize,
    /// Supported, first citation among the answers.
    pub supported: usize,
    /// Supported, first citation not among the answers (or the question should abstain).
    pub wrong_citation: usize,
    pub correct_abstention: usize,
    /// No supported answer although the library answers it.
    pub wrong_abstention: usize,
}

/// Parse a question set; errors name the file and line.
pub fn load_questions(file: &str, text: &str) -> Result<Vec<Question>, String> {
    let set: QuestionSet = toml::from_str(text).map_err(|e| match e.span() {
        Some(s) => format!("{file}:{}: {}", crate::location::Location::from_span(text, s).line, e.message().trim_end()),
        None => format!("{file}: {}", e.message()),
    })?;
    for (i, q) in set.question.iter().enumerate() {
        if q.abstain != q.answers.is_empty() {
            return Err(format!(
                "{file}: question {} ({:?}): give either `answers` (passage ids) or `abstain = true`",
                i + 1,
                q.q
            ));
        }
    }
    Ok(set.question)
}

/// Run a question set against the index at its current floor; `failures` collects a line
/// per question that was not right.
pub fn evaluate(refs: &RefIndex, qs: &[Question], failures: &mut Vec<String>) -> Result<EvalCounts, SearchError> {
    let mut c = EvalCounts { questions: qs.len(), ..Default::default() };
    for q in qs {
        for a in &q.answers {
            if !refs.has_passage(a)? {
                failures.push(format!("{:?}: answer `{a}` is no stored passage", q.q));
            }
        }
        let lang = crate::knowledge::search::import::detect_language(&q.q);
        let ctx = Context { params: q.asset.clone(), ..Context::default() };
        let r = refs.search_in(&q.q, lang, 5, &ctx)?;
        let top = r.results.first().filter(|_| r.supported).map(|h| h.passage_id.clone());
        if q.abstain {
            c.unanswerable += 1;
        } else {
            c.answerable += 1;
        }
        match (q.abstain, top) {
            (false, Some(t)) if q.answers.contains(&t) => c.supported += 1,
            (_, Some(t)) => {
                c.wrong_citation += 1;
                failures.push(format!("WRONG CITATION {:?}: cited {t}, expected {:?}", q.q, q.answers));
            }
            (true, None) => c.correct_abstention += 1,
            (false, None) => {
                c.wrong_abstention += 1;
                let near =
                    r.results.first().map(|h| format!("{} ({:.2})", h.passage_id, h.coverage)).unwrap_or_default();
                failures.push(format!("WRONG ABSTENTION {:?}: expected {:?}; nearest {near}", q.q, q.answers));
            }
        }
    }
    Ok(c)
}
