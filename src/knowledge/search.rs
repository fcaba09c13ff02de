//! Reference search: documents, clauses and sections, passages in our own words, plant
//! documents and past failure cases, in their own SQLite file (`[packs] refs_db`), with
//! three FTS5 indexes over the same rows: `unicode61` for Latin words, `trigram` for
//! Chinese substrings of 3+ characters, and a word index of the Chinese text segmented by
//! jieba (its dictionary taught the glossary's Chinese names) for shorter words.
//!
//! A question is taken apart into weighted terms ([`query::analyze`]): glossary concepts
//! (expanded to every name of the concept, English and Chinese, so "hydrogen" meets H2 and
//! 乙炔 meets acetylene), Chinese words and Latin words and numbers. A passage's support is
//! the weighted share of the terms its text, clause or document title holds; it supports an
//! answer from [`SUPPORT_FLOOR`] with at least one specific term (a gas, method, standard,
//! equipment, fault or parameter value, not only units and generic words). Below that there
//! is no supported answer and the nearest passages are labelled as such. With an asset's
//! context, passages naming its parameter values rank first; when the supported passages
//! differ by a parameter neither the question nor the asset fixes, the result says so
//! (`depends_on`) with each variant. No text is generated.

pub mod query;

use super::{Library, Verification};
use query::{Lexicon, Matched};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

pub use query::is_cjk;

/// A passage must cover at least this weighted share of the question's terms to support an
/// answer. Product policy, checked on the question set (`edgecite ask --eval
/// tests/fixtures/ask_questions.toml --sweep` prints the counts for floors 0.30 to 0.90):
/// the floor is the lowest of the floors with no wrong citation (never the wrong passage
/// first, then the fewest wrong abstentions); README, reference search, has the table.
pub const SUPPORT_FLOOR: f64 = 0.65;
/// The former name of [`SUPPORT_FLOOR`].
pub const RELEVANCE_FLOOR: f64 = SUPPORT_FLOOR;
/// A question needs at least this many characters of content (after question words):
/// one character (乙, H) names nothing and is refused with a hint.
pub const MIN_CONTENT_CHARS: usize = 2;
/// Weight of specific terms a supporting passage must hold (one concept, or two words).
const MIN_SPECIFIC_WEIGHT: f64 = 2.0;
/// How much more a question word weighs when no stored passage holds it.
const UNKNOWN_WORD_FACTOR: f64 = 3.0;
const COLUMNS: &str =
    "p.rowid, p.passage_id, p.lang, p.doc_id, d.title, d.edition, p.clause, p.kind, p.verification, p.text";
