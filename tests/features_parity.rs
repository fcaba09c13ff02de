//! The Rust window statistics against the training scripts' Python module
//! (models/train/features.py, numpy) on the same windows: every statistic, on sine, noise,
//! impulsive and ramp signals of several lengths, agrees to 1e-9 relative; `shift_z` with
//! several `recent` counts as well.

use crate::common;

use edgecite::inference::features::{shift_z, Statistic};
use std::process::Command;

fn python() -> std::path::PathBuf {
    let venv = common::repo().join(".venv/bin/python");
    assert!(venv.is_file(), "{} missing: run `source scripts/setup.sh --tests` (installs numpy)", venv.display());
    venv
}

/// Deterministic test signals (xorshift noise, no data files needed).
fn signals() -> Vec<(String, Vec<f64>)> {
    let mut s = 0x9E37_79B9_7F4A_7C15_u64;
    let mut noise = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    let mut out = Vec::new();
    for n in [2usize, 7, 10, 32, 63, 64] {
        let sine: Vec<f64> =
            (0..n).map(|i| 0.3 + 1.7 * (std::f64::consts::TAU * 5.0 * i as f64 / 64.0).sin() + 0.1 * noise()).collect();
        let impulsive: Vec<f64> = (0..n).map(|i| if i % 9 == 4 { 6.0 } else { 0.05 * noise() }).collect();
        let ramp: Vec<f64> = (0..n).map(|i| 20.0 + 0.25 * i as f64 + noise()).collect();
        out.push((format!("sine{n}"), sine));
        out.push((format!("impulsive{n}"), impulsive));
        out.push((format!("ramp{n}"), ramp));
    }
    out.push(("constant".into(), vec![4.0; 16]));
    out
}

#[test]
fn rust_and_python_features_agree_on_the_same_windows() {
    let stats = [
        ("mean", Statistic::Mean, None),
        ("std", Statistic::Std, None),
        ("rms", Statistic::Rms, None),
        ("peak", Statistic::Peak, None),
        ("crest_factor", Statistic::CrestFactor, None),
        ("kurtosis", Statistic::Kurtosis, None),
        ("slope", Statistic::Slope, None),
        ("band_energy", Statistic::BandEnergy, Some((0.0, 3.0, 64.0))),
        ("band_energy", Statistic::BandEnergy, Some((4.0, 6.0, 64.0))),
        ("band_energy", Statistic::BandEnergy, Some((10.0, 1000.0, 64.0))),
    ];
    let mut csv = String::new();
    let mut want = Vec::new();
    for (name, values) in signals() {
        for (sname, stat, band) in &stats {
            let (lo, hi, fs) = band.map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())).unwrap_or_default();
            let xs: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
            csv.push_str(&format!("{sname},{lo},{hi},{fs},{}\n", xs.join(",")));
            want.push((format!("{name} {sname} {band:?}"), stat.apply(&values, *band)));
        }
        for recent in [1usize, 5, 16] {
            let xs: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
            csv.push_str(&format!("shift_z,{recent},,,{}\n", xs.join(",")));
            want.push((format!("{name} shift_z recent {recent}"), shift_z(&values, recent)));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("windows.csv");
    std::fs::write(&path, csv).unwrap();
    let out = Command::new(python())
        .arg(common::repo().join("models/train/features.py"))
        .arg("--csv")
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got: Vec<f64> = String::from_utf8(out.stdout).unwrap().lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(got.len(), want.len());
    let mut compared = 0;
    for ((what, rust), py) in want.iter().zip(&got) {
        if rust.is_nan() || py.is_nan() {
            assert!(rust.is_nan() && py.is_nan(), "{what}: rust {rust} python {py}");
            continue;
        }
        let tol = 1e-9 * rust.abs().max(1.0);
        assert!((rust - py).abs() <= tol, "{what}: rust {rust} python {py}");
        compared += 1;
    }
    // Undefined cases (kurtosis of a constant window) are NaN on both sides, but most compare.
    assert!(compared > want.len() * 9 / 10, "{compared} of {}", want.len());
}
