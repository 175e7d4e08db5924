//! Encryption at rest on the wire (issue 17): the three kinds round-tripped through the AWS SDK for
//! Rust (SSE-S3; SSE-KMS by key id, ARN, alias and none = `alias/aws/s3`; SSE-C) with their response
//! headers, ranges across a chunk boundary, the ETag rule, copies between kinds and a multipart upload;
//! multipart uploads of each kind (part ETags that are not the plaintext MD5 for SSE-KMS and SSE-C,
//! completion from them) and the SSE-C key an upload's copies and completion must send;
//! GetObjectAttributes of an SSE-C object; the bucket default (Put/Get/DeleteBucketEncryption: round
//! trips, AWS's refusals with nothing changed, NoSuchBucket) and bucket policies that demand encryption
//! through `s3:x-amz-server-side-encryption` (a PUT without the header is AccessDenied and stores
//! nothing; an empty header counts as none, as the operation reads it).

use crate::harness::{TestServer, bucket_name, code, complete_upload, data, md5_hex, status, upload_part};
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, ObjectAttributes, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

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

/// kura-crypt's chunk of plaintext: ranges across its boundaries open two chunks.
const CHUNK: usize = 64 * 1024;
/// A config with one KMS key, `app` (alias `alias/app`).
const KMS_CONFIG: &str = "kms:\n  keys:\n    - id: app\n      aliases: [alias/app]\n";
/// The ARN of the key `app`.
const APP_ARN: &str = "arn:aws:kms:us-east-1:000000000000:key/app";

/// An SSE-C customer key as the headers carry it: the key and its MD5, in base64.
struct CustomerKey {
    key: String,
    md5: String,
}

impl CustomerKey {
    /// A 32-byte key made from `seed`.
    fn new(seed: u64) -> Self {
        use md5::Digest as _;
        let raw = data(32, seed);
        Self { key: B64.encode(&raw), md5: B64.encode(md5::Md5::digest(&raw)) }
    }
}

/// How a write asks to be encrypted.
#[derive(Clone, Copy)]
enum Ask<'a> {
    /// SSE-S3 (`AES256`).
    S3,
    /// SSE-KMS, with the key named (an id, ARN or alias) or not.
    Kms(Option<&'a str>),
    /// SSE-C with this key.
    Customer(&'a CustomerKey),
}

impl<'a> Ask<'a> {
    /// The customer key a read of what this wrote must send.
    fn reader(self) -> Option<&'a CustomerKey> {
        match self {
            Ask::Customer(c) => Some(c),
            _ => None,
        }
    }

    /// The SSE response headers of what this wrote, the SSE-KMS key being `arn`.
    fn answer(self, arn: &str) -> Sse {
        match self {
            Ask::S3 => Sse { algorithm: Some("AES256".into()), ..Sse::default() },
            Ask::Kms(_) => Sse { algorithm: Some("aws:kms".into()), kms_key: Some(arn.into()), customer: None },
            Ask::Customer(c) => Sse { customer: Some(("AES256".into(), c.md5.clone())), ..Sse::default() },
        }
    }
}

/// The SSE response headers: the algorithm, the KMS key, the SSE-C algorithm and key MD5.
#[derive(Debug, Default, PartialEq, Eq)]
struct Sse {
    algorithm: Option<String>,
    kms_key: Option<String>,
    customer: Option<(String, String)>,
}

/// The [`Sse`] headers of an SDK output.
macro_rules! sse_of {
    ($out:expr) => {{
        let out = &$out;
        Sse {
            algorithm: out.server_side_encryption().map(|a| a.as_str().to_owned()),
            kms_key: out.ssekms_key_id().map(str::to_owned),
            customer: out
                .sse_customer_algorithm()
                .map(str::to_owned)
                .zip(out.sse_customer_key_md5().map(str::to_owned)),
        }
    }};
}

/// Sets a request's SSE-C headers (algorithm, key, MD5) from an `Option<&CustomerKey>`.
macro_rules! with_customer {
    ($builder:expr, $customer:expr) => {{
        let customer: Option<&CustomerKey> = $customer;
        $builder
            .set_sse_customer_algorithm(customer.map(|_| "AES256".to_owned()))
            .set_sse_customer_key(customer.map(|c| c.key.clone()))
            .set_sse_customer_key_md5(customer.map(|c| c.md5.clone()))
    }};
}

