//! The records the stores keep: buckets, objects, uploads, parts, and the listing queries.
//!
//! Times are milliseconds since the Unix epoch (S3 exposes millisecond precision at most).
//! Every record is `serde` so that any back end can store it as one encoded value.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Object tags (key → value), ordered for stable output.
pub type Tags = BTreeMap<String, String>;

/// The generated, opaque name of a blob. Never derived from a key, so no key can name a file.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BlobId(pub u128);

impl BlobId {
    /// A new random id.
    pub fn random() -> Self {
        Self(uuid::Uuid::new_v4().as_u128())
    }
    /// Parses the 32-hex-digit form written by `Display`.
    pub fn parse(s: &str) -> Option<Self> {
        if s.len() != 32 {
            return None;
        }
        u128::from_str_radix(s, 16).ok().map(Self)
    }
}

impl fmt::Display for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobId({self})")
    }
}

/// A bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketInfo {
    /// Bucket name (validated by the S3 layer).
    pub name: String,
    /// Creation time, ms since the epoch.
    pub created_ms: i64,
    /// The region (LocationConstraint) it was created in.
    pub region: String,
    /// Access settings: bucket policy and public access block.
    #[serde(default)]
    pub settings: BucketSettings,
}

/// A bucket's settings, changed by the bucket-policy, public-access-block and other bucket-setting
/// operations (tagging, ownership controls, accelerate) and by the declarative configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketSettings {
    /// The bucket policy, as the JSON text it was accepted as.
    #[serde(default)]
    pub policy: Option<String>,
    /// The public access block, if one is set.
    #[serde(default)]
    pub public_access_block: Option<PublicAccessBlock>,
    /// Bucket tags (PutBucketTagging); empty when the bucket has none.
    #[serde(default)]
    pub tags: Tags,
    /// DeleteBucketOwnershipControls was called (and no Put since): GetBucketOwnershipControls then
    /// answers "not found" as AWS does, though the bucket stays owner-enforced (kura's only model).
    #[serde(default)]
    pub ownership_controls_removed: bool,
    /// PutBucketAccelerateConfiguration set `Suspended` (acceleration is never on: kura has no
    /// acceleration endpoint); GetBucketAccelerateConfiguration then answers `Suspended`, as AWS does.
    #[serde(default)]
    pub accelerate_suspended: bool,
    /// The CORS configuration (PutBucketCors), if one is set; records written before CORS decode as none.
    #[serde(default)]
    pub cors: Option<CorsConfig>,
    /// The lifecycle configuration (validated by the S3 layer), if one is set.
    #[serde(default)]
    pub lifecycle: Option<crate::lifecycle::LifecycleConfig>,
    /// The versioning state; `None` for a bucket that was never versioned (it can be suspended, never
    /// returned to `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versioning: Option<Versioning>,
    /// Object Lock: `Some` once enabled (never removed), with the default retention if one is set.
    #[serde(default)]
    pub object_lock: Option<crate::lock::ObjectLockSettings>,
    /// Default encryption (PutBucketEncryption): what a new object gets when its request names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<BucketEncryption>,
}

/// A bucket's default encryption, checked by kura-server before it is stored (one rule, as S3 allows).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketEncryption {
    /// The SSEAlgorithm: `AES256` or `aws:kms` (S3 also has `aws:kms:dsse`, which kura refuses).
    pub algorithm: String,
    /// The KMS key (id, ARN or alias) as configured; only with `aws:kms`. `None` means the default key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    /// Whether SSE-KMS objects use an S3 Bucket Key.
    #[serde(default)]
    pub bucket_key_enabled: bool,
}

/// A bucket's CORS configuration: its rules in the order they were given (the first that matches a
/// request answers it). Checked by kura-server before it is stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorsConfig {
    /// The rules, 1 to 100.
    pub rules: Vec<CorsRule>,
}

/// One CORS rule: which origins may send which methods and headers, and what the browser may read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorsRule {
    /// The rule's optional name (at most 255 characters).
    #[serde(default)]
    pub id: Option<String>,
    /// Origins allowed, each with at most one `*` wildcard.
    pub allowed_origins: Vec<String>,
    /// Methods allowed: GET, PUT, POST, DELETE, HEAD.
    pub allowed_methods: Vec<String>,
    /// Request headers a preflight may ask for, each with at most one `*` wildcard.
    #[serde(default)]
    pub allowed_headers: Vec<String>,
    /// Response headers the browser may expose to the page.
    #[serde(default)]
    pub expose_headers: Vec<String>,
    /// How long a browser may cache the preflight's answer, in seconds.
    #[serde(default)]
    pub max_age_seconds: Option<i32>,
}

