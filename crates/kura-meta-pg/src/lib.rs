//! [`PgMetaStore`]: kura's metadata ([`MetaStore`]) in a PostgreSQL database, so that several kura
//! processes can share one store (high availability, issue 18) on a database a platform team already
//! runs, instead of each keeping its own redb file.
//!
//! # What it reuses
//! Nothing about S3 is decided here. The version rules ([`kura_store::versions`]: what a put
//! replaces, which version becomes current), Object Lock ([`kura_store::lock::set_lock`]), write
//! conditions ([`WriteCondition::check`]), the listing algorithm ([`kura_store::listing::list_page`])
//! and the checks and hand-backs every back end applies ([`check_inline`], [`unused_parts`]) are
//! kura-store's, run unchanged over a PostgreSQL transaction: [`tables`] implements kura-store's small
//! synchronous traits (`VersionRead`/`VersionWrite`, `KeyCursor`, `SortedRecords`) as statements on it.
//! So the store passes the same conformance suite as redb and the in-memory model, by construction as
//! much as by test. The tables and their encoding are in [`schema`].
//!
//! # Transactions
//! Every [`MetaStore`] method is one transaction on one pooled connection, run on tokio's blocking pool
//! with the synchronous `postgres` driver (the blocking face of `tokio-postgres`), because the
//! algorithms above are synchronous, as redb's transactions are. Each connection prepares a statement
//! the first time it sends it and keeps it ([`pool`]), so PostgreSQL parses and plans it once; a
//! statement is then one round trip, and a transaction's `START TRANSACTION` rides with its first
//! locks.
//!
//! The hot single statements (the PUT's swap below, and GET's and HEAD's read of a key) skip the
//! blocking pool: they run on [`lane`]s, a few connections of the asynchronous driver shared by all
//! requests on kura's own runtime, which pipeline the statements of concurrent requests; the swaps of
//! concurrent PUTs commit together, as one statement ([`group`]). A statement a lane cannot run goes
//! through the pool.
//! - **Writes** run in `READ COMMITTED` and take advisory locks, held until the transaction ends,
//!   before they read what they decide on: the bucket's (shared; exclusive for its deletion, which
//!   must see every write that found the bucket), the upload's (its parts, completion and abort, one
//!   after the other), the key's (every write of a key's versions). Writers of one key therefore run
//!   one after the other, each reading what the previous one committed, so a conditional write,
//!   a completion, a version delete under Object Lock or a retention change is decided on the key as
//!   it is when it commits, and two replicas cannot both win. Writes to different keys do not wait for
//!   one another. (`SERIALIZABLE` would give the same guarantee without the locks, but its predicate
//!   locks on index pages make concurrent puts of new, neighbouring keys abort one another; the locks
//!   serialise exactly what must be.) Bucket settings change by `SELECT … FOR UPDATE` on the bucket's row.
//! - **The common PUT** (a `null` version on a key with no other versions) is a compare-and-swap
//!   instead ([`swap`]): the version rules run on one read of the key (or first on a guess of it,
//!   without a read), and one call of a PL/pgSQL function takes the same locks and applies their write
//!   only if the key is still as read or guessed; any other case, or a key changed in between, goes to
//!   the transaction. One or two statements instead of five round trips.
//! - **Reads** of several statements (a listing page, a version lookup) run in one `REPEATABLE READ
//!   READ ONLY` snapshot; single-statement reads (GET's record and body are one join) run alone.
//! - A call is tried again, at most a few times, when PostgreSQL reports a serialization failure or a
//!   deadlock, or the connection broke before the commit (nothing was written then); a refusal
//!   (`ConditionFailed`, `NoSuchKey`…) rolls back and writes nothing.
//! - A call that cannot reach the database (no connection within the timeout, or one lost before the
//!   commit and not regained) fails with [`StoreError::Unavailable`] (the server answers a retryable
//!   503); the pool reconnects by itself once the database is back. While the database is known to be
//!   down, calls wait only briefly for a connection, so requests fail fast;
//!   [`MetaStore::check_available`] (the readiness probe) is one `SELECT 1`.
//! - [`MetaStore::snapshot`] (backups) holds a `REPEATABLE READ READ ONLY` transaction on a connection
//!   of its own until it is dropped.
//!
//! # Use
//! kura-server opens it for `server.metadata: {postgres: …}` (its `storage` module). Connections are
//! Unix sockets or TCP, the latter in TLS as libpq's `sslmode` asks ([`tls`]).

