//! Whether a caller may have S3 use a KMS key on its behalf (SSE-KMS): `kms:GenerateDataKey` to write,
//! `kms:Decrypt` to read, on the key's ARN, with the condition keys of a use through S3.
//!
//! The same machinery as every other decision ([`super::decide`]): the caller's identity policies (a
//! user's, a session's role policies) and its session policy, evaluated by kura-policy. The resource
//! policy is the key policy: the built-in key service has none of its own (AWS's default key policy:
//! the account's IAM policies decide), except the kura-managed `alias/aws/s3` key, whose policy is
//! AWS's for `aws/s3` ([`kura_policy::kms::s3_managed_key_policy`]: every principal of the account,
//! through S3). Root may always use keys; anonymous callers never; an upload ticket as its issuer, now.
//!
//! The context is the S3 request's condition keys plus `kms:ViaService` (`s3.REGION.amazonaws.com`),
//! `kms:CallerAccount`, `kms:EncryptionContext:<k>` for each pair of the encryption context and
//! `kms:EncryptionContextKeys`.

use super::decide::{Access, evaluate_set, identity_policies, session_policy};
use crate::base::account::ACCOUNT;
use crate::base::caller::Caller;
use crate::errors;
use crate::iam::IamState;
use crate::kms::{EncryptionContext, KeyManager, KmsKey};
use kura_policy::{Context, Decision, NamedPolicy, Outcome, Policy, PolicySet};
use s3s::S3Error;

/// One use of a KMS key by S3 for a caller.
pub struct KmsUse<'a> {
    /// `kms:GenerateDataKey` or `kms:Decrypt` (any of [`kura_policy::kms::ACTIONS`]).
    pub action: &'a str,
    /// The key, as the key service describes it.
    pub key: &'a KmsKey,
    /// The encryption context of the data key (with `aws:s3:arn`).
    pub context: &'a EncryptionContext,
    /// The S3 request's condition keys (`Authenticated::context`).
    pub request: &'a Context,
    /// The region S3 answers for (`kms:ViaService`).
    pub region: &'a str,
}

/// Authorises one use of a KMS key by S3 for `caller`; `Err` is the AccessDenied the client sees,
/// naming the KMS action and key as AWS does. A refusal is logged with the deciding statement.
pub fn authorize_kms(state: &IamState, caller: &Caller, use_: &KmsUse<'_>) -> Result<(), S3Error> {
    let decision = evaluate_kms(state, caller, use_);
    let (action, resource) = (use_.action, use_.key.arn.as_str());
    if decision.is_allowed() {
        tracing::debug!(target: "kura::authz", principal = %caller.arn(), action, resource, "{}", decision.explain());
        return Ok(());
    }
    tracing::info!(target: "kura::authz", principal = %caller.arn(), action, resource, "denied: {}", decision.explain());
    let why = match (decision.outcome, caller) {
        (Outcome::ExplicitDeny, _) => "with an explicit deny in an identity-based policy".to_owned(),
        (_, Caller::Anonymous) => "because anonymous requests cannot use KMS keys; sign the request".to_owned(),
        _ => format!("because no identity-based policy allows the {action} action"),
    };
    Err(errors::access_denied(format!(
        "User: {} is not authorized to perform: {action} on resource: {resource} {why}",
        caller.arn()
    )))
}

/// The decision of [`authorize_kms`], without logging.
pub fn evaluate_kms(state: &IamState, caller: &Caller, use_: &KmsUse<'_>) -> Decision {
    let allow = Decision { outcome: Outcome::Allow, statement: None, limited_by: None };
    let deny = Decision { outcome: Outcome::ImplicitDeny, statement: None, limited_by: None };
    let caller = match caller {
        Caller::Root { .. } => return allow,
        Caller::Anonymous => return deny,
        Caller::Ticket { ticket } => {
            let issuer =
                ticket.issuer.as_ref().and_then(|issuer| crate::tickets::issuer_caller(issuer, state, &ticket.id).ok());
            match issuer {
                Some(None) => return allow,
                Some(Some(issuer)) => return evaluate_kms(state, &issuer, use_),
                None => return deny,
            }
        }
        Caller::User { .. } | Caller::Session { .. } => caller,
    };
    let mut context = use_.request.clone();
    let pairs = use_.context.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    for (key, value) in kura_policy::kms::context_keys(use_.region, Some(ACCOUNT), pairs) {
        context.insert(&key, value);
    }
    let identity = identity_policies(state, caller);
    let session_policy = match session_policy(caller) {
        Ok(p) => p,
        Err(limited) => return limited,
    };
    let session: Vec<NamedPolicy<'_>> =
        session_policy.iter().map(|policy| NamedPolicy { name: "session policy", policy }).collect();
    let key_policy: Option<Policy> = match use_.key.manager {
        KeyManager::Kura => Some(kura_policy::kms::s3_managed_key_policy(use_.region, ACCOUNT)),
        KeyManager::Customer => None,
    };
    let resource = key_policy.as_ref().map(|policy| NamedPolicy { name: "key policy of alias/aws/s3", policy });
    let access = Access { action: use_.action, resource: &use_.key.arn, bucket: None, context: &context };
    evaluate_set(caller, &access, &PolicySet { identity: &identity, resource, session: &session })
}

#[cfg(test)]
mod tests;
