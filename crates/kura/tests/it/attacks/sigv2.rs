//! SigV2 gets SigV4's freshness, expiry and host rules (issue 12, item 3): a captured SigV2 request
//! cannot be replayed later, a SigV2 presigned URL lives at most 7 days, and with configured names a
//! SigV2 request must be sent to one of them. `server.sigv2: false` turns SigV2 off.

use crate::harness::{ACCESS_KEY, SECRET_KEY, TestServer, bucket_name, xml_code};
use aws_sdk_s3::primitives::ByteStream;
use base64::Engine as _;
use hmac::{KeyInit as _, Mac as _};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// SigV2's signature of `string_to_sign`.
fn sign_v2(string_to_sign: &str) -> String {
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(SECRET_KEY.as_bytes()).expect("key");
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// An HTTP date, as SigV2 clients send `Date`.
pub(super) fn http_date(t: SystemTime) -> String {
    let t = time::OffsetDateTime::from(t);
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.format(&format).expect("format")
}

/// A SigV2 header-signed request for `method path` with `Date: date`.
async fn send_v2(server: &TestServer, method: reqwest::Method, path: &str, date: &str) -> (u16, String) {
    let signature = sign_v2(&format!("{method}\n\n\n{date}\n{path}"));
    let resp = reqwest::Client::new()
        .request(method, format!("{}{path}", server.endpoint()))
        .header("date", date)
        .header("authorization", format!("AWS {ACCESS_KEY}:{signature}"))
        .send()
        .await
        .expect("request");
    (resp.status().as_u16(), resp.text().await.expect("body"))
}

/// Whether `bucket` holds `key` now (the attack tests' "nothing changed").
pub(super) async fn exists(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> bool {
    s3.head_object().bucket(bucket).key(key).send().await.is_ok()
}

#[tokio::test]
async fn sigv2_header_requests_must_be_fresh() {
    let server = TestServer::start();
    let s3 = server.client();
    let bucket = bucket_name("sigv2");
    s3.create_bucket().bucket(&bucket).send().await.expect("bucket");
    s3.put_object().bucket(&bucket).key("keep").body(ByteStream::from_static(b"x")).send().await.expect("put");
    let path = format!("/{bucket}/keep");
    let (status, body) = send_v2(&server, reqwest::Method::DELETE, &path, "Sat, 01 Jan 2000 00:00:00 GMT").await;
    assert_eq!((status, xml_code(&body)), (403, "RequestTimeTooSkewed"), "{body}");
    let (status, body) = send_v2(&server, reqwest::Method::DELETE, &path, "garbage").await;
    assert_eq!((status, xml_code(&body)), (403, "AccessDenied"), "{body}");
    let stale = http_date(SystemTime::now() - Duration::from_secs(20 * 60));
    let (status, body) = send_v2(&server, reqwest::Method::DELETE, &path, &stale).await;
    assert_eq!((status, xml_code(&body)), (403, "RequestTimeTooSkewed"), "{body}");
    assert!(exists(&s3, &bucket, "keep").await, "nothing was deleted");
    // A fresh SigV2 request still works.
    let (status, body) = send_v2(&server, reqwest::Method::DELETE, &path, &http_date(SystemTime::now())).await;
    assert_eq!(status, 204, "{body}");
    assert!(!exists(&s3, &bucket, "keep").await);
}

/// A SigV2 presigned GET URL for `path`, valid until `expires` (seconds since 1970).
fn presign_v2(server: &TestServer, path: &str, expires: u64) -> String {
    let signature = sign_v2(&format!("GET\n\n\n{expires}\n{path}"));
    let signature: String =
        percent_encoding::utf8_percent_encode(&signature, percent_encoding::NON_ALPHANUMERIC).collect();
    format!("{}{path}?AWSAccessKeyId={ACCESS_KEY}&Expires={expires}&Signature={signature}", server.endpoint())
}

#[tokio::test]
async fn sigv2_presigned_urls_live_at_most_seven_days() {
    let server = TestServer::start();
    let s3 = server.client();
    let bucket = bucket_name("sigv2-presign");
    s3.create_bucket().bucket(&bucket).send().await.expect("bucket");
    s3.put_object().bucket(&bucket).key("doc").body(ByteStream::from_static(b"doc")).send().await.expect("put");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs();
    let path = format!("/{bucket}/doc");
    let http = reqwest::Client::new();
    let resp = http.get(presign_v2(&server, &path, now + 3600)).send().await.expect("get");
    assert_eq!(resp.status().as_u16(), 200);
    let resp = http.get(presign_v2(&server, &path, now + 10 * 365 * 86400)).send().await.expect("get");
    assert_eq!(resp.status().as_u16(), 400);
    assert_eq!(xml_code(&resp.text().await.expect("body")), "AuthorizationQueryParametersError");
}

#[tokio::test]
async fn sigv2_must_be_sent_to_one_of_kuras_names_and_can_be_turned_off() {
    let server = TestServer::start_with_config("server:\n  public_urls: [https://s3.example.com]\n");
    let s3 = server.client();
    let bucket = bucket_name("sigv2-host");
    s3.create_bucket().bucket(&bucket).send().await.expect("bucket");
    let path = format!("/{bucket}");
    let date = http_date(SystemTime::now());
    // A request naming only a bucket is signed over `/bucket/` (AWS's CanonicalizedResource).
    let signature = sign_v2(&format!("GET\n\n\n{date}\n{path}/"));
    let request = |host: &str| {
        reqwest::Client::new()
            .get(format!("{}{path}", server.endpoint()))
            .header("host", host)
            .header("date", &date)
            .header("authorization", format!("AWS {ACCESS_KEY}:{signature}"))
    };
    let resp = request("attacker.example.net").send().await.expect("get");
    assert_eq!(resp.status().as_u16(), 403);
    assert_eq!(xml_code(&resp.text().await.expect("body")), "SignatureDoesNotMatch");
    let resp = request("s3.example.com").send().await.expect("get");
    assert_eq!(resp.status().as_u16(), 200, "sent to one of kura's names");

    let off = TestServer::start_with_config("server:\n  sigv2: false\n");
    let (status, body) = send_v2(&off, reqwest::Method::GET, "/", &http_date(SystemTime::now())).await;
    assert_eq!((status, xml_code(&body)), (403, "AccessDenied"), "{body}");
    assert!(body.contains("sigv2"), "the message names the setting: {body}");
}

#[tokio::test]
async fn a_refused_sigv2_request_is_audited_with_its_access_key() {
    let dir = tempfile::tempdir().expect("dir");
    let log = dir.path().join("audit.log");
    let server = TestServer::start_with_config(&format!("audit:\n  path: {}\n", log.display()));
    let date = http_date(SystemTime::now());
    let resp = reqwest::Client::new()
        .get(format!("{}/", server.endpoint()))
        .header("date", &date)
        .header("authorization", format!("AWS {ACCESS_KEY}:bm90LXRoZS1zaWduYXR1cmU="))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 403);
    let mut line = None;
    for _ in 0..100 {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        line =
            text.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()).find(|r| r["status"] == 403);
        if line.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let line = line.expect("an audit line for the refused request");
    assert_eq!(line["caller"]["access_key"], ACCESS_KEY, "{line}");
    assert_eq!(line["error_code"], "SignatureDoesNotMatch", "{line}");
}

/// A SigV2 header request `method path_and_query`, signed over `resource` with `x-amz-date` (and,
/// when `with_date`, a `Date` too: AWS signs an empty Date line whenever x-amz-date is present).
async fn send_v2_amz_date(
    server: &TestServer,
    method: reqwest::Method,
    path_and_query: &str,
    resource: &str,
    with_date: bool,
) -> (u16, String) {
    let now = http_date(SystemTime::now());
    let signature = sign_v2(&format!("{method}\n\n\n\nx-amz-date:{now}\n{resource}"));
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path_and_query}", server.endpoint()))
        .header("x-amz-date", &now)
        .header("authorization", format!("AWS {ACCESS_KEY}:{signature}"));
    if with_date {
        // A Date the signature does not cover (a day off): x-amz-date is the one judged and signed.
        request = request.header("date", http_date(SystemTime::now() - Duration::from_secs(86_400)));
    }
    let resp = request.send().await.expect("request");
    (resp.status().as_u16(), resp.text().await.expect("body"))
}

