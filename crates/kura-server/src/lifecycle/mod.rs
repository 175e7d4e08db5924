//! The lifecycle worker: a background task that applies the Enabled rules of every bucket's lifecycle
//! configuration: it expires current objects (`Days`, `Date`; in a versioned bucket by writing the
//! delete marker a DELETE would), deletes noncurrent versions (`NoncurrentVersionExpiration`), removes
//! expired object delete markers and aborts incomplete multipart uploads
//! (`AbortIncompleteMultipartUpload`). Which action is due is decided by [`rules`] (pure). A version
//! that Object Lock protects (active retention of either mode, or a legal hold) is never removed:
//! lifecycle never bypasses GOVERNANCE; it is skipped, counted and logged.
//!
//! Bounded: a bucket is walked in pages of [`PAGE`] entries through the ordinary listing, then (when
//! versioned) through ListObjectVersions (each page one read transaction), each action is its own small write, and a scan stops after
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
use kura_store::versions::{self, NULL};
use kura_store::{
    BlobStore, ListEntry, ListQuery, MetaStore, ObjectMeta, StoreError, StoreResult, UploadListQuery, VersionEntry,
    VersionListQuery, Versioning,
};
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
    /// Current objects are done; the pass is in the versions (versioned buckets only).
    #[serde(default)]
    versions: bool,
    /// Versions phase: the order ([`versions::order_of`]) of the last version examined, of key `after`.
    #[serde(default)]
    after_version: Option<String>,
    /// Versions phase: the Last-Modified of the last version examined (when the next, older version
    /// of the same key became noncurrent).
    #[serde(default)]
    newer_ms: Option<i64>,
    /// Versions phase: how many noncurrent versions of key `after` were examined so far.
    #[serde(default)]
    newer_noncurrent: u32,
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
    /// Noncurrent versions deleted.
    pub noncurrent_expired: u64,
    /// Expired object delete markers removed.
    pub markers_removed: u64,
    /// Versions due but left alone because Object Lock protects them.
    pub locked: u64,
}

impl Scanned {
    fn actions(&self) -> u64 {
        self.expired + self.aborted + self.noncurrent_expired + self.markers_removed
    }
}

