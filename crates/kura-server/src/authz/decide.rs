//! The one bridge between requests and the policy engine (`kura-policy`).
//!
//! Every authorisation decision in kura goes through [`Authorizer::decide`]: S3 operations (from the
//! access hook), per-key checks inside DeleteObjects, admin API calls and policy simulation. It picks
//! the caller's identity policies, the bucket policy (honouring the public access block), evaluates,
//! logs who was refused what and why, and answers AWS's AccessDenied.
//!
//! **Invariant**: deny by default. Root is the only caller no identity policy applies to; an explicit
//! Deny in a bucket policy binds root too, except for the bucket policy actions ([`ROOT_ALWAYS`]).

use crate::base::caller::Caller;
use crate::errors;
use crate::iam::IamState;
use kura_policy::{Context, Decision, NamedPolicy, Outcome, Policy, PolicySet, Request};
use kura_store::BucketSettings;
use s3s::S3Error;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What root may always do on a bucket, whatever its policy denies (as AWS: the account root user
/// cannot be locked out of the bucket policy).
pub const ROOT_ALWAYS: [&str; 3] = ["s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"];

/// A bucket policy parsed once and kept while its text is unchanged.
struct ParsedBucketPolicy {
    text: String,
    policy: Arc<Policy>,
    public: bool,
    reads_existing_tags: bool,
}

/// Decides requests. Holds a cache of parsed bucket policies.
#[derive(Default)]
pub struct Authorizer {
    bucket_policies: Mutex<HashMap<String, Arc<ParsedBucketPolicy>>>,
}

/// One thing a caller wants to do.
pub struct Access<'a> {
    /// The IAM action, e.g. `s3:GetObject`.
    pub action: &'a str,
    /// The resource ARN.
    pub resource: &'a str,
    /// The bucket the resource is in and its settings, if any (for the bucket policy).
    pub bucket: Option<(&'a str, &'a BucketSettings)>,
    /// Condition keys and policy variables.
    pub context: &'a Context,
}

impl Authorizer {
    /// Evaluates an access for a caller; `Err` is the AccessDenied the client sees. The decision is
    /// logged with the principal, action, resource and the statement that decided it.
    pub fn decide(&self, state: &IamState, caller: &Caller, access: &Access<'_>) -> Result<(), S3Error> {
        let decision = self.evaluate(state, caller, access);
        let (action, resource) = (access.action, access.resource);
        if decision.is_allowed() {
            tracing::debug!(target: "kura::authz", principal = %caller.arn(), action, resource, "{}", decision.explain());
            return Ok(());
        }
        tracing::info!(
            target: "kura::authz",
            principal = %caller.arn(),
            action,
            resource,
            "denied: {}",
            decision.explain()
        );
        Err(access_denied(caller, action, resource, &decision))
    }

    /// The decision itself, without logging (also used by policy simulation).
    pub fn evaluate(&self, state: &IamState, caller: &Caller, access: &Access<'_>) -> Decision {
        if matches!(caller, Caller::Root { .. }) {
            return self.evaluate_root(caller, access);
        }
        let identity = identity_policies(state, caller);
        let session_policy = match session_policy(caller) {
            Ok(p) => p,
            Err(limited) => return limited,
        };
        let session: Vec<NamedPolicy<'_>> =
            session_policy.iter().map(|policy| NamedPolicy { name: "session policy", policy }).collect();
        let bucket_policy = access.bucket.and_then(|(name, settings)| self.bucket_policy(name, settings));
        let resource_name;
        let resource = match (&bucket_policy, access.bucket) {
            (Some(p), Some((name, settings))) => {
                let restricted = settings.public_access_block.is_some_and(|b| b.restrict_public_buckets);
                if restricted && p.public && matches!(caller, Caller::Anonymous) {
                    // RestrictPublicBuckets: a public policy serves nobody outside the account.
                    None
                } else {
                    resource_name = format!("bucket policy of {name}");
                    Some(NamedPolicy { name: &resource_name, policy: &p.policy })
                }
            }
            _ => None,
        };
        evaluate_set(caller, access, &PolicySet { identity: &identity, resource, session: &session })
    }

    /// Root, as AWS treats the account root user: no identity policy limits it, but an explicit Deny in
    /// the bucket's policy binds it like anyone, except for the bucket policy actions themselves
    /// ([`ROOT_ALWAYS`]), so that root can always read, replace or delete a policy that locks everyone
    /// out. Whatever no Deny matches is allowed.
    fn evaluate_root(&self, caller: &Caller, access: &Access<'_>) -> Decision {
        let allow = Decision { outcome: Outcome::Allow, statement: None, limited_by: None };
        if ROOT_ALWAYS.contains(&access.action) {
            return allow;
        }
        let Some((name, settings)) = access.bucket else { return allow };
        let Some(policy) = self.bucket_policy(name, settings) else { return allow };
        let resource_name = format!("bucket policy of {name}");
        let set = PolicySet {
            identity: &[],
            resource: Some(NamedPolicy { name: &resource_name, policy: &policy.policy }),
            session: &[],
        };
        let decision = evaluate_set(caller, access, &set);
        if decision.outcome == Outcome::ExplicitDeny { decision } else { allow }
    }

