//! Backups end to end (stores → archive → restored stores), their consistency under concurrent writes,
//! the release of pins when a reader goes away, and restores of hostile archives.

use super::tar::{self, BLOCK, TarReader};
use super::*;
use crate::conformance::{bucket, dump, inline_object, marker, part, upload, version_id, write_blob};
use crate::file_blobs::FileBlobStore;
use crate::memory::MemoryMetaStore;
use crate::redb_meta::RedbMetaStore;
use crate::{BlobId, BlobStore, BucketSettings, MetaStore, ObjectMeta, PublicAccessBlock, Segment, Tags};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const SECRETS: &[&str] = &["root-credentials", "session-keys"];
const OPTIONS: RestoreOptions<'static> = RestoreOptions { meta_file: "meta.redb", secret_files: SECRETS };

/// Deterministic bytes.
fn bytes_of(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

/// An object made of blobs of the given contents.
fn blob_object(key: &str, parts: &[(BlobId, usize)]) -> ObjectMeta {
    let segments: Vec<Segment> = parts.iter().map(|&(blob, size)| Segment { blob, size: size as u64 }).collect();
    ObjectMeta {
        key: key.into(),
        size: segments.iter().map(|s| s.size).sum(),
        etag: format!("etag-{key}"),
        last_modified_ms: 1_700_000_000_000,
        segments,
        part_sizes: Vec::new(),
        part_checksums: Vec::new(),
        headers: Default::default(),
        checksums: Default::default(),
        tags: Tags::from([("team".to_owned(), "blue".to_owned())]),
        version_id: "null".into(),
        upload_id: None,
        delete_marker: false,
        order: String::new(),
        inline: None,
        lock: Default::default(),
        encryption: None,
    }
}

/// Stores with a bit of everything: two buckets (one with settings), blob objects of one and two
/// segments, inline and empty objects, an upload with a part, records. Returns the blobs' contents.
async fn populate(meta: &dyn MetaStore, blobs: &dyn BlobStore) -> Vec<(BlobId, Vec<u8>)> {
    meta.create_bucket(bucket("photos")).await.expect("bucket");
    meta.create_bucket(bucket("logs")).await.expect("bucket");
    let settings = BucketSettings {
        policy: Some(r#"{"Version":"2012-10-17","Statement":[]}"#.into()),
        public_access_block: Some(PublicAccessBlock::ALL),
        tags: Tags::from([("project".to_owned(), "kura".to_owned())]),
        ownership_controls_removed: true,
        accelerate_suspended: true,
        versioning: Some(crate::Versioning::Enabled),
        ..Default::default()
    };
    meta.set_bucket_settings("photos", &BucketSettings::default(), settings).await.expect("settings");
    let mut contents = Vec::new();
    for (i, len) in [300_000usize, 70_000, 1, 5_000, 20_000].into_iter().enumerate() {
        let data = bytes_of(len, i as u8);
        let id = write_blob(blobs, &[&data]).await;
        contents.push((id, data));
    }
    let (a, b, c, d) = (&contents[0], &contents[1], &contents[2], &contents[3]);
    meta.put_object("photos", blob_object("big.jpg", &[(a.0, a.1.len()), (b.0, b.1.len())])).await.expect("put");
    meta.put_object("photos", blob_object("one", &[(c.0, 1)])).await.expect("put");
    meta.put_object("photos", inline_object("small.txt", b"hello, kura")).await.expect("put");
    meta.put_object("logs", inline_object("empty", b"")).await.expect("put");
    // Versions: "one" has a newer version (its null one kept, noncurrent), an inline version under a
    // delete marker, and a key that is only a marker.
    let e = &contents[4];
    let newer = ObjectMeta { version_id: version_id(1), ..blob_object("one", &[(e.0, e.1.len())]) };
    meta.put_object("photos", newer).await.expect("put version");
    let inline_version = ObjectMeta { version_id: version_id(2), ..inline_object("hidden.txt", b"kept body") };
    meta.put_object("photos", inline_version).await.expect("put inline version");
    meta.put_object("photos", marker("hidden.txt", 3, false)).await.expect("marker");
    meta.put_object("photos", marker("only-marker", 4, false)).await.expect("marker");
    meta.create_upload("logs", upload("pending", "up-1")).await.expect("upload");
    meta.put_part("logs", "up-1", crate::PartInfo { size: 5_000, ..part(1, d.0) }).await.expect("part");
    meta.put_record("user", "carol", br#"{"secret":"s"}"#.to_vec()).await.expect("record");
    meta.put_record("ticket", "KURT1", vec![0, 159, 255]).await.expect("record");
    contents
}

/// The whole archive of a stream.
async fn collect(mut stream: BackupStream) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.expect("archive chunk"));
    }
    out
}

