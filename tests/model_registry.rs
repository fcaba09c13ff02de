//! Model registry and abstention: a model whose real input shape differs from its manifest
//! is rejected naming file and shapes; a model that returns NaN never alerts, abstains with
//! the reason and is counted; missing roles disable the model's criterion with the reason;
//! bad-quality input and undefined features abstain without a score; band-energy manifest
//! keys are validated.

use crate::common;

use edgecite::diagnose::{model_score::ModelCriterion, AbstainReason, Criterion, Outcome};
use edgecite::inference::{self, Model};
use edgecite::sample::{Quality, Sample};
use std::path::PathBuf;
use std::sync::Arc;

fn init() {
    inference::init_runtime(Some(&common::ort_library())).expect("ONNX Runtime loads");
}

fn fixture(name: &str) -> PathBuf {
    common::repo().join("tests/fixtures/models").join(name)
}

const HEALTHY: [(&str, f64); 6] = [
    ("vib_accel_rms", 0.213),
    ("vib_accel2_rms", 0.268),
    ("motor_current", 2.4),
    ("pressure", 0.11),
    ("motor_temp", 89.5),
    ("flow", 125.2),
];

fn demo() -> edgecite::config::Config {
    edgecite::config::Config::load(&common::repo().join("configs/demo.toml")).unwrap()
}

/// Evaluate `crit` on P1 after 10 samples per role; `bad` gives one role a bad last sample.
fn run(crit: &dyn Criterion, bad: Option<&str>) -> Outcome {
    let cfg = demo();
    let p1 = cfg.assets.iter().find(|a| a.id == "P1").unwrap().clone();
    let mut pipeline = edgecite::pipeline::Pipeline::new(&cfg);
    for t in 0..10 {
        let batch: Vec<_> = HEALTHY
            .iter()
            .map(|(role, v)| {
                let point = p1.roles[*role].as_str().into();
                if t == 9 && bad == Some(*role) {
                    Sample::bad(point, 1000 + t, Quality::CommError)
                } else {
                    Sample::good(point, 1000 + t, *v)
                }
            })
            .collect();
        pipeline.ingest(&batch);
    }
    crit.evaluate(pipeline.asset("P1").unwrap(), 1010, None)
}

fn score(o: &Outcome) -> Option<f64> {
    o.evidence().derived.iter().find(|d| d.name.en == "anomaly score").map(|d| d.value)
}

#[test]
fn a_model_whose_input_shape_differs_from_the_manifest_is_rejected() {
    init();
    let err = Model::load(&fixture("wrong_shape")).unwrap_err().to_string();
    assert!(err.contains("wrong_shape/model.onnx"), "{err}");
    assert!(err.contains("input `features` has shape [-1, 5]; the manifest says [-1, 6]"), "{err}");
}

#[test]
fn a_model_returning_nan_abstains_and_is_counted_never_alerts() {
    init();
    let model = Arc::new(Model::load(&fixture("nan_score")).unwrap());
    let crit = ModelCriterion::new(model.clone());
    for _ in 0..3 {
        let o = run(&crit, None);
        let Outcome::Abstain { reason, detail: edgecite::diagnose::Text { en: detail, .. }, citations, .. } = &o else {
            panic!("expected abstention, got {o:?}")
        };
        assert_eq!(*reason, AbstainReason::ModelUnavailable);
        assert!(detail.contains("NaN") && detail.contains("nan_score"), "{detail}");
        assert!(citations.is_empty());
        assert_eq!(score(&o), None, "no score recorded");
    }
    let s = model.stats.snapshot();
    assert_eq!((s.runs, s.non_finite_scores, s.errors), (3, 3, 0));
}

#[test]
fn bad_quality_input_abstains_without_a_score() {
    init();
    let crit = ModelCriterion::new(Arc::new(Model::load(&common::repo().join("models/pump_anomaly")).unwrap()));
    assert_eq!(run(&crit, None).status(), "normal");
    let o = run(&crit, Some("motor_temp"));
    let Outcome::Abstain { reason, detail: edgecite::diagnose::Text { en: detail, .. }, .. } = &o else {
        panic!("expected abstention, got {o:?}")
    };
    assert_eq!(*reason, AbstainReason::BadQuality, "{detail}");
    assert!(detail.contains("motor_temp"), "{detail}");
    assert_eq!(score(&o), None);
}

