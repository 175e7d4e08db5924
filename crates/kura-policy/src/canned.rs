//! Built-in policies: the canned identity policies users and roles can name, and the anonymous bucket
//! policies of `mc anonymous set`-style modes.
//!
//! | name | grants |
//! |---|---|
//! | `readonly` | reading objects, tags and attributes (current and versions), listing buckets, objects and versions, bucket location and versioning state — on `arn:aws:s3:::*` |
//! | `writeonly` | `s3:PutObject` (uploads, copies, multipart), `s3:AbortMultipartUpload`, `s3:ListMultipartUploadParts` — on `arn:aws:s3:::*` |
//! | `readwrite` | `s3:*` on `arn:aws:s3:::*` (every S3 action, bucket configuration included; no STS or admin actions) |
//! | `admin` | `"Action": "*"` on `"Resource": "*"`: S3, STS and kura's admin actions |
//!
//! Account-level S3 actions (`s3:ListAllMyBuckets`) are evaluated against [`crate::s3::ACCOUNT_RESOURCE`]
//! (`arn:aws:s3:::`), which `arn:aws:s3:::*` matches, so these policies list buckets too.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use serde_json::json;

use crate::policy::{Effect, Policy};

/// The names of the canned identity policies.
pub const NAMES: &[&str] = &["readonly", "readwrite", "writeonly", "admin"];

/// The actions of `readonly`.
pub const READONLY_ACTIONS: &[&str] = &[
    "s3:GetBucketLocation",
    "s3:GetBucketVersioning",
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:GetObjectTagging",
    "s3:GetObjectVersionTagging",
    "s3:GetObjectAttributes",
    "s3:GetObjectVersionAttributes",
    "s3:ListAllMyBuckets",
    "s3:ListBucket",
    "s3:ListBucketVersions",
];

/// The actions of `writeonly`.
pub const WRITEONLY_ACTIONS: &[&str] = &["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"];

fn identity(actions: serde_json::Value, resource: &str) -> Policy {
    let doc = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": actions, "Resource": [resource]}]
    });
    Policy::from_value(doc).expect("canned policies parse")
}

static CANNED: LazyLock<[Policy; 4]> = LazyLock::new(|| {
    [
        identity(json!(READONLY_ACTIONS), "arn:aws:s3:::*"),
        identity(json!(["s3:*"]), "arn:aws:s3:::*"),
        identity(json!(WRITEONLY_ACTIONS), "arn:aws:s3:::*"),
        identity(json!(["*"]), "*"),
    ]
});

/// The canned policy called `name` (see the module table); `None` if there is none.
pub fn get(name: &str) -> Option<&'static Policy> {
    NAMES.iter().position(|n| *n == name).map(|i| &CANNED[i])
}

/// Anonymous access to one bucket, as `mc anonymous set` offers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnonymousMode {
    /// No anonymous access (no bucket policy).
    None,
    /// Anonymous `s3:GetObject` on `bucket/*`; `s3:ListBucket`, `s3:GetBucketLocation` on the bucket.
    Download,
    /// Anonymous `s3:PutObject`, `s3:AbortMultipartUpload`, `s3:ListMultipartUploadParts` on `bucket/*`;
    /// `s3:ListBucketMultipartUploads`, `s3:GetBucketLocation` on the bucket.
    Upload,
    /// Both download and upload.
    Public,
}

impl AnonymousMode {
    /// Every mode.
    pub const ALL: [AnonymousMode; 4] =
        [AnonymousMode::None, AnonymousMode::Download, AnonymousMode::Upload, AnonymousMode::Public];

    /// `none`, `download`, `upload`, `public`.
    pub fn as_str(self) -> &'static str {
        match self {
            AnonymousMode::None => "none",
            AnonymousMode::Download => "download",
            AnonymousMode::Upload => "upload",
            AnonymousMode::Public => "public",
        }
    }

    /// (bucket-level actions, object-level actions) this mode grants.
    fn actions(self) -> (Vec<&'static str>, Vec<&'static str>) {
        const DL_BUCKET: &[&str] = &["s3:GetBucketLocation", "s3:ListBucket"];
        const DL_OBJECT: &[&str] = &["s3:GetObject"];
        const UL_BUCKET: &[&str] = &["s3:GetBucketLocation", "s3:ListBucketMultipartUploads"];
        const UL_OBJECT: &[&str] = &["s3:AbortMultipartUpload", "s3:ListMultipartUploadParts", "s3:PutObject"];
        let (download, upload) = match self {
            AnonymousMode::None => (false, false),
            AnonymousMode::Download => (true, false),
            AnonymousMode::Upload => (false, true),
            AnonymousMode::Public => (true, true),
        };
        let mut bucket = BTreeSet::new();
        let mut object = BTreeSet::new();
        if download {
            bucket.extend(DL_BUCKET);
            object.extend(DL_OBJECT);
        }
        if upload {
            bucket.extend(UL_BUCKET);
            object.extend(UL_OBJECT);
        }
        (bucket.into_iter().collect(), object.into_iter().collect())
    }
}

