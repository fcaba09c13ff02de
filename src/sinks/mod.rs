//! Sinks: where results leave the daemon. For now the HTTP API (with the technician page)
//! and the live state it serves; the store is written by the daemon loop.

pub mod alarm;
pub mod api;
pub mod live;
pub mod mqtt;
