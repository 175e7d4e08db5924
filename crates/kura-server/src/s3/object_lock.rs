//! Object Lock: a bucket's configuration (Put/GetObjectLockConfiguration), a version's retention and
//! legal hold (Put/GetObjectRetention, Put/GetObjectLegalHold), the lock a new object gets from its
//! request's `x-amz-object-lock-*` headers or the bucket's default retention, and the check before a
//! version is removed.
//!
//! The rule itself (what a lock refuses) is [`kura_store::ObjectLock::check`]; this module works out
//! its inputs: the time, and whether the request may bypass GOVERNANCE retention, which needs the
//! `x-amz-bypass-governance-retention: true` header as s3s parsed it **and** `s3:BypassGovernanceRetention`
//! granted by the policy engine for this caller and object. The header alone never bypasses.

use super::KuraS3;
use super::bucket::require_bucket;
use super::meta::timestamp;
use super::object_ref::ObjectRef;
use crate::base::caller::Caller;
use crate::base::clock::now_ms;
use crate::errors::{self, StoreResultExt};
use kura_store::{
    BucketInfo, Bypass, LockChange, ObjectLock, ObjectLockSettings, Retention, RetentionMode, RetentionPeriod,
    StoreError, Versioning,
};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

/// The longest default retention kura accepts, in days (100 years).
pub const MAX_RETENTION_DAYS: i32 = 36_500;
/// The longest default retention kura accepts, in years.
pub const MAX_RETENTION_YEARS: i32 = 100;

/// A wire timestamp as ms since the epoch (saturating far outside any real date).
fn timestamp_ms(ts: &Timestamp) -> i64 {
    let nanos = time::OffsetDateTime::from(ts.clone()).unix_timestamp_nanos() / 1_000_000;
    i64::try_from(nanos).unwrap_or(if nanos < 0 { i64::MIN } else { i64::MAX })
}

/// A bucket's Object Lock configuration as sent, checked as S3 checks it: `ObjectLockEnabled` must be
/// `Enabled`; a rule holds a `DefaultRetention` with a mode (exactly `GOVERNANCE` or `COMPLIANCE`) and
/// exactly one of `Days` and `Years`, positive and at most 100 years.
pub fn parse_configuration(config: &ObjectLockConfiguration) -> S3Result<ObjectLockSettings> {
    if config.object_lock_enabled.as_ref().map(ObjectLockEnabled::as_str) != Some(ObjectLockEnabled::ENABLED) {
        return Err(errors::malformed_xml("ObjectLockEnabled must be Enabled: Object Lock cannot be turned off."));
    }
    let Some(rule) = &config.rule else { return Ok(ObjectLockSettings { default_retention: None }) };
    let Some(default) = &rule.default_retention else {
        return Err(errors::malformed_xml("A Rule must hold a DefaultRetention."));
    };
    let mode = default
        .mode
        .as_ref()
        .and_then(|m| RetentionMode::parse(m.as_str()))
        .ok_or_else(|| errors::malformed_xml("DefaultRetention's Mode must be GOVERNANCE or COMPLIANCE."))?;
    let period = match (default.days, default.years) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(errors::malformed_xml("DefaultRetention must give exactly one of Days and Years."));
        }
        (Some(d), None) if (1..=MAX_RETENTION_DAYS).contains(&d) => RetentionPeriod::Days(d.unsigned_abs()),
        (None, Some(y)) if (1..=MAX_RETENTION_YEARS).contains(&y) => RetentionPeriod::Years(y.unsigned_abs()),
        _ => {
            return Err(errors::invalid_retention_period(
                "Default retention period must be a positive integer value of at most 36500 days or 100 years.",
            ));
        }
    };
    Ok(ObjectLockSettings { default_retention: Some(kura_store::DefaultRetention { mode, period }) })
}

