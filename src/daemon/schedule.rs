//! When the daemon re-syncs on its own: `daemon.schedule`, five crontab
//! fields read in `daemon.timezone` (UTC when absent).
//!
//! The arithmetic across daylight-saving changes is croner's, on jiff's
//! zoned times: a fixed time that a spring-forward skips runs once at the
//! first instant after the gap, and a fixed time that a fall-back repeats
//! runs once, at its first occurrence. A schedule with a wildcard or a step
//! in its hour or minute field is an interval: it keeps its pace in real
//! time through the repeated hour rather than leaving a gap.

use jiff::Timestamp;
use jiff::tz::TimeZone;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "daemon.schedule \"{expression}\" is not a valid crontab schedule of five fields (minute hour day-of-month month day-of-week): {message}"
    )]
    InvalidSchedule { expression: String, message: String },
    #[error(
        "daemon.timezone \"{name}\" is not a known IANA time zone (like Europe/Berlin): {message}"
    )]
    UnknownTimeZone { name: String, message: String },
}

/// A parsed `daemon.schedule` in its time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: croner::Cron,
    zone: TimeZone,
    expression: String,
    zone_name: String,
}

impl Schedule {
    /// Parses five crontab fields (minute, hour, day of month, month, day of
    /// week; a day of month and a day of week both given match either, as in
    /// crontab) in the zone named `timezone`, UTC when `None`.
    ///
    /// # Errors
    ///
    /// The expression does not have exactly five valid fields, or the zone
    /// is unknown to the system's time zone database.
    pub fn parse(expression: &str, timezone: Option<&str>) -> Result<Schedule, Error> {
        let parser = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Disallowed)
            .year(croner::parser::Year::Disallowed)
            .build();
        let cron = parser
            .parse(expression)
            .map_err(|error| Error::InvalidSchedule {
                expression: expression.to_owned(),
                message: lowercase_first(&error.to_string()),
            })?;
        let (zone, zone_name) = zone(timezone)?;
        Ok(Schedule {
            cron,
            zone,
            expression: expression.to_owned(),
            zone_name,
        })
    }

    /// Checks a config's `daemon.schedule` and `daemon.timezone`, either of
    /// which may be left out.
    ///
    /// # Errors
    ///
    /// As [`Schedule::parse`].
    pub fn check(expression: Option<&str>, timezone: Option<&str>) -> Result<(), Error> {
        match expression {
            Some(expression) => Schedule::parse(expression, timezone).map(drop),
            None => zone(timezone).map(drop),
        }
    }

    /// The first instant of the schedule strictly after `after`; `None` when
    /// the schedule never fires again (a date that does not come).
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let start = after.to_zoned(self.zone.clone());
        self.cron
            .find_next_occurrence(&start, false)
            .ok()
            .map(|next| next.timestamp())
    }

    pub fn expression(&self) -> &str {
        &self.expression
    }

    pub fn zone_name(&self) -> &str {
        &self.zone_name
    }
}