/// A bucket's versioning state, once it has been turned on (PutBucketVersioning).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Versioning {
    /// Every write creates a new version with a fresh id.
    Enabled,
    /// Writes create or replace the `null` version; existing versions are kept.
    Suspended,
}

/// S3's four public-access-block switches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicAccessBlock {
    /// Reject ACLs that grant public access (kura has no ACL grants; kept for the API).
    pub block_public_acls: bool,
    /// Ignore public ACLs.
    pub ignore_public_acls: bool,
    /// Reject a bucket policy that is public.
    pub block_public_policy: bool,
    /// Serve no anonymous or cross-account request through a public bucket policy.
    pub restrict_public_buckets: bool,
}

impl PublicAccessBlock {
    /// All four switches on (`public_access_block: true` in the config).
    pub const ALL: Self = Self {
        block_public_acls: true,
        ignore_public_acls: true,
        block_public_policy: true,
        restrict_public_buckets: true,
    };
}

/// One contiguous piece of an object's body. A simple object has one segment; a completed multipart
/// upload keeps its parts as segments, in order, so completing never copies data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// The blob holding the bytes.
    pub blob: BlobId,
    /// Its length in bytes.
    pub size: u64,
}

/// Additional checksums (base64 of the big-endian digest, as S3 sends them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checksums {
    /// CRC32 (IEEE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32: Option<String>,
    /// CRC32C (Castagnoli).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32c: Option<String>,
    /// SHA-1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
    /// SHA-256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// CRC64/NVME.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc64nvme: Option<String>,
    /// `FULL_OBJECT` or `COMPOSITE` when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_type: Option<String>,
}

/// The HTTP headers stored with an object and returned on GET/HEAD.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectHeaders {
    /// Content-Type.
    pub content_type: Option<String>,
    /// Content-Encoding.
    pub content_encoding: Option<String>,
    /// Content-Disposition.
    pub content_disposition: Option<String>,
    /// Content-Language.
    pub content_language: Option<String>,
    /// Cache-Control.
    pub cache_control: Option<String>,
    /// Expires, as the client sent it (HTTP date).
    pub expires: Option<String>,
    /// Website redirect location.
    pub website_redirect_location: Option<String>,
    /// `x-amz-meta-*` user metadata, names lower-cased without the prefix.
    pub user_metadata: BTreeMap<String, String>,
    /// Storage class as requested (informational: kura has one class).
    pub storage_class: Option<String>,
}

/// How a data key is kept: wrapped by `key_id` (a master key id for SSE-S3, a KMS key ARN for SSE-KMS,
/// "customer" for SSE-C), `blob` the base64 of the wrapped key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredKey {
    /// What wrapped the key: a master key id, a KMS key ARN, or `customer`.
    pub key_id: String,
    /// The wrapped key, base64.
    pub blob: String,
}

/// Which server-side encryption an object (or an upload) has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SseKind {
    /// SSE-S3: data keys wrapped by kura's master key.
    S3,
    /// SSE-KMS: data keys from a KMS key.
    Kms {
        /// The KMS key's ARN.
        key_arn: String,
        /// The encryption context as sent (the JSON, decoded from base64).
        context: Option<String>,
        /// Whether an S3 Bucket Key was used.
        bucket_key: bool,
    },
    /// SSE-C: the client's key, which kura never keeps.
    Customer,
}

/// An encrypted object: its kind, and one wrapped data key per segment (or one for an inline body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectEncryption {
    /// The kind of encryption.
    pub kind: SseKind,
    /// One key per segment, in order (one for an inline body).
    pub keys: Vec<StoredKey>,
}

/// The length of a body of `plain_len` bytes in the sealed form an encrypted body is stored in
/// (kura-crypt's chunked AEAD stream: a 16-byte tag per 64 KiB chunk, and at least one chunk, so the
/// empty body is 16 bytes). kura-store keeps opaque bytes and does not depend on kura-crypt, but the
/// blob lengths a backup checks are these; kura-server's tests check that the two formulas agree.
pub fn sealed_len(plain_len: u64) -> u64 {
    plain_len + SEALED_TAG * plain_len.div_ceil(SEALED_CHUNK_PLAIN).max(1)
}

