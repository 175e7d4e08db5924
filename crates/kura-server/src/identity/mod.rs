//! Workload identity: who may become which role, and the temporary credentials that prove it.
//!
//! Three ways in, one outcome (a sealed [`session`] for a role):
//! - `AssumeRoleWithWebIdentity`: an OIDC token ([`oidc`]) whose claims the role's trust policy allows;
//! - `AssumeRole`: a signed caller (user or session) whom the trust policy and its own policies allow;
//! - `/kura/v1/credentials`: a service-account token whose namespace and service account have a
//!   pod-identity association.
//!
//! Nothing here touches the wire: [`crate::sts`] and [`crate::http`] turn requests into these calls and
//! [`IdentityError`]s into STS / S3 errors.

pub mod oidc;
pub mod session;
pub mod tags;

use crate::base::account::{ACCOUNT, role_arn, role_id};
use crate::base::caller::Caller;
use crate::base::claims::{SessionClaims, SessionKind};
use crate::config::identity::{Association, IdentitySection, MIN_SESSION_SECS, PodIdentityConfig, valid_role_name};
use kura_policy::{Context, NamedPolicy, Policy, PolicySet, Principal, Request};
use oidc::{Providers, VerifiedToken};
use session::{IssuedCredentials, Keyring};
use std::collections::BTreeMap;
use std::sync::Arc;
use tags::SessionTags;

/// The longest inline session policy, in characters of minified JSON (AWS: 2048).
pub const MAX_SESSION_POLICY_LEN: usize = 2048;
/// Role chaining (a session assuming a role) is capped at one hour, as on AWS.
pub const MAX_CHAINED_SESSION_SECS: u64 = 3600;
/// Default session length when `DurationSeconds` is not given.
pub const DEFAULT_SESSION_SECS: u64 = 3600;

/// Why a request for credentials was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The web identity token is malformed, badly signed, for another audience, or from no configured
    /// issuer.
    #[error("{0}")]
    InvalidIdentityToken(String),
    /// The web identity token has expired.
    #[error("the web identity token has expired: get a fresh one from its issuer")]
    ExpiredToken,
    /// The token is valid but a claim cannot be used.
    #[error("{0}")]
    IdpRejectedClaim(String),
    /// The issuer's keys could not be fetched.
    #[error("cannot get the issuer's signing keys: {0}")]
    IdpCommunication(String),
    /// The trust policy (or the caller's policies) does not allow it, or the role does not exist.
    #[error("{0}")]
    AccessDenied(String),
    /// A parameter has a bad value.
    #[error("{0}")]
    InvalidParameterValue(String),
    /// A parameter is missing or out of range.
    #[error("{0}")]
    Validation(String),
    /// The session policy is not a valid identity policy.
    #[error("the session policy is invalid: {0}")]
    MalformedPolicyDocument(String),
    /// The session policy is too long.
    #[error("the session policy is larger than {MAX_SESSION_POLICY_LEN} characters")]
    PackedPolicyTooLarge,
    /// No pod-identity association for this service account.
    #[error("{0}")]
    NoAssociation(String),
    /// The session-key file is unusable.
    #[error("session keys: {0}")]
    Keys(String),
    /// A provider's configuration is unusable (CA file, HTTP client).
    #[error("OIDC provider: {0}")]
    Config(String),
}

/// The action a role's trust policy (and, for AssumeRole, the caller's policies) must allow for a
/// session to carry tags.
const TAG_SESSION: &str = "sts:TagSession";

/// A role, ready to be assumed.
#[derive(Debug, Clone)]
pub struct Role {
    /// Its name.
    pub name: String,
    /// `arn:aws:iam::000000000000:role/NAME`.
    pub arn: String,
    /// A stable id shaped like AWS's (`AROA…`), derived from the name.
    pub id: String,
    /// Who may assume it.
    pub trust: Arc<Policy>,
    /// Its permission policies, by name.
    pub policies: Vec<String>,
    /// Longest session, in seconds.
    pub max_session_secs: u64,
}

