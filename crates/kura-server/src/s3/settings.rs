//! The bucket settings tools read right after creating a bucket (Terraform's `aws_s3_bucket`, Pulumi,
//! Crossplane), answered as AWS answers them for what kura has, and refused with a reason for what it
//! has not:
//!
//! | setting | read | write |
//! |---|---|---|
//! | tagging | the stored tags, or NoSuchTagSet | stored (≤ 50 tags, AWS's limits); Delete removes |
//! | ownership controls | BucketOwnerEnforced (kura's only model, see `acl.rs`) | BucketOwnerEnforced only |
//! | request payment | BucketOwner | BucketOwner only |
//! | accelerate | no status (or Suspended once put) | Suspended only: kura has no acceleration endpoint |
//! | logging | empty status | empty status only: kura writes an audit log instead |
//! | website | NoSuchWebsiteConfiguration | NotImplemented; Delete 204 |
//! | replication | ReplicationConfigurationNotFoundError | NotImplemented; Delete 204 |
//! | encryption | the default, or ServerSideEncryptionConfigurationNotFoundError | one rule, checked in `sse.rs`; Delete 204 |
//! | notification | empty configuration | empty configuration only |
//!
//! Every operation answers NoSuchBucket for a bucket that does not exist, before it looks at its input.

use super::KuraS3;
use crate::buckets;
use crate::errors::{self, bucket_settings_error};
use kura_store::{BucketSettings, Tags};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

/// Most tags a bucket may have (AWS: 50).
pub const MAX_BUCKET_TAGS: usize = 50;
/// Longest tag key, in Unicode characters (AWS: 128).
pub const MAX_TAG_KEY_CHARS: usize = 128;
/// Longest tag value, in Unicode characters (AWS: 256).
pub const MAX_TAG_VALUE_CHARS: usize = 256;

/// The bucket's settings, or NoSuchBucket.
async fn settings_of(s3: &KuraS3, bucket: &str) -> S3Result<BucketSettings> {
    buckets::get(s3.meta.as_ref(), bucket).await.map_err(bucket_settings_error)
}

/// Changes the bucket's settings (NoSuchBucket if it is gone).
async fn update(s3: &KuraS3, bucket: &str, change: impl Fn(&mut BucketSettings)) -> S3Result<()> {
    let change = |settings: &mut BucketSettings| {
        change(settings);
        Ok(())
    };
    buckets::update(s3.meta.as_ref(), bucket, change).await.map_err(bucket_settings_error)
}

/// 204 No Content, as AWS answers a Delete of a setting (and PutBucketTagging).
fn no_content<T>(output: T) -> S3Response<T> {
    super::status::with_status(output, http::StatusCode::NO_CONTENT)
}

// ---- Tagging ----

/// Checks a bucket tag set against AWS's rules and returns it as stored tags: at most
/// [`MAX_BUCKET_TAGS`], keys of 1 to [`MAX_TAG_KEY_CHARS`] characters not starting with the reserved
/// `aws:`, values of at most [`MAX_TAG_VALUE_CHARS`], no key twice.
pub fn bucket_tags_from_wire(set: &[Tag]) -> S3Result<Tags> {
    if set.len() > MAX_BUCKET_TAGS {
        return Err(errors::invalid_tag(format!(
            "A bucket can have at most {MAX_BUCKET_TAGS} tags; this request has {}.",
            set.len()
        )));
    }
    let mut tags = Tags::new();
    for tag in set {
        let key = tag.key.as_deref().unwrap_or_default();
        let value = tag.value.as_deref().unwrap_or_default();
        let key_chars = key.chars().count();
        if key_chars == 0 || key_chars > MAX_TAG_KEY_CHARS {
            return Err(errors::invalid_tag(format!(
                "The TagKey you have provided is invalid: a tag key must be 1 to {MAX_TAG_KEY_CHARS} characters long \
                 (this one has {key_chars})."
            )));
        }
        if key.get(..4).is_some_and(|prefix| prefix.eq_ignore_ascii_case("aws:")) {
            return Err(errors::invalid_tag(format!(
                "The TagKey {key:?} is invalid: the prefix \"aws:\" is reserved for AWS's own tags."
            )));
        }
        if value.chars().count() > MAX_TAG_VALUE_CHARS {
            return Err(errors::invalid_tag(format!(
                "The TagValue of {key:?} is invalid: a tag value must be at most {MAX_TAG_VALUE_CHARS} characters long."
            )));
        }
        if tags.insert(key.to_owned(), value.to_owned()).is_some() {
            return Err(errors::duplicate_tag_key(key));
        }
    }
    Ok(tags)
}

