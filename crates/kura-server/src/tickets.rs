//! Upload tickets: server-side presigning. A signed caller (any identity: user, web-identity session,
//! pod credentials) asks `POST /kura/v1/presign` for a URL limited to one method on one object or prefix,
//! a size and a content type; kura checks now that the caller may do it, stores the ticket, and signs
//! the URL with a key of the ticket's own (`KURT…`, its secret derived by the keyring), so the URL
//! outlives the caller's short session but never the ticket: deleting the record (`kura admin presign
//! revoke`) makes it fail at once, on every replica that shares the metadata store.

use crate::base::caller::Caller;
use crate::base::ticket::{Issuer, Ticket, TicketDenied, TicketMethod};
use crate::iam::IamState;
use crate::identity::session::Keyring;
use kura_store::{MetaStore, StoreResult};
use serde::Deserialize;
use std::sync::Arc;

/// The endpoint that issues tickets.
pub const PATH: &str = "/kura/v1/presign";
/// Record kind of stored tickets (id = the ticket's access key).
pub const RECORD: &str = "upload-ticket";
/// Longest ticket lifetime when `server.max_ticket_seconds` is not set: one day.
pub const DEFAULT_MAX_SECS: u64 = 86_400;

/// Most live tickets one principal may hold when `server.max_tickets_per_principal` is not set.
pub const DEFAULT_MAX_PER_PRINCIPAL: u64 = 1000;

/// How often expired tickets are deleted in the background.
pub const SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// What a sweep of the tickets found.
#[derive(Debug)]
pub struct Swept {
    /// The tickets still current.
    pub live: Vec<Ticket>,
    /// How many expired (or unreadable) tickets it deleted.
    pub removed: u64,
}

/// Record kind prefix of the per-principal index of tickets (kind = prefix + principal ARN, id = the
/// ticket's id, value = its expiry in Unix seconds): counting a principal's tickets reads only theirs.
const HELD_PREFIX: &str = "upload-ticket-held:";

fn held_kind(principal: &str) -> String {
    format!("{HELD_PREFIX}{principal}")
}

/// Stores a new ticket and its entry in its principal's index. The index entry is written first: a
/// crash between the two leaves an entry that counts against the principal until the ticket's expiry,
/// never a ticket that does not count.
///
/// # Errors
/// The metadata store's.
pub async fn store(meta: &dyn MetaStore, ticket: &Ticket, record: Vec<u8>) -> StoreResult<()> {
    meta.put_record(&held_kind(&ticket.principal), &ticket.id, ticket.expires.to_string().into_bytes()).await?;
    meta.put_record(RECORD, &ticket.id, record).await
}

/// How many live tickets `principal` holds; drops the index entries of expired ones on the way.
///
/// # Errors
/// The metadata store's.
pub async fn held_by(meta: &dyn MetaStore, principal: &str, now: u64) -> StoreResult<u64> {
    let kind = held_kind(principal);
    let mut held = 0;
    for (id, expires) in meta.list_records(&kind).await? {
        let live = std::str::from_utf8(&expires).ok().and_then(|e| e.parse::<u64>().ok()).is_some_and(|e| e > now);
        if live {
            held += 1;
        } else {
            meta.delete_record(&kind, &id).await?;
        }
    }
    Ok(held)
}

/// Deletes a ticket and its index entry; answers whether the ticket existed.
///
/// # Errors
/// The metadata store's.
pub async fn forget(meta: &dyn MetaStore, id: &str) -> StoreResult<bool> {
    let Some(bytes) = meta.get_record(RECORD, id).await? else { return Ok(false) };
    if let Ok(ticket) = serde_json::from_slice::<Ticket>(&bytes) {
        meta.delete_record(&held_kind(&ticket.principal), id).await?;
    }
    meta.delete_record(RECORD, id).await
}

