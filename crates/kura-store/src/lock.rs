//! Object Lock as records and one rule: a bucket's Object Lock settings (enabled, default retention)
//! and a version's lock (retention mode and date, legal hold), and [`ObjectLock::check`], which says
//! whether a version may be permanently deleted or its retention replaced.
//!
//! The rule is pure (no clock, no policy engine): the caller passes the time and whether the request
//! may bypass GOVERNANCE retention, which is true only when it sent
//! `x-amz-bypass-governance-retention: true` **and** the caller holds `s3:BypassGovernanceRetention`
//! ([`Bypass`]). Back ends store the records as they are; the rule lives here so that every layer that
//! removes or changes a version (the S3 operations, lifecycle) asks the same question, and the store
//! asks it again inside the removal's transaction ([`RemovalGuard`]).

use crate::versions::{self, Found, VersionWrite};
use crate::{StoreError, StoreResult};
use serde::{Deserialize, Serialize};

/// An Object Lock retention mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RetentionMode {
    /// Removable or shortened before its date only with a bypass (header and permission).
    Governance,
    /// Never removed or shortened before its date, by anyone (root included).
    Compliance,
}

impl RetentionMode {
    /// The wire name (`GOVERNANCE`, `COMPLIANCE`).
    pub fn as_str(self) -> &'static str {
        match self {
            RetentionMode::Governance => "GOVERNANCE",
            RetentionMode::Compliance => "COMPLIANCE",
        }
    }

    /// Parses the wire name exactly (S3 is case-sensitive here: `governance` is malformed).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "GOVERNANCE" => Some(RetentionMode::Governance),
            "COMPLIANCE" => Some(RetentionMode::Compliance),
            _ => None,
        }
    }
}

/// A version's retention: its mode and the time until which it is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// GOVERNANCE or COMPLIANCE.
    pub mode: RetentionMode,
    /// Retain until, ms since the epoch.
    pub until_ms: i64,
}

impl Retention {
    /// Whether the retention still protects at `now_ms`.
    pub fn is_active(&self, now_ms: i64) -> bool {
        self.until_ms > now_ms
    }
}

/// A version's Object Lock state. The default (no retention, no legal hold) protects nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectLock {
    /// Its retention, if one was set.
    #[serde(default)]
    pub retention: Option<Retention>,
    /// Whether a legal hold is on.
    #[serde(default)]
    pub legal_hold: bool,
}

/// The length of a bucket's default retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RetentionPeriod {
    /// This many days (> 0).
    Days(u32),
    /// This many years (> 0).
    Years(u32),
}

/// A bucket's default retention, applied to new versions that name none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultRetention {
    /// GOVERNANCE or COMPLIANCE.
    pub mode: RetentionMode,
    /// How long from the version's creation.
    pub period: RetentionPeriod,
}

/// Object Lock on a bucket: present once enabled (at creation, or on a versioned bucket by
/// PutObjectLockConfiguration), never removed, as in S3.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectLockSettings {
    /// The default retention rule, if one is set.
    #[serde(default)]
    pub default_retention: Option<DefaultRetention>,
}

/// Whether a request may override GOVERNANCE retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bypass {
    /// It sent `x-amz-bypass-governance-retention: true`.
    pub requested: bool,
    /// Its caller holds `s3:BypassGovernanceRetention` on the object.
    pub permitted: bool,
}

impl Bypass {
    /// No bypass asked for.
    pub const NONE: Self = Self { requested: false, permitted: false };

    /// Whether GOVERNANCE retention gives way: the header alone never suffices.
    pub fn applies(self) -> bool {
        self.requested && self.permitted
    }
}

/// What a permanent removal of a version may override, checked by the store in the removal's own
/// transaction ([`crate::MetaStore::delete_version`]): a lock set between the caller's check and the
/// removal (a legal hold, a retention) still refuses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemovalGuard {
    /// The time the lock is judged at, ms since the epoch.
    pub now_ms: i64,
    /// Whether GOVERNANCE retention gives way.
    pub bypass: Bypass,
}

impl RemovalGuard {
    /// Judged at `now_ms`, with no bypass.
    pub fn at(now_ms: i64) -> Self {
        Self { now_ms, bypass: Bypass::NONE }
    }
}

