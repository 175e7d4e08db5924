//! Bucket access settings: Put/Get/DeleteBucketPolicy, GetBucketPolicyStatus and
//! Put/Get/DeletePublicAccessBlock, with AWS's semantics (a public policy is refused while
//! BlockPublicPolicy is on).

use super::KuraS3;
use crate::errors::{StoreResultExt, s3err, store_error};
use kura_store::{BucketSettings, MetaStore, PublicAccessBlock, StoreError};
use s3s::dto::*;
use s3s::{S3ErrorCode, S3Request, S3Response, S3Result};

/// Largest bucket policy AWS accepts (20 KiB).
const MAX_POLICY_BYTES: usize = 20 * 1024;

/// Parses and checks a bucket policy for `bucket` against its public access block; answers the text
/// to store.
pub fn accept_bucket_policy(bucket: &str, text: &str, settings: &BucketSettings) -> S3Result<String> {
    if text.len() > MAX_POLICY_BYTES {
        return Err(s3err(S3ErrorCode::MalformedPolicy, "Policies must be no more than 20 KiB."));
    }
    let policy = kura_policy::Policy::parse(text).map_err(|e| s3err(S3ErrorCode::MalformedPolicy, e.to_string()))?;
    policy.validate_bucket_policy(bucket).map_err(|e| s3err(S3ErrorCode::MalformedPolicy, e.to_string()))?;
    if settings.public_access_block.is_some_and(|b| b.block_public_policy) && policy.is_public() {
        return Err(s3err(
            S3ErrorCode::AccessDenied,
            "Access Denied: the bucket's public access block (BlockPublicPolicy) refuses a public bucket policy. \
             Restrict the Principal or add a condition such as aws:SourceIp, or change the public access block.",
        ));
    }
    Ok(text.to_owned())
}

/// A bucket's access settings; NoSuchBucket if it does not exist.
pub async fn settings(meta: &dyn MetaStore, bucket: &str) -> S3Result<BucketSettings> {
    let info = meta.get_bucket(bucket).await.or_s3()?;
    info.map(|i| i.settings).ok_or_else(|| store_error(StoreError::NoSuchBucket(bucket.to_owned())))
}

/// Sets (`Some`, validated against the public access block) or removes a bucket policy.
pub async fn set_policy(meta: &dyn MetaStore, bucket: &str, policy: Option<&str>) -> S3Result<()> {
    let mut current = settings(meta, bucket).await?;
    current.policy = match policy {
        Some(text) => Some(accept_bucket_policy(bucket, text, &current)?),
        None => None,
    };
    meta.set_bucket_settings(bucket, current).await.or_s3()
}

/// Sets or removes a bucket's public access block.
pub async fn set_public_access_block(
    meta: &dyn MetaStore,
    bucket: &str,
    block: Option<PublicAccessBlock>,
) -> S3Result<()> {
    let current = settings(meta, bucket).await?;
    meta.set_bucket_settings(bucket, BucketSettings { public_access_block: block, ..current }).await.or_s3()
}

pub(super) async fn put_bucket_policy(
    s3: &KuraS3,
    req: S3Request<PutBucketPolicyInput>,
) -> S3Result<S3Response<PutBucketPolicyOutput>> {
    set_policy(s3.meta.as_ref(), &req.input.bucket, Some(&req.input.policy)).await?;
    Ok(S3Response::with_status(PutBucketPolicyOutput {}, http::StatusCode::NO_CONTENT))
}

pub(super) async fn get_bucket_policy(
    s3: &KuraS3,
    req: S3Request<GetBucketPolicyInput>,
) -> S3Result<S3Response<GetBucketPolicyOutput>> {
    let policy = settings(s3.meta.as_ref(), &req.input.bucket).await?.policy.ok_or_else(no_policy)?;
    Ok(S3Response::new(GetBucketPolicyOutput { policy: Some(policy) }))
}

pub(super) async fn delete_bucket_policy(
    s3: &KuraS3,
    req: S3Request<DeleteBucketPolicyInput>,
) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
    set_policy(s3.meta.as_ref(), &req.input.bucket, None).await?;
    Ok(S3Response::with_status(DeleteBucketPolicyOutput {}, http::StatusCode::NO_CONTENT))
}

pub(super) async fn get_bucket_policy_status(
    s3: &KuraS3,
    req: S3Request<GetBucketPolicyStatusInput>,
) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
    let text = settings(s3.meta.as_ref(), &req.input.bucket).await?.policy.ok_or_else(no_policy)?;
    let public = kura_policy::Policy::parse(&text).is_ok_and(|p| p.is_public());
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
    set_public_access_block(s3.meta.as_ref(), &input.bucket, Some(block)).await?;
    Ok(S3Response::new(PutPublicAccessBlockOutput {}))
}

pub(super) async fn get_public_access_block(
    s3: &KuraS3,
    req: S3Request<GetPublicAccessBlockInput>,
) -> S3Result<S3Response<GetPublicAccessBlockOutput>> {
    let block = settings(s3.meta.as_ref(), &req.input.bucket).await?.public_access_block.ok_or_else(|| {
        let mut e = s3err(
            S3ErrorCode::Custom("NoSuchPublicAccessBlockConfiguration".into()),
            "The public access block configuration was not found.",
        );
        e.set_status_code(http::StatusCode::NOT_FOUND);
        e
    })?;
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
    set_public_access_block(s3.meta.as_ref(), &req.input.bucket, None).await?;
    Ok(S3Response::with_status(DeletePublicAccessBlockOutput {}, http::StatusCode::NO_CONTENT))
}

fn no_policy() -> s3s::S3Error {
    s3err(S3ErrorCode::NoSuchBucketPolicy, "The bucket policy does not exist.")
}
