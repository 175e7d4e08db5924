//! Finding the object a request names: its record, or with its inline body, or the S3 error that says
//! it is not there. Every operation that reads an object looks it up here, so they all answer alike:
//! a malformed version id is InvalidArgument (400), a missing version NoSuchVersion (404), a missing
//! key NoSuchKey (404); a key whose latest version is a delete marker is NoSuchKey with
//! `x-amz-delete-marker: true` and the marker's `x-amz-version-id`, and a version id naming a delete
//! marker is MethodNotAllowed (405) with the same headers, as in S3.

use super::KuraS3;
use super::object_ref::ObjectRef;
use crate::errors::{self, StoreResultExt};
use kura_store::ObjectMeta;
use s3s::{S3Error, S3Result};

/// What a read loads of an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// The record alone (HEAD, tags, attributes, preconditions): an inline body stays unread.
    RecordOnly,
    /// The record and its inline body (GET and copy sources, which send or copy the bytes).
    WithBody,
}

/// Reads an object's record (without its inline body), or the error that says why not.
pub(super) async fn require_object(s3: &KuraS3, object: ObjectRef<'_>) -> S3Result<ObjectMeta> {
    find_object(s3, object, Reading::RecordOnly).await
}

/// Reads what `reading` asks of `object` (a live version, never a delete marker), or the error that
/// says why not (see the module documentation).
pub(super) async fn find_object(s3: &KuraS3, object: ObjectRef<'_>, reading: Reading) -> S3Result<ObjectMeta> {
    object.check()?;
    let ObjectRef { bucket, key, .. } = object;
    let named = object.version_id();
    let found = s3.meta.get_version(bucket, key, named, reading == Reading::WithBody).await.or_s3()?;
    match found {
        None if named.is_some() => Err(errors::no_such_version()),
        None => Err(not_a_delete_marker(errors::no_such_key())),
        Some(found) if found.object.delete_marker => Err(on_delete_marker(named.is_some(), &found.object.version_id)),
        Some(found) => Ok(found.object),
    }
}

/// `err` (NoSuchKey) with `x-amz-delete-marker: false`: the key is missing, not hidden by a marker
/// (S3 says so on a HEAD, which has no body to carry the code; ceph's s3-tests check it).
fn not_a_delete_marker(mut err: S3Error) -> S3Error {
    let mut headers = http::HeaderMap::new();
    headers.insert("x-amz-delete-marker", http::HeaderValue::from_static("false"));
    err.set_headers(headers);
    err
}

/// The error for a read that reached a delete marker: NoSuchKey (the key's latest version) or
/// MethodNotAllowed (a version id named it), with `x-amz-delete-marker` and `x-amz-version-id`.
pub(super) fn on_delete_marker(named: bool, version_id: &str) -> S3Error {
    let mut err = if named {
        errors::method_not_allowed(
            "The specified method is not allowed against this resource: the version is a delete marker.",
        )
    } else {
        errors::no_such_key()
    };
    let mut headers = http::HeaderMap::new();
    headers.insert("x-amz-delete-marker", http::HeaderValue::from_static("true"));
    if let Ok(value) = http::HeaderValue::from_str(version_id) {
        headers.insert("x-amz-version-id", value);
    }
    err.set_headers(headers);
    err
}
