//! Object operations: PutObject, GetObject, HeadObject, DeleteObject, DeleteObjects, CopyObject.
//! Writes take their Object Lock from [`object_lock`]; removals ask it first.

use super::KuraS3;
use super::body::{
    BodyExpectations, ChecksumAlgo, StoredBody, WrittenBody, declared_content_md5, egress, ingest, ingest_object,
};
use super::bucket::require_loaded_bucket;
use super::checks::{check_key, check_metadata_size, parse_tagging_header};
use super::conditions::{CopySourceConditions, Preconditions, ReadConditions};
use super::encryption::{self, Sealing};
use super::lookup::{Reading, find_object, require_object};
use super::meta::{ObjectDescription, ObjectHeadersInput, etag, fill_checksums, new_object, timestamp};
use super::object_lock::{self, LockHeaders};
use super::object_ref::{ObjectRef, VersionId};
use super::sse::SseOutput as _;
use super::versioning;
use crate::base::clock::now_ms;
use crate::errors::{self, StoreResultExt};
use kura_crypt::DataKey;
use kura_store::{Checksums, ObjectMeta};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

/// Works out which checksum a request asks for: an explicit algorithm, a checksum header's presence,
/// or an `x-amz-trailer` announcing one.
pub(super) fn checksum_expectations(
    headers: &http::HeaderMap,
    algorithm: Option<&ChecksumAlgorithm>,
    values: [(ChecksumAlgo, Option<&String>); 5],
) -> S3Result<(Option<ChecksumAlgo>, Option<String>)> {
    if values.iter().filter(|(_, v)| v.is_some()).count() > 1 {
        return Err(errors::invalid_request(
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
        ));
    }
    if let Some((algo, value)) = values.iter().find_map(|(a, v)| v.map(|v| (*a, v.clone()))) {
        return Ok((Some(algo), Some(value)));
    }
    if let Some(a) = algorithm {
        return Ok((Some(ChecksumAlgo::parse(a.as_str())?), None));
    }
    if let Some(trailer) = headers.get("x-amz-trailer").and_then(|v| v.to_str().ok()) {
        let name = trailer.trim().to_ascii_lowercase();
        if let Some(algo) = name.strip_prefix("x-amz-checksum-") {
            return Ok((Some(ChecksumAlgo::parse(algo)?), None));
        }
    }
    Ok((None, None))
}

/// Rejects a conditional write whose condition does not hold against the current object now, before
/// its body is read (the commit checks it again, in its transaction, against racing writers).
async fn check_write_condition(
    s3: &KuraS3,
    bucket: &str,
    key: &str,
    condition: &kura_store::WriteCondition,
) -> S3Result<()> {
    if *condition == kura_store::WriteCondition::Always {
        return Ok(());
    }
    let current = s3.meta.get_object_record(bucket, key).await.or_s3()?;
    condition.check(bucket, key, current.as_ref()).or_s3()
}

/// The store's write condition for a write's `If-Match` / `If-None-Match` (S3 conditional writes:
/// `If-None-Match: *` creates only, `If-Match: ETAG` replaces only that version, `If-Match: *` only
/// replaces, `If-None-Match: ETAG` never replaces that version).
pub(super) fn write_condition(
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
) -> S3Result<kura_store::WriteCondition> {
    use kura_store::WriteCondition;
    match (if_match, if_none_match) {
        (None, None) => Ok(WriteCondition::Always),
        (Some(_), Some(_)) => Err(errors::invalid_argument("Give If-Match or If-None-Match on a write, not both.")),
        (None, Some(ETagCondition::Any)) => Ok(WriteCondition::IfAbsent),
        (None, Some(ETagCondition::ETag(e))) => Ok(WriteCondition::IfNotEtag(e.value().to_owned())),
        (Some(ETagCondition::ETag(e)), None) => Ok(WriteCondition::IfEtag(e.value().to_owned())),
        (Some(ETagCondition::Any), None) => Ok(WriteCondition::IfPresent),
    }
}

/// Commits `object` if `condition` holds (checked in the commit's transaction); on failure the new
/// blobs are reclaimed so nothing leaks.
pub(super) async fn commit_object(
    s3: &KuraS3,
    bucket: &str,
    object: ObjectMeta,
    condition: &kura_store::WriteCondition,
) -> S3Result<()> {
    // Spawned, so that it runs to its end when the client goes away and the request is dropped: else a
    // commit that went through (the store works on its own thread) would never reclaim what it replaced,
    // and one that did not would leave the new blobs, orphans until the next start.
    let (meta, blobs) = (s3.meta.clone(), s3.blobs.clone());
    let (bucket, condition) = (bucket.to_owned(), condition.clone());
    let commit = crate::trace::spawn(async move {
        let new_blobs = object.blobs();
        let (outcome, unused) = match meta.put_object_if(&bucket, object, &condition).await {
            Ok(replaced) => (Ok(()), replaced),
            Err(e) => (Err(e), new_blobs),
        };
        if !unused.is_empty() {
            blobs.reclaim(unused).await;
        }
        outcome
    });
    match commit.await {
        Ok(outcome) => outcome.map_err(crate::errors::store_error),
        Err(e) => Err(crate::errors::internal_error(format!("the commit did not finish: {e}"))),
    }
}

