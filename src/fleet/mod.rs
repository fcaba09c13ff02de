//! Fleet management (issue 19): signed bundles of packs, models and config (`bundle`), and
//! their deploy over MQTT with a health check and rollback (`deploy`). What a gateway runs
//! is reported by `sinks::mqtt::info`.

pub mod bundle;
pub mod deploy;
