//! A real full disk (issue 12, item 10): kura's data directory on a 24 MiB tmpfs, filled through the
//! API until both the blob files and the metadata database hit `ENOSPC`. Writes answer
//! `XKuraStorageFull` (507), readiness turns 503, deletes still commit (the 8 MiB reserve gives them room),
//! and once the deletes have freed space every write goes through again, with no restart.
//!
//! Needs root (it mounts a tmpfs); the suite runs as root on CI and here. It fails, never skips, without.

use crate::harness::{TestServer, bucket_name, code, status, wait_until};
use aws_sdk_s3::primitives::ByteStream;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The size of the filesystem: room for the database, its 8 MiB reserve and a few MiB of objects.
const FILESYSTEM: &str = "size=24m";

/// A tmpfs mounted for one test, unmounted (lazily, so a still-running server cannot block it) when
/// dropped.
struct Tmpfs {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("fs");
        std::fs::create_dir(&path).expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", FILESYSTEM, "kura-full-disk-test"])
            .arg(&path)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "this test mounts a tmpfs and needs root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self { path, _dir: dir }
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

async fn readiness(server: &TestServer) -> u16 {
    let url = format!("{}/kura/health/ready", server.endpoint());
    reqwest::get(&url).await.expect("readiness probe").status().as_u16()
}

#[tokio::test]
async fn a_full_disk_refuses_writes_accepts_deletes_and_recovers_without_a_restart() {
    let fs = Tmpfs::mount();
    let server = TestServer::start_on(&fs.path().join("data"));
    let s3 = server.client();
    let bucket = bucket_name("full");
    s3.create_bucket().bucket(&bucket).send().await.expect("create bucket");
    assert_eq!(readiness(&server).await, 200);

    // Large objects (blob files) until the data disk is full.
    let big = vec![7u8; 1 << 20];
    let mut big_keys = Vec::new();
    let refused = loop {
        let key = format!("big/{}", big_keys.len());
        match s3.put_object().bucket(&bucket).key(&key).body(ByteStream::from(big.clone())).send().await {
            Ok(_) => big_keys.push(key),
            Err(e) => break e,
        }
        assert!(big_keys.len() < 64, "24 MiB took 64 MiB of objects");
    };
    assert_eq!((status(&refused), code(&refused).as_str()), (507, "XKuraStorageFull"));
    assert!(!big_keys.is_empty(), "some large objects fit before the disk filled");

    // Small objects (bodies inline in the database) until the metadata disk is full too.
    let small = vec![3u8; 8 * 1024];
    let mut small_keys = 0;
    let refused = loop {
        let key = format!("small/{small_keys}");
        match s3.put_object().bucket(&bucket).key(&key).body(ByteStream::from(small.clone())).send().await {
            Ok(_) => small_keys += 1,
            Err(e) => break e,
        }
        assert!(small_keys < 4096, "the metadata disk never filled");
    };
    assert_eq!((status(&refused), code(&refused).as_str()), (507, "XKuraStorageFull"));
    wait_until(|| async { readiness(&server).await == 503 }).await;

    // Every object written before the disk filled is still whole.
    let got = s3.get_object().bucket(&bucket).key(&big_keys[0]).send().await.expect("read while full");
    assert_eq!(got.body.collect().await.expect("body").into_bytes().len(), big.len());

    // Deletes commit on the full disk, and free the blob files.
    for key in &big_keys {
        s3.delete_object().bucket(&bucket).key(key).send().await.expect("a delete on a full disk");
    }
    let err = s3.head_object().bucket(&bucket).key(&big_keys[0]).send().await.expect_err("deleted");
    assert_eq!(status(&err), 404);

    // The freed space lets kura write its reserve again: ready, and writes go through. No restart.
    wait_until(|| async { readiness(&server).await == 200 }).await;
    s3.put_object()
        .bucket(&bucket)
        .key("after")
        .body(ByteStream::from(big.clone()))
        .send()
        .await
        .expect("a write once space was freed");
    let got = s3.get_object().bucket(&bucket).key("after").send().await.expect("read back");
    assert_eq!(got.body.collect().await.expect("body").into_bytes().len(), big.len());
    drop(server);
}