/// A backup of `meta` and `blobs`, as bytes.
async fn archive_of(meta: &dyn MetaStore, blobs: Arc<dyn BlobStore>, secrets: Vec<(String, Vec<u8>)>) -> Vec<u8> {
    let options = BackupOptions { kura_version: "0.1.0-test".into(), secrets };
    let backup = start(meta, blobs, options).await.expect("start");
    collect(backup.into_stream()).await
}

/// Restores `archive` into `dir` (which need not exist).
async fn restore(archive: &[u8], dir: &Path) -> BackupResult<RestoreReport> {
    restore_dir(archive, dir, &OPTIONS).await
}

/// Every file under `dir`, relative.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let entry = entry.expect("entry");
            if entry.file_type().expect("type").is_dir() {
                stack.push(entry.path());
            } else {
                out.push(entry.path().strip_prefix(dir).expect("under").display().to_string());
            }
        }
    }
    out.sort();
    out
}

async fn read_all(blobs: &dyn BlobStore, id: BlobId, len: u64) -> Vec<u8> {
    crate::conformance::read_blob(blobs, id, 0, len).await
}

/// Checks that the restored directory holds exactly `expected` (a dump with bodies) and the blobs.
async fn check_restored(dir: &Path, expected: &[crate::DumpEntry], contents: &[(BlobId, Vec<u8>)]) {
    let meta = RedbMetaStore::open(&dir.join("meta.redb")).expect("open restored metadata");
    let snapshot = meta.snapshot().await.expect("snapshot");
    assert_eq!(dump(&snapshot, true).await, expected);
    let blobs = FileBlobStore::open(dir).expect("open restored blobs");
    for (id, data) in contents {
        assert_eq!(read_all(&blobs, *id, data.len() as u64).await, *data, "blob {id}");
    }
    let referenced = meta.referenced_blobs().await.expect("referenced");
    assert_eq!(referenced.len(), contents.len());
    assert!(std::fs::read_dir(dir.join("tmp")).expect("tmp").next().is_none(), "no temporary left");
    for leftover in ["meta.redb.restoring", "meta.redb.reserve"] {
        assert!(!dir.join(leftover).exists(), "{leftover} left behind");
    }
}

#[tokio::test]
async fn a_backup_restores_exactly_from_memory_and_from_redb() {
    for backend in ["memory", "redb"] {
        let work = tempfile::tempdir().expect("tempdir");
        let meta: Box<dyn MetaStore> = match backend {
            "memory" => Box::new(MemoryMetaStore::new()),
            _ => Box::new(RedbMetaStore::open(&work.path().join("meta.redb")).expect("open")),
        };
        let blobs: Arc<dyn BlobStore> = Arc::new(FileBlobStore::open(&work.path().join("data")).expect("blobs"));
        let contents = populate(meta.as_ref(), blobs.as_ref()).await;
        let expected = dump(&meta.snapshot().await.expect("snapshot"), true).await;

        let archive = archive_of(meta.as_ref(), Arc::clone(&blobs), Vec::new()).await;
        let target = work.path().join("restored");
        let report = restore(&archive, &target).await.expect("restore");
        assert_eq!((report.manifest.buckets, report.manifest.objects), (2, 8), "{backend}");
        assert_eq!((report.manifest.uploads, report.manifest.parts, report.manifest.records), (1, 1, 2));
        assert_eq!(report.manifest.blobs, 5);
        assert_eq!(report.manifest.blob_bytes, 395_001);
        assert_eq!(report.manifest.format, FORMAT);
        assert!(report.secrets.is_empty());
        check_restored(&target, &expected, &contents).await;
        assert!(!target.join("root-credentials").exists(), "no secret unless asked");
    }
}

