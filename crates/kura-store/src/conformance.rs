//! The back-end conformance suite: every [`MetaStore`] and [`BlobStore`] must pass it.
//!
//! Each `pub async fn` takes a fresh, empty store and panics (with a message) on the first deviation,
//! so a back end's test module calls them from `#[tokio::test]`s. [`model_listing`] is the brute-force
//! model of a listing that the property tests compare every back end with.
//!
//! Enabled in this crate's tests and, for other crates, by the `conformance` feature.

use crate::{
    BlobId, BlobStore, BucketInfo, BucketSettings, CorsConfig, CorsRule, DumpEntry, ListEntry, ListQuery, MetaSnapshot,
    MetaStore, ObjectEncryption, ObjectMeta, PartInfo, PublicAccessBlock, RemovalGuard, Segment, SseKind, StoreError,
    StoreResult, StoredKey, Tags, UploadInfo, UploadListQuery, VersionEntry, VersionListQuery, WriteCondition,
    sealed_len,
};
use futures::StreamExt;
use futures::future::join_all;
use proptest::strategy::Strategy;
use redb::backends::FileBackend;
use redb::{BackendError, StorageBackend};
use std::collections::HashSet;
use std::io;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// redb's file backend on a disk that can be made full, for fault injection: while the flag is set,
/// growing the file and writing any page but the header fail with `ENOSPC`. (Rewriting the header in
/// place needs no new blocks, as on ext4 or XFS; it is what the repair after a reopen writes.)
#[derive(Debug)]
pub struct FullDisk {
    file: FileBackend,
    full: Arc<AtomicBool>,
}

/// The first page of a redb file: the database header.
const HEADER: u64 = 4096;

impl FullDisk {
    /// Opens (or creates) the file at `path`; the disk is full while `full` is set.
    pub fn open(path: &Path, full: Arc<AtomicBool>) -> io::Result<Self> {
        let file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        Ok(Self { file: FileBackend::new(file).map_err(io::Error::other)?, full })
    }

    fn check(&self, allocates: bool) -> io::Result<()> {
        if allocates && self.full.load(Ordering::SeqCst) {
            Err(io::Error::from(io::ErrorKind::StorageFull))
        } else {
            Ok(())
        }
    }
}

impl StorageBackend for FullDisk {
    fn len(&self) -> io::Result<u64> {
        self.file.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        self.file.read(offset, out)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.check(len > self.file.len()?)?;
        self.file.set_len(len)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.check(offset + data.len() as u64 > HEADER)?;
        self.file.write(offset, data)
    }
    fn close(&self) -> io::Result<()> {
        self.file.close()
    }
    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.file.try_lock_range(start, end)
    }
    fn try_lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.file.try_lock_shared_range(start, end)
    }
    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.lock_range(start, end)
    }
    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.lock_shared_range(start, end)
    }
    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.unlock_range(start, end)
    }
    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.file.query_lock_range(start, end)
    }
}

/// A [`RedbMetaStore`](crate::redb_meta::RedbMetaStore) at `dir/meta.redb` on a [`FullDisk`], with its
/// reserve at `dir/meta.reserve`; setting the returned flag fills the disk.
pub fn full_disk_store(dir: &Path) -> (Arc<AtomicBool>, crate::redb_meta::RedbMetaStore) {
    let full = Arc::new(AtomicBool::new(false));
    let (path, flag) = (dir.join("meta.redb"), Arc::clone(&full));
    let store = crate::redb_meta::RedbMetaStore::open_with_backend(&dir.join("meta.reserve"), move || {
        FullDisk::open(&path, Arc::clone(&flag))
    })
    .expect("open a store on a FullDisk");
    (full, store)
}

/// A bucket record.
pub fn bucket(name: &str) -> BucketInfo {
    BucketInfo {
        name: name.to_owned(),
        created_ms: 1_700_000_000_000,
        region: "us-east-1".into(),
        settings: Default::default(),
    }
}

/// An object of one segment on `blob`.
pub fn object(key: &str, blob: BlobId) -> ObjectMeta {
    ObjectMeta {
        key: key.to_owned(),
        size: 10,
        etag: format!("etag-{blob}"),
        last_modified_ms: 1_700_000_000_000,
        segments: vec![Segment { blob, size: 10 }],
        part_sizes: Vec::new(),
        part_checksums: Vec::new(),
        headers: Default::default(),
        checksums: Default::default(),
        tags: Tags::new(),
        version_id: "null".into(),
        upload_id: None,
        delete_marker: false,
        order: String::new(),
        inline: None,
        lock: Default::default(),
        encryption: None,
    }
}

/// An object whose whole body is stored inline with its metadata.
pub fn inline_object(key: &str, body: &'static [u8]) -> ObjectMeta {
    ObjectMeta {
        size: body.len() as u64,
        segments: Vec::new(),
        inline: Some(bytes::Bytes::from_static(body)),
        ..object(key, BlobId(0))
    }
}

/// An upload record.
pub fn upload(key: &str, id: &str) -> UploadInfo {
    UploadInfo {
        upload_id: id.to_owned(),
        key: key.to_owned(),
        initiated_ms: 1_700_000_000_000,
        headers: Default::default(),
        tags: Tags::new(),
        checksum_algorithm: None,
        checksum_type: None,
        lock: Default::default(),
        encryption: None,
        customer_check: None,
    }
}

/// A part record on `blob`.
pub fn part(number: u32, blob: BlobId) -> PartInfo {
    PartInfo {
        number,
        etag: format!("p{number}"),
        size: 5,
        blob,
        last_modified_ms: 1_700_000_000_000,
        checksums: Default::default(),
        key: None,
    }
}

fn sorted(mut ids: Vec<BlobId>) -> Vec<BlobId> {
    ids.sort();
    ids
}

/// Buckets: create, duplicate, get, list order, delete, delete of a missing or non-empty bucket.
pub async fn buckets(store: &dyn MetaStore) {
    assert!(store.list_buckets().await.expect("list").is_empty());
    for name in ["zeta", "alpha", "mid"] {
        store.create_bucket(bucket(name)).await.expect("create");
    }
    let dup = store.create_bucket(bucket("alpha")).await;
    assert!(matches!(dup, Err(StoreError::BucketAlreadyExists(ref n)) if n == "alpha"), "{dup:?}");
    assert_eq!(store.get_bucket("mid").await.expect("get"), Some(bucket("mid")));
    assert_eq!(store.get_bucket("nope").await.expect("get"), None);
    let names: Vec<String> = store.list_buckets().await.expect("list").into_iter().map(|b| b.name).collect();
    assert_eq!(names, ["alpha", "mid", "zeta"]);

    store.put_object("mid", object("k", BlobId(1))).await.expect("put");
    let full = store.delete_bucket("mid").await;
    assert!(matches!(full, Err(StoreError::BucketNotEmpty(ref n)) if n == "mid"), "{full:?}");
    store.delete_object("mid", "k").await.expect("delete object");
    assert!(store.delete_bucket("mid").await.expect("delete").is_empty());
    let gone = store.delete_bucket("mid").await;
    assert!(matches!(gone, Err(StoreError::NoSuchBucket(_))), "{gone:?}");
    assert_eq!(store.get_bucket("mid").await.expect("get"), None);
    // A deleted name can be created again, and starts empty.
    store.create_bucket(bucket("mid")).await.expect("recreate");
    let page = store.list_objects("mid", &ListQuery { max: 10, ..Default::default() }).await.expect("list");
    assert!(page.entries.is_empty());
}

/// Objects: put, replace (returns replaced blobs), get, delete, tags, and `NoSuchBucket`/`NoSuchKey`.
pub async fn objects(store: &dyn MetaStore) {
    store.create_bucket(bucket("b")).await.expect("create");
    store.create_bucket(bucket("other")).await.expect("create");
    assert!(store.put_object("b", object("k", BlobId(1))).await.expect("put").is_empty());
    assert_eq!(store.get_object("b", "k").await.expect("get"), Some(object("k", BlobId(1))));
    assert_eq!(store.get_object("other", "k").await.expect("get"), None, "buckets are separate");
    assert_eq!(store.get_object("b", "k2").await.expect("get"), None);

    // Replacing returns the old blobs, except any the new version keeps.
    assert_eq!(store.put_object("b", object("k", BlobId(2))).await.expect("put"), [BlobId(1)]);
    let mut two = object("k", BlobId(2));
    two.segments.push(Segment { blob: BlobId(3), size: 4 });
    assert!(store.put_object("b", two.clone()).await.expect("put").is_empty());
    assert_eq!(sorted(store.put_object("b", object("k", BlobId(4))).await.expect("put")), [BlobId(2), BlobId(3)]);

    // Tags.
    let tags: Tags = [("a".to_owned(), "1".to_owned())].into();
    store.set_object_tags("b", "k", tags.clone()).await.expect("tags");
    assert_eq!(store.get_object("b", "k").await.expect("get").expect("some").tags, tags);
    let missing = store.set_object_tags("b", "nope", tags.clone()).await;
    assert!(matches!(missing, Err(StoreError::NoSuchKey { ref bucket, ref key }) if bucket == "b" && key == "nope"));
    let nob = store.set_object_tags("nob", "k", tags).await;
    assert!(matches!(nob, Err(StoreError::NoSuchBucket(_))), "{nob:?}");

    // Delete returns the removed object.
    let removed = store.delete_object("b", "k").await.expect("delete").expect("was there");
    assert_eq!(removed.blobs(), [BlobId(4)]);
    assert_eq!(store.delete_object("b", "k").await.expect("delete"), None);
    assert_eq!(store.get_object("b", "k").await.expect("get"), None);

    // Missing bucket.
    for result in [
        store.put_object("nob", object("k", BlobId(9))).await.map(|_| ()),
        store.get_object("nob", "k").await.map(|_| ()),
        store.delete_object("nob", "k").await.map(|_| ()),
        store.list_objects("nob", &ListQuery { max: 1, ..Default::default() }).await.map(|_| ()),
    ] {
        assert!(matches!(result, Err(StoreError::NoSuchBucket(ref n)) if n == "nob"), "{result:?}");
    }

    // Keys are arbitrary UTF-8, including characters that sort around the separators a back end uses.
    for key in ["\u{1}", "a\u{0}b", "ü/ÿ", "😀", "a b", ""] {
        store.put_object("b", object(key, BlobId(7))).await.expect("put odd key");
        assert_eq!(store.get_object("b", key).await.expect("get").map(|o| o.key), Some(key.to_owned()));
    }
}