/// What a version's lock refuses, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LockRefusal {
    /// A legal hold is on: the version cannot be deleted whatever its retention.
    #[error("the object version is under a legal hold")]
    LegalHold,
    /// COMPLIANCE retention: nobody removes or shortens it before its date.
    #[error("the object version is under COMPLIANCE retention")]
    Compliance,
    /// GOVERNANCE retention and no bypass (header and `s3:BypassGovernanceRetention`).
    #[error("the object version is under GOVERNANCE retention")]
    Governance,
}

/// What is asked of a locked version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockChange<'a> {
    /// Delete it permanently (a version delete, never a delete marker).
    Remove,
    /// Replace its retention with this one (`None` removes it).
    SetRetention(Option<&'a Retention>),
}

impl ObjectLock {
    /// Whether `change` is allowed at `now_ms` with `bypass`:
    /// - a legal hold refuses removal, whatever the mode (it does not stop retention changes);
    /// - an expired retention (or none) refuses nothing;
    /// - extending an active retention in the same mode is always allowed;
    /// - COMPLIANCE is never removed, shortened or changed to GOVERNANCE, not by root;
    /// - GOVERNANCE is removed, shortened or changed to COMPLIANCE only when [`Bypass::applies`].
    pub fn check(&self, change: LockChange<'_>, now_ms: i64, bypass: Bypass) -> Result<(), LockRefusal> {
        if change == LockChange::Remove && self.legal_hold {
            return Err(LockRefusal::LegalHold);
        }
        let Some(current) = self.retention.filter(|r| r.is_active(now_ms)) else {
            return Ok(());
        };
        if let LockChange::SetRetention(Some(new)) = change
            && new.mode == current.mode
            && new.until_ms >= current.until_ms
        {
            return Ok(());
        }
        match current.mode {
            RetentionMode::Compliance => Err(LockRefusal::Compliance),
            RetentionMode::Governance if bypass.applies() => Ok(()),
            RetentionMode::Governance => Err(LockRefusal::Governance),
        }
    }

    /// Whether this is the default (no retention, no legal hold): such a lock is not stored.
    pub fn is_unlocked(&self) -> bool {
        *self == Self::default()
    }

    /// Whether anything protects the version at `now_ms` (a legal hold or an active retention).
    pub fn protects(&self, now_ms: i64) -> bool {
        self.legal_hold || self.retention.is_some_and(|r| r.is_active(now_ms))
    }
}

