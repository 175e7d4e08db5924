//! [`RedbMetaStore`]: the embedded metadata store, on one redb file, with group commit.
//!
//! # Layout
//! Every table is keyed so that the queries are point lookups or ordered range scans (redb compares
//! tuple keys element by element, and `&str` by bytes, which for UTF-8 is code-point order, the order
//! S3 lists in):
//!
//! | table        | key                                   | value                   |
//! |--------------|---------------------------------------|-------------------------|
//! | `buckets`    | bucket                                | JSON [`BucketInfo`]     |
//! | `objects`    | (bucket, key)                         | JSON [`ObjectMeta`]     |
//! | `bodies`     | (bucket, key)                         | inline body, raw bytes  |
//! | `versions`   | (bucket, key, order)                  | JSON [`ObjectMeta`]     |
//! | `version_bodies` | (bucket, key, order)              | inline body, raw bytes  |
//! | `uploads`    | (bucket, key, upload id)              | JSON [`UploadInfo`]     |
//! | `upload_ids` | (bucket, upload id)                   | key                     |
//! | `parts`      | (bucket, upload id, part number)      | JSON [`PartInfo`]       |
//!
//! Values are JSON: `serde_json` is already a dependency, records are a few hundred bytes, and a
//! self-describing encoding lets fields be added (with `#[serde(default)]`) without a migration.
//! Inline bodies ([`ObjectMeta::inline`]) are raw bytes in `bodies`, written and removed in the same
//! transaction as their object record, so listings scan only the small records. An object has a
//! `bodies` entry exactly when it has no segments.
//!
//! `objects` holds the current live version of each key, `versions` every other version and delete
//! marker, by [`crate::versions::order_of`] (see [`crate::versions`]): a plain listing scans `objects`
//! alone, however many versions there are. Both version tables are new with versioning; a database
//! written before has them empty and its `objects` records (version `null`) read as they did.
//!
//! # Group commit
//! Every mutation is a job sent to one writer thread. The thread takes every pending job, runs them in
//! order inside ONE write transaction, commits it once (durably: fsync), and only then answers each
//! job. A job first validates (bucket exists, upload exists, …) and only then writes, so a job that
//! fails its own checks answers its error without touching the transaction and without failing the
//! others. A failure of the database itself (I/O, corruption) aborts the whole batch and every job in
//! it gets the error; after an I/O failure the writer reopens the database (see [`RedbMetaStore`] on a
//! full disk). Reads use read transactions on the blocking pool.

use crate::file_blobs::io_error;
use crate::listing::{self, BatchStart, KeyCursor, Listed, PageSpec};
use crate::versions::{self, SortedRecords, VersionCursor, VersionRead, VersionWrite, order_of};
use crate::{
    BlobId, BucketInfo, BucketSettings, DumpBatches, DumpEntry, DumpStream, ListEntry, ListPage, ListQuery,
    MetaSnapshot, MetaStore, ObjectLock, ObjectMeta, PartInfo, RemovalGuard, StoreError, StoreResult, Tags, UploadInfo,
    UploadListPage, UploadListQuery, VersionListPage, VersionListQuery, WriteCondition, check_inline, dump_in_batches,
    duplicate_upload, is_storage_full, unused_parts,
};
use async_trait::async_trait;
use redb::{
    AccessGuard, Database, Durability, ReadOnlyTable, ReadTransaction, ReadableDatabase, ReadableTable, StorageBackend,
    Table, TableDefinition, WriteTransaction,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Write};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::oneshot;

type Bytes = &'static [u8];
type Str = &'static str;

const BUCKETS: TableDefinition<Str, Bytes> = TableDefinition::new("buckets");
const OBJECTS: TableDefinition<(Str, Str), Bytes> = TableDefinition::new("objects");
/// Inline bodies of small objects, by (bucket, key).
const BODIES: TableDefinition<(Str, Str), Bytes> = TableDefinition::new("bodies");
/// Versions other than the current object (noncurrent versions, delete markers), by (bucket, key, order).
const VERSIONS: TableDefinition<(Str, Str, Str), Bytes> = TableDefinition::new("versions");
/// Inline bodies of the `versions` entries, by the same key.
const VERSION_BODIES: TableDefinition<(Str, Str, Str), Bytes> = TableDefinition::new("version_bodies");
const UPLOADS: TableDefinition<(Str, Str, Str), Bytes> = TableDefinition::new("uploads");
const UPLOAD_IDS: TableDefinition<(Str, Str), Str> = TableDefinition::new("upload_ids");
const PARTS: TableDefinition<(Str, Str, u32), Bytes> = TableDefinition::new("parts");
/// Small named records by (kind, id): IAM users and policies, tickets.
const RECORDS: TableDefinition<(Str, Str), Bytes> = TableDefinition::new("records");
/// The reclaim queue ([`MetaStore::enqueue_reclaims`]) in due order: (due ms, blob id).
const RECLAIMS: TableDefinition<(i64, u128), ()> = TableDefinition::new("reclaims");
/// The due time of each queued blob id (so an id is queued once).
const RECLAIM_DUE: TableDefinition<u128, i64> = TableDefinition::new("reclaim_due");

/// At most this many jobs share one commit, so a flood of writes still answers in bounded time.
const MAX_BATCH: usize = 1024;

/// Converts a redb error: an I/O error keeps its meaning (ENOSPC is [`StoreError::DiskFull`]), and so
/// does redb's "a previous I/O error occurred" (an [`StoreError::Io`], which makes the writer reopen the
/// database); any other is [`StoreError::Backend`].
fn redb_error(err: redb::Error) -> StoreError {
    match err {
        redb::Error::Io(io) => io_error(io),
        redb::Error::PreviousIo => StoreError::Io(io::Error::other(
            "an earlier I/O error left the metadata database unusable until it is reopened",
        )),
        other => StoreError::Backend(other.to_string()),
    }
}

macro_rules! from_redb {
    ($($t:ty),+) => {$(
        impl From<$t> for StoreError {
            fn from(err: $t) -> Self {
                redb_error(err.into())
            }
        }
    )+};
}
from_redb!(
    redb::Error,
    redb::StorageError,
    redb::TableError,
    redb::TransactionError,
    redb::CommitError,
    redb::DatabaseError,
    redb::SetDurabilityError
);

fn encode<T: Serialize>(value: &T) -> StoreResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| StoreError::Backend(format!("cannot encode a record: {e}")))
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> StoreResult<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Backend(format!("cannot decode a stored record: {e}")))
}

/// A copy of `err` for each of the requests that share a failed batch.
fn replicate(err: &StoreError) -> StoreError {
    match err {
        StoreError::DiskFull => StoreError::DiskFull,
        StoreError::Io(io) => StoreError::Io(io::Error::new(io.kind(), io.to_string())),
        other => StoreError::Backend(other.to_string()),
    }
}

/// Size of the space reserve kept next to the database (see [`RedbMetaStore`]): enough pages for a
/// full batch of deletes.
pub const RESERVE_BYTES: u64 = 8 * 1024 * 1024;

/// While the disk is full or the database could not be reopened, the writer checks again this often
/// even when no write arrives, so that readiness returns once space is added.
const RETRY: Duration = Duration::from_secs(5);

/// Opens the database afresh: at start, and after an I/O failure left the open handle unusable.
type Opener = Box<dyn Fn() -> Result<Database, redb::DatabaseError> + Send>;

/// What the readers and the writer thread share.
struct Shared {
    /// The open database, or why there is none (the reopen after an I/O failure has not succeeded
    /// yet). Swapped by the writer thread only.
    db: RwLock<Result<Arc<Database>, StoreError>>,
    /// Set while writes fail for lack of space; see [`MetaStore::storage_full`].
    full: AtomicBool,
    /// Who hears of each group commit (metrics).
    observer: crate::observe::ObserverSlot,
}

impl Shared {
    /// The current database handle. Callers hold it briefly (a reader drops it once its transaction
    /// has begun), so that the writer can close it and reopen the file.
    fn database(&self) -> StoreResult<Arc<Database>> {
        match &*self.db.read().unwrap_or_else(PoisonError::into_inner) {
            Ok(db) => Ok(Arc::clone(db)),
            Err(err) => Err(replicate(err)),
        }
    }

    fn set_database(&self, db: Result<Arc<Database>, StoreError>) -> Result<Arc<Database>, StoreError> {
        std::mem::replace(&mut *self.db.write().unwrap_or_else(PoisonError::into_inner), db)
    }

    fn is_full(&self) -> bool {
        self.full.load(Ordering::Acquire)
    }
}

