use super::import::{import_cases, import_text};
use super::*;
use crate::knowledge::Library;

fn index() -> RefIndex {
    let mut ix = RefIndex::in_memory().unwrap();
    // The built-in library only (packs add theirs in the diagnose layer's tests).
    ix.load_library(&Library::builtin().unwrap()).unwrap();
    ix
}

fn ids(r: &SearchResult) -> Vec<&str> {
    r.results.iter().map(|h| h.passage_id.as_str()).collect()
}

#[test]
fn questions_split_into_concepts_words_and_numbers() {
    let lex = query::Lexicon::builtin();
    let t = |q: &str| -> Vec<String> {
        let mut v: Vec<String> = query::analyze(&lex, q).into_iter().map(|t| t.text).collect();
        v.sort();
        v
    };
    assert_eq!(t("What is the Duval triangle for C2H2?"), ["c2h2", "duval triangle"]);
    assert_eq!(t("变压器乙炔怎么办"), ["乙炔", "变压器"]);
    assert_eq!(t("乙炔 DL/T 722"), ["dl/t 722", "乙炔"]);
    assert_eq!(t("7.1 mm/s, which zone?"), ["7.1", "mm/s", "zone"]);
    assert!(t("the of ? 的").is_empty());
}

#[test]
fn english_search_ranks_the_passage_and_highlights() {
    let ix = index();
    let r = ix.search("Duval triangle zones", "en", 5, &[]).unwrap();
    assert!(r.supported, "{r:?}");
    assert_eq!(r.results[0].passage_id, "iec60599.duval-triangle-1");
    assert_eq!(r.results[0].lang, "en");
    assert_eq!(r.results[0].verification, RefVerification::Verified);
    assert!(r.results[0].highlight.contains("<mark>triangle</mark>"), "{}", r.results[0].highlight);
    // Escaped outside the marks: ">= 98 %" becomes "&gt;= 98 %".
    assert!(r.results[0].highlight.contains("&gt;="));
    assert!(!r.results[0].highlight.replace("<mark>", "").replace("</mark>", "").contains('<'));
    let r = ix.search("vibration zone boundaries rigid foundation", "en", 5, &[]).unwrap();
    assert!(r.supported);
    assert!(ids(&r)[0].starts_with("iso10816-3."), "{:?}", ids(&r));
}

#[test]
fn chinese_search_long_and_short_terms() {
    let ix = index();
    // 3+ characters: trigram index.
    let r = ix.search("刚性基础", "zh", 5, &[]).unwrap();
    assert!(r.supported, "{r:?}");
    assert!(ids(&r).iter().all(|i| i.starts_with("iso10816-3.")), "{:?}", ids(&r));
    assert_eq!(r.results[0].lang, "zh");
    assert!(r.results[0].highlight.contains("<mark>刚性基础</mark>"), "{}", r.results[0].highlight);
    // 2 characters: the LIKE fallback finds what trigrams cannot.
    let r = ix.search("乙炔", "zh", 5, &[]).unwrap();
    assert!(r.supported, "{r:?}");
    assert!(ids(&r).contains(&"iec60599.duval-triangle-1"), "{:?}", ids(&r));
    assert!(r.results[0].highlight.contains("<mark>乙炔</mark>"));
    // 1 character: refused with a hint.
    let r = ix.search("铁", "zh", 5, &[]).unwrap();
    assert!(!r.supported && r.results.is_empty());
    assert!(r.reason.unwrap().contains("too short"));
    // A question with filler words: the content words still carry it.
    let r = ix.search("变压器典型值是多少", "zh", 5, &[]).unwrap();
    assert!(r.supported, "{r:?}");
    assert_eq!(r.results[0].passage_id, "iec60599.typical-values");
}

#[test]
fn below_the_floor_there_is_no_supported_answer() {
    let ix = index();
    // Nothing shares a term.
    let r = ix.search("warranty claim procedure", "en", 5, &[]).unwrap();
    assert!(!r.supported);
    assert!(r.results.is_empty());
    assert!(r.reason.unwrap().contains("no reference passage"));
    // Shares one term of four: the nearest references, labelled as nearest.
    let r = ix.search("transformer warranty claim procedure", "en", 5, &[]).unwrap();
    assert!(!r.supported, "{r:?}");
    assert!(!r.results.is_empty() && r.results.iter().all(|h| h.nearest));
    assert!(r.reason.unwrap().contains("no supported answer"));
    let r = ix.search("电池保修流程", "zh", 5, &[]).unwrap();
    assert!(!r.supported);
    assert!(ix.search("   ", "en", 5, &[]).unwrap().reason.unwrap().contains("no searchable term"));
}

