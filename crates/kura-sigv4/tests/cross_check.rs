//! Property tests: for random S3-shaped requests, kura-sigv4 agrees with `aws-sigv4` (the AWS SDK's
//! signer) byte for byte, and verifies what `aws-sigv4` signs, in both forms.
#![allow(clippy::unwrap_used)]

mod common;

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
    UriPathNormalizationMode, sign,
};
use common::header_map;
use http::{HeaderMap, Method, Uri};
use kura_sigv4::*;
use proptest::prelude::*;

const AK: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const HOSTS: [&str; 4] = ["s3.example.com", "kura.storage.svc.cluster.local:9000", "127.0.0.1:9000", "[::1]:9000"];

struct Signed {
    headers: Vec<(String, String)>,
    params: Vec<(String, String)>,
    signature: String,
}

/// Signs with `aws-sigv4` configured as the AWS SDK configures it for S3.
#[allow(clippy::too_many_arguments)] // a test helper that mirrors the signer's inputs one to one
fn aws_sign(
    method: &str,
    host: &str,
    path_and_query: &str,
    headers: &[(String, String)],
    payload: &str,
    token: Option<&str>,
    now: SystemTime,
    presign_secs: Option<u64>,
) -> Signed {
    let creds = aws_credential_types::Credentials::new(AK, SECRET, token.map(str::to_owned), None, "test");
    let identity = creds.into();
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    if let Some(secs) = presign_secs {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(secs));
        settings.payload_checksum_kind = PayloadChecksumKind::NoHeader;
    } else {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("s3")
        .time(now)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let body = if payload == UNSIGNED_PAYLOAD {
        SignableBody::UnsignedPayload
    } else {
        SignableBody::Precomputed(payload.to_owned())
    };
    let mut all: Vec<(&str, &str)> = vec![("host", host)];
    all.extend(headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    let uri = format!("http://{host}{path_and_query}");
    let req = SignableRequest::new(method, uri, all.into_iter(), body).unwrap();
    let (instructions, signature) = sign(req, &params).unwrap().into_parts();
    let (h, p) = instructions.into_parts();
    Signed {
        headers: h.iter().map(|h| (h.name().to_owned(), h.value().to_owned())).collect(),
        params: p.into_iter().map(|(k, v): (&str, Cow<'_, str>)| (k.to_owned(), v.into_owned())).collect(),
        signature,
    }
}

fn method() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["GET", "PUT", "HEAD", "DELETE", "POST"])
}

/// Object keys with the characters that trip encoders: reserved, `%`, `+`, spaces, `~`, non-ASCII.
fn key() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![
            "a", "Z", "0", "-", "_", ".", "~", "/", " ", "+", "%", "=", "&", "?", "#", "!", "*", "'", "(", ")", ":",
            "@", ",", ";", "$", "[", "]", "é", "日本", "🦀", "%20",
        ]),
        1..12,
    )
    .prop_map(|parts| parts.concat())
}

fn query() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(
        (
            prop::sample::select(vec![
                "prefix",
                "max-keys",
                "versionId",
                "list-type",
                "marker",
                "x-id",
                "uploads",
                "a b",
                "ü",
            ]),
            key(),
        ),
        0..5,
    )
    .prop_map(|v| v.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// Extra headers with values that need trimming and space folding.
fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(
        (
            prop::sample::select(vec![
                "x-amz-meta-a",
                "x-amz-meta-b",
                "content-type",
                "range",
                "x-amz-acl",
                "cache-control",
            ]),
            "[ ]{0,2}[!-~]{1,6}([ ]{1,3}[!-~]{1,6}){0,2}[ ]{0,2}",
        ),
        0..4,
    )
    .prop_map(|v| {
        let mut seen = std::collections::BTreeMap::new();
        for (k, val) in v {
            seen.entry(k.to_owned()).or_insert(val);
        }
        seen.into_iter().collect()
    })
}