/// The metadata store on a redb file. See the module documentation.
///
/// # A full disk
/// redb latches its first failed write: from then on every write transaction, and every read that
/// reaches the file (rather than redb's cache), answers "previous I/O error occurred" until the
/// database is closed and opened again. So when a batch fails
/// with an I/O error the writer thread closes the database (once the readers that still hold it let
/// go) and opens the file again; redb's commit protocol leaves the last durable commit intact and the
/// open repairs the rest. When the failure was a full disk ([`StoreError::DiskFull`]) the store also
/// becomes *full* ([`MetaStore::storage_full`]): it deletes its space reserve (a file of
/// [`RESERVE_BYTES`] next to the database), so that deletes, which need a few pages too, can commit
/// and free space, and refuses every other write with `DiskFull` without trying it. Before each
/// batch, and every few seconds while full, it checks the file system: once it has room for the
/// reserve and as much again, it writes the reserve back, the store is no longer full and every write
/// goes through. No restart is needed.
pub struct RedbMetaStore {
    shared: Arc<Shared>,
    jobs: Option<mpsc::Sender<Box<dyn Job>>>,
    writer: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for RedbMetaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbMetaStore").finish_non_exhaustive()
    }
}

impl RedbMetaStore {
    /// Opens (or creates) the database file at `path` and starts its writer thread. The space reserve
    /// is `path` with the extension `reserve`.
    pub fn open(path: &Path) -> StoreResult<Self> {
        let file = path.to_owned();
        Self::start(path.with_extension("reserve"), Box::new(move || Database::builder().create(&file)))
    }

    /// Opens (or creates) a database on storage backends that `backend` makes, one per open (the
    /// store reopens the database after an I/O failure), with its space reserve at `reserve`, which
    /// should be on the same file system as the storage. For fault injection: a backend that fails
    /// writes with `ENOSPC` exercises the full-disk path without filling a disk.
    pub fn open_with_backend<B, F>(reserve: &Path, backend: F) -> StoreResult<Self>
    where
        B: StorageBackend,
        F: Fn() -> io::Result<B> + Send + 'static,
    {
        Self::start(reserve.to_owned(), Box::new(move || Database::builder().create_with_backend(backend()?)))
    }

    fn start(reserve: PathBuf, open: Opener) -> StoreResult<Self> {
        let db = open()?;
        let txn = db.begin_write()?;
        {
            // Creates the tables, so that read transactions can always open them.
            WriteTables::open(&txn)?;
        }
        txn.commit()?;
        let reserve = Reserve(reserve);
        let full = match reserve.fill() {
            Ok(()) => false,
            Err(err) if is_storage_full(&err) => {
                tracing::warn!("the metadata disk is full: only deletes are accepted until space is freed");
                true
            }
            Err(err) => return Err(err.into()),
        };
        let shared = Arc::new(Shared {
            db: RwLock::new(Ok(Arc::new(db))),
            full: AtomicBool::new(full),
            observer: crate::observe::ObserverSlot::default(),
        });
        let (tx, rx) = mpsc::channel::<Box<dyn Job>>();
        let writer = Writer { shared: Arc::clone(&shared), open, reserve };
        let writer = std::thread::Builder::new()
            .name("kura-meta-writer".into())
            .spawn(move || writer.run(&rx))
            .map_err(io_error)?;
        Ok(Self { shared, jobs: Some(tx), writer: Some(writer) })
    }

