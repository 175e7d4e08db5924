//! The built-in key service against the in-memory and the redb metadata stores.

use super::*;
use crate::config::Config;
use kura_store::memory::MemoryMetaStore;
use kura_store::redb_meta::RedbMetaStore;
use std::sync::atomic::{AtomicU64, Ordering};

const REGION: &str = "us-east-1";

fn ring() -> Arc<MasterKeyring> {
    Arc::new(MasterKeyring::parse(&MasterKeyring::new_key_line()).expect("ring"))
}

async fn service() -> BuiltinKms {
    BuiltinKms::open(Arc::new(MemoryMetaStore::new()), ring(), REGION).await.expect("open")
}

fn context(pairs: &[(&str, &str)]) -> EncryptionContext {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn s3_context(object: &str) -> EncryptionContext {
    context(&[("aws:s3:arn", object)])
}

#[tokio::test]
async fn a_data_key_round_trips_under_its_context_only() {
    let kms = service().await;
    let key = kms.create(None, "test", &["alias/app".to_owned()], KeyOrigin::Admin).await.expect("create");
    let cx = s3_context("arn:aws:s3:::b/k");
    let (plain, stored) = kms.generate_data_key(&key.arn, &cx).await.expect("generate");
    assert_eq!(stored.key_id, key.arn, "the stored form names the key ARN");
    assert_eq!(kms.decrypt(&stored, &cx).await.expect("decrypt"), plain);
    // Another object's context, an added pair, no context: AWS's InvalidCiphertextException.
    for other in
        [s3_context("arn:aws:s3:::b/other"), context(&[("aws:s3:arn", "arn:aws:s3:::b/k"), ("x", "y")]), context(&[])]
    {
        let err = kms.decrypt(&stored, &other).await.expect_err("other context");
        assert!(matches!(err, KmsError::InvalidCiphertext(ref arn) if *arn == key.arn), "{err}");
    }
    // An edited blob fails the same way, never yields another key.
    let mut edited = stored.clone();
    edited.blob = STANDARD.encode(vec![7u8; 60]);
    assert!(matches!(kms.decrypt(&edited, &cx).await, Err(KmsError::InvalidCiphertext(_))));
    edited.blob = "not base64!".into();
    assert!(matches!(kms.decrypt(&edited, &cx).await, Err(KmsError::InvalidCiphertext(_))));
    // A data key made under one key does not open under another.
    let other = kms.create(None, "", &[], KeyOrigin::Admin).await.expect("create");
    let moved = StoredKey { key_id: other.arn.clone(), blob: stored.blob.clone() };
    assert!(matches!(kms.decrypt(&moved, &cx).await, Err(KmsError::InvalidCiphertext(_))));
    // Each data key is fresh.
    let (again, _) = kms.generate_data_key(&key.arn, &cx).await.expect("generate");
    assert_ne!(again, plain);
}

#[tokio::test]
async fn keys_are_named_by_id_arn_alias_and_alias_arn() {
    let kms = service().await;
    let key = kms.create(Some("k1"), "", &["alias/app".to_owned()], KeyOrigin::Admin).await.expect("create");
    assert_eq!(key.arn, "arn:aws:kms:us-east-1:000000000000:key/k1");
    for name in ["k1", key.arn.as_str(), "alias/app", "arn:aws:kms:us-east-1:000000000000:alias/app"] {
        assert_eq!(kms.describe(name).await.expect(name).id, "k1", "{name}");
        let (_, stored) = kms.generate_data_key(name, &EncryptionContext::new()).await.expect(name);
        assert_eq!(stored.key_id, key.arn);
    }
    assert_eq!(kms.describe("k1").await.expect("k1").aliases, ["alias/app"]);
    for unknown in [
        "k2",
        "alias/nope",
        "arn:aws:kms:eu-west-1:000000000000:key/k1",
        "arn:aws:kms:us-east-1:111111111111:key/k1",
        "arn:aws:kms:us-east-1:000000000000:alias/nope",
        "arn:aws:kms:us-east-1:000000000000:k1",
        "",
    ] {
        let err = kms.describe(unknown).await.expect_err(unknown);
        assert!(matches!(err, KmsError::NotFound(ref n) if n == unknown), "{unknown}: {err}");
        assert!(matches!(kms.generate_data_key(unknown, &EncryptionContext::new()).await, Err(KmsError::NotFound(_))));
    }
    let stored = StoredKey { key_id: "arn:aws:kms:us-east-1:000000000000:key/gone".into(), blob: String::new() };
    assert!(matches!(kms.decrypt(&stored, &EncryptionContext::new()).await, Err(KmsError::NotFound(_))));
}

#[tokio::test]
async fn the_s3_default_key_exists_and_is_kura_managed() {
    let kms = service().await;
    let key = kms.describe(S3_DEFAULT_ALIAS).await.expect("alias/aws/s3");
    assert_eq!((key.manager, key.origin, key.state), (KeyManager::Kura, KeyOrigin::Builtin, KeyState::Enabled));
    assert!(uuid::Uuid::parse_str(&key.id).is_ok(), "a generated id is a UUID, as AWS's: {}", key.id);
    for err in [
        kms.disable(&key.id).await.expect_err("disable"),
        kms.schedule_deletion(&key.id, None).await.expect_err("delete"),
        kms.create_alias("alias/mine", &key.id).await.expect_err("alias"),
        kms.delete_alias(S3_DEFAULT_ALIAS).await.map(|()| key.clone()).expect_err("delete alias"),
    ] {
        assert!(matches!(err, KmsError::Unsupported(_)), "{err}");
    }
    let err = kms.create(None, "", &[S3_DEFAULT_ALIAS.to_owned()], KeyOrigin::Admin).await.expect_err("reserved");
    assert!(matches!(err, KmsError::AlreadyExists(_) | KmsError::Invalid(_)), "{err}");
    assert_eq!(kms.describe(S3_DEFAULT_ALIAS).await.expect("still").state, KeyState::Enabled);
}

#[tokio::test]
async fn a_disabled_key_neither_encrypts_nor_decrypts_until_enabled() {
    let kms = service().await;
    let key = kms.create(None, "", &[], KeyOrigin::Admin).await.expect("create");
    let cx = s3_context("arn:aws:s3:::b/k");
    let (plain, stored) = kms.generate_data_key(&key.id, &cx).await.expect("generate");
    assert_eq!(kms.disable(&key.id).await.expect("disable").state, KeyState::Disabled);
    let err = kms.generate_data_key(&key.id, &cx).await.expect_err("disabled");
    assert!(matches!(err, KmsError::Disabled(ref arn) if *arn == key.arn), "{err}");
    assert!(matches!(kms.decrypt(&stored, &cx).await, Err(KmsError::Disabled(_))));
    assert_eq!(kms.enable(&key.id).await.expect("enable").state, KeyState::Enabled);
    assert_eq!(kms.decrypt(&stored, &cx).await.expect("readable again"), plain);
}

static NOW: AtomicU64 = AtomicU64::new(1_000_000);

fn test_clock() -> u64 {
    NOW.load(Ordering::SeqCst)
}

#[tokio::test]
async fn a_key_pending_deletion_is_unusable_and_gone_after_its_date() {
    let meta: Arc<dyn MetaStore> = Arc::new(MemoryMetaStore::new());
    let master = ring();
    let kms = BuiltinKms::open_with_clock(meta.clone(), master.clone(), REGION, test_clock).await.expect("open");
    let key = kms.create(None, "", &["alias/doomed".to_owned()], KeyOrigin::Admin).await.expect("create");
    let cx = s3_context("arn:aws:s3:::b/k");
    let (plain, stored) = kms.generate_data_key(&key.arn, &cx).await.expect("generate");
    for days in [Some(6), Some(31), Some(0)] {
        assert!(matches!(kms.schedule_deletion(&key.id, days).await, Err(KmsError::Invalid(_))), "{days:?}");
    }
    let pending = kms.schedule_deletion(&key.id, Some(7)).await.expect("schedule");
    assert_eq!(pending.state, KeyState::PendingDeletion);
    assert_eq!(pending.deletion_date, Some(test_clock() + 7 * 86_400));
    assert!(matches!(kms.decrypt(&stored, &cx).await, Err(KmsError::PendingDeletion(_))));
    assert!(matches!(kms.generate_data_key(&key.arn, &cx).await, Err(KmsError::PendingDeletion(_))));
    assert!(matches!(kms.enable(&key.id).await, Err(KmsError::InvalidState(_))));
    assert!(matches!(kms.schedule_deletion(&key.id, None).await, Err(KmsError::InvalidState(_))));
    // Cancelling leaves the key disabled (as AWS); enabling makes it usable again.
    assert_eq!(kms.cancel_deletion(&key.id).await.expect("cancel").state, KeyState::Disabled);
    assert!(matches!(kms.cancel_deletion(&key.id).await, Err(KmsError::InvalidState(_))));
    kms.enable(&key.id).await.expect("enable");
    assert_eq!(kms.decrypt(&stored, &cx).await.expect("back"), plain);
    // Past the date the key, its material and its aliases are gone for good, also after a restart.
    kms.schedule_deletion(&key.id, Some(7)).await.expect("schedule");
    NOW.fetch_add(7 * 86_400, Ordering::SeqCst);
    assert!(matches!(kms.decrypt(&stored, &cx).await, Err(KmsError::NotFound(_))));
    assert!(kms.list().await.expect("list").iter().all(|k| k.id != key.id));
    assert_eq!(meta.get_record(KEY_RECORD, &key.id).await.expect("read"), None);
    assert_eq!(meta.get_record(ALIAS_RECORD, "alias/doomed").await.expect("read"), None);
    let reopened = BuiltinKms::open_with_clock(meta, master, REGION, test_clock).await.expect("reopen");
    assert!(matches!(reopened.describe("alias/doomed").await, Err(KmsError::NotFound(_))));
}

#[tokio::test]
async fn keys_survive_a_restart_through_the_redb_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("meta.redb");
    let master = ring();
    let wrapped_by = master.primary_id().to_owned();
    let cx = s3_context("arn:aws:s3:::b/k");
    let (plain, stored, default_id) = {
        let meta: Arc<dyn MetaStore> = Arc::new(RedbMetaStore::open(&path).expect("redb"));
        let kms = BuiltinKms::open(meta, master.clone(), REGION).await.expect("open");
        let key = kms.create(Some("k1"), "kept", &["alias/app".to_owned()], KeyOrigin::Admin).await.expect("create");
        kms.disable("alias/app").await.expect("disable");
        kms.enable("alias/app").await.expect("enable");
        let (plain, stored) = kms.generate_data_key(&key.arn, &cx).await.expect("generate");
        (plain, stored, kms.describe(S3_DEFAULT_ALIAS).await.expect("default").id)
    };
    let meta: Arc<dyn MetaStore> = Arc::new(RedbMetaStore::open(&path).expect("reopen"));
    let kms = BuiltinKms::open(meta.clone(), master, REGION).await.expect("open again");
    assert_eq!(kms.decrypt(&stored, &cx).await.expect("decrypt after restart"), plain);
    let key = kms.describe("alias/app").await.expect("alias kept");
    assert_eq!((key.id.as_str(), key.description.as_str(), key.origin), ("k1", "kept", KeyOrigin::Admin));
    assert_eq!(kms.describe(S3_DEFAULT_ALIAS).await.expect("default").id, default_id, "made once");
    // The material is stored wrapped: the record holds neither the data key nor the material.
    let record = meta.get_record(KEY_RECORD, "k1").await.expect("read").expect("record");
    let text = String::from_utf8(record).expect("JSON");
    assert!(!text.contains(&STANDARD.encode(plain.expose())), "{text}");
    // Other master keys cannot use the key; the service still starts and says why on use.
    let other_id = if wrapped_by == "AAAA" { "BBBB" } else { "AAAA" };
    let others = MasterKeyring::parse(&format!("{other_id} {}", STANDARD.encode([7u8; 32]))).expect("ring");
    let stranger = BuiltinKms::open(meta, Arc::new(others), REGION).await.expect("opens with other master keys");
    let err = stranger.decrypt(&stored, &cx).await.expect_err("material does not unwrap");
    // The reason names the master key that wrapped the material and is not in the file.
    assert!(
        matches!(&err, KmsError::Master { cause: kura_crypt::CryptError::UnknownKey(id), .. } if *id == wrapped_by),
        "{err}"
    );
}

