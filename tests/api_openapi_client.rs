//! Issue 14: the OpenAPI document is valid (openapi-spec-validator) and complete enough that
//! a client generated from it (openapi-python-client) logs in, lists assets and findings,
//! acknowledges with and without a body, adds a note and a photo. Both tools are installed
//! into .venv by `scripts/setup.sh --tests`.

use crate::common::{self, add_user, demo_config, Daemon, Ports};
use std::process::Command;
use std::time::Duration;

fn tool(name: &str) -> std::path::PathBuf {
    let p = common::repo().join(".venv/bin").join(name);
    assert!(p.exists(), "{} missing: run `source scripts/setup.sh --tests`", p.display());
    p
}

fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{what} failed:\n{text}");
    text
}

#[test]
fn the_openapi_document_validates_and_a_generated_client_works() {
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports::new();
    let config = demo_config(dir.path(), &ports, &[]);
    add_user(&config, "tech", "technician", "tech-password-1");
    let d = Daemon::start(&config, ports.api, &[]);
    let doc = d.json("/api/v1/openapi.json");
    let spec = dir.path().join("openapi.json");
    std::fs::write(&spec, doc.to_string()).unwrap();

    let text = run(Command::new(tool("openapi-spec-validator")).arg(&spec), "openapi-spec-validator");
    assert!(text.contains("OK"), "{text}");
    // Every operation's success answers have a schema (except a 204's empty body), and the
    // parameters the issue found missing are components.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (code, resp) in op["responses"].as_object().unwrap() {
                if code.starts_with('2') && code != "204" {
                    let content =
                        resp["content"].as_object().unwrap_or_else(|| panic!("{method} {path} {code}: no content"));
                    for (ct, media) in content {
                        let schema = &media["schema"];
                        assert!(
                            schema.is_object() && schema != &serde_json::json!({"type": "object"}),
                            "{method} {path} {code} {ct}: untyped ({schema})"
                        );
                    }
                }
            }
        }
    }
    for c in ["LangParam", "StateParam", "SeverityParam"] {
        assert!(doc["components"]["schemas"][c].is_object(), "components.schemas.{c} missing");
    }
    let ack_required = &doc["paths"]["/api/v1/findings/{id}/ack"]["post"]["requestBody"]["required"];
    assert!(!ack_required.as_bool().unwrap_or(false), "the acknowledge body is optional");
    let photo_types = &doc["paths"]["/api/v1/findings/{id}/photos"]["post"]["requestBody"]["content"];
    for t in ["image/jpeg", "image/png", "image/webp"] {
        assert!(photo_types[t].is_object(), "photos are not declared as {t}: {photo_types}");
    }

    // A client generated from the document; image bodies are sent as raw bytes.
    let cfg = dir.path().join("client.yaml");
    std::fs::write(
        &cfg,
        "package_name_override: edgecite_client\ncontent_type_overrides:\n  image/jpeg: application/octet-stream\n  image/png: application/octet-stream\n  image/webp: application/octet-stream\n",
    )
    .unwrap();
    let out = dir.path().join("edgecite_client");
    let venv_bin = common::repo().join(".venv/bin");
    let path = format!("{}:{}", venv_bin.display(), std::env::var("PATH").unwrap_or_default());
    run(
        Command::new(tool("openapi-python-client"))
            .args(["generate", "--meta", "none", "--path"])
            .arg(&spec)
            .arg("--output-path")
            .arg(&out)
            .arg("--config")
            .arg(&cfg)
            .env("PATH", &path),
        "openapi-python-client generate",
    );
    for f in
        ["api/assets/assets.py", "api/findings/findings.py", "api/findings/acknowledge.py", "api/notes/add_photo.py"]
    {
        assert!(out.join(f).exists(), "the generated client has no {f}");
    }
    d.wait_until("two open findings", Duration::from_secs(90), || {
        d.json("/api/v1/findings?state=open").as_array().filter(|a| a.len() >= 2).map(|_| ())
    });
    let text = run(
        Command::new(tool("python"))
            .arg(common::repo().join("tests/peers/openapi_client_check.py"))
            .arg(format!("http://127.0.0.1:{}", ports.api))
            .args(["tech", "tech-password-1"])
            .env("PYTHONPATH", dir.path()),
        "the generated client",
    );
    assert!(text.contains("all steps passed"), "{text}\n{}", d.log_text());
}