pub(super) async fn put_object(s3: &KuraS3, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
    let S3Request { mut input, headers, trailing_headers, method, extensions, .. } = req;
    check_key(&input.key)?;
    let content_md5 = declared_content_md5(&headers, input.content_md5.as_ref())?;
    let bucket = require_loaded_bucket(s3, &extensions, &input.bucket).await?;
    let posted;
    let mut who = extensions.get::<crate::authz::Authenticated>();
    if method == http::Method::POST
        && let Some(access) = &s3.access
    {
        // A browser POST names its key, and the fields its condition keys come from, in the form,
        // which the access hook cannot see.
        if let Some(slot) = extensions.get::<crate::audit::AuditSlot>() {
            slot.fill(|f| f.key = Some(input.key.clone()));
        }
        posted = who.map(|w| w.with_post_form(&input));
        who = posted.as_ref();
        access.decide_object(who, "s3:PutObject", &bucket, (&input.key, None)).await?;
    }
    let object_headers = input.object_headers();
    check_metadata_size(&object_headers)?;
    let tags = input.tagging.as_deref().map(parse_tagging_header).transpose()?.unwrap_or_default();
    super::acl::check_canned(input.acl.as_ref().map(ObjectCannedACL::as_str))?;
    let lock_headers = LockHeaders {
        mode: input.object_lock_mode.as_ref(),
        until: input.object_lock_retain_until_date.as_ref(),
        legal_hold: input.object_lock_legal_hold_status.as_ref(),
    };
    authorize_write_extras(s3, who, (&input.bucket, &input.key), !tags.is_empty(), lock_headers).await?;
    let lock = object_lock::lock_for_new_version(&bucket, lock_headers, now_ms())?;
    let condition = write_condition(input.if_match.as_ref(), input.if_none_match.as_ref())?;
    // Fail early, before the body is read; the commit checks again, atomically.
    check_write_condition(s3, &input.bucket, &input.key, &condition).await?;
    object_lock::guard_overwrite(s3, &bucket, &input.key).await?;
    let (algo, expected) = checksum_expectations(
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
    if object_lock::needs_integrity_check(&lock, lock_headers) && content_md5.is_none() && algo.is_none() {
        return Err(object_lock::integrity_required());
    }
    let sse = super::sse::for_write(&input, bucket.settings.encryption.as_ref())?;
    let sealing = Sealing::prepare(s3, who, (&input.bucket, &input.key), sse).await?;
    let body_key = encryption::body_key_for(s3, sealing.as_ref(), (&input.bucket, &input.key)).await?;
    let expect = BodyExpectations { content_md5, algo, expected, length: None };
    let seal = body_key.as_ref().map(|k| &k.key);
    let written = ingest_object(s3.blobs.as_ref(), input.body.take(), &expect, trailing_headers.as_ref(), seal).await?;
    let WrittenBody { body, md5_hex, checksums } = written;
    let size = body.size();
    let etag_hex = encryption::etag_for(sealing.as_ref(), body_key.as_ref(), md5_hex);
    let mut object = new_object(input.key, size, etag_hex.clone(), object_headers, tags);
    body.attach(&mut object);
    if let (Some(sealing), Some(k)) = (&sealing, body_key) {
        object.encryption = Some(sealing.record(vec![k.stored]));
    }
    object.checksums = checksums.clone();
    object.lock = lock;
    versioning::stamp(&mut object, &bucket);
    let version_id = versioning::reported(&bucket, &object);
    let expiration = super::lifecycle::expiration(s3, &bucket, &object);
    encryption::audit_object(&extensions, &object);
    commit_object(s3, &input.bucket, object, &condition).await?;
    let mut out = PutObjectOutput {
        expiration,
        e_tag: Some(etag(&etag_hex)),
        size: i64::try_from(size).ok(),
        version_id,
        ..Default::default()
    };
    fill_checksums(&mut out, &checksums);
    if let Some(sealing) = &sealing {
        out.set_sse(sealing.response());
    }
    Ok(S3Response::new(out))
}

/// Authorises what a new object's write sets besides its body (PutObject, a POST form, CopyObject,
/// CreateMultipartUpload): its tags need `s3:PutObjectTagging`, a retention `s3:PutObjectRetention`,
/// a legal hold `s3:PutObjectLegalHold`, on the object written, as if set on their own.
pub(super) async fn authorize_write_extras(
    s3: &KuraS3,
    who: Option<&crate::authz::Authenticated>,
    (bucket, key): (&str, &str),
    sets_tags: bool,
    lock: LockHeaders<'_>,
) -> S3Result<()> {
    let Some(access) = &s3.access else { return Ok(()) };
    let actions = kura_policy::s3::write_extras(
        sets_tags,
        lock.mode.is_some() || lock.until.is_some(),
        lock.legal_hold.is_some(),
    );
    access.decide_extras(who, (bucket, Some(key)), &actions).await
}

/// The byte range a GET/HEAD selects (half-open) and whether it is partial, from `Range` or `partNumber`.
fn select_range(
    object: &ObjectMeta,
    range: Option<&Range>,
    part_number: Option<i32>,
) -> S3Result<(std::ops::Range<u64>, bool)> {
    if let Some(n) = part_number {
        let sizes: Vec<u64> = if object.part_sizes.is_empty() { vec![object.size] } else { object.part_sizes.clone() };
        let idx = usize::try_from(n).ok().filter(|n| (1..=sizes.len()).contains(n)).ok_or_else(|| {
            // As S3: a part number past the last part is InvalidPart (400).
            errors::invalid_part(format!(
                "The requested part number {n} does not exist: the object has {} part(s).",
                sizes.len()
            ))
        })?;
        let start: u64 = sizes[..idx - 1].iter().sum();
        // A part is a range, as on S3, even part 1 of a single-part object (206 with Content-Range);
        // an empty object has no byte a range could name.
        return Ok((start..start + sizes[idx - 1], !object.part_sizes.is_empty() || object.size > 0));
    }
    match range {
        None => Ok((0..object.size, false)),
        Some(r) => {
            let r = r.check(object.size).map_err(|_| {
                errors::invalid_range(format!(
                    "The requested range is not satisfiable: the object is {} bytes.",
                    object.size
                ))
            })?;
            Ok((r, true))
        }
    }
}

/// The `response-*` query parameters of a GET or HEAD, which replace stored headers in its response.
struct ResponseOverrides<'a> {
    content_type: Option<&'a String>,
    content_encoding: Option<&'a String>,
    content_disposition: Option<&'a String>,
    content_language: Option<&'a String>,
    cache_control: Option<&'a String>,
    expires: Option<&'a Timestamp>,
}

