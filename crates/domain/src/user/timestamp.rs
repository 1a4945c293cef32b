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
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.microsecond()
        )
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
    }

    #[test]
    fn round_trips_through_unix_micros() {
        let now = Timestamp::now();
        assert_eq!(Timestamp::from_unix_micros(now.unix_micros()), Some(now));
    }
}
