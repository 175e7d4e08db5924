//! Object Lock end to end with the AWS SDK for Rust: the bucket configuration, retention and legal
//! hold on objects, the locks new objects get, and what a lock refuses (to root and to users, with and
//! without `x-amz-bypass-governance-retention` and `s3:BypassGovernanceRetention`).

use crate::harness::{TestServer, bucket_name, code, status};
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    Delete, ObjectIdentifier, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockLegalHold,
    ObjectLockLegalHoldStatus, ObjectLockMode, ObjectLockRetention, ObjectLockRetentionMode, ObjectLockRule,
};

/// Two users on `locked-*` buckets: `keeper` may do everything there but bypass GOVERNANCE retention;
/// `warden` may also bypass it.
const CONFIG: &str = r#"
users:
  - access_key: keeper
    secret_key: keeper-secret-0123456789
    policies: [keeper]
  - access_key: warden
    secret_key: warden-secret-0123456789
    policies: [warden]
policies:
  keeper:
    Version: "2012-10-17"
    Statement:
      - Effect: Allow
        Action: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion",
                 "s3:PutObjectRetention", "s3:GetObjectRetention", "s3:PutObjectLegalHold",
                 "s3:GetObjectLegalHold", "s3:ListBucket"]
        Resource: ["arn:aws:s3:::locked-*", "arn:aws:s3:::locked-*/*"]
  warden:
    Version: "2012-10-17"
    Statement:
      - Effect: Allow
        Action: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion",
                 "s3:PutObjectRetention", "s3:GetObjectRetention", "s3:PutObjectLegalHold",
                 "s3:GetObjectLegalHold", "s3:ListBucket", "s3:BypassGovernanceRetention"]
        Resource: ["arn:aws:s3:::locked-*", "arn:aws:s3:::locked-*/*"]
"#;

fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64
}

fn default_rule(mode: &str, days: Option<i32>, years: Option<i32>) -> ObjectLockConfiguration {
    let mut retention = aws_sdk_s3::types::DefaultRetention::builder().mode(ObjectLockRetentionMode::from(mode));
    if let Some(d) = days {
        retention = retention.days(d);
    }
    if let Some(y) = years {
        retention = retention.years(y);
    }
    ObjectLockConfiguration::builder()
        .object_lock_enabled(ObjectLockEnabled::Enabled)
        .rule(ObjectLockRule::builder().default_retention(retention.build()).build())
        .build()
}

fn retention(mode: &str, until_secs: i64) -> ObjectLockRetention {
    ObjectLockRetention::builder()
        .mode(ObjectLockRetentionMode::from(mode))
        .retain_until_date(DateTime::from_secs(until_secs))
        .build()
}

async fn lock_bucket(s3: &Client, tag: &str) -> String {
    let bucket = format!("locked-{}", bucket_name(tag));
    s3.create_bucket().bucket(&bucket).object_lock_enabled_for_bucket(true).send().await.expect("create");
    bucket
}

/// Puts a small object; answers its version id (a bucket with Object Lock is versioned).
async fn put(s3: &Client, bucket: &str, key: &str) -> String {
    let out = s3.put_object().bucket(bucket).key(key).body(ByteStream::from_static(b"kept")).send().await;
    out.expect("put").version_id.unwrap_or_default()
}

/// Whether the version `version` of `key` is still stored.
async fn version_exists(s3: &Client, bucket: &str, key: &str, version: &str) -> bool {
    s3.head_object().bucket(bucket).key(key).version_id(version).send().await.is_ok()
}

/// The object's retention as GetObjectRetention reports it: (mode, until in seconds).
async fn retention_of(s3: &Client, bucket: &str, key: &str) -> Option<(String, i64)> {
    match s3.get_object_retention().bucket(bucket).key(key).send().await {
        Ok(out) => {
            let r = out.retention.expect("retention");
            Some((r.mode.expect("mode").as_str().to_owned(), r.retain_until_date.expect("date").secs()))
        }
        Err(e) => {
            assert_eq!(code(&e), "NoSuchObjectLockConfiguration");
            None
        }
    }
}

