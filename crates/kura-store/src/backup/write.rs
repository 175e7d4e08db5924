//! Writing a backup: [`start`] takes the snapshot and pins its blobs; [`Backup::into_stream`] streams
//! the archive from a task that owns them.

use super::tar;
use super::{
    BackupError, BackupResult, ChecksumLine, Counts, EntryName, FORMAT, Line, META_CHUNK, Manifest, rfc3339,
    valid_secret_name,
};
use crate::{BlobId, BlobPin, BlobStore, MetaSnapshot, MetaStore};
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::collections::btree_map::Entry as MapEntry;
use std::sync::Arc;
use tokio::sync::mpsc;

/// What a backup adds to the stores' contents.
#[derive(Clone, Default)]
pub struct BackupOptions {
    /// The version of kura writing it, recorded in the manifest.
    pub kura_version: String,
    /// Secret files to include as `secrets/NAME`, by name (1 to 64 of `a-z`, `0-9`, `-`) and content.
    /// Empty unless the operator asked for them.
    pub secrets: Vec<(String, Vec<u8>)>,
}

impl std::fmt::Debug for BackupOptions {
    /// Names the secrets, never their content.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.secrets.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("BackupOptions").field("kura_version", &self.kura_version).field("secrets", &names).finish()
    }
}

/// A started backup: its snapshot is taken and its blobs are pinned. Stream it with
/// [`Backup::into_stream`]; dropping it (or the stream) releases the snapshot and the pins.
pub struct Backup {
    manifest: Manifest,
    work: Work,
}

impl std::fmt::Debug for Backup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backup").field("manifest", &self.manifest).finish_non_exhaustive()
    }
}

/// What the archive is written from; owning it keeps the snapshot open and the blobs pinned.
struct Work {
    snapshot: Arc<dyn MetaSnapshot>,
    blobs: Arc<dyn BlobStore>,
    /// Every blob the snapshot references, with its length, in id order.
    lengths: BTreeMap<BlobId, u64>,
    secrets: Vec<(String, Vec<u8>)>,
    /// Released when the work is dropped: when the archive is written, or abandoned.
    _pin: BlobPin,
}

/// The archive as a stream of chunks. An `Err` item means the archive could not be completed: the
/// reader must discard what it received.
pub type BackupStream = BoxStream<'static, Result<Bytes, BackupError>>;

/// Takes a consistent snapshot of `meta` and pins every blob of `blobs` that it references (see the
/// module documentation for why no such blob can be reclaimed in between). Reads the whole snapshot
/// once (metadata only) to count it and to list its blobs. Nothing is streamed yet.
pub async fn start(meta: &dyn MetaStore, blobs: Arc<dyn BlobStore>, options: BackupOptions) -> BackupResult<Backup> {
    let mut names = std::collections::HashSet::new();
    for (name, _) in &options.secrets {
        if !valid_secret_name(name) || !names.insert(name.as_str()) {
            return Err(BackupError::Invalid(format!("{name:?} cannot name a secret file in a backup")));
        }
    }
    let hold = blobs.hold_reclaims();
    let snapshot = meta.snapshot().await?;
    let created_ms = i64::try_from(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0),
    )
    .unwrap_or(i64::MAX);
    let mut counts = Counts::default();
    let mut lengths: BTreeMap<BlobId, u64> = BTreeMap::new();
    let mut entries = Arc::clone(&snapshot).entries(false);
    while let Some(entry) = entries.next().await {
        let entry = entry?;
        counts.add(&entry);
        for (id, len) in entry.blobs() {
            match lengths.entry(id) {
                MapEntry::Vacant(v) => {
                    v.insert(len);
                }
                MapEntry::Occupied(o) if *o.get() != len => {
                    return Err(BackupError::Invalid(format!(
                        "blob {id} is referenced with two lengths ({} and {len} bytes)",
                        o.get()
                    )));
                }
                MapEntry::Occupied(_) => {}
            }
        }
    }
    drop(entries);
    let ids: Vec<BlobId> = lengths.keys().copied().collect();
    let pin = blobs.pin(&ids);
    // Releasing the hold deletes what was reclaimed meanwhile and is not pinned: file work, so off the
    // async threads.
    if let Err(e) = tokio::task::spawn_blocking(move || drop(hold)).await {
        tracing::warn!(error = %e, "releasing the backup's reclaim hold failed");
    }
    let manifest = Manifest {
        format: FORMAT,
        kura_version: options.kura_version,
        created: rfc3339(created_ms),
        created_ms,
        buckets: counts.buckets,
        objects: counts.objects,
        uploads: counts.uploads,
        parts: counts.parts,
        records: counts.records,
        blobs: lengths.len() as u64,
        blob_bytes: lengths.values().sum(),
        secrets: options.secrets.iter().map(|(n, _)| n.clone()).collect(),
    };
    let work = Work { snapshot, blobs, lengths, secrets: options.secrets, _pin: pin };
    Ok(Backup { manifest, work })
}

