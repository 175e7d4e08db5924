//! The private PostgreSQL the tests run on: kura-test-pg's shared server (one per test binary, a
//! database per test), and a store on a fresh database of it.

pub use kura_test_pg::shared as server;

use kura_meta_pg::PgMetaStore;

/// A store on a new, empty database.
pub async fn fresh_store() -> PgMetaStore {
    let server = server();
    let db = server.create_database();
    PgMetaStore::open(server.config(&db), 8).await.expect("open the store")
}
