//! Canonical requests, strings to sign and SigV4 timestamps.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::{ALGORITHM, Scope};

/// The parts of a request that SigV4 signs, already in canonical form except for the headers.
///
/// Build the text with [`canonical_request`]. The signed-headers list is the set of header names given.
#[derive(Debug, Clone, Copy)]
pub struct CanonicalRequest<'a> {
    /// HTTP method, uppercase (`GET`).
    pub method: &'a str,
    /// Canonical URI: the path URI-encoded once (S3 does not double-encode or normalise), e.g. from
    /// [`encode_object_path`](crate::encode_object_path) or [`canonical_path`](crate::canonical_path).
    pub path: &'a str,
    /// Canonical query string (encoded, sorted; empty when there is none), e.g. from
    /// [`canonical_query`](crate::canonical_query) or [`canonical_query_from_raw`](crate::canonical_query_from_raw).
    pub query: &'a str,
    /// The signed headers as `(name, value)`, in any order. Names should be lowercase (uppercase is
    /// lowered); values are trimmed and runs of spaces collapsed here; a name given several times has
    /// its values joined with `,` in the order given.
    pub headers: &'a [(&'a str, &'a str)],
    /// Hex SHA-256 of the body, or `UNSIGNED-PAYLOAD`, or a `STREAMING-…` marker.
    pub payload_hash: &'a str,
}

impl CanonicalRequest<'_> {
    /// The `SignedHeaders` value: distinct lowercase names, sorted, joined with `;`.
    pub fn signed_headers(&self) -> String {
        let sorted = sorted_headers(self.headers);
        let mut out = String::with_capacity(sorted.len() * 16);
        let mut last: Option<&str> = None;
        for (name, _) in &sorted {
            if last != Some(name.as_ref()) {
                if last.is_some() {
                    out.push(';');
                }
                out.push_str(name);
                last = Some(name.as_ref());
            }
        }
        out
    }
}

fn sorted_headers<'a>(headers: &'a [(&'a str, &'a str)]) -> Vec<(Cow<'a, str>, &'a str)> {
    let mut sorted: Vec<(Cow<'a, str>, &'a str)> = headers
        .iter()
        .map(|(n, v)| {
            let name = if n.bytes().any(|b| b.is_ascii_uppercase()) {
                Cow::Owned(n.to_ascii_lowercase())
            } else {
                Cow::Borrowed(*n)
            };
            (name, *v)
        })
        .collect();
    // Stable: repeated names keep their order.
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    sorted
}

/// Appends `value` trimmed of spaces with inner runs of spaces collapsed to one (S3 touches spaces only).
pub(crate) fn push_normalized_value(out: &mut String, value: &str) {
    let value = value.trim_matches(' ');
    if !value.contains("  ") {
        out.push_str(value);
        return;
    }
    let mut previous_space = false;
    for c in value.chars() {
        if c == ' ' {
            if !previous_space {
                out.push(' ');
            }
            previous_space = true;
        } else {
            out.push(c);
            previous_space = false;
        }
    }
}

/// Writes the canonical request and returns the byte offset just after the first `host:` of the
/// header block (where a host value is, or would be inserted), when a `host` header is signed.
pub(crate) fn write_canonical_request(req: &CanonicalRequest<'_>, out: &mut String) -> Option<usize> {
    let sorted = sorted_headers(req.headers);
    out.reserve(
        req.method.len()
            + req.path.len()
            + req.query.len()
            + req.payload_hash.len()
            + sorted.iter().map(|(n, v)| 2 * n.len() + v.len() + 3).sum::<usize>()
            + 8,
    );
    out.push_str(req.method);
    out.push('\n');
    out.push_str(req.path);
    out.push('\n');
    out.push_str(req.query);
    out.push('\n');
    let mut host_at = None;
    let mut i = 0;
    while let Some((name, value)) = sorted.get(i) {
        out.push_str(name);
        out.push(':');
        if host_at.is_none() && name == "host" {
            host_at = Some(out.len());
        }
        push_normalized_value(out, value);
        i += 1;
        while let Some((_, value)) = sorted.get(i).filter(|(next, _)| next == name) {
            out.push(',');
            push_normalized_value(out, value);
            i += 1;
        }
        out.push('\n');
    }
    out.push('\n');
    let mut last: Option<&str> = None;
    for (name, _) in &sorted {
        if last != Some(name.as_ref()) {
            if last.is_some() {
                out.push(';');
            }
            out.push_str(name);
            last = Some(name.as_ref());
        }
    }
    out.push('\n');
    out.push_str(req.payload_hash);
    host_at
}