/// Encrypted objects and parts back up and restore as they are: their encryption with every key, the
/// sealed inline body, and sealed blobs, which are longer than the plaintext sizes the records give.
#[tokio::test]
async fn encrypted_objects_and_parts_restore_with_their_sealed_bodies() {
    use crate::conformance::stored_key;
    use crate::{ObjectEncryption, PartInfo, SseKind, UploadInfo, sealed_len};
    for backend in ["memory", "redb"] {
        let work = tempfile::tempdir().expect("tempdir");
        let meta: Box<dyn MetaStore> = match backend {
            "memory" => Box::new(MemoryMetaStore::new()),
            _ => Box::new(RedbMetaStore::open(&work.path().join("meta.redb")).expect("open")),
        };
        let blobs: Arc<dyn BlobStore> = Arc::new(FileBlobStore::open(&work.path().join("data")).expect("blobs"));
        meta.create_bucket(bucket("vault")).await.expect("bucket");
        let mut contents = Vec::new();
        for (i, plain) in [70_000u64, 1, 5_000].into_iter().enumerate() {
            let data = bytes_of(sealed_len(plain) as usize, i as u8);
            contents.push((write_blob(blobs.as_ref(), &[&data]).await, data));
        }
        let kms = SseKind::Kms {
            key_arn: "arn:aws:kms:us-east-1:000000000000:key/k".into(),
            context: None,
            bucket_key: false,
        };
        let two = ObjectMeta {
            encryption: Some(ObjectEncryption { kind: kms.clone(), keys: vec![stored_key("a"), stored_key("b")] }),
            ..blob_object("sealed.bin", &[(contents[0].0, 70_000), (contents[1].0, 1)])
        };
        meta.put_object("vault", two).await.expect("put");
        let small = ObjectMeta {
            size: 11,
            inline: Some(bytes::Bytes::from(bytes_of(sealed_len(11) as usize, 9))),
            encryption: Some(ObjectEncryption { kind: SseKind::Customer, keys: vec![stored_key("customer")] }),
            ..inline_object("small", b"")
        };
        meta.put_object("vault", small).await.expect("put");
        meta.create_upload("vault", UploadInfo { encryption: Some(kms), ..upload("pending", "up-1") })
            .await
            .expect("up");
        let sealed_part = PartInfo { size: 5_000, key: Some(stored_key("p")), ..part(1, contents[2].0) };
        meta.put_part("vault", "up-1", sealed_part).await.expect("part");
        let expected = dump(&meta.snapshot().await.expect("snapshot"), true).await;

        let archive = archive_of(meta.as_ref(), Arc::clone(&blobs), Vec::new()).await;
        let target = work.path().join("restored");
        let report = restore(&archive, &target).await.expect("restore");
        assert_eq!((report.manifest.objects, report.manifest.parts, report.manifest.blobs), (2, 1, 3), "{backend}");
        let stored: u64 = contents.iter().map(|(_, d)| d.len() as u64).sum();
        assert_eq!(report.manifest.blob_bytes, stored);
        check_restored(&target, &expected, &contents).await;
    }
}

#[tokio::test]
async fn secrets_are_included_only_when_given_and_restored_private() {
    let work = tempfile::tempdir().expect("tempdir");
    let meta = MemoryMetaStore::new();
    let blobs: Arc<dyn BlobStore> = Arc::new(FileBlobStore::open(work.path()).expect("blobs"));
    let secrets = vec![("root-credentials".to_owned(), b"KURAROOT\nsecret-key\n".to_vec())];
    let archive = archive_of(&meta, blobs, secrets).await;
    let target = work.path().join("restored");
    let report = restore(&archive, &target).await.expect("restore");
    assert_eq!(report.secrets, ["root-credentials"]);
    let path = target.join("root-credentials");
    assert_eq!(std::fs::read(&path).expect("read"), b"KURAROOT\nsecret-key\n");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777, 0o600);
    }

    let bad = BackupOptions { kura_version: "t".into(), secrets: vec![("../x".into(), vec![1])] };
    let err =
        start(&meta, Arc::new(FileBlobStore::open(work.path()).expect("blobs")), bad).await.expect_err("bad name");
    assert!(matches!(err, BackupError::Invalid(_)), "{err}");
}