    /// Runs `op` in the next group commit and returns its answer once that commit is durable.
    async fn write<T, F>(&self, op: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteTables<'_>) -> Fatal<StoreResult<T>> + Send + 'static,
    {
        self.submit(op, false).await
    }

    /// [`RedbMetaStore::write`] for a mutation that only removes, and so may free space: it is still
    /// tried while the disk is full.
    async fn remove<T, F>(&self, op: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteTables<'_>) -> Fatal<StoreResult<T>> + Send + 'static,
    {
        self.submit(op, true).await
    }

    async fn submit<T, F>(&self, op: F, frees: bool) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteTables<'_>) -> Fatal<StoreResult<T>> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let stopped = || StoreError::Backend("the metadata writer has stopped".into());
        let jobs = self.jobs.as_ref().ok_or_else(stopped)?;
        jobs.send(Box::new(WriteJob { op, frees, tx })).map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    /// Runs `op` in a read transaction on the blocking pool.
    async fn read<T, F>(&self, op: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&ReadTransaction) -> StoreResult<T> + Send + 'static,
    {
        let shared = Arc::clone(&self.shared);
        tokio::task::spawn_blocking(move || {
            // The handle is dropped once the transaction has begun (see `Shared::database`).
            let txn = shared.database()?.begin_read()?;
            op(&txn)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("a metadata read failed: {e}")))?
    }

    /// Runs `op` in a read transaction on the calling thread, for the small reads every request makes
    /// (a bucket's record for the access decision; one key's record, with at most [`crate::INLINE_MAX`]
    /// of inline body, for a GET or HEAD): their pages stay in redb's cache, so such a read takes
    /// microseconds, less than the hop to the blocking pool and back that [`Self::read`] costs (two
    /// context switches per read, measured on HEAD and GET in BENCHMARKS.md). Scans (listings,
    /// dumps) stay on the blocking pool.
    fn read_inline<T>(&self, op: impl FnOnce(&ReadTransaction) -> StoreResult<T>) -> StoreResult<T> {
        let txn = self.shared.database()?.begin_read()?;
        op(&txn)
    }
}

impl Drop for RedbMetaStore {
    fn drop(&mut self) {
        // Closing the channel ends the writer loop after the batch in flight; joining it releases its
        // handle on the database, so the file can be reopened as soon as the store is gone.
        self.jobs = None;
        if let Some(writer) = self.writer.take()
            && writer.join().is_err()
        {
            tracing::error!("the metadata writer thread panicked");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The writer thread.

/// A job's outcome: `Err` is a failure of the database itself, which aborts the batch; `Ok(answer)`
/// is the request's own answer (possibly an error such as `NoSuchBucket`, which writes nothing).
type Fatal<T> = Result<T, StoreError>;

trait Job: Send {
    /// Whether the job only removes (and may free space), so that it is tried on a full disk.
    fn frees(&self) -> bool;
    /// Runs the job in the batch's transaction.
    fn run(self: Box<Self>, tables: &mut WriteTables<'_>) -> Box<dyn Reply>;
    /// Answers without running (the batch failed before its turn).
    fn fail(self: Box<Self>, err: &StoreError);
}

trait Reply: Send {
    /// The database failure the job hit, if any.
    fn fatal(&self) -> Option<&StoreError>;
    /// Answers once the batch's fate is known.
    fn send(self: Box<Self>, commit: Result<(), &StoreError>);
}

struct WriteJob<T, F> {
    op: F,
    frees: bool,
    tx: oneshot::Sender<StoreResult<T>>,
}

struct PendingReply<T> {
    outcome: Fatal<StoreResult<T>>,
    tx: oneshot::Sender<StoreResult<T>>,
}

impl<T, F> Job for WriteJob<T, F>
where
    T: Send + 'static,
    F: FnOnce(&mut WriteTables<'_>) -> Fatal<StoreResult<T>> + Send + 'static,
{
    fn frees(&self) -> bool {
        self.frees
    }
    fn run(self: Box<Self>, tables: &mut WriteTables<'_>) -> Box<dyn Reply> {
        let this = *self;
        Box::new(PendingReply { outcome: (this.op)(tables), tx: this.tx })
    }
    fn fail(self: Box<Self>, err: &StoreError) {
        // The requester may have given up (its future was dropped): nobody to answer then.
        let _ = self.tx.send(Err(replicate(err)));
    }
}

impl<T: Send> Reply for PendingReply<T> {
    fn fatal(&self) -> Option<&StoreError> {
        self.outcome.as_ref().err()
    }
    fn send(self: Box<Self>, commit: Result<(), &StoreError>) {
        let answer = match (self.outcome, commit) {
            (Err(own), _) => Err(own),
            (Ok(answer), Ok(())) => answer,
            (Ok(_), Err(batch)) => Err(replicate(batch)),
        };
        // As above: a requester that went away needs no answer.
        let _ = self.tx.send(answer);
    }
}

/// Space set aside on the database's file system, at this path: deleted when a commit finds the disk
/// full, so that deletes can commit; written again once there is room for it.
struct Reserve(PathBuf);

impl Reserve {
    /// Writes the reserve (if it is not already whole) and makes it durable. A partial reserve is
    /// removed, so a failed attempt takes no space.
    fn fill(&self) -> io::Result<()> {
        if self.is_whole() {
            return Ok(());
        }
        self.write()
    }

    /// Ends a full disk: writes the reserve only if the file system has room for it and as much again
    /// for writes. Without that margin, the space the released reserve freed would pass for free space:
    /// writing the reserve back would succeed, end the full state, and leave no room for anything, not
    /// even the deletes the reserve exists for (seen on a real full disk).
    fn refill_with_margin(&self) -> io::Result<()> {
        if self.is_whole() {
            return Ok(());
        }
        let dir = self.0.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let fs = rustix::fs::statvfs(dir).map_err(io::Error::from)?;
        let available = fs.f_bavail.saturating_mul(fs.f_frsize);
        if available < 2 * RESERVE_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                format!("{available} bytes available, {} needed for the reserve and writes", 2 * RESERVE_BYTES),
            ));
        }
        self.write()
    }

    fn is_whole(&self) -> bool {
        std::fs::metadata(&self.0).is_ok_and(|m| m.is_file() && m.len() == RESERVE_BYTES)
    }

    fn write(&self) -> io::Result<()> {
        let result = (|| {
            let mut file = File::create(&self.0)?;
            let zeros = vec![0u8; 64 * 1024];
            for _ in 0..RESERVE_BYTES / zeros.len() as u64 {
                file.write_all(&zeros)?;
            }
            file.sync_all()
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&self.0);
        }
        result
    }

    /// Deletes the reserve, freeing its space.
    fn release(&self) {
        match std::fs::remove_file(&self.0) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => tracing::warn!(error = %err, path = %self.0.display(), "cannot delete the space reserve"),
        }
    }
}

/// The writer thread's state: the one owner of the database's lifecycle.
struct Writer {
    shared: Arc<Shared>,
    open: Opener,
    reserve: Reserve,
}

impl Writer {
    fn run(self, jobs: &mpsc::Receiver<Box<dyn Job>>) {
        loop {
            let degraded = self.shared.is_full() || self.shared.database().is_err();
            let first = if degraded {
                match jobs.recv_timeout(RETRY) {
                    Ok(job) => Some(job),
                    Err(mpsc::RecvTimeoutError::Timeout) => None,
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
            } else {
                match jobs.recv() {
                    Ok(job) => Some(job),
                    Err(_) => return,
                }
            };
            if degraded {
                self.recover();
            }
            let Some(first) = first else { continue };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            self.run_batch(batch);
        }
    }

    /// Reopens a database that could not be reopened before, and ends the full state once the reserve
    /// can be written again.
    fn recover(&self) {
        if self.shared.database().is_err() {
            self.reopen();
        }
        if self.shared.is_full() {
            match self.reserve.refill_with_margin() {
                Ok(()) => {
                    self.shared.full.store(false, Ordering::Release);
                    tracing::info!("the metadata disk has space again: all writes are accepted");
                }
                Err(err) => tracing::debug!(error = %err, "the metadata disk is still full"),
            }
        }
    }

    fn run_batch(&self, batch: Vec<Box<dyn Job>>) {
        let db = match self.shared.database() {
            Ok(db) => db,
            Err(err) => return batch.into_iter().for_each(|job| job.fail(&err)),
        };
        let batch = if self.shared.is_full() {
            let (frees, refused): (Vec<_>, Vec<_>) = batch.into_iter().partition(|job| job.frees());
            refused.into_iter().for_each(|job| job.fail(&StoreError::DiskFull));
            frees
        } else {
            batch
        };
        if batch.is_empty() {
            return;
        }
        let (size, started) = (batch.len(), self.shared.observer.start());
        // Before anyone is answered: a requester that retries (or reads) finds the store recovered.
        run_batch(db, batch, |err| self.settle(err));
        self.shared.observer.committed(size, started);
    }

    /// Recovers from a batch's failure: a full disk makes the store full and gives up the reserve; any
    /// I/O failure reopens the database.
    fn settle(&self, err: &StoreError) {
        match err {
            StoreError::DiskFull => {
                if !self.shared.full.swap(true, Ordering::AcqRel) {
                    tracing::warn!(
                        "the metadata disk is full: only deletes are accepted until space is freed or added"
                    );
                }
                self.reserve.release();
                self.reopen();
            }
            StoreError::Io(_) => self.reopen(),
            _ => {}
        }
    }

    /// Closes the database, once the readers that still hold it let go, and opens the file again. On
    /// failure, readers and writers get the open's error until a later attempt succeeds.
    fn reopen(&self) {
        let closing = StoreError::Backend("the metadata database is being reopened".into());
        if let Ok(old) = self.shared.set_database(Err(closing)) {
            release(old);
        }
        let opened = (self.open)().map(Arc::new).map_err(StoreError::from);
        match &opened {
            Ok(_) => tracing::info!("reopened the metadata database after an I/O failure"),
            Err(err) => tracing::error!(error = %err, "cannot reopen the metadata database; retrying"),
        }
        drop(self.shared.set_database(opened));
    }
}

/// Drops the last handle on a failed database, waiting (at most a few seconds) for readers that are
/// still beginning a transaction on it: the file can only be opened again once it is closed.
fn release(mut db: Arc<Database>) {
    for _ in 0..5000 {
        match Arc::try_unwrap(db) {
            // Closing a failed database reports the failure again: nothing to add to the log.
            Ok(db) => return drop(db),
            Err(shared) => {
                db = shared;
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    tracing::error!("a metadata reader still holds the failed database; it is reopened once it lets go");
}

fn begin(db: &Database) -> StoreResult<WriteTransaction> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    Ok(txn)
}

/// Runs a batch in one transaction and answers every job. A failure of the database itself (begin, a
/// job's fatal error, or the commit) is first handed to `settle`, before any job is answered.
fn run_batch(db: Arc<Database>, batch: Vec<Box<dyn Job>>, settle: impl FnOnce(&StoreError)) {
    let txn = begin(&db);
    // The transaction needs no handle: dropping it here lets `settle` close the database.
    drop(db);
    let txn = match txn {
        Ok(txn) => txn,
        Err(err) => {
            tracing::error!(error = %err, "cannot start a metadata transaction");
            settle(&err);
            return batch.into_iter().for_each(|job| job.fail(&err));
        }
    };
    let mut replies: Vec<Box<dyn Reply>> = Vec::with_capacity(batch.len());
    let mut failure: Option<StoreError> = None;
    let mut pending = batch.into_iter();
    match WriteTables::open(&txn) {
        Ok(mut tables) => {
            for job in pending.by_ref() {
                let reply = job.run(&mut tables);
                let fatal = reply.fatal().map(replicate);
                replies.push(reply);
                if fatal.is_some() {
                    failure = fatal;
                    break;
                }
            }
        }
        Err(err) => failure = Some(err),
    }
    let commit = match failure {
        Some(err) => {
            tracing::error!(error = %err, "a metadata batch failed; aborting it");
            if let Err(abort) = txn.abort() {
                tracing::error!(error = %abort, "aborting the metadata transaction failed");
            }
            Err(err)
        }
        None => txn.commit().map_err(StoreError::from),
    };
    if let Err(err) = &commit {
        tracing::error!(error = %err, "a metadata commit failed");
        settle(err);
        pending.for_each(|job| job.fail(err));
    }
    for reply in replies {
        reply.send(commit.as_ref().map(|_| ()));
    }
}

// ---------------------------------------------------------------------------------------------
// Mutations, run inside the batch's transaction. Each validates first, then writes.

/// The tables of a write transaction.
struct WriteTables<'t> {
    buckets: Table<'t, Str, Bytes>,
    objects: Table<'t, (Str, Str), Bytes>,
    bodies: Table<'t, (Str, Str), Bytes>,
    versions: Table<'t, (Str, Str, Str), Bytes>,
    version_bodies: Table<'t, (Str, Str, Str), Bytes>,
    uploads: Table<'t, (Str, Str, Str), Bytes>,
    upload_ids: Table<'t, (Str, Str), Str>,
    parts: Table<'t, (Str, Str, u32), Bytes>,
    records: Table<'t, (Str, Str), Bytes>,
    reclaims: Table<'t, (i64, u128), ()>,
    reclaim_due: Table<'t, u128, i64>,
}

/// Returns the request's own error from a job, without writing anything.
macro_rules! refuse {
    ($err:expr) => {
        return Ok(Err($err))
    };
}

impl<'t> WriteTables<'t> {
    fn open(txn: &'t WriteTransaction) -> StoreResult<Self> {
        Ok(Self {
            buckets: txn.open_table(BUCKETS)?,
            objects: txn.open_table(OBJECTS)?,
            bodies: txn.open_table(BODIES)?,
            versions: txn.open_table(VERSIONS)?,
            version_bodies: txn.open_table(VERSION_BODIES)?,
            uploads: txn.open_table(UPLOADS)?,
            upload_ids: txn.open_table(UPLOAD_IDS)?,
            parts: txn.open_table(PARTS)?,
            records: txn.open_table(RECORDS)?,
            reclaims: txn.open_table(RECLAIMS)?,
            reclaim_due: txn.open_table(RECLAIM_DUE)?,
        })
    }

    /// Queues `ids` for deletion at `due_ms` (an id already queued keeps the later time).
    fn enqueue_reclaims(&mut self, ids: &[BlobId], due_ms: i64) -> Fatal<()> {
        for id in ids {
            let queued = self.reclaim_due.get(id.0)?.map(|g| g.value());
            if queued.is_some_and(|q| q >= due_ms) {
                continue;
            }
            if let Some(q) = queued {
                self.reclaims.remove((q, id.0))?;
            }
            self.reclaim_due.insert(id.0, due_ms)?;
            self.reclaims.insert((due_ms, id.0), ())?;
        }
        Ok(())
    }

    /// Removes and returns at most `max` ids due at `now_ms`, earliest first.
    fn take_due_reclaims(&mut self, now_ms: i64, max: usize) -> Fatal<Vec<BlobId>> {
        let mut due = Vec::new();
        for entry in self.reclaims.range(..=(now_ms, u128::MAX))?.take(max) {
            due.push(entry?.0.value());
        }
        for &(at, id) in &due {
            self.reclaims.remove((at, id))?;
            self.reclaim_due.remove(id)?;
        }
        Ok(due.into_iter().map(|(_, id)| BlobId(id)).collect())
    }

    fn has_bucket(&self, bucket: &str) -> Fatal<bool> {
        Ok(self.buckets.get(bucket)?.is_some())
    }

    /// The key of an upload, if it exists.
    fn upload_key(&self, bucket: &str, upload_id: &str) -> Fatal<Option<String>> {
        Ok(self.upload_ids.get((bucket, upload_id))?.map(|g| g.value().to_owned()))
    }

    /// The parts of an upload.
    fn upload_parts(&self, bucket: &str, upload_id: &str) -> Fatal<Vec<PartInfo>> {
        let range = self.parts.range((bucket, upload_id, 0)..=(bucket, upload_id, u32::MAX))?;
        range.map(|entry| decode(entry?.1.value())).collect()
    }

    /// Removes an upload and its parts (which the caller read with [`Self::upload_parts`]).
    fn remove_upload(&mut self, bucket: &str, key: &str, upload_id: &str, parts: &[PartInfo]) -> Fatal<()> {
        for part in parts {
            self.parts.remove((bucket, upload_id, part.number))?;
        }
        self.upload_ids.remove((bucket, upload_id))?;
        self.uploads.remove((bucket, key, upload_id))?;
        Ok(())
    }

    fn create_bucket(&mut self, info: BucketInfo) -> Fatal<StoreResult<()>> {
        if self.has_bucket(&info.name)? {
            refuse!(StoreError::BucketAlreadyExists(info.name));
        }
        self.buckets.insert(info.name.as_str(), encode(&info)?.as_slice())?;
        Ok(Ok(()))
    }

    fn set_bucket_settings(
        &mut self,
        bucket: &str,
        expected: &BucketSettings,
        settings: BucketSettings,
    ) -> Fatal<StoreResult<()>> {
        let Some(found) = self.buckets.get(bucket)? else {
            refuse!(StoreError::NoSuchBucket(bucket.to_owned()));
        };
        let mut info: BucketInfo = decode(found.value())?;
        drop(found);
        if info.settings != *expected {
            refuse!(StoreError::ConditionFailed { key: String::new() });
        }
        info.settings = settings;
        self.buckets.insert(bucket, encode(&info)?.as_slice())?;
        Ok(Ok(()))
    }

    fn delete_bucket(&mut self, bucket: &str) -> Fatal<StoreResult<Vec<BlobId>>> {
        if !self.has_bucket(bucket)? {
            refuse!(StoreError::NoSuchBucket(bucket.to_owned()));
        }
        let first = self.objects.range((bucket, "")..)?.next().transpose()?;
        let first_version = self.versions.range((bucket, "", "")..)?.next().transpose()?;
        if first.is_some_and(|(k, _)| k.value().0 == bucket)
            || first_version.is_some_and(|(k, _)| k.value().0 == bucket)
        {
            refuse!(StoreError::BucketNotEmpty(bucket.to_owned()));
        }
        let mut uploads = Vec::new();
        for entry in self.uploads.range((bucket, "", "")..)? {
            let (k, _) = entry?;
            let (b, key, id) = k.value();
            if b != bucket {
                break;
            }
            uploads.push((key.to_owned(), id.to_owned()));
        }
        let mut freed = Vec::new();
        let mut doomed = Vec::with_capacity(uploads.len());
        for (key, id) in uploads {
            let parts = self.upload_parts(bucket, &id)?;
            freed.extend(parts.iter().map(|p| p.blob));
            doomed.push((key, id, parts));
        }
        for (key, id, parts) in doomed {
            self.remove_upload(bucket, &key, &id, &parts)?;
        }
        self.buckets.remove(bucket)?;
        Ok(Ok(freed))
    }

    fn put_object(
        &mut self,
        bucket: &str,
        object: ObjectMeta,
        condition: &WriteCondition,
    ) -> Fatal<StoreResult<Vec<BlobId>>> {
        if !self.has_bucket(bucket)? {
            refuse!(StoreError::NoSuchBucket(bucket.to_owned()));
        }
        if let Err(e) = check_inline(&object) {
            refuse!(e);
        }
        versions::put(self, bucket, object, condition)
    }

    fn delete_object(
        &mut self,
        bucket: &str,
        key: &str,
        condition: &WriteCondition,
    ) -> Fatal<StoreResult<Option<ObjectMeta>>> {
        if !self.has_bucket(bucket)? {
            refuse!(StoreError::NoSuchBucket(bucket.to_owned()));
        }
        let current = versions::VersionRead::current(self, bucket, key, false)?;
        if let Err(e) = condition.check(bucket, key, current.as_ref()) {
            refuse!(e);
        }
        versions::delete_current(self, bucket, key).map(Ok)
    }

    fn delete_version(
        &mut self,
        bucket: &str,
        key: &str,
        version: &str,
        guard: RemovalGuard,
    ) -> Fatal<StoreResult<Option<ObjectMeta>>> {
        if !self.has_bucket(bucket)? {
            refuse!(StoreError::NoSuchBucket(bucket.to_owned()));
        }
        versions::delete_version(self, bucket, key, version, guard)
    }

    fn put_noncurrent(&mut self, bucket: &str, object: ObjectMeta) -> Fatal<StoreResult<()>> {
        if !self.has_bucket(bucket)? {
            refuse!(StoreError::NoSuchBucket(bucket.to_owned()));
        }
        if let Err(e) = check_inline(&object) {
            refuse!(e);
        }
        self.insert_version(bucket, object).map(Ok)
    }

    fn set_object_tags(
        &mut self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        tags: Tags,
    ) -> Fatal<StoreResult<()>> {
        if !self.has_bucket(bucket)? {
            refuse!(StoreError::NoSuchBucket(bucket.to_owned()));
        }
        versions::set_tags(self, bucket, key, version, tags)
    }

    fn set_object_lock(
        &mut self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        change: (ObjectLock, ObjectLock),
    ) -> Fatal<StoreResult<()>> {
        if !self.has_bucket(bucket)? {
            refuse!(StoreError::NoSuchBucket(bucket.to_owned()));
        }
        crate::lock::set_lock(self, bucket, key, version, change)
    }

    fn create_upload(&mut self, bucket: &str, upload: UploadInfo) -> Fatal<StoreResult<()>> {
        if !self.has_bucket(bucket)? {
            refuse!(StoreError::NoSuchBucket(bucket.to_owned()));
        }
        if self.upload_key(bucket, &upload.upload_id)?.is_some() {
            refuse!(duplicate_upload(&upload.upload_id));
        }
        let (key, id) = (upload.key.as_str(), upload.upload_id.as_str());
        self.uploads.insert((bucket, key, id), encode(&upload)?.as_slice())?;
        self.upload_ids.insert((bucket, id), key)?;
        Ok(Ok(()))
    }

    fn put_part(&mut self, bucket: &str, upload_id: &str, part: PartInfo) -> Fatal<StoreResult<Option<BlobId>>> {
        if !self.has_bucket(bucket)? {
            refuse!(StoreError::NoSuchBucket(bucket.to_owned()));
        }
        if self.upload_key(bucket, upload_id)?.is_none() {
            refuse!(StoreError::NoSuchUpload(upload_id.to_owned()));
        }
        let value = encode(&part)?;
        let old = self.parts.insert((bucket, upload_id, part.number), value.as_slice())?;
        let old: Option<PartInfo> = old.map(|g| decode(g.value())).transpose()?;
        Ok(Ok(old.map(|p| p.blob).filter(|b| *b != part.blob)))
    }

    fn complete_upload(
        &mut self,
        bucket: &str,
        upload_id: &str,
        mut object: ObjectMeta,
        condition: &WriteCondition,
    ) -> Fatal<StoreResult<Vec<BlobId>>> {
        if !self.has_bucket(bucket)? {
            refuse!(StoreError::NoSuchBucket(bucket.to_owned()));
        }
        let Some(key) = self.upload_key(bucket, upload_id)? else {
            refuse!(StoreError::NoSuchUpload(upload_id.to_owned()));
        };
        let parts = self.upload_parts(bucket, upload_id)?;
        object.key = key.clone();
        let mut freed = match unused_parts(upload_id, &parts, &object) {
            Ok(freed) => freed,
            Err(refused) => refuse!(refused),
        };
        match versions::put(self, bucket, object, condition)? {
            Ok(replaced) => freed.extend(replaced),
            Err(refused) => refuse!(refused),
        }
        self.remove_upload(bucket, &key, upload_id, &parts)?;
        Ok(Ok(freed))
    }

    fn abort_upload(&mut self, bucket: &str, upload_id: &str) -> Fatal<StoreResult<Vec<BlobId>>> {
        if !self.has_bucket(bucket)? {
            refuse!(StoreError::NoSuchBucket(bucket.to_owned()));
        }
        let Some(key) = self.upload_key(bucket, upload_id)? else {
            refuse!(StoreError::NoSuchUpload(upload_id.to_owned()));
        };
        let parts = self.upload_parts(bucket, upload_id)?;
        self.remove_upload(bucket, &key, upload_id, &parts)?;
        Ok(Ok(parts.iter().map(|p| p.blob).collect()))
    }
}

// ---------------------------------------------------------------------------------------------
// Reads.

fn require_bucket(txn: &ReadTransaction, bucket: &str) -> StoreResult<()> {
    match txn.open_table(BUCKETS)?.get(bucket)? {
        Some(_) => Ok(()),
        None => Err(StoreError::NoSuchBucket(bucket.to_owned())),
    }
}

fn read_upload_key(txn: &ReadTransaction, bucket: &str, upload_id: &str) -> StoreResult<Option<String>> {
    Ok(txn.open_table(UPLOAD_IDS)?.get((bucket, upload_id))?.map(|g| g.value().to_owned()))
}

/// An object's record and, when `with_body`, its inline body, read in one transaction so that the
/// body cannot belong to another version of the object.
fn read_object(txn: &ReadTransaction, bucket: &str, key: &str, with_body: bool) -> StoreResult<Option<ObjectMeta>> {
    let tables = ReadTables::open(txn)?;
    match tables.current(bucket, key, with_body)? {
        Some(object) => Ok(Some(object)),
        None => require_bucket(txn, bucket).map(|()| None),
    }
}

/// Gives an inline record its body, read from `found` (an empty body may have no entry).
fn attach_body(object: &mut ObjectMeta, found: Option<AccessGuard<'_, Bytes>>) -> StoreResult<()> {
    object.inline = match found {
        Some(body) => Some(bytes::Bytes::copy_from_slice(body.value())),
        None if object.stored_len(object.size) == 0 => Some(bytes::Bytes::new()),
        None => {
            return Err(StoreError::Backend(format!(
                "object {:?} (version {}) has no segments and no inline body",
                object.key, object.version_id
            )));
        }
    };
    Ok(())
}

fn get_current(
    objects: &impl ReadableTable<(Str, Str), Bytes>,
    bodies: &impl ReadableTable<(Str, Str), Bytes>,
    bucket: &str,
    key: &str,
    body: bool,
) -> StoreResult<Option<ObjectMeta>> {
    let Some(found) = objects.get((bucket, key))? else {
        return Ok(None);
    };
    let mut object: ObjectMeta = decode(found.value())?;
    if body && object.is_inline() {
        attach_body(&mut object, bodies.get((bucket, key))?)?;
    }
    Ok(Some(object))
}

fn get_versions(
    versions: &impl ReadableTable<(Str, Str, Str), Bytes>,
    bodies: &impl ReadableTable<(Str, Str, Str), Bytes>,
    (bucket, key): (&str, &str),
    body: bool,
    limit: usize,
) -> StoreResult<Vec<ObjectMeta>> {
    let mut out = Vec::new();
    for entry in versions.range((bucket, key, "")..)? {
        if out.len() >= limit {
            break;
        }
        let (k, v) = entry?;
        let (b, found_key, order) = k.value();
        if b != bucket || found_key != key {
            break;
        }
        let mut object: ObjectMeta = decode(v.value())?;
        if body && object.is_inline() {
            attach_body(&mut object, bodies.get((bucket, key, order))?)?;
        }
        out.push(object);
    }
    Ok(out)
}

fn get_version_at(
    versions: &impl ReadableTable<(Str, Str, Str), Bytes>,
    bodies: &impl ReadableTable<(Str, Str, Str), Bytes>,
    (bucket, key): (&str, &str),
    order: &str,
    body: bool,
) -> StoreResult<Option<ObjectMeta>> {
    let Some(found) = versions.get((bucket, key, order))? else {
        return Ok(None);
    };
    let mut object: ObjectMeta = decode(found.value())?;
    if body && object.is_inline() {
        attach_body(&mut object, bodies.get((bucket, key, order))?)?;
    }
    Ok(Some(object))
}

/// The object tables of a read transaction.
struct ReadTables {
    objects: ReadOnlyTable<(Str, Str), Bytes>,
    bodies: ReadOnlyTable<(Str, Str), Bytes>,
    versions: ReadOnlyTable<(Str, Str, Str), Bytes>,
    version_bodies: ReadOnlyTable<(Str, Str, Str), Bytes>,
}

impl ReadTables {
    fn open(txn: &ReadTransaction) -> StoreResult<Self> {
        Ok(Self {
            objects: txn.open_table(OBJECTS)?,
            bodies: txn.open_table(BODIES)?,
            versions: txn.open_table(VERSIONS)?,
            version_bodies: txn.open_table(VERSION_BODIES)?,
        })
    }
}

impl VersionRead for ReadTables {
    fn current(&self, bucket: &str, key: &str, body: bool) -> StoreResult<Option<ObjectMeta>> {
        get_current(&self.objects, &self.bodies, bucket, key, body)
    }
    fn versions(&self, bucket: &str, key: &str, body: bool, limit: usize) -> StoreResult<Vec<ObjectMeta>> {
        get_versions(&self.versions, &self.version_bodies, (bucket, key), body, limit)
    }
    fn version_at(&self, bucket: &str, key: &str, order: &str, body: bool) -> StoreResult<Option<ObjectMeta>> {
        get_version_at(&self.versions, &self.version_bodies, (bucket, key), order, body)
    }
}

impl VersionRead for WriteTables<'_> {
    fn current(&self, bucket: &str, key: &str, body: bool) -> StoreResult<Option<ObjectMeta>> {
        get_current(&self.objects, &self.bodies, bucket, key, body)
    }
    fn versions(&self, bucket: &str, key: &str, body: bool, limit: usize) -> StoreResult<Vec<ObjectMeta>> {
        get_versions(&self.versions, &self.version_bodies, (bucket, key), body, limit)
    }
    fn version_at(&self, bucket: &str, key: &str, order: &str, body: bool) -> StoreResult<Option<ObjectMeta>> {
        get_version_at(&self.versions, &self.version_bodies, (bucket, key), order, body)
    }
}

impl VersionWrite for WriteTables<'_> {
    fn insert_current(&mut self, bucket: &str, mut object: ObjectMeta) -> StoreResult<()> {
        let body = object.inline.take();
        let key = object.key.as_str();
        self.objects.insert((bucket, key), encode(&object)?.as_slice())?;
        if let Some(body) = body {
            self.bodies.insert((bucket, key), body.as_ref())?;
        }
        Ok(())
    }
    fn remove_current(&mut self, bucket: &str, old: &ObjectMeta) -> StoreResult<()> {
        let key = old.key.as_str();
        self.objects.remove((bucket, key))?;
        if old.is_inline() {
            self.bodies.remove((bucket, key))?;
        }
        Ok(())
    }
    fn insert_version(&mut self, bucket: &str, mut object: ObjectMeta) -> StoreResult<()> {
        let body = object.inline.take();
        let order = order_of(&object);
        let id = (bucket, object.key.as_str(), order.as_str());
        self.versions.insert(id, encode(&object)?.as_slice())?;
        if let Some(body) = body {
            self.version_bodies.insert(id, body.as_ref())?;
        }
        Ok(())
    }
    fn remove_version(&mut self, bucket: &str, old: &ObjectMeta) -> StoreResult<()> {
        let order = order_of(old);
        let id = (bucket, old.key.as_str(), order.as_str());
        self.versions.remove(id)?;
        if old.is_inline() {
            self.version_bodies.remove(id)?;
        }
        Ok(())
    }
    fn rewrite(&mut self, bucket: &str, object: &ObjectMeta, current: bool) -> StoreResult<()> {
        let record = ObjectMeta { inline: None, ..object.clone() };
        if current {
            self.objects.insert((bucket, object.key.as_str()), encode(&record)?.as_slice())?;
        } else {
            let order = order_of(object);
            self.versions.insert((bucket, object.key.as_str(), order.as_str()), encode(&record)?.as_slice())?;
        }
        Ok(())
    }
}

type VersionRange = redb::Range<'static, (Str, Str, Str), Bytes>;

/// The `objects` side of a version listing: one bucket's current objects from a seek on.
struct CurrentRecords<'a> {
    table: &'a ReadOnlyTable<(Str, Str), Bytes>,
    bucket: &'a str,
    range: Option<ObjectRange>,
}

impl SortedRecords for CurrentRecords<'_> {
    fn seek(&mut self, key: &str) -> StoreResult<()> {
        self.range = Some(self.table.range((self.bucket, key)..)?);
        Ok(())
    }
    fn next_record(&mut self) -> StoreResult<Option<ObjectMeta>> {
        let Some(range) = self.range.as_mut() else { return Ok(None) };
        let Some((k, v)) = range.next().transpose()? else { return Ok(None) };
        if k.value().0 != self.bucket {
            self.range = None;
            return Ok(None);
        }
        decode(v.value()).map(Some)
    }
}

/// The `versions` side of a version listing: one bucket's other versions from a seek on.
struct NoncurrentRecords<'a> {
    table: &'a ReadOnlyTable<(Str, Str, Str), Bytes>,
    bucket: &'a str,
    range: Option<VersionRange>,
}

