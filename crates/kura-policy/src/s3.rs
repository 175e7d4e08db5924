//! The S3 operation → IAM action mapping (AWS "Actions, resources, and condition keys for Amazon S3" and
//! "Required permissions for Amazon S3 API operations"), and the condition keys the server fills.
//!
//! How the server authorises one S3 request:
//! 1. `authz_for(operation)` (the s3s operation name); `None` → deny (an operation kura does not map).
//! 2. The action is [`S3Authz::action`], or [`S3Authz::version_action`] when the request names a
//!    `versionId` (`GetObject?versionId=` needs `s3:GetObjectVersion`, as in AWS).
//! 3. The resource is [`resource_arn`]: `arn:aws:s3:::bucket/key` for objects, `arn:aws:s3:::bucket` for
//!    buckets, and [`ACCOUNT_RESOURCE`] (`arn:aws:s3:::`) for `ListBuckets`, so that both `"*"` and
//!    `"arn:aws:s3:::*"` grant it (both are common in AWS and MinIO policies) but no bucket ARN does.
//! 4. [`S3Authz::per_key`] (`DeleteObjects`): the request addresses the bucket, but AWS checks
//!    `s3:DeleteObject` (`s3:DeleteObjectVersion` for entries with a version id) **for each key** against
//!    its object ARN; a key that is denied is reported as an `AccessDenied` entry of the result, the others
//!    are deleted. The server should not require the action on the bucket ARN.
//! 5. [`S3Authz::copy_source`] (`CopyObject`, `UploadPartCopy`): also check `s3:GetObject`
//!    (`s3:GetObjectVersion` with a source version id) on the source object ARN. The server checks it
//!    in the operation, on the copy source exactly as the operation parsed it, never on a second parse
//!    of the header.
//! 6. The context: [`GLOBAL_CONDITION_KEYS`] for every request, plus [`condition_keys`] of the operation.
//! 7. [`BYPASS_GOVERNANCE_RETENTION`]: an operation that would remove or shorten a version under
//!    GOVERNANCE retention (DeleteObject(s) with a version, PutObjectRetention) and was sent with
//!    `x-amz-bypass-governance-retention: true` also needs this action on the object ARN; the server
//!    checks it in the operation, only when the lock would otherwise refuse.
//! 8. [`S3Authz::keys_in_body`] (`PutObjectTagging`, `PutObjectRetention`, `PutObjectLegalHold`,
//!    `CreateBucket`): some of the operation's condition keys are fields of the request body (the tag
//!    set, the retention, the legal hold, the location constraint), so the server decides once the
//!    operation has parsed it, never on the headers alone.
//! 9. [`S3Authz::also`] (`GetObjectAttributes`): a second action the caller needs on the same resource
//!    (`s3:GetObject`, or `s3:GetObjectVersion` with a version id), as AWS requires.
//! 10. [`write_extras`] / [`create_bucket_extras`]: what a write sets besides its body (tags, object
//!     lock settings, bucket Object Lock or ownership) needs the action that would set it on its own
//!     (`x-amz-tagging` on PutObject needs `s3:PutObjectTagging`…), so that a Deny on that action
//!     cannot be walked around by setting the same thing through a header or a form field.

/// What an S3 operation acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    /// The account (`ListBuckets`): resource [`ACCOUNT_RESOURCE`].
    Account,
    /// A bucket: `arn:aws:s3:::bucket`.
    Bucket,
    /// An object: `arn:aws:s3:::bucket/key`.
    Object,
}

/// How to authorise one S3 operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct S3Authz {
    /// The IAM action, e.g. `s3:PutObject`.
    pub action: &'static str,
    /// What the resource ARN names.
    pub resource: ResourceKind,
    /// The action when the request names a version id (`s3:GetObjectVersion` …), if it differs.
    pub version_action: Option<&'static str>,
    /// Checked once per key named in the request body, against each object ARN (`DeleteObjects`).
    pub per_key: bool,
    /// Also needs `s3:GetObject` (or `s3:GetObjectVersion`) on the copy source object.
    pub copy_source: bool,
    /// Some condition keys are fields of the body: the operation decides once it has parsed them.
    pub keys_in_body: bool,
    /// A second action needed on the same resource: (action, action when a version id is named).
    pub also: Option<(&'static str, &'static str)>,
}

