//! [`FileBlobStore`]: blobs as files, written to a temporary name, fsynced, renamed.
//!
//! Layout under the root directory:
//! - `blobs/XX/<32 hex digits>`: a finished blob, `XX` being the first two hex digits of its id (256
//!   fan-out directories, all created at open, so no directory grows with the object count alone);
//! - `tmp/<32 hex digits>.tmp`: a blob being written. For a process alone on the directory, everything
//!   here is an interrupted write at start; on a directory shared by replicas, only what is older than
//!   the grace period is (see [`BlobStore::sweep`]).
//!
//! Writes are buffered ([`BUFFER`] bytes) and each buffer is written on the blocking pool, so memory stays
//! flat whatever the blob size; a blob smaller than the buffer costs one blocking call in all (create,
//! write, fsync, rename, directory fsync). Reads stream [`CHUNK`]-byte chunks, one read ahead on the
//! blocking pool while the connection sends the last.

use crate::{BlobId, BlobPin, BlobStore, BlobWriter, ByteStream, ChunkWork, StoreError, StoreResult};
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

/// Size of the write buffer: bytes accumulate here before one blocking write.
pub const BUFFER: usize = 256 * 1024;
/// Size of the chunks a read yields: sixteen whole chunks of the sealed form (1 MiB and 256 bytes), so
/// that reads of an encrypted body, which start on a sealed chunk's boundary, hand out whole sealed
/// chunks (see [`crate::model::SEALED_CHUNK`]); for any other body the size is just a size. A read
/// holds at most two (the one being sent, the one read ahead). Each chunk is one hop to the blocking
/// pool and back: 1 MiB chunks made a 64 MiB GET 22% to 28% faster than 256 KiB ones (BENCHMARKS.md).
pub const CHUNK: usize = 16 * crate::model::SEALED_CHUNK as usize;

/// Converts an I/O error, giving "no space left" and "quota exceeded" their own variant
/// ([`StoreError::DiskFull`]).
pub(crate) fn io_error(err: io::Error) -> StoreError {
    StoreError::from(err)
}

/// Runs blocking file work on the blocking pool.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> StoreResult<T> + Send + 'static) -> StoreResult<T> {
    joined(tokio::task::spawn_blocking(work).await)?
}

/// What a blocking task handed back, its panic or cancellation as an I/O error.
fn joined<T>(result: Result<T, tokio::task::JoinError>) -> StoreResult<T> {
    result.map_err(|e| StoreError::Io(io::Error::other(e.to_string())))
}

/// Fsyncs a directory, making the creations, renames and removals in it durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Pin counts, holds, and the reclaims deferred until a pin or hold drops.
#[derive(Debug, Default)]
struct Pins {
    counts: HashMap<BlobId, usize>,
    deferred: HashSet<BlobId>,
    /// Live [`BlobStore::hold_reclaims`] guards: while any is, every reclaim is deferred.
    holds: usize,
}

#[derive(Debug)]
struct Shared {
    blobs: PathBuf,
    tmp: PathBuf,
    pins: Mutex<Pins>,
    /// Who hears of each blob's fsync (metrics).
    observer: crate::observe::ObserverSlot,
}

impl Shared {
    fn pins(&self) -> MutexGuard<'_, Pins> {
        // A panic under this lock cannot leave the counts half-updated in a way worse than a leaked
        // pin (each update is a single map operation), so recover the guard.
        self.pins.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn dir_of(&self, id: BlobId) -> PathBuf {
        self.blobs.join(&id.to_string()[..2])
    }

    fn path_of(&self, id: BlobId) -> PathBuf {
        self.dir_of(id).join(id.to_string())
    }

