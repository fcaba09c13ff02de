//! The bilingual domain glossary: names of the same thing in English and Chinese (gases and
//! their formulas, equipment, methods, standards' names and numbers, units, zone and
//! severity words). Reference search expands a question through it both ways, so
//! "hydrogen" finds a passage written with H2 and 乙炔 one written in English. A term that
//! is a value of an asset parameter (`param`, `value`: machine group 2, a rigid
//! foundation, insulation class F) lets search rank by the asset and say when an answer
//! depends on a parameter the question does not fix.
//!
//! The built-in glossary is `src/knowledge/glossary.toml` plus each shipped pack's
//! `glossary.toml`; a plant pack extends it with a `glossary.toml` beside its `pack.toml`.
//! A bad file is an error naming `file:line`, the key and why.

use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The glossaries built into the binary: (file name for errors, text).
pub const BUILTIN: &[(&str, &str)] = &[
    ("src/knowledge/glossary.toml (built in)", include_str!("glossary.toml")),
    (
        "configs/packs/transformer-dga/glossary.toml (built in)",
        include_str!("../../configs/packs/transformer-dga/glossary.toml"),
    ),
    ("configs/packs/rotating/glossary.toml (built in)", include_str!("../../configs/packs/rotating/glossary.toml")),
    (
        "configs/packs/thermography/glossary.toml (built in)",
        include_str!("../../configs/packs/thermography/glossary.toml"),
    ),
    (
        "configs/packs/motor-supply/glossary.toml (built in)",
        include_str!("../../configs/packs/motor-supply/glossary.toml"),
    ),
    ("configs/packs/battery/glossary.toml (built in)", include_str!("../../configs/packs/battery/glossary.toml")),
];

/// What a term names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TermKind {
    Gas,
    Equipment,
    Component,
    Method,
    Standard,
    Unit,
    Quantity,
    Zone,
    Severity,
    Parameter,
    Change,
    Fault,
    /// A generic word (limit, criterion, content): weighs half and does not alone support.
    Generic,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryRecord {
    id: String,
    kind: TermKind,
    #[serde(default)]
    en: Vec<String>,
    #[serde(default)]
    zh: Vec<String>,
    /// The asset parameter this term is a value of (`vibration.group`, `insulation_class`).
    #[serde(default)]
    param: Option<String>,
    /// The parameter's value as the config writes it (`group2`, `rigid`, `F`).
    #[serde(default)]
    value: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GlossaryFile {
    #[serde(default)]
    term: Vec<toml::Spanned<EntryRecord>>,
}

/// One concept with its names.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: String,
    pub kind: TermKind,
    pub en: Vec<String>,
    pub zh: Vec<String>,
    pub param: Option<String>,
    pub value: Option<String>,
    /// `file:line` where it was (first) defined.
    pub at: String,
}

