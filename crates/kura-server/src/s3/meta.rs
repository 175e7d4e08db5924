//! Conversions between S3 wire types (s3s DTOs) and stored records: times, ETags, headers, checksums.

use crate::base::clock::now_ms;
use kura_store::{Checksums, ObjectHeaders, ObjectLock, ObjectMeta, Tags};
use s3s::dto::{
    ChecksumType, CompleteMultipartUploadOutput, CopyObjectInput, CopyObjectResult, CopyPartResult,
    CreateMultipartUploadInput, ETag, GetObjectOutput, HeadObjectOutput, Metadata, ObjectLockLegalHoldStatus,
    ObjectLockMode, ObjectPart, Part, PutObjectInput, PutObjectOutput, StorageClass, Timestamp, TimestampFormat,
    UploadPartOutput,
};
use std::collections::BTreeMap;

/// The id kura reports as every object's and bucket's owner (single-tenant store).
pub const OWNER_ID: &str = "kura";

/// ms since the epoch → wire timestamp.
pub fn timestamp(ms: i64) -> Timestamp {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    Timestamp::from(t)
}

/// Wire timestamp → whole seconds since the epoch (HTTP dates have second precision).
pub fn timestamp_secs(ts: &Timestamp) -> i64 {
    time::OffsetDateTime::from(ts.clone()).unix_timestamp()
}

/// A stored ETag (no quotes) as a wire ETag.
pub fn etag(hex: &str) -> ETag {
    ETag::Strong(hex.to_owned())
}

/// The owner reported in listings.
pub fn owner() -> s3s::dto::Owner {
    s3s::dto::Owner { display_name: Some(OWNER_ID.to_owned()), id: Some(OWNER_ID.to_owned()) }
}

/// The initiator reported for multipart uploads (the same single owner).
pub fn initiator() -> s3s::dto::Initiator {
    s3s::dto::Initiator { display_name: Some(OWNER_ID.to_owned()), id: Some(OWNER_ID.to_owned()) }
}

/// Formats an `Expires` timestamp for storage.
pub fn format_http_date(ts: &Timestamp) -> Option<String> {
    let mut buf = Vec::new();
    ts.format(TimestampFormat::HttpDate, &mut buf).ok()?;
    String::from_utf8(buf).ok()
}

/// Parses a stored `Expires` back.
pub fn parse_http_date(s: &str) -> Option<Timestamp> {
    Timestamp::parse(TimestampFormat::HttpDate, s).ok()
}

/// Inputs that carry the standard object headers (PutObject, CreateMultipartUpload, CopyObject with
/// `REPLACE`). s3s generates them with the same field names but no common trait, so each names its
/// fields once here.
pub trait ObjectHeadersInput {
    /// The headers to store with the object, from the request's.
    fn object_headers(&self) -> ObjectHeaders;
}

/// User metadata as stored: names lower-cased (HTTP header names are case-insensitive).
fn stored_user_metadata(metadata: Option<&Metadata>) -> BTreeMap<String, String> {
    metadata.into_iter().flatten().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect()
}

/// `Content-Encoding` as stored: without `aws-chunked`, which names how the request's body was sent,
/// not what the object is (AWS drops it too); nothing when that was all.
fn stored_content_encoding(encoding: Option<&String>) -> Option<String> {
    let encoding = encoding?;
    let chunked = |token: &str| token.trim().eq_ignore_ascii_case("aws-chunked");
    if !encoding.split(',').any(chunked) {
        return Some(encoding.clone());
    }
    let kept: Vec<&str> = encoding.split(',').filter(|t| !chunked(t) && !t.trim().is_empty()).map(str::trim).collect();
    (!kept.is_empty()).then(|| kept.join(", "))
}

/// Implements [`ObjectHeadersInput`] for the s3s inputs that carry an object's headers under the same
/// field names. A macro because only the type differs.
macro_rules! object_headers_input {
    ($($input:ty),* $(,)?) => {$(
        impl ObjectHeadersInput for $input {
            fn object_headers(&self) -> ObjectHeaders {
                ObjectHeaders {
                    content_type: self.content_type.clone(),
                    content_encoding: stored_content_encoding(self.content_encoding.as_ref()),
                    content_disposition: self.content_disposition.clone(),
                    content_language: self.content_language.clone(),
                    cache_control: self.cache_control.clone(),
                    expires: self.expires.as_ref().and_then(format_http_date),
                    website_redirect_location: self.website_redirect_location.clone(),
                    user_metadata: stored_user_metadata(self.metadata.as_ref()),
                    storage_class: self.storage_class.as_ref().map(|s| s.as_str().to_owned()),
                }
            }
        }
    )*};
}

object_headers_input!(PutObjectInput, CreateMultipartUploadInput, CopyObjectInput);

