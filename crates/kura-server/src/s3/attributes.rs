//! GetObjectAttributes: an object's ETag, size, checksum, storage class and parts, without its body
//! (an SSE-C object's only with its key, as HeadObject).

use super::KuraS3;
use super::lookup::require_object;
use super::meta::{etag, fill_checksums, has_checksums, timestamp};
use super::object_ref::ObjectRef;
use crate::errors;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

/// Most parts listed per response when the client asks for no limit (as AWS).
const DEFAULT_MAX_PARTS: usize = 1000;

/// The attribute names S3 knows, as they are spelt on the wire.
const KNOWN: [&str; 5] = [
    ObjectAttributes::ETAG,
    ObjectAttributes::CHECKSUM,
    ObjectAttributes::OBJECT_PARTS,
    ObjectAttributes::STORAGE_CLASS,
    ObjectAttributes::OBJECT_SIZE,
];

/// The attributes a request asks for. `x-amz-object-attributes` is a list header: the aws CLI and the
/// JS and Rust SDKs send one header of comma-separated names (`ETag,ObjectSize`), other clients repeat
/// the header; s3s keeps each header value whole, so each is split here. A name S3 does not know is
/// AWS's InvalidArgument.
fn requested(values: &[ObjectAttributes]) -> S3Result<Vec<&'static str>> {
    let mut wanted = Vec::new();
    for name in values.iter().flat_map(|v| v.as_str().split(',')).map(str::trim) {
        let known = KNOWN.iter().find(|k| k.eq_ignore_ascii_case(name)).ok_or_else(|| {
            errors::invalid_argument(format!(
                "Invalid attribute name specified: {:?}. Ask for ETag, Checksum, ObjectParts, StorageClass or ObjectSize.",
                name.chars().take(64).collect::<String>()
            ))
        })?;
        wanted.push(*known);
    }
    Ok(wanted)
}

pub(super) async fn get_object_attributes(
    s3: &KuraS3,
    req: S3Request<GetObjectAttributesInput>,
) -> S3Result<S3Response<GetObjectAttributesOutput>> {
    let input = req.input;
    let wanted = requested(&input.object_attributes)?;
    // As HeadObject: an SSE-C object's attributes are given only to whoever sends its key.
    super::sse::refuse_write_headers(&req.headers)?;
    let customer = super::sse::customer_key(&input)?;
    let target = ObjectRef::at_version(&input.bucket, &input.key, input.version_id.as_deref());
    let object = require_object(s3, target).await?;
    let who = req.extensions.get::<crate::authz::Authenticated>();
    super::encryption::check_record_read(s3, who, &input.bucket, &object, customer.as_ref()).await?;
    let wants = |name: &str| wanted.contains(&name);
    if wants(ObjectAttributes::CHECKSUM) || wants(ObjectAttributes::OBJECT_PARTS) {
        let kind = object.encryption.as_ref().map(|e| &e.kind);
        super::encryption::authorize_plaintext_digests(s3, who, (&input.bucket, &input.key), kind).await?;
    }
    super::encryption::audit_object(&req.extensions, &object);
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
    if wants(ObjectAttributes::CHECKSUM) && has_checksums(c) {
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
            .map(|(i, size)| {
                let mut part = ObjectPart {
                    part_number: i32::try_from(i + 1).ok(),
                    size: i64::try_from(*size).ok(),
                    ..Default::default()
                };
                if let Some(sums) = object.part_checksums.get(i) {
                    fill_checksums(&mut part, sums);
                }
                part
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
