//! URI encoding exactly as SigV4 requires (RFC 3986 unreserved characters are kept, every other byte is
//! written `%XX` with uppercase hex), and the canonical forms of received paths and query strings.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode, percent_encode};

use crate::{MAX_QUERY_PARAMS, SigV4Error};

/// Everything but `A-Z a-z 0-9 - _ . ~` is encoded.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
/// As [`UNRESERVED`], but `/` is kept (paths).
const UNRESERVED_AND_SLASH: &AsciiSet = &UNRESERVED.remove(b'/');

/// Encodes a URI path for SigV4: every byte except the unreserved characters and `/` becomes `%XX`.
///
/// S3 encodes paths once (no double encoding) and does not normalise `.`/`..` segments or repeated
/// slashes: `encode_uri_path("/b/a b+c")` is `/b/a%20b%2Bc`.
pub fn encode_uri_path(path: &str) -> String {
    percent_encode(path.as_bytes(), UNRESERVED_AND_SLASH).to_string()
}

/// Encodes one query-string name or value for SigV4: every byte except the unreserved characters
/// becomes `%XX` (so `/` is `%2F`, space is `%20`, `+` is `%2B`).
pub fn encode_query_component(component: &str) -> String {
    percent_encode(component.as_bytes(), UNRESERVED).to_string()
}

/// The path-style request path `/bucket/key` for an object, encoded with [`encode_uri_path`] (the `/`
/// separators inside the key are kept). With an empty key it is the bucket's path `/bucket`.
pub fn encode_object_path(bucket: &str, key: &str) -> String {
    let mut p = String::with_capacity(2 + bucket.len() + key.len());
    p.push('/');
    p.extend(percent_encode(bucket.as_bytes(), UNRESERVED));
    if !key.is_empty() {
        p.push('/');
        p.extend(percent_encode(key.as_bytes(), UNRESERVED_AND_SLASH));
    }
    p
}

/// The canonical URI of a received (already encoded) path: decoded once and re-encoded with
/// [`encode_uri_path`]. This is what standard clients sign (`%7e` and `~` both become `~`, a raw `!`
/// becomes `%21`). Clients that sign the path exactly as sent are covered by trying the raw path too
/// (see `verify`).
pub fn canonical_path(raw_path: &str) -> String {
    if raw_path.is_empty() {
        return "/".to_owned();
    }
    let decoded: Vec<u8> = percent_decode(raw_path.as_bytes()).collect();
    percent_encode(&decoded, UNRESERVED_AND_SLASH).to_string()
}

/// The canonical query string for unencoded `(name, value)` pairs: each encoded with
/// [`encode_query_component`], sorted by encoded name then encoded value, joined as `n=v&n=v`.
///
/// Send exactly this string on the wire so that what is signed is what is sent.
pub fn canonical_query(params: &[(&str, &str)]) -> String {
    let mut encoded: Vec<(String, String)> =
        params.iter().map(|(n, v)| (encode_query_component(n), encode_query_component(v))).collect();
    encoded.sort_unstable();
    join_pairs(&encoded)
}

/// The canonical query string of a received raw query (`uri.query()`): each `name[=value]` is decoded
/// (`%XX` and `+` as space, as form decoding does; malformed escapes are kept literally), re-encoded
/// with [`encode_query_component`] and the pairs sorted. Empty pieces (`a=1&&b=2`) are skipped; a
/// name without `=` gets an empty value (`?lifecycle` → `lifecycle=`). `X-Amz-Signature` is left out
/// when `skip_signature` is set (the presigned form).
///
/// # Errors
/// [`SigV4Error::TooManyQueryParameters`] beyond [`MAX_QUERY_PARAMS`] pieces.
pub fn canonical_query_from_raw(raw_query: &str, skip_signature: bool) -> Result<String, SigV4Error> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for piece in raw_query.split('&').filter(|p| !p.is_empty()) {
        if pairs.len() >= MAX_QUERY_PARAMS {
            return Err(SigV4Error::TooManyQueryParameters { max: MAX_QUERY_PARAMS });
        }
        let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
        let name = recode_query_component(name);
        if skip_signature && name == "X-Amz-Signature" {
            continue;
        }
        pairs.push((name, recode_query_component(value)));
    }
    pairs.sort_unstable();
    Ok(join_pairs(&pairs))
}

/// Form-decodes one raw query component (`+` is a space).
pub(crate) fn decode_query_component(raw: &str) -> Vec<u8> {
    if raw.contains('+') {
        let spaced = raw.replace('+', " ");
        percent_decode(spaced.as_bytes()).collect()
    } else {
        percent_decode(raw.as_bytes()).collect()
    }
}

fn recode_query_component(raw: &str) -> String {
    percent_encode(&decode_query_component(raw), UNRESERVED).to_string()
}

fn join_pairs(pairs: &[(String, String)]) -> String {
    let mut q = String::with_capacity(pairs.iter().map(|(n, v)| n.len() + v.len() + 2).sum());
    for (i, (n, v)) in pairs.iter().enumerate() {
        if i > 0 {
            q.push('&');
        }
        q.push_str(n);
        q.push('=');
        q.push_str(v);
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_encoding_keeps_slash_and_unreserved() {
        assert_eq!(encode_uri_path("/b/a b+c~d_e.f-g/ü"), "/b/a%20b%2Bc~d_e.f-g/%C3%BC");
        assert_eq!(encode_object_path("b", "a/b c+d~e"), "/b/a/b%20c%2Bd~e");
        assert_eq!(encode_object_path("b", ""), "/b");
        assert_eq!(encode_query_component("a/b c+=&"), "a%2Fb%20c%2B%3D%26");
    }

    #[test]
    fn canonical_path_decodes_once() {
        assert_eq!(canonical_path("/test%24file.text"), "/test%24file.text");
        assert_eq!(canonical_path("/test$file.text"), "/test%24file.text");
        assert_eq!(canonical_path("/a%7eb%7E"), "/a~b~");
        assert_eq!(canonical_path("/a%2520b"), "/a%2520b");
        assert_eq!(canonical_path(""), "/");
        assert_eq!(canonical_path("/bad%zz"), "/bad%25zz");
    }

    #[test]
    fn canonical_query_sorts_and_recodes() {
        assert_eq!(canonical_query_from_raw("b=2&a=1&&lifecycle", false).unwrap(), "a=1&b=2&lifecycle=");
        assert_eq!(canonical_query_from_raw("k=a+b%2Fc&k=a", false).unwrap(), "k=a&k=a%20b%2Fc");
        assert_eq!(canonical_query_from_raw("X-Amz-Signature=ff&x=1", true).unwrap(), "x=1");
        assert_eq!(canonical_query(&[("Param2", "value2"), ("Param1", "value1")]), "Param1=value1&Param2=value2");
        let many = "a=1&".repeat(MAX_QUERY_PARAMS + 1);
        assert_eq!(
            canonical_query_from_raw(&many, false),
            Err(SigV4Error::TooManyQueryParameters { max: MAX_QUERY_PARAMS })
        );
    }
}
