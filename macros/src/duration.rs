//! Durations as the attribute's arguments write them: a whole number of seconds
//! (`ttl = 300`) or a string of numbers with units, largest first
//! (`"250ms"`, `"5m"`, `"1h30m"`, `"1d"`), checked when the handler compiles.

use std::time::Duration;

/// The units a duration string may use, largest first, with their length.
const UNITS: [(&str, Duration); 5] = [
    ("d", Duration::from_secs(86_400)),
    ("h", Duration::from_secs(3_600)),
    ("m", Duration::from_secs(60)),
    ("s", Duration::from_secs(1)),
    ("ms", Duration::from_millis(1)),
];

/// Parses a duration string such as `"5m"` or `"1h30m"`. The error is a
/// sentence for the user; the caller spans it at the string literal.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    const EXPECTED: &str =
        "expected a number with a unit (ms, s, m, h or d), as in \"500ms\", \"5m\" or \"1h30m\"";
    if text.is_empty() {
        return Err(format!("empty duration: {EXPECTED}"));
    }
    let mut rest = text;
    let mut total = Duration::ZERO;
    // Index into UNITS of the last unit seen: each later unit must be smaller.
    let mut last: Option<usize> = None;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("invalid duration \"{text}\": {EXPECTED}"));
        }
        let letters = rest[digits..]
            .bytes()
            .take_while(u8::is_ascii_alphabetic)
            .count();
        let (number, unit) = (&rest[..digits], &rest[digits..digits + letters]);
        rest = &rest[digits + letters..];
        if unit.is_empty() {
            return Err(if rest.is_empty() && last.is_none() {
                format!(
                    "duration \"{text}\" has no unit: write {number} (seconds, without quotes) or \"{number}s\""
                )
            } else {
                format!("invalid duration \"{text}\": {EXPECTED}")
            });
        }
        let Some(index) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(format!(
                "unknown unit \"{unit}\" in duration \"{text}\": use ms, s, m, h or d"
            ));
        };
        if last.is_some_and(|last| index <= last) {
            return Err(format!(
                "invalid duration \"{text}\": write each unit once, largest first, as in \"1h30m\""
            ));
        }
        last = Some(index);
        let too_long = || format!("duration \"{text}\" is too long");
        let count: u32 = number.parse().map_err(|_| too_long())?;
        total = UNITS[index]
            .1
            .checked_mul(count)
            .and_then(|part| total.checked_add(part))
            .ok_or_else(too_long)?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn parses_each_unit() {
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("30s"), Ok(secs(30)));
        assert_eq!(parse("5m"), Ok(secs(300)));
        assert_eq!(parse("2h"), Ok(secs(7_200)));
        assert_eq!(parse("1d"), Ok(secs(86_400)));
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn parses_combinations_largest_first() {
        assert_eq!(parse("1h30m"), Ok(secs(5_400)));
        assert_eq!(parse("1d2h3m4s5ms"), Ok(Duration::from_millis(93_784_005)));
        assert_eq!(parse("1m500ms"), Ok(Duration::from_millis(60_500)));
    }

    #[test]
    fn rejects_units_out_of_order_or_repeated() {
        assert!(parse("30m1h").unwrap_err().contains("largest first"));
        assert!(parse("1m1m").unwrap_err().contains("largest first"));
        assert!(parse("1s1m").unwrap_err().contains("largest first"));
    }

    #[test]
    fn rejects_what_is_not_a_duration() {
        assert!(parse("").unwrap_err().starts_with("empty duration"));
        assert!(
            parse("abc")
                .unwrap_err()
                .starts_with("invalid duration \"abc\"")
        );
        assert!(parse("5 m").unwrap_err().starts_with("invalid duration"));
        assert!(parse("-5m").unwrap_err().starts_with("invalid duration"));
        assert!(parse("1.5h").unwrap_err().starts_with("invalid duration"));
        assert!(parse("5m30").unwrap_err().starts_with("invalid duration"));
        assert_eq!(
            parse("5y").unwrap_err(),
            "unknown unit \"y\" in duration \"5y\": use ms, s, m, h or d"
        );
        assert_eq!(
            parse("5minutes").unwrap_err(),
            "unknown unit \"minutes\" in duration \"5minutes\": use ms, s, m, h or d"
        );
    }

    #[test]
    fn a_bare_number_in_a_string_suggests_the_unquoted_form() {
        assert_eq!(
            parse("300").unwrap_err(),
            "duration \"300\" has no unit: write 300 (seconds, without quotes) or \"300s\""
        );
    }

    #[test]
    fn rejects_overflow() {
        assert!(parse("99999999999d").unwrap_err().ends_with("is too long"));
        assert_eq!(parse("4294967295d"), Ok(secs(4_294_967_295 * 86_400)));
    }
}
