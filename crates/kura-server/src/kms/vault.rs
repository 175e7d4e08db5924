//! The [`Vault`]: what the S3 operations hold to encrypt and decrypt, kura's master keys (SSE-S3
//! data keys are wrapped by them) and the key service (SSE-KMS).

use super::{KeyService, KmsError};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kura_crypt::{DataKey, MasterKeyring, SealedKey};
use kura_store::StoredKey;
use std::sync::Arc;

/// File name of the generated master key file inside the data directory.
pub const MASTER_KEYS_FILE: &str = "master-keys";

/// Master keys and the key service, shared by every request.
pub struct Vault {
    master: Arc<MasterKeyring>,
    kms: Arc<dyn KeyService>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault").field("master", &self.master).finish_non_exhaustive()
    }
}

impl Vault {
    /// A vault over master keys and a key service.
    pub fn new(master: Arc<MasterKeyring>, kms: Arc<dyn KeyService>) -> Self {
        Self { master, kms }
    }

    /// A fresh SSE-S3 data key and its stored form: wrapped by the primary master key, bound to `aad`
    /// (the object's or part's identity, `s3::sealed::key_aad`).
    pub fn seal_s3(&self, aad: &[u8]) -> (DataKey, StoredKey) {
        let key = DataKey::generate();
        let sealed = self.master.wrap(&key, aad);
        (key, StoredKey { key_id: sealed.key_id, blob: STANDARD.encode(sealed.blob) })
    }

    /// Opens an SSE-S3 data key [`Vault::seal_s3`] made with the same `aad`, with whichever master key
    /// wrapped it (rotation: every key of the file unwraps).
    pub fn open_s3(&self, stored: &StoredKey, aad: &[u8]) -> Result<DataKey, KmsError> {
        let master_err = |cause| KmsError::Master { what: format!("a data key wrapped by {}", stored.key_id), cause };
        let blob = STANDARD.decode(&stored.blob).map_err(|_| master_err(kura_crypt::CryptError::BadKey))?;
        self.master.unwrap(&SealedKey { key_id: stored.key_id.clone(), blob }, aad).map_err(master_err)
    }

    /// The key service (SSE-KMS).
    pub fn kms(&self) -> &dyn KeyService {
        self.kms.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kms::BuiltinKms;
    use kura_store::memory::MemoryMetaStore;

    async fn vault(master: &str) -> Vault {
        let master = Arc::new(MasterKeyring::parse(master).expect("ring"));
        let kms =
            BuiltinKms::open(Arc::new(MemoryMetaStore::default()), master.clone(), "us-east-1").await.expect("kms");
        Vault::new(master, Arc::new(kms))
    }

    #[tokio::test]
    async fn sse_s3_keys_open_with_their_aad_and_after_rotation() {
        let old_line = MasterKeyring::new_key_line();
        let v = vault(&old_line).await;
        let (key, stored) = v.seal_s3(b"b\0k\0v1");
        assert_eq!(v.open_s3(&stored, b"b\0k\0v1").expect("opens").expose(), key.expose());
        assert!(matches!(v.open_s3(&stored, b"b\0k\0v2"), Err(KmsError::Master { .. })));
        // A new primary key on top: the old key still unwraps, new keys are wrapped by the new one.
        let rotated = vault(&format!("{}{old_line}", MasterKeyring::new_key_line())).await;
        assert_eq!(rotated.open_s3(&stored, b"b\0k\0v1").expect("old key").expose(), key.expose());
        let (_, newer) = rotated.seal_s3(b"x");
        assert_ne!(newer.key_id, stored.key_id);
        // Without the key that wrapped it, the data key is lost, and the error says which key.
        let other = vault(&MasterKeyring::new_key_line()).await;
        let err = other.open_s3(&stored, b"b\0k\0v1").expect_err("unknown master key");
        assert!(err.to_string().contains(&stored.key_id), "{err}");
    }
}
