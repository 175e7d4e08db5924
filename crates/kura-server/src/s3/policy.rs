//! Bucket access settings on the S3 API: Put/Get/DeleteBucketPolicy, GetBucketPolicyStatus and
//! Put/Get/DeletePublicAccessBlock; the rules live in [`crate::buckets`].

use super::KuraS3;
use crate::buckets;
use crate::errors::{self, bucket_settings_error};
use kura_store::PublicAccessBlock;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

pub(super) async fn put_bucket_policy(
    s3: &KuraS3,
    req: S3Request<PutBucketPolicyInput>,
) -> S3Result<S3Response<PutBucketPolicyOutput>> {
    buckets::set_policy(s3.meta.as_ref(), &req.input.bucket, Some(&req.input.policy))
        .await
        .map_err(bucket_settings_error)?;
    Ok(super::status::with_status(PutBucketPolicyOutput {}, http::StatusCode::NO_CONTENT))
}

pub(super) async fn get_bucket_policy(
    s3: &KuraS3,
    req: S3Request<GetBucketPolicyInput>,
) -> S3Result<S3Response<GetBucketPolicyOutput>> {
    let settings = buckets::get(s3.meta.as_ref(), &req.input.bucket).await.map_err(bucket_settings_error)?;
    let policy = settings.policy.ok_or_else(no_policy)?;
    Ok(S3Response::new(GetBucketPolicyOutput { policy: Some(policy) }))
}

pub(super) async fn delete_bucket_policy(
    s3: &KuraS3,
    req: S3Request<DeleteBucketPolicyInput>,
) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
    buckets::set_policy(s3.meta.as_ref(), &req.input.bucket, None).await.map_err(bucket_settings_error)?;
    Ok(super::status::with_status(DeleteBucketPolicyOutput {}, http::StatusCode::NO_CONTENT))
}

pub(super) async fn get_bucket_policy_status(
    s3: &KuraS3,
    req: S3Request<GetBucketPolicyStatusInput>,
) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
    let public = buckets::policy_is_public(s3.meta.as_ref(), &req.input.bucket)
        .await
        .map_err(bucket_settings_error)?
        .ok_or_else(no_policy)?;
    Ok(S3Response::new(GetBucketPolicyStatusOutput { policy_status: Some(PolicyStatus { is_public: Some(public) }) }))
}

pub(super) async fn put_public_access_block(
    s3: &KuraS3,
    req: S3Request<PutPublicAccessBlockInput>,
) -> S3Result<S3Response<PutPublicAccessBlockOutput>> {
    let input = req.input;
    let c = input.public_access_block_configuration;
    let block = PublicAccessBlock {
        block_public_acls: c.block_public_acls.unwrap_or(false),
        ignore_public_acls: c.ignore_public_acls.unwrap_or(false),
        block_public_policy: c.block_public_policy.unwrap_or(false),
        restrict_public_buckets: c.restrict_public_buckets.unwrap_or(false),
    };
    buckets::set_public_access_block(s3.meta.as_ref(), &input.bucket, Some(block))
        .await
        .map_err(bucket_settings_error)?;
    Ok(S3Response::new(PutPublicAccessBlockOutput {}))
}

pub(super) async fn get_public_access_block(
    s3: &KuraS3,
    req: S3Request<GetPublicAccessBlockInput>,
) -> S3Result<S3Response<GetPublicAccessBlockOutput>> {
    let settings = buckets::get(s3.meta.as_ref(), &req.input.bucket).await.map_err(bucket_settings_error)?;
    let block = settings.public_access_block.ok_or_else(errors::no_such_public_access_block)?;
    Ok(S3Response::new(GetPublicAccessBlockOutput {
        public_access_block_configuration: Some(PublicAccessBlockConfiguration {
            block_public_acls: Some(block.block_public_acls),
            ignore_public_acls: Some(block.ignore_public_acls),
            block_public_policy: Some(block.block_public_policy),
            restrict_public_buckets: Some(block.restrict_public_buckets),
        }),
    }))
}

pub(super) async fn delete_public_access_block(
    s3: &KuraS3,
    req: S3Request<DeletePublicAccessBlockInput>,
) -> S3Result<S3Response<DeletePublicAccessBlockOutput>> {
    buckets::set_public_access_block(s3.meta.as_ref(), &req.input.bucket, None).await.map_err(bucket_settings_error)?;
    Ok(super::status::with_status(DeletePublicAccessBlockOutput {}, http::StatusCode::NO_CONTENT))
}

fn no_policy() -> s3s::S3Error {
    errors::no_such_bucket_policy("The bucket policy does not exist.")
}