impl Backup {
    /// What the archive will hold.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Streams the archive. A task writes it into a small buffer (a few chunks) as fast as the stream is
    /// read; when the stream is dropped (the client went away) the task stops at its next chunk and
    /// drops the snapshot and the pins.
    pub fn into_stream(self) -> BackupStream {
        let (tx, rx) = mpsc::channel(8);
        tokio::spawn(produce(self.manifest, self.work, tx));
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }).boxed()
    }
}

/// Why writing stopped early.
enum Stop {
    /// The reader dropped the stream.
    Gone,
    /// Reading the stores failed.
    Failed(BackupError),
}

impl From<BackupError> for Stop {
    fn from(err: BackupError) -> Self {
        Stop::Failed(err)
    }
}

impl From<crate::StoreError> for Stop {
    fn from(err: crate::StoreError) -> Self {
        Stop::Failed(err.into())
    }
}

/// Logs how a backup ended when it is dropped, however that happens (completion, failure, a reader
/// that went away, a runtime shutting down). The work it guards is dropped right after.
struct Outcome {
    completed: bool,
    manifest: Manifest,
}

impl Drop for Outcome {
    fn drop(&mut self) {
        let m = &self.manifest;
        if self.completed {
            tracing::info!(objects = m.objects, blobs = m.blobs, bytes = m.blob_bytes, "backup written");
        } else {
            tracing::warn!(
                objects = m.objects,
                blobs = m.blobs,
                "backup abandoned before its end; its snapshot and blob pins are released"
            );
        }
    }
}

async fn produce(manifest: Manifest, work: Work, tx: mpsc::Sender<Result<Bytes, BackupError>>) {
    let mut outcome = Outcome { completed: false, manifest };
    let mut sink =
        Sink { tx: &tx, sums: Vec::new(), mtime: u64::try_from(outcome.manifest.created_ms / 1000).unwrap_or(0) };
    match write_archive(&outcome.manifest, &work, &mut sink).await {
        Ok(()) => outcome.completed = true,
        Err(Stop::Gone) => {}
        Err(Stop::Failed(err)) => {
            tracing::error!(error = %err, "a backup failed while streaming");
            let _ = tx.send(Err(err)).await;
        }
    }
    drop(outcome);
    drop(work);
}

/// Where archive bytes go, and the checksum of every entry sent.
struct Sink<'a> {
    tx: &'a mpsc::Sender<Result<Bytes, BackupError>>,
    sums: Vec<(EntryName, u64, [u8; 32])>,
    mtime: u64,
}

impl Sink<'_> {
    async fn send(&self, bytes: Bytes) -> Result<(), Stop> {
        self.tx.send(Ok(bytes)).await.map_err(|_| Stop::Gone)
    }

    async fn header(&self, name: &EntryName, size: u64) -> Result<(), Stop> {
        let mode = if matches!(name, EntryName::Secret(_)) { 0o600 } else { 0o644 };
        let header = tar::header(&name.to_string(), size, mode, self.mtime)?;
        self.send(Bytes::copy_from_slice(&header)).await
    }

    async fn pad(&self, size: u64) -> Result<(), Stop> {
        let pad = tar::padding(size);
        if pad > 0 {
            self.send(Bytes::from(vec![0u8; pad])).await?;
        }
        Ok(())
    }

    /// One entry whose data is in memory.
    async fn entry(&mut self, name: EntryName, data: Bytes) -> Result<(), Stop> {
        let size = data.len() as u64;
        self.header(&name, size).await?;
        let sum: [u8; 32] = Sha256::digest(&data).into();
        if !data.is_empty() {
            self.send(data).await?;
        }
        self.pad(size).await?;
        self.sums.push((name, size, sum));
        Ok(())
    }
}