impl SortedRecords for NoncurrentRecords<'_> {
    fn seek(&mut self, key: &str) -> StoreResult<()> {
        self.range = Some(self.table.range((self.bucket, key, "")..)?);
        Ok(())
    }
    fn next_record(&mut self) -> StoreResult<Option<ObjectMeta>> {
        let Some(range) = self.range.as_mut() else { return Ok(None) };
        let Some((k, v)) = range.next().transpose()? else { return Ok(None) };
        if k.value().0 != self.bucket {
            self.range = None;
            return Ok(None);
        }
        decode(v.value()).map(Some)
    }
}

// ---------------------------------------------------------------------------------------------
// Snapshots (backups).

/// One read transaction kept open for a dump ([`MetaStore::snapshot`]): redb's snapshot isolation
/// makes every batch read the database as of the transaction's start.
struct RedbSnapshot {
    txn: ReadTransaction,
}

/// Where a dump stands: the table being read and the last key emitted from it.
#[derive(Debug, Clone)]
enum DumpCursor {
    Buckets(Option<String>),
    Objects(Option<(String, String)>),
    Versions(Option<(String, String, String)>),
    Uploads(Option<(String, String, String)>),
    Parts(Option<(String, String, u32)>),
    Records(Option<(String, String)>),
    Done,
}

