//! Multipart uploads.

use crate::harness::{TestServer, bucket_name, code, complete_upload, create_upload, data, status, upload_part};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::CompletedPart;

const MIB: usize = 1024 * 1024;

async fn setup() -> (TestServer, aws_sdk_s3::Client, String) {
    let server = TestServer::start();
    let s3 = server.client();
    let bucket = bucket_name("mpu");
    s3.create_bucket().bucket(&bucket).send().await.expect("create bucket");
    (server, s3, bucket)
}

#[tokio::test]
async fn upload_list_complete_read_back() {
    let (_server, s3, bucket) = setup().await;
    let created =
        s3.create_multipart_upload().bucket(&bucket).key("big").content_type("video/mp4").send().await.expect("create");
    let id = created.upload_id().expect("id").to_owned();
    let p1 = data(5 * MIB, 1);
    let p2 = data(5 * MIB, 2);
    let p3 = data(1234, 3);
    let parts = vec![
        upload_part(&s3, &bucket, "big", &id, 1, p1.clone()).await,
        upload_part(&s3, &bucket, "big", &id, 2, p2.clone()).await,
        upload_part(&s3, &bucket, "big", &id, 3, p3.clone()).await,
    ];
    let uploads = s3.list_multipart_uploads().bucket(&bucket).send().await.expect("list uploads");
    assert_eq!(uploads.uploads().len(), 1);
    assert_eq!(uploads.uploads()[0].upload_id(), Some(id.as_str()));
    let listed = s3.list_parts().bucket(&bucket).key("big").upload_id(&id).send().await.expect("list parts");
    assert_eq!(listed.parts().len(), 3);
    assert_eq!(listed.parts()[2].size(), Some(1234));
    let listed = s3.list_parts().bucket(&bucket).key("big").upload_id(&id).max_parts(2).send().await.expect("page");
    assert_eq!(listed.is_truncated(), Some(true));
    assert_eq!(listed.next_part_number_marker(), Some("2"));
    let done = complete_upload(&s3, &bucket, "big", &id, parts).await.expect("complete");
    assert!(done.e_tag().is_some_and(|e| e.ends_with("-3\"")), "{:?}", done.e_tag());
    let got = s3.get_object().bucket(&bucket).key("big").send().await.expect("get");
    assert_eq!(got.content_type(), Some("video/mp4"));
    assert_eq!(got.content_length(), Some((10 * MIB + 1234) as i64));
    let all = got.body.collect().await.expect("body").into_bytes();
    assert_eq!(&all[..5 * MIB], &p1[..]);
    assert_eq!(&all[5 * MIB..10 * MIB], &p2[..]);
    assert_eq!(&all[10 * MIB..], &p3[..]);
    // A range spanning two parts.
    let got = s3
        .get_object()
        .bucket(&bucket)
        .key("big")
        .range(format!("bytes={}-{}", 5 * MIB - 2, 5 * MIB + 1))
        .send()
        .await
        .expect("range");
    let bytes = got.body.collect().await.expect("body").into_bytes();
    assert_eq!(&bytes[..], &[&p1[5 * MIB - 2..], &p2[..2]].concat()[..]);
    // partNumber reads.
    let head = s3.head_object().bucket(&bucket).key("big").part_number(2).send().await.expect("part 2");
    assert_eq!(head.content_length(), Some(5 * MIB as i64));
    assert_eq!(head.parts_count(), Some(3));
    let uploads = s3.list_multipart_uploads().bucket(&bucket).send().await.expect("list uploads");
    assert!(uploads.uploads().is_empty());
}

#[tokio::test]
async fn completion_checks_order_size_and_etags() {
    let (_server, s3, bucket) = setup().await;
    let id = create_upload(&s3, &bucket, "k").await;
    let small1 = upload_part(&s3, &bucket, "k", &id, 1, data(1000, 1)).await;
    let small2 = upload_part(&s3, &bucket, "k", &id, 2, data(1000, 2)).await;
    let err = complete_upload(&s3, &bucket, "k", &id, vec![small2.clone(), small1.clone()]).await.expect_err("order");
    assert_eq!(code(&err), "InvalidPartOrder");
    let err =
        complete_upload(&s3, &bucket, "k", &id, vec![small1.clone(), small2.clone()]).await.expect_err("too small");
    assert_eq!(code(&err), "EntityTooSmall");
    let wrong = CompletedPart::builder().part_number(1).e_tag("\"00000000000000000000000000000000\"").build();
    let err = complete_upload(&s3, &bucket, "k", &id, vec![wrong]).await.expect_err("etag");
    assert_eq!(code(&err), "InvalidPart");
    // A single small part is fine: the last part has no minimum.
    complete_upload(&s3, &bucket, "k", &id, vec![small1]).await.expect("one part");
}

#[tokio::test]
async fn abort_and_unknown_upload() {
    let (_server, s3, bucket) = setup().await;
    let id = create_upload(&s3, &bucket, "k").await;
    upload_part(&s3, &bucket, "k", &id, 1, data(100, 1)).await;
    s3.abort_multipart_upload().bucket(&bucket).key("k").upload_id(&id).send().await.expect("abort");
    let err = s3.list_parts().bucket(&bucket).key("k").upload_id(&id).send().await.expect_err("gone");
    assert_eq!(code(&err), "NoSuchUpload");
    let err = s3
        .upload_part()
        .bucket(&bucket)
        .key("k")
        .upload_id("nonexistent")
        .part_number(1)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect_err("unknown");
    assert_eq!(code(&err), "NoSuchUpload");
}

