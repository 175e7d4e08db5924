//! Object tagging: GetObjectTagging, PutObjectTagging, DeleteObjectTagging, of the current object or
//! of the version a `versionId` names.

use super::KuraS3;
use super::checks::{tags_from_wire, tags_to_wire};
use super::lookup::require_object;
use super::object_ref::ObjectRef;
use super::versioning::read_header;
use crate::errors::StoreResultExt;
use kura_store::Tags;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

pub(super) async fn get_object_tagging(
    s3: &KuraS3,
    req: S3Request<GetObjectTaggingInput>,
) -> S3Result<S3Response<GetObjectTaggingOutput>> {
    let input = req.input;
    let target = ObjectRef::at_version(&input.bucket, &input.key, input.version_id.as_deref());
    let object = require_object(s3, target).await?;
    let version_id = read_header(&object, target.version_id());
    Ok(S3Response::new(GetObjectTaggingOutput { tag_set: tags_to_wire(&object.tags), version_id }))
}

pub(super) async fn put_object_tagging(
    s3: &KuraS3,
    req: S3Request<PutObjectTaggingInput>,
) -> S3Result<S3Response<PutObjectTaggingOutput>> {
    let input = req.input;
    // The tags asked for are condition keys (`s3:RequestObjectTag/…`): decided now that they are parsed.
    let mut body_keys = kura_policy::Context::new();
    let asked: Vec<(String, String)> = input
        .tagging
        .tag_set
        .iter()
        .map(|t| (t.key.clone().unwrap_or_default(), t.value.clone().unwrap_or_default()))
        .collect();
    crate::authz::context::insert_request_tags(&mut body_keys, &asked);
    let target = (input.bucket.as_str(), Some(input.key.as_str()), input.version_id.as_deref());
    s3.decide_parsed(&req.extensions, "PutObjectTagging", target, &body_keys).await?;
    let tags = tags_from_wire(&input.tagging.tag_set)?;
    let target = ObjectRef::at_version(&input.bucket, &input.key, input.version_id.as_deref());
    let object = require_object(s3, target).await?;
    s3.meta.set_version_tags(target.bucket, target.key, target.version_id(), tags).await.or_s3()?;
    Ok(S3Response::new(PutObjectTaggingOutput { version_id: read_header(&object, target.version_id()) }))
}

pub(super) async fn delete_object_tagging(
    s3: &KuraS3,
    req: S3Request<DeleteObjectTaggingInput>,
) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
    let input = req.input;
    let target = ObjectRef::at_version(&input.bucket, &input.key, input.version_id.as_deref());
    let object = require_object(s3, target).await?;
    s3.meta.set_version_tags(target.bucket, target.key, target.version_id(), Tags::new()).await.or_s3()?;
    let version_id = read_header(&object, target.version_id());
    Ok(super::status::with_status(DeleteObjectTaggingOutput { version_id }, http::StatusCode::NO_CONTENT))
}
