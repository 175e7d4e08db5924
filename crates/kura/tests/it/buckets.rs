//! Bucket operations.

use crate::harness::{TestServer, bucket_name, code, status};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};

#[tokio::test]
async fn create_list_head_locate_delete() {
    let server = TestServer::start();
    let s3 = server.client();
    let name = bucket_name("life");
    s3.create_bucket().bucket(&name).send().await.expect("create");
    let listed = s3.list_buckets().send().await.expect("list");
    assert!(listed.buckets().iter().any(|b| b.name() == Some(name.as_str())));
    assert!(listed.buckets().iter().all(|b| b.creation_date().is_some()));
    s3.head_bucket().bucket(&name).send().await.expect("head");
    let loc = s3.get_bucket_location().bucket(&name).send().await.expect("location");
    assert!(loc.location_constraint().is_none_or(|c| c.as_str().is_empty()), "us-east-1 is reported empty");
    s3.delete_bucket().bucket(&name).send().await.expect("delete");
    let err = s3.head_bucket().bucket(&name).send().await.expect_err("gone");
    assert_eq!(status(&err), 404);
}

/// A second CreateBucket of one's own bucket, as AWS answers it: 200 in us-east-1 (kura's default
/// region), 409 BucketAlreadyOwnedByYou in every other region; either way the bucket is untouched
/// (its objects, its policy and its public access block are kept).
#[tokio::test]
async fn create_twice_is_already_owned_except_in_us_east_1() {
    use aws_sdk_s3::types::PublicAccessBlockConfiguration;
    for (config, expected) in [("server:\n  region: us-east-1\n", None), ("server:\n  region: eu-west-1\n", Some(409))]
    {
        let server = TestServer::start_with_config(config);
        let s3 = server.client();
        let name = bucket_name("twice");
        s3.create_bucket().bucket(&name).send().await.expect("create");
        s3.put_object().bucket(&name).key("kept").body(ByteStream::from_static(b"kept")).send().await.expect("put");
        let policy = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{name}/*"}}]}}"#
        );
        s3.put_bucket_policy().bucket(&name).policy(&policy).send().await.expect("policy");
        let block = PublicAccessBlockConfiguration::builder().block_public_acls(true).build();
        s3.put_public_access_block().bucket(&name).public_access_block_configuration(block).send().await.expect("pab");

        let again = s3.create_bucket().bucket(&name).send().await;
        match expected {
            None => assert_eq!(again.expect("us-east-1 answers 200").location(), Some(format!("/{name}").as_str())),
            Some(code_expected) => {
                let err = again.expect_err("again");
                assert_eq!(
                    (code(&err), status(&err)),
                    ("BucketAlreadyOwnedByYou".to_owned(), code_expected),
                    "{config}"
                );
            }
        }
        let listed = s3.list_objects_v2().bucket(&name).send().await.expect("list");
        let keys: Vec<_> = listed.contents().iter().filter_map(|o| o.key()).collect();
        assert_eq!(keys, ["kept"], "{config}: objects kept");
        let kept = s3.get_bucket_policy().bucket(&name).send().await.expect("policy kept");
        assert_eq!(kept.policy(), Some(policy.as_str()), "{config}");
        let pab = s3.get_public_access_block().bucket(&name).send().await.expect("pab kept");
        let pab = pab.public_access_block_configuration().expect("pab");
        assert_eq!((pab.block_public_acls(), pab.block_public_policy()), (Some(true), Some(false)), "{config}");
        let buckets = s3.list_buckets().send().await.expect("buckets");
        assert_eq!(buckets.buckets().iter().filter(|b| b.name() == Some(name.as_str())).count(), 1, "{config}");
    }
}

#[tokio::test]
async fn invalid_names_are_rejected() {
    let server = TestServer::start();
    let s3 = server.client();
    for bad in ["ab", "Upper-Case", "under_score", "-leading", "trailing-", "192.168.5.4", "a..b"] {
        let err = s3.create_bucket().bucket(bad).send().await.expect_err(bad);
        assert_eq!(code(&err), "InvalidBucketName", "{bad}");
        assert_eq!(status(&err), 400, "{bad}");
    }
}

#[tokio::test]
async fn location_constraint_must_be_this_region() {
    let server = TestServer::start();
    let s3 = server.client();
    let name = bucket_name("loc");
    let err = s3
        .create_bucket()
        .bucket(&name)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder().location_constraint(BucketLocationConstraint::EuWest1).build(),
        )
        .send()
        .await
        .expect_err("other region");
    assert_eq!(code(&err), "InvalidLocationConstraint");
}

#[tokio::test]
async fn non_empty_bucket_cannot_be_deleted() {
    let server = TestServer::start();
    let s3 = server.client();
    let name = bucket_name("full");
    s3.create_bucket().bucket(&name).send().await.expect("create");
    s3.put_object().bucket(&name).key("k").body(ByteStream::from_static(b"x")).send().await.expect("put");
    let err = s3.delete_bucket().bucket(&name).send().await.expect_err("not empty");
    assert_eq!(code(&err), "BucketNotEmpty");
    assert_eq!(status(&err), 409);
    s3.delete_object().bucket(&name).key("k").send().await.expect("delete object");
    s3.delete_bucket().bucket(&name).send().await.expect("now empty");
}

#[tokio::test]
async fn missing_bucket_is_no_such_bucket() {
    let server = TestServer::start();
    let s3 = server.client();
    let err = s3.list_objects_v2().bucket("no-such-bucket-here").send().await.expect_err("missing");
    assert_eq!(code(&err), "NoSuchBucket");
    let err = s3.delete_bucket().bucket("no-such-bucket-here").send().await.expect_err("missing");
    assert_eq!(code(&err), "NoSuchBucket");
    let err = s3
        .put_object()
        .bucket("no-such-bucket-here")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect_err("missing");
    assert_eq!(code(&err), "NoSuchBucket");
}

#[tokio::test]
async fn acls_are_the_owners_alone_as_with_bucket_owner_enforced() {
    use aws_sdk_s3::types::{BucketCannedAcl, ObjectCannedAcl, Permission};
    let server = TestServer::start();
    let s3 = server.client();
    let b = bucket_name("acl");
    s3.create_bucket().bucket(&b).acl(BucketCannedAcl::Private).send().await.expect("private is fine");
    let acl = s3.get_bucket_acl().bucket(&b).send().await.expect("get acl");
    assert_eq!(acl.grants().len(), 1);
    assert_eq!(acl.grants()[0].permission(), Some(&Permission::FullControl));
    s3.put_bucket_acl().bucket(&b).acl(BucketCannedAcl::Private).send().await.expect("private acl");
    let err = s3.put_bucket_acl().bucket(&b).acl(BucketCannedAcl::PublicRead).send().await.expect_err("public");
    assert_eq!((code(&err).as_str(), status(&err)), ("AccessControlListNotSupported", 400));

    let put = |acl| s3.put_object().bucket(&b).key("k").acl(acl).body(ByteStream::from_static(b"x")).send();
    put(ObjectCannedAcl::BucketOwnerFullControl).await.expect("owner acl");
    let err = put(ObjectCannedAcl::PublicRead).await.expect_err("public object");
    assert_eq!(code(&err), "AccessControlListNotSupported");
    let acl = s3.get_object_acl().bucket(&b).key("k").send().await.expect("object acl");
    assert_eq!(acl.owner().and_then(|o| o.id()), acl.grants()[0].grantee().and_then(|g| g.id()));
    let err = s3.get_object_acl().bucket(&b).key("missing").send().await.expect_err("missing");
    assert_eq!(code(&err), "NoSuchKey");

    let err = s3
        .create_bucket()
        .bucket(bucket_name("acl-public"))
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .expect_err("public bucket acl");
    assert_eq!(code(&err), "InvalidBucketAclWithObjectOwnership");
}
