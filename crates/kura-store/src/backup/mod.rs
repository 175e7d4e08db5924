//! Backups: one archive of a consistent point-in-time state of the stores, written while the server
//! keeps serving ([`start`]), and its offline restore into an empty data directory ([`restore_dir`]).
//!
//! # Consistency
//! **Invariant**: a backup is one snapshot; its blobs are pinned. [`start`] first holds every blob
//! reclamation ([`crate::BlobStore::hold_reclaims`]), then takes one metadata snapshot
//! ([`crate::MetaStore::snapshot`]), reads from it the blobs it references, pins them ([`crate::BlobStore::pin`]) and
//! only then releases the hold. A blob the snapshot references can only be unreferenced by a commit
//! after the snapshot, whose reclaim therefore comes after the hold began and waits; the pins then keep
//! it until the archive is written or abandoned (the pins, and the snapshot, live in the task that
//! writes the archive, and are dropped with it when the reader goes away). So the archive holds exactly
//! the state of one moment: objects written together in one commit are both in it or both out.
//!
//! # The archive
//! A POSIX ustar archive (`tar tvf` lists it), written by kura's own small writer ([`tar`]: ustar
//! headers only, streaming, no dependency), holding regular files only, in this order:
//!
//! | entry | what |
//! |-------|------|
//! | `kura-backup.json` | the [`Manifest`]: format version, kura version, time, counts |
//! | `meta/000001.jsonl`, `meta/000002.jsonl`… | the metadata, one JSON object per line, `{"bucket": …}`, `{"object": {"bucket", "object", "inline"}}` (the inline body in base64), `{"upload": {"bucket", "upload"}}`, `{"part": {"bucket", "upload_id", "part"}}` or `{"record": {"kind", "id", "value"}}` (the value in base64), in dump order ([`crate::MetaSnapshot::entries`]), in chunks of about [`META_CHUNK`] bytes |
//! | `blobs/<32 hex digits>` | every blob the metadata references, once, by id |
//! | `secrets/<name>` | only when asked: files such as `root-credentials` |
//! | `checksums.jsonl` | the length and SHA-256 of every entry above, in order: `{"name", "length", "sha256"}` |
//!
//! Checksums come last because they are computed while the entries stream out (no blob is read twice
//! or held in memory). They protect against damage (a truncated download, a flipped bit), not against
//! someone who may rewrite the archive: keep backups where only operators can write.
//!
//! # Restore
//! [`restore_dir`] reads the archive as hostile input: only the entry names above (anything else, `..`,
//! absolute paths, links, directories, tar extensions, duplicates, entries out of order are refused),
//! a size limit for every entry (a blob must have exactly the length its metadata gives it), and every
//! checksum verified. Entry names never become paths: a blob's file is named from its parsed id.
//! Metadata is written through the [`crate::MetaStore`] methods to a staging database that becomes the data
//! directory's only once everything verified; on any failure everything restore created is removed.
//! [`restore_to_store`] restores into another, empty metadata store (PostgreSQL): the archive is
//! verified into the staging database first, exactly as above, and only then copied into that store
//! through the same methods; a hostile or damaged archive never reaches it.

mod restore;
mod tar;
mod write;

#[cfg(test)]
mod tests;

use crate::{BucketInfo, DumpEntry, ObjectMeta, PartInfo, StoreError, UploadInfo};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

pub use restore::{RestoreOptions, RestoreReport, restore_dir, restore_to_store};
pub use write::{Backup, BackupOptions, BackupStream, start};

/// The archive format this kura writes and reads. A restore refuses any other.
pub const FORMAT: u32 = 1;

/// Name of the manifest, the archive's first entry.
pub const MANIFEST: &str = "kura-backup.json";
/// Name of the checksums, the archive's last entry.
pub const CHECKSUMS: &str = "checksums.jsonl";
/// A metadata chunk is closed once it holds this many bytes (one line may take it a little over).
pub const META_CHUNK: usize = 4 * 1024 * 1024;