/// How a bucket's settings answer GetObjectLockConfiguration.
fn configuration_of(settings: &ObjectLockSettings) -> ObjectLockConfiguration {
    ObjectLockConfiguration {
        object_lock_enabled: Some(ObjectLockEnabled::from_static(ObjectLockEnabled::ENABLED)),
        rule: settings.default_retention.map(|d| ObjectLockRule {
            default_retention: Some(DefaultRetention {
                mode: Some(ObjectLockRetentionMode::from(d.mode.as_str().to_owned())),
                days: match d.period {
                    RetentionPeriod::Days(n) => i32::try_from(n).ok(),
                    RetentionPeriod::Years(_) => None,
                },
                years: match d.period {
                    RetentionPeriod::Years(n) => i32::try_from(n).ok(),
                    RetentionPeriod::Days(_) => None,
                },
            }),
        }),
    }
}

/// The retention a bucket's default gives a version created at `now_ms`: days of 24 hours, years
/// on the calendar (29 February becomes 28 February in a common year).
pub fn default_retention_from(default: &kura_store::DefaultRetention, now_ms: i64) -> Retention {
    const DAY_MS: i64 = 86_400_000;
    let until_ms = match default.period {
        RetentionPeriod::Days(d) => now_ms.saturating_add(i64::from(d).saturating_mul(DAY_MS)),
        RetentionPeriod::Years(y) => {
            let now = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(now_ms) * 1_000_000)
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
            let year = now.year().saturating_add(i32::try_from(y).unwrap_or(i32::MAX));
            let later = now.replace_year(year).or_else(|_| now.replace_day(28).and_then(|d| d.replace_year(year)));
            later.map_or(i64::MAX, |t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX))
        }
    };
    Retention { mode: default.mode, until_ms }
}

/// The `x-amz-object-lock-*` headers of a write (PutObject, CopyObject, CreateMultipartUpload).
#[derive(Debug, Default, Clone, Copy)]
pub struct LockHeaders<'a> {
    /// `x-amz-object-lock-mode`.
    pub mode: Option<&'a ObjectLockMode>,
    /// `x-amz-object-lock-retain-until-date`.
    pub until: Option<&'a Timestamp>,
    /// `x-amz-object-lock-legal-hold`.
    pub legal_hold: Option<&'a ObjectLockLegalHoldStatus>,
}

impl LockHeaders<'_> {
    /// Whether the request sent any of them.
    pub fn any(&self) -> bool {
        self.mode.is_some() || self.until.is_some() || self.legal_hold.is_some()
    }
}

/// The lock a new version gets: the headers' (both mode and date, or neither), else the bucket's
/// default retention; a legal hold only when asked. Lock headers on a bucket without Object Lock are
/// InvalidRequest, as in S3.
pub fn lock_for_new_version(bucket: &BucketInfo, headers: LockHeaders<'_>, now_ms: i64) -> S3Result<ObjectLock> {
    let Some(settings) = &bucket.settings.object_lock else {
        if headers.any() {
            return Err(errors::bucket_missing_object_lock());
        }
        return Ok(ObjectLock::default());
    };
    let retention = match (headers.mode, headers.until) {
        (None, None) => settings.default_retention.as_ref().map(|d| default_retention_from(d, now_ms)),
        (Some(mode), Some(until)) => {
            let mode = RetentionMode::parse(mode.as_str())
                .ok_or_else(|| errors::invalid_argument("x-amz-object-lock-mode must be GOVERNANCE or COMPLIANCE."))?;
            let until_ms = timestamp_ms(until);
            if until_ms <= now_ms {
                return Err(errors::invalid_argument(
                    "The retain until date must be in the future (x-amz-object-lock-retain-until-date).",
                ));
            }
            Some(Retention { mode, until_ms })
        }
        _ => {
            return Err(errors::invalid_argument(
                "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied.",
            ));
        }
    };
    let legal_hold = match headers.legal_hold.map(ObjectLockLegalHoldStatus::as_str) {
        None | Some(ObjectLockLegalHoldStatus::OFF) => false,
        Some(ObjectLockLegalHoldStatus::ON) => true,
        Some(_) => return Err(errors::invalid_argument("x-amz-object-lock-legal-hold must be ON or OFF.")),
    };
    Ok(ObjectLock { retention, legal_hold })
}

