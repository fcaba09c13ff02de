//! Structural rules of ARCHITECTURE.md that can be checked by reading the source (issue 18):
//! modules import only their own layer and the layers below (the "Layers" list there), no
//! import cycle between the modules it names, every source file in a layer, and `anyhow`
//! only at the binary's edge (`main.rs`, `daemon.rs`, the command line in `src/cli/`).

use crate::common;
use std::collections::{BTreeMap, BTreeSet};
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

/// The "Layers" section of ARCHITECTURE.md, lowest first: each line
/// `N. **name**: `module`, `module::sub`, ...` gives a layer and the modules in it.
fn layers(md: &str) -> Vec<(String, Vec<String>)> {
    let section = md.split("\n## Layers").nth(1).expect("ARCHITECTURE.md has a `## Layers` section");
    let section = section.split("\n## ").next().unwrap();
    let mut out = Vec::new();
    for line in section.lines() {
        let Some(rest) = line.trim_start().split_once(". **") else { continue };
        if !rest.0.chars().all(|c| c.is_ascii_digit()) || rest.0.is_empty() {
            continue;
        }
        let (name, modules) = rest.1.split_once("**").expect("a layer line names its layer in bold");
        let modules: Vec<String> = modules.split('`').skip(1).step_by(2).map(str::to_string).collect();
        assert!(!modules.is_empty(), "layer `{name}` lists no modules");
        out.push((name.to_string(), modules));
    }
    assert!(out.len() >= 2, "the Layers section lists at least two layers");
    out
}

/// The module path of a source file: `sinks/api/mod.rs` -> `sinks::api`.
fn module_of(rel: &str) -> Vec<String> {
    let mut segs: Vec<String> = rel.trim_end_matches(".rs").split('/').map(str::to_string).collect();
    if segs.last().is_some_and(|s| s == "mod") {
        segs.pop();
    }
    segs
}

/// The listed module a path belongs to (longest prefix), with its layer's index.
fn unit_of<'a>(path: &[String], units: &'a BTreeMap<String, usize>) -> Option<(&'a str, usize)> {
    (1..=path.len()).rev().find_map(|k| units.get_key_value(&path[..k].join("::")).map(|(u, l)| (u.as_str(), *l)))
}

/// The code of a file without comments and without its trailing `#[cfg(test)] mod tests`
/// (tests may use any layer: they are not part of the product).
fn product_code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap();
    text.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

fn ident_path(s: &str) -> Vec<String> {
    let s = s.trim_start();
    let end = s.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')).unwrap_or(s.len());
    s[..end].split("::").filter(|x| !x.is_empty()).map(str::to_string).collect()
}

/// Every `crate::a::b` path in the code, `crate::{a::X, b}` groups expanded to their heads.
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let (mut depth, mut item, mut items) = (1, String::new(), Vec::new());
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 1 => items.push(std::mem::take(&mut item)),
                    _ if depth == 1 => item.push(c),
                    _ => {}
                }
                if depth == 0 {
                    items.push(item);
                    break;
                }
            }
            out.extend(items.iter().map(|it| ident_path(it)).filter(|p| !p.is_empty()));
        } else {
            out.push(ident_path(rest));
        }
    }
    out
}

