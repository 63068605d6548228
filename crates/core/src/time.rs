//! Time is an input to the core, never read from a clock inside it: every
//! event carries the instant it occurred, and the writer's envelope carries
//! when it was recorded. Timestamps are kept as the exact text the actor
//! signed (so canonical bytes never depend on re-formatting) together with
//! the parsed instant, which is what rules and metrics use.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{kind} {text:?} is invalid: {reason}")]
pub struct TimeError {
    pub kind: &'static str,
    pub text: String,
    pub reason: &'static str,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = if year >= 0 { year } else { year - 399 } / 400;
    let year_of_era = year - era * 400;
    let month = month as i64;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day as i64 - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

fn digits(text: &[u8]) -> Option<u32> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    text.iter().try_fold(0u32, |value, &digit| value.checked_mul(10)?.checked_add((digit - b'0') as u32))
}

/// Parses `YYYY-MM-DD` into days since the Unix epoch.
fn parse_date(kind: &'static str, text: &str) -> Result<i64, TimeError> {
    let fail = |reason| TimeError { kind, text: text.to_string(), reason };
    let bytes = text.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return Err(fail("expected YYYY-MM-DD"));
    }
    let year = digits(&bytes[0..4]).ok_or_else(|| fail("year must be four digits"))? as i64;
    let month = digits(&bytes[5..7]).ok_or_else(|| fail("month must be two digits"))?;
    let day = digits(&bytes[8..10]).ok_or_else(|| fail("day must be two digits"))?;
    if !(1..=12).contains(&month) {
        return Err(fail("month must be 01 to 12"));
    }
    if day == 0 || day > days_in_month(year, month) {
        return Err(fail("no such day in that month"));
    }
    if year < 1970 {
        return Err(fail("dates before 1970 are not accepted"));
    }
    Ok(days_from_civil(year, month, day))
}

/// A calendar date, `YYYY-MM-DD` (e.g. the date a NAV is reported as of).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Date {
    text: String,
    days_since_epoch: i64,
}

impl Date {
    pub fn parse(text: &str) -> Result<Date, TimeError> {
        let days_since_epoch = parse_date("date", text)?;
        Ok(Date { text: text.to_string(), days_since_epoch })
    }
    pub fn as_str(&self) -> &str {
        &self.text
    }
    pub fn days_since_epoch(&self) -> i64 {
        self.days_since_epoch
    }
}

impl PartialOrd for Date {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Date {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.days_since_epoch.cmp(&other.days_since_epoch)
    }
}

/// An instant in UTC, `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (RFC 3339, `Z` only,
/// fraction of 1 to 9 digits).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Timestamp {
    text: String,
    unix_nanos: i128,
}

impl Timestamp {
    pub fn parse(text: &str) -> Result<Timestamp, TimeError> {
        let fail = |reason| TimeError { kind: "timestamp", text: text.to_string(), reason };
        let bytes = text.as_bytes();
        if bytes.len() < 20 || bytes[10] != b'T' || !text.ends_with('Z') {
            return Err(fail("expected YYYY-MM-DDTHH:MM:SSZ (UTC, with a 'Z')"));
        }
        let days = parse_date("timestamp", &text[..10])?;
        if bytes[13] != b':' || bytes[16] != b':' {
            return Err(fail("expected HH:MM:SS"));
        }
        let hour = digits(&bytes[11..13]).ok_or_else(|| fail("hour must be two digits"))?;
        let minute = digits(&bytes[14..16]).ok_or_else(|| fail("minute must be two digits"))?;
        let second = digits(&bytes[17..19]).ok_or_else(|| fail("second must be two digits"))?;
        if hour > 23 || minute > 59 || second > 59 {
            return Err(fail("time of day out of range"));
        }
        let rest = &bytes[19..bytes.len() - 1];
        let nanos = match rest {
            [] => 0,
            [b'.', fraction @ ..] if (1..=9).contains(&fraction.len()) => {
                let value = digits(fraction).ok_or_else(|| fail("fraction must be digits"))?;
                value as i128 * 10i128.pow(9 - fraction.len() as u32)
            }
            _ => return Err(fail("fraction of a second must be '.' and 1 to 9 digits")),
        };
        let seconds = days as i128 * 86_400 + hour as i128 * 3600 + minute as i128 * 60 + second as i128;
        Ok(Timestamp { text: text.to_string(), unix_nanos: seconds * 1_000_000_000 + nanos })
    }

    /// Formats a Unix time in milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`;
    /// the shell uses it to stamp what it reads from the clock.
    pub fn from_unix_millis(unix_millis: i64) -> Timestamp {
        let days = unix_millis.div_euclid(86_400_000);
        let millis_of_day = unix_millis.rem_euclid(86_400_000);
        let (year, month, day) = civil_from_days(days);
        let text = format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
            millis_of_day / 3_600_000,
            millis_of_day / 60_000 % 60,
            millis_of_day / 1000 % 60,
            millis_of_day % 1000
        );
        Timestamp { text, unix_nanos: unix_millis as i128 * 1_000_000 }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
    pub fn unix_nanos(&self) -> i128 {
        self.unix_nanos
    }
    pub fn days_since_epoch(&self) -> i64 {
        (self.unix_nanos.div_euclid(86_400 * 1_000_000_000)) as i64
    }
    /// The calendar day (UTC) of this instant.
    pub fn date(&self) -> Date {
        let days = self.days_since_epoch();
        let (year, month, day) = civil_from_days(days);
        Date { text: format!("{year:04}-{month:02}-{day:02}"), days_since_epoch: days }
    }
}

