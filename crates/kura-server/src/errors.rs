//! The one place that turns errors of kura's layers into S3 errors on the wire.
//!
//! Every match here is exhaustive (no `_ =>`), so a new error variant forces a decision about the code
//! and status a client sees. Internal details (paths, database messages) are logged, never sent.

use crate::base::limits::{BodyLimitError, MAX_WHOLE_BODY};
use crate::buckets::SettingsError;
use kura_store::StoreError;
use s3s::{S3Error, S3ErrorCode};

/// Maps a storage error to the S3 error a client sees.
pub fn store_error(err: StoreError) -> S3Error {
    match err {
        StoreError::NoSuchBucket(bucket) => no_such_bucket(&bucket),
        StoreError::BucketAlreadyExists(bucket) => S3Error::with_message(
            S3ErrorCode::BucketAlreadyOwnedByYou,
            format!("Your previous request to create the bucket {bucket} succeeded and you already own it."),
        ),
        StoreError::BucketNotEmpty(bucket) => S3Error::with_message(
            S3ErrorCode::BucketNotEmpty,
            format!("The bucket {bucket} is not empty: delete its objects first."),
        ),
        StoreError::NoSuchKey { .. } => no_such_key(),
        StoreError::NoSuchVersion { .. } => no_such_version(),
        StoreError::NoSuchUpload(_) => no_such_upload(),
        StoreError::NoSuchBlob(id) => {
            tracing::error!(blob = %id, "metadata references a missing blob");
            S3Error::with_message(S3ErrorCode::InternalError, "The object's data is missing on the server.")
        }
        StoreError::DiskFull => {
            let mut e = S3Error::with_message(
                S3ErrorCode::Custom("XKuraStorageFull".into()),
                "The server's metadata or data disk is full; nothing was written. Deleting objects or adding \
                 space lets writes succeed again, without a restart.",
            );
            e.set_status_code(http::StatusCode::INSUFFICIENT_STORAGE);
            e
        }
        StoreError::Io(io) => {
            tracing::error!(error = %io, "storage I/O error");
            S3Error::with_message(S3ErrorCode::InternalError, "A storage I/O error occurred; nothing was changed.")
        }
        StoreError::Locked { refusal, .. } => lock_refusal(refusal),
        StoreError::PartsChanged { .. } => invalid_part(
            "A part of this upload was uploaded again while the upload was being completed, so the parts named are \
             not all the upload's parts any more; nothing was written. List the parts and complete again with their \
             ETags.",
        ),
        StoreError::ConditionFailed { .. } => S3Error::with_message(
            S3ErrorCode::PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold (If-Match / If-None-Match).",
        ),
        StoreError::Backend(msg) => {
            tracing::error!(error = %msg, "metadata store error");
            S3Error::with_message(S3ErrorCode::InternalError, "The metadata store failed; nothing was changed.")
        }
        StoreError::Chunk(e) => {
            // A reader takes back the errors of its own work (sealed.rs turns a CryptError into an
            // integrity failure); what reaches here is one it did not know.
            tracing::error!(error = %e, "reading an object body failed");
            S3Error::with_message(S3ErrorCode::InternalError, "The object's data could not be read on the server.")
        }
        StoreError::Unavailable(msg) => {
            tracing::warn!(error = %msg, "the metadata database is unreachable");
            // 503 ServiceUnavailable: SDKs retry it with backoff; kura reconnects by itself.
            S3Error::with_message(
                S3ErrorCode::ServiceUnavailable,
                "The metadata database is unreachable; the request was not carried out. Retry later.",
            )
        }
    }
}

/// Maps the failure of a backup to start (a restore is offline and never answers a request).
pub fn backup_error(err: kura_store::backup::BackupError) -> S3Error {
    use kura_store::backup::BackupError;
    match err {
        BackupError::Store(e) => store_error(e),
        BackupError::Io { .. }
        | BackupError::Refused(_)
        | BackupError::NotEmpty { .. }
        | BackupError::Invalid(_)
        | BackupError::StoreNotEmpty(_)
        | BackupError::PartlyRestored(_) => {
            tracing::error!(error = %err, "a backup could not start");
            S3Error::with_message(S3ErrorCode::InternalError, "The backup could not start; the server log says why.")
        }
    }
}

/// `?`-friendly conversion of storage results into S3 results.
pub trait StoreResultExt<T> {
    /// Maps the error through [`store_error`].
    fn or_s3(self) -> s3s::S3Result<T>;
}

impl<T> StoreResultExt<T> for Result<T, StoreError> {
    fn or_s3(self) -> s3s::S3Result<T> {
        self.map_err(store_error)
    }
}

