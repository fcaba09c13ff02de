//! A question taken apart: glossary concepts (matched longest first, both languages),
//! Chinese words (jieba, with the glossary's Chinese names in its dictionary), Latin words
//! and numbers, each with a weight; and how a passage's text covers them.

use crate::knowledge::glossary::{Glossary, TermKind};
use std::sync::{Arc, OnceLock};

/// The glossary and the segmenter built from it (the segmenter knows the glossary's
/// Chinese names as words).
pub struct Lexicon {
    pub glossary: Glossary,
    jieba: jieba_rs::Jieba,
    /// (normalized name, entry), longest first, plus the space-less form of CJK names.
    phrases: Vec<(String, usize)>,
    /// For each name, the longer names of other concepts that contain it ("temperature" ->
    /// "temperature rise"): an occurrence inside one of those is the other concept.
    containers: std::collections::HashMap<String, Vec<String>>,
    fingerprint: String,
}

impl std::fmt::Debug for Lexicon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lexicon").field("terms", &self.glossary.entries().len()).finish()
    }
}

pub fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FFFF)
}

fn has_cjk(s: &str) -> bool {
    s.chars().any(is_cjk)
}

impl Lexicon {
    pub fn new(glossary: Glossary) -> Lexicon {
        let mut jieba = jieba_rs::Jieba::new();
        let mut phrases: Vec<(String, usize)> = Vec::new();
        for (name, i) in glossary.names() {
            phrases.push((name.to_string(), i));
            if has_cjk(name) && name.contains(' ') {
                phrases.push((name.replace(' ', ""), i));
            }
        }
        for (name, _) in &phrases {
            if has_cjk(name) && name.chars().all(is_cjk) {
                jieba.add_word(name, Some(200_000), None);
            }
        }
        phrases.sort_by(|a, b| b.0.chars().count().cmp(&a.0.chars().count()).then_with(|| a.0.cmp(&b.0)));
        phrases.dedup();
        let mut containers: std::collections::HashMap<String, Vec<String>> = Default::default();
        for (a, ia) in &phrases {
            for (b, ib) in &phrases {
                if ia != ib && b.len() > a.len() && b.contains(a.as_str()) {
                    containers.entry(a.clone()).or_default().push(b.clone());
                }
            }
        }
        let fingerprint = glossary.zh_fingerprint();
        Lexicon { glossary, jieba, phrases, containers, fingerprint }
    }

    /// The built-in glossary's lexicon, built once per process.
    pub fn builtin() -> Arc<Lexicon> {
        static B: OnceLock<Arc<Lexicon>> = OnceLock::new();
        B.get_or_init(|| Arc::new(Lexicon::new(Glossary::builtin().expect("the built-in glossary is valid")))).clone()
    }

    /// What the stored word index depends on.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The words of a text's Chinese runs for the word index (search mode: long words and
    /// the dictionary words inside them), space-separated.
    pub fn index_words(&self, text: &str) -> String {
        let mut out = String::new();
        for run in cjk_runs(text) {
            for t in self.jieba.cut_for_search(run, true) {
                if t.word.chars().any(is_cjk) {
                    out.push_str(t.word);
                    out.push(' ');
                }
            }
        }
        out
    }
}

fn cjk_runs(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (is_cjk(c), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push(&text[s..i]);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(&text[s..]);
    }
    out
}

const STOP: &[&str] = &[
    "a",
    "an",
    "the",
    "of",
    "to",
    "in",
    "on",
    "at",
    "is",
    "are",
    "be",
    "was",
    "what",
    "how",
    "why",
    "when",
    "which",
    "for",
    "and",
    "or",
    "with",
    "my",
    "do",
    "does",
    "i",
    "it",
    "its",
    "should",
    "can",
    "we",
    "this",
    "that",
    "there",
    "about",
    "from",
    "by",
    "as",
    "if",
    "mean",
    "means",
    "tell",
    "say",
    "says",
    "value",
    "values",
    "between",
    "than",
    "me",
    "you",
    "any",
    "per",
    "who",
    "where",
    "will",
    "would",
    "much",
    "many",
    "need",
    "get",
    "has",
    "have",
    "used",
    "use",
    "according",
    "given",
    "s",
    "applied",
    "after",
    "before",
    "during",
    "apply",
    "may",
    "might",
    "must",
    "could",
    "happens",
    "handle",
    "treat",
    "done",
    "called",
    "kind",
];
const CJK_STOP: &[&str] = &[
    "怎么办",
    "怎么",
    "什么",
    "如何",
    "是否",
    "哪些",
    "哪个",
    "多少",
    "多大",
    "说明",
    "表示",
    "意味着",
    "请问",
    "一下",
    "的",
    "了",
    "吗",
    "呢",
    "是",
    "和",
    "与",
    "及",
    "在",
    "时",
    "为",
    "有",
    "应",
    "该",
    "对",
    "按",
    "用",
    "把",
    "被",
    "要",
    "会",
    "能",
    "可以",
    "需要",
    "应该",
    "这个",
    "那个",
    "我",
    "我们",
    "规定",
    "给出",
    "情况",
    "问题",
    "时候",
    "之间",
    "其",
    "或",
    "都",
    "还",
    "就",
    "怎样",
    "这",
    "那",
    "个",
    "里",
    "中",
    "能否",
    "判为",
    "判定为",
    "判断为",
    "可否",
];