impl ResponseOverrides<'_> {
    /// Refuses them for an anonymous caller, as AWS does (400 InvalidRequest): whoever may read a public
    /// object unsigned may not make kura serve it as another type or disposition (an attachment made an
    /// inline HTML page on kura's origin, a link anyone can hand out).
    fn refuse_for_anonymous(&self, who: Option<&crate::authz::Authenticated>) -> S3Result<()> {
        let anonymous = who.is_some_and(|w| matches!(w.caller, crate::base::caller::Caller::Anonymous));
        let any = self.content_type.is_some()
            || self.content_encoding.is_some()
            || self.content_disposition.is_some()
            || self.content_language.is_some()
            || self.cache_control.is_some()
            || self.expires.is_some();
        if anonymous && any {
            return Err(errors::invalid_request(
                "Request specific response headers cannot be used for anonymous GET requests: sign the request \
                 (or presign a URL) to use response-content-type and the other response-* parameters.",
            ));
        }
        Ok(())
    }

    /// Replaces the headers of `d` that a parameter names.
    fn apply(&self, d: &mut ObjectDescription) {
        fn replace<T: Clone>(header: &mut Option<T>, with: Option<&T>) {
            if let Some(v) = with {
                *header = Some(v.clone());
            }
        }
        replace(&mut d.content_type, self.content_type);
        replace(&mut d.content_encoding, self.content_encoding);
        replace(&mut d.content_disposition, self.content_disposition);
        replace(&mut d.content_language, self.content_language);
        replace(&mut d.cache_control, self.cache_control);
        replace(&mut d.expires, self.expires);
    }
}

/// GetObject and HeadObject inputs, which carry the `response-*` parameters: s3s generates both with
/// the same field names but no common trait, so each names its fields once here.
trait ResponseOverridesInput {
    /// The request's `response-*` parameters.
    fn response_overrides(&self) -> ResponseOverrides<'_>;
}

impl ResponseOverridesInput for GetObjectInput {
    fn response_overrides(&self) -> ResponseOverrides<'_> {
        ResponseOverrides {
            content_type: self.response_content_type.as_ref(),
            content_encoding: self.response_content_encoding.as_ref(),
            content_disposition: self.response_content_disposition.as_ref(),
            content_language: self.response_content_language.as_ref(),
            cache_control: self.response_cache_control.as_ref(),
            expires: self.response_expires.as_ref(),
        }
    }
}