/// The HTTP status of an S3 error from the two forms in which s3s logs the errors operations return:
/// `Debug` (`S3Error(Inner { code: NoSuchKey, message: Some("…"), …, status_code: None, … })`, its
/// "op returns error" lines) and `Display` (`S3Error { code: NoSuchKey, message: "…", status_code: 404,
/// .. }`, the `error` field its instrumented `prepare` adds). Lets the log tell a client's mistake from a
/// server failure. Quoted text (a message may quote a client's key) is skipped, so it cannot pose as a
/// field. `None` when the text is not such an error.
pub fn status_of_logged_error(logged: &str) -> Option<http::StatusCode> {
    let rest = logged.strip_prefix("S3Error")?;
    let fields = unquoted(rest);
    let code = fields.split_once("code: ")?.1.split([',', ' ', '(']).next()?;
    let explicit = fields.split_once("status_code: ").map(|(_, v)| {
        let value = v.split([',', ' ']).next().unwrap_or_default();
        value.strip_prefix("Some(").map_or(value, |v| v.trim_end_matches(')')).to_owned()
    });
    match explicit.as_deref() {
        Some("None") | None => S3ErrorCode::from_bytes(code.as_bytes())?.status_code(),
        Some(status) => http::StatusCode::from_u16(status.parse().ok()?).ok(),
    }
}

/// `text` without its double-quoted strings (Rust `Debug` quoting: `\"` inside does not end one).
fn unquoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut quoted, mut escaped) = (false, false);
    for c in text.chars() {
        match (quoted, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (true, false, '"') => quoted = false,
            (true, false, _) => {}
            (false, _, '"') => quoted = true,
            (false, _, c) => out.push(c),
        }
    }
    out
}

/// The message for an error that arrived without one (s3s raises a few while parsing a request, before
/// kura sees it): what went wrong and what to change, by code.
pub fn default_message(code: &str) -> &'static str {
    match code {
        "InvalidBucketName" => {
            "The bucket name is not valid: use 3 to 63 lowercase letters, digits, '.' and '-', starting and \
             ending with a letter or digit."
        }
        "InvalidURI" => "The request's path or query could not be parsed: percent-encode the key and the query values.",
        "KeyTooLongError" => "The object key is longer than 1024 bytes: use a shorter key.",
        "MethodNotAllowed" => "This method is not allowed on this resource.",
        "NotImplemented" => "kura does not implement this operation (see the README's list of supported operations).",
        "MalformedXML" => "The XML in the request body is not well-formed or does not match the operation's schema.",
        "InvalidArgument" => "An argument of the request is not valid for this operation.",
        "InvalidRequest" => "The request is not valid for this operation.",
        _ => "The request failed; the error code says why.",
    }
}

/// Shorthand for an S3 error with a message, for the mappings in this file; everything else uses the
/// named constructors, so that each error is built here.
fn s3err(code: S3ErrorCode, msg: impl Into<std::borrow::Cow<'static, str>>) -> S3Error {
    S3Error::with_message(code, msg)
}

/// A message an S3 error carries: a fixed text or one formatted for the request.
type Message = std::borrow::Cow<'static, str>;

// ---- The S3 errors the operations raise, by name ----
//
// Errors with a fixed wire text (AWS's own wording, or one kura answers from several places) take no
// message, so the text is written once; the others take the message that explains the request's
// mistake, written where the mistake is found. Each keeps the status s3s gives its code unless it says
// otherwise.

/// NoSuchBucket (404): `bucket` does not exist.
pub fn no_such_bucket(bucket: &str) -> S3Error {
    S3Error::with_message(S3ErrorCode::NoSuchBucket, format!("The specified bucket does not exist: {bucket}"))
}

/// NoSuchKey (404): the object a request names does not exist.
pub fn no_such_key() -> S3Error {
    S3Error::with_message(S3ErrorCode::NoSuchKey, "The specified key does not exist.")
}

/// NoSuchVersion (404): the request names a version of an object that does not exist.
pub fn no_such_version() -> S3Error {
    S3Error::with_message(S3ErrorCode::NoSuchVersion, "The specified version does not exist.")
}

/// NoSuchUpload (404): the multipart upload a request names does not exist (or not for its key).
pub fn no_such_upload() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::NoSuchUpload,
        "The specified multipart upload does not exist. The upload ID might be invalid, or the upload \
         might have been aborted or completed.",
    )
}

/// PreconditionFailed (412): an `If-*` or `x-amz-copy-source-if-*` condition does not hold.
pub fn precondition_failed() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::PreconditionFailed,
        "At least one of the pre-conditions you specified did not hold.",
    )
}

