//! The one error type of this crate.

/// Why a request's SigV4 authentication data, or a presigning input, was refused.
///
/// Messages say what to fix and never contain secrets or signatures (access key ids are not secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SigV4Error {
    /// The `Authorization` header does not have the SigV4 shape.
    #[error(
        "Authorization header must be `AWS4-HMAC-SHA256 Credential=ACCESS_KEY/DATE/REGION/SERVICE/aws4_request, \
         SignedHeaders=NAME;NAME, Signature=HEX`: {0}"
    )]
    MalformedAuthorization(&'static str),
    /// The credential (header `Credential=` or query `X-Amz-Credential`) is not a valid credential scope.
    #[error("{field} must be ACCESS_KEY/DATE/REGION/SERVICE/aws4_request")]
    MalformedCredential {
        /// `Credential` (header form) or `X-Amz-Credential` (query form).
        field: &'static str,
    },
    /// A signing algorithm other than `AWS4-HMAC-SHA256`.
    #[error("unsupported signing algorithm {0:?}: only AWS4-HMAC-SHA256 is accepted")]
    UnsupportedAlgorithm(String),
    /// A required presigned-URL query parameter is absent.
    #[error("presigned URL is missing query parameter {0}")]
    MissingParameter(&'static str),
    /// A presigned-URL authentication parameter appears more than once.
    #[error("query parameter {0} must appear only once")]
    DuplicateParameter(&'static str),
    /// A required header is absent (or appears more than once where one is required).
    #[error("missing or repeated header {0}")]
    MissingHeader(&'static str),
    /// A header or parameter that must be text is not (visible ASCII in headers, UTF-8 in the query).
    #[error("{0} must be text: visible ASCII in a header, UTF-8 in the query string")]
    NotText(&'static str),
    /// `X-Amz-Date` / `x-amz-date` is not `YYYYMMDDTHHMMSSZ`.
    #[error("{0} must be a UTC time written YYYYMMDD'T'HHMMSS'Z', e.g. 20130524T000000Z")]
    InvalidAmzDate(&'static str),
    /// A header-signed request without `x-amz-date` whose `Date` is not an HTTP date.
    #[error(
        "Date must be an HTTP date in UTC, e.g. Sun, 06 Nov 1994 08:49:37 GMT (or send x-amz-date: 19941106T084937Z)"
    )]
    InvalidHttpDate,
    /// The credential scope's date is not the date of `X-Amz-Date`.
    #[error("credential scope date {scope_date} does not match the request date {amz_date}")]
    ScopeDateMismatch {
        /// Date in the credential scope.
        scope_date: String,
        /// The request's `X-Amz-Date`.
        amz_date: String,
    },
    /// `X-Amz-Expires` is not a whole number of seconds in `1..=604800`.
    #[error("X-Amz-Expires must be a whole number of seconds from 1 to 604800 (7 days)")]
    InvalidExpires,
    /// The signed-headers list is malformed.
    #[error("SignedHeaders must be lowercase header names separated by ';', including host: {0}")]
    InvalidSignedHeaders(&'static str),
    /// More signed headers than this crate accepts.
    #[error("too many signed headers: at most {max} are accepted")]
    TooManySignedHeaders {
        /// The limit.
        max: usize,
    },
    /// More query parameters than this crate accepts.
    #[error("too many query parameters: at most {max} are accepted")]
    TooManyQueryParameters {
        /// The limit.
        max: usize,
    },
    /// The signature is not 64 lowercase hexadecimal characters.
    #[error("Signature / X-Amz-Signature must be 64 lowercase hexadecimal characters")]
    InvalidSignature,
    /// Both an `Authorization` header and `X-Amz-Signature` are present.
    #[error("a request may be signed in the Authorization header or in the query string, not both")]
    AmbiguousSignature,
    /// A presigning endpoint that is not `http(s)://host[:port]`.
    #[error("endpoint URL must be http://HOST[:PORT] or https://HOST[:PORT] with no path, query or user: {0}")]
    InvalidEndpoint(String),
    /// A presigning path that does not start with `/` or carries a query or fragment.
    #[error("request path must start with '/' and contain no '?' or '#': {0:?}")]
    InvalidPath(String),
    /// A header to sign with an invalid name or value, or one this crate signs itself.
    #[error(
        "cannot sign header {0:?}: the name must be a valid HTTP header name other than host, and the value visible ASCII"
    )]
    InvalidHeader(String),
    /// A query parameter to presign that this crate sets itself (`X-Amz-…` authentication parameters).
    #[error("query parameter {0:?} is set by the signer and cannot be given")]
    ReservedParameter(String),
    /// An HTTP method that is not a valid token.
    #[error("invalid HTTP method {0:?}")]
    InvalidMethod(String),
    /// A region or service name that is empty or contains `/` or control characters.
    #[error("{0} must be non-empty printable ASCII without '/'")]
    InvalidScopePart(&'static str),
}
