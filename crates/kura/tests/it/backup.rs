//! Backups: `kura admin backup` (the real binary) against a server that keeps writing and deleting,
//! `kura restore` into a fresh directory, and a second server on it that serves exactly the snapshot.

use crate::harness::{
    ACCESS_KEY, SECRET_KEY, TestServer, bucket_name, complete_upload, create_upload, data, upload_part,
};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{PublicAccessBlockConfiguration, Tag, Tagging};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Runs the `kura` binary off the async threads (the writers keep going meanwhile).
pub(crate) async fn kura(server: &TestServer, access: &str, secret: &str, args: &[&str]) -> (bool, String, String) {
    let (endpoint, access, secret) = (server.endpoint(), access.to_owned(), secret.to_owned());
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || crate::harness::run_cli(&endpoint, &access, &secret, &args))
        .await
        .expect("join")
}

pub(crate) async fn body_of(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    let got = s3.get_object().bucket(bucket).key(key).send().await.unwrap_or_else(|e| panic!("{bucket}/{key}: {e:?}"));
    got.body.collect().await.expect("body").into_bytes().to_vec()
}

pub(crate) async fn keys_of(s3: &aws_sdk_s3::Client, bucket: &str) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let mut token = None;
    loop {
        let page = s3.list_objects_v2().bucket(bucket).set_continuation_token(token).send().await.expect("list");
        keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_owned)));
        match page.next_continuation_token() {
            Some(t) => token = Some(t.to_owned()),
            None => return keys,
        }
    }
}

