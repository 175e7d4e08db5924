//! Versioning: bucket states, version ids, delete markers, reads, copies, tags and deletes by version,
//! the `null` version under Suspended, ListObjectVersions, DeleteObjects with versions, conditional and
//! multipart writes on versioned buckets, and the refusals (with exact codes) that change nothing.

use crate::harness::{TestServer, bucket_name, code, complete_upload, create_upload, data, status, upload_part};
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, Delete, MfaDeleteStatus, ObjectIdentifier, Tag, Tagging, VersioningConfiguration,
};

async fn setup(state: Option<BucketVersioningStatus>) -> (TestServer, aws_sdk_s3::Client, String) {
    let server = TestServer::start();
    let s3 = server.client();
    let bucket = bucket_name("ver");
    s3.create_bucket().bucket(&bucket).send().await.expect("create bucket");
    if let Some(state) = state {
        set_versioning(&s3, &bucket, state).await;
    }
    (server, s3, bucket)
}

async fn set_versioning(s3: &aws_sdk_s3::Client, bucket: &str, state: BucketVersioningStatus) {
    let config = VersioningConfiguration::builder().status(state).build();
    s3.put_bucket_versioning().bucket(bucket).versioning_configuration(config).send().await.expect("versioning");
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &[u8]) -> Option<String> {
    let out = s3.put_object().bucket(bucket).key(key).body(ByteStream::from(body.to_vec())).send().await.expect("put");
    out.version_id().map(str::to_owned)
}

async fn get(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, version: Option<&str>) -> Vec<u8> {
    let out = s3.get_object().bucket(bucket).key(key).set_version_id(version.map(str::to_owned)).send().await;
    out.expect("get").body.collect().await.expect("body").into_bytes().to_vec()
}

/// (key, version id, is latest, is delete marker) of every version, listed in pages of `max`.
async fn versions(s3: &aws_sdk_s3::Client, bucket: &str, max: i32) -> Vec<(String, String, bool, bool)> {
    let mut out = Vec::new();
    let (mut key_marker, mut version_marker) = (None, None);
    loop {
        let page = s3
            .list_object_versions()
            .bucket(bucket)
            .max_keys(max)
            .set_key_marker(key_marker.clone())
            .set_version_id_marker(version_marker.clone())
            .send()
            .await
            .expect("list versions");
        let mut entries: Vec<(String, String, bool, bool)> = page
            .versions()
            .iter()
            .map(|v| {
                (v.key().unwrap_or("").into(), v.version_id().unwrap_or("").into(), v.is_latest() == Some(true), false)
            })
            .chain(page.delete_markers().iter().map(|m| {
                (m.key().unwrap_or("").into(), m.version_id().unwrap_or("").into(), m.is_latest() == Some(true), true)
            }))
            .collect();
        assert!(entries.len() <= max as usize);
        // The wire lists versions, then markers; S3's order is key, then newest first: the latest, then
        // by id (ids sort newest first; a noncurrent `null` version is the oldest in these tests).
        entries.sort_by(|a, b| (a.0.as_str(), !a.2, ord(&a.1)).cmp(&(b.0.as_str(), !b.2, ord(&b.1))));
        out.extend(entries);
        if page.is_truncated() != Some(true) {
            return out;
        }
        key_marker = page.next_key_marker().map(str::to_owned);
        version_marker = page.next_version_id_marker().map(str::to_owned);
    }
}

/// Sorts `null` last among a key's noncurrent versions.
fn ord(id: &str) -> String {
    if id == "null" { "~".into() } else { id.into() }
}

fn header<'a, E>(err: &'a SdkError<E, aws_sdk_s3::config::http::HttpResponse>, name: &str) -> Option<&'a str> {
    match err {
        SdkError::ServiceError(e) => e.raw().headers().get(name),
        _ => None,
    }
}

