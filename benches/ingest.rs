//! Throughput from Modbus poll to stored sample, measured end to end on the real daemon:
//! the release (or test) binary runs its simulator and N Modbus TCP sources polling it
//! every 10 ms; the harness counts the samples that reached the SQLite file.
//!
//! `cargo bench --bench ingest` measures for 75 s (a compaction, every minute, included); under `cargo test` it runs 3 s as a
//! smoke test. Prints samples/s and the daemon's RSS. No thresholds.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DEVICES: usize = 96;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()
}

/// Bytes the process has sent towards storage (`write_bytes` in /proc/PID/io).
fn write_bytes(pid: u32) -> Option<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    io.lines().find_map(|l| l.strip_prefix("write_bytes: "))?.trim().parse().ok()
}

fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    // Over a minute when measuring, so the bytes written include a compaction (each prune).
    let seconds = if measuring { 75 } else { 3 };
    let dir = tempfile::tempdir().unwrap();
    let (sim, api) = (free_port(), free_port());
    let mut cfg = format!(
        "[site]\nid = \"bench\"\n[simulator]\nlisten = \"127.0.0.1:{sim}\"\ntime_factor = 60.0\n[api]\nlisten = \"127.0.0.1:{api}\"\n[store]\npath = \"bench.db\"\n[inference]\nenabled = false\n"
    );
    for d in 0..DEVICES {
        cfg += &format!(
            "[[sources.modbus]]\nid = \"p{d}\"\nhost = \"127.0.0.1\"\nport = {sim}\nunit = 2\ninterval_ms = 10\ntimeout_ms = 1000\npoints = [\n"
        );
        for (i, name) in ["v", "a1", "a2", "i", "p", "q"].iter().enumerate() {
            cfg += &format!(
                "  {{ id = \"{name}\", register = \"holding\", address = {}, type = \"f32\", order = \"CDAB\" }},\n",
                i * 2
            );
        }
        cfg += "  { id = \"tb\", register = \"input\", address = 0, type = \"i16\", scale = 0.1 },\n";
        cfg += "  { id = \"tm\", register = \"input\", address = 1, type = \"i16\", scale = 0.1 },\n";
        cfg += "  { id = \"tf\", register = \"input\", address = 2, type = \"u16\", scale = 0.01 },\n]\n";
    }
    let config = dir.path().join("bench.toml");
    std::fs::File::create(&config).unwrap().write_all(cfg.as_bytes()).unwrap();

    let exe = env!("CARGO_BIN_EXE_edgecite");
    let mut child = Command::new(exe)
        .args(["run", "--config"])
        .arg(&config)
        .env("EDGECITE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let db = dir.path().join("bench.db");
    let count =
        || -> i64 { edgecite::store::Store::open_readonly(&db).and_then(|s| s.sample_count_estimate()).unwrap_or(0) };
    // Warm-up: until samples flow.
    let start = Instant::now();
    while count() == 0 {
        assert!(start.elapsed() < Duration::from_secs(30), "no samples stored within 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    let (n0, t0, w0) = (count(), Instant::now(), write_bytes(child.id()));
    std::thread::sleep(Duration::from_secs(seconds));
    let (n1, dt, w1) = (count(), t0.elapsed().as_secs_f64(), write_bytes(child.id()));
    let rss = rss_kib(child.id());
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let status = child.wait().unwrap();
    let rate = (n1 - n0) as f64 / dt;
    println!(
        "ingest: {} Modbus TCP sources x 9 points every 10 ms (2 requests per poll): {:.0} samples/s stored over {:.1} s ({} samples); {} bytes written to storage per stored sample (daemon's /proc/PID/io); daemon RSS {} MiB; clean exit: {}",
        DEVICES,
        rate,
        dt,
        n1 - n0,
        w0.zip(w1).map(|(a, b)| format!("{:.1}", (b - a) as f64 / (n1 - n0).max(1) as f64)).unwrap_or("?".into()),
        rss.map(|k| format!("{:.1}", k as f64 / 1024.0)).unwrap_or("?".into()),
        status.success()
    );
    assert!(n1 > n0, "no samples stored while measuring");
    assert!(status.success(), "daemon exited with {status}");
}
