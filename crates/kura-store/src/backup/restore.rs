//! Restoring a backup into an empty data directory, offline, treating the archive as hostile input.

use super::tar::{Entry, TarReader};
use super::{
    BackupError, BackupResult, CHECKSUMS, ChecksumLine, Counts, EntryName, FORMAT, Line, MANIFEST, MAX_CHECKSUM_LINE,
    MAX_MANIFEST, MAX_META_CHUNK, MAX_SECRET, Manifest,
};
use crate::file_blobs::FileBlobStore;
use crate::redb_meta::RedbMetaStore;
use crate::{BlobId, DumpEntry, MetaStore, StoreError, WriteCondition, check_inline};
use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};
use std::collections::hash_map::Entry as MapEntry;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use tokio::io::AsyncRead;

/// Metadata writes in flight at once while restoring (they share the store's group commits).
const APPLY_CONCURRENCY: usize = 256;
/// Size of the buffer blob data is copied through.
const COPY_BUFFER: usize = 256 * 1024;

/// How a restored data directory is laid out.
#[derive(Debug, Clone, Copy)]
pub struct RestoreOptions<'a> {
    /// File name of the metadata database in the directory (kura: `meta.redb`).
    pub meta_file: &'a str,
    /// The secret files an archive may carry (`secrets/NAME`), written into the directory with mode
    /// 0600. An archive with any other secret is refused.
    pub secret_files: &'a [&'a str],
}

/// What a restore wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    /// The archive's manifest (its counts are what was restored).
    pub manifest: Manifest,
    /// The secret files written, by name.
    pub secrets: Vec<String>,
}

/// Restores the archive read from `archive` into `dir`, which must not exist (its parent must) or be
/// empty (an empty `lost+found` directory, as a fresh ext4 volume has, is allowed).
///
/// Blobs are written under their ids and the metadata to a staging database (`META_FILE.restoring`)
/// as they arrive; once the archive has ended and every length, checksum, count and reference agrees,
/// the secret files are written and the staging database is renamed to `meta_file`, last. On any error
/// everything the restore created is removed (and `dir` itself, if it created it), and nothing is ever
/// written outside `dir`: entry names are checked against the names a backup holds and never used as
/// paths.
pub async fn restore_dir<R: AsyncRead + Unpin>(
    archive: R,
    dir: &Path,
    options: &RestoreOptions<'_>,
) -> BackupResult<RestoreReport> {
    check_options(options)?;
    let created = prepare(dir)?;
    let staging = dir.join(format!("{}.restoring", options.meta_file));
    match restore_into(archive, dir, &staging, options, None).await {
        Ok(report) => Ok(report),
        Err(err) => {
            clean_up(dir, &staging, created, options);
            Err(err)
        }
    }
}

/// Restores the archive read from `archive` into the metadata store `target`, which must hold no
/// entry at all, and its blobs and secret files into `dir` (empty or absent, as for [`restore_dir`]).
///
/// Nothing is written before both are found empty ([`BackupError::StoreNotEmpty`], [`BackupError::NotEmpty`]).
/// The archive is then verified whole into a staging redb database in `dir`, as [`restore_dir`] does;
/// only once everything agrees is the staged metadata copied into `target` (in dump order, through the
/// [`MetaStore`] methods) and the staging database removed. A refused archive therefore leaves
/// `target` untouched and `dir` as it was; a failure of `target` itself during the copy is
/// [`BackupError::PartlyRestored`] (`dir` is cleaned up, `target` must be emptied by the operator).
pub async fn restore_to_store<R: AsyncRead + Unpin>(
    archive: R,
    dir: &Path,
    target: &dyn MetaStore,
    options: &RestoreOptions<'_>,
) -> BackupResult<RestoreReport> {
    check_options(options)?;
    if let Some(first) = target.snapshot().await?.entries(false).next().await {
        return Err(BackupError::StoreNotEmpty(describe(&first?)));
    }
    let created = prepare(dir)?;
    let staging = dir.join(format!("{}.restoring", options.meta_file));
    match restore_into(archive, dir, &staging, options, Some(target)).await {
        Ok(report) => Ok(report),
        Err(err) => {
            clean_up(dir, &staging, created, options);
            Err(err)
        }
    }
}

