//! The benchmark loops: preloading the working set, running a workload with `concurrency` workers,
//! and cleaning up.
//!
//! Keys are `<prefix>o<index:08>` for `index` in `0..objects`. Workloads:
//! - `put`: each worker overwrites random keys of the working set until the deadline.
//! - `get` / `stat`: GET (body drained, bytes counted) / HEAD random keys until the deadline.
//! - `list`: each worker lists the whole prefix with ListObjectsV2, 1,000 keys per page, until the
//!   deadline; a complete listing is one operation, pages are counted separately. A listing that does
//!   not return exactly `objects` keys counts as an error (`incomplete listing`).
//! - `delete`: workers delete the `objects` keys, each exactly once; `--duration` does not apply.
//! - `mixed`: per operation 45 % GET, 30 % PUT (overwrite), 15 % HEAD, 10 % DELETE followed by a
//!   re-PUT of the same key (recorded as one DELETE and one PUT). Each worker only touches its own
//!   keys (`index % concurrency == worker`), so a GET never races another worker's DELETE.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::client::{OpError, Payload, S3Client};
use crate::stats::{OpKind, WorkerStats};

/// Keys per ListObjectsV2 page.
pub const PAGE_SIZE: u32 = 1000;

/// Which operations a run performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    /// PutObject (overwrites within the working set).
    Put,
    /// GetObject of preloaded objects.
    Get,
    /// 45 % GET, 30 % PUT, 15 % HEAD, 10 % DELETE + re-PUT.
    Mixed,
    /// HeadObject of preloaded objects.
    Stat,
    /// Full ListObjectsV2 listings of the preloaded prefix.
    List,
    /// DeleteObject of each preloaded object once.
    Delete,
    /// STS `AssumeRoleWithWebIdentity` with the token of `--web-identity-token-file` (no objects).
    WebIdentity,
}

impl Workload {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Put => "put",
            Workload::Get => "get",
            Workload::Mixed => "mixed",
            Workload::Stat => "stat",
            Workload::List => "list",
            Workload::Delete => "delete",
            Workload::WebIdentity => "web-identity",
        }
    }

    /// Whether the working set must be uploaded before the workload starts.
    pub fn needs_preload(self) -> bool {
        !matches!(self, Workload::Put | Workload::WebIdentity)
    }

    /// Whether the workload reads and writes objects (and so needs a bucket).
    pub fn uses_objects(self) -> bool {
        self != Workload::WebIdentity
    }
}

/// One step of the mixed workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MixedOp {
    /// GetObject.
    Get,
    /// PutObject (overwrite).
    Put,
    /// HeadObject.
    Head,
    /// DeleteObject, then PutObject of the same key.
    DeleteRePut,
}

/// Maps a roll in `0..100` to a mixed-workload step: `0..45` GET, `45..75` PUT, `75..90` HEAD,
/// `90..100` DELETE + re-PUT.
pub fn pick_mixed(roll: u32) -> MixedOp {
    match roll % 100 {
        0..45 => MixedOp::Get,
        45..75 => MixedOp::Put,
        75..90 => MixedOp::Head,
        _ => MixedOp::DeleteRePut,
    }
}

/// Counters shared by workers and the progress display.
#[derive(Debug, Default)]
pub struct Shared {
    /// Operations completed successfully so far.
    pub ops: AtomicU64,
    /// Operations failed so far.
    pub errors: AtomicU64,
    /// Set to make every loop stop after its current request (Ctrl-C).
    pub stop: AtomicBool,
    next: AtomicU64,
}

impl Shared {
    /// Whether a stop was requested.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Resets the counters for the next phase.
    pub fn reset(&self) {
        self.ops.store(0, Ordering::Relaxed);
        self.errors.store(0, Ordering::Relaxed);
        self.next.store(0, Ordering::Relaxed);
    }

