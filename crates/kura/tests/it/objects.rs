//! Object operations: put/get/head/delete/copy, conditions, ranges, metadata, checksums, tagging.

use crate::harness::{TestServer, blob_files, bucket_name, code, data, md5_hex, status};
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, Delete, MetadataDirective, ObjectIdentifier, Tag, Tagging};

async fn setup() -> (TestServer, aws_sdk_s3::Client, String) {
    let server = TestServer::start();
    let s3 = server.client();
    let bucket = bucket_name("obj");
    s3.create_bucket().bucket(&bucket).send().await.expect("create bucket");
    (server, s3, bucket)
}

async fn body(out: aws_sdk_s3::operation::get_object::GetObjectOutput) -> Vec<u8> {
    out.body.collect().await.expect("body").into_bytes().to_vec()
}

#[tokio::test]
async fn put_get_head_with_headers_and_metadata() {
    let (_server, s3, bucket) = setup().await;
    let payload = data(100_000, 1);
    let put = s3
        .put_object()
        .bucket(&bucket)
        .key("dir/file.bin")
        .body(ByteStream::from(payload.clone()))
        .content_type("application/x-test")
        .content_disposition("attachment; filename=\"f.bin\"")
        .content_encoding("identity")
        .cache_control("max-age=60")
        .metadata("Color", "blue")
        .send()
        .await
        .expect("put");
    let md5 = format!("\"{}\"", md5_hex(&payload));
    assert_eq!(put.e_tag(), Some(md5.as_str()));
    let got = s3.get_object().bucket(&bucket).key("dir/file.bin").send().await.expect("get");
    assert_eq!(got.e_tag(), Some(md5.as_str()));
    assert_eq!(got.content_type(), Some("application/x-test"));
    assert_eq!(got.content_disposition(), Some("attachment; filename=\"f.bin\""));
    assert_eq!(got.cache_control(), Some("max-age=60"));
    assert_eq!(got.content_length(), Some(100_000));
    assert_eq!(got.metadata().and_then(|m| m.get("color")).map(String::as_str), Some("blue"));
    assert_eq!(body(got).await, payload);
    let head = s3.head_object().bucket(&bucket).key("dir/file.bin").send().await.expect("head");
    assert_eq!(head.content_length(), Some(100_000));
    assert!(head.last_modified().is_some());
}

#[tokio::test]
async fn missing_key_is_no_such_key() {
    let (_server, s3, bucket) = setup().await;
    let err = s3.get_object().bucket(&bucket).key("nope").send().await.expect_err("missing");
    assert_eq!(code(&err), "NoSuchKey");
    assert_eq!(status(&err), 404);
    let err = s3.head_object().bucket(&bucket).key("nope").send().await.expect_err("missing");
    assert_eq!(status(&err), 404);
}

#[tokio::test]
async fn ranges_and_invalid_range() {
    let (_server, s3, bucket) = setup().await;
    let payload = data(1000, 2);
    s3.put_object().bucket(&bucket).key("r").body(ByteStream::from(payload.clone())).send().await.expect("put");
    for (range, expected) in [
        ("bytes=0-9", &payload[0..10]),
        ("bytes=990-", &payload[990..]),
        ("bytes=-5", &payload[995..]),
        ("bytes=500-5000", &payload[500..]),
    ] {
        let got = s3.get_object().bucket(&bucket).key("r").range(range).send().await.expect(range);
        assert!(got.content_range().is_some(), "{range}");
        assert_eq!(body(got).await, expected, "{range}");
    }
    let err = s3.get_object().bucket(&bucket).key("r").range("bytes=1000-1001").send().await.expect_err("416");
    assert_eq!(code(&err), "InvalidRange");
    assert_eq!(status(&err), 416);
}

#[tokio::test]
async fn conditional_reads() {
    let (_server, s3, bucket) = setup().await;
    let put =
        s3.put_object().bucket(&bucket).key("c").body(ByteStream::from_static(b"hello")).send().await.expect("put");
    let etag = put.e_tag().expect("etag").to_owned();
    s3.get_object().bucket(&bucket).key("c").if_match(&etag).send().await.expect("if-match ok");
    let err = s3.get_object().bucket(&bucket).key("c").if_match("\"nope\"").send().await.expect_err("412");
    assert_eq!(status(&err), 412);
    let err = s3.get_object().bucket(&bucket).key("c").if_none_match(&etag).send().await.expect_err("304");
    assert_eq!(status(&err), 304);
    let past = DateTime::from_secs(0);
    let future = DateTime::from_secs(4_000_000_000);
    s3.get_object().bucket(&bucket).key("c").if_modified_since(past).send().await.expect("modified since epoch");
    let err = s3.get_object().bucket(&bucket).key("c").if_modified_since(future).send().await.expect_err("304");
    assert_eq!(status(&err), 304);
    let err = s3.get_object().bucket(&bucket).key("c").if_unmodified_since(past).send().await.expect_err("412");
    assert_eq!(status(&err), 412);
}

