//! Sparkplug B DCMD: a host application writes a device metric. Only `values/{role}`
//! metrics whose point is a Modbus point marked `writable = true` can be written, with the
//! same checks as every other write (`sources::modbus::write::write_point`: writable,
//! finite, valid range, representable in the register type, read back to confirm), and
//! only when `[mqtt.sparkplug] accept_dcmd = true`. Every command, done or refused, is a
//! row in the audit log (`edgecite` API `GET /api/v1/admin/audit`), like API writes:
//! actor `sparkplug`, action `DCMD`, target `{asset}/{metric} -> {point}`, the HTTP-like
//! status (200 done, 400 bad value, 403 refused, 502 device error) and the outcome.

use crate::config::{Config, ModbusDeviceConfig};
use crate::sources::modbus::link::RealConnector;
use crate::sources::modbus::write::{write_point, WriteError};
use crate::store::auth::AuditEntry;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

pub struct Dcmd {
    enabled: bool,
    /// asset -> role -> point id (`<source>.<point>`).
    assets: BTreeMap<String, BTreeMap<String, String>>,
    devices: Vec<ModbusDeviceConfig>,
    store: PathBuf,
}

/// One requested write: the metric name and its value (or why it has none).
pub struct Request {
    pub metric: String,
    pub value: Result<f64, String>,
}

impl Dcmd {
    pub fn from_config(config: &Config) -> Arc<Dcmd> {
        Arc::new(Dcmd {
            enabled: config.mqtt.sparkplug.accept_dcmd,
            assets: config.assets.iter().map(|a| (a.id.clone(), a.roles.clone())).collect(),
            devices: config.sources.modbus.clone(),
            store: config.store.path.clone(),
        })
    }

    /// Check each request and start its write; every outcome is audited.
    pub fn handle(self: &Arc<Self>, topic: &str, asset: &str, requests: Vec<Request>) {
        for r in requests {
            let target = format!("{asset}/{}", r.metric);
            let checked = self.check(asset, &r);
            let this = self.clone();
            let (topic, asset) = (topic.to_string(), asset.to_string());
            tokio::spawn(async move {
                let (status, detail, point) = match checked {
                    Err((status, why)) => (status, why, None),
                    Ok((device, point_id, value)) => {
                        let full = format!("{}.{point_id}", device.id);
                        let mut connector = RealConnector::of(&device);
                        match write_point(&mut connector, &device, &point_id, value).await {
                            Ok(read) => (200, format!("wrote {value}; read back {read}"), Some(full)),
                            Err(e) => {
                                let status = match e {
                                    WriteError::UnknownPoint(_) | WriteError::NotWritable(_) => 403,
                                    WriteError::BadValue { .. } => 400,
                                    _ => 502,
                                };
                                (status, e.to_string(), Some(full))
                            }
                        }
                    }
                };
                let target = match &point {
                    Some(p) => format!("{target} -> {p}"),
                    None => target,
                };
                if status == 200 {
                    tracing::info!(%topic, device = %asset, %target, %detail, "Sparkplug DCMD written");
                } else {
                    tracing::warn!(%topic, device = %asset, %target, status, %detail, "Sparkplug DCMD refused or failed");
                }
                let store = this.store.clone();
                let r = tokio::task::spawn_blocking(move || {
                    let s = crate::store::Store::open(&store)?;
                    s.audit(
                        &AuditEntry {
                            actor: "sparkplug",
                            role: None,
                            action: "DCMD",
                            target: &target,
                            status,
                            remote: Some(&topic),
                            detail: &detail,
                        },
                        crate::time::now_ms(),
                    )
                })
                .await;
                match r {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::error!(error = %e, "Sparkplug DCMD: cannot write the audit row"),
                    Err(e) => tracing::error!(error = %e, "Sparkplug DCMD: audit task failed"),
                }
            });
        }
    }

    /// The device and point a request writes, or (status, why not).
    fn check(&self, asset: &str, r: &Request) -> Result<(ModbusDeviceConfig, String, f64), (u16, String)> {
        if !self.enabled {
            return Err((403, "DCMD writes are off: set [mqtt.sparkplug] accept_dcmd = true to allow them".into()));
        }
        let Some(role) = r.metric.strip_prefix("values/") else {
            return Err((403, format!("metric `{}` cannot be written: only values/{{role}} metrics can", r.metric)));
        };
        let point = self
            .assets
            .get(asset)
            .and_then(|roles| roles.get(role))
            .ok_or_else(|| (403, format!("device `{asset}` has no role `{role}`")))?;
        let (dev, pt) = point.split_once('.').unwrap_or((point.as_str(), ""));
        let device = self
            .devices
            .iter()
            .find(|d| d.id == dev)
            .ok_or_else(|| (403, format!("point `{point}` is not a Modbus point: it cannot be written")))?;
        let p = device
            .points
            .iter()
            .find(|p| p.id == pt)
            .ok_or_else(|| (403, format!("point `{point}` is not configured")))?;
        if !p.writable {
            return Err((
                403,
                format!("point `{point}` is read-only: set `writable = true` on it in the config to allow writes"),
            ));
        }
        let value = r.value.clone().map_err(|why| (400, format!("metric `{}`: {why}", r.metric)))?;
        Ok((device.clone(), pt.to_string(), value))
    }
}