async fn exists(s3: &Client, bucket: &str, key: &str) -> bool {
    s3.head_object().bucket(bucket).key(key).send().await.is_ok()
}

#[tokio::test]
async fn the_bucket_configuration_round_trips_and_every_refusal_changes_nothing() {
    let server = TestServer::start();
    let s3 = server.client();
    let bucket = lock_bucket(&s3, "olcfg").await;
    let got = s3.get_object_lock_configuration().bucket(&bucket).send().await.expect("get");
    let config = got.object_lock_configuration.expect("configuration");
    assert_eq!(config.object_lock_enabled, Some(ObjectLockEnabled::Enabled));
    assert_eq!(config.rule, None, "no default retention until one is set");

    for rule in [default_rule("GOVERNANCE", Some(1), None), default_rule("COMPLIANCE", None, Some(2))] {
        s3.put_object_lock_configuration()
            .bucket(&bucket)
            .object_lock_configuration(rule.clone())
            .send()
            .await
            .expect("put");
        let got = s3.get_object_lock_configuration().bucket(&bucket).send().await.expect("get");
        assert_eq!(got.object_lock_configuration, Some(rule));
    }
    let kept = s3.get_object_lock_configuration().bucket(&bucket).send().await.expect("get").object_lock_configuration;

    let disabled = ObjectLockConfiguration::builder()
        .object_lock_enabled(ObjectLockEnabled::from("Disabled"))
        .rule(default_rule("GOVERNANCE", Some(1), None).rule.expect("rule"))
        .build();
    let refusals = [
        (default_rule("GOVERNANCE", Some(1), Some(1)), "MalformedXML", 400),
        (default_rule("GOVERNANCE", None, None), "MalformedXML", 400),
        (default_rule("governance", Some(1), None), "MalformedXML", 400),
        (default_rule("abc", None, Some(1)), "MalformedXML", 400),
        (disabled, "MalformedXML", 400),
        (default_rule("GOVERNANCE", Some(0), None), "InvalidRetentionPeriod", 400),
        (default_rule("GOVERNANCE", None, Some(-1)), "InvalidRetentionPeriod", 400),
        (default_rule("GOVERNANCE", Some(36_501), None), "InvalidRetentionPeriod", 400),
        (default_rule("GOVERNANCE", None, Some(101)), "InvalidRetentionPeriod", 400),
    ];
    for (rule, expected, expected_status) in refusals {
        let err = s3
            .put_object_lock_configuration()
            .bucket(&bucket)
            .object_lock_configuration(rule.clone())
            .send()
            .await
            .expect_err("refused");
        assert_eq!((code(&err).as_str(), status(&err)), (expected, expected_status), "{rule:?}");
        let now = s3.get_object_lock_configuration().bucket(&bucket).send().await.expect("get");
        assert_eq!(now.object_lock_configuration, kept, "a refused configuration changes nothing");
    }

    // A bucket created without Object Lock (and unversioned): not found, and it cannot be configured.
    let plain = bucket_name("olplain");
    s3.create_bucket().bucket(&plain).send().await.expect("create");
    let err = s3.get_object_lock_configuration().bucket(&plain).send().await.expect_err("none");
    assert_eq!((code(&err).as_str(), status(&err)), ("ObjectLockConfigurationNotFoundError", 404));
    let err = s3
        .put_object_lock_configuration()
        .bucket(&plain)
        .object_lock_configuration(default_rule("GOVERNANCE", Some(1), None))
        .send()
        .await
        .expect_err("refused");
    assert_eq!((code(&err).as_str(), status(&err)), ("InvalidBucketState", 409));
    let err = s3.get_object_lock_configuration().bucket(&plain).send().await.expect_err("still none");
    assert_eq!(code(&err), "ObjectLockConfigurationNotFoundError");
}