/// The body of churn object `i`: some small enough to be stored inline, most in blobs.
pub(crate) fn churn_body(i: u64) -> Vec<u8> {
    let len = if i.is_multiple_of(3) { 1_000 + (i % 7) as usize * 100 } else { 20_000 + (i % 11) as usize * 9_000 };
    data(len, 10_000 + i)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_while_writing_restores_one_consistent_moment() {
    let server = TestServer::start();
    let s3 = server.client();
    let (photos, logs, churn) = (bucket_name("photos"), bucket_name("logs"), bucket_name("churn"));
    for b in [&photos, &logs, &churn] {
        s3.create_bucket().bucket(b).send().await.expect("create bucket");
    }

    // Bucket settings: a policy and a public access block.
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Readers","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::000000000000:user/carol"}},"Action":"s3:GetObject","Resource":"arn:aws:s3:::{photos}/*"}}]}}"#
    );
    s3.put_bucket_policy().bucket(&photos).policy(&policy).send().await.expect("policy");
    let block =
        PublicAccessBlockConfiguration::builder().block_public_policy(true).restrict_public_buckets(true).build();
    s3.put_public_access_block().bucket(&logs).public_access_block_configuration(block).send().await.expect("block");

    // Small (inline) objects with tags and metadata; a large single PUT; a multipart object of
    // several MiB; an upload left in progress.
    let small = b"a small object, stored inline".to_vec();
    s3.put_object()
        .bucket(&photos)
        .key("notes/small.txt")
        .content_type("text/plain")
        .metadata("owner", "carol")
        .tagging("kind=note&year=2025")
        .body(ByteStream::from(small.clone()))
        .send()
        .await
        .expect("small put");
    s3.put_object().bucket(&photos).key("empty").body(ByteStream::from_static(b"")).send().await.expect("empty");
    let large = data(3 * 1024 * 1024 + 17, 1);
    s3.put_object().bucket(&photos).key("large.bin").body(ByteStream::from(large.clone())).send().await.expect("put");
    let tags = Tagging::builder()
        .tag_set(Tag::builder().key("tier").value("archive").build().expect("tag"))
        .build()
        .expect("tagging");
    s3.put_object_tagging().bucket(&photos).key("large.bin").tagging(tags).send().await.expect("tags");
    let (p1, p2, p3) = (data(5 * 1024 * 1024, 2), data(5 * 1024 * 1024, 3), data(2 * 1024 * 1024 + 5, 4));
    let id = create_upload(&s3, &logs, "video.mp4").await;
    let mut parts = Vec::new();
    for (n, body) in [(1, &p1), (2, &p2), (3, &p3)] {
        parts.push(upload_part(&s3, &logs, "video.mp4", &id, n, body.clone()).await);
    }
    complete_upload(&s3, &logs, "video.mp4", &id, parts).await.expect("complete");
    let video: Vec<u8> = [p1, p2, p3].concat();
    let pending_part = data(5 * 1024 * 1024, 5);
    let pending = create_upload(&s3, &logs, "pending.bin").await;
    let pending_done = upload_part(&s3, &logs, "pending.bin", &pending, 1, pending_part.clone()).await;

    // An IAM user made through the admin API: a record in the metadata store.
    let (ok, out, err) =
        kura(&server, ACCESS_KEY, SECRET_KEY, &["admin", "user", "create", "carol", "--policy", "readonly"]).await;
    assert!(ok, "{err}");
    let carol_secret = serde_json::from_str::<serde_json::Value>(&out).expect("json")["secret_key"]
        .as_str()
        .expect("secret")
        .to_owned();

    // Churn while the backup runs: object i is written as `z/i` then `a/i`, and deleted as `a/i` then
    // `z/i` (a lagging deleter). In any one moment `a/i` present implies `z/i` present; a backup that
    // read its listing piecemeal (the `a/` keys first, the `z/` keys later) could break that.
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let deleted = Arc::new(AtomicU64::new(0));
    let writer = {
        let (s3, churn, stop, written) = (s3.clone(), churn.clone(), stop.clone(), written.clone());
        tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                for prefix in ["z", "a"] {
                    let key = format!("{prefix}/{i:06}");
                    s3.put_object()
                        .bucket(&churn)
                        .key(&key)
                        .body(ByteStream::from(churn_body(i)))
                        .send()
                        .await
                        .expect("churn put");
                }
                i += 1;
                written.store(i, Ordering::SeqCst);
            }
        })
    };
    let deleter = {
        let (s3, churn, stop, written, deleted) =
            (s3.clone(), churn.clone(), stop.clone(), written.clone(), deleted.clone());
        tokio::spawn(async move {
            let mut j = 0u64;
            while !stop.load(Ordering::SeqCst) {
                // Keep about 20 objects alive: delete j once i is well past it.
                if written.load(Ordering::SeqCst) < j + 20 {
                    tokio::task::yield_now().await;
                    continue;
                }
                for prefix in ["a", "z"] {
                    let key = format!("{prefix}/{j:06}");
                    s3.delete_object().bucket(&churn).key(&key).send().await.expect("churn delete");
                }
                j += 1;
                deleted.store(j, Ordering::SeqCst);
            }
        })
    };
    // Wait until the churn is under way (deletes included), then back up.
    while deleted.load(Ordering::SeqCst) < 5 {
        tokio::task::yield_now().await;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let archive = work.path().join("kura-backup.tar");
    let before = (written.load(Ordering::SeqCst), deleted.load(Ordering::SeqCst));
    let (ok, _, err) =
        kura(&server, ACCESS_KEY, SECRET_KEY, &["admin", "backup", "--output", archive.to_str().expect("path")]).await;
    let after = (written.load(Ordering::SeqCst), deleted.load(Ordering::SeqCst));
    assert!(ok, "backup failed: {err}");
    assert!(err.contains("written to"), "{err}");
    // One more write after the backup, so the original surely differs from the snapshot.
    while written.load(Ordering::SeqCst) <= after.0 {
        tokio::task::yield_now().await;
    }
    stop.store(true, Ordering::SeqCst);
    writer.await.expect("writer");
    deleter.await.expect("deleter");
    assert!(after.0 > before.0 && after.1 > before.1, "the churn went on while the backup ran: {before:?} → {after:?}");
    assert!(!work.path().join("kura-backup.tar.part").exists(), "no partial file left");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&archive).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "a backup holds secrets: owner-only");
    }

    // Restore into a fresh directory and serve it.
    let restored_dir = work.path().join("restored");
    let (ok, out, err) = kura(
        &server,
        ACCESS_KEY,
        SECRET_KEY,
        &["restore", "--from", archive.to_str().expect("path"), "--data", restored_dir.to_str().expect("path")],
    )
    .await;
    assert!(ok, "restore failed: {err}");
    assert!(out.contains("kura: restored"), "{out}");
    assert!(!restored_dir.join("root-credentials").exists() && !restored_dir.join("session-keys").exists());
    let restored = TestServer::start_on(&restored_dir);
    let r3 = restored.client();

    // Everything written before the backup, with its bytes, tags, metadata and settings.
    assert_eq!(body_of(&r3, &photos, "notes/small.txt").await, small);
    let head = r3.head_object().bucket(&photos).key("notes/small.txt").send().await.expect("head");
    assert_eq!(head.content_type(), Some("text/plain"));
    assert_eq!(head.metadata().and_then(|m| m.get("owner")).map(String::as_str), Some("carol"));
    let tags = r3.get_object_tagging().bucket(&photos).key("notes/small.txt").send().await.expect("tags");
    let tags: Vec<(&str, &str)> = tags.tag_set().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(tags, [("kind", "note"), ("year", "2025")]);
    assert!(body_of(&r3, &photos, "empty").await.is_empty());
    assert!(body_of(&r3, &photos, "large.bin").await == large, "large.bin intact");
    let tags = r3.get_object_tagging().bucket(&photos).key("large.bin").send().await.expect("tags");
    assert_eq!(tags.tag_set().first().map(|t| (t.key(), t.value())), Some(("tier", "archive")));
    assert!(body_of(&r3, &logs, "video.mp4").await == video, "the multipart object intact");
    let parts = r3
        .get_object_attributes()
        .bucket(&logs)
        .key("video.mp4")
        .object_attributes(aws_sdk_s3::types::ObjectAttributes::ObjectParts)
        .send()
        .await
        .expect("attributes");
    assert_eq!(parts.object_parts().and_then(|p| p.total_parts_count()), Some(3));
    let got = r3.get_bucket_policy().bucket(&photos).send().await.expect("policy");
    assert_eq!(got.policy(), Some(policy.as_str()));
    let block = r3.get_public_access_block().bucket(&logs).send().await.expect("block");
    let config = block.public_access_block_configuration().expect("config");
    assert_eq!((config.block_public_policy(), config.restrict_public_buckets()), (Some(true), Some(true)));
    // The IAM user, and the upload left in progress, which completes on the restored server.
    let carol = restored.client_with("carol", &carol_secret);
    assert!(body_of(&carol, &photos, "large.bin").await == large, "carol reads on the restored server");
    let uploads = r3.list_multipart_uploads().bucket(&logs).send().await.expect("uploads");
    assert_eq!(uploads.uploads().iter().filter_map(|u| u.upload_id()).collect::<Vec<_>>(), [pending.as_str()]);
    complete_upload(&r3, &logs, "pending.bin", &pending, vec![pending_done]).await.expect("complete restored upload");
    assert!(body_of(&r3, &logs, "pending.bin").await == pending_part);

    // The churn: one moment. Every restored object has its exact bytes, and `a/i` implies `z/i`.
    let keys = keys_of(&r3, &churn).await;
    assert!(!keys.is_empty(), "the snapshot caught churn objects");
    for key in &keys {
        let i: u64 = key[2..].parse().expect("churn key");
        assert!(body_of(&r3, &churn, key).await == churn_body(i), "{key} intact");
        if key.starts_with("a/") {
            assert!(keys.contains(&format!("z/{i:06}")), "{key} without z/{i:06}: not one moment ({keys:?})");
        }
    }
    let numbers: BTreeSet<u64> = keys.iter().map(|k| k[2..].parse().expect("number")).collect();
    let (lo, hi) = (*numbers.first().expect("some"), *numbers.last().expect("some"));
    assert_eq!(numbers.len() as u64, hi - lo + 1, "one contiguous window of the churn: {numbers:?}");
    // Nothing written after the backup is there; the original server has moved on.
    let now = keys_of(&s3, &churn).await;
    assert_ne!(now, keys, "the original kept changing after the snapshot");
}

/// A tar header (ustar, valid checksum) for a regular file.
fn tar_header(name: &str, size: usize) -> Vec<u8> {
    let mut h = vec![0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    h[136..148].copy_from_slice(b"00000000000\0");
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    h
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = std::fs::read_dir(dir).expect("read dir").map(|e| e.expect("entry").path()).collect();
    all.sort();
    all
}

#[tokio::test]
async fn backups_are_root_only_secrets_only_when_asked_and_restore_refuses_what_it_should() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("data");
    std::fs::create_dir_all(&data_dir).expect("mkdir");
    // A stored root pair in the data directory (the environment's pair wins for serving).
    std::fs::write(data_dir.join("root-credentials"), "KURASTOREDROOT\nstored-secret-0123\n").expect("write");
    let server = TestServer::start_on(&data_dir);
    let s3 = server.client();
    let bucket = bucket_name("secrets");
    s3.create_bucket().bucket(&bucket).send().await.expect("bucket");
    s3.put_object().bucket(&bucket).key("k").body(ByteStream::from_static(b"v")).send().await.expect("put");

    // An admin user (kura:*) is still not root.
    let (ok, out, err) =
        kura(&server, ACCESS_KEY, SECRET_KEY, &["admin", "user", "create", "dave", "--policy", "admin"]).await;
    assert!(ok, "{err}");
    let dave =
        serde_json::from_str::<serde_json::Value>(&out).expect("json")["secret_key"].as_str().expect("s").to_owned();
    let denied = dir.path().join("denied.tar");
    let (ok, _, err) =
        kura(&server, "dave", &dave, &["admin", "backup", "--output", denied.to_str().expect("p")]).await;
    assert!(!ok && err.contains("AccessDenied") && err.contains("only root"), "{err}");
    assert!(!denied.exists() && !dir.path().join("denied.tar.part").exists());
    // Anonymous: refused too.
    let resp = reqwest::get(format!("{}/kura/admin/v1/backup", server.endpoint())).await.expect("get");
    assert_eq!(resp.status(), 403);

    // With --include-secrets, the data directory's secret files travel and are restored 0600.
    let archive = dir.path().join("with-secrets.tar");
    let (ok, _, err) = kura(
        &server,
        ACCESS_KEY,
        SECRET_KEY,
        &["admin", "backup", "--include-secrets", "--output", archive.to_str().expect("p")],
    )
    .await;
    assert!(ok, "{err}");
    let target = dir.path().join("restored");
    let (ok, out, err) = kura(
        &server,
        ACCESS_KEY,
        SECRET_KEY,
        &["restore", "--from", archive.to_str().expect("p"), "--data", target.to_str().expect("p")],
    )
    .await;
    assert!(ok, "{err}");
    assert!(out.contains("root-credentials") && out.contains("session-keys"), "{out}");
    assert_eq!(
        std::fs::read_to_string(target.join("root-credentials")).expect("read"),
        "KURASTOREDROOT\nstored-secret-0123\n"
    );
    assert_eq!(
        std::fs::read(target.join("session-keys")).expect("read"),
        std::fs::read(data_dir.join("session-keys")).expect("read")
    );

    // Restoring again into the now non-empty directory: a clear refusal, nothing touched.
    let before = files_in(&target);
    let (ok, _, err) = kura(
        &server,
        ACCESS_KEY,
        SECRET_KEY,
        &["restore", "--from", archive.to_str().expect("p"), "--data", target.to_str().expect("p")],
    )
    .await;
    assert!(!ok && err.contains("is not empty"), "{err}");
    assert_eq!(files_in(&target), before);

    // A hostile archive: an entry that climbs out of the directory. Refused, nothing written anywhere.
    let mut hostile = tar_header("../escaped", 6);
    hostile.extend_from_slice(b"gotcha");
    hostile.resize(1024, 0);
    hostile.extend_from_slice(&[0u8; 1024]);
    let hostile_path = dir.path().join("hostile.tar");
    std::fs::write(&hostile_path, &hostile).expect("write");
    let fresh = dir.path().join("fresh");
    let listing = files_in(dir.path());
    let (ok, _, err) = kura(
        &server,
        ACCESS_KEY,
        SECRET_KEY,
        &["restore", "--from", hostile_path.to_str().expect("p"), "--data", fresh.to_str().expect("p")],
    )
    .await;
    assert!(!ok && err.contains("outside the data directory"), "{err}");
    assert_eq!(files_in(dir.path()), listing, "nothing created beside the target");
    assert!(!fresh.exists() && !dir.path().join("escaped").exists());

    // A truncated backup: refused, and the directory the restore created is gone again.
    let bytes = std::fs::read(&archive).expect("read");
    let cut = dir.path().join("cut.tar");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    let (ok, _, err) = kura(
        &server,
        ACCESS_KEY,
        SECRET_KEY,
        &["restore", "--from", cut.to_str().expect("p"), "--data", fresh.to_str().expect("p")],
    )
    .await;
    assert!(!ok && err.contains("truncated"), "{err}");
    assert!(!fresh.exists());
}