/// Inline bodies: read back whole with their record, absent from listings, kept by a tag change,
/// replaced and removed with the record (whichever way it is replaced), and refused when they disagree
/// with the record.
pub async fn inline_bodies(store: &dyn MetaStore) {
    store.create_bucket(bucket("b")).await.expect("create");
    assert!(store.put_object("b", inline_object("k", b"hello")).await.expect("put").is_empty());
    let got = store.get_object("b", "k").await.expect("get").expect("some");
    assert_eq!(got, inline_object("k", b"hello"));
    assert!(got.is_inline() && got.blobs().is_empty());
    let record = store.get_object_record("b", "k").await.expect("get record").expect("some");
    assert_eq!(record, ObjectMeta { inline: None, ..inline_object("k", b"hello") }, "a record carries no body");
    let page = store.list_objects("b", &ListQuery { max: 10, ..Default::default() }).await.expect("list");
    match page.entries.as_slice() {
        [ListEntry::Object(o)] => assert!(o.inline.is_none() && o.size == 5, "{o:?}"),
        other => panic!("one object expected, got {other:?}"),
    }

    // A tag change rewrites the record and keeps the body.
    let tags: Tags = [("t".to_owned(), "1".to_owned())].into();
    store.set_object_tags("b", "k", tags.clone()).await.expect("tags");
    let got = store.get_object("b", "k").await.expect("get").expect("some");
    assert_eq!((got.inline.as_deref(), got.tags), (Some(&b"hello"[..]), tags));

    // Inline → blob → inline: each replacement sees only its own body; the blob is handed back.
    assert!(store.put_object("b", object("k", BlobId(5))).await.expect("put").is_empty());
    assert_eq!(store.get_object("b", "k").await.expect("get"), Some(object("k", BlobId(5))));
    assert_eq!(store.put_object("b", inline_object("k", b"again!")).await.expect("put"), [BlobId(5)]);
    assert_eq!(store.get_object("b", "k").await.expect("get"), Some(inline_object("k", b"again!")));

    // Empty bodies are inline too.
    store.put_object("b", inline_object("empty", b"")).await.expect("put empty");
    assert_eq!(store.get_object("b", "empty").await.expect("get").and_then(|o| o.inline), Some(bytes::Bytes::new()));

    // A completed upload replaces an inline object; its body goes with it.
    store.create_upload("b", upload("k", "u1")).await.expect("upload");
    store.put_part("b", "u1", part(1, BlobId(6))).await.expect("part");
    let mut done = object("k", BlobId(6));
    done.size = 5;
    done.segments = vec![Segment { blob: BlobId(6), size: 5 }];
    assert!(store.complete_upload("b", "u1", done.clone()).await.expect("complete").is_empty());
    assert_eq!(store.get_object("b", "k").await.expect("get"), Some(done));

    // Delete takes the body with the record; a new object under the key starts clean.
    store.put_object("b", inline_object("k", b"third")).await.expect("put");
    let removed = store.delete_object("b", "k").await.expect("delete").expect("was there");
    assert!(removed.blobs().is_empty());
    assert_eq!(store.get_object("b", "k").await.expect("get"), None);
    store.put_object("b", object("k", BlobId(8))).await.expect("put");
    assert_eq!(store.get_object("b", "k").await.expect("get").and_then(|o| o.inline), None);

    // Records that disagree with their body are refused and change nothing.
    let mut short = inline_object("bad", b"abc");
    short.size = 4;
    let mut both = inline_object("bad", b"abc");
    both.segments = vec![Segment { blob: BlobId(9), size: 3 }];
    let mut neither = inline_object("bad", b"abc");
    neither.inline = None;
    for bad in [short, both, neither] {
        let result = store.put_object("b", bad.clone()).await;
        assert!(matches!(result, Err(StoreError::Backend(_))), "{bad:?} -> {result:?}");
    }
    assert_eq!(store.get_object("b", "bad").await.expect("get"), None);
}

/// Listing: prefix, delimiter, start-after, pagination, `max == 0`.
pub async fn listing(store: &dyn MetaStore) {
    store.create_bucket(bucket("b")).await.expect("create");
    let keys = ["a", "b/1", "b/2", "b/c/3", "c", "d/", "é/x", "photos/2024/jan", "photos/2024/feb", "photos/a.jpg"];
    join_all(keys.iter().map(|k| store.put_object("b", object(k, BlobId(1))))).await.into_iter().for_each(|r| {
        r.expect("put");
    });
    let list = |prefix: &str, delimiter: Option<&str>, start_after: Option<&str>, max: usize| ListQuery {
        prefix: prefix.to_owned(),
        delimiter: delimiter.map(str::to_owned),
        start_after: start_after.map(str::to_owned),
        max,
    };
    let names = |page: &crate::ListPage| page.entries.iter().map(|e| e.name().to_owned()).collect::<Vec<_>>();

    let page = store.list_objects("b", &list("", None, None, 100)).await.expect("list");
    let mut all: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    all.sort();
    assert_eq!(names(&page), all);
    assert!(!page.is_truncated);
    assert!(page.entries.iter().all(|e| matches!(e, ListEntry::Object(_))));

    let page = store.list_objects("b", &list("", Some("/"), None, 100)).await.expect("list");
    assert_eq!(names(&page), ["a", "b/", "c", "d/", "photos/", "é/"]);
    assert!(matches!(&page.entries[1], ListEntry::Prefix(p) if p == "b/"));

    let page = store.list_objects("b", &list("photos/", Some("/"), None, 100)).await.expect("list");
    assert_eq!(names(&page), ["photos/2024/", "photos/a.jpg"]);

    // A continuation after a common prefix does not repeat it.
    let page = store.list_objects("b", &list("", Some("/"), Some("b/"), 2)).await.expect("list");
    assert_eq!(names(&page), ["c", "d/"]);
    assert!(page.is_truncated);
    let page = store.list_objects("b", &list("", Some("/"), Some("b/1"), 100)).await.expect("list");
    assert_eq!(names(&page), ["c", "d/", "photos/", "é/"]);

    // Page boundaries.
    let page = store.list_objects("b", &list("", Some("/"), None, 6)).await.expect("list");
    assert!(!page.is_truncated, "exactly max entries exist");
    let page = store.list_objects("b", &list("", Some("/"), None, 5)).await.expect("list");
    assert!(page.is_truncated);
    let page = store.list_objects("b", &list("", None, None, 0)).await.expect("list");
    assert!(page.entries.is_empty() && !page.is_truncated);
    let page = store.list_objects("b", &list("zzz", None, None, 10)).await.expect("list");
    assert!(page.entries.is_empty() && !page.is_truncated);
    // A multi-character delimiter, and a start-after before the prefix.
    let page = store.list_objects("b", &list("photos/", Some("/j"), Some("a"), 10)).await.expect("list");
    assert_eq!(names(&page), ["photos/2024/feb", "photos/2024/j", "photos/a.jpg"]);

    compare_listing_with_model(store, "b", &list("", Some("/"), None, 1)).await;
    compare_listing_with_model(store, "b", &list("p", Some("2"), Some("b"), 2)).await;
}

/// Multipart uploads: create, get, parts (replace, list, pagination), complete, abort, and the
/// `NoSuchUpload`/`NoSuchBucket` cases.
pub async fn uploads(store: &dyn MetaStore) {
    store.create_bucket(bucket("b")).await.expect("create");
    store.create_upload("b", upload("k", "u1")).await.expect("create upload");
    assert_eq!(store.get_upload("b", "u1").await.expect("get"), Some(upload("k", "u1")));
    assert_eq!(store.get_upload("b", "u2").await.expect("get"), None);
    assert_eq!(store.get_upload("nob", "u1").await.expect("get"), None);
    let dup = store.create_upload("b", upload("k", "u1")).await;
    assert!(dup.is_err(), "a reused upload id is refused");
    let nob = store.create_upload("nob", upload("k", "u9")).await;
    assert!(matches!(nob, Err(StoreError::NoSuchBucket(_))), "{nob:?}");

    for n in [3, 1, 2, 10] {
        assert_eq!(store.put_part("b", "u1", part(n, BlobId(100 + u128::from(n)))).await.expect("part"), None);
    }
    // Replacing a part returns the old blob; re-recording the same blob returns nothing.
    assert_eq!(store.put_part("b", "u1", part(2, BlobId(202))).await.expect("part"), Some(BlobId(102)));
    assert_eq!(store.put_part("b", "u1", part(2, BlobId(202))).await.expect("part"), None);
    let numbers = |parts: Vec<PartInfo>| parts.into_iter().map(|p| p.number).collect::<Vec<_>>();
    assert_eq!(numbers(store.list_parts("b", "u1", 0, 100).await.expect("parts")), [1, 2, 3, 10]);
    assert_eq!(numbers(store.list_parts("b", "u1", 1, 2).await.expect("parts")), [2, 3]);
    assert_eq!(numbers(store.list_parts("b", "u1", 3, 2).await.expect("parts")), [10]);
    assert!(store.list_parts("b", "u1", 10, 5).await.expect("parts").is_empty());
    assert!(store.list_parts("b", "u1", u32::MAX, 5).await.expect("parts").is_empty());
    assert!(store.list_parts("b", "u1", 0, 0).await.expect("parts").is_empty());
    let parts = store.list_parts("b", "u1", 0, 1).await.expect("parts");
    assert_eq!(parts, [part(1, BlobId(101))]);

    for result in [
        store.put_part("b", "nope", part(1, BlobId(5))).await.map(|_| ()),
        store.list_parts("b", "nope", 0, 10).await.map(|_| ()),
        store.complete_upload("b", "nope", object("k", BlobId(5))).await.map(|_| ()),
        store.abort_upload("b", "nope").await.map(|_| ()),
    ] {
        assert!(matches!(result, Err(StoreError::NoSuchUpload(ref id)) if id == "nope"), "{result:?}");
    }
    for result in [
        store.put_part("nob", "u1", part(1, BlobId(5))).await.map(|_| ()),
        store.list_parts("nob", "u1", 0, 10).await.map(|_| ()),
        store.complete_upload("nob", "u1", object("k", BlobId(5))).await.map(|_| ()),
        store.abort_upload("nob", "u1").await.map(|_| ()),
    ] {
        assert!(matches!(result, Err(StoreError::NoSuchBucket(ref b)) if b == "nob"), "{result:?}");
    }

    // A completion built from a part uploaded again since its caller read the parts (blob 102, which
    // 202 replaced above, and which is being reclaimed) is refused and writes nothing.
    let mut stale = object("k", BlobId(101));
    stale.segments.push(Segment { blob: BlobId(102), size: 5 });
    let refused = store.complete_upload("b", "u1", stale).await;
    assert!(matches!(refused, Err(StoreError::PartsChanged { .. })), "{refused:?}");
    assert!(store.get_upload("b", "u1").await.expect("get").is_some(), "the upload stays");
    assert_eq!(store.get_object("b", "k").await.expect("get"), None, "no object was made");

    // Complete with parts 1 and 3: parts 2 and 10 are freed, and so is the replaced object.
    store.put_object("b", object("k", BlobId(50))).await.expect("put");
    let mut done = object("k", BlobId(101));
    done.segments.push(Segment { blob: BlobId(103), size: 5 });
    done.part_sizes = vec![5, 5];
    let freed = store.complete_upload("b", "u1", done.clone()).await.expect("complete");
    assert_eq!(sorted(freed), [BlobId(50), BlobId(110), BlobId(202)]);
    assert_eq!(store.get_object("b", "k").await.expect("get"), Some(done));
    assert_eq!(store.get_upload("b", "u1").await.expect("get"), None);
    let late = store.put_part("b", "u1", part(4, BlobId(7))).await;
    assert!(matches!(late, Err(StoreError::NoSuchUpload(_))), "a part racing completion is refused: {late:?}");
    let again = store.complete_upload("b", "u1", object("k", BlobId(101))).await;
    assert!(matches!(again, Err(StoreError::NoSuchUpload(_))), "{again:?}");

    // Abort returns every part.
    store.create_upload("b", upload("k2", "u2")).await.expect("create upload");
    store.put_part("b", "u2", part(1, BlobId(301))).await.expect("part");
    store.put_part("b", "u2", part(2, BlobId(302))).await.expect("part");
    assert_eq!(sorted(store.abort_upload("b", "u2").await.expect("abort")), [BlobId(301), BlobId(302)]);
    assert_eq!(store.get_upload("b", "u2").await.expect("get"), None);
    let twice = store.abort_upload("b", "u2").await;
    assert!(matches!(twice, Err(StoreError::NoSuchUpload(_))), "{twice:?}");
    assert_eq!(store.get_object("b", "k2").await.expect("get"), None, "abort writes no object");

    // Deleting a bucket aborts its uploads and returns their parts.
    store.create_bucket(bucket("c")).await.expect("create");
    store.create_upload("c", upload("x", "u3")).await.expect("create upload");
    store.create_upload("c", upload("y", "u4")).await.expect("create upload");
    store.put_part("c", "u3", part(1, BlobId(401))).await.expect("part");
    store.put_part("c", "u4", part(1, BlobId(402))).await.expect("part");
    store.put_part("c", "u4", part(7, BlobId(403))).await.expect("part");
    assert_eq!(sorted(store.delete_bucket("c").await.expect("delete")), [BlobId(401), BlobId(402), BlobId(403)]);
    assert_eq!(store.get_upload("c", "u3").await.expect("get"), None);
    store.create_bucket(bucket("c")).await.expect("recreate");
    let page = store.list_uploads("c", &UploadListQuery { max: 10, ..Default::default() }).await.expect("list");
    assert!(page.uploads.is_empty(), "a recreated bucket has no uploads");
    let gone = store.list_parts("c", "u4", 0, 10).await;
    assert!(matches!(gone, Err(StoreError::NoSuchUpload(_))), "{gone:?}");
}

