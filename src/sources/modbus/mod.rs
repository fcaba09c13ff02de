//! The Modbus acquisition engine. A [`Bus`] is one link (a TCP connection, a serial line, or
//! a serial device server) and the devices (units) behind it. It polls each device's
//! planned requests on their intervals, one request at a time, with the inter-frame silence
//! RTU requires. A device that times out backs off on its own (exponential, capped) and its
//! points are marked `comm_error`, while the other devices on the bus keep their cycle.
//! Transport errors re-open the link; exception responses become quality codes.

pub mod decode;
pub mod link;
pub mod plan;
pub mod write;

use crate::config::{ModbusDeviceConfig, Transport};
use crate::sample::{PointId, Quality, Sample};
use crate::sources::SourceCounters;
use link::{Connector, Link, ReadError, RealConnector};
use plan::ReadBlock;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Exception responses of one device are logged at most this often.
const EXCEPTION_LOG_EVERY: Duration = Duration::from_secs(60);

/// A device's identity and counters, for status and metrics.
#[derive(Debug, Clone)]
pub struct DeviceHandle {
    pub id: String,
    pub endpoint: String,
    pub counters: Arc<SourceCounters>,
}

struct Device {
    cfg: ModbusDeviceConfig,
    point_ids: Vec<PointId>,
    blocks: Vec<ReadBlock>,
    due: Vec<Instant>,
    /// Backed off until then (none: polled on its schedule).
    backoff: Option<Instant>,
    /// The back-off's steps: doubling from `backoff_initial_ms` to `backoff_max_ms`, each
    /// wait drawn between half the step and the step (devices behind one serial gateway
    /// that all stopped answering at once are not probed again in lockstep).
    steps: crate::mqtt::client::Backoff,
    counters: Arc<SourceCounters>,
    exceptions_logged_at: Option<Instant>,
    exceptions_unlogged: u64,
}

impl Device {
    fn new(cfg: ModbusDeviceConfig) -> Self {
        let point_ids = cfg.points.iter().map(|p| PointId::from(format!("{}.{}", cfg.id, p.id))).collect();
        let blocks = plan::plan_device(&cfg);
        let steps = crate::mqtt::client::Backoff::between(
            Duration::from_millis(cfg.backoff_initial_ms),
            Duration::from_millis(cfg.backoff_max_ms),
        );
        Device {
            due: vec![Instant::now(); blocks.len()],
            point_ids,
            blocks,
            cfg,
            backoff: None,
            steps,
            counters: Arc::new(SourceCounters::default()),
            exceptions_logged_at: None,
            exceptions_unlogged: 0,
        }
    }

    fn in_backoff(&self, now: Instant) -> bool {
        self.backoff.is_some_and(|until| now < until)
    }

    /// A timeout: start or double the back-off.
    fn back_off(&mut self, now: Instant) {
        let wait = self.steps.next_delay();
        if self.backoff.is_none() {
            tracing::warn!(device = %self.cfg.id, unit = self.cfg.unit, backoff_ms = wait.as_millis() as u64,
                "device not answering; its points are marked comm_error and it is backed off (other devices keep their cycle)");
        }
        self.backoff = Some(now + wait);
        self.counters.backoff_ms.store(wait.as_millis() as u64, Ordering::Relaxed);
    }

    /// Any answer (data or exception) ends the back-off.
    fn answered(&mut self) {
        if self.backoff.take().is_some() {
            self.steps.reset();
            tracing::info!(device = %self.cfg.id, unit = self.cfg.unit, "device answers again; back-off ended");
        }
        self.counters.backoff_ms.store(0, Ordering::Relaxed);
    }

    fn log_exception(&mut self, block: &ReadBlock, code: u8, now: Instant) {
        self.exceptions_unlogged += 1;
        if self.exceptions_logged_at.is_some_and(|t| now.duration_since(t) < EXCEPTION_LOG_EVERY) {
            return;
        }
        tracing::warn!(device = %self.cfg.id, unit = self.cfg.unit, function = block.kind.function_code(),
            start = block.start, count = block.count, exception = format!("{code:02x}"),
            meaning = exception_meaning(code), occurrences = self.exceptions_unlogged,
            "modbus exception response (logged at most once a minute per device)");
        self.exceptions_logged_at = Some(now);
        self.exceptions_unlogged = 0;
    }