/// Logs a session kura issued (the audit log, when configured, records it too).
pub fn log_issued(action: &str, issued: &Issued, token: &oidc::VerifiedToken) {
    tracing::info!(
        target: "kura::audit",
        action,
        role = %issued.role.name,
        session = %issued.claims.session,
        issuer = %token.issuer,
        subject = %token.subject,
        access_key = %issued.credentials.access_key,
        "session issued"
    );
}

/// The identity configuration in force: keys, providers, roles, associations.
#[derive(Debug)]
pub struct Identity {
    /// Seals and opens session tokens.
    pub keyring: Arc<Keyring>,
    /// OIDC providers and their key caches.
    pub providers: Arc<Providers>,
    roles: BTreeMap<String, Role>,
    pod: PodIdentityConfig,
    web: Vec<Association>,
}

/// What a caller asks of STS, whatever the action.
#[derive(Debug, Clone, Default)]
pub struct SessionRequest {
    /// `RoleArn`.
    pub role_arn: String,
    /// `RoleSessionName`.
    pub session_name: String,
    /// `DurationSeconds`.
    pub duration: Option<u64>,
    /// `Policy` (inline session policy JSON).
    pub policy: Option<String>,
    /// `ExternalId` (AssumeRole): the trust policy's `sts:ExternalId`, what a third party is told to send.
    pub external_id: Option<String>,
    /// `Tags` and `TransitiveTagKeys` (AssumeRole): the session tags asked for.
    pub tags: SessionTags,
}

/// Credentials and the session they carry.
#[derive(Debug, Clone)]
pub struct Issued {
    /// What the client receives.
    pub credentials: IssuedCredentials,
    /// What the token says.
    pub claims: SessionClaims,
    /// The role.
    pub role: Role,
}

impl Identity {
    /// Builds the identity state of a validated `identity:` section, keeping the key caches of
    /// unchanged providers of `previous`.
    pub fn build(
        section: &IdentitySection,
        keyring: Arc<Keyring>,
        previous: Option<&Identity>,
    ) -> Result<Self, IdentityError> {
        let providers = Arc::new(Providers::new(&section.oidc_providers, previous.map(|p| p.providers.as_ref()))?);
        let mut roles = BTreeMap::new();
        for r in &section.roles {
            let Some(trust) = section.trust_policies.get(&r.name) else { continue };
            roles.insert(
                r.name.clone(),
                Role {
                    name: r.name.clone(),
                    arn: role_arn(&r.name),
                    id: role_id(&r.name),
                    trust: trust.clone(),
                    policies: r.policies.clone(),
                    max_session_secs: r.max_session_secs(),
                },
            );
        }
        Ok(Self {
            keyring,
            providers,
            roles,
            pod: section.pod_identity.clone(),
            web: section.web_identity.associations.clone(),
        })
    }

    /// An identity state with no providers or roles (sessions still open with `keyring`).
    pub fn empty(keyring: Arc<Keyring>) -> Self {
        Self {
            keyring,
            providers: Arc::default(),
            roles: BTreeMap::new(),
            pod: PodIdentityConfig::default(),
            web: Vec::new(),
        }
    }

