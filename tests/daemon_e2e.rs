//! The daemon on its simulator in fast time, observed only through its HTTP API, the
//! Modbus control registers of the simulator, its exit status and its SQLite file.

use crate::common;

use crate::common::{demo_config, Daemon, Ports};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

const FAST: &[(&str, &str)] = &[
    ("interval_ms = 1000\ntimeout_ms = 500\npoints", "interval_ms = 250\ntimeout_ms = 500\npoints"),
    ("[diagnose]\ninterval_ms = 1000", "[diagnose]\ninterval_ms = 250"),
];

fn open_by_code(d: &Daemon) -> BTreeMap<String, Value> {
    let list = d.json("/api/v1/findings?state=open");
    list.as_array().unwrap().iter().map(|f| (f["code"].as_str().unwrap().to_string(), f.clone())).collect()
}

fn set_fault(port: u16, unit: u8, on: bool) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        use tokio_modbus::prelude::*;
        let mut ctx = tcp::connect_slave(([127, 0, 0, 1], port).into(), Slave(unit)).await.unwrap();
        ctx.write_single_register(edgecite::simulator::FAULT_CONTROL_REGISTER, on as u16).await.unwrap().unwrap();
    });
}

fn has_cjk(s: &str) -> bool {
    s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

/// GET with the daemon's token and extra headers.
fn get_with(d: &Daemon, path: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let auth = format!("Bearer {}", d.token);
    let mut h: Vec<(&str, &str)> = vec![("Authorization", &auth)];
    h.extend_from_slice(headers);
    let r = common::http(d.api, "GET", path, &h, None).unwrap();
    (r.status, r.json)
}

fn citation_ids(f: &Value) -> Vec<String> {
    f["citations"].as_array().unwrap().iter().map(|c| c["reference_id"].as_str().unwrap().to_string()).collect()
}

#[test]
fn findings_open_with_evidence_and_citations_then_clear_when_faults_stop() {
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports::new();
    // The ports rewrite covers both sources (replace() hits every occurrence).
    let fast: Vec<(&str, &str)> = FAST.to_vec();
    let config = demo_config(dir.path(), &ports, &fast);
    let mut d = Daemon::start(&config, ports.api, &[]);

    // One verdict per asset and domain (issue 12): T1's DGA verdict names the triangle's zone;
    // P1's rotating verdict carries both the vibration zone and the model score as methods.
    let open = d.wait_until("the DGA and rotating verdicts to open", Duration::from_secs(120), || {
        let open = open_by_code(&d);
        let dga = open.values().any(|f| f["criterion"]["id"] == "verdict.transformer-dga");
        let rot = open.values().find(|f| f["criterion"]["id"] == "verdict.rotating")?;
        let methods = rot["evidence"]["methods"].as_array()?;
        let fault = |id: &str| methods.iter().any(|m| m["criterion"] == id && m["status"] == "fault");
        (dga && fault("iso10816_3.zone") && fault("model.pump_anomaly")).then_some(open)
    });
    // One finding per asset and domain (the demo's pump baseline is a domain of its own).
    let keys: Vec<String> = open.values().map(|f| format!("{}|{}", f["asset"], f["criterion"]["id"])).collect();
    let unique: std::collections::BTreeSet<&String> = keys.iter().collect();
    assert_eq!(unique.len(), keys.len(), "one finding per asset and domain: {keys:?}");

    for (code, f) in &open {
        assert_eq!(f["state"], "open");
        assert!(!f["citations"].as_array().unwrap().is_empty(), "{code} has no citation");
        let values = f["evidence"]["values"].as_array().unwrap();
        assert!(!values.is_empty(), "{code} has no evidence values");
        assert_eq!(f["evidence"]["verdict"]["kind"], "diagnosis", "{f}");
        for v in values {
            assert_eq!(v["quality"], "good", "{code}: {v}");
            assert!(v["ts"].as_str().unwrap().ends_with('Z'));
            assert!(v["value"].is_number());
        }
        assert!(!f["evidence"]["summary"].as_str().unwrap().is_empty());
        // The configured language (en) by default; both languages beside it.
        assert_eq!(f["lang"], "en");
        assert_eq!(f["recommended_action"], f["recommended_action_i18n"]["en"]);
        assert!(!f["recommended_action_i18n"]["en"].as_str().unwrap().is_empty());
        assert!(has_cjk(f["recommended_action_i18n"]["zh"].as_str().unwrap()), "{code}");
        assert_eq!(f["evidence"]["summary"], f["evidence"]["summary_i18n"]["en"]);
    }
    // The simulated transformer fault is thermal: the triangle must say T2 or T3.
    // Other DGA methods of the transformer-dga pack may open findings too; the triangle's is checked here.
    let (dga_code, dga) = open.iter().find(|(k, _)| k.starts_with("DGA.DUVAL1.")).unwrap();
    assert!(dga_code == "DGA.DUVAL1.T3" || dga_code == "DGA.DUVAL1.T2", "{dga_code}");
    assert_eq!(dga["asset"], "T1");
    assert_eq!(dga["evidence"]["verdict"]["family"], "T");
    let ids = citation_ids(dga);
    assert_eq!(ids[0], "iec60599-2022", "the triangle first: {ids:?}");
    assert!(dga["citations"][0]["clause"].as_str().unwrap().contains("Annex B"));
    assert_eq!(dga["citations"][0]["verification"], "verified");
    assert!(dga["citations"][0]["edge_convention"].as_str().unwrap().contains(">="));
    let roles: Vec<&str> =
        dga["evidence"]["values"].as_array().unwrap().iter().map(|v| v["role"].as_str().unwrap()).collect();
    for r in ["ch4", "c2h4", "c2h2"] {
        assert!(roles.contains(&r), "{roles:?}");
    }
    // Every method of the pack is shown with its own view.
    let methods = dga["evidence"]["methods"].as_array().unwrap();
    let duval = methods.iter().find(|m| m["criterion"] == "iec60599.duval_triangle_1").unwrap();
    assert_eq!((duval["role"].as_str(), duval["family"].as_str()), (Some("primary"), Some("T")), "{duval}");
    assert!(methods.iter().any(|m| m["criterion"] == "dlt722.three_ratio" && m["role"] == "confirmation"));

    let (_, rot) = open.iter().find(|(_, f)| f["criterion"]["id"] == "verdict.rotating").unwrap();
    assert_eq!(rot["asset"], "P1");
    let ids = citation_ids(rot);
    assert!(
        ids.contains(&"iso10816-3-2009".to_string()) && ids.contains(&"model:pump_anomaly@2.0.0".to_string()),
        "{ids:?}"
    );
    let iso = rot["citations"].as_array().unwrap().iter().find(|c| c["reference_id"] == "iso10816-3-2009").unwrap();
    assert!(iso["clause"].as_str().unwrap().contains("group 2"));
    let model =
        rot["citations"].as_array().unwrap().iter().find(|c| c["reference_id"] == "model:pump_anomaly@2.0.0").unwrap();
    assert_eq!(model["verification"], "model");
    assert!(model["passage_en"].as_str().unwrap().contains("SKAB"));
    let vib = rot["evidence"]["values"].as_array().unwrap().iter().find(|v| v["role"] == "vib_velocity_rms").unwrap();
    assert!(vib["value"].as_f64().unwrap() >= 2.8 * 0.95);
    let score = rot["evidence"]["derived"].as_array().unwrap().iter().find(|x| x["name"] == "anomaly score").unwrap();
    assert!(score["value"].as_f64().unwrap() >= 14.86 * 0.9);
    assert_eq!(score["name_zh"], "异常分数", "derived values carry their Chinese name: {score}");

    // Detail carries the event history.
    let id = dga["id"].as_i64().unwrap();
    let detail = d.json(&format!("/api/v1/findings/{id}"));
    assert_eq!(detail["events"][0]["kind"], "opened");
    assert!(!has_cjk(detail["evidence"]["summary"].as_str().unwrap()), "{detail}");

    // The language of the request: lang= first, then Accept-Language, then `[packs] language`.
    let (status, zh) = get_with(&d, &format!("/api/v1/findings/{id}?lang=zh"), &[]);
    assert_eq!(status, 200, "{zh}");
    assert_eq!(zh["lang"], "zh");
    for key in ["title", "recommended_action"] {
        assert_eq!(zh[key], zh[&format!("{key}_i18n")]["zh"], "{key}");
        assert!(has_cjk(zh[key].as_str().unwrap()), "{key}: {zh}");
    }
    // The evidence line, criterion title and event summaries are Chinese too (the triangle's
    // evidence: "... 位于 T3（高温过热故障）").
    let sum = zh["evidence"]["summary"].as_str().unwrap();
    assert!(sum.contains("位于"), "{sum}");
    assert_eq!(zh["evidence"]["summary_i18n"]["en"], detail["evidence"]["summary"]);
    assert_eq!(zh["criterion"]["title"], "变压器油中溶解气体分析");
    assert_eq!(zh["criterion"]["title_i18n"]["en"], "Transformer dissolved-gas analysis");
    assert!(zh["events"][0]["summary"].as_str().unwrap().contains("位于"), "{zh}");
    let (_, by_header) =
        get_with(&d, &format!("/api/v1/findings/{id}"), &[("Accept-Language", "zh-CN,zh;q=0.9,en;q=0.5")]);
    assert_eq!(by_header["lang"], "zh");
    assert_eq!(by_header["evidence"]["summary"], zh["evidence"]["summary"]);
    let (_, param_wins) = get_with(&d, &format!("/api/v1/findings/{id}?lang=en"), &[("Accept-Language", "zh-CN")]);
    assert_eq!(param_wins["lang"], "en");
    assert_eq!(param_wins["evidence"]["summary"], detail["evidence"]["summary"]);
    let (status, bad) = get_with(&d, "/api/v1/findings?lang=fr", &[]);
    assert_eq!((status, bad["error"]["code"].as_str()), (400, Some("bad_query")), "{bad}");
    let (_, list) = get_with(&d, "/api/v1/findings?state=open&lang=zh", &[]);
    assert!(list.as_array().unwrap().iter().all(|f| f["lang"] == "zh" && has_cjk(f["title"].as_str().unwrap())));
    let (_, t1) = get_with(&d, "/api/v1/assets/T1", &[("Accept-Language", "zh")]);
    assert_eq!(t1["lang"], "zh");
    let verdict =
        t1["assessments"].as_array().unwrap().iter().find(|a| a["criterion"]["id"] == "verdict.transformer-dga");
    let verdict = verdict.unwrap_or_else(|| panic!("{t1}"));
    assert!(verdict["detail"].as_str().unwrap().contains("位于"), "{verdict}");
    assert!(!has_cjk(verdict["detail_i18n"]["en"].as_str().unwrap()), "{verdict}");
    assert_eq!(t1["assessments"].as_array().unwrap().len(), 1, "one verdict per domain: {t1}");
    assert!(has_cjk(t1["findings"][0]["evidence"]["summary"].as_str().unwrap()), "{t1}");
    let (status, bad) = get_with(&d, "/api/v1/assets?lang=de", &[]);
    assert_eq!(status, 400, "{bad}");

    // Assets show live values and which criteria are in fault.
    let assets = d.json("/api/v1/assets");
    let p1 = assets.as_array().unwrap().iter().find(|a| a["id"] == "P1").unwrap();
    let p1_open: Vec<&Value> = open.values().filter(|f| f["asset"] == "P1").collect();
    assert!(p1_open.iter().filter(|f| f["criterion"]["id"] == "verdict.rotating").count() == 1, "one rotating verdict");
    assert!(p1["open_findings"].as_u64().unwrap() >= 1);
    assert!(p1["values"].as_array().unwrap().iter().all(|v| v["value"].is_number()));

    // Switch both faults off through the simulator's control registers: everything clears.
    set_fault(ports.sim, 1, false);
    set_fault(ports.sim, 2, false);
    d.wait_until("every finding to clear", Duration::from_secs(120), || open_by_code(&d).is_empty().then_some(()));
    let cleared = d.json("/api/v1/findings?state=cleared");
    for f in cleared.as_array().unwrap() {
        assert!(f["cleared_at"].is_string());
        let detail = d.json(&format!("/api/v1/findings/{}", f["id"]));
        let kinds: Vec<&str> =
            detail["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds.first(), Some(&"opened"));
        assert_eq!(kinds.last(), Some(&"cleared"));
    }
    // With normal gases the verdict is normal on judged levels; the triangle abstains (below
    // applicability) rather than diagnosing.
    let t1 = d.json("/api/v1/assets/T1");
    assert_eq!(t1["assessments"][0]["status"], "normal", "{t1}");
    let duval = t1["assessments"][0]["methods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["criterion"] == "iec60599.duval_triangle_1")
        .unwrap();
    assert_eq!(duval["reason"], "below_applicability");

    // Graceful shutdown on SIGTERM: exit 0, store closed with everything in it.
    assert!(d.terminate(), "non-zero exit; log:\n{}", d.log_text());
    assert!(d.log_text().contains("store closed"));
    let store = edgecite::store::Store::open_readonly(&dir.path().join("edgecite.db")).unwrap();
    assert!(store.sample_count().unwrap() > 50);
    let all = store.findings(&Default::default()).unwrap();
    assert!(all.len() >= 2 && all.iter().all(|f| f.state == "cleared"));
}

#[test]
fn dead_device_and_missing_runtime_make_the_daemon_abstain_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports::new();
    let dead = common::free_port().to_string();
    let dead_port = format!("port = {dead}\nunit = 2");
    let mut fast: Vec<(&str, &str)> = FAST.to_vec();
    // The pump's device points at a port nobody listens on; the runtime path is wrong.
    fast.push(("port = 5020\nunit = 2", &dead_port));
    fast.push(("[inference]\n", "[inference]\nruntime_path = \"/nonexistent/libonnxruntime.so\"\n"));
    // Local hardware that is not there: an I2C sensor feeding the bearing temperature, and
    // an alarm relay on a GPIO chip.
    fast.push(("bearing_temp = \"pump1.bearing_temp\"", "bearing_temp = \"cabinet.temperature\""));
    fast.push((
        "[store]\n",
        "[[sources.i2c]]\nid = \"cabinet\"\nbus = \"/dev/i2c-nonexistent\"\naddress = 0x48\nsensor = \"tmp102\"\ninterval_ms = 200\n\n[alarm]\noutputs = [{ id = \"relay1\", chip = \"/dev/gpiochip-nonexistent\", line = 17, min_severity = \"high\" }]\n\n[store]\n",
    ));
    let config = demo_config(dir.path(), &ports, &fast);
    let d = Daemon::start(&config, ports.api, &[("ORT_DYLIB_PATH", None)]);

    // The rotating verdict abstains (never "normal"); its methods say why, each on its own.
    let methods_of = |p1: &Value| -> Option<Vec<Value>> {
        let v = p1["assessments"].as_array()?.iter().find(|a| a["criterion"]["id"] == "verdict.rotating")?;
        (v["status"] == "abstain").then(|| v["methods"].as_array().cloned()).flatten()
    };
    let p1 = d.wait_until("P1 to abstain on bad data", Duration::from_secs(60), || {
        let p1 = d.json("/api/v1/assets/P1");
        let methods = methods_of(&p1)?;
        let abstains = methods
            .iter()
            .any(|m| m["criterion"] == "iso10816_3.zone" && m["status"] == "abstain" && m["reason"] == "bad_quality");
        let all_bad = p1["values"].as_array()?.iter().all(|v| v["quality"] == "comm_error");
        (abstains && all_bad).then_some(p1)
    });
    let methods = methods_of(&p1).unwrap();
    let model = methods.iter().find(|m| m["criterion"] == "model.pump_anomaly").unwrap();
    assert_eq!(model["status"], "abstain");
    assert_eq!(model["reason"], "model_unavailable");
    assert!(model["summary"]["en"].as_str().unwrap().contains("/nonexistent/libonnxruntime.so"), "{model}");
    let vib = methods.iter().find(|m| m["criterion"] == "iso10816_3.zone").unwrap();
    assert!(vib["summary"]["en"].as_str().unwrap().contains("comm_error"), "{vib}");
    assert!(p1["values"].as_array().unwrap().iter().all(|v| v["quality"] == "comm_error" && v["value"].is_null()));

    let (status, health) = d.get("/healthz").unwrap();
    assert_eq!(status, 200);
    assert_eq!(health["status"], "degraded");
    let pump = health["sources"].as_array().unwrap().iter().find(|s| s["id"] == "pump1").unwrap();
    assert_eq!(pump["connected"], false);
    assert!(pump["errors"].as_u64().unwrap() > 0);
    assert!(health["model_errors"][0].as_str().unwrap().contains("looked in"));
    let alarm_error = health["alarm_errors"][0].as_str().unwrap();
    assert!(alarm_error.contains("relay1") && alarm_error.contains("/dev/gpiochip-nonexistent"), "{alarm_error}");
    let i2c = health["sources"].as_array().unwrap().iter().find(|s| s["id"] == "cabinet").unwrap();
    assert_eq!((i2c["kind"].as_str(), i2c["connected"].as_bool()), (Some("i2c"), Some(false)));
    assert!(i2c["transport_errors"].as_u64().unwrap() > 0);
    let bearing = p1["values"].as_array().unwrap().iter().find(|v| v["role"] == "bearing_temp").unwrap();
    assert_eq!(
        (bearing["point"].as_str(), bearing["quality"].as_str()),
        (Some("cabinet.temperature"), Some("comm_error"))
    );
    // `edgecite status` shows the same from the command line.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_edgecite"))
        .args(["status", "--config"])
        .arg(&config)
        .env("EDGECITE_TOKEN", &d.token)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pump_line = text.lines().find(|l| l.starts_with("pump1 ")).unwrap_or_else(|| panic!("{text}"));
    assert!(pump_line.contains(" down "), "{pump_line}");
    assert!(text.contains("disabled") || text.contains("model error"), "{text}");
    // No finding may open on evidence that cannot be trusted.
    assert!(open_by_code(&d).keys().all(|k| k.starts_with("DGA.")));

    // Unknown routes and bad queries answer JSON errors.
    let (status, body) = d.get("/api/v1/findings?state=bogus").unwrap();
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "bad_query");
    let (status, body) = d.get("/api/v1/findings/999999").unwrap();
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "finding_not_found");
    let (status, body) = d.get("/api/v1/assets/nope").unwrap();
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "asset_not_found");
}

