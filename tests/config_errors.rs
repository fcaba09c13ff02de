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

/// Issue 13 item 11: the packaged config is 0644, so a password must be able to live in a
/// file of its own (or a systemd credential), and an inline one in a readable config is
/// called out by `check`.
#[test]
fn secrets_are_read_from_their_files_and_inline_ones_in_a_readable_config_are_called_out() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("creds");
    std::fs::create_dir(&creds).unwrap();
    std::fs::write(dir.path().join("mqtt-password"), "broker-secret\n").unwrap();
    std::fs::write(creds.join("edgecite_demo-password"), "demo-secret-42\r\n").unwrap();
    let head = "[site]\nid = \"plant\"\n[mqtt]\nusername = \"gw\"\n";
    let from_files = dir.path().join("files.toml");
    std::fs::write(
        &from_files,
        format!(
            "{head}password_file = \"mqtt-password\"\n[api.demo_user]\nname = \"demo\"\n\
             password_file = \"${{CREDENTIALS_DIRECTORY}}/edgecite_demo-password\"\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&from_files, std::fs::Permissions::from_mode(0o644)).unwrap();
    // `${CREDENTIALS_DIRECTORY}` comes from the environment, as systemd sets it: given to a
    // child process, since a test must not change its own (shared) environment.
    let check = |config: &Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_edgecite"))
            .args(["check", "--config"])
            .arg(config)
            .env("CREDENTIALS_DIRECTORY", &creds)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, stdout, stderr) = check(&from_files);
    assert!(ok && !stdout.contains("warning:"), "no secret is inline: {stdout}{stderr}");
    // What was read: the demo password file with too short a content is refused, naming
    // the expanded path.
    std::fs::write(creds.join("edgecite_demo-password"), "short\n").unwrap();
    let (ok, _, stderr) = check(&from_files);
    let expanded = creds.join("edgecite_demo-password");
    assert!(
        !ok && stderr.contains("api.demo_user.password_file")
            && stderr.contains(&format!("the password in {} is too short", expanded.display())),
        "{stderr}"
    );
    // The MQTT password, read by the library as the daemon does (relative to the config).
    let plain = dir.path().join("plain.toml");
    std::fs::write(&plain, format!("{head}password_file = \"mqtt-password\"\n")).unwrap();
    let c = edgecite::config::Config::load(&plain).unwrap();
    assert_eq!(c.mqtt.password, "broker-secret", "relative to the config, one newline dropped");
    assert!(c.exposed_secrets().is_empty());

    let inline = dir.path().join("inline.toml");
    std::fs::write(&inline, format!("{head}password = \"broker-secret\"\n")).unwrap();
    for (mode, warned) in [(0o644, true), (0o640, false)] {
        std::fs::set_permissions(&inline, std::fs::Permissions::from_mode(mode)).unwrap();
        let out =
            Command::new(env!("CARGO_BIN_EXE_edgecite")).args(["check", "--config"]).arg(&inline).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(
            stdout.contains("warning:")
                && stdout.contains("mqtt.password is written in a file every local user can read (mode 0644)"),
            warned,
            "mode {mode:o}: {stdout}"
        );
        assert!(!stdout.contains("broker-secret"), "the secret itself is never printed");
    }
}

/// Issue 18: `check` reports every kind of source, not only Modbus devices.
#[test]
fn check_lists_i2c_sensors_and_mqtt_subscriptions() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        "[site]\nid = \"s\"\n[[sources.i2c]]\nid = \"cabinet\"\nbus = \"/dev/i2c-1\"\naddress = 0x48\nsensor = \"tmp102\"\n\
         [mqtt]\nenabled = true\n[[mqtt.subscriptions]]\ntopic = \"plant/+/temp\"\npoint = \"ext.{1}_temp\"\n\
         [[mqtt.subscriptions]]\ntopic = \"plant/+/json\"\npoint = \"ext.{1}_json\"\nformat = \"json\"\nvalue = \"data.value\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_edgecite")).args(["check", "--config"]).arg(&file).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        text.contains("sources: 0 modbus device(s), 0 point(s); 1 I2C sensor(s); 2 MQTT subscription(s)"),
        "{text}"
    );
    assert!(text.contains("cabinet    i2c /dev/i2c-1 address 0x48"), "{text}");
    assert!(text.contains("mqtt       plant/+/json -> ext.{1}_json (Json)"), "{text}");
    // The history line counts the polled I2C sensor and says MQTT adds what peers publish.
    assert!(text.contains("at the polled 0.2 samples/s, plus what MQTT peers publish"), "{text}");
}