impl S3Authz {
    /// The action a request needs: [`Self::version_action`] when it names a version id, else
    /// [`Self::action`].
    pub fn action_for(&self, names_a_version: bool) -> &'static str {
        match self.version_action {
            Some(version_action) if names_a_version => version_action,
            _ => self.action,
        }
    }

    /// The actions a request needs, in the order they are decided: [`Self::action_for`], then the
    /// second action of [`Self::also`] (its version form when the request names a version id).
    pub fn actions_for(&self, names_a_version: bool) -> Vec<&'static str> {
        let also = self.also.map(|(plain, version)| if names_a_version { version } else { plain });
        std::iter::once(self.action_for(names_a_version)).chain(also).collect()
    }
}

/// The resource of account-level actions (`s3:ListAllMyBuckets`): matched by `*` and `arn:aws:s3:::*`.
pub const ACCOUNT_RESOURCE: &str = "arn:aws:s3:::";

/// `arn:aws:s3:::bucket`.
pub fn bucket_arn(bucket: &str) -> String {
    format!("arn:aws:s3:::{bucket}")
}

/// `arn:aws:s3:::bucket/key`.
pub fn object_arn(bucket: &str, key: &str) -> String {
    format!("arn:aws:s3:::{bucket}/{key}")
}

/// The resource ARN for an operation of `kind` (`key` is ignored unless `kind` is `Object`).
pub fn resource_arn(kind: ResourceKind, bucket: &str, key: &str) -> String {
    match kind {
        ResourceKind::Account => ACCOUNT_RESOURCE.to_owned(),
        ResourceKind::Bucket => bucket_arn(bucket),
        ResourceKind::Object => object_arn(bucket, key),
    }
}

use ResourceKind::{Account, Bucket, Object};

const fn plain(action: &'static str, resource: ResourceKind) -> S3Authz {
    S3Authz {
        action,
        resource,
        version_action: None,
        per_key: false,
        copy_source: false,
        keys_in_body: false,
        also: None,
    }
}

const fn versioned(action: &'static str, version: &'static str) -> S3Authz {
    S3Authz { version_action: Some(version), ..plain(action, Object) }
}

const fn copy(action: &'static str) -> S3Authz {
    S3Authz { copy_source: true, ..plain(action, Object) }
}

/// Decided by the operation, once the body holding some of its condition keys is parsed.
const fn body_keyed(authz: S3Authz) -> S3Authz {
    S3Authz { keys_in_body: true, ..authz }
}

/// The action a new object's tags need (`x-amz-tagging` on PutObject, CopyObject with
/// `x-amz-tagging-directive: REPLACE`, CreateMultipartUpload, a POST form's `tagging` field).
pub const PUT_OBJECT_TAGGING: &str = "s3:PutObjectTagging";
/// The action a new object's retention needs (`x-amz-object-lock-mode` / `-retain-until-date`).
pub const PUT_OBJECT_RETENTION: &str = "s3:PutObjectRetention";
/// The action a new object's legal hold needs (`x-amz-object-lock-legal-hold`).
pub const PUT_OBJECT_LEGAL_HOLD: &str = "s3:PutObjectLegalHold";

/// The actions a new object's write needs besides `s3:PutObject`, on the object it writes, for what it
/// sets: tags, a retention, a legal hold.
pub fn write_extras(tags: bool, retention: bool, legal_hold: bool) -> Vec<&'static str> {
    [(tags, PUT_OBJECT_TAGGING), (retention, PUT_OBJECT_RETENTION), (legal_hold, PUT_OBJECT_LEGAL_HOLD)]
        .into_iter()
        .filter_map(|(sets, action)| sets.then_some(action))
        .collect()
}

