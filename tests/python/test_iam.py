"""IAM with real clients: seed 003's bucket-prefix policy through the aws CLI, a non-root presigned PUT
with curl, an anonymous download bucket, and the public access block through boto3."""

import json
import os
import subprocess
import tempfile

import botocore.exceptions
import pytest

from conftest import Kura, aws_cli, client

CONFIG = """
users:
  - access_key: ci-bot
    secret_key: ci-secret-0123456789
    policies: [k8s-default-aws-cli]
  - access_key: reader
    secret_key: reader-secret-0123456789
    policies: [readonly]
  - access_key: uploader
    secret_key: uploader-secret-0123456789
    policies: [readwrite]
policies:
  k8s-default-aws-cli:
    Version: "2012-10-17"
    Statement:
      - Effect: Allow
        Action: ["s3:*"]
        Resource: ["arn:aws:s3:::k8s-default-aws-cli-*", "arn:aws:s3:::k8s-default-aws-cli-*/*"]
buckets:
  - name: private
  - name: downloads
    anonymous: download
  - name: locked
    public_access_block: true
"""


@pytest.fixture(scope="module")
def kura_iam():
    with tempfile.TemporaryDirectory() as tmp:
        server = Kura(os.path.join(tmp, "data"), config=CONFIG)
        yield server
        server.stop()


def curl(*args):
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", *args], capture_output=True, text=True)
    return out.stdout


def test_seed_003_prefix_policy_with_the_aws_cli(kura_iam, tmp_path):
    aws = aws_cli(kura_iam, tmp_path, "ci-bot", "ci-secret-0123456789")
    aws("s3", "mb", "s3://k8s-default-aws-cli-demo")
    denied = aws("s3", "mb", "s3://k9s-default-aws-cli-demo", check=False)
    assert denied.returncode != 0
    assert "AccessDenied" in denied.stderr


def test_readonly_user_cannot_write(kura_iam, tmp_path):
    src = tmp_path / "f.txt"
    src.write_text("hello")
    reader = aws_cli(kura_iam, tmp_path, "reader", "reader-secret-0123456789")
    denied = reader("s3", "cp", str(src), "s3://private/f.txt", check=False)
    assert denied.returncode != 0 and "AccessDenied" in denied.stderr
    aws_cli(kura_iam, tmp_path)("s3", "cp", str(src), "s3://private/f.txt")
    assert "f.txt" in reader("s3", "ls", "s3://private/").stdout


def test_non_root_presigned_put_with_curl(kura_iam, tmp_path):
    s3 = client(kura_iam, "uploader", "uploader-secret-0123456789", signature_version="s3v4")
    url = s3.generate_presigned_url("put_object", Params={"Bucket": "private", "Key": "up/data.bin"}, ExpiresIn=300)
    payload = tmp_path / "data.bin"
    payload.write_bytes(os.urandom(4096))
    assert curl("-T", str(payload), url) == "200"
    root = client(kura_iam, signature_version="s3v4")
    assert root.get_object(Bucket="private", Key="up/data.bin")["Body"].read() == payload.read_bytes()


def test_anonymous_download_bucket(kura_iam, tmp_path):
    root = client(kura_iam, signature_version="s3v4")
    root.put_object(Bucket="downloads", Key="pub.txt", Body=b"public")
    assert curl(f"{kura_iam.endpoint}/downloads/pub.txt") == "200"
    body = tmp_path / "body"
    body.write_text("nope")
    assert curl("-T", str(body), f"{kura_iam.endpoint}/downloads/pub.txt") == "403"
    assert curl(f"{kura_iam.endpoint}/private/up/data.bin") == "403"


def test_public_access_block_refuses_a_public_policy(kura_iam):
    root = client(kura_iam, signature_version="s3v4")
    public = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::locked/*"}],
    }
    with pytest.raises(botocore.exceptions.ClientError) as err:
        root.put_bucket_policy(Bucket="locked", Policy=json.dumps(public))
    assert err.value.response["Error"]["Code"] == "AccessDenied"


def test_presigned_post_is_authorised_by_the_signers_policy(kura_iam, tmp_path):
    payload = tmp_path / "form.txt"
    payload.write_text("posted")

    def post(access_key, secret_key, key):
        s3 = client(kura_iam, access_key, secret_key, signature_version="s3v4")
        form = s3.generate_presigned_post("private", key, ExpiresIn=300)
        fields = [arg for name, value in form["fields"].items() for arg in ("-F", f"{name}={value}")]
        return curl(*fields, "-F", f"file=@{payload}", form["url"])

    assert post("uploader", "uploader-secret-0123456789", "posts/ok.txt") == "204"
    root = client(kura_iam, signature_version="s3v4")
    assert root.get_object(Bucket="private", Key="posts/ok.txt")["Body"].read() == b"posted"
    assert post("reader", "reader-secret-0123456789", "posts/denied.txt") == "403"
