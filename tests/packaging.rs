//! The package metadata (Cargo.toml [package.metadata.deb]) stays true to the tree: every
//! asset it installs exists, the unit and default config land where the unit expects them,
//! and the default config passes `edgecite check`.

use crate::common;

#[test]
fn deb_assets_exist_and_match_the_unit() {
    let root = common::repo();
    let cargo: toml::Table = std::fs::read_to_string(root.join("Cargo.toml")).unwrap().parse().unwrap();
    let deb = &cargo["package"]["metadata"]["deb"];
    let assets = deb["assets"].as_array().unwrap();
    let mut dests = Vec::new();
    for a in assets {
        let a = a.as_array().unwrap();
        let (src, dest) = (a[0].as_str().unwrap(), a[1].as_str().unwrap());
        if !src.starts_with("target/") {
            assert!(root.join(src).is_file(), "package asset {src} does not exist");
        }
        dests.push(dest.to_string());
    }
    let unit = std::fs::read_to_string(root.join("systemd/edgecite.service")).unwrap();
    assert!(dests.iter().any(|d| d == "usr/bin/"), "binary not installed in /usr/bin");
    assert!(unit.contains("ExecStart=/usr/bin/edgecite run --config /etc/edgecite/edgecite.toml"));
    assert!(dests.iter().any(|d| d == "etc/edgecite/edgecite.toml"));
    // The unit is installed, enabled and started by cargo-deb's systemd support (the package's
    // maintainer scripts; tests/boot.rs installs the package and sees it running).
    let units = &deb["systemd-units"];
    assert_eq!(units["unit-name"].as_str(), Some("edgecite"));
    assert_eq!(units["enable"].as_bool(), Some(true), "the package must enable the unit");
    assert_eq!(units["start"].as_bool(), Some(true), "the package must start the unit");
    assert!(root.join(deb["maintainer-scripts"].as_str().unwrap()).join("edgecite.service").is_file());
    assert_eq!(deb["license-file"][0].as_str(), Some("LICENSE"));
    assert!(std::fs::read_to_string(root.join("LICENSE")).unwrap().contains("Apache License"));
    assert_eq!(deb["conf-files"].as_array().unwrap()[0].as_str(), Some("/etc/edgecite/edgecite.toml"));
    // The packaged config stores its data in the unit's StateDirectory and finds the models
    // where the package puts them.
    let gateway = std::fs::read_to_string(root.join("configs/gateway.toml")).unwrap();
    assert!(unit.contains("StateDirectory=edgecite") && gateway.contains("\"/var/lib/edgecite/edgecite.db\""));
    assert!(gateway.contains("\"/usr/share/edgecite/models\""));
    // Issue 13 item 11: secrets live in the credentials directory the unit loads, not in the
    // 0644 config; both the package and the Yocto recipe make it 0700 root before the unit
    // starts (a missing directory fails the unit; tests/boot.rs starts it from one).
    let creds = unit
        .lines()
        .find_map(|l| l.strip_prefix("LoadCredential=edgecite:"))
        .expect("the unit loads the credentials directory");
    let postinst = std::fs::read_to_string(root.join("systemd/postinst")).unwrap();
    let made = format!("install -d -m 0700 -o root -g root {creds}");
    let (at, debhelper) = (postinst.find(&made), postinst.find("\n#DEBHELPER#"));
    assert!(
        at.is_some() && at < debhelper,
        "systemd/postinst must `{made}` before #DEBHELPER# (which starts the unit)"
    );
    let recipe = std::fs::read_to_string(root.join("cross/yocto/edgecite_0.1.0.bb")).unwrap();
    let made = format!("install -d -m 0700 {}", creds.replace("/etc", "${D}${sysconfdir}"));
    assert!(recipe.contains(&made), "the Yocto recipe must `{made}`");
    // Every model in models/ is shipped (a model left out makes its criterion vanish), with its
    // manifest and the model file the manifest names.
    for e in std::fs::read_dir(root.join("models")).unwrap().flatten() {
        let manifest = e.path().join("manifest.toml");
        if !manifest.is_file() {
            continue;
        }
        let name = e.file_name().to_string_lossy().to_string();
        let m: toml::Table = std::fs::read_to_string(&manifest).unwrap().parse().unwrap();
        let file = m.get("file").and_then(|f| f.as_str()).unwrap_or("model.onnx");
        for f in ["manifest.toml", file] {
            let (src, dest) = (format!("models/{name}/{f}"), format!("usr/share/edgecite/models/{name}/{f}"));
            let shipped =
                assets.iter().any(|a| a[0].as_str() == Some(src.as_str()) && a[1].as_str() == Some(dest.as_str()));
            assert!(shipped, "model {name}: the package does not ship {src} as /{dest}");
        }
    }
}

/// The variables a bitbake recipe or include assigns with `=`, `?=` or `+=` (continued lines
/// joined), in order.
fn bitbake_vars(text: &str) -> Vec<(String, String)> {
    let mut vars = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let mut line = line.trim_end().to_string();
        while line.ends_with('\\') {
            line.pop();
            line.push_str(lines.next().unwrap_or("").trim());
            line.push(' ');
        }
        let Some((k, v)) = line.split_once('=') else { continue };
        let k = k.trim().trim_end_matches(['?', '+']).trim();
        if k.is_empty() || k.starts_with('#') || k.contains(' ') && !k.starts_with("export") {
            continue;
        }
        vars.push((k.to_string(), v.trim().trim_matches('"').trim().to_string()));
    }
    vars
}

