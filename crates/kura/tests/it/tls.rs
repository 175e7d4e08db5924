//! HTTPS on the one port (`server.tls`): the AWS SDK for Rust trusting a test CA, ALPN, certificate
//! rotation without a restart (and a broken rotation refused), the handshake under the header-read
//! timeout, and a bad pair refused at start. Certificates are made by the `openssl` command line.

use crate::harness::{ACCESS_KEY, SECRET_KEY, TestServer, bucket_name};
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt as _;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// A test CA in a temporary directory, issuing server certificates for 127.0.0.1 and localhost.
pub(crate) struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        kura_test_pg::new_ca(dir.path(), "ca", "kura test CA");
        Self { dir }
    }

    pub(crate) fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().expect("utf-8 path").to_owned()
    }

    /// The CA certificate (PEM).
    fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(self.path("ca.crt")).expect("ca.crt")
    }

    /// Issues a server certificate named `name` (CN `name`, the given serial) for 127.0.0.1 and
    /// localhost: returns (cert, key) files.
    pub(crate) fn issue(&self, name: &str, serial: u32) -> (PathBuf, PathBuf) {
        kura_test_pg::issue(self.dir.path(), "ca", name, "IP:127.0.0.1,DNS:localhost", serial)
    }

    /// The DER of the first certificate in `cert_file`.
    fn der(cert_file: &Path) -> Vec<u8> {
        CertificateDer::pem_file_iter(cert_file).expect("pem").next().expect("a certificate").expect("der").to_vec()
    }
}

/// Installs `from`'s pair as the served `tls.crt`/`tls.key`, each file replaced by a rename (whole).
pub(crate) fn install(dir: &Path, (cert, key): &(PathBuf, PathBuf)) {
    for (from, to) in [(cert, "tls.crt"), (key, "tls.key")] {
        let tmp = dir.join(format!("{to}.tmp"));
        std::fs::copy(from, &tmp).expect("copy");
        std::fs::rename(&tmp, dir.join(to)).expect("rename");
    }
}

/// A server with `server.tls` over the files `tls.crt`/`tls.key` in `dir` (already installed), with its
/// log kept; `extra` is more of the `server:` section.
fn start(dir: &Path, extra: &str) -> TestServer {
    let yaml = format!(
        "server:\n  tls:\n    cert_file: {}\n    key_file: {}\n{extra}",
        dir.join("tls.crt").display(),
        dir.join("tls.key").display()
    );
    let server = TestServer::start_with_config_logged(&yaml);
    assert_eq!(server.scheme, "https");
    server
}

/// A rustls client configuration trusting only the test CA, offering `alpn`.
fn client_config(ca: &[u8], alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca) {
        roots.add(cert.expect("ca pem")).expect("add root");
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// A TLS connection to `server` for the name 127.0.0.1.
async fn connect(server: &TestServer, ca: &[u8], alpn: &[&[u8]]) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(server.addr).await.expect("tcp connect");
    let connector = tokio_rustls::TlsConnector::from(client_config(ca, alpn));
    let name = ServerName::try_from("127.0.0.1").expect("name");
    connector.connect(name, tcp).await.expect("TLS handshake")
}

/// The DER of the certificate the server presented on `stream`.
fn peer_cert(stream: &TlsStream<TcpStream>) -> Vec<u8> {
    stream.get_ref().1.peer_certificates().expect("server certificate")[0].to_vec()
}

/// An HTTP/1.1 client on an open TLS connection.
async fn http1(stream: TlsStream<TcpStream>) -> hyper::client::conn::http1::SendRequest<Empty<Bytes>> {
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("http1 handshake");
    tokio::spawn(conn);
    sender
}

