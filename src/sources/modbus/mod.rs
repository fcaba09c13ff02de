//! Modbus TCP source: polls one device's points on its interval, decodes them and sends
//! samples with their poll timestamp and quality. Reconnects after transport errors.

pub mod decode;
pub mod plan;

use crate::config::{ModbusDeviceConfig, RegisterKind};
use crate::sample::{PointId, Quality, Sample};
use crate::sources::SourceCounters;
use plan::ReadBlock;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_modbus::client::{Context, Reader};
use tokio_modbus::Slave;
use tokio_util::sync::CancellationToken;

pub struct ModbusSource {
    cfg: ModbusDeviceConfig,
    point_ids: Vec<PointId>,
    blocks: Vec<ReadBlock>,
    counters: Arc<SourceCounters>,
}

enum ReadFailure {
    /// The device answered with an exception: the link is fine.
    Exception(u8),
    /// Timeout or transport error: the link must be re-opened.
    Link(String),
}

impl ModbusSource {
    pub fn new(cfg: ModbusDeviceConfig) -> Self {
        let point_ids = cfg.points.iter().map(|p| PointId::from(format!("{}.{}", cfg.id, p.id))).collect();
        let blocks = plan::plan_device(&cfg);
        ModbusSource { cfg, point_ids, blocks, counters: Arc::new(SourceCounters::default()) }
    }

    pub fn id(&self) -> &str {
        &self.cfg.id
    }

    pub fn endpoint(&self) -> String {
        format!("modbus-tcp://{}:{}/{}", self.cfg.host, self.cfg.port, self.cfg.unit)
    }

    pub fn counters(&self) -> Arc<SourceCounters> {
        self.counters.clone()
    }

    /// Requests per poll cycle.
    pub fn requests_per_cycle(&self) -> usize {
        self.blocks.len()
    }

