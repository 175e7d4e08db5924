//! [`MemoryMetaStore`]: the in-memory reference implementation of [`MetaStore`], on ordered maps.
//!
//! It is the model the conformance suite and property tests compare other back ends with, and a
//! convenient store for tests of the S3 layer. Nothing survives a restart.

use crate::listing::{self, BatchStart, KeyCursor, Listed, PageSpec};
use crate::versions::{self, SortedRecords, VersionCursor, VersionRead, VersionWrite, order_of};
use crate::{
    BlobId, BucketInfo, BucketSettings, DumpEntry, DumpStream, ListEntry, ListPage, ListQuery, MetaSnapshot, MetaStore,
    ObjectLock, ObjectMeta, PartInfo, RemovalGuard, StoreError, StoreResult, Tags, UploadInfo, UploadListPage,
    UploadListQuery, VersionListPage, VersionListQuery, WriteCondition, check_inline, duplicate_upload, unused_parts,
};
use async_trait::async_trait;
use futures::StreamExt;
use std::collections::btree_map::Range;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;
use std::sync::Arc;
use std::sync::{Mutex, MutexGuard};

/// The in-memory metadata store. Every method takes one lock, so each is atomic.
#[derive(Debug, Default)]
pub struct MemoryMetaStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    buckets: BTreeMap<String, BucketState>,
    records: BTreeMap<(String, String), Vec<u8>>,
    /// The reclaim queue: each queued id's due time, and the same entries in due order.
    reclaim_due: HashMap<BlobId, i64>,
    reclaims: std::collections::BTreeSet<(i64, BlobId)>,
}

#[derive(Debug)]
struct BucketState {
    info: BucketInfo,
    /// Current live objects by key (see [`crate::versions`]).
    objects: BTreeMap<String, ObjectMeta>,
    /// Every other version (noncurrent versions, delete markers) by (key, order).
    versions: BTreeMap<(String, String), ObjectMeta>,
    /// Keyed by (key, upload id), the listing order.
    uploads: BTreeMap<(String, String), UploadState>,
    /// Upload id → key.
    upload_keys: HashMap<String, String>,
}

#[derive(Debug)]
struct UploadState {
    info: UploadInfo,
    parts: BTreeMap<u32, PartInfo>,
}

impl MemoryMetaStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Poisoning cannot leave a half-applied change: every mutation validates before it writes,
        // and the writes themselves (map inserts/removes) do not panic. So recover the guard.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Inner {
    fn bucket(&self, name: &str) -> StoreResult<&BucketState> {
        self.buckets.get(name).ok_or_else(|| StoreError::NoSuchBucket(name.to_owned()))
    }
    fn bucket_mut(&mut self, name: &str) -> StoreResult<&mut BucketState> {
        self.buckets.get_mut(name).ok_or_else(|| StoreError::NoSuchBucket(name.to_owned()))
    }
}

impl BucketState {
    fn upload_key(&self, upload_id: &str) -> StoreResult<(String, String)> {
        match self.upload_keys.get(upload_id) {
            Some(key) => Ok((key.clone(), upload_id.to_owned())),
            None => Err(StoreError::NoSuchUpload(upload_id.to_owned())),
        }
    }
}

/// Bodies are kept inside the records here, so `body: false` reads drop them.
fn record(object: &ObjectMeta, body: bool) -> ObjectMeta {
    if body { object.clone() } else { ObjectMeta { inline: None, ..object.clone() } }
}

impl VersionRead for BucketState {
    fn current(&self, _bucket: &str, key: &str, body: bool) -> StoreResult<Option<ObjectMeta>> {
        Ok(self.objects.get(key).map(|o| record(o, body)))
    }
    fn versions(&self, _bucket: &str, key: &str, body: bool, limit: usize) -> StoreResult<Vec<ObjectMeta>> {
        let range = self.versions.range((key.to_owned(), String::new())..);
        Ok(range.take_while(|((k, _), _)| k == key).take(limit).map(|(_, o)| record(o, body)).collect())
    }
    fn version_at(&self, _bucket: &str, key: &str, order: &str, body: bool) -> StoreResult<Option<ObjectMeta>> {
        Ok(self.versions.get(&(key.to_owned(), order.to_owned())).map(|o| record(o, body)))
    }
}