/// Sets a write's encryption headers as `ask` says.
macro_rules! asking {
    ($builder:expr, $ask:expr) => {{
        let ask: Ask = $ask;
        let (algorithm, kms_key) = match ask {
            Ask::S3 => (Some(ServerSideEncryption::Aes256), None),
            Ask::Kms(key) => (Some(ServerSideEncryption::AwsKms), key.map(str::to_owned)),
            Ask::Customer(_) => (None, None),
        };
        with_customer!($builder.set_server_side_encryption(algorithm).set_ssekms_key_id(kms_key), ask.reader())
    }};
}

/// GETs `key` (a `Range` header, the customer key `ask` wrote with) and checks the SSE headers are
/// `want`; returns the bytes.
async fn get_checked(s3: &Client, bucket: &str, key: &str, range: Option<String>, ask: Ask<'_>, want: &Sse) -> Vec<u8> {
    let got = with_customer!(s3.get_object().bucket(bucket).key(key).set_range(range), ask.reader())
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {key}: {e:?}"));
    assert_eq!(&sse_of!(got), want, "GET {key}");
    got.body.collect().await.expect("body").into_bytes().to_vec()
}

/// The ARN of the key `alias/aws/s3` (made at first start), from `kura admin kms describe`.
async fn default_kms_arn(server: &TestServer) -> String {
    let described = crate::kms::admin(server, &["describe", "alias/aws/s3"]).await;
    described["arn"].as_str().expect("arn").to_owned()
}

#[tokio::test]
async fn the_three_kinds_round_trip_through_the_sdk_with_their_headers() {
    let server = TestServer::start_with_config(KMS_CONFIG);
    let s3 = server.client();
    let bucket = bucket_name("sse-kinds");
    s3.create_bucket().bucket(&bucket).send().await.expect("create");
    let default_arn = default_kms_arn(&server).await;
    assert!(default_arn.starts_with("arn:aws:kms:us-east-1:000000000000:key/") && default_arn != APP_ARN);
    let customer = CustomerKey::new(7);
    let plain = data(3 * CHUNK + 1_000, 31);
    let len = plain.len() as i64;
    let across = CHUNK - 10..2 * CHUNK + 10;
    let cases = [
        ("s3", Ask::S3, ""),
        ("kms-by-id", Ask::Kms(Some("app")), APP_ARN),
        ("kms-by-arn", Ask::Kms(Some(APP_ARN)), APP_ARN),
        ("kms-by-alias", Ask::Kms(Some("alias/app")), APP_ARN),
        ("kms-default", Ask::Kms(None), default_arn.as_str()),
        ("customer", Ask::Customer(&customer), ""),
    ];
    for (key, ask, arn) in cases {
        let want = ask.answer(arn);
        let put = asking!(s3.put_object().bucket(&bucket).key(key).body(plain.clone().into()), ask)
            .send()
            .await
            .unwrap_or_else(|e| panic!("PUT {key}: {e:?}"));
        assert_eq!(sse_of!(put), want, "PUT {key}");
        let etag = put.e_tag().expect("etag").trim_matches('"').to_owned();
        // The ETag rule: the plaintext's MD5 for SSE-S3, something else for SSE-KMS and SSE-C.
        assert_eq!(etag == md5_hex(&plain), matches!(ask, Ask::S3), "{key}: ETag {etag}");

        let head = with_customer!(s3.head_object().bucket(&bucket).key(key), ask.reader())
            .send()
            .await
            .unwrap_or_else(|e| panic!("HEAD {key}: {e:?}"));
        assert_eq!(sse_of!(head), want, "HEAD {key}");
        assert_eq!((head.content_length(), head.e_tag()), (Some(len), put.e_tag()), "HEAD {key}");

        assert_eq!(get_checked(&s3, &bucket, key, None, ask, &want).await, plain, "GET {key}");
        let header = Some(format!("bytes={}-{}", across.start, across.end - 1));
        let ranged = get_checked(&s3, &bucket, key, header, ask, &want).await;
        assert_eq!(ranged, &plain[across.clone()], "ranged GET {key} across a chunk boundary");
    }
    // SSE-C's key is required to read, and must be the same key.
    let err = s3.get_object().bucket(&bucket).key("customer").send().await.expect_err("no key");
    assert_eq!((code(&err).as_str(), status(&err)), ("InvalidRequest", 400));
    let other = CustomerKey::new(8);
    let err = with_customer!(s3.head_object().bucket(&bucket).key("customer"), Some(&other))
        .send()
        .await
        .expect_err("another key");
    assert_eq!(status(&err), 400);
}

