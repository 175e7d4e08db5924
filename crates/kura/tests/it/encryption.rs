//! Encryption at rest on the wire (issue 17): the bucket default (Put/Get/DeleteBucketEncryption: round
//! trips, AWS's refusals with nothing changed, NoSuchBucket) and bucket policies that demand encryption
//! through `s3:x-amz-server-side-encryption` (a PUT without the header is AccessDenied and stores
//! nothing; an empty header counts as none, as the operation reads it).

use crate::harness::{TestServer, bucket_name, code, status};
use aws_sdk_s3::Client;
use aws_sdk_s3::types::{
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
};

fn rule(algorithm: ServerSideEncryption, key: Option<&str>, bucket_key: Option<bool>) -> ServerSideEncryptionRule {
    let default = ServerSideEncryptionByDefault::builder()
        .sse_algorithm(algorithm)
        .set_kms_master_key_id(key.map(str::to_owned))
        .build()
        .expect("default");
    ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(default)
        .set_bucket_key_enabled(bucket_key)
        .build()
}

fn config(rules: Vec<ServerSideEncryptionRule>) -> ServerSideEncryptionConfiguration {
    ServerSideEncryptionConfiguration::builder().set_rules(Some(rules)).build().expect("configuration")
}

/// A bucket's default as (algorithm, KMS key, bucket key), or GetBucketEncryption's error code and status.
type DefaultAnswer = Result<(String, Option<String>, Option<bool>), (String, u16)>;

/// The bucket's default encryption, as GetBucketEncryption answers.
async fn default_of(s3: &Client, bucket: &str) -> DefaultAnswer {
    match s3.get_bucket_encryption().bucket(bucket).send().await {
        Ok(out) => {
            let configuration = out.server_side_encryption_configuration().expect("a configuration");
            let [rule] = configuration.rules() else { panic!("one rule: {configuration:?}") };
            let default = rule.apply_server_side_encryption_by_default().expect("a default");
            Ok((
                default.sse_algorithm().as_str().to_owned(),
                default.kms_master_key_id().map(str::to_owned),
                rule.bucket_key_enabled(),
            ))
        }
        Err(e) => Err((code(&e), status(&e))),
    }
}

const NOT_FOUND: (&str, u16) = ("ServerSideEncryptionConfigurationNotFoundError", 404);

fn not_found() -> DefaultAnswer {
    Err((NOT_FOUND.0.to_owned(), NOT_FOUND.1))
}

#[tokio::test]
async fn a_bucket_default_encryption_is_put_read_replaced_and_deleted() {
    let server = TestServer::start();
    let s3 = server.client();
    let bucket = bucket_name("sse-default");
    s3.create_bucket().bucket(&bucket).send().await.expect("create");
    assert_eq!(default_of(&s3, &bucket).await, not_found());

    let put = |c: ServerSideEncryptionConfiguration| {
        let s3 = s3.clone();
        let bucket = bucket.clone();
        async move { s3.put_bucket_encryption().bucket(bucket).server_side_encryption_configuration(c).send().await }
    };
    put(config(vec![rule(ServerSideEncryption::Aes256, None, None)])).await.expect("SSE-S3 default");
    assert_eq!(default_of(&s3, &bucket).await, Ok(("AES256".to_owned(), None, Some(false))));

    let kms = config(vec![rule(ServerSideEncryption::AwsKms, Some("alias/gitlab"), Some(true))]);
    put(kms).await.expect("SSE-KMS default replaces it");
    let kms_default = Ok(("aws:kms".to_owned(), Some("alias/gitlab".to_owned()), Some(true)));
    assert_eq!(default_of(&s3, &bucket).await, kms_default);

    let deleted = s3.delete_bucket_encryption().bucket(&bucket).send().await;
    assert!(deleted.is_ok(), "{deleted:?}");
    assert_eq!(default_of(&s3, &bucket).await, not_found());
    s3.delete_bucket_encryption().bucket(&bucket).send().await.expect("deleting no default is 204 too");

    let missing = bucket_name("sse-missing");
    let err = s3
        .put_bucket_encryption()
        .bucket(&missing)
        .server_side_encryption_configuration(config(vec![rule(ServerSideEncryption::Aes256, None, None)]))
        .send()
        .await
        .expect_err("no bucket");
    assert_eq!((code(&err).as_str(), status(&err)), ("NoSuchBucket", 404));
    let err = s3.get_bucket_encryption().bucket(&missing).send().await.expect_err("no bucket");
    assert_eq!((code(&err).as_str(), status(&err)), ("NoSuchBucket", 404));
    let err = s3.delete_bucket_encryption().bucket(&missing).send().await.expect_err("no bucket");
    assert_eq!((code(&err).as_str(), status(&err)), ("NoSuchBucket", 404));
}

