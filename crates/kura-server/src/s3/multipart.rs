//! Multipart uploads: Create, UploadPart, UploadPartCopy, Complete, Abort, ListParts,
//! ListMultipartUploads. Completing never copies data: the parts become the object's segments.

use super::KuraS3;
use super::body::{BodyExpectations, ChecksumAlgo, declared_content_md5, ingest};
use super::bucket::require_bucket;
use super::checks::{check_key, check_metadata_size, parse_tagging_header};
use super::checksum::UploadChecksum;
use super::conditions::CopySourceConditions;
use super::encryption::{self, Sealing};
use super::list::Encoder;
use super::meta::{ObjectHeadersInput, etag, fill_checksums, initiator, new_object, owner, timestamp};
use super::object::{checksum_expectations, copy_bytes, read_copy_source};
use super::sse::SseOutput as _;
use crate::base::clock::now_ms;
use crate::errors::{self, StoreResultExt, store_error};
use kura_store::{BucketInfo as StoredBucket, ObjectMeta, PartInfo, Segment, StoreError, UploadInfo, UploadListQuery};
use md5::{Digest, Md5};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

/// S3's minimum size of every part but the last.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// S3's highest part number.
pub const MAX_PART_NUMBER: i32 = 10_000;

/// A new upload id: time-ordered (so uploads of one key list in initiation order) and unguessable.
fn new_upload_id() -> String {
    let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    format!("{:020x}{:032x}", nanos.max(0), uuid::Uuid::new_v4().as_u128())
}

/// Reads an upload and checks that it belongs to `key`.
async fn require_upload(s3: &KuraS3, bucket: &str, key: &str, upload_id: &str) -> S3Result<UploadInfo> {
    require_bucket(s3, bucket).await?;
    match s3.meta.get_upload(bucket, upload_id).await.or_s3()? {
        Some(u) if u.key == key => Ok(u),
        _ => Err(errors::no_such_upload()),
    }
}

fn check_part_number(n: i32) -> S3Result<u32> {
    if (1..=MAX_PART_NUMBER).contains(&n) {
        Ok(n.unsigned_abs())
    } else {
        Err(errors::invalid_argument("Part number must be an integer between 1 and 10000, inclusive."))
    }
}

pub(super) async fn create_multipart_upload(
    s3: &KuraS3,
    req: S3Request<CreateMultipartUploadInput>,
) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
    let input = req.input;
    check_key(&input.key)?;
    super::acl::check_canned(input.acl.as_ref().map(ObjectCannedACL::as_str))?;
    let bucket = super::bucket::require_loaded_bucket(s3, &req.extensions, &input.bucket).await?;
    let sse = super::sse::for_write(&input, bucket.settings.encryption.as_ref())?;
    let who = req.extensions.get::<crate::authz::Authenticated>();
    let sealing = Sealing::prepare(s3, who, (&input.bucket, &input.key), sse).await?;
    let lock_headers = super::object_lock::LockHeaders {
        mode: input.object_lock_mode.as_ref(),
        until: input.object_lock_retain_until_date.as_ref(),
        legal_hold: input.object_lock_legal_hold_status.as_ref(),
    };
    let headers = input.object_headers();
    check_metadata_size(&headers)?;
    let tags = input.tagging.as_deref().map(parse_tagging_header).transpose()?.unwrap_or_default();
    let object = (input.bucket.as_str(), input.key.as_str());
    super::object::authorize_write_extras(s3, who, object, !tags.is_empty(), lock_headers).await?;
    let lock = super::object_lock::lock_for_new_version(&bucket, lock_headers, now_ms())?;
    let declared = UploadChecksum::declared(
        input.checksum_algorithm.as_ref().map(ChecksumAlgorithm::as_str),
        input.checksum_type.as_ref().map(ChecksumType::as_str),
    )?;
    let upload = UploadInfo {
        upload_id: new_upload_id(),
        key: input.key.clone(),
        initiated_ms: now_ms(),
        headers,
        tags,
        checksum_algorithm: declared.map(|d| d.algo.name().to_owned()),
        checksum_type: declared.map(|d| d.type_name().to_owned()),
        lock,
        encryption: sealing.as_ref().map(|s| s.kind.clone()),
        customer_check: match &sealing {
            Some(sealing) => sealing.customer_check(&input.bucket, &input.key),
            None => None,
        },
    };
    let upload_id = upload.upload_id.clone();
    s3.meta.create_upload(&input.bucket, upload).await.or_s3()?;
    if let Some(sealing) = &sealing {
        encryption::audit(&req.extensions, &sealing.kind, None);
    }
    let mut out = CreateMultipartUploadOutput {
        bucket: Some(input.bucket),
        key: Some(input.key),
        upload_id: Some(upload_id),
        checksum_algorithm: input.checksum_algorithm,
        checksum_type: declared.map(|d| ChecksumType::from(d.type_name().to_owned())),
        ..Default::default()
    };
    if let Some(sealing) = &sealing {
        out.set_sse(sealing.response());
    }
    Ok(S3Response::new(out))
}

