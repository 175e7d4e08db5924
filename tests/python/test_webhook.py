"""The mutating webhook with boto3: an AdmissionReview shaped as kube-apiserver sends it, the returned
JSON Patch applied to the pod, then boto3 run in a fresh process with exactly the environment the mutated
pod's container has (the projected token written where its volume would put it, under a temporary root:
the one path this test relocates). No static key anywhere."""

import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

from conftest import Kura

BINARY = os.environ.get("KURA_BIN", "target/debug/kura")
ISSUER = "https://oidc.kura.test"

CONFIG = """
server:
  region: us-east-1
webhook:
  endpoint_url: %(endpoint)s
policies:
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
    - name: app
      trust_policy:
        Statement:
          - Effect: Allow
            Principal: {Federated: "arn:aws:iam::000000000000:oidc-provider/oidc.kura.test"}
            Action: sts:AssumeRoleWithWebIdentity
            Condition:
              StringEquals: {"oidc.kura.test:sub": "system:serviceaccount:apps:reporter"}
      policies: [team-prefix]
  web_identity:
    associations:
      - {namespace: apps, service_account: reporter, role: app}
"""

BOTO3_IN_THE_POD = """
import boto3, sys
s3 = boto3.client("s3")
s3.put_object(Bucket="teams", Key="apps/from-boto3.txt", Body=b"mutated")
assert s3.get_object(Bucket="teams", Key="apps/from-boto3.txt")["Body"].read() == b"mutated"
try:
    s3.put_object(Bucket="teams", Key="other/x", Body=b"x")
    sys.exit("a key outside the namespace's prefix was written")
except s3.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "AccessDenied", e.response
print(boto3.client("sts").get_caller_identity()["Arn"])
"""


def review(namespace, pod):
    return {
        "kind": "AdmissionReview",
        "apiVersion": "admission.k8s.io/v1",
        "request": {
            "uid": "0df28fbd-5f5f-11e8-bc74-36e6bb280816",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": namespace,
            "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "object": pod,
            "oldObject": None,
            "dryRun": False,
        },
    }


def apply_patch(doc, ops):
    """RFC 6902 `add` (the only operation kura's patches use), with RFC 6901 pointers."""
    for op in ops:
        assert op["op"] == "add", op
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent = doc
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        last = parts[-1]
        if isinstance(parent, list):
            parent.insert(len(parent) if last == "-" else int(last), op["value"])
        else:
            parent[last] = op["value"]
    return doc


def mutate(server, pod):
    body = json.dumps(review("apps", pod)).encode()
    req = urllib.request.Request(server.endpoint + "/kura/v1/webhook/pods", data=body, method="POST")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req) as resp:
        answer = json.load(resp)["response"]
    assert answer["allowed"] is True, answer
    assert answer["patchType"] == "JSONPatch"
    return apply_patch(json.loads(json.dumps(pod)), json.loads(base64.b64decode(answer["patch"])))


@pytest.fixture
def server():
    with tempfile.TemporaryDirectory() as tmp:
        oidc = os.path.join(tmp, "oidc")
        subprocess.run([BINARY, "oidc", "init", "--issuer", ISSUER, "--out", oidc], check=True, capture_output=True)
        values = {"issuer": ISSUER, "jwks": os.path.join(oidc, "jwks.json"), "endpoint": "http://kura.invalid:9000"}
        kura = Kura(os.path.join(tmp, "data"), config=CONFIG % values)
        # The port is known only now: point the webhook at it, as a ConfigMap edit would, and reload.
        with open(os.path.join(tmp, "kura.yaml"), "w") as f:
            f.write(CONFIG % dict(values, endpoint=kura.endpoint))
        kura.proc.send_signal(signal.SIGHUP)
        kura.tmp, kura.key = tmp, os.path.join(oidc, "sa-signer.key")
        yield kura
        kura.stop()


def test_boto3_with_exactly_the_mutated_pods_environment_writes_its_prefix(server):
    pod = {
        "metadata": {"generateName": "reporter-"},
        "spec": {"serviceAccountName": "reporter", "containers": [{"name": "app", "image": "python:3.11"}]},
    }
    deadline = time.monotonic() + 10
    while True:  # until the reload has reached the webhook
        mutated = mutate(server, pod)
        env = {e["name"]: e["value"] for e in mutated["spec"]["containers"][0]["env"]}
        if env.get("AWS_ENDPOINT_URL_S3") == server.endpoint:
            break
        assert time.monotonic() < deadline, f"the webhook still injects {env.get('AWS_ENDPOINT_URL_S3')}"
        time.sleep(0.05)
    assert env["AWS_ROLE_ARN"] == "arn:aws:iam::000000000000:role/app"
    assert env["AWS_ENDPOINT_URL_STS"] == server.endpoint
    mount = next(m for m in mutated["spec"]["containers"][0]["volumeMounts"] if m["name"] == "aws-iam-token")
    assert env["AWS_WEB_IDENTITY_TOKEN_FILE"].startswith(mount["mountPath"] + "/")
    volume = next(v for v in mutated["spec"]["volumes"] if v["name"] == "aws-iam-token")
    projected = volume["projected"]["sources"][0]["serviceAccountToken"]
    assert projected["audience"] == "sts.amazonaws.com"

    # The kubelet's part: a token for the pod's service account, at the path the volume gives it.
    token = subprocess.run(
        [BINARY, "oidc", "token", "--key", server.key, "--issuer", ISSUER, "--aud", projected["audience"],
         "--namespace", "apps", "--service-account", "reporter", "--pod", "reporter-1"],
        check=True, capture_output=True, text=True,
    ).stdout
    pod_root = os.path.join(server.tmp, "pod-root")
    token_path = pod_root + env["AWS_WEB_IDENTITY_TOKEN_FILE"]
    os.makedirs(os.path.dirname(token_path))
    with open(token_path, "w") as f:
        f.write(token)

    pod_env = dict(env, AWS_WEB_IDENTITY_TOKEN_FILE=token_path, PATH=os.environ["PATH"],
                   AWS_CONFIG_FILE=os.path.join(pod_root, "none"),
                   AWS_SHARED_CREDENTIALS_FILE=os.path.join(pod_root, "none"), AWS_EC2_METADATA_DISABLED="true")
    assert not any(k in pod_env for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"))
    ran = subprocess.run([sys.executable, "-c", BOTO3_IN_THE_POD], env=pod_env, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip().startswith("arn:aws:sts::000000000000:assumed-role/app/")
