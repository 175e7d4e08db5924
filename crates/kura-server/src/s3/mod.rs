//! The S3 operations, one file per family (buckets, objects, listing, multipart, tagging, bucket
//! policy and public access block, CORS, versioning, Object Lock, the other bucket settings), behind one
//! [`KuraS3`] value that s3s calls after it has parsed the request and checked its signature.
//!
//! Each family file holds plain `async fn`s taking `&KuraS3` and the typed request; the `impl S3`
//! below only routes to them, so the list of supported operations reads in one place.

mod acl;
mod attributes;
pub mod body;
pub mod bucket;
pub mod checks;
mod checksum;
pub mod conditions;
pub mod cors;
mod encryption;
mod lifecycle;
mod list;
mod lookup;
pub mod meta;
mod multipart;
mod object;
pub mod object_lock;
pub mod object_ref;
pub mod policy;
pub mod sealed;
mod settings;
pub mod sse;
pub mod status;
mod tagging;
mod versioning;

use kura_store::{BlobStore, MetaStore};
use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result};
use std::sync::Arc;

/// The S3 service: operations over a metadata store and a blob store.
#[derive(Clone)]
pub struct KuraS3 {
    /// Buckets, object metadata, uploads.
    pub meta: Arc<dyn MetaStore>,
    /// Object bodies.
    pub blobs: Arc<dyn BlobStore>,
    /// The region this server answers for (GetBucketLocation, default LocationConstraint).
    pub region: String,
    /// The decisions operations make themselves (DeleteObjects' keys, POST forms, body condition
    /// keys, what a write sets besides its body); `None` allows all.
    pub access: Option<crate::authz::KuraAccess>,
    /// The length of a lifecycle day (the expiry dates reported in `x-amz-expiration`).
    pub lifecycle_day: crate::lifecycle::rules::DayLength,
    /// Encryption at rest: the master keys (SSE-S3) and the key service (SSE-KMS).
    pub vault: Arc<crate::kms::Vault>,
}

impl KuraS3 {
    /// A service over the given stores, encrypting with `vault`.
    pub fn new(
        meta: Arc<dyn MetaStore>,
        blobs: Arc<dyn BlobStore>,
        region: impl Into<String>,
        vault: Arc<crate::kms::Vault>,
    ) -> Self {
        Self {
            meta,
            blobs,
            region: region.into(),
            access: None,
            lifecycle_day: crate::lifecycle::rules::DayLength::REAL,
            vault,
        }
    }

    /// Decides an operation whose condition keys are partly in its body, now that it is parsed
    /// ([`crate::authz::KuraAccess::decide_parsed`]); passes when kura runs without authorisation.
    pub(crate) async fn decide_parsed(
        &self,
        extensions: &http::Extensions,
        operation: &str,
        target: (&str, Option<&str>, Option<&str>),
        body_keys: &kura_policy::Context,
    ) -> S3Result<()> {
        let Some(access) = &self.access else { return Ok(()) };
        let who = extensions.get::<crate::authz::Authenticated>();
        access.decide_parsed(who, operation, target, body_keys).await
    }

    /// Reclaims blobs a metadata commit no longer references.
    pub(crate) async fn reclaim(&self, ids: Vec<kura_store::BlobId>) {
        if !ids.is_empty() {
            self.blobs.reclaim(ids).await;
        }
    }
}

/// Routes each supported S3 operation to its family module.
///
/// A macro because a function cannot do it: it writes the methods of s3s's `S3` trait (one per
/// operation, each with its own input and output types) inside one `#[async_trait]` impl, and the
/// method names must appear in the source. Its body is only the forwarding call, so the list below
/// stays the one place that says which operations kura supports.
macro_rules! route {
    ($($method:ident: $input:ident -> $output:ident => $module:ident;)*) => {
        #[async_trait::async_trait]
        impl S3 for KuraS3 {
            $(
                async fn $method(&self, req: S3Request<$input>) -> S3Result<S3Response<$output>> {
                    $module::$method(self, req).await
                }
            )*
        }
    };
}