    /// A role by name.
    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.get(name)
    }

    /// Every role, ordered by name.
    pub fn roles(&self) -> impl Iterator<Item = &Role> {
        self.roles.values()
    }

    /// The pod-identity associations (`identity.pod_identity.associations`), in configuration order.
    pub fn pod_identity_associations(&self) -> &[Association] {
        &self.pod.associations
    }

    /// The web-identity associations (`identity.web_identity.associations`), in configuration order.
    pub fn web_identity_associations(&self) -> &[Association] {
        &self.web
    }

    /// The audience a pod-identity token must carry (`identity.pod_identity.audience`).
    pub fn pod_identity_audience(&self) -> &str {
        self.pod.audience()
    }

    /// Whether `namespace/service_account` has a pod-identity association for any issuer
    /// (`identity.pod_identity.associations`). For the webhook, which cannot tell which cluster sends a
    /// pod and grants nothing: `/kura/v1/credentials` matches the token's issuer too.
    pub fn has_pod_identity_association(&self, namespace: &str, service_account: &str) -> bool {
        self.pod.associations.iter().any(|a| a.namespace == namespace && a.service_account == service_account)
    }

    /// The role the webhook points the pods of `namespace/service_account` at, if any
    /// (`identity.web_identity.associations`).
    pub fn web_identity_role(&self, namespace: &str, service_account: &str) -> Option<&Role> {
        let a = self.web.iter().find(|a| a.namespace == namespace && a.service_account == service_account)?;
        self.roles.get(&a.role)
    }

    /// Whether `role`'s trust policy would let a projected service-account token of
    /// `namespace/service_account` with `audience`, from one of the configured providers that accepts
    /// that audience, assume it with `AssumeRoleWithWebIdentity` — evaluated as that action evaluates
    /// it, on the claims such a token is known to carry (not its pod's name or uids, nor the session
    /// name: a condition on those is not met here). Only a prediction: the real token is checked when
    /// it is used.
    pub fn web_identity_would_allow(
        &self,
        role: &Role,
        namespace: &str,
        service_account: &str,
        audience: &str,
    ) -> bool {
        self.providers.configs().filter(|p| p.audiences.iter().any(|a| a == audience)).any(|provider| {
            let token = VerifiedToken::synthetic_service_account(provider, namespace, service_account, audience);
            let (principal, context) = web_identity_request(&token, None);
            trust_allows(role, &principal, "sts:AssumeRoleWithWebIdentity", &context, &[]).is_ok()
        })
    }

    /// The role an ARN names; unknown roles are AccessDenied, as on AWS (no probing for names).
    fn role_by_arn(&self, arn: &str, action: &str) -> Result<&Role, IdentityError> {
        let name = arn.strip_prefix(&format!("arn:aws:iam::{ACCOUNT}:role/")).ok_or_else(|| {
            IdentityError::Validation(format!(
                "RoleArn {arn:?} is not a role ARN: use arn:aws:iam::{ACCOUNT}:role/NAME"
            ))
        })?;
        // Roles with a path (role/path/NAME) are matched on their last segment.
        let name = name.rsplit('/').next().unwrap_or(name);
        self.roles
            .get(name)
            .ok_or_else(|| IdentityError::AccessDenied(format!("Not authorized to perform {action} on {arn}")))
    }

    /// `AssumeRoleWithWebIdentity`: verifies the token, checks the role's trust policy and issues a
    /// session. `now` is Unix seconds.
    pub async fn assume_role_with_web_identity(
        &self,
        req: &SessionRequest,
        token: &str,
        now: u64,
    ) -> Result<(Issued, VerifiedToken), IdentityError> {
        const ACTION: &str = "sts:AssumeRoleWithWebIdentity";
        check_session_name(&req.session_name)?;
        let policy = session_policy(req.policy.as_deref())?;
        let role = self.role_by_arn(&req.role_arn, ACTION)?;
        let duration = session_duration(req.duration, role.max_session_secs)?;
        if !req.tags.is_empty() {
            return Err(IdentityError::InvalidParameterValue(
                "AssumeRoleWithWebIdentity takes no Tags: a web identity session's tags come from its token's \
                 https://aws.amazon.com/tags claim"
                    .to_owned(),
            ));
        }
        let verified = self.providers.verify(token, None).await?;
        let tags = token_tags(&verified)?;
        let (principal, context) = web_identity_request(&verified, Some(&req.session_name));
        trust_allows(role, &principal, ACTION, &context, &[])?;
        if !tags.is_empty() {
            // The token's tags become the session's: the role's owner must allow tagging, as on AWS.
            let mut tag_context = context.clone();
            tags.fill_request_keys(&mut tag_context);
            trust_allows(role, &principal, TAG_SESSION, &tag_context, &[])?;
        }
        let claims = SessionClaims {
            access_key: String::new(),
            role: role.name.clone(),
            session: req.session_name.clone(),
            kind: SessionKind::WebIdentity,
            issued: now,
            expires: now + duration,
            policy,
            vars: verified.variables(),
            tags: tags.tags,
            transitive_tags: tags.transitive,
            source: format!("{} {}", verified.issuer, verified.subject),
        };
        Ok((self.issue(claims, role), verified))
    }

    /// `AssumeRole` by a signed caller: the trust policy must allow the caller and the caller's own
    /// policies must allow `sts:AssumeRole` on the role (`identity_allows(action, role ARN, condition
    /// keys)`); session tags asked for need `sts:TagSession` from both, decided on the tags.
    pub fn assume_role(
        &self,
        caller: &Caller,
        req: &SessionRequest,
        identity_allows: impl Fn(&str, &str, &Context) -> bool,
        now: u64,
    ) -> Result<Issued, IdentityError> {
        const ACTION: &str = "sts:AssumeRole";
        check_session_name(&req.session_name)?;
        let policy = session_policy(req.policy.as_deref())?;
        let role = self.role_by_arn(&req.role_arn, ACTION)?;
        let denied = || {
            IdentityError::AccessDenied(format!(
                "User: {} is not authorized to perform: {ACTION} on resource: {}",
                caller.arn(),
                role.arn
            ))
        };
        let max = match caller {
            Caller::Root { .. } => {
                return Err(IdentityError::AccessDenied(
                    "Roles may not be assumed by root: sign with an IAM user or a session".to_owned(),
                ));
            }
            Caller::Anonymous | Caller::Ticket { .. } => return Err(denied()),
            Caller::Session { .. } => MAX_CHAINED_SESSION_SECS.min(role.max_session_secs),
            Caller::User { .. } => role.max_session_secs,
        };
        let duration = session_duration(req.duration, max)?;
        let mut context = Context::new();
        caller.fill_context(&mut context);
        context.insert("sts:RoleSessionName", req.session_name.as_str());
        if let Some(external_id) = &req.external_id {
            context.insert("sts:ExternalId", external_id.as_str());
        }
        trust_allows(role, &caller.principal(), ACTION, &context, &[]).map_err(|_| denied())?;
        if !identity_allows(ACTION, &role.arn, &context) {
            return Err(denied());
        }
        if !req.tags.is_empty() {
            let mut tag_context = context.clone();
            req.tags.fill_request_keys(&mut tag_context);
            let tag_denied = || {
                IdentityError::AccessDenied(format!(
                    "User: {} is not authorized to perform: {TAG_SESSION} on resource: {}",
                    caller.arn(),
                    role.arn
                ))
            };
            trust_allows(role, &caller.principal(), TAG_SESSION, &tag_context, &[]).map_err(|_| tag_denied())?;
            if !identity_allows(TAG_SESSION, &role.arn, &tag_context) {
                return Err(tag_denied());
            }
        }
        // A chained session keeps the workload's identity variables, and of its tags the transitive
        // ones; the caller's other tags end with its session, as on AWS.
        let (vars, inherited) = match caller {
            Caller::Session { claims, .. } => (
                claims.vars.clone(),
                SessionTags { tags: claims.tags.clone(), transitive: claims.transitive_tags.clone() },
            ),
            _ => Default::default(),
        };
        let tags = SessionTags::chained(&inherited, req.tags.clone())?;
        let claims = SessionClaims {
            access_key: String::new(),
            role: role.name.clone(),
            session: req.session_name.clone(),
            kind: SessionKind::AssumeRole,
            issued: now,
            expires: now + duration,
            policy,
            vars,
            tags: tags.tags,
            transitive_tags: tags.transitive,
            source: caller.arn(),
        };
        Ok(self.issue(claims, role))
    }

    /// Container credentials: a service-account token (audience `identity.pod_identity.audience`)
    /// whose issuer, namespace and service account have an association. The issuer is part of the
    /// match: the same namespace and service account in another cluster (another configured provider)
    /// is another workload, and gets [`IdentityError::NoAssociation`] like one without an association.
    pub async fn pod_credentials(&self, token: &str, now: u64) -> Result<(Issued, VerifiedToken), IdentityError> {
        if self.providers.is_empty() {
            return Err(IdentityError::InvalidIdentityToken(
                "no OIDC provider is configured (identity.oidc_providers), so no token can be verified".to_owned(),
            ));
        }
        let audience = [self.pod.audience().to_owned()];
        let verified = self.providers.verify(token, Some(&audience)).await?;
        let (Some(ns), Some(sa), pod) = verified.kubernetes() else {
            return Err(IdentityError::IdpRejectedClaim(
                "the token is not a Kubernetes service-account token (no namespace and service account)".to_owned(),
            ));
        };
        let association = self
            .pod
            .associations
            .iter()
            .find(|a| {
                a.issuer.as_deref() == Some(verified.issuer.as_str()) && a.namespace == ns && a.service_account == sa
            })
            .ok_or_else(|| {
                IdentityError::NoAssociation(format!(
                    "no pod identity association for service account {ns}/{sa} of issuer {}: add one under \
                     identity.pod_identity.associations",
                    verified.issuer
                ))
            })?;
        let role = self.roles.get(&association.role).ok_or_else(|| {
            IdentityError::NoAssociation(format!("the association of {ns}/{sa} names a role that does not exist"))
        })?;
        let mut tags = BTreeMap::from([
            ("kubernetes-namespace".to_owned(), ns.to_owned()),
            ("kubernetes-service-account".to_owned(), sa.to_owned()),
        ]);
        if let Some(pod) = pod {
            tags.insert("kubernetes-pod-name".to_owned(), pod.to_owned());
        }
        let session: String = pod
            .unwrap_or(sa)
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(*c))
            .take(64)
            .collect();
        let claims = SessionClaims {
            access_key: String::new(),
            role: role.name.clone(),
            session: if session.len() >= 2 { session } else { format!("{ns}-{sa}") },
            kind: SessionKind::PodIdentity,
            issued: now,
            expires: now + role.max_session_secs,
            policy: None,
            vars: verified.variables(),
            tags,
            transitive_tags: Default::default(),
            source: format!("{} {}", verified.issuer, verified.subject),
        };
        let role = role.clone();
        Ok((self.issue(claims, &role), verified))
    }

    fn issue(&self, claims: SessionClaims, role: &Role) -> Issued {
        let credentials = self.keyring.mint(claims.clone());
        let claims = SessionClaims { access_key: credentials.access_key.clone(), ..claims };
        Issued { credentials, claims, role: role.clone() }
    }
}

