//! A PUT as a compare-and-swap: the common PUT (a `null` version, on a key with no other versions)
//! in one or two statements instead of a transaction of five round trips.
//!
//! kura-store's rules ([`versions::put`]) run on the key's current row as read without a lock
//! ([`Plan`]), or, on the lanes, first as guessed without a read ([`Known`]: the row this store last
//! swapped in, else none); the write they decide is then sent as one call of `kura_put_current`
//! (migration 3, [`crate::schema`]; on the lanes in a group, [`crate::group`]), which takes the same
//! locks a write transaction takes and applies the write only if the key is still as read or
//! guessed. The decision therefore holds when it commits, as in the transaction. A refusal (a failed
//! condition) is decided on a read alone, never on a guess: it writes nothing, and the key was so
//! when it was read. Anything else goes to the transaction, unchanged: a versioned key, a delete
//! marker, a key changed between the read and the swap, a serialization failure.
//!
//! The attack on it: a key written between the read (or the guess) and the swap. The swap compares the
//! whole stored record (its version, ETag, blobs, last-modified time), so the rules' decision, and
//! the blobs it frees, are never applied to a key other than the one they were decided on; a wrong
//! guess costs one refused call.

use crate::group::{Columns, GROUP, SwapCall, Swaps};
use crate::lane::Lanes;
use crate::tables::{col, decode, drops_old_body, split_body};
use crate::tx::{self, Db, Mode, bucket_lock, key_lock};
use kura_store::versions::{self, NULL, VersionRead, VersionWrite};
use kura_store::{BlobId, ObjectMeta, StoreError, StoreResult, WriteCondition};
use postgres::Row;
use postgres::types::Type;
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::Mutex;

/// The bucket's existence, the key's current record and whether the key has other versions.
const READ: &str = "SELECT EXISTS (SELECT 1 FROM buckets WHERE name = $1), \
     (SELECT value FROM objects WHERE bucket = $1 AND key = $2), \
     EXISTS (SELECT 1 FROM versions WHERE bucket = $1 AND key = $2)";

/// Puts `object` by compare-and-swap when it can: `Ok(Some(freed))` when written (the replaced blobs
/// that `object` does not reuse), `Ok(None)` when the caller's transaction must decide, `Err` for a
/// refusal (a failed condition, no bucket) or a failure (an unreachable database: a swap cut off may
/// have committed, so it is never tried again).
pub(crate) fn put(
    db: &Db,
    bucket: &str,
    object: &ObjectMeta,
    condition: &WriteCondition,
) -> StoreResult<Option<Vec<BlobId>>> {
    if !applies(object) {
        return Ok(None);
    }
    let key = object.key.as_bytes();
    let read = tx::run(db, Mode::Single, &|t| {
        let row = t.query_opt(READ, &[(&bucket, Type::TEXT), (&key, Type::BYTEA)])?;
        key_read(row.as_ref())
    })?;
    let Some(Swap { freed, call }) = decide(bucket, object, condition, read)? else { return Ok(None) };
    // A group of one: the swap's one statement ([`crate::group::GROUP`]).
    let columns = Columns::new([call]);
    let swapped = tx::run_once(db, Mode::Single, &|t| {
        let row = t.query_opt(GROUP, &columns.params())?;
        col::<i32>(row.as_ref().ok_or_else(|| StoreError::Backend("the swap returned no row".into()))?, 1)
    });
    match swapped {
        Ok(answer) => outcome(bucket, answer, freed),
        Err((err, true)) => {
            tracing::debug!(error = %err, "a put's swap is retried as a transaction");
            Ok(None)
        }
        Err((err, false)) => Err(err),
    }
}

/// What [`put_on_lanes`] did.
pub(crate) enum Swapped {
    /// The swap was applied; the blobs it freed.
    Written(Vec<BlobId>),
    /// The transaction must decide (see [`put`]'s `Ok(None)`).
    Declined,
    /// No lane could run the read (nothing was written): the caller puts through the pool, [`put`] first.
    Unsent,
}

