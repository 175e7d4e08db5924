//! Object versions: their ids, their order, and the rules every back end applies to them.
//!
//! # Layout (every back end)
//! A back end keeps two collections per bucket:
//! - **current**: key → the current version of the key when it is a live object (not a delete marker).
//!   This is what ListObjects scans, so a plain listing costs one range scan of current keys however
//!   many versions each key has; it is also where every record written before versioning existed lives.
//! - **versions**: (key, order) → every other version: noncurrent versions and delete markers (a key
//!   whose latest version is a marker has no current entry; its marker is its first `versions` entry).
//!
//! `order` ([`order_of`]) sorts a key's versions newest first. A non-null version id is its own order
//! (ids are [`new_version_id`]s: inverted time, then random); a `null` version carries its order in
//! [`ObjectMeta::order`]. So a version is found by id with one point lookup, ListObjectVersions is one
//! merged range scan of both collections, and per-version fields (retention, legal hold) or "noncurrent
//! versions of a key, with when each became noncurrent" are a range scan of `versions` away.
//!
//! The algorithms below ([`put`], [`delete_version`], [`find`], [`set_tags`]) are written once, over
//! [`VersionRead`] / [`VersionWrite`], which each back end implements on its tables; the listing over
//! both collections is [`VersionCursor`].

use crate::listing::{self, BatchStart, KeyCursor, PageSpec};
use crate::{
    BlobId, LockChange, ObjectMeta, RemovalGuard, StoreError, StoreResult, Tags, VersionEntry, VersionListPage,
    VersionListQuery, Versioning, WriteCondition, dropped_blobs,
};
use std::sync::atomic::{AtomicU64, Ordering};

/// The id of a version written while the bucket was unversioned or suspended.
pub const NULL: &str = "null";

/// The last time (µs since the epoch) a version id was made in this process: ids are strictly newer.
static LAST_MICROS: AtomicU64 = AtomicU64::new(0);

/// A new version id: 16 hex digits of the inverted time in microseconds (so that newer ids sort
/// first), strictly later than every id this process made before, then 16 random hex digits (so ids
/// are not guessable). 32 characters of `[0-9a-f]`, URL-safe.
pub fn new_version_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX - 1));
    let mut last = LAST_MICROS.load(Ordering::Relaxed);
    let micros = loop {
        let next = now.max(last.saturating_add(1));
        match LAST_MICROS.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => break next,
            Err(seen) => last = seen,
        }
    };
    let random = uuid::Uuid::new_v4().as_u64_pair().0;
    format!("{:016x}{random:016x}", u64::MAX - micros)
}