/// Inverse of [`days_from_civil`].
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + if month <= 2 { 1 } else { 0 };
    (year, month, day)
}

impl PartialOrd for Timestamp {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timestamp {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.unix_nanos.cmp(&other.unix_nanos).then_with(|| self.text.cmp(&other.text))
    }
}

macro_rules! text_serde {
    ($name:ident, $pattern:literal, $description:literal) => {
        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str(self.as_str())
            }
        }
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                $name::parse(&text).map_err(serde::de::Error::custom)
            }
        }
        impl std::str::FromStr for $name {
            type Err = TimeError;
            fn from_str(text: &str) -> Result<Self, TimeError> {
                $name::parse(text)
            }
        }
        impl schemars::JsonSchema for $name {
            fn schema_name() -> String {
                stringify!($name).to_string()
            }
            fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
                let mut schema = schemars::schema::SchemaObject { instance_type: Some(schemars::schema::InstanceType::String.into()), ..Default::default() };
                schema.string().pattern = Some($pattern.to_string());
                schema.metadata().description = Some($description.to_string());
                schema.into()
            }
        }
    };
}

text_serde!(Date, "^[0-9]{4}-[0-9]{2}-[0-9]{2}$", "A calendar date, YYYY-MM-DD.");
text_serde!(Timestamp, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?Z$", "An instant in UTC, RFC 3339 with a 'Z'.");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_orders_instants() {
        let a = Timestamp::parse("2026-01-31T09:30:00Z").unwrap();
        let b = Timestamp::parse("2026-01-31T09:30:00.5Z").unwrap();
        assert!(a < b);
        assert_eq!(a.days_since_epoch(), days_from_civil(2026, 1, 31));
        for bad in ["2026-02-30T00:00:00Z", "2026-01-31 09:30:00Z", "2026-01-31T09:30:00+08:00", "2026-01-31T24:00:00Z", "2026-01-31T09:30:00.Z"] {
            assert!(Timestamp::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn round_trips_civil_dates() {
        for days in [-1000, 0, 1, 59, 60, 365, 11_016, 20_000, 50_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(Timestamp::from_unix_millis(0).as_str(), "1970-01-01T00:00:00.000Z");
        let t = Timestamp::from_unix_millis(1_790_000_000_123);
        assert_eq!(Timestamp::parse(t.as_str()).unwrap(), t);
    }

    #[test]
    fn dates_check_the_calendar() {
        assert!(Date::parse("2024-02-29").is_ok());
        assert!(Date::parse("2025-02-29").is_err());
        assert!(Date::parse("2025-13-01").is_err());
    }
}

/// The default tolerance for an event's `occurred_at` ahead of the writer's clock.
pub const OCCURRED_AT_SKEW_MS_DEFAULT: u64 = 5 * 60 * 1000;

/// An event dated later than the clock allows.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("occurred_at {occurred_at} is {ahead_ms} ms after the writer's clock ({now}); at most {skew_ms} ms ahead is accepted (backdated events are fine)")]
pub struct InFuture {
    pub occurred_at: String,
    pub now: String,
    pub ahead_ms: i128,
    pub skew_ms: u64,
}

/// Refuses `occurred_at` later than `now` plus `skew_ms`; any earlier time,
/// however far back, passes. Pure: the shell reads the clock and passes `now`.
pub fn check_not_in_future(occurred_at: &Timestamp, now: &Timestamp, skew_ms: u64) -> Result<(), InFuture> {
    let ahead_nanos = occurred_at.unix_nanos() - now.unix_nanos();
    if ahead_nanos <= skew_ms as i128 * 1_000_000 {
        return Ok(());
    }
    Err(InFuture { occurred_at: occurred_at.as_str().to_string(), now: now.as_str().to_string(), ahead_ms: ahead_nanos / 1_000_000, skew_ms })
}

#[cfg(test)]
mod future_tests {
    use super::*;

    #[test]
    fn occurred_at_may_be_backdated_but_not_beyond_the_skew_ahead() {
        let now = Timestamp::parse("2026-06-01T12:00:00Z").expect("valid");
        let at = |text: &str| Timestamp::parse(text).expect("valid");
        assert!(check_not_in_future(&at("2001-01-01T00:00:00Z"), &now, 0).is_ok());
        assert!(check_not_in_future(&at("2026-06-01T12:05:00Z"), &now, 300_000).is_ok());
        let error = check_not_in_future(&at("2026-06-01T12:05:00.001Z"), &now, 300_000).expect_err("1 ms over");
        assert_eq!(error.ahead_ms, 300_001);
        let error = check_not_in_future(&at("9999-12-31T23:59:59Z"), &now, 300_000).expect_err("far future");
        assert!(error.to_string().contains("9999-12-31T23:59:59Z") && error.to_string().contains("300000 ms"), "{error}");
    }
}
