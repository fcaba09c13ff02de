//! Vendor runtimes: the shipped models score like their reference (parity.csv, ONNX Runtime's
//! CPU scores from training) on several ONNX Runtime releases from PyPI, and on a real second
//! execution provider, OpenVINO (onnxruntime-openvino 1.24.1 runs its CPU plugin on this
//! machine), through `edgecite model parity`, `edgecite check`, the daemon's log and
//! `GET /api/v1/models`. Each runtime runs in its own process (one ONNX Runtime per process).
//! `scripts/setup.sh --tests` installs the runtimes into .ort/<version>/ (never into .venv).

use crate::common;
use crate::common::{demo_config, Daemon, Ports};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// `.ort/<dir>/onnxruntime/capi/libonnxruntime.so.<version>`, which setup.sh installs.
fn pypi_runtime(dir: &str, version: &str) -> PathBuf {
    let p = common::repo().join(".ort").join(dir).join("onnxruntime/capi").join(format!("libonnxruntime.so.{version}"));
    assert!(p.is_file(), "{} is missing: scripts/setup.sh --tests installs it", p.display());
    p
}

fn shipped_models() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(common::repo().join("models"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("parity.csv").is_file())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    v.sort();
    v
}

/// `edgecite model parity --json` for `model` with this runtime and optional config.
fn parity(lib: &std::path::Path, model: &str, config: Option<&std::path::Path>) -> Value {
    let mut c = Command::new(env!("CARGO_BIN_EXE_edgecite"));
    c.args(["model", "parity", "--json", "--model", model, "--models-dir"]).arg(common::repo().join("models"));
    if let Some(cfg) = config {
        c.arg("--config").arg(cfg);
    }
    let out = c.env("ORT_DYLIB_PATH", lib).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "parity of {model} with {}: {text}\n{}",
        lib.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(text.lines().last().unwrap_or("")).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// A config whose [inference] prefers OpenVINO (on its CPU device, FP32) over CPU.
fn openvino_config(dir: &std::path::Path, ports: &Ports) -> PathBuf {
    let config = demo_config(dir, ports, &[]);
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replacen("[inference]\n", "[inference]\nproviders = [\"openvino\", \"cpu\"]\n", 1)
        + "\n[inference.provider_options.openvino]\ndevice_type = \"CPU\"\nprecision = \"FP32\"\n";
    std::fs::write(&config, text).unwrap();
    config
}

#[test]
fn the_shipped_models_score_alike_on_onnx_runtime_1_22_1_24_and_1_31() {
    let runtimes = [
        (pypi_runtime("1.22.1", "1.22.1"), "1.22.1"),
        (pypi_runtime("openvino-1.24.1", "1.24.1"), "1.24.1"),
        (common::ort_library(), "1.31.1"),
    ];
    for (lib, version) in &runtimes {
        for model in shipped_models() {
            let r = parity(lib, &model, None);
            assert_eq!(r["runtime"], *version, "{r}");
            assert_eq!(r["provider"], "cpu", "{r}");
            assert_eq!(r["agrees"], true, "{model} on ONNX Runtime {version}: {r}");
            assert!(r["rows"].as_u64().unwrap() >= 10, "{r}");
            eprintln!("{model} on ONNX Runtime {version} cpu: max scaled diff {}", r["max_scaled_diff"]);
        }
    }
}

#[test]
fn openvino_runs_the_shipped_models_with_the_reference_scores() {
    let lib = pypi_runtime("openvino-1.24.1", "1.24.1");
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports::new();
    let config = openvino_config(dir.path(), &ports);
    for model in shipped_models() {
        let r = parity(&lib, &model, Some(&config));
        assert_eq!(r["provider"], "openvino", "{r}");
        // The whole graph on OpenVINO: the session was created with CPU fallback disabled.
        assert_eq!(r["provider_nodes"], "all", "{r}");
        assert_eq!(r["agrees"], true, "{model} on OpenVINO: {r}");
        eprintln!("{model} on OpenVINO 1.24.1 (CPU device): max scaled diff {}", r["max_scaled_diff"]);
    }
    // `check` says so, with the options passed.
    let out = Command::new(env!("CARGO_BIN_EXE_edgecite"))
        .args(["check", "--config"])
        .arg(&config)
        .env("ORT_DYLIB_PATH", &lib)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        text.contains("runtime: ONNX Runtime 1.24.1 from ") && text.contains("(providers: openvino, cpu)"),
        "{text}"
    );
    assert!(text.contains("runtime features: all on (edgecite needs ONNX Runtime 1.22 or later"), "{text}");
    assert!(
        text.contains("pump_anomaly 2.0.0 on openvino (threshold 14.86; all nodes on openvino; options device_type=CPU precision=FP32)"),
        "{text}"
    );

    // The daemon: log and API.
    let d = Daemon::start(&config, ports.api, &[("ORT_DYLIB_PATH", Some(lib.to_str().unwrap()))]);
    let list = d.json("/api/v1/models");
    assert_eq!(list["runtime"]["version"], "1.24.1", "{list}");
    assert!(list["available_providers"].as_array().unwrap().contains(&Value::from("openvino")), "{list}");
    for m in list["models"].as_array().unwrap() {
        assert_eq!(m["status"], "loaded", "{m}");
        assert_eq!(m["provider"], "openvino", "{m}");
        assert_eq!(m["provider_nodes"], "all", "{m}");
        assert_eq!(m["provider_options"]["device_type"], "CPU", "{m}");
        assert!(m["provider_fallbacks"].as_array().unwrap().is_empty(), "{m}");
    }
    d.wait_until("pump_anomaly scored on OpenVINO", Duration::from_secs(60), || {
        let l = d.json("/api/v1/models");
        let runs = l["models"].as_array()?.iter().find(|m| m["name"] == "pump_anomaly")?["latency"]["runs"].as_u64()?;
        (runs >= 3).then_some(())
    });
    let log = d.log_text();
    assert!(
        log.lines()
            .any(|l| l.contains("model loaded") && l.contains("pump_anomaly") && l.contains("provider=\"openvino\"")),
        "{log}"
    );
}

