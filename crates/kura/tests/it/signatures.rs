//! Authentication: tampered, wrong and skewed signatures; presigned URLs used by a plain HTTP client;
//! anonymous requests; the health probes and request ids.

use crate::harness::{ACCESS_KEY, TestServer, bucket_name, code, status};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use std::time::{Duration, SystemTime};

async fn setup() -> (TestServer, aws_sdk_s3::Client, String) {
    let server = TestServer::start();
    let s3 = server.client();
    let bucket = bucket_name("sig");
    s3.create_bucket().bucket(&bucket).send().await.expect("create bucket");
    s3.put_object().bucket(&bucket).key("obj").body(ByteStream::from_static(b"secret data")).send().await.expect("put");
    (server, s3, bucket)
}

#[tokio::test]
async fn wrong_secret_and_unknown_key_are_refused() {
    let (server, _s3, bucket) = setup().await;
    let err = server
        .client_with(ACCESS_KEY, "wrong-secret-123")
        .list_objects_v2()
        .bucket(&bucket)
        .send()
        .await
        .expect_err("403");
    assert_eq!(code(&err), "SignatureDoesNotMatch");
    assert_eq!(status(&err), 403);
    let err = server
        .client_with("nobody", "whatever-secret")
        .list_objects_v2()
        .bucket(&bucket)
        .send()
        .await
        .expect_err("403");
    assert_eq!(code(&err), "InvalidAccessKeyId");
    assert_eq!(status(&err), 403);
}

#[tokio::test]
async fn presigned_get_and_put_work_with_plain_http_and_tampering_fails() {
    let (_server, s3, bucket) = setup().await;
    let http = reqwest::Client::new();
    let cfg = PresigningConfig::expires_in(Duration::from_secs(300)).expect("cfg");
    let get = s3.get_object().bucket(&bucket).key("obj").presigned(cfg.clone()).await.expect("presign get");
    let resp = http.get(get.uri()).send().await.expect("GET");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.expect("body").as_ref(), b"secret data");

    // Flip one hex digit of the signature, keeping its length.
    let uri = get.uri().to_owned();
    let at = uri.find("X-Amz-Signature=").expect("signature") + "X-Amz-Signature=".len();
    let flipped = if &uri[at..at + 1] == "0" { "1" } else { "0" };
    let tampered = format!("{}{}{}", &uri[..at], flipped, &uri[at + 1..]);
    let resp = http.get(&tampered).send().await.expect("GET");
    assert_eq!(resp.status(), 403);
    assert!(resp.text().await.expect("body").contains("<Code>"), "an S3 XML error");

    let other_key = get.uri().replace("/obj?", "/other?");
    let status = http.get(&other_key).send().await.expect("GET").status();
    assert!(status.is_client_error(), "a URL is bound to its key: {status}");

    let put = s3.put_object().bucket(&bucket).key("uploaded").presigned(cfg.clone()).await.expect("presign put");
    let resp = http.put(put.uri()).body("from curl").send().await.expect("PUT");
    assert_eq!(resp.status(), 200);
    let got = s3.get_object().bucket(&bucket).key("uploaded").send().await.expect("get");
    assert_eq!(got.body.collect().await.expect("body").into_bytes().as_ref(), b"from curl");

    let head = s3.head_object().bucket(&bucket).key("obj").presigned(cfg.clone()).await.expect("presign head");
    assert_eq!(http.head(head.uri()).send().await.expect("HEAD").status(), 200);
    let del = s3.delete_object().bucket(&bucket).key("uploaded").presigned(cfg).await.expect("presign delete");
    assert_eq!(http.delete(del.uri()).send().await.expect("DELETE").status(), 204);
}

#[tokio::test]
async fn expired_presigned_url_is_refused() {
    let (_server, s3, bucket) = setup().await;
    let cfg = PresigningConfig::builder()
        .start_time(SystemTime::now() - Duration::from_secs(120))
        .expires_in(Duration::from_secs(60))
        .build()
        .expect("cfg");
    let get = s3.get_object().bucket(&bucket).key("obj").presigned(cfg).await.expect("presign");
    let resp = reqwest::get(get.uri()).await.expect("GET");
    assert_eq!(resp.status(), 403);
    assert!(resp.text().await.expect("body").contains("expired"));
}

#[tokio::test]
async fn anonymous_requests_are_denied() {
    let (server, _s3, bucket) = setup().await;
    let resp = reqwest::get(format!("{}/{bucket}/obj", server.endpoint())).await.expect("GET");
    assert_eq!(resp.status(), 403);
    assert!(resp.headers().contains_key("x-amz-request-id"));
    assert!(resp.text().await.expect("body").contains("<Code>AccessDenied</Code>"));
    let resp =
        reqwest::Client::new().put(format!("{}/{bucket}/new", server.endpoint())).body("x").send().await.expect("PUT");
    assert_eq!(resp.status(), 403);
}

#[tokio::test]
async fn health_probes_answer() {
    let server = TestServer::start();
    for probe in ["live", "ready"] {
        let resp = reqwest::get(format!("{}/kura/health/{probe}", server.endpoint())).await.expect("probe");
        assert_eq!(resp.status(), 200, "{probe}");
    }
}

#[tokio::test]
async fn sigterm_shuts_down_cleanly() {
    let mut server = TestServer::start();
    assert!(server.terminate(), "kura exits 0 on SIGTERM");
}