#[tokio::test]
async fn copies_between_kinds_and_a_multipart_upload_through_the_sdk() {
    let server = TestServer::start_with_config(KMS_CONFIG);
    let s3 = server.client();
    let bucket = bucket_name("sse-copy");
    s3.create_bucket().bucket(&bucket).send().await.expect("create");
    let plain = data(2 * CHUNK + 77, 41);
    let source = format!("{bucket}/src");

    // SSE-S3 → SSE-KMS: the copy is re-encrypted under the key the destination names.
    asking!(s3.put_object().bucket(&bucket).key("src").body(plain.clone().into()), Ask::S3)
        .send()
        .await
        .expect("put SSE-S3");
    let to_kms = Ask::Kms(Some("alias/app"));
    let copy = asking!(s3.copy_object().bucket(&bucket).key("to-kms").copy_source(&source), to_kms)
        .send()
        .await
        .expect("copy to SSE-KMS");
    assert_eq!(sse_of!(copy), to_kms.answer(APP_ARN));
    let etag = copy.copy_object_result().and_then(|r| r.e_tag()).expect("etag").trim_matches('"').to_owned();
    assert_ne!(etag, md5_hex(&plain), "an SSE-KMS copy's ETag is not the MD5");
    assert_eq!(get_checked(&s3, &bucket, "to-kms", None, to_kms, &to_kms.answer(APP_ARN)).await, plain);

    // SSE-C → SSE-S3: the source's key in the copy-source headers; without it nothing is copied.
    let customer = CustomerKey::new(9);
    asking!(s3.put_object().bucket(&bucket).key("src-c").body(plain.clone().into()), Ask::Customer(&customer))
        .send()
        .await
        .expect("put SSE-C");
    let source_c = format!("{bucket}/src-c");
    let err = asking!(s3.copy_object().bucket(&bucket).key("to-s3").copy_source(&source_c), Ask::S3)
        .send()
        .await
        .expect_err("an SSE-C source without its key");
    assert_eq!((code(&err).as_str(), status(&err)), ("InvalidRequest", 400));
    let err = s3.head_object().bucket(&bucket).key("to-s3").send().await.expect_err("nothing copied");
    assert_eq!(status(&err), 404);
    let copy = asking!(s3.copy_object().bucket(&bucket).key("to-s3").copy_source(&source_c), Ask::S3)
        .copy_source_sse_customer_algorithm("AES256")
        .copy_source_sse_customer_key(&customer.key)
        .copy_source_sse_customer_key_md5(&customer.md5)
        .send()
        .await
        .expect("copy to SSE-S3");
    assert_eq!(sse_of!(copy), Ask::S3.answer(""));
    let etag = copy.copy_object_result().and_then(|r| r.e_tag()).expect("etag").trim_matches('"').to_owned();
    assert_eq!(etag, md5_hex(&plain), "an SSE-S3 copy's ETag is the MD5");
    assert_eq!(get_checked(&s3, &bucket, "to-s3", None, Ask::S3, &Ask::S3.answer("")).await, plain);

    // A multipart upload with SSE-KMS: each part under its own data key, read back as one object.
    let kms = Ask::Kms(Some("app"));
    let want = kms.answer(APP_ARN);
    let created = asking!(s3.create_multipart_upload().bucket(&bucket).key("mp"), kms).send().await.expect("create");
    assert_eq!(sse_of!(created), want);
    let upload_id = created.upload_id().expect("upload id");
    let (first, second) = (data(5 * 1024 * 1024 + 3, 42), data(CHUNK + 500, 43));
    let parts = vec![
        upload_part(&s3, &bucket, "mp", upload_id, 1, first.clone()).await,
        upload_part(&s3, &bucket, "mp", upload_id, 2, second.clone()).await,
    ];
    let done = complete_upload(&s3, &bucket, "mp", upload_id, parts).await.expect("complete");
    let answered = (done.server_side_encryption().map(|a| a.as_str()), done.ssekms_key_id());
    assert_eq!(answered, (Some("aws:kms"), Some(APP_ARN)));
    assert!(done.e_tag().expect("etag").trim_matches('"').ends_with("-2"), "a multipart ETag");
    let whole = [first.as_slice(), second.as_slice()].concat();
    let head = s3.head_object().bucket(&bucket).key("mp").send().await.expect("head");
    assert_eq!((sse_of!(head), head.content_length()), (kms.answer(APP_ARN), Some(whole.len() as i64)));
    assert_eq!(get_checked(&s3, &bucket, "mp", None, kms, &want).await, whole);
    let boundary = first.len();
    for range in [boundary - CHUNK - 5..boundary + CHUNK + 5, boundary - 1..boundary + 1, whole.len() - 3..whole.len()]
    {
        let header = Some(format!("bytes={}-{}", range.start, range.end - 1));
        assert_eq!(get_checked(&s3, &bucket, "mp", header, kms, &want).await, &whole[range.clone()], "{range:?}");
    }
}

