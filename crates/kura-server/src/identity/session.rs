//! Stateless temporary credentials: a session is sealed into its session token with a server key, so
//! any kura that holds the same key file accepts it, and nothing is stored.
//!
//! - The access key id is `ASIA` + the sealing key's id (4 characters) + 12 random characters.
//! - The secret key is derived from the key and the access key id (HMAC), so s3s can verify a
//!   signature knowing only the access key id.
//! - The session token is `base64url(claims JSON) "." base64url(HMAC(key, claims))`; the claims name
//!   the access key id they belong to. A request made with temporary credentials must carry its token
//!   ([`Keyring::open`] checks MAC, pairing and expiry), so a leaked key pair without the token, an
//!   edited token, or an expired one is refused.
//!
//! Key rotation: the key file lists keys one per line (`KID BASE64KEY`); the **first** seals, all
//! verify. Add a new key at the end on every replica first, then move it to the top.

use super::IdentityError;
pub use crate::base::claims::{SessionClaims, SessionKind};
use crate::base::credentials::Secret;
use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::Rng as _;
use std::path::Path;

/// Base32 alphabet of key ids and access key ids (as AWS's).
const KEY_ID_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
pub use crate::base::credentials::TEMPORARY_KEY_PREFIX;
pub use crate::base::credentials::TICKET_KEY_PREFIX;
/// The longest session token accepted (a sealed token with a 2 KiB session policy stays well below).
pub const MAX_TOKEN_LEN: usize = 16 * 1024;
/// File name of the generated key file inside the data directory.
pub const SESSION_KEYS_FILE: &str = "session-keys";

/// Temporary credentials as STS returns them (`Debug` hides the secret and the token).
#[derive(Clone)]
pub struct IssuedCredentials {
    /// `ASIA…`.
    pub access_key: String,
    /// The derived secret.
    pub secret_key: Secret,
    /// The sealed session token.
    pub session_token: String,
    /// Expiry (Unix seconds).
    pub expires: u64,
}

impl std::fmt::Debug for IssuedCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCredentials")
            .field("access_key", &self.access_key)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

/// The server keys that seal and open session tokens.
pub struct Keyring {
    /// `(id, key)`; the first seals.
    keys: Vec<(String, hmac::Key)>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("Keyring").field("key_ids", &ids).finish()
    }
}

fn random_chars(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n).map(|_| KEY_ID_CHARS[rng.random_range(0..KEY_ID_CHARS.len())] as char).collect()
}

