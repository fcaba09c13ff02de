//! The Modbus engine against pymodbus 3.16 (tests/peers/modbus_peer.py), an independent
//! implementation: every function, type and byte order over TCP and over RTU on a serial
//! (pty) line; a dead slave on a shared RTU line; and a misbehaving TCP server (wrong
//! transaction ids, frames cut short, stale answers, garbage).

use crate::common::peer::Peer;

use edgecite::config::{
    ByteOrder, DataType, ModbusDeviceConfig, Parity, PointConfig, RegisterKind, SerialConfig, Transport,
};
use edgecite::sample::{Quality, Sample};
use edgecite::sources::modbus::decode::encode_raw;
use edgecite::sources::modbus::link::RealConnector;
use edgecite::sources::modbus::Bus;
use edgecite::sources::SourceCounters;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// One value of every type in every byte order, laid out from address 0, plus bits.
struct Layout {
    points: Vec<PointConfig>,
    holding: Vec<u16>,
    input: Vec<u16>,
    coils: Vec<u16>,
    discrete: Vec<u16>,
    expected: HashMap<String, f64>,
    texts: HashMap<String, String>,
}

fn layout() -> Layout {
    use ByteOrder::*;
    use DataType::*;
    let values = [
        (U16, 51234.0),
        (I16, -1234.0),
        (U32, 3_000_000_123.0),
        (I32, -123_456_789.0),
        (U64, 9_000_000_000_123.0),
        (I64, -9_000_000_000_123.0),
        (F32, 1.2345_f32 as f64),
        (F64, -12345.678901),
    ];
    let mut l = Layout {
        points: vec![],
        holding: vec![],
        input: vec![],
        coils: vec![],
        discrete: vec![],
        expected: HashMap::new(),
        texts: HashMap::new(),
    };
    for (kind, table) in [(RegisterKind::Holding, 0), (RegisterKind::Input, 1)] {
        for (t, v) in values {
            for o in [ABCD, BADC, CDAB, DCBA] {
                let regs = encode_raw(v, t, o);
                let tab = if table == 0 { &mut l.holding } else { &mut l.input };
                let id = format!("{}_{:?}_{:?}", kind.as_str(), t, o).to_lowercase();
                l.points.push(PointConfig { order: o, ..PointConfig::new(&id, kind, tab.len() as u16, t) });
                tab.extend(regs);
                l.expected.insert(id, v);
            }
        }
    }
    // Strings: "EDGE-01" in 4 registers (NUL-padded), high byte first and low byte first.
    for (o, words) in [(ABCD, [0x4544u16, 0x4745, 0x2D30, 0x3100]), (BADC, [0x4445, 0x4547, 0x302D, 0x0031])] {
        let id = format!("name_{o:?}").to_lowercase();
        l.points.push(PointConfig {
            order: o,
            length: Some(4),
            ..PointConfig::new(&id, RegisterKind::Holding, l.holding.len() as u16, String)
        });
        l.holding.extend(words);
        l.texts.insert(id, "EDGE-01".into());
    }
    // Bits of a holding register, and scale/offset on one more.
    let addr = l.holding.len() as u16;
    l.holding.push(0b1010_0000_0000_0101);
    for (bit, want) in [(0u8, 1.0), (1, 0.0), (2, 1.0), (13, 1.0), (14, 0.0), (15, 1.0)] {
        let id = format!("hbit{bit}");
        l.points.push(PointConfig { bit: Some(bit), ..PointConfig::new(&id, RegisterKind::Holding, addr, Bit) });
        l.expected.insert(id, want);
    }
    l.holding.push(1234);
    let id = "scaled".to_string();
    l.points.push(PointConfig {
        scale: 0.1,
        offset: -20.0,
        ..PointConfig::new(&id, RegisterKind::Holding, addr + 1, U16)
    });
    l.expected.insert(id, 1234.0 * 0.1 - 20.0);
    for (kind, tab) in [(RegisterKind::Coil, &mut l.coils), (RegisterKind::DiscreteInput, &mut l.discrete)] {
        for (i, v) in [1u16, 0, 1, 1, 0, 0, 1, 0, 1, 1].into_iter().enumerate() {
            let id = format!("{}{i}", kind.as_str());
            l.points.push(PointConfig::new(&id, kind, i as u16, Bit));
            tab.push(if kind == RegisterKind::Coil { v } else { 1 - v });
            l.expected.insert(id, tab[i] as f64);
        }
    }
    l
}

