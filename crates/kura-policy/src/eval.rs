//! Evaluation: which policies apply to a request, and how their answers combine.

use std::fmt;

use crate::env::Env;
use crate::policy::{Effect, Policy};
use crate::{Context, Principal};

/// The request to authorise.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Who is asking.
    pub principal: &'a Principal,
    /// The IAM action, e.g. `s3:GetObject` (compared case-insensitively).
    pub action: &'a str,
    /// The resource ARN, e.g. `arn:aws:s3:::bucket/key` (compared case-sensitively).
    pub resource: &'a str,
    /// Condition keys and policy variables.
    pub context: &'a Context,
}

/// A policy as the evaluator sees it: its name appears in explanations ("readwrite", "bucket policy of b",
/// "session policy").
#[derive(Debug, Clone, Copy)]
pub struct NamedPolicy<'a> {
    /// How explanations and the audit log name the policy.
    pub name: &'a str,
    /// The policy.
    pub policy: &'a Policy,
}

/// Every policy that bears on one request.
#[derive(Debug, Clone, Copy, Default)]
pub struct PolicySet<'a> {
    /// The caller's identity policies (user or role policies): their allows are a union.
    pub identity: &'a [NamedPolicy<'a>],
    /// The resource policy (bucket policy, or the role trust policy for `sts:AssumeRole*`): the only place
    /// where `Principal` / `NotPrincipal` are evaluated.
    pub resource: Option<NamedPolicy<'a>>,
    /// Session policies and permission boundaries: each must allow (an intersection).
    pub session: &'a [NamedPolicy<'a>],
}

/// The result of an evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Some statement allows it and nothing denies or limits it.
    Allow,
    /// A `Deny` statement applies.
    ExplicitDeny,
    /// No statement allows it (deny by default), or a session policy / boundary does not allow it.
    ImplicitDeny,
}

/// Points at one statement: the policy's name, the statement's index in it, its `Sid`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StatementRef {
    /// The [`NamedPolicy::name`].
    pub policy: String,
    /// Index in the policy's `Statement` list.
    pub index: usize,
    /// The statement's `Sid`.
    pub sid: Option<String>,
}

impl fmt::Display for StatementRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "statement {}", self.index)?;
        if let Some(sid) = &self.sid {
            write!(f, " (Sid {sid:?})")?;
        }
        write!(f, " of policy {:?}", self.policy)
    }
}

/// The decision for one request, with what decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Allowed, or why not.
    pub outcome: Outcome,
    /// The statement that decided: the `Deny`, or the `Allow`; `None` for an implicit deny.
    pub statement: Option<StatementRef>,
    /// For an implicit deny caused by a session policy or permission boundary: its name.
    pub limited_by: Option<String>,
}

impl Decision {
    /// True for [`Outcome::Allow`].
    pub fn is_allowed(&self) -> bool {
        self.outcome == Outcome::Allow
    }

    /// One line for logs and error messages: `allowed by statement 0 of policy "readwrite"`,
    /// `denied: statement 1 (Sid "DenyK9s") of policy "p" denies`, `denied: no statement allows`.
    pub fn explain(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.outcome, &self.statement, &self.limited_by) {
            (Outcome::Allow, Some(s), _) => write!(f, "allowed by {s}"),
            (Outcome::Allow, None, _) => f.write_str("allowed"),
            (Outcome::ExplicitDeny, Some(s), _) => write!(f, "denied: {s} denies"),
            (Outcome::ExplicitDeny, None, _) => f.write_str("denied explicitly"),
            (Outcome::ImplicitDeny, _, Some(limit)) => {
                write!(f, "denied: no statement of {limit:?} allows (it limits what the identity policies grant)")
            }
            (Outcome::ImplicitDeny, _, None) => f.write_str("denied: no statement allows"),
        }
    }
}

fn sref(np: &NamedPolicy<'_>, index: usize) -> StatementRef {
    StatementRef { policy: np.name.to_owned(), index, sid: np.policy.statements[index].sid.clone() }
}

/// How one policy answers a request: the first applicable `Deny`, else the first applicable `Allow`.
enum Answer {
    Deny(usize),
    Allow(usize),
    Nothing,
}

fn answer(policy: &Policy, request: &Request<'_>, env: &Env<'_>, check_principal: bool) -> Answer {
    let mut allow = None;
    for (i, s) in policy.statements.iter().enumerate() {
        if (s.effect == Effect::Deny || allow.is_none())
            && s.applies(request.action, request.resource, env, check_principal)
        {
            match s.effect {
                Effect::Deny => return Answer::Deny(i),
                Effect::Allow => allow = Some(i),
            }
        }
    }
    allow.map_or(Answer::Nothing, Answer::Allow)
}

