//! Importers: Markdown and plain text (numbered headings or paragraphs) split into
//! sections with anchors and passages, and past failure cases (`[[case]]` TOML).

use super::query::is_cjk;
use super::{RefVerification, SearchError};

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
