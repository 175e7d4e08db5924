//! The bucket settings tools read after creating a bucket (issue 16): tagging, ownership controls,
//! request payment, accelerate, logging, website, replication, encryption, notification and the object
//! lock "not configured" answer, each as AWS answers it; refusals with their exact code, and nothing
//! changed by a refused request; NoSuchBucket for a missing bucket; the IAM action of each operation.

use crate::harness::{TestServer, bucket_name, code, status};
use aws_sdk_s3::Client;
use aws_sdk_s3::types::{
    AccelerateConfiguration, BucketAccelerateStatus, BucketCannedAcl, BucketLoggingStatus, DeleteMarkerReplication,
    DeleteMarkerReplicationStatus, Destination, Event, IndexDocument, LoggingEnabled, NotificationConfiguration,
    ObjectOwnership, OwnershipControls, OwnershipControlsRule, Payer, ReplicationConfiguration, ReplicationRule,
    ReplicationRuleFilter, ReplicationRuleStatus, RequestPaymentConfiguration, Tag, Tagging, TopicConfiguration,
    WebsiteConfiguration,
};
use std::collections::BTreeMap;

/// `reader` has the canned readonly policy; `settings-reader` may read every bucket setting and write
/// none; `tagger` may read and write bucket tags only (`s3:PutBucketTagging` also deletes them, as on
/// AWS).
const CONFIG: &str = r#"
users:
  - access_key: reader
    secret_key: reader-secret-0123456789
    policies: [readonly]
  - access_key: settingsreader
    secret_key: settings-secret-0123456789
    policies: [settings-reader]
  - access_key: tagger
    secret_key: tagger-secret-0123456789
    policies: [tagger]
policies:
  settings-reader:
    Version: "2012-10-17"
    Statement:
      - Effect: Allow
        Action:
          - s3:GetBucketTagging
          - s3:GetBucketOwnershipControls
          - s3:GetBucketRequestPayment
          - s3:GetAccelerateConfiguration
          - s3:GetBucketLogging
          - s3:GetBucketWebsite
          - s3:GetReplicationConfiguration
          - s3:GetEncryptionConfiguration
          - s3:GetBucketNotification
          - s3:GetBucketObjectLockConfiguration
        Resource: ["arn:aws:s3:::*"]
  tagger:
    Version: "2012-10-17"
    Statement:
      - Effect: Allow
        Action: [s3:GetBucketTagging, s3:PutBucketTagging]
        Resource: ["arn:aws:s3:::*"]
buckets:
  - name: shared
"#;

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build().expect("tag")
}

fn tagging(tags: &[(&str, &str)]) -> Tagging {
    Tagging::builder().set_tag_set(Some(tags.iter().map(|(k, v)| tag(k, v)).collect())).build().expect("tagging")
}

/// The bucket's tags, or the error code of GetBucketTagging.
async fn tags_of(s3: &Client, bucket: &str) -> Result<BTreeMap<String, String>, String> {
    match s3.get_bucket_tagging().bucket(bucket).send().await {
        Ok(out) => Ok(out.tag_set().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect()),
        Err(e) => Err(code(&e)),
    }
}

fn map(tags: &[(&str, &str)]) -> BTreeMap<String, String> {
    tags.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[tokio::test]
async fn bucket_tags_are_stored_replaced_and_deleted_and_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = TestServer::start_on(&data);
    let s3 = server.client();
    let s3 = &s3;
    let name_owned = bucket_name("tags");
    let name = name_owned.as_str();
    s3.create_bucket().bucket(name).send().await.expect("create");

    let err = s3.get_bucket_tagging().bucket(name).send().await.expect_err("no tags yet");
    assert_eq!((code(&err).as_str(), status(&err)), ("NoSuchTagSet", 404));

    // XML-special characters and non-ASCII text round-trip as written.
    let first = [("Environment", "Dev"), ("owner", "ünïcødé 日本"), ("markup", "<a href=\"x\">&amp;</a>")];
    s3.put_bucket_tagging().bucket(name).tagging(tagging(&first)).send().await.expect("put tags");
    assert_eq!(tags_of(s3, name).await, Ok(map(&first)));

    // A Put replaces the whole set.
    let second = [("team", "storage"), ("empty", "")];
    s3.put_bucket_tagging().bucket(name).tagging(tagging(&second)).send().await.expect("replace tags");
    assert_eq!(tags_of(s3, name).await, Ok(map(&second)));

    drop(server);
    let server = TestServer::start_on(&data);
    let s3 = server.client();
    let s3 = &s3;
    assert_eq!(tags_of(s3, name).await, Ok(map(&second)), "tags survive a restart");

    let deleted = s3.delete_bucket_tagging().bucket(name).send().await;
    assert!(deleted.is_ok(), "{deleted:?}");
    assert_eq!(tags_of(s3, name).await, Err("NoSuchTagSet".to_owned()));
    // Deleting again is not an error.
    s3.delete_bucket_tagging().bucket(name).send().await.expect("delete again");

    // An empty tag set leaves the bucket without tags.
    s3.put_bucket_tagging().bucket(name).tagging(tagging(&second)).send().await.expect("put tags");
    s3.put_bucket_tagging().bucket(name).tagging(tagging(&[])).send().await.expect("put empty set");
    assert_eq!(tags_of(s3, name).await, Err("NoSuchTagSet".to_owned()));
}