mod bucket_cache;
mod group;
mod lane;
mod pool;
mod restore_lock;
mod schema;
mod snapshot;
mod swap;
mod tables;
pub mod tls;
mod tx;

pub use restore_lock::RestoreLock;
pub use schema::{MIGRATIONS, VERSION as SCHEMA_VERSION};
pub use tokio_postgres::Config;
pub use tokio_postgres::config::{Host, SslMode};

use async_trait::async_trait;
use kura_store::listing::{self, Listed, PageSpec};
use kura_store::versions::{self, VersionCursor, VersionRead, VersionWrite};
use kura_store::{
    BlobId, BucketInfo, BucketSettings, ListEntry, ListPage, ListQuery, MetaSnapshot, MetaStore, ObjectLock,
    ObjectMeta, PartInfo, RemovalGuard, StoreError, StoreResult, Tags, UploadInfo, UploadListPage, UploadListQuery,
    VersionListPage, VersionListQuery, WriteCondition, check_inline, duplicate_upload, unused_parts,
};
use postgres::types::Type;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use tables::{col, decode, encode, limit};
pub(crate) use tx::pg_error;
use tx::{Db, Mode, Tx};

pub(crate) use pool::Pool;

/// The pool's own connection attempts (it keeps one idle connection) fail over and over while the
/// database is down: logged at debug level only, since each call that fails is reported once, as
/// [`StoreError::Unavailable`], where it is answered.
#[derive(Debug)]
struct QuietPoolErrors;

impl r2d2::HandleError<tls::ConnectError> for QuietPoolErrors {
    fn handle_error(&self, error: tls::ConnectError) {
        tracing::debug!(%error, "the PostgreSQL pool cannot connect");
    }
}

/// How a store's `pool_size` connections are shared: a quarter of them (at least one) are lanes
/// ([`lane`]), the rest (at least one) the pool of transactions.
fn split_connections(pool_size: u32) -> (usize, u32) {
    let lanes = (pool_size / 4).max(1);
    (lanes as usize, pool_size.saturating_sub(lanes).max(1))
}

/// The name a store's connections give PostgreSQL (`application_name`, seen in `pg_stat_activity`)
/// when the URL names none: `kura` for the pool's, `kura-lane` for the lanes'.
fn named(mut config: Config, name: &str) -> Config {
    if config.get_application_name().is_none() {
        config.application_name(name);
    }
    config
}

/// The metadata store on PostgreSQL. See the crate documentation.
pub struct PgMetaStore {
    /// Always `Some` until dropped: the pool is dropped on a thread of its own (see `Drop`).
    db: Option<Arc<Db>>,
    /// Bucket records read less than a second ago ([`bucket_cache`]).
    buckets: bucket_cache::BucketCache,
    /// Shared connections of the asynchronous driver for the hot single statements ([`lane`]).
    lanes: Arc<lane::Lanes>,
    /// The PUT's swaps, committed in groups on the lanes ([`group`]).
    swaps: group::Swaps,
    /// The records this store last swapped in, the guesses that spare a PUT its read ([`swap::Known`]).
    known: swap::Known,
}

impl std::fmt::Debug for PgMetaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgMetaStore").finish_non_exhaustive()
    }
}

impl PgMetaStore {
    /// Connects to the database `config` names with at most `pool_size` connections (at least two: a
    /// quarter are lanes, the rest the pool, see [`split_connections`]),
    /// brings its schema up to date (see [`schema`]; a database with a newer schema than this build
    /// knows is refused with an error that says so) and returns the store. Fails if the database
    /// cannot be reached within a few seconds. Without TLS (see [`tls::MakeTls::none`]).
    pub async fn open(config: Config, pool_size: u32) -> StoreResult<Self> {
        Self::open_tls(config, tls::MakeTls::none(), pool_size).await
    }

