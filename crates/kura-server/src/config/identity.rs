//! The `identity:` section: OIDC providers, roles with trust policies, pod-identity associations and
//! the session-key file. Validated whole with the rest of the file.

use super::at_line;
use kura_policy::Policy;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::base::account::ACCOUNT;

/// Shortest session AWS allows (seconds).
pub const MIN_SESSION_SECS: u64 = 900;
/// Longest `max_session_duration` a role may have (seconds), as on AWS.
pub const MAX_ROLE_SESSION_SECS: u64 = 43_200;
/// A role's `max_session_duration` when not given (seconds), as on AWS.
pub const DEFAULT_MAX_SESSION_SECS: u64 = 3_600;
/// The audience a service-account token must carry for `/kura/v1/credentials` unless configured.
pub const DEFAULT_POD_IDENTITY_AUDIENCE: &str = "kura";

/// The `identity:` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentitySection {
    /// OIDC issuers whose tokens kura accepts (Kubernetes service-account issuers, CI systems, …).
    #[serde(default)]
    pub oidc_providers: Vec<OidcProviderConfig>,
    /// Roles that tokens and signed callers may assume.
    #[serde(default)]
    pub roles: Vec<RoleConfig>,
    /// The container-credentials endpoint (`/kura/v1/credentials`).
    #[serde(default)]
    pub pod_identity: PodIdentityConfig,
    /// Service accounts whose pods the webhook sets up for `AssumeRoleWithWebIdentity`.
    #[serde(default)]
    pub web_identity: WebIdentityConfig,
    /// The file of keys that seal session tokens (default: `session-keys` in the data directory,
    /// created on first start). Replicas that share it accept each other's credentials.
    pub session_keys_file: Option<PathBuf>,
    /// Each role's trust policy, parsed and validated (by role name).
    #[serde(skip)]
    pub trust_policies: BTreeMap<String, Arc<Policy>>,
}

/// One OIDC provider.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OidcProviderConfig {
    /// The issuer URL, compared exactly with the token's `iss`.
    pub issuer: String,
    /// Accepted `aud` values (client ids). A token whose audiences are all outside this list is refused.
    pub audiences: Vec<String>,
    /// Where the signing keys are, instead of issuer discovery.
    pub jwks_url: Option<String>,
    /// A JWKS file (e.g. `kubectl get --raw /openid/v1/jwks` saved in a ConfigMap), instead of discovery.
    pub jwks_file: Option<PathBuf>,
    /// PEM CA bundle for TLS to the issuer (e.g. the cluster CA); when set, only it is trusted.
    pub ca_file: Option<PathBuf>,
}

impl OidcProviderConfig {
    /// The issuer without its scheme (and trailing `/`): the prefix of its condition keys
    /// (`ISSUER:sub`) and the last part of its ARN.
    pub fn host_path(&self) -> &str {
        issuer_host_path(&self.issuer)
    }

    /// `arn:aws:iam::000000000000:oidc-provider/ISSUER-WITHOUT-SCHEME`.
    pub fn arn(&self) -> String {
        format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{}", self.host_path())
    }
}

/// The issuer URL without `https://` / `http://` and without a trailing `/`.
pub fn issuer_host_path(issuer: &str) -> &str {
    let rest = issuer.strip_prefix("https://").or_else(|| issuer.strip_prefix("http://")).unwrap_or(issuer);
    rest.strip_suffix('/').unwrap_or(rest)
}

/// One role.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    /// The role name (`arn:aws:iam::000000000000:role/NAME`).
    pub name: String,
    /// Who may assume the role (AWS trust-policy JSON, written as YAML).
    pub trust_policy: serde_json::Value,
    /// Permission policies, by name (canned or from `policies:`).
    #[serde(default)]
    pub policies: Vec<String>,
    /// Longest session, in seconds (900 to 43200; default 3600).
    pub max_session_duration: Option<u64>,
}

impl RoleConfig {
    /// The longest session this role grants.
    pub fn max_session_secs(&self) -> u64 {
        self.max_session_duration.unwrap_or(DEFAULT_MAX_SESSION_SECS)
    }
}