/// Deletes every ticket of `principal` (and their index entries); answers their ids.
///
/// # Errors
/// The metadata store's.
pub async fn forget_all_of(meta: &dyn MetaStore, principal: &str) -> StoreResult<Vec<String>> {
    let mut ids = Vec::new();
    // Every ticket is read, not only the index: tickets issued before the index existed have no entry.
    for (id, bytes) in meta.list_records(RECORD).await? {
        if serde_json::from_slice::<Ticket>(&bytes).is_ok_and(|t| t.principal == principal) {
            meta.delete_record(RECORD, &id).await?;
            ids.push(id);
        }
    }
    let kind = held_kind(principal);
    for (id, _) in meta.list_records(&kind).await? {
        meta.delete_record(&kind, &id).await?;
    }
    Ok(ids)
}

/// Deletes expired (and unreadable) tickets, with their index entries, and returns the live ones.
///
/// # Errors
/// The metadata store's.
pub async fn sweep_expired(meta: &dyn MetaStore, now: u64) -> StoreResult<Swept> {
    let mut swept = Swept { live: Vec::new(), removed: 0 };
    for (id, bytes) in meta.list_records(RECORD).await? {
        match serde_json::from_slice::<Ticket>(&bytes) {
            Ok(t) if t.expires > now => swept.live.push(t),
            found => {
                if let Ok(t) = found {
                    meta.delete_record(&held_kind(&t.principal), &id).await?;
                }
                meta.delete_record(RECORD, &id).await?;
                swept.removed += 1;
            }
        }
    }
    Ok(swept)
}

/// Deletes expired tickets every [`SWEEP_INTERVAL`], so they leave the store without waiting for a
/// listing, and counts each run in `metrics` (task `ticket-sweep`); runs until the process ends.
pub async fn sweep_forever(meta: std::sync::Arc<dyn MetaStore>, metrics: std::sync::Arc<crate::metrics::Metrics>) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + SWEEP_INTERVAL, SWEEP_INTERVAL);
    loop {
        tick.tick().await;
        match sweep_expired(meta.as_ref(), crate::base::clock::unix_now()).await {
            Ok(swept) => metrics.background_run("ticket-sweep", Ok(swept.removed)),
            Err(e) => {
                tracing::warn!(error = %e, "sweeping expired upload tickets failed");
                metrics.background_run("ticket-sweep", Err(()));
            }
        }
    }
}

/// The body of `POST /kura/v1/presign`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketRequest {
    /// `GET`, `PUT` or `POST`.
    pub method: TicketMethod,
    /// The bucket.
    pub bucket: String,
    /// One object (GET, PUT, POST).
    pub key: Option<String>,
    /// A prefix (POST only): the form may upload any key under it.
    pub key_prefix: Option<String>,
    /// Lifetime in seconds (default and cap: `server.max_ticket_seconds`).
    pub expires_seconds: Option<u64>,
    /// Largest body accepted (PUT, POST).
    pub max_size: Option<u64>,
    /// Content-Type the upload must carry (PUT, POST).
    pub content_type: Option<String>,
}

/// The caller to authorise a ticket's use as, in the current IAM state: `None` for root (no
/// policy applies), an error when the issuer no longer exists or is disabled.
pub fn issuer_caller(issuer: &Issuer, state: &IamState, ticket: &str) -> Result<Option<Caller>, TicketDenied> {
    let gone = |why: String| TicketDenied::IssuerGone { id: ticket.to_owned(), why };
    match issuer {
        Issuer::Root => Ok(None),
        Issuer::User { access_key } => match state.user(access_key) {
            Some(user) if user.enabled => Ok(Some(Caller::User { access_key: access_key.clone() })),
            Some(_) => Err(gone(format!("its issuer, user {access_key}, is disabled"))),
            None => Err(gone(format!("its issuer, user {access_key}, no longer exists"))),
        },
        Issuer::Session { claims } => {
            if state.identity.role(&claims.role).is_none() {
                return Err(gone(format!("its issuer's role {} no longer exists", claims.role)));
            }
            let caller = Caller::Session { access_key: claims.access_key.clone(), claims: Arc::new(claims.clone()) };
            Ok(Some(caller))
        }
    }
}

/// Why a request for a ticket is invalid (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TicketRequestError(pub String);

