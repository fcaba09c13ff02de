//! Reference search: documents, clauses and sections, passages in our own words, plant
//! documents and past failure cases, in their own SQLite file (`[packs] refs_db`), with
//! two FTS5 indexes over the same rows: `unicode61` for Latin words and `trigram` for
//! Chinese (substrings of 3+ characters). Chinese terms shorter than 3 characters use a
//! `LIKE` scan. Ranking is term coverage (how much of the question a passage contains)
//! plus a small BM25 tie-break; below [`RELEVANCE_FLOOR`] there is no supported answer and
//! the nearest passages are returned labelled as such. No text is generated.

use super::{Library, Verification};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::path::Path;

/// A passage must cover at least this share of the question's terms to support an answer.
pub const RELEVANCE_FLOOR: f64 = 0.5;
const COLUMNS: &str =
    "p.rowid, p.passage_id, p.lang, p.doc_id, d.title, d.edition, p.clause, p.kind, p.verification, p.text";
/// Candidates fetched per index before scoring.
const CANDIDATES: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("reference database {path}: {source}")]
    Db { path: String, source: rusqlite::Error },
    #[error("{file}: {message}")]
    Import { file: String, message: String },
    #[error("reference database {path}: integrity check failed: {problem}")]
    Corrupt { path: String, problem: String },
}