async fn write_archive(manifest: &Manifest, work: &Work, sink: &mut Sink<'_>) -> Result<(), Stop> {
    let text = serde_json::to_vec_pretty(manifest)
        .map_err(|e| BackupError::Invalid(format!("cannot encode the manifest: {e}")))?;
    sink.entry(EntryName::Manifest, Bytes::from(text)).await?;

    // The metadata, in chunks, checking on the way that it is the snapshot the first pass counted.
    let mut counts = Counts::default();
    let mut chunk: Vec<u8> = Vec::with_capacity(META_CHUNK + 64 * 1024);
    let mut chunk_no = 0u64;
    let mut entries = Arc::clone(&work.snapshot).entries(true);
    while let Some(entry) = entries.next().await {
        let entry = entry?;
        counts.add(&entry);
        serde_json::to_writer(&mut chunk, &Line::from(entry))
            .map_err(|e| BackupError::Invalid(format!("cannot encode a metadata entry: {e}")))?;
        chunk.push(b'\n');
        if chunk.len() >= META_CHUNK {
            chunk_no += 1;
            let data = Bytes::from(std::mem::replace(&mut chunk, Vec::with_capacity(META_CHUNK + 64 * 1024)));
            sink.entry(EntryName::Meta(chunk_no), data).await?;
        }
    }
    if !chunk.is_empty() {
        chunk_no += 1;
        sink.entry(EntryName::Meta(chunk_no), Bytes::from(chunk)).await?;
    }
    if counts != Counts::of(manifest) {
        return Err(Stop::Failed(BackupError::Invalid(format!(
            "the snapshot changed between two readings ({counts:?}, then {:?})",
            Counts::of(manifest)
        ))));
    }

    for (&id, &len) in &work.lengths {
        let name = EntryName::Blob(id);
        sink.header(&name, len).await?;
        let mut hasher = Sha256::new();
        let mut sent = 0u64;
        let mut body = work.blobs.read(id, 0, len).await?;
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            hasher.update(&chunk);
            sent += chunk.len() as u64;
            sink.send(chunk).await?;
        }
        if sent != len {
            return Err(Stop::Failed(BackupError::Invalid(format!("blob {id} gave {sent} bytes, not {len}"))));
        }
        sink.pad(len).await?;
        sink.sums.push((name, len, hasher.finalize().into()));
    }

    for (name, content) in &work.secrets {
        sink.entry(EntryName::Secret(name.clone()), Bytes::copy_from_slice(content)).await?;
    }

    // The checksums: their length is known before they are written, line by line.
    let line = |(name, length, sum): &(EntryName, u64, [u8; 32])| -> Result<String, Stop> {
        let line = ChecksumLine { name: name.to_string(), length: *length, sha256: hex::encode(sum) };
        let mut text = serde_json::to_string(&line)
            .map_err(|e| BackupError::Invalid(format!("cannot encode a checksum line: {e}")))?;
        text.push('\n');
        Ok(text)
    };
    let mut total = 0u64;
    for sum in &sink.sums {
        total += line(sum)?.len() as u64;
    }
    sink.header(&EntryName::Checksums, total).await?;
    let mut buf = String::with_capacity(64 * 1024 + 256);
    for sum in &sink.sums {
        buf.push_str(&line(sum)?);
        if buf.len() >= 64 * 1024 {
            sink.send(Bytes::from(std::mem::take(&mut buf))).await?;
        }
    }
    if !buf.is_empty() {
        sink.send(Bytes::from(buf)).await?;
    }
    sink.pad(total).await?;
    sink.send(Bytes::from_static(&tar::END)).await?;
    Ok(())
}
