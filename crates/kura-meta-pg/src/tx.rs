//! One transaction on one pooled connection ([`Tx`]), how a store call runs in it ([`run`]: begin, the
//! call, commit, and a bounded retry of what PostgreSQL asks to retry), and the locks object writes take.

use crate::pool::{Manager, PgConn};
use kura_store::{StoreError, StoreResult};
use postgres::error::SqlState;
use postgres::types::{ToSql, Type};
use postgres::{Row, SimpleQueryMessage};
use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A statement's parameters, each with its type (the types a statement is prepared with).
pub(crate) type Params<'a> = [(&'a (dyn ToSql + Sync), Type)];

/// How a store call runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A write: `READ COMMITTED`, each statement sees what committed before it began, and the call
    /// takes the locks that make its decision hold until it commits (see [`Tx::lock_bucket`],
    /// [`Tx::lock_key`], [`Tx::lock_bucket_and_upload`]).
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

/// The statement that starts a transaction of each mode (none for [`Mode::Single`]).
fn begin_statement(mode: Mode) -> Option<&'static str> {
    match mode {
        Mode::Write => Some("START TRANSACTION ISOLATION LEVEL READ COMMITTED"),
        Mode::Read => Some("START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"),
        Mode::Single => None,
    }
}

/// One transaction (or, in [`Mode::Single`], one connection) that a store call's statements share.
/// Its methods take `&self` so that kura-store's read traits ([`kura_store::versions::VersionRead`])
/// can be implemented on it; the connection is behind a `RefCell` (one blocking thread owns it).
///
/// The transaction starts with its first statement, not before: its `START TRANSACTION` travels in
/// the same round trip as the first locks ([`Tx::lock_bucket`] and the like), and statements go out
/// prepared ([`crate::pool::PgConn::statement`]), so a call costs PostgreSQL as few round trips and
/// as little parsing and planning as its statements allow.
pub(crate) struct Tx<'c> {
    conn: RefCell<&'c mut PgConn>,
    /// The statement that starts the transaction, until it has been sent.
    begin: Cell<Option<&'static str>>,
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
    pub(crate) down: Arc<AtomicBool>,
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
pub(crate) fn connection(db: &Db, timeout: Option<Duration>) -> StoreResult<r2d2::PooledConnection<Manager>> {
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

    /// Sends the transaction's start if it has not gone yet, with `then` (statements without
    /// parameters, such as locks) in the same round trip.
    fn send_batch(&self, then: Option<&str>) -> StoreResult<()> {
        self.send_simple(then).map(drop)
    }

    /// [`Tx::send_batch`], returning what the statements answered (rows, and the count of each).
    fn send_simple(&self, then: Option<&str>) -> StoreResult<Vec<SimpleQueryMessage>> {
        let mut conn = self.conn.borrow_mut();
        let sql = match (self.begin.take(), then) {
            (None, None) => return Ok(Vec::new()),
            (None, Some(then)) => then.to_owned(),
            (Some(begin), None) => begin.to_owned(),
            (Some(begin), Some(then)) => format!("{begin}; {then}"),
        };
        if sql.starts_with("START TRANSACTION") {
            // Set before it is sent: a connection whose start may have gone out is never reused as
            // if it were idle (see `PgConn::in_transaction`).
            conn.in_transaction = true;
        }
        let result = conn.client.simple_query(&sql);
        drop(conn);
        result.map_err(|e| self.fail(&e))
    }

    /// Runs a statement and returns its rows.
    pub(crate) fn query(&self, sql: &str, params: &Params<'_>) -> StoreResult<Vec<Row>> {
        self.send_batch(None)?;
        let mut conn = self.conn.borrow_mut();
        let result = match prepared(&mut conn, sql, params) {
            Ok((Some(statement), values)) => conn.client.query(&statement, &values),
            Ok((None, _)) => conn.client.query_typed(sql, params),
            Err(err) => Err(err),
        };
        drop(conn);
        result.map_err(|e| self.fail(&e))
    }

    /// Runs a statement that returns at most one row.
    pub(crate) fn query_opt(&self, sql: &str, params: &Params<'_>) -> StoreResult<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// Runs a statement and returns how many rows it changed.
    pub(crate) fn execute(&self, sql: &str, params: &Params<'_>) -> StoreResult<u64> {
        self.send_batch(None)?;
        let mut conn = self.conn.borrow_mut();
        let result = match prepared(&mut conn, sql, params) {
            Ok((Some(statement), values)) => conn.client.execute(&statement, &values),
            Ok((None, _)) => conn.client.execute_typed(sql, params),
            Err(err) => Err(err),
        };
        drop(conn);
        result.map_err(|e| self.fail(&e))
    }

    /// Runs statements without parameters (the simple query protocol), such as a migration.
    pub(crate) fn batch(&self, sql: &str) -> StoreResult<()> {
        self.send_batch(Some(sql))
    }

    /// Takes advisory locks, in order, until the transaction ends, then answers whether `bucket`
    /// exists (read after the locks, so as of now): one round trip, with the transaction's start when
    /// it has not gone yet. Each is its own statement, so each takes its own snapshot, in order. The
    /// text holds only numbers (the lock ids) and the bucket name in hexadecimal: nothing a name
    /// could break out of.
    fn lock_and_find_bucket(&self, locks: &[(i64, bool)], bucket: &str) -> StoreResult<bool> {
        let mut sql = String::new();
        for (id, shared) in locks {
            let function = if *shared { "pg_advisory_xact_lock_shared" } else { "pg_advisory_xact_lock" };
            sql.push_str(&format!("SELECT {function}(({id})::bigint); "));
        }
        let hex: String = bucket.bytes().map(|b| format!("{b:02x}")).collect();
        sql.push_str(&format!("SELECT 1 FROM buckets WHERE name = convert_from(decode('{hex}', 'hex'), 'UTF8')"));
        let answers = self.send_simple(Some(&sql))?;
        // The last statement's count is the bucket's rows.
        let found = answers.iter().rev().find_map(|m| match m {
            SimpleQueryMessage::CommandComplete(rows) => Some(*rows),
            _ => None,
        });
        Ok(found.is_some_and(|rows| rows > 0))
    }

    /// Takes the bucket's lock, shared (object and upload writes, which need the bucket to stay) or
    /// exclusive (its deletion, which must see every write that found it), until the transaction ends;
    /// then answers whether the bucket exists (read after the lock, so as of now).
    pub(crate) fn lock_bucket(&self, bucket: &str, exclusive: bool) -> StoreResult<bool> {
        self.lock_and_find_bucket(&[(bucket_lock(bucket), !exclusive)], bucket)
    }

    /// [`Tx::lock_bucket`] (shared), with the bucket's absence as `NoSuchBucket`.
    pub(crate) fn require_bucket_locked(&self, bucket: &str) -> StoreResult<()> {
        if self.lock_bucket(bucket, false)? { Ok(()) } else { Err(StoreError::NoSuchBucket(bucket.to_owned())) }
    }

    /// [`Tx::require_bucket_locked`] then [`Tx::lock_key`], the two locks in one round trip.
    pub(crate) fn lock_bucket_and_key(&self, bucket: &str, key: &str) -> StoreResult<()> {
        let locks = [(bucket_lock(bucket), true), (key_lock(bucket, key), false)];
        if self.lock_and_find_bucket(&locks, bucket)? {
            Ok(())
        } else {
            Err(StoreError::NoSuchBucket(bucket.to_owned()))
        }
    }

    /// [`Tx::require_bucket_locked`], then the lock of one multipart upload (its parts, completion and
    /// abort run one after the other), the two locks in one round trip.
    pub(crate) fn lock_bucket_and_upload(&self, bucket: &str, upload_id: &str) -> StoreResult<()> {
        let locks = [(bucket_lock(bucket), true), (upload_lock(bucket, upload_id), false)];
        if self.lock_and_find_bucket(&locks, bucket)? {
            Ok(())
        } else {
            Err(StoreError::NoSuchBucket(bucket.to_owned()))
        }
    }

    /// Whether the bucket exists. As a transaction's first statement, it travels with the
    /// transaction's start (one round trip, see [`Tx::lock_and_find_bucket`]); later, prepared.
    pub(crate) fn bucket_exists(&self, bucket: &str) -> StoreResult<bool> {
        if self.begin.get().is_some() {
            return self.lock_and_find_bucket(&[], bucket);
        }
        let row = self.query_opt(crate::tables::BUCKET_EXISTS, &[(&bucket, Type::TEXT)])?;
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
        let sql = format!("SELECT pg_advisory_xact_lock(({})::bigint)", key_lock(bucket, key));
        self.send_batch(Some(&sql))
    }
}

/// The prepared statement for `sql` (see [`PgConn::statement`]) and the parameters' values as the
/// driver takes them for it.
fn prepared<'a>(
    conn: &mut PgConn,
    sql: &str,
    params: &'a Params<'a>,
) -> Result<(Option<postgres::Statement>, Vec<&'a (dyn ToSql + Sync)>), postgres::Error> {
    let statement = conn.statement(sql, || params.iter().map(|(_, t)| t.clone()).collect())?;
    Ok((statement, params.iter().map(|(value, _)| *value).collect()))
}