    /// [`Self::open`] with connections made by `tls` (which decides the `sslmode`, see [`tls`]).
    pub async fn open_tls(config: Config, tls: tls::MakeTls, pool_size: u32) -> StoreResult<Self> {
        let (lane_count, pool_size) = split_connections(pool_size);
        let down = Arc::new(AtomicBool::new(false));
        let lanes =
            lane::Lanes::new(tls.apply(named(config.clone(), "kura-lane")), tls.clone(), lane_count, down.clone());
        let (lanes, swaps) = group::Swaps::start(lanes);
        let config = named(config, "kura");
        tokio::task::spawn_blocking(move || {
            let pool = r2d2::Pool::builder()
                .max_size(pool_size)
                .min_idle(Some(1))
                // A broken connection is found by its failed statement (and dropped on return), not by
                // a round trip before each use.
                .test_on_check_out(false)
                .connection_timeout(tx::CONNECTION_TIMEOUT)
                .error_handler(Box::new(QuietPoolErrors))
                .build(pool::Manager::new(config, tls))
                .map_err(|e| StoreError::Unavailable(format!("cannot connect to PostgreSQL: {e}")))?;
            let db = Db { pool, down };
            tx::run(&db, Mode::Write, &|t| schema::migrate(t))?;
            Ok(Self { db: Some(Arc::new(db)), buckets: Default::default(), lanes, swaps, known: Default::default() })
        })
        .await
        .map_err(|e| StoreError::Backend(format!("opening the PostgreSQL store failed: {e}")))?
    }

    /// Runs `op` as one transaction in `mode` on the blocking pool (see [`tx::run`]).
    async fn call<T, F>(&self, mode: Mode, op: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: Fn(&mut Tx<'_>) -> StoreResult<T> + Send + 'static,
    {
        self.call_on(move |db| tx::run(db, mode, &op)).await
    }

    /// Runs `op` on the blocking pool with the database, for a call of more than one transaction.
    async fn call_on<T, F>(&self, op: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Db) -> StoreResult<T> + Send + 'static,
    {
        let db = self.db()?.clone();
        tokio::task::spawn_blocking(move || op(&db))
            .await
            .map_err(|e| StoreError::Backend(format!("a PostgreSQL call failed: {e}")))?
    }

    /// A key's current row (with its inline body if `body`) read on a lane ([`lane`]), `Ok(None)` when
    /// the key has none; `None` when no lane could read it (the caller reads through the pool, which
    /// reports the failure if there is one).
    async fn current_row_on_lanes(
        &self,
        bucket: &str,
        key: &str,
        body: bool,
    ) -> Option<StoreResult<Option<ObjectMeta>>> {
        let params: &tx::Params<'_> = &[(&bucket, Type::TEXT), (&key.as_bytes(), Type::BYTEA)];
        let rows = self.lanes.query(tables::current_statement(body), params).await.ok()?;
        Some(rows.first().map(|row| tables::object_row(row, body)).transpose())
    }

    /// [`Self::current_row_on_lanes`] as [`MetaStore::get_object`] answers it: a key without a row is
    /// `NoSuchBucket` when its bucket is missing.
    async fn current_on_lanes(&self, bucket: &str, key: &str, body: bool) -> Option<StoreResult<Option<ObjectMeta>>> {
        match self.current_row_on_lanes(bucket, key, body).await? {
            Ok(None) => {}
            read => return Some(read),
        }
        let bucket_rows = self.lanes.query(tables::BUCKET_EXISTS, &[(&bucket, Type::TEXT)]).await.ok()?;
        Some(if bucket_rows.is_empty() { Err(StoreError::NoSuchBucket(bucket.to_owned())) } else { Ok(None) })
    }

    fn db(&self) -> StoreResult<&Arc<Db>> {
        self.db.as_ref().ok_or_else(|| StoreError::Backend("the PostgreSQL store is closed".into()))
    }
}

impl Drop for PgMetaStore {
    /// Closing a connection is a blocking call of the driver, which must not run on an async worker:
    /// the pool is dropped on a thread of its own.
    fn drop(&mut self) {
        if let Some(db) = self.db.take()
            && std::thread::Builder::new().name("kura-pg-close".into()).spawn(move || drop(db)).is_err()
        {
            tracing::warn!("cannot start a thread to close the PostgreSQL connections");
        }
    }
}

/// Forgets a bucket's cached record when dropped, that is after the change that holds it, however
/// it ended (written, refused as stale, or cut off), and the answers of reads in flight meanwhile.
struct Forget<'a>(&'a bucket_cache::BucketCache, &'a str);

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.0.forget(self.1);
    }
}

/// Decodes the `value` column of each row.
fn values<T: serde::de::DeserializeOwned>(rows: &[postgres::Row]) -> StoreResult<Vec<T>> {
    rows.iter().map(|r| decode(&col::<Vec<u8>>(r, 0)?)).collect()
}

