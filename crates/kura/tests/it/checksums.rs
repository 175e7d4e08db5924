//! The checksums current AWS SDKs send: CRC64NVME (computed by the SDK, verified, stored, returned),
//! kura's default checksum, and multipart uploads with FULL_OBJECT and COMPOSITE checksums.

use crate::harness::{TestServer, bucket_name, code, data, status};
use aws_sdk_s3::config::RequestChecksumCalculation;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, ChecksumType, CompletedMultipartUpload, CompletedPart, ObjectAttributes,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::Digest as _;

const MIB: usize = 1024 * 1024;

async fn setup() -> (TestServer, aws_sdk_s3::Client, String) {
    let server = TestServer::start();
    let s3 = server.client();
    let bucket = bucket_name("sum");
    s3.create_bucket().bucket(&bucket).send().await.expect("create bucket");
    (server, s3, bucket)
}

fn crc64nvme(data: &[u8]) -> String {
    B64.encode(crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, data).to_be_bytes())
}

fn crc32(data: &[u8]) -> String {
    B64.encode(crc32fast::hash(data).to_be_bytes())
}

/// The one checksum value of `algo` in a completed-part or object output.
fn value_of(algo: &ChecksumAlgorithm, crc32: Option<&str>, crc64: Option<&str>, sha256: Option<&str>) -> String {
    match algo {
        ChecksumAlgorithm::Crc32 => crc32,
        ChecksumAlgorithm::Crc64Nvme => crc64,
        _ => sha256,
    }
    .expect("a checksum of the upload's algorithm")
    .to_owned()
}

async fn assert_absent(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) {
    let err = s3.head_object().bucket(bucket).key(key).send().await.expect_err("nothing stored");
    assert_eq!(status(&err), 404, "{key} must not exist");
}

#[tokio::test]
async fn crc64nvme_from_the_sdk_is_verified_stored_and_returned() {
    let (_server, s3, bucket) = setup().await;
    let payload = data(300_000, 7);
    let put = s3
        .put_object()
        .bucket(&bucket)
        .key("sdk")
        .checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
        .body(ByteStream::from(payload.clone()))
        .send()
        .await
        .expect("put with the SDK's CRC64NVME");
    assert_eq!(put.checksum_crc64_nvme(), Some(crc64nvme(&payload).as_str()));
    assert_eq!(put.checksum_type(), Some(&ChecksumType::FullObject));

    let head = s3.head_object().bucket(&bucket).key("sdk").send().await.expect("head");
    assert_eq!(head.checksum_crc64_nvme(), None, "checksums only with checksum mode");
    let head =
        s3.head_object().bucket(&bucket).key("sdk").checksum_mode(ChecksumMode::Enabled).send().await.expect("head");
    assert_eq!(head.checksum_crc64_nvme(), Some(crc64nvme(&payload).as_str()));
    assert_eq!(head.checksum_type(), Some(&ChecksumType::FullObject));
    // The SDK validates the returned CRC64NVME against the body it reads.
    let get =
        s3.get_object().bucket(&bucket).key("sdk").checksum_mode(ChecksumMode::Enabled).send().await.expect("get");
    assert_eq!(get.checksum_crc64_nvme(), Some(crc64nvme(&payload).as_str()));
    assert_eq!(get.body.collect().await.expect("body").into_bytes().as_ref(), payload.as_slice());
    let attrs = s3
        .get_object_attributes()
        .bucket(&bucket)
        .key("sdk")
        .object_attributes(ObjectAttributes::Checksum)
        .send()
        .await
        .expect("attributes");
    let sum = attrs.checksum().expect("checksum");
    assert_eq!(sum.checksum_crc64_nvme(), Some(crc64nvme(&payload).as_str()));
    assert_eq!(sum.checksum_type(), Some(&ChecksumType::FullObject));

    // A precomputed value in the header: right is stored, wrong is BadDigest and stores nothing.
    s3.put_object()
        .bucket(&bucket)
        .key("header")
        .checksum_crc64_nvme(crc64nvme(b"payload"))
        .body(ByteStream::from_static(b"payload"))
        .send()
        .await
        .expect("put with a right CRC64NVME header");
    let err = s3
        .put_object()
        .bucket(&bucket)
        .key("wrong")
        .checksum_crc64_nvme(crc64nvme(b"another payload"))
        .body(ByteStream::from_static(b"payload"))
        .send()
        .await
        .expect_err("wrong CRC64NVME");
    assert_eq!((status(&err), code(&err).as_str()), (400, "BadDigest"));
    assert_absent(&s3, &bucket, "wrong").await;
}

#[tokio::test]
async fn a_write_without_a_checksum_gets_crc64nvme_as_on_s3() {
    let (server, _, bucket) = setup().await;
    // A client that sends no checksum unless an operation requires one.
    let config = server
        .client()
        .config()
        .to_builder()
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(config);
    let payload = data(40_000, 9);
    let put =
        s3.put_object().bucket(&bucket).key("plain").body(ByteStream::from(payload.clone())).send().await.expect("put");
    assert_eq!(put.checksum_crc32(), None, "the client sent none");
    assert_eq!(put.checksum_crc64_nvme(), Some(crc64nvme(&payload).as_str()));
    let head =
        s3.head_object().bucket(&bucket).key("plain").checksum_mode(ChecksumMode::Enabled).send().await.expect("head");
    assert_eq!(head.checksum_crc64_nvme(), Some(crc64nvme(&payload).as_str()));
    assert_eq!(head.checksum_type(), Some(&ChecksumType::FullObject));
}