const MIB: usize = 1024 * 1024;

/// A server with one KMS key (`app`) and a bucket.
async fn kms_server() -> (TestServer, Client, String) {
    let server = TestServer::start_with_config(KMS_CONFIG);
    let s3 = server.client();
    let bucket = bucket_name("sse");
    s3.create_bucket().bucket(&bucket).send().await.expect("create bucket");
    (server, s3, bucket)
}

async fn create_encrypted_upload(s3: &Client, bucket: &str, key: &str, ask: Ask<'_>) -> String {
    let req = asking!(s3.create_multipart_upload().bucket(bucket).key(key), ask);
    req.send().await.expect("create upload").upload_id().expect("id").to_owned()
}

async fn upload_encrypted_part(
    s3: &Client,
    bucket: &str,
    key: &str,
    id: &str,
    n: i32,
    body: &[u8],
    ask: Ask<'_>,
) -> String {
    let req = s3.upload_part().bucket(bucket).key(key).upload_id(id).part_number(n);
    let req = with_customer!(req, ask.reader()).body(ByteStream::from(body.to_vec()));
    let out = req.send().await.expect("upload part");
    out.e_tag().expect("etag").trim_matches('"').to_owned()
}

#[tokio::test]
async fn encrypted_part_etags_follow_the_object_rule_and_complete() {
    let (_server, s3, bucket) = kms_server().await;
    let customer = CustomerKey::new(7);
    for (key, kind) in [("sse-kms", Ask::Kms(Some("app"))), ("sse-c", Ask::Customer(&customer)), ("sse-s3", Ask::S3)] {
        let id = create_encrypted_upload(&s3, &bucket, key, kind).await;
        let (p1, p2) = (crate::harness::data(5 * MIB, 1), crate::harness::data(1000, 2));
        let e1 = upload_encrypted_part(&s3, &bucket, key, &id, 1, &p1, kind).await;
        let e2 = upload_encrypted_part(&s3, &bucket, key, &id, 2, &p2, kind).await;
        match kind {
            Ask::S3 => assert_eq!((e1.clone(), e2.clone()), (md5_hex(&p1), md5_hex(&p2)), "SSE-S3 parts: the MD5"),
            _ => {
                assert_ne!(e1, md5_hex(&p1), "{key}: a part's ETag is not the plaintext MD5");
                assert_ne!(e2, md5_hex(&p2), "{key}: a part's ETag is not the plaintext MD5");
                assert_eq!(e1.len(), 32, "{key}: still 32 hex digits");
            }
        }
        if let Ask::Customer(_) = kind {
            // The same bytes with the same key again: the same ETag (clients retry parts).
            assert_eq!(upload_encrypted_part(&s3, &bucket, key, &id, 2, &p2, kind).await, e2);
        }
        let listed = s3.list_parts().bucket(&bucket).key(key).upload_id(&id).send().await.expect("list parts");
        let listed: Vec<String> =
            listed.parts().iter().map(|p| p.e_tag().expect("etag").trim_matches('"').to_owned()).collect();
        assert_eq!(listed, vec![e1.clone(), e2.clone()], "{key}: ListParts shows the parts' ETags");

        let parts = [(1, &e1), (2, &e2)]
            .iter()
            .map(|(n, e)| CompletedPart::builder().part_number(*n).e_tag(format!("\"{e}\"")).build())
            .collect();
        let req = s3
            .complete_multipart_upload()
            .bucket(&bucket)
            .key(key)
            .upload_id(&id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build());
        let done = with_customer!(req, kind.reader()).send().await.expect("complete");
        let concat = [hex::decode(&e1).expect("hex"), hex::decode(&e2).expect("hex")].concat();
        assert_eq!(done.e_tag(), Some(format!("\"{}-2\"", md5_hex(&concat)).as_str()), "{key}: -N of the parts");

        let got = with_customer!(s3.get_object().bucket(&bucket).key(key), kind.reader()).send().await.expect("get");
        assert_eq!(got.e_tag(), done.e_tag());
        let body = got.body.collect().await.expect("body").into_bytes();
        assert!(body[..] == [p1.clone(), p2.clone()].concat()[..], "{key}: GET returns the bytes");
    }
}

