//! Pack tests: the shipped packs (load, citations, band edges read from the pack files,
//! agreement with the reference implementations), and one malformed pack of each kind.

use super::eval::{find_band, Compiled, EvalCtx, Params, Snapshot};
use super::*;
use crate::diagnose::{Evidence, EvidenceValue, Outcome};

fn ev(values: &[(&str, f64)]) -> Evidence {
    Evidence {
        values: values
            .iter()
            .map(|(r, v)| EvidenceValue {
                role: r.to_string(),
                point: format!("t.{r}"),
                value: *v,
                unit: String::new(),
                ts: String::new(),
                ts_ms: 0,
                quality: "good".into(),
                below: None,
            })
            .collect(),
        ..Default::default()
    }
}

fn compiled(set: &PackSet, pack: &str, id: &str) -> Compiled {
    let p = set.pack(pack).unwrap();
    Compiled::new(p, p.criterion(id).unwrap(), &set.library).unwrap()
}

fn run(c: &Compiled, values: &[(&str, f64)], params: &Params, open: Option<&str>) -> Outcome {
    c.evaluate(ev(values), &EvalCtx { params, history: &[], now_ts: None, open })
}

fn code(o: &Outcome) -> String {
    match o {
        Outcome::Fault(r) => r.code.clone(),
        Outcome::Normal { .. } => "normal".into(),
        Outcome::Abstain { reason, .. } => format!("abstain:{}", reason.as_str()),
    }
}

#[test]
fn shipped_packs_load() {
    let set = PackSet::builtin().unwrap();
    let ids: Vec<&str> = set.packs.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["transformer-dga", "rotating", "thermography", "motor-supply", "battery"]);
    // The packs on disk are the ones embedded.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/packs");
    let from_disk = PackSet::load(false, &[dir]).unwrap();
    assert_eq!(from_disk.packs.len(), set.packs.len());
}

/// Every derived number a shipped pack shows has a name a technician reads, in both languages.
#[test]
fn shipped_derived_values_are_named_in_both_languages() {
    let set = PackSet::builtin().unwrap();
    for p in &set.packs {
        for c in &p.criteria {
            for q in &c.quantity {
                let t = q.label_text();
                assert!(
                    q.label.is_some() && q.label_zh.is_some(),
                    "{}/{} quantity `{}`: label and label_zh",
                    p.id,
                    c.id,
                    q.name
                );
                assert!(
                    !t.en.is_empty() && !t.zh.is_empty() && t.zh != t.en || t.en.contains('/'),
                    "{}/{}: {t:?}",
                    p.id,
                    c.id
                );
            }
            if !c.curve.is_empty() {
                assert!(
                    c.curve_name.is_some() && c.curve_name_zh.is_some(),
                    "{}/{}: curve_name and curve_name_zh",
                    p.id,
                    c.id
                );
            }
        }
    }
}

/// Every finding kind a shipped pack can produce has at least one citation, and every
/// citation resolves to a stored passage with text in both languages. U criteria carry a
/// reason instead.
#[test]
fn every_shipped_finding_kind_is_cited() {
    let set = PackSet::builtin().unwrap();
    // The passages are stored where technicians search them, too.
    let mut index = crate::knowledge::search::RefIndex::in_memory().unwrap();
    index.load_library(&set.library).unwrap();
    let mut kinds = 0;
    for (_, c) in set.criteria() {
        if c.status == Status::U {
            assert!(c.disabled_reason.as_deref().is_some_and(|r| r.len() > 20), "{}", c.id);
            continue;
        }
        if c.kind == Kind::ModelScore {
            continue; // cited by the model's manifest (model_score.rs)
        }
        let base: Vec<String> = c.cite.iter().map(|s| s.get_ref().clone()).collect();
        let mut findings: Vec<(String, Vec<String>)> = Vec::new();
        let mut add = |code: String, extra: Vec<&str>| {
            let mut all = base.clone();
            all.extend(extra.into_iter().map(String::from));
            findings.push((code, all));
        };
        match c.kind {
            Kind::Bands if c.variant.is_empty() => {
                for b in c.band.iter().filter(|b| b.get_ref().severity.is_some()) {
                    add(format!("{}{}", c.code_prefix, b.get_ref().code), Vec::new());
                }
            }
            Kind::Bands => {
                for v in &c.variant {
                    for b in v.band.iter().filter(|b| b.get_ref().severity.is_some()) {
                        add(
                            format!("{}{} ({})", c.code_prefix, b.get_ref().code, v.key),
                            v.cite.iter().map(|s| s.get_ref().as_str()).collect(),
                        );
                    }
                }
            }
            Kind::Regions => {
                for r in c.region.iter().filter(|r| r.severity.is_some()) {
                    add(format!("{}{}", c.code_prefix, r.code), r.cite.iter().map(|s| s.get_ref().as_str()).collect());
                }
            }
            Kind::Codes => {
                for r in c.code.iter().filter(|r| r.severity.is_some()) {
                    add(format!("{}{}", c.code_prefix, r.code), Vec::new());
                }
            }
            Kind::IeeeStatus => {
                add(format!("{}STATUS2", c.code_prefix), Vec::new());
                add(format!("{}STATUS3", c.code_prefix), Vec::new());
            }
            _ => add(c.code_prefix.clone(), Vec::new()),
        }
        assert!(!findings.is_empty(), "{} produces no finding", c.id);
        for (code, cites) in findings {
            kinds += 1;
            assert!(!cites.is_empty(), "{code} has no citation");
            for p in cites {
                let cit = set.library.citation(&p).unwrap_or_else(|| panic!("{code}: `{p}` not stored"));
                assert!(
                    !cit.passage.en.is_empty()
                        && !cit.passage.zh.is_empty()
                        && !cit.clause.zh.is_empty()
                        && !cit.edge_convention.is_empty()
                );
                assert!(index.has_passage(&p).unwrap(), "{code}: `{p}` not in the search index");
            }
        }
    }
    assert!(kinds >= 40, "{kinds} finding kinds");
}