#[tokio::test]
async fn response_header_overrides() {
    let (_server, s3, bucket) = setup().await;
    s3.put_object().bucket(&bucket).key("o").body(ByteStream::from_static(b"x")).send().await.expect("put");
    let got = s3
        .get_object()
        .bucket(&bucket)
        .key("o")
        .response_content_type("text/csv")
        .response_content_disposition("inline")
        .response_cache_control("no-cache")
        .send()
        .await
        .expect("get");
    assert_eq!(got.content_type(), Some("text/csv"));
    assert_eq!(got.content_disposition(), Some("inline"));
    assert_eq!(got.cache_control(), Some("no-cache"));
}

#[tokio::test]
async fn checksums_are_verified_and_returned() {
    let (_server, s3, bucket) = setup().await;
    for algo in
        [ChecksumAlgorithm::Crc32, ChecksumAlgorithm::Crc32C, ChecksumAlgorithm::Sha1, ChecksumAlgorithm::Sha256]
    {
        let key = format!("sum-{}", algo.as_str());
        s3.put_object()
            .bucket(&bucket)
            .key(&key)
            .checksum_algorithm(algo.clone())
            .body(ByteStream::from(data(70_000, 3)))
            .send()
            .await
            .expect("put with checksum");
        let head =
            s3.head_object().bucket(&bucket).key(&key).checksum_mode(ChecksumMode::Enabled).send().await.expect("head");
        let present = match algo {
            ChecksumAlgorithm::Crc32 => head.checksum_crc32().is_some(),
            ChecksumAlgorithm::Crc32C => head.checksum_crc32_c().is_some(),
            ChecksumAlgorithm::Sha1 => head.checksum_sha1().is_some(),
            _ => head.checksum_sha256().is_some(),
        };
        assert!(present, "{key}");
    }
    let err = s3
        .put_object()
        .bucket(&bucket)
        .key("bad")
        .checksum_crc32("AAAAAA==")
        .body(ByteStream::from_static(b"payload"))
        .send()
        .await
        .expect_err("wrong crc");
    assert_eq!(code(&err), "BadDigest");
    let err = s3
        .put_object()
        .bucket(&bucket)
        .key("bad-md5")
        .content_md5("1B2M2Y8AsgTpgAmY7PhCfg==")
        .body(ByteStream::from_static(b"payload"))
        .send()
        .await
        .expect_err("wrong md5");
    assert_eq!(code(&err), "BadDigest");
    let err = s3.head_object().bucket(&bucket).key("bad").send().await.expect_err("nothing stored");
    assert_eq!(status(&err), 404);
}

#[tokio::test]
async fn copy_object_directives_and_conditions() {
    let (_server, s3, bucket) = setup().await;
    let put = s3
        .put_object()
        .bucket(&bucket)
        .key("src")
        .content_type("text/plain")
        .metadata("a", "1")
        .body(ByteStream::from_static(b"copy me"))
        .send()
        .await
        .expect("put");
    let etag = put.e_tag().expect("etag").to_owned();
    let copied =
        s3.copy_object().bucket(&bucket).key("dst").copy_source(format!("{bucket}/src")).send().await.expect("copy");
    assert_eq!(copied.copy_object_result().and_then(|r| r.e_tag()), Some(etag.as_str()));
    let got = s3.get_object().bucket(&bucket).key("dst").send().await.expect("get copy");
    assert_eq!(got.content_type(), Some("text/plain"));
    assert_eq!(got.metadata().and_then(|m| m.get("a")).map(String::as_str), Some("1"));
    assert_eq!(body(got).await, b"copy me");
    s3.copy_object()
        .bucket(&bucket)
        .key("dst2")
        .copy_source(format!("{bucket}/src"))
        .metadata_directive(MetadataDirective::Replace)
        .content_type("application/json")
        .metadata("b", "2")
        .send()
        .await
        .expect("copy replace");
    let head = s3.head_object().bucket(&bucket).key("dst2").send().await.expect("head");
    assert_eq!(head.content_type(), Some("application/json"));
    assert!(head.metadata().is_some_and(|m| m.get("a").is_none() && m.get("b").map(String::as_str) == Some("2")));
    let err = s3
        .copy_object()
        .bucket(&bucket)
        .key("dst3")
        .copy_source(format!("{bucket}/src"))
        .copy_source_if_match("\"different\"")
        .send()
        .await
        .expect_err("412");
    assert_eq!(status(&err), 412);
    let err = s3
        .copy_object()
        .bucket(&bucket)
        .key("src")
        .copy_source(format!("{bucket}/src"))
        .send()
        .await
        .expect_err("self");
    assert_eq!(code(&err), "InvalidRequest");
    let err = s3
        .copy_object()
        .bucket(&bucket)
        .key("x")
        .copy_source(format!("{bucket}/missing"))
        .send()
        .await
        .expect_err("404");
    assert_eq!(code(&err), "NoSuchKey");
}