/// Uploads `parts` to a new upload of `algo`/`kind` and returns the completed parts.
async fn upload_parts(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    algo: &ChecksumAlgorithm,
    kind: Option<ChecksumType>,
    parts: &[&[u8]],
) -> (String, Vec<CompletedPart>) {
    let created = s3
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .checksum_algorithm(algo.clone())
        .set_checksum_type(kind)
        .send()
        .await
        .expect("create");
    let id = created.upload_id().expect("id").to_owned();
    let mut done = Vec::new();
    for (n, body) in (1..).zip(parts) {
        let out = s3
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(&id)
            .part_number(n)
            .checksum_algorithm(algo.clone())
            .body(ByteStream::from(body.to_vec()))
            .send()
            .await
            .expect("part with the SDK's checksum");
        done.push(
            CompletedPart::builder()
                .part_number(n)
                .set_e_tag(out.e_tag().map(str::to_owned))
                .set_checksum_crc32(out.checksum_crc32().map(str::to_owned))
                .set_checksum_crc64_nvme(out.checksum_crc64_nvme().map(str::to_owned))
                .set_checksum_sha256(out.checksum_sha256().map(str::to_owned))
                .build(),
        );
    }
    (id, done)
}

#[tokio::test]
async fn multipart_full_object_crcs_are_the_crc_of_the_whole_object() {
    let (_server, s3, bucket) = setup().await;
    let (one, two) = (data(5 * MIB, 1), data(123_457, 2));
    let whole = [one.as_slice(), two.as_slice()].concat();
    for (algo, expected) in
        [(ChecksumAlgorithm::Crc32, crc32(&whole)), (ChecksumAlgorithm::Crc64Nvme, crc64nvme(&whole))]
    {
        let key = format!("full-{}", algo.as_str());
        let (id, parts) = upload_parts(&s3, &bucket, &key, &algo, Some(ChecksumType::FullObject), &[&one, &two]).await;
        let listed = s3.list_parts().bucket(&bucket).key(&key).upload_id(&id).send().await.expect("list parts");
        assert_eq!(listed.checksum_type(), Some(&ChecksumType::FullObject));
        assert_eq!(listed.checksum_algorithm(), Some(&algo));

        // A wrong full-object checksum: BadDigest, no object, the upload still there.
        let wrong = if algo == ChecksumAlgorithm::Crc32 { crc32(&one) } else { crc64nvme(&one) };
        let complete = |value: String| {
            let request = s3
                .complete_multipart_upload()
                .bucket(&bucket)
                .key(&key)
                .upload_id(&id)
                .checksum_type(ChecksumType::FullObject)
                .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts.clone())).build());
            if algo == ChecksumAlgorithm::Crc32 {
                request.checksum_crc32(value)
            } else {
                request.checksum_crc64_nvme(value)
            }
        };
        let err = complete(wrong).send().await.expect_err("wrong full-object checksum");
        assert_eq!((status(&err), code(&err).as_str()), (400, "BadDigest"), "{key}");
        assert_absent(&s3, &bucket, &key).await;
        s3.list_parts().bucket(&bucket).key(&key).upload_id(&id).send().await.expect("the upload is still there");

        let done = complete(expected.clone()).send().await.expect("complete with the right checksum");
        assert_eq!(done.checksum_type(), Some(&ChecksumType::FullObject));
        assert_eq!(value_of(&algo, done.checksum_crc32(), done.checksum_crc64_nvme(), None), expected, "{key}");
        let head =
            s3.head_object().bucket(&bucket).key(&key).checksum_mode(ChecksumMode::Enabled).send().await.expect("head");
        assert_eq!(value_of(&algo, head.checksum_crc32(), head.checksum_crc64_nvme(), None), expected);
        assert_eq!(head.checksum_type(), Some(&ChecksumType::FullObject));
        // A part read reports the part's checksum.
        let part = s3
            .get_object()
            .bucket(&bucket)
            .key(&key)
            .part_number(2)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .expect("part 2");
        let part_sum = if algo == ChecksumAlgorithm::Crc32 { crc32(&two) } else { crc64nvme(&two) };
        assert_eq!(value_of(&algo, part.checksum_crc32(), part.checksum_crc64_nvme(), None), part_sum);
        // The whole object read back through the SDK, which validates the full-object checksum.
        let get = s3.get_object().bucket(&bucket).key(&key).checksum_mode(ChecksumMode::Enabled).send().await;
        let body = get.expect("get").body.collect().await.expect("body").into_bytes();
        assert_eq!(body.as_ref(), whole.as_slice());
    }
}

