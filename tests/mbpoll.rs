//! The simulator speaks real Modbus TCP: `mbpoll`, a client nobody here wrote, reads its
//! registers and gets the values the simulator reports (`edgecite simulate --dump`).

use crate::common;

use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn mbpoll(port: u16, unit: u8, table: &str, start: u16, count: usize, big_words: bool) -> Vec<String> {
    let mut cmd = Command::new("mbpoll");
    cmd.args(["-m", "tcp", "-0", "-1", "-o", "2"])
        .args(["-a", &unit.to_string(), "-r", &start.to_string(), "-c", &count.to_string(), "-t", table])
        .args(["-p", &port.to_string()]);
    if big_words {
        cmd.arg("-B");
    }
    let out =
        cmd.arg("127.0.0.1").output().expect("mbpoll is missing: scripts/test.sh installs it (apt package mbpoll)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "mbpoll failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    // Lines look like `[12]: \t1.234` (with -0, the number is the 0-based address).
    text.lines()
        .filter_map(|l| l.trim().strip_prefix('[').and_then(|r| r.split_once("]:")).map(|(_, v)| v.trim().to_string()))
        .collect()
}

#[test]
fn mbpoll_reads_what_the_simulator_reports() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    // A frozen clock, partway into both faults: every read sees the same values.
    let config = dir.path().join("sim.toml");
    std::fs::write(
        &config,
        format!(
            "[site]\nid = \"sim\"\n[simulator]\nlisten = \"127.0.0.1:{port}\"\nseed = 9\ntime_factor = 0.0\nstart_hours = 3.0\nfault_onset_hours = 1.0\nfault_ramp_hours = 4.0\n"
        ),
    )
    .unwrap();
    let exe = env!("CARGO_BIN_EXE_edgecite");
    let dump = Command::new(exe).args(["simulate", "--dump", "--config"]).arg(&config).output().unwrap();
    assert!(dump.status.success());
    let channels: Vec<Value> = serde_json::from_slice(&dump.stdout).unwrap();
    assert_eq!(channels.len(), edgecite::simulator::CHANNELS.len());

    let mut sim = Command::new(exe).args(["simulate", "--config"]).arg(&config).stderr(Stdio::null()).spawn().unwrap();
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(20), "simulator did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }

    let mut checked = 0;
    for c in &channels {
        let unit = c["unit"].as_u64().unwrap() as u8;
        let addr = c["address"].as_u64().unwrap() as u16;
        let holding = c["register"] == "holding";
        let regs: Vec<u16> = c["registers"].as_array().unwrap().iter().map(|r| r.as_u64().unwrap() as u16).collect();
        let value = c["value"].as_f64().unwrap();
        let name = c["name"].as_str().unwrap();
        // Raw registers, in hex.
        let hex = mbpoll(port, unit, if holding { "4:hex" } else { "3:hex" }, addr, regs.len(), false);
        let got: Vec<u16> = hex.iter().map(|h| u16::from_str_radix(h.trim_start_matches("0x"), 16).unwrap()).collect();
        assert_eq!(got, regs, "{name}: raw registers");
        // Engineering values decoded by mbpoll itself where it can (floats, 16-bit ints).
        match c["data_type"].as_str().unwrap() {
            "f32" => {
                let table = if holding { "4:float" } else { "3:float" };
                let v: f64 = mbpoll(port, unit, table, addr, 1, c["order"] == "ABCD")[0].parse().unwrap();
                assert!((v - value).abs() <= 1e-5 * value.abs().max(1.0), "{name}: mbpoll {v} vs simulator {value}");
            }
            "i16" | "u16" => {
                let raw: f64 = mbpoll(port, unit, if holding { "4" } else { "3" }, addr, 1, false)[0].parse().unwrap();
                let raw = if c["data_type"] == "i16" && raw >= 32768.0 { raw - 65536.0 } else { raw };
                let scale = c["scale"].as_f64().unwrap();
                assert!((raw * scale - value).abs() < 1e-9, "{name}: mbpoll {raw} x {scale} vs simulator {value}");
            }
            other => panic!("untested type {other}"),
        }
        checked += 1;
    }
    assert_eq!(checked, channels.len());
    // The fault-control register reads 1 (faults on) through mbpoll too.
    assert_eq!(mbpoll(port, 1, "4", edgecite::simulator::FAULT_CONTROL_REGISTER, 1, false), ["1"]);
    let _ = sim.kill();
    let _ = sim.wait();
}
