//! A block: one point's samples in one row, in the order they were stored. Samples are
//! kept this way (not a row per sample with a per-point index) because the index put each
//! sample on its own page: about 10 kB written to storage per stored sample (issue 21).
//!
//! Layout, version 1: a version byte, then per sample
//! - flags (u8): [`VALUE`], [`RAW`], [`TEXT`], [`QUALITY`] (differs from the previous
//!   sample's; the first compares with `good`), [`SAME_VALUE`], [`SAME_RAW`] (as the previous
//!   sample's, not repeated);
//! - the time: zigzag varint of the change in the step from the previous sample (delta of
//!   delta: 0, one byte, for a steady poll); the first sample's time is absolute;
//! - the quality when [`QUALITY`]: varint length + UTF-8;
//! - the value when [`VALUE`] and not [`SAME_VALUE`]: its f64 bits XOR the previous value's
//!   (the first with 0.0) as a byte (zero bytes above << 4 | zero bytes below) and the bytes
//!   between, most significant first (a value read from an f32 register costs 5 bytes);
//! - the registers when [`RAW`] and not [`SAME_RAW`]: varint count + u16s little-endian;
//! - the text when [`TEXT`]: varint length + UTF-8.
//!
//! Decoding checks every length against the blob: a damaged block is an error naming the
//! row, never a panic.

use crate::sample::Sample;

const VERSION: u8 = 1;
const VALUE: u8 = 1;
const RAW: u8 = 2;
const TEXT: u8 = 4;
const QUALITY: u8 = 8;
const SAME_VALUE: u8 = 16;
const SAME_RAW: u8 = 32;

/// One stored sample as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSample {
    pub ts_ms: i64,
    pub value: Option<f64>,
    pub quality: String,
    pub raw: Option<Vec<u16>>,
    pub text: Option<String>,
}

impl StoredSample {
    pub fn from_sample(s: &Sample) -> StoredSample {
        StoredSample {
            ts_ms: s.ts_ms,
            value: s.value,
            quality: s.quality.as_string(),
            raw: s.raw.as_ref().map(|r| r.to_vec()),
            text: s.text.as_deref().map(str::to_string),
        }
    }
}

/// Appends samples of one point to a block.
pub struct Encoder {
    buf: Vec<u8>,
    prev_ts: i64,
    prev_step: i64,
    prev_quality: String,
    prev_value: u64,
    prev_raw: Option<Vec<u16>>,
    pub n: i64,
    pub start_ms: i64,
    pub end_ms: i64,
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder {
            buf: vec![VERSION],
            prev_ts: 0,
            prev_step: 0,
            prev_quality: "good".into(),
            prev_value: 0,
            prev_raw: None,
            n: 0,
            start_ms: i64::MAX,
            end_ms: i64::MIN,
        }
    }
}

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn put_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    put_varint(buf, b.len() as u64);
    buf.extend_from_slice(b);
}

