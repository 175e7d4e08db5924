//! Bucket settings: the one module that reads and changes a bucket's policy, public access block,
//! anonymous mode, CORS, Object Lock configuration, default encryption and the other settings of the S3 API (tags, ownership
//! controls, accelerate), with AWS's rules. The S3 API,
//! the admin API and the configuration file's `buckets:` section all come through here, so a rule
//! (a public policy is refused while BlockPublicPolicy is on, a policy names only its own bucket) holds
//! whichever door a change comes through.

use crate::base::clock::now_ms;
use crate::config::Config;
use kura_policy::Policy;
use kura_policy::canned::{AnonymousMode, anonymous_mode_of, anonymous_policy};
use kura_store::{
    BucketEncryption, BucketInfo, BucketSettings, CorsConfig, MetaStore, ObjectLockSettings, PublicAccessBlock,
    StoreError,
};

/// Largest bucket policy AWS accepts (20 KiB).
pub const MAX_POLICY_BYTES: usize = 20 * 1024;

/// Why a bucket setting was not read or changed; mapped to S3 errors in
/// [`crate::errors::bucket_settings_error`].
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The policy is longer than [`MAX_POLICY_BYTES`].
    #[error("a bucket policy must be no more than 20 KiB")]
    PolicyTooLarge,
    /// The policy does not parse, or is not a valid bucket policy for this bucket.
    #[error("malformed bucket policy: {0}")]
    MalformedPolicy(String),
    /// The bucket's public access block (BlockPublicPolicy) refuses a public policy.
    #[error("the bucket's public access block refuses a public bucket policy")]
    PublicPolicyBlocked,
    /// The CORS configuration breaks one of AWS's rules.
    #[error(transparent)]
    Cors(#[from] crate::cors::CorsError),
    /// Object Lock configuration on a bucket without Object Lock whose versioning is not Enabled.
    #[error("the bucket has neither Object Lock nor versioning enabled")]
    ObjectLockNotEnabled,
    /// Suspending versioning on a bucket with Object Lock.
    #[error("versioning cannot be suspended on a bucket with Object Lock")]
    VersioningLocked,
    /// Other changes of the bucket's settings kept winning the race, [`MAX_ATTEMPTS`] times.
    #[error("the bucket's settings kept changing while this change was being applied")]
    Conflict,
    /// The store failed, or the bucket does not exist.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A bucket's settings; [`StoreError::NoSuchBucket`] if it does not exist.
pub async fn get(meta: &dyn MetaStore, bucket: &str) -> Result<BucketSettings, SettingsError> {
    let info = meta.get_bucket(bucket).await?;
    info.map(|i| i.settings).ok_or_else(|| StoreError::NoSuchBucket(bucket.to_owned()).into())
}

/// Parses and checks a bucket policy for `bucket` against its current settings; answers the text to
/// store.
pub fn accept_policy(bucket: &str, text: &str, settings: &BucketSettings) -> Result<String, SettingsError> {
    if text.len() > MAX_POLICY_BYTES {
        return Err(SettingsError::PolicyTooLarge);
    }
    let policy = Policy::parse(text).map_err(|e| SettingsError::MalformedPolicy(e.to_string()))?;
    policy.validate_bucket_policy(bucket).map_err(|e| SettingsError::MalformedPolicy(e.to_string()))?;
    if settings.public_access_block.is_some_and(|b| b.block_public_policy) && policy.is_public() {
        return Err(SettingsError::PublicPolicyBlocked);
    }
    Ok(text.to_owned())
}

/// Sets (`Some`, checked by [`accept_policy`] against the settings it replaces) or removes a bucket
/// policy.
pub async fn set_policy(meta: &dyn MetaStore, bucket: &str, policy: Option<&str>) -> Result<(), SettingsError> {
    update(meta, bucket, |settings| {
        settings.policy = match policy {
            Some(text) => Some(accept_policy(bucket, text, settings)?),
            None => None,
        };
        Ok(())
    })
    .await
}

/// Sets or removes a bucket's public access block.
pub async fn set_public_access_block(
    meta: &dyn MetaStore,
    bucket: &str,
    block: Option<PublicAccessBlock>,
) -> Result<(), SettingsError> {
    update(meta, bucket, |settings| {
        settings.public_access_block = block;
        Ok(())
    })
    .await
}

/// Turns versioning on (Enabled) or off (Suspended); refused on a bucket with Object Lock, whose
/// locked versions must stay versions.
pub async fn set_versioning(
    meta: &dyn MetaStore,
    bucket: &str,
    state: kura_store::Versioning,
) -> Result<(), SettingsError> {
    update(meta, bucket, |settings| {
        if settings.object_lock.is_some() && state != kura_store::Versioning::Enabled {
            return Err(SettingsError::VersioningLocked);
        }
        settings.versioning = Some(state);
        Ok(())
    })
    .await
}

/// How many times a change is decided again on fresh settings when another change of the same bucket
/// was stored between its read and its write, before it gives up with [`SettingsError::Conflict`].
pub const MAX_ATTEMPTS: usize = 16;

/// Applies `change` (which may refuse, seeing the other settings) to a bucket's settings and stores
/// them when it changed anything, only if they are still what `change` saw: otherwise `change` is
/// decided again on the new settings. So two changes of different settings never lose one another,
/// and a rule between settings (a public policy while BlockPublicPolicy is on; suspending versioning
/// with Object Lock) holds whichever change lands second. [`StoreError::NoSuchBucket`] if the bucket
/// does not exist.
pub async fn update(
    meta: &dyn MetaStore,
    bucket: &str,
    change: impl Fn(&mut BucketSettings) -> Result<(), SettingsError>,
) -> Result<(), SettingsError> {
    for _ in 0..MAX_ATTEMPTS {
        let current = get(meta, bucket).await?;
        let mut changed = current.clone();
        change(&mut changed)?;
        if changed == current {
            return Ok(());
        }
        match meta.set_bucket_settings(bucket, &current, changed).await {
            Err(StoreError::ConditionFailed { .. }) => continue,
            written => return Ok(written?),
        }
    }
    Err(SettingsError::Conflict)
}

/// Sets (`Some`, checked by [`crate::cors::validate`]) or removes a bucket's CORS configuration.
pub async fn set_cors(meta: &dyn MetaStore, bucket: &str, cors: Option<CorsConfig>) -> Result<(), SettingsError> {
    if let Some(config) = &cors {
        crate::cors::validate(config)?;
    }
    update(meta, bucket, |settings| {
        settings.cors = cors.clone();
        Ok(())
    })
    .await
}

/// Sets (`Some`, already checked by the lifecycle layer) or removes a bucket's lifecycle configuration.
pub async fn set_lifecycle(
    meta: &dyn MetaStore,
    bucket: &str,
    lifecycle: Option<kura_store::lifecycle::LifecycleConfig>,
) -> Result<(), SettingsError> {
    update(meta, bucket, |settings| {
        settings.lifecycle = lifecycle.clone();
        Ok(())
    })
    .await
}

/// Sets (`Some`, already checked by the S3 layer's `sse` module) or removes a bucket's default encryption.
pub async fn set_encryption(
    meta: &dyn MetaStore,
    bucket: &str,
    encryption: Option<BucketEncryption>,
) -> Result<(), SettingsError> {
    update(meta, bucket, |settings| {
        settings.encryption = encryption.clone();
        Ok(())
    })
    .await
}

/// Replaces the Object Lock configuration (the default retention) of a bucket that has Object Lock,
/// or turns Object Lock on for a bucket whose versioning is Enabled (as S3 allows since 2023); Object
/// Lock itself is never turned off.
pub async fn set_object_lock(
    meta: &dyn MetaStore,
    bucket: &str,
    lock: ObjectLockSettings,
) -> Result<(), SettingsError> {
    update(meta, bucket, |settings| {
        if settings.object_lock.is_none() && settings.versioning != Some(kura_store::Versioning::Enabled) {
            return Err(SettingsError::ObjectLockNotEnabled);
        }
        settings.object_lock = Some(lock);
        Ok(())
    })
    .await
}

/// Whether a bucket's policy is public (AWS's meaning); `None` when it has no policy.
pub async fn policy_is_public(meta: &dyn MetaStore, bucket: &str) -> Result<Option<bool>, SettingsError> {
    let policy = get(meta, bucket).await?.policy;
    Ok(policy.map(|text| Policy::parse(&text).is_ok_and(|p| p.is_public())))
}

/// The anonymous mode a bucket's policy amounts to: `None` when the policy is not one of the canned
/// ones (a hand-written policy).
pub async fn anonymous_mode(meta: &dyn MetaStore, bucket: &str) -> Result<Option<AnonymousMode>, SettingsError> {
    Ok(match &get(meta, bucket).await?.policy {
        None => Some(AnonymousMode::None),
        Some(text) => Policy::parse(text).ok().and_then(|p| anonymous_mode_of(bucket, &p)),
    })
}

/// Replaces a bucket's policy with the canned policy of an anonymous mode (none removes it).
pub async fn set_anonymous_mode(meta: &dyn MetaStore, bucket: &str, mode: AnonymousMode) -> Result<(), SettingsError> {
    let generated = anonymous_policy(bucket, mode).map(|p| p.to_json());
    set_policy(meta, bucket, generated.as_deref()).await
}

/// Creates the buckets the configuration declares that are missing, and applies their declared
/// settings (at start and on every reload). The configuration was validated whole, so its policies are
/// stored as they are.
pub async fn apply_config(meta: &dyn MetaStore, config: &Config, region: &str) -> Result<(), StoreError> {
    for bucket in &config.buckets {
        let info = match meta.get_bucket(&bucket.name).await? {
            Some(info) => info,
            None => {
                let info = BucketInfo {
                    name: bucket.name.clone(),
                    created_ms: now_ms(),
                    region: region.to_owned(),
                    settings: BucketSettings::default(),
                };
                match meta.create_bucket(info.clone()).await {
                    Ok(()) | Err(StoreError::BucketAlreadyExists(_)) => {}
                    Err(e) => return Err(e),
                }
                tracing::info!(bucket = %bucket.name, "created bucket from the configuration");
                info
            }
        };
        let declared = |settings: &mut BucketSettings| {
            if let Some(policy) = config.bucket_policies.get(&bucket.name) {
                settings.policy = policy.clone();
            }
            if let Some(block) = bucket.public_access_block {
                settings.public_access_block = block.then_some(PublicAccessBlock::ALL);
            }
            if let Some(encryption) = &bucket.encryption {
                settings.encryption = Some(BucketEncryption {
                    algorithm: encryption.algorithm.clone(),
                    kms_key_id: encryption.kms_key_id.clone(),
                    bucket_key_enabled: encryption.bucket_key,
                });
            }
            Ok(())
        };
        match update(meta, &info.name, declared).await {
            Ok(()) => {}
            Err(SettingsError::Store(e)) => return Err(e),
            Err(e) => return Err(StoreError::Backend(format!("bucket {}: {e}", info.name))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kura_store::memory::MemoryMetaStore;

    const PUBLIC_READ: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#;

    async fn store() -> MemoryMetaStore {
        let meta = MemoryMetaStore::default();
        let info =
            BucketInfo { name: "b".into(), created_ms: 0, region: "us-east-1".into(), settings: Default::default() };
        meta.create_bucket(info).await.expect("bucket");
        meta
    }

    /// Stores `change` as another writer would, between an update's read and its write.
    fn meanwhile(meta: &MemoryMetaStore, change: impl Fn(&mut BucketSettings)) {
        futures::executor::block_on(async {
            let current = get(meta, "b").await.expect("settings");
            let mut changed = current.clone();
            change(&mut changed);
            meta.set_bucket_settings("b", &current, changed).await.expect("the other writer");
        });
    }

    #[tokio::test]
    async fn a_public_policy_decided_before_a_block_landed_is_decided_again_and_refused() {
        let meta = store().await;
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let result = update(&meta, "b", |settings| {
            if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                meanwhile(&meta, |s| s.public_access_block = Some(PublicAccessBlock::ALL));
            }
            settings.policy = Some(accept_policy("b", PUBLIC_READ, settings)?);
            Ok(())
        })
        .await;
        assert!(matches!(result, Err(SettingsError::PublicPolicyBlocked)), "{result:?}");
        let stored = get(&meta, "b").await.expect("settings");
        assert_eq!((stored.policy, stored.public_access_block), (None, Some(PublicAccessBlock::ALL)));
    }

    #[tokio::test]
    async fn changes_of_different_settings_do_not_lose_one_another() {
        let meta = store().await;
        let calls = std::sync::atomic::AtomicUsize::new(0);
        update(&meta, "b", |settings| {
            if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                meanwhile(&meta, |s| s.tags = kura_store::Tags::from([("team".to_owned(), "a".to_owned())]));
            }
            settings.accelerate_suspended = true;
            Ok(())
        })
        .await
        .expect("update");
        let stored = get(&meta, "b").await.expect("settings");
        assert!(stored.accelerate_suspended);
        assert_eq!(stored.tags.get("team").map(String::as_str), Some("a"), "the other change survives");
    }

    #[tokio::test]
    async fn versioning_is_not_suspended_on_a_bucket_with_object_lock() {
        let meta = store().await;
        set_versioning(&meta, "b", kura_store::Versioning::Enabled).await.expect("enable");
        set_object_lock(&meta, "b", ObjectLockSettings::default()).await.expect("lock");
        let refused = set_versioning(&meta, "b", kura_store::Versioning::Suspended).await;
        assert!(matches!(refused, Err(SettingsError::VersioningLocked)), "{refused:?}");
        assert_eq!(get(&meta, "b").await.expect("settings").versioning, Some(kura_store::Versioning::Enabled));
    }

    #[tokio::test]
    async fn a_change_that_keeps_losing_the_race_gives_up_with_a_conflict() {
        let meta = store().await;
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let result = update(&meta, "b", |settings| {
            let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            meanwhile(&meta, |s| s.tags = kura_store::Tags::from([("n".to_owned(), n.to_string())]));
            settings.accelerate_suspended = true;
            Ok(())
        })
        .await;
        assert!(matches!(result, Err(SettingsError::Conflict)), "{result:?}");
        assert_eq!(calls.into_inner(), MAX_ATTEMPTS);
        assert!(!get(&meta, "b").await.expect("settings").accelerate_suspended, "nothing of it was written");
    }
}