#[test]
fn the_yocto_recipe_has_its_required_fields_and_its_crates_match_cargo_lock() {
    let root = common::repo();
    let recipe = std::fs::read_to_string(root.join("cross/yocto/edgecite_0.1.0.bb")).unwrap();
    let vars = bitbake_vars(&recipe);
    let get = |k: &str| {
        vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).unwrap_or_else(|| panic!("recipe lacks {k}"))
    };
    for k in ["SUMMARY", "HOMEPAGE", "SRC_URI", "S", "SYSTEMD_SERVICE:${PN}", "CONFFILES:${PN}", "FILES:${PN}"] {
        assert!(!get(k).is_empty(), "recipe: {k} is empty");
    }
    // License: the one Cargo.toml declares, checksummed over the LICENSE file as it is.
    let cargo: toml::Table = std::fs::read_to_string(root.join("Cargo.toml")).unwrap().parse().unwrap();
    assert_eq!(get("LICENSE"), cargo["package"]["license"].as_str().unwrap());
    let lic = get("LIC_FILES_CHKSUM");
    let (file, md5) =
        lic.strip_prefix("file://").and_then(|l| l.split_once(";md5=")).unwrap_or_else(|| panic!("{lic}"));
    let out = std::process::Command::new("md5sum").arg(root.join(file)).output().unwrap();
    let actual = String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or("").to_string();
    assert_eq!(md5, actual, "LIC_FILES_CHKSUM: md5 of {file} is {actual}");
    // A pinned source, no placeholders, nothing the layer does not have.
    let srcrev = get("SRCREV");
    assert!(
        srcrev.len() == 40 && srcrev.bytes().all(|b| b.is_ascii_hexdigit()),
        "SRCREV {srcrev}: expected a commit id"
    );
    assert!(!recipe.contains("AUTOREV") && !recipe.contains("REPLACE_WITH"), "recipe has a placeholder");
    for uri in get("SRC_URI").split_whitespace().filter(|u| u.starts_with("file://")) {
        let name = uri.trim_start_matches("file://").split(';').next().unwrap();
        assert!(root.join("cross/yocto/files").join(name).is_file(), "SRC_URI {uri}: no such file in the layer");
    }
    let inherits: Vec<&str> =
        recipe.lines().filter_map(|l| l.strip_prefix("inherit ")).flat_map(|l| l.split_whitespace()).collect();
    assert!(inherits.contains(&"cargo") && inherits.contains(&"systemd"), "{inherits:?}");
    if inherits.contains(&"useradd") {
        assert!(vars.iter().any(|(k, _)| k == "USERADD_PACKAGES"), "inherit useradd needs USERADD_PACKAGES");
    }
    // The installed files exist in the tree, the unit is the shipped one.
    for path in ["systemd/edgecite.service", "configs/gateway.toml"] {
        assert!(recipe.contains(&format!("${{S}}/{path}")) && root.join(path).is_file(), "recipe must install {path}");
    }
    assert_eq!(get("SYSTEMD_SERVICE:${PN}"), "edgecite.service");
    assert!(recipe.contains("${S}/models/*/manifest.toml"), "recipe must install every model");
    // The supported release and its Rust are stated, with Cargo.toml's rust-version.
    let msrv = cargo["package"]["rust-version"].as_str().unwrap();
    assert!(
        recipe.contains("# Supported: Yocto Project") && recipe.contains(&format!("rust-version is {msrv}")),
        "{msrv}"
    );

    // The crates include: required by the recipe, and exactly Cargo.lock's crates.io packages.
    assert!(recipe.contains("require ${BPN}-crates.inc"));
    let inc = std::fs::read_to_string(root.join("cross/yocto/edgecite-crates.inc")).unwrap();
    let lock: toml::Table = std::fs::read_to_string(root.join("Cargo.lock")).unwrap().parse().unwrap();
    let mut want = Vec::new();
    for p in lock["package"].as_array().unwrap() {
        if p.get("source").and_then(|s| s.as_str()).is_some_and(|s| s.contains("crates.io-index")) {
            let (n, v, c) =
                (p["name"].as_str().unwrap(), p["version"].as_str().unwrap(), p["checksum"].as_str().unwrap());
            want.push(format!("crate://crates.io/{n}/{v}"));
            want.push(format!("SRC_URI[{n}-{v}.sha256sum] = \"{c}\""));
        }
    }
    let mut have: Vec<String> = inc
        .lines()
        .map(|l| l.trim().trim_end_matches('\\').trim().to_string())
        .filter(|l| l.starts_with("crate://") || l.starts_with("SRC_URI["))
        .collect();
    want.sort();
    have.sort();
    assert!(
        have == want,
        "cross/yocto/edgecite-crates.inc does not match Cargo.lock: run cross/yocto/update-crates.py ({} entries, want {})",
        have.len(),
        want.len()
    );
}
