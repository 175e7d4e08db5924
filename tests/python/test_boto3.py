"""boto3 against a real kura server."""

import hashlib
import io
import subprocess
import uuid
from email.utils import formatdate

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY, SECRET_KEY, client


def curl(*args):
    out = subprocess.run(["curl", "-s", "-o", "/dev/stderr", "-w", "%{http_code}", *args], capture_output=True)
    return int(out.stdout), out.stderr


def test_put_get_metadata(s3, bucket):
    s3.put_object(Bucket=bucket, Key="a.txt", Body=b"hello", ContentType="text/plain", Metadata={"owner": "kura"})
    got = s3.get_object(Bucket=bucket, Key="a.txt")
    assert got["Body"].read() == b"hello"
    assert got["ContentType"] == "text/plain"
    assert got["Metadata"] == {"owner": "kura"}
    assert got["ETag"] == '"%s"' % hashlib.md5(b"hello").hexdigest()


def test_errors_have_s3_codes(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="missing")
    assert e.value.response["Error"]["Code"] == "NoSuchKey"
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket="no-such-bucket-xyz")
    assert e.value.response["Error"]["Code"] == "NoSuchBucket"


def test_multipart_upload_fileobj_round_trip(s3, bucket):
    payload = bytes(range(256)) * (12 * 1024 * 1024 // 256)
    cfg = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    s3.upload_fileobj(io.BytesIO(payload), bucket, "big.bin", Config=cfg)
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == len(payload)
    assert head["ETag"].endswith('-3"')
    out = io.BytesIO()
    s3.download_fileobj(bucket, "big.bin", out, Config=cfg)
    assert hashlib.sha256(out.getvalue()).digest() == hashlib.sha256(payload).digest()


def test_paginated_listing(s3, bucket):
    for i in range(25):
        s3.put_object(Bucket=bucket, Key=f"p/{i:03}", Body=b"x")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="p/", PaginationConfig={"PageSize": 7})
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    assert keys == [f"p/{i:03}" for i in range(25)]
    v1 = s3.get_paginator("list_objects").paginate(Bucket=bucket, PaginationConfig={"PageSize": 10})
    assert sum(len(p.get("Contents", [])) for p in v1) == 25


def test_copy_and_delete_objects(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"data")
    s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"data"
    out = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "src"}, {"Key": "dst"}]})
    assert sorted(d["Key"] for d in out["Deleted"]) == ["dst", "src"]
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_presigned_put_with_curl_and_get(s3, bucket, tmp_path):
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "up.bin"}, ExpiresIn=300)
    f = tmp_path / "up.bin"
    f.write_bytes(b"uploaded by curl")
    status, _ = curl("-X", "PUT", "--upload-file", str(f), url)
    assert status == 200
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "up.bin"}, ExpiresIn=300)
    status, body = curl(url)
    assert status == 200 and body == b"uploaded by curl"
    at = url.index("X-Amz-Signature=") + len("X-Amz-Signature=")
    tampered = url[:at] + ("1" if url[at] == "0" else "0") + url[at + 1 :]
    status, body = curl(tampered)
    assert status == 403 and b"SignatureDoesNotMatch" in body


def test_sigv2_presigned_url(kura, bucket, s3):
    s3.put_object(Bucket=bucket, Key="v2", Body=b"legacy")
    v2 = client(kura, signature_version="s3")
    url = v2.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "v2"}, ExpiresIn=300)
    status, body = curl(url)
    assert status == 200 and body == b"legacy"