/// The actions a CreateBucket needs besides `s3:CreateBucket`, on the bucket, for what it sets:
/// Object Lock (`x-amz-bucket-object-lock-enabled: true`, which also turns versioning on) and object
/// ownership (`x-amz-object-ownership`).
pub fn create_bucket_extras(object_lock: bool, ownership: bool) -> Vec<&'static str> {
    let mut actions = Vec::new();
    if object_lock {
        actions.extend(["s3:PutBucketObjectLockConfiguration", "s3:PutBucketVersioning"]);
    }
    if ownership {
        actions.push("s3:PutBucketOwnershipControls");
    }
    actions
}

/// The extra action that lets GOVERNANCE retention give way (with the request's bypass header).
pub const BYPASS_GOVERNANCE_RETENTION: &str = "s3:BypassGovernanceRetention";

/// Every mapped operation (s3s operation name → authorisation).
pub const OPERATIONS: &[(&str, S3Authz)] = &[
    // Service
    ("ListBuckets", plain("s3:ListAllMyBuckets", Account)),
    ("ListDirectoryBuckets", plain("s3:ListAllMyDirectoryBuckets", Account)),
    // Buckets
    ("CreateBucket", body_keyed(plain("s3:CreateBucket", Bucket))),
    ("DeleteBucket", plain("s3:DeleteBucket", Bucket)),
    ("HeadBucket", plain("s3:ListBucket", Bucket)),
    ("ListObjects", plain("s3:ListBucket", Bucket)),
    ("ListObjectsV2", plain("s3:ListBucket", Bucket)),
    ("ListObjectVersions", plain("s3:ListBucketVersions", Bucket)),
    ("ListMultipartUploads", plain("s3:ListBucketMultipartUploads", Bucket)),
    ("GetBucketLocation", plain("s3:GetBucketLocation", Bucket)),
    ("GetBucketVersioning", plain("s3:GetBucketVersioning", Bucket)),
    ("PutBucketVersioning", plain("s3:PutBucketVersioning", Bucket)),
    ("GetBucketPolicy", plain("s3:GetBucketPolicy", Bucket)),
    ("PutBucketPolicy", plain("s3:PutBucketPolicy", Bucket)),
    ("DeleteBucketPolicy", plain("s3:DeleteBucketPolicy", Bucket)),
    ("GetBucketPolicyStatus", plain("s3:GetBucketPolicyStatus", Bucket)),
    ("GetPublicAccessBlock", plain("s3:GetBucketPublicAccessBlock", Bucket)),
    ("PutPublicAccessBlock", plain("s3:PutBucketPublicAccessBlock", Bucket)),
    ("DeletePublicAccessBlock", plain("s3:PutBucketPublicAccessBlock", Bucket)),
    ("GetBucketAcl", plain("s3:GetBucketAcl", Bucket)),
    ("PutBucketAcl", plain("s3:PutBucketAcl", Bucket)),
    ("GetBucketOwnershipControls", plain("s3:GetBucketOwnershipControls", Bucket)),
    ("PutBucketOwnershipControls", plain("s3:PutBucketOwnershipControls", Bucket)),
    ("DeleteBucketOwnershipControls", plain("s3:PutBucketOwnershipControls", Bucket)),
    ("GetBucketCors", plain("s3:GetBucketCORS", Bucket)),
    ("PutBucketCors", plain("s3:PutBucketCORS", Bucket)),
    ("DeleteBucketCors", plain("s3:PutBucketCORS", Bucket)),
    ("GetBucketEncryption", plain("s3:GetEncryptionConfiguration", Bucket)),
    ("PutBucketEncryption", plain("s3:PutEncryptionConfiguration", Bucket)),
    ("DeleteBucketEncryption", plain("s3:PutEncryptionConfiguration", Bucket)),
    ("GetBucketLifecycleConfiguration", plain("s3:GetLifecycleConfiguration", Bucket)),
    ("PutBucketLifecycleConfiguration", plain("s3:PutLifecycleConfiguration", Bucket)),
    ("DeleteBucketLifecycle", plain("s3:PutLifecycleConfiguration", Bucket)),
    ("GetBucketTagging", plain("s3:GetBucketTagging", Bucket)),
    ("PutBucketTagging", plain("s3:PutBucketTagging", Bucket)),
    ("DeleteBucketTagging", plain("s3:PutBucketTagging", Bucket)),
    ("GetBucketWebsite", plain("s3:GetBucketWebsite", Bucket)),
    ("PutBucketWebsite", plain("s3:PutBucketWebsite", Bucket)),
    ("DeleteBucketWebsite", plain("s3:DeleteBucketWebsite", Bucket)),
    ("GetBucketLogging", plain("s3:GetBucketLogging", Bucket)),
    ("PutBucketLogging", plain("s3:PutBucketLogging", Bucket)),
    ("GetBucketNotificationConfiguration", plain("s3:GetBucketNotification", Bucket)),
    ("PutBucketNotificationConfiguration", plain("s3:PutBucketNotification", Bucket)),
    ("GetBucketReplication", plain("s3:GetReplicationConfiguration", Bucket)),
    ("PutBucketReplication", plain("s3:PutReplicationConfiguration", Bucket)),
    ("DeleteBucketReplication", plain("s3:PutReplicationConfiguration", Bucket)),
    ("GetBucketRequestPayment", plain("s3:GetBucketRequestPayment", Bucket)),
    ("PutBucketRequestPayment", plain("s3:PutBucketRequestPayment", Bucket)),
    ("GetBucketAccelerateConfiguration", plain("s3:GetAccelerateConfiguration", Bucket)),
    ("PutBucketAccelerateConfiguration", plain("s3:PutAccelerateConfiguration", Bucket)),
    ("GetObjectLockConfiguration", plain("s3:GetBucketObjectLockConfiguration", Bucket)),
    ("PutObjectLockConfiguration", plain("s3:PutBucketObjectLockConfiguration", Bucket)),
    ("GetBucketAnalyticsConfiguration", plain("s3:GetAnalyticsConfiguration", Bucket)),
    ("ListBucketAnalyticsConfigurations", plain("s3:GetAnalyticsConfiguration", Bucket)),
    ("PutBucketAnalyticsConfiguration", plain("s3:PutAnalyticsConfiguration", Bucket)),
    ("DeleteBucketAnalyticsConfiguration", plain("s3:PutAnalyticsConfiguration", Bucket)),
    ("GetBucketInventoryConfiguration", plain("s3:GetInventoryConfiguration", Bucket)),
    ("ListBucketInventoryConfigurations", plain("s3:GetInventoryConfiguration", Bucket)),
    ("PutBucketInventoryConfiguration", plain("s3:PutInventoryConfiguration", Bucket)),
    ("DeleteBucketInventoryConfiguration", plain("s3:PutInventoryConfiguration", Bucket)),
    ("GetBucketMetricsConfiguration", plain("s3:GetMetricsConfiguration", Bucket)),
    ("ListBucketMetricsConfigurations", plain("s3:GetMetricsConfiguration", Bucket)),
    ("PutBucketMetricsConfiguration", plain("s3:PutMetricsConfiguration", Bucket)),
    ("DeleteBucketMetricsConfiguration", plain("s3:PutMetricsConfiguration", Bucket)),
    ("GetBucketIntelligentTieringConfiguration", plain("s3:GetIntelligentTieringConfiguration", Bucket)),
    ("ListBucketIntelligentTieringConfigurations", plain("s3:GetIntelligentTieringConfiguration", Bucket)),
    ("PutBucketIntelligentTieringConfiguration", plain("s3:PutIntelligentTieringConfiguration", Bucket)),
    ("DeleteBucketIntelligentTieringConfiguration", plain("s3:PutIntelligentTieringConfiguration", Bucket)),
    (
        "DeleteObjects",
        S3Authz { version_action: Some("s3:DeleteObjectVersion"), per_key: true, ..plain("s3:DeleteObject", Bucket) },
    ),
    // Objects
    ("GetObject", versioned("s3:GetObject", "s3:GetObjectVersion")),
    ("HeadObject", versioned("s3:GetObject", "s3:GetObjectVersion")),
    (
        "GetObjectAttributes",
        S3Authz {
            also: Some(("s3:GetObject", "s3:GetObjectVersion")),
            ..versioned("s3:GetObjectAttributes", "s3:GetObjectVersionAttributes")
        },
    ),
    ("SelectObjectContent", plain("s3:GetObject", Object)),
    ("GetObjectTorrent", versioned("s3:GetObjectTorrent", "s3:GetObjectVersionTorrent")),
    ("PutObject", plain("s3:PutObject", Object)),
    ("PostObject", plain("s3:PutObject", Object)),
    ("CopyObject", copy("s3:PutObject")),
    ("CreateMultipartUpload", plain("s3:PutObject", Object)),
    ("UploadPart", plain("s3:PutObject", Object)),
    ("UploadPartCopy", copy("s3:PutObject")),
    ("CompleteMultipartUpload", plain("s3:PutObject", Object)),
    ("AbortMultipartUpload", plain("s3:AbortMultipartUpload", Object)),
    ("ListParts", plain("s3:ListMultipartUploadParts", Object)),
    ("DeleteObject", versioned("s3:DeleteObject", "s3:DeleteObjectVersion")),
    ("GetObjectTagging", versioned("s3:GetObjectTagging", "s3:GetObjectVersionTagging")),
    ("PutObjectTagging", body_keyed(versioned("s3:PutObjectTagging", "s3:PutObjectVersionTagging"))),
    ("DeleteObjectTagging", versioned("s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging")),
    ("GetObjectAcl", versioned("s3:GetObjectAcl", "s3:GetObjectVersionAcl")),
    ("PutObjectAcl", versioned("s3:PutObjectAcl", "s3:PutObjectVersionAcl")),
    ("GetObjectRetention", plain("s3:GetObjectRetention", Object)),
    ("PutObjectRetention", body_keyed(plain("s3:PutObjectRetention", Object))),
    ("GetObjectLegalHold", plain("s3:GetObjectLegalHold", Object)),
    ("PutObjectLegalHold", body_keyed(plain("s3:PutObjectLegalHold", Object))),
    ("RestoreObject", plain("s3:RestoreObject", Object)),
];