#[tokio::test]
async fn retention_and_legal_hold_round_trip_and_show_on_head_and_get() {
    let server = TestServer::start();
    let s3 = server.client();
    let bucket = lock_bucket(&s3, "olrt").await;
    put(&s3, &bucket, "doc").await;
    assert_eq!(retention_of(&s3, &bucket, "doc").await, None);
    let until = now_secs() + 3600;
    s3.put_object_retention()
        .bucket(&bucket)
        .key("doc")
        .retention(retention("GOVERNANCE", until))
        .send()
        .await
        .expect("set");
    assert_eq!(retention_of(&s3, &bucket, "doc").await, Some(("GOVERNANCE".to_owned(), until)));
    // Extending is always allowed, without any bypass.
    s3.put_object_retention()
        .bucket(&bucket)
        .key("doc")
        .retention(retention("GOVERNANCE", until + 60))
        .send()
        .await
        .expect("extend");
    assert_eq!(retention_of(&s3, &bucket, "doc").await, Some(("GOVERNANCE".to_owned(), until + 60)));

    let hold = |s| ObjectLockLegalHold::builder().status(s).build();
    s3.put_object_legal_hold()
        .bucket(&bucket)
        .key("doc")
        .legal_hold(hold(ObjectLockLegalHoldStatus::On))
        .send()
        .await
        .expect("hold");
    let got = s3.get_object_legal_hold().bucket(&bucket).key("doc").send().await.expect("get");
    assert_eq!(got.legal_hold.and_then(|h| h.status), Some(ObjectLockLegalHoldStatus::On));
    let head = s3.head_object().bucket(&bucket).key("doc").send().await.expect("head");
    assert_eq!(head.object_lock_mode, Some(ObjectLockMode::Governance));
    assert_eq!(head.object_lock_retain_until_date.map(|d| d.secs()), Some(until + 60));
    assert_eq!(head.object_lock_legal_hold_status, Some(ObjectLockLegalHoldStatus::On));
    let get = s3.get_object().bucket(&bucket).key("doc").send().await.expect("get");
    assert_eq!(get.object_lock_mode, Some(ObjectLockMode::Governance));
    assert_eq!(get.object_lock_legal_hold_status, Some(ObjectLockLegalHoldStatus::On));
    s3.put_object_legal_hold()
        .bucket(&bucket)
        .key("doc")
        .legal_hold(hold(ObjectLockLegalHoldStatus::Off))
        .send()
        .await
        .expect("off");
    let got = s3.get_object_legal_hold().bucket(&bucket).key("doc").send().await.expect("get");
    assert_eq!(got.legal_hold.and_then(|h| h.status), Some(ObjectLockLegalHoldStatus::Off));

    // Malformed bodies change nothing.
    let err = s3
        .put_object_retention()
        .bucket(&bucket)
        .key("doc")
        .retention(retention("governance", until + 600))
        .send()
        .await
        .expect_err("lower case");
    assert_eq!((code(&err).as_str(), status(&err)), ("MalformedXML", 400));
    let err = s3
        .put_object_legal_hold()
        .bucket(&bucket)
        .key("doc")
        .legal_hold(hold(ObjectLockLegalHoldStatus::from("abc")))
        .send()
        .await
        .expect_err("bad status");
    assert_eq!((code(&err).as_str(), status(&err)), ("MalformedXML", 400));
    let err = s3
        .put_object_retention()
        .bucket(&bucket)
        .key("doc")
        .retention(retention("GOVERNANCE", now_secs() - 10))
        .send()
        .await
        .expect_err("past");
    assert_eq!(code(&err), "InvalidArgument");
    assert_eq!(retention_of(&s3, &bucket, "doc").await, Some(("GOVERNANCE".to_owned(), until + 60)));
    let err = s3.get_object_retention().bucket(&bucket).key("nope").send().await.expect_err("no object");
    assert_eq!(code(&err), "NoSuchKey");

    // A bucket without Object Lock refuses every object-level lock request and keeps nothing.
    let plain = bucket_name("olrtplain");
    s3.create_bucket().bucket(&plain).send().await.expect("create");
    put(&s3, &plain, "doc").await;
    let err = s3
        .put_object_retention()
        .bucket(&plain)
        .key("doc")
        .retention(retention("GOVERNANCE", until))
        .send()
        .await
        .expect_err("no lock");
    assert_eq!((code(&err).as_str(), status(&err)), ("InvalidRequest", 400));
    let err = s3
        .put_object_legal_hold()
        .bucket(&plain)
        .key("doc")
        .legal_hold(hold(ObjectLockLegalHoldStatus::On))
        .send()
        .await
        .expect_err("no lock");
    assert_eq!((code(&err).as_str(), status(&err)), ("InvalidRequest", 400));
    let err = s3.get_object_retention().bucket(&plain).key("doc").send().await.expect_err("no lock");
    assert_eq!(code(&err), "InvalidRequest");
    let err = s3.get_object_legal_hold().bucket(&plain).key("doc").send().await.expect_err("no lock");
    assert_eq!(code(&err), "InvalidRequest");
    let head = s3.head_object().bucket(&plain).key("doc").send().await.expect("head");
    assert_eq!((head.object_lock_mode, head.object_lock_legal_hold_status), (None, None));
    s3.delete_object().bucket(&plain).key("doc").send().await.expect("an unlocked object deletes");
}