#[tokio::test]
async fn bucket_states_and_bad_configurations() {
    let (_server, s3, bucket) = setup(None).await;
    let state = s3.get_bucket_versioning().bucket(&bucket).send().await.expect("get");
    assert_eq!(state.status(), None, "a bucket never versioned has no Status");
    set_versioning(&s3, &bucket, BucketVersioningStatus::Enabled).await;
    let state = s3.get_bucket_versioning().bucket(&bucket).send().await.expect("get");
    assert_eq!(state.status(), Some(&BucketVersioningStatus::Enabled));
    set_versioning(&s3, &bucket, BucketVersioningStatus::Suspended).await;
    let state = s3.get_bucket_versioning().bucket(&bucket).send().await.expect("get");
    assert_eq!(state.status(), Some(&BucketVersioningStatus::Suspended));

    // MFA delete cannot be enabled; a bad Status is malformed. Neither changes the state.
    let mfa = VersioningConfiguration::builder()
        .status(BucketVersioningStatus::Enabled)
        .mfa_delete(aws_sdk_s3::types::MfaDelete::Enabled)
        .build();
    let err = s3.put_bucket_versioning().bucket(&bucket).versioning_configuration(mfa).send().await.expect_err("mfa");
    assert_eq!((code(&err).as_str(), status(&err)), ("IllegalVersioningConfigurationException", 400));
    let bad = VersioningConfiguration::builder().status(BucketVersioningStatus::from("Off")).build();
    let err = s3.put_bucket_versioning().bucket(&bucket).versioning_configuration(bad).send().await.expect_err("bad");
    assert_eq!((code(&err).as_str(), status(&err)), ("MalformedXML", 400));
    let state = s3.get_bucket_versioning().bucket(&bucket).send().await.expect("get");
    assert_eq!(state.status(), Some(&BucketVersioningStatus::Suspended));
    assert_ne!(state.mfa_delete(), Some(&MfaDeleteStatus::Enabled));

    let err = s3.get_bucket_versioning().bucket("no-such-bucket-ver").send().await.expect_err("missing");
    assert_eq!(code(&err), "NoSuchBucket");
}

