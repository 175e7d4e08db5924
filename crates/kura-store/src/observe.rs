//! What a store reports about its own work, for the server's metrics: the size and duration of each
//! group commit, and how long each blob's fsync took. A store calls its [`StoreObserver`] if one was
//! set ([`MetaStore::set_observer`](crate::MetaStore::set_observer),
//! [`BlobStore::set_observer`](crate::BlobStore::set_observer)); without one it measures nothing.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Receives a store's measurements. Called on the store's own threads: keep it cheap and non-blocking.
pub trait StoreObserver: Send + Sync + 'static {
    /// A group commit of `batch` writes ended (committed or not) after `took`.
    fn committed(&self, batch: usize, took: Duration);
    /// A blob's data and directory entry were made durable in `took`.
    fn blob_synced(&self, took: Duration);
}

/// A store's observer slot: set once, read on every measured event.
#[derive(Default)]
pub(crate) struct ObserverSlot(OnceLock<Arc<dyn StoreObserver>>);

impl std::fmt::Debug for ObserverSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ObserverSlot").field(&self.0.get().is_some()).finish()
    }
}

impl ObserverSlot {
    /// Sets the observer; a second one is ignored (a store reports to one server).
    pub(crate) fn set(&self, observer: Arc<dyn StoreObserver>) {
        let _ = self.0.set(observer);
    }

    /// A clock started only when someone will read it.
    pub(crate) fn start(&self) -> Option<Instant> {
        self.0.get().map(|_| Instant::now())
    }

    /// Reports a group commit of `batch` writes begun at `started`.
    pub(crate) fn committed(&self, batch: usize, started: Option<Instant>) {
        if let (Some(observer), Some(started)) = (self.0.get(), started) {
            observer.committed(batch, started.elapsed());
        }
    }

    /// Reports a blob sync begun at `started`.
    pub(crate) fn blob_synced(&self, started: Option<Instant>) {
        if let (Some(observer), Some(started)) = (self.0.get(), started) {
            observer.blob_synced(started.elapsed());
        }
    }
}