fn unit_tables(l: &Layout) -> Value {
    json!({"holding": l.holding, "input": l.input, "coils": l.coils, "discrete_inputs": l.discrete})
}

fn device(id: &str, transport: Transport, unit: u8, points: Vec<PointConfig>) -> ModbusDeviceConfig {
    ModbusDeviceConfig {
        transport,
        interval_ms: 100,
        timeout_ms: 1000,
        backoff_initial_ms: 200,
        backoff_max_ms: 2000,
        points,
        ..ModbusDeviceConfig::tcp(id, "127.0.0.1", 0, unit)
    }
}

struct Running {
    rx: mpsc::Receiver<Vec<Sample>>,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    counters: Vec<Arc<SourceCounters>>,
}

fn run(devices: Vec<ModbusDeviceConfig>) -> Running {
    let bus = Bus::new(RealConnector::of(&devices[0]), devices);
    let counters = bus.handles().into_iter().map(|h| h.counters).collect();
    let (tx, rx) = mpsc::channel(256);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(bus.run(tx, cancel.clone()));
    Running { rx, cancel, task, counters }
}

impl Running {
    /// Receive batches until `pred` holds for one (at most 60 s without a batch is a failure).
    async fn until(&mut self, what: &str, mut pred: impl FnMut(&[Sample]) -> bool) -> Vec<Sample> {
        for _ in 0..2000 {
            let batch = tokio::time::timeout(Duration::from_secs(60), self.rx.recv())
                .await
                .unwrap_or_else(|_| panic!("no samples within 60 s waiting for {what}"))
                .expect("bus alive");
            if pred(&batch) {
                return batch;
            }
        }
        panic!("never saw {what}");
    }

    async fn stop(self) {
        self.cancel.cancel();
        self.task.await.unwrap();
    }
}

