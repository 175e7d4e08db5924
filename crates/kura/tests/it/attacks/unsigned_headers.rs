//! `x-amz-*` headers the signature does not cover are refused (issue 12, item 2): whoever holds a
//! presigned PUT URL cannot turn it into a copy, an UploadPart URL into UploadPartCopy, or add
//! metadata, tags or ACLs the signer never agreed to. STS applies the same rule.

use crate::harness::{TestServer, bucket_name, create_upload, status, xml_code};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use std::time::Duration;

#[tokio::test]
async fn a_presigned_put_cannot_carry_unsigned_amz_headers() {
    let server = TestServer::start();
    let s3 = server.client();
    let bucket = bucket_name("unsigned");
    s3.create_bucket().bucket(&bucket).send().await.expect("bucket");
    s3.put_object().bucket(&bucket).key("private").body(ByteStream::from_static(b"private")).send().await.expect("put");
    let cfg = PresigningConfig::expires_in(Duration::from_secs(300)).expect("cfg");
    let put = s3.put_object().bucket(&bucket).key("upload").presigned(cfg.clone()).await.expect("presign");
    let http = reqwest::Client::new();
    let copy_source = format!("{bucket}/private");
    let attacks = [
        ("x-amz-copy-source", copy_source.as_str()),
        ("x-amz-meta-owner", "mallory"),
        ("x-amz-tagging", "public=yes"),
        ("x-amz-acl", "public-read"),
        ("x-amz-storage-class", "STANDARD"),
    ];
    for (name, value) in attacks {
        let resp = http.put(put.uri()).header(name, value).body("payload").send().await.expect("put");
        assert_eq!(resp.status().as_u16(), 403, "{name}");
        let body = resp.text().await.expect("body");
        assert_eq!(xml_code(&body), "AccessDenied", "{name}: {body}");
        assert!(body.contains(name), "the message names the unsigned header: {body}");
        let err = s3.head_object().bucket(&bucket).key("upload").send().await.expect_err("nothing written");
        assert_eq!(status(&err), 404, "{name}");
    }
    // The URL itself still works, and signed metadata is accepted when it is sent as signed.
    let resp = http.put(put.uri()).body("payload").send().await.expect("put");
    assert_eq!(resp.status().as_u16(), 200);
    let signed = s3
        .put_object()
        .bucket(&bucket)
        .key("with-meta")
        .metadata("owner", "alice")
        .presigned(cfg)
        .await
        .expect("presign");
    let resp = http.put(signed.uri()).header("x-amz-meta-owner", "alice").body("x").send().await.expect("put");
    assert_eq!(resp.status().as_u16(), 200, "{}", resp.text().await.unwrap_or_default());
    let head = s3.head_object().bucket(&bucket).key("with-meta").send().await.expect("head");
    assert_eq!(head.metadata().and_then(|m| m.get("owner")).map(String::as_str), Some("alice"));
}

#[tokio::test]
async fn a_presigned_upload_part_cannot_become_a_part_copy() {
    let server = TestServer::start();
    let s3 = server.client();
    let bucket = bucket_name("unsigned-part");
    s3.create_bucket().bucket(&bucket).send().await.expect("bucket");
    s3.put_object().bucket(&bucket).key("private").body(ByteStream::from_static(b"private")).send().await.expect("put");
    let upload = create_upload(&s3, &bucket, "target").await;
    let cfg = PresigningConfig::expires_in(Duration::from_secs(300)).expect("cfg");
    let part = s3
        .upload_part()
        .bucket(&bucket)
        .key("target")
        .upload_id(&upload)
        .part_number(1)
        .presigned(cfg)
        .await
        .expect("presign");
    let resp = reqwest::Client::new()
        .put(part.uri())
        .header("x-amz-copy-source", format!("{bucket}/private"))
        .send()
        .await
        .expect("put");
    assert_eq!(resp.status().as_u16(), 403);
    assert_eq!(xml_code(&resp.text().await.expect("body")), "AccessDenied");
    let parts = s3.list_parts().bucket(&bucket).key("target").upload_id(&upload).send().await.expect("parts");
    assert!(parts.parts().is_empty(), "no part was copied");
}

#[tokio::test]
async fn sts_refuses_unsigned_amz_headers() {
    let server = TestServer::start();
    let host = server.endpoint().trim_start_matches("http://").to_owned();
    for name in ["x-amz-security-token", "x-amz-meta-anything", "x-amz-content-sha256"] {
        let (code, body) = super::host_names::sts_with_unsigned(
            &server,
            &host,
            &[(name, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")],
        )
        .await;
        assert_eq!((code, xml_code(&body)), (403, "AccessDenied"), "{name}: {body}");
        assert!(body.contains(name), "the message names the unsigned header: {body}");
    }
    let (code, body) = super::host_names::sts_with_unsigned(&server, &host, &[]).await;
    assert_eq!(code, 200, "the same request with only signed headers is answered: {body}");
}
