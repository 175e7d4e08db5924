//! Upload tickets: server-side presigning. A signed caller (any identity: user, web-identity session,
//! pod credentials) asks `POST /kura/v1/presign` for a URL limited to one method on one object or prefix,
//! a size and a content type; kura checks now that the caller may do it, stores the ticket, and signs
//! the URL with a key of the ticket's own (`KURT…`, its secret derived by the keyring), so the URL
//! outlives the caller's short session but never the ticket: deleting the record (`kura admin presign
//! revoke`) makes it fail at once, on every replica that shares the metadata store.

use crate::authz::Caller;
use crate::identity::session::Keyring;
use serde::{Deserialize, Serialize};
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

/// Deletes expired (and unreadable) tickets and returns the live ones.
///
/// # Errors
/// The metadata store's.
pub async fn sweep_expired(meta: &dyn kura_store::MetaStore, now: u64) -> kura_store::StoreResult<Vec<Ticket>> {
    let mut live = Vec::new();
    for (id, bytes) in meta.list_records(RECORD).await? {
        match serde_json::from_slice::<Ticket>(&bytes) {
            Ok(t) if t.expires > now => live.push(t),
            _ => {
                meta.delete_record(RECORD, &id).await?;
            }
        }
    }
    Ok(live)
}

/// Deletes expired tickets every [`SWEEP_INTERVAL`], so they leave the store without waiting for a
/// listing; runs until the process ends.
pub async fn sweep_forever(meta: std::sync::Arc<dyn kura_store::MetaStore>) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + SWEEP_INTERVAL, SWEEP_INTERVAL);
    loop {
        tick.tick().await;
        if let Err(e) = sweep_expired(meta.as_ref(), crate::identity::unix_now()).await {
            tracing::warn!(error = %e, "sweeping expired upload tickets failed");
        }
    }
}

/// What a ticket allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TicketMethod {
    /// GetObject (and HeadObject) of one key.
    Get,
    /// PutObject of one key.
    Put,
    /// A browser POST upload under a prefix (or to one key).
    Post,
}

impl TicketMethod {
    /// The IAM action the issuer must be allowed.
    pub fn action(self) -> &'static str {
        match self {
            TicketMethod::Get => "s3:GetObject",
            TicketMethod::Put | TicketMethod::Post => "s3:PutObject",
        }
    }

    /// Whether the S3 operation `op` is what this ticket allows.
    fn allows_operation(self, op: &str) -> bool {
        match self {
            TicketMethod::Get => matches!(op, "GetObject" | "HeadObject"),
            TicketMethod::Put => op == "PutObject",
            TicketMethod::Post => op == "PostObject",
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

/// A stored ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    /// Its id: the access key its URL is signed with (`KURT…`).
    pub id: String,
    /// ARN of the caller who asked for it.
    pub principal: String,
    /// What it allows.
    pub method: TicketMethod,
    /// The bucket.
    pub bucket: String,
    /// The one key, or …
    pub key: Option<String>,
    /// … the prefix of allowed keys.
    pub key_prefix: Option<String>,
    /// Largest body.
    pub max_size: Option<u64>,
    /// Required Content-Type.
    pub content_type: Option<String>,
    /// Creation (Unix seconds).
    pub created: u64,
    /// Expiry (Unix seconds).
    pub expires: u64,
    /// Who issued it, to re-check at every use that the issuer may still do what the ticket allows
    /// (absent in tickets stored before kura recorded it: those are refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<Issuer>,
}

/// The identity that issued a ticket, enough to authorise it again later: a ticket never allows more
/// than its issuer may do **now** (a new Deny, a disabled or deleted user, a deleted role end it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Issuer {
    /// The root user: always exists and may do everything.
    Root,
    /// An IAM user.
    User {
        /// Its access key (= name).
        access_key: String,
    },
    /// A role session: the ticket outlives the session (by design), not the role or its policies.
    Session {
        /// The session's claims (role, variables, session policy).
        claims: crate::identity::session::SessionClaims,
    },
}