#[tokio::test]
async fn delete_objects_in_bulk() {
    let (_server, s3, bucket) = setup().await;
    for i in 0..5 {
        s3.put_object()
            .bucket(&bucket)
            .key(format!("k{i}"))
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .expect("put");
    }
    let ids: Vec<ObjectIdentifier> =
        (0..6).map(|i| ObjectIdentifier::builder().key(format!("k{i}")).build().expect("id")).collect();
    let out = s3
        .delete_objects()
        .bucket(&bucket)
        .delete(Delete::builder().set_objects(Some(ids)).build().expect("delete"))
        .send()
        .await
        .expect("delete objects");
    assert_eq!(out.deleted().len(), 6, "deleting a missing key also reports success");
    assert!(out.errors().is_empty());
    let listed = s3.list_objects_v2().bucket(&bucket).send().await.expect("list");
    assert_eq!(listed.key_count(), Some(0));
    // Deleting a missing key is not an error either.
    s3.delete_object().bucket(&bucket).key("never").send().await.expect("idempotent delete");
}

#[tokio::test]
async fn tagging_round_trip() {
    let (_server, s3, bucket) = setup().await;
    s3.put_object()
        .bucket(&bucket)
        .key("t")
        .tagging("team=storage&env=prod")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect("put");
    let tags = s3.get_object_tagging().bucket(&bucket).key("t").send().await.expect("get tags");
    assert_eq!(tags.tag_set().len(), 2);
    let set =
        Tagging::builder().tag_set(Tag::builder().key("k").value("v").build().expect("tag")).build().expect("tagging");
    s3.put_object_tagging().bucket(&bucket).key("t").tagging(set).send().await.expect("put tags");
    let tags = s3.get_object_tagging().bucket(&bucket).key("t").send().await.expect("get tags");
    assert_eq!(tags.tag_set().len(), 1);
    assert_eq!(tags.tag_set()[0].key(), "k");
    s3.delete_object_tagging().bucket(&bucket).key("t").send().await.expect("delete tags");
    let tags = s3.get_object_tagging().bucket(&bucket).key("t").send().await.expect("get tags");
    assert!(tags.tag_set().is_empty());
    let too_many: Vec<Tag> =
        (0..11).map(|i| Tag::builder().key(format!("k{i}")).value("v").build().expect("tag")).collect();
    let err = s3
        .put_object_tagging()
        .bucket(&bucket)
        .key("t")
        .tagging(Tagging::builder().set_tag_set(Some(too_many)).build().expect("tagging"))
        .send()
        .await
        .expect_err("11 tags");
    assert_eq!(code(&err), "InvalidTag");
}

#[tokio::test]
async fn overwrite_replaces_and_empty_objects_work() {
    let (_server, s3, bucket) = setup().await;
    s3.put_object().bucket(&bucket).key("k").body(ByteStream::from_static(b"first")).send().await.expect("put");
    s3.put_object().bucket(&bucket).key("k").body(ByteStream::from_static(b"second!")).send().await.expect("put");
    let got = s3.get_object().bucket(&bucket).key("k").send().await.expect("get");
    assert_eq!(body(got).await, b"second!");
    s3.put_object().bucket(&bucket).key("empty").body(ByteStream::from_static(b"")).send().await.expect("put empty");
    let got = s3.get_object().bucket(&bucket).key("empty").send().await.expect("get empty");
    assert_eq!(got.content_length(), Some(0));
    assert_eq!(got.e_tag(), Some("\"d41d8cd98f00b204e9800998ecf8427e\""));
}

#[tokio::test]
async fn concurrent_writers_never_tear_an_object() {
    let (_server, s3, bucket) = setup().await;
    let mut tasks = Vec::new();
    for seed in 0..8u64 {
        let s3 = s3.clone();
        let bucket = bucket.clone();
        tasks.push(tokio::spawn(async move {
            s3.put_object()
                .bucket(&bucket)
                .key("contended")
                .body(ByteStream::from(data(300_000, seed)))
                .send()
                .await
                .expect("put");
        }));
    }
    for t in tasks {
        t.await.expect("join");
    }
    let got = body(s3.get_object().bucket(&bucket).key("contended").send().await.expect("get")).await;
    assert!((0..8u64).any(|seed| got == data(300_000, seed)), "the object is exactly one writer's body");
}