/// How to authorise the S3 operation named `operation` (s3s naming: `GetObject`, `ListObjectsV2`…);
/// `None` for an operation kura does not map (the server denies it).
pub fn authz_for(operation: &str) -> Option<S3Authz> {
    OPERATIONS.iter().find(|(name, _)| *name == operation).map(|(_, a)| *a)
}

/// Condition keys the server puts in the context of **every** request (when it knows them).
///
/// | key | value |
/// |---|---|
/// | `aws:SourceIp` | client address (after trusted proxies) |
/// | `aws:SecureTransport` | `true` over TLS, else `false` |
/// | `aws:CurrentTime` | request time, ISO 8601 (`2025-01-01T00:00:00Z`) |
/// | `aws:EpochTime` | request time, epoch seconds |
/// | `aws:username` | IAM user name (users only) |
/// | `aws:userid` | see [`crate::Principal::userid`] |
/// | `aws:PrincipalType` | `Account`, `User`, `AssumedRole`, `FederatedUser`, `Anonymous`, `WebIdentityUser` |
/// | `aws:PrincipalArn` | caller ARN (the role ARN for a role session, as AWS) |
/// | `aws:PrincipalAccount` | caller account |
/// | `s3:authType` | `REST-HEADER`, `REST-QUERY-STRING` (presigned) or `POST` |
/// | `s3:signatureversion` | `AWS` (V2) or `AWS4-HMAC-SHA256` |
/// | `s3:signatureAge` | milliseconds since the signature's date |
/// | `s3:x-amz-content-sha256` | the header, as sent |
///
/// The evaluator derives `aws:username`, `aws:userid`, `aws:PrincipalType`, `aws:PrincipalArn` and
/// `aws:PrincipalAccount` from the [`crate::Principal`] when the context lacks them. kura's own keys
/// (`jwt:sub`, `k8s:namespace`, `k8s:serviceaccount`, `aws:PrincipalTag/…`) go in the same context.
pub const GLOBAL_CONDITION_KEYS: &[&str] = &[
    "aws:SourceIp",
    "aws:SecureTransport",
    "aws:CurrentTime",
    "aws:EpochTime",
    "aws:username",
    "aws:userid",
    "aws:PrincipalType",
    "aws:PrincipalArn",
    "aws:PrincipalAccount",
    "s3:authType",
    "s3:signatureversion",
    "s3:signatureAge",
    "s3:x-amz-content-sha256",
];

