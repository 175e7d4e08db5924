"""Seed 004 end to end: GitLab's object storage on kura as the field report sets it up on EKS.

The platform team's part is done as the report's Terraform does it, through the API as root: seven
buckets with versioning, a default of `aws:kms` under the `alias/aws/s3` key (its ARN looked up first, as
`data "aws_kms_key"` does), and a public access block. The report's four IAM policies, verbatim but for
the names, are attached to the role of the `gitlab/gitlab-global` service account. The workload is boto3
with no static keys, once through web identity (AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE) and once
through pod credentials (AWS_CONTAINER_CREDENTIALS_FULL_URI), doing what GitLab's components do.

One more bucket, `gitlab-cache`, is encrypted under a customer key (`alias/gitlab`) whose use the role's
KMS statement allows only with `kms:EncryptionContext:aws:s3:arn` equal to the bucket's ARN: with an S3
bucket key that is the context and writes pass; a write that turns the bucket key off has the object's
ARN as its context, so KMS refuses it (as AWS does) and nothing is stored.
"""

import json
import os
import subprocess
import sys
import tempfile

import boto3
import botocore.exceptions
import pytest

from conftest import ACCESS_KEY, SECRET_KEY, Kura
from test_identity import ISSUER, workload_env

BINARY = os.environ.get("KURA_BIN", "target/debug/kura")
NAMES = ["registry", "lfs", "artifacts", "uploads", "packages", "backups", "tmp"]
BUCKETS = {name: f"gitlab-{name}" for name in NAMES}
CACHE = "gitlab-cache"
ROLE = "gitlab-eks-global"
MARKER = b"gitlab-plaintext-that-must-not-reach-the-disk:"


def arn(bucket):
    return f"arn:aws:s3:::{bucket}"