#[test]
fn a_missing_role_disables_the_model_criterion_with_the_reason() {
    init();
    let text = std::fs::read_to_string(common::repo().join("configs/demo.toml")).unwrap();
    let text = text.replace(", flow = \"pump1.flow\"", "");
    let cfg = edgecite::config::Config::parse(&common::repo().join("configs/demo.toml"), &text).unwrap();
    let model = Arc::new(Model::load(&common::repo().join("models/pump_anomaly")).unwrap());
    let packs = edgecite::diagnose::pack::PackSet::builtin().unwrap();
    let d = edgecite::diagnose::Diagnoser::new(&cfg, &packs, &[model], &[]).unwrap();
    let dis = d.disabled.iter().find(|x| x.criterion == "model.pump_anomaly").expect("disabled");
    assert_eq!(dis.asset, "P1");
    assert_eq!(dis.reason, "roles not bound: flow");
    assert!(!d.criteria().any(|(_, c)| c.id == "model.pump_anomaly"));
}

fn manifest_error(edit: impl Fn(String) -> String) -> String {
    let dir = tempfile::tempdir().unwrap();
    let m = std::fs::read_to_string(common::repo().join("models/pump_anomaly/manifest.toml")).unwrap();
    let path = dir.path().join("manifest.toml");
    std::fs::write(&path, edit(m)).unwrap();
    let e = inference::Manifest::load(&path).unwrap_err().to_string();
    assert!(e.contains(&path.display().to_string()), "{e}");
    e
}

#[test]
fn band_energy_keys_are_validated() {
    let first = |with: &'static str| {
        move |m: String| m.replacen("statistic = \"mean\"\nwindow = 10", &format!("{with}\nwindow = 10"), 1)
    };
    let e = manifest_error(first("statistic = \"band_energy\""));
    assert!(e.contains("features[0]") && e.contains("needs `band_hz"), "{e}");
    let e = manifest_error(first("statistic = \"band_energy\"\nband_hz = [5.0, 2.0]\nsample_rate_hz = 10.0"));
    assert!(e.contains("features[0].band_hz") && e.contains("[5, 2]"), "{e}");
    let e = manifest_error(first("statistic = \"band_energy\"\nband_hz = [0.0, 2.0]\nsample_rate_hz = 0.0"));
    assert!(e.contains("features[0].sample_rate_hz"), "{e}");
    let e = manifest_error(first("statistic = \"rms\"\nband_hz = [0.0, 2.0]"));
    assert!(e.contains("apply to \"band_energy\" only, not \"rms\""), "{e}");
    let e = manifest_error(first("statistic = \"median\""));
    assert!(e.contains("unknown variant `median`"), "{e}");
    // A valid band-energy feature parses.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("manifest.toml");
    let m = std::fs::read_to_string(common::repo().join("models/pump_anomaly/manifest.toml")).unwrap();
    std::fs::write(&path, first("statistic = \"band_energy\"\nband_hz = [0.0, 0.2]\nsample_rate_hz = 1.0")(m)).unwrap();
    let parsed = inference::Manifest::load(&path).unwrap();
    assert_eq!(parsed.features[0].label(), "vib_accel_rms band energy 0-0.2 Hz of 10");
}

