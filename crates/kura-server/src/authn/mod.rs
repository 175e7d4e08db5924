//! Authentication of S3 requests: who signed this, and is the signature one kura accepts.
//!
//! The [`gate`] reads each request once before s3s (one mechanism, fresh times, signed `x-amz-*`
//! headers, the host names); s3s then verifies the signature (SigV4 header, presigned query, POST
//! policy, SigV2) with the secret that [`KuraAuth`] resolves for an access key (root, an enabled IAM
//! user, a session, a ticket). What the caller may do is [`crate::authz`]'s question.

pub mod gate;
pub mod sigv4;

use crate::iam::Iam;
use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3ErrorCode, S3Result};
use std::sync::Arc;

/// Resolves access keys to secrets for s3s's signature check.
#[derive(Clone)]
pub struct KuraAuth {
    iam: Arc<Iam>,
}

impl KuraAuth {
    /// Authentication over the live IAM state.
    pub fn new(iam: Arc<Iam>) -> Self {
        Self { iam }
    }
}

#[async_trait::async_trait]
impl S3Auth for KuraAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        if let Some(secret) = self.iam.snapshot().secret_for(access_key) {
            return Ok(SecretKey::from(secret.expose().to_owned()));
        }
        // The one S3 error built outside `errors`: authentication stands below the error mapping (which
        // maps the gate's errors), and s3s's `S3Auth` wants the S3 error itself.
        Err(s3s::S3Error::with_message(
            S3ErrorCode::InvalidAccessKeyId,
            "The AWS access key ID you provided does not exist in our records.",
        ))
    }
}