#[tokio::test]
async fn a_refused_bucket_default_changes_nothing() {
    let server = TestServer::start();
    let s3 = server.client();
    let bucket = bucket_name("sse-refused");
    s3.create_bucket().bucket(&bucket).send().await.expect("create");
    let kms = config(vec![rule(ServerSideEncryption::AwsKms, Some("alias/gitlab"), Some(true))]);
    s3.put_bucket_encryption().bucket(&bucket).server_side_encryption_configuration(kms).send().await.expect("put");
    let before = default_of(&s3, &bucket).await;
    assert!(before.is_ok(), "{before:?}");

    let cases = [
        ("a KMS key with AES256", config(vec![rule(ServerSideEncryption::Aes256, Some("k"), None)]), "InvalidArgument"),
        ("an unknown algorithm", config(vec![rule(ServerSideEncryption::from("aes:kms"), None, None)]), "MalformedXML"),
        (
            "two rules",
            config(vec![
                rule(ServerSideEncryption::Aes256, None, None),
                rule(ServerSideEncryption::Aes256, None, None),
            ]),
            "MalformedXML",
        ),
        ("no rule", config(vec![]), "MalformedXML"),
        ("dual-layer KMS", config(vec![rule(ServerSideEncryption::AwsKmsDsse, None, None)]), "InvalidRequest"),
        ("an empty KMS key", config(vec![rule(ServerSideEncryption::AwsKms, Some(""), None)]), "InvalidArgument"),
    ];
    for (what, configuration, expected) in cases {
        let err = s3
            .put_bucket_encryption()
            .bucket(&bucket)
            .server_side_encryption_configuration(configuration)
            .send()
            .await
            .expect_err(what);
        assert_eq!((code(&err).as_str(), status(&err)), (expected, 400), "{what}");
        assert_eq!(default_of(&s3, &bucket).await, before, "{what} changed the default");
    }
}

/// A bucket policy that denies PutObject unless it asks for SSE-S3 (AWS's documented pattern, also ceph
/// s3-tests' test_bucket_policy_put_obj_s3_noenc).
fn require_sse_s3(bucket: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyWrongEncryption",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": format!("arn:aws:s3:::{bucket}/*"),
                "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "AES256"}}
            },
            {
                "Sid": "DenyUnencrypted",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": format!("arn:aws:s3:::{bucket}/*"),
                "Condition": {"Null": {"s3:x-amz-server-side-encryption": "true"}}
            }
        ]
    })
    .to_string()
}

async fn exists(s3: &Client, bucket: &str, key: &str) -> bool {
    match s3.head_object().bucket(bucket).key(key).send().await {
        Ok(_) => true,
        Err(e) if status(&e) == 404 => false,
        Err(e) => panic!("head {key}: {e:?}"),
    }
}

#[tokio::test]
async fn a_bucket_policy_can_demand_sse_s3_on_every_put() {
    let server = TestServer::start();
    let s3 = server.client();
    let bucket = bucket_name("sse-policy");
    s3.create_bucket().bucket(&bucket).send().await.expect("create");
    s3.put_bucket_policy().bucket(&bucket).policy(require_sse_s3(&bucket)).send().await.expect("policy");

    let err = s3.put_object().bucket(&bucket).key("plain").body(b"x".to_vec().into()).send().await.expect_err("plain");
    assert_eq!((code(&err).as_str(), status(&err)), ("AccessDenied", 403));
    assert!(!exists(&s3, &bucket, "plain").await, "a denied PUT stored nothing");

    let err = s3
        .put_object()
        .bucket(&bucket)
        .key("kms")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .body(b"x".to_vec().into())
        .send()
        .await
        .expect_err("aws:kms is not AES256");
    assert_eq!((code(&err).as_str(), status(&err)), ("AccessDenied", 403));
    assert!(!exists(&s3, &bucket, "kms").await);

    // An empty header is no header to the operation (s3s reads it as absent), so it is none to the policy.
    let err = s3
        .put_object()
        .bucket(&bucket)
        .key("empty")
        .body(b"x".to_vec().into())
        .customize()
        .mutate_request(|r| {
            r.headers_mut().insert("x-amz-server-side-encryption", "");
        })
        .send()
        .await
        .expect_err("an empty header is no encryption");
    assert_eq!((code(&err).as_str(), status(&err)), ("AccessDenied", 403));
    assert!(!exists(&s3, &bucket, "empty").await);

    // A repeated header: the policy sees the first, and the operation refuses the request rather than
    // choosing another.
    let err = s3
        .put_object()
        .bucket(&bucket)
        .key("twice")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(b"x".to_vec().into())
        .customize()
        .mutate_request(|r| {
            r.headers_mut().append("x-amz-server-side-encryption", "aws:kms");
        })
        .send()
        .await
        .expect_err("two encryption headers");
    assert_eq!(status(&err), 400, "{err:?}");
    assert!(!exists(&s3, &bucket, "twice").await);

    // The policy allows a PUT that asks for SSE-S3.
    s3.put_object()
        .bucket(&bucket)
        .key("sealed")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(b"x".to_vec().into())
        .send()
        .await
        .expect("AES256 passes the policy");
    assert!(exists(&s3, &bucket, "sealed").await);

    // CreateMultipartUpload is s3:PutObject too, with the same condition keys.
    let err = s3.create_multipart_upload().bucket(&bucket).key("parts").send().await.expect_err("plain upload");
    assert_eq!((code(&err).as_str(), status(&err)), ("AccessDenied", 403));
    let uploads = s3.list_multipart_uploads().bucket(&bucket).send().await.expect("list uploads");
    assert!(uploads.uploads().is_empty(), "a denied CreateMultipartUpload started nothing");
    s3.create_multipart_upload()
        .bucket(&bucket)
        .key("parts")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await
        .expect("AES256 passes the policy");
}

#[tokio::test]
async fn a_configured_bucket_gets_its_default_encryption() {
    let server = TestServer::start_with_config(
        "buckets:\n  - name: gitlab\n    encryption: {algorithm: aws:kms, kms_key_id: alias/gitlab, bucket_key: true}\n  \
         - name: plain\n",
    );
    let s3 = server.client();
    let kms_default = Ok(("aws:kms".to_owned(), Some("alias/gitlab".to_owned()), Some(true)));
    assert_eq!(default_of(&s3, "gitlab").await, kms_default);
    assert_eq!(default_of(&s3, "plain").await, not_found());
}
