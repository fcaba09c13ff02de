//! The shipped pump model through ONNX Runtime (load-dynamic, the PyPI runtime): scores
//! match what the training script's onnxruntime computed; broken model files are rejected
//! with errors that name the file and the reason.

use crate::common;

use edgecite::inference::{self, InferenceError, Model};
use std::path::{Path, PathBuf};

fn init() {
    inference::init_runtime(Some(&common::ort_library())).expect("ONNX Runtime loads");
}

fn model_dir() -> PathBuf {
    common::repo().join("models/pump_anomaly")
}

/// A copy of the shipped model directory, with `edit` applied to the manifest text.
fn broken_copy(edit: impl Fn(String) -> String, model_bytes: Option<&[u8]>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let manifest = std::fs::read_to_string(model_dir().join("manifest.toml")).unwrap();
    std::fs::write(dir.path().join("manifest.toml"), edit(manifest)).unwrap();
    let bytes = match model_bytes {
        Some(b) => b.to_vec(),
        None => std::fs::read(model_dir().join("model.onnx")).unwrap(),
    };
    std::fs::write(dir.path().join("model.onnx"), bytes).unwrap();
    dir
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn scores_match_the_training_scripts_onnxruntime() {
    init();
    let model = Model::load(&model_dir()).unwrap();
    let n = model.manifest.features.len();
    let text = std::fs::read_to_string(model_dir().join("parity.csv")).unwrap();
    let mut rows = 0;
    let mut batch = Vec::new();
    let mut expected = Vec::new();
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<f64> = line.split(',').map(|c| c.trim().parse().unwrap()).collect();
        assert_eq!(cols.len(), n + 1);
        let features: Vec<f32> = cols[..n].iter().map(|v| *v as f32).collect();
        let want = cols[n];
        let got = model.score(&features).unwrap() as f64;
        assert!((got - want).abs() <= 1e-4 * want.abs().max(1.0), "row {rows}: rust {got} vs python {want}");
        batch.extend(features);
        expected.push(want);
        rows += 1;
    }
    assert!(rows >= 20);
    // A batch gives the same scores as one-by-one runs.
    let scores = model.score_batch(&batch, rows).unwrap();
    for (got, want) in scores.iter().zip(&expected) {
        assert!((*got as f64 - want).abs() <= 1e-4 * want.abs().max(1.0));
    }
}

#[test]
fn a_model_that_does_not_match_its_manifest_hash_is_rejected() {
    init();
    let dir = broken_copy(|m| m, Some(b"not the model"));
    match Model::load(dir.path()) {
        Err(InferenceError::Hash { file, expected, actual }) => {
            assert!(file.ends_with("model.onnx"));
            assert_ne!(expected, actual);
            let msg = Model::load(dir.path()).unwrap_err().to_string();
            assert!(msg.contains("model.onnx") && msg.contains("sha256"), "{msg}");
        }
        other => panic!("expected a hash error, got {other:?}"),
    }
}

#[test]
fn garbage_with_a_matching_hash_is_rejected_by_the_runtime_not_a_panic() {
    init();
    let garbage = b"\x08\x07garbage that is not a protobuf model";
    let sha = sha256_hex(garbage);
    let dir = broken_copy(|m| replace_line(&m, "sha256 = ", &format!("sha256 = \"{sha}\"")), Some(garbage));
    let err = Model::load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("model.onnx") && err.contains("rejected"), "{err}");
}

#[test]
fn manifest_errors_name_the_file_and_key() {
    init();
    type Edit = Box<dyn Fn(String) -> String>;
    let cases: Vec<(Edit, &str)> = vec![
        (Box::new(|m| replace_line(&m, "shape = ", "shape = [-1, 5]")), "input.shape"),
        (Box::new(|m| replace_line(&m, "dtype = ", "dtype = \"f64\"")), "input.dtype"),
        (Box::new(|m| m.replacen("role = \"vib_accel_rms\"", "role = \"vib_acel_rms\"", 1)), "features[0].role"),
        (
            Box::new(|m| m.replacen("name = \"anomaly_score\"", "name = \"score\"", 1)),
            "output `score` is not in the model",
        ),
        (Box::new(|m| replace_line(&m, "threshold = ", "threshold = \"high\"")), "threshold"),
        (Box::new(|m| format!("surprise = 1\n{m}")), "unknown field `surprise`"),
    ];
    for (edit, want) in cases {
        let dir = broken_copy(edit, None);
        let err = Model::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains(&dir.path().display().to_string()), "{err}");
        assert!(err.contains(want), "want {want:?} in: {err}");
    }
}

#[test]
fn one_broken_model_does_not_stop_the_others() {
    init();
    let root = tempfile::tempdir().unwrap();
    common::copy_dir(&model_dir(), &root.path().join("good"));
    let bad = broken_copy(|m| m, Some(b"tampered"));
    common::copy_dir(bad.path(), &root.path().join("bad"));
    let (models, errors) = inference::load_all(root.path());
    assert_eq!(models.len(), 1);
    assert_eq!(errors.len(), 1);
    assert!(errors[0].to_string().contains("bad"));
}

#[test]
fn a_missing_runtime_names_every_place_looked() {
    let candidates = inference::runtime_candidates(Some(Path::new("/opt/vendor/libonnxruntime.so")));
    assert_eq!(candidates[0], Path::new("/opt/vendor/libonnxruntime.so"));
    assert!(candidates.iter().all(|c| !c.as_os_str().is_empty()));
    assert!(candidates.iter().any(|c| c.starts_with(format!("/usr/lib/{}-linux-gnu", std::env::consts::ARCH))));
    let e = InferenceError::RuntimeNotFound { looked: candidates.iter().map(|p| p.display().to_string()).collect() }
        .to_string();
    assert!(
        e.contains("/opt/vendor/libonnxruntime.so") && e.contains("ORT_DYLIB_PATH") && e.contains("runtime_path"),
        "{e}"
    );
}