/// The checksum an upload declared at creation, if any.
fn upload_checksum(upload: &UploadInfo) -> S3Result<Option<UploadChecksum>> {
    UploadChecksum::declared(upload.checksum_algorithm.as_deref(), upload.checksum_type.as_deref())
}

/// The algorithm a part is checked with: the upload's, which a part may not change (S3's
/// InvalidRequest), nor leave out of a composite upload; parts of an upload that declared none may
/// name any (else kura's default).
fn part_algorithm(upload: &UploadInfo, sent: Option<ChecksumAlgo>) -> S3Result<Option<ChecksumAlgo>> {
    let Some(declared) = upload_checksum(upload)? else { return Ok(sent) };
    match sent {
        Some(a) if a != declared.algo => Err(mismatch(Some(declared.algo), Some(a))),
        None if !declared.full_object => Err(mismatch(Some(declared.algo), None)),
        _ => Ok(Some(declared.algo)),
    }
}

/// S3's answer to a part whose checksum algorithm is not its upload's.
fn mismatch(expected: Option<ChecksumAlgo>, actual: Option<ChecksumAlgo>) -> s3s::S3Error {
    let name = |a: Option<ChecksumAlgo>| a.map_or("null".to_owned(), |a| a.name().to_ascii_lowercase());
    errors::invalid_request(format!(
        "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
        name(expected),
        name(actual)
    ))
}

/// Records a part; if the upload vanished meanwhile, the new blob is reclaimed.
async fn commit_part(s3: &KuraS3, bucket: &str, upload_id: &str, part: PartInfo) -> S3Result<()> {
    let blob = part.blob;
    match s3.meta.put_part(bucket, upload_id, part).await {
        Ok(replaced) => {
            s3.reclaim(replaced.into_iter().collect()).await;
            Ok(())
        }
        Err(e) => {
            s3.reclaim(vec![blob]).await;
            Err(store_error(e))
        }
    }
}

