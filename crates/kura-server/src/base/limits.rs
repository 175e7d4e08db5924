//! Size limits that more than one layer applies: the largest body kura lets s3s read whole, refused by
//! the access hook from the headers before any of it is read.

/// Largest request body s3s reads whole before parsing it (XML documents, bucket policies); kura
/// configures s3s with it.
pub const MAX_WHOLE_BODY: usize = 20 * 1024 * 1024;

/// The operations whose body s3s reads whole (s3s 0.14.1's `needs_full_body` routes).
const WHOLE_BODY_OPERATIONS: &[&str] = &[
    "CompleteMultipartUpload",
    "CreateBucket",
    "CreateBucketMetadataTableConfiguration",
    "DeleteObjects",
    "PutBucketAccelerateConfiguration",
    "PutBucketAcl",
    "PutBucketAnalyticsConfiguration",
    "PutBucketCors",
    "PutBucketEncryption",
    "PutBucketIntelligentTieringConfiguration",
    "PutBucketInventoryConfiguration",
    "PutBucketLifecycleConfiguration",
    "PutBucketLogging",
    "PutBucketMetricsConfiguration",
    "PutBucketNotificationConfiguration",
    "PutBucketOwnershipControls",
    "PutBucketPolicy",
    "PutBucketReplication",
    "PutBucketRequestPayment",
    "PutBucketTagging",
    "PutBucketVersioning",
    "PutBucketWebsite",
    "PutObjectAcl",
    "PutObjectLegalHold",
    "PutObjectLockConfiguration",
    "PutObjectRetention",
    "PutObjectTagging",
    "PutPublicAccessBlock",
    "RestoreObject",
    "SelectObjectContent",
];

/// Why a body that is read whole is refused before any of it is read (mapped to S3 errors in
/// [`crate::errors::body_limit_error`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BodyLimitError<'a> {
    /// It declares more than [`MAX_WHOLE_BODY`] bytes, or a length that is not a number (400
    /// MaxMessageLengthExceeded).
    #[error("the body of {op} may be at most {MAX_WHOLE_BODY} bytes")]
    TooLarge {
        /// The S3 operation.
        op: &'a str,
    },
    /// It comes chunked without a length (411 MissingContentLength, which s3s answers too, but only
    /// after reading the body; past the limit it failed with a 500).
    #[error("{op} needs a Content-Length header")]
    NoLength {
        /// The S3 operation.
        op: &'a str,
    },
}

/// Marks a request whose body has no declared length: no `Content-Length`, yet more than nothing to
/// read (HTTP/1 chunked, or HTTP/2 DATA frames after headers without a length). The dispatch puts it in
/// the request's extensions, where only the connection could tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnsizedBody;

/// Refuses, before any of it is read, a body that operation `op` would read whole when it declares more
/// than [`MAX_WHOLE_BODY`] bytes or comes without a length (chunked, or `no_length`: an [`UnsizedBody`]).
pub fn check_whole_body<'a>(op: &'a str, headers: &http::HeaderMap, no_length: bool) -> Result<(), BodyLimitError<'a>> {
    if !WHOLE_BODY_OPERATIONS.contains(&op) {
        return Ok(());
    }
    match headers.get(http::header::CONTENT_LENGTH) {
        Some(len) => {
            let len = len.to_str().ok().and_then(|l| l.trim().parse::<u64>().ok());
            if len.is_none_or(|l| l > MAX_WHOLE_BODY as u64) {
                return Err(BodyLimitError::TooLarge { op });
            }
        }
        None if no_length || headers.contains_key(http::header::TRANSFER_ENCODING) => {
            return Err(BodyLimitError::NoLength { op });
        }
        None => {}
    }
    Ok(())
}

/// The most a spooled body (`http::spool`: an object upload without a length) may hold: 5 GiB, S3's limit for one PUT.
pub const MAX_SPOOL: u64 = 5 * 1024 * 1024 * 1024;

/// Why a body could not be spooled.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The body is larger than [`MAX_SPOOL`].
    #[error("the body is larger than {max} bytes, the largest object one PUT may create; use a multipart upload")]
    TooLarge {
        /// The limit.
        max: u64,
    },
    /// The client's body ended in an error (the connection broke, a malformed chunk).
    #[error("the request body could not be read to its end: {0}")]
    Client(String),
    /// The temporary file could not be written.
    #[error("the request body could not be buffered to disk: {0}")]
    Io(#[from] std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> http::HeaderMap {
        pairs.iter().map(|(k, v)| (http::HeaderName::from_static(k), v.parse().expect("value"))).collect()
    }

    #[test]
    fn whole_bodies_are_bounded_before_they_are_read() {
        let limit = MAX_WHOLE_BODY.to_string();
        let over = (MAX_WHOLE_BODY + 1).to_string();
        assert!(check_whole_body("DeleteObjects", &headers(&[("content-length", &limit)]), false).is_ok());
        assert!(check_whole_body("DeleteObjects", &headers(&[]), false).is_ok());
        let over_limit = check_whole_body("PutBucketPolicy", &headers(&[("content-length", &over)]), false);
        assert_eq!(over_limit, Err(BodyLimitError::TooLarge { op: "PutBucketPolicy" }));
        let junk = check_whole_body("DeleteObjects", &headers(&[("content-length", "lots")]), false);
        assert_eq!(junk, Err(BodyLimitError::TooLarge { op: "DeleteObjects" }));
        let chunked = check_whole_body("DeleteObjects", &headers(&[("transfer-encoding", "chunked")]), false);
        assert_eq!(chunked, Err(BodyLimitError::NoLength { op: "DeleteObjects" }));
        // HTTP/2 says "no length" by sending DATA after headers without Content-Length.
        let no_length = check_whole_body("PutBucketTagging", &headers(&[]), true);
        assert_eq!(no_length, Err(BodyLimitError::NoLength { op: "PutBucketTagging" }));
        // Streamed bodies are not read whole.
        assert!(check_whole_body("PutObject", &headers(&[("content-length", &over)]), false).is_ok());
    }
}
