//! One transaction on one pooled connection ([`Tx`]), how a store call runs in it ([`run`]: begin, the
//! call, commit, and a bounded retry of what PostgreSQL asks to retry), and the locks object writes take.

use kura_store::{StoreError, StoreResult};
use postgres::error::SqlState;
use postgres::types::{ToSql, Type};
use postgres::{Client, IsolationLevel, Row};
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A statement's parameters, each with its type (one round trip per statement: no prepare).
pub(crate) type Params<'a> = [(&'a (dyn ToSql + Sync), Type)];

/// How a store call runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A write: `READ COMMITTED`, each statement sees what committed before it began, and the call
    /// takes the locks that make its decision hold until it commits (see [`Tx::lock_bucket`],
    /// [`Tx::lock_key`], [`Tx::lock_upload`]).
    Write,
    /// A read of several statements: `REPEATABLE READ READ ONLY`, one snapshot for all of them (never
    /// a serialization failure: it writes nothing).
    Read,
    /// A read of one statement, which is atomic by itself: no `BEGIN`/`COMMIT` round trips.
    Single,
}

/// How many times a call is tried when PostgreSQL reports a serialization failure or a deadlock, or
/// the connection broke before the call committed (nothing of it was written then).
const ATTEMPTS: u32 = 6;

enum Conn<'c> {
    Txn(postgres::Transaction<'c>),
    Plain(&'c mut Client),
}

/// One transaction (or, in [`Mode::Single`], one connection) that a store call's statements share.
/// Its methods take `&self` so that kura-store's read traits ([`kura_store::versions::VersionRead`])
/// can be implemented on it; the connection is behind a `RefCell` (one blocking thread owns it).
pub(crate) struct Tx<'c> {
    conn: RefCell<Conn<'c>>,
    /// Set when a statement failed in a way that trying the whole call again may cure.
    retry: Cell<bool>,
}

/// The pool, and what calls have learnt of the database's reachability.
pub(crate) struct Db {
    /// The connections.
    pub(crate) pool: crate::Pool,
    /// Set when the last call could not reach the database, cleared by the next that could: while it
    /// is set, a call waits only [`OUTAGE_TIMEOUT`] for a connection, so requests fail fast (503)
    /// during an outage instead of each waiting the whole [`CONNECTION_TIMEOUT`].
    pub(crate) down: AtomicBool,
}

/// How long a call waits for a free connection (or a new one) before it fails.
pub(crate) const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a call waits for a connection while the database is known to be unreachable, and how long
/// the readiness probe waits.
pub(crate) const OUTAGE_TIMEOUT: Duration = Duration::from_secs(1);

/// Converts a driver error to the store's: [`StoreError::Unavailable`] when the connection is the
/// problem (see [`connection_lost`]), [`StoreError::Backend`] otherwise.
pub(crate) fn pg_error(err: &postgres::Error) -> StoreError {
    match err.as_db_error() {
        Some(db) if connection_lost(err) => StoreError::Unavailable(format!("PostgreSQL: {db}")),
        Some(db) => StoreError::Backend(format!("PostgreSQL: {db}")),
        None => {
            let mut text = format!("PostgreSQL: {err}");
            let mut source = std::error::Error::source(err);
            while let Some(cause) = source {
                text.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            if connection_lost(err) { StoreError::Unavailable(text) } else { StoreError::Backend(text) }
        }
    }
}

/// Whether the statement failed because the connection did: closed, an I/O error on its socket, or the
/// server ending sessions (shut down, crashed, starting up: SQLSTATE 57P01-57P03) or refusing the
/// connection (class 08). A new connection may succeed once the database is back.
fn connection_lost(err: &postgres::Error) -> bool {
    if err.is_closed() {
        return true;
    }
    if let Some(code) = err.code() {
        let code = code.code();
        return code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03");
    }
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        if cause.is::<std::io::Error>() {
            return true;
        }
        source = cause.source();
    }
    false
}

/// Whether the statement that failed so may succeed if the call is tried again from the start.
fn retryable(err: &postgres::Error) -> bool {
    connection_lost(err)
        || matches!(err.code(), Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED)
}

/// A connection from the pool, waiting at most [`CONNECTION_TIMEOUT`] (or [`OUTAGE_TIMEOUT`] while the
/// database is known to be down, or `timeout` if given); [`StoreError::Unavailable`] when none comes.
pub(crate) fn connection(
    db: &Db,
    timeout: Option<Duration>,
) -> StoreResult<r2d2::PooledConnection<crate::tls::Manager>> {
    let timeout = timeout.unwrap_or(if db.down.load(Ordering::Relaxed) { OUTAGE_TIMEOUT } else { CONNECTION_TIMEOUT });
    db.pool.get_timeout(timeout).map_err(|e| {
        db.down.store(true, Ordering::Relaxed);
        StoreError::Unavailable(format!("no connection to PostgreSQL within {timeout:?}: {e}"))
    })
}