/// An SSE-C upload takes parts, copies and its completion only with its own customer key: anything
/// else is InvalidRequest and stores nothing.
#[tokio::test]
async fn an_sse_c_upload_needs_its_own_key_to_copy_parts_and_complete() {
    let (_server, s3, bucket) = kms_server().await;
    let (source, dest) = (CustomerKey::new(1), CustomerKey::new(2));
    let bytes = crate::harness::data(6 * MIB, 3);
    let put = s3.put_object().bucket(&bucket).key("src").body(ByteStream::from(bytes.clone()));
    with_customer!(put, Some(&source)).send().await.expect("put source");
    let id = create_encrypted_upload(&s3, &bucket, "dst", Ask::Customer(&dest)).await;
    let copy = || {
        s3.upload_part_copy()
            .bucket(&bucket)
            .key("dst")
            .upload_id(&id)
            .part_number(1)
            .copy_source(format!("{bucket}/src"))
            .copy_source_sse_customer_algorithm("AES256")
            .copy_source_sse_customer_key(source.key.clone())
            .copy_source_sse_customer_key_md5(source.md5.clone())
    };
    let parts_stored = || async {
        s3.list_parts().bucket(&bucket).key("dst").upload_id(&id).send().await.expect("list parts").parts().len()
    };

    // Without the destination's key, and with the source's key in its place.
    let err = copy().send().await.expect_err("no destination key");
    assert_eq!((code(&err), status(&err)), ("InvalidRequest".to_owned(), 400));
    let err = with_customer!(copy(), Some(&source)).send().await.expect_err("the source's key for the destination");
    assert_eq!((code(&err), status(&err)), ("InvalidRequest".to_owned(), 400));
    assert_eq!(parts_stored().await, 0, "a refused copy stores no part");

    let copied = with_customer!(copy(), Some(&dest)).send().await.expect("copy part");
    let etag = copied.copy_part_result().and_then(|r| r.e_tag()).expect("etag").to_owned();
    assert_ne!(etag.trim_matches('"'), md5_hex(&bytes), "a copied SSE-C part's ETag is not the MD5");
    let complete = |customer: Option<&CustomerKey>| {
        let parts = vec![CompletedPart::builder().part_number(1).e_tag(&etag).build()];
        let req = s3
            .complete_multipart_upload()
            .bucket(&bucket)
            .key("dst")
            .upload_id(&id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build());
        with_customer!(req, customer)
    };
    for wrong in [None, Some(&source)] {
        let err = complete(wrong).send().await.expect_err("complete without the upload's key");
        assert_eq!((code(&err), status(&err)), ("InvalidRequest".to_owned(), 400), "{:?}", wrong.map(|_| "source key"));
        assert_eq!(parts_stored().await, 1, "the upload is still in progress");
        let head = with_customer!(s3.head_object().bucket(&bucket).key("dst"), Some(&dest)).send().await;
        assert!(head.is_err(), "no object was made");
    }
    let done = complete(Some(&dest)).send().await.expect("complete with the key");
    let got = with_customer!(s3.get_object().bucket(&bucket).key("dst"), Some(&dest)).send().await.expect("get");
    assert_eq!(got.e_tag(), done.e_tag());
    assert!(got.body.collect().await.expect("body").into_bytes()[..] == bytes[..]);
}