/// One term of a question.
#[derive(Debug, Clone, PartialEq)]
pub struct QTerm {
    /// As the question wrote it (lowercased).
    pub text: String,
    /// The glossary entry it names, if any.
    pub concept: Option<usize>,
    /// The forms a passage may hold (normalized): the term itself, or every name of the
    /// concept.
    pub alts: Vec<String>,
    pub weight: f64,
    pub number: bool,
}

impl QTerm {
    fn plain(text: String, weight: f64, number: bool) -> QTerm {
        QTerm { alts: vec![text.clone()], text, concept: None, weight, number }
    }
}

fn concept_weight(kind: TermKind) -> f64 {
    match kind {
        TermKind::Unit | TermKind::Generic | TermKind::Change => 1.0,
        _ => 2.0,
    }
}

fn alnum(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() && !is_cjk(c))
}

/// Whether `name` may match at byte `at` of `s` (Latin names at word boundaries).
fn bounded(s: &str, at: usize, name: &str) -> bool {
    let first = name.chars().next();
    let last = name.chars().next_back();
    let before = s[..at].chars().next_back();
    let after = s[at + name.len()..].chars().next();
    let start_ok = !alnum(first) || !alnum(before);
    let end_ok = !alnum(last) || !alnum(after);
    // "7.1" must not match inside "7.15" or "17.1".
    let num_ok = !(last.is_some_and(|c| c.is_ascii_digit())
        && after == Some('.')
        && s[at + name.len() + 1..].chars().next().is_some_and(|c| c.is_ascii_digit()));
    start_ok && end_ok && num_ok
}

/// The normalized question: lowercase, whitespace collapsed, full-width ASCII folded.
fn normalize_question(q: &str) -> String {
    let folded: String = q
        .chars()
        .map(|c| match c as u32 {
            0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            0x3000 => ' ',
            _ => c,
        })
        .collect();
    crate::knowledge::glossary::normalize(&folded)
}

/// Split a question into weighted terms.
pub fn analyze(lex: &Lexicon, q: &str) -> Vec<QTerm> {
    let s = normalize_question(q);
    let mut masked = vec![false; s.len()];
    let mut out: Vec<QTerm> = Vec::new();
    // Glossary names, longest first.
    for (name, entry) in &lex.phrases {
        let mut from = 0;
        while let Some(i) = s[from..].find(name.as_str()) {
            let at = from + i;
            from = at + name.len();
            if masked[at..at + name.len()].iter().any(|m| *m) || !bounded(&s, at, name) {
                continue;
            }
            masked[at..at + name.len()].iter_mut().for_each(|m| *m = true);
            if out.iter().any(|t| t.concept == Some(*entry)) {
                continue;
            }
            let e = lex.glossary.entry(*entry);
            let mut alts: Vec<String> =
                e.names().map(crate::knowledge::glossary::normalize).filter(|n| !n.is_empty()).collect();
            for n in alts.clone() {
                if has_cjk(&n) && n.contains(' ') {
                    alts.push(n.replace(' ', ""));
                }
            }
            alts.dedup();
            out.push(QTerm {
                text: name.clone(),
                concept: Some(*entry),
                alts,
                weight: concept_weight(e.kind),
                number: false,
            });
        }
    }
    // The rest: Latin words and numbers, Chinese words.
    let rest: String = s.char_indices().map(|(i, c)| if masked[i] { ' ' } else { c }).collect();
    let mut word = String::new();
    let mut run = String::new();
    let push = |t: QTerm, out: &mut Vec<QTerm>| {
        if !out.iter().any(|o| o.text == t.text) {
            out.push(t);
        }
    };
    let flush_word = |w: &mut String, out: &mut Vec<QTerm>| {
        let t = w.trim_end_matches('.').to_string();
        w.clear();
        if t.is_empty() || STOP.contains(&t.as_str()) {
            return;
        }
        let number = t.parse::<f64>().is_ok();
        if t.chars().count() < 2 && !number {
            return;
        }
        push(QTerm::plain(t, 1.0, number), out);
    };
    let flush_run = |r: &mut String, out: &mut Vec<QTerm>| {
        if r.is_empty() {
            return;
        }
        for tok in lex.jieba.cut(r, true) {
            let w = tok.word;
            if CJK_STOP.contains(&w) {
                continue;
            }
            let weight = if w.chars().count() == 1 { 0.5 } else { 1.0 };
            if !out.iter().any(|o| o.text == w) {
                out.push(QTerm::plain(w.to_string(), weight, false));
            }
        }
        r.clear();
    };
    for c in rest.chars() {
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
    out
}

/// Characters of content in the question's terms (what the minimum-content rule counts).
pub fn content_chars(ts: &[QTerm]) -> usize {
    ts.iter().map(|t| t.text.chars().filter(|c| !c.is_whitespace()).count()).sum()
}

/// One term found in a passage: the question's words and the form the passage holds.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Matched {
    /// The question's words.
    pub term: String,
    /// What the passage holds (another name of the same concept when expanded).
    pub via: String,
    /// The glossary term id when the match went through the glossary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concept: Option<String>,
}