/// The plaintext bytes of one chunk of the sealed form (see [`sealed_len`]).
const SEALED_CHUNK_PLAIN: u64 = 64 * 1024;

/// The tag that follows each chunk of the sealed form.
const SEALED_TAG: u64 = 16;

/// One whole chunk of the sealed form, tag included: the file store reads blobs in multiples of it
/// ([`crate::file_blobs::CHUNK`]), so that a read of a sealed body from a chunk boundary hands the
/// opener whole chunks, which it opens where they lie, without copying them first.
pub const SEALED_CHUNK: u64 = SEALED_CHUNK_PLAIN + SEALED_TAG;

/// An object's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    /// The key.
    pub key: String,
    /// Total size in bytes (sum of segment sizes).
    pub size: u64,
    /// The ETag without quotes: hex MD5, or for multipart `hex(md5(part md5s))-N`.
    pub etag: String,
    /// Last-Modified, ms since the epoch.
    pub last_modified_ms: i64,
    /// The body, in order; empty when the body is [`ObjectMeta::inline`].
    pub segments: Vec<Segment>,
    /// Part sizes when the object came from a multipart upload (for `partNumber` reads and
    /// `PartsCount`); empty otherwise.
    pub part_sizes: Vec<u64>,
    /// Stored headers and user metadata.
    pub headers: ObjectHeaders,
    /// Additional checksums the client supplied (or the default one kura computed).
    pub checksums: Checksums,
    /// Each part's checksums when the object came from a multipart upload whose parts had any (for
    /// `partNumber` reads and GetObjectAttributes); empty otherwise. Absent from records written
    /// before it existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub part_checksums: Vec<Checksums>,
    /// Tags.
    pub tags: Tags,
    /// Version id: [`crate::versions::NULL`] for a version written while the bucket was unversioned or
    /// suspended, else an id from [`crate::versions::new_version_id`].
    pub version_id: String,
    /// The multipart upload that created this object, if one did: a repeated
    /// CompleteMultipartUpload of that upload is answered with this object while it is current.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
    /// Whether this version is a delete marker (no body; a current marker hides the key).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delete_marker: bool,
    /// Where this version sorts among its key's versions (ascending = newest first), see
    /// [`crate::versions::order_of`]: set for a `null` version written since versioning exists, empty
    /// otherwise (a non-null id is its own order; an older `null` record's order derives from its time).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub order: String,
    /// The whole body of a small object (at most [`INLINE_MAX`] bytes), kept with its metadata and
    /// committed in the same transaction, so that a small PUT costs one group-committed fsync instead
    /// of a blob file, its fsync and a directory fsync. `segments` is empty exactly when the body is
    /// inline. Back ends persist it beside the record rather than inside the encoded record (the
    /// redb store keeps it in a table of its own, so listings never read bodies); it is present on
    /// what [`crate::MetaStore::get_object`] returns and absent on listing entries.
    #[serde(skip)]
    pub inline: Option<bytes::Bytes>,
    /// Object Lock: retention and legal hold (none on records written before Object Lock existed).
    #[serde(default, skip_serializing_if = "crate::lock::ObjectLock::is_unlocked")]
    pub lock: crate::lock::ObjectLock,
    /// Server-side encryption: when set, every segment's blob (or the inline body) holds the sealed
    /// form of the body ([`sealed_len`] bytes for `size` plaintext bytes), each under its own data key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<ObjectEncryption>,
}

/// Bodies of at most this many bytes are stored inline with their metadata (see
/// [`ObjectMeta::inline`]); larger ones, and every multipart part, are blobs.
pub const INLINE_MAX: usize = 16 * 1024;

impl ObjectMeta {
    /// Every blob this object references (none for an inline body).
    pub fn blobs(&self) -> Vec<BlobId> {
        self.segments.iter().map(|s| s.blob).collect()
    }

    /// Whether the body lives in the metadata record rather than in blobs (a delete marker has no body).
    pub fn is_inline(&self) -> bool {
        self.segments.is_empty() && !self.delete_marker
    }

    /// How many bytes a piece of this object's body of `size` plaintext bytes takes as stored (a
    /// segment's blob, or the inline body): `size`, or its [`sealed_len`] when the object is encrypted.
    pub fn stored_len(&self, size: u64) -> u64 {
        if self.encryption.is_some() { sealed_len(size) } else { size }
    }
}

