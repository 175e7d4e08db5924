//! kura-store's conformance suite, every function of it, against [`PgMetaStore`] on a real PostgreSQL
//! (see `pg/mod.rs`), plus what only this back end has: its schema migrations, and two stores (two
//! replicas) on one database.

mod pg;

use kura_meta_pg::{PgMetaStore, SCHEMA_VERSION};
use kura_store::conformance::{self, bucket, object, upload};
use kura_store::{BlobId, MetaStore, StoreError, WriteCondition};
use proptest::prelude::*;
use std::sync::Arc;

macro_rules! suite {
    ($($name:ident),+) => {$(
        #[tokio::test]
        async fn $name() {
            let store = pg::fresh_store().await;
            conformance::$name(&store).await;
        }
    )+};
}

suite!(
    buckets,
    objects,
    inline_bodies,
    encryption,
    listing,
    uploads,
    upload_listing,
    referenced,
    settings_and_records,
    object_locks,
    snapshot,
    versioning,
    version_dump,
    conditional_deletes,
    reclaim_queue
);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conditional_writes() {
    conformance::conditional_writes(Arc::new(pg::fresh_store().await)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_puts() {
    conformance::concurrent_puts(Arc::new(pg::fresh_store().await)).await;
}

/// Replicas draining one queue at once: each id is taken by one of them (two stores on one database,
/// four takers each).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reclaim_takers() {
    let server = pg::server();
    let db = server.create_database();
    let a: Arc<dyn MetaStore> = Arc::new(PgMetaStore::open(server.config(&db), 4).await.expect("open a"));
    let b: Arc<dyn MetaStore> = Arc::new(PgMetaStore::open(server.config(&db), 4).await.expect("open b"));
    conformance::concurrent_reclaim_takers(&[a, b]).await;
}

#[tokio::test]
async fn a_reopened_store_sees_what_was_committed_and_migrates_nothing() {
    let server = pg::server();
    let db = server.create_database();
    {
        let store = PgMetaStore::open(server.config(&db), 2).await.expect("open");
        store.create_bucket(bucket("b")).await.expect("create");
        store.put_object("b", object("k", BlobId(1))).await.expect("put");
    }
    let versions = "SELECT count(*) * 1000 + max(version) FROM schema_version";
    assert_eq!(server.query_i64(&db, versions), 1000 + SCHEMA_VERSION, "one row: the current version");
    // A table a second migration run would fail on (CREATE TABLE without IF NOT EXISTS) is there.
    let tables = "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'";
    let before = server.query_i64(&db, tables);
    let store = PgMetaStore::open(server.config(&db), 2).await.expect("reopen");
    assert_eq!(store.get_object("b", "k").await.expect("get"), Some(object("k", BlobId(1))));
    assert_eq!(server.query_i64(&db, versions), 1000 + SCHEMA_VERSION);
    assert_eq!(server.query_i64(&db, tables), before);
}

/// A database at schema version 1 (before the reclaim queue) gets migration 2 when a newer kura opens
/// it, keeping its data: the queue works and the version recorded is the current one.
#[tokio::test]
async fn a_version_1_database_is_migrated() {
    let server = pg::server();
    let db = server.create_database();
    {
        let store = PgMetaStore::open(server.config(&db), 1).await.expect("open");
        store.create_bucket(bucket("b")).await.expect("create");
    }
    // Back to what a version-1 kura left: no queue table, no put function, version 1.
    server.execute(&db, "DROP TABLE reclaims; DROP FUNCTION kura_put_current; UPDATE schema_version SET version = 1");
    let store = PgMetaStore::open(server.config(&db), 1).await.expect("migrate");
    assert_eq!(server.query_i64(&db, "SELECT max(version) FROM schema_version"), SCHEMA_VERSION);
    assert_eq!(store.get_bucket("b").await.expect("get"), Some(bucket("b")));
    store.enqueue_reclaims(&[BlobId(9)], 5).await.expect("enqueue");
    assert_eq!(store.take_due_reclaims(5, 10).await.expect("take"), [BlobId(9)]);
    store.put_object("b", object("k", BlobId(1))).await.expect("a put, through the new function");
    assert_eq!(store.put_object("b", object("k", BlobId(2))).await.expect("replace"), [BlobId(1)]);
    assert!(store.shares_blobs(), "replicas share the database and so the blob directory");
}

/// How many times `kura_put_current` was called in a database, as PostgreSQL's statistics count them
/// (with `track_functions = 'pl'`; a connection's calls are counted once it ends).
const SWAP_CALLS: &str =
    "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_user_functions WHERE funcname = 'kura_put_current'";

/// Waits (at most 30 s, else fails naming `what`) until `done`.
async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(start.elapsed() < std::time::Duration::from_secs(30), "waited 30 s for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The common PUT (a `null` version on a key without other versions) is a call of the swap function
/// on a guess of the key's record (none, or the one this store last swapped in), without a read. A
/// guess made stale by another replica is refused by the swap, and the put then reads the key and
/// hands back the blob really replaced, not the guessed one. A refusal (a failed condition) is never
/// decided on a guess. A key that has other versions goes through the transaction, and its put is
/// right there too.
#[tokio::test]
async fn plain_puts_swap_on_a_guess_that_a_stale_record_refuses_and_versioned_keys_take_the_transaction() {
    let server = pg::server();
    let db = server.create_database();
    server.execute(&db, &format!("ALTER DATABASE \"{db}\" SET track_functions = 'pl'"));
    let store = PgMetaStore::open(server.config(&db), 1).await.expect("open");
    let other = PgMetaStore::open(server.config(&db), 1).await.expect("open another replica");
    store.create_bucket(bucket("b")).await.expect("create");
    // 1 call each: the guesses (nothing, then the record just written) are right.
    store.put_object("b", object("k", BlobId(1))).await.expect("new key");
    assert_eq!(store.put_object("b", object("k", BlobId(2))).await.expect("replace"), [BlobId(1)]);
    // No call: refused on the read, not on the guess.
    let refused = store.put_object_if("b", object("k", BlobId(3)), &WriteCondition::IfAbsent).await;
    assert!(matches!(refused, Err(StoreError::ConditionFailed { .. })), "{refused:?}");
    // 1 call: the swap finds no bucket.
    let missing = store.put_object("nob", object("k", BlobId(4))).await;
    assert!(matches!(missing, Err(StoreError::NoSuchBucket(_))), "{missing:?}");
    // 2 calls each: the other replica guesses "none", this one its own record, both stale.
    assert_eq!(other.put_object("b", object("k", BlobId(7))).await.expect("other replaces"), [BlobId(2)]);
    assert_eq!(store.put_object("b", object("k", BlobId(8))).await.expect("replace again"), [BlobId(7)]);
    assert_eq!(other.get_object("b", "k").await.expect("get"), Some(object("k", BlobId(8))));

    // A key with a real version, then a `null` one (versioning enabled, then suspended: the caller
    // stamps the ids): the transaction decides both (1 call: the guess "none" refused).
    let mut versioned = object("v", BlobId(5));
    kura_store::versions::stamp(&mut versioned, Some(kura_store::Versioning::Enabled));
    store.put_object("b", versioned).await.expect("versioned put");
    let mut null = object("v", BlobId(6));
    kura_store::versions::stamp(&mut null, Some(kura_store::Versioning::Suspended));
    assert!(store.put_object("b", null.clone()).await.expect("null put over a version").is_empty());
    assert_eq!(store.get_object("b", "v").await.expect("get"), Some(null));
    // Their connections end, and with them PostgreSQL's function statistics are flushed.
    drop((store, other));

    wait_for("the swap function's calls", || server.query_i64(&db, SWAP_CALLS) >= 8).await;
    assert_eq!(server.query_i64(&db, SWAP_CALLS), 8, "1 + 1 + 0 + 1 + 2 + 2 + 1 calls");
}

/// The lanes (the shared connections the hot statements take) cut off by the database: every put and
/// get still answers right (a read a lane cannot run goes through the pool, and a lane found closed is
/// connected again), and the puts after go through new lanes, not the pool's transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lanes_cut_off_by_the_database_are_replaced_and_no_request_fails() {
    let server = pg::server();
    let db = server.create_database();
    server.execute(&db, &format!("ALTER DATABASE \"{db}\" SET track_functions = 'pl'"));
    // 8 connections: 2 lanes, a pool of 6.
    let store = PgMetaStore::open(server.config(&db), 8).await.expect("open");
    store.create_bucket(bucket("b")).await.expect("create");
    for i in 0..4 {
        store.put_object("b", object(&format!("k{i}"), BlobId(i))).await.expect("put");
    }
    let lanes = |state: &str| {
        format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}' AND application_name = 'kura-lane' \
             AND state {state}"
        )
    };
    assert_eq!(server.query_i64(&db, &lanes("IS NOT NULL")), 2, "both lanes are connected");
    server.execute(
        &db,
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' \
             AND application_name = 'kura-lane'"
        ),
    );
    wait_for("the lanes' backends to end", || server.query_i64(&db, &lanes("IS NOT NULL")) == 0).await;

    // Each lane is tried once by a read (GET's and HEAD's reads of the current version), which then
    // goes through the pool if the lane was dead.
    for i in 0..4 {
        let key = format!("k{i}");
        assert_eq!(store.get_object("b", &key).await.expect("get"), Some(object(&key, BlobId(i))));
        let found = store.get_version("b", &key, None, i % 2 == 0).await.expect("get version").expect("found");
        assert_eq!((found.object, found.current), (object(&key, BlobId(i)), true));
    }
    assert_eq!(server.query_i64(&db, &lanes("IS NOT NULL")), 2, "both lanes are connected again");
    for i in 0..4 {
        let freed = store.put_object("b", object(&format!("k{i}"), BlobId(10 + i))).await.expect("overwrite");
        assert_eq!(freed, [BlobId(i)]);
    }
    assert_eq!(store.get_object("b", "k3").await.expect("get"), Some(object("k3", BlobId(13))));
    drop(store);

    // 4 new keys and 4 overwrites, each one call of the swap function: none went to the transaction.
    wait_for("the swap function's calls", || server.query_i64(&db, SWAP_CALLS) >= 8).await;
    assert_eq!(server.query_i64(&db, SWAP_CALLS), 8);
}