pub(super) async fn upload_part(
    s3: &KuraS3,
    req: S3Request<UploadPartInput>,
) -> S3Result<S3Response<UploadPartOutput>> {
    let S3Request { mut input, headers, trailing_headers, extensions, .. } = req;
    let number = check_part_number(input.part_number)?;
    let content_md5 = declared_content_md5(&headers, input.content_md5.as_ref())?;
    let customer = super::sse::customer_key(&input)?;
    let upload = require_upload(s3, &input.bucket, &input.key, &input.upload_id).await?;
    let who = extensions.get::<crate::authz::Authenticated>();
    let sealing = part_sealing(s3, who, (&input.bucket, &input.key), &upload, customer).await?;
    let body_key = encryption::body_key_for(s3, sealing.as_ref(), (&input.bucket, &input.key)).await?;
    let (sent, expected) = checksum_expectations(
        &headers,
        input.checksum_algorithm.as_ref(),
        [
            (ChecksumAlgo::Crc32, input.checksum_crc32.as_ref()),
            (ChecksumAlgo::Crc32c, input.checksum_crc32c.as_ref()),
            (ChecksumAlgo::Crc64Nvme, input.checksum_crc64nvme.as_ref()),
            (ChecksumAlgo::Sha1, input.checksum_sha1.as_ref()),
            (ChecksumAlgo::Sha256, input.checksum_sha256.as_ref()),
        ],
    )?;
    let algo = part_algorithm(&upload, sent)?;
    let expect = BodyExpectations { content_md5, algo, expected, length: None };
    let seal = body_key.as_ref().map(|k| &k.key);
    let written = ingest(s3.blobs.as_ref(), input.body.take(), &expect, trailing_headers.as_ref(), seal).await?;
    let etag_hex = encryption::etag_for(sealing.as_ref(), body_key.as_ref(), written.md5_hex);
    let part = PartInfo {
        number,
        etag: etag_hex.clone(),
        size: written.body.size,
        blob: written.body.blob,
        last_modified_ms: now_ms(),
        checksums: written.checksums.clone(),
        key: body_key.map(|k| k.stored),
    };
    audit_part(&extensions, sealing.as_ref(), &part);
    commit_part(s3, &input.bucket, &input.upload_id, part).await?;
    let mut out = UploadPartOutput { e_tag: Some(etag(&etag_hex)), ..Default::default() };
    fill_checksums(&mut out, &written.checksums);
    if let Some(sealing) = &sealing {
        out.set_sse(sealing.response());
    }
    Ok(S3Response::new(out))
}

/// How a part of `upload` is encrypted (`None`: the upload is not); SSE-C parts must send the key.
/// Checks the SSE-C key a request brings against its upload's ([`encryption::check_upload_customer`]):
/// the upload's own key for an SSE-C upload, none for any other.
fn check_upload_key(
    upload: &UploadInfo,
    customer: Option<&super::sse::CustomerKey>,
    object: (&str, &str),
) -> S3Result<()> {
    encryption::check_upload_customer(upload.encryption.as_ref(), upload.customer_check.as_ref(), customer, object)
}

async fn part_sealing(
    s3: &KuraS3,
    who: Option<&crate::authz::Authenticated>,
    object: (&str, &str),
    upload: &UploadInfo,
    customer: Option<super::sse::CustomerKey>,
) -> S3Result<Option<Sealing>> {
    check_upload_key(upload, customer.as_ref(), object)?;
    match &upload.encryption {
        Some(kind) => Ok(Some(Sealing::for_upload(s3, who, object, kind, customer).await?)),
        None => Ok(None),
    }
}

/// Records a part's encryption (its kind, its data key's wrapping key) in the request's audit line.
fn audit_part(extensions: &http::Extensions, sealing: Option<&Sealing>, part: &PartInfo) {
    if let Some(sealing) = sealing {
        encryption::audit(extensions, &sealing.kind, part.key.as_ref());
    }
}

/// Parses `x-amz-copy-source-range: bytes=first-last` against the source size (half-open result).
fn copy_range(header: Option<&str>, size: u64) -> S3Result<std::ops::Range<u64>> {
    let Some(h) = header else { return Ok(0..size) };
    let bad = || errors::invalid_argument("The x-amz-copy-source-range value must be of the form bytes=first-last.");
    let (first, last) = h.trim().strip_prefix("bytes=").and_then(|r| r.split_once('-')).ok_or_else(bad)?;
    let first: u64 = first.trim().parse().map_err(|_| bad())?;
    let last: u64 = last.trim().parse().map_err(|_| bad())?;
    if first > last || last >= size {
        return Err(errors::invalid_range(format!(
            "The x-amz-copy-source-range {h:?} is not satisfiable: the source is {size} bytes."
        )));
    }
    Ok(first..last + 1)
}