fn payload() -> impl Strategy<Value = String> {
    prop_oneof![Just(UNSIGNED_PAYLOAD.to_owned()), Just(EMPTY_SHA256.to_owned()), "[0-9a-f]{64}"]
}

fn time() -> impl Strategy<Value = SystemTime> {
    (1_400_000_000u64..2_100_000_000).prop_map(|s| UNIX_EPOCH + Duration::from_secs(s))
}

fn token() -> impl Strategy<Value = Option<String>> {
    prop::option::of("[A-Za-z0-9/+=]{1,40}")
}

const QUERY_PARTS: &[&str] = &[
    "X-Amz-Algorithm=AWS4-HMAC-SHA256",
    "X-Amz-Credential=AK%2F20150830%2Fus-east-1%2Fs3%2Faws4_request",
    "X-Amz-Date=20150830T123600Z",
    "X-Amz-Expires=",
    "X-Amz-SignedHeaders=host",
    "X-Amz-Signature=",
    "X-Amz-Security-Token=",
    "%",
    "%2",
    "%FF",
    "+",
    "&",
    "=",
    ";",
    "/",
    "0",
    "9",
    "a",
    "f",
    "604800",
    "host",
];
const AUTH_PARTS: &[&str] = &[
    "AWS4-HMAC-SHA256 ",
    "Credential=",
    "AK/20150830/us-east-1/s3/aws4_request",
    "/",
    ", ",
    ",",
    "SignedHeaders=",
    "host",
    ";",
    "x-amz-date",
    "Signature=",
    "0123456789abcdef",
    "=",
    " ",
    "aws4_request",
    "ü",
];

/// Pieces of the real syntax mixed with random printable text.
fn fragment(parts: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![3 => prop::sample::select(parts.to_vec()).prop_map(str::to_owned), 1 => "[ -~]{0,8}"]
}