#[test]
fn asset_evidence_boosts_cited_passages() {
    let ix = index();
    let plain = ix.search("zone foundation", "en", 10, &[]).unwrap();
    let boosted = ix.search("zone foundation", "en", 10, &["iso10816-3.group1-flexible".to_string()]).unwrap();
    assert_eq!(boosted.results[0].passage_id, "iso10816-3.group1-flexible");
    assert!(
        boosted.results[0].score
            > plain.results.iter().find(|h| h.passage_id == "iso10816-3.group1-flexible").unwrap().score
    );
}

#[test]
fn markdown_and_plain_text_import_with_anchors() {
    let md = "# Pump station manual\n\nIntro text.\n\n## Bearings\n\nRegrease the pump bearings every 2000 hours.\n\n### 轴承温度\n\n轴承温度超过 85 °C 时停泵检查润滑。\n";
    let d = import_text("manual.md", md, "plant-manual", None, "rev 3", true).unwrap();
    assert_eq!(d.title, "Pump station manual");
    let ids: Vec<&str> = d.passages.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["plant-manual#pump-station-manual", "plant-manual#bearings", "plant-manual#轴承温度"]);
    assert_eq!(d.passages[2].clause, "Pump station manual > Bearings > 轴承温度");
    let mut ix = index();
    ix.put_document(&d, "plant").unwrap();
    let r = ix.search("轴承温度", "zh", 5, &[]).unwrap();
    assert!(r.supported);
    assert_eq!(r.results[0].passage_id, "plant-manual#轴承温度");
    assert_eq!(r.results[0].verification, RefVerification::Plant);
    let r = ix.search("regrease bearings", "en", 5, &[]).unwrap();
    assert_eq!(r.results[0].passage_id, "plant-manual#bearings");
    // Re-import replaces, does not duplicate.
    let before = ix.passage_count().unwrap();
    ix.put_document(&d, "plant").unwrap();
    assert_eq!(ix.passage_count().unwrap(), before);
    // The built-in library can be reloaded without touching plant documents.
    ix.load_library(&Library::builtin().unwrap()).unwrap();
    assert!(ix.has_passage("plant-manual#bearings").unwrap());

    let txt =
        "3 Inspection\nCheck the oil level weekly.\n\n3.1 Oil sampling\nTake oil samples from the bottom valve.\n";
    let d = import_text("proc.txt", txt, "proc", Some("Procedure"), "", false).unwrap();
    let ids: Vec<&str> = d.passages.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["proc#3-inspection", "proc#3-1-oil-sampling"]);
    assert_eq!(d.passages[1].clause, "3 Inspection > 3.1 Oil sampling");
    assert!(import_text("e.md", "  \n", "x", None, "", true).unwrap_err().to_string().contains("e.md"));
}

#[test]
fn failure_cases_import() {
    let text = r#"
[document]
title = "Substation failure cases (test fixture)"

[[case]]
id = "2019-T3"
asset_class = "transformer"
date = "2019-06"
symptoms = "乙炔突然升高，总烃超过注意值"
cause = "分接开关触头烧蚀"
action = "停运检修分接开关"
"#;
    let d = import_cases("cases.toml", text, "cases").unwrap();
    assert_eq!(d.passages[0].kind, "case");
    assert!(d.passages[0].clause.contains("transformer"));
    let mut ix = index();
    ix.put_document(&d, "plant").unwrap();
    // The case, and the library's passages naming the tap changer in either language.
    let r = ix.search("分接开关触头烧蚀", "zh", 5, &[]).unwrap();
    assert_eq!(r.results[0].passage_id, "cases#2019-t3", "{:?}", ids(&r));
    let r = ix.search("分接开关", "zh", 5, &[]).unwrap();
    assert!(ids(&r).contains(&"cases#2019-t3") && ids(&r).contains(&"iec60599.typical-values"), "{:?}", ids(&r));
    let e = import_cases("cases.toml", "[[case]]\nid = 1\n", "c").unwrap_err().to_string();
    assert!(e.contains("cases.toml") && e.contains("line 2"), "{e}");
}

// Regression tests for issue 16's "What was found" (the packs' passages loaded, as the daemon does).

