//! The `kms:` section (the built-in key service's declared keys) and `server.encryption` (where
//! kura's master keys live).
//!
//! ```yaml
//! server:
//!   encryption:
//!     master_keys_file: /etc/kura/master-keys   # default: <data dir>/master-keys, created 0600
//! kms:
//!   keys:
//!     - id: gitlab                               # or omitted: generated, found again by its first alias
//!       description: GitLab buckets
//!       aliases: [alias/gitlab]
//! ```
//!
//! A declared key is created at start or reload when missing; a key that leaves the file is kept
//! (objects encrypted with it must stay readable); its aliases follow the file.

use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// The longest key id kura accepts (AWS's are 36-character UUIDs).
pub const MAX_KEY_ID: usize = 64;
/// The longest alias name, `alias/` included (as AWS).
pub const MAX_ALIAS: usize = 256;
/// The longest description (as AWS).
pub const MAX_DESCRIPTION: usize = 8192;
/// The prefix of aliases AWS reserves for the keys it manages; kura creates `alias/aws/s3` itself.
pub const RESERVED_ALIAS_PREFIX: &str = "alias/aws/";

/// `server.encryption`: kura's master keys (they wrap SSE-S3 data keys and the KMS keys' material).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EncryptionSection {
    /// The key file (`KID BASE64KEY` per line; the first wraps, all unwrap). Default
    /// `<data dir>/master-keys`, created with one fresh key (mode 0600) when missing.
    pub master_keys_file: Option<PathBuf>,
}

/// The `kms:` section.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KmsSection {
    /// Keys that must exist.
    #[serde(default)]
    pub keys: Vec<KmsKeyConfig>,
}

/// One declared key.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KmsKeyConfig {
    /// The key id (the last part of its ARN). Absent: generated when the key is created, and the key
    /// is found again by its first alias (which is then required).
    pub id: Option<String>,
    /// A description, shown by `kura admin kms describe`.
    #[serde(default)]
    pub description: String,
    /// Aliases (`alias/NAME`) that name this key.
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// Why a key id is not one: 1 to 64 letters, digits, `-` or `_`.
pub fn check_key_id(id: &str) -> Result<(), String> {
    if id.is_empty()
        || id.len() > MAX_KEY_ID
        || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(format!("{id:?} is not a key id: use 1 to {MAX_KEY_ID} letters, digits, '-' or '_'"));
    }
    Ok(())
}

/// Why an alias name is not one a user may create: `alias/` and 1 to 250 of `a-zA-Z0-9/_-`, not
/// under `alias/aws/` (reserved for AWS-managed keys, as on AWS).
pub fn check_alias(alias: &str) -> Result<(), String> {
    let Some(name) = alias.strip_prefix("alias/") else {
        return Err(format!("{alias:?} is not an alias name: it must start with alias/"));
    };
    if name.is_empty()
        || alias.len() > MAX_ALIAS
        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-'))
    {
        return Err(format!(
            "{alias:?} is not an alias name: after alias/ use 1 to {} of a-z, A-Z, 0-9, '/', '_' and '-'",
            MAX_ALIAS - "alias/".len()
        ));
    }
    if alias.starts_with(RESERVED_ALIAS_PREFIX) {
        return Err(format!(
            "{alias:?}: aliases beginning with {RESERVED_ALIAS_PREFIX} are reserved for keys kura manages"
        ));
    }
    Ok(())
}

/// Why a description is refused: longer than AWS's 8192 characters, or with control characters.
pub fn check_description(text: &str) -> Result<(), String> {
    if text.chars().count() > MAX_DESCRIPTION {
        return Err(format!("the description is longer than {MAX_DESCRIPTION} characters"));
    }
    if text.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')) {
        return Err("the description holds control characters".to_owned());
    }
    Ok(())
}

