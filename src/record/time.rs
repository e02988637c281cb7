//! Times, formatted at the last moment.

use time::format_description::well_known::Rfc3339;

/// `2026-11-26 14:37:04`: a time for people (UTC), from µs since the epoch.
pub fn short_time(micros: i64) -> String {
    let text = rfc3339(micros);
    text.get(..19).unwrap_or(&text).replace('T', " ")
}

/// RFC 3339 in UTC, from µs since the epoch (empty when out of range).
pub fn rfc3339(micros: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}
