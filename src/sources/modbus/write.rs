//! Writes to points explicitly marked `writable = true`: the engineering value is turned
//! back into registers (offset, scale, type, byte order), range-checked, written with
//! function 05/15 (coils) or 06/16 (holding registers), and read back to confirm.

use super::link::{Connector, Link, ReadError};
use super::{decode, exception_meaning};
use crate::config::{DataType, ModbusDeviceConfig, PointConfig, RegisterKind};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("point `{0}` is not configured")]
    UnknownPoint(String),
    #[error("point `{0}` is read-only: set `writable = true` on it in the config to allow writes")]
    NotWritable(String),
    #[error("point `{point}`: value {value} {reason}; nothing was written")]
    BadValue { point: String, value: f64, reason: String },
    #[error("{endpoint}: {message}; the write may not have happened")]
    Link { endpoint: String, message: String },
    #[error("{endpoint} unit {unit}: exception {code:02x} ({meaning}); nothing was written")]
    Exception { endpoint: String, unit: u8, code: u8, meaning: &'static str },
    #[error("{endpoint}: no answer within {ms} ms; the write may not have happened")]
    Timeout { endpoint: String, ms: u64 },
    #[error("point `{point}`: wrote {wrote} but read back {read}")]
    Verify { point: String, wrote: f64, read: f64 },
}

/// The registers (or coil value) that carry `value` for `point`, or why it cannot be written.
pub fn registers_for(point: &PointConfig, value: f64) -> Result<Vec<u16>, String> {
    if !value.is_finite() {
        return Err("is not a finite number".into());
    }
    if point.valid_min.is_some_and(|lo| value < lo) || point.valid_max.is_some_and(|hi| value > hi) {
        return Err(format!(
            "is outside the point's valid range [{}, {}]",
            point.valid_min.map(|v| v.to_string()).unwrap_or("-inf".into()),
            point.valid_max.map(|v| v.to_string()).unwrap_or("+inf".into())
        ));
    }
    if point.data_type == DataType::String {
        return Err("cannot be written to a string point (writing text is not supported)".into());
    }
    let raw = (value - point.offset) / point.scale;
    let (lo, hi) = match point.data_type {
        DataType::Bit => (0.0, 1.0),
        DataType::U16 => (0.0, u16::MAX as f64),
        DataType::I16 => (i16::MIN as f64, i16::MAX as f64),
        DataType::U32 => (0.0, u32::MAX as f64),
        DataType::I32 => (i32::MIN as f64, i32::MAX as f64),
        DataType::U64 => (0.0, 2f64.powi(53)),
        DataType::I64 => (-(2f64.powi(53)), 2f64.powi(53)),
        DataType::F32 => (f32::MIN as f64, f32::MAX as f64),
        DataType::F64 => (f64::MIN, f64::MAX),
        DataType::String => unreachable!("refused above"),
    };
    let integral = !matches!(point.data_type, DataType::F32 | DataType::F64);
    if raw < lo || raw > hi || (integral && (raw - raw.round()).abs() > 1e-9) {
        return Err(format!(
            "gives raw {raw} (after offset {} and scale {}), which a {:?} cannot hold exactly",
            point.offset, point.scale, point.data_type
        ));
    }
    Ok(decode::encode_raw(raw, point.data_type, point.order))
}

/// Write `value` to the point `point_id` (the id within the device) and read it back.
/// Returns the value read back.
pub async fn write_point<C: Connector>(
    connector: &mut C,
    device: &ModbusDeviceConfig,
    point_id: &str,
    value: f64,
) -> Result<f64, WriteError> {
    let full = format!("{}.{point_id}", device.id);
    let point =
        device.points.iter().find(|p| p.id == point_id).ok_or_else(|| WriteError::UnknownPoint(full.clone()))?;
    if !point.writable {
        return Err(WriteError::NotWritable(full));
    }
    let regs =
        registers_for(point, value).map_err(|reason| WriteError::BadValue { point: full.clone(), value, reason })?;
    let endpoint = connector.endpoint();
    let timeout = Duration::from_millis(device.timeout_ms);
    let link_err = |message: String| WriteError::Link { endpoint: endpoint.clone(), message };
    let timed_out = || WriteError::Timeout { endpoint: endpoint.clone(), ms: device.timeout_ms };
    let mut link =
        tokio::time::timeout(timeout, connector.connect()).await.map_err(|_| timed_out())?.map_err(&link_err)?;
    let map = |e: ReadError| match e {
        ReadError::Exception(code) => WriteError::Exception {
            endpoint: endpoint.clone(),
            unit: device.unit,
            code,
            meaning: exception_meaning(code),
        },
        ReadError::Link(m) => link_err(m),
    };
    tokio::time::timeout(timeout, link.write(device.unit, point.register, point.address, &regs))
        .await
        .map_err(|_| timed_out())?
        .map_err(&map)?;
    tracing::info!(point = %full, value, function = if point.register == RegisterKind::Coil { "05/15" } else { "06/16" },
        address = point.address, registers = ?regs, "modbus write");
    let back = tokio::time::timeout(timeout, link.read(device.unit, point.register, point.address, regs.len() as u16))
        .await
        .map_err(|_| timed_out())?
        .map_err(&map)?;
    let read = decode::decode(&back, point.data_type, point.order, point.bit, point.scale, point.offset)
        .map_err(|e| link_err(e.to_string()))?;
    if (read - value).abs() > 1e-6 * value.abs().max(1.0) && back != regs {
        return Err(WriteError::Verify { point: full, wrote: value, read });
    }
    Ok(read)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ByteOrder;

    #[test]
    fn values_become_registers_or_a_reason() {
        let p = |t, scale, offset| PointConfig { scale, offset, ..PointConfig::new("p", RegisterKind::Holding, 0, t) };
        assert_eq!(registers_for(&p(DataType::U16, 0.1, 0.0), 12.3).unwrap(), vec![123]);
        assert_eq!(registers_for(&p(DataType::I16, 1.0, -40.0), -50.0).unwrap(), vec![(-10i16) as u16]);
        let f = PointConfig { order: ByteOrder::CDAB, ..p(DataType::F32, 1.0, 0.0) };
        assert_eq!(registers_for(&f, 2.75).unwrap(), decode::encode_raw(2.75, DataType::F32, ByteOrder::CDAB));
        assert!(registers_for(&p(DataType::U16, 1.0, 0.0), 70000.0).unwrap_err().contains("cannot hold"));
        assert!(registers_for(&p(DataType::U16, 1.0, 0.0), -1.0).unwrap_err().contains("cannot hold"));
        assert!(registers_for(&p(DataType::U16, 0.1, 0.0), 12.34).unwrap_err().contains("cannot hold exactly"));
        assert!(registers_for(&p(DataType::F32, 1.0, 0.0), f64::NAN).is_err());
        let ranged = PointConfig { valid_min: Some(0.0), valid_max: Some(50.0), ..p(DataType::U16, 1.0, 0.0) };
        assert!(registers_for(&ranged, 51.0).unwrap_err().contains("valid range"));
        let coil = PointConfig::new("c", RegisterKind::Coil, 0, DataType::Bit);
        assert_eq!(registers_for(&coil, 1.0).unwrap(), vec![1]);
        assert!(registers_for(&coil, 2.0).is_err());
    }
}
