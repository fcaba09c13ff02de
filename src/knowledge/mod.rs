//! The reference library: the documents criteria cite and the passages (in our own words)
//! a finding quotes. The built-in library is embedded; a corrupt library is an error that
//! names the file, the key and the reason.

pub mod classes;
pub mod glossary;
pub mod search;

use crate::text::Text;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::HashMap;

const BUILTIN: &str = include_str!("references.toml");
const BUILTIN_NAME: &str = "src/knowledge/references.toml (built in)";

/// How urgent a finding is: the product's policy, stated with each criterion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn parse(s: &str) -> Option<Severity> {
        [Severity::Low, Severity::Medium, Severity::High, Severity::Critical].into_iter().find(|v| v.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verification {
    /// Two or more independent public sources agree on the clause and numbers.
    Verified,
    /// One public source: the clause id comes from secondary sources.
    Secondary,
    /// The reference is a statistical model of ours, not a published criterion.
    Model,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    pub id: String,
    pub title: String,
    pub edition: String,
    pub language: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PassageRecord {
    id: String,
    document: String,
    clause: String,
    /// The clause in Chinese (optional: plant libraries may give only `clause`).
    #[serde(default)]
    clause_zh: String,
    verification: Verification,
    edge: String,
    text_en: String,
    text_zh: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LibraryFile {
    document: Vec<toml::Spanned<Document>>,
    passage: Vec<PassageRecord>,
}

/// What a finding cites: the reference, the clause, the passage and how far it is verified.
#[derive(Debug, Clone, PartialEq)]
pub struct Citation {
    pub reference_id: String,
    pub title: String,
    pub edition: String,
    /// The clause; its Chinese is empty when the library has none.
    pub clause: Text,
    pub passage_id: String,
    /// The passage text (served as `passage_en` and `passage_zh`).
    pub passage: Text,
    pub verification: Verification,
    /// The boundary convention edgecite applies (`<` or `<=`) for the numbers cited.
    pub edge_convention: String,
}

// [`Citation`] as stored (`citations_json`) and served: `clause`/`clause_zh`,
// `passage_en`/`passage_zh`. Borrowed when written, owned when read. Its doc comments are
// the API document's descriptions.
/// What a finding cites: the reference, the clause, the passage and how far it is verified.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = Citation)]
struct CitationWire<'a> {
    reference_id: Cow<'a, str>,
    title: Cow<'a, str>,
    edition: Cow<'a, str>,
    clause: Cow<'a, str>,
    /// The clause in Chinese; empty when the library has none (read `clause`).
    #[serde(default, skip_serializing_if = "str::is_empty")]
    clause_zh: Cow<'a, str>,
    passage_id: Cow<'a, str>,
    passage_en: Cow<'a, str>,
    passage_zh: Cow<'a, str>,
    verification: Verification,
    /// The boundary convention edgecite applies (`<` or `<=`) for the numbers cited.
    edge_convention: Cow<'a, str>,
}

impl Serialize for Citation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        CitationWire {
            reference_id: Cow::Borrowed(&self.reference_id),
            title: Cow::Borrowed(&self.title),
            edition: Cow::Borrowed(&self.edition),
            clause: Cow::Borrowed(&self.clause.en),
            clause_zh: Cow::Borrowed(&self.clause.zh),
            passage_id: Cow::Borrowed(&self.passage_id),
            passage_en: Cow::Borrowed(&self.passage.en),
            passage_zh: Cow::Borrowed(&self.passage.zh),
            verification: self.verification,
            edge_convention: Cow::Borrowed(&self.edge_convention),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Citation {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Citation, D::Error> {
        let w = CitationWire::deserialize(d)?;
        Ok(Citation {
            reference_id: w.reference_id.into_owned(),
            title: w.title.into_owned(),
            edition: w.edition.into_owned(),
            clause: Text::new(w.clause, w.clause_zh),
            passage_id: w.passage_id.into_owned(),
            passage: Text::new(w.passage_en, w.passage_zh),
            verification: w.verification,
            edge_convention: w.edge_convention.into_owned(),
        })
    }
}

crate::text::schema_from_wire!(Citation => CitationWire<'static>);

#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    #[error("{file}: not a valid reference library: {message}")]
    Parse { file: String, message: String },
    #[error("{file}: passage `{passage}`: key `{key}` {problem}")]
    Invalid { file: String, passage: String, key: &'static str, problem: String },
    /// A document id loaded twice with different content; `at` is `file:line` of the second.
    #[error("{at}: document `{id}`: {problem}")]
    DocumentClash { at: String, id: String, problem: String },
}

/// `file:line`, with a ` (built in)` suffix of the file name moved after the line.
pub fn file_line(file: &str, line: usize) -> String {
    match file.strip_suffix(" (built in)") {
        Some(f) => format!("{f}:{line} (built in)"),
        None => format!("{file}:{line}"),
    }
}

#[derive(Debug, Clone)]
pub struct Library {
    documents: HashMap<String, Document>,
    /// Where each document was defined (file, line), for errors naming both files.
    origins: HashMap<String, (String, usize)>,
    passages: HashMap<String, PassageRecord>,
}

impl Library {
    /// The library embedded in the binary.
    pub fn builtin() -> Result<Library, KnowledgeError> {
        Self::parse(BUILTIN_NAME, BUILTIN)
    }

    /// Parse and validate a library file. `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Library, KnowledgeError> {
        let raw: LibraryFile = toml::from_str(text)
            .map_err(|e| KnowledgeError::Parse { file: file.to_string(), message: e.to_string() })?;
        let mut documents = HashMap::new();
        let mut origins = HashMap::new();
        for sd in raw.document {
            let line = crate::location::Location::from_span(text, sd.span()).line;
            let d = sd.into_inner();
            if documents.contains_key(&d.id) {
                return Err(KnowledgeError::Parse {
                    file: file.into(),
                    message: format!("duplicate document id `{}`", d.id),
                });
            }
            origins.insert(d.id.clone(), (file.to_string(), line));
            documents.insert(d.id.clone(), d);
        }
        let mut passages = HashMap::new();
        for p in raw.passage {
            let invalid = |key, problem: String| KnowledgeError::Invalid {
                file: file.into(),
                passage: p.id.clone(),
                key,
                problem,
            };
            if !documents.contains_key(&p.document) {
                return Err(invalid("document", format!("= \"{}\" names no [[document]] in the library", p.document)));
            }
            for (key, value) in
                [("clause", &p.clause), ("edge", &p.edge), ("text_en", &p.text_en), ("text_zh", &p.text_zh)]
            {
                if value.trim().is_empty() {
                    return Err(invalid(
                        key,
                        "is empty: every cited passage needs its clause, edge convention and text in en and zh".into(),
                    ));
                }
            }
            if passages.contains_key(&p.id) {
                return Err(invalid("id", "is a duplicate".into()));
            }
            passages.insert(p.id.clone(), p);
        }
        Ok(Library { documents, origins, passages })
    }

    /// Add another library's documents and passages (a pack's references). A passage id
    /// already present is an error; a document id already present must be the same document
    /// (the same title, edition and language: the built-in DGA pack repeats the built-in
    /// library's documents), else it is an error naming both files.
    pub fn merge(&mut self, other: Library) -> Result<(), KnowledgeError> {
        let mut ids: Vec<&String> = other.documents.keys().collect();
        ids.sort();
        for id in ids {
            let (Some(have), Some(new)) = (self.documents.get(id), other.documents.get(id)) else { continue };
            let differs = [
                ("title", &new.title, &have.title),
                ("edition", &new.edition, &have.edition),
                ("language", &new.language, &have.language),
            ]
            .into_iter()
            .find(|(_, a, b)| a != b);
            if let Some((key, value, other_value)) = differs {
                let origin = |lib: &Library| {
                    lib.origins.get(id).map_or_else(|| "(unknown file)".into(), |(f, l)| file_line(f, *l))
                };
                return Err(KnowledgeError::DocumentClash {
                    at: origin(&other),
                    id: id.clone(),
                    problem: format!(
                        "key `{key}` = {value:?} differs from the document `{id}` already loaded from {} \
                         ({key} = {other_value:?}): one document id names one document, and the citations of \
                         both files would show the first; give this document an id of your own, or copy the \
                         loaded one exactly",
                        origin(self)
                    ),
                });
            }
        }
        for (id, d) in other.documents {
            if !self.documents.contains_key(&id) {
                if let Some(o) = other.origins.get(&id) {
                    self.origins.insert(id.clone(), o.clone());
                }
                self.documents.insert(id, d);
            }
        }
        for (id, p) in other.passages {
            if self.passages.contains_key(&id) {
                return Err(KnowledgeError::Invalid {
                    file: "(merged library)".into(),
                    passage: id,
                    key: "id",
                    problem: "is already defined by another reference file".into(),
                });
            }
            self.passages.insert(id, p);
        }
        Ok(())
    }

    /// Every passage id.
    pub fn passage_ids(&self) -> impl Iterator<Item = &str> {
        self.passages.keys().map(|s| s.as_str())
    }

    /// The citation of a passage, if the library has it.
    pub fn citation(&self, passage_id: &str) -> Option<Citation> {
        let p = self.passages.get(passage_id)?;
        let d = self.documents.get(&p.document)?;
        Some(Citation {
            reference_id: d.id.clone(),
            title: d.title.clone(),
            edition: d.edition.clone(),
            clause: Text::new(p.clause.clone(), p.clause_zh.clone()),
            passage_id: p.id.clone(),
            passage: Text::new(p.text_en.clone(), p.text_zh.clone()),
            verification: p.verification,
            edge_convention: p.edge.clone(),
        })
    }

    pub fn documents(&self) -> impl Iterator<Item = &Document> {
        self.documents.values()
    }

    pub fn passage_count(&self) -> usize {
        self.passages.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_library_is_valid_and_every_passage_resolves() {
        let lib = Library::builtin().unwrap();
        assert!(lib.passage_count() >= 7);
        for id in lib.passages.keys() {
            let c = lib.citation(id).unwrap();
            assert!(!c.passage.en.is_empty() && !c.passage.zh.is_empty() && !c.clause.en.is_empty());
        }
    }

    #[test]
    fn corrupt_libraries_are_named_errors() {
        let missing_doc = r#"
document = []
[[passage]]
id = "x"
document = "nope"
clause = "1"
verification = "verified"
edge = "e"
text_en = "t"
text_zh = "t"
"#;
        let e = Library::parse("lib.toml", missing_doc).unwrap_err().to_string();
        assert!(e.contains("lib.toml") && e.contains("`x`") && e.contains("document") && e.contains("nope"), "{e}");

        let bad_verification = BUILTIN.replacen("\nverification = \"verified\"", "\nverification = \"trust-me\"", 1);
        let e = Library::parse("lib.toml", &bad_verification).unwrap_err().to_string();
        assert!(e.contains("lib.toml") && e.contains("trust-me"), "{e}");

        let empty_text = BUILTIN.replacen("clause = \"Annex B", "clause = \"\" # Annex B", 1);
        let e = Library::parse("lib.toml", &empty_text).unwrap_err().to_string();
        assert!(e.contains("iec60599.duval-triangle-1") && e.contains("`clause`") && e.contains("empty"), "{e}");
    }
}
