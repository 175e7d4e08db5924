//! The built-in key service: KMS keys whose material (32 random bytes each) is kept in the metadata
//! store as records, wrapped by kura's master keys, so keys survive restarts and travel in backups
//! (a backup restores only with the master key file that wrapped them).
//!
//! Keys and aliases are read at start into memory; every change (configuration, admin API) is
//! written to the store first and then to memory, one change at a time, and bumps the KMS generation
//! ([`crate::generation`]) so that replicas on a shared metadata store reload theirs
//! ([`BuiltinKms::refresh`], polled by every process; each change also catches up first, so that it
//! decides on what other processes wrote). The built-in service has no
//! key policies of its own: IAM policies decide who may use a key (AWS's default key policy), except
//! for the kura-managed `alias/aws/s3` key, whose policy is AWS's for `aws/s3` (see
//! [`crate::authz::kms`]).
//!
//! A key leaves the store only when its deletion date has passed: scheduling the deletion is refused
//! for a key the configuration file declares (remove it there first), and a reload never deletes one.

use super::{
    EncryptionContext, KeyManager, KeyOrigin, KeyService, KeyState, KmsError, KmsKey, S3_DEFAULT_ALIAS, context_aad,
};
use crate::base::account::ACCOUNT;
use crate::config::kms::{KmsSection, check_alias, check_description, check_key_id};
use crate::generation::{Domain, Generation};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kura_crypt::{DataKey, MasterKeyring, SealedKey};
use kura_store::{MetaStore, StoredKey};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

/// Record kind of a key (id = key id).
pub const KEY_RECORD: &str = "kms-key";
/// Record kind of an alias (id = `alias/NAME`).
pub const ALIAS_RECORD: &str = "kms-alias";
/// The shortest and longest deletion windows, in days (as AWS).
pub const PENDING_WINDOW_DAYS: std::ops::RangeInclusive<u32> = 7..=30;
/// The deletion window when none is given (as AWS).
pub const DEFAULT_PENDING_WINDOW_DAYS: u32 = 30;
/// Most keys (and most aliases) the service holds: each key is in memory.
pub const MAX_KEYS: usize = 10_000;

/// A key as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct KeyRecord {
    id: String,
    arn: String,
    #[serde(default)]
    description: String,
    state: KeyState,
    creation_date: u64,
    #[serde(default)]
    deletion_date: Option<u64>,
    manager: KeyManager,
    origin: KeyOrigin,
    /// The master key id that wrapped the material.
    master_key: String,
    /// The wrapped material, base64.
    material: String,
}

/// An alias as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct AliasRecord {
    /// The key id it names.
    target: String,
    origin: KeyOrigin,
}

/// A key in memory: its record and its material (`None` when the master keys cannot unwrap it: the
/// key stays listed, and every use fails with the reason).
struct Entry {
    record: KeyRecord,
    material: Option<DataKey>,
}

#[derive(Default)]
struct Keys {
    keys: BTreeMap<String, Entry>,
    aliases: BTreeMap<String, AliasRecord>,
    /// Ids of the keys the configuration file declares now.
    declared: BTreeSet<String>,
}

/// The built-in key service.
pub struct BuiltinKms {
    meta: Arc<dyn MetaStore>,
    master: Arc<MasterKeyring>,
    region: String,
    keys: RwLock<Keys>,
    /// Serialises changes (store write, then memory).
    writes: tokio::sync::Mutex<()>,
    clock: fn() -> u64,
    /// The KMS generation the keys in memory reflect.
    generation: Generation,
}

impl std::fmt::Debug for BuiltinKms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuiltinKms").field("region", &self.region).finish_non_exhaustive()
    }
}

/// The associated data of a key's material wrapped by a master key: the key's ARN.
fn material_aad(arn: &str) -> Vec<u8> {
    format!("kura-kms-key-v1\0{arn}").into_bytes()
}

impl BuiltinKms {
    /// Loads every key from the store (unwrapping its material), drops keys whose deletion date has
    /// passed, and makes the `alias/aws/s3` key when it does not exist yet.
    pub async fn open(meta: Arc<dyn MetaStore>, master: Arc<MasterKeyring>, region: &str) -> Result<Self, KmsError> {
        Self::open_with_clock(meta, master, region, crate::base::clock::unix_now).await
    }

