//! A POST form is valid until its policy's expiration, as on AWS (issue 12, item 8), not 15 minutes
//! after its `x-amz-date`; an expired policy is still refused.

use crate::harness::{ACCESS_KEY, SECRET_KEY, TestServer, bucket_name, multipart};
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

async fn post(form: &serde_json::Value, file: &str) -> (u16, String) {
    let fields = form["fields"].as_object().expect("fields");
    let (content_type, body) = multipart(fields, file, b"posted");
    let resp = reqwest::Client::new()
        .post(form["url"].as_str().expect("url"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("post");
    (resp.status().as_u16(), resp.text().await.expect("body"))
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
    let (status, body) = post(&living, "late.txt").await;
    assert!((200..300).contains(&status), "{status}: {body}");
    s3.head_object().bucket(&bucket).key("uploads/late.txt").send().await.expect("uploaded");
    // Signed 2 hours ago for 1 hour: expired.
    let expired = form(&endpoint, &bucket, Duration::from_secs(7200), Duration::from_secs(3600));
    let (status, body) = post(&expired, "expired.txt").await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");
    assert!(s3.head_object().bucket(&bucket).key("uploads/expired.txt").send().await.is_err());
}
