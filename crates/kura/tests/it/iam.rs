//! IAM end to end: users and named policies from the config file, bucket policies, anonymous modes,
//! the public access block, the admin API through `kura admin`, and config reloads.

use crate::harness::{ACCESS_KEY, SECRET_KEY, TestServer, code, status, wait_until};
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use std::time::Duration;

const ALICE_SECRET: &str = "alice-secret-0123456789";
const READER_SECRET: &str = "reader-secret-0123456789";

/// Seed 003's policy shape: a user confined to buckets named `k8s-default-aws-cli-*`.
const CONFIG: &str = r#"
users:
  - access_key: alice
    secret_key: alice-secret-0123456789
    policies: [k8s-default-aws-cli]
  - access_key: reader
    secret_key: reader-secret-0123456789
    policies: [readonly]
  - access_key: writer
    secret_key: writer-secret-0123456789
    policies: [readwrite, no-secrets]
  - access_key: sleeper
    secret_key: sleeper-secret-0123456789
    enabled: false
    policies: [readwrite]
policies:
  k8s-default-aws-cli:
    Version: "2012-10-17"
    Statement:
      - Effect: Allow
        Action: ["s3:*"]
        Resource: ["arn:aws:s3:::k8s-default-aws-cli-*", "arn:aws:s3:::k8s-default-aws-cli-*/*"]
  no-secrets:
    Version: "2012-10-17"
    Statement:
      - Sid: DenySecrets
        Effect: Deny
        Action: ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"]
        Resource: ["arn:aws:s3:::shared/secret/*"]
buckets:
  - name: shared
  - name: downloads
    anonymous: download
  - name: locked
    public_access_block: true
"#;

#[tokio::test]
async fn a_prefix_policy_allows_its_buckets_and_nothing_else() {
    let server = TestServer::start_with_config(CONFIG);
    let alice = server.client_with("alice", ALICE_SECRET);
    alice.create_bucket().bucket("k8s-default-aws-cli-demo").send().await.expect("allowed bucket");
    alice
        .put_object()
        .bucket("k8s-default-aws-cli-demo")
        .key("hello.txt")
        .body(ByteStream::from_static(b"hi"))
        .send()
        .await
        .expect("put in allowed bucket");
    let err = alice.create_bucket().bucket("k9s-default-aws-cli-demo").send().await.expect_err("other bucket");
    assert_eq!(code(&err), "AccessDenied");
    assert_eq!(status(&err), 403);
    let err = alice.list_objects_v2().bucket("shared").send().await.expect_err("shared is not alice's");
    assert_eq!(code(&err), "AccessDenied");
}

#[tokio::test]
async fn readonly_reads_and_cannot_write() {
    let server = TestServer::start_with_config(CONFIG);
    let root = server.client();
    root.put_object().bucket("shared").key("doc").body(ByteStream::from_static(b"data")).send().await.expect("put");
    let reader = server.client_with("reader", READER_SECRET);
    let got = reader.get_object().bucket("shared").key("doc").send().await.expect("read");
    assert_eq!(got.body.collect().await.expect("body").into_bytes().as_ref(), b"data");
    reader.list_objects_v2().bucket("shared").send().await.expect("list");
    let err = reader
        .put_object()
        .bucket("shared")
        .key("doc")
        .body(ByteStream::from_static(b"overwrite"))
        .send()
        .await
        .expect_err("readonly put");
    assert_eq!(code(&err), "AccessDenied");
    let err = reader.delete_object().bucket("shared").key("doc").send().await.expect_err("readonly delete");
    assert_eq!(code(&err), "AccessDenied");
    let kept = root.get_object().bucket("shared").key("doc").send().await.expect("still there");
    assert_eq!(kept.body.collect().await.expect("body").into_bytes().as_ref(), b"data");
}