fn full_index() -> RefIndex {
    let mut ix = RefIndex::in_memory().unwrap();
    ix.load_library(&crate::diagnose::pack::PackSet::builtin().unwrap().library).unwrap();
    ix
}

fn top(ix: &RefIndex, q: &str, lang: &str) -> SearchResult {
    ix.search(q, lang, 5, &[]).unwrap()
}

#[test]
fn chinese_without_spaces_is_segmented_into_words() {
    let ix = full_index();
    for (q, want) in [
        ("F 级绝缘绕组最高允许温度", "iec60085.thermal-classes"),
        ("B 级绝缘温升限值是多少", "iec60034-1.temperature-rise"),
        ("乙炔增加", "ieee-c57104.table3"),
    ] {
        let r = top(&ix, q, "zh");
        assert!(r.supported, "{q}: {r:?}");
        assert!(ids(&r).contains(&want), "{q}: {:?}", ids(&r));
    }
    // Not a passage that only shares "含量".
    let r = top(&ix, "乙炔含量高说明什么？", "zh");
    assert!(r.supported, "{r:?}");
    assert!(r.results[0].text.contains("乙炔") || r.results[0].text.contains("C2H2"), "{:?}", r.results[0]);
}

#[test]
fn names_of_the_same_thing_meet() {
    let ix = full_index();
    let r = top(&ix, "hydrogen attention value", "en");
    assert!(r.supported, "{r:?}");
    assert!(ids(&r).contains(&"dlt722.attention-values"), "{:?}", ids(&r));
    let r = top(&ix, "IEEE C57.104 95th percentile hydrogen limit", "en");
    assert!(r.supported, "{r:?}");
    // Table 2 (levels) or Table 3 (changes): both are 95th-percentile hydrogen limits.
    assert!(["ieee-c57104.table2", "ieee-c57104.table3"].contains(&r.results[0].passage_id.as_str()), "{:?}", ids(&r));
    let r = top(&ix, "What does high acetylene in transformer oil mean?", "en");
    assert!(r.supported, "{r:?}");
    assert!(r.results[0].text.contains("C2H2") || r.results[0].text.contains("acetylene"));
    // acetylene finds the passages written with the formula only (C2H2).
    let r = top(&ix, "acetylene Duval triangle", "en");
    assert_eq!(r.results[0].passage_id, "iec60599.duval-triangle-1", "{:?}", ids(&r));
}

#[test]
fn support_at_the_floor_is_not_an_answer() {
    let ix = full_index();
    let r = top(&ix, "电缆局部放电检测的判据", "zh");
    assert!(!r.supported, "cable PD is not in the library: {r:?}");
    let r = top(&ix, "乙", "zh");
    assert!(!r.supported, "{r:?}");
    assert!(r.results.is_empty());
    let r = top(&ix, "C2H2 rising between two samples", "en");
    assert!(r.supported, "{r:?}");
    assert!(["ieee-c57104.table3", "ieee-c57104.table4"].contains(&r.results[0].passage_id.as_str()), "{:?}", ids(&r));
}

#[test]
fn asset_parameters_rank_and_open_parameters_are_named() {
    let ix = full_index();
    // Without context: 7.1 mm/s depends on the machine group and the foundation.
    let r = top(&ix, "7.1 mm/s, which zone?", "en");
    assert!(r.supported, "{r:?}");
    let params: Vec<&str> = r.depends_on.iter().map(|d| d.param.as_str()).collect();
    assert!(params.contains(&"vibration.group") && params.contains(&"vibration.foundation"), "{:?}", r.depends_on);
    let group = r.depends_on.iter().find(|d| d.param == "vibration.group").unwrap();
    assert_eq!(group.variants.len(), 2, "{group:?}");
    assert!(r.reason.as_deref().unwrap().contains("depends on the machine group"), "{:?}", r.reason);
    // Asked from a group 2 machine on a rigid foundation: its passage first, nothing open.
    let ctx = Context {
        params: [
            ("vibration.group".to_string(), "group2".to_string()),
            ("vibration.foundation".to_string(), "rigid".to_string()),
        ]
        .into(),
        ..Context::default()
    };
    let r = ix.search_in("7.1 mm/s, which zone?", "en", 5, &ctx).unwrap();
    assert_eq!(r.results[0].passage_id, "iso10816-3.group2-rigid", "{:?}", ids(&r));
    assert!(r.depends_on.is_empty(), "{:?}", r.depends_on);
    assert!(r.context_note.as_deref().unwrap().contains("group 2"), "{:?}", r.context_note);
    // The question fixes group and foundation: no tie with group 1.
    let r = top(&ix, "Group 2 rigid, zone C limit", "en");
    assert_eq!(r.results[0].passage_id, "iso10816-3.group2-rigid", "{:?}", ids(&r));
    assert!(r.depends_on.is_empty());
    // Variants inside one passage: the C2H2 attention value depends on the voltage class.
    let r = top(&ix, "乙炔注意值", "zh");
    assert!(r.depends_on.iter().any(|d| d.param == "voltage_class" && d.label == "电压等级"), "{:?}", r.depends_on);
}