/// The container-credentials endpoint's settings.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PodIdentityConfig {
    /// The audience the projected service-account token must have (default `kura`).
    pub audience: Option<String>,
    /// Which role each service account gets.
    #[serde(default)]
    pub associations: Vec<Association>,
}

impl PodIdentityConfig {
    /// The audience tokens must carry.
    pub fn audience(&self) -> &str {
        self.audience.as_deref().unwrap_or(DEFAULT_POD_IDENTITY_AUDIENCE)
    }
}

/// The `identity.web_identity:` settings: which role the mutating webhook points each service
/// account's pods at (`AWS_ROLE_ARN`). The role's trust policy still decides at `AssumeRoleWithWebIdentity`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebIdentityConfig {
    /// Which role each service account's pods assume.
    #[serde(default)]
    pub associations: Vec<Association>,
}

/// A service account and its role: the one it gets from `/kura/v1/credentials` (pod identity), or the
/// one the webhook names in its pods' `AWS_ROLE_ARN` (web identity).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Association {
    /// Pod identity only: the cluster the service account belongs to, as the issuer of its tokens,
    /// exactly as under `identity.oidc_providers`. Required when several providers are configured;
    /// when omitted with exactly one, validation fills that one in. `None` after validation only when
    /// no provider is configured (then no token matches). Web-identity associations take none: the
    /// role's trust policy decides whose tokens may assume the role.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Kubernetes namespace.
    pub namespace: String,
    /// Service account name.
    pub service_account: String,
    /// Role name.
    pub role: String,
}

/// Whether `name` is a valid role name (AWS: 1–64 of `A-Za-z0-9+=,.@_-`).
pub fn valid_role_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
}

impl IdentitySection {
    /// Validates the section; `policy_exists` says whether a permission-policy name is defined.
    pub(super) fn validate(&mut self, text: &str, policy_exists: impl Fn(&str) -> bool) -> Result<(), String> {
        let mut issuers = Vec::new();
        for p in &self.oidc_providers {
            let at = at_line(text, &format!("issuer: {}", p.issuer));
            let field = format!("{at}identity.oidc_providers[{}]", p.issuer);
            if !(p.issuer.starts_with("https://") || p.issuer.starts_with("http://")) || p.host_path().is_empty() {
                return Err(format!("{field}.issuer: must be an https:// (or http://) URL, exactly the tokens' iss"));
            }
            if issuers.contains(&p.host_path()) {
                return Err(format!("{field}: this issuer is listed twice"));
            }
            issuers.push(p.host_path());
            if p.audiences.is_empty() || p.audiences.iter().any(String::is_empty) {
                return Err(format!(
                    "{field}.audiences: list the audiences (client ids) tokens must carry, e.g. [sts.amazonaws.com]"
                ));
            }
            if p.jwks_url.is_some() && p.jwks_file.is_some() {
                return Err(format!("{field}: give jwks_url or jwks_file, not both"));
            }
            if let Some(url) = &p.jwks_url
                && !(url.starts_with("https://") || url.starts_with("http://"))
            {
                return Err(format!("{field}.jwks_url: {url:?} must be an http(s) URL"));
            }
            for (name, file) in [("jwks_file", &p.jwks_file), ("ca_file", &p.ca_file)] {
                if let Some(file) = file
                    && let Err(e) = std::fs::metadata(file)
                {
                    return Err(format!("{field}.{name}: cannot read {}: {e}", file.display()));
                }
            }
        }
        for role in &self.roles {
            let name = &role.name;
            let at = at_line(text, &format!("name: {name}"));
            let field = format!("{at}identity.roles.{name}");
            if !valid_role_name(name) {
                return Err(format!("{field}.name: a role name is 1 to 64 characters of A-Z a-z 0-9 + = , . @ _ -"));
            }
            if self.trust_policies.contains_key(name) {
                return Err(format!("{field}: this role is listed twice"));
            }
            let max = role.max_session_secs();
            if !(MIN_SESSION_SECS..=MAX_ROLE_SESSION_SECS).contains(&max) {
                return Err(format!("{field}.max_session_duration: {max} is not between 900 and 43200 seconds"));
            }
            for p in &role.policies {
                if !policy_exists(p) {
                    return Err(format!("{field}.policies: no policy named {p:?}; define it under policies:"));
                }
            }
            let trust = Policy::from_value(role.trust_policy.clone())
                .and_then(|p| p.validate_resource().map(|()| p))
                .map_err(|e| format!("{field}.trust_policy: {e}"))?;
            self.trust_policies.insert(name.clone(), Arc::new(trust));
        }
        check_associations(
            text,
            "pod_identity",
            &mut self.pod_identity.associations,
            Some(&self.oidc_providers),
            &self.trust_policies,
        )?;
        check_associations(text, "web_identity", &mut self.web_identity.associations, None, &self.trust_policies)?;
        if self.pod_identity.audience.as_deref().is_some_and(str::is_empty) {
            return Err("identity.pod_identity.audience: must not be empty".to_owned());
        }
        Ok(())
    }
}

