//! Identities and named policies: root, IAM users and policies from the config file and from the admin
//! API, held as one immutable [`IamState`] snapshot that is swapped whole on every change.
//!
//! The config file is authoritative for what it declares; the admin API manages everything else and
//! persists it as metadata-store records, so it survives restarts. Reloading the file (SIGHUP or a
//! change on disk) re-validates it whole and swaps the snapshot only when it is good.

mod state;

pub use state::{IamState, NamedPolicy, Origin, POLICY_RECORD, StoredUser, USER_RECORD, User, reads_existing_tags};

use crate::base::credentials::Credentials;
use crate::config::Config;
use crate::identity::Identity;
use crate::identity::session::Keyring;
use kura_policy::Policy;
use kura_store::{MetaStore, StoreError};
use std::sync::{Arc, RwLock};

/// Failures of IAM changes (admin API, config application).
#[derive(Debug, thiserror::Error)]
pub enum IamError {
    /// The named user does not exist.
    #[error("no user with access key {0:?}")]
    NoSuchUser(String),
    /// The named policy does not exist.
    #[error("no policy named {0:?}")]
    NoSuchPolicy(String),
    /// The configuration file or kura itself owns this user or policy.
    #[error("{0} is defined by {1}; change it there")]
    NotManaged(String, &'static str),
    /// A policy cannot be deleted while users have it attached.
    #[error("policy {0:?} is attached to {1}; detach it first")]
    PolicyInUse(String, String),
    /// The input is invalid (names the field).
    #[error("{0}")]
    Invalid(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The live IAM state and the operations that change it.
pub struct Iam {
    current: RwLock<Arc<IamState>>,
    config: RwLock<Arc<Config>>,
    root: Credentials,
    keyring: Arc<Keyring>,
    meta: Arc<dyn MetaStore>,
    region: String,
    /// Serialises changes, so two admin calls cannot interleave their read-modify-write.
    changes: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Iam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Iam").finish_non_exhaustive()
    }
}

impl Iam {
    /// Builds the first snapshot; `keyring` seals and opens session tokens. (The config's `buckets:`
    /// section is [`crate::buckets::apply_config`]'s.)
    pub async fn open(
        root: Credentials,
        config: Config,
        keyring: Arc<Keyring>,
        meta: Arc<dyn MetaStore>,
        region: String,
    ) -> Result<Arc<Self>, IamError> {
        let config = Arc::new(config);
        let sources = Sources { root: &root, config: &config, keyring: &keyring, previous: None };
        let state = build(sources, meta.as_ref()).await?;
        let iam = Arc::new(Self {
            current: RwLock::new(Arc::new(state)),
            config: RwLock::new(config.clone()),
            root,
            keyring,
            meta,
            region,
            changes: tokio::sync::Mutex::new(()),
        });
        Ok(iam)
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        self.config.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// The region kura reports and signs for.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<IamState> {
        self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Replaces the configuration (already validated whole) and rebuilds the snapshot.
    pub async fn apply_config(&self, config: Config) -> Result<(), IamError> {
        let _guard = self.changes.lock().await;
        let config = Arc::new(config);
        let state = build(self.sources(&config, &self.snapshot()), self.meta.as_ref()).await?;
        *self.config.write().unwrap_or_else(std::sync::PoisonError::into_inner) = config;
        self.swap(state);
        Ok(())
    }

    fn sources<'a>(&'a self, config: &'a Config, current: &'a IamState) -> Sources<'a> {
        Sources { root: &self.root, config, keyring: &self.keyring, previous: Some(&current.identity) }
    }

    fn swap(&self, state: IamState) {
        *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(state);
    }

    async fn rebuild(&self) -> Result<(), IamError> {
        let config = self.config.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let state = build(self.sources(&config, &self.snapshot()), self.meta.as_ref()).await?;
        self.swap(state);
        Ok(())
    }

    /// Creates or updates an admin-managed user. A new user without a secret gets a generated one,
    /// which is returned (the only time it is shown).
    pub async fn put_user(
        &self,
        access_key: &str,
        secret_key: Option<String>,
        enabled: Option<bool>,
        policies: Option<Vec<String>>,
    ) -> Result<Option<String>, IamError> {
        crate::base::credentials::validate_access_key(access_key).map_err(IamError::Invalid)?;
        let _guard = self.changes.lock().await;
        let state = self.snapshot();
        if access_key == state.root.access_key {
            return Err(IamError::NotManaged("the root user".into(), "the environment or the data directory"));
        }
        let existing = state.user(access_key);
        if existing.is_some_and(|u| u.origin == Origin::Config) {
            return Err(IamError::NotManaged(format!("user {access_key:?}"), "the configuration file"));
        }
        if let Some(s) = &secret_key {
            crate::base::credentials::validate_secret_key(s).map_err(IamError::Invalid)?;
        }
        if let Some(list) = &policies {
            for p in list {
                if state.policy(p).is_none() {
                    return Err(IamError::NoSuchPolicy(p.clone()));
                }
            }
        }
        let generated = match (&secret_key, existing) {
            (None, None) => Some(crate::base::credentials::generate().secret_key.expose().to_owned()),
            _ => None,
        };
        let stored = StoredUser {
            secret_key: secret_key
                .or(generated.clone())
                .or_else(|| existing.map(|u| u.secret.expose().to_owned()))
                .unwrap_or_default(),
            enabled: enabled.or(existing.map(|u| u.enabled)).unwrap_or(true),
            policies: policies.or_else(|| existing.map(|u| u.policies.clone())).unwrap_or_default(),
        };
        let bytes = serde_json::to_vec(&stored).map_err(|e| IamError::Invalid(e.to_string()))?;
        self.meta.put_record(USER_RECORD, access_key, bytes).await?;
        self.rebuild().await?;
        Ok(generated)
    }

    /// Deletes an admin-managed user.
    pub async fn delete_user(&self, access_key: &str) -> Result<(), IamError> {
        let _guard = self.changes.lock().await;
        match self.snapshot().user(access_key) {
            None => return Err(IamError::NoSuchUser(access_key.to_owned())),
            Some(u) if u.origin != Origin::Admin => {
                return Err(IamError::NotManaged(format!("user {access_key:?}"), "the configuration file"));
            }
            Some(_) => {}
        }
        self.meta.delete_record(USER_RECORD, access_key).await?;
        self.rebuild().await
    }

    /// Attaches (`attach = true`) or detaches a named policy.
    pub async fn attach(&self, access_key: &str, policy: &str, attach: bool) -> Result<(), IamError> {
        let user = self.snapshot().user(access_key).cloned().ok_or_else(|| IamError::NoSuchUser(access_key.into()))?;
        let mut policies = user.policies.clone();
        if attach {
            if !policies.iter().any(|p| p == policy) {
                policies.push(policy.to_owned());
            }
        } else if !policies.iter().any(|p| p == policy) {
            return Err(IamError::Invalid(format!("policy {policy:?} is not attached to user {access_key:?}")));
        } else {
            policies.retain(|p| p != policy);
        }
        self.put_user(access_key, None, None, Some(policies)).await.map(|_| ())
    }

    /// Creates or replaces an admin-managed named policy (an identity policy).
    pub async fn put_policy(&self, name: &str, policy: &Policy) -> Result<(), IamError> {
        if name.is_empty()
            || name.len() > 128
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(c))
        {
            return Err(IamError::Invalid(format!(
                "policy name {name:?}: use 1 to 128 characters of A-Z, a-z, 0-9 and +=,.@-_"
            )));
        }
        policy.validate_identity().map_err(|e| IamError::Invalid(format!("policy {name}: {e}")))?;
        let _guard = self.changes.lock().await;
        if let Some(existing) = self.snapshot().policy(name)
            && existing.origin != Origin::Admin
        {
            return Err(IamError::NotManaged(format!("policy {name:?}"), origin_owner(existing.origin)));
        }
        self.meta.put_record(POLICY_RECORD, name, policy.to_json().into_bytes()).await?;
        self.rebuild().await
    }

