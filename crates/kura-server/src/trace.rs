//! The request trace: which resources authorisation allowed, and which objects the operation then
//! read or wrote in the metadata store, recorded side by side for one request.
//!
//! The audit log prints both (`resources`), so an operator sees what a request really touched (a copy
//! names its source); and the differential test of authorisation reads them to check, over generated
//! requests, that every object an operation touched is an object authorisation allowed — the
//! "authorise exactly what executes" invariant, observed rather than assumed.
//!
//! The trace lives in a task-local set by the dispatcher around one request (only while the audit log
//! is on); outside such a scope every recording call does nothing. The operations' metadata store is
//! wrapped in [`TracedMeta`], which records each object it is asked about; authorisation's own lookups
//! (existing-object tags) go to the bare store and are not recorded as touches.

use async_trait::async_trait;
use kura_store::{
    BlobId, BucketInfo, BucketSettings, ListPage, ListQuery, MetaSnapshot, MetaStore, ObjectLock, ObjectMeta, PartInfo,
    StoreResult, Tags, UploadInfo, UploadListPage, UploadListQuery, WriteCondition,
};
use serde::Serialize;
use std::sync::{Arc, Mutex};

/// What one request was allowed and what it touched.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct Trace {
    /// `ACTION RESOURCE` pairs that policy evaluation allowed (root requests skip evaluation).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub authorized: Vec<String>,
    /// Object ARNs the operation read or wrote in the metadata store, in order, without repeats.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub touched: Vec<String>,
}

impl Trace {
    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.authorized.is_empty() && self.touched.is_empty()
    }
}

tokio::task_local! {
    static CURRENT: Option<Arc<Mutex<Trace>>>;
}

/// Runs `fut`, with a fresh trace when `on`, and returns its output with what was recorded (`None`
/// when off). A combinator rather than an `async fn`, which would hold `fut` twice (as its argument and
/// inside the scope it awaits): this future is part of every S3 request's.
pub fn traced<F: std::future::Future>(
    fut: F,
    on: bool,
) -> impl std::future::Future<Output = (F::Output, Option<Trace>)> {
    use futures::FutureExt as _;
    let trace = on.then(|| Arc::new(Mutex::new(Trace::default())));
    CURRENT.scope(trace.clone(), fut).map(move |out| {
        let recorded = trace.map(|t| std::mem::take(&mut *t.lock().unwrap_or_else(std::sync::PoisonError::into_inner)));
        (out, recorded)
    })
}

/// Spawns `fut` as a task of its own that still records into the current request's trace (a
/// task-local does not follow a spawn): for work that must run to its end even if the request is
/// dropped (a commit and the reclaim after it).
pub fn spawn<F>(fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let current = CURRENT.try_with(Clone::clone).ok().flatten();
    tokio::spawn(CURRENT.scope(current, fut))
}

