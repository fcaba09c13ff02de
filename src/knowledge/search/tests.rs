use super::*;

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
fn terms_split_latin_words_and_cjk_runs() {
    assert_eq!(
        terms("What is the Duval triangle for C2H2?"),
        vec![Term::Word("duval".into()), Term::Word("triangle".into()), Term::Word("c2h2".into())]
    );
    assert_eq!(terms("变压器乙炔怎么办"), vec![Term::Cjk("变压器乙炔".into())]);
    assert_eq!(
        terms("乙炔 DL/T 722"),
        vec![Term::Cjk("乙炔".into()), Term::Word("dl".into()), Term::Word("722".into())]
    );
    assert!(terms("the of ? 的").is_empty());
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
    // 1 character.
    let r = ix.search("铁", "zh", 5, &[]).unwrap();
    assert!(r.results.iter().all(|h| h.text.contains('铁')));
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
    let r = ix.search("分接开关", "zh", 5, &[]).unwrap();
    assert_eq!(r.results[0].passage_id, "cases#2019-t3");
    let e = import_cases("cases.toml", "[[case]]\nid = 1\n", "c").unwrap_err().to_string();
    assert!(e.contains("cases.toml") && e.contains("line 2"), "{e}");
}
