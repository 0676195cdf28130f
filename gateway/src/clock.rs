//! Time as a parameter. Expiry, lockout and session rules read the clock
//! through this type, so tests move time instead of sleeping.
//!
//! The offset file exists only for tests of the real binary: its integer
//! content is a number of seconds added to the system time. It is enabled
//! solely by the `SEKISHO_DANGER_CLOCK_OFFSET_FILE` variable and the gateway
//! warns loudly at start-up when it is set.

use std::path::PathBuf;
use std::sync::Arc;
use time::OffsetDateTime;

pub const OFFSET_FILE_ENV: &str = "SEKISHO_DANGER_CLOCK_OFFSET_FILE";

#[derive(Clone)]
pub enum Clock {
    System,
    OffsetFile(Arc<PathBuf>),
    Fixed(OffsetDateTime),
}

impl Clock {
    pub fn from_env() -> Self {
        match std::env::var_os(OFFSET_FILE_ENV) {
            Some(path) => Clock::OffsetFile(Arc::new(PathBuf::from(path))),
            None => Clock::System,
        }
    }

    pub fn is_manipulable(&self) -> bool {
        !matches!(self, Clock::System)
    }

    // The one place that reads the system clock (gateway/clippy.toml bans
    // it everywhere else).
    #[allow(clippy::disallowed_methods)]
    pub fn now(&self) -> OffsetDateTime {
        match self {
            Clock::System => OffsetDateTime::now_utc(),
            Clock::Fixed(t) => *t,
            Clock::OffsetFile(path) => {
                let offset = std::fs::read_to_string(path.as_ref())
                    .ok()
                    .and_then(|s| s.trim().parse::<i64>().ok())
                    .unwrap_or(0);
                OffsetDateTime::now_utc() + time::Duration::seconds(offset)
            }
        }
    }

    /// Milliseconds since the Unix epoch: how times are stored.
    pub fn now_ms(&self) -> i64 {
        to_ms(self.now())
    }
}

pub fn to_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// RFC 3339 in UTC with second precision, as every API answer shows time.
pub fn format_ms(ms: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| ms.to_string())
}

/// A gateway time (RFC 3339, UTC) as people in Japan read it: JST, to the
/// minute. Anything that does not parse is shown as it is.
pub fn jst(text: &str) -> String {
    use time::format_description::well_known::Rfc3339;
    use time::macros::{format_description, offset};
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .and_then(|t| {
            t.to_offset(offset!(+9))
                .format(format_description!("[year]-[month]-[day] [hour]:[minute]"))
                .ok()
        })
        .unwrap_or_else(|| text.to_string())
}

/// Which end of a named day a date means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayEdge {
    /// 00:00:00 JST: "from the 3rd".
    Start,
    /// 23:59:59 JST: "until (or by) the 3rd".
    End,
}

/// A day as a clerk names it: YYYY-MM-DD in Japan, at the `edge` of that
/// day; an RFC 3339 time is taken as it is. `None` when it is neither.
pub fn parse_japan_day(text: &str, edge: DayEdge) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    let text = text.trim();
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(to_ms(t));
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(text, &format).ok()?;
    let at = match edge {
        DayEdge::Start => date.with_hms(0, 0, 0),
        DayEdge::End => date.with_hms(23, 59, 59),
    }
    .ok()?;
    Some(to_ms(at.assume_offset(time::macros::offset!(+9))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_day_is_a_day_in_japan() {
        // 2026-12-03 00:00 JST is 2026-12-02 15:00 UTC.
        let start = parse_japan_day("2026-12-03", DayEdge::Start).unwrap_or_default();
        assert_eq!(format_ms(start), "2026-12-02T15:00:00Z");
        let end = parse_japan_day("2026-12-03", DayEdge::End).unwrap_or_default();
        assert_eq!(format_ms(end), "2026-12-03T14:59:59Z");
        assert_eq!(jst(&format_ms(end)), "2026-12-03 23:59");
        assert!(parse_japan_day("3 December", DayEdge::End).is_none());
        assert!(parse_japan_day("2026-02-30", DayEdge::End).is_none());
    }

    #[test]
    fn formats_utc_seconds() {
        assert_eq!(format_ms(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_ms(1_790_000_000_123), "2026-09-21T14:13:20Z");
    }

    #[test]
    fn fixed_clock_is_fixed() {
        let t = OffsetDateTime::UNIX_EPOCH + time::Duration::days(3);
        let clock = Clock::Fixed(t);
        assert_eq!(clock.now_ms(), 3 * 86_400_000);
    }
}