impl fmt::Display for AnonymousMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown anonymous mode name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown anonymous access mode {0:?}: use none, download, upload or public")]
pub struct UnknownMode(pub String);

impl FromStr for AnonymousMode {
    type Err = UnknownMode;

    /// Case-insensitive; `private` is accepted for `none` (MinIO's older name).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "none" | "private" => Ok(AnonymousMode::None),
            "download" => Ok(AnonymousMode::Download),
            "upload" => Ok(AnonymousMode::Upload),
            "public" => Ok(AnonymousMode::Public),
            _ => Err(UnknownMode(s.to_owned())),
        }
    }
}

/// The bucket policy that gives `mode` to anonymous callers on `bucket`; `None` for [`AnonymousMode::None`]
/// (and for a bucket name that cannot appear in an ARN).
pub fn anonymous_policy(bucket: &str, mode: AnonymousMode) -> Option<Policy> {
    let (bucket_actions, object_actions) = mode.actions();
    if bucket_actions.is_empty() {
        return None;
    }
    let doc = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": bucket_actions,
             "Resource": [format!("arn:aws:s3:::{bucket}")]},
            {"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": object_actions,
             "Resource": [format!("arn:aws:s3:::{bucket}/*")]},
        ]
    });
    Policy::from_value(doc).ok()
}

/// (action, resource) pairs a policy grants to everyone, without conditions; `None` if it has any other
/// kind of statement.
fn anonymous_grants(policy: &Policy) -> Option<BTreeSet<(String, String)>> {
    let mut pairs = BTreeSet::new();
    for s in &policy.statements {
        let (negated, principals) = s.principal()?;
        let resource = s.resource()?;
        if s.effect != Effect::Allow
            || negated
            || !principals.is_everyone()
            || !s.conditions().is_empty()
            || s.action().is_negated()
            || resource.is_negated()
        {
            return None;
        }
        for a in s.action().patterns() {
            for r in resource.patterns() {
                pairs.insert((a.to_ascii_lowercase(), r.clone()));
            }
        }
    }
    Some(pairs)
}

/// Which anonymous mode `policy` is, for `bucket`: `Some(mode)` when it grants exactly what
/// [`anonymous_policy`] would (an empty policy is [`AnonymousMode::None`]); `None` for any other policy
/// ("custom").
pub fn anonymous_mode_of(bucket: &str, policy: &Policy) -> Option<AnonymousMode> {
    let got = anonymous_grants(policy)?;
    if got.is_empty() {
        return Some(AnonymousMode::None);
    }
    AnonymousMode::ALL
        .into_iter()
        .find(|m| anonymous_policy(bucket, *m).and_then(|p| anonymous_grants(&p)).is_some_and(|want| want == got))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canned_exist_and_are_identity_policies() {
        for n in NAMES {
            let p = get(n).expect("canned");
            p.validate_identity().expect("identity policy");
        }
        assert!(get("nope").is_none());
    }

    #[test]
    fn modes_round_trip() {
        for m in AnonymousMode::ALL {
            assert_eq!(m.to_string().parse::<AnonymousMode>(), Ok(m));
            match anonymous_policy("pics", m) {
                None => assert_eq!(m, AnonymousMode::None),
                Some(p) => {
                    p.validate_bucket_policy("pics").expect("valid bucket policy");
                    assert!(p.is_public());
                    assert_eq!(anonymous_mode_of("pics", &p), Some(m));
                    assert_eq!(anonymous_mode_of("other", &p), None);
                    let reparsed = Policy::parse(&p.to_json()).expect("parse");
                    assert_eq!(anonymous_mode_of("pics", &reparsed), Some(m));
                }
            }
        }
        assert_eq!("PRIVATE".parse::<AnonymousMode>(), Ok(AnonymousMode::None));
        assert!("nope".parse::<AnonymousMode>().is_err());
        let empty = Policy::parse(r#"{"Version":"2012-10-17","Statement":[]}"#).expect("parse");
        assert_eq!(anonymous_mode_of("pics", &empty), Some(AnonymousMode::None));
        let custom = Policy::parse(
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pics/public/*"}}"#,
        )
        .expect("parse");
        assert_eq!(anonymous_mode_of("pics", &custom), None);
    }
}
