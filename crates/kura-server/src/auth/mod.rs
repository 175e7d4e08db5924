//! Authentication and authorisation of S3 requests.
//!
//! s3s verifies signatures (SigV4 header, presigned query, POST policy, SigV2) using the secret that
//! [`KuraAuth`] resolves for an access key; [`KuraAccess`] then decides, per operation, whether the
//! authenticated principal may proceed. Until the policy engine is wired in, only the root user is
//! allowed (deny by default).

mod access;

pub use access::KuraAccess;
pub mod credentials;
pub use credentials::{Credentials, CredentialsError, RootCredentials};

use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3ErrorCode, S3Result};
use std::sync::Arc;

/// Resolves access keys to secrets for s3s's signature check.
#[derive(Clone)]
pub struct KuraAuth {
    root: Arc<Credentials>,
}

impl KuraAuth {
    /// Authentication for a server whose only identity is `root`.
    pub fn new(root: Arc<Credentials>) -> Self {
        Self { root }
    }
}

#[async_trait::async_trait]
impl S3Auth for KuraAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        if access_key == self.root.access_key {
            return Ok(SecretKey::from(self.root.secret_key.expose()));
        }
        Err(s3s::S3Error::with_message(
            S3ErrorCode::InvalidAccessKeyId,
            "The AWS access key ID you provided does not exist in our records.",
        ))
    }
}