fn lowercase_first(text: &str) -> String {
    let text = text.trim_end_matches('.');
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The zone named `timezone` and its name; UTC when `None`.
fn zone(timezone: Option<&str>) -> Result<(TimeZone, String), Error> {
    match timezone {
        None => Ok((TimeZone::UTC, "UTC".to_owned())),
        Some(name) => TimeZone::get(name)
            .map(|zone| (zone, name.to_owned()))
            .map_err(|error| Error::UnknownTimeZone {
                name: name.to_owned(),
                message: error.to_string(),
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The next `count` runs after `from`, as UTC RFC 3339 strings.
    fn runs(expression: &str, zone: &str, from: &str, count: usize) -> Vec<String> {
        let schedule = Schedule::parse(expression, Some(zone)).unwrap();
        let mut at: Timestamp = from.parse().unwrap();
        let mut out = Vec::new();
        for _ in 0..count {
            at = schedule.next_after(at).unwrap();
            out.push(at.to_string());
        }
        out
    }

    #[test]
    fn berlin_spring_forward_runs_a_skipped_time_once_after_the_gap() {
        // 2026-03-29: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist.
        assert_eq!(
            runs("30 2 * * *", "Europe/Berlin", "2026-03-27T12:00:00Z", 4),
            [
                "2026-03-28T01:30:00Z", // 02:30 CET
                "2026-03-29T01:00:00Z", // 03:00 CEST, the first instant after the gap
                "2026-03-30T00:30:00Z", // 02:30 CEST
                "2026-03-31T00:30:00Z",
            ]
        );
    }

    #[test]
    fn berlin_fall_back_runs_a_repeated_time_once() {
        // 2026-10-25: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice.
        assert_eq!(
            runs("30 2 * * *", "Europe/Berlin", "2026-10-23T12:00:00Z", 3),
            [
                "2026-10-24T00:30:00Z", // 02:30 CEST
                "2026-10-25T00:30:00Z", // the first 02:30 (CEST) only
                "2026-10-26T01:30:00Z", // 02:30 CET
            ]
        );
    }

    #[test]
    fn berlin_hourly_keeps_its_pace_across_both_changes() {
        // Spring: 01:00 CET, then 03:00 CEST one real hour later.
        assert_eq!(
            runs("0 * * * *", "Europe/Berlin", "2026-03-28T23:30:00Z", 3),
            [
                "2026-03-29T00:00:00Z",
                "2026-03-29T01:00:00Z",
                "2026-03-29T02:00:00Z"
            ]
        );
        // Fall: 02:00 CEST and 02:00 CET are two real hours; both run, an
        // hour apart, and nothing runs twice at one instant.
        assert_eq!(
            runs("0 * * * *", "Europe/Berlin", "2026-10-24T23:30:00Z", 4),
            [
                "2026-10-25T00:00:00Z", // 02:00 CEST
                "2026-10-25T01:00:00Z", // 02:00 CET
                "2026-10-25T02:00:00Z", // 03:00 CET
                "2026-10-25T03:00:00Z",
            ]
        );
    }

    #[test]
    fn new_york_spring_forward_runs_a_skipped_time_once_after_the_gap() {
        // 2026-03-08: 02:00 EST jumps to 03:00 EDT.
        assert_eq!(
            runs("30 2 * * *", "America/New_York", "2026-03-06T12:00:00Z", 3),
            [
                "2026-03-07T07:30:00Z", // 02:30 EST
                "2026-03-08T07:00:00Z", // 03:00 EDT
                "2026-03-09T06:30:00Z", // 02:30 EDT
            ]
        );
        assert_eq!(
            runs("0 * * * *", "America/New_York", "2026-03-08T05:30:00Z", 3),
            [
                "2026-03-08T06:00:00Z", // 01:00 EST
                "2026-03-08T07:00:00Z", // 03:00 EDT
                "2026-03-08T08:00:00Z",
            ]
        );
    }

    #[test]
    fn new_york_fall_back_runs_a_repeated_time_once() {
        // 2026-11-01: 02:00 EDT falls back to 01:00 EST; 01:30 happens twice.
        assert_eq!(
            runs("30 1 * * *", "America/New_York", "2026-10-30T12:00:00Z", 3),
            [
                "2026-10-31T05:30:00Z", // 01:30 EDT
                "2026-11-01T05:30:00Z", // the first 01:30 (EDT) only
                "2026-11-02T06:30:00Z", // 01:30 EST
            ]
        );
        // 02:30 exists once that day (EST), and runs once.
        assert_eq!(
            runs("30 2 * * *", "America/New_York", "2026-10-31T12:00:00Z", 2),
            ["2026-11-01T07:30:00Z", "2026-11-02T07:30:00Z"]
        );
        assert_eq!(
            runs("0 * * * *", "America/New_York", "2026-11-01T04:30:00Z", 3),
            [
                "2026-11-01T05:00:00Z", // 01:00 EDT
                "2026-11-01T06:00:00Z", // 01:00 EST
                "2026-11-01T07:00:00Z", // 02:00 EST
            ]
        );
    }

    #[test]
    fn every_fifteen_minutes_in_utc_by_default() {
        let schedule = Schedule::parse("*/15 * * * *", None).unwrap();
        assert_eq!(schedule.zone_name(), "UTC");
        let at: Timestamp = "2026-12-04T10:07:12Z".parse().unwrap();
        assert_eq!(
            schedule.next_after(at).unwrap().to_string(),
            "2026-12-04T10:15:00Z"
        );
        // Strictly after: an instant on the schedule moves to the next one.
        let on: Timestamp = "2026-12-04T10:15:00Z".parse().unwrap();
        assert_eq!(
            schedule.next_after(on).unwrap().to_string(),
            "2026-12-04T10:30:00Z"
        );
    }

    #[test]
    fn day_of_month_and_day_of_week_match_either_as_in_crontab() {
        // The 1st of the month or any Monday, at 06:00 UTC.
        let schedule = Schedule::parse("0 6 1 * MON", None).unwrap();
        let at: Timestamp = "2026-12-01T07:00:00Z".parse().unwrap();
        assert_eq!(
            schedule.next_after(at).unwrap().to_string(),
            "2026-12-07T06:00:00Z"
        );
    }

    #[test]
    fn six_fields_are_refused() {
        let error = Schedule::parse("0 */15 * * * *", None).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("daemon.schedule \"0 */15 * * * *\""),
            "{error}"
        );
    }

    #[test]
    fn an_unknown_zone_is_refused() {
        let error = Schedule::parse("0 * * * *", Some("Europe/Berlinn")).unwrap_err();
        assert!(error.to_string().contains("Europe/Berlinn"), "{error}");
    }
}