/// The advisory lock of a bucket.
pub(crate) fn bucket_lock(bucket: &str) -> i64 {
    lock_id(b'b', &[bucket.as_bytes()])
}

/// The advisory lock of one key of a bucket.
pub(crate) fn key_lock(bucket: &str, key: &str) -> i64 {
    lock_id(b'k', &[bucket.as_bytes(), key.as_bytes()])
}

/// The advisory lock of one multipart upload.
fn upload_lock(bucket: &str, upload_id: &str) -> i64 {
    lock_id(b'u', &[bucket.as_bytes(), upload_id.as_bytes()])
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
            Attempt::Done(result) => return noted(&db.down, result),
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

/// One attempt of `op` in `mode` (see [`run`]), never repeated: `Err((error, retryable))`, where
/// `retryable` says PostgreSQL refused the statement in a way that a new attempt may cure (a
/// serialization failure or a deadlock: nothing was written). A lost connection is not retryable
/// here: its statement may have committed.
pub(crate) fn run_once<T>(
    db: &Db,
    mode: Mode,
    op: &dyn Fn(&mut Tx<'_>) -> StoreResult<T>,
) -> Result<T, (StoreError, bool)> {
    let mut conn = connection(db, None).map_err(|e| (e, false))?;
    let (result, retryable) = match once(&mut conn, mode, op) {
        Attempt::Done(result) => (result, false),
        Attempt::Retry(err) => (Err(err), true),
    };
    noted(&db.down, result).map_err(|e| {
        let retryable = retryable && !matches!(e, StoreError::Unavailable(_));
        (e, retryable)
    })
}

/// What a write statement's failure `err` leaves, when it ran alone (not in a call [`run`] can try
/// again): `None` when the transaction may decide it afresh (a serialization failure or a deadlock:
/// nothing was written), or the error to answer. A lost connection is [`StoreError::Unavailable`] and
/// notes the database as down: the statement may have committed, so it is never sent again.
pub(crate) fn after_write(down: &AtomicBool, err: &postgres::Error) -> Option<StoreError> {
    if retryable(err) && !connection_lost(err) {
        return None;
    }
    noted::<()>(down, Err(pg_error(err))).err()
}

/// Notes in `db` what a finished call learnt of the database's reachability, and returns its result.
fn noted<T>(down: &AtomicBool, result: StoreResult<T>) -> StoreResult<T> {
    down.store(matches!(result, Err(StoreError::Unavailable(_))), Ordering::Relaxed);
    result
}

fn once<T>(conn: &mut PgConn, mode: Mode, op: &dyn Fn(&mut Tx<'_>) -> StoreResult<T>) -> Attempt<T> {
    let mut tx = Tx { conn: RefCell::new(conn), begin: Cell::new(begin_statement(mode)), retry: Cell::new(false) };
    let result = op(&mut tx);
    let retry = tx.retry.get();
    let conn = tx.conn.into_inner();
    if !conn.in_transaction {
        // One statement alone, or a call that sent none: nothing to end.
        return match result {
            Err(err) if retry => Attempt::Retry(err),
            other => Attempt::Done(other),
        };
    }
    match result {
        Ok(value) => match conn.client.batch_execute("COMMIT") {
            Ok(()) => {
                conn.in_transaction = false;
                Attempt::Done(Ok(value))
            }
            // A connection lost at commit leaves the outcome unknown: never tried again (Unavailable,
            // not acknowledged).
            Err(err) if !connection_lost(&err) && retryable(&err) => {
                end(conn);
                Attempt::Retry(pg_error(&err))
            }
            Err(err) => {
                end(conn);
                Attempt::Done(Err(pg_error(&err)))
            }
        },
        Err(err) => {
            end(conn);
            if retry { Attempt::Retry(err) } else { Attempt::Done(Err(err)) }
        }
    }
}

/// Rolls back the connection's transaction (after a refusal, or a failed statement or commit). When
/// that fails the connection stays marked as in a transaction, so the pool closes it.
fn end(conn: &mut PgConn) {
    match conn.client.batch_execute("ROLLBACK") {
        Ok(()) => conn.in_transaction = false,
        Err(err) if !err.is_closed() => tracing::warn!(error = %err, "rolling back a PostgreSQL transaction failed"),
        Err(_) => {}
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