/// Takes the key's lock, then writes `object` as its newest version by kura-store's rules.
fn put_version(
    t: &mut Tx<'_>,
    bucket: &str,
    object: ObjectMeta,
    condition: &WriteCondition,
) -> StoreResult<Vec<BlobId>> {
    t.lock_key(bucket, &object.key)?;
    versions::put(t, bucket, object, condition)?
}

#[async_trait]
impl MetaStore for PgMetaStore {
    async fn create_bucket(&self, bucket: BucketInfo) -> StoreResult<()> {
        let value = encode(&bucket)?;
        let name = bucket.name.clone();
        let _forget = Forget(&self.buckets, &name);
        self.call(Mode::Write, move |t| {
            let inserted = t.execute(
                "INSERT INTO buckets (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[(&bucket.name, Type::TEXT), (&value, Type::BYTEA)],
            )?;
            if inserted == 0 { Err(StoreError::BucketAlreadyExists(bucket.name.clone())) } else { Ok(()) }
        })
        .await
    }

    async fn get_bucket(&self, name: &str) -> StoreResult<Option<BucketInfo>> {
        if let Some(info) = self.buckets.get(name) {
            return Ok(Some(info));
        }
        let (read, name) = (self.buckets.begin_read(), name.to_owned());
        let info: Option<BucketInfo> = self
            .call(Mode::Single, move |t| {
                let rows = t.query("SELECT value FROM buckets WHERE name = $1", &[(&name, Type::TEXT)])?;
                Ok(values(&rows)?.into_iter().next())
            })
            .await?;
        if let Some(info) = &info {
            self.buckets.put(read, info);
        }
        Ok(info)
    }

    async fn list_buckets(&self) -> StoreResult<Vec<BucketInfo>> {
        self.call(Mode::Single, |t| values(&t.query("SELECT value FROM buckets ORDER BY name", &[])?)).await
    }

    async fn delete_bucket(&self, name: &str) -> StoreResult<Vec<BlobId>> {
        let _forget = Forget(&self.buckets, name);
        let name = name.to_owned();
        self.call(Mode::Write, move |t| {
            if !t.lock_bucket(&name, true)? {
                return Err(StoreError::NoSuchBucket(name.clone()));
            }
            let bucket: &(dyn postgres::types::ToSql + Sync) = &name;
            let used = t.query_opt(
                "SELECT 1 WHERE EXISTS (SELECT 1 FROM objects WHERE bucket = $1) \
                 OR EXISTS (SELECT 1 FROM versions WHERE bucket = $1)",
                &[(bucket, Type::TEXT)],
            )?;
            if used.is_some() {
                return Err(StoreError::BucketNotEmpty(name.clone()));
            }
            let parts: Vec<PartInfo> =
                values(&t.query("DELETE FROM parts WHERE bucket = $1 RETURNING value", &[(bucket, Type::TEXT)])?)?;
            t.execute("DELETE FROM uploads WHERE bucket = $1", &[(bucket, Type::TEXT)])?;
            t.execute("DELETE FROM buckets WHERE name = $1", &[(bucket, Type::TEXT)])?;
            Ok(parts.iter().map(|p| p.blob).collect())
        })
        .await
    }

    async fn put_object_if(
        &self,
        bucket: &str,
        object: ObjectMeta,
        condition: &WriteCondition,
    ) -> StoreResult<Vec<BlobId>> {
        check_inline(&object)?;
        let swapped = swap::put_on_lanes(&self.lanes, &self.swaps, &self.known, bucket, &object, condition).await?;
        let (bucket, condition) = (bucket.to_owned(), condition.clone());
        self.call_on(move |db| {
            match swapped {
                swap::Swapped::Written(freed) => return Ok(freed),
                swap::Swapped::Unsent => {
                    if let Some(freed) = swap::put(db, &bucket, &object, &condition)? {
                        return Ok(freed);
                    }
                }
                swap::Swapped::Declined => {}
            }
            tx::run(db, Mode::Write, &|t| {
                t.lock_bucket_and_key(&bucket, &object.key)?;
                versions::put(t, &bucket, object.clone(), &condition)?
            })
        })
        .await
    }

    async fn get_object(&self, bucket: &str, key: &str) -> StoreResult<Option<ObjectMeta>> {
        if let Some(read) = self.current_on_lanes(bucket, key, true).await {
            return read;
        }
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        self.call(Mode::Single, move |t| match t.current(&bucket, &key, true)? {
            Some(object) => Ok(Some(object)),
            None => t.require_bucket(&bucket).map(|()| None),
        })
        .await
    }