#[tokio::test]
async fn versions_markers_and_reads_by_version() {
    let (_server, s3, bucket) = setup(Some(BucketVersioningStatus::Enabled)).await;
    let v1 = put(&s3, &bucket, "k", b"one").await.expect("a version id");
    let v2 = put(&s3, &bucket, "k", &data(50_000, 2)).await.expect("a version id");
    assert_ne!(v1, v2);
    assert!(v2 < v1, "newer ids sort first");
    assert!(v1.bytes().all(|b| b.is_ascii_alphanumeric()), "URL-safe: {v1}");
    assert_eq!(get(&s3, &bucket, "k", None).await, data(50_000, 2));
    assert_eq!(get(&s3, &bucket, "k", Some(&v1)).await, b"one");
    let got = s3.get_object().bucket(&bucket).key("k").send().await.expect("get");
    assert_eq!(got.version_id(), Some(v2.as_str()));
    let head = s3.head_object().bucket(&bucket).key("k").version_id(&v1).send().await.expect("head");
    assert_eq!((head.version_id(), head.content_length()), (Some(v1.as_str()), Some(3)));

    // DELETE without a version id: a marker hides the key.
    let del = s3.delete_object().bucket(&bucket).key("k").send().await.expect("delete");
    assert_eq!(del.delete_marker(), Some(true));
    let marker = del.version_id().expect("marker id").to_owned();
    let err = s3.get_object().bucket(&bucket).key("k").send().await.expect_err("hidden");
    assert_eq!((code(&err).as_str(), status(&err)), ("NoSuchKey", 404));
    assert_eq!(header(&err, "x-amz-delete-marker"), Some("true"));
    assert_eq!(header(&err, "x-amz-version-id"), Some(marker.as_str()));
    let err = s3.head_object().bucket(&bucket).key("k").send().await.expect_err("hidden");
    assert_eq!((status(&err), header(&err, "x-amz-delete-marker")), (404, Some("true")));
    let err = s3.head_object().bucket(&bucket).key("never").send().await.expect_err("missing");
    assert_eq!((status(&err), header(&err, "x-amz-delete-marker")), (404, Some("false")));
    // Naming the marker is MethodNotAllowed; an unknown id NoSuchVersion; a foreign one InvalidArgument.
    let err = s3.get_object().bucket(&bucket).key("k").version_id(&marker).send().await.expect_err("marker");
    assert_eq!((code(&err).as_str(), status(&err)), ("MethodNotAllowed", 405));
    assert_eq!(header(&err, "x-amz-delete-marker"), Some("true"));
    let err = s3.head_object().bucket(&bucket).key("k").version_id(&marker).send().await.expect_err("marker");
    assert_eq!(status(&err), 405);
    let unknown = format!("{:032x}", 7u128);
    let err = s3.get_object().bucket(&bucket).key("k").version_id(&unknown).send().await.expect_err("unknown");
    assert_eq!((code(&err).as_str(), status(&err)), ("NoSuchVersion", 404));
    let err = s3.get_object().bucket(&bucket).key("k").version_id("3HL4kqtJlc").send().await.expect_err("bad");
    assert_eq!((code(&err).as_str(), status(&err)), ("InvalidArgument", 400));
    let err = s3.delete_object().bucket(&bucket).key("k").version_id("../x").send().await.expect_err("bad");
    assert_eq!((code(&err).as_str(), status(&err)), ("InvalidArgument", 400));
    assert_eq!(versions(&s3, &bucket, 100).await.len(), 3, "refused requests changed nothing");

    // Plain listings show current objects only.
    let list = s3.list_objects_v2().bucket(&bucket).send().await.expect("list");
    assert!(list.contents().is_empty());

    // DELETE with the marker's id removes it for good, and says it was a marker: v2 is back.
    let del = s3.delete_object().bucket(&bucket).key("k").version_id(&marker).send().await.expect("delete marker");
    assert_eq!((del.delete_marker(), del.version_id()), (Some(true), Some(marker.as_str())));
    assert_eq!(get(&s3, &bucket, "k", None).await, data(50_000, 2));
    // DELETE of v2 by id: v1 becomes current.
    let del = s3.delete_object().bucket(&bucket).key("k").version_id(&v2).send().await.expect("delete v2");
    assert_eq!((del.delete_marker(), del.version_id()), (None, Some(v2.as_str())));
    assert_eq!(get(&s3, &bucket, "k", None).await, b"one");
    let err = s3.get_object().bucket(&bucket).key("k").version_id(&v2).send().await.expect_err("gone");
    assert_eq!(code(&err), "NoSuchVersion");
    assert_eq!(versions(&s3, &bucket, 100).await, vec![("k".into(), v1.clone(), true, false)]);

    // A bucket holding only versions or markers is not empty.
    s3.delete_object().bucket(&bucket).key("k").send().await.expect("marker");
    let err = s3.delete_bucket().bucket(&bucket).send().await.expect_err("not empty");
    assert_eq!((code(&err).as_str(), status(&err)), ("BucketNotEmpty", 409));
    for (key, id, ..) in versions(&s3, &bucket, 100).await {
        s3.delete_object().bucket(&bucket).key(key).version_id(id).send().await.expect("delete version");
    }
    s3.delete_bucket().bucket(&bucket).send().await.expect("empty now");
}

#[tokio::test]
async fn suspended_writes_replace_the_null_version_only() {
    let (_server, s3, bucket) = setup(None).await;
    // Written unversioned: the null version, and no version id header.
    assert_eq!(put(&s3, &bucket, "k", b"unversioned").await, None);
    set_versioning(&s3, &bucket, BucketVersioningStatus::Enabled).await;
    let v1 = put(&s3, &bucket, "k", b"v1").await.expect("id");
    assert_eq!(get(&s3, &bucket, "k", Some("null")).await, b"unversioned");
    set_versioning(&s3, &bucket, BucketVersioningStatus::Suspended).await;
    assert_eq!(put(&s3, &bucket, "k", b"null again").await, None, "a null version is not reported");
    assert_eq!(get(&s3, &bucket, "k", None).await, b"null again");
    assert_eq!(get(&s3, &bucket, "k", Some("null")).await, b"null again");
    assert_eq!(get(&s3, &bucket, "k", Some(&v1)).await, b"v1", "other versions are kept");
    let all = versions(&s3, &bucket, 1).await;
    assert_eq!(all, vec![("k".into(), "null".into(), true, false), ("k".into(), v1.clone(), false, false)]);
    // DELETE while suspended puts a null marker in the null version's place.
    let del = s3.delete_object().bucket(&bucket).key("k").send().await.expect("delete");
    assert_eq!((del.delete_marker(), del.version_id()), (Some(true), Some("null")));
    let err = s3.get_object().bucket(&bucket).key("k").version_id("null").send().await.expect_err("a marker");
    assert_eq!(code(&err), "MethodNotAllowed");
    let all = versions(&s3, &bucket, 100).await;
    assert_eq!(all, vec![("k".into(), "null".into(), true, true), ("k".into(), v1.clone(), false, false)]);
    // Removing the null marker brings v1 back.
    s3.delete_object().bucket(&bucket).key("k").version_id("null").send().await.expect("delete null");
    assert_eq!(get(&s3, &bucket, "k", None).await, b"v1");
    // Once versioned, a bucket reports Suspended, never unversioned.
    let state = s3.get_bucket_versioning().bucket(&bucket).send().await.expect("get");
    assert_eq!(state.status(), Some(&BucketVersioningStatus::Suspended));
}