    /// Deletes an admin-managed named policy that no user has attached.
    pub async fn delete_policy(&self, name: &str) -> Result<(), IamError> {
        let _guard = self.changes.lock().await;
        let state = self.snapshot();
        match state.policy(name) {
            None => return Err(IamError::NoSuchPolicy(name.to_owned())),
            Some(p) if p.origin != Origin::Admin => {
                return Err(IamError::NotManaged(format!("policy {name:?}"), origin_owner(p.origin)));
            }
            Some(_) => {}
        }
        let users: Vec<_> = state
            .users()
            .into_iter()
            .filter(|u| u.policies.iter().any(|p| p == name))
            .map(|u| u.access_key.clone())
            .collect();
        if !users.is_empty() {
            return Err(IamError::PolicyInUse(name.to_owned(), format!("users {}", users.join(", "))));
        }
        self.meta.delete_record(POLICY_RECORD, name).await?;
        self.rebuild().await
    }
}

fn origin_owner(origin: Origin) -> &'static str {
    match origin {
        Origin::Builtin => "kura (a canned policy)",
        Origin::Config => "the configuration file",
        Origin::Admin => "the admin API",
    }
}

/// Everything a snapshot is built from besides the stored records.
struct Sources<'a> {
    root: &'a Credentials,
    config: &'a Config,
    keyring: &'a Arc<Keyring>,
    /// The identity state being replaced (its providers' key caches are kept).
    previous: Option<&'a Identity>,
}

async fn build(sources: Sources<'_>, meta: &dyn MetaStore) -> Result<IamState, IamError> {
    let users = meta.list_records(USER_RECORD).await?;
    let policies = meta.list_records(POLICY_RECORD).await?;
    let identity = Identity::build(&sources.config.identity, sources.keyring.clone(), sources.previous)
        .map_err(|e| IamError::Invalid(e.to_string()))?;
    Ok(IamState::build(sources.root.clone(), sources.config, users, policies, Arc::new(identity)))
}
