//! Issue 12: the lab report's top line is one verdict that is never the wrong fault. Each
//! test reproduces an item of "What was found" through the binary, as a user runs it.

use serde_json::Value;
use std::process::Command;

fn dga(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_edgecite")).arg("dga").arg("--json").args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn method<'a>(r: &'a Value, id: &str) -> &'a Value {
    r["methods"].as_array().unwrap().iter().find(|m| m["criterion"] == id).unwrap_or_else(|| panic!("{id}: {r}"))
}

/// Item 1: "most severe method wins" gave arc discharge for a PD sample whose C2H2 and C2H4
/// are at the detection limit. The verdict is the triangle's PD; the three-ratio method
/// refuses a ratio of two gases under their quantification level.
#[test]
fn a_ratio_of_gases_at_the_detection_limit_never_outranks_the_triangle() {
    let r = dga(&["--h2", "2000", "--ch4", "500", "--c2h6", "40", "--c2h4", "1", "--c2h2", "1"]);
    assert_eq!(r["overall"]["kind"], "diagnosis", "{}", r["overall"]);
    assert_eq!(r["overall"]["codes"], serde_json::json!(["DGA.DUVAL1.PD"]));
    assert_eq!(r["overall"]["family"], "PD");
    assert_eq!(r["overall"]["severity"], "medium", "severity from the agreed diagnosis, not the most severe");
    let three = method(&r, "dlt722.three_ratio");
    assert_eq!(three["reason"], "imprecise", "{three}");
    assert!(three["detail"].as_str().unwrap().contains("C2H2 < 3.3"), "{three}");
    // The same sample with both gases well quantified and arc-like: methods disagree, which
    // is no diagnosis and never the most severe.
    let r = dga(&["--h2", "2000", "--ch4", "500", "--c2h6", "40", "--c2h4", "8", "--c2h2", "8"]);
    assert_eq!(method(&r, "dlt722.three_ratio")["family"], "D");
    assert_eq!(r["overall"]["status"], "abstain");
    assert_eq!(r["overall"]["kind"], "methods_disagree");
    assert_eq!(r["overall"]["reason"], "methods_disagree");
    assert!(r["overall"]["severity"].is_null());
    let s = r["overall"]["summary"]["en"].as_str().unwrap();
    assert!(s.contains("Duval") && s.contains("DL/T 722"), "each method's view is listed: {s}");
    assert!(
        r["overall"]["action"]["en"].as_str().unwrap().contains("laboratory"),
        "the confirming test: {}",
        r["overall"]
    );
}

/// Item 2: a missing gas became "normal". H2 at 220x its attention value with C2H4 and C2H2
/// not reported is abnormal, and the fault type is "not enough evidence", never normal.
#[test]
fn a_missing_gas_is_never_normal() {
    let r = dga(&["--h2", "32930", "--ch4", "2397", "--c2h6", "157", "--co", "313", "--co2", "560"]);
    assert_ne!(r["overall"]["status"], "normal", "{}", r["overall"]);
    assert_eq!(r["overall"]["kind"], "insufficient");
    assert_eq!(method(&r, "dlt722.attention")["status"], "fault", "judged gas by gas");
    assert_eq!(method(&r, "dlt722.co2_co")["reason"], "below_applicability");
    // A lab that leaves a cell empty for "not detected" says so with --blank: then the
    // triangle can judge (CH4 alone: PD).
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("lab.csv");
    std::fs::write(&p, "H2,CH4,C2H6,C2H4,C2H2,CO,CO2\n32930,2397,157,,,313,560\n").unwrap();
    let r = dga(&["--csv", p.to_str().unwrap(), "--blank", "not-detected"]);
    assert_eq!(r["overall"]["codes"], serde_json::json!(["DGA.DUVAL1.PD"]), "{}", r["overall"]);
    let c2h4 = method(&r, "iec60599.duval_triangle_1")["citations"].as_array().unwrap().len();
    assert!(c2h4 > 0);
    // The default reads an empty cell as not reported.
    let r = dga(&["--csv", p.to_str().unwrap()]);
    assert_eq!(r["overall"]["kind"], "insufficient");
}

/// Item 3: the DL/T 722 three-ratio gate ignored the voltage class.
#[test]
fn the_three_ratio_gate_follows_the_voltage_class() {
    let gas = ["--h2", "30", "--ch4", "8", "--c2h6", "5", "--c2h4", "3", "--c2h2", "1.5"];
    let r = dga(&[&gas[..], &["--voltage-class", "le220kv"]].concat());
    assert_eq!(r["overall"]["status"], "normal", "{}", r["overall"]);
    assert_eq!(method(&r, "dlt722.three_ratio")["reason"], "below_applicability");
    assert_eq!(method(&r, "dlt722.attention")["status"], "normal");
    // At 330 kV and above C2H2 1.5 exceeds the attention value 1: the ratios apply.
    let r = dga(&[&gas[..], &["--voltage-class", "ge330kv"]].concat());
    assert_eq!(method(&r, "dlt722.attention")["status"], "fault");
    assert_ne!(method(&r, "dlt722.three_ratio")["reason"], "below_applicability");
    assert_ne!(r["overall"]["status"], "normal");
}

/// Item 4: IEEE C57.104 status under-graded one sample with C2H2 at 25x Table 2.
#[test]
fn one_sample_far_above_table_2_is_status_3() {
    let r = dga(&[
        "--h2", "30", "--ch4", "20", "--c2h6", "20", "--c2h4", "20", "--c2h2", "50", "--co", "200", "--co2", "2000",
        "--o2", "1000", "--n2", "50000",
    ]);
    assert_eq!(method(&r, "ieee_c57104.status")["code"], "DGA.IEEE_C57104.STATUS3", "{r}");
}

