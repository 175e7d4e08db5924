//! Keys for encryption at rest: the key service SSE-KMS asks for data keys ([`KeyService`], the
//! built-in one in [`builtin`]), and the [`Vault`] the S3 operations hold: kura's master keys (SSE-S3)
//! and the key service.
//!
//! A KMS key is named by its id, its ARN (`arn:aws:kms:REGION:000000000000:key/ID`), an alias
//! (`alias/NAME`) or an alias ARN. A data key is wrapped by the key's material with the encryption
//! context as associated data, so a data key only opens with the context it was made with (AWS's
//! InvalidCiphertextException otherwise). The service sits behind a trait so that an external KMS
//! (HashiCorp Vault Transit, KMIP) can be added later.

pub mod builtin;
pub mod vault;

pub use builtin::BuiltinKms;
pub use vault::Vault;

use kura_crypt::DataKey;
use kura_store::{StoreError, StoredKey};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An encryption context: non-secret pairs bound to a data key (S3 always adds `aws:s3:arn`). Sorted,
/// so that it has one canonical encoding ([`context_aad`]).
pub type EncryptionContext = BTreeMap<String, String>;

/// The alias of the key S3 uses when SSE-KMS names no key: always exists, created on first start.
pub const S3_DEFAULT_ALIAS: &str = "alias/aws/s3";

/// The state of a KMS key (AWS's `KeyState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyState {
    /// Usable.
    Enabled,
    /// Kept, but every use fails with `KMS.DisabledException` until enabled again.
    Disabled,
    /// Deleted at [`KmsKey::deletion_date`] unless cancelled; every use fails meanwhile.
    PendingDeletion,
}

impl KeyState {
    /// AWS's name of the state.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "Enabled",
            Self::Disabled => "Disabled",
            Self::PendingDeletion => "PendingDeletion",
        }
    }
}

/// Who manages a key: kura (the `alias/aws/s3` key, AWS's "AWS managed key") or its operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyManager {
    /// Made by kura for S3; its key policy lets every caller of the account use it through S3, and it
    /// cannot be disabled, deleted or given other aliases.
    Kura,
    /// Made from the configuration file or the admin API; IAM policies decide who may use it.
    Customer,
}

/// Where a key or alias was declared: the configuration file, the admin API, or kura itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyOrigin {
    /// Created by kura (`alias/aws/s3`).
    Builtin,
    /// Declared in the `kms:` section.
    Config,
    /// Created with `kura admin kms`.
    Admin,
}

/// A KMS key as the service describes it (never its material).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KmsKey {
    /// The key id.
    pub id: String,
    /// `arn:aws:kms:REGION:000000000000:key/ID`, fixed when the key was made.
    pub arn: String,
    /// The aliases naming it, sorted.
    pub aliases: Vec<String>,
    /// Enabled, disabled or pending deletion.
    pub state: KeyState,
    /// When it was made (Unix seconds).
    pub creation_date: u64,
    /// When a key pending deletion goes (Unix seconds).
    pub deletion_date: Option<u64>,
    /// What the operator wrote about it.
    pub description: String,
    /// Kura-managed (`alias/aws/s3`) or customer-managed.
    pub manager: KeyManager,
    /// Where it was declared.
    pub origin: KeyOrigin,
}

/// Failures of the key service (mapped to AWS's errors in [`crate::errors::kms_error`]).
#[derive(Debug, thiserror::Error)]
pub enum KmsError {
    /// No key has this id, ARN or alias.
    #[error("Invalid keyId '{0}'")]
    NotFound(String),
    /// The key is disabled.
    #[error("{0} is disabled.")]
    Disabled(String),
    /// The key is pending deletion.
    #[error("{0} is pending deletion.")]
    PendingDeletion(String),
    /// The key's state does not allow the change asked for (e.g. enabling a key pending deletion).
    #[error("{0}")]
    InvalidState(String),
    /// The data key does not open with this key and encryption context.
    #[error("the data key does not open with key {0} and this encryption context")]
    InvalidCiphertext(String),
    /// A key or alias of that name exists already.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// A malformed key id, alias, description or deletion window.
    #[error("{0}")]
    Invalid(String),
    /// The change is not allowed for this key (kura-managed, or declared in the configuration file).
    #[error("{0}")]
    Unsupported(String),
    /// Kura's master keys cannot unwrap a stored key (the key file lost the key that wrapped it, or the
    /// stored key was edited).
    #[error("the master keys cannot unwrap {what}: {cause}")]
    Master {
        /// What could not be unwrapped.
        what: String,
        /// Why.
        cause: kura_crypt::CryptError,
    },
    /// A stored key record does not parse.
    #[error("the stored record of key {0} is damaged")]
    Damaged(String),
    /// The metadata store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A key service: describes keys and makes and opens data keys under them.
///
/// The built-in one ([`BuiltinKms`]) keeps each key's material in the metadata store, wrapped by
/// kura's master keys; an external KMS (Vault Transit, KMIP) would implement the same three calls.
#[async_trait::async_trait]
pub trait KeyService: Send + Sync {
    /// The key `key` names: an id, a key ARN, `alias/NAME` or an alias ARN.
    async fn describe(&self, key: &str) -> Result<KmsKey, KmsError>;
    /// A fresh data key and its wrapped form under `key_arn` (any form [`KeyService::describe`]
    /// takes; the stored form always names the key ARN) bound to `context`. Fails unless the key is
    /// enabled.
    async fn generate_data_key(
        &self,
        key_arn: &str,
        context: &EncryptionContext,
    ) -> Result<(DataKey, StoredKey), KmsError>;
    /// Opens a data key [`KeyService::generate_data_key`] made, with the same context. Fails unless
    /// the key is enabled.
    async fn decrypt(&self, stored: &StoredKey, context: &EncryptionContext) -> Result<DataKey, KmsError>;
}

/// The canonical encoding of an encryption context, the associated data of a data key's wrap: a tag,
/// then each pair in key order as `len(k) k len(v) v` (lengths u32 big-endian), so that no two
/// contexts encode alike.
pub fn context_aad(context: &EncryptionContext) -> Vec<u8> {
    let mut aad = b"kura-kms-context-v1".to_vec();
    for (k, v) in context {
        for part in [k, v] {
            aad.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
            aad.extend_from_slice(part.as_bytes());
        }
    }
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_encoding_is_canonical_and_unambiguous() {
        let a: EncryptionContext = [("b", "2"), ("a", "1")].map(|(k, v)| (k.to_owned(), v.to_owned())).into();
        let b: EncryptionContext = [("a", "1"), ("b", "2")].map(|(k, v)| (k.to_owned(), v.to_owned())).into();
        assert_eq!(context_aad(&a), context_aad(&b));
        let c: EncryptionContext = [("a", "1b"), ("", "2")].map(|(k, v)| (k.to_owned(), v.to_owned())).into();
        assert_ne!(context_aad(&a), context_aad(&c));
        assert_ne!(context_aad(&EncryptionContext::new()), context_aad(&a));
    }
}
