//! Encryption at rest on the wire (issue 17): the bucket default (Put/Get/DeleteBucketEncryption: round
//! trips, AWS's refusals with nothing changed, NoSuchBucket) and bucket policies that demand encryption
//! through `s3:x-amz-server-side-encryption` (a PUT without the header is AccessDenied and stores
//! nothing; an empty header counts as none, as the operation reads it); multipart uploads of each kind
//! (part ETags that are not the plaintext MD5 for SSE-KMS and SSE-C, completion from them) and the
//! SSE-C key an upload's copies and completion must send; GetObjectAttributes of an SSE-C object.

use crate::harness::{TestServer, bucket_name, code, status};
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, ObjectAttributes, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
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

/// A customer key (SSE-C) made from `seed`: its base64 and the base64 of its MD5.
fn customer_key(seed: u8) -> (String, String) {
    use base64::Engine as _;
    use md5::Digest as _;
    let key = [seed; 32];
    let b64 = base64::engine::general_purpose::STANDARD;
    (b64.encode(key), b64.encode(md5::Md5::digest(key)))
}

/// How a test upload is encrypted: the three kinds, SSE-C with the key of `customer_key(seed)`.
#[derive(Clone, Copy, Debug)]
enum Kind {
    S3,
    Kms,
    Customer(u8),
}

const KMS_KEY_ID: &str = "app";
const MIB: usize = 1024 * 1024;

/// A server with one KMS key (`app`) and a bucket.
async fn kms_server() -> (TestServer, Client, String) {
    let server = TestServer::start_with_config(&format!("kms:\n  keys:\n    - id: {KMS_KEY_ID}\n"));
    let s3 = server.client();
    let bucket = bucket_name("sse");
    s3.create_bucket().bucket(&bucket).send().await.expect("create bucket");
    (server, s3, bucket)
}

/// Sets the SSE-C headers of `kind` (nothing for the other kinds) on any request builder.
macro_rules! with_customer {
    ($req:expr, $kind:expr) => {
        match $kind {
            Kind::Customer(seed) => {
                let (key, md5) = customer_key(seed);
                $req.sse_customer_algorithm("AES256").sse_customer_key(key).sse_customer_key_md5(md5)
            }
            _ => $req,
        }
    };
}

async fn create_encrypted_upload(s3: &Client, bucket: &str, key: &str, kind: Kind) -> String {
    let req = s3.create_multipart_upload().bucket(bucket).key(key);
    let req = match kind {
        Kind::S3 => req.server_side_encryption(ServerSideEncryption::Aes256),
        Kind::Kms => req.server_side_encryption(ServerSideEncryption::AwsKms).ssekms_key_id(KMS_KEY_ID),
        Kind::Customer(_) => with_customer!(req, kind),
    };
    req.send().await.expect("create upload").upload_id().expect("id").to_owned()
}

async fn upload_encrypted_part(
    s3: &Client,
    bucket: &str,
    key: &str,
    id: &str,
    n: i32,
    body: &[u8],
    kind: Kind,
) -> String {
    let req = s3.upload_part().bucket(bucket).key(key).upload_id(id).part_number(n);
    let req = with_customer!(req, kind).body(ByteStream::from(body.to_vec()));
    let out = req.send().await.expect("upload part");
    out.e_tag().expect("etag").trim_matches('"').to_owned()
}

fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest as _;
    hex::encode(md5::Md5::digest(bytes))
}

#[tokio::test]
async fn encrypted_part_etags_follow_the_object_rule_and_complete() {
    let (_server, s3, bucket) = kms_server().await;
    for kind in [Kind::Kms, Kind::Customer(7), Kind::S3] {
        let key = format!("{kind:?}");
        let id = create_encrypted_upload(&s3, &bucket, &key, kind).await;
        let (p1, p2) = (crate::harness::data(5 * MIB, 1), crate::harness::data(1000, 2));
        let e1 = upload_encrypted_part(&s3, &bucket, &key, &id, 1, &p1, kind).await;
        let e2 = upload_encrypted_part(&s3, &bucket, &key, &id, 2, &p2, kind).await;
        match kind {
            Kind::S3 => assert_eq!((e1.clone(), e2.clone()), (md5_hex(&p1), md5_hex(&p2)), "SSE-S3 parts: the MD5"),
            _ => {
                assert_ne!(e1, md5_hex(&p1), "{kind:?}: a part's ETag is not the plaintext MD5");
                assert_ne!(e2, md5_hex(&p2), "{kind:?}: a part's ETag is not the plaintext MD5");
                assert_eq!(e1.len(), 32, "{kind:?}: still 32 hex digits");
            }
        }
        if let Kind::Customer(_) = kind {
            // The same bytes with the same key again: the same ETag (clients retry parts).
            assert_eq!(upload_encrypted_part(&s3, &bucket, &key, &id, 2, &p2, kind).await, e2);
        }
        let listed = s3.list_parts().bucket(&bucket).key(&key).upload_id(&id).send().await.expect("list parts");
        let listed: Vec<String> =
            listed.parts().iter().map(|p| p.e_tag().expect("etag").trim_matches('"').to_owned()).collect();
        assert_eq!(listed, vec![e1.clone(), e2.clone()], "{kind:?}: ListParts shows the parts' ETags");

        let parts = [(1, &e1), (2, &e2)]
            .iter()
            .map(|(n, e)| CompletedPart::builder().part_number(*n).e_tag(format!("\"{e}\"")).build())
            .collect();
        let req = s3
            .complete_multipart_upload()
            .bucket(&bucket)
            .key(&key)
            .upload_id(&id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build());
        let done = with_customer!(req, kind).send().await.expect("complete");
        let concat = [hex::decode(&e1).expect("hex"), hex::decode(&e2).expect("hex")].concat();
        assert_eq!(done.e_tag(), Some(format!("\"{}-2\"", md5_hex(&concat)).as_str()), "{kind:?}: -N of the parts");

        let got = with_customer!(s3.get_object().bucket(&bucket).key(&key), kind).send().await.expect("get");
        assert_eq!(got.e_tag(), done.e_tag());
        let body = got.body.collect().await.expect("body").into_bytes();
        assert!(body[..] == [p1.clone(), p2.clone()].concat()[..], "{kind:?}: GET returns the bytes");
    }
}