#[tokio::test]
async fn get_object_attributes_of_an_sse_c_object_needs_its_key() {
    let (_server, s3, bucket) = kms_server().await;
    let (customer, other) = (CustomerKey::new(9), CustomerKey::new(8));
    let put = s3.put_object().bucket(&bucket).key("c").body(ByteStream::from_static(b"secret"));
    let put = with_customer!(put, Some(&customer));
    let etag = put.send().await.expect("put").e_tag().expect("etag").to_owned();
    let attributes = || {
        s3.get_object_attributes()
            .bucket(&bucket)
            .key("c")
            .object_attributes(ObjectAttributes::Etag)
            .object_attributes(ObjectAttributes::ObjectSize)
    };
    let err = attributes().send().await.expect_err("no key");
    assert_eq!((code(&err), status(&err)), ("InvalidRequest".to_owned(), 400));
    let err = with_customer!(attributes(), Some(&other)).send().await.expect_err("another key");
    assert_eq!((code(&err), status(&err)), ("InvalidRequest".to_owned(), 400));
    let got = with_customer!(attributes(), Some(&customer)).send().await.expect("with its key");
    assert_eq!((got.e_tag(), got.object_size()), (Some(etag.trim_matches('"')), Some(6)));
    // Any other object must be sent no SSE-C key, as HeadObject.
    s3.put_object().bucket(&bucket).key("plain").body(ByteStream::from_static(b"p")).send().await.expect("put");
    let plain = s3.get_object_attributes().bucket(&bucket).key("plain").object_attributes(ObjectAttributes::Etag);
    let err = with_customer!(plain, Some(&customer)).send().await.expect_err("a key for a plain object");
    assert_eq!((code(&err), status(&err)), ("InvalidRequest".to_owned(), 400));
}

/// An SSE-C upload's part checksums give its plaintext away (a short part's CRC64NVME is the part):
/// ListParts lists them only for a request that brings the upload's key, and refuses another key.
#[tokio::test]
async fn list_parts_of_an_sse_c_upload_shows_checksums_only_with_its_key() {
    let (_server, s3, bucket) = kms_server().await;
    let (customer, other) = (CustomerKey::new(5), CustomerKey::new(6));
    let id = create_encrypted_upload(&s3, &bucket, "pin", Ask::Customer(&customer)).await;
    let part = s3.upload_part().bucket(&bucket).key("pin").upload_id(&id).part_number(1);
    let part = with_customer!(part, Some(&customer)).checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Crc32);
    part.body(ByteStream::from_static(b"PIN:4711")).send().await.expect("part");
    let list =
        |key: Option<&CustomerKey>| with_customer!(s3.list_parts().bucket(&bucket).key("pin").upload_id(&id), key);

    let without = list(None).send().await.expect("listed without the key");
    let listed = &without.parts()[0];
    assert_eq!((listed.part_number(), listed.size()), (Some(1), Some(8)), "the part is listed");
    assert_eq!((listed.checksum_crc32(), listed.checksum_crc64_nvme()), (None, None), "without its checksums");
    let with = list(Some(&customer)).send().await.expect("listed with the key");
    assert!(with.parts()[0].checksum_crc32().is_some(), "the key shows the checksums");
    let err = list(Some(&other)).send().await.expect_err("another key");
    assert_eq!((code(&err), status(&err)), ("InvalidRequest".to_owned(), 400));
}