    /// Samples for one block's points, all of one quality and no value.
    fn bad(&self, block: &ReadBlock, ts: i64, quality: Quality, out: &mut Vec<Sample>) {
        out.extend(block.points.iter().map(|&i| Sample::bad(self.point_ids[i].clone(), ts, quality)));
    }

    fn decode(&self, block: &ReadBlock, regs: &[u16], ts: i64, out: &mut Vec<Sample>) {
        for &i in &block.points {
            let p = &self.cfg.points[i];
            let off = (p.address - block.start) as usize;
            let raw = &regs[off.min(regs.len())..(off + p.registers() as usize).min(regs.len())];
            let id = self.point_ids[i].clone();
            if p.data_type == crate::config::DataType::String {
                out.push(Sample::text(id, ts, &decode::decode_text(raw, p.order)).with_raw(raw));
                continue;
            }
            let sample = match decode::decode(raw, p.data_type, p.order, p.bit, p.scale, p.offset) {
                Ok(v) if p.valid_min.is_some_and(|lo| v < lo) || p.valid_max.is_some_and(|hi| v > hi) => {
                    Sample::bad(id, ts, Quality::OutOfRange)
                }
                Ok(v) => Sample::good(id, ts, v),
                Err(e) => {
                    tracing::warn!(point = %self.point_ids[i], error = %e, "cannot decode point");
                    Sample::bad(id, ts, Quality::DecodeError)
                }
            };
            out.push(sample.with_raw(raw));
        }
    }
}

pub fn exception_meaning(code: u8) -> &'static str {
    match code {
        0x01 => "illegal function",
        0x02 => "illegal data address",
        0x03 => "illegal data value",
        0x04 => "server device failure",
        0x05 => "acknowledge",
        0x06 => "server device busy",
        0x0A => "gateway path unavailable",
        0x0B => "gateway target device failed to respond",
        _ => "unknown exception code",
    }
}

/// One link and the devices behind it, polled by one task.
pub struct Bus<C: Connector> {
    connector: C,
    devices: Vec<Device>,
}

/// Group devices into buses: RTU devices by serial line, RTU-over-TCP devices by device
/// server, and Modbus TCP devices by endpoint (host and port): the unit ids behind one
/// TCP-to-RTU gateway share one connection and their requests are serialised on it, as
/// gateways with a connection limit (often 1 to 4) need.
pub fn buses(devices: &[ModbusDeviceConfig]) -> Vec<Bus<RealConnector>> {
    let mut groups: Vec<(String, Vec<ModbusDeviceConfig>)> = Vec::new();
    for d in devices {
        let key = match d.transport {
            Transport::Tcp => format!("tcp:{}:{}", d.host, d.port),
            Transport::RtuOverTcp => format!("rtu-over-tcp:{}:{}", d.host, d.port),
            Transport::Rtu => format!("rtu:{}", d.serial.as_ref().map(|s| s.path.as_str()).unwrap_or("")),
        };
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, g)) => g.push(d.clone()),
            None => groups.push((key, vec![d.clone()])),
        }
    }
    groups.into_iter().map(|(_, g)| Bus::new(RealConnector::of(&g[0]), g)).collect()
}

impl<C: Connector> Bus<C> {
    pub fn new(connector: C, devices: Vec<ModbusDeviceConfig>) -> Self {
        Bus { connector, devices: devices.into_iter().map(Device::new).collect() }
    }

    pub fn handles(&self) -> Vec<DeviceHandle> {
        let endpoint = self.connector.endpoint();
        self.devices
            .iter()
            .map(|d| DeviceHandle {
                id: d.cfg.id.clone(),
                endpoint: format!("{endpoint}/{}", d.cfg.unit),
                counters: d.counters.clone(),
            })
            .collect()
    }

    /// Requests per cycle over all devices (each block once).
    pub fn requests_per_cycle(&self) -> usize {
        self.devices.iter().map(|d| d.blocks.len()).sum()
    }

