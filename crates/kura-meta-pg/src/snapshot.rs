//! [`PgSnapshot`]: a backup's view of the whole store ([`kura_store::MetaStore::snapshot`]), a
//! `REPEATABLE READ READ ONLY` transaction held on a connection of its own until the snapshot is
//! dropped; its dump reads each table in key order, a batch per round trip.

use crate::pg_error;
use crate::tables::{attach_body, col, decode};
use crate::tx::Db;
use kura_store::{
    DumpBatches, DumpEntry, DumpStream, MetaSnapshot, ObjectMeta, StoreError, StoreResult, dump_in_batches,
};
use postgres::types::{ToSql, Type};
use std::sync::{Arc, Mutex, PoisonError};

type Connection = r2d2::PooledConnection<crate::tls::Manager>;

/// Rows read per round trip of a dump.
const DUMP_BATCH: i64 = 256;

/// A snapshot of the store. See the module documentation.
pub(crate) struct PgSnapshot {
    /// The connection whose transaction is the snapshot; `None` once dropped.
    conn: Mutex<Option<Connection>>,
}

/// Where a dump stands: the table being read and the key of the last row emitted from it (`None`: from
/// the table's start).
#[derive(Debug, Clone)]
pub(crate) enum DumpCursor {
    Buckets(Option<String>),
    Objects(Option<(String, Vec<u8>)>),
    Versions(Option<(String, Vec<u8>, String)>),
    Uploads(Option<(String, Vec<u8>, String)>),
    Parts(Option<(String, String, i64)>),
    Records(Option<(String, String)>),
    Done,
}

impl PgSnapshot {
    /// Begins the snapshot's transaction on a connection of its own. The first statement takes the
    /// snapshot (PostgreSQL takes it at the first query, not at `BEGIN`), so it is as of now.
    pub(crate) fn begin(db: &Db) -> StoreResult<Self> {
        let mut conn = crate::tx::connection(db, None)?;
        conn.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT 1").map_err(|e| pg_error(&e))?;
        Ok(Self { conn: Mutex::new(Some(conn)) })
    }

    fn query(&self, sql: &str, params: &[(&(dyn ToSql + Sync), Type)]) -> StoreResult<Vec<postgres::Row>> {
        let mut guard = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let conn = guard.as_mut().ok_or_else(|| StoreError::Backend("the snapshot is closed".into()))?;
        conn.query_typed(sql, params).map_err(|e| pg_error(&e))
    }

