//! Session tags: what AssumeRole's `Tags` and a web identity token's `https://aws.amazon.com/tags`
//! claim give a session (its `aws:PrincipalTag/KEY` condition keys), which of them pass on to a session
//! it assumes in turn (transitive keys), and the condition keys `sts:TagSession` is decided with.
//!
//! The attack each rule closes: tags are what attribute-based policies grant on, so a caller must
//! not get a tag the role's owner did not allow (`sts:TagSession` in the trust policy and, for
//! AssumeRole, in the caller's own policies), nor keep one through a chain of roles unless it was
//! marked transitive, nor override a transitive tag it was handed.

use super::IdentityError;
use kura_policy::Context;
use std::collections::{BTreeMap, BTreeSet};

/// At most this many tags per session, as on AWS.
pub const MAX_TAGS: usize = 50;
/// The longest tag key, in characters.
const MAX_KEY_CHARS: usize = 128;
/// The longest tag value, in characters.
const MAX_VALUE_CHARS: usize = 256;

/// A session's tags and which of their keys are transitive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionTags {
    /// Tag key → value.
    pub tags: BTreeMap<String, String>,
    /// The keys (as in `tags`) that pass on to a chained session.
    pub transitive: BTreeSet<String>,
}

impl SessionTags {
    /// Checks tags as AWS does: at most [`MAX_TAGS`]; keys of 1 to 128 and values of 0 to 256
    /// characters, letters, digits, spaces and `_ . : / = + - @`; keys unique ignoring case; every
    /// transitive key one of the tags' keys (ignoring case). Errors say which tag and what to fix.
    pub fn new(pairs: Vec<(String, String)>, transitive: Vec<String>) -> Result<Self, IdentityError> {
        let invalid = |m: String| IdentityError::InvalidParameterValue(m);
        if pairs.len() > MAX_TAGS {
            return Err(IdentityError::Validation(format!(
                "{} session tags were passed: a session has at most {MAX_TAGS}",
                pairs.len()
            )));
        }
        let mut tags = BTreeMap::new();
        for (key, value) in pairs {
            if !valid_text(&key, 1, MAX_KEY_CHARS) {
                return Err(invalid(format!(
                    "session tag key {key:?}: use 1 to {MAX_KEY_CHARS} letters, digits, spaces and _.:/=+-@"
                )));
            }
            if !valid_text(&value, 0, MAX_VALUE_CHARS) {
                return Err(invalid(format!(
                    "the value of session tag {key:?}: use at most {MAX_VALUE_CHARS} letters, digits, spaces and \
                     _.:/=+-@"
                )));
            }
            if find_key(&tags, &key).is_some() {
                return Err(invalid(format!("session tag key {key:?} is passed twice (keys ignore case)")));
            }
            tags.insert(key, value);
        }
        let mut keys = BTreeSet::new();
        for wanted in transitive {
            let key = find_key(&tags, &wanted).ok_or_else(|| {
                invalid(format!("transitive tag key {wanted:?} is not among the session tags passed"))
            })?;
            keys.insert(key.to_owned());
        }
        Ok(Self { tags, transitive: keys })
    }

    /// Whether no tag is set.
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }

    /// The condition keys `sts:TagSession` is decided with: `aws:RequestTag/KEY` for each tag and
    /// `aws:TagKeys` for the list of keys.
    pub fn fill_request_keys(&self, context: &mut Context) {
        for (key, value) in &self.tags {
            context.insert(&format!("aws:RequestTag/{key}"), value.as_str());
        }
        context.insert_many("aws:TagKeys", self.tags.keys().cloned());
    }

    /// What a session assumed by a session carrying `inherited` gets when it asks for `asked`: the
    /// inherited transitive tags (still transitive) and the asked ones. The caller's other tags end
    /// with its session, as on AWS. An asked tag may not reuse an inherited transitive key.
    pub fn chained(inherited: &SessionTags, asked: SessionTags) -> Result<SessionTags, IdentityError> {
        let mut out = asked;
        for key in &inherited.transitive {
            let Some(value) = inherited.tags.get(key) else { continue };
            if let Some(clash) = find_key(&out.tags, key) {
                return Err(IdentityError::InvalidParameterValue(format!(
                    "session tag {clash:?} cannot be set: the calling session passes it on as a transitive tag"
                )));
            }
            out.tags.insert(key.clone(), value.clone());
            out.transitive.insert(key.clone());
        }
        if out.tags.len() > MAX_TAGS {
            return Err(IdentityError::Validation(format!(
                "the session would carry {} tags with the transitive ones it inherits: at most {MAX_TAGS}",
                out.tags.len()
            )));
        }
        Ok(out)
    }
}