impl Encoder {
    pub fn push(&mut self, ts_ms: i64, value: Option<f64>, quality: &str, raw: Option<&[u16]>, text: Option<&str>) {
        let mut flags = 0;
        let value_bits = value.map(f64::to_bits);
        if let Some(bits) = value_bits {
            flags |= VALUE;
            if bits == self.prev_value {
                flags |= SAME_VALUE;
            }
        }
        if let Some(r) = raw {
            flags |= RAW;
            if self.prev_raw.as_deref() == Some(r) {
                flags |= SAME_RAW;
            }
        }
        if text.is_some() {
            flags |= TEXT;
        }
        if quality != self.prev_quality {
            flags |= QUALITY;
        }
        self.buf.push(flags);
        let step = ts_ms.wrapping_sub(self.prev_ts);
        let dd = step.wrapping_sub(self.prev_step);
        put_varint(&mut self.buf, ((dd << 1) ^ (dd >> 63)) as u64);
        // The first time is absolute, not a step the next one repeats.
        self.prev_step = if self.n == 0 { 0 } else { step };
        if flags & QUALITY != 0 {
            put_bytes(&mut self.buf, quality.as_bytes());
            self.prev_quality = quality.to_string();
        }
        if let Some(bits) = value_bits {
            if flags & SAME_VALUE == 0 {
                let x = bits ^ self.prev_value;
                let (lead, trail) = (x.leading_zeros() / 8, x.trailing_zeros() / 8);
                self.buf.push((lead << 4 | trail) as u8);
                self.buf.extend_from_slice(&x.to_be_bytes()[lead as usize..8 - trail as usize]);
            }
            self.prev_value = bits;
        }
        if let Some(r) = raw {
            if flags & SAME_RAW == 0 {
                put_varint(&mut self.buf, r.len() as u64);
                r.iter().for_each(|w| self.buf.extend_from_slice(&w.to_le_bytes()));
                self.prev_raw = Some(r.to_vec());
            }
        }
        if let Some(t) = text {
            put_bytes(&mut self.buf, t.as_bytes());
        }
        self.prev_ts = ts_ms;
        self.n += 1;
        self.start_ms = self.start_ms.min(ts_ms);
        self.end_ms = self.end_ms.max(ts_ms);
    }

    pub fn push_sample(&mut self, s: &Sample) {
        let q = s.quality.as_string();
        self.push(s.ts_ms, s.value, &q, s.raw.as_deref(), s.text.as_deref());
    }

    pub fn push_stored(&mut self, s: &StoredSample) {
        self.push(s.ts_ms, s.value, &s.quality, s.raw.as_deref(), s.text.as_deref());
    }

    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.b.len());
        let end = end.ok_or_else(|| format!("truncated at byte {} (wanted {n} more)", self.at))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.take(1)?[0];
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(format!("varint longer than 10 bytes at byte {}", self.at))
    }

    fn string(&mut self) -> Result<String, String> {
        let n = self.varint()?;
        let n = usize::try_from(n).map_err(|_| format!("length {n} too large"))?;
        let at = self.at;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| format!("text at byte {at} is not UTF-8"))
    }
}