    /// Poll until cancelled. Samples go to `tx`; if the pipeline is gone the source stops.
    pub async fn run(self, tx: mpsc::Sender<Vec<Sample>>, cancel: CancellationToken) {
        let timeout = Duration::from_millis(self.cfg.timeout_ms);
        let mut ticker = tokio::time::interval(Duration::from_millis(self.cfg.interval_ms));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ctx: Option<Context> = None;
        let mut link_down_logged = false;
        tracing::info!(source = %self.cfg.id, endpoint = %self.endpoint(), points = self.point_ids.len(),
            requests_per_cycle = self.blocks.len(), "modbus source started");
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = ticker.tick() => {}
            }
            let ts = crate::time::now_ms();
            if ctx.is_none() {
                match self.connect(timeout).await {
                    Ok(c) => {
                        self.counters.connects.fetch_add(1, Ordering::Relaxed);
                        self.counters.connected.store(1, Ordering::Relaxed);
                        tracing::info!(source = %self.cfg.id, endpoint = %self.endpoint(), "modbus connected");
                        link_down_logged = false;
                        ctx = Some(c);
                    }
                    Err(e) => {
                        self.counters.errors.fetch_add(1, Ordering::Relaxed);
                        if !link_down_logged {
                            tracing::warn!(source = %self.cfg.id, endpoint = %self.endpoint(), error = %e,
                                "modbus connect failed; points marked comm_error, retrying every interval");
                            link_down_logged = true;
                        }
                        let batch =
                            self.point_ids.iter().map(|p| Sample::bad(p.clone(), ts, Quality::CommError)).collect();
                        if !self.send(&tx, batch).await {
                            break;
                        }
                        continue;
                    }
                }
            }
            let mut batch = Vec::with_capacity(self.point_ids.len());
            let mut link_failed = false;
            for block in &self.blocks {
                let c = ctx.as_mut().expect("connected above");
                let result = if link_failed {
                    Err(ReadFailure::Link("earlier request in this cycle failed".into()))
                } else {
                    self.counters.requests.fetch_add(1, Ordering::Relaxed);
                    read_block(c, block, timeout).await
                };
                match result {
                    Ok(regs) => {
                        self.counters.last_success_ms.store(ts, Ordering::Relaxed);
                        for &i in &block.points {
                            batch.push(self.decode_point(i, block, &regs, ts));
                        }
                    }
                    Err(fail) => {
                        let quality = match &fail {
                            ReadFailure::Exception(code) => Quality::Exception(*code),
                            ReadFailure::Link(_) => Quality::CommError,
                        };
                        if !link_failed {
                            self.counters.errors.fetch_add(1, Ordering::Relaxed);
                            match &fail {
                                ReadFailure::Exception(code) => {
                                    tracing::warn!(source = %self.cfg.id,
                                    kind = ?block.kind, start = block.start, count = block.count,
                                    exception = format!("{code:02x}"), "modbus exception response")
                                }
                                ReadFailure::Link(e) => tracing::warn!(source = %self.cfg.id,
                                    endpoint = %self.endpoint(), error = %e, "modbus read failed; reconnecting"),
                            }
                        }
                        if matches!(fail, ReadFailure::Link(_)) {
                            link_failed = true;
                        }
                        for &i in &block.points {
                            batch.push(Sample::bad(self.point_ids[i].clone(), ts, quality));
                        }
                    }
                }
            }
            if link_failed {
                ctx = None;
                self.counters.connected.store(0, Ordering::Relaxed);
            }
            if !self.send(&tx, batch).await {
                break;
            }
        }
        if let Some(mut c) = ctx {
            use tokio_modbus::client::Client;
            let _ = c.disconnect().await;
        }
        self.counters.connected.store(0, Ordering::Relaxed);
        tracing::info!(source = %self.cfg.id, "modbus source stopped");
    }

    async fn connect(&self, timeout: Duration) -> Result<Context, String> {
        let target = (self.cfg.host.as_str(), self.cfg.port);
        let fut = async {
            let addr = tokio::net::lookup_host(target)
                .await
                .map_err(|e| format!("cannot resolve {}: {e}", self.cfg.host))?
                .next()
                .ok_or_else(|| format!("{} resolves to no address", self.cfg.host))?;
            tokio_modbus::client::tcp::connect_slave(addr, Slave(self.cfg.unit)).await.map_err(|e| e.to_string())
        };
        tokio::time::timeout(timeout, fut)
            .await
            .map_err(|_| format!("connect timed out after {} ms", timeout.as_millis()))?
    }

    fn decode_point(&self, i: usize, block: &ReadBlock, regs: &[u16], ts: i64) -> Sample {
        let p = &self.cfg.points[i];
        let off = (p.address - block.start) as usize;
        let slice = regs.get(off..).unwrap_or(&[]);
        match decode::decode(slice, p.data_type, p.order, p.bit, p.scale, p.offset) {
            Ok(v) if p.valid_min.is_some_and(|lo| v < lo) || p.valid_max.is_some_and(|hi| v > hi) => {
                Sample::bad(self.point_ids[i].clone(), ts, Quality::OutOfRange)
            }
            Ok(v) => Sample::good(self.point_ids[i].clone(), ts, v),
            Err(e) => {
                tracing::warn!(point = %self.point_ids[i], error = %e, "cannot decode point");
                Sample::bad(self.point_ids[i].clone(), ts, Quality::DecodeError)
            }
        }
    }

    async fn send(&self, tx: &mpsc::Sender<Vec<Sample>>, batch: Vec<Sample>) -> bool {
        let n = batch.len() as u64;
        if tx.send(batch).await.is_err() {
            self.counters.dropped.fetch_add(n, Ordering::Relaxed);
            return false;
        }
        self.counters.samples.fetch_add(n, Ordering::Relaxed);
        true
    }
}

fn bits_as_words(bits: Vec<bool>) -> Vec<u16> {
    bits.into_iter().map(u16::from).collect()
}

async fn read_block(ctx: &mut Context, block: &ReadBlock, timeout: Duration) -> Result<Vec<u16>, ReadFailure> {
    let fut = async {
        match block.kind {
            RegisterKind::Holding => ctx.read_holding_registers(block.start, block.count).await,
            RegisterKind::Input => ctx.read_input_registers(block.start, block.count).await,
            RegisterKind::Coil => ctx.read_coils(block.start, block.count).await.map(|r| r.map(bits_as_words)),
            RegisterKind::DiscreteInput => {
                ctx.read_discrete_inputs(block.start, block.count).await.map(|r| r.map(bits_as_words))
            }
        }
    };
    match tokio::time::timeout(timeout, fut).await {
        Err(_) => Err(ReadFailure::Link(format!("no response within {} ms", timeout.as_millis()))),
        Ok(Err(e)) => Err(ReadFailure::Link(e.to_string())),
        Ok(Ok(Err(code))) => Err(ReadFailure::Exception(u8::from(code))),
        Ok(Ok(Ok(regs))) if regs.len() < block.count as usize => {
            Err(ReadFailure::Link(format!("short response: {} registers for a request of {}", regs.len(), block.count)))
        }
        Ok(Ok(Ok(regs))) => Ok(regs),
    }
}
