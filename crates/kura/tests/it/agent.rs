//! `kura agent`, the node-local credentials agent, between the AWS SDKs and kura: the SDK's own
//! container-credentials provider gets a session through it; answers are kept per token until shortly
//! before they expire (a restarted or unreachable kura does not break pods that already have
//! credentials); kura's refusals reach the SDK as kura gave them; tokens never appear in its output.

use crate::harness::TestServer;
use crate::identity::config;
use crate::issuer::FakeIssuer;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A running `kura agent` on a loopback port (loopback needs no address setup).
struct AgentProcess {
    child: Child,
    url: String,
    stderr: std::path::PathBuf,
}

impl AgentProcess {
    fn start(server: &TestServer) -> Self {
        Self::start_with(server, &[])
    }

    fn start_with(server: &TestServer, extra: &[&str]) -> Self {
        let stderr = server.scratch("agent.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_kura"))
            .args(["agent", "--kura-url", &server.endpoint(), "--listen", "127.0.0.1:0", "--no-address-setup"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("log file"))
            .spawn()
            .expect("run kura agent");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("the agent says where it listens");
        let address = line.trim().strip_prefix("kura agent: listening on ").expect("listening line").to_owned();
        Self { child, url: format!("{address}/v1/credentials"), stderr }
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn ask(url: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.header("authorization", token);
    }
    let resp = request.send().await.expect("agent answers");
    let status = resp.status().as_u16();
    (status, serde_json::from_str(&resp.text().await.expect("body")).expect("JSON"))
}

/// The AWS SDK for Rust (inside the `kura` CLI), given only the two variables a pod has on EKS, gets a
/// session through the agent and uses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_gets_pod_credentials_through_the_agent() {
    let issuer = FakeIssuer::start().await;
    let server = TestServer::start_with_config(&config(&issuer, ""));
    let agent = AgentProcess::start(&server);
    let token_file = server.scratch("pod.token");
    std::fs::write(&token_file, issuer.key(1).sign(&issuer.claims("alpha", "app", &["kura"]))).expect("token");
    let pod = [
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", agent.url.as_str()),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token_file.to_str().expect("path")),
    ];
    let (ok, out, err) = server.cli_env(&pod, &["presign", "put", "s3://teams/alpha/through-agent.txt", "--ticket"]);
    assert!(ok, "{err}");
    let ticket: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert!(ticket["url"].as_str().is_some_and(|u| u.contains("through-agent.txt")), "{ticket}");
    // The session's role policy still decides: another namespace's prefix is refused.
    let (ok, _, err) = server.cli_env(&pod, &["presign", "put", "s3://teams/beta/x.txt", "--ticket"]);
    assert!(!ok && err.contains("AccessDenied"), "{err}");
}

/// Answers are kept per token; kura's refusals pass through unchanged; with kura gone, a pod that has
/// credentials keeps them and a new token gets a retryable 503; the token is never logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_keeps_answers_relays_refusals_and_logs_no_token() {
    let issuer = FakeIssuer::start().await;
    let mut server = TestServer::start_with_config(&config(&issuer, ""));
    let agent = AgentProcess::start(&server);
    let good = issuer.key(1).sign(&issuer.claims("alpha", "app", &["kura"]));
    let (status, first) = ask(&agent.url, Some(&good)).await;
    assert_eq!(status, 200, "{first}");
    assert!(first["AccessKeyId"].as_str().is_some_and(|k| k.starts_with("ASIA")), "{first}");
    assert!(first["Token"].is_string() && first["Expiration"].is_string(), "{first}");

    // A token for another audience: the agent answers exactly what kura answers.
    let wrong_audience = issuer.key(1).sign(&issuer.claims("alpha", "app", &["sts.amazonaws.com"]));
    let direct = format!("{}/kura/v1/credentials", server.endpoint());
    let (kura_status, kura_body) = ask(&direct, Some(&wrong_audience)).await;
    assert!(kura_status >= 400, "kura refuses it: {kura_body}");
    assert_eq!(ask(&agent.url, Some(&wrong_audience)).await, (kura_status, kura_body));
    let (status, body) = ask(&agent.url, None).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("MissingAuthenticationToken")));

    // kura goes away: the kept answer is still served, byte for byte; an unknown token is a 503.
    server.kill();
    assert_eq!(ask(&agent.url, Some(&good)).await, (200, first));
    let other = issuer.key(1).sign(&issuer.claims("alpha", "other", &["kura"]));
    let (status, body) = ask(&agent.url, Some(&other)).await;
    assert_eq!((status, body["code"].as_str()), (503, Some("ServiceUnavailable")), "{body}");

    let log = std::fs::read_to_string(&agent.stderr).expect("agent log");
    for token in [&good, &wrong_audience, &other] {
        let signature = token.rsplit('.').next().expect("jwt");
        assert!(!log.contains(signature), "a token reached the agent's log: {log}");
    }
}