/// Whether a write must carry Content-MD5 or a checksum: S3 requires one for an upload that gets a
/// retention (from its headers or the bucket's default).
pub fn needs_integrity_check(lock: &ObjectLock, headers: LockHeaders<'_>) -> bool {
    lock.retention.is_some() || headers.any()
}

/// The InvalidRequest for a locked upload without Content-MD5 or a checksum.
pub fn integrity_required() -> s3s::S3Error {
    errors::invalid_request(
        "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock \
         parameters: send Content-MD5 or an x-amz-checksum-* header or trailer.",
    )
}

/// Whether the caller may bypass GOVERNANCE retention on `key`: only when it asked (`requested`,
/// the header as s3s parsed it) and the policy engine grants `s3:BypassGovernanceRetention` on the
/// object. Root is granted; an upload ticket never is.
pub(super) async fn bypass_for(
    s3: &KuraS3,
    who: Option<&crate::authz::Authenticated>,
    bucket: &BucketInfo,
    (key, version): (&str, Option<&str>),
    requested: bool,
) -> Bypass {
    if !requested {
        return Bypass::NONE;
    }
    let permitted = match (&s3.access, who.map(|w| &w.caller)) {
        (_, Some(Caller::Ticket { .. })) => false,
        (None, _) => true,
        (Some(access), _) => access
            .decide_object(who, kura_policy::s3::BYPASS_GOVERNANCE_RETENTION, bucket, (key, version))
            .await
            .is_ok(),
    };
    Bypass { requested, permitted }
}

/// Refuses removing a version its lock protects (a legal hold, or an active retention that the request
/// may not bypass), and answers the bypass the removal may claim, for the store to judge the lock
/// again in the removal's transaction. A bypass permission is looked up only when the lock would
/// otherwise refuse.
pub(super) async fn check_removal(
    s3: &KuraS3,
    who: Option<&crate::authz::Authenticated>,
    bucket: &BucketInfo,
    target: (&str, Option<&str>),
    lock: &ObjectLock,
    bypass_requested: bool,
) -> S3Result<Bypass> {
    let now = now_ms();
    if lock.check(LockChange::Remove, now, Bypass::NONE).is_ok() {
        return Ok(Bypass::NONE);
    }
    let bypass = bypass_for(s3, who, bucket, target, bypass_requested).await;
    lock.check(LockChange::Remove, now, bypass).map_err(errors::lock_refusal)?;
    Ok(bypass)
}

/// Refuses permanently removing the version `version` names (`None`: the current object) of `key`
/// from a bucket with Object Lock while its lock protects it (`bypass_requested`: the request's
/// `x-amz-bypass-governance-retention`). Called only for permanent removals: a delete marker removes
/// nothing. Buckets without Object Lock hold no locked versions, so nothing is read for them.
pub(super) async fn guard_removal(
    s3: &KuraS3,
    who: Option<&crate::authz::Authenticated>,
    bucket: &BucketInfo,
    (key, version): (&str, Option<&str>),
    bypass_requested: bool,
) -> S3Result<Bypass> {
    if bucket.settings.object_lock.is_none() {
        return Ok(Bypass::NONE);
    }
    match s3.meta.get_version(&bucket.name, key, version, false).await.or_s3()? {
        Some(found) => check_removal(s3, who, bucket, (key, version), &found.object.lock, bypass_requested).await,
        None => Ok(Bypass::NONE),
    }
}

/// The version a delete of `target` removes for good, if any: the version it names; else the current
/// object of an unversioned bucket, the `null` version of a suspended one (its `null` marker replaces
/// it); a versioning-enabled bucket only adds a delete marker and removes nothing.
fn removed_by_delete<'a>(bucket: &BucketInfo, target: ObjectRef<'a>) -> Option<Option<&'a str>> {
    match (target.version_id(), bucket.settings.versioning) {
        (Some(id), _) => Some(Some(id)),
        (None, None) => Some(None),
        (None, Some(Versioning::Suspended)) => Some(Some(kura_store::versions::NULL)),
        (None, Some(Versioning::Enabled)) => None,
    }
}

