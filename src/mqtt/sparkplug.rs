//! Sparkplug B payloads (protobuf). The types are generated at build time by prost-build
//! from Eclipse Tahu's `proto/sparkplug_b.proto`, unchanged (`build.rs`, parsed by protox,
//! so no `protoc` is needed). This module adds what both sides need: numbers out of
//! metrics (signed integers, 64-bit exactness), the `Quality` and `engUnit` properties,
//! topics, and point-name sanitising.

use crate::sample::Quality;
use prost::Message;

/// The generated messages (`org.eclipse.tahu.protobuf`).
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/org.eclipse.tahu.protobuf.rs"));
}

pub use proto::payload::metric::Value;
pub use proto::payload::{property_value, Metric, PropertySet, PropertyValue};
pub use proto::{DataType, Payload};

/// Sparkplug B data types as the `u32` the `datatype` fields carry.
pub mod datatype {
    use super::DataType;
    pub const INT8: u32 = DataType::Int8 as u32;
    pub const INT16: u32 = DataType::Int16 as u32;
    pub const INT32: u32 = DataType::Int32 as u32;
    pub const INT64: u32 = DataType::Int64 as u32;
    pub const UINT8: u32 = DataType::UInt8 as u32;
    pub const UINT16: u32 = DataType::UInt16 as u32;
    pub const UINT32: u32 = DataType::UInt32 as u32;
    pub const UINT64: u32 = DataType::UInt64 as u32;
    pub const FLOAT: u32 = DataType::Float as u32;
    pub const DOUBLE: u32 = DataType::Double as u32;
    pub const BOOLEAN: u32 = DataType::Boolean as u32;
    pub const STRING: u32 = DataType::String as u32;
    pub const DATETIME: u32 = DataType::DateTime as u32;
    pub const TEXT: u32 = DataType::Text as u32;
}

/// Sparkplug's conventional `Quality` property values (OPC DA / Ignition codes).
pub mod quality_code {
    pub const GOOD: i32 = 192;
    pub const BAD: i32 = 0;
    pub const STALE: i32 = 500;
}

/// Integers up to 2^53 in magnitude are exact in an f64.
const EXACT_LIMIT: u64 = 1 << 53;

/// What one metric's value is, as a number.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    /// `is_null`, or the metric's value is absent on purpose.
    Null,
    /// The value, exact (integers up to 2^53 in magnitude, floats, booleans).
    Number(f64),
    /// A 64-bit integer beyond 2^53: `approx` is the nearest f64, `exact` the decimal digits.
    Inexact { approx: f64, exact: String },
}

/// A metric value as a number, or why it is not one. `born` is the datatype the metric had
/// in its birth certificate: data messages should omit the datatype (spec), and signed
/// integers travel in the unsigned fields as two's complement of their width, so without
/// it -13 as an Int16 would read as 4294967283.
pub fn reading(m: &Metric, born: Option<u32>) -> Result<Reading, String> {
    use datatype::*;
    if m.is_null == Some(true) {
        return Ok(Reading::Null);
    }
    let dt = m.datatype.or(born);
    let v = match (&m.value, dt) {
        (None, _) => return Err("metric has no value and is not marked is_null".into()),
        (Some(Value::IntValue(v)), Some(INT8)) => *v as i8 as f64,
        (Some(Value::IntValue(v)), Some(INT16)) => *v as i16 as f64,
        (Some(Value::IntValue(v)), Some(INT32)) => *v as i32 as f64,
        (Some(Value::IntValue(v)), _) => *v as f64,
        (Some(Value::LongValue(v)), Some(INT64)) => {
            let i = *v as i64;
            if i.unsigned_abs() > EXACT_LIMIT {
                return Ok(Reading::Inexact { approx: i as f64, exact: i.to_string() });
            }
            i as f64
        }
        (Some(Value::LongValue(v)), _) => {
            if *v > EXACT_LIMIT {
                return Ok(Reading::Inexact { approx: *v as f64, exact: v.to_string() });
            }
            *v as f64
        }
        (Some(Value::FloatValue(v)), _) => *v as f64,
        (Some(Value::DoubleValue(v)), _) => *v,
        (Some(Value::BooleanValue(b)), _) => f64::from(u8::from(*b)),
        (Some(_), _) => return Err(format!("metric value is not numeric (datatype {})", dt.unwrap_or(0))),
    };
    if v.is_finite() {
        Ok(Reading::Number(v))
    } else {
        Err(format!("metric value {v} is not finite"))
    }
}

/// A property's value by key (keys compared without case: `Quality`, `quality`).
pub fn property<'a>(m: &'a Metric, key: &str) -> Option<&'a PropertyValue> {
    let ps = m.properties.as_ref()?;
    let i = ps.keys.iter().position(|k| k.eq_ignore_ascii_case(key))?;
    ps.values.get(i)
}