/// Every band edge of every shipped bands criterion, from the pack files: a value at the
/// edge and just on the other side land in the bands the edge convention says.
#[test]
fn band_edges_from_the_pack_files() {
    let set = PackSet::builtin().unwrap();
    let mut checked = 0;
    for (_, c) in set.criteria().filter(|(_, c)| c.status != Status::U) {
        let mut lists: Vec<&[toml::Spanned<Band>]> = vec![&c.band];
        lists.extend(c.variant.iter().map(|v| v.band.as_slice()));
        lists.extend(c.digit.iter().map(|d| d.band.as_slice()));
        for bands in lists.into_iter().filter(|b| !b.is_empty()) {
            for w in bands.windows(2) {
                let (lo, hi) = (w[0].get_ref(), w[1].get_ref());
                let e = hi.from.unwrap();
                let eps = 1e-9 * e.abs().max(1.0);
                let (at, below, above) = (
                    find_band(bands, e, 1.0, c.edge).unwrap().code.clone(),
                    find_band(bands, e - eps, 1.0, c.edge).unwrap().code.clone(),
                    find_band(bands, e + eps, 1.0, c.edge).unwrap().code.clone(),
                );
                assert_eq!(below, lo.code, "{} below {e}", c.id);
                assert_eq!(above, hi.code, "{} above {e}", c.id);
                let want = if c.edge == Edge::LowerInclusive { &hi.code } else { &lo.code };
                assert_eq!(&at, want, "{} at {e} ({:?})", c.id, c.edge);
                checked += 1;
            }
        }
        // Through the evaluator too, where the band input is a role.
        if c.kind == Kind::Bands && c.inputs.iter().any(|r| Some(r.get_ref()) == c.input.as_ref().map(|i| i.get_ref()))
        {
            let role = c.input.as_ref().unwrap().get_ref().as_str();
            let p = set.packs.iter().find(|p| p.criterion(&c.id).is_some()).unwrap();
            let comp = Compiled::new(p, c, &set.library).unwrap();
            let variants: Vec<(Params, &[toml::Spanned<Band>])> = if c.variant.is_empty() {
                vec![(Params::new(), &c.band)]
            } else {
                c.variant
                    .iter()
                    .map(|v| {
                        let mut pm = Params::new();
                        pm.insert(c.variant_param.clone().unwrap(), eval::Param::Str(v.key.clone()));
                        (pm, v.band.as_slice())
                    })
                    .collect()
            };
            for (params, bands) in variants {
                for b in bands.iter().skip(1) {
                    let b = b.get_ref();
                    let x = b.from.unwrap();
                    let o = run(&comp, &[(role, x)], &params, None);
                    let want =
                        if b.severity.is_some() { format!("{}{}", c.code_prefix, b.code) } else { "normal".into() };
                    assert_eq!(code(&o), want, "{} {:?} at {x}", c.id, params);
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 50, "{checked} edges");
}

/// The rotating pack's ISO 10816-3 bands are the reference table.
#[test]
fn iso_bands_match_the_reference_table() {
    use crate::config::assets::{Foundation::*, MachineGroup::*};
    let set = PackSet::builtin().unwrap();
    let c = set.pack("rotating").unwrap().criterion("iso10816_3.zone").unwrap();
    for (key, g, f, status) in [
        ("group1.rigid", Group1, Rigid, Status::V1),
        ("group1.flexible", Group1, Flexible, Status::V1),
        ("group2.rigid", Group2, Rigid, Status::V2),
        ("group2.flexible", Group2, Flexible, Status::V1),
    ] {
        let v = c.variant.iter().find(|v| v.key == key).unwrap();
        let edges: Vec<f64> = v.band.iter().filter_map(|b| b.get_ref().to).collect();
        assert_eq!(edges, crate::diagnose::vibration::boundaries(g, f), "{key}");
        assert_eq!(v.status, Some(status), "{key}");
    }
}

proptest::proptest! {
    /// The pack's Duval regions agree with the reference implementation wherever every gas
    /// is quantified (at least `quantification_multiple` = 3.3 detection limits of 1 ppm).
    #[test]
    fn duval_regions_match_the_reference(ch4 in 0.0f64..1000.0, c2h4 in 3.3f64..1000.0, c2h2 in 3.3f64..1000.0) {
        let set = PackSet::builtin().unwrap();
        let c = compiled(&set, "transformer-dga", "iec60599.duval_triangle_1");
        let o = run(&c, &[("ch4", ch4 + 131.0), ("c2h4", c2h4), ("c2h2", c2h2)], &Params::new(), None);
        let pct = crate::diagnose::duval::percentages(ch4 + 131.0, c2h4, c2h2).unwrap();
        let want = format!("DGA.DUVAL1.{}", crate::diagnose::duval::zone(pct).as_str());
        proptest::prop_assert_eq!(code(&o), want);
    }

    /// Near the detection limit a gas is only a bound: the pack then gives the reference's
    /// zone or abstains as imprecise, never another zone.
    #[test]
    fn duval_near_the_detection_limit_is_the_reference_zone_or_imprecise(
        ch4 in 0.0f64..1000.0, c2h4 in 0.0f64..1000.0, c2h2 in 0.0f64..3.3,
    ) {
        let set = PackSet::builtin().unwrap();
        let c = compiled(&set, "transformer-dga", "iec60599.duval_triangle_1");
        let o = run(&c, &[("ch4", ch4 + 131.0), ("c2h4", c2h4), ("c2h2", c2h2)], &Params::new(), None);
        let pct = crate::diagnose::duval::percentages(ch4 + 131.0, c2h4, c2h2).unwrap();
        let want = format!("DGA.DUVAL1.{}", crate::diagnose::duval::zone(pct).as_str());
        let got = code(&o);
        proptest::prop_assert!(got == want || got == "abstain:imprecise", "{} (reference {})", got, want);
    }
}

#[test]
fn ratio_methods_and_their_abstentions() {
    let set = PackSet::builtin().unwrap();
    let p = Params::new();
    let iec = compiled(&set, "transformer-dga", "iec60599.ratios");
    let three = compiled(&set, "transformer-dga", "dlt722.three_ratio");
    // A thermal fault above 700 °C: R1 = 0.01, R2 = 2, R5 = 6; code 0 2 2.
    let hot = [("h2", 200.0), ("ch4", 400.0), ("c2h6", 100.0), ("c2h4", 600.0), ("c2h2", 6.0)];
    assert_eq!(code(&run(&iec, &hot, &p, None)), "DGA.IEC60599.RATIO.T3");
    assert_eq!(code(&run(&three, &hot, &p, None)), "DGA.DLT722.CODE_0X2");
    // Partial discharge: R2 = 0.05, R5 = 0.1 -> PD; code 0 1 0.
    let pd = [("h2", 2000.0), ("ch4", 100.0), ("c2h6", 50.0), ("c2h4", 5.0), ("c2h2", 0.0)];
    assert_eq!(code(&run(&iec, &pd, &p, None)), "DGA.IEC60599.RATIO.PD");
    // C2H2 not detected (< 1) over C2H4 5: C2H2/C2H4 lies in [0, 0.2], across the code
    // boundary 0.1, so the three-ratio code cannot be told (issue 12, item 1).
    let o = run(&three, &pd, &p, None);
    assert_eq!(code(&o), "abstain:imprecise");
    assert!(o.evidence().summary.en.contains("C2H2 < 1"), "{}", o.evidence().summary.en);
    // With C2H4 20 the bound is 0.05: code 0 1 0 whatever C2H2 is below 1.
    let pd20 = [("h2", 2000.0), ("ch4", 100.0), ("c2h6", 50.0), ("c2h4", 20.0), ("c2h2", 0.0)];
    assert_eq!(code(&run(&three, &pd20, &p, None)), "DGA.DLT722.CODE_010");
    // Below the typical values: not applied, citing why.
    let low = [("h2", 10.0), ("ch4", 10.0), ("c2h6", 10.0), ("c2h4", 10.0), ("c2h2", 0.0)];
    let o = run(&iec, &low, &p, None);
    assert_eq!(code(&o), "abstain:below_applicability");
    let Outcome::Abstain { citations, .. } = o else { unreachable!() };
    assert_eq!(citations[0].passage_id, "iec60599.typical-values");
    // C2H4 reported as 0 is not detected (< 1): C2H2 30 over it is above 30, so the digit is
    // 2 although the ratio has no value; CH4/H2 1.5 -> 2, C2H4/C2H6 < 0.01 -> 0: code 22x.
    let undefined = [("h2", 200.0), ("ch4", 300.0), ("c2h6", 100.0), ("c2h4", 0.0), ("c2h2", 30.0)];
    assert_eq!(code(&run(&three, &undefined, &p, None)), "DGA.DLT722.CODE_22X");
    // Both gases of a ratio under their quantification level: the code cannot be told.
    let tiny = [("h2", 200.0), ("ch4", 300.0), ("c2h6", 100.0), ("c2h4", 1.0), ("c2h2", 1.0)];
    let o = run(&three, &tiny, &p, None);
    assert_eq!(code(&o), "abstain:imprecise");
    assert!(o.evidence().summary.en.contains("c2h2_c2h4"), "{}", o.evidence().summary.en);
}

#[test]
fn attention_limits_depend_on_the_voltage_class() {
    let set = PackSet::builtin().unwrap();
    let c = compiled(&set, "transformer-dga", "dlt722.attention");
    let gas = [("h2", 100.0), ("ch4", 20.0), ("c2h6", 10.0), ("c2h4", 10.0), ("c2h2", 3.0)];
    let mut p = Params::new();
    // Without the voltage class, C2H2 3 lies between the two classes' values (1 and 5): not
    // judged, so not "normal" (issue 12, item 2: unknown is never normal).
    let o = run(&c, &gas, &p, None);
    assert_eq!(code(&o), "abstain:no_data");
    assert!(o.evidence().summary.en.contains("not judged: C2H2 3"), "{}", o.evidence().summary.en);
    // Above both classes' values it is exceeded whatever the class; within both, within.
    let high: Vec<(&str, f64)> = gas.iter().map(|(g, v)| (*g, if *g == "c2h2" { 6.0 } else { *v })).collect();
    assert_eq!(code(&run(&c, &high, &p, None)), "DGA.DLT722.ATTENTION");
    let low: Vec<(&str, f64)> = gas.iter().map(|(g, v)| (*g, if *g == "c2h2" { 0.5 } else { *v })).collect();
    assert_eq!(code(&run(&c, &low, &p, None)), "normal");
    // Gas by gas: H2 alone far above its value is a finding although the hydrocarbons are
    // not reported (issue 12, item 2).
    let h2_only = [("h2", 32930.0)];
    assert_eq!(code(&run(&c, &h2_only, &p, None)), "DGA.DLT722.ATTENTION");
    p.insert("voltage_class".into(), eval::Param::Str("ge330kv".into()));
    assert_eq!(code(&run(&c, &gas, &p, None)), "DGA.DLT722.ATTENTION");
    p.insert("voltage_class".into(), eval::Param::Str("le220kv".into()));
    assert_eq!(code(&run(&c, &gas, &p, None)), "normal");
    // THC 150 is not above 150; 150.1 is.
    let thc = |x: f64| [("h2", 1.0), ("ch4", x - 30.0), ("c2h6", 10.0), ("c2h4", 20.0), ("c2h2", 0.0)];
    assert_eq!(code(&run(&c, &thc(150.0), &p, None)), "normal");
    assert_eq!(code(&run(&c, &thc(150.1), &p, None)), "DGA.DLT722.ATTENTION");
}

#[test]
fn ieee_status_levels_deltas_and_rates() {
    let set = PackSet::builtin().unwrap();
    let c = compiled(&set, "transformer-dga", "ieee_c57104.status");
    let base = |h2: f64| {
        vec![
            ("h2", h2),
            ("ch4", 10.0),
            ("c2h6", 10.0),
            ("c2h4", 10.0),
            ("c2h2", 0.0),
            ("co", 100.0),
            ("co2", 1000.0),
            ("o2", 1000.0),
            ("n2", 50000.0),
        ]
    };
    let mut p = Params::new();
    let at = |vals: &[(&str, f64)], p: &Params, hist: &[Snapshot], now: Option<i64>| {
        c.evaluate(ev(vals), &EvalCtx { params: p, history: hist, now_ts: now, open: None })
    };
    // O2/N2 = 0.02 (low), age unknown: H2 Table 1 = 80, Table 2 = 200.
    assert_eq!(code(&at(&base(80.0), &p, &[], None)), "normal");
    assert_eq!(code(&at(&base(80.5), &p, &[], None)), "DGA.IEEE_C57104.STATUS2");
    // Above Table 2, one sample: status 3 (issue 12, item 4: the guide's "high DGA", as the
    // public implementation the citation names grades it).
    assert_eq!(code(&at(&base(250.0), &p, &[], None)), "DGA.IEEE_C57104.STATUS3");
    assert_eq!(code(&at(&base(200.0), &p, &[], None)), "DGA.IEEE_C57104.STATUS2", "200 is not above 200");
    // Within Table 1 but a delta above Table 3 (H2 +41 > 40): status 2; +40 is not above 40.
    let prev = Snapshot { ts_ms: None, values: base(29.0).iter().map(|(r, v)| (r.to_string(), *v)).collect() };
    assert_eq!(code(&at(&base(70.0), &p, std::slice::from_ref(&prev), None)), "DGA.IEEE_C57104.STATUS2");
    let prev40 = Snapshot { ts_ms: None, values: base(30.0).iter().map(|(r, v)| (r.to_string(), *v)).collect() };
    assert_eq!(code(&at(&base(70.0), &p, &[prev40], None)), "normal", "+40 is not above 40");
    // Age 1-9 years: H2 Table 1 is 75.
    p.insert("age_years".into(), eval::Param::Num(5.0));
    assert_eq!(code(&at(&base(76.0), &p, &[], None)), "DGA.IEEE_C57104.STATUS2");
    // No O2/N2: abstain, saying why.
    let no_o2: Vec<(&str, f64)> = base(10.0).into_iter().filter(|(r, _)| *r != "o2").collect();
    let o = at(&no_o2, &p, &[], None);
    assert_eq!(code(&o), "abstain:insufficient_data");
    // Rate: H2 rising 30 ppm/year over 12 months (3 samples), limit 20 (10-24 months).
    let day = 86_400_000i64;
    let snap = |t: i64, h2: f64| Snapshot {
        ts_ms: Some(t),
        values: base(h2).iter().map(|(r, v)| (r.to_string(), *v)).collect(),
    };
    let hist = [snap(0, 40.0), snap(183 * day, 55.0)];
    // A rate above Table 4 over three or more samples is status 3 (active gassing).
    let o = at(&base(70.0), &Params::new(), &hist, Some(365 * day));
    assert_eq!(code(&o), "DGA.IEEE_C57104.STATUS3");
    assert!(o.evidence().summary.en.contains("Table 4"), "{}", o.evidence().summary.en);
}

#[test]
fn relative_gassing_rate_needs_dated_series() {
    let set = PackSet::builtin().unwrap();
    let c = compiled(&set, "transformer-dga", "dlt722.relative_rate");
    let p = Params::new();
    let g = |x: f64| vec![("ch4", x), ("c2h6", 0.0), ("c2h4", 0.0), ("c2h2", 0.0)];
    let month = (30.4375 * 86_400_000.0) as i64;
    let snap =
        |t: i64, x: f64| Snapshot { ts_ms: Some(t), values: g(x).iter().map(|(r, v)| (r.to_string(), *v)).collect() };
    let at = |x: f64, hist: &[Snapshot], now: Option<i64>| {
        c.evaluate(ev(&g(x)), &EvalCtx { params: &p, history: hist, now_ts: now, open: None })
    };
    assert_eq!(code(&at(50.0, &[], Some(month))), "abstain:insufficient_data");
    assert_eq!(code(&at(50.0, &[snap(0, 40.0)], None)), "abstain:insufficient_data");
    assert_eq!(code(&at(9.0, &[snap(0, 4.0)], Some(month))), "abstain:below_applicability");
    // 40 -> 44 in one month is exactly 10 %/month: at the limit counts.
    assert_eq!(code(&at(44.0, &[snap(0, 40.0)], Some(month))), "DGA.DLT722.RELATIVE_RATE");
    assert_eq!(code(&at(43.9, &[snap(0, 40.0)], Some(month))), "normal");
    // Online readings seconds apart: the comparison sample must be 7 days older.
    let day = 86_400_000i64;
    let o = at(80.0, &[snap(0, 40.0), snap(6 * day, 79.0)], Some(6 * day + 1000));
    assert_eq!(code(&o), "abstain:insufficient_data");
    let Outcome::Abstain { detail: Text { en: detail, .. }, .. } = &o else { unreachable!() };
    assert!(detail.contains("7 days older"), "{detail}");
    // ... and when there is one, it is used (40 -> 80 in 8 days).
    assert_eq!(code(&at(80.0, &[snap(0, 40.0), snap(6 * day, 79.0)], Some(8 * day))), "DGA.DLT722.RELATIVE_RATE");
}

#[test]
fn thermography_motor_and_battery_quantities() {
    let set = PackSet::builtin().unwrap();
    let p = Params::new();
    let ir = compiled(&set, "thermography", "dlt664.relative_temp_diff");
    // The grades are for current-heated equipment only (issue 12, item 7).
    let hot = [("hot_spot_temp", 80.0), ("reference_temp", 30.0), ("ambient_temp", 20.0)];
    assert_eq!(code(&run(&ir, &hot, &p, None)), "abstain:out_of_domain", "no `heating`: not graded");
    let mut cur = Params::new();
    cur.insert("heating".into(), eval::Param::Str("current".into()));
    // delta = (80 - 30) / (80 - 20) = 83 %: serious.
    assert_eq!(code(&run(&ir, &hot, &cur, None)), "IR.DLT664.SERIOUS");
    let mut volt = Params::new();
    volt.insert("heating".into(), eval::Param::Str("voltage".into()));
    assert_eq!(code(&run(&ir, &hot, &volt, None)), "abstain:out_of_domain", "voltage-heated: not these grades");
    // Rise below 10 K: not applied.
    let o = run(&ir, &[("hot_spot_temp", 29.0), ("reference_temp", 20.0), ("ambient_temp", 20.0)], &cur, None);
    assert_eq!(code(&o), "abstain:below_applicability");
    // NETA Table 100.18: "over 15" and "over 40" are the top classes, so 15.0 and 40.0 are
    // the classes below them (issue 12, item 7).
    let sim = compiled(&set, "thermography", "neta.delta_t_similar");
    let dt = |x: f64| [("hot_spot_temp", 20.0 + x), ("reference_temp", 20.0)];
    assert_eq!(code(&run(&sim, &dt(15.0), &p, None)), "IR.NETA.SIMILAR.PROBABLE");
    assert_eq!(code(&run(&sim, &dt(15.1), &p, None)), "IR.NETA.SIMILAR.MAJOR");
    assert_eq!(code(&run(&sim, &dt(3.0), &p, None)), "IR.NETA.SIMILAR.POSSIBLE");
    let amb = compiled(&set, "thermography", "neta.delta_t_ambient");
    let da = |x: f64| [("hot_spot_temp", 20.0 + x), ("ambient_temp", 20.0)];
    assert_eq!(code(&run(&amb, &da(40.0), &p, None)), "IR.NETA.AMBIENT.MONITOR");
    assert_eq!(code(&run(&amb, &da(40.5), &p, None)), "IR.NETA.AMBIENT.MAJOR");
    assert_eq!(code(&run(&amb, &da(20.0), &p, None)), "IR.NETA.AMBIENT.PROBABLE");
    // The winding alarm: IEC 60034-1's operating limit (40 °C coolant + 80 K for class B,
    // 120 °C) comes before the class temperature 130 °C (issue 12, item 7).
    let w = compiled(&set, "rotating", "iec60085.winding_class");
    let mut b = Params::new();
    b.insert("insulation_class".into(), eval::Param::Str("B".into()));
    assert_eq!(code(&run(&w, &[("winding_temp", 119.0)], &b, None)), "normal");
    let o = run(&w, &[("winding_temp", 125.0)], &b, None);
    assert_eq!(code(&o), "MOTOR.IEC60085.OVER_RISE_LIMIT");
    let Outcome::Fault(r) = o else { unreachable!() };
    assert!(r.citations.iter().any(|c| c.passage_id == "iec60034-1.temperature-rise"), "{:?}", r.citations);
    assert_eq!(code(&run(&w, &[("winding_temp", 130.0)], &b, None)), "MOTOR.IEC60085.OVER_CLASS");
    let mg1 = compiled(&set, "motor-supply", "nema_mg1.voltage_unbalance");
    // 400, 400, 388: average 396, max deviation 8 -> 2.02 %: derate, factor ~0.953.
    let o = run(&mg1, &[("v_ab", 400.0), ("v_bc", 400.0), ("v_ca", 388.0)], &p, None);
    assert_eq!(code(&o), "MOTOR.NEMA_MG1.UNBALANCE_DERATE");
    let d = o.evidence().derived.iter().find(|d| d.name.en == "derating factor").unwrap();
    assert!((d.value - 0.954).abs() < 0.002, "{}", d.value);
    assert_eq!(d.name.zh, "降额系数");
    let u = o.evidence().derived.iter().find(|d| d.name.en == "voltage unbalance").unwrap();
    assert_eq!((u.name.zh.as_str(), u.unit.en.as_str(), u.unit.zh.as_str()), ("电压不平衡率", "%", ""));
    // Exactly 1 % is within rating (upper-inclusive edge).
    assert_eq!(code(&run(&mg1, &[("v_ab", 101.0), ("v_bc", 99.5), ("v_ca", 99.5)], &p, None)), "normal");
    let ohm = compiled(&set, "battery", "vendor.ohmic_change");
    let o = run(&ohm, &[("ohmic", 1.2)], &p, None);
    assert_eq!(code(&o), "abstain:out_of_domain", "no baseline: say so");
    let mut pb = Params::new();
    pb.insert("ohmic_baseline".into(), eval::Param::Num(1.0));
    let o = run(&ohm, &[("ohmic", 1.2)], &pb, None);
    assert_eq!(code(&o), "BATTERY.OHMIC.INVESTIGATE");
    let Outcome::Fault(r) = o else { unreachable!() };
    assert_eq!(r.citations[0].verification, crate::knowledge::Verification::Secondary);
    assert!(r.citations[0].title.contains("vendor guidance"));
}

/// A plant pack `plant` in a temp dir: criteria `hot` (winding temperature; its HOT band
/// cites plant.rule-2) and `unbalanced` (supply), both citing plant.rule-1, then `more`.
fn plant_pack(more: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plant")).unwrap();
    let base = r#"
[pack]
id = "plant"
version = "0.1"
title = { en = "Plant rules", zh = "厂内规则" }
references = ["refs.toml"]

[[criterion]]
id = "hot"
class = "motor"
title = { en = "Hot winding", zh = "绕组热" }
status = "V1"
kind = "bands"
inputs = ["winding_temp"]
input = "winding_temp"
code_prefix = "PLANT.HOT."
cite = ["plant.rule-1"]
band = [
  { to = 100, code = "OK", title = { en = "ok", zh = "正常" } },
  { from = 100, code = "HOT", severity = "low", title = { en = "hot", zh = "热" }, action = { en = "look", zh = "查看" }, cite = ["plant.rule-2"] },
]

[[criterion]]
id = "unbalanced"
class = "motor"
title = { en = "Unbalanced", zh = "不平衡" }
status = "V1"
kind = "bands"
inputs = ["v_ab", "v_bc", "v_ca"]
quantity = [{ name = "u", fn = "unbalance", args = ["v_ab", "v_bc", "v_ca"] }]
input = "u"
code_prefix = "PLANT.UNB."
cite = ["plant.rule-1"]
band = [
  { to = 2, code = "OK", title = { en = "ok", zh = "正常" } },
  { from = 2, code = "HIGH", severity = "low", title = { en = "high", zh = "高" }, action = { en = "look", zh = "查看" } },
]
"#;
    std::fs::write(dir.path().join("plant/pack.toml"), format!("{base}{more}")).unwrap();
    std::fs::write(
        dir.path().join("plant/refs.toml"),
        r#"
[[document]]
id = "plant-manual"
title = "Plant maintenance manual"
edition = "2024"
language = "en"

[[passage]]
id = "plant.rule-1"
document = "plant-manual"
clause = "4.2"
verification = "secondary"
edge = ">= counts"
text_en = "Plant rule."
text_zh = "厂内规则。"

[[passage]]
id = "plant.rule-2"
document = "plant-manual"
clause = "4.3"
verification = "secondary"
edge = ">= counts"
text_en = "Above 100 it is hot."
text_zh = "高于 100 即为过热。"
"#,
    )
    .unwrap();
    dir
}

/// A plant pack from a directory: an all/any combination over two of its criteria.
#[test]
fn plant_pack_with_a_combination() {
    let dir = plant_pack(
        r#"
[[criterion]]
id = "hot_and_unbalanced"
class = "motor"
title = { en = "Hot winding with unbalanced supply", zh = "绕组过热且电源不平衡" }
status = "V1"
kind = "all"
of = ["hot", "unbalanced"]
code_prefix = "PLANT.HOT_UNBALANCED"
severity = "high"
action = { en = "Correct the supply first", zh = "先纠正电源" }
"#,
    );
    let set = PackSet::load(true, &[dir.path().to_path_buf()]).unwrap();
    let c = compiled(&set, "plant", "hot_and_unbalanced");
    let p = Params::new();
    let v = |t: f64, low: f64| vec![("winding_temp", t), ("v_ab", 400.0), ("v_bc", 400.0), ("v_ca", low)];
    assert_eq!(code(&run(&c, &v(110.0, 380.0), &p, None)), "PLANT.HOT_UNBALANCED");
    assert_eq!(code(&run(&c, &v(90.0, 380.0), &p, None)), "normal");
    assert_eq!(code(&run(&c, &v(110.0, 400.0), &p, None)), "normal");
    // A second pack with the same id is an error naming both files.
    let dir2 = tempfile::tempdir().unwrap();
    std::fs::copy(dir.path().join("plant/pack.toml"), dir2.path().join("pack.toml")).unwrap();
    std::fs::write(dir2.path().join("refs.toml"), "document = []\npassage = []\n").unwrap();
    let e = PackSet::load(true, &[dir.path().to_path_buf(), dir2.path().to_path_buf()]).unwrap_err().to_string();
    assert!(e.contains("pack id `plant` is already loaded from") && e.contains("plant/pack.toml"), "{e}");
}

/// One malformed pack per kind of mistake: the error names the file, the line and why.
#[test]
fn malformed_packs_are_named_errors() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad_packs");
    let lib = PackSet::builtin().unwrap().library;
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let expect = text.lines().next().unwrap().strip_prefix("# expect: ").expect("fixture header");
        let (line, msg) = expect.split_once(": ").unwrap();
        let name = path.display().to_string();
        let e = parse_pack(&name, &text, &lib).unwrap_err();
        let s = e.to_string();
        assert!(s.starts_with(&format!("{name}:{line}:")), "{s}\n expected line {line}");
        assert!(s.contains(msg), "{s}\n expected `{msg}`");
        n += 1;
    }
    assert!(n >= 12);
}

/// A pack whose reference file is corrupt or missing fails to load, naming the file.
#[test]
fn corrupt_or_missing_reference_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let pack =
        "[pack]\nid = \"p\"\nversion = \"1\"\ntitle = { en = \"p\", zh = \"p\" }\nreferences = [\"refs.toml\"]\n";
    std::fs::write(dir.path().join("pack.toml"), pack).unwrap();
    let e = PackSet::load(true, &[dir.path().to_path_buf()]).unwrap_err().to_string();
    assert!(e.contains("refs.toml") && e.contains("cannot read"), "{e}");
    std::fs::write(dir.path().join("refs.toml"), "[[passage]]\nid = \"x\"\ndocument = \"nope\"\n").unwrap();
    let e = PackSet::load(true, &[dir.path().to_path_buf()]).unwrap_err().to_string();
    assert!(e.contains("refs.toml"), "{e}");
    // A pack passage may not redefine a built-in one.
    std::fs::write(
        dir.path().join("refs.toml"),
        "[[document]]\nid = \"d\"\ntitle = \"t\"\nedition = \"1\"\nlanguage = \"en\"\n[[passage]]\nid = \"iec60599.typical-values\"\ndocument = \"d\"\nclause = \"c\"\nverification = \"secondary\"\nedge = \"e\"\ntext_en = \"t\"\ntext_zh = \"t\"\n",
    )
    .unwrap();
    let e = PackSet::load(true, &[dir.path().to_path_buf()]).unwrap_err().to_string();
    assert!(e.contains("refs.toml") && e.contains("iec60599.typical-values") && e.contains("already defined"), "{e}");
}