route! {
    list_buckets: ListBucketsInput -> ListBucketsOutput => bucket;
    create_bucket: CreateBucketInput -> CreateBucketOutput => bucket;
    head_bucket: HeadBucketInput -> HeadBucketOutput => bucket;
    delete_bucket: DeleteBucketInput -> DeleteBucketOutput => bucket;
    get_bucket_location: GetBucketLocationInput -> GetBucketLocationOutput => bucket;
    get_bucket_versioning: GetBucketVersioningInput -> GetBucketVersioningOutput => versioning;
    put_bucket_versioning: PutBucketVersioningInput -> PutBucketVersioningOutput => versioning;

    put_object: PutObjectInput -> PutObjectOutput => object;
    get_object: GetObjectInput -> GetObjectOutput => object;
    head_object: HeadObjectInput -> HeadObjectOutput => object;
    delete_object: DeleteObjectInput -> DeleteObjectOutput => object;
    delete_objects: DeleteObjectsInput -> DeleteObjectsOutput => object;
    copy_object: CopyObjectInput -> CopyObjectOutput => object;
    get_object_attributes: GetObjectAttributesInput -> GetObjectAttributesOutput => attributes;

    list_objects: ListObjectsInput -> ListObjectsOutput => list;
    list_objects_v2: ListObjectsV2Input -> ListObjectsV2Output => list;
    list_object_versions: ListObjectVersionsInput -> ListObjectVersionsOutput => list;

    create_multipart_upload: CreateMultipartUploadInput -> CreateMultipartUploadOutput => multipart;
    upload_part: UploadPartInput -> UploadPartOutput => multipart;
    upload_part_copy: UploadPartCopyInput -> UploadPartCopyOutput => multipart;
    complete_multipart_upload: CompleteMultipartUploadInput -> CompleteMultipartUploadOutput => multipart;
    abort_multipart_upload: AbortMultipartUploadInput -> AbortMultipartUploadOutput => multipart;
    list_parts: ListPartsInput -> ListPartsOutput => multipart;
    list_multipart_uploads: ListMultipartUploadsInput -> ListMultipartUploadsOutput => multipart;

    get_object_tagging: GetObjectTaggingInput -> GetObjectTaggingOutput => tagging;
    put_object_tagging: PutObjectTaggingInput -> PutObjectTaggingOutput => tagging;
    delete_object_tagging: DeleteObjectTaggingInput -> DeleteObjectTaggingOutput => tagging;

    put_bucket_policy: PutBucketPolicyInput -> PutBucketPolicyOutput => policy;
    get_bucket_policy: GetBucketPolicyInput -> GetBucketPolicyOutput => policy;
    delete_bucket_policy: DeleteBucketPolicyInput -> DeleteBucketPolicyOutput => policy;
    get_bucket_policy_status: GetBucketPolicyStatusInput -> GetBucketPolicyStatusOutput => policy;
    put_public_access_block: PutPublicAccessBlockInput -> PutPublicAccessBlockOutput => policy;
    get_public_access_block: GetPublicAccessBlockInput -> GetPublicAccessBlockOutput => policy;
    delete_public_access_block: DeletePublicAccessBlockInput -> DeletePublicAccessBlockOutput => policy;

    get_bucket_acl: GetBucketAclInput -> GetBucketAclOutput => acl;
    put_bucket_acl: PutBucketAclInput -> PutBucketAclOutput => acl;
    get_object_acl: GetObjectAclInput -> GetObjectAclOutput => acl;
    put_object_acl: PutObjectAclInput -> PutObjectAclOutput => acl;

    put_bucket_tagging: PutBucketTaggingInput -> PutBucketTaggingOutput => settings;
    get_bucket_tagging: GetBucketTaggingInput -> GetBucketTaggingOutput => settings;
    delete_bucket_tagging: DeleteBucketTaggingInput -> DeleteBucketTaggingOutput => settings;
    get_bucket_ownership_controls: GetBucketOwnershipControlsInput -> GetBucketOwnershipControlsOutput => settings;
    put_bucket_ownership_controls: PutBucketOwnershipControlsInput -> PutBucketOwnershipControlsOutput => settings;
    delete_bucket_ownership_controls: DeleteBucketOwnershipControlsInput -> DeleteBucketOwnershipControlsOutput => settings;
    get_bucket_request_payment: GetBucketRequestPaymentInput -> GetBucketRequestPaymentOutput => settings;
    put_bucket_request_payment: PutBucketRequestPaymentInput -> PutBucketRequestPaymentOutput => settings;
    get_bucket_accelerate_configuration: GetBucketAccelerateConfigurationInput -> GetBucketAccelerateConfigurationOutput => settings;
    put_bucket_accelerate_configuration: PutBucketAccelerateConfigurationInput -> PutBucketAccelerateConfigurationOutput => settings;
    get_bucket_logging: GetBucketLoggingInput -> GetBucketLoggingOutput => settings;
    put_bucket_logging: PutBucketLoggingInput -> PutBucketLoggingOutput => settings;
    get_bucket_website: GetBucketWebsiteInput -> GetBucketWebsiteOutput => settings;
    put_bucket_website: PutBucketWebsiteInput -> PutBucketWebsiteOutput => settings;
    delete_bucket_website: DeleteBucketWebsiteInput -> DeleteBucketWebsiteOutput => settings;
    get_bucket_replication: GetBucketReplicationInput -> GetBucketReplicationOutput => settings;
    put_bucket_replication: PutBucketReplicationInput -> PutBucketReplicationOutput => settings;
    delete_bucket_replication: DeleteBucketReplicationInput -> DeleteBucketReplicationOutput => settings;
    get_bucket_encryption: GetBucketEncryptionInput -> GetBucketEncryptionOutput => settings;
    put_bucket_encryption: PutBucketEncryptionInput -> PutBucketEncryptionOutput => settings;
    delete_bucket_encryption: DeleteBucketEncryptionInput -> DeleteBucketEncryptionOutput => settings;
    get_bucket_notification_configuration: GetBucketNotificationConfigurationInput -> GetBucketNotificationConfigurationOutput => settings;
    put_bucket_notification_configuration: PutBucketNotificationConfigurationInput -> PutBucketNotificationConfigurationOutput => settings;
    put_bucket_cors: PutBucketCorsInput -> PutBucketCorsOutput => cors;
    get_bucket_cors: GetBucketCorsInput -> GetBucketCorsOutput => cors;
    delete_bucket_cors: DeleteBucketCorsInput -> DeleteBucketCorsOutput => cors;
    put_bucket_lifecycle_configuration: PutBucketLifecycleConfigurationInput -> PutBucketLifecycleConfigurationOutput => lifecycle;
    get_bucket_lifecycle_configuration: GetBucketLifecycleConfigurationInput -> GetBucketLifecycleConfigurationOutput => lifecycle;
    delete_bucket_lifecycle: DeleteBucketLifecycleInput -> DeleteBucketLifecycleOutput => lifecycle;
    put_object_lock_configuration: PutObjectLockConfigurationInput -> PutObjectLockConfigurationOutput => object_lock;
    get_object_lock_configuration: GetObjectLockConfigurationInput -> GetObjectLockConfigurationOutput => object_lock;
    put_object_retention: PutObjectRetentionInput -> PutObjectRetentionOutput => object_lock;
    get_object_retention: GetObjectRetentionInput -> GetObjectRetentionOutput => object_lock;
    put_object_legal_hold: PutObjectLegalHoldInput -> PutObjectLegalHoldOutput => object_lock;
    get_object_legal_hold: GetObjectLegalHoldInput -> GetObjectLegalHoldOutput => object_lock;
}