impl ResponseOverridesInput for HeadObjectInput {
    fn response_overrides(&self) -> ResponseOverrides<'_> {
        ResponseOverrides {
            content_type: self.response_content_type.as_ref(),
            content_encoding: self.response_content_encoding.as_ref(),
            content_disposition: self.response_content_disposition.as_ref(),
            content_language: self.response_content_language.as_ref(),
            cache_control: self.response_cache_control.as_ref(),
            expires: self.response_expires.as_ref(),
        }
    }
}

/// What a GET or HEAD reads: the object, the selected range, and whether it is partial.
struct ReadPlan {
    object: ObjectMeta,
    range: std::ops::Range<u64>,
    partial: bool,
}

/// What a GetObject or HeadObject asks to read, by name.
struct ReadRequest<'a> {
    /// The object, at the version the request names.
    object: ObjectRef<'a>,
    /// Its `If-*` preconditions.
    conditions: Preconditions<'a>,
    /// Its `Range` header.
    range: Option<&'a Range>,
    /// Its `partNumber` parameter (which selects a part instead of a range).
    part_number: Option<i32>,
    /// What to load: HEAD sends no body, so it reads the record only.
    reading: Reading,
}

/// GetObject and HeadObject name what they read with the same fields.
trait ReadInput {
    /// What the request asks to read, loading what `reading` says.
    fn read_request(&self, reading: Reading) -> ReadRequest<'_>;
}

/// Implements [`ReadInput`] for the two inputs; a macro because only the type differs.
macro_rules! read_input {
    ($($input:ty),*) => {$(
        impl ReadInput for $input {
            fn read_request(&self, reading: Reading) -> ReadRequest<'_> {
                ReadRequest {
                    object: ObjectRef::at_version(&self.bucket, &self.key, self.version_id.as_deref()),
                    conditions: self.read_conditions(),
                    range: self.range.as_ref(),
                    part_number: self.part_number,
                    reading,
                }
            }
        }
    )*};
}

read_input!(GetObjectInput, HeadObjectInput);

/// The checks and selection shared by GetObject and HeadObject: reads the object, checks the
/// preconditions, selects the range.
async fn plan_read(s3: &KuraS3, request: ReadRequest<'_>) -> S3Result<ReadPlan> {
    let ReadRequest { object, conditions, range, part_number, reading } = request;
    let object = find_object(s3, object, reading).await?;
    conditions.check_read(&object.etag, object.last_modified_ms)?;
    let (range, partial) = select_range(&object, range, part_number)?;
    Ok(ReadPlan { object, range, partial })
}

/// The headers a GET or HEAD answers with: the object's description with the `response-*` overrides,
/// the length and range of what is sent, and the checksums when the request asks for them
/// (`x-amz-checksum-mode: ENABLED`) and reads the whole object.
fn describe_read(
    plan: &ReadPlan,
    overrides: &ResponseOverrides<'_>,
    checksum_mode: Option<&ChecksumMode>,
) -> ObjectDescription {
    let mut d = ObjectDescription::of(&plan.object);
    overrides.apply(&mut d);
    d.content_length = i64::try_from(plan.range.end - plan.range.start).ok();
    if plan.partial {
        d.content_range =
            Some(format!("bytes {}-{}/{}", plan.range.start, plan.range.end.saturating_sub(1), plan.object.size));
    }
    if checksum_mode.is_some_and(|m| m.as_str() == "ENABLED") {
        d.checksums = read_checksums(plan);
    }
    d
}

/// The checksums a read with checksum mode reports: the object's for a whole read, a part's (with
/// the object's checksum type) for a `partNumber` read of a multipart object, none for a range.
fn read_checksums(plan: &ReadPlan) -> Checksums {
    let object = &plan.object;
    if plan.range.start == 0 && plan.range.end == object.size {
        return object.checksums.clone();
    }
    let mut start = 0u64;
    for (size, sums) in object.part_sizes.iter().zip(&object.part_checksums) {
        if plan.range == (start..start + size) {
            return Checksums { checksum_type: object.checksums.checksum_type.clone(), ..sums.clone() };
        }
        start += size;
    }
    Checksums::default()
}

fn read_status(partial: bool) -> http::StatusCode {
    if partial { http::StatusCode::PARTIAL_CONTENT } else { http::StatusCode::OK }
}