/// What breaks the layer rules in `src` under `md`'s Layers list: files in no layer, upward
/// imports (`file -> path (layer -> higher layer)`) and import cycles between listed modules.
fn layer_problems(src: &Path, md: &str) -> Vec<String> {
    let layers = layers(md);
    let units: BTreeMap<String, usize> =
        layers.iter().enumerate().flat_map(|(i, (_, ms))| ms.iter().map(move |m| (m.clone(), i))).collect();
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut problems = Vec::new();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(src).unwrap().to_string_lossy().replace('\\', "/");
        if rel.ends_with("/tests.rs") {
            continue;
        }
        let Some((unit, layer)) = unit_of(&module_of(&rel), &units) else {
            problems.push(format!("{rel} is in no layer of ARCHITECTURE.md"));
            continue;
        };
        for path in crate_paths(&product_code(&std::fs::read_to_string(&f).unwrap())) {
            let Some((to, to_layer)) = unit_of(&path, &units) else { continue };
            if to_layer > layer {
                problems.push(format!(
                    "{rel} -> crate::{} ({} imports {}, a higher layer)",
                    path.join("::"),
                    layers[layer].0,
                    layers[to_layer].0
                ));
            }
            if to != unit {
                edges.entry(unit.to_string()).or_default().insert(to.to_string());
            }
        }
    }
    problems.extend(cycles(&edges).into_iter().map(|c| format!("import cycle: {}", c.join(" -> "))));
    problems
}

/// The cycles a depth-first search meets, each as the modules around it.
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    fn visit(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
        out: &mut Vec<Vec<String>>,
    ) {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in edges.get(n).into_iter().flatten() {
            match state.get(m.as_str()) {
                Some(1) => {
                    let at = stack.iter().position(|s| s == m).unwrap();
                    let mut c = stack[at..].to_vec();
                    c.push(m.clone());
                    out.push(c);
                }
                None => visit(m, edges, state, stack, out),
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
    }
    let (mut state, mut out) = (BTreeMap::new(), Vec::new());
    for n in edges.keys() {
        if !state.contains_key(n.as_str()) {
            visit(n, edges, &mut state, &mut Vec::new(), &mut out);
        }
    }
    out
}

#[test]
fn modules_import_only_their_layer_and_the_layers_below() {
    let md = std::fs::read_to_string(common::repo().join("ARCHITECTURE.md")).unwrap();
    let problems = layer_problems(&common::repo().join("src"), &md);
    assert!(problems.is_empty(), "ARCHITECTURE.md's layers are broken:\n{}", problems.join("\n"));
}

const TOY_LAYERS: &str =
    "# A\n\n## Layers\n\n1. **base**: `time`\n2. **store**: `store`, `sinks::live`\n3. **edge**: `main`\n\n## Other\n";

fn toy_src(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (rel, text) in files {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

/// The layer rule fails on an upward import, and only on code: comments, tests and
/// downward imports pass.
#[test]
fn the_layer_rule_catches_an_upward_import() {
    let ok = toy_src(&[
        (
            "time.rs",
            "// crate::store::X in a comment\npub fn now() {}\n#[cfg(test)]\nmod tests { use crate::store::X; }\n",
        ),
        ("store/mod.rs", "use crate::time::now;\npub struct X;\n"),
        ("sinks/live.rs", "use crate::{store::X, time};\n"),
        ("main.rs", "use crate::sinks::live;\n"),
    ]);
    assert_eq!(layer_problems(ok.path(), TOY_LAYERS), Vec::<String>::new());
    std::fs::write(ok.path().join("time.rs"), "use crate::{sinks::live::Y, time};\n").unwrap();
    assert_eq!(
        layer_problems(ok.path(), TOY_LAYERS),
        [
            "time.rs -> crate::sinks::live::Y (base imports store, a higher layer)",
            "import cycle: sinks::live -> store -> time -> sinks::live"
        ]
    );
}

/// Modules of one layer may use each other, but not round in a circle; a file no layer
/// names is a problem too.
#[test]
fn the_layer_rule_catches_a_cycle_and_a_file_in_no_layer() {
    let dir = toy_src(&[
        ("store/mod.rs", "use crate::sinks::live::L;\n"),
        ("sinks/live.rs", "use crate::store::S;\n"),
        ("extra.rs", "pub fn f() {}\n"),
    ]);
    assert_eq!(
        layer_problems(dir.path(), TOY_LAYERS),
        ["extra.rs is in no layer of ARCHITECTURE.md", "import cycle: sinks::live -> store -> sinks::live"]
    );
}
