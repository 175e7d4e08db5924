//! TLS on the one port (`server.tls`): rustls over aws-lc-rs, ALPN `h2` and `http/1.1`, and the
//! certificate reloaded while kura runs.
//!
//! The pair is read by path every [`POLL_INTERVAL`] (a Kubernetes secret volume replaces its files by
//! swapping a symlink, which inotify-style watches miss) and compared with what was last read. A new pair
//! that parses and matches replaces the one [`CertResolver`] hands to handshakes: connections already open
//! keep the session they negotiated, new handshakes get the new certificate. A new pair that does not
//! parse or match is refused with a log line naming the file, and the previous pair keeps serving.
//!
//! The handshake itself runs inside the connection's watchdog (see [`super::limits`]): it counts
//! against the header-read timeout, so a client that never finishes it is closed like one that never
//! sends its headers.

use crate::config::tls::{PairBytes, TlsFileError, TlsSection};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::Digest as _;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;
use tokio_rustls::TlsAcceptor;

/// How often the certificate and key files are re-read.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// The protocols offered by ALPN, preferred first.
pub const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Why TLS could not be set up at start.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate or key file cannot be used.
    #[error("{0}")]
    File(#[from] TlsFileError),
    /// rustls refused the configuration.
    #[error("TLS setup: {0}")]
    Setup(#[from] rustls::Error),
}

/// The certificate handed to every handshake: the current pair, replaced whole on reload.
#[derive(Debug)]
pub struct CertResolver {
    current: RwLock<Arc<CertifiedKey>>,
}

impl CertResolver {
    /// A resolver serving `key`.
    pub fn new(key: CertifiedKey) -> Self {
        Self { current: RwLock::new(Arc::new(key)) }
    }

    /// The pair new handshakes get.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Makes `key` the pair for new handshakes; open connections are not touched.
    pub fn replace(&self, key: CertifiedKey) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(key);
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// The listener's TLS: the acceptor for connections and what its reloads need.
#[derive(Clone)]
pub struct Tls {
    section: TlsSection,
    resolver: Arc<CertResolver>,
    acceptor: TlsAcceptor,
    loaded: PairBytes,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("section", &self.section).finish_non_exhaustive()
    }
}

impl Tls {
    /// Reads and checks the pair `section` names and builds the server configuration (TLS 1.2 and 1.3,
    /// no client certificates, ALPN `h2` then `http/1.1`).
    pub fn new(section: &TlsSection) -> Result<Self, TlsError> {
        let loaded = section.read()?;
        let key = section.parse(&loaded)?;
        tracing::info!(
            cert_file = %section.cert_file.display(),
            fingerprint = %fingerprint(&key),
            "TLS certificate loaded"
        );
        let resolver = Arc::new(CertResolver::new(key));
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        Ok(Self { section: section.clone(), resolver, acceptor, loaded })
    }

    /// The acceptor that runs a connection's handshake.
    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    /// The resolver handshakes get their certificate from.
    pub fn resolver(&self) -> &Arc<CertResolver> {
        &self.resolver
    }

    /// Re-reads the pair every `poll` until the task is dropped; see the module documentation.
    pub async fn watch(self, poll: Duration) {
        let mut reload =
            Reload { section: self.section, resolver: self.resolver, seen: self.loaded, unreadable: false };
        let mut tick = tokio::time::interval(poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            reload.check();
        }
    }
}

/// The state of the reloads: the contents last looked at, and whether the files were unreadable then.
struct Reload {
    section: TlsSection,
    resolver: Arc<CertResolver>,
    seen: PairBytes,
    unreadable: bool,
}

impl Reload {
    /// Reads the files and, when they changed since last looked at, applies or refuses the new pair.
    /// A refused pair is logged once, not at every poll; the next change is looked at again (a writer
    /// replacing the two files one by one is briefly seen with a mismatched pair).
    fn check(&mut self) {
        let bytes = match self.section.read() {
            Ok(bytes) => bytes,
            Err(e) => {
                if !self.unreadable {
                    tracing::warn!(
                        file = %e.path.display(),
                        error = %e,
                        "TLS certificate reload: cannot read the file; the current certificate keeps serving"
                    );
                }
                self.unreadable = true;
                return;
            }
        };
        self.unreadable = false;
        if bytes == self.seen {
            return;
        }
        match self.section.parse(&bytes) {
            Ok(key) => {
                tracing::info!(
                    cert_file = %self.section.cert_file.display(),
                    fingerprint = %fingerprint(&key),
                    "TLS certificate reloaded: new connections use it"
                );
                self.resolver.replace(key);
            }
            Err(e) => tracing::error!(
                file = %e.path.display(),
                error = %e,
                "TLS certificate reload refused: the previous certificate keeps serving"
            ),
        }
        self.seen = bytes;
    }
}

/// The SHA-256 of the leaf certificate, in hex (as `openssl x509 -fingerprint -sha256` prints it, without
/// colons), to tell certificates apart in the log.
fn fingerprint(key: &CertifiedKey) -> String {
    key.cert.first().map(|c| hex::encode(sha2::Sha256::digest(c.as_ref()))).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpn_offers_h2_then_http1() {
        assert_eq!(ALPN, [b"h2".as_slice(), b"http/1.1".as_slice()]);
    }

    #[test]
    fn an_unreadable_pair_is_refused_at_start_naming_the_file() {
        let dir = std::env::temp_dir().join(format!("kura-tls-missing-{}", std::process::id()));
        let section = TlsSection { cert_file: dir.join("tls.crt"), key_file: dir.join("tls.key") };
        let err = Tls::new(&section).expect_err("missing files");
        assert!(matches!(&err, TlsError::File(f) if f.field == "cert_file" && f.path == section.cert_file), "{err}");
    }
}