#[tokio::test]
async fn the_config_section_makes_keys_and_aliases_and_a_reload_deletes_no_key() {
    let kms = service().await;
    let first = Config::parse(
        "kms:\n  keys:\n    - id: gitlab\n      description: GitLab\n      aliases: [alias/gitlab, alias/ci]\n    \
         - aliases: [alias/generated]\n",
    )
    .expect("config");
    kms.apply_config(&first.kms).await.expect("apply");
    let gitlab = kms.describe("alias/gitlab").await.expect("made");
    assert_eq!(
        (gitlab.id.as_str(), gitlab.description.as_str(), gitlab.origin),
        ("gitlab", "GitLab", KeyOrigin::Config)
    );
    assert_eq!(gitlab.aliases, ["alias/ci", "alias/gitlab"]);
    let generated = kms.describe("alias/generated").await.expect("made").id;
    // Applying the same file again changes nothing: the id-less key is found by its alias.
    kms.apply_config(&first.kms).await.expect("again");
    assert_eq!(kms.describe("alias/generated").await.expect("same").id, generated);
    assert_eq!(kms.list().await.expect("list").len(), 3, "gitlab, the generated key and alias/aws/s3");
    // A declared key cannot be scheduled for deletion, nor its aliases removed by the admin API.
    assert!(matches!(kms.schedule_deletion("gitlab", None).await, Err(KmsError::Unsupported(_))));
    assert!(matches!(kms.delete_alias("alias/ci").await, Err(KmsError::Unsupported(_))));
    let cx = s3_context("arn:aws:s3:::b/k");
    let (plain, stored) = kms.generate_data_key("alias/gitlab", &cx).await.expect("generate");
    // The next file drops the generated key and an alias: keys stay (and decrypt), aliases follow.
    let second =
        Config::parse("kms:\n  keys:\n    - id: gitlab\n      description: renamed\n      aliases: [alias/gitlab]\n")
            .expect("config");
    kms.apply_config(&second.kms).await.expect("apply");
    assert!(matches!(kms.describe("alias/ci").await, Err(KmsError::NotFound(_))));
    assert!(matches!(kms.describe("alias/generated").await, Err(KmsError::NotFound(_))));
    assert_eq!(kms.describe(&generated).await.expect("key kept").origin, KeyOrigin::Config);
    assert_eq!(kms.describe("gitlab").await.expect("kept").description, "renamed");
    assert_eq!(kms.decrypt(&stored, &cx).await.expect("still readable"), plain);
    // No longer declared: now it may be scheduled for deletion.
    kms.schedule_deletion(&generated, None).await.expect("undeclared keys may go");
    // A file may not declare the kura-managed key.
    let managed = kms.describe(S3_DEFAULT_ALIAS).await.expect("default").id;
    let third = Config::parse(&format!("kms:\n  keys:\n    - id: {managed}\n")).expect("config");
    assert!(matches!(kms.apply_config(&third.kms).await, Err(KmsError::Unsupported(_))));
}