/// The canonical request text:
/// `METHOD\nPATH\nQUERY\nname:value\n…\n\nsigned;headers\nPAYLOAD_HASH`.
pub fn canonical_request(req: &CanonicalRequest<'_>) -> String {
    let mut out = String::new();
    write_canonical_request(req, &mut out);
    out
}

/// The string to sign for a canonical request: `AWS4-HMAC-SHA256\nAMZ_DATE\nSCOPE\nhex(SHA256(canonical))`.
pub fn string_to_sign(amz_date: &str, scope: &Scope, canonical_request: &str) -> String {
    string_to_sign_for_hash(amz_date, scope, &Sha256::digest(canonical_request.as_bytes()).into())
}

pub(crate) fn string_to_sign_for_hash(amz_date: &str, scope: &Scope, canonical_hash: &[u8; 32]) -> String {
    let mut sts = String::with_capacity(
        ALGORITHM.len() + amz_date.len() + scope.date.len() + scope.region.len() + scope.service.len() + 96,
    );
    sts.push_str(ALGORITHM);
    sts.push('\n');
    sts.push_str(amz_date);
    sts.push('\n');
    let _ = write!(sts, "{scope}");
    sts.push('\n');
    sts.push_str(&hex::encode(canonical_hash));
    sts
}

/// Formats a time as SigV4's `YYYYMMDDTHHMMSSZ` (UTC). Times outside years 0..=9999 are clamped.
pub fn format_amz_date(t: SystemTime) -> String {
    let t = time::OffsetDateTime::from(t);
    let mut s = String::with_capacity(16);
    let _ = write!(
        s,
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year().clamp(0, 9999),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    s
}

/// Parses SigV4's `YYYYMMDDTHHMMSSZ`; `None` unless it is exactly that shape and a real UTC time.
pub fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b.get(8) != Some(&b'T') || b.get(15) != Some(&b'Z') {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let mut n = 0u32;
        for &d in b.get(range)? {
            if !d.is_ascii_digit() {
                return None;
            }
            n = n * 10 + u32::from(d - b'0');
        }
        Some(n)
    };
    let year = i32::try_from(digits(0..4)?).ok()?;
    let month = time::Month::try_from(u8::try_from(digits(4..6)?).ok()?).ok()?;
    let day = u8::try_from(digits(6..8)?).ok()?;
    let hour = u8::try_from(digits(9..11)?).ok()?;
    let minute = u8::try_from(digits(11..13)?).ok()?;
    let second = u8::try_from(digits(13..15)?).ok()?;
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    let time = time::Time::from_hms(hour, minute, second).ok()?;
    Some(time::PrimitiveDateTime::new(date, time).assume_utc().into())
}

/// Parses an HTTP date in UTC, `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110's preferred form), also with
/// the zone written `UTC`, `+0000` or `-0000` (what Python's `email.utils.formatdate` writes); `None` for
/// anything else. The weekday must be a weekday's name but is not checked against the date, as AWS and
/// s3s do not: a signature binds the time read, whatever the weekday says.
pub fn parse_http_date(s: &str) -> Option<SystemTime> {
    let (stamp, zone) = s.rsplit_once(' ')?;
    if !matches!(zone, "GMT" | "UTC" | "+0000" | "-0000") {
        return None;
    }
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second]"
    );
    let t = time::PrimitiveDateTime::parse(stamp, &format).ok()?;
    Some(t.assume_utc().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn amz_dates_round_trip() {
        let t = UNIX_EPOCH + Duration::from_secs(1_440_938_160);
        assert_eq!(format_amz_date(t), "20150830T123600Z");
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(t));
        assert_eq!(format_amz_date(UNIX_EPOCH), "19700101T000000Z");
        for bad in
            ["20150830T123600", "20150830 123600Z", "20151330T123600Z", "20150230T000000Z", "2015083OT123600Z", ""]
        {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn headers_are_sorted_merged_and_trimmed() {
        let headers = [("My-Header1", " b  c "), ("host", "h"), ("my-header1", "a"), ("x-amz-date", "d")];
        let req = CanonicalRequest { method: "GET", path: "/", query: "", headers: &headers, payload_hash: "p" };
        assert_eq!(
            canonical_request(&req),
            "GET\n/\n\nhost:h\nmy-header1:b c,a\nx-amz-date:d\n\nhost;my-header1;x-amz-date\np"
        );
        assert_eq!(req.signed_headers(), "host;my-header1;x-amz-date");
    }
}
