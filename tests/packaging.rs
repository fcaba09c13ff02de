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
    assert!(dests.iter().any(|d| d.starts_with("lib/systemd/system/edgecite.service")));
    assert_eq!(deb["conf-files"].as_array().unwrap()[0].as_str(), Some("/etc/edgecite/edgecite.toml"));
    // The packaged config stores its data in the unit's StateDirectory and finds the models
    // where the package puts them.
    let gateway = std::fs::read_to_string(root.join("configs/gateway.toml")).unwrap();
    assert!(unit.contains("StateDirectory=edgecite") && gateway.contains("\"/var/lib/edgecite/edgecite.db\""));
    assert!(
        dests.iter().any(|d| d.starts_with("usr/share/edgecite/models/pump_anomaly/"))
            && gateway.contains("/usr/share/edgecite/models")
    );
}