/// An in-progress multipart upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadInfo {
    /// The upload id (opaque, generated).
    pub upload_id: String,
    /// The key the upload will create.
    pub key: String,
    /// Initiation time, ms since the epoch.
    pub initiated_ms: i64,
    /// Headers and metadata given at creation; they become the object's.
    pub headers: ObjectHeaders,
    /// Tags given at creation.
    pub tags: Tags,
    /// Checksum algorithm announced at creation, if any.
    pub checksum_algorithm: Option<String>,
    /// Checksum type announced at creation, if any.
    pub checksum_type: Option<String>,
    /// Object Lock given at creation (or the bucket's default), which the completed object gets.
    #[serde(default)]
    pub lock: crate::lock::ObjectLock,
    /// Server-side encryption given at creation (or the bucket's default): each part is sealed under a
    /// data key of its own ([`PartInfo::key`]), and the completed object gets this kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<SseKind>,
    /// SSE-C: a key wrapped by the customer's key at creation, so that every part can be checked to
    /// come with the same customer key (the customer's key itself is never kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_check: Option<StoredKey>,
}

/// An uploaded part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartInfo {
    /// Part number, 1..=10000.
    pub number: u32,
    /// Hex MD5 of the part, without quotes.
    pub etag: String,
    /// Size in bytes.
    pub size: u64,
    /// The blob holding it.
    pub blob: BlobId,
    /// Upload time, ms since the epoch.
    pub last_modified_ms: i64,
    /// Checksums of the part, if the client sent any.
    pub checksums: Checksums,
    /// The part's wrapped data key when its upload is encrypted: the blob then holds the sealed form
    /// of the part ([`sealed_len`] of `size` bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<StoredKey>,
}

impl PartInfo {
    /// How many bytes the part's blob holds: `size`, or its [`sealed_len`] when the part is sealed.
    pub fn stored_len(&self) -> u64 {
        if self.key.is_some() { sealed_len(self.size) } else { self.size }
    }
}

/// A listing request: keys starting with `prefix`, strictly greater than `start_after`, grouped by
/// `delimiter`, at most `max` entries (objects plus common prefixes).
///
/// Grouping: a key whose remainder after `prefix` contains `delimiter` is represented by its common
/// prefix (`prefix` + remainder up to and including the first `delimiter`), once. A common prefix that
/// is `<= start_after` is skipped entirely (so a continuation after a common prefix does not repeat it).
/// The scan seeks past a common prefix rather than walking the keys under it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// Only keys starting with this.
    pub prefix: String,
    /// Group keys by this delimiter (empty or `None` = no grouping).
    pub delimiter: Option<String>,
    /// Only entries greater than this.
    pub start_after: Option<String>,
    /// At most this many entries (0 is allowed and returns an empty, non-truncated page).
    pub max: usize,
}

/// One entry of a listing page, in key order.
// Most entries of a page are objects, so boxing them would add an allocation per entry and save
// nothing: allow the size difference with the (rare) prefix variant.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListEntry {
    /// An object.
    Object(ObjectMeta),
    /// A common prefix (ends with the delimiter).
    Prefix(String),
}

impl ListEntry {
    /// The key or prefix, which is what a continuation marker names.
    pub fn name(&self) -> &str {
        match self {
            ListEntry::Object(o) => &o.key,
            ListEntry::Prefix(p) => p,
        }
    }
}

/// A page of a listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    /// Entries in ascending order of [`ListEntry::name`].
    pub entries: Vec<ListEntry>,
    /// Whether more entries follow the last one.
    pub is_truncated: bool,
}

/// Listing of in-progress uploads (ListMultipartUploads).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadListQuery {
    /// Only keys starting with this.
    pub prefix: String,
    /// Group keys by this delimiter.
    pub delimiter: Option<String>,
    /// Start after this key (with `upload_id_marker`: after that (key, id)).
    pub key_marker: Option<String>,
    /// With `key_marker`: uploads of that key with a greater id are included.
    pub upload_id_marker: Option<String>,
    /// At most this many entries.
    pub max: usize,
}

/// A page of in-progress uploads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadListPage {
    /// Uploads, ordered by (key, initiation order).
    pub uploads: Vec<UploadInfo>,
    /// Common prefixes when a delimiter was given.
    pub prefixes: Vec<String>,
    /// Whether more follow.
    pub is_truncated: bool,
}

