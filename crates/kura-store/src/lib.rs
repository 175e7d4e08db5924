//! Storage for kura: object metadata and object bodies, each behind a trait.
//!
//! The S3 layer never touches files or database tables directly. It talks to a [`MetaStore`] (buckets,
//! object metadata, multipart uploads, ordered listing) and a [`BlobStore`] (immutable bodies, named by
//! generated [`BlobId`]s, never by key). The embedded default is [`redb_meta::RedbMetaStore`] plus
//! [`file_blobs::FileBlobStore`]; [`memory::MemoryMetaStore`] is the reference model used by tests.
//!
//! **Invariant**: a body is either inline in the metadata record (small objects, committed in the
//! same transaction, see [`ObjectMeta::inline`]) or fully written and fsynced (file and directory)
//! before the metadata that names it is committed; a metadata commit that unreferences blobs hands
//! their ids back to the caller, who reclaims them only after the commit (see [`BlobStore::reclaim`]). A crash at any point therefore
//! leaves, at worst, unreferenced blob files, which [`BlobStore::sweep`] removes at start. When other
//! processes share the metadata ([`MetaStore::shares_blobs`]), and so the blob directory, reclaimed ids
//! wait in the store's reclaim queue ([`MetaStore::enqueue_reclaims`]) for a grace period before their
//! files go, and the sweep leaves files younger than that period (kura-server's `reclaim` module).
//!
//! **A back end in another crate** implements [`MetaStore`] with the same building blocks as the
//! embedded ones: [`listing`] (the one listing algorithm, over a batched cursor), [`versions`] (the
//! version rules, over the back end's tables, and the version listing cursor), [`check_inline`] before
//! it writes an object, [`dropped_blobs`] and [`unused_parts`] for what a write hands back, and the
//! `conformance` suite (feature `conformance`) in its tests. ARCHITECTURE.md lists the steps.
//!
//! **Backups** ([`backup`]) read one [`MetaSnapshot`] (every record as of one moment) and the blobs it
//! references, which a [`BlobStore::hold_reclaims`] and then [`BlobStore::pin`] keep from being
//! reclaimed while the archive streams.

pub mod backup;
pub mod file_blobs;
pub mod lifecycle;
pub mod listing;
pub mod lock;
pub mod memory;
pub mod model;
pub mod observe;
pub mod redb_meta;
pub mod versions;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

pub use lock::*;
pub use model::*;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

/// Errors of the storage layer. The S3 layer maps each one to exactly one S3 error code.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The bucket does not exist.
    #[error("the bucket {0:?} does not exist")]
    NoSuchBucket(String),
    /// A bucket with that name already exists.
    #[error("the bucket {0:?} already exists")]
    BucketAlreadyExists(String),
    /// The bucket still holds objects.
    #[error("the bucket {0:?} is not empty")]
    BucketNotEmpty(String),
    /// The object does not exist.
    #[error("the object {key:?} does not exist in bucket {bucket:?}")]
    NoSuchKey {
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
    },
    /// The object has no version with that id.
    #[error("the object {key:?} has no version {version:?}")]
    NoSuchVersion {
        /// Object key.
        key: String,
        /// The version id asked for.
        version: String,
    },
    /// The multipart upload does not exist (never created, completed or aborted).
    #[error("the multipart upload {0:?} does not exist")]
    NoSuchUpload(String),
    /// The blob does not exist (it was reclaimed, or never written).
    #[error("blob {0} does not exist")]
    NoSuchBlob(BlobId),
    /// The disk (metadata or blobs) is full or over its quota (`ENOSPC`, `EDQUOT`): nothing was written.
    /// Kept apart from [`StoreError::Io`] because it is the client-visible, recoverable case: deleting
    /// objects or adding space lets writes succeed again, without a restart.
    #[error("no space left on the storage device")]
    DiskFull,
    /// Any other I/O failure.
    #[error("storage I/O error: {0}")]
    Io(std::io::Error),
    /// The metadata database failed or holds data it cannot decode.
    #[error("metadata store error: {0}")]
    Backend(String),
    /// The metadata database (a server, such as PostgreSQL) cannot be reached now: no connection
    /// within the time allowed, or the connection was lost. Retryable: the call wrote nothing, or (a
    /// connection lost during its commit) its outcome is unknown and it was not acknowledged. Kept
    /// apart from [`StoreError::Backend`] because it is the client-visible, recoverable case: the
    /// store reconnects by itself once the database is back.
    #[error("the metadata database is unreachable: {0}")]
    Unavailable(String),
    /// The version's Object Lock refuses its permanent removal (checked in the removal's transaction).
    #[error("the object {key:?}: {refusal}")]
    Locked {
        /// Object key.
        key: String,
        /// What the lock refuses.
        refusal: LockRefusal,
    },
    /// A completion named parts that were uploaded again between its read of the upload's parts and
    /// its commit ([`unused_parts`]). Nothing was written.
    #[error("a part of upload {upload_id} was uploaded again while the upload was being completed")]
    PartsChanged {
        /// The upload.
        upload_id: String,
    },
    /// A conditional write found the object not as the condition required.
    #[error("the object {key:?} does not meet the write condition")]
    ConditionFailed {
        /// Object key.
        key: String,
    },
    /// A reader's own work on a chunk it read ([`ChunkWork`]) failed; the source is its error, for
    /// the reader to take back (by downcasting).
    #[error(transparent)]
    Chunk(Box<dyn std::error::Error + Send + Sync>),
}