def test_sigv2_presigned_put(kura, bucket, s3):
    # botocore copies a signed Content-Type into a SigV2 URL's query; kura's gate lets that copy through.
    v2 = client(kura, signature_version="s3")
    url = v2.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "v2put"}, ExpiresIn=300)
    status, _ = curl("-X", "PUT", "-H", "Content-Type:", "--data-binary", "plain", url)
    assert status == 200
    params = {"Bucket": bucket, "Key": "v2typed", "ContentType": "text/plain"}
    url = v2.generate_presigned_url("put_object", Params=params, ExpiresIn=300)
    status, _ = curl("-X", "PUT", "-H", "Content-Type: text/plain", "--data-binary", "typed", url)
    assert status == 200
    assert s3.get_object(Bucket=bucket, Key="v2typed")["ContentType"] == "text/plain"
    # A sub-resource the SigV2 signature does not cover is refused, not run as PutObjectTagging.
    tags = "<Tagging><TagSet><Tag><Key>owner</Key><Value>mallory</Value></Tag></TagSet></Tagging>"
    status, body = curl("-X", "PUT", "-H", "Content-Type: text/plain", "--data-binary", tags, url + "&tagging&tagging")
    assert status == 403 and b"SignatureDoesNotMatch" in body
    assert s3.get_object_tagging(Bucket=bucket, Key="v2typed")["TagSet"] == []


def test_checksums_from_boto3(s3, bucket):
    s3.put_object(Bucket=bucket, Key="c", Body=b"checked", ChecksumAlgorithm="SHA256")
    head = s3.head_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"]


def test_listing_round_trips_names_with_spaces_and_unicode(s3, bucket):
    # boto3 asks for encoding-type=url and decodes exactly the fields AWS encodes: for ListObjects v1
    # Marker, NextMarker, Delimiter, Key and CommonPrefixes (not Prefix, which AWS sends as given).
    prefix = "dir with space/ü "
    keys = [prefix + "a+b", prefix + "sub dir/ä", prefix + "z%20"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    v1 = s3.list_objects(Bucket=bucket, Prefix=prefix, Delimiter="/", Marker=prefix + "a")
    assert v1["Prefix"] == prefix
    assert v1["Marker"] == prefix + "a"
    assert [o["Key"] for o in v1["Contents"]] == [prefix + "a+b", prefix + "z%20"]
    assert [p["Prefix"] for p in v1["CommonPrefixes"]] == [prefix + "sub dir/"]
    page = s3.list_objects(Bucket=bucket, Prefix=prefix, Delimiter="/", MaxKeys=1)
    assert page["IsTruncated"] and page["NextMarker"] == prefix + "a+b"
    v2 = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, Delimiter="/", StartAfter=prefix + "a")
    assert (v2["Prefix"], v2["StartAfter"]) == (prefix, prefix + "a")
    assert [o["Key"] for o in v2["Contents"]] == [prefix + "a+b", prefix + "z%20"]
    assert [p["Prefix"] for p in v2["CommonPrefixes"]] == [prefix + "sub dir/"]
    versions = s3.list_object_versions(Bucket=bucket, Prefix=prefix, KeyMarker=prefix + "a")
    assert (versions["Prefix"], versions["KeyMarker"]) == (prefix, prefix + "a")
    assert [v["Key"] for v in versions["Versions"]] == [prefix + "a+b", prefix + "sub dir/ä", prefix + "z%20"]
    # ListMultipartUploads: boto3 neither asks for nor decodes it, so encoding-type=url is visible raw.
    upload = s3.create_multipart_upload(Bucket=bucket, Key=prefix + "up load")
    try:
        raw = s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix, EncodingType="url")
        assert raw["EncodingType"] == "url"
        assert raw["Prefix"] == "dir%20with%20space/%C3%BC%20"
        assert [u["Key"] for u in raw["Uploads"]] == ["dir%20with%20space/%C3%BC%20up%20load"]
        plain = s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix)
        assert [u["Key"] for u in plain["Uploads"]] == [prefix + "up load"]
    finally:
        s3.abort_multipart_upload(Bucket=bucket, Key=prefix + "up load", UploadId=upload["UploadId"])