/// Checks `identity.KIND.associations`: names present, the role defined, one association per service
/// account (per issuer, for pod identity). `providers` is `Some` for pod identity: each association is
/// bound to one provider's issuer (filled in when exactly one is configured), so a token from another
/// cluster never matches it. `None` (web identity): no issuer may be given.
fn check_associations(
    text: &str,
    kind: &str,
    associations: &mut [Association],
    providers: Option<&[OidcProviderConfig]>,
    roles: &BTreeMap<String, Arc<Policy>>,
) -> Result<(), String> {
    let mut seen: Vec<(Option<String>, String, String)> = Vec::new();
    for i in 0..associations.len() {
        let at = association_line(text, kind, &associations[..=i]);
        let a = &mut associations[i];
        let field = format!("{at}identity.{kind}.associations[{}/{}]", a.namespace, a.service_account);
        if a.namespace.is_empty() || a.service_account.is_empty() {
            return Err(format!("{field}: namespace and service_account must not be empty"));
        }
        if !roles.contains_key(&a.role) {
            return Err(format!("{field}.role: no role named {:?} under identity.roles", a.role));
        }
        match (providers, &a.issuer) {
            (None, None) => {}
            (None, Some(_)) => {
                return Err(format!(
                    "{field}.issuer: a web-identity association takes no issuer: the webhook cannot tell \
                     clusters apart, and the role's trust policy (its Federated principal) decides whose \
                     tokens may assume the role; remove it"
                ));
            }
            (Some(providers), Some(issuer)) => {
                if !providers.iter().any(|p| &p.issuer == issuer) {
                    return Err(format!(
                        "{field}.issuer: no OIDC provider has issuer {issuer:?}; write one of identity.oidc_providers' \
                         issuers exactly as configured: {}",
                        issuer_list(providers)
                    ));
                }
            }
            (Some([]), None) => {} // No provider: no token can be verified, so nothing matches.
            (Some([only]), None) => a.issuer = Some(only.issuer.clone()),
            (Some(providers), None) => {
                return Err(format!(
                    "{field}: {} OIDC providers are configured, so say which cluster this service account \
                     belongs to: add `issuer:` with one of {} (a token from any other issuer must not get \
                     this role)",
                    providers.len(),
                    issuer_list(providers)
                ));
            }
        }
        let key = (a.issuer.clone(), a.namespace.clone(), a.service_account.clone());
        if seen.contains(&key) {
            let whose = if providers.is_some() { " of this issuer" } else { "" };
            return Err(format!("{field}: this service account{whose} has two associations; keep one"));
        }
        seen.push(key);
    }
    Ok(())
}

/// The configured issuers, for an error message.
fn issuer_list(providers: &[OidcProviderConfig]) -> String {
    if providers.is_empty() {
        return "(none is configured: add the cluster's issuer under identity.oidc_providers)".to_owned();
    }
    providers.iter().map(|p| p.issuer.as_str()).collect::<Vec<_>>().join(", ")
}