fn path_and_query(path: &str, query: &str) -> String {
    if query.is_empty() { path.to_owned() } else { format!("{path}?{query}") }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn header_signatures_match_aws_sigv4(
        method in method(), host in prop::sample::select(HOSTS.to_vec()), bucket in "[a-z0-9][a-z0-9.-]{2,20}",
        key in key(), query in query(), extra in headers(), payload in payload(), token in token(), now in time(),
    ) {
        let path = encode_object_path(&bucket, &key);
        let pairs: Vec<(&str, &str)> = query.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let q = canonical_query(&pairs);
        let pq = path_and_query(&path, &q);
        let reference = aws_sign(method, host, &pq, &extra, &payload, token.as_deref(), now, None);

        // 1. Our building blocks produce the same signature.
        let amz_date = format_amz_date(now);
        let scope = Scope::new(&amz_date[..8], "us-east-1", "s3");
        let mut signed: Vec<(&str, &str)> = vec![("host", host), ("x-amz-date", &amz_date), ("x-amz-content-sha256", &payload)];
        if let Some(t) = &token { signed.push(("x-amz-security-token", t)); }
        signed.extend(extra.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let creq = CanonicalRequest { method, path: &path, query: &q, headers: &signed, payload_hash: &payload };
        let key = derive_key(SECRET, &scope.date, "us-east-1", "s3");
        let ours = signature(&key, &string_to_sign(&amz_date, &scope, &canonical_request(&creq)));
        prop_assert_eq!(&ours, &reference.signature);

        // 2. What aws-sigv4 signed verifies, for the right alias only, whatever Host arrives.
        let mut received: Vec<(&str, &str)> = vec![("host", "10.1.2.3:9000")];
        received.extend(extra.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        received.extend(reference.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let headers = header_map(&received);
        let uri: Uri = pq.parse().unwrap();
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let parsed = parse_auth(&uri, &headers).unwrap().unwrap();
        prop_assert_eq!(parsed.security_token.as_deref(), token.as_deref());
        prop_assert_eq!(verify_for_hosts(&parsed, &m, &uri, &headers, &key, &HOSTS), Some(host));
        let others: Vec<&str> = HOSTS.iter().copied().filter(|h| *h != host).collect();
        prop_assert_eq!(verify_for_hosts(&parsed, &m, &uri, &headers, &key, &others), None);
    }

    #[test]
    fn presigned_urls_match_aws_sigv4(
        method in method(), host in prop::sample::select(HOSTS.to_vec()), bucket in "[a-z0-9][a-z0-9.-]{2,20}",
        key in key(), query in query(), content_type in prop::option::of("[a-z]{1,8}/[a-z0-9.+-]{1,12}"),
        token in token(), now in time(), expires in 1u64..=604_800,
    ) {
        let path = encode_object_path(&bucket, &key);
        let pairs: Vec<(&str, &str)> = query.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let extra: Vec<(String, String)> = content_type.iter().map(|c| ("content-type".to_owned(), c.clone())).collect();
        let extra_refs: Vec<(&str, &str)> = extra.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();

        let endpoint = format!("http://{host}");
        let mut req = PresignRequest::new(method, &endpoint, &path, "us-east-1", AK, SECRET, now);
        req.query = &pairs;
        req.headers = &extra_refs;
        req.session_token = token.as_deref();
        req.expires_secs = expires;
        let url = presign_url(&req).unwrap();

        let pq = path_and_query(&path, &canonical_query(&pairs));
        let reference = aws_sign(method, host, &pq, &extra, UNSIGNED_PAYLOAD, token.as_deref(), now, Some(expires));
        // Same signature, and the same query parameters (aws-sigv4 returns them decoded).
        let sig_param = format!("&X-Amz-Signature={}", reference.signature);
        prop_assert!(url.ends_with(&sig_param), "{} vs {}", url, reference.signature);
        let mut expected: Vec<(&str, &str)> = pairs.clone();
        expected.extend(reference.params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let expected_q = canonical_query(&expected.iter().copied().filter(|(k, _)| *k != "X-Amz-Signature").collect::<Vec<_>>());
        let prefix = format!("http://{host}{path}?{expected_q}");
        prop_assert_eq!(url.strip_suffix(&sig_param), Some(prefix.as_str()));

        // And it verifies with our verifier, for that host.
        let uri: Uri = url.parse().unwrap();
        let mut sent: Vec<(&str, &str)> = vec![("host", host)];
        sent.extend(extra_refs.iter().copied());
        let headers: HeaderMap = header_map(&sent);
        let parsed = parse_auth(&uri, &headers).unwrap().unwrap();
        let key = derive_key(SECRET, &parsed.scope.date, "us-east-1", "s3");
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        prop_assert_eq!(verify_for_hosts(&parsed, &m, &uri, &headers, &key, &HOSTS), Some(host));
        prop_assert_eq!(parsed.expires, Some(expires));
    }

    /// Garbage, and near-misses of the real shapes, never panic the parser or the verifier.
    #[test]
    fn arbitrary_input_never_panics(
        query in prop::collection::vec(fragment(QUERY_PARTS), 0..12),
        auth in prop::collection::vec(fragment(AUTH_PARTS), 0..10),
        date in "[0-9TZ]{0,20}", token in "[ -~]{0,40}",
    ) {
        let Ok(uri) = format!("/b/k?{}", query.concat()).parse::<Uri>() else { return Ok(()) };
        let mut headers = HeaderMap::new();
        if let Ok(v) = auth.concat().parse() { headers.insert("authorization", v); }
        if let Ok(v) = date.parse() { headers.insert("x-amz-date", v); }
        if let Ok(v) = token.parse() { headers.insert("x-amz-security-token", v); }
        if let Ok(Some(parsed)) = parse_auth(&uri, &headers) {
            let key = derive_key("s", &parsed.scope.date, &parsed.scope.region, &parsed.scope.service);
            let _ = verify_for_hosts(&parsed, &Method::GET, &uri, &headers, &key, &HOSTS);
        }
    }
}
