//! Reclaiming blob files on a blob directory that several kura processes share (issue 18: replicas
//! on one PostgreSQL database and one ReadWriteMany volume).
//!
//! Alone on its directory (redb), a process deletes a blob as soon as the commit that unreferenced it
//! returns and its own readers' pins drop ([`BlobStore::reclaim`]). With replicas, a reader on another
//! replica may still be streaming that blob, and no pin of this process knows it. So when the metadata
//! store [`MetaStore::shares_blobs`], the server's blob store is a [`QueuedReclaims`]: its `reclaim`
//! queues the ids in the metadata store, due one grace period later (`server.blob_grace_seconds`,
//! longer than any request), and [`QueuedReclaims::drain_forever`], on every replica, takes what is
//! due (each id taken by one replica) and deletes the files through the directory's own
//! [`BlobStore`], local pins and backup holds included.
//!
//! **Invariant**: on shared metadata a blob file is deleted no earlier than one grace period after the
//! commit that unreferenced it, and the start-up sweep ([`sweep_at_start`]) removes only temporary
//! files older than the grace period and queues (never deletes) unreferenced blobs older than it.

use crate::metrics::Metrics;
use async_trait::async_trait;
use kura_store::{BlobId, BlobPin, BlobStore, BlobWriter, ByteStream, MetaStore, StoreResult};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Most ids one transaction takes from the queue.
pub const BATCH: usize = 1000;

/// Most batches one run of the worker takes, so that a run is bounded (10,000 files); the rest waits
/// for the next run.
pub const MAX_BATCHES_PER_RUN: usize = 10;

/// A grace period under this is allowed (tests use seconds) but warned about at start on shared
/// metadata: long downloads and backups take longer.
pub const SHORT_GRACE: Duration = Duration::from_secs(3600);

/// The name of the worker in `kura_background_runs` and `kura_background_removed`.
pub const TASK: &str = "blob-reclaim";

/// Milliseconds in a duration, saturating.
fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A blob store whose reclaims wait out a grace period in the metadata store's queue instead of
/// deleting at once (see the module documentation). Everything else is the inner store's.
pub struct QueuedReclaims {
    meta: Arc<dyn MetaStore>,
    blobs: Arc<dyn BlobStore>,
    grace: Duration,
}

impl std::fmt::Debug for QueuedReclaims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueuedReclaims").field("grace", &self.grace).finish_non_exhaustive()
    }
}

impl QueuedReclaims {
    /// Reclaims of `blobs` queued in `meta`, deleted `grace` after they were queued.
    pub fn new(meta: Arc<dyn MetaStore>, blobs: Arc<dyn BlobStore>, grace: Duration) -> Self {
        Self { meta, blobs, grace }
    }

    /// Deletes the files of the queued blobs due at `now_ms`: at most [`MAX_BATCHES_PER_RUN`] batches
    /// of [`BATCH`]. Each batch is taken from the queue in one transaction (so no other replica takes
    /// it too) and then deleted; a process that dies in between leaves orphans, which a start-up
    /// sweep queues again once they are older than the grace period. Returns how many it took.
    pub async fn drain(&self, now_ms: i64) -> StoreResult<u64> {
        let mut taken = 0;
        for _ in 0..MAX_BATCHES_PER_RUN {
            let ids = self.meta.take_due_reclaims(now_ms, BATCH).await?;
            let last = ids.len() < BATCH;
            taken += ids.len() as u64;
            self.blobs.reclaim(ids).await;
            if last {
                break;
            }
        }
        Ok(taken)
    }

    /// How often the worker drains: a quarter of the grace period, between 1 s and 60 s (a file
    /// outlives its due time by at most that much).
    pub fn interval(&self) -> Duration {
        (self.grace / 4).clamp(Duration::from_secs(1), Duration::from_secs(60))
    }

    /// Drains the queue every [`QueuedReclaims::interval`], counting each run in `metrics` (task
    /// [`TASK`]) and logging failures (the ids stay queued for the next run); runs until the
    /// process ends.
    pub async fn drain_forever(self: Arc<Self>, metrics: Arc<Metrics>) {
        let every = self.interval();
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            tick.tick().await;
            match self.drain(crate::base::clock::now_ms()).await {
                Ok(taken) => metrics.background_run(TASK, Ok(taken)),
                Err(e) => {
                    tracing::warn!(error = %e, "deleting the blobs queued for reclamation failed; trying again later");
                    metrics.background_run(TASK, Err(()));
                }
            }
        }
    }
}

