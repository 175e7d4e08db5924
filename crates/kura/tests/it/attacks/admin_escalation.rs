//! The admin API grants what each change needs, as AWS splits it, so that one narrow grant does not
//! become every other: `kura:CreateUser` does not take over an existing user or attach a policy,
//! `kura:CreatePolicy` does not rewrite a policy others hold, no user is named like a ticket key, a
//! deleted user's tickets end with it, and an admin call has the request's network condition keys.

use crate::harness::{ACCESS_KEY, SECRET_KEY, TestServer};

const CONFIG: &str = r#"
users:
  - access_key: umgr
    secret_key: umgr-secret-0123456789
    policies: [make-team-users]
  - access_key: polmgr
    secret_key: polmgr-secret-0123456789
    policies: [make-team-policies]
  - access_key: tlsonly
    secret_key: tlsonly-secret-0123456789
    policies: [admin, over-tls-only]
policies:
  make-team-users:
    Statement:
      - Effect: Allow
        Action: kura:CreateUser
        Resource: "arn:aws:iam::000000000000:user/team-*"
      - Effect: Allow
        Action: kura:AttachUserPolicy
        Resource: "arn:aws:iam::000000000000:user/team-*"
        Condition: {StringEquals: {"iam:PolicyARN": "arn:aws:iam::000000000000:policy/readonly"}}
  make-team-policies:
    Statement:
      - Effect: Allow
        Action: kura:CreatePolicy
        Resource: "arn:aws:iam::000000000000:policy/team-*"
  over-tls-only:
    Statement:
      - Effect: Deny
        Action: "*"
        Resource: "*"
        Condition: {Bool: {"aws:SecureTransport": "false"}}
buckets:
  - name: shared
"#;

fn admin(server: &TestServer, who: (&str, &str), args: &[&str]) -> (bool, String) {
    let (ok, out, err) = server.cli(who.0, who.1, &[&["admin"], args].concat());
    (ok, format!("{out}{err}"))
}

const ROOT: (&str, &str) = (ACCESS_KEY, SECRET_KEY);
const UMGR: (&str, &str) = ("umgr", "umgr-secret-0123456789");
const POLMGR: (&str, &str) = ("polmgr", "polmgr-secret-0123456789");

