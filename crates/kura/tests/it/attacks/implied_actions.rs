//! What a write sets besides its body needs the action that would set it on its own, as on AWS: tags
//! `s3:PutObjectTagging`, a retention `s3:PutObjectRetention`, a legal hold `s3:PutObjectLegalHold`, a
//! bucket's Object Lock `s3:PutBucketObjectLockConfiguration` (and `s3:PutBucketVersioning`). A Deny on
//! those cannot be walked around through PutObject, CopyObject, CreateMultipartUpload or CreateBucket
//! headers, nor through a POST form's fields, whose condition keys are the fields, never the
//! request's unsigned headers.

use super::{absent, no_bucket};
use crate::harness::{TestServer, code, multipart, status};
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{ChecksumAlgorithm, ObjectLockLegalHoldStatus, ObjectLockMode, TaggingDirective};
use std::time::{Duration, SystemTime};

const CONFIG: &str = r#"
users:
  - access_key: alice
    secret_key: alice-secret-0123456789
    policies: [everything, sets-nothing]
  - access_key: erin
    secret_key: erin-secret-0123456789
    policies: [everything, no-sse-s3-uploads]
  - access_key: tess
    secret_key: tess-secret-0123456789
    policies: [everything, reads-no-tags]
policies:
  everything:
    Statement:
      - Effect: Allow
        Action: "s3:*"
        Resource: "*"
  sets-nothing:
    Statement:
      - Effect: Deny
        Action:
          - s3:PutObjectTagging
          - s3:PutObjectRetention
          - s3:PutObjectLegalHold
          - s3:PutBucketObjectLockConfiguration
        Resource: "*"
  reads-no-tags:
    Statement:
      - Effect: Deny
        Action: [s3:GetObjectTagging, s3:GetObjectVersionTagging]
        Resource: "*"
  no-sse-s3-uploads:
    Statement:
      - Effect: Deny
        Action: s3:PutObject
        Resource: "*"
        Condition: {StringEquals: {"s3:x-amz-server-side-encryption": AES256}}
      - Effect: Deny
        Action: s3:PutObjectTagging
        Resource: "*"
"#;

/// A copy takes its source's tags (the default `COPY` directive): reading them needs
/// `s3:GetObjectTagging` on the source, and setting them `s3:PutObjectTagging` on the copy, as on AWS.
/// Otherwise a user denied reading tags reads them through a copy, and a user denied tagging tags.
#[tokio::test]
async fn a_copy_takes_its_sources_tags_only_with_the_right_to_read_and_set_them() {
    let server = TestServer::start_with_config(CONFIG);
    let root = server.client();
    root.create_bucket().bucket("plain").send().await.expect("bucket");
    let put = |key: &'static str, tags: Option<&'static str>| {
        let mut put = root.put_object().bucket("plain").key(key).body(ByteStream::from_static(b"src"));
        if let Some(tags) = tags {
            put = put.tagging(tags);
        }
        put.send()
    };
    put("tagged", Some("team=payroll")).await.expect("tagged source");
    put("untagged", None).await.expect("untagged source");

    let tess = server.client_with("tess", "tess-secret-0123456789");
    let err = tess
        .copy_object()
        .bucket("plain")
        .key("copy")
        .copy_source("plain/tagged")
        .send()
        .await
        .expect_err("copying the tags reads them");
    assert_eq!((code(&err).as_str(), status(&err)), ("AccessDenied", 403));
    absent(&server, "plain", "copy").await;
    let alice = server.client_with("alice", "alice-secret-0123456789");
    let err = alice
        .copy_object()
        .bucket("plain")
        .key("copy")
        .copy_source("plain/tagged")
        .send()
        .await
        .expect_err("copying the tags sets them");
    assert_eq!((code(&err).as_str(), status(&err)), ("AccessDenied", 403));
    absent(&server, "plain", "copy").await;

    // What needs no tag right still works: a source without tags, and tags replaced by none.
    for who in [&tess, &alice] {
        who.copy_object().bucket("plain").key("copy").copy_source("plain/untagged").send().await.expect("no tags");
        who.copy_object()
            .bucket("plain")
            .key("copy")
            .copy_source("plain/tagged")
            .tagging_directive(TaggingDirective::Replace)
            .send()
            .await
            .expect("tags replaced by none");
        let tags = root.get_object_tagging().bucket("plain").key("copy").send().await.expect("tags");
        assert!(tags.tag_set().is_empty(), "the copy has no tags");
    }
}