/// GET `uri` (a path, or a full URL) on an HTTP/1.1 connection: the status and the body.
async fn get1(
    sender: &mut hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    server: &TestServer,
    uri: &str,
) -> (u16, Bytes) {
    let req = http::Request::get(uri).header("host", server.addr.to_string()).body(Empty::new()).expect("request");
    let resp = sender.send_request(req).await.expect("response");
    let status = resp.status().as_u16();
    (status, resp.into_body().collect().await.expect("body").to_bytes())
}

/// An S3 client of the AWS SDK for Rust whose HTTPS client trusts only `ca`.
/// The AWS SDK's own HTTPS client, trusting only `ca`.
fn https_client(ca: &[u8]) -> aws_sdk_s3::config::SharedHttpClient {
    use aws_smithy_http_client::tls;
    let context = tls::TlsContext::builder()
        .with_trust_store(tls::TrustStore::empty().with_pem_certificate(ca.to_vec()))
        .build()
        .expect("TLS context");
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc))
        .tls_context(context)
        .build_https()
}

fn sdk_client(server: &TestServer, ca: &[u8]) -> aws_sdk_s3::Client {
    let http_client = https_client(ca);
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(server.endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test"))
        .force_path_style(true)
        .http_client(http_client)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

#[tokio::test]
async fn the_sdk_puts_gets_and_presigns_over_https() {
    let pki = Pki::new();
    install(pki.dir.path(), &pki.issue("server", 1));
    let server = start(pki.dir.path(), "");
    let ca = pki.ca_pem();
    let s3 = sdk_client(&server, &ca);
    let bucket = bucket_name("tls");
    s3.create_bucket().bucket(&bucket).send().await.expect("create bucket");
    let body = crate::harness::data(100_000, 7);
    s3.put_object()
        .bucket(&bucket)
        .key("a/b.bin")
        .body(aws_sdk_s3::primitives::ByteStream::from(body.clone()))
        .send()
        .await
        .expect("put over https");
    let got = s3.get_object().bucket(&bucket).key("a/b.bin").send().await.expect("get over https");
    assert_eq!(got.body.collect().await.expect("body").into_bytes().as_ref(), body.as_slice());

    let presigned = s3
        .get_object()
        .bucket(&bucket)
        .key("a/b.bin")
        .presigned(aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(300)).expect("config"))
        .await
        .expect("presign");
    assert!(presigned.uri().starts_with(&format!("https://{}/", server.addr)), "{}", presigned.uri());
    let mut sender = http1(connect(&server, &ca, &[b"http/1.1"]).await).await;
    let (status, got) = get1(&mut sender, &server, presigned.uri()).await;
    assert_eq!((status, got.as_ref()), (200, body.as_slice()));

    // A client that does not trust the CA is refused by its own verification: no request is made.
    let untrusted = sdk_client(&server, &Pki::new().ca_pem());
    let err = untrusted.list_buckets().send().await.expect_err("unknown CA");
    assert!(matches!(err, aws_sdk_s3::error::SdkError::DispatchFailure(_)), "{err:?}");
}

/// STS on the same HTTPS port, a presigned URL fetched by curl trusting the test CA, and the audit log:
/// each request is recorded as over plain HTTP.
#[tokio::test]
async fn sts_curl_and_the_audit_log_work_over_https() {
    let pki = Pki::new();
    install(pki.dir.path(), &pki.issue("server", 1));
    let audit = pki.dir.path().join("audit.log");
    let yaml = format!(
        "server:\n  tls:\n    cert_file: {}\n    key_file: {}\naudit:\n  path: {}\n",
        pki.dir.path().join("tls.crt").display(),
        pki.dir.path().join("tls.key").display(),
        audit.display()
    );
    let server = TestServer::start_with_config_logged(&yaml);
    let ca = pki.ca_pem();

    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(server.endpoint())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test"))
            .http_client(https_client(&ca))
            .build(),
    );
    let me = sts.get_caller_identity().send().await.expect("GetCallerIdentity over https");
    assert_eq!(me.arn(), Some("arn:aws:iam::000000000000:root"));

    let s3 = sdk_client(&server, &ca);
    let bucket = bucket_name("tls-curl");
    s3.create_bucket().bucket(&bucket).send().await.expect("create bucket");
    s3.put_object()
        .bucket(&bucket)
        .key("doc.txt")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"over https"))
        .send()
        .await
        .expect("put");
    let presigned = s3
        .get_object()
        .bucket(&bucket)
        .key("doc.txt")
        .presigned(aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(300)).expect("config"))
        .await
        .expect("presign");
    let curl = |ca_file: &str| {
        Command::new("curl").args(["-sS", "--cacert", ca_file, presigned.uri()]).output().expect("run curl")
    };
    let out = curl(&pki.path("ca.crt"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, b"over https");
    // curl with another CA refuses kura's certificate (exit code 60: peer certificate cannot be verified).
    let stranger = Pki::new();
    assert_eq!(curl(&stranger.path("ca.crt")).status.code(), Some(60));

    crate::harness::wait_until(|| async {
        let text = std::fs::read_to_string(&audit).unwrap_or_default();
        text.contains("\"GetCallerIdentity\"") && text.contains("\"GetObject\"") && text.contains("\"presigned\"")
    })
    .await;
}

