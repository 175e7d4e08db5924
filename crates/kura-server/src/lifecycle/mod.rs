//! The lifecycle worker: a background task that applies the Enabled rules of every bucket's lifecycle
//! configuration: it expires current objects (`Days`, `Date`) and aborts incomplete multipart uploads
//! (`AbortIncompleteMultipartUpload`). Which action is due is decided by [`rules`] (pure).
//!
//! Bounded: a bucket is walked in pages of [`PAGE`] entries through the ordinary listing (each page
//! one read transaction), each action is its own small write, and a scan stops after
//! `max_actions_per_scan` actions. Resumable: after each page (and when a scan stops early) the
//! position is stored as a record (kind [`CURSOR_RECORD`], id = the bucket), so a restart continues
//! where the last scan stopped; a finished pass deletes it. Audited: every expiration and abort writes
//! an audit line (api `lifecycle`, caller `kura:lifecycle`, the rule's id). Safe against writers: an
//! object is deleted only if it is still the version the worker read ([`kura_store::WriteCondition::IfUnchanged`]).

pub mod config;
pub mod rules;

use crate::audit::{Attribution, Audit, Record};
use crate::metrics::Metrics;
use kura_store::lifecycle::LifecycleConfig;
use kura_store::{BlobStore, ListEntry, ListQuery, MetaStore, ObjectMeta, StoreError, StoreResult, UploadListQuery};
use rules::{Action, Candidate, DayLength, Version};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Record kind of the worker's per-bucket cursor (id = bucket name).
pub const CURSOR_RECORD: &str = "lifecycle-cursor";
/// Entries read per listing page.
pub const PAGE: usize = 1000;
/// The principal the audit lines name for what the worker does.
pub const PRINCIPAL: &str = "kura:lifecycle";
/// The metrics task name.
pub const TASK: &str = "lifecycle";
/// Actions one scan takes at most, unless configured.
pub const DEFAULT_MAX_ACTIONS_PER_SCAN: u64 = 100_000;

/// Where a pass over one bucket stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    /// Objects are done; the pass is in the uploads.
    uploads: bool,
    /// The last object key examined (objects phase) or the last upload's key (uploads phase).
    after: Option<String>,
    /// The last upload id examined (uploads phase), with `after`.
    after_upload: Option<String>,
}

/// What the worker needs: the stores, the audit log, the metrics and its settings.
pub struct Worker {
    /// Object metadata.
    pub meta: Arc<dyn MetaStore>,
    /// Bodies, reclaimed after a deletion commits.
    pub blobs: Arc<dyn BlobStore>,
    /// Where expirations and aborts are recorded.
    pub audit: Arc<Audit>,
    /// Where each scan is counted (task `lifecycle`).
    pub metrics: Arc<Metrics>,
    /// The length of a lifecycle day.
    pub day: DayLength,
    /// The pause between scans.
    pub interval: std::time::Duration,
    /// Actions one scan takes at most; the rest waits for the next scan.
    pub max_actions_per_scan: u64,
}

/// What one scan did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Scanned {
    /// Objects expired.
    pub expired: u64,
    /// Uploads aborted.
    pub aborted: u64,
    /// Objects left alone because they changed after they were read.
    pub skipped: u64,
}

impl Scanned {
    fn actions(&self) -> u64 {
        self.expired + self.aborted
    }
}

impl Worker {
    /// Scans now, then every `interval` after the previous scan ended; runs until the process ends.
    /// Each scan is counted in the metrics (task `lifecycle`, with the number of actions).
    pub async fn run_forever(self) {
        if self.day != DayLength::REAL {
            tracing::warn!(
                day_seconds = self.day.0,
                "lifecycle days are shortened (server.lifecycle.day_seconds): rules expire objects {}x sooner \
                 than they say; this is for tests only",
                DayLength::REAL.0 / self.day.0.max(1)
            );
        }
        loop {
            match self.scan(crate::base::clock::now_ms()).await {
                Ok(done) => self.metrics.background_run(TASK, Ok(done.actions())),
                Err(e) => {
                    tracing::warn!(error = %e, "the lifecycle scan failed; it resumes from its cursor next time");
                    self.metrics.background_run(TASK, Err(()));
                }
            }
            tokio::time::sleep(self.interval).await;
        }
    }