#[tokio::test]
async fn bucket_tags_outside_aws_limits_are_invalid_tag_and_change_nothing() {
    let server = TestServer::start();
    let s3 = server.client();
    let s3 = &s3;
    let name_owned = bucket_name("badtags");
    let name = name_owned.as_str();
    s3.create_bucket().bucket(name).send().await.expect("create");
    let good = [("keep", "me")];
    s3.put_bucket_tagging().bucket(name).tagging(tagging(&good)).send().await.expect("put tags");

    // Limits count characters: 128 two-byte characters is a valid key, 50 tags a valid set.
    let long_key = "é".repeat(128);
    let long_value = "v".repeat(256);
    let fifty: Vec<(String, String)> = (0..50).map(|i| (format!("k{i}"), "v".to_owned())).collect();
    let fifty_refs: Vec<(&str, &str)> = fifty.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    for ok in [vec![(long_key.as_str(), long_value.as_str())], fifty_refs.clone()] {
        s3.put_bucket_tagging().bucket(name).tagging(tagging(&ok)).send().await.expect("at the limits");
    }
    s3.put_bucket_tagging().bucket(name).tagging(tagging(&good)).send().await.expect("put tags");

    let over_key = format!("{long_key}x");
    let over_value = format!("{long_value}x");
    let fifty_one: Vec<(String, String)> = (0..51).map(|i| (format!("k{i}"), "v".to_owned())).collect();
    let fifty_one_refs: Vec<(&str, &str)> = fifty_one.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let bad: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("51 tags", fifty_one_refs),
        ("key of 129 characters", vec![(over_key.as_str(), "v")]),
        ("value of 257 characters", vec![("k", over_value.as_str())]),
        ("a key twice", vec![("k", "1"), ("k", "2")]),
        ("reserved prefix", vec![("aws:cloudformation:stack-name", "x")]),
        ("reserved prefix, other case", vec![("AWS:x", "y")]),
        ("empty key", vec![("", "v")]),
    ];
    for (what, tags) in bad {
        let err = s3.put_bucket_tagging().bucket(name).tagging(tagging(&tags)).send().await.expect_err(what);
        assert_eq!((code(&err).as_str(), status(&err)), ("InvalidTag", 400), "{what}");
        assert_eq!(tags_of(s3, name).await, Ok(map(&good)), "{what} changed nothing");
    }
}

