//! STS errors on the wire: the one place that maps [`IdentityError`] and request problems to AWS's STS
//! error codes, statuses and `<ErrorResponse>` XML.

use super::xml::escape;
use crate::authn::gate::TimeTooSkewed;
use crate::identity::IdentityError;
use crate::identity::session::SessionError;
use http::StatusCode;

/// An STS error response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct StsError {
    /// AWS's error code (`InvalidIdentityToken`, `AccessDenied`, …).
    pub code: &'static str,
    /// HTTP status.
    pub status: StatusCode,
    /// What went wrong and what to fix.
    pub message: String,
}

impl StsError {
    /// An error with its code, status and message.
    pub fn new(code: &'static str, status: StatusCode, message: impl Into<String>) -> Self {
        Self { code, status, message: message.into() }
    }

    /// `Sender` for client errors, `Receiver` for server-side ones (AWS's `<Type>`).
    fn fault(&self) -> &'static str {
        if self.status.is_server_error() { "Receiver" } else { "Sender" }
    }

    /// The `<ErrorResponse>` document.
    pub fn to_xml(&self, request_id: &str) -> String {
        format!(
            "<ErrorResponse xmlns=\"{ns}\"><Error><Type>{t}</Type><Code>{c}</Code><Message>{m}</Message></Error>\
             <RequestId>{r}</RequestId></ErrorResponse>",
            ns = super::xml::NAMESPACE,
            t = self.fault(),
            c = self.code,
            m = escape(&self.message),
            r = escape(request_id),
        )
    }
}

impl From<IdentityError> for StsError {
    fn from(e: IdentityError) -> Self {
        let message = e.to_string();
        let (code, status) = match e {
            IdentityError::InvalidIdentityToken(_) => ("InvalidIdentityToken", StatusCode::BAD_REQUEST),
            IdentityError::ExpiredToken => ("ExpiredTokenException", StatusCode::BAD_REQUEST),
            IdentityError::IdpRejectedClaim(_) => ("IDPRejectedClaim", StatusCode::FORBIDDEN),
            IdentityError::IdpCommunication(_) => ("IDPCommunicationError", StatusCode::BAD_REQUEST),
            IdentityError::AccessDenied(_) | IdentityError::NoAssociation(_) => ("AccessDenied", StatusCode::FORBIDDEN),
            IdentityError::InvalidParameterValue(_) => ("InvalidParameterValue", StatusCode::BAD_REQUEST),
            IdentityError::Validation(_) => ("ValidationError", StatusCode::BAD_REQUEST),
            IdentityError::MalformedPolicyDocument(_) => ("MalformedPolicyDocument", StatusCode::BAD_REQUEST),
            IdentityError::PackedPolicyTooLarge => ("PackedPolicyTooLarge", StatusCode::BAD_REQUEST),
            IdentityError::Keys(_) | IdentityError::Config(_) => {
                tracing::error!(error = %message, "identity configuration error");
                return Self::new(
                    "InternalFailure",
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the server's identity setup failed",
                );
            }
        };
        Self::new(code, status, message)
    }
}

impl From<TimeTooSkewed> for StsError {
    /// 403 `RequestTimeTooSkewed`, as kura's S3 gate answers the same request time.
    fn from(e: TimeTooSkewed) -> Self {
        let message = e.to_string();
        let mut chars = message.chars();
        let first = chars.next().map(|c| c.to_uppercase().collect::<String>()).unwrap_or_default();
        Self::new("RequestTimeTooSkewed", StatusCode::FORBIDDEN, format!("{first}{}.", chars.as_str()))
    }
}

impl From<SessionError> for StsError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Expired => Self::new("ExpiredToken", StatusCode::BAD_REQUEST, e.to_string()),
            SessionError::Missing
            | SessionError::Invalid
            | SessionError::OtherAccessKey
            | SessionError::LongTermKey
            | SessionError::UnknownKey => Self::new("InvalidClientTokenId", StatusCode::FORBIDDEN, e.to_string()),
        }
    }
}