#[test]
fn matches_say_which_term_matched_and_sentences_are_highlighted() {
    let ix = full_index();
    let r = top(&ix, "C2H2 rising between two samples", "en");
    let h = &r.results[0];
    assert!(h.matched.iter().any(|m| m.term == "c2h2" && m.via == "acetylene"), "{:?}", h.matched);
    assert!(!h.sentences.is_empty() && h.sentences.iter().all(|s| h.text.contains(s.as_str())), "{:?}", h.sentences);
    // A Chinese question finds the English copy's words too, and says through which name.
    let r = top(&ix, "氢气的注意值", "zh");
    assert_eq!(r.results[0].passage_id, "dlt722.attention-values");
    assert!(r.results[0].matched.iter().any(|m| m.concept.as_deref() == Some("gas.h2")), "{:?}", r.results[0].matched);
}

#[test]
fn glossary_expansion_works_both_ways_on_one_language_documents() {
    let mut ix = index();
    let en = import_text(
        "m.md",
        "# Manual\n\n## Bearings\n\nRegrease the pump bearings every 2000 hours.\n",
        "en-manual",
        None,
        "",
        true,
    )
    .unwrap();
    let zh =
        import_text("z.md", "# 规程\n\n## 轴承\n\n轴承温度超过 85 °C 时停泵检查润滑。\n", "zh-manual", None, "", true)
            .unwrap();
    ix.put_document(&en, "plant").unwrap();
    ix.put_document(&zh, "plant").unwrap();
    // A Chinese question finds the English-only passage, and the reverse.
    let r = ix.search("水泵轴承", "zh", 5, &[]).unwrap();
    assert!(r.supported, "{r:?}");
    assert_eq!(r.results[0].passage_id, "en-manual#bearings", "{:?}", ids(&r));
    assert!(r.results[0].matched.iter().any(|m| m.term == "轴承" && m.via == "bearings"), "{:?}", r.results[0].matched);
    let r = ix.search("bearing temperature", "en", 5, &[]).unwrap();
    assert!(r.supported, "{r:?}");
    assert_eq!(r.results[0].passage_id, "zh-manual#轴承", "{:?}", ids(&r));
    assert!(r.results[0].highlight.contains("<mark>轴承"), "{}", r.results[0].highlight);
}

/// The document frequencies the candidate search caches are dropped when another
/// connection (`edgecite refs import` beside the daemon) commits: a term no row held when
/// it was first asked for is found once a document with it is imported.
#[test]
fn a_document_imported_by_another_connection_is_found_by_a_cached_index() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("refs.db");
    let mut daemon = RefIndex::open(&file).unwrap();
    daemon.load_library(&Library::builtin().unwrap()).unwrap();
    for q in ["impeller cavitation erosion", "叶轮汽蚀"] {
        let r = daemon.search(q, "en", 5, &[]).unwrap();
        assert!(!r.supported && !ids(&r).iter().any(|id| id.starts_with("pump-notes")), "{q}: {:?}", ids(&r));
    }
    let md = "# Pump notes\n\n## Cavitation\n\nImpeller cavitation erosion shows as pitting on the vane inlet.\n\n## 汽蚀\n\n叶轮汽蚀表现为叶片进口处的麻点。\n";
    let doc = import_text("notes.md", md, "pump-notes", None, "1", true).unwrap();
    RefIndex::open(&file).unwrap().put_document(&doc, "plant").unwrap();
    let r = daemon.search("impeller cavitation erosion", "en", 5, &[]).unwrap();
    assert_eq!(ids(&r).first(), Some(&"pump-notes#cavitation"), "{:?}", ids(&r));
    let r = daemon.search("叶轮汽蚀", "zh", 5, &[]).unwrap();
    assert_eq!(ids(&r).first(), Some(&"pump-notes#汽蚀"), "{:?}", ids(&r));
}
