//! Register decoding: Modbus registers (16-bit words, each sent high byte first) to
//! engineering values, for every type and byte order.
//!
//! Byte orders name the order of the value's bytes as they arrive, A being the most
//! significant: `ABCD` big-endian (the Modbus default), `CDAB` words swapped, `BADC` bytes
//! swapped within each word, `DCBA` little-endian. For 64-bit values the same rule extends
//! to four words (`CDAB` reverses the word order, `BADC` swaps bytes within words). For
//! 16-bit values only the byte swap (`BADC`, `DCBA`) applies.

use crate::config::{ByteOrder, DataType};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("{data_type:?} needs {needed} registers, got {got}")]
    TooFewRegisters { data_type: DataType, needed: usize, got: usize },
    #[error("bit {bit} does not exist in a 16-bit register")]
    NoSuchBit { bit: u8 },
}

/// The value's bytes, most significant first, from up to four registers in `order`
/// (no allocation: this runs for every polled point).
fn bytes_of(regs: &[u16], order: ByteOrder) -> [u8; 8] {
    let swap_words = matches!(order, ByteOrder::CDAB | ByteOrder::DCBA);
    let swap_bytes = matches!(order, ByteOrder::BADC | ByteOrder::DCBA);
    let n = regs.len().min(4);
    let mut out = [0u8; 8];
    for k in 0..n {
        let w = if swap_words { regs[n - 1 - k] } else { regs[k] };
        let [hi, lo] = w.to_be_bytes();
        (out[2 * k], out[2 * k + 1]) = if swap_bytes { (lo, hi) } else { (hi, lo) };
    }
    out
}

/// Decode the raw value (before scale and offset). `bit` selects a bit of a register for
/// `DataType::Bit`; for coils and discrete inputs the caller passes the bit as a register
/// holding 0 or 1.
pub fn decode_raw(regs: &[u16], data_type: DataType, order: ByteOrder, bit: Option<u8>) -> Result<f64, DecodeError> {
    let needed = data_type.registers() as usize;
    if regs.len() < needed {
        return Err(DecodeError::TooFewRegisters { data_type, needed, got: regs.len() });
    }
    let b = bytes_of(&regs[..needed], order);
    Ok(match data_type {
        DataType::Bit => match bit {
            None => (regs[0] != 0) as u8 as f64,
            Some(n) if n < 16 => ((regs[0] >> n) & 1) as f64,
            Some(n) => return Err(DecodeError::NoSuchBit { bit: n }),
        },
        DataType::U16 => u16::from_be_bytes([b[0], b[1]]) as f64,
        DataType::I16 => i16::from_be_bytes([b[0], b[1]]) as f64,
        DataType::U32 => u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as f64,
        DataType::I32 => i32::from_be_bytes([b[0], b[1], b[2], b[3]]) as f64,
        DataType::F32 => f32::from_be_bytes([b[0], b[1], b[2], b[3]]) as f64,
        DataType::U64 => u64::from_be_bytes(b) as f64,
        DataType::I64 => i64::from_be_bytes(b) as f64,
        DataType::F64 => f64::from_be_bytes(b),
        DataType::String => f64::NAN, // text: see decode_text
    })
}

/// ASCII text from registers, two characters each, high byte first (`ABCD`) or low byte
/// first (`BADC`); ends at the first NUL, trailing spaces trimmed.
pub fn decode_text(regs: &[u16], order: ByteOrder) -> String {
    let swap = matches!(order, ByteOrder::BADC | ByteOrder::DCBA);
    let bytes: Vec<u8> = regs
        .iter()
        .flat_map(|w| {
            let [hi, lo] = w.to_be_bytes();
            if swap {
                [lo, hi]
            } else {
                [hi, lo]
            }
        })
        .take_while(|b| *b != 0)
        .collect();
    String::from_utf8_lossy(&bytes).trim_end().to_string()
}

/// Decode and apply `value = raw * scale + offset`.
pub fn decode(
    regs: &[u16],
    data_type: DataType,
    order: ByteOrder,
    bit: Option<u8>,
    scale: f64,
    offset: f64,
) -> Result<f64, DecodeError> {
    decode_raw(regs, data_type, order, bit).map(|raw| raw * scale + offset)
}