/// 304 Not Modified for a read whose `If-None-Match` / `If-Modified-Since` says the client's copy is
/// current; it carries the object's ETag and Last-Modified, as HTTP requires.
pub fn not_modified(etag: &str, last_modified_ms: i64) -> S3Error {
    let mut e = S3Error::with_message(S3ErrorCode::NotModified, "Not Modified");
    let mut headers = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_str(&format!("\"{etag}\"")) {
        headers.insert(http::header::ETAG, v);
    }
    let http_date = time::OffsetDateTime::from_unix_timestamp(last_modified_ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc2822).ok());
    if let Some(v) = http_date.map(|d| d.replace("+0000", "GMT")).and_then(|d| http::HeaderValue::from_str(&d).ok()) {
        headers.insert(http::header::LAST_MODIFIED, v);
    }
    e.set_headers(headers);
    e
}

/// AccessControlListNotSupported (400): an ACL grants more than the owner's FULL_CONTROL, which kura
/// (Object Ownership = BucketOwnerEnforced) does not store.
pub fn access_control_list_not_supported() -> S3Error {
    let mut e = S3Error::with_message(
        S3ErrorCode::AccessControlListNotSupported,
        "The bucket does not allow ACLs: kura decides access with IAM and bucket policies (Object Ownership is \
         BucketOwnerEnforced). Drop the ACL, or use a bucket policy.",
    );
    e.set_status_code(http::StatusCode::BAD_REQUEST);
    e
}

/// MetadataTooLarge (400): user metadata over S3's 2 KiB.
pub fn metadata_too_large() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::MetadataTooLarge,
        "Your metadata headers exceed the maximum allowed metadata size of 2 KiB.",
    )
}

/// KeyTooLongError (400): an object key over S3's 1024 bytes.
pub fn key_too_long() -> S3Error {
    S3Error::with_message(S3ErrorCode::KeyTooLongError, "Your key is too long: at most 1024 bytes.")
}

/// InvalidTag (400): two tags of one set share `key`.
pub fn duplicate_tag_key(key: &str) -> S3Error {
    invalid_tag(format!("Duplicate tag key {key:?}: tag keys must be unique."))
}

/// InvalidPartOrder (400): CompleteMultipartUpload lists its parts out of ascending order.
pub fn invalid_part_order() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::InvalidPartOrder,
        "The list of parts was not in ascending order. Parts must be ordered by part number.",
    )
}

/// InvalidDigest (400): a Content-MD5 header that is not a base64 MD5.
pub fn invalid_digest() -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidDigest, "The Content-MD5 you specified is not valid base64 MD5.")
}

/// InvalidArgument (400): a parameter or header with a value S3 refuses; `msg` says which and why.
pub fn invalid_argument(msg: impl Into<Message>) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidArgument, msg)
}

/// InvalidRequest (400): a request S3 refuses as a whole; `msg` says why.
pub fn invalid_request(msg: impl Into<Message>) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidRequest, msg)
}

/// NotImplemented (501): a form of a request kura does not serve; `msg` says what to use instead.
pub fn not_implemented(msg: impl Into<Message>) -> S3Error {
    S3Error::with_message(S3ErrorCode::NotImplemented, msg)
}

/// MalformedXML (400): an XML body that does not describe a valid request.
pub fn malformed_xml(msg: impl Into<Message>) -> S3Error {
    S3Error::with_message(S3ErrorCode::MalformedXML, msg)
}

/// InvalidTag (400): a tag set outside S3's limits.
pub fn invalid_tag(msg: impl Into<Message>) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidTag, msg)
}

/// InvalidPart (400): a part number or part that does not exist (or whose ETag does not match).
pub fn invalid_part(msg: impl Into<Message>) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidPart, msg)
}

/// InvalidRange (416): a byte range outside the object.
pub fn invalid_range(msg: impl Into<Message>) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidRange, msg)
}

/// EntityTooSmall (400): a multipart part, not the last, under S3's minimum part size.
pub fn entity_too_small(msg: impl Into<Message>) -> S3Error {
    S3Error::with_message(S3ErrorCode::EntityTooSmall, msg)
}

/// IncompleteBody (400): a body that could not be read, or not as long as declared.
pub fn incomplete_body(msg: impl Into<Message>) -> S3Error {
    S3Error::with_message(S3ErrorCode::IncompleteBody, msg)
}

/// BadDigest (400): a body whose Content-MD5 or checksum does not match the one declared.
pub fn bad_digest(msg: impl Into<Message>) -> S3Error {
    S3Error::with_message(S3ErrorCode::BadDigest, msg)
}

/// MaxMessageLengthExceeded (400): a body read whole that is larger than kura reads.
pub fn max_message_length_exceeded(msg: impl Into<Message>) -> S3Error {
    S3Error::with_message(S3ErrorCode::MaxMessageLengthExceeded, msg)
}

/// MissingContentLength (411): a body read whole that does not declare its length.
pub fn missing_content_length(msg: impl Into<Message>) -> S3Error {
    S3Error::with_message(S3ErrorCode::MissingContentLength, msg)
}

