//! The MQTT transport the ingest source and the publish sink share: one rumqttc session
//! (3.1.1 or 5, rustls TLS, will, back-off) and the Sparkplug B types and codec.

pub mod client;
pub mod sparkplug;
