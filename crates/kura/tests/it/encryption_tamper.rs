//! On-disk tampering of encrypted bodies (issue 17), through a real server: a byte flipped in a sealed
//! blob file under `DATA/blobs/` (in the first chunk: a 500 `InternalError` before any byte; in a later
//! chunk: the response is cut after the chunks that authenticated) and in a sealed inline body inside
//! the redb record (rewritten with kura-store's own API while the server is stopped). Never a wrong
//! byte, ranges of untouched chunks still read, and the server keeps answering.

use crate::harness::{TestServer, blob_files, bucket_name, code, data, status};
use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::types::ServerSideEncryption;
use kura_store::MetaStore;
use kura_store::redb_meta::RedbMetaStore;
use std::path::{Path, PathBuf};

/// kura-crypt's chunk: 64 KiB of plaintext, stored with a 16-byte tag after it.
const CHUNK: usize = 64 * 1024;
/// A full chunk as stored.
const SEALED_CHUNK: usize = CHUNK + 16;
/// What kura's error message says of a body that fails to open.
const INTEGRITY: &str = "failed its integrity check";

/// What a GET got: an S3 error before any byte, or a body that ended, whole or cut.
#[derive(Debug, PartialEq, Eq)]
enum Got {
    /// The error code, the status and the message.
    Refused(String, u16, String),
    /// The bytes received, and whether the body was cut before its end.
    Body(Vec<u8>, bool),
}

/// The client without retries: each call is exactly one request (a 500 is otherwise retried).
fn one_try(server: &TestServer) -> Client {
    Client::from_conf(server.client().config().to_builder().retry_config(RetryConfig::disabled()).build())
}

/// GETs `key` (with a `Range` header), reading the body piece by piece so that what arrives before a
/// cut is kept.
async fn get(s3: &Client, bucket: &str, key: &str, range: Option<String>) -> Got {
    match s3.get_object().bucket(bucket).key(key).set_range(range).send().await {
        Err(e) => Got::Refused(code(&e), status(&e), e.message().unwrap_or_default().to_owned()),
        Ok(out) => {
            let mut body = out.body;
            let mut bytes = Vec::new();
            loop {
                match body.next().await {
                    None => return Got::Body(bytes, false),
                    Some(Ok(piece)) => bytes.extend_from_slice(&piece),
                    Some(Err(_)) => return Got::Body(bytes, true),
                }
            }
        }
    }
}

/// A whole body, as [`get`] reports it.
fn whole(bytes: &[u8]) -> Got {
    Got::Body(bytes.to_vec(), false)
}

/// Asserts that `got` is kura's answer to a body that fails its integrity check before any byte.
fn assert_integrity_error(got: Got, what: &str) {
    match got {
        Got::Refused(code, status, message) => {
            assert_eq!((code.as_str(), status), ("InternalError", 500), "{what}: {message}");
            assert!(message.contains(INTEGRITY), "{what}: the message must say why: {message}");
        }
        Got::Body(bytes, cut) => panic!("{what}: {} bytes sent (cut: {cut}) instead of an error", bytes.len()),
    }
}

/// `Range: bytes=FIRST-LAST` for the half-open `range`.
fn range(range: std::ops::Range<usize>) -> Option<String> {
    Some(format!("bytes={}-{}", range.start, range.end - 1))
}

/// Flips one bit of the byte at `at` of `file` (twice restores it).
fn flip(file: &Path, at: usize) {
    let mut bytes = std::fs::read(file).expect("read blob");
    bytes[at] ^= 0x20;
    std::fs::write(file, bytes).expect("write blob");
}

