//! Authentication and authorisation of S3 requests.
//!
//! s3s verifies signatures (SigV4 header, presigned query, POST policy, SigV2) using the secret that
//! [`KuraAuth`] resolves for an access key (root, or an enabled IAM user of the current
//! [`crate::iam::IamState`]); [`KuraAccess`] then builds the request's condition keys ([`context`]) and
//! asks [`crate::authz`] whether the caller may proceed. Deny by default.

mod access;
pub mod context;
pub mod credentials;
pub mod gate;
pub mod sigv4;

pub use access::{Authenticated, KuraAccess, caller_of, session_token};
pub use credentials::{Credentials, CredentialsError, RootCredentials, Secret};

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
        Err(s3s::S3Error::with_message(
            S3ErrorCode::InvalidAccessKeyId,
            "The AWS access key ID you provided does not exist in our records.",
        ))
    }
}
