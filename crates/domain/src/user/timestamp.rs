use std::fmt;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// A UTC instant truncated to microseconds: the precision every backend keeps, so every read returns the same value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    pub fn now() -> Self {
        Self::from_datetime(OffsetDateTime::now_utc())
    }

    pub fn from_datetime(at: OffsetDateTime) -> Self {
        let at = at.to_offset(UtcOffset::UTC);
        let micros = at.microsecond();
        // Truncation to microseconds cannot fail: the value is always a valid nanosecond count.
        Self(at.replace_nanosecond(micros * 1_000).unwrap_or(at))
    }

    /// Microseconds since the Unix epoch: how the SQL backends store it.
    pub fn unix_micros(self) -> i64 {
        let nanos = self.0.unix_timestamp_nanos() / 1_000;
        i64::try_from(nanos).unwrap_or(i64::MAX)
    }

    pub fn from_unix_micros(micros: i64) -> Option<Self> {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000).ok().map(Self)
    }

    pub fn as_datetime(self) -> OffsetDateTime {
        self.0
    }
}

/// RFC 3339 in UTC with exactly six fraction digits and `Z`: `2026-01-02T03:04:05.123456Z`.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        let Ok(year @ 0..=9999) = u32::try_from(t.year()) else {
            return write!(
                f,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second(),
                t.microsecond()
            );
        };
        // Every user in every answer carries two or three of these: digits written straight into a buffer cost a
        // fraction of `write!`'s padded integer formatting.
        let mut text = *b"0000-00-00T00:00:00.000000Z";
        let fields = [
            (0..4, year),
            (5..7, u32::from(u8::from(t.month()))),
            (8..10, u32::from(t.day())),
            (11..13, u32::from(t.hour())),
            (14..16, u32::from(t.minute())),
            (17..19, u32::from(t.second())),
            (20..26, t.microsecond()),
        ];
        for (place, mut value) in fields {
            for digit in text[place].iter_mut().rev() {
                *digit = b'0' + (value % 10) as u8;
                value /= 10;
            }
        }
        f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
    }
}

impl Timestamp {
    /// Parses any RFC 3339 instant (used by tests and adapters that store text).
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        OffsetDateTime::parse(s, &Rfc3339).ok().map(Self::from_datetime)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_fraction_digits_and_z() {
        let at = Timestamp::parse_rfc3339("2026-01-02T04:04:05.123456789+01:00").expect("valid");
        assert_eq!(at.to_string(), "2026-01-02T03:04:05.123456Z");
        let whole = Timestamp::parse_rfc3339("2026-01-02T03:04:05Z").expect("valid");
        assert_eq!(whole.to_string(), "2026-01-02T03:04:05.000000Z");
        let last = Timestamp::parse_rfc3339("9999-12-31T23:59:59.999999Z").expect("valid");
        assert_eq!(last.to_string(), "9999-12-31T23:59:59.999999Z");
        let first = Timestamp::parse_rfc3339("0001-01-01T00:00:00.000001Z").expect("valid");
        assert_eq!(first.to_string(), "0001-01-01T00:00:00.000001Z");
    }

    #[test]
    fn every_instant_prints_as_rfc_3339_parses_it() {
        // Steps of a prime number of microseconds over 1970–2100 reach every digit in every field.
        let mut micros: i64 = 0;
        while micros < 4_102_444_800_000_000 {
            let at = Timestamp::from_unix_micros(micros).expect("in range");
            assert_eq!(Timestamp::parse_rfc3339(&at.to_string()), Some(at), "{at}");
            micros += 7_919_000_003;
        }
    }

    #[test]
    fn round_trips_through_unix_micros() {
        let now = Timestamp::now();
        assert_eq!(Timestamp::from_unix_micros(now.unix_micros()), Some(now));
    }
}
