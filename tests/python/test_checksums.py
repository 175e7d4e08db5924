"""The checksums recent boto3 and aws CLI send by default (CRC32, `when_supported`), against kura."""

import base64
import hashlib
import json
import uuid
import zlib

import pytest
from botocore.exceptions import ClientError


def crc32(data):
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def test_boto3_sends_crc32_by_default_and_reads_it_back(s3, bucket):
    body = b"checked by default" * 1000
    put = s3.put_object(Bucket=bucket, Key="default", Body=body)
    assert put["ChecksumCRC32"] == crc32(body), "botocore computed a CRC32 and kura verified and kept it"
    assert put["ChecksumType"] == "FULL_OBJECT"
    assert "ChecksumCRC32" not in s3.head_object(Bucket=bucket, Key="default")
    head = s3.head_object(Bucket=bucket, Key="default", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == crc32(body)
    assert head["ChecksumType"] == "FULL_OBJECT"


def test_boto3_wrong_checksums_store_nothing(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"payload", ChecksumCRC32=crc32(b"other"))
    assert e.value.response["Error"]["Code"] == "BadDigest"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="bad")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404

    # Two checksums of different algorithms for one body: S3 takes exactly one.
    with pytest.raises(ClientError) as e:
        s3.put_object(
            Bucket=bucket, Key="two", Body=b"payload", ChecksumCRC32=crc32(b"payload"),
            ChecksumSHA256=base64.b64encode(hashlib.sha256(b"payload").digest()).decode(),
        )
    assert e.value.response["Error"]["Code"] == "InvalidRequest"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="two")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404

    # An upload declaring SHA256 as FULL_OBJECT is refused and creates nothing.
    with pytest.raises(ClientError) as e:
        s3.create_multipart_upload(Bucket=bucket, Key="mpu", ChecksumAlgorithm="SHA256", ChecksumType="FULL_OBJECT")
    assert e.value.response["Error"]["Code"] == "InvalidRequest"
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")


def test_boto3_multipart_full_object_crc32(s3, bucket):
    parts = [b"A" * (5 * 1024 * 1024), b"B" * 1234]
    whole = b"".join(parts)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mpu", ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT")
    assert upload["ChecksumType"] == "FULL_OBJECT"
    done = []
    for n, body in enumerate(parts, start=1):
        out = s3.upload_part(
            Bucket=bucket, Key="mpu", UploadId=upload["UploadId"], PartNumber=n, Body=body, ChecksumAlgorithm="CRC32"
        )
        assert out["ChecksumCRC32"] == crc32(body)
        done.append({"PartNumber": n, "ETag": out["ETag"], "ChecksumCRC32": out["ChecksumCRC32"]})
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="mpu", UploadId=upload["UploadId"], MultipartUpload={"Parts": done},
            ChecksumCRC32=crc32(parts[0]), ChecksumType="FULL_OBJECT",
        )
    assert e.value.response["Error"]["Code"] == "BadDigest"
    result = s3.complete_multipart_upload(
        Bucket=bucket, Key="mpu", UploadId=upload["UploadId"], MultipartUpload={"Parts": done},
        ChecksumCRC32=crc32(whole), ChecksumType="FULL_OBJECT",
    )
    assert result["ChecksumCRC32"] == crc32(whole)
    assert result["ChecksumType"] == "FULL_OBJECT"
    # botocore validates the returned full-object CRC32 against the body it reads.
    got = s3.get_object(Bucket=bucket, Key="mpu", ChecksumMode="ENABLED")
    assert got["Body"].read() == whole


def test_aws_cli_cp_of_a_large_file_keeps_its_checksum(aws, tmp_path):
    bucket = f"cksum-{uuid.uuid4().hex[:12]}"
    aws("s3", "mb", f"s3://{bucket}")
    src = tmp_path / "20mb.bin"
    data = bytes(range(256)) * (20 * 1024 * 1024 // 256)
    src.write_bytes(data)
    aws("s3", "cp", str(src), f"s3://{bucket}/big.bin")
    head = json.loads(
        aws("s3api", "head-object", "--bucket", bucket, "--key", "big.bin", "--checksum-mode", "ENABLED").stdout
    )
    assert "-" in head["ETag"], "a 20 MB cp is a multipart upload"
    # This CLI's s3transfer declares CRC32 (its default) on CreateMultipartUpload and no checksum type,
    # so the object's CRC32 is COMPOSITE: the CRC32 of the parts' CRC32s (8 MiB chunks), then -3.
    chunk = 8 * 1024 * 1024
    part_crcs = b"".join(zlib.crc32(data[i : i + chunk]).to_bytes(4, "big") for i in range(0, len(data), chunk))
    assert head["ChecksumType"] == "COMPOSITE", head
    assert head["ChecksumCRC32"] == crc32(part_crcs) + "-3"
    dst = tmp_path / "down.bin"
    aws("s3", "cp", f"s3://{bucket}/big.bin", str(dst))
    assert dst.read_bytes() == data
    aws("s3", "rb", "--force", f"s3://{bucket}")