pub(super) async fn put_bucket_tagging(
    s3: &KuraS3,
    req: S3Request<PutBucketTaggingInput>,
) -> S3Result<S3Response<PutBucketTaggingOutput>> {
    let input = req.input;
    settings_of(s3, &input.bucket).await?;
    let tags = bucket_tags_from_wire(&input.tagging.tag_set)?;
    update(s3, &input.bucket, |s| s.tags = tags.clone()).await?;
    Ok(no_content(PutBucketTaggingOutput {}))
}

pub(super) async fn get_bucket_tagging(
    s3: &KuraS3,
    req: S3Request<GetBucketTaggingInput>,
) -> S3Result<S3Response<GetBucketTaggingOutput>> {
    let tags = settings_of(s3, &req.input.bucket).await?.tags;
    if tags.is_empty() {
        return Err(errors::no_such_tag_set());
    }
    Ok(S3Response::new(GetBucketTaggingOutput { tag_set: super::checks::tags_to_wire(&tags) }))
}

pub(super) async fn delete_bucket_tagging(
    s3: &KuraS3,
    req: S3Request<DeleteBucketTaggingInput>,
) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
    update(s3, &req.input.bucket, |s| s.tags = Tags::new()).await?;
    Ok(no_content(DeleteBucketTaggingOutput {}))
}

// ---- Ownership controls ----

pub(super) async fn get_bucket_ownership_controls(
    s3: &KuraS3,
    req: S3Request<GetBucketOwnershipControlsInput>,
) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
    if settings_of(s3, &req.input.bucket).await?.ownership_controls_removed {
        return Err(errors::ownership_controls_not_found());
    }
    let rule = OwnershipControlsRule {
        object_ownership: ObjectOwnership::from_static(ObjectOwnership::BUCKET_OWNER_ENFORCED),
    };
    Ok(S3Response::new(GetBucketOwnershipControlsOutput {
        ownership_controls: Some(OwnershipControls { rules: vec![rule] }),
    }))
}

/// Accepts only ownership controls of one rule naming BucketOwnerEnforced.
fn check_ownership_controls(controls: &OwnershipControls) -> S3Result<()> {
    let [rule] = controls.rules.as_slice() else {
        return Err(errors::malformed_xml("OwnershipControls must have exactly one Rule."));
    };
    match rule.object_ownership.as_str() {
        ObjectOwnership::BUCKET_OWNER_ENFORCED => Ok(()),
        ObjectOwnership::BUCKET_OWNER_PREFERRED | ObjectOwnership::OBJECT_WRITER => Err(errors::invalid_request(
            "kura supports only ObjectOwnership BucketOwnerEnforced: every object belongs to the bucket owner and \
             ACLs are disabled; access is granted with IAM and bucket policies. Use BucketOwnerEnforced.",
        )),
        other => Err(errors::malformed_xml(format!(
            "ObjectOwnership {other:?} is not one of BucketOwnerEnforced, BucketOwnerPreferred, ObjectWriter."
        ))),
    }
}

pub(super) async fn put_bucket_ownership_controls(
    s3: &KuraS3,
    req: S3Request<PutBucketOwnershipControlsInput>,
) -> S3Result<S3Response<PutBucketOwnershipControlsOutput>> {
    let input = req.input;
    settings_of(s3, &input.bucket).await?;
    check_ownership_controls(&input.ownership_controls)?;
    update(s3, &input.bucket, |s| s.ownership_controls_removed = false).await?;
    Ok(S3Response::new(PutBucketOwnershipControlsOutput {}))
}

pub(super) async fn delete_bucket_ownership_controls(
    s3: &KuraS3,
    req: S3Request<DeleteBucketOwnershipControlsInput>,
) -> S3Result<S3Response<DeleteBucketOwnershipControlsOutput>> {
    update(s3, &req.input.bucket, |s| s.ownership_controls_removed = true).await?;
    Ok(no_content(DeleteBucketOwnershipControlsOutput {}))
}

// ---- Request payment ----