/// IEC 60599 Table 1 ratio regions, edge by edge, read from the pack file: for every term of
/// every region, a point inside all the region's other terms is put exactly on the term's
/// edge, just inside it and just outside it, and evaluated through the gas values (so the
/// ratios are computed as online). On the edge the region holds only for `<=`/`>=`; just
/// outside it never holds. Regions are tried in the pack's order, so the expected outcome is
/// the first region whose terms all hold (compared here by hand, not through `Cond::holds`).
#[test]
fn iec60599_ratio_region_edges_from_the_pack_file() {
    use super::cond::Op;
    let set = PackSet::builtin().unwrap();
    let c = compiled(&set, "transformer-dga", "iec60599.ratios");
    let def = set.pack("transformer-dga").unwrap().criterion("iec60599.ratios").unwrap();
    let holds = |t: &cond::Term, x: f64| match t.op {
        Op::Lt => x < t.value,
        Op::Le => x <= t.value,
        Op::Gt => x > t.value,
        Op::Ge => x >= t.value,
    };
    let expect = |r: &[(&str, f64)]| -> String {
        let get = |v: &str| r.iter().find(|(n, _)| *n == v).map(|(_, x)| *x).unwrap();
        def.region
            .iter()
            .find(|reg| reg.conds.iter().any(|cd| cd.0.iter().all(|t| holds(t, get(&t.var)))))
            .map(|reg| format!("{}{}", def.code_prefix, reg.code))
            .unwrap_or_else(|| "abstain:out_of_domain".into())
    };
    // Gas values giving exactly these ratios; C2H4 = 1000 ppm keeps the applicability gate open.
    let gases = |r1: f64, r2: f64, r5: f64| {
        [("h2", 1000.0), ("ch4", r2 * 1000.0), ("c2h6", 1000.0 / r5), ("c2h4", 1000.0), ("c2h2", r1 * 1000.0)]
    };
    let mut checked = 0;
    for reg in &def.region {
        for cd in &reg.conds {
            // A value of each ratio inside all of this alternative's terms.
            let inside = |var: &str| {
                let (mut lo, mut hi) = (0.0f64, f64::INFINITY);
                for t in cd.0.iter().filter(|t| t.var == var) {
                    match t.op {
                        Op::Lt | Op::Le => hi = hi.min(t.value),
                        Op::Gt | Op::Ge => lo = lo.max(t.value),
                    }
                }
                if hi.is_finite() {
                    (lo + hi) / 2.0
                } else {
                    lo * 2.0 + 1.0
                }
            };
            for t in &cd.0 {
                let eps = 1e-6 * t.value.abs().max(1.0);
                let (into, out) = match t.op {
                    Op::Lt | Op::Le => (t.value - eps, t.value + eps),
                    Op::Gt | Op::Ge => (t.value + eps, t.value - eps),
                };
                for (x, where_) in [(t.value, "on"), (into, "inside"), (out, "outside")] {
                    let mut r = [("r1", inside("r1")), ("r2", inside("r2")), ("r5", inside("r5"))];
                    r.iter_mut().find(|(n, _)| *n == t.var).unwrap().1 = x;
                    let o = run(&c, &gases(r[0].1, r[1].1, r[2].1), &Params::new(), None);
                    let want = expect(&r);
                    assert_eq!(
                        code(&o),
                        want,
                        "{} `{}` {where_} the edge {} = {x}: {r:?}",
                        reg.code,
                        cd_str(cd),
                        t.var
                    );
                    let mine = format!("{}{}", def.code_prefix, reg.code);
                    match where_ {
                        "on" => assert_eq!(holds(t, x), matches!(t.op, Op::Le | Op::Ge)),
                        "inside" => assert!(holds(t, x)),
                        _ => assert_ne!(want, mine, "{} just outside {} {}", reg.code, t.var, t.value),
                    }
                    // A region found says so in both languages, with the region's title.
                    if let Outcome::Fault(f) = &o {
                        let title =
                            &def.region.iter().find(|g| f.code.ends_with(&format!(".{}", g.code))).unwrap().title;
                        assert!(f.evidence.summary.en.contains(&title.en), "{}", f.evidence.summary.en);
                        assert!(f.evidence.summary.zh.contains(&title.zh), "{}", f.evidence.summary.zh);
                    }
                    checked += 1;
                }
            }
        }
    }
    // PD 2 terms, D1 4, D2 5, T3 3, T2 4, T1 2: 20 edges, 3 points each.
    assert_eq!(checked, 60);
}