pub(super) async fn get_object(s3: &KuraS3, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
    let input = req.input;
    let who = req.extensions.get::<crate::authz::Authenticated>();
    input.response_overrides().refuse_for_anonymous(who)?;
    super::sse::refuse_write_headers(&req.headers)?;
    let customer = super::sse::customer_key(&input)?;
    // Held from before the record is read until its blobs are pinned: an overwrite committed in
    // between must not delete them first (the GET would be a 500, not the old object).
    let hold = s3.blobs.hold_reclaims();
    let plan = plan_read(s3, input.read_request(Reading::WithBody)).await?;
    let keys = encryption::open_keys(s3, who, &input.bucket, &plan.object, customer.as_ref()).await?;
    encryption::audit_object(&req.extensions, &plan.object);
    let headers = describe_read(&plan, &input.response_overrides(), input.checksum_mode.as_ref());
    let mut out = GetObjectOutput::from(headers);
    if let Some(r) = encryption::read_response(&plan.object, customer.as_ref()) {
        out.set_sse(r);
    }
    out.version_id = versioning::read_header(&plan.object, input.version_id.as_deref());
    let named = input.version_id.is_some();
    out.expiration = super::lifecycle::read_expiration(s3, &req.extensions, named, &plan.object, &input.bucket).await;
    if !plan.object.tags.is_empty() {
        out.tag_count = i32::try_from(plan.object.tags.len()).ok();
    }
    out.body = Some(egress(s3.blobs.clone(), &plan.object, plan.range.clone(), keys.as_deref()).await.or_s3()?);
    drop(hold);
    Ok(super::status::with_status(out, read_status(plan.partial)))
}

pub(super) async fn head_object(
    s3: &KuraS3,
    req: S3Request<HeadObjectInput>,
) -> S3Result<S3Response<HeadObjectOutput>> {
    let input = req.input;
    let who = req.extensions.get::<crate::authz::Authenticated>();
    input.response_overrides().refuse_for_anonymous(who)?;
    super::sse::refuse_write_headers(&req.headers)?;
    let customer = super::sse::customer_key(&input)?;
    let plan = plan_read(s3, input.read_request(Reading::RecordOnly)).await?;
    encryption::check_record_read(s3, who, &input.bucket, &plan.object, customer.as_ref()).await?;
    if input.checksum_mode.as_ref().is_some_and(|m| m.as_str() == ChecksumMode::ENABLED) {
        let kind = plan.object.encryption.as_ref().map(|e| &e.kind);
        encryption::authorize_plaintext_digests(s3, who, (&input.bucket, &input.key), kind).await?;
    }
    encryption::audit_object(&req.extensions, &plan.object);
    let headers = describe_read(&plan, &input.response_overrides(), input.checksum_mode.as_ref());
    let mut out = HeadObjectOutput::from(headers);
    if let Some(r) = encryption::read_response(&plan.object, customer.as_ref()) {
        out.set_sse(r);
    }
    out.version_id = versioning::read_header(&plan.object, input.version_id.as_deref());
    let named = input.version_id.is_some();
    out.expiration = super::lifecycle::read_expiration(s3, &req.extensions, named, &plan.object, &input.bucket).await;
    let mut response = super::status::with_status(out, read_status(plan.partial));
    // s3s's HeadObjectOutput has no TagCount (the AWS model leaves it out), but S3 sends
    // `x-amz-tagging-count` on HEAD as on GET, when the object has tags.
    if !plan.object.tags.is_empty() {
        response.headers.insert("x-amz-tagging-count", http::HeaderValue::from(plan.object.tags.len()));
    }
    Ok(response)
}

pub(super) async fn delete_object(
    s3: &KuraS3,
    req: S3Request<DeleteObjectInput>,
) -> S3Result<S3Response<DeleteObjectOutput>> {
    let who = req.extensions.get::<crate::authz::Authenticated>();
    let input = &req.input;
    // A key no write could make names nothing; in a versioned bucket it would still get a delete marker
    // (a listing could then not be XML).
    check_key(&input.key)?;
    let target = ObjectRef::at_version(&input.bucket, &input.key, input.version_id.as_deref());
    target.check()?;
    let bucket = require_loaded_bucket(s3, &req.extensions, target.bucket).await?;
    // `If-Match` is judged here for its answer (NoSuchKey, 412), and again in the delete's own
    // transaction: an overwrite committed in between must not be what gets deleted.
    let mut condition = kura_store::WriteCondition::Always;
    if let Some(cond) = input.if_match.as_ref() {
        let current = require_object(s3, target.current_version()).await?;
        Preconditions { if_match: Some(cond), ..Default::default() }
            .check_copy_source(&current.etag, current.last_modified_ms)?;
        if target.version.is_none() {
            condition = write_condition(Some(cond), None)?;
        }
    }
    let bypass = input.bypass_governance_retention.unwrap_or(false);
    let bypass = object_lock::guard_delete(s3, who, &bucket, target, bypass).await?;
    let deleted = versioning::delete(s3, &bucket, target, (bypass, &condition)).await?;
    let out = DeleteObjectOutput {
        version_id: deleted.version_id,
        delete_marker: deleted.delete_marker.then_some(true),
        ..Default::default()
    };
    Ok(super::status::with_status(out, http::StatusCode::NO_CONTENT))
}

