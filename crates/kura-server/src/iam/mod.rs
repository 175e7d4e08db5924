//! Identities and named policies: root, IAM users and policies from the config file and from the admin
//! API, held as one immutable [`IamState`] snapshot that is swapped whole on every change.
//!
//! The config file is authoritative for what it declares; the admin API manages everything else and
//! persists it as metadata-store records, so it survives restarts. Reloading the file (SIGHUP or a
//! change on disk) re-validates it whole and swaps the snapshot only when it is good.
//!
//! Replicas on one shared metadata store learn of each other's admin changes through the IAM
//! generation ([`crate::generation`]): every change writes its record, bumps the generation and
//! rebuilds; [`Iam::refresh`] (polled by every process) rebuilds when another process bumped it. A
//! rebuild keeps this process's configuration file (config reloads stay per process), and a failed
//! one keeps the snapshot in force.

mod state;

pub use state::{IamState, NamedPolicy, Origin, POLICY_RECORD, StoredUser, USER_RECORD, User, reads_existing_tags};

use crate::base::credentials::Credentials;
use crate::config::Config;
use crate::generation::{Domain, Generation};
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
    /// The IAM generation the snapshot reflects.
    generation: Generation,
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
        let generation = Generation::new(Domain::Iam);
        let token = generation.read(meta.as_ref()).await?;
        let sources = Sources { root: &root, config: &config, keyring: &keyring, previous: None };
        let state = build(sources, meta.as_ref()).await?;
        generation.mark(token);
        let iam = Arc::new(Self {
            current: RwLock::new(Arc::new(state)),
            config: RwLock::new(config.clone()),
            root,
            keyring,
            meta,
            region,
            changes: tokio::sync::Mutex::new(()),
            generation,
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
        let token = self.generation.read(self.meta.as_ref()).await?;
        let state = build(self.sources(&config, &self.snapshot()), self.meta.as_ref()).await?;
        *self.config.write().unwrap_or_else(std::sync::PoisonError::into_inner) = config;
        self.swap(state);
        self.generation.mark(token);
        Ok(())
    }

    /// Rebuilds the snapshot when another process changed users or policies (the IAM generation
    /// moved); answers whether it did. On failure the snapshot in force stays, and the next call
    /// tries again.
    pub async fn refresh(&self) -> Result<bool, IamError> {
        if self.generation.moved(self.meta.as_ref()).await?.is_none() {
            return Ok(false);
        }
        let _guard = self.changes.lock().await;
        self.catch_up().await
    }

    /// [`Iam::refresh`] under the change lock: admin changes call it first, so that they decide on
    /// what other processes have written.
    async fn catch_up(&self) -> Result<bool, IamError> {
        let Some(token) = self.generation.moved(self.meta.as_ref()).await? else {
            return Ok(false);
        };
        let config = self.config();
        let state = build(self.sources(&config, &self.snapshot()), self.meta.as_ref()).await?;
        self.swap(state);
        self.generation.mark(token);
        Ok(true)
    }

    fn sources<'a>(&'a self, config: &'a Config, current: &'a IamState) -> Sources<'a> {
        Sources { root: &self.root, config, keyring: &self.keyring, previous: Some(&current.identity) }
    }

    fn swap(&self, state: IamState) {
        *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(state);
    }

    /// After a change's record is written: tells every process (bumps the generation), then rebuilds
    /// from the store, so this process applies the change at once. The rebuild reads the records after
    /// the bump, so it holds every change announced before it, and the new token is marked seen.
    async fn changed(&self) -> Result<(), IamError> {
        let token = self.generation.bump(self.meta.as_ref()).await?;
        let config = self.config();
        let state = build(self.sources(&config, &self.snapshot()), self.meta.as_ref()).await?;
        self.swap(state);
        self.generation.mark(Some(token));
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
        self.catch_up().await?;
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
        self.changed().await?;
        Ok(generated)
    }

    /// Deletes an admin-managed user.
    pub async fn delete_user(&self, access_key: &str) -> Result<(), IamError> {
        let _guard = self.changes.lock().await;
        self.catch_up().await?;
        match self.snapshot().user(access_key) {
            None => return Err(IamError::NoSuchUser(access_key.to_owned())),
            Some(u) if u.origin != Origin::Admin => {
                return Err(IamError::NotManaged(format!("user {access_key:?}"), "the configuration file"));
            }
            Some(_) => {}
        }
        self.meta.delete_record(USER_RECORD, access_key).await?;
        self.changed().await
    }

    /// Attaches (`attach = true`) or detaches a named policy.
    pub async fn attach(&self, access_key: &str, policy: &str, attach: bool) -> Result<(), IamError> {
        self.refresh().await?;
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
        self.catch_up().await?;
        if let Some(existing) = self.snapshot().policy(name)
            && existing.origin != Origin::Admin
        {
            return Err(IamError::NotManaged(format!("policy {name:?}"), origin_owner(existing.origin)));
        }
        self.meta.put_record(POLICY_RECORD, name, policy.to_json().into_bytes()).await?;
        self.changed().await
    }

    /// Deletes an admin-managed named policy that no user has attached.
    pub async fn delete_policy(&self, name: &str) -> Result<(), IamError> {
        let _guard = self.changes.lock().await;
        self.catch_up().await?;
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
        self.changed().await
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

#[cfg(test)]
mod tests {
    use super::*;
    use kura_store::memory::MemoryMetaStore;

    const CONFIG: &str =
        "users:\n  - access_key: fromfile\n    secret_key: fromfile-secret-0123\n    policies: [readonly]\n";

    async fn process(meta: &Arc<dyn MetaStore>, config: &str) -> Arc<Iam> {
        let root = Credentials {
            access_key: "rootkey".into(),
            secret_key: crate::base::credentials::Secret::new("root-secret-0123456789"),
        };
        let keyring = Keyring::parse(&Keyring::new_key_line()).expect("keyring");
        let config = Config::parse(config).expect("config");
        Iam::open(root, config, Arc::new(keyring), meta.clone(), "us-east-1".into()).await.expect("open")
    }

    /// Two processes on one store: what one changes through the admin API is in the other's snapshot
    /// after its refresh, and the refreshing process keeps its own configuration file's users.
    #[tokio::test]
    async fn a_refresh_picks_up_another_process_changes_and_keeps_the_config_file() {
        let meta: Arc<dyn MetaStore> = Arc::new(MemoryMetaStore::new());
        let a = process(&meta, "").await;
        let b = process(&meta, CONFIG).await;
        assert!(!b.refresh().await.expect("refresh"), "nothing changed");

        a.put_user("carol", Some("carol-secret-0123".into()), None, None).await.expect("create on a");
        assert!(a.snapshot().user("carol").is_some(), "in force on a at once");
        assert!(b.snapshot().user("carol").is_none());
        assert!(b.refresh().await.expect("refresh"));
        assert!(b.snapshot().user("carol").is_some_and(|u| u.enabled));
        assert!(b.snapshot().user("fromfile").is_some_and(|u| u.origin == Origin::Config), "b's file user stays");
        assert!(a.snapshot().user("fromfile").is_none(), "a's file has no such user");
        assert!(!a.refresh().await.expect("refresh"), "a's own change is already in its snapshot");

        a.put_user("carol", None, Some(false), None).await.expect("disable on a");
        assert!(b.refresh().await.expect("refresh"));
        assert!(b.snapshot().user("carol").is_some_and(|u| !u.enabled));
        a.delete_user("carol").await.expect("delete on a");
        assert!(b.refresh().await.expect("refresh"));
        assert!(b.snapshot().user("carol").is_none());
    }

    /// An admin change first catches up with other processes' changes, so it decides on the store's
    /// state, not on a stale snapshot: b deletes a policy a made a moment ago, unrefreshed.
    #[tokio::test]
    async fn a_change_catches_up_before_it_decides() {
        let meta: Arc<dyn MetaStore> = Arc::new(MemoryMetaStore::new());
        let (a, b) = (process(&meta, "").await, process(&meta, "").await);
        let policy = Policy::parse(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#,
        )
        .expect("policy");
        a.put_policy("shared", &policy).await.expect("put on a");
        a.put_user("dave", Some("dave-secret-0123".into()), None, Some(vec!["shared".into()])).await.expect("user");
        let err = b.delete_policy("shared").await.expect_err("attached to dave");
        assert!(matches!(err, IamError::PolicyInUse(..)), "{err}");
        b.attach("dave", "shared", false).await.expect("detach on b");
        assert!(a.refresh().await.expect("refresh"));
        assert!(a.snapshot().user("dave").is_some_and(|u| u.policies.is_empty()));
    }
}
