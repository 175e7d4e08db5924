//! [`RestoreLock`]: one holder per database at a time; a second is refused at once, saying why; the
//! lock is free again once its holder drops it.

use kura_meta_pg::RestoreLock;
use kura_meta_pg::tls::MakeTls;
use kura_store::StoreError;
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_second_restore_lock_is_refused_until_the_first_is_dropped() {
    let server = kura_test_pg::shared();
    let (db, other) = (server.create_database(), server.create_database());
    let first = RestoreLock::take(server.config(&db), MakeTls::none()).await.expect("the first lock");
    match RestoreLock::take(server.config(&db), MakeTls::none()).await {
        Err(StoreError::Backend(e)) => assert!(e.contains("another `kura restore`"), "{e}"),
        other => panic!("a second lock on one database: {other:?}"),
    }
    // Advisory locks are per database: another database's restore is not held off.
    drop(RestoreLock::take(server.config(&other), MakeTls::none()).await.expect("another database"));
    drop(first);
    // Released when the first's session ends (its thread closes the connection): waited on, not slept on.
    let start = Instant::now();
    loop {
        match RestoreLock::take(server.config(&db), MakeTls::none()).await {
            Ok(_) => break,
            Err(StoreError::Backend(_)) if start.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("the lock is still held 10 s after it was dropped: {e}"),
        }
    }
}

#[tokio::test]
async fn a_database_that_cannot_be_reached_is_unavailable() {
    let server = kura_test_pg::shared();
    let mut config = server.config("postgres");
    config.password("wrong");
    match RestoreLock::take(config, MakeTls::none()).await {
        Err(StoreError::Unavailable(e)) => assert!(e.contains("password authentication failed"), "{e}"),
        other => panic!("{other:?}"),
    }
}
