//! The RKNN backend's load, fallback and report paths, against a stand-in librknnrt built here
//! with `cc` from tests/fixtures/rknn/stand_in_rknnrt.c (the C API functions edgecite calls;
//! a row's score is `scale * sum(features)`). No Rockchip NPU is involved: this checks that
//! edgecite drives the C API as rknn_api.h describes, passes the features through intact,
//! batches and pads rows, pins the .rknn file by hash, falls back with the reason, and reports
//! the provider in `check`, `model parity` and `GET /api/v1/models`.

use crate::common;
use crate::common::{demo_config, Daemon, Ports};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Build the stand-in librknnrt into `dir`.
fn stand_in(dir: &Path) -> PathBuf {
    let lib = dir.join("librknnrt.so");
    let src = common::repo().join("tests/fixtures/rknn/stand_in_rknnrt.c");
    let out = Command::new("cc").args(["-shared", "-fPIC", "-O1", "-o"]).arg(&lib).arg(&src).output().expect("cc");
    assert!(out.status.success(), "cc: {}", String::from_utf8_lossy(&out.stderr));
    lib
}

/// models/<name> copied to `dir/models/<name>` with `rknn` as its model.rknn (pinned in the
/// manifest unless `pin` is false), and parity.csv's reference scores replaced by the
/// stand-in's `scale * sum(features)`.
fn model_dir(dir: &Path, name: &str, rknn: Option<&str>, pin: bool, scale: f64) -> PathBuf {
    let from = common::repo().join("models").join(name);
    let to = dir.join("models").join(name);
    std::fs::create_dir_all(&to).unwrap();
    for f in ["model.onnx", "manifest.toml"] {
        std::fs::copy(from.join(f), to.join(f)).unwrap();
    }
    let parity = std::fs::read_to_string(from.join("parity.csv")).unwrap();
    let mut lines = parity.lines();
    let mut out = format!("{}\n", lines.next().unwrap());
    for l in lines.filter(|l| !l.trim().is_empty()) {
        let cols: Vec<f64> = l.split(',').map(|c| c.parse().unwrap()).collect();
        let n = cols.len() - 1;
        // As the stand-in computes it: f32 features, f32 sum.
        let sum: f32 = cols[..n].iter().map(|v| *v as f32).sum();
        let row: Vec<String> = cols[..n].iter().map(|v| v.to_string()).collect();
        out.push_str(&format!("{},{}\n", row.join(","), (scale as f32 * sum) as f64));
    }
    std::fs::write(to.join("parity.csv"), out).unwrap();
    if let Some(text) = rknn {
        std::fs::write(to.join("model.rknn"), text).unwrap();
        if pin {
            let m = std::fs::read_to_string(to.join("manifest.toml")).unwrap();
            let hash = hex::encode(Sha256::digest(text.as_bytes()));
            let m = m.replacen("\nsha256 = ", &format!("\nrknn_sha256 = \"{hash}\"\nsha256 = "), 1);
            std::fs::write(to.join("manifest.toml"), m).unwrap();
        }
    }
    to
}

fn config(dir: &Path, ports: &Ports, lib: &Path) -> PathBuf {
    let config = demo_config(dir, ports, &[]);
    let text = std::fs::read_to_string(&config).unwrap();
    let models = format!("{:?}", common::repo().join("models").display().to_string());
    let text = text.replace(
        &format!("models_dir = {models}"),
        &format!(
            "models_dir = {:?}\nproviders = [\"rknn\", \"cpu\"]\nrknn_runtime_path = {:?}",
            dir.join("models").display().to_string(),
            lib.display().to_string()
        ),
    );
    std::fs::write(&config, text).unwrap();
    config
}

