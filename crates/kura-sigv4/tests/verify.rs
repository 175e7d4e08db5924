//! Host-alias verification, tampering, and the parser's refusals.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::header_map;
use http::{HeaderMap, Method, Uri};
use kura_sigv4::*;

const AK: &str = "kura-root";
const SECRET: &str = "kura-secret-key/with+chars";
const PUBLIC: &str = "s3.example.com";
const INTERNAL: &str = "kura.storage.svc.cluster.local:9000";
const LOOPBACK: &str = "127.0.0.1:9000";
const ALIASES: [&str; 3] = [PUBLIC, INTERNAL, LOOPBACK];

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_760_000_000)
}

/// A header-signed request for `host`, built with the crate's own blocks (as kura-bench signs).
fn header_signed(
    method: &str,
    host: &str,
    target: &str,
    extra: &[(&str, &str)],
    token: Option<&str>,
) -> (Method, Uri, HeaderMap) {
    let uri: Uri = target.parse().unwrap();
    let amz_date = format_amz_date(now());
    let scope = Scope::new(&amz_date[..8], "us-east-1", "s3");
    let mut pairs: Vec<(&str, &str)> =
        vec![("host", host), ("x-amz-date", &amz_date), ("x-amz-content-sha256", UNSIGNED_PAYLOAD)];
    if let Some(t) = token {
        pairs.push(("x-amz-security-token", t));
    }
    pairs.extend_from_slice(extra);
    let path = canonical_path(uri.path());
    let query = canonical_query_from_raw(uri.query().unwrap_or(""), false).unwrap();
    let creq = CanonicalRequest { method, path: &path, query: &query, headers: &pairs, payload_hash: UNSIGNED_PAYLOAD };
    let key = derive_key(SECRET, &scope.date, &scope.region, &scope.service);
    let sig = signature(&key, &string_to_sign(&amz_date, &scope, &canonical_request(&creq)));
    let auth =
        format!("AWS4-HMAC-SHA256 Credential={AK}/{scope}, SignedHeaders={}, Signature={sig}", creq.signed_headers());
    pairs.push(("authorization", &auth));
    (Method::from_bytes(method.as_bytes()).unwrap(), uri, header_map(&pairs))
}

fn key_for(parsed: &ParsedAuth) -> SigningKey {
    derive_key(SECRET, &parsed.scope.date, &parsed.scope.region, &parsed.scope.service)
}