impl TicketRequest {
    /// Checks the request's shape and returns the ticket's lifetime, given the configured cap.
    pub fn validate(&self, max_secs: u64) -> Result<u64, TicketRequestError> {
        let bad = |m: String| Err(TicketRequestError(m));
        if crate::base::names::validate_bucket_name(&self.bucket).is_err() {
            return bad(format!("bucket {:?} is not a valid bucket name", self.bucket));
        }
        match (self.method, &self.key, &self.key_prefix) {
            (_, Some(_), Some(_)) => return bad("give key or key_prefix, not both".into()),
            (TicketMethod::Get | TicketMethod::Put, None, _) => {
                return bad("GET and PUT tickets name one object: give key".into());
            }
            (TicketMethod::Post, None, None) => return bad("a POST ticket needs key or key_prefix".into()),
            (_, Some(k), None) if k.is_empty() || k.len() > 1024 => {
                return bad("key must be 1 to 1024 bytes".into());
            }
            _ => {}
        }
        if self.method == TicketMethod::Get && (self.max_size.is_some() || self.content_type.is_some()) {
            return bad("max_size and content_type apply to uploads (PUT, POST), not GET".into());
        }
        let secs = self.expires_seconds.unwrap_or(max_secs);
        if secs == 0 || secs > max_secs {
            return bad(format!("expires_seconds must be between 1 and {max_secs} (server.max_ticket_seconds)"));
        }
        Ok(secs)
    }

    /// The resource ARN the issuer must be allowed to act on: the object, or every object under the prefix.
    pub fn resource(&self) -> String {
        match (&self.key, &self.key_prefix) {
            (Some(k), _) => kura_policy::s3::object_arn(&self.bucket, k),
            (None, Some(p)) => format!("{}*", kura_policy::s3::object_arn(&self.bucket, p)),
            (None, None) => kura_policy::s3::bucket_arn(&self.bucket),
        }
    }
}

/// Whether an access key is an upload ticket's.
pub fn is_ticket_key(access_key: &str) -> bool {
    Keyring::is_ticket(access_key)
}

