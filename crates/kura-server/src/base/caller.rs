//! Who is making a request, once its signature has been verified, and how they proved it.

use super::account::{ACCOUNT, assumed_role_arn, role_id};
use super::claims::SessionClaims;
use super::clock::iso8601;
use super::ticket::{Issuer, Ticket};
use kura_policy::{Context, Principal};
use std::sync::Arc;

/// Who is making a request, once its signature has been verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The root user.
    Root {
        /// Its access key.
        access_key: String,
    },
    /// An IAM user (name = access key).
    User {
        /// Its access key.
        access_key: String,
    },
    /// A role session (temporary credentials whose session token was verified).
    Session {
        /// Its temporary access key.
        access_key: String,
        /// What its token says (role, session name, variables, tags, session policy).
        claims: Arc<SessionClaims>,
    },
    /// A request signed with an upload ticket's key: authorised by the ticket's own limits, never by
    /// policies.
    Ticket {
        /// The ticket.
        ticket: Arc<Ticket>,
    },
    /// An unsigned request.
    Anonymous,
}

impl Caller {
    /// The issuer a ticket asked for by this caller records (anonymous callers and tickets issue none).
    pub fn issuer(&self) -> Option<Issuer> {
        match self {
            Caller::Root { .. } => Some(Issuer::Root),
            Caller::User { access_key } => Some(Issuer::User { access_key: access_key.clone() }),
            Caller::Session { claims, .. } => Some(Issuer::Session { claims: claims.as_ref().clone() }),
            Caller::Ticket { .. } | Caller::Anonymous => None,
        }
    }

    /// The caller's ARN, as AWS would print it.
    pub fn arn(&self) -> String {
        match self {
            Caller::Root { .. } => format!("arn:aws:iam::{ACCOUNT}:root"),
            Caller::User { access_key } => format!("arn:aws:iam::{ACCOUNT}:user/{access_key}"),
            Caller::Session { claims, .. } => assumed_role_arn(&claims.role, &claims.session),
            Caller::Ticket { ticket } => ticket.principal.clone(),
            Caller::Anonymous => "anonymous".to_owned(),
        }
    }

    /// The access key the request was signed with, if any.
    pub fn access_key(&self) -> Option<&str> {
        match self {
            Caller::Root { access_key } | Caller::User { access_key } | Caller::Session { access_key, .. } => {
                Some(access_key)
            }
            Caller::Ticket { ticket } => Some(&ticket.id),
            Caller::Anonymous => None,
        }
    }

    /// The principal as the policy engine sees it.
    pub fn principal(&self) -> Principal {
        match self {
            Caller::Root { .. } => Principal::root(ACCOUNT),
            Caller::User { access_key } => Principal::user(ACCOUNT, access_key),
            Caller::Session { claims, .. } => {
                let mut p = Principal::assumed_role(ACCOUNT, &claims.role, &claims.session);
                p.userid = Some(format!("{}:{}", role_id(&claims.role), claims.session));
                p
            }
            // Tickets are never evaluated against policies; should one be, it has no more rights than
            // an unsigned request.
            Caller::Ticket { .. } | Caller::Anonymous => Principal::anonymous(),
        }
    }

    /// Adds the principal's global condition keys (`aws:username`, `aws:userid`, `aws:PrincipalType`,
    /// `aws:PrincipalArn`, `aws:PrincipalAccount`).
    pub fn fill_context(&self, cx: &mut Context) {
        match self {
            Caller::Root { .. } => {
                cx.insert("aws:PrincipalType", "Account");
                cx.insert("aws:userid", ACCOUNT);
            }
            Caller::User { access_key } => {
                cx.insert("aws:PrincipalType", "User");
                cx.insert("aws:username", access_key.as_str());
                cx.insert("aws:userid", access_key.as_str());
            }
            Caller::Session { claims, .. } => {
                cx.insert("aws:PrincipalType", "AssumedRole");
                cx.insert("aws:userid", format!("{}:{}", role_id(&claims.role), claims.session));
                cx.insert("aws:TokenIssueTime", iso8601(claims.issued));
                // `${jwt:sub}`, `${k8s:namespace}`, … and the session tags.
                for (key, value) in &claims.vars {
                    cx.insert(key, value.as_str());
                }
                for (key, value) in &claims.tags {
                    cx.insert(&format!("aws:PrincipalTag/{key}"), value.as_str());
                }
            }
            Caller::Ticket { .. } | Caller::Anonymous => {
                cx.insert("aws:PrincipalType", "Anonymous");
                cx.insert("aws:userid", "anonymous");
                return;
            }
        }
        cx.insert("aws:PrincipalArn", self.arn());
        cx.insert("aws:PrincipalAccount", ACCOUNT);
    }
}

/// How a request proved who it is (`s3:authType` / `s3:signatureversion`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthType {
    /// Signed `Authorization` header.
    Header,
    /// Presigned URL (signature in the query).
    Presigned,
    /// Browser POST upload with a signed policy.
    Post,
    /// Unsigned.
    Anonymous,
}

impl AuthType {
    /// How the audit log names it.
    pub fn audit_name(self) -> &'static str {
        match self {
            AuthType::Header => "header",
            AuthType::Presigned => "presigned",
            AuthType::Post => "post",
            AuthType::Anonymous => "anonymous",
        }
    }

    /// The `s3:authType` value.
    pub fn s3_auth_type(self) -> Option<&'static str> {
        match self {
            AuthType::Header => Some("REST-HEADER"),
            AuthType::Presigned => Some("REST-QUERY-STRING"),
            AuthType::Post => Some("POST"),
            AuthType::Anonymous => None,
        }
    }
}