/// The principal and condition keys `AssumeRoleWithWebIdentity` evaluates a role's trust policy with.
fn web_identity_request(token: &VerifiedToken, session_name: Option<&str>) -> (Principal, Context) {
    let principal = Principal::web_identity(ACCOUNT, &token.provider_arn, &token.subject);
    let mut context = Context::new();
    for (key, values) in token.condition_keys() {
        context.insert_many(&key, values);
    }
    context.insert("aws:FederatedProvider", token.provider_arn.as_str());
    if let Some(name) = session_name {
        context.insert("sts:RoleSessionName", name);
    }
    (principal, context)
}

/// Evaluates the role's trust policy as the resource policy of `action` on the role.
fn trust_allows(
    role: &Role,
    principal: &Principal,
    action: &str,
    context: &Context,
    identity: &[NamedPolicy<'_>],
) -> Result<(), IdentityError> {
    let name = format!("trust policy of {}", role.name);
    let set = PolicySet { identity, resource: Some(NamedPolicy { name: &name, policy: &role.trust }), session: &[] };
    let request = Request { principal, action, resource: &role.arn, context };
    let decision = kura_policy::evaluate(&set, &request);
    if decision.is_allowed() {
        return Ok(());
    }
    tracing::info!(target: "kura::authz", principal = %principal.arn, action, role = %role.name, "denied: {}", decision.explain());
    Err(IdentityError::AccessDenied(format!("Not authorized to perform {action}")))
}

/// `RoleSessionName`: 2 to 64 characters of `A-Z a-z 0-9 + = , . @ _ -`.
fn check_session_name(name: &str) -> Result<(), IdentityError> {
    if name.len() < 2 || !valid_role_name(name) {
        return Err(IdentityError::Validation(format!(
            "RoleSessionName {name:?} must be 2 to 64 characters of A-Z a-z 0-9 + = , . @ _ -"
        )));
    }
    Ok(())
}

/// `DurationSeconds`: 900 up to `max` (default one hour, or `max` when that is less).
fn session_duration(requested: Option<u64>, max: u64) -> Result<u64, IdentityError> {
    match requested {
        None => Ok(DEFAULT_SESSION_SECS.min(max)),
        Some(d) if d < MIN_SESSION_SECS => Err(IdentityError::Validation(format!(
            "DurationSeconds {d} is below the minimum of {} seconds",
            MIN_SESSION_SECS
        ))),
        Some(d) if d > max => Err(IdentityError::Validation(format!(
            "The requested DurationSeconds ({d}) exceeds the MaxSessionDuration set for this role ({max})"
        ))),
        Some(d) => Ok(d),
    }
}

/// Validates an inline session policy and returns it minified.
fn session_policy(text: Option<&str>) -> Result<Option<String>, IdentityError> {
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else { return Ok(None) };
    if text.len() > 4 * MAX_SESSION_POLICY_LEN {
        return Err(IdentityError::PackedPolicyTooLarge);
    }
    let policy = Policy::parse(text)
        .and_then(|p| p.validate_identity().map(|()| p))
        .map_err(|e| IdentityError::MalformedPolicyDocument(e.to_string()))?;
    let packed = policy.to_json();
    if packed.len() > MAX_SESSION_POLICY_LEN {
        return Err(IdentityError::PackedPolicyTooLarge);
    }
    Ok(Some(packed))
}

/// Session tags from the token's `https://aws.amazon.com/tags` claim (`principal_tags`, each value a
/// string or a list whose first string counts; `transitive_tag_keys`), as AWS reads them. Tags that
/// break AWS's rules refuse the token rather than being dropped one by one.
fn token_tags(token: &VerifiedToken) -> Result<SessionTags, IdentityError> {
    let Some(claim) = token.claims.get("https://aws.amazon.com/tags") else {
        return Ok(SessionTags::default());
    };
    let rejected = |m: String| IdentityError::IdpRejectedClaim(format!("the token's https://aws.amazon.com/tags: {m}"));
    let mut pairs = Vec::new();
    if let Some(map) = claim.get("principal_tags") {
        let map = map.as_object().ok_or_else(|| rejected("principal_tags is not an object".to_owned()))?;
        for (key, value) in map {
            let value = match value {
                serde_json::Value::Array(a) => a.first().and_then(serde_json::Value::as_str),
                serde_json::Value::String(s) => Some(s.as_str()),
                _ => None,
            }
            .ok_or_else(|| rejected(format!("the value of tag {key:?} is not a string")))?;
            pairs.push((key.clone(), value.to_owned()));
        }
    }
    let transitive = match claim.get("transitive_tag_keys") {
        None => Vec::new(),
        Some(keys) => keys
            .as_array()
            .and_then(|keys| keys.iter().map(|k| k.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>())
            .ok_or_else(|| rejected("transitive_tag_keys is not a list of strings".to_owned()))?,
    };
    SessionTags::new(pairs, transitive).map_err(|e| rejected(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_names_follow_aws_limits() {
        assert_eq!(session_duration(None, 43_200), Ok(3600));
        assert_eq!(session_duration(None, 1000), Ok(1000));
        assert_eq!(session_duration(Some(900), 3600), Ok(900));
        assert!(matches!(session_duration(Some(899), 3600), Err(IdentityError::Validation(_))));
        assert!(matches!(session_duration(Some(3601), 3600), Err(IdentityError::Validation(_))));
        assert!(check_session_name("ab").is_ok());
        assert!(check_session_name("a").is_err());
        assert!(check_session_name("has space").is_err());
        assert!(check_session_name(&"x".repeat(65)).is_err());
    }

    #[test]
    fn session_policies_are_validated_and_packed() {
        assert_eq!(session_policy(None), Ok(None));
        let ok = session_policy(Some(
            r#"{ "Version": "2012-10-17", "Statement": [ { "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*" } ] }"#,
        ))
        .expect("valid");
        assert!(ok.is_some_and(|p| !p.contains("  ")));
        assert!(matches!(session_policy(Some("{")), Err(IdentityError::MalformedPolicyDocument(_))));
        let with_principal = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}]}"#;
        assert!(matches!(session_policy(Some(with_principal)), Err(IdentityError::MalformedPolicyDocument(_))));
        let many: Vec<String> = (0..60)
            .map(|i| format!(r#"{{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bucket-{i}/*"}}"#))
            .collect();
        let big = format!(r#"{{"Statement":[{}]}}"#, many.join(","));
        assert_eq!(session_policy(Some(&big)), Err(IdentityError::PackedPolicyTooLarge));
    }
}
