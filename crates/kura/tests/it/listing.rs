//! Listing: v1, v2 and versions; prefixes, delimiters, pagination, URL encoding.

use crate::harness::{TestServer, bucket_name, code};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::EncodingType;

async fn setup(keys: &[&str]) -> (TestServer, aws_sdk_s3::Client, String) {
    let server = TestServer::start();
    let s3 = server.client();
    let bucket = bucket_name("list");
    s3.create_bucket().bucket(&bucket).send().await.expect("create bucket");
    for k in keys {
        s3.put_object().bucket(&bucket).key(*k).body(ByteStream::from_static(b"x")).send().await.expect("put");
    }
    (server, s3, bucket)
}

const KEYS: &[&str] = &["a/1", "a/2", "a/b/3", "b", "c/1", "c/2", "d", "e/f/g"];

#[tokio::test]
async fn v2_delimiter_groups_common_prefixes() {
    let (_server, s3, bucket) = setup(KEYS).await;
    let out = s3.list_objects_v2().bucket(&bucket).delimiter("/").send().await.expect("list");
    let keys: Vec<_> = out.contents().iter().filter_map(|o| o.key()).collect();
    let prefixes: Vec<_> = out.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
    assert_eq!(keys, ["b", "d"]);
    assert_eq!(prefixes, ["a/", "c/", "e/"]);
    assert_eq!(out.key_count(), Some(5));
    let out = s3.list_objects_v2().bucket(&bucket).prefix("a/").delimiter("/").send().await.expect("list");
    let keys: Vec<_> = out.contents().iter().filter_map(|o| o.key()).collect();
    let prefixes: Vec<_> = out.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
    assert_eq!(keys, ["a/1", "a/2"]);
    assert_eq!(prefixes, ["a/b/"]);
}

#[tokio::test]
async fn v2_paginates_with_continuation_tokens() {
    let (_server, s3, bucket) = setup(KEYS).await;
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let out = s3
            .list_objects_v2()
            .bucket(&bucket)
            .delimiter("/")
            .max_keys(2)
            .set_continuation_token(token.clone())
            .send()
            .await
            .expect("page");
        seen.extend(out.contents().iter().filter_map(|o| o.key().map(str::to_owned)));
        seen.extend(out.common_prefixes().iter().filter_map(|p| p.prefix().map(str::to_owned)));
        if out.is_truncated() != Some(true) {
            break;
        }
        token = out.next_continuation_token().map(str::to_owned);
        assert!(token.is_some());
    }
    seen.sort();
    assert_eq!(seen, ["a/", "b", "c/", "d", "e/"]);
    let out = s3.list_objects_v2().bucket(&bucket).start_after("c/1").send().await.expect("start-after");
    let keys: Vec<_> = out.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["c/2", "d", "e/f/g"]);
    let err =
        s3.list_objects_v2().bucket(&bucket).continuation_token("!!garbage!!").send().await.expect_err("bad token");
    assert_eq!(code(&err), "InvalidArgument");
}

#[tokio::test]
async fn v1_markers() {
    let (_server, s3, bucket) = setup(KEYS).await;
    let out = s3.list_objects().bucket(&bucket).max_keys(3).send().await.expect("v1");
    let keys: Vec<_> = out.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["a/1", "a/2", "a/b/3"]);
    assert_eq!(out.is_truncated(), Some(true));
    let out = s3.list_objects().bucket(&bucket).marker("a/b/3").send().await.expect("v1 marker");
    let keys: Vec<_> = out.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["b", "c/1", "c/2", "d", "e/f/g"]);
    let out = s3.list_objects().bucket(&bucket).delimiter("/").max_keys(1).send().await.expect("v1 delimiter");
    assert_eq!(out.next_marker(), Some("a/"));
    let out = s3.list_objects().bucket(&bucket).delimiter("/").marker("a/").send().await.expect("after prefix");
    let prefixes: Vec<_> = out.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
    assert_eq!(prefixes, ["c/", "e/"], "a continuation after a common prefix does not repeat it");
}

#[tokio::test]
async fn versions_of_unversioned_objects_are_null() {
    let (_server, s3, bucket) = setup(&["x", "y"]).await;
    let out = s3.list_object_versions().bucket(&bucket).send().await.expect("versions");
    assert_eq!(out.versions().len(), 2);
    assert!(out.versions().iter().all(|v| v.version_id() == Some("null") && v.is_latest() == Some(true)));
}

#[tokio::test]
async fn url_encoding_of_keys() {
    let (_server, s3, bucket) = setup(&["sp ace/ü+x"]).await;
    let out = s3.list_objects_v2().bucket(&bucket).encoding_type(EncodingType::Url).send().await.expect("list");
    // As S3: with encoding-type=url the key comes back percent-encoded (the Rust SDK does not decode it).
    assert_eq!(out.contents()[0].key(), Some("sp%20ace/%C3%BC%2Bx"));
}

#[tokio::test]
async fn max_keys_zero_and_empty_bucket() {
    let (_server, s3, bucket) = setup(&["k"]).await;
    let out = s3.list_objects_v2().bucket(&bucket).max_keys(0).send().await.expect("list");
    assert!(out.contents().is_empty());
    assert_eq!(out.is_truncated(), Some(false));
}