#[test]
fn shift_z_keys_are_validated() {
    let first = |with: &'static str| {
        move |m: String| m.replacen("statistic = \"mean\"\nwindow = 10", &format!("{with}\nwindow = 10"), 1)
    };
    let e = manifest_error(first("statistic = \"shift_z\""));
    assert!(e.contains("features[0]") && e.contains("needs `recent"), "{e}");
    let e = manifest_error(first("statistic = \"shift_z\"\nrecent = 9"));
    assert!(e.contains("features[0].recent") && e.contains("value 9") && e.contains("expected 1 to 8"), "{e}");
    let e = manifest_error(first("statistic = \"shift_z\"\nrecent = 0"));
    assert!(e.contains("features[0].recent") && e.contains("value 0"), "{e}");
    let e = manifest_error(first("statistic = \"std\"\nrecent = 3"));
    assert!(e.contains("`recent` applies to \"shift_z\" only, not \"std\""), "{e}");
    // A valid shift_z feature parses and computes the shift of the last 3 samples.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("manifest.toml");
    let m = std::fs::read_to_string(common::repo().join("models/pump_anomaly/manifest.toml")).unwrap();
    std::fs::write(&path, first("statistic = \"shift_z\"\nrecent = 3")(m)).unwrap();
    let parsed = inference::Manifest::load(&path).unwrap();
    let f = &parsed.features[0];
    assert_eq!(f.label(), "vib_accel_rms shift of last 3 vs previous 7 (z)");
    // Reference 1,3,1,3,1,3,1 (mean 13/7), recent 5,5,5.
    let xs = [1.0, 3.0, 1.0, 3.0, 1.0, 3.0, 1.0, 5.0, 5.0, 5.0];
    let (m7, sd7) = (13.0 / 7.0, (48.0f64 / 49.0).sqrt());
    assert!((f.compute(&xs) - (5.0 - m7) / sd7).abs() < 1e-12, "{}", f.compute(&xs));
}

/// Every shipped model (each directory under models/ with a parity.csv) scores its parity
/// vectors as the training script's onnxruntime did.
#[test]
fn every_shipped_model_matches_its_parity_fixture() {
    init();
    let dirs = inference::model_dirs(&common::repo().join("models"));
    assert!(dirs.len() >= 2, "{dirs:?}");
    for dir in dirs {
        let model = Model::load(&dir).unwrap();
        let n = model.manifest.features.len();
        let text = std::fs::read_to_string(dir.join("parity.csv")).unwrap();
        let mut rows = 0;
        for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
            let cols: Vec<f64> = line.split(',').map(|c| c.trim().parse().unwrap()).collect();
            assert_eq!(cols.len(), n + 1);
            let f: Vec<f32> = cols[..n].iter().map(|v| *v as f32).collect();
            let got = model.score(&f).unwrap() as f64;
            assert!((got - cols[n]).abs() <= 1e-4 * cols[n].abs().max(1.0), "{}: {got} vs {}", dir.display(), cols[n]);
            rows += 1;
        }
        assert!(rows >= 20, "{}", dir.display());
    }
}

/// Issue 22: every input feature of a fixed model carries its trained range; a manifest
/// without one, with one outside the valid range, or with an unknown `extrapolate` side is
/// refused naming the file and the key.
#[test]
fn every_feature_needs_its_trained_range() {
    let e = manifest_error(|m| m.replacen("trained_min = 0.1937\n", "", 1));
    assert!(e.contains("missing field `trained_min`"), "{e}");
    let e = manifest_error(|m| m.replacen("trained_max = 0.2247", "trained_max = 2.5", 1));
    assert!(
        e.contains("features[0]") && e.contains("[0.1937, 2.5] must be a range inside the valid range [0, 2]"),
        "{e}"
    );
    let e = manifest_error(|m| m.replacen("trained_max = 0.2247", "trained_max = 0.1", 1));
    assert!(e.contains("features[0]") && e.contains("[0.1937, 0.1]"), "{e}");
    let e = manifest_error(|m| m.replacen("extrapolate = \"above\"", "extrapolate = \"up\"", 1));
    assert!(e.contains("unknown variant `up`") && e.contains("above"), "{e}");
    // Every shipped model names a trained range for each feature (the parser requires it).
    for name in ["pump_anomaly", "pump_valve_anomaly", "machine_temperature"] {
        let m = inference::Manifest::load(&common::repo().join("models").join(name).join("manifest.toml")).unwrap();
        for f in &m.features {
            assert!(f.trained_min < f.trained_max, "{name} {}: [{}, {}]", f.role, f.trained_min, f.trained_max);
        }
    }
}
