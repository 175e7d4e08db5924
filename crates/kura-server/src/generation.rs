//! Generations: how one kura process learns that another changed state it keeps in memory.
//!
//! IAM users and named policies (the [`crate::iam`] snapshot) and the built-in KMS keys and aliases
//! (`kms::BuiltinKms`) are metadata-store records that each process reads into memory. Replicas on one
//! shared metadata store (PostgreSQL) must not keep a stale copy: a user disabled through replica A
//! has to stop signing on replica B too. So every change of such records also writes a fresh random
//! token into one record of kind [`RECORD`] (id `iam` or `kms`, see [`Domain`]), after the records
//! themselves; every process polls the tokens (`replicas`, one `get_record` each every
//! [`POLL_INTERVAL`]) and reloads a domain whose token is not the one it last loaded.
//!
//! **Invariant**: a process's in-memory copy of a domain reflects at least every record written
//! before the token it has marked as seen; a write always precedes its bump, and a reload reads the
//! token before the records, so a change is never marked seen unread. A random token rather than a
//! counter: two replicas bumping at once need no read-modify-write, and any new token differs from
//! the one a process holds.

use kura_store::{MetaStore, StoreResult};
use std::sync::Mutex;
use std::time::Duration;

/// Record kind of the generation tokens (ids: [`Domain::id`]).
pub const RECORD: &str = "cluster-generation";

/// How often each process reads the tokens: a change on one replica is in force on the others within
/// this plus one reload (well under the 2 s issue 18 asks).
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// The state a generation token covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    /// IAM users and named policies made through the admin API.
    Iam,
    /// The built-in key service's keys and aliases.
    Kms,
}

impl Domain {
    /// The record id of the domain's token.
    pub fn id(self) -> &'static str {
        match self {
            Self::Iam => "iam",
            Self::Kms => "kms",
        }
    }
}

/// One domain's token as this process last loaded it.
#[derive(Debug)]
pub struct Generation {
    domain: Domain,
    /// The token of the state in memory (`None`: no change was ever recorded).
    seen: Mutex<Option<Vec<u8>>>,
}

impl Generation {
    /// A generation that has loaded nothing yet; [`Generation::read`] before the first load and
    /// [`Generation::mark`] after it.
    pub fn new(domain: Domain) -> Self {
        Self { domain, seen: Mutex::new(None) }
    }

    /// The domain.
    pub fn domain(&self) -> Domain {
        self.domain
    }

    /// The token in the store now.
    pub async fn read(&self, meta: &dyn MetaStore) -> StoreResult<Option<Vec<u8>>> {
        meta.get_record(RECORD, self.domain.id()).await
    }

    /// Records that the state in memory reflects `token` (read before the records were).
    pub fn mark(&self, token: Option<Vec<u8>>) {
        *self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = token;
    }

    /// The token in the store if it is not the one marked seen (the domain must be reloaded).
    pub async fn moved(&self, meta: &dyn MetaStore) -> StoreResult<Option<Option<Vec<u8>>>> {
        let now = self.read(meta).await?;
        let seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok((*seen != now).then_some(now))
    }

    /// Tells every process the domain changed: writes a fresh token. Call it after the change's
    /// records are written. The token is not marked seen here: the caller marks it only once its
    /// memory holds everything written before it.
    pub async fn bump(&self, meta: &dyn MetaStore) -> StoreResult<Vec<u8>> {
        let token = uuid::Uuid::new_v4().simple().to_string().into_bytes();
        meta.put_record(RECORD, self.domain.id(), token.clone()).await?;
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kura_store::memory::MemoryMetaStore;

    #[tokio::test]
    async fn a_bump_moves_the_generation_until_it_is_marked() {
        let meta = MemoryMetaStore::new();
        let (a, b) = (Generation::new(Domain::Iam), Generation::new(Domain::Iam));
        assert_eq!(a.moved(&meta).await.expect("read"), None, "nothing recorded, nothing seen");
        let token = a.bump(&meta).await.expect("bump");
        assert_eq!(b.moved(&meta).await.expect("read"), Some(Some(token.clone())));
        b.mark(Some(token.clone()));
        assert_eq!(b.moved(&meta).await.expect("read"), None);
        let again = a.bump(&meta).await.expect("bump");
        assert_ne!(again, token, "every bump is a new token");
        assert_eq!(b.moved(&meta).await.expect("read"), Some(Some(again)));
        // The other domain's token is its own.
        assert_eq!(Generation::new(Domain::Kms).moved(&meta).await.expect("read"), None);
    }
}