/// Whether `id` could name a version: `null` or the form [`new_version_id`] makes. Anything else is
/// refused before any lookup (S3's InvalidArgument).
pub fn is_valid_version_id(id: &str) -> bool {
    id == NULL || (id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// Where `object` sorts among its key's versions (ascending = newest first): its recorded order, else
/// its id, else (a `null` record written before versioning existed) the order of an id made at its
/// last-modified time.
pub fn order_of(object: &ObjectMeta) -> String {
    if !object.order.is_empty() {
        object.order.clone()
    } else if object.version_id != NULL {
        object.version_id.clone()
    } else {
        let micros = u64::try_from(object.last_modified_ms).unwrap_or(0).saturating_mul(1000);
        format!("{:016x}{:016x}", u64::MAX - micros, 0)
    }
}

/// Gives a new version the id its bucket's versioning state calls for: a fresh id when versioning is
/// enabled; `null` otherwise, with an order (so it sorts among the other versions) once the bucket
/// has ever been versioned.
pub fn stamp(object: &mut ObjectMeta, versioning: Option<Versioning>) {
    match versioning {
        Some(Versioning::Enabled) => {
            object.version_id = new_version_id();
            object.order = String::new();
        }
        Some(Versioning::Suspended) => {
            object.version_id = NULL.to_owned();
            object.order = new_version_id();
        }
        None => {
            object.version_id = NULL.to_owned();
            object.order = String::new();
        }
    }
}

/// What a DELETE without a version id writes for `key` in a bucket whose versioning state is
/// `versioning`, at `now_ms`: `None` in an unversioned bucket (the object is removed permanently);
/// otherwise a delete marker, stamped ([`stamp`]) with a new id (enabled) or `null` (suspended: it
/// replaces the key's `null` version when [`put`]).
pub fn delete_marker(key: &str, versioning: Option<Versioning>, now_ms: i64) -> Option<ObjectMeta> {
    versioning?;
    let mut marker = ObjectMeta {
        key: key.to_owned(),
        size: 0,
        etag: String::new(),
        last_modified_ms: now_ms,
        segments: Vec::new(),
        part_sizes: Vec::new(),
        part_checksums: Vec::new(),
        headers: Default::default(),
        checksums: Default::default(),
        tags: Tags::new(),
        version_id: NULL.to_owned(),
        upload_id: None,
        delete_marker: true,
        order: String::new(),
        inline: None,
        lock: Default::default(),
        encryption: None,
    };
    stamp(&mut marker, versioning);
    Some(marker)
}

/// Reads of the two collections (see the module documentation), for one bucket that exists.
pub trait VersionRead {
    /// The current live object of `key`, with its inline body when `body`.
    fn current(&self, bucket: &str, key: &str, body: bool) -> StoreResult<Option<ObjectMeta>>;
    /// Up to `limit` entries of `versions` for `key`, newest first, with inline bodies when `body`.
    fn versions(&self, bucket: &str, key: &str, body: bool, limit: usize) -> StoreResult<Vec<ObjectMeta>>;
    /// The `versions` entry of `key` at `order`, with its inline body when `body`.
    fn version_at(&self, bucket: &str, key: &str, order: &str, body: bool) -> StoreResult<Option<ObjectMeta>>;
}

/// Writes of the two collections. Each writes the inline body ([`ObjectMeta::inline`]) beside the
/// record when the object has one, and removes it with the record.
pub trait VersionWrite: VersionRead {
    /// Makes `object` the current live object of its key (there is none when this is called).
    fn insert_current(&mut self, bucket: &str, object: ObjectMeta) -> StoreResult<()>;
    /// Removes the current object `old` and its inline body.
    fn remove_current(&mut self, bucket: &str, old: &ObjectMeta) -> StoreResult<()>;
    /// Replaces the current object `old` of a key with `object` (an overwrite of the `null` version):
    /// [`VersionWrite::remove_current`] then [`VersionWrite::insert_current`], which a store may do in
    /// one write.
    fn replace_current(&mut self, bucket: &str, old: &ObjectMeta, object: ObjectMeta) -> StoreResult<()> {
        self.remove_current(bucket, old)?;
        self.insert_current(bucket, object)
    }
    /// Adds `object` to `versions` at [`order_of`] it.
    fn insert_version(&mut self, bucket: &str, object: ObjectMeta) -> StoreResult<()>;
    /// Removes the `versions` entry `old` and its inline body.
    fn remove_version(&mut self, bucket: &str, old: &ObjectMeta) -> StoreResult<()>;
    /// Rewrites the record of `object` where it is (current or not), leaving its inline body as is.
    fn rewrite(&mut self, bucket: &str, object: &ObjectMeta, current: bool) -> StoreResult<()>;
}

/// A version found by [`find`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The version.
    pub object: ObjectMeta,
    /// Whether it is the current live object (in `current`); a current delete marker is not.
    pub current: bool,
}

/// The version of `key` that `version` names (`None`: the latest one, which may be a delete marker).
pub fn find<T: VersionRead + ?Sized>(
    t: &T,
    bucket: &str,
    key: &str,
    version: Option<&str>,
    body: bool,
) -> StoreResult<Option<Found>> {
    let current = t.current(bucket, key, body)?;
    let Some(id) = version else {
        if let Some(object) = current {
            return Ok(Some(Found { object, current: true }));
        }
        let latest = t.versions(bucket, key, body, 1)?.into_iter().next().filter(|v| v.delete_marker);
        return Ok(latest.map(|object| Found { object, current: false }));
    };
    if let Some(object) = current.filter(|c| c.version_id == id) {
        return Ok(Some(Found { object, current: true }));
    }
    let found = if id == NULL {
        match t.versions(bucket, key, false, usize::MAX)?.into_iter().find(|v| v.version_id == NULL) {
            Some(v) if body => t.version_at(bucket, key, &order_of(&v), true)?,
            other => other,
        }
    } else {
        t.version_at(bucket, key, id, body)?.filter(|v| v.version_id == id)
    };
    Ok(found.map(|object| Found { object, current: false }))
}

/// Writes `object` as the newest version of its key if `condition` holds for the current live object
/// (a current delete marker counts as no object). A `null` version replaces the key's existing `null`
/// version, whose blobs (those `object` does not reuse) are returned; any other version keeps every
/// existing one, the previous current object becoming noncurrent. A delete marker hides the key.
///
/// The `null` version replaced is judged by its lock here, in the write's own transaction, at the new
/// object's time and with no bypass: a legal hold or an active retention refuses the write (`Locked`).
/// The S3 layer checks the same before it reads a body, but the bucket's versioning and the version's
/// lock may change while a slow body arrives; without this, a write stamped `null` at its start would
/// replace a version locked since.
///
/// The outer result is a failure of the back end; the inner one the request's own refusal, which
/// writes nothing.
pub fn put<T: VersionWrite + ?Sized>(
    t: &mut T,
    bucket: &str,
    object: ObjectMeta,
    condition: &WriteCondition,
) -> StoreResult<StoreResult<Vec<BlobId>>> {
    let key = object.key.clone();
    // A `null` version usually replaces the `null` current object, whose inline body is not needed:
    // it is read only when the current object moves to the versions.
    let null = object.version_id == NULL;
    let current = t.current(bucket, &key, !null)?;
    if let Err(refused) = condition.check(bucket, &key, current.as_ref()) {
        return Ok(Err(refused));
    }
    let mut freed = Vec::new();
    let mut previous = current;
    let guard = RemovalGuard::at(object.last_modified_ms);
    let locked = |old: &ObjectMeta| {
        old.lock
            .check(LockChange::Remove, guard.now_ms, guard.bypass)
            .map_err(|refusal| StoreError::Locked { key: key.clone(), refusal })
    };
    if null {
        match previous.take() {
            Some(old) if old.version_id == NULL => {
                if let Err(refused) = locked(&old) {
                    return Ok(Err(refused));
                }
                freed = dropped_blobs(&old, &object);
                if !object.delete_marker {
                    t.replace_current(bucket, &old, object)?;
                    return Ok(Ok(freed));
                }
                t.remove_current(bucket, &old)?;
            }
            other => {
                // The current object (a real version) moves to the versions: with its body.
                previous = match other {
                    Some(_) => t.current(bucket, &key, true)?,
                    None => None,
                };
                let null = t.versions(bucket, &key, false, usize::MAX)?.into_iter().find(|v| v.version_id == NULL);
                if let Some(old) = null {
                    if let Err(refused) = locked(&old) {
                        return Ok(Err(refused));
                    }
                    freed = dropped_blobs(&old, &object);
                    t.remove_version(bucket, &old)?;
                }
            }
        }
    }
    if let Some(old) = previous {
        t.remove_current(bucket, &old)?;
        t.insert_version(bucket, old)?;
    }
    if object.delete_marker {
        t.insert_version(bucket, object)?;
    } else {
        t.insert_current(bucket, object)?;
    }
    Ok(Ok(freed))
}

/// Permanently removes the version of `key` with id `version_id` and returns it (its blobs are the
/// caller's to reclaim: no other version shares them), or `None` if there is none. When it was the
/// latest version, the next one becomes the latest (current again if it is a live object). A version
/// whose lock refuses removal under `guard` is the request's refusal (`Locked`, the inner result),
/// which writes nothing.
pub fn delete_version<T: VersionWrite + ?Sized>(
    t: &mut T,
    bucket: &str,
    key: &str,
    version_id: &str,
    guard: RemovalGuard,
) -> StoreResult<StoreResult<Option<ObjectMeta>>> {
    let Some(found) = find(t, bucket, key, Some(version_id), false)? else {
        return Ok(Ok(None));
    };
    if let Err(refusal) = found.object.lock.check(LockChange::Remove, guard.now_ms, guard.bypass) {
        return Ok(Err(StoreError::Locked { key: key.to_owned(), refusal }));
    }
    remove_found(t, bucket, key, found).map(Ok)
}

/// Removes a version [`find`] returned and promotes the next one.
fn remove_found<T: VersionWrite + ?Sized>(
    t: &mut T,
    bucket: &str,
    key: &str,
    found: Found,
) -> StoreResult<Option<ObjectMeta>> {
    if found.current {
        t.remove_current(bucket, &found.object)?;
    } else {
        t.remove_version(bucket, &found.object)?;
    }
    promote(t, bucket, key)?;
    Ok(Some(found.object))
}

/// Permanently removes the current live object of `key` (what DELETE does in an unversioned bucket).
pub fn delete_current<T: VersionWrite + ?Sized>(t: &mut T, bucket: &str, key: &str) -> StoreResult<Option<ObjectMeta>> {
    match t.current(bucket, key, false)? {
        Some(object) => remove_found(t, bucket, key, Found { object, current: true }),
        None => Ok(None),
    }
}

/// Makes the newest version of `key` current again when the key has no current object and that
/// version is live (after the versions above it were deleted).
fn promote<T: VersionWrite + ?Sized>(t: &mut T, bucket: &str, key: &str) -> StoreResult<()> {
    if t.current(bucket, key, false)?.is_some() {
        return Ok(());
    }
    if let Some(newest) = t.versions(bucket, key, true, 1)?.into_iter().next()
        && !newest.delete_marker
    {
        t.remove_version(bucket, &newest)?;
        t.insert_current(bucket, newest)?;
    }
    Ok(())
}

/// Replaces the tags of the version `version` names (`None`: the current object). A missing version is
/// `NoSuchVersion`, a missing object or a delete marker `NoSuchKey` (the request's own refusal).
pub fn set_tags<T: VersionWrite + ?Sized>(
    t: &mut T,
    bucket: &str,
    key: &str,
    version: Option<&str>,
    tags: Tags,
) -> StoreResult<StoreResult<()>> {
    let missing = || match version {
        Some(v) => StoreError::NoSuchVersion { key: key.to_owned(), version: v.to_owned() },
        None => StoreError::NoSuchKey { bucket: bucket.to_owned(), key: key.to_owned() },
    };
    let Some(Found { mut object, current }) = find(t, bucket, key, version, false)? else {
        return Ok(Err(missing()));
    };
    if object.delete_marker {
        return Ok(Err(StoreError::NoSuchKey { bucket: bucket.to_owned(), key: key.to_owned() }));
    }
    object.tags = tags;
    t.rewrite(bucket, &object, current)?;
    Ok(Ok(()))
}

/// One side of a [`VersionCursor`]: records of one bucket in key order (and, for `versions`, in order
/// within a key), from a seek on.
pub trait SortedRecords {
    /// Restarts at the first record whose key is `>= key`.
    fn seek(&mut self, key: &str) -> StoreResult<()>;
    /// The next record, or `None` at the end of the bucket.
    fn next_record(&mut self) -> StoreResult<Option<ObjectMeta>>;
}

/// A version listed by a [`VersionCursor`].
#[derive(Debug, Clone)]
pub struct Listed {
    /// The version (without inline body).
    pub object: ObjectMeta,
    /// Whether it is its key's latest version.
    pub is_latest: bool,
}

/// The listing cursor of ListObjectVersions: merges `current` and `versions` into (key ascending,
/// newest first) order. A key's current object, when it has one, is its latest version and comes
/// first; otherwise its first `versions` entry (a delete marker) is the latest.
pub struct VersionCursor<C, V> {
    current: C,
    versions: V,
    next_current: Option<ObjectMeta>,
    next_version: Option<ObjectMeta>,
    last_key: Option<String>,
    started: bool,
}

impl<C: SortedRecords, V: SortedRecords> VersionCursor<C, V> {
    /// A cursor over the two collections of one bucket.
    pub fn new(current: C, versions: V) -> Self {
        Self { current, versions, next_current: None, next_version: None, last_key: None, started: false }
    }
}

impl<C: SortedRecords, V: SortedRecords> KeyCursor for VersionCursor<C, V> {
    type Item = Listed;
    fn next_batch(&mut self, start: BatchStart<'_>, limit: usize) -> StoreResult<Vec<(String, Listed)>> {
        if let BatchStart::AtOrAfter(key) = start {
            self.current.seek(key)?;
            self.versions.seek(key)?;
            self.next_current = self.current.next_record()?;
            self.next_version = self.versions.next_record()?;
            self.last_key = None;
            self.started = true;
        }
        let mut batch = Vec::new();
        if !self.started {
            return Ok(batch);
        }
        while batch.len() < limit {
            let take_current = match (&self.next_current, &self.next_version) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some(c), Some(v)) => c.key <= v.key,
            };
            let object = if take_current {
                let taken = self.next_current.take();
                self.next_current = self.current.next_record()?;
                taken
            } else {
                let taken = self.next_version.take();
                self.next_version = self.versions.next_record()?;
                taken
            };
            let Some(object) = object else { break };
            let is_latest = self.last_key.as_deref() != Some(object.key.as_str());
            self.last_key = Some(object.key.clone());
            batch.push((object.key.clone(), Listed { object, is_latest }));
        }
        Ok(batch)
    }
}