    /// Deletes a blob file now. A missing file is fine (already reclaimed or swept).
    fn delete(&self, id: BlobId) {
        match fs::remove_file(self.path_of(id)) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => tracing::warn!(blob = %id, error = %err, "cannot delete a blob; it is swept at the next start"),
        }
    }

    /// Deletes a blob unless it is pinned or reclaims are held, in which case the last pin's (or
    /// hold's) release deletes it. The check and the deletion happen under the pin lock, so a reader
    /// that pins and then sees the blob exist can open it.
    fn reclaim(&self, id: BlobId) {
        let mut pins = self.pins();
        if pins.holds > 0 || pins.counts.contains_key(&id) {
            pins.deferred.insert(id);
        } else {
            self.delete(id);
        }
    }

    fn unpin(&self, ids: &[BlobId]) {
        let mut pins = self.pins();
        for id in ids {
            if let Some(count) = pins.counts.get_mut(id) {
                *count -= 1;
                if *count == 0 {
                    pins.counts.remove(id);
                    if pins.holds == 0 && pins.deferred.remove(id) {
                        self.delete(*id);
                    }
                }
            }
        }
    }

    /// Ends one hold; the last one deletes every deferred blob no pin keeps.
    fn release_hold(&self) {
        let mut pins = self.pins();
        pins.holds -= 1;
        if pins.holds > 0 {
            return;
        }
        let due: Vec<BlobId> = pins.deferred.iter().filter(|id| !pins.counts.contains_key(id)).copied().collect();
        for id in due {
            pins.deferred.remove(&id);
            self.delete(id);
        }
    }
}

/// Blobs as files under one directory. See the module documentation.
#[derive(Debug, Clone)]
pub struct FileBlobStore {
    shared: Arc<Shared>,
}

impl FileBlobStore {
    /// Opens the store at `root`, creating `root/blobs/00..ff` and `root/tmp` as needed.
    pub fn open(root: &Path) -> StoreResult<Self> {
        let blobs = root.join("blobs");
        let tmp = root.join("tmp");
        fs::create_dir_all(&tmp).map_err(io_error)?;
        fs::create_dir_all(&blobs).map_err(io_error)?;
        let mut created = false;
        for n in 0..=255u8 {
            let dir = blobs.join(format!("{n:02x}"));
            match fs::create_dir(&dir) {
                Ok(()) => created = true,
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
                Err(err) => return Err(io_error(err)),
            }
        }
        if created {
            sync_dir(&blobs).map_err(io_error)?;
            sync_dir(root).map_err(io_error)?;
        }
        Ok(Self { shared: Arc::new(Shared { blobs, tmp, pins: Mutex::default(), observer: Default::default() }) })
    }

    /// The file a finished blob lives in (for diagnostics and tests).
    pub fn blob_path(&self, id: BlobId) -> PathBuf {
        self.shared.path_of(id)
    }

    /// The directory of temporary files.
    pub fn tmp_dir(&self) -> &Path {
        &self.shared.tmp
    }

    /// Starts writing a blob that gets the given id rather than a random one: a restore keeps the ids
    /// its metadata names. Refused ([`StoreError::Backend`]) if a blob with that id exists.
    pub async fn create_at(&self, id: BlobId) -> StoreResult<Box<dyn BlobWriter>> {
        if self.exists(id).await? {
            return Err(StoreError::Backend(format!("blob {id} already exists")));
        }
        Ok(self.writer(id))
    }

    fn writer(&self, id: BlobId) -> Box<dyn BlobWriter> {
        let tmp = self.shared.tmp.join(format!("{id}.tmp"));
        Box::new(FileBlobWriter {
            shared: Arc::clone(&self.shared),
            id,
            tmp,
            file: None,
            inflight: None,
            unsynced: 0,
            syncing: None,
            created: false,
            buf: Vec::new(),
            size: 0,
            done: false,
        })
    }
}

/// Whether a file was last modified before `cutoff` (`None`: any file is). A file whose time cannot
/// be read counts as young: the sweep leaves it.
fn modified_before(entry: &fs::DirEntry, cutoff: Option<SystemTime>) -> bool {
    let Some(cutoff) = cutoff else { return true };
    entry.metadata().and_then(|m| m.modified()).is_ok_and(|modified| modified < cutoff)
}