impl Issuer {
    /// The issuer of a ticket asked for by `caller` (anonymous callers and tickets issue none).
    pub fn of(caller: &Caller) -> Option<Self> {
        match caller {
            Caller::Root { .. } => Some(Issuer::Root),
            Caller::User { access_key } => Some(Issuer::User { access_key: access_key.clone() }),
            Caller::Session { claims, .. } => Some(Issuer::Session { claims: claims.as_ref().clone() }),
            Caller::Ticket { .. } | Caller::Anonymous => None,
        }
    }

    /// The caller to authorise a ticket's use as, in the current IAM state: `None` for root (no
    /// policy applies), an error when the issuer no longer exists or is disabled.
    pub fn caller(&self, state: &crate::iam::IamState, ticket: &str) -> Result<Option<Caller>, TicketDenied> {
        let gone = |why: String| TicketDenied::IssuerGone { id: ticket.to_owned(), why };
        match self {
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
                let caller =
                    Caller::Session { access_key: claims.access_key.clone(), claims: Arc::new(claims.clone()) };
                Ok(Some(caller))
            }
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
        if crate::s3::bucket::validate_bucket_name(&self.bucket).is_err() {
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

/// Why a request made with a ticket was refused (403 AccessDenied, with this message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketDenied {
    /// Revoked, or never issued here.
    #[error("the upload ticket {0} was revoked or does not exist")]
    Unknown(String),
    /// Past its expiry.
    #[error("the upload ticket {0} has expired")]
    Expired(String),
    /// Issued before kura recorded issuers, or its issuer is gone or disabled.
    #[error("the upload ticket {id} can no longer be used: {why}")]
    IssuerGone {
        /// The ticket.
        id: String,
        /// What happened to the issuer.
        why: String,
    },
    /// Another operation, bucket, key, size or type than the ticket allows.
    #[error("the upload ticket {id} does not allow this request: {why}")]
    Mismatch {
        /// The ticket.
        id: String,
        /// What differs.
        why: String,
    },
}

impl Ticket {
    /// Whether the ticket allows `op` on `bucket`/`key` (the key may be unknown yet for POST: checked
    /// again once the form is read) with a body of `content_length` bytes, at `now`.
    pub fn check(
        &self,
        op: &str,
        bucket: Option<&str>,
        key: Option<&str>,
        content_length: Option<u64>,
        now: u64,
    ) -> Result<(), TicketDenied> {
        let mismatch = |why: String| Err(TicketDenied::Mismatch { id: self.id.clone(), why });
        if now >= self.expires {
            return Err(TicketDenied::Expired(self.id.clone()));
        }
        if !self.method.allows_operation(op) {
            return mismatch(format!("it is for {:?}, not {op}", self.method));
        }
        if bucket != Some(self.bucket.as_str()) {
            return mismatch(format!("it is for bucket {}", self.bucket));
        }
        if let Some(key) = key {
            self.check_key(key)?;
        }
        if self.method == TicketMethod::Put
            && let Some(max) = self.max_size
        {
            match content_length {
                Some(n) if n <= max => {}
                Some(n) => return mismatch(format!("{n} bytes is more than its max_size of {max}")),
                None => return mismatch("send Content-Length: the ticket limits the size".into()),
            }
        }
        Ok(())
    }

    /// Whether `key` is the ticket's key or under its prefix.
    pub fn check_key(&self, key: &str) -> Result<(), TicketDenied> {
        let ok = match (&self.key, &self.key_prefix) {
            (Some(k), _) => k == key,
            (None, Some(p)) => key.starts_with(p.as_str()),
            (None, None) => false,
        };
        if ok {
            Ok(())
        } else {
            Err(TicketDenied::Mismatch { id: self.id.clone(), why: format!("key {key:?} is outside it") })
        }
    }
}

/// Whether an access key is an upload ticket's.
pub fn is_ticket_key(access_key: &str) -> bool {
    Keyring::is_ticket(access_key)
}

/// The caller a ticket acts for (its issuer), for attribution only: tickets are authorised by their own
/// limits, not by policies.
pub fn issuer_arn(ticket: &Ticket) -> &str {
    &ticket.principal
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