    /// Hands out indices `0..n` once each across workers.
    fn take(&self, n: u64) -> Option<u64> {
        if self.stopped() {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        (i < n).then_some(i)
    }
}

/// Everything a run needs, shared by its workers.
#[derive(Debug)]
pub struct Plan {
    /// Client for the endpoint.
    pub client: S3Client,
    /// Bucket the objects live in.
    pub bucket: String,
    /// Key prefix of this run (ends in `/`).
    pub prefix: String,
    /// Keys of the working set, `<prefix>o<index:08>`.
    pub keys: Vec<String>,
    /// Body of every PUT.
    pub payload: Payload,
    /// Concurrent workers.
    pub concurrency: usize,
    /// Progress counters and the stop flag.
    pub shared: Arc<Shared>,
    /// The `AssumeRoleWithWebIdentity` form (web-identity workload).
    pub sts_form: Option<bytes::Bytes>,
}

impl Plan {
    /// The keys `<prefix>o<index:08>` for `index` in `0..objects`.
    pub fn make_keys(prefix: &str, objects: u64) -> Vec<String> {
        (0..objects).map(|i| format!("{prefix}o{i:08}")).collect()
    }
}

/// Uploads every key of the working set with `concurrency` workers. Stops at the first failure and
/// returns it.
pub async fn preload(plan: &Arc<Plan>) -> Result<(), OpError> {
    plan.shared.reset();
    let n = plan.keys.len() as u64;
    let mut tasks = Vec::with_capacity(plan.concurrency);
    for _ in 0..plan.concurrency {
        let plan = Arc::clone(plan);
        tasks.push(tokio::spawn(async move {
            while let Some(i) = plan.shared.take(n) {
                if let Err(e) = plan.client.put_object(&plan.bucket, &plan.keys[i as usize], &plan.payload).await {
                    plan.shared.stop.store(true, Ordering::Relaxed);
                    return Err(e);
                }
                plan.shared.ops.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        }));
    }
    let mut first_err = None;
    for t in tasks {
        let r = t.await.unwrap_or_else(|e| Err(OpError::BadResponse(format!("upload task failed: {e}"))));
        if let Err(e) = r {
            first_err.get_or_insert(e);
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Runs `workload` with `plan.concurrency` workers until `duration` has passed (or, for delete, every
/// key is deleted, or a stop is requested). Returns the merged stats and the measured wall time.
pub async fn run(plan: &Arc<Plan>, workload: Workload, duration: Duration) -> (WorkerStats, Duration) {
    plan.shared.reset();
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::with_capacity(plan.concurrency);
    for w in 0..plan.concurrency {
        let plan = Arc::clone(plan);
        tasks.push(tokio::spawn(async move {
            let mut stats = WorkerStats::default();
            let mut worker = Worker { plan: &plan, stats: &mut stats, id: w, deadline };
            match workload {
                Workload::Put => worker.simple(OpKind::Put).await,
                Workload::Get => worker.simple(OpKind::Get).await,
                Workload::Stat => worker.simple(OpKind::Head).await,
                Workload::List => worker.list().await,
                Workload::Delete => worker.delete().await,
                Workload::Mixed => worker.mixed().await,
                Workload::WebIdentity => worker.web_identity().await,
            }
            stats
        }));
    }
    let mut total = WorkerStats::default();
    for t in tasks {
        match t.await {
            Ok(s) => total.merge(&s),
            Err(e) => total.error(OpKind::Get, &format!("worker failed: {e}")),
        }
    }
    (total, start.elapsed())
}

struct Worker<'a> {
    plan: &'a Plan,
    stats: &'a mut WorkerStats,
    id: usize,
    deadline: Instant,
}

impl Worker<'_> {
    fn running(&self) -> bool {
        !self.plan.shared.stopped() && Instant::now() < self.deadline
    }

    fn record(&mut self, kind: OpKind, started: Instant, result: Result<u64, OpError>) {
        match result {
            Ok(bytes) => {
                self.stats.ok(kind, started.elapsed(), bytes);
                self.plan.shared.ops.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                self.stats.error(kind, e.code());
                self.plan.shared.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    async fn one(&mut self, kind: OpKind, key_index: usize) {
        let plan = self.plan;
        let key = &plan.keys[key_index];
        let started = Instant::now();
        let result = match kind {
            OpKind::Put => plan.client.put_object(&plan.bucket, key, &plan.payload).await.map(|()| plan.payload.size()),
            OpKind::Get => plan.client.get_object(&plan.bucket, key).await,
            OpKind::Head => plan.client.head_object(&plan.bucket, key).await.map(|()| 0),
            OpKind::Delete => plan.client.delete_object(&plan.bucket, key).await.map(|()| 0),
            OpKind::List | OpKind::Sts => Ok(0),
        };
        self.record(kind, started, result);
    }

    fn rng(&self) -> SmallRng {
        SmallRng::seed_from_u64(rand::random::<u64>() ^ self.id as u64)
    }

    /// PUT, GET or HEAD of uniformly random keys.
    async fn simple(&mut self, kind: OpKind) {
        let mut rng = self.rng();
        let n = self.plan.keys.len();
        while self.running() {
            let i = rng.random_range(0..n);
            self.one(kind, i).await;
        }
    }

    /// AssumeRoleWithWebIdentity in a loop.
    async fn web_identity(&mut self) {
        let Some(form) = self.plan.sts_form.clone() else { return };
        while self.running() {
            let started = Instant::now();
            let result = self.plan.client.assume_role_with_web_identity(&form).await;
            self.record(OpKind::Sts, started, result);
        }
    }

    async fn delete(&mut self) {
        let n = self.plan.keys.len() as u64;
        while let Some(i) = self.plan.shared.take(n) {
            self.one(OpKind::Delete, i as usize).await;
        }
    }

    async fn list(&mut self) {
        let plan = self.plan;
        let expected = plan.keys.len();
        while self.running() {
            let started = Instant::now();
            let mut token: Option<String> = None;
            let mut seen = 0usize;
            let result = loop {
                match plan.client.list_page(&plan.bucket, &plan.prefix, token.as_deref(), PAGE_SIZE).await {
                    Ok(page) => {
                        self.stats.pages += 1;
                        seen += page.keys.len();
                        if !page.is_truncated {
                            break Ok(0);
                        }
                        token = page.next_token;
                    }
                    Err(e) => break Err(e),
                }
            };
            match result {
                Ok(_) if seen != expected => {
                    self.stats.error(OpKind::List, "incomplete listing");
                    plan.shared.errors.fetch_add(1, Ordering::Relaxed);
                }
                r => self.record(OpKind::List, started, r),
            }
        }
    }

    async fn mixed(&mut self) {
        let mut rng = self.rng();
        let c = self.plan.concurrency;
        let n = self.plan.keys.len();
        // This worker's keys: id, id + c, id + 2c, ... (objects >= concurrency is checked up front).
        let mine = n.saturating_sub(self.id).div_ceil(c);
        if mine == 0 {
            return;
        }
        while self.running() {
            let i = self.id + c * rng.random_range(0..mine);
            match pick_mixed(rng.random_range(0..100)) {
                MixedOp::Get => self.one(OpKind::Get, i).await,
                MixedOp::Put => self.one(OpKind::Put, i).await,
                MixedOp::Head => self.one(OpKind::Head, i).await,
                MixedOp::DeleteRePut => {
                    self.one(OpKind::Delete, i).await;
                    self.one(OpKind::Put, i).await;
                }
            }
        }
    }
}

/// Lists every key under `prefix` and deletes it with `concurrency` workers. Returns how many
/// objects were deleted, or the first error.
pub async fn cleanup(client: &S3Client, bucket: &str, prefix: &str, concurrency: usize) -> Result<u64, OpError> {
    let mut keys = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = client.list_page(bucket, prefix, token.as_deref(), PAGE_SIZE).await?;
        keys.extend(page.keys);
        if !page.is_truncated {
            break;
        }
        token = page.next_token;
    }
    let keys = Arc::new(keys);
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (client, bucket, keys, next) = (client.clone(), bucket.to_owned(), Arc::clone(&keys), Arc::clone(&next));
        tasks.push(tokio::spawn(async move {
            let mut deleted = 0u64;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(key) = keys.get(i) else { return Ok(deleted) };
                match client.delete_object(&bucket, key).await {
                    Ok(()) => deleted += 1,
                    Err(e) if e.status() == Some(404) => {}
                    Err(e) => return Err(e),
                }
            }
        }));
    }
    let mut deleted = 0;
    let mut first_err = None;
    for t in tasks {
        match t.await {
            Ok(Ok(n)) => deleted += n,
            Ok(Err(e)) => {
                first_err.get_or_insert(e);
            }
            Err(e) => {
                first_err.get_or_insert(OpError::BadResponse(format!("cleanup task failed: {e}")));
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(deleted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_ratios_over_one_cycle() {
        let mut counts = [0u32; 4];
        for roll in 0..100 {
            let idx = match pick_mixed(roll) {
                MixedOp::Get => 0,
                MixedOp::Put => 1,
                MixedOp::Head => 2,
                MixedOp::DeleteRePut => 3,
            };
            counts[idx] += 1;
        }
        assert_eq!(counts, [45, 30, 15, 10]);
    }

    #[test]
    fn mixed_ratios_with_random_rolls() {
        let mut rng = SmallRng::seed_from_u64(7);
        let n = 100_000;
        let mut gets = 0;
        let mut deletes = 0;
        for _ in 0..n {
            match pick_mixed(rng.random_range(0..100)) {
                MixedOp::Get => gets += 1,
                MixedOp::DeleteRePut => deletes += 1,
                _ => {}
            }
        }
        assert!((gets as f64 / n as f64 - 0.45).abs() < 0.01);
        assert!((deletes as f64 / n as f64 - 0.10).abs() < 0.01);
    }

    #[test]
    fn mixed_key_partitions_cover_every_key_once() {
        let (n, c) = (10usize, 4usize);
        let mut owner = vec![None; n];
        for w in 0..c {
            let mine = n.saturating_sub(w).div_ceil(c);
            for j in 0..mine {
                let i = w + c * j;
                assert!(owner[i].is_none());
                owner[i] = Some(w);
            }
        }
        assert!(owner.iter().all(Option::is_some));
    }

    #[test]
    fn keys_and_index_handout() {
        let keys = Plan::make_keys("kb-x/", 3);
        assert_eq!(keys, ["kb-x/o00000000", "kb-x/o00000001", "kb-x/o00000002"]);
        let s = Shared::default();
        assert_eq!((s.take(2), s.take(2), s.take(2)), (Some(0), Some(1), None));
        s.reset();
        s.stop.store(true, Ordering::Relaxed);
        assert_eq!(s.take(2), None);
    }
}
