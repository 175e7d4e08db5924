//! HTTP preconditions (RFC 9110 §13, as S3 applies them): `If-Match`, `If-None-Match`,
//! `If-Modified-Since`, `If-Unmodified-Since`, and their `x-amz-copy-source-if-*` twins.

use crate::errors;
use crate::s3::meta::timestamp_secs;
use s3s::S3Result;
use s3s::dto::{CopyObjectInput, ETagCondition, GetObjectInput, HeadObjectInput, Timestamp, UploadPartCopyInput};

/// The conditions of one request.
#[derive(Debug, Default, Clone, Copy)]
pub struct Preconditions<'a> {
    /// `If-Match`.
    pub if_match: Option<&'a ETagCondition>,
    /// `If-None-Match`.
    pub if_none_match: Option<&'a ETagCondition>,
    /// `If-Modified-Since`.
    pub if_modified_since: Option<&'a Timestamp>,
    /// `If-Unmodified-Since`.
    pub if_unmodified_since: Option<&'a Timestamp>,
}

/// Implements a conditions trait for s3s inputs that name the four condition fields alike (with or
/// without the `copy_source_` prefix). A macro because only the types and field names differ.
macro_rules! preconditions {
    ($trait:ident::$method:ident for $($input:ty),+ => $m:ident, $nm:ident, $ms:ident, $us:ident) => {$(
        impl $trait for $input {
            fn $method(&self) -> Preconditions<'_> {
                Preconditions {
                    if_match: self.$m.as_ref(),
                    if_none_match: self.$nm.as_ref(),
                    if_modified_since: self.$ms.as_ref(),
                    if_unmodified_since: self.$us.as_ref(),
                }
            }
        }
    )+};
}

preconditions!(ReadConditions::read_conditions for GetObjectInput, HeadObjectInput
    => if_match, if_none_match, if_modified_since, if_unmodified_since);
preconditions!(CopySourceConditions::copy_source_conditions for CopyObjectInput, UploadPartCopyInput
    => copy_source_if_match, copy_source_if_none_match, copy_source_if_modified_since, copy_source_if_unmodified_since);

/// Reads (GetObject, HeadObject) and their `If-*` headers. s3s generates the inputs with the same field
/// names but no common trait; each names its fields once here.
pub trait ReadConditions {
    /// The conditions the request puts on the object it reads.
    fn read_conditions(&self) -> Preconditions<'_>;
}

/// Copies (CopyObject, UploadPartCopy) and their `x-amz-copy-source-if-*` headers, which condition the
/// source; a CopyObject's own `If-Match` / `If-None-Match` condition the destination and are not these.
pub trait CopySourceConditions {
    /// The conditions the request puts on the source it copies from.
    fn copy_source_conditions(&self) -> Preconditions<'_>;
}

fn matches(cond: &ETagCondition, etag: &str) -> bool {
    match cond {
        ETagCondition::Any => true,
        ETagCondition::ETag(e) => e.value().trim_matches('"') == etag,
    }
}

impl Preconditions<'_> {
    /// Checks a read (GET/HEAD): failures give 412 PreconditionFailed, "not modified" gives 304.
    pub fn check_read(&self, etag: &str, last_modified_ms: i64) -> S3Result<()> {
        self.check(etag, last_modified_ms, false)
    }

    /// Checks a copy source: every failure is 412 PreconditionFailed.
    pub fn check_copy_source(&self, etag: &str, last_modified_ms: i64) -> S3Result<()> {
        self.check(etag, last_modified_ms, true)
    }

    fn check(&self, etag: &str, last_modified_ms: i64, copy: bool) -> S3Result<()> {
        let modified = last_modified_ms.div_euclid(1000);
        let failed = errors::precondition_failed;
        let not_modified = || if copy { failed() } else { errors::not_modified(etag, last_modified_ms) };
        match self.if_match {
            Some(cond) => {
                if !matches(cond, etag) {
                    return Err(failed());
                }
            }
            None => {
                if self.if_unmodified_since.is_some_and(|t| modified > timestamp_secs(t)) {
                    return Err(failed());
                }
            }
        }
        match self.if_none_match {
            Some(cond) => {
                if matches(cond, etag) {
                    return Err(not_modified());
                }
            }
            None => {
                if self.if_modified_since.is_some_and(|t| modified <= timestamp_secs(t)) {
                    return Err(not_modified());
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3s::S3ErrorCode;
    use s3s::dto::ETag;

    fn ts(secs: i64) -> Timestamp {
        Timestamp::from(time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH))
    }

    #[test]
    fn if_match_mismatch_is_412_and_none_match_hit_is_304() {
        let other = ETagCondition::ETag(ETag::Strong("zzz".into()));
        let same = ETagCondition::ETag(ETag::Strong("abc".into()));
        let p = Preconditions { if_match: Some(&other), ..Default::default() };
        assert_eq!(p.check_read("abc", 0).unwrap_err().code(), &S3ErrorCode::PreconditionFailed);
        let p = Preconditions { if_none_match: Some(&same), ..Default::default() };
        assert_eq!(p.check_read("abc", 0).unwrap_err().code(), &S3ErrorCode::NotModified);
        assert_eq!(p.check_copy_source("abc", 0).unwrap_err().code(), &S3ErrorCode::PreconditionFailed);
        let any = ETagCondition::Any;
        let p = Preconditions { if_match: Some(&any), ..Default::default() };
        assert!(p.check_read("abc", 0).is_ok());
    }

    #[test]
    fn dates_compare_at_second_precision_and_yield_to_etags() {
        let t = ts(1000);
        let p = Preconditions { if_modified_since: Some(&t), ..Default::default() };
        assert_eq!(p.check_read("e", 1_000_999).unwrap_err().code(), &S3ErrorCode::NotModified);
        assert!(p.check_read("e", 1_001_000).is_ok());
        let p = Preconditions { if_unmodified_since: Some(&t), ..Default::default() };
        assert!(p.check_read("e", 1_000_500).is_ok());
        assert_eq!(p.check_read("e", 1_001_000).unwrap_err().code(), &S3ErrorCode::PreconditionFailed);
        // If-Match that holds overrides a failing If-Unmodified-Since (RFC 9110 §13.2.2).
        let m = ETagCondition::ETag(ETag::Strong("e".into()));
        let p = Preconditions { if_match: Some(&m), if_unmodified_since: Some(&t), ..Default::default() };
        assert!(p.check_read("e", 5_000_000).is_ok());
    }
}