fn record(f: impl FnOnce(&mut Trace)) {
    let _ = CURRENT.try_with(|t| {
        if let Some(t) = t {
            f(&mut t.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        }
    });
}

/// Records that `action` on `resource` was allowed.
pub fn allowed(action: &str, resource: &str) {
    record(|t| t.authorized.push(format!("{action} {resource}")));
}

/// Records that the operation read or wrote object `key` of `bucket` (builds nothing outside a trace).
pub fn touched(bucket: &str, key: &str) {
    record(|t| {
        let arn = kura_policy::s3::object_arn(bucket, key);
        if !t.touched.contains(&arn) {
            t.touched.push(arn);
        }
    });
}

/// A metadata store that records every object it is asked about in the current request's trace.
pub struct TracedMeta(pub Arc<dyn MetaStore>);

#[async_trait]
impl MetaStore for TracedMeta {
    async fn create_bucket(&self, info: BucketInfo) -> StoreResult<()> {
        self.0.create_bucket(info).await
    }
    async fn get_bucket(&self, name: &str) -> StoreResult<Option<BucketInfo>> {
        self.0.get_bucket(name).await
    }
    async fn list_buckets(&self) -> StoreResult<Vec<BucketInfo>> {
        self.0.list_buckets().await
    }
    async fn delete_bucket(&self, name: &str) -> StoreResult<Vec<BlobId>> {
        self.0.delete_bucket(name).await
    }
    async fn put_object(&self, bucket: &str, object: ObjectMeta) -> StoreResult<Vec<BlobId>> {
        touched(bucket, &object.key);
        self.0.put_object(bucket, object).await
    }
    async fn put_object_if(
        &self,
        bucket: &str,
        object: ObjectMeta,
        condition: &WriteCondition,
    ) -> StoreResult<Vec<BlobId>> {
        touched(bucket, &object.key);
        self.0.put_object_if(bucket, object, condition).await
    }
    async fn get_object(&self, bucket: &str, key: &str) -> StoreResult<Option<ObjectMeta>> {
        touched(bucket, key);
        self.0.get_object(bucket, key).await
    }
    async fn get_object_record(&self, bucket: &str, key: &str) -> StoreResult<Option<ObjectMeta>> {
        touched(bucket, key);
        self.0.get_object_record(bucket, key).await
    }
    async fn delete_object_if(
        &self,
        bucket: &str,
        key: &str,
        condition: &WriteCondition,
    ) -> StoreResult<Option<ObjectMeta>> {
        touched(bucket, key);
        self.0.delete_object_if(bucket, key, condition).await
    }
    async fn set_object_tags(&self, bucket: &str, key: &str, tags: Tags) -> StoreResult<()> {
        touched(bucket, key);
        self.0.set_object_tags(bucket, key, tags).await
    }
    async fn set_version_tags(&self, bucket: &str, key: &str, version: Option<&str>, tags: Tags) -> StoreResult<()> {
        touched(bucket, key);
        self.0.set_version_tags(bucket, key, version, tags).await
    }
    async fn get_version(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        body: bool,
    ) -> StoreResult<Option<kura_store::versions::Found>> {
        touched(bucket, key);
        self.0.get_version(bucket, key, version, body).await
    }
    async fn delete_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        guard: kura_store::RemovalGuard,
    ) -> StoreResult<Option<ObjectMeta>> {
        touched(bucket, key);
        self.0.delete_version(bucket, key, version_id, guard).await
    }
    async fn put_noncurrent(&self, bucket: &str, object: ObjectMeta) -> StoreResult<()> {
        touched(bucket, &object.key);
        self.0.put_noncurrent(bucket, object).await
    }
    async fn list_versions(
        &self,
        bucket: &str,
        query: &kura_store::VersionListQuery,
    ) -> StoreResult<kura_store::VersionListPage> {
        self.0.list_versions(bucket, query).await
    }
    async fn set_version_lock(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        expected: ObjectLock,
        lock: ObjectLock,
    ) -> StoreResult<()> {
        touched(bucket, key);
        self.0.set_version_lock(bucket, key, version, expected, lock).await
    }
    async fn list_objects(&self, bucket: &str, query: &ListQuery) -> StoreResult<ListPage> {
        self.0.list_objects(bucket, query).await
    }
    async fn create_upload(&self, bucket: &str, upload: UploadInfo) -> StoreResult<()> {
        touched(bucket, &upload.key);
        self.0.create_upload(bucket, upload).await
    }
    async fn get_upload(&self, bucket: &str, upload_id: &str) -> StoreResult<Option<UploadInfo>> {
        let upload = self.0.get_upload(bucket, upload_id).await?;
        if let Some(u) = &upload {
            touched(bucket, &u.key);
        }
        Ok(upload)
    }
    async fn put_part(&self, bucket: &str, upload_id: &str, part: PartInfo) -> StoreResult<Option<BlobId>> {
        self.0.put_part(bucket, upload_id, part).await
    }
    async fn list_parts(&self, bucket: &str, upload_id: &str, after: u32, max: usize) -> StoreResult<Vec<PartInfo>> {
        self.0.list_parts(bucket, upload_id, after, max).await
    }
    async fn list_uploads(&self, bucket: &str, query: &UploadListQuery) -> StoreResult<UploadListPage> {
        self.0.list_uploads(bucket, query).await
    }
    async fn complete_upload_if(
        &self,
        bucket: &str,
        upload_id: &str,
        object: ObjectMeta,
        condition: &WriteCondition,
    ) -> StoreResult<Vec<BlobId>> {
        touched(bucket, &object.key);
        self.0.complete_upload_if(bucket, upload_id, object, condition).await
    }
    async fn abort_upload(&self, bucket: &str, upload_id: &str) -> StoreResult<Vec<BlobId>> {
        self.0.abort_upload(bucket, upload_id).await
    }
    async fn referenced_blobs(&self) -> StoreResult<std::collections::HashSet<BlobId>> {
        self.0.referenced_blobs().await
    }
    fn shares_blobs(&self) -> bool {
        self.0.shares_blobs()
    }
    async fn enqueue_reclaims(&self, ids: &[BlobId], due_ms: i64) -> StoreResult<()> {
        self.0.enqueue_reclaims(ids, due_ms).await
    }
    async fn take_due_reclaims(&self, now_ms: i64, max: usize) -> StoreResult<Vec<BlobId>> {
        self.0.take_due_reclaims(now_ms, max).await
    }
    async fn set_bucket_settings(
        &self,
        bucket: &str,
        expected: &BucketSettings,
        settings: BucketSettings,
    ) -> StoreResult<()> {
        self.0.set_bucket_settings(bucket, expected, settings).await
    }
    async fn put_record(&self, kind: &str, id: &str, value: Vec<u8>) -> StoreResult<()> {
        self.0.put_record(kind, id, value).await
    }
    async fn delete_record(&self, kind: &str, id: &str) -> StoreResult<bool> {
        self.0.delete_record(kind, id).await
    }
    async fn list_records(&self, kind: &str) -> StoreResult<Vec<(String, Vec<u8>)>> {
        self.0.list_records(kind).await
    }
    async fn get_record(&self, kind: &str, id: &str) -> StoreResult<Option<Vec<u8>>> {
        self.0.get_record(kind, id).await
    }
    /// A backup's snapshot touches no object on behalf of a request: nothing is recorded.
    async fn snapshot(&self) -> StoreResult<Arc<dyn MetaSnapshot>> {
        self.0.snapshot().await
    }
    fn storage_full(&self) -> bool {
        self.0.storage_full()
    }
    async fn check_available(&self) -> StoreResult<()> {
        self.0.check_available().await
    }
}