#[tokio::test]
async fn admin_changes_are_checked() {
    let kms = service().await;
    kms.create(Some("k1"), "", &["alias/a".to_owned()], KeyOrigin::Admin).await.expect("create");
    assert!(matches!(kms.create(Some("k1"), "", &[], KeyOrigin::Admin).await, Err(KmsError::AlreadyExists(_))));
    assert!(matches!(kms.create(Some("a/b"), "", &[], KeyOrigin::Admin).await, Err(KmsError::Invalid(_))));
    assert!(matches!(
        kms.create(None, "", &["alias/a".to_owned()], KeyOrigin::Admin).await,
        Err(KmsError::AlreadyExists(_))
    ));
    assert!(matches!(kms.create(None, "", &["nope".to_owned()], KeyOrigin::Admin).await, Err(KmsError::Invalid(_))));
    assert!(matches!(kms.create(None, "\u{7}", &[], KeyOrigin::Admin).await, Err(KmsError::Invalid(_))));
    // Nothing was made by the refused calls.
    assert_eq!(kms.list().await.expect("list").len(), 2);
    kms.create_alias("alias/b", "alias/a").await.expect("second alias");
    assert!(matches!(kms.create_alias("alias/b", "k1").await, Err(KmsError::AlreadyExists(_))));
    assert!(matches!(kms.create_alias("alias/c", "nope").await, Err(KmsError::NotFound(_))));
    assert!(matches!(kms.create_alias("alias/aws/x", "k1").await, Err(KmsError::Invalid(_))));
    assert_eq!(kms.describe("k1").await.expect("k1").aliases, ["alias/a", "alias/b"]);
    kms.delete_alias("alias/a").await.expect("delete alias");
    assert!(matches!(kms.delete_alias("alias/a").await, Err(KmsError::NotFound(_))));
    assert_eq!(kms.describe("alias/b").await.expect("the key stays").id, "k1");
}