/// What a GET or HEAD response says about an object, worked out once for both: s3s generates
/// GetObjectOutput and HeadObjectOutput with these fields but no common trait, so the two `From`
/// impls below only move them over.
#[derive(Debug, Clone, Default)]
pub struct ObjectDescription {
    /// `ETag`.
    pub e_tag: Option<ETag>,
    /// `Last-Modified`.
    pub last_modified: Option<Timestamp>,
    /// `Accept-Ranges`: always `bytes`.
    pub accept_ranges: Option<String>,
    /// `Content-Type`: `binary/octet-stream` when the object was stored without one.
    pub content_type: Option<String>,
    /// `Content-Encoding`.
    pub content_encoding: Option<String>,
    /// `Content-Disposition`.
    pub content_disposition: Option<String>,
    /// `Content-Language`.
    pub content_language: Option<String>,
    /// `Cache-Control`.
    pub cache_control: Option<String>,
    /// `Expires`.
    pub expires: Option<Timestamp>,
    /// `x-amz-website-redirect-location`.
    pub website_redirect_location: Option<String>,
    /// `x-amz-meta-*`: none when the object has no user metadata.
    pub metadata: Option<Metadata>,
    /// `x-amz-mp-parts-count`: for objects made by a multipart upload only.
    pub parts_count: Option<i32>,
    /// `x-amz-storage-class`.
    pub storage_class: Option<StorageClass>,
    /// `Content-Length` of what is sent: the read's, not the object's (see [`ObjectDescription::of`]).
    pub content_length: Option<i64>,
    /// `Content-Range` of a partial read.
    pub content_range: Option<String>,
    /// The `x-amz-checksum-*` values reported: none unless the read asks for and gets them.
    pub checksums: Checksums,
    /// `x-amz-object-lock-mode`, `x-amz-object-lock-retain-until-date`, `x-amz-object-lock-legal-hold`.
    pub lock: (Option<s3s::dto::ObjectLockMode>, Option<Timestamp>, Option<s3s::dto::ObjectLockLegalHoldStatus>),
}