#[tokio::test]
async fn list_object_versions_pages_prefixes_and_markers() {
    let (_server, s3, bucket) = setup(Some(BucketVersioningStatus::Enabled)).await;
    let mut expected = Vec::new();
    for key in ["a", "b/1", "b/2", "c d"] {
        let mut ids = Vec::new();
        for i in 0..3u8 {
            ids.push(put(&s3, &bucket, key, &[i]).await.expect("id"));
        }
        let del = s3.delete_object().bucket(&bucket).key(key).send().await.expect("marker");
        let marker = del.version_id().expect("id").to_owned();
        expected.push((key.to_owned(), marker, true, true));
        for id in ids.into_iter().rev() {
            expected.push((key.to_owned(), id, false, false));
        }
        if key == "c d" {
            // Undo the marker on the last key: its newest version is current again.
            let last = expected.len() - 4;
            let (_, marker, ..) = expected.remove(last);
            s3.delete_object().bucket(&bucket).key(key).version_id(marker).send().await.expect("unmark");
            expected[last].2 = true;
        }
    }
    for max in [1, 2, 3, 5, 1000] {
        assert_eq!(versions(&s3, &bucket, max).await, expected, "pages of {max}");
    }
    let grouped = s3.list_object_versions().bucket(&bucket).delimiter("/").send().await.expect("grouped");
    let prefixes: Vec<&str> = grouped.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
    assert_eq!(prefixes, ["b/"]);
    assert_eq!(grouped.versions().len() + grouped.delete_markers().len(), 7);
    let under = s3.list_object_versions().bucket(&bucket).prefix("b/").send().await.expect("prefix");
    assert_eq!(under.versions().len() + under.delete_markers().len(), 8);
    let encoded = s3
        .list_object_versions()
        .bucket(&bucket)
        .prefix("c")
        .encoding_type(aws_sdk_s3::types::EncodingType::Url)
        .send()
        .await
        .expect("url");
    assert!(encoded.versions().iter().all(|v| v.key() == Some("c%20d")), "{:?}", encoded.versions());
    // Plain listings: the current, live objects only.
    let keys: Vec<String> = s3
        .list_objects_v2()
        .bucket(&bucket)
        .send()
        .await
        .expect("list")
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    assert_eq!(keys, ["c d"]);
    // A version-id marker needs a key marker, and must look like an id.
    let err = s3.list_object_versions().bucket(&bucket).version_id_marker("null").send().await.expect_err("alone");
    assert_eq!(code(&err), "InvalidArgument");
    let err = s3
        .list_object_versions()
        .bucket(&bucket)
        .key_marker("a")
        .version_id_marker("not-an-id")
        .send()
        .await
        .expect_err("bad id");
    assert_eq!(code(&err), "InvalidArgument");
}

