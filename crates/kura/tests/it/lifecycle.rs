//! Bucket lifecycle: the configuration API (round trip, every refusal with AWS's code and nothing
//! changed) and the background worker with a shortened day (expirations under filters, aborted
//! uploads, audit lines, resuming from its cursor after a restart; on versioned buckets: delete markers,
//! noncurrent versions, expired delete markers, and Object Lock protected versions left alone).
// The legacy top-level `Prefix` of a rule is deprecated in the SDK, and part of what S3 accepts and
// these tests check.
#![allow(deprecated)]

use crate::harness::{TestServer, bucket_name, code, status, wait_until};
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule,
    LifecycleRuleAndOperator, LifecycleRuleFilter, NoncurrentVersionExpiration, Tag, Transition,
    TransitionStorageClass,
};
use std::time::Duration;

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build().expect("tag")
}

fn days(n: i32) -> LifecycleExpiration {
    LifecycleExpiration::builder().days(n).build()
}

/// A rule with an id, Enabled, and nothing else (tests add the rest).
fn rule(id: &str) -> aws_sdk_s3::types::builders::LifecycleRuleBuilder {
    LifecycleRule::builder().id(id).status(ExpirationStatus::Enabled)
}

fn config(rules: Vec<LifecycleRule>) -> BucketLifecycleConfiguration {
    BucketLifecycleConfiguration::builder().set_rules(Some(rules)).build().expect("config")
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, rules: Vec<LifecycleRule>) -> Result<(), String> {
    s3.put_bucket_lifecycle_configuration()
        .bucket(bucket)
        .lifecycle_configuration(config(rules))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| code(&e))
}