fn check_values(batch: &[Sample], device: &str, l: &Layout) {
    let mut checked = 0;
    for s in batch.iter().filter(|s| s.point.starts_with(&format!("{device}."))) {
        let id = &s.point[device.len() + 1..];
        assert_eq!(s.quality, Quality::Good, "{}", s.point);
        if let Some(text) = l.texts.get(id) {
            assert_eq!(s.text.as_deref(), Some(text.as_str()), "{}", s.point);
            checked += 1;
            continue;
        }
        let want = l.expected[id];
        let got = s.value.unwrap();
        assert!((got - want).abs() <= 1e-9 * want.abs().max(1.0), "{}: got {got}, want {want}", s.point);
        assert!(s.raw.as_ref().is_some_and(|r| !r.is_empty()), "{} has no raw registers", s.point);
        checked += 1;
    }
    assert_eq!(checked, l.points.len(), "every point of {device} decoded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_function_type_and_byte_order_over_tcp() {
    let l = layout();
    let peer = Peer::start(json!({"transport": "tcp", "port": 0, "units": {"1": unit_tables(&l)}}));
    let mut dev = device("d", Transport::Tcp, 1, l.points.clone());
    dev.port = peer.port();
    // Contiguous points: one request per function.
    assert_eq!(edgecite::sources::modbus::plan::plan_device(&dev).len(), 4);
    let mut r = run(vec![dev]);
    let batch = r.until("every point good", |b| b.iter().all(|s| s.quality == Quality::Good)).await;
    check_values(&batch, "d", &l);
    assert_eq!(r.counters[0].errors.load(Ordering::Relaxed), 0);
    r.stop().await;
    let stats = peer.stop();
    // One request per function per cycle: equal counts for 01, 02, 03, 04.
    let per_fc: Vec<u64> = ["1", "2", "3", "4"].iter().map(|f| stats["1"][f].as_u64().unwrap()).collect();
    assert!(per_fc.iter().all(|&n| n >= 1 && n.abs_diff(per_fc[0]) <= 1), "{stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_reach_only_points_marked_writable() {
    use edgecite::sources::modbus::write::{write_point, WriteError};
    let peer = Peer::start(
        json!({"transport": "tcp", "port": 0, "units": {"1": {"holding": vec![0u16; 10], "coils": vec![0u16; 4]}}}),
    );
    let points = vec![
        PointConfig {
            writable: true,
            order: ByteOrder::CDAB,
            ..PointConfig::new("setpoint", RegisterKind::Holding, 0, DataType::F32)
        },
        PointConfig {
            writable: true,
            scale: 0.1,
            valid_max: Some(100.0),
            ..PointConfig::new("limit", RegisterKind::Holding, 4, DataType::U16)
        },
        PointConfig { writable: true, ..PointConfig::new("relay", RegisterKind::Coil, 2, DataType::Bit) },
        PointConfig::new("locked", RegisterKind::Holding, 5, DataType::U16),
    ];
    let mut dev = device("w", Transport::Tcp, 1, points);
    dev.port = peer.port();
    let mut c = RealConnector::of(&dev);
    assert_eq!(write_point(&mut c, &dev, "setpoint", -12.5).await.unwrap(), -12.5);
    assert!((write_point(&mut c, &dev, "limit", 42.3).await.unwrap() - 42.3).abs() < 1e-9); // 423 x 0.1
    assert_eq!(write_point(&mut c, &dev, "relay", 1.0).await.unwrap(), 1.0);
    // Refused before anything is sent.
    assert!(
        matches!(write_point(&mut c, &dev, "locked", 1.0).await, Err(WriteError::NotWritable(p)) if p == "w.locked")
    );
    let e = write_point(&mut c, &dev, "limit", 150.0).await.unwrap_err().to_string();
    assert!(e.contains("w.limit") && e.contains("valid range") && e.contains("nothing was written"), "{e}");
    assert!(matches!(write_point(&mut c, &dev, "nope", 1.0).await, Err(WriteError::UnknownPoint(_))));

    // An independent read through the engine sees what was written.
    let mut r = run(vec![dev.clone()]);
    let batch = r.until("good values", |b| b.iter().all(|s| s.quality == Quality::Good)).await;
    let value = |id: &str| batch.iter().find(|s| &*s.point == id).unwrap().value.unwrap();
    assert_eq!((value("w.setpoint"), value("w.relay"), value("w.locked")), (-12.5, 1.0, 0.0));
    assert!((value("w.limit") - 42.3).abs() < 1e-9);
    r.stop().await;
    let stats = peer.stop();
    // One write each: fc 16 (two registers), fc 06 (one), fc 05 (one coil); nothing else.
    assert_eq!(
        (stats["1"]["16"].as_u64(), stats["1"]["6"].as_u64(), stats["1"]["5"].as_u64()),
        (Some(1), Some(1), Some(1)),
        "{stats}"
    );
    assert_eq!(stats["1"]["15"], Value::Null, "{stats}");

    // The command line does the same, with its errors on stderr and a non-zero exit.
    let dir = tempfile::tempdir().unwrap();
    let peer = Peer::start(json!({"transport": "tcp", "port": 0, "units": {"1": {"holding": vec![0u16; 10]}}}));
    let cfg = dir.path().join("w.toml");
    std::fs::write(&cfg, format!(
        "[site]\nid = \"t\"\n[[sources.modbus]]\nid = \"w\"\nhost = \"127.0.0.1\"\nport = {}\npoints = [\n  {{ id = \"sp\", register = \"holding\", address = 3, type = \"i16\", writable = true }},\n  {{ id = \"ro\", register = \"holding\", address = 4, type = \"i16\" }},\n]\n",
        peer.port()
    )).unwrap();
    let exe = env!("CARGO_BIN_EXE_edgecite");
    let ok = std::process::Command::new(exe)
        .args(["modbus", "write", "--config"])
        .arg(&cfg)
        .args(["--point", "w.sp", "--value", "-7"])
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("read back -7"));
    let refused = std::process::Command::new(exe)
        .args(["modbus", "write", "--config"])
        .arg(&cfg)
        .args(["--point", "w.ro", "--value", "1"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("writable = true"));
    assert_eq!(peer.stop()["1"]["6"].as_u64(), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtu_frames_over_tcp_as_serial_device_servers_carry_them() {
    let l = layout();
    let peer = Peer::start(json!({"transport": "rtu_over_tcp", "port": 0, "units": {"7": unit_tables(&l)}}));
    let mut dev = device("dtu", Transport::RtuOverTcp, 7, l.points.clone());
    dev.port = peer.port();
    let mut r = run(vec![dev]);
    let batch = r.until("every point good", |b| b.iter().all(|s| s.quality == Quality::Good)).await;
    check_values(&batch, "dtu", &l);
    r.stop().await;
    let stats = peer.stop();
    assert!(stats["7"]["3"].as_u64().unwrap() >= 1, "{stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtu_line_with_three_slaves_one_dead() {
    let l = layout();
    let small: Vec<PointConfig> = l.points.iter().filter(|p| p.register == RegisterKind::Holding).cloned().collect();
    let peer = Peer::start(json!({
        "transport": "rtu", "baud": 19200,
        "units": {"1": unit_tables(&l), "2": {"holding": l.holding}, "3": {"silent": true}}
    }));
    let serial =
        SerialConfig { path: peer.address.clone(), baud: 19200, parity: Parity::None, data_bits: 8, stop_bits: 1 };
    let devices: Vec<ModbusDeviceConfig> = [(1, l.points.clone()), (2, small.clone()), (3, small)]
        .into_iter()
        .map(|(unit, points)| ModbusDeviceConfig {
            serial: Some(serial.clone()),
            ..device(&format!("u{unit}"), Transport::Rtu, unit, points)
        })
        .collect();
    let mut r = run(devices);
    // Run until unit 2 has answered 40 polls: a count of cycles, not a duration.
    let mut good_u1 = None;
    let mut polls_u2 = 0;
    r.until("40 good polls of unit 2", |b| {
        if b.iter().any(|s| s.point.starts_with("u1."))
            && b.iter().filter(|s| s.point.starts_with("u1.")).all(|s| s.quality == Quality::Good)
        {
            good_u1 = Some(b.to_vec());
        }
        if b.iter().any(|s| s.point.starts_with("u2."))
            && b.iter().filter(|s| s.point.starts_with("u2.")).all(|s| s.quality == Quality::Good)
        {
            polls_u2 += 1;
        }
        if let Some(dead) = b.iter().find(|s| s.point.starts_with("u3.")) {
            assert_eq!(dead.quality, Quality::CommError);
        }
        polls_u2 >= 40
    })
    .await;
    check_values(good_u1.as_ref().expect("unit 1 answered"), "u1", &l);
    let c = r.counters.clone();
    r.stop().await;
    let stats = peer.stop();
    let requests = |unit: &str| stats[unit]["3"].as_u64().unwrap_or(0) + stats[unit]["4"].as_u64().unwrap_or(0);
    // Unit 2 (one function) was polled every cycle; unit 3 only when its back-off let it.
    let (u2, u3) = (stats["2"]["3"].as_u64().unwrap(), requests("3"));
    assert!(u2 >= 40, "{stats}");
    assert!(u3 * 4 < u2, "dead slave polled {u3} times against {u2}: {stats}");
    assert_eq!(c[2].requests.load(Ordering::Relaxed), c[2].timeouts.load(Ordering::Relaxed));
    assert!(c[2].skipped.load(Ordering::Relaxed) > 0);
    assert_eq!(c[0].errors.load(Ordering::Relaxed), 0, "unit 1 saw errors on a shared line");
    assert_eq!(c[1].errors.load(Ordering::Relaxed), 0, "unit 2 saw errors on a shared line");
    // The silent slave never made the line look broken.
    assert_eq!(c[0].connects.load(Ordering::Relaxed), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misbehaving_server_never_hangs_the_source() {
    for mode in ["wrong_tid", "drop_mid_frame", "stale_then_right", "garbage"] {
        let holding: Vec<u16> = (0..10).map(|i| 1000 + i).collect();
        let peer = Peer::start(json!({
            "transport": "faulty_tcp", "port": 0,
            "units": {"1": {"holding": holding}},
            "fault": {"mode": mode, "every": 3, "seed": 7}
        }));
        let points = vec![
            PointConfig::new("a", RegisterKind::Holding, 0, DataType::U16),
            PointConfig::new("b", RegisterKind::Holding, 9, DataType::U16),
        ];
        let mut dev = ModbusDeviceConfig {
            interval_ms: 20,
            backoff_initial_ms: 20,
            backoff_max_ms: 100,
            max_gap: 8,
            ..device("f", Transport::Tcp, 1, points)
        };
        dev.port = peer.port();
        let mut r = run(vec![dev]);
        let mut good = 0;
        r.until(&format!("30 good polls despite {mode}"), |b| {
            for s in b.iter().filter(|s| s.quality == Quality::Good) {
                // A value is never taken from the wrong answer.
                let want = if s.point.ends_with(".a") { 1000.0 } else { 1009.0 };
                assert_eq!(s.value, Some(want), "{mode}: {}", s.point);
            }
            if b.iter().all(|s| s.quality == Quality::Good) {
                good += 1;
            }
            good >= 30
        })
        .await;
        let c = r.counters[0].clone();
        r.stop().await;
        let stats = peer.stop();
        let faults = stats["faults"].as_u64().unwrap();
        let noticed = c.transport_errors.load(Ordering::Relaxed) + c.timeouts.load(Ordering::Relaxed);
        assert!(faults >= 5, "{mode}: {stats}");
        assert!(noticed >= 1, "{mode}: {faults} faulty answers went unnoticed");
        assert!(c.connects.load(Ordering::Relaxed) >= 2, "{mode}: the link was never re-opened");
    }
}

/// Three unit ids behind one Modbus TCP endpoint (a TCP-to-RTU gateway): one bus, one TCP
/// connection (counted by the pymodbus peer), requests serialised on it, every unit read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unit_ids_on_one_tcp_endpoint_share_one_connection() {
    let unit = |v: u16| json!({"holding": [v, v + 1]});
    let peer = Peer::start(json!({"transport": "tcp", "port": 0, "count_connections": true,
        "units": {"1": unit(10), "2": unit(20), "3": unit(30)}}));
    let devices: Vec<ModbusDeviceConfig> = (1..=3u8)
        .map(|u| {
            let mut d = device(
                &format!("u{u}"),
                Transport::Tcp,
                u,
                vec![PointConfig::new("r0", RegisterKind::Holding, 0, DataType::U16)],
            );
            d.port = peer.port();
            d
        })
        .collect();
    let buses = edgecite::sources::modbus::buses(&devices);
    assert_eq!(buses.len(), 1, "one bus for the endpoint");
    let bus = buses.into_iter().next().unwrap();
    let counters: Vec<_> = bus.handles().into_iter().map(|h| h.counters).collect();
    let (tx, mut rx) = mpsc::channel::<Vec<Sample>>(256);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(bus.run(tx, cancel.clone()));
    let mut seen: HashMap<String, f64> = HashMap::new();
    while seen.len() < 3 || counters.iter().any(|c| c.requests.load(Ordering::Relaxed) < 5) {
        let batch = tokio::time::timeout(Duration::from_secs(60), rx.recv()).await.expect("samples").unwrap();
        for s in batch {
            assert_eq!(s.quality, Quality::Good, "{}", s.point);
            seen.insert(s.point.to_string(), s.value.unwrap());
        }
    }
    cancel.cancel();
    task.await.unwrap();
    assert_eq!(seen["u1.r0"], 10.0);
    assert_eq!(seen["u2.r0"], 20.0);
    assert_eq!(seen["u3.r0"], 30.0);
    let stats = peer.stop();
    assert_eq!(stats["connections"], 1, "{stats}");
    assert_eq!(stats["max_open_connections"], 1, "{stats}");
    for u in ["1", "2", "3"] {
        assert!(stats[u]["3"].as_u64().unwrap() >= 5, "{stats}");
    }
}
