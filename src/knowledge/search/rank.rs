//! Ranking: candidates from the three indexes with bounded work, weighted term coverage
//! with a support floor, asset-context boosts, `depends_on` variants, `<mark>` highlights
//! and matching sentences.

use super::query::{self, Lexicon};
use super::{Context, Depends, Hit, RefIndex, RefVerification, SearchError, SearchResult, Variant, MIN_CONTENT_CHARS};
use rusqlite::{params, OptionalExtension};
use std::collections::HashMap;

/// Weight of specific terms a supporting passage must hold (one concept, or two words).
const MIN_SPECIFIC_WEIGHT: f64 = 2.0;
/// How much more a question word weighs when no stored passage holds it.
const UNKNOWN_WORD_FACTOR: f64 = 3.0;
const COLUMNS: &str =
    "p.rowid, p.passage_id, p.lang, p.doc_id, d.title, d.edition, p.clause, p.kind, p.verification, p.text";
/// Candidates fetched per index before scoring.
const CANDIDATES: usize = 64;
/// Rows a BM25-ranked candidate query may match (by the pieces' document frequencies):
/// product policy bounding its work to about a millisecond on one gateway core.
const RANK_BUDGET: i64 = 1000;

fn param_label(p: &str, lang: &str) -> String {
    let zh = lang == "zh";
    match p {
        "vibration.group" => if zh { "机器组别" } else { "the machine group" }.into(),
        "vibration.foundation" => if zh { "基础类型" } else { "the foundation" }.into(),
        "voltage_class" => if zh { "电压等级" } else { "the voltage class" }.into(),
        "insulation_class" => if zh { "绝缘耐热等级" } else { "the insulation class" }.into(),
        other => other.to_string(),
    }
}

fn value_label(lex: &Lexicon, p: &str, v: &str, lang: &str) -> String {
    lex.glossary
        .entries()
        .iter()
        .find(|e| e.param.as_deref() == Some(p) && e.value.as_deref() == Some(v))
        .and_then(|e| if lang == "zh" { e.zh.first() } else { e.en.first() })
        .cloned()
        .unwrap_or_else(|| v.to_string())
}

/// The sentences of `text` that hold the most matched ranges (at least one).
fn matching_sentences(text: &str, ranges: &[(usize, usize)]) -> Vec<String> {
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut start = 0;
    let b = text.as_bytes();
    for (i, c) in text.char_indices() {
        let end = i + c.len_utf8();
        let stop = matches!(c, '。' | '；' | '！' | '？')
            || (matches!(c, '.' | ';' | '!' | '?') && b.get(end).is_none_or(|n| *n == b' '));
        if stop {
            spans.push((start, end));
            start = end;
        }
    }
    if start < text.len() {
        spans.push((start, text.len()));
    }
    let counts: Vec<usize> =
        spans.iter().map(|(s, e)| ranges.iter().filter(|(rs, re)| rs >= s && re <= e).count()).collect();
    let max = counts.iter().copied().max().unwrap_or(0);
    if max == 0 {
        return Vec::new();
    }
    spans
        .iter()
        .zip(&counts)
        .filter(|(_, c)| **c == max)
        .take(2)
        .map(|((s, e), _)| text[*s..*e].trim().to_string())
        .collect()
}

