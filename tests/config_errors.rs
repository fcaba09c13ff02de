//! Broken configs: `edgecite check` exits non-zero and its error names the file, the line,
//! the key path and the bad value or what was expected. Each fixture in
//! tests/fixtures/bad_configs states what its error must say in `# expect-*` header lines.

use std::path::Path;
use std::process::Command;

fn expectation<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("# expect-{key}: ")))
        .unwrap_or_else(|| panic!("fixture lacks `# expect-{key}:`"))
}

#[test]
fn every_broken_config_is_rejected_with_file_line_key_and_reason() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad_configs");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 15, "fixtures missing");
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let (line, key, want) = (expectation(&text, "line"), expectation(&text, "key"), expectation(&text, "text"));
        let out = Command::new(env!("CARGO_BIN_EXE_edgecite")).args(["check", "--config"]).arg(file).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        let located = format!("{}:{line}:", file.display());
        let ok = !out.status.success()
            && err.contains(&located)
            && err.contains(&format!(": {key}: "))
            && err.contains(want)
            && !err.contains("panicked");
        if !ok {
            failures.push(format!("{}\n  want {located} key `{key}` text {want:?}\n  got: {err}", file.display()));
        }
    }
    assert!(failures.is_empty(), "{} of {} fixtures wrong:\n{}", failures.len(), files.len(), failures.join("\n"));
}

#[test]
fn shipped_configs_are_valid() {
    for name in ["configs/demo.toml", "configs/example.toml", "configs/gateway.toml"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
        let out = Command::new(env!("CARGO_BIN_EXE_edgecite")).args(["check", "--config"]).arg(&path).output().unwrap();
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).contains(": OK"));
    }
}

#[test]
fn a_missing_file_is_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_edgecite"))
        .args(["check", "--config", "/nonexistent/edgecite.toml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/edgecite.toml") && err.contains("cannot read"), "{err}");
}
