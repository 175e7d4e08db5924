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
        StoreError::NoSuchBucket(bucket) => {
            S3Error::with_message(S3ErrorCode::NoSuchBucket, format!("The specified bucket does not exist: {bucket}"))
        }
        StoreError::BucketAlreadyExists(bucket) => S3Error::with_message(
            S3ErrorCode::BucketAlreadyOwnedByYou,
            format!("Your previous request to create the bucket {bucket} succeeded and you already own it."),
        ),
        StoreError::BucketNotEmpty(bucket) => S3Error::with_message(
            S3ErrorCode::BucketNotEmpty,
            format!("The bucket {bucket} is not empty: delete its objects first."),
        ),
        StoreError::NoSuchKey { .. } => {
            S3Error::with_message(S3ErrorCode::NoSuchKey, "The specified key does not exist.")
        }
        StoreError::NoSuchUpload(_) => S3Error::with_message(
            S3ErrorCode::NoSuchUpload,
            "The specified multipart upload does not exist. The upload ID might be invalid, or the upload \
             might have been aborted or completed.",
        ),
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
        StoreError::ConditionFailed { .. } => S3Error::with_message(
            S3ErrorCode::PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold (If-Match / If-None-Match).",
        ),
        StoreError::Backend(msg) => {
            tracing::error!(error = %msg, "metadata store error");
            S3Error::with_message(S3ErrorCode::InternalError, "The metadata store failed; nothing was changed.")
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

/// The HTTP status of an S3 error from its `Debug` form (`S3Error(Inner { code: NoSuchKey, …,
/// status_code: None, … })`), the only form in which s3s logs the errors operations return: lets the log
/// tell a client's mistake from a server failure. `None` when the text is not such an error.
pub fn status_of_logged_error(debug: &str) -> Option<http::StatusCode> {
    let rest = debug.split_once("Inner { code: ")?.1;
    let code = rest.split([',', ' ', '(']).next()?;
    // The field itself, not a message quoting it: `status_code: None` or `Some(404)`, then `source`.
    let explicit = rest.rmatch_indices(", status_code: ").find_map(|(at, field)| {
        let value = &rest[at + field.len()..];
        let (value, _) = value.split_once(", source: ")?;
        match value {
            "None" => Some(None),
            v => Some(Some(v.strip_prefix("Some(")?.strip_suffix(')')?.parse::<u16>().ok()?)),
        }
    });
    match explicit? {
        Some(status) => http::StatusCode::from_u16(status).ok(),
        None => S3ErrorCode::from_bytes(code.as_bytes())?.status_code(),
    }
}

/// Shorthand for an S3 error with a message.
pub fn s3err(code: S3ErrorCode, msg: impl Into<std::borrow::Cow<'static, str>>) -> S3Error {
    S3Error::with_message(code, msg)
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

/// Maps a refused session token to the S3 error AWS answers.
pub fn session_error(err: crate::identity::session::SessionError) -> S3Error {
    use crate::identity::session::SessionError;
    let code = match err {
        SessionError::Missing => S3ErrorCode::InvalidAccessKeyId,
        SessionError::Invalid | SessionError::OtherAccessKey | SessionError::LongTermKey => S3ErrorCode::InvalidToken,
        SessionError::Expired => S3ErrorCode::ExpiredToken,
    };
    let mut e = S3Error::with_message(code, format!("{}{}", upper_first(&err.to_string()), "."));
    if matches!(err, SessionError::Missing) {
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
        GateError::UnknownHost => S3ErrorCode::SignatureDoesNotMatch,
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
        | GateError::UnknownHost => http::StatusCode::FORBIDDEN,
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
        SettingsError::Store(e) => store_error(e),
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
    }

    #[test]
    fn a_full_disk_is_xkura_storage_full_507() {
        let err = store_error(StoreError::DiskFull);
        assert_eq!(err.code(), &S3ErrorCode::Custom("XKuraStorageFull".into()));
        assert_eq!(err.status_code(), Some(http::StatusCode::INSUFFICIENT_STORAGE));
        assert!(err.message().is_some_and(|m| m.contains("without a restart")));
    }
}
