//! Bucket lifecycle on the S3 API: Put/Get/DeleteBucketLifecycleConfiguration. The rules are checked
//! by [`crate::lifecycle::config`], stored through [`crate::buckets`], and applied by the background
//! worker ([`crate::lifecycle`]); the `x-amz-expiration` header of object writes and reads.

use super::KuraS3;
use crate::buckets;
use crate::errors::{self, bucket_settings_error};
use crate::lifecycle::config;
use crate::lifecycle::rules::{self, Candidate, Version};
use kura_store::{BucketInfo, ObjectMeta};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};
use std::sync::Arc;

pub(super) async fn put_bucket_lifecycle_configuration(
    s3: &KuraS3,
    req: S3Request<PutBucketLifecycleConfigurationInput>,
) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
    let input = req.input;
    let given = input
        .lifecycle_configuration
        .ok_or_else(|| errors::malformed_xml("The request body must be a LifecycleConfiguration document."))?;
    let accepted = config::accept(&given).map_err(errors::lifecycle_error)?;
    buckets::set_lifecycle(s3.meta.as_ref(), &input.bucket, Some(accepted)).await.map_err(bucket_settings_error)?;
    Ok(S3Response::new(PutBucketLifecycleConfigurationOutput::default()))
}

pub(super) async fn get_bucket_lifecycle_configuration(
    s3: &KuraS3,
    req: S3Request<GetBucketLifecycleConfigurationInput>,
) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
    let settings = buckets::get(s3.meta.as_ref(), &req.input.bucket).await.map_err(bucket_settings_error)?;
    let lifecycle = settings.lifecycle.ok_or_else(errors::no_such_lifecycle_configuration)?;
    Ok(S3Response::new(GetBucketLifecycleConfigurationOutput {
        rules: Some(config::to_dto(&lifecycle)),
        ..Default::default()
    }))
}

pub(super) async fn delete_bucket_lifecycle(
    s3: &KuraS3,
    req: S3Request<DeleteBucketLifecycleInput>,
) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
    buckets::set_lifecycle(s3.meta.as_ref(), &req.input.bucket, None).await.map_err(bucket_settings_error)?;
    Ok(super::status::with_status(DeleteBucketLifecycleOutput {}, http::StatusCode::NO_CONTENT))
}

/// The `x-amz-expiration` value S3 sends on PUT, HEAD and GET of a current version that a lifecycle
/// rule will expire: `expiry-date="Fri, 23 Dec 2012 00:00:00 GMT", rule-id="…"` (the earliest rule's
/// date, by the server's lifecycle day). `None` when no rule expires it, or when the rule id cannot be
/// written in a header (a control character; `"` and `\` are escaped as in any quoted string).
pub(super) fn expiration(s3: &KuraS3, bucket: &BucketInfo, object: &ObjectMeta) -> Option<String> {
    let config = bucket.settings.lifecycle.as_ref()?;
    let candidate = Candidate {
        key: &object.key,
        size: object.size,
        tags: &object.tags,
        last_modified_ms: object.last_modified_ms,
        version: Version::Current,
    };
    let (at_ms, rule) = rules::expiry_of(&config.rules, &candidate, s3.lifecycle_day)?;
    let at = time::OffsetDateTime::from_unix_timestamp(at_ms.div_euclid(1000)).ok()?;
    let date = at.format(HTTP_DATE).ok()?;
    let rule = rule.replace('\\', "\\\\").replace('"', "\\\"");
    let value = format!("expiry-date=\"{date}\", rule-id=\"{rule}\"");
    http::HeaderValue::from_bytes(value.as_bytes()).is_ok().then_some(value)
}

/// [`expiration`] for a read of the current version (GET or HEAD without `versionId`), on the bucket
/// the access hook loaded (read again only when the hook did not run). A read of a named version
/// reports none: the rule that removes it is a noncurrent-version rule, which S3 does not report.
pub(super) async fn read_expiration(
    s3: &KuraS3,
    extensions: &http::Extensions,
    version_named: bool,
    object: &ObjectMeta,
    bucket: &str,
) -> Option<String> {
    if version_named {
        return None;
    }
    let info = match super::bucket::loaded(extensions, bucket) {
        Some(info) => info,
        None => Arc::new(s3.meta.get_bucket(bucket).await.ok()??),
    };
    expiration(s3, &info, object)
}

/// `Fri, 23 Dec 2012 00:00:00 GMT`.
const HTTP_DATE: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);
