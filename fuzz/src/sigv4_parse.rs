//! SigV4 request parsing and canonicalisation (`kura-sigv4`).
//!
//! Input: text lines. The first is `METHOD TARGET` (the request line, e.g.
//! `GET /bucket/key?X-Amz-Algorithm=…`), every other one a header `name: value`. Lines http refuses
//! are skipped (a bad request line skips the input): hyper would have refused them before kura sees them.

use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use kura_sigv4::{
    CanonicalRequest, Scope, canonical_path, canonical_query_from_raw, canonical_request, derive_key,
    encode_object_path, encode_query_component, encode_uri_path, parse_amz_date, parse_auth, string_to_sign,
    verify_for_hosts,
};

/// The secret every parsed request is verified with.
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
/// The host names every parsed request is verified against.
const HOSTS: &[&str] = &["localhost:9000", "s3.example.com", "examplebucket.s3.amazonaws.com"];

/// Parses the request's SigV4 data; when it parses, verifies it against [`HOSTS`] with a fixed key.
/// Canonicalises its path and query, and checks that an encoded path is its own canonical form.
pub fn run(data: &[u8]) {
    let Some((method, uri, headers)) = request(data) else { return };
    canonicalise(&uri, &headers);
    if let Ok(Some(parsed)) = parse_auth(&uri, &headers) {
        let _ = format!("{parsed:?}");
        let _ = parsed.expires_at();
        let scope = &parsed.scope;
        let key = derive_key(SECRET, &scope.date, &scope.region, &scope.service);
        let _ = verify_for_hosts(&parsed, &method, &uri, &headers, &key, HOSTS);
    }
}

/// Reads the input format shared with the `gate` target: `METHOD TARGET`, then `name: value` lines
/// (lines http refuses are skipped; `None` when the request line is unusable).
pub fn request(data: &[u8]) -> Option<(Method, Uri, HeaderMap)> {
    let mut lines = data.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let request_line = lines.next()?;
    let (method, target) = match request_line.iter().position(|&b| b == b' ') {
        Some(at) => (&request_line[..at], &request_line[at + 1..]),
        None => (&b"GET"[..], request_line),
    };
    let method = Method::from_bytes(method).ok()?;
    let uri = Uri::try_from(target).ok()?;
    let mut headers = HeaderMap::new();
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
        let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(&line[..colon]), HeaderValue::from_bytes(line[colon + 1..].trim_ascii_start()))
        else {
            continue;
        };
        headers.append(name, value);
    }
    Some((method, uri, headers))
}

/// The pure helpers on every part of the request.
fn canonicalise(uri: &Uri, headers: &HeaderMap) {
    let path = uri.path();
    let query = uri.query().unwrap_or("");
    let canonical = canonical_path(path);
    // An encoded path is already canonical: decoding once and re-encoding gives it back (the empty
    // path, of authority-form targets, is canonically `/`).
    let encoded = encode_uri_path(path);
    if !encoded.is_empty() {
        assert_eq!(canonical_path(&encoded), encoded, "encode_uri_path output is not canonical");
    }
    let _ = encode_query_component(query);
    if let Some((bucket, key)) = path.trim_start_matches('/').split_once('/') {
        let _ = encode_object_path(bucket, key);
    }
    let canonical_query = canonical_query_from_raw(query, false).unwrap_or_default();
    let _ = canonical_query_from_raw(query, true);

    let mut signed: Vec<(&str, &str)> = Vec::new();
    for (name, value) in headers {
        let Ok(text) = value.to_str() else { continue };
        let _ = parse_amz_date(text);
        let _ = Scope::parse_credential(text, "Credential");
        signed.push((name.as_str(), text));
    }
    signed.sort_unstable();
    let req = CanonicalRequest {
        method: "GET",
        path: &canonical,
        query: &canonical_query,
        headers: &signed,
        payload_hash: kura_sigv4::UNSIGNED_PAYLOAD,
    };
    let _ = req.signed_headers();
    let text = canonical_request(&req);
    let _ = string_to_sign("20240101T000000Z", &Scope::new("20240101", "us-east-1", "s3"), &text);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AWS documentation examples in the seed corpus verify with [`SECRET`], so the fuzzer starts
    /// from requests that pass.
    #[test]
    fn the_aws_examples_verify() {
        for name in ["header-get-object", "presigned-get"] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/sigv4_parse").join(name);
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let mut lines = text.lines();
            let target = lines.next().and_then(|l| l.split_once(' ')).map(|(_, t)| t).expect("request line");
            let uri: Uri = target.parse().expect("uri");
            let mut headers = HeaderMap::new();
            for line in lines {
                let (name, value) = line.split_once(':').expect("header");
                headers.append(
                    HeaderName::from_bytes(name.as_bytes()).expect("name"),
                    HeaderValue::from_str(value.trim()).expect("value"),
                );
            }
            let parsed = parse_auth(&uri, &headers).expect("parses").expect("SigV4");
            let key = derive_key(SECRET, &parsed.scope.date, &parsed.scope.region, &parsed.scope.service);
            let host = verify_for_hosts(&parsed, &Method::GET, &uri, &headers, &key, HOSTS);
            assert_eq!(host, Some("examplebucket.s3.amazonaws.com"), "{name}");
        }
    }
}
