//! Access control lists, served as AWS serves them for every new bucket since 2023 (Object Ownership =
//! BucketOwnerEnforced): ACLs are disabled, every bucket and object belongs to the account, and access
//! is decided by IAM and bucket policies only. Reading an ACL shows the owner's FULL_CONTROL; setting
//! one is accepted only when it grants nothing more (`private`, `bucket-owner-full-control`, or a
//! policy naming the owner alone), else `AccessControlListNotSupported`, as on AWS.

use super::KuraS3;
use super::meta::owner;
use super::object_ref::ObjectRef;
use crate::errors;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

/// The one grant every bucket and object has: the owner's FULL_CONTROL.
fn owner_grants() -> Grants {
    let o = owner();
    vec![Grant {
        grantee: Some(Grantee {
            display_name: o.display_name,
            email_address: None,
            id: o.id,
            type_: Type::from_static(Type::CANONICAL_USER),
            uri: None,
        }),
        permission: Some(Permission::from_static(Permission::FULL_CONTROL)),
    }]
}

/// Refuses a canned ACL other than the ones that grant nothing beyond the owner.
pub(super) fn check_canned(acl: Option<&str>) -> S3Result<()> {
    match acl {
        None | Some("private" | "bucket-owner-full-control") => Ok(()),
        Some(_) => Err(errors::access_control_list_not_supported()),
    }
}

/// Refuses `x-amz-grant-*` headers and access-control policies that grant anything beyond the owner.
fn check_grants(policy: Option<&AccessControlPolicy>, grant_headers: &[Option<&String>]) -> S3Result<()> {
    if grant_headers.iter().any(Option::is_some) {
        return Err(errors::access_control_list_not_supported());
    }
    let owner_id = owner().id;
    let only_owner = policy.and_then(|p| p.grants.as_ref()).is_none_or(|grants| {
        grants.iter().all(|g| {
            g.grantee.as_ref().is_some_and(|who| who.id == owner_id)
                && g.permission.as_ref().is_some_and(|p| p.as_str() == Permission::FULL_CONTROL)
        })
    });
    if only_owner { Ok(()) } else { Err(errors::access_control_list_not_supported()) }
}

pub(super) async fn get_bucket_acl(
    s3: &KuraS3,
    req: S3Request<GetBucketAclInput>,
) -> S3Result<S3Response<GetBucketAclOutput>> {
    super::bucket::require_bucket(s3, &req.input.bucket).await?;
    Ok(S3Response::new(GetBucketAclOutput { grants: Some(owner_grants()), owner: Some(owner()) }))
}

pub(super) async fn put_bucket_acl(
    s3: &KuraS3,
    req: S3Request<PutBucketAclInput>,
) -> S3Result<S3Response<PutBucketAclOutput>> {
    let input = &req.input;
    super::bucket::require_bucket(s3, &input.bucket).await?;
    check_canned(input.acl.as_ref().map(BucketCannedACL::as_str))?;
    let headers = [
        input.grant_full_control.as_ref(),
        input.grant_read.as_ref(),
        input.grant_read_acp.as_ref(),
        input.grant_write.as_ref(),
        input.grant_write_acp.as_ref(),
    ];
    check_grants(input.access_control_policy.as_ref(), &headers)?;
    Ok(S3Response::new(PutBucketAclOutput::default()))
}

/// NoSuchBucket or NoSuchKey unless `object` exists.
async fn require_object(s3: &KuraS3, object: ObjectRef<'_>) -> S3Result<()> {
    super::bucket::require_bucket(s3, object.bucket).await?;
    super::lookup::require_object(s3, object).await.map(drop)
}

pub(super) async fn get_object_acl(
    s3: &KuraS3,
    req: S3Request<GetObjectAclInput>,
) -> S3Result<S3Response<GetObjectAclOutput>> {
    let input = &req.input;
    require_object(s3, ObjectRef::at_version(&input.bucket, &input.key, input.version_id.as_deref())).await?;
    Ok(S3Response::new(GetObjectAclOutput {
        grants: Some(owner_grants()),
        owner: Some(owner()),
        request_charged: None,
    }))
}

pub(super) async fn put_object_acl(
    s3: &KuraS3,
    req: S3Request<PutObjectAclInput>,
) -> S3Result<S3Response<PutObjectAclOutput>> {
    let input = &req.input;
    require_object(s3, ObjectRef::at_version(&input.bucket, &input.key, input.version_id.as_deref())).await?;
    check_canned(input.acl.as_ref().map(ObjectCannedACL::as_str))?;
    let headers = [
        input.grant_full_control.as_ref(),
        input.grant_read.as_ref(),
        input.grant_read_acp.as_ref(),
        input.grant_write_acp.as_ref(),
    ];
    check_grants(input.access_control_policy.as_ref(), &headers)?;
    Ok(S3Response::new(PutObjectAclOutput::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_owner_only_acls_pass() {
        assert!(check_canned(None).is_ok());
        assert!(check_canned(Some("private")).is_ok());
        assert!(check_canned(Some("bucket-owner-full-control")).is_ok());
        assert!(check_canned(Some("public-read")).is_err());
        let owner_only = AccessControlPolicy { grants: Some(owner_grants()), owner: Some(owner()) };
        assert!(check_grants(Some(&owner_only), &[None]).is_ok());
        let mut public = owner_grants();
        public.push(Grant {
            grantee: Some(Grantee {
                display_name: None,
                email_address: None,
                id: None,
                type_: Type::from_static(Type::GROUP),
                uri: Some("http://acs.amazonaws.com/groups/global/AllUsers".into()),
            }),
            permission: Some(Permission::from_static(Permission::READ)),
        });
        let public = AccessControlPolicy { grants: Some(public), owner: Some(owner()) };
        assert!(check_grants(Some(&public), &[None]).is_err());
        let header = "uri=http://acs.amazonaws.com/groups/global/AllUsers".to_owned();
        assert!(check_grants(None, &[Some(&header)]).is_err());
    }
}