    /// [`BuiltinKms::open`] with another clock (tests of deletion dates).
    pub async fn open_with_clock(
        meta: Arc<dyn MetaStore>,
        master: Arc<MasterKeyring>,
        region: &str,
        clock: fn() -> u64,
    ) -> Result<Self, KmsError> {
        let generation = Generation::new(Domain::Kms);
        let token = generation.read(meta.as_ref()).await?;
        let mut keys = assemble(&master, load(meta.as_ref()).await?, &Keys::default());
        // After a rotation (a new first line in the master key file), wrap again under the first
        // master key. The material is the same, so other processes need not reload (no bump).
        for entry in keys.keys.values_mut() {
            if let Some(material) = &entry.material {
                rewrap_under_primary(meta.as_ref(), &master, &mut entry.record, material).await?;
            }
        }
        generation.mark(token);
        let service = Self {
            meta,
            master,
            region: region.to_owned(),
            keys: RwLock::new(keys),
            writes: tokio::sync::Mutex::new(()),
            clock,
            generation,
        };
        service.purge_expired().await?;
        service.ensure_s3_default().await?;
        Ok(service)
    }

    /// Takes the change lock, after reloading what other processes changed.
    async fn lock(&self) -> Result<tokio::sync::MutexGuard<'_, ()>, KmsError> {
        let guard = self.writes.lock().await;
        self.catch_up().await?;
        Ok(guard)
    }

    /// Reloads the keys and aliases when another process changed them (the KMS generation moved);
    /// answers whether it did. On failure the keys in memory stay, and the next call tries again.
    pub async fn refresh(&self) -> Result<bool, KmsError> {
        if self.generation.moved(self.meta.as_ref()).await?.is_none() {
            return Ok(false);
        }
        let _guard = self.writes.lock().await;
        self.catch_up().await
    }

    /// [`BuiltinKms::refresh`] under the change lock. The configuration's declarations
    /// (`declared`) are this process's and stay; material already unwrapped is reused.
    async fn catch_up(&self) -> Result<bool, KmsError> {
        let Some(token) = self.generation.moved(self.meta.as_ref()).await? else {
            return Ok(false);
        };
        let stored = load(self.meta.as_ref()).await?;
        let fresh = assemble(&self.master, stored, &self.read());
        *self.write() = fresh;
        self.generation.mark(token);
        Ok(true)
    }

    /// Writes (`Some`) or deletes (`None`) one key or alias record, then bumps the KMS generation:
    /// the one way a change reaches the store.
    async fn persist(&self, kind: &str, id: &str, value: Option<Vec<u8>>) -> Result<(), KmsError> {
        match value {
            Some(bytes) => self.meta.put_record(kind, id, bytes).await?,
            None => {
                self.meta.delete_record(kind, id).await?;
            }
        }
        self.generation.bump(self.meta.as_ref()).await?;
        Ok(())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Keys> {
        self.keys.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Keys> {
        self.keys.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The region key ARNs are made in.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Every key, by id.
    pub async fn list(&self) -> Result<Vec<KmsKey>, KmsError> {
        self.purge_expired().await?;
        let keys = self.read();
        Ok(keys.keys.values().map(|e| view(&keys, &e.record)).collect())
    }

    /// Makes a customer-managed key with a fresh id (or `id`), a description and aliases.
    pub async fn create(
        &self,
        id: Option<&str>,
        description: &str,
        aliases: &[String],
        origin: KeyOrigin,
    ) -> Result<KmsKey, KmsError> {
        let _guard = self.lock().await?;
        self.create_locked(id, description, aliases, origin).await
    }

    async fn create_locked(
        &self,
        id: Option<&str>,
        description: &str,
        aliases: &[String],
        origin: KeyOrigin,
    ) -> Result<KmsKey, KmsError> {
        let id = match id {
            Some(id) => {
                check_key_id(id).map_err(KmsError::Invalid)?;
                id.to_owned()
            }
            None => uuid::Uuid::new_v4().to_string(),
        };
        check_description(description).map_err(KmsError::Invalid)?;
        {
            let keys = self.read();
            if keys.keys.contains_key(&id) {
                return Err(KmsError::AlreadyExists(format!("key {id}")));
            }
            if keys.keys.len() >= MAX_KEYS {
                return Err(KmsError::Invalid(format!("kura holds at most {MAX_KEYS} KMS keys")));
            }
            for alias in aliases {
                if keys.aliases.contains_key(alias) {
                    return Err(KmsError::AlreadyExists(format!("alias {alias}")));
                }
            }
        }
        for alias in aliases {
            check_alias(alias).map_err(KmsError::Invalid)?;
        }
        let manager = if origin == KeyOrigin::Builtin { KeyManager::Kura } else { KeyManager::Customer };
        self.insert_key(&id, description, manager, origin).await?;
        for alias in aliases {
            self.put_alias(alias, AliasRecord { target: id.clone(), origin }).await?;
        }
        let keys = self.read();
        keys.keys.get(&id).map(|e| view(&keys, &e.record)).ok_or(KmsError::NotFound(id))
    }

    /// Writes a new key with fresh material.
    async fn insert_key(
        &self,
        id: &str,
        description: &str,
        manager: KeyManager,
        origin: KeyOrigin,
    ) -> Result<(), KmsError> {
        let arn = kura_policy::kms::key_arn(&self.region, ACCOUNT, id);
        let material = DataKey::generate();
        let sealed = self.master.wrap(&material, &material_aad(&arn));
        let record = KeyRecord {
            id: id.to_owned(),
            arn,
            description: description.to_owned(),
            state: KeyState::Enabled,
            creation_date: (self.clock)(),
            deletion_date: None,
            manager,
            origin,
            master_key: sealed.key_id,
            material: STANDARD.encode(&sealed.blob),
        };
        self.store_key(&record).await?;
        self.write().keys.insert(id.to_owned(), Entry { record, material: Some(material) });
        Ok(())
    }

    async fn store_key(&self, record: &KeyRecord) -> Result<(), KmsError> {
        let bytes = serde_json::to_vec(record).map_err(|_| KmsError::Damaged(record.id.clone()))?;
        self.persist(KEY_RECORD, &record.id, Some(bytes)).await
    }

    async fn put_alias(&self, name: &str, alias: AliasRecord) -> Result<(), KmsError> {
        let bytes = serde_json::to_vec(&alias).map_err(|_| KmsError::Damaged(name.to_owned()))?;
        self.persist(ALIAS_RECORD, name, Some(bytes)).await?;
        self.write().aliases.insert(name.to_owned(), alias);
        Ok(())
    }

    async fn remove_alias(&self, name: &str) -> Result<(), KmsError> {
        self.persist(ALIAS_RECORD, name, None).await?;
        self.write().aliases.remove(name);
        Ok(())
    }

    /// Changes a key's record (its state or description) and stores it.
    async fn update(
        &self,
        key: &str,
        change: impl FnOnce(&mut KeyRecord) -> Result<(), KmsError>,
    ) -> Result<KmsKey, KmsError> {
        let _guard = self.lock().await?;
        self.purge_expired_locked().await?;
        let id = self.resolve_id(key)?;
        let mut record =
            self.read().keys.get(&id).map(|e| e.record.clone()).ok_or_else(|| KmsError::NotFound(key.to_owned()))?;
        change(&mut record)?;
        self.store_key(&record).await?;
        let mut keys = self.write();
        if let Some(entry) = keys.keys.get_mut(&id) {
            entry.record = record.clone();
        }
        Ok(view(&keys, &record))
    }

    /// Enables a disabled key (AWS's EnableKey; a key pending deletion must be cancelled first).
    pub async fn enable(&self, key: &str) -> Result<KmsKey, KmsError> {
        self.update(key, |r| match r.state {
            KeyState::PendingDeletion => Err(KmsError::InvalidState(format!("{} is pending deletion.", r.arn))),
            _ => {
                customer_managed(r, "enabled")?;
                r.state = KeyState::Enabled;
                Ok(())
            }
        })
        .await
    }

    /// Disables a key: every use fails until it is enabled again.
    pub async fn disable(&self, key: &str) -> Result<KmsKey, KmsError> {
        self.update(key, |r| match r.state {
            KeyState::PendingDeletion => Err(KmsError::InvalidState(format!("{} is pending deletion.", r.arn))),
            _ => {
                customer_managed(r, "disabled")?;
                r.state = KeyState::Disabled;
                Ok(())
            }
        })
        .await
    }

    /// Schedules a key's deletion in `days` (7 to 30, default 30); its objects become unreadable at
    /// once and for good once the date passes. Refused for a key the configuration file declares.
    pub async fn schedule_deletion(&self, key: &str, days: Option<u32>) -> Result<KmsKey, KmsError> {
        let days = days.unwrap_or(DEFAULT_PENDING_WINDOW_DAYS);
        if !PENDING_WINDOW_DAYS.contains(&days) {
            return Err(KmsError::Invalid(format!(
                "the pending window must be between {} and {} days, not {days}",
                PENDING_WINDOW_DAYS.start(),
                PENDING_WINDOW_DAYS.end()
            )));
        }
        let declared = self.read().declared.clone();
        let now = (self.clock)();
        self.update(key, |r| {
            customer_managed(r, "deleted")?;
            if declared.contains(&r.id) {
                return Err(KmsError::Unsupported(format!(
                    "key {} is declared in the configuration file's kms: section: remove it there first",
                    r.id
                )));
            }
            if r.state == KeyState::PendingDeletion {
                return Err(KmsError::InvalidState(format!("{} is pending deletion.", r.arn)));
            }
            r.state = KeyState::PendingDeletion;
            r.deletion_date = Some(now + u64::from(days) * 86_400);
            Ok(())
        })
        .await
    }

    /// Cancels a scheduled deletion; the key is then disabled (as AWS).
    pub async fn cancel_deletion(&self, key: &str) -> Result<KmsKey, KmsError> {
        self.update(key, |r| {
            if r.state != KeyState::PendingDeletion {
                return Err(KmsError::InvalidState(format!("{} is not pending deletion.", r.arn)));
            }
            r.state = KeyState::Disabled;
            r.deletion_date = None;
            Ok(())
        })
        .await
    }

    /// Points a new alias at a customer-managed key.
    pub async fn create_alias(&self, alias: &str, key: &str) -> Result<KmsKey, KmsError> {
        check_alias(alias).map_err(KmsError::Invalid)?;
        let _guard = self.lock().await?;
        let id = self.resolve_id(key)?;
        {
            let keys = self.read();
            if keys.aliases.contains_key(alias) {
                return Err(KmsError::AlreadyExists(format!("alias {alias}")));
            }
            if keys.aliases.len() >= MAX_KEYS {
                return Err(KmsError::Invalid(format!("kura holds at most {MAX_KEYS} aliases")));
            }
            if let Some(e) = keys.keys.get(&id) {
                customer_managed(&e.record, "given other aliases")?;
            }
        }
        self.put_alias(alias, AliasRecord { target: id.clone(), origin: KeyOrigin::Admin }).await?;
        let keys = self.read();
        keys.keys.get(&id).map(|e| view(&keys, &e.record)).ok_or_else(|| KmsError::NotFound(key.to_owned()))
    }

    /// Removes an alias (never the key). Aliases the configuration file declares, and `alias/aws/s3`,
    /// are refused.
    pub async fn delete_alias(&self, alias: &str) -> Result<(), KmsError> {
        let _guard = self.lock().await?;
        let origin = self.read().aliases.get(alias).map(|a| a.origin);
        match origin {
            None => Err(KmsError::NotFound(alias.to_owned())),
            Some(KeyOrigin::Builtin) => Err(KmsError::Unsupported(format!("{alias} is managed by kura"))),
            Some(KeyOrigin::Config) => Err(KmsError::Unsupported(format!(
                "{alias} is declared in the configuration file's kms: section: remove it there"
            ))),
            Some(KeyOrigin::Admin) => self.remove_alias(alias).await,
        }
    }

    /// Applies the configuration's `kms:` section: declared keys are made when missing (an id-less key
    /// is found by its first alias) and get the declared description; declared aliases point at their
    /// key; aliases an earlier file declared and this one does not are removed. Keys are never
    /// deleted here.
    pub async fn apply_config(&self, section: &KmsSection) -> Result<(), KmsError> {
        let _guard = self.lock().await?;
        let mut declared = BTreeSet::new();
        let mut wanted_aliases = BTreeMap::new();
        for key in &section.keys {
            let existing = match (&key.id, key.aliases.first()) {
                (Some(id), _) => self.read().keys.contains_key(id).then(|| id.clone()),
                (None, Some(alias)) => self.read().aliases.get(alias).map(|a| a.target.clone()),
                (None, None) => return Err(KmsError::Invalid("a declared key needs an id or an alias".into())),
            };
            let id = match existing {
                Some(id) => {
                    let record = self.read().keys.get(&id).map(|e| e.record.clone());
                    if let Some(mut record) = record {
                        customer_managed(&record, "declared in the configuration file")?;
                        if record.description != key.description || record.origin != KeyOrigin::Config {
                            record.description.clone_from(&key.description);
                            record.origin = KeyOrigin::Config;
                            self.store_key(&record).await?;
                            if let Some(e) = self.write().keys.get_mut(&id) {
                                e.record = record;
                            }
                        }
                    }
                    id
                }
                None => {
                    let id = key.id.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
                    check_key_id(&id).map_err(KmsError::Invalid)?;
                    self.insert_key(&id, &key.description, KeyManager::Customer, KeyOrigin::Config).await?;
                    tracing::info!(target: "kura::kms", key = %id, "made the KMS key the configuration declares");
                    id
                }
            };
            for alias in &key.aliases {
                wanted_aliases.insert(alias.clone(), id.clone());
            }
            declared.insert(id);
        }
        for (alias, target) in &wanted_aliases {
            let wanted = AliasRecord { target: target.clone(), origin: KeyOrigin::Config };
            let current = self.read().aliases.get(alias).cloned();
            if current.as_ref().is_some_and(|c| c.origin == KeyOrigin::Builtin) {
                return Err(KmsError::Unsupported(format!("{alias} is managed by kura")));
            }
            if current.as_ref() != Some(&wanted) {
                self.put_alias(alias, wanted).await?;
            }
        }
        let stale: Vec<String> = self
            .read()
            .aliases
            .iter()
            .filter(|(name, a)| a.origin == KeyOrigin::Config && !wanted_aliases.contains_key(*name))
            .map(|(name, _)| name.clone())
            .collect();
        for alias in stale {
            self.remove_alias(&alias).await?;
        }
        self.write().declared = declared;
        Ok(())
    }

    /// Makes the kura-managed `alias/aws/s3` key if it does not exist.
    async fn ensure_s3_default(&self) -> Result<(), KmsError> {
        let _guard = self.lock().await?;
        if self.read().aliases.contains_key(S3_DEFAULT_ALIAS) {
            return Ok(());
        }
        let id = uuid::Uuid::new_v4().to_string();
        self.insert_key(
            &id,
            "Default key that protects my S3 objects when no other key is defined",
            KeyManager::Kura,
            KeyOrigin::Builtin,
        )
        .await?;
        self.put_alias(S3_DEFAULT_ALIAS, AliasRecord { target: id.clone(), origin: KeyOrigin::Builtin }).await?;
        tracing::info!(target: "kura::kms", key = %id, "made the KMS key of {S3_DEFAULT_ALIAS}");
        Ok(())
    }

    async fn purge_expired(&self) -> Result<(), KmsError> {
        let _guard = self.lock().await?;
        self.purge_expired_locked().await
    }

    /// Deletes keys whose deletion date has passed, with the aliases naming them.
    async fn purge_expired_locked(&self) -> Result<(), KmsError> {
        let now = (self.clock)();
        let expired: Vec<String> =
            self.read().keys.values().filter(|e| expired(&e.record, now)).map(|e| e.record.id.clone()).collect();
        for id in expired {
            let aliases: Vec<String> =
                self.read().aliases.iter().filter(|(_, a)| a.target == id).map(|(n, _)| n.clone()).collect();
            for alias in aliases {
                self.remove_alias(&alias).await?;
            }
            self.persist(KEY_RECORD, &id, None).await?;
            self.write().keys.remove(&id);
            tracing::info!(target: "kura::kms", key = %id, "deleted a KMS key whose deletion date passed");
        }
        Ok(())
    }

    /// The id of the key `key` names (id, key ARN, alias, alias ARN); a key whose deletion date has
    /// passed is not found.
    fn resolve_id(&self, key: &str) -> Result<String, KmsError> {
        let keys = self.read();
        let not_found = || KmsError::NotFound(key.to_owned());
        let prefix = format!("arn:aws:kms:{}:{ACCOUNT}:", self.region);
        let id = if let Some(rest) = key.strip_prefix("arn:") {
            // A key ARN names the key it was made as (region included); an alias ARN this region's alias.
            match rest.rsplit_once(":key/") {
                Some((_, id)) => keys.keys.get(id).filter(|e| e.record.arn == key).map(|e| e.record.id.clone()),
                None => key
                    .strip_prefix(&prefix)
                    .filter(|a| a.starts_with("alias/"))
                    .and_then(|a| keys.aliases.get(a))
                    .map(|a| a.target.clone()),
            }
        } else if key.starts_with("alias/") {
            keys.aliases.get(key).map(|a| a.target.clone())
        } else {
            keys.keys.contains_key(key).then(|| key.to_owned())
        };
        let id = id.ok_or_else(not_found)?;
        match keys.keys.get(&id) {
            Some(e) if !expired(&e.record, (self.clock)()) => Ok(id),
            _ => Err(not_found()),
        }
    }

    /// The material of an enabled key, or why it cannot be used.
    fn usable(&self, key: &str) -> Result<(String, DataKey), KmsError> {
        let id = self.resolve_id(key)?;
        let keys = self.read();
        let entry = keys.keys.get(&id).ok_or_else(|| KmsError::NotFound(key.to_owned()))?;
        let arn = entry.record.arn.clone();
        match entry.record.state {
            KeyState::Enabled => {}
            KeyState::Disabled => return Err(KmsError::Disabled(arn)),
            KeyState::PendingDeletion => return Err(KmsError::PendingDeletion(arn)),
        }
        let material = match entry.material.clone() {
            Some(material) => material,
            // Unwrapping again gives the real reason for the log (a master key id no longer in the
            // file, or a damaged record), not a guess.
            None => unwrap_material(&self.master, &entry.record)?,
        };
        Ok((arn, material))
    }
}

/// Every key and alias record in the store.
struct Stored {
    keys: Vec<KeyRecord>,
    aliases: BTreeMap<String, AliasRecord>,
}

/// Reads every key and alias record; a record that does not decode fails the whole load.
async fn load(meta: &dyn MetaStore) -> Result<Stored, KmsError> {
    let mut keys = Vec::new();
    for (id, bytes) in meta.list_records(KEY_RECORD).await? {
        keys.push(serde_json::from_slice(&bytes).map_err(|_| KmsError::Damaged(id.clone()))?);
    }
    let mut aliases = BTreeMap::new();
    for (name, bytes) in meta.list_records(ALIAS_RECORD).await? {
        aliases.insert(name.clone(), serde_json::from_slice(&bytes).map_err(|_| KmsError::Damaged(name))?);
    }
    Ok(Stored { keys, aliases })
}

/// The key table of `stored`, with the configuration's declarations of `current`. A key whose record
/// and wrapping are those of `current` keeps its unwrapped material; others are unwrapped (a key that
/// does not unwrap stays listed, and every use fails with the reason).
fn assemble(master: &MasterKeyring, stored: Stored, current: &Keys) -> Keys {
    let mut keys = Keys { aliases: stored.aliases, declared: current.declared.clone(), ..Keys::default() };
    for record in stored.keys {
        let id = record.id.clone();
        let known = current.keys.get(&id).filter(|e| {
            e.record.material == record.material
                && e.record.master_key == record.master_key
                && e.record.arn == record.arn
        });
        let material = match known {
            Some(entry) => entry.material.clone(),
            None => match unwrap_material(master, &record) {
                Ok(m) => Some(m),
                Err(e) => {
                    tracing::error!(key = %record.arn, error = %e, "a KMS key cannot be used: its material does not unwrap");
                    None
                }
            },
        };
        keys.keys.insert(id, Entry { record, material });
    }
    keys
}

fn expired(record: &KeyRecord, now: u64) -> bool {
    record.state == KeyState::PendingDeletion && record.deletion_date.is_some_and(|d| d <= now)
}

fn customer_managed(record: &KeyRecord, what: &str) -> Result<(), KmsError> {
    match record.manager {
        KeyManager::Customer => Ok(()),
        KeyManager::Kura => Err(KmsError::Unsupported(format!(
            "{} is managed by kura ({S3_DEFAULT_ALIAS}) and cannot be {what}",
            record.arn
        ))),
    }
}

/// Wraps a key's material again under the first master key when another one wrapped it, and stores
/// the record: after a rotation (a new first line in the master key file) and one start, no KMS key
/// depends on the old master key any more, so the old line can go once no SSE-S3 object needs it.
async fn rewrap_under_primary(
    meta: &dyn MetaStore,
    master: &MasterKeyring,
    record: &mut KeyRecord,
    material: &DataKey,
) -> Result<(), KmsError> {
    if record.master_key == master.primary_id() {
        return Ok(());
    }
    let sealed = master.wrap(material, &material_aad(&record.arn));
    let old = std::mem::replace(&mut record.master_key, sealed.key_id);
    record.material = STANDARD.encode(&sealed.blob);
    let bytes = serde_json::to_vec(&*record).map_err(|_| KmsError::Damaged(record.id.clone()))?;
    meta.put_record(KEY_RECORD, &record.id, bytes).await?;
    tracing::info!(key = %record.arn, from = %old, to = %record.master_key, "KMS key material wrapped again under the first master key");
    Ok(())
}

fn unwrap_material(master: &MasterKeyring, record: &KeyRecord) -> Result<DataKey, KmsError> {
    let master_err = |cause| KmsError::Master { what: format!("the material of KMS key {}", record.arn), cause };
    let blob = STANDARD.decode(&record.material).map_err(|_| master_err(kura_crypt::CryptError::BadKey))?;
    let sealed = SealedKey { key_id: record.master_key.clone(), blob };
    master.unwrap(&sealed, &material_aad(&record.arn)).map_err(master_err)
}

fn view(keys: &Keys, record: &KeyRecord) -> KmsKey {
    KmsKey {
        id: record.id.clone(),
        arn: record.arn.clone(),
        aliases: keys.aliases.iter().filter(|(_, a)| a.target == record.id).map(|(n, _)| n.clone()).collect(),
        state: record.state,
        creation_date: record.creation_date,
        deletion_date: record.deletion_date,
        description: record.description.clone(),
        manager: record.manager,
        origin: record.origin,
    }
}

#[async_trait::async_trait]
impl KeyService for BuiltinKms {
    async fn describe(&self, key: &str) -> Result<KmsKey, KmsError> {
        let id = self.resolve_id(key)?;
        let keys = self.read();
        keys.keys.get(&id).map(|e| view(&keys, &e.record)).ok_or_else(|| KmsError::NotFound(key.to_owned()))
    }

    async fn generate_data_key(
        &self,
        key_arn: &str,
        context: &EncryptionContext,
    ) -> Result<(DataKey, StoredKey), KmsError> {
        let (arn, material) = self.usable(key_arn)?;
        let data_key = DataKey::generate();
        let blob = kura_crypt::wrap(&material, &data_key, &context_aad(context));
        Ok((data_key, StoredKey { key_id: arn, blob: STANDARD.encode(blob) }))
    }

    async fn decrypt(&self, stored: &StoredKey, context: &EncryptionContext) -> Result<DataKey, KmsError> {
        let (arn, material) = self.usable(&stored.key_id)?;
        let invalid = || KmsError::InvalidCiphertext(arn.clone());
        let blob = STANDARD.decode(&stored.blob).map_err(|_| invalid())?;
        kura_crypt::unwrap(&material, &blob, &context_aad(context)).map_err(|_| invalid())
    }
}

#[cfg(test)]
mod tests;
