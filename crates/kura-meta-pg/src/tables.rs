//! kura-store's building blocks over the tables: the version collections ([`VersionRead`],
//! [`VersionWrite`]) and the listing cursors ([`KeyCursor`], [`SortedRecords`]), each a few statements
//! on a [`Tx`]. The rules (which version is current, what a put replaces, how a page is cut) are
//! kura-store's; nothing here decides.

use crate::{Tx, pg_error};
use kura_store::listing::{BatchStart, KeyCursor};
use kura_store::versions::{SortedRecords, VersionRead, VersionWrite, order_of};
use kura_store::{ObjectMeta, PartInfo, StoreError, StoreResult};
use postgres::Row;
use postgres::types::{FromSql, Type};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::VecDeque;

/// Encodes a record as redb does (JSON), so that both back ends store one encoding.
pub(crate) fn encode<T: Serialize>(value: &T) -> StoreResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| StoreError::Backend(format!("cannot encode a record: {e}")))
}

/// Decodes a record written by [`encode`].
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> StoreResult<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Backend(format!("cannot decode a stored record: {e}")))
}

/// Column `index` of `row`.
pub(crate) fn col<'r, T: FromSql<'r>>(row: &'r Row, index: usize) -> StoreResult<T> {
    row.try_get(index).map_err(|e| pg_error(&e))
}

/// An object key read back from its `bytea` column.
pub(crate) fn key_of(bytes: Vec<u8>) -> StoreResult<String> {
    String::from_utf8(bytes).map_err(|_| StoreError::Backend("a stored object key is not UTF-8".into()))
}

/// Takes an object's inline body out of it and encodes the rest: what its row's `value` holds, and
/// what its body row holds.
pub(crate) fn split_body(object: &mut ObjectMeta) -> StoreResult<(Vec<u8>, Option<bytes::Bytes>)> {
    let body = object.inline.take();
    Ok((encode(&*object)?, body))
}

/// Whether `object`, written over the current object `old`, leaves `old`'s inline body row to remove
/// (it has no inline body of its own to replace that row with).
pub(crate) fn drops_old_body(old: &ObjectMeta, object: &ObjectMeta) -> bool {
    object.inline.is_none() && old.is_inline()
}

/// Gives an inline record its body (an empty body may have no row), as redb does.
pub(crate) fn attach_body(object: &mut ObjectMeta, body: Option<Vec<u8>>) -> StoreResult<()> {
    object.inline = match body {
        Some(body) => Some(bytes::Bytes::from(body)),
        None if object.stored_len(object.size) == 0 => Some(bytes::Bytes::new()),
        None => {
            return Err(StoreError::Backend(format!(
                "object {:?} (version {}) has no segments and no inline body",
                object.key, object.version_id
            )));
        }
    };
    Ok(())
}

/// Decodes a `(value, body)` row: the record, with its body when `body` and it is inline.
pub(crate) fn object_row(row: &Row, body: bool) -> StoreResult<ObjectMeta> {
    let mut object: ObjectMeta = decode(&col::<Vec<u8>>(row, 0)?)?;
    if body && object.is_inline() {
        attach_body(&mut object, col(row, 1)?)?;
    }
    Ok(object)
}

/// Whether a bucket exists: a row, or none.
pub(crate) const BUCKET_EXISTS: &str = "SELECT 1 FROM buckets WHERE name = $1";

/// The statement that reads a key's current object ($1 bucket, $2 key), with its body if `body`
/// (rows for [`object_row`]).
pub(crate) fn current_statement(body: bool) -> &'static str {
    if body { CURRENT_WITH_BODY } else { CURRENT }
}

const CURRENT_WITH_BODY: &str = "SELECT o.value, b.body FROM objects o \
     LEFT JOIN bodies b ON b.bucket = o.bucket AND b.key = o.key WHERE o.bucket = $1 AND o.key = $2";
const CURRENT: &str = "SELECT value FROM objects WHERE bucket = $1 AND key = $2";
const VERSIONS_WITH_BODY: &str = "SELECT v.value, b.body FROM versions v \
     LEFT JOIN version_bodies b ON b.bucket = v.bucket AND b.key = v.key AND b.ord = v.ord \
     WHERE v.bucket = $1 AND v.key = $2 ORDER BY v.ord LIMIT $3";