/// The inverse of [`decode_raw`] (for whole registers), used by the simulator and tests.
pub fn encode_raw(value: f64, data_type: DataType, order: ByteOrder) -> Vec<u16> {
    let be: Vec<u8> = match data_type {
        DataType::Bit => return vec![(value != 0.0) as u16],
        DataType::U16 => (value.round().clamp(0.0, u16::MAX as f64) as u16).to_be_bytes().to_vec(),
        DataType::I16 => (value.round().clamp(i16::MIN as f64, i16::MAX as f64) as i16).to_be_bytes().to_vec(),
        DataType::U32 => (value.round().clamp(0.0, u32::MAX as f64) as u32).to_be_bytes().to_vec(),
        DataType::I32 => (value.round().clamp(i32::MIN as f64, i32::MAX as f64) as i32).to_be_bytes().to_vec(),
        DataType::F32 => (value as f32).to_be_bytes().to_vec(),
        DataType::U64 => (value.round().max(0.0) as u64).to_be_bytes().to_vec(),
        DataType::I64 => (value.round() as i64).to_be_bytes().to_vec(),
        DataType::F64 => value.to_be_bytes().to_vec(),
        DataType::String => return vec![],
    };
    // Lay the big-endian bytes out as ABCD words, then apply the order (its own inverse).
    let abcd: Vec<u16> = be.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
    let bytes = bytes_of(&abcd, order);
    bytes[..be.len()].chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ByteOrder::*;
    use DataType::*;

    #[test]
    // 0x4048F5C3 is the f32 nearest 3.14: a register test vector, not an approximation of PI.
    #[allow(clippy::approx_constant)]
    fn every_type_and_byte_order() {
        // (registers, type, order, expected raw value)
        let cases: &[(&[u16], DataType, ByteOrder, f64)] = &[
            (&[0x0000], U16, ABCD, 0.0),
            (&[0xFFFF], U16, ABCD, 65535.0),
            (&[0x1234], U16, CDAB, 4660.0), // no words to swap
            (&[0x3412], U16, BADC, 4660.0),
            (&[0x3412], U16, DCBA, 4660.0),
            (&[0xFFFF], I16, ABCD, -1.0),
            (&[0x8000], I16, ABCD, -32768.0),
            (&[0x0080], I16, DCBA, -32768.0),
            (&[0x7FFF], I16, ABCD, 32767.0),
            (&[0x0001, 0x0002], U32, ABCD, 65538.0),
            (&[0x0002, 0x0001], U32, CDAB, 65538.0),
            (&[0x0100, 0x0200], U32, BADC, 65538.0),
            (&[0x0200, 0x0100], U32, DCBA, 65538.0),
            (&[0xFFFF, 0xFFFF], U32, ABCD, 4294967295.0),
            (&[0xFFFF, 0xFFFE], I32, ABCD, -2.0),
            (&[0xFFFE, 0xFFFF], I32, CDAB, -2.0),
            (&[0x8000, 0x0000], I32, ABCD, -2147483648.0),
            (&[0x4048, 0xF5C3], F32, ABCD, 3.14_f32 as f64),
            (&[0xF5C3, 0x4048], F32, CDAB, 3.14_f32 as f64),
            (&[0x4840, 0xC3F5], F32, BADC, 3.14_f32 as f64),
            (&[0xC3F5, 0x4840], F32, DCBA, 3.14_f32 as f64),
            (&[0xC2C8, 0x0000], F32, ABCD, -100.0),
            (&[0x0000, 0x0000, 0x0000, 0x002A], U64, ABCD, 42.0),
            (&[0x002A, 0x0000, 0x0000, 0x0000], U64, CDAB, 42.0),
            (&[0x0000, 0x0000, 0x0000, 0x2A00], U64, BADC, 42.0),
            (&[0x2A00, 0x0000, 0x0000, 0x0000], U64, DCBA, 42.0),
            (&[0xFFFF, 0xFFFF, 0xFFFF, 0xFFD6], I64, ABCD, -42.0),
            (&[0x4009, 0x21FB, 0x5444, 0x2D18], F64, ABCD, std::f64::consts::PI),
            (&[0x2D18, 0x5444, 0x21FB, 0x4009], F64, CDAB, std::f64::consts::PI),
            (&[0x182D, 0x4454, 0xFB21, 0x0940], F64, DCBA, std::f64::consts::PI),
        ];
        for (regs, t, o, want) in cases {
            let got = decode_raw(regs, *t, *o, None).unwrap();
            assert_eq!(got, *want, "{regs:04x?} as {t:?} {o:?}");
        }
    }

    #[test]
    fn text_in_both_byte_orders() {
        assert_eq!(decode_text(&[0x4544, 0x4745, 0x2D31, 0x0000], ByteOrder::ABCD), "EDGE-1");
        assert_eq!(decode_text(&[0x4445, 0x4547, 0x312D, 0x2000], ByteOrder::BADC), "EDGE-1");
        assert_eq!(decode_text(&[0x4142, 0x2020], ByteOrder::ABCD), "AB");
        assert_eq!(decode_text(&[], ByteOrder::ABCD), "");
        assert_eq!(decode_text(&[0xFFFE], ByteOrder::ABCD), "\u{FFFD}\u{FFFD}");
    }

    #[test]
    fn bits_of_registers_and_coils() {
        assert_eq!(decode_raw(&[0b1010], Bit, ABCD, Some(1)).unwrap(), 1.0);
        assert_eq!(decode_raw(&[0b1010], Bit, ABCD, Some(2)).unwrap(), 0.0);
        assert_eq!(decode_raw(&[0x8000], Bit, ABCD, Some(15)).unwrap(), 1.0);
        assert_eq!(decode_raw(&[1], Bit, ABCD, None).unwrap(), 1.0);
        assert_eq!(decode_raw(&[0], Bit, ABCD, None).unwrap(), 0.0);
        assert_eq!(decode_raw(&[1], Bit, ABCD, Some(16)), Err(DecodeError::NoSuchBit { bit: 16 }));
    }

    #[test]
    fn scale_and_offset_apply_after_decoding() {
        let v = decode(&[0xFF9C], I16, ABCD, None, 0.1, 0.0).unwrap();
        assert!((v + 10.0).abs() < 1e-12);
        assert_eq!(decode(&[500], U16, ABCD, None, 2.0, -40.0).unwrap(), 960.0);
    }

    #[test]
    fn nan_decodes_as_nan_for_the_caller_to_reject() {
        assert!(decode_raw(&[0x7FC0, 0x0000], F32, ABCD, None).unwrap().is_nan());
    }

    #[test]
    fn short_reads_are_errors_not_panics() {
        assert_eq!(
            decode_raw(&[1], F32, ABCD, None),
            Err(DecodeError::TooFewRegisters { data_type: F32, needed: 2, got: 1 })
        );
        assert!(decode_raw(&[], U16, ABCD, None).is_err());
        assert!(decode_raw(&[1, 2, 3], F64, DCBA, None).is_err());
    }

    #[test]
    fn encode_round_trips_every_type_and_order() {
        for t in [U16, I16, U32, I32, F32, U64, I64, F64] {
            for o in [ABCD, BADC, CDAB, DCBA] {
                for v in [0.0, 1.0, 123.0, 30000.0] {
                    let regs = encode_raw(v, t, o);
                    assert_eq!(regs.len(), t.registers() as usize);
                    assert_eq!(decode_raw(&regs, t, o, None).unwrap(), v, "{t:?} {o:?} {v}");
                }
            }
        }
        for (t, v) in [(I16, -5.0), (I32, -70000.0), (I64, -5e12), (F64, -1.5e-300), (F32, -2.5)] {
            for o in [ABCD, BADC, CDAB, DCBA] {
                assert_eq!(decode_raw(&encode_raw(v, t, o), t, o, None).unwrap(), v, "{t:?} {o:?}");
            }
        }
    }
}
