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