impl VersionWrite for BucketState {
    fn insert_current(&mut self, _bucket: &str, object: ObjectMeta) -> StoreResult<()> {
        self.objects.insert(object.key.clone(), object);
        Ok(())
    }
    fn remove_current(&mut self, _bucket: &str, old: &ObjectMeta) -> StoreResult<()> {
        self.objects.remove(&old.key);
        Ok(())
    }
    fn insert_version(&mut self, _bucket: &str, object: ObjectMeta) -> StoreResult<()> {
        self.versions.insert((object.key.clone(), order_of(&object)), object);
        Ok(())
    }
    fn remove_version(&mut self, _bucket: &str, old: &ObjectMeta) -> StoreResult<()> {
        self.versions.remove(&(old.key.clone(), order_of(old)));
        Ok(())
    }
    fn rewrite(&mut self, _bucket: &str, object: &ObjectMeta, current: bool) -> StoreResult<()> {
        let slot = if current {
            self.objects.get_mut(&object.key)
        } else {
            self.versions.get_mut(&(object.key.clone(), order_of(object)))
        };
        if let Some(slot) = slot {
            let body = slot.inline.take();
            *slot = ObjectMeta { inline: body, ..object.clone() };
        }
        Ok(())
    }
}

/// One side of a version listing over a map, from a seek on.
struct MapRecords<'a, K> {
    map: &'a BTreeMap<K, ObjectMeta>,
    range: Option<Range<'a, K, ObjectMeta>>,
    make: fn(&str) -> K,
}

impl<K: Ord> SortedRecords for MapRecords<'_, K> {
    fn seek(&mut self, key: &str) -> StoreResult<()> {
        self.range = Some(self.map.range((self.make)(key)..));
        Ok(())
    }
    fn next_record(&mut self) -> StoreResult<Option<ObjectMeta>> {
        Ok(self.range.as_mut().and_then(Iterator::next).map(|(_, o)| record(o, false)))
    }
}

/// A listing cursor over a bucket's objects.
struct MapCursor<'a, V> {
    map: &'a BTreeMap<String, V>,
    range: Option<Range<'a, String, V>>,
}

impl<'a, V> KeyCursor for MapCursor<'a, V> {
    type Item = &'a V;
    fn next_batch(&mut self, start: BatchStart<'_>, limit: usize) -> StoreResult<Vec<(String, &'a V)>> {
        if let BatchStart::AtOrAfter(key) = start {
            self.range = Some(self.map.range::<str, _>((Bound::Included(key), Bound::Unbounded)));
        }
        let Some(range) = self.range.as_mut() else {
            return Ok(Vec::new());
        };
        Ok(range.take(limit).map(|(k, v)| (k.clone(), v)).collect())
    }
}

/// A listing cursor over a bucket's uploads, in (key, upload id) order.
struct UploadCursor<'a> {
    map: &'a BTreeMap<(String, String), UploadState>,
    range: Option<Range<'a, (String, String), UploadState>>,
}

impl<'a> KeyCursor for UploadCursor<'a> {
    type Item = &'a UploadState;
    fn next_batch(&mut self, start: BatchStart<'_>, limit: usize) -> StoreResult<Vec<(String, &'a UploadState)>> {
        if let BatchStart::AtOrAfter(key) = start {
            self.range = Some(self.map.range((key.to_owned(), String::new())..));
        }
        let Some(range) = self.range.as_mut() else {
            return Ok(Vec::new());
        };
        Ok(range.take(limit).map(|((k, _), v)| (k.clone(), v)).collect())
    }
}

/// A copy of the whole store, taken under its lock ([`MetaStore::snapshot`]): the model's snapshot.
struct MemorySnapshot {
    entries: Vec<DumpEntry>,
}

impl MetaSnapshot for MemorySnapshot {
    fn entries(self: Arc<Self>, bodies: bool) -> DumpStream {
        let entries: Vec<StoreResult<DumpEntry>> = self
            .entries
            .iter()
            .cloned()
            .map(|entry| match entry {
                DumpEntry::Object { bucket, object } if !bodies => {
                    Ok(DumpEntry::Object { bucket, object: ObjectMeta { inline: None, ..object } })
                }
                DumpEntry::Version { bucket, object } if !bodies => {
                    Ok(DumpEntry::Version { bucket, object: ObjectMeta { inline: None, ..object } })
                }
                other => Ok(other),
            })
            .collect();
        futures::stream::iter(entries).boxed()
    }
}