#[tokio::test]
async fn new_objects_take_the_headers_lock_or_the_bucket_default() {
    let server = TestServer::start();
    let s3 = server.client();
    let bucket = lock_bucket(&s3, "olnew").await;
    let until = now_secs() + 7200;
    s3.put_object()
        .bucket(&bucket)
        .key("headers")
        .body(ByteStream::from_static(b"x"))
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(DateTime::from_secs(until))
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .send()
        .await
        .expect("put");
    let head = s3.head_object().bucket(&bucket).key("headers").send().await.expect("head");
    assert_eq!(head.object_lock_mode, Some(ObjectLockMode::Compliance));
    assert_eq!(head.object_lock_retain_until_date.map(|d| d.secs()), Some(until));
    assert_eq!(head.object_lock_legal_hold_status, Some(ObjectLockLegalHoldStatus::On));

    // Half the retention headers, or a date in the past: refused, nothing written.
    let half = s3
        .put_object()
        .bucket(&bucket)
        .key("half")
        .body(ByteStream::from_static(b"x"))
        .object_lock_mode(ObjectLockMode::Governance)
        .send()
        .await
        .expect_err("mode without date");
    assert_eq!((code(&half).as_str(), status(&half)), ("InvalidArgument", 400));
    let past = s3
        .put_object()
        .bucket(&bucket)
        .key("half")
        .body(ByteStream::from_static(b"x"))
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(DateTime::from_secs(now_secs() - 60))
        .send()
        .await
        .expect_err("past");
    assert_eq!(code(&past), "InvalidArgument");
    assert!(!exists(&s3, &bucket, "half").await, "a refused write leaves nothing");

    // The bucket's default retention applies when the request names none.
    s3.put_object_lock_configuration()
        .bucket(&bucket)
        .object_lock_configuration(default_rule("GOVERNANCE", Some(1), None))
        .send()
        .await
        .expect("default");
    let before = now_secs();
    put(&s3, &bucket, "defaulted").await;
    let (mode, until) = retention_of(&s3, &bucket, "defaulted").await.expect("retention");
    assert_eq!(mode, "GOVERNANCE");
    assert!((before + 86_400..=now_secs() + 86_401).contains(&until), "{until} is a day from {before}");

    // A multipart upload's lock reaches the completed object; a copy takes its own headers.
    let upload = s3
        .create_multipart_upload()
        .bucket(&bucket)
        .key("parts")
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .send()
        .await
        .expect("create");
    let id = upload.upload_id.expect("id");
    let part = s3
        .upload_part()
        .bucket(&bucket)
        .key("parts")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from_static(b"abc"))
        .send()
        .await
        .expect("part");
    let done = aws_sdk_s3::types::CompletedMultipartUpload::builder()
        .parts(aws_sdk_s3::types::CompletedPart::builder().part_number(1).e_tag(part.e_tag.expect("etag")).build())
        .build();
    let completed = s3
        .complete_multipart_upload()
        .bucket(&bucket)
        .key("parts")
        .upload_id(&id)
        .multipart_upload(done)
        .send()
        .await
        .expect("complete");
    let version = completed.version_id.expect("a lock-enabled bucket is versioned");
    let head = s3.head_object().bucket(&bucket).key("parts").send().await.expect("head");
    assert_eq!(head.object_lock_legal_hold_status, Some(ObjectLockLegalHoldStatus::On));
    let err = s3.delete_object().bucket(&bucket).key("parts").version_id(&version).send().await.expect_err("held");
    assert_eq!((code(&err).as_str(), status(&err)), ("AccessDenied", 403));
    assert!(version_exists(&s3, &bucket, "parts", &version).await);

    s3.copy_object()
        .bucket(&bucket)
        .key("copy")
        .copy_source(format!("{bucket}/headers"))
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(DateTime::from_secs(until + 10))
        .send()
        .await
        .expect("copy");
    assert_eq!(retention_of(&s3, &bucket, "copy").await, Some(("GOVERNANCE".to_owned(), until + 10)));

    // Lock headers on a bucket without Object Lock: InvalidRequest, nothing written.
    let plain = bucket_name("olnewplain");
    s3.create_bucket().bucket(&plain).send().await.expect("create");
    let err = s3
        .put_object()
        .bucket(&plain)
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .send()
        .await
        .expect_err("no lock");
    assert_eq!((code(&err).as_str(), status(&err)), ("InvalidRequest", 400));
    assert!(!exists(&s3, &plain, "k").await);
}