/// What one action on one version came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done (and audited).
    Done,
    /// Left alone: the version changed or went away after it was read.
    Changed,
    /// Left alone: Object Lock protects it (or, suspended, the `null` version a marker would replace).
    Locked,
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
                Some(config) => {
                    match self.scan_bucket(&bucket.name, bucket.settings.versioning, &config, now_ms, &mut done).await {
                        // Deleted meanwhile: nothing to do.
                        Err(StoreError::NoSuchBucket(_)) => {}
                        other => other?,
                    }
                }
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
        versioning: Option<Versioning>,
        config: &LifecycleConfig,
        now_ms: i64,
        done: &mut Scanned,
    ) -> StoreResult<()> {
        let mut cursor = match self.meta.get_record(CURSOR_RECORD, bucket).await? {
            Some(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
            None => Cursor::default(),
        };
        if !cursor.uploads && !cursor.versions {
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
                    // Only ExpireCurrent is due on a current version.
                    if due.action == Action::ExpireCurrent {
                        match self.expire(bucket, versioning, object, due.rule, now_ms).await? {
                            Outcome::Done => done.expired += 1,
                            Outcome::Changed => done.skipped += 1,
                            Outcome::Locked => done.locked += 1,
                        }
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
            cursor = Cursor { versions: true, ..Cursor::default() };
            self.save(bucket, &cursor).await?;
        }
        if !cursor.uploads {
            let wanted =
                config.rules.iter().any(|r| r.enabled && (r.noncurrent_expiration.is_some() || r.expiration.is_some()));
            if versioning.is_some() && wanted && self.scan_versions(bucket, config, now_ms, done, &mut cursor).await? {
                return self.save(bucket, &cursor).await;
            }
            cursor = Cursor { uploads: true, ..Cursor::default() };
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

    /// The versions phase: walks ListObjectVersions from the cursor, deleting the noncurrent versions
    /// and removing the expired object delete markers the rules ask for. Answers whether it stopped
    /// because the scan's actions ran out (the cursor says where).
    async fn scan_versions(
        &self,
        bucket: &str,
        config: &LifecycleConfig,
        now_ms: i64,
        done: &mut Scanned,
        cursor: &mut Cursor,
    ) -> StoreResult<bool> {
        loop {
            let query = VersionListQuery {
                prefix: String::new(),
                delimiter: None,
                key_marker: cursor.after.clone(),
                // Orders, not ids: a `null` version's order finds the place even after it is deleted.
                version_id_marker: cursor.after.as_ref().and(cursor.after_version.clone()),
                max: PAGE,
            };
            let page = self.meta.list_versions(bucket, &query).await?;
            for entry in &page.entries {
                let VersionEntry::Version { object, is_latest } = entry else { continue };
                if cursor.after.as_deref() != Some(object.key.as_str()) {
                    cursor.newer_ms = None;
                    cursor.newer_noncurrent = 0;
                }
                let (newer_ms, newer_noncurrent) = (cursor.newer_ms, cursor.newer_noncurrent);
                cursor.after = Some(object.key.clone());
                cursor.after_version = Some(versions::order_of(object));
                cursor.newer_ms = Some(object.last_modified_ms);
                let version = if *is_latest {
                    // A live latest version is the current object: the objects phase saw it.
                    if !object.delete_marker {
                        continue;
                    }
                    // Whether it is alone is asked only when a rule would remove it (below).
                    rules::Version::ExpiredDeleteMarker
                } else {
                    cursor.newer_noncurrent = newer_noncurrent.saturating_add(1);
                    // It became noncurrent when the version listed just before it was written.
                    Version::Noncurrent { since_ms: newer_ms.unwrap_or(object.last_modified_ms), newer_noncurrent }
                };
                let candidate = Candidate {
                    key: &object.key,
                    size: object.size,
                    tags: &object.tags,
                    last_modified_ms: object.last_modified_ms,
                    version,
                };
                let Some(due) = rules::object_action(&config.rules, &candidate, now_ms, self.day) else { continue };
                if version == Version::ExpiredDeleteMarker && !self.lone(bucket, &object.key).await? {
                    continue;
                }
                let outcome = match due.action {
                    Action::ExpireNoncurrent | Action::RemoveDeleteMarker => {
                        self.remove(bucket, object, due.action, due.rule, now_ms).await?
                    }
                    Action::ExpireCurrent => continue,
                };
                match (outcome, due.action) {
                    (Outcome::Done, Action::RemoveDeleteMarker) => done.markers_removed += 1,
                    (Outcome::Done, _) => done.noncurrent_expired += 1,
                    (Outcome::Changed, _) => done.skipped += 1,
                    (Outcome::Locked, _) => done.locked += 1,
                }
                if done.actions() >= self.max_actions_per_scan {
                    return Ok(true);
                }
            }
            self.save(bucket, cursor).await?;
            if !page.is_truncated {
                return Ok(false);
            }
        }
    }

    /// Whether the only version `key` has left is its latest one.
    async fn lone(&self, bucket: &str, key: &str) -> StoreResult<bool> {
        let query = VersionListQuery {
            prefix: key.to_owned(),
            delimiter: None,
            key_marker: None,
            version_id_marker: None,
            max: 2,
        };
        let page = self.meta.list_versions(bucket, &query).await?;
        let mine = |e: &&VersionEntry| matches!(e, VersionEntry::Version { object, .. } if object.key == key);
        Ok(page.entries.iter().filter(mine).count() == 1)
    }

    /// THE one way lifecycle removes a version permanently (a noncurrent version, or an expired object
    /// delete marker): reads it again, leaves it alone if Object Lock protects it (lifecycle never
    /// bypasses GOVERNANCE) or, for a marker, if it is no longer the key's only version; otherwise
    /// deletes it, reclaims its blobs and writes the audit line with its version id.
    async fn remove(
        &self,
        bucket: &str,
        listed: &ObjectMeta,
        action: Action,
        rule: &str,
        now_ms: i64,
    ) -> StoreResult<Outcome> {
        let (key, id) = (listed.key.as_str(), listed.version_id.as_str());
        let Some(found) = self.meta.get_version(bucket, key, Some(id), false).await? else {
            return Ok(Outcome::Changed);
        };
        if found.object.lock.protects(now_ms) {
            tracing::info!(
                bucket,
                key,
                version_id = id,
                rule,
                "lifecycle: Object Lock protects the version; left alone"
            );
            return Ok(Outcome::Locked);
        }
        let operation = match action {
            Action::RemoveDeleteMarker if found.object.delete_marker && self.lone(bucket, key).await? => {
                "lifecycle:RemoveDeleteMarker"
            }
            Action::ExpireNoncurrent if !found.current && found.object.last_modified_ms == listed.last_modified_ms => {
                "lifecycle:ExpireNoncurrentVersion"
            }
            _ => return Ok(Outcome::Changed),
        };
        // The store judges the lock again in the removal's transaction: one set since the read wins.
        match self.meta.delete_version(bucket, key, id, kura_store::RemovalGuard::at(now_ms)).await {
            Err(kura_store::StoreError::Locked { .. }) => Ok(Outcome::Locked),
            Err(e) => Err(e),
            Ok(Some(removed)) => {
                let blobs = removed.blobs();
                if !blobs.is_empty() {
                    self.blobs.reclaim(blobs).await;
                }
                self.audit(operation, bucket, key, Some(id), rule);
                Ok(Outcome::Done)
            }
            Ok(None) => Ok(Outcome::Changed),
        }
    }

    async fn save(&self, bucket: &str, cursor: &Cursor) -> StoreResult<()> {
        let bytes = serde_json::to_vec(cursor).map_err(|e| StoreError::Backend(format!("lifecycle cursor: {e}")))?;
        self.meta.put_record(CURSOR_RECORD, bucket, bytes).await
    }

    /// THE one way lifecycle expires a current object, only if it is still the version read (same
    /// ETag and Last-Modified): as a DELETE without a version id does ([`versions::delete_marker`]):
    /// unversioned, it is removed; versioning enabled, a delete marker hides it; suspended, a `null`
    /// delete marker replaces the `null` version (left alone when Object Lock protects that one).
    /// Reclaims the blobs no version references any more and writes the audit line.
    pub async fn expire(
        &self,
        bucket: &str,
        versioning: Option<Versioning>,
        object: &ObjectMeta,
        rule: &str,
        now_ms: i64,
    ) -> StoreResult<Outcome> {
        let seen = kura_store::WriteCondition::IfUnchanged {
            etag: object.etag.clone(),
            last_modified_ms: object.last_modified_ms,
        };
        let Some(marker) = versions::delete_marker(&object.key, versioning, crate::base::clock::now_ms()) else {
            return match self.meta.delete_object_if(bucket, &object.key, &seen).await {
                Ok(Some(removed)) => {
                    let blobs = removed.blobs();
                    if !blobs.is_empty() {
                        self.blobs.reclaim(blobs).await;
                    }
                    self.audit("lifecycle:ExpireObject", bucket, &object.key, None, rule);
                    Ok(Outcome::Done)
                }
                Ok(None) | Err(StoreError::ConditionFailed { .. } | StoreError::NoSuchKey { .. }) => {
                    Ok(Outcome::Changed)
                }
                Err(e) => Err(e),
            };
        };
        if marker.version_id == NULL
            && let Some(replaced) = self.meta.get_version(bucket, &object.key, Some(NULL), false).await?
            && replaced.object.lock.protects(now_ms)
        {
            tracing::info!(bucket, key = %object.key, rule, "lifecycle: Object Lock protects the null version; left alone");
            return Ok(Outcome::Locked);
        }
        let marker_id = marker.version_id.clone();
        match self.meta.put_object_if(bucket, marker, &seen).await {
            Ok(freed) => {
                if !freed.is_empty() {
                    self.blobs.reclaim(freed).await;
                }
                self.audit("lifecycle:ExpireObject", bucket, &object.key, Some(&marker_id), rule);
                Ok(Outcome::Done)
            }
            Err(StoreError::ConditionFailed { .. } | StoreError::NoSuchKey { .. }) => Ok(Outcome::Changed),
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
                self.audit("lifecycle:AbortMultipartUpload", bucket, key, None, rule);
                Ok(true)
            }
            Err(StoreError::NoSuchUpload(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn audit(&self, operation: &str, bucket: &str, key: &str, version_id: Option<&str>, rule: &str) {
        tracing::info!(bucket, key, version_id, rule, operation, "lifecycle");
        let time =
            time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
        self.audit.record(Record {
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
            sse: None,
            rule: Some(rule.to_owned()),
            version_id: version_id.map(str::to_owned),
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
        meta.set_bucket_settings("b", &kura_store::BucketSettings::default(), settings).await.expect("settings");
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
        assert_eq!(w.expire("b", None, &read, "r", 0).await.expect("expire"), Outcome::Changed, "left alone");
        assert_eq!(keys(meta.as_ref()).await, ["k"]);
        let current = meta.get_object_record("b", "k").await.expect("get").expect("exists");
        let outcome = w.expire("b", None, &current, "r", 0).await.expect("expire");
        assert_eq!(outcome, Outcome::Done, "the version read is expired");
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

    /// A store with bucket `b` in state `versioning` and `rule` as its lifecycle configuration.
    async fn versioned(versioning: Versioning, rule: LifecycleRule) -> Arc<dyn MetaStore> {
        let meta: Arc<dyn MetaStore> = Arc::new(MemoryMetaStore::new());
        meta.create_bucket(bucket("b")).await.expect("bucket");
        let settings = kura_store::BucketSettings {
            versioning: Some(versioning),
            lifecycle: Some(LifecycleConfig { rules: vec![rule] }),
            ..Default::default()
        };
        meta.set_bucket_settings("b", &kura_store::BucketSettings::default(), settings).await.expect("settings");
        meta
    }

    fn no_rule() -> LifecycleRule {
        LifecycleRule {
            id: "r".into(),
            enabled: true,
            filter: RuleFilter::Filter(FilterPredicate::All),
            expiration: None,
            noncurrent_expiration: None,
            abort_incomplete_upload_days: None,
        }
    }

    /// The versions of `key`, newest first, as (version id, is a delete marker).
    async fn versions_of(meta: &dyn MetaStore, key: &str) -> Vec<(String, bool)> {
        let query = VersionListQuery { max: 100, ..Default::default() };
        let page = meta.list_versions("b", &query).await.expect("list");
        page.entries
            .iter()
            .filter_map(|e| match e {
                VersionEntry::Version { object, .. } if object.key == key => {
                    Some((object.version_id.clone(), object.delete_marker))
                }
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn expiring_in_a_suspended_bucket_writes_a_null_marker_over_the_null_version() {
        let rule = LifecycleRule { expiration: Some(kura_store::lifecycle::Expiration::Days(1)), ..no_rule() };
        let meta = versioned(Versioning::Suspended, rule).await;
        let kept =
            ObjectMeta { version_id: versions::new_version_id(), last_modified_ms: 0, ..inline_object("k", b"a") };
        meta.put_object("b", kept.clone()).await.expect("put");
        let null = ObjectMeta { order: versions::new_version_id(), last_modified_ms: 0, ..inline_object("k", b"b") };
        meta.put_object("b", null).await.expect("put");
        let dir = tempfile::tempdir().expect("dir");
        let w = worker(meta.clone(), &dir, 10);
        assert_eq!(w.scan(2 * DAY_MS).await.expect("scan").expired, 1);
        // The null version is replaced by a null delete marker; the version written while enabled stays.
        assert_eq!(versions_of(meta.as_ref(), "k").await, [(NULL.to_owned(), true), (kept.version_id, false)]);
    }

    #[tokio::test]
    async fn the_versions_phase_resumes_mid_key_and_still_keeps_the_newest_noncurrent_ones() {
        let rule = LifecycleRule {
            noncurrent_expiration: Some(kura_store::lifecycle::NoncurrentExpiration {
                noncurrent_days: 1,
                newer_noncurrent_versions: Some(2),
            }),
            ..no_rule()
        };
        let meta = versioned(Versioning::Enabled, rule).await;
        let mut ids = Vec::new();
        for _ in 0..6 {
            let v =
                ObjectMeta { version_id: versions::new_version_id(), last_modified_ms: 0, ..inline_object("k", b"x") };
            ids.push(v.version_id.clone());
            meta.put_object("b", v).await.expect("put");
        }
        let dir = tempfile::tempdir().expect("dir");
        // One action per scan: each scan resumes the versions phase from the cursor, within the key.
        let w = worker(meta.clone(), &dir, 1);
        assert_eq!(w.scan(0).await.expect("scan"), Scanned::default(), "not a day old yet");
        for _ in 0..3 {
            assert_eq!(w.scan(2 * DAY_MS).await.expect("scan").noncurrent_expired, 1);
        }
        assert_eq!(w.scan(2 * DAY_MS).await.expect("scan").noncurrent_expired, 0);
        let left: Vec<(String, bool)> = ids[3..].iter().rev().map(|id| (id.clone(), false)).collect();
        assert_eq!(versions_of(meta.as_ref(), "k").await, left, "the current one and the two newest noncurrent");
    }

    #[tokio::test]
    async fn a_protected_version_is_counted_and_left_alone() {
        let rule = LifecycleRule {
            noncurrent_expiration: Some(kura_store::lifecycle::NoncurrentExpiration {
                noncurrent_days: 1,
                newer_noncurrent_versions: None,
            }),
            ..no_rule()
        };
        let meta = versioned(Versioning::Enabled, rule).await;
        let retention = kura_store::Retention { mode: kura_store::RetentionMode::Governance, until_ms: 10 * DAY_MS };
        let lock = kura_store::ObjectLock { retention: Some(retention), legal_hold: false };
        let old = ObjectMeta {
            version_id: versions::new_version_id(),
            last_modified_ms: 0,
            lock,
            ..inline_object("k", b"x")
        };
        meta.put_object("b", old.clone()).await.expect("put");
        let new =
            ObjectMeta { version_id: versions::new_version_id(), last_modified_ms: 0, ..inline_object("k", b"y") };
        meta.put_object("b", new).await.expect("put");
        let dir = tempfile::tempdir().expect("dir");
        let w = worker(meta.clone(), &dir, 10);
        let done = w.scan(2 * DAY_MS).await.expect("scan");
        assert_eq!((done.noncurrent_expired, done.locked), (0, 1), "GOVERNANCE is never bypassed");
        assert_eq!(versions_of(meta.as_ref(), "k").await.len(), 2);
        let done = w.scan(10 * DAY_MS).await.expect("scan");
        assert_eq!((done.noncurrent_expired, done.locked), (1, 0), "expires once the retention has passed");
    }
}
