//! Listing: ListObjects (v1), ListObjectsV2, ListObjectVersions. Each is one ordered range scan in the
//! metadata store ([`kura_store::ListQuery`] over current objects, [`kura_store::VersionListQuery`] over
//! every version); this module only maps markers and wire formats.

use super::KuraS3;
use super::meta::{etag, owner, timestamp};
use crate::errors::{self, StoreResultExt};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as TOKEN_B64;
use kura_store::{ListEntry, ListPage, ListQuery, ObjectMeta, VersionEntry, VersionListQuery};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

/// S3's default and maximum page size.
const MAX_KEYS: i32 = 1000;

/// What `encoding-type=url` leaves unencoded (RFC 3986 unreserved characters and `/`).
const URL_ENCODE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');

/// Applies `encoding-type=url` to one name when asked.
pub(super) struct Encoder(bool);

impl Encoder {
    /// The encoder a request's `encoding-type` asks for; anything but `url` is InvalidArgument.
    pub(super) fn new(encoding_type: Option<&EncodingType>) -> S3Result<Self> {
        match encoding_type.map(|e| e.as_str()) {
            None => Ok(Self(false)),
            Some("url") => Ok(Self(true)),
            Some(other) => Err(errors::invalid_argument(format!(
                "Invalid Encoding Method {other:?}: the only allowed value is \"url\"."
            ))),
        }
    }
    /// The name, encoded when asked.
    pub(super) fn apply(&self, s: String) -> String {
        if self.0 { utf8_percent_encode(&s, URL_ENCODE).to_string() } else { s }
    }
    /// [`Encoder::apply`] on an optional name.
    pub(super) fn opt(&self, s: Option<String>) -> Option<String> {
        s.map(|s| self.apply(s))
    }
}

/// The page size a listing's `name` parameter (`max-keys`, `max-parts`, `max-uploads`) asks for: at most
/// 1000, the default; a negative one is refused (400 InvalidArgument), as on AWS.
pub(super) fn page_size(requested: Option<i32>, name: &str) -> S3Result<usize> {
    match requested {
        None => Ok(MAX_KEYS as usize),
        Some(n) if n < 0 => Err(errors::invalid_argument(format!("{name} must be a non-negative integer."))),
        Some(n) => Ok(usize::try_from(n.min(MAX_KEYS)).unwrap_or(0)),
    }
}

async fn scan(
    s3: &KuraS3,
    bucket: &str,
    prefix: Option<&str>,
    delimiter: Option<&str>,
    start_after: Option<String>,
    max: usize,
) -> S3Result<ListPage> {
    let query = ListQuery {
        prefix: prefix.unwrap_or_default().to_owned(),
        delimiter: delimiter.filter(|d| !d.is_empty()).map(str::to_owned),
        start_after: start_after.filter(|s| !s.is_empty()),
        max,
    };
    s3.meta.list_objects(bucket, &query).await.or_s3()
}

/// Splits a page into objects and common prefixes.
fn split(page: ListPage) -> (Vec<ObjectMeta>, Vec<String>) {
    let mut objects = Vec::new();
    let mut prefixes = Vec::new();
    for entry in page.entries {
        match entry {
            ListEntry::Object(o) => objects.push(o),
            ListEntry::Prefix(p) => prefixes.push(p),
        }
    }
    (objects, prefixes)
}

fn wire_object(o: ObjectMeta, enc: &Encoder, with_owner: bool) -> Object {
    Object {
        key: Some(enc.apply(o.key)),
        e_tag: Some(etag(&o.etag)),
        last_modified: Some(timestamp(o.last_modified_ms)),
        size: i64::try_from(o.size).ok(),
        storage_class: Some(ObjectStorageClass::from(o.headers.storage_class.unwrap_or_else(|| "STANDARD".to_owned()))),
        owner: with_owner.then(owner),
        ..Default::default()
    }
}

fn wire_prefixes(prefixes: Vec<String>, enc: &Encoder) -> Vec<CommonPrefix> {
    prefixes.into_iter().map(|p| CommonPrefix { prefix: Some(enc.apply(p)) }).collect()
}