/// Refuses a DeleteObject (or a DeleteObjects entry) that would permanently remove a locked version
/// ([`guard_removal`]), and answers the bypass it may claim; a delete that only adds a delete marker is
/// always allowed.
pub(super) async fn guard_delete(
    s3: &KuraS3,
    who: Option<&crate::authz::Authenticated>,
    bucket: &BucketInfo,
    target: ObjectRef<'_>,
    bypass_requested: bool,
) -> S3Result<Bypass> {
    match removed_by_delete(bucket, target) {
        Some(version) => guard_removal(s3, who, bucket, (target.key, version), bypass_requested).await,
        None => Ok(Bypass::NONE),
    }
}

/// Refuses a write that would replace a locked version: only without versioning enabled (unversioned:
/// the current object; suspended: the `null` version). With versioning enabled, as on every bucket
/// created with Object Lock, a write adds a version and replaces none.
pub(super) async fn guard_overwrite(s3: &KuraS3, bucket: &BucketInfo, key: &str) -> S3Result<()> {
    let replaced = match bucket.settings.versioning {
        _ if bucket.settings.object_lock.is_none() => return Ok(()),
        Some(Versioning::Enabled) => return Ok(()),
        Some(Versioning::Suspended) => Some(kura_store::versions::NULL),
        None => None,
    };
    match s3.meta.get_version(&bucket.name, key, replaced, false).await.or_s3()? {
        Some(found) => {
            found.object.lock.check(LockChange::Remove, now_ms(), Bypass::NONE).map_err(errors::lock_refusal)
        }
        None => Ok(()),
    }
}

/// The bucket of an object-level lock request, which must have Object Lock (else InvalidRequest).
async fn require_lock_bucket(s3: &KuraS3, bucket: &str) -> S3Result<BucketInfo> {
    let info = require_bucket(s3, bucket).await?;
    if info.settings.object_lock.is_none() {
        return Err(errors::bucket_missing_object_lock());
    }
    Ok(info)
}

/// The lock of the version `target` names (the current object without a version): NoSuchKey /
/// NoSuchVersion when there is none, MethodNotAllowed for a delete marker (which has no lock).
async fn version_lock(s3: &KuraS3, target: ObjectRef<'_>) -> S3Result<ObjectLock> {
    let version = target.version.map(|v| v.as_str());
    if let Some(v) = version.filter(|v| !kura_store::versions::is_valid_version_id(v)) {
        return Err(errors::invalid_argument(format!("Invalid version id specified: {v:?}.")));
    }
    let found = s3.meta.get_version(target.bucket, target.key, version, false).await.or_s3()?;
    match found {
        None if version.is_some() => Err(errors::no_such_version()),
        None => Err(errors::no_such_key()),
        Some(f) if f.object.delete_marker => Err(errors::method_not_allowed(
            "The specified method is not allowed against a delete marker: name a version of the object.",
        )),
        Some(f) => Ok(f.object.lock),
    }
}

/// Writes `lock` if the object's lock is still `expected`; a concurrent change is OperationAborted.
async fn store_lock(s3: &KuraS3, target: ObjectRef<'_>, expected: ObjectLock, lock: ObjectLock) -> S3Result<()> {
    let version = target.version.map(|v| v.as_str());
    match s3.meta.set_version_lock(target.bucket, target.key, version, expected, lock).await {
        Ok(()) => Ok(()),
        Err(StoreError::ConditionFailed { .. }) => Err(errors::operation_aborted()),
        Err(e) => Err(errors::store_error(e)),
    }
}

