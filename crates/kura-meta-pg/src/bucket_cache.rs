//! Bucket records read less than [`FRESH_FOR`] ago, served from memory: every S3 request reads its
//! bucket (the access decision needs its policy and settings), and on PostgreSQL that read is a
//! round trip of its own, a third of a GET's and of a PUT's.
//!
//! What it costs in agreement: a change made through this store (a policy, a setting, a deletion)
//! clears its entry at once, so this replica sees it on the next request; a change made by another
//! replica is seen here within [`FRESH_FOR`], inside the 2 s the replicas promise each other (README,
//! "High availability"). AWS itself applies bucket configuration eventually. Only buckets that exist
//! are kept: a bucket created on another replica is found on the next request. A write never trusts
//! the cache: the store checks the bucket under its lock (and a settings change compares the settings
//! it was decided on, clearing the entry when they changed, so the caller's next attempt reads afresh).

use kura_store::BucketInfo;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a bucket record read from the database is served from memory.
pub(crate) const FRESH_FOR: Duration = Duration::from_secs(1);

/// The most buckets kept; past it the cache starts again empty (a bound, not a policy: deployments
/// have far fewer buckets, and only existing buckets are kept).
const MAX_ENTRIES: usize = 10_000;

/// See the module documentation.
#[derive(Default)]
pub(crate) struct BucketCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Shared, so that a hit copies the record outside the lock.
    entries: HashMap<String, (Instant, Arc<BucketInfo>)>,
    /// How many times a bucket was forgotten: a read that began before a change ended is not kept.
    forgotten: u64,
}

/// When a read of the database began: what [`BucketCache::put`] needs to keep its answer.
pub(crate) struct Read {
    at: Instant,
    forgotten: u64,
}

impl BucketCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The bucket's record if it was read less than [`FRESH_FOR`] ago.
    pub(crate) fn get(&self, name: &str) -> Option<BucketInfo> {
        let hit =
            self.lock().entries.get(name).filter(|(read, _)| read.elapsed() < FRESH_FOR).map(|(_, info)| info.clone());
        hit.map(|info| BucketInfo::clone(&info))
    }

    /// Notes that a read of the database begins (before it is sent, so that its answer is never kept
    /// longer than [`FRESH_FOR`] after the database gave it).
    pub(crate) fn begin_read(&self) -> Read {
        Read { at: Instant::now(), forgotten: self.lock().forgotten }
    }

    /// Keeps a record the read `read` found, unless a bucket was changed through this store since it
    /// began (its answer may be the record from before the change).
    pub(crate) fn put(&self, read: Read, info: &BucketInfo) {
        let mut inner = self.lock();
        if inner.forgotten != read.forgotten {
            return;
        }
        if inner.entries.len() >= MAX_ENTRIES && !inner.entries.contains_key(&info.name) {
            inner.entries.clear();
        }
        inner.entries.insert(info.name.clone(), (read.at, Arc::new(info.clone())));
    }

    /// Forgets a bucket (changed or deleted through this store), and the answers of reads in flight.
    pub(crate) fn forget(&self, name: &str) {
        let mut inner = self.lock();
        inner.entries.remove(name);
        inner.forgotten += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, created_ms: i64) -> BucketInfo {
        BucketInfo { name: name.into(), created_ms, region: "us-east-1".into(), settings: Default::default() }
    }

    #[test]
    fn a_record_is_served_until_it_is_stale_or_forgotten() {
        let cache = BucketCache::default();
        assert_eq!(cache.get("b"), None);
        cache.put(cache.begin_read(), &info("b", 1));
        assert_eq!(cache.get("b"), Some(info("b", 1)));
        cache.forget("b");
        assert_eq!(cache.get("b"), None, "forgotten");
        let long_ago = Instant::now().checked_sub(FRESH_FOR).expect("a monotonic clock this old");
        cache.put(Read { at: long_ago, forgotten: cache.begin_read().forgotten }, &info("b", 2));
        assert_eq!(cache.get("b"), None, "read FRESH_FOR ago: stale");
        // A read that began before a change through this store ended is not kept: it may be older.
        let read = cache.begin_read();
        cache.forget("b");
        cache.put(read, &info("b", 3));
        assert_eq!(cache.get("b"), None, "a read from before the change");
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache = BucketCache::default();
        for i in 0..MAX_ENTRIES {
            cache.put(cache.begin_read(), &info(&format!("b{i}"), 0));
        }
        cache.put(cache.begin_read(), &info("b0", 1));
        assert_eq!(cache.get("b0"), Some(info("b0", 1)), "replacing an entry keeps the rest");
        assert!(cache.get("b1").is_some());
        cache.put(cache.begin_read(), &info("one-more", 0));
        assert!(cache.get("b1").is_none(), "past the bound it starts again");
        assert!(cache.get("one-more").is_some());
    }
}