impl From<std::io::Error> for StoreError {
    /// Gives "no space left" and "quota exceeded" their own variant, [`StoreError::DiskFull`].
    fn from(err: std::io::Error) -> Self {
        if is_storage_full(&err) { StoreError::DiskFull } else { StoreError::Io(err) }
    }
}

/// Whether an I/O error means the file system has no room left for this writer: `ENOSPC` or `EDQUOT`
/// (by kind, which is how the standard library decodes them, or by raw code from wrapped errors).
pub fn is_storage_full(err: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(err.kind(), ErrorKind::StorageFull | ErrorKind::QuotaExceeded)
        || matches!(err.raw_os_error(), Some(ENOSPC | EDQUOT))
}

/// `ENOSPC` on Linux (and the other Unixes kura runs on).
const ENOSPC: i32 = 28;
/// `EDQUOT` on Linux.
const EDQUOT: i32 = 122;

/// When a write may replace what is there (S3's conditional writes), checked in the write's own
/// transaction so that two writers cannot both pass.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum WriteCondition {
    /// Always (last writer wins).
    #[default]
    Always,
    /// Only if no object has the key (`If-None-Match: *`).
    IfAbsent,
    /// Only if the current object has this ETag (`If-Match`; quotes ignored). A missing object is
    /// `NoSuchKey`.
    IfEtag(String),
    /// Only if an object has the key, whatever its ETag (`If-Match: *`). A missing object is
    /// `NoSuchKey`.
    IfPresent,
    /// Only if the current object, if any, does not have this ETag (`If-None-Match: ETAG`; quotes
    /// ignored): a write that would replace exactly that version fails.
    IfNotEtag(String),
    /// Only if the current object is the one a reader saw: same ETag and Last-Modified (a background
    /// delete, such as lifecycle expiration, of what it examined; an overwrite since then, even with
    /// the same body, fails it). A missing object is `NoSuchKey`.
    IfUnchanged {
        /// The ETag read (quotes ignored).
        etag: String,
        /// The Last-Modified read, ms since the epoch.
        last_modified_ms: i64,
    },
}

