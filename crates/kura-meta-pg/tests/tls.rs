//! [`PgMetaStore`] over TLS (the `tls` module) on kura-test-pg's TLS server, which accepts TCP
//! connections in TLS only and whose certificate, signed by its test CA, is valid for `localhost`
//! alone: each `sslmode` connects (or is refused) as libpq's would.

use kura_meta_pg::tls::{MakeTls, TlsMode};
use kura_meta_pg::{Config, PgMetaStore};
use kura_store::conformance::{bucket, object};
use kura_store::{BlobId, MetaStore, StoreError};
use kura_test_pg::{PgServer, USER};

/// Connection settings of a fresh database over TCP to `host`.
fn tcp(server: &PgServer, host: &str) -> Config {
    let db = server.create_database();
    let mut config = Config::new();
    config.host(host).port(server.port()).user(USER).password(server.password()).dbname(&db);
    config
}

fn ca(server: &PgServer) -> Vec<u8> {
    std::fs::read(server.ca_file()).expect("the test CA")
}

/// Opens a store with `tls` and uses it; its lanes (the shared connections of the PUT and the GET)
/// were connected as its pool's are: in TLS over TCP, not on the Unix socket.
async fn works(config: Config, tls: MakeTls) {
    let db = config.get_dbname().expect("a database").to_owned();
    let tcp = config.get_hosts().iter().all(|host| matches!(host, kura_meta_pg::Host::Tcp(_)));
    let store = PgMetaStore::open_tls(config, tls, 2).await.expect("open over TLS");
    store.create_bucket(bucket("b")).await.expect("create");
    store.put_object("b", object("k", BlobId(7))).await.expect("put");
    assert_eq!(store.get_object("b", "k").await.expect("get"), Some(object("k", BlobId(7))));
    let lanes = |ssl: bool| {
        kura_test_pg::shared_tls().query_i64(
            &db,
            &format!(
                "SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
                 WHERE a.datname = '{db}' AND a.application_name = 'kura-lane' AND s.ssl = {ssl}"
            ),
        )
    };
    assert_eq!((lanes(tcp), lanes(!tcp)), (1, 0), "one lane, in TLS exactly when over TCP");
}

/// The error of opening a store with `tls`.
async fn refused(config: Config, tls: MakeTls) -> String {
    match PgMetaStore::open_tls(config, tls, 1).await {
        Ok(_) => panic!("the store opened"),
        Err(StoreError::Unavailable(e)) => e,
        Err(other) => panic!("not Unavailable: {other:?}"),
    }
}

#[tokio::test]
async fn verify_full_checks_the_chain_and_the_name() {
    let server = kura_test_pg::shared_tls();
    let tls = MakeTls::new(TlsMode::VerifyFull, Some(&ca(server))).expect("connector");
    works(tcp(server, "localhost"), tls.clone()).await;
    // The certificate is for localhost only.
    let err = refused(tcp(server, "127.0.0.1"), tls).await;
    assert!(err.contains("TLS handshake") && err.contains("not valid for name \"127.0.0.1\""), "{err}");
}

#[tokio::test]
async fn verify_ca_checks_the_chain_whatever_the_name() {
    let server = kura_test_pg::shared_tls();
    works(tcp(server, "127.0.0.1"), MakeTls::new(TlsMode::VerifyCa, Some(&ca(server))).expect("connector")).await;
    // A CA with `require` checks the chain too (as libpq's).
    works(tcp(server, "127.0.0.1"), MakeTls::new(TlsMode::Require, Some(&ca(server))).expect("connector")).await;
}

#[tokio::test]
async fn a_stranger_ca_is_refused_in_every_verifying_mode() {
    let server = kura_test_pg::shared_tls();
    let dir = tempfile::tempdir().expect("tempdir");
    let stranger = std::fs::read(kura_test_pg::stranger_ca(dir.path())).expect("stranger CA");
    for mode in [TlsMode::VerifyFull, TlsMode::VerifyCa, TlsMode::Require] {
        let err = refused(tcp(server, "localhost"), MakeTls::new(mode, Some(&stranger)).expect("connector")).await;
        assert!(err.contains("TLS") && err.contains("UnknownIssuer"), "{mode:?}: {err}");
    }
}

#[tokio::test]
async fn require_and_prefer_encrypt_without_a_ca() {
    let server = kura_test_pg::shared_tls();
    // The server takes TCP connections in TLS only: these connect, so they are encrypted.
    works(tcp(server, "127.0.0.1"), MakeTls::new(TlsMode::Require, None).expect("connector")).await;
    works(tcp(server, "127.0.0.1"), MakeTls::new(TlsMode::Prefer, None).expect("connector")).await;
}

#[tokio::test]
async fn disable_is_refused_by_a_server_that_takes_tls_only() {
    let server = kura_test_pg::shared_tls();
    for tls in [MakeTls::new(TlsMode::Disable, None).expect("connector"), MakeTls::none()] {
        let err = refused(tcp(server, "127.0.0.1"), tls).await;
        assert!(err.contains("pg_hba.conf") && err.contains("no encryption"), "{err}");
    }
}

#[tokio::test]
async fn require_on_a_unix_socket_is_refused() {
    // PostgreSQL never speaks TLS on its socket: `require` cannot be met there (kura's config refuses
    // the combination before connecting; this is the driver's own refusal).
    let server = kura_test_pg::shared_tls();
    let db = server.create_database();
    let err = refused(server.config(&db), MakeTls::new(TlsMode::Require, None).expect("connector")).await;
    assert!(err.contains("TLS"), "{err}");
    // Without TLS the socket serves as before.
    works(server.config(&db), MakeTls::new(TlsMode::Prefer, None).expect("connector")).await;
}

#[test]
fn the_verifying_modes_need_a_usable_ca() {
    for mode in [TlsMode::VerifyCa, TlsMode::VerifyFull] {
        let err = MakeTls::new(mode, None).expect_err("no CA");
        assert!(err.contains(mode.name()) && err.contains("CA"), "{err}");
    }
    let err = MakeTls::new(TlsMode::VerifyFull, Some(b"not a certificate")).expect_err("not PEM");
    assert!(err.contains("no certificate"), "{err}");
    let bad = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    let err = MakeTls::new(TlsMode::VerifyFull, Some(bad)).expect_err("not a certificate");
    assert!(err.contains("CA certificate"), "{err}");
    for mode in TlsMode::ALL {
        assert_eq!(TlsMode::from_name(mode.name()), Some(mode));
    }
    assert_eq!(TlsMode::from_name("allow"), None);
    assert_eq!(TlsMode::from_name("VERIFY-FULL"), None);
}
