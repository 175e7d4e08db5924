//! kura's master keys (`server.encryption.master_keys_file`, README "KMS keys") through the real
//! binary: rotation as README documents it. The first line wraps, every line unwraps: objects written
//! under key A stay readable once the file is `B` then `A`, new objects are wrapped by B, KMS key
//! material is wrapped again under B at that start, and a file without A makes what A still wraps
//! unreadable with a clear 500, while the server keeps serving the rest.

use crate::harness::{TestServer, bucket_name, code, data, status};
use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::types::ServerSideEncryption;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use std::path::Path;

/// A master key file line, `KID BASE64KEY`, with 32 key bytes made from `seed`.
fn key_line(id: &str, seed: u64) -> String {
    format!("{id} {}\n", B64.encode(data(32, seed)))
}

/// What kura says of an object whose data key no master key of the file unwraps.
const CANNOT_UNWRAP: &str = "cannot be unwrapped";

/// (Re)starts kura on `data` with `config` after writing `keys` as the master key file, and a client
/// that tries each request once (a 500 is otherwise retried).
fn start_with_keys(data: &Path, config: &Path, master: &Path, keys: &str) -> (TestServer, Client) {
    std::fs::write(master, keys).expect("write master keys");
    let server = TestServer::restart(data, config);
    let s3 = Client::from_conf(server.client().config().to_builder().retry_config(RetryConfig::disabled()).build());
    (server, s3)
}

/// PUTs `body` as `key`, encrypted with `algorithm` (SSE-KMS with the key `app`).
async fn put(s3: &Client, bucket: &str, key: &str, algorithm: Option<ServerSideEncryption>, body: &[u8]) {
    let kms_key = (algorithm == Some(ServerSideEncryption::AwsKms)).then(|| "app".to_owned());
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .set_server_side_encryption(algorithm)
        .set_ssekms_key_id(kms_key)
        .body(body.to_vec().into())
        .send()
        .await
        .unwrap_or_else(|e| panic!("PUT {key}: {e:?}"));
}

/// The body of `key`, or the error code, status and message.
async fn read(s3: &Client, bucket: &str, key: &str) -> Result<Vec<u8>, (String, u16, String)> {
    match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => Ok(out.body.collect().await.expect("body").into_bytes().to_vec()),
        Err(e) => Err((code(&e), status(&e), e.message().unwrap_or_default().to_owned())),
    }
}

/// Asserts that `got` is the answer to a key no master key unwraps: a 500 that says so.
fn assert_unwrappable(got: Result<Vec<u8>, (String, u16, String)>, what: &str) {
    let (code, status, message) = got.err().unwrap_or_else(|| panic!("{what}: read without its master key"));
    assert_eq!((code.as_str(), status), ("InternalError", 500), "{what}: {message}");
    assert!(message.contains(CANNOT_UNWRAP), "{what}: {message}");
}

#[tokio::test]
async fn master_keys_rotate_the_first_line_wraps_and_every_line_unwraps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data_dir, config, master) =
        (dir.path().join("data"), dir.path().join("kura.yaml"), dir.path().join("master-keys"));
    std::fs::write(
        &config,
        format!("server:\n  encryption:\n    master_keys_file: {}\nkms:\n  keys:\n    - id: app\n", master.display()),
    )
    .expect("write config");
    let (a, b) = (key_line("AAAA", 1), key_line("BBBB", 2));
    let bucket = bucket_name("rotation");
    let bodies: Vec<Vec<u8>> = (0..4).map(|i| data(100_000, 50 + i)).collect();

    // Under A alone: an SSE-S3 object (its data key wrapped by A), an SSE-KMS one (the key `app` is
    // made now, its material wrapped by A), and a plain one.
    let (mut server, s3) = start_with_keys(&data_dir, &config, &master, &a);
    s3.create_bucket().bucket(&bucket).send().await.expect("create");
    put(&s3, &bucket, "s3-under-a", Some(ServerSideEncryption::Aes256), &bodies[0]).await;
    put(&s3, &bucket, "kms-under-a", Some(ServerSideEncryption::AwsKms), &bodies[1]).await;
    put(&s3, &bucket, "plain", None, &bodies[2]).await;
    assert!(server.terminate());

    // A forgotten (the file is B alone): what A wrapped, the SSE-S3 object's data key and the KMS
    // key's material, is a clear 500, never a panic; a new SSE-KMS write with that key stores nothing;
    // the server keeps serving; the file is not rewritten.
    let (mut server, s3) = start_with_keys(&data_dir, &config, &master, &b);
    assert_unwrappable(read(&s3, &bucket, "s3-under-a").await, "an SSE-S3 object of A");
    assert_unwrappable(read(&s3, &bucket, "kms-under-a").await, "an SSE-KMS object under a key A wrapped");
    let err = put_kms_new(&s3, &bucket).await.expect_err("the KMS key's material is A's");
    assert_eq!((code(&err).as_str(), status(&err)), ("InternalError", 500));
    let err = s3.head_object().bucket(&bucket).key("kms-new").send().await.expect_err("nothing stored");
    assert_eq!(status(&err), 404);
    assert_eq!(read(&s3, &bucket, "plain").await, Ok(bodies[2].clone()), "the server still answers");
    assert_eq!(std::fs::read_to_string(&master).expect("read"), b, "kura never rewrites a given key file");
    assert!(server.terminate());

    // The rotation: B added at the top. Everything A wrapped opens; new objects are wrapped by B; and
    // at this start the KMS key's material is wrapped again under B.
    let (mut server, s3) = start_with_keys(&data_dir, &config, &master, &format!("{b}{a}"));
    assert_eq!(read(&s3, &bucket, "s3-under-a").await, Ok(bodies[0].clone()));
    assert_eq!(read(&s3, &bucket, "kms-under-a").await, Ok(bodies[1].clone()));
    put(&s3, &bucket, "s3-under-b", Some(ServerSideEncryption::Aes256), &bodies[3]).await;
    assert!(server.terminate());

    // A removed after the rotation: what B wrapped opens, SSE-KMS objects too (their KMS key no longer
    // needs A); only SSE-S3 objects whose data key A wrapped need A.
    let (server, s3) = start_with_keys(&data_dir, &config, &master, &b);
    assert_eq!(read(&s3, &bucket, "s3-under-b").await, Ok(bodies[3].clone()), "wrapped by B");
    assert_eq!(read(&s3, &bucket, "kms-under-a").await, Ok(bodies[1].clone()), "the KMS key was wrapped again");
    put_kms_new(&s3, &bucket).await.expect("the KMS key works without A");
    assert_unwrappable(read(&s3, &bucket, "s3-under-a").await, "an SSE-S3 object of A");

    // A back (anywhere in the file): everything opens again; nothing was lost.
    drop(server);
    let (_server, s3) = start_with_keys(&data_dir, &config, &master, &format!("{b}{a}"));
    assert_eq!(read(&s3, &bucket, "s3-under-a").await, Ok(bodies[0].clone()));
    assert_eq!(read(&s3, &bucket, "kms-under-a").await, Ok(bodies[1].clone()));
}

/// PUTs a small `kms-new` under the KMS key `app`.
async fn put_kms_new(
    s3: &Client,
    bucket: &str,
) -> Result<
    aws_sdk_s3::operation::put_object::PutObjectOutput,
    aws_sdk_s3::error::SdkError<aws_sdk_s3::operation::put_object::PutObjectError>,
> {
    s3.put_object()
        .bucket(bucket)
        .key("kms-new")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("app")
        .body(b"x".to_vec().into())
        .send()
        .await
}