/// A wrapped data key as a back end sees it: opaque text.
pub fn stored_key(id: &str) -> StoredKey {
    StoredKey { key_id: id.to_owned(), blob: format!("d3JhcHBlZC17aWR9LXtpZH0={id}") }
}

/// Encrypted objects and uploads: the encryption of an object (kind and per-segment keys) and its
/// sealed inline body (longer than the plaintext `size`) round trip through every read and the dump;
/// an upload's kind and its parts' keys too; an encrypted inline body of the plaintext length, and
/// an empty encrypted body without its sealed bytes, are refused and change nothing.
pub async fn encryption(store: &dyn MetaStore) {
    store.create_bucket(bucket("b")).await.expect("create");
    let kms = SseKind::Kms {
        key_arn: "arn:aws:kms:us-east-1:000000000000:key/k1".into(),
        context: Some(r#"{"team":"blue"}"#.into()),
        bucket_key: true,
    };
    // An inline body holds the sealed bytes: 5 plaintext bytes are 21 stored.
    let sealed = bytes::Bytes::from(vec![7u8; sealed_len(5) as usize]);
    let small = ObjectMeta {
        size: 5,
        inline: Some(sealed.clone()),
        encryption: Some(ObjectEncryption { kind: SseKind::S3, keys: vec![stored_key("master-1")] }),
        ..inline_object("small", b"")
    };
    assert!(store.put_object("b", small.clone()).await.expect("put").is_empty());
    assert_eq!(store.get_object("b", "small").await.expect("get"), Some(small.clone()));
    let record = store.get_object_record("b", "small").await.expect("record");
    assert_eq!(record, Some(ObjectMeta { inline: None, ..small.clone() }));
    let page = store.list_objects("b", &ListQuery { max: 10, ..Default::default() }).await.expect("list");
    match page.entries.as_slice() {
        [ListEntry::Object(o)] => assert_eq!((o.size, &o.encryption), (5, &small.encryption)),
        other => panic!("one object expected, got {other:?}"),
    }
    // A tag change keeps the encryption and the sealed body.
    let tags: Tags = [("t".to_owned(), "1".to_owned())].into();
    store.set_object_tags("b", "small", tags.clone()).await.expect("tags");
    let small = ObjectMeta { tags, ..small };
    assert_eq!(store.get_object("b", "small").await.expect("get"), Some(small.clone()));

    // The empty body sealed is one empty chunk: 16 bytes, kept like any other.
    let empty_sealed = bytes::Bytes::from(vec![1u8; sealed_len(0) as usize]);
    let empty = ObjectMeta { inline: Some(empty_sealed), ..small.clone() };
    let empty = ObjectMeta { size: 0, key: "empty".into(), ..empty };
    store.put_object("b", empty.clone()).await.expect("put empty");
    assert_eq!(store.get_object("b", "empty").await.expect("get"), Some(empty.clone()));

    // A multi-segment object keeps one key per segment, in order; versions keep theirs.
    let keys = vec![stored_key("arn:aws:kms:us-east-1:000000000000:key/k1"), stored_key("other")];
    let mut big = object("big", BlobId(1));
    big.segments.push(Segment { blob: BlobId(2), size: 70_000 });
    big.size = 70_010;
    big.part_sizes = vec![10, 70_000];
    big.encryption = Some(ObjectEncryption { kind: kms.clone(), keys });
    big.version_id = version_id(1);
    store.put_object("b", big.clone()).await.expect("put big");
    assert_eq!(store.get_object("b", "big").await.expect("get"), Some(big.clone()));
    let newer = ObjectMeta { version_id: version_id(2), ..small.clone() };
    let newer = ObjectMeta { key: "big".into(), ..newer };
    store.put_object("b", newer.clone()).await.expect("put newer");
    let found = store.get_version("b", "big", Some(&version_id(1)), true).await.expect("version");
    assert_eq!(found.map(|f| f.object), Some(big.clone()));
    let found = store.get_version("b", "big", None, true).await.expect("version");
    assert_eq!(found.map(|f| f.object), Some(newer.clone()));

    // Dumped with every field, and its blobs with their sealed lengths.
    let snapshot = store.snapshot().await.expect("snapshot");
    let entries = dump(&snapshot, true).await;
    assert!(entries.contains(&DumpEntry::Object { bucket: "b".into(), object: small.clone() }), "{entries:?}");
    assert!(entries.contains(&DumpEntry::Object { bucket: "b".into(), object: newer.clone() }), "{entries:?}");
    let old = DumpEntry::Version { bucket: "b".into(), object: big.clone() };
    assert!(entries.contains(&old), "{entries:?}");
    assert_eq!(old.blobs(), [(BlobId(1), sealed_len(10)), (BlobId(2), sealed_len(70_000))]);
    drop(snapshot);

    // Uploads keep their kind, parts their key.
    let up = UploadInfo { encryption: Some(kms.clone()), ..upload("m", "u1") };
    store.create_upload("b", up.clone()).await.expect("upload");
    assert_eq!(store.get_upload("b", "u1").await.expect("get"), Some(up.clone()));
    let sealed_part = PartInfo { key: Some(stored_key("p1")), ..part(1, BlobId(10)) };
    store.put_part("b", "u1", sealed_part.clone()).await.expect("part");
    store.put_part("b", "u1", part(2, BlobId(11))).await.expect("plain part");
    let parts = store.list_parts("b", "u1", 0, 10).await.expect("parts");
    assert_eq!(parts, [sealed_part.clone(), part(2, BlobId(11))]);
    assert_eq!(sealed_part.stored_len(), sealed_len(5));
    let page = store.list_uploads("b", &UploadListQuery { max: 10, ..Default::default() }).await.expect("list");
    assert_eq!(page.uploads, std::slice::from_ref(&up));
    let snapshot = store.snapshot().await.expect("snapshot");
    let entries = dump(&snapshot, false).await;
    assert!(entries.contains(&DumpEntry::Upload { bucket: "b".into(), upload: up }), "{entries:?}");
    let dumped = DumpEntry::Part { bucket: "b".into(), upload_id: "u1".into(), part: sealed_part };
    assert!(entries.contains(&dumped), "{entries:?}");
    assert_eq!(dumped.blobs(), [(BlobId(10), sealed_len(5))]);
    drop(snapshot);

    // An encrypted inline body must be its sealed length: the plaintext length, or no body for an
    // empty object, is refused and changes nothing.
    let plain_length = ObjectMeta { key: "bad".into(), inline: Some(bytes::Bytes::from_static(b"hello")), ..small };
    let missing = ObjectMeta { inline: None, ..empty };
    let missing = ObjectMeta { key: "bad".into(), ..missing };
    for bad in [plain_length, missing] {
        let result = store.put_object("b", bad.clone()).await;
        assert!(matches!(result, Err(StoreError::Backend(_))), "{bad:?} -> {result:?}");
    }
    assert_eq!(store.get_object("b", "bad").await.expect("get"), None);
}

/// ListMultipartUploads: order by (key, id), prefix, delimiter, key and upload-id markers, paging.
pub async fn upload_listing(store: &dyn MetaStore) {
    store.create_bucket(bucket("b")).await.expect("create");
    let uploads = [("a", "2"), ("a", "1"), ("a/b", "1"), ("a/c", "9"), ("b", "5"), ("c/d/e", "3"), ("c/d/e", "4")];
    for (key, id) in uploads {
        store.create_upload("b", upload(key, &format!("{key}#{id}"))).await.expect("create upload");
    }
    let query = |prefix: &str, delimiter: Option<&str>, key_marker: Option<&str>, id_marker: Option<&str>, max| {
        UploadListQuery {
            prefix: prefix.to_owned(),
            delimiter: delimiter.map(str::to_owned),
            key_marker: key_marker.map(str::to_owned),
            upload_id_marker: id_marker.map(str::to_owned),
            max,
        }
    };
    let ids = |page: &crate::UploadListPage| page.uploads.iter().map(|u| u.upload_id.clone()).collect::<Vec<_>>();

    let page = store.list_uploads("b", &query("", None, None, None, 100)).await.expect("list");
    assert_eq!(ids(&page), ["a#1", "a#2", "a/b#1", "a/c#9", "b#5", "c/d/e#3", "c/d/e#4"]);
    assert!(!page.is_truncated && page.prefixes.is_empty());

    let page = store.list_uploads("b", &query("", Some("/"), None, None, 100)).await.expect("list");
    assert_eq!(ids(&page), ["a#1", "a#2", "b#5"]);
    assert_eq!(page.prefixes, ["a/", "c/"]);

    let page = store.list_uploads("b", &query("c/", Some("/"), None, None, 100)).await.expect("list");
    assert!(page.uploads.is_empty());
    assert_eq!(page.prefixes, ["c/d/"]);

    // Only a key marker: keys strictly after it.
    let page = store.list_uploads("b", &query("", None, Some("a"), None, 100)).await.expect("list");
    assert_eq!(ids(&page), ["a/b#1", "a/c#9", "b#5", "c/d/e#3", "c/d/e#4"]);
    // Both markers: that key's later ids, then later keys.
    let page = store.list_uploads("b", &query("", None, Some("a"), Some("a#1"), 100)).await.expect("list");
    assert_eq!(ids(&page), ["a#2", "a/b#1", "a/c#9", "b#5", "c/d/e#3", "c/d/e#4"]);
    let page = store.list_uploads("b", &query("", None, Some("c/d/e"), Some("c/d/e#3"), 100)).await.expect("list");
    assert_eq!(ids(&page), ["c/d/e#4"]);
    // A key marker on a common prefix skips it.
    let page = store.list_uploads("b", &query("", Some("/"), Some("a/"), None, 100)).await.expect("list");
    assert_eq!(ids(&page), ["b#5"]);
    assert_eq!(page.prefixes, ["c/"]);

    // Paging.
    let page = store.list_uploads("b", &query("", None, None, None, 2)).await.expect("list");
    assert_eq!(ids(&page), ["a#1", "a#2"]);
    assert!(page.is_truncated);
    let page = store.list_uploads("b", &query("", None, Some("a"), Some("a#2"), 3)).await.expect("list");
    assert_eq!(ids(&page), ["a/b#1", "a/c#9", "b#5"]);
    assert!(page.is_truncated);
    let page = store.list_uploads("b", &query("", None, None, None, 0)).await.expect("list");
    assert!(page.uploads.is_empty() && page.prefixes.is_empty() && !page.is_truncated);

    let nob = store.list_uploads("nob", &query("", None, None, None, 1)).await;
    assert!(matches!(nob, Err(StoreError::NoSuchBucket(_))), "{nob:?}");
}

/// `referenced_blobs`: objects' segments and parts, nothing that was freed.
pub async fn referenced(store: &dyn MetaStore) {
    assert!(store.referenced_blobs().await.expect("referenced").is_empty());
    store.create_bucket(bucket("b")).await.expect("create");
    store.create_bucket(bucket("c")).await.expect("create");
    let mut multi = object("m", BlobId(1));
    multi.segments.push(Segment { blob: BlobId(2), size: 3 });
    store.put_object("b", multi).await.expect("put");
    store.put_object("c", object("o", BlobId(3))).await.expect("put");
    store.put_object("c", object("gone", BlobId(4))).await.expect("put");
    store.delete_object("c", "gone").await.expect("delete");
    store.create_upload("b", upload("u", "u1")).await.expect("upload");
    store.put_part("b", "u1", part(1, BlobId(5))).await.expect("part");
    store.put_part("b", "u1", part(2, BlobId(6))).await.expect("part");
    store.put_part("b", "u1", part(2, BlobId(7))).await.expect("part");
    let expected: HashSet<BlobId> = [1, 2, 3, 5, 7].into_iter().map(BlobId).collect();
    assert_eq!(store.referenced_blobs().await.expect("referenced"), expected);
}

/// An object's lock is replaced only while it is what the caller read; it survives reads, and an
/// upload carries the lock its object will get.
pub async fn object_locks(store: &dyn MetaStore) {
    use crate::{ObjectLock, Retention, RetentionMode};
    store.create_bucket(bucket("b")).await.expect("create");
    store.put_object("b", object("k", BlobId(1))).await.expect("put");
    let held = ObjectLock { retention: None, legal_hold: true };
    store.set_version_lock("b", "k", None, ObjectLock::default(), held).await.expect("set");
    assert_eq!(store.get_object_record("b", "k").await.expect("get").expect("some").lock, held);
    let retained = ObjectLock {
        retention: Some(Retention { mode: RetentionMode::Governance, until_ms: 1_800_000_000_000 }),
        legal_hold: true,
    };
    let stale = store.set_version_lock("b", "k", None, ObjectLock::default(), retained).await;
    assert!(matches!(stale, Err(StoreError::ConditionFailed { .. })), "{stale:?}");
    assert_eq!(
        store.get_object("b", "k").await.expect("get").expect("some").lock,
        held,
        "a stale write changes nothing"
    );
    store.set_version_lock("b", "k", None, held, retained).await.expect("set");
    assert_eq!(store.get_object("b", "k").await.expect("get").expect("some").lock, retained);
    let missing = store.set_version_lock("b", "nope", None, ObjectLock::default(), held).await;
    assert!(matches!(missing, Err(StoreError::NoSuchKey { .. })), "{missing:?}");
    let nob = store.set_version_lock("nob", "k", None, ObjectLock::default(), held).await;
    assert!(matches!(nob, Err(StoreError::NoSuchBucket(_))), "{nob:?}");

    // A version other than the current one is locked by its id, and only it.
    let (old_id, new_id) = (crate::versions::new_version_id(), crate::versions::new_version_id());
    store.put_object("b", ObjectMeta { version_id: old_id.clone(), ..object("v", BlobId(7)) }).await.expect("v1");
    store.put_object("b", ObjectMeta { version_id: new_id.clone(), ..object("v", BlobId(8)) }).await.expect("v2");
    store.set_version_lock("b", "v", Some(&old_id), ObjectLock::default(), retained).await.expect("lock v1");
    let old = store.get_version("b", "v", Some(&old_id), false).await.expect("get").expect("v1");
    assert_eq!((old.object.lock, old.current), (retained, false));
    assert_eq!(store.get_object_record("b", "v").await.expect("get").expect("v2").lock, ObjectLock::default());
    let unknown = crate::versions::new_version_id();
    let missing = store.set_version_lock("b", "v", Some(&unknown), ObjectLock::default(), held).await;
    assert!(matches!(missing, Err(StoreError::NoSuchVersion { .. })), "{missing:?}");

    let mut locked_upload = upload("u", "u1");
    locked_upload.lock = retained;
    store.create_upload("b", locked_upload.clone()).await.expect("upload");
    assert_eq!(store.get_upload("b", "u1").await.expect("get"), Some(locked_upload));
    store.put_part("b", "u1", part(1, BlobId(2))).await.expect("part");
    let mut completed = object("u", BlobId(2));
    completed.lock = retained;
    store.complete_upload("b", "u1", completed).await.expect("complete");
    assert_eq!(store.get_object_record("b", "u").await.expect("get").expect("some").lock, retained);

    // The store judges the lock again in the removal's own transaction: a lock set after the caller's
    // check still refuses it, and a refused removal removes nothing.
    use crate::{Bypass, LockRefusal};
    let now = 1_700_000_000_000;
    let refused = |r: StoreResult<Option<ObjectMeta>>, want: LockRefusal| {
        assert!(matches!(r, Err(StoreError::Locked { refusal, .. }) if refusal == want), "{r:?}");
    };
    refused(store.delete_version("b", "v", &old_id, RemovalGuard::at(now)).await, LockRefusal::LegalHold);
    let governance = ObjectLock { legal_hold: false, ..retained };
    store.set_version_lock("b", "v", Some(&old_id), retained, governance).await.expect("release the hold");
    refused(store.delete_version("b", "v", &old_id, RemovalGuard::at(now)).await, LockRefusal::Governance);
    let asked_only = RemovalGuard { now_ms: now, bypass: Bypass { requested: true, permitted: false } };
    refused(store.delete_version("b", "v", &old_id, asked_only).await, LockRefusal::Governance);
    assert!(store.get_version("b", "v", Some(&old_id), false).await.expect("get").is_some(), "still there");
    let compliance = ObjectLock {
        retention: Some(Retention { mode: RetentionMode::Compliance, until_ms: now + 1 }),
        legal_hold: false,
    };
    store.set_version_lock("b", "v", Some(&new_id), ObjectLock::default(), compliance).await.expect("lock v2");
    let bypass = RemovalGuard { now_ms: now, bypass: Bypass { requested: true, permitted: true } };
    refused(store.delete_version("b", "v", &new_id, bypass).await, LockRefusal::Compliance);
    let removed = store.delete_version("b", "v", &old_id, bypass).await.expect("governance gives way");
    assert_eq!(removed.map(|r| r.version_id), Some(old_id));
    let after_date = store.delete_version("b", "v", &new_id, RemovalGuard::at(now + 2)).await.expect("expired");
    assert_eq!(after_date.map(|r| r.version_id), Some(new_id));
    let hold = ObjectLock { retention: None, legal_hold: true };
    let current = store.get_object_record("b", "k").await.expect("get").expect("k");
    store.set_version_lock("b", "k", None, current.lock, hold).await.expect("hold");
    refused(store.delete_version("b", "k", &current.version_id, bypass).await, LockRefusal::LegalHold);
    assert!(store.get_object_record("b", "k").await.expect("get").is_some(), "a held version stays");

    // A `null` write replaces the key's `null` version only if that version's lock allows its
    // removal, judged in the write's own transaction: a lock set while a slow body arrived refuses it,
    // whether the `null` version is current or already noncurrent, and a `null` delete marker too.
    let held_null = |r: StoreResult<Vec<BlobId>>| {
        assert!(matches!(r, Err(StoreError::Locked { refusal: LockRefusal::LegalHold, .. })), "{r:?}");
    };
    let always = WriteCondition::Always;
    held_null(store.put_object_if("b", object("k", BlobId(30)), &always).await);
    held_null(store.put_object_if("b", marker("k", 20, true), &always).await);
    store.put_object_if("b", version("k", BlobId(31), 21), &always).await.expect("a new version removes nothing");
    held_null(store.put_object_if("b", object("k", BlobId(32)), &always).await);
    let null = store.get_version("b", "k", Some("null"), false).await.expect("get").expect("the null version");
    assert_eq!((null.object.segments[0].blob, null.object.lock), (BlobId(1), hold), "untouched");
}

/// Bucket settings replace whole and survive; records are grouped by kind, ordered by id, replaced
/// and removed.
pub async fn settings_and_records(store: &dyn MetaStore) {
    let settings = BucketSettings {
        policy: Some("{}".into()),
        public_access_block: Some(PublicAccessBlock { block_public_policy: true, ..Default::default() }),
        tags: Tags::from([("team".to_owned(), "blue".to_owned()), ("cost centre".to_owned(), String::new())]),
        ownership_controls_removed: true,
        accelerate_suspended: true,
        cors: Some(CorsConfig {
            rules: vec![CorsRule {
                id: Some("uploads".into()),
                allowed_origins: vec!["https://*.example.com".into()],
                allowed_methods: vec!["PUT".into(), "POST".into()],
                allowed_headers: vec!["*".into()],
                expose_headers: vec!["ETag".into()],
                max_age_seconds: Some(600),
            }],
        }),
        lifecycle: Some(crate::lifecycle::LifecycleConfig {
            rules: vec![crate::lifecycle::LifecycleRule {
                id: "r".into(),
                enabled: true,
                filter: crate::lifecycle::RuleFilter::Filter(crate::lifecycle::FilterPredicate::And(
                    crate::lifecycle::AndPredicate {
                        prefix: Some("logs/".into()),
                        tags: vec![("k".into(), "v".into())],
                        size_greater_than: Some(1),
                        size_less_than: None,
                    },
                )),
                expiration: Some(crate::lifecycle::Expiration::Days(3)),
                noncurrent_expiration: None,
                abort_incomplete_upload_days: Some(2),
            }],
        }),
        versioning: Some(crate::Versioning::Suspended),
        object_lock: Some(crate::ObjectLockSettings {
            default_retention: Some(crate::DefaultRetention {
                mode: crate::RetentionMode::Compliance,
                period: crate::RetentionPeriod::Years(2),
            }),
        }),
        encryption: Some(crate::BucketEncryption {
            algorithm: "aws:kms".into(),
            kms_key_id: Some("alias/gitlab".into()),
            bucket_key_enabled: true,
        }),
    };
    let unset = BucketSettings::default();
    let missing = store.set_bucket_settings("nob", &unset, settings.clone()).await;
    assert!(matches!(missing, Err(StoreError::NoSuchBucket(_))), "{missing:?}");
    store.create_bucket(bucket("b")).await.expect("create");
    store.set_bucket_settings("b", &unset, settings.clone()).await.expect("settings");
    let got = store.get_bucket("b").await.expect("get").expect("exists");
    assert_eq!(got.settings, settings);
    // A change decided on settings read before this one is refused and writes nothing.
    let stale = store.set_bucket_settings("b", &unset, BucketSettings::default()).await;
    assert!(matches!(stale, Err(StoreError::ConditionFailed { .. })), "{stale:?}");
    assert_eq!(store.get_bucket("b").await.expect("get").expect("exists").settings, settings);

    store.put_record("user", "bob", b"1".to_vec()).await.expect("put");
    store.put_record("user", "alice", b"2".to_vec()).await.expect("put");
    store.put_record("users", "x", b"3".to_vec()).await.expect("put");
    store.put_record("policy", "p", b"4".to_vec()).await.expect("put");
    store.put_record("user", "bob", b"5".to_vec()).await.expect("replace");
    let users = store.list_records("user").await.expect("list");
    assert_eq!(users, [("alice".to_owned(), b"2".to_vec()), ("bob".to_owned(), b"5".to_vec())]);
    assert_eq!(store.get_record("user", "bob").await.expect("get"), Some(b"5".to_vec()));
    assert_eq!(store.get_record("users", "bob").await.expect("get"), None);
    assert!(store.delete_record("user", "bob").await.expect("delete"));
    assert_eq!(store.get_record("user", "bob").await.expect("get"), None);
    assert!(!store.delete_record("user", "bob").await.expect("delete again"));
    assert_eq!(store.list_records("user").await.expect("list").len(), 1);
    assert!(store.list_records("nothing").await.expect("list").is_empty());
}

/// Every entry of a snapshot, read to the end.
pub async fn dump(snapshot: &Arc<dyn MetaSnapshot>, bodies: bool) -> Vec<DumpEntry> {
    let mut entries = Arc::clone(snapshot).entries(bodies);
    let mut out = Vec::new();
    while let Some(entry) = entries.next().await {
        out.push(entry.expect("dump entry"));
    }
    out
}

/// `snapshot`: every bucket, object (with its inline body when asked), upload, part and record as of
/// one moment, in dump order; later writes do not change it, and it reads the same every time.
pub async fn snapshot(store: &dyn MetaStore) {
    let empty = store.snapshot().await.expect("snapshot of an empty store");
    assert!(dump(&empty, true).await.is_empty());

    store.create_bucket(bucket("b")).await.expect("create");
    store.create_bucket(bucket("a")).await.expect("create");
    let mut multi = object("k1", BlobId(1));
    multi.segments.push(Segment { blob: BlobId(4), size: 3 });
    multi.size = 13;
    store.put_object("b", multi.clone()).await.expect("put");
    store.put_object("b", inline_object("small", b"tiny body")).await.expect("put inline");
    store.put_object("b", inline_object("empty", b"")).await.expect("put empty");
    store.put_object("a", object("x", BlobId(5))).await.expect("put");
    store.create_upload("b", upload("u", "u1")).await.expect("upload");
    store.put_part("b", "u1", part(2, BlobId(2))).await.expect("part");
    store.put_part("b", "u1", part(1, BlobId(3))).await.expect("part");
    store.put_record("user", "bob", b"1".to_vec()).await.expect("record");
    store.put_record("policy", "p", b"2".to_vec()).await.expect("record");

    let snap = store.snapshot().await.expect("snapshot");
    // Writes after the snapshot: none of them shows in it.
    store.delete_object("b", "k1").await.expect("delete");
    store.put_object("b", inline_object("small", b"replaced")).await.expect("overwrite");
    store.put_object("a", object("later", BlobId(9))).await.expect("put");
    store.complete_upload("b", "u1", object("u", BlobId(3))).await.expect("complete");
    store.put_record("user", "carol", b"3".to_vec()).await.expect("record");
    store.delete_record("policy", "p").await.expect("delete record");
    let settings = BucketSettings { policy: Some("{}".into()), ..Default::default() };
    let before = store.get_bucket("a").await.expect("get").expect("a").settings;
    store.set_bucket_settings("a", &before, settings).await.expect("settings");
    store.create_bucket(bucket("c")).await.expect("create");

    let object_entry = |b: &str, o: ObjectMeta| DumpEntry::Object { bucket: b.into(), object: o };
    let expected = vec![
        DumpEntry::Bucket(bucket("a")),
        DumpEntry::Bucket(bucket("b")),
        object_entry("a", object("x", BlobId(5))),
        object_entry("b", inline_object("empty", b"")),
        object_entry("b", multi),
        object_entry("b", inline_object("small", b"tiny body")),
        DumpEntry::Upload { bucket: "b".into(), upload: upload("u", "u1") },
        DumpEntry::Part { bucket: "b".into(), upload_id: "u1".into(), part: part(1, BlobId(3)) },
        DumpEntry::Part { bucket: "b".into(), upload_id: "u1".into(), part: part(2, BlobId(2)) },
        DumpEntry::Record { kind: "policy".into(), id: "p".into(), value: b"2".to_vec() },
        DumpEntry::Record { kind: "user".into(), id: "bob".into(), value: b"1".to_vec() },
    ];
    assert_eq!(dump(&snap, true).await, expected, "with bodies");
    assert_eq!(dump(&snap, true).await, expected, "read twice");
    let without: Vec<DumpEntry> = expected
        .iter()
        .cloned()
        .map(|entry| match entry {
            DumpEntry::Object { bucket, object } => {
                DumpEntry::Object { bucket, object: ObjectMeta { inline: None, ..object } }
            }
            other => other,
        })
        .collect();
    assert_eq!(dump(&snap, false).await, without, "without bodies");
    let referenced: HashSet<(BlobId, u64)> = expected.iter().flat_map(DumpEntry::blobs).collect();
    let expected_blobs: HashSet<(BlobId, u64)> =
        [(BlobId(1), 10), (BlobId(4), 3), (BlobId(5), 10), (BlobId(3), 5), (BlobId(2), 5)].into();
    assert_eq!(referenced, expected_blobs);
}

/// A version id made at `n` µs after the fixtures' time: larger `n` is newer (sorts first).
pub fn version_id(n: u64) -> String {
    format!("{:016x}{:016x}", u64::MAX - (1_700_000_000_000_000 + 1_000 + n), n)
}

/// `object(key, blob)` as version `version_id(n)`.
pub fn version(key: &str, blob: BlobId, n: u64) -> ObjectMeta {
    ObjectMeta { version_id: version_id(n), ..object(key, blob) }
}

/// A delete marker with id `version_id(n)` (`None`: the `null` marker a suspended bucket writes, at
/// order `version_id(n)`).
pub fn marker(key: &str, n: u64, null: bool) -> ObjectMeta {
    let id = version_id(n);
    ObjectMeta {
        size: 0,
        etag: String::new(),
        segments: Vec::new(),
        delete_marker: true,
        version_id: if null { crate::versions::NULL.into() } else { id.clone() },
        order: if null { id } else { String::new() },
        ..object(key, BlobId(0))
    }
}

/// Every version of a bucket, listed in pages of `max`, as (key, version id, is latest, marker).
pub async fn all_versions(store: &dyn MetaStore, bucket: &str, max: usize) -> Vec<(String, String, bool, bool)> {
    let mut out = Vec::new();
    let mut query = VersionListQuery { max, ..Default::default() };
    loop {
        let page = store.list_versions(bucket, &query).await.expect("list versions");
        assert!(page.entries.len() <= max);
        for entry in &page.entries {
            match entry {
                VersionEntry::Version { object, is_latest } => {
                    assert!(object.inline.is_none(), "listings carry no body");
                    out.push((object.key.clone(), object.version_id.clone(), *is_latest, object.delete_marker));
                }
                VersionEntry::Prefix(p) => panic!("no delimiter, yet a prefix {p:?}"),
            }
        }
        if !page.is_truncated {
            return out;
        }
        let Some(VersionEntry::Version { object, .. }) = page.entries.last() else { panic!("a truncated empty page") };
        query.key_marker = Some(object.key.clone());
        query.version_id_marker = Some(object.version_id.clone());
    }
}

/// Versioning: versions kept by new ids, the `null` version replaced (its blobs returned), delete
/// markers hiding a key, reads and tags by version, permanent deletes that bring the next version back,
/// ListObjectVersions order and pages (across markers and `null`), plain listings showing current
/// objects only, a bucket with only versions not empty, and every version referenced and dumped.
pub async fn versioning(store: &dyn MetaStore) {
    let null = crate::versions::NULL;
    store.create_bucket(bucket("v")).await.expect("create");
    // A null version written before versioning, then versions 1..3 (3 inline) and a marker 4.
    assert!(store.put_object("v", object("k", BlobId(1))).await.expect("put null").is_empty());
    assert!(store.put_object("v", version("k", BlobId(2), 1)).await.expect("put v1").is_empty());
    assert!(store.put_object("v", version("k", BlobId(3), 2)).await.expect("put v2").is_empty());
    let v3 = ObjectMeta { version_id: version_id(3), ..inline_object("k", b"third body") };
    assert!(store.put_object("v", v3.clone()).await.expect("put v3").is_empty());
    assert_eq!(store.get_object("v", "k").await.expect("get"), Some(v3.clone()));
    assert!(store.put_object("v", marker("k", 4, false)).await.expect("marker").is_empty());
    store.put_object("v", object("j", BlobId(9))).await.expect("put j");

    // The key is hidden; its latest version is the marker; older versions read by id, with bodies.
    assert_eq!(store.get_object("v", "k").await.expect("get"), None);
    assert_eq!(store.get_object_record("v", "k").await.expect("get"), None);
    let latest = store.get_version("v", "k", None, false).await.expect("latest").expect("a marker");
    assert!(latest.object.delete_marker && !latest.current);
    assert_eq!(latest.object.version_id, version_id(4));
    let old = store.get_version("v", "k", Some(&version_id(3)), true).await.expect("v3").expect("v3 kept");
    assert_eq!((old.object.clone(), old.current), (v3.clone(), false));
    let old = store.get_version("v", "k", Some(&version_id(3)), false).await.expect("v3").expect("v3 kept");
    assert_eq!(old.object.inline, None, "a record read has no body");
    let first = store.get_version("v", "k", Some(null), false).await.expect("null").expect("null kept");
    assert_eq!(first.object, object("k", BlobId(1)));
    assert_eq!(store.get_version("v", "k", Some(&version_id(77)), false).await.expect("absent"), None);
    assert_eq!(store.get_version("v", "nope", None, false).await.expect("absent"), None);
    let nob = store.get_version("nob", "k", None, false).await;
    assert!(matches!(nob, Err(StoreError::NoSuchBucket(_))), "{nob:?}");

    // Listing: current objects only; versions newest first, markers interleaved, one latest per key.
    let page = store.list_objects("v", &ListQuery { max: 100, ..Default::default() }).await.expect("list");
    let keys: Vec<&str> = page.entries.iter().map(ListEntry::name).collect();
    assert_eq!(keys, ["j"]);
    let expected = vec![
        ("j".to_owned(), null.to_owned(), true, false),
        ("k".to_owned(), version_id(4), true, true),
        ("k".to_owned(), version_id(3), false, false),
        ("k".to_owned(), version_id(2), false, false),
        ("k".to_owned(), version_id(1), false, false),
        ("k".to_owned(), null.to_owned(), false, false),
    ];
    for max in [1, 2, 3, 100] {
        assert_eq!(all_versions(store, "v", max).await, expected, "pages of {max}");
    }
    // A key marker alone starts after the key; with a version marker, after that version.
    let after_k = VersionListQuery { key_marker: Some("j".into()), max: 100, ..Default::default() };
    assert_eq!(store.list_versions("v", &after_k).await.expect("list").entries.len(), 5);
    let gone = VersionListQuery {
        key_marker: Some("k".into()),
        version_id_marker: Some(version_id(3)),
        max: 100,
        ..Default::default()
    };
    assert_eq!(store.list_versions("v", &gone).await.expect("list").entries.len(), 3);
    // Prefix and delimiter.
    store.put_object("v", version("d/x", BlobId(10), 5)).await.expect("put d/x");
    store.put_object("v", marker("d/x", 6, false)).await.expect("marker d/x");
    let grouped = VersionListQuery { delimiter: Some("/".into()), max: 100, ..Default::default() };
    let page = store.list_versions("v", &grouped).await.expect("list");
    assert_eq!(page.entries.first(), Some(&VersionEntry::Prefix("d/".into())));
    assert_eq!(page.entries.len(), 7);
    let under = VersionListQuery { prefix: "d/".into(), max: 100, ..Default::default() };
    assert_eq!(store.list_versions("v", &under).await.expect("list").entries.len(), 2);

    // Everything any version references is referenced.
    let referenced = store.referenced_blobs().await.expect("referenced");
    for blob in [1, 2, 3, 9, 10] {
        assert!(referenced.contains(&BlobId(blob)), "blob {blob}");
    }

    // Tags by version; a marker or a missing version has none to set.
    let tags: Tags = [("t".to_owned(), "2".to_owned())].into();
    store.set_version_tags("v", "k", Some(&version_id(2)), tags.clone()).await.expect("tag v2");
    let v2 = store.get_version("v", "k", Some(&version_id(2)), false).await.expect("v2").expect("v2");
    assert_eq!(v2.object.tags, tags);
    let missing = store.set_version_tags("v", "k", Some(&version_id(77)), tags.clone()).await;
    assert!(matches!(missing, Err(StoreError::NoSuchVersion { .. })), "{missing:?}");
    let on_marker = store.set_version_tags("v", "k", Some(&version_id(4)), tags.clone()).await;
    assert!(matches!(on_marker, Err(StoreError::NoSuchKey { .. })), "{on_marker:?}");
    let hidden = store.set_object_tags("v", "k", tags.clone()).await;
    assert!(matches!(hidden, Err(StoreError::NoSuchKey { .. })), "{hidden:?}");

    // Conditions see a current marker as no object.
    let absent = store.put_object_if("v", version("k", BlobId(11), 7), &WriteCondition::IfEtag("x".into())).await;
    assert!(matches!(absent, Err(StoreError::NoSuchKey { .. })), "{absent:?}");
    assert_eq!(all_versions(store, "v", 100).await.len(), 8, "a refused write adds nothing");

    // Deleting the marker permanently brings version 3 back, body and all.
    let removed = store
        .delete_version("v", "k", &version_id(4), RemovalGuard::at(0))
        .await
        .expect("delete marker")
        .expect("marker");
    assert!(removed.delete_marker && removed.blobs().is_empty());
    assert_eq!(store.get_object("v", "k").await.expect("get"), Some(v3.clone()));
    let exists = store.put_object_if("v", version("k", BlobId(11), 7), &WriteCondition::IfAbsent).await;
    assert!(matches!(exists, Err(StoreError::ConditionFailed { .. })), "{exists:?}");

    // Suspended: a null write replaces the (noncurrent) null version and returns its blobs only.
    let null_write = ObjectMeta { order: version_id(8), ..object("k", BlobId(5)) };
    assert_eq!(store.put_object("v", null_write.clone()).await.expect("put null"), [BlobId(1)]);
    assert_eq!(store.get_object("v", "k").await.expect("get"), Some(null_write.clone()));
    let k_versions = |all: Vec<(String, String, bool, bool)>| -> Vec<String> {
        all.into_iter().filter(|v| v.0 == "k").map(|v| v.1).collect()
    };
    let ids = vec![null.to_owned(), version_id(3), version_id(2), version_id(1)];
    assert_eq!(k_versions(all_versions(store, "v", 2).await), ids);
    // A null marker replaces the current null version, hiding the key.
    assert_eq!(store.put_object("v", marker("k", 9, true)).await.expect("null marker"), [BlobId(5)]);
    assert_eq!(store.get_object("v", "k").await.expect("get"), None);
    assert_eq!(k_versions(all_versions(store, "v", 1).await), ids, "the marker took the null version's place");
    let null_marker = store.get_version("v", "k", Some(null), false).await.expect("null").expect("marker");
    assert!(null_marker.object.delete_marker);
    // Pages that end on the null marker continue after it.
    let after_null = VersionListQuery {
        key_marker: Some("k".into()),
        version_id_marker: Some(null.into()),
        max: 100,
        ..Default::default()
    };
    assert_eq!(store.list_versions("v", &after_null).await.expect("list").entries.len(), 3);

    // Permanent deletes return exactly the version (its blobs to reclaim); unknown ids return nothing.
    let v2 = store.delete_version("v", "k", &version_id(2), RemovalGuard::at(0)).await.expect("delete v2").expect("v2");
    assert_eq!(v2.blobs(), [BlobId(3)]);
    assert_eq!(store.delete_version("v", "k", &version_id(2), RemovalGuard::at(0)).await.expect("again"), None);
    assert!(!store.referenced_blobs().await.expect("referenced").contains(&BlobId(3)));

    // A bucket with versions only is not empty; without any it can go.
    store.delete_object("v", "j").await.expect("delete j");
    for (key, id) in [("k", null.to_owned()), ("k", version_id(3)), ("k", version_id(1))] {
        let result = store.delete_bucket("v").await;
        assert!(matches!(result, Err(StoreError::BucketNotEmpty(_))), "{result:?}");
        store.delete_version("v", key, &id, RemovalGuard::at(0)).await.expect("delete").expect("there");
    }
    // Deleting the marker over d/x brings d/x back; then both go.
    store.delete_version("v", "d/x", &version_id(6), RemovalGuard::at(0)).await.expect("delete").expect("marker");
    assert_eq!(store.get_object("v", "d/x").await.expect("get"), Some(version("d/x", BlobId(10), 5)));
    assert!(store.delete_object("v", "d/x").await.expect("delete").is_some());
    assert!(all_versions(store, "v", 10).await.is_empty());
    store.delete_bucket("v").await.expect("an empty bucket goes");
}

/// Versions in a dump: noncurrent versions and markers (with inline bodies) as `Version` entries after
/// every `Object`, restored by `put_noncurrent` to the same listing.
pub async fn version_dump(store: &dyn MetaStore) {
    store.create_bucket(bucket("v")).await.expect("create");
    store.put_object("v", object("k", BlobId(1))).await.expect("null");
    let small = ObjectMeta { version_id: version_id(1), ..inline_object("k", b"small") };
    store.put_object("v", small.clone()).await.expect("v1");
    store.put_object("v", version("k", BlobId(2), 2)).await.expect("v2");
    store.put_object("v", marker("m", 3, false)).await.expect("marker");
    let snap = store.snapshot().await.expect("snapshot");
    let entries = dump(&snap, true).await;
    let version_entry = |o: ObjectMeta| DumpEntry::Version { bucket: "v".into(), object: o };
    assert_eq!(
        entries,
        vec![
            DumpEntry::Bucket(bucket("v")),
            DumpEntry::Object { bucket: "v".into(), object: version("k", BlobId(2), 2) },
            version_entry(small.clone()),
            version_entry(object("k", BlobId(1))),
            version_entry(marker("m", 3, false)),
        ]
    );
    let without = dump(&snap, false).await;
    assert_eq!(without[2], version_entry(ObjectMeta { inline: None, ..small.clone() }));

    // Written back into an empty store, the versions list and read the same.
    let copy = crate::memory::MemoryMetaStore::new();
    for entry in entries {
        match entry {
            DumpEntry::Bucket(info) => copy.create_bucket(info).await.expect("bucket"),
            DumpEntry::Object { bucket, object } => drop(copy.put_object(&bucket, object).await.expect("object")),
            DumpEntry::Version { bucket, object } => copy.put_noncurrent(&bucket, object).await.expect("version"),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(all_versions(&copy, "v", 100).await, all_versions(store, "v", 100).await);
    let read = copy.get_version("v", "k", Some(&version_id(1)), true).await.expect("v1").expect("v1");
    assert_eq!(read.object, small);
}

/// Conditional writes: create-if-absent and replace-if-ETag, for puts and completes, decided in the
/// write's transaction (of 16 concurrent creators exactly one wins).
pub async fn conditional_writes(store: Arc<dyn MetaStore>) {
    store.create_bucket(bucket("b")).await.expect("create");
    let absent = WriteCondition::IfAbsent;
    store.put_object_if("b", object("k", BlobId(1)), &absent).await.expect("first create");
    let again = store.put_object_if("b", object("k", BlobId(2)), &absent).await;
    assert!(matches!(again, Err(StoreError::ConditionFailed { .. })), "{again:?}");
    let etag = store.get_object("b", "k").await.expect("get").expect("exists").etag;
    let wrong = store.put_object_if("b", object("k", BlobId(3)), &WriteCondition::IfEtag("\"nope\"".into())).await;
    assert!(matches!(wrong, Err(StoreError::ConditionFailed { .. })), "{wrong:?}");
    let quoted = WriteCondition::IfEtag(format!("\"{}\"", etag.trim_matches('"')));
    assert_eq!(store.put_object_if("b", object("k", BlobId(4)), &quoted).await.expect("match"), [BlobId(1)]);
    let missing = store.put_object_if("b", object("none", BlobId(5)), &quoted).await;
    assert!(matches!(missing, Err(StoreError::NoSuchKey { .. })), "{missing:?}");

    store.create_upload("b", upload("k", "u1")).await.expect("upload");
    store.put_part("b", "u1", part(1, BlobId(6))).await.expect("part");
    let refused = store.complete_upload_if("b", "u1", object("k", BlobId(6)), &absent).await;
    assert!(matches!(refused, Err(StoreError::ConditionFailed { .. })), "{refused:?}");
    assert!(store.get_upload("b", "u1").await.expect("get").is_some(), "a refused complete leaves the upload");

    let racers = (0..16u128).map(|i| {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            store.put_object_if("b", object("race", BlobId(100 + i)), &WriteCondition::IfAbsent).await
        })
    });
    let wins = join_all(racers).await.into_iter().filter(|r| matches!(r, Ok(Ok(_)))).count();
    assert_eq!(wins, 1, "exactly one creator wins");
}

/// Conditional deletes: `IfUnchanged` removes the object only while it is the one read (same ETag and
/// Last-Modified), decided in the delete's transaction; a failed condition removes nothing.
pub async fn conditional_deletes(store: &dyn MetaStore) {
    store.create_bucket(bucket("b")).await.expect("create");
    store.put_object("b", object("k", BlobId(1))).await.expect("put");
    let seen = store.get_object_record("b", "k").await.expect("get").expect("exists");
    let unchanged = WriteCondition::IfUnchanged { etag: seen.etag.clone(), last_modified_ms: seen.last_modified_ms };
    // Overwritten with the same ETag but a later Last-Modified: the condition fails.
    let newer = ObjectMeta { last_modified_ms: seen.last_modified_ms + 1, ..object("k", BlobId(2)) };
    let newer = ObjectMeta { etag: seen.etag.clone(), ..newer };
    store.put_object("b", newer.clone()).await.expect("overwrite");
    let refused = store.delete_object_if("b", "k", &unchanged).await;
    assert!(matches!(refused, Err(StoreError::ConditionFailed { .. })), "{refused:?}");
    assert_eq!(store.get_object_record("b", "k").await.expect("get"), Some(newer.clone()), "nothing removed");
    let now = WriteCondition::IfUnchanged { etag: newer.etag.clone(), last_modified_ms: newer.last_modified_ms };
    let removed = store.delete_object_if("b", "k", &now).await.expect("delete").expect("removed");
    assert_eq!(removed.blobs(), [BlobId(2)]);
    let gone = store.delete_object_if("b", "k", &now).await;
    assert!(matches!(gone, Err(StoreError::NoSuchKey { .. })), "{gone:?}");
    assert_eq!(store.delete_object_if("b", "k", &WriteCondition::Always).await.expect("absent"), None);
    let missing = store.delete_object_if("nob", "k", &now).await;
    assert!(matches!(missing, Err(StoreError::NoSuchBucket(_))), "{missing:?}");
}

/// 16 concurrent writers on one key and 16 on different keys: all succeed, the final object is one of
/// those written, and every replaced blob is handed back exactly once.
pub async fn concurrent_puts(store: Arc<dyn MetaStore>) {
    store.create_bucket(bucket("b")).await.expect("create");
    let tasks = (1..=16u128).map(|i| {
        let store = Arc::clone(&store);
        tokio::spawn(async move { store.put_object("b", object("same", BlobId(i))).await })
    });
    let mut freed = Vec::new();
    for result in join_all(tasks).await {
        freed.extend(result.expect("task").expect("put"));
    }
    let last = store.get_object("b", "same").await.expect("get").expect("written");
    assert!((1..=16u128).any(|i| last == object("same", BlobId(i))), "{last:?}");
    freed.extend(last.blobs());
    assert_eq!(sorted(freed), (1..=16u128).map(BlobId).collect::<Vec<_>>());

    let tasks = (1..=16u128).map(|i| {
        let store = Arc::clone(&store);
        tokio::spawn(async move { store.put_object("b", object(&format!("k{i:02}"), BlobId(100 + i))).await })
    });
    for result in join_all(tasks).await {
        assert!(result.expect("task").expect("put").is_empty());
    }
    // A failing request in the same batch as successful ones fails alone.
    let tasks = (0..8u128).map(|i| {
        let store = Arc::clone(&store);
        let target = if i % 2 == 0 { "b" } else { "nob" };
        tokio::spawn(async move { (i, store.put_object(target, object("mixed", BlobId(200 + i))).await) })
    });
    for result in join_all(tasks).await {
        let (i, result) = result.expect("task");
        if i % 2 == 0 {
            result.expect("put in an existing bucket");
        } else {
            assert!(matches!(result, Err(StoreError::NoSuchBucket(_))), "{result:?}");
        }
    }
    let page = store.list_objects("b", &ListQuery { max: 100, ..Default::default() }).await.expect("list");
    assert_eq!(page.entries.len(), 18);
}

/// The reclaim queue: only due ids are taken, earliest first, at most `max`, each once; an id queued
/// twice is queued once, at the later time; the queue is not part of a snapshot.
pub async fn reclaim_queue(store: &dyn MetaStore) {
    assert!(store.take_due_reclaims(i64::MAX, 10).await.expect("take").is_empty(), "empty at first");
    store.enqueue_reclaims(&[BlobId(3), BlobId(1)], 1_000).await.expect("enqueue");
    store.enqueue_reclaims(&[BlobId(2)], 500).await.expect("enqueue");
    store.enqueue_reclaims(&[BlobId(4)], 2_000).await.expect("enqueue");
    store.enqueue_reclaims(&[], 0).await.expect("nothing to enqueue");
    assert!(store.take_due_reclaims(499, 10).await.expect("take").is_empty(), "nothing due yet");
    assert_eq!(store.take_due_reclaims(1_000, 0).await.expect("take"), [], "max 0 takes nothing");
    assert_eq!(store.take_due_reclaims(1_000, 2).await.expect("take"), [BlobId(2), BlobId(1)], "earliest first, max");
    assert_eq!(store.take_due_reclaims(1_000, 10).await.expect("take"), [BlobId(3)], "the rest of what is due");
    assert!(store.take_due_reclaims(1_999, 10).await.expect("take").is_empty(), "taken ids are gone");
    assert_eq!(store.take_due_reclaims(2_000, 10).await.expect("take"), [BlobId(4)], "due at exactly now");

    // Queued twice: once, at the later time, whichever order the two come in.
    store.enqueue_reclaims(&[BlobId(5)], 3_000).await.expect("enqueue");
    store.enqueue_reclaims(&[BlobId(5), BlobId(6)], 4_000).await.expect("enqueue later");
    store.enqueue_reclaims(&[BlobId(6)], 3_500).await.expect("enqueue earlier");
    assert!(store.take_due_reclaims(3_999, 10).await.expect("take").is_empty(), "the later time holds");
    assert_eq!(sorted(store.take_due_reclaims(4_000, 10).await.expect("take")), [BlobId(5), BlobId(6)]);
    assert!(store.take_due_reclaims(i64::MAX, 10).await.expect("take").is_empty(), "each taken once");

    // Not data: a snapshot leaves queued ids out.
    store.enqueue_reclaims(&[BlobId(7)], 0).await.expect("enqueue");
    let snapshot = store.snapshot().await.expect("snapshot");
    assert!(dump(&snapshot, true).await.is_empty(), "an empty store with a queued reclaim dumps nothing");
    drop(snapshot);
    assert_eq!(store.take_due_reclaims(0, 10).await.expect("take"), [BlobId(7)]);
}

/// 8 takers at once (of one store, or of several stores on one database) drain a queue of 400 due ids:
/// every id is taken, and by one taker only.
pub async fn concurrent_reclaim_takers(stores: &[Arc<dyn MetaStore>]) {
    let ids: Vec<BlobId> = (1..=400u128).map(BlobId).collect();
    stores[0].enqueue_reclaims(&ids[..200], 10).await.expect("enqueue");
    stores[stores.len() - 1].enqueue_reclaims(&ids[200..], 20).await.expect("enqueue");
    let takers = (0..8usize).map(|i| {
        let store = Arc::clone(&stores[i % stores.len()]);
        tokio::spawn(async move {
            let mut taken = Vec::new();
            loop {
                let batch = store.take_due_reclaims(100, 7).await.expect("take");
                if batch.is_empty() {
                    return taken;
                }
                assert!(batch.len() <= 7, "{batch:?}");
                taken.extend(batch);
            }
        })
    });
    let mut taken = Vec::new();
    for result in join_all(takers).await {
        taken.extend(result.expect("taker"));
    }
    assert_eq!(sorted(taken), ids, "every id taken exactly once");
}

/// The expected listing, computed by brute force from the sorted key list (not truncated at `max`):
/// entry names and whether each is a common prefix.
pub fn model_listing(keys: &[String], query: &ListQuery) -> Vec<(String, bool)> {
    let mut keys = keys.to_vec();
    keys.sort();
    keys.dedup();
    let delimiter = query.delimiter.as_deref().filter(|d| !d.is_empty());
    let mut out: Vec<(String, bool)> = Vec::new();
    for key in &keys {
        let Some(rest) = key.strip_prefix(query.prefix.as_str()) else {
            continue;
        };
        let entry = match delimiter.and_then(|d| rest.find(d).map(|at| at + d.len())) {
            Some(end) => (format!("{}{}", query.prefix, &rest[..end]), true),
            None => (key.clone(), false),
        };
        if query.start_after.as_ref().is_some_and(|after| entry.0 <= *after) {
            continue;
        }
        if out.last() != Some(&entry) {
            out.push(entry);
        }
    }
    out
}

/// Pages through `query` (its `max` is the page size, > 0) until not truncated, and checks the pages
/// against [`model_listing`] over the bucket's keys.
pub async fn compare_listing_with_model(store: &dyn MetaStore, bucket: &str, query: &ListQuery) {
    assert!(query.max > 0);
    let everything = ListQuery { max: usize::MAX, ..Default::default() };
    let all = store.list_objects(bucket, &everything).await.expect("list all");
    let keys: Vec<String> = all.entries.iter().map(|e| e.name().to_owned()).collect();
    let expected = model_listing(&keys, query);

    let mut got: Vec<(String, bool)> = Vec::new();
    let mut page_query = query.clone();
    for _ in 0..=expected.len() {
        let page = store.list_objects(bucket, &page_query).await.expect("list page");
        assert!(page.entries.len() <= query.max);
        got.extend(page.entries.iter().map(|e| (e.name().to_owned(), matches!(e, ListEntry::Prefix(_)))));
        if !page.is_truncated {
            assert_eq!(got, expected, "query {query:?} over {keys:?}");
            return;
        }
        assert_eq!(page.entries.len(), query.max, "a truncated page is full");
        page_query.start_after = page.entries.last().map(|e| e.name().to_owned());
    }
    panic!("listing {query:?} did not end: got {got:?}, expected {expected:?}");
}

/// Writes a blob from `chunks` and returns its id.
pub async fn write_blob(blobs: &dyn BlobStore, chunks: &[&[u8]]) -> BlobId {
    let mut writer = blobs.create().await.expect("create");
    for chunk in chunks {
        writer.write(chunk).await.expect("write");
    }
    let expected: usize = chunks.iter().map(|c| c.len()).sum();
    let (id, size) = writer.finish().await.expect("finish");
    assert_eq!(size, expected as u64);
    id
}

/// Reads a range of a blob into memory.
pub async fn read_blob(blobs: &dyn BlobStore, id: BlobId, offset: u64, len: u64) -> Vec<u8> {
    let mut stream = blobs.read(id, offset, len).await.expect("read");
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.expect("chunk"));
    }
    out
}