/// Calls `found` with each blob file not in `referenced` and last modified before `cutoff`, and the
/// pin lock held (so a pinned blob can be skipped and the file removed before a reader pins it);
/// `found` answers whether it removed the file. Fsyncs each fan-out directory it removed from.
fn each_orphan(
    shared: &Shared,
    referenced: &HashSet<BlobId>,
    cutoff: Option<SystemTime>,
    mut found: impl FnMut(&Pins, BlobId, &Path) -> bool,
) -> StoreResult<()> {
    for dir in fs::read_dir(&shared.blobs).map_err(io_error)? {
        let dir = dir.map_err(io_error)?;
        if !dir.file_type().map_err(io_error)?.is_dir() {
            continue;
        }
        let mut changed = false;
        for entry in fs::read_dir(dir.path()).map_err(io_error)? {
            let entry = entry.map_err(io_error)?;
            let name = entry.file_name();
            let Some(id) = name.to_str().and_then(BlobId::parse) else {
                tracing::warn!(path = %entry.path().display(), "not a blob; left alone");
                continue;
            };
            if referenced.contains(&id) || !modified_before(&entry, cutoff) {
                continue;
            }
            let pins = shared.pins();
            changed |= found(&pins, id, &entry.path());
        }
        if changed {
            sync_dir(&dir.path()).map_err(io_error)?;
        }
    }
    Ok(())
}

/// Removes the temporary files and the blob files not in `referenced` (nor pinned) that were last
/// modified before `cutoff` (all of them when `None`).
fn sweep(shared: &Shared, referenced: &HashSet<BlobId>, cutoff: Option<SystemTime>) -> StoreResult<usize> {
    let mut removed = 0;
    for entry in fs::read_dir(&shared.tmp).map_err(io_error)? {
        let entry = entry.map_err(io_error)?;
        if !modified_before(&entry, cutoff) {
            continue;
        }
        let path = entry.path();
        match fs::remove_file(&path) {
            Ok(()) => removed += 1,
            Err(err) => tracing::warn!(path = %path.display(), error = %err, "cannot remove a temporary file"),
        }
    }
    each_orphan(shared, referenced, cutoff, |pins, id, path| {
        if pins.counts.contains_key(&id) {
            return false;
        }
        match fs::remove_file(path) {
            Ok(()) => {
                removed += 1;
                true
            }
            Err(err) => {
                tracing::warn!(blob = %id, error = %err, "cannot remove an unreferenced blob");
                false
            }
        }
    })?;
    Ok(removed)
}

/// Reads up to `len` bytes (at most `CHUNK`) from the file's current position.
fn read_chunk(file: &mut File, len: u64) -> StoreResult<Bytes> {
    // `min` with CHUNK makes the conversion lossless.
    let want = usize::try_from(len.min(CHUNK as u64)).unwrap_or(CHUNK);
    // Read into the vector's spare capacity: no zeroing first of what the read overwrites.
    let mut buf = Vec::with_capacity(want);
    file.take(want as u64).read_to_end(&mut buf).map_err(io_error)?;
    if buf.len() < want {
        return Err(io_error(io::Error::new(io::ErrorKind::UnexpectedEof, "the blob file ended early")));
    }
    Ok(Bytes::from(buf))
}

#[async_trait]
impl BlobStore for FileBlobStore {
    async fn create(&self) -> StoreResult<Box<dyn BlobWriter>> {
        Ok(self.writer(BlobId::random()))
    }

    async fn read(&self, id: BlobId, offset: u64, len: u64) -> StoreResult<ByteStream> {
        self.read_with(id, offset, len, Box::new(Ok)).await
    }