async fn get(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<Vec<LifecycleRule>, String> {
    s3.get_bucket_lifecycle_configuration()
        .bucket(bucket)
        .send()
        .await
        .map(|out| out.rules.unwrap_or_default())
        .map_err(|e| code(&e))
}

fn every_shape() -> Vec<LifecycleRule> {
    let filter = LifecycleRuleFilter::builder;
    vec![
        rule("legacy").prefix("old/").expiration(days(30)).build().expect("rule"),
        rule("prefix").filter(filter().prefix("logs/").build()).expiration(days(7)).build().expect("rule"),
        rule("tag").filter(filter().tag(tag("class", "tmp")).build()).expiration(days(1)).build().expect("rule"),
        rule("big")
            .status(ExpirationStatus::Disabled)
            .filter(filter().object_size_greater_than(1_000_000).build())
            .expiration(days(90))
            .build()
            .expect("rule"),
        rule("small").filter(filter().object_size_less_than(10).build()).expiration(days(2)).build().expect("rule"),
        rule("and")
            .filter(
                filter()
                    .and(
                        LifecycleRuleAndOperator::builder()
                            .prefix("a/")
                            .tags(tag("k1", "v1"))
                            .tags(tag("k2", ""))
                            .object_size_greater_than(5)
                            .object_size_less_than(500)
                            .build(),
                    )
                    .build(),
            )
            .expiration(days(3))
            .build()
            .expect("rule"),
        rule("date")
            .filter(filter().build())
            .expiration(LifecycleExpiration::builder().date(DateTime::from_secs(1_893_456_000)).build())
            .build()
            .expect("rule"),
        rule("markers")
            .filter(filter().prefix("m/").build())
            .expiration(LifecycleExpiration::builder().expired_object_delete_marker(true).build())
            .noncurrent_version_expiration(
                NoncurrentVersionExpiration::builder().noncurrent_days(5).newer_noncurrent_versions(3).build(),
            )
            .build()
            .expect("rule"),
        rule("uploads")
            .filter(filter().prefix("up/").build())
            .abort_incomplete_multipart_upload(
                AbortIncompleteMultipartUpload::builder().days_after_initiation(2).build(),
            )
            .build()
            .expect("rule"),
    ]
}

#[tokio::test]
async fn a_configuration_round_trips_and_delete_removes_it() {
    let server = TestServer::start();
    let s3 = server.client();
    let bucket = bucket_name("lc-api");
    s3.create_bucket().bucket(&bucket).send().await.expect("create");

    assert_eq!(get(&s3, &bucket).await, Err("NoSuchLifecycleConfiguration".into()));
    let err = s3.get_bucket_lifecycle_configuration().bucket(&bucket).send().await.expect_err("none yet");
    assert_eq!(status(&err), 404);

    put(&s3, &bucket, every_shape()).await.expect("put");
    assert_eq!(get(&s3, &bucket).await.expect("get"), every_shape(), "given back as sent");

    // A rule without an ID gets one.
    let anonymous = LifecycleRule::builder()
        .status(ExpirationStatus::Enabled)
        .prefix("x/")
        .expiration(days(1))
        .build()
        .expect("rule");
    put(&s3, &bucket, vec![anonymous]).await.expect("put without id");
    let got = get(&s3, &bucket).await.expect("get");
    assert_eq!(got.len(), 1);
    assert!(got[0].id().is_some_and(|id| !id.is_empty()), "{got:?}");

    let deleted = s3.delete_bucket_lifecycle().bucket(&bucket).send().await;
    assert!(deleted.is_ok(), "{deleted:?}");
    assert_eq!(get(&s3, &bucket).await, Err("NoSuchLifecycleConfiguration".into()));
    // Deleting again is fine (204), as on AWS.
    s3.delete_bucket_lifecycle().bucket(&bucket).send().await.expect("delete again");

    let missing = put(&s3, "no-such-bucket-lc", every_shape()).await;
    assert_eq!(missing, Err("NoSuchBucket".into()));
}

/// The `expiry-date` and `rule-id` of an `x-amz-expiration` value, the rule id unescaped.
fn expiry(value: &str) -> (i64, String) {
    let rest = value.strip_prefix("expiry-date=\"").unwrap_or_else(|| panic!("{value}"));
    let (date, rest) = rest.split_once("\", rule-id=\"").unwrap_or_else(|| panic!("{value}"));
    let rule = rest.strip_suffix('"').unwrap_or_else(|| panic!("{value}"));
    let date = DateTime::from_str(date, aws_sdk_s3::primitives::DateTimeFormat::HttpDate).expect("an HTTP date");
    (date.secs(), rule.replace("\\\"", "\"").replace("\\\\", "\\"))
}

#[tokio::test]
async fn reads_and_writes_report_when_a_rule_will_expire_the_object() {
    let server = TestServer::start();
    let s3 = server.client();
    let bucket = bucket_name("lc-header");
    s3.create_bucket().bucket(&bucket).send().await.expect("create");
    let filter = LifecycleRuleFilter::builder;
    let rules = vec![
        rule("all in \"ten\"").filter(filter().prefix("").build()).expiration(days(10)).build().expect("rule"),
        rule("logs").filter(filter().prefix("logs/").build()).expiration(days(1)).build().expect("rule"),
        rule("tagged").filter(filter().tag(tag("class", "tmp")).build()).expiration(days(2)).build().expect("rule"),
    ];
    put(&s3, &bucket, rules).await.expect("put rules");

    // The earliest matching rule: its date is Last-Modified plus its days, rounded up to midnight UTC.
    let day = 86_400;
    let due = |modified: &DateTime, n: i64| (modified.secs() + n * day).div_euclid(day) * day + day;
    let put = s3.put_object().bucket(&bucket).key("logs/a").body(ByteStream::from_static(b"a")).send().await;
    let put = put.expect("put");
    let head = s3.head_object().bucket(&bucket).key("logs/a").send().await.expect("head");
    let modified = head.last_modified().expect("Last-Modified");
    let expected = (due(modified, 1), "logs".to_owned());
    assert_eq!(expiry(put.expiration().expect("PUT reports the expiry")), expected);
    assert_eq!(expiry(head.expiration().expect("HEAD reports the expiry")), expected);
    let get = s3.get_object().bucket(&bucket).key("logs/a").send().await.expect("get");
    assert_eq!(expiry(get.expiration().expect("GET reports the expiry")), expected);

    // Another prefix falls to the ten-day rule, whose id is escaped in the header and read back whole.
    let other = s3.put_object().bucket(&bucket).key("data/b").body(ByteStream::from_static(b"b")).send().await;
    let (_, rule_id) = expiry(other.expect("put").expiration().expect("expiry"));
    assert_eq!(rule_id, "all in \"ten\"");

    // Tags added later count on the next read.
    let tagging = aws_sdk_s3::types::Tagging::builder().tag_set(tag("class", "tmp")).build().expect("tagging");
    s3.put_object_tagging().bucket(&bucket).key("data/b").tagging(tagging).send().await.expect("tag");
    let head = s3.head_object().bucket(&bucket).key("data/b").send().await.expect("head");
    assert_eq!(expiry(head.expiration().expect("expiry")).1, "tagged");

    // Without rules, nothing is reported.
    s3.delete_bucket_lifecycle().bucket(&bucket).send().await.expect("delete rules");
    let head = s3.head_object().bucket(&bucket).key("logs/a").send().await.expect("head");
    assert_eq!(head.expiration(), None);
}

#[tokio::test]
async fn invalid_configurations_are_refused_with_aws_codes_and_change_nothing() {
    let server = TestServer::start();
    let s3 = server.client();
    let bucket = bucket_name("lc-bad");
    s3.create_bucket().bucket(&bucket).send().await.expect("create");
    let good = vec![rule("keep").prefix("k/").expiration(days(9)).build().expect("rule")];
    put(&s3, &bucket, good.clone()).await.expect("put");

    let filter = LifecycleRuleFilter::builder;
    let with = |f: LifecycleRuleFilter| rule("r").filter(f);
    let abort = AbortIncompleteMultipartUpload::builder().days_after_initiation(1).build();
    let noncurrent = |d: i32, n: Option<i32>| {
        NoncurrentVersionExpiration::builder().noncurrent_days(d).set_newer_noncurrent_versions(n).build()
    };
    let many_tags = LifecycleRuleAndOperator::builder()
        .set_tags(Some((0..11).map(|i| tag(&format!("k{i}"), "v")).collect()))
        .build();
    let cases: Vec<(&str, Vec<LifecycleRule>, &str)> = vec![
        (
            "an id of 256 characters",
            vec![rule(&"a".repeat(256)).prefix("").expiration(days(1)).build().expect("r")],
            "InvalidArgument",
        ),
        (
            "two rules with one id",
            vec![
                rule("same").prefix("a").expiration(days(1)).build().expect("r"),
                rule("same").prefix("b").expiration(days(1)).build().expect("r"),
            ],
            "InvalidArgument",
        ),
        (
            "Status in lower case",
            vec![
                rule("r").status(ExpirationStatus::from("enabled")).prefix("").expiration(days(1)).build().expect("r"),
            ],
            "MalformedXML",
        ),
        ("Days 0", vec![rule("r").prefix("").expiration(days(0)).build().expect("r")], "InvalidArgument"),
        ("Days -1", vec![rule("r").prefix("").expiration(days(-1)).build().expect("r")], "InvalidArgument"),
        (
            "a Date that is not midnight",
            vec![
                rule("r")
                    .prefix("")
                    .expiration(LifecycleExpiration::builder().date(DateTime::from_secs(1_893_456_001)).build())
                    .build()
                    .expect("r"),
            ],
            "InvalidArgument",
        ),
        (
            "Days and Date",
            vec![
                rule("r")
                    .prefix("")
                    .expiration(LifecycleExpiration::builder().days(1).date(DateTime::from_secs(1_893_456_000)).build())
                    .build()
                    .expect("r"),
            ],
            "MalformedXML",
        ),
        (
            "ExpiredObjectDeleteMarker with Days",
            vec![
                rule("r")
                    .prefix("")
                    .expiration(LifecycleExpiration::builder().days(1).expired_object_delete_marker(true).build())
                    .build()
                    .expect("r"),
            ],
            "InvalidArgument",
        ),
        (
            "an empty Expiration",
            vec![rule("r").prefix("").expiration(LifecycleExpiration::builder().build()).build().expect("r")],
            "MalformedXML",
        ),
        (
            "NoncurrentDays 0",
            vec![rule("r").prefix("").noncurrent_version_expiration(noncurrent(0, None)).build().expect("r")],
            "InvalidArgument",
        ),
        (
            "NewerNoncurrentVersions 101",
            vec![rule("r").prefix("").noncurrent_version_expiration(noncurrent(1, Some(101))).build().expect("r")],
            "InvalidArgument",
        ),
        (
            "NewerNoncurrentVersions 0",
            vec![rule("r").prefix("").noncurrent_version_expiration(noncurrent(1, Some(0))).build().expect("r")],
            "InvalidArgument",
        ),
        (
            "DaysAfterInitiation 0",
            vec![
                rule("r")
                    .prefix("")
                    .abort_incomplete_multipart_upload(
                        AbortIncompleteMultipartUpload::builder().days_after_initiation(0).build(),
                    )
                    .build()
                    .expect("r"),
            ],
            "InvalidArgument",
        ),
        (
            "AbortIncompleteMultipartUpload with a Tag filter",
            vec![
                with(filter().tag(tag("a", "b")).build())
                    .abort_incomplete_multipart_upload(abort.clone())
                    .build()
                    .expect("r"),
            ],
            "InvalidRequest",
        ),
        (
            "AbortIncompleteMultipartUpload with tags in And",
            vec![
                with(filter().and(LifecycleRuleAndOperator::builder().prefix("p").tags(tag("a", "b")).build()).build())
                    .abort_incomplete_multipart_upload(abort.clone())
                    .build()
                    .expect("r"),
            ],
            "InvalidRequest",
        ),
        ("a rule without an action", vec![rule("r").prefix("x").build().expect("r")], "InvalidRequest"),
        (
            "a Transition (one storage class)",
            vec![
                rule("r")
                    .prefix("")
                    .transitions(Transition::builder().days(30).storage_class(TransitionStorageClass::Glacier).build())
                    .build()
                    .expect("r"),
            ],
            "InvalidStorageClass",
        ),
        (
            "a Filter with both Prefix and Tag",
            vec![with(filter().prefix("a").tag(tag("a", "b")).build()).expiration(days(1)).build().expect("r")],
            "MalformedXML",
        ),
        (
            "a Filter and a legacy Prefix",
            vec![with(filter().prefix("a").build()).prefix("a").expiration(days(1)).build().expect("r")],
            "MalformedXML",
        ),
        ("neither Filter nor Prefix", vec![rule("r").expiration(days(1)).build().expect("r")], "MalformedXML"),
        (
            "1001 rules",
            (0..1001)
                .map(|i| rule(&format!("r{i}")).prefix(format!("{i}/")).expiration(days(1)).build().expect("r"))
                .collect(),
            "MalformedXML",
        ),
        (
            "ObjectSizeGreaterThan not below ObjectSizeLessThan",
            vec![
                with(
                    filter()
                        .and(
                            LifecycleRuleAndOperator::builder()
                                .object_size_greater_than(10)
                                .object_size_less_than(10)
                                .build(),
                        )
                        .build(),
                )
                .expiration(days(1))
                .build()
                .expect("r"),
            ],
            "InvalidArgument",
        ),
        (
            "a negative ObjectSizeGreaterThan",
            vec![with(filter().object_size_greater_than(-1).build()).expiration(days(1)).build().expect("r")],
            "InvalidArgument",
        ),
        (
            "11 tags in one filter",
            vec![with(filter().and(many_tags).build()).expiration(days(1)).build().expect("r")],
            "InvalidArgument",
        ),
        (
            "a tag key twice in And",
            vec![
                with(
                    filter()
                        .and(LifecycleRuleAndOperator::builder().tags(tag("a", "1")).tags(tag("a", "2")).build())
                        .build(),
                )
                .expiration(days(1))
                .build()
                .expect("r"),
            ],
            "InvalidArgument",
        ),
        (
            "a prefix longer than a key may be",
            vec![with(filter().prefix("p".repeat(1025)).build()).expiration(days(1)).build().expect("r")],
            "InvalidArgument",
        ),
    ];
    for (what, rules, want) in cases {
        assert_eq!(put(&s3, &bucket, rules).await, Err(want.to_owned()), "{what}");
        assert_eq!(get(&s3, &bucket).await.expect("get"), good, "{what} changed nothing");
    }
}

/// A config with a shortened lifecycle day and an audit log; `extra` adds `server.lifecycle` keys.
fn short_days(audit: &std::path::Path, extra: &str) -> String {
    format!("server:\n  lifecycle:\n    day_seconds: 1\n{extra}audit:\n  path: {}\n", audit.display())
}

fn audit_lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &serde_json::Value| v["api"] == "lifecycle")
        .collect()
}