/// Blobs: empty, small and multi-chunk blobs; whole and ranged reads; `exists`; `NoSuchBlob`.
pub async fn blob_roundtrip(blobs: &dyn BlobStore) {
    let empty = write_blob(blobs, &[]).await;
    assert!(read_blob(blobs, empty, 0, 0).await.is_empty());

    let small: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
    let id = write_blob(blobs, &[&small]).await;
    assert!(blobs.exists(id).await.expect("exists"));
    assert_eq!(read_blob(blobs, id, 0, 4096).await, small);
    assert_eq!(read_blob(blobs, id, 100, 10).await, &small[100..110]);
    assert!(read_blob(blobs, id, 4096, 0).await.is_empty());
    assert!(blobs.read(id, 4000, 97).await.is_err(), "a range past the end is refused");

    // Larger than the buffers and than a back end's flush interval, written in odd-sized chunks.
    let big: Vec<u8> = (0..5_300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let pieces: Vec<&[u8]> = big.chunks(70_001).collect();
    let id = write_blob(blobs, &pieces).await;
    assert_eq!(read_blob(blobs, id, 0, big.len() as u64).await, big);
    assert_eq!(read_blob(blobs, id, 262_100, 600_000).await, &big[262_100..862_100]);
    assert_eq!(read_blob(blobs, id, big.len() as u64 - 1, 1).await, &big[big.len() - 1..]);

    let missing = BlobId::random();
    assert!(!blobs.exists(missing).await.expect("exists"));
    let err = blobs.read(missing, 0, 1).await.err();
    assert!(matches!(err, Some(StoreError::NoSuchBlob(b)) if b == missing), "{err:?}");
    // Reclaiming twice, or something that never existed, is harmless.
    blobs.reclaim(vec![id, id, missing]).await;
    assert!(!blobs.exists(id).await.expect("exists"));
}

/// Pins defer reclamation until the last pin drops.
pub async fn blob_pins(blobs: &dyn BlobStore) {
    let a = write_blob(blobs, &[b"aaaa"]).await;
    let b = write_blob(blobs, &[b"bbbb"]).await;
    let pin1 = blobs.pin(&[a, b]);
    let pin2 = blobs.pin(&[a]);
    blobs.reclaim(vec![a, b]).await;
    assert!(blobs.exists(a).await.expect("exists") && blobs.exists(b).await.expect("exists"));
    assert_eq!(read_blob(blobs, a, 0, 4).await, b"aaaa");
    drop(pin1);
    assert!(!blobs.exists(b).await.expect("exists"), "b's last pin dropped");
    assert!(blobs.exists(a).await.expect("exists"), "a is still pinned");
    drop(pin2);
    assert!(!blobs.exists(a).await.expect("exists"));

    // A pin without a reclaim deletes nothing.
    let c = write_blob(blobs, &[b"c"]).await;
    drop(blobs.pin(&[c, c]));
    assert!(blobs.exists(c).await.expect("exists"));
}

/// A hold defers every reclaim until it (the last hold) drops; blobs pinned then stay until unpinned.
pub async fn blob_hold(blobs: &dyn BlobStore) {
    let a = write_blob(blobs, &[b"a"]).await;
    let b = write_blob(blobs, &[b"b"]).await;
    let hold = blobs.hold_reclaims();
    blobs.reclaim(vec![a, b]).await;
    assert!(blobs.exists(a).await.expect("exists") && blobs.exists(b).await.expect("exists"), "held");
    let pin = blobs.pin(&[a]);
    drop(hold);
    assert!(!blobs.exists(b).await.expect("exists"), "released with the hold");
    assert!(blobs.exists(a).await.expect("exists"), "still pinned");
    drop(pin);
    assert!(!blobs.exists(a).await.expect("exists"), "released with the pin");

    // Two holds: the last one releases.
    let c = write_blob(blobs, &[b"c"]).await;
    let (first, second) = (blobs.hold_reclaims(), blobs.hold_reclaims());
    blobs.reclaim(vec![c]).await;
    drop(first);
    assert!(blobs.exists(c).await.expect("exists"), "one hold remains");
    drop(second);
    assert!(!blobs.exists(c).await.expect("exists"));

    // A pin dropped during a hold does not delete; the hold's release does.
    let d = write_blob(blobs, &[b"d"]).await;
    let hold = blobs.hold_reclaims();
    let pin = blobs.pin(&[d]);
    blobs.reclaim(vec![d]).await;
    drop(pin);
    assert!(blobs.exists(d).await.expect("exists"), "held");
    drop(hold);
    assert!(!blobs.exists(d).await.expect("exists"));

    // A hold without a reclaim deletes nothing.
    let e = write_blob(blobs, &[b"e"]).await;
    drop(blobs.hold_reclaims());
    assert!(blobs.exists(e).await.expect("exists"));
}

/// Sweep removes every blob not referenced (and keeps the referenced ones).
pub async fn blob_sweep(blobs: &dyn BlobStore) {
    let keep = write_blob(blobs, &[b"keep"]).await;
    let drop1 = write_blob(blobs, &[b"drop"]).await;
    let drop2 = write_blob(blobs, &[b"drop too"]).await;
    let referenced: HashSet<BlobId> = [keep].into();
    let removed = blobs.sweep(&referenced, None).await.expect("sweep");
    assert!(removed >= 2, "removed {removed}");
    assert!(blobs.exists(keep).await.expect("exists"));
    assert!(!blobs.exists(drop1).await.expect("exists"));
    assert!(!blobs.exists(drop2).await.expect("exists"));
    assert_eq!(blobs.sweep(&referenced, None).await.expect("sweep"), 0);
}

// ---- Property: listing matches the brute-force model, for every back end. ----

/// Object keys for the listing property: few characters, multi-byte ones and `/` included, so that
/// prefixes, delimiters and byte order all matter.
pub fn key_strategy() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(vec!['a', 'b', '/', 'é', '😀', '-']), 1..6)
        .prop_map(|chars| chars.into_iter().collect())
}

