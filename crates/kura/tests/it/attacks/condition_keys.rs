//! A Deny whose condition reads a key AWS fills must see that key on every path to the action: the tag
//! set in PutObjectTagging's body (never an `x-amz-tagging` header sent beside it), an object's stored
//! tags when DeleteObjects removes it, `s3:versionid`, the `s3:object-lock-*` keys of a write or of
//! PutObjectRetention's body, `s3:LocationConstraint`; and GetObjectAttributes needs the read action too.

use super::{absent, no_bucket};
use crate::harness::{TestServer, code, status};
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    BucketLocationConstraint, ChecksumAlgorithm, CreateBucketConfiguration, Delete, ObjectAttributes, ObjectIdentifier,
    ObjectLockMode, ObjectLockRetention, ObjectLockRetentionMode, Tag, Tagging,
};
use std::time::{Duration, SystemTime};

const CONFIG: &str = r#"
users:
  - access_key: bob
    secret_key: bob-secret-0123456789
    policies: [objects, blue-tags-only]
  - access_key: carol
    secret_key: carol-secret-0123456789
    policies: [everything, keep-protected]
  - access_key: dave
    secret_key: dave-secret-0123456789
    policies: [everything, bounded]
policies:
  everything:
    Statement:
      - Effect: Allow
        Action: "s3:*"
        Resource: "*"
  objects:
    Statement:
      - Effect: Allow
        Action: [s3:GetObject, s3:PutObject, s3:GetObjectTagging]
        Resource: "*"
  blue-tags-only:
    Statement:
      - Effect: Allow
        Action: s3:PutObjectTagging
        Resource: "*"
        Condition: {StringEquals: {"s3:RequestObjectTag/team": blue}}
      - Effect: Deny
        Action: s3:PutObjectTagging
        Resource: "*"
        Condition: {"ForAnyValue:StringEquals": {"s3:RequestObjectTagKeys": [classification]}}
  keep-protected:
    Statement:
      - Effect: Deny
        Action: [s3:DeleteObject, s3:DeleteObjectVersion]
        Resource: "*"
        Condition: {StringEquals: {"s3:ExistingObjectTag/protected": "yes"}}
  bounded:
    Statement:
      - Effect: Deny
        Action: s3:GetObjectVersion
        Resource: "*"
      - Effect: Deny
        Action: s3:PutObject
        Resource: "*"
        Condition: {StringEquals: {"s3:object-lock-mode": COMPLIANCE}}
      - Effect: Deny
        Action: s3:PutObjectRetention
        Resource: "*"
        Condition: {NumericGreaterThan: {"s3:object-lock-remaining-retention-days": "30"}}
      - Effect: Deny
        Action: s3:DeleteObjectVersion
        Resource: "*"
        Condition: {"Null": {"s3:versionid": "false"}}
      - Effect: Deny
        Action: s3:CreateBucket
        Resource: "*"
        Condition: {"Null": {"s3:LocationConstraint": "false"}}
"#;

fn tagging(pairs: &[(&str, &str)]) -> Tagging {
    let set = pairs.iter().map(|(k, v)| Tag::builder().key(*k).value(*v).build().expect("tag")).collect();
    Tagging::builder().set_tag_set(Some(set)).build().expect("tagging")
}

async fn tags(server: &TestServer, bucket: &str, key: &str) -> Vec<(String, String)> {
    let out = server.client().get_object_tagging().bucket(bucket).key(key).send().await.expect("tags");
    out.tag_set().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect()
}

#[tokio::test]
async fn put_object_tagging_is_decided_on_the_tags_in_its_body() {
    let server = TestServer::start_with_config(CONFIG);
    let root = server.client();
    root.create_bucket().bucket("tags").send().await.expect("bucket");
    root.put_object().bucket("tags").key("k").body(ByteStream::from_static(b"x")).send().await.expect("put");
    let bob = server.client_with("bob", "bob-secret-0123456789");

    bob.put_object_tagging()
        .bucket("tags")
        .key("k")
        .tagging(tagging(&[("team", "blue")]))
        .send()
        .await
        .expect("the allow matches the body's tags");
    assert_eq!(tags(&server, "tags", "k").await, [("team".to_owned(), "blue".to_owned())]);

    // The body asks for classification=public; a signed header claiming team=blue is not the body.
    let err = bob
        .put_object_tagging()
        .bucket("tags")
        .key("k")
        .tagging(tagging(&[("classification", "public"), ("team", "red")]))
        .customize()
        .mutate_request(|r| {
            r.headers_mut().insert("x-amz-tagging", "team=blue");
        })
        .send()
        .await
        .expect_err("the deny reads the body's tag keys");
    assert_eq!((code(&err).as_str(), status(&err)), ("AccessDenied", 403));
    let err = bob
        .put_object_tagging()
        .bucket("tags")
        .key("k")
        .tagging(tagging(&[("team", "red")]))
        .send()
        .await
        .expect_err("the allow needs team=blue");
    assert_eq!((code(&err).as_str(), status(&err)), ("AccessDenied", 403));
    assert_eq!(tags(&server, "tags", "k").await, [("team".to_owned(), "blue".to_owned())], "tags unchanged");
}