pub(super) async fn put_object_lock_configuration(
    s3: &KuraS3,
    req: S3Request<PutObjectLockConfigurationInput>,
) -> S3Result<S3Response<PutObjectLockConfigurationOutput>> {
    let input = req.input;
    require_bucket(s3, &input.bucket).await?;
    let config = input
        .object_lock_configuration
        .as_ref()
        .ok_or_else(|| errors::malformed_xml("The request body must be an ObjectLockConfiguration."))?;
    let settings = parse_configuration(config)?;
    crate::buckets::set_object_lock(s3.meta.as_ref(), &input.bucket, settings)
        .await
        .map_err(errors::bucket_settings_error)?;
    Ok(S3Response::new(PutObjectLockConfigurationOutput::default()))
}

pub(super) async fn get_object_lock_configuration(
    s3: &KuraS3,
    req: S3Request<GetObjectLockConfigurationInput>,
) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
    let bucket = require_bucket(s3, &req.input.bucket).await?;
    let settings = bucket.settings.object_lock.ok_or_else(errors::object_lock_configuration_not_found)?;
    Ok(S3Response::new(GetObjectLockConfigurationOutput {
        object_lock_configuration: Some(configuration_of(&settings)),
    }))
}

/// A retention as PutObjectRetention sends it: mode and date, or neither (which removes it).
fn parse_retention(retention: Option<&ObjectLockRetention>, now_ms: i64) -> S3Result<Option<Retention>> {
    let retention = retention.ok_or_else(|| errors::malformed_xml("The request body must be a Retention."))?;
    match (&retention.mode, &retention.retain_until_date) {
        (None, None) => Ok(None),
        (Some(mode), Some(until)) => {
            let mode = RetentionMode::parse(mode.as_str())
                .ok_or_else(|| errors::malformed_xml("Retention's Mode must be GOVERNANCE or COMPLIANCE."))?;
            let until_ms = timestamp_ms(until);
            if until_ms <= now_ms {
                return Err(errors::invalid_argument("The retain until date must be in the future."));
            }
            Ok(Some(Retention { mode, until_ms }))
        }
        _ => Err(errors::malformed_xml("A Retention gives both Mode and RetainUntilDate, or neither.")),
    }
}

pub(super) async fn put_object_retention(
    s3: &KuraS3,
    req: S3Request<PutObjectRetentionInput>,
) -> S3Result<S3Response<PutObjectRetentionOutput>> {
    let who = req.extensions.get::<crate::authz::Authenticated>();
    let input = &req.input;
    // The retention asked for is a condition key (`s3:object-lock-mode`…): decided now that it is parsed.
    let mut body_keys = kura_policy::Context::new();
    if let Some(ObjectLockRetention { mode: Some(mode), retain_until_date: Some(until) }) = input.retention.as_ref() {
        let until = time::OffsetDateTime::from(until.clone());
        crate::authz::context::insert_retention(&mut body_keys, mode.as_str(), until, time::OffsetDateTime::now_utc());
    }
    let target = (input.bucket.as_str(), Some(input.key.as_str()), input.version_id.as_deref());
    s3.decide_parsed(&req.extensions, "PutObjectRetention", target, &body_keys).await?;
    let bucket = require_lock_bucket(s3, &input.bucket).await?;
    let now = now_ms();
    let retention = parse_retention(input.retention.as_ref(), now)?;
    let target = ObjectRef::at_version(&input.bucket, &input.key, input.version_id.as_deref());
    let current = version_lock(s3, target).await?;
    let change = LockChange::SetRetention(retention.as_ref());
    if current.check(change, now, Bypass::NONE).is_err() {
        let requested = input.bypass_governance_retention.unwrap_or(false);
        let bypass = bypass_for(s3, who, &bucket, (&input.key, input.version_id.as_deref()), requested).await;
        current.check(change, now, bypass).map_err(errors::lock_refusal)?;
    }
    store_lock(s3, target, current, ObjectLock { retention, ..current }).await?;
    Ok(S3Response::new(PutObjectRetentionOutput::default()))
}