/// Refuses options that name anything but plain files in the data directory.
fn check_options(options: &RestoreOptions<'_>) -> BackupResult<()> {
    let plain = |name: &str| !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\']);
    if !plain(options.meta_file) || !options.secret_files.iter().all(|n| plain(n)) {
        return Err(BackupError::Invalid("restore options must name plain files in the data directory".into()));
    }
    Ok(())
}

/// Names one entry of a store, for the refusal of a non-empty one.
fn describe(entry: &DumpEntry) -> String {
    match entry {
        DumpEntry::Bucket(info) => format!("bucket {:?}", info.name),
        DumpEntry::Object { bucket, object } | DumpEntry::Version { bucket, object } => {
            format!("object {:?} of bucket {bucket:?}", object.key)
        }
        DumpEntry::Upload { bucket, upload } => format!("upload {:?} of bucket {bucket:?}", upload.upload_id),
        DumpEntry::Part { bucket, upload_id, .. } => format!("a part of upload {upload_id:?} of bucket {bucket:?}"),
        DumpEntry::Record { kind, id, .. } => format!("record {kind}/{id}"),
    }
}

/// Entries copied into a target store per [`apply`] call (inline bodies of up to 16 KiB each in memory).
const COPY_BATCH: usize = 1024;

/// Copies every entry of the verified staging store into `target`, in dump order.
async fn copy_into(staged: &dyn MetaStore, target: &dyn MetaStore) -> BackupResult<()> {
    let partly = |e: BackupError| match e {
        BackupError::Store(e) => BackupError::PartlyRestored(e),
        other => other,
    };
    let mut entries = staged.snapshot().await?.entries(true).chunks(COPY_BATCH);
    while let Some(batch) = entries.next().await {
        let batch = batch.into_iter().collect::<Result<Vec<_>, _>>()?;
        apply(target, batch).await.map_err(partly)?;
    }
    Ok(())
}

/// Checks that `dir` is empty, or creates it; answers whether it was created.
fn prepare(dir: &Path) -> BackupResult<bool> {
    let shown = dir.display().to_string();
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Not `create_dir_all`: a restore creates nothing outside `dir`, its parents included.
            std::fs::create_dir(dir).map_err(BackupError::io(format!("creating {shown}")))?;
            Ok(true)
        }
        Err(e) => Err(BackupError::Io { context: shown, source: e }),
        Ok(m) if !m.is_dir() => Err(BackupError::Io {
            context: shown,
            source: std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
        }),
        Ok(_) => {
            for entry in std::fs::read_dir(dir).map_err(BackupError::io(format!("reading {shown}")))? {
                let entry = entry.map_err(BackupError::io(format!("reading {shown}")))?;
                let name = entry.file_name();
                if name == "lost+found" && entry.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                return Err(BackupError::NotEmpty { path: dir.to_owned(), found: name.to_string_lossy().into_owned() });
            }
            Ok(false)
        }
    }
}

/// Removes what a failed restore created. `dir` was empty (but for `lost+found`) when it began.
fn clean_up(dir: &Path, staging: &Path, created: bool, options: &RestoreOptions<'_>) {
    for sub in ["blobs", "tmp"] {
        let path = dir.join(sub);
        if let Err(e) = std::fs::remove_dir_all(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove a partly restored directory");
        }
    }
    let files: Vec<PathBuf> = [staging.to_owned(), staging.with_extension("reserve"), dir.join(options.meta_file)]
        .into_iter()
        .chain(options.secret_files.iter().map(|name| dir.join(name)))
        .collect();
    for path in files {
        if let Err(e) = std::fs::remove_file(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove a partly restored file");
        }
    }
    if created {
        let _ = std::fs::remove_dir(dir);
    }
}