    async fn read_with(&self, id: BlobId, offset: u64, len: u64, mut work: ChunkWork) -> StoreResult<ByteStream> {
        let path = self.shared.path_of(id);
        // Opening and the first chunk in one blocking call: a small object costs one.
        let (file, first) = blocking(move || {
            let mut file = match File::open(&path) {
                Ok(file) => file,
                Err(err) if err.kind() == io::ErrorKind::NotFound => return Err(StoreError::NoSuchBlob(id)),
                Err(err) => return Err(io_error(err)),
            };
            let size = file.metadata().map_err(io_error)?.len();
            if offset.checked_add(len).is_none_or(|end| end > size) {
                return Err(StoreError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("range {offset}+{len} is past the end of blob {id} ({size} bytes)"),
                )));
            }
            if len == 0 {
                return Ok((file, Bytes::new()));
            }
            file.seek(SeekFrom::Start(offset)).map_err(io_error)?;
            let first = read_chunk(&mut file, len)?;
            Ok((file, first))
        })
        .await?;
        // The first chunk's work is done here, on the caller's thread: it has no send to overlap,
        // and a small object (one chunk) then costs one blocking call, as a plain read does. Each
        // CPU-bound work on a blocking thread competes with the async workers for the cores, and under
        // many small reads that cost a quarter of the throughput (BENCHMARKS.md).
        let read = first.len() as u64;
        let first = if first.is_empty() { first } else { work(first)? };
        let rest = len - read;
        let head = futures::stream::iter((!first.is_empty()).then_some(Ok(first)));
        if rest == 0 {
            return Ok(head.boxed());
        }
        // One chunk is read ahead: while the connection sends a chunk, the next is being read.
        let read_ahead = |mut file: File, remaining: u64, mut work: ChunkWork| {
            tokio::task::spawn_blocking(move || {
                let chunk = read_chunk(&mut file, remaining)?;
                let read = chunk.len() as u64;
                work(chunk).map(|c| (file, c, read, work))
            })
        };
        let first_ahead = read_ahead(file, rest, work);
        let tail = futures::stream::try_unfold((Some(first_ahead), rest), move |(ahead, remaining)| async move {
            let Some(ahead) = ahead else { return Ok(None) };
            let (file, chunk, read, work) = joined(ahead.await)??;
            let remaining = remaining - read;
            let next = (remaining > 0).then(|| read_ahead(file, remaining, work));
            Ok(Some((chunk, (next, remaining))))
        });
        Ok(head.chain(tail).boxed())
    }

    async fn exists(&self, id: BlobId) -> StoreResult<bool> {
        match tokio::fs::metadata(self.shared.path_of(id)).await {
            Ok(_) => Ok(true),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(err) => Err(io_error(err)),
        }
    }

    fn pin(&self, ids: &[BlobId]) -> BlobPin {
        {
            let mut pins = self.shared.pins();
            for id in ids {
                *pins.counts.entry(*id).or_insert(0) += 1;
            }
        }
        let shared = Arc::clone(&self.shared);
        let ids = ids.to_vec();
        BlobPin::new(move || shared.unpin(&ids))
    }

    fn hold_reclaims(&self) -> BlobPin {
        self.shared.pins().holds += 1;
        let shared = Arc::clone(&self.shared);
        BlobPin::new(move || shared.release_hold())
    }

    async fn reclaim(&self, ids: Vec<BlobId>) {
        if ids.is_empty() {
            return;
        }
        let shared = Arc::clone(&self.shared);
        let result = blocking(move || {
            for id in ids {
                shared.reclaim(id);
            }
            Ok(())
        })
        .await;
        if let Err(err) = result {
            tracing::warn!(error = %err, "blob reclamation failed; orphans are swept at the next start");
        }
    }

    async fn sweep(&self, referenced: &HashSet<BlobId>, modified_before: Option<SystemTime>) -> StoreResult<usize> {
        let shared = Arc::clone(&self.shared);
        let referenced = referenced.clone();
        blocking(move || sweep(&shared, &referenced, modified_before)).await
    }

    async fn orphans(&self, referenced: &HashSet<BlobId>, modified_before: SystemTime) -> StoreResult<Vec<BlobId>> {
        let shared = Arc::clone(&self.shared);
        let referenced = referenced.clone();
        blocking(move || {
            let mut found = Vec::new();
            each_orphan(&shared, &referenced, Some(modified_before), |_, id, _| {
                found.push(id);
                false
            })?;
            Ok(found)
        })
        .await
    }

    fn set_observer(&self, observer: Arc<dyn crate::observe::StoreObserver>) {
        self.shared.observer.set(observer);
    }
}

/// A background write: it hands back the file and its emptied buffer.
type InflightWrite = tokio::task::JoinHandle<StoreResult<(File, Vec<u8>)>>;

