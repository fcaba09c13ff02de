//! MQTT: the shared connection (`client`) and the ingest source (`[[mqtt.subscriptions]]`).

pub mod client;