fn cd_str(cd: &cond::Cond) -> String {
    cd.0.iter().map(|t| format!("{} {:?} {}", t.var, t.op, t.value)).collect::<Vec<_>>().join(" & ")
}

/// The example plant pack in docs/packs.md, read from the page: it loads from a pack
/// directory as `[packs] dirs` would, and its bands give the codes the page shows.
#[test]
fn the_documented_example_pack_loads_and_evaluates() {
    let doc = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/packs.md")).unwrap();
    // The first ```toml block after a marker comment.
    let block = |marker: &str| -> String {
        let at = doc.find(marker).unwrap_or_else(|| panic!("docs/packs.md has no `{marker}`"));
        let rest = &doc[at + marker.len()..];
        let open = rest.find("```toml\n").unwrap_or_else(|| panic!("no ```toml block after `{marker}`"));
        let body = &rest[open + "```toml\n".len()..];
        let close = body.find("\n```").unwrap_or_else(|| panic!("unclosed ```toml block after `{marker}`"));
        body[..close + 1].to_string()
    };
    let dir = tempfile::tempdir().unwrap();
    let pack_dir = dir.path().join("plant-motors");
    std::fs::create_dir(&pack_dir).unwrap();
    std::fs::write(pack_dir.join("pack.toml"), block("<!-- example: pack.toml -->")).unwrap();
    std::fs::write(pack_dir.join("references.toml"), block("<!-- example: references.toml -->")).unwrap();
    let set =
        PackSet::load(true, &[dir.path().to_path_buf()]).unwrap_or_else(|e| panic!("the documented example: {e}"));
    let pack = set.pack("plant-motors").expect("the example pack's id");
    assert_eq!(pack.criteria.len(), 2);

    // The bands the page describes, exactly.
    let temp = pack.criterion("plant.bearing_temperature").unwrap();
    type Row<'a> = (Option<f64>, Option<f64>, &'a str, Option<Severity>);
    let bands: Vec<Row> = temp
        .band
        .iter()
        .map(|b| {
            let b = b.get_ref();
            (b.from, b.to, b.code.as_str(), b.severity)
        })
        .collect();
    assert_eq!(
        bands,
        [
            (None, Some(85.0), "OK", None),
            (Some(85.0), Some(95.0), "ALARM", Some(Severity::Medium)),
            (Some(95.0), None, "TRIP", Some(Severity::High)),
        ]
    );
    assert_eq!((temp.class.get_ref().as_str(), temp.status, temp.edge), ("motor", Status::V1, Edge::LowerInclusive));

    // Through the evaluator: the table "What it gives".
    let p = Params::new();
    let c = compiled(&set, "plant-motors", "plant.bearing_temperature");
    assert_eq!(code(&run(&c, &[("bearing_temp", 80.0)], &p, None)), "normal");
    assert_eq!(code(&run(&c, &[("bearing_temp", 85.0)], &p, None)), "PLANT.BEARING.ALARM", "85 is on the edge");
    let o = run(&c, &[("bearing_temp", 90.0)], &p, None);
    assert_eq!(code(&o), "PLANT.BEARING.ALARM");
    assert!(
        o.evidence().summary.en.contains("bearing_temp 90 °C is in band ALARM (edges 85 / 95 °C)"),
        "{}",
        o.evidence().summary.en
    );
    let o = run(&c, &[("bearing_temp", 96.0)], &p, None);
    assert_eq!(code(&o), "PLANT.BEARING.TRIP");
    let Outcome::Fault(f) = o else { unreachable!() };
    assert_eq!(f.severity, Severity::High);
    assert_eq!(f.citations.len(), 1);
    assert_eq!(
        (f.citations[0].reference_id.as_str(), f.citations[0].clause.en.as_str()),
        ("plant-mm07", "§4.2 Bearing temperature")
    );
    assert_eq!(f.citations[0].verification, crate::knowledge::Verification::Secondary);
    // Hysteresis 0.95 while ALARM is open: edges 80.75 / 90.25.
    assert_eq!(code(&run(&c, &[("bearing_temp", 82.0)], &p, Some("ALARM"))), "PLANT.BEARING.ALARM");
    assert_eq!(code(&run(&c, &[("bearing_temp", 80.0)], &p, Some("ALARM"))), "normal");
    assert_eq!(code(&run(&c, &[("bearing_temp", 91.0)], &p, Some("ALARM"))), "PLANT.BEARING.TRIP");

    let rise = compiled(&set, "plant-motors", "plant.bearing_rise");
    let v = |b: f64| [("bearing_temp", b), ("coolant_temp", 40.0)];
    assert_eq!(code(&run(&rise, &v(85.0), &p, None)), "normal");
    assert_eq!(code(&run(&rise, &v(90.0), &p, None)), "PLANT.BEARING_RISE.HIGH", "a rise of 50 K is on the edge");
    let o = run(&rise, &v(96.0), &p, None);
    assert_eq!(code(&o), "PLANT.BEARING_RISE.HIGH");
    let d = o.evidence().derived.iter().find(|d| d.name.en == "bearing rise over coolant").unwrap();
    assert_eq!((d.value, d.name.zh.as_str(), d.unit.en.as_str()), (56.0, "轴承温升（对冷却介质）", "K"));
}

