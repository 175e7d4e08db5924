"""Encryption at rest through boto3: SSE-S3, SSE-KMS and SSE-C round trips (ranges, multipart, copies
between kinds), the bucket default, and the refusals of a missing or wrong customer key."""

import hashlib
import os

import pytest
from botocore.exceptions import ClientError


def code(err):
    return err.value.response["Error"]["Code"], err.value.response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.mark.parametrize("size", [0, 100, 20_000, 300_000])
def test_the_three_kinds_round_trip(s3, bucket, size):
    body = os.urandom(size)
    put = s3.put_object(Bucket=bucket, Key="s3", Body=body, ServerSideEncryption="AES256")
    assert put["ServerSideEncryption"] == "AES256"
    assert put["ETag"].strip('"') == hashlib.md5(body).hexdigest(), "SSE-S3's ETag is the MD5"
    got = s3.get_object(Bucket=bucket, Key="s3")
    assert (got["Body"].read(), got["ServerSideEncryption"]) == (body, "AES256")

    put = s3.put_object(Bucket=bucket, Key="kms", Body=body, ServerSideEncryption="aws:kms")
    assert put["SSEKMSKeyId"].startswith("arn:aws:kms:")
    assert put["ETag"].strip('"') != hashlib.md5(body).hexdigest(), "SSE-KMS's ETag is not the MD5"
    got = s3.get_object(Bucket=bucket, Key="kms")
    assert (got["Body"].read(), got["ServerSideEncryption"]) == (body, "aws:kms")

    key = os.urandom(32)
    customer = dict(SSECustomerAlgorithm="AES256", SSECustomerKey=key)
    s3.put_object(Bucket=bucket, Key="c", Body=body, **customer)
    assert s3.get_object(Bucket=bucket, Key="c", **customer)["Body"].read() == body
    if size > 10:
        ranged = s3.get_object(Bucket=bucket, Key="c", Range="bytes=5-9", **customer)
        assert ranged["Body"].read() == body[5:10]
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="c")
    assert code(err) == ("InvalidRequest", 400)
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="c", SSECustomerAlgorithm="AES256", SSECustomerKey=os.urandom(32))
    assert code(err) == ("InvalidRequest", 400)


def test_multipart_and_copies_between_kinds(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", ServerSideEncryption="aws:kms")
    parts, data = [], b""
    for n in (1, 2):
        chunk = os.urandom(5 * 1024 * 1024 + n)
        data += chunk
        part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=n, Body=chunk)
        parts.append({"ETag": part["ETag"], "PartNumber": n})
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"], MultipartUpload={"Parts": parts})
    across = s3.get_object(Bucket=bucket, Key="mp", Range="bytes=5242870-5242900")
    assert across["Body"].read() == data[5242870:5242901]
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == data

    key = os.urandom(32)
    s3.put_object(Bucket=bucket, Key="src", Body=b"hello", SSECustomerAlgorithm="AES256", SSECustomerKey=key)
    s3.copy_object(
        Bucket=bucket,
        Key="dst",
        CopySource={"Bucket": bucket, "Key": "src"},
        CopySourceSSECustomerAlgorithm="AES256",
        CopySourceSSECustomerKey=key,
        ServerSideEncryption="AES256",
    )
    got = s3.get_object(Bucket=bucket, Key="dst")
    assert (got["Body"].read(), got["ServerSideEncryption"]) == (b"hello", "AES256")


def test_the_bucket_default_applies_to_writes_without_headers(s3, bucket):
    rule = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [rule]})
    s3.put_object(Bucket=bucket, Key="plain", Body=b"x")
    assert s3.head_object(Bucket=bucket, Key="plain")["ServerSideEncryption"] == "aws:kms"
    assert s3.get_object(Bucket=bucket, Key="plain")["Body"].read() == b"x"
