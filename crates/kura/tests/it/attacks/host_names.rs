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
    let hash = hex::encode(sha2::Sha256::digest(GET_CALLER_IDENTITY.as_bytes()));
    let sig = root_signer("sts", false).sign("POST", host, "/", "", &hash, SystemTime::now());
    let resp = reqwest::Client::new()
        .post(format!("{}/", server.endpoint()))
        .header("host", host)
        .header("x-amz-date", &sig.amz_date)
        .header("authorization", &sig.authorization)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(GET_CALLER_IDENTITY)
        .send()
        .await
        .expect("sts");
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
