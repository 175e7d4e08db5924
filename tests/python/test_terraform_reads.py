"""Terraform's aws_s3_bucket reads a dozen bucket settings right after creating a bucket and stops at the
first 501. This walks that read, in the provider's order, with boto3, and expects AWS's exact answer for
each call on a bucket nobody configured.

The order is resourceBucketRead of hashicorp/terraform-provider-aws (internal/service/s3/bucket.go, v5):
HeadBucket (findBucket), GetBucketPolicy, GetBucketAcl, GetBucketCors, GetBucketWebsite,
GetBucketVersioning, GetBucketAccelerateConfiguration, GetBucketRequestPayment, GetBucketLogging,
GetBucketLifecycleConfiguration, GetBucketReplication, GetBucketEncryption, GetObjectLockConfiguration,
HeadBucket again for the region (manager.GetBucketRegion reads x-amz-bucket-region), then
GetBucketTagging for the resource's tags. Older providers (v3/v4) ask GetBucketLocation for the region,
so it is walked too. The provider tolerates only the "not configured" codes below (a 501 stops it).
"""

import uuid

import pytest
from botocore.exceptions import ClientError

# Answered by families other helpers build for issue 16 (CORS, lifecycle); still walked and held to
# AWS's not-configured codes, so this test passes once those branches are merged.
OWNED_ELSEWHERE = {"GetBucketCors", "GetBucketLifecycleConfiguration"}


def call(fn, **kwargs):
    """(HTTP status, error code or None, response or None) of one call."""
    try:
        response = fn(**kwargs)
        return response["ResponseMetadata"]["HTTPStatusCode"], None, response
    except ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"], e.response


def not_found(code):
    """Expects a 404 with `code`."""

    def check(status, error, _response):
        return status == 404 and error == code, f"expected 404 {code}"

    return check


def ok(predicate, what):
    """Expects a 200 whose response satisfies `predicate`."""

    def check(status, error, response):
        return status == 200 and error is None and predicate(response), f"expected 200 with {what}"

    return check


def owner_full_control(response):
    grants = response.get("Grants", [])
    return (
        len(grants) == 1
        and grants[0]["Permission"] == "FULL_CONTROL"
        and grants[0]["Grantee"].get("ID") == response["Owner"].get("ID")
    )


def terraform_read(s3, bucket):
    """The calls of resourceBucketRead, in order: (operation, callable, kwargs, check)."""
    b = {"Bucket": bucket}
    return [
        ("HeadBucket", s3.head_bucket, b, ok(lambda r: True, "the bucket")),
        ("GetBucketPolicy", s3.get_bucket_policy, b, not_found("NoSuchBucketPolicy")),
        ("GetBucketAcl", s3.get_bucket_acl, b, ok(owner_full_control, "the owner's FULL_CONTROL only")),
        ("GetBucketCors", s3.get_bucket_cors, b, not_found("NoSuchCORSConfiguration")),
        ("GetBucketWebsite", s3.get_bucket_website, b, not_found("NoSuchWebsiteConfiguration")),
        ("GetBucketVersioning", s3.get_bucket_versioning, b, ok(lambda r: "Status" not in r, "no Status")),
        (
            "GetBucketAccelerateConfiguration",
            s3.get_bucket_accelerate_configuration,
            b,
            ok(lambda r: "Status" not in r, "no Status"),
        ),
        (
            "GetBucketRequestPayment",
            s3.get_bucket_request_payment,
            b,
            ok(lambda r: r.get("Payer") == "BucketOwner", "Payer BucketOwner"),
        ),
        ("GetBucketLogging", s3.get_bucket_logging, b, ok(lambda r: "LoggingEnabled" not in r, "no LoggingEnabled")),
        (
            "GetBucketLifecycleConfiguration",
            s3.get_bucket_lifecycle_configuration,
            b,
            not_found("NoSuchLifecycleConfiguration"),
        ),
        ("GetBucketReplication", s3.get_bucket_replication, b, not_found("ReplicationConfigurationNotFoundError")),
        (
            "GetBucketEncryption",
            s3.get_bucket_encryption,
            b,
            not_found("ServerSideEncryptionConfigurationNotFoundError"),
        ),
        (
            "GetObjectLockConfiguration",
            s3.get_object_lock_configuration,
            b,
            not_found("ObjectLockConfigurationNotFoundError"),
        ),
        (
            "HeadBucket",
            s3.head_bucket,
            b,
            ok(lambda r: r["ResponseMetadata"]["HTTPHeaders"].get("x-amz-bucket-region") == "us-east-1", "the region"),
        ),
        (
            "GetBucketLocation",
            s3.get_bucket_location,
            b,
            ok(lambda r: r.get("LocationConstraint") in (None, ""), "us-east-1 (an empty LocationConstraint)"),
        ),
        ("GetBucketTagging", s3.get_bucket_tagging, b, not_found("NoSuchTagSet")),
    ]