/// The largest manifest a restore reads.
const MAX_MANIFEST: u64 = 64 * 1024;
/// The largest metadata chunk a restore reads (a chunk is [`META_CHUNK`] plus at most one line).
const MAX_META_CHUNK: u64 = 64 * 1024 * 1024;
/// The largest secret file a restore reads.
const MAX_SECRET: u64 = 64 * 1024;
/// The longest line of `checksums.jsonl` a restore reads.
const MAX_CHECKSUM_LINE: usize = 4096;
/// The longest secret name (`secrets/NAME`).
const MAX_SECRET_NAME: usize = 64;

/// Errors of backups and restores.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// A store failed (reading the snapshot or a blob, or writing the restored stores).
    #[error("{0}")]
    Store(#[from] StoreError),
    /// Reading or writing a file (the archive, the data directory) failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The archive is not one a restore accepts: damaged, truncated, from another format, or made to
    /// attack the restore. The message says which entry and why.
    #[error("the archive is refused: {0}")]
    Refused(String),
    /// The restore target exists and is not empty.
    #[error(
        "{}: the directory is not empty (it holds {found:?}); restore only into a new or empty directory",
        path.display()
    )]
    NotEmpty {
        /// The directory.
        path: PathBuf,
        /// One of the entries found in it.
        found: String,
    },
    /// The backup cannot be made as asked (a bad option, or stores that disagree with themselves).
    #[error("the backup cannot be made: {0}")]
    Invalid(String),
    /// The metadata store a restore targets already holds metadata ([`restore_to_store`]).
    #[error("the metadata store is not empty (it holds {0}); restore only into a new, empty database")]
    StoreNotEmpty(String),
    /// The archive verified, but copying its metadata into the target store failed part way: that
    /// store now holds part of the backup.
    #[error(
        "copying the verified metadata into the metadata store failed ({0}); the store now holds part of the \
         backup: empty it (for PostgreSQL, drop and create the database again) before restoring again"
    )]
    PartlyRestored(StoreError),
}

impl BackupError {
    fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| BackupError::Io { context, source }
    }
}

/// Result alias of backups and restores.
pub type BackupResult<T> = Result<T, BackupError>;

/// The archive's first entry: what it is, from when, and how much it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The archive format ([`FORMAT`]).
    pub format: u32,
    /// The version of kura that wrote it.
    pub kura_version: String,
    /// When the snapshot was taken, RFC 3339 in UTC.
    pub created: String,
    /// The same moment, in milliseconds since the Unix epoch.
    pub created_ms: i64,
    /// Buckets in the snapshot.
    pub buckets: u64,
    /// Object versions in the snapshot: current objects, noncurrent versions and delete markers.
    pub objects: u64,
    /// In-progress multipart uploads in the snapshot.
    pub uploads: u64,
    /// Parts of those uploads.
    pub parts: u64,
    /// Small records (IAM users and policies, upload tickets…).
    pub records: u64,
    /// Distinct blobs the snapshot references (each is one `blobs/` entry).
    pub blobs: u64,
    /// Their total size in bytes.
    pub blob_bytes: u64,
    /// The names of the secret files included (`secrets/NAME`), usually none.
    pub secrets: Vec<String>,
}

/// How many entries of each kind a dump holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    buckets: u64,
    objects: u64,
    uploads: u64,
    parts: u64,
    records: u64,
}

impl Counts {
    fn add(&mut self, entry: &DumpEntry) {
        match entry {
            DumpEntry::Bucket(_) => self.buckets += 1,
            DumpEntry::Object { .. } | DumpEntry::Version { .. } => self.objects += 1,
            DumpEntry::Upload { .. } => self.uploads += 1,
            DumpEntry::Part { .. } => self.parts += 1,
            DumpEntry::Record { .. } => self.records += 1,
        }
    }

    fn of(manifest: &Manifest) -> Self {
        Counts {
            buckets: manifest.buckets,
            objects: manifest.objects,
            uploads: manifest.uploads,
            parts: manifest.parts,
            records: manifest.records,
        }
    }
}

