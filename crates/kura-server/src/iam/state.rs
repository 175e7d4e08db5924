//! One immutable snapshot of who exists and what they may do: root, IAM users, named policies and the
//! trusted proxies. A new snapshot is built whole (from the config file plus what the admin API stored)
//! and swapped in; requests in flight keep the one they started with.

use crate::base::credentials::{Credentials, Secret};
use crate::config::Config;
use crate::identity::Identity;
use kura_policy::Policy;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Where a user or policy was defined; config-defined ones cannot be changed through the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// Built into kura (canned policies).
    Builtin,
    /// The configuration file.
    Config,
    /// Created through the admin API and kept in the metadata store.
    Admin,
}

/// An IAM user. Its name is its access key.
#[derive(Debug, Clone)]
pub struct User {
    /// Access key id (and user name).
    pub access_key: String,
    /// Secret key.
    pub secret: Secret,
    /// Disabled users cannot authenticate.
    pub enabled: bool,
    /// Names of attached policies.
    pub policies: Vec<String>,
    /// Where it was defined.
    pub origin: Origin,
}

/// A named policy.
#[derive(Debug, Clone)]
pub struct NamedPolicy {
    /// The parsed policy.
    pub policy: Arc<Policy>,
    /// Where it was defined.
    pub origin: Origin,
    /// Whether a condition reads `s3:ExistingObjectTag/…` (the request must then load the object's tags).
    pub reads_existing_tags: bool,
}

impl NamedPolicy {
    fn new(policy: Policy, origin: Origin) -> Self {
        let reads_existing_tags = reads_existing_tags(&policy);
        Self { policy: Arc::new(policy), origin, reads_existing_tags }
    }
}

/// Whether a policy's conditions read `s3:ExistingObjectTag/…`.
pub fn reads_existing_tags(policy: &Policy) -> bool {
    policy.to_json().to_ascii_lowercase().contains("s3:existingobjecttag/")
}

/// A user as the admin API stores it (record kind [`USER_RECORD`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredUser {
    /// Secret key.
    pub secret_key: String,
    /// Enabled or not.
    pub enabled: bool,
    /// Attached policy names.
    pub policies: Vec<String>,
}

/// Record kind of admin-created users (id = access key, value = [`StoredUser`] JSON).
pub const USER_RECORD: &str = "iam-user";
/// Record kind of admin-created policies (id = name, value = policy JSON).
pub const POLICY_RECORD: &str = "iam-policy";

/// The snapshot.
#[derive(Debug)]
pub struct IamState {
    /// The root user: full access, always.
    pub root: Credentials,
    users: HashMap<String, User>,
    policies: BTreeMap<String, NamedPolicy>,
    /// Peers whose `X-Forwarded-*` headers are believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Roles, OIDC providers and the session keys.
    pub identity: Arc<Identity>,
    /// What the mutating admission webhook injects besides identity (`webhook:`, resolved).
    pub webhook: crate::config::webhook::WebhookSettings,
}

impl IamState {
    /// Builds a snapshot from the (already validated) configuration and the admin API's records.
    /// A record that no longer parses, or that names a user the config now defines, is skipped with a
    /// warning: the config file wins.
    pub fn build(
        root: Credentials,
        config: &Config,
        stored_users: Vec<(String, Vec<u8>)>,
        stored_policies: Vec<(String, Vec<u8>)>,
        identity: Arc<Identity>,
    ) -> Self {
        let mut policies = BTreeMap::new();
        for name in kura_policy::canned::NAMES {
            if let Some(p) = kura_policy::canned::get(name) {
                policies.insert((*name).to_owned(), NamedPolicy::new(p.clone(), Origin::Builtin));
            }
        }
        for (name, policy) in &config.parsed_policies {
            policies.insert(name.clone(), NamedPolicy::new(Policy::clone(policy), Origin::Config));
        }
        for (name, bytes) in stored_policies {
            if policies.contains_key(&name) {
                tracing::warn!(policy = %name, "a stored policy has the name of a canned or configured one; ignored");
                continue;
            }
            match std::str::from_utf8(&bytes).ok().map(Policy::parse) {
                Some(Ok(policy)) => {
                    policies.insert(name, NamedPolicy::new(policy, Origin::Admin));
                }
                _ => tracing::warn!(policy = %name, "a stored policy no longer parses; ignored"),
            }
        }
        let mut users = HashMap::new();
        for u in &config.users {
            let secret = config.user_secrets.get(&u.access_key).cloned().unwrap_or_else(|| Secret::new(""));
            users.insert(
                u.access_key.clone(),
                User {
                    access_key: u.access_key.clone(),
                    secret,
                    enabled: u.enabled,
                    policies: u.policies.clone(),
                    origin: Origin::Config,
                },
            );
        }
        for (access_key, bytes) in stored_users {
            if users.contains_key(&access_key) || access_key == root.access_key {
                tracing::warn!(user = %access_key, "a stored user is also defined by the config file; the file wins");
                continue;
            }
            match serde_json::from_slice::<StoredUser>(&bytes) {
                Ok(s) => {
                    users.insert(
                        access_key.clone(),
                        User {
                            access_key,
                            secret: Secret::new(s.secret_key),
                            enabled: s.enabled,
                            policies: s.policies,
                            origin: Origin::Admin,
                        },
                    );
                }
                Err(e) => tracing::warn!(user = %access_key, error = %e, "a stored user no longer parses; ignored"),
            }
        }
        let trusted_proxies =
            config.server.trusted_proxies.iter().filter_map(|p| crate::config::parse_net(p)).collect();
        let webhook = config.webhook.resolve(&config.server);
        Self { root, users, policies, trusted_proxies, identity, webhook }
    }

    /// The user with this access key, enabled or not.
    pub fn user(&self, access_key: &str) -> Option<&User> {
        self.users.get(access_key)
    }

    /// Every user, ordered by access key.
    pub fn users(&self) -> Vec<&User> {
        let mut all: Vec<_> = self.users.values().collect();
        all.sort_by(|a, b| a.access_key.cmp(&b.access_key));
        all
    }

    /// A named policy.
    pub fn policy(&self, name: &str) -> Option<&NamedPolicy> {
        self.policies.get(name)
    }

    /// A named policy with its name (borrowed from the snapshot).
    pub fn policy_entry(&self, name: &str) -> Option<(&String, &NamedPolicy)> {
        self.policies.get_key_value(name)
    }

    /// Every named policy, ordered by name.
    pub fn policies(&self) -> impl Iterator<Item = (&String, &NamedPolicy)> {
        self.policies.iter()
    }

    /// The secret for an access key: root, an enabled user, or temporary credentials sealed by our
    /// session keys (whose token is checked separately, by the access hook).
    pub fn secret_for(&self, access_key: &str) -> Option<Secret> {
        if access_key == self.root.access_key {
            return Some(self.root.secret_key.clone());
        }
        if let Some(user) = self.users.get(access_key) {
            return user.enabled.then(|| user.secret.clone());
        }
        self.identity.keyring.secret_for(access_key)
    }
}