#[tokio::test]
async fn ownership_controls_are_bucket_owner_enforced() {
    let server = TestServer::start();
    let s3 = server.client();
    let s3 = &s3;
    let name_owned = bucket_name("owner");
    let name = name_owned.as_str();
    s3.create_bucket().bucket(name).send().await.expect("create");
    let enforced = move || async move {
        let got = s3.get_bucket_ownership_controls().bucket(name).send().await;
        got.map(|o| {
            let rules = o.ownership_controls().map(|c| c.rules().to_vec()).unwrap_or_default();
            rules.iter().map(|r| r.object_ownership().as_str().to_owned()).collect::<Vec<_>>()
        })
        .map_err(|e| (code(&e), status(&e)))
    };
    assert_eq!(enforced().await, Ok(vec!["BucketOwnerEnforced".to_owned()]));

    let controls = |o: ObjectOwnership| {
        OwnershipControls::builder()
            .rules(OwnershipControlsRule::builder().object_ownership(o).build().expect("rule"))
            .build()
            .expect("controls")
    };
    for other in [ObjectOwnership::ObjectWriter, ObjectOwnership::BucketOwnerPreferred] {
        let err = s3
            .put_bucket_ownership_controls()
            .bucket(name)
            .ownership_controls(controls(other.clone()))
            .send()
            .await
            .expect_err("only BucketOwnerEnforced");
        assert_eq!((code(&err).as_str(), status(&err)), ("InvalidRequest", 400), "{other:?}");
        assert_eq!(enforced().await, Ok(vec!["BucketOwnerEnforced".to_owned()]), "nothing changed");
    }
    s3.put_bucket_ownership_controls()
        .bucket(name)
        .ownership_controls(controls(ObjectOwnership::BucketOwnerEnforced))
        .send()
        .await
        .expect("BucketOwnerEnforced is accepted");

    // Delete answers as AWS does (Get: not found), but ACLs stay disabled: kura has no other model.
    s3.delete_bucket_ownership_controls().bucket(name).send().await.expect("delete");
    assert_eq!(enforced().await, Err(("OwnershipControlsNotFoundError".to_owned(), 404)));
    let err = s3.put_bucket_acl().bucket(name).acl(BucketCannedAcl::PublicRead).send().await.expect_err("no ACLs");
    assert_eq!(code(&err), "AccessControlListNotSupported");
    s3.put_bucket_ownership_controls()
        .bucket(name)
        .ownership_controls(controls(ObjectOwnership::BucketOwnerEnforced))
        .send()
        .await
        .expect("put again");
    assert_eq!(enforced().await, Ok(vec!["BucketOwnerEnforced".to_owned()]));
}

#[tokio::test]
async fn request_payment_is_bucket_owner() {
    let server = TestServer::start();
    let s3 = server.client();
    let s3 = &s3;
    let name_owned = bucket_name("payer");
    let name = name_owned.as_str();
    s3.create_bucket().bucket(name).send().await.expect("create");
    let payer =
        move || async move { s3.get_bucket_request_payment().bucket(name).send().await.expect("get").payer().cloned() };
    assert_eq!(payer().await, Some(Payer::BucketOwner));
    let config = |p: Payer| RequestPaymentConfiguration::builder().payer(p).build().expect("config");
    let err = s3
        .put_bucket_request_payment()
        .bucket(name)
        .request_payment_configuration(config(Payer::Requester))
        .send()
        .await
        .expect_err("requester pays");
    assert_eq!((code(&err).as_str(), status(&err)), ("InvalidRequest", 400));
    assert_eq!(payer().await, Some(Payer::BucketOwner), "nothing changed");
    s3.put_bucket_request_payment()
        .bucket(name)
        .request_payment_configuration(config(Payer::BucketOwner))
        .send()
        .await
        .expect("bucket owner pays");
    assert_eq!(payer().await, Some(Payer::BucketOwner));
}

#[tokio::test]
async fn acceleration_is_never_enabled() {
    let server = TestServer::start();
    let s3 = server.client();
    let s3 = &s3;
    let name_owned = bucket_name("accel");
    let name = name_owned.as_str();
    s3.create_bucket().bucket(name).send().await.expect("create");
    let accel = move || async move {
        s3.get_bucket_accelerate_configuration().bucket(name).send().await.expect("get").status().cloned()
    };
    assert_eq!(accel().await, None, "never configured");
    let config = |s: BucketAccelerateStatus| AccelerateConfiguration::builder().status(s).build();
    let err = s3
        .put_bucket_accelerate_configuration()
        .bucket(name)
        .accelerate_configuration(config(BucketAccelerateStatus::Enabled))
        .send()
        .await
        .expect_err("no acceleration endpoint");
    assert_eq!((code(&err).as_str(), status(&err)), ("InvalidRequest", 400));
    assert_eq!(accel().await, None, "nothing changed");
    s3.put_bucket_accelerate_configuration()
        .bucket(name)
        .accelerate_configuration(config(BucketAccelerateStatus::Suspended))
        .send()
        .await
        .expect("suspended is what kura does");
    assert_eq!(accel().await, Some(BucketAccelerateStatus::Suspended));
}