/// An SSE-C upload takes parts, copies and its completion only with its own customer key: anything
/// else is InvalidRequest and stores nothing.
#[tokio::test]
async fn an_sse_c_upload_needs_its_own_key_to_copy_parts_and_complete() {
    let (_server, s3, bucket) = kms_server().await;
    let (source, dest) = (Kind::Customer(1), Kind::Customer(2));
    let bytes = crate::harness::data(6 * MIB, 3);
    let put = s3.put_object().bucket(&bucket).key("src").body(ByteStream::from(bytes.clone()));
    with_customer!(put, source).send().await.expect("put source");
    let id = create_encrypted_upload(&s3, &bucket, "dst", dest).await;
    let copy = || {
        let (key, md5) = customer_key(1);
        s3.upload_part_copy()
            .bucket(&bucket)
            .key("dst")
            .upload_id(&id)
            .part_number(1)
            .copy_source(format!("{bucket}/src"))
            .copy_source_sse_customer_algorithm("AES256")
            .copy_source_sse_customer_key(key)
            .copy_source_sse_customer_key_md5(md5)
    };
    let parts_stored = || async {
        s3.list_parts().bucket(&bucket).key("dst").upload_id(&id).send().await.expect("list parts").parts().len()
    };

    // Without the destination's key, and with the source's key in its place.
    let err = copy().send().await.expect_err("no destination key");
    assert_eq!((code(&err), status(&err)), ("InvalidRequest".to_owned(), 400));
    let err = with_customer!(copy(), source).send().await.expect_err("the source's key for the destination");
    assert_eq!((code(&err), status(&err)), ("InvalidRequest".to_owned(), 400));
    assert_eq!(parts_stored().await, 0, "a refused copy stores no part");

    let copied = with_customer!(copy(), dest).send().await.expect("copy part");
    let etag = copied.copy_part_result().and_then(|r| r.e_tag()).expect("etag").to_owned();
    assert_ne!(etag.trim_matches('"'), md5_hex(&bytes), "a copied SSE-C part's ETag is not the MD5");
    let complete = |kind: Option<Kind>| {
        let parts = vec![CompletedPart::builder().part_number(1).e_tag(&etag).build()];
        let req = s3
            .complete_multipart_upload()
            .bucket(&bucket)
            .key("dst")
            .upload_id(&id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build());
        let Some(kind) = kind else { return req };
        with_customer!(req, kind)
    };
    for wrong in [None, Some(source)] {
        let err = complete(wrong).send().await.expect_err("complete without the upload's key");
        assert_eq!((code(&err), status(&err)), ("InvalidRequest".to_owned(), 400), "{wrong:?}");
        assert_eq!(parts_stored().await, 1, "the upload is still in progress");
        let head = with_customer!(s3.head_object().bucket(&bucket).key("dst"), dest).send().await;
        assert!(head.is_err(), "no object was made");
    }
    let done = complete(Some(dest)).send().await.expect("complete with the key");
    let got = with_customer!(s3.get_object().bucket(&bucket).key("dst"), dest).send().await.expect("get");
    assert_eq!(got.e_tag(), done.e_tag());
    assert!(got.body.collect().await.expect("body").into_bytes()[..] == bytes[..]);
}

#[tokio::test]
async fn get_object_attributes_of_an_sse_c_object_needs_its_key() {
    let (_server, s3, bucket) = kms_server().await;
    let kind = Kind::Customer(9);
    let put = with_customer!(s3.put_object().bucket(&bucket).key("c").body(ByteStream::from_static(b"secret")), kind);
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
    let err = with_customer!(attributes(), Kind::Customer(8)).send().await.expect_err("another key");
    assert_eq!((code(&err), status(&err)), ("InvalidRequest".to_owned(), 400));
    let got = with_customer!(attributes(), kind).send().await.expect("with its key");
    assert_eq!((got.e_tag(), got.object_size()), (Some(etag.trim_matches('"')), Some(6)));
    // Any other object must be sent no SSE-C key, as HeadObject.
    s3.put_object().bucket(&bucket).key("plain").body(ByteStream::from_static(b"p")).send().await.expect("put");
    let plain = s3.get_object_attributes().bucket(&bucket).key("plain").object_attributes(ObjectAttributes::Etag);
    let err = with_customer!(plain, kind).send().await.expect_err("a key for a plain object");
    assert_eq!((code(&err), status(&err)), ("InvalidRequest".to_owned(), 400));
}