/// A background flush of the data written so far (`fdatasync` on a second handle of the file).
type InflightSync = tokio::task::JoinHandle<StoreResult<()>>;

/// A blob being written: a buffer in front of a temporary file, which is created lazily (at the first
/// full buffer, or at `finish`), so that a small blob costs a single blocking call.
///
/// Writes are double-buffered: a full buffer goes to the blocking pool and the writer returns at once,
/// so the request goes on receiving (and hashing) the next buffer's worth while the previous one
/// reaches the disk. At most one write is in flight; `finish` waits for it before the fsync.
///
/// A large blob's data is also flushed to the disk in the background every [`SYNC_EVERY`] bytes, on
/// a second handle of the file and beside the writes rather than between them, so the disk works
/// while the body arrives and the fsync before the acknowledgement finds little left. At most one
/// such flush is in flight; one that fails fails the blob.
struct FileBlobWriter {
    shared: Arc<Shared>,
    id: BlobId,
    tmp: PathBuf,
    /// The temporary file, absent before it is created and while a blocking write holds it.
    file: Option<File>,
    /// The write in flight, if any.
    inflight: Option<InflightWrite>,
    /// Bytes handed to the file since the last background flush started.
    unsynced: u64,
    /// The background flush in flight, if any.
    syncing: Option<InflightSync>,
    /// Whether the temporary file may exist (so dropping must remove it).
    created: bool,
    buf: Vec<u8>,
    size: u64,
    done: bool,
}

/// A large blob's data is flushed to the disk in the background every this many bytes, so the fsync
/// before the acknowledgement finds little left to write.
const SYNC_EVERY: u64 = 2 * 1024 * 1024;

fn open_tmp(path: &Path) -> io::Result<File> {
    OpenOptions::new().write(true).create_new(true).open(path)
}

impl FileBlobWriter {
    /// Waits for the write in flight, if any, and takes the file back (and its spare buffer).
    async fn settle(&mut self) -> StoreResult<Option<Vec<u8>>> {
        let Some(handle) = self.inflight.take() else { return Ok(None) };
        let (file, spare) = joined(handle.await)??;
        self.file = Some(file);
        Ok(Some(spare))
    }

    /// Waits for the background flush in flight, if any, and reports its failure.
    async fn settle_sync(&mut self) -> StoreResult<()> {
        match self.syncing.take() {
            Some(handle) => joined(handle.await)?,
            None => Ok(()),
        }
    }

    /// Starts a background flush of what the file holds when [`SYNC_EVERY`] bytes have been written
    /// since the last one began, unless one is still running (then the next buffer tries again).
    async fn maybe_start_sync(&mut self) -> StoreResult<()> {
        if self.unsynced < SYNC_EVERY || self.syncing.as_ref().is_some_and(|h| !h.is_finished()) {
            return Ok(());
        }
        self.settle_sync().await?; // finished: collects its result without waiting
        let Some(file) = self.file.as_ref() else { return Ok(()) };
        let handle = file.try_clone().map_err(io_error)?;
        self.unsynced = 0;
        self.syncing = Some(tokio::task::spawn_blocking(move || handle.sync_data().map_err(io_error)));
        Ok(())
    }

    /// Sends the full buffer to the blocking pool (once the previous write is done) and goes on with
    /// an empty one.
    async fn flush_buffer(&mut self) -> StoreResult<()> {
        let spare = self.settle().await?.unwrap_or_default();
        self.maybe_start_sync().await?;
        let file = self.file.take();
        let path = self.tmp.clone();
        let mut buf = std::mem::replace(&mut self.buf, spare);
        self.unsynced += buf.len() as u64;
        self.created = true;
        self.inflight = Some(tokio::task::spawn_blocking(move || {
            let mut file = match file {
                Some(file) => file,
                None => open_tmp(&path).map_err(io_error)?,
            };
            file.write_all(&buf).map_err(io_error)?;
            buf.clear();
            Ok((file, buf))
        }));
        Ok(())
    }
}