    async fn get_object_record(&self, bucket: &str, key: &str) -> StoreResult<Option<ObjectMeta>> {
        if let Some(read) = self.current_on_lanes(bucket, key, false).await {
            return read;
        }
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        self.call(Mode::Single, move |t| match t.current(&bucket, &key, false)? {
            Some(object) => Ok(Some(object)),
            None => t.require_bucket(&bucket).map(|()| None),
        })
        .await
    }

    async fn delete_object_if(
        &self,
        bucket: &str,
        key: &str,
        condition: &WriteCondition,
    ) -> StoreResult<Option<ObjectMeta>> {
        let (bucket, key, condition) = (bucket.to_owned(), key.to_owned(), condition.clone());
        self.call(Mode::Write, move |t| {
            t.lock_bucket_and_key(&bucket, &key)?;
            let current = t.current(&bucket, &key, false)?;
            condition.check(&bucket, &key, current.as_ref())?;
            versions::delete_current(t, &bucket, &key)
        })
        .await
    }

    async fn set_version_tags(&self, bucket: &str, key: &str, version: Option<&str>, tags: Tags) -> StoreResult<()> {
        let (bucket, key, version) = (bucket.to_owned(), key.to_owned(), version.map(str::to_owned));
        self.call(Mode::Write, move |t| {
            t.lock_bucket_and_key(&bucket, &key)?;
            versions::set_tags(t, &bucket, &key, version.as_deref(), tags.clone())?
        })
        .await
    }

    async fn get_version(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        body: bool,
    ) -> StoreResult<Option<versions::Found>> {
        if version.is_none() {
            // The usual read, the current object, is one statement (a current object implies its
            // bucket), on a lane if one can take it; only its absence needs the snapshot below (a
            // delete marker, or no bucket).
            let current = match self.current_row_on_lanes(bucket, key, body).await {
                Some(read) => read?,
                None => {
                    let (b, k) = (bucket.to_owned(), key.to_owned());
                    self.call(Mode::Single, move |t| t.current(&b, &k, body)).await?
                }
            };
            if let Some(object) = current {
                return Ok(Some(versions::Found { object, current: true }));
            }
        }
        let (bucket, key, version) = (bucket.to_owned(), key.to_owned(), version.map(str::to_owned));
        self.call(Mode::Read, move |t| {
            t.require_bucket(&bucket)?;
            versions::find(t, &bucket, &key, version.as_deref(), body)
        })
        .await
    }

