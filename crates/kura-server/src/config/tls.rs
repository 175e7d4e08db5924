//! The `server.tls:` section: the PEM certificate chain and private key kura serves HTTPS with (a
//! Kubernetes TLS secret mounts them as `tls.crt` and `tls.key`), and the one reading of that pair,
//! shared by the check at load and the listener's reloads ([`crate::http`]).

use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// `server.tls:`: present, kura serves HTTPS only (HTTP/2 and HTTP/1.1 by ALPN) on its one port. Read at
/// start; the two files are re-read while kura runs, so a renewed certificate is used without a restart.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// The certificate chain in PEM, the server's certificate first (`tls.crt`).
    pub cert_file: PathBuf,
    /// The private key of the first certificate in PEM: PKCS#8, PKCS#1 (RSA) or SEC1 (EC) (`tls.key`).
    pub key_file: PathBuf,
}

/// Why a certificate/key pair cannot be used; names the field and the file.
#[derive(Debug, thiserror::Error)]
#[error("server.tls.{field} {}: {problem}", path.display())]
pub struct TlsFileError {
    /// `cert_file` or `key_file`.
    pub field: &'static str,
    /// The file at fault.
    pub path: PathBuf,
    /// What is wrong with it.
    pub problem: String,
}

/// The contents of the two files as last read, compared to notice a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairBytes {
    /// The certificate file's bytes.
    pub cert: Vec<u8>,
    /// The key file's bytes.
    pub key: Vec<u8>,
}

impl TlsSection {
    /// Reads both files (by path, so a swapped symlink is followed).
    pub fn read(&self) -> Result<PairBytes, TlsFileError> {
        let read = |field, path: &Path| {
            std::fs::read(path).map_err(|e| TlsFileError {
                field,
                path: path.to_owned(),
                problem: format!("cannot read: {e}"),
            })
        };
        Ok(PairBytes { cert: read("cert_file", &self.cert_file)?, key: read("key_file", &self.key_file)? })
    }

    /// Reads and checks the pair: the chain and the key parse and the key is the certificate's.
    pub fn load(&self) -> Result<CertifiedKey, TlsFileError> {
        self.parse(&self.read()?)
    }

    /// Parses `bytes` (read from this section's files) into a certified key: the certificate chain must
    /// hold at least one certificate, the key must be one rustls can sign with, and it must match the
    /// public key of the first certificate.
    pub fn parse(&self, bytes: &PairBytes) -> Result<CertifiedKey, TlsFileError> {
        let cert_error = |problem: String| TlsFileError { field: "cert_file", path: self.cert_file.clone(), problem };
        let key_error = |problem: String| TlsFileError { field: "key_file", path: self.key_file.clone(), problem };
        let chain = CertificateDer::pem_slice_iter(&bytes.cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| cert_error(format!("not a PEM certificate chain: {e}")))?;
        if chain.is_empty() {
            return Err(cert_error("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".to_owned()));
        }
        let key = PrivateKeyDer::from_pem_slice(&bytes.key)
            .map_err(|e| key_error(format!("not a PEM private key (PKCS#8, PKCS#1 or SEC1): {e}")))?;
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let signing = provider
            .key_provider
            .load_private_key(key)
            .map_err(|e| key_error(format!("not a usable private key: {e}")))?;
        let certified = CertifiedKey::new(chain, signing);
        match certified.keys_match() {
            Ok(()) => Ok(certified),
            Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
                Err(key_error(format!("is not the private key of the certificate in {}", self.cert_file.display())))
            }
            Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(certified),
            Err(e) => Err(cert_error(format!("the first certificate cannot be parsed: {e}"))),
        }
    }
}