pub(super) async fn upload_part_copy(
    s3: &KuraS3,
    req: S3Request<UploadPartCopyInput>,
) -> S3Result<S3Response<UploadPartCopyOutput>> {
    let input = req.input;
    let number = check_part_number(input.part_number)?;
    let upload = require_upload(s3, &input.bucket, &input.key, &input.upload_id).await?;
    let who = req.extensions.get::<crate::authz::Authenticated>();
    let (source, hold) = read_copy_source(s3, who, &input.copy_source, input.copy_source_conditions()).await?;
    let named = super::object_ref::ObjectRef::copy_source(&input.copy_source)?.version_id();
    let copy_source_version_id = super::versioning::read_header(&source, named);
    let range = copy_range(input.copy_source_range.as_deref(), source.size)?;
    let algo = upload_checksum(&upload)?.map(|d| d.algo);
    let from = super::object_ref::ObjectRef::copy_source(&input.copy_source)?;
    let source_customer = super::sse::copy_source_customer_key(&input)?;
    let source_keys = encryption::open_keys(s3, who, from.bucket, &source, source_customer.as_ref()).await?;
    encryption::audit_copy_source(&req.extensions, &source);
    let customer = super::sse::customer_key(&input)?;
    let sealing = part_sealing(s3, who, (&input.bucket, &input.key), &upload, customer).await?;
    let body_key = encryption::body_key_for(s3, sealing.as_ref(), (&input.bucket, &input.key)).await?;
    let through = (source_keys.as_deref(), body_key.as_ref().map(|k| &k.key));
    let written = copy_bytes(s3, (&source, hold), range, algo, through).await?;
    let etag_hex = encryption::etag_for(sealing.as_ref(), body_key.as_ref(), written.md5_hex);
    let last_modified = now_ms();
    let part = PartInfo {
        number,
        etag: etag_hex.clone(),
        size: written.body.size,
        blob: written.body.blob,
        last_modified_ms: last_modified,
        checksums: written.checksums.clone(),
        key: body_key.map(|k| k.stored),
    };
    audit_part(&req.extensions, sealing.as_ref(), &part);
    commit_part(s3, &input.bucket, &input.upload_id, part).await?;
    let mut result = CopyPartResult {
        e_tag: Some(etag(&etag_hex)),
        last_modified: Some(timestamp(last_modified)),
        ..Default::default()
    };
    fill_checksums(&mut result, &written.checksums);
    let mut out = UploadPartCopyOutput { copy_part_result: Some(result), copy_source_version_id, ..Default::default() };
    if let Some(sealing) = &sealing {
        out.set_sse(sealing.response());
    }
    Ok(S3Response::new(out))
}

/// The checksum headers of a CompleteMultipartUpload request: at most one object checksum, and the
/// type the client expects.
struct CompleteChecksums {
    declared: Option<(ChecksumAlgo, String)>,
    checksum_type: Option<String>,
}

impl CompleteChecksums {
    fn of(input: &CompleteMultipartUploadInput) -> S3Result<Self> {
        let sent: Vec<(ChecksumAlgo, String)> = [
            (ChecksumAlgo::Crc32, &input.checksum_crc32),
            (ChecksumAlgo::Crc32c, &input.checksum_crc32c),
            (ChecksumAlgo::Crc64Nvme, &input.checksum_crc64nvme),
            (ChecksumAlgo::Sha1, &input.checksum_sha1),
            (ChecksumAlgo::Sha256, &input.checksum_sha256),
        ]
        .into_iter()
        .filter_map(|(a, v)| v.clone().map(|v| (a, v)))
        .collect();
        if sent.len() > 1 {
            return Err(errors::invalid_request(
                "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
            ));
        }
        Ok(Self {
            declared: sent.into_iter().next(),
            checksum_type: input.checksum_type.as_ref().map(|t| t.as_str().to_owned()),
        })
    }
}

/// The object checksum of a completed upload, checked against what the client declared: the
/// checksum type must be the upload's (S3: BadDigest), a checksum of another algorithm than the
/// upload's is InvalidRequest, and a value that differs from the computed one BadDigest.
fn completed_checksums(
    upload: &UploadInfo,
    sent: &CompleteChecksums,
    parts: &[&PartInfo],
) -> S3Result<kura_store::Checksums> {
    let declared = upload_checksum(upload)?;
    let effective = declared.or_else(|| super::checksum::inferred(parts));
    if let Some(t) = sent.checksum_type.as_deref()
        && Some(t) != effective.map(UploadChecksum::type_name)
    {
        return Err(errors::bad_digest(format!(
            "The upload was created using the {} checksum mode. The complete request must use the same checksum mode.",
            effective.map_or("null", UploadChecksum::type_name)
        )));
    }
    let checksums = effective.map(|e| super::checksum::object_checksums(e, parts)).unwrap_or_default();
    if let Some((algo, value)) = &sent.declared {
        match effective {
            Some(e) if e.algo == *algo => {
                super::checksum::verify_declared(*algo, value, algo.get(&checksums).map(String::as_str))?;
            }
            _ => return Err(mismatch(effective.map(|e| e.algo), Some(*algo))),
        }
    }
    Ok(checksums)
}