/// The key of `tags` equal to `key` ignoring case.
fn find_key<'a>(tags: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
    let key = key.to_lowercase();
    tags.keys().find(|k| k.to_lowercase() == key).map(String::as_str)
}

/// Whether `text` is `min..=max` characters of letters, digits, white space and `_ . : / = + - @`
/// (AWS's `[\p{L}\p{Z}\p{N}_.:/=+\-@]*`).
fn valid_text(text: &str, min: usize, max: usize) -> bool {
    let chars = text.chars().count();
    (min..=max).contains(&chars)
        && text.chars().all(|c| c.is_alphanumeric() || (c.is_whitespace() && !c.is_control()) || "_.:/=+-@".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)], transitive: &[&str]) -> Result<SessionTags, IdentityError> {
        SessionTags::new(
            pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            transitive.iter().map(|k| (*k).to_owned()).collect(),
        )
    }

    #[test]
    fn tags_are_checked_as_aws_checks_them() {
        let ok = tags(&[("team", "payroll"), ("cost-center", ""), ("Projekt", "Größe 1")], &["TEAM"]).expect("ok");
        assert_eq!(ok.transitive, BTreeSet::from(["team".to_owned()]), "kept as the tag spells it");
        for (bad, transitive) in [
            (vec![("", "v")], vec![]),
            (vec![("a\nb", "v")], vec![]),
            (vec![("k", "<script>")], vec![]),
            (vec![("team", "a"), ("Team", "b")], vec![]),
            (vec![("team", "a")], vec!["owner"]),
        ] {
            let err = tags(&bad, &transitive).expect_err("refused");
            assert!(matches!(err, IdentityError::InvalidParameterValue(_)), "{bad:?} {transitive:?}: {err:?}");
        }
        let long_key = "k".repeat(129);
        assert!(tags(&[(&long_key, "v")], &[]).is_err());
        let many: Vec<(String, String)> = (0..51).map(|i| (format!("k{i}"), String::new())).collect();
        assert!(matches!(SessionTags::new(many, vec![]), Err(IdentityError::Validation(_))));
    }

    #[test]
    fn a_chain_keeps_transitive_tags_only_and_they_cannot_be_overridden() {
        let first = tags(&[("team", "payroll"), ("project", "x")], &["team"]).expect("first");
        let second = SessionTags::chained(&first, tags(&[("stage", "prod")], &[]).expect("asked")).expect("chain");
        assert_eq!(second.tags.get("team").map(String::as_str), Some("payroll"));
        assert_eq!(second.tags.get("project"), None, "not transitive: ends with the first session");
        assert!(second.transitive.contains("team"));
        let third = SessionTags::chained(&second, SessionTags::default()).expect("third");
        assert_eq!(third.tags.get("team").map(String::as_str), Some("payroll"), "transitive all the way");
        let err = SessionTags::chained(&first, tags(&[("TEAM", "admins")], &[]).expect("asked"))
            .expect_err("a transitive tag cannot be overridden");
        assert!(matches!(err, IdentityError::InvalidParameterValue(_)));
    }

    #[test]
    fn tag_session_is_decided_on_the_request_tags() {
        let mut cx = Context::new();
        tags(&[("team", "payroll")], &[]).expect("tags").fill_request_keys(&mut cx);
        assert_eq!(cx.get("aws:requesttag/team").map(|v| v.to_vec()), Some(vec!["payroll".to_owned()]));
        assert_eq!(cx.get("aws:tagkeys").map(|v| v.to_vec()), Some(vec!["team".to_owned()]));
    }
}
