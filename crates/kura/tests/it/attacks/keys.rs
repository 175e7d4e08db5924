//! Keys XML cannot carry (issue 12, item 12c): a key with NUL or another control character would make
//! every listing that contains it an invalid XML document, breaking the bucket for every client. Such keys
//! are refused at every write; listings stay valid.

use crate::harness::{TestServer, bucket_name, code, create_upload, status};

const BAD_KEYS: &[&str] = &["ctl-\u{1}-key", "nul-\0", "dir/\u{1b}[31m", "not-a-char-\u{FFFF}"];

#[tokio::test]
async fn keys_with_control_characters_are_refused_at_every_write() {
    let server = TestServer::start();
    let s3 = server.client();
    let bucket = bucket_name("ctl-keys");
    s3.create_bucket().bucket(&bucket).send().await.expect("create bucket");
    // Versioned: a delete of any key would leave a delete marker, which a listing must carry as XML.
    let enabled = aws_sdk_s3::types::VersioningConfiguration::builder()
        .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
        .build();
    s3.put_bucket_versioning().bucket(&bucket).versioning_configuration(enabled).send().await.expect("versioning");
    s3.put_object().bucket(&bucket).key("source").body(b"x".to_vec().into()).send().await.expect("put");
    for key in BAD_KEYS {
        let err = s3.delete_object().bucket(&bucket).key(*key).send().await.expect_err(key);
        assert_eq!((status(&err), code(&err).as_str()), (400, "InvalidArgument"), "DeleteObject {key:?}");
        let id = aws_sdk_s3::types::ObjectIdentifier::builder().key(*key).build().expect("id");
        let delete = aws_sdk_s3::types::Delete::builder().objects(id).build().expect("delete");
        let err = s3.delete_objects().bucket(&bucket).delete(delete).send().await.expect_err(key);
        assert_eq!((status(&err), code(&err).as_str()), (400, "MalformedXML"), "DeleteObjects {key:?}");
        let err = s3.put_object().bucket(&bucket).key(*key).body(b"x".to_vec().into()).send().await.expect_err(key);
        assert_eq!((status(&err), code(&err).as_str()), (400, "InvalidArgument"), "PutObject {key:?}");
        let err = s3
            .copy_object()
            .bucket(&bucket)
            .key(*key)
            .copy_source(format!("{bucket}/source"))
            .send()
            .await
            .expect_err(key);
        assert_eq!((status(&err), code(&err).as_str()), (400, "InvalidArgument"), "CopyObject {key:?}");
        let err = s3.create_multipart_upload().bucket(&bucket).key(*key).send().await.expect_err(key);
        assert_eq!((status(&err), code(&err).as_str()), (400, "InvalidArgument"), "CreateMultipartUpload {key:?}");
    }
    // Tab, line feed and carriage return are XML characters: allowed.
    create_upload(&s3, &bucket, "tab\tkey").await;
    s3.put_object().bucket(&bucket).key("tab\tkey").body(b"x".to_vec().into()).send().await.expect("tab");

    // Nothing was written, and the listing is still a valid document (the SDK parses it).
    let listed = s3.list_objects_v2().bucket(&bucket).send().await.expect("list");
    let keys: Vec<_> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["source", "tab\tkey"]);
    let uploads = s3.list_multipart_uploads().bucket(&bucket).send().await.expect("list uploads");
    let upload_keys: Vec<_> = uploads.uploads().iter().filter_map(|u| u.key()).collect();
    assert_eq!(upload_keys, ["tab\tkey"]);
    let versions = s3.list_object_versions().bucket(&bucket).send().await.expect("list versions");
    assert!(versions.delete_markers().is_empty(), "no delete marker was written");
}

#[tokio::test]
async fn a_browser_post_with_a_control_character_in_its_key_is_refused() {
    let server = TestServer::start();
    let s3 = server.client();
    let bucket = bucket_name("ctl-post");
    s3.create_bucket().bucket(&bucket).send().await.expect("create bucket");
    let form = crate::presign::presign(&server, &["post", &format!("s3://{bucket}/up/")]);
    let form: serde_json::Value = serde_json::from_str(&form).expect("json");
    let (status, text) = crate::harness::post_form(&form, "up/\u{1}", b"hello").await;
    assert_eq!(status, 400);
    assert_eq!(crate::harness::xml_code(&text), "InvalidArgument", "{text}");
    let listed = s3.list_objects_v2().bucket(&bucket).send().await.expect("list");
    assert!(listed.contents().is_empty());
}
