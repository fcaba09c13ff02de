//! Register decoding: Modbus registers (big-endian 16-bit words) to engineering values.

use crate::config::{DataType, WordOrder};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("{data_type:?} needs {needed} registers, got {got}")]
    TooFewRegisters { data_type: DataType, needed: usize, got: usize },
}

/// Decode the raw value (before scale and offset).
pub fn decode_raw(regs: &[u16], data_type: DataType, order: WordOrder) -> Result<f64, DecodeError> {
    let needed = data_type.registers() as usize;
    if regs.len() < needed {
        return Err(DecodeError::TooFewRegisters { data_type, needed, got: regs.len() });
    }
    let u32_of = || -> u32 {
        let (hi, lo) = match order {
            WordOrder::Big => (regs[0], regs[1]),
            WordOrder::Little => (regs[1], regs[0]),
        };
        ((hi as u32) << 16) | lo as u32
    };
    Ok(match data_type {
        DataType::U16 => regs[0] as f64,
        DataType::I16 => regs[0] as i16 as f64,
        DataType::U32 => u32_of() as f64,
        DataType::I32 => u32_of() as i32 as f64,
        DataType::F32 => f32::from_bits(u32_of()) as f64,
    })
}

/// Decode and apply `value = raw * scale + offset`.
pub fn decode(
    regs: &[u16],
    data_type: DataType,
    order: WordOrder,
    scale: f64,
    offset: f64,
) -> Result<f64, DecodeError> {
    decode_raw(regs, data_type, order).map(|raw| raw * scale + offset)
}

/// The inverse of [`decode_raw`], used by the simulator to serve values.
pub fn encode_raw(value: f64, data_type: DataType, order: WordOrder) -> Vec<u16> {
    let split = |bits: u32| -> Vec<u16> {
        let (hi, lo) = ((bits >> 16) as u16, bits as u16);
        match order {
            WordOrder::Big => vec![hi, lo],
            WordOrder::Little => vec![lo, hi],
        }
    };
    match data_type {
        DataType::U16 => vec![value.round().clamp(0.0, u16::MAX as f64) as u16],
        DataType::I16 => vec![value.round().clamp(i16::MIN as f64, i16::MAX as f64) as i16 as u16],
        DataType::U32 => split(value.round().clamp(0.0, u32::MAX as f64) as u32),
        DataType::I32 => split(value.round().clamp(i32::MIN as f64, i32::MAX as f64) as i32 as u32),
        DataType::F32 => split((value as f32).to_bits()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DataType::*;
    use WordOrder::*;

    #[test]
    fn every_type_and_word_order() {
        // (registers, type, order, expected raw value)
        let cases: &[(&[u16], DataType, WordOrder, f64)] = &[
            (&[0x0000], U16, Big, 0.0),
            (&[0xFFFF], U16, Big, 65535.0),
            (&[0x1234], U16, Little, 4660.0), // word order does not apply to one register
            (&[0xFFFF], I16, Big, -1.0),
            (&[0x8000], I16, Big, -32768.0),
            (&[0x7FFF], I16, Big, 32767.0),
            (&[0x0001, 0x0002], U32, Big, 65538.0),
            (&[0x0002, 0x0001], U32, Little, 65538.0),
            (&[0xFFFF, 0xFFFF], U32, Big, 4294967295.0),
            (&[0xFFFF, 0xFFFE], I32, Big, -2.0),
            (&[0xFFFE, 0xFFFF], I32, Little, -2.0),
            (&[0x8000, 0x0000], I32, Big, -2147483648.0),
            (&[0x4048, 0xF5C3], F32, Big, 3.14_f32 as f64),    // ABCD
            (&[0xF5C3, 0x4048], F32, Little, 3.14_f32 as f64), // CDAB
            (&[0xC2C8, 0x0000], F32, Big, -100.0),
        ];
        for (regs, t, o, want) in cases {
            let got = decode_raw(regs, *t, *o).unwrap();
            assert_eq!(got, *want, "{regs:04x?} as {t:?} {o:?}");
        }
    }

    #[test]
    fn scale_and_offset_apply_after_decoding() {
        // 0.1 degC per count, signed: 0xFF9C = -100 -> -10.0
        let v = decode(&[0xFF9C], I16, Big, 0.1, 0.0).unwrap();
        assert!((v + 10.0).abs() < 1e-12);
        let v = decode(&[500], U16, Big, 2.0, -40.0).unwrap();
        assert_eq!(v, 960.0);
    }

    #[test]
    fn nan_decodes_as_nan_for_the_caller_to_reject() {
        assert!(decode_raw(&[0x7FC0, 0x0000], F32, Big).unwrap().is_nan());
    }

    #[test]
    fn short_reads_are_errors_not_panics() {
        assert_eq!(decode_raw(&[1], F32, Big), Err(DecodeError::TooFewRegisters { data_type: F32, needed: 2, got: 1 }));
        assert!(decode_raw(&[], U16, Big).is_err());
    }

    #[test]
    fn encode_round_trips_every_type_and_order() {
        for t in [U16, I16, U32, I32, F32] {
            for o in [Big, Little] {
                for v in [0.0, 1.0, 123.0, 30000.0] {
                    let regs = encode_raw(v, t, o);
                    assert_eq!(regs.len(), t.registers() as usize);
                    assert_eq!(decode_raw(&regs, t, o).unwrap(), v, "{t:?} {o:?} {v}");
                }
            }
        }
        assert_eq!(decode_raw(&encode_raw(-5.0, I16, Big), I16, Big).unwrap(), -5.0);
        assert_eq!(decode_raw(&encode_raw(-70000.0, I32, Little), I32, Little).unwrap(), -70000.0);
    }
}