/// Whether a listed version at the key marker comes after the version-id marker: by order for an id,
/// and for `null` (whose order the request does not carry) once the marker version has been passed.
pub struct AfterVersionMarker {
    marker: Option<String>,
    passed_null: bool,
}

impl AfterVersionMarker {
    /// The rule for a request's `version-id-marker`.
    pub fn new(marker: Option<&str>) -> Self {
        Self { marker: marker.map(str::to_owned), passed_null: false }
    }

    /// Whether `listed` (of the key marker's key) is included.
    pub fn includes(&mut self, listed: &Listed) -> bool {
        match self.marker.as_deref() {
            None => false,
            Some(NULL) => {
                if self.passed_null {
                    return true;
                }
                self.passed_null = listed.object.version_id == NULL;
                false
            }
            Some(marker) => order_of(&listed.object).as_str() > marker,
        }
    }
}

/// One page of ListObjectVersions from `cursor` (see [`VersionListQuery`]), by the one listing
/// algorithm ([`crate::listing`]).
pub fn list_page<C: KeyCursor<Item = Listed>>(
    cursor: &mut C,
    query: &VersionListQuery,
) -> StoreResult<VersionListPage> {
    let spec = PageSpec {
        prefix: &query.prefix,
        delimiter: query.delimiter.as_deref(),
        marker: query.key_marker.as_deref(),
        max: query.max,
    };
    let mut after = AfterVersionMarker::new(query.version_id_marker.as_deref());
    let listing = listing::list_page(cursor, &spec, |listed| after.includes(listed))?;
    let entries = listing
        .entries
        .into_iter()
        .map(|entry| match entry {
            listing::Listed::Item(_, Listed { object, is_latest }) => VersionEntry::Version { object, is_latest },
            listing::Listed::Prefix(p) => VersionEntry::Prefix(p),
        })
        .collect();
    Ok(VersionListPage { entries, is_truncated: listing.is_truncated })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_newest_first_and_are_valid() {
        let ids: Vec<String> = (0..100).map(|_| new_version_id()).collect();
        for pair in ids.windows(2) {
            assert!(pair[1] < pair[0], "{} then {}", pair[0], pair[1]);
        }
        assert!(ids.iter().all(|id| is_valid_version_id(id)));
        assert!(is_valid_version_id(NULL));
        for bad in ["", "NULL", "abc", "../../../etc/passwd", &"g".repeat(32), &"A".repeat(32), &"0".repeat(33)] {
            assert!(!is_valid_version_id(bad), "{bad:?}");
        }
    }
}