#[tokio::test]
async fn logging_is_off_and_a_target_is_refused() {
    let server = TestServer::start();
    let s3 = server.client();
    let s3 = &s3;
    let name_owned = bucket_name("logging");
    let name = name_owned.as_str();
    s3.create_bucket().bucket(name).send().await.expect("create");
    let logging = move || async move {
        s3.get_bucket_logging().bucket(name).send().await.expect("get").logging_enabled().cloned()
    };
    assert_eq!(logging().await, None);
    let empty = BucketLoggingStatus::builder().build();
    s3.put_bucket_logging().bucket(name).bucket_logging_status(empty).send().await.expect("empty status");
    let target = BucketLoggingStatus::builder()
        .logging_enabled(LoggingEnabled::builder().target_bucket(name).target_prefix("logs/").build().expect("logging"))
        .build();
    let err = s3.put_bucket_logging().bucket(name).bucket_logging_status(target).send().await.expect_err("target");
    assert_eq!((code(&err).as_str(), status(&err)), ("InvalidRequest", 400));
    let message = match &err {
        aws_sdk_s3::error::SdkError::ServiceError(e) => e.err().meta().message().unwrap_or_default().to_owned(),
        other => format!("{other:?}"),
    };
    assert!(message.contains("audit log"), "the message points to the audit log: {message}");
    assert_eq!(logging().await, None, "nothing changed");
}

#[tokio::test]
async fn website_replication_and_encryption_answer_not_configured() {
    let server = TestServer::start();
    let s3 = server.client();
    let s3 = &s3;
    let name_owned = bucket_name("unconfigured");
    let name = name_owned.as_str();
    s3.create_bucket().bucket(name).send().await.expect("create");

    let website_missing = move || async move {
        let err = s3.get_bucket_website().bucket(name).send().await.expect_err("no website");
        assert_eq!((code(&err).as_str(), status(&err)), ("NoSuchWebsiteConfiguration", 404));
    };
    website_missing().await;
    let website = WebsiteConfiguration::builder()
        .index_document(IndexDocument::builder().suffix("index.html").build().expect("index"))
        .build();
    let err = s3.put_bucket_website().bucket(name).website_configuration(website).send().await.expect_err("put");
    assert_eq!((code(&err).as_str(), status(&err)), ("NotImplemented", 501));
    website_missing().await;
    s3.delete_bucket_website().bucket(name).send().await.expect("delete website");

    let replication_missing = move || async move {
        let err = s3.get_bucket_replication().bucket(name).send().await.expect_err("no replication");
        assert_eq!((code(&err).as_str(), status(&err)), ("ReplicationConfigurationNotFoundError", 404));
    };
    replication_missing().await;
    let rule = ReplicationRule::builder()
        .status(ReplicationRuleStatus::Enabled)
        .priority(1)
        .filter(ReplicationRuleFilter::builder().prefix("").build())
        .delete_marker_replication(
            DeleteMarkerReplication::builder().status(DeleteMarkerReplicationStatus::Disabled).build(),
        )
        .destination(Destination::builder().bucket("arn:aws:s3:::elsewhere").build().expect("destination"))
        .build()
        .expect("rule");
    let replication = ReplicationConfiguration::builder()
        .role("arn:aws:iam::123456789012:role/replication")
        .rules(rule)
        .build()
        .expect("replication");
    let err = s3
        .put_bucket_replication()
        .bucket(name)
        .replication_configuration(replication)
        .send()
        .await
        .expect_err("put replication");
    assert_eq!((code(&err).as_str(), status(&err)), ("NotImplemented", 501));
    replication_missing().await;
    s3.delete_bucket_replication().bucket(name).send().await.expect("delete replication");

    let encryption_missing = move || async move {
        let err = s3.get_bucket_encryption().bucket(name).send().await.expect_err("no encryption");
        assert_eq!((code(&err).as_str(), status(&err)), ("ServerSideEncryptionConfigurationNotFoundError", 404));
    };
    encryption_missing().await;
    s3.delete_bucket_encryption().bucket(name).send().await.expect("delete encryption");
    encryption_missing().await;

    let err = s3.get_object_lock_configuration().bucket(name).send().await.expect_err("no object lock");
    assert_eq!((code(&err).as_str(), status(&err)), ("ObjectLockConfigurationNotFoundError", 404));
}

