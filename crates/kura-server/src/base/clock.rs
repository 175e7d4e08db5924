//! The clocks kura keeps: Unix seconds for sessions and tickets, milliseconds for objects, and the
//! ISO 8601 form STS prints.

/// Seconds since the Unix epoch for a time (0 before it): the clock of sessions and tickets.
pub fn unix_secs(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Now, in Unix seconds.
pub fn unix_now() -> u64 {
    unix_secs(std::time::SystemTime::now())
}

/// Now, in ms since the epoch.
pub fn now_ms() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Unix seconds as ISO 8601 UTC (`2026-11-24T10:00:00Z`), as STS prints times.
pub fn iso8601(secs: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap_or(i64::MAX))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}
