//! Naming a version changes the action (`?versionId=` makes GetObject `s3:GetObjectVersion`,
//! DeleteObject `s3:DeleteObjectVersion`…, as on AWS): a Deny on the version actions, the usual way to
//! protect a bucket's history, must hold however the query spells `versionId`.

use crate::harness::{TestServer, code, status};
use aws_sdk_s3::primitives::ByteStream;

const CONFIG: &str = r#"
users:
  - access_key: editor
    secret_key: editor-secret-0123456789
    policies: [readwrite, keep-history]
policies:
  keep-history:
    Statement:
      - Effect: Deny
        Action: ["s3:GetObjectVersion", "s3:DeleteObjectVersion", "s3:GetObjectVersionTagging"]
        Resource: "arn:aws:s3:::history/*"
      - Effect: Deny
        Action: "s3:GetObjectVersion"
        Resource: "arn:aws:s3:::tagged/*"
        Condition: {StringEquals: {"s3:ExistingObjectTag/class": "secret"}}
buckets:
  - name: history
  - name: tagged
"#;

/// Replaces a request's query with `query` (before it is signed), spelled exactly as given.
fn with_query(query: String) -> impl Fn(&mut aws_sdk_s3::config::http::HttpRequest) + Send + Sync + 'static {
    move |r| {
        let uri = format!("{}?{query}", r.uri().split('?').next().unwrap_or_default());
        r.set_uri(uri).expect("uri");
    }
}

#[tokio::test]
async fn a_deny_on_version_actions_holds_for_every_spelling_of_version_id() {
    let server = TestServer::start_with_config(CONFIG);
    let root = server.client();
    let versioning = aws_sdk_s3::types::VersioningConfiguration::builder()
        .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
        .build();
    root.put_bucket_versioning().bucket("history").versioning_configuration(versioning).send().await.expect("on");
    let put = |body: &'static [u8]| {
        root.put_object().bucket("history").key("ledger").body(ByteStream::from_static(body)).send()
    };
    let old = put(b"old").await.expect("put").version_id.expect("version");
    put(b"new").await.expect("put");
    let editor = server.client_with("editor", "editor-secret-0123456789");

    // The current version is readable; any named version is not.
    let current = editor.get_object().bucket("history").key("ledger").send().await.expect("current");
    assert_eq!(current.body.collect().await.expect("body").into_bytes().as_ref(), b"new");
    let err = editor.get_object().bucket("history").key("ledger").version_id(&old).send().await.expect_err("denied");
    assert_eq!((status(&err), code(&err).as_str()), (403, "AccessDenied"));
    let err = editor.head_object().bucket("history").key("ledger").version_id(&old).send().await.expect_err("denied");
    assert_eq!(status(&err), 403);
    let err = editor.get_object_tagging().bucket("history").key("ledger").version_id(&old).send().await;
    assert_eq!(code(&err.expect_err("denied")), "AccessDenied");

    // The same names spelled another way: s3s decodes query names, so the action must follow.
    for query in [format!("version%49d={old}"), format!("versionI%64={old}"), "versionId=".to_owned()] {
        let sent = query.clone();
        let err = editor
            .get_object()
            .bucket("history")
            .key("ledger")
            .customize()
            .mutate_request(with_query(sent))
            .send()
            .await
            .expect_err("denied");
        assert_eq!(code(&err), "AccessDenied", "{query}");
    }

    // Deleting a version (permanently) is refused, and the version is still there.
    let err = editor.delete_object().bucket("history").key("ledger").version_id(&old).send().await;
    assert_eq!(code(&err.expect_err("denied")), "AccessDenied");
    let sent = format!("version%49d={old}");
    let err = editor
        .delete_object()
        .bucket("history")
        .key("ledger")
        .customize()
        .mutate_request(with_query(sent))
        .send()
        .await;
    assert_eq!(code(&err.expect_err("denied")), "AccessDenied");
    let still = root.get_object().bucket("history").key("ledger").version_id(&old).send().await.expect("kept");
    assert_eq!(still.body.collect().await.expect("body").into_bytes().as_ref(), b"old");
    let versions = root.list_object_versions().bucket("history").send().await.expect("list");
    assert_eq!(versions.versions().len(), 2, "no version removed and no delete marker added");
    assert!(versions.delete_markers().is_empty());
}

#[tokio::test]
async fn existing_object_tags_are_those_of_the_version_named() {
    let server = TestServer::start_with_config(CONFIG);
    let root = server.client();
    let versioning = aws_sdk_s3::types::VersioningConfiguration::builder()
        .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
        .build();
    root.put_bucket_versioning().bucket("tagged").versioning_configuration(versioning).send().await.expect("on");
    let secret = root
        .put_object()
        .bucket("tagged")
        .key("memo")
        .tagging("class=secret")
        .body(ByteStream::from_static(b"secret"))
        .send()
        .await
        .expect("put")
        .version_id
        .expect("version");
    let public = root.put_object().bucket("tagged").key("memo").body(ByteStream::from_static(b"public")).send().await;
    let public = public.expect("put").version_id.expect("version");
    let editor = server.client_with("editor", "editor-secret-0123456789");

    // The current version has no tags; the named old one is secret, and its own tags decide.
    let err = editor.get_object().bucket("tagged").key("memo").version_id(&secret).send().await;
    assert_eq!(code(&err.expect_err("the secret version is denied")), "AccessDenied");
    let got = editor.get_object().bucket("tagged").key("memo").version_id(&public).send().await.expect("allowed");
    assert_eq!(got.body.collect().await.expect("body").into_bytes().as_ref(), b"public");
}