/// Whether a caller may ask for tickets at all (signed, and not itself a ticket).
pub fn may_request(caller: &Caller) -> bool {
    !matches!(caller, Caller::Anonymous)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(method: TicketMethod, key: Option<&str>, prefix: Option<&str>) -> Ticket {
        Ticket {
            id: "KURTABCD123456789012".into(),
            principal: "arn:aws:iam::000000000000:user/u".into(),
            method,
            bucket: "b".into(),
            key: key.map(str::to_owned),
            key_prefix: prefix.map(str::to_owned),
            max_size: Some(10),
            content_type: None,
            created: 0,
            expires: 100,
            issuer: None,
        }
    }

    #[tokio::test]
    async fn a_sweep_deletes_expired_and_unreadable_tickets_and_counts_them() {
        let meta = kura_store::memory::MemoryMetaStore::default();
        let (mut live, mut old) =
            (ticket(TicketMethod::Put, Some("k"), None), ticket(TicketMethod::Put, Some("k"), None));
        (live.id, live.expires) = ("KURTLIVE000000000000".into(), 1_000);
        (old.id, old.expires) = ("KURTOLD0000000000000".into(), 50);
        for t in [&live, &old] {
            meta.put_record(RECORD, &t.id, serde_json::to_vec(t).expect("json")).await.expect("put");
        }
        meta.put_record(RECORD, "KURTBROKEN0000000000", b"not json".to_vec()).await.expect("put");
        let swept = sweep_expired(&meta, 100).await.expect("sweep");
        assert_eq!(swept.removed, 2);
        assert_eq!(swept.live.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), ["KURTLIVE000000000000"]);
        let left: Vec<String> = meta.list_records(RECORD).await.expect("list").into_iter().map(|(id, _)| id).collect();
        assert_eq!(left, ["KURTLIVE000000000000"]);
    }

    #[tokio::test]
    async fn the_per_principal_index_counts_only_live_tickets_and_follows_every_deletion() {
        let meta = kura_store::memory::MemoryMetaStore::default();
        let (alice, bob) = ("arn:aws:iam::000000000000:user/alice", "arn:aws:iam::000000000000:user/bob");
        let issue = |id: &str, principal: &str, expires: u64| {
            let mut t = ticket(TicketMethod::Put, Some("k"), None);
            (t.id, t.principal, t.expires) = (id.to_owned(), principal.to_owned(), expires);
            t
        };
        let tickets = [
            issue("KURTA1", alice, 1_000),
            issue("KURTA2", alice, 1_000),
            issue("KURTA3", alice, 50),
            issue("KURTB1", bob, 1_000),
        ];
        for t in &tickets {
            store(&meta, t, serde_json::to_vec(t).expect("json")).await.expect("store");
        }
        assert_eq!(held_by(&meta, alice, 100).await.expect("count"), 2, "the expired ticket does not count");
        assert_eq!(meta.list_records(&held_kind(alice)).await.expect("index").len(), 2, "its entry is gone");
        assert!(forget(&meta, "KURTA1").await.expect("forget"));
        assert!(!forget(&meta, "KURTA1").await.expect("forget"), "a second revocation finds nothing");
        assert_eq!(held_by(&meta, alice, 100).await.expect("count"), 1);
        assert_eq!(forget_all_of(&meta, alice).await.expect("forget"), ["KURTA2", "KURTA3"]);
        assert_eq!(held_by(&meta, alice, 0).await.expect("count"), 0);
        assert_eq!(held_by(&meta, bob, 100).await.expect("count"), 1, "bob's ticket is untouched");
        assert_eq!(sweep_expired(&meta, 2_000).await.expect("sweep").removed, 1);
        assert!(meta.list_records(&held_kind(bob)).await.expect("index").is_empty(), "the sweep drops the entry");
    }

    #[test]
    fn tickets_allow_exactly_their_request() {
        let put = ticket(TicketMethod::Put, Some("k"), None);
        assert!(put.check("PutObject", Some("b"), Some("k"), Some(10), 5).is_ok());
        assert!(put.check("PutObject", Some("b"), Some("k"), Some(11), 5).is_err());
        assert!(put.check("PutObject", Some("b"), Some("k"), None, 5).is_err());
        assert!(put.check("PutObject", Some("b"), Some("other"), Some(1), 5).is_err());
        assert!(put.check("PutObject", Some("c"), Some("k"), Some(1), 5).is_err());
        assert!(put.check("GetObject", Some("b"), Some("k"), None, 5).is_err());
        assert_eq!(
            put.check("PutObject", Some("b"), Some("k"), Some(1), 100),
            Err(TicketDenied::Expired(put.id.clone()))
        );
        let post = ticket(TicketMethod::Post, None, Some("up/"));
        assert!(post.check("PostObject", Some("b"), None, None, 5).is_ok());
        assert!(post.check_key("up/a.txt").is_ok());
        assert!(post.check_key("down/a.txt").is_err());
        let get = ticket(TicketMethod::Get, Some("k"), None);
        assert!(get.check("HeadObject", Some("b"), Some("k"), None, 5).is_ok());
        assert!(get.check("DeleteObject", Some("b"), Some("k"), None, 5).is_err());
    }

    #[test]
    fn requests_are_validated() {
        let req = |m, key: Option<&str>, prefix: Option<&str>, secs| TicketRequest {
            method: m,
            bucket: "bkt".into(),
            key: key.map(str::to_owned),
            key_prefix: prefix.map(str::to_owned),
            expires_seconds: secs,
            max_size: None,
            content_type: None,
        };
        assert_eq!(req(TicketMethod::Get, Some("k"), None, None).validate(3600), Ok(3600));
        assert!(req(TicketMethod::Get, None, Some("p/"), None).validate(3600).is_err());
        assert!(req(TicketMethod::Post, Some("k"), Some("p/"), None).validate(3600).is_err());
        assert!(req(TicketMethod::Put, Some("k"), None, Some(7200)).validate(3600).is_err());
        assert_eq!(req(TicketMethod::Post, None, Some("p/"), Some(60)).validate(3600), Ok(60));
        assert_eq!(req(TicketMethod::Post, None, Some("p/"), None).resource(), "arn:aws:s3:::bkt/p/*");
    }
}
