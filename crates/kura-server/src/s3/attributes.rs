//! GetObjectAttributes: an object's ETag, size, checksum, storage class and parts, without its body.

use super::KuraS3;
use super::lookup::require_object;
use super::meta::{etag, timestamp};
use super::object_ref::ObjectRef;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

/// Most parts listed per response when the client asks for no limit (as AWS).
const DEFAULT_MAX_PARTS: usize = 1000;

pub(super) async fn get_object_attributes(
    s3: &KuraS3,
    req: S3Request<GetObjectAttributesInput>,
) -> S3Result<S3Response<GetObjectAttributesOutput>> {
    let input = req.input;
    let target = ObjectRef::at_version(&input.bucket, &input.key, input.version_id.as_deref());
    let object = require_object(s3, target).await?;
    let wants = |name: &str| input.object_attributes.iter().any(|a| a.as_str().eq_ignore_ascii_case(name));
    let mut out = GetObjectAttributesOutput {
        last_modified: Some(timestamp(object.last_modified_ms)),
        version_id: super::versioning::read_header(&object, target.version_id()),
        ..Default::default()
    };
    if wants(ObjectAttributes::ETAG) {
        out.e_tag = Some(etag(&object.etag));
    }
    if wants(ObjectAttributes::OBJECT_SIZE) {
        out.object_size = i64::try_from(object.size).ok();
    }
    if wants(ObjectAttributes::STORAGE_CLASS) {
        out.storage_class = Some(StorageClass::from_static(StorageClass::STANDARD));
    }
    let c = &object.checksums;
    if wants(ObjectAttributes::CHECKSUM)
        && (c.crc32.is_some() || c.crc32c.is_some() || c.sha1.is_some() || c.sha256.is_some() || c.crc64nvme.is_some())
    {
        out.checksum = Some(Checksum {
            checksum_crc32: c.crc32.clone(),
            checksum_crc32c: c.crc32c.clone(),
            checksum_crc64nvme: c.crc64nvme.clone(),
            checksum_sha1: c.sha1.clone(),
            checksum_sha256: c.sha256.clone(),
            checksum_type: c.checksum_type.clone().map(ChecksumType::from),
        });
    }
    if wants(ObjectAttributes::OBJECT_PARTS) && !object.part_sizes.is_empty() {
        let marker = input.part_number_marker.and_then(|m| usize::try_from(m).ok()).unwrap_or(0);
        let max =
            input.max_parts.and_then(|m| usize::try_from(m).ok()).unwrap_or(DEFAULT_MAX_PARTS).min(DEFAULT_MAX_PARTS);
        let parts: Vec<ObjectPart> = object
            .part_sizes
            .iter()
            .enumerate()
            .skip(marker)
            .take(max)
            .map(|(i, size)| ObjectPart {
                part_number: i32::try_from(i + 1).ok(),
                size: i64::try_from(*size).ok(),
                ..Default::default()
            })
            .collect();
        let last = parts.last().and_then(|p| p.part_number);
        let truncated = marker + parts.len() < object.part_sizes.len();
        out.object_parts = Some(GetObjectAttributesParts {
            is_truncated: Some(truncated),
            max_parts: i32::try_from(max).ok(),
            next_part_number_marker: if truncated { last } else { None },
            part_number_marker: i32::try_from(marker).ok(),
            parts: Some(parts),
            total_parts_count: i32::try_from(object.part_sizes.len()).ok(),
        });
    }
    Ok(S3Response::new(out))
}
