//! Sparkplug B payloads (protobuf) with prost. The message structs are written by hand with
//! prost's derives, field for field from the Sparkplug B `Payload` and `Metric` messages
//! (`proto/sparkplug_b.proto` in this repo lists the same fields): no `protoc` at build
//! time. Fields we neither read nor write (metadata, properties, datasets, templates) are
//! skipped by the decoder.

use prost::Message;

#[derive(Clone, PartialEq, prost::Message)]
pub struct Payload {
    #[prost(uint64, optional, tag = "1")]
    pub timestamp: Option<u64>,
    #[prost(message, repeated, tag = "2")]
    pub metrics: Vec<Metric>,
    #[prost(uint64, optional, tag = "3")]
    pub seq: Option<u64>,
    #[prost(string, optional, tag = "4")]
    pub uuid: Option<String>,
    #[prost(bytes = "vec", optional, tag = "5")]
    pub body: Option<Vec<u8>>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Metric {
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    #[prost(uint64, optional, tag = "2")]
    pub alias: Option<u64>,
    #[prost(uint64, optional, tag = "3")]
    pub timestamp: Option<u64>,
    #[prost(uint32, optional, tag = "4")]
    pub datatype: Option<u32>,
    #[prost(bool, optional, tag = "5")]
    pub is_historical: Option<bool>,
    #[prost(bool, optional, tag = "6")]
    pub is_transient: Option<bool>,
    #[prost(bool, optional, tag = "7")]
    pub is_null: Option<bool>,
    #[prost(oneof = "Value", tags = "10, 11, 12, 13, 14, 15, 16")]
    pub value: Option<Value>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Value {
    #[prost(uint32, tag = "10")]
    IntValue(u32),
    #[prost(uint64, tag = "11")]
    LongValue(u64),
    #[prost(float, tag = "12")]
    FloatValue(f32),
    #[prost(double, tag = "13")]
    DoubleValue(f64),
    #[prost(bool, tag = "14")]
    BooleanValue(bool),
    #[prost(string, tag = "15")]
    StringValue(String),
    #[prost(bytes = "vec", tag = "16")]
    BytesValue(Vec<u8>),
}

/// Sparkplug B data types used here (spec, "Data Types").
pub mod datatype {
    pub const INT8: u32 = 1;
    pub const INT16: u32 = 2;
    pub const INT32: u32 = 3;
    pub const INT64: u32 = 4;
    pub const UINT8: u32 = 5;
    pub const UINT16: u32 = 6;
    pub const UINT32: u32 = 7;
    pub const UINT64: u32 = 8;
    pub const FLOAT: u32 = 9;
    pub const DOUBLE: u32 = 10;
    pub const BOOLEAN: u32 = 11;
    pub const STRING: u32 = 12;
    pub const DATETIME: u32 = 13;
    pub const TEXT: u32 = 14;
}

/// A metric value as a number, or why it is not one. Signed integers travel in the unsigned
/// fields as two's complement of their width.
pub fn number(m: &Metric) -> Result<Option<f64>, String> {
    use datatype::*;
    if m.is_null == Some(true) {
        return Ok(None);
    }
    let dt = m.datatype;
    let v = match (&m.value, dt) {
        (None, _) => return Err("metric has no value and is not marked is_null".into()),
        (Some(Value::IntValue(v)), Some(INT8)) => *v as i8 as f64,
        (Some(Value::IntValue(v)), Some(INT16)) => *v as i16 as f64,
        (Some(Value::IntValue(v)), Some(INT32)) => *v as i32 as f64,
        (Some(Value::IntValue(v)), _) => *v as f64,
        (Some(Value::LongValue(v)), Some(INT64)) => *v as i64 as f64,
        (Some(Value::LongValue(v)), _) => *v as f64,
        (Some(Value::FloatValue(v)), _) => *v as f64,
        (Some(Value::DoubleValue(v)), _) => *v,
        (Some(Value::BooleanValue(b)), _) => f64::from(u8::from(*b)),
        (Some(Value::StringValue(_)), _) | (Some(Value::BytesValue(_)), _) => {
            return Err(format!("metric value is not numeric (datatype {})", dt.unwrap_or(0)))
        }
    };
    if v.is_finite() {
        Ok(Some(v))
    } else {
        Err(format!("metric value {v} is not finite"))
    }
}

pub fn decode(bytes: &[u8]) -> Result<Payload, String> {
    Payload::decode(bytes).map_err(|e| format!("not a Sparkplug B payload: {e}"))
}

pub fn encode(p: &Payload) -> Vec<u8> {
    p.encode_to_vec()
}

/// `spBv1.0/{group}/{type}/{node}[/{device}]` split into its parts.
pub struct SparkplugTopic<'a> {
    pub group: &'a str,
    pub kind: &'a str,
    pub node: &'a str,
    pub device: Option<&'a str>,
}

pub fn parse_topic(topic: &str) -> Option<SparkplugTopic<'_>> {
    let mut it = topic.split('/');
    if it.next()? != "spBv1.0" {
        return None;
    }
    let (group, kind, node, device) = (it.next()?, it.next()?, it.next()?, it.next());
    if it.next().is_some() {
        return None;
    }
    Some(SparkplugTopic { group, kind, node, device })
}

/// A metric name as a point id part: characters other than letters, digits, `_` and `-`
/// become `_` (`Sensors/Temp 1` -> `Sensors_Temp_1`).
pub fn sanitise(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_integers_round_trip_through_the_unsigned_fields() {
        let m = |dt, v| Metric { datatype: Some(dt), value: Some(v), ..Default::default() };
        assert_eq!(number(&m(datatype::INT8, Value::IntValue(-5i8 as u8 as u32))).unwrap(), Some(-5.0));
        assert_eq!(number(&m(datatype::INT16, Value::IntValue(-300i16 as u16 as u32))).unwrap(), Some(-300.0));
        assert_eq!(number(&m(datatype::INT32, Value::IntValue(-70000i32 as u32))).unwrap(), Some(-70000.0));
        assert_eq!(number(&m(datatype::INT64, Value::LongValue(-7i64 as u64))).unwrap(), Some(-7.0));
        assert_eq!(number(&m(datatype::BOOLEAN, Value::BooleanValue(true))).unwrap(), Some(1.0));
        assert!(number(&m(datatype::STRING, Value::StringValue("x".into()))).is_err());
        let p =
            Payload { seq: Some(3), metrics: vec![m(datatype::DOUBLE, Value::DoubleValue(2.5))], ..Default::default() };
        assert_eq!(decode(&encode(&p)).unwrap(), p);
        assert!(decode(b"\xff\xff\xff").is_err());
    }
}