#[tokio::test]
async fn delete_objects_reads_each_objects_stored_tags() {
    let server = TestServer::start_with_config(CONFIG);
    let root = server.client();
    root.create_bucket().bucket("keep").send().await.expect("bucket");
    for (key, tags) in [("p", "protected=yes"), ("q", "protected=no")] {
        root.put_object()
            .bucket("keep")
            .key(key)
            .tagging(tags)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .expect("put");
    }
    let carol = server.client_with("carol", "carol-secret-0123456789");
    let err = carol.delete_object().bucket("keep").key("p").send().await.expect_err("protected");
    assert_eq!((code(&err).as_str(), status(&err)), ("AccessDenied", 403));

    let objects = ["p", "q"].map(|k| ObjectIdentifier::builder().key(k).build().expect("id")).to_vec();
    let out = carol
        .delete_objects()
        .bucket("keep")
        .delete(Delete::builder().set_objects(Some(objects)).build().expect("delete"))
        .send()
        .await
        .expect("delete objects");
    let deleted: Vec<_> = out.deleted().iter().filter_map(|d| d.key()).collect();
    let refused: Vec<_> = out.errors().iter().map(|e| (e.key().unwrap_or(""), e.code().unwrap_or(""))).collect();
    assert_eq!(deleted, ["q"]);
    assert_eq!(refused, [("p", "AccessDenied")]);
    root.head_object().bucket("keep").key("p").send().await.expect("p was kept");
}

#[tokio::test]
async fn version_lock_and_location_keys_are_filled() {
    let server = TestServer::start_with_config(CONFIG);
    let root = server.client();
    root.create_bucket().bucket("vault").object_lock_enabled_for_bucket(true).send().await.expect("bucket");
    let put =
        root.put_object().bucket("vault").key("v").body(ByteStream::from_static(b"first")).send().await.expect("put");
    let version = put.version_id().expect("versioned").to_owned();
    let dave = server.client_with("dave", "dave-secret-0123456789");

    // s3:GetObjectVersion is denied: GetObjectAttributes of that version needs it too.
    let err = dave
        .get_object_attributes()
        .bucket("vault")
        .key("v")
        .version_id(&version)
        .object_attributes(ObjectAttributes::Etag)
        .send()
        .await
        .expect_err("attributes of a version need s3:GetObjectVersion");
    assert_eq!((code(&err).as_str(), status(&err)), ("AccessDenied", 403));
    dave.get_object_attributes()
        .bucket("vault")
        .key("v")
        .object_attributes(ObjectAttributes::Etag)
        .send()
        .await
        .expect("attributes of the current object");

    // s3:versionid is filled: a delete naming a version is denied, a plain one is not.
    let err =
        dave.delete_object().bucket("vault").key("v").version_id(&version).send().await.expect_err("names a version");
    assert_eq!((code(&err).as_str(), status(&err)), ("AccessDenied", 403));

    // s3:object-lock-mode on a write.
    let until = DateTime::from(SystemTime::now() + Duration::from_secs(3 * 86_400));
    let err = dave
        .put_object()
        .bucket("vault")
        .key("compliance")
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(until)
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect_err("COMPLIANCE is denied");
    assert_eq!((code(&err).as_str(), status(&err)), ("AccessDenied", 403));
    absent(&server, "vault", "compliance").await;
    dave.put_object()
        .bucket("vault")
        .key("governance")
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(until)
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect("GOVERNANCE is allowed");

    // s3:object-lock-remaining-retention-days from PutObjectRetention's body.
    let retention = |days: u64| {
        ObjectLockRetention::builder()
            .mode(ObjectLockRetentionMode::Governance)
            .retain_until_date(DateTime::from(SystemTime::now() + Duration::from_secs(days * 86_400)))
            .build()
    };
    let err = dave
        .put_object_retention()
        .bucket("vault")
        .key("v")
        .retention(retention(3650))
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .send()
        .await
        .expect_err("ten years is more than 30 days");
    assert_eq!((code(&err).as_str(), status(&err)), ("AccessDenied", 403));
    let err = root.get_object_retention().bucket("vault").key("v").send().await.expect_err("no retention was set");
    assert_eq!(code(&err), "NoSuchObjectLockConfiguration");
    dave.put_object_retention()
        .bucket("vault")
        .key("v")
        .retention(retention(10))
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .send()
        .await
        .expect("ten days is allowed");

    // s3:LocationConstraint from CreateBucket's body.
    let config =
        CreateBucketConfiguration::builder().location_constraint(BucketLocationConstraint::from("us-east-1")).build();
    let err = dave
        .create_bucket()
        .bucket("dave-placed")
        .create_bucket_configuration(config)
        .send()
        .await
        .expect_err("a location constraint is denied");
    assert_eq!((code(&err).as_str(), status(&err)), ("AccessDenied", 403));
    no_bucket(&server, "dave-placed").await;
    dave.create_bucket().bucket("dave-plain").send().await.expect("no constraint is allowed");
}