/// Entries read per blocking call of a dump.
const DUMP_BATCH: usize = 256;

/// The range after `after` (everything when `None`).
fn after<K>(after: Option<K>) -> (Bound<K>, Bound<K>) {
    (after.map_or(Bound::Unbounded, Bound::Excluded), Bound::Unbounded)
}

impl RedbSnapshot {
    /// The next batch of entries from `cursor`, and where the following batch starts. A batch is empty
    /// only when it moves on to the next table (or the dump is done).
    fn batch(&self, cursor: DumpCursor, bodies: bool) -> StoreResult<(Vec<DumpEntry>, DumpCursor)> {
        let txn = &self.txn;
        let mut out = Vec::new();
        let next = match cursor {
            DumpCursor::Buckets(last) => {
                let table = txn.open_table(BUCKETS)?;
                let mut last_key = None;
                for entry in table.range::<&str>(after(last.as_deref()))?.take(DUMP_BATCH) {
                    let (k, v) = entry?;
                    out.push(DumpEntry::Bucket(decode(v.value())?));
                    last_key = Some(k.value().to_owned());
                }
                if out.len() < DUMP_BATCH { DumpCursor::Objects(None) } else { DumpCursor::Buckets(last_key) }
            }
            DumpCursor::Objects(last) => {
                let table = txn.open_table(OBJECTS)?;
                let body_table = txn.open_table(BODIES)?;
                let mut last_key = None;
                let start = last.as_ref().map(|(b, k)| (b.as_str(), k.as_str()));
                for entry in table.range::<(&str, &str)>(after(start))?.take(DUMP_BATCH) {
                    let (k, v) = entry?;
                    let (bucket, key) = k.value();
                    let mut object: ObjectMeta = decode(v.value())?;
                    if bodies && object.is_inline() {
                        object.inline = Some(match body_table.get((bucket, key))? {
                            Some(body) => bytes::Bytes::copy_from_slice(body.value()),
                            None if object.stored_len(object.size) == 0 => bytes::Bytes::new(),
                            None => {
                                return Err(StoreError::Backend(format!(
                                    "object {key:?} in bucket {bucket:?} has no segments and no inline body"
                                )));
                            }
                        });
                    }
                    out.push(DumpEntry::Object { bucket: bucket.to_owned(), object });
                    last_key = Some((bucket.to_owned(), key.to_owned()));
                }
                if out.len() < DUMP_BATCH { DumpCursor::Versions(None) } else { DumpCursor::Objects(last_key) }
            }
            DumpCursor::Versions(last) => {
                let table = txn.open_table(VERSIONS)?;
                let body_table = txn.open_table(VERSION_BODIES)?;
                let mut last_key = None;
                let start = last.as_ref().map(|(b, k, o)| (b.as_str(), k.as_str(), o.as_str()));
                for entry in table.range::<(&str, &str, &str)>(after(start))?.take(DUMP_BATCH) {
                    let (k, v) = entry?;
                    let (bucket, key, order) = k.value();
                    let mut object: ObjectMeta = decode(v.value())?;
                    if bodies && object.is_inline() {
                        attach_body(&mut object, body_table.get((bucket, key, order))?)?;
                    }
                    out.push(DumpEntry::Version { bucket: bucket.to_owned(), object });
                    last_key = Some((bucket.to_owned(), key.to_owned(), order.to_owned()));
                }
                if out.len() < DUMP_BATCH { DumpCursor::Uploads(None) } else { DumpCursor::Versions(last_key) }
            }
            DumpCursor::Uploads(last) => {
                let table = txn.open_table(UPLOADS)?;
                let mut last_key = None;
                let start = last.as_ref().map(|(b, k, i)| (b.as_str(), k.as_str(), i.as_str()));
                for entry in table.range::<(&str, &str, &str)>(after(start))?.take(DUMP_BATCH) {
                    let (k, v) = entry?;
                    let (bucket, key, id) = k.value();
                    out.push(DumpEntry::Upload { bucket: bucket.to_owned(), upload: decode(v.value())? });
                    last_key = Some((bucket.to_owned(), key.to_owned(), id.to_owned()));
                }
                if out.len() < DUMP_BATCH { DumpCursor::Parts(None) } else { DumpCursor::Uploads(last_key) }
            }
            DumpCursor::Parts(last) => {
                let table = txn.open_table(PARTS)?;
                let mut last_key = None;
                let start = last.as_ref().map(|(b, i, n)| (b.as_str(), i.as_str(), *n));
                for entry in table.range::<(&str, &str, u32)>(after(start))?.take(DUMP_BATCH) {
                    let (k, v) = entry?;
                    let (bucket, id, number) = k.value();
                    out.push(DumpEntry::Part {
                        bucket: bucket.to_owned(),
                        upload_id: id.to_owned(),
                        part: decode(v.value())?,
                    });
                    last_key = Some((bucket.to_owned(), id.to_owned(), number));
                }
                if out.len() < DUMP_BATCH { DumpCursor::Records(None) } else { DumpCursor::Parts(last_key) }
            }
            DumpCursor::Records(last) => {
                let table = txn.open_table(RECORDS)?;
                let mut last_key = None;
                let start = last.as_ref().map(|(k, i)| (k.as_str(), i.as_str()));
                for entry in table.range::<(&str, &str)>(after(start))?.take(DUMP_BATCH) {
                    let (k, v) = entry?;
                    let (kind, id) = k.value();
                    out.push(DumpEntry::Record { kind: kind.to_owned(), id: id.to_owned(), value: v.value().to_vec() });
                    last_key = Some((kind.to_owned(), id.to_owned()));
                }
                if out.len() < DUMP_BATCH { DumpCursor::Done } else { DumpCursor::Records(last_key) }
            }
            DumpCursor::Done => DumpCursor::Done,
        };
        Ok((out, next))
    }
}