/// A small plant pack directory: `pack.toml` with the given criteria (after the header),
/// citing `refs`, plus the reference files `refs` as (name, text).
fn plant_dir(root: &std::path::Path, name: &str, criteria: &str, refs: &[(&str, &str)]) -> std::path::PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let list: Vec<String> = refs.iter().map(|(f, _)| format!("{f:?}")).collect();
    let head = format!(
        "[pack]\nid = \"{name}\"\nversion = \"1\"\ntitle = {{ en = \"p\", zh = \"p\" }}\nreferences = [{}]\n",
        list.join(", ")
    );
    std::fs::write(dir.join("pack.toml"), format!("{head}{criteria}")).unwrap();
    for (f, t) in refs {
        std::fs::write(dir.join(f), t).unwrap();
    }
    dir
}

/// A bands criterion with the given id, citing a built-in passage.
fn h2_criterion(id: &str) -> String {
    format!(
        r#"
[[criterion]]
id = "{id}"
class = "transformer"
title = {{ en = "c", zh = "c" }}
status = "V1"
kind = "bands"
inputs = ["h2"]
input = "h2"
code_prefix = "PLANT.H2."
cite = ["iec60599.typical-values"]
band = [
  {{ to = 10, code = "OK", title = {{ en = "ok", zh = "正常" }} }},
  {{ from = 10, code = "HIGH", severity = "low", title = {{ en = "high", zh = "高" }}, action = {{ en = "look", zh = "查看" }} }},
]
"#
    )
}