/// [`put`] on the [`Lanes`], without the blocking pool, the swap committed with those of other
/// requests ([`Swaps`]). The swap is first tried on a guess of the key's record, without a read: the
/// record this store last swapped in ([`Known`]), or none. A guess that is wrong (another writer, a
/// delete, a key that exists) is refused by the swap itself, which compares the whole stored record,
/// and the put then reads the key and swaps again. Only a write decided on the guess is sent: a refusal
/// (a failed condition) is never decided on a guess.
pub(crate) async fn put_on_lanes(
    lanes: &Lanes,
    swaps: &Swaps,
    known: &Known,
    bucket: &str,
    object: &ObjectMeta,
    condition: &WriteCondition,
) -> StoreResult<Swapped> {
    if !applies(object) {
        return Ok(Swapped::Declined);
    }
    let key = object.key.as_bytes();
    let guess = (true, known.get(bucket, key), false);
    if let Ok(Some(swap)) = decide(bucket, object, condition, guess)
        && let Some(freed) = apply(swaps, known, bucket, swap).await?
    {
        return Ok(Swapped::Written(freed));
    }
    let read = match lanes.query(READ, &[(&bucket, Type::TEXT), (&key, Type::BYTEA)]).await {
        Ok(rows) => key_read(rows.first())?,
        Err(_) => return Ok(Swapped::Unsent),
    };
    let Some(swap) = decide(bucket, object, condition, read)? else { return Ok(Swapped::Declined) };
    Ok(apply(swaps, known, bucket, swap).await?.map_or(Swapped::Declined, Swapped::Written))
}

/// Sends `swap` with the next group: the blobs it freed when applied, `None` when not (the key
/// changed, or the group wrote nothing), and notes the key's record in `known`.
async fn apply(swaps: &Swaps, known: &Known, bucket: &str, swap: Swap) -> StoreResult<Option<Vec<BlobId>>> {
    let Swap { freed, call } = swap;
    let (key, value) = (call.key.clone(), call.value.clone());
    let answer = swaps.swap(call).await?;
    match answer {
        Some(0) => known.note(bucket, key, value),
        _ => known.forget(bucket, &key),
    }
    match answer {
        Some(answer) => outcome(bucket, answer, freed),
        None => Ok(None),
    }
}

/// The records this store's swaps last wrote, by bucket and key (at most [`KNOWN_MAX`]; when full it
/// starts again empty): the guesses of [`put_on_lanes`]. A stale entry costs one refused swap, never a
/// wrong write.
#[derive(Default)]
pub(crate) struct Known {
    records: Mutex<Records>,
}

/// Encoded records by bucket and key.
type Records = HashMap<(String, Vec<u8>), Vec<u8>>;

/// How many records [`Known`] keeps.
const KNOWN_MAX: usize = 4096;

impl Known {
    fn get(&self, bucket: &str, key: &[u8]) -> Option<Vec<u8>> {
        self.lock().get(&(bucket.to_owned(), key.to_vec())).cloned()
    }

    fn note(&self, bucket: &str, key: Vec<u8>, record: Vec<u8>) {
        let mut records = self.lock();
        if records.len() >= KNOWN_MAX {
            records.clear();
        }
        records.insert((bucket.to_owned(), key), record);
    }