async fn exists(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> bool {
    s3.head_object().bucket(bucket).key(key).send().await.is_ok()
}

async fn uploads(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    let out = s3.list_multipart_uploads().bucket(bucket).send().await.expect("list uploads");
    out.uploads().iter().filter_map(|u| u.key().map(str::to_owned)).collect()
}

/// How many lifecycle scans the server has finished (`kura_background_runs_total`).
async fn scans(server: &TestServer) -> u64 {
    let text =
        reqwest::get(format!("{}/kura/metrics", server.endpoint())).await.expect("scrape").text().await.expect("body");
    text.lines()
        .find(|l| l.starts_with(r#"kura_background_runs_total{task="lifecycle",outcome="ok"}"#))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn the_worker_expires_what_the_rules_select_and_aborts_old_uploads() {
    let dir = tempfile::tempdir().expect("dir");
    let audit = dir.path().join("audit.log");
    let server = TestServer::start_with_config(&short_days(&audit, "    scan_interval_seconds: 1\n"));
    let s3 = server.client();
    let bucket = bucket_name("lc-worker");
    s3.create_bucket().bucket(&bucket).send().await.expect("create");
    let put_object = |key: &'static str, len: usize, tagging: Option<&'static str>| {
        let s3 = s3.clone();
        let bucket = bucket.clone();
        async move {
            s3.put_object()
                .bucket(bucket)
                .key(key)
                .body(ByteStream::from(vec![b'x'; len]))
                .set_tagging(tagging.map(str::to_owned))
                .send()
                .await
                .expect("put");
        }
    };
    for (key, len, tagging) in [
        ("logs/old", 10, None),
        ("keep/x", 10, None),
        ("tmp/a", 10, Some("class=tmp")),
        ("tmp/b", 10, Some("class=keep")),
        ("size/big", 2000, None),
        ("size/small", 10, None),
    ] {
        put_object(key, len, tagging).await;
    }
    let doomed_upload = crate::harness::create_upload(&s3, &bucket, "mpu/a").await;
    crate::harness::create_upload(&s3, &bucket, "keepmpu/a").await;
    let filter = LifecycleRuleFilter::builder;
    let rules = vec![
        rule("logs").filter(filter().prefix("logs/").build()).expiration(days(1)).build().expect("rule"),
        rule("tmp").filter(filter().tag(tag("class", "tmp")).build()).expiration(days(1)).build().expect("rule"),
        rule("big")
            .filter(
                filter()
                    .and(LifecycleRuleAndOperator::builder().prefix("size/").object_size_greater_than(1000).build())
                    .build(),
            )
            .expiration(days(1))
            .build()
            .expect("rule"),
        rule("uploads")
            .filter(filter().prefix("mpu/").build())
            .abort_incomplete_multipart_upload(
                AbortIncompleteMultipartUpload::builder().days_after_initiation(1).build(),
            )
            .build()
            .expect("rule"),
        rule("off")
            .status(ExpirationStatus::Disabled)
            .filter(filter().build())
            .expiration(days(1))
            .build()
            .expect("rule"),
    ];
    put(&s3, &bucket, rules).await.expect("put lifecycle");

    // Days of one second: everything selected is due within two seconds; the worker scans every second.
    let done = || async {
        !exists(&s3, &bucket, "logs/old").await
            && !exists(&s3, &bucket, "tmp/a").await
            && !exists(&s3, &bucket, "size/big").await
            && !uploads(&s3, &bucket).await.contains(&"mpu/a".to_owned())
    };
    wait_until(done).await;
    // Scans went on after those became due: the rest, as old, stays.
    let seen = scans(&server).await;
    wait_until(|| async { scans(&server).await >= seen + 2 }).await;
    for key in ["keep/x", "tmp/b", "size/small"] {
        assert!(exists(&s3, &bucket, key).await, "{key} is outside every enabled rule's filter");
    }
    assert_eq!(uploads(&s3, &bucket).await, ["keepmpu/a"]);
    let err = s3.list_parts().bucket(&bucket).key("mpu/a").upload_id(&doomed_upload).send().await.expect_err("aborted");
    assert_eq!(code(&err), "NoSuchUpload");

    let lines = audit_lines(&audit);
    let line = |op: &str, key: &str| {
        lines.iter().find(|l| l["operation"] == op && l["key"] == key && l["bucket"] == bucket.as_str()).cloned()
    };
    let expired = line("lifecycle:ExpireObject", "logs/old").expect("an audit line for logs/old");
    assert_eq!(expired["rule"], "logs");
    assert_eq!(expired["caller"]["principal"], "kura:lifecycle");
    assert_eq!(expired["caller"]["auth_type"], "lifecycle");
    assert!(expired["caller"].get("access_key").is_none(), "not attributed to a user: {expired}");
    assert_eq!(line("lifecycle:ExpireObject", "tmp/a").expect("tmp/a")["rule"], "tmp");
    assert_eq!(line("lifecycle:ExpireObject", "size/big").expect("size/big")["rule"], "big");
    assert_eq!(line("lifecycle:AbortMultipartUpload", "mpu/a").expect("mpu/a")["rule"], "uploads");
    assert_eq!(lines.len(), 4, "exactly the four actions: {lines:?}");
}

#[tokio::test]
async fn the_worker_resumes_from_its_cursor_after_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let audit = dir.path().join("audit.log");
    // One scan at start, then none for an hour; each scan takes at most two actions.
    let yaml = short_days(&audit, "    scan_interval_seconds: 3600\n    max_actions_per_scan: 2\n");
    let mut first = TestServer::start_with_config(&yaml);
    let (data, config) = (first.data.clone(), first.config());
    let s3 = first.client();
    let bucket = bucket_name("lc-resume");
    s3.create_bucket().bucket(&bucket).send().await.expect("create");
    for key in ["k/a", "k/b", "k/c", "k/d"] {
        s3.put_object().bucket(&bucket).key(key).body(ByteStream::from_static(b"x")).send().await.expect("put");
    }
    let rules = vec![
        rule("all")
            .filter(LifecycleRuleFilter::builder().prefix("k/").build())
            .expiration(days(1))
            .build()
            .expect("rule"),
    ];
    put(&s3, &bucket, rules).await.expect("put lifecycle");
    assert!(first.terminate(), "first server stops cleanly");
    let due = |from: std::time::SystemTime| async move {
        // Days of one second: due at the second boundary after last-modified + 1 s.
        std::time::SystemTime::now() >= from + Duration::from_secs(3)
    };
    let written = std::time::SystemTime::now();
    wait_until(|| due(written)).await;

    let mut second = TestServer::restart(&data, &config);
    wait_until(|| async { scans(&second).await >= 1 }).await;
    let expired = |lines: &[serde_json::Value]| -> Vec<String> {
        lines.iter().filter_map(|l| l["key"].as_str().map(str::to_owned)).collect()
    };
    assert_eq!(expired(&audit_lines(&audit)), ["k/a", "k/b"], "the first scan stops after two actions");
    let s3 = second.client();
    // Written before the cursor: a scan starting over would expire it first.
    s3.put_object().bucket(&bucket).key("k/0").body(ByteStream::from_static(b"x")).send().await.expect("put");
    assert!(second.terminate(), "second server stops cleanly");
    let written = std::time::SystemTime::now();
    wait_until(|| due(written)).await;

    let third = TestServer::restart(&data, &config);
    wait_until(|| async { scans(&third).await >= 1 }).await;
    let s3 = third.client();
    assert_eq!(expired(&audit_lines(&audit)), ["k/a", "k/b", "k/c", "k/d"], "resumed after k/b");
    assert!(exists(&s3, &bucket, "k/0").await, "k/0 sorts before the cursor: the resumed scan did not reach it");
    for key in ["k/a", "k/b", "k/c", "k/d"] {
        assert!(!exists(&s3, &bucket, key).await, "{key} expired");
    }
    drop(first);
}

#[tokio::test]
async fn a_shortened_day_is_announced_and_bad_settings_are_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let server = TestServer::start_with_config_logged(&short_days(&dir.path().join("a.log"), ""));
    let line = server.wait_for_log(&["lifecycle days are shortened", "WARN"]).await;
    assert!(line.contains("tests only"), "{line}");
    let config = dir.path().join("bad.yaml");
    std::fs::write(&config, "server:\n  lifecycle:\n    day_seconds: 0\n").expect("write");
    let out = crate::harness::run_to_exit(&dir.path().join("data"), &config);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("server.lifecycle.day_seconds must be at least 1"), "{stderr}");
}