#[tokio::test]
async fn not_modified_carries_the_etag_a_missing_part_is_invalid_part_and_part_one_is_a_range() {
    let server = TestServer::start();
    let s3 = server.client();
    let bucket = bucket_name("nm");
    s3.create_bucket().bucket(&bucket).send().await.expect("create");
    let put = s3.put_object().bucket(&bucket).key("k").body(ByteStream::from_static(b"abc")).send().await.expect("put");
    let etag = put.e_tag().expect("etag").to_owned();
    let http = reqwest::Client::new();
    let presigned = s3
        .get_object()
        .bucket(&bucket)
        .key("k")
        .if_none_match(&etag)
        .presigned(
            aws_sdk_s3::presigning::PresigningConfig::expires_in(std::time::Duration::from_secs(60)).expect("cfg"),
        )
        .await
        .expect("presign");
    let mut request = http.get(presigned.uri());
    for (name, value) in presigned.headers() {
        request = request.header(name, value);
    }
    let resp = request.send().await.expect("get");
    assert_eq!(resp.status(), 304);
    assert_eq!(resp.headers().get("etag").and_then(|v| v.to_str().ok()), Some(etag.as_str()));
    assert!(resp.headers().contains_key("last-modified"));

    let err = s3.get_object().bucket(&bucket).key("k").part_number(2).send().await.expect_err("no part 2");
    assert_eq!(code(&err), "InvalidPart");
    assert_eq!(status(&err), 400);
    // Part 1 of a single-part object is the whole object, answered as a range (206), as on S3.
    let part = s3.get_object().bucket(&bucket).key("k").part_number(1).send().await.expect("part 1");
    let size = part.content_length().expect("length");
    assert_eq!(part.content_range(), Some(format!("bytes 0-{}/{size}", size - 1).as_str()));
    assert_eq!(part.parts_count(), None, "a single-part object has no parts count");

    let listed = s3.list_objects_v2().bucket(&bucket).delimiter("").send().await.expect("list");
    assert_eq!(listed.delimiter(), None, "an empty delimiter is not echoed");
    assert_eq!(listed.key_count(), Some(1));
}

/// `If-Match: *` (replace only) and `If-None-Match: ETAG` (never replace that version), as HTTP means
/// them and ceph's s3-tests expect: both were 501 before.
#[tokio::test]
async fn conditional_writes_with_a_wildcard_match_or_an_etag_none_match() {
    let (_server, s3, b) = setup().await;
    let put = |key: &'static str, body: &'static [u8]| {
        s3.put_object().bucket(&b).key(key).body(ByteStream::from_static(body))
    };
    let read = |key: &'static str| {
        let s3 = s3.clone();
        let b = b.clone();
        async move {
            let got = s3.get_object().bucket(&b).key(key).send().await.expect("get");
            got.body.collect().await.expect("body").into_bytes()
        }
    };
    let err = put("k", b"v0").if_match("*").send().await.expect_err("nothing to replace");
    assert_eq!((code(&err).as_str(), status(&err)), ("NoSuchKey", 404));
    let err = s3.head_object().bucket(&b).key("k").send().await.expect_err("nothing was written");
    assert_eq!(status(&err), 404);

    let first = put("k", b"v1").send().await.expect("create");
    let etag = first.e_tag().expect("etag").to_owned();
    put("k", b"v2").if_match("*").send().await.expect("If-Match: * replaces an existing object");
    assert_eq!(read("k").await.as_ref(), b"v2");

    let current = s3.head_object().bucket(&b).key("k").send().await.expect("head");
    let current_etag = current.e_tag().expect("etag").to_owned();
    let err = put("k", b"v3").if_none_match(&current_etag).send().await.expect_err("that version is current");
    assert_eq!((code(&err).as_str(), status(&err)), ("PreconditionFailed", 412));
    assert_eq!(read("k").await.as_ref(), b"v2", "a refused write changes nothing");
    put("k", b"v4").if_none_match(&etag).send().await.expect("another version is current");
    assert_eq!(read("k").await.as_ref(), b"v4");
    put("fresh", b"v").if_none_match(&etag).send().await.expect("no object: nothing to avoid replacing");
}

#[tokio::test]
async fn conditional_writes_create_once_and_replace_only_the_version_read() {
    let (server, s3, b) = setup().await;
    let put = |key: &'static str, body: &'static [u8]| {
        s3.put_object().bucket(&b).key(key).body(ByteStream::from_static(body))
    };
    let first = put("lock", b"v1").if_none_match("*").send().await.expect("create");
    let err = put("lock", b"v1").if_none_match("*").send().await.expect_err("exists");
    assert_eq!((code(&err).as_str(), status(&err)), ("PreconditionFailed", 412));
    let etag = first.e_tag().expect("etag").to_owned();
    let second = put("lock", b"v2").if_match(&etag).send().await.expect("replace the version read");
    let err = put("lock", b"v3").if_match(&etag).send().await.expect_err("stale etag");
    assert_eq!(status(&err), 412);
    let err = put("missing", b"v").if_match(&etag).send().await.expect_err("no object");
    assert_eq!(code(&err), "NoSuchKey");
    assert_ne!(second.e_tag(), None);

    // Of 8 concurrent creators, exactly one wins.
    let racers = (0..8).map(|i| {
        let (s3, b) = (s3.clone(), b.clone());
        tokio::spawn(async move {
            s3.put_object().bucket(&b).key("race").if_none_match("*").body(ByteStream::from(vec![i; 8])).send().await
        })
    });
    let mut wins = 0;
    for racer in racers {
        wins += usize::from(matches!(racer.await, Ok(Ok(_))));
    }
    assert_eq!(wins, 1);

    // CompleteMultipartUpload honours If-None-Match too, and a refused complete keeps the upload.
    let id = crate::harness::create_upload(&s3, &b, "lock").await;
    let part = crate::harness::upload_part(&s3, &b, "lock", &id, 1, vec![1u8; 16]).await;
    let parts = aws_sdk_s3::types::CompletedMultipartUpload::builder().parts(part).build();
    let err = s3
        .complete_multipart_upload()
        .bucket(&b)
        .key("lock")
        .upload_id(&id)
        .multipart_upload(parts.clone())
        .if_none_match("*")
        .send()
        .await
        .expect_err("key taken");
    assert_eq!(status(&err), 412);
    s3.list_parts().bucket(&b).key("lock").upload_id(&id).send().await.expect("upload still there");
    drop(server);
}