fn in_a_day() -> DateTime {
    DateTime::from(SystemTime::now() + Duration::from_secs(86_400))
}

#[tokio::test]
async fn object_writes_cannot_set_what_a_deny_forbids() {
    let server = TestServer::start_with_config(CONFIG);
    let root = server.client();
    root.create_bucket().bucket("plain").send().await.expect("bucket");
    root.create_bucket().bucket("locked").object_lock_enabled_for_bucket(true).send().await.expect("lock bucket");
    root.put_object().bucket("plain").key("src").body(ByteStream::from_static(b"src")).send().await.expect("put");
    let alice = server.client_with("alice", "alice-secret-0123456789");

    let err = alice
        .put_object()
        .bucket("plain")
        .key("tagged")
        .tagging("classification=public")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect_err("tags need s3:PutObjectTagging");
    assert_eq!((code(&err).as_str(), status(&err)), ("AccessDenied", 403));
    absent(&server, "plain", "tagged").await;

    let err = alice
        .put_object()
        .bucket("locked")
        .key("retained")
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(in_a_day())
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect_err("a retention needs s3:PutObjectRetention");
    assert_eq!((code(&err).as_str(), status(&err)), ("AccessDenied", 403));
    absent(&server, "locked", "retained").await;

    let err = alice
        .put_object()
        .bucket("locked")
        .key("held")
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect_err("a legal hold needs s3:PutObjectLegalHold");
    assert_eq!((code(&err).as_str(), status(&err)), ("AccessDenied", 403));
    absent(&server, "locked", "held").await;

    let err = alice
        .copy_object()
        .bucket("plain")
        .key("copied")
        .copy_source("plain/src")
        .tagging_directive(TaggingDirective::Replace)
        .tagging("classification=public")
        .send()
        .await
        .expect_err("a copy's new tags need s3:PutObjectTagging");
    assert_eq!((code(&err).as_str(), status(&err)), ("AccessDenied", 403));
    absent(&server, "plain", "copied").await;

    let err = alice
        .copy_object()
        .bucket("locked")
        .key("copied")
        .copy_source("plain/src")
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .send()
        .await
        .expect_err("a copy's legal hold needs s3:PutObjectLegalHold");
    assert_eq!((code(&err).as_str(), status(&err)), ("AccessDenied", 403));
    absent(&server, "locked", "copied").await;

    for (bucket, tags, mode) in
        [("plain", Some("classification=public"), None), ("locked", None, Some(ObjectLockMode::Governance))]
    {
        let err = alice
            .create_multipart_upload()
            .bucket(bucket)
            .key("multi")
            .set_tagging(tags.map(str::to_owned))
            .set_object_lock_mode(mode.clone())
            .set_object_lock_retain_until_date(mode.map(|_| in_a_day()))
            .send()
            .await
            .expect_err("an upload's tags or retention need their actions");
        assert_eq!((code(&err).as_str(), status(&err)), ("AccessDenied", 403), "{bucket}");
        let uploads = root.list_multipart_uploads().bucket(bucket).send().await.expect("list uploads");
        assert!(uploads.uploads().is_empty(), "{bucket}: no upload was started");
    }

    let err = alice
        .create_bucket()
        .bucket("alice-locked")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .expect_err("Object Lock needs s3:PutBucketObjectLockConfiguration");
    assert_eq!((code(&err).as_str(), status(&err)), ("AccessDenied", 403));
    no_bucket(&server, "alice-locked").await;

    // What alice may do still works: a plain write, a copy keeping the source's (no) tags, a bucket.
    alice.put_object().bucket("plain").key("fine").body(ByteStream::from_static(b"x")).send().await.expect("put");
    alice.copy_object().bucket("plain").key("copy").copy_source("plain/src").send().await.expect("copy");
    alice.create_bucket().bucket("alice-plain").send().await.expect("bucket");
}

