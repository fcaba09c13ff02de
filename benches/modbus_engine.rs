//! The Modbus engine at scale, against pymodbus (a separate process) on loopback:
//! 10,000 points across 20 devices, and a 3-slave RTU line with one dead slave.
//! Prints requests per cycle (planner, theoretical minimum, one per point), points/s,
//! this process's CPU time per 1,000 points, RSS, and RTU polls/s per healthy slave.
//! `cargo bench --bench modbus_engine`; under `cargo test` it runs briefly as a smoke test.
//! No thresholds.

#[path = "../tests/common/peer.rs"]
mod peer;

use edgecite::config::{DataType, ModbusDeviceConfig, Parity, PointConfig, RegisterKind, SerialConfig, Transport};
use edgecite::sample::Quality;
use edgecite::sources::modbus::{link::RealConnector, plan, Bus};
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const DEVICES: u8 = 20;
const POINTS: usize = 500;
/// Points come in runs of 25 contiguous registers separated by 3 unused ones.
const RUN: usize = 25;
const HOLE: usize = 3;

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap().split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0 // USER_HZ
}

fn rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines().find(|l| l.starts_with("VmRSS:")).unwrap().split_whitespace().nth(1).unwrap().parse::<f64>().unwrap()
        / 1024.0
}

fn device(unit: u8, port: u16, max_gap: u16) -> ModbusDeviceConfig {
    let points = (0..POINTS)
        .map(|i| {
            PointConfig::new(&format!("p{i}"), RegisterKind::Holding, (i + (i / RUN) * HOLE) as u16, DataType::U16)
        })
        .collect();
    ModbusDeviceConfig {
        interval_ms: 50,
        timeout_ms: 2000,
        max_gap,
        points,
        ..ModbusDeviceConfig::tcp(&format!("d{unit}"), "127.0.0.1", port, unit)
    }
}

async fn run_for(buses: Vec<Bus<RealConnector>>, secs: f64) -> (u64, u64, f64) {
    let (tx, mut rx) = mpsc::channel::<Vec<edgecite::sample::Sample>>(1024);
    let cancel = CancellationToken::new();
    let tasks: Vec<_> = buses.into_iter().map(|b| tokio::spawn(b.run(tx.clone(), cancel.clone()))).collect();
    drop(tx);
    // Warm up until every device answered once (devices on one endpoint share a bus, so
    // one batch holds several devices' samples), for at most 30 s.
    let mut seen = std::collections::HashSet::new();
    let warm_up = Instant::now() + Duration::from_secs(30);
    while seen.len() < DEVICES as usize {
        let b = tokio::time::timeout_at(warm_up.into(), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} of {DEVICES} devices answered within 30 s", seen.len()))
            .expect("the buses stopped during warm-up");
        for s in b.iter().filter(|s| s.quality == Quality::Good) {
            seen.insert(s.point.split('.').next().unwrap().to_string());
        }
    }
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    let (mut good, mut bad) = (0u64, 0u64);
    while t0.elapsed().as_secs_f64() < secs {
        if let Ok(Some(b)) = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
            for s in b {
                if s.quality == Quality::Good {
                    good += 1
                } else {
                    bad += 1
                }
            }
        }
    }
    let cpu = cpu_seconds() - cpu0;
    let wall = t0.elapsed().as_secs_f64();
    cancel.cancel();
    for t in tasks {
        t.await.unwrap();
    }
    println!("  {good} good / {bad} bad samples in {wall:.1} s: {:.0} points/s; CPU {:.2} s = {:.0} % of one core, {:.1} µs per 1,000 points; RSS {:.1} MiB",
        good as f64 / wall, cpu, 100.0 * cpu / wall, 1e6 * cpu / (good.max(1) as f64 / 1000.0), rss_mib());
    (good, bad, wall)
}

async fn rtu(dead: bool, secs: f64) {
    let units = json!({"1": {"holding": vec![1u16; 20]}, "2": {"holding": vec![2u16; 20]}, "3": if dead { json!({"silent": true}) } else { json!({"holding": vec![3u16; 20]}) }});
    let p = peer::Peer::start(json!({"transport": "rtu", "baud": 19200, "units": units}));
    let serial =
        SerialConfig { path: p.address.clone(), baud: 19200, parity: Parity::None, data_bits: 8, stop_bits: 1 };
    let devices: Vec<_> = (1..=3u8)
        .map(|u| ModbusDeviceConfig {
            transport: Transport::Rtu,
            serial: Some(serial.clone()),
            interval_ms: 50,
            timeout_ms: 30,
            points: (0..20)
                .map(|i| PointConfig::new(&format!("p{i}"), RegisterKind::Holding, i, DataType::U16))
                .collect(),
            ..ModbusDeviceConfig::tcp(&format!("u{u}"), "", 0, u)
        })
        .collect();
    let bus = Bus::new(RealConnector::of(&devices[0]), devices);
    let counters: Vec<_> = bus.handles().into_iter().map(|h| h.counters).collect();
    let (tx, mut rx) = mpsc::channel::<Vec<edgecite::sample::Sample>>(1024);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(bus.run(tx, cancel.clone()));
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    cancel.cancel();
    task.await.unwrap();
    drain.await.unwrap();
    let stats = p.stop();
    let per_s = |u: &str| stats[u]["3"].as_u64().unwrap_or(0) as f64 / secs;
    println!(
        "  RTU 19200 8N1 (pty), 3 slaves every 50 ms, {}: unit 1 {:.1} polls/s, unit 2 {:.1} polls/s, unit 3 {:.1} polls/s; mean latency unit 1 {} µs",
        if dead { "unit 3 dead" } else { "all healthy" },
        per_s("1"),
        per_s("2"),
        per_s("3"),
        counters[0].snapshot("u1", "modbus", "").latency_mean_us.unwrap_or(0)
    );
}

fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    let secs = if measuring { 20.0 } else { 2.0 };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let span = POINTS + (POINTS / RUN - 1) * HOLE;
        let table: Vec<u16> = (0..span as u16).collect();
        let units: serde_json::Map<String, serde_json::Value> = (1..=DEVICES).map(|u| (u.to_string(), json!({"holding": table}))).collect();
        let p = peer::Peer::start(json!({"transport": "tcp", "port": 0, "units": units}));
        println!("modbus engine: {DEVICES} devices x {POINTS} u16 points = {} points, runs of {RUN} registers with {HOLE}-register holes, pymodbus 3.16 TCP server on loopback", DEVICES as usize * POINTS);
        for gap in [0u16, HOLE as u16] {
            let per_device = plan::plan_device(&device(1, p.port(), gap)).len();
            let minimum = if gap == 0 { POINTS / RUN } else { span.div_ceil(125) };
            println!(
                "  max_gap {gap}: {} requests per cycle (theoretical minimum {}; one request per point: {})",
                per_device * DEVICES as usize,
                minimum * DEVICES as usize,
                POINTS * DEVICES as usize
            );
        }
        println!("  polling every 50 ms (200,000 points/s offered) with max_gap {HOLE}:");
        let buses = edgecite::sources::modbus::buses(&(1..=DEVICES).map(|u| device(u, p.port(), HOLE as u16)).collect::<Vec<_>>());
        run_for(buses, secs).await;
        p.stop();
        rtu(false, secs / 2.0).await;
        rtu(true, secs / 2.0).await;
    });
}
