//! The authorisation hook s3s calls after the signature check, before the operation runs.

use super::Credentials;
use s3s::access::{S3Access, S3AccessContext};
use s3s::{S3Error, S3ErrorCode, S3Result};
use std::sync::Arc;

/// SigV4's longest presigned URL lifetime: 7 days.
pub const MAX_PRESIGNED_EXPIRES_SECS: u64 = 7 * 24 * 3600;

/// Deny-by-default authorisation. For now the root user may do everything and nobody else anything;
/// the IAM policy engine replaces [`KuraAccess::decide`].
#[derive(Clone)]
pub struct KuraAccess {
    root: Arc<Credentials>,
}

impl KuraAccess {
    /// Authorisation for a server whose only identity is `root`.
    pub fn new(root: Arc<Credentials>) -> Self {
        Self { root }
    }

    fn decide(&self, access_key: Option<&str>, op: &str) -> S3Result<()> {
        match access_key {
            Some(k) if k == self.root.access_key => Ok(()),
            Some(k) => {
                tracing::info!(access_key = k, operation = op, "denied: no policy allows this principal");
                Err(S3Error::with_message(S3ErrorCode::AccessDenied, "Access Denied"))
            }
            None => {
                tracing::info!(operation = op, "denied: anonymous request");
                Err(S3Error::with_message(
                    S3ErrorCode::AccessDenied,
                    "Access Denied: anonymous requests are not allowed; sign the request with your credentials.",
                ))
            }
        }
    }
}

/// Rejects presigned URLs that ask for more than SigV4 allows.
fn check_presigned_expiry(uri: &http::Uri) -> S3Result<()> {
    let Some(query) = uri.query() else { return Ok(()) };
    for pair in query.split('&') {
        if let Some(v) = pair.strip_prefix("X-Amz-Expires=") {
            let ok = v.parse::<u64>().is_ok_and(|secs| secs <= MAX_PRESIGNED_EXPIRES_SECS);
            if !ok {
                return Err(S3Error::with_message(
                    S3ErrorCode::AuthorizationQueryParametersError,
                    "X-Amz-Expires must be a number of seconds no greater than 604800 (7 days).",
                ));
            }
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl S3Access for KuraAccess {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        check_presigned_expiry(cx.uri())?;
        let op = cx.s3_op().name();
        self.decide(cx.credentials().map(|c| c.access_key.as_str()), op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presigned_expiry_is_capped_at_seven_days() {
        let ok: http::Uri = "/b/k?X-Amz-Expires=604800&X-Amz-Signature=x".parse().expect("uri");
        let long: http::Uri = "/b/k?X-Amz-Expires=604801".parse().expect("uri");
        let junk: http::Uri = "/b/k?X-Amz-Expires=-1".parse().expect("uri");
        assert!(check_presigned_expiry(&ok).is_ok());
        assert_eq!(check_presigned_expiry(&long).unwrap_err().code(), &S3ErrorCode::AuthorizationQueryParametersError);
        assert!(check_presigned_expiry(&junk).is_err());
    }
}