#[tokio::test]
async fn the_archive_is_plain_tar() {
    let work = tempfile::tempdir().expect("tempdir");
    let meta = MemoryMetaStore::new();
    let blobs: Arc<dyn BlobStore> = Arc::new(FileBlobStore::open(&work.path().join("data")).expect("blobs"));
    let contents = populate(&meta, blobs.as_ref()).await;
    let archive = archive_of(&meta, blobs, Vec::new()).await;
    assert_eq!(archive.len() % BLOCK, 0);
    let entries = unpack(&archive).await;
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    let mut expected = vec![MANIFEST.to_owned(), "meta/000001.jsonl".to_owned()];
    let mut ids: Vec<BlobId> = contents.iter().map(|(id, _)| *id).collect();
    ids.sort();
    expected.extend(ids.iter().map(|id| format!("blobs/{id}")));
    expected.push(CHECKSUMS.to_owned());
    assert_eq!(names, expected);
    // The system's tar, when there is one, lists it too.
    let path = work.path().join("backup.tar");
    std::fs::write(&path, &archive).expect("write");
    if let Ok(out) = std::process::Command::new("tar").arg("-tf").arg(&path).output() {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let listed: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect();
        assert_eq!(listed, expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_is_one_moment_and_its_blobs_survive_deletes_while_it_streams() {
    let work = tempfile::tempdir().expect("tempdir");
    let meta = RedbMetaStore::open(&work.path().join("meta.redb")).expect("open");
    let blobs: Arc<dyn BlobStore> = Arc::new(FileBlobStore::open(&work.path().join("data")).expect("blobs"));
    let contents = populate(&meta, blobs.as_ref()).await;
    let expected = dump(&meta.snapshot().await.expect("snapshot"), true).await;

    let backup = start(&meta, Arc::clone(&blobs), BackupOptions::default()).await.expect("start");
    let mut stream = backup.into_stream();
    let mut archive = stream.next().await.expect("first chunk").expect("ok").to_vec();
    // Everything changes while the archive streams: deletes (whose blobs are reclaimed at once),
    // overwrites, new objects, an aborted upload.
    let old = meta.delete_object("photos", "big.jpg").await.expect("delete").expect("existed");
    blobs.reclaim(old.blobs()).await;
    let replaced = meta.put_object("photos", inline_object("one", b"new")).await.expect("overwrite");
    blobs.reclaim(replaced).await;
    let freed = meta.abort_upload("logs", "up-1").await.expect("abort");
    blobs.reclaim(freed).await;
    meta.put_object("logs", inline_object("later", b"after the snapshot")).await.expect("put");
    for id in old.blobs() {
        assert!(blobs.exists(id).await.expect("exists"), "pinned while the backup streams");
    }
    while let Some(chunk) = stream.next().await {
        archive.extend_from_slice(&chunk.expect("chunk"));
    }
    drop(stream);
    let target = work.path().join("restored");
    restore(&archive, &target).await.expect("restore");
    check_restored(&target, &expected, &contents).await;
    // Once the backup is over, the reclaimed blobs go.
    wait_until_gone(blobs.as_ref(), &old.blobs()).await;
}

/// Waits (at most 10 s) until none of `ids` exists: a backup's task releases its pins as it ends.
async fn wait_until_gone(blobs: &dyn BlobStore, ids: &[BlobId]) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut any = false;
        for id in ids {
            any |= blobs.exists(*id).await.expect("exists");
        }
        if !any {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "blobs still pinned 10 s after the backup ended");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_goes_away_releases_the_pins() {
    let work = tempfile::tempdir().expect("tempdir");
    let meta = MemoryMetaStore::new();
    let blobs: Arc<dyn BlobStore> = Arc::new(FileBlobStore::open(work.path()).expect("blobs"));
    populate(&meta, blobs.as_ref()).await;
    let backup = start(&meta, Arc::clone(&blobs), BackupOptions::default()).await.expect("start");
    let mut stream = backup.into_stream();
    stream.next().await.expect("first chunk").expect("ok");
    let old = meta.delete_object("photos", "big.jpg").await.expect("delete").expect("existed");
    blobs.reclaim(old.blobs()).await;
    for id in old.blobs() {
        assert!(blobs.exists(id).await.expect("exists"), "pinned");
    }
    drop(stream); // the client went away mid-archive
    wait_until_gone(blobs.as_ref(), &old.blobs()).await;

    // A backup started and never streamed releases them too.
    let backup = start(&meta, Arc::clone(&blobs), BackupOptions::default()).await.expect("start");
    let old = meta.delete_object("photos", "one").await.expect("delete").expect("existed");
    blobs.reclaim(old.blobs()).await;
    assert!(blobs.exists(old.blobs()[0]).await.expect("exists"));
    drop(backup);
    wait_until_gone(blobs.as_ref(), &old.blobs()).await;
}

#[tokio::test]
async fn a_blob_that_cannot_be_read_ends_the_stream_with_an_error_not_a_short_archive() {
    let work = tempfile::tempdir().expect("tempdir");
    let meta = MemoryMetaStore::new();
    let blobs: Arc<dyn BlobStore> = Arc::new(FileBlobStore::open(work.path()).expect("blobs"));
    meta.create_bucket(bucket("b")).await.expect("bucket");
    let missing = BlobId::random();
    meta.put_object("b", blob_object("lost", &[(missing, 100)])).await.expect("put");
    let backup = start(&meta, blobs, BackupOptions::default()).await.expect("start");
    let mut stream = backup.into_stream();
    let mut failed = None;
    while let Some(chunk) = stream.next().await {
        if let Err(e) = chunk {
            failed = Some(e);
        }
    }
    let err = failed.expect("the stream reports the failure");
    assert!(matches!(err, BackupError::Store(crate::StoreError::NoSuchBlob(id)) if id == missing), "{err:?}");
}

#[tokio::test]
async fn a_restore_creates_no_parent_directories() {
    let parent = tempfile::tempdir().expect("tempdir");
    let archive = pack(&valid_entries().await);
    let err = restore(&archive, &parent.path().join("missing").join("data")).await.expect_err("no parent");
    assert!(matches!(err, BackupError::Io { .. }), "{err:?}");
    assert!(files_under(parent.path()).is_empty() && std::fs::read_dir(parent.path()).expect("read").next().is_none());
}

// ---- Hostile archives ----

/// One archive entry as raw parts, to take archives apart and build hostile ones.
#[derive(Debug, Clone)]
struct Raw {
    name: String,
    data: Vec<u8>,
    /// The tar type flag.
    kind: u8,
}

fn raw(name: &str, data: &[u8]) -> Raw {
    Raw { name: name.into(), data: data.to_vec(), kind: b'0' }
}

async fn unpack(archive: &[u8]) -> Vec<Raw> {
    let mut reader = TarReader::new(archive);
    let mut out = Vec::new();
    while let Some(entry) = reader.next_entry().await.expect("entry") {
        let mut data = vec![0u8; entry.size as usize];
        let mut filled = 0;
        while filled < data.len() {
            filled += reader.read_data(&mut data[filled..]).await.expect("data");
        }
        out.push(Raw { name: entry.name, data, kind: b'0' });
    }
    out
}

/// A header for `entry` with its type flag, resealed with a valid checksum.
fn header_of(entry: &Raw, size: u64) -> [u8; BLOCK] {
    let mut h = tar::header(&entry.name, size, 0o644, 0).expect("header");
    h[156] = entry.kind;
    if entry.kind == b'2' {
        h[157..168].copy_from_slice(b"/etc/passwd");
    }
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    h
}

fn pack(entries: &[Raw]) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in entries {
        out.extend_from_slice(&header_of(entry, entry.data.len() as u64));
        out.extend_from_slice(&entry.data);
        out.resize(out.len() + tar::padding(entry.data.len() as u64), 0);
    }
    out.extend_from_slice(&tar::END);
    out
}

/// `entries` with a fresh `checksums.jsonl` at the end, for the ones it lists.
fn resealed(mut entries: Vec<Raw>) -> Vec<Raw> {
    entries.retain(|e| e.name != CHECKSUMS);
    let mut text = String::new();
    for e in &entries {
        let line = ChecksumLine {
            name: e.name.clone(),
            length: e.data.len() as u64,
            sha256: hex::encode(Sha256::digest(&e.data)),
        };
        text.push_str(&serde_json::to_string(&line).expect("line"));
        text.push('\n');
    }
    entries.push(raw(CHECKSUMS, text.as_bytes()));
    entries
}

/// A valid archive (of the populated stores), taken apart; made once per test run.
async fn valid_entries() -> Vec<Raw> {
    static VALID: tokio::sync::OnceCell<Vec<Raw>> = tokio::sync::OnceCell::const_new();
    VALID
        .get_or_init(|| async {
            let work = tempfile::tempdir().expect("tempdir");
            let meta = MemoryMetaStore::new();
            let blobs: Arc<dyn BlobStore> = Arc::new(FileBlobStore::open(work.path()).expect("blobs"));
            populate(&meta, blobs.as_ref()).await;
            unpack(&archive_of(&meta, blobs, Vec::new()).await).await
        })
        .await
        .clone()
}

fn index_of(entries: &[Raw], prefix: &str) -> usize {
    entries.iter().position(|e| e.name.starts_with(prefix)).expect("entry present")
}

/// Restores `archive` into a fresh `data` directory, expects a refusal whose message holds `needle`,
/// and checks that nothing is left: neither `data` (which the restore created) nor anything beside it.
async fn refused_with(archive: &[u8], needle: &str) {
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = parent.path().join("data");
    let err = restore(archive, &dir).await.expect_err("a hostile archive is refused");
    let message = err.to_string();
    assert!(message.contains(needle), "expected {needle:?} in: {message}");
    assert!(matches!(err, BackupError::Refused(_)), "{err:?}");
    assert!(files_under(parent.path()).is_empty(), "left behind: {:?}", files_under(parent.path()));
    assert!(!dir.exists(), "the directory the restore created is removed");
}

#[tokio::test]
async fn the_valid_archive_itself_restores() {
    let parent = tempfile::tempdir().expect("tempdir");
    let archive = pack(&valid_entries().await);
    restore(&archive, &parent.path().join("data")).await.expect("the untouched archive restores");
}

#[tokio::test]
async fn names_that_escape_the_directory_are_refused_and_nothing_is_written_outside() {
    for name in ["../evil", "/tmp/kura-evil", "blobs/../../evil", "meta/..\\evil"] {
        let mut entries = valid_entries().await;
        entries.insert(1, raw(name, b"gotcha"));
        refused_with(&pack(&resealed(entries)), "outside the data directory").await;
    }
    let mut entries = valid_entries().await;
    entries.insert(1, raw("etc/passwd", b"root::0:0"));
    refused_with(&pack(&resealed(entries)), "not part of a kura backup").await;
    let mut entries = valid_entries().await;
    entries.insert(1, raw("./kura-backup.json", b"{}"));
    refused_with(&pack(&resealed(entries)), "not part of a kura backup").await;
}

#[tokio::test]
async fn links_directories_and_tar_extensions_are_refused() {
    for (kind, what) in [
        (b'2', "symbolic link"),
        (b'1', "hard link"),
        (b'5', "directory"),
        (b'x', "pax extended header"),
        (b'L', "GNU long-name"),
        (b'3', "device file"),
    ] {
        let mut entries = valid_entries().await;
        let at = index_of(&entries, "blobs/");
        entries[at].kind = kind;
        refused_with(&pack(&entries), what).await;
    }
}

#[tokio::test]
async fn duplicate_and_out_of_order_entries_are_refused() {
    let entries = valid_entries().await;
    let blob = index_of(&entries, "blobs/");

    let mut twice = entries.clone();
    twice.insert(blob, entries[blob].clone());
    refused_with(&pack(&resealed(twice)), "appears twice").await;

    let mut manifest_again = entries.clone();
    manifest_again.insert(blob, entries[0].clone());
    refused_with(&pack(&resealed(manifest_again)), "out of order or appears twice").await;

    let mut meta_again = entries.clone();
    meta_again.insert(blob, entries[1].clone());
    refused_with(&pack(&resealed(meta_again)), "appears twice").await;

    let mut no_manifest = entries.clone();
    no_manifest.remove(0);
    refused_with(&pack(&resealed(no_manifest)), "does not start with kura-backup.json").await;

    let mut after_end = entries.clone();
    after_end.push(raw("meta/000002.jsonl", b""));
    refused_with(&pack(&after_end), "follows checksums.jsonl").await;

    // A metadata line repeated: the same object twice, the same bucket twice, or a line out of place.
    let text = String::from_utf8(entries[1].data.clone()).expect("utf-8");
    let object_line = text.lines().find(|l| l.starts_with(r#"{"object":"#)).expect("an object line").to_owned();
    let mut objects = entries.clone();
    objects[1].data = text.replacen(&object_line, &format!("{object_line}\n{object_line}"), 1).into_bytes();
    refused_with(&pack(&resealed(objects)), "appears twice").await;
    let mut late = entries.clone();
    late[1].data = format!("{text}{object_line}\n").into_bytes();
    refused_with(&pack(&resealed(late)), "an object after a record: the metadata is out of order").await;
    let mut buckets = entries.clone();
    let bucket_line = text.lines().next().expect("a bucket line");
    buckets[1].data = format!("{bucket_line}\n{text}").into_bytes();
    refused_with(&pack(&resealed(buckets)), "appears twice").await;
}

#[tokio::test]
async fn oversized_lengths_are_refused_before_they_are_read() {
    let entries = valid_entries().await;
    // A blob entry that claims more than its metadata gives it: refused from the header.
    let blob = index_of(&entries, "blobs/");
    let mut archive = Vec::new();
    for entry in &entries[..blob] {
        archive.extend_from_slice(&pack(std::slice::from_ref(entry))[..]);
        archive.truncate(archive.len() - 2 * BLOCK);
    }
    archive.extend_from_slice(&header_of(&entries[blob], 1 << 40));
    refused_with(&archive, "but the metadata gives that blob").await;

    // A metadata chunk that claims a terabyte.
    let mut archive = pack(&entries[..1]);
    archive.truncate(archive.len() - 2 * BLOCK);
    archive.extend_from_slice(&header_of(&raw("meta/000001.jsonl", b""), 1 << 40));
    refused_with(&archive, "more than such an entry may hold").await;

    // A manifest that claims a gigabyte.
    refused_with(&header_of(&raw(MANIFEST, b""), 1 << 30), "more than such an entry may hold").await;
}

#[tokio::test]
async fn a_blob_whose_bytes_do_not_match_is_refused() {
    let mut entries = valid_entries().await;
    let blob = index_of(&entries, "blobs/");
    entries[blob].data[0] ^= 0x01;
    refused_with(&pack(&entries), "do not match its checksum").await;
    // A damaged manifest or metadata chunk likewise (here, one that still parses).
    let mut entries = valid_entries().await;
    let text = String::from_utf8(entries[1].data.clone()).expect("utf-8").replacen("\"blue\"", "\"BLUE\"", 1);
    entries[1].data = text.into_bytes();
    refused_with(&pack(&entries), "meta/000001.jsonl: its bytes do not match").await;
}

#[tokio::test]
async fn missing_unreferenced_and_truncated_content_is_refused() {
    let entries = valid_entries().await;
    let blob = index_of(&entries, "blobs/");

    let mut missing = entries.clone();
    missing.remove(blob);
    refused_with(&pack(&resealed(missing)), "is missing from the archive").await;

    let mut stray = entries.clone();
    stray.insert(blob, raw(&format!("blobs/{}", BlobId(7)), b"stray"));
    refused_with(&pack(&resealed(stray)), "no object or part in the archive references").await;

    let full = pack(&entries);
    refused_with(&full[..full.len() / 2], "truncated").await;
    let without_end = &full[..full.len() - 2 * BLOCK];
    refused_with(without_end, "truncated").await;
    let mut no_checksums = entries.clone();
    no_checksums.pop();
    refused_with(&pack(&no_checksums), "ends without checksums.jsonl").await;
    let mut trailing = full.clone();
    trailing.extend_from_slice(b"more");
    refused_with(&trailing, "follows the end of the archive").await;
    refused_with(&[], "truncated").await;
    refused_with(&tar::END, "empty").await;
}

#[tokio::test]
async fn damaged_headers_foreign_formats_and_unknown_secrets_are_refused() {
    let entries = valid_entries().await;
    let mut damaged = pack(&entries);
    damaged[10] ^= 0x20; // in the first header's name
    refused_with(&damaged, "checksum does not match").await;

    let mut newer = entries.clone();
    newer[0].data = br#"{"format": 2, "kura_version": "9.0.0"}"#.to_vec();
    refused_with(&pack(&resealed(newer)), "format 2 (written by kura 9.0.0)").await;

    let mut secret = entries.clone();
    let end = secret.len() - 1;
    secret.insert(end, raw("secrets/authorized_keys", b"ssh-ed25519 AAAA"));
    refused_with(&pack(&resealed(secret)), "not a secret file kura restores").await;

    let mut unannounced = entries.clone();
    let end = unannounced.len() - 1;
    unannounced.insert(end, raw("secrets/root-credentials", b"K\nS\n"));
    refused_with(&pack(&resealed(unannounced)), "but the manifest announces").await;

    let mut counts = entries.clone();
    let mut manifest: Manifest = serde_json::from_slice(&counts[0].data).expect("manifest");
    manifest.objects += 1;
    counts[0].data = serde_json::to_vec(&manifest).expect("json");
    refused_with(&pack(&resealed(counts)), "but the manifest announces").await;
}

#[tokio::test]
async fn a_directory_that_is_not_empty_is_refused_and_left_as_it_was() {
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = parent.path().join("data");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::write(dir.join("meta.redb"), b"someone's data").expect("write");
    let archive = pack(&valid_entries().await);
    let err = restore(&archive, &dir).await.expect_err("not empty");
    assert!(matches!(err, BackupError::NotEmpty { .. }), "{err:?}");
    assert!(err.to_string().contains("not empty"), "{err}");
    assert_eq!(files_under(parent.path()), ["data/meta.redb"]);
    assert_eq!(std::fs::read(dir.join("meta.redb")).expect("read"), b"someone's data");

    // An empty directory, or one holding only lost+found (a fresh ext4 volume), is fine.
    let other = parent.path().join("volume");
    std::fs::create_dir_all(other.join("lost+found")).expect("mkdir");
    restore(&archive, &other).await.expect("restore beside lost+found");
    // A failed restore into an existing directory keeps the directory (and lost+found).
    let third = parent.path().join("third");
    std::fs::create_dir_all(third.join("lost+found")).expect("mkdir");
    restore(&archive[..archive.len() / 2], &third).await.expect_err("truncated");
    assert!(third.join("lost+found").is_dir());
    assert_eq!(std::fs::read_dir(&third).expect("read").count(), 1, "only lost+found is left");
}

/// A restore into another metadata store (a memory store standing for PostgreSQL): the store gets
/// exactly the dump, the directory the blobs and no redb file; a non-empty store is refused before
/// anything is written; a damaged archive leaves the store empty.
#[tokio::test]
async fn a_restore_into_an_empty_store_copies_the_verified_metadata_and_refuses_a_non_empty_one() {
    let work = tempfile::tempdir().expect("tempdir");
    let meta = MemoryMetaStore::new();
    let blobs: Arc<dyn BlobStore> = Arc::new(FileBlobStore::open(&work.path().join("data")).expect("blobs"));
    let contents = populate(&meta, blobs.as_ref()).await;
    let expected = dump(&meta.snapshot().await.expect("snapshot"), true).await;
    let archive = archive_of(&meta, Arc::clone(&blobs), Vec::new()).await;

    let target = MemoryMetaStore::new();
    let dir = work.path().join("restored");
    let report = restore_to_store(archive.as_slice(), &dir, &target, &OPTIONS).await.expect("restore");
    assert_eq!((report.manifest.buckets, report.manifest.objects), (2, 8));
    assert_eq!(dump(&target.snapshot().await.expect("snapshot"), true).await, expected);
    let restored = FileBlobStore::open(&dir).expect("blobs");
    for (id, data) in &contents {
        assert_eq!(read_all(&restored, *id, data.len() as u64).await, *data, "blob {id}");
    }
    for leftover in ["meta.redb", "meta.redb.restoring", "meta.redb.reserve"] {
        assert!(!dir.join(leftover).exists(), "{leftover} in the directory of a store restore");
    }

    // The target now holds metadata: a second restore is refused, and creates nothing.
    let fresh = work.path().join("fresh");
    let err = restore_to_store(archive.as_slice(), &fresh, &target, &OPTIONS).await.expect_err("not empty");
    assert!(matches!(err, BackupError::StoreNotEmpty(_)), "{err:?}");
    assert!(err.to_string().contains("bucket \"logs\""), "{err}");
    assert!(!fresh.exists(), "nothing created for a refused restore");
    assert_eq!(dump(&target.snapshot().await.expect("snapshot"), true).await, expected, "the store unchanged");

    // A damaged archive (a flipped byte in a blob) is refused before the empty store gets anything.
    let mut entries = valid_entries().await;
    let at = index_of(&entries, "blobs/");
    entries[at].data[0] ^= 1;
    let untouched = MemoryMetaStore::new();
    let err = restore_to_store(pack(&entries).as_slice(), &fresh, &untouched, &OPTIONS).await.expect_err("damaged");
    assert!(matches!(err, BackupError::Refused(_)), "{err:?}");
    assert!(untouched.snapshot().await.expect("snapshot").entries(false).next().await.is_none(), "store written");
    assert!(!fresh.exists(), "the directory the restore created is removed");
}