def seed_policies(aws_s3_key_arn):
    """The report's four policies (jsonencode'd by Terraform), for kura's config file."""
    general = [b for n, b in BUCKETS.items() if n not in ("registry", "backups")]
    return {
        "gitlab-s3-policy": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"], "Effect": "Allow",
                 "Resource": [arn(b) + "/*" for b in general]},
                {"Action": ["s3:ListBucket"], "Effect": "Allow", "Resource": [arn(b) for b in general]},
            ],
        },
        "gitlab-s3-backups-policy": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"], "Effect": "Allow",
                 "Resource": [arn(BUCKETS["backups"]) + "/*"]},
            ],
        },
        "gitlab-s3-registry-policy": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": ["s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"],
                 "Effect": "Allow", "Resource": arn(BUCKETS["registry"])},
                {"Action": ["s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:ListMultipartUploadParts",
                            "s3:AbortMultipartUpload"],
                 "Effect": "Allow", "Resource": arn(BUCKETS["registry"]) + "/*"},
            ],
        },
        "gitlab-s3-kms-policy": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Effect": "Allow",
                 "Condition": {"StringLike": {"kms:EncryptionContext:aws:s3:arn": [arn(b) for b in BUCKETS.values()]}},
                 "Resource": aws_s3_key_arn},
            ],
        },
        # Not in the report: the same KMS statement for a customer key and one more bucket.
        "gitlab-cache-policy": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": ["s3:PutObject", "s3:GetObject"], "Effect": "Allow", "Resource": arn(CACHE) + "/*"},
                {"Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Effect": "Allow",
                 "Condition": {"StringLike": {"kms:EncryptionContext:aws:s3:arn": [arn(CACHE)]}},
                 "Resource": "arn:aws:kms:us-east-1:000000000000:key/gitlab"},
            ],
        },
    }


def config(aws_s3_key_arn, jwks):
    """kura.yaml (JSON is YAML): the provider, the customer key, the policies, the role and the pod
    identity association of the report's `aws eks create-pod-identity-association`."""
    policies = seed_policies(aws_s3_key_arn)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            # The report's trust policy (EKS Pod Identity) ...
            {"Action": ["sts:AssumeRole", "sts:TagSession"], "Effect": "Allow",
             "Principal": {"Service": "pods.eks.amazonaws.com"}},
            # ... and the IRSA form, for web identity.
            {"Action": "sts:AssumeRoleWithWebIdentity", "Effect": "Allow",
             "Principal": {"Federated": "arn:aws:iam::000000000000:oidc-provider/oidc.kura.test"},
             "Condition": {"StringEquals": {"oidc.kura.test:sub": "system:serviceaccount:gitlab:gitlab-global",
                                            "oidc.kura.test:aud": "sts.amazonaws.com"}}},
        ],
    }
    return json.dumps({
        "kms": {"keys": [{"id": "gitlab", "aliases": ["alias/gitlab"]}]},
        "policies": policies,
        "identity": {
            "oidc_providers": [{"issuer": ISSUER, "audiences": ["sts.amazonaws.com"], "jwks_file": jwks}],
            "roles": [{"name": ROLE, "trust_policy": trust, "policies": sorted(policies)}],
            "pod_identity": {"associations": [{"namespace": "gitlab", "service_account": "gitlab-global", "role": ROLE}]},
        },
    })


def admin(server, *args):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_REGION="us-east-1")
    out = subprocess.run([BINARY, "admin", "--endpoint-url", server.endpoint, *args], env=env,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def token(tmp, key, name, aud):
    out = subprocess.run(
        [BINARY, "oidc", "token", "--key", key, "--issuer", ISSUER, "--aud", aud, "--namespace", "gitlab",
         "--service-account", "gitlab-global", "--pod", "gitlab-webservice-default-57d7598f89-ffjxq"],
        check=True, capture_output=True, text=True,
    )
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(out.stdout.strip())
    return path


@pytest.fixture(scope="module")
def gitlab():
    with tempfile.TemporaryDirectory() as tmp:
        oidc = os.path.join(tmp, "oidc")
        subprocess.run([BINARY, "oidc", "init", "--issuer", ISSUER, "--out", oidc], check=True, capture_output=True)
        data = os.path.join(tmp, "data")
        # `data "aws_kms_key" "aws_s3" { key_id = "alias/aws/s3" }`: look the key up first.
        first = Kura(data)
        aws_s3 = admin(first, "kms", "describe", "alias/aws/s3")["arn"]
        first.stop()
        server = Kura(data, config=config(aws_s3, os.path.join(oidc, "jwks.json")))
        server.tmp, server.key, server.aws_s3, server.data = tmp, os.path.join(oidc, "sa-signer.key"), aws_s3, data
        root = boto3.client("s3", endpoint_url=server.endpoint, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY, region_name="us-east-1")
        # The report's Terraform, resource by resource.
        for bucket in BUCKETS.values():
            root.create_bucket(Bucket=bucket)
            root.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
            root.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [
                {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": aws_s3}}]})
            root.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
                "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True})
        root.create_bucket(Bucket=CACHE)
        root.put_bucket_encryption(Bucket=CACHE, ServerSideEncryptionConfiguration={"Rules": [
            {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/gitlab"},
             "BucketKeyEnabled": True}]})
        root.create_bucket(Bucket="someone-else")
        server.root = root
        yield server
        server.stop()


WORKLOAD = r"""
import boto3, botocore.exceptions, json, sys
buckets, cache, aws_s3, cmk, marker, tag = json.loads(sys.argv[1])
s3 = boto3.client("s3")
marker = marker.encode()

def code(call, **kw):
    try:
        call(**kw)
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    return "OK"

# Artifacts, LFS objects, uploads, packages and tmp: write, read, list, delete (GitLab's object storage).
for name in ["lfs", "artifacts", "uploads", "packages", "tmp"]:
    bucket, key = buckets[name], f"{tag}/{name}/object.bin"
    body = marker + tag.encode() + bytes(range(256)) * 400
    put = s3.put_object(Bucket=bucket, Key=key, Body=body)
    assert put["ServerSideEncryption"] == "aws:kms" and put["SSEKMSKeyId"] == aws_s3, put
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == aws_s3, head
    assert s3.get_object(Bucket=bucket, Key=key, Range="bytes=70000-70009")["Body"].read() == body[70000:70010]
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{tag}/{name}/")
    assert [o["Key"] for o in listed["Contents"]] == [key], listed
    s3.delete_object(Bucket=bucket, Key=key)
    assert code(s3.head_object, Bucket=bucket, Key=key) == "404"

# Backups: write and read, but no listing (the backups policy has no s3:ListBucket).
s3.put_object(Bucket=buckets["backups"], Key=f"{tag}/backup.tar", Body=marker + b"backup")
assert s3.get_object(Bucket=buckets["backups"], Key=f"{tag}/backup.tar")["Body"].read() == marker + b"backup"
assert code(s3.list_objects_v2, Bucket=buckets["backups"]) == "AccessDenied"

# The container registry: its storage driver's calls, a multipart layer upload included.
registry = buckets["registry"]
assert s3.get_bucket_location(Bucket=registry)["LocationConstraint"] in (None, "us-east-1")
layer = f"{tag}/docker/registry/v2/blobs/sha256/ab/layer/data"
upload = s3.create_multipart_upload(Bucket=registry, Key=layer)
assert upload["ServerSideEncryption"] == "aws:kms" and upload["SSEKMSKeyId"] == aws_s3, upload
parts = [marker + b"a" * (5 * 1024 * 1024), marker + b"b" * 1000]
etags = [s3.upload_part(Bucket=registry, Key=layer, UploadId=upload["UploadId"], PartNumber=n + 1, Body=p)["ETag"]
         for n, p in enumerate(parts)]
uploads = s3.list_multipart_uploads(Bucket=registry, Prefix=tag)["Uploads"]
assert [u["UploadId"] for u in uploads] == [upload["UploadId"]], uploads
listed = s3.list_parts(Bucket=registry, Key=layer, UploadId=upload["UploadId"])["Parts"]
assert [p["ETag"] for p in listed] == etags
s3.complete_multipart_upload(Bucket=registry, Key=layer, UploadId=upload["UploadId"], MultipartUpload={
    "Parts": [{"PartNumber": n + 1, "ETag": e} for n, e in enumerate(etags)]})
assert s3.get_object(Bucket=registry, Key=layer)["Body"].read() == b"".join(parts)
abandoned = s3.create_multipart_upload(Bucket=registry, Key=f"{tag}/abandoned")
s3.abort_multipart_upload(Bucket=registry, Key=f"{tag}/abandoned", UploadId=abandoned["UploadId"])

# Outside the policies: refused.
assert code(s3.put_object, Bucket="someone-else", Key=f"{tag}/x", Body=b"x") == "AccessDenied"

# A customer key: allowed with the bucket key (context = the bucket's ARN), refused without it.
put = s3.put_object(Bucket=cache, Key=f"{tag}/cached", Body=marker + b"cache")
assert put["SSEKMSKeyId"] == cmk and put["BucketKeyEnabled"] is True, put
assert s3.get_object(Bucket=cache, Key=f"{tag}/cached")["Body"].read() == marker + b"cache"
assert code(s3.put_object, Bucket=cache, Key=f"{tag}/no-bucket-key", Body=b"x", ServerSideEncryption="aws:kms",
            SSEKMSKeyId="alias/gitlab", BucketKeyEnabled=False) == "AccessDenied"
assert code(s3.head_object, Bucket=cache, Key=f"{tag}/no-bucket-key") == "404"
print(boto3.client("sts").get_caller_identity()["Arn"])
"""


def run_workload(server, env, tag):
    args = json.dumps([BUCKETS, CACHE, server.aws_s3, "arn:aws:kms:us-east-1:000000000000:key/gitlab",
                       MARKER.decode(), tag])
    return subprocess.run([sys.executable, "-c", WORKLOAD, args], env=env, capture_output=True, text=True)


def test_gitlab_through_web_identity(gitlab):
    env = workload_env(
        gitlab,
        AWS_ROLE_ARN=f"arn:aws:iam::000000000000:role/{ROLE}",
        AWS_WEB_IDENTITY_TOKEN_FILE=token(gitlab.tmp, gitlab.key, "irsa.token", "sts.amazonaws.com"),
        AWS_ROLE_SESSION_NAME="gitlab-webservice",
    )
    out = run_workload(gitlab, env, "irsa")
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"assumed-role/{ROLE}/gitlab-webservice" in out.stdout
    assert_versions_and_ciphertext(gitlab, "irsa")


def test_gitlab_through_pod_credentials(gitlab):
    env = workload_env(
        gitlab,
        AWS_CONTAINER_CREDENTIALS_FULL_URI=gitlab.endpoint + "/kura/v1/credentials",
        AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=token(gitlab.tmp, gitlab.key, "pod.token", "kura"),
    )
    out = run_workload(gitlab, env, "pod")
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"assumed-role/{ROLE}/" in out.stdout
    assert_versions_and_ciphertext(gitlab, "pod")


def assert_versions_and_ciphertext(gitlab, tag):
    """Versioning kept what the workload deleted, and no stored byte is the plaintext."""
    versions = gitlab.root.list_object_versions(Bucket=BUCKETS["lfs"], Prefix=f"{tag}/")
    assert [m["Key"] for m in versions.get("DeleteMarkers", [])] == [f"{tag}/lfs/object.bin"], versions
    assert [v["Key"] for v in versions.get("Versions", [])] == [f"{tag}/lfs/object.bin"], versions
    for directory, _, files in os.walk(gitlab.data):
        for name in files:
            with open(os.path.join(directory, name), "rb") as f:
                assert MARKER not in f.read(), f"plaintext in {os.path.join(directory, name)}"