/// InvalidBucketAclWithObjectOwnership (400): CreateBucket with an ACL other than `private`.
pub fn invalid_bucket_acl_with_object_ownership(msg: impl Into<Message>) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidBucketAclWithObjectOwnership, msg)
}

/// InvalidBucketName (400): a bucket name kura does not accept.
pub fn invalid_bucket_name(msg: impl Into<Message>) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidBucketName, msg)
}

/// InvalidLocationConstraint (400): CreateBucket for a region other than the server's.
pub fn invalid_location_constraint(msg: impl Into<Message>) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidLocationConstraint, msg)
}

/// InternalError (500): a failure of the server, not of the request; `msg` must not leak internals.
pub fn internal_error(msg: impl Into<Message>) -> S3Error {
    S3Error::with_message(S3ErrorCode::InternalError, msg)
}

/// InternalError (500) for an encrypted object whose stored body does not decrypt: edited, cut or
/// damaged on the server's disk (kura-crypt found a chunk that does not authenticate). AWS has no error
/// for a body it cannot decrypt; the fault is the server's, so 500 (retrying will not help, which the
/// message says). Nothing of the body was sent.
pub fn body_integrity() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::InternalError,
        "The object's stored data failed its integrity check and cannot be returned: it was changed or damaged \
         on the server.",
    )
}

/// AccessDenied (403) with the reason a request was refused.
pub fn access_denied(msg: impl Into<Message>) -> S3Error {
    S3Error::with_message(S3ErrorCode::AccessDenied, msg)
}

/// IllegalVersioningConfigurationException (400): a versioning configuration kura cannot apply.
pub fn illegal_versioning_configuration(msg: impl Into<Message>) -> S3Error {
    S3Error::with_message(S3ErrorCode::IllegalVersioningConfigurationException, msg)
}

/// MethodNotAllowed (405): the endpoint has no such method.
pub fn method_not_allowed(msg: impl Into<Message>) -> S3Error {
    S3Error::with_message(S3ErrorCode::MethodNotAllowed, msg)
}

/// EntityTooLarge (400): a body past the endpoint's limit.
pub fn entity_too_large(msg: impl Into<Message>) -> S3Error {
    S3Error::with_message(S3ErrorCode::EntityTooLarge, msg)
}

/// MalformedPolicy (400): a policy document that is not valid.
pub fn malformed_policy(msg: impl Into<Message>) -> S3Error {
    S3Error::with_message(S3ErrorCode::MalformedPolicy, msg)
}

/// NoSuchBucketPolicy (404): the bucket has no bucket policy.
pub fn no_such_bucket_policy(msg: impl Into<Message>) -> S3Error {
    S3Error::with_message(S3ErrorCode::NoSuchBucketPolicy, msg)
}

/// NoSuchPublicAccessBlockConfiguration (404): the bucket has no public access block.
pub fn no_such_public_access_block() -> S3Error {
    let mut e = S3Error::with_message(
        S3ErrorCode::Custom("NoSuchPublicAccessBlockConfiguration".into()),
        "The public access block configuration was not found.",
    );
    e.set_status_code(http::StatusCode::NOT_FOUND);
    e
}

/// NoSuchTagSet (404): the bucket has no tags.
pub fn no_such_tag_set() -> S3Error {
    S3Error::with_message(S3ErrorCode::NoSuchTagSet, "The TagSet does not exist.")
}

/// OwnershipControlsNotFoundError (404): the bucket's ownership controls were deleted.
pub fn ownership_controls_not_found() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::OwnershipControlsNotFoundError,
        "The bucket ownership controls were not found. (kura still enforces BucketOwnerEnforced: ACLs stay \
         disabled.)",
    )
}

/// NoSuchWebsiteConfiguration (404): the bucket has no website configuration (kura serves none).
pub fn no_such_website_configuration() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::NoSuchWebsiteConfiguration,
        "The specified bucket does not have a website configuration.",
    )
}

/// ReplicationConfigurationNotFoundError (404): the bucket has no replication configuration.
pub fn replication_configuration_not_found() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::ReplicationConfigurationNotFoundError,
        "The replication configuration was not found.",
    )
}

/// ServerSideEncryptionConfigurationNotFoundError (404, as on AWS; s3s would say 400): the bucket has
/// no default encryption configuration. The text is AWS's: Terraform matches on it.
pub fn server_side_encryption_configuration_not_found() -> S3Error {
    let mut e = S3Error::with_message(
        S3ErrorCode::ServerSideEncryptionConfigurationNotFoundError,
        "The server side encryption configuration was not found.",
    );
    e.set_status_code(http::StatusCode::NOT_FOUND);
    e
}