#[tokio::test]
async fn governance_gives_way_only_to_the_header_with_the_permission() {
    let server = TestServer::start_with_config(CONFIG);
    let root = server.client();
    let keeper = server.client_with("keeper", "keeper-secret-0123456789");
    let warden = server.client_with("warden", "warden-secret-0123456789");
    let bucket = lock_bucket(&root, "olgov").await;
    let until = now_secs() + 3600;
    let mut versions = Vec::new();
    for key in ["a", "b"] {
        versions.push(put(&root, &bucket, key).await);
        root.put_object_retention()
            .bucket(&bucket)
            .key(key)
            .retention(retention("GOVERNANCE", until))
            .send()
            .await
            .expect("set");
    }
    let (va, vb) = (versions[0].clone(), versions[1].clone());

    // keeper lacks s3:BypassGovernanceRetention: removing the version is refused with or without the
    // header, and so is shortening its retention.
    for header in [false, true] {
        let err = keeper
            .delete_object()
            .bucket(&bucket)
            .key("a")
            .version_id(&va)
            .bypass_governance_retention(header)
            .send()
            .await
            .expect_err("locked");
        assert_eq!((code(&err).as_str(), status(&err)), ("AccessDenied", 403), "header {header}");
        let err = keeper
            .put_object_retention()
            .bucket(&bucket)
            .key("a")
            .version_id(&va)
            .bypass_governance_retention(header)
            .retention(retention("GOVERNANCE", until - 1800))
            .send()
            .await
            .expect_err("shorten");
        assert_eq!(code(&err), "AccessDenied");
    }
    let batch = keeper
        .delete_objects()
        .bucket(&bucket)
        .bypass_governance_retention(true)
        .delete(
            Delete::builder()
                .objects(ObjectIdentifier::builder().key("a").version_id(&va).build().expect("id"))
                .objects(ObjectIdentifier::builder().key("b").version_id(&vb).build().expect("id"))
                .build()
                .expect("delete"),
        )
        .send()
        .await
        .expect("batch answers per key");
    let codes: Vec<_> = batch.errors().iter().map(|e| (e.key().unwrap_or(""), e.code().unwrap_or(""))).collect();
    assert_eq!(codes, [("a", "AccessDenied"), ("b", "AccessDenied")]);
    assert!(batch.deleted().is_empty());
    assert!(version_exists(&root, &bucket, "a", &va).await && version_exists(&root, &bucket, "b", &vb).await);
    assert_eq!(retention_of(&root, &bucket, "a").await, Some(("GOVERNANCE".to_owned(), until)), "nothing changed");

    // A delete without a version only adds a delete marker: allowed, and the locked version stays.
    let marked = keeper.delete_object().bucket(&bucket).key("b").send().await.expect("a marker is always allowed");
    assert_eq!(marked.delete_marker, Some(true));
    assert!(version_exists(&root, &bucket, "b", &vb).await);

    // warden holds the permission, but it takes the header too.
    let err = warden.delete_object().bucket(&bucket).key("a").version_id(&va).send().await.expect_err("no header");
    assert_eq!(code(&err), "AccessDenied");
    let err = warden
        .put_object_retention()
        .bucket(&bucket)
        .key("a")
        .retention(retention("COMPLIANCE", until))
        .send()
        .await
        .expect_err("changing the mode needs the bypass");
    assert_eq!(code(&err), "AccessDenied");
    warden
        .put_object_retention()
        .bucket(&bucket)
        .key("a")
        .bypass_governance_retention(true)
        .retention(retention("GOVERNANCE", until - 1800))
        .send()
        .await
        .expect("shortened with the bypass");
    assert_eq!(retention_of(&root, &bucket, "a").await, Some(("GOVERNANCE".to_owned(), until - 1800)));
    warden
        .delete_object()
        .bucket(&bucket)
        .key("a")
        .version_id(&va)
        .bypass_governance_retention(true)
        .send()
        .await
        .expect("bypassed");
    assert!(!version_exists(&root, &bucket, "a", &va).await);
    let batch = warden
        .delete_objects()
        .bucket(&bucket)
        .bypass_governance_retention(true)
        .delete(
            Delete::builder()
                .objects(ObjectIdentifier::builder().key("b").version_id(&vb).build().expect("id"))
                .build()
                .expect("delete"),
        )
        .send()
        .await
        .expect("batch");
    assert!(batch.errors().is_empty(), "{:?}", batch.errors());
    assert!(!version_exists(&root, &bucket, "b", &vb).await);

    // Root may bypass GOVERNANCE, but only when it asks to.
    let vc = put(&root, &bucket, "c").await;
    root.put_object_retention()
        .bucket(&bucket)
        .key("c")
        .retention(retention("GOVERNANCE", until))
        .send()
        .await
        .expect("set");
    let err = root.delete_object().bucket(&bucket).key("c").version_id(&vc).send().await.expect_err("no header");
    assert_eq!(code(&err), "AccessDenied");
    root.delete_object()
        .bucket(&bucket)
        .key("c")
        .version_id(&vc)
        .bypass_governance_retention(true)
        .send()
        .await
        .expect("root bypass");
}

