//! A SigV4 request may carry its time in `Date` instead of `x-amz-date` (botocore signs so when its
//! caller sets `Date`), and a write may declare its body's MD5. The attacks: a `Date` other than the
//! one signed, a stale one, two of them, one that is no HTTP date, and an empty `Content-MD5` that
//! would turn a checked write into an unchecked one. Each is refused with AWS's code and stores nothing.

use super::sigv2::{exists, http_date};
use crate::harness::{ACCESS_KEY, SECRET_KEY, TestServer, bucket_name, xml_code};
use kura_sigv4::{
    CanonicalRequest, Scope, UNSIGNED_PAYLOAD, canonical_request, derive_key, format_amz_date, signature,
};
use std::time::{Duration, SystemTime};

/// Header (name, value) pairs.
pub(super) type Headers<'a> = &'a [(&'a str, &'a str)];

/// Where a hand-signed request carries its signing time.
#[derive(Clone, Copy)]
pub(super) enum SignedAt {
    /// `x-amz-date`, as every AWS SDK sends it.
    AmzDate(SystemTime),
    /// `Date` alone, as botocore signs when its caller sets `Date`.
    Date(SystemTime),
}

/// A request with `body` to `target` (path and query), SigV4-signed by root with an unsigned payload
/// (`UNSIGNED-PAYLOAD`: only the signed headers protect the body) and `signed` (name, value) headers
/// also signed; sent with `sent` headers, which replace or repeat the signed ones as a tampering proxy
/// would. Returns the status and the body.
pub(super) async fn send(
    server: &TestServer,
    (method, target): (&str, &str),
    at: SignedAt,
    (signed, sent): (Headers<'_>, Headers<'_>),
    body: &[u8],
) -> (u16, String) {
    let host = server.endpoint().trim_start_matches("http://").to_owned();
    let (time_header, signed_at) = match at {
        SignedAt::AmzDate(t) => ("x-amz-date", t),
        SignedAt::Date(t) => ("date", t),
    };
    let amz_date = format_amz_date(signed_at);
    let time = if time_header == "date" { http_date(signed_at) } else { amz_date.clone() };
    let scope = Scope::new(&amz_date[..8], "us-east-1", "s3");
    let mut headers: Vec<(&str, &str)> =
        vec![(time_header, &time), ("host", &host), ("x-amz-content-sha256", UNSIGNED_PAYLOAD)];
    headers.extend_from_slice(signed);
    headers.sort_unstable();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query = kura_sigv4::canonical_query_from_raw(query, false).expect("query");
    let creq = CanonicalRequest { method, path, query: &query, headers: &headers, payload_hash: UNSIGNED_PAYLOAD };
    let key = derive_key(SECRET_KEY, &scope.date, &scope.region, &scope.service);
    let sig = signature(&key, &kura_sigv4::string_to_sign(&amz_date, &scope, &canonical_request(&creq)));
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{scope}, SignedHeaders={}, Signature={sig}",
        creq.signed_headers()
    );
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{target}", server.endpoint()))
        .header("authorization", authorization)
        .body(body.to_vec());
    for (name, value) in headers.iter().filter(|(n, _)| *n != "host") {
        if !sent.iter().any(|(n, _)| n == name) {
            req = req.header(*name, *value);
        }
    }
    for (name, value) in sent {
        req = req.header(*name, *value);
    }
    let resp = req.send().await.expect("send");
    (resp.status().as_u16(), resp.text().await.expect("body"))
}

/// A PUT of twelve bytes to `target`, timed by `Date` (see [`send`]).
async fn put(
    server: &TestServer,
    target: &str,
    signed_at: SystemTime,
    signed: &[(&str, &str)],
    sent: &[(&str, &str)],
) -> (u16, String) {
    send(server, ("PUT", target), SignedAt::Date(signed_at), (signed, sent), b"twelve bytes").await
}