const VERSIONS: &str = "SELECT value FROM versions WHERE bucket = $1 AND key = $2 ORDER BY ord LIMIT $3";
const VERSION_AT_WITH_BODY: &str = "SELECT v.value, b.body FROM versions v \
     LEFT JOIN version_bodies b ON b.bucket = v.bucket AND b.key = v.key AND b.ord = v.ord \
     WHERE v.bucket = $1 AND v.key = $2 AND v.ord = $3";
const VERSION_AT: &str = "SELECT value FROM versions WHERE bucket = $1 AND key = $2 AND ord = $3";

/// A row limit as SQL takes it.
pub(crate) fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl VersionRead for Tx<'_> {
    fn current(&self, bucket: &str, key: &str, body: bool) -> StoreResult<Option<ObjectMeta>> {
        let row = self.query_opt(current_statement(body), &[(&bucket, Type::TEXT), (&key.as_bytes(), Type::BYTEA)])?;
        row.map(|r| object_row(&r, body)).transpose()
    }

    fn versions(&self, bucket: &str, key: &str, body: bool, max: usize) -> StoreResult<Vec<ObjectMeta>> {
        let sql = if body { VERSIONS_WITH_BODY } else { VERSIONS };
        let rows =
            self.query(sql, &[(&bucket, Type::TEXT), (&key.as_bytes(), Type::BYTEA), (&limit(max), Type::INT8)])?;
        rows.iter().map(|r| object_row(r, body)).collect()
    }

    fn version_at(&self, bucket: &str, key: &str, order: &str, body: bool) -> StoreResult<Option<ObjectMeta>> {
        let sql = if body { VERSION_AT_WITH_BODY } else { VERSION_AT };
        let row =
            self.query_opt(sql, &[(&bucket, Type::TEXT), (&key.as_bytes(), Type::BYTEA), (&order, Type::TEXT)])?;
        row.map(|r| object_row(&r, body)).transpose()
    }
}

/// Writes like redb's `insert`: the row is added or replaced.
const UPSERT_OBJECT: &str = "INSERT INTO objects (bucket, key, value) VALUES ($1, $2, $3) \
     ON CONFLICT (bucket, key) DO UPDATE SET value = EXCLUDED.value";
/// [`UPSERT_OBJECT`] and the object's inline body in one statement ($4: the body).
const UPSERT_OBJECT_AND_BODY: &str = "WITH o AS (INSERT INTO objects (bucket, key, value) VALUES ($1, $2, $3) \
     ON CONFLICT (bucket, key) DO UPDATE SET value = EXCLUDED.value) \
     INSERT INTO bodies (bucket, key, body) VALUES ($1, $2, $4) \
     ON CONFLICT (bucket, key) DO UPDATE SET body = EXCLUDED.body";
/// [`UPSERT_OBJECT`] for an object without an inline body that replaces one with.
const UPSERT_OBJECT_DROPPING_BODY: &str = "WITH b AS (DELETE FROM bodies WHERE bucket = $1 AND key = $2) \
     INSERT INTO objects (bucket, key, value) VALUES ($1, $2, $3) \
     ON CONFLICT (bucket, key) DO UPDATE SET value = EXCLUDED.value";
const UPSERT_VERSION: &str = "INSERT INTO versions (bucket, key, ord, value) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (bucket, key, ord) DO UPDATE SET value = EXCLUDED.value";
const UPSERT_VERSION_BODY: &str = "INSERT INTO version_bodies (bucket, key, ord, body) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (bucket, key, ord) DO UPDATE SET body = EXCLUDED.body";