pub(super) async fn list_objects(
    s3: &KuraS3,
    req: S3Request<ListObjectsInput>,
) -> S3Result<S3Response<ListObjectsOutput>> {
    let input = req.input;
    let enc = Encoder::new(input.encoding_type.as_ref())?;
    let max = page_size(input.max_keys, "max-keys")?;
    let page =
        scan(s3, &input.bucket, input.prefix.as_deref(), input.delimiter.as_deref(), input.marker.clone(), max).await?;
    let is_truncated = page.is_truncated;
    let last = page.entries.last().map(|e| e.name().to_owned());
    let (objects, prefixes) = split(page);
    // As S3: NextMarker is returned only with a delimiter; without one, clients continue from the last key.
    let next_marker = if is_truncated && input.delimiter.is_some() { last } else { None };
    Ok(S3Response::new(ListObjectsOutput {
        name: Some(input.bucket),
        // As AWS: v1 encodes Marker, NextMarker, Delimiter, keys and common prefixes but sends Prefix
        // as given, and clients (botocore's decode_list_object) decode exactly those fields.
        prefix: Some(input.prefix.unwrap_or_default()),
        marker: Some(enc.apply(input.marker.unwrap_or_default())),
        max_keys: Some(input.max_keys.unwrap_or(MAX_KEYS)),
        is_truncated: Some(is_truncated),
        contents: Some(objects.into_iter().map(|o| wire_object(o, &enc, true)).collect()),
        common_prefixes: Some(wire_prefixes(prefixes, &enc)),
        delimiter: enc.opt(input.delimiter.filter(|d| !d.is_empty())),
        next_marker: enc.opt(next_marker),
        encoding_type: input.encoding_type,
        ..Default::default()
    }))
}

/// Continuation tokens are the last name returned, base64url-encoded: opaque to clients, stateless here.
fn decode_token(token: &str) -> S3Result<String> {
    TOKEN_B64
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| errors::invalid_argument("The continuation token provided is incorrect."))
}

pub(super) async fn list_objects_v2(
    s3: &KuraS3,
    req: S3Request<ListObjectsV2Input>,
) -> S3Result<S3Response<ListObjectsV2Output>> {
    let input = req.input;
    let enc = Encoder::new(input.encoding_type.as_ref())?;
    let max = page_size(input.max_keys, "max-keys")?;
    let from_token = input.continuation_token.as_deref().map(decode_token).transpose()?;
    let start_after = match (from_token, input.start_after.clone()) {
        (Some(t), Some(s)) => Some(t.max(s)),
        (t, s) => t.or(s),
    };
    let page = scan(s3, &input.bucket, input.prefix.as_deref(), input.delimiter.as_deref(), start_after, max).await?;
    let is_truncated = page.is_truncated;
    let next = if is_truncated { page.entries.last().map(|e| TOKEN_B64.encode(e.name())) } else { None };
    let key_count = i32::try_from(page.entries.len()).unwrap_or(i32::MAX);
    let (objects, prefixes) = split(page);
    let with_owner = input.fetch_owner.unwrap_or(false);
    Ok(S3Response::new(ListObjectsV2Output {
        name: Some(input.bucket),
        prefix: Some(enc.apply(input.prefix.unwrap_or_default())),
        max_keys: Some(input.max_keys.unwrap_or(MAX_KEYS)),
        key_count: Some(key_count),
        continuation_token: input.continuation_token,
        is_truncated: Some(is_truncated),
        next_continuation_token: next,
        contents: Some(objects.into_iter().map(|o| wire_object(o, &enc, with_owner)).collect()),
        common_prefixes: Some(wire_prefixes(prefixes, &enc)),
        delimiter: enc.opt(input.delimiter.filter(|d| !d.is_empty())),
        encoding_type: input.encoding_type,
        start_after: enc.opt(input.start_after),
        ..Default::default()
    }))
}

