//! Which object a request names: a bucket, a key and, when the request says, a version.
//!
//! The read, copy and delete paths pass one [`ObjectRef`] instead of loose bucket, key and version
//! strings, so what was named travels together and a version cannot be mistaken for a key. A version
//! id is `null` ([`VersionId::NULL`]) or an id kura made ([`kura_store::versions::new_version_id`]);
//! anything else is refused as S3 does, InvalidArgument, before any lookup ([`ObjectRef::check`]).

use crate::errors;
use s3s::S3Result;
use s3s::dto::CopySource;

/// A version id, as a request names it (`versionId`, a copy source's `?versionId=`) or as a listing
/// reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionId<'a>(&'a str);

impl<'a> VersionId<'a> {
    /// `null`: S3's id for the version written while a bucket was unversioned or suspended.
    pub const NULL: VersionId<'static> = VersionId(kura_store::versions::NULL);

    /// The version a request names by this id.
    pub fn new(id: &'a str) -> Self {
        Self(id)
    }

    /// The id as it goes on the wire.
    pub fn as_str(self) -> &'a str {
        self.0
    }

    /// Whether this is the `null` version.
    pub fn is_null(self) -> bool {
        self == VersionId::NULL
    }
}

/// An object a request names: its bucket, its key and, if the request names one, its version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectRef<'a> {
    /// The bucket.
    pub bucket: &'a str,
    /// The key in the bucket.
    pub key: &'a str,
    /// The version the request names; `None` names the current one. Kept as named (`null` included),
    /// because naming a version is itself meaningful: it is authorised as `s3:GetObjectVersion`.
    pub version: Option<VersionId<'a>>,
}

impl<'a> ObjectRef<'a> {
    /// The current version of `key` in `bucket`.
    pub fn current(bucket: &'a str, key: &'a str) -> Self {
        Self { bucket, key, version: None }
    }

    /// `key` in `bucket` at the version a request's `versionId` names (the current one without it).
    pub fn at_version(bucket: &'a str, key: &'a str, version_id: Option<&'a str>) -> Self {
        Self { bucket, key, version: version_id.map(VersionId::new) }
    }

    /// The object an `x-amz-copy-source` names. Access point and outpost sources are refused
    /// (NotImplemented): kura has neither.
    pub fn copy_source(source: &'a CopySource) -> S3Result<Self> {
        match source {
            CopySource::Bucket { bucket, key, version_id } => Ok(Self::at_version(bucket, key, version_id.as_deref())),
            CopySource::AccessPoint { .. } | CopySource::Outpost { .. } => {
                Err(errors::not_implemented("Access point and outpost copy sources are not supported: use bucket/key."))
            }
        }
    }

    /// This object's current version, whatever version the request named.
    pub fn current_version(self) -> Self {
        Self { version: None, ..self }
    }

    /// The version id named, as a string.
    pub fn version_id(&self) -> Option<&'a str> {
        self.version.map(VersionId::as_str)
    }

    /// Refuses a named version id that kura could not have made (S3's `InvalidArgument`, 400).
    pub fn check(&self) -> S3Result<()> {
        match self.version {
            Some(v) if !kura_store::versions::is_valid_version_id(v.as_str()) => {
                Err(errors::invalid_argument("Invalid version id specified"))
            }
            _ => Ok(()),
        }
    }

    /// Whether both name the same key of the same bucket, whatever their versions.
    pub fn same_key_as(&self, other: &ObjectRef<'_>) -> bool {
        self.bucket == other.bucket && self.key == other.key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_ids_are_checked_and_kept_as_named() {
        assert_eq!(VersionId::new("null"), VersionId::NULL);
        let null = Some(VersionId::NULL.as_str());
        assert!(ObjectRef::current("b", "k").check().is_ok());
        assert!(ObjectRef::at_version("b", "k", null).check().is_ok());
        let made = kura_store::versions::new_version_id();
        assert!(ObjectRef::at_version("b", "k", Some(&made)).check().is_ok());
        let err = ObjectRef::at_version("b", "k", Some("3HL4kqtJlcpXroDTDmJ")).check().expect_err("foreign id");
        assert_eq!(err.code(), &s3s::S3ErrorCode::InvalidArgument);
        let named = ObjectRef::at_version("b", "k", null);
        assert_eq!(named.version, Some(VersionId::NULL), "a named null version is kept (it is authorised as such)");
        assert_eq!(named.current_version(), ObjectRef::current("b", "k"));
        assert!(named.same_key_as(&ObjectRef::current("b", "k")));
        assert!(!named.same_key_as(&ObjectRef::current("b", "k2")));
    }

    #[test]
    fn copy_sources_are_bucket_and_key() {
        let source = CopySource::Bucket {
            bucket: "b".into(),
            key: "a/k".into(),
            version_id: Some(VersionId::NULL.as_str().into()),
        };
        let object = ObjectRef::copy_source(&source).expect("bucket source");
        assert_eq!((object.bucket, object.key, object.version), ("b", "a/k", Some(VersionId::NULL)));
        let access_point = CopySource::AccessPoint {
            partition: "aws".into(),
            region: "r".into(),
            account_id: "123456789012".into(),
            access_point_name: "ap".into(),
            key: "k".into(),
            version_id: None,
        };
        let err = ObjectRef::copy_source(&access_point).expect_err("access point");
        assert_eq!(err.code(), &s3s::S3ErrorCode::NotImplemented);
    }
}