const SCHEMA: &str = r#"
PRAGMA journal_mode = WAL;
CREATE TABLE IF NOT EXISTS ref_documents (
    id           TEXT PRIMARY KEY,
    title        TEXT NOT NULL,
    edition      TEXT NOT NULL,
    language     TEXT NOT NULL,
    verification TEXT NOT NULL,
    source       TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ref_passages (
    rowid        INTEGER PRIMARY KEY,
    passage_id   TEXT NOT NULL,
    lang         TEXT NOT NULL,
    doc_id       TEXT NOT NULL REFERENCES ref_documents(id),
    clause       TEXT NOT NULL,
    kind         TEXT NOT NULL,
    verification TEXT NOT NULL,
    text         TEXT NOT NULL,
    UNIQUE (passage_id, lang)
);
CREATE INDEX IF NOT EXISTS ref_passages_doc ON ref_passages(doc_id);
CREATE VIRTUAL TABLE IF NOT EXISTS ref_fts_latin USING fts5(
    text, clause, content='ref_passages', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2');
CREATE VIRTUAL TABLE IF NOT EXISTS ref_fts_cjk USING fts5(
    text, clause, content='ref_passages', content_rowid='rowid', tokenize='trigram');
CREATE VIRTUAL TABLE IF NOT EXISTS ref_vocab_latin USING fts5vocab(ref_fts_latin, 'row');
CREATE VIRTUAL TABLE IF NOT EXISTS ref_vocab_cjk USING fts5vocab(ref_fts_cjk, 'row');
CREATE TRIGGER IF NOT EXISTS ref_passages_ai AFTER INSERT ON ref_passages BEGIN
    INSERT INTO ref_fts_latin(rowid, text, clause) VALUES (new.rowid, new.text, new.clause);
    INSERT INTO ref_fts_cjk(rowid, text, clause) VALUES (new.rowid, new.text, new.clause);
END;
CREATE TRIGGER IF NOT EXISTS ref_passages_ad AFTER DELETE ON ref_passages BEGIN
    INSERT INTO ref_fts_latin(ref_fts_latin, rowid, text, clause) VALUES ('delete', old.rowid, old.text, old.clause);
    INSERT INTO ref_fts_cjk(ref_fts_cjk, rowid, text, clause) VALUES ('delete', old.rowid, old.text, old.clause);
END;
"#;

/// The verification a search result shows: published criteria (verified / secondary) or
/// the plant's own documents and cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefVerification {
    Verified,
    Secondary,
    Plant,
}

impl RefVerification {
    fn as_str(self) -> &'static str {
        match self {
            RefVerification::Verified => "verified",
            RefVerification::Secondary => "secondary",
            RefVerification::Plant => "plant",
        }
    }
    fn parse(s: &str) -> RefVerification {
        match s {
            "verified" => RefVerification::Verified,
            "secondary" => RefVerification::Secondary,
            _ => RefVerification::Plant,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Hit {
    pub doc_id: String,
    pub doc_title: String,
    pub edition: String,
    pub clause: String,
    pub passage_id: String,
    pub lang: String,
    pub kind: String,
    pub verification: RefVerification,
    pub text: String,
    /// `text` HTML-escaped with `<mark>` around the matched terms.
    pub highlight: String,
    pub score: f64,
    pub nearest: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchResult {
    pub supported: bool,
    pub reason: Option<String>,
    pub results: Vec<Hit>,
}

/// A query term: a Latin word or a run of CJK characters.
#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    Word(String),
    Cjk(String),
}

const STOP: &[&str] = &[
    "a", "an", "the", "of", "to", "in", "on", "at", "is", "are", "be", "was", "what", "how", "why", "when", "which",
    "for", "and", "or", "with", "my", "do", "does", "i", "it", "its", "should", "can", "we", "this", "that", "there",
    "about", "from", "by", "as", "if",
];
const CJK_STOP: &[&str] =
    &["怎么办", "怎么", "什么", "如何", "是否", "哪些", "的", "了", "吗", "呢", "是", "和", "与", "及"];

pub fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FFFF)
}

/// Split a question into terms: lowercase Latin words (stop words dropped) and CJK runs
/// (question words removed).
pub fn terms(q: &str) -> Vec<Term> {
    let mut out: Vec<Term> = Vec::new();
    let mut word = String::new();
    let mut run = String::new();
    let flush_word = |w: &mut String, out: &mut Vec<Term>| {
        let lw = w.to_lowercase();
        if !lw.is_empty() && !STOP.contains(&lw.as_str()) && !out.contains(&Term::Word(lw.clone())) {
            out.push(Term::Word(lw));
        }
        w.clear();
    };
    let flush_run = |r: &mut String, out: &mut Vec<Term>| {
        let mut s = r.clone();
        for sw in CJK_STOP {
            s = s.replace(sw, " ");
        }
        for part in s.split_whitespace() {
            if !out.contains(&Term::Cjk(part.to_string())) {
                out.push(Term::Cjk(part.to_string()));
            }
        }
        r.clear();
    };
    for c in q.chars() {
        if is_cjk(c) {
            flush_word(&mut word, &mut out);
            run.push(c);
        } else if c.is_alphanumeric() || (c == '.' && !word.is_empty()) {
            flush_run(&mut run, &mut out);
            word.push(c);
        } else {
            flush_word(&mut word, &mut out);
            flush_run(&mut run, &mut out);
        }
    }
    flush_word(&mut word, &mut out);
    flush_run(&mut run, &mut out);
    // "c57.104." -> "c57.104"
    out.into_iter()
        .map(|t| match t {
            Term::Word(w) => Term::Word(w.trim_end_matches('.').to_string()),
            t => t,
        })
        .filter(|t| !matches!(t, Term::Word(w) if w.chars().count() < 2 && !w.chars().all(|c| c.is_ascii_digit())))
        .collect()
}

/// The pieces a term is matched by: the word itself, or a CJK run's trigrams (runs of 3+
/// characters) or the whole run (shorter).
fn pieces(t: &Term) -> Vec<String> {
    match t {
        Term::Word(w) => vec![w.clone()],
        Term::Cjk(r) => {
            let cs: Vec<char> = r.chars().collect();
            if cs.len() < 3 {
                vec![r.clone()]
            } else {
                let mut v: Vec<String> = cs.windows(3).map(|w| w.iter().collect()).collect();
                v.dedup();
                v
            }
        }
    }
}

/// The reference index.
pub struct RefIndex {
    conn: Connection,
    path: String,
    /// Row count, kept for the term-frequency cut (count(*) is a scan).
    rows: std::cell::Cell<i64>,
}

impl RefIndex {
    /// Open (or create) the index file.
    pub fn open(path: &Path) -> Result<RefIndex, SearchError> {
        let p = path.display().to_string();
        let conn = Connection::open(path).map_err(|source| SearchError::Db { path: p.clone(), source })?;
        let ix = Self::init(conn, p)?;
        crate::store::restrict_permissions(path);
        Ok(ix)
    }

    /// An index in memory (CLI without a config, tests, benchmarks).
    pub fn in_memory() -> Result<RefIndex, SearchError> {
        let conn =
            Connection::open_in_memory().map_err(|source| SearchError::Db { path: ":memory:".into(), source })?;
        Self::init(conn, ":memory:".into())
    }

    fn init(mut conn: Connection, path: String) -> Result<RefIndex, SearchError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|source| SearchError::Db { path: path.clone(), source })?;
        // `refs import` writes while the daemon may be indexing: take the write lock first.
        conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
        conn.execute_batch(SCHEMA).map_err(|source| SearchError::Db { path: path.clone(), source })?;
        let ix = RefIndex { conn, path, rows: std::cell::Cell::new(0) };
        ix.recount()?;
        Ok(ix)
    }

    /// `PRAGMA quick_check`: None when it reports `ok`, else its first lines.
    pub fn quick_check(&self) -> Result<Option<String>, SearchError> {
        let mut stmt = self.db(self.conn.prepare("PRAGMA quick_check(5)"))?;
        let lines: Vec<String> = self.db(self.db(stmt.query_map([], |r| r.get(0)))?.collect())?;
        Ok((lines != ["ok"]).then(|| lines.join("; ")))
    }

    fn recount(&self) -> Result<(), SearchError> {
        self.rows.set(self.passage_count()?);
        Ok(())
    }

    fn db<T>(&self, r: rusqlite::Result<T>) -> Result<T, SearchError> {
        r.map_err(|source| SearchError::Db { path: self.path.clone(), source })
    }

    /// Replace the built-in documents and passages with `lib`'s (packs included).
    pub fn load_library(&mut self, lib: &Library) -> Result<(), SearchError> {
        let path = self.path.clone();
        let e = |source| SearchError::Db { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(e)?;
        tx.execute(
            "DELETE FROM ref_passages WHERE doc_id IN (SELECT id FROM ref_documents WHERE source = 'builtin')",
            [],
        )
        .map_err(e)?;
        tx.execute("DELETE FROM ref_documents WHERE source = 'builtin'", []).map_err(e)?;
        for d in lib.documents() {
            tx.execute(
                "INSERT OR REPLACE INTO ref_documents (id, title, edition, language, verification, source) VALUES (?1, ?2, ?3, ?4, 'verified', 'builtin')",
                params![d.id, d.title, d.edition, d.language],
            )
            .map_err(e)?;
        }
        {
            let mut ins = tx
                .prepare("INSERT OR REPLACE INTO ref_passages (passage_id, lang, doc_id, clause, kind, verification, text) VALUES (?1, ?2, ?3, ?4, 'passage', ?5, ?6)")
                .map_err(e)?;
            for id in lib.passage_ids() {
                let c = lib.citation(id).expect("listed");
                let v = match c.verification {
                    Verification::Verified => "verified",
                    _ => "secondary",
                };
                ins.execute(params![c.passage_id, "en", c.reference_id, c.clause, v, c.passage_en]).map_err(e)?;
                ins.execute(params![c.passage_id, "zh", c.reference_id, c.clause, v, c.passage_zh]).map_err(e)?;
            }
        }
        tx.commit().map_err(e)?;
        self.recount()
    }

    /// Add (or replace) one document with its passages; `source` is `builtin` or `plant`.
    #[allow(clippy::too_many_arguments)]
    pub fn put_document(&mut self, doc: &ImportedDoc, source: &str) -> Result<usize, SearchError> {
        let path = self.path.clone();
        let e = |source| SearchError::Db { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(e)?;
        tx.execute("DELETE FROM ref_passages WHERE doc_id = ?1", [&doc.id]).map_err(e)?;
        tx.execute(
            "INSERT OR REPLACE INTO ref_documents (id, title, edition, language, verification, source) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![doc.id, doc.title, doc.edition, doc.language, doc.verification.as_str(), source],
        )
        .map_err(e)?;
        {
            let mut ins = tx
                .prepare("INSERT INTO ref_passages (passage_id, lang, doc_id, clause, kind, verification, text) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
                .map_err(e)?;
            for p in &doc.passages {
                ins.execute(params![p.id, doc.language, doc.id, p.clause, p.kind, doc.verification.as_str(), p.text])
                    .map_err(e)?;
            }
        }
        tx.commit().map_err(e)?;
        self.recount()?;
        Ok(doc.passages.len())
    }

    pub fn passage_count(&self) -> Result<i64, SearchError> {
        self.db(self.conn.query_row("SELECT count(*) FROM ref_passages", [], |r| r.get(0)))
    }

    /// Whether a passage id is stored (in any language).
    pub fn has_passage(&self, passage_id: &str) -> Result<bool, SearchError> {
        self.db(self
            .conn
            .query_row("SELECT 1 FROM ref_passages WHERE passage_id = ?1 LIMIT 1", [passage_id], |_| Ok(()))
            .optional())
            .map(|o| o.is_some())
    }

    /// Search. `lang` prefers passages in that language (the other language's copy of the
    /// same passage is dropped); `boost` are passage ids to rank up (the asset's evidence).
    pub fn search(&self, q: &str, lang: &str, limit: usize, boost: &[String]) -> Result<SearchResult, SearchError> {
        let ts = terms(q);
        if ts.is_empty() {
            return Ok(SearchResult {
                supported: false,
                reason: Some("the question has no searchable term".into()),
                results: Vec::new(),
            });
        }
        // Candidates from both indexes and the LIKE fallback, each with its row.
        let mut cand: Vec<(i64, f64, Hit)> = Vec::new();
        const COLS: &str = COLUMNS;
        let words: Vec<String> = ts
            .iter()
            .filter_map(|t| match t {
                Term::Word(w) => Some(w.clone()),
                _ => None,
            })
            .collect();
        if !words.is_empty() {
            let q: Vec<String> = words.iter().map(|w| format!("\"{}\"*", w.replace('"', ""))).collect();
            self.candidates(&mut cand, "ref_fts_latin", &q, limit)?;
        }
        let mut tri: Vec<String> = Vec::new();
        let mut short: Vec<String> = Vec::new();
        for t in &ts {
            if let Term::Cjk(r) = t {
                if r.chars().count() >= 3 {
                    tri.extend(pieces(t));
                } else {
                    short.push(r.clone());
                }
            }
        }
        if !tri.is_empty() {
            let q: Vec<String> = tri.iter().map(|w| format!("\"{w}\"")).collect();
            self.candidates(&mut cand, "ref_fts_cjk", &q, limit)?;
        }
        for s in &short {
            // Trigrams cannot match 1-2 characters: scan (Chinese rows only) with LIKE.
            let like = format!("%{}%", s.replace(['%', '_'], ""));
            let sql = format!("SELECT {COLS}, 0.0 FROM ref_passages p JOIN ref_documents d ON d.id = p.doc_id WHERE p.lang = 'zh' AND (p.text LIKE ?1 OR p.clause LIKE ?1) LIMIT ?2");
            self.collect(&mut cand, &sql, &like)?;
        }
        cand.sort_by_key(|c| c.0);
        cand.dedup_by_key(|c| c.0);
        let mut hits: Vec<(Hit, Vec<(usize, usize)>)> = Vec::new();
        for (_, bm, mut h) in cand {
            let (cov, ranges) = coverage(&ts, &h.text, &h.clause);
            if cov <= 0.0 {
                continue;
            }
            h.score =
                cov + 0.01 * (-bm).clamp(0.0, 10.0) / 10.0 + if boost.contains(&h.passage_id) { 0.25 } else { 0.0 };
            h.score = (h.score * 1000.0).round() / 1000.0;
            hits.push((h, ranges));
        }
        // One language per passage: the asked one when both match, with the better score.
        let mut by_id: std::collections::HashMap<String, (Hit, Vec<(usize, usize)>)> = std::collections::HashMap::new();
        for (h, r) in hits {
            match by_id.get_mut(&h.passage_id) {
                None => {
                    by_id.insert(h.passage_id.clone(), (h, r));
                }
                Some(have) => {
                    let best = have.0.score.max(h.score);
                    if h.lang == lang && have.0.lang != lang {
                        *have = (h, r);
                    }
                    have.0.score = best;
                }
            }
        }
        let mut ranked: Vec<(Hit, Vec<(usize, usize)>)> = by_id.into_values().collect();
        ranked.sort_by(|a, b| b.0.score.total_cmp(&a.0.score).then_with(|| a.0.passage_id.cmp(&b.0.passage_id)));
        ranked.truncate(limit);
        // Highlight only what is returned.
        let mut hits: Vec<Hit> = ranked
            .into_iter()
            .map(|(mut h, r)| {
                h.highlight = highlight(&h.text, &r);
                h
            })
            .collect();
        hits.truncate(limit);
        let best = hits.first().map(|h| h.score).unwrap_or(0.0);
        if hits.is_empty() {
            return Ok(SearchResult {
                supported: false,
                reason: Some("no reference passage shares a term with the question".into()),
                results: hits,
            });
        }
        if best < RELEVANCE_FLOOR {
            for h in &mut hits {
                h.nearest = true;
            }
            return Ok(SearchResult {
                supported: false,
                reason: Some(format!(
                    "no supported answer: the closest passage covers {:.0} % of the question's terms (at least {:.0} % needed); the nearest references are listed as such",
                    best.min(1.0) * 100.0,
                    RELEVANCE_FLOOR * 100.0
                )),
                results: hits,
            });
        }
        hits.retain(|h| h.score >= RELEVANCE_FLOOR);
        Ok(SearchResult { supported: true, reason: None, results: hits })
    }

    /// Candidates for the query pieces. Pieces found in over a fifth of the rows do not
    /// tell passages apart and make FTS queries slow, so candidates come from the rarer
    /// pieces: first rows holding all of them (unranked, cheap), then, if too few, any of
    /// them ranked by BM25. Only when every piece is common are those used. Coverage
    /// scoring still counts every term.
    fn candidates(
        &self,
        cand: &mut Vec<(i64, f64, Hit)>,
        table: &str,
        q: &[String],
        limit: usize,
    ) -> Result<(), SearchError> {
        let base = format!(
            "SELECT {COLUMNS}, bm25({table}) FROM {table} f JOIN ref_passages p ON p.rowid = f.rowid JOIN ref_documents d ON d.id = p.doc_id WHERE {table} MATCH ?1"
        );
        let vocab = if table == "ref_fts_latin" { "ref_vocab_latin" } else { "ref_vocab_cjk" };
        let rows = self.rows.get() as f64;
        let mut st = self.db(self.conn.prepare_cached(&format!("SELECT doc FROM {vocab} WHERE term = ?1")))?;
        let mut rare = Vec::new();
        for piece in q {
            let term = piece.trim_end_matches('*').trim_matches('"').to_lowercase();
            let df: i64 = self.db(st.query_row([&term], |r| r.get(0)).optional())?.unwrap_or(0);
            if (df as f64) <= rows * 0.2 {
                rare.push(piece.clone());
            }
        }
        let use_: &[String] = if rare.is_empty() { q } else { &rare };
        let before = cand.len();
        self.collect(cand, &format!("{base} LIMIT ?2"), &use_.join(" AND "))?;
        if cand.len() - before < limit * 2 && use_.len() > 1 {
            self.collect(cand, &format!("{base} ORDER BY rank LIMIT ?2"), &use_.join(" OR "))?;
        }
        if cand.len() == before && !rare.is_empty() && rare.len() < q.len() {
            // The rare pieces match nothing: the nearest passages come from the common ones.
            self.collect(cand, &format!("{base} LIMIT ?2"), &q.join(" OR "))?;
        }
        Ok(())
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
                    score: 0.0,
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

/// Share of the terms found in the text (or clause), each term weighted by its length in
/// pieces, and the byte ranges of the matches in `text`.
fn coverage(ts: &[Term], text: &str, clause: &str) -> (f64, Vec<(usize, usize)>) {
    let lower = text.to_lowercase();
    let same_len = lower.len() == text.len();
    let lclause = clause.to_lowercase();
    let (mut got, mut total) = (0.0, 0.0);
    let mut ranges = Vec::new();
    for t in ts {
        let w = 1.0;
        total += w;
        if let Term::Cjk(run) = t {
            got += w * cjk_coverage(run, text, clause, &mut ranges);
            continue;
        }
        let ps = pieces(t);
        let mut found = 0;
        for p in &ps {
            let mut hit = false;
            match t {
                Term::Word(_) => {
                    // Word start match (prefix, as the FTS query uses).
                    let mut from = 0;
                    while let Some(i) = lower[from..].find(p.as_str()) {
                        let s = from + i;
                        let before = lower[..s].chars().next_back();
                        if before.is_none_or(|c| !c.is_alphanumeric()) {
                            hit = true;
                            if same_len {
                                let mut e = s + p.len();
                                while let Some(c) = lower[e..].chars().next().filter(|c| c.is_alphanumeric()) {
                                    e += c.len_utf8();
                                }
                                ranges.push((s, e));
                            }
                        }
                        from = s + p.len();
                    }
                    if !hit && lclause.contains(p.as_str()) {
                        hit = true;
                    }
                }
                Term::Cjk(_) => {} // scored by cjk_coverage above
            }
            if hit {
                found += 1;
            }
        }
        got += w * found as f64 / ps.len().max(1) as f64;
    }
    (if total > 0.0 { got / total } else { 0.0 }, ranges)
}

/// Share of a CJK run's characters that appear in `text` (or `clause`) inside a bigram of
/// the run (a lone character counts only for a one-character run); match ranges added.
fn cjk_coverage(run: &str, text: &str, clause: &str, ranges: &mut Vec<(usize, usize)>) -> f64 {
    let cs: Vec<char> = run.chars().collect();
    if cs.len() == 1 {
        let mut hit = false;
        for (i, _) in text.match_indices(cs[0]) {
            hit = true;
            ranges.push((i, i + cs[0].len_utf8()));
        }
        return if hit || clause.contains(cs[0]) { 1.0 } else { 0.0 };
    }
    let mut covered = vec![false; cs.len()];
    for i in 0..cs.len() - 1 {
        let bg: String = cs[i..i + 2].iter().collect();
        let mut hit = false;
        for (at, m) in text.match_indices(bg.as_str()) {
            hit = true;
            ranges.push((at, at + m.len()));
        }
        if hit || clause.contains(bg.as_str()) {
            covered[i] = true;
            covered[i + 1] = true;
        }
    }
    covered.iter().filter(|c| **c).count() as f64 / cs.len() as f64
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

/// A document to import, split into passages with section anchors.
#[derive(Debug, Clone)]
pub struct ImportedDoc {
    pub id: String,
    pub title: String,
    pub edition: String,
    pub language: String,
    pub verification: RefVerification,
    pub passages: Vec<ImportedPassage>,
}

#[derive(Debug, Clone)]
pub struct ImportedPassage {
    /// `<doc id>#<anchor>` (plus `.<n>` for the n-th chunk of a long section).
    pub id: String,
    pub clause: String,
    pub kind: String,
    pub text: String,
}

fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.trim().chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// Detect the language: `zh` when CJK characters make up a fifth of the letters.
pub fn detect_language(text: &str) -> &'static str {
    let (mut cjk, mut letters) = (0usize, 0usize);
    for c in text.chars() {
        if is_cjk(c) {
            cjk += 1;
            letters += 1;
        } else if c.is_alphabetic() {
            letters += 1;
        }
    }
    if letters > 0 && cjk * 5 >= letters {
        "zh"
    } else {
        "en"
    }
}

/// Passages at most this long (characters); longer paragraphs are split at sentence ends.
const CHUNK: usize = 600;

/// Split Markdown (`#` headings) or plain text (numbered headings like `3.2 Title`, or
/// paragraphs) into sections with anchors and passages.
pub fn import_text(
    file: &str,
    text: &str,
    id: &str,
    title: Option<&str>,
    edition: &str,
    markdown: bool,
) -> Result<ImportedDoc, SearchError> {
    let err = |m: String| SearchError::Import { file: file.to_string(), message: m };
    if text.trim().is_empty() {
        return Err(err("empty document: nothing to import".into()));
    }
    if id.trim().is_empty() || id.contains(char::is_whitespace) {
        return Err(err(format!("document id `{id}` must be non-empty without spaces")));
    }
    let mut doc_title = title.map(String::from);
    let mut sections: Vec<(String, String, Vec<String>)> = Vec::new(); // (anchor, heading path, paragraphs)
    let mut path: Vec<(usize, String)> = Vec::new();
    let mut para = String::new();
    let mut current = (String::from("intro"), String::from("(introduction)"), Vec::<String>::new());
    let flush_para = |para: &mut String, cur: &mut (String, String, Vec<String>)| {
        let p = para.trim().to_string();
        if !p.is_empty() {
            cur.2.push(p);
        }
        para.clear();
    };
    for line in text.lines() {
        let t = line.trim();
        let heading = if markdown {
            let level = t.chars().take_while(|c| *c == '#').count();
            (level > 0 && level <= 6 && t[level..].starts_with(' ')).then(|| (level, t[level..].trim().to_string()))
        } else {
            // "3", "3.2", "3.2.1" followed by a title, on its own short line.
            let num: String = t.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
            let rest = t[num.len()..].trim();
            (!num.is_empty()
                && num.chars().next().unwrap().is_ascii_digit()
                && !rest.is_empty()
                && t.chars().count() <= 80
                && !rest.ends_with(['.', '。']))
            .then(|| (num.trim_end_matches('.').split('.').count(), t.to_string()))
        };
        if let Some((level, h)) = heading {
            flush_para(&mut para, &mut current);
            if markdown && level == 1 && doc_title.is_none() {
                doc_title = Some(h.clone());
            }
            let done = std::mem::take(&mut current);
            if !done.2.is_empty() {
                sections.push(done);
            }
            path.retain(|(l, _)| *l < level);
            path.push((level, h.clone()));
            let mut anchor = slug(&h);
            if anchor.is_empty() {
                anchor = format!("s{}", sections.len() + 1);
            }
            while sections.iter().any(|s| s.0 == anchor) {
                anchor.push('-');
                anchor.push('1');
            }
            current = (anchor, path.iter().map(|(_, h)| h.as_str()).collect::<Vec<_>>().join(" > "), Vec::new());
        } else if t.is_empty() {
            flush_para(&mut para, &mut current);
        } else {
            if !para.is_empty() {
                para.push(' ');
            }
            para.push_str(t);
        }
    }
    flush_para(&mut para, &mut current);
    if !current.2.is_empty() {
        sections.push(current);
    }
    let language = detect_language(text).to_string();
    let mut passages = Vec::new();
    for (anchor, clause, paras) in sections {
        let mut chunks: Vec<String> = Vec::new();
        for p in paras {
            let mut cur = chunks.pop().unwrap_or_default();
            for sentence in split_sentences(&p) {
                if cur.chars().count() + sentence.chars().count() > CHUNK && !cur.is_empty() {
                    chunks.push(std::mem::take(&mut cur));
                }
                if !cur.is_empty() && !cur.ends_with(char::is_whitespace) {
                    cur.push(' ');
                }
                cur.push_str(&sentence);
            }
            chunks.push(cur);
            chunks.push(String::new());
        }
        let chunks: Vec<String> = chunks.into_iter().map(|c| c.trim().to_string()).filter(|c| !c.is_empty()).collect();
        for (i, c) in chunks.iter().enumerate() {
            let pid = if i == 0 { format!("{id}#{anchor}") } else { format!("{id}#{anchor}.{}", i + 1) };
            passages.push(ImportedPassage { id: pid, clause: clause.clone(), kind: "section".into(), text: c.clone() });
        }
    }
    if passages.is_empty() {
        return Err(err("no text found under any heading".into()));
    }
    Ok(ImportedDoc {
        id: id.to_string(),
        title: doc_title.unwrap_or_else(|| id.to_string()),
        edition: edition.to_string(),
        language,
        verification: RefVerification::Plant,
        passages,
    })
}

fn split_sentences(p: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in p.chars() {
        cur.push(c);
        if matches!(c, '。' | '！' | '？' | '；') || (matches!(c, '.' | '!' | '?') && cur.chars().count() > 40) {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out
}

/// Past failure cases (`[[case]]` in a TOML file): asset class, symptoms, cause, action.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    #[serde(default)]
    document: Option<CaseDoc>,
    case: Vec<Case>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseDoc {
    title: String,
    #[serde(default)]
    edition: String,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    id: String,
    asset_class: String,
    #[serde(default)]
    date: String,
    symptoms: String,
    cause: String,
    action: String,
}

/// Parse a failure-case file.
pub fn import_cases(file: &str, text: &str, id: &str) -> Result<ImportedDoc, SearchError> {
    let f: CaseFile = toml::from_str(text).map_err(|e| SearchError::Import {
        file: file.to_string(),
        message: match e.span() {
            Some(s) => format!("line {}: {}", text[..s.start.min(text.len())].matches('\n').count() + 1, e.message()),
            None => e.message().to_string(),
        },
    })?;
    let mut passages = Vec::new();
    for c in &f.case {
        for (k, v) in [("symptoms", &c.symptoms), ("cause", &c.cause), ("action", &c.action)] {
            if v.trim().is_empty() {
                return Err(SearchError::Import {
                    file: file.into(),
                    message: format!("case `{}`: `{k}` is empty", c.id),
                });
            }
        }
        let zh = detect_language(&c.symptoms) == "zh";
        let (s, ca, a) = if zh { ("症状", "原因", "处理") } else { ("Symptoms", "Cause", "Action taken") };
        passages.push(ImportedPassage {
            id: format!("{id}#{}", slug(&c.id)),
            clause: format!(
                "case {} ({}{})",
                c.id,
                c.asset_class,
                if c.date.is_empty() { String::new() } else { format!(", {}", c.date) }
            ),
            kind: "case".into(),
            text: format!("{s}: {} {ca}: {} {a}: {}", c.symptoms.trim(), c.cause.trim(), c.action.trim()),
        });
    }
    let title = f.document.as_ref().map(|d| d.title.clone()).unwrap_or_else(|| format!("Failure cases ({id})"));
    Ok(ImportedDoc {
        id: id.to_string(),
        title,
        edition: f.document.map(|d| d.edition).unwrap_or_default(),
        language: detect_language(text).into(),
        verification: RefVerification::Plant,
        passages,
    })
}

#[cfg(test)]
mod tests;