#[tokio::test]
async fn explicit_deny_beats_allow_also_inside_delete_objects() {
    let server = TestServer::start_with_config(CONFIG);
    let writer = server.client_with("writer", "writer-secret-0123456789");
    writer
        .put_object()
        .bucket("shared")
        .key("public/a")
        .body(ByteStream::from_static(b"a"))
        .send()
        .await
        .expect("allowed by readwrite");
    let err = writer
        .put_object()
        .bucket("shared")
        .key("secret/a")
        .body(ByteStream::from_static(b"a"))
        .send()
        .await
        .expect_err("denied by no-secrets");
    assert_eq!(code(&err), "AccessDenied");
    let root = server.client();
    root.put_object().bucket("shared").key("secret/b").body(ByteStream::from_static(b"b")).send().await.expect("root");
    let delete = aws_sdk_s3::types::Delete::builder()
        .objects(aws_sdk_s3::types::ObjectIdentifier::builder().key("public/a").build().expect("id"))
        .objects(aws_sdk_s3::types::ObjectIdentifier::builder().key("secret/b").build().expect("id"))
        .build()
        .expect("delete");
    let out = writer.delete_objects().bucket("shared").delete(delete).send().await.expect("delete objects");
    let deleted: Vec<_> = out.deleted().iter().filter_map(|d| d.key()).collect();
    assert_eq!(deleted, ["public/a"]);
    let errors: Vec<_> = out.errors().iter().map(|e| (e.key().unwrap_or(""), e.code().unwrap_or(""))).collect();
    assert_eq!(errors, [("secret/b", "AccessDenied")]);
    root.head_object().bucket("shared").key("secret/b").send().await.expect("the denied key survived");
}

#[tokio::test]
async fn disabled_and_unknown_users_cannot_sign() {
    let server = TestServer::start_with_config(CONFIG);
    let sleeper = server.client_with("sleeper", "sleeper-secret-0123456789");
    let err = sleeper.list_buckets().send().await.expect_err("disabled");
    assert_eq!(code(&err), "InvalidAccessKeyId");
    let wrong = server.client_with("alice", "not-alices-secret");
    let err = wrong.list_buckets().send().await.expect_err("wrong secret");
    assert_eq!(code(&err), "SignatureDoesNotMatch");
}

#[tokio::test]
async fn a_non_root_presigned_put_works_on_a_private_bucket() {
    let server = TestServer::start_with_config(CONFIG);
    let writer = server.client_with("writer", "writer-secret-0123456789");
    let presigned = writer
        .put_object()
        .bucket("shared")
        .key("uploads/report.csv")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).expect("config"))
        .await
        .expect("presign");
    let http = reqwest::Client::new();
    let resp = http.put(presigned.uri()).body("a,b\n1,2\n").send().await.expect("put");
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap_or_default());
    let got = server.client().get_object().bucket("shared").key("uploads/report.csv").send().await.expect("get");
    assert_eq!(got.body.collect().await.expect("body").into_bytes().as_ref(), b"a,b\n1,2\n");

    // The signer's policy still applies to the URL: the denied prefix stays denied.
    let denied = writer
        .put_object()
        .bucket("shared")
        .key("secret/x")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).expect("config"))
        .await
        .expect("presign");
    let resp = http.put(denied.uri()).body("x").send().await.expect("put");
    assert_eq!(resp.status(), 403);
}

#[tokio::test]
async fn an_anonymous_download_bucket_serves_unsigned_gets_only() {
    let server = TestServer::start_with_config(CONFIG);
    let root = server.client();
    root.put_object()
        .bucket("downloads")
        .key("f.txt")
        .body(ByteStream::from_static(b"free"))
        .send()
        .await
        .expect("put");
    let http = reqwest::Client::new();
    let url = format!("{}/downloads/f.txt", server.endpoint());
    let resp = http.get(&url).send().await.expect("get");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.expect("text"), "free");
    let resp = http.put(&url).body("mine now").send().await.expect("put");
    assert_eq!(resp.status(), 403);
    let resp = http.get(format!("{}/shared/doc", server.endpoint())).send().await.expect("get private");
    assert_eq!(resp.status(), 403);
    let status = root.get_bucket_policy_status().bucket("downloads").send().await.expect("status");
    assert_eq!(status.policy_status().and_then(|s| s.is_public()), Some(true));
}

