//! kura's master keys: the file of `KID BASE64KEY` lines that wraps SSE-S3 data keys and the built-in
//! KMS's key material.
//!
//! Rotation works like the session keys': the **first** key wraps, every key unwraps. Add a new key
//! at the top, and keep the old ones as long as something wrapped under them is stored (a wrapped key
//! names its master key id, so a removed key gives [`CryptError::UnknownKey`], never wrong bytes).

use crate::CryptError;
use crate::key::{DataKey, fill_random, unwrap, wrap};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::io::Write as _;
use std::path::Path;

/// Base32 alphabet of key ids (as the session keys').
const KEY_ID_CHARS: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A data key wrapped by a master key: the master key's id and the wrapped blob ([`wrap`]'s 60 bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedKey {
    /// The id of the master key that wrapped it.
    pub key_id: String,
    /// `nonce || ciphertext || tag`.
    pub blob: Vec<u8>,
}

/// The master keys, in file order: the first wraps, all unwrap. `Debug` shows the ids only.
pub struct MasterKeyring {
    /// `(id, key)`, never empty.
    keys: Vec<(String, DataKey)>,
}

impl std::fmt::Debug for MasterKeyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKeyring").field("key_ids", &self.key_ids()).finish()
    }
}

impl MasterKeyring {
    /// Parses a key file: one `KID BASE64KEY` per line (a 4-character id of A-Z and 2-7, a 32-byte
    /// key in standard base64); blank lines and `#` comments are skipped. Errors name the line.
    pub fn parse(text: &str) -> Result<Self, CryptError> {
        let mut keys: Vec<(String, DataKey)> = Vec::new();
        for (n, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |why: &str| CryptError::KeyFile(format!("line {n}: {why}"));
            let (id, b64) = line.split_once(char::is_whitespace).ok_or_else(|| bad("expected `KID BASE64KEY`"))?;
            if id.len() != 4 || !id.bytes().all(|b| KEY_ID_CHARS.contains(&b)) {
                return Err(bad("the key id must be 4 characters of A-Z and 2-7"));
            }
            let mut bytes = STANDARD.decode(b64.trim()).map_err(|_| bad("the key is not base64"))?;
            let key = DataKey::from_slice(&bytes);
            bytes.fill(0);
            let key = key.map_err(|_| bad("the key must be exactly 32 bytes (openssl rand -base64 32)"))?;
            if keys.iter().any(|(k, _)| k == id) {
                return Err(bad(&format!("key id {id} is used twice")));
            }
            keys.push((id.to_owned(), key));
        }
        if keys.is_empty() {
            return Err(CryptError::KeyFile("no key: add a line `KID BASE64KEY`".to_owned()));
        }
        Ok(Self { keys })
    }

    /// Reads the key file, or creates it (mode 0600, never overwriting) with one fresh key when it
    /// does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self, CryptError> {
        let at = |e: &dyn std::fmt::Display| CryptError::KeyFile(format!("{}: {e}", path.display()));
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text).map_err(|e| match e {
                CryptError::KeyFile(why) => at(&why),
                other => other,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let line = Self::new_key_line();
                write_private(path, &line).map_err(|e| at(&e))?;
                Self::parse(&line)
            }
            Err(e) => Err(at(&e)),
        }
    }

    /// A fresh key file line: `KID BASE64KEY\n` (a random id, 32 random bytes).
    pub fn new_key_line() -> String {
        let mut id = [0u8; 4];
        fill_random(&mut id);
        let id: String = id.iter().map(|b| KEY_ID_CHARS[usize::from(b & 31)] as char).collect();
        let key = DataKey::generate();
        format!("{id} {}\n", STANDARD.encode(key.expose()))
    }

    /// The id of the key that wraps.
    pub fn primary_id(&self) -> &str {
        self.keys.first().map(|(id, _)| id.as_str()).unwrap_or_default()
    }

    /// All ids, in file order.
    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.iter().map(|(id, _)| id.as_str()).collect()
    }

    /// Wraps `key` under the primary key, bound to `aad`.
    pub fn wrap(&self, key: &DataKey, aad: &[u8]) -> SealedKey {
        // `parse` refuses an empty key file, so there is always a first key.
        let (id, kek) = &self.keys[0];
        SealedKey { key_id: id.clone(), blob: wrap(kek, key, aad) }
    }

    /// Unwraps with the key `sealed` names: [`CryptError::UnknownKey`] if it is not in the file,
    /// [`CryptError::WrongKey`] if it does not open (edited blob, other AAD).
    pub fn unwrap(&self, sealed: &SealedKey, aad: &[u8]) -> Result<DataKey, CryptError> {
        let (_, kek) = self
            .keys
            .iter()
            .find(|(id, _)| *id == sealed.key_id)
            .ok_or_else(|| CryptError::UnknownKey(sealed.key_id.clone()))?;
        unwrap(kek, &sealed.blob, aad)
    }
}