/// Two processes on one store (replicas): a key made, disabled or given an alias through one is
/// unknown to the other until it refreshes, then in force there; a refresh with nothing new reloads
/// nothing, and the configuration's declarations stay the refreshing process's own.
#[tokio::test]
async fn a_refresh_picks_up_another_process_changes_and_keeps_its_declarations() {
    let meta: Arc<dyn MetaStore> = Arc::new(MemoryMetaStore::new());
    let master = ring();
    let a = BuiltinKms::open(meta.clone(), master.clone(), REGION).await.expect("open a");
    let b = BuiltinKms::open(meta.clone(), master.clone(), REGION).await.expect("open b");
    assert!(!b.refresh().await.expect("refresh"), "nothing moved since b loaded");
    let config = Config::parse("kms:\n  keys:\n    - id: declared\n").expect("config");
    b.apply_config(&config.kms).await.expect("b declares a key");

    let key = a.create(Some("shared"), "", &["alias/shared".to_owned()], KeyOrigin::Admin).await.expect("create");
    assert!(matches!(b.describe("alias/shared").await, Err(KmsError::NotFound(_))), "not yet reloaded");
    assert!(b.refresh().await.expect("refresh"));
    let cx = s3_context("arn:aws:s3:::b/k");
    let (plain, stored) = b.generate_data_key("alias/shared", &cx).await.expect("b uses a's key");
    assert_eq!(a.decrypt(&stored, &cx).await.expect("a decrypts"), plain);

    a.disable("shared").await.expect("disable on a");
    assert!(b.refresh().await.expect("refresh"));
    let err = b.decrypt(&stored, &cx).await.expect_err("disabled on a");
    assert!(matches!(err, KmsError::Disabled(ref arn) if *arn == key.arn), "{err}");
    // b's declaration survived the reload: scheduling the declared key's deletion is still refused.
    let err = b.schedule_deletion("declared", None).await.expect_err("declared");
    assert!(matches!(err, KmsError::Unsupported(_)), "{err}");
    // A change through b first catches up with a's: b does not act on its stale copy.
    a.enable("shared").await.expect("enable on a");
    assert_eq!(b.disable("alias/shared").await.expect("disable on b").state, KeyState::Disabled);
    assert!(a.refresh().await.expect("refresh"));
    assert!(matches!(a.decrypt(&stored, &cx).await, Err(KmsError::Disabled(_))));
}