fn verify(method: &Method, uri: &Uri, headers: &HeaderMap, hosts: &[&'static str]) -> Option<&'static str> {
    let parsed = parse_auth(uri, headers).unwrap().unwrap();
    verify_for_hosts(&parsed, method, uri, headers, &key_for(&parsed), hosts)
}

/// The server receives a request whose `Host` may be anything (a proxy rewrote it): only the signed
/// name matters.
fn with_received_host(mut headers: HeaderMap, host: &str) -> HeaderMap {
    headers.insert(http::header::HOST, host.parse().unwrap());
    headers
}

#[test]
fn header_form_picks_the_alias_that_was_signed() {
    for signed_for in ALIASES {
        let (m, u, h) =
            header_signed("GET", signed_for, "/bucket/dir/a%20key.txt?versionId=3&x-id=GetObject", &[], None);
        let h = with_received_host(h, "10.0.0.7:9000");
        assert_eq!(verify(&m, &u, &h, &ALIASES), Some(signed_for));
    }
}

#[test]
fn presigned_form_picks_the_alias_that_was_signed() {
    for (endpoint, name) in [
        ("https://s3.example.com", PUBLIC),
        ("http://kura.storage.svc.cluster.local:9000", INTERNAL),
        ("http://127.0.0.1:9000", LOOPBACK),
    ] {
        let mut req = PresignRequest::new("PUT", endpoint, "/uploads/a b+c.bin", "us-east-1", AK, SECRET, now());
        req.session_token = Some("session/token+==");
        req.headers = &[("content-type", "image/png")];
        let url = presign_url(&req).unwrap();
        let uri: Uri = url.parse().unwrap();
        let headers = header_map(&[("host", "whatever:1"), ("content-type", "image/png")]);
        let parsed = parse_auth(&uri, &headers).unwrap().unwrap();
        assert_eq!(parsed.form, SignatureForm::Query);
        assert_eq!(parsed.security_token.as_deref(), Some("session/token+=="));
        assert_eq!(parsed.signed_headers, ["content-type", "host"]);
        assert_eq!(verify(&Method::PUT, &uri, &headers, &ALIASES), Some(name), "{url}");
        // The signed content-type must be sent as signed.
        let other = header_map(&[("content-type", "text/html")]);
        assert_eq!(verify(&Method::PUT, &uri, &other, &ALIASES), None);
        // A signed header that is not sent at all fails too.
        assert_eq!(verify(&Method::PUT, &uri, &HeaderMap::new(), &ALIASES), None);
    }
}

#[test]
fn a_name_outside_the_set_is_refused() {
    let (m, u, h) = header_signed("GET", "evil.example.net", "/bucket/key", &[], None);
    assert_eq!(verify(&m, &u, &h, &ALIASES), None);
    let (m, u, h) = header_signed("GET", "s3.example.com:443", "/bucket/key", &[], None);
    assert_eq!(verify(&m, &u, &h, &ALIASES), None, "a port is part of the name");
    assert_eq!(verify(&m, &u, &h, &[]), None);
}

#[test]
fn tampering_is_refused() {
    let (m, u, h) = header_signed("GET", PUBLIC, "/bucket/key?list-type=2&prefix=a", &[("range", "bytes=0-9")], None);
    assert_eq!(verify(&m, &u, &h, &ALIASES), Some(PUBLIC));

    // Another method, path or query.
    assert_eq!(verify(&Method::DELETE, &u, &h, &ALIASES), None);
    assert_eq!(verify(&m, &"/bucket/key2?list-type=2&prefix=a".parse().unwrap(), &h, &ALIASES), None);
    assert_eq!(verify(&m, &"/bucket/key?list-type=2&prefix=b".parse().unwrap(), &h, &ALIASES), None);
    assert_eq!(verify(&m, &"/bucket/key?list-type=2&prefix=a&extra=1".parse().unwrap(), &h, &ALIASES), None);
    // A signed header changed.
    let mut h2 = h.clone();
    h2.insert("range", "bytes=0-99".parse().unwrap());
    assert_eq!(verify(&m, &u, &h2, &ALIASES), None);
    // Signature changed in one hex digit (same length).
    let auth = h.get("authorization").unwrap().to_str().unwrap();
    let flipped = match auth.strip_suffix('0') {
        Some(rest) => format!("{rest}1"),
        None => format!("{}0", &auth[..auth.len() - 1]),
    };
    let mut h3 = h.clone();
    h3.insert("authorization", flipped.parse().unwrap());
    assert_eq!(verify(&m, &u, &h3, &ALIASES), None);
    // Wrong secret.
    let parsed = parse_auth(&u, &h).unwrap().unwrap();
    let wrong = derive_key("other", &parsed.scope.date, "us-east-1", "s3");
    assert_eq!(verify_for_hosts(&parsed, &m, &u, &h, &wrong, &ALIASES), None);
    // Unsigned headers may change freely.
    let mut h4 = h.clone();
    h4.insert("user-agent", "changed".parse().unwrap());
    assert_eq!(verify(&m, &u, &h4, &ALIASES), Some(PUBLIC));
}

#[test]
fn presigned_tampering_is_refused() {
    let mut req = PresignRequest::new("GET", "https://s3.example.com", "/bucket/key", "us-east-1", AK, SECRET, now());
    req.query = &[("response-content-type", "text/plain")];
    let url = presign_url(&req).unwrap();
    let ok: Uri = url.parse().unwrap();
    let h = HeaderMap::new();
    assert_eq!(verify(&Method::GET, &ok, &h, &ALIASES), Some(PUBLIC));
    for (from, to) in [
        ("X-Amz-Expires=3600", "X-Amz-Expires=7200"),
        ("response-content-type=text%2Fplain", "response-content-type=text%2Fhtml"),
        ("/bucket/key?", "/bucket/other?"),
        ("kura-root", "kura-rooT"),
    ] {
        let tampered: Uri = url.replace(from, to).parse().unwrap();
        assert_ne!(tampered, ok);
        assert_eq!(verify(&Method::GET, &tampered, &h, &ALIASES), None, "{from} -> {to}");
    }
    let added: Uri = format!("{url}&x-id=PutObject").parse().unwrap();
    assert_eq!(verify(&Method::GET, &added, &h, &ALIASES), None);
}

#[test]
fn clients_that_sign_the_raw_path_verify_too() {
    // A client that sends `=` and `@` unencoded and signs the path exactly as sent.
    let raw = "/bucket/a=b@c";
    let amz_date = format_amz_date(now());
    let scope = Scope::new(&amz_date[..8], "us-east-1", "s3");
    let pairs = [("host", PUBLIC), ("x-amz-date", amz_date.as_str()), ("x-amz-content-sha256", EMPTY_SHA256)];
    let creq = CanonicalRequest { method: "GET", path: raw, query: "", headers: &pairs, payload_hash: EMPTY_SHA256 };
    let key = derive_key(SECRET, &scope.date, "us-east-1", "s3");
    let sig = signature(&key, &string_to_sign(&amz_date, &scope, &canonical_request(&creq)));
    let auth =
        format!("AWS4-HMAC-SHA256 Credential={AK}/{scope}, SignedHeaders={}, Signature={sig}", creq.signed_headers());
    let headers =
        header_map(&[("x-amz-date", &amz_date), ("x-amz-content-sha256", EMPTY_SHA256), ("authorization", &auth)]);
    assert_eq!(verify(&Method::GET, &raw.parse().unwrap(), &headers, &ALIASES), Some(PUBLIC));
    // Standard clients sign the encoded form of the same path; both arrive the same way.
    let (m, u, h) = header_signed("GET", INTERNAL, raw, &[], None);
    assert_eq!(verify(&m, &u, &h, &ALIASES), Some(INTERNAL));
}

#[test]
fn streaming_and_session_token_header_form() {
    let (m, u, mut h) = header_signed("PUT", LOOPBACK, "/bucket/key", &[], Some("tok/en=="));
    let parsed = parse_auth(&u, &h).unwrap().unwrap();
    assert_eq!(parsed.security_token.as_deref(), Some("tok/en=="));
    assert_eq!(parsed.payload_hash.as_deref(), Some(UNSIGNED_PAYLOAD));
    assert_eq!(verify(&m, &u, &h, &ALIASES), Some(LOOPBACK));
    // Payload hash is bound: claiming another one breaks the signature.
    h.insert("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD".parse().unwrap());
    assert_eq!(verify(&m, &u, &h, &ALIASES), None);
    // Without x-amz-content-sha256 there is nothing to check against unless the caller says.
    h.remove("x-amz-content-sha256");
    let parsed = parse_auth(&u, &h).unwrap().unwrap();
    assert_eq!(parsed.payload_hash, None);
    assert_eq!(verify_for_hosts(&parsed, &m, &u, &h, &key_for(&parsed), &ALIASES), None);
}

/// A request signed with `Date` as its time and no `x-amz-date`, as botocore signs when its caller sets
/// `Date`: the string to sign carries the time as `YYYYMMDDTHHMMSSZ`; `date` is a signed header.
fn date_signed(date: &str) -> (Method, Uri, HeaderMap) {
    let uri: Uri = "/bucket/key".parse().unwrap();
    let amz_date = format_amz_date(parse_http_date(date).unwrap());
    let scope = Scope::new(&amz_date[..8], "us-east-1", "s3");
    let mut pairs: Vec<(&str, &str)> =
        vec![("date", date), ("host", LOOPBACK), ("x-amz-content-sha256", UNSIGNED_PAYLOAD)];
    let creq = CanonicalRequest {
        method: "PUT",
        path: "/bucket/key",
        query: "",
        headers: &pairs,
        payload_hash: UNSIGNED_PAYLOAD,
    };
    let key = derive_key(SECRET, &scope.date, &scope.region, &scope.service);
    let sig = signature(&key, &string_to_sign(&amz_date, &scope, &canonical_request(&creq)));
    let auth =
        format!("AWS4-HMAC-SHA256 Credential={AK}/{scope}, SignedHeaders={}, Signature={sig}", creq.signed_headers());
    pairs.push(("authorization", &auth));
    (Method::PUT, uri, header_map(&pairs))
}

#[test]
fn date_stands_in_for_a_missing_x_amz_date() {
    // Both spellings of the zone that clients write: RFC 9110's GMT, and Python's -0000.
    for date in ["Fri, 03 Dec 2027 06:10:00 GMT", "Fri, 03 Dec 2027 06:10:00 -0000"] {
        let (m, u, h) = date_signed(date);
        let parsed = parse_auth(&u, &h).unwrap().unwrap();
        assert_eq!(parsed.amz_date, "20271203T061000Z", "{date}");
        assert_eq!(parsed.signed_at, UNIX_EPOCH + Duration::from_secs(1_827_814_200));
        assert_eq!(verify(&m, &u, &h, &ALIASES), Some(LOOPBACK), "{date}");
    }
    // Another time in Date is another string to sign: the signature no longer matches.
    let (m, u, mut h) = date_signed("Fri, 03 Dec 2027 06:10:00 GMT");
    h.insert(http::header::DATE, "Fri, 03 Dec 2027 06:10:01 GMT".parse().unwrap());
    assert_eq!(verify(&m, &u, &h, &ALIASES), None);
    // x-amz-date wins over Date, as on AWS: a request carrying both is read at x-amz-date's time.
    let (_, u, mut h) = date_signed("Fri, 03 Dec 2027 06:10:00 GMT");
    h.insert("x-amz-date", "20271203T061500Z".parse().unwrap());
    assert_eq!(parse_auth(&u, &h).unwrap().unwrap().amz_date, "20271203T061500Z");
    // Two Date headers: the signer and the server could read different ones.
    let (_, u, mut h) = date_signed("Fri, 03 Dec 2027 06:10:00 GMT");
    h.append(http::header::DATE, "Sat, 04 Dec 2027 06:10:00 GMT".parse().unwrap());
    assert_eq!(parse_auth(&u, &h).unwrap_err(), SigV4Error::MissingHeader("date"));
    // Not an HTTP date in UTC: refused with what to send instead, never read as some other time.
    for bad in [
        "Xyz, 03 Dec 2027 06:10:00 GMT",   // no weekday
        "Fri, 03 Dec 2027 06:10:00 +0900", // not UTC
        "Fri, 3 Dec 2027 06:10:00 GMT",    // day of one digit
        "Friday, 03-Dec-27 06:10:00 GMT",  // RFC 850
        "Fri Dec  3 06:10:00 2027",        // asctime
        "20271203T061000Z",
        "",
    ] {
        let (_, u, mut h) = date_signed("Fri, 03 Dec 2027 06:10:00 GMT");
        h.insert(http::header::DATE, bad.parse().unwrap());
        assert_eq!(parse_auth(&u, &h).unwrap_err(), SigV4Error::InvalidHttpDate, "{bad:?}");
    }
    // The weekday is not checked against the date (AWS and s3s do not): the time read is what is signed.
    assert_eq!(parse_http_date("Thu, 03 Dec 2027 06:10:00 GMT"), parse_http_date("Fri, 03 Dec 2027 06:10:00 GMT"));
    // The credential scope's date must still be the request's date.
    let (_, u, mut h) = date_signed("Fri, 03 Dec 2027 06:10:00 GMT");
    h.insert(http::header::DATE, "Sat, 04 Dec 2027 06:10:00 GMT".parse().unwrap());
    assert!(matches!(parse_auth(&u, &h).unwrap_err(), SigV4Error::ScopeDateMismatch { .. }));
}

#[test]
fn not_sigv4_is_none() {
    let uri: Uri = "/bucket/key?versionId=1".parse().unwrap();
    assert_eq!(parse_auth(&uri, &HeaderMap::new()), Ok(None));
    let v2 = header_map(&[("authorization", "AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=")]);
    assert_eq!(parse_auth(&uri, &v2), Ok(None));
    let v2q: Uri = "/b/k?AWSAccessKeyId=AK&Expires=1&Signature=abc".parse().unwrap();
    assert_eq!(parse_auth(&v2q, &HeaderMap::new()), Ok(None));
    let bearer = header_map(&[("authorization", "Bearer eyJ")]);
    assert_eq!(parse_auth(&uri, &bearer), Ok(None));
}

fn header_error(auth: &str, extra: &[(&str, &str)]) -> SigV4Error {
    let mut pairs = vec![("authorization", auth), ("x-amz-date", "20130524T000000Z")];
    pairs.extend_from_slice(extra);
    parse_auth(&"/".parse().unwrap(), &header_map(&pairs)).unwrap_err()
}

const SIG: &str = "fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024";

#[test]
fn malformed_header_form_is_an_error() {
    let good_cred = "AKID/20130524/us-east-1/s3/aws4_request";
    let cases: Vec<(String, SigV4Error)> = vec![
        (
            format!("AWS4-ECDSA-P256-SHA256 Credential={good_cred}, SignedHeaders=host, Signature={SIG}"),
            SigV4Error::UnsupportedAlgorithm("AWS4-ECDSA-P256-SHA256".into()),
        ),
        (
            format!("AWS4-HMAC-SHA256 Credential=AKID/20130524/us-east-1/s3, SignedHeaders=host, Signature={SIG}"),
            SigV4Error::MalformedCredential { field: "Credential" },
        ),
        (
            format!("AWS4-HMAC-SHA256 Credential={good_cred}, Signature={SIG}"),
            SigV4Error::MalformedAuthorization("SignedHeaders is missing"),
        ),
        (
            format!("AWS4-HMAC-SHA256 Credential={good_cred}, SignedHeaders=host, Signature={SIG}, Signature={SIG}"),
            SigV4Error::MalformedAuthorization("a part appears twice"),
        ),
        (
            format!("AWS4-HMAC-SHA256 Credential={good_cred}, SignedHeaders=host, Signature={SIG}, Foo=bar"),
            SigV4Error::MalformedAuthorization("unknown part (expected Credential, SignedHeaders, Signature)"),
        ),
        (
            format!("AWS4-HMAC-SHA256 Credential={good_cred}, SignedHeaders=x-amz-date, Signature={SIG}"),
            SigV4Error::InvalidSignedHeaders("host is not signed"),
        ),
        (
            format!("AWS4-HMAC-SHA256 Credential={good_cred}, SignedHeaders=Host, Signature={SIG}"),
            SigV4Error::InvalidSignedHeaders("names must be lowercase HTTP header names"),
        ),
        (
            format!("AWS4-HMAC-SHA256 Credential={good_cred}, SignedHeaders=host;;x, Signature={SIG}"),
            SigV4Error::InvalidSignedHeaders("empty name"),
        ),
        (
            format!("AWS4-HMAC-SHA256 Credential={good_cred}, SignedHeaders=host;host, Signature={SIG}"),
            SigV4Error::InvalidSignedHeaders("a name is listed twice"),
        ),
        (
            format!("AWS4-HMAC-SHA256 Credential={good_cred}, SignedHeaders=host, Signature={}", SIG.to_uppercase()),
            SigV4Error::InvalidSignature,
        ),
        (
            format!("AWS4-HMAC-SHA256 Credential={good_cred}, SignedHeaders=host, Signature=abc"),
            SigV4Error::InvalidSignature,
        ),
        (
            format!(
                "AWS4-HMAC-SHA256 Credential=AKID/20130525/us-east-1/s3/aws4_request, SignedHeaders=host, Signature={SIG}"
            ),
            SigV4Error::ScopeDateMismatch { scope_date: "20130525".into(), amz_date: "20130524T000000Z".into() },
        ),
    ];
    for (auth, expected) in cases {
        assert_eq!(header_error(&auth, &[]), expected, "{auth}");
    }
    let too_many = (0..=MAX_SIGNED_HEADERS).map(|i| format!("h{i}")).collect::<Vec<_>>().join(";");
    assert_eq!(
        header_error(
            &format!("AWS4-HMAC-SHA256 Credential={good_cred}, SignedHeaders=host;{too_many}, Signature={SIG}"),
            &[]
        ),
        SigV4Error::TooManySignedHeaders { max: MAX_SIGNED_HEADERS }
    );
    // Missing x-amz-date, and no Date to stand in for it.
    let auth = format!("AWS4-HMAC-SHA256 Credential={good_cred}, SignedHeaders=host, Signature={SIG}");
    let err = parse_auth(&"/".parse().unwrap(), &header_map(&[("authorization", &auth)])).unwrap_err();
    assert_eq!(err, SigV4Error::MissingHeader("x-amz-date (or Date)"));
    let err = parse_auth(&"/".parse().unwrap(), &header_map(&[("authorization", &auth), ("x-amz-date", "2013-05-24")]))
        .unwrap_err();
    assert_eq!(err, SigV4Error::InvalidAmzDate("x-amz-date"));
    // Both forms at once.
    let both: Uri = format!("/?X-Amz-Signature={SIG}").parse().unwrap();
    let err =
        parse_auth(&both, &header_map(&[("authorization", &auth), ("x-amz-date", "20130524T000000Z")])).unwrap_err();
    assert_eq!(err, SigV4Error::AmbiguousSignature);
    assert!(err.to_string().contains("not both"));
}

#[test]
fn malformed_query_form_is_an_error() {
    let base = format!(
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
         &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature={SIG}"
    );
    let parse = |q: &str| parse_auth(&format!("/b/k?{q}").parse().unwrap(), &HeaderMap::new());
    assert!(parse(&base).unwrap().is_some());
    let cases = [
        (base.replace("X-Amz-Expires=86400", "X-Amz-Expires=604801"), SigV4Error::InvalidExpires),
        (base.replace("X-Amz-Expires=86400", "X-Amz-Expires=0"), SigV4Error::InvalidExpires),
        (base.replace("X-Amz-Expires=86400", "X-Amz-Expires=-1"), SigV4Error::InvalidExpires),
        (base.replace("X-Amz-Expires=86400", "X-Amz-Expires=99999999999999999999999"), SigV4Error::InvalidExpires),
        (base.replace("X-Amz-Expires=86400&", ""), SigV4Error::MissingParameter("X-Amz-Expires")),
        (base.replace("X-Amz-Algorithm=AWS4-HMAC-SHA256&", ""), SigV4Error::MissingParameter("X-Amz-Algorithm")),
        (base.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1"), SigV4Error::UnsupportedAlgorithm("AWS4-HMAC-SHA1".into())),
        (
            base.replace("%2Faws4_request", "%2Faws5_request"),
            SigV4Error::MalformedCredential { field: "X-Amz-Credential" },
        ),
        (format!("{base}&X-Amz-Date=20130524T000000Z"), SigV4Error::DuplicateParameter("X-Amz-Date")),
        (format!("{base}&X%2DAmz%2DSignature={SIG}"), SigV4Error::DuplicateParameter("X-Amz-Signature")),
        (
            base.replace("X-Amz-Date=20130524T000000Z", "X-Amz-Date=20130524T000000"),
            SigV4Error::InvalidAmzDate("X-Amz-Date"),
        ),
        (
            base.replace("X-Amz-Date=20130524T000000Z", "X-Amz-Date=20130523T000000Z"),
            SigV4Error::ScopeDateMismatch { scope_date: "20130524".into(), amz_date: "20130523T000000Z".into() },
        ),
        (format!("{base}&X-Amz-Security-Token=%FF"), SigV4Error::NotText("X-Amz-Security-Token")),
        (
            format!("{base}{}", "&a=1".repeat(MAX_QUERY_PARAMS)),
            SigV4Error::TooManyQueryParameters { max: MAX_QUERY_PARAMS },
        ),
    ];
    for (q, expected) in cases {
        assert_eq!(parse(&q), Err(expected), "{q}");
    }
}

#[test]
fn errors_say_what_to_fix() {
    assert_eq!(
        SigV4Error::MalformedCredential { field: "X-Amz-Credential" }.to_string(),
        "X-Amz-Credential must be ACCESS_KEY/DATE/REGION/SERVICE/aws4_request"
    );
    assert_eq!(
        SigV4Error::InvalidExpires.to_string(),
        "X-Amz-Expires must be a whole number of seconds from 1 to 604800 (7 days)"
    );
}

#[test]
fn presign_refuses_bad_input() {
    let ok = PresignRequest::new("GET", "https://s3.example.com", "/b/k", "us-east-1", AK, SECRET, now());
    assert!(presign_url(&ok).is_ok());
    let err = |r: PresignRequest<'_>| presign_url(&r).unwrap_err();
    for endpoint in [
        "s3.example.com",
        "ftp://s3.example.com",
        "https://s3.example.com/base",
        "https://u:p@s3.example.com",
        "https://s3.example.com?x=1",
        "https://",
    ] {
        assert!(matches!(err(PresignRequest { endpoint, ..ok }), SigV4Error::InvalidEndpoint(_)), "{endpoint}");
    }
    assert!(matches!(err(PresignRequest { path: "b/k", ..ok }), SigV4Error::InvalidPath(_)));
    assert!(matches!(err(PresignRequest { path: "/b/k?x=1", ..ok }), SigV4Error::InvalidPath(_)));
    assert_eq!(err(PresignRequest { expires_secs: 0, ..ok }), SigV4Error::InvalidExpires);
    assert_eq!(err(PresignRequest { expires_secs: 604_801, ..ok }), SigV4Error::InvalidExpires);
    assert!(matches!(err(PresignRequest { method: "G ET", ..ok }), SigV4Error::InvalidMethod(_)));
    assert!(matches!(err(PresignRequest { headers: &[("host", "x")], ..ok }), SigV4Error::InvalidHeader(_)));
    assert!(matches!(err(PresignRequest { headers: &[("bad name", "x")], ..ok }), SigV4Error::InvalidHeader(_)));
    assert!(matches!(err(PresignRequest { headers: &[("x-a", "line\nbreak")], ..ok }), SigV4Error::InvalidHeader(_)));
    assert!(matches!(err(PresignRequest { query: &[("X-Amz-Expires", "1")], ..ok }), SigV4Error::ReservedParameter(_)));
    assert_eq!(err(PresignRequest { region: "", ..ok }), SigV4Error::InvalidScopePart("region"));
    assert!(!format!("{ok:?}").contains(SECRET), "Debug must redact the secret");
}

#[test]
fn presign_drops_default_ports_and_lowercases_the_host() {
    let at = |endpoint| PresignRequest::new("GET", endpoint, "/b/k", "us-east-1", AK, SECRET, now());
    assert!(presign_url(&at("https://S3.Example.com:443")).unwrap().starts_with("https://s3.example.com/b/k?"));
    assert!(presign_url(&at("http://s3.example.com:80/")).unwrap().starts_with("http://s3.example.com/b/k?"));
    assert!(presign_url(&at("http://127.0.0.1:9000")).unwrap().starts_with("http://127.0.0.1:9000/b/k?"));
    assert!(presign_url(&at("http://[::1]:9000")).unwrap().starts_with("http://[::1]:9000/b/k?"));
    // The scheme is not signed: the same URL verifies over either.
    let https = presign_url(&at("https://s3.example.com")).unwrap();
    let http = presign_url(&at("http://s3.example.com")).unwrap();
    assert_eq!(https.strip_prefix("https"), http.strip_prefix("http"));
}