#[tokio::test]
async fn upload_part_copy_with_range() {
    let (_server, s3, bucket) = setup().await;
    let src = data(6 * MIB, 9);
    s3.put_object().bucket(&bucket).key("src").body(ByteStream::from(src.clone())).send().await.expect("put");
    let id = create_upload(&s3, &bucket, "dst").await;
    let c1 = s3
        .upload_part_copy()
        .bucket(&bucket)
        .key("dst")
        .upload_id(&id)
        .part_number(1)
        .copy_source(format!("{bucket}/src"))
        .copy_source_range(format!("bytes=0-{}", 5 * MIB - 1))
        .send()
        .await
        .expect("copy part 1");
    let c2 = s3
        .upload_part_copy()
        .bucket(&bucket)
        .key("dst")
        .upload_id(&id)
        .part_number(2)
        .copy_source(format!("{bucket}/src"))
        .copy_source_range(format!("bytes={}-{}", 5 * MIB, 6 * MIB - 1))
        .send()
        .await
        .expect("copy part 2");
    let parts = vec![
        CompletedPart::builder()
            .part_number(1)
            .e_tag(c1.copy_part_result().and_then(|r| r.e_tag()).expect("etag"))
            .build(),
        CompletedPart::builder()
            .part_number(2)
            .e_tag(c2.copy_part_result().and_then(|r| r.e_tag()).expect("etag"))
            .build(),
    ];
    complete_upload(&s3, &bucket, "dst", &id, parts).await.expect("complete");
    let got = s3.get_object().bucket(&bucket).key("dst").send().await.expect("get");
    assert_eq!(got.body.collect().await.expect("body").into_bytes().to_vec(), src);
}

/// CompleteMultipartUpload repeated on an upload that already completed answers, as AWS, the same
/// object again (same ETag and location) while that object is the key's current one, and changes
/// nothing; once the key holds another object, the old upload is NoSuchUpload (issue 16).
#[tokio::test]
async fn completing_a_completed_upload_again_answers_the_same_object() {
    let (_server, s3, bucket) = setup().await;
    let id = create_upload(&s3, &bucket, "k").await;
    let p1 = upload_part(&s3, &bucket, "k", &id, 1, data(5 * MIB, 1)).await;
    let p2 = upload_part(&s3, &bucket, "k", &id, 2, data(10, 2)).await;
    let first = complete_upload(&s3, &bucket, "k", &id, vec![p1.clone(), p2.clone()]).await.expect("complete");
    let before = s3.head_object().bucket(&bucket).key("k").send().await.expect("head");
    let again = complete_upload(&s3, &bucket, "k", &id, vec![p1.clone(), p2.clone()]).await.expect("complete again");
    assert_eq!(again.e_tag(), first.e_tag());
    assert_eq!(again.location(), first.location());
    assert_eq!((again.bucket(), again.key()), (Some(bucket.as_str()), Some("k")));
    let after = s3.head_object().bucket(&bucket).key("k").send().await.expect("head");
    assert_eq!(after.last_modified(), before.last_modified(), "nothing was re-created");
    assert_eq!((after.e_tag(), after.content_length()), (first.e_tag(), Some(5 * MIB as i64 + 10)));
    let uploads = s3.list_multipart_uploads().bucket(&bucket).send().await.expect("uploads");
    assert!(uploads.uploads().is_empty(), "no upload came back");

    // Another upload id, or the same id for another key: NoSuchUpload.
    let err = complete_upload(&s3, &bucket, "other", &id, vec![p1.clone()]).await.expect_err("other key");
    assert_eq!(code(&err), "NoSuchUpload");
    let err = complete_upload(&s3, &bucket, "k", "not-an-upload", vec![p1.clone()]).await.expect_err("unknown");
    assert_eq!(code(&err), "NoSuchUpload");
    // Once the key holds another object, the completed upload is gone for good.
    s3.put_object().bucket(&bucket).key("k").body(ByteStream::from_static(b"new")).send().await.expect("put");
    let err = complete_upload(&s3, &bucket, "k", &id, vec![p1, p2]).await.expect_err("replaced");
    assert_eq!(code(&err), "NoSuchUpload");
    let now = s3.head_object().bucket(&bucket).key("k").send().await.expect("head");
    assert_eq!(now.content_length(), Some(3), "the new object stays");
}

/// A negative page size is refused, as AWS refuses it, for parts and uploads as for keys.
#[tokio::test]
async fn negative_page_sizes_are_refused() {
    let server = TestServer::start();
    let s3 = server.client();
    let bucket = bucket_name("pages");
    s3.create_bucket().bucket(&bucket).send().await.expect("create bucket");
    let upload_id = create_upload(&s3, &bucket, "k").await;
    let err = s3.list_parts().bucket(&bucket).key("k").upload_id(&upload_id).max_parts(-1).send().await;
    let err = err.expect_err("max-parts=-1");
    assert_eq!((status(&err), code(&err).as_str()), (400, "InvalidArgument"));
    let err = s3.list_multipart_uploads().bucket(&bucket).max_uploads(-1).send().await.expect_err("max-uploads=-1");
    assert_eq!((status(&err), code(&err).as_str()), (400, "InvalidArgument"));
}