impl Keyring {
    /// Reads the key file, or creates it (mode 0600) with one fresh key when it does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self, IdentityError> {
        let io = |e: std::io::Error| IdentityError::Keys(format!("{}: {e}", path.display()));
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text).map_err(|e| IdentityError::Keys(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let line = Self::new_key_line();
                crate::base::credentials::write_private(path, &line).map_err(io)?;
                Self::parse(&line).map_err(IdentityError::Keys)
            }
            Err(e) => Err(io(e)),
        }
    }

    /// A fresh key file line: `KID BASE64KEY` (32 random bytes).
    pub fn new_key_line() -> String {
        let key: [u8; 32] = rand::random();
        format!("{} {}\n", random_chars(4), STANDARD.encode(key))
    }

    /// Parses a key file: one `KID BASE64KEY` per line (4-character base32 id, at least 32 bytes of
    /// key); blank lines and `#` comments are skipped.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut keys: Vec<(String, hmac::Key)> = Vec::new();
        for (n, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (id, b64) = line.split_once(' ').ok_or_else(|| format!("line {n}: expected `KID BASE64KEY`"))?;
            if id.len() != 4 || !id.bytes().all(|b| KEY_ID_CHARS.contains(&b)) {
                return Err(format!("line {n}: the key id must be 4 characters of A-Z and 2-7"));
            }
            let bytes = STANDARD.decode(b64.trim()).map_err(|_| format!("line {n}: the key is not base64"))?;
            if bytes.len() < 32 {
                return Err(format!("line {n}: the key must be at least 32 bytes (openssl rand -base64 32)"));
            }
            if keys.iter().any(|(k, _)| k == id) {
                return Err(format!("line {n}: key id {id} is used twice"));
            }
            keys.push((id.to_owned(), hmac::Key::new(hmac::HMAC_SHA256, &bytes)));
        }
        if keys.is_empty() {
            return Err("no key: add a line `KID BASE64KEY`".to_owned());
        }
        Ok(Self { keys })
    }

    /// The key whose id follows the 4-character prefix of a temporary or ticket access key.
    fn key_of(&self, access_key: &str) -> Option<&hmac::Key> {
        let id = access_key.get(4..8)?;
        self.keys.iter().find(|(k, _)| k == id).map(|(_, key)| key)
    }

    /// The secret of a derived access key: sessions and tickets use separate domains, so one can never
    /// stand for the other.
    fn derive_secret(key: &hmac::Key, access_key: &str) -> Secret {
        let domain = if Self::is_ticket(access_key) { "kura-ticket-secret" } else { "kura-session-secret" };
        let tag = hmac::sign(key, format!("{domain}\0{access_key}").as_bytes());
        Secret::new(STANDARD.encode(&tag.as_ref()[..30]))
    }

    /// Whether this access key id has the shape of kura's temporary keys.
    pub fn is_temporary(access_key: &str) -> bool {
        access_key.len() == 20 && access_key.starts_with(TEMPORARY_KEY_PREFIX)
    }

    /// Whether this access key id has the shape of an upload ticket's.
    pub fn is_ticket(access_key: &str) -> bool {
        access_key.len() == 20 && access_key.starts_with(TICKET_KEY_PREFIX)
    }

    /// The secret of a temporary or ticket access key derived from one of our keys (`None`: not ours).
    /// Whether a ticket still exists, or a session token is valid, is checked separately.
    pub fn secret_for(&self, access_key: &str) -> Option<Secret> {
        if !Self::is_temporary(access_key) && !Self::is_ticket(access_key) {
            return None;
        }
        self.key_of(access_key).map(|key| Self::derive_secret(key, access_key))
    }

    /// A fresh upload-ticket access key (`KURT` + key id + 12 random characters) and its secret.
    pub fn mint_ticket_key(&self) -> (String, Secret) {
        let (id, key) = &self.keys[0];
        let access_key = format!("{TICKET_KEY_PREFIX}{id}{}", random_chars(12));
        let secret = Self::derive_secret(key, &access_key);
        (access_key, secret)
    }

    /// Mints credentials for `claims` (whose `access_key` is replaced by a fresh one).
    pub fn mint(&self, mut claims: SessionClaims) -> IssuedCredentials {
        let (id, key) = &self.keys[0];
        claims.access_key = format!("{TEMPORARY_KEY_PREFIX}{id}{}", random_chars(12));
        // Serialising plain strings and numbers cannot fail.
        let payload = serde_json::to_vec(&claims).unwrap_or_default();
        let payload = URL_SAFE_NO_PAD.encode(payload);
        let tag = hmac::sign(key, format!("kura-session-token\0{payload}").as_bytes());
        IssuedCredentials {
            secret_key: Self::derive_secret(key, &claims.access_key),
            session_token: format!("{payload}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref())),
            access_key: claims.access_key,
            expires: claims.expires,
        }
    }

    /// A keyed tag of `data` in `domain` (`KID.base64url(HMAC)`, made with the sealing key): what a
    /// stored record keeps instead of a value it must be able to recognise but never reveal (a web
    /// console session's cookie and the secret key it was opened with).
    pub fn tag(&self, domain: &str, data: &[u8]) -> String {
        let (id, key) = &self.keys[0];
        format!("{id}.{}", URL_SAFE_NO_PAD.encode(Self::mac(key, domain, data)))
    }

    /// Whether `tag` is [`Keyring::tag`] of `data` in `domain` under one of our keys (constant time).
    pub fn check_tag(&self, domain: &str, data: &[u8], tag: &str) -> bool {
        let Some((id, mac)) = tag.split_once('.') else { return false };
        let Some((_, key)) = self.keys.iter().find(|(k, _)| k == id) else { return false };
        let Ok(mac) = URL_SAFE_NO_PAD.decode(mac) else { return false };
        let mut message = Vec::with_capacity(domain.len() + 1 + data.len());
        message.extend_from_slice(domain.as_bytes());
        message.push(0);
        message.extend_from_slice(data);
        hmac::verify(key, &message, &mac).is_ok()
    }

    fn mac(key: &hmac::Key, domain: &str, data: &[u8]) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(key);
        ctx.update(domain.as_bytes());
        ctx.update(&[0]);
        ctx.update(data);
        ctx.sign()
    }

    /// Opens the token presented with `access_key` at time `now` (Unix seconds): its seal must be
    /// ours and intact, it must belong to that access key, and it must not have expired.
    pub fn open(&self, access_key: &str, token: &str, now: u64) -> Result<SessionClaims, SessionError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(SessionError::Invalid);
        }
        let key = self.key_of(access_key).ok_or(SessionError::Invalid)?;
        let (payload, tag) = token.split_once('.').ok_or(SessionError::Invalid)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| SessionError::Invalid)?;
        hmac::verify(key, format!("kura-session-token\0{payload}").as_bytes(), &tag)
            .map_err(|_| SessionError::Invalid)?;
        let bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|_| SessionError::Invalid)?;
        let claims: SessionClaims = serde_json::from_slice(&bytes).map_err(|_| SessionError::Invalid)?;
        if claims.access_key != access_key {
            return Err(SessionError::OtherAccessKey);
        }
        if now >= claims.expires {
            return Err(SessionError::Expired);
        }
        Ok(claims)
    }
}