/// The entries an archive may hold, by name. Everything else is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
enum EntryName {
    Manifest,
    Meta(u64),
    Blob(crate::BlobId),
    Secret(String),
    Checksums,
}

impl std::fmt::Display for EntryName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EntryName::Manifest => f.write_str(MANIFEST),
            EntryName::Meta(n) => write!(f, "meta/{n:06}.jsonl"),
            EntryName::Blob(id) => write!(f, "blobs/{id}"),
            EntryName::Secret(name) => write!(f, "secrets/{name}"),
            EntryName::Checksums => f.write_str(CHECKSUMS),
        }
    }
}

/// Whether `name` may name a secret file: 1 to 64 of `a-z`, `0-9` and `-`.
fn valid_secret_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_SECRET_NAME
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// One line of `checksums.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChecksumLine {
    name: String,
    length: u64,
    sha256: String,
}

/// One line of a metadata chunk: a [`DumpEntry`] with its bytes in base64, externally tagged
/// (`{"object": {…}}`), which serde reads without buffering (an internally tagged enum would buffer
/// and could not hold a blob id, a `u128`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
// Most lines are objects: boxing them would cost an allocation each and save nothing.
#[allow(clippy::large_enum_variant)]
enum Line {
    Bucket(BucketInfo),
    Object {
        bucket: String,
        object: ObjectMeta,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        inline: Option<String>,
    },
    Version {
        bucket: String,
        object: ObjectMeta,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        inline: Option<String>,
    },
    Upload {
        bucket: String,
        upload: UploadInfo,
    },
    Part {
        bucket: String,
        upload_id: String,
        part: PartInfo,
    },
    Record {
        kind: String,
        id: String,
        value: String,
    },
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

impl From<DumpEntry> for Line {
    fn from(entry: DumpEntry) -> Self {
        match entry {
            DumpEntry::Bucket(bucket) => Line::Bucket(bucket),
            DumpEntry::Object { bucket, mut object } => {
                let inline = object.inline.take().map(|body| B64.encode(body));
                Line::Object { bucket, object, inline }
            }
            DumpEntry::Version { bucket, mut object } => {
                let inline = object.inline.take().map(|body| B64.encode(body));
                Line::Version { bucket, object, inline }
            }
            DumpEntry::Upload { bucket, upload } => Line::Upload { bucket, upload },
            DumpEntry::Part { bucket, upload_id, part } => Line::Part { bucket, upload_id, part },
            DumpEntry::Record { kind, id, value } => Line::Record { kind, id, value: B64.encode(value) },
        }
    }
}

impl Line {
    /// The entry this line stands for; `where_` names the line in errors.
    fn into_entry(self, where_: &str) -> BackupResult<DumpEntry> {
        let decode = |text: &str| {
            B64.decode(text).map_err(|e| BackupError::Refused(format!("{where_}: a body is not valid base64 ({e})")))
        };
        Ok(match self {
            Line::Bucket(bucket) => DumpEntry::Bucket(bucket),
            Line::Object { bucket, mut object, inline } => {
                object.inline = inline.map(|text| decode(&text)).transpose()?.map(bytes::Bytes::from);
                DumpEntry::Object { bucket, object }
            }
            Line::Version { bucket, mut object, inline } => {
                object.inline = inline.map(|text| decode(&text)).transpose()?.map(bytes::Bytes::from);
                DumpEntry::Version { bucket, object }
            }
            Line::Upload { bucket, upload } => DumpEntry::Upload { bucket, upload },
            Line::Part { bucket, upload_id, part } => DumpEntry::Part { bucket, upload_id, part },
            Line::Record { kind, id, value } => DumpEntry::Record { kind, id, value: decode(&value)? },
        })
    }
}

/// RFC 3339 (UTC, seconds) of a time in milliseconds since the epoch.
fn rfc3339(ms: i64) -> String {
    let format = time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| format!("@{ms}ms"))
}
