//! Every signed endpoint verifies against kura's own names (issue 12, item 4), and an S3 request must
//! be signed for S3, not for STS (item 12).

use crate::harness::{ACCESS_KEY, SECRET_KEY, TestServer, bucket_name, xml_code};
use kura_bench::signer::{Credentials, Signer};
use sha2::Digest as _;
use std::time::SystemTime;

fn root_signer(service: &str, sign_content_sha256: bool) -> Signer {
    let creds =
        Credentials { access_key_id: ACCESS_KEY.into(), secret_access_key: SECRET_KEY.into(), session_token: None };
    Signer::new("us-east-1", service, sign_content_sha256, creds)
}

const GET_CALLER_IDENTITY: &str = "Action=GetCallerIdentity&Version=2011-06-15";

/// An STS GetCallerIdentity signed for `host` and sent with `Host: host`.
async fn sts_for(server: &TestServer, host: &str) -> (u16, String) {
    sts_with_unsigned(server, host, &[]).await
}

/// An STS GetCallerIdentity signed for `host` (`host` and `x-amz-date` signed), sent with `Host: host`
/// and `extra` headers that the signature does not cover.
pub(super) async fn sts_with_unsigned(server: &TestServer, host: &str, extra: &[(&str, &str)]) -> (u16, String) {
    let hash = hex::encode(sha2::Sha256::digest(GET_CALLER_IDENTITY.as_bytes()));
    let sig = root_signer("sts", false).sign("POST", host, "/", "", &hash, SystemTime::now());
    let mut req = reqwest::Client::new()
        .post(format!("{}/", server.endpoint()))
        .header("host", host)
        .header("x-amz-date", &sig.amz_date)
        .header("authorization", &sig.authorization)
        .header("content-type", "application/x-www-form-urlencoded");
    for (name, value) in extra {
        req = req.header(*name, *value);
    }
    let resp = req.body(GET_CALLER_IDENTITY).send().await.expect("sts");
    (resp.status().as_u16(), resp.text().await.expect("body"))
}

#[tokio::test]
async fn sts_refuses_signatures_for_foreign_host_names() {
    let server = TestServer::start_with_config("server:\n  public_urls: [https://s3.example.com]\n");
    let (status, body) = sts_for(&server, "attacker.example.net").await;
    assert_eq!((status, xml_code(&body)), (403, "SignatureDoesNotMatch"), "{body}");
    let (status, body) = sts_for(&server, "s3.example.com").await;
    assert_eq!(status, 200, "signed for one of kura's names: {body}");
    assert!(body.contains("<GetCallerIdentityResult>"), "{body}");
}

#[tokio::test]
async fn an_s3_request_signed_for_sts_is_refused() {
    let server = TestServer::start();
    let bucket = bucket_name("scope");
    server.client().create_bucket().bucket(&bucket).send().await.expect("bucket");
    let host = server.endpoint().trim_start_matches("http://").to_owned();
    let path = format!("/{bucket}");
    let hash = kura_bench::signer::EMPTY_SHA256;
    let http = reqwest::Client::new();
    for (service, expected) in [("sts", 403), ("s3", 200)] {
        let sig = root_signer(service, true).sign("GET", &host, &path, "", hash, SystemTime::now());
        let resp = http
            .get(format!("{}{path}", server.endpoint()))
            .header("x-amz-date", &sig.amz_date)
            .header("x-amz-content-sha256", hash)
            .header("authorization", &sig.authorization)
            .send()
            .await
            .expect("get");
        let status = resp.status().as_u16();
        let body = resp.text().await.expect("body");
        assert_eq!(status, expected, "{service}: {body}");
        if service == "sts" {
            assert_eq!(xml_code(&body), "SignatureDoesNotMatch", "{body}");
        }
    }
}

/// Sends `request` over HTTP/2 (prior knowledge) to the server; returns status and body.
async fn over_h2(server: &TestServer, request: http::Request<http_body_util::Full<bytes::Bytes>>) -> (u16, String) {
    use http_body_util::BodyExt as _;
    let stream = tokio::net::TcpStream::connect(server.addr).await.expect("connect");
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .expect("HTTP/2 handshake");
    tokio::spawn(connection);
    let response = sender.send_request(request).await.expect("response");
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// HTTP/2 names the host in `:authority`: a signed STS request over HTTP/2 verifies against it (it
/// failed SignatureDoesNotMatch while STS read only `Host`), and a request whose `Host` header names
/// another host than its authority is refused before anything runs.
#[tokio::test]
async fn over_http2_the_authority_is_the_one_host_name() {
    let server = TestServer::start();
    let authority = server.addr.to_string();
    let hash = hex::encode(sha2::Sha256::digest(GET_CALLER_IDENTITY.as_bytes()));
    let sig = root_signer("sts", false).sign("POST", &authority, "/", "", &hash, SystemTime::now());
    let sts = http::Request::post(format!("http://{authority}/"))
        .header("x-amz-date", &sig.amz_date)
        .header("authorization", &sig.authorization)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(http_body_util::Full::new(bytes::Bytes::from_static(GET_CALLER_IDENTITY.as_bytes())))
        .expect("request");
    let (status, body) = over_h2(&server, sts).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("arn:aws:iam::000000000000:root"), "{body}");

    let bucket = bucket_name("h2-host");
    server.client().create_bucket().bucket(&bucket).send().await.expect("bucket");
    let path = format!("/{bucket}/planted");
    let payload = b"planted";
    let hash = hex::encode(sha2::Sha256::digest(payload));
    let sig = root_signer("s3", true).sign("PUT", &authority, &path, "", &hash, SystemTime::now());
    let put = |host: Option<&str>| {
        let mut request = http::Request::put(format!("http://{authority}{path}"))
            .header("x-amz-date", &sig.amz_date)
            .header("x-amz-content-sha256", &hash)
            .header("authorization", &sig.authorization);
        if let Some(host) = host {
            request = request.header("host", host);
        }
        request.body(http_body_util::Full::new(bytes::Bytes::from_static(payload))).expect("request")
    };
    let (status, body) = over_h2(&server, put(Some("evil.example"))).await;
    assert_eq!((status, xml_code(&body)), (400, "InvalidRequest"), "{body}");
    let err = server.client().head_object().bucket(&bucket).key("planted").send().await.expect_err("not written");
    assert_eq!(crate::harness::status(&err), 404);
    // The same signed request with one host name is accepted.
    let (status, body) = over_h2(&server, put(None)).await;
    assert_eq!(status, 200, "{body}");
}
