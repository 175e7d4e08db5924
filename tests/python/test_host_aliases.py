"""Host aliases: a URL signed for any of kura's configured names verifies, whatever Host it arrives
with; a URL signed for another name is refused."""

import os
import subprocess
import tempfile

import boto3
import pytest
from botocore.config import Config

from conftest import ACCESS_KEY, SECRET_KEY, Kura, client

CONFIG = """
server:
  public_urls: [https://s3.example.com]
  internal_urls: [http://kura.storage.svc.cluster.local:9000]
buckets:
  - name: shared
"""


@pytest.fixture(scope="module")
def kura_aliases():
    with tempfile.TemporaryDirectory() as tmp:
        server = Kura(os.path.join(tmp, "data"), config=CONFIG)
        yield server
        server.stop()


def presigner(endpoint):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
    )


def fetch(kura, url, host=None):
    """GETs the URL's path and query from kura's listen address, with an optional Host header."""
    path = "/" + url.split("://", 1)[1].split("/", 1)[1]
    args = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", f"{kura.endpoint}{path}"]
    if host:
        args += ["-H", f"Host: {host}"]
    return subprocess.run(args, capture_output=True, text=True).stdout


def test_urls_for_public_and_internal_names_work_and_others_do_not(kura_aliases):
    client(kura_aliases, signature_version="s3v4").put_object(Bucket="shared", Key="a.txt", Body=b"alias")
    public = presigner("https://s3.example.com").generate_presigned_url(
        "get_object", Params={"Bucket": "shared", "Key": "a.txt"}, ExpiresIn=300
    )
    assert public.startswith("https://s3.example.com/shared/a.txt?")
    assert fetch(kura_aliases, public, host="s3.example.com") == "200"  # through an ingress
    assert fetch(kura_aliases, public) == "200"  # rewritten host, straight to the listen address
    internal = presigner("http://kura.storage.svc.cluster.local:9000").generate_presigned_url(
        "get_object", Params={"Bucket": "shared", "Key": "a.txt"}, ExpiresIn=300
    )
    assert fetch(kura_aliases, internal) == "200"
    unknown = presigner("https://evil.example.net").generate_presigned_url(
        "get_object", Params={"Bucket": "shared", "Key": "a.txt"}, ExpiresIn=300
    )
    assert fetch(kura_aliases, unknown, host="evil.example.net") == "403"
    assert fetch(kura_aliases, unknown) == "403"