/// Cached document frequencies per (vocabulary table, term).
type DocFrequencies = HashMap<(&'static str, String), i64>;

/// Candidates fetched per index before scoring.
const CANDIDATES: usize = 64;
/// Rows a BM25-ranked candidate query may match (by the pieces' document frequencies):
/// product policy bounding its work to about a millisecond on one gateway core.
const RANK_BUDGET: i64 = 1000;

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
CREATE VIRTUAL TABLE IF NOT EXISTS ref_fts_words USING fts5(words, tokenize='unicode61');
CREATE TABLE IF NOT EXISTS ref_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS ref_vocab_words USING fts5vocab(ref_fts_words, 'row');
CREATE VIRTUAL TABLE IF NOT EXISTS ref_vocab_latin USING fts5vocab(ref_fts_latin, 'row');
CREATE VIRTUAL TABLE IF NOT EXISTS ref_vocab_cjk USING fts5vocab(ref_fts_cjk, 'row');
CREATE TRIGGER IF NOT EXISTS ref_passages_ai AFTER INSERT ON ref_passages BEGIN
    INSERT INTO ref_fts_latin(rowid, text, clause) VALUES (new.rowid, new.text, new.clause);
    INSERT INTO ref_fts_cjk(rowid, text, clause) VALUES (new.rowid, new.text, new.clause);
END;
DROP TRIGGER IF EXISTS ref_passages_ad;
CREATE TRIGGER ref_passages_ad AFTER DELETE ON ref_passages BEGIN
    INSERT INTO ref_fts_latin(ref_fts_latin, rowid, text, clause) VALUES ('delete', old.rowid, old.text, old.clause);
    INSERT INTO ref_fts_cjk(ref_fts_cjk, rowid, text, clause) VALUES ('delete', old.rowid, old.text, old.clause);
    DELETE FROM ref_fts_words WHERE rowid = old.rowid;
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
    /// The sentence(s) of `text` holding the most matched terms.
    pub sentences: Vec<String>,
    /// The ranking score: support plus the asset context's boosts and a BM25 tie-break.
    pub score: f64,
    /// The weighted share of the question's terms this passage holds (what support is
    /// judged on).
    pub coverage: f64,
    /// Which of the question's terms matched, and through which name.
    pub matched: Vec<Matched>,
    /// Asset parameter values the passage names: (`vibration.group`, `group2`).
    #[serde(skip)]
    pub params: Vec<(String, String)>,
    pub nearest: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchResult {
    pub supported: bool,
    pub reason: Option<String>,
    pub results: Vec<Hit>,
    /// Parameters the supported passages differ by that the question and the asset leave
    /// open, each with its variants ("depends on the machine group").
    pub depends_on: Vec<Depends>,
    /// How the asset's parameters ranked the answer, when they did.
    pub context_note: Option<String>,
}

/// A parameter the answer depends on.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Depends {
    pub param: String,
    pub label: String,
    pub variants: Vec<Variant>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Variant {
    pub value: String,
    pub label: String,
    pub passages: Vec<String>,
}

/// What a question asked from an asset brings: passages its open findings cite, passages
/// its class's criteria cite, and its parameter values (`vibration.group` = `group2`,
/// `vibration.foundation`, `voltage_class`, `insulation_class`, ...).
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub boost: Vec<String>,
    pub class_passages: Vec<String>,
    pub params: BTreeMap<String, String>,
}

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

/// The reference index.
pub struct RefIndex {
    conn: Connection,
    path: String,
    /// Document frequencies looked up in the vocabulary tables, per (index, term), valid for
    /// the `PRAGMA data_version` they were read at (another connection's commit, such as
    /// `refs import`, changes it) and cleared by this connection's own writes.
    df: std::cell::RefCell<(i64, DocFrequencies)>,
    lexicon: Arc<Lexicon>,
    floor: f64,
}

impl RefIndex {
    /// Open (or create) the index file.
    pub fn open(path: &Path) -> Result<RefIndex, SearchError> {
        let p = path.display().to_string();
        let conn = Connection::open(path).map_err(|source| SearchError::Db { path: p.clone(), source })?;
        let ix = Self::init(conn, p)?;
        crate::files::restrict_permissions(path);
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
        let mut ix = RefIndex { conn, path, df: Default::default(), lexicon: Lexicon::builtin(), floor: SUPPORT_FLOOR };
        ix.index_words()?;
        Ok(ix)
    }

    /// `PRAGMA quick_check`: None when it reports `ok`, else its first lines.
    pub fn quick_check(&self) -> Result<Option<String>, SearchError> {
        let mut stmt = self.db(self.conn.prepare("PRAGMA quick_check(5)"))?;
        let lines: Vec<String> = self.db(self.db(stmt.query_map([], |r| r.get(0)))?.collect())?;
        Ok((lines != ["ok"]).then(|| lines.join("; ")))
    }

    /// Use another glossary (the built-in one plus plant packs'); the word index is rebuilt
    /// when its Chinese names differ from those the index was built with.
    pub fn set_lexicon(&mut self, lexicon: Arc<Lexicon>) -> Result<(), SearchError> {
        self.lexicon = lexicon;
        self.index_words()
    }

    pub fn lexicon(&self) -> &Lexicon {
        &self.lexicon
    }

    /// The support floor (default [`SUPPORT_FLOOR`]; `edgecite ask --eval --sweep` varies it).
    pub fn set_floor(&mut self, floor: f64) {
        self.floor = floor;
    }