pub(super) async fn get_bucket_request_payment(
    s3: &KuraS3,
    req: S3Request<GetBucketRequestPaymentInput>,
) -> S3Result<S3Response<GetBucketRequestPaymentOutput>> {
    settings_of(s3, &req.input.bucket).await?;
    Ok(S3Response::new(GetBucketRequestPaymentOutput { payer: Some(Payer::from_static(Payer::BUCKET_OWNER)) }))
}

pub(super) async fn put_bucket_request_payment(
    s3: &KuraS3,
    req: S3Request<PutBucketRequestPaymentInput>,
) -> S3Result<S3Response<PutBucketRequestPaymentOutput>> {
    let input = req.input;
    settings_of(s3, &input.bucket).await?;
    match input.request_payment_configuration.payer.as_str() {
        Payer::BUCKET_OWNER => Ok(S3Response::new(PutBucketRequestPaymentOutput {})),
        Payer::REQUESTER => Err(errors::invalid_request(
            "kura does not bill requests, so requester-pays is not available: the only Payer is BucketOwner.",
        )),
        other => Err(errors::malformed_xml(format!("Payer {other:?} is not one of BucketOwner, Requester."))),
    }
}

// ---- Transfer acceleration ----

pub(super) async fn get_bucket_accelerate_configuration(
    s3: &KuraS3,
    req: S3Request<GetBucketAccelerateConfigurationInput>,
) -> S3Result<S3Response<GetBucketAccelerateConfigurationOutput>> {
    let suspended = settings_of(s3, &req.input.bucket).await?.accelerate_suspended;
    let status = suspended.then(|| BucketAccelerateStatus::from_static(BucketAccelerateStatus::SUSPENDED));
    Ok(S3Response::new(GetBucketAccelerateConfigurationOutput { request_charged: None, status }))
}

pub(super) async fn put_bucket_accelerate_configuration(
    s3: &KuraS3,
    req: S3Request<PutBucketAccelerateConfigurationInput>,
) -> S3Result<S3Response<PutBucketAccelerateConfigurationOutput>> {
    let input = req.input;
    settings_of(s3, &input.bucket).await?;
    match input.accelerate_configuration.status.as_ref().map(BucketAccelerateStatus::as_str) {
        Some(BucketAccelerateStatus::SUSPENDED) => {
            update(s3, &input.bucket, |s| s.accelerate_suspended = true).await?;
            Ok(S3Response::new(PutBucketAccelerateConfigurationOutput {}))
        }
        Some(BucketAccelerateStatus::ENABLED) => Err(errors::invalid_request(
            "kura has no transfer acceleration endpoint, so acceleration cannot be Enabled; clients reach kura at \
             its own address. Only Status Suspended is accepted.",
        )),
        Some(other) => Err(errors::malformed_xml(format!("Status {other:?} is not one of Enabled, Suspended."))),
        None => Err(errors::malformed_xml("AccelerateConfiguration needs a Status (Enabled or Suspended).")),
    }
}

// ---- Server access logging ----

pub(super) async fn get_bucket_logging(
    s3: &KuraS3,
    req: S3Request<GetBucketLoggingInput>,
) -> S3Result<S3Response<GetBucketLoggingOutput>> {
    settings_of(s3, &req.input.bucket).await?;
    Ok(S3Response::new(GetBucketLoggingOutput { logging_enabled: None }))
}

pub(super) async fn put_bucket_logging(
    s3: &KuraS3,
    req: S3Request<PutBucketLoggingInput>,
) -> S3Result<S3Response<PutBucketLoggingOutput>> {
    let input = req.input;
    settings_of(s3, &input.bucket).await?;
    if input.bucket_logging_status.logging_enabled.is_some() {
        return Err(errors::invalid_request(
            "kura does not write server access logs to a bucket: every request is recorded in kura's audit log \
             instead (the `audit:` section of the configuration). Send an empty BucketLoggingStatus to turn \
             logging off.",
        ));
    }
    Ok(S3Response::new(PutBucketLoggingOutput {}))
}

// ---- Static website hosting ----

pub(super) async fn get_bucket_website(
    s3: &KuraS3,
    req: S3Request<GetBucketWebsiteInput>,
) -> S3Result<S3Response<GetBucketWebsiteOutput>> {
    settings_of(s3, &req.input.bucket).await?;
    Err(errors::no_such_website_configuration())
}