impl ObjectDescription {
    /// How `meta` describes itself; what depends on the read (length, range, checksums) is left
    /// unset for the read to fill.
    pub fn of(meta: &ObjectMeta) -> Self {
        let h = &meta.headers;
        Self {
            e_tag: Some(etag(&meta.etag)),
            last_modified: Some(timestamp(meta.last_modified_ms)),
            accept_ranges: Some("bytes".to_owned()),
            content_type: Some(h.content_type.clone().unwrap_or_else(|| "binary/octet-stream".to_owned())),
            content_encoding: h.content_encoding.clone(),
            content_disposition: h.content_disposition.clone(),
            content_language: h.content_language.clone(),
            cache_control: h.cache_control.clone(),
            expires: h.expires.as_deref().and_then(parse_http_date),
            website_redirect_location: h.website_redirect_location.clone(),
            metadata: (!h.user_metadata.is_empty())
                .then(|| h.user_metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
            parts_count: if meta.part_sizes.is_empty() { None } else { i32::try_from(meta.part_sizes.len()).ok() },
            storage_class: h.storage_class.clone().map(StorageClass::from),
            content_length: None,
            content_range: None,
            checksums: Checksums::default(),
            lock: describe_lock(&meta.lock),
        }
    }
}

/// Builds a GET or HEAD output from an [`ObjectDescription`]; both name the fields alike. A macro because
/// only the type differs.
macro_rules! read_output {
    ($($output:ty),*) => {$(
        impl From<ObjectDescription> for $output {
            fn from(d: ObjectDescription) -> Self {
                let mut out = Self {
                    e_tag: d.e_tag,
                    last_modified: d.last_modified,
                    accept_ranges: d.accept_ranges,
                    content_type: d.content_type,
                    content_encoding: d.content_encoding,
                    content_disposition: d.content_disposition,
                    content_language: d.content_language,
                    cache_control: d.cache_control,
                    expires: d.expires,
                    website_redirect_location: d.website_redirect_location,
                    metadata: d.metadata,
                    parts_count: d.parts_count,
                    storage_class: d.storage_class,
                    content_length: d.content_length,
                    content_range: d.content_range,
                    object_lock_mode: d.lock.0,
                    object_lock_retain_until_date: d.lock.1,
                    object_lock_legal_hold_status: d.lock.2,
                    ..Default::default()
                };
                fill_checksums(&mut out, &d.checksums);
                out
            }
        }
    )*};
}

read_output!(GetObjectOutput, HeadObjectOutput);

/// Outputs that report the checksums of an object or part. s3s generates them with the same field
/// names but no common trait, so each names its fields once here.
pub trait ChecksumOutput {
    /// The output's CRC32, CRC32C, CRC64NVME, SHA1 and SHA256 fields, in that order.
    fn checksum_fields(&mut self) -> [&mut Option<String>; 5];
    /// The output's checksum type field, if it has one (parts have none).
    fn checksum_type_field(&mut self) -> Option<&mut Option<ChecksumType>>;
}

/// Sets the checksum fields of `out` from stored checksums.
pub fn fill_checksums(out: &mut impl ChecksumOutput, sums: &Checksums) {
    let [crc32, crc32c, crc64nvme, sha1, sha256] = out.checksum_fields();
    crc32.clone_from(&sums.crc32);
    crc32c.clone_from(&sums.crc32c);
    crc64nvme.clone_from(&sums.crc64nvme);
    sha1.clone_from(&sums.sha1);
    sha256.clone_from(&sums.sha256);
    if let Some(field) = out.checksum_type_field() {
        *field = sums.checksum_type.clone().map(ChecksumType::from);
    }
}

/// Implements [`ChecksumOutput`] for s3s output types, which all name the fields alike. A macro
/// because only the type differs; the logic is [`fill_checksums`]'s.
macro_rules! checksum_output {
    ($($output:ty: $typed:tt),* $(,)?) => {$(
        impl ChecksumOutput for $output {
            fn checksum_fields(&mut self) -> [&mut Option<String>; 5] {
                [
                    &mut self.checksum_crc32,
                    &mut self.checksum_crc32c,
                    &mut self.checksum_crc64nvme,
                    &mut self.checksum_sha1,
                    &mut self.checksum_sha256,
                ]
            }
            checksum_output!(@type $typed);
        }
    )*};
    (@type typed) => {
        fn checksum_type_field(&mut self) -> Option<&mut Option<ChecksumType>> {
            Some(&mut self.checksum_type)
        }
    };
    (@type untyped) => {
        fn checksum_type_field(&mut self) -> Option<&mut Option<ChecksumType>> {
            None
        }
    };
}

checksum_output!(
    PutObjectOutput: typed,
    CopyObjectResult: typed,
    UploadPartOutput: untyped,
    CopyPartResult: untyped,
    CompleteMultipartUploadOutput: typed,
    Part: untyped,
    ObjectPart: untyped,
    GetObjectOutput: typed,
    HeadObjectOutput: typed
);

/// Whether stored checksums hold anything.
pub fn has_checksums(c: &Checksums) -> bool {
    c.crc32.is_some() || c.crc32c.is_some() || c.crc64nvme.is_some() || c.sha1.is_some() || c.sha256.is_some()
}

/// A fresh object record with defaults for the fields every writer fills the same way.
pub fn new_object(key: String, size: u64, etag: String, headers: ObjectHeaders, tags: Tags) -> ObjectMeta {
    ObjectMeta {
        key,
        size,
        etag,
        last_modified_ms: now_ms(),
        segments: Vec::new(),
        part_sizes: Vec::new(),
        part_checksums: Vec::new(),
        headers,
        checksums: Checksums::default(),
        tags,
        version_id: super::object_ref::VersionId::NULL.as_str().to_owned(),
        upload_id: None,
        delete_marker: false,
        order: String::new(),
        inline: None,
        lock: Default::default(),
        encryption: None,
    }
}

/// The headers GET and HEAD report of a version's Object Lock.
pub fn describe_lock(
    lock: &ObjectLock,
) -> (Option<ObjectLockMode>, Option<Timestamp>, Option<ObjectLockLegalHoldStatus>) {
    let mode = lock.retention.map(|r| ObjectLockMode::from(r.mode.as_str().to_owned()));
    let until = lock.retention.map(|r| timestamp(r.until_ms));
    let hold = lock.legal_hold.then(|| ObjectLockLegalHoldStatus::from_static(ObjectLockLegalHoldStatus::ON));
    (mode, until, hold)
}

#[cfg(test)]
mod tests {
    use super::stored_content_encoding;

    #[test]
    fn aws_chunked_is_not_stored_as_the_objects_encoding() {
        let stored = |e: &str| stored_content_encoding(Some(&e.to_owned()));
        assert_eq!(stored("gzip").as_deref(), Some("gzip"));
        assert_eq!(stored("deflate, gzip").as_deref(), Some("deflate, gzip"));
        assert_eq!(stored("gzip, aws-chunked").as_deref(), Some("gzip"));
        assert_eq!(stored("AWS-Chunked,gzip").as_deref(), Some("gzip"));
        assert_eq!(stored("aws-chunked"), None);
        assert_eq!(stored("aws-chunked, aws-chunked"), None);
        assert_eq!(stored_content_encoding(None), None);
    }
}
