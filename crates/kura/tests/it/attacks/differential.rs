//! The differential test of authorisation (issue 12): over generated requests — keys and copy sources
//! with `/`, `%2F`, `?`, `..`, unicode and double encoding, across the object operations — every object
//! an operation read or wrote must be an object that authorisation allowed for that request.
//!
//! Both sides are recorded by the server itself, in the audit line's `resources` (`authorized`: what
//! policy evaluation allowed; `touched`: what the operation asked the metadata store about), so this
//! observes the invariant instead of assuming it.

use crate::harness::{ACCESS_KEY, TestServer, code};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier, Tag, Tagging};
use std::collections::BTreeSet;

const CONFIG: &str = r#"
users:
  - access_key: mallory
    secret_key: mallory-secret-0123456789
    policies: [readwrite, no-secrets]
  - access_key: seeder
    secret_key: seeder-secret-0123456789
    policies: [readwrite]
policies:
  no-secrets:
    Statement:
      - Effect: Deny
        Action: "s3:*"
        Resource: ["arn:aws:s3:::shared/secret/*", "arn:aws:s3:::shared/*.key"]
buckets:
  - name: shared
  - name: loot
"#;

/// Keys that tempt a second parse to disagree with the first.
const KEYS: &[&str] = &[
    "plain.txt",
    "dir/sub/file",
    "a%2Fb",
    "a%252Fb",
    "q?versionId=null",
    "q?x=1&y=2",
    "../escape",
    "dir/../secret/topsecret.txt",
    "./dot",
    "uni/日本語/ファイル",
    "space and+plus",
    "semi;colon#hash",
    "trailing/",
    "a?b.key",
];

/// Ways to write the copy source for `bucket/key`.
fn copy_sources(bucket: &str, key: &str) -> Vec<String> {
    let encoded: String = percent_encoding::utf8_percent_encode(key, percent_encoding::NON_ALPHANUMERIC).collect();
    let path_encoded = encoded.replace("%2F", "/");
    vec![
        format!("{bucket}/{path_encoded}"),
        format!("/{bucket}/{path_encoded}"),
        format!("%2F{bucket}/{encoded}"),
        format!("{bucket}%2F{encoded}"),
        format!("{bucket}/{key}"),
        format!("{bucket}/{path_encoded}?versionId=null"),
    ]
}

/// The generated requests, made by `s3`; returns how many were sent.
async fn attack(s3: &aws_sdk_s3::Client) -> usize {
    let mut requests = 0usize;
    for (i, key) in KEYS.iter().enumerate() {
        let dst = format!("copy-{i}");
        let _ = s3.get_object().bucket("shared").key(*key).send().await;
        let _ = s3.head_object().bucket("shared").key(*key).send().await;
        let tags = Tagging::builder().tag_set(Tag::builder().key("k").value("v").build().expect("tag")).build();
        let _ = s3.put_object_tagging().bucket("loot").key(*key).tagging(tags.expect("tagging")).send().await;
        let _ = s3.put_object().bucket("loot").key(*key).body(ByteStream::from_static(b"x")).send().await;
        let _ = s3.get_object_tagging().bucket("loot").key(*key).send().await;
        requests += 5;
        for source in copy_sources("shared", key).into_iter().chain(copy_sources("shared", "secret/topsecret.txt")) {
            let _ = s3.copy_object().bucket("loot").key(&dst).copy_source(&source).send().await;
            requests += 1;
        }
        let upload = s3.create_multipart_upload().bucket("loot").key(*key).send().await.expect("upload");
        let upload_id = upload.upload_id().expect("id");
        let mut parts = Vec::new();
        for (n, source) in copy_sources("shared", key).into_iter().take(2).enumerate() {
            let number = i32::try_from(n + 1).expect("part number");
            if let Ok(out) = s3
                .upload_part_copy()
                .bucket("loot")
                .key(*key)
                .upload_id(upload_id)
                .part_number(number)
                .copy_source(source)
                .send()
                .await
            {
                let etag = out.copy_part_result().and_then(|r| r.e_tag()).unwrap_or_default().to_owned();
                parts.push(CompletedPart::builder().part_number(number).e_tag(etag).build());
            }
        }
        let err = s3
            .upload_part_copy()
            .bucket("loot")
            .key(*key)
            .upload_id(upload_id)
            .part_number(9)
            .copy_source("%2Fshared/secret/topsecret.txt")
            .send()
            .await
            .expect_err("denied");
        assert_eq!(code(&err), "AccessDenied");
        let done = CompletedMultipartUpload::builder().set_parts(Some(parts)).build();
        let _ = s3
            .complete_multipart_upload()
            .bucket("loot")
            .key(*key)
            .upload_id(upload_id)
            .multipart_upload(done)
            .send()
            .await;
        requests += 5;
        let delete = Delete::builder()
            .objects(ObjectIdentifier::builder().key(*key).build().expect("id"))
            .objects(ObjectIdentifier::builder().key("secret/topsecret.txt").build().expect("id"))
            .build()
            .expect("delete");
        let _ = s3.delete_objects().bucket("shared").delete(delete).send().await;
        let _ = s3.delete_object().bucket("loot").key(&dst).send().await;
        requests += 2;
    }
    requests
}

#[tokio::test]
async fn every_touched_object_was_authorised() {
    let dir = tempfile::tempdir().expect("dir");
    let log = dir.path().join("audit.log");
    let server = TestServer::start_with_config(&format!("{CONFIG}audit:\n  path: {}\n", log.display()));
    let root = server.client();
    // Seeded by a user the test does not judge, so every root line below is an attack.
    let seeder = server.client_with("seeder", "seeder-secret-0123456789");
    for key in KEYS.iter().chain(&["secret/topsecret.txt"]) {
        seeder
            .put_object()
            .bucket("shared")
            .key(*key)
            .body(ByteStream::from_static(b"seed"))
            .send()
            .await
            .expect("seed");
    }
    let mallory = server.client_with("mallory", "mallory-secret-0123456789");
    let mut requests = attack(&mallory).await;
    // Root is bound by an explicit Deny in a bucket policy (as on AWS): the same requests, as root,
    // under a bucket policy denying the secrets to everyone, must touch only what was authorised.
    let deny = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::shared/secret/*","arn:aws:s3:::shared/*.key"]}]}"#;
    root.put_bucket_policy().bucket("shared").policy(deny).send().await.expect("policy");
    requests += attack(&root).await;
    root.delete_bucket_policy().bucket("shared").send().await.expect("root may always delete the policy");
    seeder.head_object().bucket("shared").key("secret/topsecret.txt").send().await.expect("the secret survived");

    // Wait for every line (the writer thread is asynchronous), then check each.
    let mut lines = Vec::new();
    for _ in 0..100 {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        lines = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|r| r["caller"]["access_key"] == "mallory" || r["caller"]["access_key"] == ACCESS_KEY)
            .collect();
        if lines.len() >= requests {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(lines.len() >= requests, "{} audit lines for {requests} requests", lines.len());
    let mut checked = 0;
    for line in &lines {
        let strings = |field: &str| -> Vec<String> {
            line["resources"][field]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                .unwrap_or_default()
        };
        let allowed: BTreeSet<String> =
            strings("authorized").iter().filter_map(|e| e.split_once(' ').map(|(_, r)| r.to_owned())).collect();
        for object in strings("touched") {
            assert!(allowed.contains(&object), "touched {object} without authorisation: {line}");
            assert!(!object.contains("shared/secret/"), "touched the denied secret: {line}");
            checked += 1;
        }
    }
    assert!(checked > requests / 2, "only {checked} touches checked: the trace is not recording");
}