impl DumpBatches for RedbSnapshot {
    type Cursor = DumpCursor;

    fn start(&self) -> DumpCursor {
        DumpCursor::Buckets(None)
    }

    fn next_batch(&self, cursor: DumpCursor, bodies: bool) -> StoreResult<(Vec<DumpEntry>, Option<DumpCursor>)> {
        let (batch, next) = self.batch(cursor, bodies)?;
        Ok((batch, (!matches!(next, DumpCursor::Done)).then_some(next)))
    }
}

impl MetaSnapshot for RedbSnapshot {
    fn entries(self: Arc<Self>, bodies: bool) -> DumpStream {
        dump_in_batches(self, bodies)
    }
}

type ObjectRange = redb::Range<'static, (Str, Str), Bytes>;

/// A listing cursor over one bucket's objects. Items stay undecoded until emitted.
struct ObjectCursor<'a> {
    table: &'a ReadOnlyTable<(Str, Str), Bytes>,
    bucket: &'a str,
    range: Option<ObjectRange>,
}

impl KeyCursor for ObjectCursor<'_> {
    type Item = AccessGuard<'static, Bytes>;
    fn next_batch(&mut self, start: BatchStart<'_>, limit: usize) -> StoreResult<Vec<(String, Self::Item)>> {
        if let BatchStart::AtOrAfter(key) = start {
            self.range = Some(self.table.range((self.bucket, key)..)?);
        }
        let mut batch = Vec::with_capacity(listing::batch_capacity(limit));
        let Some(range) = self.range.as_mut() else {
            return Ok(batch);
        };
        while batch.len() < limit {
            let Some((k, v)) = range.next().transpose()? else {
                break;
            };
            let (bucket, key) = k.value();
            if bucket != self.bucket {
                // The next bucket's objects: this one's are over.
                self.range = None;
                break;
            }
            batch.push((key.to_owned(), v));
        }
        Ok(batch)
    }
}