impl Tx<'_> {
    fn fail(&self, err: &postgres::Error) -> StoreError {
        if retryable(err) {
            self.retry.set(true);
        }
        pg_error(err)
    }

    /// Runs a statement and returns its rows.
    pub(crate) fn query(&self, sql: &str, params: &Params<'_>) -> StoreResult<Vec<Row>> {
        let result = match &mut *self.conn.borrow_mut() {
            Conn::Txn(t) => t.query_typed(sql, params),
            Conn::Plain(c) => c.query_typed(sql, params),
        };
        result.map_err(|e| self.fail(&e))
    }

    /// Runs a statement that returns at most one row.
    pub(crate) fn query_opt(&self, sql: &str, params: &Params<'_>) -> StoreResult<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// Runs a statement and returns how many rows it changed.
    pub(crate) fn execute(&self, sql: &str, params: &Params<'_>) -> StoreResult<u64> {
        let result = match &mut *self.conn.borrow_mut() {
            Conn::Txn(t) => t.execute_typed(sql, params),
            Conn::Plain(c) => c.execute_typed(sql, params),
        };
        result.map_err(|e| self.fail(&e))
    }

    /// Runs statements without parameters (the simple query protocol), such as a migration.
    pub(crate) fn batch(&self, sql: &str) -> StoreResult<()> {
        let result = match &mut *self.conn.borrow_mut() {
            Conn::Txn(t) => t.batch_execute(sql),
            Conn::Plain(c) => c.batch_execute(sql),
        };
        result.map_err(|e| self.fail(&e))
    }

    /// Takes the bucket's lock, shared (object and upload writes, which need the bucket to stay) or
    /// exclusive (its deletion, which must see every write that found it), until the transaction ends;
    /// then answers whether the bucket exists (read after the lock, so as of now).
    pub(crate) fn lock_bucket(&self, bucket: &str, exclusive: bool) -> StoreResult<bool> {
        let id = lock_id(b'b', &[bucket.as_bytes()]);
        let sql =
            if exclusive { "SELECT pg_advisory_xact_lock($1)" } else { "SELECT pg_advisory_xact_lock_shared($1)" };
        self.execute(sql, &[(&id, Type::INT8)])?;
        self.bucket_exists(bucket)
    }

    /// [`Tx::lock_bucket`] (shared), with the bucket's absence as `NoSuchBucket`.
    pub(crate) fn require_bucket_locked(&self, bucket: &str) -> StoreResult<()> {
        if self.lock_bucket(bucket, false)? { Ok(()) } else { Err(StoreError::NoSuchBucket(bucket.to_owned())) }
    }

    /// Whether the bucket exists.
    pub(crate) fn bucket_exists(&self, bucket: &str) -> StoreResult<bool> {
        let row = self.query_opt("SELECT 1 FROM buckets WHERE name = $1", &[(&bucket, Type::TEXT)])?;
        Ok(row.is_some())
    }

    /// `NoSuchBucket` unless the bucket exists (for reads, which take no lock).
    pub(crate) fn require_bucket(&self, bucket: &str) -> StoreResult<()> {
        if self.bucket_exists(bucket)? { Ok(()) } else { Err(StoreError::NoSuchBucket(bucket.to_owned())) }
    }

    /// Takes the lock of one key of a bucket until the transaction ends. Every write of a key's
    /// versions takes it before its first read, so writers of one key run one after the other, each
    /// reading (in `READ COMMITTED`) what the one before committed: its condition, and the version
    /// rules, are decided on the key as it is, and racing replicas cannot both win.
    pub(crate) fn lock_key(&self, bucket: &str, key: &str) -> StoreResult<()> {
        let id = lock_id(b'k', &[bucket.as_bytes(), key.as_bytes()]);
        self.execute("SELECT pg_advisory_xact_lock($1)", &[(&id, Type::INT8)]).map(drop)
    }

    /// Takes the lock of one multipart upload until the transaction ends: its parts, completion and
    /// abort run one after the other.
    pub(crate) fn lock_upload(&self, bucket: &str, upload_id: &str) -> StoreResult<()> {
        let id = lock_id(b'u', &[bucket.as_bytes(), upload_id.as_bytes()]);
        self.execute("SELECT pg_advisory_xact_lock($1)", &[(&id, Type::INT8)]).map(drop)
    }
}