pub(super) async fn get_object_retention(
    s3: &KuraS3,
    req: S3Request<GetObjectRetentionInput>,
) -> S3Result<S3Response<GetObjectRetentionOutput>> {
    let input = req.input;
    require_lock_bucket(s3, &input.bucket).await?;
    let target = ObjectRef::at_version(&input.bucket, &input.key, input.version_id.as_deref());
    let lock = version_lock(s3, target).await?;
    let retention = lock.retention.ok_or_else(errors::no_such_object_lock_configuration)?;
    Ok(S3Response::new(GetObjectRetentionOutput {
        retention: Some(ObjectLockRetention {
            mode: Some(ObjectLockRetentionMode::from(retention.mode.as_str().to_owned())),
            retain_until_date: Some(timestamp(retention.until_ms)),
        }),
    }))
}

pub(super) async fn put_object_legal_hold(
    s3: &KuraS3,
    req: S3Request<PutObjectLegalHoldInput>,
) -> S3Result<S3Response<PutObjectLegalHoldOutput>> {
    let input = req.input;
    // The legal hold asked for is a condition key (`s3:object-lock-legal-hold`): decided now that it is parsed.
    let status = input.legal_hold.as_ref().and_then(|h| h.status.as_ref()).map(ObjectLockLegalHoldStatus::as_str);
    let mut body_keys = kura_policy::Context::new();
    if let Some(status) = status {
        body_keys.set("s3:object-lock-legal-hold", status);
    }
    let target = (input.bucket.as_str(), Some(input.key.as_str()), input.version_id.as_deref());
    s3.decide_parsed(&req.extensions, "PutObjectLegalHold", target, &body_keys).await?;
    require_lock_bucket(s3, &input.bucket).await?;
    let on = match status {
        Some(ObjectLockLegalHoldStatus::ON) => true,
        Some(ObjectLockLegalHoldStatus::OFF) => false,
        _ => return Err(errors::malformed_xml("LegalHold's Status must be ON or OFF.")),
    };
    let target = ObjectRef::at_version(&input.bucket, &input.key, input.version_id.as_deref());
    let current = version_lock(s3, target).await?;
    store_lock(s3, target, current, ObjectLock { legal_hold: on, ..current }).await?;
    Ok(S3Response::new(PutObjectLegalHoldOutput::default()))
}

