//! Authorisation: whether a verified caller may do what a request asks.
//!
//! [`KuraAccess`] is s3s's access hook: it confirms the gate's verdict against the key s3s verified,
//! resolves the [`Caller`](crate::base::caller::Caller), builds the request's condition keys
//! ([`context`]) and asks the [`Authorizer`] ([`decide`]), the one bridge to the policy engine, which
//! every decision in kura goes through (S3, admin API, policy simulation, the KMS keys SSE-KMS uses:
//! [`kms`]). Deny by default.

mod access;
pub mod context;
pub mod decide;
pub mod kms;

pub use access::{Authenticated, KuraAccess, LoadedBucket, caller_of, session_token};
pub use decide::{Access, Authorizer, identity_policies};
pub use kms::{KmsUse, authorize_kms};
