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

pub mod import;
mod index;
pub mod query;
pub mod rank;

use query::{Lexicon, Matched};
use rusqlite::Connection;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
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
/// Cached document frequencies per (vocabulary table, term).
type DocFrequencies = HashMap<(&'static str, String), i64>;

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("reference database {path}: {source}")]
    Db { path: String, source: rusqlite::Error },
    #[error("{file}: {message}")]
    Import { file: String, message: String },
    #[error("reference database {path}: integrity check failed: {problem}")]
    Corrupt { path: String, problem: String },
}

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

/// A ranked passage, served as is in the answer to a question (`GET /api/v1/ask`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Hit {
    pub doc_id: String,
    pub doc_title: String,
    pub edition: String,
    pub clause: String,
    pub passage_id: String,
    pub lang: String,
    /// The passage's kind in its reference file (not served).
    #[serde(skip)]
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

    fn db<T>(&self, r: rusqlite::Result<T>) -> Result<T, SearchError> {
        r.map_err(|source| SearchError::Db { path: self.path.clone(), source })
    }

    /// Search without asset context. `lang` prefers passages in that language (the other
    /// language's copy of the same passage is dropped); `boost` are passage ids to rank up
    /// (the asset's evidence).
    pub fn search(&self, q: &str, lang: &str, limit: usize, boost: &[String]) -> Result<SearchResult, SearchError> {
        self.search_in(q, lang, limit, &Context { boost: boost.to_vec(), ..Context::default() })
    }
}

#[cfg(test)]
mod tests;