#[tokio::test]
async fn alpn_negotiates_h2_and_http1() {
    let pki = Pki::new();
    install(pki.dir.path(), &pki.issue("server", 1));
    let server = start(pki.dir.path(), "");
    let ca = pki.ca_pem();

    let stream = connect(&server, &ca, &[b"h2", b"http/1.1"]).await;
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(b"h2".as_slice()), "h2 preferred");
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await.expect("h2 handshake");
    tokio::spawn(conn);
    let uri = format!("https://{}/kura/health/live", server.addr);
    let resp = sender.send_request(http::Request::get(&uri).body(Empty::<Bytes>::new()).expect("req")).await;
    let resp = resp.expect("h2 response");
    assert_eq!((resp.status().as_u16(), resp.version()), (200, http::Version::HTTP_2));

    let stream = connect(&server, &ca, &[b"http/1.1"]).await;
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(b"http/1.1".as_slice()));
    let mut sender = http1(stream).await;
    assert_eq!(get1(&mut sender, &server, "/kura/health/live").await.0, 200);

    // No ALPN at all: HTTP/1.1.
    let stream = connect(&server, &ca, &[]).await;
    assert_eq!(stream.get_ref().1.alpn_protocol(), None);
    let mut sender = http1(stream).await;
    assert_eq!(get1(&mut sender, &server, "/kura/health/live").await.0, 200);
}

#[tokio::test]
async fn a_renewed_certificate_serves_new_connections_while_open_ones_go_on() {
    let pki = Pki::new();
    let (first, second) = (pki.issue("first", 1), pki.issue("second", 2));
    install(pki.dir.path(), &first);
    let server = start(pki.dir.path(), "");
    let ca = pki.ca_pem();
    let (first_der, second_der) = (Pki::der(&first.0), Pki::der(&second.0));

    let open = connect(&server, &ca, &[b"http/1.1"]).await;
    assert_eq!(peer_cert(&open), first_der);
    let mut open = http1(open).await;
    assert_eq!(get1(&mut open, &server, "/kura/health/live").await.0, 200);

    install(pki.dir.path(), &second);
    crate::harness::wait_until(|| async { peer_cert(&connect(&server, &ca, &[]).await) == second_der }).await;
    // The connection opened before the renewal still serves requests.
    assert_eq!(get1(&mut open, &server, "/kura/health/live").await.0, 200);
    assert_eq!(peer_cert(&connect(&server, &ca, &[]).await), second_der);
}