#[tokio::test]
async fn multipart_crc64nvme_defaults_to_full_object_and_sha256_to_composite() {
    let (_server, s3, bucket) = setup().await;
    let (one, two) = (data(5 * MIB, 3), data(1000, 4));
    let whole = [one.as_slice(), two.as_slice()].concat();
    let (id, parts) = upload_parts(&s3, &bucket, "nvme", &ChecksumAlgorithm::Crc64Nvme, None, &[&one, &two]).await;
    let done = s3
        .complete_multipart_upload()
        .bucket(&bucket)
        .key("nvme")
        .upload_id(&id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .expect("complete");
    assert_eq!(done.checksum_type(), Some(&ChecksumType::FullObject));
    assert_eq!(done.checksum_crc64_nvme(), Some(crc64nvme(&whole).as_str()));

    let (id, parts) = upload_parts(&s3, &bucket, "sha", &ChecksumAlgorithm::Sha256, None, &[&one, &two]).await;
    let mut concat = Vec::new();
    for body in [&one, &two] {
        concat.extend(sha2::Sha256::digest(body));
    }
    let composite = format!("{}-2", B64.encode(sha2::Sha256::digest(&concat)));
    let complete = |kind: Option<ChecksumType>| {
        s3.complete_multipart_upload()
            .bucket(&bucket)
            .key("sha")
            .upload_id(&id)
            .set_checksum_type(kind)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts.clone())).build())
    };
    let err = complete(Some(ChecksumType::FullObject)).send().await.expect_err("another checksum type");
    assert_eq!((status(&err), code(&err).as_str()), (400, "BadDigest"));
    assert_absent(&s3, &bucket, "sha").await;
    let err = complete(None).checksum_crc32(crc32(&whole)).send().await.expect_err("another algorithm");
    assert_eq!((status(&err), code(&err).as_str()), (400, "InvalidRequest"));
    assert_absent(&s3, &bucket, "sha").await;
    let done = complete(None).checksum_sha256(composite.clone()).send().await.expect("complete");
    assert_eq!(done.checksum_type(), Some(&ChecksumType::Composite));
    assert_eq!(done.checksum_sha256(), Some(composite.as_str()));
    let attrs = s3
        .get_object_attributes()
        .bucket(&bucket)
        .key("sha")
        .object_attributes(ObjectAttributes::Checksum)
        .object_attributes(ObjectAttributes::ObjectParts)
        .send()
        .await
        .expect("attributes");
    assert_eq!(attrs.checksum().and_then(|c| c.checksum_sha256()), Some(composite.as_str()));
    assert_eq!(attrs.checksum().and_then(|c| c.checksum_type()), Some(&ChecksumType::Composite));
    let listed = attrs.object_parts().expect("parts").parts();
    assert_eq!(listed[1].checksum_sha256(), Some(B64.encode(sha2::Sha256::digest(&two)).as_str()));
}

#[tokio::test]
async fn invalid_checksum_combinations_create_nothing() {
    let (_server, s3, bucket) = setup().await;
    for (algo, kind) in [
        (Some(ChecksumAlgorithm::Sha256), Some(ChecksumType::FullObject)),
        (Some(ChecksumAlgorithm::Sha1), Some(ChecksumType::FullObject)),
        (Some(ChecksumAlgorithm::Crc64Nvme), Some(ChecksumType::Composite)),
        (None, Some(ChecksumType::FullObject)),
        (None, Some(ChecksumType::from("SOMETIMES"))),
    ] {
        let err = s3
            .create_multipart_upload()
            .bucket(&bucket)
            .key("k")
            .set_checksum_algorithm(algo.clone())
            .set_checksum_type(kind.clone())
            .send()
            .await
            .expect_err("refused");
        assert_eq!((status(&err), code(&err).as_str()), (400, "InvalidRequest"), "{algo:?} {kind:?}");
    }
    // A repeated x-amz-checksum-type (two readings of one request) is refused, not resolved either way.
    let err = s3
        .create_multipart_upload()
        .bucket(&bucket)
        .key("k")
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .customize()
        .mutate_request(|r| {
            r.headers_mut().append("x-amz-checksum-type", "FULL_OBJECT");
            r.headers_mut().append("x-amz-checksum-type", "COMPOSITE");
        })
        .send()
        .await
        .expect_err("refused");
    assert_eq!((status(&err), code(&err).as_str()), (400, "InvalidRequest"), "a repeated checksum type");
    let uploads = s3.list_multipart_uploads().bucket(&bucket).send().await.expect("list uploads");
    assert!(uploads.uploads().is_empty(), "no upload was created: {uploads:?}");

    // A part whose algorithm is not its upload's.
    let (id, _) = upload_parts(&s3, &bucket, "k", &ChecksumAlgorithm::Sha256, None, &[]).await;
    let err = s3
        .upload_part()
        .bucket(&bucket)
        .key("k")
        .upload_id(&id)
        .part_number(1)
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .body(ByteStream::from_static(b"part"))
        .send()
        .await
        .expect_err("another algorithm");
    assert_eq!((status(&err), code(&err).as_str()), (400, "InvalidRequest"));
    let listed = s3.list_parts().bucket(&bucket).key("k").upload_id(&id).send().await.expect("list parts");
    assert!(listed.parts().is_empty(), "no part was stored");
}
