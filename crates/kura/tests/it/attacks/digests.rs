//! A body read whole (DeleteObjects, a bucket setting) is checked against the digests its request
//! declares before it is executed. The attack: a proxy on a plain-HTTP path changes the body of a
//! request signed with `UNSIGNED-PAYLOAD`, whose signed `Content-MD5` or `x-amz-checksum-*` header
//! still describes the original. kura answers AWS's `BadDigest` and executes nothing.

use super::request_time::{SignedAt, send, server_with_bucket};
use crate::harness::{TestServer, xml_code};
use aws_sdk_s3::primitives::ByteStream;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use std::time::SystemTime;

fn md5_b64(body: &[u8]) -> String {
    B64.encode(<md5::Md5 as md5::Digest>::digest(body))
}

fn delete_body(key: &str) -> Vec<u8> {
    format!("<Delete><Object><Key>{key}</Key></Object></Delete>").into_bytes()
}

async fn setup() -> (TestServer, aws_sdk_s3::Client, String) {
    let (server, s3, bucket) = server_with_bucket("digest").await;
    for key in ["kept", "asked"] {
        s3.put_object().bucket(&bucket).key(key).body(ByteStream::from_static(b"x")).send().await.expect("put");
    }
    (server, s3, bucket)
}

async fn keys(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    let listed = s3.list_objects_v2().bucket(bucket).send().await.expect("list");
    listed.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect()
}

#[tokio::test]
async fn a_delete_objects_body_changed_in_transit_deletes_nothing() {
    let (server, s3, bucket) = setup().await;
    let target = format!("/{bucket}?delete");
    let now = SignedAt::AmzDate(SystemTime::now());
    // Signed for deleting "asked"; the body that arrives deletes "kept".
    let md5 = md5_b64(&delete_body("asked"));
    let (status, body) =
        send(&server, ("POST", &target), now, (&[("content-md5", &md5)], &[]), &delete_body("kept")).await;
    assert_eq!((status, xml_code(&body)), (400, "BadDigest"), "{body}");
    assert_eq!(keys(&s3, &bucket).await, ["asked", "kept"]);

    // The same with a CRC32 checksum, as the AWS SDKs declare it since 2025.
    let crc = B64.encode(crc32fast::hash(&delete_body("asked")).to_be_bytes());
    let signed = [("x-amz-checksum-crc32", crc.as_str())];
    let (status, body) = send(&server, ("POST", &target), now, (&signed, &[]), &delete_body("kept")).await;
    assert_eq!((status, xml_code(&body)), (400, "BadDigest"), "{body}");
    assert!(body.contains("CRC32"), "the message names the checksum: {body}");
    assert_eq!(keys(&s3, &bucket).await, ["asked", "kept"]);

    // Not a base64 MD5, or empty: InvalidDigest, nothing deleted.
    for bad in ["not-an-md5", ""] {
        let signed = [("content-md5", bad)];
        let (status, body) = send(&server, ("POST", &target), now, (&signed, &[]), &delete_body("asked")).await;
        assert_eq!((status, xml_code(&body)), (400, "InvalidDigest"), "{bad:?}: {body}");
    }
    assert_eq!(keys(&s3, &bucket).await, ["asked", "kept"]);

    // Two Content-MD5 headers, both signed, one of them the body's: which was meant is not kura's to
    // guess (s3s answers a repeated header it reads so too).
    let kept_md5 = md5_b64(&delete_body("kept"));
    let repeated = [("content-md5", md5.as_str()), ("content-md5", kept_md5.as_str())];
    let (status, body) = send(&server, ("POST", &target), now, (&repeated, &[]), &delete_body("kept")).await;
    assert_eq!((status, xml_code(&body)), (400, "InvalidRequest"), "{body}");
    assert_eq!(keys(&s3, &bucket).await, ["asked", "kept"]);

    // The subresource percent-encoded (`%64elete` is `delete` to s3s): still checked.
    let encoded = format!("/{bucket}?%64elete");
    let (status, body) =
        send(&server, ("POST", &encoded), now, (&[("content-md5", &md5)], &[]), &delete_body("kept")).await;
    assert_eq!((status, xml_code(&body)), (400, "BadDigest"), "{body}");
    assert_eq!(keys(&s3, &bucket).await, ["asked", "kept"]);

    // The body that was signed is executed.
    let (status, body) =
        send(&server, ("POST", &target), now, (&[("content-md5", &md5)], &[]), &delete_body("asked")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(keys(&s3, &bucket).await, ["kept"]);
}

#[tokio::test]
async fn a_bucket_setting_changed_in_transit_is_not_stored() {
    let (server, s3, bucket) = setup().await;
    let target = format!("/{bucket}?tagging");
    let now = SignedAt::AmzDate(SystemTime::now());
    let tags = |value: &str| {
        format!("<Tagging><TagSet><Tag><Key>team</Key><Value>{value}</Value></Tag></TagSet></Tagging>").into_bytes()
    };
    let sha = B64.encode(<sha2::Sha256 as sha2::Digest>::digest(tags("alpha")));
    let signed = [("x-amz-checksum-sha256", sha.as_str())];
    let (status, body) = send(&server, ("PUT", &target), now, (&signed, &[]), &tags("mallory")).await;
    assert_eq!((status, xml_code(&body)), (400, "BadDigest"), "{body}");
    let err = s3.get_bucket_tagging().bucket(&bucket).send().await.expect_err("no tags were stored");
    assert_eq!(crate::harness::code(&err), "NoSuchTagSet");

    let (status, body) = send(&server, ("PUT", &target), now, (&signed, &[]), &tags("alpha")).await;
    assert_eq!(status, 204, "{body}");
    let got = s3.get_bucket_tagging().bucket(&bucket).send().await.expect("tags");
    assert_eq!(got.tag_set()[0].value(), "alpha");
}

/// A PUT to a bucket is CreateBucket, whose `CreateBucketConfiguration` is read whole, not an object
/// upload: its body is checked like any other. Changed in transit under a signed `Content-MD5`, it
/// creates nothing.
#[tokio::test]
async fn a_create_bucket_body_changed_in_transit_creates_nothing() {
    let server = TestServer::start();
    let s3 = server.client();
    let bucket = crate::harness::bucket_name("digestcb");
    let config = |region: &str| {
        format!(
            "<CreateBucketConfiguration><LocationConstraint>{region}</LocationConstraint></CreateBucketConfiguration>"
        )
        .into_bytes()
    };
    let now = SignedAt::AmzDate(SystemTime::now());
    let md5 = md5_b64(b"the configuration that was signed");
    for target in [format!("/{bucket}"), format!("/{bucket}/")] {
        let (status, body) =
            send(&server, ("PUT", &target), now, (&[("content-md5", &md5)], &[]), &config("us-east-1")).await;
        assert_eq!((status, xml_code(&body)), (400, "BadDigest"), "{target}: {body}");
        assert!(s3.head_bucket().bucket(&bucket).send().await.is_err(), "{target}: no bucket was created");
    }
    let md5 = md5_b64(&config("us-east-1"));
    let (status, body) =
        send(&server, ("PUT", &format!("/{bucket}")), now, (&[("content-md5", &md5)], &[]), &config("us-east-1")).await;
    assert_eq!(status, 200, "the body that was signed is executed: {body}");
    s3.head_bucket().bucket(&bucket).send().await.expect("created");
}