fn edgecite(args: &[&str], config: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_edgecite"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env("ORT_DYLIB_PATH", common::ort_library())
        .output()
        .unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn a_model_rknn_runs_on_the_rknn_runtime_and_scores_through_its_c_api() {
    let dir = tempfile::tempdir().unwrap();
    let lib = stand_in(dir.path());
    // Batch 3 over 40 parity rows: 14 runs, the last one padded.
    model_dir(dir.path(), "pump_anomaly", Some("STAND-IN-RKNN features=6 batch=3 scale=0.5"), true, 0.5);
    let config = config(dir.path(), &Ports::new(), &lib);
    let (ok, text) = edgecite(&["model", "parity", "--json", "--model", "pump_anomaly"], &config);
    assert!(ok, "{text}");
    let json = text.lines().find(|l| l.starts_with('{')).unwrap_or_else(|| panic!("{text}"));
    let r: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(r["provider"], "rknn", "{r}");
    assert_eq!(r["rows"], 40, "{r}");
    assert_eq!(r["agrees"], true, "the stand-in's scores came back changed or out of order: {r}");
    let (ok, text) = edgecite(&["check"], &config);
    assert!(ok, "{text}");
    assert!(text.contains("pump_anomaly 2.0.0 on rknn"), "{text}");
}

#[test]
fn without_a_usable_rknn_model_or_runtime_the_model_falls_back_to_cpu_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let lib = stand_in(dir.path());
    model_dir(dir.path(), "pump_anomaly", None, false, 1.0);
    model_dir(dir.path(), "machine_temperature", Some("not an rknn model"), true, 1.0);
    model_dir(dir.path(), "pump_valve_anomaly", Some("STAND-IN-RKNN features=1 batch=1 scale=1"), false, 1.0);
    let config = config(dir.path(), &Ports::new(), &lib);
    let (ok, text) = edgecite(&["check"], &config);
    assert!(ok, "{text}");
    for (model, reason) in [
        ("pump_anomaly", "provider skipped: rknn: no model.rknn next to model.onnx"),
        ("machine_temperature", "provider skipped: rknn: rknn_init failed with -2"),
        ("pump_valve_anomaly", "provider skipped: rknn: the manifest has no rknn_sha256"),
    ] {
        let block: String =
            text.split(&format!("  {model} ")).nth(1).unwrap_or_else(|| panic!("{model}: {text}")).to_string();
        assert!(block.starts_with("1.0.0 on cpu") || block.starts_with("2.0.0 on cpu"), "{model}: {text}");
        assert!(
            block.lines().nth(1).is_some_and(|l| l.trim().starts_with(reason.trim())),
            "{model}: want {reason}\n{text}"
        );
    }

    // No runtime at all: the same fallback, and the error says where it looked.
    let text = std::fs::read_to_string(&config).unwrap().replace(lib.to_str().unwrap(), "/nonexistent/librknnrt.so");
    std::fs::write(&config, text).unwrap();
    model_dir(dir.path(), "pump_anomaly", Some("STAND-IN-RKNN features=6 batch=1 scale=1"), true, 1.0);
    let (ok, text) = edgecite(&["check"], &config);
    assert!(ok, "{text}");
    assert!(
        text.contains("provider skipped: rknn: librknnrt not found; looked in: /nonexistent/librknnrt.so"),
        "{text}"
    );
}

#[test]
fn the_daemon_reports_the_rknn_provider_in_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let lib = stand_in(dir.path());
    model_dir(dir.path(), "pump_anomaly", Some("STAND-IN-RKNN features=6 batch=1 scale=1"), true, 1.0);
    let ports = Ports::new();
    let config = config(dir.path(), &ports, &lib);
    let d = Daemon::start(&config, ports.api, &[]);
    let list = d.json("/api/v1/models");
    let m = &list["models"][0];
    assert_eq!(m["name"], "pump_anomaly", "{list}");
    assert_eq!(m["provider"], "rknn", "{list}");
    assert!(list["available_providers"].as_array().unwrap().contains(&"rknn".into()), "{list}");
    d.wait_until("the model scored through the RKNN C API", std::time::Duration::from_secs(60), || {
        let runs = d.json("/api/v1/models")["models"][0]["latency"]["runs"].as_u64()?;
        (runs >= 3).then_some(())
    });
}