async fn restore_into<R: AsyncRead + Unpin>(
    archive: R,
    dir: &Path,
    staging: &Path,
    options: &RestoreOptions<'_>,
    target: Option<&dyn MetaStore>,
) -> BackupResult<RestoreReport> {
    let (manifest, secrets) = {
        let blobs = FileBlobStore::open(dir)?;
        let meta = RedbMetaStore::open(staging)?;
        let mut restore = Restore::new(&meta, &blobs, options.secret_files);
        let mut reader = TarReader::new(tokio::io::BufReader::with_capacity(COPY_BUFFER, archive));
        while let Some(entry) = reader.next_entry().await? {
            restore.entry(&mut reader, entry).await?;
        }
        let verified = restore.finish()?;
        if let Some(target) = target {
            copy_into(&meta, target).await?;
        }
        verified
        // The stores close here: the database's writer thread ends and its file is complete.
    };
    let reserve = staging.with_extension("reserve");
    std::fs::remove_file(&reserve).map_err(BackupError::io(format!("removing {}", reserve.display())))?;
    if target.is_some() {
        // The metadata lives in the target store: the staging database has served its purpose.
        std::fs::remove_file(staging).map_err(BackupError::io(format!("removing {}", staging.display())))?;
    }
    let mut names = Vec::new();
    for (name, content) in &secrets {
        let path = dir.join(name);
        write_private(&path, content).map_err(BackupError::io(format!("writing {}", path.display())))?;
        names.push(name.clone());
    }
    if target.is_none() {
        let target = dir.join(options.meta_file);
        std::fs::rename(staging, &target).map_err(BackupError::io(format!("renaming to {}", target.display())))?;
    }
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(BackupError::io(format!("syncing {}", dir.display())))?;
    Ok(RestoreReport { manifest, secrets: names })
}

/// Writes a file readable by its owner only, durably; refuses to replace one.
fn write_private(path: &Path, content: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(content)?;
    file.sync_all()
}

fn refused(message: String) -> BackupError {
    BackupError::Refused(message)
}

/// Which entry an archive entry's name is; refuses every name a backup does not hold.
fn classify(name: &str, secrets: &[&str]) -> BackupResult<EntryName> {
    if name.starts_with('/') || name.contains('\\') || name.split('/').any(|part| part == "..") {
        return Err(refused(format!("entry {name:?} names a path outside the data directory")));
    }
    if name == MANIFEST {
        return Ok(EntryName::Manifest);
    }
    if name == CHECKSUMS {
        return Ok(EntryName::Checksums);
    }
    if let Some(number) = name.strip_prefix("meta/").and_then(|rest| rest.strip_suffix(".jsonl"))
        && let Ok(n) = number.parse::<u64>()
        && format!("{n:06}") == number
    {
        return Ok(EntryName::Meta(n));
    }
    if let Some(hex) = name.strip_prefix("blobs/")
        && let Some(id) = BlobId::parse(hex)
        && id.to_string() == hex
    {
        return Ok(EntryName::Blob(id));
    }
    if let Some(secret) = name.strip_prefix("secrets/") {
        return match secrets.iter().find(|s| **s == secret) {
            Some(s) => Ok(EntryName::Secret((*s).to_owned())),
            None => Err(refused(format!("entry {name:?} is not a secret file kura restores (only {secrets:?})"))),
        };
    }
    Err(refused(format!("entry {name:?} is not part of a kura backup")))
}

/// The order of entry kinds in an archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Start,
    Meta,
    Blobs,
    Secrets,
    Done,
}

/// The order of entry kinds in the metadata.
fn rank(entry: &DumpEntry) -> (u8, &'static str) {
    match entry {
        DumpEntry::Bucket(_) => (0, "a bucket"),
        DumpEntry::Object { .. } => (1, "an object"),
        DumpEntry::Version { .. } => (2, "a version"),
        DumpEntry::Upload { .. } => (3, "an upload"),
        DumpEntry::Part { .. } => (4, "a part"),
        DumpEntry::Record { .. } => (5, "a record"),
    }
}

/// Secret files by name, with their content.
type Secrets = Vec<(String, Vec<u8>)>;

/// A blob the metadata references: its length, and whether its entry has been read.
struct Expected {
    len: u64,
    received: bool,
}

