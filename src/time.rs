//! Wall-clock helpers. Every timestamp inside edgecite is Unix time in milliseconds (UTC).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_millis() as i64
}

/// The last millisecond RFC 3339 can write (9999-12-31T23:59:59.999Z).
pub const MAX_MS: i64 = 253_402_300_800_000 - 1;

/// Whether a timestamp from outside can be stored and rendered: 1970 to the end of 9999.
/// Sources refuse others as malformed (`bad_timestamp`), naming the value.
pub fn in_range(ms: i64) -> bool {
    (0..=MAX_MS).contains(&ms)
}

/// RFC 3339 rendering with millisecond precision, e.g. `2026-11-22T07:44:05.123Z`.
/// Total: times outside [`in_range`] are clamped to its ends (humantime's formatter
/// returns an error past year 9999, which `to_string` turns into a panic).
pub fn rfc3339(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(ms.clamp(0, MAX_MS) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_ordinary_times() {
        assert_eq!(rfc3339(1_767_225_600_123), "2026-01-01T00:00:00.123Z");
        assert_eq!(rfc3339(-5), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn year_10000_and_beyond_never_panic() {
        // Issue 13 item 2: `{"ts":253402300800000}` (10000-01-01) panicked in humantime.
        assert_eq!(rfc3339(253_402_300_800_000), "9999-12-31T23:59:59.999Z");
        assert_eq!(rfc3339(i64::MAX), "9999-12-31T23:59:59.999Z");
        assert_eq!(rfc3339(MAX_MS), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn plausible_range() {
        assert!(in_range(0) && in_range(MAX_MS));
        assert!(!in_range(-1) && !in_range(MAX_MS + 1));
    }
}
