"""Workload identity with unmodified clients: seed 003's walk-through with the aws CLI (web identity from
AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE), boto3 with web identity, and boto3 with container
credentials (AWS_CONTAINER_CREDENTIALS_FULL_URI + AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE). The issuer is
made by `kura oidc init` and its tokens by `kura oidc token`, shaped like projected service-account tokens."""

import json
import os
import subprocess
import sys
import tempfile

import pytest

from conftest import Kura

BINARY = os.environ.get("KURA_BIN", "target/debug/kura")
ISSUER = "https://oidc.kura.test"

CONFIG = """
policies:
  s3-prefix-full-access-k8s-default-aws-cli:
    Version: "2012-10-17"
    Statement:
      - Effect: Allow
        Action: ["s3:*"]
        Resource: ["arn:aws:s3:::k8s-default-aws-cli-*", "arn:aws:s3:::k8s-default-aws-cli-*/*"]
      - Effect: Allow
        Action: ["s3:ListAllMyBuckets", "s3:GetBucketLocation"]
        Resource: "*"
  team-prefix:
    Version: "2012-10-17"
    Statement:
      - Effect: Allow
        Action: ["s3:GetObject", "s3:PutObject"]
        Resource: ["arn:aws:s3:::teams/${k8s:namespace}/*"]
buckets:
  - name: teams
identity:
  oidc_providers:
    - issuer: %(issuer)s
      audiences: [sts.amazonaws.com]
      jwks_file: %(jwks)s
  roles:
    - name: k8s_default_aws-cli
      trust_policy:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {Federated: "arn:aws:iam::000000000000:oidc-provider/oidc.kura.test"}
            Action: sts:AssumeRoleWithWebIdentity
            Condition:
              StringLike:
                "oidc.kura.test:sub": "system:serviceaccount:default:aws-cli"
                "oidc.kura.test:aud": "sts.amazonaws.com"
      policies: [s3-prefix-full-access-k8s-default-aws-cli]
    - name: team
      trust_policy:
        Statement:
          - Effect: Deny
            Principal: "*"
            Action: "*"
      policies: [team-prefix]
  pod_identity:
    associations:
      - {namespace: team-a, service_account: app, role: team}
      - {namespace: team-b, service_account: app, role: team}
"""


@pytest.fixture(scope="module")
def identity():
    with tempfile.TemporaryDirectory() as tmp:
        oidc = os.path.join(tmp, "oidc")
        subprocess.run([BINARY, "oidc", "init", "--issuer", ISSUER, "--out", oidc], check=True, capture_output=True)
        config = CONFIG % {"issuer": ISSUER, "jwks": os.path.join(oidc, "jwks.json")}
        server = Kura(os.path.join(tmp, "data"), config=config)
        server.tmp = tmp
        server.key = os.path.join(oidc, "sa-signer.key")
        yield server
        server.stop()


def token_file(identity, name, namespace, service_account, aud="sts.amazonaws.com"):
    """Mints a projected-token-shaped JWT with `kura oidc token` and writes it to a file."""
    out = subprocess.run(
        [BINARY, "oidc", "token", "--key", identity.key, "--issuer", ISSUER, "--aud", aud,
         "--namespace", namespace, "--service-account", service_account, "--pod", f"{service_account}-pod"],
        check=True, capture_output=True, text=True,
    )
    path = os.path.join(identity.tmp, name)
    with open(path, "w") as f:
        f.write(out.stdout.strip())
    return path


