//! The systemd integration: the daemon speaks the notify protocol (READY, watchdog pings
//! from its evaluation loop, STOPPING), and the shipped unit passes systemd's own security
//! review with an exposure of at most 2.0.

use crate::common;

use crate::common::{demo_config, Daemon, Ports};
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

#[test]
fn the_daemon_tells_systemd_it_is_ready_alive_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let ports = Ports::new();
    let config = demo_config(dir.path(), &ports, &[]);
    let path = sock_path.to_str().unwrap();
    // A 2 s watchdog: pings at most every second, from the 1 s evaluation loop.
    let mut d = Daemon::start(&config, ports.api, &[("NOTIFY_SOCKET", Some(path)), ("WATCHDOG_USEC", Some("2000000"))]);
    let mut messages = Vec::new();
    let mut buf = [0u8; 512];
    while messages.iter().filter(|m: &&String| m.contains("WATCHDOG=1")).count() < 3 {
        let n =
            sock.recv(&mut buf).unwrap_or_else(|e| panic!("no notification ({e}); got {messages:?}\n{}", d.log_text()));
        messages.push(String::from_utf8_lossy(&buf[..n]).to_string());
    }
    assert!(messages[0].contains("READY=1") && messages[0].contains("STATUS="), "{messages:?}");
    assert!(messages[0].contains(&format!("MAINPID={}", d.child.id())));
    assert!(d.terminate());
    let mut stopping = false;
    while let Ok(n) = sock.recv(&mut buf) {
        if String::from_utf8_lossy(&buf[..n]).contains("STOPPING=1") {
            stopping = true;
            break;
        }
    }
    assert!(stopping, "no STOPPING=1 after SIGTERM");
}

#[test]
fn the_packaged_default_config_runs_until_stopped() {
    // No sources, no models: an API-only daemon must keep running (systemd would not
    // restart one that exits 0).
    let dir = tempfile::tempdir().unwrap();
    let api = common::free_port();
    let text = std::fs::read_to_string(common::repo().join("configs/gateway.toml")).unwrap();
    let store = dir.path().join("g.db");
    let text = text
        .replace("/var/lib/edgecite/edgecite.db", store.to_str().unwrap())
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{api}"));
    let config = dir.path().join("gateway.toml");
    std::fs::write(&config, text).unwrap();
    let mut d = Daemon::start(&config, api, &[]);
    d.wait_until("two evaluations", Duration::from_secs(30), || {
        let h = d.json("/healthz");
        (h["uptime_s"].as_i64()? >= 2 && h["last_evaluation"].is_string()).then_some(())
    });
    assert!(d.child.try_wait().unwrap().is_none(), "the daemon exited by itself:\n{}", d.log_text());
    assert!(d.terminate(), "{}", d.log_text());
}

#[test]
fn the_unit_passes_systemds_security_review() {
    let unit = common::repo().join("systemd/edgecite.service");
    let out = std::process::Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(&unit)
        .output()
        .expect("systemd-analyze is missing: scripts/test.sh installs it (apt package systemd)");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.contains("Overall exposure level")).unwrap_or_else(|| panic!("{text}"));
    let exposure: f64 = line.split(':').nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
    assert!(exposure <= 2.0, "{line}");
    // And the settings the product relies on are there.
    let unit_text = std::fs::read_to_string(&unit).unwrap();
    for key in [
        "Type=notify",
        "WatchdogSec=",
        "ExecStartPre=/usr/bin/edgecite check",
        "Restart=on-failure",
        "StateDirectory=edgecite",
        // Issue 15: the inference threads' setpriority is allowed, and a call outside the
        // filter is refused with EPERM instead of killing the daemon (tests/boot.rs boots it).
        "SystemCallFilter=setpriority",
        "SystemCallErrorNumber=EPERM",
        "DeviceAllow=char-i2c rw",
    ] {
        assert!(unit_text.contains(key), "unit lacks {key}");
    }
}

/// The unit sets MemoryDenyWriteExecute=yes. The kernel's own W^X switch (PR_SET_MDWE,
/// Linux 6.3+) applies the same restriction: ONNX Runtime must load and score under it.
#[test]
fn inference_runs_under_memory_deny_write_execute() {
    use std::os::unix::process::CommandExt;
    const PR_SET_MDWE: libc::c_int = 65;
    const PR_MDWE_REFUSE_EXEC_GAIN: libc::c_ulong = 1;
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports::new();
    let config = demo_config(dir.path(), &ports, &[]);
    let (_, token) = common::user_with_token(&config, "viewer");
    let auth = format!("Bearer {token}");
    let log = std::fs::File::create(dir.path().join("log")).unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_edgecite"));
    cmd.args(["run", "--config"]).arg(&config).env("ORT_DYLIB_PATH", common::ort_library()).stderr(log);
    // SAFETY: prctl between fork and exec, touching no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn under PR_SET_MDWE (needs Linux 6.3 or later)");
    let started = std::time::Instant::now();
    let scored = loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("daemon died under W^X ({status}):\n{}", std::fs::read_to_string(dir.path().join("log")).unwrap());
        }
        let open = common::http(ports.api, "GET", "/api/v1/findings?state=open", &[("Authorization", &auth)], None)
            .ok()
            .map(|r| r.json);
        if open.is_some_and(|b| {
            b.as_array().is_some_and(|a| a.iter().any(|f| f["code"].as_str().unwrap_or("").starts_with("MODEL.")))
        }) {
            break true;
        }
        if started.elapsed() > Duration::from_secs(90) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(scored, "no model finding within 90 s:\n{}", std::fs::read_to_string(dir.path().join("log")).unwrap());
}
