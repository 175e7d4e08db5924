//! The schema: numbered migrations embedded in the crate, applied by [`migrate`] when a store opens.
//!
//! `schema_version` holds one row, the number of the last migration applied. [`migrate`] applies the
//! missing ones and records the new number in ONE transaction (so a failed migration leaves the
//! database as it was), under an advisory lock (so replicas that start together migrate once), and
//! refuses a database whose number is higher than the migrations this build knows: that database was
//! written by a newer kura, whose records this one might misread or damage.
//!
//! # Layout (migration 1)
//! The tables mirror redb's ([`kura_store::redb_meta`]); values are the same serde-encoded (JSON)
//! bytes redb stores, in `bytea`, beside the key columns that ordered range scans need. Object keys are
//! `bytea` (their UTF-8 bytes): they compare byte by byte, which for UTF-8 is code-point order, the order
//! S3 lists in and redb compares `&str` in, whatever the database's collation, and they may hold any
//! character a key may. Other names are `text COLLATE "C"` (byte order too). Inline bodies have tables
//! of their own (`bodies`, `version_bodies`), so listings never read them; their storage is `EXTERNAL`
//! (out of line, not compressed: bodies are often compressed or encrypted already).
//!
//! # Migration 2: the reclaim queue
//! `reclaims`: blobs whose files are deleted once `due_ms` has passed
//! ([`kura_store::MetaStore::enqueue_reclaims`]), by their id (16 bytes, big-endian, so byte order is
//! the ids' order), with an index in due order for the replicas that drain it.
//!
//! # Migration 3: the put's compare-and-swap
//! `kura_put_current` (PL/pgSQL, so that each of its statements reads what committed before it): takes
//! the bucket's and the key's locks as a write transaction does, then writes the key's current object
//! (and its inline body) only if the bucket exists, the key's current row is still `expected` byte for
//! byte and the key has no other versions; it answers 0 (written), 1 (no bucket) or 2 (changed, nothing
//! written). See [`crate::swap`].

use crate::{Tx, pg_error};
use kura_store::{StoreError, StoreResult};
use postgres::types::Type;

/// The migrations, in order: migration `n` (from 1) is `MIGRATIONS[n - 1]`. Never edit one that has
/// shipped: add the next.
pub const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE buckets (
    name text COLLATE "C" PRIMARY KEY,
    value bytea NOT NULL
);
CREATE TABLE objects (
    bucket text COLLATE "C" NOT NULL,
    key bytea NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (bucket, key)
);
CREATE TABLE bodies (
    bucket text COLLATE "C" NOT NULL,
    key bytea NOT NULL,
    body bytea NOT NULL,
    PRIMARY KEY (bucket, key)
);
ALTER TABLE bodies ALTER COLUMN body SET STORAGE EXTERNAL;
CREATE TABLE versions (
    bucket text COLLATE "C" NOT NULL,
    key bytea NOT NULL,
    ord text COLLATE "C" NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (bucket, key, ord)
);
CREATE TABLE version_bodies (
    bucket text COLLATE "C" NOT NULL,
    key bytea NOT NULL,
    ord text COLLATE "C" NOT NULL,
    body bytea NOT NULL,
    PRIMARY KEY (bucket, key, ord)
);
ALTER TABLE version_bodies ALTER COLUMN body SET STORAGE EXTERNAL;
CREATE TABLE uploads (
    bucket text COLLATE "C" NOT NULL,
    upload_id text COLLATE "C" NOT NULL,
    key bytea NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (bucket, upload_id)
);
CREATE UNIQUE INDEX uploads_by_key ON uploads (bucket, key, upload_id);
CREATE TABLE parts (
    bucket text COLLATE "C" NOT NULL,
    upload_id text COLLATE "C" NOT NULL,
    number bigint NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (bucket, upload_id, number)
);
CREATE TABLE records (
    kind text COLLATE "C" NOT NULL,
    id text COLLATE "C" NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (kind, id)
);
"#,
    r#"
CREATE TABLE reclaims (
    blob bytea PRIMARY KEY,
    due_ms bigint NOT NULL
);
CREATE INDEX reclaims_by_due ON reclaims (due_ms, blob);
"#,
    r#"
CREATE FUNCTION kura_put_current(
    b text, k bytea, bucket_lock bigint, key_lock bigint,
    expected bytea, new_value bytea, new_body bytea, drop_body boolean
) RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(bucket_lock);
    PERFORM pg_advisory_xact_lock(key_lock);
    IF NOT EXISTS (SELECT 1 FROM buckets WHERE name = b) THEN
        RETURN 1;
    END IF;
    IF (SELECT value FROM objects WHERE bucket = b AND key = k) IS DISTINCT FROM expected
        OR EXISTS (SELECT 1 FROM versions WHERE bucket = b AND key = k) THEN
        RETURN 2;
    END IF;
    INSERT INTO objects (bucket, key, value) VALUES (b, k, new_value)
        ON CONFLICT (bucket, key) DO UPDATE SET value = EXCLUDED.value;
    IF new_body IS NOT NULL THEN
        INSERT INTO bodies (bucket, key, body) VALUES (b, k, new_body)
            ON CONFLICT (bucket, key) DO UPDATE SET body = EXCLUDED.body;
    ELSIF drop_body THEN
        DELETE FROM bodies WHERE bucket = b AND key = k;
    END IF;
    RETURN 0;
END
$$;
"#,
];

/// The schema version this build writes: the number of [`MIGRATIONS`].
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// The advisory lock that serialises migrations (an arbitrary constant: "kura" in ASCII, then 1).
const MIGRATION_LOCK: i64 = 0x6b75_7261_0000_0001;

/// Brings the database to [`VERSION`] in the transaction `t` (see the module documentation); the
/// caller commits. Returns the version found before.
pub(crate) fn migrate(t: &Tx<'_>) -> StoreResult<i64> {
    t.execute("SELECT pg_advisory_xact_lock($1)", &[(&MIGRATION_LOCK, Type::INT8)])?;
    t.batch("CREATE TABLE IF NOT EXISTS schema_version (version bigint NOT NULL)")?;
    let found: i64 = match t.query_opt("SELECT max(version) FROM schema_version", &[])? {
        Some(row) => row.try_get::<_, Option<i64>>(0).map_err(|e| pg_error(&e))?.unwrap_or(0),
        None => 0,
    };
    if found > VERSION {
        return Err(StoreError::Backend(format!(
            "the PostgreSQL database has kura schema version {found}, newer than this kura knows \
             (version {VERSION}): it was written by a newer kura; run that version (or newer) instead"
        )));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(usize::try_from(found).unwrap_or(usize::MAX)) {
        t.batch(sql)?;
        tracing::info!(version = index + 1, "applied a PostgreSQL schema migration");
    }
    if found < VERSION {
        t.execute("DELETE FROM schema_version", &[])?;
        t.execute("INSERT INTO schema_version (version) VALUES ($1)", &[(&VERSION, Type::INT8)])?;
    }
    Ok(found)
}
