//! What an upload ticket is: the stored record behind a `KURT…` key, what it allows, who issued it,
//! and the checks a request made with it must pass (issued and enforced by [`crate::tickets`]).

use serde::{Deserialize, Serialize};

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
        claims: super::claims::SessionClaims,
    },
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

/// The caller a ticket acts for (its issuer), for attribution only: tickets are authorised by their own
/// limits, not by policies.
pub fn issuer_arn(ticket: &Ticket) -> &str {
    &ticket.principal
}