/// With kura on HTTPS (as in a cluster), the agent trusts kura's CA from a file: with it, pods get
/// credentials; with another CA, the agent refuses kura's certificate and answers a retryable 503; an
/// https:// URL without a CA file is refused at start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_asks_kura_over_https_trusting_its_ca_file() {
    let issuer = FakeIssuer::start().await;
    let pki = crate::tls::Pki::new();
    let pair = pki.issue("kura", 1);
    let dir = tempfile::tempdir().expect("tempdir");
    crate::tls::install(dir.path(), &pair);
    let tls = format!(
        "  tls:\n    cert_file: {}\n    key_file: {}",
        dir.path().join("tls.crt").display(),
        dir.path().join("tls.key").display()
    );
    let server = TestServer::start_with_config(&config(&issuer, &tls));
    assert!(server.endpoint().starts_with("https://"), "{}", server.endpoint());
    let token = issuer.key(1).sign(&issuer.claims("alpha", "app", &["kura"]));

    let agent = AgentProcess::start_with(&server, &["--ca-file", &pki.path("ca.crt")]);
    let (status, body) = ask(&agent.url, Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["AccessKeyId"].as_str().is_some_and(|k| k.starts_with("ASIA")), "{body}");

    let stranger = crate::tls::Pki::new();
    let distrusting = AgentProcess::start_with(&server, &["--ca-file", &stranger.path("ca.crt")]);
    let (status, body) = ask(&distrusting.url, Some(&token)).await;
    assert_eq!((status, body["code"].as_str()), (503, Some("ServiceUnavailable")), "{body}");

    let out = Command::new(env!("CARGO_BIN_EXE_kura"))
        .args(["agent", "--kura-url", &server.endpoint(), "--listen", "127.0.0.1:0", "--no-address-setup"])
        .output()
        .expect("run kura agent");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs --ca-file"), "{out:?}");
}

/// A process started inside a network namespace, killed with it.
struct InNamespace(Child);

impl Drop for InNamespace {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A network namespace standing for a node, deleted when the test ends.
struct Node {
    name: String,
}

/// `ip …`, through `sudo -n` when the tests do not run as root (network namespaces need CAP_SYS_ADMIN).
fn ip() -> Command {
    let uid = Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    if uid.is_ok_and(|u| u == "0") {
        Command::new("ip")
    } else {
        let mut sudo = Command::new("sudo");
        sudo.args(["-n", "ip"]);
        sudo
    }
}

impl Node {
    fn new() -> Self {
        let name = format!("kura-agent-{}", std::process::id());
        let _ = ip().args(["netns", "del", &name]).stderr(Stdio::null()).status();
        let status = ip().args(["netns", "add", &name]).status().expect("run ip");
        assert!(status.success(), "`ip netns add` needs root or passwordless sudo (CAP_SYS_ADMIN)");
        let node = Self { name };
        assert!(node.command("ip", &["link", "set", "lo", "up"]).status().expect("ip").success());
        node
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut command = ip();
        command.args(["netns", "exec", &self.name, program]).args(args);
        command
    }

    /// Starts `program` in the namespace and returns it with the first stdout line starting with `prefix`.
    fn start(&self, command: Command, prefix: &str) -> (InNamespace, String) {
        let (child, mut found) = self.start_lines(command, prefix, 1);
        (child, found.remove(0))
    }

    /// Starts `program` in the namespace and returns it once it has printed `count` stdout lines
    /// starting with `prefix` (their rests), e.g. one per address it listens on.
    fn start_lines(&self, mut command: Command, prefix: &str, count: usize) -> (InNamespace, Vec<String>) {
        let mut child = command.stdout(Stdio::piped()).spawn().expect("start in the namespace");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut found = Vec::new();
        while found.len() < count {
            let line = lines.next().expect("exited before it was ready").expect("read stdout");
            if let Some(rest) = line.strip_prefix(prefix) {
                found.push(rest.trim().to_owned());
            }
        }
        std::thread::spawn(move || for _ in lines {});
        (InNamespace(child), found)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = ip().args(["netns", "del", &self.name]).status();
    }
}

/// As on a node: inside a network namespace, the agent puts 169.254.170.23 on a dummy interface and
/// listens there on port 80, and the AWS SDK for Rust, given only EKS's two variables, gets a session
/// through it from kura (on the namespace's loopback).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_node_the_sdk_reaches_the_agent_at_eks_address() {
    let issuer = FakeIssuer::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    // kura in the namespace cannot reach the issuer on the host's loopback: give it the keys as a file.
    let jwks = reqwest::get(format!("{}/openid/v1/jwks", issuer.url)).await.expect("jwks").text().await.expect("body");
    let jwks_file = dir.path().join("jwks.json");
    std::fs::write(&jwks_file, jwks).expect("write jwks");
    let yaml = config(&issuer, "").replacen(
        "      audiences: [sts.amazonaws.com]",
        &format!("      audiences: [sts.amazonaws.com]\n      jwks_file: {}", jwks_file.display()),
        1,
    );
    let config_file = dir.path().join("kura.yaml");
    std::fs::write(&config_file, yaml).expect("write config");
    let token_file = dir.path().join("pod.token");
    std::fs::write(&token_file, issuer.key(1).sign(&issuer.claims("alpha", "app", &["kura"]))).expect("token");
    let kura = env!("CARGO_BIN_EXE_kura");