#[tokio::test]
async fn copies_tags_attributes_and_acls_by_version() {
    let (_server, s3, bucket) = setup(Some(BucketVersioningStatus::Enabled)).await;
    let v1 = put(&s3, &bucket, "src", b"first").await.expect("id");
    put(&s3, &bucket, "src", b"second").await.expect("id");
    let copy = s3
        .copy_object()
        .bucket(&bucket)
        .key("dst")
        .copy_source(format!("{bucket}/src?versionId={v1}"))
        .send()
        .await
        .expect("copy");
    assert_eq!(copy.copy_source_version_id(), Some(v1.as_str()));
    let dst_version = copy.version_id().expect("new version").to_owned();
    assert_eq!(get(&s3, &bucket, "dst", Some(&dst_version)).await, b"first");

    // Tags of one version leave the others alone.
    let tags = Tagging::builder().tag_set(Tag::builder().key("v").value("1").build().expect("tag")).build().expect("t");
    let out = s3.put_object_tagging().bucket(&bucket).key("src").version_id(&v1).tagging(tags).send().await;
    assert_eq!(out.expect("tag v1").version_id(), Some(v1.as_str()));
    let got = s3.get_object_tagging().bucket(&bucket).key("src").version_id(&v1).send().await.expect("tags");
    assert_eq!(got.tag_set().len(), 1);
    let current = s3.get_object_tagging().bucket(&bucket).key("src").send().await.expect("tags");
    assert!(current.tag_set().is_empty());
    s3.delete_object_tagging().bucket(&bucket).key("src").version_id(&v1).send().await.expect("untag");
    let got = s3.get_object_tagging().bucket(&bucket).key("src").version_id(&v1).send().await.expect("tags");
    assert!(got.tag_set().is_empty());
    let unknown = format!("{:032x}", 9u128);
    let err = s3.get_object_tagging().bucket(&bucket).key("src").version_id(&unknown).send().await.expect_err("x");
    assert_eq!(code(&err), "NoSuchVersion");

    let attrs = s3
        .get_object_attributes()
        .bucket(&bucket)
        .key("src")
        .version_id(&v1)
        .object_attributes(aws_sdk_s3::types::ObjectAttributes::ObjectSize)
        .send()
        .await
        .expect("attributes");
    assert_eq!((attrs.object_size(), attrs.version_id()), (Some(5), Some(v1.as_str())));
    s3.get_object_acl().bucket(&bucket).key("src").version_id(&v1).send().await.expect("acl");
    let err = s3.get_object_acl().bucket(&bucket).key("src").version_id(&unknown).send().await.expect_err("acl");
    assert_eq!(code(&err), "NoSuchVersion");
}

#[tokio::test]
async fn delete_objects_with_versions() {
    let (_server, s3, bucket) = setup(Some(BucketVersioningStatus::Enabled)).await;
    let v1 = put(&s3, &bucket, "a", b"1").await.expect("id");
    put(&s3, &bucket, "b", b"2").await.expect("id");
    let delete = Delete::builder()
        .objects(ObjectIdentifier::builder().key("a").version_id(&v1).build().expect("id"))
        .objects(ObjectIdentifier::builder().key("b").build().expect("id"))
        .objects(ObjectIdentifier::builder().key("c").version_id("bogus").build().expect("id"))
        .build()
        .expect("delete");
    let out = s3.delete_objects().bucket(&bucket).delete(delete).send().await.expect("delete objects");
    let a = out.deleted().iter().find(|d| d.key() == Some("a")).expect("a");
    assert_eq!((a.version_id(), a.delete_marker()), (Some(v1.as_str()), None));
    let b = out.deleted().iter().find(|d| d.key() == Some("b")).expect("b");
    assert_eq!(b.delete_marker(), Some(true));
    let marker = b.delete_marker_version_id().expect("marker id").to_owned();
    let c = out.errors().iter().find(|e| e.key() == Some("c")).expect("c refused");
    assert_eq!(c.code(), Some("InvalidArgument"));
    let all = versions(&s3, &bucket, 100).await;
    assert_eq!(all.len(), 2, "a's only version gone; b has its version and the marker: {all:?}");
    // Deleting the marker by id through DeleteObjects reports it as a marker.
    let delete = Delete::builder()
        .objects(ObjectIdentifier::builder().key("b").version_id(&marker).build().expect("id"))
        .build()
        .expect("delete");
    let out = s3.delete_objects().bucket(&bucket).delete(delete).send().await.expect("delete marker");
    let b = &out.deleted()[0];
    assert_eq!((b.delete_marker(), b.delete_marker_version_id()), (Some(true), Some(marker.as_str())));
    assert_eq!(get(&s3, &bucket, "b", None).await, b"2");
}