pub(super) async fn list_object_versions(
    s3: &KuraS3,
    req: S3Request<ListObjectVersionsInput>,
) -> S3Result<S3Response<ListObjectVersionsOutput>> {
    let input = req.input;
    let enc = Encoder::new(input.encoding_type.as_ref())?;
    let max = page_size(input.max_keys, "max-keys")?;
    let key_marker = input.key_marker.clone().filter(|k| !k.is_empty());
    let version_id_marker = input.version_id_marker.clone().filter(|v| !v.is_empty());
    if let Some(marker) = &version_id_marker {
        if key_marker.is_none() {
            return Err(errors::invalid_argument("A version-id marker cannot be specified without a key marker."));
        }
        if !kura_store::versions::is_valid_version_id(marker) {
            return Err(errors::invalid_argument("Invalid version id specified"));
        }
    }
    let query = VersionListQuery {
        prefix: input.prefix.clone().unwrap_or_default(),
        delimiter: input.delimiter.clone().filter(|d| !d.is_empty()),
        key_marker,
        version_id_marker,
        max,
    };
    let page = s3.meta.list_versions(&input.bucket, &query).await.or_s3()?;
    let is_truncated = page.is_truncated;
    let (next_key_marker, next_version_id_marker) = match page.entries.last() {
        Some(_) if !is_truncated => (None, None),
        Some(VersionEntry::Version { object, .. }) => (Some(object.key.clone()), Some(object.version_id.clone())),
        Some(VersionEntry::Prefix(p)) => (Some(p.clone()), None),
        None => (None, None),
    };
    let (mut versions, mut delete_markers, mut prefixes) = (Vec::new(), Vec::new(), Vec::new());
    for entry in page.entries {
        match entry {
            VersionEntry::Version { object, is_latest } if object.delete_marker => {
                delete_markers.push(DeleteMarkerEntry {
                    is_latest: Some(is_latest),
                    key: Some(enc.apply(object.key)),
                    last_modified: Some(timestamp(object.last_modified_ms)),
                    owner: Some(owner()),
                    version_id: Some(object.version_id),
                });
            }
            VersionEntry::Version { object, is_latest } => versions.push(ObjectVersion {
                e_tag: Some(etag(&object.etag)),
                is_latest: Some(is_latest),
                last_modified: Some(timestamp(object.last_modified_ms)),
                owner: Some(owner()),
                size: i64::try_from(object.size).ok(),
                storage_class: Some(ObjectVersionStorageClass::from("STANDARD".to_owned())),
                version_id: Some(object.version_id),
                key: Some(enc.apply(object.key)),
                ..Default::default()
            }),
            VersionEntry::Prefix(p) => prefixes.push(p),
        }
    }
    Ok(S3Response::new(ListObjectVersionsOutput {
        name: Some(input.bucket),
        prefix: Some(enc.apply(input.prefix.unwrap_or_default())),
        key_marker: Some(enc.apply(input.key_marker.unwrap_or_default())),
        version_id_marker: Some(input.version_id_marker.unwrap_or_default()),
        max_keys: Some(input.max_keys.unwrap_or(MAX_KEYS)),
        is_truncated: Some(is_truncated),
        next_key_marker: enc.opt(next_key_marker),
        next_version_id_marker,
        versions: Some(versions),
        delete_markers: Some(delete_markers),
        common_prefixes: Some(wire_prefixes(prefixes, &enc)),
        delimiter: enc.opt(input.delimiter.filter(|d| !d.is_empty())),
        encoding_type: input.encoding_type,
        ..Default::default()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoding_keeps_slash_and_unreserved() {
        let enc = Encoder(true);
        assert_eq!(enc.apply("a b/c+d~é".into()), "a%20b/c%2Bd~%C3%A9");
    }

    #[test]
    fn tokens_round_trip_and_garbage_is_rejected() {
        let t = TOKEN_B64.encode("photos/2024/ü.jpg");
        assert_eq!(decode_token(&t).ok().as_deref(), Some("photos/2024/ü.jpg"));
        assert!(decode_token("!!!").is_err());
    }
}