    let node = Node::new();
    let mut server = node.command(kura, &["server", "--address", "127.0.0.1:0", "--config"]);
    server
        .arg(&config_file)
        .arg("--data")
        .arg(dir.path().join("data"))
        .env("KURA_ROOT_ACCESS_KEY", crate::harness::ACCESS_KEY)
        .env("KURA_ROOT_SECRET_KEY", crate::harness::SECRET_KEY)
        .env("KURA_LOG", "warn");
    let (_server, endpoint) = node.start(server, "kura: listening on ");
    let mut agent = node.command(kura, &["agent", "--kura-url", &endpoint, "--ipv6"]);
    agent.env("KURA_LOG", "warn");
    // Wait for both listeners: the IPv6 one is bound after the IPv4 one is announced.
    let (_agent, agent_addresses) = node.start_lines(agent, "kura agent: listening on ", 2);
    assert_eq!(agent_addresses, ["http://169.254.170.23:80", "http://[fd00:ec2::23]:80"]);
    // And EKS's IPv6 address, for IPv6 clusters.
    let token = std::fs::read_to_string(&token_file).expect("token");
    let v6 = node
        .command(
            "curl",
            &["-sS", "-g", "-H", &format!("Authorization: {token}"), "http://[fd00:ec2::23]/v1/credentials"],
        )
        .output()
        .expect("curl in the namespace");
    let v6: serde_json::Value = serde_json::from_slice(&v6.stdout).expect("JSON over IPv6");
    assert!(v6["AccessKeyId"].as_str().is_some_and(|k| k.starts_with("ASIA")), "{v6}");

    let mut sdk = node.command(kura, &["presign", "put", "s3://teams/alpha/on-a-node.txt", "--ticket"]);
    sdk.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://169.254.170.23/v1/credentials")
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", &token_file)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    let out = sdk.output().expect("run the SDK in the namespace");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let ticket: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(ticket["url"].as_str().is_some_and(|u| u.contains("on-a-node.txt")), "{ticket}");
    // The agent's address is on one of the node's interfaces (its dummy interface, or lo where the kernel
    // has none), inside the node only.
    let addresses = node.command("ip", &["-4", "addr", "show"]).output().expect("ip addr");
    assert!(String::from_utf8_lossy(&addresses.stdout).contains("169.254.170.23/32"));
    let host = ip().args(["-4", "addr", "show"]).output().expect("ip addr");
    assert!(!String::from_utf8_lossy(&host.stdout).contains("169.254.170.23"), "the host is untouched");
}

/// Hostile `Authorization` headers get from the agent exactly what kura itself answers: an oversized
/// token (refused by kura, not cached), and two tokens (refused by both, in either order, so the agent
/// cannot be made to cache one token's credentials under another).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_tokens_get_kuras_own_answer_through_the_agent() {
    let issuer = FakeIssuer::start().await;
    let server = TestServer::start_with_config(&config(&issuer, ""));
    let agent = AgentProcess::start(&server);
    let direct = format!("{}/kura/v1/credentials", server.endpoint());
    let oversized = "e".repeat(100 * 1024);
    let (status, body) = ask(&direct, Some(&oversized)).await;
    assert!(status >= 400, "kura refuses it: {body}");
    assert_eq!(ask(&agent.url, Some(&oversized)).await, (status, body.clone()));
    assert_eq!(ask(&agent.url, Some(&oversized)).await, (status, body), "a refusal is not kept");

    let good = issuer.key(1).sign(&issuer.claims("alpha", "app", &["kura"]));
    let forged = issuer.key(1).sign(&issuer.claims("alpha", "app", &["sts.amazonaws.com"]));
    let two = |url: String, first: String, second: String| async move {
        let resp = reqwest::Client::new()
            .get(url)
            .header("authorization", first)
            .header("authorization", second)
            .send()
            .await
            .expect("answer");
        let status = resp.status().as_u16();
        let body: serde_json::Value = serde_json::from_str(&resp.text().await.expect("body")).expect("JSON");
        (status, body["code"].clone(), body["AccessKeyId"].is_string())
    };
    for (first, second) in [(&forged, &good), (&good, &forged)] {
        let from_kura = two(direct.clone(), first.clone(), second.clone()).await;
        let from_agent = two(agent.url.clone(), first.clone(), second.clone()).await;
        assert_eq!((from_kura.0, from_kura.1.as_str(), from_kura.2), (400, Some("InvalidRequest"), false));
        assert_eq!((from_agent.0, &from_agent.1, from_agent.2), (from_kura.0, &from_kura.1, from_kura.2));
    }
    // Nothing was cached for either pair: the forged token alone is refused, the good one alone served.
    let (status, _) = ask(&agent.url, Some(&forged)).await;
    assert!(status >= 400);
    let (status, body) = ask(&agent.url, Some(&good)).await;
    assert_eq!(status, 200, "{body}");
}