impl RefIndex {
    /// Search with an asset's context: its evidence's passages and its class's passages rank
    /// up, and passages naming the asset's parameter values (machine group, foundation,
    /// voltage and insulation class) rank above those naming other values.
    pub fn search_in(&self, q: &str, lang: &str, limit: usize, ctx: &Context) -> Result<SearchResult, SearchError> {
        self.refresh_counts()?;
        let lex = &self.lexicon;
        let mut ts = query::analyze(lex, q);
        // A word no stored passage holds names something the library may not cover: it
        // weighs more, so a passage sharing only the question's generic words does not
        // support an answer ("moisture content limit in transformer oil").
        for t in &mut ts {
            if t.concept.is_none() && !t.number && t.text.chars().count() >= 2 && !self.known_word(&t.text)? {
                t.weight *= UNKNOWN_WORD_FACTOR;
            }
        }
        let empty = |reason: String| SearchResult {
            supported: false,
            reason: Some(reason),
            results: Vec::new(),
            depends_on: Vec::new(),
            context_note: None,
        };
        if ts.is_empty() {
            return Ok(empty("the question has no searchable term".into()));
        }
        if query::content_chars(&ts) < MIN_CONTENT_CHARS {
            return Ok(empty(format!(
                "the question is too short to search: \"{}\" is {} character(s) of content, at least {MIN_CONTENT_CHARS} \
                 are needed; ask with a whole word or term (乙炔 rather than 乙, \"H2\" rather than \"H\")",
                q.trim(),
                query::content_chars(&ts)
            )));
        }
        // Candidate pieces per index: Latin forms to the unicode61 index, Chinese forms of
        // 3+ characters to the trigram index, shorter ones to the word index.
        let (mut latin, mut tri, mut words) = (Vec::new(), Vec::new(), Vec::new());
        for t in &ts {
            let (mut l, mut c3, mut w) = (Vec::new(), Vec::new(), Vec::new());
            for alt in &t.alts {
                let a = alt.replace('"', "");
                if a.chars().any(query::is_cjk) {
                    let plain: String = a.chars().filter(|c| !c.is_whitespace()).collect();
                    if plain.chars().count() >= 3 && plain.chars().all(query::is_cjk) {
                        c3.push(format!("\"{plain}\""));
                    } else if plain.chars().all(query::is_cjk) {
                        w.push(format!("\"{plain}\""));
                    } else {
                        // Mixed ("F 级"): its Chinese part, by words.
                        let zh: String = plain.chars().filter(|c| query::is_cjk(*c)).collect();
                        w.push(format!("\"{zh}\""));
                    }
                } else if a.chars().any(|c| c.is_alphanumeric()) {
                    let prefix = t.concept.is_none() && !t.number && a.chars().count() >= 4;
                    l.push(if prefix { format!("\"{a}\"*") } else { format!("\"{a}\"") });
                }
            }
            for (v, g) in [(&mut latin, l), (&mut tri, c3), (&mut words, w)] {
                if !g.is_empty() {
                    v.push(g);
                }
            }
        }
        let mut cand: Vec<(i64, f64, Hit)> = Vec::new();
        self.candidates(&mut cand, "ref_fts_latin", &latin, limit)?;
        self.candidates(&mut cand, "ref_fts_cjk", &tri, limit)?;
        self.candidates(&mut cand, "ref_fts_words", &words, limit)?;
        cand.sort_by_key(|c| c.0);
        cand.dedup_by_key(|c| c.0);
        struct Scored {
            hit: Hit,
            ranges: Vec<(usize, usize)>,
            share: f64,
            specific: f64,
        }
        // The other language's copy of each candidate: a passage covers what either copy holds.
        let ids: Vec<&str> = cand.iter().map(|c| c.2.passage_id.as_str()).collect();
        let mut copies: HashMap<String, Vec<(String, String)>> = HashMap::new();
        {
            let mut st = self.db(self.conn.prepare_cached(
                "SELECT passage_id, lang, text FROM ref_passages WHERE passage_id IN (SELECT value FROM json_each(?1))",
            ))?;
            let json = serde_json::to_string(&ids).unwrap_or_default();
            let rows =
                self.db(st.query_map([json], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?))))?;
            for r in rows {
                let (id, l, text) = self.db(r)?;
                copies.entry(id).or_default().push((l, text));
            }
        }
        let mut scored: Vec<Scored> = Vec::new();
        for (_, bm, mut h) in cand {
            let other: String = copies
                .get(&h.passage_id)
                .map(|v| v.iter().filter(|(l, _)| *l != h.lang).map(|(_, t)| t.as_str()).collect::<Vec<_>>().join(" "))
                .unwrap_or_default();
            let c = query::coverage(lex, &ts, &h.text, &h.clause, &format!("{} \u{1} {other}", h.doc_title));
            if c.share <= 0.0 {
                continue;
            }
            h.coverage = (c.share * 1000.0).round() / 1000.0;
            h.matched = c.matched;
            let mut score = c.share + 0.01 * (-bm).clamp(0.0, 10.0) / 10.0;
            if ctx.boost.contains(&h.passage_id) {
                score += 0.25;
            }
            if ctx.class_passages.contains(&h.passage_id) {
                score += 0.05;
            }
            // Parameter values rank only with an asset's context; else they are read for the
            // returned passages alone (below), which keeps the common search cheap.
            if !ctx.params.is_empty() {
                h.params = query::param_values(lex, &format!("{} {}", h.text, h.clause));
            }
            for (p, v) in &h.params {
                match ctx.params.get(p) {
                    Some(want) if want == v => score += 0.15,
                    Some(_) if !h.params.iter().any(|(p2, v2)| p2 == p && ctx.params.get(p2) == Some(v2)) => {
                        score -= 0.15
                    }
                    _ => {}
                }
            }
            h.score = (score * 1000.0).round() / 1000.0;
            scored.push(Scored { hit: h, ranges: c.ranges, share: c.share, specific: c.specific });
        }
        // One language per passage: the asked one when both match, with the better score.
        let mut by_id: HashMap<String, Scored> = HashMap::new();
        for s in scored {
            match by_id.get_mut(&s.hit.passage_id) {
                None => {
                    by_id.insert(s.hit.passage_id.clone(), s);
                }
                Some(have) => {
                    let (score, share, cov, specific) = (
                        have.hit.score.max(s.hit.score),
                        have.share.max(s.share),
                        have.hit.coverage.max(s.hit.coverage),
                        have.specific.max(s.specific),
                    );
                    let matched = if s.share > have.share { s.hit.matched.clone() } else { have.hit.matched.clone() };
                    if s.hit.lang == lang && have.hit.lang != lang {
                        *have = s;
                    }
                    (have.hit.score, have.share, have.hit.coverage, have.specific, have.hit.matched) =
                        (score, share, cov, specific, matched);
                }
            }
        }
        let mut ranked: Vec<Scored> = by_id.into_values().collect();
        ranked
            .sort_by(|a, b| b.hit.score.total_cmp(&a.hit.score).then_with(|| a.hit.passage_id.cmp(&b.hit.passage_id)));
        if ranked.is_empty() {
            return Ok(empty("no reference passage shares a term with the question".into()));
        }
        let supports = |s: &Scored| s.share >= self.floor && s.specific >= MIN_SPECIFIC_WEIGHT;
        let best = ranked.iter().map(|s| s.share).fold(0.0, f64::max);
        let supported = ranked.iter().any(supports);
        if supported {
            ranked.retain(supports);
        }
        ranked.truncate(limit);
        let mut hits: Vec<Hit> = ranked
            .into_iter()
            .map(|s| {
                let mut h = s.hit;
                h.highlight = highlight(&h.text, &s.ranges);
                h.sentences = matching_sentences(&h.text, &s.ranges);
                if ctx.params.is_empty() {
                    h.params = query::param_values(lex, &format!("{} {}", h.text, h.clause));
                }
                h.nearest = !supported;
                h
            })
            .collect();
        if !supported {
            return Ok(SearchResult {
                supported: false,
                reason: Some(format!(
                    "no supported answer: the closest passage covers {:.0} % of the question's terms (at least {:.0} % \
                     and one specific term — a gas, method, standard, equipment, fault or parameter — needed); the \
                     nearest references are listed as such",
                    best.min(1.0) * 100.0,
                    self.floor * 100.0
                )),
                results: hits,
                depends_on: Vec::new(),
                context_note: None,
            });
        }
        // Parameters the answer differs by: values named by the supported passages that the
        // question and the asset leave open.
        let fixed_by_question: Vec<&str> =
            ts.iter().filter_map(|t| t.concept.and_then(|c| lex.glossary.entry(c).param.as_deref())).collect();
        let mut depends_on: Vec<Depends> = Vec::new();
        for h in &hits {
            for (p, v) in &h.params {
                if fixed_by_question.contains(&p.as_str()) || ctx.params.contains_key(p) {
                    continue;
                }
                let d = match depends_on.iter_mut().find(|d| &d.param == p) {
                    Some(d) => d,
                    None => {
                        depends_on.push(Depends {
                            param: p.clone(),
                            label: param_label(p, lang),
                            variants: Vec::new(),
                        });
                        depends_on.last_mut().expect("pushed")
                    }
                };
                match d.variants.iter_mut().find(|x| &x.value == v) {
                    Some(x) => x.passages.push(h.passage_id.clone()),
                    None => d.variants.push(Variant {
                        value: v.clone(),
                        label: value_label(lex, p, v, lang),
                        passages: vec![h.passage_id.clone()],
                    }),
                }
            }
        }
        depends_on.retain(|d| d.variants.len() > 1);
        for d in &mut depends_on {
            d.variants.sort_by(|a, b| a.value.cmp(&b.value));
        }
        // Bring one passage of each variant into the answer (they may be below `limit`).
        let used: Vec<(String, String)> = ctx
            .params
            .iter()
            .filter(|(p, _)| hits.iter().any(|h| h.params.iter().any(|(hp, _)| hp == *p)))
            .map(|(p, v)| (p.clone(), v.clone()))
            .collect();
        let context_note = (!used.is_empty()).then(|| {
            let parts: Vec<String> = used
                .iter()
                .map(|(p, v)| format!("{} = {}", param_label(p, lang), value_label(lex, p, v, lang)))
                .collect();
            if lang == "zh" {
                format!("按该资产的参数排序：{}", parts.join("，"))
            } else {
                format!("ranked for this asset's parameters: {}", parts.join(", "))
            }
        });
        if !depends_on.is_empty() {
            for h in &mut hits {
                h.nearest = false;
            }
        }
        let reason = (!depends_on.is_empty()).then(|| {
            let names: Vec<&str> = depends_on.iter().map(|d| d.label.as_str()).collect();
            if lang == "zh" {
                format!("答案取决于{}：问题未指明，下列每种情况各有其条文", names.join("和"))
            } else {
                format!(
                    "the answer depends on {}, which the question does not fix: each variant is shown with its passage",
                    names.join(" and ")
                )
            }
        });
        Ok(SearchResult { supported: true, reason, results: hits, depends_on, context_note })
    }

    /// Whether any stored passage holds the word (Latin: a word it begins; Chinese: a
    /// segmented word, or the characters for 3+ character words).
    fn known_word(&self, w: &str) -> Result<bool, SearchError> {
        let (sql, arg) = if w.chars().any(query::is_cjk) {
            if w.chars().count() >= 3 {
                ("SELECT 1 FROM ref_fts_cjk WHERE ref_fts_cjk MATCH ?1 LIMIT 1", format!("\"{}\"", w.replace('"', "")))
            } else {
                ("SELECT 1 FROM ref_vocab_words WHERE term = ?1 LIMIT 1", w.to_string())
            }
        } else {
            ("SELECT 1 FROM ref_fts_latin WHERE ref_fts_latin MATCH ?1 LIMIT 1", format!("\"{}\"*", w.replace('"', "")))
        };
        let mut st = self.db(self.conn.prepare_cached(sql))?;
        Ok(self.db(st.query_row([arg], |_| Ok(())).optional())?.is_some())
    }

    /// Candidates for the query's piece groups (one group per term: its forms in this
    /// index), with bounded work however common a piece is:
    /// 1. rows holding a piece of every group (unranked: an intersection stops at the
    ///    limit), then, while too few, of every group but the commonest (coordination
    ///    levels, so a passage holding most of the question's terms is found);
    /// 2. the rarest pieces ranked by BM25, as many as match at most [`RANK_BUDGET`] rows
    ///    (ranking scores every matching row);
    /// 3. if still too few, the remaining (common) pieces unranked.
    ///
    /// A piece no row holds is left out. Coverage scoring then counts every term.
    fn candidates(
        &self,
        cand: &mut Vec<(i64, f64, Hit)>,
        table: &'static str,
        groups: &[Vec<String>],
        limit: usize,
    ) -> Result<(), SearchError> {
        // The match runs on the index alone (rowid and rank); only the rows it keeps are
        // joined with their passage and document, so a ranked query over many matches
        // sorts numbers, not texts.
        let query = |order: &str| {
            format!(
                "SELECT {COLUMNS}, m.rank FROM (SELECT rowid, rank FROM {table} WHERE {table} MATCH ?1 {order} LIMIT ?2) m \
                 JOIN ref_passages p ON p.rowid = m.rowid JOIN ref_documents d ON d.id = p.doc_id"
            )
        };
        // Each piece with the rows that may hold it; groups with no such piece are dropped.
        let mut known: Vec<Vec<(i64, &str)>> = Vec::new();
        for g in groups {
            let mut k = Vec::new();
            for piece in g {
                let df = self.piece_frequency(table, piece)?;
                if df > 0 {
                    k.push((df, piece.as_str()));
                }
            }
            if !k.is_empty() {
                known.push(k);
            }
        }
        let enough = |cand: &Vec<(i64, f64, Hit)>, before: usize| cand.len() - before >= limit * 2;
        let pieces = |ps: &[(i64, &str)]| ps.iter().map(|p| p.1).collect::<Vec<_>>().join(" OR ");
        let before = cand.len();
        // 1. Coordination levels, commonest group dropped first.
        known.sort_by_key(|g| g.iter().map(|p| p.0).sum::<i64>());
        let mut level = known.len();
        while level > 1 && !enough(cand, before) {
            let and: Vec<String> = known[..level].iter().map(|g| format!("({})", pieces(g))).collect();
            self.collect(cand, &query(""), &and.join(" AND "))?;
            level -= 1;
        }
        // 2. and 3. The rarest pieces ranked, within the budget; the rest unranked.
        let mut flat: Vec<(i64, &str)> = known.iter().flatten().copied().collect();
        flat.sort();
        flat.dedup_by_key(|p| p.1);
        let mut matched = 0;
        let split = flat
            .iter()
            .position(|(df, _)| {
                matched += df;
                matched > RANK_BUDGET
            })
            .unwrap_or(flat.len());
        if split > 0 && !enough(cand, before) {
            self.collect(cand, &query("ORDER BY rank"), &pieces(&flat[..split]))?;
        }
        if split < flat.len() && !enough(cand, before) {
            self.collect(cand, &query(""), &pieces(&flat[split..]))?;
        }
        Ok(())
    }

    /// At most how many rows of `table` hold `piece` (a quoted term, phrase or prefix): the
    /// smallest document frequency of its tokens (trigrams in the trigram index), 0 when a
    /// token is in no row.
    fn piece_frequency(&self, table: &'static str, piece: &str) -> Result<i64, SearchError> {
        let vocab = match table {
            "ref_fts_latin" => "ref_vocab_latin",
            "ref_fts_cjk" => "ref_vocab_cjk",
            _ => "ref_vocab_words",
        };
        let prefix = piece.ends_with('*');
        let text = piece.trim_end_matches('*').trim_matches('"').to_lowercase();
        let tokens: Vec<String> = if table == "ref_fts_cjk" {
            let cs: Vec<char> = text.chars().collect();
            cs.windows(3).map(|w| w.iter().collect()).collect()
        } else {
            text.split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()).map(str::to_string).collect()
        };
        let mut least: Option<i64> = None;
        let last = tokens.len().saturating_sub(1);
        for (i, t) in tokens.into_iter().enumerate() {
            let df = self.doc_frequency(vocab, t, prefix && i == last)?;
            least = Some(least.map_or(df, |l| l.min(df)));
        }
        Ok(least.unwrap_or(0))
    }
    fn collect(&self, cand: &mut Vec<(i64, f64, Hit)>, sql: &str, m: &str) -> Result<(), SearchError> {
        let mut st = self.db(self.conn.prepare_cached(sql))?;
        let rows = self.db(st.query_map(params![m, CANDIDATES as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, f64>(10)?,
                Hit {
                    passage_id: r.get(1)?,
                    lang: r.get(2)?,
                    doc_id: r.get(3)?,
                    doc_title: r.get(4)?,
                    edition: r.get(5)?,
                    clause: r.get(6)?,
                    kind: r.get(7)?,
                    verification: RefVerification::parse(&r.get::<_, String>(8)?),
                    text: r.get(9)?,
                    highlight: String::new(),
                    sentences: Vec::new(),
                    score: 0.0,
                    coverage: 0.0,
                    matched: Vec::new(),
                    params: Vec::new(),
                    nearest: false,
                },
            ))
        }))?;
        for r in rows {
            cand.push(self.db(r)?);
        }
        Ok(())
    }
}

pub fn html_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// `text` HTML-escaped, with `<mark>` around the (merged) byte ranges.
pub fn highlight(text: &str, ranges: &[(usize, usize)]) -> String {
    let mut r: Vec<(usize, usize)> = ranges.to_vec();
    r.sort();
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for (s, e) in r {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    let mut out = String::new();
    let mut at = 0;
    for (s, e) in merged {
        if !text.is_char_boundary(s) || !text.is_char_boundary(e) || s < at {
            continue;
        }
        out.push_str(&html_escape(&text[at..s]));
        out.push_str("<mark>");
        out.push_str(&html_escape(&text[s..e]));
        out.push_str("</mark>");
        at = e;
    }
    out.push_str(&html_escape(&text[at..]));
    out
}