const LIST_KEYS: &[&str] = &["s3:prefix", "s3:delimiter", "s3:max-keys"];
const WRITE_KEYS: &[&str] = &[
    "s3:x-amz-acl",
    "s3:x-amz-server-side-encryption",
    "s3:x-amz-server-side-encryption-aws-kms-key-id",
    "s3:x-amz-server-side-encryption-customer-algorithm",
    "s3:x-amz-storage-class",
    "s3:RequestObjectTag/<key>",
    "s3:RequestObjectTagKeys",
    "s3:object-lock-mode",
    "s3:object-lock-retain-until-date",
    "s3:object-lock-remaining-retention-days",
    "s3:object-lock-legal-hold",
];
const COPY_KEYS: &[&str] = &[
    "s3:x-amz-acl",
    "s3:x-amz-server-side-encryption",
    "s3:x-amz-server-side-encryption-aws-kms-key-id",
    "s3:x-amz-server-side-encryption-customer-algorithm",
    "s3:x-amz-storage-class",
    "s3:x-amz-copy-source",
    "s3:x-amz-metadata-directive",
    "s3:RequestObjectTag/<key>",
    "s3:RequestObjectTagKeys",
    "s3:object-lock-mode",
    "s3:object-lock-retain-until-date",
    "s3:object-lock-remaining-retention-days",
    "s3:object-lock-legal-hold",
];
const READ_KEYS: &[&str] = &["s3:ExistingObjectTag/<key>", "s3:versionid"];
const TAG_WRITE_KEYS: &[&str] =
    &["s3:ExistingObjectTag/<key>", "s3:RequestObjectTag/<key>", "s3:RequestObjectTagKeys", "s3:versionid"];