def test_sigv2_client_on_buckets_and_objects(kura):
    # boto3 with signature_version="s3" is a real SigV2 client: it signs a bucket as /bucket/ (with
    # its sub-resources) and sends Date; every bucket-level call works as the object-level ones do.
    v2 = client(kura, signature_version="s3")
    name = "py-sigv2-" + uuid.uuid4().hex[:8]
    v2.create_bucket(Bucket=name)
    v2.head_bucket(Bucket=name)
    v2.put_object(Bucket=name, Key="dir/k", Body=b"v2")
    assert [o["Key"] for o in v2.list_objects(Bucket=name)["Contents"]] == ["dir/k"]
    assert [o["Key"] for o in v2.list_objects_v2(Bucket=name, Prefix="dir/")["Contents"]] == ["dir/k"]
    assert v2.get_bucket_acl(Bucket=name)["Grants"][0]["Permission"] == "FULL_CONTROL"
    assert "Status" not in v2.get_bucket_versioning(Bucket=name)
    upload = v2.create_multipart_upload(Bucket=name, Key="mp")
    assert [u["UploadId"] for u in v2.list_multipart_uploads(Bucket=name)["Uploads"]] == [upload["UploadId"]]
    v2.abort_multipart_upload(Bucket=name, Key="mp", UploadId=upload["UploadId"])
    assert v2.get_object(Bucket=name, Key="dir/k")["Body"].read() == b"v2"
    v2.delete_objects(Bucket=name, Delete={"Objects": [{"Key": "dir/k"}]})
    v2.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as e:
        v2.head_bucket(Bucket=name)
    assert e.value.response["Error"]["Code"] == "404"


def _with_headers(boto_client, operation, headers):
    """Adds `headers` to every `operation` call of `boto_client` before botocore signs it (the hook
    ceph s3-tests uses): botocore signs a request that has a `Date` with that time, and no x-amz-date."""
    service = boto_client.meta.service_model.service_name
    boto_client.meta.events.register(
        f"before-call.{service}.{operation}", lambda params, **_: params["headers"].update(headers)
    )
    return boto_client


def test_sigv4_timed_by_date_header(kura, bucket):
    s3 = _with_headers(client(kura, signature_version="s3v4"), "PutObject", {"Date": formatdate(usegmt=True)})
    s3.put_object(Bucket=bucket, Key="dated", Body=b"timed by Date")
    assert s3.get_object(Bucket=bucket, Key="dated")["Body"].read() == b"timed by Date"
    # STS verifies through kura's own SigV4 code, not s3s: the same rule holds there.
    sts = boto3.client(
        "sts",
        endpoint_url=kura.endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
    )
    sts = _with_headers(sts, "GetCallerIdentity", {"Date": formatdate(usegmt=True)})
    assert sts.get_caller_identity()["Arn"].endswith(":root")


def test_empty_content_md5_is_invalid_digest(kura, s3, bucket):
    dashed = _with_headers(client(kura, signature_version="s3v4"), "PutObject", {"Content-MD5": ""})
    with pytest.raises(ClientError) as e:
        dashed.put_object(Bucket=bucket, Key="unchecked", Body=b"bytes")
    assert e.value.response["Error"]["Code"] == "InvalidDigest"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="unchecked")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_statuses_are_the_ones_aws_answers(s3, bucket):
    """s3s fixes each operation's status; kura applies the one AWS answers where they differ."""
    status = lambda r: r["ResponseMetadata"]["HTTPStatusCode"]  # noqa: E731
    s3.put_object(Bucket=bucket, Key="k", Body=b"hello")
    assert status(s3.get_object(Bucket=bucket, Key="k", Range="bytes=0-1")) == 206
    ranged = s3.head_object(Bucket=bucket, Key="k", Range="bytes=0-1")
    assert (status(ranged), ranged["ContentLength"], ranged["ContentRange"]) == (206, 2, "bytes 0-1/5")
    assert status(s3.head_object(Bucket=bucket, Key="k")) == 200
    # A part is a range, even part 1 of a single-part object (no parts count: it has no parts).
    for part in (s3.get_object(Bucket=bucket, Key="k", PartNumber=1), s3.head_object(Bucket=bucket, Key="k", PartNumber=1)):
        assert (status(part), part["ContentRange"], part.get("PartsCount")) == (206, "bytes 0-4/5", None)
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    empty = s3.get_object(Bucket=bucket, Key="empty", PartNumber=1)
    assert (status(empty), empty.get("ContentRange"), empty["Body"].read()) == (200, None, b"")
    assert status(s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})) == 204
    assert status(s3.delete_bucket_tagging(Bucket=bucket)) == 204
    assert status(s3.delete_object(Bucket=bucket, Key="k")) == 204
