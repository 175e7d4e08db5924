//! The answers kept per token: kura's credentials JSON, until shortly before the credentials expire,
//! keyed by a SHA-256 of the token (the token itself is never kept).

use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Credentials are fetched again this long before they expire (or at half their remaining life, if
/// that is sooner), so an SDK never receives credentials about to lapse.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// Most tokens kept; past it, expired entries go first, then the soonest to refresh.
const CAPACITY: usize = 10_000;

/// The cache. Only answers whose `Expiration` parses are kept.
#[derive(Debug, Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<TokenKey, Entry>>,
}

#[derive(Debug, Clone)]
struct Entry {
    body: Bytes,
    refresh_at: SystemTime,
}

/// What the cache keys a token by: its SHA-256, computed once per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenKey([u8; 32]);

impl TokenKey {
    /// The key of `token`.
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }
}

/// When an answer must be fetched again: `None` when it carries no readable `Expiration`.
fn refresh_at(body: &[u8], now: SystemTime) -> Option<SystemTime> {
    let json: serde_json::Value = serde_json::from_slice(body).ok()?;
    let expires = OffsetDateTime::parse(json.get("Expiration")?.as_str()?, &Rfc3339).ok()?;
    let expires = SystemTime::from(expires);
    let life = expires.duration_since(now).ok()?;
    Some(expires - REFRESH_MARGIN.min(life / 2))
}

impl TokenCache {
    /// The kept answer for a token, if it is not due for a refresh at `now`.
    pub fn get(&self, key: &TokenKey, now: SystemTime) -> Option<Bytes> {
        let entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.get(key).filter(|e| now < e.refresh_at).map(|e| e.body.clone())
    }

    /// Keeps kura's answer for a token (if it says when it expires).
    pub fn put(&self, key: TokenKey, body: Bytes, now: SystemTime) {
        let Some(refresh_at) = refresh_at(&body, now) else { return };
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= CAPACITY {
            entries.retain(|_, e| now < e.refresh_at);
        }
        if entries.len() >= CAPACITY
            && let Some(soonest) = entries.iter().min_by_key(|(_, e)| e.refresh_at).map(|(k, _)| *k)
        {
            entries.remove(&soonest);
        }
        entries.insert(key, Entry { body, refresh_at });
    }

    /// How many answers are kept.
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(expires: SystemTime) -> Bytes {
        let t = OffsetDateTime::from(expires).format(&Rfc3339).expect("format");
        Bytes::from(serde_json::json!({ "AccessKeyId": "ASIA", "Expiration": t }).to_string())
    }

    #[test]
    fn answers_are_kept_until_shortly_before_they_expire() {
        let cache = TokenCache::default();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        cache.put(TokenKey::of("token-a"), answer(now + Duration::from_secs(3600)), now);
        assert!(cache.get(&TokenKey::of("token-a"), now).is_some());
        assert!(cache.get(&TokenKey::of("token-b"), now).is_none(), "another token is another entry");
        assert!(cache.get(&TokenKey::of("token-a"), now + Duration::from_secs(3600 - 301)).is_some());
        assert!(
            cache.get(&TokenKey::of("token-a"), now + Duration::from_secs(3600 - 300)).is_none(),
            "refreshed 5 min early"
        );
        // Short-lived credentials are refreshed at half their life.
        cache.put(TokenKey::of("token-c"), answer(now + Duration::from_secs(120)), now);
        assert!(cache.get(&TokenKey::of("token-c"), now + Duration::from_secs(59)).is_some());
        assert!(cache.get(&TokenKey::of("token-c"), now + Duration::from_secs(60)).is_none());
    }

    #[test]
    fn answers_without_a_readable_expiry_and_expired_ones_are_not_kept() {
        let cache = TokenCache::default();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        cache.put(TokenKey::of("t"), Bytes::from_static(b"{\"AccessKeyId\":\"ASIA\"}"), now);
        cache.put(TokenKey::of("t"), Bytes::from_static(b"not json"), now);
        cache.put(TokenKey::of("t"), answer(now - Duration::from_secs(1)), now);
        assert!(cache.is_empty());
    }

    #[test]
    fn the_cache_holds_hashes_not_tokens() {
        let cache = TokenCache::default();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        cache.put(TokenKey::of("eyJ.secret-token.sig"), answer(now + Duration::from_secs(3600)), now);
        let debug = format!("{cache:?}");
        assert!(!debug.contains("secret-token"), "{debug}");
    }
}