/// The state of a restore as entries arrive.
struct Restore<'a> {
    meta: &'a dyn MetaStore,
    blobs: &'a FileBlobStore,
    secret_names: &'a [&'a str],
    phase: Phase,
    manifest: Option<Manifest>,
    next_meta: u64,
    rank: (u8, &'static str),
    counts: Counts,
    expected: HashMap<BlobId, Expected>,
    blobs_received: u64,
    blob_bytes: u64,
    buckets: HashSet<String>,
    uploads: HashSet<(String, String)>,
    parts: HashSet<(String, String, u32)>,
    records: HashSet<(String, String)>,
    /// Every entry read so far, the manifest first: name, length, SHA-256.
    sums: Vec<(String, u64, [u8; 32])>,
    secrets: Secrets,
    buffer: Vec<u8>,
}

impl<'a> Restore<'a> {
    fn new(meta: &'a dyn MetaStore, blobs: &'a FileBlobStore, secret_names: &'a [&'a str]) -> Self {
        Self {
            meta,
            blobs,
            secret_names,
            phase: Phase::Start,
            manifest: None,
            next_meta: 1,
            rank: (0, "a bucket"),
            counts: Counts::default(),
            expected: HashMap::new(),
            blobs_received: 0,
            blob_bytes: 0,
            buckets: HashSet::new(),
            uploads: HashSet::new(),
            parts: HashSet::new(),
            records: HashSet::new(),
            sums: Vec::new(),
            secrets: Vec::new(),
            buffer: vec![0; COPY_BUFFER],
        }
    }

    async fn entry<R: AsyncRead + Unpin>(&mut self, reader: &mut TarReader<R>, entry: Entry) -> BackupResult<()> {
        let name = classify(&entry.name, self.secret_names)?;
        let shown = entry.name.as_str();
        let phase = match name {
            EntryName::Manifest => Phase::Start,
            EntryName::Meta(_) => Phase::Meta,
            EntryName::Blob(_) => Phase::Blobs,
            EntryName::Secret(_) => Phase::Secrets,
            EntryName::Checksums => Phase::Done,
        };
        if self.phase == Phase::Done {
            return Err(refused(format!("entry {shown:?} follows {CHECKSUMS}, which ends a kura backup")));
        }
        if self.phase == Phase::Start && phase != Phase::Start {
            return Err(refused(format!(
                "the archive does not start with {MANIFEST} (it starts with {shown:?}): it is not a kura backup"
            )));
        }
        if phase < self.phase {
            return Err(refused(format!("entry {shown:?} is out of order or appears twice")));
        }
        self.phase = phase.max(Phase::Meta);
        match name {
            EntryName::Manifest => self.manifest(reader, &entry).await,
            EntryName::Meta(n) => self.meta_chunk(reader, &entry, n).await,
            EntryName::Blob(id) => self.blob(reader, &entry, id).await,
            EntryName::Secret(secret) => self.secret(reader, &entry, secret).await,
            EntryName::Checksums => self.checksums(reader).await,
        }
    }

    /// Reads a whole entry of at most `max` bytes, and records its checksum.
    async fn read_whole<R: AsyncRead + Unpin>(
        &mut self,
        reader: &mut TarReader<R>,
        entry: &Entry,
        max: u64,
    ) -> BackupResult<Vec<u8>> {
        if entry.size > max {
            return Err(refused(format!(
                "entry {:?} claims {} bytes, more than such an entry may hold ({max})",
                entry.name, entry.size
            )));
        }
        // Bounded by `max`, so the conversion is lossless.
        let mut data = vec![0u8; usize::try_from(entry.size).unwrap_or(0)];
        let mut filled = 0;
        while filled < data.len() {
            filled += reader.read_data(&mut data[filled..]).await?;
        }
        self.sums.push((entry.name.clone(), entry.size, Sha256::digest(&data).into()));
        Ok(data)
    }

    async fn manifest<R: AsyncRead + Unpin>(&mut self, reader: &mut TarReader<R>, entry: &Entry) -> BackupResult<()> {
        let data = self.read_whole(reader, entry, MAX_MANIFEST).await?;
        let value: serde_json::Value = serde_json::from_slice(&data)
            .map_err(|e| refused(format!("{MANIFEST} is not JSON ({e}): it is not a kura backup")))?;
        match value.get("format").and_then(serde_json::Value::as_u64) {
            Some(format) if format == u64::from(FORMAT) => {}
            Some(format) => {
                let by = value.get("kura_version").and_then(serde_json::Value::as_str).unwrap_or("an unknown version");
                return Err(refused(format!(
                    "it is in backup format {format} (written by kura {by}); this kura reads format {FORMAT} only"
                )));
            }
            None => return Err(refused(format!("{MANIFEST} has no format version: it is not a kura backup"))),
        }
        let manifest: Manifest =
            serde_json::from_value(value).map_err(|e| refused(format!("{MANIFEST} is not a valid manifest: {e}")))?;
        if let Some(secret) = manifest.secrets.iter().find(|s| !self.secret_names.contains(&s.as_str())) {
            return Err(refused(format!("the manifest lists a secret file kura does not restore: {secret:?}")));
        }
        self.manifest = Some(manifest);
        Ok(())
    }

    async fn meta_chunk<R: AsyncRead + Unpin>(
        &mut self,
        reader: &mut TarReader<R>,
        entry: &Entry,
        n: u64,
    ) -> BackupResult<()> {
        if n != self.next_meta {
            return Err(refused(format!(
                "entry {:?} is out of sequence or appears twice (the next one is {})",
                entry.name,
                EntryName::Meta(self.next_meta)
            )));
        }
        self.next_meta += 1;
        let data = self.read_whole(reader, entry, MAX_META_CHUNK).await?;
        let text = std::str::from_utf8(&data).map_err(|_| refused(format!("{} is not UTF-8", entry.name)))?;
        let Some(text) = text.strip_suffix('\n') else {
            return Err(refused(format!("{} does not end with a newline: it is damaged", entry.name)));
        };
        let mut batch = Vec::new();
        for (i, line) in text.split('\n').enumerate() {
            let at = format!("{} line {}", entry.name, i + 1);
            let line: Line = serde_json::from_str(line).map_err(|e| refused(format!("{at}: {e}")))?;
            let parsed = line.into_entry(&at)?;
            self.check(&parsed, &at)?;
            batch.push(parsed);
        }
        apply(self.meta, batch).await
    }

    /// Checks one metadata entry against those before it: kinds in order, no duplicates, references to
    /// buckets and uploads the archive holds, consistent sizes; and notes the blobs it references.
    fn check(&mut self, entry: &DumpEntry, at: &str) -> BackupResult<()> {
        let rank = rank(entry);
        if rank.0 < self.rank.0 {
            return Err(refused(format!("{at}: {} after {}: the metadata is out of order", rank.1, self.rank.1)));
        }
        self.rank = rank;
        self.counts.add(entry);
        match entry {
            DumpEntry::Bucket(info) => {
                if !self.buckets.insert(info.name.clone()) {
                    return Err(refused(format!("{at}: bucket {:?} appears twice", info.name)));
                }
            }
            DumpEntry::Object { bucket, object } | DumpEntry::Version { bucket, object } => {
                if !self.buckets.contains(bucket) {
                    return Err(refused(format!(
                        "{at}: object {:?} is in bucket {bucket:?}, which is not in the archive",
                        object.key
                    )));
                }
                check_inline(object).map_err(|e| refused(format!("{at}: {e}")))?;
                let total = object.segments.iter().try_fold(0u64, |sum, s| sum.checked_add(s.size));
                if !object.is_inline() && total != Some(object.size) {
                    return Err(refused(format!(
                        "{at}: object {:?} has {} bytes but segments of another total",
                        object.key, object.size
                    )));
                }
            }
            DumpEntry::Upload { bucket, upload } => {
                if !self.buckets.contains(bucket) {
                    return Err(refused(format!(
                        "{at}: an upload is in bucket {bucket:?}, which is not in the archive"
                    )));
                }
                if !self.uploads.insert((bucket.clone(), upload.upload_id.clone())) {
                    return Err(refused(format!("{at}: upload {:?} appears twice", upload.upload_id)));
                }
            }
            DumpEntry::Part { bucket, upload_id, part } => {
                if !self.uploads.contains(&(bucket.clone(), upload_id.clone())) {
                    return Err(refused(format!("{at}: a part of upload {upload_id:?}, which is not in the archive")));
                }
                if !self.parts.insert((bucket.clone(), upload_id.clone(), part.number)) {
                    return Err(refused(format!("{at}: part {} of upload {upload_id:?} appears twice", part.number)));
                }
            }
            DumpEntry::Record { kind, id, .. } => {
                if !self.records.insert((kind.clone(), id.clone())) {
                    return Err(refused(format!("{at}: record {kind}/{id} appears twice")));
                }
            }
        }
        for (id, len) in entry.blobs() {
            match self.expected.entry(id) {
                MapEntry::Vacant(v) => {
                    v.insert(Expected { len, received: false });
                }
                MapEntry::Occupied(o) if o.get().len != len => {
                    return Err(refused(format!("{at}: blob {id} is given {} and {len} bytes", o.get().len)));
                }
                MapEntry::Occupied(_) => {}
            }
        }
        Ok(())
    }

    async fn blob<R: AsyncRead + Unpin>(
        &mut self,
        reader: &mut TarReader<R>,
        entry: &Entry,
        id: BlobId,
    ) -> BackupResult<()> {
        let Some(expected) = self.expected.get_mut(&id) else {
            return Err(refused(format!(
                "entry {:?} is a blob no object or part in the archive references",
                entry.name
            )));
        };
        if expected.received {
            return Err(refused(format!("entry {:?} appears twice", entry.name)));
        }
        if entry.size != expected.len {
            return Err(refused(format!(
                "entry {:?} claims {} bytes, but the metadata gives that blob {} bytes",
                entry.name, entry.size, expected.len
            )));
        }
        expected.received = true;
        let mut writer = self.blobs.create_at(id).await?;
        let mut hasher = Sha256::new();
        loop {
            let n = reader.read_data(&mut self.buffer).await?;
            if n == 0 {
                break;
            }
            hasher.update(&self.buffer[..n]);
            writer.write(&self.buffer[..n]).await?;
        }
        writer.finish().await?;
        self.blobs_received += 1;
        self.blob_bytes += entry.size;
        self.sums.push((entry.name.clone(), entry.size, hasher.finalize().into()));
        Ok(())
    }

    async fn secret<R: AsyncRead + Unpin>(
        &mut self,
        reader: &mut TarReader<R>,
        entry: &Entry,
        name: String,
    ) -> BackupResult<()> {
        if self.secrets.iter().any(|(n, _)| *n == name) {
            return Err(refused(format!("entry {:?} appears twice", entry.name)));
        }
        let data = self.read_whole(reader, entry, MAX_SECRET).await?;
        self.secrets.push((name, data));
        Ok(())
    }

    /// Reads `checksums.jsonl` line by line and compares each line with the entry read at its place.
    async fn checksums<R: AsyncRead + Unpin>(&mut self, reader: &mut TarReader<R>) -> BackupResult<()> {
        let mut line = Vec::new();
        let mut index = 0;
        loop {
            let n = reader.read_data(&mut self.buffer).await?;
            if n == 0 {
                break;
            }
            for i in 0..n {
                let byte = self.buffer[i];
                if byte == b'\n' {
                    self.check_sum(index, &line)?;
                    index += 1;
                    line.clear();
                } else if line.len() >= MAX_CHECKSUM_LINE {
                    return Err(refused(format!("{CHECKSUMS} line {} is too long", index + 1)));
                } else {
                    line.push(byte);
                }
            }
        }
        if !line.is_empty() {
            return Err(refused(format!("{CHECKSUMS} does not end with a newline: it is damaged")));
        }
        if index != self.sums.len() {
            return Err(refused(format!(
                "{CHECKSUMS} lists {index} entries, but the archive holds {}",
                self.sums.len()
            )));
        }
        Ok(())
    }

    fn check_sum(&self, index: usize, line: &[u8]) -> BackupResult<()> {
        let at = format!("{CHECKSUMS} line {}", index + 1);
        let sum: ChecksumLine = serde_json::from_slice(line).map_err(|e| refused(format!("{at}: {e}")))?;
        let Some((name, length, digest)) = self.sums.get(index) else {
            return Err(refused(format!("{at}: {CHECKSUMS} lists more entries than the archive holds")));
        };
        if sum.name != *name {
            return Err(refused(format!("{at} names {:?} where the archive holds {name:?}", sum.name)));
        }
        if sum.length != *length {
            return Err(refused(format!(
                "{name}: the archive holds {length} bytes, its checksum line says {}: the archive is damaged",
                sum.length
            )));
        }
        let got = hex::encode(digest);
        if sum.sha256 != got {
            return Err(refused(format!(
                "{name}: its bytes do not match its checksum (SHA-256 {got}, expected {}): the archive is damaged \
                 or was altered",
                sum.sha256
            )));
        }
        Ok(())
    }

    /// After the end of the archive: everything the manifest announced arrived, and every referenced
    /// blob. Returns the manifest and the secret files.
    fn finish(&mut self) -> BackupResult<(Manifest, Secrets)> {
        match self.phase {
            Phase::Done => {}
            Phase::Start => return Err(refused("the archive is empty: it is not a kura backup".into())),
            _ => return Err(refused(format!("the archive ends without {CHECKSUMS}: it is incomplete"))),
        }
        let Some(manifest) = self.manifest.take() else {
            return Err(refused(format!("the archive has no {MANIFEST}")));
        };
        if self.counts != Counts::of(&manifest) {
            return Err(refused(format!(
                "the metadata holds {:?}, but the manifest announces {:?}",
                self.counts,
                Counts::of(&manifest)
            )));
        }
        if let Some((id, _)) = self.expected.iter().find(|(_, e)| !e.received) {
            return Err(refused(format!("blob {id}, which the metadata references, is missing from the archive")));
        }
        if self.blobs_received != manifest.blobs || self.blob_bytes != manifest.blob_bytes {
            return Err(refused(format!(
                "the archive holds {} blobs of {} bytes, but the manifest announces {} of {}",
                self.blobs_received, self.blob_bytes, manifest.blobs, manifest.blob_bytes
            )));
        }
        let mut got: Vec<&str> = self.secrets.iter().map(|(n, _)| n.as_str()).collect();
        let mut announced: Vec<&str> = manifest.secrets.iter().map(String::as_str).collect();
        got.sort_unstable();
        announced.sort_unstable();
        if got != announced {
            return Err(refused(format!(
                "the archive holds secrets {got:?}, but the manifest announces {announced:?}"
            )));
        }
        Ok((manifest, std::mem::take(&mut self.secrets)))
    }
}