/// Findings are tracked per (asset, criterion id): a criterion id defined by two packs is
/// an error naming both files, whether the first is a plant pack or a built-in one.
#[test]
fn criterion_ids_are_unique_across_packs() {
    let root = tempfile::tempdir().unwrap();
    plant_dir(root.path(), "plant-a", &h2_criterion("plant.h2"), &[]);
    plant_dir(root.path(), "plant-b", &format!("{}{}", h2_criterion("plant.h2_b"), h2_criterion("plant.h2")), &[]);
    let e = PackSet::load(true, &[root.path().to_path_buf()]).unwrap_err().to_string();
    let (a, b) = (root.path().join("plant-a/pack.toml"), root.path().join("plant-b/pack.toml"));
    // The second definition's line (its `class`), then the first file and its line.
    assert!(e.starts_with(&format!("{}:24:", b.display())), "{e}");
    assert!(
        e.contains("criterion `plant.h2`: duplicate criterion id: pack `plant-a` already defines it")
            && e.contains(&format!("({}:9)", a.display()))
            && e.contains("unique across all loaded packs"),
        "{e}"
    );
    // Distinct ids load.
    std::fs::write(
        root.path().join("plant-b/pack.toml"),
        std::fs::read_to_string(&b).unwrap().replace("id = \"plant.h2\"", "id = \"plant.h2_c\""),
    )
    .unwrap();
    let set = PackSet::load(true, &[root.path().to_path_buf()]).unwrap();
    assert_eq!(set.criteria().filter(|(p, _)| p.id.starts_with("plant-")).count(), 3);
    // A plant criterion may not take a built-in criterion's id either.
    let root2 = tempfile::tempdir().unwrap();
    let dir = plant_dir(root2.path(), "plant", &h2_criterion("bearing.temperature"), &[]);
    let e = PackSet::load(true, std::slice::from_ref(&dir)).unwrap_err().to_string();
    assert!(
        e.starts_with(&dir.join("pack.toml").display().to_string())
            && e.contains("pack `rotating` already defines it (configs/packs/rotating/pack.toml:")
            && e.contains(" (built in)): findings are tracked"),
        "{e}"
    );
    // Without the built-in packs, the same id is free.
    PackSet::load(false, &[dir]).unwrap();
}