pub(super) async fn complete_multipart_upload(
    s3: &KuraS3,
    req: S3Request<CompleteMultipartUploadInput>,
) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
    let S3Request { input, headers, extensions, .. } = req;
    let customer = super::sse::customer_key_from_headers(&headers)?;
    let bucket = super::bucket::require_loaded_bucket(s3, &extensions, &input.bucket).await?;
    let upload = match s3.meta.get_upload(&input.bucket, &input.upload_id).await.or_s3()? {
        Some(u) if u.key == input.key => u,
        _ => return completed_before(s3, &bucket, &input.key, &input.upload_id).await,
    };
    // As UploadPart: an SSE-C upload completes only with its own customer key.
    let object_name = (input.bucket.as_str(), input.key.as_str());
    check_upload_key(&upload, customer.as_ref(), object_name)?;
    let input_checksums = CompleteChecksums::of(&input)?;
    let requested = input.multipart_upload.and_then(|m| m.parts).unwrap_or_default();
    if requested.is_empty() {
        return Err(errors::malformed_xml("You must specify at least one part to complete a multipart upload."));
    }
    let stored = s3.meta.list_parts(&input.bucket, &input.upload_id, 0, MAX_PART_NUMBER as usize).await.or_s3()?;
    let mut used: Vec<&PartInfo> = Vec::with_capacity(requested.len());
    let mut previous = 0u32;
    for p in &requested {
        let n = p.part_number.ok_or_else(|| errors::invalid_part("Every part must name its PartNumber."))?;
        let n = check_part_number(n)?;
        if n <= previous {
            return Err(errors::invalid_part_order());
        }
        previous = n;
        let found = stored.iter().find(|s| s.number == n);
        let wanted_etag = p.e_tag.as_ref().map(|e| e.value().trim_matches('"').to_owned());
        let part = match (found, wanted_etag) {
            (Some(s), Some(e)) if s.etag == e => s,
            _ => {
                return Err(errors::invalid_part(format!(
                    "Part {n} could not be found or its ETag does not match: upload it again or fix the ETag."
                )));
            }
        };
        used.push(part);
    }
    if let Some(small) = used.iter().rev().skip(1).find(|p| p.size < MIN_PART_SIZE) {
        return Err(errors::entity_too_small(format!(
            "Part {} is {} bytes: every part but the last must be at least 5 MiB.",
            small.number, small.size
        )));
    }
    let condition = super::object::write_condition(input.if_match.as_ref(), input.if_none_match.as_ref())?;
    let mut md5_concat = Md5::new();
    for p in &used {
        md5_concat.update(hex::decode(&p.etag).unwrap_or_default());
    }
    let etag_value = format!("{}-{}", hex::encode(md5_concat.finalize()), used.len());
    let size: u64 = used.iter().map(|p| p.size).sum();
    let checksums = completed_checksums(&upload, &input_checksums, &used)?;
    super::object_lock::guard_overwrite(s3, &bucket, &input.key).await?;
    let mut object = new_object(input.key.clone(), size, etag_value.clone(), upload.headers, upload.tags);
    object.lock = upload.lock;
    object.segments = used.iter().map(|p| Segment { blob: p.blob, size: p.size }).collect();
    object.part_sizes = used.iter().map(|p| p.size).collect();
    if used.iter().any(|p| super::meta::has_checksums(&p.checksums)) {
        object.part_checksums = used.iter().map(|p| p.checksums.clone()).collect();
    }
    object.checksums = checksums.clone();
    object.upload_id = Some(input.upload_id.clone());
    if let Some(kind) = upload.encryption {
        // Every part of an encrypted upload was sealed under its own key: the object keeps them in order.
        let keys = used.iter().map(|p| p.key.clone()).collect::<Option<Vec<_>>>().ok_or_else(|| {
            errors::internal_error("A part of this encrypted upload has no data key; upload the part again.")
        })?;
        object.encryption = Some(kura_store::ObjectEncryption { kind, keys });
    }
    super::versioning::stamp(&mut object, &bucket);
    let mut answer = completed(&bucket, &object);
    let sse = object
        .encryption
        .as_ref()
        .map(|e| super::sse::response(&e.kind, customer.as_ref().map(|c| c.key_md5.as_str())));
    encryption::audit_object(&extensions, &object);
    let freed = match s3.meta.complete_upload_if(&input.bucket, &input.upload_id, object, &condition).await {
        Ok(freed) => freed,
        // Completed by a concurrent request since it was read: answered as a repeat.
        Err(StoreError::NoSuchUpload(_)) => {
            return completed_before(s3, &bucket, &input.key, &input.upload_id).await;
        }
        Err(e) => return Err(store_error(e)),
    };
    s3.reclaim(freed).await;
    let customer_headers = sse.as_ref().map(super::sse::customer_response_headers).unwrap_or_default();
    if let Some(sse) = sse {
        answer.set_sse(sse);
    }
    let mut response = S3Response::new(answer);
    response.headers.extend(customer_headers);
    Ok(response)
}

