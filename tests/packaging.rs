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