#[async_trait]
impl BlobStore for QueuedReclaims {
    async fn create(&self) -> StoreResult<Box<dyn BlobWriter>> {
        self.blobs.create().await
    }
    async fn read(&self, id: BlobId, offset: u64, len: u64) -> StoreResult<ByteStream> {
        self.blobs.read(id, offset, len).await
    }
    async fn read_with(
        &self,
        id: BlobId,
        offset: u64,
        len: u64,
        work: kura_store::ChunkWork,
    ) -> StoreResult<ByteStream> {
        self.blobs.read_with(id, offset, len, work).await
    }
    async fn exists(&self, id: BlobId) -> StoreResult<bool> {
        self.blobs.exists(id).await
    }
    fn pin(&self, ids: &[BlobId]) -> BlobPin {
        self.blobs.pin(ids)
    }
    fn hold_reclaims(&self) -> BlobPin {
        self.blobs.hold_reclaims()
    }
    /// Queues the ids, due one grace period from now. A failure (the database unreachable) is logged:
    /// the files stay, as orphans that a start-up sweep queues again once they are old enough.
    async fn reclaim(&self, ids: Vec<BlobId>) {
        if ids.is_empty() {
            return;
        }
        let due = crate::base::clock::now_ms().saturating_add(millis(self.grace));
        if let Err(e) = self.meta.enqueue_reclaims(&ids, due).await {
            tracing::warn!(error = %e, blobs = ids.len(), "cannot queue blobs for reclamation; they stay as orphans");
        }
    }
    async fn sweep(&self, referenced: &HashSet<BlobId>, modified_before: Option<SystemTime>) -> StoreResult<usize> {
        self.blobs.sweep(referenced, modified_before).await
    }
    async fn orphans(&self, referenced: &HashSet<BlobId>, modified_before: SystemTime) -> StoreResult<Vec<BlobId>> {
        self.blobs.orphans(referenced, modified_before).await
    }
    fn set_observer(&self, observer: Arc<dyn kura_store::observe::StoreObserver>) {
        self.blobs.set_observer(observer);
    }
}

/// What the start-up sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Files removed (temporary files; and, alone on the directory, unreferenced blobs).
    pub removed: usize,
    /// Unreferenced blobs queued for reclamation (shared directory only).
    pub queued: usize,
}