impl WriteCondition {
    /// Checks the condition against the current object.
    pub fn check(&self, bucket: &str, key: &str, current: Option<&ObjectMeta>) -> StoreResult<()> {
        let failed = || Err(StoreError::ConditionFailed { key: key.to_owned() });
        match (self, current) {
            (WriteCondition::Always, _)
            | (WriteCondition::IfAbsent | WriteCondition::IfNotEtag(_), None)
            | (WriteCondition::IfPresent, Some(_)) => Ok(()),
            (WriteCondition::IfAbsent, Some(_)) => failed(),
            (WriteCondition::IfNotEtag(unwanted), Some(obj)) => {
                if unwanted.trim_matches('"') == obj.etag.trim_matches('"') { failed() } else { Ok(()) }
            }
            (WriteCondition::IfEtag(_) | WriteCondition::IfPresent | WriteCondition::IfUnchanged { .. }, None) => {
                Err(StoreError::NoSuchKey { bucket: bucket.to_owned(), key: key.to_owned() })
            }
            (WriteCondition::IfEtag(want), Some(obj)) => {
                if want.trim_matches('"') == obj.etag.trim_matches('"') {
                    Ok(())
                } else {
                    failed()
                }
            }
            (WriteCondition::IfUnchanged { etag, last_modified_ms }, Some(obj)) => {
                if etag.trim_matches('"') == obj.etag.trim_matches('"') && *last_modified_ms == obj.last_modified_ms {
                    Ok(())
                } else {
                    failed()
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// What every back end applies. A [`MetaStore`] in another crate calls these rather than restating
// them, so that all back ends refuse, and hand back, exactly the same things.

/// Refuses an object whose inline body does not match its size (its sealed length when the object is
/// encrypted, see [`ObjectMeta::stored_len`]), or that has both segments and an
/// inline body ([`StoreError::Backend`]), so that a record always says where its body is.
///
/// **A back end must call it** on the object of [`MetaStore::put_object_if`] before it writes anything
/// (the conformance suite's `inline_bodies` checks that such a write is refused and leaves nothing
/// behind). The object [`MetaStore::complete_upload_if`] writes is made of the upload's parts, so it
/// has segments and no inline body.
pub fn check_inline(object: &ObjectMeta) -> StoreResult<()> {
    let consistent = match (&object.inline, object.is_inline()) {
        (Some(body), true) => body.len() as u64 == object.stored_len(object.size),
        (None, true) => object.stored_len(object.size) == 0,
        (Some(_), false) => false,
        (None, false) => true,
    };
    if consistent {
        Ok(())
    } else {
        Err(StoreError::Backend(format!(
            "object {:?}: its inline body and its segments disagree with its size {}",
            object.key, object.size
        )))
    }
}

/// The error for a reused upload id ([`MetaStore::create_upload`]): ids are generated by the caller
/// and must be unique within a bucket, so a back end refuses a second upload with the same id.
pub fn duplicate_upload(upload_id: &str) -> StoreError {
    StoreError::Backend(format!("upload id {upload_id:?} already exists"))
}

/// The blobs of `old` that `new` does not keep: what a write that replaces `old` with `new`
/// ([`MetaStore::put_object_if`], [`MetaStore::complete_upload_if`]) returns for reclamation.
pub fn dropped_blobs(old: &ObjectMeta, new: &ObjectMeta) -> Vec<BlobId> {
    let kept: std::collections::HashSet<BlobId> = new.segments.iter().map(|s| s.blob).collect();
    old.segments.iter().map(|s| s.blob).filter(|b| !kept.contains(b)).collect()
}

/// The blobs of the upload's `parts` (as stored now, in the completion's transaction) that `object`
/// does not use: what [`MetaStore::complete_upload_if`] returns for reclamation besides
/// [`dropped_blobs`] of the object it replaces. The object must be made of those parts only:
/// [`StoreError::PartsChanged`] when a segment names a blob no part holds now (a part uploaded again
/// after the caller read the parts: its old blob is already being reclaimed, so the object would
/// have no data, and the new one would be freed with the rest).
pub fn unused_parts<'a>(
    upload_id: &str,
    parts: impl IntoIterator<Item = &'a PartInfo>,
    object: &ObjectMeta,
) -> StoreResult<Vec<BlobId>> {
    let held: Vec<BlobId> = parts.into_iter().map(|p| p.blob).collect();
    if object.segments.iter().any(|s| !held.contains(&s.blob)) {
        return Err(StoreError::PartsChanged { upload_id: upload_id.to_owned() });
    }
    let used: std::collections::HashSet<BlobId> = object.segments.iter().map(|s| s.blob).collect();
    Ok(held.into_iter().filter(|b| !used.contains(b)).collect())
}

/// Result alias of the storage layer.
pub type StoreResult<T> = Result<T, StoreError>;

/// Metadata: buckets, objects, multipart uploads. Every method is one atomic transaction.
///
/// Mutations that drop references to blobs (overwrite, delete, complete, abort) return those blob ids;
/// the caller passes them to [`BlobStore::reclaim`] once the call has returned.
#[async_trait]
pub trait MetaStore: Send + Sync + 'static {
    /// Creates a bucket. Fails with `BucketAlreadyExists` if the name is taken.
    async fn create_bucket(&self, bucket: BucketInfo) -> StoreResult<()>;
    /// Returns the bucket, or `None`.
    async fn get_bucket(&self, name: &str) -> StoreResult<Option<BucketInfo>>;
    /// All buckets, ordered by name.
    async fn list_buckets(&self) -> StoreResult<Vec<BucketInfo>>;
    /// Deletes an empty bucket (`BucketNotEmpty` if any object remains). In-progress multipart uploads
    /// are aborted with it; their part blobs are returned.
    async fn delete_bucket(&self, name: &str) -> StoreResult<Vec<BlobId>>;

    /// Writes an object, with its inline body if it has one, as the newest version of its key (see
    /// [`versions::put`]): a `null` version replaces the key's `null` version, whose blobs are returned;
    /// another id keeps the versions there are. A delete marker (`delete_marker`) hides the key.
    async fn put_object(&self, bucket: &str, object: ObjectMeta) -> StoreResult<Vec<BlobId>> {
        self.put_object_if(bucket, object, &WriteCondition::Always).await
    }
    /// [`MetaStore::put_object`] if `condition` holds for the current object, in the same transaction.
    async fn put_object_if(
        &self,
        bucket: &str,
        object: ObjectMeta,
        condition: &WriteCondition,
    ) -> StoreResult<Vec<BlobId>>;
    /// Reads an object's metadata, with its inline body if it has one (read in the same transaction),
    /// or `None`. `NoSuchBucket` if the bucket is missing.
    async fn get_object(&self, bucket: &str, key: &str) -> StoreResult<Option<ObjectMeta>>;
    /// Reads an object's record without its inline body (`inline` is `None`), for the operations that
    /// never send the body (HEAD, tags, ACLs, attributes, preconditions), or `None`. `NoSuchBucket` if
    /// the bucket is missing.
    async fn get_object_record(&self, bucket: &str, key: &str) -> StoreResult<Option<ObjectMeta>>;
    /// Permanently deletes the current object (what DELETE does in an unversioned bucket); returns the
    /// removed object (whose blobs the caller reclaims), or `None` if there was none. An older version,
    /// if any, becomes current. `NoSuchBucket` if the bucket is missing.
    async fn delete_object(&self, bucket: &str, key: &str) -> StoreResult<Option<ObjectMeta>> {
        self.delete_object_if(bucket, key, &WriteCondition::Always).await
    }
    /// [`MetaStore::delete_object`] if `condition` holds for the current object, in one transaction;
    /// returns what was removed (`None`: there was nothing and the condition allows that). `IfEtag` and
    /// `IfUnchanged` on a missing object are `NoSuchKey`; a condition that does not hold is
    /// `ConditionFailed` and removes nothing.
    async fn delete_object_if(
        &self,
        bucket: &str,
        key: &str,
        condition: &WriteCondition,
    ) -> StoreResult<Option<ObjectMeta>>;
    /// Replaces the tag set of an existing object (`NoSuchKey` otherwise).
    async fn set_object_tags(&self, bucket: &str, key: &str, tags: Tags) -> StoreResult<()> {
        self.set_version_tags(bucket, key, None, tags).await
    }
    /// Replaces the tag set of the version `version` names (`None`: the current object): `NoSuchVersion`
    /// if there is no such version, `NoSuchKey` if there is no current object or it is a delete marker.
    async fn set_version_tags(&self, bucket: &str, key: &str, version: Option<&str>, tags: Tags) -> StoreResult<()>;
    /// The version of `key` that `version` names, delete markers included (`None`: the latest version,
    /// which is a delete marker when the key is deleted in a versioned bucket), with its inline body when
    /// `body`; see [`versions::find`]. `NoSuchBucket` if the bucket is missing.
    async fn get_version(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        body: bool,
    ) -> StoreResult<Option<versions::Found>>;
    /// Permanently removes one version (or delete marker) and returns it, or `None` if there is none;
    /// its blobs are the caller's to reclaim. `Locked` if the version's lock refuses it under `guard`,
    /// judged in the same transaction. See [`versions::delete_version`].
    async fn delete_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        guard: RemovalGuard,
    ) -> StoreResult<Option<ObjectMeta>>;
    /// Writes a version that is not the current object (a noncurrent version or a delete marker) as it
    /// is, with its inline body: what a restore writes for [`DumpEntry::Version`]. Nothing else changes.
    async fn put_noncurrent(&self, bucket: &str, object: ObjectMeta) -> StoreResult<()>;
    /// One page of ListObjectVersions, see [`VersionListQuery`]. Entries carry no inline body.
    async fn list_versions(&self, bucket: &str, query: &VersionListQuery) -> StoreResult<VersionListPage>;
    /// Replaces the Object Lock state of the version `version` names (`None`: the current object) if
    /// it is still `expected` (checked in the same transaction, so a retention decided on a stale read is
    /// never written): `ConditionFailed` if it changed, `NoSuchVersion` / `NoSuchKey` as
    /// [`MetaStore::set_version_tags`]. See [`lock::set_lock`].
    async fn set_version_lock(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        expected: ObjectLock,
        lock: ObjectLock,
    ) -> StoreResult<()>;
    /// One page of a listing: an ordered range scan, see [`ListQuery`]. Entries carry no inline body.
    async fn list_objects(&self, bucket: &str, query: &ListQuery) -> StoreResult<ListPage>;

    /// Records a new multipart upload. `NoSuchBucket` if the bucket is missing.
    async fn create_upload(&self, bucket: &str, upload: UploadInfo) -> StoreResult<()>;
    /// Reads an upload, or `None`.
    async fn get_upload(&self, bucket: &str, upload_id: &str) -> StoreResult<Option<UploadInfo>>;
    /// Records (or replaces) a part; returns the replaced part's blob. `NoSuchUpload` if the upload is
    /// gone, so a part that races an abort is reported and its blob can be reclaimed by the caller.
    async fn put_part(&self, bucket: &str, upload_id: &str, part: PartInfo) -> StoreResult<Option<BlobId>>;
    /// Parts of an upload with number > `after`, ascending, at most `max`.
    async fn list_parts(&self, bucket: &str, upload_id: &str, after: u32, max: usize) -> StoreResult<Vec<PartInfo>>;
    /// In-progress uploads ordered by (key, upload id), see [`UploadListQuery`].
    async fn list_uploads(&self, bucket: &str, query: &UploadListQuery) -> StoreResult<UploadListPage>;
    /// Atomically removes the upload and writes `object` (whose segments are some of its parts' blobs).
    /// Returns every blob no longer referenced: the parts not used, and the replaced object's blobs.
    async fn complete_upload(&self, bucket: &str, upload_id: &str, object: ObjectMeta) -> StoreResult<Vec<BlobId>> {
        self.complete_upload_if(bucket, upload_id, object, &WriteCondition::Always).await
    }
    /// [`MetaStore::complete_upload`] if `condition` holds for the object the upload would replace; when
    /// it does not, the upload stays as it was.
    async fn complete_upload_if(
        &self,
        bucket: &str,
        upload_id: &str,
        object: ObjectMeta,
        condition: &WriteCondition,
    ) -> StoreResult<Vec<BlobId>>;
    /// Removes an upload; returns its parts' blobs.
    async fn abort_upload(&self, bucket: &str, upload_id: &str) -> StoreResult<Vec<BlobId>>;

    /// Every blob id that metadata references (objects and parts), for the start-up sweep.
    async fn referenced_blobs(&self) -> StoreResult<std::collections::HashSet<BlobId>>;

    /// Whether other processes may use this metadata at the same time (replicas on one database
    /// server), and so the same blob directory. Then a blob this process stops referencing may still be
    /// streaming to a reader in another process, which no local pin protects: the server queues its
    /// deletion ([`MetaStore::enqueue_reclaims`]) instead of deleting at once, and the start-up sweep
    /// touches only files older than the grace period. An embedded store (redb, the model) is used
    /// by one process alone and keeps the default, `false`.
    fn shares_blobs(&self) -> bool {
        false
    }

    /// Queues blobs for deletion once `due_ms` (ms since the Unix epoch) has passed: the reclaim
    /// queue of a store whose blobs are shared ([`MetaStore::shares_blobs`]). An id already queued
    /// stays queued once, due at the later of its two times. The queue is housekeeping, not data: it
    /// is not part of a [`MetaStore::snapshot`] (a restored store starts empty and sweeps instead).
    async fn enqueue_reclaims(&self, ids: &[BlobId], due_ms: i64) -> StoreResult<()>;

    /// Removes from the queue and returns at most `max` ids due at `now_ms` or earlier, earliest
    /// first, in one transaction: however many processes take at once, each id is taken by one.
    async fn take_due_reclaims(&self, now_ms: i64, max: usize) -> StoreResult<Vec<BlobId>>;

    /// Replaces a bucket's settings if they are still `expected` (compared in the write's transaction,
    /// so that two changes of different settings cannot lose one another, and a rule checked against
    /// one setting, such as BlockPublicPolicy against a policy, holds when the other is written):
    /// `ConditionFailed` if they changed, `NoSuchBucket` if the bucket is gone.
    async fn set_bucket_settings(
        &self,
        bucket: &str,
        expected: &BucketSettings,
        settings: BucketSettings,
    ) -> StoreResult<()>;

    /// Stores a small named record of some kind (IAM users, policies, tickets…), replacing any record
    /// of that kind and id. Records are durable like everything else the store commits.
    async fn put_record(&self, kind: &str, id: &str, value: Vec<u8>) -> StoreResult<()>;
    /// Removes a record; answers whether it existed.
    async fn delete_record(&self, kind: &str, id: &str) -> StoreResult<bool>;
    /// Every record of one kind, ordered by id.
    async fn list_records(&self, kind: &str) -> StoreResult<Vec<(String, Vec<u8>)>>;
    /// One record, if it exists.
    async fn get_record(&self, kind: &str, id: &str) -> StoreResult<Option<Vec<u8>>>;

    /// A consistent, read-only view of everything the store holds, as of one moment, that later writes
    /// do not change: the metadata half of a backup ([`crate::backup`]). Its entries are read with
    /// [`MetaSnapshot::entries`], as many times as needed, until the snapshot is dropped.
    ///
    /// Why a logical dump through the trait rather than a copy of the database file: it works the same
    /// for every back end (redb keeps one read transaction open, which gives snapshot isolation; the
    /// in-memory model copies its maps under its lock; a PostgreSQL back end would read in one
    /// `REPEATABLE READ` transaction); its entries are the records the trait already speaks, so a restore
    /// writes them back through the ordinary methods ([`MetaStore::create_bucket`],
    /// [`MetaStore::put_object_if`]…) and an archive depends neither on redb's file format nor on its
    /// version; and the server keeps serving, since a snapshot blocks no writer.
    ///
    /// Cost: while a redb snapshot is open, pages that later commits free cannot be reused, so the file
    /// grows by what changes during the backup; and a reopen after an I/O failure (see
    /// [`redb_meta::RedbMetaStore`]) waits until the snapshot is dropped.
    async fn snapshot(&self) -> StoreResult<std::sync::Arc<dyn MetaSnapshot>>;

    /// Whether writes currently fail for lack of space ([`StoreError::DiskFull`]), for the readiness
    /// probe. It clears by itself once space is available again. Back ends that cannot fill up (the
    /// in-memory model) keep the default, `false`.
    fn storage_full(&self) -> bool {
        false
    }

    /// Checks, for the readiness probe, that the database a back end depends on answers now (a short
    /// round trip): [`StoreError::Unavailable`] when it cannot be reached. Embedded back ends, which
    /// depend on no server, keep the default, `Ok`.
    async fn check_available(&self) -> StoreResult<()> {
        Ok(())
    }

    /// Reports each group commit to `observer` (for metrics). Back ends without group commits keep the
    /// default, which reports nothing.
    fn set_observer(&self, _observer: std::sync::Arc<dyn observe::StoreObserver>) {}
}

/// A stream of body chunks read from a blob.
pub type ByteStream = BoxStream<'static, StoreResult<Bytes>>;

/// Work a reader has done on each chunk of a read ([`BlobStore::read_with`]): called once per chunk,
/// in order, with the chunk as read; what it returns is what the stream hands out. It fails with
/// [`StoreError::Chunk`] (its own error inside), which ends the stream.
pub type ChunkWork = Box<dyn FnMut(Bytes) -> StoreResult<Bytes> + Send>;

/// The entries of a [`MetaSnapshot`], in dump order.
pub type DumpStream = BoxStream<'static, StoreResult<DumpEntry>>;

/// One consistent view of a whole metadata store ([`MetaStore::snapshot`]). Dropping it releases
/// whatever the back end holds for it (redb: the read transaction).
pub trait MetaSnapshot: Send + Sync + 'static {
    /// Every entry of the view, in dump order: all buckets, then all objects, then all other versions
    /// ([`DumpEntry::Version`]), then all multipart uploads,
    /// then all their parts, then all records (within a kind, in the back end's key order). With
    /// `bodies`, inline objects carry their body ([`ObjectMeta::inline`]); without, they carry none.
    /// Each call reads the same view from the start.
    fn entries(self: std::sync::Arc<Self>, bodies: bool) -> DumpStream;
}

/// A snapshot whose dump is read in batches, each on the blocking pool (a back end with synchronous
/// reads); [`dump_in_batches`] turns it into the [`MetaSnapshot::entries`] stream.
pub trait DumpBatches: Send + Sync + 'static {
    /// Where a dump stands between two batches.
    type Cursor: Send + 'static;
    /// The position of the dump's first entry.
    fn start(&self) -> Self::Cursor;
    /// The entries from `cursor` on (a batch, possibly empty), and the position after them, `None`
    /// when everything was read.
    fn next_batch(&self, cursor: Self::Cursor, bodies: bool) -> StoreResult<(Vec<DumpEntry>, Option<Self::Cursor>)>;
}