#[tokio::test]
async fn compliance_is_never_shortened_or_removed_not_even_by_root() {
    let server = TestServer::start();
    let root = server.client();
    let bucket = lock_bucket(&root, "olcomp").await;
    let until = now_secs() + 3600;
    let put = root
        .put_object()
        .bucket(&bucket)
        .key("record")
        .body(ByteStream::from_static(b"audit"))
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(DateTime::from_secs(until))
        .send()
        .await
        .expect("put");
    let version = put.version_id.expect("versioned");
    let attempts = [
        retention("COMPLIANCE", until - 60),
        retention("GOVERNANCE", until + 60),
        ObjectLockRetention::builder().build(),
    ];
    for attempt in attempts {
        let err = root
            .put_object_retention()
            .bucket(&bucket)
            .key("record")
            .bypass_governance_retention(true)
            .retention(attempt.clone())
            .send()
            .await
            .expect_err("compliance holds");
        assert_eq!((code(&err).as_str(), status(&err)), ("AccessDenied", 403), "{attempt:?}");
    }
    let err = root
        .delete_object()
        .bucket(&bucket)
        .key("record")
        .version_id(&version)
        .bypass_governance_retention(true)
        .send()
        .await
        .expect_err("kept");
    assert_eq!(code(&err), "AccessDenied");
    // An overwrite adds a version; the locked one stays as it was.
    root.put_object().bucket(&bucket).key("record").body(ByteStream::from_static(b"forged")).send().await.expect("new");
    let old = root.get_object().bucket(&bucket).key("record").version_id(&version).send().await.expect("get");
    assert_eq!(old.body.collect().await.expect("body").into_bytes().as_ref(), b"audit");
    let kept = root.get_object_retention().bucket(&bucket).key("record").version_id(&version).send().await;
    let kept = kept.expect("retention").retention.expect("retention");
    assert_eq!(kept.retain_until_date.map(|d| d.secs()), Some(until));
    // Extending is allowed.
    root.put_object_retention()
        .bucket(&bucket)
        .key("record")
        .version_id(&version)
        .retention(retention("COMPLIANCE", until + 60))
        .send()
        .await
        .expect("extend");
    let kept = root.get_object_retention().bucket(&bucket).key("record").version_id(&version).send().await;
    assert_eq!(
        kept.expect("retention").retention.and_then(|r| r.retain_until_date).map(|d| d.secs()),
        Some(until + 60)
    );
    // Versioning cannot be suspended on a bucket with Object Lock.
    let err = root
        .put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Suspended)
                .build(),
        )
        .send()
        .await
        .expect_err("suspend");
    assert_eq!((code(&err).as_str(), status(&err)), ("InvalidBucketState", 409));
    let state = root.get_bucket_versioning().bucket(&bucket).send().await.expect("get");
    assert_eq!(state.status, Some(aws_sdk_s3::types::BucketVersioningStatus::Enabled));
}

