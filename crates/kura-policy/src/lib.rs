//! # kura-policy — kura's IAM policy engine
//!
//! Parses and evaluates AWS IAM policy JSON the way AWS documents it, so that the policies AWS users already
//! write (identity policies, bucket policies, role trust policies, session policies) mean the same thing in
//! kura. Pure and synchronous: no I/O, no async, no clock, no HTTP. The server builds a [`Request`] (who,
//! which action, which resource, the condition keys in a [`Context`]) and gets a [`Decision`] that says
//! which statement decided, for error messages and the audit log.
//!
//! ```
//! use kura_policy::{evaluate, Context, NamedPolicy, Policy, PolicySet, Principal, Request};
//!
//! let policy = Policy::parse(r#"{
//!   "Version": "2012-10-17",
//!   "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
//!                  "Resource": "arn:aws:s3:::home/${aws:username}/*"}]
//! }"#)?;
//! let alice = Principal::user("000000000000", "alice");
//! let ctx = Context::new();
//! let identity = [NamedPolicy { name: "home", policy: &policy }];
//! let set = PolicySet { identity: &identity, ..Default::default() };
//! let req = Request { principal: &alice, action: "s3:GetObject", resource: "arn:aws:s3:::home/alice/a.txt", context: &ctx };
//! let d = evaluate(&set, &req);
//! assert!(d.is_allowed());
//! assert_eq!(d.explain(), "allowed by statement 0 of policy \"home\"");
//! # Ok::<(), kura_policy::PolicyError>(())
//! ```
//!
//! ## What it implements
//! - **Grammar**: `Version` (`2012-10-17`; `2008-10-17` or absent = no policy variables), `Id`, `Statement`
//!   (object or list), `Sid`, `Effect`, `Action`/`NotAction`, `Resource`/`NotResource`,
//!   `Principal`/`NotPrincipal` (`"*"`, `AWS`, `Federated`, `Service`, `CanonicalUser`; a 12-digit account
//!   id means `arn:aws:iam::ID:root`), `Condition`. Unknown fields, both `Action` and `NotAction`, a missing
//!   `Effect`, malformed actions, unknown operators, resources that are neither `*` nor an ARN, and
//!   partial-wildcard principals are rejected with a [`PolicyError`] naming the statement and field.
//!   [`Policy::validate_identity`], [`Policy::validate_resource`] and [`Policy::validate_bucket_policy`]
//!   add the rules of each policy type.
//! - **Matching**: `*` and `?`; actions case-insensitive, resources case-sensitive; in `Resource` a
//!   wildcard crosses `:` and `/`; `ArnLike`/`ArnEquals` match each of the six ARN components separately.
//! - **Policy variables** in `Resource`/`NotResource` and `String*`/`Arn*` condition values: any
//!   `${key}` is looked up in the [`Context`] (so `${jwt:sub}`, `${k8s:namespace}`, `${aws:PrincipalTag/team}`
//!   need no code), `${key, 'default'}`, and `${*}` `${?}` `${$}`. A variable without a value makes that
//!   value match nothing. Substituted text is literal (a `*` in a value is not a wildcard).
//! - **Conditions**: every `String*`, `Numeric*`, `Date*` (ISO 8601 or epoch seconds), `Bool`,
//!   `BinaryEquals`, `IpAddress`/`NotIpAddress` (IPv4/IPv6 CIDR), `Arn*`, `Null`; `…IfExists`;
//!   `ForAnyValue:`/`ForAllValues:`. Missing keys, negated operators and set
//!   qualifiers: see [`Condition`].
//! - **Evaluation** ([`evaluate`]): explicit deny wins; identity ∪ resource policy, ∩ session policies and
//!   permission boundaries; anonymous callers only through the resource policy. The rules are on [`evaluate`].
//! - **Public**: [`Policy::is_public`] is S3 Block Public Access' "The meaning of public", read strictly:
//!   only fixed values of the restricting keys (CIDRs no broader than a /8 or /32, together) keep a
//!   grant to everyone from the public; a value anonymous callers carry restricts nothing. "Everyone" is
//!   `"*"`, a `"*"` of any principal type, `NotPrincipal`, or a `Federated` provider (as AWS).
//! - **KMS**: [`kms`] names the KMS actions, key ARNs and condition keys of a key used through S3,
//!   and the key policy of the S3-managed key.
//! - **S3**: [`s3::authz_for`] maps each S3 operation to its IAM action and resource;
//!   [`s3::CONDITION_KEYS`] lists what the server puts in the context. **Canned** policies and anonymous
//!   bucket modes: [`canned`].
//!
//! ## Decisions where AWS leaves room
//! - A resource-policy statement with no `Principal` (invalid; [`Policy::validate_resource`] rejects it)
//!   allows nobody but, if it denies, denies everybody: fail closed.
//! - `NotPrincipal` exempts a caller only when every name it goes by is listed (its ARN, its role for a
//!   session, its account, its provider), as AWS's NotPrincipal page warns; anonymous callers are never
//!   exempt unless `"*"` is listed.
//! - An account in `Principal` (`"000000000000"`, `arn:aws:iam::000000000000:root`): in an `Allow` it
//!   grants only the account root (AWS delegates to the account's identity policies, which must allow on
//!   their own); in a `Deny` it covers every principal of the account.
//! - Session policies and permission boundaries both go in [`PolicySet::session`]; a resource-policy grant
//!   that names the caller's own ARN (session or user) is not limited by them, any other grant is.
//! - A variable whose key is missing or multi-valued has no value; with no default, that `Resource` or
//!   condition value matches nothing (so a negated operator is true for it).
//! - Negated operators on a missing key are true; `ForAllValues:` on a missing key is true, `ForAnyValue:`
//!   false; `…IfExists` on a missing key true; `Null` cannot take a qualifier or `IfExists`.
//! - Operator names are matched case-insensitively; element names (`Effect`, `Action`…) and `Allow`/`Deny`
//!   are case-sensitive. Condition keys are case-insensitive as a whole, tag-key suffixes included.
//! - `ArnEquals` and `ArnLike` are the same operator (AWS documents both as per-component wildcard
//!   matches); `StringEquals` has no wildcards; `StringEqualsIgnoreCase` compares Unicode lower case.
//! - `Resource` patterns are matched on the whole ARN, so `*` crosses `:` and `/`; account-level S3
//!   actions use the resource `arn:aws:s3:::` ([`s3::ACCOUNT_RESOURCE`]) so `"arn:aws:s3:::*"` grants them.
//!
//! ## What it deliberately does not do
//! - Cross-account evaluation, SCPs/RCPs, ACLs, `aws:CalledVia` chains: kura is one account
//!   (`000000000000`). An account principal in an `Allow` only delegates (it grants the account root); in a
//!   `Deny` it covers every principal of the account.
//! - Read the clock or the network: the server supplies `aws:CurrentTime`, `aws:EpochTime`,
//!   `aws:SourceIp`, `aws:SecureTransport`.
//! - Validate condition keys against a service's key list (unknown keys are simply absent from requests),
//!   or Sid uniqueness.

mod condition;
mod context;
mod env;
mod error;
mod eval;
mod pattern;
mod policy;
mod principal;
mod public;

pub mod canned;
pub mod kms;
pub mod s3;

pub use condition::{Condition, OPERATOR_NAMES};
pub use context::Context;
pub use error::PolicyError;
pub use eval::{Decision, NamedPolicy, Outcome, PolicySet, Request, StatementRef, evaluate};
pub use policy::{Effect, PatternList, Policy, PrincipalType, Principals, Statement, VERSION_2008, VERSION_2012};
pub use principal::{Principal, PrincipalKind};
