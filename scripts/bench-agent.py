"""Measures `kura agent`: credential fetches per second through the agent, cached (one token, repeated)
and uncached (a new token each time), and against kura's own endpoint directly; 4 client threads on
loopback. Usage: .venv/bin/python scripts/bench-agent.py target/release/kura   (a Python client: the
figures are lower bounds, the client is the limit for the cached case)."""
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

KURA = sys.argv[1]
ISSUER = "https://oidc.kura.test"
tmp = tempfile.mkdtemp()
oidc = os.path.join(tmp, "oidc")
subprocess.run([KURA, "oidc", "init", "--issuer", ISSUER, "--out", oidc], check=True, capture_output=True)
cfg = f"""
identity:
  oidc_providers:
    - issuer: {ISSUER}
      audiences: [sts.amazonaws.com]
      jwks_file: {oidc}/jwks.json
  roles:
    - name: team
      trust_policy:
        Statement:
          - Effect: Deny
            Principal: "*"
            Action: "*"
  pod_identity:
    associations:
      - {{namespace: bench, service_account: app, role: team}}
"""
open(os.path.join(tmp, "kura.yaml"), "w").write(cfg)
env = dict(os.environ, KURA_ROOT_ACCESS_KEY="benchadmin", KURA_ROOT_SECRET_KEY="benchsecret-0123456789", KURA_LOG="warn")
server = subprocess.Popen([KURA, "server", "--address", "127.0.0.1:0", "--data", os.path.join(tmp, "data"), "--config", os.path.join(tmp, "kura.yaml")], stdout=subprocess.PIPE, text=True, env=env)
endpoint = next(l for l in server.stdout if l.startswith("kura: listening on ")).split("on ", 1)[1].strip()
agent = subprocess.Popen([KURA, "agent", "--kura-url", endpoint, "--listen", "127.0.0.1:0", "--no-address-setup"], stdout=subprocess.PIPE, text=True, env=env)
agent_url = next(l for l in agent.stdout if l.startswith("kura agent: listening on ")).split("on ", 1)[1].strip()

def token(i):
    return subprocess.run([KURA, "oidc", "token", "--key", f"{oidc}/sa-signer.key", "--issuer", ISSUER, "--aud", "kura",
                           "--namespace", "bench", "--service-account", "app", "--pod", f"pod-{i}"],
                          check=True, capture_output=True, text=True).stdout.strip()

N_TOKENS = 400
tokens = [token(i) for i in range(N_TOKENS)]

def fetch_all(url, path, toks, threads=4):
    host, port = url.replace("http://", "").rsplit(":", 1)
    chunks = [toks[i::threads] for i in range(threads)]
    errors = []
    def work(chunk):
        c = http.client.HTTPConnection(host, int(port))
        for t in chunk:
            c.request("GET", path, headers={"Authorization": t})
            r = c.getresponse(); body = r.read()
            if r.status != 200: errors.append((r.status, body[:100]))
    ts = [threading.Thread(target=work, args=(ch,)) for ch in chunks]
    start = time.perf_counter()
    for t in ts: t.start()
    for t in ts: t.join()
    return len(toks) / (time.perf_counter() - start), errors

direct, e1 = fetch_all(endpoint, "/kura/v1/credentials", tokens[:200])
uncached, e2 = fetch_all(agent_url, "/v1/credentials", tokens[200:])
cached, e3 = fetch_all(agent_url, "/v1/credentials", [tokens[200]] * 4000)
print(json.dumps({"kura_direct_per_s": round(direct), "agent_uncached_per_s": round(uncached), "agent_cached_per_s": round(cached), "errors": len(e1 + e2 + e3), "first_error": (e1 + e2 + e3)[:1]}, default=str))
server.kill(); agent.kill()
