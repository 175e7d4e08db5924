//! Bucket lifecycle on the S3 API: Put/Get/DeleteBucketLifecycleConfiguration. The rules are checked
//! by [`crate::lifecycle::config`], stored through [`crate::buckets`], and applied by the background
//! worker ([`crate::lifecycle`]).

use super::KuraS3;
use crate::buckets;
use crate::errors::{self, bucket_settings_error};
use crate::lifecycle::config;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

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
    Ok(S3Response::with_status(DeleteBucketLifecycleOutput {}, http::StatusCode::NO_CONTENT))
}