/// Decode a block; the error says where and why it is damaged.
pub fn decode(b: &[u8]) -> Result<Vec<StoredSample>, String> {
    let mut r = Reader { b, at: 0 };
    let version = r.take(1)?[0];
    if version != VERSION {
        return Err(format!("block version {version} is not known (expected {VERSION})"));
    }
    let (mut ts, mut step, mut quality) = (0i64, 0i64, "good".to_string());
    let (mut value, mut raw): (u64, Option<Vec<u16>>) = (0, None);
    let mut out = Vec::new();
    while r.at < b.len() {
        let flags = r.take(1)?[0];
        if flags & !(VALUE | RAW | TEXT | QUALITY | SAME_VALUE | SAME_RAW) != 0 {
            return Err(format!("unknown flags {flags:#04x} at byte {}", r.at - 1));
        }
        let z = r.varint()?;
        step = step.wrapping_add(((z >> 1) as i64) ^ -((z & 1) as i64));
        ts = ts.wrapping_add(step);
        if out.is_empty() {
            step = 0;
        }
        if flags & QUALITY != 0 {
            quality = r.string()?;
        }
        let v = if flags & VALUE == 0 {
            None
        } else if flags & SAME_VALUE != 0 {
            Some(f64::from_bits(value))
        } else {
            let h = r.take(1)?[0];
            let (lead, trail) = ((h >> 4) as usize, (h & 15) as usize);
            if lead + trail >= 8 {
                return Err(format!("value header {h:#04x} at byte {} is not valid", r.at - 1));
            }
            let mut x = [0u8; 8];
            x[lead..8 - trail].copy_from_slice(r.take(8 - lead - trail)?);
            value ^= u64::from_be_bytes(x);
            Some(f64::from_bits(value))
        };
        let rw = if flags & RAW == 0 {
            None
        } else if flags & SAME_RAW != 0 {
            Some(raw.clone().ok_or_else(|| format!("repeated registers with none before them at byte {}", r.at))?)
        } else {
            let n = r.varint()?;
            let n = usize::try_from(n)
                .ok()
                .filter(|n| *n <= b.len())
                .ok_or_else(|| format!("register count {n} too large"))?;
            let words: Vec<u16> = r.take(n * 2)?.chunks(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
            raw = Some(words.clone());
            Some(words)
        };
        let text = if flags & TEXT != 0 { Some(r.string()?) } else { None };
        out.push(StoredSample { ts_ms: ts, value: v, quality: quality.clone(), raw: rw, text });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn stored() -> impl Strategy<Value = StoredSample> {
        (
            -4_000_000_000_000i64..4_000_000_000_000,
            prop::option::of(prop_oneof![any::<f64>(), Just(1.5), Just(-0.0)]),
            prop_oneof![Just("good".to_string()), Just("comm_error".to_string()), Just("exception_2".to_string())],
            prop::option::of(prop_oneof![prop::collection::vec(any::<u16>(), 0..6), Just(vec![1, 2])]),
            prop::option::of(".{0,12}"),
        )
            .prop_map(|(ts_ms, value, quality, raw, text)| StoredSample { ts_ms, value, quality, raw, text })
    }

    fn same(a: &StoredSample, b: &StoredSample) -> bool {
        a.ts_ms == b.ts_ms
            && a.value.map(f64::to_bits) == b.value.map(f64::to_bits)
            && a.quality == b.quality
            && a.raw == b.raw
            && a.text == b.text
    }

    proptest! {
        #[test]
        fn a_block_gives_back_exactly_what_was_stored(samples in prop::collection::vec(stored(), 0..40)) {
            let mut e = Encoder::default();
            samples.iter().for_each(|s| e.push_stored(s));
            let back = decode(e.bytes()).unwrap();
            prop_assert_eq!(back.len(), samples.len());
            for (a, b) in samples.iter().zip(&back) {
                prop_assert!(same(a, b), "{:?} came back as {:?}", a, b);
            }
        }

        #[test]
        fn a_damaged_block_is_an_error_or_decodes_never_a_panic(
            samples in prop::collection::vec(stored(), 1..10),
            cut in 0usize..400,
            flip in 0usize..400,
        ) {
            let mut e = Encoder::default();
            samples.iter().for_each(|s| e.push_stored(s));
            let mut b = e.bytes().to_vec();
            let i = flip % b.len();
            b[i] ^= 0xa5;
            b.truncate(cut.min(b.len()));
            let _ = decode(&b);
        }
    }

    #[test]
    fn repeated_values_and_registers_are_not_written_again() {
        let mut e = Encoder::default();
        for i in 0..100 {
            e.push(1_700_000_000_000 + i * 100, Some(21.5), "good", Some(&[0x41ac, 0]), None);
        }
        // The first sample carries time, value and registers; each repeat a flag and its
        // time: the second the 100 ms step (a two-byte zigzag varint), the rest no change
        // in the step (one byte). 21.5 is 0x4035800000000000: a header and three bytes.
        let first = 1 + 6 + (1 + 3) + 1 + 4;
        assert_eq!(e.bytes().len(), 1 + first + 3 + 98 * 2, "{}", e.bytes().len());
        assert_eq!((e.n, e.start_ms, e.end_ms), (100, 1_700_000_000_000, 1_700_000_009_900));
        let back = decode(e.bytes()).unwrap();
        assert!(back.iter().all(|s| s.value == Some(21.5) && s.raw.as_deref() == Some(&[0x41ac, 0][..])));
    }

    #[test]
    fn an_unknown_version_or_a_cut_block_names_the_problem() {
        assert!(decode(&[9]).unwrap_err().contains("version 9"));
        let mut e = Encoder::default();
        e.push(5, Some(1.0), "good", None, Some("abc"));
        let b = e.bytes();
        assert!(decode(&b[..b.len() - 1]).unwrap_err().contains("truncated"));
        assert!(decode(&[]).unwrap_err().contains("truncated"));
    }
}