fn short_strategy(max_len: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(vec!['a', 'b', '/', 'é', '😀']), 0..max_len)
        .prop_map(|chars| chars.into_iter().collect())
}

/// Listing queries for the listing property (prefix, delimiter, start-after, page size 0 to 5).
pub fn query_strategy() -> impl Strategy<Value = ListQuery> {
    let delimiter = proptest::option::of(proptest::sample::select(vec!["/", "é", "a/", "", "😀"]));
    (short_strategy(3), delimiter, proptest::option::of(short_strategy(5)), 0usize..6).prop_map(
        |(prefix, delimiter, start_after, max)| ListQuery {
            prefix,
            delimiter: delimiter.map(str::to_owned),
            start_after,
            max,
        },
    )
}

/// Puts `keys` into a new bucket `bucket_name` and checks each of `queries` against the brute-force
/// model, page for page: the listing property every back end runs with generated keys and queries.
pub async fn check_listing_case(store: &dyn MetaStore, bucket_name: &str, keys: &[String], queries: &[ListQuery]) {
    store.create_bucket(bucket(bucket_name)).await.expect("create");
    let puts = keys.iter().map(|k| store.put_object(bucket_name, object(k, BlobId(1))));
    for result in join_all(puts).await {
        result.expect("put");
    }
    for query in queries {
        if query.max == 0 {
            let page = store.list_objects(bucket_name, query).await.expect("list");
            assert!(page.entries.is_empty() && !page.is_truncated);
        } else {
            compare_listing_with_model(store, bucket_name, query).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file_blobs::FileBlobStore;
    use crate::memory::MemoryMetaStore;
    use crate::redb_meta::RedbMetaStore;
    use proptest::prelude::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn redb() -> (tempfile::TempDir, RedbMetaStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = RedbMetaStore::open(&dir.path().join("meta.redb")).expect("open");
        (dir, store)
    }

    macro_rules! meta_suite {
        ($($name:ident),+) => {
            mod memory_suite {
                use super::*;
                $(#[tokio::test]
                async fn $name() {
                    super::super::$name(&MemoryMetaStore::new()).await;
                })+
            }
            mod redb_suite {
                use super::*;
                $(#[tokio::test]
                async fn $name() {
                    let (_dir, store) = redb();
                    super::super::$name(&store).await;
                })+
            }
        };
    }
    meta_suite!(
        buckets,
        objects,
        inline_bodies,
        encryption,
        listing,
        uploads,
        upload_listing,
        referenced,
        settings_and_records,
        object_locks,
        snapshot,
        versioning,
        version_dump,
        conditional_deletes,
        reclaim_queue
    );

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_reclaim_takers_memory() {
        concurrent_reclaim_takers(&[Arc::new(MemoryMetaStore::new())]).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_reclaim_takers_redb() {
        let (_dir, store) = redb();
        concurrent_reclaim_takers(&[Arc::new(store)]).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn conditional_writes_memory() {
        conditional_writes(Arc::new(MemoryMetaStore::new())).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn conditional_writes_redb() {
        let (_dir, store) = redb();
        conditional_writes(Arc::new(store)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_puts_memory() {
        concurrent_puts(Arc::new(MemoryMetaStore::new())).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_puts_redb() {
        let (_dir, store) = redb();
        concurrent_puts(Arc::new(store)).await;
    }

    #[tokio::test]
    async fn redb_reopen_sees_committed_data() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("meta.redb");
        {
            let store = RedbMetaStore::open(&path).expect("open");
            store.create_bucket(bucket("b")).await.expect("create");
            store.put_object("b", object("k", BlobId(1))).await.expect("put");
            store.create_upload("b", upload("k", "u")).await.expect("upload");
            store.put_part("b", "u", part(1, BlobId(2))).await.expect("part");
            store.put_object("b", inline_object("small", b"inline body")).await.expect("put inline");
        }
        let store = RedbMetaStore::open(&path).expect("reopen");
        assert_eq!(store.get_bucket("b").await.expect("get"), Some(bucket("b")));
        assert_eq!(store.get_object("b", "k").await.expect("get"), Some(object("k", BlobId(1))));
        assert_eq!(store.list_parts("b", "u", 0, 10).await.expect("parts"), [part(1, BlobId(2))]);
        assert_eq!(store.get_object("b", "small").await.expect("get"), Some(inline_object("small", b"inline body")));
        let expected: HashSet<BlobId> = [BlobId(1), BlobId(2)].into();
        assert_eq!(store.referenced_blobs().await.expect("referenced"), expected);
    }

    fn files() -> (tempfile::TempDir, FileBlobStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileBlobStore::open(dir.path()).expect("open");
        (dir, store)
    }

    fn tmp_entries(store: &FileBlobStore) -> usize {
        std::fs::read_dir(store.tmp_dir()).expect("read tmp").count()
    }

    #[tokio::test]
    async fn files_roundtrip() {
        let (_dir, store) = files();
        blob_roundtrip(&store).await;
        assert_eq!(tmp_entries(&store), 0, "finished writes leave no temporary");
    }

    #[tokio::test]
    async fn files_pins() {
        let (_dir, store) = files();
        blob_pins(&store).await;
    }

    #[tokio::test]
    async fn files_hold() {
        let (_dir, store) = files();
        blob_hold(&store).await;
    }

    #[tokio::test]
    async fn files_sweep_removes_tmp_and_unreferenced() {
        let (_dir, store) = files();
        std::fs::write(store.tmp_dir().join("leftover.tmp"), b"x").expect("write leftover");
        // An unfinished writer whose temporary exists: it wrote more than two buffers, so its first
        // (background) write has landed.
        let mut writer = store.create().await.expect("create");
        writer.write(&vec![7u8; 2 * crate::file_blobs::BUFFER + 1]).await.expect("write");
        std::mem::forget(writer); // as if the process died mid-write: the temporary stays
        assert_eq!(tmp_entries(&store), 2);
        let keep = write_blob(&store, &[b"keep"]).await;
        let removed = store.sweep(&[keep].into(), None).await.expect("sweep");
        assert_eq!(removed, 2);
        assert_eq!(tmp_entries(&store), 0);
        assert!(store.exists(keep).await.expect("exists"));
        blob_sweep(&store).await;
    }

    #[tokio::test]
    async fn files_unfinished_writer_leaves_nothing() {
        let (dir, store) = files();
        for size in [0, 10, crate::file_blobs::BUFFER * 2 + 3] {
            let mut writer = store.create().await.expect("create");
            writer.write(&vec![1u8; size]).await.expect("write");
            drop(writer);
            assert_eq!(tmp_entries(&store), 0, "size {size}");
        }
        let blob_files = walk(&dir.path().join("blobs"));
        assert_eq!(blob_files, 0, "nothing reached blobs/");
    }

    #[tokio::test]
    async fn files_layout() {
        let (dir, store) = files();
        let id = write_blob(&store, &[b"hello"]).await;
        let hex = id.to_string();
        let path = dir.path().join("blobs").join(&hex[..2]).join(&hex);
        assert_eq!(store.blob_path(id), path);
        assert_eq!(std::fs::read(path).expect("read"), b"hello");
        // Reopening an existing root works and keeps the blob.
        let again = FileBlobStore::open(dir.path()).expect("reopen");
        assert_eq!(read_blob(&again, id, 0, 5).await, b"hello");
    }

    fn walk(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir)
            .expect("read dir")
            .map(|e| {
                let e = e.expect("entry");
                if e.file_type().expect("type").is_dir() { walk(&e.path()) } else { 1 }
            })
            .sum()
    }

    #[test]
    fn listing_matches_model() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
        let (_dir, redb_store) = redb();
        let memory = MemoryMetaStore::new();
        let counter = AtomicUsize::new(0);
        let config = ProptestConfig { cases: 96, ..ProptestConfig::default() };
        proptest!(config, |(keys in proptest::collection::vec(key_strategy(), 0..30),
                            queries in proptest::collection::vec(query_strategy(), 1..6))| {
            let name = format!("b{}", counter.fetch_add(1, Ordering::Relaxed));
            rt.block_on(async {
                check_listing_case(&memory, &name, &keys, &queries).await;
                check_listing_case(&redb_store, &name, &keys, &queries).await;
            });
        });
    }
}