/// The `Quality` property as a sample quality: 192-255 good, 500 stale, 64-191 uncertain,
/// anything else bad. `None` when the metric has no such property.
pub fn quality(m: &Metric) -> Option<Quality> {
    let code = match property(m, "Quality")?.value.as_ref()? {
        property_value::Value::IntValue(v) => *v as i32 as i64,
        property_value::Value::LongValue(v) => *v as i64,
        _ => return Some(Quality::Bad),
    };
    Some(match code {
        192..=255 => Quality::Good,
        500 => Quality::Stale,
        64..=191 => Quality::Uncertain,
        _ => Quality::Bad,
    })
}

/// The sample quality as a Sparkplug `Quality` code.
pub fn quality_to_code(q: Quality) -> i32 {
    match q {
        Quality::Good | Quality::Inexact => quality_code::GOOD,
        Quality::Stale => quality_code::STALE,
        Quality::Uncertain => 64,
        _ => quality_code::BAD,
    }
}

/// A property set from (key, value) pairs.
pub fn properties(items: Vec<(&str, PropertyValue)>) -> PropertySet {
    let (keys, values) = items.into_iter().map(|(k, v)| (k.to_string(), v)).unzip();
    PropertySet { keys, values }
}

pub fn prop_string(s: &str) -> PropertyValue {
    PropertyValue {
        r#type: Some(datatype::STRING),
        is_null: None,
        value: Some(property_value::Value::StringValue(s.to_string())),
    }
}

pub fn prop_int32(v: i32) -> PropertyValue {
    PropertyValue {
        r#type: Some(datatype::INT32),
        is_null: None,
        value: Some(property_value::Value::IntValue(v as u32)),
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

    fn m(dt: Option<u32>, v: Value) -> Metric {
        Metric { datatype: dt, value: Some(v), ..Default::default() }
    }

    #[test]
    fn signed_integers_round_trip_through_the_unsigned_fields() {
        let n = |dt, v| reading(&m(Some(dt), v), None).unwrap();
        assert_eq!(n(datatype::INT8, Value::IntValue(-5i8 as u8 as u32)), Reading::Number(-5.0));
        assert_eq!(n(datatype::INT16, Value::IntValue(-300i16 as u16 as u32)), Reading::Number(-300.0));
        assert_eq!(n(datatype::INT32, Value::IntValue(-70000i32 as u32)), Reading::Number(-70000.0));
        assert_eq!(n(datatype::INT64, Value::LongValue(-7i64 as u64)), Reading::Number(-7.0));
        assert_eq!(n(datatype::BOOLEAN, Value::BooleanValue(true)), Reading::Number(1.0));
        assert!(reading(&m(Some(datatype::STRING), Value::StringValue("x".into())), None).is_err());
        let p = Payload {
            seq: Some(3),
            metrics: vec![m(Some(datatype::DOUBLE), Value::DoubleValue(2.5))],
            ..Default::default()
        };
        assert_eq!(decode(&encode(&p)).unwrap(), p);
        assert!(decode(b"\xff\xff\xff").is_err());
    }

    #[test]
    fn data_without_a_datatype_uses_the_birth_datatype() {
        // The case: an Int16 -13 in DDATA without datatype became 4294967283.
        let data = m(None, Value::IntValue(-13i16 as u16 as u32));
        assert_eq!(reading(&data, Some(datatype::INT16)).unwrap(), Reading::Number(-13.0));
        let data = m(None, Value::IntValue(-13i32 as u32));
        assert_eq!(reading(&data, Some(datatype::INT32)).unwrap(), Reading::Number(-13.0));
        let data = m(None, Value::LongValue(-13i64 as u64));
        assert_eq!(reading(&data, Some(datatype::INT64)).unwrap(), Reading::Number(-13.0));
    }

    #[test]
    fn sixty_four_bit_integers_are_exact_or_flagged() {
        let big = (1u64 << 53) + 1;
        assert_eq!(
            reading(&m(Some(datatype::UINT64), Value::LongValue(1 << 53)), None).unwrap(),
            Reading::Number(9007199254740992.0)
        );
        match reading(&m(Some(datatype::UINT64), Value::LongValue(big)), None).unwrap() {
            Reading::Inexact { exact, .. } => assert_eq!(exact, "9007199254740993"),
            r => panic!("{r:?}"),
        }
        match reading(&m(Some(datatype::INT64), Value::LongValue(-(big as i64) as u64)), None).unwrap() {
            Reading::Inexact { exact, .. } => assert_eq!(exact, "-9007199254740993"),
            r => panic!("{r:?}"),
        }
        match reading(&m(Some(datatype::UINT64), Value::LongValue(u64::MAX)), None).unwrap() {
            Reading::Inexact { exact, .. } => assert_eq!(exact, "18446744073709551615"),
            r => panic!("{r:?}"),
        }
    }

    #[test]
    fn quality_property() {
        let mut x = m(Some(datatype::DOUBLE), Value::DoubleValue(1.0));
        assert_eq!(quality(&x), None);
        for (code, q) in [(192, Quality::Good), (500, Quality::Stale), (0, Quality::Bad), (68, Quality::Uncertain)] {
            x.properties = Some(properties(vec![("Quality", prop_int32(code))]));
            assert_eq!(quality(&x), Some(q), "{code}");
        }
    }
}