#[tokio::test]
async fn the_bypass_header_is_read_once_and_only_true_bypasses() {
    let server = TestServer::start_with_config(CONFIG);
    let root = server.client();
    let warden = server.client_with("warden", "warden-secret-0123456789");
    let bucket = lock_bucket(&root, "olhdr").await;
    let version = put(&root, &bucket, "k").await;
    root.put_object_retention()
        .bucket(&bucket)
        .key("k")
        .retention(retention("GOVERNANCE", now_secs() + 3600))
        .send()
        .await
        .expect("set");
    // s3s parses the header once, strictly ("true"/"True"); kura acts on that parse only.
    let cases = [
        (vec!["false"], "AccessDenied"),
        (vec!["yes"], "InvalidArgument"),
        (vec!["1"], "InvalidArgument"),
        (vec!["TRUE"], "InvalidArgument"),
        (vec!["true, true"], "InvalidArgument"),
        (vec!["true", "true"], "InvalidRequest"),
    ];
    for (values, expected) in cases {
        let sent = values.clone();
        let err = warden
            .delete_object()
            .bucket(&bucket)
            .key("k")
            .version_id(&version)
            .customize()
            .mutate_request(move |r| {
                for v in &sent {
                    r.headers_mut().append("x-amz-bypass-governance-retention", v.to_string());
                }
            })
            .send()
            .await;
        let err = err.expect_err(&format!("{values:?} is not a bypass"));
        assert_eq!(code(&err), expected, "{values:?}");
        assert!(version_exists(&root, &bucket, "k", &version).await, "{values:?} deleted the version");
    }
    warden
        .delete_object()
        .bucket(&bucket)
        .key("k")
        .version_id(&version)
        .customize()
        .mutate_request(|r| {
            r.headers_mut().insert("x-amz-bypass-governance-retention", "True");
        })
        .send()
        .await
        .expect("True is s3s's other spelling of true");
    assert!(!version_exists(&root, &bucket, "k", &version).await);
}
