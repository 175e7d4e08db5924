//! How connections are made: TLS to PostgreSQL, libpq's `sslmode` values ([`TlsMode`]) over rustls
//! (aws-lc-rs), as the driver's connector ([`MakeTls`], tokio-postgres's `MakeTlsConnect`), and the
//! error of a failed connection ([`ConnectError`]), which says why.
//!
//! The driver negotiates (PostgreSQL's `SSLRequest`: `disable` never asks, `prefer` takes TLS when the
//! server offers it and plaintext when it declines, the others refuse a server that declines); the
//! connector decides what a handshake proves: `prefer` and `require` encrypt without checking the
//! certificate (as libpq: no protection against an active attacker), `verify-ca` checks the chain to
//! the given CA, `verify-full` the chain and the host name of the URL. No channel binding (SCRAM is
//! used without `-PLUS`). TLS is for TCP: PostgreSQL never speaks it on a Unix socket.

use postgres::Socket;
use postgres::config::SslMode;
use postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A failed connection, shown with its causes: the driver's own text is only the kind ("db error",
/// "error performing TLS handshake"), the reason is in its source.
#[derive(Debug)]
pub struct ConnectError(pub(crate) postgres::Error);

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = std::error::Error::source(&self.0);
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl std::error::Error for ConnectError {}

/// libpq's `sslmode`, the values kura honours (`allow` is not one: it prefers plaintext).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plaintext only.
    Disable,
    /// TLS when the server offers it, plaintext when it does not; the certificate is not checked.
    Prefer,
    /// TLS or no connection; the certificate is not checked.
    Require,
    /// TLS, the certificate signed by the given CA (any name).
    VerifyCa,
    /// TLS, the certificate signed by the given CA and valid for the host the URL names.
    VerifyFull,
}

impl TlsMode {
    /// Every mode, by its libpq name.
    pub const ALL: [TlsMode; 5] = [Self::Disable, Self::Prefer, Self::Require, Self::VerifyCa, Self::VerifyFull];

    /// libpq's name of the mode.
    pub fn name(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }

    /// The mode libpq names `name`, if kura honours it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// What the driver negotiates for this mode (its own `SslMode` knows the first three).
    pub fn ssl_mode(self) -> SslMode {
        match self {
            Self::Disable => SslMode::Disable,
            Self::Prefer => SslMode::Prefer,
            Self::Require | Self::VerifyCa | Self::VerifyFull => SslMode::Require,
        }
    }

    /// Whether the server's certificate is checked against a CA (which must then be given).
    pub fn verifies(self) -> bool {
        matches!(self, Self::VerifyCa | Self::VerifyFull)
    }
}

/// The connector the connection pool makes its connections with, and the mode it was made for
/// (which decides what the driver negotiates: see [`MakeTls::apply`]). Cheap to clone.
#[derive(Clone)]
pub struct MakeTls {
    /// `None`: the driver's own setting (see [`MakeTls::none`]).
    mode: Option<TlsMode>,
    /// `None`: never TLS.
    config: Option<Arc<ClientConfig>>,
    /// Whether the URL's host name is checked, and so must be a valid name (`verify-full`).
    check_name: bool,
}

impl std::fmt::Debug for MakeTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MakeTls").field("mode", &self.mode).field("check_name", &self.check_name).finish()
    }
}

impl MakeTls {
    /// No TLS at all (what [`crate::PgMetaStore::open`] connects with): the driver's `prefer` (its
    /// default) connects in plaintext without asking, as with its `NoTls`; its `require` fails.
    pub fn none() -> Self {
        Self { mode: None, config: None, check_name: false }
    }

    /// The mode this connector was made for (`None`: [`MakeTls::none`]).
    pub fn mode(&self) -> Option<TlsMode> {
        self.mode
    }

    /// `config` set to negotiate what this connector's mode asks for (the URL's own `sslmode` is
    /// overridden, so the two cannot disagree).
    pub(crate) fn apply(&self, mut config: tokio_postgres::Config) -> tokio_postgres::Config {
        match self.mode {
            Some(mode) => {
                config.ssl_mode(mode.ssl_mode());
            }
            None if config.get_ssl_mode() == SslMode::Prefer => {
                config.ssl_mode(SslMode::Disable);
            }
            None => {}
        }
        config
    }

