//! THE console's error mapping: every refusal of the console's own endpoints is a JSON document
//! `{"code","message"}` with the status below. (Answers of the S3 and admin APIs reached through the
//! console pass through unchanged, as XML.)

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};

/// Why the console refused a request.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No session: no cookie, a cookie that is not ours, an ended or expired session, or a user deleted
    /// (or whose key changed) since sign-in.
    #[error("{0}")]
    NotSignedIn(&'static str),
    /// The `X-Kura-Csrf` header is missing or is not the session's.
    #[error("send the session's CSRF token (the csrf of the sign-in answer) in the X-Kura-Csrf header")]
    InvalidCsrfToken,
    /// The request came from a page of another origin, or to a name the server does not answer to.
    #[error("{0}")]
    InvalidOrigin(String),
    /// An unknown access key or a wrong secret (never says which).
    #[error("the access key or the secret key is wrong")]
    WrongKeys,
    /// Sign-in with temporary credentials or an upload ticket's key.
    #[error("sign in with a user's or root's access key")]
    NotLongTermKey,
    /// Too many failed sign-ins from this source: wait this many seconds.
    #[error("too many failed sign-ins from your address: retry in {0} s")]
    SlowDown(u64),
    /// The policies refuse what was asked (AWS's AccessDenied message).
    #[error("{0}")]
    AccessDenied(String),
    /// A parameter or body that cannot be used as it is.
    #[error("{0}")]
    InvalidArgument(String),
    /// A request the console does not take in this form.
    #[error("{0}")]
    InvalidRequest(String),
    /// A body over the endpoint's limit.
    #[error("{0}")]
    TooLarge(String),
    /// No console endpoint or asset at this path.
    #[error("{0}")]
    NotFound(String),
    /// The endpoint exists but not for this method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// A failure below the console (the metadata store), already mapped to its S3 error.
    #[error("{0}")]
    S3(s3s::S3Error),
}

impl ConsoleError {
    /// The error's code (the `code` of the JSON document).
    pub fn code(&self) -> String {
        match self {
            Self::NotSignedIn(_) => "NotSignedIn".to_owned(),
            Self::InvalidCsrfToken => "InvalidCsrfToken".to_owned(),
            Self::InvalidOrigin(_) => "InvalidOrigin".to_owned(),
            Self::WrongKeys | Self::NotLongTermKey | Self::AccessDenied(_) => "AccessDenied".to_owned(),
            Self::SlowDown(_) => "SlowDown".to_owned(),
            Self::InvalidArgument(_) => "InvalidArgument".to_owned(),
            Self::InvalidRequest(_) => "InvalidRequest".to_owned(),
            Self::TooLarge(_) => "EntityTooLarge".to_owned(),
            Self::NotFound(_) => "NotFound".to_owned(),
            Self::MethodNotAllowed(_) => "MethodNotAllowed".to_owned(),
            Self::S3(e) => e.code().as_str().to_owned(),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotSignedIn(_) => StatusCode::UNAUTHORIZED,
            Self::InvalidCsrfToken
            | Self::InvalidOrigin(_)
            | Self::WrongKeys
            | Self::NotLongTermKey
            | Self::AccessDenied(_) => StatusCode::FORBIDDEN,
            Self::SlowDown(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::InvalidArgument(_) | Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::S3(e) => {
                e.status_code().or_else(|| e.code().status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }

    /// The message (for an S3 error, its own; a server-side failure says nothing of its cause).
    fn message(&self) -> String {
        match self {
            Self::S3(e) => e.message().unwrap_or("the request failed; retry").to_owned(),
            other => other.to_string(),
        }
    }

    /// The JSON answer (with `Retry-After` for [`ConsoleError::SlowDown`]).
    pub fn response(&self) -> Response<s3s::Body> {
        let body = serde_json::json!({ "code": self.code(), "message": self.message() });
        let mut resp = super::json_response(self.status(), &body);
        if let Self::SlowDown(secs) = self {
            resp.headers_mut().insert(http::header::RETRY_AFTER, HeaderValue::from(*secs));
        }
        resp
    }
}

impl From<s3s::S3Error> for ConsoleError {
    fn from(e: s3s::S3Error) -> Self {
        if e.code() == &s3s::S3ErrorCode::AccessDenied {
            return Self::AccessDenied(e.message().unwrap_or("Access Denied").to_owned());
        }
        Self::S3(e)
    }
}

impl From<kura_store::StoreError> for ConsoleError {
    fn from(e: kura_store::StoreError) -> Self {
        tracing::warn!(target: "kura::console", error = %e, "metadata store failure");
        Self::S3(crate::errors::store_error(e))
    }
}

/// A response with a static body (used by the asset table).
pub(super) fn bytes_response(status: StatusCode, body: Bytes) -> Response<s3s::Body> {
    let mut resp = Response::new(s3s::Body::from(body));
    *resp.status_mut() = status;
    resp
}