/// Issue 18's correctness seam: the deadband keeps unchanged values out of the store, yet
/// the pipeline (and so a finding) sees every sample. With a deadband no reading crosses on
/// the pump's vibration points, every value the open rotating finding cites must still be
/// in the sample history, at its timestamp.
#[test]
fn every_value_a_finding_cites_is_in_the_sample_history_despite_the_deadband() {
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports::new();
    let mut edits: Vec<(&str, &str)> = FAST.to_vec();
    for (from, to) in [
        (
            r#"{ id = "vib_velocity", register = "holding", address = 0,  type = "f32", order = "CDAB", unit = "mm/s" }"#,
            r#"{ id = "vib_velocity", register = "holding", address = 0,  type = "f32", order = "CDAB", unit = "mm/s", deadband_abs = 1000.0 }"#,
        ),
        (
            r#"{ id = "vib_accel",    register = "holding", address = 2,  type = "f32", order = "CDAB", unit = "g" }"#,
            r#"{ id = "vib_accel",    register = "holding", address = 2,  type = "f32", order = "CDAB", unit = "g", deadband_abs = 1000.0 }"#,
        ),
    ] {
        edits.push((from, to));
    }
    let config = demo_config(dir.path(), &ports, &edits);
    let mut d = Daemon::start(&config, ports.api, &[]);
    let finding = d.wait_until("the rotating verdict to open", Duration::from_secs(120), || {
        open_by_code(&d).into_values().find(|f| f["criterion"]["id"] == "verdict.rotating")
    });
    let cited: Vec<(String, i64)> = finding["evidence"]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["point"].as_str().unwrap().to_string(), v["ts_ms"].as_i64().unwrap()))
        .collect();
    assert!(cited.iter().any(|(p, _)| p == "pump1.vib_accel"), "a point with the deadband is cited: {cited:?}");
    let db = edgecite::store::Store::open_readonly(&dir.path().join("edgecite.db")).unwrap();
    // The vibration zone method's summary quotes vib_velocity, polled in the same cycle as
    // the cited values: stored at that time too.
    let (_, at) = cited.iter().find(|(p, _)| p == "pump1.vib_accel").unwrap().clone();
    let mut cited = cited;
    cited.push(("pump1.vib_velocity".into(), at));
    for (point, ts) in &cited {
        let n = db.point_samples(point, *ts, *ts).unwrap().len();
        assert_eq!(n, 1, "{point} at {ts} is cited by finding {} but not stored", finding["id"]);
    }
    // The deadband still holds the rest back: far fewer vibration samples stored than polled.
    let stored = db.point_samples("pump1.vib_accel", i64::MIN, i64::MAX).unwrap().len();
    let polled = db.point_samples("pump1.pressure", i64::MIN, i64::MAX).unwrap().len();
    assert!(stored * 4 < polled, "vib_accel {stored} stored vs pressure {polled}");
    assert!(d.terminate(), "clean stop");
}