#[tokio::test]
async fn lifecycle_is_authorised_as_get_and_put_lifecycle_configuration() {
    let yaml = r#"
users:
  - access_key: getter
    secret_key: getter-secret-0123456789
    policies: [get-lc]
  - access_key: putter
    secret_key: putter-secret-0123456789
    policies: [put-lc]
policies:
  get-lc:
    Version: "2012-10-17"
    Statement:
      - Effect: Allow
        Action: ["s3:GetLifecycleConfiguration"]
        Resource: ["arn:aws:s3:::lc-authz"]
  put-lc:
    Version: "2012-10-17"
    Statement:
      - Effect: Allow
        Action: ["s3:PutLifecycleConfiguration"]
        Resource: ["arn:aws:s3:::lc-authz"]
buckets:
  - name: lc-authz
"#;
    let server = TestServer::start_with_config(yaml);
    let (root, getter) = (server.client(), server.client_with("getter", "getter-secret-0123456789"));
    let putter = server.client_with("putter", "putter-secret-0123456789");
    let bucket = "lc-authz";
    let first = vec![rule("first").prefix("a/").expiration(days(1)).build().expect("rule")];
    put(&root, bucket, first.clone()).await.expect("root puts");

    let other = vec![rule("other").prefix("b/").expiration(days(2)).build().expect("rule")];
    assert_eq!(put(&getter, bucket, other.clone()).await, Err("AccessDenied".into()));
    let denied = getter.delete_bucket_lifecycle().bucket(bucket).send().await.expect_err("getter cannot delete");
    assert_eq!(code(&denied), "AccessDenied");
    assert_eq!(get(&getter, bucket).await.expect("getter reads"), first, "nothing changed");

    assert_eq!(get(&putter, bucket).await, Err("AccessDenied".into()));
    put(&putter, bucket, other.clone()).await.expect("putter puts");
    assert_eq!(get(&root, bucket).await.expect("get"), other);
    putter.delete_bucket_lifecycle().bucket(bucket).send().await.expect("delete is s3:PutLifecycleConfiguration");
    assert_eq!(get(&root, bucket).await, Err("NoSuchLifecycleConfiguration".into()));
}