type UploadRange = redb::Range<'static, (Str, Str, Str), Bytes>;

/// A listing cursor over one bucket's uploads, in (key, upload id) order.
struct UploadCursor<'a> {
    table: &'a ReadOnlyTable<(Str, Str, Str), Bytes>,
    bucket: &'a str,
    range: Option<UploadRange>,
}

impl KeyCursor for UploadCursor<'_> {
    /// The upload id and the encoded record.
    type Item = (String, AccessGuard<'static, Bytes>);
    fn next_batch(&mut self, start: BatchStart<'_>, limit: usize) -> StoreResult<Vec<(String, Self::Item)>> {
        if let BatchStart::AtOrAfter(key) = start {
            self.range = Some(self.table.range((self.bucket, key, "")..)?);
        }
        let mut batch = Vec::with_capacity(listing::batch_capacity(limit));
        let Some(range) = self.range.as_mut() else {
            return Ok(batch);
        };
        while batch.len() < limit {
            let Some((k, v)) = range.next().transpose()? else {
                break;
            };
            let (bucket, key, id) = k.value();
            if bucket != self.bucket {
                // The next bucket's uploads: this one's are over.
                self.range = None;
                break;
            }
            batch.push((key.to_owned(), (id.to_owned(), v)));
        }
        Ok(batch)
    }
}

#[async_trait]
impl MetaStore for RedbMetaStore {
    async fn create_bucket(&self, bucket: BucketInfo) -> StoreResult<()> {
        self.write(move |t| t.create_bucket(bucket)).await
    }

    async fn get_bucket(&self, name: &str) -> StoreResult<Option<BucketInfo>> {
        self.read_inline(|txn| txn.open_table(BUCKETS)?.get(name)?.map(|g| decode(g.value())).transpose())
    }

    async fn list_buckets(&self) -> StoreResult<Vec<BucketInfo>> {
        self.read(|txn| txn.open_table(BUCKETS)?.iter()?.map(|entry| decode(entry?.1.value())).collect()).await
    }

    async fn delete_bucket(&self, name: &str) -> StoreResult<Vec<BlobId>> {
        let name = name.to_owned();
        self.remove(move |t| t.delete_bucket(&name)).await
    }

    async fn put_object_if(
        &self,
        bucket: &str,
        object: ObjectMeta,
        condition: &WriteCondition,
    ) -> StoreResult<Vec<BlobId>> {
        let (bucket, condition) = (bucket.to_owned(), condition.clone());
        self.write(move |t| t.put_object(&bucket, object, &condition)).await
    }