    /// The next batch of entries from `cursor`, and where the following batch starts. A batch is empty
    /// only when it moves on to the next table (or the dump is done).
    fn batch(&self, cursor: DumpCursor, bodies: bool) -> StoreResult<(Vec<DumpEntry>, DumpCursor)> {
        let mut out = Vec::new();
        let full = |rows: usize| i64::try_from(rows).unwrap_or(i64::MAX) >= DUMP_BATCH;
        let next = match cursor {
            DumpCursor::Buckets(last) => {
                let rows = match &last {
                    None => self.query(
                        "SELECT name, value FROM buckets ORDER BY name LIMIT $1",
                        &[(&DUMP_BATCH, Type::INT8)],
                    )?,
                    Some(name) => self.query(
                        "SELECT name, value FROM buckets WHERE name > $1 ORDER BY name LIMIT $2",
                        &[(name, Type::TEXT), (&DUMP_BATCH, Type::INT8)],
                    )?,
                };
                let mut last = None;
                for row in &rows {
                    out.push(DumpEntry::Bucket(decode(&col::<Vec<u8>>(row, 1)?)?));
                    last = Some(col(row, 0)?);
                }
                if full(rows.len()) { DumpCursor::Buckets(last) } else { DumpCursor::Objects(None) }
            }
            DumpCursor::Objects(last) => {
                const SELECT: &str = "SELECT o.bucket, o.key, o.value, b.body FROM objects o \
                     LEFT JOIN bodies b ON b.bucket = o.bucket AND b.key = o.key";
                let rows = match &last {
                    None => self
                        .query(&format!("{SELECT} ORDER BY o.bucket, o.key LIMIT $1"), &[(&DUMP_BATCH, Type::INT8)])?,
                    Some((bucket, key)) => self.query(
                        &format!("{SELECT} WHERE (o.bucket, o.key) > ($1, $2) ORDER BY o.bucket, o.key LIMIT $3"),
                        &[(bucket, Type::TEXT), (key, Type::BYTEA), (&DUMP_BATCH, Type::INT8)],
                    )?,
                };
                let mut last = None;
                for row in &rows {
                    let (bucket, key): (String, Vec<u8>) = (col(row, 0)?, col(row, 1)?);
                    let object = with_body(decode(&col::<Vec<u8>>(row, 2)?)?, bodies, col(row, 3)?)?;
                    out.push(DumpEntry::Object { bucket: bucket.clone(), object });
                    last = Some((bucket, key));
                }
                if full(rows.len()) { DumpCursor::Objects(last) } else { DumpCursor::Versions(None) }
            }
            DumpCursor::Versions(last) => {
                const SELECT: &str = "SELECT v.bucket, v.key, v.ord, v.value, b.body FROM versions v \
                     LEFT JOIN version_bodies b ON b.bucket = v.bucket AND b.key = v.key AND b.ord = v.ord";
                let rows = match &last {
                    None => self.query(
                        &format!("{SELECT} ORDER BY v.bucket, v.key, v.ord LIMIT $1"),
                        &[(&DUMP_BATCH, Type::INT8)],
                    )?,
                    Some((bucket, key, order)) => self.query(
                        &format!(
                            "{SELECT} WHERE (v.bucket, v.key, v.ord) > ($1, $2, $3) ORDER BY v.bucket, v.key, v.ord LIMIT $4"
                        ),
                        &[(bucket, Type::TEXT), (key, Type::BYTEA), (order, Type::TEXT), (&DUMP_BATCH, Type::INT8)],
                    )?,
                };
                let mut last = None;
                for row in &rows {
                    let (bucket, key, order): (String, Vec<u8>, String) = (col(row, 0)?, col(row, 1)?, col(row, 2)?);
                    let object = with_body(decode(&col::<Vec<u8>>(row, 3)?)?, bodies, col(row, 4)?)?;
                    out.push(DumpEntry::Version { bucket: bucket.clone(), object });
                    last = Some((bucket, key, order));
                }
                if full(rows.len()) { DumpCursor::Versions(last) } else { DumpCursor::Uploads(None) }
            }
            DumpCursor::Uploads(last) => {
                const SELECT: &str = "SELECT bucket, key, upload_id, value FROM uploads";
                let rows = match &last {
                    None => self.query(
                        &format!("{SELECT} ORDER BY bucket, key, upload_id LIMIT $1"),
                        &[(&DUMP_BATCH, Type::INT8)],
                    )?,
                    Some((bucket, key, id)) => self.query(
                        &format!(
                            "{SELECT} WHERE (bucket, key, upload_id) > ($1, $2, $3) ORDER BY bucket, key, upload_id LIMIT $4"
                        ),
                        &[(bucket, Type::TEXT), (key, Type::BYTEA), (id, Type::TEXT), (&DUMP_BATCH, Type::INT8)],
                    )?,
                };
                let mut last = None;
                for row in &rows {
                    let (bucket, key, id): (String, Vec<u8>, String) = (col(row, 0)?, col(row, 1)?, col(row, 2)?);
                    out.push(DumpEntry::Upload { bucket: bucket.clone(), upload: decode(&col::<Vec<u8>>(row, 3)?)? });
                    last = Some((bucket, key, id));
                }
                if full(rows.len()) { DumpCursor::Uploads(last) } else { DumpCursor::Parts(None) }
            }
            DumpCursor::Parts(last) => {
                const SELECT: &str = "SELECT bucket, upload_id, number, value FROM parts";
                let rows = match &last {
                    None => self.query(
                        &format!("{SELECT} ORDER BY bucket, upload_id, number LIMIT $1"),
                        &[(&DUMP_BATCH, Type::INT8)],
                    )?,
                    Some((bucket, id, number)) => self.query(
                        &format!(
                            "{SELECT} WHERE (bucket, upload_id, number) > ($1, $2, $3) \
                             ORDER BY bucket, upload_id, number LIMIT $4"
                        ),
                        &[(bucket, Type::TEXT), (id, Type::TEXT), (number, Type::INT8), (&DUMP_BATCH, Type::INT8)],
                    )?,
                };
                let mut last = None;
                for row in &rows {
                    let (bucket, id, number): (String, String, i64) = (col(row, 0)?, col(row, 1)?, col(row, 2)?);
                    out.push(DumpEntry::Part {
                        bucket: bucket.clone(),
                        upload_id: id.clone(),
                        part: decode(&col::<Vec<u8>>(row, 3)?)?,
                    });
                    last = Some((bucket, id, number));
                }
                if full(rows.len()) { DumpCursor::Parts(last) } else { DumpCursor::Records(None) }
            }
            DumpCursor::Records(last) => {
                let rows = match &last {
                    None => self.query(
                        "SELECT kind, id, value FROM records ORDER BY kind, id LIMIT $1",
                        &[(&DUMP_BATCH, Type::INT8)],
                    )?,
                    Some((kind, id)) => self.query(
                        "SELECT kind, id, value FROM records WHERE (kind, id) > ($1, $2) ORDER BY kind, id LIMIT $3",
                        &[(kind, Type::TEXT), (id, Type::TEXT), (&DUMP_BATCH, Type::INT8)],
                    )?,
                };
                let mut last = None;
                for row in &rows {
                    let (kind, id): (String, String) = (col(row, 0)?, col(row, 1)?);
                    out.push(DumpEntry::Record { kind: kind.clone(), id: id.clone(), value: col(row, 2)? });
                    last = Some((kind, id));
                }
                if full(rows.len()) { DumpCursor::Records(last) } else { DumpCursor::Done }
            }
            DumpCursor::Done => DumpCursor::Done,
        };
        Ok((out, next))
    }
}