/// The entries of a [`DumpBatches`] snapshot, read batch by batch on the blocking pool as the stream
/// is polled (so a dump of any size holds one batch in memory).
pub fn dump_in_batches<S: DumpBatches>(snapshot: std::sync::Arc<S>, bodies: bool) -> DumpStream {
    use futures::{StreamExt as _, TryStreamExt as _};
    let start = Some(snapshot.start());
    let batches = futures::stream::try_unfold((snapshot, start), move |(snapshot, mut cursor)| async move {
        while let Some(at) = cursor {
            let reader = std::sync::Arc::clone(&snapshot);
            let (batch, next) = tokio::task::spawn_blocking(move || reader.next_batch(at, bodies))
                .await
                .map_err(|e| StoreError::Backend(format!("a metadata dump failed: {e}")))??;
            cursor = next;
            if !batch.is_empty() {
                let items = futures::stream::iter(batch.into_iter().map(Ok::<_, StoreError>));
                return Ok::<_, StoreError>(Some((items, (snapshot, cursor))));
            }
        }
        Ok(None)
    });
    batches.try_flatten().boxed()
}

/// Immutable object bodies.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Starts writing a new blob. Nothing is visible until [`BlobWriter::finish`] returns.
    async fn create(&self) -> StoreResult<Box<dyn BlobWriter>>;
    /// Reads `len` bytes of a blob from `offset`, as a stream of chunks.
    async fn read(&self, id: BlobId, offset: u64, len: u64) -> StoreResult<ByteStream>;
    /// [`BlobStore::read`], each chunk passed through `work` where it is read: the file store runs it
    /// on the thread that read the chunk, while the connection sends the chunk before, so CPU-bound
    /// work (opening sealed chunks) leaves the async workers and overlaps the send. By default, as
    /// the stream is polled.
    async fn read_with(&self, id: BlobId, offset: u64, len: u64, mut work: ChunkWork) -> StoreResult<ByteStream> {
        use futures::StreamExt;
        let stream = self.read(id, offset, len).await?;
        Ok(stream.map(move |chunk| chunk.and_then(&mut work)).boxed())
    }
    /// Whether the blob exists (cheap).
    async fn exists(&self, id: BlobId) -> StoreResult<bool>;
    /// Protects blobs from reclamation while a reader uses them. Reclaiming a pinned blob is deferred
    /// until the last pin on it drops. A reader pins, then checks [`BlobStore::exists`] (the blob may
    /// have been reclaimed between its metadata read and the pin), then reads.
    fn pin(&self, ids: &[BlobId]) -> BlobPin;
    /// Defers every reclamation until the returned guard drops: a blob reclaimed meanwhile is deleted
    /// when the last hold is released (or later, when its last pin drops). A backup holds, takes its
    /// metadata snapshot, pins the blobs the snapshot references and then releases the hold: any blob
    /// the snapshot references is unreferenced only by a commit after the snapshot, so its reclaim comes
    /// after the hold began and waits, and the pins then keep it for as long as the backup reads it.
    fn hold_reclaims(&self) -> BlobPin;
    /// Deletes blobs that metadata no longer references (now, or when their last pin or hold drops).
    /// Failures are logged, not returned: an orphan is swept at the next start.
    async fn reclaim(&self, ids: Vec<BlobId>);
    /// Start-up clean-up: removes leftovers of interrupted writes (temporary files) and the blobs not in
    /// `referenced` (nor pinned). With `modified_before`, only files last modified before that time:
    /// on a directory that other processes share ([`MetaStore::shares_blobs`]), a young temporary file
    /// may be another replica's upload in progress, and a young unreferenced blob one it has written
    /// but not yet committed, so only what is older than the grace period is provably abandoned.
    /// Returns how many files it removed.
    async fn sweep(
        &self,
        referenced: &std::collections::HashSet<BlobId>,
        modified_before: Option<std::time::SystemTime>,
    ) -> StoreResult<usize>;
    /// The blobs not in `referenced` last modified before `modified_before`, removing nothing: on a
    /// shared directory the start-up queues them for reclamation ([`MetaStore::enqueue_reclaims`])
    /// rather than deleting them, since one may have been unreferenced a moment ago (its own queue entry
    /// not yet written) and still be streaming to a reader elsewhere.
    async fn orphans(
        &self,
        referenced: &std::collections::HashSet<BlobId>,
        modified_before: std::time::SystemTime,
    ) -> StoreResult<Vec<BlobId>>;
    /// Reports each blob's fsync to `observer` (for metrics). The default reports nothing.
    fn set_observer(&self, _observer: std::sync::Arc<dyn observe::StoreObserver>) {}
}