/// The start-up clean-up of the blob directory. Alone on it (`grace` is `None`): every temporary file
/// and every unreferenced blob is a leftover, removed now. Shared with other processes (`grace` is
/// the grace period): only temporary files older than the grace period are removed (a younger one may
/// be another replica's upload in progress); unreferenced blobs older than it are queued for
/// reclamation one grace period from now, not deleted (one may have been unreferenced a moment ago
/// and still be streaming elsewhere); younger ones stay (another replica may be about to commit one).
pub async fn sweep_at_start(
    meta: &dyn MetaStore,
    blobs: &dyn BlobStore,
    grace: Option<Duration>,
) -> StoreResult<Swept> {
    let referenced = meta.referenced_blobs().await?;
    let Some(grace) = grace else {
        return Ok(Swept { removed: blobs.sweep(&referenced, None).await?, queued: 0 });
    };
    let cutoff = SystemTime::now().checked_sub(grace).unwrap_or(SystemTime::UNIX_EPOCH);
    let orphans = blobs.orphans(&referenced, cutoff).await?;
    meta.enqueue_reclaims(&orphans, crate::base::clock::now_ms().saturating_add(millis(grace))).await?;
    let mut keep = referenced;
    keep.extend(orphans.iter().copied());
    let removed = blobs.sweep(&keep, Some(cutoff)).await?;
    Ok(Swept { removed, queued: orphans.len() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kura_store::conformance::{bucket, object, read_blob, write_blob};
    use kura_store::file_blobs::FileBlobStore;
    use kura_store::memory::MemoryMetaStore;

    /// A memory store and blob files in a temporary directory, with queued reclaims of `grace`.
    fn stores(grace: Duration) -> (tempfile::TempDir, Arc<dyn MetaStore>, Arc<FileBlobStore>, QueuedReclaims) {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = Arc::new(FileBlobStore::open(dir.path()).expect("open"));
        let meta: Arc<dyn MetaStore> = Arc::new(MemoryMetaStore::new());
        let queued = QueuedReclaims::new(meta.clone(), files.clone(), grace);
        (dir, meta, files, queued)
    }

    fn age(path: &std::path::Path, by: Duration) {
        let file = std::fs::OpenOptions::new().write(true).open(path).expect("open");
        file.set_modified(SystemTime::now() - by).expect("set mtime");
    }

    /// A reclaim through the queue leaves the file readable until the grace period has passed since
    /// it was queued; a drain before then deletes nothing, one after deletes it, and a second takes
    /// nothing.
    #[tokio::test]
    async fn a_reclaimed_blob_outlives_the_grace_period() {
        let grace = Duration::from_secs(3600);
        let (_dir, meta, files, queued) = stores(grace);
        let id = write_blob(&queued, &[b"old body"]).await;
        let before = crate::base::clock::now_ms();
        queued.reclaim(vec![id]).await;
        let after = crate::base::clock::now_ms();
        assert_eq!(read_blob(files.as_ref(), id, 0, 8).await, b"old body", "still readable");
        assert_eq!(queued.drain(before + millis(grace) - 1).await.expect("drain"), 0, "not due yet");
        assert!(files.exists(id).await.expect("exists"));
        assert_eq!(queued.drain(after + millis(grace)).await.expect("drain"), 1);
        assert!(!files.exists(id).await.expect("exists"), "deleted once due");
        assert_eq!(queued.drain(i64::MAX).await.expect("drain"), 0, "taken once");
        assert!(meta.take_due_reclaims(i64::MAX, 10).await.expect("take").is_empty());
    }

    /// A due blob a local reader has pinned is deleted when the pin drops, not under the reader.
    #[tokio::test]
    async fn a_due_blob_waits_for_local_pins() {
        let (_dir, _meta, files, queued) = stores(Duration::from_secs(1));
        let id = write_blob(&queued, &[b"pinned"]).await;
        let pin = queued.pin(&[id]);
        queued.reclaim(vec![id]).await;
        assert_eq!(queued.drain(i64::MAX).await.expect("drain"), 1);
        assert!(files.exists(id).await.expect("exists"), "pinned");
        drop(pin);
        assert!(!files.exists(id).await.expect("exists"));
    }

    /// A run takes at most MAX_BATCHES_PER_RUN batches; the next run takes the rest.
    #[tokio::test]
    async fn a_run_is_bounded() {
        let (_dir, meta, _files, queued) = stores(Duration::from_secs(1));
        let total = BATCH * MAX_BATCHES_PER_RUN + 5;
        let ids: Vec<BlobId> = (1..=total as u128).map(BlobId).collect();
        meta.enqueue_reclaims(&ids, 0).await.expect("enqueue");
        assert_eq!(queued.drain(1).await.expect("drain"), (BATCH * MAX_BATCHES_PER_RUN) as u64);
        assert_eq!(queued.drain(1).await.expect("drain"), 5);
    }

    /// Shared start-up sweep: an old temporary file goes; a young one stays; an old unreferenced blob
    /// is queued (still there, due one grace period later), a young one is left alone, a referenced
    /// old one is neither. Alone on the directory, everything unreferenced goes at once.
    #[tokio::test]
    async fn the_shared_start_up_sweep_queues_old_orphans_and_keeps_young_files() {
        let hour = Duration::from_secs(3600);
        let (_dir, meta, files, _queued) = stores(hour);
        meta.create_bucket(bucket("b")).await.expect("bucket");
        let kept = write_blob(files.as_ref(), &[b"kept"]).await;
        meta.put_object("b", object("k", kept)).await.expect("put");
        let old = write_blob(files.as_ref(), &[b"old"]).await;
        let young = write_blob(files.as_ref(), &[b"young"]).await;
        age(&files.blob_path(old), 2 * hour);
        age(&files.blob_path(kept), 2 * hour);
        let (old_tmp, young_tmp) = (files.tmp_dir().join("old.tmp"), files.tmp_dir().join("young.tmp"));
        std::fs::write(&old_tmp, b"x").expect("write");
        std::fs::write(&young_tmp, b"y").expect("write");
        age(&old_tmp, 2 * hour);

        let before = crate::base::clock::now_ms();
        let swept = sweep_at_start(meta.as_ref(), files.as_ref(), Some(hour)).await.expect("sweep");
        assert_eq!(swept, Swept { removed: 1, queued: 1 });
        assert!(!old_tmp.exists() && young_tmp.exists());
        for id in [kept, old, young] {
            assert!(files.exists(id).await.expect("exists"), "{id:?} is still there");
        }
        assert!(meta.take_due_reclaims(before + millis(hour) - 1, 10).await.expect("take").is_empty());
        assert_eq!(meta.take_due_reclaims(i64::MAX, 10).await.expect("take"), [old], "only the old orphan");

        let swept = sweep_at_start(meta.as_ref(), files.as_ref(), None).await.expect("sweep");
        assert_eq!(swept, Swept { removed: 3, queued: 0 }, "old, young and the young temporary file");
        assert!(files.exists(kept).await.expect("exists"));
    }

    #[test]
    fn the_interval_is_a_quarter_of_the_grace_between_1_and_60_seconds() {
        let (_dir, _meta, _files, q) = stores(Duration::from_secs(21_600));
        assert_eq!(q.interval(), Duration::from_secs(60));
        let (_dir, _meta, _files, q) = stores(Duration::from_secs(8));
        assert_eq!(q.interval(), Duration::from_secs(2));
        let (_dir, _meta, _files, q) = stores(Duration::from_secs(1));
        assert_eq!(q.interval(), Duration::from_secs(1));
    }
}
