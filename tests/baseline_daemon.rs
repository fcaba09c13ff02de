//! Per-asset baselines end to end (issue 22): the daemon on its simulator learns the pump's
//! normal (abstaining meanwhile), keeps it across a restart, opens a departure finding that
//! cites it and names the contributing signals when the pump's fault starts, and re-learns on
//! a technician's request (audited; a viewer is refused). Observed through the HTTP API, the
//! simulator's Modbus control register, the CLI and the SQLite file.

use crate::common::{demo_config, user_with_token, Daemon, Ports};
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(90);

fn set_fault(port: u16, unit: u8, on: bool) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        use tokio_modbus::prelude::*;
        let mut ctx = tcp::connect_slave(([127, 0, 0, 1], port).into(), Slave(unit)).await.unwrap();
        ctx.write_single_register(edgecite::simulator::FAULT_CONTROL_REGISTER, on as u16).await.unwrap().unwrap();
    });
}

fn baseline(d: &Daemon) -> Value {
    let list = d.json("/api/v1/baselines?asset=P1");
    list.as_array().unwrap().iter().find(|b| b["name"] == "skid").cloned().unwrap_or(Value::Null)
}

fn assessment(d: &Daemon) -> Option<Value> {
    let a = d.json("/api/v1/assets/P1");
    a["assessments"].as_array()?.iter().find(|x| x["criterion"]["id"] == "verdict.baseline.skid").cloned()
}

