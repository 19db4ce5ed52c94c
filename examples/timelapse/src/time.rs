//! Times as the service keeps them: whole nanoseconds since the Unix epoch in
//! the database (so two updates within one second get two ETags), RFC 3339
//! with nanoseconds in JSON (a JavaScript number cannot hold the nanosecond
//! count exactly). Written by hand to keep a date crate out of the example.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serializer;

/// `t` as nanoseconds since the epoch; times before it clamp to 0, times past
/// the year 2262 to `i64::MAX` (neither happens to a stored row).
pub fn to_nanos(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// The inverse of [`to_nanos`].
pub fn from_nanos(nanos: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(u64::try_from(nanos).unwrap_or(0))
}

/// A new `updated_at` for a row last changed at `previous`: now, or just
/// after `previous` if the clock has not moved past it (a coarse or stepped
/// clock must not give a changed row its old ETag back).
pub fn next_version(previous: i64) -> i64 {
    to_nanos(SystemTime::now()).max(previous.saturating_add(1))
}

/// `2024-11-24T10:00:00.5Z`: RFC 3339 in UTC, fraction trimmed of trailing
/// zeros and left out when zero.
pub fn rfc3339(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    let mut text = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    );
    let nanos = since.subsec_nanos();
    if nanos != 0 {
        let fraction = format!("{nanos:09}");
        text.push('.');
        text.push_str(fraction.trim_end_matches('0'));
    }
    text.push('Z');
    text
}

/// Serde `serialize_with` for a [`SystemTime`] as [`rfc3339`].
pub fn serialize<S: Serializer>(t: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&rfc3339(*t))
}

/// Serde `serialize_with` for an optional [`SystemTime`] (`null` when absent).
pub fn serialize_option<S: Serializer>(
    t: &Option<SystemTime>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => serialize(t, serializer),
        None => serializer.serialize_none(),
    }
}

/// The proleptic Gregorian date `days` days after 1970-01-01 (Howard
/// Hinnant's `civil_from_days`, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_renders_dates_and_fractions() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(from_nanos(1_732_442_400_500_000_000)),
            "2024-11-24T10:00:00.5Z"
        );
        assert_eq!(
            rfc3339(from_nanos(951_782_400_000_000_001)),
            "2000-02-29T00:00:00.000000001Z"
        );
        assert_eq!(
            rfc3339(from_nanos(4_107_542_399_000_000_000)),
            "2100-02-28T23:59:59Z"
        );
    }

    #[test]
    fn nanos_round_trip() {
        let n = 1_732_442_400_123_456_789;
        assert_eq!(to_nanos(from_nanos(n)), n);
    }

    #[test]
    fn next_version_always_moves_forward() {
        let far_future = i64::MAX - 10;
        assert_eq!(next_version(far_future), far_future + 1);
        assert!(next_version(0) > 0);
    }
}
