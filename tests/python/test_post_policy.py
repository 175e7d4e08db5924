"""Presigned POST (browser uploads): a boto3 `generate_presigned_post` with a key prefix and a size range,
uploaded with `curl -F`, and the posts AWS refuses: oversize, wrong prefix, a field the policy does not
cover, expired, a tampered policy."""

import base64
import json
import os
import subprocess
import time

import pytest


def curl_post(post, key, content, tmp_path, extra=()):
    """Sends the form with curl -F; returns (HTTP status, body)."""
    path = tmp_path / "upload.bin"
    path.write_bytes(content)
    args = ["curl", "-s", "-o", "-", "-w", "\n%{http_code}"]
    fields = dict(post["fields"], key=key)
    for name, value in list(fields.items()) + list(extra):
        args += ["-F", f"{name}={value}"]
    args += ["-F", f"file=@{path}", post["url"]]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    body, _, status = out.rpartition("\n")
    return int(status), body


@pytest.fixture
def post(s3, bucket):
    # boto3 turns a key ending in ${filename} into ["starts-with", "$key", "uploads/"].
    return s3.generate_presigned_post(
        Bucket=bucket,
        Key="uploads/${filename}",
        Conditions=[["content-length-range", 1, 1024]],
        ExpiresIn=300,
    )


def test_a_post_within_the_policy_uploads(s3, bucket, post, tmp_path):
    status, body = curl_post(post, "uploads/a.txt", b"hello", tmp_path)
    assert status == 204, body
    assert s3.get_object(Bucket=bucket, Key="uploads/a.txt")["Body"].read() == b"hello"
    status, body = curl_post(post, "uploads/deeper/b.txt", b"hello", tmp_path)
    assert status == 204, body


def test_filename_in_the_key_is_the_uploaded_file_name(s3, bucket, post, tmp_path):
    # The form boto3 made keeps key = "uploads/${filename}"; curl sends upload.bin as the file name.
    status, body = curl_post(post, post["fields"]["key"], b"named", tmp_path)
    assert status == 204, body
    assert s3.get_object(Bucket=bucket, Key="uploads/upload.bin")["Body"].read() == b"named"


def test_success_action_status_201_returns_the_xml(s3, bucket, tmp_path):
    post = s3.generate_presigned_post(
        Bucket=bucket,
        Key="uploads/c.txt",
        Fields={"success_action_status": "201"},
        Conditions=[{"success_action_status": "201"}],
        ExpiresIn=300,
    )
    status, body = curl_post(post, "uploads/c.txt", b"hello", tmp_path)
    assert status == 201, body
    assert "<Key>uploads/c.txt</Key>" in body


@pytest.mark.parametrize(
    "case,key,content,extra,codes",
    [
        ("oversize", "uploads/big.txt", b"x" * 2048, (), {"EntityTooLarge"}),
        ("undersize", "uploads/empty.txt", b"", (), {"EntityTooSmall"}),
        ("wrong prefix", "elsewhere/a.txt", b"hello", (), {"AccessDenied"}),
        ("field not in the policy", "uploads/a.txt", b"hello", (("x-amz-meta-owner", "mallory"),), {"AccessDenied"}),
    ],
)
def test_posts_outside_the_policy_are_refused(s3, bucket, post, tmp_path, case, key, content, extra, codes):
    status, body = curl_post(post, key, content, tmp_path, extra)
    assert 400 <= status < 500, f"{case}: {status} {body}"
    assert any(f"<Code>{c}</Code>" in body for c in codes), f"{case}: {body}"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert key not in keys, f"{case}: nothing may be written"


def test_an_expired_or_tampered_policy_is_refused(s3, bucket, tmp_path):
    expired = s3.generate_presigned_post(Bucket=bucket, Key="late.txt", ExpiresIn=1)
    time.sleep(2)
    status, body = curl_post(expired, "late.txt", b"hello", tmp_path)
    assert status == 403 and "AccessDenied" in body, body

    post = s3.generate_presigned_post(
        Bucket=bucket, Key="t.txt", Conditions=[["content-length-range", 1, 10]], ExpiresIn=300
    )
    policy = json.loads(base64.b64decode(post["fields"]["policy"]))
    policy["conditions"] = [c for c in policy["conditions"] if not (isinstance(c, list) and c[0] == "content-length-range")]
    post["fields"]["policy"] = base64.b64encode(json.dumps(policy).encode()).decode()
    status, body = curl_post(post, "t.txt", b"x" * 100, tmp_path)
    assert status == 403 and "SignatureDoesNotMatch" in body, body


def test_content_type_and_metadata_conditions(s3, bucket, tmp_path):
    post = s3.generate_presigned_post(
        Bucket=bucket,
        Key="img/${filename}",
        Fields={"Content-Type": "image/png", "x-amz-meta-owner": "alice"},
        Conditions=[["starts-with", "$Content-Type", "image/"], {"x-amz-meta-owner": "alice"}],
        ExpiresIn=300,
    )
    status, body = curl_post(post, "img/a.png", b"png", tmp_path)
    assert status == 204, body
    head = s3.head_object(Bucket=bucket, Key="img/a.png")
    assert head["ContentType"] == "image/png"
    assert head["Metadata"] == {"owner": "alice"}
    for field, value in [("Content-Type", "text/html"), ("x-amz-meta-owner", "mallory")]:
        bad = dict(post, fields=dict(post["fields"], **{field: value}))
        status, body = curl_post(bad, "img/b.png", b"png", tmp_path)
        assert 400 <= status < 500, f"{field}: {body}"
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="img/b")


def test_the_policy_sees_the_key_after_filename_substitution(s3, bucket, tmp_path):
    # Only the substituted key ("uploads/upload.bin") satisfies this condition, as on AWS.
    post = s3.generate_presigned_post(
        Bucket=bucket,
        Key="uploads/${filename}",
        Conditions=[["starts-with", "$key", "uploads/upload"]],
        ExpiresIn=300,
    )
    status, body = curl_post(post, "uploads/${filename}", b"late binding", tmp_path)
    assert status == 204, body
    assert s3.get_object(Bucket=bucket, Key="uploads/upload.bin")["Body"].read() == b"late binding"