/// Writes a chunk's entries to the store: runs of one kind concurrently (they share group commits),
/// kinds one after the other (objects need their bucket, parts their upload).
async fn apply(meta: &dyn MetaStore, batch: Vec<DumpEntry>) -> BackupResult<()> {
    let mut rest = batch.into_iter().peekable();
    while let Some(first) = rest.next() {
        let kind = rank(&first).0;
        let mut run = vec![first];
        while let Some(entry) = rest.next_if(|e| rank(e).0 == kind) {
            run.push(entry);
        }
        futures::stream::iter(run)
            .map(|entry| apply_one(meta, entry))
            .buffer_unordered(APPLY_CONCURRENCY)
            .try_for_each(|()| async { Ok(()) })
            .await?;
    }
    Ok(())
}

async fn apply_one(meta: &dyn MetaStore, entry: DumpEntry) -> BackupResult<()> {
    match entry {
        DumpEntry::Bucket(info) => meta.create_bucket(info).await?,
        DumpEntry::Object { bucket, object } => {
            let key = object.key.clone();
            match meta.put_object_if(&bucket, object, &WriteCondition::IfAbsent).await {
                Ok(_) => {}
                Err(StoreError::ConditionFailed { .. }) => {
                    return Err(refused(format!("object {key:?} of bucket {bucket:?} appears twice")));
                }
                Err(e) => return Err(e.into()),
            }
        }
        DumpEntry::Version { bucket, object } => meta.put_noncurrent(&bucket, object).await?,
        DumpEntry::Upload { bucket, upload } => meta.create_upload(&bucket, upload).await?,
        DumpEntry::Part { bucket, upload_id, part } => {
            meta.put_part(&bucket, &upload_id, part).await?;
        }
        DumpEntry::Record { kind, id, value } => meta.put_record(&kind, &id, value).await?,
    }
    Ok(())
}
