//! kura on PostgreSQL over TLS: a real `kura server` whose URL asks for libpq's `sslmode`, against
//! kura-test-pg's TLS server (TCP in TLS only, a certificate for `localhost` signed by its test CA).
//! `verify-full` with the CA serves S3 on encrypted connections; a CA that did not sign the server's
//! certificate, or a name the certificate is not for, stops kura at start with the reason; `require`
//! encrypts (and says at start that it checks nothing); `disable` is refused by the server.

use super::{PgDeployment, get, list, put};
use crate::harness::{TestServer, bucket_name, data, run_to_exit};
use kura_test_pg::PgServer;

/// Connections of database `db` other than the asker's own, encrypted (`true`) or not.
fn connections(pg: &PgServer, db: &str, encrypted: bool) -> i64 {
    pg.query_i64(
        db,
        &format!(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.datname = '{db}' AND a.pid <> pg_backend_pid() AND s.ssl = {encrypted}"
        ),
    )
}

/// Puts, gets and lists through `server`.
async fn serves_s3(server: &TestServer) {
    let s3 = server.client();
    let bucket = bucket_name("pgtls");
    s3.create_bucket().bucket(&bucket).send().await.expect("create bucket");
    let objects = [("a/small", data(300, 1)), ("a/large", data(300_000, 2)), ("b", data(10, 3))];
    for (key, body) in &objects {
        put(&s3, &bucket, key, body).await;
    }
    for (key, body) in &objects {
        assert_eq!(&get(&s3, &bucket, key, None).await, body, "{key}");
    }
    let (keys, prefixes) = list(&s3, &bucket, "", Some("/"), 1000).await;
    assert_eq!((keys, prefixes), (vec!["b".to_owned()], vec!["a/".to_owned()]));
    let (keys, _) = list(&s3, &bucket, "a/", None, 1).await;
    assert_eq!(keys, ["a/large", "a/small"]);
}

#[tokio::test]
async fn verify_full_with_the_ca_serves_s3_on_encrypted_connections() {
    let pg = kura_test_pg::shared_tls();
    let ca = pg.ca_file();
    let query = format!("sslmode=verify-full&sslrootcert={}", ca.display());
    let deployment = PgDeployment::with_url(pg, |db| pg.tcp_url("localhost", db, &query), "");
    let server = deployment.start();
    serves_s3(&server).await;
    assert!(connections(pg, &deployment.db, true) >= 1, "kura holds encrypted connections");
    assert_eq!(connections(pg, &deployment.db, false), 0, "and no plaintext one");
}

/// A start that must be refused: kura exits, saying why, and never listens.
fn refused_at_start(deployment: &PgDeployment) -> String {
    let out = run_to_exit(&deployment.data(), &deployment.config());
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "kura started: {stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("listening"), "{stderr}");
    stderr
}

#[test]
fn a_ca_that_did_not_sign_the_servers_certificate_stops_kura_at_start() {
    let pg = kura_test_pg::shared_tls();
    let dir = tempfile::tempdir().expect("tempdir");
    let stranger = kura_test_pg::stranger_ca(dir.path());
    let query = format!("sslmode=verify-full&sslrootcert={}", stranger.display());
    let deployment = PgDeployment::with_url(pg, |db| pg.tcp_url("localhost", db, &query), "");
    let stderr = refused_at_start(&deployment);
    assert!(stderr.contains("TLS handshake") && stderr.contains("UnknownIssuer"), "{stderr}");
}

#[test]
fn a_host_name_the_certificate_is_not_for_stops_verify_full_but_not_verify_ca() {
    let pg = kura_test_pg::shared_tls();
    let ca = pg.ca_file();
    // The certificate is for localhost; 127.0.0.1 reaches the same server.
    let query = format!("sslmode=verify-full&sslrootcert={}", ca.display());
    let deployment = PgDeployment::with_url(pg, |db| pg.tcp_url("127.0.0.1", db, &query), "");
    let stderr = refused_at_start(&deployment);
    assert!(stderr.contains("TLS handshake") && stderr.contains("not valid for name \"127.0.0.1\""), "{stderr}");
    let query = format!("sslmode=verify-ca&sslrootcert={}", ca.display());
    let deployment = PgDeployment::with_url(pg, |db| pg.tcp_url("127.0.0.1", db, &query), "");
    drop(deployment.start());
}

#[tokio::test]
async fn require_encrypts_and_warns_that_it_checks_nothing() {
    let pg = kura_test_pg::shared_tls();
    let db = pg.create_database();
    let dir = tempfile::tempdir().expect("tempdir");
    let password = dir.path().join("pg-password");
    std::fs::write(&password, pg.password()).expect("write the password file");
    let yaml = format!(
        "server:\n  metadata:\n    postgres:\n      url: \"{}\"\n      password_file: {}\n",
        pg.tcp_url("127.0.0.1", &db, "sslmode=require"),
        password.display()
    );
    let server = TestServer::start_with_config_logged(&yaml);
    server.wait_for_log(&["sslmode=require", "certificate is not checked", "verify-full"]).await;
    serves_s3(&server).await;
    assert!(connections(pg, &db, true) >= 1, "kura holds encrypted connections");
    assert_eq!(connections(pg, &db, false), 0, "and no plaintext one");
}

#[test]
fn disable_is_refused_by_a_server_that_takes_tls_only() {
    let pg = kura_test_pg::shared_tls();
    let deployment = PgDeployment::with_url(pg, |db| pg.tcp_url("127.0.0.1", db, "sslmode=disable"), "");
    let stderr = refused_at_start(&deployment);
    assert!(stderr.contains("pg_hba.conf") && stderr.contains("no encryption"), "{stderr}");
    assert!(!deployment.data().join("blobs").exists(), "nothing was written");
}