/// Deletes one key of a DeleteObjects request: authorised on its own first (the access hook sees
/// only the bucket), as `s3:DeleteObjectVersion` when it names a version, then deleted.
async fn delete_one(
    s3: &KuraS3,
    who: Option<&crate::authz::Authenticated>,
    bucket: &kura_store::BucketInfo,
    target: ObjectRef<'_>,
    bypass_requested: bool,
) -> S3Result<versioning::Deleted> {
    check_key(target.key)?;
    target.check()?;
    if let Some(access) = &s3.access {
        let action = if target.version.is_some() { "s3:DeleteObjectVersion" } else { "s3:DeleteObject" };
        let version = target.version.map(VersionId::as_str);
        access.decide_object(who, action, bucket, (target.key, version)).await?;
    }
    let bypass = object_lock::guard_delete(s3, who, bucket, target, bypass_requested).await?;
    versioning::delete(s3, bucket, target, (bypass, &kura_store::WriteCondition::Always)).await
}

/// S3's limit on keys per DeleteObjects request.
const MAX_DELETE_KEYS: usize = 1000;

pub(super) async fn delete_objects(
    s3: &KuraS3,
    req: S3Request<DeleteObjectsInput>,
) -> S3Result<S3Response<DeleteObjectsOutput>> {
    let who = req.extensions.get::<crate::authz::Authenticated>().cloned();
    let bucket = require_loaded_bucket(s3, &req.extensions, &req.input.bucket).await?;
    let input = req.input;
    let objects = input.delete.objects;
    if objects.len() > MAX_DELETE_KEYS {
        return Err(errors::malformed_xml("A DeleteObjects request can name at most 1000 keys."));
    }
    let quiet = input.delete.quiet.unwrap_or(false);
    // A key XML cannot carry makes the request body no XML document, as AWS reads it; answered key
    // by key, the answer could not be XML either.
    if objects.iter().any(|o| !o.key.chars().all(super::checks::is_xml_char)) {
        return Err(errors::malformed_xml(
            "The XML you provided was not well-formed: a key contains a character XML 1.0 cannot represent.",
        ));
    }
    let bypass = input.bypass_governance_retention.unwrap_or(false);
    let mut deleted = Vec::new();
    let mut errors = Vec::new();
    for ident in objects {
        let target = ObjectRef::at_version(&input.bucket, &ident.key, ident.version_id.as_deref());
        match delete_one(s3, who.as_ref(), &bucket, target, bypass).await {
            Ok(done) => {
                // As S3: a new marker is reported as DeleteMarkerVersionId; a named version (which may
                // have been a marker) as VersionId.
                let (version_id, marker_id) = match ident.version_id {
                    Some(id) => (Some(id.clone()), done.delete_marker.then_some(id)),
                    None => (None, done.version_id.filter(|_| done.delete_marker)),
                };
                deleted.push(DeletedObject {
                    key: Some(ident.key),
                    version_id,
                    delete_marker: done.delete_marker.then_some(true),
                    delete_marker_version_id: marker_id,
                })
            }
            Err(e) => errors.push(Error {
                code: Some(e.code().as_str().to_owned()),
                key: Some(ident.key),
                message: e.message().map(str::to_owned),
                version_id: ident.version_id,
            }),
        }
    }
    Ok(S3Response::new(DeleteObjectsOutput {
        deleted: (!quiet).then_some(deleted),
        errors: Some(errors),
        ..Default::default()
    }))
}

/// Authorises reading a copy source for the caller `who`, on exactly the parsed source the copy
/// reads, then reads it, with its body, and checks its `x-amz-copy-source-if-*` conditions (failures
/// are 412).
///
/// Also returns a hold on reclamations ([`kura_store::BlobStore::hold_reclaims`]), taken before the
/// source's record is read: an overwrite committed after that read must not delete the source's blobs
/// before the copy pins them. The copy drops it once it has ([`copy_bytes`], [`copy_object_body`]).
pub(super) async fn read_copy_source(
    s3: &KuraS3,
    who: Option<&crate::authz::Authenticated>,
    source: &CopySource,
    conditions: Preconditions<'_>,
) -> S3Result<(ObjectMeta, kura_store::BlobPin)> {
    let source = ObjectRef::copy_source(source)?;
    if let Some(access) = &s3.access {
        let ObjectRef { bucket, key, version } = source;
        access.decide_copy_source(who, (bucket, key, version.map(VersionId::as_str))).await?;
    }
    let hold = s3.blobs.hold_reclaims();
    let source = find_object(s3, source, Reading::WithBody).await?;
    conditions.check_copy_source(&source.etag, source.last_modified_ms)?;
    Ok((source, hold))
}