/// `line N: ` for the last association of `upto` (block or flow style, any key order): the line naming
/// its namespace, counted among those of the same namespace after `KIND:`, or nothing when not found.
fn association_line(text: &str, kind: &str, upto: &[Association]) -> String {
    let Some(last) = upto.last() else { return String::new() };
    let nth = upto.iter().filter(|a| a.namespace == last.namespace).count();
    let needle = format!("namespace: {}", last.namespace);
    let start = super::line_of(text, &format!("{kind}:")).unwrap_or(1);
    text.lines()
        .enumerate()
        .skip(start)
        .filter(|(_, line)| {
            line.match_indices(&needle).any(|(i, _)| {
                let before = line[..i].chars().next_back();
                let after = line[i + needle.len()..].chars().next();
                !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                    && after.is_none_or(|c| c == ',' || c == '}' || c.is_whitespace())
            })
        })
        .nth(nth - 1)
        .map(|(n, _)| format!("line {}: ", n + 1))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const GOOD: &str = r#"
policies:
  team-rw:
    Statement:
      - Effect: Allow
        Action: ["s3:*"]
        Resource: ["arn:aws:s3:::data/${k8s:namespace}/*"]
identity:
  oidc_providers:
    - issuer: https://kubernetes.default.svc.cluster.local
      audiences: [sts.amazonaws.com]
  roles:
    - name: team
      trust_policy:
        Statement:
          - Effect: Allow
            Principal: {Federated: "arn:aws:iam::000000000000:oidc-provider/kubernetes.default.svc.cluster.local"}
            Action: sts:AssumeRoleWithWebIdentity
      policies: [team-rw]
  pod_identity:
    associations:
      - {namespace: gitlab, service_account: runner, role: team}
  web_identity:
    associations:
      - {namespace: apps, service_account: reporter, role: team}
"#;

    #[test]
    fn a_full_identity_section_parses() {
        let c = Config::parse(GOOD).expect("valid");
        let id = &c.identity;
        assert_eq!(id.oidc_providers[0].host_path(), "kubernetes.default.svc.cluster.local");
        assert_eq!(
            id.oidc_providers[0].arn(),
            "arn:aws:iam::000000000000:oidc-provider/kubernetes.default.svc.cluster.local"
        );
        assert!(id.trust_policies.contains_key("team"));
        assert_eq!(id.pod_identity.audience(), "kura");
        assert_eq!(id.roles[0].max_session_secs(), 3600);
    }

    #[test]
    fn mistakes_name_the_field() {
        for (from, to, expect) in [
            ("policies: [team-rw]", "policies: [missing]", "identity.roles.team.policies"),
            ("role: team}", "role: nobody}", "pod_identity.associations[gitlab/runner].role"),
            ("reporter, role: team}", "reporter, role: nobody}", "web_identity.associations[apps/reporter].role"),
            ("audiences: [sts.amazonaws.com]", "audiences: []", "audiences"),
            ("issuer: https://", "issuer: ftp://", "issuer"),
            ("Principal: {Federated", "NotAction: [x]\n            Foo: {Federated", "trust_policy"),
            ("      policies: [team-rw]", "      max_session_duration: 60", "max_session_duration"),
        ] {
            let text = GOOD.replacen(from, to, 1);
            let err = Config::parse(&text).expect_err(expect);
            assert!(err.contains(expect), "{expect}: {err}");
        }
        let err =
            Config::parse(&GOOD.replace(
                "role: team}",
                "role: team}\n      - {namespace: gitlab, service_account: runner, role: team}",
            ))
            .expect_err("twice");
        assert!(err.contains("two associations"), "{err}");
        let err = Config::parse(&GOOD.replace(
            "reporter, role: team}",
            "reporter, role: team}\n      - {namespace: apps, service_account: reporter, role: team}",
        ))
        .expect_err("twice");
        assert!(
            err.contains(
                "identity.web_identity.associations[apps/reporter]: this service account has two associations"
            ),
            "{err}"
        );
    }

    /// GOOD with a second provider (cluster-b) and `pod_identity` associations replaced by `pod`.
    fn two_clusters(pod: &str) -> String {
        GOOD.replace(
            "      audiences: [sts.amazonaws.com]\n  roles:",
            "      audiences: [sts.amazonaws.com]\n    - issuer: https://cluster-b.example\n      audiences: [kura]\n  roles:",
        )
        .replace("      - {namespace: gitlab, service_account: runner, role: team}\n", pod)
    }

    #[test]
    fn one_provider_binds_associations_without_an_issuer_to_it() {
        let c = Config::parse(GOOD).expect("valid");
        let a = &c.identity.pod_identity.associations[0];
        assert_eq!(a.issuer.as_deref(), Some("https://kubernetes.default.svc.cluster.local"));
        assert_eq!(c.identity.web_identity.associations[0].issuer, None);
        let named = GOOD.replace(
            "{namespace: gitlab,",
            "{issuer: https://kubernetes.default.svc.cluster.local, namespace: gitlab,",
        );
        let c = Config::parse(&named).expect("the one issuer, named");
        assert_eq!(c.identity.pod_identity.associations[0], a.clone());
    }

    #[test]
    fn with_several_providers_each_pod_association_names_its_issuer() {
        let err = Config::parse(&two_clusters("      - {namespace: prod, service_account: deployer, role: team}\n"))
            .expect_err("no issuer");
        assert_eq!(
            err,
            "line 24: identity.pod_identity.associations[prod/deployer]: 2 OIDC providers are configured, so \
             say which cluster this service account belongs to: add `issuer:` with one of \
             https://kubernetes.default.svc.cluster.local, https://cluster-b.example (a token from any other \
             issuer must not get this role)"
        );
        // Block style, issuer first: the line is still found.
        let err = Config::parse(&two_clusters(
            "      - issuer: https://cluster-b.example/\n        namespace: prod\n        service_account: deployer\n        role: team\n",
        ))
        .expect_err("unknown issuer");
        assert_eq!(
            err,
            "line 25: identity.pod_identity.associations[prod/deployer].issuer: no OIDC provider has issuer \
             \"https://cluster-b.example/\"; write one of identity.oidc_providers' issuers exactly as configured: \
             https://kubernetes.default.svc.cluster.local, https://cluster-b.example"
        );
        let c = Config::parse(&two_clusters(
            "      - {issuer: https://kubernetes.default.svc.cluster.local, namespace: prod, service_account: deployer, role: team}\n      \
             - {issuer: https://cluster-b.example, namespace: prod, service_account: deployer, role: team}\n",
        ))
        .expect("the same service account in two clusters");
        let issuers: Vec<_> = c.identity.pod_identity.associations.iter().map(|a| a.issuer.as_deref()).collect();
        assert_eq!(issuers, [Some("https://kubernetes.default.svc.cluster.local"), Some("https://cluster-b.example")]);
        let err = Config::parse(&two_clusters(
            "      - {issuer: https://cluster-b.example, namespace: prod, service_account: deployer, role: team}\n      \
             - {issuer: https://cluster-b.example, namespace: prod, service_account: deployer, role: team}\n",
        ))
        .expect_err("twice in one cluster");
        assert_eq!(
            err,
            "line 25: identity.pod_identity.associations[prod/deployer]: this service account of this issuer has \
             two associations; keep one"
        );
    }

    #[test]
    fn issuers_are_refused_where_they_mean_nothing_or_nobody() {
        let err =
            Config::parse(&GOOD.replace(
                "{namespace: apps,",
                "{issuer: https://kubernetes.default.svc.cluster.local, namespace: apps,",
            ))
            .expect_err("web identity");
        assert!(
            err.starts_with("line 25: identity.web_identity.associations[apps/reporter].issuer: a web-identity"),
            "{err}"
        );
        let none = GOOD.replace(
            "  oidc_providers:\n    - issuer: https://kubernetes.default.svc.cluster.local\n      audiences: [sts.amazonaws.com]\n",
            "",
        );
        let c = Config::parse(&none).expect("no provider: the association matches no token");
        assert_eq!(c.identity.pod_identity.associations[0].issuer, None);
        let err = Config::parse(&none.replace("{namespace: gitlab,", "{issuer: https://a.example, namespace: gitlab,"))
            .expect_err("no such provider");
        assert!(err.contains("no OIDC provider has issuer \"https://a.example\"; write one of"), "{err}");
        assert!(err.contains("(none is configured: add the cluster's issuer under identity.oidc_providers)"), "{err}");
    }
}