#[tokio::test]
async fn error_documents_carry_the_request_id() {
    let (server, _s3, b) = setup().await;
    let resp = reqwest::get(format!("{}/{b}/nope", server.endpoint())).await.expect("get");
    let id = resp.headers().get("x-amz-request-id").and_then(|v| v.to_str().ok()).expect("id").to_owned();
    let body = resp.text().await.expect("body");
    assert!(body.contains(&format!("<RequestId>{id}</RequestId></Error>")), "{body}");
}

#[tokio::test]
async fn object_attributes_without_the_body() {
    use aws_sdk_s3::types::ObjectAttributes;
    let (_server, s3, b) = setup().await;
    let put = s3
        .put_object()
        .bucket(&b)
        .key("a")
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .body(ByteStream::from_static(b"attributes"))
        .send()
        .await
        .expect("put");
    let attrs = s3
        .get_object_attributes()
        .bucket(&b)
        .key("a")
        .object_attributes(ObjectAttributes::Etag)
        .object_attributes(ObjectAttributes::ObjectSize)
        .object_attributes(ObjectAttributes::Checksum)
        .object_attributes(ObjectAttributes::StorageClass)
        .send()
        .await
        .expect("attributes");
    assert_eq!(attrs.object_size(), Some(10));
    // AWS writes this document's ETag without quotes (every other S3 document quotes it).
    assert_eq!(attrs.e_tag(), put.e_tag().map(|e| e.trim_matches('"')));
    assert_eq!(attrs.checksum().and_then(|c| c.checksum_crc32()), put.checksum_crc32());
    assert!(attrs.storage_class().is_some());

    let id = crate::harness::create_upload(&s3, &b, "big").await;
    let p1 = crate::harness::upload_part(&s3, &b, "big", &id, 1, vec![1u8; 5 * 1024 * 1024]).await;
    let p2 = crate::harness::upload_part(&s3, &b, "big", &id, 2, vec![2u8; 100]).await;
    let parts = aws_sdk_s3::types::CompletedMultipartUpload::builder().parts(p1).parts(p2).build();
    s3.complete_multipart_upload()
        .bucket(&b)
        .key("big")
        .upload_id(&id)
        .multipart_upload(parts)
        .send()
        .await
        .expect("complete");
    let attrs = s3
        .get_object_attributes()
        .bucket(&b)
        .key("big")
        .object_attributes(ObjectAttributes::ObjectParts)
        .max_parts(1)
        .send()
        .await
        .expect("parts");
    let parts = attrs.object_parts().expect("parts");
    assert_eq!(parts.total_parts_count(), Some(2));
    assert_eq!(parts.is_truncated(), Some(true));
    assert_eq!(parts.parts()[0].size(), Some(5 * 1024 * 1024));
    let err = s3
        .get_object_attributes()
        .bucket(&b)
        .key("missing")
        .object_attributes(ObjectAttributes::Etag)
        .send()
        .await
        .expect_err("missing");
    assert_eq!(code(&err), "NoSuchKey");
}