/// Operation-specific condition keys the server should fill (beyond [`GLOBAL_CONDITION_KEYS`]).
/// `<key>` stands for each tag key: `s3:ExistingObjectTag/team` for a stored tag `team`,
/// `s3:RequestObjectTag/team` for a tag in the request (`x-amz-tagging` or the Tagging body), and
/// `s3:RequestObjectTagKeys` holds every requested tag key (multi-valued). `s3:prefix` is `""` when the
/// request has no prefix, as in AWS.
pub const CONDITION_KEYS: &[(&str, &[&str])] = &[
    ("ListObjects", LIST_KEYS),
    ("ListObjectsV2", LIST_KEYS),
    ("ListObjectVersions", LIST_KEYS),
    ("CreateBucket", &["s3:x-amz-acl", "s3:LocationConstraint", "s3:x-amz-object-ownership"]),
    ("PutObject", WRITE_KEYS),
    ("PostObject", WRITE_KEYS),
    ("CreateMultipartUpload", WRITE_KEYS),
    ("CopyObject", COPY_KEYS),
    ("UploadPartCopy", &["s3:x-amz-copy-source"]),
    ("GetObject", READ_KEYS),
    ("HeadObject", READ_KEYS),
    ("GetObjectAttributes", READ_KEYS),
    ("GetObjectTagging", READ_KEYS),
    ("GetObjectAcl", READ_KEYS),
    ("DeleteObject", &["s3:versionid"]),
    ("DeleteObjectTagging", READ_KEYS),
    ("PutObjectTagging", TAG_WRITE_KEYS),
    ("PutObjectAcl", &["s3:x-amz-acl", "s3:ExistingObjectTag/<key>", "s3:versionid"]),
    ("PutBucketAcl", &["s3:x-amz-acl"]),
    (
        "PutObjectRetention",
        &[
            "s3:object-lock-mode",
            "s3:object-lock-retain-until-date",
            "s3:object-lock-remaining-retention-days",
            "s3:ExistingObjectTag/<key>",
            "s3:versionid",
        ],
    ),
    ("PutObjectLegalHold", &["s3:object-lock-legal-hold", "s3:ExistingObjectTag/<key>", "s3:versionid"]),
    ("PutBucketVersioning", &[]),
];