/// Why a session token was refused (mapped to S3 and STS errors at the edge).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// Temporary credentials without their session token.
    #[error("temporary credentials (ASIA…) need their session token: send it as x-amz-security-token")]
    Missing,
    /// Not sealed by this server's keys, edited, or malformed.
    #[error("the security token included in the request is invalid")]
    Invalid,
    /// A valid token presented with another access key.
    #[error("the security token does not belong to the access key that signed the request")]
    OtherAccessKey,
    /// The session has ended.
    #[error("the security token included in the request is expired")]
    Expired,
    /// A session token sent with long-term credentials (root or a user).
    #[error("a security token was sent with long-term credentials: send it only with its temporary (ASIA…) key")]
    LongTermKey,
    /// An access key that is neither long-term nor temporary any more: a reload removed its user
    /// between the signature check and the access check.
    #[error(
        "the access key that signed the request does not exist in our records (it was removed by a configuration reload)"
    )]
    UnknownKey,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn claims(expires: u64) -> SessionClaims {
        SessionClaims {
            access_key: String::new(),
            role: "r".into(),
            session: "s".into(),
            kind: SessionKind::WebIdentity,
            issued: 100,
            expires,
            policy: None,
            vars: BTreeMap::from([("k8s:namespace".to_owned(), "default".to_owned())]),
            tags: BTreeMap::new(),
            transitive_tags: Default::default(),
            source: "https://issuer/system:serviceaccount:default:app".into(),
        }
    }

    #[test]
    fn mint_then_open_round_trips_and_the_secret_follows_the_key() {
        let ring = Keyring::parse(&Keyring::new_key_line()).expect("ring");
        let issued = ring.mint(claims(1_000));
        assert!(Keyring::is_temporary(&issued.access_key), "{}", issued.access_key);
        assert_eq!(ring.secret_for(&issued.access_key), Some(issued.secret_key.clone()));
        assert_eq!(issued.secret_key.expose().len(), 40);
        let opened = ring.open(&issued.access_key, &issued.session_token, 999).expect("open");
        assert_eq!(opened.vars["k8s:namespace"], "default");
        assert_eq!(opened.access_key, issued.access_key);
    }

    #[test]
    fn refusals() {
        let ring = Keyring::parse(&Keyring::new_key_line()).expect("ring");
        let a = ring.mint(claims(1_000));
        let b = ring.mint(claims(1_000));
        assert_eq!(ring.open(&a.access_key, &a.session_token, 1_000), Err(SessionError::Expired));
        assert_eq!(ring.open(&a.access_key, &b.session_token, 10), Err(SessionError::OtherAccessKey));
        // Any edit of the payload or the tag breaks the seal.
        let (payload, tag) = a.session_token.split_once('.').expect("two parts");
        let mut bytes = URL_SAFE_NO_PAD.decode(payload).expect("b64");
        let text = String::from_utf8(bytes.clone()).expect("json").replace("\"role\":\"r\"", "\"role\":\"x\"");
        bytes = text.into_bytes();
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(bytes));
        assert_eq!(ring.open(&a.access_key, &forged, 10), Err(SessionError::Invalid));
        assert_eq!(ring.open(&a.access_key, &format!("{payload}.AAAA"), 10), Err(SessionError::Invalid));
        assert_eq!(ring.open(&a.access_key, "garbage", 10), Err(SessionError::Invalid));
        assert_eq!(ring.open(&a.access_key, &"x".repeat(MAX_TOKEN_LEN + 1), 10), Err(SessionError::Invalid));
        // Another server's keys neither verify nor derive secrets.
        let other = Keyring::parse(&Keyring::new_key_line()).expect("ring");
        assert_eq!(other.open(&a.access_key, &a.session_token, 10), Err(SessionError::Invalid));
        assert_eq!(other.secret_for(&a.access_key), None);
    }

    #[test]
    fn rotation_keeps_old_keys_verifying() {
        let old_line = Keyring::new_key_line();
        let old = Keyring::parse(&old_line).expect("old");
        let issued = old.mint(claims(1_000));
        let rotated = Keyring::parse(&format!("{}{old_line}", Keyring::new_key_line())).expect("rotated");
        assert!(rotated.open(&issued.access_key, &issued.session_token, 10).is_ok());
        assert_eq!(rotated.secret_for(&issued.access_key), Some(issued.secret_key));
        let fresh = rotated.mint(claims(1_000));
        assert_ne!(fresh.access_key[4..8], issued.access_key[4..8], "new sessions use the first key");
    }

    #[test]
    fn ticket_keys_have_their_own_secrets() {
        let ring = Keyring::parse(&Keyring::new_key_line()).expect("ring");
        let (ticket, secret) = ring.mint_ticket_key();
        assert!(Keyring::is_ticket(&ticket) && !Keyring::is_temporary(&ticket));
        assert_eq!(ring.secret_for(&ticket), Some(secret.clone()));
        // The same random part as a session key derives another secret (domain separation).
        let as_session = format!("{TEMPORARY_KEY_PREFIX}{}", &ticket[4..]);
        assert_ne!(ring.secret_for(&as_session), Some(secret));
    }

    #[test]
    fn tags_bind_domain_data_and_key_and_survive_rotation() {
        let line = Keyring::new_key_line();
        let ring = Keyring::parse(&line).expect("ring");
        let tag = ring.tag("console", b"abc");
        assert!(ring.check_tag("console", b"abc", &tag));
        assert!(!ring.check_tag("console", b"abd", &tag));
        assert!(!ring.check_tag("other", b"abc", &tag));
        assert!(!ring.check_tag("console", b"abc", "garbage"));
        assert!(!ring.check_tag("console", b"abc", &tag[..tag.len() - 2]));
        let other = Keyring::parse(&Keyring::new_key_line()).expect("ring");
        assert!(!other.check_tag("console", b"abc", &tag));
        let rotated = Keyring::parse(&format!("{}{line}", Keyring::new_key_line())).expect("rotated");
        assert!(rotated.check_tag("console", b"abc", &tag));
    }

    #[test]
    fn key_file_errors_say_what_to_fix() {
        assert!(Keyring::parse("").expect_err("empty").contains("no key"));
        assert!(Keyring::parse("AB short").expect_err("id").contains("4 characters"));
        assert!(Keyring::parse("ABCD AAAA").expect_err("len").contains("32 bytes"));
        let line = Keyring::new_key_line();
        assert!(Keyring::parse(&format!("{line}{line}")).expect_err("dup").contains("twice"));
    }

    #[test]
    fn created_file_is_private_and_reused() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join(SESSION_KEYS_FILE);
        let first = Keyring::load_or_create(&path).expect("create");
        let issued = first.mint(claims(1_000));
        let again = Keyring::load_or_create(&path).expect("load");
        assert!(again.open(&issued.access_key, &issued.session_token, 10).is_ok());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777, 0o600);
        }
    }
}
