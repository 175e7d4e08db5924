//! The built-in key service through the real binary: the config file's `kms:` section, `kura admin kms`
//! (create, list, describe, disable, deletion, aliases; root only), reloads that drop a key (kept), and
//! a restart on the same data (keys, states and the `alias/aws/s3` key survive).

use crate::harness::{ACCESS_KEY, SECRET_KEY, TestServer};
use serde_json::Value;

const CONFIG: &str = "users:
  - access_key: dave
    secret_key: dave-secret-0123
    policies: [admin]
kms:
  keys:
    - id: gitlab
      description: GitLab buckets
      aliases: [alias/gitlab]
";

async fn kura(server: &TestServer, access: &str, secret: &str, args: &[&str]) -> (bool, String, String) {
    let (endpoint, access, secret) = (server.endpoint(), access.to_owned(), secret.to_owned());
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || crate::harness::run_cli(&endpoint, &access, &secret, &args))
        .await
        .expect("join")
}

/// `kura admin kms ARGS…` as root; panics unless it succeeds; the JSON it prints.
pub(crate) async fn admin(server: &TestServer, args: &[&str]) -> Value {
    let mut all = vec!["admin", "kms"];
    all.extend_from_slice(args);
    let (ok, out, err) = kura(server, ACCESS_KEY, SECRET_KEY, &all).await;
    assert!(ok, "kura admin kms {args:?}: {err}");
    if out.trim().is_empty() { Value::Null } else { serde_json::from_str(&out).expect("JSON") }
}

/// `kura admin kms ARGS…` as root that must fail; its stderr.
async fn admin_fails(server: &TestServer, args: &[&str]) -> String {
    let mut all = vec!["admin", "kms"];
    all.extend_from_slice(args);
    let (ok, out, err) = kura(server, ACCESS_KEY, SECRET_KEY, &all).await;
    assert!(!ok, "kura admin kms {args:?} succeeded: {out}");
    err
}

