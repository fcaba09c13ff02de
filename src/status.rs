//! One status seam (after Vector's component metrics): every source, sink and model reports
//! a [`ComponentStatus`] with the same four counters, and `/healthz`, `/metrics` and
//! `edgecite status` render that one list. A component that is not healthy says why; the
//! gateway is degraded while any is.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a component is in the data path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ComponentRole {
    Source,
    Sink,
    Model,
}

impl ComponentRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ComponentRole::Source => "source",
            ComponentRole::Sink => "sink",
            ComponentRole::Model => "model",
        }
    }
}

/// One component's health and counted events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ComponentStatus {
    /// The source id, `mqtt` / `sparkplug` for the sinks, the model's name.
    pub id: String,
    pub role: ComponentRole,
    /// `modbus`, `i2c`, `mqtt` (sources and sinks); the execution provider (models).
    pub kind: String,
    pub healthy: bool,
    /// Why it is not healthy, one line; None when healthy.
    pub problem: Option<String>,
    /// Events in: samples read (source), messages queued (sink), feature rows (model).
    pub received: u64,
    /// Events out: samples handed on (source), messages the broker acknowledged (sink),
    /// finite scores (model).
    pub sent: u64,
    /// Failed requests (source), failed or lost connections (sink), failed runs (model).
    pub errors: u64,
    /// Events given up: samples the loop could not take (source), telemetry dropped at the
    /// outbox quota (sink), non-finite scores that give no finding (model).
    pub dropped: u64,
}

/// The newest error the daemon logged (any `tracing` event at level ERROR), for
/// `_gateway/info`: a fleet tool sees what went wrong last without reading the journal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LastError {
    pub ts: String,
    pub ts_ms: i64,
    /// The module that logged it, e.g. `edgecite::fleet::deploy`.
    pub target: String,
    /// Its message and fields, as the log line shows them.
    pub message: String,
}

static LAST_ERROR: std::sync::Mutex<Option<LastError>> = std::sync::Mutex::new(None);

/// The newest error logged since the process started.
pub fn last_error() -> Option<LastError> {
    LAST_ERROR.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// The `tracing` layer that keeps [`last_error`] (installed by the binary with the log
/// output).
pub struct LastErrorLayer;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for LastErrorLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if *event.metadata().level() != tracing::Level::ERROR {
            return;
        }
        /// The message, then ` key=value` for each field, as a log line shows them.
        #[derive(Default)]
        struct Fields {
            message: String,
            rest: String,
        }
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                use std::fmt::Write;
                if field.name() == "message" {
                    let _ = write!(self.message, "{value:?}");
                } else {
                    let _ = write!(self.rest, " {}={value:?}", field.name());
                }
            }
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                use std::fmt::Write;
                if field.name() == "message" {
                    self.message.push_str(value);
                } else {
                    let _ = write!(self.rest, " {}={value}", field.name());
                }
            }
        }
        let mut f = Fields::default();
        event.record(&mut f);
        let text = format!("{}{}", f.message, f.rest);
        let now = crate::time::now_ms();
        let e = LastError {
            ts: crate::time::rfc3339(now),
            ts_ms: now,
            target: event.metadata().target().to_string(),
            message: text.trim().chars().take(1000).collect(),
        };
        *LAST_ERROR.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
    }
}
