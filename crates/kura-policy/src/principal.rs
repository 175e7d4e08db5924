//! Who is asking: the caller as the evaluator sees it.

/// The kind of caller, as `aws:PrincipalType` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrincipalKind {
    /// The account root (`arn:aws:iam::ACCOUNT:root`); kura's root credentials.
    Root,
    /// An IAM user (`arn:aws:iam::ACCOUNT:user/NAME`).
    User,
    /// A role session (`arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`).
    AssumedRole,
    /// A federated user session (`arn:aws:sts::ACCOUNT:federated-user/NAME`).
    FederatedUser,
    /// An unauthenticated request. Only a resource policy can allow it.
    Anonymous,
    /// The caller of `AssumeRoleWithWebIdentity`, identified by its OIDC provider: `Principal
    /// {"Federated": "<provider ARN>"}` in a trust policy matches it.
    WebIdentity,
}

impl PrincipalKind {
    /// The value of `aws:PrincipalType` for this kind.
    pub fn principal_type(self) -> &'static str {
        match self {
            PrincipalKind::Root => "Account",
            PrincipalKind::User => "User",
            PrincipalKind::AssumedRole => "AssumedRole",
            PrincipalKind::FederatedUser => "FederatedUser",
            PrincipalKind::Anonymous => "Anonymous",
            PrincipalKind::WebIdentity => "WebIdentityUser",
        }
    }
}

/// Who is asking.
///
/// Besides its own ARN, a caller may be named in a `Principal` element by other names (`aliases`): an
/// assumed-role session is also its role (`arn:aws:iam::ACCOUNT:role/ROLE`). Every authenticated caller is
/// also "its account": `{"AWS": "ACCOUNT"}` / `arn:aws:iam::ACCOUNT:root` in a `Principal` matches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The caller's ARN; empty for anonymous callers.
    pub arn: String,
    /// What kind of caller.
    pub kind: PrincipalKind,
    /// The 12-digit account id; empty for anonymous callers.
    pub account: String,
    /// Other ARNs (or `Service` / `CanonicalUser` names) that a `Principal` element may name this caller by.
    pub aliases: Vec<String>,
    /// For [`PrincipalKind::WebIdentity`]: the OIDC provider ARN (`arn:aws:iam::ACCOUNT:oidc-provider/ISSUER`).
    pub federated: Option<String>,
    /// `aws:username` (IAM users only, as in AWS).
    pub username: Option<String>,
    /// `aws:userid`: for kura, the user name, `ROLE:SESSION` for role sessions, the account for root.
    pub userid: Option<String>,
}

impl Principal {
    /// The unauthenticated caller.
    pub fn anonymous() -> Self {
        Principal {
            arn: String::new(),
            kind: PrincipalKind::Anonymous,
            account: String::new(),
            aliases: Vec::new(),
            federated: None,
            username: None,
            userid: Some("anonymous".to_owned()),
        }
    }

    /// The account root, `arn:aws:iam::ACCOUNT:root`.
    pub fn root(account: &str) -> Self {
        Principal {
            arn: format!("arn:aws:iam::{account}:root"),
            kind: PrincipalKind::Root,
            account: account.to_owned(),
            aliases: Vec::new(),
            federated: None,
            username: None,
            userid: Some(account.to_owned()),
        }
    }

    /// An IAM user, `arn:aws:iam::ACCOUNT:user/NAME`.
    pub fn user(account: &str, name: &str) -> Self {
        Principal {
            arn: format!("arn:aws:iam::{account}:user/{name}"),
            kind: PrincipalKind::User,
            account: account.to_owned(),
            aliases: Vec::new(),
            federated: None,
            username: Some(name.to_owned()),
            userid: Some(name.to_owned()),
        }
    }

    /// A role session, `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`, also named by its role ARN.
    pub fn assumed_role(account: &str, role: &str, session: &str) -> Self {
        Principal {
            arn: format!("arn:aws:sts::{account}:assumed-role/{role}/{session}"),
            kind: PrincipalKind::AssumedRole,
            account: account.to_owned(),
            aliases: vec![format!("arn:aws:iam::{account}:role/{role}")],
            federated: None,
            username: None,
            userid: Some(format!("{role}:{session}")),
        }
    }

    /// The web-identity caller of `AssumeRoleWithWebIdentity`: `provider_arn` is the OIDC provider's ARN,
    /// `subject` the token's `sub`. The caller's ARN is the provider ARN.
    pub fn web_identity(account: &str, provider_arn: &str, subject: &str) -> Self {
        Principal {
            arn: provider_arn.to_owned(),
            kind: PrincipalKind::WebIdentity,
            account: account.to_owned(),
            aliases: Vec::new(),
            federated: Some(provider_arn.to_owned()),
            username: None,
            userid: Some(subject.to_owned()),
        }
    }

    /// True for anonymous callers.
    pub fn is_anonymous(&self) -> bool {
        self.kind == PrincipalKind::Anonymous
    }

    /// The value of a principal-derived global condition key (`aws:PrincipalArn`, `aws:PrincipalAccount`,
    /// `aws:PrincipalType`, `aws:username`, `aws:userid`), given lower-cased. The evaluator falls back to
    /// these when the request context does not carry the key.
    pub(crate) fn key_lc(&self, key_lc: &str) -> Option<&str> {
        let anon = self.is_anonymous();
        match key_lc {
            "aws:principalarn" if !anon && !self.arn.is_empty() => Some(&self.arn),
            "aws:principalaccount" if !anon && !self.account.is_empty() => Some(&self.account),
            "aws:principaltype" => Some(self.kind.principal_type()),
            "aws:username" => self.username.as_deref(),
            "aws:userid" => self.userid.as_deref(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors() {
        let p = Principal::assumed_role("000000000000", "ci", "s1");
        assert_eq!(p.arn, "arn:aws:sts::000000000000:assumed-role/ci/s1");
        assert_eq!(p.aliases, ["arn:aws:iam::000000000000:role/ci"]);
        assert_eq!(p.key_lc("aws:principaltype"), Some("AssumedRole"));
        assert_eq!(p.key_lc("aws:username"), None);
        let u = Principal::user("000000000000", "alice");
        assert_eq!(u.key_lc("aws:username"), Some("alice"));
        assert_eq!(u.key_lc("aws:principalarn"), Some("arn:aws:iam::000000000000:user/alice"));
        let a = Principal::anonymous();
        assert_eq!(a.key_lc("aws:principalarn"), None);
        assert_eq!(a.key_lc("aws:principaltype"), Some("Anonymous"));
        assert_eq!(Principal::root("1").arn, "arn:aws:iam::1:root");
    }
}