/// A fresh server with one empty bucket named after `tag`.
pub(super) async fn server_with_bucket(tag: &str) -> (TestServer, aws_sdk_s3::Client, String) {
    let server = TestServer::start();
    let s3 = server.client();
    let bucket = bucket_name(tag);
    s3.create_bucket().bucket(&bucket).send().await.expect("bucket");
    (server, s3, bucket)
}

#[tokio::test]
async fn a_request_timed_by_date_is_verified_at_that_time() {
    let (server, s3, bucket) = server_with_bucket("date").await;
    let now = SystemTime::now();

    let (status, body) = put(&server, &format!("/{bucket}/timed"), now, &[], &[]).await;
    assert_eq!(status, 200, "{body}");
    let got = s3.get_object().bucket(&bucket).key("timed").send().await.expect("get");
    assert_eq!(got.body.collect().await.expect("body").into_bytes().as_ref(), b"twelve bytes");

    // Signed at one time, sent with another: a different string to sign.
    let later = http_date(now + Duration::from_secs(1));
    let (status, body) = put(&server, &format!("/{bucket}/moved"), now, &[], &[("date", &later)]).await;
    assert_eq!((status, xml_code(&body)), (403, "SignatureDoesNotMatch"), "{body}");
    assert!(!exists(&s3, &bucket, "moved").await);

    // A captured request replayed after the 15 minutes of allowed skew.
    let stale = now - Duration::from_secs(20 * 60);
    let (status, body) = put(&server, &format!("/{bucket}/stale"), stale, &[], &[]).await;
    assert_eq!((status, xml_code(&body)), (403, "RequestTimeTooSkewed"), "{body}");
    assert!(!exists(&s3, &bucket, "stale").await);

    // Two Dates: kura and the signer could each read another one.
    let (status, body) =
        put(&server, &format!("/{bucket}/twice"), now, &[], &[("date", &http_date(now)), ("date", &later)]).await;
    assert_eq!((status, xml_code(&body)), (400, "AuthorizationHeaderMalformed"), "{body}");
    assert!(!exists(&s3, &bucket, "twice").await);

    // Not an HTTP date (asctime): refused, never read as some other time.
    let (status, body) =
        put(&server, &format!("/{bucket}/asctime"), now, &[], &[("date", "Fri Dec  3 06:10:00 2027")]).await;
    assert_eq!((status, xml_code(&body)), (400, "AuthorizationHeaderMalformed"), "{body}");
    assert!(body.contains("HTTP date"), "the message says what to send: {body}");
    assert!(!exists(&s3, &bucket, "asctime").await);
}

#[tokio::test]
async fn an_empty_content_md5_is_an_invalid_digest_and_stores_nothing() {
    let (server, s3, bucket) = server_with_bucket("md5").await;
    let now = SystemTime::now();

    let (status, body) = put(&server, &format!("/{bucket}/object"), now, &[("content-md5", "")], &[]).await;
    assert_eq!((status, xml_code(&body)), (400, "InvalidDigest"), "{body}");
    assert!(!exists(&s3, &bucket, "object").await);

    let upload = crate::harness::create_upload(&s3, &bucket, "parts").await;
    let target = format!("/{bucket}/parts?partNumber=1&uploadId={upload}");
    let (status, body) = put(&server, &target, now, &[("content-md5", "")], &[]).await;
    assert_eq!((status, xml_code(&body)), (400, "InvalidDigest"), "{body}");
    let parts = s3.list_parts().bucket(&bucket).key("parts").upload_id(&upload).send().await.expect("parts");
    assert!(parts.parts().is_empty(), "no part was stored: {parts:?}");

    // The same part with its real MD5 is stored: the refusal was for the empty header alone.
    let digest = <md5::Md5 as md5::Digest>::digest(b"twelve bytes");
    let md5 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, digest);
    let (status, body) = put(&server, &target, now, &[("content-md5", &md5)], &[]).await;
    assert_eq!(status, 200, "{body}");
}
