//! Copy sources must be authorised exactly as they are read (issue 12, item 1): an explicit Deny on the
//! source cannot be walked around by encoding the `x-amz-copy-source` header differently, by
//! UploadPartCopy, by a `?` in the key, or past a bucket policy.

use super::absent;
use crate::harness::{TestServer, code, create_upload, status};
use aws_sdk_s3::primitives::ByteStream;

const CONFIG: &str = r#"
users:
  - access_key: writer
    secret_key: writer-secret-0123456789
    policies: [readwrite, no-secrets]
policies:
  no-secrets:
    Statement:
      - Effect: Deny
        Action: ["s3:GetObject", "s3:GetObjectVersion"]
        Resource: ["arn:aws:s3:::shared/secret/*", "arn:aws:s3:::shared/*.key"]
buckets:
  - name: shared
  - name: loot
  - name: vault
    policy:
      Statement:
        - Effect: Deny
          Principal: {AWS: "arn:aws:iam::000000000000:user/writer"}
          Action: "s3:GetObject"
          Resource: "arn:aws:s3:::vault/*"
"#;

const WRITER_SECRET: &str = "writer-secret-0123456789";

async fn setup() -> (TestServer, aws_sdk_s3::Client) {
    let server = TestServer::start_with_config(CONFIG);
    let root = server.client();
    for (bucket, key) in [("shared", "secret/topsecret.txt"), ("shared", "a?b.key"), ("vault", "gold.txt")] {
        root.put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from_static(b"classified"))
            .send()
            .await
            .expect("put");
    }
    root.put_object()
        .bucket("shared")
        .key("public.txt")
        .body(ByteStream::from_static(b"ok"))
        .send()
        .await
        .expect("put");
    let writer = server.client_with("writer", WRITER_SECRET);
    (server, writer)
}

#[tokio::test]
async fn encoded_copy_sources_cannot_read_past_a_deny() {
    let (server, writer) = setup().await;
    let sources = [
        "shared/secret/topsecret.txt",
        "/shared/secret/topsecret.txt",
        "%2Fshared/secret/topsecret.txt",
        "%2Fshared%2Fsecret%2Ftopsecret.txt",
        "shared%2Fsecret%2Ftopsecret.txt",
        "shared/secret/topsecret.txt?versionId=null",
        "%2Fshared/secret/topsecret.txt?versionId=null",
        // A literal `?` in a key: the deny on `*.key` covers `a?b.key`, not `a`.
        "shared/a%3Fb.key",
        "shared/a?b.key",
        "vault/gold.txt",
        "%2Fvault/gold.txt",
    ];
    for (i, source) in sources.iter().enumerate() {
        let key = format!("copy-{i}");
        let result = writer.copy_object().bucket("loot").key(&key).copy_source(*source).send().await;
        let err = result.expect_err(source);
        assert_eq!(code(&err), "AccessDenied", "{source}");
        assert_eq!(status(&err), 403, "{source}");
        absent(&server, "loot", &key).await;
    }
    // The allowed object still copies: the fix refuses the secret, not copying.
    writer.copy_object().bucket("loot").key("fine").copy_source("%2Fshared/public.txt").send().await.expect("copy");
}

#[tokio::test]
async fn upload_part_copy_cannot_read_past_a_deny() {
    let (server, writer) = setup().await;
    let upload = create_upload(&writer, "loot", "assembled").await;
    for source in ["%2Fshared/secret/topsecret.txt", "%2Fshared%2Fsecret%2Ftopsecret.txt", "%2Fvault/gold.txt"] {
        let err = writer
            .upload_part_copy()
            .bucket("loot")
            .key("assembled")
            .upload_id(&upload)
            .part_number(1)
            .copy_source(source)
            .send()
            .await
            .expect_err(source);
        assert_eq!(code(&err), "AccessDenied", "{source}");
    }
    let parts = writer.list_parts().bucket("loot").key("assembled").upload_id(&upload).send().await.expect("parts");
    assert!(parts.parts().is_empty(), "no part was copied");
    absent(&server, "loot", "assembled").await;
}