impl KmsSection {
    /// Checks every key: ids and aliases well formed, none twice, a key without id has an alias.
    pub fn validate(&self, text: &str) -> Result<(), String> {
        let mut ids = BTreeSet::new();
        let mut aliases = BTreeSet::new();
        for (n, key) in self.keys.iter().enumerate() {
            let name = key.id.clone().or_else(|| key.aliases.first().cloned()).unwrap_or_else(|| format!("#{n}"));
            let at = super::at_line(text, &format!("id: {name}"));
            let at = if at.is_empty() { super::at_line(text, &format!("aliases: [{name}")) } else { at };
            let field = format!("{at}kms.keys.{name}");
            match &key.id {
                Some(id) => {
                    check_key_id(id).map_err(|e| format!("{field}.id: {e}"))?;
                    if !ids.insert(id.clone()) {
                        return Err(format!("{field}: key {id} is listed twice"));
                    }
                }
                None if key.aliases.is_empty() => {
                    return Err(format!(
                        "{field}: give the key an id or at least one alias (kura finds an id-less key again by its \
                         first alias)"
                    ));
                }
                None => {}
            }
            check_description(&key.description).map_err(|e| format!("{field}.description: {e}"))?;
            for alias in &key.aliases {
                check_alias(alias).map_err(|e| format!("{field}.aliases: {e}"))?;
                if !aliases.insert(alias.clone()) {
                    return Err(format!("{field}.aliases: {alias} names two keys"));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn the_kms_section_and_the_master_key_file_parse() {
        let c = Config::parse(
            "server:\n  encryption:\n    master_keys_file: /keys/master\nkms:\n  keys:\n    - id: gitlab\n      \
             description: GitLab\n      aliases: [alias/gitlab, alias/ci/runners]\n    - aliases: [alias/anon]\n",
        )
        .expect("valid");
        assert_eq!(c.server.encryption.master_keys_file.as_deref(), Some(std::path::Path::new("/keys/master")));
        assert_eq!(c.kms.keys.len(), 2);
        assert_eq!(c.kms.keys[0].id.as_deref(), Some("gitlab"));
        assert_eq!(c.kms.keys[0].aliases, ["alias/gitlab", "alias/ci/runners"]);
        assert_eq!(c.kms.keys[1].id, None);
    }

    #[test]
    fn bad_keys_are_refused_with_their_field() {
        for (yaml, needle) in [
            ("kms:\n  keys:\n    - id: a/b\n", "kms.keys.a/b.id"),
            ("kms:\n  keys:\n    - id: a\n    - id: a\n", "listed twice"),
            ("kms:\n  keys:\n    - description: x\n", "an id or at least one alias"),
            ("kms:\n  keys:\n    - id: a\n      aliases: [gitlab]\n", "must start with alias/"),
            ("kms:\n  keys:\n    - id: a\n      aliases: [alias/aws/s3]\n", "reserved"),
            (
                "kms:\n  keys:\n    - id: a\n      aliases: [alias/x]\n    - id: b\n      aliases: [alias/x]\n",
                "names two keys",
            ),
            ("kms:\n  keys:\n    - id: a\n      alias: [alias/x]\n", "unknown field `alias`"),
            ("kms:\n  key: []\n", "unknown field `key`"),
            ("server:\n  encryption:\n    master_key_file: /x\n", "unknown field `master_key_file`"),
        ] {
            let err = Config::parse(yaml).expect_err(yaml);
            assert!(err.contains(needle), "{yaml}: {err}");
        }
        let err = Config::parse("kms:\n  keys:\n    - id: a\n    - id: a\n").expect_err("twice");
        assert!(err.starts_with("line "), "{err}");
    }

    #[test]
    fn alias_names_follow_aws() {
        use super::check_alias;
        assert!(check_alias("alias/a-b_c/d").is_ok());
        assert!(check_alias("alias/").is_err());
        assert!(check_alias("alias/a b").is_err());
        assert!(check_alias(&format!("alias/{}", "a".repeat(250))).is_ok());
        assert!(check_alias(&format!("alias/{}", "a".repeat(251))).is_err());
        assert!(check_alias("alias/aws/s3").is_err());
    }
}
