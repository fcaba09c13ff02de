//! The integration tests, as one test binary (one link, one executable) rather than one per
//! file: `cargo test --test integration [filter]`, e.g. `cargo test --test integration mqtt_outage`.
//! Each `tests/<name>.rs` is a module here; `every_test_file_is_a_module` fails when a new file
//! is not listed below (Cargo.toml has `autotests = false`, so it would never run).

mod common;

mod api_auth;
mod api_openapi_client;
mod api_retention;
mod api_schemathesis;
mod baseline_daemon;
mod boot;
mod cli_owner;
mod config_errors;
mod daemon_e2e;
mod dga_lab;
mod dga_verdict;
mod features_parity;
mod fleet_cluster;
mod fleet_deploy;
mod hostile_input;
mod inference;
mod knowledge_api;
mod layout;
mod mbpoll;
mod modbus_pymodbus;
mod modbus_source;
mod model_batch;
mod model_eval;
mod model_pump_valve;
mod model_registry;
mod model_runtime;
mod mqtt_ingest;
mod mqtt_ingest_crash;
mod mqtt_outage;
mod mqtt_publish;
mod mqtt_quota;
mod mqtt_sparkplug;
mod mqtt_sparkplug_host;
mod mqtt_tls;
mod packaging;
mod rknn;
mod runtime_versions;
mod stages;
mod systemd;

#[test]
fn every_test_file_is_a_module() {
    let listed = include_str!("integration.rs");
    let dir = common::repo().join("tests");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".rs") {
            if stem != "integration" && !listed.contains(&format!("\nmod {stem};\n")) {
                missing.push(name);
            }
        }
    }
    assert!(missing.is_empty(), "tests/{missing:?} not declared in tests/integration.rs, so never run");
}