#[tokio::test]
async fn a_broken_renewal_is_refused_and_the_old_certificate_keeps_serving() {
    let pki = Pki::new();
    install(pki.dir.path(), &pki.issue("server", 1));
    let server = start(pki.dir.path(), "");
    let ca = pki.ca_pem();
    let served = Pki::der(&pki.dir.path().join("tls.crt"));

    let garbage = pki.dir.path().join("garbage.key");
    std::fs::write(&garbage, "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n").expect("write");
    let key_file = pki.dir.path().join("tls.key");
    std::fs::rename(&garbage, &key_file).expect("rename");
    let line = server.wait_for_log(&["TLS certificate reload refused", "server.tls.key_file"]).await;
    assert!(line.contains(&key_file.display().to_string()) && line.contains("ERROR"), "{line}");
    let stream = connect(&server, &ca, &[b"http/1.1"]).await;
    assert_eq!(peer_cert(&stream), served, "the previous pair keeps serving");
    assert_eq!(get1(&mut http1(stream).await, &server, "/kura/health/live").await.0, 200);

    // A key that parses but is another certificate's is refused too.
    let other = pki.issue("other", 9);
    std::fs::copy(&other.1, &key_file).expect("copy");
    let line =
        server.wait_for_log(&["TLS certificate reload refused", "is not the private key of the certificate"]).await;
    assert!(line.contains("server.tls.key_file"), "{line}");
    assert_eq!(peer_cert(&connect(&server, &ca, &[]).await), served);
}

#[tokio::test]
async fn a_client_that_never_finishes_the_handshake_is_closed() {
    let pki = Pki::new();
    install(pki.dir.path(), &pki.issue("server", 1));
    let server = start(pki.dir.path(), "  limits:\n    header_read_timeout_secs: 1\n");
    let ca = pki.ca_pem();

    // TCP only: no ClientHello at all.
    let started = Instant::now();
    let mut silent = TcpStream::connect(server.addr).await.expect("connect");
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(10), silent.read(&mut buf)).await.expect("closed in time");
    assert_eq!(read.expect("clean close"), 0, "closed without a byte");
    assert!(started.elapsed() >= Duration::from_secs(1), "not before the timeout: {:?}", started.elapsed());

    // A handshake finished, then no request: the same header-read timeout.
    let started = Instant::now();
    let mut idle = connect(&server, &ca, &[b"http/1.1"]).await;
    let read = tokio::time::timeout(Duration::from_secs(10), idle.read(&mut buf)).await.expect("closed in time");
    let err = read.expect_err("closed without close_notify");
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{err}");
    assert!(started.elapsed() >= Duration::from_secs(1), "not before the timeout: {:?}", started.elapsed());

    // Plain HTTP on the TLS port is no request: it is answered by TLS, not served.
    let mut plain = TcpStream::connect(server.addr).await.expect("connect");
    tokio::io::AsyncWriteExt::write_all(&mut plain, b"GET /kura/health/live HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("write");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), plain.read_to_end(&mut answer)).await.expect("closed");
    assert!(!answer.starts_with(b"HTTP/"), "{:?}", String::from_utf8_lossy(&answer));
}

#[tokio::test]
async fn a_pair_that_does_not_match_is_refused_at_start() {
    let pki = Pki::new();
    let (cert, _) = pki.issue("server", 1);
    let (_, other_key) = pki.issue("other", 2);
    install(pki.dir.path(), &(cert, other_key));
    let config = pki.dir.path().join("kura.yaml");
    let key_file = pki.dir.path().join("tls.key");
    std::fs::write(
        &config,
        format!(
            "server:\n  tls:\n    cert_file: {}\n    key_file: {}\n",
            pki.dir.path().join("tls.crt").display(),
            key_file.display()
        ),
    )
    .expect("config");
    let out = crate::harness::run_to_exit(&pki.dir.path().join("data"), &config);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success() && !stdout.contains("listening"), "{stdout}");
    assert!(
        stderr.contains(&format!(
            "server.tls.key_file {}: is not the private key of the certificate",
            key_file.display()
        )),
        "{stderr}"
    );
}
