//! Dates in an export, and the instants they stand for.
//!
//! An HR date names a calendar day in the mapping's time zone. A hire starts
//! at the first instant of that day and a termination ends at the last second
//! of it. Both come from jiff's zone rules, because the first instant of a
//! day is not 00:00 everywhere and a day is not always 24 hours long.

use jiff::civil::Date;
use jiff::fmt::strtime;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// Reads dates in the mapping's format, or ISO 8601, in the mapping's zone.
#[derive(Debug, Clone)]
pub(super) struct DateReader {
    format: Option<String>,
    zone: TimeZone,
}

/// A sample day used to show the expected format in messages; any date with
/// day and month both above 12 would do.
const SAMPLE: Date = jiff::civil::date(2026, 12, 31);

impl DateReader {
    /// Checks that `format` describes a whole date: formatting a date with it
    /// and reading the result back must give the same date.
    pub(super) fn new(format: Option<String>, zone: TimeZone) -> Result<DateReader, String> {
        if let Some(format) = &format {
            let shown = strtime::format(format.as_str(), SAMPLE).map_err(|_| {
                format!(
                    "date_format \"{format}\" cannot describe a date (use %Y, %m, %d and the like)"
                )
            })?;
            let back = strtime::parse(format.as_str(), &shown).and_then(|t| t.to_date());
            if back.ok() != Some(SAMPLE) {
                return Err(format!(
                    "date_format \"{format}\" does not name a year, a month and a day"
                ));
            }
        }
        Ok(DateReader { format, zone })
    }

    /// The calendar day `text` names: in the mapping's format, as `YYYY-MM-DD`,
    /// or as an RFC 3339 timestamp (whose day is taken in the mapping's zone).
    pub(super) fn parse(&self, text: &str) -> Option<Date> {
        let text = text.trim();
        if let Some(format) = &self.format
            && let Ok(date) = strtime::parse(format.as_str(), text).and_then(|t| t.to_date())
        {
            return Some(date);
        }
        if text.len() == 10 {
            return text.parse::<Date>().ok();
        }
        let instant = text.parse::<Timestamp>().ok()?;
        Some(instant.to_zoned(self.zone.clone()).date())
    }

    /// What a date should look like, for messages.
    pub(super) fn expected(&self) -> String {
        match &self.format {
            Some(format) => {
                let sample = strtime::format(format.as_str(), SAMPLE).unwrap_or_default();
                if sample == SAMPLE.to_string() {
                    "YYYY-MM-DD".to_owned()
                } else {
                    format!("{format} (like {sample}) or YYYY-MM-DD")
                }
            }
            None => "YYYY-MM-DD".to_owned(),
        }
    }

    /// The first instant of `date` in the zone.
    pub(super) fn day_start(&self, date: Date) -> Result<Timestamp, jiff::Error> {
        Ok(date
            .to_zoned(self.zone.clone())?
            .start_of_day()?
            .timestamp())
    }

    /// The last second of `date` in the zone: 23:59:59 local on an ordinary
    /// day. Taken as one second before the next day starts, so that a day
    /// whose clock skips or repeats its last hour still ends where it should.
    pub(super) fn day_end(&self, date: Date) -> Result<Timestamp, jiff::Error> {
        let next = self.day_start(date.tomorrow()?)?;
        next.checked_sub(SignedDuration::from_secs(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(format: Option<&str>, zone: &str) -> DateReader {
        DateReader::new(format.map(str::to_owned), TimeZone::get(zone).unwrap()).unwrap()
    }

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn reads_the_format_and_iso_dates() {
        let r = reader(Some("%m/%d/%Y"), "America/Chicago");
        let day = jiff::civil::date(2026, 12, 14);
        assert_eq!(r.parse("12/14/2026"), Some(day));
        assert_eq!(r.parse(" 2026-12-14 "), Some(day));
        assert_eq!(
            r.parse("2026-12-14T05:00:00Z"),
            Some(jiff::civil::date(2026, 12, 13))
        );
        assert_eq!(r.parse("11/31/2026"), None);
        assert_eq!(r.parse("2026-11-31"), None);
        assert_eq!(r.parse("soon"), None);
        assert_eq!(r.expected(), "%m/%d/%Y (like 12/31/2026) or YYYY-MM-DD");
    }

    #[test]
    fn day_bounds_follow_the_zone() {
        let r = reader(None, "America/Chicago");
        let day = jiff::civil::date(2026, 12, 14);
        assert_eq!(r.day_start(day).unwrap(), ts("2026-12-14T06:00:00Z"));
        assert_eq!(r.day_end(day).unwrap(), ts("2026-12-15T05:59:59Z"));
    }

    #[test]
    fn day_end_on_spring_forward_in_chicago() {
        // 2026-03-08: clocks go from 02:00 CST to 03:00 CDT; the day ends in CDT.
        let r = reader(None, "America/Chicago");
        let day = jiff::civil::date(2026, 3, 8);
        assert_eq!(r.day_start(day).unwrap(), ts("2026-03-08T06:00:00Z"));
        assert_eq!(r.day_end(day).unwrap(), ts("2026-03-09T04:59:59Z"));
    }

    #[test]
    fn day_end_on_fall_back_in_berlin() {
        // 2026-10-25: clocks go from 03:00 CEST back to 02:00 CET; the day
        // starts in CEST and ends in CET, 25 hours later.
        let r = reader(None, "Europe/Berlin");
        let day = jiff::civil::date(2026, 10, 25);
        assert_eq!(r.day_start(day).unwrap(), ts("2026-10-24T22:00:00Z"));
        assert_eq!(r.day_end(day).unwrap(), ts("2026-10-25T22:59:59Z"));
    }

    #[test]
    fn day_starting_after_a_midnight_gap_starts_at_one() {
        // Santiago springs forward at 24:00: 2026-09-06 has no 00:00.
        let r = reader(None, "America/Santiago");
        let day = jiff::civil::date(2026, 9, 6);
        let start = r.day_start(day).unwrap();
        let local = start.to_zoned(TimeZone::get("America/Santiago").unwrap());
        assert_eq!((local.hour(), local.minute()), (1, 0));
        let before = r.day_end(jiff::civil::date(2026, 9, 5)).unwrap();
        assert_eq!(
            before,
            start.checked_sub(SignedDuration::from_secs(1)).unwrap()
        );
    }

    #[test]
    fn formats_without_a_whole_date_are_refused() {
        let zone = TimeZone::get("UTC").unwrap();
        assert!(DateReader::new(Some("%H:%M".into()), zone.clone()).is_err());
        assert!(DateReader::new(Some("%m/%Y".into()), zone.clone()).is_err());
        assert!(DateReader::new(Some("%d.%m.%Y".into()), zone).is_ok());
    }
}