    async fn delete_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        guard: RemovalGuard,
    ) -> StoreResult<Option<ObjectMeta>> {
        let (bucket, key, version) = (bucket.to_owned(), key.to_owned(), version_id.to_owned());
        self.call(Mode::Write, move |t| {
            t.lock_bucket_and_key(&bucket, &key)?;
            versions::delete_version(t, &bucket, &key, &version, guard)?
        })
        .await
    }

    async fn put_noncurrent(&self, bucket: &str, object: ObjectMeta) -> StoreResult<()> {
        let bucket = bucket.to_owned();
        self.call(Mode::Write, move |t| {
            check_inline(&object)?;
            t.lock_bucket_and_key(&bucket, &object.key)?;
            t.insert_version(&bucket, object.clone())
        })
        .await
    }

    async fn list_versions(&self, bucket: &str, query: &VersionListQuery) -> StoreResult<VersionListPage> {
        let (bucket, query) = (bucket.to_owned(), query.clone());
        self.call(Mode::Read, move |t| {
            t.require_bucket(&bucket)?;
            let mut cursor =
                VersionCursor::new(tables::Records::new(t, &bucket, true), tables::Records::new(t, &bucket, false));
            versions::list_page(&mut cursor, &query)
        })
        .await
    }

    async fn set_version_lock(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        expected: ObjectLock,
        lock: ObjectLock,
    ) -> StoreResult<()> {
        let (bucket, key, version) = (bucket.to_owned(), key.to_owned(), version.map(str::to_owned));
        self.call(Mode::Write, move |t| {
            t.lock_bucket_and_key(&bucket, &key)?;
            kura_store::lock::set_lock(t, &bucket, &key, version.as_deref(), (expected, lock))?
        })
        .await
    }

    async fn list_objects(&self, bucket: &str, query: &ListQuery) -> StoreResult<ListPage> {
        let (bucket, query) = (bucket.to_owned(), query.clone());
        self.call(Mode::Read, move |t| {
            t.require_bucket(&bucket)?;
            let mut cursor = tables::ObjectCursor::new(t, &bucket);
            let spec = PageSpec {
                prefix: &query.prefix,
                delimiter: query.delimiter.as_deref(),
                marker: query.start_after.as_deref(),
                max: query.max,
            };
            let listing = listing::list_page(&mut cursor, &spec, |_| false)?;
            let mut entries = Vec::with_capacity(listing.entries.len());
            for entry in listing.entries {
                entries.push(match entry {
                    Listed::Item(_, value) => ListEntry::Object(decode(&value)?),
                    Listed::Prefix(p) => ListEntry::Prefix(p),
                });
            }
            Ok(ListPage { entries, is_truncated: listing.is_truncated })
        })
        .await
    }

    async fn create_upload(&self, bucket: &str, upload: UploadInfo) -> StoreResult<()> {
        let bucket = bucket.to_owned();
        let value = encode(&upload)?;
        self.call(Mode::Write, move |t| {
            t.require_bucket_locked(&bucket)?;
            let inserted = t.execute(
                "INSERT INTO uploads (bucket, upload_id, key, value) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                &[
                    (&bucket, Type::TEXT),
                    (&upload.upload_id, Type::TEXT),
                    (&upload.key.as_bytes(), Type::BYTEA),
                    (&value, Type::BYTEA),
                ],
            )?;
            if inserted == 0 { Err(duplicate_upload(&upload.upload_id)) } else { Ok(()) }
        })
        .await
    }

    async fn get_upload(&self, bucket: &str, upload_id: &str) -> StoreResult<Option<UploadInfo>> {
        let (bucket, id) = (bucket.to_owned(), upload_id.to_owned());
        self.call(Mode::Single, move |t| {
            let rows = t.query(
                "SELECT value FROM uploads WHERE bucket = $1 AND upload_id = $2",
                &[(&bucket, Type::TEXT), (&id, Type::TEXT)],
            )?;
            Ok(values(&rows)?.into_iter().next())
        })
        .await
    }

    async fn put_part(&self, bucket: &str, upload_id: &str, part: PartInfo) -> StoreResult<Option<BlobId>> {
        let (bucket, id) = (bucket.to_owned(), upload_id.to_owned());
        let value = encode(&part)?;
        self.call(Mode::Write, move |t| {
            t.lock_bucket_and_upload(&bucket, &id)?;
            if tables::upload_key(t, &bucket, &id)?.is_none() {
                return Err(StoreError::NoSuchUpload(id.clone()));
            }
            let number = i64::from(part.number);
            let params: &[(&(dyn postgres::types::ToSql + Sync), Type)] =
                &[(&bucket, Type::TEXT), (&id, Type::TEXT), (&number, Type::INT8)];
            let old: Vec<PartInfo> = values(
                &t.query("SELECT value FROM parts WHERE bucket = $1 AND upload_id = $2 AND number = $3", params)?,
            )?;
            t.execute(
                "INSERT INTO parts (bucket, upload_id, number, value) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (bucket, upload_id, number) DO UPDATE SET value = EXCLUDED.value",
                &[(&bucket, Type::TEXT), (&id, Type::TEXT), (&number, Type::INT8), (&value, Type::BYTEA)],
            )?;
            Ok(old.into_iter().next().map(|p| p.blob).filter(|b| *b != part.blob))
        })
        .await
    }

    async fn list_parts(&self, bucket: &str, upload_id: &str, after: u32, max: usize) -> StoreResult<Vec<PartInfo>> {
        let (bucket, id) = (bucket.to_owned(), upload_id.to_owned());
        self.call(Mode::Read, move |t| {
            t.require_bucket(&bucket)?;
            if tables::upload_key(t, &bucket, &id)?.is_none() {
                return Err(StoreError::NoSuchUpload(id.clone()));
            }
            let rows = t.query(
                "SELECT value FROM parts WHERE bucket = $1 AND upload_id = $2 AND number > $3 \
                 ORDER BY number LIMIT $4",
                &[(&bucket, Type::TEXT), (&id, Type::TEXT), (&i64::from(after), Type::INT8), (&limit(max), Type::INT8)],
            )?;
            values(&rows)
        })
        .await
    }

    async fn list_uploads(&self, bucket: &str, query: &UploadListQuery) -> StoreResult<UploadListPage> {
        let (bucket, query) = (bucket.to_owned(), query.clone());
        self.call(Mode::Read, move |t| {
            t.require_bucket(&bucket)?;
            let mut cursor = tables::UploadCursor::new(t, &bucket);
            let spec = PageSpec {
                prefix: &query.prefix,
                delimiter: query.delimiter.as_deref(),
                marker: query.key_marker.as_deref(),
                max: query.max,
            };
            let id_marker = query.upload_id_marker.as_deref();
            let listing = listing::list_page(&mut cursor, &spec, |(id, _)| id_marker.is_some_and(|m| id.as_str() > m))?;
            listing::upload_page(listing, |(_, value)| decode(&value))
        })
        .await
    }

    async fn complete_upload_if(
        &self,
        bucket: &str,
        upload_id: &str,
        object: ObjectMeta,
        condition: &WriteCondition,
    ) -> StoreResult<Vec<BlobId>> {
        let (bucket, id, condition) = (bucket.to_owned(), upload_id.to_owned(), condition.clone());
        self.call(Mode::Write, move |t| {
            t.lock_bucket_and_upload(&bucket, &id)?;
            let Some(key) = tables::upload_key(t, &bucket, &id)? else {
                return Err(StoreError::NoSuchUpload(id.clone()));
            };
            let parts = tables::upload_parts(t, &bucket, &id)?;
            let object = ObjectMeta { key, ..object.clone() };
            let mut freed = unused_parts(&id, &parts, &object)?;
            freed.extend(put_version(t, &bucket, object, &condition)?);
            tables::remove_upload(t, &bucket, &id)?;
            Ok(freed)
        })
        .await
    }

    async fn abort_upload(&self, bucket: &str, upload_id: &str) -> StoreResult<Vec<BlobId>> {
        let (bucket, id) = (bucket.to_owned(), upload_id.to_owned());
        self.call(Mode::Write, move |t| {
            t.lock_bucket_and_upload(&bucket, &id)?;
            if tables::upload_key(t, &bucket, &id)?.is_none() {
                return Err(StoreError::NoSuchUpload(id.clone()));
            }
            let parts = tables::upload_parts(t, &bucket, &id)?;
            tables::remove_upload(t, &bucket, &id)?;
            Ok(parts.iter().map(|p| p.blob).collect())
        })
        .await
    }

    async fn referenced_blobs(&self) -> StoreResult<HashSet<BlobId>> {
        self.call(Mode::Read, |t| {
            let mut set = HashSet::new();
            for sql in ["SELECT value FROM objects", "SELECT value FROM versions"] {
                for object in values::<ObjectMeta>(&t.query(sql, &[])?)? {
                    set.extend(object.segments.iter().map(|s| s.blob));
                }
            }
            for part in values::<PartInfo>(&t.query("SELECT value FROM parts", &[])?)? {
                set.insert(part.blob);
            }
            Ok(set)
        })
        .await
    }

    /// Every replica of a kura Service uses the same database, and so the same blob directory.
    fn shares_blobs(&self) -> bool {
        true
    }

    async fn enqueue_reclaims(&self, ids: &[BlobId], due_ms: i64) -> StoreResult<()> {
        // Once each: one statement may not update a row twice (ON CONFLICT).
        let ids: Vec<Vec<u8>> = ids
            .iter()
            .map(|id| id.0.to_be_bytes().to_vec())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        self.call(Mode::Write, move |t| {
            t.execute(
                "INSERT INTO reclaims (blob, due_ms) SELECT unnest($1::bytea[]), $2 \
                 ON CONFLICT (blob) DO UPDATE SET due_ms = GREATEST(reclaims.due_ms, EXCLUDED.due_ms)",
                &[(&ids, Type::BYTEA_ARRAY), (&due_ms, Type::INT8)],
            )
            .map(drop)
        })
        .await
    }

    async fn take_due_reclaims(&self, now_ms: i64, max: usize) -> StoreResult<Vec<BlobId>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        self.call(Mode::Write, move |t| {
            // SKIP LOCKED: replicas draining at once take disjoint rows instead of waiting on each other.
            let rows = t.query(
                "DELETE FROM reclaims WHERE blob IN (SELECT blob FROM reclaims WHERE due_ms <= $1 \
                 ORDER BY due_ms, blob LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING due_ms, blob",
                &[(&now_ms, Type::INT8), (&limit(max), Type::INT8)],
            )?;
            let mut taken = rows
                .iter()
                .map(|row| {
                    let due: i64 = col(row, 0)?;
                    let blob: Vec<u8> = col(row, 1)?;
                    let bytes: [u8; 16] = blob
                        .try_into()
                        .map_err(|_| StoreError::Backend("a queued reclaim's blob id is not 16 bytes".into()))?;
                    Ok((due, BlobId(u128::from_be_bytes(bytes))))
                })
                .collect::<StoreResult<Vec<_>>>()?;
            taken.sort_unstable();
            Ok(taken.into_iter().map(|(_, id)| id).collect())
        })
        .await
    }

    async fn set_bucket_settings(
        &self,
        bucket: &str,
        expected: &BucketSettings,
        settings: BucketSettings,
    ) -> StoreResult<()> {
        let _forget = Forget(&self.buckets, bucket);
        let (bucket, expected) = (bucket.to_owned(), expected.clone());
        self.call(Mode::Write, move |t| {
            let rows = t.query("SELECT value FROM buckets WHERE name = $1 FOR UPDATE", &[(&bucket, Type::TEXT)])?;
            let Some(mut info) = values::<BucketInfo>(&rows)?.into_iter().next() else {
                return Err(StoreError::NoSuchBucket(bucket.clone()));
            };
            if info.settings != expected {
                return Err(StoreError::ConditionFailed { key: String::new() });
            }
            info.settings = settings.clone();
            t.execute(
                "UPDATE buckets SET value = $2 WHERE name = $1",
                &[(&bucket, Type::TEXT), (&encode(&info)?, Type::BYTEA)],
            )?;
            Ok(())
        })
        .await
    }

    async fn put_record(&self, kind: &str, id: &str, value: Vec<u8>) -> StoreResult<()> {
        let (kind, id) = (kind.to_owned(), id.to_owned());
        self.call(Mode::Write, move |t| {
            t.execute(
                "INSERT INTO records (kind, id, value) VALUES ($1, $2, $3) \
                 ON CONFLICT (kind, id) DO UPDATE SET value = EXCLUDED.value",
                &[(&kind, Type::TEXT), (&id, Type::TEXT), (&value, Type::BYTEA)],
            )
            .map(drop)
        })
        .await
    }

    async fn delete_record(&self, kind: &str, id: &str) -> StoreResult<bool> {
        let (kind, id) = (kind.to_owned(), id.to_owned());
        self.call(Mode::Write, move |t| {
            let removed = t.execute(
                "DELETE FROM records WHERE kind = $1 AND id = $2",
                &[(&kind, Type::TEXT), (&id, Type::TEXT)],
            )?;
            Ok(removed > 0)
        })
        .await
    }

    async fn list_records(&self, kind: &str) -> StoreResult<Vec<(String, Vec<u8>)>> {
        let kind = kind.to_owned();
        self.call(Mode::Single, move |t| {
            let rows = t.query("SELECT id, value FROM records WHERE kind = $1 ORDER BY id", &[(&kind, Type::TEXT)])?;
            rows.iter().map(|r| Ok((col(r, 0)?, col(r, 1)?))).collect()
        })
        .await
    }

    async fn get_record(&self, kind: &str, id: &str) -> StoreResult<Option<Vec<u8>>> {
        let (kind, id) = (kind.to_owned(), id.to_owned());
        self.call(Mode::Single, move |t| {
            let row = t.query_opt(
                "SELECT value FROM records WHERE kind = $1 AND id = $2",
                &[(&kind, Type::TEXT), (&id, Type::TEXT)],
            )?;
            row.map(|r| col(&r, 0)).transpose()
        })
        .await
    }

    async fn snapshot(&self) -> StoreResult<Arc<dyn MetaSnapshot>> {
        let db = self.db()?.clone();
        let snapshot = tokio::task::spawn_blocking(move || snapshot::PgSnapshot::begin(&db))
            .await
            .map_err(|e| StoreError::Backend(format!("a PostgreSQL snapshot failed: {e}")))??;
        Ok(Arc::new(snapshot))
    }

    /// One `SELECT 1`, waiting at most [`tx::OUTAGE_TIMEOUT`] for a connection.
    async fn check_available(&self) -> StoreResult<()> {
        let db = self.db()?.clone();
        tokio::task::spawn_blocking(move || {
            tx::run_with(&db, Mode::Single, Some(tx::OUTAGE_TIMEOUT), &|t| t.query("SELECT 1", &[]).map(drop))
        })
        .await
        .map_err(|e| StoreError::Backend(format!("a PostgreSQL call failed: {e}")))?
    }
}