#[tokio::test]
async fn notifications_are_empty_and_a_destination_is_refused() {
    let server = TestServer::start();
    let s3 = server.client();
    let s3 = &s3;
    let name_owned = bucket_name("notify");
    let name = name_owned.as_str();
    s3.create_bucket().bucket(name).send().await.expect("create");
    let is_empty = move || async move {
        let got = s3.get_bucket_notification_configuration().bucket(name).send().await.expect("get");
        got.topic_configurations().is_empty()
            && got.queue_configurations().is_empty()
            && got.lambda_function_configurations().is_empty()
            && got.event_bridge_configuration().is_none()
    };
    assert!(is_empty().await);
    s3.put_bucket_notification_configuration()
        .bucket(name)
        .notification_configuration(NotificationConfiguration::builder().build())
        .send()
        .await
        .expect("an empty configuration");
    let topic = TopicConfiguration::builder()
        .topic_arn("arn:aws:sns:us-east-1:123456789012:uploads")
        .events(Event::S3ObjectCreated)
        .build()
        .expect("topic");
    let err = s3
        .put_bucket_notification_configuration()
        .bucket(name)
        .notification_configuration(NotificationConfiguration::builder().topic_configurations(topic).build())
        .send()
        .await
        .expect_err("a destination");
    assert_eq!((code(&err).as_str(), status(&err)), ("InvalidArgument", 400));
    assert!(is_empty().await, "nothing changed");
}

/// Every operation of this family, on `bucket`, as the error code it ends with (`Ok` when it succeeds).
async fn every_operation(s3: &Client, bucket: &str) -> Vec<(&'static str, Result<(), (String, u16)>)> {
    fn outcome<T, E>(
        r: Result<T, aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>>,
    ) -> Result<(), (String, u16)>
    where
        E: aws_sdk_s3::error::ProvideErrorMetadata + std::fmt::Debug,
    {
        r.map(drop).map_err(|e| (code(&e), status(&e)))
    }
    let owner_enforced = OwnershipControls::builder()
        .rules(
            OwnershipControlsRule::builder()
                .object_ownership(ObjectOwnership::BucketOwnerEnforced)
                .build()
                .expect("rule"),
        )
        .build()
        .expect("controls");
    let bucket_owner = RequestPaymentConfiguration::builder().payer(Payer::BucketOwner).build().expect("payer");
    let suspended = AccelerateConfiguration::builder().status(BucketAccelerateStatus::Suspended).build();
    vec![
        ("GetBucketTagging", outcome(s3.get_bucket_tagging().bucket(bucket).send().await)),
        (
            "PutBucketTagging",
            outcome(s3.put_bucket_tagging().bucket(bucket).tagging(tagging(&[("a", "b")])).send().await),
        ),
        ("DeleteBucketTagging", outcome(s3.delete_bucket_tagging().bucket(bucket).send().await)),
        ("GetBucketOwnershipControls", outcome(s3.get_bucket_ownership_controls().bucket(bucket).send().await)),
        (
            "PutBucketOwnershipControls",
            outcome(s3.put_bucket_ownership_controls().bucket(bucket).ownership_controls(owner_enforced).send().await),
        ),
        ("DeleteBucketOwnershipControls", outcome(s3.delete_bucket_ownership_controls().bucket(bucket).send().await)),
        ("GetBucketRequestPayment", outcome(s3.get_bucket_request_payment().bucket(bucket).send().await)),
        (
            "PutBucketRequestPayment",
            outcome(
                s3.put_bucket_request_payment().bucket(bucket).request_payment_configuration(bucket_owner).send().await,
            ),
        ),
        (
            "GetBucketAccelerateConfiguration",
            outcome(s3.get_bucket_accelerate_configuration().bucket(bucket).send().await),
        ),
        (
            "PutBucketAccelerateConfiguration",
            outcome(
                s3.put_bucket_accelerate_configuration()
                    .bucket(bucket)
                    .accelerate_configuration(suspended)
                    .send()
                    .await,
            ),
        ),
        ("GetBucketLogging", outcome(s3.get_bucket_logging().bucket(bucket).send().await)),
        (
            "PutBucketLogging",
            outcome(
                s3.put_bucket_logging()
                    .bucket(bucket)
                    .bucket_logging_status(BucketLoggingStatus::builder().build())
                    .send()
                    .await,
            ),
        ),
        ("GetBucketWebsite", outcome(s3.get_bucket_website().bucket(bucket).send().await)),
        ("DeleteBucketWebsite", outcome(s3.delete_bucket_website().bucket(bucket).send().await)),
        ("GetBucketReplication", outcome(s3.get_bucket_replication().bucket(bucket).send().await)),
        ("DeleteBucketReplication", outcome(s3.delete_bucket_replication().bucket(bucket).send().await)),
        ("GetBucketEncryption", outcome(s3.get_bucket_encryption().bucket(bucket).send().await)),
        ("DeleteBucketEncryption", outcome(s3.delete_bucket_encryption().bucket(bucket).send().await)),
        (
            "GetBucketNotificationConfiguration",
            outcome(s3.get_bucket_notification_configuration().bucket(bucket).send().await),
        ),
        (
            "PutBucketNotificationConfiguration",
            outcome(
                s3.put_bucket_notification_configuration()
                    .bucket(bucket)
                    .notification_configuration(NotificationConfiguration::builder().build())
                    .send()
                    .await,
            ),
        ),
        ("GetObjectLockConfiguration", outcome(s3.get_object_lock_configuration().bucket(bucket).send().await)),
    ]
}