#[tokio::test]
async fn conditional_and_multipart_writes_on_a_versioned_bucket() {
    let (_server, s3, bucket) = setup(Some(BucketVersioningStatus::Enabled)).await;
    let first = s3.put_object().bucket(&bucket).key("k").if_none_match("*").body(ByteStream::from_static(b"1"));
    let first = first.send().await.expect("create");
    let err = s3.put_object().bucket(&bucket).key("k").if_none_match("*").body(ByteStream::from_static(b"2"));
    let err = err.send().await.expect_err("exists");
    assert_eq!((code(&err).as_str(), status(&err)), ("PreconditionFailed", 412));
    let etag = first.e_tag().expect("etag").to_owned();
    s3.put_object()
        .bucket(&bucket)
        .key("k")
        .if_match(&etag)
        .body(ByteStream::from_static(b"3"))
        .send()
        .await
        .expect("if-match");
    assert_eq!(versions(&s3, &bucket, 100).await.len(), 2, "the refused write added no version");
    // A current delete marker counts as no object.
    s3.delete_object().bucket(&bucket).key("k").send().await.expect("marker");
    let err = s3.put_object().bucket(&bucket).key("k").if_match(&etag).body(ByteStream::from_static(b"4"));
    assert_eq!(code(&err.send().await.expect_err("no object")), "NoSuchKey");
    s3.put_object()
        .bucket(&bucket)
        .key("k")
        .if_none_match("*")
        .body(ByteStream::from_static(b"5"))
        .send()
        .await
        .expect("absent");

    // Multipart: each completion is a new version; the older one stays readable.
    let mut ids = Vec::new();
    for seed in [10, 11] {
        let upload = create_upload(&s3, &bucket, "big").await;
        let part = upload_part(&s3, &bucket, "big", &upload, 1, data(6 << 20, seed)).await;
        let last = upload_part(&s3, &bucket, "big", &upload, 2, data(1000, seed)).await;
        let done = complete_upload(&s3, &bucket, "big", &upload, vec![part, last]).await.expect("complete");
        ids.push(done.version_id().expect("version").to_owned());
    }
    let old = s3.get_object().bucket(&bucket).key("big").version_id(&ids[0]).range("bytes=0-99").send().await;
    let old = old.expect("old version").body.collect().await.expect("body").into_bytes();
    assert_eq!(old.as_ref(), &data(6 << 20, 10)[..100]);
    // UploadPartCopy from an old version.
    let upload = create_upload(&s3, &bucket, "copied").await;
    let copied = s3
        .upload_part_copy()
        .bucket(&bucket)
        .key("copied")
        .upload_id(&upload)
        .part_number(1)
        .copy_source(format!("{bucket}/big?versionId={}", ids[0]))
        .copy_source_range("bytes=0-99")
        .send()
        .await
        .expect("part copy");
    assert_eq!(copied.copy_source_version_id(), Some(ids[0].as_str()));
}

/// Copying an older version onto its own key is AWS's way to restore it: not a "copy to itself"
/// (which stays refused for the current version without a change).
#[tokio::test]
async fn an_older_version_copied_onto_its_key_restores_it() {
    let (_server, s3, bucket) = setup(Some(BucketVersioningStatus::Enabled)).await;
    let first = put(&s3, &bucket, "doc", b"first").await.expect("version id");
    put(&s3, &bucket, "doc", b"second").await.expect("version id");
    let err = s3.copy_object().bucket(&bucket).key("doc").copy_source(format!("{bucket}/doc")).send().await;
    assert_eq!(code(&err.expect_err("a copy to itself")), "InvalidRequest");
    s3.copy_object()
        .bucket(&bucket)
        .key("doc")
        .copy_source(format!("{bucket}/doc?versionId={first}"))
        .send()
        .await
        .expect("a restore");
    assert_eq!(get(&s3, &bucket, "doc", None).await, b"first");
    assert_eq!(versions(&s3, &bucket, 100).await.len(), 3, "the restore is a new version");
}