#[tokio::test]
async fn public_access_block_refuses_public_policies() {
    let server = TestServer::start_with_config(CONFIG);
    let root = server.client();
    let public = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::locked/*"}]}"#;
    let err = root.put_bucket_policy().bucket("locked").policy(public).send().await.expect_err("public refused");
    assert_eq!(code(&err), "AccessDenied");
    let scoped = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/reader"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::locked/*"}]}"#;
    root.put_bucket_policy().bucket("locked").policy(scoped).send().await.expect("non-public accepted");
    let got = root.get_bucket_policy().bucket("locked").send().await.expect("get policy");
    assert_eq!(got.policy(), Some(scoped));
    let block = root.get_public_access_block().bucket("locked").send().await.expect("get block");
    let config = block.public_access_block_configuration().expect("config");
    assert_eq!(config.block_public_policy(), Some(true));
    assert_eq!(config.restrict_public_buckets(), Some(true));

    // Without the block, the same public policy is accepted.
    root.delete_public_access_block().bucket("locked").send().await.expect("delete block");
    root.put_bucket_policy().bucket("locked").policy(public).send().await.expect("public accepted");
    let err = root.put_bucket_policy().bucket("locked").policy("{not json").send().await.expect_err("bad json");
    assert_eq!(code(&err), "MalformedPolicy");
    // NotPrincipal only denies (AWS): an Allow with it would grant everyone not listed, anonymous callers too.
    let allow_all_but = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::000000000000:user/reader"},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::locked"}]}"#;
    let err = root.put_bucket_policy().bucket("locked").policy(allow_all_but).send().await.expect_err("refused");
    assert_eq!((status(&err), code(&err).as_str()), (400, "MalformedPolicy"));
    assert!(err.message().is_some_and(|m| m.contains("NotPrincipal")), "{err:?}");
    let got = root.get_bucket_policy().bucket("locked").send().await.expect("get policy");
    assert_eq!(got.policy(), Some(public), "the refused policy changed nothing");
}

#[tokio::test]
async fn a_bucket_policy_grants_another_user() {
    let server = TestServer::start_with_config(CONFIG);
    let root = server.client();
    root.put_object().bucket("shared").key("for-alice").body(ByteStream::from_static(b"x")).send().await.expect("put");
    let alice = server.client_with("alice", ALICE_SECRET);
    let err = alice.get_object().bucket("shared").key("for-alice").send().await.expect_err("not yet");
    assert_eq!(code(&err), "AccessDenied");
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Sid":"AliceReads","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::000000000000:user/alice"]},"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::shared/for-*"]}]}"#;
    root.put_bucket_policy().bucket("shared").policy(policy).send().await.expect("policy");
    alice.get_object().bucket("shared").key("for-alice").send().await.expect("now allowed");
    root.delete_bucket_policy().bucket("shared").send().await.expect("delete policy");
    let err = alice.get_object().bucket("shared").key("for-alice").send().await.expect_err("revoked");
    assert_eq!(code(&err), "AccessDenied");
}

#[tokio::test]
async fn kura_admin_manages_users_policies_and_anonymous_access() {
    let server = TestServer::start_with_config(CONFIG);
    let admin = |args: &[&str]| server.cli(ACCESS_KEY, SECRET_KEY, args);

    let (ok, out, err) = admin(&["admin", "user", "create", "carol", "--policy", "readonly"]);
    assert!(ok, "{err}");
    let created: serde_json::Value = serde_json::from_str(&out).expect("json");
    let secret = created["secret_key"].as_str().expect("generated secret").to_owned();
    let carol = server.client_with("carol", &secret);
    carol.list_objects_v2().bucket("shared").send().await.expect("carol reads");

    let (ok, out, _) = admin(&["admin", "user", "list"]);
    assert!(ok);
    assert!(out.contains("\"carol\"") && !out.contains(&secret), "{out}");

    // A named policy through the API, attached, then simulated.
    let policy = server.scratch("carol-writes.json");
    std::fs::write(
        &policy,
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"CarolInbox","Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::shared/inbox/${aws:username}/*"}]}"#,
    )
    .expect("write policy");
    let policy_path = policy.to_str().expect("path");
    assert!(admin(&["admin", "policy", "put", "inbox", policy_path]).0);
    assert!(admin(&["admin", "user", "attach", "carol", "inbox"]).0);
    carol
        .put_object()
        .bucket("shared")
        .key("inbox/carol/1")
        .body(ByteStream::from_static(b"1"))
        .send()
        .await
        .expect("own inbox");
    let err = carol
        .put_object()
        .bucket("shared")
        .key("inbox/dave/1")
        .body(ByteStream::from_static(b"1"))
        .send()
        .await
        .expect_err("other inbox");
    assert_eq!(code(&err), "AccessDenied");
    let (ok, out, err) = admin(&[
        "admin",
        "policy",
        "simulate",
        "--principal",
        "carol",
        "--action",
        "s3:PutObject",
        "--resource",
        "arn:aws:s3:::shared/inbox/carol/x",
    ]);
    assert!(ok, "{err}");
    let answer: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(answer["decision"], "allow");
    assert_eq!(answer["statement"]["policy"], "inbox");
    assert_eq!(answer["statement"]["sid"], "CarolInbox");
    let (_, out, _) = admin(&[
        "admin",
        "policy",
        "simulate",
        "--principal",
        "writer",
        "--action",
        "s3:GetObject",
        "--resource",
        "arn:aws:s3:::shared/secret/k",
    ]);
    let answer: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(answer["decision"], "explicit-deny");
    assert_eq!(answer["statement"]["sid"], "DenySecrets");

    // A policy in use cannot be deleted; config-defined users cannot be changed.
    let (ok, _, err) = admin(&["admin", "policy", "delete", "inbox"]);
    assert!(!ok && err.contains("DeleteConflict"), "{err}");
    let (ok, _, err) = admin(&["admin", "user", "delete", "alice"]);
    assert!(!ok && err.contains("XKuraNotManaged"), "{err}");

    // Non-admin callers are refused by policy.
    let (ok, _, err) = server.cli("carol", &secret, &["admin", "user", "list"]);
    assert!(!ok && err.contains("AccessDenied"), "{err}");

    // Anonymous upload mode, set through the API.
    assert!(admin(&["admin", "bucket", "anonymous", "set", "shared", "upload"]).0);
    let (_, out, _) = admin(&["admin", "bucket", "anonymous", "get", "shared"]);
    assert!(out.contains("\"upload\""), "{out}");
    let http = reqwest::Client::new();
    let resp = http.put(format!("{}/shared/drop/box", server.endpoint())).body("anon").send().await.expect("put");
    assert_eq!(resp.status(), 200);
    let resp = http.get(format!("{}/shared/drop/box", server.endpoint())).send().await.expect("get");
    assert_eq!(resp.status(), 403);

    // Disabling a user takes effect at once.
    assert!(admin(&["admin", "user", "disable", "carol"]).0);
    let err = carol.list_objects_v2().bucket("shared").send().await.expect_err("disabled");
    assert_eq!(code(&err), "InvalidAccessKeyId");

    // Admin-created state survives a restart.
    drop(carol);
    let mut server = server;
    let data = server.data.clone();
    let config = server.config();
    server.kill();
    let restarted = TestServer::restart(&data, &config);
    let (ok, out, _) = restarted.cli(ACCESS_KEY, SECRET_KEY, &["admin", "user", "get", "carol"]);
    assert!(ok && out.contains("\"enabled\": false") && out.contains("inbox"), "{out}");
}

#[tokio::test]
async fn config_reloads_add_users_and_a_broken_file_changes_nothing() {
    let server = TestServer::start_with_config(CONFIG);
    let newcomer = server.client_with("newcomer", "newcomer-secret-0123");
    let err = newcomer.list_buckets().send().await.expect_err("not yet");
    assert_eq!(code(&err), "InvalidAccessKeyId");

    let added = format!("{CONFIG}\n").replace(
        "users:\n",
        "users:\n  - access_key: newcomer\n    secret_key: newcomer-secret-0123\n    policies: [readwrite]\n",
    );
    std::fs::write(server.config(), &added).expect("write config");
    wait_until(|| async { newcomer.list_buckets().send().await.is_ok() }).await;

    // A broken file (unknown policy) is rejected whole: the newcomer keeps working.
    let broken = added.replace("policies: [readwrite]\n", "policies: [no-such-policy]\n");
    std::fs::write(server.config(), &broken).expect("write broken config");
    server.hangup();
    tokio::time::sleep(Duration::from_secs(3)).await;
    newcomer.list_buckets().send().await.expect("previous config still serves");

    // Removing the user from a good file removes access.
    std::fs::write(server.config(), CONFIG).expect("write config");
    server.hangup();
    wait_until(|| async { newcomer.list_buckets().send().await.is_err() }).await;
}

#[test]
fn a_bad_config_file_is_refused_at_start_with_line_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("kura.yaml");
    std::fs::write(
        &config,
        "users:\n  - access_key: bob\n    secret_key: bob-secret-123\n    policies: [readwrite]\npolicies:\n  broken:\n    Statement:\n      - Effect: Allow\n        Action: s3:GetObject\n",
    )
    .expect("write");
    let out = crate::harness::run_to_exit(&dir.path().join("data"), &config);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 6") && stderr.contains("policies.broken") && stderr.contains("Resource"), "{stderr}");
}

/// Regression: admin paths are percent-decoded, so names with `.` and `-` (which `kura admin`
/// encodes) reach the right user.
#[tokio::test]
async fn admin_names_with_punctuation_round_trip() {
    let server = TestServer::start();
    let (ok, _, err) =
        server.cli(ACCESS_KEY, SECRET_KEY, &["admin", "user", "create", "my.user-1", "--policy", "readonly"]);
    assert!(ok, "{err}");
    let (ok, out, err) = server.cli(ACCESS_KEY, SECRET_KEY, &["admin", "user", "get", "my.user-1"]);
    assert!(ok && out.contains("\"access_key\": \"my.user-1\""), "{out}{err}");
}

/// An explicit Deny in a bucket policy binds root too, as on AWS (issue 16), except for the bucket
/// policy actions: root can always read, replace and delete the policy, so it cannot lock itself out.
/// The admin API stays open to root (the operator's way back in).
#[tokio::test]
async fn a_bucket_policy_deny_binds_root_except_for_the_policy_itself() {
    let server = TestServer::start();
    let s3 = server.client();
    let bucket = crate::harness::bucket_name("rootdeny");
    s3.create_bucket().bucket(&bucket).send().await.expect("bucket");
    s3.put_object().bucket(&bucket).key("k").body(ByteStream::from_static(b"before")).send().await.expect("put");
    let deny_objects = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"NoObjects","Effect":"Deny","Principal":"*","Action":["s3:GetObject","s3:PutObject","s3:DeleteObject"],"Resource":"arn:aws:s3:::{bucket}/*"}}]}}"#
    );
    s3.put_bucket_policy().bucket(&bucket).policy(&deny_objects).send().await.expect("policy");

    let err = s3.get_object().bucket(&bucket).key("k").send().await.expect_err("root get denied");
    assert_eq!((code(&err), status(&err)), ("AccessDenied".to_owned(), 403));
    let err = s3.put_object().bucket(&bucket).key("k").body(ByteStream::from_static(b"after")).send().await;
    let err = err.expect_err("root put denied");
    assert_eq!((code(&err), status(&err)), ("AccessDenied".to_owned(), 403));
    let err = s3.put_object().bucket(&bucket).key("new").body(ByteStream::from_static(b"x")).send().await;
    assert_eq!(code(&err.expect_err("root put denied")), "AccessDenied");
    // Inside DeleteObjects and as a copy source too.
    let delete = aws_sdk_s3::types::Delete::builder()
        .objects(aws_sdk_s3::types::ObjectIdentifier::builder().key("k").build().expect("id"))
        .build()
        .expect("delete");
    let out = s3.delete_objects().bucket(&bucket).delete(delete).send().await.expect("delete objects");
    assert_eq!(out.errors().first().and_then(|e| e.code()), Some("AccessDenied"));
    let other = crate::harness::bucket_name("rootcopy");
    s3.create_bucket().bucket(&other).send().await.expect("other bucket");
    let err = s3.copy_object().bucket(&other).key("c").copy_source(format!("{bucket}/k")).send().await;
    assert_eq!(code(&err.expect_err("copy source denied")), "AccessDenied");
    // Bucket-level actions the policy does not deny still work.
    s3.list_objects_v2().bucket(&bucket).send().await.expect("list is not denied");

    // A Deny of everything, the policy actions included, still leaves root the policy itself.
    let deny_all = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::{bucket}","arn:aws:s3:::{bucket}/*"]}}]}}"#
    );
    s3.put_bucket_policy().bucket(&bucket).policy(&deny_all).send().await.expect("root may replace the policy");
    let err = s3.list_objects_v2().bucket(&bucket).send().await.expect_err("list denied now");
    assert_eq!(code(&err), "AccessDenied");
    let err = s3.get_public_access_block().bucket(&bucket).send().await.expect_err("denied on S3");
    assert_eq!(code(&err), "AccessDenied");
    let got = s3.get_bucket_policy().bucket(&bucket).send().await.expect("root may read the policy");
    assert_eq!(got.policy(), Some(deny_all.as_str()));
    // The admin API is not bound by the bucket policy.
    let (ok, out, err) = server.cli(ACCESS_KEY, SECRET_KEY, &["admin", "bucket", "policy", "get", &bucket]);
    assert!(ok && out.contains("s3:*"), "{out} {err}");
    let (ok, _, err) = server.cli(ACCESS_KEY, SECRET_KEY, &["admin", "bucket", "public-access-block", "set", &bucket]);
    assert!(ok, "admin API refused root: {err}");
    let (ok, out, err) =
        server.cli(ACCESS_KEY, SECRET_KEY, &["admin", "bucket", "public-access-block", "get", &bucket]);
    assert!(ok && out.contains("true"), "{out} {err}");
    s3.delete_bucket_policy().bucket(&bucket).send().await.expect("root may delete the policy");

    // Nothing the denied requests asked for happened; everything works again.
    let got = s3.get_object().bucket(&bucket).key("k").send().await.expect("get after the policy is gone");
    assert_eq!(got.body.collect().await.expect("body").into_bytes().as_ref(), b"before");
    let err = s3.head_object().bucket(&bucket).key("new").send().await.expect_err("never written");
    assert_eq!(status(&err), 404);
    let err = s3.head_object().bucket(&other).key("c").send().await.expect_err("never copied");
    assert_eq!(status(&err), 404);
    s3.put_object().bucket(&bucket).key("new").body(ByteStream::from_static(b"x")).send().await.expect("put");
}

/// A refused read of a missing object is 404 `NoSuchKey` when the caller may list that key's prefix
/// (the listing would tell it anyway, as AWS answers), and stays 403 otherwise; an object that exists
/// is never revealed by a refused read.
#[tokio::test]
async fn a_missing_object_is_404_to_whoever_may_list_its_prefix() {
    let server = TestServer::start_with_config(CONFIG);
    let root = server.client();
    root.put_object()
        .bucket("shared")
        .key("public/there")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect("put");
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::shared","Condition":{"StringLike":{"s3:prefix":"public/*"}}}]}"#;
    root.put_bucket_policy().bucket("shared").policy(policy).send().await.expect("policy");
    let alice = server.client_with("alice", ALICE_SECRET);

    let err = alice.get_object().bucket("shared").key("public/missing").send().await.expect_err("missing");
    assert_eq!(code(&err), "NoSuchKey");
    let err = alice.head_object().bucket("shared").key("public/missing").send().await.expect_err("missing");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(404));
    // Outside the listable prefix, a refusal.
    let err = alice.get_object().bucket("shared").key("private/missing").send().await.expect_err("refused");
    assert_eq!(code(&err), "AccessDenied");
    let err = alice.head_object().bucket("shared").key("private/missing").send().await.expect_err("refused");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403));
    // An object that exists is refused, not read.
    let err = alice.get_object().bucket("shared").key("public/there").send().await.expect_err("refused");
    assert_eq!(code(&err), "AccessDenied");
    // A version id asks for one version: no listing tells about it.
    let err =
        alice.get_object().bucket("shared").key("public/missing").version_id("v1").send().await.expect_err("refused");
    assert_eq!(code(&err), "AccessDenied");
}
