//! Bucket versioning: PutBucketVersioning, GetBucketVersioning, and the rules the object operations
//! share: which version id a write gets, which id a response reports, and what DELETE does in each
//! state (see [`kura_store::versions`] for how versions are kept).
//!
//! A write reads the bucket's state when it starts and stamps its object with it ([`stamp`]); a
//! PutBucketVersioning that commits while a write is in flight may therefore not apply to that write
//! (AWS, too, documents that a change of state takes a while to apply to every write).

use super::KuraS3;
use super::bucket::require_bucket;
use super::object_ref::ObjectRef;
use crate::base::clock::now_ms;
use crate::errors::{self, StoreResultExt};
use kura_store::versions::{self, NULL};
use kura_store::{BucketInfo, ObjectMeta, Versioning};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

/// Gives a new object the version id its bucket's state calls for: a fresh id when versioning is
/// enabled; `null` otherwise, with an order (so it sorts among the other versions) once the bucket
/// has ever been versioned.
pub(super) fn stamp(object: &mut ObjectMeta, bucket: &BucketInfo) {
    versions::stamp(object, bucket.settings.versioning);
}

/// The `x-amz-version-id` a write answers with: the new version's id while versioning is enabled;
/// none otherwise (a `null` version is not reported, as S3 does, ceph's s3-tests check it).
pub(super) fn reported(bucket: &BucketInfo, object: &ObjectMeta) -> Option<String> {
    (bucket.settings.versioning == Some(Versioning::Enabled)).then(|| object.version_id.clone())
}

/// The `x-amz-version-id` a read answers with: the version's id unless it is a `null` version written
/// before the bucket was ever versioned (a read does not load the bucket to tell more).
pub(super) fn read_header(object: &ObjectMeta, named: Option<&str>) -> Option<String> {
    (object.version_id != NULL || !object.order.is_empty() || named.is_some()).then(|| object.version_id.clone())
}

/// What a DELETE did: the version id it answers with and whether that version is a delete marker.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Deleted {
    /// `x-amz-version-id` of the response.
    pub version_id: Option<String>,
    /// `x-amz-delete-marker: true` in the response.
    pub delete_marker: bool,
}

/// Deletes what `target` names in `bucket` and reclaims the blobs no version references any more:
/// - a version id: that version, permanently (nothing if there is none);
/// - none, unversioned bucket: the object, permanently;
/// - none, versioning enabled: a new delete marker;
/// - none, suspended: a `null` delete marker, which replaces the `null` version.
///
/// A version's lock is judged again by the store in the removal's transaction, with `bypass` (what
/// [`super::object_lock::guard_delete`] allowed): a legal hold or retention set since is still obeyed.
pub(super) async fn delete(
    s3: &KuraS3,
    bucket: &BucketInfo,
    target: ObjectRef<'_>,
    (bypass, condition): (kura_store::Bypass, &kura_store::WriteCondition),
) -> S3Result<Deleted> {
    target.check()?;
    if let Some(id) = target.version_id() {
        let guard = kura_store::RemovalGuard { now_ms: now_ms(), bypass };
        let removed = s3.meta.delete_version(target.bucket, target.key, id, guard).await.or_s3()?;
        let delete_marker = removed.as_ref().is_some_and(|r| r.delete_marker);
        if let Some(removed) = removed {
            s3.reclaim(removed.blobs()).await;
        }
        return Ok(Deleted { version_id: Some(id.to_owned()), delete_marker });
    }
    let Some(marker) = versions::delete_marker(target.key, bucket.settings.versioning, now_ms()) else {
        if let Some(removed) = s3.meta.delete_object_if(target.bucket, target.key, condition).await.or_s3()? {
            s3.reclaim(removed.blobs()).await;
        }
        return Ok(Deleted::default());
    };
    let version_id = marker.version_id.clone();
    let replaced = s3.meta.put_object_if(target.bucket, marker, condition).await.or_s3()?;
    s3.reclaim(replaced).await;
    Ok(Deleted { version_id: Some(version_id), delete_marker: true })
}

pub(super) async fn get_bucket_versioning(
    s3: &KuraS3,
    req: S3Request<GetBucketVersioningInput>,
) -> S3Result<S3Response<GetBucketVersioningOutput>> {
    let bucket = require_bucket(s3, &req.input.bucket).await?;
    // A bucket never versioned answers no Status, as S3 does.
    let status = bucket.settings.versioning.map(|v| {
        BucketVersioningStatus::from_static(match v {
            Versioning::Enabled => BucketVersioningStatus::ENABLED,
            Versioning::Suspended => BucketVersioningStatus::SUSPENDED,
        })
    });
    Ok(S3Response::new(GetBucketVersioningOutput { status, mfa_delete: None }))
}