    pub fn floor(&self) -> f64 {
        self.floor
    }

    /// Segment the rows the word index lacks (all of them when the glossary's Chinese names
    /// changed since it was built).
    fn index_words(&mut self) -> Result<(), SearchError> {
        let path = self.path.clone();
        let e = |source| SearchError::Db { path: path.clone(), source };
        let lex = self.lexicon.clone();
        let tx = self.conn.transaction().map_err(e)?;
        let have: Option<String> =
            tx.query_row("SELECT value FROM ref_meta WHERE key = 'lexicon'", [], |r| r.get(0)).optional().map_err(e)?;
        if have.as_deref() != Some(lex.fingerprint()) {
            tx.execute("DELETE FROM ref_fts_words", []).map_err(e)?;
            tx.execute("INSERT OR REPLACE INTO ref_meta (key, value) VALUES ('lexicon', ?1)", [lex.fingerprint()])
                .map_err(e)?;
        }
        {
            let mut st = tx
                .prepare(
                    "SELECT rowid, text, clause FROM ref_passages WHERE rowid NOT IN (SELECT rowid FROM ref_fts_words)",
                )
                .map_err(e)?;
            let rows: Vec<(i64, String, String)> = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .map_err(e)?
                .collect::<Result<_, _>>()
                .map_err(e)?;
            let mut ins = tx.prepare("INSERT INTO ref_fts_words (rowid, words) VALUES (?1, ?2)").map_err(e)?;
            for (rowid, text, clause) in rows {
                let words = lex.index_words(&format!("{text} {clause}"));
                ins.execute(params![rowid, words]).map_err(e)?;
            }
        }
        tx.commit().map_err(e)?;
        self.forget_counts();
        Ok(())
    }

    /// This connection changed the index: the cached document frequencies are stale.
    fn forget_counts(&self) {
        self.df.borrow_mut().1.clear();
    }

    /// Drop the cached counts when another connection has committed since they were read.
    fn refresh_counts(&self) -> Result<(), SearchError> {
        let version: i64 = self.db(self.conn.query_row("PRAGMA data_version", [], |r| r.get(0)))?;
        let mut df = self.df.borrow_mut();
        if df.0 != version {
            *df = (version, HashMap::new());
        }
        Ok(())
    }

    /// How many rows of `vocab`'s index hold `term` (with `prefix`, at most how many hold a
    /// word beginning with it: the sum over those words), cached (see `df`).
    fn doc_frequency(&self, vocab: &'static str, term: String, prefix: bool) -> Result<i64, SearchError> {
        let key = (vocab, if prefix { format!("{term}*") } else { term });
        if let Some(&n) = self.df.borrow().1.get(&key) {
            return Ok(n);
        }
        let n: i64 = if prefix {
            let word = key.1.trim_end_matches('*');
            let mut st = self.db(self.conn.prepare_cached(&format!(
                "SELECT coalesce(sum(doc), 0) FROM {vocab} WHERE term >= ?1 AND term < ?2"
            )))?;
            self.db(st.query_row(params![word, format!("{word}\u{10FFFF}")], |r| r.get(0)))?
        } else {
            let mut st = self.db(self.conn.prepare_cached(&format!("SELECT doc FROM {vocab} WHERE term = ?1")))?;
            self.db(st.query_row([&key.1], |r| r.get(0)).optional())?.unwrap_or(0)
        };
        self.df.borrow_mut().1.insert(key, n);
        Ok(n)
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
        self.forget_counts();
        self.index_words()
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
        self.forget_counts();
        self.index_words()?;
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

    /// Search without asset context. `lang` prefers passages in that language (the other
    /// language's copy of the same passage is dropped); `boost` are passage ids to rank up
    /// (the asset's evidence).
    pub fn search(&self, q: &str, lang: &str, limit: usize, boost: &[String]) -> Result<SearchResult, SearchError> {
        self.search_in(q, lang, limit, &Context { boost: boost.to_vec(), ..Context::default() })
    }

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