/// Evaluates a request against a policy set.
///
/// This is AWS "Policy evaluation logic" for a request within one account:
/// 1. An `Allow` or `Deny` statement applies when its action, resource, principal (resource policy only)
///    and every condition match.
/// 2. Any applicable `Deny` in any policy (identity, resource, session) → [`Outcome::ExplicitDeny`].
/// 3. Otherwise the request is allowed when
///    (a) an identity policy allows it (not for anonymous callers: they have no identity), **or** the
///    resource policy allows it for this principal, **and**
///    (b) every entry of `session` (session policies, permission boundaries) allows it — except that an
///    allow from a resource-policy statement whose `Principal` names the caller's own ARN exactly (the
///    session ARN `arn:aws:sts::…:assumed-role/R/S`, the user ARN) is not limited by them (AWS: "a
///    resource-based policy that specifies the ARN of the session … is not limited by the session
///    policy"; same account, permission boundaries do not limit grants to the user ARN). Grants to the
///    role ARN, the account or `*` are limited.
/// 4. Otherwise → [`Outcome::ImplicitDeny`].
///
/// Not modelled (kura has one account and none of these): cross-account evaluation, SCPs/RCPs, ACLs.
/// The server decides whether kura's root credentials bypass policies; `evaluate` does not special-case them.
pub fn evaluate(set: &PolicySet<'_>, request: &Request<'_>) -> Decision {
    let env = Env { context: request.context, principal: request.principal };
    let deny = |np: &NamedPolicy<'_>, i| Decision {
        outcome: Outcome::ExplicitDeny,
        statement: Some(sref(np, i)),
        limited_by: None,
    };

    let mut identity_allow = None;
    for np in set.identity {
        match answer(np.policy, request, &env, false) {
            Answer::Deny(i) => return deny(np, i),
            Answer::Allow(i) if identity_allow.is_none() && !request.principal.is_anonymous() => {
                identity_allow = Some((np, i))
            }
            _ => {}
        }
    }
    let mut resource_allow = None;
    if let Some(np) = &set.resource {
        match answer(np.policy, request, &env, true) {
            Answer::Deny(i) => return deny(np, i),
            Answer::Allow(i) => resource_allow = Some((np, i)),
            Answer::Nothing => {}
        }
    }
    let mut limited_by = None;
    for np in set.session {
        match answer(np.policy, request, &env, false) {
            Answer::Deny(i) => return deny(np, i),
            Answer::Allow(_) => {}
            Answer::Nothing => {
                if limited_by.is_none() {
                    limited_by = Some(np.name);
                }
            }
        }
    }

    let implicit = |limited_by: Option<&str>| Decision {
        outcome: Outcome::ImplicitDeny,
        statement: None,
        limited_by: limited_by.map(str::to_owned),
    };
    let allowed_by = match (identity_allow, resource_allow) {
        (None, None) => return implicit(None),
        (_, Some((np, _))) if limited_by.is_some() => {
            // Only a grant to the caller's own ARN escapes session policies and boundaries.
            let exact = np.policy.statements.iter().position(|s| {
                s.effect == Effect::Allow
                    && s.names_exactly(request.principal)
                    && s.applies(request.action, request.resource, &env, true)
            });
            match exact {
                Some(i) => (np, i),
                None => return implicit(limited_by),
            }
        }
        _ if limited_by.is_some() => return implicit(limited_by),
        (Some(a), _) | (None, Some(a)) => a,
    };
    Decision { outcome: Outcome::Allow, statement: Some(sref(allowed_by.0, allowed_by.1)), limited_by: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(json: &str) -> Policy {
        Policy::parse(json).expect("policy")
    }

    const ALLOW_ALL: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    const GET_ONLY: &str =
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"g","Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
    const DENY_PUT: &str =
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"np","Effect":"Deny","Action":"s3:PutObject","Resource":"*"}]}"#;

    fn run(
        identity: &[&Policy],
        resource: Option<&Policy>,
        session: &[&Policy],
        who: &Principal,
        action: &str,
    ) -> Decision {
        let ids: Vec<NamedPolicy<'_>> = identity.iter().map(|p| NamedPolicy { name: "id", policy: p }).collect();
        let sess: Vec<NamedPolicy<'_>> =
            session.iter().map(|p| NamedPolicy { name: "session policy", policy: p }).collect();
        let set = PolicySet {
            identity: &ids,
            resource: resource.map(|p| NamedPolicy { name: "bucket policy of b", policy: p }),
            session: &sess,
        };
        let ctx = Context::new();
        evaluate(&set, &Request { principal: who, action, resource: "arn:aws:s3:::b/k", context: &ctx })
    }

    #[test]
    fn default_deny_and_union() {
        let alice = Principal::user("000000000000", "alice");
        let (all, get) = (p(ALLOW_ALL), p(GET_ONLY));
        assert_eq!(run(&[], None, &[], &alice, "s3:GetObject").outcome, Outcome::ImplicitDeny);
        let d = run(&[&get, &all], None, &[], &alice, "s3:PutObject");
        assert!(d.is_allowed());
        assert_eq!(d.statement.as_ref().map(|s| s.index), Some(0));
        assert_eq!(
            run(&[&get], None, &[], &alice, "S3:GETOBJECT").outcome,
            Outcome::Allow,
            "actions are case-insensitive"
        );
    }

    #[test]
    fn deny_anywhere_wins() {
        let alice = Principal::assumed_role("000000000000", "r", "s");
        let (all, deny) = (p(ALLOW_ALL), p(DENY_PUT));
        for d in [
            run(&[&all, &deny], None, &[], &alice, "s3:PutObject"),
            run(&[&all], None, &[&all, &deny], &alice, "s3:PutObject"),
        ] {
            assert_eq!(d.outcome, Outcome::ExplicitDeny);
            assert_eq!(d.statement.as_ref().and_then(|s| s.sid.as_deref()), Some("np"));
        }
        let bucket_deny =
            p(r#"{"Statement":[{"Effect":"Deny","Principal":{"AWS":"000000000000"},"Action":"s3:*","Resource":"*"}]}"#);
        let d = run(&[&all], Some(&bucket_deny), &[], &alice, "s3:GetObject");
        assert_eq!(d.explain(), "denied: statement 0 of policy \"bucket policy of b\" denies");
    }

    #[test]
    fn session_policies_intersect() {
        let s = Principal::assumed_role("000000000000", "r", "s");
        let (all, get) = (p(ALLOW_ALL), p(GET_ONLY));
        let d = run(&[&all], None, &[&get], &s, "s3:PutObject");
        assert_eq!(d.outcome, Outcome::ImplicitDeny);
        assert_eq!(d.limited_by.as_deref(), Some("session policy"));
        assert_eq!(
            d.explain(),
            "denied: no statement of \"session policy\" allows (it limits what the identity policies grant)"
        );
        assert!(run(&[&all], None, &[&get, &all], &s, "s3:GetObject").is_allowed());
        // A session policy alone grants nothing.
        assert_eq!(run(&[], None, &[&all], &s, "s3:GetObject").outcome, Outcome::ImplicitDeny);
    }

    #[test]
    fn anonymous_only_through_the_resource_policy() {
        let anon = Principal::anonymous();
        let all = p(ALLOW_ALL);
        assert_eq!(run(&[&all], None, &[], &anon, "s3:GetObject").outcome, Outcome::ImplicitDeny);
        let public = p(
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#,
        );
        assert!(run(&[], Some(&public), &[], &anon, "s3:GetObject").is_allowed());
        let named = p(
            r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"s3:*","Resource":"*"}]}"#,
        );
        assert_eq!(run(&[], Some(&named), &[], &anon, "s3:GetObject").outcome, Outcome::ImplicitDeny);
        // An account principal in an Allow delegates to the account: the root, not every user.
        assert!(run(&[], Some(&named), &[], &Principal::root("000000000000"), "s3:GetObject").is_allowed());
        let alice = Principal::user("000000000000", "alice");
        assert_eq!(run(&[], Some(&named), &[], &alice, "s3:GetObject").outcome, Outcome::ImplicitDeny);
    }

    #[test]
    fn resource_policy_without_principal_fails_closed() {
        let alice = Principal::user("000000000000", "alice");
        let allow = p(r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#);
        assert_eq!(run(&[], Some(&allow), &[], &alice, "s3:GetObject").outcome, Outcome::ImplicitDeny);
        let deny = p(r#"{"Statement":[{"Effect":"Deny","Action":"s3:*","Resource":"*"}]}"#);
        assert_eq!(run(&[&p(ALLOW_ALL)], Some(&deny), &[], &alice, "s3:GetObject").outcome, Outcome::ExplicitDeny);
    }

    #[test]
    fn principal_keys_come_from_the_principal() {
        let alice = Principal::user("000000000000", "alice");
        let pol = p(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*",
            "Condition":{"StringEquals":{"aws:PrincipalType":"User","aws:username":"alice"},
                         "ArnLike":{"aws:PrincipalArn":"arn:aws:iam::000000000000:user/*"}}}]}"#);
        assert!(run(&[&pol], None, &[], &alice, "s3:GetObject").is_allowed());
        let bob = Principal::user("000000000000", "bob");
        assert!(!run(&[&pol], None, &[], &bob, "s3:GetObject").is_allowed());
    }
}