#[tokio::test]
async fn small_bodies_are_inline_and_behave_like_any_other() {
    const INLINE_MAX: usize = kura_store::INLINE_MAX;
    let (mut server, s3, bucket) = setup().await;
    let data_dir = server.data.clone();
    let sizes = [0, 1, 4096, INLINE_MAX, INLINE_MAX + 1];
    for (seed, len) in sizes.iter().enumerate() {
        let key = format!("size-{len}");
        s3.put_object()
            .bucket(&bucket)
            .key(&key)
            .body(ByteStream::from(data(*len, seed as u64)))
            .send()
            .await
            .expect("put");
        let got = s3.get_object().bucket(&bucket).key(&key).send().await.expect("get");
        assert_eq!(got.content_length(), Some(*len as i64), "{key}");
        assert_eq!(body(got).await, data(*len, seed as u64), "{key}");
    }
    assert_eq!(blob_files(&data_dir).len(), 1, "only the body over the inline limit is a blob file");

    // Ranges, copies and part copies read inline bodies like blob ones.
    let small = data(4096, 2);
    let got = s3.get_object().bucket(&bucket).key("size-4096").range("bytes=100-199").send().await.expect("range");
    assert_eq!(got.content_range(), Some("bytes 100-199/4096"));
    assert_eq!(body(got).await, &small[100..200]);
    s3.copy_object().bucket(&bucket).key("copy").copy_source(format!("{bucket}/size-4096")).send().await.expect("copy");
    assert_eq!(body(s3.get_object().bucket(&bucket).key("copy").send().await.expect("get copy")).await, small);
    let id = crate::harness::create_upload(&s3, &bucket, "from-parts").await;
    let part = s3
        .upload_part_copy()
        .bucket(&bucket)
        .key("from-parts")
        .upload_id(&id)
        .part_number(1)
        .copy_source(format!("{bucket}/size-4096"))
        .copy_source_range("bytes=0-999")
        .send()
        .await
        .expect("part copy from an inline body");
    let etag = part.copy_part_result().and_then(|r| r.e_tag()).expect("etag").to_owned();
    let parts = vec![aws_sdk_s3::types::CompletedPart::builder().part_number(1).e_tag(etag).build()];
    crate::harness::complete_upload(&s3, &bucket, "from-parts", &id, parts).await.expect("complete");
    let got = s3.get_object().bucket(&bucket).key("from-parts").send().await.expect("get completed");
    assert_eq!(body(got).await, &small[..1000]);

    // Replacing a blob body with a small one reclaims the file; the other way round makes one.
    let over = format!("size-{}", INLINE_MAX + 1);
    s3.put_object().bucket(&bucket).key(&over).body(ByteStream::from_static(b"now small")).send().await.expect("put");
    s3.put_object()
        .bucket(&bucket)
        .key("size-1")
        .body(ByteStream::from(data(INLINE_MAX * 2, 9)))
        .send()
        .await
        .expect("put");
    assert_eq!(blob_files(&data_dir).len(), 2, "the part copy's blob and size-1's new body");
    s3.delete_object().bucket(&bucket).key("size-4096").send().await.expect("delete");

    // A crash loses nothing acknowledged: inline bodies are committed with their records.
    server.kill();
    let server = TestServer::start_on(&data_dir);
    let s3 = server.client();
    let got = s3.get_object().bucket(&bucket).key(&over).send().await.expect("get after restart");
    assert_eq!(body(got).await, b"now small");
    let got = s3.get_object().bucket(&bucket).key(format!("size-{INLINE_MAX}")).send().await.expect("get");
    assert_eq!(body(got).await, data(INLINE_MAX, 3));
    let got = s3.get_object().bucket(&bucket).key("size-0").send().await.expect("get empty");
    assert_eq!(got.content_length(), Some(0));
    let err = s3.get_object().bucket(&bucket).key("size-4096").send().await.expect_err("deleted");
    assert_eq!(code(&err), "NoSuchKey");
    let listed = s3.list_objects_v2().bucket(&bucket).send().await.expect("list");
    let sizes: Vec<(String, i64)> =
        listed.contents().iter().map(|o| (o.key().unwrap_or_default().to_owned(), o.size().unwrap_or(-1))).collect();
    assert!(sizes.contains(&(over, 9)) && sizes.contains(&("copy".to_owned(), 4096)), "{sizes:?}");
}

/// GetObjectAttributes with `x-amz-object-attributes` as ONE comma-separated header, as the aws CLI v2
/// and the JS SDK v3 send it (issue 16): every requested attribute comes back; an unknown name is
/// AWS's InvalidArgument.
#[tokio::test]
async fn object_attributes_in_one_comma_separated_header() {
    use aws_sdk_s3::types::{ObjectAttributes, StorageClass};
    let (_server, s3, b) = setup().await;
    let put = s3.put_object().bucket(&b).key("a").body(ByteStream::from_static(b"twelve bytes")).send().await;
    let etag = put.expect("put").e_tag().map(|e| e.trim_matches('"').to_owned()).expect("etag");
    let attributes = |header: &'static str| {
        s3.get_object_attributes()
            .bucket(&b)
            .key("a")
            .object_attributes(ObjectAttributes::Etag)
            .customize()
            .mutate_request(move |r| {
                r.headers_mut().insert("x-amz-object-attributes", header);
            })
            .send()
    };
    for header in ["ETag,ObjectSize,StorageClass", "ETag, ObjectSize ,StorageClass"] {
        let out = attributes(header).await.expect(header);
        assert_eq!(out.e_tag().map(|e| e.trim_matches('"')), Some(etag.as_str()), "{header}");
        assert_eq!(out.object_size(), Some(12), "{header}");
        assert_eq!(out.storage_class(), Some(&StorageClass::Standard), "{header}");
        assert!(out.checksum().is_none() && out.object_parts().is_none(), "{header}: only what was asked");
    }
    // The SDK's own form of a list (whatever it sends for several values) gets every attribute too.
    let out = s3
        .get_object_attributes()
        .bucket(&b)
        .key("a")
        .object_attributes(ObjectAttributes::ObjectSize)
        .object_attributes(ObjectAttributes::StorageClass)
        .send()
        .await
        .expect("sdk list");
    assert_eq!((out.object_size(), out.storage_class()), (Some(12), Some(&StorageClass::Standard)));
    assert!(out.e_tag().is_none());
    let err = attributes("ETag,Colour").await.expect_err("unknown attribute");
    assert_eq!((code(&err), status(&err)), ("InvalidArgument".to_owned(), 400));
}