/// Every key, by its first alias or id, with its state.
async fn keys(server: &TestServer) -> Vec<(String, String, String)> {
    let list = admin(server, &["list"]).await;
    let mut keys: Vec<(String, String, String)> = list["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| {
            let alias = k["aliases"].as_array().and_then(|a| a.first()).and_then(Value::as_str).unwrap_or("-");
            (k["id"].as_str().expect("id").to_owned(), alias.to_owned(), k["state"].as_str().expect("state").to_owned())
        })
        .collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn kura_admin_kms_and_the_config_section_manage_keys() {
    let mut server = TestServer::start_with_config(CONFIG);
    // The master key file is made at first start, readable by its owner only.
    let master = server.data.join("master-keys");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&master).expect("master-keys").permissions());
    assert_eq!(mode & 0o777, 0o600);

    // The declared key and kura's alias/aws/s3 key exist.
    let gitlab = admin(&server, &["describe", "alias/gitlab"]).await;
    assert_eq!(gitlab["id"], "gitlab");
    assert_eq!(gitlab["arn"], "arn:aws:kms:us-east-1:000000000000:key/gitlab");
    assert_eq!((gitlab["origin"].as_str(), gitlab["description"].as_str()), (Some("config"), Some("GitLab buckets")));
    let s3_default = admin(&server, &["describe", "alias/aws/s3"]).await;
    assert_eq!((s3_default["manager"].as_str(), s3_default["state"].as_str()), (Some("Kura"), Some("Enabled")));
    let default_id = s3_default["id"].as_str().expect("id").to_owned();

    // Create, describe by ARN, disable.
    let made = admin(&server, &["create", "--id", "k1", "--alias", "alias/app", "--description", "app data"]).await;
    assert_eq!(made["arn"], "arn:aws:kms:us-east-1:000000000000:key/k1");
    let by_arn = admin(&server, &["describe", "arn:aws:kms:us-east-1:000000000000:alias/app"]).await;
    assert_eq!((by_arn["id"].as_str(), by_arn["state"].as_str()), (Some("k1"), Some("Enabled")));
    assert_eq!(admin(&server, &["disable", "alias/app"]).await["state"], "Disabled");
    let before = keys(&server).await;
    assert_eq!(before.len(), 3);
    assert!(before.contains(&("k1".into(), "alias/app".into(), "Disabled".into())), "{before:?}");

    // Refusals name AWS's error, and change nothing.
    let err = admin_fails(&server, &["disable", "alias/nope"]).await;
    assert!(err.contains("KMS.NotFoundException") && err.contains("alias/nope"), "{err}");
    let err = admin_fails(&server, &["create", "--id", "k1"]).await;
    assert!(err.contains("KMS.AlreadyExistsException"), "{err}");
    let err = admin_fails(&server, &["create", "--alias", "alias/aws/mine"]).await;
    assert!(err.contains("InvalidArgument") && err.contains("reserved"), "{err}");
    let err = admin_fails(&server, &["disable", "alias/aws/s3"]).await;
    assert!(err.contains("KMS.UnsupportedOperationException"), "{err}");
    let err = admin_fails(&server, &["schedule-deletion", "gitlab"]).await;
    assert!(err.contains("configuration file"), "{err}");
    let err = admin_fails(&server, &["schedule-deletion", "k1", "--days", "3"]).await;
    assert!(err.contains("InvalidArgument") && err.contains("between 7 and 30"), "{err}");
    // Root only: a user whose policy allows everything is refused.
    let (ok, _, err) = kura(&server, "dave", "dave-secret-0123", &["admin", "kms", "create", "--id", "k2"]).await;
    assert!(!ok && err.contains("AccessDenied") && err.contains("only root"), "{err}");
    let (ok, _, err) = kura(&server, "dave", "dave-secret-0123", &["admin", "kms", "list"]).await;
    assert!(!ok && err.contains("AccessDenied"), "{err}");
    assert_eq!(keys(&server).await, before);

    let pending = admin(&server, &["schedule-deletion", "k1", "--days", "7"]).await;
    assert_eq!(pending["state"], "PendingDeletion");
    assert!(pending["deletion_date"].as_u64().is_some());

    // A reload that drops the declared key keeps the key (its objects must stay readable) and
    // removes the alias the file gave it.
    std::fs::write(
        server.config(),
        CONFIG
            .replace("      aliases: [alias/gitlab]\n", "")
            .replace("    - id: gitlab\n      description: GitLab buckets\n", "    - aliases: [alias/fresh]\n"),
    )
    .expect("rewrite config");
    server.hangup();
    crate::harness::wait_until(|| async {
        let (ok, _, _) = kura(&server, ACCESS_KEY, SECRET_KEY, &["admin", "kms", "describe", "alias/fresh"]).await;
        ok
    })
    .await;
    let err = admin_fails(&server, &["describe", "alias/gitlab"]).await;
    assert!(err.contains("KMS.NotFoundException"), "{err}");
    assert_eq!(admin(&server, &["describe", "gitlab"]).await["state"], "Enabled");

    // A restart on the same data: every key, state and alias is back, alias/aws/s3 is the same key.
    let (data, config) = (server.data.clone(), server.config());
    let after = keys(&server).await;
    server.kill();
    let restarted = TestServer::restart(&data, &config);
    assert_eq!(keys(&restarted).await, after);
    assert_eq!(admin(&restarted, &["describe", "alias/aws/s3"]).await["id"].as_str(), Some(default_id.as_str()));
    assert_eq!(admin(&restarted, &["describe", "k1"]).await["state"], "PendingDeletion");
    let cancelled = admin(&restarted, &["cancel-deletion", "k1"]).await;
    assert_eq!(cancelled["state"], "Disabled");
    admin(&restarted, &["create-alias", "alias/second", "k1"]).await;
    admin(&restarted, &["delete-alias", "alias/app"]).await;
    assert_eq!(admin(&restarted, &["describe", "alias/second"]).await["aliases"], serde_json::json!(["alias/second"]));

    // A backup with its secret files (the master keys among them) restores the keys whole.
    let work = tempfile::tempdir().expect("tempdir");
    let archive = work.path().join("backup.tar");
    let (ok, _, err) = kura(
        &restarted,
        ACCESS_KEY,
        SECRET_KEY,
        &["admin", "backup", "--include-secrets", "--output", archive.to_str().expect("p")],
    )
    .await;
    assert!(ok, "{err}");
    let target = work.path().join("restored");
    let (ok, _, err) = kura(
        &restarted,
        ACCESS_KEY,
        SECRET_KEY,
        &["restore", "--from", archive.to_str().expect("p"), "--data", target.to_str().expect("p")],
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(std::fs::read(target.join("master-keys")).expect("restored"), std::fs::read(&master).expect("original"));
    let expected = keys(&restarted).await;
    let restored = TestServer::restart(&target, &config);
    assert_eq!(keys(&restored).await, expected);
    assert_eq!(admin(&restored, &["describe", "alias/aws/s3"]).await["id"].as_str(), Some(default_id.as_str()));
}

#[tokio::test]
async fn a_bad_kms_section_or_master_key_file_stops_the_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("kura.yaml");
    for (yaml, needle) in [
        ("kms:\n  keys:\n    - id: a/b\n", "kms.keys.a/b.id"),
        ("kms:\n  keys:\n    - description: nameless\n", "an id or at least one alias"),
        ("kms:\n  keys:\n    - id: x\n      aliases: [alias/aws/s3]\n", "reserved"),
    ] {
        std::fs::write(&config, yaml).expect("write");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kura"))
            .args([
                "server",
                "--config",
                config.to_str().expect("p"),
                "--data",
                dir.path().join("d").to_str().expect("p"),
            ])
            .args(["--address", "127.0.0.1:0"])
            .env("KURA_ROOT_ACCESS_KEY", ACCESS_KEY)
            .env("KURA_ROOT_SECRET_KEY", SECRET_KEY)
            .output()
            .expect("run kura");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(needle), "{yaml}: {err}");
    }
    // A master key file that is not one: the server does not start, and says which file.
    let keys = dir.path().join("bad-master-keys");
    std::fs::write(&keys, "not a key\n").expect("write");
    std::fs::write(&config, format!("server:\n  encryption:\n    master_keys_file: {}\n", keys.display()))
        .expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kura"))
        .args(["server", "--config", config.to_str().expect("p"), "--data", dir.path().join("d").to_str().expect("p")])
        .args(["--address", "127.0.0.1:0"])
        .env("KURA_ROOT_ACCESS_KEY", ACCESS_KEY)
        .env("KURA_ROOT_SECRET_KEY", SECRET_KEY)
        .output()
        .expect("run kura");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("master key file"), "{err}");
}
