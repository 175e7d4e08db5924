//! Access key pairs and secrets that never print themselves, and the root pair: from the environment, or generated on first start and kept
//! in the data directory (mode 0600).

use rand::Rng;
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// A secret that never prints itself.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret itself; call only where it is really needed (signing, verification).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// An access key and its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The public access key id.
    pub access_key: String,
    /// The secret key.
    pub secret_key: Secret,
}

/// Failures loading or creating the root credentials.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// Only one of the two environment variables is set.
    #[error("set both KURA_ROOT_ACCESS_KEY and KURA_ROOT_SECRET_KEY, or neither (kura then generates a pair)")]
    HalfSet,
    /// A key is too short or has characters that cannot appear in a SigV4 credential.
    #[error("invalid root credentials: {0}")]
    Invalid(String),
    /// The stored file could not be read or written.
    #[error("root credentials file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The stored file is not in the expected format.
    #[error("root credentials file {0} is malformed: expected two lines, access key then secret key")]
    Malformed(PathBuf),
}

/// Where the root credentials came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootSource {
    /// `KURA_ROOT_ACCESS_KEY` / `KURA_ROOT_SECRET_KEY`.
    Environment,
    /// Read from the data directory (generated earlier).
    Stored,
    /// Generated now and stored; the caller prints them once.
    Generated,
}

/// The root credentials and their origin.
#[derive(Debug, Clone)]
pub struct RootCredentials {
    /// The pair.
    pub credentials: Credentials,
    /// Where it came from.
    pub source: RootSource,
}

/// File name of the stored root credentials inside the data directory.
pub const ROOT_CREDENTIALS_FILE: &str = "root-credentials";

impl RootCredentials {
    /// Uses the given pair if both halves are set, else the stored pair, else generates and stores one.
    pub fn load_or_generate(
        data_dir: &Path,
        access_key: Option<String>,
        secret_key: Option<String>,
    ) -> Result<Self, CredentialsError> {
        match (access_key, secret_key) {
            (Some(a), Some(s)) => {
                validate(&a, &s)?;
                return Ok(Self {
                    credentials: Credentials { access_key: a, secret_key: Secret::new(s) },
                    source: RootSource::Environment,
                });
            }
            (None, None) => {}
            _ => return Err(CredentialsError::HalfSet),
        }
        let path = data_dir.join(ROOT_CREDENTIALS_FILE);
        let io = |source| CredentialsError::Io { path: path.clone(), source };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
                let (Some(a), Some(s)) = (lines.next(), lines.next()) else {
                    return Err(CredentialsError::Malformed(path));
                };
                validate(a, s)?;
                Ok(Self {
                    credentials: Credentials { access_key: a.to_owned(), secret_key: Secret::new(s) },
                    source: RootSource::Stored,
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let credentials = generate();
                write_private(&path, &format!("{}\n{}\n", credentials.access_key, credentials.secret_key.expose()))
                    .map_err(io)?;
                Ok(Self { credentials, source: RootSource::Generated })
            }
            Err(e) => Err(io(e)),
        }
    }
}

fn validate(access: &str, secret: &str) -> Result<(), CredentialsError> {
    validate_access_key(access).map_err(CredentialsError::Invalid)?;
    validate_secret_key(secret).map_err(CredentialsError::Invalid)
}

/// The prefix of the access keys of temporary credentials (STS sessions), 20 characters long.
pub const TEMPORARY_KEY_PREFIX: &str = "ASIA";
/// The prefix of the access keys of upload tickets, 20 characters long.
pub const TICKET_KEY_PREFIX: &str = "KURT";

/// Whether `access` has the shape kura gives the keys it mints (a session's, a ticket's): 20
/// characters starting with [`TEMPORARY_KEY_PREFIX`] or [`TICKET_KEY_PREFIX`].
pub fn is_minted_shape(access: &str) -> bool {
    access.len() == 20 && (access.starts_with(TEMPORARY_KEY_PREFIX) || access.starts_with(TICKET_KEY_PREFIX))
}

/// An access key: at least 3 characters of A-Z, a-z, 0-9, '-', '_' or '.' (so it fits a SigV4 scope),
/// and not of the shape of a key kura mints (a user named like a ticket would sign as that ticket).
pub fn validate_access_key(access: &str) -> Result<(), String> {
    if access.len() < 3 || access.len() > 128 || !access.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err("the access key must be 3 to 128 characters of A-Z, a-z, 0-9, '-', '_' or '.'".into());
    }
    if is_minted_shape(access) {
        return Err(format!(
            "the access key {access:?} has the shape of the keys kura mints for sessions and upload tickets \
             (20 characters starting with {TEMPORARY_KEY_PREFIX} or {TICKET_KEY_PREFIX}): choose another"
        ));
    }
    Ok(())
}

/// A secret key: at least 8 printable characters without whitespace.
pub fn validate_secret_key(secret: &str) -> Result<(), String> {
    if secret.len() < 8 || secret.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the secret key must be at least 8 printable characters without spaces".into());
    }
    Ok(())
}

/// A fresh random pair shaped like AWS keys (20-character id, 40-character secret).
pub fn generate() -> Credentials {
    const ID_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const SECRET_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut rng = rand::rng();
    let mut pick =
        |set: &[u8], n: usize| -> String { (0..n).map(|_| set[rng.random_range(0..set.len())] as char).collect() };
    let access_key = format!("KURA{}", pick(ID_CHARS, 16));
    let secret_key = Secret::new(pick(SECRET_CHARS, 40));
    Credentials { access_key, secret_key }
}

/// Writes a file readable by its owner only, durably.
pub fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
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

    #[test]
    fn generated_once_then_reused_with_private_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = RootCredentials::load_or_generate(dir.path(), None, None).expect("generate");
        assert_eq!(first.source, RootSource::Generated);
        let again = RootCredentials::load_or_generate(dir.path(), None, None).expect("load");
        assert_eq!(again.source, RootSource::Stored);
        assert_eq!(first.credentials, again.credentials);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join(ROOT_CREDENTIALS_FILE)).expect("stat").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn environment_wins_and_half_set_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let env = RootCredentials::load_or_generate(dir.path(), Some("admin".into()), Some("password123".into()))
            .expect("env");
        assert_eq!(env.source, RootSource::Environment);
        assert!(matches!(
            RootCredentials::load_or_generate(dir.path(), Some("admin".into()), None),
            Err(CredentialsError::HalfSet)
        ));
    }

    #[test]
    fn secrets_do_not_print() {
        let c = generate();
        assert!(!format!("{c:?}").contains(c.secret_key.expose()));
    }
}