def walk(s3, bucket):
    """Runs the read; returns the calls that answered 501 and those that answered otherwise than AWS."""
    not_implemented, wrong = [], []
    for operation, fn, kwargs, check in terraform_read(s3, bucket):
        status, error, response = call(fn, **kwargs)
        if status == 501:
            not_implemented.append(f"{operation}: 501 {error}")
        good, expected = check(status, error, response)
        if not good:
            owner = " (owned elsewhere in issue 16)" if operation in OWNED_ELSEWHERE else ""
            wrong.append(f"{operation}{owner}: got {status} {error}, {expected}")
    return not_implemented, wrong


def test_the_read_of_a_new_bucket_answers_as_aws(s3, bucket):
    not_implemented, wrong = walk(s3, bucket)
    assert not_implemented == [] and wrong == [], f"501: {not_implemented}; not as AWS: {wrong}"


def test_the_read_after_terraform_creates_a_tagged_bucket(s3):
    # resourceBucketCreate: CreateBucket, HeadBucket until found, PutBucketTagging with the tags.
    name = f"tf-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    s3.head_bucket(Bucket=name)
    tags = [{"Key": "Name", "Value": "My bucket"}, {"Key": "Environment", "Value": "Dev"}]
    s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tags})

    not_implemented, wrong = [], []
    for operation, fn, kwargs, check in terraform_read(s3, name):
        status, error, response = call(fn, **kwargs)
        if status == 501:
            not_implemented.append(f"{operation}: 501 {error}")
        if operation == "GetBucketTagging":
            got = sorted((t["Key"], t["Value"]) for t in response.get("TagSet", []))
            if status != 200 or got != sorted((t["Key"], t["Value"]) for t in tags):
                wrong.append(f"GetBucketTagging: got {status} {error} {got}")
            continue
        good, expected = check(status, error, response)
        if not good:
            owner = " (owned elsewhere in issue 16)" if operation in OWNED_ELSEWHERE else ""
            wrong.append(f"{operation}{owner}: got {status} {error}, {expected}")
    assert not_implemented == [] and wrong == [], f"501: {not_implemented}; not as AWS: {wrong}"


def test_companion_resources_read_as_aws(s3, bucket):
    # aws_s3_bucket_ownership_controls, _notification, _accelerate_configuration and
    # _request_payment_configuration read these after their own Put.
    got = s3.get_bucket_ownership_controls(Bucket=bucket)
    assert got["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    got = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert not any(k in got for k in ("TopicConfigurations", "QueueConfigurations", "LambdaFunctionConfigurations"))
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})

    # Terraform v4 matched this text, not only the code.
    status, error, response = call(s3.get_bucket_encryption, Bucket=bucket)
    assert (status, error) == (404, "ServerSideEncryptionConfigurationNotFoundError")
    assert "encryption configuration was not found" in response["Error"]["Message"]
    # aws_s3_bucket_server_side_encryption_configuration: Put, then read back as sent.
    rule = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [rule]})
    got = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert got["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"

    with pytest.raises(ClientError) as e:
        s3.put_bucket_website(Bucket=bucket, WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}})
    assert e.value.response["Error"]["Code"] == "NotImplemented"
    assert "static websites" in e.value.response["Error"]["Message"]