/// Parses a `COPY` / `REPLACE` directive (absent = `COPY`); true means replace.
fn replaces(directive: Option<&str>, what: &str) -> S3Result<bool> {
    match directive {
        None | Some("COPY") => Ok(false),
        Some("REPLACE") => Ok(true),
        Some(other) => {
            Err(errors::invalid_argument(format!("Unknown {what} directive {other:?}: use COPY or REPLACE.")))
        }
    }
}

/// Copies `range` of a stored object into a new blob (a part), recomputing MD5 and, if asked, a
/// checksum.
pub(super) async fn copy_bytes(
    s3: &KuraS3,
    (object, hold): (&ObjectMeta, kura_store::BlobPin),
    range: std::ops::Range<u64>,
    algo: Option<ChecksumAlgo>,
    (keys, seal): (Option<&[DataKey]>, Option<&DataKey>),
) -> S3Result<WrittenBody> {
    let body = egress(s3.blobs.clone(), object, range, keys).await.or_s3()?;
    drop(hold);
    let expect = BodyExpectations { algo, ..Default::default() };
    ingest(s3.blobs.as_ref(), Some(body), &expect, None, seal).await
}

/// Copies a whole stored object into a new body (inline when small), recomputing MD5 and, if asked,
/// a checksum.
async fn copy_object_body(
    s3: &KuraS3,
    (object, hold): (&ObjectMeta, kura_store::BlobPin),
    algo: Option<ChecksumAlgo>,
    (keys, seal): (Option<&[DataKey]>, Option<&DataKey>),
) -> S3Result<WrittenBody<StoredBody>> {
    let body = egress(s3.blobs.clone(), object, 0..object.size, keys).await.or_s3()?;
    drop(hold);
    let expect = BodyExpectations { algo, ..Default::default() };
    ingest_object(s3.blobs.as_ref(), Some(body), &expect, None, seal).await
}

/// The checksum algorithm a stored object was written with, if any.
pub(super) fn stored_algo(c: &Checksums) -> Option<ChecksumAlgo> {
    if c.crc32.is_some() {
        Some(ChecksumAlgo::Crc32)
    } else if c.crc64nvme.is_some() {
        Some(ChecksumAlgo::Crc64Nvme)
    } else if c.crc32c.is_some() {
        Some(ChecksumAlgo::Crc32c)
    } else if c.sha1.is_some() {
        Some(ChecksumAlgo::Sha1)
    } else if c.sha256.is_some() {
        Some(ChecksumAlgo::Sha256)
    } else {
        None
    }
}