/// How a passage covers the question's terms: the weighted share found in `text`,
/// `clause` or the document's `title`, the matches, and byte ranges in `text`.
pub struct Coverage {
    pub share: f64,
    pub matched: Vec<Matched>,
    pub ranges: Vec<(usize, usize)>,
    /// Matched weight of specific terms (not units, quantities or change words).
    pub specific: f64,
}

/// Occurrences of a concept's name that are not inside a longer name of another concept.
fn find_concept(lex: &Lexicon, hay: &str, alt: &str) -> Vec<(usize, usize)> {
    let mut v = find_all(hay, alt, false);
    if v.is_empty() {
        return v;
    }
    if let Some(longer) = lex.containers.get(alt) {
        let mut covered: Vec<(usize, usize)> = Vec::new();
        for l in longer {
            covered.extend(find_all(hay, l, false));
        }
        v.retain(|(s, e)| !covered.iter().any(|(cs, ce)| cs <= s && e <= ce));
    }
    v
}

fn find_all(hay: &str, alt: &str, plain_prefix: bool) -> Vec<(usize, usize)> {
    let mut v = Vec::new();
    let mut from = 0;
    while let Some(i) = hay[from..].find(alt) {
        let at = from + i;
        from = at + alt.len();
        if has_cjk(alt) {
            v.push((at, at + alt.len()));
            continue;
        }
        if plain_prefix {
            // A plain word of 4+ letters matches words it begins ("bearing" -> "bearings").
            let before = hay[..at].chars().next_back();
            if alnum(before) {
                continue;
            }
            let mut e = at + alt.len();
            while let Some(c) = hay[e..].chars().next().filter(|c| alnum(Some(*c))) {
                e += c.len_utf8();
            }
            if e - at - alt.len() <= 3 {
                v.push((at, e));
            }
        } else if bounded(hay, at, alt) {
            v.push((at, at + alt.len()));
        }
    }
    v
}

/// `text` lowercased with full-width ASCII folded, and for each byte of the result the byte
/// of `text` it came from (so match ranges map back for highlighting).
fn fold_map(text: &str) -> (String, Vec<usize>) {
    let mut out = String::with_capacity(text.len());
    let mut map = Vec::with_capacity(text.len() + 1);
    for (i, c) in text.char_indices() {
        let f = match c as u32 {
            0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            0x3000 => ' ',
            _ => c,
        };
        for l in f.to_lowercase() {
            for _ in 0..l.len_utf8() {
                map.push(i);
            }
            out.push(l);
        }
    }
    map.push(text.len());
    (out, map)
}