/// What CompleteMultipartUpload answers for the object an upload created.
fn completed(bucket: &StoredBucket, object: &ObjectMeta) -> CompleteMultipartUploadOutput {
    let mut out = CompleteMultipartUploadOutput {
        bucket: Some(bucket.name.clone()),
        key: Some(object.key.clone()),
        e_tag: Some(etag(&object.etag)),
        location: Some(format!("/{}/{}", bucket.name, object.key)),
        version_id: super::versioning::reported(bucket, object),
        ..Default::default()
    };
    fill_checksums(&mut out, &object.checksums);
    out
}

/// A CompleteMultipartUpload of an upload that is not in progress. As AWS: if the upload already
/// completed and the object it created is still the key's current object (it records the upload id),
/// the answer is that object again, and nothing is written; otherwise NoSuchUpload.
async fn completed_before(
    s3: &KuraS3,
    bucket: &StoredBucket,
    key: &str,
    upload_id: &str,
) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
    match s3.meta.get_object_record(&bucket.name, key).await.or_s3()? {
        Some(object) if object.upload_id.as_deref() == Some(upload_id) => {
            Ok(S3Response::new(completed(bucket, &object)))
        }
        _ => Err(errors::no_such_upload()),
    }
}

pub(super) async fn abort_multipart_upload(
    s3: &KuraS3,
    req: S3Request<AbortMultipartUploadInput>,
) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
    let input = req.input;
    require_upload(s3, &input.bucket, &input.key, &input.upload_id).await?;
    let freed = s3.meta.abort_upload(&input.bucket, &input.upload_id).await.or_s3()?;
    s3.reclaim(freed).await;
    Ok(super::status::with_status(AbortMultipartUploadOutput::default(), http::StatusCode::NO_CONTENT))
}