/// The fields of a POST form signed by `erin` for `bucket`, allowing any key under `up/`, the file, and the
/// encryption and tagging fields.
fn erin_form(bucket: &str) -> serde_json::Map<String, serde_json::Value> {
    let now = SystemTime::now();
    let amz_date = kura_sigv4::format_amz_date(now);
    let date = &amz_date[..8];
    let credential = format!("erin/{date}/us-east-1/s3/aws4_request");
    let expiration = time::OffsetDateTime::from(now + Duration::from_secs(600))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("expiration");
    let policy = serde_json::json!({
        "expiration": expiration,
        "conditions": [
            {"bucket": bucket},
            ["starts-with", "$key", "up/"],
            ["starts-with", "$x-amz-server-side-encryption", ""],
            ["starts-with", "$x-amz-tagging", ""],
            {"x-amz-algorithm": kura_sigv4::ALGORITHM},
            {"x-amz-credential": credential},
            {"x-amz-date": amz_date},
        ],
    });
    use base64::Engine as _;
    let policy = base64::engine::general_purpose::STANDARD.encode(policy.to_string());
    let key = kura_sigv4::derive_key("erin-secret-0123456789", date, "us-east-1", "s3");
    let mut fields = serde_json::Map::new();
    fields.insert("x-amz-algorithm".into(), kura_sigv4::ALGORITHM.into());
    fields.insert("x-amz-credential".into(), credential.into());
    fields.insert("x-amz-date".into(), amz_date.clone().into());
    fields.insert("x-amz-signature".into(), kura_sigv4::sign_post_policy(&key, &policy).into());
    fields.insert("policy".into(), policy.into());
    fields
}

/// Posts `fields` plus `key` (and `extra` form fields) to `bucket`, with `headers` on the HTTP request.
async fn post(
    server: &TestServer,
    bucket: &str,
    mut fields: serde_json::Map<String, serde_json::Value>,
    extra: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> (u16, String) {
    for (name, value) in extra {
        fields.insert((*name).into(), (*value).into());
    }
    let (content_type, body) = multipart(&fields, "file.txt", b"posted");
    let mut request =
        reqwest::Client::new().post(format!("{}/{bucket}", server.endpoint())).header("content-type", content_type);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let resp = request.body(body).send().await.expect("post");
    (resp.status().as_u16(), resp.text().await.expect("body"))
}

#[tokio::test]
async fn a_post_forms_condition_keys_are_its_fields_not_its_headers() {
    let server = TestServer::start_with_config(CONFIG);
    let root = server.client();
    root.create_bucket().bucket("forms").send().await.expect("bucket");
    let fields = erin_form("forms");

    // The form asks for SSE-S3, which erin's policy denies; a header claiming SSE-KMS changes nothing.
    let (code, body) = post(
        &server,
        "forms",
        fields.clone(),
        &[("key", "up/sse-s3"), ("x-amz-server-side-encryption", "AES256")],
        &[("x-amz-server-side-encryption", "aws:kms")],
    )
    .await;
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");
    absent(&server, "forms", "up/sse-s3").await;

    // Tags set by a form field need s3:PutObjectTagging, which erin lacks.
    let (code, body) =
        post(&server, "forms", fields.clone(), &[("key", "up/tagged"), ("x-amz-tagging", "secret=leak")], &[]).await;
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");
    absent(&server, "forms", "up/tagged").await;

    // A header claiming SSE-S3 on a form that asks for none is not a field: the upload is allowed.
    let (code, body) =
        post(&server, "forms", fields, &[("key", "up/plain")], &[("x-amz-server-side-encryption", "AES256")]).await;
    assert!((200..300).contains(&code), "{code}: {body}");
    let head = root.head_object().bucket("forms").key("up/plain").send().await.expect("uploaded");
    assert_eq!(head.server_side_encryption(), None, "the header did not encrypt it either");
}