#[tokio::test]
async fn a_create_grant_neither_takes_over_nor_escalates() {
    let server = TestServer::start_with_config(CONFIG);
    let (ok, out) = admin(
        &server,
        ROOT,
        &["user", "create", "team-ci", "--secret-key", "team-ci-secret-0123", "--policy", "readonly"],
    );
    assert!(ok, "{out}");

    // Creating a user with a policy its grant names works.
    let (ok, out) = admin(&server, UMGR, &["user", "create", "team-new", "--policy", "readonly"]);
    assert!(ok, "{out}");
    // Not with another policy: kura:AttachUserPolicy is granted for readonly only (iam:PolicyARN).
    let (ok, out) = admin(&server, UMGR, &["user", "create", "team-boss", "--policy", "admin"]);
    assert!(!ok && out.contains("AccessDenied"), "{out}");
    let (ok, out) = admin(&server, ROOT, &["user", "get", "team-boss"]);
    assert!(!ok && out.contains("NoSuchEntity"), "team-boss was not created: {out}");

    // An existing user is not re-created with the attacker's secret (that needs kura:UpdateUser).
    let (ok, out) = admin(
        &server,
        UMGR,
        &["user", "create", "team-ci", "--secret-key", "attacker-chosen-1", "--policy", "readonly"],
    );
    assert!(!ok && out.contains("AccessDenied"), "{out}");
    server.client_with("team-ci", "team-ci-secret-0123").list_buckets().send().await.expect("the old secret works");
    let err = server.client_with("team-ci", "attacker-chosen-1").list_buckets().send().await;
    assert!(err.is_err(), "the attacker's secret does not");

    // A policy others hold is not rewritten with kura:CreatePolicy alone (that needs kura:UpdatePolicy).
    let narrow = server.scratch("narrow.json");
    std::fs::write(&narrow, r#"{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#)
        .expect("write");
    let wide = server.scratch("wide.json");
    std::fs::write(&wide, r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#).expect("write");
    let (narrow, wide) = (narrow.to_str().expect("path"), wide.to_str().expect("path"));
    let (ok, out) = admin(&server, ROOT, &["policy", "put", "team-dev", narrow]);
    assert!(ok, "{out}");
    let (ok, out) = admin(&server, POLMGR, &["policy", "put", "team-dev", wide]);
    assert!(!ok && out.contains("AccessDenied"), "{out}");
    let (ok, out) = admin(&server, ROOT, &["policy", "get", "team-dev"]);
    let compact: String = out.split_whitespace().collect();
    assert!(
        ok && compact.contains(r#""Action":"s3:GetObject""#) && !compact.contains(r#""Action":"*""#),
        "unchanged: {out}"
    );
    let (ok, out) = admin(&server, POLMGR, &["policy", "put", "team-fresh", wide]);
    assert!(ok, "a new policy is what kura:CreatePolicy grants: {out}");
}

#[tokio::test]
async fn no_user_is_named_like_a_minted_key_and_deleted_users_lose_their_tickets() {
    let server = TestServer::start_with_config(CONFIG);
    for name in ["KURTABCDEFGHIJKLMNOP", "ASIAABCDEFGHIJKLMNOP"] {
        let (ok, out) = admin(&server, ROOT, &["user", "create", name, "--policy", "readonly"]);
        assert!(!ok && out.contains("shape of the keys kura mints"), "{name}: {out}");
    }

    let root = server.client();
    root.put_object().bucket("shared").key("report.txt").body(b"report".to_vec().into()).send().await.expect("put");
    let (ok, out) =
        admin(&server, ROOT, &["user", "create", "bob", "--secret-key", "bob-secret-0123456", "--policy", "readonly"]);
    assert!(ok, "{out}");
    let (ok, out, err) =
        server.cli("bob", "bob-secret-0123456", &["presign", "get", "s3://shared/report.txt", "--ticket"]);
    assert!(ok, "{err}");
    let ticket: serde_json::Value = serde_json::from_str(&out).expect("ticket JSON");
    let url = ticket["url"].as_str().expect("url").to_owned();
    assert_eq!(reqwest::get(&url).await.expect("get").status().as_u16(), 200);
    let (ok, out) = admin(&server, ROOT, &["user", "delete", "bob"]);
    assert!(ok, "{out}");
    let (ok, out) =
        admin(&server, ROOT, &["user", "create", "bob", "--secret-key", "bob-secret-0123456", "--policy", "readonly"]);
    assert!(ok, "{out}");
    let answer = reqwest::get(&url).await.expect("get");
    assert_eq!(answer.status().as_u16(), 403, "the old bob's ticket ended with him");
}

#[tokio::test]
async fn admin_calls_have_the_requests_network_keys() {
    let server = TestServer::start_with_config(CONFIG);
    let (ok, out) = admin(&server, ("tlsonly", "tlsonly-secret-0123456789"), &["user", "list"]);
    assert!(!ok && out.contains("AccessDenied"), "a Deny on aws:SecureTransport binds the admin API: {out}");
    let (ok, out) = admin(&server, ROOT, &["user", "list"]);
    assert!(ok, "{out}");
}

/// A ticket asked for while its issuer is being deleted dies with the issuer: DeleteUser sweeps the
/// user's tickets, and one stored after that sweep looked is taken back by the request that made it.
/// Otherwise it served, for up to a day, whoever was next created under the issuer's name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_asked_for_while_its_issuer_is_deleted_dies_with_it() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let server = TestServer::start_with_config(CONFIG);
    let root = server.client();
    root.put_object().bucket("shared").key("report.txt").body(b"report".to_vec().into()).send().await.expect("put");
    let carol = ("carol", "carol-secret-0123456");
    let create = || {
        let (ok, out) =
            admin(&server, ROOT, &["user", "create", carol.0, "--secret-key", carol.1, "--policy", "readonly"]);
        assert!(ok, "{out}");
    };
    let mut urls = Vec::new();
    for _ in 0..12 {
        create();
        let issued = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            let askers: Vec<_> = (0..3)
                .map(|_| {
                    scope.spawn(|| {
                        let mut got = Vec::new();
                        loop {
                            let args = ["presign", "get", "s3://shared/report.txt", "--ticket"];
                            let (ok, out, _) = server.cli(carol.0, carol.1, &args);
                            if !ok {
                                return got;
                            }
                            let ticket: serde_json::Value = serde_json::from_str(&out).expect("ticket JSON");
                            got.push(ticket["url"].as_str().expect("url").to_owned());
                            issued.fetch_add(1, Ordering::SeqCst);
                        }
                    })
                })
                .collect();
            // Delete carol once tickets are being issued, while the askers go on.
            while issued.load(Ordering::SeqCst) < 3 {
                std::thread::yield_now();
            }
            let (ok, out) = admin(&server, ROOT, &["user", "delete", carol.0]);
            assert!(ok, "{out}");
            for asker in askers {
                urls.extend(asker.join().expect("asker"));
            }
        });
    }
    create();
    for url in &urls {
        assert_eq!(reqwest::get(url).await.expect("get").status().as_u16(), 403, "a deleted carol's ticket works");
    }
}