impl Inner {
    /// Every entry, in dump order (see [`MetaSnapshot::entries`]).
    fn dump(&self) -> Vec<DumpEntry> {
        let mut entries: Vec<DumpEntry> = self.buckets.values().map(|b| DumpEntry::Bucket(b.info.clone())).collect();
        for (name, bucket) in &self.buckets {
            entries
                .extend(bucket.objects.values().map(|o| DumpEntry::Object { bucket: name.clone(), object: o.clone() }));
        }
        for (name, bucket) in &self.buckets {
            entries.extend(
                bucket.versions.values().map(|o| DumpEntry::Version { bucket: name.clone(), object: o.clone() }),
            );
        }
        for (name, bucket) in &self.buckets {
            entries.extend(
                bucket.uploads.values().map(|u| DumpEntry::Upload { bucket: name.clone(), upload: u.info.clone() }),
            );
        }
        for (name, bucket) in &self.buckets {
            for upload in bucket.uploads.values() {
                entries.extend(upload.parts.values().map(|p| DumpEntry::Part {
                    bucket: name.clone(),
                    upload_id: upload.info.upload_id.clone(),
                    part: p.clone(),
                }));
            }
        }
        entries.extend(self.records.iter().map(|((kind, id), value)| DumpEntry::Record {
            kind: kind.clone(),
            id: id.clone(),
            value: value.clone(),
        }));
        entries
    }
}

#[async_trait]
impl MetaStore for MemoryMetaStore {
    async fn snapshot(&self) -> StoreResult<Arc<dyn MetaSnapshot>> {
        Ok(Arc::new(MemorySnapshot { entries: self.lock().dump() }))
    }

    async fn create_bucket(&self, bucket: BucketInfo) -> StoreResult<()> {
        let mut inner = self.lock();
        if inner.buckets.contains_key(&bucket.name) {
            return Err(StoreError::BucketAlreadyExists(bucket.name));
        }
        let state = BucketState {
            info: bucket.clone(),
            objects: BTreeMap::new(),
            versions: BTreeMap::new(),
            uploads: BTreeMap::new(),
            upload_keys: HashMap::new(),
        };
        inner.buckets.insert(bucket.name, state);
        Ok(())
    }

    async fn get_bucket(&self, name: &str) -> StoreResult<Option<BucketInfo>> {
        Ok(self.lock().buckets.get(name).map(|b| b.info.clone()))
    }

    async fn list_buckets(&self) -> StoreResult<Vec<BucketInfo>> {
        Ok(self.lock().buckets.values().map(|b| b.info.clone()).collect())
    }

    async fn delete_bucket(&self, name: &str) -> StoreResult<Vec<BlobId>> {
        let mut inner = self.lock();
        let bucket = inner.bucket(name)?;
        if !bucket.objects.is_empty() || !bucket.versions.is_empty() {
            return Err(StoreError::BucketNotEmpty(name.to_owned()));
        }
        let freed = bucket.uploads.values().flat_map(|u| u.parts.values().map(|p| p.blob)).collect();
        inner.buckets.remove(name);
        Ok(freed)
    }

    async fn put_object_if(
        &self,
        bucket_name: &str,
        object: ObjectMeta,
        condition: &WriteCondition,
    ) -> StoreResult<Vec<BlobId>> {
        check_inline(&object)?;
        let mut inner = self.lock();
        let bucket = inner.bucket_mut(bucket_name)?;
        versions::put(bucket, bucket_name, object, condition)?
    }

    async fn get_object(&self, bucket: &str, key: &str) -> StoreResult<Option<ObjectMeta>> {
        Ok(self.lock().bucket(bucket)?.objects.get(key).cloned())
    }

    async fn get_object_record(&self, bucket: &str, key: &str) -> StoreResult<Option<ObjectMeta>> {
        Ok(self.lock().bucket(bucket)?.objects.get(key).map(|o| ObjectMeta { inline: None, ..o.clone() }))
    }

    async fn delete_object_if(
        &self,
        bucket: &str,
        key: &str,
        condition: &WriteCondition,
    ) -> StoreResult<Option<ObjectMeta>> {
        let mut inner = self.lock();
        let stored = inner.bucket_mut(bucket)?;
        condition.check(bucket, key, stored.objects.get(key))?;
        versions::delete_current(stored, bucket, key)
    }

    async fn set_version_tags(&self, bucket: &str, key: &str, version: Option<&str>, tags: Tags) -> StoreResult<()> {
        versions::set_tags(self.lock().bucket_mut(bucket)?, bucket, key, version, tags)?
    }

    async fn get_version(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        body: bool,
    ) -> StoreResult<Option<versions::Found>> {
        versions::find(self.lock().bucket(bucket)?, bucket, key, version, body)
    }

