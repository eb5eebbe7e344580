//! Time as the farm records it: Unix seconds in the control store, readable UTC in mail.

use time::OffsetDateTime;

/// Now, in Unix seconds.
pub fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// A Unix time as people read it in mail and on the portal: `2026-11-26 15:00 UTC`.
pub fn format_time(unix: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    OffsetDateTime::from_unix_timestamp(unix).ok().and_then(|t| t.format(&format).ok()).unwrap_or_default()
}

/// An RFC 3339 time (`2026-01-31T12:00:00Z`) as Unix seconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok().map(|t| t.unix_timestamp())
}

/// A Unix time as RFC 3339, as the API answers.
pub fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// A duration as seconds for arithmetic on Unix times (saturating: no configured duration
/// overflows a time).
pub fn duration_secs(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX / 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_utc() {
        assert_eq!(format_time(1_764_169_200), "2025-11-26 15:00 UTC");
        assert_eq!(duration_secs(std::time::Duration::from_secs(90)), 90);
        assert_eq!(parse_rfc3339("2025-11-26T15:00:00Z"), Some(1_764_169_200));
        assert_eq!(rfc3339(1_764_169_200), "2025-11-26T15:00:00Z");
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