    fn forget(&self, bucket: &str, key: &[u8]) {
        self.lock().remove(&(bucket.to_owned(), key.to_vec()));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Records> {
        self.records.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Whether a swap can apply `object`: a `null` version that is not a delete marker.
fn applies(object: &ObjectMeta) -> bool {
    object.version_id == NULL && !object.delete_marker
}

/// What the read of a key found: the bucket's existence, the key's current record (encoded) and
/// whether the key has other versions.
type KeyRead = (bool, Option<Vec<u8>>, bool);

/// The [`READ`]'s row.
fn key_read(row: Option<&Row>) -> StoreResult<KeyRead> {
    let row = row.ok_or_else(|| StoreError::Backend("the put's read returned no row".into()))?;
    Ok((col::<bool>(row, 0)?, col::<Option<Vec<u8>>>(row, 1)?, col::<bool>(row, 2)?))
}

/// kura-store's rules on what the read found: the swap to send, `None` when the transaction must
/// decide, `Err` for a refusal (decided on the read: nothing is written).
fn decide(bucket: &str, object: &ObjectMeta, condition: &WriteCondition, read: KeyRead) -> StoreResult<Option<Swap>> {
    let (bucket_exists, expected, has_versions) = read;
    if !bucket_exists {
        return Err(StoreError::NoSuchBucket(bucket.to_owned()));
    }
    if has_versions {
        return Ok(None);
    }
    let current = expected.as_deref().map(decode).transpose()?;
    let mut plan = Plan { current, write: None, declined: Cell::new(false) };
    let freed = match versions::put(&mut plan, bucket, object.clone(), condition) {
        Ok(Ok(freed)) => freed,
        Ok(Err(refused)) => return Err(refused),
        Err(_) if plan.declined.get() => return Ok(None),
        Err(err) => return Err(err),
    };
    let Some(Upsert { mut object, drop_body }) = plan.write else { return Ok(None) };
    let (value, body) = split_body(&mut object)?;
    // The driver takes a body as bytes it can borrow (a copy of at most the inline limit).
    let body = body.map(|b| b.to_vec());
    let (bucket_lock, key_lock) = (bucket_lock(bucket), key_lock(bucket, &object.key));
    let (bucket, key) = (bucket.to_owned(), object.key.into_bytes());
    let call = SwapCall { bucket, key, bucket_lock, key_lock, expected, value, body, drop_body };
    Ok(Some(Swap { freed, call }))
}

/// One call of `kura_put_current`, as decided, and the blobs it frees when applied.
struct Swap {
    freed: Vec<BlobId>,
    call: SwapCall,
}

/// What a swap's answer means: 0 written (`freed` are the blobs it replaced), 1 no bucket, 2 the key
/// changed (the transaction decides).
fn outcome(bucket: &str, answer: i32, freed: Vec<BlobId>) -> StoreResult<Option<Vec<BlobId>>> {
    match answer {
        0 => Ok(Some(freed)),
        1 => Err(StoreError::NoSuchBucket(bucket.to_owned())),
        _ => Ok(None),
    }
}

/// The one write a swap can apply: the key's current object (and inline body), replacing what was
/// read; `drop_body` when the object replaced had an inline body and the new one has none.
struct Upsert {
    object: ObjectMeta,
    drop_body: bool,
}

/// kura-store's view of the key for [`versions::put`]: its current record as read, no other versions
/// (the read said so; the swap checks it again). It records the write the rules decide, and declines
/// (an error, with `declined` set) whatever a swap cannot apply, which the transaction then does.
struct Plan {
    current: Option<ObjectMeta>,
    write: Option<Upsert>,
    declined: Cell<bool>,
}

impl Plan {
    /// Declines the put: the transaction will decide it.
    fn decline(&self) -> StoreResult<()> {
        self.declined.set(true);
        Err(StoreError::Backend("not a put a swap can apply".into()))
    }

    /// Records the write, or declines a second one.
    fn upsert(&mut self, object: ObjectMeta, drop_body: bool) -> StoreResult<()> {
        if self.write.is_some() {
            return self.decline();
        }
        self.write = Some(Upsert { object, drop_body });
        Ok(())
    }
}

impl VersionRead for Plan {
    fn current(&self, _bucket: &str, _key: &str, body: bool) -> StoreResult<Option<ObjectMeta>> {
        match &self.current {
            // The body was not read: only a current version that is not `null` is read with it (it
            // moves to the versions), and that is the transaction's work.
            Some(object) if body && object.is_inline() => self.decline().map(|()| None),
            current => Ok(current.clone()),
        }
    }

    fn versions(&self, _bucket: &str, _key: &str, _body: bool, _limit: usize) -> StoreResult<Vec<ObjectMeta>> {
        Ok(Vec::new())
    }

    fn version_at(&self, _bucket: &str, _key: &str, _order: &str, _body: bool) -> StoreResult<Option<ObjectMeta>> {
        Ok(None)
    }
}

impl VersionWrite for Plan {
    fn insert_current(&mut self, _bucket: &str, object: ObjectMeta) -> StoreResult<()> {
        self.upsert(object, false)
    }

    fn replace_current(&mut self, _bucket: &str, old: &ObjectMeta, object: ObjectMeta) -> StoreResult<()> {
        let drop_body = drops_old_body(old, &object);
        self.upsert(object, drop_body)
    }

    fn remove_current(&mut self, _bucket: &str, _old: &ObjectMeta) -> StoreResult<()> {
        self.decline()
    }

    fn insert_version(&mut self, _bucket: &str, _object: ObjectMeta) -> StoreResult<()> {
        self.decline()
    }

    fn remove_version(&mut self, _bucket: &str, _old: &ObjectMeta) -> StoreResult<()> {
        self.decline()
    }

    fn rewrite(&mut self, _bucket: &str, _object: &ObjectMeta, _current: bool) -> StoreResult<()> {
        self.decline()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kura_store::conformance::{inline_object, object};
    use kura_store::versions::stamp;
    use kura_store::{Versioning, WriteCondition};

    /// What kura-store's rules decide on `plan` for `object`: the recorded write, or `None` (declined).
    fn decide(plan: &mut Plan, object: ObjectMeta, condition: &WriteCondition) -> Option<StoreResult<Vec<BlobId>>> {
        match versions::put(plan, "b", object, condition) {
            Ok(decided) => Some(decided),
            Err(_) if plan.declined.get() => None,
            Err(other) => panic!("a failure, not a decline: {other:?}"),
        }
    }

    fn plan(current: Option<ObjectMeta>) -> Plan {
        Plan { current, write: None, declined: Cell::new(false) }
    }

    #[test]
    fn a_null_version_over_nothing_or_a_null_version_is_one_upsert() {
        let mut fresh = plan(None);
        assert_eq!(
            decide(&mut fresh, object("k", BlobId(2)), &WriteCondition::Always).map(Result::ok),
            Some(Some(vec![]))
        );
        let write = fresh.write.expect("a write");
        assert_eq!((write.object, write.drop_body), (object("k", BlobId(2)), false));

        // Over a blob-backed null version: its blob is freed; over an inline one, its body row goes.
        let mut over_blob = plan(Some(object("k", BlobId(1))));
        let freed = decide(&mut over_blob, object("k", BlobId(2)), &WriteCondition::Always).expect("decided");
        assert_eq!(freed.expect("written"), [BlobId(1)]);
        let mut over_inline = plan(Some(inline_object("k", b"old")));
        decide(&mut over_inline, object("k", BlobId(2)), &WriteCondition::Always).expect("decided").expect("written");
        assert!(over_inline.write.expect("a write").drop_body, "the old inline body is removed");
        let mut inline_over_inline = plan(Some(inline_object("k", b"old")));
        decide(&mut inline_over_inline, inline_object("k", b"new"), &WriteCondition::Always)
            .expect("decided")
            .expect("ok");
        assert!(!inline_over_inline.write.expect("a write").drop_body, "the new body replaces the old row");
    }

    #[test]
    fn a_failed_condition_is_refused_on_the_read_and_writes_nothing() {
        let mut taken = plan(Some(object("k", BlobId(1))));
        let refused = decide(&mut taken, object("k", BlobId(2)), &WriteCondition::IfAbsent).expect("decided");
        assert!(matches!(refused, Err(StoreError::ConditionFailed { .. })), "{refused:?}");
        assert!(taken.write.is_none());
    }

    #[test]
    fn a_current_real_version_is_left_to_the_transaction() {
        // Versioning was on, then suspended: the current object is a real version, which must move to
        // the versions with its body, two writes a swap cannot apply.
        let mut versioned = object("k", BlobId(1));
        stamp(&mut versioned, Some(Versioning::Enabled));
        let mut null = object("k", BlobId(2));
        stamp(&mut null, Some(Versioning::Suspended));
        let mut over_version = plan(Some(versioned.clone()));
        assert!(decide(&mut over_version, null, &WriteCondition::Always).is_none(), "declined");
        // An inline real version: its body is not read at all.
        let mut inline_version = inline_object("k", b"v");
        stamp(&mut inline_version, Some(Versioning::Enabled));
        let mut null = object("k", BlobId(3));
        stamp(&mut null, Some(Versioning::Suspended));
        assert!(decide(&mut plan(Some(inline_version)), null, &WriteCondition::Always).is_none(), "declined");
    }
}
