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

/// A SigV2 presigned URL for `method path`, valid for an hour.
fn presign_v2_for(server: &TestServer, method: &str, path: &str) -> String {
    let expires = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs() + 3600;
    let signature = sign_v2(&format!("{method}\n\n\n{expires}\n{path}"));
    let signature: String =
        percent_encoding::utf8_percent_encode(&signature, percent_encoding::NON_ALPHANUMERIC).collect();
    format!("{}{path}?AWSAccessKeyId={ACCESS_KEY}&Expires={expires}&Signature={signature}", server.endpoint())
}

/// `method url` with `body` (and the headers of a captured request), as an attacker replays it.
async fn send_raw(method: reqwest::Method, url: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    let mut request = reqwest::Client::new().request(method, url).body(body.to_vec());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let resp = request.send().await.expect("request");
    (resp.status().as_u16(), resp.text().await.expect("body"))
}

async fn tags_of(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<(String, String)> {
    let out = s3.get_object_tagging().bucket(bucket).key(key).send().await.expect("tags");
    out.tag_set().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect()
}

async fn public_access_block(s3: &aws_sdk_s3::Client, bucket: &str) -> String {
    match s3.get_public_access_block().bucket(bucket).send().await {
        Ok(out) => format!("{:?}", out.public_access_block_configuration),
        Err(err) => crate::harness::code(&err),
    }
}

const TAGGING: &[u8] = b"<Tagging><TagSet><Tag><Key>owner</Key><Value>mallory</Value></Tag></TagSet></Tagging>";

/// s3s signs only some query names under SigV2 (each when sent once) but routes by every name it
/// finds: a presigned PutObject URL plus `&retention` would run PutObjectRetention (COMPLIANCE until
/// 2099) as its signer, plus `&tagging&tagging` PutObjectTagging. The gate refuses a name the
/// signature does not cover: 403 SignatureDoesNotMatch, as AWS, and nothing runs.
#[tokio::test]
async fn a_sigv2_presigned_put_cannot_gain_an_unsigned_sub_resource() {
    let server = TestServer::start();
    let s3 = server.client();
    let bucket = bucket_name("v2query");
    s3.create_bucket().bucket(&bucket).object_lock_enabled_for_bucket(true).send().await.expect("bucket");
    let tagging = aws_sdk_s3::types::Tagging::builder()
        .tag_set(aws_sdk_s3::types::Tag::builder().key("a").value("1").build().expect("tag"))
        .build()
        .expect("tagging");
    let url = presign_v2_for(&server, "PUT", &format!("/{bucket}/obj"));
    let (status, body) = send_raw(reqwest::Method::PUT, &url, &[], b"signed body").await;
    assert_eq!(status, 200, "the presigned PUT itself works: {body}");
    s3.put_object_tagging().bucket(&bucket).key("obj").tagging(tagging).send().await.expect("tag");

    let retention = b"<Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Mode>COMPLIANCE</Mode>\
        <RetainUntilDate>2099-01-01T00:00:00Z</RetainUntilDate></Retention>";
    for extra in ["&retention", "&ret%65ntion"] {
        let (status, body) = send_raw(reqwest::Method::PUT, &format!("{url}{extra}"), &[], retention).await;
        assert_eq!((status, xml_code(&body)), (403, "SignatureDoesNotMatch"), "{extra}: {body}");
        assert!(body.contains("retention") && body.contains("SigV4"), "the message names the parameter: {body}");
    }
    let kept = s3.get_object_retention().bucket(&bucket).key("obj").send().await;
    assert!(kept.map(|o| o.retention).unwrap_or_default().is_none(), "no retention was set");

    let (status, body) = send_raw(reqwest::Method::PUT, &format!("{url}&tagging&tagging"), &[], TAGGING).await;
    assert_eq!((status, xml_code(&body)), (403, "SignatureDoesNotMatch"), "{body}");
    assert!(body.contains("tagging"), "{body}");
    assert_eq!(tags_of(&s3, &bucket, "obj").await, [("a".to_owned(), "1".to_owned())], "the tags are unchanged");
    let got = s3.get_object().bucket(&bucket).key("obj").send().await.expect("get");
    assert_eq!(&got.body.collect().await.expect("body").into_bytes()[..], b"signed body", "the body is unchanged");
}

/// A captured header-signed `PUT /bucket/?tagging` replayed to `?tagging&policy&policy`: s3s signs
/// neither `policy` (sent twice) yet routes to PutBucketPolicy. Refused; no policy is stored.
#[tokio::test]
async fn a_captured_sigv2_request_cannot_be_replayed_as_another_operation() {
    let server = TestServer::start();
    let s3 = server.client();
    let bucket = bucket_name("v2replay");
    s3.create_bucket().bucket(&bucket).send().await.expect("bucket");
    let date = http_date(SystemTime::now());
    let signature = sign_v2(&format!("PUT\n\n\n{date}\n/{bucket}/?tagging"));
    let auth = format!("AWS {ACCESS_KEY}:{signature}");
    let captured = [("date", date.as_str()), ("authorization", auth.as_str())];
    let pab = public_access_block(&s3, &bucket).await;
    let url = format!("{}/{bucket}/?tagging", server.endpoint());
    let (status, body) = send_raw(reqwest::Method::PUT, &url, &captured, TAGGING).await;
    assert_eq!(status, 204, "the captured request itself works: {body}");

    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{bucket}/*"}}]}}"#
    );
    for extra in ["&policy&policy", "&publicAccessBlock", "&%70olicy&policy"] {
        let (status, body) =
            send_raw(reqwest::Method::PUT, &format!("{url}{extra}"), &captured, policy.as_bytes()).await;
        assert_eq!((status, xml_code(&body)), (403, "SignatureDoesNotMatch"), "{extra}: {body}");
    }
    let err = s3.get_bucket_policy().bucket(&bucket).send().await.expect_err("no policy");
    assert_eq!(crate::harness::code(&err), "NoSuchBucketPolicy");
    assert_eq!(public_access_block(&s3, &bucket).await, pab, "the public access block is unchanged");
}

/// Parameters that only shape a listing stay outside the SigV2 signature, as on AWS.
#[tokio::test]
async fn a_sigv2_listing_takes_its_listing_parameters() {
    let server = TestServer::start();
    let s3 = server.client();
    let bucket = bucket_name("v2list");
    s3.create_bucket().bucket(&bucket).send().await.expect("bucket");
    for key in ["a1", "a2", "a3", "b1"] {
        s3.put_object().bucket(&bucket).key(key).body(ByteStream::from_static(b"x")).send().await.expect("put");
    }
    let date = http_date(SystemTime::now());
    let signature = sign_v2(&format!("GET\n\n\n{date}\n/{bucket}/"));
    let auth = format!("AWS {ACCESS_KEY}:{signature}");
    let headers = [("date", date.as_str()), ("authorization", auth.as_str())];
    let url = format!("{}/{bucket}/?prefix=a&max-keys=1&marker=a1", server.endpoint());
    let (status, body) = send_raw(reqwest::Method::GET, &url, &headers, b"").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<Key>a2</Key>") && !body.contains("<Key>a3</Key>") && !body.contains("b1"), "{body}");
    let url = format!("{}/{bucket}/?list-type=2&prefix=a&start-after=a2", server.endpoint());
    let (status, body) = send_raw(reqwest::Method::GET, &url, &headers, b"").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<Key>a3</Key>") && !body.contains("<Key>a2</Key>"), "{body}");
}