impl Entry {
    /// Every name, English then Chinese.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.en.iter().chain(self.zh.iter()).map(|s| s.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GlossaryError {
    #[error("{file}: cannot read glossary: {source}")]
    Read { file: String, source: std::io::Error },
    #[error("{file}: not a valid glossary: {message}")]
    Parse { file: String, message: String },
    #[error("{at}: term `{id}`: key `{key}` {problem}")]
    Invalid { at: String, id: String, key: &'static str, problem: String },
}

/// The loaded glossary: entries and an index from each lowercased name to its entry.
#[derive(Debug, Clone, Default)]
pub struct Glossary {
    entries: Vec<Entry>,
    by_name: HashMap<String, usize>,
}

/// Lowercased, inner whitespace collapsed: how names are compared.
pub fn normalize(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

impl Glossary {
    /// The built-in glossary (the library's and the shipped packs').
    pub fn builtin() -> Result<Glossary, GlossaryError> {
        let mut g = Glossary::default();
        for (file, text) in BUILTIN {
            g.add_file(file, text)?;
        }
        Ok(g)
    }

    /// The built-in glossary (when `builtin`) and every `glossary.toml` beside a pack under
    /// the pack directories (`dir/glossary.toml` or `dir/*/glossary.toml`).
    pub fn load(builtin: bool, dirs: &[PathBuf]) -> Result<Glossary, GlossaryError> {
        let mut g = if builtin { Glossary::builtin()? } else { Glossary::default() };
        for dir in dirs {
            for file in glossary_files(dir) {
                let text = std::fs::read_to_string(&file)
                    .map_err(|source| GlossaryError::Read { file: file.display().to_string(), source })?;
                g.add_file(&file.display().to_string(), &text)?;
            }
        }
        Ok(g)
    }

    /// Parse one glossary file and add it. An id already loaded gains the new names (a plant
    /// pack extends a shipped entry); a name that already belongs to another entry, an entry
    /// without names, or `param` without `value` is an error at `file:line`.
    pub fn add_file(&mut self, file: &str, text: &str) -> Result<(), GlossaryError> {
        let raw: GlossaryFile = toml::from_str(text).map_err(|e| GlossaryError::Parse {
            file: file.to_string(),
            message: match e.span() {
                Some(s) => {
                    format!("line {}: {}", crate::location::Location::from_span(text, s).line, e.message().trim_end())
                }
                None => e.message().to_string(),
            },
        })?;
        for sr in raw.term {
            let line = crate::location::Location::from_span(text, sr.span()).line;
            let at = super::file_line(file, line);
            let r = sr.into_inner();
            let invalid =
                |key, problem: String| GlossaryError::Invalid { at: at.clone(), id: r.id.clone(), key, problem };
            if r.id.trim().is_empty() {
                return Err(invalid("id", "is empty".into()));
            }
            if r.en.is_empty() && r.zh.is_empty() {
                return Err(invalid("en", "and `zh` are both empty: a term needs at least one name".into()));
            }
            for (key, names) in [("en", &r.en), ("zh", &r.zh)] {
                if let Some(n) = names.iter().find(|n| n.trim().is_empty()) {
                    return Err(invalid(key, format!("holds an empty name ({n:?})")));
                }
            }
            if r.param.is_some() != r.value.is_some() {
                return Err(invalid("param", "and `value` go together: give both or neither".into()));
            }
            let idx = match self.entries.iter().position(|e| e.id == r.id) {
                Some(i) => {
                    let e = &self.entries[i];
                    if e.kind != r.kind || (r.param.is_some() && (e.param != r.param || e.value != r.value)) {
                        return Err(invalid(
                            "kind",
                            format!(
                                "differs from the term `{}` defined at {}: an extension may only add names",
                                r.id, e.at
                            ),
                        ));
                    }
                    i
                }
                None => {
                    self.entries.push(Entry {
                        id: r.id.clone(),
                        kind: r.kind,
                        en: Vec::new(),
                        zh: Vec::new(),
                        param: r.param.clone(),
                        value: r.value.clone(),
                        at: at.clone(),
                    });
                    self.entries.len() - 1
                }
            };
            for (zh, names) in [(false, &r.en), (true, &r.zh)] {
                for n in names {
                    let key = normalize(n);
                    match self.by_name.get(&key) {
                        Some(&other) if other != idx => {
                            let o = &self.entries[other];
                            return Err(invalid(
                                if zh { "zh" } else { "en" },
                                format!(
                                    "name {n:?} already names the term `{}` ({}): one name, one concept",
                                    o.id, o.at
                                ),
                            ));
                        }
                        Some(_) => {}
                        None => {
                            self.by_name.insert(key, idx);
                            let e = &mut self.entries[idx];
                            if zh {
                                e.zh.push(n.trim().to_string());
                            } else {
                                e.en.push(n.trim().to_string());
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn entry(&self, i: usize) -> &Entry {
        &self.entries[i]
    }

    /// The entry a name (any case) belongs to.
    pub fn lookup(&self, name: &str) -> Option<usize> {
        self.by_name.get(&normalize(name)).copied()
    }

    /// Every (normalized name, entry index).
    pub fn names(&self) -> impl Iterator<Item = (&str, usize)> {
        self.by_name.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// A fingerprint of the Chinese names (they change how text is segmented).
    pub fn zh_fingerprint(&self) -> String {
        use sha2::Digest;
        let mut zh: Vec<&str> = self.entries.iter().flat_map(|e| e.zh.iter().map(|s| s.as_str())).collect();
        zh.sort();
        hex::encode(&sha2::Sha256::digest(zh.join("\n").as_bytes())[..8])
    }
}

fn glossary_files(dir: &Path) -> Vec<PathBuf> {
    let direct = dir.join("glossary.toml");
    if direct.is_file() {
        return vec![direct];
    }
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path().join("glossary.toml")).filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_glossary_is_valid_and_bilingual() {
        let g = Glossary::builtin().unwrap();
        let h2 = g.lookup("hydrogen").unwrap();
        assert_eq!(g.lookup("H2"), Some(h2));
        assert_eq!(g.lookup("氢气"), Some(h2));
        let c2h2 = g.lookup("乙炔").unwrap();
        assert_eq!(g.lookup("Acetylene"), Some(c2h2));
        assert_eq!(g.lookup("c2h2"), Some(c2h2));
        assert!(g.entries().len() >= 40, "{}", g.entries().len());
        for e in g.entries() {
            assert!(!e.en.is_empty() && !e.zh.is_empty(), "term `{}` ({}) needs both languages", e.id, e.at);
        }
        let group = g.entry(g.lookup("第 2 组").unwrap());
        assert_eq!((group.param.as_deref(), group.value.as_deref()), (Some("vibration.group"), Some("group2")));
    }

    #[test]
    fn bad_glossaries_are_errors_at_file_and_line() {
        let mut g = Glossary::builtin().unwrap();
        let e = g.add_file(
            "plant/glossary.toml",
            "\n[[term]]\nid = \"x\"\nkind = \"gas\"\nen = [\"hydrogen\"]\nzh = [\"某气\"]\n",
        );
        let e = e.unwrap_err().to_string();
        assert!(e.contains("plant/glossary.toml:2") && e.contains("hydrogen") && e.contains("gas.h2"), "{e}");
        let e = g.add_file("p.toml", "[[term]]\nid = \"y\"\nkind = \"gas\"\n").unwrap_err().to_string();
        assert!(e.contains("p.toml:1") && e.contains("`y`") && e.contains("at least one name"), "{e}");
        let e =
            g.add_file("p.toml", "[[term]]\nid = \"y\"\nkind = \"colour\"\nen = [\"red\"]\n").unwrap_err().to_string();
        assert!(e.contains("p.toml") && e.contains("line 3") && e.contains("colour"), "{e}");
        let e = g
            .add_file("p.toml", "[[term]]\nid = \"y\"\nkind = \"zone\"\nen = [\"q\"]\nparam = \"vibration.group\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`param`") && e.contains("value"), "{e}");
        // A plant pack extends a shipped term with its own names.
        g.add_file("plant/glossary.toml", "[[term]]\nid = \"gas.h2\"\nkind = \"gas\"\nzh = [\"氢\"]\n").unwrap();
        assert_eq!(g.lookup("氢"), g.lookup("hydrogen"));
    }

    #[test]
    fn plant_pack_directories_add_their_glossary() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("plant")).unwrap();
        std::fs::write(
            dir.path().join("plant/glossary.toml"),
            "[[term]]\nid = \"plant.pump\"\nkind = \"equipment\"\nen = [\"booster pump\"]\nzh = [\"增压泵\"]\n",
        )
        .unwrap();
        let g = Glossary::load(true, &[dir.path().to_path_buf()]).unwrap();
        assert_eq!(g.lookup("增压泵"), g.lookup("booster pump"));
        assert!(g.lookup("增压泵").is_some());
        std::fs::write(dir.path().join("plant/glossary.toml"), "[[term]]\nid = 3\n").unwrap();
        let e = Glossary::load(true, &[dir.path().to_path_buf()]).unwrap_err().to_string();
        assert!(e.contains("plant/glossary.toml") && e.contains("line 2"), "{e}");
    }
}
