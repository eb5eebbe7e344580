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
    }
}
