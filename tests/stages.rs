//! The skip rules a clone without the external data relies on, each run on its own:
//! scripts/stages.sh (how scripts/test.sh counts a stage that exits 77 as skipped, and fails
//! the run under CI=true) and models/train/datadir.py (where the training scripts look for
//! SKAB; exit 77 with one line when absent, 1 under CI=true, 2 when a given folder lacks it).

use crate::common;

use std::path::Path;
use std::process::{Command, Output};

/// scripts/stages.sh sourced into a strict shell, then `body`.
fn stages(body: &str, ci: Option<&str>) -> Output {
    let script = format!("set -euo pipefail; ROOT={:?}; source scripts/stages.sh; {body}", common::repo());
    let mut cmd = Command::new("bash");
    cmd.arg("-c").arg(script).current_dir(common::repo()).env_remove("CI");
    if let Some(v) = ci {
        cmd.env("CI", v);
    }
    cmd.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_skipped_stage_is_announced_and_counted_and_fails_under_ci() {
    let body = r#"run_stage first true; run_stage "needs skab" bash -c "exit 77"; run_stage last true; stages_summary"#;
    let out = stages(body, None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("[test] stage SKIPPED: needs skab"), "{}", text(&out.stderr));
    let last = text(&out.stdout).lines().last().unwrap_or_default().to_string();
    assert!(
        last.starts_with("stages: 2 passed, 0 failed, 1 skipped (") && last.ends_with("; skipped: needs skab"),
        "{last}"
    );

    let out = stages(body, Some("true"));
    assert_eq!(out.status.code(), Some(1), "a skip must fail under CI=true");
    assert!(text(&out.stderr).contains("CI=true: every stage must run"), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains("stages:"), "the run went on after a skip under CI");

    let out = stages(r#"run_stage broken bash -c "exit 3"; run_stage after true; stages_summary"#, None);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("[test] stage FAILED: broken (exit 3)"));
    assert!(!text(&out.stdout).contains("after"), "the run went on after a failed stage");
}

/// models/train/datadir.py copied into `root/repo/models/train`, so that `root/shared/data`
/// is "beside the checkout"; asks it for the `skab` set.
fn datadir(root: &Path, env: &[(&str, &str)]) -> Output {
    let train = root.join("repo/models/train");
    std::fs::create_dir_all(&train).unwrap();
    std::fs::copy(common::repo().join("models/train/datadir.py"), train.join("datadir.py")).unwrap();
    let code = "import sys, datadir; print(datadir.external('skab', 'the stage', None, 'probe.csv'))";
    let mut cmd = Command::new("python3");
    cmd.arg("-c").arg(code).current_dir(&train).env_remove("CI").env_remove("EDGECITE_DATA_DIR");
    cmd.envs(env.iter().copied());
    cmd.output().unwrap()
}

#[test]
fn training_data_dir_rule_skips_with_one_line_and_fails_under_ci() {
    let dir = tempfile::tempdir().unwrap();
    let out = datadir(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(77), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("the stage: SKIPPED, needs the skab data set") && err.contains("EDGECITE_DATA_DIR"),
        "{err}"
    );

    let out = datadir(dir.path(), &[("CI", "true")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("CI=true, so it must run"));

    // Given explicitly but without the set: an error, never a skip.
    let out = datadir(dir.path(), &[("EDGECITE_DATA_DIR", dir.path().to_str().unwrap())]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));

    let ext = dir.path().join("elsewhere/skab");
    std::fs::create_dir_all(&ext).unwrap();
    std::fs::write(ext.join("probe.csv"), "x\n").unwrap();
    let out = datadir(dir.path(), &[("EDGECITE_DATA_DIR", dir.path().join("elsewhere").to_str().unwrap())]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), ext.canonicalize().unwrap().to_str().unwrap());

    // The default: ../shared/data beside the checkout, when it is there.
    let beside = dir.path().join("shared/data/skab");
    std::fs::create_dir_all(&beside).unwrap();
    std::fs::write(beside.join("probe.csv"), "x\n").unwrap();
    let out = datadir(dir.path(), &[("CI", "true")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), beside.canonicalize().unwrap().to_str().unwrap());
}
