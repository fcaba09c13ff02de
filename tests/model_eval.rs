//! `edgecite model eval` against the Python reference (models/train/eval_reference.py:
//! features.py + onnxruntime) on the same small CSV: the same rows scored, the same scores,
//! alerts and abstentions. Bad CSVs are rejected naming file, line, column and value.

use crate::common;

use serde_json::Value;
use std::path::Path;
use std::process::Command;

const ROLES: [&str; 6] = ["vib_accel_rms", "vib_accel2_rms", "motor_current", "pressure", "motor_temp", "flow"];
const HEALTHY: [f64; 6] = [0.213, 0.268, 2.4, 0.11, 89.5, 125.2];
const FAULT: [f64; 6] = [0.35, 0.36, 2.7, 0.11, 95.0, 125.0];

/// 70 rows at 1 Hz: healthy with noise, one missing cell, a ramp into a bearing fault, then
/// flow leaving the model's domain. An extra column is ignored.
fn write_csv(path: &Path) {
    let mut s = 0x2545_F491_4F6C_DD1D_u64;
    let mut noise = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    let mut text = format!("timestamp,{},voltage\n", ROLES.join(","));
    for row in 0..70 {
        let ramp = ((row as f64 - 30.0) / 15.0).clamp(0.0, 1.0);
        let mut cells = Vec::new();
        for j in 0..6 {
            let mut v = HEALTHY[j] + ramp * (FAULT[j] - HEALTHY[j]);
            v += noise() * [0.004, 0.004, 0.3, 0.1, 0.4, 1.0][j];
            if j == 5 && row >= 60 {
                v = 90.0;
            }
            cells.push(if row == 22 && j == 3 { String::new() } else { format!("{v:.6}") });
        }
        text.push_str(&format!("2026-01-01T00:{:02}:{:02}Z,{},230.0\n", row / 60, row % 60, cells.join(",")));
    }
    std::fs::write(path, text).unwrap();
}

fn edgecite_eval(csv: &Path, json: bool) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_edgecite"));
    cmd.args(["model", "eval", "--model", "pump_anomaly", "--models-dir"])
        .arg(common::repo().join("models"))
        .arg("--csv")
        .arg(csv)
        .env("ORT_DYLIB_PATH", common::ort_library());
    if json {
        cmd.arg("--json");
    }
    cmd.output().unwrap()
}

fn kind(rust_reason: &str) -> &'static str {
    if rust_reason.contains("outside the model's domain") {
        "out_of_domain"
    } else if rust_reason.contains("the range the model was trained on") {
        "untrained"
    } else if rust_reason.contains("missing or bad") {
        "missing"
    } else if rust_reason.contains("samples needed") {
        "too_short"
    } else {
        "other"
    }
}

#[test]
fn model_eval_matches_the_python_reference_row_by_row() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("pump.csv");
    write_csv(&csv);
    let out = edgecite_eval(&csv, true);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rust: Value = serde_json::from_slice(&out.stdout).unwrap();
    let py = Command::new(common::repo().join(".venv/bin/python"))
        .arg(common::repo().join("models/train/eval_reference.py"))
        .arg("--model")
        .arg(common::repo().join("models/pump_anomaly"))
        .arg("--csv")
        .arg(&csv)
        .output()
        .unwrap();
    assert!(py.status.success(), "{}", String::from_utf8_lossy(&py.stderr));
    let py: Value = serde_json::from_slice(&py.stdout).unwrap();
    let (r, p) = (rust["rows"].as_array().unwrap(), py["rows"].as_array().unwrap());
    assert_eq!(r.len(), 70);
    assert_eq!(r.len(), p.len());
    let mut counts = std::collections::BTreeMap::new();
    for (a, b) in r.iter().zip(p) {
        assert_eq!(a["line"], b["line"]);
        assert_eq!(a["timestamp"], b["timestamp"]);
        match (a["score"].as_f64(), b["score"].as_f64()) {
            (Some(x), Some(y)) => {
                assert!((x - y).abs() <= 1e-4 * y.abs().max(1.0), "line {}: rust {x} python {y}", a["line"]);
                assert_eq!(a["alert"], b["alert"], "line {}", a["line"]);
                *counts.entry(if a["alert"] == true { "alert" } else { "ok" }).or_insert(0) += 1;
            }
            (None, None) => {
                let k = kind(a["abstain"].as_str().unwrap());
                assert!(b["abstain"].as_str().unwrap().starts_with(k), "line {}: {a} vs {b}", a["line"]);
                *counts.entry(k).or_insert(0) += 1;
            }
            _ => panic!("line {}: rust {a} python {b}", a["line"]),
        }
    }
    // Every case occurs: warm-up, the missing cell's 10 windows, normal rows, alerts, and the
    // rows whose 10-row flow mean has left the trained range (118.43 l/min: rows 62-63) and
    // then the domain of validity (113 l/min), not the first rows at 90 l/min.
    assert_eq!(counts["too_short"], 9, "{counts:?}");
    assert_eq!(counts["missing"], 10, "{counts:?}");
    assert_eq!(counts["untrained"], 2, "{counts:?}");
    assert!(counts["ok"] >= 10 && counts["alert"] >= 10 && counts["out_of_domain"] >= 5, "{counts:?}");

    let text = edgecite_eval(&csv, false);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("ALERT") && text.contains("outside the model's domain"), "{text}");
    assert!(text.contains("model pump_anomaly 2.0.0 on cpu (threshold 14.86): 70 row(s)"), "{text}");
}