pub(super) async fn get_object_legal_hold(
    s3: &KuraS3,
    req: S3Request<GetObjectLegalHoldInput>,
) -> S3Result<S3Response<GetObjectLegalHoldOutput>> {
    let input = req.input;
    require_lock_bucket(s3, &input.bucket).await?;
    let target = ObjectRef::at_version(&input.bucket, &input.key, input.version_id.as_deref());
    let lock = version_lock(s3, target).await?;
    let status = if lock.legal_hold { ObjectLockLegalHoldStatus::ON } else { ObjectLockLegalHoldStatus::OFF };
    Ok(S3Response::new(GetObjectLegalHoldOutput {
        legal_hold: Some(ObjectLockLegalHold { status: Some(ObjectLockLegalHoldStatus::from_static(status)) }),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(enabled: &str, mode: Option<&str>, days: Option<i32>, years: Option<i32>) -> ObjectLockConfiguration {
        ObjectLockConfiguration {
            object_lock_enabled: Some(ObjectLockEnabled::from(enabled.to_owned())),
            rule: Some(ObjectLockRule {
                default_retention: Some(DefaultRetention {
                    mode: mode.map(|m| ObjectLockRetentionMode::from(m.to_owned())),
                    days,
                    years,
                }),
            }),
        }
    }

    fn code(r: S3Result<ObjectLockSettings>) -> String {
        r.expect_err("refused").code().as_str().to_owned()
    }

    #[test]
    fn a_configuration_is_checked_as_s3_checks_it() {
        let ok = parse_configuration(&config("Enabled", Some("GOVERNANCE"), Some(1), None)).expect("valid");
        assert_eq!(
            ok.default_retention,
            Some(kura_store::DefaultRetention { mode: RetentionMode::Governance, period: RetentionPeriod::Days(1) })
        );
        let years = parse_configuration(&config("Enabled", Some("COMPLIANCE"), None, Some(100))).expect("valid");
        assert_eq!(years.default_retention.map(|d| d.period), Some(RetentionPeriod::Years(100)));
        assert_eq!(code(parse_configuration(&config("Disabled", Some("GOVERNANCE"), Some(1), None))), "MalformedXML");
        assert_eq!(code(parse_configuration(&config("enabled", Some("GOVERNANCE"), Some(1), None))), "MalformedXML");
        assert_eq!(code(parse_configuration(&config("Enabled", Some("governance"), Some(1), None))), "MalformedXML");
        assert_eq!(code(parse_configuration(&config("Enabled", Some("abc"), Some(1), None))), "MalformedXML");
        assert_eq!(code(parse_configuration(&config("Enabled", None, Some(1), None))), "MalformedXML");
        assert_eq!(code(parse_configuration(&config("Enabled", Some("GOVERNANCE"), Some(1), Some(1)))), "MalformedXML");
        assert_eq!(code(parse_configuration(&config("Enabled", Some("GOVERNANCE"), None, None))), "MalformedXML");
        for (days, years) in [(Some(0), None), (Some(-1), None), (None, Some(0)), (None, Some(-1))] {
            let r = parse_configuration(&config("Enabled", Some("GOVERNANCE"), days, years));
            assert_eq!(code(r), "InvalidRetentionPeriod", "{days:?} {years:?}");
        }
        let too_long = parse_configuration(&config("Enabled", Some("GOVERNANCE"), Some(36_501), None));
        assert_eq!(code(too_long), "InvalidRetentionPeriod");
        assert_eq!(
            code(parse_configuration(&config("Enabled", Some("GOVERNANCE"), None, Some(101)))),
            "InvalidRetentionPeriod"
        );
        let no_rule = ObjectLockConfiguration { rule: None, ..config("Enabled", None, None, None) };
        assert_eq!(parse_configuration(&no_rule).expect("valid").default_retention, None);
        let empty_rule = ObjectLockConfiguration {
            rule: Some(ObjectLockRule { default_retention: None }),
            ..config("Enabled", None, None, None)
        };
        assert_eq!(code(parse_configuration(&empty_rule)), "MalformedXML");
        let missing = ObjectLockConfiguration { object_lock_enabled: None, rule: None };
        assert_eq!(code(parse_configuration(&missing)), "MalformedXML");
    }

    #[test]
    fn a_configuration_reads_back_as_it_was_set() {
        let c = config("Enabled", Some("COMPLIANCE"), None, Some(3));
        assert_eq!(configuration_of(&parse_configuration(&c).expect("valid")), c);
    }

    #[test]
    fn default_retention_counts_days_and_calendar_years() {
        // 2024-02-29T12:00:00Z
        let leap = 1_709_208_000_000;
        let days = kura_store::DefaultRetention { mode: RetentionMode::Governance, period: RetentionPeriod::Days(2) };
        assert_eq!(default_retention_from(&days, leap).until_ms, leap + 2 * 86_400_000);
        let year = kura_store::DefaultRetention { mode: RetentionMode::Compliance, period: RetentionPeriod::Years(1) };
        let until = default_retention_from(&year, leap);
        // 2025-02-28T12:00:00Z
        assert_eq!(until, Retention { mode: RetentionMode::Compliance, until_ms: 1_740_744_000_000 });
    }

    fn bucket(lock: Option<ObjectLockSettings>) -> BucketInfo {
        BucketInfo {
            name: "b".into(),
            created_ms: 0,
            region: "us-east-1".into(),
            settings: kura_store::BucketSettings { object_lock: lock, ..Default::default() },
        }
    }

    #[test]
    fn a_new_version_gets_the_headers_lock_or_the_default() {
        let now = 1_000_000;
        let governance = ObjectLockMode::from_static(ObjectLockMode::GOVERNANCE);
        let future = timestamp(now + 5_000);
        let past = timestamp(now - 5_000);
        let on = ObjectLockLegalHoldStatus::from_static(ObjectLockLegalHoldStatus::ON);
        let full = LockHeaders { mode: Some(&governance), until: Some(&future), legal_hold: Some(&on) };

        let plain = bucket(None);
        assert_eq!(lock_for_new_version(&plain, LockHeaders::default(), now).expect("ok"), ObjectLock::default());
        let refused = lock_for_new_version(&plain, full, now).expect_err("no lock on the bucket");
        assert_eq!(refused.code().as_str(), "InvalidRequest");
        let hold_only = LockHeaders { legal_hold: Some(&on), ..Default::default() };
        assert_eq!(
            lock_for_new_version(&plain, hold_only, now).expect_err("refused").code().as_str(),
            "InvalidRequest"
        );

        let default =
            kura_store::DefaultRetention { mode: RetentionMode::Compliance, period: RetentionPeriod::Days(1) };
        let locked = bucket(Some(ObjectLockSettings { default_retention: Some(default) }));
        let got = lock_for_new_version(&locked, full, now).expect("ok");
        assert_eq!(
            got,
            ObjectLock {
                retention: Some(Retention { mode: RetentionMode::Governance, until_ms: now + 5_000 }),
                legal_hold: true
            }
        );
        let defaulted = lock_for_new_version(&locked, hold_only, now).expect("ok");
        assert_eq!(defaulted.retention, Some(default_retention_from(&default, now)));
        assert!(defaulted.legal_hold);

        for half in [
            LockHeaders { mode: Some(&governance), ..Default::default() },
            LockHeaders { until: Some(&future), ..Default::default() },
            LockHeaders { mode: Some(&governance), until: Some(&past), legal_hold: None },
        ] {
            let e = lock_for_new_version(&locked, half, now).expect_err("refused");
            assert_eq!(e.code().as_str(), "InvalidArgument", "{half:?}");
        }
        let lower = ObjectLockMode::from("governance".to_owned());
        let bad_mode = LockHeaders { mode: Some(&lower), until: Some(&future), legal_hold: None };
        assert_eq!(
            lock_for_new_version(&locked, bad_mode, now).expect_err("refused").code().as_str(),
            "InvalidArgument"
        );
        let maybe = ObjectLockLegalHoldStatus::from("MAYBE".to_owned());
        let bad_hold = LockHeaders { legal_hold: Some(&maybe), ..Default::default() };
        assert_eq!(
            lock_for_new_version(&locked, bad_hold, now).expect_err("refused").code().as_str(),
            "InvalidArgument"
        );
    }

    #[test]
    fn a_retention_body_gives_both_fields_or_neither() {
        let now = 1_000_000;
        let mode = Some(ObjectLockRetentionMode::from_static(ObjectLockRetentionMode::COMPLIANCE));
        let both = ObjectLockRetention { mode: mode.clone(), retain_until_date: Some(timestamp(now + 1)) };
        assert_eq!(
            parse_retention(Some(&both), now).expect("ok"),
            Some(Retention { mode: RetentionMode::Compliance, until_ms: now + 1 })
        );
        assert_eq!(parse_retention(Some(&ObjectLockRetention::default()), now).expect("ok"), None);
        let half = ObjectLockRetention { mode, retain_until_date: None };
        assert_eq!(parse_retention(Some(&half), now).expect_err("refused").code().as_str(), "MalformedXML");
        assert_eq!(parse_retention(None, now).expect_err("refused").code().as_str(), "MalformedXML");
        let lower = ObjectLockRetention {
            mode: Some(ObjectLockRetentionMode::from("compliance".to_owned())),
            retain_until_date: Some(timestamp(now + 1)),
        };
        assert_eq!(parse_retention(Some(&lower), now).expect_err("refused").code().as_str(), "MalformedXML");
        let past = ObjectLockRetention { retain_until_date: Some(timestamp(now)), ..both };
        assert_eq!(parse_retention(Some(&past), now).expect_err("refused").code().as_str(), "InvalidArgument");
    }
}
