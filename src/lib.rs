//! edgecite: an edge daemon that turns equipment data into inspection findings that cite
//! their evidence and their references.
//!
//! The modules mirror the data path (see ARCHITECTURE.md):
//! `sources -> pipeline -> inference -> diagnose -> store -> sinks`, with `config` and
//! `knowledge` underneath and `daemon` wiring them together at the top.

// `!(x >= lo && x <= hi)` is how NaN is rejected along with out-of-range values; the
// partial_cmp form clippy suggests would hide that.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

pub mod baseline;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod deadband;
pub mod diagnose;
pub mod files;
pub mod fleet;
pub mod inference;
pub mod knowledge;
pub mod local_hw;
pub mod location;
pub mod mqtt;
pub mod notify;
pub mod pipeline;
pub mod sample;
pub mod service;
pub mod simulator;
pub mod sinks;
pub mod sources;
pub mod status;
pub mod store;
pub mod text;
pub mod time;
