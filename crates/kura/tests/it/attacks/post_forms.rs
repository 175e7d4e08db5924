//! A POST form is valid until its policy's expiration, as on AWS (issue 12, item 8), not 15 minutes
//! after its `x-amz-date`; an expired policy is still refused.

use crate::harness::{ACCESS_KEY, SECRET_KEY, TestServer, bucket_name, post_form};
use kura_server::presign::PostForm;
use std::time::{Duration, SystemTime};

fn form(endpoint: &str, bucket: &str, signed_ago: Duration, lifetime: Duration) -> serde_json::Value {
    PostForm {
        endpoint,
        region: "us-east-1",
        access_key: ACCESS_KEY,
        secret: SECRET_KEY,
        session_token: None,
        bucket,
        prefix: "uploads/",
        exact_key: false,
        max_size: 1024,
        content_type: None,
        expires: lifetime,
    }
    .build(SystemTime::now() - signed_ago)
    .expect("form")
}

#[tokio::test]
async fn a_form_lives_until_its_policy_expires() {
    let server = TestServer::start();
    let bucket = bucket_name("post-form");
    let s3 = server.client();
    s3.create_bucket().bucket(&bucket).send().await.expect("bucket");
    let endpoint = server.endpoint();
    // Signed 40 minutes ago for 2 hours: still valid.
    let living = form(&endpoint, &bucket, Duration::from_secs(40 * 60), Duration::from_secs(7200));
    let (status, body) = post_form(&living, "uploads/late.txt", b"posted").await;
    assert!((200..300).contains(&status), "{status}: {body}");
    s3.head_object().bucket(&bucket).key("uploads/late.txt").send().await.expect("uploaded");
    // Signed 2 hours ago for 1 hour: expired.
    let expired = form(&endpoint, &bucket, Duration::from_secs(7200), Duration::from_secs(3600));
    let (status, body) = post_form(&expired, "uploads/expired.txt", b"posted").await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");
    assert!(s3.head_object().bucket(&bucket).key("uploads/expired.txt").send().await.is_err());
}

/// Every field of a signed form must be named by its policy, the encryption fields too (s3s lets those
/// through for MinIO's sake): otherwise whoever holds a form chooses the object's encryption, an SSE-C
/// key of their own over the bucket's default that leaves the signer unable to read what was uploaded.
#[tokio::test]
async fn a_form_cannot_choose_encryption_its_policy_does_not_name() {
    let server = TestServer::start();
    let bucket = bucket_name("post-sse");
    let s3 = server.client();
    s3.create_bucket().bucket(&bucket).send().await.expect("bucket");
    let signed = form(&server.endpoint(), &bucket, Duration::ZERO, Duration::from_secs(600));
    for (field, value) in [
        ("x-amz-server-side-encryption", "AES256"),
        ("x-amz-server-side-encryption-customer-algorithm", "AES256"),
        ("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id", "alias/aws/s3"),
    ] {
        let mut with_field = signed.clone();
        with_field["fields"][field] = value.into();
        let (status, body) = post_form(&with_field, "uploads/chosen.txt", b"posted").await;
        assert_eq!(status, 403, "{field}: {body}");
        assert!(body.contains("<Code>AccessDenied</Code>") && body.contains("Extra input fields"), "{body}");
    }
    let err = s3.head_object().bucket(&bucket).key("uploads/chosen.txt").send().await.expect_err("nothing stored");
    assert_eq!(crate::harness::status(&err), 404);
    // The form as signed still works.
    let (status, body) = post_form(&signed, "uploads/plain.txt", b"posted").await;
    assert!((200..300).contains(&status), "{status}: {body}");
}
