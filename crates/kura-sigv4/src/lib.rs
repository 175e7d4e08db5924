//! AWS Signature Version 4 for kura: the one place that builds canonical requests, derives signing
//! keys, signs and verifies.
//!
//! Pure: no I/O, no async, no clock reads (callers pass the time). Every input may come from an
//! attacker: nothing here panics on bad input, and work is bounded ([`MAX_SIGNED_HEADERS`],
//! [`MAX_QUERY_PARAMS`]).
//!
//! - **Verify against host aliases** (the server, P1): [`parse_auth`] reads the header or presigned
//!   query form; derive the key with [`derive_key`] for [`ParsedAuth::scope`]; [`verify_for_hosts`]
//!   says which configured name the client signed for. The server then rewrites `Host` to that name
//!   and lets s3s verify as usual.
//! - **Presign** (`kura presign`, upload tickets): [`presign_url`], and [`sign_post_policy`] for
//!   browser POST uploads.
//! - **Sign** (kura-bench): [`CanonicalRequest`] → [`canonical_request`] → [`string_to_sign`] →
//!   [`signature`] with a cached [`SigningKey`].
//!
//! S3 rules, not the generic SigV4 ones: paths are URI-encoded once and never normalised; header
//! values are trimmed of spaces (only spaces) with inner runs collapsed; query pairs are sorted by
//! encoded name, then encoded value.

mod canonical;
mod encode;
mod error;
mod key;
mod parse;
mod presign;
mod verify;

pub use canonical::{
    CanonicalRequest, canonical_request, format_amz_date, parse_amz_date, parse_http_date, string_to_sign,
};
pub use encode::{
    canonical_path, canonical_query, canonical_query_from_raw, encode_object_path, encode_query_component,
    encode_uri_path,
};
pub use error::SigV4Error;
pub use key::{Scope, SigningKey, derive_key, sign_post_policy, signature, signatures_equal};
pub use parse::{ParsedAuth, SignatureForm, parse_auth};
pub use presign::{PresignRequest, presign_url};
pub use verify::{verify_for_hosts, verify_for_hosts_with_payload};

/// The only signing algorithm supported: `AWS4-HMAC-SHA256`.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Payload hash of requests whose body is not signed (always the case for presigned URLs).
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// Hex SHA-256 of the empty string: the payload hash of bodiless requests.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The most signed headers a request may list (more is refused, not truncated).
pub const MAX_SIGNED_HEADERS: usize = 64;

/// The most query parameters a request may carry (more is refused, not truncated).
pub const MAX_QUERY_PARAMS: usize = 1024;

/// The longest presigned lifetime S3 accepts: 7 days, in seconds.
pub const MAX_EXPIRES_SECS: u64 = 604_800;
