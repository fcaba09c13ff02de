//! The reference index's SQLite file: schema (three FTS5 indexes over the passages and
//! their vocabularies), opening, the word index, the cached document frequencies, loading
//! the library and imported documents, and `quick_check`.

use super::import::ImportedDoc;
use super::query::Lexicon;
use super::{RefIndex, SearchError, SUPPORT_FLOOR};
use crate::knowledge::{Library, Verification};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;
use std::path::Path;

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

    /// Segment the rows the word index lacks (all of them when the glossary's Chinese names
    /// changed since it was built).
    pub(super) fn index_words(&mut self) -> Result<(), SearchError> {
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
    pub(super) fn refresh_counts(&self) -> Result<(), SearchError> {
        let version: i64 = self.db(self.conn.query_row("PRAGMA data_version", [], |r| r.get(0)))?;
        let mut df = self.df.borrow_mut();
        if df.0 != version {
            *df = (version, HashMap::new());
        }
        Ok(())
    }

    /// How many rows of `vocab`'s index hold `term` (with `prefix`, at most how many hold a
    /// word beginning with it: the sum over those words), cached (see `df`).
    pub(super) fn doc_frequency(&self, vocab: &'static str, term: String, prefix: bool) -> Result<i64, SearchError> {
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
                ins.execute(params![c.passage_id, "en", c.reference_id, c.clause.en, v, c.passage.en]).map_err(e)?;
                ins.execute(params![c.passage_id, "zh", c.reference_id, c.clause.en, v, c.passage.zh]).map_err(e)?;
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
}