impl VersionWrite for Tx<'_> {
    fn insert_current(&mut self, bucket: &str, mut object: ObjectMeta) -> StoreResult<()> {
        let (value, body) = split_body(&mut object)?;
        let key = object.key.as_bytes();
        match body {
            Some(body) => self.execute(
                UPSERT_OBJECT_AND_BODY,
                &[(&bucket, Type::TEXT), (&key, Type::BYTEA), (&value, Type::BYTEA), (&body.as_ref(), Type::BYTEA)],
            )?,
            None => {
                self.execute(UPSERT_OBJECT, &[(&bucket, Type::TEXT), (&key, Type::BYTEA), (&value, Type::BYTEA)])?
            }
        };
        Ok(())
    }

    /// One statement: the upsert of the object (and its body), removing the old inline body when the
    /// new object has none.
    fn replace_current(&mut self, bucket: &str, old: &ObjectMeta, object: ObjectMeta) -> StoreResult<()> {
        if !drops_old_body(old, &object) {
            // The upserts replace the row, and the body when there is one: nothing else to remove.
            return self.insert_current(bucket, object);
        }
        let (key, value) = (object.key.as_bytes(), encode(&object)?);
        self.execute(UPSERT_OBJECT_DROPPING_BODY, &[(&bucket, Type::TEXT), (&key, Type::BYTEA), (&value, Type::BYTEA)])
            .map(drop)
    }

    fn remove_current(&mut self, bucket: &str, old: &ObjectMeta) -> StoreResult<()> {
        let params: &[(&(dyn postgres::types::ToSql + Sync), Type)] =
            &[(&bucket, Type::TEXT), (&old.key.as_bytes(), Type::BYTEA)];
        let sql = if old.is_inline() {
            "WITH b AS (DELETE FROM bodies WHERE bucket = $1 AND key = $2) \
             DELETE FROM objects WHERE bucket = $1 AND key = $2"
        } else {
            "DELETE FROM objects WHERE bucket = $1 AND key = $2"
        };
        self.execute(sql, params).map(drop)
    }

    fn insert_version(&mut self, bucket: &str, mut object: ObjectMeta) -> StoreResult<()> {
        let (value, body) = split_body(&mut object)?;
        let (key, order) = (object.key.as_bytes(), order_of(&object));
        self.execute(
            UPSERT_VERSION,
            &[(&bucket, Type::TEXT), (&key, Type::BYTEA), (&order, Type::TEXT), (&value, Type::BYTEA)],
        )?;
        if let Some(body) = body {
            let body = body.as_ref();
            self.execute(
                UPSERT_VERSION_BODY,
                &[(&bucket, Type::TEXT), (&key, Type::BYTEA), (&order, Type::TEXT), (&body, Type::BYTEA)],
            )?;
        }
        Ok(())
    }

    fn remove_version(&mut self, bucket: &str, old: &ObjectMeta) -> StoreResult<()> {
        let order = order_of(old);
        let params: &[(&(dyn postgres::types::ToSql + Sync), Type)] =
            &[(&bucket, Type::TEXT), (&old.key.as_bytes(), Type::BYTEA), (&order, Type::TEXT)];
        self.execute("DELETE FROM versions WHERE bucket = $1 AND key = $2 AND ord = $3", params)?;
        if old.is_inline() {
            self.execute("DELETE FROM version_bodies WHERE bucket = $1 AND key = $2 AND ord = $3", params)?;
        }
        Ok(())
    }

    fn rewrite(&mut self, bucket: &str, object: &ObjectMeta, current: bool) -> StoreResult<()> {
        let record = ObjectMeta { inline: None, ..object.clone() };
        let (key, value) = (object.key.as_bytes(), encode(&record)?);
        if current {
            self.execute(UPSERT_OBJECT, &[(&bucket, Type::TEXT), (&key, Type::BYTEA), (&value, Type::BYTEA)])?;
        } else {
            let order = order_of(object);
            self.execute(
                UPSERT_VERSION,
                &[(&bucket, Type::TEXT), (&key, Type::BYTEA), (&order, Type::TEXT), (&value, Type::BYTEA)],
            )?;
        }
        Ok(())
    }
}

/// The parts of an upload, ascending.
pub(crate) fn upload_parts(t: &Tx<'_>, bucket: &str, upload_id: &str) -> StoreResult<Vec<PartInfo>> {
    let rows = t.query(
        "SELECT value FROM parts WHERE bucket = $1 AND upload_id = $2 ORDER BY number",
        &[(&bucket, Type::TEXT), (&upload_id, Type::TEXT)],
    )?;
    rows.iter().map(|r| decode(&col::<Vec<u8>>(r, 0)?)).collect()
}

