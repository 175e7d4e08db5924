//! The one place that turns errors of kura's layers into S3 errors on the wire.
//!
//! Every match here is exhaustive (no `_ =>`), so a new error variant forces a decision about the code
//! and status a client sees. Internal details (paths, database messages) are logged, never sent.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_xkura_storage_full_507() {
        let err = store_error(StoreError::DiskFull);
        assert_eq!(err.code(), &S3ErrorCode::Custom("XKuraStorageFull".into()));
        assert_eq!(err.status_code(), Some(http::StatusCode::INSUFFICIENT_STORAGE));
        assert!(err.message().is_some_and(|m| m.contains("without a restart")));
    }
}