/// Whether an operation of [`every_operation`] writes (needs a Put… action).
fn writes(op: &str) -> bool {
    op.starts_with("Put") || op.starts_with("Delete")
}

#[tokio::test]
async fn every_setting_of_a_missing_bucket_is_no_such_bucket() {
    let server = TestServer::start();
    let s3 = server.client();
    let s3 = &s3;
    for (op, outcome) in every_operation(s3, &bucket_name("missing")).await {
        assert_eq!(outcome, Err(("NoSuchBucket".to_owned(), 404)), "{op}");
    }
    // Bad input on a missing bucket is still NoSuchBucket: existence is checked first.
    let err = s3
        .put_bucket_tagging()
        .bucket(bucket_name("missing"))
        .tagging(tagging(&[("aws:reserved", "x")]))
        .send()
        .await
        .expect_err("missing");
    assert_eq!(code(&err), "NoSuchBucket");
}

#[tokio::test]
async fn each_setting_is_authorised_by_its_iam_action() {
    let server = TestServer::start_with_config(CONFIG);
    let root = server.client();
    let original = [("owner", "root")];
    root.put_bucket_tagging().bucket("shared").tagging(tagging(&original)).send().await.expect("root tags");

    // readonly grants none of these actions: every operation is AccessDenied, and nothing changes.
    let reader = server.client_with("reader", "reader-secret-0123456789");
    for (op, outcome) in every_operation(&reader, "shared").await {
        assert_eq!(outcome, Err(("AccessDenied".to_owned(), 403)), "readonly: {op}");
    }
    assert_eq!(tags_of(&root, "shared").await, Ok(map(&original)), "readonly changed nothing");
    let owner = root.get_bucket_ownership_controls().bucket("shared").send().await;
    assert!(owner.is_ok(), "readonly's DeleteBucketOwnershipControls changed nothing: {owner:?}");
    let accel = root.get_bucket_accelerate_configuration().bucket("shared").send().await.expect("accelerate");
    assert_eq!(accel.status(), None, "readonly's PutBucketAccelerateConfiguration changed nothing");

    // Get actions read every setting; no write is allowed.
    let settings_reader = server.client_with("settingsreader", "settings-secret-0123456789");
    for (op, outcome) in every_operation(&settings_reader, "shared").await {
        if writes(op) {
            assert_eq!(outcome, Err(("AccessDenied".to_owned(), 403)), "settings reader: {op}");
        } else {
            let answered = outcome.as_ref().map_or_else(|(c, _)| c.as_str(), |()| "OK");
            assert!(answered != "AccessDenied" && answered != "NotImplemented", "settings reader: {op}: {answered}");
        }
    }
    assert_eq!(tags_of(&root, "shared").await, Ok(map(&original)), "the settings reader changed nothing");

    // s3:PutBucketTagging writes and deletes tags (DeleteBucketTagging has no action of its own on AWS).
    let tagger = server.client_with("tagger", "tagger-secret-0123456789");
    tagger.put_bucket_tagging().bucket("shared").tagging(tagging(&[("by", "tagger")])).send().await.expect("put");
    assert_eq!(tags_of(&tagger, "shared").await, Ok(map(&[("by", "tagger")])));
    tagger.delete_bucket_tagging().bucket("shared").send().await.expect("delete with s3:PutBucketTagging");
    assert_eq!(tags_of(&root, "shared").await, Err("NoSuchTagSet".to_owned()));
    let err = tagger.get_bucket_logging().bucket("shared").send().await.expect_err("not a tagging action");
    assert_eq!(code(&err), "AccessDenied");
}