/// Creates `path` with `contents`, readable by the owner only; fails if it exists.
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_error(text: &str) -> String {
        match MasterKeyring::parse(text) {
            Err(CryptError::KeyFile(why)) => why,
            other => panic!("expected a key file error, got {other:?}"),
        }
    }

    const KEY_A: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

    #[test]
    fn parse_errors_name_the_line() {
        assert_eq!(line_error(""), "no key: add a line `KID BASE64KEY`");
        assert_eq!(line_error("# only a comment\n\n"), "no key: add a line `KID BASE64KEY`");
        assert_eq!(line_error("\nABCD\n"), "line 2: expected `KID BASE64KEY`");
        assert_eq!(line_error(&format!("abcd {KEY_A}")), "line 1: the key id must be 4 characters of A-Z and 2-7");
        assert_eq!(line_error(&format!("ABC {KEY_A}")), "line 1: the key id must be 4 characters of A-Z and 2-7");
        assert_eq!(line_error(&format!("ABCDE {KEY_A}")), "line 1: the key id must be 4 characters of A-Z and 2-7");
        assert_eq!(line_error(&format!("AB18 {KEY_A}")), "line 1: the key id must be 4 characters of A-Z and 2-7");
        assert_eq!(line_error("# c\nABCD !!!"), "line 2: the key is not base64");
        assert_eq!(line_error("ABCD AAAA"), "line 1: the key must be exactly 32 bytes (openssl rand -base64 32)");
        let long = STANDARD.encode([0u8; 33]);
        assert_eq!(
            line_error(&format!("ABCD {long}")),
            "line 1: the key must be exactly 32 bytes (openssl rand -base64 32)"
        );
        assert_eq!(line_error(&format!("ABCD {KEY_A}\n\nABCD {KEY_A}\n")), "line 3: key id ABCD is used twice");
    }

    #[test]
    fn parse_reads_ids_in_order_and_skips_comments() {
        let text = format!("# master keys\n\n  NEW2 {KEY_A}  \nOLD7\t{KEY_A}\n{}", MasterKeyring::new_key_line());
        let ring = MasterKeyring::parse(&text).expect("parse");
        assert_eq!(ring.primary_id(), "NEW2");
        assert_eq!(ring.key_ids()[..2], ["NEW2", "OLD7"]);
        assert_eq!(ring.key_ids().len(), 3);
    }

    #[test]
    fn first_wraps_all_unwrap_and_rotation_keeps_old_keys() {
        let old_line = MasterKeyring::new_key_line();
        let old = MasterKeyring::parse(&old_line).expect("old");
        let key = DataKey::generate();
        let sealed = old.wrap(&key, b"b\0k\0v");
        assert_eq!(sealed.key_id, old.primary_id());
        assert_eq!(sealed.blob.len(), 60);
        assert_eq!(old.unwrap(&sealed, b"b\0k\0v"), Ok(key.clone()));

        // A new key put first: new wraps use it, the old key still unwraps.
        let rotated = MasterKeyring::parse(&format!("{}{old_line}", MasterKeyring::new_key_line())).expect("rotated");
        assert_eq!(rotated.unwrap(&sealed, b"b\0k\0v"), Ok(key.clone()));
        let fresh = rotated.wrap(&key, b"b\0k\0v");
        assert_ne!(fresh.key_id, sealed.key_id);
        assert_eq!(fresh.key_id, rotated.primary_id());
        assert_eq!(rotated.unwrap(&fresh, b"b\0k\0v"), Ok(key));

        // The old key removed: what it wrapped names an unknown key.
        let new_only = rotated.key_ids()[0].to_owned();
        let without_old =
            MasterKeyring::parse(&format!("{new_only} {}\n", STANDARD.encode(rotated.keys[0].1.expose())))
                .expect("without old");
        assert_eq!(without_old.unwrap(&sealed, b"b\0k\0v"), Err(CryptError::UnknownKey(sealed.key_id.clone())));
    }

    #[test]
    fn unwrap_with_another_aad_or_an_edited_blob_is_wrong_key() {
        let ring = MasterKeyring::parse(&MasterKeyring::new_key_line()).expect("ring");
        let sealed = ring.wrap(&DataKey::generate(), b"bucket\0key\0v1");
        assert_eq!(ring.unwrap(&sealed, b"bucket\0key\0v2"), Err(CryptError::WrongKey));
        assert_eq!(ring.unwrap(&sealed, b"bucket\0other\0v1"), Err(CryptError::WrongKey));
        let mut edited = sealed.clone();
        edited.blob[30] ^= 0x80;
        assert_eq!(ring.unwrap(&edited, b"bucket\0key\0v1"), Err(CryptError::WrongKey));
        // Same id, other key material (another server's file with a colliding id).
        let other = MasterKeyring::parse(&format!("{} {KEY_A}", sealed.key_id)).expect("other");
        assert_eq!(other.unwrap(&sealed, b"bucket\0key\0v1"), Err(CryptError::WrongKey));
    }

    #[test]
    fn load_or_create_makes_a_private_file_and_rereads_the_same_keys() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("master-keys");
        let first = MasterKeyring::load_or_create(&path).expect("create");
        assert_eq!(first.key_ids().len(), 1);
        let sealed = first.wrap(&DataKey::generate(), b"aad");
        let again = MasterKeyring::load_or_create(&path).expect("load");
        assert_eq!(again.key_ids(), first.key_ids());
        assert!(again.unwrap(&sealed, b"aad").is_ok());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn load_or_create_reports_the_path_and_line() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("master-keys");
        std::fs::write(&path, "# c\nABCD AAAA\n").expect("write");
        let err = MasterKeyring::load_or_create(&path).expect_err("bad file");
        assert_eq!(
            err,
            CryptError::KeyFile(format!(
                "{}: line 2: the key must be exactly 32 bytes (openssl rand -base64 32)",
                path.display()
            ))
        );
        // A broken file is reported, not replaced.
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "# c\nABCD AAAA\n");
        // A path under a missing directory: the I/O error, with the path.
        let missing = dir.path().join("no-such-dir").join("master-keys");
        match MasterKeyring::load_or_create(&missing) {
            Err(CryptError::KeyFile(why)) => assert!(why.starts_with(&missing.display().to_string()), "{why}"),
            other => panic!("expected a key file error, got {other:?}"),
        }
    }

    #[test]
    fn new_key_lines_parse_and_differ() {
        let a = MasterKeyring::new_key_line();
        let b = MasterKeyring::new_key_line();
        assert_ne!(a, b);
        assert!(a.ends_with('\n'));
        MasterKeyring::parse(&a).expect("a parses");
    }

    #[test]
    fn debug_shows_ids_only() {
        let ring = MasterKeyring::parse(&format!("ABCD {}\n", STANDARD.encode([0xAB; 32]))).expect("ring");
        let shown = format!("{ring:?} {ring:#?}");
        assert_eq!(format!("{ring:?}"), r#"MasterKeyring { key_ids: ["ABCD"] }"#);
        for needle in ["171", "q6ur", "AB, ", "0xab"] {
            assert!(!shown.contains(needle), "{shown}");
        }
    }
}
