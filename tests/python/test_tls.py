"""kura serving HTTPS (`server.tls`) with a certificate from a private CA, as a cert-manager secret
mounts it (tls.crt, tls.key): boto3 trusts the CA with `verify=<ca file>` and refuses the server without it."""

import os
import subprocess
import tempfile

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from conftest import ACCESS_KEY, SECRET_KEY, Kura


def make_pki(tmp):
    """A test CA and a server certificate for 127.0.0.1 / localhost; returns the CA file and the config."""
    ca_key, ca = os.path.join(tmp, "ca.key"), os.path.join(tmp, "ca.crt")
    key, csr, cert = (os.path.join(tmp, n) for n in ("tls.key", "tls.csr", "tls.crt"))
    ext = os.path.join(tmp, "ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    for args in (
        ["req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "1", "-subj", "/CN=kura test CA"],
        ["req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert, "-days", "1",
         "-extfile", ext],
    ):
        subprocess.run(["openssl", *args], check=True, capture_output=True)
    return ca, f"server:\n  tls:\n    cert_file: {cert}\n    key_file: {key}\n"


@pytest.fixture(scope="module")
def https_kura():
    with tempfile.TemporaryDirectory() as tmp:
        ca, config = make_pki(tmp)
        server = Kura(os.path.join(tmp, "data"), config=config)
        yield server, ca
        server.stop()


def s3_client(endpoint, verify):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
        verify=verify,
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4", retries={"max_attempts": 1}),
    )


def test_boto3_over_https_trusting_the_ca(https_kura):
    server, ca = https_kura
    assert server.endpoint.startswith("https://127.0.0.1:"), server.endpoint
    s3 = s3_client(server.endpoint, ca)
    s3.create_bucket(Bucket="tls-py")
    s3.put_object(Bucket="tls-py", Key="hello.txt", Body=b"over TLS")
    assert s3.get_object(Bucket="tls-py", Key="hello.txt")["Body"].read() == b"over TLS"

    untrusted = s3_client(server.endpoint, True)
    with pytest.raises(botocore.exceptions.SSLError):
        untrusted.list_buckets()