#[test]
fn baseline_learns_survives_a_restart_finds_a_departure_and_relearns_audited() {
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports::new();
    let config = demo_config(
        dir.path(),
        &ports,
        &[
            ("pump_fault = true", "pump_fault = false"),
            ("interval_ms = 1000\ntimeout_ms = 500\npoints", "interval_ms = 250\ntimeout_ms = 500\npoints"),
            ("[diagnose]\ninterval_ms = 1000", "[diagnose]\ninterval_ms = 250"),
            // The demo pump's baseline, learning longer here.
            ("window = 1\nlearn = { samples = 30 }", "window = 5\nlearn = { samples = 80 }"),
        ],
    );
    let mut d = Daemon::start(&config, ports.api, &[]);
    // Learning: the criterion abstains and says so.
    let a = d.wait_until("the baseline criterion to abstain while learning", LIMIT, || {
        assessment(&d).filter(|a| a["status"] == "abstain" && a["detail"].as_str().unwrap_or("").contains("learning"))
    });
    assert_eq!(a["reason"], "insufficient_data", "{a}");
    let b = d.wait_until("the baseline to be ready", LIMIT, || Some(baseline(&d)).filter(|b| b["state"] == "ready"));
    assert_eq!(b["samples"], 80, "{b}");
    assert!(b["learned_from"].as_str().unwrap() < b["learned_to"].as_str().unwrap());
    assert!(b["basis"].as_str().unwrap().contains("Jackson & Mudholkar"), "{b}");
    let learned_to = b["learned_to"].clone();
    d.wait_until("a normal assessment", LIMIT, || assessment(&d).filter(|a| a["status"] == "normal"));
    assert!(d.terminate());

    // Restart: the learned baseline is restored, not learned again.
    let mut d = Daemon::start(&config, ports.api, &[]);
    let b = baseline(&d);
    assert_eq!((b["state"].clone(), b["learned_to"].clone()), (Value::from("ready"), learned_to.clone()), "{b}");
    assert!(d.log_text().contains("baseline restored"), "{}", d.log_text());
    d.wait_until("scoring after the restart", LIMIT, || assessment(&d).filter(|a| a["status"] == "normal"));

    // The pump's fault: a departure finding citing the baseline, signals named.
    set_fault(ports.sim, 2, true);
    let f = d.wait_until("a baseline departure finding", LIMIT, || {
        let open = d.json("/api/v1/findings?state=open");
        open.as_array().unwrap().iter().find(|f| f["criterion"]["id"] == "verdict.baseline.skid").cloned()
    });
    assert_eq!(f["code"], "BASELINE.SKID.DEPARTURE");
    let cit = &f["citations"][0];
    assert_eq!(cit["reference_id"], "baseline:P1/skid");
    assert!(cit["title"].as_str().unwrap().contains("80 samples"), "{cit}");
    let summary = f["evidence"]["summary"].as_str().unwrap();
    assert!(summary.contains("most contributing") && summary.contains("learned"), "{summary}");
    let derived = f["evidence"]["derived"].as_array().unwrap();
    assert!(derived.iter().any(|x| x["name"].as_str().unwrap().ends_with("share of departure")), "{derived:?}");
    assert!(!f["evidence"]["values"].as_array().unwrap().is_empty());

    // Re-learn: a viewer may not, a technician may (audited); it learns again.
    let (_, viewer) = user_with_token(&config, "viewer");
    let (_, tech) = user_with_token(&config, "technician");
    let path = "/api/v1/baselines/P1/skid/relearn";
    assert_eq!(d.request("POST", path, Some(&viewer), None).status, 403);
    assert_eq!(d.request("POST", "/api/v1/baselines/P1/nope/relearn", Some(&tech), None).status, 404);
    let r = d.request("POST", path, Some(&tech), None);
    assert_eq!(r.status, 202, "{}", r.json);
    set_fault(ports.sim, 2, false);
    d.wait_until("learning again", LIMIT, || Some(baseline(&d)).filter(|b| b["state"] == "learning"));
    let audit = d.json("/api/v1/admin/audit");
    let rows = audit.as_array().unwrap();
    assert!(
        rows.iter().any(|r| r["target"].as_str().unwrap_or("").contains(path) && r["actor"] == "test-technician"),
        "{audit}"
    );
    assert!(
        rows.iter()
            .any(|r| r["action"] == "BASELINE_RELEARN" && r["detail"].as_str().unwrap().contains("test-technician")),
        "{audit}"
    );
    d.wait_until("ready again, learned later", LIMIT, || {
        Some(baseline(&d)).filter(|b| b["state"] == "ready" && b["learned_to"].as_str() > learned_to.as_str())
    });
    assert!(d.terminate());

    // The CLI: status lists it; re-learn requests are audited; unknown names are refused.
    let cli = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_edgecite")).args(args).arg("--config").arg(&config).output().unwrap()
    };
    let out = cli(&["baseline", "status"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("skid") && out.status.success());
    let out = cli(&["baseline", "relearn", "--asset", "P1", "--name", "nope"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("no baseline `nope`"));
    let out = cli(&["baseline", "relearn", "--asset", "P1", "--name", "skid"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let d = Daemon::start(&config, ports.api, &[]);
    d.wait_until("the CLI's re-learn taken up at start", LIMIT, || {
        Some(baseline(&d)).filter(|b| b["state"] == "learning" && b["relearn_requested"].is_null())
    });
    let audit = d.json("/api/v1/admin/audit");
    assert!(audit.as_array().unwrap().iter().any(|r| r["action"] == "BASELINE_RELEARN_REQUEST"), "{audit}");
}

/// The demo as shipped: the pump learns its baseline before its fault starts, then the
/// departure finding opens and names vibration among the signals that moved.
#[test]
fn demo_pump_learns_before_its_fault_then_reports_the_departure() {
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports::new();
    let config = demo_config(
        dir.path(),
        &ports,
        &[
            ("interval_ms = 1000\ntimeout_ms = 500\npoints", "interval_ms = 250\ntimeout_ms = 500\npoints"),
            ("[diagnose]\ninterval_ms = 1000", "[diagnose]\ninterval_ms = 250"),
        ],
    );
    let t0 = std::time::SystemTime::now();
    let d = Daemon::start(&config, ports.api, &[]);
    let b = d.wait_until("the demo pump's baseline to be ready", LIMIT, || {
        Some(baseline(&d)).filter(|b| b["state"] == "ready")
    });
    assert_eq!(b["samples"], 30);
    let f = d.wait_until("the demo pump's departure", Duration::from_secs(120), || {
        let open = d.json("/api/v1/findings?state=open");
        open.as_array().unwrap().iter().find(|f| f["criterion"]["id"] == "verdict.baseline.skid").cloned()
    });
    // Learned before the fault, and no departure before the fault's onset (demo.toml:
    // pump_fault_onset_hours = 8 at 720 simulated seconds per second: 40 s after the start).
    assert!(f["citations"][0]["title"].as_str().unwrap().contains("30 samples"));
    let at = |k: &str, v: &Value| humantime::parse_rfc3339(v[k].as_str().unwrap()).unwrap();
    assert!(at("learned_to", &b) < t0 + Duration::from_secs(40), "{b}");
    assert!(at("first_seen", &f) >= t0 + Duration::from_secs(40), "departure before the fault: {f}");
    let summary = f["evidence"]["summary"].as_str().unwrap();
    assert!(summary.contains("vib_accel"), "the bearing fault's vibration is among the top signals: {summary}");
}