/// The versions of `key` in `bucket`, newest first, as (version id, is a delete marker).
async fn versions_of(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<(String, bool)> {
    let out = s3.list_object_versions().bucket(bucket).prefix(key).send().await.expect("list versions");
    let mut all: Vec<(String, bool, DateTime)> = Vec::new();
    for v in out.versions() {
        if v.key() == Some(key) {
            all.push((v.version_id().unwrap_or_default().to_owned(), false, *v.last_modified().expect("time")));
        }
    }
    for m in out.delete_markers() {
        if m.key() == Some(key) {
            all.push((m.version_id().unwrap_or_default().to_owned(), true, *m.last_modified().expect("time")));
        }
    }
    // Ids sort newest first (inverted time).
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all.into_iter().map(|(id, marker, _)| (id, marker)).collect()
}

async fn put_version(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> String {
    let out = s3.put_object().bucket(bucket).key(key).body(ByteStream::from_static(b"v")).send().await.expect("put");
    out.version_id().expect("a version id").to_owned()
}

fn noncurrent(days: i32, keep: Option<i32>) -> NoncurrentVersionExpiration {
    NoncurrentVersionExpiration::builder().noncurrent_days(days).set_newer_noncurrent_versions(keep).build()
}

#[tokio::test]
async fn on_a_versioned_bucket_expiration_leaves_a_marker_and_old_versions_and_markers_go() {
    let dir = tempfile::tempdir().expect("dir");
    let audit = dir.path().join("audit.log");
    let server = TestServer::start_with_config(&short_days(&audit, "    scan_interval_seconds: 1\n"));
    let s3 = server.client();
    let bucket = bucket_name("lc-versioned");
    s3.create_bucket().bucket(&bucket).send().await.expect("create");
    let enabled = aws_sdk_s3::types::VersioningConfiguration::builder()
        .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
        .build();
    s3.put_bucket_versioning().bucket(&bucket).versioning_configuration(enabled).send().await.expect("versioning");

    let cur = put_version(&s3, &bucket, "cur/a").await;
    let mut nc = Vec::new();
    for _ in 0..4 {
        nc.push(put_version(&s3, &bucket, "nc/k").await);
    }
    let dm_version = put_version(&s3, &bucket, "dm/x").await;
    s3.delete_object().bucket(&bucket).key("dm/x").send().await.expect("marker");
    s3.delete_object().bucket(&bucket).key("dm/x").version_id(&dm_version).send().await.expect("delete version");
    assert_eq!(versions_of(&s3, &bucket, "dm/x").await.len(), 1, "a lone delete marker");

    let filter = LifecycleRuleFilter::builder;
    let rules = vec![
        rule("cur").filter(filter().prefix("cur/").build()).expiration(days(1)).build().expect("rule"),
        rule("nc")
            .filter(filter().prefix("nc/").build())
            .noncurrent_version_expiration(noncurrent(1, Some(1)))
            .build()
            .expect("rule"),
        rule("dm")
            .filter(filter().prefix("dm/").build())
            .expiration(LifecycleExpiration::builder().expired_object_delete_marker(true).build())
            .build()
            .expect("rule"),
    ];
    put(&s3, &bucket, rules).await.expect("put lifecycle");

    let done = || async {
        let cur_versions = versions_of(&s3, &bucket, "cur/a").await;
        cur_versions.len() == 2
            && versions_of(&s3, &bucket, "nc/k").await.len() == 2
            && versions_of(&s3, &bucket, "dm/x").await.is_empty()
    };
    wait_until(done).await;
    // More scans change nothing: the marker over cur/a is not alone, nc/k keeps its newest noncurrent one.
    let seen = scans(&server).await;
    wait_until(|| async { scans(&server).await >= seen + 2 }).await;
    let cur_versions = versions_of(&s3, &bucket, "cur/a").await;
    assert!(cur_versions[0].1, "the latest version of cur/a is a delete marker: {cur_versions:?}");
    assert_eq!(cur_versions[1], (cur.clone(), false), "the expired version stays, noncurrent");
    assert!(!exists(&s3, &bucket, "cur/a").await);
    let got = s3.get_object().bucket(&bucket).key("cur/a").version_id(&cur).send().await.expect("old version");
    assert_eq!(got.body.collect().await.expect("body").into_bytes().as_ref(), b"v");
    let kept: Vec<(String, bool)> = nc[2..].iter().rev().map(|id| (id.clone(), false)).collect();
    assert_eq!(versions_of(&s3, &bucket, "nc/k").await, kept, "the current and the newest noncurrent version");
    for gone in &nc[..2] {
        let err = s3.get_object().bucket(&bucket).key("nc/k").version_id(gone).send().await.expect_err("gone");
        assert_eq!(code(&err), "NoSuchVersion");
    }

    let lines = audit_lines(&audit);
    let ops = |op: &str, key: &str| -> Vec<serde_json::Value> {
        lines
            .iter()
            .filter(|l| l["operation"] == op && l["key"] == key && l["bucket"] == bucket.as_str())
            .cloned()
            .collect()
    };
    let expired = ops("lifecycle:ExpireObject", "cur/a");
    assert_eq!(expired.len(), 1, "{lines:?}");
    assert_eq!(expired[0]["version_id"], cur_versions[0].0.as_str(), "the marker's id");
    assert_eq!(expired[0]["rule"], "cur");
    let mut removed: Vec<String> = ops("lifecycle:ExpireNoncurrentVersion", "nc/k")
        .iter()
        .map(|l| l["version_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    removed.sort();
    let mut expected = nc[..2].to_vec();
    expected.sort();
    assert_eq!(removed, expected);
    let marker = ops("lifecycle:RemoveDeleteMarker", "dm/x");
    assert_eq!(marker.len(), 1, "{lines:?}");
    assert_eq!(marker[0]["rule"], "dm");
    assert_eq!(lines.len(), 4, "exactly the four actions: {lines:?}");
}

#[tokio::test]
async fn locked_noncurrent_versions_are_never_expired() {
    let dir = tempfile::tempdir().expect("dir");
    let audit = dir.path().join("audit.log");
    let server = TestServer::start_with_config(&short_days(&audit, "    scan_interval_seconds: 1\n"));
    let s3 = server.client();
    let bucket = bucket_name("lc-locked");
    s3.create_bucket().bucket(&bucket).object_lock_enabled_for_bucket(true).send().await.expect("create");
    let until = DateTime::from_secs(DateTime::from(std::time::SystemTime::now()).secs() + 3600);
    let retained = s3
        .put_object()
        .bucket(&bucket)
        .key("retained")
        .body(ByteStream::from_static(b"v"))
        .object_lock_mode(aws_sdk_s3::types::ObjectLockMode::Compliance)
        .object_lock_retain_until_date(until)
        .send()
        .await
        .expect("put retained")
        .version_id()
        .expect("id")
        .to_owned();
    let held = s3
        .put_object()
        .bucket(&bucket)
        .key("held")
        .body(ByteStream::from_static(b"v"))
        .object_lock_legal_hold_status(aws_sdk_s3::types::ObjectLockLegalHoldStatus::On)
        .send()
        .await
        .expect("put held")
        .version_id()
        .expect("id")
        .to_owned();
    let free = put_version(&s3, &bucket, "free").await;
    for key in ["retained", "held", "free"] {
        put_version(&s3, &bucket, key).await;
    }
    let rules = vec![
        rule("nc")
            .filter(LifecycleRuleFilter::builder().prefix("").build())
            .noncurrent_version_expiration(noncurrent(1, None))
            .build()
            .expect("rule"),
    ];
    put(&s3, &bucket, rules).await.expect("put lifecycle");

    // The unlocked noncurrent version goes; scans after that leave the locked ones.
    wait_until(|| async { versions_of(&s3, &bucket, "free").await.len() == 1 }).await;
    let seen = scans(&server).await;
    wait_until(|| async { scans(&server).await >= seen + 2 }).await;
    for (key, id) in [("retained", &retained), ("held", &held)] {
        let versions = versions_of(&s3, &bucket, key).await;
        assert_eq!(versions.len(), 2, "{key}: {versions:?}");
        assert_eq!(&versions[1].0, id, "{key}: the locked noncurrent version survives");
    }
    let lines = audit_lines(&audit);
    assert_eq!(lines.len(), 1, "only the unlocked version was expired: {lines:?}");
    assert_eq!(lines[0]["operation"], "lifecycle:ExpireNoncurrentVersion");
    assert_eq!(lines[0]["version_id"], free.as_str());
}