/// Bucket-level SigV2 (issue 16): a request naming only a bucket is signed over `/bucket/` (with its
/// sub-resource), as AWS and botocore do; `x-amz-date` with or without `Date` works. A signature over
/// another resource is SignatureDoesNotMatch and creates nothing.
#[tokio::test]
async fn sigv2_works_on_buckets() {
    let server = TestServer::start();
    let s3 = server.client();
    let bucket = bucket_name("v2bucket");
    let path = format!("/{bucket}");
    let slash = format!("/{bucket}/");
    // Signed over the path as sent (not AWS's canonical resource): refused, nothing created.
    let (status, body) = send_v2_amz_date(&server, reqwest::Method::PUT, &path, &path, false).await;
    assert_eq!((status, xml_code(&body)), (403, "SignatureDoesNotMatch"), "{body}");
    assert!(s3.head_bucket().bucket(&bucket).send().await.is_err(), "no bucket was created");

    let (status, body) = send_v2_amz_date(&server, reqwest::Method::PUT, &path, &slash, true).await;
    assert_eq!(status, 200, "CreateBucket: {body}");
    s3.head_bucket().bucket(&bucket).send().await.expect("created");
    s3.put_object().bucket(&bucket).key("k").body(ByteStream::from_static(b"v2")).send().await.expect("put");
    let (status, body) = send_v2_amz_date(&server, reqwest::Method::GET, &path, &slash, false).await;
    assert_eq!(status, 200, "ListObjects: {body}");
    assert!(body.contains("<Key>k</Key>"), "{body}");
    let (status, body) =
        send_v2_amz_date(&server, reqwest::Method::GET, &format!("{path}?acl"), &format!("{slash}?acl"), true).await;
    assert_eq!(status, 200, "GetBucketAcl: {body}");
    assert!(body.contains("FULL_CONTROL"), "{body}");
    let (status, body) =
        send_v2_amz_date(&server, reqwest::Method::GET, &format!("{path}?uploads"), &format!("{slash}?uploads"), false)
            .await;
    assert_eq!(status, 200, "ListMultipartUploads: {body}");
    // A sub-resource left out of the signed resource is not this request's signature.
    let (status, body) =
        send_v2_amz_date(&server, reqwest::Method::GET, &format!("{path}?versioning"), &slash, false).await;
    assert_eq!((status, xml_code(&body)), (403, "SignatureDoesNotMatch"), "{body}");
    // The same rules of freshness hold for x-amz-date.
    let stale = http_date(SystemTime::now() - Duration::from_secs(20 * 60));
    let signature = sign_v2(&format!("DELETE\n\n\n\nx-amz-date:{stale}\n{slash}"));
    let resp = reqwest::Client::new()
        .delete(format!("{}{path}", server.endpoint()))
        .header("x-amz-date", &stale)
        .header("date", http_date(SystemTime::now()))
        .header("authorization", format!("AWS {ACCESS_KEY}:{signature}"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 403);
    assert_eq!(xml_code(&resp.text().await.expect("body")), "RequestTimeTooSkewed");
    s3.head_bucket().bucket(&bucket).send().await.expect("the bucket is still there");
}