    async fn get_object(&self, bucket: &str, key: &str) -> StoreResult<Option<ObjectMeta>> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        self.read(move |txn| read_object(txn, &bucket, &key, true)).await
    }

    async fn get_object_record(&self, bucket: &str, key: &str) -> StoreResult<Option<ObjectMeta>> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        self.read(move |txn| read_object(txn, &bucket, &key, false)).await
    }

    async fn delete_object_if(
        &self,
        bucket: &str,
        key: &str,
        condition: &WriteCondition,
    ) -> StoreResult<Option<ObjectMeta>> {
        let (bucket, key, condition) = (bucket.to_owned(), key.to_owned(), condition.clone());
        self.remove(move |t| t.delete_object(&bucket, &key, &condition)).await
    }

    async fn set_version_tags(&self, bucket: &str, key: &str, version: Option<&str>, tags: Tags) -> StoreResult<()> {
        let (bucket, key, version) = (bucket.to_owned(), key.to_owned(), version.map(str::to_owned));
        self.write(move |t| t.set_object_tags(&bucket, &key, version.as_deref(), tags)).await
    }

    async fn get_version(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        body: bool,
    ) -> StoreResult<Option<versions::Found>> {
        // One key's record and at most INLINE_MAX of body: the read of every GET and HEAD, inline.
        self.read_inline(|txn| {
            require_bucket(txn, bucket)?;
            versions::find(&ReadTables::open(txn)?, bucket, key, version, body)
        })
    }

    async fn delete_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        guard: RemovalGuard,
    ) -> StoreResult<Option<ObjectMeta>> {
        let (bucket, key, version) = (bucket.to_owned(), key.to_owned(), version_id.to_owned());
        self.remove(move |t| t.delete_version(&bucket, &key, &version, guard)).await
    }

    async fn put_noncurrent(&self, bucket: &str, object: ObjectMeta) -> StoreResult<()> {
        let bucket = bucket.to_owned();
        self.write(move |t| t.put_noncurrent(&bucket, object)).await
    }

    async fn list_versions(&self, bucket: &str, query: &VersionListQuery) -> StoreResult<VersionListPage> {
        let (bucket, query) = (bucket.to_owned(), query.clone());
        self.read(move |txn| {
            require_bucket(txn, &bucket)?;
            let objects = txn.open_table(OBJECTS)?;
            let noncurrent = txn.open_table(VERSIONS)?;
            let mut cursor = VersionCursor::new(
                CurrentRecords { table: &objects, bucket: &bucket, range: None },
                NoncurrentRecords { table: &noncurrent, bucket: &bucket, range: None },
            );
            versions::list_page(&mut cursor, &query)
        })
        .await
    }

    async fn set_version_lock(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        expected: ObjectLock,
        lock: ObjectLock,
    ) -> StoreResult<()> {
        let (bucket, key, version) = (bucket.to_owned(), key.to_owned(), version.map(str::to_owned));
        self.write(move |t| t.set_object_lock(&bucket, &key, version.as_deref(), (expected, lock))).await
    }

    async fn list_objects(&self, bucket: &str, query: &ListQuery) -> StoreResult<ListPage> {
        let (bucket, query) = (bucket.to_owned(), query.clone());
        self.read(move |txn| {
            require_bucket(txn, &bucket)?;
            let table = txn.open_table(OBJECTS)?;
            let mut cursor = ObjectCursor { table: &table, bucket: &bucket, range: None };
            let spec = PageSpec {
                prefix: &query.prefix,
                delimiter: query.delimiter.as_deref(),
                marker: query.start_after.as_deref(),
                max: query.max,
            };
            let listing = listing::list_page(&mut cursor, &spec, |_| false)?;
            let mut entries = Vec::with_capacity(listing.entries.len());
            for entry in listing.entries {
                entries.push(match entry {
                    Listed::Item(_, value) => ListEntry::Object(decode(value.value())?),
                    Listed::Prefix(p) => ListEntry::Prefix(p),
                });
            }
            Ok(ListPage { entries, is_truncated: listing.is_truncated })
        })
        .await
    }

    async fn create_upload(&self, bucket: &str, upload: UploadInfo) -> StoreResult<()> {
        let bucket = bucket.to_owned();
        self.write(move |t| t.create_upload(&bucket, upload)).await
    }

    async fn get_upload(&self, bucket: &str, upload_id: &str) -> StoreResult<Option<UploadInfo>> {
        let (bucket, id) = (bucket.to_owned(), upload_id.to_owned());
        self.read(move |txn| {
            let Some(key) = read_upload_key(txn, &bucket, &id)? else {
                return Ok(None);
            };
            let found = txn.open_table(UPLOADS)?.get((bucket.as_str(), key.as_str(), id.as_str()))?;
            found.map(|g| decode(g.value())).transpose()
        })
        .await
    }

    async fn put_part(&self, bucket: &str, upload_id: &str, part: PartInfo) -> StoreResult<Option<BlobId>> {
        let (bucket, id) = (bucket.to_owned(), upload_id.to_owned());
        self.write(move |t| t.put_part(&bucket, &id, part)).await
    }

    async fn list_parts(&self, bucket: &str, upload_id: &str, after: u32, max: usize) -> StoreResult<Vec<PartInfo>> {
        let (bucket, id) = (bucket.to_owned(), upload_id.to_owned());
        self.read(move |txn| {
            require_bucket(txn, &bucket)?;
            if read_upload_key(txn, &bucket, &id)?.is_none() {
                return Err(StoreError::NoSuchUpload(id));
            }
            let table = txn.open_table(PARTS)?;
            let (b, i) = (bucket.as_str(), id.as_str());
            let range = table.range((Bound::Excluded((b, i, after)), Bound::Included((b, i, u32::MAX))))?;
            range.take(max).map(|entry| decode(entry?.1.value())).collect()
        })
        .await
    }

    async fn list_uploads(&self, bucket: &str, query: &UploadListQuery) -> StoreResult<UploadListPage> {
        let (bucket, query) = (bucket.to_owned(), query.clone());
        self.read(move |txn| {
            require_bucket(txn, &bucket)?;
            let table = txn.open_table(UPLOADS)?;
            let mut cursor = UploadCursor { table: &table, bucket: &bucket, range: None };
            let spec = PageSpec {
                prefix: &query.prefix,
                delimiter: query.delimiter.as_deref(),
                marker: query.key_marker.as_deref(),
                max: query.max,
            };
            let id_marker = query.upload_id_marker.as_deref();
            let listing = listing::list_page(&mut cursor, &spec, |(id, _)| id_marker.is_some_and(|m| id.as_str() > m))?;
            listing::upload_page(listing, |(_, value)| decode(value.value()))
        })
        .await
    }

    async fn complete_upload_if(
        &self,
        bucket: &str,
        upload_id: &str,
        object: ObjectMeta,
        condition: &WriteCondition,
    ) -> StoreResult<Vec<BlobId>> {
        let (bucket, id, condition) = (bucket.to_owned(), upload_id.to_owned(), condition.clone());
        self.write(move |t| t.complete_upload(&bucket, &id, object, &condition)).await
    }

    async fn abort_upload(&self, bucket: &str, upload_id: &str) -> StoreResult<Vec<BlobId>> {
        let (bucket, id) = (bucket.to_owned(), upload_id.to_owned());
        self.remove(move |t| t.abort_upload(&bucket, &id)).await
    }

    async fn referenced_blobs(&self) -> StoreResult<HashSet<BlobId>> {
        self.read(|txn| {
            let mut set = HashSet::new();
            for entry in txn.open_table(OBJECTS)?.iter()? {
                let object: ObjectMeta = decode(entry?.1.value())?;
                set.extend(object.segments.iter().map(|s| s.blob));
            }
            for entry in txn.open_table(VERSIONS)?.iter()? {
                let object: ObjectMeta = decode(entry?.1.value())?;
                set.extend(object.segments.iter().map(|s| s.blob));
            }
            for entry in txn.open_table(PARTS)?.iter()? {
                let part: PartInfo = decode(entry?.1.value())?;
                set.insert(part.blob);
            }
            Ok(set)
        })
        .await
    }

    async fn enqueue_reclaims(&self, ids: &[BlobId], due_ms: i64) -> StoreResult<()> {
        let ids = ids.to_vec();
        self.write(move |t| t.enqueue_reclaims(&ids, due_ms).map(Ok)).await
    }

    async fn take_due_reclaims(&self, now_ms: i64, max: usize) -> StoreResult<Vec<BlobId>> {
        // Only removes: tried on a full disk too, so queued blobs can still free space.
        self.remove(move |t| t.take_due_reclaims(now_ms, max).map(Ok)).await
    }

    async fn set_bucket_settings(
        &self,
        bucket: &str,
        expected: &BucketSettings,
        settings: BucketSettings,
    ) -> StoreResult<()> {
        let (bucket, expected) = (bucket.to_owned(), expected.clone());
        self.write(move |t| t.set_bucket_settings(&bucket, &expected, settings)).await
    }

    async fn put_record(&self, kind: &str, id: &str, value: Vec<u8>) -> StoreResult<()> {
        let (kind, id) = (kind.to_owned(), id.to_owned());
        self.write(move |t| {
            t.records.insert((kind.as_str(), id.as_str()), value.as_slice())?;
            Ok(Ok(()))
        })
        .await
    }

    async fn delete_record(&self, kind: &str, id: &str) -> StoreResult<bool> {
        let (kind, id) = (kind.to_owned(), id.to_owned());
        self.remove(move |t| Ok(Ok(t.records.remove((kind.as_str(), id.as_str()))?.is_some()))).await
    }

    async fn get_record(&self, kind: &str, id: &str) -> StoreResult<Option<Vec<u8>>> {
        let (kind, id) = (kind.to_owned(), id.to_owned());
        self.read(move |txn| {
            let table = txn.open_table(RECORDS)?;
            let value = table.get((kind.as_str(), id.as_str()))?.map(|v| v.value().to_vec());
            Ok(value)
        })
        .await
    }

    async fn snapshot(&self) -> StoreResult<Arc<dyn MetaSnapshot>> {
        let shared = Arc::clone(&self.shared);
        let txn = tokio::task::spawn_blocking(move || shared.database()?.begin_read().map_err(StoreError::from))
            .await
            .map_err(|e| StoreError::Backend(format!("a metadata snapshot failed: {e}")))??;
        Ok(Arc::new(RedbSnapshot { txn }))
    }

    fn storage_full(&self) -> bool {
        self.shared.is_full()
    }

    fn set_observer(&self, observer: Arc<dyn crate::observe::StoreObserver>) {
        self.shared.observer.set(observer);
    }

    async fn list_records(&self, kind: &str) -> StoreResult<Vec<(String, Vec<u8>)>> {
        let kind = kind.to_owned();
        self.read(move |txn| {
            let mut out = Vec::new();
            for entry in txn.open_table(RECORDS)?.range((kind.as_str(), "")..)? {
                let (k, v) = entry?;
                let (found_kind, id) = k.value();
                if found_kind != kind {
                    break;
                }
                out.push((id.to_owned(), v.value().to_vec()));
            }
            Ok(out)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::{bucket, full_disk_store, inline_object};

    /// A store on a `conformance::FullDisk` in a temporary directory; the flag fills the disk.
    fn store() -> (tempfile::TempDir, Arc<AtomicBool>, RedbMetaStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let (full, store) = full_disk_store(dir.path());
        (dir, full, store)
    }

    async fn setup(store: &RedbMetaStore) {
        store.create_bucket(bucket("b")).await.expect("create");
        store.put_object("b", inline_object("a", b"alpha")).await.expect("put a");
    }

    #[tokio::test]
    async fn a_full_disk_fails_writes_then_recovers_without_a_restart() {
        let (_dir, full, store) = store();
        setup(&store).await;
        assert!(!store.storage_full());

        full.store(true, Ordering::SeqCst);
        let err = store.put_object("b", inline_object("b", b"beta")).await.expect_err("put on a full disk");
        assert!(matches!(err, StoreError::DiskFull), "{err:?}");
        assert!(store.storage_full());
        // Reads go on: the writer reopened the database that redb latched as failed.
        assert_eq!(store.get_object("b", "a").await.expect("get"), Some(inline_object("a", b"alpha")));

        full.store(false, Ordering::SeqCst);
        store.put_object("b", inline_object("b", b"beta")).await.expect("put once there is space");
        assert!(!store.storage_full());
        assert!(store.delete_object("b", "a").await.expect("delete").is_some());
        assert_eq!(store.get_object("b", "a").await.expect("get"), None);
        assert_eq!(store.get_object("b", "b").await.expect("get"), Some(inline_object("b", b"beta")));
    }

    #[tokio::test]
    async fn a_full_store_lets_deletes_through_until_the_reserve_is_back() {
        let (dir, full, store) = store();
        setup(&store).await;
        let reserve = dir.path().join("meta.reserve");
        assert_eq!(std::fs::metadata(&reserve).expect("reserve").len(), RESERVE_BYTES);

        full.store(true, Ordering::SeqCst);
        let err = store.put_object("b", inline_object("b", b"beta")).await.expect_err("put on a full disk");
        assert!(matches!(err, StoreError::DiskFull), "{err:?}");
        // The reserve was given up for deletes; a directory in its place keeps it from coming back,
        // as a still-full disk would.
        assert!(!reserve.exists());
        std::fs::create_dir(&reserve).expect("block the reserve");
        full.store(false, Ordering::SeqCst);

        let err = store.put_object("b", inline_object("b", b"beta")).await.expect_err("put while full");
        assert!(matches!(err, StoreError::DiskFull), "{err:?}");
        assert!(store.delete_object("b", "a").await.expect("delete while full").is_some());
        assert!(store.storage_full());

        std::fs::remove_dir(&reserve).expect("unblock the reserve");
        store.put_object("b", inline_object("b", b"beta")).await.expect("put once there is space");
        assert!(!store.storage_full());
        assert_eq!(std::fs::metadata(&reserve).expect("reserve").len(), RESERVE_BYTES);
    }
}
