//! Times as auditors type them and as the gateway writes them.
//!
//! Auditors think in dates (`2026-04-01`), the API speaks RFC 3339, and
//! every event's `at` is RFC 3339 in UTC with second precision. All three
//! are handled here, with the `time` crate the gateway already uses, so the
//! client and the gateway agree on what a time means. A plain date means
//! 00:00:00 UTC of that day, and a range's end is exclusive, so
//! `--since 2026-04-01 --until 2026-05-01` is exactly April. The yearly
//! report's years are different: the body's years, fiscal (年度) or
//! calendar, begin at midnight Japan time.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, UtcOffset};

/// `2026-04-01` or an RFC 3339 time (any offset), as a UTC instant.
pub fn parse_bound(text: &str) -> Result<OffsetDateTime, String> {
    let text = text.trim();
    let hint = "write a date like 2026-04-01 (00:00 UTC) or a time like 2026-04-01T09:00:00+09:00";
    if text.len() == 10 && !text.contains('T') {
        return Date::parse(text, format_description!("[year]-[month]-[day]"))
            .map(|d| d.midnight().assume_utc())
            .map_err(|_| format!("'{text}' is not a date; {hint}"));
    }
    OffsetDateTime::parse(text, &Rfc3339)
        .map(|t| t.to_offset(UtcOffset::UTC))
        .map_err(|_| format!("'{text}' is not a date or time; {hint}"))
}

/// RFC 3339 in UTC (`...Z`), as the gateway expects it in filters.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Seconds since the Unix epoch of an event's `at`, or `None` when the
/// gateway wrote something that is not a time.
pub fn event_seconds(at: &str) -> Option<i64> {
    OffsetDateTime::parse(at, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}

/// Now, in UTC with second precision, like the gateway's own times.
pub fn now() -> String {
    let t = OffsetDateTime::now_utc();
    rfc3339(t.replace_nanosecond(0).unwrap_or(t))
}

/// Japan Standard Time: the body's year and fiscal year are counted in it.
pub const JST: UtcOffset = match UtcOffset::from_hms(9, 0, 0) {
    Ok(offset) => offset,
    Err(_) => UtcOffset::UTC,
};

/// Which year a yearly report covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum YearKind {
    /// 年度: 1 April to 31 March, Japan time (what 毎年度 in 9.(1) means).
    FiscalYear,
    /// 1 January to 31 December, Japan time.
    CalendarYear,
}

/// The start of `year`'s period and of the next one (exclusive end), at
/// midnight Japan time.
pub fn year_bounds(kind: YearKind, year: i32) -> Result<(OffsetDateTime, OffsetDateTime), String> {
    let month = match kind {
        YearKind::FiscalYear => time::Month::April,
        YearKind::CalendarYear => time::Month::January,
    };
    let start = |y: i32| {
        Date::from_calendar_date(y, month, 1)
            .map(|d| d.midnight().assume_offset(JST))
            .map_err(|_| format!("{year} is not a year Sekisho can report on"))
    };
    Ok((start(year)?, start(year + 1)?))
}

/// The fiscal year (年度) `at` falls in, in Japan time: 2027-03-31 is in
/// fiscal 2026, 2027-04-01 in fiscal 2027.
pub fn fiscal_year_of(at: OffsetDateTime) -> i32 {
    let local = at.to_offset(JST);
    if local.month() >= time::Month::April {
        local.year()
    } else {
        local.year() - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r09_1_a_fiscal_year_runs_april_to_march_in_japan_time() -> Result<(), String> {
        let (since, until) = year_bounds(YearKind::FiscalYear, 2026)?;
        assert_eq!(rfc3339(since), "2026-03-31T15:00:00Z");
        assert_eq!(rfc3339(until), "2027-03-31T15:00:00Z");
        let (since, until) = year_bounds(YearKind::CalendarYear, 2026)?;
        assert_eq!(rfc3339(since), "2025-12-31T15:00:00Z");
        assert_eq!(rfc3339(until), "2026-12-31T15:00:00Z");
        let at = |text: &str| parse_bound(text);
        assert_eq!(fiscal_year_of(at("2027-03-31T14:59:59Z")?), 2026);
        assert_eq!(fiscal_year_of(at("2027-03-31T15:00:00Z")?), 2027);
        assert_eq!(fiscal_year_of(at("2026-12-02T00:00:00Z")?), 2026);
        assert_eq!(fiscal_year_of(at("2026-01-10T00:00:00Z")?), 2025);
        Ok(())
    }

    #[test]
    fn a_date_means_midnight_utc() {
        assert_eq!(
            parse_bound("2026-04-01").map(rfc3339).as_deref(),
            Ok("2026-04-01T00:00:00Z")
        );
    }

    #[test]
    fn other_offsets_become_utc() {
        assert_eq!(
            parse_bound(" 2026-04-01T09:00:00+09:00 ")
                .map(rfc3339)
                .as_deref(),
            Ok("2026-04-01T00:00:00Z")
        );
    }

    #[test]
    fn mistakes_are_refused_with_an_example() {
        for bad in [
            "2026/04/01",
            "2026-13-01",
            "yesterday",
            "2026-04-01T25:00:00Z",
            "",
        ] {
            let err = parse_bound(bad).err().unwrap_or_default();
            assert!(err.contains("2026-04-01"), "{bad}: {err}");
        }
    }

    #[test]
    fn event_times_are_read_to_the_second() {
        assert_eq!(event_seconds("1970-01-01T00:01:00Z"), Some(60));
        assert_eq!(event_seconds("2026-11-25 18:14:03"), None);
    }

    #[test]
    fn a_year_runs_to_the_next_new_year() -> Result<(), String> {
        let (start, end) = year_bounds(YearKind::CalendarYear, 2028)?;
        assert_eq!(rfc3339(start), "2027-12-31T15:00:00Z");
        assert_eq!(rfc3339(end), "2028-12-31T15:00:00Z");
        assert_eq!((end - start).whole_days(), 366);
        Ok(())
    }
}
