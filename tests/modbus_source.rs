//! The Modbus TCP source against the simulator's server: samples carry quality; a device
//! that goes away marks its points comm_error and the source reconnects when it returns;
//! an exception response marks only the affected points and keeps the link.

use crate::common;

use edgecite::config::simulator::SimulatorConfig;
use edgecite::config::{DataType, ModbusDeviceConfig, PointConfig, RegisterKind};
use edgecite::sample::{Quality, Sample};
use edgecite::simulator::{self, Plant};
use edgecite::sources::modbus::link::RealConnector;
use edgecite::sources::modbus::Bus;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn point(id: &str, register: RegisterKind, address: u16, data_type: DataType, scale: f64) -> PointConfig {
    PointConfig { scale, ..PointConfig::new(id, register, address, data_type) }
}

async fn start_sim(port: u16) -> (CancellationToken, tokio::task::JoinHandle<std::io::Result<()>>) {
    let cfg = SimulatorConfig {
        listen: ([127, 0, 0, 1], port).into(),
        seed: 3,
        time_factor: 0.0,
        start_hours: 0.0,
        fault_onset_hours: 1.0,
        fault_ramp_hours: 1.0,
        transformer_fault: false,
        pump_fault: false,
        pump_fault_onset_hours: None,
    };
    let listener = simulator::bind(cfg.listen).await.unwrap();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(simulator::serve(listener, Arc::new(Plant::new(cfg)), cancel.clone()));
    (cancel, task)
}

/// Receive batches until one satisfies `pred` (at most 200 batches).
async fn until(rx: &mut mpsc::Receiver<Vec<Sample>>, what: &str, pred: impl Fn(&[Sample]) -> bool) -> Vec<Sample> {
    for _ in 0..200 {
        let batch = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no batch within 10 s waiting for {what}"))
            .expect("source alive");
        if pred(&batch) {
            return batch;
        }
    }
    panic!("never saw {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comm_errors_while_the_device_is_away_then_reconnects_and_exceptions_keep_the_link() {
    let port = common::free_port();
    let (sim_cancel, sim_task) = start_sim(port).await;
    let device = ModbusDeviceConfig {
        interval_ms: 50,
        backoff_initial_ms: 100,
        backoff_max_ms: 1000,
        timeout_ms: 300,
        points: vec![
            point("ch4", RegisterKind::Holding, 2, DataType::F32, 1.0),
            point("oil", RegisterKind::Input, 0, DataType::I16, 0.1),
            // Not in the device's register map: the device answers exception 02.
            point("ghost", RegisterKind::Holding, 50, DataType::U16, 1.0),
        ],
        ..ModbusDeviceConfig::tcp("dga1", "127.0.0.1", port, 1)
    };
    let src = Bus::new(RealConnector::of(&device), vec![device]);
    assert_eq!(src.requests_per_cycle(), 3);
    let counters = src.handles()[0].counters.clone();
    let (tx, mut rx) = mpsc::channel(16);
    let stop = CancellationToken::new();
    let source = tokio::spawn(src.run(tx, stop.clone()));

    let quality = |b: &[Sample], id: &str| b.iter().find(|s| &*s.point == id).unwrap().quality;
    let healthy = |b: &[Sample]| quality(b, "dga1.ch4") == Quality::Good && quality(b, "dga1.oil") == Quality::Good;
    let batch = until(&mut rx, "good samples", healthy).await;
    assert_eq!(quality(&batch, "dga1.ghost"), Quality::Exception(2));
    let ch4 = batch.iter().find(|s| &*s.point == "dga1.ch4").unwrap();
    assert!((10.0..30.0).contains(&ch4.value.unwrap()), "healthy CH4 near 18 ppm: {ch4:?}");
    assert!(ch4.ts_ms > 0);
    // Several cycles of exceptions did not cost the connection.
    until(&mut rx, "a few more cycles", |_| counters.requests.load(Ordering::Relaxed) > 30).await;
    assert_eq!(counters.connects.load(Ordering::Relaxed), 1);

    // The device goes away: every point becomes comm_error, with no value.
    sim_cancel.cancel();
    sim_task.await.unwrap().unwrap();
    let down = until(&mut rx, "comm_error", |b| b.iter().all(|s| s.quality == Quality::CommError)).await;
    assert!(down.iter().all(|s| s.value.is_none()));
    assert_eq!(counters.connected.load(Ordering::Relaxed), 0);

    // It comes back on the same port: the source reconnects by itself.
    let (sim_cancel, _sim_task) = start_sim(port).await;
    until(&mut rx, "good samples after reconnect", healthy).await;
    assert!(counters.connects.load(Ordering::Relaxed) >= 2);
    assert!(counters.errors.load(Ordering::Relaxed) >= 2);
    assert_eq!(counters.connected.load(Ordering::Relaxed), 1);

    stop.cancel();
    source.await.unwrap();
    sim_cancel.cancel();
}