#[test]
fn bad_csvs_are_rejected_naming_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            format!("timestamp,{}\n1,0.2,0.2,2.4,0.1,89,abc\n", ROLES.join(",")),
            ":2: column `flow`: value \"abc\" is not a number",
        ),
        (
            "timestamp,vib_accel_rms\n1,0.2\n".to_string(),
            ":1: missing column(s) for the model's role(s): vib_accel2_rms",
        ),
        (format!("{}\n0.2,0.2,2.4,0.1,89,125\n", ROLES.join(",")), ":1: no timestamp column"),
        (format!("timestamp,{}\n1,0.2,0.2\n", ROLES.join(",")), ":2: 3 field(s), the header has 7"),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let csv = dir.path().join(format!("bad{i}.csv"));
        std::fs::write(&csv, text).unwrap();
        let out = edgecite_eval(&csv, false);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(err.contains(&format!("{}{want}", csv.display())), "want {want:?} in {err}");
        assert!(!err.contains("panicked"));
    }
    let out = Command::new(env!("CARGO_BIN_EXE_edgecite"))
        .args(["model", "eval", "--model", "no_such_model", "--csv", "x.csv"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("model `no_such_model` not found"));
}

/// The shipped NAB model through `edgecite model eval` on the real series reproduces the
/// training script's evaluation (manifest [evaluation]): Rust features and the Rust ONNX
/// path agree with the Python that produced REPORT.md, window by window.
#[test]
fn machine_temperature_eval_on_nab_reproduces_the_training_report() {
    let data = common::repo_data("nab");
    let csv = data.join("machine_temperature_system_failure.csv");
    let out = Command::new(env!("CARGO_BIN_EXE_edgecite"))
        .args([
            "model",
            "eval",
            "--model",
            "machine_temperature",
            "--map",
            "temperature=value",
            "--json",
            "--models-dir",
        ])
        .arg(common::repo().join("models"))
        .arg("--csv")
        .arg(&csv)
        .env("ORT_DYLIB_PATH", common::ort_library())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v["rows"].as_array().unwrap();
    let windows: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("combined_windows.json")).unwrap()).unwrap();
    let windows: Vec<(String, String)> = windows["realKnownCause/machine_temperature_system_failure.csv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w[0].as_str().unwrap()[..19].to_string(), w[1].as_str().unwrap()[..19].to_string()))
        .collect();
    let train_rows = rows.iter().position(|r| r["timestamp"].as_str().unwrap() >= windows[0].0.as_str()).unwrap();
    let mut detected = vec![false; windows.len()];
    let mut fp_rows = 0;
    for (i, r) in rows.iter().enumerate() {
        if r["alert"] != true {
            continue;
        }
        let t = r["timestamp"].as_str().unwrap();
        match windows.iter().position(|(a, b)| t >= a.as_str() && t <= b.as_str()) {
            Some(w) => detected[w] = true,
            None if i >= train_rows => fp_rows += 1,
            None => {}
        }
    }
    let manifest: toml::Table = toml::from_str(
        &std::fs::read_to_string(common::repo().join("models/machine_temperature/manifest.toml")).unwrap(),
    )
    .unwrap();
    let eval = manifest["evaluation"].as_table().unwrap();
    assert_eq!(train_rows as i64, manifest["training"]["rows"].as_integer().unwrap());
    assert_eq!(detected.iter().filter(|d| **d).count() as i64, eval["windows_detected"].as_integer().unwrap());
    assert_eq!(fp_rows, eval["false_positive_rows"].as_integer().unwrap());
}
