"""`kura agent` on a node, with boto3: inside a network namespace standing for the node, kura listens on
the namespace's loopback, the agent puts EKS's address 169.254.170.23 on an interface and listens there on
port 80, and boto3, given only EKS's two variables, gets its session through the agent. Needs root or
passwordless sudo (for `ip netns`)."""

import os
import subprocess
import sys
import tempfile

import pytest

from test_identity import BINARY, CONFIG, ISSUER, SCRIPT

NETNS = f"kura-agent-py-{os.getpid()}"


IP = ["ip"] if os.geteuid() == 0 else ["sudo", "-n", "ip"]


def in_node(*args):
    return [*IP, "netns", "exec", NETNS, *args]


def start(args, prefix, env):
    proc = subprocess.Popen(in_node(*args), stdout=subprocess.PIPE, env=env, text=True)
    for line in proc.stdout:
        if line.startswith(prefix):
            return proc, line[len(prefix):].strip()
    raise RuntimeError(f"{args[0]} exited before {prefix!r}")


@pytest.fixture
def node():
    subprocess.run([*IP, "netns", "del", NETNS], capture_output=True)
    subprocess.run([*IP, "netns", "add", NETNS], check=True)
    subprocess.run(in_node("ip", "link", "set", "lo", "up"), check=True)
    procs = []
    yield procs
    for proc in procs:
        proc.kill()
        proc.wait()
    subprocess.run([*IP, "netns", "del", NETNS], check=True)


def test_boto3_gets_pod_credentials_through_the_agent_at_eks_address(node):
    with tempfile.TemporaryDirectory() as tmp:
        oidc = os.path.join(tmp, "oidc")
        subprocess.run([BINARY, "oidc", "init", "--issuer", ISSUER, "--out", oidc], check=True, capture_output=True)
        config = os.path.join(tmp, "kura.yaml")
        with open(config, "w") as f:
            f.write(CONFIG % {"issuer": ISSUER, "jwks": os.path.join(oidc, "jwks.json")})
        env = dict(os.environ, KURA_ROOT_ACCESS_KEY="kuraagentadmin", KURA_ROOT_SECRET_KEY="kuraagentsecret-0123456789",
                   KURA_LOG="warn")
        server, endpoint = start([BINARY, "server", "--address", "127.0.0.1:0", "--data", os.path.join(tmp, "data"),
                                  "--config", config], "kura: listening on ", env)
        node.append(server)
        agent, address = start([BINARY, "agent", "--kura-url", endpoint], "kura agent: listening on ", env)
        node.append(agent)
        assert address == "http://169.254.170.23:80"

        token = subprocess.run(
            [BINARY, "oidc", "token", "--key", os.path.join(oidc, "sa-signer.key"), "--issuer", ISSUER, "--aud", "kura",
             "--namespace", "team-a", "--service-account", "app", "--pod", "app-pod"],
            check=True, capture_output=True, text=True,
        ).stdout
        token_file = os.path.join(tmp, "eks-pod-identity-token")
        with open(token_file, "w") as f:
            f.write(token.strip())
        pod = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        pod.update(
            AWS_CONTAINER_CREDENTIALS_FULL_URI="http://169.254.170.23/v1/credentials",
            AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=token_file,
            AWS_REGION="us-east-1",
            AWS_DEFAULT_REGION="us-east-1",
            AWS_ENDPOINT_URL=endpoint,
            AWS_ENDPOINT_URL_STS=endpoint,
            AWS_CONFIG_FILE=os.path.join(tmp, "no-config"),
            AWS_SHARED_CREDENTIALS_FILE=os.path.join(tmp, "no-credentials"),
            AWS_EC2_METADATA_DISABLED="true",
        )
        out = subprocess.run(in_node(sys.executable, "-c", SCRIPT, "teams", "team-a/via-agent.txt", "teams",
                                     "team-b/via-agent.txt"), env=pod, capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "assumed-role/team/app-pod" in out.stdout
