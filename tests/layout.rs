//! Structural rules of ARCHITECTURE.md that can be checked by reading the source (issue 18):
//! `anyhow` only at the binary's edge (`main.rs`, `daemon.rs`, the command line in
//! `src/cli/`); every library module returns `thiserror` errors.

use crate::common;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Files under `src/` that name `anyhow` in code (comments aside) but are not binary-edge.
fn anyhow_outside_the_edge(src: &Path) -> Vec<String> {
    let edge = |rel: &str| rel == "main.rs" || rel == "daemon.rs" || rel.starts_with("cli/");
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut bad = Vec::new();
    for f in files {
        let rel = f.strip_prefix(src).unwrap().to_string_lossy().replace('\\', "/");
        let text = std::fs::read_to_string(&f).unwrap();
        let uses = text.lines().any(|l| {
            let code = l.split("//").next().unwrap_or("");
            code.contains("anyhow")
        });
        if uses && !edge(&rel) {
            bad.push(rel);
        }
    }
    bad.sort();
    bad
}

#[test]
fn anyhow_only_at_the_binarys_edge() {
    let bad = anyhow_outside_the_edge(&common::repo().join("src"));
    assert!(bad.is_empty(), "anyhow in library modules (return a thiserror type instead): {bad:?}");
}

/// The rule above fails when a library module takes up anyhow.
#[test]
fn the_anyhow_rule_catches_a_library_module_that_uses_it() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("cli")).unwrap();
    std::fs::create_dir_all(src.join("store")).unwrap();
    std::fs::write(src.join("main.rs"), "fn main() -> anyhow::Result<()> { Ok(()) }\n").unwrap();
    std::fs::write(src.join("cli/mod.rs"), "use anyhow::Context;\n").unwrap();
    std::fs::write(src.join("store/mod.rs"), "// anyhow in a comment is fine\npub fn f() {}\n").unwrap();
    assert!(anyhow_outside_the_edge(src).is_empty());
    std::fs::write(src.join("store/mod.rs"), "pub fn f() -> anyhow::Result<()> { Ok(()) }\n").unwrap();
    assert_eq!(anyhow_outside_the_edge(src), ["store/mod.rs"]);
}