/// The key of an upload, if it exists.
pub(crate) fn upload_key(t: &Tx<'_>, bucket: &str, upload_id: &str) -> StoreResult<Option<String>> {
    let row = t.query_opt(
        "SELECT key FROM uploads WHERE bucket = $1 AND upload_id = $2",
        &[(&bucket, Type::TEXT), (&upload_id, Type::TEXT)],
    )?;
    row.map(|r| key_of(col(&r, 0)?)).transpose()
}

/// Removes an upload and its parts.
pub(crate) fn remove_upload(t: &Tx<'_>, bucket: &str, upload_id: &str) -> StoreResult<()> {
    let params: &[(&(dyn postgres::types::ToSql + Sync), Type)] = &[(&bucket, Type::TEXT), (&upload_id, Type::TEXT)];
    t.execute("DELETE FROM parts WHERE bucket = $1 AND upload_id = $2", params)?;
    t.execute("DELETE FROM uploads WHERE bucket = $1 AND upload_id = $2", params)?;
    Ok(())
}

/// Entries a cursor fetches per statement when it needs more than the page asks for (version listing).
const RECORD_BATCH: usize = 64;

/// A listing cursor over one bucket's current objects: one statement per batch. Items are the
/// encoded records, decoded once emitted.
pub(crate) struct ObjectCursor<'a, 't> {
    pub(crate) tx: &'a Tx<'t>,
    pub(crate) bucket: &'a str,
    last: Option<Vec<u8>>,
}

impl<'a, 't> ObjectCursor<'a, 't> {
    /// A cursor over `bucket`'s objects.
    pub(crate) fn new(tx: &'a Tx<'t>, bucket: &'a str) -> Self {
        Self { tx, bucket, last: None }
    }
}

impl KeyCursor for ObjectCursor<'_, '_> {
    type Item = Vec<u8>;
    /// A batch is a round trip: after a seek, a few entries at once (the page usually takes them).
    const FIRST_BATCH: usize = 8;

    fn next_batch(&mut self, start: BatchStart<'_>, max: usize) -> StoreResult<Vec<(String, Vec<u8>)>> {
        let (sql, from) = match start {
            BatchStart::AtOrAfter(key) => (
                "SELECT key, value FROM objects WHERE bucket = $1 AND key >= $2 ORDER BY key LIMIT $3",
                key.as_bytes().to_vec(),
            ),
            BatchStart::AfterLast => (
                "SELECT key, value FROM objects WHERE bucket = $1 AND key > $2 ORDER BY key LIMIT $3",
                self.last.clone().unwrap_or_default(),
            ),
        };
        let rows =
            self.tx.query(sql, &[(&self.bucket, Type::TEXT), (&from, Type::BYTEA), (&limit(max), Type::INT8)])?;
        let mut batch = Vec::with_capacity(rows.len());
        for row in rows {
            let key: Vec<u8> = col(&row, 0)?;
            self.last = Some(key.clone());
            batch.push((key_of(key)?, col(&row, 1)?));
        }
        Ok(batch)
    }
}

/// A listing cursor over one bucket's uploads, in (key, upload id) order. Items are the upload id and
/// the encoded record.
pub(crate) struct UploadCursor<'a, 't> {
    tx: &'a Tx<'t>,
    bucket: &'a str,
    last: Option<(Vec<u8>, String)>,
}

impl<'a, 't> UploadCursor<'a, 't> {
    /// A cursor over `bucket`'s uploads.
    pub(crate) fn new(tx: &'a Tx<'t>, bucket: &'a str) -> Self {
        Self { tx, bucket, last: None }
    }
}

impl KeyCursor for UploadCursor<'_, '_> {
    type Item = (String, Vec<u8>);
    const FIRST_BATCH: usize = 8;

