//! Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation.

use super::KuraS3;
use super::meta::{owner, timestamp};
use crate::base::clock::now_ms;
use crate::base::names::RESERVED_BUCKET;
use crate::errors::{self, StoreResultExt};
use kura_store::{BucketInfo, StoreError};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

/// The region where S3 answers a repeated CreateBucket of one's own bucket with 200 (legacy behaviour).
const LEGACY_REGION: &str = "us-east-1";

/// Fails with NoSuchBucket unless the bucket exists.
pub(super) async fn require_bucket(s3: &KuraS3, bucket: &str) -> S3Result<BucketInfo> {
    s3.meta.get_bucket(bucket).await.or_s3()?.ok_or_else(|| errors::no_such_bucket(bucket))
}

/// The bucket as the access hook read it for this request's decision, if it read this one.
pub(super) fn loaded(extensions: &http::Extensions, bucket: &str) -> Option<std::sync::Arc<BucketInfo>> {
    extensions.get::<crate::authz::LoadedBucket>().filter(|b| b.0.name == bucket).map(|b| b.0.clone())
}

/// [`require_bucket`], without a second read when the access hook read the bucket for this request
/// (its settings are then those the request was authorised on; on a metadata store across the network,
/// a read less per request).
pub(super) async fn require_loaded_bucket(
    s3: &KuraS3,
    extensions: &http::Extensions,
    bucket: &str,
) -> S3Result<BucketInfo> {
    match loaded(extensions, bucket) {
        Some(info) => Ok(BucketInfo::clone(&info)),
        None => require_bucket(s3, bucket).await,
    }
}

pub(super) async fn list_buckets(
    s3: &KuraS3,
    req: S3Request<ListBucketsInput>,
) -> S3Result<S3Response<ListBucketsOutput>> {
    let input = req.input;
    let prefix = input.prefix.clone().unwrap_or_default();
    let max = input.max_buckets.map_or(10_000, |m| usize::try_from(m.max(1)).unwrap_or(10_000));
    let mut buckets: Vec<_> = s3
        .meta
        .list_buckets()
        .await
        .or_s3()?
        .into_iter()
        .filter(|b| b.name.starts_with(&prefix))
        .filter(|b| input.continuation_token.as_ref().is_none_or(|t| b.name.as_str() > t.as_str()))
        .collect();
    let truncated = buckets.len() > max;
    buckets.truncate(max);
    let continuation_token = if truncated { buckets.last().map(|b| b.name.clone()) } else { None };
    let buckets = buckets
        .into_iter()
        .map(|b| Bucket {
            name: Some(b.name),
            creation_date: Some(timestamp(b.created_ms)),
            bucket_region: Some(b.region),
        })
        .collect();
    Ok(S3Response::new(ListBucketsOutput {
        buckets: Some(buckets),
        owner: Some(owner()),
        prefix: input.prefix,
        continuation_token,
    }))
}

pub(super) async fn create_bucket(
    s3: &KuraS3,
    req: S3Request<CreateBucketInput>,
) -> S3Result<S3Response<CreateBucketOutput>> {
    let input = req.input;
    // The location constraint is a condition key (`s3:LocationConstraint`): decided now that it is
    // parsed. What the request sets besides the bucket needs the actions that would set it.
    let mut body_keys = kura_policy::Context::new();
    if let Some(c) = input.create_bucket_configuration.as_ref().and_then(|c| c.location_constraint.as_ref()) {
        body_keys.set("s3:LocationConstraint", c.as_str());
    }
    s3.decide_parsed(&req.extensions, "CreateBucket", (&input.bucket, None, None), &body_keys).await?;
    if let Some(access) = &s3.access {
        let lock = input.object_lock_enabled_for_bucket.unwrap_or(false);
        let extras = kura_policy::s3::create_bucket_extras(lock, input.object_ownership.is_some());
        let who = req.extensions.get::<crate::authz::Authenticated>();
        access.decide_extras(who, (&input.bucket, None), &extras).await?;
    }
    if let Some(acl) = input.acl.as_ref().filter(|a| a.as_str() != BucketCannedACL::PRIVATE) {
        return Err(errors::invalid_bucket_acl_with_object_ownership(format!(
            "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting (x-amz-acl: {}): \
             drop the ACL and grant access with a bucket policy.",
            acl.as_str()
        )));
    }
    if input.bucket == RESERVED_BUCKET {
        return Err(errors::invalid_bucket_name(
            "The bucket name \"kura\" is reserved for kura's own endpoints (/kura/...): choose another name.",
        ));
    }
    let constraint = input
        .create_bucket_configuration
        .as_ref()
        .and_then(|c| c.location_constraint.as_ref())
        .map(|c| c.as_str().to_owned())
        .filter(|c| !c.is_empty());
    if let Some(c) = &constraint
        && c != &s3.region
    {
        return Err(errors::invalid_location_constraint(format!(
            "The location constraint {c:?} is not this server's region {:?}: omit it or use {:?}.",
            s3.region, s3.region
        )));
    }
    let info = BucketInfo {
        name: input.bucket.clone(),
        created_ms: now_ms(),
        region: s3.region.clone(),
        settings: {
            // `x-amz-bucket-object-lock-enabled: true`: Object Lock for good, and versioning on, as S3.
            let lock = input.object_lock_enabled_for_bucket.unwrap_or(false);
            kura_store::BucketSettings {
                object_lock: lock.then(Default::default),
                versioning: lock.then_some(kura_store::Versioning::Enabled),
                ..Default::default()
            }
        },
    };
    match s3.meta.create_bucket(info).await {
        Ok(()) => {}
        // As AWS: kura has one account, so an existing bucket is always the caller's own. us-east-1
        // answers a repeated CreateBucket 200 with the bucket as it is (nothing is reset), every other
        // region 409 BucketAlreadyOwnedByYou.
        Err(StoreError::BucketAlreadyExists(_)) if s3.region == LEGACY_REGION => {}
        Err(e) => return Err(e).or_s3(),
    }
    Ok(S3Response::new(CreateBucketOutput { location: Some(format!("/{}", input.bucket)) }))
}

pub(super) async fn head_bucket(
    s3: &KuraS3,
    req: S3Request<HeadBucketInput>,
) -> S3Result<S3Response<HeadBucketOutput>> {
    let b = require_bucket(s3, &req.input.bucket).await?;
    Ok(S3Response::new(HeadBucketOutput { bucket_region: Some(b.region), ..Default::default() }))
}

pub(super) async fn delete_bucket(
    s3: &KuraS3,
    req: S3Request<DeleteBucketInput>,
) -> S3Result<S3Response<DeleteBucketOutput>> {
    let freed = s3.meta.delete_bucket(&req.input.bucket).await.or_s3()?;
    s3.reclaim(freed).await;
    Ok(super::status::with_status(DeleteBucketOutput {}, http::StatusCode::NO_CONTENT))
}

pub(super) async fn get_bucket_location(
    s3: &KuraS3,
    req: S3Request<GetBucketLocationInput>,
) -> S3Result<S3Response<GetBucketLocationOutput>> {
    let b = require_bucket(s3, &req.input.bucket).await?;
    // As AWS: us-east-1 is reported as an empty LocationConstraint.
    let location_constraint = (b.region != "us-east-1").then(|| BucketLocationConstraint::from(b.region));
    Ok(S3Response::new(GetBucketLocationOutput { location_constraint }))
}
