//! The gateway's own hardware through linux-embedded-hal: GPIO lines (character device) for
//! alarm outputs and the heartbeat LED, and I2C buses for local sensors. Hardware that
//! cannot be opened is reported (log and /healthz) and the daemon runs without it.

use crate::config::alarm::{AlarmConfig, GpioLine};
use crate::config::sources::{I2cSensor, I2cSensorConfig};
use crate::sample::{PointId, Sample};
use crate::sinks::alarm::{AlarmOutput, Alarms};
use crate::sources::local_io::Tmp102;
use crate::sources::SourceCounters;
use linux_embedded_hal::gpio_cdev::{Chip, LineRequestFlags};
use linux_embedded_hal::{CdevPin, I2cdev};
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn open_pin(chip: &str, line: u32, active_low: bool, name: &str) -> Result<CdevPin, String> {
    let mut flags = LineRequestFlags::OUTPUT;
    if active_low {
        flags |= LineRequestFlags::ACTIVE_LOW;
    }
    let handle = Chip::new(chip)
        .and_then(|mut c| c.get_line(line))
        .and_then(|l| l.request(flags, 0, "edgecite"))
        .map_err(|e| format!("alarm output `{name}`: cannot open {chip} line {line}: {e}"))?;
    CdevPin::new(handle).map_err(|e| format!("alarm output `{name}`: {chip} line {line}: {e}"))
}

/// Open the configured outputs; those that fail are returned as errors, the rest work.
pub fn open_alarms(cfg: &AlarmConfig) -> (Option<Alarms<CdevPin>>, Vec<String>) {
    if cfg.outputs.is_empty() && cfg.heartbeat.is_none() {
        return (None, Vec::new());
    }
    let mut errors = Vec::new();
    let mut outputs = Vec::new();
    for o in &cfg.outputs {
        match open_pin(&o.chip, o.line, o.active_low, &o.id) {
            Ok(pin) => outputs.push(AlarmOutput::new(&o.id, pin, o.min_severity)),
            Err(e) => errors.push(e),
        }
    }
    let heartbeat = cfg.heartbeat.as_ref().and_then(|GpioLine { chip, line, active_low }| {
        open_pin(chip, *line, *active_low, "heartbeat").map_err(|e| errors.push(e)).ok()
    });
    for e in &errors {
        tracing::error!(error = %e, "alarm output unavailable; the daemon runs without it");
    }
    (Some(Alarms::new(outputs, heartbeat)), errors)
}

/// Poll one I2C sensor until cancelled. A bus that cannot be opened is retried every
/// interval; its point is `comm_error` meanwhile.
pub async fn run_i2c_sensor<B: From<Vec<Sample>>>(
    cfg: I2cSensorConfig,
    counters: std::sync::Arc<SourceCounters>,
    tx: mpsc::Sender<B>,
    cancel: CancellationToken,
) {
    let point: PointId = format!("{}.temperature", cfg.id).into();
    let mut ticker = tokio::time::interval(Duration::from_millis(cfg.interval_ms));
    let mut sensor: Option<Tmp102<I2cdev>> = None;
    let mut logged = false;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let ts = crate::time::now_ms();
        if sensor.is_none() {
            match I2cdev::new(&cfg.bus) {
                Ok(bus) => {
                    SourceCounters::add(&counters.connects, 1);
                    counters.connected.store(1, Ordering::Relaxed);
                    tracing::info!(source = %cfg.id, bus = %cfg.bus, address = format!("0x{:02x}", cfg.address), "I2C sensor open");
                    sensor = Some(match cfg.sensor {
                        I2cSensor::Tmp102 => Tmp102::new(bus, cfg.address),
                    });
                }
                Err(e) => {
                    SourceCounters::add(&counters.errors, 1);
                    SourceCounters::add(&counters.transport_errors, 1);
                    if !logged {
                        tracing::error!(source = %cfg.id, bus = %cfg.bus, error = %e, "cannot open I2C bus; retrying every interval");
                        logged = true;
                    }
                }
            }
        }
        let sample = match sensor.as_mut() {
            Some(s) => {
                SourceCounters::add(&counters.requests, 1);
                let started = std::time::Instant::now();
                let sample = tokio::task::block_in_place(|| s.sample(&point, ts));
                if sample.quality.is_good() {
                    counters.record_latency(started.elapsed());
                    counters.last_success_ms.store(ts, Ordering::Relaxed);
                } else {
                    SourceCounters::add(&counters.errors, 1);
                    SourceCounters::add(&counters.transport_errors, 1);
                }
                sample
            }
            None => Sample::bad(point.clone(), ts, crate::sample::Quality::CommError),
        };
        if tx.send(vec![sample].into()).await.is_err() {
            SourceCounters::add(&counters.dropped, 1);
            break;
        }
        SourceCounters::add(&counters.samples, 1);
    }
}