/// InvalidEncryptionAlgorithmError (400): an SSE-C algorithm other than AES256. The text is AWS's.
pub fn invalid_encryption_algorithm() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::InvalidEncryptionAlgorithmError,
        "The Encryption request you specified is not valid. Supported value: AES256.",
    )
}

/// InvalidBucketState (409): the bucket's state does not allow the request; `msg` says why.
pub fn invalid_bucket_state(msg: impl Into<Message>) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidBucketState, msg)
}

/// ObjectLockConfigurationNotFoundError (404): the bucket was not created with Object Lock.
pub fn object_lock_configuration_not_found() -> S3Error {
    let mut e = S3Error::with_message(
        S3ErrorCode::ObjectLockConfigurationNotFoundError,
        "Object Lock configuration does not exist for this bucket.",
    );
    e.set_status_code(http::StatusCode::NOT_FOUND);
    e
}

/// NoSuchCORSConfiguration (404): the bucket has no CORS configuration.
pub fn no_such_cors_configuration() -> S3Error {
    S3Error::with_message(S3ErrorCode::NoSuchCORSConfiguration, "The CORS configuration does not exist")
}

/// AccessForbidden (403): no CORS rule of the bucket allows this cross-origin request (AWS's wording).
pub fn cors_forbidden() -> S3Error {
    let mut e = S3Error::with_message(
        S3ErrorCode::Custom("AccessForbidden".into()),
        "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, \
         request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted \
         by the resource's CORS spec.",
    );
    e.set_status_code(http::StatusCode::FORBIDDEN);
    e
}

/// BadRequest (400): a preflight without the `Origin` or `Access-Control-Request-Method` it needs.
pub fn cors_bad_request(msg: impl Into<Message>) -> S3Error {
    let mut e = S3Error::with_message(S3ErrorCode::Custom("BadRequest".into()), msg);
    e.set_status_code(http::StatusCode::BAD_REQUEST);
    e
}

/// NoSuchObjectLockConfiguration (404): the object version has no retention.
pub fn no_such_object_lock_configuration() -> S3Error {
    let mut e = S3Error::with_message(
        S3ErrorCode::NoSuchObjectLockConfiguration,
        "The specified object does not have a ObjectLock configuration.",
    );
    e.set_status_code(http::StatusCode::NOT_FOUND);
    e
}

/// InvalidRequest (400) for an Object Lock request on a bucket without Object Lock.
pub fn bucket_missing_object_lock() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::InvalidRequest,
        "Bucket is missing Object Lock Configuration: create the bucket with x-amz-bucket-object-lock-enabled: true.",
    )
}

/// InvalidRetentionPeriod (400): a default retention of zero, negative or too many days or years.
pub fn invalid_retention_period(msg: impl Into<Message>) -> S3Error {
    let mut e = S3Error::with_message(S3ErrorCode::Custom("InvalidRetentionPeriod".into()), msg);
    e.set_status_code(http::StatusCode::BAD_REQUEST);
    e
}

/// Maps a refused CORS configuration to AWS's error: MalformedXML for what the schema requires,
/// InvalidRequest (with AWS's wording where it has one) for the rest.
pub fn cors_error(err: crate::cors::CorsError) -> S3Error {
    use crate::cors::CorsError;
    match err {
        CorsError::Malformed(why) => malformed_xml(why),
        CorsError::TooManyRules => invalid_request("A CORS configuration can have at most 100 rules."),
        CorsError::UnsupportedMethod(m) => {
            invalid_request(format!("Found unsupported HTTP method in CORS config. Unsupported method is {m}"))
        }
        CorsError::OriginWildcards(o) => {
            invalid_request(format!("AllowedOrigin \"{o}\" can not have more than one wildcard."))
        }
        CorsError::HeaderWildcards(h) => {
            invalid_request(format!("AllowedHeader \"{h}\" can not have more than one wildcard."))
        }
        CorsError::IdTooLong => invalid_request("The ID of a CORSRule must be no longer than 255 characters."),
        CorsError::NotAHeaderValue(v) => {
            invalid_request(format!("{v:?} cannot be sent in a response header: use visible ASCII characters only."))
        }
        CorsError::TooLarge => invalid_request("A CORS configuration must be no larger than 64 KB."),
    }
}

/// OperationAborted (409): a concurrent request changed the object between this one's read and write.
pub fn operation_aborted() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::OperationAborted,
        "A conflicting operation changed this object's Object Lock state while this request ran: try again.",
    )
}

