//! The unit of data that flows from sources through the pipeline: one value of one point.

use serde::Serialize;
use std::sync::Arc;

/// A point's full id, `<source id>.<point id>`, e.g. `dga1.c2h2`.
pub type PointId = Arc<str>;

/// How far a value can be trusted. Diagnostics only use `Good` samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Quality {
    /// Read successfully and decoded to a finite number.
    Good,
    /// The device did not answer, or the link failed; the value is absent.
    CommError,
    /// The device answered with a Modbus exception code.
    Exception(u8),
    /// The registers decoded to a value that is not a finite number (e.g. NaN).
    DecodeError,
    /// The value lies outside the point's configured `valid_min`..`valid_max`.
    OutOfRange,
    /// The publisher is gone (a Sparkplug NDEATH/DDEATH) or marked the value stale: the last
    /// value is no longer current; the value is absent.
    Stale,
    /// The publisher marked the value uncertain (Sparkplug `Quality` 64-191).
    Uncertain,
    /// The publisher marked the value bad (Sparkplug `Quality` below 64).
    Bad,
    /// A 64-bit integer beyond 2^53: `value` is the nearest f64, `text` the exact digits.
    /// Not good, so no diagnostic uses the rounded number.
    Inexact,
}

impl Quality {
    pub fn is_good(self) -> bool {
        matches!(self, Quality::Good)
    }

    /// Stable text form used in the store and the API.
    pub fn as_string(self) -> String {
        match self {
            Quality::Good => "good".into(),
            Quality::CommError => "comm_error".into(),
            Quality::Exception(code) => format!("exception:{code:02x}"),
            Quality::DecodeError => "decode_error".into(),
            Quality::OutOfRange => "out_of_range".into(),
            Quality::Stale => "stale".into(),
            Quality::Uncertain => "uncertain".into(),
            Quality::Bad => "bad".into(),
            Quality::Inexact => "inexact".into(),
        }
    }
}

/// One value of one point at one time.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The registers (or bits) the value was decoded from, when it came from Modbus.
    pub raw: Option<Arc<[u16]>>,
    /// The value of a text point (e.g. a Modbus string); `value` is then `None`.
    pub text: Option<Arc<str>>,
    pub point: PointId,
    /// Unix time in ms of the poll (or of the source's own timestamp).
    pub ts_ms: i64,
    /// `None` when quality is not good (except `Inexact`: the nearest f64).
    pub value: Option<f64>,
    pub quality: Quality,
}

impl Sample {
    pub fn good(point: PointId, ts_ms: i64, value: f64) -> Self {
        if value.is_finite() {
            Sample { point, ts_ms, value: Some(value), quality: Quality::Good, raw: None, text: None }
        } else {
            Sample::bad(point, ts_ms, Quality::DecodeError)
        }
    }

    pub fn bad(point: PointId, ts_ms: i64, quality: Quality) -> Self {
        Sample { point, ts_ms, value: None, quality, raw: None, text: None }
    }

    /// A good sample of a text point.
    pub fn text(point: PointId, ts_ms: i64, text: &str) -> Self {
        Sample { text: Some(text.into()), ..Sample::bad(point, ts_ms, Quality::Good) }
    }

    /// Attach the raw registers the value came from.
    pub fn with_raw(mut self, raw: &[u16]) -> Self {
        self.raw = Some(raw.into());
        self
    }
}

/// Samples kept per role: the largest window a criterion or model may ask for (model
/// manifests are validated against it). History beyond that is in the store. At 1 Hz the
/// windows are full after about a minute, after which their memory stays constant.
pub const WINDOW_CAPACITY: usize = 64;
