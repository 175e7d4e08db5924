//! Data keys and key wrapping: one AES-256 key sealed under another with AES-256-GCM.

use crate::CryptError;
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

/// Length of a wrapped key: nonce (12) + key (32) + tag (16).
pub(crate) const WRAPPED_LEN: usize = NONCE_LEN + 32 + TAG_LEN;
/// Length of an AES-GCM tag.
pub(crate) const TAG_LEN: usize = 16;

/// A 256-bit AES key. `Debug` never shows it; the bytes are overwritten when it is dropped (best
/// effort: copies the compiler or the allocator made are out of reach).
#[derive(Clone)]
pub struct DataKey([u8; 32]);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(…)")
    }
}

impl Drop for DataKey {
    fn drop(&mut self) {
        self.0.fill(0);
        // Keeps the zeroing from being optimised away as a dead store.
        std::hint::black_box(&mut self.0);
    }
}

impl PartialEq for DataKey {
    /// Constant time, so comparing keys leaks nothing through timing.
    fn eq(&self, other: &Self) -> bool {
        self.0.iter().zip(other.0.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

impl Eq for DataKey {}

impl DataKey {
    /// A fresh random key from the system's generator.
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        fill_random(&mut key);
        Self(key)
    }

    /// A key from its 32 bytes ([`CryptError::BadKey`] for any other length).
    pub fn from_slice(b: &[u8]) -> Result<Self, CryptError> {
        let bytes: [u8; 32] = b.try_into().map_err(|_| CryptError::BadKey)?;
        Ok(Self(bytes))
    }

    /// The key's bytes (to hash an SSE-C key, or hand a KMS data key to a client).
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key ready for AES-256-GCM.
    pub(crate) fn aead(&self) -> LessSafeKey {
        // A 32-byte key is always valid for AES-256-GCM.
        #[allow(clippy::expect_used)]
        let unbound = UnboundKey::new(&AES_256_GCM, &self.0).expect("a 32-byte key is a valid AES-256 key");
        LessSafeKey::new(unbound)
    }
}

/// Fills `buf` from the system's random generator. AWS-LC aborts the process rather than return weak
/// randomness, so a failure here is not recoverable either.
pub(crate) fn fill_random(buf: &mut [u8]) {
    #[allow(clippy::expect_used)]
    aws_lc_rs::rand::fill(buf).expect("the system random generator failed");
}

/// Seals `key` under `kek`, bound to `aad`: `nonce || ciphertext || tag` (60 bytes, random nonce).
pub fn wrap(kek: &DataKey, key: &DataKey, aad: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    fill_random(&mut nonce);
    let mut blob = Vec::with_capacity(WRAPPED_LEN);
    blob.extend_from_slice(&nonce);
    blob.extend_from_slice(&key.0);
    // Sealing 32 bytes cannot exceed GCM's length limit.
    #[allow(clippy::expect_used)]
    let tag = kek
        .aead()
        .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut blob[NONCE_LEN..])
        .expect("sealing 32 bytes");
    blob.extend_from_slice(tag.as_ref());
    blob
}

/// Opens a blob made by [`wrap`] with the same `kek` and `aad`; [`CryptError::WrongKey`] on any
/// failure (wrong key, other AAD, edited or malformed blob).
pub fn unwrap(kek: &DataKey, blob: &[u8], aad: &[u8]) -> Result<DataKey, CryptError> {
    if blob.len() != WRAPPED_LEN {
        return Err(CryptError::WrongKey);
    }
    let (nonce, sealed) = blob.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptError::WrongKey)?;
    let mut buf = [0u8; 32 + TAG_LEN];
    buf.copy_from_slice(sealed);
    let opened = kek.aead().open_in_place(nonce, Aad::from(aad), &mut buf).map_err(|_| CryptError::WrongKey);
    let key = opened.and_then(|plain| DataKey::from_slice(plain));
    buf.fill(0);
    std::hint::black_box(&mut buf);
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_round_trips_and_is_60_bytes() {
        let kek = DataKey::generate();
        let key = DataKey::generate();
        let blob = wrap(&kek, &key, b"bucket\0key\0v1");
        assert_eq!(blob.len(), 60);
        assert_eq!(unwrap(&kek, &blob, b"bucket\0key\0v1"), Ok(key.clone()));
        // Random nonces: wrapping the same key twice gives two different blobs that both open.
        let again = wrap(&kek, &key, b"bucket\0key\0v1");
        assert_ne!(blob, again);
        assert_eq!(unwrap(&kek, &again, b"bucket\0key\0v1"), Ok(key));
    }

    #[test]
    fn unwrap_refuses_wrong_key_aad_edits_and_lengths() {
        let kek = DataKey::generate();
        let key = DataKey::generate();
        let blob = wrap(&kek, &key, b"a");
        assert_eq!(unwrap(&DataKey::generate(), &blob, b"a"), Err(CryptError::WrongKey));
        assert_eq!(unwrap(&kek, &blob, b"b"), Err(CryptError::WrongKey));
        assert_eq!(unwrap(&kek, &blob, b""), Err(CryptError::WrongKey));
        for byte in 0..blob.len() {
            let mut edited = blob.clone();
            edited[byte] ^= 0x01;
            assert_eq!(unwrap(&kek, &edited, b"a"), Err(CryptError::WrongKey), "byte {byte}");
        }
        assert_eq!(unwrap(&kek, &blob[..59], b"a"), Err(CryptError::WrongKey));
        assert_eq!(unwrap(&kek, &[blob.as_slice(), &[0]].concat(), b"a"), Err(CryptError::WrongKey));
        assert_eq!(unwrap(&kek, &[], b"a"), Err(CryptError::WrongKey));
    }

    #[test]
    fn from_slice_takes_exactly_32_bytes() {
        assert_eq!(DataKey::from_slice(&[7; 32]).map(|k| *k.expose()), Ok([7; 32]));
        assert_eq!(DataKey::from_slice(&[7; 31]), Err(CryptError::BadKey));
        assert_eq!(DataKey::from_slice(&[7; 33]), Err(CryptError::BadKey));
        assert_eq!(DataKey::from_slice(&[]), Err(CryptError::BadKey));
    }

    #[test]
    fn generated_keys_differ() {
        assert_ne!(DataKey::generate(), DataKey::generate());
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = DataKey::from_slice(&[0xAB; 32]).expect("key");
        let shown = format!("{key:?} {key:#?}");
        assert_eq!(format!("{key:?}"), "DataKey(…)");
        for needle in ["171", "ab", "AB", "q6ur"] {
            assert!(!shown.contains(needle), "{shown}");
        }
    }
}
