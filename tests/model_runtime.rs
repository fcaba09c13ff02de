//! The inference engine inside the running daemon: execution-provider preference with an
//! honest fallback (the PyPI ONNX Runtime has only CPU), a rejected model next to a running
//! one, `GET /api/v1/models`, `edgecite status`, and SIGHUP hot reload under polling load
//! with no sample lost.

use crate::common;

use crate::common::{demo_config, Daemon, Ports};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// A daemon on the demo plant with models from `models` and the given provider preference;
/// both Modbus sources poll every 50 ms (load), evaluation every 100 ms.
fn start(dir: &Path, models: &Path, providers: &str) -> Daemon {
    start_with(dir, models, &format!("providers = {providers}"))
}

/// As `start`, with `inference` lines added to the [inference] section.
fn start_with(dir: &Path, models: &Path, inference: &str) -> Daemon {
    let ports = Ports::new();
    let config = demo_config(
        dir,
        &ports,
        &[
            ("interval_ms = 1000\ntimeout_ms = 500\npoints", "interval_ms = 50\ntimeout_ms = 500\npoints"),
            ("[diagnose]\ninterval_ms = 1000", "[diagnose]\ninterval_ms = 100"),
        ],
    );
    let text = std::fs::read_to_string(&config).unwrap();
    let repo_models = format!("{:?}", common::repo().join("models").display().to_string());
    assert!(text.contains(&repo_models));
    let text = text.replace(
        &format!("models_dir = {repo_models}"),
        &format!("models_dir = {:?}\n{inference}", models.display().to_string()),
    );
    std::fs::write(&config, text).unwrap();
    Daemon::start(&config, ports.api, &[])
}

fn model<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["models"].as_array().unwrap().iter().find(|m| m["name"] == name).unwrap_or_else(|| panic!("{name} in {list}"))
}