pub fn coverage(lex: &Lexicon, ts: &[QTerm], text: &str, clause: &str, title: &str) -> Coverage {
    let (lower, map) = fold_map(text);
    let back = |(s, e): (usize, usize)| -> (usize, usize) {
        let end = if e >= map.len() - 1 { text.len() } else { map[e] };
        (map[s], end.max(map[s]))
    };
    let rest = format!("{} \u{1} {}", fold_map(clause).0, fold_map(title).0);
    let (mut got, mut total, mut specific) = (0.0, 0.0, 0.0);
    let mut matched = Vec::new();
    let mut ranges = Vec::new();
    for t in ts {
        total += t.weight;
        let mut via = None;
        for alt in &t.alts {
            let prefix = t.concept.is_none() && !t.number && alt.chars().count() >= 4 && !has_cjk(alt);
            let find = |h: &str| if t.concept.is_some() { find_concept(lex, h, alt) } else { find_all(h, alt, prefix) };
            let r = find(&lower);
            let hit = !r.is_empty() || !find(&rest).is_empty();
            ranges.extend(r.into_iter().map(back));
            if hit && via.is_none() {
                via = Some(alt.clone());
            }
        }
        if let Some(v) = via {
            got += t.weight;
            let kind = t.concept.map(|c| lex.glossary.entry(c).kind);
            if !matches!(kind, Some(TermKind::Unit | TermKind::Generic | TermKind::Change)) && !t.number {
                specific += t.weight;
            }
            matched.push(Matched {
                term: t.text.clone(),
                via: v,
                concept: t.concept.map(|c| lex.glossary.entry(c).id.clone()),
            });
        }
    }
    Coverage { share: if total > 0.0 { got / total } else { 0.0 }, matched, ranges, specific }
}

/// The values of asset parameters a text mentions: (param, value) pairs, from the
/// glossary's parameter terms.
pub fn param_values(lex: &Lexicon, text: &str) -> Vec<(String, String)> {
    let lower = normalize_question(text);
    let mut out: Vec<(String, String)> = Vec::new();
    for e in lex.glossary.entries() {
        let (Some(p), Some(v)) = (&e.param, &e.value) else { continue };
        let hit = e.names().any(|n| {
            let n = crate::knowledge::glossary::normalize(n);
            !find_all(&lower, &n, false).is_empty()
                || (has_cjk(&n) && !find_all(&lower, &n.replace(' ', ""), false).is_empty())
        });
        if hit && !out.iter().any(|(a, b)| a == p && b == v) {
            out.push((p.clone(), v.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(ts: &[QTerm]) -> Vec<&str> {
        ts.iter().map(|t| t.text.as_str()).collect()
    }

    #[test]
    fn chinese_is_segmented_into_words_and_glossary_terms() {
        let lex = Lexicon::builtin();
        let ts = analyze(&lex, "F 级绝缘绕组最高允许温度");
        let mut got = texts(&ts);
        got.sort();
        assert_eq!(got, ["f 级绝缘", "最高允许", "温度", "绕组"], "{ts:?}");
        let ts = analyze(&lex, "乙炔含量高说明什么？");
        assert_eq!(texts(&ts), ["乙炔", "含量", "高"], "{ts:?}");
        // Words the glossary does not know are still words, not one run.
        let ts = analyze(&lex, "冷却风扇运行正常");
        assert!(ts.len() >= 3 && ts.iter().all(|t| t.concept.is_none() || t.text == "冷却"), "{ts:?}");
    }

    #[test]
    fn glossary_expands_both_ways() {
        let lex = Lexicon::builtin();
        let ts = analyze(&lex, "hydrogen limit");
        assert!(ts[0].alts.contains(&"h2".to_string()) && ts[0].alts.contains(&"氢气".to_string()), "{ts:?}");
        let c = coverage(&lex, &ts[..1], "H2 150, CH4 130", "", "");
        assert_eq!(c.share, 1.0);
        assert_eq!(c.matched[0].via, "h2");
        assert_eq!(c.matched[0].concept.as_deref(), Some("gas.h2"));
        let ts = analyze(&lex, "乙炔");
        let c = coverage(&lex, &ts, "For acetylene any increase is significant.", "", "");
        assert_eq!((c.share, c.matched[0].via.as_str()), (1.0, "acetylene"));
        // Formulas match whole: CO is not CO2, 7.1 is not 17.1.
        let ts = analyze(&lex, "CO");
        assert_eq!(coverage(&lex, &ts, "CO2 14 000", "", "").share, 0.0);
        let ts = analyze(&lex, "7.1");
        assert_eq!(coverage(&lex, &ts, "17.1 and 7.15", "", "").share, 0.0);
        assert_eq!(coverage(&lex, &ts, "7.1 mm/s (C/D)", "", "").share, 1.0);
    }

    #[test]
    fn parameter_values_are_read_from_text() {
        let lex = Lexicon::builtin();
        let v = param_values(&lex, "For medium machines of group 2 on rigid foundations");
        assert!(v.contains(&("vibration.group".into(), "group2".into())), "{v:?}");
        assert!(v.contains(&("vibration.foundation".into(), "rigid".into())), "{v:?}");
        let v = param_values(&lex, "乙炔 330 kV 及以上为 1，220 kV 及以下为 5");
        assert_eq!(v.len(), 2, "{v:?}");
    }
}