/// One entry of a metadata dump ([`crate::MetaSnapshot::entries`]): every record a back end holds,
/// as the [`crate::MetaStore`] methods that wrote it take it, so that a restore writes it back through
/// them.
// Most entries are objects: boxing them would cost an allocation each and save nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DumpEntry {
    /// A bucket, with its settings.
    Bucket(BucketInfo),
    /// An object (the current version of its key), with its inline body when the dump asked for bodies.
    Object {
        /// The bucket it is in.
        bucket: String,
        /// The object.
        object: ObjectMeta,
    },
    /// A version that is not the current object: a noncurrent version or a delete marker (current or
    /// not), with its inline body when the dump asked for bodies. Dumped after every `Object`.
    Version {
        /// The bucket it is in.
        bucket: String,
        /// The version.
        object: ObjectMeta,
    },
    /// An in-progress multipart upload.
    Upload {
        /// The bucket it is in.
        bucket: String,
        /// The upload.
        upload: UploadInfo,
    },
    /// A part of an in-progress upload.
    Part {
        /// The bucket of the upload.
        bucket: String,
        /// The upload's id.
        upload_id: String,
        /// The part.
        part: PartInfo,
    },
    /// A small named record ([`crate::MetaStore::put_record`]).
    Record {
        /// Its kind.
        kind: String,
        /// Its id within the kind.
        id: String,
        /// Its value.
        value: Vec<u8>,
    },
}

impl DumpEntry {
    /// The blobs this entry references, with the length it says each has.
    pub fn blobs(&self) -> Vec<(BlobId, u64)> {
        match self {
            DumpEntry::Object { object, .. } | DumpEntry::Version { object, .. } => {
                object.segments.iter().map(|s| (s.blob, object.stored_len(s.size))).collect()
            }
            DumpEntry::Part { part, .. } => vec![(part.blob, part.stored_len())],
            DumpEntry::Bucket(_) | DumpEntry::Upload { .. } | DumpEntry::Record { .. } => Vec::new(),
        }
    }
}

/// A ListObjectVersions request: versions and delete markers of keys starting with `prefix`, in (key
/// ascending, newest first) order, after (`key_marker`, `version_id_marker`), grouped by `delimiter`,
/// at most `max` entries (versions plus common prefixes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionListQuery {
    /// Only keys starting with this.
    pub prefix: String,
    /// Group keys by this delimiter.
    pub delimiter: Option<String>,
    /// Start after this key; with `version_id_marker`, after that version of it.
    pub key_marker: Option<String>,
    /// With `key_marker`: the versions of that key older than this one are included.
    pub version_id_marker: Option<String>,
    /// At most this many entries.
    pub max: usize,
}

/// One entry of a version listing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionEntry {
    /// A version or a delete marker (without inline body).
    Version {
        /// The version.
        object: ObjectMeta,
        /// Whether it is the latest version of its key.
        is_latest: bool,
    },
    /// A common prefix (ends with the delimiter).
    Prefix(String),
}

/// A page of a version listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionListPage {
    /// Entries in (key ascending, newest first) order.
    pub entries: Vec<VersionEntry>,
    /// Whether more entries follow the last one.
    pub is_truncated: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_stored_before_later_fields_still_decode() {
        let old = r#"{"policy":"{}","public_access_block":null}"#;
        let settings: BucketSettings = serde_json::from_str(old).expect("an old record decodes");
        assert_eq!(settings, BucketSettings { policy: Some("{}".into()), ..Default::default() });
        let bucket = r#"{"name":"b","created_ms":1,"region":"us-east-1"}"#;
        let info: BucketInfo = serde_json::from_str(bucket).expect("a bucket without settings decodes");
        assert_eq!(info.settings, BucketSettings::default());
    }

    #[test]
    fn default_encryption_is_stored_only_when_set() {
        let plain = serde_json::to_string(&BucketSettings::default()).expect("encode");
        assert!(!plain.contains("encryption"), "{plain}");
        let kms =
            BucketEncryption { algorithm: "aws:kms".into(), kms_key_id: Some("k".into()), bucket_key_enabled: true };
        let settings = BucketSettings { encryption: Some(kms), ..Default::default() };
        let text = serde_json::to_string(&settings).expect("encode");
        assert_eq!(serde_json::from_str::<BucketSettings>(&text).expect("decode"), settings);
    }
}
