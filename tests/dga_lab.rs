//! `edgecite dga` over real published DGA series (data/dga-series, a copy in the repository): every row
//! gets a diagnosis or an explicit abstention with its reason, never a crash; rows of the
//! same transformer form a series that the rate and delta methods use. Plus bad input.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_edgecite"))
}

fn dataset() -> PathBuf {
    crate::common::repo_data("dga-series/dga_records_flat.csv")
}

/// Split a CSV line (the dataset quotes only a few free-text cells).
fn fields(line: &str) -> Vec<String> {
    let (mut out, mut cur, mut q) = (Vec::new(), String::new(), false);
    for c in line.chars() {
        match c {
            '"' => q = !q,
            ',' if !q => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// The dataset's `Age` column holds a sample date in several formats, a year, a sample
/// index or an age ("39 years"): turn it into our `date` / `age_years` columns.
fn date_and_age(a: &str) -> (String, String) {
    let a = a.trim();
    if let Some(y) = a.strip_suffix(" years") {
        return (String::new(), y.to_string());
    }
    let nums: Vec<&str> = a.split(['/', '.', '-']).collect();
    let n = |s: &str| s.parse::<u32>().ok();
    match nums.as_slice() {
        [y, "0"] if n(y).is_some_and(|y| y > 1900) => (format!("{y}-01-01"), String::new()),
        [d, m, y] if y.len() == 4 => (format!("{y}-{:02}-{:02}", n(m).unwrap(), n(d).unwrap()), String::new()),
        [y, m, d] if y.len() == 4 => (format!("{y}-{:02}-{:02}", n(m).unwrap(), n(d).unwrap()), String::new()),
        _ => (String::new(), String::new()), // empty or a sample index: undated
    }
}

/// The dataset in `edgecite dga` CSV form. A dash or blank cell is "not reported".
fn convert(dir: &Path) -> (PathBuf, Vec<String>) {
    let text = std::fs::read_to_string(dataset()).expect("data/dga-series in the repository");
    let mut lines = text.lines();
    let header = fields(lines.next().unwrap());
    let col = |name: &str| header.iter().position(|h| h.contains(name)).unwrap();
    let gas = [
        ("H2", "(H2)"),
        ("CH4", "(CH4)"),
        ("C2H6", "(C2H6)"),
        ("C2H4", "(C2H4)"),
        ("C2H2", "(C2H2)"),
        ("CO", "(CO)"),
        ("CO2", "(CO2)"),
        ("O2", "(O2)"),
        ("N2", "(N2)"),
    ];
    let mut out = String::from("id,date,age_years,H2,CH4,C2H6,C2H4,C2H2,CO,CO2,O2,N2\n");
    let mut ids = Vec::new();
    for line in lines {
        let f = fields(line);
        // Transformer names repeat across source tables: the series key is table + name.
        let id = format!("{}/{}", f[col("table")], f[col("Transformer")].trim());
        let (date, age) = date_and_age(&f[col("Age")]);
        let mut row = vec![id.clone(), date, age];
        for (_, h) in gas {
            let v = f[col(h)].trim();
            row.push(if v == "-" { String::new() } else { v.to_string() });
        }
        out.push_str(&row.join(","));
        out.push('\n');
        ids.push(id);
    }
    let path = dir.join("series.csv");
    std::fs::write(&path, out).unwrap();
    (path, ids)
}

#[test]
fn every_row_of_the_published_series_is_diagnosed_or_abstains() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, ids) = convert(dir.path());
    assert_eq!(ids.len(), 507);
    let out = bin().args(["dga", "--csv"]).arg(&csv).arg("--json").output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    let reports: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(reports.len(), ids.len(), "one JSON object per row");

    let mut seen: std::collections::HashMap<&str, u64> = Default::default();
    let (mut faults, mut normals, mut abstains, mut rates, mut deltas) = (0, 0, 0, 0, 0);
    for (r, id) in reports.iter().zip(&ids) {
        assert_eq!(r["id"], id.as_str());
        assert!(r.get("error").is_none(), "{r}");
        // Series: each earlier row of the same transformer is history.
        let n = seen.entry(id).or_default();
        assert_eq!(r["history"], *n, "{id}");
        *n += 1;
        let methods = r["methods"].as_array().unwrap();
        assert_eq!(methods.len(), 8, "every shipped method answers");
        for m in methods {
            match m["status"].as_str().unwrap() {
                "fault" => {
                    assert!(m["code"].is_string() && m["severity"].is_string());
                    assert!(!m["citations"].as_array().unwrap().is_empty(), "{m}");
                    assert!(!m["action"]["zh"].as_str().unwrap().is_empty());
                }
                "normal" => {}
                "abstain" => {
                    assert!(m["reason"].is_string(), "{m}");
                    assert!(m["detail"].as_str().unwrap().len() > 10, "{m}");
                }
                s => panic!("status {s}"),
            }
            if m["criterion"] == "dlt722.relative_rate" && m["status"] != "abstain" {
                rates += 1;
            }
            if m["criterion"] == "ieee_c57104.status" && m["status"] != "abstain" && r["history"].as_u64().unwrap() > 0
            {
                // Earlier rows are seen (a note may say none is 7 days older).
                let detail = m["detail"].as_str().unwrap();
                assert!(!detail.contains("no earlier sample: deltas"), "{m}");
                if !detail.contains("no earlier sample") {
                    deltas += 1;
                }
            }
        }
        match r["overall"]["status"].as_str().unwrap() {
            "fault" => faults += 1,
            "normal" => normals += 1,
            "abstain" => abstains += 1,
            s => panic!("overall {s}"),
        }
        assert!(!r["overall"]["summary"]["en"].as_str().unwrap().is_empty());
        if r["overall"]["status"] == "normal" {
            // A normal verdict never reads as a limit exceeded (the attention criterion's
            // title once said "attention values exceeded" before "H2 30 <= 150").
            let (en, zh) =
                (r["overall"]["summary"]["en"].as_str().unwrap(), r["overall"]["summary"]["zh"].as_str().unwrap());
            // (未超过, "not exceeded", is a negation and fine.)
            assert!(
                !en.contains("exceeded") && !zh.replace("未超过", "").contains("超过"),
                "normal summary reads as a fault: {en} / {zh}"
            );
        }
        let cited: Vec<&str> =
            r["citations"].as_array().unwrap().iter().map(|c| c["passage_id"].as_str().unwrap()).collect();
        for m in methods {
            for c in m["citations"].as_array().unwrap() {
                assert!(cited.contains(&c.as_str().unwrap()), "row citations list {c}");
            }
        }
    }
    eprintln!(
        "{faults} fault, {normals} normal, {abstains} abstain; {rates} rates judged, {deltas} IEEE series judgements"
    );
    assert!(faults > 100 && normals > 10, "the series holds both faulty and healthy samples");
    assert!(rates >= 20, "dated multi-sample transformers get a gassing rate ({rates})");
    assert!(deltas >= 10, "transformers with O2/N2 get Table 3 deltas ({deltas})");
    // Empty cells are not zeros: rows without CO leave CO2/CO unjudged, saying so.
    let no_co = reports
        .iter()
        .find(|r| {
            r["methods"][6]["criterion"] == "dlt722.co2_co"
                && r["methods"][6]["detail"].as_str().unwrap().contains("not reported: CO")
        })
        .unwrap();
    assert_eq!(no_co["methods"][6]["reason"], "no_data");
}

#[test]
fn a_single_sample_from_flags_and_bad_input() {
    let out = bin()
        .args(["dga", "--json", "--h2", "200", "--ch4", "400", "--c2h6", "100", "--c2h4", "600", "--c2h2", "6"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["overall"]["status"], "fault");
    // The top line is the verdict: the triangle's T3, confirmed by the ratio methods.
    assert_eq!(r["overall"]["kind"], "diagnosis");
    assert_eq!(r["overall"]["codes"], serde_json::json!(["DGA.DUVAL1.T3"]));
    assert_eq!(r["overall"]["family"], "T");
    assert!(r["overall"]["confirmed_by"].as_u64().unwrap() >= 2, "{}", r["overall"]);
    // CO and CO2 not given: CO2/CO abstains, it does not read zero.
    let co = r["methods"].as_array().unwrap().iter().find(|m| m["criterion"] == "dlt722.co2_co").unwrap();
    assert_eq!(co["reason"], "no_data");
    assert!(co["detail"].as_str().unwrap().contains("CO, CO2"), "{co}");

    // The text output in Chinese: results, abstentions, details and clauses.
    let out = bin()
        .args(["dga", "--lang", "zh", "--h2", "200", "--ch4", "400", "--c2h6", "100", "--c2h4", "600", "--c2h2", "6"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for zh in ["不作判断（no_data）", "位于 T3", "附录 B，Duval 三角形 1", "(已核实)"] {
        assert!(text.contains(zh), "`{zh}` missing:\n{text}");
    }
    for en in ["abstains (", " lies in ", "(Verified)"] {
        assert!(!text.contains(en), "English `{en}` in the Chinese output:\n{text}");
    }

    let out = bin().args(["dga", "--h2", "-5"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("H2") && err.contains("-5"), "{err}");

    // A bad row is reported in place with file, line and value; the other rows still run.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("lab.csv");
    std::fs::write(&p, "id,H2,CH4,C2H6,C2H4,C2H2,CO,CO2\nA,10,20,30,40,0,100,1000\nB,10,twenty,30,40,0,100,1000\nC,,,,,,,\nD,1,2,3,4,5,6,7\n").unwrap();
    let out = bin().args(["dga", "--json", "--csv"]).arg(&p).output().unwrap();
    assert!(!out.status.success(), "a bad row makes the exit status non-zero");
    let lines: Vec<Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 4, "A, the error for B, C, D");
    assert_eq!(lines[0]["id"], "A");
    assert_eq!(lines[1]["line"], 3);
    assert!(lines[1]["error"].as_str().unwrap().contains("`twenty`"));
    // Nothing reported: every method abstains and the overall answer says so.
    assert_eq!(lines[2]["id"], "C");
    assert_eq!(lines[2]["overall"]["status"], "abstain");
    assert!(lines[2]["methods"].as_array().unwrap().iter().all(|m| m["reason"] == "no_data"));
    assert_eq!(lines[3]["id"], "D");
    // A header problem stops before any row.
    std::fs::write(&p, "H2;CH4\n1;2\n").unwrap();
    let out = bin().args(["dga", "--csv"]).arg(&p).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("lab.csv"));
}

/// The labelled rows of the same data set become past failure cases (scripts/dga_cases.py),
/// imported with `edgecite refs import` and found by `edgecite ask` with their source.
#[test]
fn published_fault_cases_are_imported_and_answer_questions() {
    let text = std::fs::read_to_string(dataset()).expect("data/dga-series in the repository");
    let mut lines = text.lines();
    let header = fields(lines.next().unwrap());
    let cond = header.iter().position(|h| h == "Acc condition").unwrap();
    let conditions: Vec<String> = lines
        .map(|l| fields(l)[cond].trim().to_string())
        .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("no fault"))
        .collect();
    assert!(conditions.len() >= 10, "the data set has fewer fault rows than expected: {}", conditions.len());

    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("python3")
        .arg(crate::common::repo().join("scripts/dga_cases.py"))
        .arg(dataset())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cases = dir.path().join("dga-cases.toml");
    std::fs::write(&cases, &out.stdout).unwrap();
    let config = crate::common::demo_config(dir.path(), &crate::common::Ports::new(), &[]);
    let out = bin()
        .args(["refs", "import", "--id", "dga-series-cases", "--config"])
        .arg(&config)
        .arg(&cases)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(&format!(": {} passage(s)", conditions.len())), "one case per fault row: {stdout}");

    let out = bin()
        .args(["ask", "--json", "--limit", "10", "--config"])
        .arg(&config)
        .arg("acetylene discharge")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let found: Vec<&Value> = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["passage_id"].as_str().unwrap().starts_with("dga-series-cases#"))
        .collect();
    assert!(!found.is_empty(), "no case among the answers: {r}");
    for p in found {
        assert_eq!(p["verification"], "plant", "{p}");
        let t = p["text"].as_str().unwrap();
        assert!(t.contains("see the source: http"), "a case names its source: {t}");
        let c = t.split("Condition found: ").nth(1).and_then(|s| s.split('.').next()).unwrap();
        assert!(conditions.iter().any(|x| x == c), "condition `{c}` is not one of the data set's: {t}");
    }
}