    /// Whether deciding for this caller in this bucket needs the object's existing tags
    /// (`s3:ExistingObjectTag/…` in one of the policies that apply).
    pub fn needs_existing_tags(
        &self,
        state: &IamState,
        caller: &Caller,
        bucket: Option<(&str, &BucketSettings)>,
    ) -> bool {
        let identity = identity_policies(state, caller).iter().any(|p| crate::iam::reads_existing_tags(p.policy));
        // A session policy that no longer parses allows nothing: no tags are needed to decide that.
        let session = session_policy(caller).ok().flatten().is_some_and(|p| crate::iam::reads_existing_tags(&p));
        identity
            || session
            || bucket.and_then(|(name, s)| self.bucket_policy(name, s)).is_some_and(|p| p.reads_existing_tags)
    }

    /// Whether the bucket's policy could allow an anonymous caller anything
    /// ([`kura_policy::Policy::may_allow_anonymous`]); a bucket without a policy allows them nothing.
    pub fn may_allow_anonymous(&self, bucket: &str, settings: &BucketSettings) -> bool {
        self.bucket_policy(bucket, settings).is_some_and(|p| p.policy.may_allow_anonymous())
    }

    fn bucket_policy(&self, bucket: &str, settings: &BucketSettings) -> Option<Arc<ParsedBucketPolicy>> {
        let text = settings.policy.as_ref()?;
        let mut cache = self.bucket_policies.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(hit) = cache.get(bucket).filter(|c| &c.text == text) {
            return Some(hit.clone());
        }
        match Policy::parse(text) {
            Ok(policy) => {
                let parsed = Arc::new(ParsedBucketPolicy {
                    text: text.clone(),
                    public: policy.is_public(),
                    reads_existing_tags: crate::iam::reads_existing_tags(&policy),
                    policy: Arc::new(policy),
                });
                cache.insert(bucket.to_owned(), parsed.clone());
                Some(parsed)
            }
            Err(e) => {
                // It was validated when stored; a policy that no longer parses grants nothing.
                tracing::error!(bucket, error = %e, "a stored bucket policy does not parse; ignoring it");
                None
            }
        }
    }
}

/// A session's inline session policy (`None` for other callers and sessions without one); `Err` is the
/// decision for a session whose policy no longer parses (it was validated when the session was issued,
/// so it allows nothing).
pub(super) fn session_policy(caller: &Caller) -> Result<Option<Policy>, Decision> {
    match caller {
        Caller::Session { claims, .. } => match claims.policy.as_deref().map(Policy::parse) {
            Some(Ok(p)) => Ok(Some(p)),
            Some(Err(_)) => Err(Decision {
                outcome: Outcome::ImplicitDeny,
                statement: None,
                limited_by: Some("session policy".to_owned()),
            }),
            None => Ok(None),
        },
        _ => Ok(None),
    }
}

/// The identity policies of a caller: a user's attached policies, a session's role policies.
pub fn identity_policies<'s>(state: &'s IamState, caller: &Caller) -> Vec<NamedPolicy<'s>> {
    let names: &[String] = match caller {
        Caller::User { access_key } => state.user(access_key).map_or(&[], |u| u.policies.as_slice()),
        Caller::Session { claims, .. } => state.identity.role(&claims.role).map_or(&[], |r| r.policies.as_slice()),
        Caller::Root { .. } | Caller::Ticket { .. } | Caller::Anonymous => &[],
    };
    names
        .iter()
        .filter_map(|name| state.policy_entry(name).map(|(name, p)| NamedPolicy { name, policy: &p.policy }))
        .collect()
}

/// AWS's AccessDenied, with AWS's explanation of which kind of policy said no.
fn access_denied(caller: &Caller, action: &str, resource: &str, decision: &Decision) -> S3Error {
    let why = match decision.outcome {
        Outcome::ExplicitDeny => format!("with an explicit deny in {}", decision_source(decision)),
        Outcome::ImplicitDeny | Outcome::Allow => match caller {
            Caller::Anonymous | Caller::Ticket { .. } => {
                "because no bucket policy allows anonymous access; sign the request".to_owned()
            }
            _ => format!("because no identity-based or bucket policy allows the {action} action"),
        },
    };
    errors::access_denied(format!(
        "User: {} is not authorized to perform: {action} on resource: \"{resource}\" {why}",
        caller.arn()
    ))
}

fn decision_source(decision: &Decision) -> &'static str {
    match &decision.statement {
        Some(s) if s.policy.starts_with("bucket policy") => "a resource-based policy",
        _ => "an identity-based policy",
    }
}

/// Validates a bucket policy for `bucket`: the grammar of a resource policy, and every resource inside
/// this bucket (as AWS: "Policy has invalid resource").
pub fn check_bucket_policy(bucket: &str, policy: &Policy) -> Result<(), kura_policy::PolicyError> {
    policy.validate_bucket_policy(bucket)
}

/// Evaluates `access` by `caller` against exactly the policies in `set`.
pub(super) fn evaluate_set(caller: &Caller, access: &Access<'_>, set: &PolicySet<'_>) -> Decision {
    let principal = caller.principal();
    let request =
        Request { principal: &principal, action: access.action, resource: access.resource, context: access.context };
    kura_policy::evaluate(set, &request)
}