    fn set_connected(&self, up: bool) {
        for d in &self.devices {
            d.counters.connected.store(up as u64, Ordering::Relaxed);
        }
    }

    /// Poll until cancelled. Samples go to `tx`; if the pipeline is gone the bus stops.
    // Devices are indexed: the loop body borrows `self` mutably around awaits on the link.
    #[allow(clippy::needless_range_loop)]
    pub async fn run<B: From<Vec<Sample>>>(mut self, tx: mpsc::Sender<B>, cancel: CancellationToken) {
        let endpoint = self.connector.endpoint();
        let gap = self.connector.inter_frame_delay();
        tracing::info!(endpoint = %endpoint, devices = self.devices.len(), requests_per_cycle = self.requests_per_cycle(),
            "modbus bus started");
        let mut link: Option<C::Link> = None;
        let mut link_down_logged = false;
        let mut last_frame = Instant::now();
        while let Some(next) = self.devices.iter().flat_map(|d| d.due.iter().copied()).min() {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep_until(next) => {}
            }
            let now = Instant::now();
            let ts = crate::time::now_ms();
            let mut batch = Vec::new();
            let mut produced = vec![0u64; self.devices.len()];
            for d in 0..self.devices.len() {
                let due: Vec<usize> =
                    (0..self.devices[d].blocks.len()).filter(|&b| self.devices[d].due[b] <= now).collect();
                if due.is_empty() {
                    continue;
                }
                let before = batch.len();
                let dev = &mut self.devices[d];
                for &b in &due {
                    let interval = Duration::from_millis(dev.blocks[b].interval_ms);
                    let next_due = dev.due[b] + interval;
                    dev.due[b] = if next_due <= now { now + interval } else { next_due };
                }
                let timeout = Duration::from_millis(dev.cfg.timeout_ms);
                for &b in &due {
                    let dev = &mut self.devices[d];
                    let block = dev.blocks[b].clone();
                    if dev.in_backoff(Instant::now()) {
                        SourceCounters::add(&dev.counters.skipped, 1);
                        dev.bad(&block, ts, Quality::CommError, &mut batch);
                        continue;
                    }
                    if link.is_none() {
                        match tokio::time::timeout(timeout, self.connector.connect()).await {
                            Ok(Ok(l)) => {
                                link = Some(l);
                                link_down_logged = false;
                                for dv in &self.devices {
                                    SourceCounters::add(&dv.counters.connects, 1);
                                }
                                self.set_connected(true);
                                tracing::info!(endpoint = %endpoint, "modbus link open");
                            }
                            result => {
                                let e = match result {
                                    Ok(Err(e)) => e,
                                    _ => format!("connect timed out after {} ms", timeout.as_millis()),
                                };
                                if !link_down_logged {
                                    tracing::warn!(endpoint = %endpoint, error = %e,
                                        "modbus link cannot be opened; its points are marked comm_error; retrying with back-off");
                                    link_down_logged = true;
                                }
                                let dev = &mut self.devices[d];
                                SourceCounters::add(&dev.counters.errors, 1);
                                SourceCounters::add(&dev.counters.transport_errors, 1);
                                dev.back_off(Instant::now());
                                dev.bad(&block, ts, Quality::CommError, &mut batch);
                                continue;
                            }
                        }
                    }
                    let dev = &mut self.devices[d];
                    let l = link.as_mut().expect("opened above");
                    if !gap.is_zero() {
                        tokio::time::sleep_until(last_frame + gap).await;
                    }
                    SourceCounters::add(&dev.counters.requests, 1);
                    let sent = Instant::now();
                    let result =
                        tokio::time::timeout(timeout, l.read(dev.cfg.unit, block.kind, block.start, block.count)).await;
                    last_frame = Instant::now();
                    match result {
                        Ok(Ok(regs)) => {
                            dev.counters.record_latency(last_frame - sent);
                            dev.counters.last_success_ms.store(ts, Ordering::Relaxed);
                            dev.answered();
                            dev.decode(&block, &regs, ts, &mut batch);
                        }
                        Ok(Err(ReadError::Exception(code))) => {
                            SourceCounters::add(&dev.counters.errors, 1);
                            SourceCounters::add(&dev.counters.exceptions, 1);
                            dev.answered();
                            dev.log_exception(&block, code, last_frame);
                            dev.bad(&block, ts, Quality::Exception(code), &mut batch);
                        }
                        Ok(Err(ReadError::Link(e))) => {
                            SourceCounters::add(&dev.counters.errors, 1);
                            SourceCounters::add(&dev.counters.transport_errors, 1);
                            tracing::warn!(endpoint = %endpoint, device = %dev.cfg.id, error = %e, "modbus transport error; re-opening the link");
                            dev.bad(&block, ts, Quality::CommError, &mut batch);
                            link = None;
                            self.set_connected(false);
                        }
                        Err(_) => {
                            SourceCounters::add(&dev.counters.errors, 1);
                            SourceCounters::add(&dev.counters.timeouts, 1);
                            dev.back_off(last_frame);
                            dev.bad(&block, ts, Quality::CommError, &mut batch);
                            if self.connector.inter_frame_delay().is_zero() {
                                // TCP: a late answer would arrive out of turn; start afresh.
                                link = None;
                                self.set_connected(false);
                            }
                        }
                    }
                }
                produced[d] = (batch.len() - before) as u64;
            }
            if !batch.is_empty() && !self.send(&tx, batch, &produced, &cancel).await {
                break;
            }
        }
        self.set_connected(false);
        tracing::info!(endpoint = %endpoint, "modbus bus stopped");
    }

    /// Hand a round's samples to the pipeline; `produced[d]` of them came from device d.
    /// A full pipeline does not hold up a stop: cancelled while waiting, the round is
    /// counted as dropped (and logged) and the bus stops.
    async fn send<B: From<Vec<Sample>>>(
        &self,
        tx: &mpsc::Sender<B>,
        batch: Vec<Sample>,
        produced: &[u64],
        cancel: &CancellationToken,
    ) -> bool {
        let ok = tokio::select! {
            biased;
            sent = tx.send(batch.into()) => sent.is_ok(),
            _ = cancel.cancelled() => {
                tracing::warn!(endpoint = %self.connector.endpoint(), samples = produced.iter().sum::<u64>(),
                    "modbus bus stopping while the pipeline is full; this round's samples are counted as dropped");
                false
            }
        };
        for (d, n) in self.devices.iter().zip(produced) {
            SourceCounters::add(if ok { &d.counters.samples } else { &d.counters.dropped }, *n);
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    //! The scheduler on a simulated RS-485 bus in virtual time (tokio's paused clock):
    //! polls are counted per simulated minute, so nothing depends on the machine's speed.
    use super::*;
    use crate::config::{DataType, PointConfig, RegisterKind, SerialConfig};
    use std::collections::HashMap;
    use std::sync::Mutex;

    #[derive(Clone, Copy, PartialEq)]
    enum Unit {
        Healthy,
        Silent,
        Exception(u8),
        /// The link breaks on every request to this unit.
        Breaks,
    }

    #[derive(Clone)]
    struct MockBus {
        units: HashMap<u8, Unit>,
        serial: SerialConfig,
        connects: Arc<Mutex<u32>>,
    }

    struct MockLink(MockBus);

    impl Link for MockLink {
        async fn read(
            &mut self,
            unit: u8,
            _kind: RegisterKind,
            _start: u16,
            count: u16,
        ) -> Result<Vec<u16>, ReadError> {
            // Request (8 bytes) and response (5 + 2 per register) on the wire.
            let char_us = 1e6 * self.0.serial.bits_per_char() as f64 / self.0.serial.baud as f64;
            let wire = Duration::from_micros(((8.0 + 5.0 + 2.0 * count as f64) * char_us) as u64);
            match self.0.units.get(&unit).copied() {
                Some(Unit::Healthy) => {
                    tokio::time::sleep(wire).await;
                    Ok(vec![unit as u16; count as usize])
                }
                Some(Unit::Exception(code)) => {
                    tokio::time::sleep(wire).await;
                    Err(ReadError::Exception(code))
                }
                Some(Unit::Breaks) => Err(ReadError::Link("connection reset".into())),
                Some(Unit::Silent) | None => std::future::pending().await,
            }
        }

        async fn write(
            &mut self,
            _unit: u8,
            _kind: RegisterKind,
            _start: u16,
            _values: &[u16],
        ) -> Result<(), ReadError> {
            Ok(())
        }
    }

    impl Connector for MockBus {
        type Link = MockLink;
        async fn connect(&mut self) -> Result<MockLink, String> {
            *self.connects.lock().unwrap() += 1;
            Ok(MockLink(self.clone()))
        }
        fn endpoint(&self) -> String {
            "mock-rtu://bus".into()
        }
        fn inter_frame_delay(&self) -> Duration {
            self.serial.inter_frame_delay()
        }
    }

    fn device(unit: u8) -> ModbusDeviceConfig {
        ModbusDeviceConfig {
            transport: Transport::Rtu,
            interval_ms: 100,
            timeout_ms: 90,
            backoff_initial_ms: 1000,
            backoff_max_ms: 16_000,
            max_gap: 8,
            points: vec![
                PointConfig::new("a", RegisterKind::Holding, 0, DataType::U16),
                PointConfig::new("b", RegisterKind::Holding, 9, DataType::U16),
            ],
            ..ModbusDeviceConfig::tcp(&format!("u{unit}"), "", 0, unit)
        }
    }

    #[test]
    fn devices_that_stop_answering_at_once_wait_different_times_within_the_doubling_steps() {
        let now = Instant::now();
        let (mut a, mut b) = (Device::new(device(1)), Device::new(device(2)));
        let mut waits = Vec::new();
        for step in [1_000u64, 2_000, 4_000, 8_000, 16_000, 16_000] {
            a.back_off(now);
            b.back_off(now);
            let (wa, wb) = (a.backoff.unwrap() - now, b.backoff.unwrap() - now);
            for w in [wa, wb] {
                assert!(
                    w >= Duration::from_millis(step / 2) && w <= Duration::from_millis(step),
                    "{w:?} for step {step}"
                );
            }
            waits.push((wa, wb));
        }
        assert!(waits.iter().any(|(wa, wb)| wa != wb), "both devices drew the same waits: {waits:?}");
        // An answer ends the back-off and starts the steps again.
        a.answered();
        a.back_off(now);
        assert!(a.backoff.unwrap() - now <= Duration::from_millis(1_000));
    }

    /// A simulated 19200 8N1 line with these units on it.
    fn mock_bus(units: &[(u8, Unit)]) -> MockBus {
        MockBus {
            units: units.iter().copied().collect(),
            serial: SerialConfig {
                path: "/dev/mock".into(),
                baud: 19200,
                parity: crate::config::Parity::None,
                data_bits: 8,
                stop_bits: 1,
            },
            connects: Arc::new(Mutex::new(0)),
        }
    }

    /// Run a bus of units 1..=3 for one simulated minute; return each device's counters
    /// and the samples' qualities per device.
    async fn minute(units: &[(u8, Unit)]) -> (Vec<Arc<SourceCounters>>, HashMap<String, Vec<Quality>>, u32) {
        let mock = mock_bus(units);
        let connects = mock.connects.clone();
        let bus = Bus::new(mock, units.iter().map(|(u, _)| device(*u)).collect());
        let counters: Vec<_> = bus.handles().into_iter().map(|h| h.counters).collect();
        let (tx, mut rx) = mpsc::channel::<Vec<Sample>>(1024);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(bus.run(tx, cancel.clone()));
        let collect = tokio::spawn(async move {
            let mut q: HashMap<String, Vec<Quality>> = HashMap::new();
            while let Some(batch) = rx.recv().await {
                for s in batch {
                    q.entry(s.point.split('.').next().unwrap().to_string()).or_default().push(s.quality);
                }
            }
            q
        });
        // End between cycles (polls fall on whole 100 ms steps), so no timer ties with the end.
        tokio::time::sleep(Duration::from_millis(60_050)).await;
        cancel.cancel();
        task.await.unwrap();
        let q = collect.await.unwrap();
        let n = *connects.lock().unwrap();
        (counters, q, n)
    }

    /// Regression: a bus whose pipeline had stopped reading never saw its cancellation
    /// (it waited forever in `send`), which hung the Modbus bench in CI for 77 minutes.
    #[tokio::test(start_paused = true)]
    async fn a_full_pipeline_does_not_hold_up_a_stop() {
        let bus = Bus::new(mock_bus(&[(1, Unit::Healthy)]), vec![device(1)]);
        let counters = bus.handles()[0].counters.clone();
        let (tx, rx) = mpsc::channel::<Vec<Sample>>(1);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(bus.run(tx, cancel.clone()));
        // Nobody reads: the first round fills the channel, the second waits in `send`.
        tokio::time::sleep(Duration::from_millis(1_050)).await;
        cancel.cancel();
        tokio::time::timeout(Duration::from_secs(5), task).await.expect("the bus stops when cancelled").unwrap();
        assert!(counters.dropped.load(Ordering::Relaxed) > 0, "the round it could not hand over is counted");
        drop(rx);
    }

    fn requests(c: &SourceCounters) -> u64 {
        c.requests.load(Ordering::Relaxed)
    }

    #[tokio::test(start_paused = true)]
    async fn a_dead_slave_does_not_change_the_healthy_slaves_polls_per_minute() {
        let (healthy, _, _) = minute(&[(1, Unit::Healthy), (2, Unit::Healthy), (3, Unit::Healthy)]).await;
        let (with_dead, qualities, connects) =
            minute(&[(1, Unit::Healthy), (2, Unit::Healthy), (3, Unit::Silent)]).await;
        // One request per device per 100 ms cycle: t = 0, 0.1, ..., 60.0 s is 601.
        for i in 0..2 {
            assert_eq!(requests(&healthy[i]), 601, "all healthy, device {i}");
            assert_eq!(requests(&with_dead[i]), requests(&healthy[i]), "device {i} lost polls to the dead slave");
            assert!(qualities[&format!("u{}", i + 1)].iter().all(|q| *q == Quality::Good));
        }
        // The dead slave is probed again after waits of 1, 2, 4, 8 and then 16 s at most,
        // each drawn between half the step and the step (jitter): a handful of requests
        // (5 to 8 without jitter, up to 11 with every wait at its half), each a timeout;
        // every other cycle is skipped, not sent.
        let dead = &with_dead[2];
        assert_eq!(requests(dead), dead.timeouts.load(Ordering::Relaxed));
        assert!((5..=11).contains(&requests(dead)), "{} probes", requests(dead));
        assert_eq!(requests(dead) + dead.skipped.load(Ordering::Relaxed), 601);
        assert!(qualities["u3"].iter().all(|q| *q == Quality::CommError));
        assert!((8_000..=16_000).contains(&dead.backoff_ms.load(Ordering::Relaxed)), "the last wait, at the cap");
        // Every poll, answered or skipped, yields one sample per point (two per device).
        for c in with_dead.iter().chain(&healthy) {
            assert_eq!(c.samples.load(Ordering::Relaxed), 2 * 601);
        }
        // A silent slave is not a broken link: the serial line stayed open.
        assert_eq!(connects, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn exceptions_keep_the_link_and_the_cycle_and_broken_links_reopen() {
        let (c, q, connects) = minute(&[(1, Unit::Healthy), (2, Unit::Exception(2)), (3, Unit::Breaks)]).await;
        assert_eq!(requests(&c[0]), 601);
        // An exception is an answer: no back-off, polled every cycle, quality carries the code.
        assert_eq!(requests(&c[1]), 601);
        assert_eq!(c[1].exceptions.load(Ordering::Relaxed), 601);
        assert!(q["u2"].iter().all(|x| *x == Quality::Exception(2)));
        // A broken link is re-opened before the next request.
        assert!(c[2].transport_errors.load(Ordering::Relaxed) >= 600);
        assert!(connects >= 600, "{connects} connects");
        assert!(q["u3"].iter().all(|x| *x == Quality::CommError));
    }
}