/// An object of a dump: with its inline body when the dump asked for bodies, without otherwise.
fn with_body(mut object: ObjectMeta, bodies: bool, body: Option<Vec<u8>>) -> StoreResult<ObjectMeta> {
    if bodies && object.is_inline() {
        attach_body(&mut object, body)?;
    }
    Ok(object)
}

impl DumpBatches for PgSnapshot {
    type Cursor = DumpCursor;

    fn start(&self) -> DumpCursor {
        DumpCursor::Buckets(None)
    }

    fn next_batch(&self, cursor: DumpCursor, bodies: bool) -> StoreResult<(Vec<DumpEntry>, Option<DumpCursor>)> {
        let (batch, next) = self.batch(cursor, bodies)?;
        Ok((batch, (!matches!(next, DumpCursor::Done)).then_some(next)))
    }
}

impl MetaSnapshot for PgSnapshot {
    fn entries(self: Arc<Self>, bodies: bool) -> DumpStream {
        dump_in_batches(self, bodies)
    }
}

impl Drop for PgSnapshot {
    /// Ends the transaction and returns the connection to the pool, on a thread of its own: the
    /// driver's calls block, and a snapshot may be dropped on an async worker.
    fn drop(&mut self) {
        let conn = self.conn.get_mut().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(mut conn) = conn {
            let spawned = std::thread::Builder::new().name("kura-pg-snapshot".into()).spawn(move || {
                if let Err(err) = conn.batch_execute("ROLLBACK") {
                    tracing::warn!(error = %err, "ending a PostgreSQL snapshot failed");
                }
            });
            if spawned.is_err() {
                tracing::warn!("cannot start a thread to end a PostgreSQL snapshot");
            }
        }
    }
}