#[test]
fn a_clean_stop_stores_the_polled_samples_still_waiting_for_their_commit() {
    // Polled samples wait up to `[store] commit_interval_ms` before they are committed; at
    // the longest interval a stop comes before the first commit, and what was held is
    // stored on the way out, not dropped.
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports::new();
    let config = demo_config(
        dir.path(),
        &ports,
        &[(
            "path = \"../target/demo/edgecite.db\"",
            "path = \"../target/demo/edgecite.db\"\ncommit_interval_ms = 10000",
        )],
    );
    let mut d = Daemon::start(&config, ports.api, &[]);
    d.wait_until("pump1 polled", Duration::from_secs(30), || {
        let h = d.json("/healthz");
        let polled: u64 = h["sources"].as_array()?.iter().map(|s| s["samples"].as_u64().unwrap_or(0)).sum();
        (polled > 20).then_some(())
    });
    let stop = edgecite::time::now_ms();
    assert!(d.terminate(), "clean stop");
    let db = edgecite::store::Store::open_readonly(&dir.path().join("edgecite.db")).unwrap();
    let pressure = db.point_samples("pump1.pressure", i64::MIN, i64::MAX).unwrap();
    let newest = pressure.iter().map(|s| s.ts_ms).max().expect("pump1.pressure samples stored at the stop");
    assert!(newest >= stop - 2_000, "newest stored pump1.pressure sample at {newest}, stop at {stop}");
}