#[tokio::test]
async fn a_database_with_a_newer_schema_is_refused() {
    let server = pg::server();
    let db = server.create_database();
    drop(PgMetaStore::open(server.config(&db), 1).await.expect("open"));
    server.execute(&db, &format!("UPDATE schema_version SET version = {}", SCHEMA_VERSION + 1));
    let err = PgMetaStore::open(server.config(&db), 1).await.expect_err("a newer schema");
    let text = err.to_string();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    assert!(text.contains(&format!("schema version {}", SCHEMA_VERSION + 1)) && text.contains("newer"), "{text}");
    // Nothing changed: the newer version stays recorded, alone.
    let versions = "SELECT count(*) * 1000 + max(version) FROM schema_version";
    assert_eq!(server.query_i64(&db, versions), 1000 + SCHEMA_VERSION + 1);
}

/// Many puts at once over a few keys, from two stores (replicas) on one database: their swaps are
/// committed in groups that mix keys, hold the same key twice, and race the other store's groups.
/// Every blob put is afterwards either a key's current blob or handed back as replaced, exactly once:
/// no write was lost or applied twice, and no replaced blob was missed or freed twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn grouped_swaps_lose_no_write_and_free_each_replaced_blob_once() {
    let server = pg::server();
    let db = server.create_database();
    let a: Arc<dyn MetaStore> = Arc::new(PgMetaStore::open(server.config(&db), 8).await.expect("open a"));
    let b: Arc<dyn MetaStore> = Arc::new(PgMetaStore::open(server.config(&db), 8).await.expect("open b"));
    a.create_bucket(bucket("b")).await.expect("create");
    let (writers, puts_each, keys) = (24u128, 20u128, 6u128);
    let tasks = (0..writers).map(|w| {
        let store = Arc::clone(if w % 2 == 0 { &a } else { &b });
        tokio::spawn(async move {
            let mut freed = Vec::new();
            for p in 0..puts_each {
                let id = w * puts_each + p + 1;
                let key = format!("k{}", id % keys);
                freed.extend(store.put_object("b", object(&key, BlobId(id))).await.expect("put"));
            }
            freed
        })
    });
    let mut seen = Vec::new();
    for freed in futures::future::join_all(tasks).await {
        seen.extend(freed.expect("task"));
    }
    for k in 0..keys {
        let current = a.get_object("b", &format!("k{k}")).await.expect("get").expect("written");
        seen.extend(current.blobs());
    }
    seen.sort();
    assert_eq!(seen, (1..=writers * puts_each).map(BlobId).collect::<Vec<_>>());
}