def workload_env(identity, **extra):
    """The environment of a pod: no static keys, only what the SDKs read by themselves."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=identity.endpoint,
        AWS_ENDPOINT_URL_STS=identity.endpoint,
        AWS_CONFIG_FILE=os.path.join(identity.tmp, "no-config"),
        AWS_SHARED_CREDENTIALS_FILE=os.path.join(identity.tmp, "no-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        **extra,
    )
    return env


def aws(env, *args):
    return subprocess.run(["aws", *args], env=env, capture_output=True, text=True)


def test_seed_003_walkthrough_with_the_aws_cli(identity):
    env = workload_env(
        identity,
        AWS_ROLE_ARN="arn:aws:iam::000000000000:role/k8s_default_aws-cli",
        AWS_WEB_IDENTITY_TOKEN_FILE=token_file(identity, "aws-cli.token", "default", "aws-cli"),
        AWS_ROLE_SESSION_NAME="k8s-demo",
    )
    who = aws(env, "sts", "get-caller-identity")
    assert who.returncode == 0, who.stderr
    assert json.loads(who.stdout)["Arn"] == "arn:aws:sts::000000000000:assumed-role/k8s_default_aws-cli/k8s-demo"

    made = aws(env, "s3", "mb", "s3://k8s-default-aws-cli-demo")
    assert made.returncode == 0, made.stderr
    refused = aws(env, "s3", "mb", "s3://k9s-default-aws-cli-demo")
    assert refused.returncode != 0
    assert "AccessDenied" in refused.stderr
    assert "assumed-role/k8s_default_aws-cli/k8s-demo is not authorized to perform: s3:CreateBucket" in refused.stderr

    # A pod of another service account is refused by the trust policy.
    other = dict(env, AWS_WEB_IDENTITY_TOKEN_FILE=token_file(identity, "other.token", "default", "other"))
    denied = aws(other, "sts", "get-caller-identity")
    assert denied.returncode != 0
    assert "AccessDenied" in denied.stderr

    # A token minted for the kube-apiserver's own audience is refused.
    apiserver = dict(
        env,
        AWS_WEB_IDENTITY_TOKEN_FILE=token_file(
            identity, "apiserver.token", "default", "aws-cli", aud="https://kubernetes.default.svc"
        ),
    )
    wrong_aud = aws(apiserver, "sts", "get-caller-identity")
    assert wrong_aud.returncode != 0
    assert "InvalidIdentityToken" in wrong_aud.stderr


SCRIPT = """
import boto3, botocore.exceptions, sys
s3 = boto3.client("s3")
bucket, own, other_bucket, other = sys.argv[1:5]
s3.put_object(Bucket=bucket, Key=own, Body=b"hello")
assert s3.get_object(Bucket=bucket, Key=own)["Body"].read() == b"hello"
try:
    s3.put_object(Bucket=other_bucket, Key=other, Body=b"x")
    print("UNEXPECTED: write outside the prefix succeeded")
    sys.exit(1)
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "AccessDenied", e.response
print(boto3.client("sts").get_caller_identity()["Arn"])
"""


def run_boto3(env, *args):
    return subprocess.run([sys.executable, "-c", SCRIPT, *args], env=env, capture_output=True, text=True)


def test_boto3_with_web_identity(identity):
    env = workload_env(
        identity,
        AWS_ROLE_ARN="arn:aws:iam::000000000000:role/k8s_default_aws-cli",
        AWS_WEB_IDENTITY_TOKEN_FILE=token_file(identity, "boto3.token", "default", "aws-cli"),
        AWS_ROLE_SESSION_NAME="boto3-demo",
    )
    made = aws(env, "s3", "mb", "s3://k8s-default-aws-cli-boto3")
    assert made.returncode == 0, made.stderr
    out = run_boto3(env, "k8s-default-aws-cli-boto3", "k.txt", "teams", "x")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "assumed-role/k8s_default_aws-cli/boto3-demo" in out.stdout


def test_boto3_with_container_credentials_and_one_policy_for_two_namespaces(identity):
    for namespace, other in [("team-a", "team-b"), ("team-b", "team-a")]:
        env = workload_env(
            identity,
            AWS_CONTAINER_CREDENTIALS_FULL_URI=identity.endpoint + "/kura/v1/credentials",
            AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=token_file(identity, f"{namespace}.token", namespace, "app", aud="kura"),
        )
        out = run_boto3(env, "teams", f"{namespace}/report.txt", "teams", f"{other}/report.txt")
        assert out.returncode == 0, out.stdout + out.stderr
        assert "assumed-role/team/app-pod" in out.stdout