/// `x-amz-tagging-count` on GET and HEAD of an object with tags (issue 16), as S3 sends it; no header
/// for an object without tags.
#[tokio::test]
async fn get_and_head_count_the_tags() {
    use aws_sdk_s3::presigning::PresigningConfig;
    let (_server, s3, b) = setup().await;
    s3.put_object()
        .bucket(&b)
        .key("tagged")
        .tagging("a=1&b=2")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect("put");
    s3.put_object().bucket(&b).key("plain").body(ByteStream::from_static(b"x")).send().await.expect("put");
    let cfg = || PresigningConfig::expires_in(std::time::Duration::from_secs(300)).expect("cfg");
    let http = reqwest::Client::new();
    for (key, expected) in [("tagged", Some("2")), ("plain", None)] {
        let head = s3.head_object().bucket(&b).key(key).presigned(cfg()).await.expect("presign head");
        let head = http.head(head.uri()).send().await.expect("head");
        assert_eq!(head.status(), 200);
        let count = head.headers().get("x-amz-tagging-count").map(|v| v.to_str().expect("text").to_owned());
        assert_eq!(count.as_deref(), expected, "HEAD {key}");
        let get = s3.get_object().bucket(&b).key(key).presigned(cfg()).await.expect("presign get");
        let get = http.get(get.uri()).send().await.expect("get");
        assert_eq!(get.status(), 200);
        let count = get.headers().get("x-amz-tagging-count").map(|v| v.to_str().expect("text").to_owned());
        assert_eq!(count.as_deref(), expected, "GET {key}");
    }
    let sdk = s3.get_object().bucket(&b).key("tagged").send().await.expect("sdk get");
    assert_eq!(sdk.tag_count(), Some(2));
}

/// `aws-chunked` names how a body was sent, not the object's encoding: it is not stored.
#[tokio::test]
async fn aws_chunked_is_dropped_from_the_stored_content_encoding() {
    let (_server, s3, bucket) = setup().await;
    for (sent, kept) in [("gzip", Some("gzip")), ("gzip, aws-chunked", Some("gzip")), ("aws-chunked", None)] {
        s3.put_object()
            .bucket(&bucket)
            .key("enc")
            .content_encoding(sent)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .expect("put");
        let head = s3.head_object().bucket(&bucket).key("enc").send().await.expect("head");
        assert_eq!(head.content_encoding(), kept, "{sent}");
    }
}

/// DeleteObject with `If-Match` deletes only the version it matched: a wrong ETag is 412 and deletes
/// nothing; the condition is judged again in the delete's own transaction, so an overwrite committed
/// after the check is never what gets deleted.
#[tokio::test]
async fn a_conditional_delete_deletes_only_what_it_matched() {
    let (_server, s3, b) = setup().await;
    let put = s3.put_object().bucket(&b).key("k").body(ByteStream::from_static(b"v1")).send().await.expect("put");
    let etag = put.e_tag().expect("etag").to_owned();
    let err = s3.delete_object().bucket(&b).key("k").if_match("\"0123\"").send().await.expect_err("412");
    assert_eq!((code(&err).as_str(), status(&err)), ("PreconditionFailed", 412));
    s3.head_object().bucket(&b).key("k").send().await.expect("still there");
    let err = s3.delete_object().bucket(&b).key("none").if_match(&etag).send().await.expect_err("404");
    assert_eq!((code(&err).as_str(), status(&err)), ("NoSuchKey", 404));
    s3.delete_object().bucket(&b).key("k").if_match(&etag).send().await.expect("the matching delete");
    let err = s3.head_object().bucket(&b).key("k").send().await.expect_err("deleted");
    assert_eq!(status(&err), 404);
}