#[test]
fn absent_providers_fall_back_to_cpu_with_a_warning_in_log_status_and_api() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    common::copy_dir(&common::repo().join("models/pump_anomaly"), &models.join("pump_anomaly"));
    // A second model whose file was tampered with: rejected, the first still runs.
    common::copy_dir(&common::repo().join("models/pump_anomaly"), &models.join("tampered"));
    let m = std::fs::read_to_string(models.join("tampered/manifest.toml")).unwrap();
    std::fs::write(models.join("tampered/manifest.toml"), m.replace("name = \"pump_anomaly\"", "name = \"tampered\""))
        .unwrap();
    std::fs::write(models.join("tampered/model.onnx"), b"tampered bytes").unwrap();

    let d = start(dir.path(), &models, r#"["rknpu", "cuda"]"#);
    let list = d.json("/api/v1/models");
    let pump = model(&list, "pump_anomaly");
    assert_eq!(pump["status"], "loaded");
    assert_eq!(pump["provider"], "cpu", "{pump}");
    let skipped: Vec<&str> =
        pump["provider_fallbacks"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(skipped[0].starts_with("rknpu: not in this ONNX Runtime build"), "{skipped:?}");
    assert!(skipped[1].starts_with("cuda: not in this ONNX Runtime build"), "{skipped:?}");
    assert!(skipped[0].contains("has: cpu"), "{skipped:?}");
    let roles: Vec<&str> = pump["input_roles"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    assert_eq!(roles, ["vib_accel_rms", "vib_accel2_rms", "motor_current", "pressure", "motor_temp", "flow"]);
    assert!(list["available_providers"].as_array().unwrap().contains(&Value::from("cpu")));

    let bad = model(&list, "tampered");
    assert_eq!(bad["status"], "rejected");
    assert!(bad["error"].as_str().unwrap().contains("sha256"), "{bad}");
    assert!(bad["provider"].is_null());

    // The model runs: latency stats count its runs.
    d.wait_until("pump model runs", Duration::from_secs(30), || {
        let l = d.json("/api/v1/models");
        let runs = model(&l, "pump_anomaly")["latency"]["runs"].as_u64().unwrap();
        (runs >= 3).then_some(())
    });
    // /metrics counts the models like sources (issue 18): loaded or not, and their runs.
    let auth = format!("Bearer {}", d.token);
    let m = common::http(d.api, "GET", "/metrics", &[("Authorization", &auth)], None).unwrap();
    let text = m.json.as_str().unwrap_or_default().to_string();
    let value = |line: &str| -> Option<u64> {
        text.lines().find(|l| l.starts_with(line)).and_then(|l| l.rsplit(' ').next()?.parse().ok())
    };
    assert_eq!(value("edgecite_model_loaded{model=\"pump_anomaly\"}"), Some(1), "{text}");
    assert_eq!(value("edgecite_model_loaded{model=\"tampered\"}"), Some(0), "{text}");
    assert!(value("edgecite_model_runs_total{model=\"pump_anomaly\"}").unwrap() >= 3, "{text}");
    assert!(value("edgecite_model_rows_total{model=\"pump_anomaly\"}").unwrap() >= 3, "{text}");
    assert_eq!(value("edgecite_model_errors_total{model=\"pump_anomaly\"}"), Some(0), "{text}");
    // One status seam (issue 18): every source, sink and model is a component with the same
    // counters in /metrics, /healthz and `edgecite status`; a rejected model is a problem.
    let c = |id: &str, role: &str, kind: &str| {
        format!("component_id=\"{id}\",component_role=\"{role}\",component_kind=\"{kind}\"}}")
    };
    assert_eq!(value(&format!("edgecite_component_healthy{{{}", c("pump_anomaly", "model", "cpu"))), Some(1), "{text}");
    assert_eq!(value(&format!("edgecite_component_healthy{{{}", c("tampered", "model", "none"))), Some(0), "{text}");
    assert!(
        value(&format!("edgecite_component_received_events_total{{{}", c("pump_anomaly", "model", "cpu"))).unwrap()
            >= 3
    );
    let h = d.json("/healthz");
    assert_eq!(h["status"], "degraded", "{h}");
    assert!(
        h["reasons"].as_array().unwrap().iter().any(|r| r.as_str().unwrap().starts_with("model tampered rejected: ")),
        "{h}"
    );
    let comps = h["components"].as_array().unwrap();
    let comp = |id: &str| comps.iter().find(|x| x["id"] == id).unwrap_or_else(|| panic!("no component {id}: {h}"));
    assert_eq!(
        (comp("pump_anomaly")["healthy"].as_bool(), comp("pump_anomaly")["role"].as_str()),
        (Some(true), Some("model"))
    );
    assert_eq!(comp("tampered")["healthy"], false, "{h}");
    let sources = comps.iter().filter(|x| x["role"] == "source").count();
    assert_eq!(sources, h["sources"].as_array().unwrap().len(), "every source is a component: {h}");

    let log = d.log_text();
    assert!(
        log.lines().any(|l| l.contains("WARN") && l.contains("execution provider not used") && l.contains("rknpu")),
        "{log}"
    );
    assert!(log.lines().any(|l| l.contains("model loaded on a fallback execution provider") && l.contains("cpu")));

    let config = dir.path().join("config.toml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_edgecite"))
        .args(["status", "--config"])
        .arg(&config)
        .env("EDGECITE_TOKEN", &d.token)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("model pump_anomaly 2.0.0 on cpu"), "{text}");
    assert!(text.contains("provider skipped: rknpu: not in this ONNX Runtime build"), "{text}");
    assert!(text.contains("model tampered REJECTED") && text.contains("sha256"), "{text}");
    let line = text.lines().find(|l| l.starts_with("model ") && l.contains(" tampered ") && l.contains("PROBLEM"));
    assert!(
        line.is_some_and(|l| l.contains("model tampered rejected")),
        "the component table names the problem: {text}"
    );
    assert!(
        text.lines().any(|l| l.starts_with("model ") && l.contains(" pump_anomaly ") && l.contains(" ok ")),
        "{text}"
    );

    // Without a token the models are not listed, and the output says why and what to pass.
    let status = |extra: &[&std::ffi::OsStr], env_token: Option<&str>| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_edgecite"));
        c.args(["status", "--config"]).arg(&config).args(extra).env_remove("EDGECITE_TOKEN");
        if let Some(t) = env_token {
            c.env("EDGECITE_TOKEN", t);
        }
        let out = c.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, text, err) = status(&[], None);
    assert!(ok, "{text}\n{err}");
    // /healthz without credentials says only the status (issue 13 item 10).
    assert!(text.contains("the detail needs a viewer's API token"), "{text}");
    assert!(text.contains("--token-file PATH or EDGECITE_TOKEN"), "{text}");
    assert!(!text.contains("model pump_anomaly"), "{text}");
    assert!(text.contains(": healthy") || text.contains(": degraded"), "the status is still printed: {text}");
    // A refused token: the server's code and message, and where the token came from.
    let (ok, text, _) = status(&[], Some("ect_1_wrong"));
    assert!(
        ok && text.contains("models: not shown (unauthenticated") && text.contains("EDGECITE_TOKEN was refused"),
        "{text}"
    );
    // --token-file: the models are listed (the file's trailing newline is ignored).
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{}\n", d.token)).unwrap();
    let (ok, text, err) = status(&["--token-file".as_ref(), token_file.as_os_str()], None);
    assert!(ok, "{text}\n{err}");
    assert!(text.contains("model pump_anomaly 2.0.0 on cpu") && !text.contains("not shown"), "{text}");
    // A missing or empty token file is an error naming the file.
    std::fs::write(&token_file, "\n").unwrap();
    let (ok, _, err) = status(&["--token-file".as_ref(), token_file.as_os_str()], None);
    assert!(!ok && err.contains(&format!("--token-file {}: empty", token_file.display())), "{err}");
    let gone = dir.path().join("no-such-token");
    let (ok, _, err) = status(&["--token-file".as_ref(), gone.as_os_str()], None);
    assert!(!ok && err.contains("cannot read"), "{err}");
}

