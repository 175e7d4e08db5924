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