    fn next_batch(&mut self, start: BatchStart<'_>, max: usize) -> StoreResult<Vec<(String, Self::Item)>> {
        let rows = match start {
            BatchStart::AtOrAfter(key) => self.tx.query(
                "SELECT key, upload_id, value FROM uploads WHERE bucket = $1 AND key >= $2 \
                 ORDER BY key, upload_id LIMIT $3",
                &[(&self.bucket, Type::TEXT), (&key.as_bytes(), Type::BYTEA), (&limit(max), Type::INT8)],
            )?,
            BatchStart::AfterLast => {
                let (key, id) = self.last.clone().unwrap_or_default();
                self.tx.query(
                    "SELECT key, upload_id, value FROM uploads WHERE bucket = $1 AND (key, upload_id) > ($2, $3) \
                     ORDER BY key, upload_id LIMIT $4",
                    &[(&self.bucket, Type::TEXT), (&key, Type::BYTEA), (&id, Type::TEXT), (&limit(max), Type::INT8)],
                )?
            }
        };
        let mut batch = Vec::with_capacity(rows.len());
        for row in rows {
            let key: Vec<u8> = col(&row, 0)?;
            let id: String = col(&row, 1)?;
            self.last = Some((key.clone(), id.clone()));
            batch.push((key_of(key)?, (id, col(&row, 2)?)));
        }
        Ok(batch)
    }
}

/// One side of a version listing ([`kura_store::versions::VersionCursor`]): one bucket's `objects`
/// (`current`) or `versions` rows from a seek on, fetched [`RECORD_BATCH`] at a time.
pub(crate) struct Records<'a, 't> {
    tx: &'a Tx<'t>,
    bucket: &'a str,
    current: bool,
    buffer: VecDeque<(Vec<u8>, String, ObjectMeta)>,
    /// The (key, order) of the last row fetched; `None` before a seek.
    last: Option<(Vec<u8>, String)>,
    /// Whether the last fetch reached the end of the bucket.
    done: bool,
}

impl<'a, 't> Records<'a, 't> {
    /// The `objects` side (`current`) or the `versions` side of `bucket`.
    pub(crate) fn new(tx: &'a Tx<'t>, bucket: &'a str, current: bool) -> Self {
        Self { tx, bucket, current, buffer: VecDeque::new(), last: None, done: true }
    }

    fn fetch(&mut self, from: &[u8], order: &str, inclusive: bool) -> StoreResult<()> {
        let max = limit(RECORD_BATCH);
        let rows = match (self.current, inclusive) {
            (true, true) => self.tx.query(
                "SELECT key, '', value FROM objects WHERE bucket = $1 AND key >= $2 ORDER BY key LIMIT $3",
                &[(&self.bucket, Type::TEXT), (&from, Type::BYTEA), (&max, Type::INT8)],
            )?,
            (true, false) => self.tx.query(
                "SELECT key, '', value FROM objects WHERE bucket = $1 AND key > $2 ORDER BY key LIMIT $3",
                &[(&self.bucket, Type::TEXT), (&from, Type::BYTEA), (&max, Type::INT8)],
            )?,
            (false, true) => self.tx.query(
                "SELECT key, ord, value FROM versions WHERE bucket = $1 AND key >= $2 ORDER BY key, ord LIMIT $3",
                &[(&self.bucket, Type::TEXT), (&from, Type::BYTEA), (&max, Type::INT8)],
            )?,
            (false, false) => self.tx.query(
                "SELECT key, ord, value FROM versions WHERE bucket = $1 AND (key, ord) > ($2, $3) \
                 ORDER BY key, ord LIMIT $4",
                &[(&self.bucket, Type::TEXT), (&from, Type::BYTEA), (&order, Type::TEXT), (&max, Type::INT8)],
            )?,
        };
        self.done = rows.len() < RECORD_BATCH;
        for row in rows {
            let key: Vec<u8> = col(&row, 0)?;
            let order: String = col(&row, 1)?;
            let object: ObjectMeta = decode(&col::<Vec<u8>>(&row, 2)?)?;
            self.last = Some((key.clone(), order.clone()));
            self.buffer.push_back((key, order, object));
        }
        Ok(())
    }
}

impl SortedRecords for Records<'_, '_> {
    fn seek(&mut self, key: &str) -> StoreResult<()> {
        self.buffer.clear();
        self.last = None;
        self.fetch(key.as_bytes(), "", true)
    }

    fn next_record(&mut self) -> StoreResult<Option<ObjectMeta>> {
        if self.buffer.is_empty()
            && !self.done
            && let Some((key, order)) = self.last.clone()
        {
            self.fetch(&key, &order, false)?;
        }
        Ok(self.buffer.pop_front().map(|(_, _, object)| object))
    }
}