/// The state a versioning configuration asks for (`None`: no Status, which changes nothing), or why
/// it cannot be applied.
fn requested(config: &VersioningConfiguration) -> S3Result<Option<Versioning>> {
    match config.mfa_delete.as_ref().map(MFADelete::as_str) {
        None | Some(MFADelete::DISABLED) => {}
        Some(MFADelete::ENABLED) => {
            return Err(errors::illegal_versioning_configuration(
                "MFA delete cannot be enabled: kura has no multi-factor authentication. Omit MfaDelete or set it \
                 to Disabled.",
            ));
        }
        Some(other) => {
            return Err(errors::malformed_xml(format!("MfaDelete {other:?} is not valid: use Enabled or Disabled.")));
        }
    }
    match config.status.as_ref().map(BucketVersioningStatus::as_str) {
        None => Ok(None),
        Some(BucketVersioningStatus::ENABLED) => Ok(Some(Versioning::Enabled)),
        Some(BucketVersioningStatus::SUSPENDED) => Ok(Some(Versioning::Suspended)),
        Some(other) => Err(errors::malformed_xml(format!(
            "The versioning Status {other:?} is not valid: use Enabled or Suspended."
        ))),
    }
}

pub(super) async fn put_bucket_versioning(
    s3: &KuraS3,
    req: S3Request<PutBucketVersioningInput>,
) -> S3Result<S3Response<PutBucketVersioningOutput>> {
    let input = req.input;
    require_bucket(s3, &input.bucket).await?;
    let Some(state) = requested(&input.versioning_configuration)? else {
        return Ok(S3Response::new(PutBucketVersioningOutput::default()));
    };
    // Once versioned, a bucket can be suspended but never made unversioned again: both states are
    // reachable from any other, so every accepted request is a valid transition (but Suspended with
    // Object Lock, which `set_versioning` refuses).
    crate::buckets::set_versioning(s3.meta.as_ref(), &input.bucket, state)
        .await
        .map_err(crate::errors::bucket_settings_error)?;
    Ok(S3Response::new(PutBucketVersioningOutput::default()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::meta::new_object;
    use kura_store::{ObjectHeaders, Tags};

    fn config(status: Option<&str>, mfa: Option<&str>) -> VersioningConfiguration {
        VersioningConfiguration {
            status: status.map(|s| BucketVersioningStatus::from(s.to_owned())),
            mfa_delete: mfa.map(|m| MFADelete::from(m.to_owned())),
        }
    }

    #[test]
    fn configurations_are_read_as_s3_does() {
        assert_eq!(requested(&config(Some("Enabled"), None)).ok(), Some(Some(Versioning::Enabled)));
        assert_eq!(requested(&config(Some("Suspended"), Some("Disabled"))).ok(), Some(Some(Versioning::Suspended)));
        assert_eq!(requested(&config(None, None)).ok(), Some(None));
        let code = |c| requested(&c).map(|_| ()).expect_err("refused").code().clone();
        assert_eq!(code(config(Some("enabled"), None)), s3s::S3ErrorCode::MalformedXML);
        assert_eq!(code(config(Some("Off"), None)), s3s::S3ErrorCode::MalformedXML);
        assert_eq!(
            code(config(Some("Enabled"), Some("Enabled"))),
            s3s::S3ErrorCode::IllegalVersioningConfigurationException
        );
        assert_eq!(code(config(Some("Enabled"), Some("Yes"))), s3s::S3ErrorCode::MalformedXML);
    }

    #[test]
    fn writes_are_stamped_by_the_bucket_state() {
        let mut bucket = kura_store::BucketInfo {
            name: "b".into(),
            created_ms: 0,
            region: "us-east-1".into(),
            settings: Default::default(),
        };
        let mut object = new_object("k".into(), 0, String::new(), ObjectHeaders::default(), Tags::new());
        stamp(&mut object, &bucket);
        assert_eq!((object.version_id.as_str(), object.order.as_str()), (NULL, ""));
        assert_eq!(reported(&bucket, &object), None);
        bucket.settings.versioning = Some(Versioning::Enabled);
        stamp(&mut object, &bucket);
        assert!(versions::is_valid_version_id(&object.version_id) && object.version_id != NULL);
        assert_eq!(reported(&bucket, &object), Some(object.version_id.clone()));
        bucket.settings.versioning = Some(Versioning::Suspended);
        stamp(&mut object, &bucket);
        assert_eq!(object.version_id, NULL);
        assert!(!object.order.is_empty());
        assert_eq!(reported(&bucket, &object), None, "a null version is not reported");
    }
}