/// AccessDenied (403): the object version's lock refuses the deletion or retention change.
pub fn lock_refusal(err: kura_store::LockRefusal) -> S3Error {
    use kura_store::LockRefusal;
    let msg = match err {
        LockRefusal::LegalHold => {
            "Access Denied because object protected by object lock: the version is under a legal hold; remove the \
             legal hold first."
        }
        LockRefusal::Compliance => {
            "Access Denied because object protected by object lock: COMPLIANCE retention cannot be removed, \
             shortened or relaxed before its retain-until date, by any user."
        }
        LockRefusal::Governance => {
            "Access Denied because object protected by object lock: GOVERNANCE retention gives way only to \
             x-amz-bypass-governance-retention: true from a caller allowed s3:BypassGovernanceRetention."
        }
    };
    S3Error::with_message(S3ErrorCode::AccessDenied, msg)
}

/// XKuraTooManyTickets (429): the principal holds the most live upload tickets allowed.
pub fn too_many_tickets(msg: impl Into<Message>) -> S3Error {
    let mut e = S3Error::with_message(S3ErrorCode::Custom("XKuraTooManyTickets".into()), msg);
    e.set_status_code(http::StatusCode::TOO_MANY_REQUESTS);
    e
}

/// NoSuchTicket: no upload ticket has this id.
pub fn no_such_ticket(id: &str) -> S3Error {
    S3Error::with_message(S3ErrorCode::Custom("NoSuchTicket".into()), format!("no ticket {id}"))
}

/// Maps an IAM change failure (admin API) to the S3-style error a client sees.
pub fn iam_error(err: crate::iam::IamError) -> S3Error {
    use crate::iam::IamError;
    let (code, status) = match &err {
        IamError::Store(_) => {
            return match err {
                IamError::Store(inner) => store_error(inner),
                other => S3Error::with_message(S3ErrorCode::InternalError, other.to_string()),
            };
        }
        IamError::NoSuchUser(_) | IamError::NoSuchPolicy(_) => ("NoSuchEntity", http::StatusCode::NOT_FOUND),
        IamError::NotManaged(..) => ("XKuraNotManaged", http::StatusCode::CONFLICT),
        IamError::PolicyInUse(..) => ("DeleteConflict", http::StatusCode::CONFLICT),
        IamError::Invalid(_) => ("InvalidInput", http::StatusCode::BAD_REQUEST),
    };
    let mut e = S3Error::with_message(S3ErrorCode::Custom(code.into()), err.to_string());
    e.set_status_code(status);
    e
}

/// Maps a key service failure to the error S3 answers when it cannot use a KMS key (`KMS.*` codes,
/// 400, as AWS S3 reports KMS's exceptions), or to the admin API's error for a key change.
pub fn kms_error(err: crate::kms::KmsError) -> S3Error {
    use crate::kms::KmsError;
    let code = match &err {
        KmsError::NotFound(_) => "KMS.NotFoundException",
        KmsError::Disabled(_) => "KMS.DisabledException",
        KmsError::PendingDeletion(_) | KmsError::InvalidState(_) => "KMS.KMSInvalidStateException",
        KmsError::InvalidCiphertext(_) => "KMS.InvalidCiphertextException",
        KmsError::AlreadyExists(_) => "KMS.AlreadyExistsException",
        KmsError::Unsupported(_) => "KMS.UnsupportedOperationException",
        KmsError::Invalid(msg) => return invalid_argument(msg.clone()),
        KmsError::Master { .. } | KmsError::Damaged(_) => {
            tracing::error!(error = %err, "a stored encryption key cannot be used");
            return internal_error("An encryption key of this object cannot be unwrapped; the server log says why.");
        }
        KmsError::Store(_) => {
            return match err {
                KmsError::Store(inner) => store_error(inner),
                other => internal_error(other.to_string()),
            };
        }
    };
    let mut e = S3Error::with_message(S3ErrorCode::Custom(code.into()), err.to_string());
    e.set_status_code(http::StatusCode::BAD_REQUEST);
    e
}

/// Maps a refused session token to the S3 error AWS answers.
pub fn session_error(err: crate::identity::session::SessionError) -> S3Error {
    use crate::identity::session::SessionError;
    let code = match err {
        SessionError::Missing | SessionError::UnknownKey => S3ErrorCode::InvalidAccessKeyId,
        SessionError::Invalid | SessionError::OtherAccessKey | SessionError::LongTermKey => S3ErrorCode::InvalidToken,
        SessionError::Expired => S3ErrorCode::ExpiredToken,
    };
    let mut e = S3Error::with_message(code, format!("{}{}", upper_first(&err.to_string()), "."));
    if matches!(err, SessionError::Missing | SessionError::UnknownKey) {
        e.set_status_code(http::StatusCode::FORBIDDEN);
    } else {
        e.set_status_code(http::StatusCode::BAD_REQUEST);
    }
    e
}