/// Item 5: lab notations were refused as "not a number".
#[test]
fn lab_notations_are_read_and_carried_into_the_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("lab.csv");
    std::fs::write(
        &p,
        "id,H2,CH4,C2H6,C2H4,C2H2,CO,CO2\nA,200,400,100,600,ND,700,1500\nB,200,400,100,600,<1,700,1500\nC,200,400,100,600,n.d.,700,1500\nD,200,400,100,600,未检出,700,1500\nE,200,400,100,600,-,700,1500\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_edgecite")).args(["dga", "--json", "--csv"]).arg(&p).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let rows: Vec<Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 5);
    for r in &rows[..4] {
        // Not detected: the triangle judges it (C2H2 < 1 next to C2H4 600: T3).
        assert_eq!(r["overall"]["codes"], serde_json::json!(["DGA.DUVAL1.T3"]), "{}: {}", r["id"], r["overall"]);
    }
    // `-` means not reported: the methods that need C2H2 say so.
    assert_eq!(method(&rows[4], "iec60599.duval_triangle_1")["reason"], "no_data");
    // A value that is none of these names the cell.
    std::fs::write(&p, "H2,CH4,C2H6,C2H4,C2H2,CO,CO2\n200,400,100,600,trace,700,1500\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_edgecite")).args(["dga", "--json", "--csv"]).arg(&p).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("c2h2") && text.contains("`trace`") && text.contains("ND"), "{text}");
    // The flags take the same notations.
    let r = dga(&["--h2", "200", "--ch4", "400", "--c2h6", "100", "--c2h4", "600", "--c2h2", "ND"]);
    assert_eq!(r["overall"]["codes"], serde_json::json!(["DGA.DUVAL1.T3"]));
}

/// The eval command: confusion counts of the verdict and of each method against a label
/// column (here a small file written from the criteria, not from the product's output).
#[test]
fn the_eval_command_counts_the_verdict_and_each_method() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("labelled.csv");
    std::fs::write(
        &p,
        "H2,CH4,C2H6,C2H4,C2H2,CO,CO2,found\n\
         200,400,100,600,ND,700,1500,thermal\n\
         10,5,5,3,0,100,1000,no fault\n\
         2000,500,40,1,1,,,PD\n\
         2000,500,40,8,8,,,PD\n\
         1,1,1,1,1,1,1,unknown words\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_edgecite"))
        .args(["dga", "--json", "--eval", "found", "--csv"])
        .arg(&p)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let t: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(t["verdict"]["thermal"]["correct"], 1, "{t}");
    assert_eq!(t["verdict"]["no fault"]["correct"], 1, "{t}");
    assert_eq!(t["verdict"]["PD"]["rows"], 2);
    assert_eq!(t["verdict"]["PD"]["correct"], 1);
    assert_eq!(t["verdict"]["PD"]["no_diagnosis"], 1, "methods disagree is no diagnosis");
    assert_eq!(t["verdict_total"]["wrong"], 0);
    assert_eq!(t["methods"]["dlt722.three_ratio"]["wrong"], 1, "the three-ratio method alone calls the PD an arc");
    assert_eq!(t["unread"], serde_json::json!(["unknown words"]));
    // The text form is a Markdown table.
    let out = Command::new(env!("CARGO_BIN_EXE_edgecite"))
        .args(["dga", "--eval", "found", "--csv"])
        .arg(&p)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("| condition | rows | correct | wrong family |"), "{text}");
}

/// Item 6 (online), upgrade path: an open finding of a single criterion from before the
/// verdict layer is cleared at start-up with the reason; its rows stay, and the asset gets one
/// verdict per domain instead.
#[test]
fn a_per_criterion_finding_from_before_the_verdict_layer_is_cleared_with_the_reason() {
    use crate::common::{demo_config, Daemon, Ports};
    use edgecite::diagnose::{CriterionInfo, Evidence, FaultReport, Severity, Text};
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports::new();
    let config = demo_config(dir.path(), &ports, &[]);
    {
        let mut store = edgecite::store::Store::open(&dir.path().join("edgecite.db")).unwrap();
        let info = CriterionInfo {
            id: "iec60599.duval_triangle_1".into(),
            version: "1".into(),
            title: Text::new("Duval Triangle 1 (IEC 60599:2022 Annex B)", ""),
            verification: edgecite::knowledge::Verification::Verified,
        };
        let lib = edgecite::knowledge::Library::builtin().unwrap();
        let report = FaultReport {
            code: "DGA.DUVAL1.T3".into(),
            title: Text::same("old"),
            severity: Severity::High,
            evidence: Evidence {
                values: vec![edgecite::diagnose::EvidenceValue {
                    role: "ch4".into(),
                    point: "dga1.ch4".into(),
                    value: 400.0,
                    unit: "ppm".into(),
                    ts: "2026-01-01T00:00:00Z".into(),
                    ts_ms: 1,
                    quality: "good".into(),
                    below: None,
                }],
                summary: Text::untranslated("old"),
                ..Default::default()
            },
            citations: vec![lib.citation("iec60599.duval-triangle-1").unwrap()],
            recommended_action: Text::same("act"),
        };
        store.open_finding("T1", &info, &report, 1).unwrap();
    }
    let d = Daemon::start(&config, ports.api, &[]);
    let cleared = d.json("/api/v1/findings?state=cleared");
    let old = cleared
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["criterion"]["id"] == "iec60599.duval_triangle_1")
        .unwrap_or_else(|| panic!("{cleared}"));
    let detail = d.json(&format!("/api/v1/findings/{}", old["id"]));
    let last = detail["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "cleared");
    assert!(last["summary"].as_str().unwrap().contains("one verdict per asset and domain"), "{last}");
    assert!(d.log_text().contains("open finding from before the verdict layer"), "{}", d.log_text());
}