pub(super) async fn copy_object(
    s3: &KuraS3,
    req: S3Request<CopyObjectInput>,
) -> S3Result<S3Response<CopyObjectOutput>> {
    let input = req.input;
    check_key(&input.key)?;
    super::acl::check_canned(input.acl.as_ref().map(ObjectCannedACL::as_str))?;
    let from = ObjectRef::copy_source(&input.copy_source)?;
    let bucket = require_loaded_bucket(s3, &req.extensions, &input.bucket).await?;
    let lock_headers = LockHeaders {
        mode: input.object_lock_mode.as_ref(),
        until: input.object_lock_retain_until_date.as_ref(),
        legal_hold: input.object_lock_legal_hold_status.as_ref(),
    };
    let who = req.extensions.get::<crate::authz::Authenticated>();
    let replace_tags = replaces(input.tagging_directive.as_ref().map(|d| d.as_str()), "tagging")?;
    let (source, hold) = read_copy_source(s3, who, &input.copy_source, input.copy_source_conditions()).await?;
    // The copy sets the tags it is given, or takes the source's: those need reading, as on AWS.
    let copies_tags = !replace_tags && !source.tags.is_empty();
    if let Some(access) = s3.access.as_ref().filter(|_| copies_tags) {
        access.decide_copied_tags(who, (from.bucket, from.key, from.version_id())).await?;
    }
    let sets_tags = if replace_tags { input.tagging.as_deref().is_some_and(|t| !t.is_empty()) } else { copies_tags };
    authorize_write_extras(s3, who, (&input.bucket, &input.key), sets_tags, lock_headers).await?;
    let lock = object_lock::lock_for_new_version(&bucket, lock_headers, now_ms())?;
    object_lock::guard_overwrite(s3, &bucket, &input.key).await?;
    let replace_meta = replaces(input.metadata_directive.as_ref().map(|d| d.as_str()), "metadata")?;
    // A named source version is a restore (AWS's way back to an older version), never a copy to itself.
    if from.version.is_none()
        && from.same_key_as(&ObjectRef::current(&input.bucket, &input.key))
        && !replace_meta
        && input.storage_class.is_none()
        && input.website_redirect_location.is_none()
        && super::sse::parse_write(&super::sse::SseWrite::sse_write_headers(&input))?.is_none()
    {
        return Err(errors::invalid_request(
            "This copy request is illegal because it is trying to copy an object to itself without changing the \
             object's metadata, storage class, website redirect location or encryption attributes.",
        ));
    }
    let headers = if replace_meta { input.object_headers() } else { source.headers.clone() };
    check_metadata_size(&headers)?;
    let tags = if replace_tags {
        input.tagging.as_deref().map(parse_tagging_header).transpose()?.unwrap_or_default()
    } else {
        source.tags.clone()
    };
    let algo = match input.checksum_algorithm.as_ref() {
        Some(a) => Some(ChecksumAlgo::parse(a.as_str())?),
        None => stored_algo(&source.checksums),
    };
    let source_customer = super::sse::copy_source_customer_key(&input)?;
    let source_keys = encryption::open_keys(s3, who, from.bucket, &source, source_customer.as_ref()).await?;
    encryption::audit_copy_source(&req.extensions, &source);
    let sse = super::sse::for_write(&input, bucket.settings.encryption.as_ref())?;
    let sealing = Sealing::prepare(s3, who, (&input.bucket, &input.key), sse).await?;
    let body_key = encryption::body_key_for(s3, sealing.as_ref(), (&input.bucket, &input.key)).await?;
    let through = (source_keys.as_deref(), body_key.as_ref().map(|k| &k.key));
    let WrittenBody { body, md5_hex, checksums } = copy_object_body(s3, (&source, hold), algo, through).await?;
    let etag_hex = encryption::etag_for(sealing.as_ref(), body_key.as_ref(), md5_hex);
    let mut object = new_object(input.key, body.size(), etag_hex.clone(), headers, tags);
    body.attach(&mut object);
    if let (Some(sealing), Some(k)) = (&sealing, body_key) {
        object.encryption = Some(sealing.record(vec![k.stored]));
    }
    object.checksums = checksums.clone();
    object.lock = lock;
    let last_modified = object.last_modified_ms;
    versioning::stamp(&mut object, &bucket);
    let version_id = versioning::reported(&bucket, &object);
    let copy_source_version_id = versioning::read_header(&source, from.version_id());
    encryption::audit_object(&req.extensions, &object);
    commit_object(s3, &input.bucket, object, &kura_store::WriteCondition::Always).await?;
    let mut result = CopyObjectResult {
        e_tag: Some(etag(&etag_hex)),
        last_modified: Some(timestamp(last_modified)),
        ..Default::default()
    };
    fill_checksums(&mut result, &checksums);
    let mut out =
        CopyObjectOutput { copy_object_result: Some(result), version_id, copy_source_version_id, ..Default::default() };
    if let Some(sealing) = &sealing {
        out.set_sse(sealing.response());
    }
    Ok(S3Response::new(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kura_store::ObjectHeaders;

    fn plan(range: std::ops::Range<u64>, partial: bool) -> ReadPlan {
        let mut object = new_object("k".into(), 10, "abc".into(), ObjectHeaders::default(), Default::default());
        object.checksums.crc32 = Some("AAAAAA==".into());
        ReadPlan { object, range, partial }
    }

    #[test]
    fn a_read_describes_its_range_overrides_and_checksums() {
        let enabled = ChecksumMode::from_static(ChecksumMode::ENABLED);
        let mut input = HeadObjectInput { response_content_type: Some("text/plain".into()), ..Default::default() };
        let whole = describe_read(&plan(0..10, false), &input.response_overrides(), Some(&enabled));
        assert_eq!(whole.content_type.as_deref(), Some("text/plain"));
        assert_eq!((whole.content_length, whole.content_range.as_deref()), (Some(10), None));
        assert_eq!(whole.checksums.crc32.as_deref(), Some("AAAAAA=="));
        let out = HeadObjectOutput::from(whole);
        assert_eq!(out.checksum_crc32.as_deref(), Some("AAAAAA=="));
        assert_eq!(out.accept_ranges.as_deref(), Some("bytes"));

        input.response_content_type = None;
        let part = describe_read(&plan(2..5, true), &input.response_overrides(), Some(&enabled));
        assert_eq!(part.content_type.as_deref(), Some("binary/octet-stream"));
        assert_eq!((part.content_length, part.content_range.as_deref()), (Some(3), Some("bytes 2-4/10")));
        assert_eq!(part.checksums.crc32, None, "a partial read reports no checksum of the whole");
        let unasked = describe_read(&plan(0..10, false), &input.response_overrides(), None);
        assert_eq!(GetObjectOutput::from(unasked).checksum_crc32, None);
    }
}
