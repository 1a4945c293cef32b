//! The brute-force rule of docs/api.md §4: after 5 failed logins for one login name within 15 minutes, further attempts
//! are refused for 15 minutes from the 5th failure. Pure, so every instance and backend applies it alike.

use crate::Timestamp;
use time::Duration;

pub const MAX_FAILURES: usize = 5;
pub const WINDOW: Duration = Duration::minutes(15);
pub const LOCKOUT: Duration = Duration::minutes(15);

/// How far back the failures that can still matter go: a window before the oldest lock that can still hold.
pub fn relevant_since(now: Timestamp) -> Timestamp {
    Timestamp::from_datetime(now.as_datetime() - LOCKOUT - WINDOW)
}

/// Until when `failures` (oldest first) lock the name out at `now`, if they do. Failures are counted afresh after
/// each lockout ends.
pub fn locked_until(failures: &[Timestamp], now: Timestamp) -> Option<Timestamp> {
    let mut lock_end: Option<Timestamp> = None;
    for (i, failure) in failures.iter().enumerate() {
        if lock_end.is_some_and(|end| *failure < end) {
            continue; // made while locked: never counted
        }
        let counted_from = lock_end
            .map_or(failure.as_datetime() - WINDOW, |end| (failure.as_datetime() - WINDOW).max(end.as_datetime()));
        let in_window = failures[..=i]
            .iter()
            .filter(|f| f.as_datetime() > counted_from && lock_end.is_none_or(|end| **f >= end))
            .count();
        if in_window >= MAX_FAILURES {
            lock_end = Some(Timestamp::from_datetime(failure.as_datetime() + LOCKOUT));
        }
    }
    lock_end.filter(|end| *end > now)
}

/// Whole seconds until `until`, at least 1: a `Retry-After` value.
pub fn retry_after_secs(until: Timestamp, now: Timestamp) -> u64 {
    let remaining = (until.as_datetime() - now.as_datetime()).whole_milliseconds();
    u64::try_from((remaining + 999) / 1000).unwrap_or(1).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64, seconds: i64) -> Timestamp {
        let base = Timestamp::parse_rfc3339("2026-01-01T00:00:00Z").expect("valid");
        Timestamp::from_datetime(base.as_datetime() + Duration::minutes(minutes) + Duration::seconds(seconds))
    }

    #[test]
    fn four_failures_do_not_lock() {
        let failures = [at(0, 0), at(1, 0), at(2, 0), at(3, 0)];
        assert_eq!(locked_until(&failures, at(3, 1)), None);
    }

    #[test]
    fn the_fifth_failure_within_15_minutes_locks_for_15_minutes_from_it() {
        let failures = [at(0, 0), at(1, 0), at(2, 0), at(3, 0), at(14, 0)];
        assert_eq!(locked_until(&failures, at(14, 1)), Some(at(29, 0)));
        // Still locked after the first failure left the window: the lock runs from the 5th failure.
        assert_eq!(locked_until(&failures, at(28, 59)), Some(at(29, 0)));
        assert_eq!(locked_until(&failures, at(29, 0)), None);
    }

    #[test]
    fn failures_spread_over_more_than_15_minutes_do_not_lock() {
        let failures = [at(0, 0), at(4, 0), at(8, 0), at(12, 0), at(16, 0)];
        assert_eq!(locked_until(&failures, at(16, 1)), None);
    }

    #[test]
    fn counting_starts_afresh_after_a_lockout() {
        let mut failures = vec![at(0, 0), at(0, 1), at(0, 2), at(0, 3), at(0, 4)];
        assert_eq!(locked_until(&failures, at(1, 0)), Some(at(15, 4)));
        failures.extend([at(15, 10), at(15, 20), at(15, 30), at(15, 40)]);
        assert_eq!(locked_until(&failures, at(15, 41)), None, "four new failures after the lock");
        failures.push(at(15, 50));
        assert_eq!(locked_until(&failures, at(15, 51)), Some(at(30, 50)));
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(at(15, 0), at(0, 0)), 900);
        let just_before = Timestamp::from_datetime(at(0, 10).as_datetime() - Duration::milliseconds(1));
        assert_eq!(retry_after_secs(at(0, 10), just_before), 1);
    }
}