pub(super) async fn put_bucket_website(
    s3: &KuraS3,
    req: S3Request<PutBucketWebsiteInput>,
) -> S3Result<S3Response<PutBucketWebsiteOutput>> {
    settings_of(s3, &req.input.bucket).await?;
    Err(errors::not_implemented(
        "kura does not host static websites, so a website configuration cannot be set: serve the bucket's \
         objects through a web server or CDN in front of kura (anonymous reads are granted with a bucket policy).",
    ))
}

pub(super) async fn delete_bucket_website(
    s3: &KuraS3,
    req: S3Request<DeleteBucketWebsiteInput>,
) -> S3Result<S3Response<DeleteBucketWebsiteOutput>> {
    settings_of(s3, &req.input.bucket).await?;
    Ok(no_content(DeleteBucketWebsiteOutput {}))
}

// ---- Replication ----

pub(super) async fn get_bucket_replication(
    s3: &KuraS3,
    req: S3Request<GetBucketReplicationInput>,
) -> S3Result<S3Response<GetBucketReplicationOutput>> {
    settings_of(s3, &req.input.bucket).await?;
    Err(errors::replication_configuration_not_found())
}

pub(super) async fn put_bucket_replication(
    s3: &KuraS3,
    req: S3Request<PutBucketReplicationInput>,
) -> S3Result<S3Response<PutBucketReplicationOutput>> {
    settings_of(s3, &req.input.bucket).await?;
    Err(errors::not_implemented(
        "kura does not replicate buckets, so a replication configuration cannot be set: copy objects with a \
         client (for example `aws s3 sync`) or back the server up with `kura admin backup`.",
    ))
}

pub(super) async fn delete_bucket_replication(
    s3: &KuraS3,
    req: S3Request<DeleteBucketReplicationInput>,
) -> S3Result<S3Response<DeleteBucketReplicationOutput>> {
    settings_of(s3, &req.input.bucket).await?;
    Ok(no_content(DeleteBucketReplicationOutput {}))
}

// ---- Default encryption ----

pub(super) async fn get_bucket_encryption(
    s3: &KuraS3,
    req: S3Request<GetBucketEncryptionInput>,
) -> S3Result<S3Response<GetBucketEncryptionOutput>> {
    let Some(default) = settings_of(s3, &req.input.bucket).await?.encryption else {
        return Err(errors::server_side_encryption_configuration_not_found());
    };
    Ok(S3Response::new(GetBucketEncryptionOutput {
        server_side_encryption_configuration: Some(super::sse::bucket_encryption_to_wire(&default)),
    }))
}

pub(super) async fn put_bucket_encryption(
    s3: &KuraS3,
    req: S3Request<PutBucketEncryptionInput>,
) -> S3Result<S3Response<PutBucketEncryptionOutput>> {
    let input = req.input;
    settings_of(s3, &input.bucket).await?;
    let default = super::sse::bucket_encryption_from_wire(&input.server_side_encryption_configuration)?;
    buckets::set_encryption(s3.meta.as_ref(), &input.bucket, Some(default)).await.map_err(bucket_settings_error)?;
    Ok(S3Response::new(PutBucketEncryptionOutput {}))
}

pub(super) async fn delete_bucket_encryption(
    s3: &KuraS3,
    req: S3Request<DeleteBucketEncryptionInput>,
) -> S3Result<S3Response<DeleteBucketEncryptionOutput>> {
    buckets::set_encryption(s3.meta.as_ref(), &req.input.bucket, None).await.map_err(bucket_settings_error)?;
    Ok(no_content(DeleteBucketEncryptionOutput {}))
}

// ---- Event notifications ----

pub(super) async fn get_bucket_notification_configuration(
    s3: &KuraS3,
    req: S3Request<GetBucketNotificationConfigurationInput>,
) -> S3Result<S3Response<GetBucketNotificationConfigurationOutput>> {
    settings_of(s3, &req.input.bucket).await?;
    Ok(S3Response::new(GetBucketNotificationConfigurationOutput {
        event_bridge_configuration: None,
        lambda_function_configurations: None,
        queue_configurations: None,
        topic_configurations: None,
    }))
}