    /// The connector for `mode`, trusting the CA certificates of `ca_pem` (PEM). A CA with `require`
    /// checks the chain, as `verify-ca` (as libpq does); `verify-ca` and `verify-full` need one.
    /// The error says what is wrong with the CA, for the caller to name the file.
    pub fn new(mode: TlsMode, ca_pem: Option<&[u8]>) -> Result<Self, String> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let roots = ca_pem.map(roots).transpose()?;
        let verifier: Arc<dyn ServerCertVerifier> = match (mode, roots) {
            (TlsMode::Disable, _) => return Ok(Self { mode: Some(mode), config: None, check_name: false }),
            (TlsMode::VerifyCa | TlsMode::VerifyFull, None) => {
                return Err(format!("sslmode={} needs the CA that signed the server's certificate", mode.name()));
            }
            (TlsMode::Prefer | TlsMode::Require, None) => {
                Arc::new(Lenient { chain: None, algorithms: provider.signature_verification_algorithms })
            }
            (_, Some(roots)) => {
                let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| format!("the CA cannot verify certificates: {e}"))?;
                if mode == TlsMode::VerifyFull {
                    webpki
                } else {
                    Arc::new(Lenient { chain: Some(webpki), algorithms: provider.signature_verification_algorithms })
                }
            }
        };
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("no TLS version to offer: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        // Only a checked name is worth sending: the others may be addresses or placeholders.
        config.enable_sni = mode == TlsMode::VerifyFull;
        Ok(Self { mode: Some(mode), config: Some(Arc::new(config)), check_name: mode == TlsMode::VerifyFull })
    }
}

/// The certificates of a PEM file (at least one).
fn roots(pem: &[u8]) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| format!("not PEM certificates: {e}"))?;
        store.add(cert).map_err(|e| format!("not a usable CA certificate: {e}"))?;
    }
    if store.is_empty() {
        return Err("no certificate in it".into());
    }
    Ok(store)
}

/// The verifiers short of `verify-full`; the handshake's signature is always checked (the server holds
/// its certificate's key). Without a chain (`prefer`/`require` without a CA): any certificate, which is
/// encryption against listeners, nothing against an active attacker. With one (`verify-ca`): the chain
/// to the CA, whatever names the certificate holds; rustls checks the chain before the name, so a name
/// error means the chain was good.
#[derive(Debug)]
struct Lenient {
    chain: Option<Arc<WebPkiServerVerifier>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else { return Ok(ServerCertVerified::assertion()) };
        match chain.verify_server_cert(end_entity, intermediates, name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

impl MakeTlsConnect<Socket> for MakeTls {
    type Stream = Stream;
    type TlsConnect = Connect;
    type Error = io::Error;

    /// `host` is the URL's host ("" for a Unix socket, where TLS is never used).
    fn make_tls_connect(&mut self, host: &str) -> io::Result<Connect> {
        let name = match ServerName::try_from(host) {
            Ok(name) => name.to_owned(),
            Err(_) if self.check_name => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("sslmode=verify-full: {host:?} is not a host name a certificate can be checked for"),
                ));
            }
            // Not checked and not sent (no SNI): any valid name stands in.
            Err(_) => ServerName::from(std::net::Ipv4Addr::LOCALHOST),
        };
        Ok(Connect { config: self.config.clone(), name })
    }
}

/// One connection's handshake.
pub struct Connect {
    config: Option<Arc<ClientConfig>>,
    name: ServerName<'static>,
}

impl TlsConnect<Socket> for Connect {
    type Stream = Stream;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Stream>> + Send>>;

    fn connect(self, socket: Socket) -> Self::Future {
        Box::pin(async move {
            let config = self.config.ok_or_else(|| io::Error::other("TLS is disabled (sslmode=disable)"))?;
            let stream = tokio_rustls::TlsConnector::from(config).connect(self.name, socket).await?;
            Ok(Stream(Box::new(stream)))
        })
    }
}

/// A connection in TLS.
pub struct Stream(Box<tokio_rustls::client::TlsStream<Socket>>);

impl TlsStream for Stream {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl AsyncRead for Stream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}
