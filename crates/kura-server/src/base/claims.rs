//! What a session token carries: the claims of a role session, sealed into its token by
//! [`crate::identity::session::Keyring`] and read back on every request.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// How a session was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SessionKind {
    /// `AssumeRoleWithWebIdentity`.
    WebIdentity,
    /// `AssumeRole`, signed by a user or another session.
    AssumeRole,
    /// `/kura/v1/credentials` (EKS Pod Identity protocol).
    PodIdentity,
}

/// What a session token carries: everything needed to authorise its requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionClaims {
    /// The temporary access key id this token belongs to.
    pub access_key: String,
    /// The assumed role's name.
    pub role: String,
    /// The role session name.
    pub session: String,
    /// How it was obtained.
    pub kind: SessionKind,
    /// Issue time (Unix seconds).
    pub issued: u64,
    /// Expiry (Unix seconds).
    pub expires: u64,
    /// Inline session policy (JSON): permissions are the role's ∩ this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Policy variables and condition keys of the session (`jwt:sub`, `k8s:namespace`, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: BTreeMap<String, String>,
    /// Session tags (`aws:PrincipalTag/KEY`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// The keys of `tags` that pass on to a session this one assumes (transitive tags).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub transitive_tags: BTreeSet<String>,
    /// Who obtained it: the token's `iss`/`sub`, or the ARN of the caller of `AssumeRole` (audit).
    pub source: String,
}