    async fn delete_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        guard: RemovalGuard,
    ) -> StoreResult<Option<ObjectMeta>> {
        versions::delete_version(self.lock().bucket_mut(bucket)?, bucket, key, version_id, guard)?
    }

    async fn put_noncurrent(&self, bucket: &str, object: ObjectMeta) -> StoreResult<()> {
        check_inline(&object)?;
        self.lock().bucket_mut(bucket)?.insert_version(bucket, object)
    }

    async fn list_versions(&self, bucket: &str, query: &VersionListQuery) -> StoreResult<VersionListPage> {
        let inner = self.lock();
        let state = inner.bucket(bucket)?;
        let current = MapRecords { map: &state.objects, range: None, make: str::to_owned };
        let noncurrent = MapRecords { map: &state.versions, range: None, make: |k| (k.to_owned(), String::new()) };
        let mut cursor = VersionCursor::new(current, noncurrent);
        versions::list_page(&mut cursor, query)
    }

    async fn set_version_lock(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        expected: ObjectLock,
        lock: ObjectLock,
    ) -> StoreResult<()> {
        crate::lock::set_lock(self.lock().bucket_mut(bucket)?, bucket, key, version, (expected, lock))?
    }

    async fn list_objects(&self, bucket: &str, query: &ListQuery) -> StoreResult<ListPage> {
        let inner = self.lock();
        let bucket = inner.bucket(bucket)?;
        let mut cursor = MapCursor { map: &bucket.objects, range: None };
        let spec = PageSpec {
            prefix: &query.prefix,
            delimiter: query.delimiter.as_deref(),
            marker: query.start_after.as_deref(),
            max: query.max,
        };
        let listing = listing::list_page(&mut cursor, &spec, |_| false)?;
        let entries = listing
            .entries
            .into_iter()
            .map(|e| match e {
                // Listings carry metadata only, as every back end's do.
                Listed::Item(_, object) => ListEntry::Object(ObjectMeta { inline: None, ..object.clone() }),
                Listed::Prefix(p) => ListEntry::Prefix(p),
            })
            .collect();
        Ok(ListPage { entries, is_truncated: listing.is_truncated })
    }

    async fn create_upload(&self, bucket: &str, upload: UploadInfo) -> StoreResult<()> {
        let mut inner = self.lock();
        let bucket = inner.bucket_mut(bucket)?;
        if bucket.upload_keys.contains_key(&upload.upload_id) {
            return Err(duplicate_upload(&upload.upload_id));
        }
        bucket.upload_keys.insert(upload.upload_id.clone(), upload.key.clone());
        let id = (upload.key.clone(), upload.upload_id.clone());
        bucket.uploads.insert(id, UploadState { info: upload, parts: BTreeMap::new() });
        Ok(())
    }

    async fn get_upload(&self, bucket: &str, upload_id: &str) -> StoreResult<Option<UploadInfo>> {
        let inner = self.lock();
        let Some(bucket) = inner.buckets.get(bucket) else {
            return Ok(None);
        };
        let Ok(id) = bucket.upload_key(upload_id) else {
            return Ok(None);
        };
        Ok(bucket.uploads.get(&id).map(|u| u.info.clone()))
    }

    async fn put_part(&self, bucket: &str, upload_id: &str, part: PartInfo) -> StoreResult<Option<BlobId>> {
        let mut inner = self.lock();
        let bucket = inner.bucket_mut(bucket)?;
        let id = bucket.upload_key(upload_id)?;
        let upload = bucket.uploads.get_mut(&id).ok_or_else(|| StoreError::NoSuchUpload(upload_id.to_owned()))?;
        let new_blob = part.blob;
        Ok(upload.parts.insert(part.number, part).map(|old| old.blob).filter(|b| *b != new_blob))
    }

    async fn list_parts(&self, bucket: &str, upload_id: &str, after: u32, max: usize) -> StoreResult<Vec<PartInfo>> {
        let inner = self.lock();
        let bucket = inner.bucket(bucket)?;
        let id = bucket.upload_key(upload_id)?;
        let upload = bucket.uploads.get(&id).ok_or_else(|| StoreError::NoSuchUpload(upload_id.to_owned()))?;
        Ok(upload.parts.range((Bound::Excluded(after), Bound::Unbounded)).take(max).map(|(_, p)| p.clone()).collect())
    }

    async fn list_uploads(&self, bucket: &str, query: &UploadListQuery) -> StoreResult<UploadListPage> {
        let inner = self.lock();
        let bucket = inner.bucket(bucket)?;
        let mut cursor = UploadCursor { map: &bucket.uploads, range: None };
        let spec = PageSpec {
            prefix: &query.prefix,
            delimiter: query.delimiter.as_deref(),
            marker: query.key_marker.as_deref(),
            max: query.max,
        };
        let id_marker = query.upload_id_marker.as_deref();
        let listing = listing::list_page(&mut cursor, &spec, |u| {
            id_marker.is_some_and(|marker| u.info.upload_id.as_str() > marker)
        })?;
        listing::upload_page(listing, |upload| Ok(upload.info.clone()))
    }

    async fn complete_upload_if(
        &self,
        bucket_name: &str,
        upload_id: &str,
        mut object: ObjectMeta,
        condition: &WriteCondition,
    ) -> StoreResult<Vec<BlobId>> {
        let mut inner = self.lock();
        let bucket = inner.bucket_mut(bucket_name)?;
        let id = bucket.upload_key(upload_id)?;
        if !bucket.uploads.contains_key(&id) {
            return Err(StoreError::NoSuchUpload(upload_id.to_owned()));
        }
        object.key = id.0.clone();
        let mut freed = unused_parts(upload_id, bucket.uploads[&id].parts.values(), &object)?;
        freed.extend(versions::put(bucket, bucket_name, object, condition)??);
        bucket.uploads.remove(&id);
        bucket.upload_keys.remove(upload_id);
        Ok(freed)
    }

    async fn abort_upload(&self, bucket: &str, upload_id: &str) -> StoreResult<Vec<BlobId>> {
        let mut inner = self.lock();
        let bucket = inner.bucket_mut(bucket)?;
        let id = bucket.upload_key(upload_id)?;
        let upload = bucket.uploads.remove(&id).ok_or_else(|| StoreError::NoSuchUpload(upload_id.to_owned()))?;
        bucket.upload_keys.remove(upload_id);
        Ok(upload.parts.values().map(|p| p.blob).collect())
    }

    async fn referenced_blobs(&self) -> StoreResult<HashSet<BlobId>> {
        let inner = self.lock();
        let mut set = HashSet::new();
        for bucket in inner.buckets.values() {
            set.extend(bucket.objects.values().flat_map(|o| o.segments.iter().map(|s| s.blob)));
            set.extend(bucket.versions.values().flat_map(|o| o.segments.iter().map(|s| s.blob)));
            set.extend(bucket.uploads.values().flat_map(|u| u.parts.values().map(|p| p.blob)));
        }
        Ok(set)
    }

    async fn enqueue_reclaims(&self, ids: &[BlobId], due_ms: i64) -> StoreResult<()> {
        let mut inner = self.lock();
        for id in ids {
            let due = match inner.reclaim_due.get(id) {
                Some(&queued) if queued >= due_ms => continue,
                Some(&queued) => {
                    inner.reclaims.remove(&(queued, *id));
                    due_ms
                }
                None => due_ms,
            };
            inner.reclaim_due.insert(*id, due);
            inner.reclaims.insert((due, *id));
        }
        Ok(())
    }

    async fn take_due_reclaims(&self, now_ms: i64, max: usize) -> StoreResult<Vec<BlobId>> {
        let mut inner = self.lock();
        let due: Vec<(i64, BlobId)> = inner.reclaims.range(..=(now_ms, BlobId(u128::MAX))).take(max).copied().collect();
        for entry in &due {
            inner.reclaims.remove(entry);
            inner.reclaim_due.remove(&entry.1);
        }
        Ok(due.into_iter().map(|(_, id)| id).collect())
    }

    async fn set_bucket_settings(
        &self,
        bucket: &str,
        expected: &BucketSettings,
        settings: BucketSettings,
    ) -> StoreResult<()> {
        let mut state = self.lock();
        let stored = &mut state.bucket_mut(bucket)?.info.settings;
        if stored != expected {
            return Err(StoreError::ConditionFailed { key: String::new() });
        }
        *stored = settings;
        Ok(())
    }

    async fn put_record(&self, kind: &str, id: &str, value: Vec<u8>) -> StoreResult<()> {
        self.lock().records.insert((kind.to_owned(), id.to_owned()), value);
        Ok(())
    }

    async fn delete_record(&self, kind: &str, id: &str) -> StoreResult<bool> {
        Ok(self.lock().records.remove(&(kind.to_owned(), id.to_owned())).is_some())
    }

    async fn get_record(&self, kind: &str, id: &str) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.lock().records.get(&(kind.to_owned(), id.to_owned())).cloned())
    }

    async fn list_records(&self, kind: &str) -> StoreResult<Vec<(String, Vec<u8>)>> {
        let inner = self.lock();
        let start = (kind.to_owned(), String::new());
        Ok(inner
            .records
            .range(start..)
            .take_while(|((k, _), _)| k == kind)
            .map(|((_, id), v)| (id.clone(), v.clone()))
            .collect())
    }
}