/// A document id already loaded from another reference file must be the same document:
/// an identical copy loads (the built-in DGA pack repeats the built-in library's documents),
/// a different one is an error naming both files, the key and both values.
#[test]
fn a_document_id_names_one_document_across_reference_files() {
    let doc = |title: &str| {
        format!("[[document]]\nid = \"plant-mm07\"\ntitle = \"{title}\"\nedition = \"2024-03\"\nlanguage = \"en\"\n")
    };
    let passage = |id: &str| {
        format!("\n[[passage]]\nid = \"{id}\"\ndocument = \"plant-mm07\"\nclause = \"4.2\"\nverification = \"secondary\"\nedge = \">= counts\"\ntext_en = \"t\"\ntext_zh = \"t\"\n")
    };
    let refs_a = format!("{}{}", doc("Maintenance manual MM-07"), passage("plant-mm07.a"));
    let refs_b = format!("# the same manual\n{}{}", doc("Maintenance manual MM-07"), passage("plant-mm07.b"));
    let root = tempfile::tempdir().unwrap();
    plant_dir(root.path(), "plant-a", "", &[("refs.toml", &refs_a)]);
    plant_dir(root.path(), "plant-b", "", &[("refs.toml", &refs_b)]);
    let set = PackSet::load(true, &[root.path().to_path_buf()]).unwrap();
    assert_eq!(set.library.citation("plant-mm07.b").unwrap().title, "Maintenance manual MM-07");
    // Another title under the same id.
    let refs_b = format!("# another manual\n{}{}", doc("Pump manual PM-01"), passage("plant-mm07.b"));
    std::fs::write(root.path().join("plant-b/refs.toml"), &refs_b).unwrap();
    let e = PackSet::load(true, &[root.path().to_path_buf()]).unwrap_err().to_string();
    let (a, b) = (root.path().join("plant-a/refs.toml"), root.path().join("plant-b/refs.toml"));
    assert!(
        e.starts_with(&format!(
            "{}:2: document `plant-mm07`: key `title` = \"Pump manual PM-01\" differs from the document `plant-mm07` already loaded from {}:1 (title = \"Maintenance manual MM-07\")",
            b.display(),
            a.display()
        )),
        "{e}"
    );
    // A built-in document id with another edition: names the built-in library.
    let root2 = tempfile::tempdir().unwrap();
    let clash = "passage = []\n[[document]]\nid = \"iec60599-2022\"\ntitle = \"IEC 60599:2022 Mineral oil-filled electrical equipment in service - Guidance on the interpretation of dissolved and free gases analysis\"\nedition = \"2015\"\nlanguage = \"en\"\n";
    let dir = plant_dir(root2.path(), "plant", "", &[("refs.toml", clash)]);
    let e = PackSet::load(true, &[dir]).unwrap_err().to_string();
    assert!(
        e.contains("refs.toml:2: document `iec60599-2022`: key `edition` = \"2015\"")
            && e.contains("already loaded from src/knowledge/references.toml:11 (built in) (edition = \"2022\")"),
        "{e}"
    );
}

