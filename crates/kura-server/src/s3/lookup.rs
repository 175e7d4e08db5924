//! Finding the object a request names: its record, or with its inline body, or the S3 error that says
//! it is not there (NoSuchKey, NoSuchVersion). Every operation that reads an object looks it up here.

use super::KuraS3;
use super::object_ref::ObjectRef;
use crate::errors::{self, StoreResultExt};
use kura_store::ObjectMeta;
use s3s::S3Result;

/// What a read loads of an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// The record alone (HEAD, tags, attributes, preconditions): an inline body stays unread.
    RecordOnly,
    /// The record and its inline body (GET and copy sources, which send or copy the bytes).
    WithBody,
}

/// Reads an object's record (without its inline body), or NoSuchVersion / NoSuchKey.
pub(super) async fn require_object(s3: &KuraS3, object: ObjectRef<'_>) -> S3Result<ObjectMeta> {
    find_object(s3, object, Reading::RecordOnly).await
}

/// Reads what `reading` asks of `object`, or NoSuchVersion when it names a version kura does not
/// hold, or NoSuchKey.
pub(super) async fn find_object(s3: &KuraS3, object: ObjectRef<'_>, reading: Reading) -> S3Result<ObjectMeta> {
    if object.names_absent_version() {
        return Err(errors::no_such_version());
    }
    let ObjectRef { bucket, key, .. } = object;
    let found = match reading {
        Reading::WithBody => s3.meta.get_object(bucket, key).await,
        Reading::RecordOnly => s3.meta.get_object_record(bucket, key).await,
    };
    found.or_s3()?.ok_or_else(errors::no_such_key)
}