    /// One scan of every bucket with a lifecycle configuration, as of `now_ms`.
    ///
    /// # Errors
    /// The metadata store's; what was done before the error stays done and the cursor says where.
    pub async fn scan(&self, now_ms: i64) -> StoreResult<Scanned> {
        let mut done = Scanned::default();
        for bucket in self.meta.list_buckets().await? {
            if done.actions() >= self.max_actions_per_scan {
                break;
            }
            match bucket.settings.lifecycle.filter(|c| c.rules.iter().any(|r| r.enabled)) {
                Some(config) => match self.scan_bucket(&bucket.name, &config, now_ms, &mut done).await {
                    // Deleted meanwhile: nothing to do.
                    Err(StoreError::NoSuchBucket(_)) => {}
                    other => other?,
                },
                // No Enabled rule (any more): forget a cursor left by an earlier configuration. Read first,
                // so that a scan of buckets without lifecycle writes nothing.
                None => {
                    if self.meta.get_record(CURSOR_RECORD, &bucket.name).await?.is_some() {
                        self.meta.delete_record(CURSOR_RECORD, &bucket.name).await?;
                    }
                }
            }
        }
        Ok(done)
    }

    async fn scan_bucket(
        &self,
        bucket: &str,
        config: &LifecycleConfig,
        now_ms: i64,
        done: &mut Scanned,
    ) -> StoreResult<()> {
        let mut cursor = match self.meta.get_record(CURSOR_RECORD, bucket).await? {
            Some(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
            None => Cursor::default(),
        };
        if !cursor.uploads {
            loop {
                let query =
                    ListQuery { prefix: String::new(), delimiter: None, start_after: cursor.after.clone(), max: PAGE };
                let page = self.meta.list_objects(bucket, &query).await?;
                for entry in &page.entries {
                    let ListEntry::Object(object) = entry else { continue };
                    cursor.after = Some(object.key.clone());
                    let candidate = Candidate {
                        key: &object.key,
                        size: object.size,
                        tags: &object.tags,
                        last_modified_ms: object.last_modified_ms,
                        version: Version::Current,
                    };
                    let Some(due) = rules::object_action(&config.rules, &candidate, now_ms, self.day) else { continue };
                    match due.action {
                        Action::ExpireCurrent => {
                            if self.expire(bucket, object, due.rule).await? {
                                done.expired += 1;
                            } else {
                                done.skipped += 1;
                            }
                        }
                        // Versions other than the current one appear once versioning lands.
                        Action::ExpireNoncurrent | Action::RemoveDeleteMarker => {}
                    }
                    if done.actions() >= self.max_actions_per_scan {
                        return self.save(bucket, &cursor).await;
                    }
                }
                self.save(bucket, &cursor).await?;
                if !page.is_truncated {
                    break;
                }
            }
            cursor = Cursor { uploads: true, after: None, after_upload: None };
            self.save(bucket, &cursor).await?;
        }
        if config.rules.iter().any(|r| r.enabled && r.abort_incomplete_upload_days.is_some()) {
            loop {
                let query = UploadListQuery {
                    prefix: String::new(),
                    delimiter: None,
                    key_marker: cursor.after.clone(),
                    upload_id_marker: cursor.after_upload.clone(),
                    max: PAGE,
                };
                let page = self.meta.list_uploads(bucket, &query).await?;
                for upload in &page.uploads {
                    cursor.after = Some(upload.key.clone());
                    cursor.after_upload = Some(upload.upload_id.clone());
                    let due = rules::upload_action(&config.rules, &upload.key, upload.initiated_ms, now_ms, self.day);
                    let Some(rule) = due else { continue };
                    if self.abort(bucket, &upload.key, &upload.upload_id, rule).await? {
                        done.aborted += 1;
                    }
                    if done.actions() >= self.max_actions_per_scan {
                        return self.save(bucket, &cursor).await;
                    }
                }
                self.save(bucket, &cursor).await?;
                if !page.is_truncated {
                    break;
                }
            }
        }
        // The pass is complete: the next one starts from the beginning.
        self.meta.delete_record(CURSOR_RECORD, bucket).await?;
        Ok(())
    }

    async fn save(&self, bucket: &str, cursor: &Cursor) -> StoreResult<()> {
        let bytes = serde_json::to_vec(cursor).map_err(|e| StoreError::Backend(format!("lifecycle cursor: {e}")))?;
        self.meta.put_record(CURSOR_RECORD, bucket, bytes).await
    }

    /// THE one way lifecycle expires a current object: removes it only if it is still the version
    /// read (same ETag and Last-Modified), reclaims its blobs and writes the audit line. Answers whether
    /// it was removed (`false`: overwritten or deleted since it was read, left alone).
    ///
    /// (Once versioning lands, this is where the current version of a versioned bucket gets a delete
    /// marker instead of being removed.)
    pub async fn expire(&self, bucket: &str, object: &ObjectMeta, rule: &str) -> StoreResult<bool> {
        let seen = kura_store::WriteCondition::IfUnchanged {
            etag: object.etag.clone(),
            last_modified_ms: object.last_modified_ms,
        };
        match self.meta.delete_object_if(bucket, &object.key, &seen).await {
            Ok(Some(removed)) => {
                let blobs = removed.blobs();
                if !blobs.is_empty() {
                    self.blobs.reclaim(blobs).await;
                }
                self.audit("lifecycle:ExpireObject", bucket, &object.key, rule);
                Ok(true)
            }
            Ok(None) | Err(StoreError::ConditionFailed { .. } | StoreError::NoSuchKey { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Aborts an incomplete upload, reclaims its parts and writes the audit line; `false` when it was
    /// completed or aborted meanwhile.
    async fn abort(&self, bucket: &str, key: &str, upload_id: &str, rule: &str) -> StoreResult<bool> {
        match self.meta.abort_upload(bucket, upload_id).await {
            Ok(blobs) => {
                if !blobs.is_empty() {
                    self.blobs.reclaim(blobs).await;
                }
                self.audit("lifecycle:AbortMultipartUpload", bucket, key, rule);
                Ok(true)
            }
            Err(StoreError::NoSuchUpload(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn audit(&self, operation: &str, bucket: &str, key: &str, rule: &str) {
        tracing::info!(bucket, key, rule, operation, "lifecycle");
        let time =
            time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
        self.audit.record(&Record {
            time,
            request_id: uuid::Uuid::new_v4().simple().to_string().to_uppercase(),
            api: "lifecycle",
            operation: Some(operation.to_owned()),
            bucket: Some(bucket.to_owned()),
            key: Some(key.to_owned()),
            status: 204,
            error_code: None,
            bytes_in: 0,
            bytes_out: 0,
            duration_ms: 0.0,
            source_ip: "-".into(),
            signed_host: None,
            caller: Attribution {
                principal: Some(PRINCIPAL.into()),
                auth_type: Some("lifecycle"),
                ..Default::default()
            },
            resources: Default::default(),
            rule: Some(rule.to_owned()),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kura_store::UploadInfo;
    use kura_store::conformance::{bucket, inline_object, upload};
    use kura_store::lifecycle::{FilterPredicate, LifecycleRule, RuleFilter};
    use kura_store::memory::MemoryMetaStore;

    const DAY_MS: i64 = 86_400_000;

    fn worker(meta: Arc<dyn MetaStore>, blobs: &tempfile::TempDir, max_actions_per_scan: u64) -> Worker {
        Worker {
            meta,
            blobs: Arc::new(kura_store::file_blobs::FileBlobStore::open(blobs.path()).expect("blobs")),
            audit: Arc::new(Audit::disabled()),
            metrics: Metrics::new(),
            day: DayLength::REAL,
            interval: std::time::Duration::from_secs(3600),
            max_actions_per_scan,
        }
    }

    async fn setup(keys: &[&str]) -> Arc<dyn MetaStore> {
        let meta: Arc<dyn MetaStore> = Arc::new(MemoryMetaStore::new());
        meta.create_bucket(bucket("b")).await.expect("bucket");
        for key in keys {
            let object = ObjectMeta { last_modified_ms: 0, ..inline_object(key, b"x") };
            meta.put_object("b", object).await.expect("put");
        }
        let rule = LifecycleRule {
            id: "r".into(),
            enabled: true,
            filter: RuleFilter::Filter(FilterPredicate::All),
            expiration: Some(kura_store::lifecycle::Expiration::Days(1)),
            noncurrent_expiration: None,
            abort_incomplete_upload_days: Some(1),
        };
        let settings =
            kura_store::BucketSettings { lifecycle: Some(LifecycleConfig { rules: vec![rule] }), ..Default::default() };
        meta.set_bucket_settings("b", settings).await.expect("settings");
        meta
    }

    async fn keys(meta: &dyn MetaStore) -> Vec<String> {
        let page = meta.list_objects("b", &ListQuery { max: 100, ..Default::default() }).await.expect("list");
        page.entries.iter().map(|e| e.name().to_owned()).collect()
    }

    #[tokio::test]
    async fn an_object_overwritten_after_it_was_read_is_not_expired() {
        let meta = setup(&["k"]).await;
        let dir = tempfile::tempdir().expect("dir");
        let w = worker(meta.clone(), &dir, 10);
        let read = meta.get_object_record("b", "k").await.expect("get").expect("exists");
        // Overwritten with the same body: same ETag, a later Last-Modified.
        meta.put_object("b", ObjectMeta { last_modified_ms: 5, ..inline_object("k", b"x") }).await.expect("overwrite");
        assert!(!w.expire("b", &read, "r").await.expect("expire"), "left alone");
        assert_eq!(keys(meta.as_ref()).await, ["k"]);
        let current = meta.get_object_record("b", "k").await.expect("get").expect("exists");
        assert!(w.expire("b", &current, "r").await.expect("expire"), "the version read is expired");
        assert!(keys(meta.as_ref()).await.is_empty());
    }

    #[tokio::test]
    async fn a_scan_stops_after_its_actions_and_the_next_resumes_from_the_cursor() {
        let meta = setup(&["a", "b", "c"]).await;
        meta.create_upload("b", UploadInfo { initiated_ms: 0, ..upload("u", "u1") }).await.expect("upload");
        let dir = tempfile::tempdir().expect("dir");
        let w = worker(meta.clone(), &dir, 2);
        assert_eq!(w.scan(0).await.expect("scan"), Scanned::default(), "nothing is due yet");
        let now = 2 * DAY_MS;
        assert_eq!(w.scan(now).await.expect("scan").expired, 2);
        assert_eq!(keys(meta.as_ref()).await, ["c"]);
        assert!(meta.get_record(CURSOR_RECORD, "b").await.expect("get").is_some(), "the cursor is kept");
        // Written before the cursor: the resumed pass does not see it until the next pass.
        meta.put_object("b", ObjectMeta { last_modified_ms: 0, ..inline_object("0", b"x") }).await.expect("put");
        let second = w.scan(now).await.expect("scan");
        assert_eq!((second.expired, second.aborted), (1, 1));
        assert_eq!(keys(meta.as_ref()).await, ["0"]);
        // The cap was reached on the pass's last upload: the next scan finds the rest of the pass empty.
        assert_eq!(w.scan(now).await.expect("scan"), Scanned::default());
        assert!(meta.get_record(CURSOR_RECORD, "b").await.expect("get").is_none(), "a finished pass forgets it");
        assert_eq!(w.scan(now).await.expect("scan").expired, 1, "a new pass starts from the beginning");
        assert!(keys(meta.as_ref()).await.is_empty());
    }
}
