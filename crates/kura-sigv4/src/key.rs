//! Signing keys, credential scopes, signatures and the POST-policy signature.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::SigV4Error;

type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA256 keyed with `key`, built without a fallible constructor: HMAC zero-pads keys up to the
/// block size and hashes longer ones first, which is exactly what is done here.
fn hmac(key: &[u8]) -> HmacSha256 {
    let mut block = hmac::digest::Key::<HmacSha256>::default();
    let hashed;
    let key = if key.len() > block.len() {
        hashed = Sha256::digest(key);
        hashed.as_slice()
    } else {
        key
    };
    for (slot, byte) in block.iter_mut().zip(key) {
        *slot = *byte;
    }
    <HmacSha256 as KeyInit>::new(&block)
}

fn hmac_once(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = hmac(key);
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// A derived SigV4 signing key (`kSigning`) for one date, region and service.
///
/// It is as sensitive as the secret for that day: `Debug` prints `SigningKey(** redacted **)`.
/// Cloning is cheap (the HMAC inner and outer states are precomputed once, so each signature made
/// with a cached key saves two SHA-256 blocks).
#[derive(Clone)]
pub struct SigningKey {
    bytes: [u8; 32],
    mac: HmacSha256,
}

impl SigningKey {
    /// Wraps raw key bytes (e.g. from another implementation's derivation).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self { bytes, mac: hmac(&bytes) }
    }

    /// The raw key bytes. Handle them like the secret itself.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    fn mac(&self, data: &[u8]) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(data);
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(** redacted **)")
    }
}

/// Derives the signing key: `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
///
/// `date_yyyymmdd` is the credential scope date (`20130524`). The result depends only on these four
/// inputs, so callers may cache it per day (kura-bench does).
pub fn derive_key(secret: &str, date_yyyymmdd: &str, region: &str, service: &str) -> SigningKey {
    let mut k_secret = Vec::with_capacity(4 + secret.len());
    k_secret.extend_from_slice(b"AWS4");
    k_secret.extend_from_slice(secret.as_bytes());
    let k_date = hmac_once(&k_secret, date_yyyymmdd.as_bytes());
    // Do not leave a copy of the secret behind in freed memory longer than needed.
    k_secret.iter_mut().for_each(|b| *b = 0);
    let k_region = hmac_once(&k_date, region.as_bytes());
    let k_service = hmac_once(&k_region, service.as_bytes());
    SigningKey::from_bytes(hmac_once(&k_service, b"aws4_request"))
}

/// A credential scope: date, region and service. `Display` writes `20130524/us-east-1/s3/aws4_request`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    /// `YYYYMMDD`.
    pub date: String,
    /// Region, e.g. `us-east-1`.
    pub region: String,
    /// Service, e.g. `s3` or `sts`.
    pub service: String,
}

impl Scope {
    /// A scope from its parts (not validated; see [`Scope::parse`] for received scopes).
    pub fn new(date: impl Into<String>, region: impl Into<String>, service: impl Into<String>) -> Self {
        Self { date: date.into(), region: region.into(), service: service.into() }
    }

    /// Parses a full credential `ACCESS_KEY/DATE/REGION/SERVICE/aws4_request` into the access key id and
    /// the scope. `field` names the header part or parameter in the error (`Credential`, `X-Amz-Credential`).
    ///
    /// # Errors
    /// [`SigV4Error::MalformedCredential`] unless there are five non-empty parts, the last is
    /// `aws4_request` and the date is eight digits.
    pub fn parse_credential(credential: &str, field: &'static str) -> Result<(String, Scope), SigV4Error> {
        let bad = || SigV4Error::MalformedCredential { field };
        let mut parts = credential.rsplitn(5, '/');
        let (Some(terminator), Some(service), Some(region), Some(date), Some(access_key)) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let printable = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic());
        if terminator != "aws4_request"
            || !printable(service)
            || !printable(region)
            || !printable(access_key)
            || date.len() != 8
            || !date.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        Ok((access_key.to_owned(), Scope::new(date, region, service)))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}/aws4_request", self.date, self.region, self.service)
    }
}

/// The hex signature of a string to sign: `hex(HMAC(key, string_to_sign))`.
pub fn signature(key: &SigningKey, string_to_sign: &str) -> String {
    hex::encode(key.mac(string_to_sign.as_bytes()))
}

/// The signature of a presigned POST (browser upload) policy: `hex(HMAC(key, policy_base64))`, where
/// `policy_base64` is the `Policy` form field exactly as sent and `key` is derived for the scope in the
/// form's `X-Amz-Credential`.
pub fn sign_post_policy(key: &SigningKey, policy_base64: &str) -> String {
    signature(key, policy_base64)
}

/// Compares two signatures in time independent of where they differ (lengths are not secret).
pub fn signatures_equal(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

pub(crate) fn validate_scope_part(value: &str, what: &'static str) -> Result<(), SigV4Error> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_graphic() && b != b'/') {
        return Err(SigV4Error::InvalidScopePart(what));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts() {
        let key = derive_key("secret", "20130524", "us-east-1", "s3");
        assert_eq!(format!("{key:?}"), "SigningKey(** redacted **)");
    }

    /// AWS's documented derivation example (IAM user guide, "derive a signing key"):
    /// secret wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, 20120215, us-east-1, iam.
    #[test]
    fn derivation_example() {
        let key = derive_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam");
        assert_eq!(hex::encode(key.as_bytes()), "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
    }

    #[test]
    fn long_hmac_keys_are_hashed() {
        // RFC 4231 test case 6: a 131-byte key.
        let key = [0xaa_u8; 131];
        let out = hmac_once(&key, b"Test Using Larger Than Block-Size Key - Hash Key First");
        assert_eq!(hex::encode(out), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
        // RFC 4231 test case 2: a short key.
        let out = hmac_once(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(hex::encode(out), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn credential_parsing() {
        let (ak, scope) = Scope::parse_credential("AKID/20130524/us-east-1/s3/aws4_request", "Credential").unwrap();
        assert_eq!(ak, "AKID");
        assert_eq!(scope.to_string(), "20130524/us-east-1/s3/aws4_request");
        for bad in [
            "AKID/20130524/us-east-1/s3",
            "AKID/20130524/us-east-1/s3/aws4_requesx",
            "/20130524/us-east-1/s3/aws4_request",
            "AKID/2013052/us-east-1/s3/aws4_request",
            "AKID/2013052x/us-east-1/s3/aws4_request",
            "AKID/20130524//s3/aws4_request",
            "",
        ] {
            assert_eq!(
                Scope::parse_credential(bad, "X-Amz-Credential"),
                Err(SigV4Error::MalformedCredential { field: "X-Amz-Credential" }),
                "{bad}"
            );
        }
    }

    #[test]
    fn constant_time_equality() {
        assert!(signatures_equal("abc", "abc"));
        assert!(!signatures_equal("abc", "abd"));
        assert!(!signatures_equal("abc", "abcd"));
    }
}
