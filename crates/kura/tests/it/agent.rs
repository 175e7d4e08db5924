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
        let stderr = server.scratch("agent.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_kura"))
            .args(["agent", "--kura-url", &server.endpoint(), "--listen", "127.0.0.1:0", "--no-address-setup"])
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