/// PUTs `body` as SSE-S3.
async fn put_sealed(s3: &Client, bucket: &str, key: &str, body: &[u8]) {
    let out = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(body.to_vec().into())
        .send()
        .await
        .expect("put");
    assert_eq!(out.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
}

#[tokio::test]
async fn a_flipped_byte_in_an_encrypted_blob_is_an_error_never_wrong_bytes() {
    let server = TestServer::start();
    let s3 = one_try(&server);
    let bucket = bucket_name("tamper-blob");
    s3.create_bucket().bucket(&bucket).send().await.expect("create");
    // 41 sealed chunks: more than two of the file store's reads (16 sealed chunks each), so that a
    // damaged chunk (`DAMAGED`) lies past the first read whatever its exact size.
    const DAMAGED: usize = 36;
    let plain = data(40 * CHUNK + 100, 17);
    let before = blob_files(&server.data);
    put_sealed(&s3, &bucket, "big", &plain).await;
    let new: Vec<PathBuf> = blob_files(&server.data).difference(&before).cloned().collect();
    let [file] = new.as_slice() else { panic!("one new blob file, not {new:?}") };
    let stored = std::fs::read(file).expect("blob");
    assert_eq!(stored.len(), plain.len() + 41 * 16, "41 sealed chunks");
    assert!(!stored.windows(64).any(|w| w == &plain[CHUNK..CHUNK + 64]), "no plaintext on disk");
    let other = data(3 * CHUNK, 18);
    put_sealed(&s3, &bucket, "other", &other).await;

    // A byte in the first chunk: an error before the headers, and nothing else is hurt.
    flip(file, 100);
    assert_integrity_error(get(&s3, &bucket, "big", None).await, "chunk 0 flipped");
    assert_integrity_error(get(&s3, &bucket, "big", range(10..20)).await, "a range in chunk 0");
    let untouched = 5 * CHUNK + 3..7 * CHUNK + 9;
    assert_eq!(get(&s3, &bucket, "big", range(untouched.clone())).await, whole(&plain[untouched]));
    assert_eq!(get(&s3, &bucket, "other", None).await, whole(&other), "another object reads");
    flip(file, 100);
    assert_eq!(get(&s3, &bucket, "big", None).await, whole(&plain), "the byte put back, the body reads");

    // A byte in a chunk past the first read: the response has begun when it is reached, so it is cut
    // there; what came before is plaintext of the chunks that authenticated, never a byte of it.
    flip(file, DAMAGED * SEALED_CHUNK + 5);
    match get(&s3, &bucket, "big", None).await {
        Got::Body(bytes, cut) => {
            assert!(cut, "the body must not end as if whole ({} bytes)", bytes.len());
            assert!(
                bytes.len() <= DAMAGED * CHUNK && plain.starts_with(&bytes),
                "{} bytes, not a clean prefix",
                bytes.len()
            );
        }
        refused => panic!("chunk {DAMAGED} is past the first read: expected a cut body, got {refused:?}"),
    }
    // A range that starts in the damaged chunk is refused before the headers; ranges around it read.
    let inside = DAMAGED * CHUNK + 1..(DAMAGED + 1) * CHUNK + 5;
    assert_integrity_error(get(&s3, &bucket, "big", range(inside)).await, "the damaged chunk");
    for around in [0..2 * CHUNK + 1, (DAMAGED - 1) * CHUNK - 7..DAMAGED * CHUNK, (DAMAGED + 1) * CHUNK..plain.len()] {
        assert_eq!(get(&s3, &bucket, "big", range(around.clone())).await, whole(&plain[around]));
    }
    assert_eq!(get(&s3, &bucket, "other", None).await, whole(&other), "the server still answers");
    let head = s3.head_object().bucket(&bucket).key("big").send().await.expect("HEAD reads no body");
    assert_eq!(head.content_length(), Some(plain.len() as i64));
}

#[tokio::test]
async fn a_flipped_byte_in_an_encrypted_inline_body_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("data");
    let mut server = TestServer::start_on(&data_dir);
    let s3 = one_try(&server);
    let bucket = bucket_name("tamper-inline");
    s3.create_bucket().bucket(&bucket).send().await.expect("create");
    let (small, fine) = (data(5_000, 21), data(5_000, 22));
    let before = blob_files(&data_dir);
    put_sealed(&s3, &bucket, "small", &small).await;
    put_sealed(&s3, &bucket, "fine", &fine).await;
    assert_eq!(blob_files(&data_dir), before, "small bodies are kept inline, in the metadata record");
    assert!(server.terminate(), "the server stops cleanly");

    // Rewrite the record with one byte of its sealed inline body flipped, through kura-store's API.
    {
        let meta = RedbMetaStore::open(&data_dir.join(kura_server::storage::META_FILE)).expect("open meta");
        let mut object = meta.get_object(&bucket, "small").await.expect("get").expect("the object");
        let mut sealed = object.inline.clone().expect("an inline body").to_vec();
        assert_eq!(sealed.len(), small.len() + 16, "one sealed chunk");
        assert!(!sealed.windows(32).any(|w| w == &small[100..132]), "no plaintext in the record");
        sealed[2_500] ^= 0x10;
        object.inline = Some(sealed.into());
        meta.put_object(&bucket, object).await.expect("put back");
    }

    let server = TestServer::start_on(&data_dir);
    let s3 = one_try(&server);
    assert_integrity_error(get(&s3, &bucket, "small", None).await, "inline body flipped");
    assert_integrity_error(get(&s3, &bucket, "small", range(0..10)).await, "a range of the inline body");
    assert_eq!(get(&s3, &bucket, "fine", None).await, whole(&fine), "the server still answers");
    let copy = s3
        .copy_object()
        .bucket(&bucket)
        .key("copy")
        .copy_source(format!("{bucket}/small"))
        .send()
        .await
        .expect_err("a copy of a damaged body fails");
    assert_eq!((code(&copy).as_str(), status(&copy)), ("InternalError", 500));
    let err = s3.head_object().bucket(&bucket).key("copy").send().await.expect_err("nothing copied");
    assert_eq!(status(&err), 404);
}