/// Two stores on one database stand for two kura replicas: conditional creates and completions that
/// race across them are decided once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_replicas_cannot_both_win() {
    let server = pg::server();
    let db = server.create_database();
    let a: Arc<dyn MetaStore> = Arc::new(PgMetaStore::open(server.config(&db), 4).await.expect("open a"));
    let b: Arc<dyn MetaStore> = Arc::new(PgMetaStore::open(server.config(&db), 4).await.expect("open b"));
    a.create_bucket(bucket("b")).await.expect("create");
    for round in 0..8u128 {
        let key = format!("race-{round}");
        let racers = (0..8u128).map(|i| {
            let store = Arc::clone(if i % 2 == 0 { &a } else { &b });
            let key = key.clone();
            tokio::spawn(async move {
                store.put_object_if("b", object(&key, BlobId(round * 100 + i)), &WriteCondition::IfAbsent).await
            })
        });
        let results = futures::future::join_all(racers).await;
        let wins = results.iter().filter(|r| matches!(r, Ok(Ok(_)))).count();
        assert_eq!(wins, 1, "round {round}: {results:?}");
        for result in results {
            match result.expect("task") {
                Ok(freed) => assert!(freed.is_empty()),
                Err(err) => assert!(matches!(err, StoreError::ConditionFailed { .. }), "{err:?}"),
            }
        }
    }
    // One upload completed from both replicas at once: one completion, the other finds no upload.
    a.create_upload("b", upload("done", "u")).await.expect("upload");
    a.put_part("b", "u", conformance::part(1, BlobId(7))).await.expect("part");
    let complete = |store: &Arc<dyn MetaStore>| {
        let store = Arc::clone(store);
        tokio::spawn(async move { store.complete_upload("b", "u", object("done", BlobId(7))).await })
    };
    let (x, y) = (complete(&a), complete(&b));
    let outcomes = [x.await.expect("task"), y.await.expect("task")];
    assert_eq!(outcomes.iter().filter(|r| r.is_ok()).count(), 1, "{outcomes:?}");
    assert!(outcomes.iter().any(|r| matches!(r, Err(StoreError::NoSuchUpload(_)))), "{outcomes:?}");
    assert_eq!(b.get_object("b", "done").await.expect("get"), Some(object("done", BlobId(7))));
}

/// Listings of random keys (multi-byte characters included, whose byte order the database must keep)
/// page for page as the brute-force model says, as kura-store checks redb and the model.
#[test]
fn listing_matches_model() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
    let store = rt.block_on(pg::fresh_store());
    let counter = std::sync::atomic::AtomicUsize::new(0);
    let config = ProptestConfig { cases: 48, ..ProptestConfig::default() };
    proptest!(config, |(keys in proptest::collection::vec(conformance::key_strategy(), 0..30),
                        queries in proptest::collection::vec(conformance::query_strategy(), 1..5))| {
        let name = format!("b{}", counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        rt.block_on(conformance::check_listing_case(&store, &name, &keys, &queries));
    });
    rt.block_on(async move { drop(store) });
}
