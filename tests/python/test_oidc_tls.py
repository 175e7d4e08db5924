"""An OIDC issuer made by `kura oidc init`, served over HTTPS with a private CA (as a cluster's issuer
is): kura finds its keys by discovery or `jwks_url` only when `ca_file` names that CA; boto3 then gets
credentials by web identity. Also `kura presign` and upload tickets used with curl."""

import http.server
import json
import os
import ssl
import subprocess
import sys
import tempfile
import threading

import pytest

from conftest import ACCESS_KEY, SECRET_KEY, Kura

BINARY = os.environ.get("KURA_BIN", "target/debug/kura")

CONFIG = """
policies:
  read-own:
    Version: "2012-10-17"
    Statement:
      - Effect: Allow
        Action: ["s3:ListAllMyBuckets"]
        Resource: "*"
buckets:
  - name: shared
identity:
  oidc_providers:
    - issuer: %(issuer)s
      audiences: [sts.amazonaws.com]
%(keys)s
  roles:
    - name: app
      trust_policy:
        Statement:
          - Effect: Allow
            Principal: {Federated: "arn:aws:iam::000000000000:oidc-provider/%(host_path)s"}
            Action: sts:AssumeRoleWithWebIdentity
      policies: [read-own]
"""


@pytest.fixture(scope="module")
def issuer():
    """`kura oidc init` output served over HTTPS by a certificate from a private CA (self-signed)."""
    with tempfile.TemporaryDirectory() as tmp:
        ca_key, ca = os.path.join(tmp, "ca.key"), os.path.join(tmp, "ca.crt")
        key, csr, cert = (os.path.join(tmp, n) for n in ("tls.key", "tls.csr", "tls.crt"))
        ext = os.path.join(tmp, "ext.cnf")
        with open(ext, "w") as f:
            f.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        for args in (
            ["req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "1", "-subj", "/CN=kura test CA"],
            ["req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"],
            ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert, "-days", "1",
             "-extfile", ext],
        ):
            subprocess.run(["openssl", *args], check=True, capture_output=True)
        site = os.path.join(tmp, "site")
        os.makedirs(site)
        handler = lambda *a, **kw: http.server.SimpleHTTPRequestHandler(*a, directory=site, **kw)  # noqa: E731
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        url = f"https://127.0.0.1:{server.server_address[1]}/cluster"
        subprocess.run([BINARY, "oidc", "init", "--issuer", url, "--out", os.path.join(site, "cluster")],
                       check=True, capture_output=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield {"url": url, "ca": ca, "key": os.path.join(site, "cluster", "sa-signer.key"), "tmp": tmp}
        server.shutdown()


def assume(kura, issuer, name):
    token = subprocess.run(
        [BINARY, "oidc", "token", "--key", issuer["key"], "--issuer", issuer["url"], "--aud", "sts.amazonaws.com",
         "--namespace", "default", "--service-account", "app"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    path = os.path.join(issuer["tmp"], name)
    with open(path, "w") as f:
        f.write(token)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=kura.endpoint,
        AWS_ROLE_ARN="arn:aws:iam::000000000000:role/app",
        AWS_WEB_IDENTITY_TOKEN_FILE=path,
        AWS_CONFIG_FILE=os.path.join(issuer["tmp"], "none"),
        AWS_SHARED_CREDENTIALS_FILE=os.path.join(issuer["tmp"], "none"),
    )
    script = "import boto3; print(boto3.client('sts').get_caller_identity()['Arn'])"
    return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)


@pytest.mark.parametrize("how", ["discovery", "jwks_url"])
def test_an_https_issuer_is_trusted_through_its_ca_file(issuer, how):
    host_path = issuer["url"].removeprefix("https://")
    keys = f"      jwks_url: {issuer['url']}/jwks.json\n" if how == "jwks_url" else ""
    with tempfile.TemporaryDirectory() as tmp:
        without = Kura(os.path.join(tmp, "a"), config=CONFIG % {"issuer": issuer["url"], "host_path": host_path, "keys": keys})
        try:
            refused = assume(without, issuer, f"{how}-1.token")
            assert refused.returncode != 0
            assert "IDPCommunicationError" in refused.stderr, refused.stderr
        finally:
            without.stop()
    with tempfile.TemporaryDirectory() as tmp:
        keys += f"      ca_file: {issuer['ca']}\n"
        trusted = Kura(os.path.join(tmp, "b"), config=CONFIG % {"issuer": issuer["url"], "host_path": host_path, "keys": keys})
        try:
            ok = assume(trusted, issuer, f"{how}-2.token")
            assert ok.returncode == 0, ok.stderr
            assert ok.stdout.strip().startswith("arn:aws:sts::000000000000:assumed-role/app/")
        finally:
            trusted.stop()


def curl(*args):
    out = subprocess.run(["curl", "-s", "-o", "-", "-w", "\n%{http_code}", *args], capture_output=True, text=True, check=True)
    body, _, status = out.stdout.rpartition("\n")
    return int(status), body


def test_kura_presign_and_tickets_work_with_curl(kura, bucket, tmp_path):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_REGION="us-east-1",
               AWS_ENDPOINT_URL=kura.endpoint, AWS_CONFIG_FILE=str(tmp_path / "none"))
    presign = lambda *a: subprocess.run([BINARY, "presign", *a], env=env, capture_output=True, text=True, check=True).stdout.strip()  # noqa: E731
    payload = tmp_path / "payload.txt"
    payload.write_text("curl upload")
    assert curl("-T", str(payload), presign("put", f"s3://{bucket}/curl.txt"))[0] == 200
    assert curl(presign("get", f"s3://{bucket}/curl.txt")) == (200, "curl upload")

    ticket = json.loads(presign("get", f"s3://{bucket}/curl.txt", "--ticket", "--expires", "10m"))
    assert curl(ticket["url"]) == (200, "curl upload")
    admin = lambda *a: subprocess.run([BINARY, "admin", *a], env=env, capture_output=True, text=True, check=True)  # noqa: E731
    admin("presign", "revoke", ticket["id"])
    status, body = curl(ticket["url"])
    assert status == 403 and "revoked" in body, body