/// A directory in `[packs] dirs` that holds no pack is an error naming it, not a silent no-op.
#[test]
fn a_packs_dir_without_a_pack_is_an_error() {
    let root = tempfile::tempdir().unwrap();
    let e = PackSet::load(true, &[root.path().to_path_buf()]).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!(
            "{}: [packs] dirs: this directory has neither pack.toml nor */pack.toml",
            root.path().display()
        )),
        "{e}"
    );
    // A subdirectory without pack.toml (a misspelt file name) does not count.
    std::fs::create_dir(root.path().join("plant")).unwrap();
    std::fs::write(root.path().join("plant/packs.toml"), "").unwrap();
    let e = PackSet::load(true, &[root.path().to_path_buf()]).unwrap_err().to_string();
    assert!(e.contains("neither pack.toml nor */pack.toml"), "{e}");
    // With a pack one level down, it loads.
    plant_dir(root.path(), "plant-a", &h2_criterion("plant.h2"), &[]);
    let set = PackSet::load(true, &[root.path().to_path_buf()]).unwrap();
    assert!(set.pack("plant-a").is_some());
}

/// A band's own `cite` reaches its finding, and `all`/`any` are three-valued: a
/// sub-criterion that cannot tell makes `any` abstain unless another is a fault, and makes
/// `all` abstain unless another is normal.
#[test]
fn band_citations_and_combinations_that_cannot_tell() {
    let combo = |kind: &str| {
        format!(
            r#"
[[criterion]]
id = "hot_{kind}_unbalanced"
class = "motor"
title = {{ en = "Hot {kind} unbalanced", zh = "绕组过热与电源不平衡" }}
status = "V1"
kind = "{kind}"
of = ["hot", "unbalanced"]
code_prefix = "PLANT.{kind}"
severity = "high"
action = {{ en = "Check", zh = "检查" }}
"#
        )
    };
    let dir = plant_pack(&format!("{}{}", combo("all"), combo("any")));
    let set = PackSet::load(true, &[dir.path().to_path_buf()]).unwrap();
    let p = Params::new();
    let hot = compiled(&set, "plant", "hot");
    let Outcome::Fault(r) = run(&hot, &[("winding_temp", 110.0)], &p, None) else { panic!("hot at 110") };
    let ids: Vec<&str> = r.citations.iter().map(|c| c.passage_id.as_str()).collect();
    assert_eq!(ids, ["plant.rule-1", "plant.rule-2"], "the band's own citation is kept");

    // No voltages: `unbalanced` cannot tell.
    let all = compiled(&set, "plant", "hot_all_unbalanced");
    let any = compiled(&set, "plant", "hot_any_unbalanced");
    let t = |x: f64| [("winding_temp", x)];
    assert_eq!(code(&run(&any, &t(110.0), &p, None)), "PLANT.any", "one fault is enough for any");
    assert!(code(&run(&any, &t(90.0), &p, None)).starts_with("abstain:"), "any: normal and unknown is unknown");
    assert_eq!(code(&run(&all, &t(90.0), &p, None)), "normal", "all: one normal is enough");
    let o = run(&all, &t(110.0), &p, None);
    assert!(code(&o).starts_with("abstain:"), "all: fault and unknown is unknown: {}", code(&o));
    // With every input present the two-valued answers stand.
    let v = |x: f64, low: f64| [("winding_temp", x), ("v_ab", 400.0), ("v_bc", 400.0), ("v_ca", low)];
    assert_eq!(code(&run(&any, &v(90.0, 400.0), &p, None)), "normal");
    assert_eq!(code(&run(&all, &v(110.0, 380.0), &p, None)), "PLANT.all");
}

#[test]
fn a_roles_limits_are_the_edges_and_limit_values_of_its_assets_variant() {
    let set = PackSet::builtin().unwrap();
    let p = |kv: &[(&str, &str)]| kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>();
    // ISO 10816-3 group 2 rigid: zone edges 1.4 / 2.8 / 4.5 mm/s, from the pack's variant.
    let vib = set.role_limits("pump_skid", "vib_velocity_rms", &p(&[("vibration", "group2.rigid")]));
    let edges: Vec<f64> = vib.iter().filter(|l| l.criterion == "iso10816_3.zone").map(|l| l.value).collect();
    assert_eq!(edges, vec![1.4, 2.8, 4.5]);
    // Without the variant parameter the zone edges are unknown: none drawn.
    assert!(set.role_limits("pump_skid", "vib_velocity_rms", &p(&[])).iter().all(|l| l.criterion != "iso10816_3.zone"));
    // DL/T 722 attention values: H2 150 for every voltage class; C2H2 by class, each labelled
    // with its class when the asset's is not set.
    let h2 = set.role_limits("transformer", "h2", &p(&[]));
    assert!(h2.iter().any(|l| l.criterion == "dlt722.attention" && l.value == 150.0), "{h2:?}");
    let c2h2 = |kv| {
        set.role_limits("transformer", "c2h2", &p(kv))
            .into_iter()
            .filter(|l| l.criterion == "dlt722.attention")
            .collect::<Vec<_>>()
    };
    assert_eq!(c2h2(&[("voltage_class", "ge330kv")]).iter().map(|l| l.value).collect::<Vec<_>>(), vec![1.0]);
    let both = c2h2(&[]);
    assert_eq!(both.iter().map(|l| l.value).collect::<Vec<_>>(), vec![1.0, 5.0]);
    assert!(both[0].label.en.contains("voltage_class = ge330kv"), "{both:?}");
    // Another class, or a role no criterion limits on its own: nothing.
    assert!(set.role_limits("transformer", "vib_velocity_rms", &p(&[])).is_empty());
}

#[test]
fn messages_name_the_kinds_that_read_a_key_as_before_the_kinds_had_files() {
    assert_eq!(Kind::listed(|t| t.reads_gate, "and"), "bands, regions and codes");
    assert_eq!(Kind::listed(|t| t.names_faults, "or"), "regions or codes");
    assert_eq!(Kind::listed(|t| t.needs_history, "and"), "ieee_status and rate");
}