/// Reads racing overwrites get the old object or the new one, never a 500: a GET, a CopyObject and an
/// UploadPartCopy read the record, then pin its blobs, and an overwrite committed in between used to
/// delete them first ("The object's data is missing"). Retries are off, so every answer counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_racing_overwrites_never_lose_the_body() {
    let (server, _, b) = setup().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        server.client().config().to_builder().retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled()).build(),
    );
    let (one, two) = (data(40_000, 1), data(40_000, 2));
    s3.put_object().bucket(&b).key("k").body(ByteStream::from(one.clone())).send().await.expect("put");
    let upload = s3.create_multipart_upload().bucket(&b).key("parts").send().await.expect("upload");
    let upload_id = upload.upload_id().expect("id").to_owned();
    let writer = {
        let (s3, b) = (s3.clone(), b.clone());
        tokio::spawn(async move {
            for i in 0..400 {
                let body = if i % 2 == 0 { two.clone() } else { one.clone() };
                s3.put_object().bucket(&b).key("k").body(ByteStream::from(body)).send().await.expect("overwrite");
            }
        })
    };
    let readers: Vec<_> = (0..3)
        .map(|r| {
            let (s3, b, upload_id) = (s3.clone(), b.clone(), upload_id.clone());
            tokio::spawn(async move {
                let mut failures = Vec::new();
                for i in 0..150 {
                    let outcome = match (r + i) % 3 {
                        0 => s3.get_object().bucket(&b).key("k").send().await.map(|_| ()).map_err(|e| code(&e)),
                        1 => s3
                            .copy_object()
                            .bucket(&b)
                            .key(format!("copy-{r}"))
                            .copy_source(format!("{b}/k"))
                            .send()
                            .await
                            .map(|_| ())
                            .map_err(|e| code(&e)),
                        _ => s3
                            .upload_part_copy()
                            .bucket(&b)
                            .key("parts")
                            .upload_id(&upload_id)
                            .part_number(r + 1)
                            .copy_source(format!("{b}/k"))
                            .send()
                            .await
                            .map(|_| ())
                            .map_err(|e| code(&e)),
                    };
                    if let Err(e) = outcome {
                        failures.push(e);
                    }
                }
                failures
            })
        })
        .collect();
    writer.await.expect("writer");
    for reader in readers {
        let failures = reader.await.expect("reader");
        assert!(failures.is_empty(), "reads failed while the key was overwritten: {failures:?}");
    }
}

/// The headers an object keeps (Content-Type, Cache-Control…, user metadata) take at most 8 KiB
/// together, AWS's limit on a PUT's header section: a larger one was stored and answered on every HEAD,
/// larger than common clients read.
#[tokio::test]
async fn the_headers_an_object_keeps_are_bounded() {
    let (_server, s3, b) = setup().await;
    let put = |content_type: String| {
        s3.put_object().bucket(&b).key("k").content_type(content_type).body(ByteStream::from_static(b"x")).send()
    };
    let err = put(format!("text/{}", "x".repeat(9 * 1024))).await.expect_err("too large");
    assert_eq!((code(&err).as_str(), status(&err)), ("RequestHeaderSectionTooLarge", 400));
    let err = s3.head_object().bucket(&b).key("k").send().await.expect_err("nothing written");
    assert_eq!(status(&err), 404);
    put(format!("text/{}", "x".repeat(4 * 1024))).await.expect("4 KiB is fine");
}

/// A client that goes away while its PUT commits leaves no blob behind: the commit and the reclaim of
/// what it replaced run to their end even when the request is dropped (they used to stop at the drop,
/// leaving orphan files that only a restart swept).
#[tokio::test]
async fn a_client_that_hangs_up_during_its_put_leaks_no_blob() {
    use tokio::io::AsyncWriteExt as _;
    let (server, s3, b) = setup().await;
    let body = data(1 << 20, 7);
    let url = s3
        .put_object()
        .bucket(&b)
        .key("k")
        .presigned(
            aws_sdk_s3::presigning::PresigningConfig::expires_in(std::time::Duration::from_secs(600)).expect("cfg"),
        )
        .await
        .expect("presign")
        .uri()
        .to_owned();
    let target = url[url.find(&format!("/{b}/")).expect("path")..].to_owned();
    let head = format!("PUT {target} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n\r\n", server.addr, body.len());
    for round in 0..120u64 {
        let mut stream = tokio::net::TcpStream::connect(server.addr).await.expect("connect");
        stream.write_all(head.as_bytes()).await.expect("head");
        stream.write_all(&body).await.expect("body");
        // Hang up 0 to 6 ms after the body, while the server stores and commits it: a reset, not a
        // clean close. (The delay spreads the hang-ups over the commit; nothing waits on it.)
        tokio::time::sleep(std::time::Duration::from_micros((round % 40) * 150)).await;
        stream.set_zero_linger().expect("linger");
        drop(stream);
    }
    // One complete PUT last: afterwards exactly its blob (or the one it replaced, reclaimed) remains.
    s3.put_object().bucket(&b).key("k").body(ByteStream::from(body)).send().await.expect("put");
    let data_dir = server.data.clone();
    crate::harness::wait_until(|| {
        let data_dir = data_dir.clone();
        async move { blob_files(&data_dir).len() == 1 }
    })
    .await;
}