/// A blob being written. Dropping it without `finish` removes the temporary file.
#[async_trait]
pub trait BlobWriter: Send {
    /// Appends bytes.
    async fn write(&mut self, chunk: &[u8]) -> StoreResult<()>;
    /// Makes the blob durable (file fsync, rename, directory fsync) and returns its id and size.
    async fn finish(self: Box<Self>) -> StoreResult<(BlobId, u64)>;
}

/// A guard returned by [`BlobStore::pin`]; dropping it releases the pins.
pub struct BlobPin {
    release: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl BlobPin {
    /// A pin that runs `release` when dropped.
    pub fn new(release: impl FnOnce() + Send + Sync + 'static) -> Self {
        Self { release: Some(Box::new(release)) }
    }
}

impl Drop for BlobPin {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            release();
        }
    }
}

impl std::fmt::Debug for BlobPin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlobPin")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn no_space_and_over_quota_are_disk_full() {
        for err in [
            io::Error::from_raw_os_error(ENOSPC),
            io::Error::from_raw_os_error(EDQUOT),
            io::Error::from(io::ErrorKind::StorageFull),
            io::Error::from(io::ErrorKind::QuotaExceeded),
        ] {
            assert!(matches!(StoreError::from(err), StoreError::DiskFull));
        }
        assert!(matches!(StoreError::from(io::Error::from_raw_os_error(5)), StoreError::Io(_)));
    }
}