/// A 64-bit advisory lock id for a kind of thing and its name: FNV-1a over the kind and each part with
/// its length (so that no two names run together), the same in every process. Two names that share an
/// id only wait for each other.
fn lock_id(kind: u8, parts: &[&[u8]]) -> i64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0100_0000_01b3;
    let mut hash = OFFSET;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(PRIME);
        }
    };
    eat(&[kind]);
    for part in parts {
        eat(&(part.len() as u64).to_le_bytes());
        eat(part);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// What one attempt of a call came to.
enum Attempt<T> {
    Done(StoreResult<T>),
    Retry(StoreError),
}

/// Runs `op` as one transaction in `mode` on a connection from `pool`, on the calling (blocking)
/// thread: commits when it returns `Ok`, rolls back when it returns an error (a refusal writes
/// nothing), and tries it again, a bounded number of times, when PostgreSQL reports a serialization
/// failure or a deadlock, or the connection broke before the commit (a restarted server).
///
/// A call that cannot reach the database fails with [`StoreError::Unavailable`] and marks `db` down;
/// one that reaches it marks it up again.
pub(crate) fn run<T>(db: &Db, mode: Mode, op: &dyn Fn(&mut Tx<'_>) -> StoreResult<T>) -> StoreResult<T> {
    run_with(db, mode, None, op)
}

/// [`run`], waiting at most `timeout` for a connection when given.
pub(crate) fn run_with<T>(
    db: &Db,
    mode: Mode,
    timeout: Option<Duration>,
    op: &dyn Fn(&mut Tx<'_>) -> StoreResult<T>,
) -> StoreResult<T> {
    let mut attempt = 1;
    loop {
        let mut conn = connection(db, timeout)?;
        match once(&mut conn, mode, op) {
            Attempt::Done(result) => {
                let unreachable = matches!(result, Err(StoreError::Unavailable(_)));
                db.down.store(unreachable, Ordering::Relaxed);
                return result;
            }
            Attempt::Retry(err) if attempt >= ATTEMPTS => {
                if matches!(err, StoreError::Unavailable(_)) {
                    db.down.store(true, Ordering::Relaxed);
                }
                return Err(err);
            }
            Attempt::Retry(err) => {
                tracing::debug!(error = %err, attempt, "a PostgreSQL transaction is tried again");
                if matches!(err, StoreError::Unavailable(_)) {
                    // A lost connection: the next one is waited for only briefly.
                    db.down.store(true, Ordering::Relaxed);
                }
                drop(conn);
                std::thread::sleep(Duration::from_millis(2u64 << attempt));
                attempt += 1;
            }
        }
    }
}

fn once<T>(client: &mut Client, mode: Mode, op: &dyn Fn(&mut Tx<'_>) -> StoreResult<T>) -> Attempt<T> {
    let conn = match mode {
        Mode::Single => Conn::Plain(client),
        Mode::Write | Mode::Read => {
            let builder = client.build_transaction();
            let builder = if mode == Mode::Read {
                builder.isolation_level(IsolationLevel::RepeatableRead).read_only(true)
            } else {
                builder.isolation_level(IsolationLevel::ReadCommitted)
            };
            match builder.start() {
                Ok(txn) => Conn::Txn(txn),
                Err(err) if retryable(&err) => return Attempt::Retry(pg_error(&err)),
                Err(err) => return Attempt::Done(Err(pg_error(&err))),
            }
        }
    };
    let mut tx = Tx { conn: RefCell::new(conn), retry: Cell::new(false) };
    let result = op(&mut tx);
    let retry = tx.retry.get();
    let conn = tx.conn.into_inner();
    match (result, conn) {
        (Ok(value), Conn::Txn(txn)) => match txn.commit() {
            Ok(()) => Attempt::Done(Ok(value)),
            // A connection lost at commit leaves the outcome unknown: never tried again (Unavailable,
            // not acknowledged).
            Err(err) if !connection_lost(&err) && retryable(&err) => Attempt::Retry(pg_error(&err)),
            Err(err) => Attempt::Done(Err(pg_error(&err))),
        },
        (Ok(value), Conn::Plain(_)) => Attempt::Done(Ok(value)),
        (Err(err), conn) => {
            if let Conn::Txn(txn) = conn
                && let Err(rollback) = txn.rollback()
                && !rollback.is_closed()
            {
                tracing::warn!(error = %rollback, "rolling back a PostgreSQL transaction failed");
            }
            if retry { Attempt::Retry(err) } else { Attempt::Done(Err(err)) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::lock_id;

    #[test]
    fn lock_ids_are_stable_and_keep_names_apart() {
        assert_eq!(lock_id(b'k', &[b"b", b"k"]), lock_id(b'k', &[b"b", b"k"]));
        assert_ne!(lock_id(b'k', &[b"ab", b"c"]), lock_id(b'k', &[b"a", b"bc"]));
        assert_ne!(lock_id(b'k', &[b"b", b"u"]), lock_id(b'u', &[b"b", b"u"]));
        // FNV-1a's published value for "a": the id does not depend on the process (replicas must agree).
        assert_eq!(lock_id(b'a', &[]), i64::from_ne_bytes(0xaf63_dc4c_8601_ec8c_u64.to_ne_bytes()));
    }
}