/// The operation-specific condition keys of `operation` (empty when it has none).
pub fn condition_keys(operation: &str) -> &'static [&'static str] {
    CONDITION_KEYS.iter().find(|(op, _)| *op == operation).map_or(&[], |(_, keys)| keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_examples() {
        let a = authz_for("HeadObject").expect("mapped");
        assert_eq!((a.action, a.resource, a.version_action), ("s3:GetObject", Object, Some("s3:GetObjectVersion")));
        assert_eq!(authz_for("ListObjectsV2").map(|a| (a.action, a.resource)), Some(("s3:ListBucket", Bucket)));
        assert_eq!(authz_for("ListBuckets").map(|a| a.resource), Some(Account));
        assert_eq!(authz_for("DeletePublicAccessBlock").map(|a| a.action), Some("s3:PutBucketPublicAccessBlock"));
        assert!(authz_for("DeleteObjects").is_some_and(|a| a.per_key));
        assert!(authz_for("CopyObject").is_some_and(|a| a.copy_source && a.action == "s3:PutObject"));
        assert_eq!(authz_for("ListParts").map(|a| a.action), Some("s3:ListMultipartUploadParts"));
        assert!(authz_for("Frobnicate").is_none());
        assert_eq!(resource_arn(Object, "b", "k/x"), "arn:aws:s3:::b/k/x");
        assert_eq!(resource_arn(Bucket, "b", "k"), "arn:aws:s3:::b");
        assert_eq!(resource_arn(Account, "b", "k"), ACCOUNT_RESOURCE);
        assert_eq!(condition_keys("ListObjectsV2"), LIST_KEYS);
        assert_eq!(
            authz_for("GetObjectAttributes").and_then(|a| a.also),
            Some(("s3:GetObject", "s3:GetObjectVersion"))
        );
        for op in ["PutObjectTagging", "PutObjectRetention", "PutObjectLegalHold", "CreateBucket"] {
            assert!(authz_for(op).is_some_and(|a| a.keys_in_body), "{op}");
        }
        assert!(authz_for("PutObject").is_some_and(|a| !a.keys_in_body));
        assert!(condition_keys("Nope").is_empty());
    }

    #[test]
    fn what_a_write_sets_needs_its_own_action() {
        assert!(write_extras(false, false, false).is_empty());
        assert_eq!(write_extras(true, true, true), [PUT_OBJECT_TAGGING, PUT_OBJECT_RETENTION, PUT_OBJECT_LEGAL_HOLD]);
        assert_eq!(write_extras(false, false, true), [PUT_OBJECT_LEGAL_HOLD]);
        assert_eq!(
            create_bucket_extras(true, true),
            ["s3:PutBucketObjectLockConfiguration", "s3:PutBucketVersioning", "s3:PutBucketOwnershipControls"]
        );
        assert!(create_bucket_extras(false, false).is_empty());
    }

    #[test]
    fn table_is_well_formed() {
        for (i, (name, a)) in OPERATIONS.iter().enumerate() {
            assert!(OPERATIONS[..i].iter().all(|(n, _)| n != name), "duplicate {name}");
            assert!(a.action.starts_with("s3:"), "{name}");
        }
        for (op, _) in CONDITION_KEYS {
            assert!(authz_for(op).is_some(), "condition keys for unmapped {op}");
        }
    }
}
