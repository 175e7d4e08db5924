//! Emptied configuration files (issue 12, item 11): a 0-byte kura.yaml (a ConfigMap mid-update) or a file
//! that drops every user, role and named policy must not lock every client out on reload, unless the
//! file says `allow_empty: true`.

use crate::harness::{TestServer, code};

const CONFIG: &str = "users:\n  - access_key: keeper\n    secret_key: keeper-secret-0123\n    policies: [readwrite]\n";

#[tokio::test]
async fn an_emptied_config_file_is_refused_on_reload() {
    let server = TestServer::start_with_config_logged(CONFIG);
    let keeper = server.client_with("keeper", "keeper-secret-0123");
    keeper.list_buckets().send().await.expect("keeper works");
    let file = server.config().display().to_string();

    // Truncated to 0 bytes.
    std::fs::write(server.config(), "").expect("truncate");
    server.hangup();
    let line = server.wait_for_log(&["configuration refused", "the file is empty"]).await;
    assert!(line.contains(&file), "the log line names the file: {line}");
    keeper.list_buckets().send().await.expect("the previous configuration keeps serving");

    // A valid file that removes every user, role and policy.
    std::fs::write(server.config(), "server:\n  region: us-east-1\n").expect("write");
    server.hangup();
    let line = server.wait_for_log(&["configuration refused", "would remove every user"]).await;
    assert!(line.contains(&file), "the log line names the file: {line}");
    keeper.list_buckets().send().await.expect("the previous configuration keeps serving");

    // Said explicitly, it is applied.
    std::fs::write(server.config(), "allow_empty: true\n").expect("write");
    server.hangup();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match keeper.list_buckets().send().await {
            Err(e) => {
                assert_eq!(code(&e), "InvalidAccessKeyId");
                break;
            }
            Ok(_) => assert!(std::time::Instant::now() < deadline, "allow_empty: true was not applied in 10 s"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