/// Replaces the lock of the version `version` names (`None`: the current object) if it is still
/// `expected`, over any back end's version tables: a missing version is `NoSuchVersion`, a missing
/// object or a delete marker `NoSuchKey`, a changed lock `ConditionFailed` (the request's own refusal,
/// the inner result, which writes nothing).
pub fn set_lock<T: VersionWrite + ?Sized>(
    t: &mut T,
    bucket: &str,
    key: &str,
    version: Option<&str>,
    (expected, lock): (ObjectLock, ObjectLock),
) -> StoreResult<StoreResult<()>> {
    let Some(Found { mut object, current }) = versions::find(t, bucket, key, version, false)? else {
        return Ok(Err(match version {
            Some(v) => StoreError::NoSuchVersion { key: key.to_owned(), version: v.to_owned() },
            None => StoreError::NoSuchKey { bucket: bucket.to_owned(), key: key.to_owned() },
        }));
    };
    if object.delete_marker {
        return Ok(Err(StoreError::NoSuchKey { bucket: bucket.to_owned(), key: key.to_owned() }));
    }
    if object.lock != expected {
        return Ok(Err(StoreError::ConditionFailed { key: key.to_owned() }));
    }
    object.lock = lock;
    t.rewrite(bucket, &object, current)?;
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000;
    const FULL: Bypass = Bypass { requested: true, permitted: true };
    const HEADER_ONLY: Bypass = Bypass { requested: true, permitted: false };
    const PERMISSION_ONLY: Bypass = Bypass { requested: false, permitted: true };

    fn lock(mode: RetentionMode, until_ms: i64, legal_hold: bool) -> ObjectLock {
        ObjectLock { retention: Some(Retention { mode, until_ms }), legal_hold }
    }

    fn retention(mode: RetentionMode, until_ms: i64) -> Retention {
        Retention { mode, until_ms }
    }

    use LockChange::{Remove, SetRetention};
    use RetentionMode::{Compliance, Governance};

    #[test]
    fn nothing_protects_an_unlocked_or_expired_version() {
        for l in [ObjectLock::default(), lock(Compliance, NOW, false), lock(Governance, NOW - 1, false)] {
            assert_eq!(l.check(Remove, NOW, Bypass::NONE), Ok(()), "{l:?}");
            assert_eq!(l.check(SetRetention(None), NOW, Bypass::NONE), Ok(()), "{l:?}");
            let shorter = retention(Governance, NOW + 1);
            assert_eq!(l.check(SetRetention(Some(&shorter)), NOW, Bypass::NONE), Ok(()), "{l:?}");
            assert!(!l.protects(NOW));
        }
    }

    #[test]
    fn compliance_is_never_removed_shortened_or_relaxed_even_with_a_full_bypass() {
        let l = lock(Compliance, NOW + 100, false);
        for bypass in [Bypass::NONE, HEADER_ONLY, PERMISSION_ONLY, FULL] {
            assert_eq!(l.check(Remove, NOW, bypass), Err(LockRefusal::Compliance));
            assert_eq!(l.check(SetRetention(None), NOW, bypass), Err(LockRefusal::Compliance));
            let shorter = retention(Compliance, NOW + 99);
            assert_eq!(l.check(SetRetention(Some(&shorter)), NOW, bypass), Err(LockRefusal::Compliance));
            let relaxed = retention(Governance, NOW + 1000);
            assert_eq!(l.check(SetRetention(Some(&relaxed)), NOW, bypass), Err(LockRefusal::Compliance));
        }
        assert!(l.protects(NOW));
    }

    #[test]
    fn governance_gives_way_only_to_the_header_and_the_permission_together() {
        let l = lock(Governance, NOW + 100, false);
        for bypass in [Bypass::NONE, HEADER_ONLY, PERMISSION_ONLY] {
            assert_eq!(l.check(Remove, NOW, bypass), Err(LockRefusal::Governance), "{bypass:?}");
            assert_eq!(l.check(SetRetention(None), NOW, bypass), Err(LockRefusal::Governance));
            let shorter = retention(Governance, NOW + 50);
            assert_eq!(l.check(SetRetention(Some(&shorter)), NOW, bypass), Err(LockRefusal::Governance));
            let stricter = retention(Compliance, NOW + 100);
            assert_eq!(l.check(SetRetention(Some(&stricter)), NOW, bypass), Err(LockRefusal::Governance));
        }
        assert_eq!(l.check(Remove, NOW, FULL), Ok(()));
        assert_eq!(l.check(SetRetention(None), NOW, FULL), Ok(()));
        assert_eq!(l.check(SetRetention(Some(&retention(Governance, NOW + 1))), NOW, FULL), Ok(()));
        assert_eq!(l.check(SetRetention(Some(&retention(Compliance, NOW + 100))), NOW, FULL), Ok(()));
    }

    #[test]
    fn extending_in_the_same_mode_is_always_allowed() {
        for mode in [Governance, Compliance] {
            let l = lock(mode, NOW + 100, true);
            for until in [NOW + 100, NOW + 101, i64::MAX] {
                assert_eq!(l.check(SetRetention(Some(&retention(mode, until))), NOW, Bypass::NONE), Ok(()));
            }
        }
    }

    #[test]
    fn a_legal_hold_blocks_removal_whatever_the_mode_and_bypass() {
        for l in [
            ObjectLock { retention: None, legal_hold: true },
            lock(Governance, NOW + 100, true),
            lock(Governance, NOW - 100, true),
            lock(Compliance, NOW - 100, true),
        ] {
            assert_eq!(l.check(Remove, NOW, FULL), Err(LockRefusal::LegalHold), "{l:?}");
            assert!(l.protects(NOW));
        }
        // It does not stop a retention change of its own.
        let held = ObjectLock { retention: None, legal_hold: true };
        assert_eq!(held.check(SetRetention(Some(&retention(Governance, NOW + 5))), NOW, Bypass::NONE), Ok(()));
    }

    #[test]
    fn modes_parse_exactly() {
        assert_eq!(RetentionMode::parse("GOVERNANCE"), Some(Governance));
        assert_eq!(RetentionMode::parse("COMPLIANCE"), Some(Compliance));
        for bad in ["governance", "Compliance", "abc", "", " GOVERNANCE"] {
            assert_eq!(RetentionMode::parse(bad), None, "{bad:?}");
        }
        assert_eq!(Compliance.as_str(), "COMPLIANCE");
    }

    #[test]
    fn old_records_decode_as_unlocked() {
        let l: ObjectLock = serde_json::from_str("{}").expect("decode");
        assert_eq!(l, ObjectLock::default());
    }
}