fn replace_line(text: &str, prefix: &str, with: &str) -> String {
    let mut done = false;
    text.lines()
        .map(|l| {
            if !done && l.starts_with(prefix) {
                done = true;
                with.to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The model criterion on pipeline windows: outside the model's domain (the SKAB valve1
/// operating point, flow about 31 l/min) it abstains with no score; inside it scores.
#[test]
fn out_of_domain_inputs_abstain_without_a_score() {
    use edgecite::diagnose::{model_score::ModelCriterion, AbstainReason, Criterion, Outcome};
    init();
    let crit = ModelCriterion::new(std::sync::Arc::new(Model::load(&model_dir()).unwrap()));
    let cfg = edgecite::config::Config::load(&common::repo().join("configs/demo.toml")).unwrap();
    let p1 = cfg.assets.iter().find(|a| a.id == "P1").unwrap().clone();
    let run = |values: &[(&str, f64)]| -> Outcome {
        let mut pipeline = edgecite::pipeline::Pipeline::new(&cfg);
        for t in 0..10 {
            let batch: Vec<_> = values
                .iter()
                .map(|(role, v)| edgecite::sample::Sample::good(p1.roles[*role].as_str().into(), 1000 + t, *v))
                .collect();
            pipeline.ingest(&batch);
        }
        crit.evaluate(pipeline.asset("P1").unwrap(), 1010, None)
    };
    let healthy = [
        ("vib_accel_rms", 0.213),
        ("vib_accel2_rms", 0.268),
        ("motor_current", 2.4),
        ("pressure", 0.11),
        ("motor_temp", 89.5),
        ("flow", 125.2),
    ];
    let score = |o: &Outcome| o.evidence().derived.iter().find(|d| d.name.en == "anomaly score").map(|d| d.value);

    let normal = run(&healthy);
    assert_eq!(normal.status(), "normal");
    assert!(score(&normal).unwrap() < 14.86);

    let mut valve1 = healthy;
    valve1[5] = ("flow", 31.0);
    let o = run(&valve1);
    let Outcome::Abstain { reason, detail: edgecite::diagnose::Text { en: detail, .. }, .. } = &o else {
        panic!("expected abstention, got {o:?}")
    };
    assert_eq!(*reason, AbstainReason::OutOfDomain);
    assert!(detail.contains("flow") && detail.contains("31"), "{detail}");
    assert_eq!(score(&o), None, "no score outside the domain");

    let fault = [
        ("vib_accel_rms", 0.35),
        ("vib_accel2_rms", 0.36),
        ("motor_current", 2.7),
        ("pressure", 0.11),
        ("motor_temp", 95.0),
        ("flow", 125.0),
    ];
    let Outcome::Fault(r) = run(&fault) else { panic!("a developed bearing fault should alert") };
    assert!(score(&Outcome::Fault(r.clone())).unwrap() > 100.0);
    assert_eq!(r.citations[0].reference_id, "model:pump_anomaly@2.0.0");
    // Vibration and motor temperature above everything in training are the departure the
    // score measures (`extrapolate = "above"`): scored, and the finding says so.
    let said = &r.evidence.summary.en;
    assert!(
        said.contains("vib_accel_rms mean of 10 = 0.3500 is above everything the model was trained on (0.2247)"),
        "{said}"
    );
    assert!(said.contains("motor_temp mean of 10 = 95.0000 is above"), "{said}");

    // Issue 22: SKAB rotor runs start with accelerometer 1 at 0.236-0.249 g (above training)
    // and the motor at 85-86 °C (below training, 88.37-91.51): the model has not seen this
    // machine, so it abstains and names the feature instead of alarming.
    let mut rotor = healthy;
    rotor[0] = ("vib_accel_rms", 0.24);
    rotor[4] = ("motor_temp", 85.5);
    let o = run(&rotor);
    let Outcome::Abstain { reason, detail: edgecite::diagnose::Text { en: detail, .. }, .. } = &o else {
        panic!("expected abstention, got {o:?}")
    };
    assert_eq!(*reason, AbstainReason::OutOfDomain);
    assert!(
        detail.contains("motor_temp = 85.5000 is below the range the model was trained on [88.3718, 91.5066]"),
        "{detail}"
    );
    assert_eq!(score(&o), None);
    // The operating point (pressure, flow) abstains on either side of its trained range.
    for (i, v) in [(3, 0.5), (3, -0.3), (5, 128.0), (5, 118.0)] {
        let mut off = healthy;
        off[i].1 = v;
        let o = run(&off);
        let Outcome::Abstain { reason, detail: edgecite::diagnose::Text { en: detail, .. }, .. } = &o else {
            panic!("{}: expected abstention, got {o:?}", off[i].0)
        };
        assert_eq!(*reason, AbstainReason::OutOfDomain);
        assert!(detail.contains(off[i].0) && detail.contains("the range the model was trained on"), "{detail}");
    }
    // Below the trained range of a symptom is not a side the model measures either.
    let mut quiet = healthy;
    quiet[0] = ("vib_accel_rms", 0.15);
    assert!(matches!(run(&quiet), Outcome::Abstain { reason: AbstainReason::OutOfDomain, .. }));
}