#[async_trait]
impl BlobWriter for FileBlobWriter {
    async fn write(&mut self, mut chunk: &[u8]) -> StoreResult<()> {
        self.size += chunk.len() as u64;
        while !chunk.is_empty() {
            if self.buf.capacity() < BUFFER {
                self.buf.reserve_exact(BUFFER - self.buf.len());
            }
            let room = BUFFER - self.buf.len();
            let (now, later) = chunk.split_at(room.min(chunk.len()));
            self.buf.extend_from_slice(now);
            chunk = later;
            if self.buf.len() == BUFFER {
                self.flush_buffer().await?;
            }
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> StoreResult<(BlobId, u64)> {
        self.settle().await?;
        self.settle_sync().await?;
        let file = self.file.take();
        let buf = std::mem::take(&mut self.buf);
        let (tmp, dir, id) = (self.tmp.clone(), self.shared.dir_of(self.id), self.id);
        let (blobs, path) = (self.shared.blobs.clone(), self.shared.path_of(self.id));
        let shared = Arc::clone(&self.shared);
        self.created = true;
        // Cancellation-safe: the blocking job runs to its end whatever happens to this future, and a
        // blob it makes for a finish nobody awaits any more (the request went away) is removed, never
        // left as a file no record names.
        let outcome = Arc::new(std::sync::Mutex::new(Finishing::Running));
        let abandoned = AbandonedFinish { outcome: Arc::clone(&outcome), path: path.clone() };
        let job_outcome = Arc::clone(&outcome);
        let job_path = path.clone();
        let job = tokio::task::spawn_blocking(move || {
            let result = finish_blob(file, buf, &tmp, (&dir, &path), &blobs, &shared);
            let mut state = job_outcome.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if matches!(*state, Finishing::Abandoned) {
                if result.is_ok() {
                    let _ = fs::remove_file(&job_path);
                }
            } else {
                *state = Finishing::Done;
            }
            result
        });
        let result = joined(job.await);
        abandoned.disarm();
        result??;
        self.done = true;
        Ok((id, self.size))
    }
}

/// Where a finishing blob's job stands, for [`AbandonedFinish`].
enum Finishing {
    /// The job runs; its awaiting finish may still take its blob.
    Running,
    /// The job is done; whoever awaits it takes (or, gone, removes) its blob.
    Done,
    /// The finish was dropped while the job ran: the job removes its blob itself.
    Abandoned,
    /// The finish took the blob.
    Taken,
}

/// Dropped with a finish future that did not see its job end: removes the blob the job made, or tells
/// the running job to.
struct AbandonedFinish {
    outcome: Arc<std::sync::Mutex<Finishing>>,
    path: PathBuf,
}

impl AbandonedFinish {
    /// The finish saw its job's result: the blob (if any) is its caller's now.
    fn disarm(self) {
        *self.outcome.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Finishing::Taken;
    }
}

impl Drop for AbandonedFinish {
    fn drop(&mut self) {
        let mut state = self.outcome.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match *state {
            Finishing::Running => *state = Finishing::Abandoned,
            Finishing::Done => {
                *state = Finishing::Abandoned;
                let _ = fs::remove_file(&self.path);
            }
            Finishing::Abandoned | Finishing::Taken => {}
        }
    }
}

/// The blocking part of a finish: the last buffered bytes written and synced, the file renamed to the
/// blob's path, the directory synced (else the blob is removed: not durable, not acknowledged).
fn finish_blob(
    file: Option<File>,
    buf: Vec<u8>,
    tmp: &Path,
    (dir, path): (&Path, &Path),
    blobs: &Path,
    shared: &Shared,
) -> StoreResult<()> {
    let mut file = match file {
        Some(file) => file,
        None => open_tmp(tmp).map_err(io_error)?,
    };
    file.write_all(&buf).map_err(io_error)?;
    let syncing = shared.observer.start();
    file.sync_data().map_err(io_error)?;
    drop(file);
    if let Err(err) = fs::rename(tmp, path) {
        if err.kind() != io::ErrorKind::NotFound || dir.exists() {
            return Err(io_error(err));
        }
        // The fan-out directory was removed behind our back: recreate it durably.
        fs::create_dir_all(dir).map_err(io_error)?;
        sync_dir(blobs).map_err(io_error)?;
        fs::rename(tmp, path).map_err(io_error)?;
    }
    if let Err(err) = sync_dir(dir) {
        // Not durable, so not acknowledged: remove it rather than leave an orphan.
        let _ = fs::remove_file(path);
        return Err(io_error(err));
    }
    shared.observer.blob_synced(syncing);
    Ok(())
}

impl Drop for FileBlobWriter {
    fn drop(&mut self) {
        if !self.done && self.created {
            // Best effort: a leftover temporary is removed by the next start's sweep.
            self.file = None;
            if let Some(handle) = self.inflight.take()
                && let Ok(runtime) = tokio::runtime::Handle::try_current()
            {
                // A write still in flight may (re)create the file: remove it once that write is done.
                let tmp = self.tmp.clone();
                runtime.spawn(async move {
                    let _ = handle.await;
                    let _ = fs::remove_file(&tmp);
                });
            }
            match fs::remove_file(&self.tmp) {
                Ok(()) => {}
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(err) => tracing::warn!(path = %self.tmp.display(), error = %err, "cannot remove a temporary blob"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::write_blob;
    use std::time::Duration;

    /// Sets a file's modification time to `age` ago.
    fn age(path: &Path, age: Duration) {
        let file = OpenOptions::new().write(true).open(path).expect("open");
        file.set_modified(SystemTime::now() - age).expect("set mtime");
    }

    /// A store in a new directory holding one blob of `len` patterned bytes.
    async fn store_with_blob(len: usize) -> (tempfile::TempDir, FileBlobStore, Vec<u8>, BlobId) {
        let dir = tempfile::tempdir().expect("dir");
        let store = FileBlobStore::open(dir.path()).expect("open");
        let body: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let id = write_blob(&store, &[&body]).await;
        (dir, store, body, id)
    }

    /// A read streams a blob of several chunks in order while reading one ahead; a blob file cut short
    /// under a reader ends its stream with an error, never with short data taken for the whole.
    #[tokio::test]
    async fn a_read_ahead_read_is_whole_or_an_error() {
        use futures::StreamExt as _;
        let (_dir, store, body, id) = store_with_blob(4 * CHUNK + 123).await;
        assert_eq!(crate::conformance::read_blob(&store, id, 0, body.len() as u64).await, body);
        let len = body.len() as u64;
        assert_eq!(crate::conformance::read_blob(&store, id, 7, len - 7).await, body[7..]);

        let mut stream = store.read(id, 0, len).await.expect("read");
        OpenOptions::new()
            .write(true)
            .open(store.shared.path_of(id))
            .expect("open")
            .set_len(CHUNK as u64)
            .expect("cut");
        let mut got = 0;
        let ended = loop {
            match stream.next().await {
                Some(Ok(chunk)) => got += chunk.len(),
                Some(Err(e)) => break Some(e),
                None => break None,
            }
        };
        let err = ended.expect("an error, not an early end");
        assert!(matches!(err, StoreError::Io(ref e) if e.kind() == io::ErrorKind::UnexpectedEof), "{err:?}");
        assert!(got < body.len(), "short data never passes for the whole");
    }

    /// A read's work runs on every chunk once, in order (the first with the open, the rest read
    /// ahead), and what it returns is what the stream hands out; a failing work ends the stream with
    /// its error, which the reader takes back by downcasting.
    #[tokio::test]
    async fn a_reads_work_sees_each_chunk_in_order_and_its_failure_ends_the_stream() {
        use futures::StreamExt as _;
        let (_dir, store, body, id) = store_with_blob(3 * CHUNK + 5).await;
        let len = body.len() as u64 - 9;
        // The work hands out each chunk's length and first byte, so order and cuts show.
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        let work: ChunkWork = Box::new(move |chunk: Bytes| {
            log.lock().expect("log").push(chunk.len());
            Ok(Bytes::from(vec![chunk[0], chunk.len().to_le_bytes()[0]]))
        });
        let got: Vec<Bytes> =
            store.read_with(id, 9, len, work).await.expect("read").map(|c| c.expect("chunk")).collect().await;
        let sizes = vec![CHUNK, CHUNK, CHUNK - 4];
        assert_eq!(*seen.lock().expect("log"), sizes);
        let starts = [9, 9 + CHUNK, 9 + 2 * CHUNK];
        let want: Vec<Bytes> =
            starts.iter().zip(&sizes).map(|(&at, &n)| Bytes::from(vec![body[at], n.to_le_bytes()[0]])).collect();
        assert_eq!(got, want);

        /// The work's own error.
        #[derive(Debug, thiserror::Error)]
        #[error("chunk {0} refused")]
        struct Refused(usize);
        let mut calls = 0;
        let work: ChunkWork = Box::new(move |chunk: Bytes| {
            calls += 1;
            if calls == 2 { Err(StoreError::Chunk(Box::new(Refused(calls)))) } else { Ok(chunk) }
        });
        let mut stream = store.read_with(id, 0, body.len() as u64, work).await.expect("read");
        assert_eq!(stream.next().await.expect("first").expect("first chunk"), &body[..CHUNK]);
        let Some(Err(StoreError::Chunk(err))) = stream.next().await else { panic!("the work's error") };
        assert!(matches!(err.downcast::<Refused>().map(|e| *e), Ok(Refused(2))));
        assert!(stream.next().await.is_none(), "nothing after the error");
    }

    /// On a shared directory, the sweep removes only what is older than the cutoff: an old orphan and
    /// an old temporary file go; a young orphan (a blob another replica has not committed yet), a young
    /// temporary file (an upload in progress), a referenced old blob and a pinned old orphan stay.
    /// `orphans` lists the old unpinned-or-not orphans and removes nothing.
    #[tokio::test]
    async fn an_aged_sweep_removes_only_old_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileBlobStore::open(dir.path()).expect("open");
        let hour = Duration::from_secs(3600);
        let old_orphan = write_blob(&store, &[b"old orphan"]).await;
        let pinned_orphan = write_blob(&store, &[b"pinned"]).await;
        let young_orphan = write_blob(&store, &[b"young orphan"]).await;
        let referenced = write_blob(&store, &[b"referenced"]).await;
        for id in [old_orphan, pinned_orphan, referenced] {
            age(&store.blob_path(id), 2 * hour);
        }
        let (old_tmp, young_tmp) = (store.tmp_dir().join("a.tmp"), store.tmp_dir().join("b.tmp"));
        fs::write(&old_tmp, b"abandoned").expect("write");
        fs::write(&young_tmp, b"in progress").expect("write");
        age(&old_tmp, 2 * hour);
        let keep: HashSet<BlobId> = [referenced].into();
        let cutoff = SystemTime::now() - hour;

        let mut listed = store.orphans(&keep, cutoff).await.expect("orphans");
        listed.sort();
        let mut expected = vec![old_orphan, pinned_orphan];
        expected.sort();
        assert_eq!(listed, expected, "old unreferenced blobs, pinned or not");
        assert!(store.exists(old_orphan).await.expect("exists"), "listing removes nothing");

        let pin = store.pin(&[pinned_orphan]);
        assert_eq!(store.sweep(&keep, Some(cutoff)).await.expect("sweep"), 2);
        assert!(!store.exists(old_orphan).await.expect("exists"), "an old orphan goes");
        assert!(!old_tmp.exists(), "an old temporary file goes");
        assert!(young_tmp.exists(), "a young temporary file stays");
        for (id, what) in
            [(young_orphan, "a young orphan"), (referenced, "a referenced blob"), (pinned_orphan, "pinned")]
        {
            assert!(store.exists(id).await.expect("exists"), "{what} stays");
        }
        drop(pin);
        // Without a cutoff (a process alone on the directory), everything unreferenced goes.
        assert_eq!(store.sweep(&keep, None).await.expect("sweep"), 3);
        assert!(store.exists(referenced).await.expect("exists"));
        assert_eq!(fs::read_dir(store.tmp_dir()).expect("tmp").count(), 0);
    }
}