/// Whether a notification configuration names no destination at all.
fn is_empty_notification(c: &NotificationConfiguration) -> bool {
    c.event_bridge_configuration.is_none()
        && c.lambda_function_configurations.as_ref().is_none_or(Vec::is_empty)
        && c.queue_configurations.as_ref().is_none_or(Vec::is_empty)
        && c.topic_configurations.as_ref().is_none_or(Vec::is_empty)
}

pub(super) async fn put_bucket_notification_configuration(
    s3: &KuraS3,
    req: S3Request<PutBucketNotificationConfigurationInput>,
) -> S3Result<S3Response<PutBucketNotificationConfigurationOutput>> {
    let input = req.input;
    settings_of(s3, &input.bucket).await?;
    if !is_empty_notification(&input.notification_configuration) {
        return Err(errors::invalid_argument(
            "kura does not send event notifications, so no destination (topic, queue, Lambda function, \
             EventBridge) can be configured: send an empty NotificationConfiguration, or watch kura's audit log \
             for object changes.",
        ));
    }
    Ok(S3Response::new(PutBucketNotificationConfigurationOutput {}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3s::S3ErrorCode;

    fn tag(key: &str, value: &str) -> Tag {
        Tag { key: Some(key.to_owned()), value: Some(value.to_owned()) }
    }

    fn refused(set: &[Tag]) -> S3ErrorCode {
        bucket_tags_from_wire(set).expect_err("refused").code().clone()
    }

    #[test]
    fn bucket_tags_follow_aws_limits() {
        let max: Vec<Tag> = (0..MAX_BUCKET_TAGS).map(|i| tag(&format!("k{i}"), "v")).collect();
        assert_eq!(bucket_tags_from_wire(&max).expect("50 tags").len(), MAX_BUCKET_TAGS);
        let over: Vec<Tag> = (0..=MAX_BUCKET_TAGS).map(|i| tag(&format!("k{i}"), "v")).collect();
        assert_eq!(refused(&over), S3ErrorCode::InvalidTag);

        // Limits count characters, not bytes.
        let long_key = "é".repeat(MAX_TAG_KEY_CHARS);
        let long_value = "日".repeat(MAX_TAG_VALUE_CHARS);
        assert!(bucket_tags_from_wire(&[tag(&long_key, &long_value)]).is_ok());
        assert_eq!(refused(&[tag(&format!("{long_key}x"), "")]), S3ErrorCode::InvalidTag);
        assert_eq!(refused(&[tag("k", &format!("{long_value}x"))]), S3ErrorCode::InvalidTag);

        assert_eq!(refused(&[tag("", "v")]), S3ErrorCode::InvalidTag);
        assert_eq!(refused(&[Tag { key: None, value: Some("v".into()) }]), S3ErrorCode::InvalidTag);
        assert_eq!(refused(&[tag("a", "1"), tag("a", "2")]), S3ErrorCode::InvalidTag);
        for reserved in ["aws:createdBy", "AWS:x", "Aws:"] {
            assert_eq!(refused(&[tag(reserved, "v")]), S3ErrorCode::InvalidTag, "{reserved}");
        }
        // Only the prefix is reserved; a multi-byte character where the prefix would end is not a panic.
        assert!(bucket_tags_from_wire(&[tag("awsome", ""), tag("my:aws:", ""), tag("aw€", "")]).is_ok());
        assert_eq!(bucket_tags_from_wire(&[]).expect("empty").len(), 0);
    }

    #[test]
    fn only_bucket_owner_enforced_ownership_is_accepted() {
        let controls = |names: &[&str]| OwnershipControls {
            rules: names
                .iter()
                .map(|n| OwnershipControlsRule { object_ownership: ObjectOwnership::from((*n).to_owned()) })
                .collect(),
        };
        assert!(check_ownership_controls(&controls(&["BucketOwnerEnforced"])).is_ok());
        let code = |names: &[&str]| check_ownership_controls(&controls(names)).expect_err("refused").code().clone();
        assert_eq!(code(&["ObjectWriter"]), S3ErrorCode::InvalidRequest);
        assert_eq!(code(&["BucketOwnerPreferred"]), S3ErrorCode::InvalidRequest);
        assert_eq!(code(&["Everyone"]), S3ErrorCode::MalformedXML);
        assert_eq!(code(&[]), S3ErrorCode::MalformedXML);
        assert_eq!(code(&["BucketOwnerEnforced", "BucketOwnerEnforced"]), S3ErrorCode::MalformedXML);
    }
}