#[test]
fn an_openvino_device_that_is_not_there_falls_back_to_cpu_with_the_reason() {
    // This machine has no Intel NPU: the provider is refused and CPU takes the model.
    let lib = pypi_runtime("openvino-1.24.1", "1.24.1");
    let dir = tempfile::tempdir().unwrap();
    let config = openvino_config(dir.path(), &Ports::new());
    let text = std::fs::read_to_string(&config).unwrap().replace("device_type = \"CPU\"", "device_type = \"NPU\"");
    std::fs::write(&config, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_edgecite"))
        .args(["check", "--config"])
        .arg(&config)
        .env("ORT_DYLIB_PATH", &lib)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("pump_anomaly 2.0.0 on cpu"), "{text}");
    assert!(text.contains("provider skipped: openvino: "), "{text}");
}

#[test]
fn plugin_ep_libraries_are_registered_by_path_and_report_what_they_offer() {
    // The OpenVINO provider library of onnxruntime-openvino 1.24.1 is also a plugin EP library
    // (it exports CreateEpFactories); onnxruntime_providers_shared is not one.
    let lib = pypi_runtime("openvino-1.24.1", "1.24.1");
    let capi = lib.parent().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = demo_config(dir.path(), &Ports::new(), &[]);
    let text = std::fs::read_to_string(&config).unwrap().replacen(
        "[inference]\n",
        &format!(
            "[inference]\nproviders = [\"plugin\", \"cpu\"]\nep_libraries = [{{ name = \"ov\", path = {:?} }}, {{ name = \"shared\", path = {:?} }}]\n",
            capi.join("libonnxruntime_providers_openvino.so").display().to_string(),
            capi.join("libonnxruntime_providers_shared.so").display().to_string()
        ),
        1,
    );
    std::fs::write(&config, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_edgecite"))
        .args(["check", "--config"])
        .arg(&config)
        .env("ORT_DYLIB_PATH", &lib)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("ERROR: EP library shared (") && text.contains("cannot register"), "{text}");
    // OpenVINO's plugin factory offers Intel devices only: on an Intel host the models run on
    // them, elsewhere (this AMD CPU) the library registers but adds no device, and says so.
    if text.contains("pump_anomaly 2.0.0 on plugin") {
        assert!(!text.contains("EP library ov ("), "{text}");
    } else {
        assert!(
            text.contains("ERROR: EP library ov (") && text.contains("registered, but it added no device (devices: "),
            "{text}"
        );
        assert!(text.contains("provider skipped: plugin: the plugin libraries"), "{text}");
        assert!(text.contains("pump_anomaly 2.0.0 on cpu"), "{text}");
    }
    // A library that is not there is a config error naming the key.
    let bad = std::fs::read_to_string(&config).unwrap().replace("libonnxruntime_providers_shared.so", "missing.so");
    std::fs::write(&config, bad).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_edgecite")).args(["check", "--config"]).arg(&config).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("inference.ep_libraries[1].path") && err.contains("no such file"),
        "{err}"
    );
}
