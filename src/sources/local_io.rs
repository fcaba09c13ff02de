//! Local I/O of the gateway: a temperature sensor on the gateway's own I2C bus, read through
//! the embedded-hal 1.0 `I2c` trait (linux-embedded-hal's `I2cdev` on the gateway), and
//! turned into samples like any other source.

use crate::sample::{PointId, Quality, Sample};
use embedded_hal::i2c::I2c;

/// TI TMP102 (and pin-compatible parts): the temperature register (0x00) holds a 12-bit
/// two's complement value, 0.0625 °C per count, left-aligned in two bytes.
pub struct Tmp102<I> {
    i2c: I,
    address: u8,
}

impl<I: I2c> Tmp102<I> {
    pub const TEMPERATURE_REGISTER: u8 = 0x00;

    pub fn new(i2c: I, address: u8) -> Self {
        Tmp102 { i2c, address }
    }

    /// One reading in °C.
    pub fn read_celsius(&mut self) -> Result<f64, I::Error> {
        let mut buf = [0u8; 2];
        self.i2c.write_read(self.address, &[Self::TEMPERATURE_REGISTER], &mut buf)?;
        Ok((i16::from_be_bytes(buf) >> 4) as f64 * 0.0625)
    }

    /// One reading as a sample of `point`: good, or `comm_error` when the bus fails.
    pub fn sample(&mut self, point: &PointId, ts_ms: i64) -> Sample {
        match self.read_celsius() {
            Ok(t) => Sample::good(point.clone(), ts_ms, t),
            Err(e) => {
                tracing::warn!(point = %point, address = format!("0x{:02x}", self.address), error = ?e, "I2C sensor read failed");
                Sample::bad(point.clone(), ts_ms, Quality::CommError)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal::i2c::ErrorKind;
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction};

    #[test]
    fn temperatures_across_the_range_and_a_failing_bus() {
        // Datasheet examples: 0x7FF0 = 127.9375 °C, 0x1900 = 25 °C, 0x0010 = 0.0625 °C,
        // 0xFFF0 = -0.0625 °C, 0xE700 = -25 °C, 0xC900 = -55 °C.
        let cases = [
            ([0x7F, 0xF0], 127.9375),
            ([0x19, 0x00], 25.0),
            ([0x00, 0x10], 0.0625),
            ([0xFF, 0xF0], -0.0625),
            ([0xE7, 0x00], -25.0),
            ([0xC9, 0x00], -55.0),
        ];
        let mut expectations: Vec<Transaction> =
            cases.iter().map(|(b, _)| Transaction::write_read(0x48, vec![0x00], b.to_vec())).collect();
        expectations.push(
            Transaction::write_read(0x48, vec![0x00], vec![0, 0])
                .with_error(ErrorKind::NoAcknowledge(embedded_hal::i2c::NoAcknowledgeSource::Address)),
        );
        let mut i2c = Mock::new(&expectations);
        let mut sensor = Tmp102::new(i2c.clone(), 0x48);
        for (_, want) in cases {
            assert_eq!(sensor.read_celsius().unwrap(), want);
        }
        let point: PointId = "cabinet.temperature".into();
        let s = sensor.sample(&point, 7);
        assert_eq!((s.quality, s.value, s.ts_ms), (Quality::CommError, None, 7));
        i2c.done();
    }
}