pub(super) async fn list_parts(s3: &KuraS3, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
    let input = req.input;
    let upload = require_upload(s3, &input.bucket, &input.key, &input.upload_id).await?;
    // The parts' checksums tell what an SSE-KMS upload's plaintext is: they need kms:Decrypt.
    let who = req.extensions.get::<crate::authz::Authenticated>();
    let object = (input.bucket.as_str(), input.key.as_str());
    encryption::authorize_plaintext_digests(s3, who, object, upload.encryption.as_ref()).await?;
    // An SSE-C upload's checksums give its plaintext away just as well (a short part's CRC64NVME is
    // the part): they are listed only for a request that brings the upload's key, which is checked.
    let customer = super::sse::customer_key(&input)?;
    let customer_upload = matches!(upload.encryption, Some(kura_store::SseKind::Customer));
    if customer.is_some() || !customer_upload {
        check_upload_key(&upload, customer.as_ref(), object)?;
    }
    let show_checksums = !customer_upload || customer.is_some();
    let max = super::list::page_size(input.max_parts, "max-parts")?;
    let after = input.part_number_marker.map_or(0, |m| m.max(0).unsigned_abs());
    let mut parts = s3.meta.list_parts(&input.bucket, &input.upload_id, after, max + 1).await.or_s3()?;
    let is_truncated = parts.len() > max;
    parts.truncate(max);
    let next = parts.last().map(|p| p.number as i32);
    let parts = parts
        .into_iter()
        .map(|p| {
            let mut part = Part {
                e_tag: Some(etag(&p.etag)),
                last_modified: Some(timestamp(p.last_modified_ms)),
                part_number: i32::try_from(p.number).ok(),
                size: i64::try_from(p.size).ok(),
                ..Default::default()
            };
            if show_checksums {
                fill_checksums(&mut part, &p.checksums);
            }
            part
        })
        .collect();
    Ok(S3Response::new(ListPartsOutput {
        bucket: Some(input.bucket),
        key: Some(input.key),
        upload_id: Some(input.upload_id),
        part_number_marker: input.part_number_marker,
        next_part_number_marker: next,
        max_parts: Some(max as i32),
        is_truncated: Some(is_truncated),
        parts: Some(parts),
        owner: Some(owner()),
        initiator: Some(initiator()),
        storage_class: Some(StorageClass::from("STANDARD".to_owned())),
        checksum_algorithm: upload.checksum_algorithm.map(ChecksumAlgorithm::from),
        checksum_type: upload.checksum_type.map(ChecksumType::from),
        ..Default::default()
    }))
}

pub(super) async fn list_multipart_uploads(
    s3: &KuraS3,
    req: S3Request<ListMultipartUploadsInput>,
) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
    let input = req.input;
    let enc = Encoder::new(input.encoding_type.as_ref())?;
    require_bucket(s3, &input.bucket).await?;
    let max = super::list::page_size(input.max_uploads, "max-uploads")?;
    let query = UploadListQuery {
        prefix: input.prefix.clone().unwrap_or_default(),
        delimiter: input.delimiter.clone().filter(|d| !d.is_empty()),
        key_marker: input.key_marker.clone().filter(|k| !k.is_empty()),
        upload_id_marker: input.upload_id_marker.clone().filter(|u| !u.is_empty()),
        max,
    };
    let page = s3.meta.list_uploads(&input.bucket, &query).await.or_s3()?;
    let (next_key_marker, next_upload_id_marker) = match page.uploads.last() {
        Some(u) if page.is_truncated => (Some(u.key.clone()), Some(u.upload_id.clone())),
        _ => (None, None),
    };
    let uploads = page
        .uploads
        .into_iter()
        .map(|u| MultipartUpload {
            key: Some(enc.apply(u.key)),
            upload_id: Some(u.upload_id),
            initiated: Some(timestamp(u.initiated_ms)),
            owner: Some(owner()),
            initiator: Some(initiator()),
            storage_class: Some(StorageClass::from("STANDARD".to_owned())),
            checksum_algorithm: u.checksum_algorithm.map(ChecksumAlgorithm::from),
            checksum_type: u.checksum_type.map(ChecksumType::from),
        })
        .collect();
    Ok(S3Response::new(ListMultipartUploadsOutput {
        bucket: Some(input.bucket),
        // As AWS's documentation: with encoding-type=url, Delimiter, KeyMarker, Prefix, NextKeyMarker
        // and Key are encoded (and the common prefixes, which are keys' beginnings).
        prefix: enc.opt(input.prefix),
        delimiter: enc.opt(input.delimiter),
        key_marker: enc.opt(input.key_marker),
        upload_id_marker: input.upload_id_marker,
        max_uploads: Some(max as i32),
        is_truncated: Some(page.is_truncated),
        next_key_marker: enc.opt(next_key_marker),
        next_upload_id_marker,
        uploads: Some(uploads),
        common_prefixes: Some(page.prefixes.into_iter().map(|p| CommonPrefix { prefix: Some(enc.apply(p)) }).collect()),
        encoding_type: input.encoding_type,
        ..Default::default()
    }))
}
