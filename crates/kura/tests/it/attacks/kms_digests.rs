//! An SSE-KMS object's checksums tell what its plaintext is (a small one can be guessed from its
//! SHA-256), so AWS gives them only to a caller allowed `kms:Decrypt` on its key: HeadObject with
//! checksum mode, GetObjectAttributes' Checksum, and ListParts of an SSE-KMS upload. The rest of the
//! record stays readable without it.

use crate::harness::{TestServer, code, status};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, ObjectAttributes, ServerSideEncryption};

const CONFIG: &str = r#"
kms:
  keys:
    - id: app
      aliases: [alias/app]
users:
  - access_key: sealer
    secret_key: sealer-secret-0123456789
    policies: [objects-and-encrypt-only]
policies:
  objects-and-encrypt-only:
    Statement:
      - Effect: Allow
        Action: "s3:*"
        Resource: "*"
      - Effect: Allow
        Action: kms:GenerateDataKey
        Resource: "*"
buckets:
  - name: sealed
"#;

#[tokio::test]
async fn checksums_of_kms_objects_need_kms_decrypt() {
    let server = TestServer::start_with_config(CONFIG);
    let root = server.client();
    root.put_object()
        .bucket("sealed")
        .key("pin")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("alias/app")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .body(ByteStream::from_static(b"PIN=4711"))
        .send()
        .await
        .expect("put");
    let sealer = server.client_with("sealer", "sealer-secret-0123456789");

    let err = sealer.get_object().bucket("sealed").key("pin").send().await.expect_err("no kms:Decrypt");
    assert_eq!((code(&err).as_str(), status(&err)), ("AccessDenied", 403));
    let err = sealer
        .head_object()
        .bucket("sealed")
        .key("pin")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .expect_err("the checksum needs kms:Decrypt");
    assert_eq!(status(&err), 403);
    let head = sealer.head_object().bucket("sealed").key("pin").send().await.expect("the record without it");
    assert_eq!(head.checksum_sha256(), None);
    let err = sealer
        .get_object_attributes()
        .bucket("sealed")
        .key("pin")
        .object_attributes(ObjectAttributes::Checksum)
        .send()
        .await
        .expect_err("the Checksum attribute needs kms:Decrypt");
    assert_eq!((code(&err).as_str(), status(&err)), ("AccessDenied", 403));
    sealer
        .get_object_attributes()
        .bucket("sealed")
        .key("pin")
        .object_attributes(ObjectAttributes::ObjectSize)
        .send()
        .await
        .expect("the size does not");

    // An upload it may write (kms:GenerateDataKey), whose parts' checksums it may not list.
    let upload = sealer
        .create_multipart_upload()
        .bucket("sealed")
        .key("multi")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("alias/app")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .send()
        .await
        .expect("create upload");
    let upload_id = upload.upload_id().expect("id");
    sealer
        .upload_part()
        .bucket("sealed")
        .key("multi")
        .upload_id(upload_id)
        .part_number(1)
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .body(ByteStream::from_static(b"PIN=4711"))
        .send()
        .await
        .expect("upload part");
    let err = sealer
        .list_parts()
        .bucket("sealed")
        .key("multi")
        .upload_id(upload_id)
        .send()
        .await
        .expect_err("ListParts needs kms:Decrypt");
    assert_eq!((code(&err).as_str(), status(&err)), ("AccessDenied", 403));
    let parts = root.list_parts().bucket("sealed").key("multi").upload_id(upload_id).send().await.expect("root");
    assert_eq!(parts.parts().len(), 1, "the part is there; only its listing was refused");
}