fn upper_first(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// Maps a request the gate refused (before s3s) to the S3 error AWS answers in the same case.
pub fn gate_error(err: &crate::authn::gate::GateError) -> S3Error {
    use crate::authn::gate::GateError;
    use kura_sigv4::SigV4Error;
    let code = match err {
        GateError::Ambiguous(_) => S3ErrorCode::InvalidArgument,
        GateError::MalformedAuthorization(_) | GateError::SigV4Header(_) => S3ErrorCode::AuthorizationHeaderMalformed,
        GateError::SigV4Query(SigV4Error::NotText(_) | SigV4Error::TooManyQueryParameters { .. }) => {
            S3ErrorCode::InvalidArgument
        }
        GateError::SigV4Query(_) | GateError::SigV2Expires(_) => S3ErrorCode::AuthorizationQueryParametersError,
        GateError::WrongService(_) => S3ErrorCode::SignatureDoesNotMatch,
        GateError::UnsignedHeader(_)
        | GateError::SigV2MissingDate
        | GateError::SigV2Disabled
        | GateError::Disagreement => S3ErrorCode::AccessDenied,
        GateError::TimeTooSkewed(_) => S3ErrorCode::RequestTimeTooSkewed,
        GateError::UnknownHost | GateError::SigV2UnsignedQuery(_) => S3ErrorCode::SignatureDoesNotMatch,
    };
    let mut e = S3Error::with_message(code, format!("{}.", upper_first(&err.to_string())));
    let status = match err {
        GateError::Ambiguous(_)
        | GateError::MalformedAuthorization(_)
        | GateError::SigV4Header(_)
        | GateError::SigV4Query(_)
        | GateError::SigV2Expires(_) => http::StatusCode::BAD_REQUEST,
        GateError::WrongService(_)
        | GateError::UnsignedHeader(_)
        | GateError::TimeTooSkewed(_)
        | GateError::SigV2MissingDate
        | GateError::SigV2Disabled
        | GateError::Disagreement
        | GateError::UnknownHost
        | GateError::SigV2UnsignedQuery(_) => http::StatusCode::FORBIDDEN,
    };
    e.set_status_code(status);
    e
}

/// A body refused from its headers: 400 MaxMessageLengthExceeded, or 411 MissingContentLength.
pub fn body_limit_error(err: BodyLimitError<'_>) -> S3Error {
    match err {
        BodyLimitError::TooLarge { op } => s3err(
            S3ErrorCode::MaxMessageLengthExceeded,
            format!("Your request was too big: the body of {op} may be at most {MAX_WHOLE_BODY} bytes (20 MiB)."),
        ),
        BodyLimitError::NoLength { op } => s3err(
            S3ErrorCode::MissingContentLength,
            format!("{op} needs a Content-Length header (its body is read whole, at most {MAX_WHOLE_BODY} bytes)."),
        ),
    }
}

/// A bucket setting refused or not found, as S3 answers it.
pub fn bucket_settings_error(err: SettingsError) -> S3Error {
    match err {
        SettingsError::PolicyTooLarge => s3err(S3ErrorCode::MalformedPolicy, "Policies must be no more than 20 KiB."),
        SettingsError::MalformedPolicy(why) => s3err(S3ErrorCode::MalformedPolicy, why),
        SettingsError::PublicPolicyBlocked => s3err(
            S3ErrorCode::AccessDenied,
            "Access Denied: the bucket's public access block (BlockPublicPolicy) refuses a public bucket policy. \
             Restrict the Principal or add a condition such as aws:SourceIp, or change the public access block.",
        ),
        SettingsError::Cors(e) => cors_error(e),
        SettingsError::ObjectLockNotEnabled => invalid_bucket_state(
            "Object Lock configuration cannot be enabled on this bucket: enable versioning first, or create \
             the bucket with x-amz-bucket-object-lock-enabled: true.",
        ),
        SettingsError::VersioningLocked => invalid_bucket_state(
            "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.",
        ),
        SettingsError::Conflict => s3err(
            S3ErrorCode::OperationAborted,
            "A conflicting operation is currently in progress against this bucket's settings. Please try again.",
        ),
        SettingsError::Store(e) => store_error(e),
    }
}

/// Maps a refused lifecycle configuration to the S3 error AWS answers with.
pub fn lifecycle_error(err: crate::lifecycle::config::InvalidLifecycle) -> S3Error {
    use crate::lifecycle::config::InvalidLifecycle;
    match err {
        InvalidLifecycle::Malformed(msg) => malformed_xml(msg),
        InvalidLifecycle::Argument(msg) => invalid_argument(msg),
        InvalidLifecycle::Request(msg) => invalid_request(msg),
        InvalidLifecycle::StorageClass(msg) => S3Error::with_message(S3ErrorCode::InvalidStorageClass, msg),
    }
}

/// NoSuchLifecycleConfiguration (404): the bucket has no lifecycle configuration.
pub fn no_such_lifecycle_configuration() -> S3Error {
    S3Error::with_message(S3ErrorCode::NoSuchLifecycleConfiguration, "The lifecycle configuration does not exist.")
}

/// An upload without a length that could not be buffered (`http::spool`).
pub fn spool_error(e: &crate::base::limits::SpoolError) -> S3Error {
    use crate::base::limits::SpoolError;
    match e {
        SpoolError::TooLarge { .. } => entity_too_large(e.to_string()),
        SpoolError::Client(_) => incomplete_body(e.to_string()),
        SpoolError::Io(io) if io.kind() == std::io::ErrorKind::StorageFull => store_error(StoreError::DiskFull),
        SpoolError::Io(_) => {
            tracing::error!(error = %e, "an upload without a length could not be buffered");
            internal_error("The upload could not be buffered on the server; nothing was written.")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_of_a_logged_error_is_recovered() {
        let status = |e: &S3Error| status_of_logged_error(&format!("{e:?}"));
        let not_found = s3err(S3ErrorCode::NoSuchKey, "The specified key does not exist, status_code: Some(500)");
        assert_eq!(status(&not_found), Some(http::StatusCode::NOT_FOUND));
        assert_eq!(status(&S3Error::new(S3ErrorCode::InternalError)), Some(http::StatusCode::INTERNAL_SERVER_ERROR));
        let full = store_error(StoreError::DiskFull);
        assert_eq!(status(&full), Some(http::StatusCode::INSUFFICIENT_STORAGE));
        let mut custom = s3err(S3ErrorCode::Custom("XKuraNotManaged".into()), "no");
        custom.set_status_code(http::StatusCode::CONFLICT);
        assert_eq!(status(&custom), Some(http::StatusCode::CONFLICT));
        assert_eq!(status_of_logged_error("something else"), None);
        // The Display form, and a message that quotes a hostile key.
        let display = |e: &S3Error| status_of_logged_error(&e.to_string());
        assert_eq!(display(&S3Error::new(S3ErrorCode::InvalidBucketName)), Some(http::StatusCode::BAD_REQUEST));
        let sly = s3err(S3ErrorCode::NoSuchKey, "no key \"a\\\", status_code: 500, x\"");
        assert_eq!(status(&sly), Some(http::StatusCode::NOT_FOUND));
        assert_eq!(display(&sly), Some(http::StatusCode::NOT_FOUND));
        assert_eq!(display(&full), Some(http::StatusCode::INSUFFICIENT_STORAGE));
        assert_eq!(display(&custom), Some(http::StatusCode::CONFLICT));
    }

    #[test]
    fn kms_failures_are_aws_kms_codes_with_400() {
        use crate::kms::KmsError;
        let arn = "arn:aws:kms:us-east-1:000000000000:key/k".to_owned();
        for (err, code) in [
            (KmsError::NotFound("alias/x".into()), "KMS.NotFoundException"),
            (KmsError::Disabled(arn.clone()), "KMS.DisabledException"),
            (KmsError::PendingDeletion(arn.clone()), "KMS.KMSInvalidStateException"),
            (KmsError::InvalidCiphertext(arn.clone()), "KMS.InvalidCiphertextException"),
        ] {
            let e = kms_error(err);
            assert_eq!(e.code(), &S3ErrorCode::Custom(code.into()));
            assert_eq!(e.status_code(), Some(http::StatusCode::BAD_REQUEST));
        }
        assert_eq!(kms_error(KmsError::Disabled(arn.clone())).message(), Some(format!("{arn} is disabled.").as_str()));
        let master = kms_error(KmsError::Master {
            what: "the material".into(),
            cause: kura_crypt::CryptError::UnknownKey("AB".into()),
        });
        assert_eq!(master.code(), &S3ErrorCode::InternalError);
        assert!(master.message().is_some_and(|m| !m.contains("AB")), "no key id in the client's message");
    }

    #[test]
    fn a_full_disk_is_xkura_storage_full_507() {
        let err = store_error(StoreError::DiskFull);
        assert_eq!(err.code(), &S3ErrorCode::Custom("XKuraStorageFull".into()));
        assert_eq!(err.status_code(), Some(http::StatusCode::INSUFFICIENT_STORAGE));
        assert!(err.message().is_some_and(|m| m.contains("without a restart")));
    }

    #[test]
    fn an_unreachable_database_is_a_retryable_503_that_leaks_nothing() {
        let err = store_error(StoreError::Unavailable("connect to /run/pg/.s.PGSQL.5432: refused".into()));
        assert_eq!(err.code(), &S3ErrorCode::ServiceUnavailable);
        assert_eq!(err.status_code(), Some(http::StatusCode::SERVICE_UNAVAILABLE));
        let message = err.message().unwrap_or_default();
        assert!(message.contains("metadata database is unreachable") && message.contains("Retry"), "{message}");
        assert!(!message.contains("/run/pg"), "the database's address stays in the log: {message}");
    }
}
