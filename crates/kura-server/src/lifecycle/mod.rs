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
                None => {
                    self.meta.delete_record(CURSOR_RECORD, &bucket.name).await?;
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