fn produced(d: &Daemon) -> u64 {
    let h = d.json("/healthz");
    let sources = h["sources"].as_array().unwrap();
    assert!(sources.iter().all(|s| s["dropped"] == 0), "{h}");
    sources.iter().map(|s| s["samples"].as_u64().unwrap()).sum()
}

fn stored(db: &Path) -> u64 {
    edgecite::store::Store::open_readonly(db).unwrap().sample_count().unwrap() as u64
}

#[test]
fn sighup_reloads_models_under_load_without_losing_a_sample() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    common::copy_dir(&common::repo().join("models/pump_anomaly"), &models.join("pump_anomaly"));
    let mut d = start(dir.path(), &models, r#"["xnnpack"]"#);
    let db = dir.path().join("edgecite.db");
    d.wait_until("samples flowing", Duration::from_secs(30), || (produced(&d) > 200).then_some(()));
    assert_eq!(d.json("/api/v1/models")["generation"], 1);

    // Add a second model (same graph, another name) and reload five times while polling.
    common::copy_dir(&common::repo().join("models/pump_anomaly"), &models.join("pump_b"));
    let m = std::fs::read_to_string(models.join("pump_b/manifest.toml")).unwrap();
    std::fs::write(models.join("pump_b/manifest.toml"), m.replace("name = \"pump_anomaly\"", "name = \"pump_b\""))
        .unwrap();
    let pid = d.child.id().to_string();
    for _ in 0..5 {
        assert!(std::process::Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
        std::thread::sleep(Duration::from_millis(300));
        // Everything produced is in the store one commit interval later ([store]
        // commit_interval_ms, 1 s by default), give or take what is in flight (at most one
        // poll per source and point: 2 devices, under 20 points each).
        let before = produced(&d);
        std::thread::sleep(Duration::from_millis(1000 + 300));
        let rows = stored(&db);
        assert!(rows + 40 >= before, "stored {rows} < produced {before} minus in-flight");
    }
    let list = d.wait_until("reloaded set", Duration::from_secs(30), || {
        let l = d.json("/api/v1/models");
        (l["generation"].as_u64().unwrap() >= 6).then_some(l)
    });
    assert_eq!(model(&list, "pump_b")["status"], "loaded");
    assert_eq!(model(&list, "pump_b")["provider"], "cpu");
    assert_eq!(model(&list, "pump_anomaly")["status"], "loaded");
    // The new model's criterion is evaluated on P1.
    d.wait_until("pump_b evaluated", Duration::from_secs(30), || {
        let l = d.json("/api/v1/models");
        (model(&l, "pump_b")["latency"]["runs"].as_u64().unwrap() > 0).then_some(())
    });
    assert!(d.log_text().contains("models reloaded"));

    let last = produced(&d);
    assert!(d.terminate(), "clean exit");
    let rows = stored(&db);
    assert!(rows >= last, "after a clean stop every sample produced is stored: {rows} < {last}");
}

#[test]
fn a_changed_models_directory_is_reloaded_when_watched() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    common::copy_dir(&common::repo().join("models/pump_anomaly"), &models.join("pump_anomaly"));
    let d = start_with(dir.path(), &models, "watch_ms = 200");
    assert_eq!(d.json("/api/v1/models")["generation"], 1);
    // A new model appears: loaded without a signal.
    let staging = dir.path().join("staging");
    common::copy_dir(&common::repo().join("models/pump_anomaly"), &staging);
    let m = std::fs::read_to_string(staging.join("manifest.toml")).unwrap();
    std::fs::write(staging.join("manifest.toml"), m.replace("name = \"pump_anomaly\"", "name = \"pump_c\"")).unwrap();
    std::fs::rename(&staging, models.join("pump_c")).unwrap();
    let list = d.wait_until("pump_c loaded by the watcher", Duration::from_secs(30), || {
        let l = d.json("/api/v1/models");
        l["models"].as_array().unwrap().iter().any(|m| m["name"] == "pump_c" && m["status"] == "loaded").then_some(l)
    });
    let generation = list["generation"].as_u64().unwrap();
    assert!(generation >= 2);
    // The model file is then corrupted: reloaded, rejected with the reason, the other runs on.
    std::fs::write(models.join("pump_c/model.onnx"), b"corrupted").unwrap();
    d.wait_until("pump_c rejected", Duration::from_secs(30), || {
        let l = d.json("/api/v1/models");
        let ok = model(&l, "pump_c")["status"] == "rejected"
            && model(&l, "pump_c")["error"].as_str().unwrap().contains("sha256")
            && model(&l, "pump_anomaly")["status"] == "loaded"
            && l["generation"].as_u64().unwrap() > generation;
        ok.then_some(())
    });
    assert!(d.log_text().contains("models directory changed"));
}
