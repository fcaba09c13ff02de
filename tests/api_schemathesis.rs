//! schemathesis (PyPI, installed into .venv by `scripts/setup.sh --tests`) fuzzes the API
//! from its own OpenAPI document, with an admin token, against the daemon on its simulator:
//! no 5xx, every status code documented, every response matching its schema.

use crate::common;

use crate::common::{demo_config, Daemon, Ports};

#[test]
fn schemathesis_finds_no_server_error_and_no_schema_mismatch() {
    let st = common::repo().join(".venv/bin/schemathesis");
    assert!(st.exists(), "{} missing: run `source scripts/setup.sh --tests`", st.display());
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports::new();
    let config = demo_config(dir.path(), &ports, &[]);
    let d = Daemon::start(&config, ports.api, &[]);
    // Let findings open so that ids exist for the stateful phase.
    d.wait_until("a finding", std::time::Duration::from_secs(60), || {
        d.json("/api/v1/findings").as_array().filter(|a| !a.is_empty()).map(|_| ())
    });
    let out = std::process::Command::new(&st)
        .args(["run", &format!("http://127.0.0.1:{}/api/v1/openapi.json", ports.api)])
        .args(["-H", &format!("Authorization: Bearer {}", d.token)])
        // An endless event stream; covered by tests/web and api_auth.
        .args(["--exclude-path", "/api/v1/live"])
        .args(["--max-examples", "40", "--seed", "7", "--no-color", "--warnings", "off"])
        // A 10,000-sample lab series through the debug build on a busy 2-core machine can take
        // longer than schemathesis' default 10 s read timeout; a hang still fails at 120 s.
        .args(["--request-timeout", "120"])
        .env("SCHEMATHESIS_HOOKS", "")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "schemathesis failed:\n{text}\ndaemon log:\n{}", d.log_text());
    assert!(text.contains("Tested:"), "{text}");
}
